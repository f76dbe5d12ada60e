"""The LIF model against its analytic solution, at unit level and through a Simulation.

Under a constant bias current from V0 the membrane follows
``V(t) = E_L + a + (V0 - E_L - a) exp(-t / tau_m)`` with ``a = I_e tau_m / C_m``; the
exact propagator reproduces it at every step, a spike is stamped at the first step at
or after the analytic first-passage time, and a neuron is clamped for round(t_ref/dt)
steps after each spike.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from distsnn import Network, Simulation
from distsnn.comm import LocalComm
from distsnn.models import lif
from distsnn.synapses import SynapseType


def run_local(net: Network):
    """Run in this process with every neuron on rank 0 (no partitioner involved)."""
    return Simulation(net, LocalComm(), owner=np.zeros(net.size, dtype=np.int64)).run()


def first_passage(p: lif.Params, v0: float) -> float:
    """Time (ms) for V to climb from v0 to V_th under I_e alone (inf if it never does)."""
    a = p.I_e * p.tau_m / p.C_m
    if a <= p.V_th - p.E_L:
        return math.inf
    return -p.tau_m * math.log((p.V_th - p.E_L - a) / (v0 - p.E_L - a))


def ref_steps_of(t_ref: float, dt: float) -> int:
    """round(t_ref / dt) with halves up (the documented rule of distsnn.timegrid)."""
    x = t_ref / dt
    return math.floor(x + 0.5 + 1e-9 * max(x, 1.0))


def analytic_run(p: lif.Params, dt: float, n_steps: int, v0: float) -> tuple[np.ndarray, list[int]]:
    """V at steps 0..n_steps and spike steps, from the closed form segment by segment."""
    a = p.I_e * p.tau_m / p.C_m
    ref = ref_steps_of(p.t_ref, dt)
    V = np.empty(n_steps + 1)
    spikes: list[int] = []
    start, vs = 0, v0
    V[0] = v0
    while start < n_steps:
        t_star = first_passage(p, vs)
        m = math.ceil(t_star / dt) if math.isfinite(t_star) else n_steps + 1
        # The test is only meaningful if the crossing is not a rounding call.
        assert abs(t_star / dt - round(t_star / dt)) > 1e-6 if math.isfinite(t_star) else True
        k = np.arange(1, min(m, n_steps - start + 1))
        V[start + k] = p.E_L + a + (vs - p.E_L - a) * np.exp(-k * dt / p.tau_m)
        s = start + m
        if s > n_steps:
            break
        spikes.append(s)
        V[s: min(s + ref, n_steps) + 1] = p.V_reset
        start, vs = s + ref, p.V_reset
    return V, spikes


def run_unit(p: lif.Params, dt: float, n_steps: int, v0: np.ndarray):
    prep = lif.prepare(p, dt, ())
    gids = np.arange(v0.size)
    state = lif.init_state(prep, {"V_m": v0}, gids)
    x = np.zeros((0, v0.size))
    V = [state.V.copy()]
    spikes = []
    for n in range(1, n_steps + 1):
        state, spiked = lif.step(state, x, prep, n)
        V.append(state.V.copy())
        spikes.append(spiked.copy())
    return np.array(V), np.array(spikes)


def test_propagators_closed_form():
    p = lif.Params(C_m=200.0, tau_m=15.0, I_e=10.0)
    h = 0.25
    prep = lif.prepare(p, h, (SynapseType("delta"), SynapseType("exp", 2.0), SynapseType("exp", 7.5)))
    assert prep.P22 == pytest.approx(math.exp(-h / 15.0), rel=1e-15)
    assert prep.P20 == pytest.approx(15.0 / 200.0 * (1 - math.exp(-h / 15.0)), rel=1e-13)
    np.testing.assert_allclose(prep.P11, np.exp(-h / np.array([2.0, 7.5])), rtol=1e-15)
    for tau_s, p21 in zip((2.0, 7.5), prep.P21):
        # Far from tau_m the textbook form has no cancellation.
        ref = tau_s * 15.0 / (15.0 - tau_s) / 200.0 * (math.exp(-h / 15.0) - math.exp(-h / tau_s))
        assert p21 == pytest.approx(ref, rel=1e-12)
    np.testing.assert_array_equal(prep.k.delta_rows, [0])
    np.testing.assert_array_equal(prep.k.channel, [1, 2])
    assert prep.ref_steps == 8  # t_ref 2.0 / 0.25


@pytest.mark.parametrize("rel", [0.0, 1e-12, 1e-9, -1e-7, 1e-5])
def test_p21_limit_when_tau_syn_equals_tau_m(rel):
    C, tau, h = 250.0, 10.0, 0.1
    tau_s = tau * (1 + rel)
    p21 = lif.prepare(lif.Params(C_m=C, tau_m=tau), h, (SynapseType("exp", tau_s),)).P21[0]
    limit = h / C * math.exp(-h / tau)
    assert math.isfinite(p21)
    # P21 = limit * expm1(y)/y, y = h (1/tau - 1/tau_s): within |y| of the limit, and to
    # second order limit * (1 + y/2).
    y = h * (1 / tau - 1 / tau_s)
    assert abs(p21 / limit - 1) <= abs(y) + 1e-15
    assert p21 == pytest.approx(limit * (1 + y / 2 + y * y / 6), rel=1e-14)
    if rel == 0.0:
        assert p21 == pytest.approx(limit, rel=1e-15)


PARAM_SETS = [
    # dt, params per population (several currents); V_reset differs from E_L so the
    # post-reset passage time differs from the first one.
    (0.1, [lif.Params(I_e=400.0, V_reset=-65.0), lif.Params(I_e=520.0, V_reset=-65.0),
           lif.Params(I_e=800.0, V_reset=-65.0, t_ref=1.55)]),
    (0.25, [lif.Params(C_m=100.0, tau_m=20.0, E_L=-60.0, V_th=-50.0, V_reset=-58.0, t_ref=1.5,
                       I_e=70.0),
            lif.Params(C_m=100.0, tau_m=20.0, E_L=-60.0, V_th=-50.0, V_reset=-72.0, t_ref=0.0,
                       I_e=123.0)]),
]



@pytest.mark.parametrize("dt,params", PARAM_SETS)
def test_unit_step_matches_analytic_solution(dt, params):
    n_steps = int(round(150.0 / dt))
    for p in params:
        V, spiked = run_unit(p, dt, n_steps, np.full(2, p.E_L))
        V_exp, spikes_exp = analytic_run(p, dt, n_steps, p.E_L)
        assert len(spikes_exp) >= 3
        for j in range(2):
            np.testing.assert_allclose(V[:, j] - p.E_L, V_exp - p.E_L, rtol=1e-9, atol=1e-12)
            assert list(np.flatnonzero(spiked[:, j]) + 1) == spikes_exp


@pytest.mark.parametrize("dt,params", PARAM_SETS)
def test_network_trace_and_spikes_match_analytic_solution(dt, params):
    t_stop = 120.0
    n_steps = int(round(t_stop / dt))
    net = Network(dt=dt, seed=3, t_stop=t_stop)
    for i, p in enumerate(params):
        net.add_population(f"p{i}", 3, params=vars(p))
        net.add_spike_monitor(f"p{i}")
        net.add_state_monitor(f"p{i}", "V_m", neurons=[0, 2])
    res = run_local(net)
    offsets = net.offsets()
    for i, p in enumerate(params):
        V_exp, spikes_exp = analytic_run(p, dt, n_steps, p.E_L)
        assert len(spikes_exp) >= 3
        tr = res.trace(f"p{i}", "V_m")
        np.testing.assert_array_equal(tr.steps, np.arange(n_steps + 1))
        np.testing.assert_array_equal(tr.gids, offsets[f"p{i}"] + np.array([0, 2]))
        for j in range(2):
            np.testing.assert_allclose(tr.values[:, j] - p.E_L, V_exp - p.E_L, rtol=1e-9, atol=1e-12)
        sp = res.spikes.of(offsets[f"p{i}"], offsets[f"p{i}"] + 3)
        for g in range(3):
            assert list(sp.step[sp.gid == offsets[f"p{i}"] + g]) == spikes_exp
        # The first spike is at ceil(t*/dt); then every round(t_ref/dt) + ceil(t*_reset/dt).
        first = math.ceil(first_passage(p, p.E_L) / dt)
        period = ref_steps_of(p.t_ref, dt) + math.ceil(first_passage(p, p.V_reset) / dt)
        assert spikes_exp[0] == first
        assert np.all(np.diff(spikes_exp) == period)


def test_subthreshold_current_never_spikes_and_converges():
    p = lif.Params(I_e=374.0)  # rheobase is (V_th - E_L) C_m / tau_m = 375 pA
    V, spiked = run_unit(p, 0.1, 3000, np.array([p.E_L]))
    assert not spiked.any()
    V_exp, spikes = analytic_run(p, 0.1, 3000, p.E_L)
    assert spikes == []
    np.testing.assert_allclose(V[:, 0] - p.E_L, V_exp - p.E_L, rtol=1e-9, atol=1e-12)
    assert V[-1, 0] == pytest.approx(p.E_L + 374.0 * 10.0 / 250.0, abs=1e-9)


@pytest.mark.parametrize("t_ref,dt,ref_steps", [(2.0, 0.1, 20), (1.55, 0.1, 16), (0.3, 0.1, 3), (1.0, 0.25, 4)])
def test_refractory_clamp_lasts_round_t_ref_over_dt_steps(t_ref, dt, ref_steps):
    """V stays at V_reset (delta input discarded) for exactly round(t_ref/dt) steps."""
    p = lif.Params(t_ref=t_ref, V_reset=-68.0)
    chans = (SynapseType("delta"), SynapseType("exp", 3.0))
    prep = lif.prepare(p, dt, chans)
    assert prep.ref_steps == ref_steps
    state = lif.init_state(prep, {"V_m": np.array([-50.0, -70.0])}, np.arange(2))
    x = np.zeros((2, 2))
    state, spiked = lif.step(state, x, prep, 1)  # neuron 0 starts above threshold
    np.testing.assert_array_equal(spiked, [True, False])
    assert state.V[0] == p.V_reset
    x[0, :] = 0.5   # delta input every step: discarded while refractory
    x[1, 0] = 5.0   # exp input: the current integrates even while refractory
    I_exp = 0.0
    for n in range(2, ref_steps + 2):
        state, spiked = lif.step(state, x, prep, n)
        I_exp = I_exp * math.exp(-dt / 3.0) + 5.0
        assert not spiked[0]
        assert state.V[0] == p.V_reset, f"V moved at step {n}, refractory until {ref_steps + 1}"
        assert state.I[0, 0] == pytest.approx(I_exp, rel=1e-12)
    state, spiked = lif.step(state, x, prep, ref_steps + 2)
    # First free step: leak from V_reset, the synaptic current, and the delta input.
    expected = p.E_L + prep.P22 * (p.V_reset - p.E_L) + prep.P21[0] * I_exp + 0.5
    assert state.V[0] == pytest.approx(expected, rel=1e-12)
    # The other neuron was never clamped: it took every one of the ref_steps + 1 inputs.
    m = ref_steps + 1
    assert state.V[1] == pytest.approx(-70.0 + 0.5 * (1 - prep.P22**m) / (1 - prep.P22), rel=1e-12)


def test_zero_refractory_period_allows_a_spike_every_step():
    p = lif.Params(t_ref=0.0, I_e=40000.0)  # P20 * I_e > V_th - V_reset
    prep = lif.prepare(p, 0.1, ())
    assert prep.P20 * p.I_e > p.V_th - p.V_reset
    V, spiked = run_unit(p, 0.1, 20, np.array([p.E_L]))
    assert spiked.all()
    assert np.all(V[1:, 0] == p.V_reset)


def test_network_refractory_clamp_in_trace():
    dt, t_ref = 0.1, 3.05  # 30.5 steps: halves up to 31
    p = lif.Params(I_e=1000.0, t_ref=t_ref, V_reset=-75.0)
    net = Network(dt=dt, t_stop=60.0)
    net.add_population("n", 1, params=vars(p))
    net.add_spike_monitor("n")
    net.add_state_monitor("n", "V_m")
    res = run_local(net)
    V = res.trace("n", "V_m").values[:, 0]
    steps = res.spikes.step
    assert steps.size >= 3
    for s in steps[:-1]:
        assert np.all(V[s: s + 32] == p.V_reset)  # the spike step and 31 clamped steps
        assert V[s + 32] > p.V_reset
    assert np.all(np.diff(steps) > 31)


def test_i_syn_records_sum_of_exp_currents():
    prep = lif.prepare(lif.Params(), 0.1, (SynapseType("exp", 2.0), SynapseType("exp", 8.0)))
    state = lif.init_state(prep, {}, np.arange(3))
    assert np.all(state.V == -70.0)
    x = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 4.0]])
    state, _ = lif.step(state, x, prep, 1)
    np.testing.assert_array_equal(lif.record(state, "I_syn"), [1.0, 3.0, 6.0])
    np.testing.assert_array_equal(lif.record(state, "V_m"), state.V)


def test_threshold_is_reached_at_equality():
    """V >= V_th spikes: a delta input that lands exactly on V_th fires, one just short does not."""
    prep = lif.prepare(lif.Params(), 0.1, (SynapseType("delta"),))
    state = lif.init_state(prep, {}, np.arange(2))
    state, spiked = lif.step(state, np.array([[15.0, 15.0 - 1e-9]]), prep, 1)
    assert -70.0 + 15.0 == -55.0  # exact in binary
    np.testing.assert_array_equal(spiked, [True, False])
    assert state.V[0] == -70.0 and state.refr[0] == 20 and state.refr[1] == 0
