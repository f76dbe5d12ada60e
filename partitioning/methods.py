"""Partitioners: each maps a :class:`CommGraph` to an int64 part per vertex.

Every function returns an int64 array of length ``n_vertices`` with values in
``[0, nparts)`` and is deterministic for a given ``seed``. A part can be empty
only with very uneven vertex weights (``block``, ``random``, METIS) or, for
METIS, on tiny inputs; ``round_robin`` never leaves one empty.
"""
from __future__ import annotations

import numpy as np
import pymetis

from .graph import CommGraph
from .metrics import comm_volume, min_cross_delay
from .refine import refine_volume

METHODS: tuple[str, ...] = ("metis", "metis_refined", "round_robin", "block", "random")

# Keyword options each method accepts through :func:`partition`.
_OPTIONS: dict[str, tuple[str, ...]] = {
    "metis": ("imbalance", "seed"),
    "metis_refined": ("imbalance", "seed"),
    "round_robin": (),
    "block": (),
    "random": ("seed",),
}


def _check_nparts(graph: CommGraph, nparts: int) -> int:
    if isinstance(nparts, bool) or not isinstance(nparts, (int, np.integer)):
        raise ValueError(f"partition: nparts must be an int, got {nparts!r}")
    if nparts < 1:
        raise ValueError(f"partition: nparts must be >= 1, got {nparts}")
    if nparts > graph.n_vertices:
        raise ValueError(f"partition: nparts must be <= n_vertices = {graph.n_vertices}, "
                         f"got {nparts}")
    return int(nparts)


def _check_imbalance(imbalance: float) -> float:
    if isinstance(imbalance, bool) or not isinstance(imbalance, (int, float, np.number)):
        raise ValueError(f"partition: imbalance must be a number in [0, 1], got {imbalance!r}")
    if not (0.0 <= float(imbalance) <= 1.0):
        raise ValueError(f"partition: imbalance must be in [0, 1], got {imbalance}")
    return float(imbalance)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"partition: seed must be an int >= 0, got {seed!r}")
    return int(seed)


def _block_of_weights(weights: np.ndarray, nparts: int) -> np.ndarray:
    """Part of each vertex in order: the share containing its weight midpoint.

    With cumulative weight ``C_i`` (inclusive) and total ``W``, vertex ``i`` goes
    to part ``floor(nparts * (C_i - w_i / 2) / W)``. Parts are contiguous and
    non-decreasing; with equal weights their sizes differ by at most one and none
    is empty when ``n >= nparts``.
    """
    cumulative = np.cumsum(weights)
    middle = cumulative - 0.5 * weights
    part = np.floor(middle * (nparts / cumulative[-1])).astype(np.int64)
    return np.clip(part, 0, nparts - 1)


def round_robin(graph: CommGraph, nparts: int) -> np.ndarray:
    """Vertex ``i`` goes to part ``i % nparts`` (NEST's distribution of neurons)."""
    k = _check_nparts(graph, nparts)
    return np.arange(graph.n_vertices, dtype=np.int64) % k


def block(graph: CommGraph, nparts: int) -> np.ndarray:
    """Contiguous vertex ranges balanced by ``vertex_weight`` (Arbor's gid ranges).

    Vertex ``i`` goes to the part whose share ``[k W / nparts, (k + 1) W / nparts)``
    of the total weight ``W`` contains the midpoint of the vertex's own interval
    ``[C_i - w_i, C_i)`` on the cumulative weight axis. A vertex heavier than one
    share can leave a neighbouring part empty.
    """
    k = _check_nparts(graph, nparts)
    return _block_of_weights(graph.vertex_weight, k)


def random(graph: CommGraph, nparts: int, *, seed: int = 0) -> np.ndarray:
    """Balanced random parts: a seeded permutation of the vertices, then :func:`block`.

    The permutation comes from ``numpy.random.Generator(PCG64(seed))``.
    """
    k = _check_nparts(graph, nparts)
    rng = np.random.Generator(np.random.PCG64(_check_seed(seed)))
    order = rng.permutation(graph.n_vertices)
    parts = np.empty(graph.n_vertices, dtype=np.int64)
    parts[order] = _block_of_weights(graph.vertex_weight[order], k)
    return parts


def metis(graph: CommGraph, nparts: int, *, imbalance: float = 0.03,
          seed: int = 0) -> np.ndarray:
    """METIS k-way partition minimizing the synapse cut under a load tolerance.

    METIS sees the undirected graph of :meth:`CommGraph.undirected_csr_for_metis`
    (edge weight ``w(u, v) + w(v, u)``, integer-scaled vertex weights) and is asked
    for k-way partitioning (``recursive=False``) with ``ufactor = max(1, round(1000 *
    imbalance))``, i.e. every part load at most ``(1 + imbalance)`` times the mean
    (``imbalance=0`` gets METIS's tightest setting, 0.1 %).
    METIS treats this as a target: on small graphs, or with vertex weights that are
    coarse relative to a part, it can exceed it slightly.

    Parameters
    ----------
    graph : CommGraph
    nparts : int
        Number of parts, in ``[1, n_vertices]``; 1 skips METIS.
    imbalance : float
        Allowed relative load excess, in ``[0, 1]``.
    seed : int
        METIS random seed, >= 0.

    Returns
    -------
    numpy.ndarray
        int64 part per vertex.
    """
    k = _check_nparts(graph, nparts)
    tolerance = _check_imbalance(imbalance)
    # METIS rejects ufactor 0; 1 (0.1 %) is its tightest setting.
    ufactor = max(1, int(round(1000 * tolerance)))
    options = pymetis.Options(seed=_check_seed(seed), ufactor=ufactor)
    if k == 1:
        return np.zeros(graph.n_vertices, dtype=np.int64)
    xadj, adjncy, eweights, vweights = graph.undirected_csr_for_metis()
    result = pymetis.part_graph(
        k,
        adjacency=pymetis.CSRAdjacency(xadj, adjncy),
        vweights=vweights,
        eweights=eweights if eweights.shape[0] else None,
        options=options,
        recursive=False,
    )
    return np.asarray(result.vertex_part, dtype=np.int64)


def metis_refined(graph: CommGraph, nparts: int, *, imbalance: float = 0.03,
                  seed: int = 0) -> np.ndarray:
    """METIS, then greedy moves that lower the (lambda - 1) volume.

    The refinement (:func:`partitioning.refine.refine_volume`) keeps every part
    load within ``(1 + imbalance)`` times the mean, or below its METIS load where
    METIS already exceeded that, and keeps METIS's ``min_cross_delay`` (the epoch
    length): vertices with an edge shorter than it stay put. The METIS partition
    is returned unchanged unless the refined one has a strictly lower volume.

    Parameters
    ----------
    graph : CommGraph
    nparts : int
        Number of parts, in ``[1, n_vertices]``.
    imbalance : float
        Allowed relative load excess, in ``[0, 1]``.
    seed : int
        METIS random seed, >= 0 (the refinement itself is deterministic).

    Returns
    -------
    numpy.ndarray
        int64 part per vertex.
    """
    start = metis(graph, nparts, imbalance=imbalance, seed=seed)
    refined = refine_volume(graph, start, int(nparts), imbalance=float(imbalance),
                            min_cross_delay=min_cross_delay(graph, start))
    if comm_volume(graph, refined) < comm_volume(graph, start):
        return refined
    return start


def partition(graph: CommGraph, nparts: int, method: str = "metis",
              **options: float | int) -> np.ndarray:
    """Partition ``graph`` into ``nparts`` parts with the named method.

    Parameters
    ----------
    graph : CommGraph
    nparts : int
        Number of parts, in ``[1, n_vertices]``.
    method : str
        One of :data:`METHODS`.
    **options
        ``imbalance`` and ``seed`` for the METIS methods, ``seed`` for ``random``.

    Returns
    -------
    numpy.ndarray
        int64 part per vertex, values in ``[0, nparts)``.
    """
    if method not in _OPTIONS:
        raise ValueError(f"partition: method must be one of {', '.join(METHODS)}, "
                         f"got {method!r}")
    unknown = sorted(set(options) - set(_OPTIONS[method]))
    if unknown:
        accepted = ", ".join(_OPTIONS[method]) or "none"
        raise ValueError(f"partition: method {method!r} does not take option "
                         f"{unknown[0]!r} (accepted: {accepted})")
    _check_nparts(graph, nparts)
    if method == "metis":
        return metis(graph, nparts, **options)
    if method == "metis_refined":
        return metis_refined(graph, nparts, **options)
    if method == "random":
        return random(graph, nparts, **options)
    if method == "block":
        return block(graph, nparts)
    return round_robin(graph, nparts)

