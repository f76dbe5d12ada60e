"""Leaky integrate-and-fire neuron, current-based, integrated exactly.

Equations (units ms, mV, pA, pF)::

    C_m dV/dt = -(C_m / tau_m) (V - E_L) + I_e + sum_k I_k(t)
    dI_k/dt   = -I_k / tau_k            (one component per ``exp`` channel, two per
                                         ``double_exp``: see :mod:`distsnn.synapses`)
    V >= V_th  ->  spike, V = V_reset, clamped for t_ref

Synapses: ``delta``, ``exp`` and ``double_exp``, current-based only (the model is
linear; for conductance synapses use ``lif_cond``).

Between arrivals the system is linear, so it is advanced by its exact propagator
(Rotter & Diesmann 1999), computed once in :func:`prepare`::

    P22   = exp(-h / tau_m)
    P20   = tau_m / C_m (1 - P22)                       (constant current)
    P11_k = exp(-h / tau_k)
    P21_k = h / C_m exp(-h / tau_m) expm1(y) / y,  y = h (1 / tau_m - 1 / tau_k)

(the form of P21 has no cancellation when tau_k is close to tau_m, and its limit is
exact at tau_k = tau_m). One step n -> n+1 does, in NEST's order for ``iaf_psc_delta``
and ``iaf_psc_exp``:

1. if not refractory: ``V <- E_L + P22 (V - E_L) + P20 I_e + sum_k P21_k I_k + sum(delta
   arrivals)``; else count the refractory step down (delta arrivals are discarded);
2. ``I_k <- P11_k I_k + c_k (arrivals of its channel)`` (``c_k``: 1, or the double
   exponential's ``+f`` / ``-f``);
3. if ``V >= V_th``: spike at step n+1, ``V <- V_reset``, refractory for
   ``ceil(t_ref / dt)`` steps (rounded up, as NEST does).

An arrival at step a therefore moves V at step a (delta) or starts moving it at step
a+1 (exp), as in NEST.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from .. import synapses
from ..synapses import SynapseType
from . import common

NAME = "lif"
SYNAPSE_KINDS = synapses.CURRENT_PAIRS
RECORDABLE = ("V_m", "I_syn")
INITIAL = ("V_m",)      # and ``syn:<projection>``: a current channel's current (pA)
#: Parameters (ms) that become whole steps, rounded up (NEST's rule for refractory periods).
DURATIONS = ("t_ref",)


@dataclass(frozen=True)
class Params:
    """Parameters, with NEST's ``iaf_psc_delta`` defaults. Each is a float, or after
    :func:`distsnn.models.common.resolve` an array over the local neurons.

    C_m: membrane capacitance (pF); tau_m: membrane time constant (ms); t_ref: absolute
    refractory period (ms); E_L: resting potential (mV); V_th: threshold (mV); V_reset:
    reset potential (mV); I_e: constant bias current (pA).
    """

    C_m: float = 250.0
    tau_m: float = 10.0
    t_ref: float = 2.0
    E_L: float = -70.0
    V_th: float = -55.0
    V_reset: float = -70.0
    I_e: float = 0.0


_UNITS = {"C_m": "pF", "tau_m": "ms", "t_ref": "ms", "E_L": "mV", "V_th": "mV", "V_reset": "mV", "I_e": "pA"}


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    """Checked parameters; each may be a number, one value per neuron or a distribution
    (:func:`distsnn.models.common.param_value`)."""
    p = common.parse(owner, Params, given, _UNITS, positive=("C_m", "tau_m"), non_negative=("t_ref",),
                     size=size)
    common.check_below(owner, p, "V_reset", "V_th")
    return p


@dataclass(frozen=True)
class Prepared:
    """Propagators; per synaptic component k: ``P11[k]``, ``P21[k]`` (shape (components,),
    or (components, neurons) with per-neuron ``tau_m`` or ``C_m``), ``exp_rows[k]`` (its
    channel) and ``coef[k]`` (what an arrival of weight 1 adds to ``I[k]``). ``P22``,
    ``P20`` and ``ref_steps`` are scalars or arrays over the neurons."""

    p: Params
    P22: np.ndarray
    P20: np.ndarray
    P11: np.ndarray
    P21: np.ndarray
    delta_rows: np.ndarray
    exp_rows: np.ndarray
    coef: np.ndarray
    ref_steps: np.ndarray


@dataclass(frozen=True)
class State:
    V: np.ndarray
    refr: np.ndarray
    I: np.ndarray


def prepare(p: Params, dt: float, channels: tuple[SynapseType, ...],
            key: tuple[int, int] | None = None) -> Prepared:
    """Propagators for step ``dt``; ``key`` (the population's random stream) is unused.
    Per-neuron parameters give per-neuron propagators (``P21``: components x neurons)."""
    h = dt
    tau_m = np.asarray(p.tau_m, dtype=np.float64)
    C_m = np.asarray(p.C_m, dtype=np.float64)
    P22 = np.exp(-h / tau_m)
    k = synapses.kernels(channels, dt)
    y = h * (1.0 / tau_m[..., None] - 1.0 / k.tau)          # (neurons, components) or (components,)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(y == 0.0, 1.0, np.expm1(y) / np.where(y == 0.0, 1.0, y))
    P21 = (h / C_m)[..., None] * P22[..., None] * ratio
    return Prepared(
        p=p, P22=P22, P20=-tau_m / C_m * np.expm1(-h / tau_m),
        P11=k.decay, P21=np.ascontiguousarray(P21.T),
        delta_rows=k.delta_rows, exp_rows=k.channel, coef=k.coef,
        ref_steps=common.refractory_steps(p.t_ref, dt))


def init_state(prep: Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> State:
    n = gids.size
    V = np.asarray(initial["V_m"], dtype=np.float64) if "V_m" in initial else np.full(n, prep.p.E_L)
    return State(V=V.copy(), refr=np.zeros(n, dtype=np.int64),
                 I=common.synaptic_state(prep.exp_rows, prep.coef, initial, n))


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n``. ``x``: arrivals per channel, shape (channels, neurons). Pure."""
    p = c.p
    v = p.E_L + c.P22 * (s.V - p.E_L) + c.P20 * p.I_e
    if c.exp_rows.size:
        v = v + common.weighted_rows(c.P21, s.I)
    if c.delta_rows.size:
        v = v + synapses.sum_rows(x[c.delta_rows])
    active = s.refr == 0
    v = np.where(active, v, s.V)
    refr = np.where(active, s.refr, s.refr - 1)
    current = s.I * c.P11[:, None] + c.coef[:, None] * x[c.exp_rows] if c.exp_rows.size else s.I
    spiked = v >= p.V_th
    v = np.where(spiked, p.V_reset, v)
    refr = np.where(spiked, c.ref_steps, refr)
    return State(V=v, refr=refr, I=current), spiked


def with_current(prep: Prepared, current: np.ndarray) -> Prepared:
    """The constants with an external current (pA, per local neuron) added to ``I_e`` for
    one step: how current generators (:mod:`distsnn.currents`) enter the model."""
    return replace(prep, p=replace(prep.p, I_e=prep.p.I_e + current))


def record(s: State, var: str) -> np.ndarray:
    if var == "V_m":
        return s.V
    return synapses.sum_rows(s.I)
