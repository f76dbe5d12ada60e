"""What a simulation will need in memory, estimated before anything is allocated.

:func:`estimate` adds up the bytes a build pays, from the network description alone (no
synapse is generated, no per-neuron array is made), so a network that cannot fit is
refused in microseconds instead of after numpy has tried to allocate terabytes. The costs
follow the arrays :mod:`distsnn.build`, :mod:`distsnn.engine` and :mod:`distsnn.routing`
really make (the constants below say which), at the peak of the build:

- every rank, whatever its share, holds a few int64 arrays over *all* gids (the owner of
  every gid, the router's sort of it, the owned lists, see ``GID_BYTES``), replays every
  fixed-out-degree source's draws and holds every edge list;
- the ranks together hold each neuron's state and prepared constants (measured by
  building one and two neurons of each population with the build's own code),
  its input ports (one ring row of int64 per step of the largest delay, per channel),
  each synapse (its port, ``SYNAPSE_BYTES``, and a weight, ``WEIGHT_BYTES``, or a delay,
  ``DELAY_BYTES``, when they are per synapse), each run of synapses of one source and
  one delay (``RUN_BYTES``), the block of synapses being generated (``CONNECT_BYTES``
  per synapse of at most :data:`distsnn.build.CHUNK_SYNAPSES` for the rules built block
  by block, of the whole projection for the others) and the state monitors' samples.

With ``training`` (:class:`Training`: the plastic projections, the interval or sequence
length ``T``, the mode), the e-prop trainer's memory is added (:func:`training_parts`):
per plastic synapse its location and weight, eligibility traces and optimizer state
(``TRAIN_SYNAPSE_BYTES`` or, online, ``ONLINE_SYNAPSE_BYTES``); per recurrent neuron,
readout and plastic source their histories over about ``T`` steps; the targets.

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
#: unpickles, the router's argsort of it and the sorted copy, and the owned list
#: (:mod:`distsnn.synapse_table` has nothing per gid).
GID_BYTES = 8 * 5
#: Bytes per local synapse at the peak of the build (:mod:`distsnn.synapse_table`): its
#: port (int32), held twice: in the projection's staged blocks and in the table.
SYNAPSE_BYTES = 2 * 4
#: Bytes per synapse, on top, for a weight stored per synapse (int64 quanta staged and
#: merged, and when they take few values the dictionary's sort and index of them;
#: 32- or 64-bit afterwards) ...
WEIGHT_BYTES = 4 * 8
#: ... and for a delay drawn per synapse (int32 steps, staged and merged, until the
#: synapses are cut into runs of one delay).
DELAY_BYTES = 2 * 4
#: Bytes per run of one source, one delay and one projection at the peak of assembling
#: the table: the projections' runs and their concatenation (source, start, length,
#: weight, projection: 5 x int64; delay int32; kind int8), and the sorted copy that
#: becomes the table's runs (29 bytes, and 8 of its source).
RUN_BYTES = 2 * 45 + 37
#: Bytes per synapse of the block being generated, on top: the connector's pre, post and
#: edge-id arrays, the target gids, the weights and delays as float64, the delays in steps,
#: and the block's sort (order, sources, bounds: 3 x int64) (10 x 8).
CONNECT_BYTES = 80
#: Bytes per synapse of the block, on top, for each of its weight and delay drawn from a
#: distribution: the draws and the scaled and shifted values (2 x float64).
DRAW_BYTES = 16
#: Bytes per (source, draw) of a fixed out-degree, on every rank: all sources' draws are
#: replayed (int64), repeated sources (int64), the kept mask and the target ranks.
OUTDEGREE_BYTES = 8 + 8 + 1 + 8
#: Bytes per edge of an edge list on every rank while connecting: pre and post as int64,
#: the targets' rank lookup and the rows kept.
EDGE_BYTES = 4 * 8
#: Bytes per local neuron outside the model state: its gid, index and owned entry (3 x int64),
#: and the compiled epochs' spike buffers (index and step, int64, for the engine's
#: SPIKE_BUFFER_STEPS = 4 steps of every neuron spiking), per population and, for the fused
#: lif_cond loop, once more over all local neurons.
NEURON_BYTES = 3 * 8 + 2 * (2 * 8 * 4)
#: The model state (and per-neuron constants) is held about three times during a step: the
#: state, the new state the pure step function returns, and its temporaries.
STATE_COPIES = 3
#: Ring rows of a network without synapses: engine.DEFAULT_EPOCH + 1.
NO_SYNAPSE_RING_ROWS = 101
#: A normal or lognormal delay without an upper bound: its largest draw taken this many
#: standard deviations above the mean (a probability of about 1e-15 per draw).
TAIL_SIGMAS = 8.0

#: Bytes per plastic synapse of an e-prop Trainer (:mod:`distsnn.learning.trainer`): where
#: it is and what it is (table, index, source, target, projection, source column, target
#: row, delay, weight: 9 x 8), its own 64-bit weight in the engine's table (8), the four
#: traces (4 x 8), the optimizer's cumulative gradient and Adam's moments (3 x 8), and the
#: gradient of the last interval and its temporary (2 x 8).
TRAIN_SYNAPSE_BYTES = 9 * 8 + 8 + 4 * 8 + 3 * 8 + 2 * 8
#: ... in the online mode (:mod:`distsnn.learning.online`): the above, and NEST's
#: per-synapse state (16 x 8: previous event, flush flag, spike buffer, traces, gradient,
#: cutoff and decay counters, cumulative gradient, Adam's moments and powers, step) and
#: its position in the by-source order (8).
ONLINE_SYNAPSE_BYTES = TRAIN_SYNAPSE_BYTES + 16 * 8 + 8
#: Bytes per synapse of the engine's tables, on every rank while a trainer locates its
#: synapses: the tables expanded per synapse (source, port, delay, weight, slot: 5 x int64).
LOCATE_BYTES = 5 * 8


@dataclass(frozen=True)
class Training:
    """What :func:`estimate` needs of an e-prop training: the plastic projections'
    names, ``T`` (steps per interval / iteration), the mode (``"interval"`` or
    ``"online"``) and the number of target trials."""

    plastic: tuple[str, ...]
    T: int
    mode: str = "interval"
    trials: int = 1


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


def training_parts(net: Any, training: Training, ranks: int, max_delay_steps: int,
                   synapses: int) -> tuple[int, int, list[tuple[str, int]]]:
    """(replicated, distributed, parts) bytes of an e-prop trainer of ``net``: see the
    module docstring. ``max_delay_steps``: the network's longest delay (the histories'
    reach); ``synapses``: all synapses (the tables a trainer expands once)."""
    recurrent = ("eprop_iaf", "eprop_iaf_adapt")
    n_rec = sum(p.size for p in net.populations.values() if p.model in recurrent)
    n_out = sum(p.size for p in net.populations.values() if p.model == "eprop_readout")
    plastic = [net.projections[n] for n in training.plastic if n in net.projections]
    count = sum(_synapse_count(net, p) for p in plastic)
    sources = sum(net.populations[n].size for n in {p.pre for p in plastic})
    T = int(training.T)
    H = T + 2 * max_delay_steps + max_delay_steps + 1       # the interval trainer's history rows
    online = training.mode == "online"
    per_syn = ONLINE_SYNAPSE_BYTES if online else TRAIN_SYNAPSE_BYTES
    # per recurrent neuron: psi and R over H rows, f_av and 7 constants, its feedback row
    # and the interval's learning signal; online also psi, L, R over C >= 2 (T + 2) rows
    rows = 2 * H + 3 * 2 * (T + 2) if online else 2 * H + T
    rec = 8 * (rows + 8 + n_out) * n_rec
    out = 8 * (H + (2 * (T + 2) if online else 2 * T)) * n_out
    # every rank may hold every plastic source's spike history (and the interval's copy)
    src = 8 * (H + T + max_delay_steps + (2 if online else 0)) * sources
    targets = 8 * n_out * T * (training.trials + 2)          # the targets, readouts and errors
    distributed = per_syn * count + rec + out
    replicated = src + targets + LOCATE_BYTES * -(-synapses // max(ranks, 1))
    parts = [(f"e-prop training ({training.mode}): {count} plastic synapses, {n_rec} recurrent neurons, "
              f"{n_out} readouts, {T} steps", distributed + replicated * ranks)]
    return replicated, distributed, parts


def estimate(net: Any, ranks: int = 1, training: Training | None = None) -> Estimate:
    """The bytes a :class:`~distsnn.engine.Simulation` of ``net`` on ``ranks`` ranks needs
    (from the description alone: nothing of the network's size is allocated), with an
    e-prop trainer's when ``training`` is given."""
    n = net.size
    parts: list[tuple[str, int]] = [("the per-gid index on every rank", GID_BYTES * n * ranks)]
    replicated = GID_BYTES * n
    distributed = 0
    synapses, connect, max_delay = 0, 0, 0.0
    for proj in net.projections.values():
        count = _synapse_count(net, proj)
        synapses += count
        per = [v is not None and not isinstance(v, distributions.Constant) for v in (proj.weight, proj.delay)]
        draws = sum(1 for v in (proj.weight, proj.delay)
                    if v is not None and not isinstance(v, (distributions.Constant, distributions.ArrayValue)))
        conn = proj.connector
        n_pre, n_post = net.populations[proj.pre].size, net.populations[proj.post].size
        block = count
        if conn.rule in build.CHUNKED_RULES:
            block = min(count, max(build.CHUNK_SYNAPSES, -(-count // max(n_post, 1))))
        connect = max(connect, (CONNECT_BYTES + DRAW_BYTES * draws) * block)
        column = [conn.max_delay()] if hasattr(conn, "max_delay") else getattr(conn, "delay", None)
        high = _delay_high(proj.delay, column) if count else 0.0
        per_weight = per[0] or getattr(conn, "weight", None) is not None or "weight" in getattr(conn, "columns", ())
        per_delay = per[1] or column is not None and not hasattr(conn, "max_delay") or "delay" in getattr(
            conn, "columns", ())
        # Runs: at most one per synapse, and per rank at most one per (source, delay step)
        # (delays of stored edges may have no known bound: then one per synapse).
        runs = count
        if not per_delay or math.isfinite(high):
            runs = min(count, ranks * n_pre * (int(round(high / net.dt)) + 1 if per_delay else 1))
        own = ((SYNAPSE_BYTES + WEIGHT_BYTES * per_weight + DELAY_BYTES * per_delay) * count
               + RUN_BYTES * runs)
        if conn.rule == "fixed_outdegree":
            rep = OUTDEGREE_BYTES * count
        elif conn.rule == "edge_list":
            rep = EDGE_BYTES * count + 8 * n_post
        elif conn.rule == "fixed_total_number":
            rep = 8 * n_post       # every target's count, on every rank
        elif conn.rule == "spatial":
            rep = 48 * n_pre       # source positions and cells, on every rank
        else:
            rep = 0
        replicated += rep
        distributed += own
        if count:
            max_delay = max(max_delay, high)
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
    if training is not None:
        rep, dist, more = training_parts(net, training, ranks, rows - 1, synapses)
        replicated += rep
        distributed += dist
        parts.extend(more)
    parts.sort(key=lambda p: -p[1])
    return Estimate(ranks, n, synapses, replicated, distributed, tuple(parts))


def check(net: Any, comm: "Comm", max_memory: Any = "available", owner: str = "Simulation",
          training: Training | None = None) -> Estimate:
    """Refuse (``ValueError``, on every rank alike) a network whose estimated memory (with
    its training's) exceeds the job's limit (collective)."""
    limit = memory.job_limit(comm, max_memory, owner)
    est = estimate(net, comm.size, training)
    if limit.bytes is not None and est.total > limit.bytes:
        big = ", ".join(f"{what} {memory.fmt(b)}" for what, b in est.parts[:2])
        raise ValueError(
            f"{owner}: estimated memory must be <= the limit of {limit.bytes} bytes ({memory.fmt(limit.bytes)}, "
            f"{limit.source}), got {est.total} bytes ({memory.fmt(est.total)}) for {est.neurons} neurons and "
            f"{est.synapses} synapses on {est.ranks} rank(s); largest: {big}. Shrink the network, use more "
            f"machines, or set --max-memory (max_memory=None skips this check)")
    return est


__all__ = ["Estimate", "Training", "estimate", "training_parts", "check", "TRAIN_SYNAPSE_BYTES",
           "ONLINE_SYNAPSE_BYTES", "LOCATE_BYTES", "GID_BYTES", "SYNAPSE_BYTES", "WEIGHT_BYTES", "DELAY_BYTES",
           "RUN_BYTES", "CONNECT_BYTES", "DRAW_BYTES",
           "OUTDEGREE_BYTES", "EDGE_BYTES", "NEURON_BYTES", "STATE_COPIES"]
