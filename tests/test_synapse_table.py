"""The synapse table: runs of one source and one delay, compact weights, an index over
the sources with local targets only, block-by-block building, and delivery through it."""

from __future__ import annotations

import numpy as np
import pytest

import distsnn as ds
from distsnn import build, delivery, rng, timegrid
from distsnn import synapse_table as st
from distsnn.synapses import QUANTUM


def network(only: str | None = None) -> ds.Network:
    """Every kind of weight storage and both kinds of delay: constant weight and delay
    (one value each), small per-synapse weights (32-bit quanta), large ones (64-bit),
    large ones of three values (a dictionary), per-synapse delays, and rules built block by block or all at once. ``only``: keep
    that projection alone."""
    net = ds.Network(dt=0.1, seed=7)
    gen = np.random.default_rng(11)
    net.add_population("a", 300, "lif")
    net.add_population("b", 200, "lif")
    projections = [
        ("a", "b", ds.FixedInDegree(40), "delta", 0.1, 1.5, "const"),
        ("a", "a", ds.FixedProbability(0.1), "delta", ds.Normal(0.01, 0.002), 2.0, "small"),
        ("b", "a", ds.FixedInDegree(30), {"kind": "exp", "tau": 2.0}, ds.Normal(50.0, 5.0), ds.Uniform(0.5, 3.0),
         "large"),
        ("b", "b", ds.FixedOutDegree(5), "delta", -0.2, ds.Uniform(1.0, 2.0), "out"),
        ("a", "b", ds.AllToAll(), "delta", np.full((300, 200), 0.05), 1.0, "array"),
        ("b", "a", ds.EdgeList(gen.integers(0, 200, 3000), gen.integers(0, 300, 3000),
                               weight=gen.choice([50.0, 60.0, -70.0], 3000)), {"kind": "exp", "tau": 2.0}, None, 1.2,
         "dict"),
    ]
    for pre, post, conn, syn, w, d, name in projections:
        if only in (None, name):
            net.add_projection(pre, post, conn, syn, w, d, name=name)
    return net


def reference(net: ds.Network, pops) -> list[tuple[int, int, int, int]]:
    """(source gid, port, delay steps, weight quanta) of every synapse, sorted, made
    projection by projection with all targets at once and no table."""
    offsets = net.offsets()
    by_name = {p.name: p for p in pops}
    out = []
    for proj in net.projections.values():
        post = by_name[proj.post]
        syn = proj.connector.connect(rng.stream_key(net.seed, f"conn:{proj.name}"), net.populations[proj.pre].size,
                                     net.populations[proj.post].size, post.index, offsets[proj.pre],
                                     offsets[proj.post], proj.pre == proj.post)
        post_gids = syn.post + offsets[proj.post]
        w = np.broadcast_to(build._values(net, proj, "weight", syn, post_gids), syn.pre.shape)
        d = np.broadcast_to(build._values(net, proj, "delay", syn, post_gids), syn.pre.shape)
        steps = timegrid.delay_steps(np.asarray(d, dtype=np.float64), net.dt)
        port = post.port(proj.synapse, syn.post)
        wq = np.rint(np.asarray(w) / QUANTUM).astype(np.int64)
        out += zip((syn.pre + offsets[proj.pre]).tolist(), port.tolist(), steps.tolist(), wq.tolist())
    return sorted(out)


def rows(table: st.SynapseTable) -> list[tuple[int, int, int, int]]:
    return sorted(zip(*(a.tolist() for a in table.expand())))


@pytest.mark.parametrize("owned", ["all", "half"])
@pytest.mark.parametrize("chunk", [7, 1 << 18])
def test_table_holds_exactly_the_synapses(monkeypatch, owned, chunk):
    """Blocks of 7 synapses (hundreds of blocks) or one block: the same synapses as a
    build of each projection at once, whichever targets the rank owns."""
    monkeypatch.setattr(build, "CHUNK_SYNAPSES", chunk)
    net = network()
    gids = np.arange(net.size) if owned == "all" else np.arange(1, net.size, 2)
    pops = build.local_populations(net, gids)
    table = build.synapse_table(net, pops)
    assert rows(table) == reference(net, pops)
    assert table.size == table.port.size


def test_layout_sorted_by_source_then_delay_with_ports_in_order():
    net = network()
    pops = build.local_populations(net, np.arange(net.size))
    t = build.synapse_table(net, pops)
    assert (np.diff(t.src) > 0).all() and t.src_ptr[0] == 0 and t.src_ptr[-1] == t.n_runs
    assert (np.diff(t.src_ptr) > 0).all()                     # every listed source has a run
    for i in range(t.src.size):
        r = slice(t.src_ptr[i], t.src_ptr[i + 1])
        assert (np.diff(t.run_delay[r]) >= 0).all()           # runs by ascending delay
    for a, n in zip(t.run_start.tolist(), t.run_len.tolist()):
        assert n >= 1 and (np.diff(t.port[a: a + n]) >= 0).all()   # scatter in memory order
    # Runs tile the port array exactly once.
    cover = np.zeros(t.port.size, np.int64)
    for a, n in zip(t.run_start.tolist(), t.run_len.tolist()):
        cover[a: a + n] += 1
    assert (cover == 1).all()


@pytest.mark.parametrize("name,kinds", [("const", {st.CONST}), ("out", {st.CONST}), ("array", {st.CONST}),
                                        ("small", {st.W32}), ("large", {st.W64}), ("dict", {st.WDICT})])
def test_weights_stored_once_in_32_or_in_64_bits(name, kinds):
    """One value (a constant, or an array whose values are all equal): stored once per
    run; weights within 2**31 quanta: 32 bits; a few distinct larger ones: once each,
    with a 32-bit index per synapse; other larger ones: 64 bits."""
    net = network(only=name)
    t = build.synapse_table(net, build.local_populations(net, np.arange(net.size)))
    assert set(t.run_kind.tolist()) == kinds
    n32 = t.size if kinds & {st.W32, st.WDICT} else 0
    n64 = t.size if kinds == {st.W64} else 3 if kinds == {st.WDICT} else 0
    assert t.w32.size == n32 and t.w64.size == n64
    # 4 bytes per synapse, 4 more per 32-bit weight, 8 per 64-bit one; then runs and sources.
    per_run = sum(a.itemsize for a in (t.run_start, t.run_len, t.run_delay, t.run_kind, t.run_w))
    assert per_run == 29
    assert t.nbytes() == 4 * t.size + 4 * n32 + 8 * n64 + per_run * t.n_runs + 8 * t.src.size + 8 * (t.src.size + 1)


def test_brunel_like_projection_costs_about_four_bytes_per_synapse():
    net = ds.Network(dt=0.1, seed=3)
    net.add_population("e", 2000, "lif")
    net.add_projection("e", "e", ds.FixedInDegree(200, multapses=False), "delta", 0.1, 1.5)
    table = build.synapse_table(net, build.local_populations(net, np.arange(2000)))
    assert table.size == 400_000 and table.n_runs == 2000
    assert 4.0 < table.nbytes() / table.size < 4.25


def test_memory_does_not_grow_with_the_network():
    """A rank owning 10 neurons of a 10**7-neuron network holds arrays over its own
    synapses' sources only: kilobytes, not one entry per gid."""
    net = ds.Network(dt=0.1, seed=1)
    net.add_population("big", 10 ** 7, "lif")
    net.add_projection("big", "big", ds.FixedInDegree(20), "delta", 0.1, 1.0)
    owned = np.arange(0, 10 ** 7, 10 ** 6, dtype=np.int64)
    table = build.synapse_table(net, build.local_populations(net, owned))
    assert table.size == 200 and table.src.size <= 200
    assert table.nbytes() < 16_000


def test_split_and_delivery_match_a_plain_loop():
    net = network()
    pops = build.local_populations(net, np.arange(net.size))
    t = build.synapse_table(net, pops)
    n_ports = sum(len(p.channels) * p.n for p in pops)
    short, long = t.split(15)
    assert short.run_delay.max() < 15 <= long.run_delay.min()
    assert sorted(rows(short) + rows(long)) == rows(t)
    gen = np.random.default_rng(0)
    gids = np.sort(gen.choice(net.size + 50, 400))            # some sources have no synapse here
    steps = gen.integers(0, 40, gids.size)
    R = int(t.max_delay()) + 1
    expect = np.zeros((R, n_ports), np.int64)
    src, port, delay, wq = t.expand()
    events = 0
    for g, s in zip(gids.tolist(), steps.tolist()):
        m = src == g
        np.add.at(expect, ((s + delay[m]) % R, port[m]), wq[m])
        events += int(m.sum())
    ring = np.zeros((R, n_ports), np.int64)
    got = sum(delivery.deliver(gids, steps, part, ring) for part in (short, long))
    assert got == events and (ring == expect).all()


def test_input_bound_sums_absolute_weights_per_port():
    net = network()
    pops = build.local_populations(net, np.arange(net.size))
    t = build.synapse_table(net, pops)
    n_ports = sum(len(p.channels) * p.n for p in pops)
    _, port, _, wq = t.expand()
    assert np.allclose(t.port_bound(n_ports), np.bincount(port, weights=np.abs(wq).astype(float), minlength=n_ports),
                       rtol=1e-12)
