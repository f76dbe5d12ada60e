"""One network mixing every neuron model and every synapse kind: it runs, every model
takes part, and its spikes are identical on a rerun, after a TOML round trip, and on
several MPI ranks."""

from __future__ import annotations

import numpy as np
import pytest

import distsnn as ds
from distsnn import Network, Simulation, config

from .mpi.launch import mpirun, needs_mpi

DELTA = "delta"
EXP = {"kind": "exp", "tau": 3.0}
DEXP = {"kind": "double_exp", "tau_rise": 0.5, "tau_decay": 4.0}
G_EXC = {"kind": "exp", "mode": "conductance", "tau": 5.0, "e_rev": 0.0}
G_INH = {"kind": "double_exp", "mode": "conductance", "tau_rise": 1.0, "tau_decay": 8.0, "e_rev": -80.0}
ALPHA = {"kind": "alpha", "tau": 2.0}
G_ALPHA = {"kind": "alpha", "mode": "conductance", "tau": 1.5, "e_rev": 0.0}
ALL_SYN = [(DELTA, 1.0), (EXP, 40.0), (DEXP, 30.0), (ALPHA, 30.0), (G_EXC, 2.0), (G_INH, 4.0), (G_ALPHA, 1.0)]


def mixed() -> Network:
    net = Network(dt=0.1, seed=77, t_stop=200.0)
    net.add_population("noise", 60, "poisson", {"schedule": {"times": [0.0, 100.0], "rates": [40.0, 120.0]}})
    times = [[float(t) for t in np.arange(5.0 + i, 200.0, 9.0 + i)] for i in range(5)]
    net.add_population("train", 5, "spike_train", {"times": times})
    net.add_population("lif", 40, "lif", {"E_L": -65.0, "V_th": -50.0, "V_reset": -65.0, "I_e": 300.0},
                       {"V_m": ds.Uniform(-65.0, -52.0)})
    net.add_population("cond", 40, "lif_cond", {"I_e": 230.0}, {"V_m": ds.Normal(-62.0, 3.0, high=-56.0)})
    net.add_population("izh", 30, "izhikevich", {"preset": "RS", "I_e": 4.0, "C_m": 1.0})
    net.add_population("chat", 10, "izhikevich", {"preset": "CH", "I_e": 9.0, "integration": "paper"})
    net.add_population("hh", 20, "hh", {"I_e": 500.0}, {"V_m": ds.Uniform(-70.0, -60.0)})
    net.add_population("adex", 30, "adex", {"I_e": 400.0}, {"w": ds.Uniform(0.0, 50.0)})
    drive = {"rule": "fixed_indegree", "indegree": 5}
    for post in ("lif", "cond", "hh", "adex"):
        # Every synapse kind the model takes, from the Poisson sources.
        kinds = ALL_SYN if post != "lif" else ALL_SYN[:4]
        for i, (syn, w) in enumerate(kinds):
            scale = {"hh": 0.5, "adex": 1.0}.get(post, 1.0)
            net.add_projection("noise", post, drive, syn, w * scale, 1.0, name=f"noise_{post}_{i}")
    # The Izhikevich neurons take small weights (C_m = 1 pF: 1 pA is one paper unit).
    for i, ((syn, _), w) in enumerate(zip(ALL_SYN, [1.0, 3.0, 3.0, 3.0, 0.02, 0.02, 0.02])):
        net.add_projection("noise", "izh", drive, syn, w, 0.5, name=f"noise_izh_{i}")
    net.add_projection("train", "chat", {"rule": "all_to_all"}, EXP, 2.0, 0.3)
    net.add_projection("lif", "cond", {"rule": "fixed_probability", "p": 0.2}, G_EXC, 1.5,
                       ds.Uniform(0.5, 2.0))
    net.add_projection("cond", "lif", {"rule": "fixed_probability", "p": 0.2}, DEXP, -20.0, 1.5)
    net.add_projection("hh", "adex", {"rule": "fixed_outdegree", "outdegree": 6}, G_INH, 3.0, 0.7)
    net.add_projection("adex", "hh", {"rule": "fixed_indegree", "indegree": 4}, G_EXC, 4.0, 1.1)
    net.add_projection("izh", "lif", {"rule": "all_to_all"}, DELTA, 0.05, 2.0)
    net.add_projection("chat", "izh", {"rule": "all_to_all"}, G_EXC, 0.01, 1.0)
    net.add_projection("train", "hh", {"rule": "all_to_all"}, DEXP, 50.0, 0.5)
    net.add_poisson_input("bg", "adex", None, 100.0, DEXP,
                          schedule={"times": [0.0, 50.0, 150.0], "rates": [500.0, 2000.0, 0.0]})
    net.add_poisson_input("bg_cond", "cond", 800.0, 1.0, G_INH)
    for name in net.populations:
        net.add_spike_monitor(name)
    net.add_state_monitor("adex", ["V_m", "w", "I_syn", "g_syn"], neurons=[0, 7])
    net.add_state_monitor("hh", ["V_m", "m", "h", "n", "I_syn"], neurons=[3])
    net.add_state_monitor("cond", ["V_m", "g_syn"], neurons=[1, 2])
    net.add_state_monitor("izh", ["V_m", "U_m"], neurons=[0])
    return net


@pytest.fixture(scope="module")
def result():
    return Simulation(mixed()).run()


def same(a: ds.Result, b: ds.Result) -> None:
    """Bit-identical spikes (gid, step) and sampled traces."""
    np.testing.assert_array_equal(a.spikes.gid, b.spikes.gid)
    np.testing.assert_array_equal(a.spikes.step, b.spikes.step)
    assert sorted(a.traces) == sorted(b.traces)
    for key in a.traces:
        np.testing.assert_array_equal(a.traces[key].gids, b.traces[key].gids)
        np.testing.assert_array_equal(a.traces[key].values, b.traces[key].values)


def test_every_model_takes_part(result):
    net = mixed()
    offsets = net.offsets()
    for name, pop in net.populations.items():
        n = len(result.spikes.of(offsets[name], offsets[name] + pop.size))
        assert n > 0, f"population {name!r} never spiked"
    for key, tr in result.traces.items():
        assert np.all(np.isfinite(tr.values)), key
    # Every (kind, mode) pair reaches some population.
    pairs = {c.pair for name in net.populations for c in net.channels(name)}
    assert pairs == set(ds.synapses.PAIRS)


def test_rerun_is_identical(result):
    same(result, Simulation(mixed()).run())


def test_toml_round_trip_gives_the_same_network_and_spikes(result, tmp_path):
    path = tmp_path / "mixed.toml"
    config.dump(mixed(), str(path))
    back = config.load(str(path))
    assert back == mixed()
    same(result, Simulation(back).run())


@needs_mpi
def test_identical_on_three_ranks(result, tmp_path):
    path = tmp_path / "mixed.toml"
    config.dump(mixed(), str(path))
    out = tmp_path / "out"
    proc = mpirun(3, ["-m", "distsnn.cli", "run", str(path), "--out", str(out), "--partitioner", "round_robin"],
                  timeout=240)
    assert proc.returncode == 0, proc.stderr
    same(result, ds.load(str(out)))
