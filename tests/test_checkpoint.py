"""Checkpoint and restart (distsnn.checkpoint): onto other rank counts and partitioners,
bit for bit; refusals; atomic writing; segments read as one run; the CLI flags."""

import json
import os
import re
import shutil

import h5py
import numpy as np
import pytest

import distsnn as ds
from distsnn import checkpoint as ckpt
from distsnn import cli, config
from tests.mpi.launch import ROOT, mpirun, needs_mpi, plain
from tests.test_mpi import zoo_network

# T1 cuts a delay in the middle (Brunel: 1.5 ms delays, epoch 15 steps; the model zoo:
# heterogeneous delays of 0.2-4 ms) and a rate bin; T2 is the end.
NETS = {
    "brunel": (os.path.join(ROOT, "examples", "brunel.toml"), 20.3, 30.0),
    "coba": (os.path.join(ROOT, "examples", "coba.toml"), 20.3, 30.0),
    "mixed": (os.path.join(ROOT, "tests", "data", "mixed.toml"), 37.3, 80.0),
    # every model (generators, lif, lif_cond, izhikevich, hh, adex) and synapse kind, every
    # state variable recorded; T2 crosses the Poisson population's rate change at 100 ms
    "zoo": (None, 95.3, 110.0),
}


def _with_rates(src: str, dst: str) -> str:
    """The network with a rate monitor on its last population (bin 5 ms), so the bin the
    checkpoint cuts is continued too."""
    net = zoo_network() if src is None else ds.load_network(src)
    net.add_rate_monitor(list(net.populations)[-1], bin=5.0)
    config.dump(net, dst)
    return dst


def same(ref: ds.Result, res: ds.Result) -> None:
    assert res.spikes.gid.size > 100
    assert np.array_equal(ref.spikes.gid, res.spikes.gid)
    assert np.array_equal(ref.spikes.step, res.spikes.step)
    assert set(ref.traces) == set(res.traces)
    for key, tr in ref.traces.items():
        got = res.traces[key]
        assert np.array_equal(tr.steps, got.steps), key
        assert np.array_equal(tr.gids, got.gids), key
        assert np.array_equal(tr.values, got.values), key       # bit for bit, no tolerance
    assert set(ref.rates) == set(res.rates) and ref.rates
    for name, r in ref.rates.items():
        assert np.array_equal(r.counts, res.rates[name].counts), name


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    d = tmp_path_factory.mktemp("nets")
    return {k: (_with_rates(p, str(d / f"{k}.toml")), t1, t2) for k, (p, t1, t2) in NETS.items()}


@pytest.fixture(scope="module")
def references(nets):
    """Uninterrupted single-process runs to T2."""
    out = {}
    for k, (path, _, t2) in nets.items():
        sim = ds.Simulation(ds.load_network(path))
        out[k] = sim.run(t2)
    return out


def _cases(path, cases):
    with open(path, "w") as fh:
        json.dump(cases, fh)
    return str(path)


@needs_mpi
@pytest.mark.timeout(1200)   # four MPI jobs of 16 restore cases; each job is bounded by mpirun's own timeout
def test_restore_onto_other_rank_counts_and_partitioners_is_bit_for_bit(nets, references, tmp_path):
    """1 (metis) -> 4 (round_robin), 1 -> 3 (metis), 4 (round_robin) -> 2 (metis), 4 -> 1
    (block), for Brunel, COBA, the mixed-synapse network and the model zoo: three MPI
    launches in all."""
    w = tmp_path
    plan = {}      # (net, label) -> [out dirs of the segments]
    # 1 rank writes (in this process), then one 4-rank job restores those and writes its own.
    for k, (path, t1, t2) in nets.items():
        net = ds.load_network(path)
        sim = ds.Simulation(net, partitioner="metis", out=str(w / k / "w1"))
        sim.advance(t1)
        sim.checkpoint(str(w / k / "ck1"))
        sim.close()
    job4 = []
    for k, (path, t1, t2) in nets.items():
        job4.append({"do": "restore", "net": path, "t": t2, "method": "round_robin", "ckpt": str(w / k / "ck1"),
                     "out": str(w / k / "r1to4")})
        job4.append({"do": "write", "net": path, "t": t1, "method": "round_robin", "out": str(w / k / "w4"),
                     "ckpt": str(w / k / "ck4")})
        plan[(k, "1->4")] = [w / k / "w1", w / k / "r1to4"]
    proc = mpirun(4, ["tests/mpi/checkpoint_cases.py", _cases(w / "job4.json", job4), "4"], timeout=300)
    assert proc.returncode == 0, proc.stderr
    job3, job2 = [], []
    for k, (path, t1, t2) in nets.items():
        job3.append({"do": "restore", "net": path, "t": t2, "method": "metis", "ckpt": str(w / k / "ck1"),
                     "out": str(w / k / "r1to3")})
        job2.append({"do": "restore", "net": path, "t": t2, "method": "metis", "ckpt": str(w / k / "ck4"),
                     "out": str(w / k / "r4to2")})
        plan[(k, "1->3")] = [w / k / "w1", w / k / "r1to3"]
        plan[(k, "4->2")] = [w / k / "w4", w / k / "r4to2"]
    for n, job in ((3, job3), (2, job2)):
        proc = mpirun(n, ["tests/mpi/checkpoint_cases.py", _cases(w / f"job{n}.json", job), str(n)], timeout=300)
        assert proc.returncode == 0, proc.stderr
    for k, (path, t1, t2) in nets.items():
        net = ds.load_network(path)
        for src, method, label in (("ck4", "block", "4->1"),):
            sim = ds.Simulation.restore(str(w / k / src), net, partitioner=method, out=str(w / k / label))
            sim.advance(t2)
            sim.close()
            plan[(k, label)] = [w / k / ("w4" if src == "ck4" else "w1"), w / k / label]
    for (k, label), dirs in plan.items():
        res = ds.load([str(d) for d in dirs])
        ranks = {"1->4": 4, "1->3": 3, "4->2": 2, "4->1": 1}[label]
        assert res.summary["ranks"] == ranks, (k, label)
        assert res.summary["start_steps"][1] > 0
        same(references[k], res)
        # the restored segment alone holds only what came after the checkpoint
        second = ds.load(str(dirs[1]))
        assert second.spikes.step.min() > res.summary["start_steps"][1]


def test_checkpoint_is_small_and_spikes_in_flight_are_the_last_max_delay_steps(nets, tmp_path):
    path, t1, _ = nets["mixed"]
    sim = ds.Simulation(ds.load_network(path))
    sim.run(t1)
    d = sim.checkpoint(str(tmp_path / "ck"))
    assert re.fullmatch(r"step-0000000373", os.path.basename(d))
    with h5py.File(os.path.join(d, ckpt.MASTER)) as f:
        state, inflight = int(f.attrs["state_bytes"]), int(f.attrs["inflight_spikes"])
        assert f.attrs["max_delay"] == sim.max_delay > sim.epoch     # delays span several epochs
    expected = sum(a.nbytes for p in sim.pops for a in ckpt.state_arrays(p).values())
    assert state == expected > 0
    with h5py.File(os.path.join(d, ckpt.rank_name(0))) as f:
        steps = f["inflight/steps"][()]
    assert steps.size == inflight > 0
    assert steps.min() > 373 - sim.max_delay and steps.max() <= 373
    # No synapse table in the file: far smaller than the synapses it rebuilds.
    size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
    assert size < sim.synapse_bytes / 4
    assert "B of model state" in ckpt.describe(d)


@pytest.fixture(scope="module")
def mixed_ckpt(nets, tmp_path_factory):
    path, t1, _ = nets["mixed"]
    d = tmp_path_factory.mktemp("mixed_ck")
    sim = ds.Simulation(ds.load_network(path))
    sim.run(t1)
    sim.checkpoint(str(d / "ck"))
    return path, str(d / "ck")


def _copy(src: str, dst) -> str:
    shutil.copytree(src, str(dst))
    return ckpt.locate(str(dst))


@pytest.mark.parametrize("change,match", [
    ("weight", "network hash"), ("dt", "dt differs"), ("seed", "seed differs")])
def test_restore_refuses_another_network_dt_or_seed(mixed_ckpt, tmp_path, change, match):
    _, ck = mixed_ckpt
    # The original description (without the rate monitor: monitors are not in the hash).
    text = open(NETS["mixed"][0]).read()
    edit = {"weight": ("weight = -0.8", "weight = -0.9"), "dt": ("dt = 0.1", "dt = 0.05"),
            "seed": ("seed = ", "seed = 1")}[change]
    assert edit[0] in text
    net = config.loads(text.replace(*edit, 1), base_dir=os.path.dirname(NETS["mixed"][0]))
    with pytest.raises(ValueError, match=match):
        ds.Simulation.restore(ck, net, out=str(tmp_path / "out"))
    assert not os.path.exists(tmp_path / "out")       # refused before anything is built or written


def test_restore_refuses_another_version(mixed_ckpt, tmp_path):
    path, ck = mixed_ckpt
    d = _copy(ckpt.locate(ck), tmp_path / "ck")
    with h5py.File(os.path.join(d, ckpt.MASTER), "r+") as f:
        f.attrs["version"] = "0.0.1"
    with pytest.raises(ValueError, match=r"distsnn 0\.0\.1.*versions differ"):
        ds.Simulation.restore(d, ds.load_network(path))


@pytest.mark.parametrize("damage,match", [
    ("truncate", "truncated or corrupt"), ("flip", "corrupt"), ("missing", "lacks rank file"),
    ("master", "unreadable, truncated or corrupt")])
def test_restore_refuses_a_damaged_checkpoint(mixed_ckpt, tmp_path, damage, match):
    path, ck = mixed_ckpt
    d = _copy(ckpt.locate(ck), tmp_path / "ck")
    rank_file = os.path.join(d, ckpt.rank_name(0))
    if damage == "truncate":
        with open(rank_file, "r+b") as fh:
            fh.truncate(os.path.getsize(rank_file) // 2)
    elif damage == "flip":
        with open(rank_file, "r+b") as fh:
            fh.seek(os.path.getsize(rank_file) - 100)
            b = fh.read(1)
            fh.seek(-1, 1)
            fh.write(bytes([b[0] ^ 0xFF]))
    elif damage == "missing":
        os.remove(rank_file)
    else:
        m = os.path.join(d, ckpt.MASTER)
        with open(m, "r+b") as fh:
            fh.truncate(200)
    with pytest.raises(ValueError, match=match):
        ds.Simulation.restore(d, ds.load_network(path), out=str(tmp_path / "out"))
    assert not os.path.exists(tmp_path / "out")


KILL = """
import os, sys
import distsnn as ds
from distsnn import checkpoint as ckpt
path, d, t1, t2, where = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
sim = ds.Simulation(ds.load_network(path))
sim.advance(t1)
sim.checkpoint(d)
sim.advance(t2)
def die(*a, **k):
    if where == "rank":
        with open(a[1] + ".part", "wb") as fh:
            fh.write(b"half a file")
    os._exit(9)
setattr(ckpt, "_write_rank" if where == "rank" else "_write_master", die)
sim.checkpoint(d)
"""


@pytest.mark.parametrize("where", ["rank", "master"])
def test_kill_during_checkpoint_leaves_the_previous_one_usable(nets, references, tmp_path, where):
    path, t1, t2 = nets["mixed"]
    d = str(tmp_path / "ck")
    script = tmp_path / "kill.py"
    script.write_text(KILL)
    proc = plain([str(script), path, d, str(t1), str(t1 + 5.0), where])
    assert proc.returncode == 9, proc.stderr
    assert any(x.startswith(".tmp-step-") for x in os.listdir(d))      # the unfinished one
    assert ckpt.locate(d).endswith("step-0000000373")
    sim = ds.Simulation.restore(d, ds.load_network(path))
    assert sim.step == 373
    res = sim.run(t2)
    ref = references["mixed"]
    after = ref.spikes.step > 373
    assert np.array_equal(res.spikes.gid, ref.spikes.gid[after])
    assert np.array_equal(res.spikes.step, ref.spikes.step[after])


def test_cli_checkpoints_periodically_keeps_k_and_restores(nets, references, tmp_path, capsys):
    path, _, t2 = nets["mixed"]
    ck, o1, o2 = str(tmp_path / "ck"), str(tmp_path / "o1"), str(tmp_path / "o2")
    assert cli.main(["run", path, "--t-stop", "40", "--out", o1, "--checkpoint", ck, "--checkpoint-every", "10",
                     "--checkpoint-keep", "2", "--quiet"]) == 0
    assert sorted(x for x in os.listdir(ck)) == ["step-0000000300", "step-0000000400"]
    assert "B of model state" in capsys.readouterr().out
    assert cli.main(["run", path, "--restore", ck, "--t-stop", str(t2), "--out", o2, "--quiet",
                     "--partitioner", "round_robin"]) == 0
    assert "restored from" in capsys.readouterr().out
    same(references["mixed"], ds.load([o1, o2]))
    # a restore from the older checkpoint continues as well (the 30-40 ms of o1 are superseded)
    o3 = str(tmp_path / "o3")
    assert cli.main(["run", path, "--restore", os.path.join(ck, "step-0000000300"), "--t-stop", str(t2),
                     "--out", o3, "--quiet"]) == 0
    same(references["mixed"], ds.load([o1, o3]))


@pytest.mark.parametrize("argv,match", [
    (["--checkpoint-every", "10"], "needs --checkpoint"),
    (["--checkpoint", "CK", "--checkpoint-every", "0.05"], "whole number of steps"),
    (["--checkpoint", "CK", "--checkpoint-keep", "0"], "--checkpoint-keep must be"),
    (["--restore", "NOPE"], "does not exist"),
])
def test_cli_refuses_bad_checkpoint_flags(nets, tmp_path, capsys, argv, match):
    path = nets["mixed"][0]
    argv = [a.replace("CK", str(tmp_path / "ck")).replace("NOPE", str(tmp_path / "nope")) for a in argv]
    assert cli.main(["run", path, "--t-stop", "5", "--quiet", *argv]) == 2
    assert match in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "ck")


def test_cli_refuses_t_stop_before_the_checkpoint(mixed_ckpt, capsys):
    path, ck = mixed_ckpt
    assert cli.main(["run", path, "--restore", ck, "--t-stop", "10", "--quiet"]) == 2
    assert "must be after the checkpoint's time 37.3 ms" in capsys.readouterr().err


def test_segments_out_of_order_are_refused(nets, tmp_path):
    path, t1, t2 = nets["mixed"]
    net = ds.load_network(path)
    sim = ds.Simulation(net, out=str(tmp_path / "a"))
    sim.advance(t1)
    sim.checkpoint(str(tmp_path / "ck"))
    sim.close()
    sim = ds.Simulation.restore(str(tmp_path / "ck"), net, out=str(tmp_path / "b"))
    sim.advance(t2)
    sim.close()
    with pytest.raises(ValueError, match="give segments in order"):
        ds.load([str(tmp_path / "b"), str(tmp_path / "a")])
    with pytest.raises(ValueError, match="at least one"):
        ds.load([])
