"""The communicator interface the engine is written against.

Every method is a collective: all ranks call it, in the same order, whatever their
local data (an empty array is a valid contribution). None may be called under a
rank-dependent condition.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Comm(Protocol):
    rank: int
    size: int

    def alltoallv(self, send: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Personalised all-to-all of int64 items.

        ``send`` holds the items for rank 0, then rank 1, ...; ``counts[r]`` items go to
        rank ``r``. Returns the received items (from rank 0, then 1, ...) and how many
        came from each rank.
        """

    def allreduce(self, value: Any, op: str) -> Any:
        """Reduce a number or array over ranks; ``op`` is 'sum', 'min' or 'max'."""

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` on rank 0 (a list ordered by rank); None elsewhere."""

    def bcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""

    def barrier(self) -> None:
        """Wait for every rank."""
