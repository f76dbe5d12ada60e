"""Instantiating a network on one rank: local neurons, input ports and synapses.

A rank owns a set of gids. For each population it keeps the owned neurons in gid
order; each (population, channel) gets a block of *input ports*, one per local neuron,
numbered contiguously across populations. Synapses are built only for owned targets
(connectivity lives on the target side), a block of targets at a time, and stored in
runs of one source and one delay (:mod:`distsnn.synapse_table`): a port (int32) per
synapse, the delay once per run, the weight once per projection when it is one value,
else 32- or 64-bit fixed-point quanta (:mod:`distsnn.synapses`) per synapse.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from . import currents, distributions, models, rng, synapses, timegrid
from . import synapse_table as synapse_table_mod
from .models.common import MAX_SUBSTEPS, SYN_PREFIX, Z_G, SubstepPrepared, resolve
from .network import Network
from .synapse_table import SynapseTable
from .synapses import SynapseType

#: Connection rules whose synapses of a block of targets cost only that block's work:
#: the build connects them block by block (other rules replay the projection per call).
CHUNKED_RULES = frozenset({"all_to_all", "one_to_one", "fixed_probability", "fixed_indegree"})
#: About this many synapses are generated at a time (bounds the connector's temporaries).
CHUNK_SYNAPSES = 1 << 18


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


def synapse_table(net: Network, pops: list[LocalPopulation]) -> SynapseTable:
    """All synapses onto owned neurons, in runs by source gid then delay
    (:mod:`distsnn.synapse_table`)."""
    by_name = {p.name: p for p in pops}
    parts, store = [], synapse_table_mod.Store()
    for proj in net.projections.values():
        part = _projection(net, proj, by_name[proj.post], store)
        if part is not None:
            parts.append(part)
    return synapse_table_mod.assemble(parts, store)


def _projection(net: Network, proj, post: LocalPopulation,
                store: synapse_table_mod.Store) -> synapse_table_mod.Part | None:
    """The synapses of one projection onto ``post``'s owned neurons, generated block by
    block of targets so no full-size temporary of the connector is ever held."""
    owner = f"Projection {proj.name!r}"
    offsets = net.offsets()
    n_pre, n_post = net.populations[proj.pre].size, net.populations[proj.post].size
    key = rng.stream_key(net.seed, f"conn:{proj.name}")
    chunks, const_w, const_d = [], None, None
    targets = post.index
    # Rules outside CHUNKED_RULES take all targets at once; the others start with one
    # target and size the next blocks by the synapses per target seen so far.
    chunked = proj.connector.rule in CHUNKED_RULES
    size, done, made = 1 if chunked else targets.size, 0, 0
    while done < targets.size:
        block = targets[done: done + size]
        syn = proj.connector.connect(key, n_pre, n_post, block, offsets[proj.pre], offsets[proj.post],
                                     proj.pre == proj.post)
        n_syn = syn.pre.size
        if n_syn:
            post_gids = syn.post + offsets[proj.post]
            # A constant stays one value (a float); values per synapse are arrays, in every
            # block alike (the spec decides).
            w = _values(net, proj, "weight", syn, post_gids)
            d = _values(net, proj, "delay", syn, post_gids)
            # Delays were checked (> 0, and warned about) when the projection was added.
            steps = timegrid.delay_steps(np.atleast_1d(d), net.dt)
            if steps.max() > np.iinfo(np.int32).max:
                raise ValueError(f"{owner}: delay must be < 2**31 steps, got {steps.max()} steps")
            wq = synapses.quantize(owner, np.atleast_1d(w))
            if np.ndim(w) == 0:
                const_w = int(wq[0])
            if np.ndim(d) == 0:
                const_d = int(steps[0])
            chunks.append(synapse_table_mod.chunk(
                syn.pre, _ports(post, proj.synapse, syn.post),
                None if np.ndim(d) == 0 else steps.astype(np.int32), None if np.ndim(w) == 0 else wq))
        del syn
        done += block.size
        made += n_syn
        if chunked:
            size = max(1, int(CHUNK_SYNAPSES * done / max(made, 1)))
    if not chunks:
        return None
    return synapse_table_mod.projection_part(chunks, offsets[proj.pre], const_d, const_w, store)


def _ports(pop: LocalPopulation, channel: SynapseType, post: np.ndarray) -> np.ndarray:
    """Ports (int32) of the targets ``post``, which come grouped by target: looked up once
    per group."""
    cut = np.flatnonzero(post[1:] != post[:-1]) + 1
    first = np.concatenate(([0], cut))
    counts = np.diff(np.append(first, post.size))
    return np.repeat(pop.port(channel, post[first]).astype(np.int32), counts)


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
    bound = table.port_bound(n_ports)
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
