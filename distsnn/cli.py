"""The ``distsnn`` command.

    distsnn run CONFIG.toml [--out DIR] [--t-stop MS] [--seed N] [--partitioner NAME] [--strict-time]
    distsnn partition CONFIG.toml --parts N [--method NAME] [--compare] [--hosts H]
                      [--json FILE] [--plot FILE.png]

``run`` loads and validates the network (before any output is written), builds it,
simulates it and prints a summary: neurons, synapses, spikes, mean rate, and the wall
times of build and simulation. With ``--out DIR`` it writes each rank's records to
``DIR/rank*.h5`` (read them back merged with :func:`distsnn.load`). ``partition``
reports what splitting the network would cost (:mod:`distsnn.partition_cli`).

Under an MPI launcher (``mpiexec -n 4 distsnn run net.toml``) the network is split over
the ranks by ``--partitioner`` (default ``metis``); the spikes are the same, bit for bit,
as in one process. An exception on any rank prints that rank's traceback and aborts the
whole job (exit code 1; 2 for invalid input). In batch scripts, bound the run anyway,
e.g. ``timeout 3600 mpiexec -n 64 distsnn run net.toml``, so a stuck node cannot hold
the allocation.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from . import config, partition_cli, placement, timegrid
from .comm import world
from .engine import Simulation
from .io import hdf5


def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    net = config.load(args.config, seed=args.seed, t_stop=args.t_stop, strict_time=args.strict_time or None)
    sim = Simulation(net, comm=args.comm, partitioner=args.partitioner)
    t_build = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = sim.run()
    t_sim = time.perf_counter() - t1
    if args.out:
        hdf5.write_run(args.out, sim.comm, net.dt, result)
    s = result.summary
    if sim.comm.rank != 0:
        return 0
    print(f"distsnn run {args.config}")
    print(f"  neurons        {s['neurons']}")
    print(f"  synapses       {s['synapses']}")
    print(f"  spikes         {s['spikes']}")
    print(f"  mean rate      {s['mean_rate_hz']:.3f} Hz over {s['t_sim_ms']:g} ms")
    print(f"  epoch          {s['epoch_steps']} steps ({s['epoch_steps'] * net.dt:g} ms)")
    print(f"  build          {t_build:.3f} s")
    print(f"  simulation     {t_sim:.3f} s")
    print(f"  ranks          {s['ranks']} ({args.partitioner})")
    for r in s["per_rank"]:
        print(f"  rank {r['rank']}: {r['neurons']} neurons, {r['synapses']} synapses, {r['spikes']} spikes, "
              f"{r['messages_sent']} sent / {r['messages_received']} received ({r['bytes_sent']} B); "
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
    run.add_argument("--partitioner", default="metis", choices=placement.METHODS,
                     help="how neurons are split over MPI ranks (default: metis)")
    run.add_argument("--strict-time", action="store_true",
                     help="durations (delays, refractory periods, schedule times) off the dt grid are "
                          "errors instead of warnings")
    run.set_defaults(func=_run)
    partition_cli.add_parser(sub)
    return ap


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"distsnn: warning: {message}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.comm = world()
    if args.comm.size > 1:
        # One rank's failure must end the job, never leave the others in a collective.
        from .comm.mpi import abort_on_exception

        abort_on_exception(args.comm)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            if args.comm.rank != 0:
                # Every rank validates the same description: its time-grid warnings are rank 0's.
                warnings.simplefilter("ignore", timegrid.TimeGridWarning)
            return args.func(args)
    except ValueError as e:
        where = f" (rank {args.comm.rank} of {args.comm.size})" if args.comm.size > 1 else ""
        print(f"distsnn: error{where}: {e}", file=sys.stderr)
        sys.stderr.flush()
        if args.comm.size > 1:
            args.comm.abort(2)
        return 2


if __name__ == "__main__":
    sys.exit(main())
