"""Numerical hardening: state independent of array position, stiff conductances, the
time-grid rules (refractory up, sub-step delays, t_stop halves up, warnings once), and
Poisson count tables that end at the real maximum."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest

import distsnn as ds
from distsnn import build, cli, models, synapses, timegrid
from distsnn.synapses import SynapseType as ST

# Many components (K = 6 current, 8 with conductances): BLAS sums such columns in an
# order that depends on where they sit in the block.
CHANNELS = {
    ("delta", "current"): [ST("delta")],
    ("exp", "current"): [ST("exp", tau=3.0), ST("exp", tau=7.0)],
    ("double_exp", "current"): [ST("double_exp", tau_rise=0.5, tau_decay=4.0),
                                ST("double_exp", tau_rise=1.0, tau_decay=6.0)],
    ("exp", "conductance"): [ST("exp", tau=5.0, mode="conductance", e_rev=0.0)],
    ("double_exp", "conductance"): [ST("double_exp", tau_rise=1.0, tau_decay=8.0, mode="conductance",
                                       e_rev=-80.0)],
    ("alpha", "current"): [ST("alpha", tau=2.0), ST("alpha", tau=0.5)],
    ("alpha", "conductance"): [ST("alpha", tau=1.5, mode="conductance", e_rev=0.0)],
}
PARAMS = {"lif": {}, "lif_cond": {}, "izhikevich": {"C_m": 100.0}, "hh": {}, "adex": {},
          "paper": {"C_m": 100.0, "integration": "paper"}}


def _columns(state, idx):
    return dataclasses.replace(state, **{f.name: getattr(state, f.name)[..., idx] for f in dataclasses.fields(state)
                                         if isinstance(getattr(state, f.name), np.ndarray)})


@pytest.mark.parametrize("name", list(PARAMS))
def test_a_neurons_update_does_not_depend_on_its_position_in_the_local_arrays(name):
    """What makes state bit-identical across ranks and partitions: a column advanced in
    a block of any size, at any offset, gives the same bits."""
    mod = models.get("test", "izhikevich" if name == "paper" else name)
    chans = tuple(sorted((c for pair in mod.SYNAPSE_KINDS for c in CHANNELS[pair]), key=ST.sort_key))
    n = 300
    prep = mod.prepare(mod.params_from("test", PARAMS[name], n, 0.1), 0.1, chans)
    state = mod.init_state(prep, {}, np.arange(n), np.arange(n))
    r = np.random.default_rng(5)
    field = "I" if name == "lif" else "S"
    shape = getattr(state, field).shape
    state = dataclasses.replace(state, **{field: r.normal(0.0, 20.0 if name == "lif" else 2.0, shape)})
    if field == "S":   # conductance components must stay >= 0 in sum; decay parts positive
        k = prep.k
        S = state.S
        S[k.conductance & (k.coef > 0)] = np.abs(S[k.conductance & (k.coef > 0)]) * 5.0
        S[k.conductance & (k.coef < 0)] = -np.abs(S[k.conductance & (k.coef < 0)])
    blocks = [(0, n), (1, 37), (3, 64), (5, 131), (200, 100), (7, 1)]
    subs = {b: _columns(state, np.arange(b[0], b[0] + b[1])) for b in blocks}
    full = state
    for step in range(1, 6):
        x = r.uniform(0.0, 2.0, (len(chans), n))
        full, spiked = mod.step(full, x, prep, step)
        for (lo, size), sub in list(subs.items()):
            sub, sp = mod.step(sub, np.ascontiguousarray(x[:, lo:lo + size]), prep, step)
            subs[(lo, size)] = sub
            np.testing.assert_array_equal(sp, spiked[lo:lo + size])
            for var in mod.RECORDABLE:
                np.testing.assert_array_equal(mod.record(sub, var), mod.record(full, var)[lo:lo + size],
                                              err_msg=f"{name} {var} block {lo}+{size} step {step}")


def test_weighted_rows_is_the_fixed_order_sum():
    w = np.array([0.1, 1e8, -1e8, 3.0])
    S = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 3.0], [0.5, 0.25]])
    # (((0 + 0.1) + 1e8) - 1e8) + 1.5: the order shows in the rounding.
    expect = [((0.1 + 1e8) - 1e8) + 1.5, ((0.2 + 3e8) - 3e8) + 0.75]
    np.testing.assert_array_equal(models.common.weighted_rows(w, S), expect)


# -- stiff conductances -------------------------------------------------------------------

def _one_conductance_spike(model: str, params: dict, g: float, dt: float, e_rev: float = -80.0,
                           record=("V_m",), t_stop: float = 100.0):
    net = ds.Network(dt=dt, t_stop=t_stop)
    net.add_population("src", 1, "spike_train", {"times": [[10.0]]})
    net.add_population("n", 1, model, params)
    net.add_projection("src", "n", {"rule": "all_to_all"},
                       {"kind": "exp", "mode": "conductance", "tau": 5.0, "e_rev": e_rev}, g, 1.0)
    net.add_spike_monitor("n")
    net.add_state_monitor("n", list(record), interval=1.0)
    return ds.simulate(net)


def test_izhikevich_survives_a_120_nS_inhibitory_conductance():
    """The regression: one RS neuron (C_m = 1 pF) hit by one 120 nS inhibitory spike fired
    33 times at dt = 0.1 ms (RK4 at g h / C_m = 6, far past its stability limit 2.79) and
    not at all at dt = 0.01 ms. Now both stay silent and agree."""
    coarse = _one_conductance_spike("izhikevich", {"preset": "RS"}, 120.0, 0.1, t_stop=200.0)
    fine = _one_conductance_spike("izhikevich", {"preset": "RS"}, 120.0, 0.01, t_stop=200.0)
    assert len(coarse.spikes) == 0 and len(fine.spikes) == 0
    v, vf = coarse.trace("n", "V_m").values[:, 0], fine.trace("n", "V_m").values[:, 0]
    np.testing.assert_allclose(v, vf, atol=1e-5)
    assert -80.0 < v.min() < -79.0          # pulled to E_rev, never past it
    assert abs(v[-1] - (-70.0)) < 1.0       # back to rest


@pytest.mark.parametrize("model,params,g", [("adex", {}, 40000.0), ("hh", {}, 20000.0),
                                            ("izhikevich", {"preset": "FS"}, 1000.0)])
def test_very_large_conductances_agree_with_a_fine_step(model, params, g):
    coarse = _one_conductance_spike(model, params, g, 0.1)
    fine = _one_conductance_spike(model, params, g, 0.005)
    assert len(coarse.spikes) == len(fine.spikes)
    v, vf = coarse.trace("n", "V_m").values[:, 0], fine.trace("n", "V_m").values[:, 0]
    assert np.all(np.isfinite(v)) and v.min() > -80.0 - 1e-6
    np.testing.assert_allclose(v, vf, atol=2e-3)


def test_substeps_follow_the_conductance_bound():
    cg = np.array([1.0, 1.0, 0.0])
    S = np.array([[50.0, 0.0], [-20.0, 0.0], [1e6, 1e6]])   # a negative rise part does not count
    inv_tau = np.array([0.2, 1.0, 0.5])
    sub = models.common.substeps_for
    assert sub(cg, inv_tau, S, 1, 10, 0.1, 1.0) == (10, 0.1 / 10, False)
    m, h, fine = sub(cg, inv_tau, S, 0, 2, 0.1, 1.0)
    assert fine and m == math.ceil(50.0 * 0.1 / (1.0 * models.common.Z_G)) and h == 0.1 / m
    assert 50.0 * h / 1.0 <= models.common.Z_G
    # An alpha derivative (inv_tau < 0) counts by its largest effect in the step, S min(dt, tau / e).
    m2, _, _ = sub(cg, np.array([-0.5, 1.0, 0.5]), S, 0, 2, 0.1, 1.0)
    assert m2 == max(2, math.ceil(50.0 * 0.1 * 0.1 / (1.0 * models.common.Z_G)))


# -- the time grid: refractory up, delays, t_stop ------------------------------------------

@pytest.mark.parametrize("t_ref,steps", [(2.0, 20), (1.1, 11), (2.01, 21), (2.05, 21), (2.09, 21), (0.0, 0)])
def test_refractory_period_rounds_up_to_whole_steps(t_ref, steps):
    """Closed form: after a spike at step s, V is clamped at V_reset for ceil(t_ref / dt)
    steps and integrates from the next."""
    net = ds.Network(dt=0.1, t_stop=30.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", timegrid.TimeGridWarning)
        net.add_population("n", 1, "lif", {"I_e": 2000.0, "t_ref": t_ref})
    net.add_spike_monitor("n")
    net.add_state_monitor("n", ["V_m"])
    res = ds.simulate(net)
    v = res.trace("n", "V_m").values[:, 0]
    s = int(res.spikes.step[0])
    assert np.all(v[s: s + steps + 1] == -70.0)
    assert v[s + steps + 1] > -70.0
    if steps:
        assert np.all(np.diff(res.spikes.step) >= steps + 1)


def _psp_onset(delay, dt=0.1, strict=False):
    net = ds.Network(dt=dt, t_stop=5.0, strict_time=strict)
    net.add_population("src", 1, "spike_train", {"times": [[1.0]]})
    net.add_population("n", 1, "lif")
    net.add_projection("src", "n", {"rule": "all_to_all"}, "delta", 1.0, delay)
    net.add_state_monitor("n", ["V_m"])
    v = ds.simulate(net).trace("n", "V_m").values[:, 0]
    return int(np.flatnonzero(v > -70.0)[0])


@pytest.mark.parametrize("delay,onset", [(0.1, 11), (0.2, 12), (0.14, 11), (0.15, 12)])
def test_psp_onset_is_spike_step_plus_the_delay_in_steps(delay, onset):
    # A spike at step 10 (1.0 ms) with a delta synapse moves V at step 10 + delay steps.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", timegrid.TimeGridWarning)
        assert _psp_onset(delay) == onset


@pytest.mark.parametrize("delay", [0.03, 0.05, 0.001])
def test_delays_below_one_step_take_one_step_with_a_warning(delay):
    with pytest.warns(timegrid.TimeGridWarning, match=rf"Projection 'src_n': delay = {delay:g} ms is not a "
                                                      r"multiple of dt = 0.1 ms: .* takes effect as 0.1 ms \(1 step\)"):
        assert _psp_onset(delay) == 11
    with pytest.raises(ValueError, match=rf"Projection 'src_n': delay = {delay:g} ms is not a multiple"):
        _psp_onset(delay, strict=True)


def test_delay_bounds_apply_after_rounding():
    """NEST's microcircuit draws delays from a normal redrawn below resolution / 2: legal,
    silent, and every drawn delay is at least one step."""
    net = ds.Network(dt=0.1, seed=3)
    net.add_population("a", 200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.add_projection("a", "a", {"rule": "fixed_indegree", "indegree": 50}, "delta", 0.1,
                           {"dist": "normal", "mean": 0.1, "std": 0.1, "low": 0.05})
    sim = ds.Simulation(net)
    delays = np.concatenate([t.expand()[2] for t in (sim.short, sim.long)])
    assert delays.min() == 1 and np.mean(delays == 1) > 0.3
    # A distribution reaching below half a step (a lognormal) rounds those draws up, warning once.
    with pytest.warns(timegrid.TimeGridWarning, match=r"delay draws can fall below half a step \(0.05 ms"):
        net.add_projection("a", "a", {"rule": "fixed_indegree", "indegree": 5}, "delta", 0.1,
                           {"dist": "lognormal", "mu": -2.0, "sigma": 1.0}, name="ln")
    assert min(t.min_delay() for t in (ds.Simulation(net).short, ds.Simulation(net).long) if t.size) == 1


def test_off_grid_values_warn_once_per_object_naming_the_value_in_effect():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = ds.Network(dt=0.3)
        net.add_population("a", 3, "lif", {"t_ref": 1.0})
        net.add_projection("a", "a", {"rule": "all_to_all"}, "delta", 0.1, 1.0, name="p1")
        net.add_projection("a", "a", {"rule": "all_to_all"}, "delta", 0.1, 0.45, name="p2")
        net.add_projection("a", "a", {"rule": "all_to_all"}, "delta", 0.1, 0.9, name="on_grid")
        net.add_poisson_input("in", "a", None, 0.1, schedule={"times": [0.0, 10.0], "rates": [5.0, 0.0]})
        ds.Simulation(net).run(3.0)
    msgs = [str(w.message) for w in caught if issubclass(w.category, timegrid.TimeGridWarning)]
    assert msgs == [
        "Population 'a': t_ref = 1 ms is not a multiple of dt = 0.3 ms: rounded up, it takes effect as 1.2 ms "
        "(4 steps)",
        "Projection 'p1': delay = 1 ms is not a multiple of dt = 0.3 ms: rounded to the nearest step, it takes "
        "effect as 0.9 ms (3 steps)",
        "Projection 'p2': delay = 0.45 ms is not a multiple of dt = 0.3 ms: rounded to the nearest step, it "
        "takes effect as 0.6 ms (2 steps)",
        "PoissonInput 'in': schedule.times = 10 ms is not a multiple of dt = 0.3 ms: rounded to the nearest "
        "step, it takes effect as 9.9 ms (33 steps)"]


def test_strict_time_round_trips_through_toml(tmp_path):
    net = ds.Network(dt=0.1, strict_time=True)
    net.add_population("a", 2)
    path = tmp_path / "n.toml"
    ds.dump(net, str(path))
    assert "strict_time = true" in path.read_text()
    assert ds.load_network(str(path)) == net


@pytest.mark.parametrize("t_stop,t_sim", [("10.05", "10.1"), ("10.25", "10.3"), ("10.2", "10.2"),
                                          ("10.04", "10")])
def test_t_stop_rounds_halves_up_and_prints_cleanly(tmp_path, capsys, t_stop, t_sim):
    path = tmp_path / "n.toml"
    path.write_text('[simulation]\ndt = 0.1\n[[population]]\nname = "a"\nsize = 1\n')
    assert cli.main(["run", str(path), "--t-stop", t_stop]) == 0
    assert f"Hz over {t_sim} ms\n" in capsys.readouterr().out
    res = ds.simulate(ds.load_network(str(path)), t_stop=float(t_stop))
    assert repr(res.summary["t_sim_ms"]) == repr(float(t_sim))


def test_cli_prints_each_time_grid_warning_once_on_one_line(tmp_path, capsys):
    path = tmp_path / "n.toml"
    path.write_text('[simulation]\ndt = 0.3\nt_stop = 3.0\n[[population]]\nname = "a"\nsize = 2\n'
                    '[[projection]]\npre = "a"\npost = "a"\nconnector = { rule = "all_to_all" }\n'
                    'weight = 0.1\ndelay = 1.0\n')
    assert cli.main(["run", str(path)]) == 0
    err = capsys.readouterr().err
    assert err == ("distsnn: warning: Population 'a': t_ref = 2 ms is not a multiple of dt = 0.3 ms: rounded up, "
                   "it takes effect as 2.1 ms (7 steps)\n"     # the default t_ref, too
                   "distsnn: warning: Projection 'a_a': delay = 1 ms is not a multiple of dt = 0.3 ms: rounded "
                   "to the nearest step, it takes effect as 0.9 ms (3 steps)\n")
    assert cli.main(["run", str(path), "--strict-time"]) == 2
    assert "distsnn: error: Population 'a': t_ref = 2 ms is not a multiple of dt = 0.3 ms; strict_time is set" \
        in capsys.readouterr().err


# -- Poisson count tables -----------------------------------------------------------------

def _tail_above(lam: float, k: int) -> float:
    """P(X > k), summed from far out, small terms first (math.fsum)."""
    far = int(lam + 40 * math.sqrt(lam) + 60)
    return math.fsum(math.exp(j * math.log(lam) - lam - math.lgamma(j + 1.0)) for j in range(far, k, -1))


@pytest.mark.parametrize("lam", [0.001, 0.5, 5.0, 50.0, 500.0])
def test_poisson_table_ends_at_the_real_maximum_and_matches_the_pmf(lam):
    cdf = build.poisson_cdf(lam)
    kmax = cdf.size - 1
    assert cdf[-1] == 1.0 and np.all(np.diff(cdf) >= 0) and cdf[-2] < 1.0
    # The last count is the first whose upper tail is below one 53-bit draw, or the
    # first where the CDF rounds to 1 (counts beyond it cannot be drawn), whichever comes first.
    assert _tail_above(lam, kmax) < 2.0 ** -53
    assert _tail_above(lam, kmax - 2) > 2.0 ** -53 * 0.5
    pmf = np.diff(np.concatenate([[0.0], cdf]))
    exact = np.array([math.exp(k * math.log(lam) - lam - math.lgamma(k + 1.0)) for k in range(kmax + 1)])
    # Differences of a CDF near 1 carry its ulps (1.1e-16 each) as absolute error.
    np.testing.assert_allclose(pmf, exact, rtol=1e-12, atol=1e-15)
    assert abs(pmf[-1] - _tail_above(lam, kmax - 1)) < 4e-16


def test_poisson_table_at_lambda_50_ends_near_118_not_392():
    cdf = build.poisson_cdf(50.0)
    assert 110 <= cdf.size - 1 <= 120
    assert 1.0 - cdf[-2] < 1e-15


def test_input_bound_uses_the_real_maximum_count():
    # lambda = 50 per step (500 kHz at dt 0.1 ms). The bound is kmax x weight: with the real
    # maximum (~118) a weight of 2**26 / 200 fits, with the old table end (392) it did not.
    def build_with(weight):
        net = ds.Network(dt=0.1)
        net.add_population("a", 2)
        net.add_poisson_input("big", "a", 500000.0, weight)
        return ds.Simulation(net)

    kmax = build.poisson_cdf(50.0).size - 1
    build_with(synapses.MAX_INPUT / (kmax + 1))
    with pytest.raises(ValueError, match=r"Population 'a': neuron 0 could receive up to [0-9.e+]+ mV in one step "
                                         r"on channel delta, above the limit 6.7108[0-9e+]+"):
        build_with(synapses.MAX_INPUT / (kmax - 1))


def test_a_conductance_too_large_to_integrate_is_refused_when_built():
    net = ds.Network(dt=0.1)
    net.add_population("src", 10, "spike_train", {"times": [[1.0]] * 10})
    net.add_population("n", 2, "izhikevich", {"preset": "RS"})
    net.add_projection("src", "n", {"rule": "all_to_all"},
                       {"kind": "exp", "mode": "conductance", "tau": 5.0, "e_rev": -80.0}, 1e5, 1.0)
    with pytest.raises(ValueError, match=r"^Population 'n': neuron 0 could receive 1e\+06 nS of conductance in one "
                                         r"step; at C_m = 1 pF integrating it needs 2e\+05 RK4 sub-steps per step "
                                         r"of 0.1 ms, above the limit 100000 \(raise C_m or lower"):
        ds.Simulation(net)
    net.populations["n"] = dataclasses.replace(net.populations["n"], params=dataclasses.replace(
        net.populations["n"].params, C_m=10.0))
    ds.Simulation(net)   # 2e4 sub-steps per step at most: allowed


def test_the_paper_scheme_refuses_a_conductance_its_euler_steps_cannot_follow():
    def build_with(g):
        net = ds.Network(dt=0.1)
        net.add_population("src", 1, "spike_train", {"times": [[1.0]]})
        net.add_population("n", 1, "izhikevich", {"preset": "RS", "integration": "paper"})
        net.add_projection("src", "n", {"rule": "all_to_all"},
                           {"kind": "exp", "mode": "conductance", "tau": 5.0, "e_rev": -80.0}, g, 1.0)
        return ds.Simulation(net)

    build_with(20.0)   # g dt / (2 C_m) = 1: still monotone
    with pytest.raises(ValueError, match=r"^Population 'n': neuron 0 could receive 120 nS of conductance in one step; "
                                         r"the paper scheme's Euler half-steps at dt = 0.1 ms follow it only below "
                                         r"2 C_m / dt = 20 nS \(use integration = \"accurate\""):
        build_with(120.0)
