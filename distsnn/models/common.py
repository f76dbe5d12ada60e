"""Pieces shared by the neuron models: parameter parsing, initial values, sub-steps.

The nonlinear models ``hh``, ``adex`` and ``izhikevich`` integrate their membrane with
the classical fourth-order Runge-Kutta method over ``m`` equal sub-steps of a step
``dt``. The synaptic drive needed at the stage times (offsets ``j h / 2`` from the start
of the step, ``h = dt / m``, ``j = 0 .. 2m``) is exact: the synaptic components are
exponentials (:class:`distsnn.synapses.Kernels`), so :func:`drive_matrices` evaluates
them in closed form, and only the membrane carries integration error.

Two rules keep the result of a neuron independent of where it sits in the local arrays
(hence of the rank count and the partition, bit for bit, like the spikes):

- the drive is summed over components in a fixed order by plain loops
  (:func:`weighted_rows`, :func:`stage_drive`), never by a BLAS product ``W @ S``,
  whose summation order and use of FMA depend on the column's position in the block;
- each neuron chooses its own sub-steps from its own state (:func:`substeps_for`).

Stiff conductances. RK4 is stable on a decaying mode ``-lambda`` only while ``lambda h
< 2.79``, and a conductance ``G`` adds ``lambda = G / C_m`` to the membrane. The base
sub-step (each model's ``H_MAX``) is chosen for the model's own dynamics; a neuron whose
conductance is large this step gets more sub-steps, so that ``(G / C_m) h <= Z_G`` (0.5,
where RK4's decay factor is exact to 5e-4). ``G`` is bounded over the whole step by the
sum of the positive conductance components at its start (they only decay; the negative
rise parts of double exponentials only grow towards 0), so the bound holds at every
stage. Why per step and not from a bound fixed when the network is built: a bound on
what can arrive (max weight x arrivals x kernel peak) misses conductance accumulated
over many steps, and the rigorous one (x tau / dt) would make every step of every
neuron pay for a worst case that a network almost never reaches. The refined drive is
evaluated in closed form at the refined stage times (:func:`drive_at`). A network is
refused when it is built if what one step can deliver to a neuron (its weights x the
arrivals possible in a step) would already call for more than ``MAX_SUBSTEPS``
sub-steps in a step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

import numpy as np
from numba import njit

from .. import synapses, timegrid, validate
from ..synapses import Kernels, SynapseType


def parse(owner: str, cls: type, given: Mapping[str, Any], units: Mapping[str, str],
          positive: Sequence[str] = (), non_negative: Sequence[str] = (),
          choices: Mapping[str, Sequence[str]] | None = None, size: int | None = None) -> Any:
    """A frozen parameter dataclass from user values: unknown names, non-numbers and
    values outside their bounds raise ``ValueError`` naming owner, field, bound and value.
    With ``size`` (the population's), a value may be per neuron (:func:`param_value`)."""
    choices = choices or {}
    validate.known_fields(owner, given, [f.name for f in fields(cls)], "parameter")
    values = {}
    for k, v in given.items():
        if k in choices:
            values[k] = validate.choice(owner, k, v, choices[k])
        elif size is not None:
            values[k] = param_value(owner, k, v, size, units.get(k, ""))
        else:
            values[k] = validate.number(owner, k, v, units.get(k, ""))
    for k in positive:
        if k in values:
            check_positive(owner, k, values[k], units.get(k, ""))
    for k in non_negative:
        if k in values:
            check_non_negative(owner, k, values[k], units.get(k, ""))
    return cls(**values)


def require_below(owner: str, p: Any, low: str, high: str, unit: str = "mV") -> None:
    """``p.low < p.high``, or an error naming both."""
    if not getattr(p, low) < getattr(p, high):
        raise ValueError(f"{owner}: {low} must be < {high} = {getattr(p, high)} {unit}, got {getattr(p, low)}")


def substeps(dt: float, h_max: float) -> int:
    """Number of equal sub-steps of ``dt`` none longer than ``h_max`` (ms)."""
    return max(1, math.ceil(dt / h_max * (1.0 - 1e-12)))


def drive_matrices(k: Kernels, dt: float, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(WA, WG)``, shape (2m + 1, components): at offset ``j dt / (2m)`` into a step that
    starts with synaptic state ``S``, the synaptic current is ``(WA @ S)[j] - (WG @ S)[j] V``
    (pA): ``WA`` collects current-mode currents and conductance x reversal potential."""
    wi, wg, we = k.weights_at(np.arange(2 * m + 1) * (dt / (2 * m)))
    return wi + we, wg


#: Largest conductance stiffness (G / C_m) h of one RK4 sub-step (see the module docstring).
Z_G = 0.5
#: Most sub-steps per step that one step's possible arrivals may call for; a network
#: whose conductances could ask for more is refused when it is built.
MAX_SUBSTEPS = 100_000


def weighted_rows(w: np.ndarray, S: np.ndarray) -> np.ndarray:
    """``sum_k w[k] S[k]`` (shape of ``S[0]``), summed in the order k = 0, 1, ...: the
    order-fixed replacement of ``w @ S`` (see the module docstring)."""
    out = np.zeros(S.shape[1:], dtype=np.float64)
    for k in range(S.shape[0]):
        out += w[k] * S[k]
    return out


@njit(cache=True, inline="always")
def drive_at(ca, cg, inv_tau, S, i, t):
    """Synaptic drive ``(A, G)`` of neuron ``i`` at ``t`` ms after the start of the step
    (components summed in order): ``A`` sums current-mode currents (pA) and conductance x
    reversal potential, ``G`` the conductances (nS)."""
    a = 0.0
    g = 0.0
    for k in range(S.shape[0]):
        it = inv_tau[k]
        if it >= 0.0:
            e = np.exp(-t * it) * S[k, i]
        else:       # an alpha derivative acts through the alpha function it feeds
            e = t * np.exp(t * it) * S[k, i]
        a += ca[k] * e
        g += cg[k] * e
    return a, g


@njit(cache=True, inline="always")
def stage_drive(WA, WG, ca, cg, inv_tau, S, i, j, h, fine):
    """``(A, G)`` at stage time ``j h / 2`` of neuron ``i``: from the drive matrices on the
    base sub-steps, in closed form on refined ones (``fine``)."""
    if fine:
        return drive_at(ca, cg, inv_tau, S, i, 0.5 * j * h)
    a = 0.0
    g = 0.0
    for k in range(S.shape[0]):
        a += WA[j, k] * S[k, i]
        g += WG[j, k] * S[k, i]
    return a, g


@njit(cache=True, inline="always")
def substeps_for(cg, inv_tau, S, i, m, dt, C):
    """``(sub-steps, h, fine)`` of neuron ``i`` this step: the base ``m``, or more when its
    conductance bound G makes ``(G / C) h`` exceed ``Z_G``."""
    g = 0.0
    for k in range(S.shape[0]):
        if cg[k] != 0.0 and S[k, i] > 0.0:
            # an alpha derivative adds at most S t exp(-t / tau) <= S min(dt, tau / e)
            g += S[k, i] if inv_tau[k] >= 0.0 else S[k, i] * min(dt, -np.exp(-1.0) / inv_tau[k])
    need = g * dt / (C * Z_G)
    if need <= m:
        return m, dt / m, False
    mi = int(np.ceil(need))
    return mi, dt / mi, True


def run_split(kernels: tuple[Any, Any], n: int, *args: Any) -> None:
    """Run a model's pair of compiled kernels over ``n`` neurons: ``kernels[0]`` advances
    every neuron on the base sub-steps and marks in ``refined`` those that need more
    (:func:`substeps_for`), ``kernels[1]`` advances only those. Two kernels, each compiled
    with its drive rule fixed, because a per-stage branch between the rules inside one
    loop kept LLVM from optimising the common path (measured: 30 times slower)."""
    refined = np.zeros(n, dtype=np.bool_)
    kernels[0](refined, *args)
    if refined.any():
        kernels[1](refined, *args)


def one_step(kernel: Any, state: tuple[np.ndarray, ...], x: np.ndarray, n: int, constants: tuple) -> np.ndarray:
    """Run a model's epoch kernel (``advance``'s compiled loop) for the single step ``n`` on
    the arrays ``state`` (modified in place), with the arrivals ``x`` (channels, neurons)
    as a one-row float ring; returns which neurons spiked. This is how a model's pure
    ``step`` shares its one compiled source of equations with the engine's epochs."""
    n_local = state[0].size
    ring = np.array(x, dtype=np.float64, order="C").reshape(1, -1)    # a copy: the kernel clears it
    index = np.empty(max(n_local, 1), dtype=np.int64)
    steps = np.empty_like(index)
    _, count = kernel(*state, ring, 1.0, 0, ring.shape[1], n, n, index, steps, *constants)
    spiked = np.zeros(n_local, dtype=np.bool_)
    spiked[index[:count]] = True
    return spiked


def initial(initial_values: Mapping[str, np.ndarray], var: str, default: Any, n: int) -> np.ndarray:
    """A copy of the initial values of ``var``, or ``default`` (a number or an array)."""
    if var in initial_values:
        return np.array(initial_values[var], dtype=np.float64)
    return np.array(np.broadcast_to(np.asarray(default, dtype=np.float64), (n,)))


def jumps(k: Kernels, x: np.ndarray, n: int) -> np.ndarray:
    """The step's summed delta arrivals (mV) as a contiguous array of ``n`` values."""
    return np.ascontiguousarray(np.broadcast_to(np.asarray(k.jumps(x), dtype=np.float64), (n,)))


@dataclass(frozen=True)
class SubstepPrepared:
    """Constants of a model integrated by RK4 over ``substeps`` sub-steps of length ``h``
    (ms) of a step ``dt`` (ms): its parameters, synaptic kernels, the drive matrices of :func:`drive_matrices`,
    the refractory period in steps, and per component the coefficients of
    :func:`drive_at`: ``ca`` (1 for a current, ``e_rev`` for a conductance), ``cg`` (1 for a
    conductance) and ``inv_tau`` (1/ms; negative, ``-1 / tau``, for an alpha derivative,
    whose drive at ``t`` is ``t exp(-t / tau)`` times its value)."""

    p: Any
    k: Kernels
    substeps: int
    h: float
    WA: np.ndarray
    WG: np.ndarray
    ref_steps: Any          # int, or one per neuron
    ca: np.ndarray
    cg: np.ndarray
    inv_tau: np.ndarray
    dt: float
    #: External current (pA; 0 or one value per local neuron) held over the step and
    #: added to ``I_e`` in the kernels: current generators.
    I_ext: Any = 0.0


def with_current(prep: SubstepPrepared, current: np.ndarray) -> SubstepPrepared:
    """The constants with an external current (pA, per local neuron) for one step: how
    current generators (:mod:`distsnn.currents`) enter the RK4 models."""
    from dataclasses import replace

    return replace(prep, I_ext=current)


def prepare_substeps(p: Any, dt: float, channels: tuple[SynapseType, ...], m: int,
                     t_ref: Any = 0.0) -> SubstepPrepared:
    """Kernels and drive matrices for ``m`` sub-steps of ``dt``; ``t_ref`` in ms (a number
    or one per neuron)."""
    k = synapses.kernels(channels, dt)
    WA, WG = drive_matrices(k, dt, m)
    cg = k.conductance.astype(np.float64)
    return SubstepPrepared(p, k, m, dt / m, np.ascontiguousarray(WA), np.ascontiguousarray(WG),
                           refractory_steps(t_ref, dt), (1.0 - cg) + cg * k.e_rev, cg,
                           np.where(k.readout, 1.0, -1.0) / k.tau, dt)


def refractory_steps(t_ref: Any, dt: float) -> Any:
    """A refractory period in whole steps, rounded up as NEST does (:func:`timegrid.steps_up`):
    an int, or an int64 array for per-neuron periods."""
    steps = timegrid.steps_up(t_ref, dt)
    return int(steps) if np.ndim(steps) == 0 else np.asarray(steps, dtype=np.int64)



# -- per-neuron parameters and synaptic initial state ------------------------------------
#
# Every neuron model accepts per-neuron parameters and parses each value
# with :func:`param_value`: a number stays a float, a list or array becomes an
# ``ArrayValue`` over the population, a table ``{dist = ...}`` a keyed distribution
# (NEST's ``nest.random``). Bounds are checked on every value the parameter can take.
# At build, :func:`resolve` turns the parameters into the local neurons' values, drawn
# from the stream ``param:<population>:<name>`` (row gid), so a neuron gets the same
# values on every rank; its prepared constants are then arrays over the local neurons.

#: Prefix of the initial values of a synapse channel: ``syn:<projection>`` names the
#: channel that the projection feeds; ``init_state`` receives them as ``syn:<channel index>``.
SYN_PREFIX = "syn:"


def param_value(owner: str, name: str, value: Any, size: int, unit: str = "") -> Any:
    """A number (float) or a per-neuron value (array over the population or distribution)."""
    from .. import distributions

    per_neuron = (list, tuple, np.ndarray, dict, distributions.ArrayValue, distributions.Uniform,
                  distributions.Normal, distributions.Lognormal)
    if not isinstance(value, per_neuron):
        return validate.number(owner, name, value, unit)
    v = distributions.parse(owner, name, value)
    if isinstance(v, distributions.Constant):
        return v.value
    if isinstance(v, distributions.ArrayValue) and v.values.shape != (size,):
        raise ValueError(f"{owner}: {name} array must have one value per neuron, shape ({size},), "
                         f"got {v.values.shape}")
    return v


def value_bounds(value: Any) -> tuple[float, float]:
    """Smallest and largest value a parameter can take."""
    return (value, value) if isinstance(value, float) else value.bounds()


def check_positive(owner: str, name: str, value: Any, unit: str = "") -> None:
    from .. import distributions

    if isinstance(value, float):
        validate.positive(owner, name, value, unit)
        return
    if isinstance(value, distributions.Lognormal):
        return
    lo = value_bounds(value)[0]
    if not lo > 0:
        raise ValueError(f"{owner}: {name} must be > 0{' ' + unit if unit else ''}, got values down to {lo!r}")


def check_non_negative(owner: str, name: str, value: Any, unit: str = "") -> None:
    if isinstance(value, float):
        validate.non_negative(owner, name, value, unit)
        return
    lo = value_bounds(value)[0]
    if not lo >= 0:
        raise ValueError(f"{owner}: {name} must be >= 0{' ' + unit if unit else ''}, got values down to {lo!r}")


def check_below(owner: str, p: Any, low: str, high: str, unit: str = "mV") -> None:
    """``p.low < p.high`` for every neuron: elementwise for two arrays, else on bounds."""
    from .. import distributions

    a, b = getattr(p, low), getattr(p, high)
    if isinstance(a, float) and isinstance(b, float):
        require_below(owner, p, low, high, unit)
        return
    if isinstance(a, distributions.ArrayValue) and isinstance(b, distributions.ArrayValue):
        bad = np.flatnonzero(~(a.values < b.values))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{owner}: {low} must be < {high} for every neuron, got {a.values[i]} >= "
                             f"{b.values[i]} {unit} at neuron {i}")
        return
    hi_a, lo_b = value_bounds(a)[1], value_bounds(b)[0]
    if not hi_a < lo_b:
        raise ValueError(f"{owner}: {low} must be < {high} = {lo_b} {unit} (its smallest value), "
                         f"got values up to {hi_a}")


def resolve(p: Any, seed: int, population: str, gids: np.ndarray, index: np.ndarray) -> Any:
    """``p`` with every per-neuron field replaced by the local neurons' values (arrays)."""
    from dataclasses import replace

    from .. import distributions, rng

    out = {}
    for f in fields(p):
        v = getattr(p, f.name)
        if isinstance(v, distributions.ArrayValue):
            out[f.name] = v.values[np.asarray(index, dtype=np.int64)].astype(np.float64)
        elif isinstance(v, (distributions.Uniform, distributions.Normal, distributions.Lognormal)):
            out[f.name] = distributions.sample(v, rng.stream_key(seed, f"param:{population}:{f.name}"), gids, 1)
    return replace(p, **out) if out else p


def columns(p: Any, names: Sequence[str], n: int) -> tuple[np.ndarray, ...]:
    """The parameters ``names`` of ``p`` as contiguous arrays over ``n`` neurons (for
    compiled kernels that index them per neuron)."""
    return tuple(np.ascontiguousarray(np.broadcast_to(np.asarray(getattr(p, k), dtype=np.float64), (n,)))
                 for k in names)


def synaptic_state(channel: np.ndarray, coef: np.ndarray, initial: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """The components ``S[k, neuron]`` of the synaptic channels (``channel[k]``: channel of
    component k, ``coef[k]``: its arrival coefficient), zero except where ``initial`` has
    ``syn:<c>``: the channel's current (pA) or conductance (nS), put on its first
    component (an exponential's only one, a double exponential's decay part)."""
    S = np.zeros((channel.size, n), dtype=np.float64)
    for key, values in initial.items():
        if key.startswith(SYN_PREFIX):
            c = int(key[len(SYN_PREFIX):])
            k = int(np.flatnonzero(channel == c)[0])
            S[k] = values
    return S
