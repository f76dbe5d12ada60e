"""The slot layout of the one-collective spike exchange (:class:`distsnn.comm.mpi.SlotExchanger`).

Every pair of ranks that may talk reserves a *slot* of int64 words in the sender's send
buffer and in the receiver's receive buffer: word 0 is the count, then as many items as
fit. Both ends size a pair's slot from the counts that pair has carried, by the same rule
(:func:`next_slot`), so they always agree without exchanging sizes. The compiled loops
here fill and read the buffers without Python between the ranks; no MPI here.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Words reserved per pair at first, the count included.
MIN_SLOT = 16
#: Slots are multiples of this many words.
SLOT_ROUND = 16


@njit(cache=True)
def next_slot(slot: int, count: int) -> int:
    """The slot (words, count included) of a pair after a call that carried ``count``
    items in ``slot`` words: 1.25x the need (rounded up to ``SLOT_ROUND`` words, at least
    ``MIN_SLOT``) when the need outgrew the slot or fell below half of it, else unchanged
    (a band of 2.5x in which Poisson-noisy traffic causes no change)."""
    need = count + 1
    if need > slot or (2 * need < slot and slot > MIN_SLOT):
        want = need + need // 4
        return max(MIN_SLOT, -(-want // SLOT_ROUND) * SLOT_ROUND)
    return slot


@njit(cache=True)
def fill(send, counts, sdispl, sslot, sbuf):
    """Write each pair's count and the items that fit into ``sbuf``; returns the number of
    pairs that overflow, or -1 if items go to a rank without a slot."""
    start = 0
    over = 0
    for r in range(counts.size):
        c = counts[r]
        if sslot[r] > 0:
            at = sdispl[r]
            sbuf[at] = c
            k = min(c, sslot[r] - 1)
            for i in range(k):
                sbuf[at + 1 + i] = send[start + i]
            if c > k:
                over += 1
        elif c > 0:
            return -1
        start += c
    return over


@njit(cache=True)
def extract(rbuf, rdispl, rslot, rcounts):
    """The items received (rank order) with room left for each pair's overflow, and the
    number of pairs that overflowed; ``rcounts`` gets each pair's count."""
    total = 0
    over = 0
    for r in range(rslot.size):
        c = rbuf[rdispl[r]] if rslot[r] > 0 else 0
        rcounts[r] = c
        total += c
        if c > rslot[r] - 1 and rslot[r] > 0:
            over += 1
    out = np.empty(total, np.int64)
    pos = 0
    for r in range(rslot.size):
        if rslot[r] > 0:
            k = min(rcounts[r], rslot[r] - 1)
            at = rdispl[r] + 1
            for i in range(k):
                out[pos + i] = rbuf[at + i]
            pos += rcounts[r]
    return out, over


@njit(cache=True)
def resize(slots, used):
    """Apply :func:`next_slot` to every pair with a slot; True if any changed."""
    changed = False
    for r in range(slots.size):
        if slots[r] > 0:
            new = next_slot(slots[r], used[r])
            if new != slots[r]:
                slots[r] = new
                changed = True
    return changed


def displacements(slots: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(slots)[:-1])).astype(np.int64)


def overflow(slots: np.ndarray, counts: np.ndarray) -> list[tuple[int, int, int]]:
    """``(rank, lo, hi)`` for every pair whose ``counts`` items do not fit its slot (the
    first word is the count): the items ``lo:hi`` of the packed items, which go point to
    point. The sender and the receiver compute the same ranges from the same count."""
    first = np.cumsum(counts) - counts
    return [(int(r), int(first[r] + slots[r] - 1), int(first[r] + counts[r]))
            for r in np.flatnonzero((slots > 0) & (counts > slots - 1))]
