"""The three networks of the partition study (``scripts/partition_study.py``), built here.

- :func:`sheet`: a 2-D spatial sheet (torus) of excitatory and inhibitory lif neurons,
  each with ``k`` inputs drawn with a Gaussian profile of distance (grid units), delay
  0.5 ms plus 0.1 ms per grid unit; gids in row-major order of the grid.
- :func:`multi_area`: areas of unequal size (a heterogeneous multi-area model), dense
  inside (delay 1.5 ms), sparse long-range links between a random subset of area pairs
  (delay 3.2 ms), unequal rates per area (``rate_hz``).
- :func:`microcircuit`: the Potjans & Diesmann (2014) cortical microcircuit, its 8
  populations scaled down by ``scale`` with the published connection probabilities
  (their Table 5), delays 1.5 ms (excitatory) and 0.8 ms (inhibitory), and the
  full model's mean rates (NEST's figures, below) as ``rate_hz``.
"""

from __future__ import annotations

import numpy as np

import distsnn as ds
import microcircuit as mc   # a sibling script: its directory is on sys.path when scripts run

LIF = {"C_m": 250.0, "tau_m": 20.0, "t_ref": 2.0, "E_L": 0.0, "V_th": 20.0, "V_reset": 10.0}

# Potjans & Diesmann (2014): full-scale sizes and connection probabilities (rows: target,
# columns: source), from the microcircuit script that writes examples/microcircuit.toml.
PD_POPS, PD_SIZES, PD_P = mc.POPULATIONS, tuple(int(n) for n in mc.FULL_NUM_NEURONS), mc.CONN_PROBS
# Mean rates (Hz) of the full-scale model, L23E..L6I: the paper shows them only as bars
# (Potjans & Diesmann 2014, Fig. 6), so the figures are NEST's, from its Potjans_2014 example
# (pynest/examples/Potjans_2014/network_params.py, `full_mean_rates`: measured with NEST at
# N_scaling = K_scaling = 1), which scripts/microcircuit.py also uses. The values used here
# before, (0.9, 2.8, 4.4, 5.7, 7.6, 8.1, 1.1, 7.8), were up to 7 % low (L23I, L5I).
PD_RATES = tuple(float(r) for r in mc.FULL_MEAN_RATES)


def sheet(side: int = 60, k: int = 100, sigma: float = 3.0, seed: int = 3) -> ds.Network:
    """``side x side`` neurons on a torus, 80 % excitatory; ``k`` Gaussian-profile inputs each."""
    rng = np.random.default_rng(seed)
    n = side * side
    post = np.repeat(np.arange(n), k)
    dx = np.rint(rng.normal(0.0, sigma, post.size)).astype(np.int64)
    dy = np.rint(rng.normal(0.0, sigma, post.size)).astype(np.int64)
    same = (dx == 0) & (dy == 0)
    dx[same] = 1  # no autapses
    x, y = post % side, post // side
    pre = (y + dy) % side * side + (x + dx) % side
    delay = 0.5 + 0.1 * np.rint(np.hypot(dx, dy))
    net = ds.Network(dt=0.1, seed=seed, t_stop=1000.0)
    net.add_population("sheet", n, "lif", LIF)
    net.add_projection("sheet", "sheet", ds.EdgeList(pre, post, delay=delay), "delta", weight=0.1)
    return net


def multi_area(n_areas: int = 12, mean_size: int = 300, seed: int = 5) -> ds.Network:
    """Areas of 0.3-1.7 x ``mean_size`` neurons, p 0.1 inside, 0.01 along 30 % of area pairs."""
    rng = np.random.default_rng(seed)
    sizes = np.maximum(20, np.rint(mean_size * rng.uniform(0.3, 1.7, n_areas))).astype(int)
    rates = rng.uniform(2.0, 30.0, n_areas)
    net = ds.Network(dt=0.1, seed=seed, t_stop=1000.0)
    for a in range(n_areas):
        net.add_population(f"area{a}", int(sizes[a]), "lif", LIF, rate_hz=float(round(rates[a], 1)))
    links = rng.random((n_areas, n_areas)) < 0.3
    for a in range(n_areas):
        net.add_projection(f"area{a}", f"area{a}", ds.FixedProbability(0.1), "delta", 0.1, 1.5)
        for b in range(n_areas):
            if a != b and links[a, b]:
                net.add_projection(f"area{a}", f"area{b}", ds.FixedProbability(0.01), "delta", 0.1, 3.2)
    return net


def microcircuit(scale: float = 0.05, seed: int = 7) -> ds.Network:
    """Potjans & Diesmann (2014) with ``scale`` times the neurons, the published probabilities."""
    net = ds.Network(dt=0.1, seed=seed, t_stop=1000.0)
    for name, size, rate in zip(PD_POPS, PD_SIZES, PD_RATES):
        net.add_population(name, max(1, int(round(scale * size))), "lif", LIF, rate_hz=rate)
    for i, post in enumerate(PD_POPS):
        for j, pre in enumerate(PD_POPS):
            if PD_P[i, j] > 0:
                exc = pre.endswith("E")
                net.add_projection(pre, post, ds.FixedProbability(float(PD_P[i, j])), "delta",
                                   0.1 if exc else -0.4, 1.5 if exc else 0.8)
    return net


NETWORKS = {"sheet": sheet, "multi_area": multi_area, "microcircuit": microcircuit}
