"""Routing set-up and the wire format, with N ranks simulated in one process."""

from __future__ import annotations

import numpy as np
import pytest

from distsnn import routing
from distsnn.comm import LocalComm


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
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(size + 1))
    owned_of = [order[bounds[r]:bounds[r + 1]] for r in range(size)]
    asked = _fake_alltoallv([routing.requests(owner, needed_by_rank[r], r, size) for r in range(size)])
    return [routing.Router(r, size, owned_of, *routing.routes(owned_of[r], *asked[r])) for r in range(size)]


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
        local = np.searchsorted(routers[r].owned_of[r], spikes_gid[mine])
        sends.append(routers[r].pack(local, spikes_step[mine] - 100))
    received = _fake_alltoallv(sends)
    total_msgs = 0
    for r in range(size):
        gids, steps = routers[r].unpack(*received[r], first_step=100)
        expect = np.unique(src[(owner[dst] == r) & (owner[src] != r)])
        np.testing.assert_array_equal(np.sort(gids), expect)   # each needed remote source once
        np.testing.assert_array_equal(steps, 100 + gids % 7)
        total_msgs += gids.size
    # (lambda - 1) volume: for every source, the remote ranks holding one of its targets.
    lam = sum(len(set(owner[dst[src == g]]) - {owner[g]}) for g in range(n))
    assert total_msgs == lam


def test_wire_format_roundtrip_limits():
    owned = [np.array([3, 9, 70000]), np.array([1, 2])]
    r = routing.Router(0, 2, owned, np.array([0, 1, 2, 3]), np.array([1, 1, 1]))
    buf, counts = r.pack(np.array([0, 2, 1]), np.array([0, routing.MAX_EPOCH - 1, 5]))
    assert counts.tolist() == [0, 3]
    receiver = routing.Router(1, 2, owned, np.zeros(3, np.int64), np.zeros(0, np.int64))
    gids, steps = receiver.unpack(buf, np.array([3, 0]), first_step=1000)
    assert gids.tolist() == [3, 70000, 9]
    assert steps.tolist() == [1000, 1000 + routing.MAX_EPOCH - 1, 1005]


def test_single_rank_router_sends_nothing():
    owner = np.zeros(10, dtype=np.int64)
    r = routing.make_router(LocalComm(), owner, np.arange(10))
    buf, counts = r.pack(np.arange(10), np.zeros(10, np.int64))
    assert buf.size == 0 and counts.tolist() == [0]
