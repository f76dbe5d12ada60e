"""``eprop_readout``: NEST 3.10's leaky readout neuron for e-prop.

Equations (units ms, mV, pA, pF; ``v = V_m - E_L``; one step ``h``)::

    v(n)      = P_i i_in(n-1) + z_in(n) + alpha v(n-1),   v >= V_min
    y(n)      = v(n) + E_L                          readout_signal
    err(n)    = y(n) - y*(n)                        error_signal (mean squared error)

with ``alpha``, ``P_i`` as in :mod:`distsnn.models.eprop_iaf` (NEST's
``eprop_readout::update``). The target ``y*`` (``target_signal``) is a time series given
by the trainer (:func:`with_target`): it holds from step ``t0 + 1`` for as many steps as
it has columns; outside it, target, readout and error signals read 0, as NEST's
learning window gates them. Recordables ``V_m``, ``readout_signal``, ``target_signal``,
``error_signal``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from .. import synapses
from . import common, eprop_iaf

NAME = "eprop_readout"
SYNAPSE_KINDS = eprop_iaf.SYNAPSE_KINDS
RECORDABLE = ("V_m", "readout_signal", "target_signal", "error_signal")
INITIAL = ("V_m",)


@dataclass(frozen=True)
class Params:
    """NEST 3.10's ``eprop_readout`` defaults: C_m (pF), E_L (mV), I_e (pA), tau_m (ms),
    V_min (mV, lower bound of V_m)."""

    C_m: float = 250.0
    E_L: float = 0.0
    I_e: float = 0.0
    tau_m: float = 10.0
    V_min: float = -math.inf


UNITS = {"C_m": "pF", "E_L": "mV", "I_e": "pA", "tau_m": "ms", "V_min": "mV"}


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    given, _ = eprop_iaf.without_unbounded_v_min(given)
    return common.parse(owner, Params, given, UNITS, positive=("C_m", "tau_m"))


@dataclass(frozen=True)
class Prepared:
    """``alpha``, ``P_i``, ``v_min`` as ``eprop_iaf``; ``target`` (local neurons x steps,
    or None) starting after step ``t0``; ``I_ext`` as ``eprop_iaf``."""

    p: Params
    dt: float
    alpha: float
    P_i: float
    v_min: float
    target: np.ndarray | None = None
    t0: int = 0
    I_ext: Any = 0.0


def prepare(p: Params, dt: float, channels: tuple[synapses.SynapseType, ...],
            key: tuple[int, int] | None = None) -> Prepared:
    alpha = math.exp(-dt / p.tau_m)
    return Prepared(p=p, dt=dt, alpha=alpha, P_i=p.tau_m / p.C_m * (1.0 - alpha), v_min=p.V_min - p.E_L)


def with_target(prep: Prepared, target: np.ndarray | None, t0: int) -> Prepared:
    """The constants with the target signal ``target`` (local neurons x steps) holding
    from step ``t0 + 1`` (None: no target)."""
    return replace(prep, target=None if target is None else np.asarray(target, dtype=np.float64), t0=int(t0))


@dataclass(frozen=True)
class State:
    """``v = V_m - E_L`` (mV), ``i_in`` (pA, acts on the next step), the step's readout
    ``y``, target ``y_star`` and error ``err`` (mV)."""

    v: np.ndarray
    i_in: np.ndarray
    y: np.ndarray
    y_star: np.ndarray
    err: np.ndarray
    E_L: float


def init_state(prep: Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> State:
    n = gids.size
    v = common.initial(initial, "V_m", prep.p.E_L, n) - prep.p.E_L
    z = np.zeros(n)
    return State(v=v, i_in=np.zeros(n), y=z, y_star=z, err=z, E_L=prep.p.E_L)


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n``; never spikes. Pure."""
    v = eprop_iaf.membrane(s.v, s.i_in, x, c)
    j = n - c.t0 - 1
    if c.target is not None and 0 <= j < c.target.shape[1]:
        y = v + c.p.E_L
        y_star = c.target[:, j].copy()
        err = y - y_star
    else:
        y = y_star = err = np.zeros_like(v)
    i_in = np.broadcast_to(c.p.I_e + c.I_ext, v.shape).astype(np.float64)
    return State(v=v, i_in=i_in, y=y, y_star=y_star, err=err, E_L=s.E_L), np.zeros(v.size, dtype=np.bool_)


def with_current(prep: Prepared, current: np.ndarray) -> Prepared:
    return replace(prep, I_ext=current)


def record(s: State, var: str) -> np.ndarray:
    return {"V_m": lambda: s.v + s.E_L, "readout_signal": lambda: s.y, "target_signal": lambda: s.y_star,
            "error_signal": lambda: s.err}[var]()
