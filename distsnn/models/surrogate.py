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
"""

from __future__ import annotations

from typing import Callable

import numpy as np

SurrogateFn = Callable[[np.ndarray, np.ndarray, np.ndarray, float, float], np.ndarray]


def piecewise_linear(r: np.ndarray, v: np.ndarray, v_th: np.ndarray, height: float, width: float) -> np.ndarray:
    return np.where(r > 0, 0.0, height * np.maximum(0.0, 1.0 - np.abs(v - v_th) / width))


def exponential(r: np.ndarray, v: np.ndarray, v_th: np.ndarray, height: float, width: float) -> np.ndarray:
    return np.where(r > 0, 0.0, height * np.exp(-np.abs(v - v_th) / width))


def fast_sigmoid_derivative(r: np.ndarray, v: np.ndarray, v_th: np.ndarray, height: float,
                            width: float) -> np.ndarray:
    return np.where(r > 0, 0.0, height * (1.0 + np.abs(v - v_th) / width) ** -2.0)


def arctan_derivative(r: np.ndarray, v: np.ndarray, v_th: np.ndarray, height: float, width: float) -> np.ndarray:
    return np.where(r > 0, 0.0, height / (1.0 + ((v - v_th) / width) ** 2.0))


#: NEST's ``surrogate_gradient_function`` names.
FUNCTIONS: dict[str, SurrogateFn] = {f.__name__: f for f in (piecewise_linear, exponential,
                                                             fast_sigmoid_derivative, arctan_derivative)}


def surrogate(name: str, r: np.ndarray, v: np.ndarray, v_th: np.ndarray, height: float,
              width: float) -> np.ndarray:
    """``psi`` of :data:`FUNCTIONS` ``[name]`` for refractory counts ``r``, membrane
    potentials ``v`` and thresholds ``v_th`` (mV, same reference), height (1) and width (mV)."""
    return FUNCTIONS[name](r, v, v_th, height, width)
