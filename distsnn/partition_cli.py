"""``distsnn partition``: how a network splits over ranks, and what each split costs.

    distsnn partition CONFIG.toml --parts N [--method NAME] [--compare]
        [--level auto|neuron|chunk] [--chunk K] [--rate POP=HZ ...] [--rates-from RUN_DIR]
        [--imbalance F] [--seed N] [--ncuts N] [--niter N] [--recursive]
        [--target-weights W,W,...] [--min-epoch MS] [--preset NAME]
        [--hosts H [--devices-per-host D] [--speed S,S,...] | --machine FILE.toml]
        [--json FILE] [--plot FILE.png] [--save OWNERS.h5]

Runs in one process, before and without any simulation: loads the network, builds its
communication graph and partitions it exactly as ``distsnn run`` does with the same
options (:mod:`distsnn.placement`: same level, rates, method and options give the same
owner map; ``--save OWNERS.h5`` writes it for ``run --partition OWNERS.h5``). With
``--compare`` every method of :data:`partitioning.METHODS` gets a row (``mtkahypar``,
10-100 times slower, only when chosen with ``--method``)
(definitions in :mod:`partitioning.metrics`):

- ``edge cut``: synapses between parts;
- ``spike records/s``: spikes sent between parts, each spike once per remote part
  holding a target (the hypergraph lambda - 1 volume), from the rates (``--rate
  POP=HZ``, the file's ``rate_hz``, ``--rates-from`` an earlier run, else
  :data:`distsnn.graph.DEFAULT_RATE_HZ`; the header says which);
- ``rank pairs``: ordered part pairs that exchange spike records;
- ``bytes/s``: what the run's exchange sends, 8 bytes a spike record plus the
  headers: one 8-byte count from every rank to every other rank in every epoch;
- ``imbalance``: largest over mean part load (cost model of :mod:`distsnn.graph`);
- ``epoch``: the shortest delay between parts, which is the run's epoch length;
  the network's shortest delay is printed above the table;
- ``seconds``: time the partitioner took.

At the neuron level the measures are exact; at the chunk level they are expected values
(the volume under a Poisson approximation) and the partitioners place whole chunks.
More parts than vertices leave the extra parts empty (idle ranks).

``--hosts H`` (``--devices-per-host D``, default ``N // H``, and ``--speed``, one
relative speed per device) or ``--machine FILE.toml`` (keys ``hosts``,
``devices_per_host`` and optionally ``speed``) describes a machine: each method's parts
are placed with :func:`partitioning.map_to_devices` and a second table gives the
inter-host and intra-host volume against in-order placement
(:func:`partitioning.naive_mapping`).

``--json FILE`` writes every measure (loads and traffic matrices included) and the
placements; ``--plot FILE.png`` draws the traffic matrix and part loads of the chosen
method (:func:`distsnn.plotting.partition_figure`). All input is checked before any
work; a bad value is a ``ValueError`` naming it (``distsnn: error: ...``, exit code 2).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
import tomllib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

import partitioning
from partitioning import Machine, PartitionMetrics

from . import config, graph, placement, routing
from .graph import NetworkGraph
from .network import Network
from .placement import PartitionSpec


@dataclass(frozen=True, eq=False)
class MethodResult:
    """One partitioner's parts (per graph vertex), measures and run time (s)."""

    method: str
    parts: np.ndarray
    metrics: PartitionMetrics
    seconds: float


@dataclass(frozen=True, eq=False)
class Placement:
    """Parts placed on a machine by :func:`partitioning.map_to_devices` and in order.

    Volumes in the traffic matrix's unit (spikes per second with rates in Hz).
    """

    device_of_part: np.ndarray
    inter_host: float
    intra_host: float
    naive_inter_host: float
    naive_intra_host: float


def compare(ng: NetworkGraph, parts: int, methods: Sequence[str], spec: PartitionSpec | None = None,
            dt: float = 0.1) -> list[MethodResult]:
    """Partition ``ng.graph`` into ``parts`` parts with each method and measure the result.

    Each method gets the options of ``spec`` that it takes
    (:meth:`distsnn.placement.PartitionSpec.options`, with ``dt`` in ms turning
    ``min_epoch_ms`` into steps); more parts than vertices leave parts empty.
    """
    spec = PartitionSpec() if spec is None else spec
    out = []
    for method in methods:
        t0 = time.perf_counter()
        p = placement.vertex_parts(ng, parts, method, spec, dt)
        seconds = time.perf_counter() - t0
        out.append(MethodResult(method, p, partitioning.evaluate(ng.graph, p, parts), seconds))
    return out


def epoch_steps(metrics: PartitionMetrics) -> int:
    """The run's epoch (steps) for a partition: the shortest delay between parts, else the
    shortest delay, capped as the engine caps it (:data:`distsnn.routing.MAX_EPOCH`)."""
    from .engine import DEFAULT_EPOCH

    d = metrics.min_cross_delay if metrics.min_cross_delay is not None else metrics.min_delay
    return DEFAULT_EPOCH if d is None else min(int(d), routing.MAX_EPOCH)


def bytes_per_second(metrics: PartitionMetrics, dt: float) -> float:
    """Predicted exchange bytes per simulated second, headers included (module docstring)."""
    k = metrics.nparts
    epochs = 1000.0 / (epoch_steps(metrics) * dt)
    return 8.0 * metrics.comm_volume + 8.0 * k * (k - 1) * epochs


def place(metrics: PartitionMetrics, machine: Machine) -> Placement:
    """Map the parts onto ``machine`` and measure inter- and intra-host volume, also in order."""
    device = partitioning.map_to_devices(metrics.traffic, metrics.loads, machine)
    naive = partitioning.naive_mapping(metrics.nparts, machine)
    inter, intra = partitioning.host_volumes(metrics.traffic, device, machine)
    naive_inter, naive_intra = partitioning.host_volumes(metrics.traffic, naive, machine)
    return Placement(device, inter, intra, naive_inter, naive_intra)


# -- command line -----------------------------------------------------------------------


def add_partition_options(p: argparse.ArgumentParser, for_run: bool) -> None:
    """The options a partition depends on, shared by ``run`` and ``partition``.

    ``run`` names the seed ``--partition-seed`` (its ``--seed`` is the master seed).
    """
    p.add_argument("--level", choices=graph.LEVELS, default="auto",
                   help="graph level (default: auto, neuron level below 2 million synapses)")
    p.add_argument("--chunk", metavar="K", type=int, help="neurons per chunk at the chunk level (default: automatic)")
    p.add_argument("--rate", metavar="POP=HZ", action="append", default=[],
                   help=f"expected rate of a population (repeatable; default the file's rate_hz, else "
                        f"{graph.DEFAULT_RATE_HZ:g} Hz, generators their own)")
    p.add_argument("--rates-from", metavar="RUN_DIR",
                   help="measured rates of the spike-monitored populations of an earlier run (--out DIR)")
    p.add_argument("--imbalance", metavar="F", type=float, default=0.03,
                   help="load tolerance of the graph methods, a fraction of the mean (default: 0.03)")
    p.add_argument("--partition-seed" if for_run else "--seed", dest="partition_seed", metavar="N", type=int,
                   default=0, help="seed of METIS, Mt-KaHyPar and random (default: 0)")
    p.add_argument("--ncuts", metavar="N", type=int,
                   help=f"METIS trials, keeping the smallest cut (default: {partitioning.methods.DEFAULT_NCUTS})")
    p.add_argument("--niter", metavar="N", type=int,
                   help=f"METIS refinement iterations (default: {partitioning.methods.DEFAULT_NITER})")
    p.add_argument("--recursive", action="store_true", help="METIS recursive bisection instead of k-way")
    p.add_argument("--target-weights", metavar="W,W,...",
                   help="relative load of every part, e.g. device speeds (default: equal)")
    p.add_argument("--min-epoch", metavar="MS", type=float,
                   help="delay-aware: keep synapses shorter than MS inside ranks where the balance allows")
    p.add_argument("--preset", choices=partitioning.hypergraph.PRESETS, default="deterministic",
                   help="Mt-KaHyPar preset (default: deterministic, the only one that repeats its result)")


def spec_from_args(args: argparse.Namespace, method: str, file: str | None = None) -> PartitionSpec:
    """The :class:`PartitionSpec` of the shared options (validated)."""
    weights = None
    if args.target_weights is not None:
        try:
            weights = tuple(float(w) for w in args.target_weights.split(","))
        except ValueError:
            raise ValueError(f"partition: --target-weights must be numbers separated by commas, "
                             f"got {args.target_weights!r}") from None
        if not all(np.isfinite(w) and w > 0 for w in weights):
            raise ValueError(f"partition: --target-weights must be finite and > 0, got {args.target_weights!r}")
    if not 0.0 <= args.imbalance <= 1.0:
        raise ValueError(f"partition: --imbalance must be in [0, 1], got {args.imbalance}")
    if args.partition_seed < 0:
        raise ValueError(f"partition: --seed must be >= 0, got {args.partition_seed}")
    for flag in ("ncuts", "niter"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ValueError(f"partition: --{flag} must be >= 1, got {value}")
    if args.min_epoch is not None and not args.min_epoch > 0:
        raise ValueError(f"partition: --min-epoch must be > 0 ms, got {args.min_epoch}")
    if args.rates_from is not None and not os.path.isdir(args.rates_from):
        raise ValueError(f"partition: --rates-from {args.rates_from!r} is not a run directory")
    return PartitionSpec(method=method, level=args.level, chunk=args.chunk, rates=_parse_rates(args.rate),
                         rates_from=args.rates_from, imbalance=args.imbalance, seed=args.partition_seed,
                         ncuts=args.ncuts, niter=args.niter, recursive=args.recursive,
                         target_weights=weights, min_epoch_ms=args.min_epoch, preset=args.preset,
                         file=file).check()


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``partition`` sub-command on the ``distsnn`` parser."""
    p = sub.add_parser("partition", help="compare ways to split a network over ranks",
                       description="Partition a network's communication graph and report what each "
                                   "split costs, without simulating.")
    p.add_argument("config", help="network description (TOML)")
    p.add_argument("--parts", metavar="N", type=int, required=True, help="number of parts (ranks)")
    p.add_argument("--method", choices=partitioning.METHODS,
                   help="partitioner (default: metis); with --compare, the one plotted and saved")
    p.add_argument("--compare", action="store_true", help="one row per partitioner (mtkahypar only when chosen)")
    add_partition_options(p, for_run=False)
    p.add_argument("--hosts", metavar="H", type=int, help="place parts on H hosts")
    p.add_argument("--devices-per-host", metavar="D", type=int, help="devices (ranks) per host (default: N // H)")
    p.add_argument("--speed", metavar="S,S,...", help="relative speed of every device (default: all 1)")
    p.add_argument("--machine", metavar="FILE", help="machine description (TOML: hosts, devices_per_host, speed)")
    p.add_argument("--json", metavar="FILE", help="write all measures as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw the traffic matrix and part loads")
    p.add_argument("--save", metavar="OWNERS.h5", help="write the chosen method's owner map for run --partition")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The ``partition`` sub-command (one process; ``args.comm`` is not used)."""
    parts = _check_parts(args.parts)
    chosen = args.method or partitioning.METHODS[0]
    spec = spec_from_args(args, chosen)
    machine = _machine(args, parts)
    for flag, path in (("--json", args.json), ("--plot", args.plot), ("--save", args.save)):
        _check_output(flag, path)
    if args.plot:
        _check_plot(args.plot)
    net = config.load(args.config)
    if spec.target_weights is not None and len(spec.target_weights) != parts:
        raise ValueError(f"partition: --target-weights must have one weight per part ({parts}), "
                         f"got {len(spec.target_weights)}")
    neuron_rates, measured = (placement.measured_rates(spec.rates_from, net) if spec.rates_from
                              else (None, []))
    ng = graph.communication_graph(net, parts, spec.level, spec.chunk, spec.rates, neuron_rates)
    # Mt-KaHyPar takes 10-100 times longer than the others: in --compare only when chosen.
    methods = [m for m in partitioning.METHODS
               if m == chosen or (args.compare and m != "mtkahypar")]
    results = compare(ng, parts, methods, spec, net.dt)
    placements = {r.method: place(r.metrics, machine) for r in results} if machine else {}
    print(report(args.config, net, ng, spec, measured, results, machine, placements))
    if args.json or args.plot or args.save:
        print()
    if args.json:
        _write_json(args.json, _as_json(args.config, net, ng, spec, measured, results, machine, placements))
        print(f"  json           {args.json}")
    r = next(r for r in results if r.method == chosen)
    if args.save:
        placement.save(args.save, ng.neuron_parts(r.parts), parts, spec, net)
        print(f"  owner map      {args.save} (distsnn run --partition {args.save})")
    if args.plot:
        from . import plotting

        pl = placements.get(chosen)
        plotting.save_partition_figure(
            args.plot, r.metrics.traffic, r.metrics.loads,
            title=f"{os.path.basename(args.config)}: {chosen}, {parts} parts ({ng.level} level)",
            device_of_part=None if pl is None else pl.device_of_part,
            devices_per_host=None if machine is None else machine.devices_per_host)
        print(f"  plot           {args.plot}")
    return 0


def rate_text(net: Network, spec: PartitionSpec, measured: list[str]) -> str:
    """Where the rates come from, for the report header (the default rate stated)."""
    parts = []
    if measured:
        parts.append(f"measured in {spec.rates_from} for {', '.join(measured)}")
    rest = {k: v for k, v in graph.rate_sources(net, spec.rates).items() if k not in measured}
    labels = {"given": "--rate", "file": "rate_hz in the file", "generator": "generator",
              "default": f"default {graph.DEFAULT_RATE_HZ:g} Hz"}
    by_source: dict[str, list[str]] = {}
    for name, (hz, src) in rest.items():
        by_source.setdefault(src, []).append(f"{name} {hz:g}")
    for src in ("given", "file", "generator", "default"):
        if src in by_source:
            names = by_source[src]
            if src == "default" and len(names) == len(net.populations):
                parts.append(f"{graph.DEFAULT_RATE_HZ:g} Hz (every population; the default, set --rate, "
                             f"rate_hz or --rates-from)")
            elif src == "default":
                parts.append(f"{labels[src]} for {', '.join(n.rsplit(' ', 1)[0] for n in names)}")
            else:
                parts.append(f"{labels[src]}: " + ", ".join(names) + " Hz")
    return "; ".join(parts)


def report(path: str, net: Network, ng: NetworkGraph, spec: PartitionSpec, measured: list[str],
           results: list[MethodResult], machine: Machine | None, placements: dict[str, Placement]) -> str:
    """The printed report: a header, one row per method, and the placement table."""
    g = ng.graph
    dt = net.dt
    level = ("neuron level, exact" if ng.level == "neuron" else
             f"chunk level, {ng.chunk} neurons per chunk, expected values")
    min_d = partitioning.min_delay(g)
    k = results[0].metrics.nparts
    lines = [f"distsnn partition {path}",
             f"  network        {net.size} neurons, {g.weight.sum():.10g} synapses, "
             f"{len(net.populations)} populations",
             f"  graph          {g.n_vertices} vertices, {g.n_edges} edges ({level})",
             f"  rates          {rate_text(net, spec, measured)}",
             f"  min delay      {_ms(min_d, dt)}",
             f"  parts          {k}" + (f" ({k - g.n_vertices} idle: more parts than vertices)"
                                        if k > g.n_vertices else ""),
             ""]
    header = ["method", "edge cut", "spike records/s", "rank pairs", "bytes/s", "imbalance", "epoch",
              "seconds"]
    rows = [[r.method, _num(r.metrics.edge_cut), _num(r.metrics.comm_volume), str(r.metrics.messages),
             _num(bytes_per_second(r.metrics, dt)), f"{r.metrics.imbalance:.3f}",
             f"{epoch_steps(r.metrics) * dt:g} ms", f"{r.seconds:.3f}"]
            for r in results]
    lines += table(header, rows)
    lines += ["", "  spike records: one per spike and remote rank holding a target; rank pairs: ordered "
                  "pairs that exchange them;",
              "  bytes: 8 per spike record plus an 8-byte count per rank pair and epoch (headers); "
              "epoch: shortest delay between parts"]
    if machine is not None:
        lines += ["", f"  placement on {machine.hosts} hosts x {machine.devices_per_host} devices"
                  + ("" if machine.speed is None else " (speeds " + ",".join(f"{s:g}" for s in machine.speed) + ")")
                  + ": spike records/s between and within hosts", ""]
        header = ["method", "inter-host", "intra-host", "in-order inter-host", "in-order intra-host",
                  "inter-host saved"]
        rows = []
        for r in results:
            pl = placements[r.method]
            saved = 1.0 - pl.inter_host / pl.naive_inter_host if pl.naive_inter_host > 0 else 0.0
            rows.append([r.method, _num(pl.inter_host), _num(pl.intra_host), _num(pl.naive_inter_host),
                         _num(pl.naive_intra_host), f"{100.0 * saved:.1f} %"])
        lines += table(header, rows)
    return "\n".join(lines)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Plain-text lines with aligned columns: the first left-aligned, the others right."""
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(header), "  " + "  ".join("-" * w for w in widths)] + [line(r) for r in rows]


def _num(x: float) -> str:
    """Whole numbers from 100 up (expected counts are fractional), 4 digits below."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.4g}"


def _ms(steps: int | None, dt: float) -> str:
    return "none" if steps is None else f"{steps * dt:g} ms"


def _check_parts(parts: int) -> int:
    if parts < 1:
        raise ValueError(f"partition: --parts must be >= 1, got {parts}")
    return parts


def _parse_rates(specs: list[str]) -> dict[str, float]:
    """``POP=HZ`` strings as a dict (the values are checked by :mod:`distsnn.graph`)."""
    rates: dict[str, float] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        try:
            hz = float(value)
        except ValueError:
            hz = None
        if not sep or not name or hz is None:
            raise ValueError(f"partition: --rate must be POP=HZ, e.g. exc=5.0, got {spec!r}")
        if name in rates:
            raise ValueError(f"partition: --rate gives population {name!r} twice")
        rates[name] = hz
    return rates


def _machine(args: argparse.Namespace, parts: int) -> Machine | None:
    """The machine of --hosts/--devices-per-host/--speed or --machine, or None."""
    if args.machine is not None:
        for flag in ("hosts", "devices_per_host", "speed"):
            if getattr(args, flag) is not None:
                raise ValueError(f"partition: --machine and --{flag.replace('_', '-')} exclude each other")
        if not os.path.isfile(args.machine):
            raise ValueError(f"partition: --machine file {args.machine!r} does not exist")
        try:
            with open(args.machine, "rb") as fh:
                spec = tomllib.load(fh)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"partition: --machine file {args.machine!r} is not valid TOML: {e}") from None
        return Machine.parse(spec)
    if args.hosts is None:
        for flag in ("devices_per_host", "speed"):
            if getattr(args, flag) is not None:
                raise ValueError(f"partition: --{flag.replace('_', '-')} needs --hosts")
        return None
    if args.hosts < 1:
        raise ValueError(f"Machine: hosts must be >= 1, got {args.hosts}")
    dph = args.devices_per_host
    if dph is None:
        dph = parts // args.hosts
        if dph < 1:
            raise ValueError(f"partition: --hosts must be <= --parts ({parts}) unless --devices-per-host "
                             f"is given, got {args.hosts}")
    speed = None
    if args.speed is not None:
        try:
            speed = tuple(float(s) for s in args.speed.split(","))
        except ValueError:
            raise ValueError(f"partition: --speed must be numbers separated by commas, got {args.speed!r}") from None
    return Machine(args.hosts, dph, speed)


def _check_output(flag: str, path: str | None) -> None:
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"partition: {flag} folder {folder!r} does not exist")


def _check_plot(path: str) -> None:
    if not path.lower().endswith(".png"):
        raise ValueError(f"partition: --plot must name a .png file, got {path!r}")
    if importlib.util.find_spec("matplotlib") is None:
        raise ValueError("partition: --plot needs matplotlib (pip install 'distsnn[plot]')")


def _as_json(path: str, net: Network, ng: NetworkGraph, spec: PartitionSpec, measured: list[str],
             results: list[MethodResult], machine: Machine | None, placements: dict[str, Placement]) -> dict[str, Any]:
    g = ng.graph
    out: dict[str, Any] = {
        "config": path,
        "parts": results[0].metrics.nparts,
        "level": ng.level,
        "chunk": ng.chunk,
        "neurons": net.size,
        "synapses": float(g.weight.sum()),
        "vertices": g.n_vertices,
        "edges": g.n_edges,
        "dt_ms": net.dt,
        "rates_hz": graph.population_rates(net, spec.rates),
        "rates_measured": {"run": spec.rates_from, "populations": measured},
        "units": {"comm_volume": "spike records/s", "traffic": "spike records/s from part (row) to part",
                  "messages": "ordered rank pairs exchanging spike records",
                  "bytes_per_s": "bytes/s sent, 8 per spike record + 8 per rank pair and epoch",
                  "loads": "ns of compute per simulated second (distsnn.graph cost model)",
                  "min_delay": "steps of dt_ms", "min_cross_delay": "steps of dt_ms",
                  "epoch": "steps of dt_ms", "seconds": "s"},
        "methods": {r.method: {**r.metrics.as_dict(), "bytes_per_s": bytes_per_second(r.metrics, net.dt),
                               "epoch": epoch_steps(r.metrics), "seconds": r.seconds} for r in results},
    }
    if machine is not None:
        out["machine"] = {"hosts": machine.hosts, "devices_per_host": machine.devices_per_host,
                          "speed": list(machine.speeds())}
        out["placement"] = {m: {"device_of_part": pl.device_of_part.tolist(), "inter_host": pl.inter_host,
                                "intra_host": pl.intra_host, "naive_inter_host": pl.naive_inter_host,
                                "naive_intra_host": pl.naive_intra_host}
                            for m, pl in placements.items()}
    return out


def _write_json(path: str, data: dict[str, Any]) -> None:
    """Write through a temporary file, so a failure never leaves half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
