"""Hodgkin-Huxley neuron with the classic squid-axon parameters of NEST's ``hh_psc_alpha``.

Equations (units ms, mV, pA, nS, pF; V in the modern convention, rest near -65 mV)::

    C_m dV/dt = -g_Na m^3 h (V - E_Na) - g_K n^4 (V - E_K) - g_L (V - E_L) + I_e + I_syn(t)
    dx/dt     = alpha_x(V) (1 - x) - beta_x(V) x          for x in m, h, n

    alpha_n = 0.01 (V + 55) / (1 - exp(-(V + 55) / 10))    beta_n = 0.125 exp(-(V + 65) / 80)
    alpha_m = 0.1 (V + 40) / (1 - exp(-(V + 40) / 10))     beta_m = 4 exp(-(V + 65) / 18)
    alpha_h = 0.07 exp(-(V + 65) / 20)                     beta_h = 1 / (1 + exp(-(V + 35) / 10))

(rates in 1/ms; the removable singularities of alpha_n and alpha_m are evaluated by
their series). The defaults describe 1e-4 cm^2 of membrane at 1 uF/cm^2, so 1 uA/cm^2
of the textbook is 100 pA here (10 uA/cm^2 = 1000 pA).

Spikes: as NEST, a spike is stamped at the first step n with ``V(n) > 0 mV`` and
``V(n) < V(n-1)``, i.e. once V is seen falling after the peak of an action potential
(one or two steps after the true peak); there is no reset. After a spike, detection
pauses for ``ceil(t_ref / dt)`` steps (the membrane runs freely).

Synapses: every (kind, mode) pair but delta conductance. ``I_syn`` is the sum of the
current-based components and ``g_k(t) (e_rev_k - V)`` of the conductance-based ones;
delta weights add to V after the step's integration.

Integrator: classical fourth-order Runge-Kutta on (V, m, h, n) over equal sub-steps of
at most ``H_MAX`` = 0.01 ms per step, compiled with numba (a loop over neurons in
machine code); the synaptic drive at each stage time is the exact value of its
exponentials (:func:`distsnn.models.common.drive_matrices`). Why: the fastest rate of
the system during an action potential (the m gate's alpha_m + beta_m, and
(g_Na m^3 h + g_K n^4 + g_L) / C_m near the peak) reaches about 37 / ms; RK4's real
stability bound is |lambda h| < 2.79, and at 0.01 ms every rate stays well inside it
(|lambda h| <= 0.4, where RK4's local error is O((lambda h)^5)); a synaptic
conductance adds G / C_m to these rates, and a neuron whose conductance would make it
exceed 0.5 per sub-step takes shorter sub-steps in that step
(:mod:`distsnn.models.common`; from 5,000 nS at the defaults). Measured: 1e-4 mV
through spikes at 0.01 ms, 16 times less per halving of the sub-step (tested). The
integration error is then far below the grid, and spike times converge as dt halves;
what remains is the stamping rule above (tested against dt = 1/160 ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from numba import njit

from .. import synapses
from ..synapses import Kernels, SynapseType
from . import common
from .common import stage_drive, substeps_for

NAME = "hh"
SYNAPSE_KINDS = synapses.PAIRS
RECORDABLE = ("V_m", "m", "h", "n", "I_syn", "g_syn")
INITIAL = ("V_m", "m", "h", "n")
#: Parameters (ms) that become whole steps, rounded up (NEST's rule for refractory periods).
DURATIONS = ("t_ref",)
#: Gating variables are probabilities.
INITIAL_BOUNDS = {"m": (0.0, 1.0), "h": (0.0, 1.0), "n": (0.0, 1.0)}
#: Longest RK4 sub-step (ms).
H_MAX = 0.01


@dataclass(frozen=True)
class Params:
    """NEST ``hh_psc_alpha`` defaults; each may be per neuron (a list or a distribution).

    C_m: capacitance (pF); g_Na, g_K, g_L: peak sodium, potassium and leak conductances
    (nS); E_Na, E_K, E_L: reversal potentials (mV); t_ref: pause of spike detection after
    a spike (ms); I_e: constant bias current (pA).
    """

    C_m: float = 100.0
    g_Na: float = 12000.0
    g_K: float = 3600.0
    g_L: float = 30.0
    E_Na: float = 50.0
    E_K: float = -77.0
    E_L: float = -54.402
    t_ref: float = 2.0
    I_e: float = 0.0


_UNITS = {"C_m": "pF", "g_Na": "nS", "g_K": "nS", "g_L": "nS", "E_Na": "mV", "E_K": "mV", "E_L": "mV",
          "t_ref": "ms", "I_e": "pA"}


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    p = common.parse(owner, Params, given, _UNITS, positive=("C_m",),
                     non_negative=("g_Na", "g_K", "g_L", "t_ref"), size=size)
    common.check_below(owner, p, "E_K", "E_Na")
    return p


Prepared = common.SubstepPrepared


@dataclass(frozen=True)
class State:
    V: np.ndarray
    m: np.ndarray
    h: np.ndarray
    n: np.ndarray
    refr: np.ndarray
    S: np.ndarray
    k: Kernels        # shared and constant: to record the synaptic current


def prepare(p: Params, dt: float, channels: tuple[SynapseType, ...],
            key: tuple[int, int] | None = None) -> Prepared:
    return common.prepare_substeps(p, dt, channels, common.substeps(dt, H_MAX), p.t_ref)


@njit(cache=True, inline="always")
def _vtrap(u):
    # u / (1 - exp(-u)), with its limit 1 + u/2 near u = 0.
    if abs(u) < 1e-6:
        return 1.0 + 0.5 * u
    return u / -np.expm1(-u)


@njit(cache=True, inline="always")
def _rates(V):
    return (_vtrap((V + 40.0) / 10.0), 4.0 * np.exp(-(V + 65.0) / 18.0),
            0.07 * np.exp(-(V + 65.0) / 20.0), 1.0 / (1.0 + np.exp(-(V + 35.0) / 10.0)),
            0.1 * _vtrap((V + 55.0) / 10.0), 0.125 * np.exp(-(V + 65.0) / 80.0))


def steady_state(V: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gates' steady state ``(m, h, n)`` at V."""
    V = np.asarray(V, dtype=np.float64)
    m, h, n = np.empty_like(V), np.empty_like(V), np.empty_like(V)
    _steady(V.ravel(), m.ravel(), h.ravel(), n.ravel())
    return m, h, n


@njit(cache=True)
def _steady(V, m, h, n):
    for i in range(V.size):
        am, bm, ah, bh, an, bn = _rates(V[i])
        m[i], h[i], n[i] = am / (am + bm), ah / (ah + bh), an / (an + bn)


def init_state(prep: Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> State:
    """V defaults to -65 mV and each gate to its steady state at the initial V."""
    n = gids.size
    V = common.initial(initial, "V_m", -65.0, n)
    m0, h0, n0 = steady_state(V)
    return State(V=V, m=common.initial(initial, "m", m0, n), h=common.initial(initial, "h", h0, n),
                 n=common.initial(initial, "n", n0, n), refr=np.zeros(n, dtype=np.int64),
                 S=common.synaptic_state(prep.k.channel, prep.k.coef, initial, n), k=prep.k)


@njit(cache=True, inline="always")
def _f(V, m, h, n, A, G, C, gNa, gK, gL, ENa, EK, EL, Ie):
    am, bm, ah, bh, an, bn = _rates(V)
    n2 = n * n
    i_ion = gNa * m * m * m * h * (V - ENa) + gK * n2 * n2 * (V - EK) + gL * (V - EL)
    return ((Ie + A - G * V - i_ion) / C, am * (1.0 - m) - bm * m, ah * (1.0 - h) - bh * h,
            an * (1.0 - n) - bn * n)


def _make_integrate(refined_pass: bool):
    """The kernel for neurons on the base sub-steps (``refined_pass`` false: it marks the
    neurons that need more) or for the marked ones (:func:`distsnn.models.common.run_split`)."""

    @njit(cache=True)
    def kernel(refined, V, m, h, n, S, WA, WG, ca, cg, inv_tau, C_, gNa_, gK_, gL_, ENa_, EK_, EL_, Ie_, dt,
               substeps):
        # RK4 over the neuron's sub-steps, in place; the drive at stage time j dt_sub / 2
        # comes from common.stage_drive. Parameters come per neuron (arrays).
        for i in range(V.size):
            if refined_pass and not refined[i]:
                continue
            C, gNa, gK, gL, ENa, EK, EL, Ie = C_[i], gNa_[i], gK_[i], gL_[i], ENa_[i], EK_[i], EL_[i], Ie_[i]
            mi, dt_sub, fine = substeps_for(cg, inv_tau, S, i, substeps, dt, C)
            if fine and not refined_pass:
                refined[i] = True
                continue
            v, a, b, c = V[i], m[i], h[i], n[i]
            q = 0.5 * dt_sub
            A2, G2 = stage_drive(WA, WG, ca, cg, inv_tau, S, i, 0, dt_sub, refined_pass)
            for j in range(mi):
                A0, G0 = A2, G2
                A1, G1 = stage_drive(WA, WG, ca, cg, inv_tau, S, i, 2 * j + 1, dt_sub, refined_pass)
                A2, G2 = stage_drive(WA, WG, ca, cg, inv_tau, S, i, 2 * j + 2, dt_sub, refined_pass)
                k1 = _f(v, a, b, c, A0, G0, C, gNa, gK, gL, ENa, EK, EL, Ie)
                k2 = _f(v + q * k1[0], a + q * k1[1], b + q * k1[2], c + q * k1[3], A1, G1,
                        C, gNa, gK, gL, ENa, EK, EL, Ie)
                k3 = _f(v + q * k2[0], a + q * k2[1], b + q * k2[2], c + q * k2[3], A1, G1,
                        C, gNa, gK, gL, ENa, EK, EL, Ie)
                k4 = _f(v + dt_sub * k3[0], a + dt_sub * k3[1], b + dt_sub * k3[2], c + dt_sub * k3[3], A2, G2,
                        C, gNa, gK, gL, ENa, EK, EL, Ie)
                w = dt_sub / 6.0
                v += w * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0])
                a += w * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1])
                b += w * (k1[2] + 2.0 * k2[2] + 2.0 * k3[2] + k4[2])
                c += w * (k1[3] + 2.0 * k2[3] + 2.0 * k3[3] + k4[3])
            V[i], m[i], h[i], n[i] = v, a, b, c

    return kernel


_INTEGRATE = (_make_integrate(False), _make_integrate(True))


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n``. ``x``: arrivals per channel, shape (channels, neurons). Pure."""
    p = c.p
    V, m, h, g = s.V.copy(), s.m.copy(), s.h.copy(), s.n.copy()
    C, gNa, gK, gL, ENa, EK, EL, Ie = common.columns(p, ("C_m", "g_Na", "g_K", "g_L", "E_Na", "E_K", "E_L", "I_e"),
                                                     V.size)
    common.run_split(_INTEGRATE, V.size, V, m, h, g, s.S, c.WA, c.WG, c.ca, c.cg, c.inv_tau, C, gNa, gK, gL, ENa,
                     EK, EL, Ie + c.I_ext, c.dt, c.substeps)
    V += c.k.jumps(x)
    free = s.refr == 0
    spiked = free & (V > 0.0) & (V < s.V)
    refr = np.where(spiked, c.ref_steps, np.where(free, 0, s.refr - 1))
    return State(V, m, h, g, refr, c.k.arrive(s.S, x), s.k), spiked


#: Current generators add to I_e for the step (see common.SubstepPrepared.I_ext).
with_current = common.with_current


def record(s: State, var: str) -> np.ndarray:
    if var == "I_syn":
        return s.k.current(s.S, s.V)
    if var == "g_syn":
        return s.k.conductance_total(s.S)
    return {"V_m": s.V, "m": s.m, "h": s.h, "n": s.n}[var]
