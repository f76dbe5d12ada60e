"""Counter-based random streams keyed by (seed, purpose, gid).

Every random number in distsnn is a pure function of ``(seed, purpose, row, index)``:
the Philox4x32-10 block cipher of Salmon et al. (2011, "Parallel random numbers: as
easy as 1, 2, 3") maps a 128-bit counter to 128 random bits under a 64-bit key. The
key is the 64-bit BLAKE2b digest of the purpose string keyed by the seed (all 64 key
bits, as two 32-bit words; :func:`stream_key`), and the counter is ``(row, index)``
where ``row`` is
a global neuron id (the target for connectivity and weights, the receiving neuron for
Poisson input). No generator carries state between calls, so a draw does not depend
on which rank makes it, in which order, or how many other draws were made before:
the property that makes results independent of the number of ranks and of the
partition (PyNN's ``parallel_safe``, Arbor's gid-seeded recipes).

Why a 64-bit keyed hash: with a 32-bit hash of the purpose (crc32 in distsnn 0.1.0) two
projections with different names could share a stream (``zutdocbjiv`` and
``xvmxlgbdlh`` did: identical connectivity); among the purposes of one network a
64-bit digest collides with probability about n**2 / 2**65 (1e-11 for 10,000 names).

Layout of a 53-bit uniform draw ``index`` of ``row``: counter words
``(row & 0xffffffff, row >> 32, (index >> 1) & 0xffffffff, index >> 33)``; even indices
take output words 0 and 1, odd indices words 2 and 3.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numba import njit

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)

SEED_MAX = 2**32 - 1


@njit(cache=True, inline="always")
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counter (c0..c3) under key (k0, k1); 32-bit words in uint64."""
    c0 = np.uint64(c0)
    c1 = np.uint64(c1)
    c2 = np.uint64(c2)
    c3 = np.uint64(c3)
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        n0 = ((p1 >> _S32) ^ c1 ^ k0) & _MASK
        n2 = ((p0 >> _S32) ^ c3 ^ k1) & _MASK
        c1 = p1 & _MASK
        c3 = p0 & _MASK
        c0 = n0
        c2 = n2
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return c0, c1, c2, c3


@njit(cache=True, inline="always")
def _to_unit(a, b):
    # 53 random bits -> [0, 1), as numpy's random_standard_uniform does.
    return ((a >> np.uint64(5)) * 67108864.0 + (b >> np.uint64(6))) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def uniform_at(k0, k1, row, index):
    """One uniform draw in [0, 1) for (key, row, index)."""
    row = np.uint64(row)
    half = np.uint64(index) >> np.uint64(1)
    x0, x1, x2, x3 = philox4x32(row & _MASK, row >> _S32, half & _MASK, half >> _S32, k0, k1)
    if np.uint64(index) & np.uint64(1):
        return _to_unit(x2, x3)
    return _to_unit(x0, x1)


@njit(cache=True, inline="always")
def normal_at(k0, k1, row, index):
    """One standard normal for (key, row, index), by Box-Muller on draws 2i and 2i+1."""
    u1 = uniform_at(k0, k1, row, np.uint64(2) * np.uint64(index))
    u2 = uniform_at(k0, k1, row, np.uint64(2) * np.uint64(index) + np.uint64(1))
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


@njit(cache=True)
def _uniform_grid(k0, k1, rows, counts, offsets, out):
    for r in range(rows.size):
        base = offsets[r]
        for i in range(counts[r]):
            out[base + i] = uniform_at(k0, k1, rows[r], i)


@njit(cache=True)
def _normal_grid(k0, k1, rows, counts, offsets, low, high, out):
    # Out-of-bounds values are redrawn (NEST's ``redraw``): the i-th accepted value of a
    # row is a function of the row alone, whatever other rows are drawn with it.
    for r in range(rows.size):
        base = offsets[r]
        j = 0
        for i in range(counts[r]):
            while True:
                z = normal_at(k0, k1, rows[r], j)
                j += 1
                if low <= z <= high:
                    break
            out[base + i] = z


def stream_key(seed: int, purpose: str) -> tuple[int, int]:
    """The Philox key ``(k0, k1)`` of a stream: the low and high 32-bit words of the
    64-bit BLAKE2b digest of ``purpose`` (UTF-8) keyed by ``seed`` (8 bytes, little
    endian). Stable across platforms and Python versions."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"Simulation: seed must be an integer in [0, {SEED_MAX}], got {seed!r}")
    digest = hashlib.blake2b(purpose.encode("utf-8"), digest_size=8, key=int(seed).to_bytes(8, "little"))
    word = int.from_bytes(digest.digest(), "little")
    return word & 0xFFFFFFFF, word >> 32


def _row_layout(rows: np.ndarray, counts: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = np.ascontiguousarray(rows, dtype=np.uint64)
    counts = np.broadcast_to(np.asarray(counts, dtype=np.int64), rows.shape).copy()
    offsets = np.zeros(rows.size, dtype=np.int64)
    if rows.size:
        np.cumsum(counts[:-1], out=offsets[1:])
    return rows, counts, offsets


def uniform(key: tuple[int, int], rows: np.ndarray, counts: np.ndarray | int) -> np.ndarray:
    """Draws 0..counts[r]-1 of each row, concatenated row after row, in [0, 1)."""
    rows, counts, offsets = _row_layout(rows, counts)
    out = np.empty(int(counts.sum()), dtype=np.float64)
    _uniform_grid(key[0], key[1], rows, counts, offsets, out)
    return out


def normal(key: tuple[int, int], rows: np.ndarray, counts: np.ndarray | int,
           low: float = -np.inf, high: float = np.inf) -> np.ndarray:
    """Standard normals, ``counts[r]`` per row, redrawn until inside [low, high]."""
    rows, counts, offsets = _row_layout(rows, counts)
    out = np.empty(int(counts.sum()), dtype=np.float64)
    _normal_grid(key[0], key[1], rows, counts, offsets, float(low), float(high), out)
    return out
