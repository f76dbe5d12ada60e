"""``distsnn run`` under MPI, also writing the owner map it ran on (rank of every gid).

    mpiexec -n N python tests/mpi/run_partition.py OWNER.npy RUN ARGS...

``RUN ARGS`` are the arguments of ``distsnn run`` (config, --out, partition options):
they go through the command's own parser and partition options
(:func:`distsnn.partition_cli.spec_from_args`), then the same
:class:`distsnn.Simulation` as ``distsnn run`` builds streams its records to ``--out``,
and rank 0 saves the gathered owner map to ``OWNER.npy``.
"""

import sys

import numpy as np

import distsnn as ds
from distsnn import cli, partition_cli
from distsnn.comm import world
from distsnn.comm.mpi import abort_on_exception

comm = world()
abort_on_exception(comm)
owner_path = sys.argv[1]
args = cli.parser().parse_args(sys.argv[2:])
net = ds.load_network(args.config)
spec = partition_cli.spec_from_args(args, args.partitioner, args.partition)
sim = ds.Simulation(net, comm=comm, partitioner=spec, out=args.out)
owned = comm.gather(sim.owned)
if comm.rank == 0:
    owner = np.full(net.size, -1, dtype=np.int64)
    for rank, gids in enumerate(owned):
        owner[gids] = rank
    np.save(owner_path, owner)
sim.advance()
sim.close()
