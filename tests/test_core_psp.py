"""One spike through one synapse: the PSP against its closed form, and its onset step.

The source neuron starts above threshold, so it spikes at step 1 and never again
(no bias current, reset to rest). A spike at step s with a delay of D steps arrives at
step a = s + D: a delta synapse moves V at step a, an exp synapse's current appears at
step a and moves V from step a + 1.

Weights are rounded to the nearest 2**-36 of their unit (distsnn.synapses.QUANTUM);
expected values are computed from the unrounded weight, so each tolerance carries an
explicit QUANTUM / 2 term scaled by the PSP per unit weight.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from distsnn import EdgeList, Network, OneToOne, Simulation
from distsnn.comm import LocalComm
from distsnn.synapses import QUANTUM


def run_local(net: Network):
    """Run in this process with every neuron on rank 0 (no partitioner involved)."""
    return Simulation(net, LocalComm(), owner=np.zeros(net.size, dtype=np.int64)).run()


DT = 0.1
E_L = -70.0
C_M = 250.0
TAU_M = 10.0
T_STOP = 40.0


def one_spike_network(connector, synapse, weight: float, delay: float) -> Network:
    net = Network(dt=DT, seed=11, t_stop=T_STOP)
    # Neuron 0 starts above threshold (spikes at step 1), neuron 1 at rest (never spikes).
    net.add_population("src", 2, params={"E_L": E_L, "V_reset": E_L, "t_ref": 2.0},
                       initial={"V_m": [-50.0, E_L]})
    net.add_population("tgt", 2, params={"C_m": C_M, "tau_m": TAU_M, "E_L": E_L, "V_th": 1e6,
                                         "V_reset": E_L})
    net.add_projection("src", "tgt", connector, synapse, weight=weight, delay=delay, name="syn")
    net.add_spike_monitor("src")
    net.add_spike_monitor("tgt")
    net.add_state_monitor("tgt", ["V_m", "I_syn"] if synapse != "delta" else ["V_m"])
    return net


CONNECTORS = {
    "one_to_one": OneToOne(),
    "edge_list": EdgeList(np.array([0]), np.array([0])),
}


def run(connector_name, synapse, weight, delay):
    net = one_spike_network(CONNECTORS[connector_name], synapse, weight, delay)
    res = run_local(net)
    # The source spiked exactly once, at step 1, and the target never.
    np.testing.assert_array_equal(res.spikes.gid, [0])
    np.testing.assert_array_equal(res.spikes.step, [1])
    return res


@pytest.mark.parametrize("connector_name", sorted(CONNECTORS))
@pytest.mark.parametrize("delay,delay_steps", [(0.1, 1), (2.3, 23)])
@pytest.mark.parametrize("weight", [0.7, -1.3])
def test_delta_psp(connector_name, delay, delay_steps, weight):
    res = run(connector_name, "delta", weight, delay)
    tr = res.trace("tgt", "V_m")
    steps, V = tr.steps, tr.values[:, 0]
    a = 1 + delay_steps
    # Before arrival V sits exactly at rest; at step a it has jumped.
    assert np.all(V[steps < a] == E_L)
    assert V[a] != E_L
    t = (steps[steps >= a] - a) * DT
    expected = weight * np.exp(-t / TAU_M)
    tol = 1e-9 * abs(weight) + QUANTUM / 2
    assert np.max(np.abs((V[steps >= a] - E_L) - expected)) <= tol
    # The jump is the quantised weight to rounding of one addition.
    wq = np.rint(weight / QUANTUM) * QUANTUM
    assert V[a] - E_L == pytest.approx(wq, abs=1e-13)
    # The control neuron received nothing.
    assert np.all(tr.values[:, 1] == E_L)


def exp_psp(weight: float, tau_s: float, t: np.ndarray) -> np.ndarray:
    if tau_s == TAU_M:
        return weight / C_M * t * np.exp(-t / TAU_M)
    return weight / C_M * tau_s * TAU_M / (TAU_M - tau_s) * (np.exp(-t / TAU_M) - np.exp(-t / tau_s))


@pytest.mark.parametrize("connector_name", sorted(CONNECTORS))
@pytest.mark.parametrize("delay,delay_steps", [(0.1, 1), (2.3, 23)])
@pytest.mark.parametrize("tau_s,weight", [(2.0, 85.3), (5.0, -40.1), (TAU_M, 60.7)])
def test_exp_psp(connector_name, delay, delay_steps, tau_s, weight):
    res = run(connector_name, {"kind": "exp", "tau": tau_s}, weight, delay)
    V_tr, I_tr = res.trace("tgt", "V_m"), res.trace("tgt", "I_syn")
    steps, V, I = V_tr.steps, V_tr.values[:, 0], I_tr.values[:, 0]
    a = 1 + delay_steps
    wq = np.rint(weight / QUANTUM) * QUANTUM
    # The current appears at step a, exactly the quantised weight, and decays exactly.
    assert np.all(I[steps < a] == 0.0)
    assert I[a] == wq
    t_I = (steps[steps >= a] - a) * DT
    np.testing.assert_allclose(I[steps >= a], wq * np.exp(-t_I / tau_s), rtol=1e-12)
    # V does not move until step a + 1.
    assert np.all(V[steps <= a] == E_L)
    assert V[a + 1] != E_L
    t = (steps[steps >= a] - a) * DT
    expected = exp_psp(weight, tau_s, t)
    peak = np.max(np.abs(expected))
    tol = 1e-9 * peak + QUANTUM / 2 * peak / abs(weight)
    assert np.max(np.abs((V[steps >= a] - E_L) - expected)) <= tol
    assert np.all(V_tr.values[:, 1] == E_L) and np.all(I_tr.values[:, 1] == 0.0)


def test_two_synapses_superpose_with_their_own_delays():
    """Two edges from the same spike with delays 0.5 and 1.7 ms give two delta jumps."""
    net = Network(dt=DT, seed=1, t_stop=10.0)
    net.add_population("src", 1, params={"t_ref": 2.0}, initial={"V_m": -50.0})
    net.add_population("tgt", 1, params={"V_th": 1e6})
    net.add_projection("src", "tgt", EdgeList(np.array([0, 0]), np.array([0, 0]),
                                              weight=np.array([0.5, 0.25]), delay=np.array([0.5, 1.7])))
    net.add_state_monitor("tgt", "V_m")
    V = run_local(net).trace("tgt", "V_m").values[:, 0]
    n = np.arange(V.size)
    expected = (0.5 * np.exp(-(n - 6) * DT / TAU_M) * (n >= 6)
                + 0.25 * np.exp(-(n - 18) * DT / TAU_M) * (n >= 18))
    np.testing.assert_allclose(V + 70.0, expected, rtol=1e-9, atol=1e-12)
    assert math.isclose(V[6] + 70.0, 0.5) and V[5] == -70.0
