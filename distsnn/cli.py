"""The ``distsnn`` command.

    distsnn run CONFIG.toml [--out DIR] [--t-stop MS] [--seed N]

``run`` loads and validates the network (before any output is written), builds it,
simulates it and prints a summary: neurons, synapses, spikes, mean rate, and the wall
times of build and simulation. With ``--out DIR`` it writes each rank's records to
``DIR/rank*.h5`` (read them back merged with :func:`distsnn.load`).
"""

from __future__ import annotations

import argparse
import sys
import time

from . import config
from .engine import Simulation
from .io import hdf5


def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    net = config.load(args.config, seed=args.seed, t_stop=args.t_stop)
    sim = Simulation(net)
    t_build = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = sim.run()
    t_sim = time.perf_counter() - t1
    if args.out:
        hdf5.write_rank(args.out, sim.comm.rank, sim.comm.size, net.dt, result)
    s = result.summary
    print(f"distsnn run {args.config}")
    print(f"  neurons        {s['neurons']}")
    print(f"  synapses       {s['synapses']}")
    print(f"  spikes         {s['spikes']}")
    print(f"  mean rate      {s['mean_rate_hz']:.3f} Hz over {s['t_sim_ms']:g} ms")
    print(f"  epoch          {s['epoch_steps']} steps ({s['epoch_steps'] * net.dt:g} ms)")
    print(f"  build          {t_build:.3f} s")
    print(f"  simulation     {t_sim:.3f} s")
    for r in s["per_rank"]:
        print(f"  rank {r['rank']}: {r['neurons']} neurons, {r['synapses']} synapses, "
              f"update {r['update_s']:.3f} s, exchange {r['exchange_s']:.3f} s, deliver {r['deliver_s']:.3f} s")
    if args.out:
        print(f"  output         {args.out}")
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="distsnn", description="Distributed spiking neural network simulator.")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate a network described in TOML",
                         description="Simulate a network described in a TOML file and print a summary.")
    run.add_argument("config", help="network description (TOML)")
    run.add_argument("--out", metavar="DIR", help="write per-rank HDF5 records to DIR")
    run.add_argument("--t-stop", metavar="MS", type=float, help="simulated time in ms (default: the file's)")
    run.add_argument("--seed", metavar="N", type=int, help="master seed (default: the file's)")
    run.set_defaults(func=_run)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:
        print(f"distsnn: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
