"""Run one TOML network over MPI once per partitioner, in one job (one launch, several
partitions: the invariance tests compare each against the single-process records).

    mpiexec -n N python tests/mpi/run_partitioners.py NET.toml OUT_DIR metis,round_robin,block

writes ``OUT_DIR/<partitioner>/rank*.h5``.
"""

import os
import sys

import distsnn as ds
from distsnn.comm import world
from distsnn.comm.mpi import abort_on_exception
from distsnn.io.hdf5 import write_run

comm = world()
abort_on_exception(comm)
path, out, methods = sys.argv[1:4]
net = ds.load_network(path)
for method in methods.split(","):
    sim = ds.Simulation(net, comm=comm, partitioner=method)
    write_run(os.path.join(out, method), comm, net.dt, sim.run())
