"""Partitioners: validity, determinism, balance, quality on modular graphs, errors."""
import numpy as np
import pytest

from partitioning import (
    METHODS, CommGraph, block, comm_volume, imbalance, metis, min_cross_delay, min_delay,
    partition, random, round_robin,
)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("nparts", [1, 3, 8])
def test_every_vertex_gets_one_valid_part(method, nparts, modular_graph):
    parts = partition(modular_graph, nparts, method)
    assert parts.dtype == np.int64
    assert parts.shape == (modular_graph.n_vertices,)
    assert parts.min() >= 0 and parts.max() < nparts
    # Balanced methods leave no part empty on this unit-weight graph.
    assert np.bincount(parts, minlength=nparts).min() > 0


@pytest.mark.parametrize("method", ["metis", "metis_refined", "random"])
def test_same_seed_same_parts(method, random_graph):
    a = partition(random_graph, 8, method, seed=3)
    b = partition(random_graph, 8, method, seed=3)
    np.testing.assert_array_equal(a, b)


def test_random_depends_on_seed_and_is_balanced(random_graph):
    a, b = random(random_graph, 7, seed=1), random(random_graph, 7, seed=2)
    assert (a != b).mean() > 0.5
    counts = np.bincount(a, minlength=7)
    assert counts.max() - counts.min() <= 1  # 3000 unit vertices: 428 or 429 each


def test_round_robin_rule():
    g = CommGraph.from_edges(7, [], [], [], [])
    assert round_robin(g, 3).tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_block_rule_by_hand():
    # Unit weights, 10 vertices, 3 parts: midpoints 0.5 .. 9.5 against shares of 10/3.
    g = CommGraph.from_edges(10, [], [], [], [])
    assert block(g, 3).tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    # Weights 1, 1, 4, 1, 1 (total 8, share 4 for 2 parts): midpoints 0.5, 1.5, 4,
    # 6.5, 7.5 -> vertex 2 straddles the boundary and joins part 1 (4 >= 4).
    gw = CommGraph.from_edges(5, [], [], [], [], vertex_weight=[1, 1, 4, 1, 1])
    assert block(gw, 2).tolist() == [0, 0, 1, 1, 1]


@pytest.mark.parametrize("nparts", [2, 5, 8, 16, 32])
@pytest.mark.parametrize("tolerance", [0.01, 0.03, 0.1])
def test_metis_respects_imbalance_tolerance(random_graph, nparts, tolerance):
    parts = metis(random_graph, nparts, imbalance=tolerance)
    assert imbalance(random_graph, parts, nparts) <= 1.0 + tolerance + 1e-9


def test_metis_balances_vertex_weights():
    # A ring of 101 vertices where vertex 0 weighs as much as the other 100 together.
    # Balanced by weight, vertex 0's part may hold at most 3 more vertices (load
    # <= 1.03 * 100); balanced by count it would hold about 50.
    n = 101
    ring = np.arange(n)
    g = CommGraph.from_edges(n, ring, (ring + 1) % n, 1.0, 1,
                             vertex_weight=np.r_[100.0, np.ones(n - 1)])
    parts = metis(g, 2, imbalance=0.03)
    assert imbalance(g, parts, 2) <= 1.03 + 1e-9
    assert np.count_nonzero(parts == parts[0]) <= 4


def test_metis_single_part_skips_metis(random_graph):
    assert not metis(random_graph, 1).any()


def test_metis_finds_modules(modular_graph):
    # 8 modules of 50 vertices, dense inside (p = 0.2), sparse between (0.002).
    nparts = 8
    parts_metis = metis(modular_graph, nparts)
    parts_rr = round_robin(modular_graph, nparts)
    vol_metis = comm_volume(modular_graph, parts_metis)
    vol_rr = comm_volume(modular_graph, parts_rr)
    assert vol_rr > 5 * vol_metis
    # Between modules the delay is 8 steps, inside 1: METIS cuts only long edges,
    # round robin cuts short ones too.
    assert min_delay(modular_graph) == 1
    assert min_cross_delay(modular_graph, parts_metis) == 8
    assert min_cross_delay(modular_graph, parts_rr) == 1


def test_metis_graph_without_edges():
    g = CommGraph.from_edges(10, [], [], [], [])
    parts = metis(g, 3)
    assert parts.shape == (10,) and parts.max() < 3


def test_partition_dispatches(modular_graph):
    np.testing.assert_array_equal(partition(modular_graph, 4, "round_robin"),
                                  round_robin(modular_graph, 4))
    np.testing.assert_array_equal(partition(modular_graph, 4, "block"), block(modular_graph, 4))
    np.testing.assert_array_equal(partition(modular_graph, 4, imbalance=0.05, seed=2),
                                  metis(modular_graph, 4, imbalance=0.05, seed=2))


@pytest.mark.parametrize("nparts, method, options, match", [
    (0, "metis", {}, r"partition: nparts must be >= 1, got 0"),
    (-2, "round_robin", {}, r"partition: nparts must be >= 1, got -2"),
    (401, "block", {}, r"partition: nparts must be <= n_vertices = 400, got 401"),
    (2.5, "metis", {}, r"partition: nparts must be an int, got 2.5"),
    (4, "kway", {}, r"partition: method must be one of metis, metis_refined, round_robin, "
                    r"block, random, got 'kway'"),
    (4, "metis", {"imbalance": 1.5}, r"partition: imbalance must be in \[0, 1\], got 1.5"),
    (4, "metis", {"imbalance": -0.1}, r"partition: imbalance must be in \[0, 1\], got -0.1"),
    (4, "metis_refined", {"seed": -1}, r"partition: seed must be an int >= 0, got -1"),
    (4, "round_robin", {"seed": 1}, r"partition: method 'round_robin' does not take option "
                                    r"'seed' \(accepted: none\)"),
])
def test_partition_rejects_bad_input(modular_graph, nparts, method, options, match):
    with pytest.raises(ValueError, match=match):
        partition(modular_graph, nparts, method, **options)


@pytest.mark.parametrize("function", [metis, round_robin, block, random])
def test_each_method_checks_nparts(function, modular_graph):
    with pytest.raises(ValueError, match=r"nparts must be <= n_vertices = 400, got 1000"):
        function(modular_graph, 1000)
