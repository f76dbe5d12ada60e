#!/usr/bin/env python
"""Microseconds per spike exchange, as the engine makes it: pack, exchange, unpack.

    .venv/bin/mpiexec -n 2 .venv/bin/python scripts/bench_exchange.py

A 12,500-neuron network dealt out round robin, every neuron needed by every rank (the
Brunel network's routes). Each rank sends ``--spikes`` spikes per epoch (``small``: 2, a
microcircuit step; ``brunel``: 350, a 1.5 ms Brunel epoch at 37 Hz on 2 ranks), through

- ``alltoallv``: :meth:`Comm.alltoallv`, the counts exchanged first (two collectives);
- ``slots``: the engine's :meth:`Comm.exchanger`, counts inside the data (one collective).

Prints the mean time per exchange (slowest rank) and the part spent in the collective
calls, alternating the two methods so that machine load hits both alike, and one
``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from distsnn import routing
from distsnn.comm import world
from distsnn.placement import OwnerMap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    comm = world()
    size, rank = comm.size, comm.rank
    n = 12500
    owner = OwnerMap.from_array(np.arange(n) % size)
    owned = owner.owned(rank)
    setup = routing.make_router(comm, owner, owned, np.arange(n))
    router = setup.router
    ex = comm.exchanger(setup.send_to, setup.recv_from)
    result = {"ranks": size}
    for label, spikes in (("small", 2), ("brunel", 350)):
        rng = np.random.default_rng(rank)
        gids = np.sort(rng.choice(owned, spikes, replace=False))
        steps = rng.integers(0, 15, spikes)
        best = {}
        for _ in range(args.repeats):
            for method in ("alltoallv", "slots"):
                fn = comm.alltoallv if method == "alltoallv" else ex.exchange
                comm.barrier()
                t0, t_coll = time.perf_counter(), 0.0
                for _ in range(args.epochs):
                    buf, counts = router.pack(np.searchsorted(owned, gids), gids, steps)
                    t1 = time.perf_counter()
                    recv, rc = fn(buf, counts)
                    t_coll += time.perf_counter() - t1
                    router.unpack(recv, 100)
                total = comm.allreduce(time.perf_counter() - t0, "max") / args.epochs
                coll = comm.allreduce(t_coll, "max") / args.epochs
                if method not in best or total < best[method][0]:
                    best[method] = (total, coll)
        for method, (total, coll) in best.items():
            result[f"{label}_{method}_us"] = total * 1e6
            if rank == 0:
                print(f"{label:>6} ({spikes} spikes/rank): {method:>9} {total * 1e6:7.1f} us/exchange "
                      f"({coll * 1e6:.1f} in the collective calls), best of {args.repeats}")
    if rank == 0:
        print("RESULT " + json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
