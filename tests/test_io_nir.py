"""NIR import: the NIR paper's one-neuron LIF graph against its exact trace, the recurrent
CubaLIF Braille network (loads and runs, every weight a synapse), a convolutional graph
refused, and the CubaLIF / IF / LI discretisations against closed forms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import distsnn as ds

nir = pytest.importorskip("nir", reason="the optional 'nir' package is not installed (pip install nir)")
from distsnn.io.nir import load_nir  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "nir"
needs_fixture = pytest.mark.skipif(not (FIXTURES / "lif_norse.nir").is_file(),
                                   reason=f"NIR fixtures not found at {FIXTURES}")

# The input of the NIR paper's LIF experiment (paper/01_lif/lif_exact_sim.py): one value
# per 10 steps of 0.1 ms.
D0 = [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0,
      1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1,
      1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]


@needs_fixture
def test_lif_graph_follows_the_exact_trace():
    ref = np.loadtxt(FIXTURES / "lif_exact.csv", delimiter=",")   # input, V, spike per 0.1 ms
    d = np.zeros(len(D0) * 10)
    d[::10] = D0
    np.testing.assert_array_equal(ref[:, 0], d)
    net = load_nir(FIXTURES / "lif_norse.nir", dt=0.1, time_unit="s", inputs={"input": d[:, None]})
    p = net.populations["1"].params
    assert p.tau_m == pytest.approx(2.5) and p.V_th == pytest.approx(0.1)
    net.add_state_monitor("1", ["V_m"])
    res = ds.simulate(net)
    v = res.trace("1", "V_m").values[:, 0]
    # Row k of the reference is V at (k + 1) dt; distsnn's input takes one step more.
    dv = v[2:2 + ref.shape[0]] - ref[:, 1]
    first = int(np.flatnonzero(ref[:, 2])[0])
    assert np.abs(dv[:first]).max() < 1e-9            # exact until the first spike
    spikes = res.spikes.of(net.offsets()["1"], net.offsets()["1"] + 1).step
    np.testing.assert_array_equal(spikes, np.flatnonzero(ref[:, 2]) + 2)
    # After a spike the reset falls on the grid, not at the exact crossing: less than
    # one step of input (r (1 - exp(-dt / tau)) = 0.039) away.
    assert np.abs(dv).max() < 0.01


@needs_fixture
def test_braille_cubalif_network_loads_and_runs():
    g = nir.read(str(FIXTURES / "braille_noDelay_bias_zero.nir"))
    x = (np.random.default_rng(3).random((200, 12)) < 0.2).astype(int)
    net = load_nir(g, dt=0.05, time_unit="s", inputs={"input": x})
    assert {n: p.size for n, p in net.populations.items() if p.model == "lif"} == {"lif1_lif": 38, "lif2": 7}
    assert net.t_stop == pytest.approx(202 * 0.05)
    # Every non-zero weight and bias is a synapse, twice (membrane jump and synaptic current).
    nodes = g.nodes
    nnz = sum(int(np.count_nonzero(nodes[k].weight)) + int(np.count_nonzero(nodes[k].bias))
              for k in ("fc1", "lif1.w_rec", "fc2"))
    res = ds.simulate(net)
    assert res.summary["synapses"] == 2 * nnz
    assert any(p.pre == p.post == "lif1_lif" for p in net.projections.values())   # recurrent
    out = res.spikes.of(net.offsets()["lif2"], net.offsets()["lif2"] + 7)
    assert out.gid.size > 0                             # the Output node's spikes are recorded


@needs_fixture
def test_convolutional_graph_is_refused():
    with pytest.raises(ValueError, match=r"NIR node '0': Conv2d is not supported \(convolution, pooling"):
        load_nir(FIXTURES / "cnn_sinabs.nir", dt=1.0, time_unit="ms")


def test_time_unit_is_required_and_checked():
    g = nir.NIRGraph.from_list(nir.LIF(tau=np.array([0.01]), r=np.ones(1), v_leak=np.zeros(1),
                                       v_threshold=np.ones(1), v_reset=np.zeros(1)))
    with pytest.raises(TypeError):
        load_nir(g, dt=0.1)
    with pytest.raises(ValueError, match=r"time_unit must be 's' or 'ms'"):
        load_nir(g, dt=0.1, time_unit="us")


def pulse_graph(neuron, delay=None):
    nodes = {"input": nir.Input(input_type=np.array([1])), "w": nir.Linear(weight=np.array([[2.0]])),
             "n": neuron, "output": nir.Output(output_type=np.array([1]))}
    edges = [("input", "w"), ("w", "n"), ("n", "output")]
    if delay is not None:
        nodes["d"] = nir.Delay(delay=np.array([delay]))
        edges = [("input", "d"), ("d", "w"), ("w", "n"), ("n", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def test_cubali_readout_integrates_a_one_step_current_pulse_exactly():
    tau_s, tau_m, r, w_in, dt = 2.0, 8.0, 3.0, 1.5, 0.1
    node = nir.CubaLI(tau_syn=np.array([tau_s]), tau_mem=np.array([tau_m]), r=np.array([r]),
                      v_leak=np.zeros(1), w_in=np.array([w_in]))
    x = np.zeros((100, 1), dtype=int)
    x[0] = 1
    net = load_nir(pulse_graph(node), dt=dt, time_unit="ms", inputs={"input": x})
    assert net.populations["n"].model == "li"
    res = ds.simulate(net)
    v = res.trace("n", "V_m").values[:, 0]
    # Closed form: tau_s I' = -I + w_in X(t), tau_m v' = -v + r I, X = 2 on [0, dt).
    X = 2.0 * w_in
    t = np.arange(1, 60) * dt
    a, b = 1 / tau_s, 1 / tau_m

    def v_pulse_from_zero(s):      # response to a step of X switched on at 0
        return r * X * ((1 - np.exp(-b * s)) - b * (np.exp(-a * s) - np.exp(-b * s)) / (b - a))
    exact = v_pulse_from_zero(t) - np.where(t > dt, v_pulse_from_zero(np.maximum(t - dt, 0.0)), 0.0)
    # (weights are held to 2**-36 of their unit, so small ones carry ~1e-11 absolute error)
    np.testing.assert_allclose(v[2:61], exact, rtol=1e-7, atol=1e-10)


def test_if_integrates_without_leak_and_delays_add_steps():
    node = nir.IF(r=np.array([0.5]), v_threshold=np.array([10.0]), v_reset=np.zeros(1))
    x = np.zeros((30, 1), dtype=int)
    x[[0, 3, 4]] = 1
    net = load_nir(pulse_graph(node, delay=0.5), dt=0.1, time_unit="ms", inputs={"input": x})
    net.add_state_monitor("n", ["V_m"])
    v = ds.simulate(net).trace("n", "V_m").values[:, 0]
    jump = 0.5 * 2.0 * 0.1             # r w dt
    # Input k moves V at step k + 2 + 5 (the 0.5 ms delay); no leak in between.
    expected = np.cumsum(np.isin(np.arange(v.size), [7, 10, 11])) * jump
    np.testing.assert_allclose(v, expected, rtol=0, atol=1e-10)   # weights in 2**-36 quanta
