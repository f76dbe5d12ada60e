"""What rank 0 of a real run holds, for the dry-run test (rank 0 prints one JSON line).

    mpiexec -n N python tests/mpi/dry_run_check.py NET.toml PARTITIONER
"""

import json
import sys

import distsnn as ds
from distsnn.comm import world
from distsnn.comm.mpi import abort_on_exception
from distsnn.dryrun import held_bytes

comm = world()
abort_on_exception(comm)
path, method = sys.argv[1:3]
sim = ds.Simulation(ds.load_network(path), comm=comm, partitioner=method, keep_records=False)
s = sim.summary()
if comm.rank == 0:
    print("HELD " + json.dumps({"ranks": comm.size, "neurons": int(sim.owned.size), "synapses": sim.n_synapses,
                                "route_entries": int(sim.router.route_dst.size), "epoch": sim.epoch,
                                "structures": held_bytes(sim), "per_rank": s["per_rank"]}))
