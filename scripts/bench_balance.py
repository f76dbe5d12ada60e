#!/usr/bin/env python
"""Load balance of a partition, measured: per-rank busy time (update + delivery).

    .venv/bin/mpiexec -n 2 .venv/bin/python scripts/bench_balance.py brunel --time-ms 300
    .venv/bin/mpiexec -n 2 .venv/bin/python scripts/bench_balance.py microcircuit --time-ms 300

Busy time is what a rank computes; its exchange time is mostly waiting for the slowest
rank, so ``max(busy) / mean(busy) - 1`` is the imbalance the partition leaves. Prints per
rank neurons, synapses, spikes, events and the times, and one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import distsnn as ds


def network(name: str, time_ms: float, seed: int) -> ds.Network:
    if name == "brunel":
        from bench_brunel import brunel

        return brunel(12500, seed, time_ms)
    import microcircuit as mc

    return mc.network(0.1, 0.1, seed, t_stop=time_ms)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("network", choices=["brunel", "microcircuit"])
    ap.add_argument("--time-ms", type=float, default=300.0)
    ap.add_argument("--seed", type=int, default=55)
    ap.add_argument("--partitioner", default="metis")
    ap.add_argument("--imbalance", type=float, default=0.03, help="METIS load tolerance (run's default 0.03)")
    args = ap.parse_args()
    comm = ds.comm.world()
    net = network(args.network, args.time_ms, args.seed)
    t0 = time.perf_counter()
    spec = ds.placement.PartitionSpec(method=args.partitioner, imbalance=args.imbalance)
    sim = ds.Simulation(net, comm=comm, partitioner=spec, keep_records=False)
    t_build = time.perf_counter() - t0
    cpu0 = time.process_time()
    sim.advance()
    cpu = comm.gather(time.process_time() - cpu0)
    s = sim.summary()
    if comm.rank != 0:
        return
    busy = np.array([r["update_s"] + r["deliver_s"] for r in s["per_rank"]])
    for r, c in zip(s["per_rank"], cpu):
        print(f"rank {r['rank']}: {r['neurons']} neurons, {r['synapses']} synapses, {r['spikes']} spikes, "
              f"{r['events']} events; update {r['update_s']:.2f} s, deliver {r['deliver_s']:.2f} s, "
              f"exchange {r['exchange_s']:.2f} s, record {r['record_s']:.2f} s; "
              f"busy {r['update_s'] + r['deliver_s']:.2f} s")
    imb = float(busy.max() / busy.mean() - 1.0)
    print(f"{args.network}: imbalance of busy time {100 * imb:.1f} %, epoch {s['epoch_steps']} steps, "
          f"build {t_build:.1f} s")
    print("RESULT " + json.dumps({"bench": "balance", "network": args.network, "ranks": comm.size,
                                  "partitioner": args.partitioner, "tolerance": args.imbalance,
                                  "busy_s": busy.tolist(), "imbalance": imb,
                                  "cpu_s": cpu, "synapses": [r["synapses"] for r in s["per_rank"]],
                                  "events": [r["events"] for r in s["per_rank"]],
                                  "neurons": [r["neurons"] for r in s["per_rank"]]}))


if __name__ == "__main__":
    main()
