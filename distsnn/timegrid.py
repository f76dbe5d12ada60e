"""Integer time: the rules that turn milliseconds into steps.

Inside the engine time is a step count ``n`` (time ``n * dt`` ms, NEST's
``time_in_steps``). Durations given in ms are converted once, here:

- delays, spike-train times on the grid, rate-schedule times and ``t_stop``: **to the
  nearest step, halves rounded up** (:func:`to_steps`);
- refractory periods, and spike-train times off the grid when the population allows
  them: **up to the next whole step**, as NEST does (:func:`steps_up`).

Both first absorb the rounding error of ``ms / dt`` in floating point, so that 1.5 ms /
0.1 ms is 15 steps and not 14, and 0.15 ms / 0.1 ms counts as the half 1.5 (2 steps).
The tolerance is absolute in steps: ``TOL`` (1e-9 steps), widened only to the few ulps
that the division itself can be off by at large step counts (about 1e-7 steps at 1e9
steps), so a value more than that away from a step or a half is never moved across
it (``to_steps(1e8, 0.1)`` is 1e9 steps, ``to_steps(1000000.049, 0.1)`` is 10,000,000).

:func:`on_grid` says whether values are whole steps within the same tolerance;
:func:`check_grid` warns (``TimeGridWarning``), or raises in strict mode, when a value
given by the user is not, naming the object and the value that takes effect.
"""

from __future__ import annotations

import warnings

import numpy as np

#: Absolute tolerance (steps) for values meant to be whole or half steps.
TOL = 1e-9
_EPS = np.finfo(np.float64).eps


class TimeGridWarning(UserWarning):
    """A duration in ms is not a whole number of steps and was rounded."""


def _steps_and_tol(ms: float | np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(ms, dtype=np.float64) / dt
    # ms, dt and their quotient each carry half an ulp of error: 4 eps |x| covers the sum.
    return x, TOL + 4.0 * _EPS * np.abs(x)


def to_steps(ms: float | np.ndarray, dt: float) -> np.ndarray:
    """Durations in ms to whole steps (nearest, halves up); returns int64."""
    x, tol = _steps_and_tol(ms, dt)
    return np.floor(x + 0.5 + tol).astype(np.int64)


def steps_up(ms: float | np.ndarray, dt: float) -> np.ndarray:
    """Durations in ms to whole steps, rounded up (NEST's ``Time::get_steps``); int64."""
    x, tol = _steps_and_tol(ms, dt)
    return np.ceil(x - tol).astype(np.int64)


def on_grid(ms: float | np.ndarray, dt: float) -> np.ndarray:
    """True where a duration in ms is a whole number of steps of ``dt``."""
    x, tol = _steps_and_tol(ms, dt)
    return np.abs(x - np.floor(x + 0.5)) <= tol


def to_ms(steps: int | np.ndarray, dt: float) -> float | np.ndarray:
    """``steps * dt`` without the binary noise of the product (102 x 0.1 is 10.2, not
    10.200000000000001): rounded to 15 significant digits, which every double holds."""
    t = np.asarray(steps, dtype=np.float64) * dt
    if t.ndim == 0:
        return float(f"{float(t):.15g}")
    return np.array([float(f"{v:.15g}") for v in t.ravel()]).reshape(t.shape)


def delay_steps(ms: float | np.ndarray, dt: float) -> np.ndarray:
    """Delays (> 0 ms) to steps: the nearest step, halves up, and at least one step."""
    return np.maximum(to_steps(ms, dt), 1)


def check_grid(owner: str, field: str, ms: float | np.ndarray, dt: float, strict: bool,
               up: bool = False, min_steps: int = 0) -> None:
    """Warn (or, ``strict``, raise ``ValueError``) when durations are not whole steps of at
    least ``min_steps``, naming ``owner``, ``field``, the first such value and the one in
    effect (rounded to nearest, or up with ``up``, then raised to ``min_steps``)."""
    ms = np.asarray(ms, dtype=np.float64).ravel()
    rounded = (steps_up if up else to_steps)(ms, dt)
    off = np.flatnonzero(~on_grid(ms, dt) | (rounded < min_steps))
    if not off.size:
        return
    given = float(ms[off[0]])
    short = int(rounded[off[0]]) < min_steps
    steps = max(int(rounded[off[0]]), min_steps)
    more = f" ({off.size} values like it)" if off.size > 1 else ""
    what = (f"{owner}: {field} = {given:g} ms is not a multiple of dt = {dt:g} ms{more}")
    if strict:
        raise ValueError(f"{what}; strict_time is set, so give multiples of dt")
    rule = ("rounded up" if up else "rounded to the nearest step") + (f" and raised to {min_steps} step"
                                                                       if short else "")
    plural = "" if steps == 1 else "s"
    warnings.warn(f"{what}: {rule}, it takes effect as {to_ms(steps, dt):g} ms ({steps} step{plural})",
                  TimeGridWarning, stacklevel=3)
