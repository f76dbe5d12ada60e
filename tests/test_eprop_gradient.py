"""The e-prop gradient against references on a single layer without recurrence, where
e-prop is exact: readout weights against a finite difference of the loss, input weights
against backpropagation through time written independently (reverse mode, stop-gradient
on the reset as e-prop's pseudo-derivative graph has it)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distsnn.engine import Simulation
from distsnn.learning import Trainer
from distsnn.learning.optimizers import Optimizer, OptimizerSpec
from distsnn.network import Network

N_IN, N_REC, N_OUT, T, D = 6, 5, 2, 80, 1
TAU_REC, TAU_OUT = 20.0, 15.0


def _weights():
    rng = np.random.default_rng(7)
    return (rng.uniform(0.05, 0.35, size=(N_IN, N_REC)), rng.normal(size=(N_REC, N_OUT)) * 0.5,
            rng.normal(size=(N_OUT, T)), [np.flatnonzero(rng.random(T) < 0.12) + 1.0 for _ in range(N_IN)])


BETA, TAU_A = 0.3, 25.0


def _net(w_in, w_out, spikes, surrogate="exponential", model="eprop_iaf"):
    net = Network(dt=1.0, t_stop=10 * T)
    net.add_population("in", N_IN, "spike_train", {"times": [s.tolist() for s in spikes]})
    params = dict(C_m=1.0, E_L=0.0, V_th=0.5, t_ref=2.0, tau_m=TAU_REC, surrogate_gradient_function=surrogate,
                  surrogate_gradient_height=0.4, surrogate_gradient_width=0.3, kappa=math.exp(-1.0 / TAU_OUT))
    if model == "eprop_iaf_adapt":
        params.update(adapt_beta=BETA, adapt_tau=TAU_A)
    net.add_population("rec", N_REC, model, params, initial={"V_m": 0.0})
    net.add_population("out", N_OUT, "eprop_readout", dict(C_m=1.0, tau_m=TAU_OUT), initial={"V_m": 0.0})
    net.add_projection("in", "rec", {"rule": "all_to_all"}, "delta", weight=w_in, delay=1.0)
    net.add_projection("rec", "out", {"rule": "all_to_all"}, "delta", weight=w_out, delay=float(D))
    return net


def _one_iteration(w_in, w_out, target, spikes, monitors=False, surrogate="exponential", model="eprop_iaf",
                   loss="mean_squared_error"):
    net = _net(w_in, w_out, spikes, surrogate, model)
    if monitors:
        net.add_state_monitor("rec", ["surrogate_gradient"])
        net.add_state_monitor("out", ["readout_signal"])
        net.add_spike_monitor("in")
    sim = Simulation(net, max_memory=None)
    tr = Trainer(sim, ["in_rec", "rec_out"], target, feedback={"rec": w_out},
                 optimizer={"type": "gradient_descent", "eta": 0.0}, loss=loss)
    loss = tr.step()
    return tr, loss, (sim.result() if monitors else None)


@pytest.mark.parametrize("surrogate,model,loss_kind,masked", [
    ("exponential", "eprop_iaf", "mean_squared_error", False),
    ("piecewise_linear", "eprop_iaf", "mean_squared_error", False),
    ("arctan_derivative", "eprop_iaf_adapt", "mean_squared_error", False),
    ("exponential", "eprop_iaf", "cross_entropy", False),
    ("fast_sigmoid_derivative", "eprop_iaf", "mean_squared_error", True),
    ("exponential", "eprop_iaf", "cross_entropy", True)])
def test_gradient_matches_finite_difference_and_bptt(surrogate, model, loss_kind, masked):
    w_in, w_out, target, spikes = _weights()
    ce = loss_kind == "cross_entropy"
    if ce:          # class probabilities at each step
        target = np.exp(target) / np.exp(target).sum(axis=0)
    if masked:      # no target (NaN) over steps 1-30 of readout 0: a learning window
        target[0, :30] = np.nan
    kw = dict(surrogate=surrogate, model=model, loss=loss_kind)
    tr, loss, res = _one_iteration(w_in, w_out, target, spikes, monitors=True, **kw)
    grads = tr.gradients()
    assert loss > 0
    # readout weights: central differences of the loss (quadratic in w_out: exact up to rounding)
    s, t, g = grads["rec_out"]
    assert s.size == N_REC * N_OUT
    h = 1e-3
    fd = np.zeros(g.size)
    for n in range(g.size):
        i, k = s[n] - N_IN, t[n] - N_IN - N_REC
        lp = _one_iteration(w_in, w_out + h * _unit(i, k), target, spikes, **kw)[1]
        lm = _one_iteration(w_in, w_out - h * _unit(i, k), target, spikes, **kw)[1]
        fd[n] = (lp - lm) / (2 * h)
    # mean squared error: quadratic in w_out, exact up to rounding; cross-entropy: O(h^2)
    assert np.max(np.abs(g - fd)) < (1e-5 if ce else 1e-6) * max(1.0, np.max(np.abs(fd)))
    # input weights: reverse-mode BPTT from the recorded trajectories
    psi = res.traces[("rec", "surrogate_gradient")]
    y = res.traces[("out", "readout_signal")]
    P = psi.values[np.searchsorted(psi.steps, np.arange(1, T + 1))]                 # (T, rec)
    Y = y.values[np.searchsorted(y.steps, np.arange(1 + D, T + D + 1))]             # (T, out): y(t + D)
    P_out = np.exp(Y) / np.exp(Y).sum(axis=1, keepdims=True) if ce else Y
    E = P_out - target.T                                                             # dE/dy (softmax: p - y*)
    E[np.isnan(target.T).any(axis=1) if ce else np.isnan(E)] = 0.0                  # no target: no error
    a_out, a_rec = math.exp(-1.0 / TAU_OUT), math.exp(-1.0 / TAU_REC)
    # dE/dz_j(t) = sum_k W_jk sum_{s >= t} a_out^(s - t) err_k(s + D)
    back = np.zeros((T + 1, N_OUT))
    for u in range(T - 1, -1, -1):
        back[u] = E[u] + a_out * back[u + 1]
    direct = back[:T] @ w_out.T                                                      # (T, rec)
    # adaptive threshold: a(t+1) = rho a(t) + z(t), z(t) = H(v(t) - V_th - beta a(t))
    beta, rho = (BETA, math.exp(-1.0 / TAU_A)) if model == "eprop_iaf_adapt" else (0.0, 0.0)
    dv = np.zeros((T + 1, N_REC))
    da = np.zeros((T + 1, N_REC))
    for u in range(T - 1, -1, -1):
        dz = direct[u] + da[u + 1]
        dv[u] = dz * P[u] + a_rec * dv[u + 1]
        da[u] = -beta * P[u] * dz + rho * da[u + 1]
    x = np.zeros((T + 2, N_IN))                                                      # arrivals (delay 1)
    for i, st in enumerate(spikes):
        x[st.astype(int) + 1, i] = 1.0
    ref = np.einsum("ti,tj->ij", x[1:T + 1], dv[:T])                                 # (in, rec)
    s, t, g = grads["in_rec"]
    mine = np.zeros((N_IN, N_REC))
    mine[s, t - N_IN] = g
    assert np.abs(ref).max() > 1e-2          # the check is not vacuous
    np.testing.assert_allclose(mine, ref, rtol=1e-9, atol=1e-12)
    if beta:
        # the adaptation path matters here: without it the reference is another gradient
        dv0 = np.zeros((T + 1, N_REC))
        for u in range(T - 1, -1, -1):
            dv0[u] = direct[u] * P[u] + a_rec * dv0[u + 1]
        assert np.abs(np.einsum("ti,tj->ij", x[1:T + 1], dv0[:T]) - ref).max() > 1e-3 * np.abs(ref).max()


def _unit(i, k):
    u = np.zeros((N_REC, N_OUT))
    u[i, k] = 1.0
    return u


def test_learning_reduces_loss_and_respects_bounds():
    w_in, w_out, target, spikes = _weights()
    net = _net(w_in, w_out, [np.concatenate([s + T * it for it in range(12)]) for s in spikes])
    sim = Simulation(net, max_memory=None)
    tr = Trainer(sim, ["in_rec", "rec_out"], target, feedback={"rec": w_out},
                 optimizer={"type": "adam", "eta": 0.02, "Wmin": -0.8, "Wmax": 0.8})
    res = tr.train(10)
    assert res.loss[-1] < 0.5 * res.loss[0]
    for s, t, w in res.weights.values():
        assert w.min() >= -0.8 and w.max() <= 0.8


def test_optimizers_are_nest_forms():
    spec = OptimizerSpec.parse("t", {"type": "adam", "eta": 0.1, "batch_size": 2})
    opt = Optimizer(spec, 1)
    w = np.array([1.0])
    w, changed = opt.add(w, np.array([0.4]))
    assert not changed and w[0] == 1.0             # half a batch: no step
    w, changed = opt.add(w, np.array([0.2]))
    g = 0.3                                          # the batch's mean gradient
    m, v = 0.1 * g, 0.001 * g * g
    alpha = 0.1 * math.sqrt(1 - 0.999) / (1 - 0.9)
    assert changed and w[0] == pytest.approx(1.0 - alpha * m / (math.sqrt(v) + 1e-7), rel=1e-12)
    gd = Optimizer(OptimizerSpec.parse("t", {"eta": 0.5, "Wmax": 0.9}), 2)
    w, _ = gd.add(np.array([1.0, 0.0]), np.array([0.1, -4.0]))
    np.testing.assert_allclose(w, [0.9, 0.9])       # 0.95 and 2.0, clipped to Wmax


@pytest.mark.parametrize("opt,match", [
    ({"type": "sgd"}, "type must be one of"),
    ({"eta": -1.0}, "eta must be >= 0"),
    ({"Wmin": 1.0, "Wmax": 0.0}, "Wmin must be <= Wmax"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"beta_1": 1.0}, "beta_1 must be in"),
    ({"lr": 0.1}, "lr"),
])
def test_bad_optimizer(opt, match):
    with pytest.raises(ValueError, match=match):
        OptimizerSpec.parse("Trainer", opt)


def test_bad_trainer_arguments():
    w_in, w_out, target, spikes = _weights()
    sim = Simulation(_net(w_in, w_out, spikes), max_memory=None)
    with pytest.raises(ValueError, match="plastic projection 'nope' does not exist"):
        Trainer(sim, ["nope"], target)
    with pytest.raises(ValueError, match=r"target must have shape \(readouts, steps\) = \(2, T\)"):
        Trainer(sim, ["in_rec"], np.zeros((3, 10)))
    with pytest.raises(ValueError, match=r"feedback\['rec'\] must have shape"):
        Trainer(sim, ["in_rec"], target, feedback={"rec": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="Wmin/Wmax allow weights up to 100000000.0 on 6 synapses"):
        Trainer(sim, ["in_rec"], target, optimizer={"Wmax": 1e8})
    net = _net(w_in, w_out, spikes)
    net.add_current_input("drive", "out", "dc", amplitude=1.0)
    with pytest.raises(ValueError, match="readout population 'out' has current input 'drive'"):
        Trainer(Simulation(net, max_memory=None), ["in_rec"], target)
    with pytest.raises(ValueError, match="Trainer: loss must be one of"):
        Trainer(sim, ["in_rec"], target, loss="hinge")
    with pytest.raises(ValueError, match="feedback names 'in'"):
        Trainer(sim, ["in_rec"], target, feedback={"in": np.zeros((N_IN, 2))})


def test_targets_per_iteration():
    w_in, w_out, target, spikes = _weights()
    trials = np.stack([target, -target])
    # inputs that reach the neurons within their own interval, so that the reset makes
    # every interval start alike
    net = _net(w_in, w_out, [np.concatenate([s[s < T - 1] + T * it for it in range(4)]) for s in spikes])
    net.add_state_monitor("out", ["target_signal"])
    sim = Simulation(net, max_memory=None)
    tr = Trainer(sim, ["in_rec", "rec_out"], trials, feedback={"rec": w_out},
                 optimizer={"type": "gradient_descent", "eta": 0.0})
    loss = tr.train(3).loss
    ts = sim.result().traces[("out", "target_signal")]
    for i, want in enumerate((target, -target, target)):
        rows = np.searchsorted(ts.steps, np.arange(i * T + D + 1, (i + 1) * T + D + 1))
        np.testing.assert_array_equal(ts.values[rows].T, want)
    # the weights do not move (eta 0) and the network is reset: the same trial, the same loss
    assert loss[0] == loss[2] and loss[1] != loss[0]


def test_training_changes_only_plastic_weights_in_the_engine_tables():
    # constant-weight projections share one weight per run: the trained one gets weights of
    # its own, the static one keeps its single value
    w_in, w_out, target, spikes = _weights()
    net = _net(0.2, w_out, [np.concatenate([s + T * it for it in range(3)]) for s in spikes])
    net.add_projection("in", "out", {"rule": "all_to_all"}, "delta", weight=0.05, delay=1.0)
    sim = Simulation(net, max_memory=None)
    tr = Trainer(sim, ["in_rec", "rec_out"], target, feedback={"rec": w_out},
                 optimizer={"type": "adam", "eta": 0.01})
    tr.train(2)
    src, port, _, wq = (np.concatenate(x) for x in zip(*(t.expand() for t in (sim.short, sim.long))))
    out0 = sim.pops[2].port0
    static = (src < N_IN) & (port >= out0)
    plastic = (src < N_IN) & (port < out0)
    assert static.sum() == N_IN * N_OUT and np.all(wq[static] == round(0.05 / 2.0 ** -36))
    assert plastic.sum() == N_IN * N_REC and np.unique(wq[plastic]).size > 1
    s, t, w = tr.weights()["in_rec"]
    assert np.array_equal(np.sort(w), np.sort(wq[plastic] * 2.0 ** -36))   # the simulated weights are the trained


def test_checkpoint_with_a_hook_that_cannot_store_its_state_is_refused_and_writes_nothing(tmp_path):
    """A restore rebuilds the synapses from the description: a hook whose state the
    checkpoint cannot hold would be lost without a word, so it is refused up front (a
    Trainer stores its own: tests/test_eprop_checkpoint.py)."""
    w_in, w_out, target, spikes = _weights()
    tr, _, _ = _one_iteration(w_in, w_out, target, spikes)

    class Observer:
        def stepped(self, pop, t):
            pass

        def spikes(self, *args):
            pass

    tr.sim.hooks.append(Observer())
    with pytest.raises(ValueError, match=r"checkpoint: the simulation has Observer attached, which cannot store"):
        tr.sim.checkpoint(str(tmp_path / "ck"))
    assert not (tmp_path / "ck").exists()
    # Without learning the same network checkpoints as before.
    sim = Simulation(_net(w_in, w_out, spikes), max_memory=None)
    sim.run(5.0)
    written = sim.checkpoint(str(tmp_path / "plain"))
    assert written.startswith(str(tmp_path / "plain")) and (tmp_path / "plain").is_dir()
    assert any((tmp_path / "plain").iterdir())
