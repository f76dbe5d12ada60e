"""E-prop: evidence accumulation (Bellec et al. 2020, Fig. 3), NEST's task, on any number of ranks.

    python examples/eprop_evidence.py [--iterations 50] [--batch 32] [--max-wall SECONDS] [--plot PNG]
    mpiexec -n 2 python examples/eprop_evidence.py --iterations 20
    python examples/eprop_evidence.py --replot run.log --plot curve.png     # the curve of a logged run

40 inputs in 4 groups (left cues, right cues, recall, noise), 50 LIF and 50 adaptive LIF
neurons (adapt_tau 2 s), 2 readouts with a cross-entropy loss during the 150 ms recall;
7 cues, then 1,050 ms of noise; Adam (eta 5e-3), one weight update per batch of trials
(:func:`distsnn.learning.tasks.evidence_task`, NEST's
``eprop_supervised_classification_evidence-accumulation_bsshslm_2020.py``). A trial is
answered right when the readout of the right side has the larger mean over the recall.
Prints the loss, accuracy and wall time of every iteration (batch) and, at the end,
``RESULT {json}`` with ``loss`` and ``accuracy`` per iteration, ``iterations`` (done),
``ranks``, ``wall_s`` (training), ``t_s`` (training seconds at the end of each iteration) and
``build_s``. ``--max-wall`` stops after the first iteration that ends past that many
seconds of training (every rank stops at the same iteration: rank 0's clock decides).
``--plot`` draws accuracy and loss against iterations (and training time) into a PNG;
with ``--replot LOG`` it draws them from the iteration lines of an earlier run's output
instead of training.
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
    ap.add_argument("--plot", default=None, help="PNG of accuracy and loss against iterations")
    ap.add_argument("--replot", default=None, help="plot the iteration lines of this log instead of training")
    args = ap.parse_args()
    if args.replot:
        plot(*read_log(args.replot), args.plot or "evidence.png")
        return
    comm = world()
    t_build = time.perf_counter()
    task = evidence_task(args.iterations, batch=args.batch)
    if args.eta is not None:
        task.optimizer["eta"] = args.eta
    sim = ds.Simulation(task.network, comm=comm)
    trainer = Trainer(sim, task.plastic, task.target, task.feedback, task.optimizer, loss="cross_entropy")
    labels, recall = task.extra["labels"], task.extra["recall"]
    losses, accuracy, t_s = [], [], []
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
        t_s.append(round(time.perf_counter() - t0, 3))
        if comm.rank == 0:
            print(f"iteration {it:4d}  loss {losses[-1]:.4f}  accuracy {accuracy[-1]:.3f}  "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
        over = args.max_wall is not None and time.perf_counter() - t0 > args.max_wall
        if comm.bcast(over if comm.rank == 0 else None):
            break
    wall = time.perf_counter() - t0
    if comm.rank == 0:
        if args.plot:
            plot(losses, accuracy, t_s, args.plot)
        print("RESULT " + json.dumps({"task": "evidence_accumulation", "loss": losses, "accuracy": accuracy,
                                      "iterations": len(losses), "batch": args.batch, "ranks": comm.size,
                                      "wall_s": round(wall, 3), "t_s": t_s, "build_s": round(build, 3)}))


def read_log(path: str) -> tuple[list[float], list[float], list[float]]:
    """Loss, accuracy and training seconds per iteration from this script's output."""
    loss, acc, t = [], [], []
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) == 8 and w[0] == "iteration" and w[2] == "loss":
                loss.append(float(w[3]))
                acc.append(float(w[5]))
                t.append(float(w[6].strip("(")))
    return loss, acc, t


def plot(loss: list[float], accuracy: list[float], t_s: list[float], path: str, window: int = 20) -> None:
    """Accuracy per batch and its running mean over ``window`` iterations, and the loss,
    against iterations (the training time in the title)."""
    from distsnn.plotting.canvas import figure

    fig = figure(7.0, 5.0)
    ax_acc, ax_loss = fig.subplots(2, 1, sharex=True)
    it = np.arange(1, len(accuracy) + 1)
    k = min(window, len(accuracy))
    mean = np.convolve(accuracy, np.ones(k) / k, mode="valid")
    ax_acc.plot(it, accuracy, color="C0", alpha=0.3, lw=0.8, label="per batch of 32 trials")
    ax_acc.plot(it[k - 1:], mean, color="C0", lw=2, label=f"mean of {k} iterations")
    ax_acc.axhline(0.5, color="grey", ls=":", lw=1)
    ax_acc.axhline(0.9, color="C3", ls="--", lw=1, label="90 % (Bellec et al. 2020)")
    ax_acc.set_ylim(0.0, 1.02)
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend(loc="lower right", fontsize=8)
    ax_acc.set_title(f"evidence accumulation: {len(accuracy)} iterations, {t_s[-1] / 60:.1f} min of training "
                     f"({t_s[-1] / len(accuracy):.2f} s per iteration)", fontsize=10)
    ax_loss.semilogy(it, loss, color="C1", lw=0.8)
    ax_loss.set_ylabel("cross-entropy per trial")
    ax_loss.set_xlabel("iteration (batch of 32 trials, one Adam step)")
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
