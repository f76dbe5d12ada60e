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
    Every rank computes this from the same reduced ``Y``, so the same bits everywhere.
    NaN targets mark steps without a target: their error is 0 and they add no loss."""
    if kind == "mean_squared_error":
        err = Y - target
        err[np.isnan(err)] = 0.0
        return err, 0.5 * float(np.sum(err * err))
    valid = ~np.isnan(target).any(axis=0)
    z = Y - Y.max(axis=0)
    ez = np.exp(z)
    norm = ez.sum(axis=0)
    err = ez / norm - target
    err[:, ~valid] = 0.0
    logp = (z - np.log(norm))[:, valid]
    return err, -float(np.sum(target[:, valid] * logp))
