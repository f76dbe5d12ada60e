"""Fixed spike-train generator population: each neuron emits a given list of spike times.

Parameters: ``times``, one list per neuron (``len(times)`` must equal the population
size) of spike times in ms, ascending; ``allow_offgrid_times`` (default false). NEST's
``spike_generator`` (one per neuron), Brian2's ``SpikeGeneratorGroup``.

Grid rule, NEST's: a time ``t`` must be a multiple of ``dt`` (within the tolerance of
:mod:`distsnn.timegrid`) and is emitted at step ``t / dt``, stamped at time ``t``. With
``allow_offgrid_times = true`` a time off the grid is rounded *up* to the end of its
step (:func:`distsnn.timegrid.steps_up`), as NEST's ``spike_generator`` does with the
same flag. After that rounding a time must be at least one step (step 0 is the initial
state, spikes start at step 1), and the times of one neuron must fall on different steps
(two spikes on one step would be one spike); all is checked when the population is
added, so every given time is emitted, exactly once.

The population receives no synapses; its neurons are sources for projections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .. import timegrid, validate
from ..synapses import SynapseType

NAME = "spike_train"
SYNAPSE_KINDS: tuple[tuple[str, str], ...] = ()
RECORDABLE: tuple[str, ...] = ()
INITIAL: tuple[str, ...] = ()


@dataclass(frozen=True)
class Params:
    """``times[i]``: spike times (ms) of neuron ``i``, ascending; ``allow_offgrid_times``:
    round times off the grid up to the next step instead of refusing them."""

    times: tuple[tuple[float, ...], ...] = ()
    allow_offgrid_times: bool = False

    def steps(self, times: np.ndarray, dt: float) -> np.ndarray:
        """The emission steps of ``times`` (ms) under this population's grid rule."""
        return (timegrid.steps_up if self.allow_offgrid_times else timegrid.to_steps)(times, dt)


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    validate.known_fields(owner, given, ("times", "allow_offgrid_times"), "parameter")
    if "times" not in given:
        raise ValueError(f"{owner}: times (a list of spike-time lists in ms, one per neuron) is required")
    offgrid = validate.boolean(owner, "allow_offgrid_times", given.get("allow_offgrid_times", False))
    rule = Params((), offgrid)
    spec = given["times"]
    if not isinstance(spec, (list, tuple)) or not all(isinstance(t, (list, tuple, np.ndarray)) for t in spec):
        raise ValueError(f"{owner}: times must be a list of lists of spike times (ms), one per neuron, "
                         f"got {spec!r}")
    if len(spec) != size:
        raise ValueError(f"{owner}: times must have one list per neuron ({size}), got {len(spec)}")
    out = []
    for i, row in enumerate(spec):
        ts = [validate.number(owner, f"times[{i}][{j}]", t, "ms") for j, t in enumerate(row)]
        arr = np.asarray(ts, dtype=np.float64)
        if not offgrid:
            off = np.flatnonzero(~timegrid.on_grid(arr, dt))
            if off.size:
                j = int(off[0])
                raise ValueError(f"{owner}: times[{i}][{j}] = {ts[j]} ms is not a multiple of dt = {dt} ms; "
                                 f"give times on the grid or set allow_offgrid_times = true (rounds them up "
                                 f"to the next step, as NEST)")
        steps = rule.steps(arr, dt)
        low = np.flatnonzero(steps < 1)
        if low.size:
            j = int(low[0])
            bound = "> 0 ms" if offgrid else f">= dt = {dt} ms (one step)"
            raise ValueError(f"{owner}: times[{i}][{j}] must be {bound}, got {ts[j]}")
        bad = np.flatnonzero(np.diff(arr) <= 0)
        if bad.size:
            j = int(bad[0]) + 1
            raise ValueError(f"{owner}: times[{i}] must be ascending; times[{i}][{j}] = {ts[j]} ms "
                             f"after {ts[j - 1]} ms")
        same = np.flatnonzero(np.diff(steps) == 0)
        if same.size:
            j = int(same[0]) + 1
            raise ValueError(f"{owner}: times[{i}][{j}] = {ts[j]} ms falls on the same step of dt = {dt} ms "
                             f"as {ts[j - 1]} ms")
        out.append(tuple(ts))
    return Params(tuple(out), offgrid)


@dataclass(frozen=True)
class Prepared:
    steps: np.ndarray    # int64, all neurons' spike steps, neuron after neuron
    indptr: np.ndarray   # int64, neuron i's steps are steps[indptr[i]:indptr[i+1]]


@dataclass(frozen=True)
class State:
    """The local neurons' spikes, sorted by step: ``who[k]`` (local position) spikes at
    ``when[k]``; ``n`` local neurons."""

    when: np.ndarray
    who: np.ndarray
    n: int


def prepare(p: Params, dt: float, channels: tuple[SynapseType, ...],
            key: tuple[int, int] | None = None) -> Prepared:
    counts = np.array([len(t) for t in p.times], dtype=np.int64)
    indptr = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    flat = np.array([t for row in p.times for t in row], dtype=np.float64)
    return Prepared(steps=p.steps(flat, dt), indptr=indptr)


def init_state(prep: Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> State:
    """``index``: the local neurons' positions in the population (required)."""
    if index is None:
        raise TypeError("spike_train.init_state needs the neurons' indices within the population")
    index = np.asarray(index, dtype=np.int64)
    counts = prep.indptr[index + 1] - prep.indptr[index]
    who = np.repeat(np.arange(index.size, dtype=np.int64), counts)
    starts = np.repeat(prep.indptr[index], counts)
    within = np.arange(who.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    when = prep.steps[starts + within]
    order = np.argsort(when, kind="stable")
    return State(when=when[order], who=who[order], n=int(index.size))


def step(s: State, x: np.ndarray, c: Prepared, n: int) -> tuple[State, np.ndarray]:
    """The neurons with a spike at step ``n``. Pure."""
    lo, hi = np.searchsorted(s.when, n, side="left"), np.searchsorted(s.when, n, side="right")
    spiked = np.zeros(s.n, dtype=bool)
    spiked[s.who[lo:hi]] = True
    return s, spiked


def record(s: State, var: str) -> np.ndarray:
    raise ValueError(f"model {NAME!r} has no recordable variables, got {var!r}")
