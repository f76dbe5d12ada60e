"""What a run returns: spikes, sampled traces and a summary.

``Spikes`` holds ``gid`` (int64), ``step`` (int64) and ``time`` (ms, ``step * dt``),
sorted by step then gid. A spike at step ``n`` means the threshold was crossed during
the update from step ``n-1`` to ``n`` (NEST's convention: the spike is stamped at the
end of the step).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Spikes:
    gid: np.ndarray
    step: np.ndarray
    time: np.ndarray

    @classmethod
    def from_steps(cls, gid: np.ndarray, step: np.ndarray, dt: float) -> "Spikes":
        gid = np.asarray(gid, dtype=np.int64)
        step = np.asarray(step, dtype=np.int64)
        return cls(gid, step, step * dt)

    def __len__(self) -> int:
        return int(self.gid.size)

    def of(self, lo: int, hi: int) -> "Spikes":
        """The spikes of gids in [lo, hi)."""
        keep = (self.gid >= lo) & (self.gid < hi)
        return Spikes(self.gid[keep], self.step[keep], self.time[keep])


@dataclass(frozen=True)
class Trace:
    """Samples of one variable: ``values[i, j]`` is neuron ``gids[j]`` at ``steps[i]``."""

    population: str
    variable: str
    gids: np.ndarray
    steps: np.ndarray
    time: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Result:
    """Spikes, traces and summary of a run; ``populations`` maps each population's name
    to ``(first gid, size)`` in the network's order (empty when unknown)."""

    spikes: Spikes
    traces: dict[tuple[str, str], Trace] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    populations: dict[str, tuple[int, int]] = field(default_factory=dict)

    def spikes_of(self, population: str) -> Spikes:
        """The spikes of one population (gids stay global)."""
        if population not in self.populations:
            raise KeyError(f"no population {population!r} in this result; populations: "
                           f"{list(self.populations)}")
        lo, n = self.populations[population]
        return self.spikes.of(lo, lo + n)

    def trace(self, population: str, variable: str) -> Trace:
        key = (population, variable)
        if key not in self.traces:
            raise KeyError(f"no state monitor recorded {variable!r} of population {population!r}; "
                           f"recorded: {sorted(self.traces)}")
        return self.traces[key]

    def to_neo(self, populations: list[str] | None = None, gids=None):
        """This result as one ``neo.Segment`` (needs the optional ``neo`` package); see
        :func:`distsnn.io.neo.to_neo`."""
        from .io.neo import to_neo

        return to_neo(self, populations, gids)

    def isi_cv(self) -> float:
        """Mean coefficient of variation of inter-spike intervals over neurons with >= 2 spikes."""
        if len(self.spikes) < 2:
            return float("nan")
        order = np.lexsort((self.spikes.step, self.spikes.gid))
        g, st = self.spikes.gid[order], self.spikes.step[order]
        same = g[1:] == g[:-1]
        # Intervals in whole steps, so a regular train has a CV of exactly 0.
        isi, owner = np.diff(st)[same].astype(np.float64), g[1:][same]
        if isi.size == 0:
            return float("nan")
        _, inv, cnt = np.unique(owner, return_inverse=True, return_counts=True)
        mean = np.bincount(inv, weights=isi) / cnt
        var = np.bincount(inv, weights=(isi - mean[inv]) ** 2) / cnt
        return float(np.mean(np.sqrt(var) / mean))
