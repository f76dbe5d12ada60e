"""TOML: round trips that preserve the network and its spikes, examples written as
text, and edge-list files found relative to the TOML file."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from distsnn import (AllToAll, EdgeList, FixedInDegree, FixedOutDegree, FixedProbability, Network,
                     OneToOne, Simulation, config)
from distsnn.comm import LocalComm
from distsnn.distributions import Constant, Lognormal, Normal, Uniform


def run_local(net: Network):
    """Run in this process with every neuron on rank 0 (no partitioner involved)."""
    return Simulation(net, LocalComm(), owner=np.zeros(net.size, dtype=np.int64)).run()


def rich_network(seed: int = 2024) -> Network:
    net = Network(dt=0.1, seed=seed, t_stop=60.0)
    net.add_population("exc", 40, params={"tau_m": 20.0, "V_th": 20.0, "V_reset": 10.0, "E_L": 0.0,
                                          "t_ref": 2.0, "C_m": 250.0},
                       initial={"V_m": {"dist": "uniform", "low": 0.0, "high": 20.0}})
    net.add_population("inh", 10, params={"tau_m": 10.0, "V_th": 20.0, "V_reset": 10.0, "E_L": 0.0},
                       initial={"V_m": Normal(5.0, 3.0, low=0.0, high=19.0)})
    net.add_population("relay", 10, params={"I_e": 10.0}, initial={"V_m": list(np.linspace(-70, -60, 10))})
    net.add_projection("exc", "exc", FixedInDegree(8, multapses=False, autapses=False),
                       weight=Normal(0.4, 0.1, low=0.0), delay=Uniform(1.0, 2.5), name="ee")
    net.add_projection("exc", "inh", FixedProbability(0.2), {"kind": "exp", "tau": 2.0},
                       weight=Uniform(20.0, 40.0), delay=Normal(1.5, 0.3, low=0.5, high=3.0), name="ei")
    net.add_projection("inh", "exc", FixedOutDegree(10), weight=-1.5, delay=0.8, name="ie")
    net.add_projection("inh", "relay", OneToOne(), {"kind": "exp", "tau": 4.0}, weight=-np.arange(10.0),
                       delay=1.0, name="ir")
    net.add_projection("relay", "inh", AllToAll(), weight=Lognormal(-2.0, 0.5), delay=2.0, name="ri")
    net.add_projection("relay", "exc", EdgeList(np.array([0, 3, 9]), np.array([5, 5, 39]),
                                                weight=np.array([0.5, 0.25, 1.0]),
                                                delay=np.array([0.3, 1.2, 4.0])), name="re")
    net.add_projection("relay", "relay", AllToAll(autapses=False), weight=0.05, delay=0.5, name="rr")
    net.add_projection("exc", "exc", FixedProbability(0.05, autapses=False), weight=0.1, delay=1.0, name="ee2")
    net.add_poisson_input("drive", "exc", rate=9000.0, weight=0.2)
    net.add_poisson_input("drive_inh", "inh", rate=5000.0, weight=60.0, synapse={"kind": "exp", "tau": 2.0})
    net.add_spike_monitor("exc")
    net.add_spike_monitor("inh")
    net.add_state_monitor("inh", ["V_m", "I_syn"], neurons=[0, 3], interval=0.5)
    return net


def same_result(a, b):
    np.testing.assert_array_equal(a.spikes.gid, b.spikes.gid)
    np.testing.assert_array_equal(a.spikes.step, b.spikes.step)
    assert a.traces.keys() == b.traces.keys()
    for k in a.traces:
        np.testing.assert_array_equal(a.traces[k].values, b.traces[k].values)
        np.testing.assert_array_equal(a.traces[k].steps, b.traces[k].steps)


def test_toml_round_trip_equal_network_and_identical_spikes(tmp_path):
    net = rich_network()
    text = config.dumps(net)
    again = config.loads(text)
    assert again == net
    assert config.dumps(again) == text
    # Equality is not vacuous.
    assert rich_network(seed=2025) != net
    path = tmp_path / "net.toml"
    config.dump(net, str(path))
    from_file = config.load(str(path))
    assert from_file == net
    r1 = run_local(net)
    r2 = run_local(again)
    r3 = run_local(from_file)
    assert len(r1.spikes) > 50
    assert set(np.unique(r1.spikes.gid)) & set(range(40)) and set(np.unique(r1.spikes.gid)) & set(range(40, 50))
    same_result(r1, r2)
    same_result(r1, r3)
    assert r1.summary["synapses"] == r2.summary["synapses"] > 0


def test_round_trip_keeps_every_value_type():
    again = config.loads(config.dumps(rich_network()))
    assert again.populations["exc"].initial["V_m"] == Uniform(0.0, 20.0)
    assert again.populations["inh"].initial["V_m"] == Normal(5.0, 3.0, 0.0, 19.0)
    np.testing.assert_array_equal(again.populations["relay"].initial["V_m"].values, np.linspace(-70, -60, 10))
    assert again.projections["ee"].connector == FixedInDegree(8, multapses=False, autapses=False)
    assert again.projections["ee"].weight == Normal(0.4, 0.1, low=0.0)
    assert again.projections["ie"].weight == Constant(-1.5)
    assert again.projections["ri"].weight == Lognormal(-2.0, 0.5)
    assert again.projections["ei"].synapse.tau == 2.0
    el = again.projections["re"].connector
    assert isinstance(el, EdgeList) and again.projections["re"].weight is None
    np.testing.assert_array_equal(el.delay, [0.3, 1.2, 4.0])
    assert again.inputs["drive_inh"].synapse.kind == "exp"
    assert again.monitors[2].neurons.items == (0, 3) and again.monitors[2].interval == 0.5


@pytest.mark.parametrize("connector", [
    AllToAll(), AllToAll(autapses=False), OneToOne(), FixedProbability(0.25), FixedProbability(1.0, autapses=False),
    FixedInDegree(3), FixedInDegree(2, multapses=False, autapses=False), FixedOutDegree(4, autapses=False),
    FixedOutDegree(1, multapses=False),
    EdgeList(np.array([0, 2]), np.array([1, 1]), np.array([0.5, -1.0]), np.array([1.0, 2.5])),
], ids=repr)
def test_every_connector_field_survives_the_round_trip(connector):
    net = Network(dt=0.1)
    net.add_population("p", 4)
    weight = None if isinstance(connector, EdgeList) else 1.0
    delay = None if isinstance(connector, EdgeList) else 1.0
    net.add_projection("p", "p", connector, weight=weight, delay=delay, name="x")
    again = config.loads(config.dumps(net))
    assert again.projections["x"].connector == connector
    assert again == net


EXAMPLE = """
[simulation]
dt = 0.1            # ms
t_stop = 50.0       # ms
seed = 12345

[[population]]
name = "exc"
size = 80
model = "lif"
params = { tau_m = 20.0, V_th = 20.0, V_reset = 10.0, E_L = 0.0, t_ref = 2.0 }
initial = { V_m = { dist = "uniform", low = 0.0, high = 20.0 } }

[[population]]
name = "inh"
size = 20
params = { tau_m = 20.0, V_th = 20.0, V_reset = 10.0, E_L = 0.0, t_ref = 2.0 }

[[projection]]
name = "ee"
pre = "exc"
post = "exc"
connector = { rule = "fixed_indegree", indegree = 8, multapses = false }
synapse = "delta"
weight = 0.1
delay = 1.5

[[projection]]
pre = "exc"
post = "inh"
connector = { rule = "fixed_probability", p = 0.1 }
synapse = { kind = "exp", tau = 5.0 }
weight = { dist = "normal", mean = 20.0, std = 5.0, low = 0.0 }
delay = { dist = "uniform", low = 0.5, high = 2.0 }

[[projection]]
pre = "inh"
post = "exc"
connector = { rule = "all_to_all" }
weight = -0.5
delay = 0.8

[[poisson_input]]
name = "drive"
target = "exc"
rate = 8000.0
weight = 0.1

[[monitor]]
kind = "spikes"
population = "exc"

[[monitor]]
kind = "state"
population = "inh"
variables = ["V_m"]
neurons = [0, 1]
interval = 0.2
"""


def test_example_text_loads_to_the_described_network():
    net = config.loads(EXAMPLE)
    assert (net.dt, net.t_stop, net.seed) == (0.1, 50.0, 12345)
    assert list(net.populations) == ["exc", "inh"] and net.size == 100
    exc = net.populations["exc"]
    assert exc.params.tau_m == 20.0 and exc.params.V_th == 20.0 and exc.params.C_m == 250.0  # default
    assert exc.initial["V_m"] == Uniform(0.0, 20.0)
    assert list(net.projections) == ["ee", "exc_inh", "inh_exc"]
    ee = net.projections["ee"]
    assert ee.connector == FixedInDegree(8, multapses=False) and ee.weight == Constant(0.1)
    assert ee.delay == Constant(1.5) and ee.synapse.kind == "delta"
    ei = net.projections["exc_inh"]
    assert ei.synapse.tau == 5.0 and ei.weight == Normal(20.0, 5.0, low=0.0)
    assert ei.delay == Uniform(0.5, 2.0) and ei.connector == FixedProbability(0.1)
    assert net.inputs["drive"].rate == 8000.0
    assert net.channels("inh")[0].label() == "exp(tau=5)"
    res = run_local(net)
    assert len(res.spikes) > 0 and res.spikes.gid.max() < 80  # only exc is monitored
    tr = res.trace("inh", "V_m")
    np.testing.assert_array_equal(tr.steps, np.arange(0, 501, 2))
    # The same network built in Python gives the same spikes.
    py = Network(dt=0.1, t_stop=50.0, seed=12345)
    lif = {"tau_m": 20.0, "V_th": 20.0, "V_reset": 10.0, "E_L": 0.0, "t_ref": 2.0}
    py.add_population("exc", 80, params=lif, initial={"V_m": Uniform(0.0, 20.0)})
    py.add_population("inh", 20, params=lif)
    py.add_projection("exc", "exc", FixedInDegree(8, multapses=False), weight=0.1, delay=1.5, name="ee")
    py.add_projection("exc", "inh", FixedProbability(0.1), {"kind": "exp", "tau": 5.0},
                      weight=Normal(20.0, 5.0, low=0.0), delay=Uniform(0.5, 2.0))
    py.add_projection("inh", "exc", AllToAll(), weight=-0.5, delay=0.8)
    py.add_poisson_input("drive", "exc", 8000.0, 0.1)
    py.add_spike_monitor("exc")
    py.add_state_monitor("inh", "V_m", neurons=[0, 1], interval=0.2)
    assert py == net
    np.testing.assert_array_equal(run_local(py).spikes.step, res.spikes.step)


def test_config_module_docstring_example_loads():
    doc = config.__doc__
    start = doc.index("[simulation]")
    end = doc.index("Relative ``file`` paths")
    text = textwrap.dedent("    " + doc[start:end])
    net = config.loads(text)
    assert net.populations["exc"].size == 800
    assert net.projections["ee"].connector == FixedInDegree(80, multapses=False)
    assert net.inputs["drive"].rate == 8000.0


def test_relative_edge_list_paths_resolve_against_the_toml_folder(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "edges.csv").write_text("pre,post,weight,delay\n0,1,0.5,1.0\n2,1,0.25,2.0\n1,0,1.0,0.5\n")
    text = textwrap.dedent("""
        [simulation]
        dt = 0.1
        [[population]]
        name = "a"
        size = 3
        [[projection]]
        pre = "a"
        post = "a"
        connector = { rule = "edge_list", file = "data/edges.csv" }
    """)
    (folder / "net.toml").write_text(text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    net = config.load(str(folder / "net.toml"))
    # The relative path also works from a path given relative to the working directory.
    net_rel = config.load("../model/net.toml")
    expected = EdgeList(np.array([0, 2, 1]), np.array([1, 1, 0]), np.array([0.5, 0.25, 1.0]),
                        np.array([1.0, 2.0, 0.5]))
    for n in (net, net_rel):
        assert n.projections["a_a"].connector == expected
    # loads() resolves against base_dir; from the wrong folder the file is not found.
    assert config.loads(text, base_dir=str(folder)).projections["a_a"].connector == expected
    with pytest.raises(ValueError, match=r"connector\.file '.*data/edges\.csv' does not exist"):
        config.loads(text, base_dir=str(elsewhere))
    # The written-back network names the file, and loads again to the same edges.
    again = config.loads(config.dumps(net))
    assert again.projections["a_a"].connector == expected
