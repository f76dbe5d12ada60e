"""Compiled loops of the spatial connector (:mod:`distsnn.spatial`): kernels of
distance, masks, source cells, pairwise and fixed in-degree generation, expected counts.

Kernel codes: 0 constant, 1 gaussian, 2 exponential, 3 linear, with parameters ``prm =
(p0, sigma, mean, beta, slope)``. Mask codes: 0 none, 1 radius, 2 doughnut, 3 box, with
``mprm = (r_in, r_out, lower left (3), upper right (3))``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .rng import uniform_at


@njit(cache=True, inline="always")
def kernel_at(code, prm, d):
    if code == 0:
        p = prm[0]
    elif code == 1:
        z = (d - prm[2]) / prm[1]
        p = prm[0] * math.exp(-0.5 * z * z)
    elif code == 2:
        p = prm[0] * math.exp(-d / prm[3])
    else:
        p = prm[0] + prm[4] * d
    return min(1.0, max(0.0, p))


@njit(cache=True)
def kernel_values(code, prm, d):
    out = np.empty(d.size)
    flat = d.ravel()
    for i in range(flat.size):
        out[i] = kernel_at(code, prm, flat[i])
    return out.reshape(d.shape)


@njit(cache=True, inline="always")
def displace(a, b, wrap, ext, out):
    # out <- a - b (the nearest periodic image when wrapped); returns |a - b|.
    s = 0.0
    for j in range(a.size):
        x = a[j] - b[j]
        if wrap:
            x -= ext[j] * np.floor(x / ext[j] + 0.5)
        out[j] = x
        s += x * x
    return math.sqrt(s)


@njit(cache=True, inline="always")
def inside(mcode, mprm, disp, d):
    # Masks centred on the target; disp = source - target. mprm: r_in, r_out, lower
    # left (3), upper right (3).
    if mcode == 0:
        return True
    if mcode == 1:
        return d <= mprm[1]
    if mcode == 2:
        return mprm[0] <= d <= mprm[1]
    for j in range(disp.size):
        if disp[j] < mprm[2 + j] or disp[j] > mprm[5 + j]:
            return False
    return True


@njit(cache=True, inline="always")
def candidates(tp, lo, csize, ncell, cell_ptr, cell_src, wrap, buf, idx, nidx):
    # The sources of the target's cell and its neighbours (every source when there is
    # one cell), ascending: the order in which every rule tries them.
    for d in range(3):
        if ncell[d] <= 3:
            nidx[d] = ncell[d]
            for q in range(ncell[d]):
                idx[d, q] = q
            continue
        c0 = np.int64(np.floor((tp[d] - lo[d]) / csize[d])) if d < tp.size else 0
        nidx[d] = 0
        for q in range(c0 - 1, c0 + 2):
            if wrap:
                q = q % ncell[d]
            elif q < 0 or q >= ncell[d]:
                continue
            idx[d, nidx[d]] = q
            nidx[d] += 1
    m = 0
    for a in range(nidx[0]):
        for b in range(nidx[1]):
            for c in range(nidx[2]):
                cell = (idx[0, a] * ncell[1] + idx[1, b]) * ncell[2] + idx[2, c]
                for q in range(cell_ptr[cell], cell_ptr[cell + 1]):
                    buf[m] = cell_src[q]
                    m += 1
    if nidx[0] * nidx[1] * nidx[2] > 1:
        buf[:m] = np.sort(buf[:m])
    return m


@njit(cache=True)
def pairwise_rows(k0, k1, rows, tpos, spos, exclude, wrap, ext, code, prm, mcode, mprm, lo, csize, ncell,
                  cell_ptr, cell_src, fill, out_pre, out_d, counts):
    # Pairwise: each candidate source j is connected when draw j of the target's row is
    # below p(d). Sources are bucketed in cells at least as wide as the mask's reach, so
    # the synapses and their order are those of trying every source.
    pos = 0
    disp = np.empty(spos.shape[1])
    buf = np.empty(spos.shape[0], dtype=np.int64)
    idx = np.empty((3, 3), dtype=np.int64)
    nidx = np.empty(3, dtype=np.int64)
    for r in range(rows.size):
        m = candidates(tpos[r], lo, csize, ncell, cell_ptr, cell_src, wrap, buf, idx, nidx)
        got = 0
        for q in range(m):
            j = buf[q]
            if j == exclude[r]:
                continue
            dd = displace(spos[j], tpos[r], wrap, ext, disp)
            if not inside(mcode, mprm, disp, dd):
                continue
            if uniform_at(k0, k1, rows[r], j) < kernel_at(code, prm, dd):
                if fill:
                    out_pre[pos] = j
                    out_d[pos] = dd
                pos += 1
                got += 1
        counts[r] = got


@njit(cache=True)
def indegree_rows(k0, k1, rows, tpos, spos, exclude, wrap, ext, code, prm, mcode, mprm, lo, csize, ncell,
                   cell_ptr, cell_src, k, multapses, out_pre, out_d):
    # Fixed in-degree: draw i of the target's row picks a source with probability
    # proportional to p(d) among the candidates (inverse CDF over their cumulative
    # weights); without multapses a repeat is redrawn. Returns the first row without
    # enough sources to draw from, or -1.
    disp = np.empty(spos.shape[1])
    buf = np.empty(spos.shape[0], dtype=np.int64)
    idx = np.empty((3, 3), dtype=np.int64)
    nidx = np.empty(3, dtype=np.int64)
    cum = np.empty(spos.shape[0])
    dist = np.empty(spos.shape[0])
    taken = np.zeros(spos.shape[0], dtype=np.bool_)
    for r in range(rows.size):
        m = candidates(tpos[r], lo, csize, ncell, cell_ptr, cell_src, wrap, buf, idx, nidx)
        total = 0.0
        n_pos = 0
        for q in range(m):
            j = buf[q]
            w = 0.0
            dd = displace(spos[j], tpos[r], wrap, ext, disp)
            if j != exclude[r] and inside(mcode, mprm, disp, dd):
                w = kernel_at(code, prm, dd)
            if w > 0.0:
                n_pos += 1
            total += w
            cum[q] = total
            dist[q] = dd
        if k > 0 and (n_pos == 0 or (not multapses and n_pos < k)):
            return r
        c = 0
        for i in range(k):
            while True:
                u = uniform_at(k0, k1, rows[r], c) * total
                c += 1
                q = np.searchsorted(cum[:m], u, side="right")
                if q >= m:
                    q = m - 1
                while cum[q] - (cum[q - 1] if q > 0 else 0.0) <= 0.0:   # skip zero weights
                    q -= 1
                if multapses or not taken[buf[q]]:
                    break
            taken[buf[q]] = True
            out_pre[r * k + i] = buf[q]
            out_d[r * k + i] = dist[q]
        for i in range(k):
            taken[out_pre[r * k + i]] = False
    return -1


#: Largest number of cells per axis when sources are bucketed (also at most about
#: n_pre ** (1 / dim), so cells hold a few sources each).
MAX_CELLS = 256


def buckets(spos: np.ndarray, lo: np.ndarray, ext: np.ndarray, reach: np.ndarray | None):
    """Cells (3 axes; unused axes one cell) at least ``reach`` wide, and the sources of
    each cell in ascending order (CSR)."""
    n, dim = spos.shape
    ncell = np.ones(3, dtype=np.int64)
    if reach is not None:
        cap = max(1, min(MAX_CELLS, int(round(n ** (1.0 / dim)))))
        # Slightly wider than the reach, so that rounding never hides a neighbour.
        ncell[:dim] = np.clip(np.floor(ext / (reach * (1.0 + 1e-6))), 1, cap).astype(np.int64)
    csize = np.ones(3)
    csize[:dim] = ext / ncell[:dim]
    lo3 = np.zeros(3)
    lo3[:dim] = lo
    cell = np.zeros(n, dtype=np.int64)
    for d in range(dim):
        c = np.clip(np.floor((spos[:, d] - lo3[d]) / csize[d]).astype(np.int64), 0, ncell[d] - 1)
        cell = cell * ncell[d] + c
    for d in range(dim, 3):
        cell = cell * ncell[d]
    order = np.argsort(cell, kind="stable")
    ptr = np.zeros(int(np.prod(ncell)) + 1, dtype=np.int64)
    np.cumsum(np.bincount(cell, minlength=ptr.size - 1), out=ptr[1:])
    return lo3, csize, ncell, ptr, order.astype(np.int64)


#: Above this many (source, target) pairs, expected counts sum every stride-th source only.
EXPECTED_MAX_PAIRS = 50_000_000


@njit(cache=True)
def expected_chunks(spos, tpos, same, autapses, wrap, ext, code, prm, mcode, mprm, chunk, na, nb, stride, k):
    # Sum of p over the pairs (k < 0), or, for a fixed in-degree k, k p / sum(p) per
    # target; above EXPECTED_MAX_PAIRS from every stride-th source only.
    out = np.zeros((na, nb))
    disp = np.empty(spos.shape[1])
    row = np.zeros(na)
    for t in range(tpos.shape[0]):
        row[:] = 0.0
        # A scrambled residue per target: a plain t % stride pairs mirror images.
        first = (((t * 2654435761) % 4294967296) >> 16) % stride
        for j in range(first, spos.shape[0], stride):
            if same and j == t:
                continue
            d = displace(spos[j], tpos[t], wrap, ext, disp)
            if inside(mcode, mprm, disp, d):
                row[j // chunk] += stride * kernel_at(code, prm, d)
        # The self pair is counted exactly: it would weigh stride times in the sample.
        if same and autapses:
            disp[:] = 0.0
            if inside(mcode, mprm, disp, 0.0):
                row[t // chunk] += kernel_at(code, prm, 0.0)
        if k >= 0:
            total = row.sum()
            if total > 0:
                row *= k / total
        out[:, t // chunk] += row
    return out


__all__ = ["kernel_at", "kernel_values", "displace", "inside", "candidates", "pairwise_rows", "indegree_rows",
           "buckets", "expected_chunks", "MAX_CELLS", "EXPECTED_MAX_PAIRS"]
