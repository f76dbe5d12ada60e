"""Adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005), NEST's
``aeif_cond_exp`` / ``aeif_psc_exp`` with the synapses taken from the projections.

Equations (units ms, mV, pA, nS, pF)::

    C_m dV/dt = -g_L (V - E_L) + g_L Delta_T exp((V - V_th) / Delta_T) - w + I_e + I_syn(t)
    tau_w dw/dt = a (V - E_L) - w
    V >= V_peak  ->  spike, V = V_reset, w = w + b, clamped at V_reset for t_ref

``I_syn`` sums the current-based components (pA) and ``g_k(t) (e_rev_k - V)`` of the
conductance-based ones; delta weights (mV) jump V (discarded while refractory).

Integrator: classical RK4 on (V, w) over sub-steps of at most ``H_MAX`` = 0.01 ms
(compiled with numba), with the exact synaptic drive at the stage times. Care near
threshold: past V_th the exponential term makes V diverge in finite time, so

- the right-hand side is evaluated at ``min(V, V_peak)`` (as NEST does): RK4's stages
  can overshoot far beyond V_peak within a sub-step, and a right-hand side evaluated
  there would overflow the exponential or, through the leak term, swing V back down;
  clamped, every stage past V_peak pushes V up and the crossing is caught;
- V_peak is checked after every sub-step; a crossing is placed within its sub-step by
  linear interpolation, the reset (V = V_reset, w += b) is applied there and the reset
  state integrates for the rest of the sub-step, so w jumps at the right time and
  resets are never late by up to a sub-step (an error that would add up spike after
  spike); the step carries the spike. The neuron is then clamped at V_reset for the
  rest of the step and ``round(t_ref / dt)`` more steps (w relaxes exactly with V =
  V_reset), or, with t_ref = 0 (the default), integrates on from V_reset.

RK4 with short sub-steps because the upswing from V_th to V_peak takes only a few
``Delta_T`` of membrane time; 0.01 ms resolves it. Spike times converge as dt halves
(within about one step of a dt = 1/320 ms run over tens of spikes, tested). At most one
spike per step is emitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from numba import njit

from .. import synapses
from ..synapses import Kernels, SynapseType
from . import common

NAME = "adex"
SYNAPSE_KINDS = synapses.PAIRS
RECORDABLE = ("V_m", "w", "I_syn", "g_syn")
INITIAL = ("V_m", "w")
#: Longest RK4 sub-step (ms).
H_MAX = 0.01
#: Largest (V_peak - V_th) / Delta_T: the exponential at V_peak must stay finite.
MAX_EXPONENT = 600.0


@dataclass(frozen=True)
class Params:
    """NEST ``aeif_cond_exp`` defaults.

    C_m: capacitance (pF); g_L: leak conductance (nS); E_L: leak reversal potential (mV);
    V_th: threshold of the exponential term (mV); Delta_T: slope factor (mV); tau_w:
    adaptation time constant (ms); a: subthreshold adaptation (nS); b: spike-triggered
    adaptation (pA); V_reset: reset potential (mV); V_peak: spike cut-off (mV); t_ref:
    refractory period (ms); I_e: constant bias current (pA).
    """

    C_m: float = 281.0
    g_L: float = 30.0
    E_L: float = -70.6
    V_th: float = -50.4
    Delta_T: float = 2.0
    tau_w: float = 144.0
    a: float = 4.0
    b: float = 80.5
    V_reset: float = -60.0
    V_peak: float = 0.0
    t_ref: float = 0.0
    I_e: float = 0.0


_UNITS = {"C_m": "pF", "g_L": "nS", "E_L": "mV", "V_th": "mV", "Delta_T": "mV", "tau_w": "ms", "a": "nS",
          "b": "pA", "V_reset": "mV", "V_peak": "mV", "t_ref": "ms", "I_e": "pA"}


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    p = common.parse(owner, Params, given, _UNITS, positive=("C_m", "g_L", "Delta_T", "tau_w"),
                     non_negative=("t_ref",))
    common.require_below(owner, p, "V_th", "V_peak")
    common.require_below(owner, p, "V_reset", "V_peak")
    if (p.V_peak - p.V_th) / p.Delta_T > MAX_EXPONENT:
        raise ValueError(f"{owner}: (V_peak - V_th) / Delta_T must be <= {MAX_EXPONENT:g} (the exponential "
                         f"term must stay finite), got {(p.V_peak - p.V_th) / p.Delta_T:g}")
    return p


Prepared = common.SubstepPrepared


@dataclass(frozen=True)
class State:
    V: np.ndarray
    w: np.ndarray
    refr: np.ndarray
    S: np.ndarray
    k: Kernels        # shared and constant: to record the synaptic current


def prepare(p: Params, dt: float, channels: tuple[SynapseType, ...],
            key: tuple[int, int] | None = None) -> Prepared:
    return common.prepare_substeps(p, dt, channels, common.substeps(dt, H_MAX), p.t_ref)


def init_state(prep: Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> State:
    """V defaults to E_L and w to 0."""
    n = gids.size
    return State(V=common.initial(initial, "V_m", prep.p.E_L, n), w=common.initial(initial, "w", 0.0, n),
                 refr=np.zeros(n, dtype=np.int64), S=common.synaptic_state(prep.k.channel, prep.k.coef, initial, n), k=prep.k)


@njit(cache=True, inline="always")
def _f(V, w, A, G, C, gL, EL, VT, DT, tau_w, a, Ie, V_peak):
    # Right-hand side at min(V, V_peak); see the module docstring.
    V = min(V, V_peak)
    dV = (-gL * (V - EL) + gL * DT * np.exp((V - VT) / DT) - w + Ie + A - G * V) / C
    return dV, (a * (V - EL) - w) / tau_w


@njit(cache=True, inline="always")
def _rk4(V, w, h, A0, G0, A1, G1, A2, G2, C, gL, EL, VT, DT, tau_w, a, Ie, V_peak):
    q = 0.5 * h
    k1 = _f(V, w, A0, G0, C, gL, EL, VT, DT, tau_w, a, Ie, V_peak)
    k2 = _f(V + q * k1[0], w + q * k1[1], A1, G1, C, gL, EL, VT, DT, tau_w, a, Ie, V_peak)
    k3 = _f(V + q * k2[0], w + q * k2[1], A1, G1, C, gL, EL, VT, DT, tau_w, a, Ie, V_peak)
    k4 = _f(V + h * k3[0], w + h * k3[1], A2, G2, C, gL, EL, VT, DT, tau_w, a, Ie, V_peak)
    return (V + h / 6.0 * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0]),
            w + h / 6.0 * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1]))


@njit(cache=True, inline="always")
def _relax_w(w, V_reset, EL, a, tau_w, h):
    # w over h with V held at V_reset: exact.
    w_inf = a * (V_reset - EL)
    return w_inf + (w - w_inf) * np.exp(-h / tau_w)


@njit(cache=True)
def _integrate(V, w, free, spiked, A, G, jumps, C, gL, EL, VT, DT, tau_w, a, b, Ie, V_peak, V_reset,
               hold, dt_sub, substeps):
    # RK4 sub-steps, in place; A[j], G[j]: drive at offset j dt_sub / 2. A crossing of
    # V_peak within a sub-step is placed by linear interpolation at a fraction theta of
    # it; the reset state then integrates (or, if held, relaxes w) for the rest of the
    # sub-step. A held neuron (free[i] false) stays at V_reset while w relaxes.
    for i in range(V.size):
        v, u, clamped = V[i], w[i], not free[i]
        for j in range(substeps):
            if clamped:
                u = _relax_w(u, V_reset, EL, a, tau_w, dt_sub)
                continue
            A0, G0 = A[2 * j, i], G[2 * j, i]
            A1, G1 = A[2 * j + 1, i], G[2 * j + 1, i]
            A2, G2 = A[2 * j + 2, i], G[2 * j + 2, i]
            v1, u1 = _rk4(v, u, dt_sub, A0, G0, A1, G1, A2, G2, C, gL, EL, VT, DT, tau_w, a, Ie, V_peak)
            if v1 >= V_peak:
                spiked[i] = True
                theta = (V_peak - v) / (v1 - v) if v < V_peak else 0.0
                rest = (1.0 - theta) * dt_sub
                u1 = u + theta * (u1 - u) + b
                if hold:
                    clamped = True
                    v1, u1 = V_reset, _relax_w(u1, V_reset, EL, a, tau_w, rest)
                else:
                    v1, u1 = _rk4(V_reset, u1, rest, A2, G2, A2, G2, A2, G2, C, gL, EL, VT, DT, tau_w, a, Ie,
                                  V_peak)
            v, u = v1, u1
        if not clamped:
            v += jumps[i]
            if v >= V_peak:
                spiked[i] = True
                v = V_reset
                u += b
        V[i], w[i] = v, u


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n``. ``x``: arrivals per channel, shape (channels, neurons). Pure."""
    p = c.p
    V, w = s.V.copy(), s.w.copy()
    free = s.refr == 0
    spiked = np.zeros(V.shape, dtype=bool)
    _integrate(V, w, free, spiked, c.WA @ s.S + c.I_ext, c.WG @ s.S, common.jumps(c.k, x, V.size), p.C_m, p.g_L,
               p.E_L, p.V_th, p.Delta_T, p.tau_w, p.a, p.b, p.I_e, p.V_peak, p.V_reset, c.ref_steps > 0,
               c.h, c.substeps)
    refr = np.where(spiked, c.ref_steps, np.maximum(s.refr - 1, 0))
    return State(V, w, refr, c.k.arrive(s.S, x), s.k), spiked


#: Current generators enter through the stage drive (see common.SubstepPrepared.I_ext).
with_current = common.with_current


def record(s: State, var: str) -> np.ndarray:
    if var == "V_m":
        return s.V
    if var == "w":
        return s.w
    if var == "I_syn":
        return s.k.current(s.S, s.V)
    return s.k.conductance_total(s.S)
