"""Rank 1 raises between two compiled calls of the native epochs while rank 0 waits in
the exchange inside its compiled loop (an MPI call made from numba).

    mpiexec -n 2 python tests/mpi/native_fail.py NET.toml
"""

import sys

import distsnn as ds
from distsnn.comm import world
from distsnn.comm.mpi import abort_on_exception

comm = world()
abort_on_exception(comm)
if comm.size != 2:
    raise RuntimeError(f"expected 2 ranks, got {comm.size}")
net = ds.load_network(sys.argv[1])
sim = ds.Simulation(net, comm=comm, output=ds.OutputOptions(flush_every=5), max_memory=None)
if sim._native is None:
    raise RuntimeError("the native epochs are not in use")
if comm.rank == 1:
    run = sim._native.run

    def failing(end):
        if sim.step >= 300:
            raise RuntimeError(f"rank 1 fails at step {sim.step}")
        run(end)

    sim._native.run = failing
sim.run()
print("not reached", flush=True)
