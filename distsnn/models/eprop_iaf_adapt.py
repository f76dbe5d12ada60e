"""``eprop_iaf_adapt``: NEST 3.10's e-prop neuron with threshold adaptation (ALIF).

As :mod:`distsnn.models.eprop_iaf`, with an adaptation variable ``a`` that each spike
raises and that decays with ``adapt_tau`` (ms)::

    a(n)     = exp(-h / adapt_tau) a(n-1) + z(n-1)
    V_th'(n) = V_th + adapt_beta a(n)                 (threshold and surrogate use V_th')
    spike: v -= V_th (the base threshold, as NEST), r = t_ref

in NEST's order: membrane, adaptation, surrogate, threshold: the loop of
:func:`distsnn.models.eprop_iaf._advance` with its adaptation switched on. Recordables ``V_m``,
``surrogate_gradient``, ``learning_signal``, ``V_th_adapt`` (mV) and ``adaptation``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from .. import synapses
from ..synapses import QUANTUM
from . import common, eprop_iaf

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


def state_arrays(s: State) -> tuple[np.ndarray, ...]:
    """The arrays :func:`distsnn.models.eprop_iaf._advance` updates in place."""
    return s.v, s.r, s.z, s.psi, s.i_in, s.a, s.v_th


def kernel_constants(c: Prepared, n: int) -> tuple:
    """``eprop_iaf``'s loop constants with the adaptation (rho, adapt_beta) switched on."""
    return eprop_iaf.kernel_constants(c, n, True, c.rho, c.p.adapt_beta)


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n`` (see the module docstring). Pure."""
    s = State(v=s.v.copy(), r=s.r.copy(), z=s.z.copy(), psi=s.psi.copy(), i_in=s.i_in.copy(), E_L=s.E_L,
              a=s.a.copy(), v_th=s.v_th.copy(), learning_signal=s.learning_signal)
    spiked = common.one_step(eprop_iaf._advance, state_arrays(s), x, n, kernel_constants(c, s.v.size))
    return s, spiked


def advance(s: State, c: Prepared, ring: np.ndarray, port0: int, n_ports: int, first: int, last: int,
            out_index: np.ndarray, out_step: np.ndarray) -> tuple[int, int]:
    """Advance ``s`` in place through steps ``first..last`` (:func:`eprop_iaf.advance`)."""
    return eprop_iaf._advance(*state_arrays(s), ring, QUANTUM, port0, n_ports, first, last, out_index, out_step,
                              *kernel_constants(c, s.v.size))


def with_current(prep: Prepared, current: np.ndarray) -> Prepared:
    return replace(prep, I_ext=current)


with_trace = eprop_iaf.with_trace
fused_loop = eprop_iaf.fused_loop


def record(s: State, var: str) -> np.ndarray:
    if var == "V_th_adapt":
        return s.v_th + s.E_L
    if var == "adaptation":
        return s.a
    return eprop_iaf.record(s, var)
