"""Recording under MPI through the Python API.

    mpiexec -n N python tests/mpi/recording.py gather NET.toml OUT_DIR RESULT.npz
    mpiexec -n N python tests/mpi/recording.py crash NET.toml OUT_DIR STEP

``gather``: ``ds.simulate(net, out=OUT_DIR, gather=True)``; rank 0 saves the gathered
records. ``crash``: the last rank raises at step STEP (flushing every epoch); the job aborts.
"""

import sys

import numpy as np

import distsnn as ds
from distsnn.comm import world
from distsnn.comm.mpi import abort_on_exception

comm = world()
abort_on_exception(comm)
mode, path, out = sys.argv[1:4]
net = ds.load_network(path)
if mode == "gather":
    res = ds.simulate(net, out=out, gather=True)
    if comm.rank == 0:
        arrays = {"size": comm.size, "gid": res.spikes.gid, "step": res.spikes.step}
        for (pop, var), tr in res.traces.items():
            arrays[f"trace:{pop}:{var}:gids"] = tr.gids
            arrays[f"trace:{pop}:{var}:values"] = tr.values
        for pop, r in res.rates.items():
            arrays[f"rate:{pop}"] = r.counts
        np.savez(sys.argv[4], **arrays)
else:
    at = int(sys.argv[4])
    sim = ds.Simulation(net, comm=comm, partitioner="round_robin", out=out,
                        output=ds.OutputOptions(flush_every=1))
    if comm.rank == comm.size - 1:
        pop = sim.pops[0]
        step = pop.model.step

        def failing(state, x, prepared, n):
            if n == at:
                raise RuntimeError(f"rank {comm.rank} fails at step {at}")
            return step(state, x, prepared, n)

        pop.model = type("Failing", (), {"step": staticmethod(failing), "record": staticmethod(pop.model.record)})
    sim.run()
