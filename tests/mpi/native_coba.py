"""COBA-like runs over MPI through the compiled epochs with the exchange inside
(:mod:`distsnn.native_epochs`), in one job, saved for the test to compare with one process.

    mpiexec -n N python tests/mpi/native_coba.py NET.toml OUT.npz N CKPT_DIR

Variants: every partitioner on the compiled path; all ranks on the Python path (a no-op
hook on every rank, or on one rank only); rank 1 without the MPI bindings (no rank builds the compiled loop); a
checkpoint written from the compiled path and restored. Rank 0 writes each
variant's merged spikes, its per-rank counters and the exchanger's figures.
"""

import sys

import numpy as np

import distsnn as ds
from distsnn.comm import world
from distsnn.comm.mpi import abort_on_exception

comm = world()
abort_on_exception(comm)
path, out, expected, ckpt_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if comm.size != expected:
    raise RuntimeError(f"expected {expected} ranks, got {comm.size}")
net = ds.load_network(path)


class Idle:
    """A hook that observes nothing: it sends its rank down the Python path."""

    def spikes(self, *args):
        pass

    def stepped(self, *args):
        pass


saved = {}


def keep(name, sim, res):
    figures = np.array([0 if sim._native is None else sim._native.epochs, sim.exchanger.collectives,
                        sim.exchanger.overflows, sim.step], dtype=np.int64)
    every = comm.gather(figures)
    summary = res.summary["per_rank"]
    if comm.rank == 0:
        saved[f"{name}_native"] = np.array([sim._native is not None])
        saved[f"{name}_gid"] = res.spikes.gid
        saved[f"{name}_step"] = res.spikes.step
        trace = res.traces[("e", "V_m")]
        saved[f"{name}_trace"] = trace.values[:, np.argsort(trace.gids)]
        saved[f"{name}_figures"] = np.array(every)
        saved[f"{name}_counters"] = np.array([[r["records_sent"], r["records_received"], r["bytes_sent"],
                                               r["events"], r["spikes"]] + r["sent_to"] for r in summary])
        saved[f"{name}_timers"] = np.array([[r["update_s"], r["exchange_s"], r["deliver_s"]] for r in summary])


for method in ("metis", "round_robin", "block"):
    sim = ds.Simulation(net, comm=comm, partitioner=method, output=ds.OutputOptions(flush_every=7),
                        max_memory=None)
    keep(method, sim, sim.run(gather=True))
sim = ds.Simulation(net, comm=comm, partitioner="metis", output=ds.OutputOptions(flush_every=7), max_memory=None)
sim.hooks.append(Idle())
keep("python", sim, sim.run(gather=True))
# A hook on the last rank only: the others take the fused path without hooks, it takes the
# hooks' path; both must post the same collective (a mismatch hangs).
sim = ds.Simulation(net, comm=comm, partitioner="metis", output=ds.OutputOptions(flush_every=7), max_memory=None)
if comm.rank == comm.size - 1:
    sim.hooks.append(Idle())
keep("one_hook", sim, sim.run(gather=True))
# A rank whose MPI library is not one the compiled exchange knows: every rank takes the Python path.
if comm.rank == 1:
    comm.native = lambda: None
sim = ds.Simulation(net, comm=comm, partitioner="metis", output=ds.OutputOptions(flush_every=7), max_memory=None)
comm.__dict__.pop("native", None)
keep("refused", sim, sim.run(gather=True))
sim = ds.Simulation(net, comm=comm, partitioner="metis", max_memory=None)
sim.advance(net.t_stop / 2)
sim.checkpoint(ckpt_dir)
again = ds.Simulation.restore(ckpt_dir, net, comm=comm, partitioner="round_robin", max_memory=None)
keep("restored", again, again.run(gather=True))
if comm.rank == 0:
    np.savez(out, **saved)
