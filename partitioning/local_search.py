"""The exact spike hypergraph of a neuron-level graph, and the constraints refinement keeps.

For graphs of exact counts with one neuron per vertex (``size == 1``, not
``expected``), the volume is the connectivity metric of the spike hypergraph
(:mod:`partitioning.hypergraph`): net ``e`` of vertex ``v`` has pins ``v`` and its
targets and weight ``rate_v``, and costs ``w_e (lambda_e - 1)``. :func:`nets_csr` builds
it in the CSR form that :mod:`partitioning.fm` (k-way FM) and
:mod:`partitioning.bisection` work on; :func:`applies` tells when the volume is that
metric and the FM tables fit.

Constraints as :func:`partitioning.refine.refine_volume`: part loads at most their cap
(parts over it only lose load), no part loses its last vertex, and vertices with an edge
shorter than ``min_cross_delay`` never move (:func:`movable`).
"""
from __future__ import annotations

import numpy as np

from .graph import CommGraph


def nets_csr(graph: CommGraph) -> tuple[np.ndarray, ...]:
    """Nets (pins, weight) and the incidence vertex -> nets, CSR arrays."""
    n = graph.n_vertices
    src = graph.sources()
    keep = src != graph.indices
    # Canonical rows: the targets of a vertex are distinct and in order, so net v is v
    # followed by its row without the self loop.
    count = 1 + np.bincount(src[keep], minlength=n)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(count, out=ptr[1:])
    pin = np.empty(int(ptr[-1]), dtype=np.int64)
    targets = np.ones(pin.shape[0], dtype=np.bool_)
    targets[ptr[:-1]] = False
    pin[ptr[:-1]] = np.arange(n, dtype=np.int64)
    pin[targets] = graph.indices[keep]
    net = np.repeat(np.arange(n, dtype=np.int64), count)
    order = np.argsort(pin, kind="stable")
    vptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(pin, minlength=n), out=vptr[1:])
    weight = np.where(count > 1, graph.rate, 0.0)
    return ptr, pin, vptr, net[order], weight


def movable(graph: CommGraph, min_cross_delay: int | None) -> np.ndarray:
    """bool per vertex: False where the vertex has an edge shorter than ``min_cross_delay``."""
    out = np.ones(graph.n_vertices, dtype=np.bool_)
    if min_cross_delay is not None:
        src = graph.sources()
        short = (graph.delay < min_cross_delay) & (src != graph.indices)
        out[src[short]] = False
        out[graph.indices[short]] = False
    return out


# FM's tables hold n_vertices x nparts int32 pin counts and float64 connectivities
# (12 bytes a slot, at most 192 MiB).
_MAX_TABLE = 1 << 24


def applies(graph: CommGraph, nparts: int) -> bool:
    """True when the volume is the exact connectivity metric (size 1, exact counts) and
    FM's tables fit (``n_vertices * nparts <= 2**24``)."""
    return (not graph.expected and int(graph.size.max(initial=1)) == 1 and graph.n_edges > 0
            and graph.n_vertices * nparts <= _MAX_TABLE)
