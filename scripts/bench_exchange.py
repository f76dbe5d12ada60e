#!/usr/bin/env python
"""Microseconds per spike exchange, as the engine makes it: pack, exchange, unpack.

    .venv/bin/mpiexec -n 2 .venv/bin/python scripts/bench_exchange.py

A 12,500-neuron network dealt out round robin, every neuron needed by every rank (the
Brunel network's routes). Each rank sends ``--spikes`` spikes per epoch (``small``: 2, a
microcircuit step; ``brunel``: 350, a 1.5 ms Brunel epoch at 37 Hz on 2 ranks), through

- ``alltoallv``: :meth:`Comm.alltoallv`, the counts exchanged first (two collectives);
- ``slots``: the engine's :meth:`Comm.exchanger`, counts inside the data (one collective);
- ``compiled``: the same slot exchange from compiled code (:mod:`distsnn.comm.native`, the
  MPI calls made from numba), ``--epochs`` exchanges in one call, as the engine's
  compiled epochs make them (packing and unpacking left out: they are compiled there too).

Prints the mean time per exchange (slowest rank) and the part spent in the collective
calls, alternating the two methods so that machine load hits both alike, and one
``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from numba import njit

from distsnn import routing
from distsnn.comm import native, world
from distsnn.placement import OwnerMap


@njit(cache=True)
def _exchanges(epochs, table, send, counts, sslot, sdispl, rslot, rdispl, ints, sbuf, rbuf, rcounts, reqs, statuses):
    # ``epochs`` compiled exchanges, or fewer if a slot changed (the caller lays out anew).
    for e in range(epochs):
        recv, err, over, changed = native.exchange(table, send, counts, sslot, sdispl, rslot, rdispl, ints, sbuf,
                                                   rbuf, rcounts, reqs, statuses)
        if err:
            return -1
        if changed:
            return e + 1
    return epochs


def compiled(ex, bindings, buf: np.ndarray, counts: np.ndarray, epochs: int) -> None:
    """``epochs`` slot exchanges of ``buf`` through :func:`distsnn.comm.native.exchange`."""
    reqs, statuses = native.scratch(counts.size)
    done = 0
    while done < epochs:
        ints = native.c_ints(ex.sslot, ex.sdispl, ex.rslot, ex.rdispl)
        k = _exchanges(epochs - done, bindings.table, buf, counts, ex.sslot, ex.sdispl, ex.rslot, ex.rdispl, ints,
                       ex.sbuf, ex.rbuf, ex.rcounts, reqs, statuses)
        if k < 0:
            raise RuntimeError("compiled exchange: MPI error")
        done += k
        ex._layout()


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
    bindings = comm.native()
    usable = comm.allreduce(int(bindings is not None), "min")
    methods = ("alltoallv", "slots", "compiled") if usable else ("alltoallv", "slots")
    result = {"ranks": size}
    for label, spikes in (("small", 2), ("brunel", 350)):
        rng = np.random.default_rng(rank)
        gids = np.sort(rng.choice(owned, spikes, replace=False))
        steps = rng.integers(0, 15, spikes)
        best = {}
        for _ in range(args.repeats):
            for method in methods:
                fn = comm.alltoallv if method == "alltoallv" else ex.exchange
                comm.barrier()
                t0, t_coll = time.perf_counter(), 0.0
                if method == "compiled":
                    buf, counts = router.pack(np.searchsorted(owned, gids), gids, steps)
                    compiled(ex, bindings, buf, counts, args.epochs)
                    t_coll = time.perf_counter() - t0
                for _ in range(args.epochs if method != "compiled" else 0):
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
