"""Coarsening of a hypergraph: vertex clustering and contraction (multilevel partitioning).

Used by :mod:`partitioning.bisection`, which coarsens every hypergraph it bisects, bisects
the coarsest level and refines on the way back with FM (:mod:`partitioning.fm`).

Clustering (heavy-edge rating, as Mt-KaHyPar's coarsening): vertices visited in a
seeded random order; an unclustered vertex ``u`` joins the cluster ``C`` of a
neighbour in its part with the largest ``sum over nets e containing u and a pin of
C of w_e / (|e| - 1)``, if ``C`` stays within the weight limit; otherwise ``u`` starts
a cluster of its own. Nets larger than ``max_net`` are left out of the rating (their
contribution is small and costly to count). With a ``part`` per vertex, clusters stay
inside parts, so the partition carries over to the coarse level with the same volume.

Contraction keeps the volume exact: a coarse net has the distinct clusters of its pins,
its weight is the fine net's, and nets left with one pin are dropped (they cannot be
cut). Every function is deterministic for its seed.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def cluster(ptr, pin, vptr, vnet, w, vw, part, movable, max_weight, max_net,
            seed):  # pragma: no cover
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
