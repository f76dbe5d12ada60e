"""Surrogate gradients (pseudo-derivatives) of the spike threshold, in NEST 3.10's forms.

A spiking neuron's output ``z = H(v - v_th)`` has no useful derivative; e-prop and other
surrogate-gradient methods replace ``dz/dv`` by a bump ``psi`` around the threshold.
With height ``gamma`` (dimensionless) and width ``w`` (mV), and ``x = v - v_th`` (mV)::

    piecewise_linear          gamma * max(0, 1 - |x| / w)       (Bellec et al. 2020)
    exponential               gamma * exp(-|x| / w)             (Shrestha & Orchard 2018)
    fast_sigmoid_derivative   gamma * (1 + |x| / w) ** -2       (Zenke & Ganguli 2018)
    arctan_derivative         gamma / (1 + (x / w) ** 2)        (Fang et al. 2021)

and ``psi = 0`` while the neuron is refractory (NEST's ``r > 0``). The names and the
formulas are those of NEST's ``EpropArchivingNodeRecurrent::compute_*_surrogate_gradient``.

:func:`psi` is the one compiled form, per neuron, that the e-prop models' loops call;
:func:`surrogate` applies it to arrays.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: NEST's ``surrogate_gradient_function`` names; a model passes the position of its
#: function in this tuple to :func:`psi`.
FUNCTIONS: tuple[str, ...] = ("piecewise_linear", "exponential", "fast_sigmoid_derivative", "arctan_derivative")


@njit(cache=True, inline="always")
def psi(fn, r, v, v_th, height, width):
    """``psi`` of function ``FUNCTIONS[fn]`` for one neuron: refractory count ``r``,
    membrane potential ``v`` and threshold ``v_th`` (mV, one reference), height (1),
    width (mV)."""
    if r > 0:
        return 0.0
    x = v - v_th
    if fn == 0:
        return height * max(0.0, 1.0 - abs(x) / width)
    if fn == 1:
        return height * math.exp(-abs(x) / width)
    if fn == 2:
        return height * (1.0 + abs(x) / width) ** -2.0
    return height / (1.0 + (x / width) ** 2.0)


@njit(cache=True)
def _psi_array(fn, r, v, v_th, height, width, out):
    for i in range(out.size):
        out[i] = psi(fn, r[i], v[i], v_th[i], height, width)


def surrogate(name: str, r: np.ndarray, v: np.ndarray, v_th: np.ndarray | float, height: float,
              width: float) -> np.ndarray:
    """``psi`` of ``name`` (one of :data:`FUNCTIONS`) for refractory counts ``r``,
    membrane potentials ``v`` and thresholds ``v_th`` (mV, same reference), height (1) and
    width (mV), element by element (:func:`psi`)."""
    r, v, v_th = np.broadcast_arrays(np.asarray(r, np.int64), np.asarray(v, np.float64),
                                     np.asarray(v_th, np.float64))
    out = np.empty(v.shape)
    _psi_array(FUNCTIONS.index(name), np.ascontiguousarray(r).ravel(), np.ascontiguousarray(v).ravel(),
               np.ascontiguousarray(v_th).ravel(), float(height), float(width), out.reshape(-1))
    return out
