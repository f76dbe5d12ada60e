"""E-prop across ranks: trained weights and losses identical, bit for bit, on 1 (one process), 2, 3
and 4 ranks with different partitioners (each mpiexec under a timeout)."""

from __future__ import annotations

import numpy as np
import pytest

from .mpi.launch import mpirun, needs_mpi, plain
from .mpi.eprop_train import network

SCRIPT = "tests/mpi/eprop_train.py"


def _load(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("eprop") / "one.npz"
    proc = plain([SCRIPT, str(out), "metis", "1"])
    assert proc.returncode == 0, proc.stderr
    return _load(out)


def test_training_changes_weights_and_learns(reference):
    net, plastic, _, _ = network()
    for tag in ("", "noreset:"):
        for name in plastic:
            w0 = np.asarray(net.projections[name].weight.values)
            s, t, w = (reference[f"{tag}{name}/{k}"] for k in ("source", "target", "weight"))
            offsets = net.offsets()
            pre, post = net.projections[name].pre, net.projections[name].post
            before = w0[s - offsets[pre], t - offsets[post]]
            assert np.abs(w - before).max() > 1e-3, tag + name           # every projection was trained
        assert reference[f"{tag}loss"][-1] < reference[f"{tag}loss"][0]
    assert not np.array_equal(reference["loss"], reference["noreset:loss"])


@needs_mpi
@pytest.mark.parametrize("ranks,method", [(2, "metis"), (3, "round_robin"), (4, "block")])
def test_trained_weights_identical_on_any_rank_count(reference, tmp_path, ranks, method):
    out = tmp_path / f"{ranks}.npz"
    proc = mpirun(ranks, [SCRIPT, str(out), method, str(ranks)], timeout=180)
    assert proc.returncode == 0, proc.stderr
    got = _load(out)
    assert int(got["ranks"]) == ranks
    assert set(got) - {"ranks"} == set(reference) - {"ranks"}
    for key, value in reference.items():
        if key != "ranks":
            assert np.array_equal(got[key], value), key      # bit for bit
