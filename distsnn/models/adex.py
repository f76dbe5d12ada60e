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
- in the upswing the exponential term's rate ``(g_L / C_m) exp((V - V_th) / Delta_T)``
  grows without bound, and RK4 over a whole sub-step there loses its order: the
  crossing time came out early by a fraction of a sub-step at every spike (0.47 ms
  after 104 spikes of Naud's tonic neuron at dt = 0.1 ms). So a sub-step is split into
  spans no longer than ``Z_EXP`` (0.5) / rate there, with the drive in closed form;
  each span moves V by about Delta_T / 2, so an upswing costs a few tens of short spans;
- V_peak is checked after every span; a crossing is placed within its span by
  bisection: the fraction theta of the span at which one RK4 step of length theta x
  span from its start reaches V_peak, to 2**-32 of it (linear interpolation between the
  ends would misplace it: with the right-hand side capped, the end value says little
  about when V_peak was reached). The reset (V = V_reset, w = w(theta) + b) is applied
  there and the reset state integrates for the rest of the sub-step, so w jumps at the
  right time and a reset is neither early nor late (errors that would add up spike
  after spike); the step carries the spike. The neuron is then clamped at V_reset for
  the rest of the step and ``ceil(t_ref / dt)`` more steps (w relaxes exactly with V =
  V_reset), or, with t_ref = 0 (the default), integrates on from V_reset. Against a
  reference with steps of 1e-3 ms (and of 1/100 Delta_T in the upswing), every spike of
  Naud's four patterns over 1 s (17-104 spikes) is stamped at the step holding the
  reference's crossing, at dt = 0.1 and 0.0125 ms (tested);
- a neuron whose synaptic conductance would make a sub-step stiff takes shorter
  sub-steps in that step (:mod:`distsnn.models.common`; from 14,000 nS at the defaults).

RK4 with short sub-steps because the approach to V_th is fast; the upswing beyond is
resolved by the spans above. At most one spike per step is emitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from numba import njit

from .. import synapses
from ..synapses import Kernels, SynapseType
from . import common
from .common import drive_at, stage_drive, substeps_for

NAME = "adex"
SYNAPSE_KINDS = synapses.PAIRS
RECORDABLE = ("V_m", "w", "I_syn", "g_syn")
INITIAL = ("V_m", "w")
#: Parameters (ms) that become whole steps, rounded up (NEST's rule for refractory periods).
DURATIONS = ("t_ref",)
#: Longest RK4 sub-step (ms).
H_MAX = 0.01
#: Halvings of a span that place a V_peak crossing (to 2**-32 of it).
BISECTIONS = 32
#: Largest (exponential term's rate) x (span) of one RK4 span in the upswing.
Z_EXP = 0.5
#: Largest (V_peak - V_th) / Delta_T: the exponential at V_peak must stay finite.
MAX_EXPONENT = 600.0


@dataclass(frozen=True)
class Params:
    """NEST ``aeif_cond_exp`` defaults. Each may be per neuron (see :mod:`distsnn.models.lif`).

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
    """Validated parameters; each may be per neuron (an array over the population or a
    keyed distribution, :func:`distsnn.models.common.param_value`)."""
    p = common.parse(owner, Params, given, _UNITS, positive=("C_m", "g_L", "Delta_T", "tau_w"),
                     non_negative=("t_ref",), size=size)
    common.check_below(owner, p, "V_th", "V_peak")
    common.check_below(owner, p, "V_reset", "V_peak")
    _check_exponent(owner, p)
    return p


def _check_exponent(owner: str, p: Params) -> None:
    # (V_peak - V_th) / Delta_T <= MAX_EXPONENT for every neuron: elementwise where all
    # three are numbers or arrays, else on the bounds of the values they can take.
    from .. import distributions

    values = [getattr(p, k) for k in ("V_peak", "V_th", "Delta_T")]
    if all(isinstance(v, (float, distributions.ArrayValue)) for v in values):
        vp, vt, d = (np.asarray(v.values if isinstance(v, distributions.ArrayValue) else v) for v in values)
        x = np.atleast_1d((vp - vt) / d)
        worst = int(np.argmax(x))
        if x[worst] > MAX_EXPONENT:
            where = f" at neuron {worst}" if x.size > 1 else ""
            raise ValueError(f"{owner}: (V_peak - V_th) / Delta_T must be <= {MAX_EXPONENT:g} (the exponential "
                             f"term must stay finite), got {x[worst]:g}{where}")
        return
    worst = (common.value_bounds(p.V_peak)[1] - common.value_bounds(p.V_th)[0]) / common.value_bounds(p.Delta_T)[0]
    if not worst <= MAX_EXPONENT:
        raise ValueError(f"{owner}: (V_peak - V_th) / Delta_T must be <= {MAX_EXPONENT:g} (the exponential term "
                         f"must stay finite) for every value the parameters can take, got up to {worst:g}")


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
                 refr=np.zeros(n, dtype=np.int64),
                 S=common.synaptic_state(prep.k.channel, prep.k.coef, initial, n), k=prep.k)


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
def _rk4_span(V, w, t, h, S, i, ca, cg, inv_tau, C, gL, EL, VT, DT, tau_w, a, Ie, V_peak):
    # One RK4 step of length h from t ms into the step, the drive in closed form.
    A0, G0 = drive_at(ca, cg, inv_tau, S, i, t)
    A1, G1 = drive_at(ca, cg, inv_tau, S, i, t + 0.5 * h)
    A2, G2 = drive_at(ca, cg, inv_tau, S, i, t + h)
    return _rk4(V, w, h, A0, G0, A1, G1, A2, G2, C, gL, EL, VT, DT, tau_w, a, Ie, V_peak)


def _make_integrate(refined_pass: bool):
    """The kernel for neurons on the base sub-steps (``refined_pass`` false: it marks the
    neurons that need more) or for the marked ones (:func:`distsnn.models.common.run_split`)."""

    @njit(cache=True)
    def kernel(refined, V, w, free, spiked, S, WA, WG, ca, cg, inv_tau, jumps, C_, gL_, EL_, VT_, DT_, tau_w_, a_,
               b_, Ie_, V_peak_, V_reset_, hold_, dt, m):
        # RK4 over the neuron's sub-steps, in place; on the base grid the drive at stage
        # time j h / 2 comes from common.stage_drive. Where the upswing makes a sub-step
        # stiff (V above v_stiff) it is split into spans of Z_EXP / rate (see the module
        # docstring), with the drive in closed form. A crossing of V_peak within a span is
        # placed by bisection; the reset state then integrates (or, if held, relaxes w)
        # for the rest of the sub-step. A held neuron (free[i] false) stays at V_reset
        # while w relaxes. Parameters come per neuron (arrays); Ie_: I_e plus current
        # generators; hold_: whether the neuron has a refractory period.
        for i in range(V.size):
            if refined_pass and not refined[i]:
                continue
            C, gL, EL, VT, DT, tau_w, a, b = C_[i], gL_[i], EL_[i], VT_[i], DT_[i], tau_w_[i], a_[i], b_[i]
            Ie, V_peak, V_reset, hold = Ie_[i], V_peak_[i], V_reset_[i], hold_[i]
            mi, h, fine = substeps_for(cg, inv_tau, S, i, m, dt, C)
            if fine and not refined_pass:
                refined[i] = True
                continue
            v, u, clamped = V[i], w[i], not free[i]
            v_stiff = VT + DT * np.log(Z_EXP * C / (gL * h))   # rate x h = Z_EXP there
            for j in range(mi):
                if clamped:
                    u = _relax_w(u, V_reset, EL, a, tau_w, h)
                    continue
                if v <= v_stiff and not refined_pass:
                    # The common case, a whole sub-step on the base grid.
                    A0, G0 = stage_drive(WA, WG, ca, cg, inv_tau, S, i, 2 * j, h, False)
                    A1, G1 = stage_drive(WA, WG, ca, cg, inv_tau, S, i, 2 * j + 1, h, False)
                    A2, G2 = stage_drive(WA, WG, ca, cg, inv_tau, S, i, 2 * j + 2, h, False)
                    v1, u1 = _rk4(v, u, h, A0, G0, A1, G1, A2, G2, C, gL, EL, VT, DT, tau_w, a, Ie, V_peak)
                    if v1 < V_peak:
                        v, u = v1, u1
                        continue
                t, end = j * h, (j + 1) * h
                while t < end:
                    span = end - t
                    if v > v_stiff:
                        rate = gL / C * np.exp((min(v, V_peak) - VT) / DT)
                        span = min(span, Z_EXP / rate)
                    v1, u1 = _rk4_span(v, u, t, span, S, i, ca, cg, inv_tau, C, gL, EL, VT, DT, tau_w, a, Ie, V_peak)
                    if v1 < V_peak:
                        v, u, t = v1, u1, t + span
                        continue
                    spiked[i] = True
                    lo, hi, uc = 0.0, 1.0, u1
                    if v >= V_peak:
                        hi, uc = 0.0, u
                    for _ in range(BISECTIONS if v < V_peak else 0):
                        mid = 0.5 * (lo + hi)
                        vm, um = _rk4_span(v, u, t, mid * span, S, i, ca, cg, inv_tau, C, gL, EL, VT, DT, tau_w,
                                           a, Ie, V_peak)
                        if vm >= V_peak:
                            hi, uc = mid, um
                        else:
                            lo = mid
                    v, u, t = V_reset, uc + b, t + hi * span
                    if hold:
                        clamped = True
                        u = _relax_w(u, V_reset, EL, a, tau_w, end - t)
                        break
            if not clamped:
                v += jumps[i]
                if v >= V_peak:
                    spiked[i] = True
                    v = V_reset
                    u += b
            V[i], w[i] = v, u

    return kernel


_INTEGRATE = (_make_integrate(False), _make_integrate(True))


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n``. ``x``: arrivals per channel, shape (channels, neurons). Pure."""
    p = c.p
    V, w = s.V.copy(), s.w.copy()
    free = s.refr == 0
    spiked = np.zeros(V.shape, dtype=bool)
    C, gL, EL, VT, DT, tau_w, a, b, Ie, V_peak, V_reset = common.columns(
        p, ("C_m", "g_L", "E_L", "V_th", "Delta_T", "tau_w", "a", "b", "I_e", "V_peak", "V_reset"), V.size)
    hold = np.ascontiguousarray(np.broadcast_to(np.asarray(c.ref_steps) > 0, V.shape))
    common.run_split(_INTEGRATE, V.size, V, w, free, spiked, s.S, c.WA, c.WG, c.ca, c.cg, c.inv_tau,
                     common.jumps(c.k, x, V.size), C, gL, EL, VT, DT, tau_w, a, b, Ie + c.I_ext, V_peak, V_reset,
                     hold, c.dt, c.substeps)
    refr = np.where(spiked, c.ref_steps, np.maximum(s.refr - 1, 0))
    return State(V, w, refr, c.k.arrive(s.S, x), s.k), spiked


#: Current generators add to I_e for the step (see common.SubstepPrepared.I_ext).
with_current = common.with_current


def record(s: State, var: str) -> np.ndarray:
    if var == "V_m":
        return s.V
    if var == "w":
        return s.w
    if var == "I_syn":
        return s.k.current(s.S, s.V)
    return s.k.conductance_total(s.S)
