"""Current generators: DC, step current, sinusoidal and Gaussian noise currents (NEST's
``dc_generator``, ``step_current_generator``, ``ac_generator`` and ``noise_generator``),
per neuron or per population.

A generator has an amplitude ``A(t)`` (pA), right-continuous and piecewise constant,
zero outside ``[start, stop)``:

- ``dc``: ``A(t) = amplitude``;
- ``step``: ``A(t) = amplitudes[i]`` for ``times[i] <= t < times[i + 1]`` (the last one
  until ``stop``), 0 before ``times[0]``;
- ``ac``: ``A(t) = offset + amplitude * sin(2 pi frequency t + phase)`` (NEST's
  ``ac_generator``: frequency in Hz, phase in degrees, t from the simulation start);
- ``noise``: ``A(t) = mean + sigma_j * Z(gid, j)`` on the ``j``-th interval ``[j dt_noise,
  (j + 1) dt_noise)``, ``Z`` standard normal from the stream ``current:<name>`` (row gid,
  index j): each neuron gets its own noise, as each target of a NEST noise generator
  does, and the draw does not depend on the rank that makes it. ``sigma_j = std``, or
  with ``std_mod`` (pA, ``0 <= std_mod <= std``), ``frequency`` (Hz) and ``phase``
  (degrees) NEST's modulated noise: the variance oscillates, ``sigma_j^2 = std^2 +
  std_mod^2 sin(2 pi frequency t_j + phase)``, ``t_j`` the time of the interval's draw
  counted from the generator's first active step, which counts as one step (NEST turns
  its oscillator once per active step before drawing; it starts the oscillator at the
  start of the run, so this holds for a generator active from the run's start or, as
  here always, with the phase counted from its first active step). Checked against NEST
  3.10 (4,000 ``iaf_psc_exp`` targets, std 300, std_mod 250 pA, 40 Hz, 30 degrees: the
  variance of its currents per interval follows this formula, mean squared z-score 1.1
  over 99 intervals).

``amplitude`` (dc, ac), ``offset`` (ac), ``amplitudes`` (step; a list of values, or one list per time with
a value per neuron), ``mean``, ``std`` and ``std_mod`` (noise) may be a number or one value per
targeted neuron. ``neurons`` selects the targeted neurons (indices within the
population; default: all).

Timing, as NEST's generators with a connection delay ``delay`` (ms, default one step):
the membrane update from step ``n - 1`` to ``n`` sees the current ``A(t)`` at the
generator time ``t = t_{n-1} - delay``, held constant over the step, so the current
acts on the membrane over ``[start + delay, stop + delay)``. As in NEST, the generator
time starts at one step (NEST's first device update, at step 0, sends the value of
generator time dt: its current generators shift their window by two steps to make up
for the event's minimum delay and for the current being read after the membrane
update), so with ``start = 0`` the first update to feel it is ``n = delay / dt + 2``;
and a noise generator's intervals start at its first active generator step (NEST
realigns them there). ``delay = 0``, which NEST does not allow, starts the generator
time at 0, so a DC generator then acts exactly like the model's ``I_e``. Checked
against NEST 3.10 (``iaf_psc_exp`` under step, DC and noise generators: the same traces
to 1e-13 mV, the same noise interval boundaries). Times, ``dt_noise`` and ``delay`` must
lie on the time grid (as NEST requires; step times may be off the grid with
``allow_offgrid_times``, then rounded up, as NEST's), ``dt_noise`` at least one step
(default ten steps, as NEST's).

The current enters the models the way ``I_e`` does: ``lif`` and ``lif_cond`` add it to
their ``I_e`` for the step, the RK4 models (``izhikevich``, ``hh``, ``adex``) to their
stage drive; every neuron model takes current input (the generators do not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from . import rng, timegrid, validate
from .rng import normal_at

KINDS = {"dc": ("amplitude",), "step": ("times", "amplitudes", "allow_offgrid_times"),
         "noise": ("mean", "std", "dt_noise", "std_mod", "frequency", "phase"),
         "ac": ("amplitude", "offset", "frequency", "phase")}
#: Fields that may be left out (with their defaults).
_OPTIONAL = {"noise": ("mean", "dt_noise", "std_mod", "frequency", "phase"), "ac": ("offset", "phase"), "step": ("allow_offgrid_times",)}
COMMON = ("neurons", "start", "stop", "delay")


@dataclass(frozen=True)
class CurrentInput:
    """A validated generator; ``spec`` is its plain (TOML) form with defaults filled in."""

    name: str
    target: str
    kind: str
    spec: dict = field(hash=False)

    def to_plain(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "kind": self.kind, **self.spec}


def _on_grid(owner: str, fld: str, t: float, dt: float) -> int:
    if not timegrid.on_grid(t, dt):
        raise ValueError(f"{owner}: {fld} must be a multiple of dt = {dt} ms, got {t}")
    return int(timegrid.to_steps(t, dt))


def _per_neuron(owner: str, fld: str, value: Any, n: int) -> float | list[float]:
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = validate.finite_array(owner, fld, value)
        if arr.shape != (n,):
            raise ValueError(f"{owner}: {fld} must be a number or one value per targeted neuron ({n}), "
                             f"got shape {arr.shape}")
        return arr.tolist()
    return validate.number(owner, fld, value, "pA")


#: NEST's model and parameter names, accepted as aliases.
_KIND_ALIASES = {"dc_generator": "dc", "step_current_generator": "step", "ac_generator": "ac",
                 "noise_generator": "noise"}
_FIELD_ALIASES = {"step": {"amplitude_times": "times", "amplitude_values": "amplitudes"},
                  "noise": {"dt": "dt_noise"}}


def parse(owner: str, name: str, target: str, size: int, kind: Any, given: dict[str, Any],
          dt: float) -> CurrentInput:
    """A checked generator of ``kind`` into a population of ``size`` neurons; NEST's names
    (``step_current_generator`` with ``amplitude_times`` / ``amplitude_values``, ...) are
    accepted too."""
    kind = validate.choice(owner, "kind", _KIND_ALIASES.get(kind, kind) if isinstance(kind, str) else kind, KINDS)
    aliases = _FIELD_ALIASES.get(kind, {})
    renamed = {}
    for k, v in given.items():
        k2 = aliases.get(k, k)
        if k2 in renamed:
            raise ValueError(f"{owner}: {k2} is given twice (as {k2!r} and {k!r})")
        renamed[k2] = v
    given = renamed
    validate.known_fields(f"{owner} ({kind})", given, KINDS[kind] + COMMON)
    for req in KINDS[kind]:
        if req not in given and req not in _OPTIONAL.get(kind, ()):
            raise ValueError(f"{owner}: {req} is required for a {kind} current")
    spec: dict[str, Any] = {}
    neurons = given.get("neurons")
    if neurons is not None:
        idx = np.asarray(neurons)
        if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
            raise ValueError(f"{owner}: neurons must be a non-empty list of integer indices, got {neurons!r}")
        bad = np.flatnonzero((idx < 0) | (idx >= size))
        if bad.size:
            raise ValueError(f"{owner}: neurons must be in [0, {size - 1}], got {idx[bad[0]]}")
        if np.unique(idx).size != idx.size:
            raise ValueError(f"{owner}: neurons must not repeat an index")
        spec["neurons"] = idx.astype(int).tolist()
    n = size if neurons is None else len(spec["neurons"])
    start = validate.non_negative(owner, "start", given.get("start", 0.0), "ms")
    stop = given.get("stop")
    if stop is not None:
        stop = validate.number(owner, "stop", stop, "ms")
        if not stop > start:
            raise ValueError(f"{owner}: stop must be > start = {start} ms, got {stop}")
        _on_grid(owner, "stop", stop, dt)
    _on_grid(owner, "start", start, dt)
    delay = validate.non_negative(owner, "delay", given.get("delay", dt), "ms")
    _on_grid(owner, "delay", delay, dt)
    spec.update(start=start, delay=delay)
    if stop is not None:
        spec["stop"] = stop
    if kind == "dc":
        spec["amplitude"] = _per_neuron(owner, "amplitude", given["amplitude"], n)
    elif kind == "ac":
        spec["amplitude"] = _per_neuron(owner, "amplitude", given["amplitude"], n)
        spec["offset"] = _per_neuron(owner, "offset", given.get("offset", 0.0), n)
        spec["frequency"] = validate.non_negative(owner, "frequency", given["frequency"], "Hz")
        spec["phase"] = validate.number(owner, "phase", given.get("phase", 0.0), "deg")
    elif kind == "step":
        times = validate.finite_array(owner, "times", given["times"])
        if times.ndim != 1 or times.size == 0:
            raise ValueError(f"{owner}: times must be a non-empty list (ms), got {given['times']!r}")
        if times[0] < 0 or np.any(np.diff(times) <= 0):
            raise ValueError(f"{owner}: times must be >= 0 and strictly increasing, got {times.tolist()}")
        offgrid = validate.boolean(owner, "allow_offgrid_times", given.get("allow_offgrid_times", False))
        if offgrid:
            # NEST's step_current_generator with allow_offgrid_times: round up, stay increasing.
            steps = timegrid.steps_up(times, dt)
            if np.any(np.diff(steps) <= 0):
                i = int(np.flatnonzero(np.diff(steps) <= 0)[0])
                raise ValueError(f"{owner}: times {times[i]:g} and {times[i + 1]:g} ms round up to the same "
                                 f"step of dt = {dt} ms")
            spec["allow_offgrid_times"] = True
        else:
            for t in times:
                _on_grid(owner, "times", float(t), dt)
        amps = validate.finite_array(owner, "amplitudes", given["amplitudes"])
        if amps.shape not in ((times.size,), (times.size, n)):
            raise ValueError(f"{owner}: amplitudes must have one value per time ({times.size},) or one row "
                             f"of {n} values per time, got shape {amps.shape}")
        spec.update(times=times.tolist(), amplitudes=amps.tolist())
    else:
        spec["mean"] = _per_neuron(owner, "mean", given.get("mean", 0.0), n)
        std = _per_neuron(owner, "std", given["std"], n)
        if np.min(std) < 0:
            raise ValueError(f"{owner}: std must be >= 0 pA, got {np.min(std)}")
        # NEST's default: ten steps.
        dt_noise = validate.positive(owner, "dt_noise", given.get("dt_noise", 10 * dt), "ms")
        if _on_grid(owner, "dt_noise", dt_noise, dt) < 1:
            raise ValueError(f"{owner}: dt_noise must be at least one step ({dt} ms), got {dt_noise}")
        spec.update(std=std, dt_noise=dt_noise)
        if any(k in given for k in ("std_mod", "frequency", "phase")):
            std_mod = _per_neuron(owner, "std_mod", given.get("std_mod", 0.0), n)
            mods, stds = np.broadcast_arrays(np.atleast_1d(std_mod), np.atleast_1d(std))
            if mods.min() < 0:
                raise ValueError(f"{owner}: std_mod must be >= 0 pA, got {mods.min()}")
            over = np.flatnonzero(mods > stds)
            if over.size:
                i = int(over[0])
                got, bound = mods[i], stds[i]
                where = f" (targeted neuron {i})" if mods.size > 1 else ""
                raise ValueError(f"{owner}: std_mod must be <= std = {bound} pA (NEST's bound: the variance "
                                 f"std^2 + std_mod^2 sin(...) must stay >= 0), got {got}{where}")
            spec.update(std_mod=std_mod,
                        frequency=validate.non_negative(owner, "frequency", given.get("frequency", 0.0), "Hz"),
                        phase=validate.number(owner, "phase", given.get("phase", 0.0), "deg"))
    return CurrentInput(name, target, kind, spec)


@njit(cache=True)
def _noise(k0, k1, gids, interval, mean, std, out):
    for i in range(gids.size):
        out[i] = mean[i] + std[i] * normal_at(k0, k1, gids[i], interval)


class LocalCurrent:
    """One generator restricted to a rank's neurons of its target population.

    ``at(n)`` is the current (pA) of every local neuron of the population for the
    membrane update ending at step ``n``, or ``None`` where it is zero everywhere.
    """

    def __init__(self, inp: CurrentInput, seed: int, index: np.ndarray, gids: np.ndarray, dt: float) -> None:
        s = inp.spec
        if "neurons" in s:
            # The targeted neurons this rank owns: their columns in the spec, local positions.
            targeted = np.asarray(s["neurons"], dtype=np.int64)
            cols = np.flatnonzero(np.isin(targeted, index))
            self.where = np.searchsorted(index, targeted[cols])
        else:
            cols = np.asarray(index, dtype=np.int64)
            self.where = np.arange(index.size)
        self.n_local = index.size
        self.kind = inp.kind
        self.delay = int(round(s["delay"] / dt))
        # The first generator step that reaches the membrane (see the module docstring).
        self.first = max(int(round(s["start"] / dt)), 1 if self.delay > 0 else 0)
        self.stop = math.inf if "stop" not in s else int(round(s["stop"] / dt))

        def column(v: Any) -> np.ndarray:
            a = np.asarray(v, dtype=np.float64)
            return np.full(cols.size, float(a)) if a.ndim == 0 else a[cols]

        if inp.kind == "dc":
            self.amp = column(s["amplitude"])
        elif inp.kind == "ac":
            self.amp, self.offset = column(s["amplitude"]), column(s["offset"])
            self.omega = 2.0 * math.pi * s["frequency"] * 1e-3 * dt     # rad per step
            self.phi = math.radians(s["phase"])
        elif inp.kind == "step":
            rule = timegrid.steps_up if s.get("allow_offgrid_times") else timegrid.to_steps
            self.times = np.asarray(rule(np.asarray(s["times"], dtype=np.float64), dt), dtype=np.int64)
            a = np.asarray(s["amplitudes"], dtype=np.float64)
            self.amps = a[:, None] * np.ones(cols.size) if a.ndim == 1 else a[:, cols]
        else:
            self.key = rng.stream_key(seed, f"current:{inp.name}")
            self.gids = gids[self.where].astype(np.uint64)
            self.mean = np.ascontiguousarray(column(s["mean"]))
            self.std = np.ascontiguousarray(column(s["std"]))
            self.every = int(round(s["dt_noise"] / dt))
            self.std_mod = np.ascontiguousarray(column(s["std_mod"])) if "std_mod" in s else None
            if self.std_mod is not None:
                self.omega = 2.0 * math.pi * s["frequency"] * 1e-3 * dt     # rad per step
                self.phi = math.radians(s["phase"])
            self._cache: tuple[int, np.ndarray] | None = None

    def segment(self, n: int) -> Any:
        """A key that changes exactly when the current of step ``n`` may change."""
        t = n - 1 - self.delay          # the generator's time, in steps
        if t < self.first or t >= self.stop:
            return None
        if self.kind == "dc":
            return 0
        if self.kind == "ac":
            return t
        if self.kind == "step":
            i = int(np.searchsorted(self.times, t, side="right")) - 1
            return None if i < 0 else i
        return (t - self.first) // self.every

    def next_change(self, n: int) -> float:
        """The first step after ``n`` whose :meth:`segment` may differ from step ``n``'s
        (``inf``: none)."""
        t = n - 1 - self.delay
        if t >= self.stop:
            return math.inf
        if t < self.first:
            # a step current stays off until its first time within the window
            nxt = max(self.first, int(self.times[0])) if self.kind == "step" and self.times.size else self.first
            nxt = min(nxt, self.stop)
        elif self.kind == "ac":
            nxt = t + 1
        elif self.kind == "dc":
            nxt = self.stop
        elif self.kind == "step":
            i = int(np.searchsorted(self.times, t, side="right"))
            nxt = min(self.times[i], self.stop) if i < self.times.size else self.stop
        else:
            nxt = min(self.first + ((t - self.first) // self.every + 1) * self.every, self.stop)
        return nxt + 1 + self.delay

    def values(self, seg: Any) -> np.ndarray | None:
        """Per-neuron currents (pA, over the population's local neurons) of a segment."""
        if seg is None or self.where.size == 0:
            return None
        out = np.zeros(self.n_local)
        if self.kind == "dc":
            out[self.where] = self.amp
        elif self.kind == "ac":
            out[self.where] = self.offset + self.amp * math.sin(self.omega * seg + self.phi)
        elif self.kind == "step":
            out[self.where] = self.amps[seg]
        else:
            vals = np.empty(self.where.size)
            std = self.std
            if self.std_mod is not None:
                # NEST's sqrt(std^2 + y std_mod^2), y = sin(phase) turned on by one step per
                # active step, the draw's included (interval seg starts seg * every steps
                # after the first active one)
                y = math.sin(self.omega * (seg * self.every + 1) + self.phi)
                std = np.sqrt(self.std * self.std + y * self.std_mod * self.std_mod)
            _noise(self.key[0], self.key[1], self.gids, np.uint64(seg), self.mean, std, vals)
            out[self.where] = vals
        return out


class CurrentDrive:
    """All generators into one population on one rank; the model's prepared constants
    with the summed current added to ``I_e`` (via the model's ``with_current``)."""

    def __init__(self, model: Any, prepared: Any, currents: list[LocalCurrent]) -> None:
        self.model = model
        self.base = prepared
        self.currents = currents
        self._key: tuple | None = None
        self._prepared = prepared

    def prepared(self, n: int) -> Any:
        """The prepared constants for the membrane update ending at step ``n``."""
        key = tuple(c.segment(n) for c in self.currents)
        if key != self._key:
            total = None
            for c, seg in zip(self.currents, key):   # a fixed order: the order of addition
                v = c.values(seg)
                if v is not None:
                    total = v if total is None else total + v
            self._prepared = self.base if total is None else self.model.with_current(self.base, total)
            self._key = key
        return self._prepared

    def constant_through(self, n: int, last: int) -> int:
        """The last step in ``n..last`` up to which :meth:`prepared` stays that of step ``n``
        (so a compiled model may advance through them in one call)."""
        nxt = min((c.next_change(n) for c in self.currents), default=math.inf)
        return int(min(last, nxt - 1))


__all__ = ["CurrentInput", "LocalCurrent", "CurrentDrive", "parse", "KINDS"]
