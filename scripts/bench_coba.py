#!/usr/bin/env python
"""Vogels-Abbott COBA network (Brette et al. 2007 benchmark 1), timed.

The network of ``examples/coba.toml``, the same as ``shared/anchors/coba_nest.py`` and
``coba_brian2.py``: N_E = 4 N_I ``lif_cond`` neurons (C_m 200 pF, g_L 10 nS, E_L = V_reset
= -60 mV, V_th = -50 mV, t_ref 5 ms, I_e = 200 pA), every pair connected with
probability 0.02, exponential conductances (tau 5 ms, E 0 mV, 6 nS; tau 10 ms, E -80 mV,
67 nS), delay 0.1 ms, dt = 0.1 ms, V_0 ~ N(-55, 5) mV, initial conductances N(40, 15) and
N(200, 120) nS (redrawn below 0; the anchors clip at 0). The
printed figures and the ``RESULT {json}`` line compare side by side with the anchors'
(NEST 3.10: 19.9 Hz; Brian2: 21.5 Hz).

    python scripts/bench_coba.py --neurons 4000 --time-ms 1000
    .venv/bin/mpiexec -n 2 .venv/bin/python scripts/bench_coba.py
    .venv/bin/python scripts/bench_coba.py --compare   # + NEST 2 threads, Brian2 standalone
    .venv/bin/python scripts/bench_coba.py --profile   # where the time goes, one process

``--profile`` measures in one process, in CPU seconds (the steady figure on a shared
machine) and wall seconds, after a warm-up: the whole network on one rank (ns per
neuron-step, everything included), and the epochs of rank 0 of a 2-rank job, which are
one step long (COBA's 0.1 ms delays cross ranks), with the exchange left out (a dry run
whose exchange receives nothing): microseconds per epoch for that rank's half of the
network, and for a 200-neuron network dealt round robin (100 neurons a rank), whose
epochs are almost all overhead. With the slot
exchange's own cost (``bench_exchange.py``) and the wait for the partner, that is an
epoch of the 2-rank run.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import benchlib

import distsnn as ds
from distsnn import config, placement
from distsnn.dryrun import DryRunComm

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "coba.toml")


def coba(n_total: int, seed: int, t_stop: float) -> ds.Network:
    """The example network, rescaled to ``n_total`` neurons (p stays 0.02)."""
    doc = config.to_dict(config.load(EXAMPLE))
    ne = int(round(0.8 * n_total))
    sizes = {"exc": ne, "inh": n_total - ne}
    for pop in doc["population"]:
        pop["size"] = sizes[pop["name"]]
    doc["simulation"].update(seed=seed, t_stop=t_stop)
    return config.from_dict(doc)


class _Nowhere:
    """An exchange that receives nothing (rank 0 of a dry run, timed without MPI)."""

    collectives = overflows = 0

    def exchange(self, send: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(0, np.int64), np.zeros_like(counts)


def _timed(sim: ds.Simulation, t_ms: float, repeats: int = 3) -> tuple[float, float]:
    """Best CPU and wall seconds of ``repeats`` runs of ``t_ms`` more milliseconds."""
    best_cpu = best_wall = float("inf")
    for _ in range(repeats):
        t_end = sim.step * sim.net.dt + t_ms
        w, c = time.perf_counter(), time.process_time()
        sim.advance(t_end)
        best_cpu = min(best_cpu, time.process_time() - c)
        best_wall = min(best_wall, time.perf_counter() - w)
    return best_cpu, best_wall


def profile(args: argparse.Namespace) -> None:
    """The figures of ``--profile`` (module docstring)."""
    net = coba(args.neurons, args.seed, args.time_ms)
    sim = ds.Simulation(net, max_memory=None, keep_records=False)
    sim.advance(1.0)
    cpu, wall = _timed(sim, args.time_ms, repeats=1)
    steps = int(round(args.time_ms / net.dt))
    print(f"1 rank, {net.size} neurons, {steps} steps in epochs of {sim.epoch}: {cpu:.3f} s CPU, {wall:.3f} s wall, "
          f"{cpu / steps / net.size * 1e9:.2f} ns per neuron-step")
    for n, method in ((args.neurons, args.partitioner), (200, "round_robin")):
        small = coba(n, args.seed, args.time_ms)
        owner = placement.owner_map(small, 2, placement.PartitionSpec(method=method))
        sim = ds.Simulation(small, comm=DryRunComm(2, 0), owner=owner, max_memory=None, keep_records=False)
        sim.exchanger = _Nowhere()
        sim.advance(1.0)
        cpu, wall = _timed(sim, 100.0)
        epochs = int(round(100.0 / (sim.epoch * small.dt)))
        print(f"rank 0 of 2, {sim.owned.size} neurons, epochs of {sim.epoch} step(s), no exchange: "
              f"{cpu / epochs * 1e6:.1f} us CPU per epoch ({wall / epochs * 1e6:.1f} us wall)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_compare_arguments(ap)
    benchlib.add_arguments(ap, neurons=4000)
    ap.add_argument("--profile", action="store_true", help="where the time goes, in one process (see above)")
    args = ap.parse_args(argv)
    if args.profile:
        profile(args)
        return
    if args.compare:
        benchlib.compare("coba", __file__, args)
        return
    benchlib.run("coba", lambda: coba(args.neurons, args.seed, args.time_ms), args)


if __name__ == "__main__":
    main()
