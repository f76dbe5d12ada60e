"""The readouts' errors and the loss of an update interval."""

from __future__ import annotations

import numpy as np

#: The losses of :func:`readout_errors`.
LOSSES = ("mean_squared_error", "cross_entropy")


def readout_errors(Y: np.ndarray, target: np.ndarray, kind: str) -> tuple[np.ndarray, float]:
    """Errors ``err_k(t)`` (readouts x steps) and the loss of one interval from the readout
    signals ``Y`` and the targets: ``mean_squared_error``, ``err = y - y*``, loss
    ``0.5 sum (y - y*)^2`` (NEST's ``eprop_readout``); ``cross_entropy``, ``p = softmax_k(y)``
    at each step, ``err = p - y*``, loss ``-sum y* log p`` (NEST's ``eprop_readout_bsshslm_2020``
    with ``loss = "cross_entropy"``, without its one-step delay of the normalisation).
    Every rank computes this from the same reduced ``Y``, so the same bits everywhere."""
    if kind == "mean_squared_error":
        err = Y - target
        return err, 0.5 * float(np.sum(err * err))
    z = Y - Y.max(axis=0)
    ez = np.exp(z)
    norm = ez.sum(axis=0)
    p = ez / norm
    return p - target, -float(np.sum(target * (z - np.log(norm))))
