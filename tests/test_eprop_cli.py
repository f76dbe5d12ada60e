"""Training from the command line (a TOML task), its training.h5, and the loss plot."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

import distsnn as ds
from distsnn import cli
from distsnn.learning.spec import load_task

from .mpi.eprop_train import network


def _task(tmp_path, iterations=3, extra=""):
    net, plastic, target, feedback = network(iterations)
    np.save(tmp_path / "target.npy", target)
    np.savetxt(tmp_path / "Ba.csv", feedback["a"], delimiter=",")
    np.save(tmp_path / "Bb.npy", feedback["b"])
    text = ds.dumps(net) + f"""
[training]
plastic = {plastic!r}
iterations = {iterations}
target = "target.npy"
feedback = {{ a = "Ba.csv", b = "Bb.npy" }}
optimizer = {{ type = "adam", eta = 0.05, Wmin = -2.0, Wmax = 2.0, batch_size = 2 }}
{extra}"""
    path = tmp_path / "task.toml"
    path.write_text(text.replace("'", '"'))
    return str(path), (net, plastic, target, feedback)


def test_cli_train_equals_python_and_writes_training_h5(tmp_path, capsys):
    path, (net, plastic, target, feedback) = _task(tmp_path)
    out = tmp_path / "run"
    assert cli.main(["train", path, "--out", str(out), "--partitioner", "round_robin"]) == 0
    text = capsys.readouterr().out
    assert "iteration     2" in text and "3 iterations on 1 rank(s)" in text
    ref = ds.train(net, plastic, target, 3, feedback=feedback, partitioner="block",
                   optimizer={"type": "adam", "eta": 0.05, "Wmin": -2.0, "Wmax": 2.0, "batch_size": 2})
    with h5py.File(out / "training.h5", "r") as f:
        assert np.array_equal(f["loss"][()], ref.loss)                 # bit for bit, other partitioner
        assert f.attrs["iterations"] == 3 and f["loss"].attrs["units"] == "mV^2"
        for name, (s, t, w) in ref.weights.items():
            assert np.array_equal(f[f"weights/{name}/source"][()], s)
            assert np.array_equal(f[f"weights/{name}/target"][()], t)
            assert np.array_equal(f[f"weights/{name}/weight"][()], w)
    assert ds.load(str(out)).summary["t_sim_ms"] == 3 * 60 + 1       # the last interval ends D steps later
    assert cli.main(["inspect", str(out)]) == 0
    assert f"training       3 iterations (e-prop), loss {ref.loss[0]:.6g}" in capsys.readouterr().out


def test_plot_draws_the_loss_curve_and_readout(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path, _ = _task(tmp_path, 2)
    text = open(path).read().replace("[training]", '[[monitor]]\nkind = "state"\npopulation = "out"\n'
                                     'variables = ["readout_signal", "target_signal"]\n\n[training]')
    open(path, "w").write(text)
    out = tmp_path / "run"
    assert cli.main(["train", path, "--out", str(out), "--quiet"]) == 0
    assert cli.main(["plot", str(out)]) == 0
    plots = out / "plots"
    assert (plots / "loss.png").stat().st_size > 1000 and (plots / "readout.png").stat().st_size > 1000


@pytest.mark.parametrize("extra,match", [
    ("colour = 1", "unknown field 'colour'|colour"),
    ("reset = 3", "reset must be"),
])
def test_bad_training_table(tmp_path, extra, match):
    path, _ = _task(tmp_path, extra=extra)
    with pytest.raises(ValueError, match=match):
        load_task(path)


def test_missing_files_and_tables(tmp_path, capsys):
    path, _ = _task(tmp_path)
    os.remove(tmp_path / "Bb.npy")
    with pytest.raises(ValueError, match="feedback.b .*does not exist"):
        load_task(path)
    bare = tmp_path / "bare.toml"
    bare.write_text(open(path).read().split("[training]")[0])
    with pytest.raises(ValueError, match=r"a \[training\] table is required"):
        load_task(str(bare))
    assert cli.main(["train", str(bare)]) == 2
    assert "distsnn: error:" in capsys.readouterr().err
