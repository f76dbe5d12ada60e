"""The ``distsnn`` command.

    distsnn run CONFIG.toml [--out DIR] [--t-stop MS] [--seed N] [--partitioner NAME]
                [--max-memory SIZE] [--strict-time]
    distsnn partition CONFIG.toml --parts N [--method NAME] [--compare] [--hosts H]
                      [--json FILE] [--plot FILE.png]

``run`` loads and validates the network (before any output is written), builds it,
simulates it and prints a summary: neurons, synapses, spikes, mean rate, and the wall
times of build and simulation. With ``--out DIR`` it writes each rank's records to
``DIR/rank*.h5`` (read them back merged with :func:`distsnn.load`). ``partition``
reports what splitting the network would cost (:mod:`distsnn.partition_cli`).

Under an MPI launcher (``mpiexec -n 4 distsnn run net.toml``) the network is split over
the ranks by ``--partitioner`` (default ``metis``); the spikes are the same, bit for bit,
as in one process. Before anything is built, the memory the run needs is estimated
(:mod:`distsnn.resources`) and checked against ``--max-memory`` (default: the memory
available on the ranks' machines; ``none`` skips the check).

Invalid input prints one line, ``distsnn: error: ...``, once for the job (by rank 0, or
by the rank that alone hit it), and exits with code 2, before any output is written;
warnings (``distsnn: warning: ...``, e.g. a missing ``[simulation]`` section) are printed
by rank 0. Running out of memory all the same prints one line too (exit code 1). Any
other exception on any rank prints that rank's traceback and aborts the whole job (exit
code 1). In batch scripts, bound the run anyway,
e.g. ``timeout 3600 mpiexec -n 64 distsnn run net.toml``, so a stuck node cannot hold
the allocation.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from . import config, memory, partition_cli, placement
from .comm import world
from .engine import Simulation
from .io import hdf5


def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    limit = memory.job_limit(args.comm, args.max_memory, "distsnn run", "--max-memory")
    # Every rank reads the edge-list files: each may hold its share of the limit.
    share = None if limit.bytes is None else limit.bytes // args.comm.size
    net = config.load(args.config, seed=args.seed, t_stop=args.t_stop, max_memory=share,
                      strict_time=args.strict_time or None)
    sim = Simulation(net, comm=args.comm, partitioner=args.partitioner, max_memory=limit)
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
    run.add_argument("--max-memory", metavar="SIZE", type=_size, default="available",
                     help="memory all ranks together may use, e.g. 64G, 1.5T or a number of bytes; "
                          "'available' (default): the memory available on the ranks' machines; "
                          "'none': no check")
    run.set_defaults(func=_run)
    partition_cli.add_parser(sub)
    return ap


def _size(text: str) -> int | str | None:
    try:
        return memory.parse_bytes("distsnn run", "--max-memory", text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).split(": ", 1)[1]) from None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Under MPI this also installs the hook that aborts the job on any rank's uncaught exception.
    args.comm = world()
    rank, size = args.comm.rank, args.comm.size

    def show(message, category, filename, lineno, file=None, line=None):
        # Validation runs alike on every rank: rank 0 speaks for all.
        if rank == 0:
            sys.stderr.write(f"distsnn: warning: {message}\n")
            sys.stderr.flush()

    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            return args.func(args)
        except ValueError as e:
            if size > 1:
                from .comm.mpi import fail_once

                where = "" if rank == 0 else f" (rank {rank} of {size})"
                fail_once(args.comm, f"distsnn: error{where}: {e}", 2)
            print(f"distsnn: error: {e}", file=sys.stderr, flush=True)
            return 2
        except MemoryError as e:
            # `run` refuses what cannot fit before building; this catches what no estimate
            # foresaw (e.g. `partition` of a huge network).
            text = f"distsnn: error (rank {rank} of {size}): not enough memory: {e}" if size > 1 else \
                f"distsnn: error: not enough memory: {e}"
            if size > 1:
                from .comm.mpi import fail_once

                fail_once(args.comm, text, 1)
            print(text, file=sys.stderr, flush=True)
            return 1


if __name__ == "__main__":
    sys.exit(main())
