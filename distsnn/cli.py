"""The ``distsnn`` command.

    distsnn run CONFIG.toml [--out DIR [--overwrite] [--flush-every N] [--buffer-mb MB]
                [--compression gzip|lzf|none] [--sorted] [--collective-io]]
                [--t-stop MS] [--seed N] [--partitioner NAME] [--strict-time]
    distsnn inspect RUN_DIR
    distsnn partition CONFIG.toml --parts N [--method NAME] [--compare] [--hosts H]
                      [--json FILE] [--plot FILE.png]

``run`` loads and validates the network (before any output is written), builds it,
simulates it and prints a summary: neurons, synapses, spikes, mean rate, and the wall
times of build and simulation. With ``--out DIR`` (checked and locked before the
simulation starts; a directory holding an earlier run is refused unless ``--overwrite``)
each rank streams its records to ``DIR/rank*.h5`` and rank 0 writes ``DIR/run.h5``, whose
virtual datasets show every rank's spikes as one array per population (layout in
:mod:`distsnn.io`; read back with :func:`distsnn.load`). ``--sorted`` adds a time-sorted
``spikes_sorted.h5``. ``--collective-io`` (one shared file through MPI-IO) needs h5py
built with MPI and is refused at once otherwise. ``inspect`` prints what a run directory
holds without reading its spikes. ``partition`` reports what splitting the network
would cost (:mod:`distsnn.partition_cli`).

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
from .io import reader
from .io.output import OutputOptions


def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    options = OutputOptions(overwrite=args.overwrite, flush_every=args.flush_every, buffer_mb=args.buffer_mb,
                            compression=args.compression, sort=args.sorted, collective_io=args.collective_io)
    options.check()
    net = config.load(args.config, seed=args.seed, t_stop=args.t_stop, strict_time=args.strict_time or None)
    # Without --out nothing reads the records: count them, keep none (memory stays bounded).
    sim = Simulation(net, comm=args.comm, partitioner=args.partitioner, out=args.out, output=options,
                     keep_records=False)
    try:
        t_build = time.perf_counter() - t0
        t1 = time.perf_counter()
        sim.advance()
        t_sim = time.perf_counter() - t1
        s = sim.summary()
    finally:
        sim.close()
    if sim.comm.rank != 0:
        return 0
    print(f"distsnn run {args.config}")
    print(f"  neurons        {s['neurons']}")
    print(f"  synapses       {s['synapses']}")
    print(f"  spikes         {s['spikes_emitted']} emitted, {s['spikes_recorded']} recorded")
    print(f"  mean rate      {s['mean_rate_hz']:.3f} Hz over {s['t_sim_ms']:g} ms")
    print(f"  epoch          {s['epoch_steps']} steps ({s['epoch_steps'] * net.dt:g} ms)")
    print(f"  build          {t_build:.3f} s")
    print(f"  simulation     {t_sim:.3f} s")
    print(f"  ranks          {s['ranks']} ({args.partitioner})")
    for r in s["per_rank"]:
        print(f"  rank {r['rank']}: {r['neurons']} neurons, {r['synapses']} synapses, {r['spikes']} spikes, "
              f"{r['messages_sent']} sent / {r['messages_received']} received ({r['bytes_sent']} B); "
              f"update {r['update_s']:.3f} s, exchange {r['exchange_s']:.3f} s, deliver {r['deliver_s']:.3f} s, "
              f"record {r['record_s']:.3f} s")
    if args.out:
        print(f"  output         {args.out}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    if args.comm.rank == 0:
        print(reader.inspect(args.run_dir))
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="distsnn", description="Distributed spiking neural network simulator.")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate a network described in TOML",
                         description="Simulate a network described in a TOML file and print a summary.")
    run.add_argument("config", help="network description (TOML)")
    run.add_argument("--out", metavar="DIR", help="stream the records to DIR (per-rank HDF5, SONATA layout, "
                     "and a master run.h5)")
    run.add_argument("--overwrite", action="store_true", help="replace an earlier run's files in DIR")
    run.add_argument("--flush-every", metavar="N", type=int, default=OutputOptions.flush_every,
                     help=f"flush records every N epochs (default {OutputOptions.flush_every})")
    run.add_argument("--buffer-mb", metavar="MB", type=float, default=OutputOptions.buffer_mb,
                     help=f"... or when a rank's buffer passes MB MiB (default {OutputOptions.buffer_mb:g})")
    run.add_argument("--compression", default="none", choices=("none", "gzip", "lzf"),
                     help="compress the record datasets (default none)")
    run.add_argument("--sorted", action="store_true", help="also write a time-sorted spikes_sorted.h5")
    run.add_argument("--collective-io", action="store_true",
                     help="one shared file through MPI-IO (needs h5py built with MPI)")
    run.add_argument("--t-stop", metavar="MS", type=float, help="simulated time in ms (default: the file's)")
    run.add_argument("--seed", metavar="N", type=int, help="master seed (default: the file's)")
    run.add_argument("--partitioner", default="metis", choices=placement.METHODS,
                     help="how neurons are split over MPI ranks (default: metis)")
    run.add_argument("--strict-time", action="store_true",
                     help="durations (delays, refractory periods, schedule times) off the dt grid are "
                          "errors instead of warnings")
    run.set_defaults(func=_run)
    ins = sub.add_parser("inspect", help="what a run directory holds",
                         description="Print a run directory's identity, progress, populations, record "
                                     "counts and sizes, without reading spikes.")
    ins.add_argument("run_dir", metavar="RUN_DIR")
    ins.set_defaults(func=_inspect)
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
