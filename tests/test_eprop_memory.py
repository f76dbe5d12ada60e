"""The e-prop trainer's memory in the pre-run estimate (distsnn.resources.Training)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import distsnn as ds
from distsnn import resources
from distsnn.learning import make_trainer, tasks


def _nbytes(obj, seen=None) -> int:
    """The numpy arrays a trainer holds (its own, not the simulation's)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(x, seen) for x in obj)
    if isinstance(obj, dict):
        return sum(_nbytes(x, seen) for x in obj.values())
    if dataclasses.is_dataclass(obj) or type(obj).__module__.startswith("distsnn.learning"):
        return sum(_nbytes(v, seen) for k, v in vars(obj).items() if k not in ("sim", "net", "spec"))
    return 0


@pytest.fixture(scope="module")
def task():
    return tasks.sine_task(iterations=2, n_in=40, n_rec=50, steps=200)


@pytest.mark.parametrize("mode", ["interval", "online"])
def test_estimate_covers_what_the_trainer_holds(task, mode):
    training = resources.Training(tuple(task.plastic), task.target.shape[-1], mode)
    plain, trained = resources.estimate(task.network, 1), resources.estimate(task.network, 1, training)
    sim = ds.Simulation(task.network)
    extra = trained.total - plain.total
    rep, dist, parts = resources.training_parts(task.network, training, 1, sim.max_delay, plain.synapses)
    assert extra == rep + dist and any(p[0].startswith(f"e-prop training ({mode})") for p in trained.parts)
    tr = make_trainer(sim, task.plastic, task.target, mode=mode, feedback=task.feedback, optimizer=task.optimizer)
    tr.train(1)
    held = _nbytes(tr)
    assert held <= extra <= 2 * held, (held, extra)        # an upper bound, and not a loose one


def test_online_needs_more_than_interval_and_grows_with_the_synapses(task):
    a, b = (resources.estimate(task.network, 1, resources.Training(tuple(task.plastic), 200, m)).total
            for m in ("interval", "online"))
    assert b > a
    fewer = resources.estimate(task.network, 1, resources.Training(tuple(task.plastic[:1]), 200)).total
    assert fewer < a


def test_train_refuses_a_training_that_does_not_fit(task):
    plain = resources.estimate(task.network, 1).total
    trained = resources.estimate(task.network, 1, resources.Training(tuple(task.plastic), 200, "online")).total
    limit = (plain + trained) // 2
    ds.Simulation(task.network, max_memory=limit)                 # the network alone fits
    with pytest.raises(ValueError, match=r"train: estimated memory must be <= the limit.*e-prop training"):
        ds.train(task.network, task.plastic, task.target, 1, feedback=task.feedback, max_memory=limit,
                 mode="online")
