"""The engine in one process: reproducible spikes, Poisson input statistics, epoch-length
invariance, exact summary counts, and the ISI statistics of a Result."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distsnn import (AllToAll, EdgeList, FixedInDegree, FixedOutDegree, FixedProbability, Network,
                     OneToOne, Simulation)
from distsnn.comm import LocalComm
from distsnn.distributions import Normal, Uniform
from distsnn.results import Result, Spikes


def sim_local(net: Network) -> Simulation:
    """Every neuron on rank 0 of a one-process communicator (no partitioner involved)."""
    return Simulation(net, LocalComm(), owner=np.zeros(net.size, dtype=np.int64))


def recurrent(seed: int, t_stop: float = 80.0) -> Network:
    net = Network(dt=0.1, seed=seed, t_stop=t_stop)
    lif = {"tau_m": 20.0, "V_th": 20.0, "V_reset": 10.0, "E_L": 0.0, "t_ref": 2.0}
    net.add_population("exc", 80, params=lif, initial={"V_m": Uniform(0.0, 20.0)})
    net.add_population("inh", 20, params=lif, initial={"V_m": Uniform(0.0, 20.0)})
    net.add_projection("exc", "exc", FixedInDegree(10), weight=Normal(0.5, 0.1, low=0.0),
                       delay=Uniform(1.0, 2.0))
    net.add_projection("exc", "inh", FixedProbability(0.1), weight=0.6, delay=1.2)
    net.add_projection("inh", "exc", FixedInDegree(5), {"kind": "exp", "tau": 3.0}, weight=-60.0, delay=0.8)
    net.add_projection("inh", "inh", FixedOutDegree(3, autapses=False), weight=-1.0, delay=0.5)
    net.add_poisson_input("drive", "exc", rate=12000.0, weight=0.2)
    net.add_poisson_input("drive_inh", "inh", rate=10000.0, weight=0.2)
    net.add_spike_monitor("exc")
    net.add_spike_monitor("inh")
    net.add_state_monitor("exc", ["V_m", "I_syn"], neurons=[0, 7, 79])
    return net


def test_rerun_is_bit_identical_and_another_seed_differs():
    a = sim_local(recurrent(5)).run()
    b = sim_local(recurrent(5)).run()
    assert len(a.spikes) > 100
    np.testing.assert_array_equal(a.spikes.gid, b.spikes.gid)
    np.testing.assert_array_equal(a.spikes.step, b.spikes.step)
    np.testing.assert_array_equal(a.trace("exc", "V_m").values, b.trace("exc", "V_m").values)
    # Recurrence matters: inhibitory neurons spike only through their synapses and drive.
    assert np.any(a.spikes.gid >= 80) and np.any(a.spikes.gid < 80)
    c = sim_local(recurrent(6)).run()
    assert len(c.spikes) > 100
    assert not (len(c.spikes) == len(a.spikes) and np.array_equal(c.spikes.gid, a.spikes.gid)
                and np.array_equal(c.spikes.step, a.spikes.step))
    # Spikes come sorted by step then gid, with time = step * dt.
    key = a.spikes.step * 1000 + a.spikes.gid
    assert np.all(np.diff(key) > 0)
    np.testing.assert_array_equal(a.spikes.time, a.spikes.step * 0.1)


def test_run_in_pieces_equals_one_run():
    whole = sim_local(recurrent(9)).run()
    sim = sim_local(recurrent(9))
    sim.run(13.7)
    sim.run(40.0)
    pieces = sim.run()
    np.testing.assert_array_equal(pieces.spikes.gid, whole.spikes.gid)
    np.testing.assert_array_equal(pieces.spikes.step, whole.spikes.step)
    np.testing.assert_array_equal(pieces.trace("exc", "V_m").values, whole.trace("exc", "V_m").values)
    np.testing.assert_array_equal(pieces.trace("exc", "V_m").steps, np.arange(801))


def integrator(rate: float, weight: float, n: int, t_stop: float, extra_delay: float | None = None) -> Network:
    """A population whose V sums its Poisson input: no leak to speak of, no threshold."""
    net = Network(dt=0.1, seed=31, t_stop=t_stop)
    net.add_population("acc", n, params={"tau_m": 1e12, "E_L": 0.0, "V_reset": 0.0, "V_th": 1e9})
    net.add_poisson_input("drive", "acc", rate=rate, weight=weight)
    net.add_state_monitor("acc", "V_m")
    if extra_delay is not None:
        # An unrelated projection that only shortens the epoch.
        net.add_population("x", 2)
        net.add_projection("x", "x", AllToAll(), weight=0.1, delay=extra_delay)
    return net


def test_poisson_input_statistics():
    rate, w, dt = 20000.0, 0.5, 0.1
    lam = rate * dt * 1e-3
    res = sim_local(integrator(rate, w, 200, 50.0)).run()
    V = res.trace("acc", "V_m").values
    inc = np.diff(V, axis=0)           # (steps, neurons): input of each step
    counts = np.rint(inc / w)
    # The input is a whole number of weights per step.
    assert np.max(np.abs(inc - counts * w)) < 1e-6
    n = inc.size
    assert abs(inc.mean() - lam * w) < 5 * w * math.sqrt(lam / n)
    # Var of a Poisson count is lam; Var((X - lam)^2) = lam + 2 lam^2.
    assert abs(counts.var() - lam) < 5 * math.sqrt((lam + 2 * lam**2) / n)
    assert abs(inc.var() - lam * w * w) < 5 * w * w * math.sqrt((lam + 2 * lam**2) / n)
    p0 = math.exp(-lam)
    assert abs(np.mean(counts == 0) - p0) < 5 * math.sqrt(p0 * (1 - p0) / n)
    p3 = lam**3 / 6 * math.exp(-lam)
    assert abs(np.mean(counts == 3) - p3) < 5 * math.sqrt(p3 * (1 - p3) / n)
    # Trains are independent across neurons and across steps.
    a, b = counts[:, :-1].ravel(), counts[:, 1:].ravel()
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / math.sqrt(a.size)
    a, b = counts[:-1].ravel(), counts[1:].ravel()
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / math.sqrt(a.size)


def test_poisson_input_independent_of_epoch_length():
    long_epoch = sim_local(integrator(7000.0, 1.0, 10, 30.0))
    short_epoch = sim_local(integrator(7000.0, 1.0, 10, 30.0, extra_delay=0.3))
    assert long_epoch.result().summary["epoch_steps"] != short_epoch.result().summary["epoch_steps"] == 3
    a = long_epoch.run().trace("acc", "V_m").values
    b = short_epoch.run().trace("acc", "V_m").values
    assert a[-1].min() > 0
    np.testing.assert_array_equal(a, b)


def test_poisson_rate_zero_gives_no_input():
    V = sim_local(integrator(0.0, 1.0, 5, 5.0)).run().trace("acc", "V_m").values
    assert np.all(V == 0.0)


def test_summary_counts_are_exact():
    net = Network(dt=0.1, seed=4, t_stop=20.0)
    net.add_population("a", 5, params={"I_e": 600.0})
    net.add_population("b", 4)
    net.add_population("c", 6)
    net.add_projection("a", "b", AllToAll(), weight=0.1, delay=1.0)                     # 20
    net.add_projection("c", "c", OneToOne(), weight=0.1, delay=1.0)                     # 6
    net.add_projection("a", "b", FixedInDegree(3), weight=0.1, delay=1.0)               # 12
    net.add_projection("a", "c", FixedOutDegree(2), weight=0.1, delay=0.4)              # 10
    net.add_projection("b", "a", EdgeList(np.arange(4), np.array([0, 1, 1, 4])), weight=0.1, delay=2.0)  # 4
    net.add_projection("c", "a", FixedProbability(1.0), weight=0.1, delay=1.0)          # 30
    net.add_projection("b", "b", AllToAll(autapses=False), weight=0.1, delay=1.0)       # 12
    for p in ("a", "b", "c"):
        net.add_spike_monitor(p)
    res = sim_local(net).run()
    s = res.summary
    assert s["neurons"] == 15
    assert s["synapses"] == 20 + 6 + 12 + 10 + 4 + 30 + 12
    assert s["per_rank"][0]["synapses"] == s["synapses"] and s["per_rank"][0]["neurons"] == 15
    assert s["spikes"] == len(res.spikes) > 0
    assert s["t_sim_ms"] == pytest.approx(20.0)
    assert s["mean_rate_hz"] == pytest.approx(len(res.spikes) / (15 * 0.020))
    assert s["min_delay_steps"] == 4 and s["ranks"] == 1


def test_network_without_synapses_or_monitors_runs():
    net = Network(dt=0.1, t_stop=5.0)
    net.add_population("a", 3, params={"I_e": 1000.0})
    res = sim_local(net).run()
    assert len(res.spikes) == 0 and res.traces == {}
    assert res.summary["spikes"] > 0 and res.summary["synapses"] == 0


def test_isi_cv_of_a_hand_made_train():
    dt = 0.5
    # gid 0: ISIs 5, 5 (CV 0); gid 3: ISIs 2, 4 (mean 3, std 1, CV 1/3); gid 8: one spike.
    gid = np.array([3, 0, 8, 0, 3, 0, 3])
    step = np.array([10, 1, 4, 6, 12, 11, 16])
    r = Result(Spikes.from_steps(gid, step, dt))
    assert r.isi_cv() == pytest.approx((0.0 + 1.0 / 3.0) / 2, rel=1e-12)
    # Scale invariance: the same train at another dt (exact in binary) has the same CV.
    assert Result(Spikes.from_steps(gid, step, 0.125)).isi_cv() == pytest.approx(r.isi_cv(), rel=1e-12)
    # A regular train has CV 0; a geometric one (p per step) sqrt(1 - p), here to 5 / sqrt(n).
    regular = Result(Spikes.from_steps(np.zeros(10, dtype=np.int64), np.arange(0, 100, 10), 0.1))
    assert regular.isi_cv() == 0.0
    g = np.random.default_rng(0)
    n = 5000
    steps = np.cumsum(g.geometric(0.01, size=n))
    cv = Result(Spikes.from_steps(np.zeros(n, dtype=np.int64), steps, 0.1)).isi_cv()
    assert cv == pytest.approx(math.sqrt(0.99), abs=5 / math.sqrt(n))


def test_isi_cv_undefined_without_two_spikes_of_one_neuron():
    none = np.array([], dtype=np.int64)
    assert math.isnan(Result(Spikes.from_steps(none, none, 0.1)).isi_cv())
    assert math.isnan(Result(Spikes.from_steps(np.array([0, 1, 2]), np.array([5, 5, 9]), 0.1)).isi_cv())


def test_default_simulation_entry_point_matches_explicit_local_run():
    from distsnn import simulate

    net = recurrent(5, t_stop=30.0)
    a = simulate(net)
    b = sim_local(net).run()
    np.testing.assert_array_equal(a.spikes.gid, b.spikes.gid)
    np.testing.assert_array_equal(a.spikes.step, b.spikes.step)
