"""Keyed Philox streams (distsnn.rng) and the distributions drawn from them.

Layer: golden values (Random123 known-answer vectors), an independent pure-Python
Philox for the documented word layout, and statistics with tolerances derived from the
sample size (5 sigma; the streams are deterministic, so these never flake).
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
import zlib

import numpy as np
import pytest

from distsnn import distributions, rng
from distsnn.distributions import Lognormal, Normal, Uniform

M32 = 0xFFFFFFFF


def philox_ref(ctr, key):
    """Philox4x32-10 written from the Random123 specification, in Python integers."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c3 ^ k1) & M32, p0 & M32
        k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
    return c0, c1, c2, c3


def uniform_ref(key, row, index):
    """The documented layout of draw ``index`` of ``row`` (see the rng module docstring)."""
    half = index >> 1
    x = philox_ref((row & M32, row >> 32, half & M32, half >> 32), key)
    a, b = (x[2], x[3]) if index & 1 else (x[0], x[1])
    return ((a >> 5) * 2**26 + (b >> 6)) / 2.0**53


# Random123's kat_vectors for philox4x32_10: (counter, key, expected output).
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((M32, M32, M32, M32), (M32, M32), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_philox_known_answers(ctr, key, expected):
    got = tuple(int(w) for w in rng.philox4x32(*ctr, *key))
    assert got == expected
    assert philox_ref(ctr, key) == expected  # the reference used below is right too


def test_uniform_follows_documented_layout():
    key = rng.stream_key(987654321, "layout")
    rows = np.array([0, 1, 7, 2**32 - 1, 2**32 + 5, 2**40 + 3], dtype=np.int64)
    counts = 5
    got = rng.uniform(key, rows, counts).reshape(rows.size, counts)
    for r, row in enumerate(rows):
        for i in range(counts):
            assert got[r, i] == uniform_ref(key, int(row), i)
    # Large draw indices use the upper counter word.
    assert rng.uniform_at(key[0], key[1], 3, 2**33 + 1) == uniform_ref(key, 3, 2**33 + 1)


def _blake_key(seed: int, purpose: str) -> tuple[int, int]:
    # The documented rule, written out independently of rng.stream_key.
    word = int.from_bytes(hashlib.blake2b(purpose.encode(), digest_size=8,
                                          key=struct.pack("<Q", seed)).digest(), "little")
    return word % 2**32, word // 2**32


def test_stream_key_is_the_seed_keyed_64_bit_blake2b_of_the_purpose():
    assert rng.stream_key(17, "conn:ee") == _blake_key(17, "conn:ee")
    assert rng.stream_key(rng.SEED_MAX, "x") == _blake_key(2**32 - 1, "x")
    assert rng.stream_key(np.uint32(5), "x") == rng.stream_key(5, "x")
    assert all(0 <= w <= M32 for w in rng.stream_key(3, "poisson:drive"))
    # Golden values: the keys are part of every result; a change here changes every network.
    assert rng.stream_key(0, "conn:a") == (911192205, 1308626754)
    assert rng.stream_key(2024, "poisson:drive") == (568463507, 3265344050)
    assert rng.stream_key(1, "conn:a") != rng.stream_key(0, "conn:a")


def test_purposes_with_equal_crc32_get_different_streams():
    # crc32 (the old key) maps these two names to the same 32-bit word: their projections
    # had identical connectivity. The 64-bit keyed digest separates them.
    assert zlib.crc32(b"conn:zutdocbjiv") == zlib.crc32(b"conn:xvmxlgbdlh")
    assert rng.stream_key(0, "conn:zutdocbjiv") != rng.stream_key(0, "conn:xvmxlgbdlh")
    from distsnn import Network, Simulation
    net = Network(seed=0)
    net.add_population("a", 50)
    net.add_population("b", 50)
    for name in ("zutdocbjiv", "xvmxlgbdlh"):
        net.add_projection("a", "b", {"rule": "fixed_probability", "p": 0.2}, weight=0.1, delay=1.0, name=name)
    table = Simulation(net).long
    # Two projections of the same rule onto the same ports: identical streams would give
    # every one of the ~0.2 x 2500 pairs twice; independent ones about 0.2**2 x 2500 = 100.
    src, port, _, _ = table.expand()
    pairs = list(zip(src.tolist(), port.tolist()))
    doubled = len(pairs) - len(set(pairs))
    assert 50 < doubled < 200


@pytest.mark.parametrize("seed", [-1, 2**32, 1.0, True, "3", None])
def test_seed_out_of_range_rejected(seed):
    pattern = r"Simulation: seed must be an integer in \[0, 4294967295\], got " + re.escape(repr(seed))
    with pytest.raises(ValueError, match=pattern):
        rng.stream_key(seed, "x")


def test_row_draws_independent_of_companions_and_order():
    key = rng.stream_key(42, "independence")
    rows = np.array([5, 3, 9, 1000, 2**35], dtype=np.int64)
    counts = np.array([4, 7, 2, 0, 3])
    alone = {int(r): rng.uniform(key, [r], c) for r, c in zip(rows, counts)}
    together = rng.uniform(key, rows, counts)
    parts = np.split(together, np.cumsum(counts)[:-1])
    for r, part in zip(rows, parts):
        np.testing.assert_array_equal(part, alone[int(r)])
    perm = np.array([4, 2, 0, 3, 1])
    shuffled = np.split(rng.uniform(key, rows[perm], counts[perm]), np.cumsum(counts[perm])[:-1])
    for r, part in zip(rows[perm], shuffled):
        np.testing.assert_array_equal(part, alone[int(r)])
    # The first draws of a row do not depend on how many are asked for.
    np.testing.assert_array_equal(rng.uniform(key, [3], 20)[:7], alone[3])


def test_normal_rows_independent_with_redraw_bounds():
    key = rng.stream_key(7, "normal-independence")
    rows = np.array([11, 2, 30], dtype=np.int64)
    counts = np.array([50, 20, 35])
    together = rng.normal(key, rows, counts, -0.3, 0.8)
    parts = np.split(together, np.cumsum(counts)[:-1])
    for r, c, part in zip(rows, counts, parts):
        np.testing.assert_array_equal(part, rng.normal(key, [r], c, -0.3, 0.8))
    assert together.min() >= -0.3 and together.max() <= 0.8


def test_streams_differ_by_purpose_and_seed():
    rows = np.arange(10)
    base = rng.uniform(rng.stream_key(1, "conn:a"), rows, 8)
    np.testing.assert_array_equal(base, rng.uniform(rng.stream_key(1, "conn:a"), rows, 8))
    for other in (rng.stream_key(1, "conn:b"), rng.stream_key(2, "conn:a"), rng.stream_key(0, "conn:a")):
        x = rng.uniform(other, rows, 8)
        # Two independent 53-bit streams share a value with probability ~ 2**-53 per draw.
        assert not np.any(x == base)
    # Rows are distinct streams as well.
    assert not np.any(rng.uniform(rng.stream_key(1, "conn:a"), rows + 10, 8) == base)


N_STAT = 400_000


def test_uniform_moments_and_range():
    u = rng.uniform(rng.stream_key(2024, "stat:uniform"), np.arange(400), N_STAT // 400)
    n = u.size
    assert u.min() >= 0.0 and u.max() < 1.0
    # 53-bit resolution: every value is a multiple of 2**-53.
    scaled = u * 2.0**53
    assert np.array_equal(scaled, np.floor(scaled))
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    # Var((U - 1/2)^2) = 1/80 - 1/144 = 1/180.
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / n)
    # Each tenth of [0, 1) holds a binomial share.
    hist = np.bincount((u * 10).astype(int), minlength=10)
    assert np.all(np.abs(hist - n / 10) < 5 * math.sqrt(n * 0.1 * 0.9))
    # Consecutive draws of one row are uncorrelated.
    rows = u.reshape(400, -1)
    r = np.corrcoef(rows[:, :-1].ravel(), rows[:, 1:].ravel())[0, 1]
    assert abs(r) < 5 / math.sqrt(rows[:, 1:].size)


def test_normal_moments():
    z = rng.normal(rng.stream_key(2024, "stat:normal"), np.arange(400), N_STAT // 400)
    n = z.size
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2.0 / n)  # Var(Z^2) = 2
    inside = np.mean(np.abs(z) < 1.0)
    p1 = math.erf(1 / math.sqrt(2))
    assert abs(inside - p1) < 5 * math.sqrt(p1 * (1 - p1) / n)
    # Skewness 0 (Var(Z^3) = 15) and kurtosis 3 (Var(Z^4) = 96).
    assert abs(np.mean(z**3)) < 5 * math.sqrt(15 / n)
    assert abs(np.mean(z**4) - 3.0) < 5 * math.sqrt(96 / n)


def _phi(x):
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) if math.isfinite(x) else 0.0


def _Phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


@pytest.mark.parametrize("low,high", [(-0.5, 1.0), (1.0, math.inf), (-math.inf, -2.0)])
def test_normal_redraw_bounds_and_truncated_mean(low, high):
    z = rng.normal(rng.stream_key(5, "stat:trunc"), np.arange(200), 500, low, high)
    assert z.min() >= low and z.max() <= high
    mass = _Phi(high) - _Phi(low)
    mean = (_phi(low) - _phi(high)) / mass
    second = 1 + ((low * _phi(low) if math.isfinite(low) else 0.0)
                  - (high * _phi(high) if math.isfinite(high) else 0.0)) / mass
    sd = math.sqrt(second - mean**2)
    assert abs(z.mean() - mean) < 5 * sd / math.sqrt(z.size)


def test_distribution_sampling_moments_and_bounds():
    rows = np.arange(300)
    key = rng.stream_key(9, "weight:p")
    n = rows.size * 400
    u = distributions.sample(Uniform(-2.0, 6.0), key, rows, 400)
    assert u.min() >= -2.0 and u.max() < 6.0
    assert abs(u.mean() - 2.0) < 5 * 8.0 / math.sqrt(12 * n)
    x = distributions.sample(Normal(3.0, 0.5, low=2.5, high=10.0), key, rows, 400)
    assert x.min() >= 2.5 and x.max() <= 10.0
    a = (2.5 - 3.0) / 0.5
    mean = 3.0 + 0.5 * _phi(a) / (1 - _Phi(a))
    assert abs(x.mean() - mean) < 5 * 0.5 / math.sqrt(n)
    ln = distributions.sample(Lognormal(0.2, 0.3), key, rows, 400)
    logs = np.log(ln)
    assert abs(logs.mean() - 0.2) < 5 * 0.3 / math.sqrt(n)
    assert abs(logs.std() - 0.3) < 5 * 0.3 * math.sqrt(0.5 / n)
    np.testing.assert_array_equal(distributions.sample(distributions.Constant(1.5), key, rows, 2),
                                  np.full(600, 1.5))
    # Sampling a subset of rows gives those rows' values.
    sub = distributions.sample(Uniform(-2.0, 6.0), key, rows[::7], 400)
    np.testing.assert_array_equal(sub, u.reshape(300, 400)[::7].ravel())
