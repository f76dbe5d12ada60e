"""Delay-aware partitioning: keep edges shorter than a target epoch inside parts.

The epoch of a distributed run is the shortest delay of the edges that cross parts
(:func:`partitioning.metrics.min_cross_delay`): every epoch costs one exchange, so a
longer epoch is as much a saving as a smaller volume. :func:`short_edge_groups` finds
the vertices that edges shorter than ``min_epoch`` steps tie together (connected
components of those edges, directions ignored). :func:`contraction` merges every
group that fits in one part into one vertex, so any partition of the contracted
graph keeps those edges inside parts; a group too heavy for one part cannot be kept
whole, and its vertices stay single (the partitioners weigh its short edges
``SHORT_EDGE_FACTOR`` times more, so they are cut last). :func:`rebalanced` repairs the
balance of a partition of the few, heavy vertices of a contracted graph.
"""
from __future__ import annotations

import numpy as np

from .graph import CommGraph

SHORT_EDGE_FACTOR = 100.0
"""Weight multiplier of short edges that contraction could not keep inside a group."""


def components(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Connected component label (0 ..) of each of ``n`` vertices for edges ``u - v``.

    Hook-and-compress: every vertex points at the smallest label among its edges'
    ends, then pointers are followed to their root, until nothing changes; labels are
    then renumbered in order of first vertex.
    """
    label = np.arange(n, dtype=np.int64)
    while u.shape[0]:
        lu, lv = label[u], label[v]
        low = np.minimum(lu, lv)
        new = label.copy()
        np.minimum.at(new, lu, low)
        np.minimum.at(new, lv, low)
        while True:
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, label):
            break
        label = new
    return np.unique(label, return_inverse=True)[1].astype(np.int64)


def short_edge_groups(graph: CommGraph, min_epoch: int) -> np.ndarray:
    """Group label per vertex: components of the edges with delay < ``min_epoch`` steps."""
    src = graph.sources()
    short = (graph.delay < min_epoch) & (src != graph.indices)
    return components(graph.n_vertices, src[short], graph.indices[short])


def contraction(graph: CommGraph, min_epoch: int, capacity: float) -> tuple[np.ndarray, int]:
    """Vertex of the contracted graph for each vertex, and the contracted vertex count.

    Groups of :func:`short_edge_groups` whose summed ``vertex_weight`` is at most
    ``capacity`` (the load one part may take) become one vertex each; the vertices of
    heavier groups stay single.
    """
    group = short_edge_groups(graph, min_epoch)
    weight = np.bincount(group, weights=graph.vertex_weight)
    whole = weight[group] <= capacity
    # Kept groups first, then every vertex of the heavy groups on its own.
    key = np.where(whole, group, graph.n_vertices + np.arange(graph.n_vertices))
    labels = np.unique(key, return_inverse=True)[1].astype(np.int64)
    return labels, int(labels.max()) + 1 if labels.size else 0


def _rebalance(xadj: np.ndarray, adjncy: np.ndarray, eweights: np.ndarray, vweights: np.ndarray,
               parts: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Greedy moves and swaps out of parts above ``cap``, each the one that cuts least.

    METIS balances poorly on the few, heavy vertices of a contracted graph (six
    areas into two parts: 550 / 450 where 500 / 500 exists). While a part is over
    its cap, the vertex of that part whose move to a part with room adds the least
    cut (weight to the new part minus weight to the old) moves; when no move fits, the
    swap of one of its vertices with a lighter one elsewhere that lowers its excess
    most (then cuts least) is made. Stops when neither helps, after ``2 m`` steps.
    """
    m, k = vweights.shape[0], cap.shape[0]
    parts = parts.copy()
    src = np.repeat(np.arange(m), np.diff(xadj))
    conn = np.zeros((m, k))
    np.add.at(conn, (src, parts[adjncy]), eweights)
    loads = np.bincount(parts, weights=vweights, minlength=k).astype(np.float64)
    vw = vweights.astype(np.float64)

    def move(v: int, b: int) -> None:
        a = int(parts[v])
        parts[v] = b
        loads[a] -= vw[v]
        loads[b] += vw[v]
        nb, w = adjncy[xadj[v]:xadj[v + 1]], eweights[xadj[v]:xadj[v + 1]]
        np.add.at(conn, (nb, np.full(nb.shape, a)), -w)
        np.add.at(conn, (nb, np.full(nb.shape, b)), w)

    for _ in range(2 * m):
        over = loads - cap
        a = int(np.argmax(over))
        if over[a] <= 0:
            break
        cand = np.flatnonzero(parts == a)
        room = loads[None, :] + vw[cand, None] <= cap[None, :]
        room[:, a] = False
        if room.any():
            cost = np.where(room, conn[cand, a][:, None] - conn[cand], np.inf)
            i, b = np.unravel_index(int(np.argmin(cost)), cost.shape)
            move(int(cand[i]), int(b))
            continue
        other = np.flatnonzero(parts != a)
        if other.size == 0:
            break
        # Swap v (in a) with a lighter u (in b): a sheds w_v - w_u, b must stay within its cap.
        v, u = np.meshgrid(cand, other, indexing="ij")
        b = parts[u]
        diff = vw[v] - vw[u]
        ok = (diff > 0) & (loads[b] + diff <= cap[b])
        if not ok.any():
            break
        excess = np.maximum(over[a] - diff, 0.0)
        cut = conn[v, a] - conn[v, b] + conn[u, b] - conn[u, a]
        excess = np.where(ok, excess, np.inf)
        best = np.flatnonzero(excess.ravel() == excess.min())
        pick = best[np.argmin(cut.ravel()[best])]
        if excess.ravel()[pick] >= over[a]:
            break
        i, j = np.unravel_index(int(pick), excess.shape)
        move(int(v[i, j]), int(b[i, j]))
        move(int(u[i, j]), a)
    return parts


def _pack(xadj: np.ndarray, adjncy: np.ndarray, eweights: np.ndarray, vweights: np.ndarray,
          cap: np.ndarray) -> np.ndarray:
    """Heaviest vertex first, each into the part with room it is most connected to.

    Ties (and vertices without placed neighbours) go to the least loaded part; a
    vertex that fits nowhere goes to the part left with the most room. For the few
    heavy vertices of a contracted graph, where single moves cannot fix METIS's
    balance (550 / 450 needs an exchange of several areas).
    """
    m, k = vweights.shape[0], cap.shape[0]
    parts = np.full(m, -1, dtype=np.int64)
    loads = np.zeros(k)
    for v in np.argsort(-vweights, kind="stable"):
        nb = adjncy[xadj[v]:xadj[v + 1]]
        placed = parts[nb] >= 0
        conn = np.bincount(parts[nb][placed], weights=eweights[xadj[v]:xadj[v + 1]][placed],
                           minlength=k)
        room = cap - loads - vweights[v]
        if (room >= 0).any():
            score = np.where(room >= 0, conn - 1e-12 * loads, -np.inf)
        else:
            score = room
        b = int(np.argmax(score))
        parts[v] = b
        loads[b] += vweights[v]
    return parts


def _cut(xadj: np.ndarray, adjncy: np.ndarray, eweights: np.ndarray, parts: np.ndarray) -> float:
    src = np.repeat(np.arange(xadj.shape[0] - 1), np.diff(xadj))
    return float(eweights[parts[src] != parts[adjncy]].sum())


def rebalanced(xadj: np.ndarray, adjncy: np.ndarray, eweights: np.ndarray, vweights: np.ndarray,
               parts: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """The best of ``parts``, :func:`_rebalance` of it and :func:`_pack`.

    Best: the smallest load excess over ``cap`` (per part, in ``vweights`` units), then
    the smallest cut of the undirected CSR graph ``(xadj, adjncy, eweights)``.
    """
    k = cap.shape[0]
    tries = [parts, _rebalance(xadj, adjncy, eweights, vweights, parts, cap),
             _pack(xadj, adjncy, eweights, vweights, cap)]

    def key(p: np.ndarray) -> tuple[float, float]:
        excess = np.bincount(p, weights=vweights, minlength=k) - cap
        return float(np.maximum(excess, 0).max()), _cut(xadj, adjncy, eweights, p)

    return min(tries, key=key)
