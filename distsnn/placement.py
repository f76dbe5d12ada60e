"""Which rank owns which neuron.

:func:`assign` partitions the network's communication graph into one part per rank
with a method of :mod:`partitioning` (``metis``, ``metis_refined``, ``round_robin``,
``block``, ``random``), on rank 0, and broadcasts the result, so every rank holds the
same ``owner`` array (rank of each gid) whatever the partitioner's own determinism.
Graph-based methods use the chunk-level graph (:func:`distsnn.graph.chunk_graph`),
built from expected synapse counts, so no synapse is generated twice; ``round_robin``,
``block`` and ``random`` work on neurons directly (NEST's gid % P, Arbor's contiguous
ranges).
"""

from __future__ import annotations

import numpy as np

import partitioning

from . import graph, validate
from .comm import Comm
from .network import Network

METHODS = partitioning.METHODS


def owner_of(net: Network, parts: int, method: str = "metis", seed: int = 0) -> np.ndarray:
    """The rank of every gid for ``parts`` ranks (no communication)."""
    validate.choice("Partition", "method", method, METHODS)
    parts = validate.integer("Partition", "parts", parts, minimum=1)
    n = net.size
    if parts > n:
        raise ValueError(f"Partition: parts must be <= the number of neurons ({n}), got {parts}")
    if parts == 1:
        return np.zeros(n, dtype=np.int64)
    if method in ("round_robin", "block", "random"):
        g = partitioning.CommGraph.from_edges(n, np.zeros(0, np.int64), np.zeros(0, np.int64), 1.0, 1)
        opts = {"seed": seed} if method == "random" else {}
        return partitioning.partition(g, parts, method, **opts)
    ng = graph.communication_graph(net, parts, level="chunk")
    return graph.expand(partitioning.partition(ng.graph, parts, method, seed=seed), net, ng.chunk)


def assign(net: Network, comm: Comm, method: str = "metis", seed: int = 0) -> np.ndarray:
    """The rank of every gid, computed on rank 0 and broadcast (collective)."""
    validate.choice("Partition", "method", method, METHODS)
    owner = owner_of(net, comm.size, method, seed) if comm.rank == 0 else None
    return np.asarray(comm.bcast(owner), dtype=np.int64)
