"""Alpha-shaped synapses (NEST's ``*_alpha`` normalisation: the peak, at t = tau, equals the
weight) against closed forms: the current, the PSP of an exactly integrated LIF neuron, its
peak and peak time, NEST's propagators, and the conductance form in lif_cond."""

from __future__ import annotations

import math

import numpy as np
import pytest

import distsnn as ds
from distsnn import synapses
from distsnn.models import lif, lif_cond
from distsnn.synapses import SynapseType


def alpha_current(w: float, tau: float, t: np.ndarray) -> np.ndarray:
    return w * math.e / tau * t * np.exp(-t / tau)


def alpha_psp(w: float, tau_s: float, tau_m: float, C: float, t: np.ndarray) -> np.ndarray:
    """V - E_L of a membrane (tau_m, C) driven by w e/tau_s t exp(-t/tau_s) from t = 0."""
    a, b = 1.0 / tau_s, 1.0 / tau_m
    c = a - b
    return w * math.e / (tau_s * C) * (np.exp(-b * t) - np.exp(-a * t) * (1.0 + c * t)) / c**2


def run_lif(params: lif.Params, syn: SynapseType, w: float, dt: float, steps: int):
    prep = lif.prepare(params, dt, (syn,))
    state = lif.init_state(prep, {}, np.arange(1))
    V, I = [], []
    for n in range(1, steps + 1):
        x = np.zeros((1, 1))
        if n == 1:
            x[0, 0] = w     # arrives at step 1: acts from step 2 on
        state, _ = lif.step(state, x, prep, n)
        V.append(state.V[0])
        I.append(lif.record(state, "I_syn")[0])
    return np.array(V), np.array(I)


@pytest.mark.parametrize("tau", [0.5, 2.0, 5.0])
def test_alpha_current_peaks_at_tau_with_the_weight(tau):
    dt, w = 0.1, 37.5
    k = synapses.kernels((SynapseType("alpha", tau),), dt)
    assert list(k.readout) == [False, True] and list(k.feed) == [-1, 0]
    S = k.zeros(1)
    S = k.arrive(S, np.array([[w]]))
    currents = []
    for _ in range(200):
        currents.append(k.current(S, np.zeros(1))[0])
        S = k.arrive(S, np.zeros((1, 1)))
    t = np.arange(200) * dt
    np.testing.assert_allclose(currents, alpha_current(w, tau, t), rtol=1e-12, atol=1e-12)
    peak = int(np.argmax(currents))
    assert peak == round(tau / dt)
    assert currents[peak] == pytest.approx(w, rel=1e-13)


def test_lif_alpha_psp_matches_the_closed_form_its_peak_and_peak_time():
    dt, w, tau_s = 0.01, 100.0, 2.0
    p = lif.Params(C_m=250.0, tau_m=10.0, E_L=-70.0, V_th=1e9, V_reset=-70.0)
    V, I = run_lif(p, SynapseType("alpha", tau_s), w, dt, 4000)
    # The arrival at step 1 starts acting at step 2: the sample at step n is t = (n - 1) dt.
    t = np.arange(4000) * dt
    psp = alpha_psp(w, tau_s, p.tau_m, p.C_m, t)
    np.testing.assert_allclose(V - p.E_L, psp, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(I, alpha_current(w, tau_s, t), rtol=1e-12, atol=1e-12)
    # Peak time from d/dt psp = 0: e^{-bt} b = e^{-at}(a (1 + ct) - c), solved by bisection.
    a, b = 1 / tau_s, 1 / p.tau_m
    f = lambda s: b * math.exp(-b * s) - math.exp(-a * s) * (a * (1 + (a - b) * s) - (a - b))
    lo, hi = 1.0, 20.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    t_peak = 0.5 * (lo + hi)
    assert abs(t[np.argmax(V)] - t_peak) <= dt / 2
    assert V.max() - p.E_L == pytest.approx(float(alpha_psp(w, tau_s, p.tau_m, p.C_m, np.array([t_peak]))[0]),
                                            rel=1e-5)


def nest_propagators(tau_s: float, tau_m: float, C: float, h: float) -> tuple[float, float]:
    """Textbook (non-singular) forms of P31, P32 (Rotter & Diesmann 1999)."""
    em, es = math.exp(-h / tau_m), math.exp(-h / tau_s)
    k = 1.0 / (1.0 / tau_s - 1.0 / tau_m)
    P32 = k / C * (em - es)
    P31 = k / C * (k * (em - es) - h * es)
    return P31, P32


@pytest.mark.parametrize("tau_s,tau_m", [(2.0, 10.0), (0.5, 44.9), (8.0, 3.0)])
def test_alpha_propagators_match_the_textbook_forms(tau_s, tau_m):
    prep = lif.prepare(lif.Params(C_m=180.0, tau_m=tau_m), 0.1, (SynapseType("alpha", tau_s),))
    P31, P32 = nest_propagators(tau_s, tau_m, 180.0, 0.1)
    assert prep.P21[0] == pytest.approx(P31, rel=1e-9)
    assert prep.P21[1] == pytest.approx(P32, rel=1e-9)


def test_alpha_propagators_take_the_singular_limit_at_equal_time_constants():
    h, C, tau = 0.1, 250.0, 10.0
    prep = lif.prepare(lif.Params(C_m=C, tau_m=tau), h, (SynapseType("alpha", tau),))
    assert prep.P21[0] == 0.5 * h * h * (1 / C) * math.exp(-h * (1 / tau))
    assert prep.P21[1] == h * (1 / C) * math.exp(-h * (1 / tau))
    assert np.all(np.isfinite(prep.P21))


def test_alpha_conductance_in_lif_cond_peaks_at_tau_with_the_weight():
    dt, w, tau = 0.1, 3.0, 1.5
    syn = SynapseType("alpha", tau, mode="conductance", e_rev=0.0)
    prep = lif_cond.prepare(lif_cond.params_from("p", {}, 1, dt), dt, (syn,))
    state = lif_cond.init_state(prep, {}, np.arange(1))
    g = []
    for n in range(1, 60):
        x = np.array([[w if n == 1 else 0.0]])
        state, _ = lif_cond.step(state, x, prep, n)
        g.append(lif_cond.record(state, "g_syn")[0])
    t = np.arange(59) * dt
    np.testing.assert_allclose(g, alpha_current(w, tau, t), rtol=1e-12, atol=1e-14)
    assert max(g) == pytest.approx(w, rel=1e-13) and int(np.argmax(g)) == round(tau / dt)


def test_alpha_mean_and_pointwise_weights_are_the_integrals_of_the_kernel():
    k = synapses.kernels((SynapseType("alpha", 2.0),), 0.1)
    # One unit in the derivative, one in the current: s(t) = t e^{-t/tau} + e^{-t/tau}.
    wi, _, _ = k.weights_at(np.array([0.0, 0.05, 0.1]))
    t = np.array([0.0, 0.05, 0.1])
    np.testing.assert_allclose(wi.sum(axis=1), (t + 1) * np.exp(-t / 2.0), rtol=1e-15)
    mi, _, _ = k.mean_weights(0.1)
    fine = np.linspace(0.0, 0.1, 200001)
    ref = np.trapezoid((fine + 1) * np.exp(-fine / 2.0), fine) / 0.1
    assert mi.sum() == pytest.approx(ref, rel=1e-10)


def test_network_alpha_psp_peaks_one_delay_and_the_peak_time_after_the_spike():
    net = ds.Network(dt=0.1, seed=1, t_stop=40.0)
    net.add_population("src", 1, "spike_train", {"times": [[5.0]]})
    net.add_population("n", 1, "lif", {"V_th": 100.0})
    net.add_projection("src", "n", {"rule": "all_to_all"}, {"kind": "alpha", "tau": 2.0}, 500.0, 1.0)
    net.add_state_monitor("n", ["V_m", "I_syn", "I_syn_1"], interval=0.1)
    res = ds.simulate(net)
    I = res.trace("n", "I_syn").values[:, 0]
    # The channel's own current is the alpha function, not its derivative.
    np.testing.assert_array_equal(res.trace("n", "I_syn_1").values[:, 0], I)
    times = res.trace("n", "I_syn").time
    # spike stamped 5.0, arrives at 6.0, current acts from the next step: peak at 6.0 + tau.
    assert times[np.argmax(I)] == pytest.approx(8.0)
    assert I.max() == pytest.approx(500.0, rel=1e-12)


def test_rk4_drive_of_alpha_synapses_in_closed_form_equals_the_drive_matrices():
    """The RK4 models evaluate the synaptic drive two ways (drive matrices on the base
    sub-steps, closed form on refined ones): both must agree for alpha components."""
    from distsnn.models import common

    chans = (SynapseType("alpha", 2.0), SynapseType("alpha", 1.5, mode="conductance", e_rev=-80.0),
             SynapseType("exp", 3.0, mode="conductance", e_rev=0.0))
    dt, m = 0.1, 4
    prep = common.prepare_substeps(None, dt, chans, m)
    S = np.random.default_rng(2).uniform(0.0, 5.0, (prep.k.size, 3))
    for j in range(2 * m + 1):
        coarse = common.stage_drive(prep.WA, prep.WG, prep.ca, prep.cg, prep.inv_tau, S, 1, j, prep.h, False)
        fine = common.stage_drive(prep.WA, prep.WG, prep.ca, prep.cg, prep.inv_tau, S, 1, j, prep.h, True)
        np.testing.assert_allclose(fine, coarse, rtol=1e-12)
    # and the closed form is the alpha function: one unit in the derivative, t e^{-t/tau}
    one = np.zeros((prep.k.size, 1))
    one[0, 0] = 1.0
    a, g = common.drive_at(prep.ca, prep.cg, prep.inv_tau, one, 0, 0.3)
    assert a == pytest.approx(0.3 * math.exp(-0.3 / 2.0), rel=1e-14) and g == 0.0
