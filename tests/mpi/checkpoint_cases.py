"""Checkpoint and restore cases over MPI, several in one job (one launch per rank count).

    mpiexec -n N python tests/mpi/checkpoint_cases.py CASES.json N

``CASES.json``: a list of ``{"do": "write", "net": TOML, "t": MS, "method": M, "out": DIR,
"ckpt": DIR}`` (run from 0 to ``t``, records to ``out``, checkpoint to ``ckpt``) and
``{"do": "restore", "net": TOML, "t": MS, "method": M, "ckpt": DIR, "out": DIR}``
(restore ``ckpt``, run to ``t``, records to ``out``), done in order.
"""

import json
import sys

import distsnn as ds
from distsnn.comm import world
from distsnn.comm.mpi import abort_on_exception

comm = world()
abort_on_exception(comm)
with open(sys.argv[1]) as fh:
    cases = json.load(fh)
for case in cases:
    net = ds.load_network(case["net"])
    opts = ds.OutputOptions(overwrite=True)
    if case["do"] == "write":
        sim = ds.Simulation(net, comm=comm, partitioner=case["method"], out=case["out"], output=opts)
    else:
        sim = ds.Simulation.restore(case["ckpt"], net, comm=comm, partitioner=case["method"], out=case["out"],
                                    output=opts)
    if sim.comm.size != int(sys.argv[2]):
        raise SystemExit(f"MPI size {sim.comm.size}, expected {sys.argv[2]}")
    sim.advance(case["t"])
    if case["do"] == "write":
        sim.checkpoint(case["ckpt"])
    sim.close()
