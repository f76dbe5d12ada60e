"""E-prop in NEST 3.10's online form: a weight update per presynaptic spike.

The second gradient mode of :mod:`distsnn.learning` (the first, :mod:`~distsnn.learning.trainer`,
sums the gradient over an update interval: NEST's ``*_bsshslm_2020``). This is NEST's
``eprop_synapse`` with ``eprop_iaf``, ``eprop_iaf_adapt`` and ``eprop_readout`` (Korcsak-Gorzo
et al. 2024, event-based e-prop): nothing is reset, and a synapse computes its gradient
when its presynaptic neuron spikes, over the steps since that neuron's previous spike.

Per synapse from ``i`` to ``j`` (steps ``u``; ``s_prev`` and ``s``: the steps at which
``i`` spiked, the spike of ``s_prev`` reaching ``j`` at ``s_prev + 1``), when the spike of
``s`` is delivered, for ``u = s_prev .. s - 1`` (at most ``isi_trace_cutoff`` steps of them)::

    z_bar(u) = alpha_j z_bar(u-1) + [u == s_prev + 1]
    e(u)     = psi_j(u) (z_bar(u) - beta_j eps(u-1)),   eps(u) = rho_j eps(u-1) + e(u)
    e_bar(u) = kappa_j e_bar(u-1) + e(u),  e_reg(u) = kappa_reg_j e_reg(u-1) + (1 - kappa_reg_j) e(u)
    g(u)     = L_j(u) e_bar(u) + R_j(u) e_reg(u)

(a readout's synapse: ``psi = 1``, ``g = err_k(u) z_bar(u)``) with the learning signal
``L_j(u) = sum_k B_jk err_k(u + 1)`` and the regularisation ``R_j(u) = c_reg (f_j(u) -
f_target dt)``, ``f_j(u) = kappa_reg f_j(u-1) + (1 - kappa_reg) z_j(u) / dt`` (NEST's
``write_firing_rate_reg_to_history``). With ``optimize_each_step`` the optimizer gets
each ``g(u)`` with the index ``u``, else the sum with the index ``s - 1``; NEST's
``WeightOptimizer::optimized_weight`` takes a step whenever ``1 + index // batch_size``
has grown (Adam once per batch passed, with zero gradient for batches without one),
clipped to [Wmin, Wmax]. The spike is then delivered with the new weight (NEST's
``eprop_synapse::send``). Steps not reached by a cutoff decay the traces
(``z_bar *= alpha^n``...). A source with a ``flush_interval`` that has been silent that
long (since its last spike or flush) sends a flush event, NEST's
``flush_event_send_interval``: its synapses compute their gradient up to then without
delivering anything or (unless each step) optimizing.

Schedule and ranks. Every plastic synapse has a delay of one step (as NEST requires), so
every epoch is one step. After each step's spike exchange, each rank: puts its readouts'
signals into a vector and one ``allreduce`` (sum; every readout is on one rank, so it
is exact) gives every rank every readout's signal, its error and the loss; forms the
learning signal of the previous step of its own recurrent neurons (NEST's one-step
feedback delay: the error of step ``u + 1`` reaches the neurons' history at ``u``,
before the spikes that need it); then runs the events of its synapses whose sources
spiked or flushed (one compiled loop per synapse, in time order, its own state only)
and writes the new weights into the engine's table before the epoch's delivery. So a
synapse's weight is the same bits on any number of ranks and with any partition.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import h5py
import numpy as np
from numba import njit

from .. import synapse_table, synapses, validate
from .losses import readout_errors
from .trainer import READOUT, RECURRENT, TRAINING_FILE, Trainer

#: Cutoff / flush interval "never" (steps).
NEVER = np.iinfo(np.int64).max // 4


@dataclass
class SynapseState:
    """The per-synapse state of NEST's ``eprop_synapse`` and its optimizer (arrays over
    a group's synapses): previous event step (0: none yet), whether it was a flush,
    the spike buffer, traces, the gradient, steps left to the cutoff and steps to decay;
    the optimizer's cumulative gradient, Adam's moments and powers of beta_1 and
    beta_2, and its step counter (NEST's ``optimization_step_``, starting at 1)."""

    t_prev: np.ndarray
    prev_flush: np.ndarray
    z_buf: np.ndarray
    z_bar: np.ndarray
    e_bar: np.ndarray
    e_reg: np.ndarray
    eps: np.ndarray
    grad: np.ndarray
    remaining: np.ndarray
    decay: np.ndarray
    cumulative: np.ndarray
    m: np.ndarray
    v: np.ndarray
    b1_power: np.ndarray
    b2_power: np.ndarray
    opt_step: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> "SynapseState":
        f = {k: np.zeros(n) for k in cls.__dataclass_fields__}
        for k in ("t_prev", "remaining", "decay"):
            f[k] = np.zeros(n, np.int64)
        f["prev_flush"] = np.zeros(n, np.bool_)
        f["b1_power"] = np.ones(n)
        f["b2_power"] = np.ones(n)
        f["opt_step"] = np.ones(n, np.int64)
        return cls(**f)

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(getattr(self, k) for k in self.__dataclass_fields__)


class OnlineTrainer(Trainer):
    """Train the plastic projections of a simulation with e-prop in NEST's online form.

    Parameters as :class:`~distsnn.learning.Trainer` (``plastic``, ``target`` of ``T``
    steps per iteration, ``feedback``, ``optimizer``), and:

    isi_trace_cutoff : float or mapping of str to float, optional
        NEST's ``eprop_isi_trace_cutoff`` (ms) of the target neurons: a number for all,
        or per target population; default infinite.
    flush_interval : mapping of str to float, optional
        NEST's ``flush_event_send_interval`` (ms) of source populations (default: none
        sends flush events).

    An iteration is ``T`` steps: the readouts' window and loss are as in the interval
    mode (``D`` steps after the recurrent window), and the target of iteration ``i``
    (``i % trials``) follows the previous one without a gap. Neurons are never reset
    (NEST's online models have no reset). Only ``loss = "mean_squared_error"``
    (NEST's ``eprop_readout``). ``optimizer.batch_size`` counts steps here (NEST's).
    """

    def __init__(self, sim: Any, plastic: Sequence[str], target: Any, feedback: Mapping[str, Any] | None = None,
                 optimizer: Any = None, loss: str = "mean_squared_error",
                 isi_trace_cutoff: float | Mapping[str, float] | None = None,
                 flush_interval: Mapping[str, float] | None = None) -> None:
        owner = "OnlineTrainer"
        if loss != "mean_squared_error":
            raise ValueError(f"{owner}: loss must be 'mean_squared_error' (NEST's online eprop_readout), "
                             f"got {loss!r}")
        net = sim.net
        self._cutoff_ms = self._per_population(owner, "isi_trace_cutoff", isi_trace_cutoff, net,
                                               [n for n, p in net.populations.items()
                                                if p.model in RECURRENT + (READOUT,)])
        self._flush_ms = self._per_population(owner, "flush_interval", flush_interval or {}, net,
                                              list(net.populations))
        _one_step_epochs(sim)
        super().__init__(sim, plastic, target, feedback=feedback, optimizer=optimizer, reset=False, loss=loss)
        try:
            self._setup_online(owner)
        except BaseException:
            sim.hooks.remove(self)
            raise

    @staticmethod
    def _per_population(owner: str, field: str, given: Any, net: Any, allowed: list[str]) -> dict[str, float]:
        if given is None:
            return {}
        if not isinstance(given, Mapping):
            value = validate.positive(owner, field, given, "ms") if not (
                isinstance(given, float) and math.isinf(given) and given > 0) else math.inf
            return {n: value for n in allowed}
        out = {}
        for name, v in given.items():
            if name not in allowed:
                raise ValueError(f"{owner}: {field} names {name!r}, which is not one of the populations "
                                 f"{', '.join(allowed) or 'none'}")
            out[name] = math.inf if isinstance(v, float) and math.isinf(v) and v > 0 else \
                validate.positive(owner, f"{field}[{name!r}]", v, "ms")
        return out

    def _setup_online(self, owner: str) -> None:
        sim, net, dt = self.sim, self.net, self.net.dt
        bad = int(any(g.delay.size and (g.delay != 1).any() for g in (self.rec, self.out)))
        if int(sim.comm.allreduce(bad, "max")):
            raise ValueError(f"{owner}: every plastic synapse must have a delay of one step ({dt} ms), as "
                             f"NEST's eprop_synapse")
        # per-source flush interval (steps) over this rank's plastic sources
        offsets = net.offsets()
        self.flush_steps = np.full(self.sources.size, NEVER, np.int64)
        for name, ms in self._flush_ms.items():
            lo, hi = offsets[name], offsets[name] + net.populations[name].size
            sel = (self.sources >= lo) & (self.sources < hi)
            self.flush_steps[sel] = NEVER if math.isinf(ms) else int(round(ms / dt))
        self.last_event = np.zeros(self.sources.size, np.int64)
        # per-target cutoff (steps) for each group
        self.cut_rec = np.full(self.n_rec, NEVER, np.int64)
        for p, r0 in ((p, self._rows[p.name][0]) for p in self.rec_pops):
            ms = self._cutoff_ms.get(p.name, math.inf)
            self.cut_rec[r0:r0 + p.n] = NEVER if math.isinf(ms) else int(round(ms / dt))
        self.cut_out = np.full(self.n_out_local, NEVER, np.int64)
        for p in self.out_pops:
            r0 = self._out_rows[p.name]
            ms = self._cutoff_ms.get(p.name, math.inf)
            self.cut_out[r0:r0 + p.n] = NEVER if math.isinf(ms) else int(round(ms / dt))
        # synapses by source (the order events visit them)
        self.by_src = []
        for g in (self.rec, self.out):
            order = np.argsort(g.col, kind="stable")
            ptr = np.searchsorted(g.col[order], np.arange(self.sources.size + 1))
            self.by_src.append((order, ptr.astype(np.int64)))
        self.state = (SynapseState.zeros(self.rec.src.size), SynapseState.zeros(self.out.src.size))
        self.f_av = np.zeros(self.n_rec)
        # histories (neurons x C: columns by step modulo C, so that a synapse's loop reads
        # its target's row in order): psi, L, R of the recurrent targets, err of the readouts
        self.C = 2 * (self.T + 2)
        self.h_psi = np.zeros((self.n_rec, self.C))
        self.h_L = np.zeros((self.n_rec, self.C))
        self.h_R = np.zeros((self.n_rec, self.C))
        self.h_err = np.zeros((self.n_out_local, self.C))
        self._loss_acc = 0.0
        self._Y = np.zeros((self.n_out, self.T))

    # -- the schedule ---------------------------------------------------------------------

    def _begin(self) -> None:
        self._set_target(self.s0 + self.D, 0)

    def stepped(self, pop: Any, t: int) -> None:
        """Nothing per population: the online mode reads the states after each step's
        exchange (every epoch is one step)."""

    def _ensure_capacity(self, last: int) -> None:
        """Make the histories hold every step from the oldest previous event of any
        synapse (all later events read from there) up to ``last``."""
        lo = last
        for st in self.state:
            live = st.t_prev[st.t_prev > 0]
            if live.size:
                lo = min(lo, int(live.min()))
        need = last - lo + 3
        if need <= self.C:
            return
        C = 2 * need
        rows = np.arange(lo - 1, self.sim.step + 1)
        for name in ("h_psi", "h_L", "h_R", "h_err"):
            old = getattr(self, name)
            new = np.zeros((old.shape[0], C))
            new[:, rows % C] = old[:, rows % self.C]
            setattr(self, name, new)
        self.C = C

    def spikes(self, gids: np.ndarray, steps: np.ndarray, r_gids: np.ndarray, r_steps: np.ndarray,
               first: int, last: int) -> None:
        """After step ``s``'s exchange: errors, learning signal, traces' history, then the
        events (spikes and flushes) of the plastic synapses' sources, before delivery."""
        s = last
        C = self.C
        h = s % C
        # readout signals -> every rank (one small collective per step)
        Y = np.zeros(self.n_out)
        for p in self.out_pops:
            r0 = self._out_rows[p.name]
            Y[self.out_k[r0:r0 + p.n]] = p.state.y
        Y = self.sim.comm.allreduce(Y, "sum")
        j = s - self.s0 - self.D - 1
        if j >= 0:
            it, col = divmod(j, self.T)
            tgt = self.target[it % self.target.shape[0]][:, col]
            err, loss = readout_errors(Y[:, None], tgt[:, None], self.loss_kind)
            err = err[:, 0]
            self._loss_acc += loss
            self._Y[:, col] = Y
        else:
            err = np.zeros(self.n_out)
        self.h_err[:, h] = err[self.out_k]
        # L_j(s - 1) = sum_k B_jk err_k(s), in the order of k
        L = np.zeros(self.n_rec)
        for k in range(self.n_out):
            L += err[k] * self.B[:, k]
        self.h_L[:, (s - 1) % C] = L
        dt = self.net.dt
        for p in self.rec_pops:
            r0, _ = self._rows[p.name]
            sl = slice(r0, r0 + p.n)
            st = p.state
            # NEST's recordable at step s + 1: L of step s - 1 (carried into the next state)
            st.learning_signal[:] = L[sl]
            self.h_psi[sl, h] = st.psi
            kr = self.cst["kappa_reg"][sl]
            self.f_av[sl] = kr * self.f_av[sl] + (1.0 - kr) * st.z / dt
            self.h_R[sl, h] = self.cst["c_reg"][sl] * (self.f_av[sl] - self.cst["f_t"][sl] * dt)
        if not self.sources.size:
            return
        # this step's events: spikes, then flushes of the silent sources
        fired = np.zeros(self.sources.size, np.bool_)
        for g in (gids, r_gids):
            if g.size:
                c = np.searchsorted(self.sources, g)
                ok = c < self.sources.size
                c = c[ok]
                c = c[self.sources[c] == g[ok]]
                fired[c] = True
        flush = ~fired & (self.last_event > 1) & (s - self.last_event >= self.flush_steps)
        events = np.flatnonzero(fired | flush)
        if not events.size:
            return
        self.last_event[events] = s
        spec = self.spec
        w64 = self.sim.long.w64
        for g, st, (order, ptr), is_out in ((self.rec, self.state[0], self.by_src[0], False),
                                            (self.out, self.state[1], self.by_src[1], True)):
            if not g.src.size:
                continue
            if is_out:
                hist = (self.h_err, self.h_err, self.h_err)
                consts = (self.out_alpha, np.zeros(self.out_alpha.size), np.zeros(self.out_alpha.size),
                          np.zeros(self.out_alpha.size), np.zeros(self.out_alpha.size), self.cut_out)
            else:
                c = self.cst
                hist = (self.h_psi, self.h_L, self.h_R)
                consts = (c["alpha"], c["kappa"], c["kappa_reg"], c["beta"], c["rho"], self.cut_rec)
            synapse_events(events, flush[events], s, order, ptr, g.post, is_out, *hist, *consts,
                           spec.type == "adam", spec.optimize_each_step, spec.batch_size, spec.eta, spec.beta_1,
                           spec.beta_2, spec.epsilon, spec.Wmin, spec.Wmax, g.w, *st.arrays(), g.index, w64,
                           synapses.QUANTUM)

    # -- training -------------------------------------------------------------------------

    def step(self) -> float:
        """Run one iteration (``T`` steps, the readouts' window ``D`` steps later); returns
        its loss."""
        i = self.iteration
        ta = self._window(i)
        end = ta + self.T - 1 + self.D
        self._ensure_capacity(end)
        self._loss_acc = 0.0
        self.sim.advance(end * self.net.dt)
        self.last_readout = self._Y.copy()
        loss = float(self._loss_acc)
        self._set_target(end, i + 1)
        self.loss.append(loss)
        self.iteration += 1
        return loss

    def train(self, iterations: int, out: str | None = None, gather: bool = True, report: Any = None) -> Any:
        """As :meth:`Trainer.train`; ``out/training.h5`` names the online rule."""
        res = super().train(iterations, out=out, gather=gather, report=report)
        if out is not None and self.sim.comm.rank == 0:
            with h5py.File(os.path.join(out, TRAINING_FILE), "r+") as f:
                f.attrs["rule"] = "eprop (online: per presynaptic spike, NEST's eprop_synapse)"
        return res

    def gradients(self, gather: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """As :meth:`weights`, with each synapse's last gradient (NEST's ``gradient_``:
        of its last inter-spike interval, or of its last step with ``optimize_each_step``)."""
        return self._per_projection((self.state[0].grad, self.state[1].grad), gather)


def _one_step_epochs(sim: Any) -> None:
    """Make every epoch of ``sim`` one step, all synapses delivered after the exchange:
    a plastic synapse's weight must be updated between its spike's exchange and its
    delivery. Only a run whose synapses of delay 1 cross no rank has longer epochs
    (``Simulation`` chooses the epoch from the synapses that cross); the epoch is the
    same on every rank, so every rank takes this branch or none."""
    if sim.epoch == 1:
        return
    short, long = sim.short, sim.long
    if short.size and not (short.port is long.port and short.w32 is long.w32 and short.w64 is long.w64):
        raise RuntimeError("OnlineTrainer: the simulation's synapse tables were changed before training; "
                           "attach the trainer to a freshly built Simulation")
    if short.n_runs:
        rs = np.concatenate([short.run_sources(), long.run_sources()])
        cols = [np.concatenate([getattr(short, k), getattr(long, k)])
                for k in ("run_start", "run_len", "run_delay", "run_kind", "run_w")]
        order = np.lexsort((cols[2], rs))
        rs = rs[order]
        src, first = np.unique(rs, return_index=True)
        ptr = np.append(first, rs.size).astype(np.int64)
        long = synapse_table.SynapseTable(src, ptr, *(c[order] for c in cols), long.port, long.w32, long.w64)
    sim.short = replace(synapse_table.SynapseTable.empty(), port=long.port, w32=long.w32, w64=long.w64)
    sim.long = long
    sim.epoch = 1
    sim.short_span = np.iinfo(np.int64).max


@njit(cache=True, inline="always")
def _optimize(idx, g, w, adam, batch, eta, beta_1, beta_2, epsilon, Wmin, Wmax, cum, m, v, b1p, b2p, step):
    """NEST's ``WeightOptimizer::optimized_weight`` on one synapse's optimizer state
    (scalars in, scalars out: the caller keeps them in registers)."""
    cum += g
    current = 1 + idx // batch
    if step < current:
        cum /= batch
        if adam:
            while step < current:
                b1p *= beta_1
                b2p *= beta_2
                alpha = eta * math.sqrt(1.0 - b2p) / (1.0 - b1p)
                m = beta_1 * m + (1.0 - beta_1) * cum
                v = beta_2 * v + (1.0 - beta_2) * cum * cum
                w -= alpha * m / (math.sqrt(v) + epsilon)
                cum = 0.0
                step += 1
        else:
            w -= eta * cum
            cum = 0.0
        w = min(max(w, Wmin), Wmax)
        step = current
    return w, cum, m, v, b1p, b2p, step


@njit(cache=True)
def synapse_events(events, flushes, s, order, ptr, post, is_out, psi, L, R, alpha, kappa, kappa_reg, beta, rho,
                   cutoff, adam, each_step, batch, eta, beta_1, beta_2, epsilon, Wmin, Wmax, w,
                   t_prev, prev_flush, z_buf, z_bar, e_bar, e_reg, eps, grad, remaining, decay,
                   cumulative, m, v, b1p, b2p, opt_step, index, w64, quantum):
    """The events at step ``s`` of the sources ``events`` (columns; ``flushes``: a flush,
    else a spike) through their synapses ``order[ptr[c]:ptr[c + 1]]``: NEST's
    ``eprop_synapse::send`` and ``compute_gradient`` (module docstring). Histories
    ``psi``, ``L``, ``R`` (targets x C, column: step modulo C; a readout's error in ``L``);
    per-target constants; per-synapse state, updated in place; new weights into
    ``w`` and, in quanta, into ``w64[index]``."""
    C = L.shape[1]
    for e in range(events.size):
        c = events[e]
        is_flush = flushes[e]
        for q in range(ptr[c], ptr[c + 1]):
            k = order[q]
            if t_prev[k] != 0:
                j = post[k]
                isi = s - t_prev[k]
                if not prev_flush[k]:
                    remaining[k] = cutoff[j]
                z_cur = 0.0
                if not prev_flush[k]:
                    grad[k] = 0.0
                    z_cur = 1.0
                n = min(remaining[k], isi)
                a = alpha[j]
                kp = kappa[j]
                kr = kappa_reg[j]
                b = beta[j]
                r = rho[j]
                zp = z_buf[k]
                zb = z_bar[k]
                eb = e_bar[k]
                er = e_reg[k]
                ep = eps[k]
                gk = grad[k]
                wk = w[k]
                cu, mk, vk, p1, p2, st = cumulative[k], m[k], v[k], b1p[k], b2p[k], opt_step[k]
                u = t_prev[k]
                row = u % C
                for _ in range(n):
                    z = zp
                    zp = z_cur
                    z_cur = 0.0
                    zb = a * zb + z
                    if is_out:
                        inc = L[j, row] * zb
                    else:
                        ee = psi[j, row] * (zb - b * ep)
                        ep = r * ep + ee
                        eb = kp * eb + ee
                        er = kr * er + (1.0 - kr) * ee
                        inc = L[j, row] * eb + R[j, row] * er
                    if each_step:
                        gk = inc
                        wk, cu, mk, vk, p1, p2, st = _optimize(u, gk, wk, adam, batch, eta, beta_1, beta_2, epsilon,
                                                               Wmin, Wmax, cu, mk, vk, p1, p2, st)
                    else:
                        gk += inc
                    u += 1
                    row += 1
                    if row == C:
                        row = 0
                remaining[k] -= n
                decay[k] += isi - n
                if not is_flush and decay[k] > 0:
                    d = float(decay[k])
                    zb *= math.pow(a, d)
                    if not is_out:
                        eb *= math.pow(kp, d)
                        er *= math.pow(kr, d)
                        ep *= math.pow(r, d)
                    decay[k] = 0
                if not is_flush and not each_step:
                    wk, cu, mk, vk, p1, p2, st = _optimize(s - 1, gk, wk, adam, batch, eta, beta_1, beta_2, epsilon,
                                                           Wmin, Wmax, cu, mk, vk, p1, p2, st)
                z_buf[k] = zp
                z_bar[k] = zb
                e_bar[k] = eb
                e_reg[k] = er
                eps[k] = ep
                grad[k] = gk
                w[k] = wk
                cumulative[k], m[k], v[k], b1p[k], b2p[k], opt_step[k] = cu, mk, vk, p1, p2, st
                w64[index[k]] = np.int64(np.rint(wk / quantum))
            t_prev[k] = s
            prev_flush[k] = is_flush
