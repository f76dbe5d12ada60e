#!/usr/bin/env python
"""What recording costs: peak memory with and without monitors, time share, sorting.

    .venv/bin/python scripts/bench_recording.py --spikes 1e7
    .venv/bin/mpiexec -n 2 .venv/bin/python scripts/bench_recording.py --spikes 2e6 --only stream

The network is ``--neurons`` Poisson sources firing at ``--rate`` Hz, dt = 1 ms, no
synapses, simulated long enough to emit about ``--spikes`` spikes: the cheapest network that makes many spikes, so the recording cost
is not hidden behind the neurons' (``--network brunel``: a real network, for the share
of a run's time). Each configuration runs in a fresh process (peak RSS
is a high-water mark):

- ``none``: no monitor;
- ``stream``: spike monitor on every neuron and a 10 ms rate monitor, streamed to files
  (``--buffer-mb``, flush every 10 epochs), then a time-sorted copy;
- ``memory``: the same monitors kept in memory (no ``out``), for comparison.

Prints per configuration the peak RSS (MiB, summed over ranks), the simulation time,
the recorder's time (buffering, HDF5 writes; the slowest rank) and its share of the
simulation time, the monitors' peak buffer, and for ``stream`` the time of the sorted
copy (every rank merges one time window, :func:`distsnn.io.sorting.write_sorted`); then
one ``RESULT {json}`` line per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import distsnn as ds
from distsnn.io import write_sorted


def network(kind: str, neurons: int, rate: float, spikes: float, monitors: bool) -> ds.Network:
    if kind == "brunel":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_brunel import brunel

        net = brunel(neurons, 1, 1000.0 * spikes / (neurons * rate))
        net.monitors.clear()
        if monitors:
            for name in net.populations:
                net.add_spike_monitor(name)
                net.add_rate_monitor(name, 10.0)
        return net
    t_stop = round(spikes / (neurons * rate * 1e-3))
    net = ds.Network(dt=1.0, seed=1, t_stop=float(t_stop))
    net.add_population("src", neurons, "poisson", params={"rate": rate})
    if monitors:
        net.add_spike_monitor("src")
        net.add_rate_monitor("src", 10.0)
    return net


def child(args: argparse.Namespace) -> None:
    comm = ds.comm.world()
    net = network(args.network, args.neurons, args.rate, args.spikes, args.config != "none")
    out = None
    if args.config == "stream":
        out = os.path.join(args.dir, "out")
    sim = ds.Simulation(net, comm=comm, partitioner="block", out=out,
                        output=ds.OutputOptions(overwrite=True, buffer_mb=args.buffer_mb))
    comm.barrier()
    t0 = time.perf_counter()
    sim.advance()
    t_sim = comm.allreduce(time.perf_counter() - t0, "max")
    s = sim.summary()
    sim.close()
    rss = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "sum")
    t_sort = 0.0
    if out is not None:
        comm.barrier()
        t1 = time.perf_counter()
        write_sorted(out, comm)
        t_sort = comm.allreduce(time.perf_counter() - t1, "max")
    if comm.rank == 0:
        ranks = s["per_rank"]
        rec = max(r["record_s"] for r in ranks)
        print("RESULT " + json.dumps(dict(
            bench="recording", config=args.config, ranks=s["ranks"], neurons=args.neurons,
            spikes=s["spikes_emitted"], recorded=s["spikes_recorded"],
            spikes_per_rank=s["spikes_emitted"] / s["ranks"], peak_rss_mb=rss, sim_s=t_sim, record_s=rec,
            record_share=rec / t_sim if t_sim else 0.0,
            monitor_peak_mb=max(r["monitor_peak_bytes"] for r in ranks) / 2**20,
            buffer_mb=args.buffer_mb, sort_s=t_sort,
            out_mb=(sum(os.path.getsize(os.path.join(out, p)) for p in os.listdir(out)) / 2**20
                    if out else 0.0))))
        sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", choices=("poisson", "brunel"), default="poisson",
                    help="poisson: sources only; brunel: scripts/bench_brunel.py's network (--rate: its "
                         "expected rate, to size the run)")
    ap.add_argument("--neurons", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=100.0, help="Hz")
    ap.add_argument("--spikes", type=float, default=1e7, help="about this many spikes in all")
    ap.add_argument("--buffer-mb", type=float, default=16.0)
    ap.add_argument("--only", choices=("none", "stream", "memory"), help="one configuration, in this process")
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.config:
        child(args)
        return
    if args.only:
        comm = ds.comm.world()
        args.config = args.only
        args.dir = comm.bcast(tempfile.mkdtemp(prefix="bench_recording_") if comm.rank == 0 else None)
        try:
            child(args)
        finally:
            comm.barrier()
            if comm.rank == 0:
                shutil.rmtree(args.dir, ignore_errors=True)
        return
    tmp = tempfile.mkdtemp(prefix="bench_recording_")
    try:
        for config in ("none", "stream", "memory"):
            cmd = [sys.executable, __file__, "--config", config, "--dir", tmp, "--network", args.network,
                   "--neurons", str(args.neurons),
                   "--rate", str(args.rate), "--spikes", str(args.spikes), "--buffer-mb", str(args.buffer_mb)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                sys.exit(proc.stderr)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
            r = json.loads(line[7:])
            print(f"{config:>7}: peak RSS {r['peak_rss_mb']:8.1f} MiB, sim {r['sim_s']:7.2f} s, "
                  f"record {r['record_s']:6.2f} s ({100 * r['record_share']:.1f} %), monitors' peak buffer "
                  f"{r['monitor_peak_mb']:.1f} MiB, {r['recorded']} spikes recorded"
                  + (f", sorted copy {r['sort_s']:.2f} s, files {r['out_mb']:.0f} MiB" if config == "stream" else ""))
            print(line)
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
