"""Sequential label propagation and iterated local search for the (lambda - 1) volume.

For graphs of exact counts with one neuron per vertex (``size == 1``, not
``expected``), the volume is the connectivity metric of the spike hypergraph
(:mod:`partitioning.hypergraph`): net ``e`` of vertex ``v`` has pins ``v`` and its
targets and weight ``rate_v``, and costs ``w_e (lambda_e - 1)``. With pin counts
``Phi(e, p)`` (pins of ``e`` in part ``p``) the gain of moving ``v`` from ``a`` to
``b`` is exactly

    sum over nets e of v of  w_e ([Phi(e, a) == 1] - [Phi(e, b) == 0]).

:func:`label_propagation` visits the vertices in a seeded random order and moves each
to the part of largest positive gain that has room (Mt-KaHyPar's first refiner, here
sequential, so every move sees the previous ones), until a pass moves nothing.
:func:`improve` then iterates: perturb the best partition (2 % of the movable vertices
join the part of a random pin of their own net), propagate labels again, and keep the
result when it is lower and within the load caps (iterated local search: the
perturbation crosses the plateaus where no single move gains).

Constraints as :func:`partitioning.refine.refine_volume`: part loads at most their cap
(parts over it only lose load), no part loses its last vertex, and vertices with an
edge shorter than ``min_cross_delay`` never move.
"""
from __future__ import annotations

import numba
import numpy as np

from .graph import CommGraph


def nets_csr(graph: CommGraph) -> tuple[np.ndarray, ...]:
    """Nets (pins, weight) and the incidence vertex -> nets, CSR arrays."""
    n = graph.n_vertices
    src = graph.sources()
    keep = src != graph.indices
    net = np.concatenate([np.arange(n, dtype=np.int64), src[keep]])
    pin = np.concatenate([np.arange(n, dtype=np.int64), graph.indices[keep]])
    key = np.unique(net * n + pin)
    net, pin = key // n, key % n
    count = np.bincount(net, minlength=n)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(count, out=ptr[1:])
    order = np.argsort(pin, kind="stable")
    vptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(pin, minlength=n), out=vptr[1:])
    weight = np.where(count > 1, graph.rate, 0.0)
    return ptr, pin, vptr, net[order], weight


@numba.njit(cache=True)
def _propagate(ptr, pin, vptr, vnet, w, part, k, vw, cap, movable, passes, seed):  # pragma: no cover
    n = vptr.shape[0] - 1
    m = ptr.shape[0] - 1
    phi = np.zeros((m, k), np.int32)
    for e in range(m):
        for i in range(ptr[e], ptr[e + 1]):
            phi[e, part[pin[i]]] += 1
    load = np.zeros(k)
    members = np.zeros(k, np.int64)
    for v in range(n):
        load[part[v]] += vw[v]
        members[part[v]] += 1
    np.random.seed(seed)
    conn = np.zeros(k)
    total = 0.0
    for _ in range(passes):
        order = np.random.permutation(n)
        moved = 0
        for v in order:
            a = part[v]
            if not movable[v] or members[a] <= 1:
                continue
            leave = 0.0
            wsum = 0.0
            conn[:] = 0.0
            for j in range(vptr[v], vptr[v + 1]):
                e = vnet[j]
                we = w[e]
                if we == 0.0:
                    continue
                wsum += we
                if phi[e, a] == 1:
                    leave += we
                for p in range(k):
                    if phi[e, p] > 0:
                        conn[p] += we
            if leave == 0.0:
                continue
            best = -1
            best_gain = 1e-12 * wsum
            for b in range(k):
                if b == a or load[b] + vw[v] > cap[b]:
                    continue
                gain = leave - (wsum - conn[b])
                if gain > best_gain:
                    best_gain = gain
                    best = b
            if best >= 0:
                for j in range(vptr[v], vptr[v + 1]):
                    e = vnet[j]
                    phi[e, a] -= 1
                    phi[e, best] += 1
                part[v] = best
                load[a] -= vw[v]
                load[best] += vw[v]
                members[a] -= 1
                members[best] += 1
                total += best_gain
                moved += 1
        if moved == 0:
            break
    return total


def _movable(graph: CommGraph, min_cross_delay: int | None) -> np.ndarray:
    movable = np.ones(graph.n_vertices, dtype=np.bool_)
    if min_cross_delay is not None:
        src = graph.sources()
        short = (graph.delay < min_cross_delay) & (src != graph.indices)
        movable[src[short]] = False
        movable[graph.indices[short]] = False
    return movable


def _caps(graph: CommGraph, nparts: int, imbalance: float,
          target_weights: np.ndarray | None) -> np.ndarray:
    share = (np.full(nparts, 1.0 / nparts) if target_weights is None
             else np.asarray(target_weights, dtype=np.float64) / float(np.sum(target_weights)))
    return (1.0 + imbalance) * float(graph.vertex_weight.sum()) * share


# The pin-count table holds n_vertices x nparts int32 (at most 128 MiB).
_MAX_TABLE = 1 << 25


def applies(graph: CommGraph, nparts: int) -> bool:
    """True when the volume is the exact connectivity metric (size 1, exact counts) and
    the pin-count table fits (``n_vertices * nparts <= 2**25``)."""
    return (not graph.expected and int(graph.size.max(initial=1)) == 1 and graph.n_edges > 0
            and graph.n_vertices * nparts <= _MAX_TABLE)


def label_propagation(graph: CommGraph, parts: np.ndarray, nparts: int, *, imbalance: float,
                      target_weights: np.ndarray | None = None, min_cross_delay: int | None = None,
                      seed: int = 0, passes: int = 50) -> np.ndarray:
    """Sequential positive-gain moves (module docstring); returns a new int64 array."""
    out = np.array(parts, dtype=np.int64)
    if nparts == 1 or not applies(graph, nparts):
        return out
    ptr, pin, vptr, vnet, w = nets_csr(graph)
    _propagate(ptr, pin, vptr, vnet, w, out, int(nparts), graph.vertex_weight,
               _caps(graph, nparts, imbalance, target_weights), _movable(graph, min_cross_delay),
               int(passes), int(seed))
    return out


def improve(graph: CommGraph, parts: np.ndarray, nparts: int, *, imbalance: float,
            target_weights: np.ndarray | None = None, min_cross_delay: int | None = None,
            seed: int = 0, rounds: int = 60, fraction: float = 0.02) -> np.ndarray:
    """Label propagation, then ``rounds`` of perturbation and propagation (module docstring).

    Deterministic for a ``seed``. The result's volume is never higher than that of
    ``parts``, and no part ends above ``max(its cap, its load in parts)``.

    Returns
    -------
    numpy.ndarray
        int64 part per vertex.
    """
    from .metrics import comm_volume

    best = np.array(parts, dtype=np.int64)
    if nparts == 1 or not applies(graph, nparts):
        return best
    ptr, pin, vptr, vnet, w = nets_csr(graph)
    cap = _caps(graph, nparts, imbalance, target_weights)
    movable = _movable(graph, min_cross_delay)
    limit = np.maximum(cap, np.bincount(best, weights=graph.vertex_weight, minlength=nparts))
    start_volume = comm_volume(graph, best)
    _propagate(ptr, pin, vptr, vnet, w, best, int(nparts), graph.vertex_weight, cap, movable, 50,
               int(seed))
    volume = comm_volume(graph, best)
    if volume > start_volume:  # cannot happen (positive gains only); guards round-off
        best, volume = np.array(parts, dtype=np.int64), start_volume
    candidates = np.flatnonzero(movable)
    rng = np.random.Generator(np.random.PCG64(seed))
    count = max(1, int(fraction * candidates.size))
    for r in range(rounds if candidates.size else 0):
        trial = best.copy()
        for v in rng.choice(candidates, min(count, candidates.size), replace=False):
            net_pins = pin[ptr[v]:ptr[v + 1]]
            trial[v] = trial[net_pins[rng.integers(net_pins.size)]]
        if np.bincount(trial, minlength=nparts).min() == 0:
            continue
        _propagate(ptr, pin, vptr, vnet, w, trial, int(nparts), graph.vertex_weight, cap, movable, 50,
                   int(seed) + r + 1)
        loads = np.bincount(trial, weights=graph.vertex_weight, minlength=nparts)
        if (loads <= limit * (1 + 1e-12)).all():
            v = comm_volume(graph, trial)
            if v < volume:
                best, volume = trial, v
    return best
