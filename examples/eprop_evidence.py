"""E-prop: evidence accumulation (Bellec et al. 2020, Fig. 3), NEST's task, on any number of ranks.

    python examples/eprop_evidence.py [--iterations 50] [--batch 32] [--max-wall SECONDS]
    mpiexec -n 2 python examples/eprop_evidence.py --iterations 20

40 inputs in 4 groups (left cues, right cues, recall, noise), 50 LIF and 50 adaptive LIF
neurons (adapt_tau 2 s), 2 readouts with a cross-entropy loss during the 150 ms recall;
7 cues, then 1,050 ms of noise; Adam (eta 5e-3), one weight update per batch of trials
(:func:`distsnn.learning.tasks.evidence_task`, NEST's
``eprop_supervised_classification_evidence-accumulation_bsshslm_2020.py``). A trial is
answered right when the readout of the right side has the larger mean over the recall.
Prints the loss, accuracy and wall time of every iteration (batch) and, at the end,
``RESULT {json}`` with ``loss`` and ``accuracy`` per iteration, ``iterations`` (done),
``ranks``, ``wall_s`` (training) and ``build_s``. ``--max-wall`` stops after the first
iteration that ends past that many seconds of training (every rank stops at the same
iteration: rank 0's clock decides).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import distsnn as ds
from distsnn.comm import world
from distsnn.learning import Trainer
from distsnn.learning.tasks import evidence_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--eta", type=float, default=None)
    ap.add_argument("--max-wall", type=float, default=None, help="stop after this many seconds of training")
    args = ap.parse_args()
    comm = world()
    t_build = time.perf_counter()
    task = evidence_task(args.iterations, batch=args.batch)
    if args.eta is not None:
        task.optimizer["eta"] = args.eta
    sim = ds.Simulation(task.network, comm=comm)
    trainer = Trainer(sim, task.plastic, task.target, task.feedback, task.optimizer, loss="cross_entropy")
    labels, recall = task.extra["labels"], task.extra["recall"]
    losses, accuracy = [], []
    t0 = time.perf_counter()
    build = t0 - t_build
    for it in range(args.iterations):
        batch_loss, right = 0.0, 0
        for b in range(args.batch):
            trial = it * args.batch + b
            batch_loss += trainer.step()
            answer = int(np.argmax(trainer.last_readout[:, -recall:].mean(axis=1)))
            right += answer == labels[trial]
        losses.append(batch_loss / args.batch)
        accuracy.append(right / args.batch)
        if comm.rank == 0:
            print(f"iteration {it:4d}  loss {losses[-1]:.4f}  accuracy {accuracy[-1]:.3f}  "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
        over = args.max_wall is not None and time.perf_counter() - t0 > args.max_wall
        if comm.bcast(over if comm.rank == 0 else None):
            break
    wall = time.perf_counter() - t0
    if comm.rank == 0:
        print("RESULT " + json.dumps({"task": "evidence_accumulation", "loss": losses, "accuracy": accuracy,
                                      "iterations": len(losses), "batch": args.batch, "ranks": comm.size,
                                      "wall_s": round(wall, 3), "build_s": round(build, 3)}))


if __name__ == "__main__":
    main()
