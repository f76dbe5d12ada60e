"""One partition everywhere: `distsnn run` runs on the partition `distsnn partition` reports,
measured traffic per rank pair equals the prediction, rates measured in one run guide the next."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest

import distsnn as ds
from distsnn import cli, placement
from distsnn.placement import PartitionSpec

from .mpi.launch import ROOT, mpirun, needs_mpi

RUN_PARTITION = os.path.join(ROOT, "tests", "mpi", "run_partition.py")


def areas(drive=(3200.0, 2600.0, 2000.0, 3600.0), size: int = 100, t_stop: float = 200.0) -> ds.Network:
    """Four areas of lif neurons driven at different rates (about 49, 26, 3 and 62 Hz),
    dense inside (1 ms), sparse between (3 ms); every population's spikes recorded."""
    net = ds.Network(dt=0.1, seed=11, t_stop=t_stop)
    lif = {"C_m": 250.0, "tau_m": 20.0, "t_ref": 2.0, "E_L": 0.0, "V_th": 20.0, "V_reset": 10.0}
    for a in range(len(drive)):
        net.add_population(f"a{a}", size, "lif", lif, {"V_m": {"dist": "uniform", "low": 0.0, "high": 20.0}})
        net.add_poisson_input(f"drive{a}", f"a{a}", drive[a], 0.4)
        net.add_spike_monitor(f"a{a}")
    for a in range(len(drive)):
        for b in range(len(drive)):
            p, d = (0.1, 1.0) if a == b else (0.01, 3.0)
            net.add_projection(f"a{a}", f"a{b}", {"rule": "fixed_probability", "p": p}, "delta", 0.1, d)
    return net


@pytest.fixture(scope="module")
def net_path(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("areas") / "areas.toml")
    ds.dump(areas(), path)
    return path


def _partition(net_path: str, tmp, name: str, *args: str) -> tuple[np.ndarray, dict]:
    """`distsnn partition --parts 3 --save --json` in this process: the owner map and the JSON."""
    save, js = tmp / f"{name}.h5", tmp / f"{name}.json"
    assert cli.main(["partition", net_path, "--parts", "3", "--save", str(save), "--json", str(js), *args]) == 0
    with h5py.File(save, "r") as f:
        owner = f["owner"][()]
    return owner, json.loads(js.read_text())


def _run(net_path: str, tmp, name: str, *args: str) -> tuple[np.ndarray, ds.Result]:
    """`distsnn run` on 3 ranks through the command's parser; the owner map it ran on."""
    owner_path, out = tmp / f"{name}.npy", tmp / name
    proc = mpirun(3, [RUN_PARTITION, str(owner_path), "run", net_path, "--out", str(out), *args], timeout=180)
    assert proc.returncode == 0, proc.stderr
    res = ds.load(str(out))
    assert res.summary["ranks"] == 3
    return np.load(owner_path), res


def _measured(res: ds.Result) -> np.ndarray:
    """Spike records per second from rank (row) to rank, as the run counted them."""
    return np.array([r["sent_to"] for r in res.summary["per_rank"]], dtype=float) / (res.summary["t_sim_ms"] / 1e3)


@needs_mpi
def test_run_uses_the_reported_partition_and_traffic_matches_with_measured_rates(net_path, tmp_path, capsys):
    # Default rates (10 Hz): run and partition agree on the owner map; the prediction
    # is off because the areas fire at 3-62 Hz.
    owner1, pred1 = _partition(net_path, tmp_path, "p1")
    run_owner1, run1 = _run(net_path, tmp_path, "run1")
    np.testing.assert_array_equal(run_owner1, owner1)
    assert [r["neurons"] for r in run1.summary["per_rank"]] == np.bincount(owner1, minlength=3).tolist()
    measured1 = _measured(run1)
    assert abs(measured1.sum() / pred1["methods"]["metis"]["comm_volume"] - 1) > 0.5

    # Profile-guided: the rates measured in run1 change the partition and the prediction,
    # and a run with the same --rates-from runs on exactly that partition.
    owner2, pred2 = _partition(net_path, tmp_path, "p2", "--rates-from", str(tmp_path / "run1"))
    assert "measured in" in capsys.readouterr().out
    assert (owner2 != owner1).any()
    run_owner2, run2 = _run(net_path, tmp_path, "run2", "--rates-from", str(tmp_path / "run1"))
    np.testing.assert_array_equal(run_owner2, owner2)
    np.testing.assert_array_equal(run2.spikes.gid, run1.spikes.gid)  # the partition changes no spike
    np.testing.assert_array_equal(run2.spikes.step, run1.spikes.step)
    # With the right rates the prediction per rank pair holds (exactly at the neuron level).
    m2 = pred2["methods"]["metis"]
    predicted = np.array(m2["traffic"])
    assert predicted.sum() > 1000
    np.testing.assert_allclose(_measured(run2), predicted, rtol=0.05)
    # Bytes, headers included, in the prediction's units.
    t_s = run2.summary["t_sim_ms"] / 1e3
    sent_bytes = sum(r["bytes_sent"] for r in run2.summary["per_rank"]) / t_s
    assert sent_bytes == pytest.approx(m2["bytes_per_s"], rel=0.05)
    assert run2.summary["epoch_steps"] == m2["epoch"]

    # The saved owner map, reused by the real command, gives the same run.
    out3 = tmp_path / "run3"
    proc = mpirun(3, ["-m", "distsnn.cli", "run", net_path, "--partition", str(tmp_path / "p2.h5"),
                      "--out", str(out3)], timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "owner map" in proc.stdout and "spike records sent" in proc.stdout
    assert "rates " not in proc.stdout  # a given owner map: no rates were used
    run3 = ds.load(str(out3))
    assert [r["sent_to"] for r in run3.summary["per_rank"]] == [r["sent_to"] for r in run2.summary["per_rank"]]


def test_partition_and_placement_agree_in_process(net_path, tmp_path):
    # Chunk level, a delay-aware option and METIS options: the same spec, the same map.
    args = ["--level", "chunk", "--chunk", "10", "--ncuts", "2", "--min-epoch", "3", "--rate", "a2=1"]
    owner, _ = _partition(net_path, tmp_path, "c", *args)
    spec = PartitionSpec(level="chunk", chunk=10, ncuts=2, min_epoch_ms=3.0, rates={"a2": 1.0})
    np.testing.assert_array_equal(placement.owner_of(ds.load_network(net_path), 3, spec), owner)
    # min_epoch 3 ms keeps the 1 ms synapses inside ranks: whole areas.
    for a in range(4):
        assert np.unique(owner[a * 100:(a + 1) * 100]).size == 1


def test_owner_map_file_is_checked(net_path, tmp_path):
    net = ds.load_network(net_path)
    path = tmp_path / "o.h5"
    placement.save(str(path), np.arange(net.size) % 3, 3, PartitionSpec(), net)
    spec = PartitionSpec(file=str(path))
    np.testing.assert_array_equal(placement.owner_of(net, 3, spec), np.arange(net.size) % 3)
    with pytest.raises(ValueError, match=r"Partition: file '.*o.h5' was made for 3 parts, got 4 ranks"):
        placement.owner_of(net, 4, spec)
    small = areas(size=10)
    with pytest.raises(ValueError, match=r"gives owners for 400 neurons, the network has 40"):
        placement.owner_of(small, 3, spec)
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(ValueError, match=r"Partition: file '.*bad.h5' is not a readable HDF5 owner map"):
        placement.owner_of(net, 3, PartitionSpec(file=str(bad)))
    with pytest.raises(ValueError, match=r"Partition: file '/no/such.h5' does not exist"):
        placement.owner_of(net, 3, PartitionSpec(file="/no/such.h5"))


def test_rate_hint_in_the_network_file(tmp_path, capsys):
    net = areas(size=20)
    text = ds.dumps(net).replace('name = "a2"\n', 'name = "a2"\nrate_hz = 4.0\n')
    path = tmp_path / "hint.toml"
    path.write_text(text)
    loaded = ds.load_network(str(path))
    assert loaded.populations["a2"].rate_hz == 4.0 and loaded.populations["a1"].rate_hz is None
    assert ds.loads(ds.dumps(loaded)).populations["a2"].rate_hz == 4.0  # round trip
    assert cli.main(["partition", str(path), "--parts", "2", "--rate", "a0=50"]) == 0
    out = capsys.readouterr().out
    assert "--rate: a0 50 Hz" in out and "rate_hz in the file: a2 4 Hz" in out
    assert "default 10 Hz for a1, a3" in out
    with pytest.raises(ValueError, match=r"Population 'x': rate_hz must be >= 0 \(Hz\), got -1.0"):
        ds.Network().add_population("x", 3, "lif", rate_hz=-1.0)


def test_more_parts_than_neurons_leaves_parts_idle():
    net = ds.Network(dt=0.1, seed=1, t_stop=50.0)
    net.add_population("p", 3, "lif")
    for method in ("metis", "volume", "round_robin", "block", "random"):
        owner = placement.owner_of(net, 5, method)
        assert sorted(owner.tolist()) == [0, 1, 2], method


@needs_mpi
def test_more_ranks_than_neurons_under_mpi(tmp_path):
    # Three neurons on four ranks: one rank idles through every collective, and the
    # spikes equal the one-process run's.
    net = ds.Network(dt=0.1, seed=5, t_stop=100.0)
    net.add_population("p", 3, "lif", {"V_th": 15.0, "V_reset": 0.0, "E_L": 0.0})
    net.add_poisson_input("drive", "p", 4000.0, 0.4)
    net.add_projection("p", "p", {"rule": "all_to_all"}, "delta", 2.0, 1.5)
    net.add_spike_monitor("p")
    path = tmp_path / "tiny.toml"
    ds.dump(net, str(path))
    out = tmp_path / "out"
    proc = mpirun(4, ["-m", "distsnn.cli", "run", str(path), "--out", str(out)], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "rates          10 Hz (every population; the default" in proc.stdout
    res = ds.load(str(out))
    per_rank = res.summary["per_rank"]
    assert res.summary["ranks"] == 4 and sorted(r["neurons"] for r in per_rank) == [0, 1, 1, 1]
    ref = ds.simulate(ds.load_network(str(path)))
    assert len(ref.spikes) > 10
    np.testing.assert_array_equal(res.spikes.gid, ref.spikes.gid)
    np.testing.assert_array_equal(res.spikes.step, ref.spikes.step)
