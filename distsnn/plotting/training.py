"""Pictures of a training run: the loss per iteration and the readout against its target."""

from __future__ import annotations

import os

import h5py
import numpy as np

from ..results import Result
from .canvas import axes


def read_loss(run_dir: str) -> np.ndarray | None:
    """The losses in ``run_dir/training.h5`` (None without that file)."""
    from ..learning.trainer import TRAINING_FILE

    path = os.path.join(run_dir, TRAINING_FILE)
    if not os.path.isfile(path):
        return None
    with h5py.File(path, "r") as f:
        return f["loss"][()]


def loss_curve(loss: np.ndarray, ax=None):
    """The loss per iteration on a log axis."""
    ax = axes(ax, 6.0, 3.5)
    it = np.arange(len(loss))
    ax.semilogy(it, np.maximum(loss, np.finfo(float).tiny), color="C0")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (mV²)")
    ax.set_title(f"loss: {loss[0]:.4g} -> {loss[-1]:.4g} in {len(loss)} iterations")
    return ax


def readout_vs_target(result: Result, ax=None, window: tuple[float, float] | None = None):
    """Every recorded ``readout_signal`` against its ``target_signal`` (the last
    ``window`` ms, default all); None if the run recorded neither."""
    keys = [(p, v) for (p, v) in result.traces if v == "readout_signal"]
    if not keys or not all((p, "target_signal") in result.traces for p, _ in keys):
        return None
    ax = axes(ax, 8.0, 3.0)
    for i, (pop, _) in enumerate(keys):
        y, ys = result.traces[(pop, "readout_signal")], result.traces[(pop, "target_signal")]
        keep = slice(None) if window is None else (y.time >= window[0]) & (y.time <= window[1])
        for j in range(y.values.shape[1]):
            ax.plot(y.time[keep], y.values[keep, j], color=f"C{(i + j) % 10}", label=f"{pop} {j} readout")
            ax.plot(ys.time[keep], ys.values[keep, j], color=f"C{(i + j) % 10}", ls="--", label="target")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("signal (mV)")
    ax.legend(loc="upper right", fontsize="small")
    return ax


__all__ = ["read_loss", "loss_curve", "readout_vs_target"]
