#!/usr/bin/env python
"""Where Brunel's time goes, per rank: Poisson injection, population updates, delivery
(short and long), exchange and the rest (the engine's Python), in wall and CPU seconds.

    .venv/bin/python scripts/profile_brunel.py --neurons 12500 --time-ms 1000
    .venv/bin/mpiexec -n 2 .venv/bin/python scripts/profile_brunel.py

The parts are timed by wrapping the engine's calls (``delivery.poisson_into_ring``,
the model's ``advance``, ``delivery.deliver``, the exchanger's ``start`` and ``finish``),
so the figures are the engine's own work; "exchange" is the time in those two calls (the
local spikes are delivered between them) and "other" the run's wall time less the parts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import bench_brunel

import distsnn as ds
from distsnn import delivery
from distsnn.models import lif


class Clock:
    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def wrap(self, name: str, fn):
        def timed(*a, **k):
            w, c = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **k)
            finally:
                self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w
                self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c
        return timed


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--neurons", type=int, default=12500)
    ap.add_argument("--time-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    comm = ds.comm.world()
    net = bench_brunel.brunel(args.neurons, args.seed, args.time_ms)
    sim = ds.Simulation(net, comm=comm, threads=args.threads)
    sim.run(20.0)                               # compile / load the kernels
    clock = Clock()
    delivery.poisson_into_ring = clock.wrap("poisson", delivery.poisson_into_ring)
    lif.advance = clock.wrap("advance", lif.advance)
    deliver = delivery.deliver
    # short and long delivery come through the same function: told apart by the table
    delivery.deliver = lambda g, s, t, *a: clock.wrap("deliver_long" if t is sim.long else "deliver_short",
                                                       deliver)(g, s, t, *a)
    sim.exchanger.start = clock.wrap("exchange", sim.exchanger.start)
    sim.exchanger.finish = clock.wrap("exchange", sim.exchanger.finish)
    comm.barrier()
    w, c = time.perf_counter(), time.process_time()
    sim.run(args.time_ms)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    parts = {k: (round(clock.wall[k], 3), round(clock.cpu[k], 3)) for k in sorted(clock.wall)}
    parts["other"] = (round(wall - sum(clock.wall.values()), 3), round(cpu - sum(clock.cpu.values()), 3))
    row = dict(rank=comm.rank, ranks=comm.size, threads=args.threads, wall=round(wall, 3), cpu=round(cpu, 3),
               spikes=sim.n_spikes, events=sim.n_events, parts=parts)
    rows = comm.gather(row)
    if comm.rank == 0:
        for r in rows:
            print("PROFILE " + json.dumps(r))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
