"""Delay-aware partitioning: keep edges shorter than a target epoch inside parts.

The epoch of a distributed run is the shortest delay of the edges that cross parts
(:func:`partitioning.metrics.min_cross_delay`): every epoch costs one exchange, so a
longer epoch is as much a saving as a smaller volume. :func:`short_edge_groups` finds
the vertices that edges shorter than ``min_epoch`` steps tie together (connected
components of those edges, directions ignored). :func:`contraction` merges every
group that fits in one part into one vertex, so any partition of the contracted
graph keeps those edges inside parts; a group too heavy for one part cannot be kept
whole, and its vertices stay single (the partitioners weigh its short edges
``SHORT_EDGE_FACTOR`` times more, so they are cut last).
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
