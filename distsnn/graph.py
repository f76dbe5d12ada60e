"""Communication graphs of a network, for the partitioning package.

Two levels:

- :func:`neuron_graph`: one vertex per neuron and the exact synapse counts, from the
  synapses the engine builds (generated here, in this process: for networks of up to a
  few million synapses, partition studies and small runs).
- :func:`chunk_graph`: each population cut into chunks of ``chunk`` neurons (the last
  chunk of a population may be smaller; a chunk never spans two populations), with edge
  weights the connectors' *expected* synapse counts, computed without generating a
  synapse, so a network of 10**9 synapses is partitioned in seconds. Edge delays are
  exact per chunk pair for edge lists and array delays, and otherwise the projection's
  lower bound (a constant delay, or the ``low`` of a uniform or normal).

:func:`communication_graph` picks the level (``auto``: neurons below
``NEURON_LEVEL_MAX_SYNAPSES`` expected synapses, chunks above) and the chunk size
(:func:`auto_chunk`).

Rates. Every population has an expected firing rate (Hz) that weighs communication and
synaptic events, the first of: the caller's rate for it (``--rate``), the network file's
``rate_hz`` hint, a ``poisson`` generator's mean rate over ``[0, t_stop]``, a
``spike_train`` generator's spikes before ``t_stop`` per neuron and second, and
``DEFAULT_RATE_HZ``. Measured per-neuron rates (``neuron_rates``, e.g. from an earlier
run) replace these where given.

Cost model (vertex weights, ns of compute per simulated second). A neuron of model ``m``
costs, per step (``1000 / dt`` steps per second), ``UPDATE_NS[m]`` plus ``CHANNEL_NS``
per synaptic channel of its population plus ``INPUT_NS`` per Poisson input into it;
each synaptic event (an incoming synapse times its source's rate) costs ``EVENT_NS``.
The constants were measured with :class:`distsnn.Simulation` on a 2-core x86 machine
(the update time of 20,000 unconnected neurons of each model with and without a
channel and a Poisson input; the delivery time per event of the Brunel benchmark,
``scripts/bench_brunel.py``): only their ratios matter to a partitioner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import numpy as np

from partitioning import CommGraph

from . import build, connectors, distributions, timegrid, validate
from .network import Network, Population, Projection

UPDATE_NS: Mapping[str, float] = MappingProxyType({
    "lif": 4.0, "lif_cond": 6.0, "izhikevich": 38.0, "adex": 950.0, "hh": 2000.0,
    "poisson": 3.0, "spike_train": 0.5,
})
"""Update cost of one neuron for one step, by model (ns)."""
UPDATE_NS_OTHER = 50.0
"""Update cost (ns per neuron per step) of a model missing from ``UPDATE_NS``."""
CHANNEL_NS = 4.0
"""Cost of one synaptic channel (synapse type) of one neuron for one step (ns)."""
INPUT_NS = 14.0
"""Cost of one Poisson input into one neuron for one step (ns)."""
EVENT_NS = 3.0
"""Cost of delivering one synaptic event (ns)."""
DEFAULT_RATE_HZ = 10.0
"""Expected firing rate (Hz) of a non-generator population whose rate is not given."""

NEURON_LEVEL_MAX_SYNAPSES = 2_000_000
"""``auto`` level: neuron level below this many expected synapses, chunk level above."""
CHUNKS_PER_PART = 64
""":func:`auto_chunk` aims at this many chunks per part ..."""
MIN_CHUNKS_PER_PART = 8
"""... but keeps at least this many (for balance) ..."""
MAX_CHUNK_EDGES = 2_000_000
"""... when more chunks would give more than this many chunk pairs to partition."""

LEVELS = ("auto", "neuron", "chunk")


@dataclass(frozen=True, eq=False)
class NetworkGraph:
    """A network's communication graph at one level.

    Attributes
    ----------
    graph : partitioning.CommGraph
        Vertices are neurons (``level == "neuron"``) or chunks, in gid order; ``rate``
        in Hz, ``vertex_weight`` in ns of compute per simulated second.
    level : str
        ``"neuron"`` or ``"chunk"``.
    chunk : int
        Neurons per chunk (1 at the neuron level).
    """

    graph: CommGraph
    level: str
    chunk: int

    def neuron_parts(self, parts: np.ndarray) -> np.ndarray:
        """The part of every gid, given the part of every vertex."""
        return np.repeat(np.asarray(parts, dtype=np.int64), self.graph.size)


def population_rates(net: Network, rates: Mapping[str, float] | None = None) -> dict[str, float]:
    """Expected rate (Hz) of every population: ``rates`` where given, else the rule of
    the module docstring. Unknown population names and negative rates are errors."""
    return {name: hz for name, (hz, _) in rate_sources(net, rates).items()}


def rate_sources(net: Network, rates: Mapping[str, float] | None = None) -> dict[str, tuple[float, str]]:
    """Rate (Hz) of every population and where it comes from: ``"given"``, ``"file"``
    (the population's ``rate_hz``), ``"generator"`` or ``"default"``."""
    rates = dict(rates or {})
    validate.known_fields("graph rates", rates, net.populations, "population")
    out = {}
    for name, pop in net.populations.items():
        if name in rates:
            out[name] = (validate.non_negative("graph rates", name, rates[name], "Hz"), "given")
        elif pop.rate_hz is not None:
            out[name] = (float(pop.rate_hz), "file")
        elif pop.model in ("poisson", "spike_train"):
            out[name] = (_generator_rate(pop, net.t_stop), "generator")
        else:
            out[name] = (DEFAULT_RATE_HZ, "default")
    return out


def gid_rates(net: Network, rates: Mapping[str, float] | None = None,
              neuron_rates: np.ndarray | None = None) -> np.ndarray:
    """Rate (Hz) of every gid: ``neuron_rates`` where given (not NaN), else its population's."""
    rate_of = population_rates(net, rates)
    out = np.concatenate([np.full(p.size, rate_of[name]) for name, p in net.populations.items()])
    if neuron_rates is not None:
        nr = np.asarray(neuron_rates, dtype=np.float64)
        if nr.shape != (net.size,):
            raise ValueError(f"graph: neuron_rates must have one rate per neuron ({net.size}), got shape {nr.shape}")
        given = ~np.isnan(nr)
        if (nr[given] < 0).any() or not np.isfinite(nr[given]).all():
            raise ValueError("graph: neuron_rates must be finite and >= 0 Hz (NaN: not given)")
        out[given] = nr[given]
    return out


def _generator_rate(pop: Population, t_stop: float) -> float:
    if pop.model == "poisson":
        sched = pop.params.schedule
        if t_stop <= 0:
            return float(sched.rates[0])
        edges = np.append(np.minimum(sched.times, t_stop), t_stop)
        return float(np.dot(np.diff(edges), sched.rates) / t_stop)
    if pop.model == "spike_train":
        if t_stop <= 0:
            return 0.0
        spikes = sum(sum(1 for t in row if t <= t_stop) for row in pop.params.times)
        return 1000.0 * spikes / (pop.size * t_stop)
    return DEFAULT_RATE_HZ


def _step_cost_ns(net: Network) -> dict[str, float]:
    """Compute cost of one neuron of each population per simulated second (ns), events aside."""
    inputs = {name: 0 for name in net.populations}
    for inp in net.inputs.values():
        inputs[inp.target] += 1
    steps_per_s = 1000.0 / net.dt
    return {name: steps_per_s * (UPDATE_NS.get(pop.model, UPDATE_NS_OTHER)
                                 + CHANNEL_NS * len(net.channels(name)) + INPUT_NS * inputs[name])
            for name, pop in net.populations.items()}


def expected_synapses(net: Network) -> float:
    """Expected number of synapses of the network, from the connectors' rules alone."""
    total = 0.0
    for proj in net.projections.values():
        n_pre, n_post = net.populations[proj.pre].size, net.populations[proj.post].size
        total += float(_expected_counts(proj, np.array([float(n_pre)]), np.array([float(n_post)]),
                                        np.zeros(1), np.zeros(1), max(n_pre, n_post)).sum())
    return total


def neuron_graph(net: Network, rates: Mapping[str, float] | None = None,
                 neuron_rates: np.ndarray | None = None) -> CommGraph:
    """One vertex per neuron (gid order), the exact synapse counts and minimum delays.

    Builds every synapse with the engine's own :func:`distsnn.build.synapse_table`, so
    edge weights sum to the simulation's synapse count (multapses add up).
    """
    n = net.size
    pops = build.local_populations(net, np.arange(n, dtype=np.int64))
    table = build.synapse_table(net, pops)
    # Ports of a population: one block of its neurons per channel (distsnn.build).
    gid_of_port = np.concatenate([np.tile(p.gids, len(p.channels)) for p in pops] + [np.zeros(0, np.int64)])
    src, port, delay, _ = table.expand()
    dst = gid_of_port[port]
    rate = gid_rates(net, rates, neuron_rates)
    cost = np.concatenate([np.full(p.size, c) for p, c in zip(net.populations.values(),
                                                                 _step_cost_ns(net).values())])
    vertex_weight = cost + EVENT_NS * np.bincount(dst, weights=rate[src], minlength=n)
    return CommGraph.from_edges(n, src, dst, 1.0, delay, vertex_weight, rate)


def chunks(net: Network, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """First gid and size of every chunk, population by population."""
    chunk = validate.integer("chunk_graph", "chunk", chunk, minimum=1)
    starts, sizes = [], []
    for lo, pop in zip(net.offsets().values(), net.populations.values()):
        s = np.arange(0, pop.size, chunk)
        starts.append(lo + s)
        sizes.append(np.minimum(chunk, pop.size - s))
    return np.concatenate(starts), np.concatenate(sizes)


def _chunk_edges(net: Network, chunk: int) -> int:
    """Upper bound on the chunk pairs with synapses (the chunk graph's edges)."""
    total = 0
    for proj in net.projections.values():
        na = math.ceil(net.populations[proj.pre].size / chunk)
        nb = math.ceil(net.populations[proj.post].size / chunk)
        conn = proj.connector
        if isinstance(conn, connectors.OneToOne):
            total += na + nb
        elif isinstance(conn, connectors.EdgeList):
            total += min(np.asarray(conn.pre).size, na * nb)
        else:
            total += na * nb
    return total


def auto_chunk(net: Network, parts: int) -> int:
    """A chunk size for partitioning ``net`` into ``parts`` parts.

    About ``CHUNKS_PER_PART`` chunks per part, fewer (down to ``MIN_CHUNKS_PER_PART``)
    while the chunk graph would have more than ``MAX_CHUNK_EDGES`` edges (dense random
    connectivity makes every chunk pair an edge); at least one neuron.
    """
    parts = validate.integer("auto_chunk", "parts", parts, minimum=1)
    n = net.size
    k = max(1, math.ceil(n / (CHUNKS_PER_PART * parts)))
    k_max = max(k, n // (MIN_CHUNKS_PER_PART * parts))
    while k < k_max and _chunk_edges(net, k) > MAX_CHUNK_EDGES:
        k = min(k_max, max(k + 1, int(k * 1.25)))
    return k


def chunk_graph(net: Network, chunk: int, rates: Mapping[str, float] | None = None,
                neuron_rates: np.ndarray | None = None) -> CommGraph:
    """Chunks of ``chunk`` neurons per population, expected synapse counts between them.

    Vertex ``size`` is the chunk's neuron count, ``rate`` its neurons' mean rate (Hz),
    and ``vertex_weight`` the cost model applied to the chunk's neurons and expected
    events. The graph is marked ``expected`` (Poisson reach for every chunk).
    """
    chunk = validate.integer("chunk_graph", "chunk", chunk, minimum=1)
    per_gid = gid_rates(net, rates, neuron_rates)
    cost_of = _step_cost_ns(net)
    offsets = net.offsets()
    starts, sizes = chunks(net, chunk)
    n_of = {name: math.ceil(p.size / chunk) for name, p in net.populations.items()}
    first_chunk = dict(zip(n_of, np.cumsum([0] + list(n_of.values()))[:-1].tolist()))
    rate = np.add.reduceat(per_gid, starts) / sizes if per_gid.size else np.zeros(0)
    cost = np.concatenate([np.full(n_of[name], cost_of[name]) for name in net.populations])
    src_l, dst_l, w_l, d_l = [], [], [], []
    for proj in net.projections.values():
        a0, b0 = first_chunk[proj.pre], first_chunk[proj.post]
        na, nb = n_of[proj.pre], n_of[proj.post]
        sa, sb = sizes[a0:a0 + na].astype(float), sizes[b0:b0 + nb].astype(float)
        counts = _expected_counts(proj, sa, sb, starts[a0:a0 + na] - offsets[proj.pre],
                                  starts[b0:b0 + nb] - offsets[proj.post], chunk)
        i, j = np.nonzero(counts > 0)
        delay = _pair_delays(net, proj, chunk, na, nb)
        src_l.append(a0 + i)
        dst_l.append(b0 + j)
        w_l.append(counts[i, j])
        d_l.append(np.broadcast_to(delay, (na, nb))[i, j])
    n = starts.size
    src, dst = (np.concatenate(x + [np.zeros(0, np.int64)]) for x in (src_l, dst_l))
    w = np.concatenate(w_l + [np.zeros(0)])
    d = np.concatenate(d_l + [np.zeros(0, np.int64)])
    vertex_weight = cost * sizes + EVENT_NS * np.bincount(dst, weights=w * rate[src], minlength=n)
    return CommGraph.from_edges(n, src, dst, w, d, vertex_weight, rate, sizes, expected=True)


def expand(parts_of_chunk: np.ndarray, net: Network, chunk: int) -> np.ndarray:
    """Per-neuron parts (gid order) from per-chunk parts of :func:`chunk_graph`."""
    _, sizes = chunks(net, chunk)
    return np.repeat(np.asarray(parts_of_chunk, dtype=np.int64), sizes)


def communication_graph(net: Network, parts: int, level: str = "auto", chunk: int | None = None,
                        rates: Mapping[str, float] | None = None,
                        neuron_rates: np.ndarray | None = None) -> NetworkGraph:
    """The graph to partition ``net`` into ``parts`` parts with.

    Parameters
    ----------
    net : Network
    parts : int
        Number of parts (>= 1); sets the automatic chunk size.
    level : str
        ``"neuron"``, ``"chunk"`` or ``"auto"`` (chunk level for edges stored in files,
        which no rank reads whole; else neuron level when the expected synapse
        count is below ``NEURON_LEVEL_MAX_SYNAPSES``, else chunk level).
    chunk : int, optional
        Neurons per chunk at the chunk level (default :func:`auto_chunk`); not allowed
        with ``level="neuron"``.
    rates : mapping of str to float, optional
        Expected rate (Hz) per population name; see :func:`population_rates`.
    neuron_rates : numpy.ndarray, optional
        Rate (Hz) per gid, NaN where the population rate applies (:func:`gid_rates`).
    """
    validate.choice("graph", "level", level, LEVELS)
    parts = validate.integer("graph", "parts", parts, minimum=1)
    if chunk is not None:
        chunk = validate.integer("graph", "chunk", chunk, minimum=1)
        if level == "neuron":
            raise ValueError(f"graph: chunk applies to the chunk level, got chunk={chunk} with level 'neuron'")
    if level == "auto":
        # Edges stored in files (SONATA) are read per rank, never whole: chunk level.
        stored = any(isinstance(p.connector, connectors.StoredEdges) for p in net.projections.values())
        level = "neuron" if expected_synapses(net) < NEURON_LEVEL_MAX_SYNAPSES and not stored else "chunk"
    if level == "neuron":
        return NetworkGraph(neuron_graph(net, rates, neuron_rates), "neuron", 1)
    chunk = auto_chunk(net, parts) if chunk is None else chunk
    return NetworkGraph(chunk_graph(net, chunk, rates, neuron_rates), "chunk", chunk)


def _pair_delays(net: Network, proj: Projection, chunk: int, na: int, nb: int) -> np.ndarray:
    """Minimum delay (steps) per chunk pair: an (na, nb) array, or a scalar array (a bound)."""
    spec, conn = proj.delay, proj.connector
    if spec is None and isinstance(conn, connectors.StoredEdges):
        return np.asarray(max(1, int(timegrid.to_steps(conn.bounds("delay")[0], net.dt))))
    if spec is None and hasattr(conn, "min_delay"):
        return np.asarray(max(1, int(timegrid.to_steps(conn.min_delay(), net.dt))))
    if spec is None:
        per_synapse = np.asarray(conn.delay, dtype=np.float64)
    elif isinstance(spec, distributions.ArrayValue):
        per_synapse = spec.values.ravel()
    else:
        return np.asarray(max(1, int(timegrid.to_steps(spec.bounds()[0], net.dt))))
    n_pre, n_post = net.populations[proj.pre].size, net.populations[proj.post].size
    # The canonical enumeration the array is indexed by (connectors.Synapses.edge_id).
    if isinstance(conn, connectors.AllToAll):
        pre, post = np.divmod(np.arange(n_pre * n_post, dtype=np.int64), n_post)
        if proj.pre == proj.post and not conn.autapses:
            keep = pre != post
            pre, post, per_synapse = pre[keep], post[keep], per_synapse[keep]
    elif isinstance(conn, connectors.OneToOne):
        pre = post = np.arange(n_post, dtype=np.int64)
    else:
        pre, post = np.asarray(conn.pre, dtype=np.int64), np.asarray(conn.post, dtype=np.int64)
    out = np.full(na * nb, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, (pre // chunk) * nb + post // chunk, timegrid.to_steps(per_synapse, net.dt))
    return np.maximum(out, 1).reshape(na, nb)


def _expected_counts(proj: Projection, sa: np.ndarray, sb: np.ndarray, a_lo: np.ndarray,
                     b_lo: np.ndarray, chunk: int) -> np.ndarray:
    """Expected synapses from each pre chunk (rows) to each post chunk (columns).

    ``sa``, ``sb``: chunk sizes; ``a_lo``, ``b_lo``: each chunk's first index within its
    population. Random rules spread their synapses uniformly over the allowed pairs:
    fixed probability ``p`` per pair, fixed in-degree ``K`` per target over ``n_pre``
    sources (``K / n_pre`` per pair), fixed out-degree likewise; pairs of a neuron with
    itself are left out when autapses are off.
    """
    conn = proj.connector
    same = proj.pre == proj.post
    n_pre, n_post = sa.sum(), sb.sum()
    pair = np.outer(sa, sb)
    no_autapses = same and not getattr(conn, "autapses", True)
    if no_autapses:
        # Chunk i of a population against its own chunk i holds sa[i] self pairs.
        pair = pair - np.diag(sa)
    if isinstance(conn, connectors.StoredEdges):
        return conn.expected_counts(sa, sb, chunk)
    if isinstance(conn, connectors.AllToAll):
        return pair
    if isinstance(conn, connectors.OneToOne):
        a_hi, b_hi = a_lo[:, None] + sa[:, None], b_lo[None, :] + sb[None, :]
        return np.maximum(0.0, np.minimum(a_hi, b_hi) - np.maximum(a_lo[:, None], b_lo[None, :]))
    if isinstance(conn, connectors.FixedProbability):
        return conn.p * pair
    if isinstance(conn, connectors.FixedInDegree):
        return conn.indegree * pair / max(1.0, n_pre - (1 if no_autapses else 0))
    if isinstance(conn, connectors.FixedOutDegree):
        return conn.outdegree * pair / max(1.0, n_post - (1 if no_autapses else 0))
    if isinstance(conn, connectors.FixedTotalNumber):
        return conn.n * pair / max(1.0, n_pre * n_post - (n_post if no_autapses else 0))
    if hasattr(conn, "expected_counts"):
        return conn.expected_counts(int(n_pre), int(n_post), same, chunk)
    pre = np.asarray(conn.pre, dtype=np.int64) // chunk
    post = np.asarray(conn.post, dtype=np.int64) // chunk
    flat = np.bincount(pre * sb.size + post, minlength=sa.size * sb.size)
    return flat.reshape(sa.size, sb.size).astype(float)


__all__ = ["NetworkGraph", "neuron_graph", "chunk_graph", "communication_graph", "auto_chunk", "chunks",
           "expand", "expected_synapses", "population_rates", "rate_sources", "gid_rates", "DEFAULT_RATE_HZ", "UPDATE_NS", "CHANNEL_NS",
           "INPUT_NS", "EVENT_NS", "LEVELS"]
