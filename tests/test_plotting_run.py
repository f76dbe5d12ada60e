"""Pictures of a run, checked through their artists: the dots, lines and bars drawn must be
the recorded spikes, traces and the histograms of their intervals."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="distsnn.plotting needs matplotlib (the plot extra)")

import distsnn as ds
from distsnn import plotting
from distsnn.plotting import measures
from distsnn.results import Result, Spikes

from .mpi.launch import mpirun, needs_mpi, plain

TWO_POPS = """
[simulation]
dt = 0.1
t_stop = 200.0
seed = 11

[[population]]
name = "exc"
size = 160
model = "lif"
params = { tau_m = 20.0, V_th = 20.0, V_reset = 10.0, E_L = 0.0, t_ref = 2.0 }
initial = { V_m = { dist = "uniform", low = 0.0, high = 20.0 } }

[[population]]
name = "inh"
size = 40
model = "lif"
params = { tau_m = 20.0, V_th = 20.0, V_reset = 10.0, E_L = 0.0, t_ref = 2.0 }
initial = { V_m = { dist = "uniform", low = 0.0, high = 20.0 } }

[[projection]]
pre = "exc"
post = "inh"
connector = { rule = "fixed_indegree", indegree = 20 }
synapse = "delta"
weight = 0.2
delay = 1.5

[[projection]]
pre = "inh"
post = "exc"
connector = { rule = "fixed_indegree", indegree = 10 }
synapse = { kind = "exp", tau = 5.0 }
weight = -20.0
delay = 2.0

[[poisson_input]]
name = "drive"
target = "exc"
rate = 18000.0
weight = 0.1

[[poisson_input]]
name = "drive_inh"
target = "inh"
rate = 14000.0
weight = 0.1

[[monitor]]
kind = "spikes"
population = "exc"

[[monitor]]
kind = "spikes"
population = "inh"

[[monitor]]
kind = "state"
population = "exc"
variables = ["V_m", "I_syn"]
neurons = [0, 3, 7]
interval = 0.5
"""


@pytest.fixture(scope="module")
def run() -> Result:
    res = ds.simulate(ds.loads(TWO_POPS))
    for pop in ("exc", "inh"):
        assert len(res.spikes_of(pop)) > 200, f"the test network's {pop} must be active"
    return res


def _by_label(ax) -> dict:
    return {c.get_label(): c for c in ax.collections}


def test_raster_dots_are_the_spikes_coloured_by_population(run):
    ax = plotting.raster(run)
    dots = _by_label(ax)
    assert set(dots) == {"exc", "inh"}
    for pop in ("exc", "inh"):
        s = run.spikes_of(pop)
        np.testing.assert_array_equal(dots[pop].get_offsets(), np.column_stack([s.time, s.gid]))
    colours = [tuple(dots[p].get_facecolor()[0]) for p in ("exc", "inh")]
    assert colours[0] != colours[1]
    assert ax.get_xlim() == (0.0, 200.0) and ax.get_title() == "spikes"
    # Into a given Axes, with a window and one population.
    fig = plotting.canvas.figure(4, 3)
    given = fig.subplots()
    assert plotting.raster(run, given, populations=["inh"], t_start=50.0, t_stop=100.0) is given
    s = run.spikes_of("inh")
    keep = (s.time >= 50.0) & (s.time <= 100.0)
    np.testing.assert_array_equal(given.collections[0].get_offsets()[:, 0], s.time[keep])


def test_raster_thins_to_every_kth_neuron_of_each_population(run):
    # 200 neurons, at most 60: every ceil(200 / 60) = 4th, counted from each first gid.
    ax = plotting.raster(run, max_neurons=60)
    dots = _by_label(ax)
    for pop, lo in (("exc", 0), ("inh", 160)):
        s = run.spikes_of(pop)
        keep = (s.gid - lo) % 4 == 0
        np.testing.assert_array_equal(dots[pop].get_offsets()[:, 1], s.gid[keep])
    assert "1 neuron in 4 shown" in ax.get_title()
    # The spike bound alone: S spikes, at most S // 3 drawn -> every 4th neuron.
    n = len(run.spikes)
    assert measures.raster_stride([160, 40], n, 10_000, n // 3) == 4
    assert measures.raster_stride([160, 40], n, 10_000, n) == 1
    with pytest.raises(ValueError, match="max_neurons and max_spikes must be >= 1"):
        plotting.raster(run, max_neurons=0)


def test_rates_are_the_binned_spike_counts(run):
    ax = plotting.rates(run, bin_ms=5.0)
    steps = {p.get_label(): p for p in ax.patches}
    assert set(steps) == {"exc", "inh"}
    for pop, size in (("exc", 160), ("inh", 40)):
        data = steps[pop].get_data()
        np.testing.assert_allclose(data.edges, np.arange(41) * 5.0)
        # Bin k holds the spikes emitted in (5k, 5k + 5] ms, i.e. steps 50k + 1 .. 50k + 50.
        st = run.spikes_of(pop).step
        want = np.array([((st > 50 * k) & (st <= 50 * k + 50)).sum() for k in range(40)])
        np.testing.assert_allclose(data.values, want / (size * 5e-3))
        # Every spike is in one bin: the mean rate over bins is the population's mean rate.
        assert data.values.mean() == pytest.approx(st.size / (size * 0.2))
    assert "bins of 5 ms" in ax.get_title()
    # 7 ms bins: 28 full ones, then steps 1961 .. 2000 (4 ms) to the end of the run.
    edges, rate = measures.population_rates(run, 7.0, ["exc"])["exc"]
    st = run.spikes_of("exc").step
    assert edges.size == 30 and edges[-2] == pytest.approx(196.0) and edges[-1] == 200.0
    assert rate[-1] == pytest.approx((st > 1960).sum() / (160 * 4e-3))
    assert rate[0] == pytest.approx((st <= 70).sum() / (160 * 7e-3))
    # Default bin: 200 ms at most 200 bins -> 1 ms.
    edges, _ = measures.population_rates(run)["exc"]
    assert edges[1] - edges[0] == pytest.approx(1.0) and edges.size == 201
    assert measures.auto_bin(500.0, 0.1) == 5.0 and measures.auto_bin(600_000.0, 0.1) == 5000.0
    assert measures.auto_bin(1.0, 0.1) == 0.1
    with pytest.raises(ValueError, match="bin_ms must be a finite number > 0 ms, got -1"):
        plotting.rates(run, bin_ms=-1)
    with pytest.raises(ValueError, match="no population 'nope'"):
        plotting.rates(run, populations=["nope"])


def test_rates_come_from_the_rate_monitor_when_it_counted(run):
    counts = np.array([3, 0, 8, 5])
    fake = SimpleNamespace(spikes=run.spikes, traces={}, summary=run.summary, populations=run.populations,
                           rates={"inh": SimpleNamespace(bin_ms=60.0, t_start=10.0, counts=counts, size=40)})
    series = measures.population_rates(fake)
    edges, rate = series["inh"]
    # Bins from 10 ms on; the last one (190 .. 250 ms) counted only up to the end, 200 ms.
    np.testing.assert_allclose(edges, [10, 70, 130, 190, 200])
    np.testing.assert_allclose(rate, counts / (40 * np.array([0.06, 0.06, 0.06, 0.01])))
    assert set(series) == {"inh", "exc"}   # exc has no rate monitor: binned from its spikes


def test_a_real_rate_monitor_agrees_with_the_spikes():
    # The run's own rate monitor (7 ms bins, the last cut at 200 ms) is what gets drawn,
    # and it is what binning the recorded spikes gives.
    res = ds.simulate(ds.loads(TWO_POPS + '\n[[monitor]]\nkind = "rate"\npopulation = "inh"\nbin = 7.0\n'))
    assert set(res.rates) == {"inh"}
    ax = plotting.rates(res, bin_ms=7.0)
    drawn = {p.get_label(): p.get_data() for p in ax.patches}
    edges, rate = measures.binned_rate(res.spikes_of("inh"), 40, 70, 0.1, 200.0)
    np.testing.assert_allclose(drawn["inh"].edges, edges)
    np.testing.assert_allclose(drawn["inh"].values, rate)
    assert drawn["inh"].edges[-1] == 200.0 and res.rates["inh"].counts.sum() == len(res.spikes_of("inh"))
    np.testing.assert_allclose(drawn["exc"].edges, edges)   # exc: binned from its spikes


def test_traces_lines_are_the_samples(run):
    tr = run.trace("exc", "V_m")
    ax = plotting.traces(run, population="exc", variable="V_m")
    assert len(ax.lines) == 3
    for j, line in enumerate(ax.lines):
        np.testing.assert_array_equal(line.get_xdata(), tr.time)
        np.testing.assert_array_equal(line.get_ydata(), tr.values[:, j])
        assert line.get_label() == f"gid {tr.gids[j]}"
    assert ax.get_ylabel() == "V_m (mV)"
    ax = plotting.traces(run, variable="I_syn", max_neurons=2)
    assert len(ax.lines) == 2 and ax.get_ylabel() == "I_syn (pA)" and "2 of 3 neurons" in ax.get_title()
    with pytest.raises(ValueError, match="nothing recorded for population='inh'"):
        plotting.traces(run, population="inh")
    assert plotting.traces(run, t_start=20.0, t_stop=40.0).get_xlim() == (20.0, 40.0)
    assert plotting.rates(run, t_start=20.0).get_xlim() == (20.0, 200.0)


def test_isi_and_cv_histograms_count_the_intervals(run):
    # ISIs by hand, neuron by neuron.
    isi, cvs = [], []
    for g in np.unique(run.spikes.gid):
        st = np.sort(run.spikes.step[run.spikes.gid == g])
        if st.size >= 2:
            d = np.diff(st)
            isi.append(d * 0.1)
            cvs.append(d.std() / d.mean())
    isi, cvs = np.concatenate(isi), np.array(cvs)
    np.testing.assert_allclose(np.sort(measures.interspike_intervals(run)), np.sort(isi))
    np.testing.assert_allclose(measures.cv_per_neuron(run), cvs)
    assert measures.cv_per_neuron(run).mean() == pytest.approx(run.isi_cv(), rel=1e-12)
    ax = plotting.isi_histogram(run, bins=20)
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_array_equal(heights, np.histogram(isi, 20, (0.0, isi.max()))[0])
    ax = plotting.cv_histogram(run, bins=15)
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_array_equal(heights, np.histogram(cvs, 15, (0.0, cvs.max()))[0])
    assert ax.lines[0].get_xdata()[0] == pytest.approx(run.isi_cv())
    # Spikes out of step order (a hand-made Result) give the same numbers.
    perm = np.random.default_rng(1).permutation(len(run.spikes))
    shuffled = Result(Spikes(run.spikes.gid[perm], run.spikes.step[perm], run.spikes.time[perm]),
                      populations=run.populations)
    np.testing.assert_allclose(measures.cv_per_neuron(shuffled), cvs)


def test_default_populations_are_those_that_spiked(run):
    exc_only = Result(run.spikes_of("exc"), run.traces, run.summary, run.populations)
    assert measures.select(exc_only, None) == ["exc"]
    assert [c.get_label() for c in plotting.raster(exc_only).collections] == ["exc"]
    # Named explicitly, a silent population is drawn (an empty band, a zero rate).
    assert set(measures.population_rates(exc_only, 5.0, ["exc", "inh"])) == {"exc", "inh"}
    assert not measures.population_rates(exc_only, 5.0, ["inh"])["inh"][1].any()
    # A result that does not know its populations is one population over all gids.
    bare = Result(run.spikes)
    assert measures.populations(bare) == {"all": (0, int(run.spikes.gid.max()) + 1)}


def test_traffic_matrix_from_per_destination_counts(run):
    ax = plotting.traffic(run)
    assert not ax.images and "1 rank" in ax.texts[0].get_text()
    sent = [[0, 5, 7], [2, 0, 1], [9, 4, 0]]
    per_rank = [{"rank": r, "sent_to": sent[r]} for r in range(3)]
    fake = Result(run.spikes, run.traces, {**run.summary, "per_rank": per_rank}, run.populations)
    ax = plotting.traffic(fake)
    np.testing.assert_array_equal(ax.images[0].get_array(), sent)
    assert {t.get_text() for t in ax.texts} == {str(v) for row in sent for v in row}
    old = Result(run.spikes, run.traces, {**run.summary, "per_rank": [{"rank": 0}, {"rank": 1}]},
                 run.populations)
    assert "no per-destination counts" in plotting.traffic(old).texts[0].get_text()


def test_save_run_plots_writes_and_says_what_it_skipped(run, tmp_path):
    done = plotting.save_run_plots(run, str(tmp_path / "p"), dpi=40)
    assert set(done.written) == {"raster", "rates", "isi_cv", "traces"}
    assert set(done.skipped) == {"traffic"}
    from matplotlib.image import imread

    for path in done.written.values():
        assert imread(path).ndim == 3
    silent = Result(run.spikes.of(0, 0), {}, run.summary, run.populations)
    done = plotting.save_run_plots(silent, str(tmp_path / "q"), dpi=40)
    assert done.written == {} and done.skipped["raster"] == "no spikes recorded"


def _check_plot_output(stdout: str, out_dir: str) -> dict[str, str]:
    written = {}
    for line in stdout.splitlines()[1:]:
        name, rest = line.split(None, 1)
        if not rest.startswith("not drawn"):
            written[name] = rest
            assert os.path.getsize(rest) > 1000 and rest.startswith(out_dir)
    return written


def test_cli_plot_draws_a_run_directory(tmp_path):
    cfg = tmp_path / "net.toml"
    cfg.write_text(TWO_POPS)
    out = tmp_path / "run"
    proc = plain(["-m", "distsnn.cli", "run", str(cfg), "--out", str(out), "--quiet"])
    assert proc.returncode == 0, proc.stderr
    proc = plain(["-m", "distsnn.cli", "plot", str(out)])
    assert proc.returncode == 0, proc.stderr
    written = _check_plot_output(proc.stdout, str(out / "plots"))
    assert set(written) == {"raster", "rates", "isi_cv", "traces"}
    assert "traffic  not drawn: the run used 1 rank" in proc.stdout
    bad = plain(["-m", "distsnn.cli", "plot", str(out), "--out", str(tmp_path / "x"), "--max-neurons", "0"])
    assert bad.returncode == 2 and "--max-neurons must be >= 1, got 0" in bad.stderr
    assert not (tmp_path / "x").exists()
    proc = plain(["-m", "distsnn.cli", "plot", str(out), "--out", str(tmp_path / "w"), "--from", "50",
                  "--to", "80", "--max-neurons", "50", "--bin", "2"])
    assert proc.returncode == 0, proc.stderr
    assert set(_check_plot_output(proc.stdout, str(tmp_path / "w"))) == set(written)
    bad = plain(["-m", "distsnn.cli", "plot", str(out), "--from", "80", "--to", "50"])
    assert bad.returncode == 2 and "--from must be < --to, got 80.0 and 50.0 ms" in bad.stderr
    bad = plain(["-m", "distsnn.cli", "plot", str(tmp_path / "missing")])
    assert bad.returncode == 2 and "does not exist" in bad.stderr


@needs_mpi
def test_plots_of_a_partitioned_run(tmp_path):
    cfg = tmp_path / "net.toml"
    cfg.write_text(TWO_POPS)
    out = tmp_path / "run"
    proc = mpirun(2, ["-m", "distsnn.cli", "run", str(cfg), "--out", str(out), "--quiet"])
    assert proc.returncode == 0, proc.stderr
    assert "  ranks          2 " in proc.stdout
    res = ds.load(str(out))
    ax = plotting.raster(res)
    # The merged run draws the same dots as the one-process run.
    ref = ds.simulate(ds.loads(TWO_POPS))
    got = np.concatenate([c.get_offsets() for c in ax.collections])
    want = np.column_stack([ref.spikes.time, ref.spikes.gid])
    np.testing.assert_array_equal(got[np.lexsort(got.T)], want[np.lexsort(want.T)])
    m, why = measures.traffic_matrix(res)
    if m is None:   # until the summary records per-destination counts
        assert "no per-destination counts" in why
        assert "no per-destination counts" in plotting.traffic(res).texts[0].get_text()
    else:
        sent = [r["sent_to"] for r in res.summary["per_rank"]]
        np.testing.assert_array_equal(plotting.traffic(res).images[0].get_array(), sent)
        assert m.sum() > 0
