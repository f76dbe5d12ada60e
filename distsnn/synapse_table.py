"""One rank's synapses, stored in runs of one source, one delay and one projection.

Layout (``n_src`` sources with at least one local target, ``n_runs`` runs, ``size``
synapses):

- ``src`` (int64, ``n_src``): those source gids, ascending; ``src_ptr`` (int64,
  ``n_src + 1``): the runs of ``src[i]`` are ``src_ptr[i]:src_ptr[i + 1]``, by ascending
  delay. No array has an entry per gid of the network: the table follows the rank's own
  synapses whatever the network's size (a spike's source is found by binary search).
- a *run*: the synapses of one source onto local targets of one projection with one
  delay. ``run_start`` and ``run_len`` (int64) locate the run's ports in ``port`` (int32,
  ascending within a run, so delivery scatters into a ring row in memory order);
  ``run_delay`` (int32, steps) is stored once per run; ``run_kind`` (int8) says where
  the weights (fixed-point quanta, :mod:`distsnn.synapses`) are: :data:`CONST`, the
  projection's one weight, ``run_w``; :data:`W32`, ``w32[run_w + j]`` for the run's
  synapse ``j``; :data:`W64`, ``w64[run_w + j]``; :data:`WDICT`, ``w64[w32[run_w + j]]``
  (a projection whose weights take few distinct values keeps them once in ``w64`` and a
  32-bit index per synapse).

Bytes per synapse: 4 (the port) for a projection whose weights are one value, 8 when
they fit 32-bit quanta (``|w| < 2**31`` quanta, i.e. below ``2**-5`` of the weight's unit)
or take few distinct values, and 12 otherwise (the 2**-36 quantum keeps the input sum exact and order-free; a coarser
per-synapse grid would change the arithmetic). Plus 29 bytes per run and 16 per source.

Building (:func:`projection_part`, :func:`assemble`) takes the synapses of a projection
in chunks of targets, each sorted by source, and never holds a second full-size copy of
more than one projection's ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit

#: ``run_kind`` values.
CONST, W32, W64, WDICT = 0, 1, 2, 3
#: A projection's weights go in a dictionary when a sample of this many of them has at
#: most a quarter as many distinct values (and then all of them at most half as many).
_DICT_SAMPLE = 4096
_I32 = np.iinfo(np.int32)


@dataclass
class SynapseTable:
    src: np.ndarray         # int64, n_src, ascending source gids
    src_ptr: np.ndarray     # int64, n_src + 1, into the runs
    run_start: np.ndarray   # int64, into port
    run_len: np.ndarray     # int64
    run_delay: np.ndarray   # int32, steps
    run_kind: np.ndarray    # int8: CONST, W32, W64, WDICT
    run_w: np.ndarray       # int64: the weight (CONST) or the offset into w32 / w64
    port: np.ndarray        # int32
    w32: np.ndarray         # int32 quanta
    w64: np.ndarray         # int64 quanta

    @classmethod
    def empty(cls) -> "SynapseTable":
        z = np.zeros(0, np.int64)
        return cls(z, np.zeros(1, np.int64), z, z, np.zeros(0, np.int32), np.zeros(0, np.int8), z,
                   np.zeros(0, np.int32), np.zeros(0, np.int32), z)

    @cached_property
    def size(self) -> int:
        """Synapses in the table's runs."""
        return int(self.run_len.sum())

    @property
    def n_runs(self) -> int:
        return int(self.run_len.size)

    def kernel_args(self) -> tuple[np.ndarray, ...]:
        """The arrays :func:`distsnn.delivery.deliver_runs` takes, in its order."""
        return (self.src, self.src_ptr, self.run_start, self.run_len, self.run_delay, self.run_kind,
                self.run_w, self.port, self.w32, self.w64)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.kernel_args())

    def min_delay(self) -> int | None:
        return int(self.run_delay.min()) if self.run_delay.size else None

    def max_delay(self) -> int | None:
        return int(self.run_delay.max()) if self.run_delay.size else None

    def run_sources(self) -> np.ndarray:
        """The source gid of every run (int64)."""
        return np.repeat(self.src, np.diff(self.src_ptr))

    def select(self, keep: np.ndarray) -> "SynapseTable":
        """The table of the runs where ``keep`` (bool, one per run) holds; shares the
        per-synapse arrays."""
        rs = self.run_sources()[keep]
        src, first = np.unique(rs, return_index=True)
        ptr = np.append(first, rs.size).astype(np.int64)
        return SynapseTable(src, ptr, self.run_start[keep], self.run_len[keep], self.run_delay[keep],
                            self.run_kind[keep], self.run_w[keep], self.port, self.w32, self.w64)

    def split(self, epoch: int) -> tuple["SynapseTable", "SynapseTable"]:
        """The runs with delay < ``epoch`` (delivered as soon as their spike is known) and
        the rest (delivered after the epoch's exchange)."""
        short = self.run_delay < epoch
        if not short.any():
            return self.select(short), self
        return self.select(short), self.select(~short)

    def expand(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per synapse, run by run: source gid, port, delay (steps) and weight (quanta),
        all int64 (for inspection and the partitioner's graph; delivery reads the runs)."""
        n = self.size
        index = _synapse_index(self.run_start, self.run_len, n)
        src = np.repeat(self.run_sources(), self.run_len)
        delay = np.repeat(self.run_delay.astype(np.int64), self.run_len)
        wq = np.empty(n, np.int64)
        _weights(self.run_len, self.run_kind, self.run_w, self.w32, self.w64, wq)
        return src, self.port[index].astype(np.int64), delay, wq

    def port_bound(self, n_ports: int) -> np.ndarray:
        """The largest input each port can receive in one step from these synapses: the
        sum of their absolute weights (quanta, float64)."""
        out = np.zeros(n_ports, np.float64)
        _port_bound(self.run_start, self.run_len, self.run_kind, self.run_w, self.port, self.w32, self.w64, out)
        return out


@dataclass
class Part:
    """One projection's runs; ``run_start`` and ``run_w`` (but for CONST) index the
    :class:`Store`'s arrays."""

    run_src: np.ndarray
    run_start: np.ndarray
    run_len: np.ndarray
    run_delay: np.ndarray
    kind: int
    run_w: np.ndarray


@dataclass
class Chunk:
    """Synapses of a block of targets sorted by (source, delay), generation order kept
    within: ``heads`` the distinct local source indices, ``bounds`` (``heads.size + 1``)
    where each source's synapses start; ``steps`` and ``wq`` are ``None`` when the
    projection's delay or weight is one value."""

    heads: np.ndarray
    bounds: np.ndarray
    port: np.ndarray
    steps: np.ndarray | None
    wq: np.ndarray | None


def chunk(pre: np.ndarray, port: np.ndarray, steps: np.ndarray | None, wq: np.ndarray | None) -> Chunk:
    """Sort a block of synapses (generated target by target, so ports ascend) by source,
    stably, and keep only what :func:`projection_part` needs (which orders each source's
    synapses by delay)."""
    n = pre.size
    heads, bounds = np.empty(n, np.int64), np.empty(n + 1, np.int64)
    if n == 0:
        return Chunk(heads, np.zeros(1, np.int64), port, steps, wq)
    lo, hi = int(pre.min()), int(pre.max())
    order = np.empty(n, np.int64)
    if hi - lo <= 4 * n:
        # A counting sort: linear, and the sources of a block of targets span a range
        # comparable with the block (in-degree rules draw from the whole pre population).
        k = _counting_order(pre, lo, hi - lo + 1, order, heads, bounds)
    else:
        # One unique key per synapse, (source, position), sorted unstably: six times
        # faster than a stable argsort of the sources.
        key = (pre.astype(np.int64) - lo) * n + np.arange(n, dtype=np.int64)
        key.sort()
        np.remainder(key, n, out=order)
        del key
        k = _heads(order, pre, heads, bounds)
    # Sources and bounds in 32 bits where they fit: a block of many sources keeps about
    # one head per synapse.
    idx = np.int32 if hi < 2 ** 31 and n < 2 ** 31 else np.int64
    return Chunk(heads[:k].astype(idx), bounds[: k + 1].astype(idx), port[order],
                 None if steps is None else steps[order], None if wq is None else wq[order])


class Store:
    """The per-synapse arrays of a table being built (``port``, ``w32``, ``w64``), grown
    projection by projection in place: ``ndarray.resize`` reallocates, and the C
    library moves a large block by remapping its pages, so growing never holds two
    copies (concatenating the projections' arrays at the end would)."""

    def __init__(self) -> None:
        self.port = np.zeros(0, np.int32)
        self.w32 = np.zeros(0, np.int32)
        self.w64 = np.zeros(0, np.int64)

    def grow(self, name: str, n: int) -> int:
        """Room for ``n`` more values of ``name``; returns where they start. No view of
        the array may be alive (the block may move)."""
        a = getattr(self, name)
        start = a.size
        a.resize(start + n, refcheck=False)
        return start


def projection_part(chunks: list[Chunk], pre_gid0: int, steps: int | None, wq: int | None, store: Store) -> Part:
    """Merge a projection's chunks (``chunks`` is emptied as they are placed) into runs by
    source, then delay, appending its ports and weights to ``store``; ``steps`` and
    ``wq``: the projection's one delay and weight, or ``None`` when the chunks carry them
    per synapse. The part's ``run_start`` and ``run_w`` index the store's arrays."""
    heads = np.unique(np.concatenate([c.heads for c in chunks]))
    counts = np.zeros(heads.size, np.int64)
    for c in chunks:
        counts[np.searchsorted(heads, c.heads)] += np.diff(c.bounds)
    ptr = np.zeros(heads.size + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    del counts
    n = int(ptr[-1])
    base = store.grow("port", n)
    port = store.port[base:]
    d = None if steps is not None else np.empty(n, np.int32)
    w = None if wq is not None else np.empty(n, np.int64)
    fill = ptr[:-1].copy()
    while chunks:
        c = chunks.pop(0)
        p = np.searchsorted(heads, c.heads)
        for src, dst in ((c.port, port), (c.steps, d), (c.wq, w)):
            if dst is not None:
                _place(p, c.bounds, fill, src, dst)
        fill[p] += np.diff(c.bounds)
    del fill
    if d is None:
        run_src, run_start, run_len = heads, ptr[:-1], np.diff(ptr)
        run_delay = np.full(heads.size, steps, np.int32)
    else:
        # Chunks come in ascending targets, so each source's synapses are in target order;
        # a stable sort by delay keeps the ports ascending within each run.
        _sort_segments(ptr, d, port, np.zeros(0, np.int64) if w is None else w)
        n_runs = _runs(ptr, d, np.zeros(0, np.int64), np.zeros(0, np.int64), False)
        seg, run_start = np.empty(n_runs, np.int64), np.empty(n_runs, np.int64)
        _runs(ptr, d, seg, run_start, True)
        run_src = heads[seg]
        run_len = np.diff(np.append(run_start, n))
        run_delay = d[run_start]
        del d
    del port
    run_src = run_src.astype(np.int64) + pre_gid0
    run_start = run_start + base
    if w is not None and w.size and (w == w[0]).all():
        w, wq = None, int(w[0])
    if w is None:
        return Part(run_src, run_start, run_len, run_delay, CONST, np.full(run_src.size, wq, np.int64))
    if w.min() >= _I32.min and w.max() <= _I32.max:
        at = store.grow("w32", n)
        store.w32[at:] = w
        return Part(run_src, run_start, run_len, run_delay, W32, run_start - base + at)
    if np.unique(w[:_DICT_SAMPLE]).size * 4 <= min(n, _DICT_SAMPLE):
        values, index = np.unique(w, return_inverse=True)
        if values.size * 2 <= n and store.w64.size + values.size < 2 ** 31:
            del w
            at64 = store.grow("w64", values.size)
            store.w64[at64:] = values
            at = store.grow("w32", n)
            store.w32[at:] = index + at64
            return Part(run_src, run_start, run_len, run_delay, WDICT, run_start - base + at)
    at = store.grow("w64", n)
    store.w64[at:] = w
    return Part(run_src, run_start, run_len, run_delay, W64, run_start - base + at)


def assemble(parts: list[Part], store: Store) -> SynapseTable:
    """The table of all projections' parts, whose synapses are in ``store``."""
    if not parts:
        return SynapseTable.empty()
    runs = [(p.run_src, p.run_start, p.run_len, p.run_delay, np.full(p.run_src.size, p.kind, np.int8), p.run_w,
             np.full(p.run_src.size, i, np.int64)) for i, p in enumerate(parts)]
    parts.clear()
    cols = [np.concatenate(c) for c in zip(*runs)]
    del runs
    order = np.lexsort((cols[6], cols[3], cols[0]))
    run_src, run_start, run_len, run_delay, run_kind, run_w = (c[order] for c in cols[:6])
    src, first = np.unique(run_src, return_index=True)
    ptr = np.append(first, run_src.size).astype(np.int64)
    return SynapseTable(src, ptr, run_start, run_len.astype(np.int64), run_delay.astype(np.int32),
                        run_kind, run_w.astype(np.int64), store.port, store.w32, store.w64)


@njit(cache=True)
def _counting_order(pre, lo, span, order, heads, bounds):
    # Stable counting sort of pre (values lo .. lo + span - 1) into ``order``; the distinct
    # values in ``heads``, where each begins in ``bounds``; returns how many.
    fill = np.zeros(span, np.int64)
    for i in range(pre.size):
        fill[pre[i] - lo] += 1
    k = 0
    total = 0
    for v in range(span):
        c = fill[v]
        if c:
            heads[k] = v + lo
            bounds[k] = total
            k += 1
        fill[v] = total
        total += c
    bounds[k] = total
    for i in range(pre.size):
        v = pre[i] - lo
        order[fill[v]] = i
        fill[v] += 1
    return k


@njit(cache=True)
def _heads(order, pre, heads, bounds):
    # The distinct sources of pre[order] (ascending) and where each begins.
    k = 0
    last = -1
    for i in range(order.size):
        p = pre[order[i]]
        if i == 0 or p != last:
            last = p
            heads[k] = p
            bounds[k] = i
            k += 1
    bounds[k] = order.size
    return k


@njit(cache=True)
def _place(pos, bounds, fill, src, dst):
    # Source i of a chunk (its synapses src[bounds[i]:bounds[i+1]]) goes on at fill[pos[i]].
    for i in range(pos.size):
        f = fill[pos[i]] - bounds[i]
        for j in range(bounds[i], bounds[i + 1]):
            dst[f + j] = src[j]


@njit(cache=True)
def _sort_segments(ptr, d, port, w):
    for i in range(ptr.size - 1):
        a, b = ptr[i], ptr[i + 1]
        done = True
        for j in range(a + 1, b):
            if d[j] < d[j - 1]:
                done = False
                break
        if done:
            continue
        order = np.argsort(d[a:b], kind="mergesort") + a
        d[a:b] = d[order]
        port[a:b] = port[order]
        if w.size:
            w[a:b] = w[order]


@njit(cache=True)
def _runs(ptr, d, seg, start, fill):
    # Runs of equal delay within each source's segment: count them, or (fill) write each
    # run's segment and first synapse.
    k = 0
    for i in range(ptr.size - 1):
        for j in range(ptr[i], ptr[i + 1]):
            if j == ptr[i] or d[j] != d[j - 1]:
                if fill:
                    seg[k] = i
                    start[k] = j
                k += 1
    return k


def _synapse_index(run_start: np.ndarray, run_len: np.ndarray, n: int) -> np.ndarray:
    # run_start[r] + 0 .. run_len[r] - 1 for every run, concatenated.
    firsts = np.zeros(run_len.size, np.int64)
    if run_len.size:
        np.cumsum(run_len[:-1], out=firsts[1:])
    return np.arange(n, dtype=np.int64) + np.repeat(run_start - firsts, run_len)


@njit(cache=True)
def _weights(run_len, run_kind, run_w, w32, w64, out):
    k = 0
    for r in range(run_len.size):
        for j in range(run_len[r]):
            if run_kind[r] == 0:
                out[k] = run_w[r]
            elif run_kind[r] == 1:
                out[k] = w32[run_w[r] + j]
            elif run_kind[r] == 2:
                out[k] = w64[run_w[r] + j]
            else:
                out[k] = w64[w32[run_w[r] + j]]
            k += 1


@njit(cache=True)
def _port_bound(run_start, run_len, run_kind, run_w, port, w32, w64, out):
    for r in range(run_len.size):
        a = run_start[r]
        for j in range(run_len[r]):
            if run_kind[r] == 0:
                w = run_w[r]
            elif run_kind[r] == 1:
                w = np.int64(w32[run_w[r] + j])
            elif run_kind[r] == 2:
                w = w64[run_w[r] + j]
            else:
                w = w64[w32[run_w[r] + j]]
            out[port[a + j]] += abs(np.float64(w))


__all__ = ["SynapseTable", "Store", "Part", "Chunk", "chunk", "projection_part", "assemble", "CONST", "W32", "W64",
           "WDICT"]
