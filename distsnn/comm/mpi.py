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

import ctypes
import math
import os
import sys
import time
import traceback
from typing import Any

import numpy as np
from mpi4py import MPI

from . import native, slots

# Seconds between writing an error and aborting, for the launcher to forward the text.
ABORT_FLUSH_S = 0.3

_OPS = {"sum": MPI.SUM, "min": MPI.MIN, "max": MPI.MAX}
#: Tag of the point-to-point messages that carry a slot's overflow.
OVERFLOW_TAG = 0x5D15


class SlotExchanger:
    """Spike exchange in one ``MPI_Alltoallv`` per call, the counts piggy-backed.

    Each pair that may talk (the route table says which) reserves a slot of words in the
    sender's and in the receiver's buffer (:mod:`distsnn.comm.slots`): the first word is
    the count, then as many items as fit. Items beyond a slot go point to point (``Isend``
    before the collective, ``Irecv`` once the count has arrived), which both ends know to
    do from the count alone; then both ends resize the slot by the same rule. The
    collective is the same on every rank in every call; the common case costs
    one collective instead of two (counts, then data), and a burst one extra message on
    each pair it overflows. :meth:`start` and :meth:`finish` split a call in two
    (``MPI_Ialltoallv``), so that a rank works while the spikes travel.
    """

    def __init__(self, comm: Any, send_to: np.ndarray, recv_from: np.ndarray) -> None:
        self.comm = comm
        self.size = comm.Get_size()
        self.rank = comm.Get_rank()
        self.sslot = np.zeros(self.size, dtype=np.int64)
        self.rslot = np.zeros(self.size, dtype=np.int64)
        self.sslot[np.asarray(send_to, dtype=np.int64)] = slots.MIN_SLOT
        self.rslot[np.asarray(recv_from, dtype=np.int64)] = slots.MIN_SLOT
        self.rcounts = np.zeros(self.size, dtype=np.int64)
        self.collectives = 0
        self.overflows = 0
        self._pending = None
        self._layout()

    def _layout(self) -> None:
        self.sdispl, self.rdispl = slots.displacements(self.sslot), slots.displacements(self.rslot)
        self.sbuf = np.zeros(int(self.sslot.sum()), dtype=np.int64)
        self.rbuf = np.zeros(int(self.rslot.sum()), dtype=np.int64)
        self._args = ([self.sbuf, (self.sslot, self.sdispl), MPI.INT64_T],
                      [self.rbuf, (self.rslot, self.rdispl), MPI.INT64_T])

    def exchange(self, send: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The same nonblocking collective as start/finish, never MPI_Alltoallv: a blocking
        # and a nonblocking collective do not match each other, and which of the two a
        # rank's engine path calls may differ between ranks (hooks on some ranks only).
        self.start(send, counts)
        return self.finish()

    def start(self, send: np.ndarray, counts: np.ndarray) -> None:
        """Post the exchange of ``send`` (as :meth:`exchange`) and return at once: an
        ``MPI_Ialltoallv``, so the caller can work until :meth:`finish`. Collective."""
        if self._pending is not None:
            raise RuntimeError("SlotExchanger.start: the previous exchange has not been finished")
        send, counts, requests = self._post(send, counts)
        collective = self.comm.Ialltoallv(*self._args)
        self.collectives += 1
        self._pending = (collective, requests, send, counts)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Wait for the exchange :meth:`start` posted; returns what :meth:`exchange` does."""
        if self._pending is None:
            raise RuntimeError("SlotExchanger.finish: no exchange was started")
        collective, requests, send, counts = self._pending
        self._pending = None
        collective.Wait()
        return self._complete(requests, counts)

    def _post(self, send: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
        # The send slots filled and the overflow sent point to point, before the collective.
        send = np.ascontiguousarray(send, dtype=np.int64)
        counts = np.array(counts, dtype=np.int64)     # _complete resizes the slots by it
        over = slots.fill(send, counts, self.sdispl, self.sslot, self.sbuf)
        if over < 0:
            raise RuntimeError(f"SlotExchanger: rank {self.rank} sends items to a rank that is not its peer")
        requests = []
        if over:
            send = send.copy()      # the Isends read it until the end; the caller may not
            for r, lo, hi in slots.overflow(self.sslot, counts):
                requests.append(self.comm.Isend([send[lo:hi], MPI.INT64_T], r, OVERFLOW_TAG))
        # Not a persistent collective (MPI_Alltoallv_init): re-creating it when a slot
        # changes would be a collective call that only the ranks with that change make.
        return send, counts, requests

    def _complete(self, requests: list, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # After the collective: the received items, the overflow received point to point,
        # both ends' slots resized by the same rule.
        rcounts = self.rcounts
        recv, r_over = slots.extract(self.rbuf, self.rdispl, self.rslot, rcounts)
        if r_over:
            for r, lo, hi in slots.overflow(self.rslot, rcounts):
                requests.append(self.comm.Irecv([recv[lo:hi], MPI.INT64_T], r, OVERFLOW_TAG))
        if requests:
            self.overflows += 1
            MPI.Request.Waitall(requests)
        rcounts = rcounts.copy()
        changed = slots.resize(self.sslot, counts)
        changed = slots.resize(self.rslot, rcounts) or changed
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

    def native(self) -> native.Bindings | None:
        """The addresses and handles that let compiled code make the spike exchange's MPI
        calls (:mod:`distsnn.comm.native`), or None where this MPI library's ABI is not
        one that module knows (MPICH's: C ``int`` handles). Not collective: callers agree
        on its use with a reduction."""
        try:
            known = ("MPICH" in MPI.Get_library_version()
                     and all(MPI._sizeof(kind) == 4 for kind in (MPI.Comm, MPI.Datatype, MPI.Request))
                     and MPI._sizeof(MPI.Status) <= native.STATUS_BYTES)
            if not known:
                return None
            lib = ctypes.CDLL(MPI.__file__)     # its symbols include the MPI library it links
            libc = ctypes.CDLL(None)
            address = [ctypes.cast(f, ctypes.c_void_p).value
                       for f in (lib.MPI_Alltoallv, lib.MPI_Isend, lib.MPI_Irecv, lib.MPI_Waitall, libc.clock_gettime)]
            table = np.array(address + [MPI._handleof(self.comm), MPI._handleof(MPI.INT64_T), OVERFLOW_TAG],
                             dtype=np.int64)
        except (AttributeError, OSError, TypeError, OverflowError):
            return None
        return native.Bindings(table)

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
