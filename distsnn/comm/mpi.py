"""MPI communicator: the only module of distsnn that imports mpi4py.

Failures: :func:`abort_on_exception` installs an excepthook that prints the failing
rank's traceback and calls ``MPI_Abort``, so one rank's exception ends the whole job
within a second instead of leaving the others blocked in a collective (what
``python -m mpi4py`` does).
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import numpy as np
from mpi4py import MPI

_OPS = {"sum": MPI.SUM, "min": MPI.MIN, "max": MPI.MAX}


class MPIComm:
    """A communicator over ``MPI.COMM_WORLD`` (or the given mpi4py communicator)."""

    def __init__(self, comm: Any = None) -> None:
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()

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
        self.comm.Abort(code)


def abort_on_exception(comm: MPIComm) -> None:
    """Make an uncaught exception on any rank print its traceback and abort the job."""

    def hook(kind, value, tb):
        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(f"distsnn: rank {comm.rank} of {comm.size} failed:\n{text}")
        sys.stderr.flush()
        comm.abort(1)

    sys.excepthook = hook
