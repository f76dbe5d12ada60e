"""One process: every neuron is local and every exchange is the identity."""

from __future__ import annotations

from typing import Any

import numpy as np


class LocalComm:
    """The communicator of a single-process run (rank 0 of 1)."""

    rank = 0
    size = 1

    def exchange_spikes(self, gids: np.ndarray, steps: np.ndarray,
                        dest_ranks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return gids, steps

    def allreduce(self, value: Any, op: str) -> Any:
        if op not in ("sum", "min", "max"):
            raise ValueError(f"LocalComm.allreduce: op must be 'sum', 'min' or 'max', got {op!r}")
        return value

    def gather(self, obj: Any) -> list[Any]:
        return [obj]

    def bcast(self, obj: Any) -> Any:
        return obj
