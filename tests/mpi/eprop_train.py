"""Train a small e-prop network (two recurrent populations, one adaptive; two readouts;
recurrence between and within them; firing-rate regularisation) and save, on rank 0,
the trained weights and the losses.

    mpiexec -n N python tests/mpi/eprop_train.py OUT.npz PARTITIONER EXPECTED_SIZE
"""

import sys

import numpy as np

import distsnn as ds
from distsnn.comm import world


def network(iterations: int = 4, T: int = 60) -> tuple:
    rng = np.random.RandomState(3)
    n_in, n_a, n_b = 12, 10, 8
    net = ds.Network(dt=1.0, t_stop=T * (iterations + 1))
    base = [np.flatnonzero(rng.rand(T) < 0.1) for _ in range(n_in)]
    net.add_population("in", n_in, "spike_train",
                       {"times": [[float(t + T * i) for i in range(iterations + 1) for t in b if t > 0] for b in base]})
    rec = dict(C_m=1.0, E_L=0.0, V_th=0.2, t_ref=2.0, tau_m=20.0, c_reg=0.5, f_target=20.0,
               surrogate_gradient_function="fast_sigmoid_derivative", surrogate_gradient_height=0.5,
               surrogate_gradient_width=0.1, kappa=float(np.exp(-1 / 15.0)))
    net.add_population("a", n_a, "eprop_iaf", rec, initial={"V_m": 0.0})
    net.add_population("b", n_b, "eprop_iaf_adapt", dict(rec, adapt_beta=0.05, adapt_tau=50.0),
                       initial={"V_m": 0.0})
    net.add_population("out", 2, "eprop_readout", dict(C_m=1.0, tau_m=15.0), initial={"V_m": 0.0})
    for pre, post, n_pre, n_post, s, d in (("in", "a", n_in, n_a, 0.4, 1.0), ("in", "b", n_in, n_b, 0.4, 2.0),
                                           ("a", "b", n_a, n_b, 0.2, 1.0), ("b", "a", n_b, n_a, 0.2, 3.0),
                                           ("a", "out", n_a, 2, 0.05, 1.0), ("b", "out", n_b, 2, 0.05, 1.0)):
        net.add_projection(pre, post, {"rule": "all_to_all"}, "delta", weight=rng.randn(n_pre, n_post) * s, delay=d)
    net.add_projection("a", "a", {"rule": "all_to_all", "allow_autapses": False}, "delta",
                       weight=rng.randn(n_a, n_a) * 0.1, delay=1.0)
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
    # with NEST's reset at every interval (Adam, batches of 2), and without (traces carried
    # across intervals; gradient descent)
    for tag, reset, opt in (("", True, {"type": "adam", "eta": 0.05, "batch_size": 2}),
                            ("noreset:", False, {"type": "gradient_descent", "eta": 5e-5})):
        res = ds.train(net, plastic, target, 4, feedback=feedback, partitioner=method, comm=comm, reset=reset,
                       optimizer=dict(opt, Wmin=-2.0, Wmax=2.0))
        arrays[f"{tag}loss"] = np.asarray(res.loss)
        for name, (s, t, w) in res.weights.items():
            arrays[f"{tag}{name}/source"], arrays[f"{tag}{name}/target"], arrays[f"{tag}{name}/weight"] = s, t, w
    if comm.rank == 0:
        np.savez(out, ranks=np.asarray(comm.size), **arrays)
