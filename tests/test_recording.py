"""Monitors and the streaming run files, in one process.

Every run here is small (a few hundred neurons, tens of ms); the MPI side (4 ranks,
h5py-only reading, crash of one rank, overwrite with fewer ranks, gather) is in
``test_recording_mpi.py``.
"""

from __future__ import annotations

import errno
import json
import os
import warnings

import h5py
import numpy as np
import pytest

import distsnn as ds
from distsnn import config
from distsnn.io import master, reader, rundir, sorting
from distsnn.selection import Selection

from .mpi.launch import plain


def net(monitors: bool = True) -> ds.Network:
    """LIF with a delta and two current channels, conductance LIF with two conductance channels."""
    n = ds.Network(dt=0.1, seed=11, t_stop=60.0)
    n.add_population("exc", 160, "lif", params=dict(tau_m=20.0, V_th=20.0, V_reset=10.0, E_L=0.0, t_ref=2.0),
                     initial={"V_m": ds.Uniform(0.0, 20.0)})
    n.add_population("cond", 40, "lif_cond", initial={"V_m": ds.Uniform(-70.0, -55.0)})
    n.add_projection("exc", "exc", ds.FixedInDegree(16), synapse={"kind": "exp", "tau": 2.0}, weight=30.0,
                     delay=1.0)
    n.add_projection("cond", "exc", ds.FixedInDegree(4), synapse={"kind": "exp", "tau": 8.0}, weight=-40.0,
                     delay=1.5)
    n.add_projection("exc", "cond", ds.FixedInDegree(10),
                     synapse={"kind": "exp", "mode": "conductance", "tau": 5.0, "e_rev": 0.0}, weight=2.0,
                     delay=1.0)
    n.add_projection("cond", "cond", ds.FixedInDegree(5),
                     synapse={"kind": "exp", "mode": "conductance", "tau": 10.0, "e_rev": -80.0},
                     weight=3.0, delay=1.0)
    n.add_poisson_input("drive", "exc", 16000.0, 0.15)
    n.add_poisson_input("cdrive", "cond", 8000.0, 1.0,
                        synapse={"kind": "exp", "mode": "conductance", "tau": 5.0, "e_rev": 0.0})
    if monitors:
        n.add_spike_monitor("exc")
        n.add_spike_monitor("cond")
        n.add_state_monitor("exc", ["V_m", "I_syn", "I_syn_2", "I_syn_3"], neurons=range(0, 160, 7))
        n.add_state_monitor("cond", ["V_m", "g_syn", "g_syn_1", "g_syn_2"], neurons=[3, 1, 30], interval=0.5)
        n.add_rate_monitor("exc", 5.0)
        n.add_rate_monitor("cond", 2.0)
    return n


@pytest.fixture(scope="module")
def memory():
    return ds.simulate(net())


def same(a: ds.Result, b: ds.Result) -> None:
    np.testing.assert_array_equal(a.spikes.gid, b.spikes.gid)
    np.testing.assert_array_equal(a.spikes.step, b.spikes.step)
    np.testing.assert_array_equal(a.spikes.time, b.spikes.time)
    assert sorted(a.traces) == sorted(b.traces)
    for k in a.traces:
        np.testing.assert_array_equal(a.traces[k].gids, b.traces[k].gids)
        np.testing.assert_array_equal(a.traces[k].steps, b.traces[k].steps)
        np.testing.assert_array_equal(a.traces[k].values, b.traces[k].values)
    assert sorted(a.rates) == sorted(b.rates)
    for k in a.rates:
        np.testing.assert_array_equal(a.rates[k].counts, b.rates[k].counts)
        assert a.rates[k].bin_ms == b.rates[k].bin_ms


# -- monitors ------------------------------------------------------------------------


def test_every_monitor_form_survives_the_toml_round_trip():
    n = net(monitors=False)
    n.add_spike_monitor("exc", neurons={"fraction": 0.25, "seed": 3}, start=10.0, stop=40.0)
    n.add_spike_monitor("cond", neurons=range(2, 30, 3))
    n.add_state_monitor("exc", "V_m", neurons={"fraction": 0.1}, interval=1.0, start=5.0, stop=50.0)
    n.add_state_monitor("cond", ["g_syn_2"], neurons=[4, 0])
    n.add_rate_monitor("cond", 0.5)
    text = config.dumps(n)
    again = config.loads(text)
    assert again == n and again.monitors == n.monitors
    assert again.monitors[0].neurons == Selection("fraction", fraction=0.25, seed=3)
    assert again.monitors[1].neurons == Selection("range", start=2, stop=30, step=3)
    assert again.monitors[3].neurons.items == (0, 4)
    assert config.dumps(again) == text


def test_random_fraction_is_keyed_by_seed_and_neuron_only():
    sel = Selection("fraction", fraction=0.3, seed=5)
    idx = sel.indices("exc", 1000, 99)
    u = ds.rng.uniform(ds.rng.stream_key(5, "select:exc"), np.arange(1000), 1)
    np.testing.assert_array_equal(idx, np.flatnonzero(u < 0.3))
    assert 250 < idx.size < 350
    # A prefix of a larger population picks the same neurons: the draw is per neuron.
    np.testing.assert_array_equal(sel.indices("exc", 2000, 99)[:idx.size], idx)
    # Without a seed: the network's.
    np.testing.assert_array_equal(Selection("fraction", fraction=0.3).indices("exc", 1000, 5), idx)


def test_subsets_and_windows_record_exactly_what_they_select(memory):
    n = net(monitors=False)
    n.add_spike_monitor("exc", neurons={"fraction": 0.5, "seed": 1}, start=10.0, stop=40.0)
    n.add_state_monitor("exc", "V_m", neurons=[5, 2], interval=0.5, start=10.0, stop=20.0)
    res = ds.simulate(n)
    full = memory.spikes_of("exc")
    chosen = Selection("fraction", fraction=0.5, seed=1).indices("exc", 160, 11)
    keep = np.isin(full.gid, chosen) & (full.step > 100) & (full.step <= 400)
    assert keep.sum() > 20
    np.testing.assert_array_equal(res.spikes.gid, full.gid[keep])
    np.testing.assert_array_equal(res.spikes.step, full.step[keep])
    assert res.summary["spikes_recorded"] == keep.sum()
    assert res.summary["spikes_emitted"] == memory.summary["spikes_emitted"] > keep.sum()
    tr = res.trace("exc", "V_m")
    np.testing.assert_array_equal(tr.steps, np.arange(100, 201, 5))
    np.testing.assert_array_equal(tr.gids, [2, 5])
    ref = memory.trace("exc", "V_m")   # every step, columns 0, 7, 14 ...: neuron 0 and 7 only
    assert ref.gids[0] == 0


def test_per_channel_state_adds_up_to_the_total(memory):
    exc = memory.trace("exc", "I_syn")
    # channel 1: delta (the Poisson drive); 2: exp tau 2 (excitatory); 3: exp tau 8 (inhibitory)
    one, two = memory.trace("exc", "I_syn_2").values, memory.trace("exc", "I_syn_3").values
    assert np.abs(one).max() > 1.0 and np.abs(two).max() > 1.0
    assert (one >= 0).all() and (two <= 0).all()
    np.testing.assert_allclose(one + two, exc.values, rtol=1e-12, atol=1e-9)
    g = memory.trace("cond", "g_syn").values
    g1, g2 = memory.trace("cond", "g_syn_1").values, memory.trace("cond", "g_syn_2").values
    assert g1.max() > 0 and g2.max() > 0
    np.testing.assert_allclose(g1 + g2, g, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pop,var,message", [
    ("exc", "I_syn_4", r"StateMonitor on 'exc': variable 'I_syn_4' names channel 4, but the population has "
                       r"3 synapse channel\(s\): delta, exp\(tau=2\), exp\(tau=8\)"),
    ("exc", "I_syn_1", r"StateMonitor on 'exc': variable 'I_syn_1': channel 1 is a delta synapse, which has "
                       r"no synaptic state"),
    ("exc", "g_syn_1", r"variables must be one of 'V_m', 'I_syn', 'surrogate_gradient', got 'g_syn_1'"),
    ("cond", "g_syn_3", r"names channel 3"),
])
def test_per_channel_variables_are_checked_before_the_run(pop, var, message):
    n = net(monitors=False)
    with pytest.raises(ValueError, match=message):
        n.add_state_monitor(pop, var)
        ds.Simulation(n)


def test_conductance_of_a_current_channel_and_state_of_a_delta_channel_are_refused():
    n = ds.Network()
    n.add_population("a", 5, "lif_cond")
    n.add_population("b", 5, "lif")
    n.add_projection("a", "b", ds.AllToAll(), synapse="delta", weight=1.0, delay=1.0)
    n.add_state_monitor("b", "I_syn_1")
    with pytest.raises(ValueError, match=r"StateMonitor on 'b': variable 'I_syn_1': channel 1 is a delta "
                                         r"synapse, which has no synaptic state"):
        ds.Simulation(n)


@pytest.mark.parametrize("add,message", [
    (lambda n: n.add_state_monitor("exc", ["I_syn", "V_m"]),
     r"StateMonitor on 'exc': variable 'V_m' is already sampled by another state monitor of this population"),
    (lambda n: n.add_spike_monitor("exc", neurons=[1]), r"SpikeMonitor on 'exc': the population already has a "
                                                        r"spike monitor"),
    (lambda n: n.add_rate_monitor("exc", 1.0), r"RateMonitor on 'exc': the population already has a rate monitor"),
    (lambda n: n.add_rate_monitor("cond", 0.15), r"RateMonitor on 'cond': bin must be a whole number of steps"),
    (lambda n: n.add_spike_monitor("cond", start=20.0, stop=10.0), r"stop must be > start = 20.0 ms, got 10.0"),
    (lambda n: n.add_spike_monitor("cond", neurons={"fraction": 1.5}), r"neurons.fraction must be in \(0, 1\]"),
    (lambda n: n.add_spike_monitor("cond", neurons=[1, 1]), r"neurons must not repeat an index"),
    (lambda n: n.add_spike_monitor("cond", neurons=range(0, 50)), r"0 <= start < stop <= 40"),
])
def test_a_second_monitor_never_hides_the_first_and_bad_monitors_are_refused(add, message):
    n = net(monitors=False)
    n.add_spike_monitor("exc")
    n.add_state_monitor("exc", "V_m")
    n.add_rate_monitor("exc", 1.0)
    with pytest.raises(ValueError, match=message):
        add(n)


def test_monitor_windows_follow_the_time_grid_rule():
    n = net(monitors=False)
    with pytest.warns(ds.timegrid.TimeGridWarning, match=r"SpikeMonitor on 'exc': start = 10.04 ms is not a "
                                                       r"multiple of dt = 0.1 ms: rounded to the nearest step"):
        n.add_spike_monitor("exc", start=10.04)
    n.strict_time = True
    with pytest.raises(ValueError, match=r"StateMonitor on 'exc': stop = 20.05 ms is not a multiple of dt = "
                                         r"0.1 ms; strict_time is set"):
        n.add_state_monitor("exc", "V_m", stop=20.05)


def test_rates_are_the_histogram_of_every_spike(memory):
    for pop, b in (("exc", 50), ("cond", 20)):
        spikes = memory.spikes_of(pop)
        r = memory.rates[pop]
        expected = np.bincount((spikes.step - 1) // b, minlength=600 // b)
        np.testing.assert_array_equal(r.counts, expected)
        assert r.counts.dtype == np.int64 and r.counts.sum() == len(spikes) > 0
        np.testing.assert_allclose(r.edges, np.arange(600 // b + 1) * b * 0.1)
        np.testing.assert_allclose(r.rate_hz, expected / (memory.populations[pop][1] * b * 1e-4))


def test_runs_in_pieces_equal_one_run(memory, tmp_path):
    sim = ds.Simulation(net())
    sim.run(23.0)
    same(memory, sim.run(60.0))
    sim = ds.Simulation(net(), out=str(tmp_path / "o"), output=ds.OutputOptions(flush_every=1))
    sim.run(23.0)
    same(memory, sim.run(60.0))
    sim.close()
    same(memory, ds.load(str(tmp_path / "o")))


# -- files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    res = ds.simulate(net(), out=str(out), output=ds.OutputOptions(flush_every=2, compression="gzip", sort=True))
    return out, res


def test_files_read_back_equal_the_in_memory_run(memory, written):
    out, res = written
    back = ds.load(str(out))
    same(memory, back)
    same(memory, res)
    assert back.summary["complete"] is True
    assert back.summary["spikes_recorded"] == len(memory.spikes)
    assert back.populations == {"exc": (0, 160), "cond": (160, 40)}
    meta = back.metadata
    assert (meta["dt"], meta["seed"], meta["t_stop_ms"], meta["ranks"], meta["complete"]) == (0.1, 11, 60.0, 1, True)
    assert config.loads(meta["network"]) == net() and meta["partitioner"] == "metis"
    assert sorted(os.listdir(out)) == ["rank00000.h5", "report_I_syn.h5", "report_I_syn_2.h5",
                                       "report_I_syn_3.h5", "report_V_m.h5", "report_g_syn.h5",
                                       "report_g_syn_1.h5", "report_g_syn_2.h5", "run.h5", "spikes_sorted.h5",
                                       "spikes_sorted.part00000.h5"]


def _sorting(attr_owner) -> tuple[dict, int]:
    dtype = attr_owner.attrs.get_id("sorting").dtype
    return h5py.check_enum_dtype(dtype), dtype.itemsize


def test_sonata_layout_attribute_by_attribute(written):
    out, res = written
    enum = {"none": 0, "by_id": 1, "by_time": 2}
    for name, order in (("rank00000.h5", 2), ("run.h5", 0), ("spikes_sorted.h5", 2)):
        with h5py.File(out / name, "r") as f:
            assert f.attrs["magic"] == 0x0A7A and f.attrs["magic"].dtype == np.uint32, name
            np.testing.assert_array_equal(f.attrs["version"], [0, 1])
            assert f.attrs["version"].dtype == np.uint32
            for pop, size in (("exc", 160), ("cond", 40)):
                g = f[f"spikes/{pop}"]
                assert _sorting(g) == (enum, 1), name
                assert g.attrs["sorting"] == order
                assert g["timestamps"].dtype == np.float64 and g["timestamps"].attrs["units"] == "ms"
                assert g["node_ids"].dtype == np.uint64
                ids = g["node_ids"][()]
                assert ids.size and ids.min() >= 0 and ids.max() < size     # population-local
                np.testing.assert_array_equal(g["timestamps"][()], g["steps"][()] * 0.1)
                if order == 2:
                    assert np.all(np.diff(g["timestamps"][()]) >= 0)
    with h5py.File(out / "report_g_syn_1.h5", "r") as f:
        assert f.attrs["magic"] == 0x0A7A
        r = f["report/cond"]
        assert r["data"].shape == (121, 3) and r["data"].attrs["units"] == "nS"
        assert r["data"].is_virtual and r["data"].dtype == np.float32 and r["values"].dtype == np.float64
        np.testing.assert_array_equal(r["values"][()], res.trace("cond", "g_syn_1").values)
        np.testing.assert_array_equal(r["data"][()], res.trace("cond", "g_syn_1").values.astype(np.float32))
        assert r["mapping/time"].attrs["units"] == "ms"
        np.testing.assert_array_equal(r["mapping/node_ids"][()], [1, 3, 30])
        assert r["mapping/node_ids"].dtype == np.uint64
        np.testing.assert_array_equal(r["mapping/index_pointers"][()], [0, 1, 2, 3])   # N + 1
        np.testing.assert_array_equal(r["mapping/element_ids"][()], [0, 0, 0])
        np.testing.assert_allclose(r["mapping/time"][()], [0.0, 60.5, 0.5])
    with h5py.File(out / "report_V_m.h5", "r") as f:
        assert f["report/exc/data"].attrs["units"] == "mV" and f["report/exc/data"].shape == (601, 23)
    with h5py.File(out / "run.h5", "r") as f:
        m = f["metadata"]
        assert config.loads(m["network"][()].decode()) == net()
        np.testing.assert_array_equal(m["owner"][()], np.zeros(200))
        s = json.loads(m["summary"][()])
        assert s["ranks"] == 1 and s["per_rank"][0]["flushes"] >= 1
        for k in ("run_id", "ranks", "network_hash", "seed", "dt", "t_stop_ms", "partitioner", "command_line"):
            assert k in f.attrs, k
        assert json.loads(f.attrs["versions"])["numpy"] == np.__version__


def test_sorted_file_is_a_merge_of_the_rank_runs_for_any_block(written, tmp_path):
    out, res = written
    path = sorting.write_sorted(str(out), block=97)
    exc = res.spikes_of("exc")
    with h5py.File(path, "r") as f:
        assert f["spikes/exc/steps"].is_virtual
        st, ids = f["spikes/exc/steps"][()], f["spikes/exc/node_ids"][()]
    order = np.lexsort((exc.gid, exc.step))
    np.testing.assert_array_equal(st, exc.step[order])
    np.testing.assert_array_equal(ids, exc.gid[order])


class FakeComm:
    """``size`` ranks in one process: each call of write_sorted plays one rank."""

    def __init__(self, rank, size, shared):
        self.rank, self.size, self.shared = rank, size, shared

    def bcast(self, obj):
        if self.rank == 0:
            self.shared["b"] = obj
        return self.shared["b"]

    def gather(self, obj):
        self.shared.setdefault("g", []).append(obj)
        return self.shared["g"] if self.rank == 0 else None


def test_sorted_windows_split_the_spikes_evenly_and_join_in_order(written):
    out, res = written
    info = reader.open_run(str(out))
    cuts = sorting.plan(info, 3)
    for pop, c in cuts.items():
        n = np.histogram(res.spikes_of(pop).step, bins=np.array(c) + 0.5)[0]
        assert c[0] == -1 and c[-1] == 600 and np.all(np.diff(c) >= 0)
        assert n.sum() == len(res.spikes_of(pop)) and n.max() < 0.5 * n.sum()   # flushes every 2 ms
    for r in (1, 2):                   # the other ranks write their parts first
        sorting._write_part(sorting.part_path(str(out), r), info, cuts, r, 50)
    sorting.write_sorted(str(out), FakeComm(0, 3, {"b": cuts, "g": [None, None]}), block=50)
    with h5py.File(out / "spikes_sorted.h5", "r") as f:
        for pop in cuts:
            s = res.spikes_of(pop)
            order = np.lexsort((s.gid, s.step))
            np.testing.assert_array_equal(f[f"spikes/{pop}/steps"][()], s.step[order])
            lo = res.populations[pop][0]
            np.testing.assert_array_equal(f[f"spikes/{pop}/node_ids"][()].astype(np.int64) + lo, s.gid[order])
    for r in (1, 2):
        os.remove(sorting.part_path(str(out), r))
    sorting.write_sorted(str(out))     # back to one part for the other tests


def test_load_selects_population_gids_and_window_by_hyperslab(memory, written):
    out, _ = written
    part = ds.load(str(out), population="exc", gids=(20, 90), t_start=12.0, t_stop=33.3)
    s = memory.spikes
    keep = (s.gid >= 20) & (s.gid < 90) & (s.step >= 120) & (s.step < 333)
    np.testing.assert_array_equal(part.spikes.gid, s.gid[keep])
    np.testing.assert_array_equal(part.spikes.step, s.step[keep])
    assert sorted(part.traces) == [("exc", "I_syn"), ("exc", "I_syn_2"), ("exc", "I_syn_3"), ("exc", "V_m")]
    tr, ref = part.trace("exc", "V_m"), memory.trace("exc", "V_m")
    cols = (ref.gids >= 20) & (ref.gids < 90)
    rows = (ref.steps >= 120) & (ref.steps < 333)
    np.testing.assert_array_equal(tr.gids, ref.gids[cols])
    np.testing.assert_array_equal(tr.values, ref.values[rows][:, cols])
    assert list(part.rates) == ["exc"]
    with pytest.raises(ValueError, match=r"load: no population 'x'"):
        ds.load(str(out), population="x")
    with pytest.raises(ValueError, match=r"load: gids must be a pair of integers \(lo, hi\) with 0 <= lo < hi, "
                                         r"got \(5, 2\)"):
        ds.load(str(out), gids=(5, 2))
    with pytest.raises(ValueError, match=r"load: t_stop must be > t_start = 30.0 ms, got 10.0"):
        ds.load(str(out), t_start=30.0, t_stop=10.0)
    with pytest.raises(ValueError, match=r"load: .*nowhere' is not a directory"):
        ds.load(str(out / "nowhere"))


def test_inspect_describes_without_loading(written):
    out, res = written
    proc = plain(["-m", "distsnn.cli", "inspect", str(out)])
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "complete, simulated up to 60 ms of 60 ms" in text
    assert f"exc: {len(res.spikes_of('exc'))} recorded" in text
    assert "cond.g_syn_1 [nS]: 121 samples x 3 neurons" in text
    assert "rates          exc: 12 bins of 5 ms" in text


# -- safety --------------------------------------------------------------------------


def _cli_run(out, *extra):
    path = os.path.join(os.path.dirname(str(out)), "net.toml")
    ds.dump(net(), path)
    return plain(["-m", "distsnn.cli", "run", path, "--out", str(out), "--t-stop", "20", *extra])


def _run_into(out, overwrite=False):
    return ds.simulate(net(), 5.0, out=str(out), output=ds.OutputOptions(overwrite=overwrite))


def test_an_earlier_run_is_refused_then_replaced_with_overwrite(tmp_path):
    out = tmp_path / "out"
    _run_into(out)
    first = ds.load(str(out)).summary["run_id"]
    (out / "notes.txt").write_text("mine")
    proc = _cli_run(out)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"output directory {str(out)!r} holds an earlier run (rank00000.h5" in proc.stderr
    assert "pass --overwrite" in proc.stderr
    assert ds.load(str(out)).summary["run_id"] == first          # untouched
    _run_into(out, overwrite=True)
    assert ds.load(str(out)).summary["run_id"] != first
    assert (out / "notes.txt").read_text() == "mine"              # only run files are replaced
    assert not (out / rundir.LOCK).exists()


def test_a_locked_directory_is_refused_and_a_stale_lock_needs_overwrite(tmp_path):
    import socket

    out = tmp_path / "out"
    out.mkdir()
    lock = out / rundir.LOCK
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "run_id": "x"}))
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"is locked by another run \(pid \d+ on .*, run x"):
            _run_into(out, overwrite)
    dead = plain(["-c", "import os; print(os.getpid())"])
    lock.write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "run_id": "x"}))
    with pytest.raises(ValueError, match=r"it is stale \(that process is gone\): pass --overwrite"):
        _run_into(out)
    _run_into(out, overwrite=True)
    assert not lock.exists()


def test_two_simulations_cannot_write_one_directory(tmp_path):
    a = ds.Simulation(net(), out=str(tmp_path))
    with pytest.raises(ValueError, match=r"is locked by another run"):
        ds.Simulation(net(), out=str(tmp_path), output=ds.OutputOptions(overwrite=True))
    a.run(5.0)
    a.close()
    assert ds.load(str(tmp_path)).summary["completed_ms"] == 5.0


@pytest.mark.parametrize("case", ["file", "below_file", "read_only", "full"])
def test_bad_out_fails_before_the_simulation(tmp_path, monkeypatch, case):
    target = tmp_path / "f"
    if case in ("file", "below_file"):
        target.write_text("x")
        out = target if case == "file" else target / "sub" / "dir"
        msg = "is a file, not a directory" if case == "file" else f"lies below {str(target)!r}, which is a file"
    elif case == "read_only":
        tmp_path.joinpath("ro").mkdir(mode=0o555)
        if os.geteuid() == 0:     # root writes anyway: make the file system say what it says to users

            def refuse(*a, **k):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

            monkeypatch.setattr(rundir.os, "makedirs", refuse)
        out, msg = tmp_path / "ro" / "out", "cannot be created: Permission denied"
    else:
        real = os.fsync

        def full(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(rundir.os, "fsync", full)
        out, msg = tmp_path / "full", "is full: No space left on device"
    built = []
    monkeypatch.setattr(ds.engine.Simulation, "_build", lambda *a: built.append(1))
    with pytest.raises(ValueError, match=msg):
        ds.Simulation(net(), out=str(out))
    assert not built                                   # before any work
    if case == "full":
        monkeypatch.setattr(rundir.os, "fsync", real)
        assert not out.exists()                        # nothing left behind


def test_a_failure_while_writing_the_master_leaves_no_temporary_file(tmp_path, monkeypatch):
    def broken(f, *a):
        f.create_dataset("x", data=np.zeros(10))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(master, "_report", broken)
    with pytest.raises(OSError):
        ds.simulate(net(), 5.0, out=str(tmp_path))
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert not (tmp_path / rundir.LOCK).exists()


class Crash(RuntimeError):
    pass


def _crashing(sim: ds.Simulation, at: int) -> None:
    pop = sim.pops[0]
    step = pop.model.step

    def failing(state, x, prepared, n):
        if n == at:
            raise Crash(f"fails at step {at}")
        return step(state, x, prepared, n)

    pop.model = type("Failing", (), {"step": staticmethod(failing), "record": staticmethod(pop.model.record)})


def test_a_crash_leaves_readable_files_with_exactly_the_completed_records(memory, tmp_path):
    sim = ds.Simulation(net(), out=str(tmp_path), output=ds.OutputOptions(flush_every=3))
    _crashing(sim, 337)
    with pytest.raises(Crash):
        sim.run()
    assert not (tmp_path / "run.h5").exists() and not (tmp_path / rundir.LOCK).exists()
    with h5py.File(tmp_path / "rank00000.h5", "r") as f:
        done = int(f.attrs["completed_step"])
        assert f.attrs["complete"] == 0
    assert done == 330          # the epochs (10 steps) before the failing step
    with pytest.warns(RuntimeWarning, match=r"is incomplete: it simulated up to 33 ms of 60 ms"):
        res = ds.load(str(tmp_path))
    keep = memory.spikes.step <= done
    np.testing.assert_array_equal(res.spikes.gid, memory.spikes.gid[keep])
    np.testing.assert_array_equal(res.spikes.step, memory.spikes.step[keep])
    for key, tr in memory.traces.items():
        rows = tr.steps <= done
        np.testing.assert_array_equal(res.traces[key].values, tr.values[rows])
    np.testing.assert_array_equal(res.rates["exc"].counts, memory.rates["exc"].counts[:6])
    proc = plain(["-m", "distsnn.cli", "inspect", str(tmp_path)])
    assert "INCOMPLETE, simulated up to 33 ms of 60 ms" in proc.stdout


def test_load_refuses_files_of_different_runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    ds.simulate(net(), 5.0, out=str(a))
    ds.simulate(net(), 5.0, out=str(b))
    os.replace(b / "rank00000.h5", a / "rank00000.h5")
    with pytest.raises(ValueError, match=r"load: .* mixes files of different runs \(.*refusing to merge them"):
        ds.load(str(a))
    os.remove(a / "run.h5")
    with h5py.File(a / "rank00001.h5", "w") as f:     # a stray rank file of a larger run
        for k, v in h5py.File(a / "rank00000.h5", "r").attrs.items():
            f.attrs[k] = v
    with pytest.raises(ValueError, match=r"unexpected \['rank00001.h5'\]"):
        ds.load(str(a))


def test_collective_io_is_refused_at_once_without_parallel_h5py(tmp_path):
    if h5py.get_config().mpi:
        pytest.skip("this h5py has MPI")
    proc = _cli_run(tmp_path / "o", "--collective-io")
    assert proc.returncode == 2
    assert "--collective-io) needs h5py built with MPI (h5py.get_config().mpi is False" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_summary_counts_emitted_and_recorded_spikes(tmp_path):
    n = net(monitors=False)
    n.add_spike_monitor("cond")
    ds.dump(n, str(tmp_path / "net.toml"))
    out = tmp_path / "o"
    proc = plain(["-m", "distsnn.cli", "run", str(tmp_path / "net.toml"), "--t-stop", "20", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    res = ds.simulate(n, 20.0)
    s = res.summary
    assert s["spikes_recorded"] == len(res.spikes) < s["spikes_emitted"]
    sim = ds.Simulation(n, keep_records=False)         # counted, not kept
    dropped = sim.run(20.0)
    assert len(dropped.spikes) == 0 and dropped.summary["spikes_recorded"] == s["spikes_recorded"]
    assert f"spikes         {s['spikes_emitted']} emitted, {s['spikes_recorded']} recorded" in proc.stdout
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # a complete run loads without a warning
        back = ds.load(str(out))
    assert back.summary["spikes_recorded"] == s["spikes_recorded"]
    assert back.summary["spikes_emitted"] == s["spikes_emitted"]


def test_a_killed_run_leaves_files_that_load_up_to_their_last_flush(memory, tmp_path):
    """SIGKILL, not an exception: nothing runs after the kill, the files hold what the
    last flush wrote. The kill follows a flush by at most a poll interval, far from the next."""
    import signal
    import subprocess
    import sys
    import time

    from .mpi.launch import env

    n = net()
    n.t_stop = 100000.0
    path = tmp_path / "long.toml"
    ds.dump(n, str(path))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "distsnn.cli", "run", str(path), "--out", str(out),
                             "--flush-every", "300"], env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        done = 0
        while not done and time.monotonic() < deadline:
            time.sleep(0.02)
            try:
                with h5py.File(out / "rank00000.h5", "r", locking=False) as f:
                    done = int(f.attrs["completed_step"])
            except Exception:     # not created yet, or caught between two writes: poll again
                pass
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert done > 0 and done % 3000 == 0          # flushes every 300 epochs of 10 steps
    with h5py.File(out / "rank00000.h5", "r") as f:
        assert int(f.attrs["completed_step"]) == done and f.attrs["complete"] == 0
        np.testing.assert_array_equal(f["progress"][:, 0], np.arange(300.0, done / 10 + 1, 300.0))
    with pytest.warns(RuntimeWarning, match=rf"is incomplete: it simulated up to {done // 10} ms of 100000 ms"):
        res = ds.load(str(out))
    same(ds.simulate(n, done * 0.1), res)


def test_a_build_error_after_the_out_check_leaves_nothing(tmp_path):
    n = ds.Network()
    n.add_population("a", 5, "lif")
    n.add_population("b", 5, "lif")
    n.add_projection("a", "b", ds.AllToAll(), weight=2.0**25, delay=1.0)   # 5 x 2**25 > 2**26 per step
    n.add_spike_monitor("b")
    out = tmp_path / "o"
    with pytest.raises(ValueError, match=r"Population 'b': neuron 0 could receive up to"):
        ds.Simulation(n, out=str(out))
    assert not out.exists()
    out.mkdir()
    with pytest.raises(ValueError, match=r"could receive up to"):
        ds.Simulation(n, out=str(out))
    assert out.exists() and os.listdir(out) == []        # an existing directory stays, empty


def test_the_monitors_buffer_stays_within_budget_plus_one_epoch(memory, tmp_path):
    budget = 4096
    res = ds.simulate(net(), out=str(tmp_path), output=ds.OutputOptions(flush_every=10**6, buffer_mb=budget / 2**20))
    same(memory, res)
    r = res.summary["per_rank"][0]
    epoch = res.summary["epoch_steps"]
    spikes = np.bincount((memory.spikes.step - 1) // epoch).max()
    row = ds.monitors.ROW_OVERHEAD
    samples = epoch * (23 * 8 + row) * 4 + 2 * (3 * 8 + row) * 4 + (epoch + 2) * 8
    rates = 8 * (600 // 50 + 600 // 20)
    assert r["flushes"] > 50                       # the budget, not the epoch count, made it flush
    assert budget < r["monitor_peak_bytes"] <= budget + 16 * spikes + samples + rates


def test_libsonata_reads_the_spike_and_frame_reports(tmp_path):
    """SONATA's own reader, where installed (``pip install libsonata``; not a dependency).
    Uncompressed: libsonata's wheels come without the deflate filter."""
    libsonata = pytest.importorskip("libsonata")
    out = tmp_path
    res = ds.simulate(net(), 30.0, out=str(out), output=ds.OutputOptions(sort=True))
    for name, order in (("run.h5", "none"), ("spikes_sorted.h5", "by_time"), ("rank00000.h5", "by_time")):
        spikes = libsonata.SpikeReader(str(out / name))
        assert sorted(spikes.get_population_names()) == ["cond", "exc"]
        pop = spikes["exc"]
        assert str(pop.sorting).endswith(order)
        got = np.array(pop.get(), dtype=[("id", np.uint64), ("t", np.float64)])
        exc = res.spikes_of("exc")
        order = np.lexsort((got["id"], got["t"]))
        np.testing.assert_array_equal(got["id"][order].astype(np.int64), exc.gid)
        np.testing.assert_array_equal(got["t"][order], exc.time)
    rep = libsonata.ElementReportReader(str(out / "report_V_m.h5"))["cond"]
    assert rep.data_units == "mV" and rep.time_units == "ms"
    frames = rep.get()
    np.testing.assert_array_equal(np.asarray(frames.data), res.trace("cond", "V_m").values.astype(np.float32))
