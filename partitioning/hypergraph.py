"""The spike-volume hypergraph of a :class:`CommGraph`, and Mt-KaHyPar as a partitioner.

Every vertex ``v`` with an out-edge defines a net (hyperedge) whose pins are ``v``
and its targets. With ``lambda`` the number of parts a net touches, a spike of ``v``
is sent to ``lambda - 1`` remote parts, so the connectivity metric
``sum_nets w(net) * (lambda - 1)`` with ``w = rate`` is exactly the volume of
:func:`partitioning.metrics.comm_volume` for a neuron-level graph. For chunks (or a
graph of expected counts) the net weight is ``rate * reach`` at the vertex's mean
synapses per target vertex: the volume model's value for a net in two parts.

Mt-KaHyPar (https://github.com/kahypar/mt-kahypar, ``pip install mtkahypar``,
also ``pip install 'distsnn[hypergraph]'``) is optional: :func:`available` tells
whether it is installed, and :func:`mtkahypar` raises a ``ValueError`` saying how to
install it when it is not.
"""
from __future__ import annotations

import functools
import importlib.util

import numpy as np

from .graph import CommGraph, to_metis_ints
from .metrics import reach

PRESETS: tuple[str, ...] = ("deterministic", "default", "quality", "highest_quality")
"""Mt-KaHyPar presets accepted by :func:`mtkahypar`. Only ``deterministic`` (the default)
repeats its result for a seed: ``default`` gave volumes 26,623, 30,751 and 26,668 in three
calls on one graph, one thread, one seed."""


def available() -> bool:
    """True when the ``mtkahypar`` package can be imported."""
    return importlib.util.find_spec("mtkahypar") is not None


def nets(graph: CommGraph, labels: np.ndarray | None = None,
         n_labels: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nets of ``graph``, optionally on contracted vertices ``labels``.

    Returns
    -------
    net_ptr : numpy.ndarray
        int64 CSR pointer over nets.
    pins : numpy.ndarray
        int64 pins of every net (the source first), distinct within a net.
    weight : numpy.ndarray
        float64 net weight (spikes per unit of ``rate``), > 0.

    Nets with a single pin (after contraction) or zero weight are left out: they
    can never be cut.
    """
    n = graph.n_vertices
    if labels is None:
        labels, n_labels = np.arange(n, dtype=np.int64), n
    src = graph.sources()
    keep = src != graph.indices
    s, d = src[keep], graph.indices[keep]
    out_w = np.bincount(s, weights=graph.weight[keep], minlength=n)
    out_n = np.bincount(s, minlength=n)
    mean_w = np.divide(out_w, out_n, out=np.zeros(n), where=out_n > 0)
    per_net = graph.rate * reach(mean_w, out_n, graph.size, graph.expected)
    # Pins as (net, contracted vertex), the source included, without repeats.
    net = np.concatenate([np.arange(n, dtype=np.int64), s])
    pin = np.concatenate([labels, labels[d]])
    key = np.unique(net * int(n_labels) + pin)
    net, pin = key // int(n_labels), key % int(n_labels)
    count = np.bincount(net, minlength=n)
    useful = (count > 1) & (per_net > 0)
    sel = useful[net]
    net, pin = net[sel], pin[sel]
    ptr = np.zeros(int(useful.sum()) + 1, dtype=np.int64)
    np.cumsum(count[useful], out=ptr[1:])
    return ptr, pin, per_net[useful]


@functools.lru_cache(maxsize=None)
def _initializer(threads: int):  # noqa: ANN202 (mtkahypar's own type)
    # Mt-KaHyPar wants one initialisation per process and thread count.
    import mtkahypar as mtk

    return mtk.initialize(threads, False)


def mtkahypar(graph: CommGraph, nparts: int, *, imbalance: float = 0.03, seed: int = 0,
              preset: str = "deterministic", threads: int = 1,
              target_weights: np.ndarray | None = None,
              labels: np.ndarray | None = None, n_labels: int | None = None) -> np.ndarray:
    """Mt-KaHyPar on the nets of :func:`nets` with the connectivity (km1) objective.

    Parameters
    ----------
    graph : CommGraph
    nparts : int
        Number of parts, >= 2 (validated by the caller).
    imbalance : float
        Mt-KaHyPar's epsilon: every part at most ``(1 + imbalance)`` times its target.
    seed : int
        Mt-KaHyPar's seed; the result is reproducible with the ``deterministic``
        preset only.
    preset : str
        One of :data:`PRESETS`.
    threads : int
        Worker threads (>= 1).
    target_weights : numpy.ndarray, optional
        Relative target load per part; default equal.
    labels, n_labels : optional
        Partition the contracted graph (vertex ``labels[v]`` of ``n_labels``) instead.

    Returns
    -------
    numpy.ndarray
        int64 part per (contracted) vertex.
    """
    if not available():
        raise ValueError("partition: method 'mtkahypar' needs the Mt-KaHyPar package, which is not "
                         "installed: pip install 'distsnn[hypergraph]' (or pip install mtkahypar)")
    import mtkahypar as mtk

    init = _initializer(int(threads))
    ctx = init.context_from_preset(getattr(mtk.PresetType, preset.upper()))
    ctx.set_partitioning_parameters(int(nparts), float(max(imbalance, 1e-3)), mtk.Objective.KM1)
    ctx.logging = False
    mtk.set_seed(int(seed))
    n = graph.n_vertices if labels is None else int(n_labels)
    ptr, pins, weight = nets(graph, labels, n)
    vw = graph.vertex_weight if labels is None else np.bincount(labels, weights=graph.vertex_weight,
                                                                minlength=n)
    vweights = to_metis_ints(vw)
    if target_weights is not None:
        share = np.asarray(target_weights, dtype=np.float64)
        share = share / share.sum()
        total = float(vweights.sum())
        ctx.set_individual_target_block_weights(
            np.ceil((1.0 + imbalance) * total * share).astype(np.int64).tolist())
    hyperedges = np.split(pins, ptr[1:-1]) if ptr.shape[0] > 1 else []
    hg = init.create_hypergraph(ctx, n, len(hyperedges), [h.tolist() for h in hyperedges],
                                vweights.tolist(), to_metis_ints(weight).tolist())
    return np.asarray(hg.partition(ctx).get_partition(), dtype=np.int64)
