"""distsnn.graph: neuron- and chunk-level communication graphs of a network.

The neuron graph must hold exactly the synapses the engine builds; the chunk graph's
expected counts must match the neuron counts per chunk pair (exactly for deterministic
rules, within binomial tolerance for random ones), and partitions measured on either
level must agree on a network small enough for both.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import distsnn as ds
import partitioning as pt
from distsnn import graph, rng

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULAR = os.path.join(ROOT, "examples", "modular.toml")


def _two_populations(connector, same: bool, delay=1.0, n_a: int = 300, n_b: int = 200, **proj) -> ds.Network:
    net = ds.Network(dt=0.1, seed=11)
    net.add_population("a", n_a, "lif")
    net.add_population("b", n_b, "lif")
    net.add_projection("a", "a" if same else "b", connector, "delta", 0.1, delay, **proj)
    return net


def _dense(g: pt.CommGraph) -> tuple[np.ndarray, np.ndarray]:
    """Weights and delays as dense matrices (0 weight / max delay where no edge)."""
    n = g.n_vertices
    w = np.zeros((n, n))
    d = np.full((n, n), np.iinfo(np.int64).max)
    w[g.sources(), g.indices] = g.weight
    d[g.sources(), g.indices] = g.delay
    return w, d


def _per_chunk_pair(neuron: pt.CommGraph, chunk: pt.CommGraph) -> tuple[np.ndarray, np.ndarray]:
    """Neuron-level synapse counts and minimum delays summed into the chunks' pairs."""
    of = np.repeat(np.arange(chunk.n_vertices), chunk.size)
    n = chunk.n_vertices
    w = np.zeros((n, n))
    np.add.at(w, (of[neuron.sources()], of[neuron.indices]), neuron.weight)
    d = np.full((n, n), np.iinfo(np.int64).max)
    np.minimum.at(d, (of[neuron.sources()], of[neuron.indices]), neuron.delay)
    return w, d


# -- neuron level ------------------------------------------------------------------------


def test_neuron_graph_holds_exactly_the_synapses_the_engine_builds():
    net = ds.Network(dt=0.1, seed=5)
    net.add_population("e", 120, "lif")
    net.add_population("i", 40, "lif_cond")
    net.add_projection("e", "e", ds.FixedProbability(0.1, autapses=False), "delta", 0.1, ds.Uniform(1.0, 3.0))
    net.add_projection("e", "i", ds.FixedInDegree(15), {"kind": "exp", "mode": "conductance", "tau": 5.0,
                                                          "e_rev": 0.0}, 1.0, 2.0)
    net.add_projection("i", "e", ds.FixedOutDegree(30, multapses=True), {"kind": "exp", "tau": 5.0}, -20.0, 1.5)
    net.add_projection("i", "i", ds.AllToAll(autapses=False), {"kind": "exp", "mode": "conductance",
                                                                 "tau": 5.0, "e_rev": -80.0}, 1.0, 1.0)
    net.add_projection("e", "e", ds.EdgeList(np.array([0, 0, 5, 7]), np.array([1, 1, 2, 7]),
                                             delay=np.array([4.0, 2.5, 1.2, 1.0])), "delta", 0.2, name="extra")
    g = graph.neuron_graph(net)
    assert g.weight.sum() == ds.Simulation(net).summary()["synapses"]

    # The same pairs, drawn again from the connectors directly.
    w = np.zeros((net.size, net.size))
    off = net.offsets()
    for proj in net.projections.values():
        n_pre, n_post = net.populations[proj.pre].size, net.populations[proj.post].size
        syn = proj.connector.connect(rng.stream_key(net.seed, f"conn:{proj.name}"), n_pre, n_post,
                                     np.arange(n_post), off[proj.pre], off[proj.post], proj.pre == proj.post)
        np.add.at(w, (syn.pre + off[proj.pre], syn.post + off[proj.post]), 1.0)
    gw, gd = _dense(g)
    np.testing.assert_array_equal(gw, w)
    # Multapses of the edge list merge into one edge with the shorter delay.
    assert gw[0, 1] == 2 and gd[0, 1] == 25
    assert gw[7, 7] == 1 and gd[7, 7] == 10          # a self loop is kept
    assert gd[gw > 0].min() >= 10 and gd[120:, :120][gw[120:, :120] > 0].max() == 15
    assert g.n_vertices == net.size and np.all(g.size == 1)


def test_vertex_weights_and_rates_follow_the_cost_model():
    net = ds.Network(dt=0.1, seed=2, t_stop=200.0)
    net.add_population("src", 10, "poisson", {"schedule": {"times": [0.0, 50.0], "rates": [40.0, 0.0]}})
    net.add_population("train", 2, "spike_train", {"times": [[1.0, 2.0, 300.0], [5.0]]})
    net.add_population("izh", 5, "izhikevich")
    net.add_projection("src", "izh", ds.AllToAll(), "delta", 1.0, 1.0)
    net.add_projection("train", "izh", ds.AllToAll(), {"kind": "exp", "tau": 2.0}, 1.0, 1.0)
    net.add_poisson_input("drive", "izh", 100.0, 1.0)
    rates = graph.population_rates(net)
    assert rates["src"] == pytest.approx(40.0 * 50.0 / 200.0)        # mean of the schedule
    assert rates["train"] == pytest.approx(1000.0 * 3 / (2 * 200.0))   # spikes before t_stop
    assert rates["izh"] == graph.DEFAULT_RATE_HZ
    g = graph.neuron_graph(net)
    steps = 1000.0 / net.dt
    np.testing.assert_allclose(g.vertex_weight[:10], steps * graph.UPDATE_NS["poisson"])
    events = 10 * rates["src"] + 2 * rates["train"]
    expect = steps * (graph.UPDATE_NS["izhikevich"] + 2 * graph.CHANNEL_NS + graph.INPUT_NS) + graph.EVENT_NS * events
    np.testing.assert_allclose(g.vertex_weight[12:], expect)
    np.testing.assert_allclose(g.rate, np.repeat([rates["src"], rates["train"], 10.0], [10, 2, 5]))
    # Given rates win; the chunk graph uses the same model.
    c = graph.chunk_graph(net, 3, {"izh": 2.5, "src": 1.0})
    np.testing.assert_allclose(c.rate, np.repeat([1.0, rates["train"], 2.5], [4, 1, 2]))
    np.testing.assert_allclose(c.vertex_weight.sum(), graph.neuron_graph(net, {"izh": 2.5, "src": 1.0})
                               .vertex_weight.sum())


@pytest.mark.parametrize("rates, match", [
    ({"nope": 1.0}, "graph rates: unknown population 'nope'"),
    ({"a": -1.0}, "graph rates: a must be >= 0 \\(Hz\\), got -1.0"),
])
def test_bad_rates_are_rejected(rates, match):
    net = _two_populations(ds.OneToOne(), same=False, n_b=300)
    with pytest.raises(ValueError, match=match):
        graph.chunk_graph(net, 10, rates)


# -- chunk level -------------------------------------------------------------------------

EXACT = [
    pytest.param(ds.AllToAll(), False, id="all_to_all"),
    pytest.param(ds.AllToAll(autapses=False), True, id="all_to_all-no-autapses"),
    pytest.param(ds.OneToOne(), True, id="one_to_one"),
    pytest.param(ds.EdgeList(np.arange(0, 300, 3) % 300, (np.arange(100) * 7) % 200), False, id="edge_list"),
]


@pytest.mark.parametrize("connector, same", EXACT)
def test_chunk_counts_are_exact_for_deterministic_rules(connector, same):
    n_b = 300 if isinstance(connector, ds.OneToOne) else 200
    net = _two_populations(connector, same, n_b=n_b)
    chunk = graph.chunk_graph(net, 64)
    w, _ = _dense(chunk)
    ref, _ = _per_chunk_pair(graph.neuron_graph(net), chunk)
    np.testing.assert_array_equal(w, ref)


RANDOM = [   # connector, pre == post, expected total (300 pre, 200 post or 300 when same)
    pytest.param(ds.FixedProbability(0.05), False, 0.05 * 300 * 200, id="fixed_probability"),
    pytest.param(ds.FixedProbability(0.05, autapses=False), True, 0.05 * 300 * 299, id="fixed_probability-no-autapses"),
    pytest.param(ds.FixedInDegree(40), False, 40 * 200, id="fixed_indegree"),
    pytest.param(ds.FixedInDegree(40, multapses=False, autapses=False), True, 40 * 300, id="fixed_indegree-subset"),
    pytest.param(ds.FixedOutDegree(30), False, 30 * 300, id="fixed_outdegree"),
    pytest.param(ds.FixedOutDegree(30, multapses=False, autapses=False), True, 30 * 300, id="fixed_outdegree-subset"),
]


@pytest.mark.parametrize("connector, same, total", RANDOM)
def test_chunk_counts_match_neuron_counts_within_binomial_tolerance(connector, same, total):
    net = _two_populations(connector, same)
    chunk = graph.chunk_graph(net, 64)     # chunks of 64 and a last one of 44 or 8
    expected, _ = _dense(chunk)
    assert expected.sum() == pytest.approx(total, rel=1e-12)
    assert graph.expected_synapses(net) == pytest.approx(total, rel=1e-12)
    observed, _ = _per_chunk_pair(graph.neuron_graph(net), chunk)
    pairs = expected > 0
    assert np.array_equal(pairs, observed > 0)
    # Each chunk pair's count is binomial (or less variable, for draws without
    # replacement): its standard deviation is at most sqrt(expected).
    z = (observed[pairs] - expected[pairs]) / np.sqrt(expected[pairs])
    assert np.abs(z).max() < 5.0
    assert np.mean(z ** 2) < 2.0
    if isinstance(connector, ds.FixedInDegree):     # every target gets exactly 40
        np.testing.assert_allclose(expected.sum(axis=0)[pairs.any(axis=0)], 40 * chunk.size[pairs.any(axis=0)])
    if isinstance(connector, ds.FixedOutDegree):    # every source makes exactly 30
        np.testing.assert_allclose(expected.sum(axis=1)[pairs.any(axis=1)], 30 * chunk.size[pairs.any(axis=1)])


def test_chunk_delays_are_exact_for_edge_lists_and_a_bound_for_distributions():
    pre, post = np.arange(200) % 300, (np.arange(200) * 7) % 200
    net = _two_populations(ds.EdgeList(pre, post, delay=1.0 + 0.05 * (np.arange(200) % 40)), False, delay=None)
    chunk = graph.chunk_graph(net, 50)
    _, d = _dense(chunk)
    _, ref = _per_chunk_pair(graph.neuron_graph(net), chunk)
    np.testing.assert_array_equal(d, ref)

    net = _two_populations(ds.FixedProbability(0.1), False, delay=ds.Uniform(2.0, 4.0))
    chunk = graph.chunk_graph(net, 50)
    _, ref = _per_chunk_pair(graph.neuron_graph(net), chunk)
    assert np.all(chunk.delay == 20)
    assert np.all(ref[ref < np.iinfo(np.int64).max] >= 20)


def test_chunks_stay_inside_populations_and_expand_to_gids():
    net = _two_populations(ds.FixedProbability(0.1), False, n_a=130, n_b=70)
    starts, sizes = graph.chunks(net, 50)
    np.testing.assert_array_equal(starts, [0, 50, 100, 130, 180])
    np.testing.assert_array_equal(sizes, [50, 50, 30, 50, 20])
    c = graph.chunk_graph(net, 50)
    np.testing.assert_array_equal(c.size, sizes)
    parts = np.array([0, 1, 2, 3, 4])
    owner = graph.expand(parts, net, 50)
    np.testing.assert_array_equal(owner, np.repeat(parts, sizes))
    np.testing.assert_array_equal(graph.NetworkGraph(c, "chunk", 50).neuron_parts(parts), owner)


# -- chunk against neuron level ----------------------------------------------------------

# The stated tolerance: on the networks below, a partition of the chunk graph measured on
# the chunk graph (expected counts, Poisson volume) agrees with the same partition
# expanded to neurons and measured exactly: edge cut within 1 % or 4 standard deviations
# of the drawn count (a sum of independent or negatively correlated synapse indicators,
# so its variance is at most its mean), volume within 3 %,
# each part load within 0.5 %, imbalance within 0.005, minimum cross delay equal, and the
# message count within 1 % of all part pairs (a pair expected to talk may stay silent).
CUT_TOL, VOLUME_TOL, LOAD_TOL, IMBALANCE_TOL, MESSAGE_TOL = 0.01, 0.03, 0.005, 0.005, 0.01


def _sparse_random() -> ds.Network:
    """Random rules of every kind, sparse enough that a spike reaches few parts."""
    net = ds.Network(dt=0.1, seed=3)
    net.add_population("a", 3000, "lif")
    net.add_population("b", 1000, "lif")
    net.add_projection("a", "a", ds.FixedProbability(0.003, autapses=False), "delta", 0.1, 1.0)
    net.add_projection("a", "b", ds.FixedOutDegree(3), "delta", 0.1, 2.0)
    net.add_projection("b", "a", ds.FixedInDegree(5, multapses=False), "delta", -0.1, 1.5)
    net.add_projection("b", "b", ds.FixedProbability(0.01), "delta", -0.1, 1.0)
    return net


@pytest.fixture(scope="module")
def graphs():
    out = {}
    for name, net in (("sparse_random", _sparse_random()), ("modular", ds.load_network(MODULAR))):
        out[name] = (net, graph.neuron_graph(net))
    return out


@pytest.mark.parametrize("name, parts, chunk", [("sparse_random", 4, 50), ("sparse_random", 16, None),
                                                ("sparse_random", 64, 50), ("modular", 8, None),
                                                ("modular", 16, 25)])
def test_chunk_and_neuron_metrics_agree(graphs, name, parts, chunk):
    net, neuron = graphs[name]
    chunk = chunk or graph.auto_chunk(net, parts)
    c = graph.chunk_graph(net, chunk)
    for method in pt.METHODS:
        p = pt.partition(c, parts, method)
        a = pt.evaluate(c, p, parts)
        b = pt.evaluate(neuron, graph.expand(p, net, chunk), parts)
        where = f"{name} {method} {parts} parts chunk {chunk}"
        assert abs(a.edge_cut - b.edge_cut) <= max(CUT_TOL * b.edge_cut, 4.0 * np.sqrt(b.edge_cut)), where
        assert a.comm_volume == pytest.approx(b.comm_volume, rel=VOLUME_TOL), where
        np.testing.assert_allclose(a.loads, b.loads, rtol=LOAD_TOL, err_msg=where)
        assert abs(a.imbalance - b.imbalance) < IMBALANCE_TOL, where
        assert a.min_cross_delay == b.min_cross_delay, where
        assert abs(a.messages - b.messages) <= MESSAGE_TOL * parts * (parts - 1), where


# -- the modular example, levels, sizes --------------------------------------------------


def test_modular_example_metis_cuts_volume_and_lengthens_the_epoch(graphs):
    net, g = graphs["modular"]
    metis = pt.evaluate(g, pt.partition(g, 8, "metis"), 8)
    rr = pt.evaluate(g, pt.partition(g, 8, "round_robin"), 8)
    assert rr.comm_volume / metis.comm_volume > 5.0
    assert metis.min_delay == 10                      # 1 ms inside areas
    assert metis.min_cross_delay == 50 > metis.min_delay   # only the 5 ms links cross
    assert rr.min_cross_delay == 10
    assert metis.imbalance < 1.03


def test_auto_level_and_chunk_size():
    small = ds.load_network(MODULAR)
    assert graph.communication_graph(small, 8).level == "neuron"
    ng = graph.communication_graph(small, 8, level="chunk")
    assert (ng.level, ng.chunk) == ("chunk", graph.auto_chunk(small, 8))
    assert graph.auto_chunk(small, 8) == 8                       # 4000 / (64 * 8), rounded up
    assert graph.communication_graph(small, 8, level="chunk", chunk=25).graph.n_vertices == 8 * (16 + 4)


def test_a_billion_synapses_take_a_chunk_graph_of_bounded_size():
    import sys

    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from bench_brunel import brunel

    net = brunel(100_000, 1, 100.0)
    assert graph.expected_synapses(net) == 1e9
    ng = graph.communication_graph(net, 64)
    assert ng.level == "chunk"
    assert ng.graph.n_edges <= graph.MAX_CHUNK_EDGES
    assert ng.graph.n_vertices >= graph.MIN_CHUNKS_PER_PART * 64
    assert ng.graph.weight.sum() == pytest.approx(1e9)


@pytest.mark.parametrize("kwargs, match", [
    ({"level": "edges"}, "graph: level must be one of 'auto', 'neuron', 'chunk', got 'edges'"),
    ({"level": "neuron", "chunk": 4}, "graph: chunk applies to the chunk level, got chunk=4 with level 'neuron'"),
    ({"level": "chunk", "chunk": 0}, "graph: chunk must be >= 1, got 0"),
    ({"parts": 0}, "graph: parts must be >= 1, got 0"),
])
def test_bad_graph_requests_are_rejected(kwargs, match):
    net = ds.load_network(MODULAR)
    args = {"parts": 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        graph.communication_graph(net, **args)
