"""Learning: e-prop training of networks of NEST's e-prop neurons, across ranks.

- :class:`Trainer` over a :class:`~distsnn.engine.Simulation`, and :func:`train`, which
  builds the simulation and trains it (:mod:`distsnn.learning.trainer` states the
  schedule and why the result does not depend on the rank count);
- :mod:`distsnn.learning.eligibility`: the eligibility traces and the gradient;
- :mod:`distsnn.learning.optimizers`: gradient descent and Adam (NEST's forms);
- :mod:`distsnn.learning.losses`: mean squared error and cross-entropy readouts.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .optimizers import OptimizerSpec
from .trainer import TRAINING_FILE, Trainer, TrainResult, write_training


def train(network: Any, plastic: Sequence[str], target: Any, iterations: int,
          feedback: Mapping[str, Any] | None = None, optimizer: Mapping[str, Any] | None = None,
          reset: bool = True, loss: str = "mean_squared_error", comm: Any = None, partitioner: Any = "metis", out: str | None = None,
          report: Any = None, max_memory: int | str | None = "available") -> TrainResult:
    """Build ``network`` (over MPI when launched by mpiexec) and train it for
    ``iterations`` update intervals (:class:`Trainer` explains the arguments). With
    ``out``, the run's records go there (as :class:`~distsnn.engine.Simulation`'s ``out``)
    and rank 0 writes the losses and trained weights to ``out/training.h5``. Returns the
    :class:`TrainResult` (weights gathered on rank 0)."""
    from ..engine import Simulation

    sim = Simulation(network, comm=comm, partitioner=partitioner, out=out, max_memory=max_memory)
    try:
        trainer = Trainer(sim, plastic, target, feedback=feedback, optimizer=optimizer, reset=reset, loss=loss)
        return trainer.train(iterations, out=out, report=report)
    finally:
        sim.close()


__all__ = ["Trainer", "TrainResult", "OptimizerSpec", "train", "write_training", "TRAINING_FILE"]
