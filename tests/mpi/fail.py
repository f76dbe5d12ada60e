"""A run in which rank 1 raises, during set-up or in the middle of the simulation.

    mpiexec -n 2 python tests/mpi/fail.py NET.toml setup|run
"""

import sys

import distsnn as ds
from distsnn.comm import world
from distsnn.comm.mpi import abort_on_exception

comm = world()
abort_on_exception(comm)
net = ds.load_network(sys.argv[1])
when = sys.argv[2]
if when == "setup" and comm.rank == 1:
    raise RuntimeError("rank 1 fails during set-up")
sim = ds.Simulation(net, comm=comm, partitioner="round_robin")
if when == "run" and comm.rank == 1:
    pop = sim.pops[0]
    step = pop.model.step

    def failing(state, x, prepared, n):
        if n == 300:
            raise RuntimeError("rank 1 fails at step 300")
        return step(state, x, prepared, n)

    pop.model = type("Failing", (), {"step": staticmethod(failing), "record": staticmethod(pop.model.record)})
sim.run(100.0)
