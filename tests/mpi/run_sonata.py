"""Run a SONATA simulation config over MPI and print, on rank 0, one JSON line: the MPI
size, the synapses built, the spikes of each SONATA population, every rank's owned
SONATA nodes (population, node id) and the edge rows it read, and the spikes (gid, step).

    mpiexec -n N python tests/mpi/run_sonata.py SIMULATION_CONFIG.json T_STOP_MS PARTITIONER
"""

import json
import sys

import numpy as np

import distsnn as ds
from distsnn.comm import world
from distsnn.comm.mpi import abort_on_exception

comm = world()
abort_on_exception(comm)
config, t_stop, partitioner = sys.argv[1], float(sys.argv[2]), sys.argv[3]
circuit = ds.load_sonata(config)
sim = ds.Simulation(circuit.network, comm=comm, partitioner=partitioner)
result = sim.run(t_stop)
pops, ids = circuit.node_ids(sim.owned)
spop, _ = circuit.node_ids(result.spikes.gid)
local = {
    "owned": [[str(p), int(i)] for p, i in zip(pops, ids)],
    "rows_read": {r.population: r.rows_read for r in circuit.readers},
    "scan_rows": sum(r.scan_rows for r in circuit.readers),
    "spikes_by_population": {str(p): int(np.sum(spop == p)) for p in set(spop.tolist())},
    "gid": result.spikes.gid.tolist(), "step": result.spikes.step.tolist(),
}
everything = comm.gather(local)
if comm.rank == 0:
    per_pop: dict[str, int] = {}
    for r in everything:
        for p, k in r["spikes_by_population"].items():
            per_pop[p] = per_pop.get(p, 0) + k
    print("RESULT " + json.dumps({"size": comm.size, "synapses": result.summary["synapses"],
                                  "spikes": per_pop, "ranks": everything}))
