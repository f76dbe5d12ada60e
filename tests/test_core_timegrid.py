"""The one rule that turns ms into steps: nearest step, halves up, 1e-9 relative slack."""

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
    # The slack is relative 1e-9: a value 1e-6 below a half is not pushed up.
    assert int(timegrid.to_steps(0.15 - 1e-7, 0.1)) == 1


def test_at_least_one_step_boundary():
    dt = 0.1
    assert timegrid.at_least_one_step(0.1, dt)
    assert timegrid.at_least_one_step(0.3 - 0.2, dt)          # 0.09999999999999998
    assert timegrid.at_least_one_step(dt * (1 - 0.5e-9), dt)  # inside the 1e-9 slack
    assert not timegrid.at_least_one_step(dt * (1 - 2e-9), dt)
    assert not timegrid.at_least_one_step(0.0999, dt)
    assert not timegrid.at_least_one_step(0.05, dt)
    assert not timegrid.at_least_one_step(0.0, dt)
    np.testing.assert_array_equal(timegrid.at_least_one_step(np.array([0.05, 0.1, 0.2]), dt),
                                  [False, True, True])
