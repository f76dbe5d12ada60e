"""Multilevel refinement (V-cycles) of a partition of a hypergraph for the (lambda - 1) volume.

A V-cycle (KaHyPar's iterated multilevel scheme): coarsen the hypergraph by clustering
vertices *of the same part*, level after level, so the given partition is a partition
of every coarse level with the same volume; then refine with k-way FM
(:mod:`partitioning.fm`) on the coarsest level and again on every level on the way
back. Moving a coarse vertex moves a whole cluster at once: moves that FM cannot find
one vertex at a time (each step uphill) become single steps. Different seeds give
different clusterings, so repeated V-cycles keep finding new moves.

Clustering (heavy-edge rating, as Mt-KaHyPar's coarsening): vertices visited in a
seeded random order; an unclustered vertex ``u`` joins the cluster ``C`` of a
neighbour in its part with the largest ``sum over nets e containing u and a pin of
C of w_e / (|e| - 1)``, if ``C`` stays within the weight limit; otherwise ``u`` starts
a cluster of its own. Nets larger than ``max_net`` are left out of the rating (their
contribution is small and costly to count). Coarsening stops when a level shrinks
by less than 10 % or has at most ``limit`` vertices.

Contraction keeps the volume exact: a coarse net has the distinct clusters of its pins,
its weight is the fine net's, and nets left with one pin are dropped (they cannot be
cut). Every function is deterministic for its seed.
"""
from __future__ import annotations

import numba
import numpy as np

from .fm import fm


@numba.njit(cache=True)
def cluster(ptr, pin, vptr, vnet, w, vw, part, movable, max_weight, max_net, seed):  # pragma: no cover
    """Cluster label per vertex (0 .. n_clusters - 1, in order of first vertex) and the count."""
    n = vptr.shape[0] - 1
    rep = np.full(n, -1, np.int64)
    cw = vw.copy()
    score = np.zeros(n)
    touched = np.empty(n, np.int64)
    np.random.seed(seed)
    for u in np.random.permutation(n):
        if rep[u] >= 0:
            continue
        nt = 0
        for j in range(vptr[u], vptr[u + 1]):
            e = vnet[j]
            size = ptr[e + 1] - ptr[e]
            if w[e] == 0.0 or size < 2 or size > max_net:
                continue
            r = w[e] / (size - 1)
            for i in range(ptr[e], ptr[e + 1]):
                v = pin[i]
                if v == u or part[v] != part[u] or movable[v] != movable[u]:
                    continue
                c = rep[v] if rep[v] >= 0 else v
                if score[c] == 0.0:
                    touched[nt] = c
                    nt += 1
                score[c] += r
        best, top = -1, 0.0
        for i in range(nt):
            c = touched[i]
            if score[c] > top and cw[c] + vw[u] <= max_weight:
                best, top = c, score[c]
            score[c] = 0.0
        if best >= 0:
            rep[u] = best
            if rep[best] < 0:
                rep[best] = best
            cw[best] += vw[u]
        else:
            rep[u] = u
    label = np.full(n, -1, np.int64)
    out = np.empty(n, np.int64)
    count = 0
    for v in range(n):
        r = rep[v]
        if label[r] < 0:
            label[r] = count
            count += 1
        out[v] = label[r]
    return out, count


@numba.njit(cache=True)
def contract(ptr, pin, w, label, n_coarse):  # pragma: no cover
    """Coarse nets (distinct clusters of each net's pins, single-pin nets dropped)."""
    m = ptr.shape[0] - 1
    cptr = np.zeros(m + 1, np.int64)
    cpin = np.empty(pin.shape[0], np.int64)
    cw = np.empty(m)
    mark = np.full(n_coarse, -1, np.int64)
    nets, pins = 0, 0
    for e in range(m):
        if w[e] == 0.0:
            continue
        start = pins
        for i in range(ptr[e], ptr[e + 1]):
            c = label[pin[i]]
            if mark[c] != e:
                mark[c] = e
                cpin[pins] = c
                pins += 1
        if pins - start < 2:
            pins = start
            continue
        cw[nets] = w[e]
        nets += 1
        cptr[nets] = pins
    return cptr[:nets + 1].copy(), cpin[:pins].copy(), cw[:nets].copy()


def incidence(ptr: np.ndarray, pin: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nets of every vertex: CSR ``vptr, vnet`` (nets in increasing order per vertex)."""
    net = np.repeat(np.arange(ptr.shape[0] - 1, dtype=np.int64), np.diff(ptr))
    order = np.argsort(pin, kind="stable")
    vptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(pin, minlength=n), out=vptr[1:])
    return vptr, net[order]


def vcycle(hypergraph: tuple[np.ndarray, ...], vw: np.ndarray, part: np.ndarray, k: int,
           cap: np.ndarray, movable: np.ndarray, *, seed: int, limit: int, max_weight: float,
           max_net: int = 1000, stop_after: int = 100, max_passes: int = 10) -> float:
    """One V-cycle on ``part`` (changed in place); returns the volume removed (>= 0).

    ``hypergraph`` is ``(ptr, pin, vptr, vnet, w)``; ``limit`` the vertex count at
    which coarsening stops, ``max_weight`` the heaviest cluster allowed.
    """
    levels = []
    ptr, pin, vptr, vnet, w = hypergraph
    fine_vw, fine_part, fine_movable = vw, part, movable
    level = 0
    while fine_vw.shape[0] > limit:
        label, nc = cluster(ptr, pin, vptr, vnet, w, fine_vw, fine_part, fine_movable,
                            float(max_weight), int(max_net), int(seed) * 64 + level)
        if nc > 0.9 * fine_vw.shape[0]:
            break
        levels.append(((ptr, pin, vptr, vnet, w), fine_vw, fine_part, fine_movable, label))
        ptr, pin, w = contract(ptr, pin, w, label, nc)
        vptr, vnet = incidence(ptr, pin, nc)
        coarse_part = np.empty(nc, dtype=np.int64)
        coarse_part[label] = fine_part
        coarse_movable = np.ones(nc, dtype=np.bool_)
        coarse_movable[label[~fine_movable]] = False
        fine_vw = np.bincount(label, weights=fine_vw, minlength=nc)
        fine_part, fine_movable = coarse_part, coarse_movable
        level += 1
    removed = fm(ptr, pin, vptr, vnet, w, fine_vw, fine_part, k, cap, fine_movable, stop_after,
                 max_passes)
    for (hg, lvw, lpart, lmovable, label) in reversed(levels):
        lpart[:] = fine_part[label]
        removed += fm(*hg, lvw, lpart, k, cap, lmovable, stop_after, max_passes)
        fine_part = lpart
    return removed
