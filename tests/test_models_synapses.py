"""Synapse types: parsing, the double exponential's peak, model compatibility, and
conductance synapses that pull V toward their reversal potential and never past it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distsnn import Network, Normal, Simulation, SynapseType, config, synapses

NONLINEAR = ["lif_cond", "hh", "adex", "izhikevich"]


# -- types and parsing --------------------------------------------------------------------


def test_historic_forms_mean_current_based():
    assert SynapseType("delta").mode == "current"
    s = SynapseType("exp", tau=5.0)
    assert (s.kind, s.mode, s.tau, s.weight_unit) == ("exp", "current", 5.0, "pA")
    assert synapses.parse("x", "delta") == SynapseType("delta")
    assert synapses.parse("x", {"kind": "exp", "tau": 5.0}) == SynapseType("exp", 5.0)
    assert SynapseType("delta").weight_unit == "mV"


@pytest.mark.parametrize("spec", [
    "delta",
    {"kind": "exp", "tau": 5.0},
    {"kind": "double_exp", "tau_rise": 1.0, "tau_decay": 5.0},
    {"kind": "exp", "mode": "conductance", "tau": 5.0, "e_rev": 0.0},
    {"kind": "double_exp", "mode": "conductance", "tau_rise": 0.5, "tau_decay": 3.0, "e_rev": -80.0},
])
def test_toml_forms_round_trip(spec):
    s = synapses.parse("x", spec)
    assert s.to_plain() == spec
    assert synapses.parse("x", s.to_plain()) == s
    assert s.weight_unit == ("nS" if s.mode == "conductance" else "mV" if s.kind == "delta" else "pA")


@pytest.mark.parametrize("spec,pattern", [
    ({"kind": "delta", "mode": "conductance"},
     r": synapse kind 'delta' has no conductance mode .* valid pairs: delta \(current\), exp \(current\)"),
    ({"kind": "exp"}, r": synapse.tau \(ms\) is required for current kind 'exp'"),
    ({"kind": "exp", "tau": -1.0}, r": synapse.tau must be > 0 \(ms\), got -1.0"),
    ({"kind": "exp", "mode": "conductance", "tau": 2.0}, r": synapse.e_rev \(mV\) is required"),
    ({"kind": "exp", "tau": 2.0, "e_rev": 0.0}, r" synapse \(current exp\): unknown field 'e_rev'; known: tau"),
    ({"kind": "double_exp", "tau_rise": 5.0, "tau_decay": 5.0}, r": synapse.tau_rise must be < tau_decay = 5.0 ms"),
    ({"kind": "double_exp", "tau_decay": 5.0}, r": synapse.tau_rise \(ms\) is required"),
    ({"kind": "beta", "tau": 1.0}, r": synapse.kind must be one of 'delta', 'exp', 'double_exp', 'alpha'"),
    ({"kind": "exp", "tau": 1.0, "mode": "voltage"}, r": synapse.mode must be one of 'current', 'conductance'"),
    ({"kind": "exp", "mode": "conductance", "tau": 2.0, "e_rev": float("nan")}, r": synapse.e_rev must be finite"),
])
def test_bad_synapse_specs(spec, pattern):
    with pytest.raises(ValueError, match=r"Projection 'p'" + pattern):
        synapses.parse("Projection 'p'", spec)


def test_constructor_validates_too():
    with pytest.raises(ValueError, match="SynapseType: synapse kind 'delta' has no conductance mode"):
        SynapseType("delta", mode="conductance")
    with pytest.raises(ValueError, match=r"SynapseType: synapse.tau_decay \(ms\) is required"):
        SynapseType("double_exp", tau_rise=1.0)


def test_channels_order_is_canonical():
    net = Network()
    net.add_population("a", 2, "lif_cond")
    specs = [{"kind": "exp", "mode": "conductance", "tau": 5.0, "e_rev": 0.0},
             {"kind": "double_exp", "tau_rise": 1.0, "tau_decay": 3.0}, "delta",
             {"kind": "exp", "tau": 2.0}, {"kind": "exp", "mode": "conductance", "tau": 5.0, "e_rev": -80.0}]
    for i, s in enumerate(specs):
        net.add_projection("a", "a", {"rule": "one_to_one"}, s, 1.0, 1.0, name=f"p{i}")
    labels = [c.label() for c in net.channels("a")]
    assert labels == ["delta", "double_exp(tau_rise=1, tau_decay=3)", "exp(conductance, tau=5, e_rev=-80)",
                      "exp(conductance, tau=5, e_rev=0)", "exp(tau=2)"]


# -- compatibility and weights ------------------------------------------------------------


def test_model_rejects_pairs_it_does_not_take_and_lists_those_it_does():
    net = Network()
    net.add_population("n", 2, "lif")
    with pytest.raises(ValueError, match=r"Projection 'n_n': synapse exp \(conductance\) does not act on model "
                                         r"'lif'; it takes delta \(current\), exp \(current\), double_exp "
                                         r"\(current\), alpha \(current\) \(use model 'lif_cond' for conductance synapses\)"):
        net.add_projection("n", "n", {"rule": "all_to_all"},
                           {"kind": "exp", "mode": "conductance", "tau": 5.0, "e_rev": 0.0}, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"PoissonInput 'drive': synapse double_exp \(conductance\) does not act"):
        net.add_poisson_input("drive", "n", 10.0, 1.0, {"kind": "double_exp", "mode": "conductance",
                                                         "tau_rise": 1.0, "tau_decay": 2.0, "e_rev": 0.0})


@pytest.mark.parametrize("weight,pattern", [
    (-1.0, r"weight must be >= 0 nS for conductance synapse exp\(conductance, tau=5, e_rev=0\), "
           r"got values down to -1.0"),
    (Normal(5.0, 1.0), "got values down to -inf"),
    ([1.0, -0.5], "got values down to -0.5"),
])
def test_conductance_weights_must_be_non_negative(weight, pattern):
    net = Network()
    net.add_population("n", 2, "lif_cond")
    syn = {"kind": "exp", "mode": "conductance", "tau": 5.0, "e_rev": 0.0}
    with pytest.raises(ValueError, match=r"Projection 'n_n': .*" + pattern):
        net.add_projection("n", "n", {"rule": "one_to_one"}, syn, weight, 1.0)
    net.add_projection("n", "n", {"rule": "one_to_one"}, syn, Normal(5.0, 1.0, low=0.0), 1.0)
    with pytest.raises(ValueError, match=r"PoissonInput 'drive': weight must be >= 0 nS"):
        net.add_poisson_input("drive", "n", 10.0, -2.0, syn)
    # Current-based weights may be negative.
    net.add_projection("n", "n", {"rule": "one_to_one"}, {"kind": "exp", "tau": 5.0}, -3.0, 1.0, name="inh")


def test_conductance_weights_from_an_edge_list_column_must_be_non_negative():
    net = Network()
    net.add_population("n", 3, "lif_cond")
    syn = {"kind": "exp", "mode": "conductance", "tau": 5.0, "e_rev": 0.0}
    edges = {"rule": "edge_list", "pre": [0, 1], "post": [1, 2], "weight": [1.0, -2.0], "delay": [1.0, 1.0]}
    with pytest.raises(ValueError, match=r"Projection 'n_n': weight must be >= 0 nS .* down to -2.0"):
        net.add_projection("n", "n", edges, syn)


# -- the double exponential ---------------------------------------------------------------


def single_arrival(model: str, syn: dict, w: float, dt: float, t_stop: float, var: str, params=None):
    """The ``var`` trace of one neuron after one spike arriving at step 1 (t = dt)."""
    net = Network(dt=dt, t_stop=t_stop)
    net.add_population("gen", 1, "spike_train", {"times": [[dt]]})
    net.add_population("n", 1, model, params or {})
    net.add_projection("gen", "n", {"rule": "all_to_all"}, syn, w, dt)
    net.add_state_monitor("n", var)
    tr = Simulation(net).run().trace("n", var)
    return tr.time, tr.values[:, 0]


@pytest.mark.parametrize("tau_r,tau_d", [(1.0, 5.0), (0.3, 0.5), (2.0, 10.0)])
@pytest.mark.parametrize("model,mode,var", [("lif", "current", "I_syn"), ("lif_cond", "conductance", "g_syn"),
                                            ("hh", "conductance", "g_syn"), ("adex", "current", "I_syn")])
def test_double_exponential_peak_time_and_value(tau_r, tau_d, model, mode, var):
    dt, w = 0.01, 7.0
    syn = {"kind": "double_exp", "tau_rise": tau_r, "tau_decay": tau_d}
    params = {}
    if mode == "conductance":
        syn.update(mode="conductance", e_rev=-65.0)
    if model == "adex":
        params = {"V_th": 100.0, "V_peak": 200.0}    # stay subthreshold: I_syn independent of V
    t, g = single_arrival(model, syn, w, dt, 3 * tau_d + 1.0, var, params)
    # Spike at step 1 + delay 1 step = arrival at step 2 (t = 2 dt); the kernel starts there.
    t_peak = tau_r * tau_d / (tau_d - tau_r) * math.log(tau_d / tau_r)
    arrival = 2 * dt
    assert abs(t[np.argmax(g)] - arrival - t_peak) <= dt
    # Sampled at the grid, the maximum is within the curvature over half a step of w.
    curv = w / min(tau_r, tau_d) ** 2
    assert w - curv * dt * dt <= g.max() <= w * (1 + 1e-12)
    # The whole trace is the closed form.
    s = np.clip(t - arrival, 0.0, None)
    f = 1.0 / (math.exp(-t_peak / tau_d) - math.exp(-t_peak / tau_r))
    np.testing.assert_allclose(g, w * f * (np.exp(-s / tau_d) - np.exp(-s / tau_r)), rtol=1e-9, atol=1e-12)


def test_peak_helper_matches_formula():
    t_peak, f = synapses.peak(1.0, 5.0)
    assert t_peak == pytest.approx(5.0 / 4.0 * math.log(5.0))
    assert f * (math.exp(-t_peak / 5.0) - math.exp(-t_peak / 1.0)) == pytest.approx(1.0, rel=1e-15)


# -- conductances and their reversal potentials -------------------------------------------


def driven(model: str, e_rev: float, w: float, params=None, t_stop: float = 60.0, kind: str = "exp"):
    """V of one neuron under a conductance pulse train (a spike every step for 30 ms)."""
    dt = 0.1
    net = Network(dt=dt, t_stop=t_stop)
    net.add_population("gen", 1, "spike_train", {"times": [list(np.round(np.arange(1, 301) * dt, 10))]})
    net.add_population("n", 1, model, params or {})
    syn = {"kind": kind, "mode": "conductance", "e_rev": e_rev}
    syn.update({"tau": 2.0} if kind == "exp" else {"tau_rise": 0.5, "tau_decay": 2.0})
    net.add_projection("gen", "n", {"rule": "all_to_all"}, syn, w, dt)
    net.add_spike_monitor("n")
    net.add_state_monitor("n", "V_m")
    res = Simulation(net).run()
    return res.trace("n", "V_m").values[:, 0], len(res.spikes)


# Reversal potentials between rest and threshold (excitatory, no spike) and below rest
# (inhibitory); weights large enough to pin V near e_rev.
CASES = {
    "lif_cond": ({}, -62.0, -85.0, 50.0),
    "hh": ({}, -63.0, -90.0, 300.0),
    "adex": ({}, -56.0, -90.0, 300.0),
    "izhikevich": ({"preset": "RS"}, -60.0, -90.0, 0.5),
}


@pytest.mark.parametrize("model", NONLINEAR)
@pytest.mark.parametrize("kind", ["exp", "double_exp"])
def test_conductance_drives_toward_reversal_and_never_past(model, kind):
    params, e_up, e_down, w = CASES[model]
    V, n_spikes = driven(model, e_up, w, params, kind=kind)
    assert n_spikes == 0
    assert V.max() <= e_up + 1e-9
    assert V.max() > e_up - 1.0                     # pulled close to it
    V, _ = driven(model, e_down, w, params, kind=kind)   # (HH and LTS may rebound after it)
    assert V.min() >= e_down - 1e-9
    assert V.min() < e_down + 3.0


def test_lif_cond_never_passes_reversal_even_for_huge_conductances():
    V, _ = driven("lif_cond", -62.0, 1e6)
    assert V.max() <= -62.0 + 1e-9
    assert V[-1] < -62.0


def test_synapse_types_survive_toml():
    net = Network(dt=0.1)
    net.add_population("n", 3, "hh")
    net.add_projection("n", "n", {"rule": "one_to_one"},
                       {"kind": "double_exp", "mode": "conductance", "tau_rise": 0.2, "tau_decay": 2.0,
                        "e_rev": -80.0}, 5.0, 1.0)
    net.add_poisson_input("drive", "n", 100.0, 2.0, {"kind": "double_exp", "tau_rise": 1.0, "tau_decay": 3.0})
    back = config.loads(config.dumps(net))
    assert back == net
    assert back.channels("n") == net.channels("n")
