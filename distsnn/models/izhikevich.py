"""Izhikevich (2003) simple model of spiking neurons.

Equations, in the paper's units (v in mV, t in ms, u and the input in mV/ms)::

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I(t)
    du/dt = a (b v - u)
    v >= V_peak (30 mV)  ->  spike, v = c, u = u + d

Input scale: the paper's input ``I`` is dimensionless (mV/ms). Here currents in pA are
divided by ``C_m`` (pF, default 1 pF), so with the default a bias ``I_e = 10`` pA is the
paper's ``I = 10``: ``I(t) = (I_e + I_syn(t)) / C_m`` where ``I_syn`` sums the
current-based components (pA) and ``g_k(t) (e_rev_k - v)`` of the conductance-based
ones (nS x mV). Delta weights (mV) jump v.
With ``C_m`` = 1 pF a conductance of g nS pulls v with a rate of g / ms, so
conductance weights are small here; a neuron whose conductance would make an RK4
sub-step stiff (``g h / C_m`` above 0.5, i.e. from 10 nS at the defaults; RK4 diverges
beyond 2.79, from 56 nS) takes shorter sub-steps in that step
(:mod:`distsnn.models.common`), so a large conductance is integrated correctly, only
more slowly. The ``"paper"`` scheme does not refine (it is the paper's scheme, at the
user's dt): its Euler half-steps follow a conductance only while ``g dt / (2 C_m) <= 1``,
and a network that could deliver more in one step is refused when it is built.

Presets (``params = {preset = "RS"}``; a preset fills a, b, c, d and explicit fields
override it), from Izhikevich (2003), Fig. 2:

======  =====  =====  ====  =====  =====================================
preset  a      b      c     d      pattern
======  =====  =====  ====  =====  =====================================
RS      0.02   0.2    -65   8      regular spiking, adapting
IB      0.02   0.2    -55   4      intrinsically bursting: burst, then tonic
CH      0.02   0.2    -50   2      chattering: repeated bursts
FS      0.1    0.2    -65   2      fast spiking, no adaptation
LTS     0.02   0.25   -65   2      low-threshold spiking, rebound
TC      0.02   0.25   -65   0.05   thalamo-cortical
RZ      0.1    0.26   -65   2      resonator
======  =====  =====  ====  =====  =====================================

Integration (``integration``):

- ``"accurate"`` (default): classical RK4 on (v, u) over sub-steps of at most ``H_MAX``
  = 0.05 ms (compiled with numba), with the exact synaptic drive at the stage times. The
  threshold is checked after every sub-step; a crossing is placed within its sub-step by
  linear interpolation, and the reset state integrates for the rest of the sub-step, so
  a reset is never late by up to a sub-step (an error that would add up spike after
  spike). RK4 because the quadratic term makes v accelerate steeply before a spike,
  where Euler's error is largest. Spike times converge as dt halves: against dt =
  1/320 ms they agree within about one step over tens of spikes (tested).
- ``"paper"``: the scheme of the paper's code, at any dt: two forward-Euler half-steps
  of v (dt / 2 each), then one of u with the new v (``u += dt a (b v - u)``); the
  threshold is checked at the end of the step. At dt = 1 ms it reproduces the paper's
  simulations (which record the spike at the step where v >= 30 is seen and reset
  before the next update, as here).

Order of one step n-1 -> n: integrate (v, u) with the synaptic state of step n-1; add
delta arrivals; decay the synaptic components and add the step's arrivals; spike at step
n if v crossed V_peak during the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from numba import njit

from .. import synapses, validate
from ..synapses import Kernels, SynapseType
from . import common
from .common import stage_drive, substeps_for

NAME = "izhikevich"
SYNAPSE_KINDS = synapses.PAIRS
RECORDABLE = ("V_m", "U_m", "I_syn", "g_syn")
INITIAL = ("V_m", "U_m")
#: Longest RK4 sub-step (ms) of the accurate scheme.
H_MAX = 0.05

PRESETS: dict[str, dict[str, float]] = {
    "RS": dict(a=0.02, b=0.2, c=-65.0, d=8.0),
    "IB": dict(a=0.02, b=0.2, c=-55.0, d=4.0),
    "CH": dict(a=0.02, b=0.2, c=-50.0, d=2.0),
    "FS": dict(a=0.1, b=0.2, c=-65.0, d=2.0),
    "LTS": dict(a=0.02, b=0.25, c=-65.0, d=2.0),
    "TC": dict(a=0.02, b=0.25, c=-65.0, d=0.05),
    "RZ": dict(a=0.1, b=0.26, c=-65.0, d=2.0),
}


@dataclass(frozen=True)
class Params:
    """Defaults: the RS preset.

    a: recovery rate of u (1/ms); b: coupling of u to v (1/ms, u being in mV/ms); c: reset
    of v (mV); d: increment of u at a spike (mV/ms); V_peak: spike cut-off (mV); C_m: the
    capacitance that turns pA into the paper's input units (pF); I_e: constant bias
    current (pA); integration: "accurate" or "paper". All but ``integration`` may be
    per neuron (a list or a distribution), as in Izhikevich's (2003) network, whose
    excitatory neurons have c = -65 + 15 r^2, d = 8 - 6 r^2 with r uniform per neuron.
    """

    a: float = 0.02
    b: float = 0.2
    c: float = -65.0
    d: float = 8.0
    V_peak: float = 30.0
    C_m: float = 1.0
    I_e: float = 0.0
    integration: str = "accurate"


_UNITS = {"a": "1/ms", "b": "1/ms", "c": "mV", "d": "mV/ms", "V_peak": "mV", "C_m": "pF", "I_e": "pA"}


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    given = dict(given)
    if "preset" in given:
        name = validate.choice(owner, "preset", given.pop("preset"), PRESETS)
        given = {**PRESETS[name], **given}
    p = common.parse(owner, Params, given, _UNITS, positive=("a", "C_m"),
                     choices={"integration": ("accurate", "paper")}, size=size)
    common.check_below(owner, p, "c", "V_peak")
    return p


Prepared = common.SubstepPrepared


@dataclass(frozen=True)
class State:
    V: np.ndarray
    U: np.ndarray
    S: np.ndarray
    k: Kernels        # shared and constant: to record the synaptic current


def prepare(p: Params, dt: float, channels: tuple[SynapseType, ...],
            key: tuple[int, int] | None = None) -> Prepared:
    m = common.substeps(dt, H_MAX) if p.integration == "accurate" else 1
    return common.prepare_substeps(p, dt, channels, m)


def init_state(prep: Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> State:
    """v defaults to -65 mV and u to b v (the paper's initial state)."""
    n = gids.size
    V = common.initial(initial, "V_m", -65.0, n)
    return State(V=V, U=common.initial(initial, "U_m", prep.p.b * V, n),
                 S=common.synaptic_state(prep.k.channel, prep.k.coef, initial, n), k=prep.k)


@njit(cache=True, inline="always")
def _f(v, u, A, G, a, b, C, Ie):
    return 0.04 * (v * v) + 5.0 * v + 140.0 - u + (Ie + A - G * v) / C, a * (b * v - u)


@njit(cache=True, inline="always")
def _rk4(v, u, h, A0, G0, A1, G1, A2, G2, a, b, C, Ie):
    q = 0.5 * h
    k1 = _f(v, u, A0, G0, a, b, C, Ie)
    k2 = _f(v + q * k1[0], u + q * k1[1], A1, G1, a, b, C, Ie)
    k3 = _f(v + q * k2[0], u + q * k2[1], A1, G1, a, b, C, Ie)
    k4 = _f(v + h * k3[0], u + h * k3[1], A2, G2, a, b, C, Ie)
    return (v + h / 6.0 * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0]),
            u + h / 6.0 * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1]))


def _make_accurate(refined_pass: bool):
    """The accurate scheme's kernel for neurons on the base sub-steps (``refined_pass``
    false: it marks the neurons that need more) or for the marked ones
    (:func:`distsnn.models.common.run_split`)."""

    @njit(cache=True)
    def kernel(refined, V, U, spiked, S, WA, WG, ca, cg, inv_tau, jumps, a_, b_, c_, d_, C_, Ie_, V_peak_, dt, m):
        # RK4 sub-steps, in place; the drive at stage time j h / 2 comes from
        # common.stage_drive. A crossing of V_peak within a sub-step is placed by linear
        # interpolation at a fraction theta of it; the reset state then integrates for the
        # rest of the sub-step. Parameters come per neuron (arrays).
        for i in range(V.size):
            if refined_pass and not refined[i]:
                continue
            a, b, c, d, C, Ie, V_peak = a_[i], b_[i], c_[i], d_[i], C_[i], Ie_[i], V_peak_[i]
            mi, h, fine = substeps_for(cg, inv_tau, S, i, m, dt, C)
            if fine and not refined_pass:
                refined[i] = True
                continue
            v, u = V[i], U[i]
            A2, G2 = stage_drive(WA, WG, ca, cg, inv_tau, S, i, 0, h, refined_pass)
            for j in range(mi):
                A0, G0 = A2, G2
                A1, G1 = stage_drive(WA, WG, ca, cg, inv_tau, S, i, 2 * j + 1, h, refined_pass)
                A2, G2 = stage_drive(WA, WG, ca, cg, inv_tau, S, i, 2 * j + 2, h, refined_pass)
                v1, u1 = _rk4(v, u, h, A0, G0, A1, G1, A2, G2, a, b, C, Ie)
                if v1 >= V_peak:
                    spiked[i] = True
                    theta = (V_peak - v) / (v1 - v) if v < V_peak else 0.0
                    rest = (1.0 - theta) * h
                    v1, u1 = _rk4(c, u + theta * (u1 - u) + d, rest, A2, G2, A2, G2, A2, G2, a, b, C, Ie)
                v, u = v1, u1
            v += jumps[i]
            if v >= V_peak:
                spiked[i] = True
                v = c
                u += d
            V[i], U[i] = v, u

    return kernel


_ACCURATE = (_make_accurate(False), _make_accurate(True))


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n``. ``x``: arrivals per channel, shape (channels, neurons). Pure."""
    p = c.p
    if p.integration == "accurate":
        V, U = s.V.copy(), s.U.copy()
        spiked = np.zeros(V.shape, dtype=bool)
        a, b, cr, d, C, Ie, V_peak = common.columns(p, ("a", "b", "c", "d", "C_m", "I_e", "V_peak"), V.size)
        common.run_split(_ACCURATE, V.size, V, U, spiked, s.S, c.WA, c.WG, c.ca, c.cg, c.inv_tau,
                         common.jumps(c.k, x, V.size), a, b, cr, d, C, Ie + c.I_ext, V_peak, c.dt, c.substeps)
        return State(V, U, c.k.arrive(s.S, x), s.k), spiked
    # The paper's scheme: two Euler half-steps of v, one Euler step of u with the new v.
    v, u = s.V, s.U
    drive = (p.I_e + c.I_ext + common.weighted_rows(c.WA[0], s.S)) / p.C_m
    G = common.weighted_rows(c.WG[0], s.S)
    for _ in range(2):
        v = v + 0.5 * c.h * (0.04 * (v * v) + 5.0 * v + 140.0 - u + drive - G * v / p.C_m)
    u = u + c.h * p.a * (p.b * v - u)
    v = v + c.k.jumps(x)
    spiked = v >= p.V_peak
    return State(np.where(spiked, p.c, v), np.where(spiked, u + p.d, u), c.k.arrive(s.S, x), s.k), spiked


#: Current generators add to I_e for the step (see common.SubstepPrepared.I_ext).
with_current = common.with_current


def record(s: State, var: str) -> np.ndarray:
    if var == "V_m":
        return s.V
    if var == "U_m":
        return s.U
    if var == "I_syn":
        return s.k.current(s.S, s.V)
    return s.k.conductance_total(s.S)
