"""Which rank owns which neuron: one partition for ``distsnn run`` and ``distsnn partition``.

A :class:`PartitionSpec` holds everything a partition depends on: the method, the graph
level and chunk size, the rates (per population, measured in an earlier run, or the
defaults of :mod:`distsnn.graph`) and the method's options. :func:`owner_of` turns a
network, a part count and a spec into the rank of every gid; ``distsnn partition``
reports on exactly that partition and ``distsnn run`` (through :func:`assign`) runs on
it, so for the same inputs the two agree (``tests/test_partition_run.py``).
:func:`save` writes an owner map (``partition --save owners.h5``) and a spec with
``file`` set reuses it (``run --partition owners.h5``).

More ranks than vertices: the graph is split into as many parts as it has vertices and
the remaining ranks own no neuron (they take part in every collective, idle).

``round_robin``, ``block`` and ``random`` deal out the graph's vertices (neurons, or
chunks) in gid order, balancing neuron counts (NEST's ``gid % P``, Arbor's ranges): they
need no graph, so a run with them draws no synapse on rank 0 to partition.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import h5py
import numpy as np

import partitioning

from . import graph, timegrid, validate
from .comm import Comm
from .graph import NetworkGraph
from .network import Network, SpikeMonitor

METHODS = partitioning.METHODS
FORMAT = "distsnn-partition-1"
"""The ``format`` attribute of an owner-map file."""

# The methods that take the graph options (imbalance, targets, min_epoch, ...).
_GRAPH_METHODS = ("metis", "metis_refined", "volume", "mtkahypar")
# The methods that deal out vertices in gid order, balancing neuron counts.
_ORDER_METHODS = ("round_robin", "block", "random")


class OwnerMap:
    """The rank of every gid, held as runs of consecutive gids (a range per run).

    A partition at the chunk level (every large network) gives at most one run per chunk,
    so every rank holds a map of a few kilobytes whatever the network's size, where an
    array of one rank per gid would take 8 bytes per neuron of the whole network on every
    rank. A neuron-level partition of a small network may have a run per neuron.

    Parameters
    ----------
    starts : ndarray of int
        First gid of every run, ascending, ``starts[0] == 0``.
    ranks : ndarray of int
        Rank of every run (neighbouring runs differ).
    n : int
        Number of gids.
    """

    def __init__(self, starts: np.ndarray, ranks: np.ndarray, n: int) -> None:
        self.starts = np.asarray(starts, dtype=np.int64)
        self.ranks = np.asarray(ranks, dtype=np.int32)
        self.n = int(n)
        self.ends = np.append(self.starts[1:], self.n).astype(np.int64)

    @classmethod
    def from_runs(cls, ranks: np.ndarray, sizes: np.ndarray) -> "OwnerMap":
        """Runs of ``sizes[i]`` consecutive gids on rank ``ranks[i]`` (gid order); empty
        runs are dropped and neighbouring runs on one rank merged."""
        ranks = np.asarray(ranks, dtype=np.int64)
        sizes = np.asarray(sizes, dtype=np.int64)
        keep = sizes > 0
        ranks, sizes = ranks[keep], sizes[keep]
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        new = np.ones(ranks.size, dtype=bool)
        new[1:] = ranks[1:] != ranks[:-1]
        return cls(starts[new], ranks[new], int(sizes.sum()))

    @classmethod
    def from_array(cls, owner: np.ndarray) -> "OwnerMap":
        """The runs of an array of one rank per gid."""
        owner = np.asarray(owner, dtype=np.int64)
        return cls.from_runs(owner, np.ones(owner.size, dtype=np.int64))

    def __len__(self) -> int:
        return self.n

    @property
    def shape(self) -> tuple[int]:
        return (self.n,)

    @property
    def nbytes(self) -> int:
        """Bytes held (the runs' starts, ends and ranks)."""
        return int(self.starts.nbytes + self.ends.nbytes + self.ranks.nbytes)

    def max_rank(self) -> int:
        return int(self.ranks.max()) if self.ranks.size else -1

    def of(self, gids: np.ndarray) -> np.ndarray:
        """Rank of each gid (int64)."""
        return self.ranks[np.searchsorted(self.starts, np.asarray(gids), side="right") - 1].astype(np.int64)

    def __getitem__(self, gids: np.ndarray) -> np.ndarray:
        return self.of(gids)

    def owned(self, rank: int) -> np.ndarray:
        """The gids of ``rank``, ascending."""
        mine = np.flatnonzero(self.ranks == rank)
        lo, hi = self.starts[mine], self.ends[mine]
        if not mine.size:
            return np.zeros(0, dtype=np.int64)
        lengths = hi - lo
        return (np.repeat(lo - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
                + np.arange(int(lengths.sum()), dtype=np.int64))

    def counts(self, size: int) -> np.ndarray:
        """Neurons per rank, ``size`` ranks."""
        return np.bincount(self.ranks, weights=self.ends - self.starts, minlength=size).astype(np.int64)

    def to_array(self) -> np.ndarray:
        """One rank per gid (int64): for files and reports, never held by a running rank."""
        return np.repeat(self.ranks.astype(np.int64), self.ends - self.starts)


@dataclass(frozen=True)
class PartitionSpec:
    """The inputs of a partition.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    level : str
        ``auto``, ``neuron`` or ``chunk`` (:func:`distsnn.graph.communication_graph`).
    chunk : int or None
        Neurons per chunk at the chunk level (default automatic).
    rates : mapping of str to float
        Expected rate (Hz) per population name, over the network file's ``rate_hz``.
    rates_from : str or None
        Run directory (``run --out``) whose measured spike counts give every spike-
        monitored neuron its rate.
    imbalance : float
        Load tolerance of the graph methods, a fraction of the mean.
    seed : int
        Seed of METIS, Mt-KaHyPar and ``random``.
    ncuts, niter : int or None
        METIS trials and refinement iterations (default: :mod:`partitioning.methods`).
    recursive : bool
        METIS recursive bisection.
    target_weights : tuple of float or None
        Relative target load per part (one per rank).
    min_epoch_ms : float or None
        Delay-aware partitioning: keep synapses shorter than this inside ranks where
        possible (ms, rounded to steps).
    preset : str
        Mt-KaHyPar preset.
    file : str or None
        An owner-map file of :func:`save` to use instead of partitioning.
    """

    method: str = "metis"
    level: str = "auto"
    chunk: int | None = None
    rates: Mapping[str, float] = field(default_factory=dict)
    rates_from: str | None = None
    imbalance: float = 0.03
    seed: int = 0
    ncuts: int | None = None
    niter: int | None = None
    recursive: bool = False
    target_weights: tuple[float, ...] | None = None
    min_epoch_ms: float | None = None
    preset: str = "deterministic"
    file: str | None = None

    def options(self, method: str, dt: float) -> dict[str, Any]:
        """Keyword options of :func:`partitioning.partition` for ``method``."""
        if method == "random":
            return {"seed": self.seed}
        if method not in _GRAPH_METHODS:
            return {}
        opts: dict[str, Any] = {"imbalance": self.imbalance, "seed": self.seed}
        if self.target_weights is not None:
            opts["target_weights"] = np.asarray(self.target_weights, dtype=np.float64)
        if self.min_epoch_ms is not None:
            opts["min_epoch"] = max(1, int(timegrid.to_steps(self.min_epoch_ms, dt)))
        if method == "mtkahypar":
            opts["preset"] = self.preset
        else:
            opts.update({k: v for k, v in (("ncuts", self.ncuts), ("niter", self.niter)) if v is not None})
            opts["recursive"] = self.recursive
        return opts

    def check(self) -> "PartitionSpec":
        """Validate the fields (before any work); returns self."""
        validate.choice("Partition", "method", self.method, METHODS)
        validate.choice("Partition", "level", self.level, graph.LEVELS)
        if self.chunk is not None:
            validate.integer("Partition", "chunk", self.chunk, minimum=1)
            if self.level == "neuron":
                raise ValueError(f"Partition: chunk applies to the chunk level, got chunk={self.chunk} "
                                 f"with level 'neuron'")
        if not 0.0 <= self.imbalance <= 1.0:
            raise ValueError(f"Partition: imbalance must be in [0, 1], got {self.imbalance}")
        validate.integer("Partition", "seed", self.seed, minimum=0)
        for name in ("ncuts", "niter"):
            if getattr(self, name) is not None:
                validate.integer("Partition", name, getattr(self, name), minimum=1)
        if self.min_epoch_ms is not None:
            validate.positive("Partition", "min_epoch_ms", self.min_epoch_ms, "ms")
        for path, what in ((self.rates_from, "rates_from"), (self.file, "file")):
            if path is not None and not os.path.exists(path):
                raise ValueError(f"Partition: {what} {path!r} does not exist")
        if self.method == "mtkahypar" and not partitioning.hypergraph.available():
            raise ValueError("Partition: method 'mtkahypar' needs the Mt-KaHyPar package, which is not "
                             "installed: pip install 'distsnn[hypergraph]' (or pip install mtkahypar)")
        return self


def measured_populations(net: Network) -> list[str]:
    """The populations ``--rates-from`` measures: those whose spikes ``net`` monitors."""
    return list(dict.fromkeys(m.population for m in net.monitors if isinstance(m, SpikeMonitor)))


def measured_rates(run_dir: str, net: Network) -> tuple[np.ndarray, list[str]]:
    """Per-gid rates (Hz) measured in an earlier run, NaN where not measured.

    A population counts as measured when ``net`` monitors its spikes (the run recorded
    them): its neurons' rates are their spike counts over the run's simulated time.
    Returns the rates and the names of the measured populations.
    """
    from .io import load

    res = load(run_dir)
    t_ms = float(res.summary.get("t_sim_ms", 0.0))
    n_run = res.summary.get("neurons")
    if n_run is not None and int(n_run) != net.size:
        raise ValueError(f"Partition: rates_from run {run_dir!r} has {n_run} neurons, the network "
                         f"{net.size}")
    if not t_ms > 0:
        raise ValueError(f"Partition: rates_from run {run_dir!r} simulated no time (t_sim_ms {t_ms})")
    counts = np.bincount(res.spikes.gid, minlength=net.size)[:net.size].astype(np.float64)
    rates = np.full(net.size, np.nan)
    offsets = net.offsets()
    names = measured_populations(net)
    for m in net.monitors:
        if not isinstance(m, SpikeMonitor):
            continue
        # A monitor sees its selected neurons over its (start, stop] window only.
        lo = offsets[m.population]
        size = net.populations[m.population].size
        window = min(t_ms, m.stop if m.stop is not None else t_ms) - (m.start or 0.0)
        if not window > 0:
            continue
        idx = lo + m.neurons.indices(m.population, size, net.seed)
        rates[idx] = counts[idx] * 1000.0 / window
    return rates, names


def network_graph(net: Network, parts: int, spec: PartitionSpec) -> NetworkGraph:
    """The communication graph ``spec`` partitions, with its rates."""
    neuron_rates = measured_rates(spec.rates_from, net)[0] if spec.rates_from else None
    return graph.communication_graph(net, parts, spec.level, spec.chunk, spec.rates, neuron_rates)


def _by_order(sizes: np.ndarray, parts: int, method: str, seed: int) -> np.ndarray:
    """``round_robin``, ``block`` or ``random`` over vertices of ``sizes`` neurons, the
    ranges balanced by neuron count (NEST's and Arbor's rules need no graph)."""
    n = sizes.shape[0]
    empty = np.zeros(0, dtype=np.int64)
    g = partitioning.CommGraph.from_edges(n, empty, empty, empty, empty, vertex_weight=sizes, size=sizes)
    return partitioning.partition(g, min(parts, n), method, **({"seed": seed} if method == "random" else {}))


def _vertex_sizes(net: Network, parts: int, spec: PartitionSpec) -> np.ndarray:
    """Neurons per vertex of the graph :func:`network_graph` would build, without building it."""
    level = spec.level
    if level == "auto":
        level = "neuron" if graph.expected_synapses(net) < graph.NEURON_LEVEL_MAX_SYNAPSES else "chunk"
    if level == "neuron":
        return np.ones(net.size, dtype=np.int64)
    return graph.chunks(net, spec.chunk if spec.chunk is not None else graph.auto_chunk(net, parts))[1]


def vertex_parts(ng: NetworkGraph, parts: int, method: str, spec: PartitionSpec,
                 dt: float) -> np.ndarray:
    """Part of every vertex of ``ng``; with more parts than vertices, one vertex a part.

    ``round_robin``, ``block`` and ``random`` balance neuron counts, not the cost model."""
    if method in _ORDER_METHODS:
        return _by_order(ng.graph.size, parts, method, spec.seed)
    k = min(parts, ng.graph.n_vertices)
    if spec.target_weights is not None and len(spec.target_weights) != parts:
        raise ValueError(f"Partition: target_weights must have one entry per part ({parts}), got "
                         f"{len(spec.target_weights)}")
    opts = spec.options(method, dt)
    if k < parts:
        opts.pop("target_weights", None)
    return partitioning.partition(ng.graph, k, method, **opts)


def owner_map(net: Network, parts: int, method: str | PartitionSpec = "metis", seed: int = 0) -> OwnerMap:
    """The rank of every gid for ``parts`` ranks (no communication), as runs of gids:
    never an array over all gids unless the partition is at the neuron level.

    ``method`` is a :class:`PartitionSpec`, or a method name (with ``seed``) for the
    default spec of that method.
    """
    spec = method if isinstance(method, PartitionSpec) else PartitionSpec(method=method, seed=seed)
    spec.check()
    parts = validate.integer("Partition", "parts", parts, minimum=1)
    if spec.file is not None:
        return OwnerMap.from_array(load(spec.file, net, parts))
    if parts == 1:
        return OwnerMap.from_runs(np.zeros(1, dtype=np.int64), np.array([net.size]))
    if spec.method in _ORDER_METHODS:  # no graph needed: no synapse drawn on rank 0
        sizes = _vertex_sizes(net, parts, spec)
        return OwnerMap.from_runs(_by_order(sizes, parts, spec.method, spec.seed), sizes)
    ng = network_graph(net, parts, spec)
    return OwnerMap.from_runs(vertex_parts(ng, parts, spec.method, spec, net.dt), ng.graph.size)


def owner_of(net: Network, parts: int, method: str | PartitionSpec = "metis", seed: int = 0) -> np.ndarray:
    """The rank of every gid for ``parts`` ranks (no communication), one entry per gid;
    :func:`owner_map` without the expansion."""
    return owner_map(net, parts, method, seed).to_array()


def assign(net: Network, comm: Comm, method: str | PartitionSpec = "metis", seed: int = 0) -> OwnerMap:
    """The rank of every gid, computed on rank 0 and broadcast as runs (collective)."""
    spec = method if isinstance(method, PartitionSpec) else PartitionSpec(method=method, seed=seed)
    spec.check()
    owner = owner_map(net, comm.size, spec) if comm.rank == 0 else None
    return comm.bcast(owner)


def save(path: str, owner: np.ndarray, parts: int, spec: PartitionSpec, net: Network) -> None:
    """Write an owner map (rank of every gid) and how it was made, through a temporary file."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("owner", data=np.asarray(owner, dtype=np.int64))
            f.attrs.update({"format": FORMAT, "parts": int(parts), "neurons": int(net.size),
                            "method": spec.method, "level": spec.level,
                            "rates_from": spec.rates_from or ""})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load(path: str, net: Network, parts: int) -> np.ndarray:
    """The owner map of a :func:`save` file, checked against the network and part count."""
    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
            if fmt != FORMAT or "owner" not in f:
                raise ValueError(f"Partition: file {path!r} is not a distsnn owner map (format {fmt!r})")
            owner = f["owner"][()].astype(np.int64)
            saved_parts = int(f.attrs["parts"])
    except OSError as e:
        raise ValueError(f"Partition: file {path!r} is not a readable HDF5 owner map: {e}") from None
    if owner.shape != (net.size,):
        raise ValueError(f"Partition: file {path!r} gives owners for {owner.size} neurons, the network "
                         f"has {net.size}")
    if saved_parts != parts:
        raise ValueError(f"Partition: file {path!r} was made for {saved_parts} parts, got {parts} ranks")
    if owner.size and (owner.min() < 0 or owner.max() >= parts):
        raise ValueError(f"Partition: file {path!r} holds ranks outside [0, {parts - 1}]")
    return owner


__all__ = ["METHODS", "OwnerMap", "PartitionSpec", "assign", "owner_map", "owner_of", "network_graph",
           "vertex_parts", "measured_rates", "measured_populations", "save", "load"]
