"""Hodgkin-Huxley (NEST ``hh_psc_alpha`` parameters): rheobase, repetitive firing at
10 uA/cm^2 (1000 pA for the default 1e-4 cm^2), spike times that converge as dt halves,
a monotone f-I curve, and parameter errors."""

from __future__ import annotations

import numpy as np
import pytest

from distsnn import Network, Simulation
from distsnn.models import hh


def spike_times(currents, t_stop: float = 300.0, dt: float = 0.1) -> list[np.ndarray]:
    """Spike times of one HH neuron per bias current (pA), started at rest."""
    net = Network(dt=dt, t_stop=t_stop)
    for i, I in enumerate(currents):
        net.add_population(f"h{i}", 1, "hh", {"I_e": float(I)})
        net.add_spike_monitor(f"h{i}")
    res = Simulation(net).run()
    return [res.spikes.of(i, i + 1).time for i in range(len(currents))]


def test_rest_is_the_steady_state():
    m, h, n = hh.steady_state(np.array([-65.0]))
    # The textbook values at rest.
    assert m[0] == pytest.approx(0.0529, abs=1e-4)
    assert h[0] == pytest.approx(0.5961, abs=1e-4)
    assert n[0] == pytest.approx(0.3177, abs=1e-4)
    (t,) = spike_times([0.0], t_stop=100.0)
    assert t.size == 0


def test_no_spikes_below_rheobase():
    # A step from rest needs about 2.3 uA/cm^2 (230 pA) for a single spike; below, none.
    for times in spike_times([50.0, 100.0, 150.0, 200.0]):
        assert times.size == 0


def test_repetitive_firing_at_10_uA_per_cm2():
    (t,) = spike_times([1000.0], t_stop=500.0)
    isi = np.diff(t)
    assert t.size >= 30
    # The classic period at 10 uA/cm^2 and 6.3 C is 14.6 ms (about 68 Hz), and regular.
    assert np.mean(isi[2:]) == pytest.approx(14.6, abs=0.3)
    assert np.std(isi[2:]) < 0.1


def test_f_i_curve_is_monotone_above_rheobase():
    currents = [700.0, 800.0, 1000.0, 1500.0, 2000.0, 3000.0, 5000.0]
    rates = [np.mean(1000.0 / np.diff(t[t > 100.0])) for t in spike_times(currents, t_stop=400.0)]
    assert np.all(np.diff(rates) > 0), rates
    assert 50.0 < rates[0] < 70.0           # the HH jump to ~55 Hz at onset (type II)


def test_spike_times_converge_as_dt_halves():
    """Against dt = 1/160 ms, the first spike times at 1000 pA. A spike is stamped when V
    has fallen from the previous step (NEST's rule), one or two steps after the true
    peak: the error is below two steps and shrinks with dt."""
    (ref,) = spike_times([1000.0], t_stop=112.0, dt=0.00625)
    errors = []
    for dt in (0.2, 0.1, 0.05, 0.025):
        (t,) = spike_times([1000.0], t_stop=112.0, dt=dt)
        assert t.size == ref.size == 8
        err = np.max(np.abs(t - ref))
        assert err <= 2 * dt + 1e-9
        errors.append(err)
    assert errors[-1] < errors[0] / 4


def test_integration_error_is_fourth_order_in_the_substep(monkeypatch):
    """The membrane trace at dt = 0.1 ms with sub-steps h against h / 20."""
    def trace(h_max):
        monkeypatch.setattr(hh, "H_MAX", h_max)
        p = hh.Params(I_e=1000.0)
        c = hh.prepare(p, 0.1, ())
        s = hh.init_state(c, {}, np.arange(1))
        out = []
        for n in range(1, 301):
            s, _ = hh.step(s, np.zeros((0, 1)), c, n)
            out.append(s.V[0])
        return np.array(out)
    ref = trace(0.001)
    e1 = np.max(np.abs(trace(0.02) - ref))
    e2 = np.max(np.abs(trace(0.01) - ref))
    assert e2 < 1e-3                      # the default sub-step: 1e-4 mV through spikes
    assert 8.0 < e1 / e2 < 32.0           # halving h divides the error by ~16


def test_delta_and_current_synapses_act():
    net = Network(dt=0.1, t_stop=40.0)
    net.add_population("gen", 1, "spike_train", {"times": [[5.0]]})
    net.add_population("h", 2, "hh")
    net.add_projection("gen", "h", {"rule": "all_to_all"}, "delta", 30.0, 1.0, name="kick")
    net.add_spike_monitor("h")
    res = Simulation(net).run()
    assert len(res.spikes) == 2 and np.all(res.spikes.time < 10.0)   # a 30 mV kick fires it


@pytest.mark.parametrize("params,pattern", [
    ({"C_m": 0.0}, r"C_m must be > 0 \(pF\), got 0.0"),
    ({"g_Na": -1.0}, r"g_Na must be >= 0 \(nS\), got -1.0"),
    ({"t_ref": -2.0}, r"t_ref must be >= 0 \(ms\), got -2.0"),
    ({"E_K": 60.0}, r"E_K must be < E_Na = 50.0 mV, got 60.0"),
    ({"E_L": float("inf")}, r"E_L must be finite \(mV\), got inf"),
    ({"V_th": -50.0}, r"unknown parameter 'V_th'"),
])
def test_bad_parameters(params, pattern):
    with pytest.raises(ValueError, match=r"Population 'hh': " + pattern):
        Network().add_population("hh", 1, "hh", params)


@pytest.mark.parametrize("initial,pattern", [
    ({"m": 1.2}, r"initial\.m must be <= 1\.0, got values up to 1\.2"),
    ({"n": {"dist": "uniform", "low": -0.1, "high": 0.5}}, r"initial\.n must be >= 0\.0, got values down to -0\.1"),
    ({"h": {"dist": "normal", "mean": 0.5, "std": 0.1}}, r"initial\.h must be >= 0\.0, got values down to -inf"),
])
def test_gating_variables_start_as_probabilities(initial, pattern):
    with pytest.raises(ValueError, match=r"Population 'hh': " + pattern):
        Network().add_population("hh", 3, "hh", initial=initial)
    ok = {"h": {"dist": "normal", "mean": 0.5, "std": 0.1, "low": 0.0, "high": 1.0}}
    assert Network().add_population("hh", 3, "hh", initial=ok).initial["h"].high == 1.0
