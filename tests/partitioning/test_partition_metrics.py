"""Metrics on small graphs worked out by hand, and the chunk approximation."""
import math

import numpy as np
import pytest

from partitioning import (
    CommGraph, comm_volume, edge_cut, evaluate, imbalance, messages, min_cross_delay,
    min_delay, part_loads, traffic_matrix,
)

# Six vertices in three parts: {0, 1} -> 0, {2, 3} -> 1, {4, 5} -> 2.
PARTS = np.array([0, 0, 1, 1, 2, 2])
#        src dst  w  delay   crosses?
EDGES = [(0, 1, 2, 1),     # no
         (0, 2, 1, 3),     # 0 -> 1
         (0, 3, 4, 2),     # 0 -> 1
         (0, 4, 1, 5),     # 0 -> 2
         (2, 0, 3, 4),     # 1 -> 0
         (3, 3, 1, 1),     # self loop, never crosses
         (4, 5, 2, 1),     # no
         (5, 1, 1, 6),     # 2 -> 0
         (5, 2, 2, 2)]     # 2 -> 1
RATE = [2.0, 1.0, 0.5, 1.0, 1.0, 3.0]
VERTEX_WEIGHT = [1, 1, 1, 1, 1, 3]


def hand_graph(size=None) -> CommGraph:
    src, dst, w, d = (list(c) for c in zip(*EDGES))
    return CommGraph.from_edges(6, src, dst, w, d, vertex_weight=VERTEX_WEIGHT, rate=RATE,
                                size=size)


def test_edge_cut_by_hand():
    # Crossing edges weigh 1 + 4 + 1 + 3 + 1 + 2 = 12 synapses.
    assert edge_cut(hand_graph(), PARTS) == 12.0


def test_volume_and_traffic_by_hand():
    g = hand_graph()
    # Vertex 0 (part 0, rate 2) reaches parts 1 and 2: lambda - 1 = 2 -> 4 spikes
    #   (the 5 synapses into part 1 count once).
    # Vertex 2 (part 1, rate 0.5) reaches part 0 -> 0.5.
    # Vertex 3 only has its self loop, vertex 4 only a local target -> 0.
    # Vertex 5 (part 2, rate 3) reaches parts 0 and 1 -> 6.
    assert comm_volume(g, PARTS) == pytest.approx(10.5)
    expected = np.array([[0.0, 2.0, 2.0],
                         [0.5, 0.0, 0.0],
                         [3.0, 3.0, 0.0]])
    t = traffic_matrix(g, PARTS, 3)
    np.testing.assert_allclose(t, expected)
    assert t.sum() == pytest.approx(comm_volume(g, PARTS))
    assert messages(g, PARTS, 3) == 5  # nonzero off-diagonal entries above


def test_loads_imbalance_and_delays_by_hand():
    g = hand_graph()
    np.testing.assert_allclose(part_loads(g, PARTS, 3), [2.0, 2.0, 4.0])
    # Mean load 8 / 3, largest 4 -> 4 / (8 / 3) = 1.5.
    assert imbalance(g, PARTS, 3) == pytest.approx(1.5)
    # Crossing delays 3, 2, 5, 4, 6, 2 -> 2; the graph's own minimum is 1.
    assert min_cross_delay(g, PARTS) == 2
    assert min_delay(g) == 1
    # An empty fourth part loads 0: mean 2, max 4 -> 2.0.
    assert imbalance(g, PARTS, 4) == pytest.approx(2.0)


def test_no_crossing_gives_none():
    g = hand_graph()
    assert min_cross_delay(g, np.zeros(6, dtype=np.int64)) is None
    assert comm_volume(g, np.zeros(6, dtype=np.int64)) == 0.0
    assert min_delay(CommGraph.from_edges(2, [], [], [], [])) is None


def test_evaluate_bundles_everything():
    m = evaluate(hand_graph(), PARTS)
    assert (m.nparts, m.edge_cut, m.messages, m.min_cross_delay, m.min_delay) == (3, 12.0, 5, 2, 1)
    assert m.comm_volume == pytest.approx(10.5) and m.imbalance == pytest.approx(1.5)
    d = m.as_dict()
    assert d["loads"] == [2.0, 2.0, 4.0] and len(d["traffic"]) == 3


def test_chunk_formula_by_hand():
    # Vertex 0 becomes a chunk of 10 neurons: W into part 1 is 1 + 4 = 5, into
    # part 2 is 1; each neuron reaches part q with probability 1 - exp(-W / 10).
    size = [10, 1, 1, 1, 1, 1]
    g = hand_graph(size)
    v0 = 2.0 * 10 * ((1 - math.exp(-5 / 10)) + (1 - math.exp(-1 / 10)))
    assert comm_volume(g, PARTS) == pytest.approx(v0 + 0.5 + 6.0, rel=1e-12)
    t = traffic_matrix(g, PARTS, 3)
    assert t[0, 1] == pytest.approx(2.0 * 10 * (1 - math.exp(-0.5)), rel=1e-12)


def test_chunk_formula_limits():
    # Few synapses from a big chunk: almost every synapse comes from its own
    # neuron, so the reach approaches W. Many synapses: every neuron reaches.
    few = CommGraph.from_edges(2, [0], [1], 3.0, 1, size=[10_000, 1])
    many = CommGraph.from_edges(2, [0], [1], 1e6, 1, size=[100, 1])
    parts = np.array([0, 1])
    assert comm_volume(few, parts) == pytest.approx(3.0, rel=1e-3)
    assert comm_volume(many, parts) == pytest.approx(100.0, rel=1e-9)


def test_size_one_is_exact_not_poisson():
    # One neuron with 3 synapses into part 1: exactly one spike copy, not 1 - exp(-3).
    g = CommGraph.from_edges(2, [0], [1], 3.0, 1)
    assert comm_volume(g, np.array([0, 1])) == 1.0


def test_chunk_volume_matches_neuron_level_volume():
    # A sparse random neuron-level graph, coarsened into chunks of 50 neurons,
    # must give nearly the exact neuron-level volume for the same placement.
    rng = np.random.default_rng(7)
    n, chunk, p = 2000, 50, 0.004
    src, dst = np.nonzero(rng.random((n, n)) < p)
    neurons = CommGraph.from_edges(n, src, dst, 1.0, 1)
    n_chunks = n // chunk
    chunk_part = rng.integers(0, 4, n_chunks)
    exact = comm_volume(neurons, chunk_part[np.arange(n) // chunk])
    chunks = CommGraph.from_edges(n_chunks, src // chunk, dst // chunk, 1.0, 1,
                                  size=np.full(n_chunks, chunk))
    approx = comm_volume(chunks, chunk_part)
    assert approx == pytest.approx(exact, rel=0.02)
    # Counting one spike per crossing synapse (the edge cut) would be far off.
    assert edge_cut(chunks, chunk_part) > 1.5 * exact


@pytest.mark.parametrize("parts, nparts, match", [
    ([0, 0, 1], None, r"parts: must be a 1-D array of length n_vertices = 6, got shape \(3,\)"),
    ([0, 0, 1, 1, 2, 3], 3, r"parts: every part must be in \[0, 3\), got 3 at vertex 5"),
    ([0.0] * 6, None, r"parts: must be an integer array, got dtype float64"),
    ([0] * 6, 0, r"parts: nparts must be an int >= 1, got 0"),
])
def test_bad_parts(parts, nparts, match):
    with pytest.raises(ValueError, match=match):
        traffic_matrix(hand_graph(), np.array(parts), nparts)


def test_single_neuron_vertex_of_expected_graph_uses_poisson_reach():
    # A one-neuron chunk with 0.4 expected synapses into a part reaches it with
    # probability 1 - exp(-0.4) = 0.33, not 1 (issue 14); exact graphs keep 1.
    from partitioning import CommGraph, comm_volume

    for expected, want in ((True, 10.0 * -np.expm1(-0.4)), (False, 10.0)):
        g = CommGraph.from_edges(2, [0], [1], 0.4, 1, rate=[10.0, 0.0], expected=expected)
        assert comm_volume(g, [0, 1]) == pytest.approx(want, rel=1e-12)
    chunk = CommGraph.from_edges(2, [0], [1], 4.0, 1, rate=[10.0, 0.0], size=[10, 1])
    assert comm_volume(chunk, [0, 1]) == pytest.approx(10.0 * 10 * -np.expm1(-0.4))
