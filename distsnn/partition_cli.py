"""``distsnn partition``: how a network splits over ranks, and what each split costs.

    distsnn partition CONFIG.toml --parts N [--method NAME] [--compare]
        [--level auto|neuron|chunk] [--chunk K] [--rate POP=HZ ...]
        [--imbalance F] [--seed N]
        [--hosts H [--devices-per-host D] [--speed S,S,...] | --machine FILE.toml]
        [--json FILE] [--plot FILE.png]

Runs in one process, before and without any simulation: loads the network, builds its
communication graph (:func:`distsnn.graph.communication_graph`; ``auto`` takes the
neuron level below 2 million expected synapses, else chunks of ``--chunk`` neurons,
automatic by default), partitions it with ``--method`` (default ``metis``) or, with
``--compare``, with every method of :data:`partitioning.METHODS`, and prints one row per
method (definitions in :mod:`partitioning.metrics`):

- ``edge cut``: synapses between parts;
- ``volume``: spikes per second sent between parts, each spike once per remote part
  holding a target (the hypergraph lambda - 1 volume), from the population rates
  (``--rate POP=HZ``, default :data:`distsnn.graph.DEFAULT_RATE_HZ`);
- ``messages``: ordered part pairs that exchange spikes, i.e. messages per epoch;
- ``imbalance``: largest over mean part load (cost model of :mod:`distsnn.graph`);
- ``min cross delay``: the shortest delay between parts, which bounds the epoch
  length; the network's shortest delay is printed above the table;
- ``seconds``: time the partitioner took.

At the neuron level the measures are exact; at the chunk level they are expected values
(the volume under a Poisson approximation) and the partitioners place whole chunks.

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

from . import config, graph
from .graph import NetworkGraph
from .network import Network


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


def compare(ng: NetworkGraph, parts: int, methods: Sequence[str], imbalance: float = 0.03,
            seed: int = 0) -> list[MethodResult]:
    """Partition ``ng.graph`` into ``parts`` parts with each method and measure the result.

    ``imbalance`` and ``seed`` go to the methods that take them (METIS: both; random:
    the seed).
    """
    out = []
    for method in methods:
        opts: dict[str, Any] = {}
        if method in ("metis", "metis_refined"):
            opts = {"imbalance": imbalance, "seed": seed}
        elif method == "random":
            opts = {"seed": seed}
        t0 = time.perf_counter()
        p = partitioning.partition(ng.graph, parts, method, **opts)
        seconds = time.perf_counter() - t0
        out.append(MethodResult(method, p, partitioning.evaluate(ng.graph, p, parts), seconds))
    return out


def place(metrics: PartitionMetrics, machine: Machine) -> Placement:
    """Map the parts onto ``machine`` and measure inter- and intra-host volume, also in order."""
    device = partitioning.map_to_devices(metrics.traffic, metrics.loads, machine)
    naive = partitioning.naive_mapping(metrics.nparts, machine)
    inter, intra = partitioning.host_volumes(metrics.traffic, device, machine)
    naive_inter, naive_intra = partitioning.host_volumes(metrics.traffic, naive, machine)
    return Placement(device, inter, intra, naive_inter, naive_intra)


# -- command line -----------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``partition`` sub-command on the ``distsnn`` parser."""
    p = sub.add_parser("partition", help="compare ways to split a network over ranks",
                       description="Partition a network's communication graph and report what each "
                                   "split costs, without simulating.")
    p.add_argument("config", help="network description (TOML)")
    p.add_argument("--parts", metavar="N", type=int, required=True, help="number of parts (ranks)")
    p.add_argument("--method", choices=partitioning.METHODS,
                   help="partitioner (default: metis); with --compare, the one plotted")
    p.add_argument("--compare", action="store_true", help="one row per partitioner")
    p.add_argument("--level", choices=graph.LEVELS, default="auto",
                   help="graph level (default: auto, neuron level below 2 million synapses)")
    p.add_argument("--chunk", metavar="K", type=int, help="neurons per chunk at the chunk level (default: automatic)")
    p.add_argument("--rate", metavar="POP=HZ", action="append", default=[],
                   help=f"expected rate of a population (repeatable; default {graph.DEFAULT_RATE_HZ:g} Hz, "
                        f"generators their own)")
    p.add_argument("--imbalance", metavar="F", type=float, default=0.03,
                   help="METIS load tolerance, a fraction of the mean (default: 0.03)")
    p.add_argument("--seed", metavar="N", type=int, default=0, help="seed of METIS and random (default: 0)")
    p.add_argument("--hosts", metavar="H", type=int, help="place parts on H hosts")
    p.add_argument("--devices-per-host", metavar="D", type=int, help="devices (ranks) per host (default: N // H)")
    p.add_argument("--speed", metavar="S,S,...", help="relative speed of every device (default: all 1)")
    p.add_argument("--machine", metavar="FILE", help="machine description (TOML: hosts, devices_per_host, speed)")
    p.add_argument("--json", metavar="FILE", help="write all measures as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw the traffic matrix and part loads")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The ``partition`` sub-command (one process; ``args.comm`` is not used)."""
    parts = _check_parts(args.parts)
    rates = _parse_rates(args.rate)
    machine = _machine(args, parts)
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        _check_output(flag, path)
    if args.plot:
        _check_plot(args.plot)
    if not 0.0 <= args.imbalance <= 1.0:
        raise ValueError(f"partition: --imbalance must be in [0, 1], got {args.imbalance}")
    if args.seed < 0:
        raise ValueError(f"partition: --seed must be >= 0, got {args.seed}")
    net = config.load(args.config)
    ng = graph.communication_graph(net, parts, args.level, args.chunk, rates)
    if parts > ng.graph.n_vertices:
        what = (f"the network's {ng.graph.n_vertices} neurons" if ng.level == "neuron" else
                f"the {ng.graph.n_vertices} chunks of {ng.chunk} neurons (choose a smaller --chunk)")
        raise ValueError(f"partition: --parts must be <= {what}, got {parts}")
    chosen = args.method or partitioning.METHODS[0]
    methods = list(partitioning.METHODS) if args.compare else [chosen]
    results = compare(ng, parts, methods, args.imbalance, args.seed)
    placements = {r.method: place(r.metrics, machine) for r in results} if machine else {}
    print(report(args.config, net, ng, rates, results, machine, placements))
    if args.json or args.plot:
        print()
    if args.json:
        _write_json(args.json, _as_json(args.config, net, ng, rates, results, machine, placements))
        print(f"  json           {args.json}")
    if args.plot:
        from . import plotting

        r = next(r for r in results if r.method == chosen)
        pl = placements.get(chosen)
        plotting.save_partition_figure(
            args.plot, r.metrics.traffic, r.metrics.loads,
            title=f"{os.path.basename(args.config)}: {chosen}, {parts} parts ({ng.level} level)",
            device_of_part=None if pl is None else pl.device_of_part,
            devices_per_host=None if machine is None else machine.devices_per_host)
        print(f"  plot           {args.plot}")
    return 0


def report(path: str, net: Network, ng: NetworkGraph, rates: dict[str, float], results: list[MethodResult],
           machine: Machine | None, placements: dict[str, Placement]) -> str:
    """The printed report: a header, one row per method, and the placement table."""
    g = ng.graph
    dt = net.dt
    shown = graph.population_rates(net, rates)
    distinct = sorted(set(shown.values()))
    rate_text = (f"{distinct[0]:g} Hz (every population)" if len(distinct) == 1 else
                 ", ".join(f"{k} {v:g}" for k, v in shown.items()) + " Hz")
    level = ("neuron level, exact" if ng.level == "neuron" else
             f"chunk level, {ng.chunk} neurons per chunk, expected values")
    min_d = partitioning.min_delay(g)
    lines = [f"distsnn partition {path}",
             f"  network        {net.size} neurons, {g.weight.sum():.10g} synapses, "
             f"{len(net.populations)} populations",
             f"  graph          {g.n_vertices} vertices, {g.n_edges} edges ({level})",
             f"  rates          {rate_text}",
             f"  min delay      {_ms(min_d, dt)}",
             f"  parts          {results[0].metrics.nparts}",
             ""]
    header = ["method", "edge cut", "volume (spikes/s)", "messages", "imbalance", "min cross delay",
              "seconds"]
    rows = [[r.method, _num(r.metrics.edge_cut), _num(r.metrics.comm_volume), str(r.metrics.messages),
             f"{r.metrics.imbalance:.3f}", _ms(r.metrics.min_cross_delay, dt), f"{r.seconds:.3f}"]
            for r in results]
    lines += table(header, rows)
    if machine is not None:
        lines += ["", f"  placement on {machine.hosts} hosts x {machine.devices_per_host} devices"
                  + ("" if machine.speed is None else " (speeds " + ",".join(f"{s:g}" for s in machine.speed) + ")")
                  + ": volume (spikes/s) between and within hosts", ""]
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


def _as_json(path: str, net: Network, ng: NetworkGraph, rates: dict[str, float], results: list[MethodResult],
             machine: Machine | None, placements: dict[str, Placement]) -> dict[str, Any]:
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
        "rates_hz": graph.population_rates(net, rates),
        "units": {"comm_volume": "spikes/s", "traffic": "spikes/s",
                  "loads": "ns of compute per simulated second (distsnn.graph cost model)",
                  "min_delay": "steps of dt_ms", "min_cross_delay": "steps of dt_ms", "seconds": "s"},
        "methods": {r.method: {**r.metrics.as_dict(), "seconds": r.seconds} for r in results},
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
