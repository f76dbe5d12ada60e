"""Memory: what a simulation will need, estimated before anything is allocated, and the limit.

:func:`estimate` adds up the bytes a build pays, from the network description alone (no
synapse is generated, no per-neuron array is made), so a network that cannot fit is
refused in microseconds instead of after numpy has tried to allocate terabytes. The costs
follow the arrays :mod:`distsnn.build`, :mod:`distsnn.engine` and :mod:`distsnn.routing`
really make (the constants below say which), at the peak of the build:

- every rank, whatever its share, holds a few int64 arrays over *all* gids (the owner of
  every gid, the router's sort of it, the synapse table's CSR index, see ``GID_BYTES``),
  replays every fixed-out-degree source's draws and holds every edge list;
- the ranks together hold each neuron's state (measured on one neuron of the real model),
  its input ports (one ring row of int64 per step of the largest delay, per channel),
  each synapse (``SYNAPSE_BYTES`` at the peak of sorting and splitting the table, plus
  ``CONNECT_BYTES`` and ``DRAW_BYTES`` for the projection being generated), and the state
  monitors' samples.

The limit (:func:`job_limit`) is, by default, the memory the machines running the job
can still give: ``MemAvailable`` of ``/proc/meminfo`` (capped by a cgroup's limit) summed
over the distinct hosts of the ranks. ``max_memory`` overrides it: a number of bytes, a
string such as ``"64G"`` or ``"1.5TiB"``, ``"available"`` (the default) or ``None`` (no
check).
"""

from __future__ import annotations

import math
import os
import re
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import distributions, models, rng, validate

if TYPE_CHECKING:
    from .comm import Comm

#: Bytes per gid on every rank: the owner array (int64) and the copy its broadcast
#: unpickles, the router's argsort of it, the sorted copy and the owned lists (3 x int64),
#: and the synapse table's CSR index over all gids with its counts, the per-projection
#: bincount and the two indices of the short/long split (4 x int64).
GID_BYTES = 8 * 9
#: Bytes per local synapse at the peak of building the table: the per-projection lists kept
#: until the sort (source int64, port int32, delay int32, weight quanta int64: 24), the sort
#: order and the concatenated sources (16), the concatenated and the sorted final columns
#: (16); afterwards the split into short and long tables copies the 16 bytes of the table
#: while the table, its sources (int64) and the cross-rank mask are alive (41).
SYNAPSE_BYTES = 56
#: Bytes per synapse of the projection being generated, on top: the connector's pre, post
#: and edge-id arrays, the target gids, the weights and delays as float64 and the delays
#: in steps (7 x 8).
CONNECT_BYTES = 56
#: Bytes per synapse, on top, for each of its weight and delay drawn from a distribution:
#: the draws and the scaled and shifted values (2 x float64).
DRAW_BYTES = 16
#: Bytes per (source, draw) of a fixed out-degree, on every rank: all sources' draws are
#: replayed (int64), repeated sources (int64), the kept mask and the target ranks.
OUTDEGREE_BYTES = 8 + 8 + 1 + 8
#: Bytes per edge of an edge list on every rank while connecting: pre and post as int64,
#: the targets' rank lookup and the rows kept.
EDGE_BYTES = 4 * 8
#: Bytes per local neuron outside the model state: its gid, index and owned entry (3 x int64).
NEURON_BYTES = 3 * 8
#: The model state is held about three times during a step: the state, the new state the
#: pure step function returns, and its temporaries.
STATE_COPIES = 3
#: Ring rows of a network without synapses: engine.DEFAULT_EPOCH + 1.
NO_SYNAPSE_RING_ROWS = 101
#: A normal or lognormal delay without an upper bound: its largest draw taken this many
#: standard deviations above the mean (a probability of about 1e-15 per draw).
TAIL_SIGMAS = 8.0

_UNITS = {"": 1, "b": 1, "k": 2 ** 10, "m": 2 ** 20, "g": 2 ** 30, "t": 2 ** 40, "p": 2 ** 50}


@dataclass(frozen=True)
class Estimate:
    """Bytes a simulation needs on ``ranks`` ranks.

    ``replicated``: bytes every rank holds whatever its share; ``distributed``: bytes the
    ranks hold together (split evenly); ``parts``: (what, bytes over all ranks) for messages;
    ``synapses``: the expected number of synapses.
    """

    ranks: int
    neurons: int
    synapses: int
    replicated: int
    distributed: int
    parts: tuple[tuple[str, int], ...] = field(default=())

    @property
    def per_rank(self) -> int:
        return self.replicated + -(-self.distributed // self.ranks)

    @property
    def total(self) -> int:
        return self.per_rank * self.ranks


@dataclass(frozen=True)
class Limit:
    """A memory limit in bytes for the whole job (``None``: unlimited) and where it came from."""

    bytes: int | None
    source: str


def fmt(n: float) -> str:
    """``1.5 GiB``-style size of ``n`` bytes."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def parse_bytes(owner: str, field: str, spec: Any) -> int | None | str:
    """A size in bytes from ``123``, ``"64G"``, ``"1.5TiB"``, ``"512MB"`` (powers of 1024);
    ``None`` or ``"none"`` for no limit; ``"available"`` is returned as is."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "none"):
        return None
    if isinstance(spec, str) and spec.strip().lower() == "available":
        return "available"
    if isinstance(spec, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kmgtpKMGTP]?)(?:i?[bB])?\s*", spec)
        if not m:
            raise ValueError(f"{owner}: {field} must be a size such as 64G, 1.5TiB or 1000000 (bytes), "
                             f"'available' or 'none', got {spec!r}")
        value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    else:
        value = validate.number(owner, field, spec, "bytes")
    if not value > 0:
        raise ValueError(f"{owner}: {field} must be > 0 bytes, got {spec!r}")
    return int(value)


def available_memory() -> int | None:
    """Bytes this machine can still give to new allocations (``None`` if unknown):
    ``MemAvailable`` of ``/proc/meminfo``, capped by the cgroup's remaining allowance."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    for limit_file, used_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                  ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                   "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file) as a, open(used_file) as b:
                text = a.read().strip()
                if text != "max" and int(text) < 2 ** 60:
                    avail = min(avail, max(int(text) - int(b.read().strip()), 0))
            break
        except (OSError, ValueError):
            continue
    return avail


def job_limit(comm: "Comm", max_memory: Any = "available", owner: str = "Simulation",
              name: str = "max_memory") -> Limit:
    """The memory limit of the whole job (collective: every rank calls it, with the same
    ``max_memory``). ``"available"``: the available memory summed over the distinct hosts
    of the ranks; a size: that many bytes for all ranks together; ``None``: no limit."""
    if isinstance(max_memory, Limit):
        spec = max_memory
    else:
        spec = parse_bytes(owner, name, max_memory)
    # Every rank takes part, whatever the spec, so the collective sequence never depends on it.
    hosts = comm.gather((socket.gethostname(), available_memory()))
    total = None
    if hosts is not None:
        per_host = dict(hosts)
        total = None if None in per_host.values() else sum(per_host.values())
    total = comm.bcast(total)
    if isinstance(spec, Limit):
        return spec
    if spec == "available":
        return Limit(total, "the memory available on the machine" if comm.size == 1 else
                     "the memory available on the ranks' machines")
    return Limit(spec, f"set by {name}")


def _count(n: float) -> int:
    return int(math.ceil(n))


def _delay_high(spec: Any, column: Any) -> float:
    """The largest delay (ms) a projection can draw."""
    if spec is None:
        col = np.asarray(column, dtype=np.float64)
        return float(col.max()) if col.size else 0.0
    if isinstance(spec, distributions.Normal) and not math.isfinite(spec.high):
        return spec.mean + TAIL_SIGMAS * spec.std
    if isinstance(spec, distributions.Lognormal):
        return math.exp(spec.mu + TAIL_SIGMAS * spec.sigma)
    return float(spec.bounds()[1])


def _synapse_count(proj: Any, n_pre: int, n_post: int) -> int:
    """The expected number of synapses of a projection (from its connector alone)."""
    c = proj.connector
    same = proj.pre == proj.post
    no_self = same and not getattr(c, "autapses", True)
    if c.rule == "all_to_all":
        return n_pre * n_post - (n_post if no_self else 0)
    if c.rule == "one_to_one":
        return n_post
    if c.rule == "fixed_probability":
        return _count(float(c.p) * (n_pre - (1 if no_self else 0)) * n_post)
    if c.rule == "fixed_indegree":
        return int(c.indegree) * n_post
    if c.rule == "fixed_outdegree":
        return int(c.outdegree) * n_pre
    return int(np.asarray(c.pre).size)


def _state_bytes(net: Any, name: str, pop: Any) -> int:
    """Bytes of one neuron's state in the real model (prepared and initialised as the build does)."""
    mod = models.get(f"Population {name!r}", pop.model)
    prep = mod.prepare(pop.params, net.dt, net.channels(name), key=rng.stream_key(net.seed, f"{pop.model}_pop:{name}"))
    # Its first neuron; the gid only keys draws (and may exceed int64 in a network that is refused anyway).
    index = np.zeros(1, dtype=np.int64)
    state = mod.init_state(prep, {}, index, index)
    return sum(v.nbytes for v in vars(state).values() if isinstance(v, np.ndarray))


def estimate(net: Any, ranks: int = 1) -> Estimate:
    """The bytes a :class:`~distsnn.engine.Simulation` of ``net`` on ``ranks`` ranks needs
    (from the description alone: nothing of the network's size is allocated)."""
    n = net.size
    parts: list[tuple[str, int]] = [("the per-gid index on every rank", GID_BYTES * n * ranks)]
    replicated = GID_BYTES * n
    distributed = 0
    synapses, connect, max_delay = 0, 0, 0.0
    for proj in net.projections.values():
        n_pre, n_post = net.populations[proj.pre].size, net.populations[proj.post].size
        count = _synapse_count(proj, n_pre, n_post)
        synapses += count
        draws = sum(1 for v in (proj.weight, proj.delay)
                    if v is not None and not isinstance(v, (distributions.Constant, distributions.ArrayValue)))
        connect = max(connect, (CONNECT_BYTES + DRAW_BYTES * draws) * count)
        own = SYNAPSE_BYTES * count
        if proj.connector.rule == "fixed_outdegree":
            rep = OUTDEGREE_BYTES * count
        elif proj.connector.rule == "edge_list":
            rep = EDGE_BYTES * count + 8 * n_post
        else:
            rep = 0
        replicated += rep
        distributed += own
        if count:
            max_delay = max(max_delay, _delay_high(proj.delay, getattr(proj.connector, "delay", None)))
        parts.append((f"projection {proj.name!r} ({count} synapses)", own + rep * ranks))
    distributed += connect
    parts.append(("generating the largest projection", connect))
    rows = int(round(max_delay / net.dt)) + 1 if synapses else NO_SYNAPSE_RING_ROWS
    inputs = {name: sum(1 for i in net.inputs.values() if i.target == name) for name in net.populations}
    for name, pop in net.populations.items():
        channels = len(net.channels(name))
        per_neuron = (STATE_COPIES * _state_bytes(net, name, pop) + NEURON_BYTES
                      + channels * 8 * (rows + 1) + 16 * inputs[name])
        distributed += per_neuron * pop.size
        parts.append((f"population {name!r} ({pop.size} neurons, {channels} input channel(s) x "
                      f"{rows} ring rows)", per_neuron * pop.size))
    for m in net.monitors:
        if hasattr(m, "variables") and hasattr(m, "interval"):
            samples = int(net.t_stop / m.interval) + 1
            b = 2 * 8 * samples * len(m.neurons) * len(m.variables)   # the samples and their concatenation
            distributed += b
            parts.append((f"state monitor on {m.population!r} ({samples} samples)", b))
    parts.sort(key=lambda p: -p[1])
    return Estimate(ranks, n, synapses, replicated, distributed, tuple(parts))


def check(net: Any, comm: "Comm", max_memory: Any = "available", owner: str = "Simulation") -> Estimate:
    """Refuse (``ValueError``, on every rank alike) a network whose estimated memory exceeds
    the job's limit (collective)."""
    limit = job_limit(comm, max_memory, owner)
    est = estimate(net, comm.size)
    if limit.bytes is not None and est.total > limit.bytes:
        big = ", ".join(f"{what} {fmt(b)}" for what, b in est.parts[:2])
        raise ValueError(
            f"{owner}: estimated memory must be <= the limit of {limit.bytes} bytes ({fmt(limit.bytes)}, "
            f"{limit.source}), got {est.total} bytes ({fmt(est.total)}) for {est.neurons} neurons and "
            f"{est.synapses} synapses on {est.ranks} rank(s); largest: {big}. Shrink the network, use more "
            f"machines, or set --max-memory (max_memory=None skips this check)")
    return est


def check_allocation(owner: str, what: str, nbytes: int, max_bytes: int | None) -> None:
    """Refuse one allocation of ``nbytes`` bytes above ``max_bytes`` (``None``: no limit)."""
    if max_bytes is not None and nbytes > max_bytes:
        raise ValueError(f"{owner}: {what} must fit in the memory limit of {max_bytes} bytes ({fmt(max_bytes)}), "
                         f"needs {nbytes} bytes ({fmt(nbytes)})")


__all__ = ["Estimate", "Limit", "estimate", "check", "job_limit", "available_memory", "parse_bytes", "fmt",
           "check_allocation"]
