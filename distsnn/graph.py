"""Communication graphs of a network, for the partitioning package.

Two levels:

- :func:`neuron_graph`: one vertex per neuron and the exact synapse counts, from the
  synapses themselves (built in this process: for networks of up to a few million
  synapses, partition studies and small runs).
- :func:`chunk_graph`: each population cut into chunks of ``chunk`` neurons, with edge
  weights the connectors' *expected* synapse counts, computed without generating a
  synapse, so a network of 10**9 synapses is partitioned in seconds.

Cost model (vertex weights, in ns of compute per simulated second, measured on the
Brunel benchmark on a 2-core x86 machine): ``UPDATE_NS`` per neuron per step, times
``1000 / dt`` steps per second, plus ``EVENT_NS`` per synaptic event, i.e. incoming
synapses times the expected rate of their source. Edge weights are synapse counts; the
partitioner weighs communication by each source's expected rate (``rate``, Hz), given
per population (default ``DEFAULT_RATE_HZ``).
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from partitioning import CommGraph

from . import build, connectors, timegrid, validate
from .network import Network

UPDATE_NS = 25.0
EVENT_NS = 4.0
DEFAULT_RATE_HZ = 10.0


def _rates(net: Network, rates: Mapping[str, float] | None) -> dict[str, float]:
    rates = dict(rates or {})
    validate.known_fields("graph rates", rates, net.populations, "population")
    return {name: validate.non_negative("graph rates", name, rates.get(name, DEFAULT_RATE_HZ), "Hz")
            for name in net.populations}


def _vertex_weight(net: Network, size: np.ndarray, in_events_hz: np.ndarray) -> np.ndarray:
    return size * UPDATE_NS * 1000.0 / net.dt + in_events_hz * EVENT_NS + 1e-9


def neuron_graph(net: Network, rates: Mapping[str, float] | None = None) -> CommGraph:
    """One vertex per neuron (gid), exact synapse counts and minimum delays."""
    rate_of = _rates(net, rates)
    n = net.size
    pops = build.local_populations(net, np.arange(n, dtype=np.int64))
    table = build.synapse_table(net, pops)
    gid_of_port = np.concatenate([np.tile(p.gids, len(p.channels)) for p in pops] or [np.zeros(0, np.int64)])
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(table.indptr))
    dst = gid_of_port[table.port]
    rate = np.concatenate([np.full(p.size, rate_of[name]) for name, p in net.populations.items()])
    in_events = np.bincount(dst, weights=rate[src], minlength=n)
    vw = _vertex_weight(net, np.ones(n), in_events)
    if src.size == 0:
        return CommGraph.from_edges(n, src, dst, 1.0, 1, vw, rate)
    return CommGraph.from_edges(n, src, dst, 1.0, table.delay.astype(np.int64), vw, rate)


def auto_chunk(net: Network, parts: int) -> int:
    """A chunk size giving about 64 chunks per part (at least one neuron)."""
    return max(1, math.ceil(net.size / (64 * max(parts, 1))))


def chunks(net: Network, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """First gid and size of every chunk, population by population."""
    starts, sizes = [], []
    for lo, pop in zip(net.offsets().values(), net.populations.values()):
        s = np.arange(0, pop.size, chunk)
        starts.append(lo + s)
        sizes.append(np.minimum(chunk, pop.size - s))
    return np.concatenate(starts), np.concatenate(sizes)


def chunk_graph(net: Network, chunk: int, rates: Mapping[str, float] | None = None) -> CommGraph:
    """Chunks of ``chunk`` neurons per population, expected synapse counts between them."""
    chunk = validate.integer("chunk_graph", "chunk", chunk, minimum=1)
    rate_of = _rates(net, rates)
    offsets = net.offsets()
    starts, sizes = chunks(net, chunk)
    first_chunk, acc = {}, 0
    for name, pop in net.populations.items():
        first_chunk[name], acc = acc, acc + math.ceil(pop.size / chunk)
    rate = np.concatenate([np.full(math.ceil(p.size / chunk), rate_of[n]) for n, p in net.populations.items()])
    src_l, dst_l, w_l, d_l = [], [], [], []
    for proj in net.projections.values():
        a0, b0 = first_chunk[proj.pre], first_chunk[proj.post]
        na = math.ceil(net.populations[proj.pre].size / chunk)
        nb = math.ceil(net.populations[proj.post].size / chunk)
        sa, sb = sizes[a0:a0 + na].astype(float), sizes[b0:b0 + nb].astype(float)
        counts = _expected_counts(proj, sa, sb, starts[a0:a0 + na] - offsets[proj.pre],
                                  starts[b0:b0 + nb] - offsets[proj.post], chunk)
        i, j = np.nonzero(counts > 0)
        src_l.append(a0 + i)
        dst_l.append(b0 + j)
        w_l.append(counts[i, j])
        d_l.append(np.full(i.size, _min_delay_steps(net, proj)))
    n = starts.size
    if src_l:
        src, dst, w, d = (np.concatenate(x) for x in (src_l, dst_l, w_l, d_l))
    else:
        src = dst = d = np.zeros(0, np.int64)
        w = np.zeros(0)
    in_events = np.bincount(dst, weights=w * rate[src], minlength=n)
    vw = _vertex_weight(net, sizes.astype(float), in_events)
    return CommGraph.from_edges(n, src, dst, w if w.size else 1.0, d if d.size else 1, vw, rate, sizes)


def expand(parts_of_chunk: np.ndarray, net: Network, chunk: int) -> np.ndarray:
    """Per-neuron parts from per-chunk parts."""
    _, sizes = chunks(net, chunk)
    return np.repeat(np.asarray(parts_of_chunk, dtype=np.int64), sizes)


def _min_delay_steps(net: Network, proj) -> int:
    if proj.delay is None:
        lo = float(np.min(proj.connector.delay))
    else:
        lo = proj.delay.bounds()[0]
    return max(1, int(timegrid.to_steps(lo, net.dt)))


def _expected_counts(proj, sa: np.ndarray, sb: np.ndarray, a_lo: np.ndarray, b_lo: np.ndarray,
                     chunk: int) -> np.ndarray:
    """Expected synapses from each pre chunk (rows) to each post chunk (columns)."""
    conn = proj.connector
    same = proj.pre == proj.post
    n_pre, n_post = sa.sum(), sb.sum()
    pair = np.outer(sa, sb)
    # Pairs a neuron makes with itself, which autapse-free rules leave out.
    self_pairs = np.diag(sa) if same and sa.size == sb.size else np.zeros_like(pair)
    no_autapses = same and not getattr(conn, "autapses", True)
    if isinstance(conn, connectors.AllToAll):
        return pair - (self_pairs if no_autapses else 0)
    if isinstance(conn, connectors.OneToOne):
        a_hi, b_hi = a_lo[:, None] + sa[:, None], b_lo[None, :] + sb[None, :]
        return np.maximum(0.0, np.minimum(a_hi, b_hi) - np.maximum(a_lo[:, None], b_lo[None, :]))
    if isinstance(conn, connectors.FixedProbability):
        return conn.p * (pair - (self_pairs if no_autapses else 0))
    if isinstance(conn, connectors.FixedInDegree):
        pool = n_pre - (1 if no_autapses else 0)
        return conn.indegree * (pair - (self_pairs if no_autapses else 0)) / pool
    if isinstance(conn, connectors.FixedOutDegree):
        pool = n_post - (1 if no_autapses else 0)
        return conn.outdegree * (pair - (self_pairs if no_autapses else 0)) / pool
    pre = np.asarray(conn.pre, dtype=np.int64) // chunk
    post = np.asarray(conn.post, dtype=np.int64) // chunk
    flat = np.bincount(pre * sb.size + post, minlength=sa.size * sb.size)
    return flat.reshape(sa.size, sb.size).astype(float)


__all__ = ["neuron_graph", "chunk_graph", "auto_chunk", "chunks", "expand"]
