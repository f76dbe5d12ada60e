#!/usr/bin/env python
"""Spike exchange primitives, side by side: MPI_Alltoallv against MPI_Neighbor_alltoallv.

    .venv/bin/mpiexec -n 4 .venv/bin/python scripts/bench_exchange.py

Each rank sends ``--spikes`` int64 messages per epoch, split over its neighbours: in
the *dense* pattern every other rank (a random network), in the *ring* pattern only the
two adjacent ranks (a modular network split by METIS). Alltoallv needs a count
exchange (Alltoall) first; the neighbour collective exchanges counts with
Neighbor_alltoall over a distributed-graph communicator made once. Prints the mean time
per epoch of each. This is a measurement of MPI itself, so it uses mpi4py directly.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from mpi4py import MPI


def epoch_alltoallv(comm, send, counts):
    rc = np.empty_like(counts)
    comm.Alltoall(counts, rc)
    recv = np.empty(int(rc.sum()), dtype=np.int64)
    comm.Alltoallv([send, (counts, None), MPI.INT64_T], [recv, (rc, None), MPI.INT64_T])
    return recv


def epoch_neighbor(gcomm, send, counts):
    rc = np.empty_like(counts)
    gcomm.Neighbor_alltoall(counts, rc)
    recv = np.empty(int(rc.sum()), dtype=np.int64)
    gcomm.Neighbor_alltoallv([send, (counts, None), MPI.INT64_T], [recv, (rc, None), MPI.INT64_T])
    return recv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spikes", type=int, default=2000, help="messages per rank per epoch")
    ap.add_argument("--epochs", type=int, default=2000)
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    results = {}
    for pattern in ("dense", "ring"):
        if pattern == "dense":
            nbrs = [r for r in range(size) if r != rank]
        else:
            nbrs = sorted({(rank - 1) % size, (rank + 1) % size} - {rank})
        gcomm = comm.Create_dist_graph_adjacent(nbrs, nbrs, reorder=False)
        full = np.zeros(size, dtype=np.int64)
        share = np.full(len(nbrs), args.spikes // max(len(nbrs), 1), dtype=np.int64)
        full[nbrs] = share
        send_full = np.arange(int(full.sum()), dtype=np.int64)
        send_nb = np.arange(int(share.sum()), dtype=np.int64)
        for name, fn, a, b in (("alltoallv", epoch_alltoallv, comm, full),
                               ("neighbor", epoch_neighbor, gcomm, share)):
            send = send_full if name == "alltoallv" else send_nb
            for _ in range(50):
                fn(a, send, b)
            comm.Barrier()
            t0 = time.perf_counter()
            for _ in range(args.epochs):
                got = fn(a, send, b)
            dt = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX) / args.epochs
            expect = comm.allreduce(int(b.sum()), op=MPI.SUM)
            total = comm.allreduce(got.size, op=MPI.SUM)
            if total != expect:
                raise RuntimeError(f"{name}/{pattern}: received {total} of {expect} messages")
            results[(pattern, name)] = dt
        gcomm.Free()
    if rank == 0:
        print(f"ranks {size}, {args.spikes} messages per rank per epoch, {args.epochs} epochs")
        for pattern in ("dense", "ring"):
            a, n = results[(pattern, "alltoallv")], results[(pattern, "neighbor")]
            print(f"  {pattern:>5}: alltoallv {a * 1e6:8.1f} us/epoch, neighbor {n * 1e6:8.1f} us/epoch, "
                  f"ratio neighbor/alltoallv {n / a:.2f}")


if __name__ == "__main__":
    main()
