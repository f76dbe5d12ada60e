"""The simulation engine: build the local part of a network, then run it in epochs.

Schedule (one epoch of ``L`` steps, from step ``t0`` to ``t0 + L``)::

    inject   Poisson input for arrival steps t0+1 .. t0+L goes into the ring
    update   for n = t0+1 .. t0+L: read and clear ring row n % R, step every local
             population from n-1 to n, record spikes at step n and sampled state;
             deliver the step's spikes through the *short* synapses (delay < L)
    exchange the epoch's spikes go, as (local index, step offset), to the ranks that
             hold at least one of their targets
    deliver  every received or local spike adds its *long* synapses' (delay >= L)
             weights to the ring row of its arrival step (spike step + delay)

Why the epoch length is safe: ``L`` is the minimum delay ``D`` of the synapses that
cross ranks (or of all synapses on one rank), so a spike at step ``s > t0`` reaches
another rank at ``s + d >= t0 + 1 + D > t0 + L``, after the epoch: no step of an epoch
needs a remote spike of the same epoch, and delivery can wait for the exchange at its
end. Synapses with ``d < L`` are within a rank and are delivered at once, before the
row of their arrival step is read. The ring has ``R > max(max delay, L)`` rows, so
between a delivery (arrivals up to max_delay ahead) and the read of a row, no row
stands for two steps.

Invariants: the input of a neuron is an integer sum (fixed-point quanta), so it does
not depend on the order of delivery, hence not on the number of ranks, the partition
or the epoch length; every random draw is keyed by (seed, purpose, gid). Collectives
(exchange and reductions) are made by every rank in every epoch, whatever its load.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import build, delivery, resources, routing, synapses, timegrid
from .comm import Comm, world
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
    max_memory : int, str or None
        Bytes all ranks together may use (``"64G"``-style strings too): a network whose
        estimated need (:mod:`distsnn.resources`) is larger is refused before anything is
        built. ``"available"`` (default): the memory available on the ranks' machines;
        ``None``: no check.
    """

    def __init__(self, network: Network, comm: Comm | None = None, owner: np.ndarray | None = None,
                 partitioner: str = "metis", max_memory: int | str | None = "available") -> None:
        t0 = time.perf_counter()
        self.net = network
        self.comm = world() if comm is None else comm
        resources.check(network, self.comm, max_memory)
        n = network.size
        if owner is None:
            from .placement import assign

            owner = assign(network, self.comm, partitioner)
        owner = np.asarray(owner, dtype=np.int64)
        if owner.shape != (n,) or (n and (owner.min() < 0 or owner.max() >= self.comm.size)):
            raise ValueError(f"Simulation: owner must give a rank in [0, {self.comm.size - 1}] "
                             f"for each of the {n} neurons")
        self.owned = np.flatnonzero(owner == self.comm.rank).astype(np.int64)
        self.pops = build.local_populations(network, self.owned)
        self.n_ports = sum(len(p.channels) * p.n for p in self.pops)
        table = build.synapse_table(network, self.pops)
        self.inputs = build.poisson_tables(network, self.pops)
        build.check_input_range(self.pops, table, self.inputs, self.n_ports)
        self.n_synapses = table.size
        self.synapse_bytes = table.nbytes()
        src = table.sources()
        cross = owner[src] != self.comm.rank
        big = np.iinfo(np.int64).max
        self.min_delay = int(self.comm.allreduce(int(table.delay.min()) if table.size else big, "min"))
        self.max_delay = int(self.comm.allreduce(int(table.delay.max()) if table.size else 0, "max"))
        cross_min = int(self.comm.allreduce(int(table.delay[cross].min()) if cross.any() else big, "min"))
        if cross_min < big:
            self.epoch = min(cross_min, routing.MAX_EPOCH)
        elif self.min_delay < big:
            self.epoch = min(self.min_delay, routing.MAX_EPOCH)
        else:
            self.epoch = DEFAULT_EPOCH
        self.short, self.long = _split_by_delay(table, src, self.epoch)
        self.router = routing.make_router(self.comm, owner, np.unique(src[cross]))
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
        self.n_sent = 0
        self.n_received = 0
        self.bytes_sent = 0
        self.n_events = 0

    def run(self, t_stop: float | None = None) -> Result:
        """Advance to ``t_stop`` ms (default: the network's ``t_stop``) and return the records."""
        t_stop = self.net.t_stop if t_stop is None else t_stop
        if not (isinstance(t_stop, (int, float)) and np.isfinite(t_stop) and t_stop >= 0):
            raise ValueError(f"Simulation: t_stop must be a finite number >= 0 ms, got {t_stop!r}")
        end = int(timegrid.to_steps(t_stop, self.net.dt))   # the documented rule: halves up
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
        short = self.short
        for n in range(first, last + 1):
            row = self.ring[n % R]
            x = row * synapses.QUANTUM
            row[:] = 0
            spiking = []
            for pop in self.pops:
                block = x[pop.port0: pop.port0 + len(pop.channels) * pop.n].reshape(len(pop.channels), pop.n)
                prep = pop.prepared if pop.drive is None else pop.drive.prepared(n)
                pop.state, spiked = pop.model.step(pop.state, block, prep, n)
                if spiked.any():
                    spiking.append(pop.gids[spiked])
            if spiking:
                g = np.concatenate(spiking)
                st = np.full(g.size, n, dtype=np.int64)
                gids.append(g)
                steps.append(st)
                if short.size:
                    self.n_events += delivery.deliver(g, st, short.indptr, short.port, short.delay,
                                                      short.wq, self.ring)
            for rec in self.state_rec:
                rec.sample(n)
        self.step = last
        gids = np.concatenate(gids) if gids else np.zeros(0, np.int64)
        steps = np.concatenate(steps) if steps else np.zeros(0, np.int64)
        self.spike_rec.add(gids, steps)
        self.n_spikes += gids.size
        t2 = time.perf_counter()
        self.timers.update += t2 - t
        buf, counts = self.router.pack(np.searchsorted(self.owned, gids), steps - first)
        recv, recv_counts = self.comm.alltoallv(buf, counts)
        r_gids, r_steps = self.router.unpack(recv, recv_counts, first)
        self.n_sent += buf.size
        self.n_received += recv.size
        self.bytes_sent += buf.nbytes + 8 * (self.comm.size - 1)
        t3 = time.perf_counter()
        self.timers.exchange += t3 - t2
        lg = self.long
        for g, st in ((gids, steps), (r_gids, r_steps)):
            self.n_events += delivery.deliver(g, st, lg.indptr, lg.port, lg.delay, lg.wq, self.ring)
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
        offsets = self.net.offsets()
        pops = {name: (int(offsets[name]), int(pop.size)) for name, pop in self.net.populations.items()}
        return Result(spikes=spikes, traces=traces, summary=self.summary(), populations=pops)

    def summary(self) -> dict:
        t_sim = timegrid.to_ms(self.step, self.net.dt)
        n_spikes = int(self.comm.allreduce(self.n_spikes, "sum"))
        n_syn = int(self.comm.allreduce(self.n_synapses, "sum"))
        per_rank = self.comm.gather({
            "rank": self.comm.rank, "neurons": int(self.owned.size), "synapses": self.n_synapses,
            "spikes": self.n_spikes, "messages_sent": self.n_sent, "messages_received": self.n_received,
            "bytes_sent": self.bytes_sent, "events": self.n_events,
            "synapse_bytes": self.synapse_bytes, "build_s": self.timers.build,
            "update_s": self.timers.update, "exchange_s": self.timers.exchange,
            "deliver_s": self.timers.deliver})
        return {
            "neurons": self.net.size, "synapses": n_syn, "spikes": n_spikes, "t_sim_ms": t_sim,
            "mean_rate_hz": n_spikes / (self.net.size * t_sim * 1e-3) if self.net.size and t_sim else 0.0,
            "epoch_steps": self.epoch, "min_delay_steps": self.min_delay, "ranks": self.comm.size,
            "per_rank": per_rank,
        }


def _split_by_delay(table: build.SynapseTable, src: np.ndarray,
                    epoch: int) -> tuple[build.SynapseTable, build.SynapseTable]:
    """The synapses with delay < epoch (delivered every step) and the rest (every epoch);
    ``src`` is ``table.sources()``."""
    empty = build.SynapseTable(np.zeros_like(table.indptr), table.port[:0], table.delay[:0], table.wq[:0])
    if table.size == 0 or table.delay.min() >= epoch:
        return empty, table
    out = []
    for keep in (table.delay < epoch, table.delay >= epoch):
        indptr = np.zeros_like(table.indptr)
        np.cumsum(np.bincount(src[keep], minlength=table.indptr.size - 1), out=indptr[1:])
        out.append(build.SynapseTable(indptr, table.port[keep], table.delay[keep], table.wq[keep]))
    return out[0], out[1]


def simulate(network: Network, t_stop: float | None = None, comm: Comm | None = None,
             partitioner: str = "metis", max_memory: int | str | None = "available") -> Result:
    """Build and run a network (over MPI when launched by mpiexec); this rank's records.
    ``max_memory``: as for :class:`Simulation`."""
    return Simulation(network, comm=comm, partitioner=partitioner, max_memory=max_memory).run(t_stop)
