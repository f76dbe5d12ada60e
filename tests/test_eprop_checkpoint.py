"""Checkpoints with a Trainer attached (both e-prop modes): train 2 iterations on one
process, checkpoint, restore onto 2 ranks (another partitioner), train 2 more: the
weights and losses are those of 4 iterations in one run, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from .mpi.launch import mpirun, needs_mpi, plain

SCRIPT = "tests/mpi/eprop_checkpoint.py"


def _load(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@needs_mpi
@pytest.mark.parametrize("mode", ["interval", "online"])
def test_training_resumes_from_a_checkpoint_on_another_rank_count(tmp_path, mode):
    ck = str(tmp_path / "ck")
    runs = {}
    for phase in ("full", "write"):
        out = tmp_path / f"{phase}.npz"
        proc = plain([SCRIPT, mode, phase, ck, str(out), "1"])
        assert proc.returncode == 0, proc.stderr
        runs[phase] = _load(out)
    out = tmp_path / "resume.npz"
    proc = mpirun(2, [SCRIPT, mode, "resume", ck, str(out), "2"], timeout=180)
    assert proc.returncode == 0, proc.stderr
    resumed = _load(out)
    assert int(resumed["ranks"]) == 2
    full, first = runs["full"], runs["write"]
    assert np.array_equal(resumed["loss"], full["loss"])                    # the position and history too
    assert int(resumed["step"]) == int(full["step"])
    changed = 0
    for key in full:
        if key.endswith("/weight"):
            assert np.array_equal(resumed[key], full[key]), key             # bit for bit
            changed += not np.array_equal(first[key], full[key])
    assert changed >= 5                                                       # training went on after the restore


def test_restore_refuses_a_checkpoint_without_or_with_another_trainer(tmp_path):
    import distsnn as ds
    from distsnn.learning import make_trainer

    from .mpi.eprop_online_train import network

    net, plastic, target, feedback = network()
    plain_sim = ds.Simulation(net)
    plain_sim.run(5.0)
    bare = plain_sim.checkpoint(str(tmp_path / "bare"))
    sim = ds.Simulation.restore(bare, net)
    tr = make_trainer(sim, plastic, target, mode="online", feedback=feedback)
    with pytest.raises(ValueError, match="holds no trainer state"):
        tr.restore()
    sim = ds.Simulation(net)
    make_trainer(sim, plastic, target, feedback=feedback, reset=False).train(1)
    written = sim.checkpoint(str(tmp_path / "interval"))
    sim = ds.Simulation.restore(written, net)
    tr = make_trainer(sim, plastic, target, mode="online", feedback=feedback)
    with pytest.raises(ValueError, match="holds a trainer of mode 'interval' and T = 40 steps, this one has mode 'online'"):
        tr.restore()
    sim.advance(sim.step * 1.0 + 3.0)
    with pytest.raises(ValueError, match="checkpointed between iterations"):
        sim.checkpoint(str(tmp_path / "mid"))
    assert not (tmp_path / "mid").exists()
    with pytest.raises(ValueError, match="not restored from a checkpoint"):
        make_trainer(ds.Simulation(net), plastic, target, feedback=feedback).restore()
