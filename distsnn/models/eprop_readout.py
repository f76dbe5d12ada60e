"""``eprop_readout``: NEST 3.10's leaky readout neuron for e-prop.

Equations (units ms, mV, pA, pF; ``v = V_m - E_L``; one step ``h``)::

    v(n)      = P_i i_in(n-1) + z_in(n) + alpha v(n-1),   v >= V_min
    y(n)      = v(n) + E_L                          readout_signal
    err(n)    = y(n) - y*(n)                        error_signal (mean squared error)

with ``alpha``, ``P_i`` as in :mod:`distsnn.models.eprop_iaf` (NEST's
``eprop_readout::update``). The target ``y*`` (``target_signal``) is a time series given
by the trainer (:func:`with_target`): it holds from step ``t0 + 1`` for as many steps as
it has columns; outside it, target, readout and error signals read 0, as NEST's
learning window gates them. Recordables ``V_m``, ``readout_signal``, ``target_signal``,
``error_signal``. One compiled loop (:func:`_advance`) serves :func:`step`,
:func:`advance` and the fused e-prop epoch (:mod:`distsnn.models.eprop_fused`); with a
``trace`` buffer in the constants it writes each step's readout signal there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np
from numba import njit

from .. import synapses
from ..synapses import QUANTUM
from . import common, eprop_iaf

NAME = "eprop_readout"
SYNAPSE_KINDS = eprop_iaf.SYNAPSE_KINDS
RECORDABLE = ("V_m", "readout_signal", "target_signal", "error_signal")
INITIAL = ("V_m",)


@dataclass(frozen=True)
class Params:
    """NEST 3.10's ``eprop_readout`` defaults: C_m (pF), E_L (mV), I_e (pA), tau_m (ms),
    V_min (mV, lower bound of V_m)."""

    C_m: float = 250.0
    E_L: float = 0.0
    I_e: float = 0.0
    tau_m: float = 10.0
    V_min: float = -math.inf


UNITS = {"C_m": "pF", "E_L": "mV", "I_e": "pA", "tau_m": "ms", "V_min": "mV"}


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    given, _ = eprop_iaf.without_unbounded_v_min(given)
    return common.parse(owner, Params, given, UNITS, positive=("C_m", "tau_m"))


@dataclass(frozen=True)
class Prepared:
    """``alpha``, ``P_i``, ``v_min`` as ``eprop_iaf``; ``target`` (local neurons x steps,
    or None) starting after step ``t0``; ``I_ext`` as ``eprop_iaf``; ``trace``: None or a
    buffer (1, H, local neurons) whose row ``t % H`` gets the readout signal of step ``t``."""

    p: Params
    dt: float
    alpha: float
    P_i: float
    v_min: float
    target: np.ndarray | None = None
    t0: int = 0
    I_ext: Any = 0.0
    trace: np.ndarray | None = None


def prepare(p: Params, dt: float, channels: tuple[synapses.SynapseType, ...],
            key: tuple[int, int] | None = None) -> Prepared:
    alpha = math.exp(-dt / p.tau_m)
    return Prepared(p=p, dt=dt, alpha=alpha, P_i=p.tau_m / p.C_m * (1.0 - alpha), v_min=p.V_min - p.E_L)


def with_target(prep: Prepared, target: np.ndarray | None, t0: int) -> Prepared:
    """The constants with the target signal ``target`` (local neurons x steps) holding
    from step ``t0 + 1`` (None: no target)."""
    return replace(prep, target=None if target is None else np.asarray(target, dtype=np.float64), t0=int(t0))


@dataclass(frozen=True)
class State:
    """``v = V_m - E_L`` (mV), ``i_in`` (pA, acts on the next step), the step's readout
    ``y``, target ``y_star`` and error ``err`` (mV)."""

    v: np.ndarray
    i_in: np.ndarray
    y: np.ndarray
    y_star: np.ndarray
    err: np.ndarray
    E_L: float


def init_state(prep: Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> State:
    n = gids.size
    v = common.initial(initial, "V_m", prep.p.E_L, n) - prep.p.E_L
    return State(v=v, i_in=np.zeros(n), y=np.zeros(n), y_star=np.zeros(n), err=np.zeros(n), E_L=prep.p.E_L)


_NO_TARGET = np.zeros((0, 0))
_NO_TRACE = np.zeros((1, 0, 0))


@njit(cache=True)
def _advance(v, i_in, y, y_star, err, ring, scale, port0, n_ports, first, last, P_i, alpha, v_min, E_L, Ie,
             target, t0, trace):
    # Steps first..last in place (ring as lif's _advance): per neuron NEST's
    # eprop_readout::update, v <- max(P_i i_in + z_in + alpha v, V_min), then the signals
    # inside the target's window (step t0 + 1 + j, column j), zero outside it.
    R = ring.shape[0]
    n = v.size
    channels = n_ports // n if n else 0
    H = trace.shape[1]
    cols = target.shape[1]
    for t in range(first, last + 1):
        row = ring[t % R]
        j = t - t0 - 1
        inside = 0 <= j < cols
        for i in range(n):
            jump = 0.0
            for c in range(channels):
                jump = jump + row[port0 + c * n + i] * scale
            vi = max(P_i * i_in[i] + jump + alpha * v[i], v_min)
            if inside:
                yi = vi + E_L
                ys = target[i, j]
                y[i] = yi
                y_star[i] = ys
                err[i] = yi - ys
            else:
                y[i] = 0.0
                y_star[i] = 0.0
                err[i] = 0.0
            v[i] = vi
            i_in[i] = Ie[i]
            if H:
                trace[0, t % H, i] = y[i]
        for q in range(port0, port0 + n_ports):
            row[q] = 0
    return last


def state_arrays(s: State) -> tuple[np.ndarray, ...]:
    """The arrays :func:`_advance` updates in place."""
    return s.v, s.i_in, s.y, s.y_star, s.err


def kernel_constants(c: Prepared, n: int) -> tuple:
    """The constants of :func:`_advance` after its step range."""
    Ie = np.array(np.broadcast_to(np.asarray(c.p.I_e + c.I_ext, dtype=np.float64), (n,)))  # writable (see eprop_iaf)
    target = _NO_TARGET if c.target is None else np.ascontiguousarray(c.target, dtype=np.float64)
    return (float(c.P_i), float(c.alpha), float(c.v_min), float(c.p.E_L), Ie, target, int(c.t0),
            _NO_TRACE if c.trace is None else c.trace)


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Advance to step ``n``; never spikes. Pure."""
    s = State(v=s.v.copy(), i_in=s.i_in.copy(), y=s.y.copy(), y_star=s.y_star.copy(), err=s.err.copy(), E_L=s.E_L)
    ring = np.array(x, dtype=np.float64, order="C").reshape(1, -1)
    _advance(*state_arrays(s), ring, 1.0, 0, ring.shape[1], n, n, *kernel_constants(c, s.v.size))
    return s, np.zeros(s.v.size, dtype=np.bool_)


def advance(s: State, c: Prepared, ring: np.ndarray, port0: int, n_ports: int, first: int, last: int,
            out_index: np.ndarray, out_step: np.ndarray) -> tuple[int, int]:
    """Advance ``s`` in place through steps ``first..last`` from the engine's ring (as
    :func:`distsnn.models.lif.advance`; a readout never spikes)."""
    return _advance(*state_arrays(s), ring, QUANTUM, port0, n_ports, first, last, *kernel_constants(c, s.v.size)), 0


def with_current(prep: Prepared, current: np.ndarray) -> Prepared:
    return replace(prep, I_ext=current)


# A readout's trace buffer (1, H, local neurons) rides in the same ``trace`` field, and
# readouts advance in the recurrent neurons' shared loop.
with_trace = eprop_iaf.with_trace
fused_loop = eprop_iaf.fused_loop


def record(s: State, var: str) -> np.ndarray:
    return {"V_m": lambda: s.v + s.E_L, "readout_signal": lambda: s.y, "target_signal": lambda: s.y_star,
            "error_signal": lambda: s.err}[var]()
