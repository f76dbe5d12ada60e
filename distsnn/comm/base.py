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

    def exchange_spikes(self, gids: np.ndarray, steps: np.ndarray,
                        dest_ranks: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Send this rank's spikes of one epoch; receive every spike this rank needs.

        ``dest_ranks`` may restrict where spikes go (None: to all ranks). Returns the
        concatenation of received and local spikes (gid, step), in no particular order.
        """

    def allreduce(self, value: Any, op: str) -> Any:
        """Reduce a number or array over ranks; ``op`` is 'sum', 'min' or 'max'."""

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` on rank 0 (a list ordered by rank); None elsewhere."""

    def bcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
