"""``surrogate_gradient`` as a state-monitor variable of ``lif`` (issue 11), in NEST's
four e-prop forms (distsnn.models.surrogate), zero while refractory."""

from __future__ import annotations

import numpy as np
import pytest

import distsnn as ds

W = 1.0 / 1.7
FUNCS = ("piecewise_linear", "exponential", "fast_sigmoid_derivative", "arctan_derivative")

# One input spike at 1 ms, weight 0.3 mV, delay 1 ms into a lif (C_m 1 pF, E_L 0, V_th
# 0.6 mV, tau_m 10 ms, dt 1 ms) that never reaches threshold: V(t) = 0.3 exp(-(t - 2) / 10)
# mV, so with gamma 0.5, w = 1/1.7 mV, x = |V - V_th| / w, at t = 15..19 ms, by hand:
# 0.5 max(0, 1 - x), 0.5 exp(-x), 0.5 (1 + x)^-2, 0.5 / (1 + x^2). (The issue's own values
# are for eprop_iaf, whose reset subtracts V_th and keeps integrating while refractory:
# lif resets to V_reset and clamps, so they apply only where neither has spiked, and
# there lif equals eprop_iaf: see test_lif_equals_eprop_iaf_below_threshold.)
HAND = {"piecewise_linear": [0.059496, 0.052882, 0.046898, 0.041484, 0.036584],
        "exponential": [0.207182, 0.204460, 0.202028, 0.199852, 0.197903],
        "fast_sigmoid_derivative": [0.141315, 0.139348, 0.137604, 0.136054, 0.134674],
        "arctan_derivative": [0.281504, 0.277831, 0.274544, 0.271599, 0.268959]}


def _one(model: str, function: str, times, weight: float, t_ref: float = 3.0, extra=None):
    net = ds.Network(dt=1.0, t_stop=25.0)
    net.add_population("in", 1, "spike_train", {"times": [list(times)]})
    params = dict(C_m=1.0, E_L=0.0, V_th=0.6, tau_m=10.0, t_ref=t_ref, surrogate_gradient_function=function,
                  surrogate_gradient_height=0.5, surrogate_gradient_width=W, **(extra or {}))
    if model == "lif":
        params["V_reset"] = 0.0
    net.add_population("n", 1, model, params, initial={"V_m": 0.0})
    net.add_projection("in", "n", {"rule": "all_to_all"}, "delta", weight=weight, delay=1.0)
    net.add_state_monitor("n", ["V_m", "surrogate_gradient"], interval=1.0)
    net.add_spike_monitor("n")
    res = ds.Simulation(net).run()
    psi, v = res.trace("n", "surrogate_gradient"), res.trace("n", "V_m")
    return psi.steps, psi.values[:, 0], v.values[:, 0], res.spikes_of("n").step


@pytest.mark.parametrize("function", FUNCS)
def test_lif_surrogate_by_hand(function):
    steps, psi, v, _ = _one("lif", function, [1.0], 0.3)
    np.testing.assert_allclose(v[steps == 15], 0.3 * np.exp(-1.3), rtol=1e-9)
    got = [psi[steps == t][0] for t in range(15, 20)]
    np.testing.assert_allclose(got, HAND[function], atol=1e-6)


@pytest.mark.parametrize("function", FUNCS)
def test_lif_equals_eprop_iaf_below_threshold(function):
    times = [1.0, 2.0, 5.0, 9.0, 11.0]
    a = _one("lif", function, times, 0.1, extra=None)
    b = _one("eprop_iaf", function, times, 0.1)
    assert a[3].size == 0 and b[3].size == 0
    np.testing.assert_allclose(a[1][1:], b[1][1:], rtol=1e-12, atol=1e-15)   # from the first step
    assert (a[1][5:] > 0).all()


def test_lif_surrogate_is_zero_while_refractory():
    # strong input spikes: the neuron fires; it is reset and refractory for
    # ceil(t_ref / dt) = 3 steps from the spike step on, and only then
    steps, psi, v, spikes = _one("lif", "exponential", [1.0, 2.0, 3.0, 9.0, 10.0], 0.5)
    spike_steps = spikes
    assert spike_steps.size >= 2
    refractory = np.zeros(steps.size, bool)
    for s in spike_steps:
        refractory |= (steps >= s) & (steps < s + 3)
    assert (psi[refractory] == 0.0).all()
    assert (psi[~refractory & (steps > 0)] > 0).all()
    np.testing.assert_allclose(psi[~refractory], 0.5 * np.exp(-np.abs(v[~refractory] - 0.6) / W), rtol=1e-12)


def test_lif_surrogate_parameters_are_checked_and_may_be_per_neuron():
    net = ds.Network(dt=1.0, t_stop=5.0)
    with pytest.raises(ValueError, match="surrogate_gradient_function"):
        net.add_population("a", 2, "lif", {"surrogate_gradient_function": "sigmoid"})
    with pytest.raises(ValueError, match="surrogate_gradient_width must be > 0"):
        net.add_population("b", 2, "lif", {"surrogate_gradient_width": -1.0})
    net.add_population("c", 3, "lif", {"surrogate_gradient_width": [1.0, 2.0, 4.0], "E_L": 0.0, "V_th": 2.0,
                                       "V_reset": 0.0}, initial={"V_m": 0.0})
    net.add_state_monitor("c", ["surrogate_gradient"], interval=1.0)
    psi = ds.Simulation(net).run().trace("c", "surrogate_gradient").values[-1]
    np.testing.assert_allclose(psi, 0.3 * np.maximum(0.0, 1.0 - 2.0 / np.array([1.0, 2.0, 4.0])))
