"""Recording during a run: spike, state and rate monitors of one rank, with a bounded buffer.

The engine calls :meth:`Recorder.sample` after every step and :meth:`Recorder.end_epoch`
after every epoch. Records collect in a buffer that is handed to a *sink* (a
:class:`MemorySink`, or the streaming HDF5 writer of :mod:`distsnn.io.writer`) every
``flush_every`` epochs or as soon as the buffer holds more than ``buffer_bytes``.

Memory bound: between flushes the buffer holds at most ``buffer_bytes`` plus the
records of one :meth:`Recorder.end_epoch` call (one epoch, or a fused group's batch of at
most a few steps of every neuron spiking); a spike costs 16 bytes (node id
and step), a sample 8 bytes per recorded neuron plus ``ROW_OVERHEAD`` per variable, a
rate bin 8 bytes. A flush briefly holds one concatenated copy of the buffer (so the
peak is twice that). So with a file sink the monitors' memory does not grow with the
run length (the sink adds HDF5's
chunk caches, see :mod:`distsnn.io.writer`). With the memory sink everything stays in
memory, as the name says.

Per-channel variables (``I_syn_<k>``, ``g_syn_<k>``, ``k`` from 1 in the order of
:meth:`Network.channels`) are computed here from a model's synaptic state: ``S`` with
its :class:`~distsnn.synapses.Kernels` ``k`` (the conductance and RK4 models), or the
current-based LIF's ``I`` with its prepared kernels (readout components only: an
alpha channel's derivative is not a current).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import timegrid
from .build import LocalPopulation
from .network import CHANNEL_VARIABLE, Network, RateMonitor, SpikeMonitor, StateMonitor

#: Units of the recordable variables (SONATA's ``units`` attribute).
UNITS = {"V_m": "mV", "U_m": "mV", "I_syn": "pA", "g_syn": "nS", "w": "pA", "m": "1", "h": "1", "n": "1"}

#: Bytes a buffered sample row costs beyond its values (the numpy array object).
ROW_OVERHEAD = 112
#: Defaults: flush every 100 epochs or when the buffer passes 64 MiB.
FLUSH_EVERY = 100
BUFFER_BYTES = 64 * 2**20


def units(variable: str) -> str:
    m = CHANNEL_VARIABLE.match(variable)
    return UNITS.get(m.group(1) if m else variable, "")


def check_channels(net: Network) -> None:
    """Per-channel variables must name a channel that exists and has that state (before any work)."""
    for mon in net.monitors:
        if not isinstance(mon, StateMonitor):
            continue
        chans = net.channels(mon.population)
        for var in mon.variables:
            m = CHANNEL_VARIABLE.match(var)
            if m is None:
                continue
            k = int(m.group(2))
            owner = f"StateMonitor on {mon.population!r}"
            if k > len(chans):
                raise ValueError(f"{owner}: variable {var!r} names channel {k}, but the population has "
                                 f"{len(chans)} synapse channel(s): "
                                 f"{', '.join(c.label() for c in chans) or 'none'}")
            c = chans[k - 1]
            if c.kind == "delta":
                raise ValueError(f"{owner}: variable {var!r}: channel {k} is a delta synapse, which has "
                                 f"no synaptic state")
            if m.group(1) == "g_syn" and c.mode != "conductance":
                raise ValueError(f"{owner}: variable {var!r}: channel {k} ({c.label()}) is current-based "
                                 f"and has no conductance")


def value(pop: LocalPopulation, var: str) -> np.ndarray:
    """A recordable of every local neuron of ``pop`` (a new array)."""
    m = CHANNEL_VARIABLE.match(var)
    if m is None:
        return np.array(pop.model.record(pop.state, var), dtype=np.float64)
    c = int(m.group(2)) - 1
    s = pop.state
    if hasattr(s, "S"):
        # an alpha channel's derivative component is not a current: readouts only
        rows = (s.k.channel == c) & s.k.readout
        if m.group(1) == "g_syn":
            return s.S[rows].sum(axis=0)
        part = s.S[rows]
        if s.k.conductance[rows].any():
            part = part * (s.k.e_rev[rows][:, None] - s.V[None, :])
        return part.sum(axis=0)
    k = pop.prepared.k
    return s.I[(k.channel == c) & k.readout].sum(axis=0)


@dataclass
class SpikeBuffer:
    population: str
    first_gid: int
    wanted: np.ndarray          # bool over the population's indices
    lo: int                     # record steps in (lo, hi]
    hi: int
    node_ids: list[np.ndarray] = field(default_factory=list)
    steps: list[np.ndarray] = field(default_factory=list)

    def add(self, gids: np.ndarray, steps: np.ndarray) -> int:
        idx = gids - self.first_gid
        keep = (idx >= 0) & (idx < self.wanted.size) & (steps > self.lo) & (steps <= self.hi)
        keep[keep] = self.wanted[idx[keep]]
        if keep.any():
            self.node_ids.append(idx[keep].astype(np.uint64))
            self.steps.append(steps[keep])
        return int(np.count_nonzero(keep))

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        ids = np.concatenate(self.node_ids) if self.node_ids else np.zeros(0, np.uint64)
        st = np.concatenate(self.steps) if self.steps else np.zeros(0, np.int64)
        self.node_ids, self.steps = [], []
        return ids, st


@dataclass
class StateBuffer:
    spec: StateMonitor
    pop: LocalPopulation
    every: int
    first: int                  # first sample step
    last: int                   # last sample step (inclusive)
    local: np.ndarray           # positions in the local population, ascending gid
    node_ids: np.ndarray        # population indices of those columns (uint64)
    steps: list[int] = field(default_factory=list)
    rows: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def due(self, n: int) -> bool:
        return self.first <= n <= self.last and (n - self.first) % self.every == 0

    def sample(self, n: int) -> None:
        self.steps.append(n)
        for var in self.spec.variables:
            self.rows[var].append(value(self.pop, var)[self.local])

    def take(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        steps = np.asarray(self.steps, dtype=np.int64)
        vals = {v: (np.vstack(r) if r else np.zeros((0, self.local.size))) for v, r in self.rows.items()}
        self.steps = []
        self.rows = {v: [] for v in self.spec.variables}
        return steps, vals


@dataclass
class RateBuffer:
    population: str
    lo: int                     # gid range of the population
    hi: int
    size: int
    bin_steps: int
    bin_ms: float
    first_bin: int = 0          # index of pending[0]
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def add(self, gids: np.ndarray, steps: np.ndarray, end_step: int) -> None:
        need = -(-end_step // self.bin_steps) - self.first_bin
        if need > self.pending.size:
            self.pending = np.concatenate([self.pending, np.zeros(need - self.pending.size, np.int64)])
        keep = (gids >= self.lo) & (gids < self.hi)
        if keep.any():
            b = (steps[keep] - 1) // self.bin_steps - self.first_bin
            self.pending += np.bincount(b, minlength=self.pending.size)

    def take(self, completed: int, final: bool) -> tuple[int, np.ndarray]:
        """The bins that ``completed`` steps have closed; when ``final``, also the partial
        last bin, which stays pending (a later run completes it and writes it again)."""
        n = max(completed // self.bin_steps - self.first_bin, 0)
        first, out = self.first_bin, self.pending[:self.pending.size if final else n].copy()
        self.pending = self.pending[n:]
        self.first_bin += n
        return first, out


class MemorySink:
    """Keeps every flushed record in memory (runs without ``out``)."""

    def __init__(self) -> None:
        self.spikes: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.state: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
        self.rates: dict[str, np.ndarray] = {}
        self.completed = 0

    def write(self, batch: "Batch") -> None:
        for pop, pair in batch.spikes.items():
            self.spikes.setdefault(pop, []).append(pair)
        for key, pair in batch.state.items():
            self.state.setdefault(key, []).append(pair)
        for pop, (first, counts) in batch.rates.items():
            old = self.rates.get(pop, np.zeros(0, np.int64))
            new = np.zeros(max(old.size, first + counts.size), np.int64)
            new[:old.size] = old
            new[first:first + counts.size] = counts
            self.rates[pop] = new
        self.completed = batch.completed


class DiscardSink:
    """Drops every record (a run whose summary is all that is wanted: ``distsnn run``
    without ``--out``); the recorder still counts what it recorded."""

    def write(self, batch: "Batch") -> None:
        return None


@dataclass
class Batch:
    """What one flush hands to a sink; ``completed``: the step every record is complete to."""

    completed: int
    final: bool
    spikes: dict[str, tuple[np.ndarray, np.ndarray]]             # pop -> (node ids, steps)
    state: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]  # (pop, var) -> (steps, values)
    rates: dict[str, tuple[int, np.ndarray]]                     # pop -> (first bin, counts)


class Recorder:
    """Every monitor of one rank, with the buffer and flush policy described above."""

    def __init__(self, net: Network, pops: list[LocalPopulation], sink, flush_every: int = FLUSH_EVERY,
                 buffer_bytes: int = BUFFER_BYTES) -> None:
        dt = net.dt
        offsets = net.offsets()
        by_name = {p.name: p for p in pops}
        big = np.iinfo(np.int64).max
        self.sink = sink
        self.flush_every = int(flush_every)
        self.buffer_bytes = int(buffer_bytes)
        self.spikes: list[SpikeBuffer] = []
        self.state: list[StateBuffer] = []
        self.rates: list[RateBuffer] = []
        for mon in net.monitors:
            pop = net.populations[mon.population]
            if isinstance(mon, SpikeMonitor):
                wanted = np.zeros(pop.size, dtype=bool)
                wanted[mon.neurons.indices(pop.name, pop.size, net.seed)] = True
                lo = -1 if mon.start is None else int(timegrid.to_steps(mon.start, dt))
                hi = big if mon.stop is None else int(timegrid.to_steps(mon.stop, dt))
                self.spikes.append(SpikeBuffer(pop.name, offsets[pop.name], wanted, lo, hi))
            elif isinstance(mon, StateMonitor):
                lp = by_name[pop.name]
                idx = mon.neurons.indices(pop.name, pop.size, net.seed)
                mine = np.isin(lp.index, idx)
                local = np.flatnonzero(mine)
                first = 0 if mon.start is None else int(timegrid.to_steps(mon.start, dt))
                last = big if mon.stop is None else int(timegrid.to_steps(mon.stop, dt))
                self.state.append(StateBuffer(mon, lp, int(round(mon.interval / dt)), first, last, local,
                                              lp.index[local].astype(np.uint64),
                                              rows={v: [] for v in mon.variables}))
            elif isinstance(mon, RateMonitor):
                lo = offsets[pop.name]
                self.rates.append(RateBuffer(pop.name, lo, lo + pop.size, pop.size,
                                             int(round(mon.bin / dt)), mon.bin))
        self.epochs = 0
        self.nbytes = 0
        self.peak_bytes = 0
        self.n_recorded = 0
        self.n_flushes = 0
        self.seconds = 0.0

    def sample(self, n: int) -> None:
        """Sample the state monitors due at step ``n`` (after the update to ``n``)."""
        for b in self.state:
            if b.due(n):
                t = time.perf_counter()
                b.sample(n)
                self.nbytes += (8 * b.local.size + ROW_OVERHEAD) * len(b.spec.variables) + 8
                self.seconds += time.perf_counter() - t

    def end_epoch(self, gids: np.ndarray, steps: np.ndarray, completed: int, epochs: int = 1) -> None:
        """Take the spikes of the last ``epochs`` epochs (all local spikes, steps up to
        ``completed``; the engine batches short epochs) and flush if due."""
        t = time.perf_counter()
        for b in self.spikes:
            k = b.add(gids, steps)
            self.n_recorded += k
            self.nbytes += 16 * k
        for r in self.rates:
            r.add(gids, steps, completed)
        self.epochs += epochs
        self.peak_bytes = max(self.peak_bytes, self.nbytes)
        self.seconds += time.perf_counter() - t      # flush counts its own time
        if self.epochs >= self.flush_every or self.nbytes >= self.buffer_bytes:
            self.flush(completed)

    def flush(self, completed: int, final: bool = False) -> None:
        """Hand every buffered record (complete to step ``completed``) to the sink."""
        t = time.perf_counter()
        state = {}
        for b in self.state:
            steps, vals = b.take()
            for var, v in vals.items():
                state[(b.spec.population, var)] = (steps, v)
        batch = Batch(completed, final, {b.population: b.take() for b in self.spikes}, state,
                      {r.population: r.take(completed, final) for r in self.rates})
        self.sink.write(batch)
        self.epochs = 0
        self.nbytes = sum(8 * r.pending.size for r in self.rates)
        self.n_flushes += 1
        self.seconds += time.perf_counter() - t
