#!/usr/bin/env python
"""Seconds per e-prop training iteration of NEST's two reference tasks, after compilation.

    .venv/bin/python scripts/bench_eprop.py [--trials 20] [--profile]

Evidence accumulation (:func:`distsnn.learning.tasks.evidence_task`: 40 inputs, 50 LIF +
50 adaptive LIF, 2 readouts, 2,250 steps per trial; an iteration is a batch of 32
trials) and sine-wave generation (:func:`distsnn.learning.tasks.sine_task`: 100 inputs,
100 LIF, 1 readout, 1,000 steps per iteration), one process. A first trial compiles (or
loads) the kernels; then ``--trials`` trials are timed (wall and process CPU seconds:
read the CPU figure on a shared machine). ``--profile`` prints the cProfile of the timed
trials (top 15 by own time). One ``RESULT {json}`` line per task.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time

import distsnn as ds
from distsnn.learning import Trainer
from distsnn.learning.tasks import evidence_task, sine_task


def trainer(task_name: str, trials: int) -> tuple[Trainer, int]:
    if task_name == "evidence":
        task = evidence_task(1, batch=trials + 1)
        return Trainer(ds.Simulation(task.network), task.plastic, task.target, task.feedback, task.optimizer,
                       loss="cross_entropy"), 32
    task = sine_task(trials + 1, optimizer="adam", c_reg=0.003)
    return Trainer(ds.Simulation(task.network), task.plastic, task.target, task.feedback, task.optimizer), 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--tasks", nargs="+", default=["evidence", "sine"], choices=["evidence", "sine"])
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    for name in args.tasks:
        tr, per_iteration = trainer(name, args.trials)
        tr.step()                       # compile / load the kernels
        prof = cProfile.Profile() if args.profile else None
        w0, c0 = time.perf_counter(), time.process_time()
        if prof:
            prof.enable()
        for _ in range(args.trials):
            tr.step()
        if prof:
            prof.disable()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if prof:
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)
        res = {"task": name, "trials": args.trials, "s_per_trial": wall / args.trials,
               "cpu_s_per_trial": cpu / args.trials, "s_per_iteration": wall / args.trials * per_iteration,
               "cpu_s_per_iteration": cpu / args.trials * per_iteration, "losses": tr.loss[:3]}
        print(f"{name}: {res['s_per_trial'] * 1e3:.1f} ms per trial ({res['cpu_s_per_trial'] * 1e3:.1f} ms CPU), "
              f"{res['s_per_iteration']:.2f} s per iteration", flush=True)
        print("RESULT " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
