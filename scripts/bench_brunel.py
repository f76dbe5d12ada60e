#!/usr/bin/env python
"""Brunel (2000) network A with NEST's ``brunel_delta`` parameters, timed.

N_E = 4 N_I, fixed in-degree C_E = 0.1 N_E and C_I = 0.1 N_I without multapses,
J = 0.1 mV, g = 5, eta = 2, delay 1.5 ms, tau_m = 20 ms, V_th = 20 mV,
V_reset = 10 mV, t_ref = 2 ms, dt = 0.1 ms, V_0 ~ U(0, V_th), independent Poisson
drive per neuron at eta * nu_thr * C_E. The same network as
``shared/anchors/brunel_nest.py`` and ``brunel_brian2.py``, so the printed figures
(and the ``RESULT {json}`` line) compare side by side.

    python scripts/bench_brunel.py --neurons 12500 --time-ms 1000
    .venv/bin/mpiexec -n 2 .venv/bin/python scripts/bench_brunel.py --neurons 12500

Under mpiexec the network is split by ``--partitioner`` (default metis); times are the
slowest rank's, memory is summed over ranks, and rank 0 prints.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np

import distsnn as ds


def brunel(n_total: int, seed: int, t_stop: float) -> ds.Network:
    ne = int(round(0.8 * n_total))
    ni = n_total - ne
    ce, ci = int(round(0.1 * ne)), int(round(0.1 * ni))
    J, g, eta, D = 0.1, 5.0, 2.0, 1.5
    params = dict(C_m=250.0, tau_m=20.0, t_ref=2.0, E_L=0.0, V_th=20.0, V_reset=10.0)
    nu_thr = params["V_th"] / (J * ce * params["tau_m"])   # per ms
    p_rate = 1000.0 * eta * nu_thr * ce                     # Hz, total per neuron
    net = ds.Network(dt=0.1, seed=seed, t_stop=t_stop)
    for name, n in (("exc", ne), ("inh", ni)):
        net.add_population(name, n, "lif", params, {"V_m": ds.Uniform(0.0, params["V_th"])})
    for pre, k, w in (("exc", ce, J), ("inh", ci, -g * J)):
        for post in ("exc", "inh"):
            net.add_projection(pre, post, ds.FixedInDegree(k, multapses=False), "delta", w, D)
    for name in ("exc", "inh"):
        net.add_poisson_input(f"drive_{name}", name, p_rate, J)
        net.add_spike_monitor(name)
    return net


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neurons", type=int, default=12500)
    ap.add_argument("--time-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--partitioner", default="metis", choices=ds.placement.METHODS)
    args = ap.parse_args(argv)

    comm = ds.comm.world()
    if comm.size > 1:
        from distsnn.comm.mpi import abort_on_exception

        abort_on_exception(comm)
    t0 = time.perf_counter()
    net = brunel(args.neurons, args.seed, args.time_ms)
    sim = ds.Simulation(net, comm=comm, partitioner=args.partitioner)
    t_build = comm.allreduce(time.perf_counter() - t0, "max")
    comm.barrier()
    t1 = time.perf_counter()
    res = sim.run(args.time_ms)
    t_sim = comm.allreduce(time.perf_counter() - t1, "max")
    rss = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "sum")
    parts = comm.gather((res.spikes.gid, res.spikes.step))
    if comm.rank != 0:
        return
    spikes = ds.Spikes.from_steps(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                                  net.dt)
    s = res.summary
    ranks = s["per_rank"]
    out = dict(bench="brunel", simulator=f"distsnn-{ds.__version__}", ranks=s["ranks"],
               partitioner=args.partitioner, N=args.neurons,
               t_sim_ms=args.time_ms, build_s=t_build, sim_s=t_sim, spikes=s["spikes"],
               rate_hz=s["mean_rate_hz"], cv_isi=ds.Result(spikes).isi_cv(), n_synapses=s["synapses"],
               events_per_s=sum(r["events"] for r in ranks) / t_sim if t_sim else 0.0,
               update_s=max(r["update_s"] for r in ranks), exchange_s=max(r["exchange_s"] for r in ranks),
               deliver_s=max(r["deliver_s"] for r in ranks),
               bytes_sent=sum(r["bytes_sent"] for r in ranks),
               synapse_bytes=sum(r["synapse_bytes"] for r in ranks), peak_rss_mb=rss)
    for k, v in out.items():
        print(f"  {k:>14}: {v:.4g}" if isinstance(v, float) else f"  {k:>14}: {v}")
    print("RESULT " + json.dumps(out, sort_keys=True, default=float))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
