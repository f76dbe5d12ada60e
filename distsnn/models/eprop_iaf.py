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

One compiled loop (:func:`_advance`, shared with :mod:`distsnn.models.eprop_iaf_adapt`)
holds the equations: the engine's epochs call it through :func:`advance`, the pure
:func:`step` through :func:`distsnn.models.common.one_step`, and the fused e-prop epoch
(:mod:`distsnn.models.eprop_fused`) one step at a time. With a ``trace`` buffer in the
prepared constants (set by :mod:`distsnn.learning`), the loop also writes each step's
surrogate gradient and spike into it, so that training needs no Python per step.

The learning parameters (``c_reg``, ``f_target``, ``kappa``, ``kappa_reg``) are read by
:mod:`distsnn.learning` (eligibility traces and firing-rate regularisation); the model
itself does not use them. ``f_target`` is in spikes/s (NEST's input unit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np
from numba import njit

from .. import synapses, validate
from ..synapses import QUANTUM
from . import common
from .surrogate import FUNCTIONS, psi as surrogate_psi

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
    to E_L, the refractory period in steps; ``I_ext``: current generators' current (pA);
    ``trace``: None, or a buffer (2, H, local neurons) into whose row ``t % H`` the
    compiled loop writes the surrogate gradient (plane 0) and the spike (plane 1) of
    step ``t`` (:mod:`distsnn.learning`)."""

    p: Params
    dt: float
    alpha: float
    P_i: float
    theta: float
    v_min: float
    ref_steps: int
    I_ext: Any = 0.0
    trace: np.ndarray | None = None


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


#: The trace buffer of constants without one (nothing is written).
NO_TRACE = np.zeros((2, 0, 0))


@njit(cache=True)
def _advance(v, r, z, psi, i_in, a, v_th, ring, scale, port0, n_ports, first, last, out_index, out_step,
             P_i, alpha, v_min, theta, ref_steps, fn, height, width, adaptive, rho, beta, Ie, trace):
    # Steps first..last of one population, in place (lif's _advance explains the ring,
    # its scale and the spike buffers). Per neuron, NEST's eprop_iaf::update (and, with
    # ``adaptive``, eprop_iaf_adapt::update: a and v_th) term by term:
    #   r <- max(r - 1, 0);  v <- max(P_i i_in + z_in + alpha v, V_min)
    #   [a <- rho a + z;  v_th <- theta + beta a]
    #   psi <- surrogate(r, v, v_th);  spike if v >= v_th and r == 0: v -= theta, r = ref
    # The arrivals of all channels are summed in channel order before they join v.
    R = ring.shape[0]
    n = v.size
    channels = n_ports // n if n else 0
    H = trace.shape[1]
    count = 0
    for t in range(first, last + 1):
        if count + n > out_index.size:
            return t - 1, count
        row = ring[t % R]
        h = t % H if H else 0
        for i in range(n):
            ri = r[i] - 1 if r[i] > 0 else 0
            jump = 0.0
            for c in range(channels):
                jump = jump + row[port0 + c * n + i] * scale
            vi = max(P_i * i_in[i] + jump + alpha * v[i], v_min)
            th = theta
            if adaptive:
                ai = rho * a[i] + z[i]
                th = theta + beta * ai
                a[i] = ai
                v_th[i] = th
            p = surrogate_psi(fn, ri, vi, th, height, width)
            zi = 0.0
            if vi >= th and ri == 0:
                vi = vi - theta
                ri = ref_steps
                zi = 1.0
                out_index[count] = i
                out_step[count] = t
                count += 1
            v[i] = vi
            r[i] = ri
            z[i] = zi
            psi[i] = p
            i_in[i] = Ie[i]
            if H:
                trace[0, h, i] = p
                trace[1, h, i] = zi
        for q in range(port0, port0 + n_ports):
            row[q] = 0
    return last, count


def kernel_constants(c: Prepared, n: int, adaptive: bool = False, rho: float = 0.0, beta: float = 0.0) -> tuple:
    """The constants of :func:`_advance` after its buffers: membrane, threshold,
    surrogate (function index, height, width), adaptation, ``I_e + I_ext`` per neuron and
    the trace buffer."""
    p = c.p
    # a copy: a broadcast of one value is read-only, a type the fused loop would not share
    Ie = np.array(np.broadcast_to(np.asarray(p.I_e + c.I_ext, dtype=np.float64), (n,)))
    trace = NO_TRACE if c.trace is None else c.trace
    return (float(c.P_i), float(c.alpha), float(c.v_min), float(c.theta), int(c.ref_steps),
            FUNCTIONS.index(p.surrogate_gradient_function), float(p.surrogate_gradient_height),
            float(p.surrogate_gradient_width), bool(adaptive), float(rho), float(beta), Ie, trace)


def state_arrays(s: State) -> tuple[np.ndarray, ...]:
    """The arrays :func:`_advance` updates in place (no adaptation: empty ``a``, ``v_th``)."""
    empty = np.zeros(0)
    return s.v, s.r, s.z, s.psi, s.i_in, empty, empty


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n``; ``x``: arrivals (mV) per channel, shape (channels, neurons). Pure."""
    s = State(v=s.v.copy(), r=s.r.copy(), z=s.z.copy(), psi=s.psi.copy(), i_in=s.i_in.copy(), E_L=s.E_L,
              learning_signal=s.learning_signal)
    spiked = common.one_step(_advance, state_arrays(s), x, n, kernel_constants(c, s.v.size))
    return s, spiked


def advance(s: State, c: Prepared, ring: np.ndarray, port0: int, n_ports: int, first: int, last: int,
            out_index: np.ndarray, out_step: np.ndarray) -> tuple[int, int]:
    """Advance ``s`` in place through steps ``first..last`` from the engine's ring (as
    :func:`distsnn.models.lif.advance`): the loop of :func:`step`, so the same bits."""
    return _advance(*state_arrays(s), ring, QUANTUM, port0, n_ports, first, last, out_index, out_step,
                    *kernel_constants(c, s.v.size))


def with_current(prep: Prepared, current: np.ndarray) -> Prepared:
    """The constants with a current generator's current (pA, per local neuron) for one step."""
    return replace(prep, I_ext=current)


def with_trace(prep: Prepared, trace: np.ndarray | None) -> Prepared:
    """The constants with the trace buffer ``trace`` (2, H, local neurons; a readout's:
    1, H, local neurons), or without one."""
    return replace(prep, trace=trace)


def fused_loop() -> Any:
    """The module of the compiled epoch loop that the e-prop models share with their
    spike-train inputs (:mod:`distsnn.models.eprop_fused`; imported here, as it imports
    the models)."""
    from . import eprop_fused

    return eprop_fused


def record(s: State, var: str) -> np.ndarray:
    if var == "V_m":
        return s.v + s.E_L
    if var == "learning_signal":
        return s.learning_signal.copy()      # the trainer writes into it in place
    return s.psi
