"""The simulation engine: build the local part of a network, then run it in epochs.

Schedule (one epoch of ``L`` steps, from step ``t0`` to ``t0 + L``)::

    inject   Poisson input for arrival steps t0+1 .. t0+L goes into the ring
    update   for n = t0+1 .. t0+L: read and clear ring row n % R, step every local
             population from n-1 to n, record spikes at step n and sampled state
    exchange the epoch's spikes (gid, step) go to the ranks that hold their targets
    deliver  every received or local spike adds its synapses' weights to the ring row
             of its arrival step (spike step + delay)

Why the epoch length is safe: ``L`` is at most the minimum delay ``D`` of any synapse,
so a spike at step ``s > t0`` arrives at ``s + d >= t0 + 1 + D > t0 + L``, after the
epoch: no step of an epoch needs a spike of the same epoch, and delivery can wait for
the exchange at its end. The ring has ``R > max(max delay, L)`` rows, so between the
deliveries of one epoch (arrivals in t0+L+1 .. t0+L+max_delay) and the reads of the
next, no row stands for two steps.

Invariants: the input of a neuron is an integer sum (fixed-point quanta), so it does
not depend on the order of delivery, hence not on the number of ranks, the partition
or the epoch length; every random draw is keyed by (seed, purpose, gid). Collectives
(exchange and reductions) are made by every rank in every epoch, whatever its load.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import build, delivery, synapses
from .comm import Comm, LocalComm
from .monitors import SpikeRecorder, StateRecorder
from .network import Network, SpikeMonitor, StateMonitor
from .results import Result, Spikes, Trace

#: Epoch length (steps) of a network without synapses.
DEFAULT_EPOCH = 100


@dataclass
class Timers:
    build: float = 0.0
    update: float = 0.0
    exchange: float = 0.0
    deliver: float = 0.0


class Simulation:
    """A network instantiated on this rank, ready to run.

    Parameters
    ----------
    network : Network
        The description; not modified.
    comm : Comm, optional
        The communicator (default: one process).
    owner : ndarray of int, optional
        Rank of every gid (default: all on this process).
    """

    def __init__(self, network: Network, comm: Comm | None = None, owner: np.ndarray | None = None) -> None:
        t0 = time.perf_counter()
        self.net = network
        self.comm = comm or LocalComm()
        n = network.size
        owner = np.zeros(n, dtype=np.int64) if owner is None else np.asarray(owner, dtype=np.int64)
        if owner.shape != (n,) or (n and (owner.min() < 0 or owner.max() >= self.comm.size)):
            raise ValueError(f"Simulation: owner must give a rank in [0, {self.comm.size - 1}] "
                             f"for each of the {n} neurons")
        self.owned = np.flatnonzero(owner == self.comm.rank).astype(np.int64)
        self.pops = build.local_populations(network, self.owned)
        self.n_ports = sum(len(p.channels) * p.n for p in self.pops)
        self.synapses = build.synapse_table(network, self.pops)
        self.inputs = build.poisson_tables(network, self.pops)
        build.check_input_range(self.pops, self.synapses, self.inputs, self.n_ports)
        local_min = int(self.synapses.delay.min()) if self.synapses.size else np.iinfo(np.int64).max
        local_max = int(self.synapses.delay.max()) if self.synapses.size else 0
        self.min_delay = int(self.comm.allreduce(local_min, "min"))
        self.max_delay = int(self.comm.allreduce(local_max, "max"))
        no_synapses = self.min_delay == np.iinfo(np.int64).max
        self.epoch = DEFAULT_EPOCH if no_synapses else self.min_delay
        self.ring = np.zeros((max(self.max_delay, self.epoch) + 1, self.n_ports), dtype=np.int64)
        self.step = 0
        offsets = network.offsets()
        self.spike_rec = SpikeRecorder([(offsets[m.population], offsets[m.population]
                                         + network.populations[m.population].size)
                                        for m in network.monitors if isinstance(m, SpikeMonitor)])
        by_name = {p.name: p for p in self.pops}
        self.state_rec = [StateRecorder.create(m, by_name[m.population], network.dt)
                          for m in network.monitors if isinstance(m, StateMonitor)]
        for r in self.state_rec:
            r.sample(0)
        self.timers = Timers(build=time.perf_counter() - t0)
        self.n_spikes = 0
        self.n_received = 0
        self.n_events = 0

    def run(self, t_stop: float | None = None) -> Result:
        """Advance to ``t_stop`` ms (default: the network's ``t_stop``) and return the records."""
        t_stop = self.net.t_stop if t_stop is None else t_stop
        if not (isinstance(t_stop, (int, float)) and np.isfinite(t_stop) and t_stop >= 0):
            raise ValueError(f"Simulation: t_stop must be a finite number >= 0 ms, got {t_stop!r}")
        end = int(round(t_stop / self.net.dt))
        while self.step < end:
            self._epoch(min(self.epoch, end - self.step))
        return self.result()

    def _epoch(self, length: int) -> None:
        t = time.perf_counter()
        first, last = self.step + 1, self.step + length
        for table in self.inputs:
            delivery.poisson_into_ring(table.key[0], table.key[1], table.gids, table.ports, table.wq,
                                       table.cdf, first, last, self.ring)
        gids, steps = [], []
        R = self.ring.shape[0]
        for n in range(first, last + 1):
            row = self.ring[n % R]
            x = row * synapses.QUANTUM
            row[:] = 0
            for pop in self.pops:
                block = x[pop.port0: pop.port0 + len(pop.channels) * pop.n].reshape(len(pop.channels), pop.n)
                pop.state, spiked = pop.model.step(pop.state, block, pop.prepared, n)
                if spiked.any():
                    g = pop.gids[spiked]
                    gids.append(g)
                    steps.append(np.full(g.size, n, dtype=np.int64))
            for rec in self.state_rec:
                rec.sample(n)
        self.step = last
        gids = np.concatenate(gids) if gids else np.zeros(0, np.int64)
        steps = np.concatenate(steps) if steps else np.zeros(0, np.int64)
        self.spike_rec.add(gids, steps)
        self.n_spikes += gids.size
        t2 = time.perf_counter()
        self.timers.update += t2 - t
        all_gids, all_steps = self.comm.exchange_spikes(gids, steps, None)
        t3 = time.perf_counter()
        self.timers.exchange += t3 - t2
        self.n_received += all_gids.size
        s = self.synapses
        self.n_events += delivery.deliver(all_gids, all_steps, s.indptr, s.port, s.delay, s.wq, self.ring)
        self.timers.deliver += time.perf_counter() - t3

    def result(self) -> Result:
        """The records of this rank so far, with a summary reduced over ranks."""
        g, st = self.spike_rec.arrays()
        order = np.lexsort((g, st))
        spikes = Spikes.from_steps(g[order], st[order], self.net.dt)
        traces = {}
        for rec in self.state_rec:
            steps, vals = rec.arrays()
            for var, v in vals.items():
                traces[(rec.spec.population, var)] = Trace(rec.spec.population, var, rec.gids.copy(),
                                                           steps, steps * self.net.dt, v)
        return Result(spikes=spikes, traces=traces, summary=self.summary())

    def summary(self) -> dict:
        t_sim = self.step * self.net.dt
        n_spikes = int(self.comm.allreduce(self.n_spikes, "sum"))
        n_syn = int(self.comm.allreduce(self.synapses.size, "sum"))
        per_rank = self.comm.gather({
            "rank": self.comm.rank, "neurons": int(self.owned.size), "synapses": self.synapses.size,
            "spikes_sent": self.n_spikes, "spikes_received": self.n_received, "events": self.n_events,
            "synapse_bytes": self.synapses.nbytes(), "build_s": self.timers.build,
            "update_s": self.timers.update, "exchange_s": self.timers.exchange,
            "deliver_s": self.timers.deliver})
        return {
            "neurons": self.net.size, "synapses": n_syn, "spikes": n_spikes, "t_sim_ms": t_sim,
            "mean_rate_hz": n_spikes / (self.net.size * t_sim * 1e-3) if self.net.size and t_sim else 0.0,
            "epoch_steps": self.epoch, "min_delay_steps": self.min_delay, "ranks": self.comm.size,
            "per_rank": per_rank,
        }


def simulate(network: Network, t_stop: float | None = None) -> Result:
    """Build and run a network in this process."""
    return Simulation(network).run(t_stop)
