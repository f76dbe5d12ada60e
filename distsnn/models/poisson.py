"""Poisson generator population, and the piecewise-constant rate schedules it shares with
:class:`distsnn.network.PoissonInput`.

Each neuron is an independent Poisson source (NEST's ``poisson_generator`` with one
generator per target, or Brian2's ``PoissonGroup``): in the step from ``n - 1`` to ``n``
it spikes with probability ``p_n = 1 - exp(-rate_n dt)`` (at most one spike per step;
the count of a step is Bernoulli, so over ``T`` steps it is Binomial(T, p) with Fano
factor ``1 - p``, close to Poisson's 1 while ``rate dt << 1``). Its draw is uniform
``n`` of the stream keyed by ``(seed, "poisson_pop:<population>")`` and row ``gid``
(:mod:`distsnn.rng`), so a neuron's train depends on nothing but the seed, the
population's name, its gid and the rate.

Rate schedule: ``rate = 10.0`` (Hz, constant) or ``schedule = {times = [0, 100, 200],
rates = [10, 50, 0]}``: ``times`` in ms, ascending, starting at 0, each on a different
step of ``dt`` (times are rounded to steps by :func:`distsnn.timegrid.to_steps`);
``rates`` in Hz, >= 0. Rate ``rates[i]`` is in force from step ``s_i =
to_steps(times[i])`` on: the count of step ``n`` (the interval ``((n-1) dt, n dt]``)
uses the rate in force at step ``n - 1``, the last ``i`` with ``s_i <= n - 1``.

The population receives no synapses (it accepts no synapse kind); its neurons are
sources for projections like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from numba import njit

from .. import timegrid, validate
from ..rng import uniform_at
from ..synapses import SynapseType

NAME = "poisson"
SYNAPSE_KINDS: tuple[tuple[str, str], ...] = ()
RECORDABLE: tuple[str, ...] = ()
INITIAL: tuple[str, ...] = ()


@dataclass(frozen=True)
class RateSchedule:
    """A piecewise-constant rate: ``rates[i]`` (Hz) from ``times[i]`` (ms) on."""

    times: tuple[float, ...]
    rates: tuple[float, ...]

    def to_plain(self) -> dict[str, list[float]]:
        return {"times": list(self.times), "rates": list(self.rates)}

    def first_steps(self, dt: float) -> np.ndarray:
        """The step from which each rate is in force (int64)."""
        return timegrid.to_steps(np.asarray(self.times, dtype=np.float64), dt)

    def segment_of(self, first_steps: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        """Index of the rate used for the count of step ``n`` (in force at step ``n - 1``)."""
        return np.searchsorted(first_steps, np.asarray(n) - 1, side="right") - 1


def parse_schedule(owner: str, field: str, spec: Any, dt: float) -> RateSchedule:
    """``{times = [...], rates = [...]}`` (ms, Hz), validated for step ``dt``."""
    if isinstance(spec, RateSchedule):
        spec = spec.to_plain()
    validate.mapping(owner, field, spec)
    validate.known_fields(f"{owner} {field}", spec, ("times", "rates"))
    for k in ("times", "rates"):
        if k not in spec:
            raise ValueError(f"{owner}: {field}.{k} is required")
        v = spec[k]
        if not isinstance(v, (list, tuple, np.ndarray)) or len(v) == 0:
            raise ValueError(f"{owner}: {field}.{k} must be a non-empty list of numbers, got {v!r}")
    times = [validate.number(owner, f"{field}.times[{i}]", t, "ms") for i, t in enumerate(spec["times"])]
    rates = [validate.non_negative(owner, f"{field}.rates[{i}]", r, "Hz") for i, r in enumerate(spec["rates"])]
    if len(times) != len(rates):
        raise ValueError(f"{owner}: {field}.times and {field}.rates must have the same length, "
                         f"got {len(times)} and {len(rates)}")
    if times[0] != 0.0:
        raise ValueError(f"{owner}: {field}.times[0] must be 0 ms, got {times[0]}")
    steps = timegrid.to_steps(np.asarray(times), dt)
    for i in range(1, len(times)):
        if not times[i] > times[i - 1]:
            raise ValueError(f"{owner}: {field}.times must be ascending; times[{i}] = {times[i]} ms "
                             f"after {times[i - 1]} ms")
        if steps[i] == steps[i - 1]:
            raise ValueError(f"{owner}: {field}.times[{i}] = {times[i]} ms falls on the same step of "
                             f"dt = {dt} ms as {times[i - 1]} ms")
    return RateSchedule(tuple(times), tuple(rates))


@dataclass(frozen=True)
class Params:
    """``schedule``: the firing rate (Hz) over time; a constant ``rate`` is a one-piece schedule."""

    schedule: RateSchedule = RateSchedule((0.0,), (0.0,))


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    validate.known_fields(owner, given, ("rate", "schedule"), "parameter")
    if ("rate" in given) == ("schedule" in given):
        raise ValueError(f"{owner}: give exactly one of rate (Hz) and schedule (times in ms, rates in Hz)")
    if "rate" in given:
        rate = validate.non_negative(owner, "rate", given["rate"], "Hz")
        return Params(RateSchedule((0.0,), (rate,)))
    return Params(parse_schedule(owner, "schedule", given["schedule"], dt))


@dataclass(frozen=True)
class Prepared:
    key: tuple[int, int]
    first_steps: np.ndarray   # int64, per segment
    prob: np.ndarray          # spike probability per step, per segment
    schedule: RateSchedule


@dataclass(frozen=True)
class State:
    gids: np.ndarray          # uint64, the local neurons


def prepare(p: Params, dt: float, channels: tuple[SynapseType, ...],
            key: tuple[int, int] | None = None) -> Prepared:
    """``key``: the population's stream, ``rng.stream_key(seed, "poisson_pop:<name>")``."""
    if key is None:
        raise TypeError("poisson.prepare needs the population's stream key")
    rates = np.asarray(p.schedule.rates, dtype=np.float64)
    return Prepared(key=key, first_steps=p.schedule.first_steps(dt), prob=-np.expm1(-rates * dt * 1e-3),
                    schedule=p.schedule)


def init_state(prep: Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> State:
    return State(gids=np.asarray(gids).astype(np.uint64))


@njit(cache=True)
def _uniforms(k0, k1, gids, n, out):
    for i in range(gids.size):
        out[i] = uniform_at(k0, k1, gids[i], n)


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """Spikes of step ``n``; ``x`` is empty (no channels). Pure."""
    p = c.prob[int(c.schedule.segment_of(c.first_steps, n))]
    if p == 0.0:
        return s, np.zeros(s.gids.size, dtype=bool)
    u = np.empty(s.gids.size, dtype=np.float64)
    _uniforms(np.uint64(c.key[0]), np.uint64(c.key[1]), s.gids, np.uint64(n), u)
    return s, u < p


def record(s: State, var: str) -> np.ndarray:
    raise ValueError(f"model {NAME!r} has no recordable variables, got {var!r}")
