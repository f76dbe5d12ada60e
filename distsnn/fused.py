"""All local populations of one model advanced by one compiled call per epoch, and the
spike batch that the engine hands to the recorder every few epochs.

A model offers this with ``bind(pops)`` (the compiled loop's arguments for its
populations, built once) and ``advance_delivering(bound, ring, first, last, table,
out_gid, out_step, count)`` (steps ``first..last``, each step's spikes delivered through
``table``, a synapse table's ``kernel_args()``, inside the loop, spikes appended to the
buffers); ``lif_cond`` does, and so does :mod:`distsnn.models.eprop_fused` for the e-prop
neurons with their spike-train inputs (models that name it with ``fused_loop()``).

Why a batch: a network with one-step delays across ranks makes every step an epoch
(COBA on two ranks: 10,000 epochs a second of model time). Handing each epoch's spikes
to the recorder and the checkpoint history cost 25 us of numpy per epoch, more than the
update of 2,000 neurons. Here the compiled loop appends each epoch's spikes to one
preallocated buffer, the engine exchanges and delivers the epoch's slice of it, and the
whole buffer goes to the recorder and the history only when it is full, after the
recorder's ``flush_every`` epochs, or at the end of a run: the records and the flush
points are those of one hand-over per epoch.

The functions at the end are the engine's fused path (``Simulation._epoch`` calls them
for a rank with a :class:`FusedGroup`): the update, the hand-over of the batch, and an
exchange and long delivery with preallocated buffers and one compiled call each.
"""

from __future__ import annotations

import time
from types import ModuleType

import numpy as np
from numba import njit

from .build import LocalPopulation
from .delivery import deliver_one
from .routing import decode


def fused_model(pops: list[LocalPopulation]) -> ModuleType | None:
    """The module whose ``advance_delivering`` can take all of ``pops`` in one call (one
    model's, or the one loop that the models' ``fused_loop()`` names: the e-prop family,
    :mod:`distsnn.models.eprop_fused`; no current generators, states it accepts), or None."""
    models = {p.model for p in pops}
    loops = {m.fused_loop() for m in models if hasattr(m, "fused_loop")} or models
    if len(loops) != 1 or any(p.drive is not None for p in pops):
        return None
    model = loops.pop()
    if not hasattr(model, "advance_delivering") or not model.fusable([p.state for p in pops]):
        return None
    return model


class FusedGroup:
    """The local populations of one fused model and their spike batch.

    Parameters
    ----------
    model : module
        The model (see :func:`fused_model`).
    pops : list of LocalPopulation
        This rank's populations, in ascending gid order.
    buffer_steps : int
        The batch holds this many steps of every neuron spiking; a call stops before a
        step that might not fit.
    """

    def __init__(self, model: ModuleType, pops: list[LocalPopulation], buffer_steps: int) -> None:
        self.model = model
        self.pops = pops
        self.total = sum(p.n for p in pops)
        size = max(buffer_steps * self.total, 1)
        self.gid = np.empty(size, np.int64)
        self.step = np.empty(size, np.int64)
        self.count = 0          # spikes in the batch
        self.epochs = 0         # epochs completed since the last hand-over
        self.done = 0           # the last step advanced: the batch is complete up to it
        gids = np.concatenate([p.gids for p in pops]) if pops else np.zeros(0, np.int64)
        # The loop writes a step's spikes by population, then neuron: by gid if this holds.
        self.by_gid = bool(np.all(np.diff(gids) > 0))
        self._bound_to: list = []
        self.bind()
        self._table, self._table_args = None, ()

    def bind(self) -> None:
        """Build the compiled loop's arguments anew if a population's state or constants
        were replaced (a restored checkpoint) since the last call."""
        now = [(p.state, p.prepared) for p in self.pops]
        if len(now) == len(self._bound_to) and all(a is c and b is d for (a, b), (c, d) in zip(now, self._bound_to)):
            return
        self.bound = self.model.bind([(p.state, p.prepared, p.port0, len(p.channels) * p.n, p.gids)
                                      for p in self.pops])
        self._bound_to = now

    @property
    def room(self) -> bool:
        """Whether one more step of every neuron spiking fits in the batch."""
        return self.count + self.total <= self.gid.size

    def advance(self, ring: np.ndarray, first: int, last: int, table) -> tuple[int, int]:
        """Steps ``first..last`` (stops early when the batch is full); returns the last
        step done and the synaptic events delivered through ``table``."""
        t, self.count, events = self.model.advance_delivering(self.bound, ring, first, last, self.short_args(table),
                                                              self.gid, self.step, self.count)
        self.done = t
        return t, events

    def short_args(self, table) -> tuple:
        """``table.kernel_args()``, kept while the table is the same object (a trainer
        replaces its tables): one-step epochs ask for it thousands of times a second."""
        if table is not self._table:
            self._table, self._table_args = table, table.kernel_args()
        return self._table_args

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """The batch's spikes (copies, by step then gid), emptying it."""
        gids, steps = self.gid[:self.count].copy(), self.step[:self.count].copy()
        if not self.by_gid and gids.size:
            order = np.lexsort((gids, steps))
            gids, steps = gids[order], steps[order]
        self.count = 0
        self.epochs = 0
        return gids, steps


@njit(cache=True)
def deliver_epoch(gids, steps, recv, first, src, src_ptr, run_start, run_len, run_delay, run_kind, run_w, port, w32,
                  w64, ring):
    """An epoch's local spikes (``gids``, ``steps``) and received messages (``recv``, the
    wire format of :mod:`distsnn.routing` for an epoch that starts at step ``first``)
    through a table's arrays (:meth:`SynapseTable.kernel_args`) into the ring, in one
    call; returns the synaptic events."""
    events = 0
    for i in range(gids.size):
        events += deliver_one(gids[i], steps[i], src, src_ptr, run_start, run_len, run_delay, run_kind, run_w,
                              port, w32, w64, ring)
    for i in range(recv.size):
        g, s = decode(recv[i], first)
        events += deliver_one(g, s, src, src_ptr, run_start, run_len, run_delay, run_kind, run_w, port, w32, w64,
                              ring)
    return events


# The engine's fused path (Simulation._epoch calls these for a rank with a FusedGroup).

def update(sim, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """``sim``'s populations through steps first..last in compiled calls (one unless a
    state monitor samples inside, or the batch fills) that deliver the short synapses
    inside; returns the epoch's spikes (by step, then gid), a view of the batch unless
    it filled."""
    g = sim._group
    if not g.room or g.epochs >= sim.recorder.flush_every:
        hand_over(sim, first - 1)
    start, kept = g.count, []
    n = first - 1
    sampling = bool(sim.recorder.state)
    while n < last:
        end = min(last, sim._next_sample(n + 1)) if sampling else last
        while n < end:
            n, events = g.advance(sim.ring, n + 1, end, sim.short)
            sim.n_events += events
            if n < end:
                # The batch is full: it goes to the recorder, this epoch's part is kept.
                kept.append((g.gid[start:g.count].copy(), g.step[start:g.count].copy()))
                hand_over(sim, n)
                start = 0
        if sampling:
            sim.recorder.sample(n)
    g.epochs += 1
    gids, steps = g.gid[start:g.count], g.step[start:g.count]
    if kept:
        gids = np.concatenate([k[0] for k in kept] + [gids])
        steps = np.concatenate([k[1] for k in kept] + [steps])
    return gids, steps


def hand_over(sim, completed: int) -> None:
    """The batch (spikes up to step ``completed``) to ``sim._record``: the counters, the
    checkpoint history and the recorder."""
    epochs = sim._group.epochs
    gids, steps = sim._group.take()
    sim._record(gids, steps, completed, epochs)


def hand_over_after_failure(sim) -> None:
    """Keep the batched spikes of the steps done before a failure in the records."""
    g = sim._group
    if g is None or not g.count:
        return
    try:
        hand_over(sim, max(g.done, sim._recorded))
    except Exception:   # the run's own exception is the one to report
        pass


def exchange_deliver(sim, gids: np.ndarray, steps: np.ndarray, first: int) -> None:
    """The exchange and long delivery of ``sim``'s epoch with preallocated buffers and
    one compiled call each for packing and delivery: with one-step epochs (COBA on
    several ranks) numpy's per-call costs were most of an epoch."""
    t2 = time.perf_counter()
    counts = sim._counts
    n = sim.router.pack_into(sim.owned, gids, steps, first, sim._send, counts)
    if n > sim._send.size:
        sim._send = np.empty(2 * n, np.int64)
        sim.router.pack_into(sim.owned, gids, steps, first, sim._send, counts)
    recv, _ = sim.exchanger.exchange(sim._send[:n], counts)
    sim.sent_to += counts
    sim._count_traffic(n, recv.size)
    t3 = time.perf_counter()
    sim.timers.exchange += t3 - t2
    sim.n_events += deliver_epoch(gids, steps, recv, first, *long_args(sim), sim.ring)
    sim.timers.deliver += time.perf_counter() - t3


def long_args(sim) -> tuple:
    """``sim.long.kernel_args()``, kept while the long table is the same object (as
    :meth:`FusedGroup.short_args`)."""
    if sim._long_args[0] is not sim.long:
        sim._long_args = (sim.long, sim.long.kernel_args())
    return sim._long_args[1]
