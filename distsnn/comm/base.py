"""The communicator interface the engine is written against.

Every method is a collective: all ranks call it, in the same order, whatever their
local data (an empty array is a valid contribution). None may be called under a
rank-dependent condition.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Exchanger(Protocol):
    """A personalised all-to-all set up once for a fixed set of peers (the spike exchange).

    Same contract as :meth:`Comm.alltoallv`, but only ``send_to`` ranks may be sent
    items and only ``recv_from`` ranks send any, which lets a communicator reserve room
    per pair and exchange the counts inside the data (one collective per call).
    ``collectives`` counts the collective calls made so far; ``overflows`` the calls in
    which some pair needed more than its reserved room (sent point to point).
    """

    collectives: int
    overflows: int

    def exchange(self, send: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Items for each rank (grouped by rank, ``counts[r]`` to rank ``r``) in; items
        received (from rank 0, then 1, ...) and their counts out. Collective."""

    def start(self, send: np.ndarray, counts: np.ndarray) -> None:
        """The first half of :meth:`exchange`: post it and return without waiting (the
        caller may work meanwhile, but make no other collective call). Collective."""

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """The second half: wait for the exchange :meth:`start` posted and return what
        :meth:`exchange` would have."""


class Comm(Protocol):
    rank: int
    size: int

    def alltoallv(self, send: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Personalised all-to-all of int64 items.

        ``send`` holds the items for rank 0, then rank 1, ...; ``counts[r]`` items go to
        rank ``r``. Returns the received items (from rank 0, then 1, ...) and how many
        came from each rank.
        """

    def exchanger(self, send_to: np.ndarray, recv_from: np.ndarray) -> Exchanger:
        """An :class:`Exchanger` for items sent only to ``send_to`` and received only
        from ``recv_from`` (ranks; rank ``s`` lists ``r`` in ``recv_from`` exactly when
        rank ``r`` lists ``s`` in ``send_to``). Every rank calls it, once per set-up."""

    def native(self) -> Any:
        """The :class:`distsnn.comm.native.Bindings` that let compiled code make the
        exchange's MPI calls, or None (no such path: the engine exchanges from Python).
        Not collective; a communicator may lack it (treated as None)."""

    def allreduce(self, value: Any, op: str) -> Any:
        """Reduce a number or array over ranks; ``op`` is 'sum', 'min' or 'max'."""

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` on rank 0 (a list ordered by rank); None elsewhere."""

    def bcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""

    def barrier(self) -> None:
        """Wait for every rank."""
