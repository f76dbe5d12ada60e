#!/usr/bin/env python
"""Vogels-Abbott COBA network (Brette et al. 2007 benchmark 1), timed.

The network of ``examples/coba.toml``, the same as ``shared/anchors/coba_nest.py`` and
``coba_brian2.py``: N_E = 4 N_I ``lif_cond`` neurons (C_m 200 pF, g_L 10 nS, E_L = V_reset
= -60 mV, V_th = -50 mV, t_ref 5 ms, I_e = 200 pA), every pair connected with
probability 0.02, exponential conductances (tau 5 ms, E 0 mV, 6 nS; tau 10 ms, E -80 mV,
67 nS), delay 0.1 ms, dt = 0.1 ms, V_0 ~ N(-55, 5) mV (conductances start at 0). The
printed figures and the ``RESULT {json}`` line compare side by side with the anchors'
(NEST 3.10: 19.9 Hz; Brian2: 21.5 Hz).

    python scripts/bench_coba.py --neurons 4000 --time-ms 1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import distsnn as ds
from distsnn import config

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "coba.toml")


def coba(n_total: int, seed: int, t_stop: float) -> ds.Network:
    """The example network, rescaled to ``n_total`` neurons (p stays 0.02)."""
    doc = config.to_dict(config.load(EXAMPLE))
    ne = int(round(0.8 * n_total))
    sizes = {"exc": ne, "inh": n_total - ne}
    for pop in doc["population"]:
        pop["size"] = sizes[pop["name"]]
    doc["simulation"].update(seed=seed, t_stop=t_stop)
    return config.from_dict(doc)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neurons", type=int, default=4000)
    ap.add_argument("--time-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=12345)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    net = coba(args.neurons, args.seed, args.time_ms)
    sim = ds.Simulation(net)
    t_build = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = sim.run(args.time_ms)
    t_sim = time.perf_counter() - t1
    s = res.summary
    rank = s["per_rank"][0]
    out = dict(bench="coba", simulator=f"distsnn-{ds.__version__}", ranks=s["ranks"], N=args.neurons,
               t_sim_ms=args.time_ms, build_s=t_build, sim_s=t_sim, spikes=s["spikes"],
               rate_hz=s["mean_rate_hz"], cv_isi=res.isi_cv(), n_synapses=s["synapses"],
               events_per_s=rank["events"] / t_sim if t_sim else 0.0,
               update_s=rank["update_s"], exchange_s=rank["exchange_s"], deliver_s=rank["deliver_s"],
               synapse_bytes=rank["synapse_bytes"],
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    for k, v in out.items():
        print(f"  {k:>14}: {v:.4g}" if isinstance(v, float) else f"  {k:>14}: {v}")
    print("RESULT " + json.dumps(out, sort_keys=True, default=float))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
