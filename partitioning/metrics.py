"""Quality measures of a partition of a :class:`~partitioning.graph.CommGraph`.

Notation: vertex ``v`` lies in part ``p(v)``, emits ``rate_v`` spikes per neuron,
stands for ``s_v`` neurons, and ``W_vq`` is the total edge weight (synapses) from
``v`` into part ``q`` (self loops excluded: they never cross parts).

* edge cut: ``sum of w(u, v) over edges with p(u) != p(v)``.
* communication volume, the hypergraph (lambda - 1) metric: a spike travels once
  to every remote part that holds at least one of its targets, so

      volume = sum_v sum_{q != p(v), W_vq > 0} rate_v * reach_v(q)

  with ``reach_v(q) = 1`` for a single neuron of a graph of exact counts
  (``s_v == 1`` and not ``graph.expected``) and otherwise (a chunk of ``s_v > 1``
  neurons, or any vertex of a graph of expected counts, single neurons included)

      reach_v(q) = s_v * (1 - exp(-W_vq / s_v)),

  the expected number of the vertex's neurons with at least one target in ``q``
  when each neuron's synapses into ``q`` are Poisson with mean ``W_vq / s_v``
  (the limit of sparse random connectivity).
* traffic matrix ``T[p, q]``: the same spikes grouped by sending and receiving
  part; ``volume == T.sum()`` and the diagonal is 0.
* messages: ordered pairs ``(p, q)``, ``p != q``, with ``T[p, q] > 0``.
* imbalance: ``max_p L_p / mean_p L_p`` with ``L_p`` the summed ``vertex_weight``
  of part ``p`` (empty parts load 0); 1.0 is perfect balance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .graph import CommGraph


def validate_parts(graph: CommGraph, parts: ArrayLike,
                   nparts: int | None = None) -> tuple[np.ndarray, int]:
    """Check a part vector against ``graph`` and return it as int64 with ``nparts``.

    Parameters
    ----------
    graph : CommGraph
    parts : array_like of int
        Part of every vertex.
    nparts : int, optional
        Number of parts; default ``max(parts) + 1``.

    Returns
    -------
    parts : numpy.ndarray
        int64 copy of the input.
    nparts : int
    """
    arr = np.asarray(parts)
    n = graph.n_vertices
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"parts: must be a 1-D array of length n_vertices = {n}, "
                         f"got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"parts: must be an integer array, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if nparts is None:
        nparts = int(arr.max()) + 1
    if isinstance(nparts, bool) or not isinstance(nparts, (int, np.integer)) or nparts < 1:
        raise ValueError(f"parts: nparts must be an int >= 1, got {nparts!r}")
    bad = (arr < 0) | (arr >= nparts)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"parts: every part must be in [0, {nparts}), got {arr[k]} at vertex {k}")
    return arr, int(nparts)


def reach(weight_into_part: np.ndarray, n_edges_into_part: np.ndarray,
          size: np.ndarray, expected: bool = False) -> np.ndarray:
    """Expected neurons of each vertex that have a target in a given part.

    ``1`` when the vertex is one neuron with at least one edge into the part and
    the weights are exact counts, ``s * (1 - exp(-W / s))`` for a chunk of ``s > 1``
    neurons, or any vertex when ``expected``, with ``W`` synapses into the part
    (Poisson approximation).

    Parameters
    ----------
    weight_into_part : numpy.ndarray
        Synapses ``W`` from the vertex into the part.
    n_edges_into_part : numpy.ndarray
        Edges from the vertex into the part (decides the exact size-1 case).
    size : numpy.ndarray
        Neurons per vertex.
    expected : bool
        Weights are expected counts (:attr:`CommGraph.expected`): Poisson model
        for single neurons too.

    Returns
    -------
    numpy.ndarray
        float64 expected number of the vertex's neurons reaching the part.
    """
    exact = (n_edges_into_part > 0).astype(np.float64)
    chunked = np.ones(size.shape, dtype=bool) if expected else size != 1
    if chunked.any():
        s = size[chunked].astype(np.float64)
        exact[chunked] = s * -np.expm1(-weight_into_part[chunked] / s)
    return exact


def vertex_part_table(graph: CommGraph, parts: np.ndarray,
                      nparts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate the out-edges of every vertex by the part of their target.

    Self loops are left out. Rows are sorted by ``(vertex, part)``.

    Returns
    -------
    vertex, part : numpy.ndarray
        int64 pairs ``(v, q)`` such that ``v`` has at least one edge into ``q``.
    weight : numpy.ndarray
        float64 ``W_vq``, synapses from ``v`` into ``q``.
    count : numpy.ndarray
        int64 number of edges from ``v`` into ``q``.
    """
    src = graph.sources()
    keep = src != graph.indices
    key = src[keep] * nparts + parts[graph.indices[keep]]
    ukey, inverse = np.unique(key, return_inverse=True)
    weight = np.bincount(inverse, weights=graph.weight[keep], minlength=ukey.shape[0])
    count = np.bincount(inverse, minlength=ukey.shape[0]).astype(np.int64)
    return ukey // nparts, ukey % nparts, weight, count


def _remote_spikes(graph: CommGraph, parts: np.ndarray,
                   nparts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected spikes each vertex sends to each remote part: (vertex, part, spikes)."""
    v, q, w, c = vertex_part_table(graph, parts, nparts)
    remote = q != parts[v]
    v, q = v[remote], q[remote]
    spikes = graph.rate[v] * reach(w[remote], c[remote], graph.size[v], graph.expected)
    return v, q, spikes


def edge_cut(graph: CommGraph, parts: ArrayLike) -> float:
    """Summed weight (synapses) of the edges whose endpoints lie in different parts."""
    p, _ = validate_parts(graph, parts)
    crossing = p[graph.sources()] != p[graph.indices]
    return float(graph.weight[crossing].sum())


def comm_volume(graph: CommGraph, parts: ArrayLike) -> float:
    """Expected spikes sent between parts, the (lambda - 1) metric (module docstring)."""
    p, k = validate_parts(graph, parts)
    return float(_remote_spikes(graph, p, k)[2].sum())


def traffic_matrix(graph: CommGraph, parts: ArrayLike, nparts: int) -> np.ndarray:
    """Expected spikes sent from part ``p`` to part ``q`` (``nparts x nparts``, zero diagonal).

    Uses the per-vertex rule of :func:`comm_volume`, so its sum equals the volume.
    """
    p, k = validate_parts(graph, parts, nparts)
    v, q, spikes = _remote_spikes(graph, p, k)
    flat = np.bincount(p[v] * k + q, weights=spikes, minlength=k * k)
    return flat.reshape(k, k)


def messages(graph: CommGraph, parts: ArrayLike, nparts: int) -> int:
    """Ordered part pairs ``(p, q)``, ``p != q``, with nonzero traffic.

    This is the number of messages per epoch when every pair that ever talks
    exchanges one message per epoch.
    """
    return int(np.count_nonzero(traffic_matrix(graph, parts, nparts) > 0))


def part_loads(graph: CommGraph, parts: ArrayLike, nparts: int) -> np.ndarray:
    """Summed ``vertex_weight`` of every part (float64, length ``nparts``)."""
    p, k = validate_parts(graph, parts, nparts)
    return np.bincount(p, weights=graph.vertex_weight, minlength=k)


def imbalance(graph: CommGraph, parts: ArrayLike, nparts: int) -> float:
    """Largest part load over the mean part load (1.0 is perfect); empty parts load 0."""
    loads = part_loads(graph, parts, nparts)
    return float(loads.max() / loads.mean())


def min_delay(graph: CommGraph) -> int | None:
    """Smallest edge delay in time steps, or None for a graph without edges."""
    return int(graph.delay.min()) if graph.n_edges else None


def min_cross_delay(graph: CommGraph, parts: ArrayLike) -> int | None:
    """Smallest delay (time steps) over edges crossing parts; None when no edge crosses.

    This bounds the epoch length of a simulation distributed by ``parts``: spikes
    need to be exchanged only every ``min_cross_delay`` steps.
    """
    p, _ = validate_parts(graph, parts)
    crossing = p[graph.sources()] != p[graph.indices]
    return int(graph.delay[crossing].min()) if crossing.any() else None


@dataclass(frozen=True, eq=False)
class PartitionMetrics:
    """All measures of one partition; see the module docstring for definitions.

    Attributes
    ----------
    nparts : int
    edge_cut : float
        Synapses crossing parts.
    comm_volume : float
        Expected spikes sent between parts per unit of ``rate``.
    messages : int
        Ordered part pairs with nonzero traffic.
    imbalance : float
        Max part load over mean part load.
    min_cross_delay : int or None
        Smallest delay (steps) over crossing edges; None if none crosses.
    min_delay : int or None
        Smallest delay (steps) of the graph; None without edges.
    loads : numpy.ndarray
        Part loads, length ``nparts``.
    traffic : numpy.ndarray
        ``nparts x nparts`` traffic matrix.
    """

    nparts: int
    edge_cut: float
    comm_volume: float
    messages: int
    imbalance: float
    min_cross_delay: int | None
    min_delay: int | None
    loads: np.ndarray
    traffic: np.ndarray

    def as_dict(self) -> dict[str, float | int | None | list]:
        """JSON-friendly copy (arrays become nested lists)."""
        return {
            "nparts": self.nparts, "edge_cut": self.edge_cut,
            "comm_volume": self.comm_volume, "messages": self.messages,
            "imbalance": self.imbalance, "min_cross_delay": self.min_cross_delay,
            "min_delay": self.min_delay, "loads": self.loads.tolist(),
            "traffic": self.traffic.tolist(),
        }


def evaluate(graph: CommGraph, parts: ArrayLike, nparts: int | None = None) -> PartitionMetrics:
    """Compute every measure of ``parts`` at once.

    Parameters
    ----------
    graph : CommGraph
    parts : array_like of int
        Part of every vertex.
    nparts : int, optional
        Number of parts (default ``max(parts) + 1``); give it when trailing parts
        may be empty.

    Returns
    -------
    PartitionMetrics
    """
    p, k = validate_parts(graph, parts, nparts)
    traffic = traffic_matrix(graph, p, k)
    loads = part_loads(graph, p, k)
    traffic.flags.writeable = False
    loads.flags.writeable = False
    return PartitionMetrics(
        nparts=k,
        edge_cut=edge_cut(graph, p),
        comm_volume=float(traffic.sum()),
        messages=int(np.count_nonzero(traffic > 0)),
        imbalance=float(loads.max() / loads.mean()),
        min_cross_delay=min_cross_delay(graph, p),
        min_delay=min_delay(graph),
        loads=loads,
        traffic=traffic,
    )
