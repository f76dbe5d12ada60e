"""Multilevel recursive bisection of a hypergraph for the (lambda - 1) connectivity.

The initial partitioner of Mt-KaHyPar (and of hMETIS before it), of our own: split the
hypergraph in two, then each half, until there are ``k`` parts. Every bisection is
multilevel: cluster (:func:`partitioning.multilevel.cluster`, no part constraint)
and contract down to about ``COARSEST`` vertices, bisect the coarsest level by the best
of ``TRIES`` greedy starts (seeded random orders and breadth-first growing from a
random vertex, each refined by 2-way FM with balance relaxation,
:func:`partitioning.fm.refine`), then project back, refining with FM on every level.

Cut-net splitting keeps the objective exact: a net cut by a bisection continues, in
each half, with its pins in that half, so ``sum_e w_e (lambda_e - 1)`` over the final
parts equals the sum of the cuts made on the way (each split of a net adds one part
to it). A block to split into two groups of parts is cut with caps ``(1 + eps') W S_i /
(S_0 + S_1)`` for its weight ``W`` and the groups' target shares ``S_i``, with
``1 + eps' = (1 + imbalance) ** (1 / depth)``
over the ``depth = ceil(log2 k)`` levels, so that the final parts end within
``(1 + imbalance)`` of their target (up to the granularity of the vertex weights).
"""
from __future__ import annotations

import numba
import numpy as np

from .fm import km1, refine
from .multilevel import cluster, contract, incidence

COARSEST = 160
"""A bisection coarsens its hypergraph to about this many vertices (Mt-KaHyPar's 160 per part)."""
TRIES = 4
"""Greedy starts per coarsest bisection, each refined by FM; the best is kept."""


@numba.njit(cache=True)
def _grow(ptr, pin, vptr, vnet, vw, target0, bfs, seed):  # pragma: no cover
    """Part 0 grown to ``target0`` in a random order or breadth first; the rest part 1."""
    n = vptr.shape[0] - 1
    np.random.seed(seed)
    order = np.random.permutation(n)
    part = np.ones(n, np.int64)
    load = 0.0
    if not bfs:
        for v in order:
            if load + vw[v] <= target0:
                part[v] = 0
                load += vw[v]
        return part
    queue = np.empty(n, np.int64)
    queued = np.zeros(n, np.bool_)
    head, tail, nxt = 0, 0, 0
    while load < target0:
        if head == tail:  # a new component: the next unvisited vertex of the random order
            while nxt < n and queued[order[nxt]]:
                nxt += 1
            if nxt == n:
                break
            queue[tail] = order[nxt]
            queued[order[nxt]] = True
            tail += 1
        v = queue[head]
        head += 1
        if load + vw[v] > target0:
            continue
        part[v] = 0
        load += vw[v]
        for j in range(vptr[v], vptr[v + 1]):
            e = vnet[j]
            for i in range(ptr[e], ptr[e + 1]):
                u = pin[i]
                if not queued[u]:
                    queued[u] = True
                    queue[tail] = u
                    tail += 1
    return part


def bisect(ptr: np.ndarray, pin: np.ndarray, w: np.ndarray, vw: np.ndarray, target: np.ndarray,
           imbalance: float, seed: int, *, stop_after: int = 100) -> np.ndarray:
    """Multilevel 2-way partition (module docstring), part ``i`` at most ``(1 + imbalance)
    * target[i]``; FM with balance relaxation (:func:`partitioning.fm.refine`) on every
    level, so that whole clusters can change sides past a tight cap."""
    n = vw.shape[0]
    vptr, vnet = incidence(ptr, pin, n)
    zero = np.zeros(n, dtype=np.int64)
    movable = np.ones(n, dtype=np.bool_)
    levels = []
    total = float(vw.sum())
    level = 0
    while vw.shape[0] > COARSEST:
        label, nc = cluster(ptr, pin, vptr, vnet, w, vw, zero, movable, total / (COARSEST / 2),
                            1000, seed * 64 + level)
        if nc > 0.9 * vw.shape[0]:
            break
        levels.append((ptr, pin, vptr, vnet, w, vw, label))
        ptr, pin, w = contract(ptr, pin, w, label, nc)
        vptr, vnet = incidence(ptr, pin, nc)
        vw = np.bincount(label, weights=vw, minlength=nc)
        zero, movable = zero[:nc], movable[:nc]
        level += 1
    target0 = float(target[0])
    best, best_cost = None, np.inf
    for t in range(TRIES):
        part = _grow(ptr, pin, vptr, vnet, vw, target0, t % 2 == 1, seed * 1000 + t)
        part = refine((ptr, pin, vptr, vnet, w), vw, part, 2, target, imbalance, movable,
                      stop_after=stop_after)
        cost = km1(ptr, pin, w, part, 2)
        if cost < best_cost:
            best, best_cost = part, cost
    part = best
    for (lptr, lpin, lvptr, lvnet, lw, lvw, label) in reversed(levels):
        part = part[label]
        part = refine((lptr, lpin, lvptr, lvnet, lw), lvw, part, 2, target, imbalance,
                      np.ones(lvw.shape[0], dtype=np.bool_), relaxed=(), stop_after=stop_after)
    return part


def _restrict(ptr: np.ndarray, pin: np.ndarray, w: np.ndarray,
              inside: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nets restricted to the vertices where ``inside >= 0`` (renumbered to ``inside``)."""
    local = inside[pin]
    keep = local >= 0
    net = np.repeat(np.arange(ptr.shape[0] - 1), np.diff(ptr))[keep]
    count = np.bincount(net, minlength=ptr.shape[0] - 1)
    useful = (count >= 2) & (w > 0)
    sel = useful[net]
    nptr = np.zeros(int(useful.sum()) + 1, dtype=np.int64)
    np.cumsum(count[useful], out=nptr[1:])
    return nptr, local[keep][sel], w[useful]


def recursive_bisection(ptr: np.ndarray, pin: np.ndarray, w: np.ndarray, vw: np.ndarray,
                        share: np.ndarray, imbalance: float, seed: int) -> np.ndarray:
    """Part (0 .. k - 1) per vertex by multilevel recursive bisection (module docstring).

    ``share`` is the relative target load of each of the ``k`` parts (summing to 1):
    a block is split between its two groups of parts in proportion to their shares.
    """
    n = vw.shape[0]
    k = share.shape[0]
    depth = max(1, int(np.ceil(np.log2(k))))
    factor = (1.0 + imbalance) ** (1.0 / depth)
    parts = np.zeros(n, dtype=np.int64)
    # Blocks still to split: (vertex ids, first part, part count).
    todo = [(np.arange(n, dtype=np.int64), 0, k)]
    while todo:
        vertices, first, count = todo.pop()
        if count == 1:
            parts[vertices] = first
            continue
        k0 = count // 2
        weight = float(vw[vertices].sum())
        s0, s1 = float(share[first:first + k0].sum()), float(share[first + k0:first + count].sum())
        target = weight * np.array([s0, s1]) / (s0 + s1)
        inside = np.full(n, -1, dtype=np.int64)
        inside[vertices] = np.arange(vertices.shape[0])
        sptr, spin, sw = _restrict(ptr, pin, w, inside)
        half = bisect(sptr, spin, sw, vw[vertices], target, factor - 1.0,
                      seed * 7919 + first * 131 + count)
        if (half == 0).sum() < k0 or (half == 1).sum() < count - k0:
            # Too few vertices on one side for its parts: split by weight in order instead.
            middle = np.cumsum(vw[vertices]) - 0.5 * vw[vertices]
            half = (middle >= weight * s0 / (s0 + s1)).astype(np.int64)
        todo.append((vertices[half == 1], first + k0, count - k0))
        todo.append((vertices[half == 0], first, k0))
    return parts
