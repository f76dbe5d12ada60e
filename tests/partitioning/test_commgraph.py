"""CommGraph construction, canonical CSR form, validation and the METIS view."""
import numpy as np
import pytest

from partitioning import CommGraph
from partitioning.graph import to_metis_ints


def test_from_edges_merges_duplicates_and_keeps_self_loops():
    # Edges 0->1 twice (2 + 3 synapses, delays 4 and 2), a self loop on 2, 2->0.
    g = CommGraph.from_edges(3, [0, 2, 0, 2], [1, 2, 1, 0], [2.0, 1.0, 3.0, 1.5], [4, 1, 2, 3])
    assert g.n_vertices == 3 and g.n_edges == 3
    assert g.indptr.tolist() == [0, 1, 1, 3]
    assert g.indices.tolist() == [1, 0, 2]
    assert g.weight.tolist() == [5.0, 1.5, 1.0]  # 2 + 3 merged
    assert g.delay.tolist() == [2, 3, 1]  # min(4, 2) merged
    assert g.sources().tolist() == [0, 2, 2]
    # Defaults: unit compute cost, unit rate, single neurons.
    assert g.vertex_weight.tolist() == [1.0] * 3
    assert g.rate.tolist() == [1.0] * 3
    assert g.size.tolist() == [1] * 3 and g.n_neurons == 3


def test_dtypes_and_read_only():
    g = CommGraph.from_edges(2, np.array([0], dtype=np.int32), [1], 1, 2.0, size=[3, 4])
    assert g.indptr.dtype == np.int64 and g.indices.dtype == np.int64
    assert g.weight.dtype == np.float64 and g.delay.dtype == np.int64
    assert g.size.dtype == np.int64 and g.n_neurons == 7
    with pytest.raises(ValueError):
        g.weight[0] = 7.0  # frozen graph: arrays are read-only


def test_graph_without_edges():
    g = CommGraph.from_edges(4, [], [], [], [])
    assert g.n_edges == 0 and g.indptr.tolist() == [0, 0, 0, 0, 0]


@pytest.mark.parametrize("kwargs, match", [
    (dict(delay=[1, 0]), r"CommGraph: delay must be >= 1 step, got 0 at edge 1"),
    (dict(weight=[1.0, np.nan]), r"CommGraph: weight must be finite, got nan at index 1"),
    (dict(weight=[1.0, 0.0]), r"CommGraph: weight must be > 0 synapses, got 0.0 at edge 1"),
    (dict(dst=[1, 5]), r"CommGraph: dst must be in \[0, 3\), got 5 at edge 1"),
    (dict(src=[-1, 0]), r"CommGraph: src must be in \[0, 3\), got -1 at edge 0"),
    (dict(dst=[1]), r"CommGraph: dst must have length 2, got 1"),
    (dict(delay=[1.5, 2]), r"CommGraph: delay must hold integers, got 1.5 at index 0"),
    (dict(vertex_weight=[1, 0, 1]),
     r"CommGraph: vertex_weight must be > 0, got 0.0 at vertex 1"),
    (dict(rate=[1, -2, 1]),
     r"CommGraph: rate must be >= 0 spikes per neuron, got -2.0 at vertex 1"),
    (dict(rate=[1, 1]), r"CommGraph: rate must have length 3, got shape \(2,\)"),
    (dict(size=[1, 0, 1]), r"CommGraph: size must be >= 1 neuron, got 0 at vertex 1"),
    (dict(n_vertices=0), r"CommGraph: n_vertices must be >= 1, got 0"),
])
def test_from_edges_rejects_bad_input(kwargs, match):
    args = dict(n_vertices=3, src=[0, 1], dst=[1, 2], weight=[1.0, 1.0], delay=[1, 1])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        CommGraph.from_edges(**args)


def test_constructor_rejects_non_canonical_rows():
    # Row 0 lists target 2 before target 1.
    with pytest.raises(ValueError, match=r"CommGraph: indices must be strictly increasing "
                                         r"within each row .* got 1 after 2 at edge 1"):
        CommGraph(indptr=[0, 2, 2, 2], indices=[2, 1], weight=[1, 1], delay=[1, 1],
                  vertex_weight=1.0, rate=1.0, size=[1, 1, 1])
    with pytest.raises(ValueError,
                       match=r"CommGraph: indptr\[-1\] must equal len\(indices\) = 2, got 3"):
        CommGraph(indptr=[0, 2, 3, 3], indices=[1, 2], weight=[1, 1], delay=[1, 1],
                  vertex_weight=1.0, rate=1.0, size=[1, 1, 1])
    with pytest.raises(ValueError, match=r"CommGraph: indptr must be non-decreasing, "
                                         r"got 1 after 2 at position 2"):
        CommGraph(indptr=[0, 2, 1, 2], indices=[1, 2], weight=[1, 1], delay=[1, 1],
                  vertex_weight=1.0, rate=1.0, size=[1, 1, 1])
    # A duplicate target in one row is rejected; the same target in two rows is fine.
    with pytest.raises(ValueError, match="strictly increasing"):
        CommGraph(indptr=[0, 2, 2], indices=[1, 1], weight=[1, 1], delay=[1, 1],
                  vertex_weight=1.0, rate=1.0, size=[1, 1])
    g = CommGraph(indptr=[0, 1, 2], indices=[1, 1], weight=[1, 1], delay=[1, 1],
                  vertex_weight=1.0, rate=1.0, size=[1, 1])
    assert g.n_edges == 2


def test_undirected_csr_for_metis_symmetrizes_and_drops_self_loops():
    # 0->1 (2 synapses), 1->0 (3), 1->2 (1), self loop 2->2 (5).
    g = CommGraph.from_edges(3, [0, 1, 1, 2], [1, 0, 2, 2], [2, 3, 1, 5], 1,
                             vertex_weight=[1, 2, 3])
    xadj, adjncy, ew, vw = g.undirected_csr_for_metis()
    assert xadj.tolist() == [0, 1, 3, 4]
    assert adjncy.tolist() == [1, 0, 2, 1]
    assert ew.tolist() == [5, 5, 1, 1]  # w(0,1) + w(1,0) = 2 + 3 in both directions
    assert vw.tolist() == [1, 2, 3]  # integral weights pass unchanged
    assert all(a.dtype == np.int64 for a in (xadj, adjncy, ew, vw))


def test_metis_integer_scaling_rule():
    # Integral weights are kept.
    assert to_metis_ints(np.array([1.0, 7.0])).tolist() == [1, 7]
    # Fractional: scale 1000 / min = 4000, so 0.25 -> 1000 and 1.3 -> 5200.
    assert to_metis_ints(np.array([0.25, 1.3])).tolist() == [1000, 5200]
    # The total cap 2**40 binds: every weight ends up >= 1 and the sum stays bounded.
    big = to_metis_ints(np.array([1e-9, 1e12, 1e12]))
    assert big.min() >= 1 and big.sum() <= 2**40 + 3
