"""Routing set-up, the wire format and the owner map, with N ranks simulated in one process."""

from __future__ import annotations

import numpy as np
import pytest

from distsnn import routing
from distsnn.comm import LocalComm
from distsnn.placement import OwnerMap


def _fake_alltoallv(sends):
    """What every rank receives when rank r sends ``sends[r] = (items, counts)``."""
    size = len(sends)
    out = []
    for dst in range(size):
        items, counts = [], []
        for src in range(size):
            buf, cnt = sends[src]
            start = int(cnt[:dst].sum())
            items.append(buf[start:start + cnt[dst]])
            counts.append(cnt[dst])
        out.append((np.concatenate(items).astype(np.int64), np.array(counts, dtype=np.int64)))
    return out


def _routers(owner, needed_by_rank):
    size = len(needed_by_rank)
    omap = OwnerMap.from_array(owner)
    reqs = [routing.requests(omap, needed_by_rank[r], r, size) for r in range(size)]
    asked = _fake_alltoallv(reqs)
    routers = [routing.Router(r, size, *routing.routes(omap.owned(r), *asked[r])) for r in range(size)]
    # The pairs each end reserves room for agree: r sends to s exactly when s asked r.
    for r in range(size):
        for s in range(size):
            assert (s in routers[r].peers) == (reqs[s][1][r] > 0)
    return routers


@pytest.fixture
def setup():
    rng = np.random.default_rng(1)
    n, size = 50, 4
    owner = rng.integers(0, size, n)
    # Synapses: rank r holds targets it owns; sources anywhere.
    src = rng.integers(0, n, 400)
    dst = rng.integers(0, n, 400)
    needed = [np.unique(src[owner[dst] == r]) for r in range(size)]
    return n, size, owner, src, dst, needed


def test_each_spike_reaches_exactly_the_remote_ranks_with_targets(setup):
    n, size, owner, src, dst, needed = setup
    routers = _routers(owner, needed)
    spikes_gid = np.arange(n)                       # every neuron spikes once
    spikes_step = 100 + (np.arange(n) % 7)          # epoch starts at step 100
    sends = []
    for r in range(size):
        mine = owner[spikes_gid] == r
        local = np.searchsorted(np.flatnonzero(owner == r), spikes_gid[mine])
        sends.append(routers[r].pack(local, spikes_gid[mine], spikes_step[mine] - 100))
    received = _fake_alltoallv(sends)
    total_msgs = 0
    for r in range(size):
        gids, steps = routers[r].unpack(received[r][0], first_step=100)
        expect = np.unique(src[(owner[dst] == r) & (owner[src] != r)])
        np.testing.assert_array_equal(np.sort(gids), expect)   # each needed remote source once
        np.testing.assert_array_equal(steps, 100 + gids % 7)
        total_msgs += gids.size
    # (lambda - 1) volume: for every source, the remote ranks holding one of its targets.
    lam = sum(len(set(owner[dst[src == g]]) - {owner[g]}) for g in range(n))
    assert total_msgs == lam


def test_wire_format_roundtrip_limits():
    r = routing.Router(0, 2, np.array([0, 1, 2, 3]), np.array([1, 1, 1]))
    gids = np.array([3, routing.MAX_GID - 1, 70000])
    buf, counts = r.pack(np.array([0, 2, 1]), gids, np.array([0, routing.MAX_EPOCH - 1, 5]))
    assert counts.tolist() == [0, 3]
    got, steps = routing.Router.unpack(buf, first_step=1000)
    assert got.tolist() == gids.tolist()
    assert steps.tolist() == [1000, 1000 + routing.MAX_EPOCH - 1, 1005]


def test_pack_groups_by_destination_keeping_spike_order():
    # neuron 0 -> ranks 2, 1; neuron 1 -> rank 2; neuron 2 -> nowhere
    r = routing.Router(0, 3, np.array([0, 2, 3, 3]), np.array([1, 2, 2]))
    buf, counts = r.pack(np.array([1, 0, 2]), np.array([11, 10, 12]), np.array([4, 5, 6]))
    assert counts.tolist() == [0, 1, 2]
    got, steps = routing.Router.unpack(buf, 0)
    assert got.tolist() == [10, 11, 10] and steps.tolist() == [5, 4, 5]


def test_single_rank_router_sends_nothing():
    owner = OwnerMap.from_array(np.zeros(10, dtype=np.int64))
    setup = routing.make_router(LocalComm(), owner, np.arange(10), np.arange(10))
    buf, counts = setup.router.pack(np.arange(10), np.arange(10), np.zeros(10, np.int64))
    assert buf.size == 0 and counts.tolist() == [0]
    assert setup.send_to.size == 0 and setup.recv_from.size == 0


def test_owner_map_runs_equal_the_array():
    rng = np.random.default_rng(3)
    owner = np.repeat(rng.integers(0, 5, 40), rng.integers(0, 9, 40))
    m = OwnerMap.from_array(owner)
    assert m.n == owner.size and m.shape == owner.shape
    np.testing.assert_array_equal(m.to_array(), owner)
    gids = rng.integers(0, owner.size, 200)
    np.testing.assert_array_equal(m.of(gids), owner[gids])
    np.testing.assert_array_equal(m[gids], owner[gids])
    for r in range(6):
        np.testing.assert_array_equal(m.owned(r), np.flatnonzero(owner == r))
    np.testing.assert_array_equal(m.counts(6), np.bincount(owner, minlength=6))
    assert (np.diff(m.ranks) != 0).all()            # neighbouring runs merged
    assert m.nbytes == 20 * m.starts.size           # starts, ends (int64), ranks (int32)


def test_owner_map_of_chunks_holds_one_run_per_chunk_not_per_neuron():
    # 10^8 neurons in 1,024 ranks x 8 chunks: kilobytes, not 800 MB.
    parts = np.repeat(np.arange(1024), 8)[np.random.default_rng(0).permutation(8192)]
    sizes = np.full(8192, 100_000_000 // 8192)
    sizes[-1] += 100_000_000 - sizes.sum()
    m = OwnerMap.from_runs(parts, sizes)
    assert m.n == 100_000_000 and m.nbytes <= 20 * 8192
    assert m.of(np.array([0, 99_999_999])).tolist() == [parts[0], parts[-1]]
    assert m.counts(1024).sum() == 100_000_000


def test_pack_into_preallocated_buffers_equals_pack_and_reports_what_does_not_fit():
    """The engine's path for fused one-step epochs: the same messages and counts as
    ``pack``, local positions found from the owned gids; a buffer too small is left
    untouched and the number needed is returned."""
    owned = np.array([10, 11, 12, 40])
    r = routing.Router(0, 3, np.array([0, 2, 3, 3, 4]), np.array([1, 2, 2, 1], np.int32))
    gids, steps = np.array([11, 10, 12, 40]), np.array([104, 105, 106, 106])
    buf, counts = r.pack(np.searchsorted(owned, gids), gids, steps - 100)
    small, got_counts = np.full(3, -7, np.int64), np.full(3, 99, np.int64)
    assert r.pack_into(owned, gids, steps, 100, small, got_counts) == buf.size == 4
    assert (small == -7).all()
    out = np.empty(8, np.int64)
    assert r.pack_into(owned, gids, steps, 100, out, got_counts) == 4
    assert out[:4].tolist() == buf.tolist() and got_counts.tolist() == counts.tolist() == [0, 2, 2]
    assert [routing.decode(m, 100) for m in out[:4]] == [(10, 105), (40, 106), (11, 104), (10, 105)]
