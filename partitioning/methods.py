"""Partitioners: each maps a :class:`CommGraph` to an int64 part per vertex.

Every function returns an int64 array of length ``n_vertices`` with values in
``[0, nparts)`` and is deterministic for a given ``seed`` (Mt-KaHyPar with its
``deterministic`` preset, the default). A part can be empty only with very uneven vertex weights (``block``,
``random``, METIS) or, for METIS, on tiny inputs; ``round_robin`` never leaves one
empty.

Options shared by the graph methods (METIS, ``metis_refined``, ``volume``,
``mtkahypar``):

- ``imbalance``: every part's load at most ``(1 + imbalance)`` times its target;
- ``target_weights``: relative target load of every part (machines of unequal
  speed), default equal;
- ``min_epoch``: delay-aware partitioning, in steps: edges shorter than this are kept
  inside parts where their group fits in one part (:mod:`partitioning.contract`), so
  the run's epoch (the shortest delay between parts) is at least ``min_epoch``
  whenever that is possible within the balance; otherwise they are cut last.

METIS minimises the cut of *traffic*: edge ``u -> v`` weighs its synapses times
``u``'s rate relative to the largest rate (at least 0.001, so silent sources still
count a little), and ``u - v`` the sum of both directions. ``volume`` and ``mtkahypar``
minimise the (lambda - 1) spike volume itself.
"""
from __future__ import annotations

import numpy as np
import pymetis

from . import bisection, fm, hypergraph, local_search
from .contract import SHORT_EDGE_FACTOR, contraction, rebalanced
from .graph import CommGraph, to_metis_ints
from .metrics import comm_volume, imbalance as load_imbalance, min_cross_delay
from .refine import refine_volume

METHODS: tuple[str, ...] = ("metis", "metis_refined", "volume", "mtkahypar", "round_robin",
                             "block", "random")
"""Every partitioner; ``mtkahypar`` needs the optional Mt-KaHyPar package."""

_METIS_OPTIONS = ("imbalance", "seed", "ncuts", "niter", "recursive", "target_weights", "min_epoch")
# Keyword options each method accepts through :func:`partition`.
_OPTIONS: dict[str, tuple[str, ...]] = {
    "metis": _METIS_OPTIONS,
    "metis_refined": _METIS_OPTIONS,
    "volume": _METIS_OPTIONS,
    "mtkahypar": ("imbalance", "seed", "preset", "threads", "target_weights", "min_epoch"),
    "round_robin": (),
    "block": (),
    "random": ("seed",),
}

DEFAULT_NCUTS = 1
"""METIS trials (``ncuts``) by default; see docs/partitioning.md for the measurement."""
DEFAULT_NITER = 10
"""METIS refinement iterations (``niter``) per level by default (METIS's own default)."""
VOLUME_TRIALS = 1
"""METIS seeds the ``volume`` method refines (plus the contiguous blocks and recursive
bisection); seeds 0 and 1 gave the same partitions on the study networks."""
VOLUME_STOP = 100
"""FM moves without a new best before a pass stops, for every start of ``volume``."""
VOLUME_LONG_STOP = 400
"""The same for the refinement of the best start (longer uphill paths)."""


def available_methods() -> tuple[str, ...]:
    """:data:`METHODS` less ``mtkahypar`` when the Mt-KaHyPar package is not installed."""
    return tuple(m for m in METHODS if m != "mtkahypar" or hypergraph.available())


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


def _check_targets(target_weights, nparts: int) -> np.ndarray | None:
    if target_weights is None:
        return None
    tw = np.asarray(target_weights, dtype=np.float64)
    if tw.shape != (nparts,):
        raise ValueError(f"partition: target_weights must have nparts = {nparts} entries, "
                         f"got shape {tw.shape}")
    bad = ~(np.isfinite(tw) & (tw > 0))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"partition: target_weights must be finite and > 0, got {tw[k]} "
                         f"for part {k}")
    return tw / tw.sum()


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"partition: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _delay_groups(graph: CommGraph, nparts: int, tolerance: float,
                  share: np.ndarray | None, min_epoch: int | None) -> tuple[np.ndarray, int]:
    """Contracted vertex per vertex (identity without ``min_epoch``) and their count."""
    n = graph.n_vertices
    if min_epoch is None:
        return np.arange(n, dtype=np.int64), n
    _check_count("min_epoch", min_epoch, 1)
    smallest = 1.0 / nparts if share is None else float(share.min())
    capacity = (1.0 + tolerance) * float(graph.vertex_weight.sum()) * smallest
    labels, m = contraction(graph, int(min_epoch), capacity)
    if m < nparts:  # too few groups to fill every part: keep vertices single
        return np.arange(n, dtype=np.int64), n
    return labels, m


def _metis_input(graph: CommGraph, labels: np.ndarray, m: int,
                 min_epoch: int | None) -> tuple[np.ndarray, ...]:
    """Undirected CSR of (contracted) traffic weights and vertex weights, METIS integers."""
    src, dst = graph.sources(), graph.indices
    top = float(graph.rate.max())
    # Relative to the largest rate, so that equal rates leave synapse counts unchanged
    # (integral weights stay exact in METIS).
    traffic = (graph.weight * np.maximum(graph.rate[src], 1e-3 * top) / top if top > 0
               else graph.weight)
    u, v = labels[src], labels[dst]
    if min_epoch is not None:
        # Short edges that contraction could not keep inside a group: cut them last.
        traffic = np.where((graph.delay < min_epoch) & (u != v), SHORT_EDGE_FACTOR * traffic,
                           traffic)
    keep = u != v
    u, v, w = u[keep], v[keep], traffic[keep]
    key = np.concatenate([u * m + v, v * m + u])
    ukey, inverse = np.unique(key, return_inverse=True)
    wsum = np.bincount(inverse, weights=np.concatenate([w, w]), minlength=ukey.shape[0])
    xadj = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(ukey // m, minlength=m), out=xadj[1:])
    vweights = to_metis_ints(np.bincount(labels, weights=graph.vertex_weight, minlength=m))
    return xadj, ukey % m, to_metis_ints(wsum), vweights


# Contracted graphs up to this many vertices x parts get the balance repair.
_REBALANCE_MAX = 1 << 22


def metis(graph: CommGraph, nparts: int, *, imbalance: float = 0.03, seed: int = 0,
          ncuts: int = DEFAULT_NCUTS, niter: int = DEFAULT_NITER, recursive: bool = False,
          target_weights: np.ndarray | None = None, min_epoch: int | None = None) -> np.ndarray:
    """METIS partition minimizing the traffic cut under a load tolerance.

    METIS sees the undirected traffic graph of the module docstring (contracted by
    ``min_epoch``) with integer-scaled weights, and is asked for k-way partitioning
    (``recursive=False``) or recursive bisection with ``ufactor = max(1, round(1000 *
    imbalance))``, i.e. every part load at most ``(1 + imbalance)`` times its target
    (``imbalance=0`` gets METIS's tightest setting, 0.1 %). METIS treats this as a
    target: on small graphs, or with vertex weights that are coarse relative to a
    part, it can exceed it slightly.

    Parameters
    ----------
    graph : CommGraph
    nparts : int
        Number of parts, in ``[1, n_vertices]``; 1 skips METIS.
    imbalance : float
        Allowed relative load excess, in ``[0, 1]``.
    seed : int
        METIS random seed, >= 0.
    ncuts : int
        Partitions METIS computes (from different random starts), keeping the
        smallest cut; >= 1.
    niter : int
        Refinement iterations per level, >= 1.
    recursive : bool
        Recursive bisection instead of direct k-way partitioning.
    target_weights : array_like of float, optional
        Relative target load per part (METIS ``tpwgts``); default equal.
    min_epoch : int, optional
        Delay-aware partitioning, steps (module docstring).

    Returns
    -------
    numpy.ndarray
        int64 part per vertex.
    """
    k = _check_nparts(graph, nparts)
    tolerance = _check_imbalance(imbalance)
    share = _check_targets(target_weights, k)
    options = pymetis.Options(seed=_check_seed(seed), ufactor=max(1, int(round(1000 * tolerance))),
                              ncuts=_check_count("ncuts", ncuts, 1),
                              niter=_check_count("niter", niter, 1))
    if not isinstance(recursive, (bool, np.bool_)):
        raise ValueError(f"partition: recursive must be a bool, got {recursive!r}")
    labels, m = _delay_groups(graph, k, tolerance, share, min_epoch)
    if k == 1:
        return np.zeros(graph.n_vertices, dtype=np.int64)
    xadj, adjncy, eweights, vweights = _metis_input(graph, labels, m, min_epoch)
    result = pymetis.part_graph(
        k,
        adjacency=pymetis.CSRAdjacency(xadj, adjncy),
        vweights=vweights,
        eweights=eweights if eweights.shape[0] else None,
        tpwgts=None if share is None else share.tolist(),
        options=options,
        recursive=bool(recursive),
    )
    parts = np.asarray(result.vertex_part, dtype=np.int64)
    if m < graph.n_vertices and m * k <= _REBALANCE_MAX:
        share_ = np.full(k, 1.0 / k) if share is None else share
        cap = (1.0 + tolerance) * float(vweights.sum()) * share_
        parts = rebalanced(xadj, adjncy, eweights, vweights, parts, cap)
    return parts[labels]


def _refined(graph: CommGraph, start: np.ndarray, k: int, tolerance: float,
             share: np.ndarray | None) -> np.ndarray:
    """``start`` refined for volume, keeping its epoch; the better of the two."""
    refined = refine_volume(graph, start, k, imbalance=tolerance,
                            min_cross_delay=min_cross_delay(graph, start), target_weights=share)
    return refined if comm_volume(graph, refined) < comm_volume(graph, start) else start


def metis_refined(graph: CommGraph, nparts: int, *, imbalance: float = 0.03, seed: int = 0,
                  ncuts: int = DEFAULT_NCUTS, niter: int = DEFAULT_NITER, recursive: bool = False,
                  target_weights: np.ndarray | None = None,
                  min_epoch: int | None = None) -> np.ndarray:
    """METIS, then greedy moves that lower the (lambda - 1) volume.

    The refinement (:func:`partitioning.refine.refine_volume`) keeps every part
    load within ``(1 + imbalance)`` times its target, or below its METIS load where
    METIS already exceeded that, and keeps METIS's ``min_cross_delay`` (the epoch
    length): vertices with an edge shorter than it stay put. The METIS partition
    is returned unchanged unless the refined one has a strictly lower volume.
    Parameters as :func:`metis` (the refinement itself is deterministic).

    Returns
    -------
    numpy.ndarray
        int64 part per vertex.
    """
    start = metis(graph, nparts, imbalance=imbalance, seed=seed, ncuts=ncuts, niter=niter,
                  recursive=recursive, target_weights=target_weights, min_epoch=min_epoch)
    return _refined(graph, start, int(nparts), float(imbalance),
                    _check_targets(target_weights, int(nparts)))


def volume(graph: CommGraph, nparts: int, *, imbalance: float = 0.03, seed: int = 0,
           ncuts: int = DEFAULT_NCUTS, niter: int = DEFAULT_NITER, recursive: bool = False,
           target_weights: np.ndarray | None = None, min_epoch: int | None = None) -> np.ndarray:
    """The lowest (lambda - 1) volume among several refined starting partitions.

    Starts: METIS with seeds ``seed .. seed + VOLUME_TRIALS - 1`` (each with the
    given options), without ``target_weights`` the contiguous :func:`block` ranges
    (the vertex order often follows the structure: populations, areas, positions),
    and, on graphs of exact counts without ``min_epoch``, multilevel recursive bisection
    of the spike hypergraph (:mod:`partitioning.bisection`, which knows no delays). On
    graphs of exact counts with one neuron per vertex each start is refined by k-way FM
    (:func:`partitioning.fm.refine`), otherwise by
    :func:`partitioning.refine.refine_volume`; either keeps the start's epoch (vertices
    with an edge shorter than the start's shortest cut delay stay put). The refined start of
    lowest volume among those within the load tolerance and, with ``min_epoch``, whose
    epoch reaches ``min_epoch`` if any does, wins; it is refined again with balance
    relaxation (:data:`partitioning.fm.RELAXED`) and FM passes that stop only after
    :data:`VOLUME_LONG_STOP` moves without a new best (longer uphill paths), kept if
    lower. Parameters as :func:`metis`.

    Returns
    -------
    numpy.ndarray
        int64 part per vertex.
    """
    k = _check_nparts(graph, nparts)
    tolerance = _check_imbalance(imbalance)
    share = _check_targets(target_weights, k)
    starts = [metis(graph, k, imbalance=tolerance, seed=_check_seed(seed) + t, ncuts=ncuts,
                    niter=niter, recursive=recursive, target_weights=target_weights,
                    min_epoch=min_epoch) for t in range(VOLUME_TRIALS)]
    if k == 1:
        return starts[0]
    if share is None:
        starts.append(block(graph, k))
    exact = local_search.applies(graph, k)
    if exact:
        hg = local_search.nets_csr(graph)
        shares = np.full(k, 1.0 / k) if share is None else share
        target = float(graph.vertex_weight.sum()) * shares
        if min_epoch is None:  # bisection knows no delays: with min_epoch, METIS's starts
            starts.append(bisection.recursive_bisection(hg[0], hg[1], hg[4], graph.vertex_weight,
                                                        shares, tolerance, _check_seed(seed)))

    def refined(start: np.ndarray, stop_after: int, relaxed: tuple[float, ...]) -> np.ndarray:
        if not exact:
            return _refined(graph, start, k, tolerance, share)
        movable = local_search.movable(graph, min_cross_delay(graph, start))
        return fm.refine(hg, graph.vertex_weight, start, k, target, tolerance, movable,
                         relaxed=relaxed, stop_after=stop_after)

    best, best_key = None, None
    for start in starts:
        p = refined(start, VOLUME_STOP, ())
        epoch = min_cross_delay(graph, p)
        short = min_epoch is not None and epoch is not None and epoch < min_epoch
        over = share is None and load_imbalance(graph, p, k) > 1.0 + tolerance + 1e-9
        key = (short, over, comm_volume(graph, p))
        if best_key is None or key < best_key:
            best, best_key = p, key
    if exact:
        best = refined(best, VOLUME_LONG_STOP, fm.RELAXED)
    return best


def mtkahypar(graph: CommGraph, nparts: int, *, imbalance: float = 0.03, seed: int = 0,
              preset: str = "deterministic", threads: int = 1,
              target_weights: np.ndarray | None = None,
              min_epoch: int | None = None) -> np.ndarray:
    """Mt-KaHyPar with the connectivity objective: the (lambda - 1) volume directly.

    See :func:`partitioning.hypergraph.mtkahypar` (the optional package, presets,
    threads). ``min_epoch`` contracts as for :func:`metis`.

    Returns
    -------
    numpy.ndarray
        int64 part per vertex.
    """
    k = _check_nparts(graph, nparts)
    tolerance = _check_imbalance(imbalance)
    share = _check_targets(target_weights, k)
    if preset not in hypergraph.PRESETS:
        raise ValueError(f"partition: preset must be one of {', '.join(hypergraph.PRESETS)}, "
                         f"got {preset!r}")
    threads = _check_count("threads", threads, 1)
    labels, m = _delay_groups(graph, k, tolerance, share, min_epoch)
    if k == 1:
        return np.zeros(graph.n_vertices, dtype=np.int64)
    if hypergraph.nets(graph, labels, m)[0].shape[0] == 1:  # no net to cut: balance only
        return _block_of_weights(graph.vertex_weight, k)
    parts = hypergraph.mtkahypar(graph, k, imbalance=tolerance, seed=_check_seed(seed),
                                 preset=preset, threads=threads, target_weights=share,
                                 labels=labels, n_labels=m)
    return parts[labels]


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
        For the METIS methods (``metis``, ``metis_refined``, ``volume``):
        ``imbalance``, ``seed``, ``ncuts``, ``niter``, ``recursive``,
        ``target_weights``, ``min_epoch``; for ``mtkahypar``: ``imbalance``,
        ``seed``, ``preset``, ``threads``, ``target_weights``, ``min_epoch``;
        ``seed`` for ``random``.

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
    if method == "volume":
        return volume(graph, nparts, **options)
    if method == "mtkahypar":
        return mtkahypar(graph, nparts, **options)
    if method == "random":
        return random(graph, nparts, **options)
    if method == "block":
        return block(graph, nparts)
    return round_robin(graph, nparts)

