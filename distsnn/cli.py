"""The ``distsnn`` command.

    distsnn run CONFIG.toml|SIMULATION_CONFIG.json [--out DIR [--overwrite] [--flush-every N] [--buffer-mb MB]
                [--compression gzip|lzf|none] [--sorted] [--collective-io]]
                [--t-stop MS] [--seed N] [--partitioner NAME] [--threads T]
                [--max-memory SIZE] [--strict-time] [--quiet]
                [--partition OWNERS.h5] [partition options]
                [--checkpoint DIR [--checkpoint-every MS] [--checkpoint-keep K]] [--restore DIR]
                [--dry-run RANKS]
    distsnn inspect RUN_DIR
    distsnn partition CONFIG.toml --parts N [--method NAME] [--compare] [--hosts H]
                      [--json FILE] [--plot FILE.png] [--save OWNERS.h5] [partition options]
    distsnn plot RUN_DIR [--out DIR] [--max-neurons N] [--bin MS] [--from MS] [--to MS] [--dpi N]
    distsnn train TASK.toml [--iterations N] [--out DIR [--overwrite]] [--partitioner NAME] [--quiet]

Partition options, the same for both commands (:func:`distsnn.partition_cli.add_partition_options`):
``--level``, ``--chunk``, ``--rate POP=HZ``, ``--rates-from RUN_DIR``, ``--imbalance``,
``--ncuts``, ``--niter``, ``--recursive``, ``--target-weights``, ``--min-epoch MS``,
``--preset``, and the seed (``--partition-seed`` for ``run``, ``--seed`` for
``partition``). With the same options ``run`` uses exactly the partition that
``partition`` reports; ``partition --save OWNERS.h5`` and ``run --partition OWNERS.h5``
reuse one explicitly.

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

A ``.json`` config is a SONATA simulation config (:func:`distsnn.load_sonata`): its
spike output and reports become the run's spike and state records, written to ``--out``
or, without it, to the config's ``output.output_dir``, and the spikes also to
``output.spikes_file`` there with SONATA's population names and node ids.

``--checkpoint DIR`` writes a checkpoint at the end (``--checkpoint-every MS`` also
periodically, keeping the newest ``--checkpoint-keep`` ones); ``--restore DIR`` continues
from the newest complete checkpoint in DIR (or the ``step-<N>`` directory given) to
``--t-stop``, under any ``mpiexec -n`` and ``--partitioner``, bit for bit as if the run
had not stopped (:mod:`distsnn.checkpoint`); its records go to a new ``--out``, and
``distsnn.load([first_out, second_out])`` reads the segments as one run.

``plot`` reads a run directory and writes its pictures (:func:`distsnn.plotting.save_run_plots`):
raster, population rates, traces, ISI and CV histograms, traffic between ranks, and for a
training run (``training.h5``) the loss curve and the readouts against their targets.

``train`` trains a task file (a network with a ``[training]`` table,
:mod:`distsnn.learning.spec`) with e-prop (:mod:`distsnn.learning`), printing the loss of
every iteration; with ``--out`` the losses and trained weights go to ``DIR/training.h5``.

While it simulates, ``run`` reports progress on rank 0 about once a second (percent,
model time, wall time, real-time factor, time left): one line rewritten in place on a
terminal, plain lines in a log or pipe, nothing with ``--quiet``.

Under an MPI launcher (``mpiexec -n 4 distsnn run net.toml``) the network is split over
the ranks by ``--partitioner`` (or ``--method``; default ``metis``); the spikes are the
same, bit for bit, as in one process. More ranks than neurons leave ranks idle. The
summary gives per rank the spike records sent and received (one per spike and remote
rank holding a target), the records sent to each rank, and the bytes sent, headers
included: the units of ``partition``'s prediction. Before anything is built, the memory
the run needs is estimated (:mod:`distsnn.resources`) and checked against
``--dry-run RANKS`` partitions the network for RANKS ranks, builds only rank 0's share in
this process (no MPI) and prints what that rank would hold: neurons, synapses, bytes of
every engine structure, the route table and the traffic the partition predicts
(:mod:`distsnn.dryrun`); it simulates nothing.

``--max-memory`` (default: the memory available on the ranks' machines; ``none`` skips
the check).

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
import os
import sys
import time
import warnings

import numpy as np

from . import config, memory, partition_cli, placement, threads, timegrid, validate
from .comm import world
from .engine import Simulation
from .io import reader
from .io.output import OutputOptions
from .io.sonata import load_sonata, write_spikes


def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    options = OutputOptions(overwrite=args.overwrite, flush_every=args.flush_every, buffer_mb=args.buffer_mb,
                            compression=args.compression, sort=args.sorted, collective_io=args.collective_io)
    options.check()
    threads.check("distsnn run --threads", args.threads)
    spec = partition_cli.spec_from_args(args, args.partitioner, args.partition)
    if args.dry_run is not None:
        return _dry_run(args, spec)
    limit = memory.job_limit(args.comm, args.max_memory, "distsnn run", "--max-memory")
    # Every rank reads the edge-list files: each may hold its share of the limit.
    share = None if limit.bytes is None else limit.bytes // args.comm.size
    circuit = None
    if args.config.lower().endswith(".json"):
        circuit = load_sonata(args.config, seed=args.seed)
        net = circuit.network
        if args.t_stop is not None:
            net.t_stop = validate.non_negative("run", "--t-stop", args.t_stop, "ms")
        args.out = args.out or circuit.output_dir
    else:
        net = config.load(args.config, seed=args.seed, t_stop=args.t_stop, max_memory=share,
                          strict_time=args.strict_time or None)
    every = _check_checkpoint_args(args, net)
    # Without --out nothing reads the records: count them, keep none (memory stays bounded).
    if args.restore:
        sim = Simulation.restore(args.restore, net, comm=args.comm, partitioner=spec, out=args.out, output=options,
                                 keep_records=False, max_memory=limit, threads=args.threads)
    else:
        sim = Simulation(net, comm=args.comm, partitioner=spec, out=args.out, output=options,
                         keep_records=False, max_memory=limit, threads=args.threads)
    written = []
    try:
        t_build = time.perf_counter() - t0
        t1 = time.perf_counter()
        report = None if args.quiet else "text"
        end = int(timegrid.to_steps(net.t_stop, net.dt))
        if every:
            # Periodic checkpoints at whole multiples of the period (in model time).
            k = sim.step // every + 1
            while k * every < end:
                sim.advance(k * every * net.dt, report=report)
                written.append(sim.checkpoint(args.checkpoint, keep=args.checkpoint_keep))
                k += 1
        sim.advance(report=report)
        if args.checkpoint and (not written or not written[-1].endswith(f"step-{sim.step:010d}")):
            written.append(sim.checkpoint(args.checkpoint, keep=args.checkpoint_keep))
        t_sim = time.perf_counter() - t1
        s = sim.summary()
    finally:
        sim.close()
    if circuit is not None and args.out and circuit.spikes_file:
        # Every rank's records are complete once all have passed here; rank 0 rewrites
        # the spikes with SONATA's population names and node ids.
        sim.comm.barrier()
        if sim.comm.rank == 0:
            rec = reader.load(args.out)
            write_spikes(circuit, rec.spikes.gid, rec.spikes.step, os.path.join(args.out, circuit.spikes_file))
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
    how = f"owner map {args.partition}" if args.partition else args.partitioner
    print(f"  ranks          {s['ranks']} ({how})")
    if not args.partition and s["ranks"] > 1:
        measured = placement.measured_populations(net) if spec.rates_from else []
        print(f"  rates          {partition_cli.rate_text(net, spec, measured)} (for the partition)")
    for r in s["per_rank"]:
        print(f"  rank {r['rank']}: {r['neurons']} neurons, {r['synapses']} synapses, {r['spikes']} spikes, "
              f"{r['records_sent']} spike records sent / {r['records_received']} received "
              f"({r['bytes_sent']} B incl. headers); "
              f"update {r['update_s']:.3f} s, exchange {r['exchange_s']:.3f} s, deliver {r['deliver_s']:.3f} s, "
              f"record {r['record_s']:.3f} s")
    if args.out:
        print(f"  output         {args.out}")
    if args.restore:
        print(f"  restored from  {sim.restored_from} (step {sim.restored_step})")
    if written:
        from .checkpoint import describe

        print(f"  checkpoint     {describe(written[-1])}")
    return 0


def _dry_run(args: argparse.Namespace, spec: placement.PartitionSpec) -> int:
    """``run --dry-run RANKS``: build rank 0's share of a RANKS-rank job, print what it holds."""
    from .dryrun import dry_run

    if args.comm.size != 1:
        raise ValueError(f"run: --dry-run builds one rank's share in one process; got {args.comm.size} "
                         f"MPI ranks (run it without mpiexec)")
    if args.dry_run < 1:
        raise ValueError(f"run: --dry-run must be an integer >= 1 (ranks), got {args.dry_run}")
    if args.config.lower().endswith(".json"):
        net = load_sonata(args.config, seed=args.seed).network
    else:
        net = config.load(args.config, seed=args.seed, t_stop=args.t_stop, strict_time=args.strict_time or None)
    t0 = time.perf_counter()
    report = dry_run(net, args.dry_run, spec)
    print(report.text())
    print(f"  built in       {time.perf_counter() - t0:.3f} s (partition and rank 0's share)")
    return 0


def _check_checkpoint_args(args: argparse.Namespace, net) -> int:
    """The checkpoint period in steps (0: none); every flag checked before any work."""
    from .checkpoint import peek_step

    if args.checkpoint_every is not None and not args.checkpoint:
        raise ValueError("run: --checkpoint-every needs --checkpoint DIR (where to write them)")
    if args.checkpoint_keep < 1:
        raise ValueError(f"run: --checkpoint-keep must be an integer >= 1, got {args.checkpoint_keep}")
    if args.restore:
        step = args.comm.bcast(peek_step(args.restore) if args.comm.rank == 0 else None)
        if isinstance(step, str):
            raise ValueError(step)
        end = int(timegrid.to_steps(net.t_stop, net.dt))
        if end <= step:
            raise ValueError(f"run: --t-stop = {net.t_stop:g} ms must be after the checkpoint's time "
                             f"{step * net.dt:g} ms ({args.restore})")
    if args.checkpoint_every is None:
        return 0
    every = args.checkpoint_every
    if not (every > 0 and every < float("inf")):
        raise ValueError(f"run: --checkpoint-every must be a finite number > 0 ms, got {every}")
    if not timegrid.on_grid(np.array([every]), net.dt)[0]:
        raise ValueError(f"run: --checkpoint-every must be a whole number of steps of dt = {net.dt} ms, got {every}")
    return int(timegrid.to_steps(every, net.dt))


def _inspect(args: argparse.Namespace) -> int:
    if args.comm.rank == 0:
        print(reader.inspect(args.run_dir))
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

    from .plotting import training

    result = io.load(args.run_dir)
    out = args.out or os.path.join(args.run_dir, "plots")
    done = plotting.save_run_plots(result, out, dpi=args.dpi, max_neurons=args.max_neurons, bin_ms=args.bin_ms,
                                   t_start=args.t_start, t_stop=args.t_stop)
    loss = training.read_loss(args.run_dir)
    if loss is not None:
        path = os.path.join(out, "loss.png")
        training.loss_curve(loss).figure.savefig(path, dpi=args.dpi)
        done.written["loss"] = path
        ax = training.readout_vs_target(result, window=(args.t_start, args.t_stop)
                                        if args.t_start is not None and args.t_stop is not None else None)
        if ax is None:
            done.skipped["readout"] = "no readout_signal and target_signal recorded"
        else:
            path = os.path.join(out, "readout.png")
            ax.figure.savefig(path, dpi=args.dpi)
            done.written["readout"] = path
    print(f"distsnn plot {args.run_dir}")
    for name, path in done.written.items():
        print(f"  {name:<8} {path}")
    for name, why in done.skipped.items():
        print(f"  {name:<8} not drawn: {why}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .learning import Trainer
    from .learning.spec import load_task

    if args.iterations is not None and args.iterations < 1:
        raise ValueError(f"train: --iterations must be >= 1, got {args.iterations}")
    net, spec = load_task(args.task, max_memory=args.max_memory)
    iterations = args.iterations or spec.iterations
    rank = args.comm.rank
    t0 = time.perf_counter()
    sim = Simulation(net, comm=args.comm, partitioner=args.partitioner, out=args.out,
                     output=OutputOptions(overwrite=args.overwrite) if args.out else None, max_memory=args.max_memory)
    try:
        trainer = Trainer(sim, spec.plastic, spec.target, feedback=spec.feedback, optimizer=spec.optimizer,
                          reset=spec.reset, loss=spec.loss)
        build = time.perf_counter() - t0

        def report(i: int, loss: float) -> None:
            if not args.quiet:
                print(f"iteration {i:5d}  loss {loss:.6g}", flush=True)

        res = trainer.train(iterations, out=args.out, report=report)
    finally:
        sim.close()
    if rank == 0:
        print(f"distsnn train {args.task}: {res.iterations} iterations on {res.ranks} rank(s), "
              f"loss {res.loss[0]:.6g} -> {res.loss[-1]:.6g}, build {build:.2f} s, training {res.wall_s:.2f} s")
        if args.out:
            print(f"  losses and trained weights: {os.path.join(args.out, 'training.h5')}")
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="distsnn", description="Distributed spiking neural network simulator.")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate a network described in TOML or SONATA",
                         description="Simulate a network described in a TOML file or a SONATA simulation "
                                     "config (.json) and print a summary.")
    run.add_argument("config", help="network description (TOML) or SONATA simulation config (.json)")
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
    run.add_argument("--partitioner", "--method", dest="partitioner", default="metis", choices=placement.METHODS,
                     help="how neurons are split over MPI ranks (default: metis)")
    run.add_argument("--threads", metavar="T", type=int, default=1,
                     help="threads per rank for Poisson input and spike delivery (default 1; the results "
                          "are the same for every T)")
    run.add_argument("--strict-time", action="store_true",
                     help="durations (delays, refractory periods, schedule times) off the dt grid are "
                          "errors instead of warnings")
    run.add_argument("--max-memory", metavar="SIZE", type=_size, default="available",
                     help="memory all ranks together may use, e.g. 64G, 1.5T or a number of bytes; "
                          "'available' (default): the memory available on the ranks' machines; "
                          "'none': no check")
    run.add_argument("--quiet", action="store_true",
                     help="no progress reports (by default rank 0 reports about once a second)")
    run.add_argument("--partition", metavar="OWNERS.h5",
                     help="use the owner map of distsnn partition --save instead of partitioning")
    run.add_argument("--checkpoint", metavar="DIR",
                     help="write a checkpoint to DIR/step-<N>/ at the end (and with --checkpoint-every "
                          "periodically); restore with --restore DIR on any number of ranks")
    run.add_argument("--checkpoint-every", metavar="MS", type=float,
                     help="also write a checkpoint every MS of model time")
    run.add_argument("--checkpoint-keep", metavar="K", type=int, default=2,
                     help="keep the newest K checkpoints in DIR (default 2)")
    run.add_argument("--restore", metavar="DIR",
                     help="continue from a checkpoint (a step-<N> directory, or the newest complete one "
                          "in DIR) to --t-stop; the network must be the same (hash, dt, seed)")
    run.add_argument("--dry-run", metavar="RANKS", type=int,
                     help="build only rank 0's share of a RANKS-rank job in this process and print what "
                          "it would hold (neurons, synapses, bytes by structure, route table, predicted "
                          "traffic); simulates nothing")
    partition_cli.add_partition_options(run, for_run=True)
    run.set_defaults(func=_run)
    tr = sub.add_parser("train", help="train a network with e-prop (a TOML task: network + [training])",
                        description="Train the plastic projections of a task file with e-prop "
                                    "(distsnn.learning.spec describes the [training] table).")
    tr.add_argument("task", help="task file: a network TOML with a [training] table")
    tr.add_argument("--iterations", type=int, help="update intervals (default: the task's)")
    tr.add_argument("--out", metavar="DIR", help="run directory: records, and training.h5 (losses, weights)")
    tr.add_argument("--overwrite", action="store_true", help="replace an earlier run's files in DIR")
    tr.add_argument("--partitioner", "--method", dest="partitioner", default="metis", choices=placement.METHODS)
    tr.add_argument("--max-memory", metavar="SIZE", type=_size, default="available")
    tr.add_argument("--quiet", action="store_true", help="no line per iteration")
    tr.set_defaults(func=_train)
    ins = sub.add_parser("inspect", help="what a run directory holds",
                         description="Print a run directory's identity, progress, populations, record "
                                     "counts and sizes, without reading spikes.")
    ins.add_argument("run_dir", metavar="RUN_DIR")
    ins.set_defaults(func=_inspect)
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
