"""``eprop_iaf_adapt``: NEST 3.10's e-prop neuron with threshold adaptation (ALIF).

As :mod:`distsnn.models.eprop_iaf`, with an adaptation variable ``a`` that each spike
raises and that decays with ``adapt_tau`` (ms)::

    a(n)     = exp(-h / adapt_tau) a(n-1) + z(n-1)
    V_th'(n) = V_th + adapt_beta a(n)                 (threshold and surrogate use V_th')
    spike: v -= V_th (the base threshold, as NEST), r = t_ref

in NEST's order: membrane, adaptation, surrogate, threshold. Recordables ``V_m``,
``surrogate_gradient``, ``learning_signal``, ``V_th_adapt`` (mV) and ``adaptation``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from .. import synapses
from . import common, eprop_iaf
from .surrogate import surrogate

NAME = "eprop_iaf_adapt"
SYNAPSE_KINDS = eprop_iaf.SYNAPSE_KINDS
RECORDABLE = ("V_m", "surrogate_gradient", "learning_signal", "V_th_adapt", "adaptation")
INITIAL = ("V_m", "adaptation")
DURATIONS = ("t_ref",)


@dataclass(frozen=True)
class Params(eprop_iaf.Params):
    """``eprop_iaf``'s parameters and NEST's defaults, plus adapt_beta (mV per unit of
    adaptation) and adapt_tau (ms)."""

    adapt_beta: float = 1.0
    adapt_tau: float = 10.0


UNITS = dict(eprop_iaf.UNITS, adapt_beta="mV", adapt_tau="ms")


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    given, _ = eprop_iaf.without_unbounded_v_min(given)
    p = common.parse(owner, Params, given, UNITS, positive=("C_m", "tau_m", "surrogate_gradient_height",
                                                              "surrogate_gradient_width", "adapt_tau"),
                     non_negative=("c_reg", "f_target", "t_ref", "adapt_beta"), choices=eprop_iaf.CHOICES)
    eprop_iaf.check_common(owner, p)
    return p


@dataclass(frozen=True)
class Prepared(eprop_iaf.Prepared):
    """``eprop_iaf``'s constants and ``rho = exp(-h / adapt_tau)``."""

    rho: float = 0.0


def prepare(p: Params, dt: float, channels: tuple[synapses.SynapseType, ...],
            key: tuple[int, int] | None = None) -> Prepared:
    base = eprop_iaf.prepare(p, dt, channels)
    return Prepared(**{f: getattr(base, f) for f in base.__dataclass_fields__}, rho=math.exp(-dt / p.adapt_tau))


@dataclass(frozen=True)
class State(eprop_iaf.State):
    """``eprop_iaf``'s state, the adaptation ``a`` (1) and threshold ``v_th`` (mV, relative to E_L)."""

    a: np.ndarray = None
    v_th: np.ndarray = None


def init_state(prep: Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> State:
    base = eprop_iaf.init_state(prep, initial, gids, index)
    a = common.initial(initial, "adaptation", 0.0, gids.size)
    return State(**{f: getattr(base, f) for f in base.__dataclass_fields__ if f not in ("a", "v_th")}, a=a,
                 v_th=prep.theta + prep.p.adapt_beta * a)


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n`` (see the module docstring). Pure."""
    p = c.p
    r = np.maximum(s.r - 1, 0)
    v = eprop_iaf.membrane(s.v, s.i_in, x, c)
    a = c.rho * s.a + s.z
    v_th = c.theta + p.adapt_beta * a
    psi = surrogate(p.surrogate_gradient_function, r, v, v_th, p.surrogate_gradient_height,
                    p.surrogate_gradient_width)
    spiked = (v >= v_th) & (r == 0)
    v = np.where(spiked, v - c.theta, v)
    r = np.where(spiked, c.ref_steps, r)
    i_in = np.broadcast_to(p.I_e + c.I_ext, v.shape).astype(np.float64)
    return State(v=v, r=r, z=spiked.astype(np.float64), psi=psi, i_in=i_in, E_L=s.E_L, a=a, v_th=v_th,
                 learning_signal=s.learning_signal), spiked


def with_current(prep: Prepared, current: np.ndarray) -> Prepared:
    return replace(prep, I_ext=current)


def record(s: State, var: str) -> np.ndarray:
    if var == "V_th_adapt":
        return s.v_th + s.E_L
    if var == "adaptation":
        return s.a
    return eprop_iaf.record(s, var)
