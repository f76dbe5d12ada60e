"""Progress reports: when they go out, what they say, where, and that only rank 0 speaks."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

import distsnn as ds
from distsnn import progress
from distsnn.progress import Progress, format_line

from .mpi.launch import mpirun, needs_mpi, plain

SMALL = """
[simulation]
dt = 0.1
t_stop = 60.0
seed = 5

[[population]]
name = "exc"
size = 120
model = "lif"
params = { tau_m = 20.0, V_th = 20.0, V_reset = 10.0, E_L = 0.0, t_ref = 2.0 }
initial = { V_m = { dist = "uniform", low = 0.0, high = 20.0 } }

[[projection]]
pre = "exc"
post = "exc"
connector = { rule = "fixed_probability", p = 0.1 }
synapse = "delta"
weight = 0.2
delay = 1.5

[[poisson_input]]
name = "drive"
target = "exc"
rate = 16000.0
weight = 0.12

[[monitor]]
kind = "spikes"
population = "exc"
"""

LINE = re.compile(r"^\s*(\d+\.\d)%  t = ([\d.]+) / ([\d.]+) ms  wall ")


def _net() -> ds.Network:
    return ds.loads(SMALL)


def test_callable_gets_zero_first_one_last_and_every_epoch_between():
    calls = []
    sim = ds.Simulation(_net())
    sim.run(30.0, report=lambda *a: calls.append(a), report_period=0.0)
    fractions = [c[1] for c in calls]
    epochs = -(-300 // sim.epoch)
    # report_period 0: the start, after every epoch but the last, and the end.
    assert len(calls) == epochs + 1
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert np.all(np.diff(fractions) > 0)
    np.testing.assert_allclose(fractions[1:-1], np.arange(1, epochs) * sim.epoch / 300)
    assert all(c[2] == 0.0 and c[3] == pytest.approx(30.0) for c in calls)
    assert np.all(np.diff([c[0] for c in calls]) >= 0) and calls[0][0] >= 0
    # A second call continues from where the first stopped.
    calls.clear()
    sim.run(50.0, report=lambda *a: calls.append(a), report_period=0.0)
    assert calls[0][1:] == (0.0, pytest.approx(30.0), pytest.approx(20.0))
    assert calls[-1][1] == 1.0
    # Nothing left to simulate still reports the start and the end.
    calls.clear()
    sim.run(50.0, report=lambda *a: calls.append(a))
    assert [c[1] for c in calls] == [0.0, 1.0] and calls[0][3] == 0.0


def test_reports_are_rate_limited():
    calls = []
    ds.simulate(_net(), 60.0, report=lambda *a: calls.append(a[1]), report_period=3600.0)
    assert calls == [0.0, 1.0]


def test_simulate_and_run_check_the_report_before_any_work():
    net = _net()
    with pytest.raises(ValueError, match="report must be None, 'text', 'stdout', 'stderr' or a callable"):
        ds.simulate(net, report="verbose")
    with pytest.raises(ValueError, match=r"report_period must be a finite number >= 0 s, got -1"):
        ds.simulate(net, report="text", report_period=-1)
    sim = ds.Simulation(net)
    with pytest.raises(ValueError, match="report_period"):
        sim.run(20.0, report="text", report_period=float("nan"))
    assert sim.step == 0


def test_format_line_figures():
    # 2 s of wall time for half of 1000 ms: real-time factor 2 / 0.5 = 4, 2 s left.
    line = format_line(2.0, 0.5, 100.0, 1000.0)
    assert line == " 50.0%  t = 600.0 / 1100.0 ms  wall 2.0 s  real-time factor 4  about 2.0 s left"
    assert format_line(0.0, 0.0, 0.0, 10.0) == "  0.0%  t = 0.0 / 10.0 ms  wall 0.0 s"
    assert format_line(7384.0, 1.0, 0.0, 1000.0).endswith("wall 2 h 03 min  real-time factor 7384")
    assert "wall 2 min 05 s" in format_line(125.0, 0.25, 0.0, 1000.0)


def test_text_on_a_pipe_is_plain_lines(capsys):
    ds.simulate(_net(), 40.0, report="text", report_period=0.0)
    out = capsys.readouterr()
    assert "\r" not in out.out and out.err == ""
    lines = out.out.splitlines()
    assert len(lines) >= 3
    got = [LINE.match(x) for x in lines]
    assert all(got), lines
    assert [float(m.group(1)) for m in got][::len(got) - 1] == [0.0, 100.0]
    assert float(got[-1].group(2)) == 40.0 and "real-time factor" in lines[-1]
    ds.simulate(_net(), 20.0, report="stderr")
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.splitlines()) == 2


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_rewrites_one_line():
    term = _Terminal()
    p = Progress("text", 0.0, 100.0, period=0.0, stream=term)
    p.start()
    p.update(0.5)
    p.finish()
    text = term.getvalue()
    assert text.count("\r") == 3 and text.count("\n") == 1 and text.endswith("\n")
    # A run that raises midway still ends the line it left open.
    term = _Terminal()
    p = Progress("text", 0.0, 100.0, period=0.0, stream=term)
    p.start()
    p.close()
    assert term.getvalue().endswith("\n") and term.getvalue().count("\n") == 1


def test_only_rank_zero_reports():
    calls = []
    quiet = progress.reporter(lambda *a: calls.append(a), rank=1, t_start=0.0, duration=10.0)
    quiet.start()
    quiet.update(0.5)
    quiet.finish()
    assert calls == []
    loud = progress.reporter(lambda *a: calls.append(a), rank=0, t_start=0.0, duration=10.0)
    loud.start()
    loud.finish()
    assert [c[1] for c in calls] == [0.0, 1.0]


def test_cli_prints_plain_progress_lines_and_quiet_prints_none(tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    proc = plain(["-m", "distsnn.cli", "run", str(cfg)])
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stdout
    reports = [x for x in proc.stdout.splitlines() if LINE.match(x)]
    assert reports[0].lstrip().startswith("0.0%") and reports[-1].startswith("100.0%")
    assert "  spikes         " in proc.stdout
    proc = plain(["-m", "distsnn.cli", "run", str(cfg), "--quiet"])
    assert proc.returncode == 0, proc.stderr
    assert "%" not in proc.stdout and "%" not in proc.stderr
    assert "  spikes         " in proc.stdout


@needs_mpi
def test_mpi_run_reports_on_rank_zero_only(tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL)
    proc = mpirun(2, ["-m", "distsnn.cli", "run", str(cfg)])
    assert proc.returncode == 0, proc.stderr
    assert "  ranks          2 " in proc.stdout
    ends = [x for x in proc.stdout.splitlines() if x.startswith("100.0%")]
    starts = [x for x in proc.stdout.splitlines() if LINE.match(x) and x.lstrip().startswith("0.0%")]
    assert len(ends) == 1 and len(starts) == 1
