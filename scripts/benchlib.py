"""The timed run and report shared by the benchmark scripts (one process or mpiexec).

Times are the slowest rank's, memory is summed over ranks (and given per rank), busy
time (update + delivery) per rank and its imbalance (max / mean - 1), spikes are gathered on rank
0, which prints the figures and one ``RESULT {json}`` line in the anchors' format.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Callable

import numpy as np

import distsnn as ds


def add_arguments(ap: argparse.ArgumentParser, neurons: int) -> None:
    ap.add_argument("--neurons", type=int, default=neurons)
    ap.add_argument("--time-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--partitioner", default="metis", choices=ds.placement.METHODS)


def run(bench: str, build: Callable[[], ds.Network], args: argparse.Namespace) -> None:
    """Build (timed from the description on), simulate and report."""
    comm = ds.comm.world()
    if comm.size > 1:
        from distsnn.comm.mpi import abort_on_exception

        abort_on_exception(comm)
    t0 = time.perf_counter()
    net = build()
    sim = ds.Simulation(net, comm=comm, partitioner=args.partitioner)
    t_build = comm.allreduce(time.perf_counter() - t0, "max")
    comm.barrier()
    t1, c1 = time.perf_counter(), time.process_time()
    res = sim.run(args.time_ms)
    # CPU seconds too: on a shared machine the wall time also counts the waits for cores.
    t_sim = comm.allreduce(time.perf_counter() - t1, "max")
    cpu_sim = comm.allreduce(time.process_time() - c1, "max")
    rss_per_rank = comm.gather(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    rss = sum(rss_per_rank) if comm.rank == 0 else 0.0
    parts = comm.gather((res.spikes.gid, res.spikes.step))
    if comm.rank != 0:
        return
    spikes = ds.Spikes.from_steps(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                                  net.dt)
    s = res.summary
    ranks = s["per_rank"]
    # Busy time: the rank's own work (update, delivery); its exchange time is mostly
    # waiting for the slowest rank, so the spread of busy times is the load imbalance.
    busy = [r["update_s"] + r["deliver_s"] for r in ranks]
    out = dict(bench=bench, simulator=f"distsnn-{ds.__version__}", ranks=s["ranks"],
               partitioner=args.partitioner, N=args.neurons,
               t_sim_ms=args.time_ms, build_s=t_build, sim_s=t_sim, cpu_s=cpu_sim, epoch_steps=s["epoch_steps"],
               epochs=int(np.ceil(s["t_sim_ms"] / (s["epoch_steps"] * net.dt))), spikes=s["spikes"],
               rate_hz=s["mean_rate_hz"], cv_isi=ds.Result(spikes).isi_cv(), n_synapses=s["synapses"],
               events_per_s=sum(r["events"] for r in ranks) / t_sim if t_sim else 0.0,
               update_s=max(r["update_s"] for r in ranks), exchange_s=max(r["exchange_s"] for r in ranks),
               deliver_s=max(r["deliver_s"] for r in ranks),
               bytes_sent=sum(r["bytes_sent"] for r in ranks),
               synapse_bytes=sum(r["synapse_bytes"] for r in ranks), peak_rss_mb=rss,
               peak_rss_mb_per_rank=rss_per_rank, busy_s=busy, imbalance=max(busy) / np.mean(busy) - 1.0,
               bytes_per_synapse=sum(r["synapse_bytes"] for r in ranks) / max(s["synapses"], 1),
               compiled_exchange_epochs=min(r.get("compiled_exchange_epochs", 0) for r in ranks))
    for k, v in out.items():
        print(f"  {k:>14}: {v:.4g}" if isinstance(v, float) else f"  {k:>14}: {v}")
    print("RESULT " + json.dumps(out, sort_keys=True, default=float))
    sys.stdout.flush()


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANCHORS = os.path.join(os.path.dirname(ROOT), "shared", "anchors")


def add_compare_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--compare", action="store_true",
                    help="run distsnn on 1 and 2 ranks, NEST 2 threads and Brian2 C++ standalone 1 thread "
                         "one after the other (each a fresh process) and print them side by side")
    ap.add_argument("--nest-python", default="/tmp/anchors-venv-interop/bin/python",
                    help="a Python with nest-simulator 3.10 (../shared/anchors/README.md)")
    ap.add_argument("--brian-python", default="/tmp/anchors-venv/bin/python",
                    help="a Python with brian2 2.9.0")
    ap.add_argument("--skip", nargs="*", default=[], choices=["distsnn1", "distsnn2", "nest", "brian2"])


def _result(cmd: list[str], timeout: float) -> dict | None:
    """Run one benchmark process; its RESULT line as a dict (None when it failed)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    print("$ " + " ".join(cmd), flush=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        print(f"  timed out after {timeout:.0f} s", flush=True)
        return None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        print(f"  failed ({proc.returncode}): {proc.stderr[-2000:]}", flush=True)
        return None
    res = json.loads(lines[-1][len("RESULT "):])
    print("  " + lines[-1], flush=True)
    return res


def compare(bench: str, script: str, args: argparse.Namespace, timeout: float = 1200.0) -> None:
    """distsnn 1 rank, 2 ranks, NEST 2 threads, Brian2 C++ standalone 1 thread, in one run.

    Each runs in its own process, in that order, once (a warm-up run of distsnn first so
    that neither distsnn run pays numba compilation); times are wall seconds of the
    simulation phase, ratios are to distsnn 2 ranks, from this same run.
    """
    common = ["--neurons", str(args.neurons), "--time-ms", str(args.time_ms), "--seed", str(args.seed)]
    py = sys.executable
    mpiexec = os.path.join(os.path.dirname(py), "mpiexec")
    runs = {
        "distsnn1": [py, script, *common, "--partitioner", args.partitioner],
        "distsnn2": [mpiexec, "-n", "2", py, script, *common, "--partitioner", args.partitioner],
        "nest": [args.nest_python, os.path.join(ANCHORS, f"{bench}_nest.py"), *common, "--threads", "2"],
        "brian2": [args.brian_python, os.path.join(ANCHORS, f"{bench}_brian2.py"), *common,
                   "--device", "cpp_standalone", "--threads", "1"],
    }
    # Compile (or load) distsnn's kernels once, outside the timed runs.
    _result([py, script, "--neurons", "200", "--time-ms", "20"], timeout)
    results = {name: _result(cmd, timeout) for name, cmd in runs.items() if name not in args.skip}
    base = results.get("distsnn2")
    print(f"\n{bench}, {args.neurons} neurons, {args.time_ms:g} ms (wall s; ratio = time / distsnn 2 ranks)")
    print(f"| run | build s | sim s | sim / distsnn 2 ranks | rate Hz | CV ISI | synapses | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        if r is None:
            print(f"| {name} | failed | | | | | | |")
            continue
        rss = r.get("peak_rss_mb", max(r.get("peak_rss_self_mb", 0.0), r.get("peak_rss_children_mb", 0.0)))
        ratio = r["sim_s"] / base["sim_s"] if base else float("nan")
        print(f"| {name} | {r.get('build_s', float('nan')):.2f} | {r['sim_s']:.2f} | {ratio:.2f} | "
              f"{r.get('rate_hz', float('nan')):.2f} | {r.get('cv_isi', float('nan')):.3f} | "
              f"{r.get('n_synapses', 0)} | {rss:.0f} |")
    print("COMPARE " + json.dumps(results, sort_keys=True, default=float))
