"""distsnn.vmath.exp: accuracy against the C library, special values, and the same bits in
a vectorised loop, its scalar remainder and a loop of one element (what makes lif_cond's
vectorised step independent of a neuron's position, hence of the partition)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from distsnn import vmath


@njit(error_model="numpy")
def _exp_loop(x, out):
    # A plain loop over the array: LLVM vectorises it, with a scalar remainder.
    for i in range(x.size):
        out[i] = vmath.exp(x[i])


def _exp(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    _exp_loop(x, out)
    return out


@pytest.mark.parametrize("lo,hi", [(-1.0, 0.0), (-0.4, 0.4), (-50.0, 0.0), (-700.0, 700.0)])
def test_within_one_ulp_of_the_c_library(lo, hi):
    x = np.random.default_rng(1).uniform(lo, hi, 200_001)
    got, ref = _exp(x), np.exp(x)
    ulps = np.abs(got - ref) / np.spacing(ref)
    assert ulps.max() <= 1.0
    # not a copy of np.exp: it is a different (fdlibm) algorithm that rounds differently
    # now and then, which is why lif_cond's V_m may differ from before by an ulp
    assert 0.0 < np.mean(got != ref) < 0.2


def test_special_values_and_the_ends_of_the_range():
    x = np.array([0.0, -0.0, 1.0, -1.0, 709.78, 709.79, 710.5, 1e308, np.inf, -745.1, -745.2, -800.0, -np.inf,
                  np.nan, 1e-300, -1e-300, -708.5, -740.0])
    with np.errstate(over="ignore"):
        ref = np.exp(x)
    got = _exp(x)
    assert got[0] == got[1] == 1.0
    assert np.isinf(got[5:9]).all() and got[5] > 0
    assert (got[10:13] == 0.0).all() and got[9] == 5e-324       # the smallest subnormal
    assert np.isnan(got[13])
    assert got[14] == got[15] == 1.0
    # the subnormal results (-740) round once, like the C library's
    np.testing.assert_array_equal(got[16:], ref[16:])
    np.testing.assert_allclose(got[[2, 3, 4]], ref[[2, 3, 4]], rtol=2.3e-16, atol=0.0)


def test_same_bits_in_vector_lanes_remainders_and_single_calls():
    x = np.random.default_rng(2).uniform(-3.0, 0.5, 4099)
    whole = _exp(x)
    for n in range(1, 40):          # every remainder length of 8- and 16-wide loops, and more
        np.testing.assert_array_equal(_exp(x[:n]), whole[:n])
        np.testing.assert_array_equal(_exp(x[-n:]), whole[-n:])
    one = np.empty(1)
    for i in range(0, x.size, 37):
        _exp_loop(x[i:i + 1], one)
        assert one[0] == whole[i]
