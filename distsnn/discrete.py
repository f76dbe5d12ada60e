"""Keyed draws from discrete distributions: binomial and equal-cell multinomial.

Both are exact inversions of keyed uniforms (:mod:`distsnn.rng`), so a count depends
only on (seed, purpose, row) and not on who draws it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .rng import uniform_at


#: Rows of the per-target count draws of FixedTotalNumber: above every gid, so they never
#: meet the rows (target gids) of the source draws in the same stream.
COUNT_ROW = np.uint64(1) << np.uint64(63)


@njit(cache=True)
def binomial_at(u, n, p):
    """Binomial(n, p) at the uniform u in [0, 1)."""
    # Inversion of Binomial(n, p) at u, visiting the support outward from the mode
    # (m, m+1, m-1, m+2, ...): any fixed order of the support inverts to the exact law,
    # and this one needs O(sqrt(n p)) pmf terms, each from its neighbour by a ratio.
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    m = min(n, np.int64((n + 1) * p))
    pm = math.exp(math.lgamma(n + 1.0) - math.lgamma(m + 1.0) - math.lgamma(n - m + 1.0)
                  + m * math.log(p) + (n - m) * math.log1p(-p))
    r = p / (1.0 - p)
    acc = pm
    if u < acc:
        return m
    lo, hi, plo, phi = m, m, pm, pm
    while True:
        if hi < n:
            phi = phi * (n - hi) / (hi + 1.0) * r
            hi += 1
            acc += phi
            if u < acc:
                return hi
        if lo > 0:
            plo = plo * lo / ((n - lo + 1.0) * r)
            lo -= 1
            acc += plo
            if u < acc:
                return lo
        # u beyond the mass summed in floating point (|1 - acc| ~ 1e-16): the mode.
        if (hi >= n or phi < 1e-300) and (lo <= 0 or plo < 1e-300):
            return m


@njit(cache=True)
def multinomial_equal(k0, k1, total, n_cells, row0):
    """Multinomial(total; n_cells equal cells) as successive conditional binomials, cell
    t from the uniform (row0 | t, 0) of the stream: every caller gets the same vector."""
    out = np.zeros(n_cells, dtype=np.int64)
    left = total
    for t in range(n_cells):
        if left == 0:
            break
        u = uniform_at(k0, k1, row0 | np.uint64(t), 0)
        k = binomial_at(u, left, 1.0 / (n_cells - t))
        out[t] = k
        left -= k
    return out


__all__ = ["COUNT_ROW", "binomial_at", "multinomial_equal"]
