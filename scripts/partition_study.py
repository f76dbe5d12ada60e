#!/usr/bin/env python
"""Partition study: every partitioner x part counts x three networks, measured exactly.

Networks (each about 4,000 neurons, partitioned at the neuron level, so the measures
are exact; rates 10 Hz everywhere):

- ``brunel``: Brunel (2000) network A, 4,000 neurons, fixed in-degree 10 % of each
  population (``scripts/bench_brunel.py``'s builder): random, no structure to find;
- ``modular``: ``examples/modular.toml``, 8 areas dense inside, sparse 5 ms links
  between;
- ``ring``: 4,000 neurons on a ring, each with 100 inputs from neurons at most 200
  positions away (uniform), delay 1 ms + 0.01 ms per position of distance: spatially
  local, as in a cortical sheet.

For each, the partitioners of :data:`partitioning.METHODS` split the graph into 2 to 64
parts (:func:`distsnn.partition_cli.compare`). Prints a markdown table (volume per
method; METIS's imbalance and shortest delay between parts), writes it to ``--table``
and draws volume, shortest cross-part delay and imbalance against the part count to
``--plot``. Last, it times the chunk-level graph and METIS for a Brunel network of
10**9 synapses at 64 parts. About a minute on 2 cores.

    python scripts/partition_study.py --plot docs/partition_study.png --table /tmp/study.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import distsnn as ds
import partitioning
from distsnn import graph, plotting
from distsnn.partition_cli import compare, table

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_brunel import brunel  # noqa: E402

ROOT = os.path.dirname(HERE)
PARTS = (2, 4, 8, 16, 32, 64)


def ring(n: int = 4000, k: int = 100, reach: int = 200, seed: int = 7) -> ds.Network:
    """``n`` lif neurons on a ring; each gets ``k`` inputs from at most ``reach`` away."""
    rng = np.random.default_rng(seed)
    post = np.repeat(np.arange(n), k)
    distance = rng.integers(1, reach + 1, post.size)
    pre = (post + np.where(rng.random(post.size) < 0.5, -distance, distance)) % n
    net = ds.Network(dt=0.1, seed=seed, t_stop=1000.0)
    net.add_population("ring", n, "lif")
    net.add_projection("ring", "ring", ds.EdgeList(pre, post, delay=1.0 + 0.01 * distance), "delta", weight=0.1)
    return net


def networks() -> dict[str, ds.Network]:
    return {"brunel": brunel(4000, 12345, 1000.0),
            "modular": ds.load_network(os.path.join(ROOT, "examples", "modular.toml")),
            "ring": ring()}


def study(parts: tuple[int, ...]) -> list[dict]:
    rows = []
    for name, net in networks().items():
        t0 = time.perf_counter()
        ng = graph.communication_graph(net, max(parts), level="neuron")
        print(f"{name}: {net.size} neurons, {ng.graph.n_edges} neuron pairs, graph in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for k in parts:
            for r in compare(ng, k, partitioning.METHODS):
                m = r.metrics
                rows.append({"network": name, "parts": k, "method": r.method, "comm_volume": m.comm_volume,
                             "edge_cut": m.edge_cut, "messages": m.messages, "imbalance": m.imbalance,
                             "min_cross_delay_ms": None if m.min_cross_delay is None else m.min_cross_delay * net.dt,
                             "min_delay_ms": m.min_delay * net.dt, "seconds": r.seconds})
    return rows


def markdown(rows: list[dict]) -> str:
    """Volume per method in 10^3 spikes/s; METIS imbalance and shortest cross delay."""
    methods = list(partitioning.METHODS)
    header = ["network", "parts"] + methods + ["METIS imbalance", "METIS min cross delay (ms)"]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    keys = list(dict.fromkeys((r["network"], r["parts"]) for r in rows))
    for net, k in keys:
        by = {r["method"]: r for r in rows if r["network"] == net and r["parts"] == k}
        cells = [net, str(k)] + [f"{by[m]['comm_volume'] / 1e3:.1f}" for m in methods]
        cells += [f"{by['metis']['imbalance']:.3f}", f"{by['metis']['min_cross_delay_ms']:g}"]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def billion(parts: int = 64) -> list[str]:
    """Chunk graph and METIS for Brunel at 10^9 synapses: the seconds each step takes."""
    net = brunel(100_000, 12345, 1000.0)
    t0 = time.perf_counter()
    ng = graph.communication_graph(net, parts)
    t1 = time.perf_counter()
    p = partitioning.partition(ng.graph, parts, "metis")
    t2 = time.perf_counter()
    m = partitioning.evaluate(ng.graph, p, parts)
    t3 = time.perf_counter()
    return table(["network", "synapses", "parts", "chunk", "vertices", "edges", "graph s", "METIS s",
                  "metrics s", "imbalance"],
                 [["brunel 100,000", f"{graph.expected_synapses(net):.3g}", str(parts), str(ng.chunk),
                   str(ng.graph.n_vertices), str(ng.graph.n_edges), f"{t1 - t0:.2f}", f"{t2 - t1:.2f}",
                   f"{t3 - t2:.2f}", f"{m.imbalance:.3f}"]])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plot", default=os.path.join(ROOT, "docs", "partition_study.png"), help="PNG to write")
    ap.add_argument("--table", help="also write the markdown table to this file")
    ap.add_argument("--parts", type=int, nargs="+", default=list(PARTS), help="part counts (default 2 .. 64)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = study(tuple(args.parts))
    md = markdown(rows)
    print(md)
    if args.table:
        with open(args.table, "w") as fh:
            fh.write(md + "\n")
    plotting.save_study_figure(args.plot, rows, [("comm_volume", "volume (spikes/s)", True),
                                                 ("min_cross_delay_ms", "min cross delay (ms)", False),
                                                 ("imbalance", "imbalance (max/mean)", False)])
    print()
    print("\n".join(billion()))
    print(f"\nstudy in {time.perf_counter() - t0:.0f} s; plot {args.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
