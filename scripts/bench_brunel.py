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
    .venv/bin/python scripts/bench_brunel.py --compare   # + NEST 2 threads, Brian2 standalone

Under mpiexec the network is split by ``--partitioner`` (default metis); times are the
slowest rank's, memory is summed over ranks, and rank 0 prints.
"""

from __future__ import annotations

import argparse

import benchlib

import distsnn as ds


def brunel(n_total: int, seed: int, t_stop: float, indegree: int | None = None) -> ds.Network:
    """The network of ``n_total`` neurons; ``indegree``: C_E + C_I instead of 0.1 N, with
    J scaled by 0.1 N_E / C_E so that J C_E (the mean input) stays that of C = 0.1 N."""
    ne = int(round(0.8 * n_total))
    ni = n_total - ne
    ce, ci = int(round(0.1 * ne)), int(round(0.1 * ni))
    J, g, eta, D = 0.1, 5.0, 2.0, 1.5
    if indegree is not None:
        J *= ce / round(0.8 * indegree)
        ce, ci = int(round(0.8 * indegree)), indegree - int(round(0.8 * indegree))
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
    benchlib.add_compare_arguments(ap)
    benchlib.add_arguments(ap, neurons=12500)
    args = ap.parse_args(argv)
    if args.compare:
        benchlib.compare("brunel", __file__, args)
        return
    benchlib.run("brunel", lambda: brunel(args.neurons, args.seed, args.time_ms), args)


if __name__ == "__main__":
    main()
