"""Pieces shared by the neuron models: parameter parsing, initial values, sub-steps.

The nonlinear models ``hh``, ``adex`` and ``izhikevich`` integrate their membrane with
the classical fourth-order Runge-Kutta method over ``m`` equal sub-steps of a step
``dt``. The synaptic drive needed at the stage times (offsets ``j h / 2`` from the start
of the step, ``h = dt / m``, ``j = 0 .. 2m``) is exact: the synaptic components are
exponentials (:class:`distsnn.synapses.Kernels`), so :func:`drive_matrices` evaluates
them in closed form, and only the membrane carries integration error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

import numpy as np

from .. import synapses, timegrid, validate
from ..synapses import Kernels, SynapseType


def parse(owner: str, cls: type, given: Mapping[str, Any], units: Mapping[str, str],
          positive: Sequence[str] = (), non_negative: Sequence[str] = (),
          choices: Mapping[str, Sequence[str]] | None = None) -> Any:
    """A frozen parameter dataclass from user values: unknown names, non-numbers and
    values outside their bounds raise ``ValueError`` naming owner, field, bound and value."""
    choices = choices or {}
    validate.known_fields(owner, given, [f.name for f in fields(cls)], "parameter")
    values = {}
    for k, v in given.items():
        if k in choices:
            values[k] = validate.choice(owner, k, v, choices[k])
        else:
            values[k] = validate.number(owner, k, v, units.get(k, ""))
    for k in positive:
        if k in values:
            validate.positive(owner, k, values[k], units.get(k, ""))
    for k in non_negative:
        if k in values:
            validate.non_negative(owner, k, values[k], units.get(k, ""))
    return cls(**values)


def require_below(owner: str, p: Any, low: str, high: str, unit: str = "mV") -> None:
    """``p.low < p.high``, or an error naming both."""
    if not getattr(p, low) < getattr(p, high):
        raise ValueError(f"{owner}: {low} must be < {high} = {getattr(p, high)} {unit}, got {getattr(p, low)}")


def substeps(dt: float, h_max: float) -> int:
    """Number of equal sub-steps of ``dt`` none longer than ``h_max`` (ms)."""
    return max(1, math.ceil(dt / h_max * (1.0 - 1e-12)))


def drive_matrices(k: Kernels, dt: float, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(WA, WG)``, shape (2m + 1, components): at offset ``j dt / (2m)`` into a step that
    starts with synaptic state ``S``, the synaptic current is ``(WA @ S)[j] - (WG @ S)[j] V``
    (pA): ``WA`` collects current-mode currents and conductance x reversal potential."""
    wi, wg, we = k.weights_at(np.arange(2 * m + 1) * (dt / (2 * m)))
    return wi + we, wg


def initial(initial_values: Mapping[str, np.ndarray], var: str, default: Any, n: int) -> np.ndarray:
    """A copy of the initial values of ``var``, or ``default`` (a number or an array)."""
    if var in initial_values:
        return np.array(initial_values[var], dtype=np.float64)
    return np.array(np.broadcast_to(np.asarray(default, dtype=np.float64), (n,)))


def jumps(k: Kernels, x: np.ndarray, n: int) -> np.ndarray:
    """The step's summed delta arrivals (mV) as a contiguous array of ``n`` values."""
    return np.ascontiguousarray(np.broadcast_to(np.asarray(k.jumps(x), dtype=np.float64), (n,)))


@dataclass(frozen=True)
class SubstepPrepared:
    """Constants of a model integrated by RK4 over ``substeps`` sub-steps of length ``h``
    (ms): its parameters, synaptic kernels, the drive matrices of :func:`drive_matrices`
    and the refractory period in steps."""

    p: Any
    k: Kernels
    substeps: int
    h: float
    WA: np.ndarray
    WG: np.ndarray
    ref_steps: int


def prepare_substeps(p: Any, dt: float, channels: tuple[SynapseType, ...], m: int,
                     t_ref: float = 0.0) -> SubstepPrepared:
    """Kernels and drive matrices for ``m`` sub-steps of ``dt``; ``t_ref`` in ms."""
    k = synapses.kernels(channels, dt)
    WA, WG = drive_matrices(k, dt, m)
    return SubstepPrepared(p, k, m, dt / m, WA, WG, int(timegrid.to_steps(t_ref, dt)))
