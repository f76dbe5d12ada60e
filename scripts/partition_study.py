#!/usr/bin/env python
"""Partition study: partitioners x part counts x three networks of our own, measured exactly.

Networks (``scripts/study_networks.py``, partitioned at the neuron level so every measure
is exact): a 2-D spatial ``sheet`` (Gaussian connectivity on a torus, distance-dependent
delays), a heterogeneous ``multi_area`` network (areas of unequal size and rate, 1.5 ms
inside, 3.2 ms between) and the Potjans & Diesmann (2014) ``microcircuit`` (published
connection probabilities, scaled down; full-scale rates (NEST's) as ``rate_hz``). ``--scale``
multiplies every network's neuron count (default 0.5: about 1,800-1,900 neurons each, so
the study runs in a few minutes on 2 cores; 1.0 is 3,300-3,900 neurons).

Tables printed (markdown) and written to ``--table``:

1. volume (spike records/s) per method and part count, each method's volume relative to
   Mt-KaHyPar's (the connectivity-objective reference), and the CPU seconds of METIS,
   ``volume`` and Mt-KaHyPar (Mt-KaHyPar only when installed: ``pip install mtkahypar``);
2. METIS options at 16 parts (``ncuts`` 1, 4, 8; ``niter`` 30; recursive bisection):
   volume and seconds, the measurement behind the defaults;
3. delay-aware partitioning on the multi-area network: volume and epoch (the shortest
   delay between parts) without and with ``min_epoch`` = 3.2 ms.

``--billion`` also times the chunk-level graph and METIS for a Brunel network of 10**9
synapses at 64 parts. ``--plot`` draws volume relative to Mt-KaHyPar (or to METIS without it), epoch and
imbalance against the part count.

    python scripts/partition_study.py --plot docs/partition_study.png --table /tmp/study.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import partitioning
from distsnn import graph, plotting

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from study_networks import microcircuit, multi_area, sheet  # noqa: E402

ROOT = os.path.dirname(HERE)
PARTS = (4, 16, 64)
METHODS = ("metis", "metis_refined", "volume", "block", "round_robin", "mtkahypar")


def networks(scale: float) -> dict:
    return {"sheet": sheet(side=int(round(60 * np.sqrt(scale)))),
            "multi_area": multi_area(mean_size=int(round(300 * scale))),
            "microcircuit": microcircuit(scale=0.05 * scale)}


def _timed(g: partitioning.CommGraph, k: int, method: str, **opts) -> tuple[np.ndarray, float]:
    # CPU seconds of this process (every method runs on one thread): on a shared machine
    # wall-clock seconds measure the other users as much as the method.
    t0 = time.process_time()
    p = partitioning.partition(g, k, method, **opts)
    return p, time.process_time() - t0


def study(nets: dict, parts: tuple[int, ...], methods: tuple[str, ...]) -> tuple[list[dict], dict]:
    rows, graphs = [], {}
    for name, net in nets.items():
        t0 = time.perf_counter()
        g = graph.communication_graph(net, max(parts), level="neuron").graph
        graphs[name] = (net, g)
        print(f"{name}: {net.size} neurons, {g.n_edges} neuron pairs, {g.weight.sum():.0f} synapses, "
              f"graph in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for k in parts:
            for m in methods:
                p, seconds = _timed(g, k, m)
                e = partitioning.evaluate(g, p, k)
                rows.append({"network": name, "parts": k, "method": m, "comm_volume": e.comm_volume,
                             "imbalance": e.imbalance, "seconds": seconds,
                             "epoch_ms": None if e.min_cross_delay is None else e.min_cross_delay * net.dt})
                print(f"  {k:3d} {m:14s} {e.comm_volume:12.0f} {seconds:7.2f} s", file=sys.stderr)
    return rows, graphs


def volume_table(rows: list[dict], methods: tuple[str, ...]) -> str:
    ref = "mtkahypar" if "mtkahypar" in methods else "metis"
    header = (["network", "parts"] + [f"{m} (10^3/s)" for m in methods]
              + [f"{m} / {ref}" for m in methods if m not in (ref, "round_robin")]
              + [f"{m} s" for m in ("metis", "volume", "mtkahypar") if m in methods] + ["epoch (ms)"])
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for net, k in dict.fromkeys((r["network"], r["parts"]) for r in rows):
        by = {r["method"]: r for r in rows if r["network"] == net and r["parts"] == k}
        cells = [net, str(k)] + [f"{by[m]['comm_volume'] / 1e3:.1f}" for m in methods]
        cells += [f"{by[m]['comm_volume'] / by[ref]['comm_volume']:.3f}" for m in methods
                  if m not in (ref, "round_robin")]
        cells += [f"{by[m]['seconds']:.2f}" for m in ("metis", "volume", "mtkahypar") if m in methods]
        cells.append(f"{by['metis']['epoch_ms']:g}")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def ncuts_table(graphs: dict, k: int = 16) -> str:
    out = ["| network | METIS options | volume (10^3/s) | seconds |", "|---|---|---|---|"]
    for name, (_, g) in graphs.items():
        for opts in ({"ncuts": 1}, {"ncuts": 4}, {"ncuts": 8}, {"niter": 30}, {"recursive": True}):
            p, seconds = _timed(g, k, "metis", **opts)
            label = ", ".join(f"{key} {v}" for key, v in opts.items())
            out.append(f"| {name} | {label} | {partitioning.comm_volume(g, p) / 1e3:.1f} | {seconds:.2f} |")
    return "\n".join(out)


def delay_table(graphs: dict, methods: tuple[str, ...], parts: tuple[int, ...]) -> str:
    net, g = graphs["multi_area"]
    steps = int(round(3.2 / net.dt))
    out = ["| parts | method | min_epoch | volume (10^3/s) | epoch (ms) | imbalance | areas split |",
           "|---|---|---|---|---|---|---|"]
    area = np.repeat(np.arange(len(net.populations)), [p.size for p in net.populations.values()])
    for k in parts:
        for m in [m for m in ("metis", "volume", "mtkahypar") if m in methods]:
            for me in (None, steps):
                p, _ = _timed(g, k, m, **({} if me is None else {"min_epoch": me}))
                e = partitioning.evaluate(g, p, k)
                split = sum(np.unique(p[area == a]).size > 1 for a in range(area.max() + 1))
                out.append(f"| {k} | {m} | {'-' if me is None else '3.2 ms'} | {e.comm_volume / 1e3:.1f} | "
                           f"{e.min_cross_delay * net.dt:g} | {e.imbalance:.3f} | {split} |")
    return "\n".join(out)


def billion(parts: int = 64) -> str:
    """Chunk graph and METIS for Brunel at 10^9 synapses: the seconds each step takes."""
    from bench_brunel import brunel

    net = brunel(100_000, 12345, 1000.0)
    t0 = time.perf_counter()
    ng = graph.communication_graph(net, parts)
    t1 = time.perf_counter()
    p = partitioning.partition(ng.graph, parts, "metis")
    t2 = time.perf_counter()
    m = partitioning.evaluate(ng.graph, p, parts)
    t3 = time.perf_counter()
    return (f"| brunel 100,000 | {graph.expected_synapses(net):.3g} synapses | {parts} parts | chunk "
            f"{ng.chunk} | {ng.graph.n_vertices} vertices | {ng.graph.n_edges} edges | graph {t1 - t0:.2f} s | "
            f"METIS {t2 - t1:.2f} s | metrics {t3 - t2:.2f} s | imbalance {m.imbalance:.3f} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plot", default=os.path.join(ROOT, "docs", "partition_study.png"), help="PNG to write")
    ap.add_argument("--table", help="also write the markdown tables to this file")
    ap.add_argument("--parts", type=int, nargs="+", default=list(PARTS), help="part counts (default 4 16 64)")
    ap.add_argument("--scale", type=float, default=0.5, help="network size factor (default 0.5)")
    ap.add_argument("--billion", action="store_true",
                    help="also time the chunk graph and METIS for Brunel at 10^9 synapses, 64 parts")
    args = ap.parse_args(argv)
    methods = tuple(m for m in METHODS if m != "mtkahypar" or partitioning.hypergraph.available())
    t0 = time.perf_counter()
    nets = networks(args.scale)
    rows, graphs = study(nets, tuple(args.parts), methods)
    md = "\n\n".join([volume_table(rows, methods), ncuts_table(graphs),
                      delay_table(graphs, methods, tuple(k for k in args.parts if k <= 16) or (4,))])
    print(md)
    if args.table:
        with open(args.table, "w") as fh:
            fh.write(md + "\n")
    if args.billion:
        print("\n" + billion())
    ref = "mtkahypar" if "mtkahypar" in methods else "metis"
    base = {(r["network"], r["parts"]): r["comm_volume"] for r in rows if r["method"] == ref}
    for r in rows:
        r["relative"] = r["comm_volume"] / base[(r["network"], r["parts"])] if base[(r["network"], r["parts"])] else None
    plotting.save_study_figure(args.plot, [r for r in rows if r["method"] != "round_robin"],
                               [("relative", f"volume / {ref}", False), ("epoch_ms", "epoch (ms)", False),
                                ("imbalance", "imbalance (max/mean)", False)])
    print(f"\nstudy in {time.perf_counter() - t0:.0f} s (scale {args.scale}); plot {args.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
