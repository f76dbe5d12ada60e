"""What a simulation will need in memory, estimated before anything is allocated.

:func:`estimate` adds up the bytes a build pays, from the network description alone (no
synapse is generated, no per-neuron array is made), so a network that cannot fit is
refused in microseconds instead of after numpy has tried to allocate terabytes. The costs
follow the arrays :mod:`distsnn.build`, :mod:`distsnn.engine` and :mod:`distsnn.routing`
really make (the constants below say which), at the peak of the build:

- every rank, whatever its share, holds a few int64 arrays over *all* gids (the owner of
  every gid, the router's sort of it, the synapse table's CSR index, see ``GID_BYTES``),
  replays every fixed-out-degree source's draws and holds every edge list;
- the ranks together hold each neuron's state and prepared constants (measured by
  building one and two neurons of each population with the build's own code),
  its input ports (one ring row of int64 per step of the largest delay, per channel),
  each synapse (``SYNAPSE_BYTES`` at the peak of sorting and splitting the table, plus
  ``CONNECT_BYTES`` and ``DRAW_BYTES`` for the projection being generated), and the state
  monitors' samples.

The expected synapse counts are the partitioner's (:mod:`distsnn.graph`), so the two
never disagree. :func:`check` compares the estimate with the job's limit
(:func:`distsnn.memory.job_limit`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import build, distributions, graph, memory

if TYPE_CHECKING:
    from .comm import Comm
    from .network import Network

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
#: Bytes per local neuron outside the model state: its gid, index and owned entry (3 x int64),
#: and the compiled epochs' spike buffers (index and step, int64, for the engine's
#: SPIKE_BUFFER_STEPS = 4 steps of every neuron spiking).
NEURON_BYTES = 3 * 8 + 2 * 8 * 4
#: The model state (and per-neuron constants) is held about three times during a step: the
#: state, the new state the pure step function returns, and its temporaries.
STATE_COPIES = 3
#: Ring rows of a network without synapses: engine.DEFAULT_EPOCH + 1.
NO_SYNAPSE_RING_ROWS = 101
#: A normal or lognormal delay without an upper bound: its largest draw taken this many
#: standard deviations above the mean (a probability of about 1e-15 per draw).
TAIL_SIGMAS = 8.0

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


def _synapse_count(net: "Network", proj: Any) -> int:
    """The expected number of synapses of a projection, as the partitioner expects it."""
    n_pre, n_post = net.populations[proj.pre].size, net.populations[proj.post].size
    one = np.ones(1)
    counts = graph._expected_counts(proj, one * n_pre, one * n_post, 0 * one, 0 * one, max(n_pre, n_post, 1))
    return int(math.ceil(float(np.sum(counts))))


def _arrays_bytes(obj: Any) -> int:
    fields = vars(obj) if hasattr(obj, "__dict__") else {}
    return sum(v.nbytes for v in fields.values() if isinstance(v, np.ndarray))


def _neuron_bytes(net: "Network") -> dict[str, int]:
    """Bytes per neuron of each population's prepared model and state, measured on the
    build's own code (:func:`distsnn.build.local_populations`) for one and for two neurons
    of every population: the difference is what each further neuron costs."""
    offsets = net.offsets()
    first = np.array(list(offsets.values()), dtype=np.int64)
    second = np.array([o + 1 for name, o in offsets.items() if net.populations[name].size > 1], dtype=np.int64)
    cost = [{p.name: _arrays_bytes(p.state) + _arrays_bytes(p.prepared)
             for p in build.local_populations(net, owned)} for owned in (first, np.concatenate([first, second]))]
    return {name: cost[1][name] - cost[0][name] if pop.size > 1 else cost[0][name]
            for name, pop in net.populations.items()}


def _monitor_shape(net: Any, m: Any) -> tuple[int, int]:
    """(samples, neurons) a state monitor records over ``net.t_stop`` in its start/stop
    window, counting its selection without building it."""
    start = m.start or 0.0
    stop = net.t_stop if m.stop is None else min(m.stop, net.t_stop)
    samples = max(int((stop - start) / m.interval) + 1, 0)
    return samples, m.neurons.count(net.populations[m.population].size)


def estimate(net: Any, ranks: int = 1) -> Estimate:
    """The bytes a :class:`~distsnn.engine.Simulation` of ``net`` on ``ranks`` ranks needs
    (from the description alone: nothing of the network's size is allocated)."""
    n = net.size
    parts: list[tuple[str, int]] = [("the per-gid index on every rank", GID_BYTES * n * ranks)]
    replicated = GID_BYTES * n
    distributed = 0
    synapses, connect, max_delay = 0, 0, 0.0
    for proj in net.projections.values():
        count = _synapse_count(net, proj)
        synapses += count
        draws = sum(1 for v in (proj.weight, proj.delay)
                    if v is not None and not isinstance(v, (distributions.Constant, distributions.ArrayValue)))
        connect = max(connect, (CONNECT_BYTES + DRAW_BYTES * draws) * count)
        own = SYNAPSE_BYTES * count
        if proj.connector.rule == "fixed_outdegree":
            rep = OUTDEGREE_BYTES * count
        elif proj.connector.rule == "edge_list":
            rep = EDGE_BYTES * count + 8 * net.populations[proj.post].size
        elif proj.connector.rule == "fixed_total_number":
            rep = 8 * net.populations[proj.post].size       # every target's count, on every rank
        elif proj.connector.rule == "spatial":
            rep = 48 * net.populations[proj.pre].size       # source positions and cells, on every rank
        else:
            rep = 0
        replicated += rep
        distributed += own
        if count:
            conn = proj.connector
            column = [conn.max_delay()] if hasattr(conn, "max_delay") else getattr(conn, "delay", None)
            max_delay = max(max_delay, _delay_high(proj.delay, column))
        parts.append((f"projection {proj.name!r} ({count} synapses)", own + rep * ranks))
    distributed += connect
    parts.append(("generating the largest projection", connect))
    rows = int(round(max_delay / net.dt)) + 1 if synapses else NO_SYNAPSE_RING_ROWS
    inputs = {name: sum(1 for i in net.inputs.values() if i.target == name) for name in net.populations}
    # Gids beyond int64 cannot be probed; the per-gid index alone already exceeds any machine.
    state = _neuron_bytes(net) if n < 2 ** 62 else dict.fromkeys(net.populations, 0)
    for name, pop in net.populations.items():
        channels = len(net.channels(name))
        per_neuron = (STATE_COPIES * state[name] + NEURON_BYTES
                      + channels * 8 * (rows + 1) + 16 * inputs[name])
        distributed += per_neuron * pop.size
        parts.append((f"population {name!r} ({pop.size} neurons, {channels} input channel(s) x "
                      f"{rows} ring rows)", per_neuron * pop.size))
    for m in net.monitors:
        if hasattr(m, "variables") and hasattr(m, "interval"):
            samples, neurons = _monitor_shape(net, m)
            b = 2 * 8 * samples * neurons * len(m.variables)   # the samples and their concatenation
            distributed += b
            parts.append((f"state monitor on {m.population!r} ({samples} samples of {neurons} neurons)", b))
    parts.sort(key=lambda p: -p[1])
    return Estimate(ranks, n, synapses, replicated, distributed, tuple(parts))


def check(net: Any, comm: "Comm", max_memory: Any = "available", owner: str = "Simulation") -> Estimate:
    """Refuse (``ValueError``, on every rank alike) a network whose estimated memory exceeds
    the job's limit (collective)."""
    limit = memory.job_limit(comm, max_memory, owner)
    est = estimate(net, comm.size)
    if limit.bytes is not None and est.total > limit.bytes:
        big = ", ".join(f"{what} {memory.fmt(b)}" for what, b in est.parts[:2])
        raise ValueError(
            f"{owner}: estimated memory must be <= the limit of {limit.bytes} bytes ({memory.fmt(limit.bytes)}, "
            f"{limit.source}), got {est.total} bytes ({memory.fmt(est.total)}) for {est.neurons} neurons and "
            f"{est.synapses} synapses on {est.ranks} rank(s); largest: {big}. Shrink the network, use more "
            f"machines, or set --max-memory (max_memory=None skips this check)")
    return est


__all__ = ["Estimate", "estimate", "check", "GID_BYTES", "SYNAPSE_BYTES", "CONNECT_BYTES", "DRAW_BYTES",
           "OUTDEGREE_BYTES", "EDGE_BYTES", "NEURON_BYTES", "STATE_COPIES"]
