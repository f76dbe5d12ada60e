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

from numba import njit

from .. import synapses
from ..delivery import deliver_one
from ..synapses import QUANTUM, Kernels, SynapseType
from ..vmath import exp
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


@njit(cache=True, error_model="numpy")
def _advance(V, refr, S, ring, scale, port0, n_ports, first, last, out_index, out_step, per_neuron, ref_steps,
             per_component, component_index, delta_rows, work, fired):
    # Steps first..last of one population, in place, in the module docstring's order
    # (ring, scale, buffers and return value as in lif._advance). Each phase of a step is
    # a loop over the neurons that LLVM vectorises (a loop over components inside one
    # over neurons would not be), and as few passes over the neurons as the phases
    # allow: the sums over components (in order, from 0.0, as synapses.sum_rows does),
    # the delta arrivals, the membrane update with vmath.exp (numba's exp does not
    # vectorise) and the threshold, the synaptic components with their arrivals (each
    # port cleared by its last reader), then the spikes in neuron order. Every neuron's
    # arithmetic is the same whatever its position, so the result does not depend on
    # the partition. The constants come packed (see _constants): each array passed costs
    # the caller's dispatch about 0.1 us, which a one-step epoch pays every step.
    g_L, a0, neg_h_C, V_reset, V_th = per_neuron[0], per_neuron[1], per_neuron[2], per_neuron[3], per_neuron[4]
    wg, wa, decay, coef, feed_coef = (per_component[0], per_component[1], per_component[2], per_component[3],
                                      per_component[4])
    # Every channel is a delta channel or read by a component (synapses.kernels), and
    # the last component to read a channel's ports clears them (clears, see _constants).
    channel, feed, clears = component_index[0], component_index[1], component_index[2]
    gsum, asum, jump = work[0], work[1], work[2]   # jump stays 0.0 without delta channels (_constants)
    R = ring.shape[0]
    n = V.size
    C = wg.size
    count = 0
    for t in range(first, last + 1):
        if count + n > out_index.size:
            return t - 1, count
        row = ring[t % R]
        if C == 0:
            for i in range(n):
                gsum[i] = 0.0
                asum[i] = 0.0
        for k in range(C):
            u = wg[k]
            w = wa[k]
            if k == 0:
                for i in range(n):
                    s = S[0, i]
                    gsum[i] = 0.0 + u * s
                    asum[i] = 0.0 + w * s
            else:
                for i in range(n):
                    s = S[k, i]
                    gsum[i] = gsum[i] + u * s
                    asum[i] = asum[i] + w * s
        for d in range(delta_rows.size):
            at = port0 + delta_rows[d] * n
            if d == 0:
                for i in range(n):
                    jump[i] = 0.0 + row[at + i] * scale
                    row[at + i] = 0
            else:
                for i in range(n):
                    jump[i] = jump[i] + row[at + i] * scale
                    row[at + i] = 0
        spikes = 0
        for i in range(n):
            g = g_L[i] + gsum[i]
            v_inf = (a0[i] + asum[i]) / g
            v = v_inf + (V[i] - v_inf) * exp(neg_h_C[i] * g) + jump[i]
            r = refr[i]
            if r != 0:
                v = V_reset[i]
                r = r - 1
            f = v >= V_th[i]
            if f:
                v = V_reset[i]
                r = ref_steps[i]
            V[i] = v
            refr[i] = r
            fired[i] = f
            spikes += f
        for j in range(C):
            f = feed[j]
            if f >= 0:
                c = feed_coef[j]
                d = decay[j]
                for i in range(n):
                    S[j, i] = c * S[f, i] + d * S[j, i]
        for j in range(C):
            if feed[j] < 0:
                d = decay[j]
                c = coef[j]
                at = port0 + channel[j] * n
                if clears[j] != 0:
                    for i in range(n):
                        S[j, i] = S[j, i] * d + c * (row[at + i] * scale)
                        row[at + i] = 0
                else:
                    for i in range(n):
                        S[j, i] = S[j, i] * d + c * (row[at + i] * scale)
        if spikes:
            for i in range(n):
                if fired[i]:
                    out_index[count] = i
                    out_step[count] = t
                    count += 1
    return last, count


def _per_neuron(value: Any, n: int, dtype: Any = np.float64) -> np.ndarray:
    # A copy, always writable: a read-only view (a broadcast scalar for one neuron) would
    # be another type to numba, and the fused loop's tuple of populations must be uniform.
    return np.array(np.broadcast_to(np.asarray(value, dtype=dtype), (n,)))


def _constants(c: Prepared, n: int) -> tuple:
    # Parameters may be per neuron: every one becomes a row of n (the same numbers the
    # numpy expressions broadcast). Rows of one array per kind (see _advance); the last
    # is the kernel's scratch.
    p, k = c.p, c.k
    per_neuron = np.array([_per_neuron(v, n) for v in (p.g_L, p.g_L * p.E_L + p.I_e, -c.h / p.C_m, p.V_reset,
                                                        p.V_th)]).reshape(5, n)
    per_component = np.array([c.wg, c.wa, k.decay, k.coef, k.feed_coef], dtype=np.float64).reshape(5, -1)
    reads = k.feed < 0
    clears = [int(reads[j] and not np.any(reads[j + 1:] & (k.channel[j + 1:] == k.channel[j])))
              for j in range(k.channel.size)]
    component_index = np.array([k.channel, k.feed, clears], dtype=np.int64).reshape(3, -1)
    return (per_neuron, _per_neuron(c.ref_steps, n, np.int64), per_component, component_index, k.delta_rows,
            np.zeros((3, n)), np.empty(n, np.bool_))


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n``. ``x``: arrivals per channel, shape (channels, neurons). Pure."""
    V, refr, S = s.V.copy(), s.refr.copy(), s.S.copy()
    return State(V=V, refr=refr, S=S, k=s.k), common.one_step(_advance, (V, refr, S), x, n, _constants(c, V.size))


def advance(s: State, c: Prepared, ring: np.ndarray, port0: int, n_ports: int, first: int, last: int,
            out_index: np.ndarray, out_step: np.ndarray) -> tuple[int, int]:
    """Advance ``s`` in place through steps ``first..last`` from the ring, with the same
    compiled loop as :func:`step`; see :func:`distsnn.models.lif.advance`."""
    return _advance(s.V, s.refr, s.S, ring, QUANTUM, port0, n_ports, first, last, out_index, out_step,
                    *_constants(c, s.V.size))


def bind(pops: list[tuple[State, Prepared, int, int, np.ndarray]]) -> tuple:
    """The arguments of :func:`advance_delivering`'s compiled loop for these populations,
    built once (per-neuron constants and scratch arrays included) and valid as long as
    their states and constants are these: ``pops`` holds (state, prepared, port0,
    n_ports, gids) of each population, in ascending gid order."""
    args = tuple((s.V, s.refr, s.S, np.int64(port0), np.int64(n_ports), gids.astype(np.int64, copy=False),
                  _constants(c, s.V.size)) for s, c, port0, n_ports, gids in pops)
    largest = max([s.V.size for s, *_ in pops] + [1])
    return (args, np.int64(sum(s.V.size for s, *_ in pops)), np.empty(largest, np.int64),
            np.empty(largest, np.int64))


def advance_delivering(bound: tuple, ring: np.ndarray, first: int, last: int, table: tuple, out_gid: np.ndarray,
                       out_step: np.ndarray, count: int) -> tuple[int, int, int]:
    """Advance the populations of ``bound`` (:func:`bind`) through steps ``first..last``
    in one compiled call, delivering each step's spikes through ``table`` (the arrays of
    a :class:`distsnn.synapse_table.SynapseTable` whose delays are all shorter than what
    is left of the ring, as its ``kernel_args()`` gives them) before the next step. The
    per-population update is :func:`advance`'s loop, one step at a time. Spikes go to
    ``out_gid`` / ``out_step`` from position ``count`` on, by step, then population,
    then neuron (so by gid); the call stops before a step for which there is no room for
    every neuron to spike. Returns (last step done, spikes in the buffers, synaptic
    events)."""
    args, total, idx_buf, step_buf = bound
    if not table[0].size:
        # No short synapses (one-step epochs on several ranks): the loop without its
        # table, whose ten arrays would cost a microsecond of dispatch every epoch.
        return _advance_group(args, total, ring, QUANTUM, first, last, out_gid, out_step, count, idx_buf, step_buf)
    return _advance_delivering(args, total, ring, QUANTUM, first, last, out_gid, out_step, count, idx_buf, step_buf,
                               *table)


def fusable(states: list[State]) -> bool:
    """Whether these states can go through :func:`advance_delivering` together (its
    compiled loop takes them in one homogeneous tuple: C-contiguous arrays)."""
    return all(a.flags.c_contiguous for s in states for a in (s.V, s.refr, s.S))


@njit(cache=True)
def _group_step(pops, ring, scale, t, out_gid, out_step, count, idx_buf, step_buf):
    # Every population through step t, their spikes appended (by population, then neuron).
    for p in pops:
        V, refr, S, port0, n_ports, gids, consts = p
        k = _advance(V, refr, S, ring, scale, port0, n_ports, t, t, idx_buf, step_buf, *consts)[1]
        for j in range(k):
            out_gid[count] = gids[idx_buf[j]]
            out_step[count] = t
            count += 1
    return count


@njit(cache=True)
def _advance_delivering(pops, total, ring, scale, first, last, out_gid, out_step, count, idx_buf, step_buf, src,
                        src_ptr, run_start, run_len, run_delay, run_kind, run_w, port, w32, w64):
    # The step's spikes are delivered after every population has done the step: they
    # arrive at step + delay >= step + 1, in a row no population has read yet.
    events = 0
    for t in range(first, last + 1):
        if count + total > out_gid.size:
            return t - 1, count, events
        start = count
        count = _group_step(pops, ring, scale, t, out_gid, out_step, count, idx_buf, step_buf)
        for j in range(start, count):
            events += deliver_one(out_gid[j], t, src, src_ptr, run_start, run_len, run_delay, run_kind, run_w, port,
                                  w32, w64, ring)
    return last, count, events


@njit(cache=True)
def _advance_group(pops, total, ring, scale, first, last, out_gid, out_step, count, idx_buf, step_buf):
    # _advance_delivering without short synapses.
    for t in range(first, last + 1):
        if count + total > out_gid.size:
            return t - 1, count, 0
        count = _group_step(pops, ring, scale, t, out_gid, out_step, count, idx_buf, step_buf)
    return last, count, 0


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
