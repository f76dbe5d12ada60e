"""The timed run and report shared by the benchmark scripts (one process or mpiexec).

Times are the slowest rank's, memory is summed over ranks, spikes are gathered on rank
0, which prints the figures and one ``RESULT {json}`` line in the anchors' format.
"""

from __future__ import annotations

import argparse
import json
import resource
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
    t1 = time.perf_counter()
    res = sim.run(args.time_ms)
    t_sim = comm.allreduce(time.perf_counter() - t1, "max")
    peaks = comm.gather(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    rss = sum(peaks) if peaks is not None else 0.0
    parts = comm.gather((res.spikes.gid, res.spikes.step))
    if comm.rank != 0:
        return
    spikes = ds.Spikes.from_steps(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                                  net.dt)
    s = res.summary
    ranks = s["per_rank"]
    out = dict(bench=bench, simulator=f"distsnn-{ds.__version__}", ranks=s["ranks"],
               partitioner=args.partitioner, N=args.neurons,
               t_sim_ms=args.time_ms, build_s=t_build, sim_s=t_sim, spikes=s["spikes"],
               rate_hz=s["mean_rate_hz"], cv_isi=ds.Result(spikes).isi_cv(), n_synapses=s["synapses"],
               events_per_s=sum(r["events"] for r in ranks) / t_sim if t_sim else 0.0,
               update_s=max(r["update_s"] for r in ranks), exchange_s=max(r["exchange_s"] for r in ranks),
               deliver_s=max(r["deliver_s"] for r in ranks),
               bytes_sent=sum(r["bytes_sent"] for r in ranks),
               synapse_bytes=sum(r["synapse_bytes"] for r in ranks),
               bytes_per_synapse=sum(r["synapse_bytes"] for r in ranks) / max(s["synapses"], 1),
               peak_rss_mb=rss, peak_rss_mb_per_rank=peaks)
    for k, v in out.items():
        print(f"  {k:>14}: {v:.4g}" if isinstance(v, float) else f"  {k:>14}: {v}")
    print("RESULT " + json.dumps(out, sort_keys=True, default=float))
    sys.stdout.flush()
