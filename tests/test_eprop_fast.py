"""E-prop's compiled paths: the adjoint interval gradient against the forward recursions
it replaces, and the fused e-prop epoch loop against the engine's population-by-population
loop (the same bits)."""

from __future__ import annotations

import numpy as np
import pytest

from distsnn.engine import Simulation
from distsnn.learning import Trainer
from distsnn.learning.eligibility import interval_gradient
from distsnn.learning.tasks import evidence_task
from distsnn.models import eprop_fused, lif
from distsnn.network import Network


def _forward(col, post, delay, X, psi, L, R, alpha, kappa, kappa_reg, beta, rho, zbar, ebar, ereg, eps):
    """The recursions of distsnn.learning.eligibility's docstring, synapse by synapse."""
    T = psi.shape[1]
    off = X.shape[0] - T
    g = np.zeros(col.size)
    ends = np.zeros((4, col.size))
    for s in range(col.size):
        j = post[s]
        zb, eb, er, ep = zbar[s], ebar[s], ereg[s], eps[s]
        for u in range(T):
            zb = alpha[j] * zb + X[off + u - delay[s], col[s]]
            e = psi[j, u] * (zb - beta[j] * ep)
            ep = rho[j] * ep + e
            eb = kappa[j] * eb + e
            er = kappa_reg[j] * er + (1.0 - kappa_reg[j]) * e
            g[s] += L[j, u] * eb + R[j, u] * er
        ends[:, s] = zb, eb, er, ep
    return g, ends


@pytest.mark.parametrize("carried", [False, True])
def test_adjoint_gradient_equals_forward_recursions(carried):
    rng = np.random.default_rng(3)
    T, n_src, n_tgt, dmax = 60, 7, 5, 3
    X = (rng.random((dmax + T, n_src)) < 0.2).astype(float)
    psi = rng.random((n_tgt, T)) * (rng.random((n_tgt, T)) < 0.7)       # zeros as refractory steps give
    L, R = rng.normal(size=(n_tgt, T)), rng.normal(size=(n_tgt, T)) * 0.1
    alpha = np.array([0.9, 0.9, 0.8, 0.95, 0.9])
    kappa, kappa_reg = rng.uniform(0.5, 0.99, n_tgt), rng.uniform(0.5, 0.99, n_tgt)
    beta = np.array([0.0, 0.7, 0.0, 1.5, 0.2])                          # adaptive and not
    rho = np.where(beta > 0, 0.97, 0.0)
    # every (source, target) pair, one with two delays; sorted by target except a tail
    col = np.repeat(np.arange(n_src), n_tgt)
    post = np.tile(np.arange(n_tgt), n_src)
    delay = rng.integers(1, dmax + 1, col.size)
    order = np.lexsort((col, post))
    col, post, delay = col[order], post[order], delay[order]
    col, post, delay = np.append(col, 2), np.append(post, 1), np.append(delay, 3)
    triples = np.stack([col, alpha[post], delay], axis=1)
    uniq, key = np.unique(triples, axis=0, return_inverse=True)
    key = key.reshape(-1).astype(np.int64)
    zkey = rng.random(uniq.shape[0]) if carried else np.zeros(uniq.shape[0])
    start = [zkey[key]] + [rng.normal(size=col.size) if carried else np.zeros(col.size) for _ in range(3)]
    start[3] = np.where(beta[post] > 0, start[3], 0.0)
    want, ends = _forward(col, post, delay, X, psi, L, R, alpha, kappa, kappa_reg, beta, rho, *start)
    traces = (zkey.copy(), start[1].copy(), start[2].copy(), start[3].copy())
    got = interval_gradient(post, key, uniq[:, 0].astype(np.int64), np.ascontiguousarray(uniq[:, 1]),
                            uniq[:, 2].astype(np.int64), X, psi, L, R, kappa, kappa_reg, beta, rho, traces, carried)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12 * np.abs(want).max())
    np.testing.assert_allclose(traces[0][key], ends[0], rtol=0, atol=0)   # z_bar: the same recursion, same bits
    if carried:
        for k in (1, 2, 3):
            np.testing.assert_allclose(traces[k], ends[k], rtol=1e-11, atol=1e-12 * np.abs(ends[k]).max())


def _train(fused: bool, trials: int = 3):
    task = evidence_task(1, batch=trials, n_reg=6, n_ad=6)
    sim = Simulation(task.network, max_memory=None)
    assert sim._fused is eprop_fused and sim.epoch > 1        # one rank, no synapse crosses: fused epochs
    if not fused:
        sim._fused = sim._group = None     # the population-by-population loop (segments of the shortest delay)
    tr = Trainer(sim, task.plastic, task.target, task.feedback, task.optimizer, loss="cross_entropy")
    for _ in range(trials):
        tr.step()
    return tr, sim


def test_fused_epochs_train_the_same_bits_as_population_loops():
    a, sa = _train(True)
    b, sb = _train(False)
    assert a.loss == b.loss and len(set(a.loss)) == len(a.loss)
    for name, (s, t, w) in a.weights().items():
        np.testing.assert_array_equal(w, b.weights()[name][2])
    for pa, pb in zip(sa.pops, sb.pops):
        for f in ("v", "r", "z", "psi", "a", "y"):
            if hasattr(pa.state, f):
                np.testing.assert_array_equal(getattr(pa.state, f), getattr(pb.state, f))
    assert sa.n_spikes == sb.n_spikes > 0


def test_fused_loop_takes_only_eprop_neurons_and_spike_trains():
    net = Network(dt=1.0, t_stop=10.0)
    net.add_population("in", 2, "spike_train", {"times": [[1.0], [2.0]]})
    net.add_population("rec", 3, "eprop_iaf", {}, initial={"V_m": -70.0})
    net.add_population("other", 2, "lif", {})
    net.add_projection("in", "rec", {"rule": "all_to_all"}, "delta", weight=1.0, delay=1.0)
    net.add_projection("rec", "other", {"rule": "all_to_all"}, "delta", weight=1.0, delay=1.0)
    sim = Simulation(net, max_memory=None)
    assert sim._fused is None
    assert not eprop_fused.fusable([p.state for p in sim.pops])
    assert eprop_fused.fusable([p.state for p in sim.pops if p.model is not lif])


def test_examples_end_with_a_result_line(tmp_path):
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = {"eprop_evidence.py": ["--iterations", "3", "--batch", "2", "--max-wall", "0",
                                  "--plot", str(tmp_path / "evidence.png")],
            "eprop_sine.py": ["--iterations", "2", "--n-in", "10", "--n-rec", "10"]}
    for script, args in runs.items():
        proc = subprocess.run([sys.executable, os.path.join(root, "examples", script), *args], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        last = proc.stdout.strip().splitlines()[-1]
        assert last.startswith("RESULT ")
        res = json.loads(last[len("RESULT "):])
        assert res["ranks"] == 1 and res["wall_s"] > 0
        assert len(res["loss"]) == res["iterations"]
        if script == "eprop_evidence.py":
            assert res["iterations"] == 1                  # --max-wall 0 stops after the first iteration
            assert len(res["accuracy"]) == 1 and 0.0 <= res["accuracy"][0] <= 1.0
            assert (tmp_path / "evidence.png").stat().st_size > 0
        else:
            assert res["iterations"] == 2
