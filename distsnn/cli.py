"""The ``distsnn`` command.

    distsnn run CONFIG.toml [--out DIR] [--t-stop MS] [--seed N] [--partitioner NAME] [--strict-time]
    distsnn partition CONFIG.toml --parts N [--method NAME] [--compare] [--hosts H]
                      [--json FILE] [--plot FILE.png]
    distsnn plot RUN_DIR [--out DIR] [--max-neurons N] [--bin MS] [--from MS] [--to MS] [--dpi N]

``run`` loads and validates the network (before any output is written), builds it,
simulates it and prints a summary: neurons, synapses, spikes, mean rate, and the wall
times of build and simulation. With ``--out DIR`` it writes each rank's records to
``DIR/rank*.h5`` (read them back merged with :func:`distsnn.load`). ``partition``
reports what splitting the network would cost (:mod:`distsnn.partition_cli`). ``plot``
reads a run directory and writes its pictures (:func:`distsnn.plotting.save_run_plots`):
raster, population rates, traces, ISI and CV histograms, traffic between ranks.

While it simulates, ``run`` reports progress on rank 0 about once a second (percent,
model time, wall time, real-time factor, time left): one line rewritten in place on a
terminal, plain lines in a log or pipe, nothing with ``--quiet``.

Under an MPI launcher (``mpiexec -n 4 distsnn run net.toml``) the network is split over
the ranks by ``--partitioner`` (default ``metis``); the spikes are the same, bit for bit,
as in one process. An exception on any rank prints that rank's traceback and aborts the
whole job (exit code 1; 2 for invalid input). In batch scripts, bound the run anyway,
e.g. ``timeout 3600 mpiexec -n 64 distsnn run net.toml``, so a stuck node cannot hold
the allocation.
"""

from __future__ import annotations

import argparse
import os
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
    result = sim.run(report=None if args.quiet else "text")
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


def _plot(args: argparse.Namespace) -> int:
    if args.max_neurons < 1:
        raise ValueError(f"plot: --max-neurons must be >= 1, got {args.max_neurons}")
    if args.bin_ms is not None and not (args.bin_ms > 0 and args.bin_ms < float("inf")):
        raise ValueError(f"plot: --bin must be a finite number > 0 ms, got {args.bin_ms}")
    if args.dpi < 10:
        raise ValueError(f"plot: --dpi must be >= 10, got {args.dpi}")
    for flag, v in (("--from", args.t_start), ("--to", args.t_stop)):
        if v is not None and not (v >= 0 and v < float("inf")):
            raise ValueError(f"plot: {flag} must be a finite number >= 0 ms, got {v}")
    if args.t_start is not None and args.t_stop is not None and not args.t_start < args.t_stop:
        raise ValueError(f"plot: --from must be < --to, got {args.t_start} and {args.t_stop} ms")
    if not os.path.isdir(args.run_dir):
        raise ValueError(f"plot: run directory {args.run_dir!r} does not exist")
    if args.comm.rank != 0:
        return 0
    from . import io, plotting

    result = io.load(args.run_dir)
    out = args.out or os.path.join(args.run_dir, "plots")
    done = plotting.save_run_plots(result, out, dpi=args.dpi, max_neurons=args.max_neurons, bin_ms=args.bin_ms,
                                   t_start=args.t_start, t_stop=args.t_stop)
    print(f"distsnn plot {args.run_dir}")
    for name, path in done.written.items():
        print(f"  {name:<8} {path}")
    for name, why in done.skipped.items():
        print(f"  {name:<8} not drawn: {why}")
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
    run.add_argument("--quiet", action="store_true",
                     help="no progress reports (by default rank 0 reports about once a second)")
    run.set_defaults(func=_run)
    partition_cli.add_parser(sub)
    plot = sub.add_parser("plot", help="draw the pictures of a run written with --out",
                          description="Write PNGs of a run: spike raster, population rates, traces, "
                                      "ISI and CV histograms, traffic between ranks.")
    plot.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by `distsnn run --out`")
    plot.add_argument("--out", metavar="DIR", help="where the PNGs go (default: RUN_DIR/plots)")
    plot.add_argument("--max-neurons", metavar="N", type=int, default=1000,
                      help="the raster shows every k-th neuron so that at most N are drawn (default 1000)")
    plot.add_argument("--bin", dest="bin_ms", metavar="MS", type=float,
                      help="rate bin in ms (default: 1, 2 or 5 x 10^k, at most 200 bins)")
    plot.add_argument("--from", dest="t_start", metavar="MS", type=float,
                      help="start of the time window of raster, rates and traces (default 0)")
    plot.add_argument("--to", dest="t_stop", metavar="MS", type=float,
                      help="end of that window (default: the end of the run)")
    plot.add_argument("--dpi", metavar="N", type=int, default=100, help="resolution (default 100)")
    plot.set_defaults(func=_plot)
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
