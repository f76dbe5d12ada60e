"""Train, checkpoint, restore onto another rank count and train on (both e-prop modes).

    mpiexec -n N python tests/mpi/eprop_checkpoint.py MODE PHASE DIR OUT.npz EXPECTED_SIZE

MODE: ``interval`` or ``online``. PHASE ``write``: train 2 iterations, checkpoint to DIR,
save the weights; ``resume``: restore DIR, train 2 more; ``full``: 4 in one run.
"""

import sys

import numpy as np

import distsnn as ds
from distsnn.comm import world

OPT = {"interval": {"type": "adam", "eta": 0.05, "batch_size": 3, "Wmin": -2.0, "Wmax": 2.0},
       "online": {"type": "adam", "eta": 0.02, "batch_size": 7, "optimize_each_step": True, "Wmin": -2.0,
                  "Wmax": 2.0}}


def trainer(mode, sim, plastic, target, feedback):
    extra = {"isi_trace_cutoff": {"a": 12.0}, "flush_interval": {"in": 25.0}} if mode == "online" else {}
    return ds.learning.make_trainer(sim, plastic, target, mode=mode, feedback=feedback, optimizer=OPT[mode],
                                    **extra)


if __name__ == "__main__":
    mode, phase, directory, out, expected = sys.argv[1:5] + [int(sys.argv[5])]
    comm = world()
    if comm.size != expected:
        raise RuntimeError(f"expected {expected} ranks, got {comm.size}")
    if mode == "online":
        from eprop_online_train import network
    else:
        from eprop_train import network
    net, plastic, target, feedback = network(iterations=4)
    if phase == "resume":
        sim = ds.Simulation.restore(directory, net, comm=comm, partitioner="round_robin")
        tr = trainer(mode, sim, plastic, target, feedback)
        tr.restore()
        res = tr.train(2)
    else:
        sim = ds.Simulation(net, comm=comm)
        tr = trainer(mode, sim, plastic, target, feedback)
        res = tr.train(2 if phase == "write" else 4)
        if phase == "write":
            sim.checkpoint(directory)
    arrays = {"loss": np.asarray(res.loss), "ranks": np.asarray(comm.size), "step": np.asarray(sim.step)}
    for name, (s, t, w) in res.weights.items():
        arrays[f"{name}/weight"] = w
    sim.close()
    if comm.rank == 0:
        np.savez(out, **arrays)
