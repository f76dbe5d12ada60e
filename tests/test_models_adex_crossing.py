"""AdEx spike times against an independent fine-step reference: with the V_peak crossing
placed by bisection, a dt = 0.1 ms run stamps every spike at the step that holds the
reference's crossing time, over many spikes (resets neither early nor late, so errors do
not add up). Parameter sets from Naud et al. (2008), Table 1, as in test_models_adex."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from distsnn import Network, Simulation

from .test_models_adex import NAUD

H_REF = 1e-3   # ms: the reference's RK4 step outside the upswing, a tenth of the model's sub-step


@njit(cache=True)
def _rhs(V, w, C, gL, EL, VT, DT, tau_w, a, Ie, Vp):
    V = min(V, Vp)
    return (-gL * (V - EL) + gL * DT * np.exp((V - VT) / DT) - w + Ie) / C, (a * (V - EL) - w) / tau_w


@njit(cache=True)
def _rk4(V, w, h, C, gL, EL, VT, DT, tau_w, a, Ie, Vp):
    k1 = _rhs(V, w, C, gL, EL, VT, DT, tau_w, a, Ie, Vp)
    k2 = _rhs(V + 0.5 * h * k1[0], w + 0.5 * h * k1[1], C, gL, EL, VT, DT, tau_w, a, Ie, Vp)
    k3 = _rhs(V + 0.5 * h * k2[0], w + 0.5 * h * k2[1], C, gL, EL, VT, DT, tau_w, a, Ie, Vp)
    k4 = _rhs(V + h * k3[0], w + h * k3[1], C, gL, EL, VT, DT, tau_w, a, Ie, Vp)
    return (V + h / 6.0 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0]),
            w + h / 6.0 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1]))


@njit(cache=True)
def _reference(C, gL, EL, VT, DT, tau_w, a, b, Vr, Vp, Ie, T, h):
    # RK4 at h, and in the upswing at 0.01 / (the exponential term's rate), so that even
    # there a step moves V by a hundredth of Delta_T; a crossing is placed by linear
    # interpolation within its (then tiny) step, and the reset state goes on from there.
    out = np.empty(10000)
    n = 0
    V, w, t = EL, 0.0, 0.0
    while t < T:
        step = min(h, 0.01 / (gL / C * np.exp((min(V, Vp) - VT) / DT)), T - t)
        V1, w1 = _rk4(V, w, step, C, gL, EL, VT, DT, tau_w, a, Ie, Vp)
        if V1 >= Vp:
            theta = (Vp - V) / (V1 - V)
            out[n] = t + theta * step
            n += 1
            V1, w1, step = Vr, w + theta * (w1 - w) + b, theta * step
        V, w, t = V1, w1, t + step
    return out[:n]


def reference_times(p: dict, t_stop: float) -> np.ndarray:
    q = {"V_peak": 0.0, **{k: float(v) for k, v in p.items()}}
    return _reference(q["C_m"], q["g_L"], q["E_L"], q["V_th"], q["Delta_T"], q["tau_w"], q["a"], q["b"],
                      q["V_reset"], q["V_peak"], q["I_e"], t_stop, H_REF)


@pytest.mark.parametrize("name,dt", [("tonic", 0.1), ("adapting", 0.1), ("initial_burst", 0.1), ("bursting", 0.1),
                                     ("tonic", 0.0125)])
def test_spike_steps_hold_the_reference_crossing_over_many_spikes(name, dt):
    """Before the crossing was bisected and the upswing split into short spans, Naud's
    tonic neuron ran 0.47 ms (dt 0.1) and 0.36 ms (dt 0.0125) early after 104 spikes."""
    t_stop = 1000.0
    ref = reference_times(NAUD[name], t_stop)
    net = Network(dt=dt, t_stop=t_stop)
    net.add_population("n", 1, "adex", {k: float(v) for k, v in NAUD[name].items()})
    net.add_spike_monitor("n")
    steps = Simulation(net).run().spikes.step
    assert ref.size >= 15 and steps.size == ref.size
    # A spike crossing at time T is stamped at the end of its step, ceil(T / dt): every one
    # within one step, and in fact at that very step unless T lies within 1e-3 ms of a step edge.
    lag = steps * dt - ref
    assert np.all((lag > -1e-3) & (lag < dt + 1e-3)), lag
    clear = np.abs(ref / dt - np.round(ref / dt)) > 1e-2
    np.testing.assert_array_equal(steps[clear], np.ceil(ref[clear] / dt).astype(np.int64))
