"""Connection rules: exact counts, target-side invariance, statistics, edge-list files,
and per-synapse values that do not depend on which targets a rank builds."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

from distsnn import Network, build, rng
from distsnn.connectors import (AllToAll, EdgeList, FixedInDegree, FixedOutDegree, FixedProbability,
                                OneToOne)
from distsnn.distributions import Normal, Uniform
from distsnn.synapses import QUANTUM

KEY = rng.stream_key(1234, "conn:test")


def connect(conn, n_pre, n_post, targets, same=False, pre_gid0=0, post_gid0=0, key=KEY):
    targets = np.asarray(targets, dtype=np.int64)
    if same:
        pre_gid0 = post_gid0
    return conn.connect(key, n_pre, n_post, targets, pre_gid0, post_gid0, same)


def per_target(syn) -> dict[int, list[int]]:
    """Sources of each target, in generation order."""
    out: dict[int, list[int]] = {}
    for pre, post in zip(syn.pre.tolist(), syn.post.tolist()):
        out.setdefault(post, []).append(pre)
    return out


def grouped_in_order(syn, targets) -> bool:
    """Synapses come grouped by target, in the order the targets were given."""
    post = syn.post
    if post.size == 0:
        return True
    starts = np.flatnonzero(np.r_[True, post[1:] != post[:-1]])
    runs = post[starts]
    if np.unique(runs).size != runs.size:
        return False
    pos = {t: i for i, t in enumerate(np.asarray(targets).tolist())}
    order = [pos[t] for t in runs.tolist()]
    return order == sorted(order)


# -- exact counts ---------------------------------------------------------------------

def test_all_to_all_counts_and_edge_ids():
    syn = connect(AllToAll(), 7, 5, np.arange(5))
    assert syn.pre.size == 35
    assert len(set(zip(syn.pre.tolist(), syn.post.tolist()))) == 35
    np.testing.assert_array_equal(syn.edge_id, syn.pre * 5 + syn.post)
    same = connect(AllToAll(), 6, 6, np.arange(6), same=True)
    assert same.pre.size == 36 and np.sum(same.pre == same.post) == 6
    no_self = connect(AllToAll(autapses=False), 6, 6, np.arange(6), same=True)
    assert no_self.pre.size == 30 and not np.any(no_self.pre == no_self.post)
    assert len(set(zip(no_self.pre.tolist(), no_self.post.tolist()))) == 30
    np.testing.assert_array_equal(no_self.edge_id, no_self.pre * 6 + no_self.post)
    # autapses=False only matters within one population.
    assert connect(AllToAll(autapses=False), 6, 6, np.arange(6), same=False).pre.size == 36


def test_one_to_one():
    syn = connect(OneToOne(), 9, 9, [4, 0, 7])
    np.testing.assert_array_equal(syn.pre, [4, 0, 7])
    np.testing.assert_array_equal(syn.post, [4, 0, 7])
    np.testing.assert_array_equal(syn.edge_id, [4, 0, 7])


@pytest.mark.parametrize("multapses,autapses", [(True, True), (False, True), (True, False), (False, False)])
def test_fixed_indegree_counts(multapses, autapses):
    n, k = 40, 12
    syn = connect(FixedInDegree(k, multapses=multapses, autapses=autapses), n, n, np.arange(n), same=True)
    np.testing.assert_array_equal(np.bincount(syn.post, minlength=n), np.full(n, k))
    assert syn.pre.min() >= 0 and syn.pre.max() < n
    pairs = list(zip(syn.pre.tolist(), syn.post.tolist()))
    if not multapses:
        assert len(set(pairs)) == len(pairs)
    if not autapses:
        assert not np.any(syn.pre == syn.post)


def test_fixed_indegree_multapses_and_autapses_really_happen():
    # k > pool: with multapses a target must repeat a source (pigeonhole).
    syn = connect(FixedInDegree(15), 10, 4, np.arange(4))
    for srcs in per_target(syn).values():
        assert len(srcs) == 15 and len(set(srcs)) < 15
    # Without multapses and without autapses, k = n - 1 takes every other neuron once.
    n = 9
    syn = connect(FixedInDegree(n - 1, multapses=False, autapses=False), n, n, np.arange(n), same=True)
    for t, srcs in per_target(syn).items():
        assert sorted(srcs) == [i for i in range(n) if i != t]
    # With autapses and k = n (no multapses), every target includes itself.
    syn = connect(FixedInDegree(n, multapses=False, autapses=True), n, n, np.arange(n), same=True)
    for t, srcs in per_target(syn).items():
        assert sorted(srcs) == list(range(n))


@pytest.mark.parametrize("multapses,autapses", [(True, True), (False, True), (False, False)])
def test_fixed_outdegree_counts(multapses, autapses):
    n, k = 30, 8
    syn = connect(FixedOutDegree(k, multapses=multapses, autapses=autapses), n, n, np.arange(n), same=True)
    np.testing.assert_array_equal(np.bincount(syn.pre, minlength=n), np.full(n, k))
    pairs = list(zip(syn.pre.tolist(), syn.post.tolist()))
    if not multapses:
        assert len(set(pairs)) == len(pairs)
    if not autapses:
        assert not np.any(syn.pre == syn.post)
    # Different populations: every source has k targets in [0, n_post).
    syn = connect(FixedOutDegree(k, multapses=multapses), 17, 11, np.arange(11))
    np.testing.assert_array_equal(np.bincount(syn.pre, minlength=17), np.full(17, k))
    assert syn.post.max() < 11


def test_fixed_probability_extremes():
    assert connect(FixedProbability(0.0), 20, 10, np.arange(10)).pre.size == 0
    full = connect(FixedProbability(1.0), 20, 10, np.arange(10))
    assert full.pre.size == 200 and len(set(zip(full.pre.tolist(), full.post.tolist()))) == 200
    no_self = connect(FixedProbability(1.0, autapses=False), 10, 10, np.arange(10), same=True)
    assert no_self.pre.size == 90 and not np.any(no_self.pre == no_self.post)


def test_fixed_probability_tiny_p_gives_valid_indices():
    # A skip larger than int64 must end the row, not wrap to a negative source index.
    for p in (1e-20, 1e-300):
        syn = connect(FixedProbability(p), 100, 50, np.arange(50))
        assert syn.pre.size == 0


@pytest.mark.parametrize("p", [0.02, 0.3, 0.9])
def test_fixed_probability_statistics(p):
    n_pre, n_post = 300, 400
    syn = connect(FixedProbability(p), n_pre, n_post, np.arange(n_post))
    # Sources ascend within a target (geometric skipping) and are distinct.
    for srcs in per_target(syn).values():
        assert all(a < b for a, b in zip(srcs, srcs[1:]))
    total = n_pre * n_post
    assert abs(syn.pre.size - total * p) < 5 * math.sqrt(total * p * (1 - p))
    counts = np.bincount(syn.post, minlength=n_post)
    var = n_pre * p * (1 - p)
    # Sample variance of n_post binomials: sd ~ var * sqrt(2 / (n - 1)) (plus a small
    # excess-kurtosis term, covered by the 5 sigma margin).
    kurt = (1 - 6 * p * (1 - p)) / var
    sd_var = var * math.sqrt(2 / (n_post - 1) + kurt / n_post)
    assert abs(counts.var(ddof=1) - var) < 5 * sd_var
    # Every source is equally likely.
    src = np.bincount(syn.pre, minlength=n_pre)
    chi2 = np.sum((src - n_post * p) ** 2) / (n_post * p * (1 - p))
    assert abs(wilson_hilferty(chi2, n_pre)) < 5


def test_fixed_probability_without_autapses_mean():
    n, p = 300, 0.2
    syn = connect(FixedProbability(p, autapses=False), n, n, np.arange(n), same=True)
    assert not np.any(syn.pre == syn.post)
    total = n * (n - 1)
    assert abs(syn.pre.size - total * p) < 5 * math.sqrt(total * p * (1 - p))


def wilson_hilferty(x: float, df: int) -> float:
    """A chi-square value as an (approximately) standard normal z."""
    return ((x / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))


def test_fixed_indegree_without_multapses_samples_uniformly():
    n, k, n_targets = 50, 20, 3000
    syn = connect(FixedInDegree(k, multapses=False), n, n_targets, np.arange(n_targets))
    freq = np.bincount(syn.pre, minlength=n)
    # Each target includes a source with probability q = k / n; indicators within a
    # target have covariance q (1 - q) n / (n - 1) (I - 11'/n), so this is chi2(n - 1).
    q = k / n
    chi2 = np.sum((freq - n_targets * q) ** 2) / (n_targets * q * (1 - q) * n / (n - 1))
    assert abs(wilson_hilferty(chi2, n - 1)) < 5
    # The draw position carries no bias either: the first source of each target is uniform.
    first = np.bincount(syn.pre[::k], minlength=n)
    chi2 = np.sum((first - n_targets / n) ** 2) / (n_targets / n)
    assert abs(wilson_hilferty(chi2, n - 1)) < 5
    # Pairs of sources are uniform too: how often sources 0 and 1 share a target.
    both = sum(1 for s in per_target(syn).values() if 0 in s and 1 in s)
    p2 = k * (k - 1) / (n * (n - 1))
    assert abs(both - n_targets * p2) < 5 * math.sqrt(n_targets * p2 * (1 - p2))


def test_fixed_indegree_with_multapses_is_uniform_with_replacement():
    n, k, n_targets = 40, 30, 2000
    syn = connect(FixedInDegree(k, autapses=False), n, n, np.arange(n), same=True)
    assert not np.any(syn.pre == syn.post)
    syn = connect(FixedInDegree(k), n, n_targets, np.arange(n_targets))
    freq = np.bincount(syn.pre, minlength=n)
    e = n_targets * k / n
    assert abs(wilson_hilferty(np.sum((freq - e) ** 2) / e, n - 1)) < 5
    # With replacement: repeats happen as often as a multinomial predicts.
    distinct = np.array([len(set(s)) for s in per_target(syn).values()])
    mean_distinct = n * (1 - (1 - 1 / n) ** k)
    assert abs(distinct.mean() - mean_distinct) < 5 * distinct.std() / math.sqrt(n_targets)


# -- target-side invariance -----------------------------------------------------------

RULES = [
    ("all_to_all", AllToAll(autapses=False)),
    ("one_to_one", OneToOne()),
    ("fixed_probability", FixedProbability(0.15, autapses=False)),
    ("fixed_indegree", FixedInDegree(7, multapses=False, autapses=False)),
    ("fixed_indegree_multi", FixedInDegree(9)),
    ("fixed_outdegree", FixedOutDegree(6, multapses=False, autapses=False)),
    ("fixed_outdegree_multi", FixedOutDegree(6)),
    ("edge_list", EdgeList(np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 0]),
                           np.array([2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4, 5]))),
]


@pytest.mark.parametrize("name,conn", RULES, ids=[r[0] for r in RULES])
def test_same_synapses_whatever_subset_or_order_of_targets(name, conn):
    n = 23
    gid0 = 100  # the population does not start at gid 0
    whole = connect(conn, n, n, np.arange(n), same=True, post_gid0=gid0)
    reference = per_target(whole)
    assert grouped_in_order(whole, np.arange(n))
    assert sum(map(len, reference.values())) > 0

    def check(target_lists):
        got: dict[int, list[int]] = {}
        for targets in target_lists:
            syn = connect(conn, n, n, targets, same=True, post_gid0=gid0)
            assert grouped_in_order(syn, targets)
            assert set(syn.post.tolist()) <= set(np.asarray(targets).tolist())
            for t, srcs in per_target(syn).items():
                assert t not in got
                got[t] = srcs
        assert got == reference

    check([np.arange(n)[: n // 2], np.arange(n)[n // 2:]])
    perm = np.random.default_rng(0).permutation(n)
    check([perm])
    check([np.array([t]) for t in range(n)])
    check([perm[:5], perm[5:6], perm[6:]])
    check([np.arange(n)[::-1]])


def test_different_projection_keys_give_different_random_connectivity():
    a = connect(FixedInDegree(5), 50, 20, np.arange(20), key=rng.stream_key(1, "conn:a"))
    b = connect(FixedInDegree(5), 50, 20, np.arange(20), key=rng.stream_key(1, "conn:b"))
    c = connect(FixedInDegree(5), 50, 20, np.arange(20), key=rng.stream_key(2, "conn:a"))
    assert not np.array_equal(a.pre, b.pre) and not np.array_equal(a.pre, c.pre)
    # ... and the target's gid keys its draws: the same index in a population that
    # starts elsewhere gets other sources.
    d = connect(FixedInDegree(5), 50, 20, np.arange(20), post_gid0=20, key=rng.stream_key(1, "conn:a"))
    assert not np.array_equal(a.pre, d.pre)


# -- edge lists -----------------------------------------------------------------------

def edge_data(seed=5, m=60, n_pre=12, n_post=9):
    g = np.random.default_rng(seed)
    return {"pre": g.integers(0, n_pre, m), "post": g.integers(0, n_post, m),
            "weight": g.normal(0.0, 1.0, m), "delay": g.uniform(0.1, 5.0, m)}


def write_edges(tmp_path, data):
    paths = {}
    p = tmp_path / "edges.csv"
    with open(p, "w") as fh:
        fh.write("# an edge list\n pre , post,weight,delay\n\n")
        for i in range(data["pre"].size):
            fh.write(f"{data['pre'][i]},{data['post'][i]},{float(data['weight'][i])!r},"
                     f"{float(data['delay'][i])!r}\n")
    paths["csv"] = p
    p = tmp_path / "edges.npz"
    np.savez(p, **data)
    paths["npz"] = p
    for ext in ("h5", "hdf5"):
        p = tmp_path / f"edges.{ext}"
        with h5py.File(p, "w") as f:
            for k, v in data.items():
                f[k] = v
        paths[ext] = p
    return paths


def test_edge_list_files_give_the_same_synapses_as_arrays(tmp_path):
    data = edge_data()
    from_arrays = EdgeList(data["pre"], data["post"], data["weight"], data["delay"])
    for ext, path in write_edges(tmp_path, data).items():
        el = EdgeList.from_file(str(path))
        assert el == from_arrays, ext
        for col in ("pre", "post", "weight", "delay"):
            np.testing.assert_array_equal(getattr(el, col), data[col], err_msg=f"{ext} {col}")
        targets = np.array([5, 0, 8, 3])
        a = connect(from_arrays, 12, 9, targets)
        b = connect(el, 12, 9, targets)
        for f in ("pre", "post", "edge_id"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    # Rows are kept in file order within a target; edge_id points back to the row.
    syn = connect(from_arrays, 12, 9, np.arange(9))
    np.testing.assert_array_equal(data["pre"][syn.edge_id], syn.pre)
    np.testing.assert_array_equal(data["post"][syn.edge_id], syn.post)
    for t in range(9):
        np.testing.assert_array_equal(syn.edge_id[syn.post == t], np.flatnonzero(data["post"] == t))


def test_edge_list_without_weight_and_delay_columns(tmp_path):
    p = tmp_path / "pairs.csv"
    p.write_text("pre,post\n0,1\n2,0\n")
    el = EdgeList.from_file(str(p))
    assert el.weight is None and el.delay is None
    np.testing.assert_array_equal(el.pre, [0, 2])


def test_edge_list_through_network_build_uses_columns(tmp_path):
    data = edge_data()
    path = write_edges(tmp_path, data)["h5"]
    net = Network(dt=0.1)
    net.add_population("a", 12)
    net.add_population("b", 9)
    net.add_projection("a", "b", {"rule": "edge_list", "file": str(path)})
    table = synapses_of(net, np.arange(net.size))
    expected = sorted(zip(data["pre"].tolist(), (data["post"] + 12).tolist(), ["delta"] * 60,
                          np.floor(data["delay"] / 0.1 + 0.5).astype(int).tolist(),
                          np.rint(data["weight"] / QUANTUM).astype(np.int64).tolist()))
    assert table == expected


# -- per-synapse values independent of the owned subset -------------------------------

def synapses_of(net: Network, owned: np.ndarray) -> list[tuple]:
    """(source gid, target gid, channel label, delay steps, weight quanta), sorted."""
    pops = build.local_populations(net, np.asarray(owned, dtype=np.int64))
    table = build.synapse_table(net, pops)
    out = []
    for s, port, d, w in zip(*(a.tolist() for a in table.expand())):
        for p in pops:
            if p.port0 <= port < p.port0 + len(p.channels) * p.n:
                c, i = divmod(port - p.port0, p.n)
                out.append((s, int(p.gids[i]), p.channels[c].label(), d, w))
                break
        else:
            raise AssertionError(f"port {port} belongs to no population")
    return sorted(out)


def value_network() -> tuple[Network, np.ndarray]:
    net = Network(dt=0.1, seed=77)
    net.add_population("a", 30)
    net.add_population("b", 25)
    W = np.arange(25 * 30, dtype=float).reshape(25, 30) / 100.0
    net.add_projection("a", "b", FixedInDegree(6, multapses=False),
                       weight=Normal(0.5, 0.2, low=0.1, high=0.9), delay=Uniform(0.1, 3.0), name="ab")
    net.add_projection("b", "b", FixedProbability(0.2, autapses=False), {"kind": "exp", "tau": 3.0},
                       weight=Uniform(-20.0, -5.0), delay=Normal(1.5, 0.5, low=0.2), name="bb")
    net.add_projection("a", "a", FixedOutDegree(4), weight={"dist": "lognormal", "mu": -1.0, "sigma": 0.5},
                       delay=Uniform(0.5, 1.0), name="aa")
    net.add_projection("b", "a", AllToAll(), {"kind": "exp", "tau": 5.0}, weight=W, delay=0.7, name="ba")
    return net, W


def test_weights_and_delays_identical_whatever_targets_are_owned():
    net, W = value_network()
    n = net.size
    full = synapses_of(net, np.arange(n))
    assert len(full) > 0
    g = np.random.default_rng(1)
    for parts in ([np.arange(n)[::2], np.arange(n)[1::2]],
                  np.array_split(g.permutation(n), 3),
                  np.array_split(np.arange(n), 7),
                  [np.array([i]) for i in range(n)]):
        merged = sorted(s for part in parts for s in synapses_of(net, np.sort(part)))
        assert merged == full
    # The values really are drawn per synapse (not one constant) and lie in their bounds.
    ab = np.array([s[4] for s in full if s[0] < 30 and s[1] >= 30]) * QUANTUM
    assert np.unique(ab).size > 100 and ab.min() >= 0.1 - QUANTUM and ab.max() <= 0.9 + QUANTUM
    bb_delays = np.array([s[3] for s in full if s[0] >= 30 and s[1] >= 30])
    assert bb_delays.min() >= 2 and np.unique(bb_delays).size > 10
    # Array weights of an all_to_all projection index as weight[pre, post].
    ba = [s for s in full if s[0] >= 30 and s[1] < 30]
    assert len(ba) == 25 * 30
    for s, t, label, d, w in ba:
        assert label == "exp(tau=5)" and d == 7
        assert w == np.rint(W[s - 30, t] / QUANTUM)


def test_values_change_with_seed():
    net, _ = value_network()
    other = Network(dt=0.1, seed=78)
    for p in net.populations.values():
        other.add_population(p.name, p.size)
    for pr in net.projections.values():
        other.add_projection(pr.pre, pr.post, pr.connector, pr.synapse, pr.weight, pr.delay, pr.name)
    a = synapses_of(net, np.arange(net.size))
    b = synapses_of(other, np.arange(net.size))
    assert a != b
    # The deterministic all_to_all part is the same.
    assert [s for s in a if s[0] >= 30 and s[1] < 30] == [s for s in b if s[0] >= 30 and s[1] < 30]


def test_local_populations_accepts_owned_gids_in_any_order():
    """``owned`` is a set of gids: listing them in another order must build the same synapses."""
    net, _ = value_network()
    n = net.size
    reference = synapses_of(net, np.arange(n))
    shuffled = np.random.default_rng(0).permutation(n)
    assert synapses_of(net, shuffled) == reference
    assert synapses_of(net, shuffled[: n // 2]) == synapses_of(net, np.sort(shuffled[: n // 2]))
