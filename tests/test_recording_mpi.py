"""Recording over MPI: 4 ranks read back bit for bit, h5py alone reads the master file,
overwrite with fewer ranks, gather in the Python API, and a crash of one rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import distsnn as ds

from .mpi.launch import mpirun, needs_mpi
from .test_recording import net, same

# Reads the master file with h5py and numpy only, and proves it imported nothing else of ours.
H5PY_ONLY = r"""
import json, sys
import h5py, numpy as np
out = {}
with h5py.File(sys.argv[1] + "/run.h5", "r") as f:
    for pop in f["spikes"]:
        g = f["spikes"][pop]
        assert g["timestamps"].is_virtual and g["node_ids"].is_virtual
        out[pop] = {k: g[k][()].tolist() for k in ("timestamps", "node_ids", "steps")}
with h5py.File(sys.argv[1] + "/report_V_m.h5", "r") as f:
    out["V_m"] = {pop: {"data": f["report"][pop]["values"][()].tolist(),
                        "node_ids": f["report"][pop]["mapping/node_ids"][()].tolist()} for pop in f["report"]}
assert not [m for m in sys.modules if m.startswith("distsnn")]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("recmpi")
    path = str(d / "net.toml")
    ds.dump(net(), path)
    return d, path, ds.simulate(net())


@needs_mpi
def test_four_ranks_read_back_bit_for_bit_and_h5py_alone_reads_the_master(setup):
    d, path, memory = setup
    out = d / "four"
    proc = mpirun(4, ["-m", "distsnn.cli", "run", path, "--out", str(out), "--partitioner", "round_robin",
                      "--flush-every", "1", "--sorted"])
    assert proc.returncode == 0, proc.stderr
    assert "ranks          4 (round_robin)" in proc.stdout
    res = ds.load(str(out))
    assert res.summary["ranks"] == 4 and res.summary["complete"]
    same(memory, res)
    with h5py.File(out / "run.h5", "r") as f:
        np.testing.assert_array_equal(f["metadata/owner"][()], np.arange(200) % 4)
        assert [r["rank"] for r in json.loads(f["metadata/summary"][()])["per_rank"]] == [0, 1, 2, 3]
        for pop, r in memory.rates.items():       # summed over the ranks
            np.testing.assert_array_equal(f[f"rates/{pop}/counts"][()], r.counts)
    with h5py.File(out / "spikes_sorted.h5", "r") as f:     # each of the 4 ranks merged one window
        for pop, (first, _) in res.populations.items():
            s = res.spikes_of(pop)
            order = np.lexsort((s.gid, s.step))
            np.testing.assert_array_equal(f[f"spikes/{pop}/steps"][()], s.step[order])
            np.testing.assert_array_equal(f[f"spikes/{pop}/node_ids"][()].astype(np.int64) + first, s.gid[order])
            assert f[f"spikes/{pop}"].attrs["sorting"] == 2
    assert len([p for p in os.listdir(out) if p.startswith("spikes_sorted.part")]) == 4
    with h5py.File(out / "run.h5", "r") as f:
        for pop, r in memory.rates.items():
            np.testing.assert_array_equal(f[f"rates/{pop}/counts"][()], r.counts)
            assert f[f"rates/{pop}/counts"].attrs["bin_ms"] == r.bin_ms

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    got = subprocess.run([sys.executable, "-c", H5PY_ONLY, str(out)], capture_output=True, text=True,
                         timeout=120, env=env, cwd=str(d))
    assert got.returncode == 0, got.stderr
    plain = json.loads(got.stdout)
    for pop, (first, _) in res.populations.items():
        s = res.spikes_of(pop)
        g = plain[pop]
        ids = np.array(g["node_ids"], dtype=np.int64) + first
        steps = np.array(g["steps"], dtype=np.int64)
        assert ids.size == len(s) > 0
        order = np.lexsort((ids, steps))             # the master concatenates the ranks' runs
        np.testing.assert_array_equal(ids[order], s.gid)
        np.testing.assert_array_equal(steps[order], s.step)
        np.testing.assert_array_equal(np.array(g["timestamps"])[order], s.time)
    for pop in ("exc", "cond"):
        tr = memory.trace(pop, "V_m")
        v = plain["V_m"][pop]
        cols = np.argsort(np.array(v["node_ids"]) + res.populations[pop][0], kind="stable")
        np.testing.assert_array_equal(np.array(v["data"])[:, cols], tr.values)

    # A smaller run into the same directory: refused, then allowed, and no stale rank file.
    proc = mpirun(2, ["-m", "distsnn.cli", "run", path, "--out", str(out)])
    assert proc.returncode == 2
    assert "holds an earlier run" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p for p in os.listdir(out) if p.startswith("rank")) == [f"rank0000{r}.h5" for r in range(4)]
    proc = mpirun(2, ["-m", "distsnn.cli", "run", path, "--out", str(out), "--overwrite"])
    assert proc.returncode == 0, proc.stderr
    assert sorted(p for p in os.listdir(out) if p.startswith("rank")) == ["rank00000.h5", "rank00001.h5"]
    assert not [p for p in os.listdir(out) if p.startswith("spikes_sorted")]
    again = ds.load(str(out))
    assert again.summary["ranks"] == 2
    same(memory, again)


@needs_mpi
def test_python_api_writes_files_and_gathers_on_rank_zero(setup):
    d, path, memory = setup
    out, npz = d / "gather", d / "gathered.npz"
    proc = mpirun(3, ["tests/mpi/recording.py", "gather", path, str(out), str(npz)])
    assert proc.returncode == 0, proc.stderr
    got = np.load(npz)
    assert int(got["size"]) == 3
    np.testing.assert_array_equal(got["gid"], memory.spikes.gid)
    np.testing.assert_array_equal(got["step"], memory.spikes.step)
    for (pop, var), tr in memory.traces.items():
        np.testing.assert_array_equal(got[f"trace:{pop}:{var}:gids"], tr.gids)
        np.testing.assert_array_equal(got[f"trace:{pop}:{var}:values"], tr.values)
    for pop, r in memory.rates.items():
        np.testing.assert_array_equal(got[f"rate:{pop}"], r.counts)
    same(memory, ds.load(str(out)))


@needs_mpi
def test_a_rank_that_raises_leaves_readable_files_up_to_the_completed_time(setup):
    d, path, memory = setup
    out = d / "crash"
    proc = mpirun(2, ["tests/mpi/recording.py", "crash", path, str(out), "337"], timeout=60)
    assert proc.returncode != 0 and "rank 1 fails at step 337" in proc.stderr
    assert not os.path.exists(out / "run.h5")
    done = []
    for r in range(2):
        with h5py.File(out / f"rank0000{r}.h5", "r") as f:      # opens: not corrupted
            assert f.attrs["complete"] == 0
            done.append(int(f.attrs["completed_step"]))
    assert done[1] == 330                  # the failing rank kept every epoch before the failure
    t = min(done) * 0.1
    with pytest.warns(RuntimeWarning, match=rf"is incomplete: it simulated up to {t:g} ms of 60 ms"):
        res = ds.load(str(out))
    keep = memory.spikes.step <= min(done)
    assert keep.sum() > 100
    np.testing.assert_array_equal(res.spikes.gid, memory.spikes.gid[keep])
    np.testing.assert_array_equal(res.spikes.step, memory.spikes.step[keep])
    for key, tr in memory.traces.items():
        np.testing.assert_array_equal(res.traces[key].values, tr.values[tr.steps <= min(done)])
