#!/usr/bin/env python
"""Per-rank memory of a large Brunel network at many ranks, by dry run (no MPI).

    .venv/bin/python scripts/bench_dry_run.py --neurons 10000000 --indegree 100 --ranks 64 256 1024

For each rank count, builds rank 0's share with :func:`distsnn.dryrun.dry_run` and prints
its neurons, synapses, route table, owner map, bytes in arrays by structure and the
predicted traffic, then a markdown table and one ``RESULT {json}`` line per rank count.
``--method block`` with chunks of one block per rank (the default) needs no graph
partitioning of the whole network; Brunel's random connectivity gives every partition the
same cut.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from bench_brunel import brunel

from distsnn.dryrun import dry_run
from distsnn.placement import PartitionSpec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neurons", type=int, default=10_000_000)
    ap.add_argument("--indegree", type=int, default=100)
    ap.add_argument("--ranks", type=int, nargs="+", default=[64, 256, 1024])
    ap.add_argument("--method", default="block")
    args = ap.parse_args()
    net = brunel(args.neurons, 12345, 1000.0, args.indegree)
    rows = []
    for ranks in args.ranks:
        t0 = time.perf_counter()
        spec = PartitionSpec(method=args.method, level="chunk", chunk=-(-args.neurons // ranks))
        d = dry_run(net, ranks, spec)
        t = time.perf_counter() - t0
        print(d.text())
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  dry run took {t:.1f} s, peak RSS {rss:.0f} MB")
        rows.append(d)
        print("RESULT " + json.dumps({"bench": "dry_run", "N": args.neurons, "indegree": args.indegree,
                                      "ranks": ranks, "neurons": d.neurons, "synapses": d.synapses,
                                      "bytes": d.total_bytes, "structures": d.structures,
                                      "route_entries": d.route_entries, "owner_runs": d.owner_runs,
                                      "spikes_sent_per_s": d.spikes_sent_per_s, "seconds": t}), flush=True)
    names = sorted({k for d in rows for k in d.structures}, key=lambda k: -max(d.structures.get(k, 0) for d in rows))
    print("\n| ranks | neurons | synapses | " + " | ".join(names) + " | total |")
    print("|---" * (len(names) + 4) + "|")
    for d in rows:
        cells = [f"{d.structures.get(k, 0) / 2**20:.2f}" for k in names]
        print(f"| {d.ranks} | {d.neurons} | {d.synapses} | " + " | ".join(cells) + f" | {d.total_bytes / 2**20:.1f} MiB |")


if __name__ == "__main__":
    main()
