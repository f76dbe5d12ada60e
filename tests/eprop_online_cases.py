"""Small e-prop networks trained in NEST 3.10's online form, as plain data: shared by
tests/test_eprop_online.py (distsnn) and scripts/eprop_online_nest.py (NEST 3.10, which
produced the reference values pinned in the test). Pure numpy; no distsnn import here."""

from __future__ import annotations

import numpy as np

N_IN, N_REC, T, ITERATIONS = 3, 4, 50, 4

#: case name -> (recurrent model, optimizer, extra recurrent parameters, readout cutoff (ms),
#: flush interval of the inputs (ms))
CASES = {
    "gd_per_spike": ("eprop_iaf", dict(type="gradient_descent", eta=0.01, batch_size=1, optimize_each_step=False),
                     {}, None, None),
    "adam_each_step": ("eprop_iaf", dict(type="adam", eta=0.01, batch_size=1, optimize_each_step=True), {}, None,
                       None),
    "adapt_adam_batch_cutoff": ("eprop_iaf_adapt", dict(type="adam", eta=0.02, batch_size=7,
                                                        optimize_each_step=False),
                                dict(adapt_beta=0.1, adapt_tau=30.0, eprop_isi_trace_cutoff=10.0,
                                     surrogate_gradient_function="fast_sigmoid_derivative"), 2.0, None),
    "gd_each_step_flush_cutoff": ("eprop_iaf", dict(type="gradient_descent", eta=0.01, batch_size=3,
                                                    optimize_each_step=True),
                                  dict(eprop_isi_trace_cutoff=15.0), None, 12.0),
}


def case(name: str) -> dict:
    """The network, inputs, weights, target and optimizer of case ``name`` (JSON-able)."""
    model, opt, extra, out_cutoff, flush = CASES[name]
    rng = np.random.RandomState(1)
    times = [sorted(set((np.flatnonzero(rng.rand(T * ITERATIONS) < 0.12) + 1).tolist())) for _ in range(N_IN)]
    rec = dict(C_m=1.0, E_L=0.0, V_th=0.3, tau_m=20.0, t_ref=2.0, c_reg=0.2, f_target=20.0,
               surrogate_gradient_function="piecewise_linear", surrogate_gradient_height=0.5,
               surrogate_gradient_width=0.5, kappa=0.95, kappa_reg=0.9)
    rec.update(extra)
    out = dict(C_m=1.0, E_L=0.0, tau_m=10.0)
    if out_cutoff is not None:
        out["eprop_isi_trace_cutoff"] = out_cutoff
    return dict(model=model, rec=rec, out=out, times=times,
                W_in=(rng.randn(N_IN, N_REC) * 0.4 + 0.2).tolist(), W_rec=(rng.randn(N_REC, N_REC) * 0.2).tolist(),
                W_out=(rng.randn(N_REC, 1) * 0.2).tolist(), B=rng.randn(N_REC, 1).tolist(),
                target=np.sin(np.linspace(0, 2 * np.pi, T)).tolist(), flush=flush,
                opt=dict(opt, Wmin=-5.0, Wmax=5.0))
