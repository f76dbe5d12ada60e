"""The ``distsnn`` command.

    distsnn run CONFIG.toml|SIMULATION_CONFIG.json [--out DIR] [--t-stop MS] [--seed N]
                [--partitioner NAME]
    distsnn partition CONFIG.toml --parts N [--method NAME] [--compare] [--hosts H]
                      [--json FILE] [--plot FILE.png]

``run`` loads and validates the network (before any output is written), builds it,
simulates it and prints a summary: neurons, synapses, spikes, mean rate, and the wall
times of build and simulation. With ``--out DIR`` it writes each rank's records to
``DIR/rank*.h5`` (read them back merged with :func:`distsnn.load`). ``partition``
reports what splitting the network would cost (:mod:`distsnn.partition_cli`).

A ``.json`` config is a SONATA simulation config (:func:`distsnn.load_sonata`): its
spike output and reports become the run's spike and state records, written to ``--out``
or, without it, to the config's ``output.output_dir``, and the spikes also to
``output.spikes_file`` there in SONATA's format.

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

import numpy as np

from . import config, partition_cli, placement, validate
from .comm import world
from .engine import Simulation
from .io import hdf5
from .io.sonata import load_sonata, write_spikes


def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    circuit = None
    if args.config.lower().endswith(".json"):
        circuit = load_sonata(args.config, seed=args.seed)
        net = circuit.network
        if args.t_stop is not None:
            net.t_stop = validate.non_negative("run", "--t-stop", args.t_stop, "ms")
        args.out = args.out or circuit.output_dir
    else:
        net = config.load(args.config, seed=args.seed, t_stop=args.t_stop)
    sim = Simulation(net, comm=args.comm, partitioner=args.partitioner)
    t_build = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = sim.run()
    t_sim = time.perf_counter() - t1
    if args.out:
        hdf5.write_run(args.out, sim.comm, net.dt, result)
    if circuit is not None and args.out and circuit.spikes_file:
        # Every rank takes part in the gather; rank 0 writes the SONATA spikes file.
        parts = sim.comm.gather((result.spikes.gid, result.spikes.step))
        if sim.comm.rank == 0:
            gids = np.concatenate([p[0] for p in parts])
            steps = np.concatenate([p[1] for p in parts])
            write_spikes(circuit, gids, steps, os.path.join(args.out, circuit.spikes_file))
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
    run = sub.add_parser("run", help="simulate a network described in TOML or SONATA",
                         description="Simulate a network described in a TOML file or a SONATA simulation "
                                     "config (.json) and print a summary.")
    run.add_argument("config", help="network description (TOML) or SONATA simulation config (.json)")
    run.add_argument("--out", metavar="DIR", help="write per-rank HDF5 records to DIR")
    run.add_argument("--t-stop", metavar="MS", type=float, help="simulated time in ms (default: the file's)")
    run.add_argument("--seed", metavar="N", type=int, help="master seed (default: the file's)")
    run.add_argument("--partitioner", default="metis", choices=placement.METHODS,
                     help="how neurons are split over MPI ranks (default: metis)")
    run.set_defaults(func=_run)
    partition_cli.add_parser(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.comm = world()
    if args.comm.size > 1:
        # One rank's failure must end the job, never leave the others in a collective.
        from .comm.mpi import abort_on_exception

        abort_on_exception(args.comm)
    try:
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
