"""Eligibility traces and the e-prop gradient of one update interval, per synapse.

For a synapse from neuron ``i`` to an e-prop neuron ``j`` with delay ``d`` steps, over
the steps ``t`` of an update interval (NEST's ``eprop_iaf::compute_gradient`` and
``eprop_iaf_adapt::compute_gradient``, accumulated over the interval)::

    x(t)       = 1 if i spiked at step t - d (the spike reaches j at t), else 0
    z_bar(t)   = alpha_j z_bar(t-1) + x(t)                 = dv_j(t) / dW_ji
    e(t)       = psi_j(t) (z_bar(t) - beta_j eps(t-1))     eligibility trace
    eps(t)     = rho_j eps(t-1) + e(t)                     (adaptive neurons; beta = 0 else)
    e_bar(t)   = kappa_j e_bar(t-1) + e(t)
    e_reg(t)   = kappa_reg_j e_reg(t-1) + (1 - kappa_reg_j) e(t)
    g         += L_j(t) e_bar(t) + R_j(t) e_reg(t)

with the learning signal ``L_j(t) = sum_k B_jk err_k(t + D)`` (``D``: the delay to the
readouts, so that ``err`` is the error that the spikes of step ``t`` cause) and the
firing-rate regularisation ``R_j(t) = c_reg (f_j(t) - f_target)``. A synapse onto a
readout ``k`` has ``psi = 1``, ``kappa = 0``, ``beta = 0``, ``R = 0`` and ``L = err_k``:
``g = sum_t err_k(t) z_bar(t)``, NEST's ``eprop_readout::compute_gradient``, the exact
gradient of the mean squared error.

Each synapse goes through the steps in time order with its own trace state, so its
gradient is the same bits on every rank and with any neighbours.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def interval_gradient(col, post, delay, X, T, psi, L, R, alpha, kappa, kappa_reg, beta, rho,
                      zbar, ebar, ereg, eps, out):
    """Gradients of one update interval of ``T`` steps.

    Per synapse ``s``: ``col[s]`` its source's column in the spike window ``X`` ((dmax +
    T) x sources: row ``dmax + u - d`` is 1 where the source spiked ``d`` steps before the
    interval's step ``u``, ``dmax = X.shape[0] - T``), ``post[s]`` its target's row in the
    per-target arrays, ``delay[s]`` (steps). ``psi``, ``L``, ``R`` (targets x T): surrogate
    gradient, learning signal and regularisation of each step of the interval; ``alpha``,
    ``kappa``, ``kappa_reg``, ``beta``, ``rho`` per target. ``zbar``, ``ebar``, ``ereg``,
    ``eps`` (per synapse) carry the traces across intervals and are updated in place.
    Writes the gradient of each synapse into ``out``.

    The synapses of one target (a run of equal ``post``: sort by target for speed) go
    through the steps together, the synapse loop inside the step loop: the synapses are
    independent, so the CPU overlaps their dependency chains, and each synapse still does
    its own operations in its own order (the same bits as one synapse at a time).
    """
    off = X.shape[0] - T
    S = col.size
    a0 = 0
    while a0 < S:
        j = post[a0]
        b0 = a0 + 1
        while b0 < S and post[b0] == j:
            b0 += 1
        a = alpha[j]
        k = kappa[j]
        kr = kappa_reg[j]
        ckr = 1.0 - kr
        b = beta[j]
        r = rho[j]
        # not adaptive: eps stays 0 and e = psi z_bar exactly (same bits without eps)
        plain = b == 0.0 and r == 0.0
        for s in range(a0, b0):
            out[s] = 0.0
            plain = plain and eps[s] == 0.0
        for u in range(T):
            p = psi[j, u]
            lu = L[j, u]
            ru = R[j, u]
            row = off + u
            if plain:
                for s in range(a0, b0):
                    zb = a * zbar[s] + X[row - delay[s], col[s]]
                    zbar[s] = zb
                    e = p * zb
                    eb = k * ebar[s] + e
                    ebar[s] = eb
                    er = kr * ereg[s] + ckr * e
                    ereg[s] = er
                    out[s] = out[s] + (lu * eb + ru * er)
            else:
                for s in range(a0, b0):
                    zb = a * zbar[s] + X[row - delay[s], col[s]]
                    zbar[s] = zb
                    ep = eps[s]
                    e = p * (zb - b * ep)
                    eps[s] = r * ep + e
                    eb = k * ebar[s] + e
                    ebar[s] = eb
                    er = kr * ereg[s] + ckr * e
                    ereg[s] = er
                    out[s] = out[s] + (lu * eb + ru * er)
        a0 = b0


@njit(cache=True)
def rate_regularisation(z, f_av, kappa_reg, c_reg, f_target, dt, R):
    """Firing-rate regularisation over an interval: per neuron ``j`` and step ``u`` (in
    time order) NEST's ``f_av = kappa_reg f_av + (1 - kappa_reg) z / dt`` (spikes/ms) and
    ``R[j, u] = c_reg (f_av - f_target)``. ``z`` (neurons x T): the spikes; ``f_av`` is
    carried across intervals and updated in place."""
    for j in range(z.shape[0]):
        kr = kappa_reg[j]
        f = f_av[j]
        for u in range(z.shape[1]):
            f = kr * f + (1.0 - kr) * z[j, u] / dt
            R[j, u] = c_reg[j] * (f - f_target[j])
        f_av[j] = f
