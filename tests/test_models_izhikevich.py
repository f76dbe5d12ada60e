"""Izhikevich (2003): the presets' published firing patterns, checked on measured
inter-spike intervals, the paper's integration scheme, and parameter errors."""

from __future__ import annotations

import numpy as np
import pytest

from distsnn import Network, Simulation
from distsnn.models import izhikevich

# The resting state of b = 0.2 (v = -70, u = b v) and of b = 0.25 (the lower root of
# 0.04 v^2 + (5 - b) v + 140 = 0).
REST = {0.2: (-70.0, -14.0), 0.25: (-64.3, -0.25 * 64.3)}


def isis(preset: str, I: float = 10.0, t_stop: float = 1000.0, dt: float = 0.1, **params) -> np.ndarray:
    """Inter-spike intervals (ms) of one neuron at rest given a step of ``I`` (paper units)."""
    b = izhikevich.PRESETS[preset]["b"]
    v0, u0 = REST[b]
    net = Network(dt=dt, t_stop=t_stop)
    net.add_population("n", 1, "izhikevich", {"preset": preset, "I_e": I, **params}, {"V_m": v0, "U_m": u0})
    net.add_spike_monitor("n")
    return np.diff(Simulation(net).run().spikes.time)


@pytest.mark.parametrize("integration,dt", [("accurate", 0.1), ("paper", 0.1)])
def test_rs_adapts_and_fs_does_not(integration, dt):
    rs = isis("RS", integration=integration, dt=dt)
    fs = isis("FS", integration=integration, dt=dt)
    # RS: a short first interval, then the period more than doubles and settles.
    assert rs[-1] / rs[0] > 2.5
    assert rs[1] > 2 * rs[0]
    # FS: high-frequency (> 100 Hz) periodic firing; its interval grows far less.
    assert fs[-1] / fs[0] < 2.0
    assert 1000.0 / fs[-1] > 100.0
    assert rs[-1] > 4 * fs[-1]
    assert np.std(fs[5:]) / np.mean(fs[5:]) < 0.05


def test_ib_bursts_then_spikes_tonically():
    d = isis("IB")
    assert np.all(d[:2] < 6.0)                      # an initial burst of three spikes
    tonic = d[2:]
    assert tonic.size >= 20 and np.all(tonic > 25.0)
    assert np.std(tonic[1:]) / np.mean(tonic[1:]) < 0.05   # then regular, single spikes


def test_ch_bursts_repeatedly():
    d = isis("CH")
    long = np.flatnonzero(d > 30.0)                 # the gaps between bursts
    assert long.size >= 15
    # Between consecutive gaps, a burst: at least two short intervals, every time.
    within = np.diff(long) - 1
    assert np.all(within >= 2)
    assert np.all(d[d <= 30.0] < 6.0)


def rebound(preset: str, I: float = -10.0) -> np.ndarray:
    """Spike times after 100 ms of hyperpolarising current (``I`` via a fast exp synapse)."""
    dt = 0.1
    b = izhikevich.PRESETS[preset]["b"]
    v0, u0 = REST[b]
    net = Network(dt=dt, t_stop=300.0)
    net.add_population("drive", 1, "spike_train", {"times": [list(np.round(np.arange(1, 1001) * dt, 10))]})
    net.add_population("n", 1, "izhikevich", {"preset": preset}, {"V_m": v0, "U_m": u0})
    # A spike every step into an exp current of tau 1 ms: a current of I pA (= I paper
    # units at C_m = 1 pF) for 100 ms, switched off within about a millisecond.
    net.add_projection("drive", "n", {"rule": "all_to_all"}, {"kind": "exp", "tau": 1.0},
                       I * (1 - np.exp(-dt / 1.0)), dt)
    net.add_spike_monitor("n")
    return Simulation(net).run().spikes.of(1, 2).time


def test_lts_rebounds_after_inhibition_and_rs_does_not():
    lts = rebound("LTS")
    assert lts.size >= 1
    assert np.all(lts > 100.0) and lts[0] < 130.0   # after the release, not during
    assert rebound("RS").size == 0
    assert rebound("FS").size == 0


def test_paper_scheme_matches_the_papers_code():
    """At dt = 1 ms, the paper's MATLAB loop (two 0.5 ms half-steps of v, then u)."""
    presets = ["RS", "IB", "CH", "FS", "LTS"]
    I = np.array([10.0, 10.0, 10.0, 10.0, 10.0])
    net = Network(dt=1.0, t_stop=300.0)
    for name in presets:
        net.add_population(name, 1, "izhikevich", {"preset": name, "I_e": 10.0, "integration": "paper"})
        net.add_spike_monitor(name)
    res = Simulation(net).run()
    a = np.array([izhikevich.PRESETS[p]["a"] for p in presets])
    b = np.array([izhikevich.PRESETS[p]["b"] for p in presets])
    c = np.array([izhikevich.PRESETS[p]["c"] for p in presets])
    d = np.array([izhikevich.PRESETS[p]["d"] for p in presets])
    v = np.full(5, -65.0)
    u = b * v
    firings = []
    for t in range(300):           # the paper's loop; a spike seen at t is our step t
        fired = np.flatnonzero(v >= 30)
        firings += [(t, i) for i in fired]
        v[fired] = c[fired]
        u[fired] += d[fired]
        v = v + 0.5 * (0.04 * v ** 2 + 5 * v + 140 - u + I)
        v = v + 0.5 * (0.04 * v ** 2 + 5 * v + 140 - u + I)
        u = u + a * (b * v - u)
    got = sorted((int(s), int(g)) for s, g in zip(res.spikes.step, res.spikes.gid))
    assert got == sorted(firings)
    assert len(got) > 20


@pytest.mark.parametrize("preset", ["RS", "FS", "CH"])
def test_accurate_scheme_spike_times_converge_as_dt_halves(preset):
    """Against dt = 1/320 ms: within 2.5 steps at every dt over 8 to 42 spikes (the reset
    is placed within its sub-step, so errors do not add up spike after spike), and
    shrinking with dt."""
    ref = np.cumsum(isis(preset, t_stop=300.0, dt=0.003125))
    err = {}
    for dt in (0.1, 0.05, 0.025):
        t = np.cumsum(isis(preset, t_stop=300.0, dt=dt))
        assert t.size == ref.size
        err[dt] = np.max(np.abs(t - ref))
        assert err[dt] <= 2.5 * dt
    assert err[0.025] < err[0.1] / 2


def test_preset_fills_and_explicit_fields_override():
    net = Network()
    p = net.add_population("a", 1, "izhikevich", {"preset": "CH", "d": 3.0}).params
    assert (p.a, p.b, p.c, p.d) == (0.02, 0.2, -50.0, 3.0)
    assert net.add_population("b", 1, "izhikevich").params == izhikevich.Params(**izhikevich.PRESETS["RS"])


@pytest.mark.parametrize("params,pattern", [
    ({"preset": "XX"}, r"preset must be one of 'RS', 'IB', 'CH', 'FS', 'LTS', 'TC', 'RZ', got 'XX'"),
    ({"a": 0.0}, r"a must be > 0 \(1/ms\), got 0.0"),
    ({"c": 40.0}, r"c must be < V_peak = 30.0 mV, got 40.0"),
    ({"C_m": -1.0}, r"C_m must be > 0 \(pF\), got -1.0"),
    ({"integration": "euler"}, r"integration must be one of 'accurate', 'paper', got 'euler'"),
    ({"d": "8"}, r"d must be a number \(mV/ms\), got '8'"),
    ({"tau": 1.0}, r"unknown parameter 'tau'"),
])
def test_bad_parameters(params, pattern):
    with pytest.raises(ValueError, match=r"Population 'iz': " + pattern):
        Network().add_population("iz", 1, "izhikevich", params)
