"""Per-neuron parameters (arrays and keyed distributions) for lif, lif_cond, adex,
izhikevich and hh, and initial values of synapse channel states, against closed forms and single-valued runs;
keyed draws independent of the neurons a rank builds; TOML; bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import distsnn as ds
from distsnn import build

LIF = dict(C_m=250.0, tau_m=10.0, E_L=0.0, V_th=15.0, V_reset=0.0, t_ref=2.0)


def traces(net, pop, var="V_m"):
    net.add_state_monitor(pop, [var])
    return ds.simulate(net).trace(pop, var).values


@pytest.mark.parametrize("model", ["lif", "lif_cond"])
def test_array_params_equal_one_population_per_value(model):
    """A population with per-neuron tau_m / C_m / I_e / V_th / g_L behaves neuron by
    neuron as populations with those values as constants (driven by exp synapses too;
    lif's NEST-order kernel bit for bit)."""
    if model == "lif":
        base = dict(LIF)
        per = dict(tau_m=[5.0, 10.0, 20.0], C_m=[100.0, 250.0, 400.0], I_e=[500.0, 400.0, 900.0],
                   V_th=[10.0, 12.0, 14.0], t_ref=[0.5, 2.0, 3.3])
    else:
        base = dict(C_m=250.0, g_L=16.0, E_L=-70.0, V_th=-55.0, V_reset=-60.0, t_ref=2.0)
        per = dict(g_L=[10.0, 16.0, 30.0], C_m=[150.0, 250.0, 300.0], I_e=[400.0, 500.0, 800.0],
                   t_ref=[0.5, 2.0, 3.3])
    syn = {"kind": "exp", "tau": 2.0} if model == "lif" else \
        {"kind": "exp", "tau": 2.0, "mode": "conductance", "e_rev": 0.0}
    net = ds.Network(dt=0.1, t_stop=60.0, seed=2)
    net.add_population("src", 3, "spike_train", params={"times": [[5.0, 20.0], [7.0], [9.0, 30.0]]})
    net.add_population("a", 3, model, params={**base, **per})
    # lif: an alpha channel too (its propagators depend on tau_m and C_m)
    syns = [syn, {"kind": "alpha", "tau": 1.5}] if model == "lif" else [syn]
    for j, sy in enumerate(syns):
        net.add_projection("src", "a", ds.AllToAll(), sy, weight=3.0 + 40 * j, delay=1.0)
    net.add_spike_monitor("a")
    v = traces(net, "a")
    for i in range(3):
        one = ds.Network(dt=0.1, t_stop=60.0, seed=2)
        one.add_population("src", 3, "spike_train", params={"times": [[5.0, 20.0], [7.0], [9.0, 30.0]]})
        one.add_population("a", 1, model, params={**base, **{k: vals[i] for k, vals in per.items()}})
        for j, sy in enumerate(syns):
            one.add_projection("src", "a", ds.AllToAll(), sy, weight=3.0 + 40 * j, delay=1.0)
        if model == "lif":
            np.testing.assert_array_equal(v[:, i], traces(one, "a")[:, 0])
        else:
            np.testing.assert_allclose(v[:, i], traces(one, "a")[:, 0], rtol=1e-12, atol=1e-12)
    assert len(set(np.round(v[-1], 6))) == 3


def test_per_neuron_t_ref_sets_isi():
    """DC-driven LIF: ISI = round(t_ref / dt) + k* steps (k* as in test_currents)."""
    t_ref = [0.0, 1.0, 2.5, 4.0]
    net = ds.Network(dt=0.1, t_stop=200.0)
    net.add_population("a", 4, "lif_cond", params=dict(E_L=0.0, V_reset=0.0, V_th=15.0, g_L=25.0, t_ref=t_ref,
                                                       I_e=1000.0))
    net.add_spike_monitor("a")
    sp = ds.simulate(net).spikes
    # No synapses: the exponential-Euler step is exact, V_inf = I_e / g_L, tau = C_m / g_L.
    v_inf = 1000.0 / 25.0
    k = math.ceil(math.log((v_inf - 15.0) / v_inf) / (-0.1 / 10.0) - 1e-9)
    for i, tr in enumerate(t_ref):
        assert np.all(np.diff(sp.step[sp.gid == i]) == round(tr / 0.1) + k)


def test_distribution_params_are_keyed_by_gid():
    net = ds.Network(seed=8)
    net.add_population("pad", 7, "lif")
    net.add_population("a", 200, "lif_cond", params=dict(g_L=ds.Normal(10.0, 2.0, low=2.0),
                                                         C_m={"dist": "lognormal", "mu": 5.5, "sigma": 0.2},
                                                         V_th=ds.Uniform(-55.0, -50.0)))
    full = build.local_populations(net, np.arange(net.size))[1].prepared.p
    part_gids = np.array([7 + 150, 7 + 3, 7 + 99])
    part = build.local_populations(net, part_gids)[1].prepared.p   # ascending: 3, 99, 150
    for f in ("g_L", "C_m", "V_th"):
        np.testing.assert_array_equal(getattr(part, f), getattr(full, f)[[3, 99, 150]])
    assert full.g_L.min() >= 2.0 and abs(full.g_L.mean() - 10.0) < 5 * 2.0 / math.sqrt(200)
    assert np.all((full.V_th >= -55.0) & (full.V_th < -50.0)) and full.C_m.min() > 0
    # Each parameter has its own stream.
    other = ds.Network(seed=8)
    other.add_population("pad", 7, "lif")
    other.add_population("a", 200, "lif_cond", params=dict(g_L=ds.Normal(10.0, 2.0, low=2.0)))
    np.testing.assert_array_equal(build.local_populations(other, np.arange(207))[1].prepared.p.g_L,
                                  full.g_L)


def test_channel_initial_values_lif_exact_decay_and_lif_cond():
    tau = 3.0
    net = ds.Network(dt=0.1, t_stop=10.0, seed=4)
    net.add_population("src", 2, "spike_train", params={"times": [[], []]})
    net.add_population("a", 2, "lif", params=dict(LIF, V_th=1e6))
    net.add_population("c", 50, "lif_cond")
    net.add_projection("src", "a", ds.AllToAll(), {"kind": "exp", "tau": tau}, weight=1.0, delay=1.0, name="sa")
    net.add_projection("src", "a", ds.AllToAll(), {"kind": "double_exp", "tau_rise": 1.0, "tau_decay": 5.0},
                       weight=1.0, delay=1.0, name="sa2")
    net.add_projection("src", "c", ds.AllToAll(), {"kind": "exp", "tau": 5.0, "mode": "conductance",
                                                   "e_rev": 0.0}, weight=1.0, delay=1.0, name="sc")
    net.set_initial("a", "syn:sa", [100.0, -50.0])
    net.set_initial("a", "syn:sa2", 10.0)
    net.set_initial("c", "syn:sc", ds.Normal(40.0, 15.0, low=0.0))
    net.add_state_monitor("a", ["V_m", "I_syn"])
    net.add_state_monitor("c", ["g_syn"])
    res = ds.simulate(net)
    I = res.trace("a", "I_syn").values
    n = np.arange(I.shape[0])[:, None]
    # exp channel decays from its value; the double exponential's value starts its decay part.
    np.testing.assert_allclose(I, np.array([100.0, -50.0]) * np.exp(-n * 0.1 / tau) + 10.0 * np.exp(-n * 0.1 / 5.0),
                               rtol=1e-12)
    # The membrane integrates the initial current exactly (P21 of each component).
    V = res.trace("a", "V_m").values
    assert V[1, 0] > 0 > V[1, 1]
    g = res.trace("c", "g_syn").values
    assert g[0].min() >= 0 and abs(g[0].mean() - 40.0) < 15.0
    np.testing.assert_allclose(g[10], g[0] * math.exp(-1.0 / 5.0), rtol=1e-12)


def test_toml_round_trip_per_neuron_params_and_channel_initial():
    net = ds.Network(seed=3)
    net.add_population("a", 3, "lif_cond", params=dict(g_L=[5.0, 6.0, 7.0], C_m=ds.Uniform(100.0, 200.0)))
    net.add_population("c", 3, "lif_cond", params=dict(g_L=ds.Normal(15.0, 2.0, low=5.0)))
    net.add_projection("a", "c", ds.AllToAll(), {"kind": "exp", "tau": 5.0, "mode": "conductance", "e_rev": 0.0},
                       weight=1.0, delay=1.0, name="ac")
    net.set_initial("c", "syn:ac", ds.Uniform(0.0, 5.0))
    net.set_initial("c", "V_m", -65.0)
    again = ds.loads(ds.dumps(net))
    assert again == net
    assert again.populations["c"].initial["syn:ac"] == ds.Uniform(0.0, 5.0)


@pytest.mark.parametrize("params,msg", [
    (dict(g_L=[1.0, 2.0]), r"Population 'a': g_L array must have one value per neuron, shape \(3,\), got \(2,\)"),
    (dict(C_m=ds.Normal(250.0, 10.0)), r"Population 'a': C_m must be > 0 pF, got values down to -inf"),
    (dict(g_L=[1.0, 0.0, 2.0]), r"g_L must be > 0 nS, got values down to 0.0"),
    (dict(t_ref=ds.Uniform(-1.0, 1.0)), r"t_ref must be >= 0 ms, got values down to -1.0"),
    (dict(V_reset=[-70.0, -50.0, -70.0], V_th=[-55.0, -55.0, -55.0]),
     r"V_reset must be < V_th for every neuron, got -50.0 >= -55.0 mV at neuron 1"),
    (dict(V_th=ds.Uniform(-75.0, -50.0)), r"V_reset must be < V_th = -75.0 mV \(its smallest value\)"),
    (dict(g_L={"dist": "gamma"}), r"g_L.dist must be one of"),
])
def test_per_neuron_params_bad_input(params, msg):
    net = ds.Network()
    with pytest.raises(ValueError, match=msg):
        net.add_population("a", 3, "lif_cond", params=params)
    assert net.populations == {}


def test_channel_initial_bad_input():
    net = ds.Network()
    net.add_population("a", 3, "lif_cond")
    net.add_population("b", 3, "lif")
    net.add_projection("b", "a", ds.AllToAll(), {"kind": "exp", "tau": 5.0, "mode": "conductance", "e_rev": 0.0},
                       weight=1.0, delay=1.0, name="ba")
    net.add_projection("a", "a", ds.AllToAll(), {"kind": "exp", "tau": 5.0, "mode": "conductance", "e_rev": 0.0},
                       weight=1.0, delay=1.0, name="aa")
    net.add_projection("a", "b", ds.AllToAll(), "delta", weight=1.0, delay=1.0, name="ab")
    with pytest.raises(ValueError, match=r"Population 'a': initial.syn:nope must name a projection onto 'a'; "
                                         r"known: syn:ba, syn:aa"):
        net.set_initial("a", "syn:nope", 1.0)
    with pytest.raises(ValueError, match=r"initial.syn:ba is a conductance and must be >= 0 nS"):
        net.set_initial("a", "syn:ba", ds.Normal(1.0, 1.0))
    with pytest.raises(ValueError, match=r"a delta synapse has no state"):
        net.set_initial("b", "syn:ab", 1.0)
    net.set_initial("a", "syn:ba", 1.0)
    with pytest.raises(ValueError, match=r"initial.syn:aa sets the channel that initial.syn:ba already sets"):
        net.set_initial("a", "syn:aa", 2.0)
    with pytest.raises(ValueError, match=r"initial.syn:ba names a projection; set a channel's initial value "
                                         r"with Network.set_initial"):
        net.add_population("z", 3, "lif", initial={"syn:ba": 1.0})
    with pytest.raises(ValueError, match=r"variable must be one of 'V_m'"):
        net.set_initial("a", "U_m", 1.0)


@pytest.mark.parametrize("model", ["izhikevich", "adex", "hh"])
def test_channel_initial_values_reach_every_model(model):
    """g_syn starts at the given conductances and decays exp(-t / tau) with no arrivals."""
    net = ds.Network(dt=0.1, t_stop=2.0, seed=1)
    net.add_population("src", 1, "spike_train", params={"times": [[]]})
    net.add_population("a", 3, model)
    net.add_projection("src", "a", ds.AllToAll(), {"kind": "exp", "tau": 4.0, "mode": "conductance",
                                                   "e_rev": 0.0}, weight=1.0, delay=1.0, name="sa")
    net.set_initial("a", "syn:sa", [1.0, 2.0, 3.0])
    g = traces(net, "a", "g_syn")
    n = np.arange(g.shape[0])[:, None]
    np.testing.assert_allclose(g, np.array([1.0, 2.0, 3.0]) * np.exp(-n * 0.1 / 4.0), rtol=1e-12)


@pytest.mark.parametrize("integration", ["accurate", "paper"])
def test_izhikevich_per_neuron_abcd_as_in_the_2003_network(integration):
    """Per-neuron a, b, c, d (Izhikevich 2003: c = -65 + 15 r^2, d = 8 - 6 r^2; a, b of
    the inhibitory ones) behave neuron by neuron as populations with those constants."""
    r = np.array([0.1, 0.5, 0.9])
    per = dict(a=[0.02, 0.02 + 0.08 * 0.4, 0.02], b=[0.2, 0.25 - 0.05 * 0.4, 0.2],
               c=(-65.0 + 15.0 * r ** 2).tolist(), d=(8.0 - 6.0 * r ** 2).tolist(), I_e=[10.0, 6.0, 14.0])

    def run(params, n):
        net = ds.Network(dt=0.1, t_stop=200.0)
        net.add_population("a", n, "izhikevich", params={**params, "integration": integration})
        net.add_spike_monitor("a")
        res = ds.simulate(net)
        return res.spikes, traces(net, "a")

    spikes, v = run(per, 3)
    for i in range(3):
        one_spikes, one_v = run({k: vals[i] for k, vals in per.items()}, 1)
        np.testing.assert_array_equal(spikes.step[spikes.gid == i], one_spikes.step)
        np.testing.assert_allclose(v[:, i], one_v[:, 0], rtol=1e-12, atol=1e-12)
    assert len(spikes) > 10
    with pytest.raises(ValueError, match=r"c must be < V_peak = 30.0 mV \(its smallest value\), got values up to 35"):
        ds.Network().add_population("z", 2, "izhikevich", params={"c": [-65.0, 35.0]})


def test_hh_per_neuron_conductances():
    per = dict(g_Na=[12000.0, 10000.0], g_K=[3600.0, 4000.0], I_e=[700.0, 900.0], t_ref=[2.0, 4.0])

    def run(params, n):
        net = ds.Network(dt=0.1, t_stop=60.0)
        net.add_population("a", n, "hh", params=params)
        return traces(net, "a")

    v = run(per, 2)
    for i in range(2):
        np.testing.assert_allclose(v[:, i], run({k: vals[i] for k, vals in per.items()}, 1)[:, 0],
                                   rtol=1e-12, atol=1e-12)
    assert not np.allclose(v[:, 0], v[:, 1])


def test_adex_per_neuron_parameters_as_naud_patterns():
    """Per-neuron adex parameters (Naud et al. 2008's tonic, adapting and bursting sets in
    one population, with conductance synapses and a refractory period on one of them)
    behave neuron by neuron, bit for bit, as populations with those constants."""
    per = dict(C_m=[200.0, 200.0, 200.0], g_L=[10.0, 12.0, 10.0], E_L=[-70.0, -70.0, -58.0],
               V_th=[-50.0, -50.0, -50.0], Delta_T=[2.0, 2.0, 2.0], a=[2.0, 2.0, 2.0], tau_w=[30.0, 300.0, 120.0],
               b=[0.0, 60.0, 100.0], V_reset=[-58.0, -58.0, -46.0], I_e=[500.0, 500.0, 210.0],
               t_ref=[0.0, 0.0, 1.0])
    syn = {"kind": "exp", "tau": 3.0, "mode": "conductance", "e_rev": 0.0}

    def run(params, n):
        net = ds.Network(dt=0.1, t_stop=300.0)
        net.add_population("src", 2, "spike_train", params={"times": [[20.0, 50.0, 51.0], [80.0]]})
        net.add_population("a", n, "adex", params=params)
        net.add_projection("src", "a", ds.AllToAll(), syn, weight=5.0, delay=1.0)
        net.add_spike_monitor("a")
        return ds.simulate(net).spikes, traces(net, "a", "w")

    spikes, w = run(per, 3)
    counts = []
    for i in range(3):
        one_spikes, one_w = run({k: vals[i] for k, vals in per.items()}, 1)
        np.testing.assert_array_equal(spikes.step[spikes.gid == 2 + i], one_spikes.step)   # gids after src
        np.testing.assert_array_equal(w[:, i], one_w[:, 0])
        counts.append(len(one_spikes))
    assert min(counts) >= 3 and len(set(counts)) == 3


@pytest.mark.parametrize("model,params,msg", [
    ("lif", dict(V_reset=[-70.0, -50.0, -70.0], V_th=[-55.0, -55.0, -55.0]),
     r"Population 'a': V_reset must be < V_th for every neuron, got -50.0 >= -55.0 mV at neuron 1"),
    ("lif", dict(tau_m=[10.0, -1.0, 5.0]), r"Population 'a': tau_m must be > 0 ms, got values down to -1.0"),
    ("lif", dict(t_ref=ds.Normal(1.0, 0.5)), r"t_ref must be >= 0 ms, got values down to -inf"),
    ("adex", dict(Delta_T=[2.0, 0.01, 2.0]),
     r"Population 'a': \(V_peak - V_th\) / Delta_T must be <= 600 \(the exponential term must stay finite\), "
     r"got 5040 at neuron 1"),
    ("adex", dict(Delta_T=ds.Uniform(0.05, 2.0)),
     r"\(V_peak - V_th\) / Delta_T must be <= 600 \(the exponential term must stay finite\) for every value "
     r"the parameters can take, got up to 1008"),
    ("adex", dict(V_reset=ds.Uniform(-60.0, 5.0)), r"V_reset must be < V_peak = 0.0 mV \(its smallest value\)"),
    ("adex", dict(tau_w=[1.0, 2.0]), r"tau_w array must have one value per neuron, shape \(3,\), got \(2,\)"),
])
def test_lif_adex_per_neuron_bad_input(model, params, msg):
    net = ds.Network()
    with pytest.raises(ValueError, match=msg):
        net.add_population("a", 3, model, params=params)
    assert net.populations == {}
