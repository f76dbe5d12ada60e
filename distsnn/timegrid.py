"""Integer time: the one rule that turns milliseconds into steps.

Inside the engine time is a step count ``n`` (time ``n * dt`` ms, NEST's
``time_in_steps``). Durations given in ms (delays, refractory periods, spike times) are
converted once, here, by **rounding to the nearest step, halves rounded up**, after
absorbing a relative error of 1e-9 so that 1.5 ms / 0.1 ms is 15 steps and not 14.
A synaptic delay must be at least one step: ``delay >= dt`` (within the same 1e-9).
"""

from __future__ import annotations

import numpy as np

_REL = 1e-9


def to_steps(ms: float | np.ndarray, dt: float) -> np.ndarray:
    """Durations in ms to whole steps (nearest, halves up); returns int64."""
    x = np.asarray(ms, dtype=np.float64) / dt
    return np.floor(x + 0.5 + _REL * np.maximum(np.abs(x), 1.0)).astype(np.int64)


def at_least_one_step(ms: float | np.ndarray, dt: float) -> np.ndarray:
    """True where a delay in ms is not below one step of ``dt`` ms."""
    return np.asarray(ms, dtype=np.float64) >= dt * (1.0 - _REL)
