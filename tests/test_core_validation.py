"""Bad input raises ValueError naming the object, the field, the offending value and,
where there is one, the bound (STYLE section 4)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from distsnn import EdgeList, Network, Simulation, config
from distsnn.comm import LocalComm


def net() -> Network:
    n = Network(dt=0.1)
    n.add_population("a", 5)
    n.add_population("b", 4)
    return n


def _strict_net() -> Network:
    n = Network(dt=0.1, strict_time=True)
    n.add_population("a", 5)
    n.add_population("b", 4)
    return n


def proj(connector=None, **kw):
    args = {"weight": 1.0, "delay": 1.0, **kw}
    return lambda: net().add_projection("a", "b", connector or {"rule": "all_to_all"}, **args)


def pop(**kw):
    return lambda: net().add_population("x", 3, **kw)


def build(n: Network):
    return Simulation(n, LocalComm(), owner=np.zeros(n.size, dtype=np.int64))


def _source_net() -> Network:
    n = net()
    n.add_population("src", 3, "poisson", {"rate": 10.0})
    return n


def with_projection(weight):
    def make():
        n = net()
        n.add_projection("a", "b", {"rule": "all_to_all"}, weight=weight, delay=1.0)
        build(n)
    return make


def with_poisson(rate, weight):
    def make():
        n = net()
        n.add_poisson_input("drive", "b", rate, weight)
        build(n)
    return make


def edge_file(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return lambda: EdgeList.from_file(str(p))


P = re.escape("Population 'x'")
J = re.escape("Projection 'a_b'")

CASES = [
    ("tau_m zero", pop(params={"tau_m": 0.0}), P + r": tau_m must be > 0 \(ms\), got 0\.0"),
    ("tau_m negative", pop(params={"tau_m": -3.0}), P + r": tau_m must be > 0 \(ms\), got -3\.0"),
    ("C_m negative", pop(params={"C_m": -1.0}), P + r": C_m must be > 0 \(pF\), got -1\.0"),
    ("t_ref negative", pop(params={"t_ref": -0.5}), P + r": t_ref must be >= 0 \(ms\), got -0\.5"),
    ("V_reset above V_th", pop(params={"V_reset": -50.0}),
     P + r": V_reset must be < V_th = -55\.0 mV, got -50\.0"),
    ("V_reset equal V_th", pop(params={"V_reset": -40.0, "V_th": -40.0}),
     P + r": V_reset must be < V_th = -40\.0 mV, got -40\.0"),
    ("NaN param", pop(params={"V_th": float("nan")}), P + r": V_th must be finite \(mV\), got nan"),
    ("string param", pop(params={"E_L": "-70"}), P + r": E_L must be a number \(mV\), got '-70'"),
    ("unknown model", pop(model="hodgkin_huxley"), P + r": model must be one of .*'lif'.*, got 'hodgkin_huxley'"),
    ("unknown parameter", pop(params={"tau": 1.0}), P + r": unknown parameter 'tau'; known: .*tau_m"),
    ("size zero", lambda: net().add_population("x", 0), P + r": size must be >= 1, got 0"),
    ("bad name", lambda: net().add_population("x y", 3), r"Population: name must be .*got 'x y'"),
    ("duplicate population", lambda: net().add_population("a", 3),
     r"Population 'a': name already used by another population"),
    ("initial array shape", pop(initial={"V_m": [0.0, 1.0]}),
     P + r": initial\.V_m array must have shape \(3,\), got \(2,\)"),
    ("unknown initial variable", pop(initial={"I_syn": 1.0}), P + r" initial: unknown variable 'I_syn'"),
    ("delay zero", proj(delay=0.0), J + r": delay must be > 0 ms, got 0\.0"),
    ("delay distribution below zero", proj(delay={"dist": "uniform", "low": -0.05, "high": 1.0}),
     J + r": delay distribution must not reach below 0 ms \(give low >= 0\), got values down to -0\.05"),
    ("unbounded normal delay", proj(delay={"dist": "normal", "mean": 2.0, "std": 0.5}),
     J + r": delay distribution must not reach below 0 ms \(give low >= 0\), got values down to -inf"),
    ("strict: delay below half a step",
     lambda: _strict_net().add_projection("a", "b", {"rule": "all_to_all"}, weight=1.0, delay=0.04),
     J + r": delay = 0\.04 ms is not a multiple of dt = 0\.1 ms; strict_time is set"),
    ("strict: lognormal delay", lambda: _strict_net().add_projection(
        "a", "b", {"rule": "all_to_all"}, weight=1.0, delay={"dist": "lognormal", "mu": 0.0, "sigma": 1.0}),
     J + r": delay draws can fall below half a step \(0\.05 ms; the distribution reaches down to 0 ms\); "
         r"strict_time is set, so give low >= 0\.05 ms"),
    ("strict: refractory period off the grid", lambda: Network(dt=0.1, strict_time=True).add_population(
        "x", 3, params={"t_ref": 2.05}), r"Population 'x': t_ref = 2\.05 ms is not a multiple of dt = 0\.1 ms; "
                                         r"strict_time is set"),
    ("edge list delay column negative",
     lambda: net().add_projection("a", "b", EdgeList(np.array([0, 1]), np.array([0, 1]),
                                                     weight=np.array([1.0, 1.0]), delay=np.array([1.0, -0.04]))),
     J + r": delay must be > 0 ms, got -0\.04"),
    ("probability above one", proj({"rule": "fixed_probability", "p": 1.5}),
     J + r": connector\.p must be in \[0\.0, 1\.0\], got 1\.5"),
    ("probability negative", proj({"rule": "fixed_probability", "p": -0.1}),
     J + r": connector\.p must be in \[0\.0, 1\.0\], got -0\.1"),
    ("negative indegree", proj({"rule": "fixed_indegree", "indegree": -2}),
     J + r": connector\.indegree must be >= 0, got -2"),
    ("fractional indegree", proj({"rule": "fixed_indegree", "indegree": 2.5}),
     J + r": connector\.indegree must be an integer, got 2\.5"),
    ("indegree above pool", proj({"rule": "fixed_indegree", "indegree": 6, "multapses": False}),
     J + r": connector\.indegree must be <= 5 .*, got 6"),
    ("indegree above pool without autapses",
     lambda: net().add_projection("a", "a", {"rule": "fixed_indegree", "indegree": 5, "multapses": False,
                                             "autapses": False}, weight=1.0, delay=1.0),
     re.escape("Projection 'a_a'") + r": connector\.indegree must be <= 4 .*, got 5"),
    ("outdegree above pool", proj({"rule": "fixed_outdegree", "outdegree": 5, "multapses": False}),
     J + r": connector\.outdegree must be <= 4 .*, got 5"),
    ("autapses not boolean", proj({"rule": "all_to_all", "autapses": 1}),
     J + r": connector\.autapses must be true or false, got 1"),
    ("edge list index out of range", proj(EdgeList(np.array([0, 1]), np.array([0, 4]))),
     J + r": connector\.post index must be in \[0, 3\], got 4 at row 1"),
    ("edge list negative index", proj(EdgeList(np.array([0, -1]), np.array([0, 1]))),
     J + r": connector\.pre index must be in \[0, 4\], got -1 at row 1"),
    ("edge list length mismatch", proj(EdgeList(np.array([0, 1, 2]), np.array([0, 1]))),
     J + r": connector\.pre and connector\.post must be 1-D of equal length, got shapes \(3,\) and \(2,\)"),
    ("edge list weight column NaN",
     lambda: net().add_projection("a", "b", EdgeList(np.array([0, 1]), np.array([0, 1]),
                                                     weight=np.array([1.0, np.nan]), delay=np.array([1.0, 1.0]))),
     J + r": connector\.weight must be finite, got nan at index 1"),
    ("NaN in weight array", proj(weight=np.array([[1.0, 2.0, np.inf, 0.0]] * 5)),
     J + r": weight must be finite, got inf at index 2"),
    ("edge list weight given twice",
     proj(EdgeList(np.array([0]), np.array([0]), weight=np.array([1.0]))),
     J + r": weight is given twice, by the projection and by the edge list"),
    ("weight missing", lambda: net().add_projection("a", "b", {"rule": "all_to_all"}, delay=1.0),
     J + r": weight is required"),
    ("NaN weight", proj(weight=float("nan")), J + r": weight must be finite, got nan"),
    ("infinite delay", proj(delay=float("inf")), J + r": delay must be finite, got inf"),
    ("uniform high below low", proj(weight={"dist": "uniform", "low": 1.0, "high": 0.5}),
     J + r": weight\.high must be > low = 1\.0, got 0\.5"),
    ("normal std zero", proj(weight={"dist": "normal", "mean": 1.0, "std": 0.0}),
     J + r": weight\.std must be > 0, got 0\.0"),
    ("normal bounds without mass", proj(weight={"dist": "normal", "mean": 0.0, "std": 1.0, "low": 10.0}),
     J + r": weight bounds \[10\.0, inf\] keep only .* of the normal's mass \(must be >= 1e-3\)"),
    ("unknown distribution", proj(weight={"dist": "cauchy", "loc": 0.0}),
     J + r": weight\.dist must be one of .*, got 'cauchy'"),
    ("unknown distribution field", proj(weight={"dist": "uniform", "low": 0.0, "high": 1.0, "mean": 0.5}),
     J + r" weight: unknown field 'mean'"),
    ("distribution field missing", proj(weight={"dist": "uniform", "low": 0.0}),
     J + r": weight \(uniform\) needs 'high'"),
    ("infinite dt", lambda: Network(dt=float("inf")), r"Network: dt must be finite \(ms\), got inf"),
    ("zero dt", lambda: Network(dt=0.0), r"Network: dt must be > 0 \(ms\), got 0\.0"),
    ("negative t_stop", lambda: Network(t_stop=-1.0), r"Network: t_stop must be >= 0 \(ms\), got -1\.0"),
    ("unknown connector rule", proj({"rule": "small_world"}),
     J + r": connector\.rule must be one of .*'fixed_indegree'.*, got 'small_world'"),
    ("unknown connector field", proj({"rule": "fixed_indegree", "indegree": 2, "k": 3}),
     J + r" connector \(fixed_indegree\): unknown field 'k'; known: .*indegree"),
    ("connector field missing", proj({"rule": "fixed_probability"}),
     J + r": connector\.p is required for rule 'fixed_probability'"),
    ("connector not a table", proj("all_to_all"),
     J + r": connector must be a table of key = value, got 'all_to_all'"),
    ("unknown synapse kind", proj(synapse="gap_junction"),
     J + r": synapse\.kind must be one of .*, got 'gap_junction'"),
    ("exp synapse without tau", proj(synapse={"kind": "exp"}), J + r": synapse\.tau .*required"),
    ("exp synapse negative tau", proj(synapse={"kind": "exp", "tau": -2.0}),
     J + r": synapse\.tau must be > 0 \(ms\), got -2\.0"),
    ("one_to_one size mismatch", proj({"rule": "one_to_one"}),
     J + r": one_to_one needs equal sizes, got pre 5 and post 4"),
    ("weight array shape", proj(weight=np.ones((4, 5))),
     J + r": weight array must have shape \(5, 4\) for all_to_all, got \(4, 5\)"),
    ("array weight with fixed_probability", proj({"rule": "fixed_probability", "p": 0.5}, weight=np.ones(3)),
     J + r": weight as an array needs an all_to_all, one_to_one or edge_list connector, got 'fixed_probability'"),
    ("projection to missing population",
     lambda: net().add_projection("a", "c", {"rule": "all_to_all"}, weight=1.0, delay=1.0),
     re.escape("Projection 'a_c'") + r": post population 'c' does not exist; known: a, b"),
    ("projection from missing population",
     lambda: net().add_projection("z", "a", {"rule": "all_to_all"}, weight=1.0, delay=1.0),
     re.escape("Projection 'z_a'") + r": pre population 'z' does not exist"),
    ("duplicate projection name",
     lambda: [n.add_projection("a", "b", {"rule": "all_to_all"}, weight=1.0, delay=1.0, name="p")
              for n in [net()] for _ in range(2)],
     re.escape("Projection 'p'") + r": name already used by another projection"),
    ("state monitor unknown variable", lambda: net().add_state_monitor("a", "spin"),
     r"StateMonitor on 'a': variables must be one of .*'V_m'.*, got 'spin'"),
    ("state monitor neuron out of range", lambda: net().add_state_monitor("a", "V_m", neurons=[0, 5]),
     r"StateMonitor on 'a': neurons must be in \[0, 4\], got 5"),
    ("state monitor interval off grid", lambda: net().add_state_monitor("a", "V_m", interval=0.15),
     r"StateMonitor on 'a': interval must be a whole number of steps of 0\.1 ms, got 0\.15"),
    ("monitor of missing population", lambda: net().add_spike_monitor("q"),
     r"SpikeMonitor: population 'q' does not exist"),
    ("seed too large", lambda: Network(seed=2**32), r"Network: seed must be <= 4294967295, got 4294967296"),
    ("seed negative", lambda: Network(seed=-1), r"Network: seed must be >= 0, got -1"),
    ("seed not an integer", lambda: Network(seed=1.5), r"Network: seed must be an integer, got 1\.5"),
    ("Poisson rate negative", lambda: net().add_poisson_input("d", "a", -5.0, 0.1),
     r"PoissonInput 'd': rate must be >= 0 \(Hz\), got -5\.0"),
    ("Poisson rate too high", lambda: net().add_poisson_input("d", "a", 1e7, 0.1),
     r"PoissonInput 'd': rate \* dt must be <= 500 spikes per step, got 1000 \(rate 1e\+07 Hz at dt 0\.1 ms\)"),
    ("Poisson to missing population", lambda: net().add_poisson_input("d", "q", 5.0, 0.1),
     r"PoissonInput 'd': target population 'q' does not exist"),
    ("Poisson NaN weight", lambda: net().add_poisson_input("d", "a", 5.0, float("nan")),
     r"PoissonInput 'd': weight must be finite, got nan"),
    ("weight above accumulator range", with_projection(2.0**27),
     J + r": weight must be finite with \|weight\| <= 6\.71089e\+07, got 134217728\.0"),
    ("weight above accumulator range, rejected when added",
     lambda: net().add_projection("a", "b", {"rule": "all_to_all"}, weight=-2.0**27, delay=1.0),
     J + r": weight must be finite with \|weight\| <= 6\.71089e\+07, got -134217728\.0"),
    ("uniform weight reaching above accumulator range",
     lambda: net().add_projection("a", "b", {"rule": "all_to_all"}, weight={"dist": "uniform", "low": 0.0,
                                  "high": 1e8}, delay=1.0),
     J + r": weight must be finite with \|weight\| <= 6\.71089e\+07, got 100000000\.0"),
    ("state monitor on a spike source",
     lambda: _source_net().add_state_monitor("src", ["V_m"]),
     r"StateMonitor on 'src': model 'poisson' has no state to record \(it is a spike source\)"),
    ("summed weights above accumulator range", with_projection(2.0**25),
     r"Population 'b': neuron 0 could receive up to 1\.67772e\+08 mV in one step on channel delta, "
     r"above the limit 6\.71089e\+07"),
    ("Poisson weight above accumulator range", with_poisson(10.0, 2.0**27),
     r"PoissonInput 'drive': weight must be finite with \|weight\| <= 6\.71089e\+07, got 134217728\.0"),
    ("t_stop negative at run", lambda: build(net()).run(-1.0),
     r"Simulation: t_stop must be a finite number >= 0 ms, got -1\.0"),
    ("owner of wrong shape", lambda: Simulation(net(), LocalComm(), owner=np.zeros(3, dtype=np.int64)),
     r"Simulation: owner must give a rank in \[0, 0\] for each of the 9 neurons"),
]

TOML_CASES = [
    ("unknown TOML section", "[simulaton]\ndt = 0.1\n",
     r"Config: unknown section 'simulaton'; known: .*simulation"),
    ("unknown TOML field", "[simulation]\ndt = 0.1\nstep = 3\n",
     r"Config \[simulation\]: unknown field 'step'; known: dt, seed, strict_time, t_stop"),
    ("unknown population field", "[[population]]\nname = 'a'\nsize = 2\nshape = 'x'\n",
     r"Config population #1: unknown field 'shape'"),
    ("missing required field", "[[population]]\nname = 'a'\n", r"Config population #1: field 'size' is required"),
    ("missing projection field", "[[population]]\nname = 'a'\nsize = 2\n[[projection]]\npre = 'a'\npost = 'a'\n",
     r"Config projection #1: field 'connector' is required"),
    ("bad TOML syntax", "[simulation\ndt = 0.1\n", r"Config: not valid TOML: .*line 1"),
    ("TOML value of wrong type", "[simulation]\ndt = 'fast'\n", r"Network: dt must be a number \(ms\), got 'fast'"),
    ("unknown monitor kind", "[[population]]\nname = 'a'\nsize = 2\n[[monitor]]\nkind = 'voltage'\npopulation = 'a'\n",
     r"Config monitor #1: kind must be one of 'spikes', 'state', 'rate', got 'voltage'"),
    ("population not an array of tables", "population = 3\n",
     r"Config: \[\[population\]\] must be an array of tables, got 3"),
]


@pytest.mark.parametrize("make,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_clear_error(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


@pytest.mark.parametrize("text,pattern", [c[1:] for c in TOML_CASES], ids=[c[0] for c in TOML_CASES])
def test_bad_toml_raises_clear_error(text, pattern):
    with pytest.raises(ValueError, match=pattern):
        config.loads(text)


def test_files(tmp_path):
    with pytest.raises(ValueError, match=r"Config: file '.*nope\.toml' does not exist"):
        config.load(str(tmp_path / "nope.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[[population]\n")
    with pytest.raises(ValueError, match=r"Config '.*bad\.toml': not valid TOML"):
        config.load(str(bad))
    cases = [
        (lambda: EdgeList.from_file(str(tmp_path / "missing.csv")),
         r"EdgeList: connector\.file '.*missing\.csv' does not exist"),
        (edge_file(tmp_path, "e.txt", "pre,post\n0,1\n"),
         r"EdgeList: connector\.file must end in \.csv, \.npz, \.h5 or \.hdf5, got '.*e\.txt'"),
        (edge_file(tmp_path, "nopost.csv", "pre,weight\n0,1.0\n"),
         r"EdgeList: connector\.file '.*nopost\.csv' has no column 'post'"),
        (edge_file(tmp_path, "extra.csv", "pre,post,colour\n0,1,2\n"),
         r"EdgeList: connector\.file '.*extra\.csv' has an unknown column 'colour'; known: delay, post, pre, weight"),
        (edge_file(tmp_path, "text.csv", "pre,post\n0,one\n"),
         r"EdgeList: connector\.file '.*text\.csv' must hold numbers in 2 columns"),
    ]
    for make, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            make()
    frac = tmp_path / "frac.csv"
    frac.write_text("pre,post\n0.5,1\n")
    n = net()
    with pytest.raises(ValueError, match=J + r": connector\.pre of '.*frac\.csv' must hold integer indices, got 0\.5 at row 0"):
        n.add_projection("a", "b", {"rule": "edge_list", "file": str(frac)}, weight=1.0, delay=1.0)


def test_failed_additions_leave_the_network_unchanged():
    n = net()
    n.add_projection("a", "b", {"rule": "all_to_all"}, weight=1.0, delay=1.0, name="good")
    before = (dict(n.populations), dict(n.projections), dict(n.inputs), list(n.monitors))
    for bad in (lambda: n.add_projection("a", "b", {"rule": "all_to_all"}, weight=1.0, delay=0.0),
                lambda: n.add_population("c", 3, params={"tau_m": -1.0}),
                lambda: n.add_poisson_input("d", "a", -1.0, 0.1),
                lambda: n.add_state_monitor("a", "V_m", neurons=[9])):
        with pytest.raises(ValueError):
            bad()
    assert (n.populations, n.projections, n.inputs, n.monitors) == before
    # ... and the name of a failed projection stays free.
    n.add_projection("a", "b", {"rule": "all_to_all"}, weight=2.0, delay=1.0, name="a_b")
    assert list(n.projections) == ["good", "a_b"]
