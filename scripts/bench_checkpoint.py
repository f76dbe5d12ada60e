#!/usr/bin/env python
"""Checkpoint write and restore of the Brunel network (``bench_brunel.py``'s), timed.

    python scripts/bench_checkpoint.py --neurons 12500 --time-ms 100
    .venv/bin/mpiexec -n 2 .venv/bin/python scripts/bench_checkpoint.py --neurons 12500

Runs to ``--time-ms``, writes a checkpoint, restores it (on the same ranks, with
``--restore-partitioner``), and prints on rank 0: write and restore times (the restore
split into checking the files, building the network from its description, and loading
the state), the checkpoint's size on disk against the model state it holds and the
synapse tables it does not (they are rebuilt), the spikes in flight, and whether the
restored run continues exactly as the uninterrupted one (spikes of the next 20 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np
from bench_brunel import brunel

import distsnn as ds
from distsnn import checkpoint as ckpt
from distsnn.comm import world


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--neurons", type=int, default=12500)
    ap.add_argument("--time-ms", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--restore-partitioner", default="round_robin")
    ap.add_argument("--dir", help="where to write (default: a temporary directory, removed)")
    args = ap.parse_args()
    comm = world()
    net = brunel(args.neurons, args.seed, args.time_ms + 20.0)
    d = args.dir or comm.bcast(tempfile.mkdtemp() if comm.rank == 0 else None)
    sim = ds.Simulation(net, comm=comm)
    sim.run(args.time_ms)
    comm.barrier()
    t0 = time.perf_counter()
    where = sim.checkpoint(d)
    comm.barrier()
    t_write = time.perf_counter() - t0
    ref = sim.run(args.time_ms + 20.0, gather=True)
    t0 = time.perf_counter()
    ck = ckpt.open_checkpoint(d, net, comm)
    t_check = time.perf_counter() - t0
    other = ds.Simulation(net, comm=comm, partitioner=args.restore_partitioner)
    t_build = time.perf_counter() - t0 - t_check
    t1 = time.perf_counter()
    ckpt.load_into(other, ck)
    comm.barrier()
    t_load = time.perf_counter() - t1
    res = other.run(args.time_ms + 20.0, gather=True)
    syn = comm.allreduce(sim.synapse_bytes, "sum")
    if comm.rank == 0:
        after = ref.spikes.step > ck.step
        same = bool(np.array_equal(ref.spikes.gid[after], res.spikes.gid)
                    and np.array_equal(ref.spikes.step[after], res.spikes.step))
        out = {"neurons": args.neurons, "ranks": comm.size, "t_ms": args.time_ms,
               "write_s": round(t_write, 3), "check_s": round(t_check, 3), "build_s": round(t_build, 3),
               "load_s": round(t_load, 3), "size_bytes": ck.size_bytes(),
               "state_bytes": int(ck.attrs["state_bytes"]), "inflight_spikes": int(ck.attrs["inflight_spikes"]),
               "synapse_bytes": int(syn), "continues_exactly": same}
        print(f"checkpoint {where}")
        for k, v in out.items():
            print(f"  {k:<18} {v}")
        print("RESULT " + json.dumps(out))
        if not args.dir:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
