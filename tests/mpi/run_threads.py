"""Run one TOML network over MPI with ``threads`` threads per rank, every Poisson
injection and delivery batch split however small (the threads tests compare the records
with the single-process, single-thread run).

    mpiexec -n N python tests/mpi/run_threads.py NET.toml OUT_DIR THREADS N
"""

import sys

import distsnn as ds
from distsnn import delivery
from distsnn.comm import world
from distsnn.comm.mpi import abort_on_exception

comm = world()
abort_on_exception(comm)
path, out, threads, size = sys.argv[1:5]
if comm.size != int(size):
    raise SystemExit(f"launched on {comm.size} ranks, expected {size}")
delivery.MIN_SPIKES_PER_SPLIT = 1
delivery.MIN_NEURONS_PER_SPLIT = 1
sim = ds.Simulation(ds.load_network(path), comm=comm, out=out, threads=int(threads))
sim.advance()
sim.close()
