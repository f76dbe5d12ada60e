"""NEST's e-prop reference tasks as distsnn networks with their training set-up.

:func:`sine_task` is NEST 3.10's ``eprop_supervised_regression_sine-waves.py`` (after
Bellec et al. 2020, Fig. 2): ``n_in`` frozen Poisson-like inputs (a spike with
probability 0.05 per 1 ms step, the same pattern every sequence), ``n_rec`` recurrent
``eprop_iaf`` neurons, one ``eprop_readout``; the target is a sum of four sines with
periods 1000, 500, 333 and 200 steps over one sequence, normalised to peak 1. The
weights, inputs and target are drawn as NEST's script draws them (``np.random.seed``,
then ``randn`` for the weights, ``rand`` for the inputs, ``uniform`` for amplitudes and
phases, in its order), so with the defaults they are NEST's; NEST's parrot neurons are
replaced by spike trains one step later. Loss: ``0.5 sum_t (y - y*)^2`` per sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..network import Network


@dataclass
class Task:
    """A network and how to train it (the arguments of :class:`~distsnn.learning.Trainer`)."""

    network: Network
    plastic: list[str]
    target: np.ndarray
    feedback: dict[str, np.ndarray]
    optimizer: dict[str, Any]
    iterations: int
    extra: dict[str, Any] = field(default_factory=dict)


def superimposed_sines(rng: Any, steps: int, periods: list[int]) -> np.ndarray:
    """NEST's ``generate_superimposed_sines``: amplitudes U(0.5, 2), phases U(0, 2 pi)."""
    amplitudes = rng.uniform(low=0.5, high=2.0, size=len(periods))
    phases = rng.uniform(low=0.0, high=2.0 * np.pi, size=len(periods))
    sines = [A * np.sin(np.linspace(phi, phi + 2.0 * np.pi * (steps // T), steps))
             for A, phi, T in zip(amplitudes, phases, periods)]
    s = sum(sines)
    s -= s[0]
    return s / max(np.abs(s).max(), 1e-6)


def sine_task(iterations: int = 200, n_in: int = 100, n_rec: int = 100, steps: int = 1000, seed: int = 1,
              model: str = "eprop_iaf", optimizer: str = "gradient_descent", c_reg: float | None = None) -> Task:
    """The sine-wave pattern generation task (see the module docstring), 1 ms steps.

    ``model``: ``"eprop_iaf"`` or ``"eprop_iaf_adapt"`` (NEST's example sets
    ``adapt_beta`` 0 for the latter); ``optimizer``: ``"gradient_descent"`` (NEST's
    example: eta 1e-4 (1 - kappa)^2) or ``"adam"`` (eta 1e-2 (1 - kappa): one Adam step per interval);
    ``c_reg``: the firing-rate regularisation's coefficient (default NEST's, 300 / steps).
    """
    rng = np.random.RandomState(seed)      # NEST's script: np.random.seed, legacy draws
    kappa = 0.97
    scale = 1.0 - kappa                    # NEST's rescaling for eprop_iaf's regular spike arrival
    w_in = np.array(rng.randn(n_in, n_rec).T / np.sqrt(n_in), dtype=np.float32).astype(np.float64)
    w_rec = np.array(rng.randn(n_rec, n_rec).T / np.sqrt(n_rec), dtype=np.float32).astype(np.float64)
    np.fill_diagonal(w_rec, 0.0)
    w_out = np.array(rng.randn(n_rec, 1).T / np.sqrt(n_rec), dtype=np.float32).astype(np.float64) * scale
    B = np.array(rng.randn(n_rec, 1) / np.sqrt(n_rec), dtype=np.float32).astype(np.float64)
    if model == "eprop_iaf":
        w_in, w_rec, B = w_in * scale, w_rec * scale, B * scale
    spikes = (rng.rand(steps, n_in) < 0.05).swapaxes(0, 1)
    target = superimposed_sines(rng, steps, [1000, 500, 333, 200])
    # Step k of a sequence (k >= 1) is spike time k ms of its repetition; a spike at the
    # sequence's step 0 would reach the previous interval and is dropped (NEST drops it too).
    spikes[:, 0] = False
    times = [(np.flatnonzero(row)[:, None] + steps * np.arange(iterations + 1)[None, :]).T.ravel().astype(float)
             for row in spikes]
    net = Network(dt=1.0, seed=seed, t_stop=float(steps * (iterations + 1)))
    net.add_population("in", n_in, "spike_train", {"times": [t.tolist() for t in times]})
    rec = {"C_m": 1.0, "c_reg": 300.0 / steps if c_reg is None else c_reg, "E_L": 0.0, "f_target": 10.0,
           "I_e": 0.0, "kappa": kappa, "kappa_reg": 0.97, "surrogate_gradient_function": "piecewise_linear",
           "surrogate_gradient_height": 10.0, "surrogate_gradient_width": 1.0 / 33.3, "t_ref": 0.0, "tau_m": 30.0,
           "V_th": 0.03}
    if model == "eprop_iaf_adapt":
        rec["adapt_beta"] = 0.0
    net.add_population("rec", n_rec, model, rec, initial={"V_m": 0.0})
    net.add_population("out", 1, "eprop_readout", {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "tau_m": 30.0},
                       initial={"V_m": 0.0})
    net.add_projection("in", "rec", {"rule": "all_to_all"}, "delta", weight=w_in.T, delay=1.0)
    net.add_projection("rec", "rec", {"rule": "all_to_all", "allow_autapses": False}, "delta", weight=w_rec.T,
                       delay=1.0)
    net.add_projection("rec", "out", {"rule": "all_to_all"}, "delta", weight=w_out.T, delay=1.0)
    if optimizer == "adam":
        opt = {"type": "adam", "eta": 1e-2 * scale, "Wmin": -100.0, "Wmax": 100.0, "batch_size": 1}
    else:
        opt = {"type": "gradient_descent", "eta": 1e-4 * scale ** 2, "Wmin": -100.0, "Wmax": 100.0,
               "batch_size": 1}
    return Task(net, ["in_rec", "rec_rec", "rec_out"], target[None, :], {"rec": B}, opt, iterations,
                {"n_in": n_in, "n_rec": n_rec, "steps": steps, "seed": seed, "model": model})


def evidence_inputs(rng: Any, batch: int, n_in: int, steps: dict[str, int], n_cues: int = 7,
                    prob_group: float = 0.3, spike_prob: float = 0.04) -> tuple[np.ndarray, np.ndarray]:
    """NEST's ``generate_evidence_accumulation_input_output``: spikes (batch, steps, n_in)
    of the four input groups (left, right, recall, noise) and the right answer per trial
    (1: more right cues)."""
    labels, blocks = evidence_blocks(rng, batch, n_in, steps, n_cues, prob_group, spike_prob)
    return np.concatenate([b for _, b in blocks]), labels


def evidence_blocks(rng: Any, batch: int, n_in: int, steps: dict[str, int], n_cues: int = 7,
                    prob_group: float = 0.3, spike_prob: float = 0.04) -> tuple[np.ndarray, Any]:
    """:func:`evidence_inputs` as the labels and an iterator over (first trial, spikes of
    a block of trials): the same draws in the same order, in bounded memory."""
    n_pop = n_in // 4
    choices = np.array([prob_group, 1 - prob_group], dtype=np.float32)
    idx = rng.choice([0, 1], batch)
    probs = np.zeros((batch, 2), dtype=np.float32)
    probs[:, 0], probs[:, 1] = choices[idx], choices[1 - idx]
    cues = np.zeros((batch, n_cues), dtype=int)
    for b in range(batch):
        cues[b] = rng.choice([0, 1], n_cues, p=probs[b])
    labels = (cues.sum(axis=1) > n_cues // 2).astype(int)

    def blocks() -> Any:
        # NEST draws one uniform number per (trial, step, input) in one rand over the
        # whole array; a block of trials at a time takes the same numbers in order.
        block = max(1, 2 ** 22 // (steps["sequence"] * n_in))
        for b0 in range(0, batch, block):
            b1 = min(batch, b0 + block)
            p = np.zeros((b1 - b0, steps["sequence"], n_in))
            for b in range(b0, b1):
                for c in range(n_cues):
                    start = c * (steps["cue"] + steps["spacing"]) + steps["spacing"]
                    p[b - b0, start:start + steps["cue"], cues[b, c] * n_pop:(cues[b, c] + 1) * n_pop] = spike_prob
            p[:, -steps["recall"]:, 2 * n_pop:3 * n_pop] = spike_prob
            p[:, :, 3 * n_pop:] = spike_prob / 4.0
            spikes = p > rng.rand(p.size).reshape(p.shape)
            spikes[:, 0, :] = False
            yield b0, spikes

    return labels, blocks()


def evidence_task(iterations: int = 50, batch: int = 32, n_in: int = 40, n_reg: int = 50, n_ad: int = 50,
                  n_cues: int = 7, seed: int = 1) -> Task:
    """Evidence accumulation (Bellec et al. 2020, Fig. 3; NEST's
    ``eprop_supervised_classification_evidence-accumulation_bsshslm_2020.py``): 7 cues
    (100 ms, 50 ms apart) from a left or a right group of inputs, 1,050 ms of background
    noise, then a 150 ms recall cue; two readouts (cross-entropy) must tell which side
    had more cues, during the recall only (the target is NaN elsewhere). 50 LIF and 50
    adaptive LIF neurons (adapt_tau 2,000 ms), Adam (eta 5e-3), ``batch`` trials per
    weight update. NEST's parameters and draws, converted to this package's trace forms
    (the filtered eligibility trace without NEST's ``1 - kappa`` factor; ``c_reg`` scaled
    to the same ratio to the learning signal). ``extra["labels"]``: the answer of every
    trial; the task has ``iterations * batch`` trials.
    """
    rng = np.random.RandomState(seed)
    steps = {"cue": 100, "spacing": 50, "bg_noise": 1050, "recall": 150}
    steps["sequence"] = n_cues * (steps["cue"] + steps["spacing"]) + steps["bg_noise"] + steps["recall"]
    T = steps["sequence"]
    n_rec = n_reg + n_ad
    w_in = np.array(rng.randn(n_in, n_rec).T / np.sqrt(n_in), dtype=np.float32).astype(np.float64)
    w_rec = np.array(rng.randn(n_rec, n_rec).T / np.sqrt(n_rec), dtype=np.float32).astype(np.float64)
    np.fill_diagonal(w_rec, 0.0)
    limit = np.sqrt(3.0 / max(1.0, (n_rec + 2) / 2.0))               # NEST's Glorot draw
    w_out = np.array(rng.uniform(-limit, limit, size=(n_rec, 2)).T, dtype=np.float32).astype(np.float64)
    B = np.array(rng.randn(n_rec, 2), dtype=np.float32).astype(np.float64)
    n_trials = iterations * batch
    labels, blocks = evidence_blocks(rng, n_trials, n_in, steps, n_cues)
    parts: list[list[np.ndarray]] = [[] for _ in range(n_in)]
    for b0, spikes in blocks:
        trial, step, i = np.nonzero(spikes)
        t = ((b0 + trial) * T + step).astype(float)
        for k in range(n_in):
            parts[k].append(t[i == k])
    times = [np.concatenate(p) for p in parts]
    kappa = float(np.exp(-1.0 / 20.0))
    rec = {"C_m": 1.0, "c_reg": 300.0 / T / (1.0 - kappa), "E_L": 0.0, "f_target": 10.0, "I_e": 0.0,
           "kappa": kappa, "kappa_reg": kappa, "surrogate_gradient_function": "piecewise_linear",
           "surrogate_gradient_height": 0.3 / 0.6, "surrogate_gradient_width": 0.6, "t_ref": 5.0, "tau_m": 20.0,
           "V_th": 0.6}
    beta = 1.7 * (1.0 - np.exp(-1.0 / 2000.0)) / (1.0 - np.exp(-1.0 / 20.0))
    net = Network(dt=1.0, seed=seed, t_stop=float(T * (n_trials + 1)))
    net.add_population("in", n_in, "spike_train", {"times": times})
    net.add_population("reg", n_reg, "eprop_iaf", rec, initial={"V_m": 0.0})
    net.add_population("ad", n_ad, "eprop_iaf_adapt", dict(rec, adapt_tau=2000.0, adapt_beta=float(beta)),
                       initial={"V_m": 0.0})
    net.add_population("out", 2, "eprop_readout", {"C_m": 1.0, "E_L": 0.0, "tau_m": 20.0}, initial={"V_m": 0.0})
    parts = {"reg": slice(0, n_reg), "ad": slice(n_reg, n_rec)}
    for post, sl in parts.items():
        net.add_projection("in", post, {"rule": "all_to_all"}, "delta", weight=w_in[sl].T, delay=1.0)
        for pre, sp in parts.items():
            w = w_rec[sl, sp].T
            conn = {"rule": "all_to_all", "allow_autapses": False} if pre == post else {"rule": "all_to_all"}
            net.add_projection(pre, post, conn, "delta", weight=w, delay=1.0)
        net.add_projection(post, "out", {"rule": "all_to_all"}, "delta", weight=w_out[:, sl].T, delay=1.0)
    target = np.full((n_trials, 2, T), np.nan)
    target[:, :, -steps["recall"]:] = 0.0
    target[np.arange(n_trials), labels, -steps["recall"]:] = 1.0
    plastic = list(net.projections)
    opt = {"type": "adam", "eta": 5e-3, "batch_size": batch, "epsilon": 1e-8, "Wmin": -100.0, "Wmax": 100.0}
    return Task(net, plastic, target, {"reg": B[:n_reg], "ad": B[n_reg:]}, opt, iterations,
                {"labels": labels, "steps": T, "recall": steps["recall"], "batch": batch, "loss": "cross_entropy"})
