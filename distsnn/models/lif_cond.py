"""Leaky integrate-and-fire neuron with conductance-based synapses (NEST's ``iaf_cond_exp``).

Equations (units ms, mV, pA, nS, pF)::

    C_m dV/dt = -g_L (V - E_L) + I_e + sum_k g_k(t) (e_rev_k - V) + sum_j I_j(t)
    V >= V_th  ->  spike, V = V_reset, clamped at V_reset for t_ref

The conductances ``g_k`` (nS) come from the conductance-based ``exp`` and
``double_exp`` channels, each with its own reversal potential ``e_rev``; the currents
``I_j`` (pA) from current-based ``exp`` and ``double_exp`` channels; ``delta`` weights
(mV) jump V. (NEST fixes two exponential channels, E_ex = 0 mV with tau_syn_ex and
E_in = -85 mV with tau_syn_in; here they come from the synapse types of the
projections: an ``iaf_cond_exp`` network uses ``{kind = "exp", mode = "conductance",
tau = 0.2, e_rev = 0}`` and ``{..., tau = 2, e_rev = -85}``, with positive weights for
both.)

Integrator: exponential Euler with the step's mean conductances. Over one step the
membrane equation is linear, ``dV/dt = a(t) - b(t) V``, with ``b = (g_L + G(t)) / C_m``
and ``a = (g_L E_L + I_e + sum_k g_k(t) e_rev_k + I(t)) / C_m``. The synaptic terms
are exponentials, so their means over the step are exact (``tau / h (1 - exp(-h /
tau))`` times the value at the start), and with ``b`` and ``a`` frozen at those means
the step is solved exactly::

    V_inf = mean(a) / mean(b),   V <- V_inf + (V - V_inf) exp(-mean(b) h)

Why: the update is unconditionally stable however large the conductances (NEST's
RKF45 and Brian2's Euler need small steps when ``g / C_m`` is large), it is exact for
constant conductances, and ``V`` moves monotonically toward ``V_inf``, a weighted mean
of E_L and the reversal potentials (plus current terms), so a conductance never drives
V past its reversal potential. Freezing the coefficients costs a local error
O(h^3 b' a), i.e. second order overall: against an RK4 reference, 3.5e-4 mV at dt =
0.1 ms and a quarter of that at dt = 0.05 ms under COBA's conductances (tested).

Order of one step n-1 -> n, as NEST's ``iaf_cond_exp``: integrate V with the
conductances present at step n-1 (if refractory, V stays at V_reset and the counter
counts down, delta arrivals are discarded); add delta arrivals; decay the synaptic
components and add the step's arrivals; if ``V >= V_th``: spike at step n, ``V <-
V_reset``, refractory for ``ceil(t_ref / dt)`` steps (rounded up, as NEST does).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from .. import synapses
from ..synapses import Kernels, SynapseType
from . import common

NAME = "lif_cond"
SYNAPSE_KINDS = synapses.PAIRS
RECORDABLE = ("V_m", "I_syn", "g_syn")
INITIAL = ("V_m",)      # and ``syn:<projection>``: a channel's conductance (nS) or current (pA)
#: Parameters (ms) that become whole steps, rounded up (NEST's rule for refractory periods).
DURATIONS = ("t_ref",)


@dataclass(frozen=True)
class Params:
    """NEST ``iaf_cond_exp`` defaults. Each may be per neuron (see :mod:`distsnn.models.lif`).

    C_m: capacitance (pF); g_L: leak conductance (nS); E_L: leak reversal potential
    (mV); V_th: threshold (mV); V_reset: reset potential (mV); t_ref: refractory period
    (ms); I_e: constant bias current (pA).
    """

    C_m: float = 250.0
    g_L: float = 16.6667
    E_L: float = -70.0
    V_th: float = -55.0
    V_reset: float = -60.0
    t_ref: float = 2.0
    I_e: float = 0.0


_UNITS = {"C_m": "pF", "g_L": "nS", "E_L": "mV", "V_th": "mV", "V_reset": "mV", "t_ref": "ms", "I_e": "pA"}


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    p = common.parse(owner, Params, given, _UNITS, positive=("C_m", "g_L"), non_negative=("t_ref",), size=size)
    common.check_below(owner, p, "V_reset", "V_th")
    return p


@dataclass(frozen=True)
class Prepared:
    p: Params
    k: Kernels
    wa: np.ndarray          # mean over a step of the driving current per component (see step)
    wg: np.ndarray          # mean over a step of the conductance per component
    ref_steps: np.ndarray   # scalar, or one per neuron
    h: float


@dataclass(frozen=True)
class State:
    V: np.ndarray
    refr: np.ndarray
    S: np.ndarray
    k: Kernels        # shared and constant: to record the synaptic current


def prepare(p: Params, dt: float, channels: tuple[SynapseType, ...],
            key: tuple[int, int] | None = None) -> Prepared:
    k = synapses.kernels(channels, dt)
    wi, wg, we = k.mean_weights(dt)
    return Prepared(p, k, wi + we, wg, common.refractory_steps(p.t_ref, dt), dt)


def init_state(prep: Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> State:
    n = gids.size
    return State(V=common.initial(initial, "V_m", prep.p.E_L, n), refr=np.zeros(n, dtype=np.int64),
                 S=common.synaptic_state(prep.k.channel, prep.k.coef, initial, n), k=prep.k)


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n``. ``x``: arrivals per channel, shape (channels, neurons). Pure."""
    p = c.p
    if c.k.size:
        g = p.g_L + common.weighted_rows(c.wg, s.S)
        a = p.g_L * p.E_L + p.I_e + common.weighted_rows(c.wa, s.S)
    else:
        g = np.full(s.V.shape, p.g_L)
        a = p.g_L * p.E_L + p.I_e
    v_inf = a / g
    v = v_inf + (s.V - v_inf) * np.exp(-c.h / p.C_m * g) + c.k.jumps(x)
    active = s.refr == 0
    v = np.where(active, v, p.V_reset)
    refr = np.where(active, s.refr, s.refr - 1)
    spiked = v >= p.V_th
    v = np.where(spiked, p.V_reset, v)
    refr = np.where(spiked, c.ref_steps, refr)
    return State(V=v, refr=refr, S=c.k.arrive(s.S, x), k=s.k), spiked


def with_current(prep: Prepared, current: np.ndarray) -> Prepared:
    """The constants with an external current (pA, per local neuron) added to ``I_e`` for
    one step: how current generators (:mod:`distsnn.currents`) enter the model."""
    return replace(prep, p=replace(prep.p, I_e=prep.p.I_e + current))


def record(s: State, var: str) -> np.ndarray:
    if var == "V_m":
        return s.V
    if var == "I_syn":
        return s.k.current(s.S, s.V)
    return s.k.conductance_total(s.S)
