"""Run one TOML network over MPI once per partitioner, in one job (one launch, several
partitions: the invariance tests compare each against the single-process records).

    mpiexec -n N python tests/mpi/run_partitioners.py NET.toml OUT_DIR metis,round_robin,block

streams each run to ``OUT_DIR/<partitioner>`` (rank files and ``run.h5``).
"""

import os
import sys

import distsnn as ds
from distsnn.comm import world
from distsnn.comm.mpi import abort_on_exception

comm = world()
abort_on_exception(comm)
path, out, methods = sys.argv[1:4]
net = ds.load_network(path)
for method in methods.split(","):
    sim = ds.Simulation(net, comm=comm, partitioner=method, out=os.path.join(out, method),
                        output=ds.OutputOptions(overwrite=True))
    sim.advance()
    sim.close()
