"""Dry run: what one rank of a large job would hold, built in one process.

``distsnn run net.toml --dry-run RANKS`` (or :func:`dry_run`) partitions the network for
``RANKS`` ranks exactly as a real run would, then builds only rank 0's share (its
neurons, synapses, input tables, ring, route table) through the engine itself, on a
:class:`DryRunComm` that stands for the other ranks, as NEST's and Arbor's dry-run modes
do. Nothing is simulated and no other process is started.

What the other ranks would have said is taken from the partition's communication graph
(:mod:`distsnn.graph`): the route set-up's requests to rank 0 are the rank-0 sources with
a target on each other rank, exact for a neuron-level graph and the expected number of
distinct sources (Poisson reach, :func:`partitioning.metrics.reach`) for a chunk-level
one; reductions over ranks (the minimum delay) take rank 0's value. The traffic is the
partition's prediction (:func:`partitioning.traffic_matrix`).

Bytes by structure are not a model: :func:`held_bytes` sums the ``nbytes`` of every
array the built :class:`~distsnn.engine.Simulation` holds, attribute by attribute
(views and shared arrays counted once), so they stay true whatever the engine's tables
look like.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import partitioning
from partitioning import metrics

from . import placement, validate
from .comm.local import LocalComm
from .network import Network
from .placement import OwnerMap, PartitionSpec

#: Attributes of a Simulation that are not this rank's data.
_NOT_HELD = ("comm",)


class DryRunComm(LocalComm):
    """Rank ``rank`` of a job of ``size`` ranks, alone in this process (Arbor's
    ``dry_run_context``). Reductions return this rank's value (the other ranks are taken
    to be alike), gathers and broadcasts act as on one rank (as :class:`LocalComm`),
    ``alltoallv`` returns ``incoming`` (what the dry run predicts the other ranks send),
    and its exchanger is the single-process one (a dry run builds; it never exchanges)."""

    def __init__(self, size: int, rank: int = 0,
                 incoming: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.size, self.rank = int(size), int(rank)
        self.incoming = incoming

    def alltoallv(self, send: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.incoming is None:
            return np.zeros(0, np.int64), np.zeros(self.size, np.int64)
        return self.incoming


def held_bytes(obj: Any) -> dict[str, int]:
    """Bytes of the numpy arrays ``obj`` holds, by attribute name (nonzero ones).

    Each block of memory counts once, whole (a view keeps its base alive), for the
    attribute that holds the array itself, or failing that the first that holds a view of it.
    """
    seen: set[int] = set()
    found: list[tuple[str, np.ndarray]] = []

    def walk(name: str, o: Any, depth: int) -> None:
        if isinstance(o, np.ndarray):
            found.append((name, o))
            return
        if depth > 8 or o is None or id(o) in seen or isinstance(
                o, (str, bytes, int, float, complex, bool, type, types.ModuleType, types.FunctionType)):
            return
        seen.add(id(o))
        if isinstance(o, dict):
            items = list(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            items = list(o)
        else:
            fields = getattr(o, "__dict__", None)
            if fields is None and hasattr(o, "__slots__"):
                fields = {k: getattr(o, k, None) for k in o.__slots__}
            items = list((fields or {}).values())
        for v in items:
            walk(name, v, depth + 1)

    for name, value in vars(obj).items():
        if name not in _NOT_HELD:
            walk(name, value, 0)
    holder: dict[int, tuple[str, bool, int]] = {}   # base -> (attribute, holds the base itself, bytes)
    for name, a in found:
        base = _root(a)
        if id(base) not in holder or (a is base and not holder[id(base)][1]):
            holder[id(base)] = (name, a is base, int(base.nbytes))
    out: dict[str, int] = {}
    for name, _, nbytes in holder.values():
        out[name] = out.get(name, 0) + nbytes
    return {k: v for k, v in out.items() if v}


def _root(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


@dataclass
class DryRun:
    """What one rank of a ``ranks``-rank job holds (bytes; rates per simulated second)."""

    ranks: int
    rank: int
    neurons: int
    synapses: int
    structures: dict[str, int]
    route_entries: int
    owner_runs: int
    epoch_steps: int
    peers_out: int
    peers_in: int
    spikes_sent_per_s: float
    spikes_received_per_s: float
    dt: float
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(self.structures.values())

    @property
    def bytes_sent_per_s(self) -> float:
        """Predicted payload bytes sent per simulated second (8 per spike record and
        destination, plus one count per peer and epoch)."""
        epochs = 1000.0 / (self.epoch_steps * self.dt)
        return 8.0 * self.spikes_sent_per_s + 8.0 * self.peers_out * epochs

    def text(self) -> str:
        lines = [f"dry run: rank {self.rank} of {self.ranks}",
                 f"  neurons        {self.neurons}",
                 f"  synapses       {self.synapses}",
                 f"  owner map      {self.owner_runs} runs of gids",
                 f"  route table    {self.route_entries} (neuron, rank) entries",
                 f"  epoch          {self.epoch_steps} steps ({self.epoch_steps * self.dt:g} ms)",
                 f"  peers          sends to {self.peers_out} ranks, receives from {self.peers_in}",
                 f"  traffic        {self.spikes_sent_per_s:.4g} spike records/s sent, "
                 f"{self.spikes_received_per_s:.4g} received, {self.bytes_sent_per_s:.4g} B/s sent "
                 f"(per simulated second, predicted)",
                 f"  memory         {self.total_bytes} B in arrays:"]
        for name, b in sorted(self.structures.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {name:<16} {b:>14} B")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def incoming_requests(graph: partitioning.CommGraph, parts: np.ndarray, starts: np.ndarray, rank: int,
                      ranks: int) -> tuple[np.ndarray, np.ndarray]:
    """The source gids of ``rank`` that every other rank would ask it for (the route
    set-up's ``alltoallv``), grouped by asking rank, and their counts: each vertex's
    first ``round(reach)`` neurons (exactly its neurons with a target there at the
    neuron level). ``starts``: first gid of every vertex."""
    v, q, w, c = metrics.vertex_part_table(graph, parts, ranks)
    keep = (parts[v] == rank) & (q != rank)
    v, q, w, c = v[keep], q[keep], w[keep], c[keep]
    k = np.rint(metrics.reach(w, c, graph.size[v], graph.expected)).astype(np.int64)
    k = np.minimum(k, graph.size[v])
    order = np.argsort(q, kind="stable")
    v, q, k = v[order], q[order], k[order]
    first = np.repeat(starts[v] - np.concatenate(([0], np.cumsum(k)[:-1])), k)
    gids = first + np.arange(int(k.sum()), dtype=np.int64)
    return gids, np.bincount(q, weights=k, minlength=ranks).astype(np.int64)


def dry_run(net: Network, ranks: int, partitioner: "str | PartitionSpec" = "metis", rank: int = 0) -> DryRun:
    """Build rank ``rank``'s share of a ``ranks``-rank job of ``net`` and report what it
    holds (see the module docstring)."""
    from .engine import Simulation

    ranks = validate.integer("dry run", "ranks", ranks, minimum=1)
    rank = validate.integer("dry run", "rank", rank, minimum=0)
    if rank >= ranks:
        raise ValueError(f"dry run: rank must be < ranks = {ranks}, got {rank}")
    spec = partitioner if isinstance(partitioner, PartitionSpec) else PartitionSpec(method=partitioner)
    spec.check()
    owner = placement.owner_map(net, ranks, spec)
    ng = placement.network_graph(net, ranks, spec)
    starts = np.concatenate(([0], np.cumsum(ng.graph.size)[:-1])).astype(np.int64)
    parts = owner.of(starts)
    incoming = incoming_requests(ng.graph, parts, starts, rank, ranks)
    notes = []
    if not np.isin(owner.starts, starts).all():   # an owner-map file need not follow the chunks
        notes.append("the owner map splits some of the graph's vertices: route table and traffic give each "
                     "vertex its first neuron's rank")
    if ng.level == "chunk":
        notes.append(f"chunk-level graph ({ng.chunk} neurons a chunk): route table and traffic are expected values")
    sim = Simulation(net, comm=DryRunComm(ranks, rank, incoming), owner=owner, max_memory=None, keep_records=False)
    # Spikes per simulated second (the graph's rates are in Hz).
    traffic = partitioning.traffic_matrix(ng.graph, parts, ranks) if ranks > 1 else np.zeros((1, 1))
    return DryRun(ranks, rank, int(sim.owned.size), int(sim.n_synapses), held_bytes(sim),
                  int(sim.router.route_dst.size), int(owner.starts.size), int(sim.epoch),
                  int(np.unique(sim.router.route_dst).size), int(np.count_nonzero(traffic[:, rank])),
                  float(traffic[rank].sum()), float(traffic[:, rank].sum()), net.dt, notes)


__all__ = ["DryRun", "DryRunComm", "dry_run", "held_bytes", "incoming_requests"]
