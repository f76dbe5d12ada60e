"""Run a TOML network over MPI with a hand-made ownership, to test corner cases.

    mpiexec -n N python tests/mpi/run_owner.py NET.toml OUT_DIR MODE

MODE ``empty``: the last rank owns no neuron. MODE ``sources``: the last rank owns only
the population ``src``, whose neurons receive synapses from nobody outside it.
"""

import sys

import numpy as np

import distsnn as ds
from distsnn.comm import world
from distsnn.comm.mpi import abort_on_exception

comm = world()
abort_on_exception(comm)
path, out, mode = sys.argv[1:4]
net = ds.load_network(path)
n = net.size
owner = np.arange(n) % max(comm.size - 1, 1)
if mode == "sources":
    lo = net.offsets()["src"]
    owner[lo:lo + net.populations["src"].size] = comm.size - 1
sim = ds.Simulation(net, comm=comm, owner=owner, out=out, output=ds.OutputOptions(overwrite=True))
if mode == "empty" and comm.rank == comm.size - 1 and sim.owned.size != 0:
    raise RuntimeError("the last rank was meant to own no neuron")
sim.advance()
sim.close()
