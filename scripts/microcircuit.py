#!/usr/bin/env python3
"""The Potjans & Diesmann (2014) cortical microcircuit with NEST's example parameters.

The eight populations (L2/3, L4, L5, L6; excitatory and inhibitory) of ``iaf_psc_exp``
neurons (here ``lif`` with one exponential current channel, tau_syn = 0.5 ms), connected
by NEST's ``fixed_total_number`` rule with the synapse counts that NEST's example
derives from the connection probabilities, normally distributed weights (relative s.d.
0.1, redrawn to keep their sign) and delays (1.5 / 0.75 ms, relative s.d. 0.5, redrawn
below half a step), Poisson background input (8 Hz x K_ext) and population-specific
initial membrane potentials (NEST's "optimized" V0). The parameters are those of
NEST 3.10's ``pynest/examples/Potjans_2014`` (network_params.py, helpers.py); the code
is ours.

Scaling as in NEST's example: ``N_scaling`` multiplies the population sizes and
``K_scaling`` the in-degrees (synapse counts and external in-degrees); with K_scaling
< 1 the weights grow by 1 / sqrt(K_scaling) and a DC current (a distsnn current
generator with no delay, i.e. NEST's ``I_e``) restores the mean input the full-scale
network would receive at its full-scale rates.

    python scripts/microcircuit.py --n-scaling 0.1 --k-scaling 0.1 --out examples/microcircuit.toml
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import distsnn as ds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

POPULATIONS = ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
FULL_NUM_NEURONS = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
#: Full-scale rates (Hz) NEST's example uses to compute the K-scaling DC compensation.
FULL_MEAN_RATES = np.array([0.943, 3.026, 4.368, 5.882, 7.733, 8.664, 1.096, 7.851])
#: Published rates of the full-scale model (Potjans & Diesmann 2014, Fig. 6), Hz.
PUBLISHED_RATES = np.array([0.9, 2.8, 4.4, 5.8, 7.0, 8.7, 1.1, 7.8])
#: Connection probabilities, target (rows) x source (columns).
CONN_PROBS = np.array([
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443]])
K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])
BG_RATE = 8.0             # Hz per external input
PSP_EXC_MEAN = 0.15       # mV
WEIGHT_REL_STD = 0.1
G = -4.0
DELAY_EXC, DELAY_INH, DELAY_REL_STD = 1.5, 0.75, 0.5   # ms
V0_MEAN = np.array([-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43])   # mV
V0_STD = np.array([5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48])
NEURON = dict(C_m=250.0, tau_m=10.0, E_L=-65.0, V_th=-50.0, V_reset=-65.0, t_ref=2.0)
TAU_SYN = 0.5             # ms
T_PRESIM, T_SIM, DT = 500.0, 1000.0, 0.1   # ms
#: Delays are redrawn below half a step, as in NEST's example; the rest round to the
#: nearest step, so the shortest take one step.
DELAY_FLOOR_STEPS = 0.5


def psc_over_psp(C_m: float, tau_m: float, tau_syn: float) -> float:
    """pA of an exponential PSC whose PSP peaks at 1 mV (Hanuschkin et al. 2010, Eq. 5)."""
    sub = 1.0 / (tau_syn - tau_m)
    pre = tau_m * tau_syn / C_m * sub
    frac = (tau_m / tau_syn) ** sub
    return 1.0 / (pre * (frac ** tau_m - frac ** tau_syn))


def derived(n_scaling: float, k_scaling: float) -> dict:
    """Sizes, synapse counts, weights (pA), delays and DC (pA) of the scaled network,
    derived as NEST's example does."""
    prod = np.outer(FULL_NUM_NEURONS, FULL_NUM_NEURONS).astype(float)
    with np.errstate(divide="ignore"):
        full_syn = (np.log(1.0 - CONN_PROBS) / np.log((prod - 1.0) / prod)).astype(int)
    sizes = np.round(FULL_NUM_NEURONS * n_scaling).astype(int)
    n_syn = np.round(full_syn * n_scaling * k_scaling).astype(int)
    k_ext = np.round(K_EXT * k_scaling).astype(int)
    ratio = psc_over_psp(NEURON["C_m"], NEURON["tau_m"], TAU_SYN)
    psp = np.zeros((8, 8))
    psp[:, 0::2], psp[:, 1::2] = PSP_EXC_MEAN, PSP_EXC_MEAN * G
    psp[0, 2] = 2.0 * PSP_EXC_MEAN
    w = psp * ratio
    w_ext = PSP_EXC_MEAN * ratio
    dc = np.zeros(8)
    if k_scaling != 1:
        indegree = full_syn / FULL_NUM_NEURONS[:, None]
        input_rec = np.sum(w * indegree * FULL_MEAN_RATES, axis=1)
        input_ext = w_ext * K_EXT * BG_RATE
        dc = dc + 0.001 * TAU_SYN * (1.0 - np.sqrt(k_scaling)) * (input_rec + input_ext)
        w, w_ext = w / np.sqrt(k_scaling), w_ext / np.sqrt(k_scaling)
    delay = np.zeros((8, 8))
    delay[:, 0::2], delay[:, 1::2] = DELAY_EXC, DELAY_INH
    return dict(sizes=sizes, n_syn=n_syn, k_ext=k_ext, w=w, w_ext=w_ext, dc=dc, delay=delay)


def network(n_scaling: float = 0.1, k_scaling: float = 0.1, seed: int = 55,
            dt: float = DT, t_stop: float = T_PRESIM + T_SIM) -> "ds.Network":
    """The scaled microcircuit as a distsnn network (spikes of every population recorded)."""
    # Imported here so that the NEST script (scripts/microcircuit_nest.py, run by a
    # Python without distsnn) can use the parameters of this module.
    sys.path.insert(0, ROOT)
    import distsnn as ds

    d = derived(n_scaling, k_scaling)
    net = ds.Network(dt=dt, seed=seed, t_stop=t_stop)
    syn = {"kind": "exp", "tau": TAU_SYN}
    for i, name in enumerate(POPULATIONS):
        net.add_population(name, int(d["sizes"][i]), "lif", params=NEURON,
                           initial={"V_m": ds.Normal(V0_MEAN[i], V0_STD[i])})
    for i, post in enumerate(POPULATIONS):
        for j, pre in enumerate(POPULATIONS):
            if d["n_syn"][i, j] <= 0:
                continue
            w = float(d["w"][i, j])
            weight = ds.Normal(w, abs(w) * WEIGHT_REL_STD, **({"low": 0.0} if w > 0 else {"high": 0.0}))
            mean = float(d["delay"][i, j])
            delay = ds.Normal(mean, mean * DELAY_REL_STD, low=DELAY_FLOOR_STEPS * dt)
            net.add_projection(pre, post, ds.FixedTotalNumber(int(d["n_syn"][i, j])), syn, weight, delay,
                               name=f"{pre}_{post}")
    for i, name in enumerate(POPULATIONS):
        net.add_poisson_input(f"bg_{name}", name, BG_RATE * int(d["k_ext"][i]), float(d["w_ext"]), syn)
        if d["dc"][i] != 0.0:
            net.add_current_input(f"dc_{name}", name, "dc", amplitude=float(d["dc"][i]), delay=0.0)
        net.add_spike_monitor(name)
    return net


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-scaling", type=float, default=0.1)
    ap.add_argument("--k-scaling", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=55)
    ap.add_argument("--out", default=os.path.join(ROOT, "examples", "microcircuit.toml"))
    a = ap.parse_args()
    import distsnn as ds

    net = network(a.n_scaling, a.k_scaling, a.seed)
    header = (f"# Potjans & Diesmann (2014) microcircuit, NEST 3.10 example parameters, written by\n"
              f"# scripts/microcircuit.py --n-scaling {a.n_scaling} --k-scaling {a.k_scaling} --seed {a.seed}\n"
              f"# ({net.size} neurons). Rates over [{T_PRESIM:g}, {T_PRESIM + T_SIM:g}] ms: "
              f"scripts/bench_microcircuit.py.\n\n")
    tmp = f"{a.out}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(header + ds.dumps(net))
    os.replace(tmp, a.out)
    print(f"wrote {a.out}: {net.size} neurons, {len(net.projections)} projections")


if __name__ == "__main__":
    main()
