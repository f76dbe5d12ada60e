"""In-memory recording during a run: spikes and sampled state.

Monitors keep what the local rank owns; :mod:`distsnn.results` merges ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .build import LocalPopulation
from .network import StateMonitor


@dataclass
class SpikeRecorder:
    """Spikes of the monitored populations' local neurons, one array pair per epoch."""

    gid_ranges: list[tuple[int, int]]
    gids: list[np.ndarray] = field(default_factory=list)
    steps: list[np.ndarray] = field(default_factory=list)

    def add(self, gids: np.ndarray, steps: np.ndarray) -> None:
        if not self.gid_ranges or gids.size == 0:
            return
        keep = np.zeros(gids.size, dtype=bool)
        for lo, hi in self.gid_ranges:
            keep |= (gids >= lo) & (gids < hi)
        self.gids.append(gids[keep])
        self.steps.append(steps[keep])

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.gids:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(self.gids), np.concatenate(self.steps)


@dataclass
class StateRecorder:
    """Samples of some variables of some local neurons every ``every`` steps."""

    spec: StateMonitor
    pop: LocalPopulation
    every: int
    local: np.ndarray              # positions within the local population
    gids: np.ndarray               # their gids
    steps: list[int] = field(default_factory=list)
    values: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @classmethod
    def create(cls, spec: StateMonitor, pop: LocalPopulation, dt: float) -> "StateRecorder":
        wanted = np.asarray(spec.neurons, dtype=np.int64)
        mine = np.isin(wanted, pop.index)
        local = np.searchsorted(pop.index, wanted[mine])
        return cls(spec, pop, int(round(spec.interval / dt)), local, pop.gids[local],
                   values={v: [] for v in spec.variables})

    def sample(self, step: int) -> None:
        if step % self.every:
            return
        self.steps.append(step)
        for var in self.spec.variables:
            self.values[var].append(self.pop.model.record(self.pop.state, var)[self.local].copy())

    def arrays(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        steps = np.asarray(self.steps, dtype=np.int64)
        vals = {v: (np.vstack(x) if x else np.zeros((0, self.local.size))) for v, x in self.values.items()}
        return steps, vals
