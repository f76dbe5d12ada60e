#!/usr/bin/env python
"""The Potjans & Diesmann (2014) microcircuit (``scripts/microcircuit.py``), timed, with
per-population rates against the published ones and, where a NEST 3.10 venv exists,
against NEST on the same scaled network.

Rates are means over all neurons of a population (silent ones included) of the spikes
in [t_presim, t_presim + t_sim] (500 ms, 1000 ms as NEST's example). A network scaled
down in K differs from the full one beyond what the DC compensation restores, so at
small scales both simulators sit below the published full-scale rates; the comparison
that tests distsnn is the one with NEST on the same scaled network.

    python scripts/bench_microcircuit.py --n-scaling 0.1 --k-scaling 0.1
    .venv/bin/mpiexec -n 2 .venv/bin/python scripts/bench_microcircuit.py
    python scripts/bench_microcircuit.py --seeds 55 56 57 58 --nest-python /tmp/anchors-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

import microcircuit as mc

import distsnn as ds
from distsnn import resources

HERE = os.path.dirname(os.path.abspath(__file__))
NEST_PYTHONS = ("/tmp/anchors-venv/bin/python", "/tmp/anchors-venv-interop/bin/python")


def run_nest(python: str, args: argparse.Namespace, seed: int) -> dict | None:
    cmd = [python, os.path.join(HERE, "microcircuit_nest.py"), "--n-scaling", str(args.n_scaling),
           "--k-scaling", str(args.k_scaling), "--seed", str(seed), "--threads", str(args.nest_threads),
           "--t-presim", str(args.t_presim), "--t-sim", str(args.t_sim)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    for line in proc.stdout.splitlines():
        if line.startswith("RATES "):
            return json.loads(line[len("RATES "):])
    print(f"NEST run failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}", file=sys.stderr)
    return None


def run_distsnn(comm: ds.comm.Comm, args: argparse.Namespace, seed: int) -> dict | None:
    """One seed: rates per population (rank 0; None elsewhere), times, sizes."""
    t0 = time.perf_counter()
    net = mc.network(args.n_scaling, args.k_scaling, seed, t_stop=args.t_presim + args.t_sim)
    estimate = resources.estimate(net, comm.size)
    sim = ds.Simulation(net, comm=comm, partitioner=args.partitioner)
    t_build = comm.allreduce(time.perf_counter() - t0, "max")
    t1 = time.perf_counter()
    res = sim.run()
    t_sim = comm.allreduce(time.perf_counter() - t1, "max")
    # peak resident memory of the process so far (MiB; Linux reports KiB), largest rank and sum
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    rss_max, rss_sum = comm.allreduce(rss, "max"), comm.allreduce(rss, "sum")
    parts = comm.gather((res.spikes.gid, res.spikes.step))
    if comm.rank != 0:
        return None
    gid = np.concatenate([p[0] for p in parts])
    step = np.concatenate([p[1] for p in parts])
    keep = step > int(round(args.t_presim / net.dt))
    rates = {}
    for name, lo in net.offsets().items():
        n = net.populations[name].size
        rates[name] = float((keep & (gid >= lo) & (gid < lo + n)).sum()) / (n * args.t_sim * 1e-3)
    return dict(seed=seed, neurons=net.size, synapses=res.summary["synapses"], build_s=t_build, sim_s=t_sim,
                rates=rates, peak_rss_mib_max=rss_max, peak_rss_mib_sum=rss_sum,
                estimate_mib_per_rank=estimate.per_rank / 2**20)


def _stats(runs: list[dict], name: str) -> tuple[float, float]:
    x = np.array([r["rates"][name] for r in runs])
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else float("nan")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-scaling", type=float, default=0.1)
    ap.add_argument("--k-scaling", type=float, default=0.1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[55],
                    help="one run per seed (both simulators); several give the seed-to-seed spread")
    ap.add_argument("--t-presim", type=float, default=mc.T_PRESIM)
    ap.add_argument("--t-sim", type=float, default=mc.T_SIM)
    ap.add_argument("--partitioner", default="metis", choices=ds.placement.METHODS)
    ap.add_argument("--nest-python", default=None,
                    help="Python with nest-simulator 3.10 (default: an anchors venv in /tmp if present; "
                         "'none' to skip)")
    ap.add_argument("--nest-threads", type=int, default=1)
    args = ap.parse_args(argv)
    comm = ds.comm.world()
    if comm.size > 1:
        from distsnn.comm.mpi import abort_on_exception

        abort_on_exception(comm)
    runs = [run_distsnn(comm, args, seed) for seed in args.seeds]
    if comm.rank != 0:
        return
    python = args.nest_python or next((p for p in NEST_PYTHONS if os.path.exists(p)), None)
    nest = [run_nest(python, args, seed) for seed in args.seeds] if python and python != "none" else []
    nest = [r for r in nest if r is not None]
    first = runs[0]
    print(f"microcircuit N_scaling {args.n_scaling}, K_scaling {args.k_scaling}: {first['neurons']} neurons, "
          f"{first['synapses']} synapses, {comm.size} rank(s), seeds {args.seeds}")
    for r in runs:
        print(f"  distsnn seed {r['seed']}: build {r['build_s']:.2f} s, simulate "
              f"{args.t_presim + args.t_sim:g} ms in {r['sim_s']:.2f} s; peak RSS {r['peak_rss_mib_max']:.0f} MiB "
              f"per rank ({r['peak_rss_mib_sum']:.0f} MiB in all; estimated {r['estimate_mib_per_rank']:.0f} "
              f"MiB per rank)")
    for r in nest:
        print(f"  NEST {r['simulator']} ({r['threads']} thread(s)): build {r['build_s']:.2f} s, "
              f"simulate {r['sim_s']:.2f} s, {r['synapses']} connections (incl. devices)")
    print(f"  {'population':>10} {'distsnn':>15} {'NEST':>15} {'d/NEST':>7} {'published':>9}   (mean +- s.d. over seeds)")
    for i, name in enumerate(mc.POPULATIONS):
        m, sd = _stats(runs, name)
        nm, nsd = _stats(nest, name) if nest else (float("nan"), float("nan"))
        ratio = m / nm if nest and nm > 0 else float("nan")
        print(f"  {name:>10} {m:7.3f} +- {sd:5.3f} {nm:7.3f} +- {nsd:5.3f} {ratio:7.3f} {mc.PUBLISHED_RATES[i]:9.1f}")
    out = dict(bench="microcircuit", simulator=f"distsnn-{ds.__version__}", ranks=comm.size,
               n_scaling=args.n_scaling, k_scaling=args.k_scaling, neurons=first["neurons"],
               synapses=first["synapses"], runs=runs, nest=nest,
               published=dict(zip(mc.POPULATIONS, mc.PUBLISHED_RATES.tolist())))
    print("RESULT " + json.dumps(out, sort_keys=True))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
