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
from numba import njit, types
from numba.extending import overload

from .. import synapses
from ..synapses import QUANTUM, SynapseType
from . import common
from .surrogate import FUNCTIONS, surrogate

NAME = "lif"
SYNAPSE_KINDS = synapses.CURRENT_PAIRS
RECORDABLE = ("V_m", "I_syn", "surrogate_gradient")
INITIAL = ("V_m",)
#: Parameters (ms) that become whole steps, rounded up (NEST's rule for refractory periods).
DURATIONS = ("t_ref",)


@dataclass(frozen=True)
class Params:
    """Parameters, with NEST's ``iaf_psc_delta`` defaults. Each may be per neuron (an
    array over the population or a keyed distribution); the propagators are then
    computed neuron by neuron with the same expressions, so a neuron's trace is bit for
    bit the one it has in a population with its values as constants.

    C_m: membrane capacitance (pF); tau_m: membrane time constant (ms); t_ref: absolute
    refractory period (ms); E_L: resting potential (mV); V_th: threshold (mV); V_reset:
    reset potential (mV); I_e: constant bias current (pA).

    surrogate_gradient_function (a name of :data:`~distsnn.models.surrogate.FUNCTIONS`),
    surrogate_gradient_height (gamma, 1) and surrogate_gradient_width (w, mV): the
    recordable ``surrogate_gradient`` (:func:`surrogate_gradient`), NEST's e-prop
    parameters and defaults; they do not change the dynamics.
    """

    C_m: float = 250.0
    tau_m: float = 10.0
    t_ref: float = 2.0
    E_L: float = -70.0
    V_th: float = -55.0
    V_reset: float = -70.0
    I_e: float = 0.0
    surrogate_gradient_function: str = "piecewise_linear"
    surrogate_gradient_height: float = 0.3
    surrogate_gradient_width: float = 1.0


UNITS = {"C_m": "pF", "tau_m": "ms", "t_ref": "ms", "E_L": "mV", "V_th": "mV", "V_reset": "mV", "I_e": "pA",
         "surrogate_gradient_width": "mV"}


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    """Validated parameters; each may be per neuron (an array over the population or a
    keyed distribution, :func:`distsnn.models.common.param_value`)."""
    p = common.parse(owner, Params, given, UNITS, positive=("C_m", "tau_m", "surrogate_gradient_height",
                                                             "surrogate_gradient_width"),
                     non_negative=("t_ref",), choices={"surrogate_gradient_function": tuple(FUNCTIONS)}, size=size)
    common.check_below(owner, p, "V_reset", "V_th")
    return p


@dataclass(frozen=True)
class Prepared:
    """Propagators; ``P22 = exp(-h / tau_m)``, ``expm1 = P22 - 1`` (from ``expm1``),
    ``P20`` (= NEST's ``P30``), and per synaptic component k: ``P21[k]`` (its effect on
    V), ``P11[k]`` (its decay), and the :class:`~distsnn.synapses.Kernels` ``k``.
    With scalar parameters the membrane constants are numbers and ``P21`` has shape
    (components,); with any parameter per neuron every membrane constant is an array over
    the local neurons and ``P21`` has shape (components, neurons)."""

    p: Params
    P22: Any
    expm1: Any
    P20: Any
    P11: np.ndarray
    P21: np.ndarray
    k: synapses.Kernels
    theta: Any
    y_reset: Any
    ref_steps: Any
    #: External current (pA; 0 or one value per local neuron) for the step: current generators.
    I_ext: Any = 0.0


@dataclass(frozen=True)
class State:
    """``y = V - E_L`` (mV), refractory steps left, synaptic components ``I[k]``;
    ``readout[k]``: whether component k is a current (not an alpha derivative);
    ``E_L`` a number or one value per neuron."""

    y: np.ndarray
    refr: np.ndarray
    I: np.ndarray
    E_L: Any
    readout: tuple[bool, ...]

    @property
    def V(self) -> np.ndarray:
        """Membrane potential (mV)."""
        return self.y + self.E_L


#: Smallest normal double (NEST's std::numeric_limits<double>::min()).
_DBL_MIN = sys.float_info.min


@njit(cache=True)
def _alpha_propagators(tau_syn, tau_m, c_m, h):
    # (P31, P32) exactly as NEST 3's IAFPropagatorAlpha::evaluate computes them: the
    # effect on V over h of a unit alpha derivative and a unit alpha current. (math.* in
    # numba calls the C library, as NEST's std::exp does: the same bits.)
    if tau_m != tau_syn:
        beta = tau_syn * tau_m / (tau_m - tau_syn)
    else:
        beta = math.inf
    gamma = beta / c_m
    inv_beta = (tau_m - tau_syn) / (tau_syn * tau_m)
    exp_h_tau_syn = math.exp(-h * (1 / tau_syn))
    expm1_h_tau = math.expm1(h * inv_beta)
    P32 = gamma * exp_h_tau_syn * expm1_h_tau if math.isfinite(gamma) else math.nan
    exp_h_tau = math.exp(-h * (1 / tau_m))
    if not (math.isfinite(P32) and P32 > 0 and abs(P32) >= _DBL_MIN):
        P32 = h * (1 / c_m) * exp_h_tau
    if tau_m != tau_syn:
        h_min_regular = 1e-7 * tau_m * tau_m / abs(tau_m - tau_syn)
    else:
        h_min_regular = math.inf
    if h > h_min_regular:
        return gamma * exp_h_tau_syn * (beta * expm1_h_tau - h), P32
    return 0.5 * h * h * (1 / c_m) * exp_h_tau, P32


@njit(cache=True)
def _propagators(tau_m, C_m, h, tau, feed):
    # The membrane constants of every neuron (NEST's expressions, one neuron at a time):
    # P22, expm1, P20, and P21 per component; tau_m, C_m: one value per neuron.
    n, K = tau_m.size, tau.size
    P22, em1, P20 = np.empty(n), np.empty(n), np.empty(n)
    P21 = np.empty((K, n))
    for i in range(n):
        P22[i] = math.exp(-h / tau_m[i])
        em1[i] = math.expm1(-h / tau_m[i])
        P20[i] = -tau_m[i] / C_m[i] * em1[i]
        for k in range(K):
            # exp(-h / tau_m) expm1(y) / y: no cancellation when tau_k is close to tau_m
            y = h * (1.0 / tau_m[i] - 1.0 / tau[k])
            ratio = 1.0 if y == 0.0 else math.expm1(y) / y
            P21[k, i] = h / C_m[i] * P22[i] * ratio
        for j in range(K):
            if feed[j] >= 0:     # an alpha pair: j the alpha function, feed[j] its derivative
                P21[feed[j], i], P21[j, i] = _alpha_propagators(tau[j], tau_m[i], C_m[i], h)
    return P22, em1, P20, P21


def prepare(p: Params, dt: float, channels: tuple[SynapseType, ...],
            key: tuple[int, int] | None = None) -> Prepared:
    """Propagators for step ``dt``; ``key`` (the population's random stream) is unused.
    ``p`` holds numbers or, per neuron, arrays over the local neurons
    (:func:`distsnn.models.common.resolve`)."""
    k = synapses.kernels(channels, dt)
    sizes = {np.size(getattr(p, f.name)) for f in fields(Params) if np.ndim(getattr(p, f.name)) > 0}
    if len(sizes) > 1:
        raise ValueError(f"lif: per-neuron parameters must have one length, got {sorted(sizes)}")
    per_neuron = bool(sizes)
    n = sizes.pop() if per_neuron else 1

    def column(v: Any) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)))

    P22, em1, P20, P21 = _propagators(column(p.tau_m), column(p.C_m), float(dt), k.tau, k.feed)
    theta, y_reset = column(p.V_th) - column(p.E_L), column(p.V_reset) - column(p.E_L)
    ref_steps = common.refractory_steps(p.t_ref, dt)
    if not per_neuron:
        return Prepared(p=p, P22=float(P22[0]), expm1=float(em1[0]), P20=float(P20[0]), P11=k.decay,
                        P21=np.ascontiguousarray(P21[:, 0]), k=k, theta=float(theta[0]),
                        y_reset=float(y_reset[0]), ref_steps=ref_steps)
    return Prepared(p=p, P22=P22, expm1=em1, P20=P20, P11=k.decay, P21=P21, k=k, theta=theta, y_reset=y_reset,
                    ref_steps=np.ascontiguousarray(np.broadcast_to(np.asarray(ref_steps, dtype=np.int64), (n,))))


def init_state(prep: Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> State:
    n = gids.size
    E_L = prep.p.E_L
    y = np.asarray(initial["V_m"], dtype=np.float64) - E_L if "V_m" in initial else np.zeros(n)
    return State(y=np.array(y, dtype=np.float64), refr=np.zeros(n, dtype=np.int64),
                 I=common.synaptic_state(prep.k.channel, prep.k.coef, initial, n), E_L=E_L,
                 readout=tuple(bool(b) for b in prep.k.readout))


def _at(x, i):
    """``x[i]`` for a per-neuron array, ``x`` for a number (compiled: see the overload)."""
    return x[i] if np.ndim(x) else x


@overload(_at, inline="always")
def _at_compiled(x, i):
    # One source, two compiled kernels: with the membrane constants as numbers they stay
    # in registers, with per-neuron arrays they load contiguously (both vectorise).
    if isinstance(x, types.Array):
        return lambda x, i: x[i]
    return lambda x, i: x


def _at2(x, j, i):
    """``x[j, i]`` for a per-neuron (components, neurons) array, ``x[j]`` for (components,)."""
    return x[j, i] if np.ndim(x) == 2 else x[j]


@overload(_at2, inline="always")
def _at2_compiled(x, j, i):
    if x.ndim == 2:
        return lambda x, j, i: x[j, i]
    return lambda x, j, i: x[j]


@njit(cache=True)
def _advance(y, refr, I, ring, scale, port0, n_ports, first, last, out_index, out_step, P20Ie_, P21, expm1,
             delta_rows, channel, decay, coef, feed, feed_coef, theta, y_reset, ref_steps):
    # Steps first..last of one population, in place. The arrival of step t on channel c
    # of local neuron i is ring[t % R, port0 + c * n + i] * scale (int64 quanta with
    # scale QUANTUM from the engine's ring, or floats with scale 1 from step(): both
    # exact, so the two compute the same bits); rows are cleared on the population's
    # ports once read. Spikes (local index, step) go to the buffers; the call stops
    # before a step that could overflow them and returns (last step done, spikes written).
    # Per neuron, NEST's iaf_psc_alpha::update term by term (no fused multiply-add, no
    # reordering), so that the rounding is NEST's. The loops over the neurons have no
    # branch the compiler cannot turn into a select, so it vectorises them (the same
    # operations per neuron, a few times faster than one neuron at a time); a
    # refractory neuron computes the sum too, and discards it. Membrane constants
    # (P20 I_e, expm1, theta, y_reset, ref_steps; P21 by component) are numbers or
    # per-neuron arrays: see _at.
    R = ring.shape[0]
    n = y.size
    K = P21.shape[0]
    nd = delta_rows.size
    count = 0
    v = np.empty(n)
    for i in range(n):
        v[i] = _at(P20Ie_, i)
    jump = np.empty(n if nd > 1 else 0)
    spiked = np.empty(n, np.bool_)
    for t in range(first, last + 1):
        if count + n > out_index.size:
            return t - 1, count
        row = ring[t % R]
        # y <- P20 I_e + sum_k P21_k I_k + expm1 y + y + sum(delta arrivals), left to
        # right: the first terms and the summed arrivals of several delta channels in
        # passes of their own, the rest with the threshold and reset in one loop.
        if K:
            for i in range(n):
                v[i] = _at(P20Ie_, i)
            for j in range(K):
                for i in range(n):
                    v[i] = v[i] + _at2(P21, j, i) * I[j, i]
        if nd > 1:
            d = port0 + delta_rows[0] * n
            for i in range(n):
                jump[i] = row[d + i] * scale
            for k in range(1, nd):
                d = port0 + delta_rows[k] * n
                for i in range(n):
                    jump[i] = jump[i] + row[d + i] * scale
        d0 = port0 + delta_rows[0] * n if nd == 1 else 0
        for i in range(n):
            x = v[i] + _at(expm1, i) * y[i]
            x = x + y[i]
            if nd == 1:
                x = x + row[d0 + i] * scale
            elif nd > 1:
                x = x + jump[i]
            # refractory neurons keep y (their sum is discarded) and count down
            free = refr[i] == 0
            w = x if free else y[i]
            r = refr[i] if free else refr[i] - 1
            hit = w >= _at(theta, i)
            spiked[i] = hit
            y[i] = _at(y_reset, i) if hit else w
            refr[i] = _at(ref_steps, i) if hit else r
        # The synaptic components take the step's arrivals. Fed components (alpha
        # functions) first: they take their feeder's value from the start of the step,
        # and no feeder is itself fed.
        for j in range(feed.size):
            f = feed[j]
            if f >= 0:
                for i in range(n):
                    I[j, i] = feed_coef[j] * I[f, i] + decay[j] * I[j, i]
        for j in range(feed.size):
            if feed[j] < 0:
                d = port0 + channel[j] * n
                for i in range(n):
                    I[j, i] = I[j, i] * decay[j] + coef[j] * (row[d + i] * scale)
        for i in range(n):
            if spiked[i]:
                out_index[count] = i
                out_step[count] = t
                count += 1
        for p in range(port0, port0 + n_ports):
            row[p] = 0
    return last, count


def _constants(c: Prepared, n: int) -> tuple:
    k = c.k
    # (I_e + current generators) * P20, NEST's (I_e + i_0) * P20: a number, or one value
    # per neuron. Numbers stay numbers (a kernel compiled for them; nothing allocated per
    # call), per-neuron values arrays.
    P20Ie = c.P20 * (c.p.I_e + c.I_ext)
    P20Ie = float(P20Ie) if np.ndim(P20Ie) == 0 else np.ascontiguousarray(np.broadcast_to(P20Ie, (n,)),
                                                                          dtype=np.float64)
    if np.ndim(c.theta) == 0:
        return (P20Ie, c.P21, float(c.expm1), k.delta_rows, k.channel, k.decay, k.coef, k.feed, k.feed_coef,
                float(c.theta), float(c.y_reset), int(c.ref_steps))
    return (P20Ie, c.P21, c.expm1, k.delta_rows, k.channel, k.decay, k.coef, k.feed, k.feed_coef, c.theta,
            c.y_reset, np.asarray(c.ref_steps, dtype=np.int64))


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n``. ``x``: arrivals per channel, shape (channels, neurons). Pure."""
    y, refr, I = s.y.copy(), s.refr.copy(), s.I.copy()
    return State(y=y, refr=refr, I=I, E_L=s.E_L, readout=s.readout), common.one_step(_advance, (y, refr, I), x, n,
                                                                                    _constants(c, y.size))


def advance(s: State, c: Prepared, ring: np.ndarray, port0: int, n_ports: int, first: int, last: int,
            out_index: np.ndarray, out_step: np.ndarray) -> tuple[int, int]:
    """Advance ``s`` in place through steps ``first..last``, reading the arrivals of step
    ``t`` from ``ring[t % R, port0:port0 + n_ports]`` (int64 quanta, cleared once read):
    the same compiled loop as :func:`step`, so the same bits. Spikes go to ``out_index``
    (local index) and ``out_step``; the call stops before a step whose spikes might not
    fit. Returns ``(last step done, spikes written)``."""
    return _advance(s.y, s.refr, s.I, ring, QUANTUM, port0, n_ports, first, last, out_index, out_step,
                    *_constants(c, s.y.size))


def with_current(prep: Prepared, current: np.ndarray) -> Prepared:
    """The constants with an external current (pA, per local neuron) added to ``I_e`` for
    one step: how current generators (:mod:`distsnn.currents`) enter the model."""
    return replace(prep, I_ext=current)


def surrogate_gradient(s: State, c: Prepared) -> np.ndarray:
    """The surrogate gradient (pseudo-derivative, 1) of the sampled state: the population's
    ``surrogate_gradient_function`` of ``V_m - V_th`` with its height and width
    (:mod:`distsnn.models.surrogate`, NEST's e-prop forms), 0 while refractory. The
    state is sampled after the step's threshold: at a spike step the neuron is reset
    and, with t_ref > 0, refractory (0)."""
    p = c.p
    n = s.y.size
    height, width = p.surrogate_gradient_height, p.surrogate_gradient_width
    if np.ndim(height) == 0 and np.ndim(width) == 0:
        return surrogate(p.surrogate_gradient_function, s.refr, s.y, c.theta, height, width)
    # per-neuron height or width: the same function, neurons grouped by their pair
    theta = np.broadcast_to(np.asarray(c.theta, np.float64), (n,))
    pairs = np.stack([np.broadcast_to(np.asarray(height, np.float64), (n,)),
                      np.broadcast_to(np.asarray(width, np.float64), (n,))], axis=1)
    out = np.empty(n)
    uniq, which = np.unique(pairs, axis=0, return_inverse=True)
    for k, (h, w) in enumerate(uniq):
        sel = np.flatnonzero(which.reshape(-1) == k)
        out[sel] = surrogate(p.surrogate_gradient_function, s.refr[sel], s.y[sel], theta[sel], h, w)
    return out


def record(s: State, var: str) -> np.ndarray:
    if var == "V_m":
        return s.V
    return synapses.sum_rows(s.I[np.asarray(s.readout, dtype=bool)])
