"""Spike routing between ranks: who needs whose spikes, and the wire format.

Set-up (once, :func:`make_router`): every rank holds the owner map as runs of gids
(:class:`~distsnn.placement.OwnerMap`) and knows which source gids its own synapses
need. It sends each owner the list of that owner's gids it needs; each owner turns what
it receives into a *route table*: for each of its local neurons, the remote ranks that
hold at least one of its targets. A spike is then sent once to each such rank, and to no
other (the (lambda - 1) communication volume of the partitioning metrics). Nothing here
holds an entry per neuron of the whole network.

Wire format: one int64 per (spike, destination), ``gid << 16 | offset``, where
``offset`` is the spike's step minus the epoch's first step (an epoch is shorter than
2**16 steps; gids are below 2**47). The receiver needs no table to decode it.

The functions here are pure numpy (and one compiled packing loop); the only collective
calls go through the communicator, in the same order on every rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .comm import Comm
from .placement import OwnerMap

#: Epochs are shorter than this many steps (the offset field of the wire format).
MAX_EPOCH = 2 ** 16 - 1
#: Gids are below this (the gid field of the wire format).
MAX_GID = 2 ** 47
_OFFSET_MASK = np.int64(0xFFFF)


@njit(cache=True)
def _pack(local_index, gids, offsets, ptr, dst, size):
    # Grouped by destination, spikes in their given order within a destination.
    counts = np.zeros(size, np.int64)
    for i in range(local_index.size):
        for j in range(ptr[local_index[i]], ptr[local_index[i] + 1]):
            counts[dst[j]] += 1
    fill = np.zeros(size, np.int64)
    for r in range(1, size):
        fill[r] = fill[r - 1] + counts[r - 1]
    out = np.empty(fill[size - 1] + counts[size - 1], np.int64)
    for i in range(local_index.size):
        msg = (gids[i] << 16) | offsets[i]
        for j in range(ptr[local_index[i]], ptr[local_index[i] + 1]):
            out[fill[dst[j]]] = msg
            fill[dst[j]] += 1
    return out, counts


@njit(cache=True)
def _pack_into(owned, gids, steps, first, ptr, dst, out, counts):
    # _pack into preallocated buffers, the local positions found here: the engine's path
    # for epochs of one step, where numpy's per-call costs outweigh the work. Returns
    # the number of messages; when they do not fit ``out`` nothing is written (the
    # caller grows ``out`` and calls again).
    counts[:] = 0
    local = np.searchsorted(owned, gids)
    for i in range(gids.size):
        for j in range(ptr[local[i]], ptr[local[i] + 1]):
            counts[dst[j]] += 1
    total = 0
    for r in range(counts.size):
        total += counts[r]
    if total > out.size:
        return total
    fill = np.zeros(counts.size, np.int64)
    for r in range(1, counts.size):
        fill[r] = fill[r - 1] + counts[r - 1]
    for i in range(gids.size):
        msg = (gids[i] << 16) | (steps[i] - first)
        for j in range(ptr[local[i]], ptr[local[i] + 1]):
            out[fill[dst[j]]] = msg
            fill[dst[j]] += 1
    return total


@njit(cache=True, inline="always")
def decode(msg, first_step):
    """The gid and step of one message (compiled callers; :meth:`Router.unpack` for arrays)."""
    return msg >> 16, (msg & 0xFFFF) + first_step


@dataclass
class Router:
    rank: int
    size: int
    route_ptr: np.ndarray         # CSR over this rank's local neurons ...
    route_dst: np.ndarray         # ... of destination ranks (int32, never this rank)

    def pack(self, local_index: np.ndarray, gids: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Messages for a batch of local spikes (their positions among this rank's owned
        gids, their gids and step offsets), grouped by destination rank; and their counts."""
        return _pack(np.asarray(local_index, np.int64), np.asarray(gids, np.int64), np.asarray(offset, np.int64),
                     self.route_ptr, self.route_dst, self.size)

    def pack_into(self, owned: np.ndarray, gids: np.ndarray, steps: np.ndarray, first_step: int,
                  out: np.ndarray, counts: np.ndarray) -> int:
        """:meth:`pack` for spikes of local gids (``owned``: this rank's gids, ascending) at
        ``steps`` of an epoch that starts at ``first_step``, into ``out`` (int64) with the
        counts per rank into ``counts``; returns the number of messages, which were only
        written if they fit (else grow ``out`` and call again)."""
        return _pack_into(owned, gids, steps, first_step, self.route_ptr, self.route_dst, out, counts)

    @staticmethod
    def unpack(buf: np.ndarray, first_step: int) -> tuple[np.ndarray, np.ndarray]:
        """Gids and steps of received messages."""
        return buf >> 16, (buf & _OFFSET_MASK) + first_step

    @property
    def peers(self) -> np.ndarray:
        """The ranks this rank may send spikes to."""
        return np.unique(self.route_dst)

    @property
    def nbytes(self) -> int:
        return int(self.route_ptr.nbytes + self.route_dst.nbytes)


def requests(owner: OwnerMap, needed: np.ndarray, rank: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Remote source gids this rank needs, grouped by owner rank; and their counts."""
    needed = np.unique(needed)
    by_owner = owner.of(needed)
    remote = needed[by_owner != rank]
    by_owner = by_owner[by_owner != rank]
    order = np.argsort(by_owner, kind="stable")
    return remote[order], np.bincount(by_owner, minlength=size).astype(np.int64)


def routes(owned: np.ndarray, asked: np.ndarray, asked_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Route table from the gids each rank asked this rank for (``asked_counts[r]`` from rank r)."""
    from_rank = np.repeat(np.arange(asked_counts.size), asked_counts)
    local = np.searchsorted(owned, asked)
    order = np.lexsort((from_rank, local))
    local, from_rank = local[order], from_rank[order]
    ptr = np.zeros(owned.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(local, minlength=owned.size), out=ptr[1:])
    return ptr, from_rank.astype(np.int32)   # ranks fit in 32 bits: half the table


@dataclass
class Routing:
    """What :func:`make_router` sets up: the route table, and the ranks this rank sends
    to and receives from (the pairs the exchange reserves room for)."""

    router: Router
    send_to: np.ndarray
    recv_from: np.ndarray


def make_router(comm: Comm, owner: OwnerMap, owned: np.ndarray, needed: np.ndarray) -> Routing:
    """Set up routing (collective): ``owned`` are this rank's gids (ascending), ``needed``
    the source gids of its synapses."""
    size, rank = comm.size, comm.rank
    send, counts = requests(owner, needed, rank, size)
    asked, asked_counts = comm.alltoallv(send, counts)
    ptr, dst = routes(owned, asked, asked_counts)
    router = Router(rank, size, ptr, dst)
    return Routing(router, router.peers, np.flatnonzero(counts).astype(np.int64))
