"""Spike routing between ranks: who needs whose spikes, and the wire format.

Set-up (once, :func:`make_router`): every rank knows the owner of every gid (the
partition is replicated) and which source gids its own synapses need. It sends each
owner the list of that owner's gids it needs; each owner turns what it receives into
a *route table*: for each of its local neurons, the remote ranks that hold at least
one of its targets. A spike is then sent once to each such rank, and to no other (the
(lambda - 1) communication volume of the partitioning metrics).

Wire format: one int64 per (spike, destination), ``local_index << 16 | offset``, where
``local_index`` is the neuron's position in the sender's owned list (ascending gids) and
``offset`` the spike's step minus the epoch's first step (an epoch is shorter than
2**16 steps). The receiver maps ``local_index`` back to a gid through the sender's
owned list.

The functions here are pure numpy; the only collective calls go through the
communicator, in the same order on every rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .comm import Comm

#: Epochs are shorter than this many steps (the offset field of the wire format).
MAX_EPOCH = 2 ** 16 - 1
_OFFSET_MASK = np.int64(0xFFFF)


@dataclass
class Router:
    rank: int
    size: int
    owned_of: list[np.ndarray]    # owned gids of every rank, ascending
    route_ptr: np.ndarray         # CSR over this rank's local neurons ...
    route_dst: np.ndarray         # ... of destination ranks (never this rank)

    def pack(self, local_index: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Messages for a batch of local spikes, grouped by destination rank; and their counts."""
        n_dst = self.route_ptr[local_index + 1] - self.route_ptr[local_index]
        if n_dst.sum() == 0:
            return np.zeros(0, np.int64), np.zeros(self.size, np.int64)
        rep = np.repeat(np.arange(local_index.size), n_dst)
        starts = np.repeat(self.route_ptr[local_index], n_dst)
        within = np.arange(rep.size) - np.repeat(np.cumsum(n_dst) - n_dst, n_dst)
        dst = self.route_dst[starts + within]
        msg = (local_index[rep].astype(np.int64) << 16) | offset[rep].astype(np.int64)
        order = np.argsort(dst, kind="stable")
        return msg[order], np.bincount(dst, minlength=self.size).astype(np.int64)

    def unpack(self, buf: np.ndarray, counts: np.ndarray, first_step: int) -> tuple[np.ndarray, np.ndarray]:
        """Gids and steps of received messages (``counts[r]`` came from rank ``r``)."""
        src_rank = np.repeat(np.arange(self.size), counts)
        local_index = buf >> 16
        steps = (buf & _OFFSET_MASK) + first_step
        gids = np.empty(buf.size, dtype=np.int64)
        for r in np.flatnonzero(counts):
            sel = src_rank == r
            gids[sel] = self.owned_of[r][local_index[sel]]
        return gids, steps


def requests(owner: np.ndarray, needed: np.ndarray, rank: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Remote source gids this rank needs, grouped by owner rank; and their counts."""
    needed = np.unique(needed)
    remote = needed[owner[needed] != rank]
    by_owner = owner[remote]
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
    return ptr, from_rank.astype(np.int64)


def make_router(comm: Comm, owner: np.ndarray, needed: np.ndarray) -> Router:
    """Set up routing (collective): ``needed`` are the source gids of this rank's synapses."""
    size, rank = comm.size, comm.rank
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(size + 1))
    owned_of = [order[bounds[r]:bounds[r + 1]].astype(np.int64) for r in range(size)]
    send, counts = requests(owner, needed, rank, size)
    asked, asked_counts = comm.alltoallv(send, counts)
    ptr, dst = routes(owned_of[rank], asked, asked_counts)
    return Router(rank, size, owned_of, ptr, dst)
