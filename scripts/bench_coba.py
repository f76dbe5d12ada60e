#!/usr/bin/env python
"""Vogels-Abbott COBA network (Brette et al. 2007 benchmark 1), timed.

The network of ``examples/coba.toml``, the same as ``shared/anchors/coba_nest.py`` and
``coba_brian2.py``: N_E = 4 N_I ``lif_cond`` neurons (C_m 200 pF, g_L 10 nS, E_L = V_reset
= -60 mV, V_th = -50 mV, t_ref 5 ms, I_e = 200 pA), every pair connected with
probability 0.02, exponential conductances (tau 5 ms, E 0 mV, 6 nS; tau 10 ms, E -80 mV,
67 nS), delay 0.1 ms, dt = 0.1 ms, V_0 ~ N(-55, 5) mV, initial conductances N(40, 15) and
N(200, 120) nS (redrawn below 0; the anchors clip at 0). The
printed figures and the ``RESULT {json}`` line compare side by side with the anchors'
(NEST 3.10: 19.9 Hz; Brian2: 21.5 Hz).

    python scripts/bench_coba.py --neurons 4000 --time-ms 1000
    .venv/bin/mpiexec -n 2 .venv/bin/python scripts/bench_coba.py
    .venv/bin/python scripts/bench_coba.py --compare   # + NEST 2 threads, Brian2 standalone
"""

from __future__ import annotations

import argparse
import os

import benchlib

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
    benchlib.add_compare_arguments(ap)
    benchlib.add_arguments(ap, neurons=4000)
    args = ap.parse_args(argv)
    if args.compare:
        benchlib.compare("coba", __file__, args)
        return
    benchlib.run("coba", lambda: coba(args.neurons, args.seed, args.time_ms), args)


if __name__ == "__main__":
    main()
