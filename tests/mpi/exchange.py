"""The one-collective spike exchange against a plain Alltoallv, under mpiexec.

    mpiexec -n N python tests/mpi/exchange.py

Random traffic on a random peer graph (some pairs never talk), from silent calls to
bursts hundreds of times the first slot, so slots grow, overflow point to point and
shrink again, every other call split into ``start`` and ``finish``. Every call's
received items and counts must equal ``alltoallv``'s. Prints
``OK collectives=C overflows=O calls=K`` on rank 0.
"""

import sys

import numpy as np

from distsnn.comm import world
from distsnn.comm.mpi import abort_on_exception

comm = world()
abort_on_exception(comm)
size, rank = comm.size, comm.rank
rng = np.random.default_rng(7)   # the same peer graph on every rank
talk = rng.random((size, size)) < 0.7
np.fill_diagonal(talk, False)
ex = comm.exchanger(np.flatnonzero(talk[rank]), np.flatnonzero(talk[:, rank]))
mine = np.random.default_rng(100 + rank)
calls = 300
for k in range(calls):
    scale = [0, 1, 3, 40, 2000][k // 20 % 5] if k < 200 else int(mine.integers(0, 300))
    counts = np.where(talk[rank], mine.poisson(scale, size), 0).astype(np.int64)
    send = (rank << 40) + (k << 20) + np.arange(int(counts.sum()), dtype=np.int64)
    if k % 2:
        got, got_counts = ex.exchange(send, counts)
    else:
        # The two halves, the caller's array overwritten in between (the engine works
        # while the spikes travel).
        ex.start(send, counts)
        kept = send.copy()
        send[:] = -1
        got, got_counts = ex.finish()
        send = kept
    want, want_counts = comm.alltoallv(send, counts)
    if not (np.array_equal(got, want) and np.array_equal(got_counts, want_counts)):
        raise RuntimeError(f"rank {rank}, call {k}: the exchange differs from alltoallv")
n_coll = comm.allreduce(ex.collectives, "max")
n_over = comm.allreduce(ex.overflows, "sum")
if rank == 0:
    if size != int(sys.argv[1]):
        raise RuntimeError(f"expected {sys.argv[1]} ranks, got {size}")
    print(f"OK collectives={n_coll} overflows={n_over} calls={calls}")
