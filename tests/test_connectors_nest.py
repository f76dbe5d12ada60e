"""NEST's fixed_total_number, pairwise Bernoulli flags and the spatial connector: counts,
distributions (tolerances from the binomial s.d.), distance profiles, target-subset
invariance and TOML round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest

import distsnn as ds
from distsnn import rng
from distsnn.connectors import FixedProbability, FixedTotalNumber
from distsnn.discrete import binomial_at as _binomial
from distsnn.spatial import Grid, Random, Spatial

from .mpi.launch import mpirun, needs_mpi, plain
from .test_models_mixed import same

KEY = rng.stream_key(99, "conn:test")


def per_target(syn) -> dict[int, list]:
    out: dict[int, list] = {}
    for i, (pre, post) in enumerate(zip(syn.pre.tolist(), syn.post.tolist())):
        extra = tuple(float(v[i]) for v in (syn.weight, syn.delay) if v is not None)
        out.setdefault(post, []).append((pre,) + extra)
    return out


def subsets_agree(conn, n_pre, n_post, same, pre0=0, post0=0) -> int:
    """Build all targets at once and in three interleaved subsets; each target must get
    the same synapses in the same order. Returns the number of synapses."""
    whole = conn.connect(KEY, n_pre, n_post, np.arange(n_post), pre0, post0, same)
    ref = per_target(whole)
    parts = {}
    for r in range(3):
        sub = np.arange(r, n_post, 3)[::-1].copy()   # unordered on purpose
        parts.update(per_target(conn.connect(KEY, n_pre, n_post, sub, pre0, post0, same)))
    assert parts == ref
    return whole.pre.size


# -- fixed total number ---------------------------------------------------------------

@pytest.mark.parametrize("n,p", [(10, 0.3), (1000, 0.05), (40, 0.97), (10**7, 2e-4)])
def test_binomial_sampler_moments(n, p):
    u = rng.uniform(rng.stream_key(5, "binom"), np.arange(20000), 1)
    x = np.array([_binomial(v, n, p) for v in u], dtype=float)
    mean, var = n * p, n * p * (1 - p)
    assert x.min() >= 0 and x.max() <= n
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / x.size)
    # The sample variance of 20,000 draws has a relative s.e. of about sqrt(2 / 20000).
    assert abs(x.var() / var - 1) < 5 * math.sqrt(2.0 / x.size) + 3.0 / (n * p * (1 - p))


def test_binomial_sampler_pmf():
    n, p = 12, 0.35
    u = rng.uniform(rng.stream_key(6, "binom"), np.arange(40000), 1)
    freq = np.bincount([_binomial(v, n, p) for v in u], minlength=n + 1) / u.size
    pmf = np.array([math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)])
    assert np.all(np.abs(freq - pmf) <= 5 * np.sqrt(pmf * (1 - pmf) / u.size) + 1e-12)
    assert _binomial(0.5, 0, 0.3) == 0 and _binomial(0.99, 7, 1.0) == 7 and _binomial(0.99, 7, 0.0) == 0


@pytest.mark.parametrize("autapses", [True, False])
def test_fixed_total_number_counts_and_invariance(autapses):
    n_pop, total = 300, 9000
    conn = FixedTotalNumber(total, autapses=autapses)
    assert subsets_agree(conn, n_pop, n_pop, same=True, pre0=10, post0=10) == total
    syn = conn.connect(KEY, n_pop, n_pop, np.arange(n_pop), 10, 10, True)
    if not autapses:
        assert not np.any(syn.pre == syn.post)
    else:
        assert np.any(syn.pre == syn.post)   # 30 expected self pairs
    # Multapses occur as NEST draws them: 9000 draws over 90,000 pairs repeat some.
    pairs = syn.pre * n_pop + syn.post
    assert np.unique(pairs).size < total


def test_fixed_total_number_distribution():
    """Per-target counts are Multinomial(N; 1/n_post): mean N/n_post, variance
    N/n_post (1 - 1/n_post); sources are uniform (chi-square)."""
    n_pre, n_post, total = 400, 2000, 200_000
    conn = FixedTotalNumber(total)
    k = conn.counts(KEY, n_post)
    assert k.sum() == total
    p = 1.0 / n_post
    var = total * p * (1 - p)
    assert abs(k.mean() - total * p) < 1e-12
    # Sample variance of 2000 near-independent counts: relative s.e. sqrt(2 / 2000).
    assert abs(k.var() / var - 1) < 5 * math.sqrt(2.0 / n_post)
    syn = conn.connect(KEY, n_pre, n_post, np.arange(n_post), 0, n_pre, False)
    np.testing.assert_array_equal(np.bincount(syn.post, minlength=n_post), k)
    hist = np.bincount(syn.pre, minlength=n_pre)
    expected = total / n_pre
    chi2 = float(((hist - expected) ** 2 / expected).sum())
    dof = n_pre - 1
    assert abs(chi2 - dof) < 5 * math.sqrt(2 * dof)
    # Another projection key gives other counts.
    assert not np.array_equal(conn.counts(rng.stream_key(99, "conn:other"), n_post), k)


def test_fixed_total_number_simulated_counts_and_graph():
    net = ds.Network(seed=4)
    net.add_population("a", 120)
    net.add_population("b", 80)
    net.add_projection("a", "b", {"rule": "fixed_total_number", "N": 5000}, weight=0.1, delay=1.0)
    net.add_projection("b", "b", FixedTotalNumber(700, autapses=False), weight=0.1, delay=1.0)
    sim = ds.Simulation(net)
    assert sim.n_synapses == 5700
    from distsnn import graph

    assert graph.expected_synapses(net) == pytest.approx(5700)


def test_fixed_total_number_bad_input():
    net = ds.Network()
    net.add_population("a", 5)
    with pytest.raises(ValueError, match=r"Projection 'a_a': connector.multapses must be true for "
                                         r"fixed_total_number .* got false"):
        net.add_projection("a", "a", FixedTotalNumber(3, multapses=False), weight=1.0, delay=1.0)
    with pytest.raises(ValueError, match=r"Projection 'a_a': connector.n must be .*>= 0.*-1"):
        net.add_projection("a", "a", {"rule": "fixed_total_number", "n": -1}, weight=1.0, delay=1.0)
    with pytest.raises(ValueError, match=r"connector.n is required"):
        net.add_projection("a", "a", {"rule": "fixed_total_number"}, weight=1.0, delay=1.0)
    with pytest.raises(ValueError, match=r"connector.autapses is given twice"):
        net.add_projection("a", "a", {"rule": "fixed_total_number", "n": 1, "autapses": True,
                                      "allow_autapses": False}, weight=1.0, delay=1.0)
    net.add_population("one", 1)
    with pytest.raises(ValueError, match=r"connector.n = 2 but there is no neuron to draw from"):
        net.add_projection("one", "one", FixedTotalNumber(2, autapses=False), weight=1.0, delay=1.0)


# -- pairwise Bernoulli flags -----------------------------------------------------------

def test_pairwise_bernoulli_names_and_flags():
    net = ds.Network()
    net.add_population("a", 50)
    pr = net.add_projection("a", "a", {"rule": "pairwise_bernoulli", "p": 0.2, "allow_autapses": False,
                                       "allow_multapses": False}, weight=1.0, delay=1.0)
    assert pr.connector == FixedProbability(0.2, autapses=False, multapses=False)
    # Each pair is tried once: the multapses flag cannot change the synapses.
    a = FixedProbability(0.3, autapses=False).connect(KEY, 50, 50, np.arange(50), 0, 0, True)
    b = FixedProbability(0.3, autapses=False, multapses=False).connect(KEY, 50, 50, np.arange(50), 0, 0, True)
    np.testing.assert_array_equal(a.pre, b.pre)
    np.testing.assert_array_equal(a.post, b.post)
    assert np.unique(a.pre * 50 + a.post).size == a.pre.size and not np.any(a.pre == a.post)
    again = ds.loads(ds.dumps(net))
    assert again == net and again.projections["a_a"].connector.multapses is False


# -- spatial ----------------------------------------------------------------------------

def test_grid_positions_follow_nest_order():
    g = Grid((3, 2), extent=(3.0, 2.0), center=(1.0, 0.0))
    pos = g.coordinates(0, "x", 0, np.arange(6))
    # Column-major, rows from the top: neuron 0 top-left, neuron 1 below it.
    np.testing.assert_allclose(pos, [[0.0, 0.5], [0.0, -0.5], [1.0, 0.5], [1.0, -0.5], [2.0, 0.5], [2.0, -0.5]])
    g3 = Grid((2, 2, 2), extent=(2.0, 2.0, 2.0))
    p3 = g3.coordinates(0, "x", 0, np.arange(8))
    np.testing.assert_allclose(p3[:2], [[-0.5, 0.5, -0.5], [-0.5, 0.5, 0.5]])


def test_random_positions_keyed_and_in_box():
    r = Random((2.0, 1.0, 4.0), center=(1.0, 0.0, 0.0))
    whole = r.coordinates(7, "p", 100, np.arange(500))
    part = r.coordinates(7, "p", 100, np.array([499, 3]))
    np.testing.assert_array_equal(part, whole[[499, 3]])
    assert whole.shape == (500, 3)
    assert np.all(whole >= [0.0, -0.5, -2.0]) and np.all(whole < [2.0, 0.5, 2.0])


def _spatial(layout_pre, layout_post, names=("a", "b"), same=False, **kw) -> Spatial:
    return Spatial(**kw).bind(layout_pre, layout_post, names, KEY[0], (0, 0 if same else 1000))


def _distances(conn, syn, n_pre, n_post, wrap):
    spos = conn.pre_layout.coordinates(KEY[0], conn.names[0], conn.gid0s[0], np.arange(n_pre))
    tpos = conn.post_layout.coordinates(KEY[0], conn.names[1], conn.gid0s[1], np.arange(n_post))
    d = spos[:, None, :] - tpos[None, :, :]
    if wrap:
        ext = conn.pre_layout.box()[0]
        d -= ext * np.floor(d / ext + 0.5)
    return np.sqrt((d ** 2).sum(-1))


@pytest.mark.parametrize("kernel,wrap", [({"kind": "gaussian", "p0": 0.9, "sigma": 0.15}, True),
                                         ({"kind": "exponential", "p0": 0.6, "beta": 0.2}, False),
                                         ({"kind": "linear", "p0": 0.5, "slope": -0.8}, True)])
def test_spatial_distance_profile(kernel, wrap):
    """Connections per distance bin against the sum of p over the pairs in the bin,
    within 4.5 binomial s.d. (sqrt of the sum of p (1 - p))."""
    pre = Random((1.0, 1.0), edge_wrap=wrap)
    post = Grid((20, 20), extent=(1.0, 1.0), edge_wrap=wrap)
    conn = _spatial(pre, post, p=kernel, radius=0.6)
    n_pre, n_post = 600, 400
    syn = conn.connect(KEY, n_pre, n_post, np.arange(n_post), 0, 1000, False)
    D = _distances(conn, syn, n_pre, n_post, wrap)
    P = np.where(D <= 0.6, conn.p(D), 0.0)
    bins = np.linspace(0, 0.6, 13)
    got = np.histogram(D[syn.pre, syn.post], bins)[0]
    exp = np.histogram(D.ravel(), bins, weights=P.ravel())[0]
    sd = np.sqrt(np.histogram(D.ravel(), bins, weights=(P * (1 - P)).ravel())[0])
    assert np.all(np.abs(got - exp) <= 4.5 * sd + 1), (got, exp, sd)
    assert D[syn.pre, syn.post].max() <= 0.6
    if wrap:
        assert D.max() <= math.sqrt(2) / 2 + 1e-12
    graph_expected = conn.expected_counts(n_pre, n_post, False, 1000)
    assert graph_expected.sum() == pytest.approx(P.sum())


def test_spatial_subset_invariance_delays_and_autapses():
    layout = Random((1.0, 1.0, 1.0))
    conn = _spatial(layout, layout, names=("a", "a"), same=True,
                    p={"kind": "gaussian", "p0": 1.0, "sigma": 0.3}, delay={"offset": 0.5, "slope": 2.0},
                    autapses=False)
    n = 250
    assert subsets_agree(conn, n, n, same=True) > 0
    syn = conn.connect(KEY, n, n, np.arange(n), 0, 0, True)
    assert not np.any(syn.pre == syn.post)
    D = _distances(conn, syn, n, n, False)
    np.testing.assert_allclose(syn.delay, 0.5 + 2.0 * D[syn.pre, syn.post], rtol=1e-12)


def test_spatial_network_toml_round_trip_and_build():
    net = ds.Network(dt=0.1, seed=11)
    net.add_population("e", 100, positions=Grid((10, 10), extent=(1.0, 1.0), edge_wrap=True))
    net.add_population("i", 50, positions={"kind": "random", "extent": [1.0, 1.0], "edge_wrap": True})
    net.add_projection("e", "i", Spatial({"kind": "exponential", "p0": 0.7, "beta": 0.2},
                                         delay={"offset": 1.0, "slope": 3.0}), weight=0.2)
    net.add_projection("i", "e", {"rule": "spatial", "p": 0.3, "radius": 0.25}, weight=-0.5, delay=1.5)
    again = ds.loads(ds.dumps(net))
    assert again == net
    assert again.populations["i"].positions == Random((1.0, 1.0), None, True)
    s1, s2 = ds.Simulation(net), ds.Simulation(again)
    assert s1.n_synapses == s2.n_synapses > 0
    np.testing.assert_array_equal(s1.long.expand()[2], s2.long.expand()[2])
    # Delays follow distance: 1 ms + 3 ms per unit over at most sqrt(2)/2 units.
    d = np.concatenate([s1.short.expand()[2], s1.long.expand()[2]])
    assert d.min() >= 10 and d.max() <= round((1.0 + 3.0 * math.sqrt(0.5)) / 0.1)
    assert len(set(d.tolist())) > 5


@pytest.mark.parametrize("spec,positions,msg", [
    ({"rule": "spatial", "p": 0.1}, None, r"Projection 'a_b': a spatial connector needs positions on its pre "
                                          r"population 'a'"),
    ({"rule": "spatial"}, {"kind": "grid", "shape": [2, 2]}, r"connector.p is required"),
    ({"rule": "spatial", "p": {"kind": "gaussian", "sigma": -1.0}}, {"kind": "grid", "shape": [2, 2]},
     r"connector.p.sigma must be > 0.*-1"),
    ({"rule": "spatial", "p": 1.5}, {"kind": "grid", "shape": [2, 2]}, r"connector.p must be in \[0.*1.5"),
    ({"rule": "spatial", "p": 0.1, "delay": {"offset": 0.0}}, {"kind": "grid", "shape": [2, 2]},
     r"connector.delay.offset must be > 0"),
])
def test_spatial_bad_input(spec, positions, msg):
    net = ds.Network()
    net.add_population("a", 4, positions=positions)
    net.add_population("b", 4, positions={"kind": "grid", "shape": [2, 2]})
    with pytest.raises(ValueError, match=msg):
        net.add_projection("a", "b", spec, weight=1.0, delay=1.0 if "delay" not in spec else None)


def test_positions_bad_input():
    net = ds.Network()
    with pytest.raises(ValueError, match=r"Population 'a': positions.shape \[3, 3\] holds 9 neurons, "
                                         r"the population has 4"):
        net.add_population("a", 4, positions={"kind": "grid", "shape": [3, 3]})
    with pytest.raises(ValueError, match=r"positions.extent must be > 0"):
        net.add_population("a", 4, positions={"kind": "random", "extent": [1.0, 0.0]})
    net.add_population("w", 4, positions={"kind": "grid", "shape": [2, 2], "edge_wrap": True})
    net.add_population("f", 4, positions={"kind": "grid", "shape": [2, 2]})
    with pytest.raises(ValueError, match=r"periodic \(edge_wrap\) positions must be set on both"):
        net.add_projection("w", "f", {"rule": "spatial", "p": 0.5}, weight=1.0, delay=1.0)


# -- the new connectors, currents and per-neuron values over MPI ------------------------

def interop_network() -> ds.Network:
    """Fixed-total-number and spatial projections (pairwise and fixed out-degree, distance
    delays, periodic box), DC,
    step and noise currents, per-neuron parameters and random initial conductances."""
    net = ds.Network(dt=0.1, seed=21, t_stop=120.0)
    net.add_population("e", 144, "lif", params=dict(E_L=-65.0, V_th=-50.0, V_reset=-65.0, tau_m=ds.Uniform(8.0, 12.0),
                                                    C_m=250.0, t_ref=[2.0 + 0.1 * (k % 7) for k in range(144)]),
                       initial={"V_m": ds.Uniform(-65.0, -50.0)},
                       positions=Grid((12, 12), extent=(1.0, 1.0), edge_wrap=True))
    net.add_population("i", 40, "lif_cond", params=dict(g_L=[15.0 + 0.1 * k for k in range(40)]),
                       positions=Random((1.0, 1.0), edge_wrap=True))
    net.add_projection("e", "e", Spatial({"kind": "gaussian", "p0": 0.6, "sigma": 0.15},
                                         delay={"offset": 0.5, "slope": 4.0}, autapses=False),
                       {"kind": "exp", "tau": 0.5}, weight=300.0, name="ee")
    net.add_projection("e", "i", FixedTotalNumber(1500), {"kind": "exp", "tau": 2.0, "mode": "conductance",
                                                          "e_rev": 0.0}, weight=3.0, delay=1.0, name="ei")
    net.add_projection("i", "e", {"rule": "fixed_total_number", "N": 2000}, {"kind": "exp", "tau": 0.5},
                       weight=-400.0, delay=ds.Uniform(0.8, 2.0), name="ie")
    net.add_projection("i", "i", {"rule": "pairwise_bernoulli", "p": 0.2, "allow_autapses": False},
                       {"kind": "exp", "tau": 5.0, "mode": "conductance", "e_rev": -80.0}, weight=2.0,
                       delay=0.6, name="ii")
    net.add_projection("i", "e", Spatial({"kind": "exponential", "p0": 1.0, "beta": 0.2}, radius=0.4, outdegree=15,
                                         multapses=False, delay={"offset": 0.7, "slope": 2.0}),
                       {"kind": "exp", "tau": 0.5}, weight=-150.0, name="ie_out")
    net.set_initial("i", "syn:ei", ds.Uniform(0.0, 20.0))
    net.add_current_input("dc", "e", "dc", amplitude=[300.0 + k for k in range(144)])
    net.add_current_input("step", "i", "step", times=[20.0, 60.0], amplitudes=[300.0, 100.0])
    net.add_current_input("noise", "e", "noise", mean=50.0, std=200.0, dt_noise=0.5, std_mod=150.0, frequency=20.0)
    net.add_spike_monitor("e")
    net.add_spike_monitor("i")
    net.add_state_monitor("i", ["V_m", "g_syn"], neurons=[0, 39], interval=1.0)
    return net


@needs_mpi
def test_interop_network_is_rank_invariant(tmp_path):
    path = tmp_path / "interop.toml"
    ds.dump(interop_network(), str(path))
    ref_dir, out = tmp_path / "ref", tmp_path / "mpi"
    proc = plain(["-m", "distsnn.cli", "run", str(path), "--out", str(ref_dir)])
    assert proc.returncode == 0, proc.stderr
    ref = ds.load(str(ref_dir))
    net = interop_network()
    for name, lo in net.offsets().items():
        assert len(ref.spikes.of(lo, lo + net.populations[name].size)) > 20, name
    for ranks, method in ((3, "round_robin"), (2, "metis")):
        proc = mpirun(ranks, ["-m", "distsnn.cli", "run", str(path), "--out", str(out / method),
                              "--partitioner", method])
        assert proc.returncode == 0, proc.stderr
        res = ds.load(str(out / method))
        assert res.summary["ranks"] == ranks
        same(ref, res)


def test_spatial_expected_counts_subsampled_for_large_projections(monkeypatch):
    import distsnn.spatial_loops as sp

    lay = Random((1.0, 1.0))
    conn = _spatial(lay, lay, names=("a", "a"), same=True, p={"kind": "gaussian", "p0": 0.5, "sigma": 0.2})
    exact = conn.expected_counts(300, 300, True, 100)
    monkeypatch.setattr(sp, "EXPECTED_MAX_PAIRS", 300 * 300 // 7)
    approx = conn.expected_counts(300, 300, True, 100)
    assert not np.array_equal(exact, approx)
    np.testing.assert_allclose(approx, exact, rtol=0.1)


@pytest.mark.parametrize("layout,mask", [
    (Random((1.0, 1.0), edge_wrap=True), {"kind": "rectangular", "lower_left": [-0.1, -0.3], "upper_right": [0.2, 0.05]}),
    (Random((1.0, 1.0)), {"kind": "doughnut", "inner_radius": 0.1, "outer_radius": 0.25}),
    (Random((1.0, 2.0, 1.0)), {"kind": "box", "lower_left": [-0.2, -0.5, -0.1], "upper_right": [0.3, 0.0, 0.4]}),
    (Grid((6, 6, 6), extent=(1.0, 1.0, 1.0)), {"kind": "spherical", "radius": 0.35}),
])
def test_spatial_masks_select_exactly_the_pairs_inside(layout, mask):
    """With p = 1 every pair whose source - target displacement lies in the mask is
    connected, and no other."""
    n = 216 if isinstance(layout, Grid) else 300
    conn = _spatial(layout, layout, names=("a", "a"), same=True, p=1.0, mask=mask, autapses=False)
    syn = conn.connect(KEY, n, n, np.arange(n), 0, 0, True)
    pos = layout.coordinates(KEY[0], "a", 0, np.arange(n))
    disp = pos[:, None, :] - pos[None, :, :]            # [source, target]
    if layout.edge_wrap:
        ext = layout.box()[0]
        disp -= ext * np.floor(disp / ext + 0.5)
    d = np.sqrt((disp ** 2).sum(-1))
    m = conn.mask
    if m.kind in ("circular", "spherical"):
        inside = d <= m.radius
    elif m.kind == "doughnut":
        inside = (d >= m.inner_radius) & (d <= m.outer_radius)
    else:
        inside = np.all((disp >= m.lower_left) & (disp <= m.upper_right), axis=-1)
    np.fill_diagonal(inside, False)
    got = np.zeros((n, n), dtype=bool)
    got[syn.pre, syn.post] = True
    np.testing.assert_array_equal(got, inside)
    assert inside.sum() > 50
    assert conn.expected_counts(n, n, True, n).sum() == pytest.approx(inside.sum())


def test_spatial_mask_toml_and_bad_input():
    net = ds.Network()
    net.add_population("a", 9, positions={"kind": "grid", "shape": [3, 3]})
    net.add_projection("a", "a", {"rule": "spatial", "p": 0.5, "mask": {"kind": "doughnut", "inner_radius": 0.5,
                                                                        "outer_radius": 1.5}}, weight=1.0, delay=1.0)
    assert ds.loads(ds.dumps(net)) == net
    for spec, msg in [
        ({"kind": "box", "lower_left": [0, 0, 0], "upper_right": [1, 1, 1]}, r"connector.mask 'box' is 3-D, the "
                                                                             r"positions are 2-D"),
        ({"kind": "rectangular", "lower_left": [0, 0], "upper_right": [1, -1]},
         r"connector.mask.upper_right must exceed lower_left"),
        ({"kind": "doughnut", "inner_radius": 1.0, "outer_radius": 0.5}, r"outer_radius must be > inner_radius"),
        ({"kind": "circular"}, r"connector.mask.radius is required"),
        ({"kind": "ellipse"}, r"connector.mask.kind must be one of"),
    ]:
        with pytest.raises(ValueError, match=msg):
            net.add_projection("a", "a", {"rule": "spatial", "p": 0.5, "mask": spec}, weight=1.0, delay=1.0)
    with pytest.raises(ValueError, match=r"connector takes radius or mask, not both"):
        net.add_projection("a", "a", {"rule": "spatial", "p": 0.5, "radius": 1.0,
                                      "mask": {"kind": "circular", "radius": 1.0}}, weight=1.0, delay=1.0)


@pytest.mark.parametrize("pre,post,mask", [
    (Random((1.0, 1.0), edge_wrap=True), Random((1.0, 1.0), edge_wrap=True), {"kind": "circular", "radius": 0.06}),
    (Random((1.0, 1.0)), Random((0.6, 0.6), center=(0.5, 0.0)), {"kind": "doughnut", "inner_radius": 0.02,
                                                                   "outer_radius": 0.07}),
    (Random((1.0, 1.0, 1.0), edge_wrap=True), Grid((5, 5, 5), extent=(1.0, 1.0, 1.0), edge_wrap=True),
     {"kind": "box", "lower_left": [-0.2, -0.05, -0.1], "upper_right": [0.0, 0.15, 0.1]}),
])
def test_spatial_cells_give_the_same_synapses_as_trying_every_pair(monkeypatch, pre, post, mask):
    import distsnn.spatial_loops as sp

    conn = _spatial(pre, post, p={"kind": "linear", "p0": 0.9, "slope": -3.0}, mask=mask,
                    delay={"offset": 0.2, "slope": 1.0})
    n_pre, n_post = 3000, 125
    fast = conn.connect(KEY, n_pre, n_post, np.arange(n_post), 0, 5000, False)
    assert sp.buckets(np.zeros((n_pre, pre.dim)), np.zeros(pre.dim), pre.box()[0],
                       conn._reach(pre.dim))[2].prod() > 27          # really bucketed
    monkeypatch.setattr(sp, "MAX_CELLS", 1)
    slow = conn.connect(KEY, n_pre, n_post, np.arange(n_post), 0, 5000, False)
    assert fast.pre.size > 100
    np.testing.assert_array_equal(fast.pre, slow.pre)
    np.testing.assert_array_equal(fast.post, slow.post)
    np.testing.assert_array_equal(fast.delay, slow.delay)


def test_free_positions_connect_by_their_distances_and_round_trip():
    from distsnn.spatial import Free

    xyz = np.array([[0.0, 0.0], [0.1, 0.0], [0.5, 0.5], [0.95, 0.0]])
    net = ds.Network(seed=2)
    net.add_population("a", 4, positions={"kind": "free", "coordinates": xyz.tolist(), "extent": [1.0, 1.0],
                                          "center": [0.5, 0.5], "edge_wrap": True})
    net.add_projection("a", "a", Spatial(1.0, radius=0.12, autapses=False), weight=1.0, delay=1.0)
    syn = net.projections["a_a"].connector.connect(KEY, 4, 4, np.arange(4), 0, 0, True)
    # 0-1 (0.1 apart) and, across the periodic edge, 0-3 (0.05 apart); 2 is alone.
    assert sorted(zip(syn.pre.tolist(), syn.post.tolist())) == [(0, 1), (0, 3), (1, 0), (3, 0)]
    assert ds.loads(ds.dumps(net)) == net
    assert Free(xyz).box()[1].tolist() == [0.475, 0.25]
    with pytest.raises(ValueError, match=r"positions.coordinates must have shape \(3, 2\) or \(3, 3\), got \(4, 2\)"):
        net.add_population("b", 3, positions={"kind": "free", "coordinates": xyz.tolist()})
    with pytest.raises(ValueError, match=r"positions.coordinates must lie in the box .* for neuron 3"):
        net.add_population("b", 4, positions={"kind": "free", "coordinates": xyz.tolist(), "extent": [0.9, 1.0],
                                              "center": [0.45, 0.5]})
    with pytest.raises(ValueError, match=r"positions.edge_wrap needs an explicit positions.extent"):
        net.add_population("b", 4, positions={"kind": "free", "coordinates": xyz.tolist(), "edge_wrap": True})


def test_spatial_fixed_indegree_counts_law_and_invariance():
    lay = Random((1.0, 1.0), edge_wrap=True)
    conn = _spatial(lay, lay, names=("a", "a"), same=True, p={"kind": "gaussian", "p0": 1.0, "sigma": 0.1},
                    mask={"kind": "circular", "radius": 0.3}, indegree=12, multapses=False, autapses=False)
    n = 400
    assert subsets_agree(conn, n, n, same=True) == 12 * n
    syn = conn.connect(KEY, n, n, np.arange(n), 0, 0, True)
    np.testing.assert_array_equal(np.bincount(syn.post, minlength=n), np.full(n, 12))
    assert np.unique(syn.pre * n + syn.post).size == syn.pre.size and not np.any(syn.pre == syn.post)
    D = _distances(conn, syn, n, n, True)
    assert D[syn.pre, syn.post].max() <= 0.3
    assert conn.expected_counts(n, n, True, 100).sum() == pytest.approx(12 * n)
    # With multapses, draws are independent with P(j) = p(d_j) / sum p: one target,
    # 20,000 draws, counts per distance bin within 5 multinomial s.d.
    big = _spatial(lay, lay, names=("a", "b"), p={"kind": "exponential", "p0": 1.0, "beta": 0.15},
                   mask={"kind": "circular", "radius": 0.4}, indegree=20000)
    one = big.connect(KEY, n, 1, np.array([0]), 0, 1000, False)
    d = _distances(big, one, n, 1, True)[:, 0]
    w = np.where(d <= 0.4, big.p(d), 0.0)
    bins = np.linspace(0, 0.4, 9)
    got = np.histogram(d[one.pre], bins)[0]
    prob = np.histogram(d, bins, weights=w)[0] / w.sum()
    assert np.all(np.abs(got - 20000 * prob) <= 5 * np.sqrt(20000 * prob * (1 - prob)) + 1), (got, 20000 * prob)


def test_spatial_fixed_indegree_toml_and_too_few_sources():
    net = ds.Network(seed=5)
    net.add_population("a", 25, positions={"kind": "grid", "shape": [5, 5], "extent": [1.0, 1.0]})
    net.add_projection("a", "a", {"rule": "spatial", "p": 1.0, "radius": 0.3, "indegree": 3, "multapses": False,
                                  "autapses": False}, weight=1.0, delay=1.0, name="aa")
    assert ds.loads(ds.dumps(net)) == net
    assert ds.Simulation(net).n_synapses == 75
    net.add_projection("a", "a", {"rule": "spatial", "p": 1.0, "radius": 0.3, "indegree": 5, "multapses": False,
                                  "autapses": False}, weight=1.0, delay=1.0, name="bad")
    # A corner neuron has 3 neighbours within 0.3 (spacing 0.2).
    with pytest.raises(ValueError, match=r"target 0 has fewer than indegree = 5 sources with p > 0 in its mask "
                                         r"\(multapses are off\)"):
        ds.Simulation(net)


def test_spatial_distance_dependent_weights():
    net = ds.Network(seed=3)
    net.add_population("a", 100, positions={"kind": "grid", "shape": [10, 10], "extent": [1.0, 1.0],
                                            "edge_wrap": True})
    spec = {"rule": "spatial", "p": 1.0, "radius": 0.25, "autapses": False,
            "weight": {"scale": -2.0, "kernel": {"kind": "gaussian", "p0": 1.0, "sigma": 0.1}}}
    pr = net.add_projection("a", "a", spec, {"kind": "exp", "tau": 2.0}, delay=1.0)
    assert pr.weight is None and ds.loads(ds.dumps(net)) == net
    syn = pr.connector.connect(KEY, 100, 100, np.arange(100), 0, 0, True)
    d = _distances(pr.connector, syn, 100, 100, True)[syn.pre, syn.post]
    np.testing.assert_allclose(syn.weight, -2.0 * np.exp(-0.5 * (d / 0.1) ** 2), rtol=1e-12)
    sim = ds.Simulation(net)
    w = np.sort(np.concatenate([t.expand()[3] for t in (sim.short, sim.long)])) * 2.0 ** -36
    assert w.min() >= -2.0 and w.max() < 0 and len(np.unique(np.round(w, 9))) >= 3
    with pytest.raises(ValueError, match=r"weight is given twice"):
        net.add_projection("a", "a", spec, {"kind": "exp", "tau": 2.0}, weight=1.0, delay=1.0)
    net.add_population("c", 100, "lif_cond", positions={"kind": "grid", "shape": [10, 10], "extent": [1.0, 1.0],
                                                        "edge_wrap": True})
    with pytest.raises(ValueError, match=r"weight must be >= 0 nS .* got values down to -2.0"):
        net.add_projection("a", "c", spec, {"kind": "exp", "tau": 2.0, "mode": "conductance", "e_rev": 0.0},
                           delay=1.0)


def test_spatial_fixed_outdegree_counts_law_and_invariance(monkeypatch):
    """NEST's spatial fixed_outdegree: every source gets exactly K targets inside the mask
    centred on it (no repeats, no autapses here), the same synapses whichever targets a
    rank builds and however the sources are blocked; with multapses the draws follow
    P(target) = p(d) / sum p."""
    import distsnn.spatial as sp

    lay = Random((1.0, 1.0), edge_wrap=True)
    conn = _spatial(lay, lay, names=("a", "a"), same=True, p={"kind": "gaussian", "p0": 1.0, "sigma": 0.1},
                    mask={"kind": "circular", "radius": 0.3}, outdegree=12, multapses=False, autapses=False)
    n = 400
    assert subsets_agree(conn, n, n, same=True) == 12 * n
    syn = conn.connect(KEY, n, n, np.arange(n), 0, 0, True)
    np.testing.assert_array_equal(np.bincount(syn.pre, minlength=n), np.full(n, 12))
    assert np.all(np.diff(syn.post) >= 0)                 # grouped by target
    assert np.unique(syn.pre * n + syn.post).size == syn.pre.size and not np.any(syn.pre == syn.post)
    D = _distances(conn, syn, n, n, True)
    assert D[syn.pre, syn.post].max() <= 0.3
    assert np.bincount(syn.post, minlength=n).std() > 1     # in-degrees vary: not an in-degree rule
    assert conn.expected_counts(n, n, True, 100).sum() == pytest.approx(12 * n)
    monkeypatch.setattr(sp, "OUT_BLOCK", 7 * 12 + 5)          # blocks of 7 sources
    again = conn.connect(KEY, n, n, np.arange(n), 0, 0, True)
    np.testing.assert_array_equal(again.pre, syn.pre)
    np.testing.assert_array_equal(again.post, syn.post)
    # An asymmetric (box) mask is centred on the source: targets lie at displacements
    # target - source inside it (NEST's convention for fixed_outdegree).
    box = _spatial(lay, lay, names=("a", "b"), p=1.0, outdegree=5,
                   mask={"kind": "rectangular", "lower_left": [0.0, -0.1], "upper_right": [0.3, 0.1]})
    bs = box.connect(KEY, n, n, np.arange(n), 0, 1000, False)
    spos = lay.coordinates(KEY[0], "a", 0, np.arange(n))
    tpos = lay.coordinates(KEY[0], "b", 1000, np.arange(n))
    disp = tpos[bs.post] - spos[bs.pre]
    disp -= np.floor(disp + 0.5)
    assert bs.pre.size == 5 * n and disp[:, 0].min() >= 0 and disp[:, 0].max() <= 0.3
    assert np.abs(disp[:, 1]).max() <= 0.1
    # With multapses, draws are independent with P(j) = p(d_j) / sum p: one source,
    # 20,000 draws, counts per distance bin within 5 multinomial s.d.
    big = _spatial(lay, lay, names=("a", "b"), p={"kind": "exponential", "p0": 1.0, "beta": 0.15},
                   mask={"kind": "circular", "radius": 0.4}, outdegree=20000)
    one = big.connect(KEY, 1, n, np.arange(n), 0, 1000, False)
    d = _distances(big, one, 1, n, True)[0]
    w = np.where(d <= 0.4, big.p(d), 0.0)
    bins = np.linspace(0, 0.4, 9)
    got = np.histogram(d[one.post], bins)[0]
    prob = np.histogram(d, bins, weights=w)[0] / w.sum()
    assert one.pre.size == 20000
    assert np.all(np.abs(got - 20000 * prob) <= 5 * np.sqrt(20000 * prob * (1 - prob)) + 1), (got, 20000 * prob)


def test_spatial_fixed_outdegree_toml_and_bad_input():
    net = ds.Network(seed=5)
    net.add_population("a", 25, positions={"kind": "grid", "shape": [5, 5], "extent": [1.0, 1.0]})
    net.add_projection("a", "a", {"rule": "spatial", "p": 1.0, "radius": 0.3, "outdegree": 3, "multapses": False,
                                  "autapses": False, "delay": {"offset": 1.0, "slope": 2.0}}, weight=1.0, name="aa")
    assert ds.loads(ds.dumps(net)) == net
    sim = ds.Simulation(net)
    assert sim.n_synapses == 75
    with pytest.raises(ValueError, match=r"Projection 'x': connector takes indegree or outdegree, not both"):
        net.add_projection("a", "a", {"rule": "spatial", "p": 1.0, "indegree": 2, "outdegree": 2}, weight=1.0,
                           delay=1.0, name="x")
    with pytest.raises(ValueError, match=r"Projection 'x': connector.outdegree must be >= 0, got -1"):
        net.add_projection("a", "a", {"rule": "spatial", "p": 1.0, "outdegree": -1}, weight=1.0, delay=1.0,
                           name="x")
    net.add_projection("a", "a", {"rule": "spatial", "p": 1.0, "radius": 0.3, "outdegree": 5, "multapses": False,
                                  "autapses": False}, weight=1.0, delay=1.0, name="bad")
    # A corner neuron has 3 neighbours within 0.3 (spacing 0.2).
    with pytest.raises(ValueError, match=r"source 0 has fewer than outdegree = 5 targets with p > 0 in its mask "
                                         r"\(multapses are off\)"):
        ds.Simulation(net)
