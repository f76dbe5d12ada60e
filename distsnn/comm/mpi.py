"""MPI communicator: the only module of distsnn that imports mpi4py.

Failures: creating an :class:`MPIComm` on ``COMM_WORLD`` installs (once) an excepthook that
prints the failing rank's traceback and calls ``MPI_Abort`` (what ``python -m mpi4py``
does), so an uncaught exception on one rank ends the whole job within seconds instead of
leaving the others blocked in a collective, whatever the entry point (``distsnn run``,
``ds.simulate``, ``ds.Simulation``). An input error (``ValueError``) is reported once for
the job by :func:`fail_once`: validation runs identically on every rank, so rank 0 reports
at once and the others wait a moment first; rank 0's abort ends them while they wait, and
an error that only one rank hit is still reported, by that rank, when its wait is over.
"""

from __future__ import annotations

import math
import os
import sys
import time
import traceback
from typing import Any

import numpy as np
from mpi4py import MPI

# Seconds between writing an error and aborting, for the launcher to forward the text.
ABORT_FLUSH_S = 0.3

_OPS = {"sum": MPI.SUM, "min": MPI.MIN, "max": MPI.MAX}
#: Words (int64) reserved per peer at first, the count included.
MIN_SLOT = 16
#: Tag of the point-to-point messages that carry a slot's overflow.
OVERFLOW_TAG = 0x5D15


def next_slot(slot: int, count: int) -> int:
    """The room (words, count included) a pair reserves after a call that carried
    ``count`` items in ``slot`` words. Both ends of a pair apply it to the same numbers,
    so they agree without talking: grow at once to a power of two of at least 1.5x the
    need, shrink by half only while under a quarter is used (no flip-flop on noisy traffic)."""
    need = count + 1
    if need > slot:
        return max(MIN_SLOT, 1 << (need + need // 2 - 1).bit_length())
    if 4 * need < slot and slot > MIN_SLOT:
        return max(MIN_SLOT, slot // 2)
    return slot


class SlotExchanger:
    """Spike exchange in one ``MPI_Alltoallv`` per call, the counts piggy-backed.

    Each pair that may talk (the route table says which) reserves a slot of words in the
    sender's and in the receiver's buffer: the first word is the count, then as many items
    as fit. Items beyond a slot go point to point (``Isend`` before the collective,
    ``Irecv`` once the count has arrived), which both ends know to do from the count
    alone; then both ends resize the slot by :func:`next_slot`. The collective is the same
    on every rank in every call; the common case costs one collective instead of two
    (counts, then data), and a burst one extra message on each pair it overflows.
    """

    def __init__(self, comm: Any, send_to: np.ndarray, recv_from: np.ndarray) -> None:
        self.comm = comm
        self.size = comm.Get_size()
        self.rank = comm.Get_rank()
        self.send_to = [int(r) for r in send_to]
        self.recv_from = [int(r) for r in recv_from]
        self.sslot = np.zeros(self.size, dtype=np.int64)
        self.rslot = np.zeros(self.size, dtype=np.int64)
        self.sslot[self.send_to] = MIN_SLOT
        self.rslot[self.recv_from] = MIN_SLOT
        self.collectives = 0
        self.overflows = 0
        self._layout()

    def _layout(self) -> None:
        self.sdispl = np.concatenate(([0], np.cumsum(self.sslot)[:-1])).astype(np.int64)
        self.rdispl = np.concatenate(([0], np.cumsum(self.rslot)[:-1])).astype(np.int64)
        self.sbuf = np.zeros(int(self.sslot.sum()), dtype=np.int64)
        self.rbuf = np.zeros(int(self.rslot.sum()), dtype=np.int64)
        self._args = ([self.sbuf, (self.sslot, self.sdispl), MPI.INT64_T],
                      [self.rbuf, (self.rslot, self.rdispl), MPI.INT64_T])

    def exchange(self, send: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        send = np.ascontiguousarray(send, dtype=np.int64)
        counts = np.asarray(counts, dtype=np.int64)
        if (counts[self.sslot == 0] != 0).any():
            raise RuntimeError(f"SlotExchanger: rank {self.rank} sends items to a rank that is not its peer")
        requests = []
        first = np.cumsum(counts) - counts
        for r in self.send_to:
            c, s0 = int(counts[r]), int(first[r])
            at, room = int(self.sdispl[r]), int(self.sslot[r]) - 1
            self.sbuf[at] = c
            k = min(c, room)
            self.sbuf[at + 1: at + 1 + k] = send[s0: s0 + k]
            if c > room:
                requests.append(self.comm.Isend([send[s0 + room: s0 + c], MPI.INT64_T], r, OVERFLOW_TAG))
        self.comm.Alltoallv(*self._args)
        self.collectives += 1
        rcounts = np.zeros(self.size, dtype=np.int64)
        parts = []
        for r in self.recv_from:
            at, room = int(self.rdispl[r]), int(self.rslot[r]) - 1
            c = int(self.rbuf[at])
            rcounts[r] = c
            parts.append(self.rbuf[at + 1: at + 1 + min(c, room)])
            if c > room:
                extra = np.empty(c - room, dtype=np.int64)
                requests.append(self.comm.Irecv([extra, MPI.INT64_T], r, OVERFLOW_TAG))
                parts.append(extra)
        if requests:
            self.overflows += 1
            MPI.Request.Waitall(requests)
        recv = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        changed = False
        for slots, peers, used in ((self.sslot, self.send_to, counts), (self.rslot, self.recv_from, rcounts)):
            for r in peers:
                new = next_slot(int(slots[r]), int(used[r]))
                if new != slots[r]:
                    slots[r] = new
                    changed = True
        if changed:
            self._layout()
        return recv, rcounts




class MPIComm:
    """A communicator over ``MPI.COMM_WORLD`` (or the given mpi4py communicator)."""

    def __init__(self, comm: Any = None) -> None:
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        if self.comm == MPI.COMM_WORLD and self.size > 1:
            abort_on_exception(self)

    def alltoallv(self, send: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        send = np.ascontiguousarray(send, dtype=np.int64)
        counts = np.ascontiguousarray(counts, dtype=np.int64)
        recv_counts = np.empty(self.size, dtype=np.int64)
        self.comm.Alltoall(counts, recv_counts)
        recv = np.empty(int(recv_counts.sum()), dtype=np.int64)
        sdispl = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rdispl = np.concatenate(([0], np.cumsum(recv_counts)[:-1]))
        self.comm.Alltoallv([send, (counts, sdispl), MPI.INT64_T], [recv, (recv_counts, rdispl), MPI.INT64_T])
        return recv, recv_counts

    def exchanger(self, send_to: np.ndarray, recv_from: np.ndarray) -> SlotExchanger:
        return SlotExchanger(self.comm, send_to, recv_from)

    def allreduce(self, value: Any, op: str) -> Any:
        if op not in _OPS:
            raise ValueError(f"MPIComm.allreduce: op must be one of {tuple(_OPS)}, got {op!r}")
        if isinstance(value, np.ndarray):
            out = np.empty_like(value)
            self.comm.Allreduce(value, out, op=_OPS[op])
            return out
        return self.comm.allreduce(value, op=_OPS[op])

    def gather(self, obj: Any) -> list[Any] | None:
        return self.comm.gather(obj, root=0)

    def bcast(self, obj: Any) -> Any:
        return self.comm.bcast(obj, root=0)

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        """End every rank of the job with exit code ``code``; never returns."""
        # Hydra forwards a rank's stderr asynchronously and drops what it has not yet read
        # when the abort tears the job down (seen as an empty stderr in about 1 run of 8):
        # give it a moment to forward the error just written.
        sys.stderr.flush()
        time.sleep(ABORT_FLUSH_S)
        self.comm.Abort(code)
        # MPICH's MPI_Abort can return to the caller while the launcher tears the job down;
        # this rank must not carry on meanwhile.
        os._exit(code)


def grace(rank: int) -> float:
    """Seconds a rank other than 0 waits before reporting an error (rank 0 does not wait):
    long enough for rank 0's abort to arrive if it hit the same error, growing slowly with
    the rank so that lower failing ranks report first."""
    return 0.0 if rank == 0 else 1.0 + 0.5 * math.log2(rank)


def fail_once(comm: MPIComm, text: str, code: int) -> None:
    """Write ``text`` to stderr, once for the job when every rank hit the same error, and abort.

    One ``write`` of the whole text, so the lines of different ranks never run together.
    """
    time.sleep(grace(comm.rank))
    sys.stderr.flush()
    os.write(2, (text if text.endswith("\n") else text + "\n").encode("utf-8", "replace"))
    comm.abort(code)


def abort_on_exception(comm: MPIComm) -> None:
    """Make an uncaught exception on any rank print its traceback and abort the job (exit code
    2 for invalid input, a ``ValueError``, reported once; 1 otherwise). Installed once."""
    if getattr(sys.excepthook, "distsnn_abort", False):
        return

    def hook(kind, value, tb):
        text = "".join(traceback.format_exception(kind, value, tb))
        text = f"distsnn: rank {comm.rank} of {comm.size} failed:\n{text}"
        if issubclass(kind, ValueError):
            fail_once(comm, text, 2)
        sys.stderr.flush()
        os.write(2, text.encode("utf-8", "replace"))
        comm.abort(1)

    hook.distsnn_abort = True
    sys.excepthook = hook
