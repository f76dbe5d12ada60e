"""Conductance-based LIF (NEST ``iaf_cond_exp``-like): the exponential integrator against a
high-accuracy reference, threshold and refractoriness, parameter errors, and the COBA
benchmark network of ``examples/coba.toml`` / ``scripts/bench_coba.py``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from distsnn import Network, Simulation, config
from distsnn.models import lif_cond

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Input: an excitatory and an inhibitory conductance (COBA's), and a current-based double
# exponential, driven by spike trains; arrival steps = spike step + 1 (delay one step).
SYN = [({"kind": "exp", "mode": "conductance", "tau": 5.0, "e_rev": 0.0}, 6.0),
       ({"kind": "exp", "mode": "conductance", "tau": 10.0, "e_rev": -80.0}, 67.0),
       ({"kind": "double_exp", "tau_rise": 0.5, "tau_decay": 3.0}, 40.0)]
TRAINS = [[1.0, 3.0, 3.5, 4.0, 10.0, 10.5, 11.0, 11.5, 12.0, 30.0, 31.0, 32.0, 33.0],
          [6.0, 20.0, 21.0, 40.0],
          [2.0, 15.0, 16.0, 45.0]]
PARAMS = dict(C_m=200.0, g_L=10.0, E_L=-60.0, V_th=0.0, V_reset=-60.0, t_ref=5.0, I_e=150.0)


def simulated(dt: float, t_stop: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    net = Network(dt=dt, t_stop=t_stop)
    net.add_population("n", 1, "lif_cond", PARAMS)
    for i, ((syn, w), times) in enumerate(zip(SYN, TRAINS)):
        net.add_population(f"g{i}", 1, "spike_train", {"times": [times]})
        net.add_projection(f"g{i}", "n", {"rule": "all_to_all"}, syn, w, dt)
    net.add_state_monitor("n", "V_m")
    tr = Simulation(net).run().trace("n", "V_m")
    return tr.time, tr.values[:, 0]


def reference(t_eval: np.ndarray, dt: float, fine: int = 20) -> np.ndarray:
    """RK4 with steps dt / fine; conductances in closed form from the arrival times."""
    p = PARAMS
    events = []   # (arrival time, component coefficient, tau, e_rev or None)
    for (syn, w), times in zip(SYN, TRAINS):
        for t in times:
            arrival = (round(t / dt) + 1) * dt
            if syn["kind"] == "exp":
                events.append((arrival, w, syn["tau"], syn.get("e_rev")))
            else:
                tr, td = syn["tau_rise"], syn["tau_decay"]
                tp = tr * td / (td - tr) * math.log(td / tr)
                f = 1 / (math.exp(-tp / td) - math.exp(-tp / tr))
                events += [(arrival, w * f, td, None), (arrival, -w * f, tr, None)]
    ev_t = np.array([e[0] for e in events])
    ev_c = np.array([e[1] for e in events])
    ev_tau = np.array([e[2] for e in events])
    cond = np.array([e[3] is not None for e in events])
    ev_e = np.array([e[3] if e[3] is not None else 0.0 for e in events])

    def f(t, V, on):
        g = np.where(on, ev_c * np.exp(-(t - ev_t) / ev_tau), 0.0)
        I = np.sum(np.where(cond, g * (ev_e - V), g))
        return (-p["g_L"] * (V - p["E_L"]) + p["I_e"] + I) / p["C_m"]

    h = dt / fine
    V, t, out = p["E_L"], 0.0, [p["E_L"]]
    for k in range(1, t_eval.size):
        # An arrival at step a acts on the steps after it (its weight is added after that
        # step's update): during the step from k - 1 to k, the arrivals at steps <= k - 1.
        on = ev_t <= (k - 1) * dt + 1e-9
        for _ in range(fine):
            k1 = f(t, V, on)
            k2 = f(t + h / 2, V + h / 2 * k1, on)
            k3 = f(t + h / 2, V + h / 2 * k2, on)
            k4 = f(t + h, V + h * k3, on)
            V += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            t += h
        t = k * dt
        out.append(V)
    return np.array(out)


def test_exponential_integrator_against_rk4_reference():
    errors = {}
    for dt in (0.1, 0.05):
        t, V = simulated(dt)
        ref = reference(t, dt)
        assert V.max() < PARAMS["V_th"] and np.ptp(V) > 10.0    # subthreshold, well driven
        errors[dt] = np.max(np.abs(V - ref))
    assert errors[0.1] < 1e-3                    # mV, at the default dt (3.5e-4 when written)
    assert 3.0 < errors[0.1] / errors[0.05] < 5.0   # second order


def test_exact_without_synapses():
    """Constant input: the exponential update is the exact solution."""
    p = lif_cond.Params(C_m=250.0, g_L=16.6667, I_e=200.0, V_th=100.0)
    c = lif_cond.prepare(p, 0.1, ())
    s = lif_cond.init_state(c, {}, np.arange(1))
    for n in range(1, 501):
        s, _ = lif_cond.step(s, np.zeros((0, 1)), c, n)
    V_inf = p.E_L + p.I_e / p.g_L
    expected = V_inf + (p.E_L - V_inf) * math.exp(-50.0 * p.g_L / p.C_m)
    assert s.V[0] == pytest.approx(expected, abs=1e-10)


def test_threshold_reset_and_refractory_clamp():
    net = Network(dt=0.1, t_stop=100.0)
    net.add_population("n", 1, "lif_cond", {"I_e": 600.0, "t_ref": 2.0})
    net.add_spike_monitor("n")
    net.add_state_monitor("n", "V_m")
    res = Simulation(net).run()
    V = res.trace("n", "V_m").values[:, 0]
    steps = res.spikes.step
    assert steps.size >= 3
    for s in steps[:-1]:
        assert V[s - 1] < -55.0 and np.all(V[s: s + 21] == -60.0) and V[s + 21] > -60.0
    assert np.all(np.diff(steps) == steps[1] - steps[0])


def test_defaults_are_nests_iaf_cond_exp():
    p = Network().add_population("n", 1, "lif_cond").params
    assert (p.C_m, p.g_L, p.E_L, p.V_th, p.V_reset, p.t_ref, p.I_e) == \
        (250.0, 16.6667, -70.0, -55.0, -60.0, 2.0, 0.0)


@pytest.mark.parametrize("params,pattern", [
    ({"g_L": 0.0}, r"g_L must be > 0 \(nS\), got 0.0"),
    ({"C_m": -250.0}, r"C_m must be > 0 \(pF\), got -250.0"),
    ({"t_ref": -1.0}, r"t_ref must be >= 0 \(ms\), got -1.0"),
    ({"V_reset": -50.0}, r"V_reset must be < V_th = -55.0 mV, got -50.0"),
    ({"E_ex": 0.0}, r"unknown parameter 'E_ex'"),
    ({"I_e": "200"}, r"I_e must be a number \(pA\), got '200'"),
])
def test_bad_parameters(params, pattern):
    with pytest.raises(ValueError, match=r"Population 'c': " + pattern):
        Network().add_population("c", 1, "lif_cond", params)


def test_coba_example_runs_near_the_anchors_rate():
    net = config.load(os.path.join(ROOT, "examples", "coba.toml"))
    assert net.size == 4000 and len(net.projections) == 4
    res = Simulation(net).run(300.0)
    # NEST 3.10 and Brian2 give 19-22 Hz over 1 s; the first 300 ms include the onset.
    assert 12.0 < res.summary["mean_rate_hz"] < 30.0
    assert 0.8 < res.isi_cv() < 2.0


def test_bench_coba_prints_a_result_line():
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench_coba.py"), "--neurons", "500",
                           "--time-ms", "100"], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT "):])
    assert out["bench"] == "coba" and out["N"] == 500 and out["spikes"] > 0


def test_bench_coba_profile_reports_one_rank_and_one_step_epochs():
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench_coba.py"), "--profile", "--neurons",
                           "400", "--time-ms", "50"], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("1 rank, 400 neurons, 500 steps in epochs of 100:") and "ns per neuron-step" in lines[0]
    # COBA's one-step delays cross ranks: rank 0 of 2 runs epochs of one step
    assert len(lines) == 3 and all("epochs of 1 step(s), no exchange" in ln for ln in lines[1:])
    assert "100 neurons" in lines[2]
