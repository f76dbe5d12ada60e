"""NEST's sine-wave task as built by distsnn.learning.tasks."""

from __future__ import annotations

import numpy as np

import distsnn as ds
from distsnn.learning.tasks import sine_task


def test_sine_task_draws_nests_weights_inputs_and_target():
    task = sine_task(3, n_in=8, n_rec=6, steps=200)
    rng = np.random.RandomState(1)                     # NEST's script: np.random.seed(1), then its draws
    w_in = rng.randn(8, 6).T / np.sqrt(8)
    np.testing.assert_allclose(np.asarray(task.network.projections["in_rec"].weight.values),
                               (w_in * 0.03).T, rtol=1e-6)      # float32 as NEST's, x (1 - kappa)
    y = task.target[0]
    assert y.shape == (200,) and y[0] == 0.0 and np.abs(y).max() == 1.0
    assert task.plastic == ["in_rec", "rec_rec", "rec_out"] and task.feedback["rec"].shape == (6, 1)


def test_sine_task_trains_and_its_inputs_repeat_every_sequence():
    task = sine_task(4, n_in=20, n_rec=20, steps=100, optimizer="adam")
    times = task.network.populations["in"].params.times
    first = [np.asarray(t) for t in times]
    for t in first:
        per_seq = [np.sort(t[(t > k * 100) & (t < (k + 1) * 100)] - k * 100) for k in range(4)]
        assert all(np.array_equal(per_seq[0], p) for p in per_seq)
    res = ds.train(task.network, task.plastic, task.target, 4, feedback=task.feedback,
                   optimizer=dict(task.optimizer, eta=0.01), max_memory=None)
    assert len(res.loss) == 4 and res.loss[-1] < res.loss[0]
