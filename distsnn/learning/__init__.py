"""Learning: e-prop training of networks of NEST's e-prop neurons, across ranks.

- :class:`Trainer` over a :class:`~distsnn.engine.Simulation`, and :func:`train`, which
  builds the simulation and trains it (:mod:`distsnn.learning.trainer` states the
  schedule and why the result does not depend on the rank count);
- :class:`OnlineTrainer` (:mod:`distsnn.learning.online`): NEST's online form, a weight
  update per presynaptic spike; :func:`make_trainer` picks the class by ``mode``;
- :mod:`distsnn.learning.eligibility`: the eligibility traces and the gradient;
- :mod:`distsnn.learning.optimizers`: gradient descent and Adam (NEST's forms);
- :mod:`distsnn.learning.losses`: mean squared error and cross-entropy readouts.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .online import OnlineTrainer
from .optimizers import OptimizerSpec
from .spec import MODES
from .trainer import TRAINING_FILE, Trainer, TrainResult, write_training


def make_trainer(sim: Any, plastic: Sequence[str], target: Any, mode: str = "interval", **options: Any) -> Trainer:
    """A :class:`Trainer` (``mode = "interval"``: the gradient summed over an update
    interval) or an :class:`OnlineTrainer` (``"online"``: NEST's per-spike form) over
    ``sim``; ``options`` are that class's keyword arguments."""
    from .. import validate

    mode = validate.choice("make_trainer", "mode", mode, MODES)
    if mode == "online":
        if options.pop("reset", False):
            raise ValueError("make_trainer: reset must be false with mode = 'online' (NEST's online e-prop "
                             "neurons are never reset), got True")
        return OnlineTrainer(sim, plastic, target, **options)
    return Trainer(sim, plastic, target, **options)


def check_memory(network: Any, comm: Any, max_memory: int | str | None, plastic: Sequence[str], target: Any,
                 mode: str = "interval", owner: str = "train") -> None:
    """Refuse, before anything is built, a network whose estimated memory with its
    trainer's (:func:`distsnn.resources.estimate` with a
    :class:`~distsnn.resources.Training`) exceeds the job's limit (collective)."""
    from .. import resources

    shape = np.shape(target) if isinstance(target, (list, tuple, np.ndarray)) else ()
    T = int(shape[-1]) if shape else 1
    trials = int(shape[0]) if len(shape) == 3 else 1
    training = resources.Training(tuple(plastic) if not isinstance(plastic, str) else (plastic,), T,
                                  "online" if mode == "online" else "interval", trials)
    resources.check(network, comm, max_memory, owner, training=training)


def train(network: Any, plastic: Sequence[str], target: Any, iterations: int,
          feedback: Mapping[str, Any] | None = None, optimizer: Mapping[str, Any] | None = None,
          reset: bool | None = None, loss: str = "mean_squared_error", comm: Any = None, partitioner: Any = "metis",
          out: str | None = None, report: Any = None, max_memory: int | str | None = "available",
          mode: str = "interval", **online: Any) -> TrainResult:
    """Build ``network`` (over MPI when launched by mpiexec) and train it for
    ``iterations`` update intervals (:class:`Trainer` explains the arguments). With
    ``out``, the run's records go there (as :class:`~distsnn.engine.Simulation`'s ``out``)
    and rank 0 writes the losses and trained weights to ``out/training.h5``. Returns the
    :class:`TrainResult` (weights gathered on rank 0). ``mode`` and ``online`` (the
    online mode's ``isi_trace_cutoff``, ``flush_interval``): :func:`make_trainer`;
    ``reset`` defaults to True in the interval mode and False in the online one."""
    from ..comm import world
    from ..engine import Simulation

    comm = world() if comm is None else comm
    check_memory(network, comm, max_memory, plastic, target, mode)
    # the check above covers the simulation too
    sim = Simulation(network, comm=comm, partitioner=partitioner, out=out, max_memory=None)
    try:
        opts = dict(online, feedback=feedback, optimizer=optimizer, loss=loss)
        if reset is not None or mode != "online":
            opts["reset"] = True if reset is None else reset
        trainer = make_trainer(sim, plastic, target, mode=mode, **opts)
        return trainer.train(iterations, out=out, report=report)
    finally:
        sim.close()


__all__ = ["Trainer", "OnlineTrainer", "make_trainer", "check_memory", "TrainResult", "OptimizerSpec", "train",
           "write_training", "TRAINING_FILE"]
