#!/usr/bin/env python
"""Memory per rank of the Brunel network: synapse bytes, and resident memory before,
at the peak of and after the build, and after a short run.

    .venv/bin/python scripts/bench_memory.py --neurons 12500 --time-ms 100
    .venv/bin/mpiexec -n 2 .venv/bin/python scripts/bench_memory.py

Resident memory (RSS) is read from ``/proc/self/statm``; the peak is the process's
``ru_maxrss``, which the build sets (nothing before it is as large: the kernels are
compiled, or loaded from numba's cache, on a 100-neuron network first). ``steady`` is the
RSS after the run; ``peak / steady`` is the build's overshoot. One line per rank and one
``RESULT {json}`` line (rank 0 prints).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_brunel  # noqa: E402

import distsnn as ds  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neurons", type=int, default=12500)
    ap.add_argument("--time-ms", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--partitioner", default="block", choices=ds.placement.METHODS)
    args = ap.parse_args(argv)
    comm = ds.comm.world()
    # Compile (or load) every kernel on a small network, so the build below measures the network.
    ds.Simulation(bench_brunel.brunel(100, args.seed, 1.0), comm=comm, partitioner=args.partitioner).run(1.0)
    net = bench_brunel.brunel(args.neurons, args.seed, args.time_ms)
    before = rss_mb()
    t0 = time.perf_counter()
    sim = ds.Simulation(net, comm=comm, partitioner=args.partitioner)
    t_build = time.perf_counter() - t0
    peak, built = peak_mb(), rss_mb()
    sim.run(args.time_ms)
    steady = rss_mb()
    mine = dict(rank=comm.rank, neurons=int(sim.owned.size), synapses=int(sim.n_synapses),
                synapse_bytes=int(sim.synapse_bytes),
                bytes_per_synapse=sim.synapse_bytes / max(sim.n_synapses, 1), build_s=t_build,
                rss_before_mb=before, peak_mb=peak, rss_built_mb=built, rss_steady_mb=steady,
                peak_over_steady=peak / steady)
    rows = comm.gather(mine)
    if comm.rank != 0:
        return
    print(f"Brunel {args.neurons} neurons on {comm.size} rank(s), {args.partitioner} partition, "
          f"{args.time_ms:g} ms run")
    print(f"{'rank':>4} {'neurons':>8} {'synapses':>10} {'B/syn':>6} {'before':>8} {'peak':>8} {'built':>8} "
          f"{'steady':>8} {'peak/steady':>11} {'build s':>8}")
    for r in rows:
        print(f"{r['rank']:>4} {r['neurons']:>8} {r['synapses']:>10} {r['bytes_per_synapse']:>6.2f} "
              f"{r['rss_before_mb']:>8.1f} {r['peak_mb']:>8.1f} {r['rss_built_mb']:>8.1f} {r['rss_steady_mb']:>8.1f} "
              f"{r['peak_over_steady']:>11.2f} {r['build_s']:>8.2f}")
    print("RESULT " + json.dumps(dict(bench="memory", N=args.neurons, ranks=comm.size, per_rank=rows), default=float))


if __name__ == "__main__":
    main()
