"""Spike delivery into the input ring buffer, and Poisson input (compiled with numba).

The ring ``ring[R, ports]`` holds int64 fixed-point input (see :mod:`distsnn.synapses`)
for the next ``R`` steps: the input arriving at step ``a`` lives in row ``a % R``. The
engine reads and clears row ``n % R`` when it advances to step ``n``. ``R`` exceeds
both the longest delay and the epoch length, so a row is never written for two
different steps at once. Synapses come from a :class:`distsnn.synapse_table.SynapseTable`
(runs of one source and one delay).

Delivering a batch of spikes (:func:`deliver`) reads, for each spike, the ports of its
runs: thousands of contiguous 4-byte entries at a random place of a table far larger than
the caches, which the hardware prefetcher only follows after the first lines. The ports
of the spike :data:`AHEAD` places further are prefetched while the current one is
delivered (:mod:`distsnn.prefetch`), which makes delivery about 1.7x faster on Brunel's
table. With ``threads > 1`` the ports are split into that many contiguous ranges, one per
thread (each finds its part of a run by binary search: ports ascend within a run), so no
two threads write the same entry. The input is an integer sum, so neither the order nor
the split changes a bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .prefetch import LINE_INT32, prefetch
from .rng import _to_unit, philox4x32
from .synapse_table import SynapseTable
from .threads import split

_MASK = np.uint64(0xFFFFFFFF)
#: Delivery prefetches the ports of the spike this many places ahead (1-3 measured alike).
AHEAD = 2
#: Batches smaller than these stay on one thread (a split costs tens of microseconds).
MIN_SPIKES_PER_SPLIT = 16
MIN_NEURONS_PER_SPLIT = 2048
#: Entries of the guide table that starts each Poisson inverse-CDF search (a power of two,
#: so that the bucket of a draw is exact in floating point).
GUIDE = 256


def deliver(gids: np.ndarray, steps: np.ndarray, table: SynapseTable, ring: np.ndarray, threads: int = 1) -> int:
    """Add every synapse of ``table`` of every spike (source ``gids[i]`` at step
    ``steps[i]``, int64) to the ring row of its arrival step; returns the number of
    synaptic events delivered. ``threads``: split the ports over that many threads
    (:func:`distsnn.threads.split`); the ring comes out the same for every value."""
    args = table.kernel_args()
    if threads > 1 and gids.size >= MIN_SPIKES_PER_SPLIT:
        return sum(split(threads, ring.shape[1], lambda lo, hi: _deliver_ports(gids, steps, *args, ring, lo, hi)))
    return deliver_runs(gids, steps, *args, ring)


@njit(cache=True)
def deliver_runs(gids, steps, src, src_ptr, run_start, run_len, run_delay, run_kind, run_w, port, w32, w64,
                 ring):
    """:func:`deliver` on the table's arrays (:meth:`SynapseTable.kernel_args`), one thread."""
    return _deliver_ports(gids, steps, src, src_ptr, run_start, run_len, run_delay, run_kind, run_w, port, w32,
                          w64, ring, 0, ring.shape[1])


@njit(cache=True, nogil=True)
def _deliver_ports(gids, steps, src, src_ptr, run_start, run_len, run_delay, run_kind, run_w, port, w32, w64,
                   ring, lo, hi):
    # The batch's synapses onto ports lo..hi-1. Each run's part is found by binary search
    # unless the range is the whole row; the lines prefetched are that part's share of
    # the run, assuming ports spread evenly (a hint: it only moves the time).
    whole = lo == 0 and hi == ring.shape[1]
    share_lo, share_hi = lo / max(ring.shape[1], 1), hi / max(ring.shape[1], 1)
    k = np.searchsorted(src, gids)
    R = ring.shape[0]
    events = 0
    for i in range(gids.size):
        ahead = i + AHEAD
        if ahead < gids.size and k[ahead] < src.size and src[k[ahead]] == gids[ahead]:
            for r in range(src_ptr[k[ahead]], src_ptr[k[ahead] + 1]):
                a = run_start[r]
                j0 = a + int(run_len[r] * share_lo)
                for j in range(j0, a + int(run_len[r] * share_hi) + LINE_INT32, LINE_INT32):
                    prefetch(port, j)
        if k[i] == src.size or src[k[i]] != gids[i]:
            continue
        s = steps[i] % R
        for r in range(src_ptr[k[i]], src_ptr[k[i] + 1]):
            row = s + run_delay[r]
            if row >= R:
                row -= R
            a = run_start[r]
            end = a + run_len[r]
            if whole:
                j0, j1 = a, end
            else:
                j0 = a + np.searchsorted(port[a:end], lo)
                j1 = a + np.searchsorted(port[a:end], hi)
            _scatter(ring, row, a, j0, j1, run_kind[r], run_w[r], port, w32, w64)
            events += j1 - j0
    return events


@njit(cache=True, inline="always")
def _scatter(ring, row, a, j0, j1, kind, w, port, w32, w64):
    # Synapses j0..j1-1 of the run that starts at a: the one scatter loop of every
    # delivery path (kinds: synapse_table.CONST, W32, W64, WDICT).
    if kind == 0:
        for j in range(j0, j1):
            ring[row, port[j]] += w
    elif kind == 1:
        for j in range(j0, j1):
            ring[row, port[j]] += w32[w + j - a]
    elif kind == 2:
        for j in range(j0, j1):
            ring[row, port[j]] += w64[w + j - a]
    else:
        for j in range(j0, j1):
            ring[row, port[j]] += w64[w32[w + j - a]]


@njit(cache=True, inline="always")
def deliver_one(g, step, src, src_ptr, run_start, run_len, run_delay, run_kind, run_w, port, w32, w64, ring):
    """One spike of source ``g`` at ``step`` through the table's arrays, for compiled
    callers (a model's epoch loop). The source is found by binary search in ``src``; its
    runs come by ascending delay, each run's ports ascending. Returns the events."""
    k = np.searchsorted(src, g)
    if k == src.size or src[k] != g:
        return 0
    R = ring.shape[0]
    s = step % R
    events = 0
    for r in range(src_ptr[k], src_ptr[k + 1]):
        # delay < R, so one conditional subtraction replaces a division.
        row = s + run_delay[r]
        if row >= R:
            row -= R
        a = run_start[r]
        _scatter(ring, row, a, a, a + run_len[r], run_kind[r], run_w[r], port, w32, w64)
        events += run_len[r]
    return events


def poisson_into_ring(k0, k1, gids, ports, wq, cdf, first, last, ring, threads: int = 1) -> None:
    """Poisson counts for arrival steps first..last (inclusive) into the ring.

    ``cdf`` is the input's :class:`distsnn.build.ScheduledCdf`: the count of step ``n``
    is drawn from the row in force at step ``n - 1``. ``threads``: split the neurons over
    that many threads (the counts are the same for every value).
    """
    if last < first or gids.size == 0:
        return
    n = np.arange(first, last + 1, dtype=np.int64)
    seg = np.searchsorted(cdf.first_step, n - 1, side="right") - 1
    if threads > 1 and gids.size >= MIN_NEURONS_PER_SPLIT:
        split(threads, gids.size, lambda lo, hi: _poisson_kernel(k0, k1, gids, ports, wq, cdf.values, seg, first,
                                                                 last, ring, lo, hi))
    else:
        _poisson_kernel(k0, k1, gids, ports, wq, cdf.values, seg, first, last, ring, 0, gids.size)


@njit(cache=True)
def _guides(cdfs, s0, s1, M):
    # guide[s - s0, b] = #{j < kmax : cdfs[s, j] <= b / M}: where the inverse-CDF search
    # of a draw u in [b / M, (b + 1) / M) may start (rows are non-decreasing).
    kmax = cdfs.shape[1] - 1
    out = np.empty((s1 - s0 + 1, M), np.int64)
    for s in range(s0, s1 + 1):
        k = 0
        for b in range(M):
            x = b / M
            while k < kmax and cdfs[s, k] <= x:
                k += 1
            out[s - s0, b] = k
    return out


@njit(cache=True, nogil=True)
def _poisson_kernel(k0, k1, gids, ports, wq, cdfs, seg, first, last, ring, lo, hi):
    # Neurons lo..hi-1. The count of neuron ``gid`` at step ``n`` is the inverse CDF (row
    # seg[n - first]) of the uniform draw ``n`` of row ``gid`` (53 bits, the layout of
    # :func:`distsnn.rng.uniform_at`): a pure function of (seed, input, gid, step). One
    # Philox block gives the draws of steps 2h and 2h + 1; the blocks of all neurons
    # come first (a loop the compiler vectorises), then the counts, step by step. The
    # count is the number of CDF entries <= u: a guide table of GUIDE buckets gives a
    # lower bound, exact because u * GUIDE is exact, and the walk from there is short.
    R = ring.shape[0]
    m = hi - lo
    M = 1
    while M < GUIDE and 2 * M <= m:
        M *= 2
    guide = _guides(cdfs, seg[0], seg[-1], M)
    ua = np.empty(m)
    ub = np.empty(m)
    for h in range(first >> 1, (last >> 1) + 1):
        half = np.uint64(h)
        for i in range(m):
            g = gids[lo + i]
            x0, x1, x2, x3 = philox4x32(g & _MASK, g >> np.uint64(32), half & _MASK, half >> np.uint64(32), k0, k1)
            ua[i] = _to_unit(x0, x1)
            ub[i] = _to_unit(x2, x3)
        for n in (2 * h, 2 * h + 1):
            if n < first or n > last:
                continue
            us = ua if n == 2 * h else ub
            cdf = cdfs[seg[n - first]]
            start = guide[seg[n - first] - seg[0]]
            row = n % R
            for i in range(m):
                u = us[i]
                k = start[int(u * M)]
                while u >= cdf[k]:     # cdf[kmax] = 1 > u ends the walk
                    k += 1
                ring[row, ports[lo + i]] += k * wq
