#!/usr/bin/env python3
"""The scaled microcircuit of ``scripts/microcircuit.py`` in NEST 3.10 (run by a Python
with ``nest-simulator``; see ``../shared/anchors/README.md``). Prints one ``RATES {json}``
line: per-population mean rates (Hz, silent neurons included) over [t_presim, t_presim +
t_sim], build and simulation times.

    /tmp/anchors-venv/bin/python scripts/microcircuit_nest.py --n-scaling 0.1 --k-scaling 0.1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import microcircuit as mc  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-scaling", type=float, default=0.1)
    ap.add_argument("--k-scaling", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=55)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--t-presim", type=float, default=mc.T_PRESIM)
    ap.add_argument("--t-sim", type=float, default=mc.T_SIM)
    a = ap.parse_args()
    import nest

    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": mc.DT, "rng_seed": a.seed, "local_num_threads": a.threads})
    d = mc.derived(a.n_scaling, a.k_scaling)
    t0 = time.perf_counter()
    pops = []
    for i in range(8):
        p = nest.Create("iaf_psc_exp", int(d["sizes"][i]))
        p.set(tau_syn_ex=mc.TAU_SYN, tau_syn_in=mc.TAU_SYN, I_e=float(d["dc"][i]), **mc.NEURON)
        p.set(V_m=nest.random.normal(mean=float(mc.V0_MEAN[i]), std=float(mc.V0_STD[i])))
        pops.append(p)
    for i in range(8):
        for j in range(8):
            n = int(d["n_syn"][i, j])
            if n <= 0:
                continue
            w, dl = float(d["w"][i, j]), float(d["delay"][i, j])
            lo, hi = (0.0, np.inf) if w > 0 else (-np.inf, 0.0)
            syn = {"synapse_model": "static_synapse",
                   "weight": nest.math.redraw(nest.random.normal(mean=w, std=abs(w) * mc.WEIGHT_REL_STD),
                                              min=lo, max=hi),
                   "delay": nest.math.redraw(nest.random.normal(mean=dl, std=dl * mc.DELAY_REL_STD),
                                             min=mc.DT - 0.5 * mc.DT, max=np.inf)}
            nest.Connect(pops[j], pops[i], {"rule": "fixed_total_number", "N": n}, syn)
    recs = []
    for i in range(8):
        pg = nest.Create("poisson_generator", params={"rate": mc.BG_RATE * float(d["k_ext"][i])})
        nest.Connect(pg, pops[i], "all_to_all", {"weight": float(d["w_ext"]), "delay": 1.5})
        sr = nest.Create("spike_recorder", params={"start": a.t_presim})
        nest.Connect(pops[i], sr)
        recs.append(sr)
    nest.Prepare()
    nest.Cleanup()
    t_build = time.perf_counter() - t0
    t1 = time.perf_counter()
    nest.Simulate(a.t_presim + a.t_sim)
    t_sim = time.perf_counter() - t1
    rates = [recs[i].n_events / (len(pops[i]) * a.t_sim * 1e-3) for i in range(8)]
    out = dict(simulator=f"nest-{nest.__version__}", threads=a.threads, n_scaling=a.n_scaling,
               k_scaling=a.k_scaling, neurons=int(sum(len(p) for p in pops)),
               synapses=int(nest.GetKernelStatus("num_connections")), build_s=t_build, sim_s=t_sim,
               rates=dict(zip(mc.POPULATIONS, rates)))
    print("RATES " + json.dumps(out))


if __name__ == "__main__":
    main()
