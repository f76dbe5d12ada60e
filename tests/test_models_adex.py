"""AdEx (Brette & Gerstner 2005): spike-triggered adaptation, the published firing
patterns for their parameter sets, convergence, the cut-off, and parameter errors.

Parameter sets from Naud, Marcille, Clopath & Gerstner (2008), "Firing patterns in the
adaptive exponential integrate-and-fire model", Biol. Cybern. 99:335, Table 1 (with the
step current ``I_e`` of that table).
"""

from __future__ import annotations

import numpy as np
import pytest

from distsnn import Network, Simulation

NAUD = {
    "tonic": dict(C_m=200, g_L=10, E_L=-70, V_th=-50, Delta_T=2, a=2, tau_w=30, b=0, V_reset=-58, I_e=500),
    "adapting": dict(C_m=200, g_L=12, E_L=-70, V_th=-50, Delta_T=2, a=2, tau_w=300, b=60, V_reset=-58, I_e=500),
    "initial_burst": dict(C_m=130, g_L=18, E_L=-58, V_th=-50, Delta_T=2, a=4, tau_w=150, b=120, V_reset=-50,
                          I_e=400),
    "bursting": dict(C_m=200, g_L=10, E_L=-58, V_th=-50, Delta_T=2, a=2, tau_w=120, b=100, V_reset=-46, I_e=210),
}


def run(params: dict, t_stop: float = 500.0, dt: float = 0.1, monitor_w: bool = False):
    net = Network(dt=dt, t_stop=t_stop)
    net.add_population("n", 1, "adex", {k: float(v) for k, v in params.items()})
    net.add_spike_monitor("n")
    if monitor_w:
        net.add_state_monitor("n", ["w", "V_m"])
    return Simulation(net).run()


def test_adaptation_current_grows_with_each_spike():
    p = NAUD["adapting"]
    res = run(p, monitor_w=True)
    steps = res.spikes.step
    w = res.trace("n", "w").values[:, 0]
    assert steps.size >= 8
    # At every spike w jumps by b (plus its drift within one step) ...
    jumps = w[steps] - w[steps - 1]
    np.testing.assert_allclose(jumps, p["b"], atol=0.5)
    # ... and, with tau_w >> ISI, the value it jumps from grows spike after spike.
    assert np.all(np.diff(w[steps - 1][:6]) > 0)
    # Between spikes w relaxes towards a (V - E_L) < w: it decays.
    assert w[steps[1] - 1] < w[steps[0]]


def test_tonic_spiking():
    isi = np.diff(run(NAUD["tonic"]).spikes.time)
    assert isi.size >= 40
    assert isi[-1] / isi[0] < 1.15                            # next to no adaptation
    assert np.std(isi[5:]) / np.mean(isi[5:]) < 0.02           # regular


def test_adapting_spiking():
    isi = np.diff(run(NAUD["adapting"]).spikes.time)
    assert np.all(np.diff(isi[:6]) > 0)                        # intervals lengthen
    assert isi[-1] / isi[0] > 5.0
    assert np.std(isi[-3:]) / np.mean(isi[-3:]) < 0.02          # to a steady period


def test_initial_burst_then_tonic():
    isi = np.diff(run(NAUD["initial_burst"]).spikes.time)
    assert np.all(isi[:2] < 10.0)                              # a burst of three spikes
    assert np.all(isi[2:] > 40.0) and isi.size >= 6            # then single, regular spikes
    assert np.std(isi[3:]) / np.mean(isi[3:]) < 0.02


def test_regular_bursting():
    isi = np.diff(run(NAUD["bursting"], t_stop=800.0).spikes.time)
    long = np.flatnonzero(isi > 50.0)
    assert long.size >= 4                                      # repeated bursts ...
    assert np.all(np.diff(long) >= 2)                          # ... of two or more spikes
    assert np.all(isi[isi <= 50.0] < 10.0)


@pytest.mark.parametrize("name", ["tonic", "adapting", "bursting"])
def test_spike_times_converge_as_dt_halves(name):
    ref = run(NAUD[name], t_stop=300.0, dt=0.003125).spikes.time
    err = {}
    for dt in (0.1, 0.05, 0.025):
        t = run(NAUD[name], t_stop=300.0, dt=dt).spikes.time
        assert t.size == ref.size
        err[dt] = np.max(np.abs(t - ref))
        assert err[dt] <= 2 * dt
    assert err[0.025] < err[0.1] / 2


def test_cut_off_and_refractory_clamp():
    p = {"I_e": 1500.0, "t_ref": 2.0}
    res = run(p, t_stop=100.0, monitor_w=True)
    V = res.trace("n", "V_m").values[:, 0]
    assert np.all(V < 0.0)                     # never past V_peak = 0 mV
    for s in res.spikes.step[:-1]:
        assert np.all(V[s: s + 21] == -60.0)   # V_reset for the spike step and 20 steps
        assert V[s + 21] > -60.0
    assert np.all(np.diff(res.spikes.step) > 20)


def test_defaults_are_nests_aeif_cond_exp():
    p = Network().add_population("n", 1, "adex").params
    assert (p.C_m, p.g_L, p.E_L, p.V_th, p.Delta_T, p.tau_w, p.a, p.b, p.V_reset, p.V_peak, p.t_ref) == \
        (281.0, 30.0, -70.6, -50.4, 2.0, 144.0, 4.0, 80.5, -60.0, 0.0, 0.0)


@pytest.mark.parametrize("params,pattern", [
    ({"tau_w": -3.0}, r"tau_w must be > 0 \(ms\), got -3.0"),
    ({"Delta_T": 0.0}, r"Delta_T must be > 0 \(mV\), got 0.0"),
    ({"C_m": -1.0}, r"C_m must be > 0 \(pF\), got -1.0"),
    ({"g_L": 0.0}, r"g_L must be > 0 \(nS\), got 0.0"),
    ({"t_ref": -1.0}, r"t_ref must be >= 0 \(ms\), got -1.0"),
    ({"V_peak": -60.0}, r"V_th must be < V_peak = -60.0 mV, got -50.4"),
    ({"V_reset": 5.0}, r"V_reset must be < V_peak = 0.0 mV, got 5.0"),
    ({"Delta_T": 0.01}, r"\(V_peak - V_th\) / Delta_T must be <= 600"),
    ({"b": None}, r"b must be a number \(pA\), got None"),
    ({"tau_m": 10.0}, r"unknown parameter 'tau_m'"),
])
def test_bad_parameters(params, pattern):
    with pytest.raises(ValueError, match=r"Population 'ad': " + pattern):
        Network().add_population("ad", 1, "adex", params)
