"""One process: every neuron is local and every exchange is the identity."""

from __future__ import annotations

from typing import Any

import numpy as np

_OPS = ("sum", "min", "max")


class LocalExchanger:
    """The exchange of one process: nothing goes anywhere (no rank but this one)."""

    collectives = 0
    overflows = 0

    def __init__(self) -> None:
        self._pending: tuple[np.ndarray, np.ndarray] | None = None

    def exchange(self, send: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(send, dtype=np.int64), np.asarray(counts, dtype=np.int64)

    def start(self, send: np.ndarray, counts: np.ndarray) -> None:
        if self._pending is not None:
            raise RuntimeError("LocalExchanger.start: the previous exchange has not been finished")
        # copies: the caller may reuse its arrays before finish
        self._pending = (np.array(send, dtype=np.int64), np.array(counts, dtype=np.int64))

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pending is None:
            raise RuntimeError("LocalExchanger.finish: no exchange was started")
        out, self._pending = self._pending, None
        return out


class LocalComm:
    """The communicator of a single-process run (rank 0 of 1)."""

    rank = 0
    size = 1

    def alltoallv(self, send: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(send, dtype=np.int64), np.asarray(counts, dtype=np.int64)

    def exchanger(self, send_to: np.ndarray, recv_from: np.ndarray) -> LocalExchanger:
        return LocalExchanger()

    def native(self) -> None:
        """No compiled exchange: one process has nothing to exchange (see
        :meth:`distsnn.comm.mpi.MPIComm.native`)."""
        return None

    def allreduce(self, value: Any, op: str) -> Any:
        if op not in _OPS:
            raise ValueError(f"LocalComm.allreduce: op must be one of {_OPS}, got {op!r}")
        return value

    def gather(self, obj: Any) -> list[Any]:
        return [obj]

    def bcast(self, obj: Any) -> Any:
        return obj

    def barrier(self) -> None:
        return None
