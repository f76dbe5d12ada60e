"""Many epochs, exchange included, in one compiled call: the fused path across ranks.

With delays of one step across ranks (COBA on several ranks) every step is an epoch and
every epoch an exchange. On the Python path (:func:`distsnn.fused.update` and
:func:`distsnn.fused.exchange_deliver`) such an epoch cost about 10 us of Python and
dispatch plus 8 us of exchange through mpi4py, ten times the update of 2,000 neurons.
Here one compiled call runs up to ``flush_every`` epochs: update (short synapses
delivered inside), packing (:mod:`distsnn.routing`), the slot exchange with its MPI
calls made from compiled code (:mod:`distsnn.comm.native`), and the long delivery; then
Python hands the spike batch over (:mod:`distsnn.fused`) and reports progress.

When it is used (decided identically on every rank, with a reduction, at build): more
than one rank; the local populations fused (:func:`distsnn.fused.fused_model`, the
``lif_cond`` loop); no Poisson input (injected per epoch in Python), and every rank's
communicator offers :meth:`Comm.native`. Every rank takes the Python path for a whole
:meth:`Simulation.advance` when any rank has hooks (e-prop; agreed on with a reduction at
its start: with hooks the Python path exchanges through ``MPI_Ialltoallv``, which does
not match a blocking ``MPI_Alltoallv``), and for an epoch inside which a state monitor
samples (the same epochs on every rank, and the same blocking exchange,
:meth:`SlotExchanger.exchange`); the compiled call stops after an epoch that ends on a
sample step, and Python samples (the state is then that of the step: delivery only
touched the ring).

Results: the same steps, the same deliveries in a different order (integer sums), the
same messages: spikes identical to the Python path. Records, the checkpoint history and
the counters go through the same hand-over; the batch is handed over before an epoch
for which it has no room for every neuron spiking at every step (one step: the
Python path's rule; longer epochs may hand over earlier, the records unchanged). Timers:
each epoch's update, exchange and delivery are timed inside the loop on the monotonic
clock (``clock_gettime``, about 20 ns a reading); the Python work between calls (the
hand-over) counts as update, as on the Python path.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

from .comm import native
from .fused import deliver_epoch, hand_over, long_args
from .models import lif_cond
from .routing import _pack_into

#: Compiled epochs per call at most (progress reports come between calls).
MAX_EPOCHS_PER_CALL = 1000
#: Send buffer (int64 words) the loop may reserve for the worst case of an epoch.
MAX_SEND_WORDS = 2 ** 22

# Positions in the loop's ``stats`` (int64) and ``timers`` (float64).
SENT, RECEIVED, EVENTS, COLLECTIVES, OVERFLOWS = range(5)
UPDATE, EXCHANGE, DELIVER = range(3)
# What made the loop return (besides reaching the last step or its epoch budget).
DONE, FULL, RELAYOUT = 0, 1, 2


class NativeLoop:
    """The compiled epochs of one :class:`~distsnn.engine.Simulation` (see module doc)."""

    def __init__(self, sim, bindings: native.Bindings) -> None:
        self.sim = sim
        self.table = bindings.table
        router = sim.router
        self.send = np.empty(max(sim.epoch * router.route_dst.size, 1), np.int64)
        self.stats = np.zeros(5, np.int64)
        self.timers = np.zeros(3, np.float64)
        self.ts = np.zeros(2, np.int64)
        self.reqs, self.statuses = native.scratch(sim.comm.size)
        #: Epochs run by the compiled loop (the run summary's ``compiled_exchange_epochs``).
        self.epochs = 0
        # Load the compiled loop (numba's cache) with the build: a call that does no
        # epoch and no MPI call, and whose time is not the update's.
        before = sim.timers.update
        self.run(sim.step)
        sim.timers.update = before

    @staticmethod
    def eligible(sim) -> bool:
        """Whether this rank's part of ``sim`` can run in the compiled loop (the ranks then
        agree with a reduction)."""
        return (sim.comm.size > 1 and sim._group is not None and sim._fused is lif_cond and not sim.inputs
                and sim.epoch * sim.router.route_dst.size <= MAX_SEND_WORDS
                and sim.epoch * sim._group.total <= sim._group.gid.size
                and all(hasattr(sim.exchanger, a) for a in ("sslot", "rslot", "sbuf", "rbuf", "_layout")))

    def run(self, end: int) -> None:
        """Advance ``sim`` from its step towards ``end`` (stops after a batch of epochs:
        call again while ``sim.step < end``)."""
        sim, g, ex = self.sim, self.sim._group, self.sim.exchanger
        sample = sim._next_sample(sim.step + 1) if sim.recorder.state else end
        if sample < min(sim.step + sim.epoch, end):
            # A sample inside the next epoch: that epoch on the Python path.
            sim._epoch(min(sim.epoch, end - sim.step))
            return
        t = time.perf_counter()
        if g.count + sim.epoch * g.total > g.gid.size or g.epochs >= sim.recorder.flush_every:
            hand_over(sim, sim.step)
        budget = min(sim.recorder.flush_every - g.epochs, MAX_EPOCHS_PER_CALL)
        self.stats[:] = 0
        self.timers[:] = 0.0
        pops, total, idx_buf, step_buf = g.bound
        ints = native.c_ints(ex.sslot, ex.sdispl, ex.rslot, ex.rdispl)
        step, count, epochs, status, err = _epochs(
            pops, total, sim.ring, lif_cond.QUANTUM, sim.step, end, min(sample, end), sim.epoch, budget, g.gid,
            g.step, g.count, idx_buf, step_buf, g.short_args(sim.short), long_args(sim), sim.owned,
            sim.router.route_ptr, sim.router.route_dst, self.send, sim._counts, sim.sent_to, ex.sslot, ex.sdispl,
            ex.rslot, ex.rdispl, ints, ex.sbuf, ex.rbuf, ex.rcounts, self.reqs, self.statuses, self.table, self.ts,
            self.stats, self.timers)
        g.count, g.done = count, step
        g.epochs += epochs
        self.epochs += epochs
        sim.step = step
        st = self.stats
        sim._count_traffic(int(st[SENT]), int(st[RECEIVED]), epochs)   # sent_to: counted in the loop
        sim.n_events += int(st[EVENTS])
        ex.collectives += int(st[COLLECTIVES])
        ex.overflows += int(st[OVERFLOWS])
        inside = float(self.timers.sum())
        sim.timers.update += self.timers[UPDATE] + max(time.perf_counter() - t - inside, 0.0)
        sim.timers.exchange += self.timers[EXCHANGE]
        sim.timers.deliver += self.timers[DELIVER]
        if err:
            # Raised on this rank only; its excepthook aborts the job (peers blocked in MPI).
            raise RuntimeError(f"native exchange: rank {sim.comm.rank}: MPI error {err} in the epoch that ends "
                               f"at step {step}" if err > 0 else f"native exchange: rank {sim.comm.rank} sends "
                               f"spikes to a rank that is not its peer (epoch ending at step {step})")
        if status == RELAYOUT:
            ex._layout()
        if step == sample:
            sim.recorder.sample(step)


@njit(cache=True)
def _epochs(pops, total, ring, scale, step, end, stop, L, budget, out_gid, out_step, count, idx_buf, step_buf, short,
            long, owned, route_ptr, route_dst, send, counts, sent_to, sslot, sdispl, rslot, rdispl, ints, sbuf,
            rbuf, rcounts, reqs, statuses, table, ts, stats, timers):
    # Epochs of L steps from ``step`` towards ``end``, none past ``stop``; returns (step
    # done, spikes in the batch, epochs done, why it stopped, error). Every rank makes one exchange per epoch
    # whatever it returns, so stopping early is local: the next call goes on.
    s_src, s_ptr, s_rs, s_rl, s_rd, s_rk, s_rw, s_port, s_w32, s_w64 = short
    l_src, l_ptr, l_rs, l_rl, l_rd, l_rk, l_rw, l_port, l_w32, l_w64 = long
    epochs = 0
    clock = native.now(table, ts)
    while step < end and epochs < budget:
        if count + L * total > out_gid.size:
            return step, count, epochs, FULL, 0
        first = step + 1
        last = min(step + L, end)
        if last > stop:
            return step, count, epochs, DONE, 0
        start = count
        # The batch has room for every step of the epoch (checked above): the loop ends at last.
        if s_src.size:
            count, events = lif_cond._advance_delivering(pops, total, ring, scale, first, last, out_gid, out_step,
                                                         count, idx_buf, step_buf, s_src, s_ptr, s_rs, s_rl, s_rd,
                                                         s_rk, s_rw, s_port, s_w32, s_w64)[1:]
            stats[EVENTS] += events
        else:
            count = lif_cond._advance_group(pops, total, ring, scale, first, last, out_gid, out_step, count, idx_buf,
                                            step_buf)[1]
        tick = native.now(table, ts)
        timers[UPDATE] += tick - clock
        gids, steps = out_gid[start:count], out_step[start:count]
        n = _pack_into(owned, gids, steps, first, route_ptr, route_dst, send, counts)
        recv, err, over, changed = native.exchange(table, send[:n], counts, sslot, sdispl, rslot, rdispl, ints,
                                                   sbuf, rbuf, rcounts, reqs, statuses)
        step = last
        epochs += 1
        if err:
            return step, count, epochs, DONE, err
        stats[SENT] += n
        stats[RECEIVED] += recv.size
        stats[COLLECTIVES] += 1
        stats[OVERFLOWS] += over
        for r in range(counts.size):
            sent_to[r] += counts[r]
        clock = native.now(table, ts)
        timers[EXCHANGE] += clock - tick
        stats[EVENTS] += deliver_epoch(gids, steps, recv, first, l_src, l_ptr, l_rs, l_rl, l_rd, l_rk, l_rw, l_port,
                                       l_w32, l_w64, ring)
        tick = native.now(table, ts)
        timers[DELIVER] += tick - clock
        clock = tick
        if changed:
            return step, count, epochs, RELAYOUT, 0
    return step, count, epochs, DONE, 0
