"""Directed communication graph in CSR form: the only input the partitioners see.

A vertex is one neuron or a chunk of ``size`` neurons. A directed edge ``u -> v``
stands for all synapses from vertex ``u`` onto vertex ``v``: its ``weight`` is the
number of such synapses (an expected value for chunks) and its ``delay`` the
shortest synaptic delay among them, in integer time steps. Per vertex the graph
holds a compute cost (``vertex_weight``), an expected spike rate per neuron
(``rate``, spikes per neuron per epoch or per second: any unit, used only to weigh
communication) and the number of neurons it stands for (``size``).

The CSR arrays are canonical: within each row the target ids strictly increase, so
one edge holds every synapse of one ``(source, target)`` pair. Self loops are kept
(they are synapses like any other) even though they can never cross parts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

_OWNER = "CommGraph"

# METIS stores weights in 64-bit idx_t in the pymetis build, but it sums and
# multiplies them internally (part weights, gains); keeping every total below
# 2**40 leaves ample headroom against overflow.
_METIS_TOTAL_LIMIT = float(2**40)
# Non-integral weights are scaled so that the smallest one maps to this integer,
# which bounds the relative rounding error of every weight by 1 / (2 * 1000).
_METIS_RESOLUTION = 1000.0


def _int_array(field: str, value: ArrayLike, length: int | None = None) -> np.ndarray:
    """Return ``value`` as a 1-D int64 array, accepting integral floats."""
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{_OWNER}: {field} must be a 1-D array, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{_OWNER}: {field} must have length {length}, got {arr.shape[0]}")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{_OWNER}: {field} must hold integers, "
                             f"got {arr[k].item()!r} at index {k}")
        return arr.astype(np.int64)
    raise ValueError(f"{_OWNER}: {field} must be an integer array, got dtype {arr.dtype}")


def _float_array(field: str, value: ArrayLike, length: int) -> np.ndarray:
    """Return ``value`` (scalar or 1-D) as a float64 array of ``length``, all finite."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{_OWNER}: {field} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 0:
        arr = np.full(length, float(arr))
    if arr.ndim != 1 or arr.shape[0] != length:
        raise ValueError(f"{_OWNER}: {field} must have length {length}, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{_OWNER}: {field} must be finite, got {arr[k].item()!r} at index {k}")
    return arr


def _check_bound(field: str, arr: np.ndarray, ok: np.ndarray, bound: str, unit: str) -> None:
    """Raise naming the first element of ``arr`` where ``ok`` is False."""
    if not ok.all():
        k = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"{_OWNER}: {field} must be {bound}, got {arr[k].item()!r} at {unit} {k}")


def to_metis_ints(values: np.ndarray) -> np.ndarray:
    """Scale positive weights to the positive integers METIS requires.

    Rule: integral weights whose total is at most 2**40 pass unchanged. Otherwise
    every weight is multiplied by ``S = min(1000 / min(values), 2**40 / sum(values))``
    and rounded to the nearest integer, at least 1. When the total limit does not
    bind, each weight keeps its value to a relative error below 0.05 %.

    Parameters
    ----------
    values : numpy.ndarray
        Finite, strictly positive weights.

    Returns
    -------
    numpy.ndarray
        int64 weights, each >= 1.
    """
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    total = float(values.sum())
    if np.all(values == np.round(values)) and total <= _METIS_TOTAL_LIMIT:
        return values.astype(np.int64)
    scale = min(_METIS_RESOLUTION / float(values.min()), _METIS_TOTAL_LIMIT / total)
    return np.maximum(1, np.rint(values * scale)).astype(np.int64)


@dataclass(frozen=True, eq=False)
class CommGraph:
    """Directed communication graph over ``n`` vertices in canonical CSR form.

    Parameters
    ----------
    indptr : numpy.ndarray
        int64, length ``n + 1``: the out-edges of vertex ``u`` are
        ``indptr[u]:indptr[u + 1]``.
    indices : numpy.ndarray
        int64 target vertex of each edge, strictly increasing within a row.
    weight : numpy.ndarray
        float64 number of synapses on each edge (expected value for chunks), > 0.
    delay : numpy.ndarray
        int64 minimum synaptic delay on each edge, in time steps, >= 1.
    vertex_weight : numpy.ndarray
        float64 compute cost of each vertex (arbitrary unit), > 0.
    rate : numpy.ndarray
        float64 expected spikes per neuron per epoch (or per second), >= 0.
    size : numpy.ndarray
        int64 neurons per vertex, >= 1 (1 for neuron-level graphs).
    expected : bool
        True when ``weight`` holds expected synapse counts of random connectivity
        (a chunk-level graph): the metrics then use the Poisson reach model for every
        vertex, single neurons included. False (default): weights are exact counts,
        and a single neuron with an edge into a part reaches it (exactly 1).

    Notes
    -----
    Arrays are converted to the dtypes above, validated, and made read-only.
    Build graphs from edge lists with :meth:`from_edges`, which merges duplicates.
    """

    indptr: np.ndarray
    indices: np.ndarray
    weight: np.ndarray
    delay: np.ndarray
    vertex_weight: np.ndarray
    rate: np.ndarray
    size: np.ndarray
    expected: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.expected, (bool, np.bool_)):
            raise ValueError(f"{_OWNER}: expected must be a bool, got {self.expected!r}")
        object.__setattr__(self, "expected", bool(self.expected))
        indptr = _int_array("indptr", self.indptr)
        if indptr.shape[0] < 2:
            raise ValueError(f"{_OWNER}: indptr must have length n_vertices + 1 >= 2, "
                             f"got {indptr.shape[0]}")
        n = indptr.shape[0] - 1
        if indptr[0] != 0:
            raise ValueError(f"{_OWNER}: indptr[0] must be 0, got {indptr[0]}")
        falls = np.flatnonzero(np.diff(indptr) < 0)
        if falls.size:
            k = int(falls[0]) + 1
            raise ValueError(f"{_OWNER}: indptr must be non-decreasing, got {indptr[k]} "
                             f"after {indptr[k - 1]} at position {k}")
        indices = _int_array("indices", self.indices)
        m = indices.shape[0]
        if indptr[-1] != m:
            raise ValueError(f"{_OWNER}: indptr[-1] must equal len(indices) = {m}, "
                             f"got {indptr[-1]}")
        _check_bound("indices", indices, (indices >= 0) & (indices < n),
                     f"in [0, {n})", "edge")
        # Canonical rows: each consecutive pair inside one row must increase.
        if m > 1:
            same_row = np.ones(m - 1, dtype=bool)
            row_ends = indptr[1:-1]
            row_ends = row_ends[(row_ends > 0) & (row_ends < m)]
            same_row[row_ends - 1] = False
            bad = np.flatnonzero(same_row & (indices[1:] <= indices[:-1]))
            if bad.size:
                k = int(bad[0]) + 1
                raise ValueError(f"{_OWNER}: indices must be strictly increasing within each "
                                 f"row (CommGraph.from_edges sorts and merges), got "
                                 f"{indices[k]} after {indices[k - 1]} at edge {k}")
        weight = _float_array("weight", self.weight, m)
        _check_bound("weight", weight, weight > 0, "> 0 synapses", "edge")
        delay = _int_array("delay", self.delay, m)
        _check_bound("delay", delay, delay >= 1, ">= 1 step", "edge")
        vertex_weight = _float_array("vertex_weight", self.vertex_weight, n)
        _check_bound("vertex_weight", vertex_weight, vertex_weight > 0, "> 0", "vertex")
        rate = _float_array("rate", self.rate, n)
        _check_bound("rate", rate, rate >= 0, ">= 0 spikes per neuron", "vertex")
        size = _int_array("size", self.size, n)
        _check_bound("size", size, size >= 1, ">= 1 neuron", "vertex")
        for name, arr in (("indptr", indptr), ("indices", indices), ("weight", weight),
                          ("delay", delay), ("vertex_weight", vertex_weight),
                          ("rate", rate), ("size", size)):
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def n_vertices(self) -> int:
        """Number of vertices."""
        return int(self.indptr.shape[0] - 1)

    @property
    def n_edges(self) -> int:
        """Number of directed edges (merged source-target pairs, self loops included)."""
        return int(self.indices.shape[0])

    @property
    def n_neurons(self) -> int:
        """Number of neurons the vertices stand for (sum of ``size``)."""
        return int(self.size.sum())

    def sources(self) -> np.ndarray:
        """Source vertex of every edge (int64, aligned with ``indices``)."""
        return np.repeat(np.arange(self.n_vertices, dtype=np.int64), np.diff(self.indptr))

    @classmethod
    def from_edges(
        cls,
        n_vertices: int,
        src: ArrayLike,
        dst: ArrayLike,
        weight: ArrayLike,
        delay: ArrayLike,
        vertex_weight: ArrayLike | None = None,
        rate: ArrayLike | None = None,
        size: ArrayLike | None = None,
        expected: bool = False,
    ) -> "CommGraph":
        """Build a graph from an edge list, merging duplicate ``(src, dst)`` pairs.

        Duplicates are merged by summing ``weight`` and taking the minimum
        ``delay``. Self loops are kept.

        Parameters
        ----------
        n_vertices : int
            Number of vertices, >= 1.
        src, dst : array_like of int
            Source and target vertex of each edge, in ``[0, n_vertices)``.
        weight : array_like of float or float
            Synapses per edge (> 0); a scalar applies to every edge.
        delay : array_like of int or int
            Minimum delay per edge in time steps (>= 1); a scalar applies to every edge.
        vertex_weight, rate, size : array_like, optional
            Per-vertex compute cost (default 1), spikes per neuron (default 1) and
            neurons per vertex (default 1).
        expected : bool
            Weights are expected counts (see the class docstring).

        Returns
        -------
        CommGraph
        """
        if isinstance(n_vertices, bool) or not isinstance(n_vertices, (int, np.integer)):
            raise ValueError(f"{_OWNER}: n_vertices must be an int, got {n_vertices!r}")
        n = int(n_vertices)
        if n < 1:
            raise ValueError(f"{_OWNER}: n_vertices must be >= 1, got {n}")
        src_a = _int_array("src", src)
        m = src_a.shape[0]
        dst_a = _int_array("dst", dst, m)
        _check_bound("src", src_a, (src_a >= 0) & (src_a < n), f"in [0, {n})", "edge")
        _check_bound("dst", dst_a, (dst_a >= 0) & (dst_a < n), f"in [0, {n})", "edge")
        w = _float_array("weight", weight, m)
        _check_bound("weight", w, w > 0, "> 0 synapses", "edge")
        d_in = np.asarray(delay)
        d = _int_array("delay", np.full(m, d_in) if d_in.ndim == 0 else d_in, m)
        _check_bound("delay", d, d >= 1, ">= 1 step", "edge")

        key = src_a * n + dst_a
        order = np.argsort(key, kind="stable")
        key = key[order]
        first = np.ones(m, dtype=bool)
        first[1:] = key[1:] != key[:-1]
        starts = np.flatnonzero(first)
        ukey = key[starts]
        if m > 0:
            w_merged = np.add.reduceat(w[order], starts)
            d_merged = np.minimum.reduceat(d[order], starts)
        else:
            w_merged, d_merged = w, d
        usrc = ukey // n
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(usrc, minlength=n), out=indptr[1:])
        ones = np.ones(n)
        return cls(
            indptr=indptr,
            indices=ukey % n,
            weight=w_merged,
            delay=d_merged,
            vertex_weight=ones if vertex_weight is None else vertex_weight,
            rate=ones if rate is None else rate,
            size=np.ones(n, dtype=np.int64) if size is None else size,
            expected=expected,
        )

    def undirected_csr_for_metis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Symmetrized, integer-weighted CSR graph in the form METIS expects.

        The undirected edge ``{u, v}`` weighs ``w(u, v) + w(v, u)`` synapses; self
        loops are dropped (they never cross parts). Edge and vertex weights are
        scaled to positive integers by :func:`to_metis_ints`: integral weights are
        kept, others are multiplied by ``min(1000 / min, 2**40 / sum)`` and rounded
        (at least 1).

        Returns
        -------
        xadj : numpy.ndarray
            int64, length ``n + 1``.
        adjncy : numpy.ndarray
            int64 neighbours, both directions of every undirected edge.
        eweights : numpy.ndarray
            int64 edge weights aligned with ``adjncy``, each >= 1.
        vweights : numpy.ndarray
            int64 vertex weights, each >= 1.
        """
        n = self.n_vertices
        src = self.sources()
        keep = src != self.indices
        u, v, w = src[keep], self.indices[keep], self.weight[keep]
        key = np.concatenate([u * n + v, v * n + u])
        ww = np.concatenate([w, w])
        ukey, inverse = np.unique(key, return_inverse=True)
        wsum = np.bincount(inverse, weights=ww, minlength=ukey.shape[0])
        xadj = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(ukey // n, minlength=n), out=xadj[1:])
        return xadj, ukey % n, to_metis_ints(wsum), to_metis_ints(self.vertex_weight)
