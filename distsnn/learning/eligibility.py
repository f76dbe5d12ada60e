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

How it is computed. The gradient is linear in ``z_bar``, and everything else in it
belongs to the target. So ``g = sum_t z_bar(t) W_j(t) + c_eb_j e_bar0 + c_er_j e_reg0 +
c_eps_j eps0`` (the last three: the traces carried into the interval, 0 after a reset),
where ``W_j`` comes from one backward pass per target (the adjoint of the recursions:
:func:`target_weights`), and ``z_bar`` is one forward pass per distinct (source,
alpha, delay) (:func:`source_traces`): ``O(T (sources + targets))`` for the traces
and one multiply-add per synapse and step where ``W_j(t) != 0`` (:func:`project`),
instead of a dozen operations per synapse and step. The traces at the end of the
interval (carried when neurons are not reset) are linear functionals of the same kind.

Each synapse's sum runs over the steps in time order, alone, and every target's and
source's pass is its own, so a gradient is the same bits on every rank and with any
neighbours.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def source_traces(X, T, col, alpha, delay, zbar, Z):
    """``Z[u, q] = z_bar`` at the interval's step ``u`` of key ``q`` (a source column
    ``col[q]`` of the spike window ``X`` ((dmax + T) x sources, row ``dmax + u - d``: the
    spikes ``d`` steps before step ``u``), its targets' ``alpha[q]``, its ``delay[q]``);
    ``zbar[q]`` carries the trace across intervals (updated in place)."""
    # step by step, all keys at once (rows of X and Z in memory order); each key's
    # recursion is its own, in time order
    off = X.shape[0] - T
    K = col.size
    for u in range(T):
        zu = Z[u]
        for q in range(K):
            z = alpha[q] * zbar[q] + X[off - delay[q] + u, col[q]]
            zbar[q] = z
            zu[q] = z


@njit(cache=True)
def target_weights(psi, L, R, kappa, kappa_reg, beta, rho, mu_end, W, c_eb, c_er, c_eps):
    """Per target ``j``, the weights ``W[j, u]`` of ``z_bar(u)`` in the functional
    ``F = sum_u L(u) e_bar(u) + R(u) e_reg(u) + mu_end eps(T - 1)``, and the weights of
    the carried traces (``c_eb``, ``c_er``, ``c_eps``), by one backward pass: with
    ``q(u) = Lb(u) + (1 - kappa_reg) Rb(u)`` (``Lb``, ``Rb``: ``L``, ``R`` filtered
    backwards by ``kappa``, ``kappa_reg``) and ``mu(u) = dF / d eps(u)``::

        nu(u) = q(u) + mu(u)                          = dF / d e(u)
        W(u)  = psi(u) nu(u)
        mu(u - 1) = rho mu(u) - beta psi(u) nu(u),    mu(T - 1) = mu_end
    """
    n, T = psi.shape
    for j in range(n):
        k = kappa[j]
        kr = kappa_reg[j]
        ckr = 1.0 - kr
        b = beta[j]
        r = rho[j]
        lb = 0.0
        rb = 0.0
        mu = mu_end[j]
        for u in range(T - 1, -1, -1):
            lb = L[j, u] + k * lb
            rb = R[j, u] + kr * rb
            nu = (lb + ckr * rb) + mu
            p = psi[j, u]
            W[j, u] = p * nu
            mu = r * mu - b * (p * nu)
        c_eb[j] = k * lb
        c_er[j] = kr * rb
        c_eps[j] = mu


@njit(cache=True)
def project(post, key, Z, W, out):
    """``out[s] = sum_u Z[u, key[s]] W[post[s], u]``, over ``u`` in order, skipping the
    steps where ``W`` is 0. The synapses of one target with consecutive keys (sort by
    target, then source: all-to-all gives long runs) go through the steps together, as
    contiguous rows that the compiler vectorises; each synapse's sum is still its own,
    in time order."""
    S = post.size
    T = W.shape[1]
    a0 = 0
    while a0 < S:
        j = post[a0]
        b0 = a0 + 1
        while b0 < S and post[b0] == j and key[b0] == key[b0 - 1] + 1:
            b0 += 1
        k0 = key[a0]
        m = b0 - a0
        o = out[a0:b0]
        o[:] = 0.0
        for u in range(T):
            w = W[j, u]
            if w != 0.0:
                z = Z[u, k0:k0 + m]
                for s in range(m):
                    o[s] = o[s] + z[s] * w
        a0 = b0


def _functional(post, key, Z, W, c_eb, c_er, c_eps, ebar, ereg, eps, carried):
    out = np.empty(post.size)
    project(post, key, Z, W, out)
    if carried:
        out += c_eb[post] * ebar
        out += c_er[post] * ereg
        out += c_eps[post] * eps
    return out


def interval_gradient(post: np.ndarray, key: np.ndarray, key_col: np.ndarray, key_alpha: np.ndarray,
                      key_delay: np.ndarray, X: np.ndarray, psi: np.ndarray, L: np.ndarray, R: np.ndarray,
                      kappa: np.ndarray, kappa_reg: np.ndarray, beta: np.ndarray, rho: np.ndarray,
                      traces: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], carried: bool) -> np.ndarray:
    """The gradient (per synapse) of one update interval of ``T = psi.shape[1]`` steps.

    ``post[s]``: synapse ``s``'s target row in the per-target arrays; ``key[s]``: its key
    (source column ``key_col``, target ``alpha`` ``key_alpha``, ``key_delay`` steps) in
    the spike window ``X`` ((dmax + T) x sources, see :func:`source_traces`). ``psi``,
    ``L``, ``R`` (targets x T): surrogate gradient, learning signal and regularisation;
    ``kappa``, ``kappa_reg``, ``beta``, ``rho`` per target. ``traces`` = (z_bar per key,
    e_bar, e_reg, eps per synapse) at the interval's start, updated in place to its end;
    ``carried``: whether they may be non-zero (else they are left as they are, with
    only z_bar advanced, and must be reset before the next interval).
    """
    T = psi.shape[1]
    n = psi.shape[0]
    zbar, ebar, ereg, eps = traces
    Z = np.empty((T, key_col.size))
    source_traces(X, T, key_col, key_alpha, key_delay, zbar, Z)
    W = np.empty((n, T))
    c = np.empty((3, n))
    target_weights(psi, L, R, kappa, kappa_reg, beta, rho, np.zeros(n), W, c[0], c[1], c[2])
    grad = _functional(post, key, Z, W, c[0], c[1], c[2], ebar, ereg, eps, carried)
    if carried:
        # The traces at the interval's end: F = e_bar(T-1), e_reg(T-1), eps(T-1).
        zero, last = np.zeros((n, T)), np.zeros((n, T))
        last[:, -1] = 1.0
        ends = []
        for Lf, Rf, mu in ((last, zero, np.zeros(n)), (zero, last, np.zeros(n)), (zero, zero, np.ones(n))):
            target_weights(psi, Lf, Rf, kappa, kappa_reg, beta, rho, mu, W, c[0], c[1], c[2])
            ends.append(_functional(post, key, Z, W, c[0], c[1], c[2], ebar, ereg, eps, True))
        ebar[:], ereg[:], eps[:] = ends
    return grad


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
