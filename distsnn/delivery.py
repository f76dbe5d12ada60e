"""Spike delivery into the input ring buffer (compiled with numba).

The ring ``ring[R, ports]`` holds int64 fixed-point input (see :mod:`distsnn.synapses`)
for the next ``R`` steps: the input arriving at step ``a`` lives in row ``a % R``. The
engine reads and clears row ``n % R`` when it advances to step ``n``. ``R`` exceeds
both the longest delay and the epoch length, so a row is never written for two
different steps at once. Synapses come from a :class:`distsnn.synapse_table.SynapseTable`
(runs of one source and one delay).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .rng import philox4x32
from .synapse_table import SynapseTable

_MASK = np.uint64(0xFFFFFFFF)


def deliver(gids: np.ndarray, steps: np.ndarray, table: SynapseTable, ring: np.ndarray) -> int:
    """Add every synapse of ``table`` of every spike (source ``gids[i]`` at step
    ``steps[i]``, int64) to the ring row of its arrival step; returns the number of
    synaptic events delivered."""
    return deliver_runs(gids, steps, *table.kernel_args(), ring)


@njit(cache=True)
def deliver_runs(gids, steps, src, src_ptr, run_start, run_len, run_delay, run_kind, run_w, port, w32, w64,
                 ring):
    """:func:`deliver` on the table's arrays (:meth:`SynapseTable.kernel_args`)."""
    events = 0
    for i in range(gids.size):
        events += deliver_one(gids[i], steps[i], src, src_ptr, run_start, run_len, run_delay, run_kind, run_w,
                              port, w32, w64, ring)
    return events


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
        n = run_len[r]
        w = run_w[r]
        kind = run_kind[r]
        if kind == 0:
            for j in range(a, a + n):
                ring[row, port[j]] += w
        elif kind == 1:
            for j in range(n):
                ring[row, port[a + j]] += w32[w + j]
        elif kind == 2:
            for j in range(n):
                ring[row, port[a + j]] += w64[w + j]
        else:
            for j in range(n):
                ring[row, port[a + j]] += w64[w32[w + j]]
        events += n
    return events


def poisson_into_ring(k0, k1, gids, ports, wq, cdf, first, last, ring) -> None:
    """Poisson counts for arrival steps first..last (inclusive) into the ring.

    ``cdf`` is the input's :class:`distsnn.build.ScheduledCdf`: the count of step ``n``
    is drawn from the row in force at step ``n - 1``.
    """
    n = np.arange(first, last + 1, dtype=np.int64)
    seg = np.searchsorted(cdf.first_step, n - 1, side="right") - 1
    _poisson_kernel(k0, k1, gids, ports, wq, cdf.values, seg, first, last, ring)


@njit(cache=True)
def _poisson_kernel(k0, k1, gids, ports, wq, cdfs, seg, first, last, ring):
    # The count of neuron ``gid`` at step ``n`` is the inverse CDF (row seg[n - first]) of
    # the uniform draw ``n`` of row ``gid`` (53 bits, the layout of
    # :func:`distsnn.rng.uniform_at`): a pure function of (seed, input, gid, step).
    R = ring.shape[0]
    kmax = cdfs.shape[1] - 1
    for i in range(gids.size):
        g = gids[i]
        p = ports[i]
        x0 = x1 = x2 = x3 = np.uint64(0)
        for n in range(first, last + 1):
            if n == first or (n & 1) == 0:
                half = np.uint64(n >> 1)
                x0, x1, x2, x3 = philox4x32(g & _MASK, g >> np.uint64(32), half & _MASK,
                                            half >> np.uint64(32), k0, k1)
            if n & 1:
                a, b = x2, x3
            else:
                a, b = x0, x1
            u = ((a >> np.uint64(5)) * 67108864.0 + (b >> np.uint64(6))) * (1.0 / 9007199254740992.0)
            ring[n % R, p] += _count_at_most(cdfs[seg[n - first]], kmax, u) * wq


@njit(cache=True, inline="always")
def _count_at_most(cdf, kmax, u):
    # The inverse CDF: how many of cdf[0..kmax-1] are <= u. A branch-free count over a
    # short table is twice as fast as a search whose exit mispredicts.
    if kmax <= 64:
        k = 0
        for j in range(kmax):
            k += u >= cdf[j]
        return k
    lo, hi = 0, kmax
    while lo < hi:
        mid = (lo + hi) >> 1
        if cdf[mid] <= u:
            lo = mid + 1
        else:
            hi = mid
    return lo
