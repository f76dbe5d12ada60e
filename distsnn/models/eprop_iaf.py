"""``eprop_iaf``: NEST 3.10's leaky integrate-and-fire neuron for e-prop (Bellec et al. 2020).

Equations (units ms, mV, pA, pF; ``v = V_m - E_L``; one step ``h``)::

    alpha = exp(-h / tau_m),  P_i = tau_m / C_m (1 - alpha)
    v(n)  = P_i i_in(n-1) + z_in(n) + alpha v(n-1),   v >= V_min
    psi(n) = surrogate(r, v(n), V_th)                  (before the threshold)
    v(n) >= V_th and r == 0  ->  spike z(n) = 1, v -= V_th (reset by subtraction), r = t_ref

``z_in(n)`` is the summed weight (mV) of the spikes arriving at step ``n`` (synapse type
``delta``); ``i_in(n-1) = I_e + I_ext(n-1)``, the current of the previous step (0 before
the first step, as NEST's state). The refractory count is decremented at the start of
the step, so ``psi`` is 0 for ``ceil(t_ref / h) - 1`` steps after a spike
(:mod:`distsnn.models.surrogate`). This is NEST's ``eprop_iaf::update`` operation for
operation; ``surrogate_gradient`` is a recordable, and so is ``learning_signal`` (mV, NEST's:
``L_j`` of two steps before, written by the online trainer, :mod:`distsnn.learning.online`;
0 otherwise).

The learning parameters (``c_reg``, ``f_target``, ``kappa``, ``kappa_reg``) are read by
:mod:`distsnn.learning` (eligibility traces and firing-rate regularisation); the model
itself does not use them. ``f_target`` is in spikes/s (NEST's input unit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from .. import synapses, validate
from . import common
from .surrogate import FUNCTIONS, surrogate

NAME = "eprop_iaf"
SYNAPSE_KINDS = (("delta", "current"),)
RECORDABLE = ("V_m", "surrogate_gradient", "learning_signal")
INITIAL = ("V_m",)
DURATIONS = ("t_ref",)


@dataclass(frozen=True)
class Params:
    """NEST 3.10's ``eprop_iaf`` defaults.

    C_m (pF), c_reg (firing-rate regularisation coefficient, 1), E_L (mV), f_target
    (target rate of the regularisation, spikes/s), I_e (pA), surrogate_gradient_function
    (:data:`~distsnn.models.surrogate.FUNCTIONS`), surrogate_gradient_height (1),
    surrogate_gradient_width (mV), t_ref (ms), tau_m (ms), V_min (mV, lower bound of
    V_m), V_th (mV), kappa and kappa_reg (per-step decay of the filtered eligibility
    trace and of the regularisation's rate estimate, in [0, 1]).
    """

    C_m: float = 250.0
    c_reg: float = 0.0
    E_L: float = -70.0
    f_target: float = 10.0
    I_e: float = 0.0
    surrogate_gradient_function: str = "piecewise_linear"
    surrogate_gradient_height: float = 0.3
    surrogate_gradient_width: float = 1.0
    t_ref: float = 2.0
    tau_m: float = 10.0
    V_min: float = -math.inf
    V_th: float = -55.0
    kappa: float = 0.97
    kappa_reg: float = 0.97


UNITS = {"C_m": "pF", "E_L": "mV", "f_target": "spikes/s", "I_e": "pA", "surrogate_gradient_width": "mV",
         "t_ref": "ms", "tau_m": "ms", "V_min": "mV", "V_th": "mV"}
CHOICES = {"surrogate_gradient_function": tuple(FUNCTIONS)}


def check_common(owner: str, p: Any) -> None:
    """Bounds shared by the e-prop neurons (NEST's ``BadProperty`` checks)."""
    for k in ("kappa", "kappa_reg"):
        validate.in_range(owner, k, getattr(p, k), 0.0, 1.0)
    if not p.V_th >= p.V_min:
        raise ValueError(f"{owner}: V_th must be >= V_min = {p.V_min} mV, got {p.V_th}")


def without_unbounded_v_min(given: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """``given`` without ``V_min = -inf`` (the default, which a written TOML file holds and
    the finite-number check would refuse), and whether it was there."""
    v = given.get("V_min")
    unbounded = isinstance(v, float) and v == -math.inf
    return {k: x for k, x in given.items() if not (k == "V_min" and unbounded)}, unbounded


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    given, _ = without_unbounded_v_min(given)
    p = common.parse(owner, Params, given, UNITS, positive=("C_m", "tau_m", "surrogate_gradient_height",
                                                              "surrogate_gradient_width"),
                     non_negative=("c_reg", "f_target", "t_ref"), choices=CHOICES)
    check_common(owner, p)
    return p


@dataclass(frozen=True)
class Prepared:
    """``alpha = exp(-h / tau_m)``, ``P_i = tau_m / C_m (1 - alpha)``, thresholds relative
    to E_L, the refractory period in steps; ``I_ext``: current generators' current (pA)."""

    p: Params
    dt: float
    alpha: float
    P_i: float
    theta: float
    v_min: float
    ref_steps: int
    I_ext: Any = 0.0


def prepare(p: Params, dt: float, channels: tuple[synapses.SynapseType, ...],
            key: tuple[int, int] | None = None) -> Prepared:
    alpha = math.exp(-dt / p.tau_m)
    return Prepared(p=p, dt=dt, alpha=alpha, P_i=p.tau_m / p.C_m * (1.0 - alpha), theta=p.V_th - p.E_L,
                    v_min=p.V_min - p.E_L, ref_steps=common.refractory_steps(p.t_ref, dt))


@dataclass(frozen=True)
class State:
    """``v = V_m - E_L`` (mV), refractory steps left ``r``, this step's spike ``z`` (0/1),
    surrogate gradient ``psi``, the current ``i_in`` (pA) that acts on the next step;
    ``learning_signal``: one array carried from step to step, which a trainer fills."""

    v: np.ndarray
    r: np.ndarray
    z: np.ndarray
    psi: np.ndarray
    i_in: np.ndarray
    E_L: float
    learning_signal: np.ndarray = None


def init_state(prep: Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> State:
    n = gids.size
    v = common.initial(initial, "V_m", prep.p.E_L, n) - prep.p.E_L
    return State(v=v, r=np.zeros(n, np.int64), z=np.zeros(n), psi=np.zeros(n), i_in=np.zeros(n), E_L=prep.p.E_L,
                 learning_signal=np.zeros(n))


def spike_input(x: np.ndarray, n: int) -> np.ndarray:
    """The step's summed spike weights (mV) over the (delta) channels, in channel order."""
    return synapses.sum_rows(x) if x.shape[0] else np.zeros(n)


def membrane(v: np.ndarray, i_in: np.ndarray, x: np.ndarray, c: Any) -> np.ndarray:
    """NEST's ``v_m = P_i_in i_in + z_in + P_v_m v_m``, bounded below by V_min."""
    return np.maximum(c.P_i * i_in + spike_input(x, v.size) + c.alpha * v, c.v_min)


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n``; ``x``: arrivals (mV) per channel, shape (channels, neurons). Pure."""
    r = np.maximum(s.r - 1, 0)
    v = membrane(s.v, s.i_in, x, c)
    p = c.p
    psi = surrogate(p.surrogate_gradient_function, r, v, c.theta, p.surrogate_gradient_height,
                    p.surrogate_gradient_width)
    spiked = (v >= c.theta) & (r == 0)
    v = np.where(spiked, v - c.theta, v)
    r = np.where(spiked, c.ref_steps, r)
    i_in = np.broadcast_to(p.I_e + c.I_ext, v.shape).astype(np.float64)
    return State(v=v, r=r, z=spiked.astype(np.float64), psi=psi, i_in=i_in, E_L=s.E_L,
                 learning_signal=s.learning_signal), spiked


def with_current(prep: Prepared, current: np.ndarray) -> Prepared:
    """The constants with a current generator's current (pA, per local neuron) for one step."""
    return replace(prep, I_ext=current)


def record(s: State, var: str) -> np.ndarray:
    if var == "V_m":
        return s.v + s.E_L
    if var == "learning_signal":
        return s.learning_signal.copy()      # the trainer writes into it in place
    return s.psi
