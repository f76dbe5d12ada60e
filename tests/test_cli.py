"""The command line end to end: `distsnn run` on a TOML network, its output and errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import distsnn as ds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SMALL = """
[simulation]
dt = 0.1
t_stop = 100.0
seed = 3

[[population]]
name = "exc"
size = 200
model = "lif"
params = { tau_m = 20.0, V_th = 20.0, V_reset = 10.0, E_L = 0.0, t_ref = 2.0 }
initial = { V_m = { dist = "uniform", low = 0.0, high = 20.0 } }

[[projection]]
pre = "exc"
post = "exc"
connector = { rule = "fixed_probability", p = 0.1 }
synapse = { kind = "exp", tau = 2.0 }
weight = { dist = "normal", mean = 20.0, std = 5.0, low = 0.0 }
delay = { dist = "uniform", low = 1.0, high = 3.0 }

[[poisson_input]]
name = "drive"
target = "exc"
rate = 16000.0
weight = 0.12

[[monitor]]
kind = "spikes"
population = "exc"

[[monitor]]
kind = "state"
population = "exc"
variables = ["V_m", "I_syn"]
neurons = [0, 5]
"""


def _cli(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "distsnn.cli", *args], capture_output=True, text=True,
                          timeout=240, env=env, cwd=cwd)


def test_run_writes_records_equal_to_in_process_run(tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "out"
    proc = _cli("run", str(cfg), "--out", str(out), "--t-stop", "80")
    assert proc.returncode == 0, proc.stderr
    ref = ds.simulate(ds.load_network(str(cfg)), 80.0)
    assert f"spikes         {len(ref.spikes)}" in proc.stdout
    assert f"synapses       {ref.summary['synapses']}" in proc.stdout
    got = ds.load(str(out))
    assert len(ref.spikes) > 0
    np.testing.assert_array_equal(got.spikes.gid, ref.spikes.gid)
    np.testing.assert_array_equal(got.spikes.step, ref.spikes.step)
    np.testing.assert_allclose(got.spikes.time, ref.spikes.step * 0.1)
    for var in ("V_m", "I_syn"):
        np.testing.assert_array_equal(got.trace("exc", var).values, ref.trace("exc", var).values)
    assert got.trace("exc", "V_m").steps[-1] == 800


def test_seed_override_changes_spikes(tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    a, b = tmp_path / "a", tmp_path / "b"
    assert _cli("run", str(cfg), "--out", str(a), "--t-stop", "30").returncode == 0
    assert _cli("run", str(cfg), "--out", str(b), "--t-stop", "30", "--seed", "4").returncode == 0
    sa, sb = ds.load(str(a)).spikes, ds.load(str(b)).spikes
    assert len(sa) > 0 and len(sb) > 0
    assert not (len(sa) == len(sb) and np.array_equal(sa.gid, sb.gid))


def test_bad_config_fails_cleanly_and_writes_nothing(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(SMALL.replace("p = 0.1", "p = 1.5"))
    out = tmp_path / "out"
    proc = _cli("run", str(cfg), "--out", str(out))
    assert proc.returncode == 2
    assert "connector.p must be in [0.0, 1.0]" in proc.stderr and "1.5" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]])
def test_help(args):
    proc = _cli(*args)
    assert proc.returncode == 0
    assert "usage: distsnn" in proc.stdout


def test_demo_network_runs_end_to_end(tmp_path):
    """The README's demo network, shortened: realistic Brunel rates and a written record."""
    out = tmp_path / "brunel"
    proc = _cli("run", os.path.join(ROOT, "examples", "brunel.toml"), "--out", str(out), "--t-stop", "200")
    assert proc.returncode == 0, proc.stderr
    res = ds.load(str(out))
    rate = len(res.spikes) / (5000 * 0.2)
    assert 10.0 < rate < 150.0
    assert res.trace("exc", "V_m").values.shape == (201, 3)


def test_readme_demo_command_runs_on_two_ranks(tmp_path):
    """scripts/demo itself (set-up already done by scripts/test), shortened."""
    out = tmp_path / "brunel"
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "demo"), "--t-stop", "50"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "DISTSNN_OUT": str(out)})
    assert proc.returncode == 0, proc.stderr
    assert "ranks          2 (metis)" in proc.stdout
    res = ds.load(str(out))
    assert res.summary["ranks"] == 2 and len(res.spikes) > 0
    for name in ("raster", "rates"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000
        assert str(out / "plots" / f"{name}.png") in proc.stdout     # the demo says where they are
