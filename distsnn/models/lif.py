"""Leaky integrate-and-fire neuron, current-based, integrated exactly.

Equations (units ms, mV, pA, pF)::

    C_m dV/dt = -(C_m / tau_m) (V - E_L) + I_e + sum_k I_k(t)
    dI_k/dt   = -I_k / tau_k            (one component per ``exp`` channel, two per
                                         ``double_exp``: see :mod:`distsnn.synapses`)
    V >= V_th  ->  spike, V = V_reset, clamped for t_ref

Synapses: ``delta``, ``exp``, ``double_exp`` and ``alpha``, current-based only (the model
is linear; for conductance synapses use ``lif_cond``).

Between arrivals the system is linear, so it is advanced by its exact propagator
(Rotter & Diesmann 1999), computed once in :func:`prepare`. The state holds
``y = V - E_L``, as NEST's models do, so that the update is NEST's operation for
operation::

    expm1 = expm1(-h / tau_m)
    P30   = -tau_m / C_m expm1                     (constant current)
    P_k   = h / C_m exp(-h / tau_m) expm1(x) / x,  x = h (1 / tau_m - 1 / tau_k)
            (exp and double_exp components: no cancellation when tau_k is close to
            tau_m, exact limit at tau_k = tau_m)
    P_k   = P32, P31 of NEST's IAFPropagatorAlpha  (an alpha function and its
            derivative, with NEST's singular forms near tau_k = tau_m)

One step n -> n+1 does, in the order of NEST's ``iaf_psc_alpha`` (and ``iaf_psc_delta``,
``iaf_psc_exp``, which differ only in the rounding of the sum):

1. if not refractory: ``y <- P30 I_e + sum_k P_k I_k + expm1 y + y + sum(delta
   arrivals)``, summed left to right in component order; else count the refractory step
   down (delta arrivals are discarded);
2. the synaptic components take the step's arrivals
   (:meth:`distsnn.synapses.Kernels.arrive`);
3. if ``y >= V_th - E_L``: spike at step n+1, ``y <- V_reset - E_L``, refractory for
   ``ceil(t_ref / dt)`` steps (rounded up, as NEST does).

An arrival at step a therefore moves V at step a (delta) or starts moving it at step
a+1 (exp, alpha), as in NEST.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

import numpy as np
from numba import njit

from .. import synapses, validate
from ..synapses import SynapseType
from . import common

NAME = "lif"
SYNAPSE_KINDS = synapses.CURRENT_PAIRS
RECORDABLE = ("V_m", "I_syn")
INITIAL = ("V_m",)
#: Parameters (ms) that become whole steps, rounded up (NEST's rule for refractory periods).
DURATIONS = ("t_ref",)


@dataclass(frozen=True)
class Params:
    """Parameters, with NEST's ``iaf_psc_delta`` defaults.

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


UNITS = {"C_m": "pF", "tau_m": "ms", "t_ref": "ms", "E_L": "mV", "V_th": "mV", "V_reset": "mV", "I_e": "pA"}


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    names = [f.name for f in fields(Params)]
    validate.known_fields(owner, given, names, "parameter")
    p = {k: validate.number(owner, k, v, UNITS[k]) for k, v in given.items()}
    for k in ("C_m", "tau_m"):
        if k in p:
            validate.positive(owner, k, p[k], "pF" if k == "C_m" else "ms")
    if "t_ref" in p:
        validate.non_negative(owner, "t_ref", p["t_ref"], "ms")
    out = Params(**p)
    if not out.V_reset < out.V_th:
        raise ValueError(f"{owner}: V_reset must be < V_th = {out.V_th} mV, got {out.V_reset}")
    return out


@dataclass(frozen=True)
class Prepared:
    """Propagators; ``P22 = exp(-h / tau_m)``, ``expm1 = P22 - 1`` (from ``expm1``),
    ``P20`` (= NEST's ``P30``), and per synaptic component k: ``P21[k]`` (its effect on
    V), ``P11[k]`` (its decay), and the :class:`~distsnn.synapses.Kernels` ``k``."""

    p: Params
    P22: float
    expm1: float
    P20: float
    P11: np.ndarray
    P21: np.ndarray
    k: synapses.Kernels
    theta: float
    y_reset: float
    ref_steps: int
    #: External current (pA; 0 or one value per local neuron) for the step: current generators.
    I_ext: Any = 0.0


@dataclass(frozen=True)
class State:
    """``y = V - E_L`` (mV), refractory steps left, synaptic components ``I[k]``;
    ``readout[k]``: whether component k is a current (not an alpha derivative)."""

    y: np.ndarray
    refr: np.ndarray
    I: np.ndarray
    E_L: float
    readout: tuple[bool, ...]

    @property
    def V(self) -> np.ndarray:
        """Membrane potential (mV)."""
        return self.y + self.E_L


def _alpha_propagators(tau_syn: float, tau_m: float, c_m: float, h: float) -> tuple[float, float]:
    """``(P31, P32)`` exactly as NEST 3's ``IAFPropagatorAlpha::evaluate`` computes them:
    the effect on V over ``h`` of a unit alpha derivative and a unit alpha current."""
    beta = tau_syn * tau_m / (tau_m - tau_syn) if tau_m != tau_syn else math.inf
    gamma = beta / c_m
    inv_beta = (tau_m - tau_syn) / (tau_syn * tau_m)
    exp_h_tau_syn = math.exp(-h * (1 / tau_syn))
    expm1_h_tau = math.expm1(h * inv_beta)
    P32 = gamma * exp_h_tau_syn * expm1_h_tau if math.isfinite(gamma) else math.nan
    exp_h_tau = math.exp(-h * (1 / tau_m))
    if not (math.isfinite(P32) and P32 > 0 and abs(P32) >= sys.float_info.min):
        P32 = h * (1 / c_m) * exp_h_tau
    h_min_regular = 1e-7 * tau_m * tau_m / abs(tau_m - tau_syn) if tau_m != tau_syn else math.inf
    if h > h_min_regular:
        return gamma * exp_h_tau_syn * (beta * expm1_h_tau - h), P32
    return 0.5 * h * h * (1 / c_m) * exp_h_tau, P32


def prepare(p: Params, dt: float, channels: tuple[SynapseType, ...],
            key: tuple[int, int] | None = None) -> Prepared:
    """Propagators for step ``dt``; ``key`` (the population's random stream) is unused."""
    h = dt
    P22 = math.exp(-h / p.tau_m)
    k = synapses.kernels(channels, dt)
    y = h * (1.0 / p.tau_m - 1.0 / k.tau)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(y == 0.0, 1.0, np.expm1(y) / np.where(y == 0.0, 1.0, y))
    P21 = h / p.C_m * P22 * ratio
    for j in np.flatnonzero(k.feed >= 0):
        # an alpha pair: component j is the alpha function, k.feed[j] its derivative
        P21[k.feed[j]], P21[j] = _alpha_propagators(float(k.tau[j]), p.tau_m, p.C_m, h)
    return Prepared(
        p=p, P22=P22, expm1=math.expm1(-h / p.tau_m), P20=-p.tau_m / p.C_m * math.expm1(-h / p.tau_m),
        P11=k.decay, P21=P21, k=k, theta=p.V_th - p.E_L, y_reset=p.V_reset - p.E_L,
        ref_steps=common.refractory_steps(p.t_ref, dt))


def init_state(prep: Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> State:
    n = gids.size
    E_L = prep.p.E_L
    y = np.asarray(initial["V_m"], dtype=np.float64) - E_L if "V_m" in initial else np.zeros(n)
    return State(y=np.array(y, dtype=np.float64), refr=np.zeros(n, dtype=np.int64),
                 I=common.synaptic_state(prep.k.channel, prep.k.coef, initial, n), E_L=E_L,
                 readout=tuple(bool(b) for b in prep.k.readout))


@njit(cache=True)
def _update(y, refr, I, x, P20Ie_, P21, expm1, delta_rows, channel, decay, coef, feed, feed_coef,
            theta, y_reset, ref_steps, y_out, refr_out, I_out, spiked):
    # Per neuron, NEST's iaf_psc_alpha::update term by term (no fused multiply-add, no
    # reordering), so that the rounding is NEST's.
    for i in range(y.size):
        if refr[i] == 0:
            v = P20Ie_[i]
            for j in range(P21.size):
                v = v + P21[j] * I[j, i]
            v = v + expm1 * y[i]
            v = v + y[i]
            if delta_rows.size:
                jump = x[delta_rows[0], i]
                for d in range(1, delta_rows.size):
                    jump = jump + x[delta_rows[d], i]
                v = v + jump
            r = refr[i]
        else:
            v = y[i]
            r = refr[i] - 1
        for j in range(P21.size):
            f = feed[j]
            if f >= 0:
                I_out[j, i] = feed_coef[j] * I[f, i] + decay[j] * I[j, i]
            else:
                I_out[j, i] = I[j, i] * decay[j] + coef[j] * x[channel[j], i]
        spiked[i] = v >= theta
        if spiked[i]:
            v = y_reset
            r = ref_steps
        y_out[i] = v
        refr_out[i] = r


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n``. ``x``: arrivals per channel, shape (channels, neurons). Pure."""
    k = c.k
    y, refr, I = np.empty_like(s.y), np.empty_like(s.refr), np.empty_like(s.I)
    spiked = np.empty(s.y.size, dtype=np.bool_)
    # (I_e + current generators) * P20, NEST's (I_e + i_0) * P20, one value per neuron.
    P20Ie = np.ascontiguousarray(np.broadcast_to(c.P20 * (c.p.I_e + c.I_ext), s.y.shape), dtype=np.float64)
    _update(s.y, s.refr, s.I, np.ascontiguousarray(x, dtype=np.float64), P20Ie, c.P21, c.expm1,
            k.delta_rows, k.channel, k.decay, k.coef, k.feed, k.feed_coef, c.theta, c.y_reset, c.ref_steps,
            y, refr, I, spiked)
    return State(y=y, refr=refr, I=I, E_L=s.E_L, readout=s.readout), spiked


def with_current(prep: Prepared, current: np.ndarray) -> Prepared:
    """The constants with an external current (pA, per local neuron) added to ``I_e`` for
    one step: how current generators (:mod:`distsnn.currents`) enter the model."""
    return replace(prep, I_ext=current)


def record(s: State, var: str) -> np.ndarray:
    if var == "V_m":
        return s.V
    return synapses.sum_rows(s.I[np.asarray(s.readout, dtype=bool)])
