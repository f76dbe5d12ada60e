"""The rules that turn ms into steps: nearest step with halves up, or up (refractory, off-grid
spike times), after an absolute tolerance of 1e-9 steps (plus the division's few ulps)."""

from __future__ import annotations

import numpy as np
import pytest

from distsnn import timegrid


@pytest.mark.parametrize("ms,dt,steps", [
    (1.5, 0.1, 15),      # 1.5 / 0.1 = 14.999999999999998 in floating point
    (0.3, 0.1, 3),       # 2.9999999999999996
    (0.7, 0.1, 7),       # 6.999999999999999
    (0.14, 0.1, 1),      # nearest
    (0.16, 0.1, 2),
    (0.15, 0.1, 2),      # a half (1.4999999999999998 in floating point) goes up
    (0.05, 0.1, 1),      # 0.5 goes up, not to even
    (0.25, 0.1, 3),      # 2.5 goes up, not to even (banker's rounding would give 2)
    (2.5, 1.0, 3),
    (0.5, 1.0, 1),
    (0.149, 0.1, 1),     # just below a half stays down
    (0.0, 0.1, 0),
    (1000.0, 0.1, 10000),
    (3.0, 0.25, 12),
])
def test_to_steps_rounding_rule(ms, dt, steps):
    got = timegrid.to_steps(ms, dt)
    assert got.dtype == np.int64
    assert int(got) == steps


def test_to_steps_vectorised_and_halves_beyond_slack_are_not_absorbed():
    ms = np.array([0.1, 0.15, 0.2, 1.5, 2.05, 0.1449999])
    np.testing.assert_array_equal(timegrid.to_steps(ms, 0.1), [1, 2, 2, 15, 21, 1])
    # The slack is 1e-9 steps: a value 1e-6 steps below a half is not pushed up.
    assert int(timegrid.to_steps(0.15 - 1e-7, 0.1)) == 1


@pytest.mark.parametrize("ms,dt,steps", [
    (1e8, 0.1, 1_000_000_000),            # 999999999.9999999 steps in floating point
    (1e8 + 0.05, 0.1, 1_000_000_001),     # a half at 1e9 steps still goes up
    (1e8 - 0.05, 0.1, 1_000_000_000),
    (1e8 + 0.04, 0.1, 1_000_000_000),
    (1e8 + 0.06, 0.1, 1_000_000_001),
    (1000000.049, 0.1, 10_000_000),       # 0.49 of a step: down (a relative slack pushed it up)
    (1000000.05, 0.1, 10_000_001),
    (123456789.3, 0.1, 1_234_567_893),
    (2.0 ** 40 * 0.25, 0.25, 2 ** 40),
])
def test_to_steps_at_a_billion_steps_and_beyond(ms, dt, steps):
    assert int(timegrid.to_steps(ms, dt)) == steps


def test_tolerance_is_bounded_in_steps():
    # Far below the distance to the next half at any realistic step count.
    x = np.array([1.0, 1e6, 1e9, 1e12])
    tol = timegrid._steps_and_tol(x * 0.1, 0.1)[1]
    assert tol[0] < 1.01e-9 and tol[1] < 3e-9 and tol[2] < 1e-6 and tol[3] < 1e-3


@pytest.mark.parametrize("ms,dt,steps", [
    (2.0, 0.1, 20), (1.1, 0.1, 11),        # 11.000000000000002: a whole step, not 12
    (0.3, 0.1, 3), (2.3, 0.1, 23),        # 22.999999999999996
    (2.05, 0.1, 21), (2.01, 0.1, 21), (2.099, 0.1, 21), (0.0, 0.1, 0), (0.01, 0.1, 1),
    (1e8 + 0.01, 0.1, 1_000_000_001), (1e8, 0.1, 1_000_000_000),
])
def test_steps_up(ms, dt, steps):
    got = timegrid.steps_up(ms, dt)
    assert got.dtype == np.int64 and int(got) == steps


def test_on_grid_and_delay_steps():
    np.testing.assert_array_equal(timegrid.on_grid([0.1, 0.3, 1.1, 0.15, 1.0 + 1e-7, 1e8], 0.1),
                                  [True, True, True, False, False, True])
    np.testing.assert_array_equal(timegrid.delay_steps([0.01, 0.04, 0.05, 0.1, 0.14, 0.15], 0.1),
                                  [1, 1, 1, 1, 1, 2])


def test_to_ms_is_clean():
    assert timegrid.to_ms(102, 0.1) == 10.2 and repr(timegrid.to_ms(102, 0.1)) == "10.2"
    assert timegrid.to_ms(1_000_000_000, 0.1) == 1e8
    np.testing.assert_array_equal(timegrid.to_ms(np.array([3, 7]), 0.1), [0.3, 0.7])


def test_check_grid_warns_with_the_value_in_effect_or_raises_when_strict():
    with pytest.warns(timegrid.TimeGridWarning,
                      match=r"^Projection 'p': delay = 1 ms is not a multiple of dt = 0.3 ms: rounded to the "
                            r"nearest step, it takes effect as 0.9 ms \(3 steps\)$"):
        timegrid.check_grid("Projection 'p'", "delay", 1.0, 0.3, strict=False)
    with pytest.warns(timegrid.TimeGridWarning, match=r"delay = 0.45 ms .* takes effect as 0.6 ms \(2 steps\)"):
        timegrid.check_grid("Projection 'p'", "delay", 0.45, 0.3, strict=False)
    with pytest.warns(timegrid.TimeGridWarning, match=r"delay = 0.04 ms .*\(2 values like it\): rounded to the "
                                                      r"nearest step and raised to 1 step, it takes effect as "
                                                      r"0.1 ms \(1 step\)"):
        timegrid.check_grid("Projection 'p'", "delay", [0.2, 0.04, 0.03], 0.1, strict=False, min_steps=1)
    with pytest.warns(timegrid.TimeGridWarning, match=r"t_ref = 2.01 ms .*rounded up, it takes effect as 2.1 ms"):
        timegrid.check_grid("Population 'n'", "t_ref", 2.01, 0.1, strict=False, up=True)
    with pytest.raises(ValueError, match=r"^Projection 'p': delay = 1 ms is not a multiple of dt = 0.3 ms; "
                                         r"strict_time is set"):
        timegrid.check_grid("Projection 'p'", "delay", 1.0, 0.3, strict=True)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        timegrid.check_grid("Projection 'p'", "delay", [0.3, 0.9, 1.5], 0.3, strict=True, min_steps=1)
