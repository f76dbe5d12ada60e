"""Graph partitioning for distributed simulation: graphs, partitioners, metrics, mapping.

The package knows graphs, not neurons. A caller describes communication as a
:class:`CommGraph` (vertices are neurons or chunks of neurons, edges carry synapse
counts and minimum delays), partitions it with :func:`partition`, measures the
result with :func:`evaluate` and places the parts on devices with
:func:`map_to_devices`.
"""
from .graph import CommGraph
from .mapping import Machine, host_volumes, map_to_devices, naive_mapping
from .methods import (
    METHODS, available_methods, block, metis, metis_refined, mtkahypar, partition, random,
    round_robin, volume,
)
from .metrics import (
    PartitionMetrics,
    comm_volume,
    edge_cut,
    evaluate,
    imbalance,
    messages,
    min_cross_delay,
    min_delay,
    part_loads,
    traffic_matrix,
)

__all__ = [
    "CommGraph",
    "METHODS",
    "available_methods",
    "Machine",
    "PartitionMetrics",
    "block",
    "comm_volume",
    "edge_cut",
    "evaluate",
    "host_volumes",
    "imbalance",
    "map_to_devices",
    "messages",
    "metis",
    "metis_refined",
    "min_cross_delay",
    "min_delay",
    "mtkahypar",
    "naive_mapping",
    "part_loads",
    "partition",
    "random",
    "round_robin",
    "traffic_matrix",
    "volume",
]
