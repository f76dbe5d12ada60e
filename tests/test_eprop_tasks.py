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


def test_evidence_task_cues_labels_and_recall_window():
    from distsnn.learning.tasks import evidence_inputs, evidence_task

    steps = {"cue": 100, "spacing": 50, "bg_noise": 1050, "recall": 150}
    steps["sequence"] = 7 * 150 + 1050 + 150
    spikes, labels = evidence_inputs(np.random.RandomState(5), 40, 40, steps)
    cue = slice(0, 7 * 150)
    left = spikes[:, cue, 0:10].sum(axis=(1, 2))
    right = spikes[:, cue, 10:20].sum(axis=(1, 2))
    # the answer is the side with more cues: with 10 neurons x 100 ms x 0.04 per cue, the
    # side with more spikes agrees with the label in nearly every trial
    assert np.mean((right > left) == (labels == 1)) > 0.85
    assert spikes[:, -150:, 20:30].sum() > 0.5 * 40 * 150 * 10 * 0.04
    assert spikes[:, :-150, 20:30].sum() == 0                 # the recall group speaks only at the end
    task = evidence_task(1, batch=3)
    t = task.target
    assert t.shape == (3, 2, 2250) and np.isnan(t[:, :, :-150]).all()
    np.testing.assert_array_equal(t[:, :, -1].argmax(axis=1), task.extra["labels"])
    assert task.optimizer["batch_size"] == 3 and len(task.plastic) == 8
