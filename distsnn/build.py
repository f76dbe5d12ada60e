"""Instantiating a network on one rank: local neurons, input ports and synapses.

A rank owns a set of gids. For each population it keeps the owned neurons in gid
order; each (population, channel) gets a block of *input ports*, one per local neuron,
numbered contiguously across populations. Synapses are built only for owned targets
(connectivity lives on the target side) and stored as flat arrays sorted by source gid,
with a CSR index ``indptr`` over all gids: the synapses of source ``g`` are
``indptr[g]:indptr[g+1]``. Per synapse: ``port`` (int32), ``delay`` in steps (int32)
and the weight in fixed-point quanta ``wq`` (int64, see :mod:`distsnn.synapses`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np
from numba import njit

from . import currents, distributions, models, rng, synapses, timegrid
from .models.common import MAX_SUBSTEPS, SYN_PREFIX, Z_G, SubstepPrepared, resolve
from .network import Network
from .synapses import SynapseType


@dataclass
class LocalPopulation:
    name: str
    model: ModuleType
    gids: np.ndarray           # owned gids, ascending
    index: np.ndarray          # their indices within the population
    channels: tuple[SynapseType, ...]
    port0: int                 # first port of this population's block (channels x local)
    prepared: object
    state: object
    #: Current generators into these neurons (None: none); ``drive.prepared(n)`` replaces
    #: ``prepared`` for the update ending at step n.
    drive: currents.CurrentDrive | None = None

    @property
    def n(self) -> int:
        return int(self.gids.size)

    def port(self, channel: SynapseType, index: np.ndarray) -> np.ndarray:
        """Ports of the given population indices (which must be local) on one channel."""
        c = self.channels.index(channel)
        return self.port0 + c * self.n + np.searchsorted(self.index, index)


@dataclass
class SynapseTable:
    indptr: np.ndarray   # int64, n_gids + 1
    port: np.ndarray     # int32
    delay: np.ndarray    # int32, steps
    wq: np.ndarray       # int64 quanta

    @property
    def size(self) -> int:
        return int(self.port.size)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.indptr, self.port, self.delay, self.wq))

    def sources(self) -> np.ndarray:
        """Source gid of every synapse (int64, aligned with ``port``)."""
        return np.repeat(np.arange(self.indptr.size - 1, dtype=np.int64), np.diff(self.indptr))


@dataclass(frozen=True)
class ScheduledCdf:
    """The count distribution of a Poisson input over time, one row per rate segment.

    ``values[i, k] = P(count <= k)`` under rate ``i`` (rows padded with 1.0 to a common
    width); ``first_step[i]``: the step from which rate ``i`` is in force. The count of
    arrival step ``n`` uses the row in force at step ``n - 1``
    (:mod:`distsnn.models.poisson` states the rule).
    """

    values: np.ndarray
    first_step: np.ndarray

    @property
    def kmax(self) -> int:
        """The largest count any step can draw."""
        return int(self.values.shape[1] - 1)


@dataclass
class PoissonTable:
    name: str
    key: tuple[int, int]
    gids: np.ndarray     # uint64 target gids
    ports: np.ndarray    # int64
    wq: int
    cdf: ScheduledCdf


def local_populations(net: Network, owned: np.ndarray) -> list[LocalPopulation]:
    """Owned neurons of each population with prepared models and initial state."""
    out, port0 = [], 0
    owned = np.unique(owned)   # ports and keyed draws rely on ascending gids
    offsets = net.offsets()
    for name, pop in net.populations.items():
        lo = offsets[name]
        gids = owned[(owned >= lo) & (owned < lo + pop.size)]
        index = gids - lo
        model = models.get(f"Population {name!r}", pop.model)
        channels = net.channels(name)
        key = rng.stream_key(net.seed, f"{pop.model}_pop:{name}")
        params = resolve(pop.params, net.seed, name, gids, index)
        prep = model.prepare(params, net.dt, channels, key=key)
        init = {}
        for var, value in pop.initial.items():
            if isinstance(value, distributions.ArrayValue):
                values = value.values[index]
            else:
                values = distributions.sample(value, rng.stream_key(net.seed, f"init:{name}:{var}"), gids, 1)
            if var.startswith(SYN_PREFIX):
                # The model knows channels by index (Network.channels order).
                syn = net.projections[var[len(SYN_PREFIX):]].synapse
                var = f"{SYN_PREFIX}{channels.index(syn)}"
            init[var] = values
        state = model.init_state(prep, init, gids, index)
        gens = [currents.LocalCurrent(c, net.seed, index, gids, net.dt) for c in net.currents.values()
                if c.target == name]
        drive = currents.CurrentDrive(model, prep, gens) if gens else None
        out.append(LocalPopulation(name, model, gids, index, channels, port0, prep, state, drive))
        port0 += len(channels) * gids.size
    return out


def _values(net: Network, proj, what: str, syn, post_gids: np.ndarray) -> np.ndarray | float:
    """Per-synapse values, or one float when the value is a constant."""
    spec = getattr(proj, what)
    if spec is None and getattr(syn, what) is not None:
        return getattr(syn, what)
    if spec is None:
        return np.asarray(getattr(proj.connector, what), dtype=np.float64)[syn.edge_id]
    if isinstance(spec, distributions.Constant):
        return spec.value
    if isinstance(spec, distributions.ArrayValue):
        return spec.values.ravel()[syn.edge_id]
    # Targets are requested in ascending order, so ``post_gids`` is sorted and the k-th
    # synapse of a target takes that target's draw k.
    uniq, counts = np.unique(post_gids, return_counts=True)
    return distributions.sample(spec, rng.stream_key(net.seed, f"{what}:{proj.name}"), uniq, counts)


@njit(cache=True)
def _scatter_by_source(src, indptr, order):
    # Counting sort by source gid; stable, so ties keep (projection, position) order.
    fill = indptr[:-1].copy()
    for i in range(src.size):
        order[fill[src[i]]] = i
        fill[src[i]] += 1


def synapse_table(net: Network, pops: list[LocalPopulation]) -> SynapseTable:
    """All synapses onto owned neurons, sorted by source gid (then projection, then position)."""
    offsets = net.offsets()
    by_name = {p.name: p for p in pops}
    src_l, port_l, delay_l, wq_l = [], [], [], []
    counts = np.zeros(net.size, dtype=np.int64)
    for proj in net.projections.values():
        owner = f"Projection {proj.name!r}"
        post = by_name[proj.post]
        n_pre, n_post = net.populations[proj.pre].size, net.populations[proj.post].size
        key = rng.stream_key(net.seed, f"conn:{proj.name}")
        syn = proj.connector.connect(key, n_pre, n_post, post.index, offsets[proj.pre],
                                     offsets[proj.post], proj.pre == proj.post)
        n_syn = syn.pre.size
        if n_syn == 0:
            continue
        post_gids = syn.post + offsets[proj.post]
        # Constants stay scalars (arrays of length 1) until checked and converted.
        w = np.atleast_1d(_values(net, proj, "weight", syn, post_gids))
        d = np.atleast_1d(_values(net, proj, "delay", syn, post_gids))
        # Delays were checked (> 0, and warned about) when the projection was added.
        steps = timegrid.delay_steps(d, net.dt)
        if steps.max() > np.iinfo(np.int32).max:
            raise ValueError(f"{owner}: delay must be < 2**31 steps, got {steps.max()} steps")
        src = syn.pre + offsets[proj.pre]
        counts += np.bincount(src, minlength=net.size)
        src_l.append(src)
        port_l.append(post.port(proj.synapse, syn.post).astype(np.int32))
        delay_l.append(np.broadcast_to(steps.astype(np.int32), n_syn))
        wq_l.append(np.broadcast_to(synapses.quantize(owner, w), n_syn))
    indptr = np.zeros(net.size + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    if not src_l:
        return SynapseTable(indptr, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int64))
    order = np.empty(int(indptr[-1]), dtype=np.int64)
    _scatter_by_source(np.concatenate(src_l), indptr, order)
    return SynapseTable(indptr, np.concatenate(port_l)[order], np.concatenate(delay_l)[order],
                        np.concatenate(wq_l)[order])


def poisson_tables(net: Network, pops: list[LocalPopulation]) -> list[PoissonTable]:
    by_name = {p.name: p for p in pops}
    out = []
    for inp in net.inputs.values():
        pop = by_name[inp.target]
        out.append(PoissonTable(inp.name, rng.stream_key(net.seed, f"poisson:{inp.name}"),
                                pop.gids.astype(np.uint64), pop.port(inp.synapse, pop.index).astype(np.int64),
                                int(synapses.quantize(f"PoissonInput {inp.name!r}", [inp.weight])[0]),
                                scheduled_cdf(inp.rates(), net.dt)))
    return out


def scheduled_cdf(schedule, dt: float) -> ScheduledCdf:
    """The per-segment count CDFs of a :class:`~distsnn.models.poisson.RateSchedule`."""
    cdfs = [poisson_cdf(r * dt * 1e-3) for r in schedule.rates]
    width = max(c.size for c in cdfs)
    values = np.ones((len(cdfs), width))
    for i, c in enumerate(cdfs):
        values[i, : c.size] = c
    return ScheduledCdf(values, schedule.first_steps(dt))


def poisson_cdf(lam: float) -> np.ndarray:
    """P(X <= k) for X ~ Poisson(lam), k = 0 .. kmax, renormalised to end at exactly 1.

    ``kmax`` is the real maximum at double precision: the smallest k whose upper tail
    P(X > k) is below 2**-53, the resolution of the 53-bit uniform draws that invert
    this table (a larger count could be drawn with probability below one draw in 2**53).
    The tail is summed from its far end, small terms first, so it is accurate where it
    is tiny; a CDF summed from 0 instead stalls at 1 - O(1e-15) and would leave that
    round-off to whatever count ends the table (at lam = 50, a count of 392 with
    probability 2e-15 per step, where the table now ends at 118)."""
    if lam == 0.0:
        return np.ones(1)
    from math import lgamma

    far = int(lam + 40.0 * np.sqrt(lam) + 60)   # the pmf beyond is below 1e-300
    k = np.arange(far + 1)
    # log pmf avoids underflow of exp(-lam) for large lam.
    pmf = np.exp(k * np.log(lam) - lam - np.array([lgamma(i + 1.0) for i in k]))
    tail = np.cumsum(pmf[::-1])[::-1]           # tail[k] = P(X >= k)
    above = np.append(tail[1:], 0.0)            # P(X > k)
    kmax = int(np.flatnonzero(above < 2.0 ** -53 * tail[0])[0])
    cdf = np.minimum(np.cumsum(pmf[: kmax + 1]) / tail[0], 1.0)
    # Counts past the first entry that rounds to 1 can never be drawn (u < 1): cut there.
    kmax = min(kmax, int(np.flatnonzero(cdf >= 1.0)[0]) if (cdf >= 1.0).any() else kmax)
    cdf = cdf[: kmax + 1]
    cdf[-1] = 1.0
    return cdf


def check_input_range(pops: list[LocalPopulation], table: SynapseTable, inputs: list[PoissonTable],
                      n_ports: int) -> None:
    """Reject builds whose summed input on one port in one step could overflow int64."""
    bound = np.bincount(table.port, weights=np.abs(table.wq).astype(np.float64), minlength=n_ports)
    for t in inputs:
        bound[t.ports] += abs(t.wq) * t.cdf.kmax
    limit = synapses.MAX_INPUT / synapses.QUANTUM
    if bound.size and bound.max() > limit:
        port = int(np.argmax(bound))
        for p in pops:
            if p.port0 <= port < p.port0 + len(p.channels) * p.n:
                c, i = divmod(port - p.port0, p.n)
                raise ValueError(
                    f"Population {p.name!r}: neuron {int(p.index[i])} could receive up to "
                    f"{bound[port] * synapses.QUANTUM:g} {p.channels[c].weight_unit} in one step on "
                    f"channel {p.channels[c].label()}, above the limit {synapses.MAX_INPUT:g}")
    _check_stiffness(pops, bound * synapses.QUANTUM)


def _check_stiffness(pops: list[LocalPopulation], bound: np.ndarray) -> None:
    """Refuse an RK4 population whose neurons could receive, in one step, so much
    conductance that integrating it would take more than ``MAX_SUBSTEPS`` sub-steps per
    step (:mod:`distsnn.models.common`); ``bound``: the most each port can receive in one
    step (its weights' unit)."""
    for p in pops:
        prep = p.prepared
        if not isinstance(prep, SubstepPrepared):
            continue
        rows = [c for c, ch in enumerate(p.channels) if ch.mode == "conductance"]
        if not rows or not p.n:
            continue
        g = sum(bound[p.port0 + c * p.n: p.port0 + (c + 1) * p.n] for c in rows)
        c_m = np.broadcast_to(np.asarray(prep.p.C_m, dtype=np.float64), g.shape)   # per neuron or one
        if getattr(prep.p, "integration", "accurate") == "paper":
            # The paper's Euler half-steps (dt / 2, not refined) decay monotonically only
            # while g (dt / 2) / C_m <= 1.
            limit = 2.0 * c_m / prep.dt
            i = int(np.argmax(g / limit))
            if g[i] > limit[i]:
                raise ValueError(
                    f"Population {p.name!r}: neuron {int(p.index[i])} could receive {g[i]:g} nS of conductance in "
                    f"one step; the paper scheme's Euler half-steps at dt = {prep.dt:g} ms follow it only below "
                    f"2 C_m / dt = {limit[i]:g} nS (use integration = \"accurate\", a smaller dt or a larger C_m)")
            continue
        need = g * prep.dt / (c_m * Z_G)
        i = int(np.argmax(need))
        if need[i] > MAX_SUBSTEPS:
            raise ValueError(
                f"Population {p.name!r}: neuron {int(p.index[i])} could receive {g[i]:g} nS of conductance in one "
                f"step; at C_m = {c_m[i]:g} pF integrating it needs {need[i]:.3g} RK4 sub-steps per step of "
                f"{prep.dt:g} ms, above the limit {MAX_SUBSTEPS} (raise C_m or lower the conductance weights)")


__all__ = ["LocalPopulation", "SynapseTable", "PoissonTable", "ScheduledCdf", "local_populations",
           "synapse_table", "poisson_tables", "scheduled_cdf", "poisson_cdf", "check_input_range"]
