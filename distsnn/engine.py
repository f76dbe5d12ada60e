"""The simulation engine: build the local part of a network, then run it in epochs.

Schedule (one epoch of ``L`` steps, from step ``t0`` to ``t0 + L``)::

    inject   Poisson input for arrival steps t0+1 .. t0+L goes into the ring
    update   in segments of steps t0+1 .. t0+L, each at most the shortest *short*
             delay (synapses with delay < L) and ended at every state-monitor sampling
             step: every local population advances alone through the segment (one
             compiled call for models with ``advance``: read and clear its ring ports of
             each row, update, record spikes), then the segment's spikes go through the
             short synapses (they arrive after the segment) and the monitors sample
    exchange the epoch's spikes go, as (gid, step offset), to the ranks that hold at
             least one of their targets: one nonblocking collective with the counts
             inside (:class:`distsnn.comm.mpi.SlotExchanger`), during which the local
             spikes are delivered (below)
    deliver  every local, then every received, spike adds its *long* synapses' (delay
             >= L) weights to the ring row of its arrival step (spike step + delay)

Why the epoch length is safe: ``L`` is the minimum delay ``D`` of the synapses that
cross ranks (or of all synapses on one rank), so a spike at step ``s > t0`` reaches
another rank at ``s + d >= t0 + 1 + D > t0 + L``, after the epoch: no step of an epoch
needs a remote spike of the same epoch, and delivery can wait for the exchange at its
end. Synapses with ``d < L`` are within a rank and are delivered at once, before the
row of their arrival step is read. When no synapse crosses ranks and the local
populations have a compiled loop that also delivers (``advance_delivering``), the epoch
may be longer than ``D`` (up to ``DEFAULT_EPOCH`` steps): every synapse is then short and
delivered inside that loop, step by step. The ring has ``R > max delay`` rows (``R >
max(max delay, L)`` with Poisson input, which is injected for the whole epoch at its
start), so between a delivery (arrivals up to max_delay ahead) or an injection and the
read of a row, no row stands for two steps.

Fused populations (one model with ``advance_delivering``, :mod:`distsnn.fused`) advance
through the epoch in one compiled call and append their spikes to a batch that goes to
the recorder and the checkpoint history every ``flush_every`` epochs (or when full, or
at the end of :meth:`Simulation.advance`) instead of every epoch; the exchange and long
delivery of such an epoch use preallocated buffers and one compiled call each. On
several ranks with MPICH, such epochs run many per compiled call, the exchange's MPI
calls made from compiled code (:mod:`distsnn.native_epochs`).

Invariants: the input of a neuron is an integer sum (fixed-point quanta), so it does
not depend on the order of delivery, hence not on the number of ranks, the partition
or the epoch length; every random draw is keyed by (seed, purpose, gid). Collectives
(exchange and reductions) are made by every rank in every epoch, whatever its load.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import (build, checkpoint as ckpt, delivery, fused, monitors, native_epochs, resources, routing, synapses,
               timegrid)
from .comm import Comm, world
from .io.output import OutputOptions, RunOutput
from .network import Network
from .results import Rates, Result, Spikes, Trace, merge
from .progress import DEFAULT_PERIOD, Report, check as check_report, reporter
from .threads import check as check_threads
from .placement import OwnerMap, PartitionSpec, assign

#: Epoch length (steps) of a network without synapses.
DEFAULT_EPOCH = 100
#: Spike buffer of a compiled population update: room for this many steps of every
#: neuron spiking (a call stops early, and is called again, rather than overflow).
SPIKE_BUFFER_STEPS = 4
_NEVER = np.iinfo(np.int64).max
#: Ring memory (bytes per rank) a fused epoch loop may use to lengthen the epoch beyond
#: the shortest delay when no synapse crosses ranks.
FUSED_RING_BYTES = 32 * 2 ** 20


@dataclass
class Timers:
    build: float = 0.0
    update: float = 0.0
    exchange: float = 0.0
    deliver: float = 0.0
    record: float = 0.0


class Simulation:
    """A network instantiated on this rank, ready to run.

    Parameters
    ----------
    network : Network
        The description; not modified.
    comm : Comm, optional
        The communicator (default: one process).
    owner : ndarray of int or OwnerMap, optional
        Rank of every gid (default: computed by :func:`distsnn.placement.assign`); held
        as an :class:`~distsnn.placement.OwnerMap` (runs of gids) in ``self.owner``.
    partitioner : str or PartitionSpec
        How to split the network over the ranks when ``owner`` is not given: a method
        name of :data:`distsnn.placement.METHODS` or a full
        :class:`distsnn.placement.PartitionSpec` (the same partition ``distsnn
        partition`` reports for it).
    out : str, optional
        Directory to stream the records to (:mod:`distsnn.io`): checked and locked before
        anything is built; one file per rank, then ``run.h5``. Without it, the records stay
        in memory.
    output : OutputOptions, optional
        Overwrite, flush policy, compression, sorted copy (the flush policy also applies
        to the in-memory records without ``out``).
    keep_records : bool
        Without ``out``: keep the records in memory (default), or drop them and only
        count them (memory stays bounded; :meth:`result` then has no records).
    max_memory : int, str or None
        Bytes all ranks together may use (``"64G"``-style strings too): a network whose
        estimated need (:mod:`distsnn.resources`) is larger is refused before anything is
        built or written. ``"available"`` (default): the memory available on the ranks'
        machines; ``None``: no check.
    threads : int
        Threads of this rank for Poisson injection and spike delivery (default 1, so that
        ``mpiexec -n P`` on P cores does not oversubscribe them); the results are the same
        for every value (:mod:`distsnn.threads`).
    """

    def __init__(self, network: Network, comm: Comm | None = None, owner: "np.ndarray | OwnerMap | None" = None,
                 partitioner: str | PartitionSpec = "metis", out: str | None = None,
                 output: OutputOptions | None = None, keep_records: bool = True,
                 max_memory: int | str | None = "available", threads: int = 1) -> None:
        t0 = time.perf_counter()
        self.threads = check_threads("Simulation", threads)
        self.net = network
        self.comm = world() if comm is None else comm
        self.partitioner = partitioner
        monitors.check_channels(network)
        resources.check(network, self.comm, max_memory)
        self.output = None if out is None else RunOutput.prepare(network, self.comm, out, output)
        self.options = OutputOptions() if output is None else output
        self.keep_records = keep_records
        try:
            self._build(network, owner, partitioner)
        except BaseException:
            if self.output is not None:
                self.output.abandon()
            raise
        self.timers.build = time.perf_counter() - t0

    def _build(self, network: Network, owner: "np.ndarray | OwnerMap | None",
               partitioner: "str | PartitionSpec") -> None:
        n = network.size
        if owner is None:
            owner = assign(network, self.comm, partitioner)
        elif not isinstance(owner, OwnerMap):
            owner = np.asarray(owner)
            if owner.shape != (n,) or not np.issubdtype(owner.dtype, np.integer):
                raise ValueError(f"Simulation: owner must give a rank in [0, {self.comm.size - 1}] "
                                 f"for each of the {n} neurons, got an array of shape {owner.shape}")
            owner = OwnerMap.from_array(owner)
        if owner.n != n or (n and (owner.ranks.min() < 0 or owner.max_rank() >= self.comm.size)):
            raise ValueError(f"Simulation: owner must give a rank in [0, {self.comm.size - 1}] "
                             f"for each of the {n} neurons")
        # Runs of gids per rank, never an array over the whole network (see OwnerMap).
        self.owner = owner
        self.owned = owner.owned(self.comm.rank)
        self.pops = build.local_populations(network, self.owned)
        self.n_ports = sum(len(p.channels) * p.n for p in self.pops)
        table = build.synapse_table(network, self.pops)
        self.inputs = build.poisson_tables(network, self.pops)
        build.check_input_range(self.pops, table, self.inputs, self.n_ports)
        self.n_synapses = table.size
        self.synapse_bytes = table.nbytes()
        # Everything below is per source with a local target or per run, never per gid.
        cross_src = owner.of(table.src) != self.comm.rank
        cross = np.repeat(cross_src, np.diff(table.src_ptr))
        big = np.iinfo(np.int64).max
        self.min_delay = int(self.comm.allreduce(table.min_delay() if table.size else big, "min"))
        self.max_delay = int(self.comm.allreduce(table.max_delay() if table.size else 0, "max"))
        cross_min = int(self.comm.allreduce(int(table.run_delay[cross].min()) if cross.any() else big, "min"))
        if cross_min < big:
            self.epoch = min(cross_min, routing.MAX_EPOCH)
        elif self.min_delay < big:
            self.epoch = min(self.min_delay, routing.MAX_EPOCH)
        else:
            self.epoch = DEFAULT_EPOCH
        # Populations of one model whose compiled loop also delivers (lif_cond's
        # advance_delivering) need no Python between steps; when no synapse crosses ranks,
        # every rank's epoch may then be longer than the shortest delay (up to
        # DEFAULT_EPOCH, within FUSED_RING_BYTES of ring), all its synapses short.
        self._fused = self._fused_model()
        alone = int(self._fused is not None and cross_min == big and self.min_delay < big)
        alone = int(self.comm.allreduce(alone, "min"))
        rows = int(self.comm.allreduce(FUSED_RING_BYTES // max(8 * self.n_ports, 1), "min"))
        if alone:
            self.epoch = max(self.epoch, min(DEFAULT_EPOCH, rows - 1))
        self.short, self.long = table.split(self.epoch)
        # Populations may advance alone for this many steps (no short spike arrives sooner).
        self.short_span = self.short.min_delay() if self.short.size else _NEVER
        self._spike_buffers = [(np.empty(max(SPIKE_BUFFER_STEPS * p.n, 1), np.int64),
                                np.empty(max(SPIKE_BUFFER_STEPS * p.n, 1), np.int64)) for p in self.pops]
        # One compiled call per epoch for all populations, its spikes batched for the
        # recorder (see distsnn.fused).
        self._group = None if self._fused is None else fused.FusedGroup(self._fused, self.pops, SPIKE_BUFFER_STEPS)
        self._send = np.empty(1024, np.int64)            # messages of an epoch (grows)
        self._counts = np.zeros(self.comm.size, np.int64)
        self._long_args = (None, ())                      # (table, its kernel_args())
        setup = routing.make_router(self.comm, owner, self.owned, table.src[cross_src])
        self.router = setup.router
        self.exchanger = self.comm.exchanger(setup.send_to, setup.recv_from)
        # Rows for the arrivals pending at any time: up to max_delay steps ahead, and the
        # whole epoch's Poisson input, injected at its start. Without such input a long
        # fused epoch needs no more rows (COBA on one rank: 2 instead of 101, and the
        # rows the loop touches stay in cache).
        rows = max(self.max_delay, self.epoch if self.inputs else 0) + 1
        self.ring = np.zeros((rows, self.n_ports), dtype=np.int64)
        self.history = ckpt.SpikeHistory(self.max_delay)   # the spikes a checkpoint re-sends
        self.step = 0
        opts = self.options
        self.memory = monitors.MemorySink() if self.output is None else None
        sink = self.output if self.output is not None else (self.memory if self.keep_records
                                                            else monitors.DiscardSink())
        self.recorder = monitors.Recorder(network, self.pops, sink, opts.flush_every, int(opts.buffer_mb * 2**20))
        if self.output is not None:
            self.output.open(self.recorder)
        self.recorder.sample(0)
        self.timers = Timers()
        self.n_spikes = 0
        self.n_sent = 0
        self.n_received = 0
        self.bytes_sent = 0
        self.n_events = 0
        self.sent_to = np.zeros(self.comm.size, dtype=np.int64)  # spike records per destination
        #: Observers of the run (e-prop training, :mod:`distsnn.learning`): after a
        #: population steps alone (models without ``advance``), ``stepped(pop, t)`` reads
        #: or resets ``pop.state``; after each exchange and before the epoch's delivery
        #: through the long synapses, ``spikes(gids, steps, r_gids, r_steps, first, last)``
        #: sees the epoch's local and received spikes (and may change their weights).
        self.hooks: list = []
        if self._group is not None:
            # Load the fused epoch's compiled calls (from numba's cache: about 70 ms) with
            # the build rather than in the first epoch: calls that do no step.
            none = np.zeros(0, np.int64)
            self._group.advance(self.ring, 1, 0, self.short)
            self.router.pack_into(self.owned, none, none, 1, self._send, self._counts)
            fused.deliver_epoch(none, none, none, 1, *self.long.kernel_args(), self.ring)
        # Many epochs, exchange included, per compiled call where every rank can
        # (distsnn.native_epochs): the same collective on every rank, whatever it decides.
        offer = getattr(self.comm, "native", None)     # a communicator may lack it
        bindings = offer() if offer is not None and native_epochs.NativeLoop.eligible(self) else None
        usable = int(self.comm.allreduce(int(bindings is not None), "min"))
        self._native = native_epochs.NativeLoop(self, bindings) if usable else None

    def run(self, t_stop: float | None = None, gather: bool = False, report: Report = None,
            report_period: float = DEFAULT_PERIOD) -> Result:
        """Advance to ``t_stop`` ms (default: the network's ``t_stop``) and return the
        records (:meth:`result`; with ``out``, read back from this rank's file).

        ``report`` (``None``, ``"text"``, ``"stderr"`` or ``report(elapsed, completed,
        t_start, duration)``) reports progress on rank 0 at epoch boundaries, at most once
        per ``report_period`` s and always at 0 and 1 (:mod:`distsnn.progress`).
        """
        self.advance(t_stop, report, report_period)
        return self.result(gather)

    def advance(self, t_stop: float | None = None, report: Report = None,
                report_period: float = DEFAULT_PERIOD) -> None:
        """Advance to ``t_stop`` ms without building a :class:`Result` (records go to the
        sink: memory, or the files of ``out``, which are complete when this returns);
        ``report`` as for :meth:`run`."""
        check_report(report, report_period)
        t_stop = self.net.t_stop if t_stop is None else t_stop
        if not (isinstance(t_stop, (int, float)) and np.isfinite(t_stop) and t_stop >= 0):
            raise ValueError(f"Simulation: t_stop must be a finite number >= 0 ms, got {t_stop!r}")
        end = int(timegrid.to_steps(t_stop, self.net.dt))   # the documented rule: halves up
        if self.output is not None:
            self.output.begin(end)
        self._recorded = self.step
        first = self.step
        progress = reporter(report, self.comm.rank, first * self.net.dt,
                            max(end - first, 0) * self.net.dt, report_period)
        progress.start()
        if self._group is not None:
            self._group.bind()          # a restore may have replaced the states
        compiled = False
        if self._native is not None:    # the same on every rank (agreed at build)
            # Hooks (e-prop) need the Python path, whose exchange with hooks (start/finish,
            # MPI_Ialltoallv) does not match the compiled loop's MPI_Alltoallv: if any
            # rank has hooks, every rank takes the Python path for this call.
            compiled = bool(self.comm.allreduce(int(not self.hooks), "min"))
        try:
            while self.step < end:
                if compiled:
                    self._native.run(end)
                else:
                    self._epoch(min(self.epoch, end - self.step))
                progress.update((self.step - first) / (end - first))
            if self._group is not None:
                fused.hand_over(self, self.step)
            self.recorder.flush(self.step, final=True)
        except BaseException:
            progress.close()
            if self.output is not None:
                fused.hand_over_after_failure(self)
                self.output.fail(self.recorder, self._recorded)
            raise
        progress.close()
        progress.finish()
        self.timers.record = self.recorder.seconds
        if self.output is not None:
            owner = self.owner.to_array() if self.comm.rank == 0 else np.zeros(0, np.int64)  # rank 0 writes it
            self.output.finish(self.summary(), owner, self.partitioner)

    def checkpoint(self, path: str, keep: int | None = None) -> str:
        """Write the state at the current step to ``path/step-<N>/`` (collective; keep the
        newest ``keep`` checkpoints there); see :mod:`distsnn.checkpoint`. Returns that
        directory."""
        return ckpt.write(self, path, keep)

    @classmethod
    def restore(cls, path: str, network: Network, comm: Comm | None = None,
                partitioner: str | PartitionSpec = "metis", out: str | None = None,
                output: OutputOptions | None = None, keep_records: bool = True,
                max_memory: int | str | None = "available", threads: int = 1) -> "Simulation":
        """A simulation continued from the checkpoint in ``path`` (a ``step-<N>`` directory,
        or a directory of them: the newest complete one), on any number of ranks and any
        partition; the other parameters as for :class:`Simulation`. Checked against
        ``network`` (hash, dt, seed, version, file checksums) before anything is built."""
        comm = world() if comm is None else comm
        ck = ckpt.open_checkpoint(path, network, comm)
        sim = cls(network, comm=comm, partitioner=partitioner, out=out, output=output,
                  keep_records=keep_records, max_memory=max_memory, threads=threads)
        try:
            ckpt.load_into(sim, ck)
        except BaseException:
            sim.close()
            raise
        sim.restored_from, sim.restored_step = ck.path, ck.step
        return sim

    def close(self) -> None:
        """Release the output directory's lock (no-op without ``out``)."""
        if self.output is not None:
            self.output.close()

    def _epoch(self, length: int) -> None:
        t = time.perf_counter()
        first, last = self.step + 1, self.step + length
        for table in self.inputs:
            delivery.poisson_into_ring(table.key[0], table.key[1], table.gids, table.ports, table.wq,
                                       table.cdf, first, last, self.ring, self.threads)
        if self._group is not None:
            gids, steps = fused.update(self, first, last)
        else:
            gids, steps = self._update_segments(first, last)
        self.step = last
        self.timers.update += time.perf_counter() - t
        if self._group is None:
            self._record(gids, steps, last)
        elif not self.hooks:
            fused.exchange_deliver(self, gids, steps, first)
            return
        t2 = time.perf_counter()
        buf, counts = self.router.pack(np.searchsorted(self.owned, gids), gids, steps - first)
        self.exchanger.start(buf, counts)
        # While the spikes travel, this rank's own go through the long synapses (the
        # input is an integer sum: the order of delivery changes no bit) - unless a hook
        # may change weights before the epoch's delivery (e-prop's online form).
        t3 = time.perf_counter()
        lg = self.long
        if not self.hooks:
            self.n_events += delivery.deliver(gids, steps, lg, self.ring, self.threads)
        t4 = time.perf_counter()
        recv, recv_counts = self.exchanger.finish()
        r_gids, r_steps = self.router.unpack(recv, first)
        self.sent_to += counts
        self._count_traffic(buf.size, recv.size)
        t5 = time.perf_counter()
        self.timers.exchange += (t3 - t2) + (t5 - t4)
        for hook in self.hooks:
            hook.spikes(gids, steps, r_gids, r_steps, first, last)
        if self.hooks:
            self.n_events += delivery.deliver(gids, steps, lg, self.ring, self.threads)
        self.n_events += delivery.deliver(r_gids, r_steps, lg, self.ring, self.threads)
        self.timers.deliver += (t4 - t3) + (time.perf_counter() - t5)

    def _update_segments(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
        """Every local population through steps first..last in segments; returns the
        spikes by step, then gid."""
        gids, steps = [], []
        short = self.short
        n = first - 1
        while n < last:
            # A segment: every population advances alone through steps n+1..end (one
            # compiled call per population), which is exact because no spike of the
            # segment arrives within it (end - n <= the shortest short delay) and no
            # state monitor samples inside it.
            end = min(last, n + self.short_span, self._next_sample(n + 1))
            g, st = self._advance_populations(n + 1, end)
            if g.size and short.size:
                self.n_events += delivery.deliver(g, st, short, self.ring, self.threads)
            if g.size:
                gids.append(g)
                steps.append(st)
            n = end
            self.recorder.sample(n)
        gids = np.concatenate(gids) if gids else np.zeros(0, np.int64)
        steps = np.concatenate(steps) if steps else np.zeros(0, np.int64)
        if gids.size:
            # records in the order of the step-by-step loop: by step, then gid
            order = np.lexsort((gids, steps))
            gids, steps = gids[order], steps[order]
        return gids, steps

    def _record(self, gids: np.ndarray, steps: np.ndarray, completed: int, epochs: int = 1) -> None:
        """Spikes (all local spikes up to step ``completed``, by step then gid) to the
        counters, the checkpoint history and the recorder."""
        self.n_spikes += gids.size
        self.history.add(gids, steps, completed)
        self.recorder.end_epoch(gids, steps, completed, epochs)      # timed by the recorder
        self._recorded = completed

    def _count_traffic(self, sent: int, received: int, epochs: int = 1) -> None:
        """Records sent and received over ``epochs`` exchanges, to the run's counters:
        ``bytes_sent`` is 8 bytes a record plus an 8-byte count per other rank and epoch
        (the headers; the slots' unused words are not counted)."""
        self.n_sent += sent
        self.n_received += received
        self.bytes_sent += 8 * sent + 8 * (self.comm.size - 1) * epochs

    def _next_sample(self, n: int) -> int:
        """The first step >= ``n`` at which a state monitor samples (a large number if none)."""
        best = _NEVER
        for b in self.recorder.state:
            if n > b.last:
                continue
            k = b.first if n <= b.first else b.first + -(-(n - b.first) // b.every) * b.every
            if k <= b.last:
                best = min(best, k)
        return best

    def _fused_model(self):
        """The model whose compiled loop takes all local populations (see
        :func:`distsnn.fused.fused_model`), or None."""
        return fused.fused_model(self.pops)

    def _advance_populations(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
        """Every local population through steps first..last (each alone: see _epoch);
        returns the spikes' gids and steps."""
        gids, steps = [], []
        R = self.ring.shape[0]
        for pop, (idx_buf, step_buf) in zip(self.pops, self._spike_buffers):
            n_ports = len(pop.channels) * pop.n
            # A population with current generators advances through the spans over which
            # its constants (drive.prepared) stay the same: a DC current is one span.
            advance = getattr(pop.model, "advance", None)
            if advance is not None:
                t = first - 1
                while t < last:
                    if pop.drive is None:
                        prep, end = pop.prepared, last
                    else:
                        prep, end = pop.drive.prepared(t + 1), pop.drive.constant_through(t + 1, last)
                    t, k = advance(pop.state, prep, self.ring, pop.port0, n_ports, t + 1, end,
                                   idx_buf, step_buf)
                    if k:
                        gids.append(pop.gids[idx_buf[:k]])
                        steps.append(step_buf[:k].copy())
                continue
            for t in range(first, last + 1):
                block = self.ring[t % R, pop.port0: pop.port0 + n_ports]
                x = (block * synapses.QUANTUM).reshape(len(pop.channels), pop.n)
                block[:] = 0
                prep = pop.prepared if pop.drive is None else pop.drive.prepared(t)
                pop.state, spiked = pop.model.step(pop.state, x, prep, t)
                for hook in self.hooks:
                    hook.stepped(pop, t)
                if spiked.any():
                    g = pop.gids[spiked]
                    gids.append(g)
                    steps.append(np.full(g.size, t, dtype=np.int64))
        if not gids:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(gids), np.concatenate(steps)

    def result(self, gather: bool = False) -> Result:
        """The records so far with a summary reduced over ranks (collective).

        Without ``gather``, each rank gets its own neurons' records (rates: its neurons'
        counts). With ``gather``, rank 0 gets every rank's records merged (spikes sorted
        by step then gid, rates summed) and the other ranks their own.
        """
        summary = self.summary()
        if self.output is not None:
            from .io.reader import read_rank

            local = read_rank(self.output.path, self.net)
        else:
            local = self._memory_result()
        local = Result(local.spikes, local.traces, summary, self._populations(), local.rates)
        if not gather:
            return local
        parts = self.comm.gather(local)
        if self.comm.rank != 0:
            return local
        merged = merge(parts, self.net.dt)
        return Result(merged.spikes, merged.traces, summary, self._populations(), merged.rates)

    def _populations(self) -> dict[str, tuple[int, int]]:
        offsets = self.net.offsets()
        return {name: (int(offsets[name]), int(pop.size)) for name, pop in self.net.populations.items()}

    def _memory_result(self) -> Result:
        m, dt = self.memory, self.net.dt
        offsets = self.net.offsets()
        g, st = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for pop, chunks in m.spikes.items():
            for ids, steps in chunks:
                g.append(ids.astype(np.int64) + offsets[pop])
                st.append(steps)
        g, st = np.concatenate(g), np.concatenate(st)
        order = np.lexsort((g, st))
        traces = {}
        for b in self.recorder.state:
            for var in b.spec.variables:
                chunks = m.state.get((b.spec.population, var), [])
                steps = np.concatenate([c[0] for c in chunks]) if chunks else np.zeros(0, np.int64)
                vals = np.vstack([c[1] for c in chunks]) if chunks else np.zeros((0, b.local.size))
                traces[(b.spec.population, var)] = Trace(b.spec.population, var,
                                                         b.node_ids.astype(np.int64) + offsets[b.spec.population],
                                                         steps, steps * dt, vals)
        rates = {r.population: Rates(r.population, r.bin_ms, 0.0, m.rates.get(r.population, np.zeros(0, np.int64)),
                                     r.size) for r in self.recorder.rates}
        return Result(Spikes.from_steps(g[order], st[order], dt), traces, {}, {}, rates)

    def summary(self) -> dict:
        """Totals and per-rank figures (collective). ``spikes`` / ``spikes_emitted``: every
        spike of every neuron; ``spikes_recorded``: those the spike monitors kept."""
        t_sim = timegrid.to_ms(self.step, self.net.dt)
        n_spikes = int(self.comm.allreduce(self.n_spikes, "sum"))
        n_rec = int(self.comm.allreduce(self.recorder.n_recorded, "sum"))
        n_syn = int(self.comm.allreduce(self.n_synapses, "sum"))
        per_rank = self.comm.gather({
            "rank": self.comm.rank, "neurons": int(self.owned.size), "synapses": self.n_synapses,
            "spikes": self.n_spikes, "spikes_recorded": self.recorder.n_recorded,
            "records_sent": self.n_sent, "records_received": self.n_received,
            "sent_to": self.sent_to.tolist(), "bytes_sent": self.bytes_sent, "events": self.n_events,
            "synapse_bytes": self.synapse_bytes, "build_s": self.timers.build,
            "update_s": self.timers.update, "exchange_s": self.timers.exchange,
            "deliver_s": self.timers.deliver, "record_s": self.recorder.seconds,
            "flushes": self.recorder.n_flushes, "monitor_peak_bytes": self.recorder.peak_bytes,
            "compiled_exchange_epochs": 0 if self._native is None else self._native.epochs})
        return {
            "neurons": self.net.size, "synapses": n_syn, "spikes": n_spikes, "spikes_emitted": n_spikes,
            "spikes_recorded": n_rec, "t_sim_ms": t_sim,
            "mean_rate_hz": n_spikes / (self.net.size * t_sim * 1e-3) if self.net.size and t_sim else 0.0,
            "epoch_steps": self.epoch, "min_delay_steps": self.min_delay, "ranks": self.comm.size,
            "per_rank": per_rank,
        }


def simulate(network: Network, t_stop: float | None = None, comm: Comm | None = None,
             partitioner: str | PartitionSpec = "metis", out: str | None = None, output: OutputOptions | None = None,
             gather: bool = False, max_memory: int | str | None = "available", report: Report = None,
             report_period: float = DEFAULT_PERIOD, threads: int = 1) -> Result:
    """Build and run a network (over MPI when launched by mpiexec).

    With ``out``, the run's files are written there (as ``distsnn run --out``). Returns
    this rank's records, or with ``gather`` every rank's records on rank 0.
    ``max_memory`` and ``threads``: as for :class:`Simulation`; ``report`` and
    ``report_period`` as in :meth:`Simulation.run`.
    """
    check_report(report, report_period)
    sim = Simulation(network, comm=comm, partitioner=partitioner, out=out, output=output,
                     max_memory=max_memory, threads=threads)
    try:
        return sim.run(t_stop, gather=gather, report=report, report_period=report_period)
    finally:
        sim.close()
