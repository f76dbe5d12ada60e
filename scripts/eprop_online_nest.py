"""NEST 3.10's online e-prop on the cases of tests/eprop_online_cases.py: prints the
losses and final weights that tests/test_eprop_online.py pins.

    /tmp/anchors-venv-interop/bin/python scripts/eprop_online_nest.py

Set-up mirrored from distsnn's: spike generators one step before parrots (the parrots'
spikes are distsnn's spike-train times), ``eprop_synapse`` (delay 1) from the parrots to
the recurrent neurons, among them (no autapses) and to the readout,
``eprop_learning_signal_connection`` back with the feedback weights, the target through a
``step_rate_generator`` timed so that the readout's ``target_signal`` at t = s ms is the
target of distsnn's step s (iteration i: steps i T + 2 .. (i + 1) T + 1, the readout
window one step after the recurrent one), the learning window open from the start.
Weights after iteration i are read after ``Simulate`` to (i + 1) T + 2 ms: the spikes of
distsnn's last step s are delivered (and trigger their updates) at the start of NEST's
step s + 1.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import nest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from eprop_online_cases import CASES, ITERATIONS, N_IN, N_REC, T, case  # noqa: E402


def run(cfg: dict) -> tuple[list[float], dict[str, list[float]]]:
    nest.ResetKernel()
    nest.set(resolution=1.0, total_num_virtual_procs=1)
    gen = nest.Create("spike_generator", N_IN)
    par = nest.Create("parrot_neuron", N_IN)
    rec = nest.Create(cfg["model"], N_REC, dict(cfg["rec"], V_m=0.0))
    out = nest.Create("eprop_readout", 1, dict(cfg["out"], V_m=0.0))
    tg = nest.Create("step_rate_generator", 1)
    lw = nest.Create("step_rate_generator", 1)
    for i in range(N_IN):
        gen[i].set(spike_times=[float(t) - 1.0 for t in cfg["times"][i]])
    if cfg["flush"]:
        par.set(flush_event_send_interval=cfg["flush"])
    nest.SetDefaults("eprop_synapse", {"optimizer": cfg["opt"]})
    nest.Connect(gen, par, "one_to_one", {"delay": 1.0})
    W_in, W_rec, W_out, B = (np.array(cfg[k]) for k in ("W_in", "W_rec", "W_out", "B"))
    syn = {"synapse_model": "eprop_synapse", "delay": 1.0}
    nest.Connect(par, rec, "all_to_all", dict(syn, weight=W_in.T))
    for i in range(N_REC):
        for j in range(N_REC):
            if i != j:
                nest.Connect(rec[i], rec[j], "one_to_one", dict(syn, weight=float(W_rec[i, j])))
    nest.Connect(rec, out, "all_to_all", dict(syn, weight=W_out.T))
    nest.Connect(out, rec, "all_to_all", {"synapse_model": "eprop_learning_signal_connection", "delay": 1.0,
                                           "weight": B})
    target = np.array(cfg["target"])
    # amplitude at tau ms -> the readout's target_signal at tau + 1 ms = distsnn's step tau + 1
    taus = np.arange(1, ITERATIONS * T + 5)
    tg.set(amplitude_times=taus.astype(float).tolist(),
           amplitude_values=[float(target[(t - 1) % T]) for t in taus])
    nest.Connect(tg, out, "one_to_one", {"synapse_model": "rate_connection_delayed", "delay": 1.0,
                                         "receptor_type": 2})
    lw.set(amplitude_times=[1.0], amplitude_values=[1.0])
    nest.Connect(lw, out, "all_to_all", {"synapse_model": "rate_connection_delayed", "delay": 1.0,
                                         "receptor_type": 1})
    mm = nest.Create("multimeter", {"interval": 1.0, "record_from": ["error_signal"]})
    nest.Connect(mm, out)
    mr = nest.Create("multimeter", {"interval": 1.0, "record_from": ["learning_signal"]})
    nest.Connect(mr, rec)
    nest.Simulate(float(ITERATIONS * T + 2))
    ev = mm.get("events")
    t, err = np.asarray(ev["times"]), np.asarray(ev["error_signal"])
    loss = [0.5 * float(np.sum(err[(t >= i * T + 2) & (t <= (i + 1) * T + 1)] ** 2)) for i in range(ITERATIONS)]
    weights = {}
    for name, (a, b) in {"in_rec": (par, rec), "rec_rec": (rec, rec), "rec_out": (rec, out)}.items():
        c = nest.GetConnections(a, b, synapse_model="eprop_synapse").get(["source", "target", "weight"])
        s, tt, w = (np.asarray(c[k]) for k in ("source", "target", "weight"))
        o = np.lexsort((s, tt))       # by target, then source (distsnn's Trainer.weights order)
        weights[name] = w[o].tolist()
    ev = mr.get("events")
    ls = {}
    for t0 in LS_TIMES:
        for j in range(N_REC):
            sel = (np.asarray(ev["times"]) == t0) & (np.asarray(ev["senders"]) == rec[j].global_id)
            ls.setdefault(t0, []).append(float(np.asarray(ev["learning_signal"])[sel][0]))
    return loss, weights, ls


#: Times (ms) at which the recurrent neurons' learning_signal is pinned. Not 4 ms: NEST
#: records 0 there, because its history entry of step 2 is erased by the first input
#: spikes' bookkeeping before it is read (no synapse needs it); distsnn records
#: sum_k B_jk err_k(3) as at every other step.
LS_TIMES = (3, 5, 6, 7, 8, 100, 101, 199, 200)


if __name__ == "__main__":
    nest.set_verbosity("M_ERROR")
    print("NEST = {")
    for name in CASES:
        loss, weights, ls = run(case(name))
        print(f"    {name!r}: ({[float(f'{x:.12g}') for x in loss]},")
        print("        {" + ",\n         ".join(f"{k!r}: {[float(f'{x:.12g}') for x in v]}" for k, v in weights.items())
              + "}),")
        if name == "gd_per_spike":
            learning = {t: [float(f"{x:.12g}") for x in v] for t, v in ls.items()}
    print("}")
    print(f"LEARNING_SIGNAL = {learning!r}")
