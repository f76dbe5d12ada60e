"""The microcircuit example: the TOML file is what scripts/microcircuit.py writes, and a
scaled-down build has NEST's derived synapse counts, weights, DC compensation and input."""

from __future__ import annotations

import math
import os
import sys

import numpy as np

import distsnn as ds

from .mpi.launch import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import microcircuit as mc  # noqa: E402


def test_example_file_is_the_generated_network():
    assert ds.load_network(os.path.join(ROOT, "examples", "microcircuit.toml")) == mc.network(0.1, 0.1, 55)


def test_derived_parameters_follow_nest():
    # PSC of a 0.15 mV PSP for C_m 250 pF, tau_m 10 ms, tau_syn 0.5 ms: 87.81 pA (NEST's example).
    assert abs(mc.PSP_EXC_MEAN * mc.psc_over_psp(250.0, 10.0, 0.5) - 87.81) < 0.01
    full = mc.derived(1.0, 1.0)
    assert full["sizes"].sum() == 77169 and np.all(full["dc"] == 0)
    assert full["w"][0, 2] == 2 * full["w"][0, 0] and full["w"][0, 1] == -4 * full["w"][0, 0]
    half = mc.derived(1.0, 0.25)
    np.testing.assert_allclose(half["w"], full["w"] * 2)
    assert np.all(half["dc"] > 0) and np.all(half["k_ext"] == np.round(mc.K_EXT * 0.25))


def test_small_build_has_the_derived_counts():
    net = mc.network(0.02, 0.05, seed=3, t_stop=50.0)
    d = mc.derived(0.02, 0.05)
    sim = ds.Simulation(net)
    assert net.size == d["sizes"].sum()
    assert sim.n_synapses == d["n_syn"].sum()
    assert set(net.currents) == {f"dc_{p}" for p in mc.POPULATIONS}
    inp = net.inputs["bg_L4E"]
    assert inp.rate == mc.BG_RATE * d["k_ext"][2] and math.isclose(inp.weight, d["w_ext"])
    res = sim.run()
    assert len(res.spikes) > 0


def test_bench_microcircuit_prints_rates_per_seed():
    import json
    import subprocess

    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench_microcircuit.py"), "--n-scaling",
                           "0.01", "--k-scaling", "0.05", "--seeds", "1", "2", "--t-presim", "50", "--t-sim", "100",
                           "--nest-python", "none"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1][len("RESULT "):])
    assert [r["seed"] for r in out["runs"]] == [1, 2] and out["nest"] == []
    assert set(out["runs"][0]["rates"]) == set(mc.POPULATIONS)
    assert out["runs"][0]["rates"] != out["runs"][1]["rates"]
