"""The slot exchange (:mod:`distsnn.comm.slots`) called from compiled code, without Python.

A network whose delays across ranks are one step long (COBA, the microcircuit) exchanges
every step; through mpi4py each exchange costs microseconds of Python and dispatch,
more than the update of a few thousand neurons. Here the MPI calls of one slot exchange
(``MPI_Alltoallv``, and ``MPI_Isend`` / ``MPI_Irecv`` / ``MPI_Waitall`` for a slot's
overflow) are made from numba ``nopython`` code through the addresses of the functions
in the MPI library that mpi4py loaded (what the numba-mpi package does), so that a
compiled loop can run many epochs, exchange included (:mod:`distsnn.native_epochs`).

No mpi4py here: :meth:`distsnn.comm.mpi.MPIComm.native` gives the addresses and the
handles as a :class:`Bindings` (``None`` where the MPI library's ABI is not one this
module knows). The functions are called through numba intrinsics that take the address
as an ordinary integer argument, so the kernels that call them stay cacheable
(``cache=True``; a ctypes function object as a global would not be). Known ABI: MPICH's
and its derivatives' (handles are C ``int``: communicators, datatypes, requests).

The protocol is :meth:`distsnn.comm.mpi.SlotExchanger.exchange`'s, call for call and
word for word (one blocking ``MPI_Alltoallv`` per exchange, the same slots, the same
overflow messages and tag), so the two can take turns on one exchanger; not its
``start`` / ``finish`` pair (``MPI_Ialltoallv``: a nonblocking collective does not match
a blocking one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from . import slots

#: Positions in :attr:`Bindings.table`.
ALLTOALLV, ISEND, IRECV, WAITALL, CLOCK, COMM, INT64, TAG = range(8)
#: Bytes reserved per ``MPI_Status`` (MPICH's is 20).
STATUS_BYTES = 32
#: ``CLOCK_MONOTONIC`` (Linux), the clock of ``time.perf_counter``.
CLOCK_MONOTONIC = 1


@dataclass(frozen=True)
class Bindings:
    """What the compiled exchange needs of an MPI library: ``table`` (int64) holds, at the
    positions named above, the addresses of ``MPI_Alltoallv``, ``MPI_Isend``,
    ``MPI_Irecv``, ``MPI_Waitall`` and libc's ``clock_gettime``, the communicator's and
    the int64 datatype's handles, and the tag of overflow messages."""

    table: np.ndarray


_I8P = ir.IntType(8).as_pointer()
_I32 = ir.IntType(32)


def _foreign(kinds: str):
    """An intrinsic ``call(address, *args)`` that calls the C function at ``address`` (int64)
    with int64 arguments converted as ``kinds`` says, one letter each: ``p`` a pointer
    (the argument is an address), ``i`` a C int; the function returns a C int."""
    n = len(kinds)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(_I32, [_I8P if k == "p" else _I32 for k in kinds])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        conv = [builder.inttoptr(a, _I8P) if k == "p" else builder.trunc(a, _I32) for k, a in zip(kinds, args[1:])]
        return builder.call(fn, conv)

    def typer(typingctx, *args):
        if len(args) != n + 1 or not all(isinstance(a, types.Integer) for a in args):
            return None
        return types.int32(*([types.int64] * (n + 1))), codegen

    # numba reads the intrinsic's arity from the Python signature: spell it out.
    names = ", ".join(f"a{i}" for i in range(n + 1))
    scope: dict = {"typer": typer}
    exec(f"def call(typingctx, {names}):\n    return typer(typingctx, {names})", scope)
    return intrinsic(scope["call"])


# MPICH ABI: int MPI_Alltoallv(const void*, const int*, const int*, MPI_Datatype, void*,
# const int*, const int*, MPI_Datatype, MPI_Comm); MPI_Isend / MPI_Irecv(buf, int count,
# MPI_Datatype, int peer, int tag, MPI_Comm, MPI_Request*); MPI_Waitall(int, MPI_Request*,
# MPI_Status*); clock_gettime(clockid_t, struct timespec*).
_alltoallv = _foreign("pppipppii")
_point = _foreign("piiiiip")
_waitall = _foreign("ipp")
_clock = _foreign("ip")


@njit(cache=True)
def now(table, ts):
    """Seconds on the monotonic clock (``ts``: two int64 of scratch)."""
    _clock(table[CLOCK], CLOCK_MONOTONIC, ts.ctypes.data)
    return ts[0] + 1e-9 * ts[1]


@njit(cache=True)
def exchange(table, send, counts, sslot, sdispl, rslot, rdispl, ints, sbuf, rbuf, rcounts, reqs, statuses):
    """One slot exchange (:meth:`SlotExchanger.exchange`, the same messages) of the items
    ``send`` (grouped by rank, ``counts[r]`` to rank ``r``). ``ints`` (int32, 4 x size)
    holds the slots and displacements as C ints (send slot, send displacement, receive
    slot, receive displacement); ``reqs`` and ``statuses`` are scratch for 2 x size
    requests. Returns the items received (rank order), the MPI error code (0: none, -1:
    items for a rank without a slot, sent nothing), whether a slot overflowed and whether
    the slots changed (then the caller lays the buffers out anew before the next call);
    ``rcounts`` gets the counts received."""
    size = counts.size
    over = slots.fill(send, counts, sdispl, sslot, sbuf)
    if over < 0:
        return np.empty(0, np.int64), -1, False, False
    comm, dtype, tag = table[COMM], table[INT64], table[TAG]
    nreq = 0
    if over:
        lo = 0
        for r in range(size):
            if sslot[r] > 0 and counts[r] > sslot[r] - 1:
                a = lo + sslot[r] - 1
                err = _point(table[ISEND], send.ctypes.data + 8 * a, counts[r] - (sslot[r] - 1), dtype, r, tag, comm,
                             reqs.ctypes.data + 4 * nreq)
                if err:
                    return np.empty(0, np.int64), err, False, False
                nreq += 1
            lo += counts[r]
    s32, r32 = ints[0:2], ints[2:4]
    err = _alltoallv(table[ALLTOALLV], sbuf.ctypes.data, s32[0].ctypes.data, s32[1].ctypes.data, dtype,
                     rbuf.ctypes.data, r32[0].ctypes.data, r32[1].ctypes.data, dtype, comm)
    if err:
        return np.empty(0, np.int64), err, False, False
    recv, r_over = slots.extract(rbuf, rdispl, rslot, rcounts)
    if r_over:
        lo = 0
        for r in range(size):
            if rslot[r] > 0 and rcounts[r] > rslot[r] - 1:
                a = lo + rslot[r] - 1
                err = _point(table[IRECV], recv.ctypes.data + 8 * a, rcounts[r] - (rslot[r] - 1), dtype, r, tag,
                             comm, reqs.ctypes.data + 4 * nreq)
                if err:
                    return recv, err, False, False
                nreq += 1
            lo += rcounts[r]
    if nreq:
        err = _waitall(table[WAITALL], nreq, reqs.ctypes.data, statuses.ctypes.data)
        if err:
            return recv, err, True, False
    changed = slots.resize(sslot, counts)
    changed = slots.resize(rslot, rcounts) or changed
    return recv, 0, nreq > 0, changed


def c_ints(sslot: np.ndarray, sdispl: np.ndarray, rslot: np.ndarray, rdispl: np.ndarray) -> np.ndarray:
    """The slot layout as the C ints ``MPI_Alltoallv`` takes (see :func:`exchange`)."""
    if max(int(sslot.sum()), int(rslot.sum())) >= 2 ** 31:
        raise OverflowError("native exchange: a rank's slots exceed 2**31 words")
    return np.ascontiguousarray(np.array([sslot, sdispl, rslot, rdispl], dtype=np.int32))


def scratch(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Room for the requests and statuses of one :func:`exchange` on ``size`` ranks."""
    return np.zeros(2 * size, np.int32), np.zeros(2 * size * STATUS_BYTES // 4, np.int32)
