"""k-way Fiduccia-Mattheyses refinement of the (lambda - 1) connectivity of a hypergraph.

A hypergraph here is five CSR arrays (:func:`partitioning.local_search.nets_csr` builds
them for a neuron-level graph, :mod:`partitioning.multilevel` for its contractions):
``ptr, pin`` (the pins of every net), ``vptr, vnet`` (the nets of every vertex) and
``w`` (net weights). Net ``e`` costs ``w_e (lambda_e - 1)`` with ``lambda_e`` the parts
it touches: the spike volume when ``w_e`` is the rate of the net's source neuron.

Gain cache (as Mt-KaHyPar's): with pin counts ``Phi(e, p)``,
``benefit(v) = sum_e w_e [Phi(e, part(v)) == 1]`` (what leaving saves) and
``conn(v, t) = sum_e w_e [Phi(e, t) > 0]`` (what joining ``t`` does not add), so the gain
of moving ``v`` to ``t`` is ``benefit(v) + conn(v, t) - sum_e w_e``. A move changes
``benefit`` and ``conn`` only on nets where ``Phi`` passes 0 <-> 1 or 1 <-> 2, so the
cache is kept exact by touching those nets' pins alone.

One pass (FM, 1982, in its k-way form): every boundary vertex sits in a priority queue
with its best move; the best move is made even when its gain is negative (which
crosses the plateaus and small hills where positive-gain moves stall), the vertex is
locked for the pass, the gains of its neighbours are updated; after ``stop_after``
moves without a new best the pass stops and every move after the best prefix is
undone. A pass therefore never increases the volume. Passes repeat while they remove
more than ``min_gain`` of the volume.

Balance: a move goes into part ``t`` only when ``load(t) + w(v) <= cap(t)``, so a part
over its cap only loses load; no part loses its last vertex; vertices not ``movable``
never move. Lazy queue: an entry is recomputed when popped and pushed again if stale,
so every move made has its exact current gain.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _push(keys, vals, size, key, val):  # pragma: no cover
    if size == keys.shape[0]:
        nk = np.empty(2 * size)
        nv = np.empty(2 * size, np.int64)
        nk[:size] = keys
        nv[:size] = vals
        keys, vals = nk, nv
    i = size
    keys[i] = key
    vals[i] = val
    # Max-heap on (key, -val): equal gains go to the lower vertex id, deterministically.
    while i > 0:
        parent = (i - 1) // 2
        if keys[parent] > keys[i] or (keys[parent] == keys[i] and vals[parent] <= vals[i]):
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        vals[parent], vals[i] = vals[i], vals[parent]
        i = parent
    return keys, vals, size + 1


@numba.njit(cache=True)
def _pop(keys, vals, size):  # pragma: no cover
    key, val = keys[0], vals[0]
    size -= 1
    keys[0], vals[0] = keys[size], vals[size]
    i = 0
    while True:
        left, right, top = 2 * i + 1, 2 * i + 2, i
        for child in (left, right):
            if child < size and (keys[child] > keys[top]
                                 or (keys[child] == keys[top] and vals[child] < vals[top])):
                top = child
        if top == i:
            break
        keys[top], keys[i] = keys[i], keys[top]
        vals[top], vals[i] = vals[i], vals[top]
        i = top
    return key, val, size


@numba.njit(cache=True)
def _cache(ptr, pin, vptr, vnet, w, part, k):  # pragma: no cover
    """Pin counts, benefit, conn and the total net weight per vertex."""
    m = ptr.shape[0] - 1
    n = vptr.shape[0] - 1
    phi = np.zeros((m, k), np.int32)
    for e in range(m):
        for i in range(ptr[e], ptr[e + 1]):
            phi[e, part[pin[i]]] += 1
    conn = np.zeros((n, k))
    benefit = np.zeros(n)
    wsum = np.zeros(n)
    parts = np.empty(k, np.int64)
    for e in range(m):
        we = w[e]
        if we == 0.0:
            continue
        lam = 0
        for p in range(k):
            if phi[e, p] > 0:
                parts[lam] = p
                lam += 1
        for i in range(ptr[e], ptr[e + 1]):
            v = pin[i]
            wsum[v] += we
            if phi[e, part[v]] == 1:
                benefit[v] += we
            for j in range(lam):
                conn[v, parts[j]] += we
    return phi, conn, benefit, wsum


@numba.njit(cache=True)
def _loads(part, vw, k):  # pragma: no cover
    """Vertex weight and vertex count of every part."""
    load = np.zeros(k)
    members = np.zeros(k, np.int64)
    for v in range(part.shape[0]):
        load[part[v]] += vw[v]
        members[part[v]] += 1
    return load, members


@numba.njit(cache=True)
def _best_move(v, part, conn, benefit, wsum, load, cap, vw, k):  # pragma: no cover
    """Best target of ``v`` among adjacent parts with room (-1 if none) and its gain."""
    a = part[v]
    best, top = -1, 0.0
    for t in range(k):
        if t != a and conn[v, t] > top and load[t] + vw[v] <= cap[t]:
            best, top = t, conn[v, t]
    return best, benefit[v] + top - wsum[v]


@numba.njit(cache=True)
def _move(v, b, ptr, pin, vptr, vnet, w, part, phi, conn, benefit, dirty, stamp,
          mark):  # pragma: no cover
    """Move ``v`` to ``b``, keeping the cache exact; returns how many vertices it wrote
    to ``dirty``: those whose gains changed (pins of nets where ``Phi`` passed 0 <-> 1 or
    1 <-> 2), each once."""
    a = part[v]
    n_dirty = 0
    for j in range(vptr[v], vptr[v + 1]):
        e = vnet[j]
        we = w[e]
        phi[e, a] -= 1
        phi[e, b] += 1
        if we == 0.0:
            continue
        fa, fb = phi[e, a], phi[e, b]
        if fa == 0 or fb == 1:
            for i in range(ptr[e], ptr[e + 1]):
                u = pin[i]
                if fa == 0:
                    conn[u, a] -= we
                if fb == 1:
                    conn[u, b] += we
                if mark[u] != stamp:
                    mark[u] = stamp
                    dirty[n_dirty] = u
                    n_dirty += 1
        if fa == 1 or fb == 2:
            for i in range(ptr[e], ptr[e + 1]):
                u = pin[i]
                if u == v:
                    continue
                if fa == 1 and part[u] == a:
                    benefit[u] += we
                elif fb == 2 and part[u] == b:
                    benefit[u] -= we
                else:
                    continue
                if mark[u] != stamp:
                    mark[u] = stamp
                    dirty[n_dirty] = u
                    n_dirty += 1
    part[v] = b
    total = 0.0
    for j in range(vptr[v], vptr[v + 1]):
        e = vnet[j]
        if phi[e, b] == 1:
            total += w[e]
    benefit[v] = total
    return n_dirty


@numba.njit(cache=True)
def km1(ptr, pin, w, part, k):  # pragma: no cover
    """``sum_e w_e (lambda_e - 1)``: the connectivity objective of ``part``."""
    seen = np.full(k, -1, np.int64)
    total = 0.0
    for e in range(ptr.shape[0] - 1):
        lam = 0
        for i in range(ptr[e], ptr[e + 1]):
            p = part[pin[i]]
            if seen[p] != e:
                seen[p] = e
                lam += 1
        total += w[e] * (lam - 1)
    return total


@numba.njit(cache=True)
def _offer(u, part, conn, benefit, wsum, load, cap, vw, k, keys, vals, size,
           pushed):  # pragma: no cover
    """Queue ``u``'s best move if its gain rose above ``u``'s newest entry."""
    t, g = _best_move(u, part, conn, benefit, wsum, load, cap, vw, k)
    if t >= 0 and g > pushed[u]:
        keys, vals, size = _push(keys, vals, size, g, u * k + t)
        pushed[u] = g
    return keys, vals, size


@numba.njit(cache=True)
def fm(ptr, pin, vptr, vnet, w, vw, part, k, cap, movable, stop_after, max_passes,
       min_gain=0.0):  # pragma: no cover
    """FM passes on ``part`` (changed in place); returns the volume removed (>= 0).

    Passes stop after ``max_passes``, or after one that removed no more than
    ``min_gain`` times the volume it started from.
    """
    n = vptr.shape[0] - 1
    current = km1(ptr, pin, w, part, k)
    phi, conn, benefit, wsum = _cache(ptr, pin, vptr, vnet, w, part, k)
    load, members = _loads(part, vw, k)
    dirty = np.empty(n, np.int64)
    mark = np.full(n, -1, np.int64)
    locked = np.zeros(n, np.bool_)
    moved_v = np.empty(n, np.int64)
    moved_from = np.empty(n, np.int64)
    keys = np.empty(max(16, n))
    vals = np.empty(max(16, n), np.int64)
    stamp = 0
    removed = 0.0
    eps = 1e-9 * (np.abs(w).sum() + 1.0)
    # Key of every vertex's newest queue entry (-inf: none). Older entries are skipped
    # when popped; a vertex is pushed again only when its gain rises above its entry,
    # since a lower gain is found when the entry is popped and recomputed. Vertices
    # whose gains changed are re-evaluated in full, which also finds parts that have
    # room again.
    pushed = np.empty(n)
    for _ in range(max_passes):
        size = 0
        locked[:] = False
        pushed[:] = -np.inf
        for v in range(n):
            if movable[v]:
                keys, vals, size = _offer(v, part, conn, benefit, wsum, load, cap, vw, k, keys,
                                          vals, size, pushed)
        n_moves, best_moves = 0, 0
        gained, best_gain = 0.0, 0.0
        since_best = 0
        while size > 0 and since_best < stop_after:
            g, code, size = _pop(keys, vals, size)
            v, t = code // k, code % k
            if locked[v] or g != pushed[v]:
                continue
            pushed[v] = -np.inf
            t2, g2 = _best_move(v, part, conn, benefit, wsum, load, cap, vw, k)
            if t2 < 0:
                continue
            if t2 != t or abs(g2 - g) > eps:  # stale: queue again
                keys, vals, size = _push(keys, vals, size, g2, v * k + t2)
                pushed[v] = g2
                continue
            a = part[v]
            if members[a] <= 1:
                continue
            stamp += 1
            n_dirty = _move(v, t, ptr, pin, vptr, vnet, w, part, phi, conn, benefit, dirty, stamp,
                            mark)
            load[a] -= vw[v]
            load[t] += vw[v]
            members[a] -= 1
            members[t] += 1
            locked[v] = True
            moved_v[n_moves] = v
            moved_from[n_moves] = a
            n_moves += 1
            gained += g2
            if gained > best_gain + eps:
                best_gain, best_moves, since_best = gained, n_moves, 0
            else:
                since_best += 1
            for i in range(n_dirty):
                u = dirty[i]
                if movable[u] and not locked[u]:
                    keys, vals, size = _offer(u, part, conn, benefit, wsum, load, cap, vw, k, keys,
                                              vals, size, pushed)
        # Roll back to the best prefix.
        for i in range(n_moves - 1, best_moves - 1, -1):
            v, a = moved_v[i], moved_from[i]
            t = part[v]
            stamp += 1
            _move(v, a, ptr, pin, vptr, vnet, w, part, phi, conn, benefit, dirty, stamp, mark)
            load[t] -= vw[v]
            load[a] += vw[v]
            members[t] -= 1
            members[a] += 1
        removed += best_gain
        if best_moves == 0 or best_gain <= min_gain * current:
            break
        current -= best_gain
    return removed


@numba.njit(cache=True)
def rebalance(ptr, pin, vptr, vnet, w, vw, part, k, cap, movable):  # pragma: no cover
    """Move vertices out of parts over their cap, cheapest first; returns the volume added.

    Each step takes, among the movable vertices of overloaded parts (not their last
    vertex), the move into a part with room of largest gain per unit of vertex weight.
    Stops when no part is over its cap or no such move exists.
    """
    n = vptr.shape[0] - 1
    phi, conn, benefit, wsum = _cache(ptr, pin, vptr, vnet, w, part, k)
    load, members = _loads(part, vw, k)
    dirty = np.empty(n, np.int64)
    mark = np.full(n, -1, np.int64)
    added = 0.0
    stamp = 0
    while True:
        best_v, best_t, best_score, best_gain = -1, -1, -np.inf, 0.0
        for v in range(n):
            a = part[v]
            if load[a] <= cap[a] or not movable[v] or members[a] <= 1:
                continue
            for t in range(k):
                if t != a and load[t] + vw[v] <= cap[t]:
                    gain = benefit[v] + conn[v, t] - wsum[v]
                    score = gain / vw[v]
                    if score > best_score:
                        best_v, best_t, best_score, best_gain = v, t, score, gain
        if best_v < 0:
            break
        a = part[best_v]
        stamp += 1
        _move(best_v, best_t, ptr, pin, vptr, vnet, w, part, phi, conn, benefit, dirty, stamp, mark)
        load[a] -= vw[best_v]
        load[best_t] += vw[best_v]
        members[a] -= 1
        members[best_t] += 1
        added -= best_gain
    return added


RELAXED = (0.10, 0.06)
"""Imbalances FM works under before the target one (balance relaxation, below)."""
MIN_GAIN = 1e-3
"""FM passes stop after one that removed at most this fraction of the volume."""


def refine(hypergraph: tuple[np.ndarray, ...], vw: np.ndarray, part: np.ndarray, k: int,
           target: np.ndarray, imbalance: float, movable: np.ndarray, *,
           relaxed: tuple[float, ...] = RELAXED, stop_after: int = 100,
           max_passes: int = 20, min_gain: float = MIN_GAIN) -> np.ndarray:
    """FM under relaxed balance, tightened step by step to ``imbalance``.

    For each imbalance of ``relaxed`` above ``imbalance``, then ``imbalance``
    itself: :func:`rebalance` to caps ``(1 + eps) * target``, then :func:`fm` under
    them. A looser cap lets FM reach structures that a tight one walls off (on the
    multi-area study network at 64 parts from METIS: 1.061 -> 1.038 of Mt-KaHyPar's volume); the
    rebalancing moves out of them at the least cost. ``part`` is left unchanged; the
    result is returned only if its volume is lower or ``part`` exceeds the caps.

    Parameters
    ----------
    hypergraph : tuple of numpy.ndarray
        ``(ptr, pin, vptr, vnet, w)`` (module docstring).
    vw : numpy.ndarray
        float64 vertex weights (load units).
    part : numpy.ndarray
        int64 part per vertex, values in ``[0, k)``.
    k : int
        Number of parts.
    target : numpy.ndarray
        float64 perfect load per part (load units).
    imbalance : float
        Final cap: every part at most ``(1 + imbalance) * target``.
    movable : numpy.ndarray
        bool per vertex; others never move.
    relaxed : tuple of float
        The looser imbalances, default :data:`RELAXED`; ``()`` for FM at ``imbalance`` only.
    stop_after : int
        Moves without a new best before an FM pass stops.
    max_passes : int
        FM passes per cap at most.
    min_gain : float
        FM under a cap stops after a pass that removed at most this fraction of the volume.

    Returns
    -------
    numpy.ndarray
        int64 part per vertex.
    """
    ptr, pin, vptr, vnet, w = hypergraph
    out = np.array(part, dtype=np.int64)
    for eps in sorted((e for e in relaxed if e > imbalance), reverse=True) + [imbalance]:
        cap = (1.0 + eps) * target
        rebalance(ptr, pin, vptr, vnet, w, vw, out, k, cap, movable)
        fm(ptr, pin, vptr, vnet, w, vw, out, k, cap, movable, stop_after, max_passes, min_gain)
    cap = (1.0 + imbalance) * target * (1 + 1e-12)
    start_fits = bool((np.bincount(part, weights=vw, minlength=k) <= cap).all())
    if start_fits and km1(ptr, pin, w, out, k) >= km1(ptr, pin, w, np.asarray(part, np.int64), k):
        return np.array(part, dtype=np.int64)
    return out
