"""Through the Python API (no ``distsnn run``), a build-time check fails on rank 1 only.

    mpiexec -n 2 python tests/mpi/build_fails_on_one_rank.py weight|delay

``weight``/``delay``: an owner map puts all targets of projection a -> b on rank 1, whose weights (an unbounded normal above the fixed-point bound) or delays (beyond
2**31 steps) are drawn and refused there, while rank 0 goes on into the first collective.
The job must end at once (the abort hook comes with the communicator), not hang.
First each rank checks that the default memory limit counts the one machine the ranks
share once.
"""

import sys

import numpy as np

import distsnn as ds
from distsnn import memory
from distsnn.comm import world

comm = world()
assert comm.size == 2, f"run under mpiexec -n 2, got {comm.size} rank(s)"
mode = sys.argv[1]
limit = memory.job_limit(comm)
avail = memory.available_memory()
# Two ranks on one host: the limit is that host's available memory, not twice it.
assert limit.bytes is not None and 0.5 * avail < limit.bytes < 1.5 * avail, (limit, avail)
print(f"rank {comm.rank}: limit {limit.bytes} available {avail}", flush=True)
net = ds.Network(dt=0.1, seed=1, t_stop=10.0)
net.add_population("a", 2)
net.add_population("b", 2)
if mode == "weight":
    net.add_projection("a", "b", ds.OneToOne(), weight=ds.Normal(2.0 ** 26 + 10.0, 1.0), delay=1.0)
else:
    net.add_projection("a", "b", ds.OneToOne(), weight=1.0, delay=ds.Normal(2.0 ** 31 * 0.1 + 100.0, 1.0, low=1.0))
# The ring such delays need would not fit in memory: skip that check to reach the int32 one.
ds.Simulation(net, comm=comm, owner=np.array([0, 0, 1, 1]),
              max_memory=None if mode == "delay" else "available").run()
print(f"rank {comm.rank}: finished, but the build should have failed", flush=True)
