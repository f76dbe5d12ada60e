"""Train a small e-prop network in NEST's online form (two recurrent populations, one
adaptive; two readouts; recurrence; regularisation; cutoffs and flush events) and save,
on rank 0, the trained weights, the losses and the gradients.

    mpiexec -n N python tests/mpi/eprop_online_train.py OUT.npz PARTITIONER EXPECTED_SIZE
"""

import sys

import numpy as np

import distsnn as ds
from distsnn.comm import world


def network(iterations: int = 3, T: int = 40) -> tuple:
    rng = np.random.RandomState(5)
    n_in, n_a, n_b = 10, 9, 7
    net = ds.Network(dt=1.0, t_stop=T * (iterations + 1) + 2)
    net.add_population("in", n_in, "spike_train",
                       {"times": [sorted(set((np.flatnonzero(rng.rand(T * iterations) < 0.08) + 1).tolist()))
                                  for _ in range(n_in)]})
    rec = dict(C_m=1.0, E_L=0.0, V_th=0.25, t_ref=2.0, tau_m=20.0, c_reg=0.3, f_target=20.0,
               surrogate_gradient_function="arctan_derivative", surrogate_gradient_height=0.5,
               surrogate_gradient_width=0.2, kappa=0.95)
    net.add_population("a", n_a, "eprop_iaf", rec, initial={"V_m": 0.0})
    net.add_population("b", n_b, "eprop_iaf_adapt", dict(rec, adapt_beta=0.05, adapt_tau=40.0), initial={"V_m": 0.0})
    net.add_population("out", 2, "eprop_readout", dict(C_m=1.0, tau_m=15.0), initial={"V_m": 0.0})
    for pre, post, n_pre, n_post, s in (("in", "a", n_in, n_a, 0.5), ("in", "b", n_in, n_b, 0.5),
                                        ("a", "b", n_a, n_b, 0.2), ("b", "a", n_b, n_a, 0.2),
                                        ("a", "out", n_a, 2, 0.1), ("b", "out", n_b, 2, 0.1)):
        net.add_projection(pre, post, {"rule": "all_to_all"}, "delta", weight=rng.randn(n_pre, n_post) * s + 0.05,
                           delay=1.0)
    net.add_projection("a", "a", {"rule": "all_to_all", "allow_autapses": False}, "delta",
                       weight=rng.randn(n_a, n_a) * 0.1, delay=1.0)
    # not trained, only there to cross ranks with a longer delay (see "owner:" below)
    net.add_population("x", 2, "lif", {})
    net.add_projection("in", "x", {"rule": "all_to_all"}, "delta", weight=1.0, delay=3.0)
    target = np.vstack([np.sin(np.linspace(0, 2 * np.pi, T)), np.cos(np.linspace(0, 4 * np.pi, T))])
    feedback = {"a": rng.randn(n_a, 2), "b": rng.randn(n_b, 2)}
    plastic = ["in_a", "in_b", "a_b", "b_a", "a_a", "a_out", "b_out"]
    return net, plastic, target, feedback


if __name__ == "__main__":
    out, method, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
    comm = world()
    if comm.size != expected:
        raise RuntimeError(f"expected {expected} ranks, got {comm.size}")
    net, plastic, target, feedback = network()
    arrays = {}
    adam = {"type": "adam", "eta": 0.02, "batch_size": 5, "optimize_each_step": True}
    online = {"isi_trace_cutoff": {"a": 12.0, "out": 20.0}, "flush_interval": {"in": 25.0, "b": 30.0}}
    # every trained neuron on rank 0 and "x" on the last rank: only the delay-3 synapses
    # cross, so the simulation's epoch is 3 steps until the trainer makes it one
    owner = np.zeros(net.size, np.int64)
    owner[net.offsets()["x"]:] = comm.size - 1
    for tag, opt, extra, own in (("", adam, online, None),
                                 ("spike:", {"type": "gradient_descent", "eta": 0.01, "optimize_each_step": False},
                                  {}, None),
                                 ("owner:", adam, online, owner)):
        sim = ds.Simulation(net, comm=comm, partitioner=method, owner=own)
        if own is not None and comm.size > 1 and sim.epoch != 3:
            raise RuntimeError(f"expected an epoch of 3 steps, got {sim.epoch}")
        tr = ds.learning.make_trainer(sim, plastic, target, mode="online", feedback=feedback,
                                      optimizer=dict(opt, Wmin=-2.0, Wmax=2.0), **extra)
        res = tr.train(3)
        arrays[f"{tag}loss"] = np.asarray(res.loss)
        grads = tr.gradients(gather=True)
        for name, (s, t, w) in res.weights.items():
            arrays[f"{tag}{name}/source"], arrays[f"{tag}{name}/target"], arrays[f"{tag}{name}/weight"] = s, t, w
            arrays[f"{tag}{name}/gradient"] = grads[name][2]
        sim.close()
    if comm.rank == 0:
        np.savez(out, ranks=np.asarray(comm.size), **arrays)
