"""Greedy refinement of a partition for the (lambda - 1) communication volume.

Every vertex ``v`` defines a net: ``v`` itself plus its targets. The volume is a
sum of one cost per net (see :mod:`partitioning.metrics`), so moving vertex
``u`` from part ``a`` to ``b`` changes only the nets that contain ``u``: its own
net (``a`` becomes remote, ``b`` local) and the nets of its predecessors (their
weight into ``a`` drops and into ``b`` grows by the synapses onto ``u``).
:func:`move_delta` evaluates that change exactly for many moves at once.

:func:`refine_volume` works in parallel passes, in the spirit of
Fiduccia-Mattheyses but without a priority queue or negative-gain moves:

1. Every movable boundary vertex gets as targets the ``candidates`` parts it is
   most strongly connected to (in plus out synapses), minus those the move alone
   would push over the load cap ``(1 + imbalance) * mean load``.
2. Each vertex keeps its best target; only strict improvements remain.
3. Selection (Luby style): moves ranked by improvement; a move is taken when it
   ranks first among the remaining moves of every net it belongs to, and moves
   sharing a net with a taken one drop out. Taken moves share no net, so their
   volume changes add up exactly: no selection can make the volume worse.
4. In every target part, taken moves are applied best first while the part's
   load stays within the cap; load leaving a part is not credited, which keeps
   the check conservative.
5. Steps 3-4 repeat on the moves left, with their gains recomputed, a few times
   per pass; then a new pass starts at step 1.

Passes stop when one lowers the volume by less than ``min_gain`` of it, or after
``max_passes``. A vertex with an edge shorter than ``min_cross_delay`` never
moves, so the epoch length the partition allows is kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import CommGraph
from .metrics import comm_volume, reach, validate_parts

_BIG = np.iinfo(np.int64).max
# Luby steps per selection: each takes more net-disjoint moves among those left.
_SELECTION_STEPS = 8
# Selections per pass before candidates and gains are recomputed from scratch.
_SUB_ROUNDS = 8


@dataclass(frozen=True)
class _Edges:
    """Non-self edges of a graph in out-order (CSR rows) and in-order (by target)."""

    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    in_ptr: np.ndarray
    in_src: np.ndarray
    in_weight: np.ndarray
    chunked: bool  # the cost needs weights: some vertex is a chunk, or weights are expected

    @classmethod
    def build(cls, graph: CommGraph) -> "_Edges":
        src = graph.sources()
        keep = src != graph.indices
        src, dst, weight = src[keep], graph.indices[keep], graph.weight[keep]
        order = np.argsort(dst, kind="stable")
        in_ptr = np.zeros(graph.n_vertices + 1, dtype=np.int64)
        np.cumsum(np.bincount(dst, minlength=graph.n_vertices), out=in_ptr[1:])
        return cls(src, dst, weight, in_ptr, src[order], weight[order],
                   bool(graph.size.max() > 1 or graph.expected))


# Up to this many (vertex, part) slots the table is a dense array indexed by
# ``v * nparts + q`` (about 16 bytes a slot); beyond it, a sorted key array
# searched with ``searchsorted``, several times slower per lookup.
_DENSE_SLOTS = 1 << 23


@dataclass
class _Table:
    """``W_vq`` and edge counts ``C_vq`` per (vertex, part), keyed ``v * nparts + q``.

    Without chunks the cost depends on counts only, so ``W`` is not kept (and the
    lookups, bound by memory latency, halve).
    """

    key: np.ndarray | None  # sorted keys of the sparse form; None when dense
    weight: np.ndarray | None  # None when the graph has no chunks
    count: np.ndarray

    @classmethod
    def build(cls, edges: _Edges, parts: np.ndarray, nparts: int, n: int) -> "_Table":
        key = edges.src * nparts + parts[edges.dst]
        if n * nparts <= _DENSE_SLOTS:
            slot, length, ukey = key, n * nparts, None
        else:
            ukey, slot = np.unique(key, return_inverse=True)
            length = ukey.shape[0]
        weight = (np.bincount(slot, weights=edges.weight, minlength=length)
                  if edges.chunked else None)
        count = np.bincount(slot, minlength=length).astype(np.int32)
        return cls(ukey, weight, count)

    def update(self, edges: _Edges, parts: np.ndarray, nparts: int, n: int,
               moved: np.ndarray, old: np.ndarray) -> "_Table":
        """The table after ``moved`` left parts ``old`` for their ``parts`` now."""
        if self.key is not None:
            return _Table.build(edges, parts, nparts, n)
        # Dense: only the predecessors of moved vertices change, in place.
        owner, pos = _segments(edges.in_ptr[moved], edges.in_ptr[moved + 1] - edges.in_ptr[moved])
        v, w = edges.in_src[pos], edges.in_weight[pos]
        leave, join = v * nparts + old[owner], v * nparts + parts[moved][owner]
        if self.weight is not None:
            np.subtract.at(self.weight, leave, w)
            np.add.at(self.weight, join, w)
        np.subtract.at(self.count, leave, 1)
        np.add.at(self.count, join, 1)
        return self

    def lookup(self, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(W, C)`` for each key; zero where the vertex has no edge into the part.

        Without chunks ``C`` stands in for ``W``, which :func:`reach` then ignores.
        """
        if self.key is None:
            count = self.count[key]
            return (count if self.weight is None else self.weight[key]), count
        pos = np.minimum(np.searchsorted(self.key, key), self.key.shape[0] - 1)
        found = self.key[pos] == key
        count = np.where(found, self.count[pos], 0)
        if self.weight is None:
            return count, count
        return np.where(found, self.weight[pos], 0.0), count


def _segments(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten ranges ``starts[i] : starts[i] + lengths[i]`` into (owner i, position)."""
    owner = np.repeat(np.arange(starts.shape[0], dtype=np.int64), lengths)
    offset = np.arange(owner.shape[0], dtype=np.int64) - np.repeat(
        np.cumsum(lengths) - lengths, lengths)
    return owner, np.repeat(starts, lengths) + offset


def _deltas(graph: CommGraph, edges: _Edges, table: _Table, parts: np.ndarray,
            nparts: int, u: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact volume change of each single move ``u[i] -> b[i]`` applied alone."""
    a = parts[u]
    size_u = graph.size[u]
    w_ua, c_ua = table.lookup(u * nparts + a)
    w_ub, c_ub = table.lookup(u * nparts + b)
    exp = graph.expected
    own = graph.rate[u] * (reach(w_ua, c_ua, size_u, exp) - reach(w_ub, c_ub, size_u, exp))
    # Predecessor v of u: its synapses w onto u leave part a and join part b;
    # only parts remote from v count.
    owner, pos = _segments(edges.in_ptr[u], edges.in_ptr[u + 1] - edges.in_ptr[u])
    v, w = edges.in_src[pos], edges.in_weight[pos]
    va, vb, pv = a[owner], b[owner], parts[v]
    size_v = graph.size[v]
    w_va, c_va = table.lookup(v * nparts + va)
    w_vb, c_vb = table.lookup(v * nparts + vb)
    leave = (reach(np.maximum(w_va - w, 0.0), c_va - 1, size_v, exp)
             - reach(w_va, c_va, size_v, exp))
    join = reach(w_vb + w, c_vb + 1, size_v, exp) - reach(w_vb, c_vb, size_v, exp)
    pred = graph.rate[v] * (np.where(pv != va, leave, 0.0) + np.where(pv != vb, join, 0.0))
    total = own + np.bincount(owner, weights=pred, minlength=u.shape[0])
    return np.where(a == b, 0.0, total)


def move_delta(graph: CommGraph, parts: np.ndarray, nparts: int,
               vertices: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Exact change of :func:`~partitioning.metrics.comm_volume` for single moves.

    Parameters
    ----------
    graph : CommGraph
    parts : numpy.ndarray
        int64 current part of every vertex, values in ``[0, nparts)``.
    nparts : int
    vertices, targets : numpy.ndarray
        int64 moves ``vertices[i] -> targets[i]``, each evaluated on its own.

    Returns
    -------
    numpy.ndarray
        float64 volume after the move minus volume before (negative is better).
    """
    edges = _Edges.build(graph)
    vertices = np.asarray(vertices, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    if edges.src.shape[0] == 0:
        return np.zeros(vertices.shape[0])
    table = _Table.build(edges, parts, nparts, graph.n_vertices)
    return _deltas(graph, edges, table, parts, nparts, vertices, targets)


def _candidates(edges: _Edges, parts: np.ndarray, nparts: int, loads: np.ndarray,
                vertex_weight: np.ndarray, cap: np.ndarray, movable: np.ndarray,
                per_vertex: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``per_vertex`` most connected feasible foreign parts of movable boundary vertices."""
    key = np.concatenate([edges.src * nparts + parts[edges.dst],
                          edges.dst * nparts + parts[edges.src]])
    conn = np.concatenate([edges.weight, edges.weight])
    foreign = key % nparts != parts[key // nparts]
    ukey, slot = np.unique(key[foreign], return_inverse=True)
    score = np.bincount(slot, weights=conn[foreign], minlength=ukey.shape[0])
    u, b = ukey // nparts, ukey % nparts
    fits = (loads[b] + vertex_weight[u] <= cap[b]) & movable[u]
    u, b, score = u[fits], b[fits], score[fits]
    order = np.lexsort((-score, u))
    u, b = u[order], b[order]
    first = np.ones(u.shape[0], dtype=bool)
    first[1:] = u[1:] != u[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(u.shape[0]), 0))
    keep = np.arange(u.shape[0]) - group_start < per_vertex
    return u[keep], b[keep]


def _independent(edges: _Edges, n: int, movers: np.ndarray) -> np.ndarray:
    """Mask over ``movers`` (sorted best first) of a set of moves sharing no net.

    Luby-style steps: a live mover wins when it ranks first among the live movers
    of every net it belongs to; every mover sharing a net with a winner drops out.
    The winners of all steps together are net-disjoint.
    """
    is_mover = np.zeros(n, dtype=bool)
    is_mover[movers] = True
    # Only pins that are movers compete; keep those edges (still grouped by net).
    pin = is_mover[edges.dst]
    net, mover = edges.src[pin], edges.dst[pin]
    first = np.ones(net.shape[0], dtype=bool)
    first[1:] = net[1:] != net[:-1]
    starts = np.flatnonzero(first)
    nets = net[starts]
    rank = np.full(n, _BIG, dtype=np.int64)
    rank[movers] = np.arange(movers.shape[0], dtype=np.int64)
    live = is_mover.copy()
    won = np.zeros(n, dtype=bool)
    for _ in range(_SELECTION_STEPS):
        live_rank = np.where(live, rank, _BIG)
        net_min = live_rank.copy()  # a vertex is a pin of its own net
        if starts.shape[0]:
            net_min[nets] = np.minimum(net_min[nets],
                                       np.minimum.reduceat(live_rank[mover], starts))
        loses = net_min != live_rank
        loses[mover[live[mover] & (net_min[net] != live_rank[mover])]] = True
        winner = live & ~loses
        if not winner.any():
            break
        won |= winner
        # Nets holding a winner are taken: all their pins leave the live set.
        taken = winner.copy()
        taken[net[winner[mover]]] = True
        live &= ~taken
        live[mover[taken[net]]] = False
        if not live.any():
            break
    return won[movers]


def _group_rank(group: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal ``group`` values (sorted input)."""
    first = np.ones(group.shape[0], dtype=bool)
    first[1:] = group[1:] != group[:-1]
    return np.arange(group.shape[0]) - np.maximum.accumulate(
        np.where(first, np.arange(group.shape[0]), 0))


def _apply(graph: CommGraph, edges: _Edges, parts: np.ndarray, loads: np.ndarray,
           members: np.ndarray, cap: np.ndarray, u: np.ndarray, b: np.ndarray,
           delta: np.ndarray) -> tuple[np.ndarray, float]:
    """Apply a net-disjoint, load-feasible subset of the moves (one per vertex).

    No part loses its last vertex: at most ``members[a] - 1`` vertices leave part
    ``a`` (best moves first), whatever arrives, so a non-empty part stays non-empty.
    Returns the mask of applied moves and the volume change, both exact.
    """
    order = np.lexsort((u, delta))
    u, b, delta = u[order], b[order], delta[order]
    ok = _independent(edges, graph.n_vertices, u)
    leaving = np.flatnonzero(ok)
    leaving = leaving[np.lexsort((delta[leaving], parts[u[leaving]]))]
    a = parts[u[leaving]]
    ok[leaving[_group_rank(a) >= members[a] - 1]] = False
    # Per target part, best moves first, while the cumulative incoming load fits.
    pick = np.flatnonzero(ok)
    pick = pick[np.lexsort((delta[pick], b[pick]))]
    weight = graph.vertex_weight[u[pick]]
    incoming = np.cumsum(weight)
    first = np.ones(pick.shape[0], dtype=bool)
    first[1:] = b[pick][1:] != b[pick][:-1]
    before_group = np.maximum.accumulate(np.where(first, incoming - weight, 0.0))
    pick = pick[loads[b[pick]] + (incoming - before_group) <= cap[b[pick]]]
    mu, mb = u[pick], b[pick]
    np.subtract.at(loads, parts[mu], graph.vertex_weight[mu])
    np.add.at(loads, mb, graph.vertex_weight[mu])
    np.subtract.at(members, parts[mu], 1)
    np.add.at(members, mb, 1)
    parts[mu] = mb
    applied = np.zeros(u.shape[0], dtype=bool)
    applied[order[pick]] = True
    return applied, float(delta[pick].sum())


def _pass(graph: CommGraph, edges: _Edges, parts: np.ndarray, nparts: int,
          loads: np.ndarray, members: np.ndarray, cap: np.ndarray, movable: np.ndarray,
          per_vertex: int, tol: float, sub_rounds: int) -> float:
    """One pass; moves vertices in place and returns the (exact) volume change.

    Fresh candidates and gains are computed once; then up to ``sub_rounds`` times
    a net-disjoint subset of the improving moves is applied and the gains of the
    remaining ones are recomputed (cheaper than fresh candidates, as only one
    target per vertex is re-examined).
    """
    n = graph.n_vertices
    table = _Table.build(edges, parts, nparts, n)
    u, b = _candidates(edges, parts, nparts, loads, graph.vertex_weight, cap, movable,
                       per_vertex)
    delta = _deltas(graph, edges, table, parts, nparts, u, b)
    order = np.lexsort((delta, u))
    u, b, delta = u[order], b[order], delta[order]
    best = np.ones(u.shape[0], dtype=bool)
    best[1:] = u[1:] != u[:-1]
    best &= delta < -tol
    u, b, delta = u[best], b[best], delta[best]
    change = 0.0
    for _ in range(sub_rounds):
        if u.shape[0] == 0:
            break
        before = parts[u]
        applied, step = _apply(graph, edges, parts, loads, members, cap, u, b, delta)
        change += step
        if not applied.any():
            break
        table = table.update(edges, parts, nparts, n, u[applied], before[applied])
        u, b = u[~applied], b[~applied]
        fits = loads[b] + graph.vertex_weight[u] <= cap[b]
        u, b = u[fits], b[fits]
        delta = _deltas(graph, edges, table, parts, nparts, u, b)
        keep = delta < -tol
        u, b, delta = u[keep], b[keep], delta[keep]
    return change


def refine_volume(graph: CommGraph, parts: np.ndarray, nparts: int, *,
                  imbalance: float, min_cross_delay: int | None = None,
                  max_passes: int = 20, candidates: int = 3,
                  min_gain: float = 2e-3,
                  target_weights: np.ndarray | None = None) -> np.ndarray:
    """Lower the (lambda - 1) volume of ``parts`` by greedy parallel vertex moves.

    Parameters
    ----------
    graph : CommGraph
    parts : numpy.ndarray
        int64 starting partition, values in ``[0, nparts)``; not modified.
    nparts : int
    imbalance : float
        Allowed load excess: no move takes a part above
        ``(1 + imbalance) * total load * share``, with ``share`` the part's
        fraction of ``target_weights`` (``1 / nparts`` by default). Parts already
        above it only lose load.
    min_cross_delay : int, optional
        Keep the epoch length: a vertex with an edge (in or out) shorter than this
        many steps never moves, so no edge that short starts crossing parts. None
        lets every vertex move.
    max_passes : int
        Upper bound on passes.
    candidates : int
        Target parts examined per boundary vertex and pass.
    min_gain : float
        Stop after a pass that lowers the volume by less than this fraction of it.
    target_weights : numpy.ndarray, optional
        Relative target load of every part (length ``nparts``, > 0), e.g. device
        speeds; default equal.

    Returns
    -------
    numpy.ndarray
        int64 refined partition whose volume is never higher than the input's;
        every part non-empty in ``parts`` is non-empty in it.
    """
    parts = validate_parts(graph, parts, nparts)[0]
    edges = _Edges.build(graph)
    if nparts == 1 or edges.src.shape[0] == 0:
        return parts
    loads = np.bincount(parts, weights=graph.vertex_weight, minlength=nparts)
    members = np.bincount(parts, minlength=nparts)
    share = (np.full(nparts, 1.0 / nparts) if target_weights is None
             else np.asarray(target_weights, dtype=np.float64) / float(np.sum(target_weights)))
    cap = (1.0 + imbalance) * float(loads.sum()) * share
    # Round-off in a delta scales with the largest spikes one vertex can send.
    tol = 1e-9 * max(float(np.max(graph.rate * graph.size)), 1e-300)
    movable = np.ones(graph.n_vertices, dtype=bool)
    if min_cross_delay is not None:
        # Every edge shorter than min_cross_delay is inside a part now; it would
        # cross if either end moved (a joint move of both ends is not attempted).
        src = graph.sources()
        short = (graph.delay < min_cross_delay) & (src != graph.indices)
        movable[src[short]] = False
        movable[graph.indices[short]] = False
    volume = comm_volume(graph, parts)
    for _ in range(max_passes):
        change = _pass(graph, edges, parts, nparts, loads, members, cap, movable, candidates,
                       tol, _SUB_ROUNDS)
        volume += change
        # The gains of later passes decay geometrically; stop when one pass
        # no longer buys a meaningful fraction of what is left.
        if change == 0.0 or -change < min_gain * volume:
            break
    return parts
