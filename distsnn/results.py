"""What a run returns: spikes, sampled traces, population rates and a summary.

``Spikes`` holds ``gid`` (int64), ``step`` (int64) and ``time`` (ms, ``step * dt``),
sorted by step then gid. A spike at step ``n`` means the threshold was crossed during
the update from step ``n-1`` to ``n`` (NEST's convention: the spike is stamped at the
end of the step).

``Trace.values`` has shape ``(samples, neurons)``: row ``i`` is step ``steps[i]``, column
``j`` neuron ``gids[j]`` (ascending). ``Rates.counts`` is int64 of shape ``(bins,)``:
``counts[k]`` spikes of the whole population stamped in ``(edges[k], edges[k + 1]]`` ms,
with ``edges = t_start + bin_ms * arange(bins + 1)`` (the last bin may end after the run
did: it then covers only the simulated part).
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
class Rates:
    """Binned spike counts of one population (see the module docstring for the bins)."""

    population: str
    bin_ms: float
    t_start: float
    counts: np.ndarray
    size: int

    @property
    def edges(self) -> np.ndarray:
        """Bin edges (ms), ``bins + 1`` of them."""
        return self.t_start + self.bin_ms * np.arange(self.counts.size + 1)

    @property
    def rate_hz(self) -> np.ndarray:
        """Mean rate per neuron in each bin (Hz)."""
        return self.counts / (self.size * self.bin_ms * 1e-3)


@dataclass(frozen=True)
class Result:
    """Spikes, traces, rates and summary of a run; ``populations`` maps each population's
    name to ``(first gid, size)`` in the network's order (empty when unknown); ``rates``
    maps a population's name to its :class:`Rates`; ``metadata`` (runs read from files):
    run id, dt, seed, t_stop_ms, completed_ms, complete, and from the master file the
    partitioner, command line, versions and the network as TOML text."""

    spikes: Spikes
    traces: dict[tuple[str, str], Trace] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    populations: dict[str, tuple[int, int]] = field(default_factory=dict)
    rates: dict[str, Rates] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

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


def merge(parts: list[Result], dt: float) -> Result:
    """One result from the records of several ranks: spikes sorted by step then gid, trace
    columns sorted by gid, rate counts summed; summary and populations from the first part."""
    if not parts:
        raise ValueError("merge: no results to merge")
    g = np.concatenate([p.spikes.gid for p in parts])
    st = np.concatenate([p.spikes.step for p in parts])
    order = np.lexsort((g, st))
    traces = {}
    for key in parts[0].traces:
        chunks = [p.traces[key] for p in parts if key in p.traces]
        rows = min(c.steps.size for c in chunks)   # equal, except in an interrupted run
        gids = np.concatenate([c.gids for c in chunks])
        vals = np.hstack([c.values[:rows] for c in chunks]) if chunks else np.zeros((0, 0))
        col = np.argsort(gids, kind="stable")
        first = chunks[0]
        traces[key] = Trace(first.population, first.variable, gids[col], first.steps[:rows],
                            first.time[:rows], vals[:, col])
    rates = {}
    for name, r in parts[0].rates.items():
        chunks = [p.rates[name].counts for p in parts if name in p.rates]
        n = min(c.size for c in chunks)
        rates[name] = Rates(name, r.bin_ms, r.t_start, np.sum([c[:n] for c in chunks], axis=0,
                                                                dtype=np.int64), r.size)
    return Result(Spikes.from_steps(g[order], st[order], dt), traces, parts[0].summary,
                  parts[0].populations, rates)
