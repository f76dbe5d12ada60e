"""E-prop training of a :class:`~distsnn.engine.Simulation` across ranks.

The rule is e-prop (Bellec et al. 2020) with the gradient summed over an update interval
of ``T`` steps (the Bellec / TensorFlow form that NEST calls ``*_bsshslm_2020``), on
NEST 3.10's neurons ``eprop_iaf``, ``eprop_iaf_adapt`` and ``eprop_readout``
(:mod:`distsnn.learning.eligibility` states the traces).

Schedule. Iteration ``i`` is the update interval of the recurrent neurons, steps
``s0 + i T + 1 .. s0 + (i + 1) T``; the readouts see it ``D`` steps later (``D``: the
delay from the recurrent neurons to the readouts), so their window, the target and the
loss of iteration ``i`` are steps ``s0 + i T + D + 1 .. s0 + (i + 1) T + D``. At the end of
that window (a run boundary: :meth:`Simulation.advance` stops exactly there):

1. each rank puts its readouts' signals of the window into a ``(readouts, T)`` array and
   one ``allreduce`` (sum) gives every rank every signal: the only collective of an
   iteration, ``8 readouts T`` bytes; every readout is on exactly one rank, so the sum
   adds zeros to each value and is exact, whatever the rank count; every rank then
   computes the same errors and loss (:mod:`distsnn.learning.losses`);
2. each rank forms the learning signals of its own recurrent neurons,
   ``L_j(t) = sum_k B_jk err_k(t + D)`` (fixed feedback weights ``B``, summed in the order
   of k), and the gradient of every plastic synapse it holds: synapses live on their
   target's rank, so no weight and no gradient ever travels;
3. the optimizer (:mod:`distsnn.learning.optimizers`) updates the weights in place in
   the engine's synapse tables, rounded to the fixed-point quantum, so the simulated
   weight and the trained weight are the same number.

With ``reset`` (NEST's ``eprop_reset_neurons_on_update``, default on) the recurrent
neurons' ``V_m``, refractoriness, last spike and adaptation are reset at the start of
each interval and the readouts' ``V_m`` at the start of theirs, and the synapses'
traces restart from 0. Each step is computed the same way on every rank, so the
trained weights are bit-identical on any number of ranks and with any partition.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from .. import synapse_table, synapses, validate
from ..currents import CurrentDrive
from ..models import eprop_iaf, eprop_iaf_adapt, eprop_readout
from .eligibility import interval_gradient, rate_regularisation
from .losses import LOSSES, readout_errors
from .optimizers import Optimizer, OptimizerSpec

RECURRENT = (eprop_iaf.NAME, eprop_iaf_adapt.NAME)
READOUT = eprop_readout.NAME
#: The training file of a run directory (beside ``run.h5``).
TRAINING_FILE = "training.h5"


@dataclass
class TrainResult:
    """``loss[i]``: ``0.5 sum_t sum_k err_k(t)^2`` of iteration ``i`` (mV^2); ``weights``:
    ``{projection: (source gids, target gids, weights)}`` after training (on rank 0 with
    ``gather``, else this rank's synapses); ``wall_s``: seconds of training."""

    loss: list[float]
    iterations: int
    ranks: int
    wall_s: float
    weights: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)


@dataclass
class _Group:
    """The plastic synapses onto one kind of target (recurrent or readout) on this rank."""

    table: np.ndarray      # 0: the engine's short table, 1: its long table
    index: np.ndarray      # position in that table
    src: np.ndarray        # source gid
    tgt: np.ndarray        # target gid
    proj: np.ndarray       # index into the trained projections
    col: np.ndarray        # source's column in the spike history
    post: np.ndarray       # target's row in the group's per-target arrays
    delay: np.ndarray      # steps
    w: np.ndarray          # weight (the synapse's unit)
    key: np.ndarray = None        # the synapse's key: one z_bar per (source, target alpha, delay)
    key_col: np.ndarray = None    # per key: source column, alpha, delay
    key_alpha: np.ndarray = None
    key_delay: np.ndarray = None
    traces: tuple[np.ndarray, ...] = ()

    def set_keys(self, alpha: np.ndarray) -> None:
        """The keys of the synapses, given the ``alpha`` of each target row."""
        a = alpha[self.post] if self.post.size else np.zeros(0)
        triples = np.stack([self.col.astype(np.float64), a, self.delay.astype(np.float64)], axis=1)
        uniq, self.key = np.unique(triples, axis=0, return_inverse=True) if self.post.size else (np.zeros((0, 3)),
                                                                                                 np.zeros(0, np.int64))
        self.key = np.ascontiguousarray(self.key.reshape(-1), dtype=np.int64)
        self.key_col = uniq[:, 0].astype(np.int64)
        self.key_alpha = np.ascontiguousarray(uniq[:, 1])
        self.key_delay = uniq[:, 2].astype(np.int64)

    def reset_traces(self) -> None:
        """z_bar per key; e_bar, e_reg, eps per synapse."""
        self.traces = (np.zeros(self.key_col.size),) + tuple(np.zeros(self.src.size) for _ in range(3))


class Trainer:
    """Train the plastic projections of a simulation with e-prop.

    Parameters
    ----------
    sim : Simulation
        The simulation (built, at any step); training continues from its current step.
    plastic : sequence of str
        The projections to train: each from any population to an ``eprop_iaf``,
        ``eprop_iaf_adapt`` or ``eprop_readout`` population, and the only projection
        between its two populations.
    target : array, shape (readouts, T), (T,) or (n, readouts, T)
        The target signal ``y*`` of every readout neuron (readout populations in network
        order) over one update interval of ``T`` steps; ``T`` is the interval. With a
        first axis of ``n`` targets, iteration ``i`` learns target ``i % n`` (trials of a
        task). NaN: no target at that step (no error, no loss: NEST's learning window;
        with cross-entropy a NaN in any readout removes the step).
    feedback : mapping of str to array
        The fixed feedback weights ``B`` (1) of each recurrent population that has
        plastic input: shape (population size, readouts). Missing: no learning signal.
    optimizer : mapping or OptimizerSpec
        :class:`~distsnn.learning.optimizers.OptimizerSpec` fields (NEST's names).
    reset : bool
        Reset neurons and traces at the start of every update interval (NEST's
        ``eprop_reset_neurons_on_update``).
    loss : str
        ``"mean_squared_error"`` (NEST's ``eprop_readout``) or ``"cross_entropy"`` over
        the readouts at each step (classification; the targets are then probabilities):
        :func:`distsnn.learning.losses.readout_errors` (the readouts' recordable
        ``error_signal`` is ``y - y*`` either way).
    """

    def __init__(self, sim: Any, plastic: Sequence[str], target: Any, feedback: Mapping[str, Any] | None = None,
                 optimizer: Mapping[str, Any] | OptimizerSpec | None = None, reset: bool = True,
                 loss: str = "mean_squared_error") -> None:
        owner = "Trainer"
        net = sim.net
        self.sim, self.net = sim, net
        self.reset = validate.boolean(owner, "reset", reset)
        self.loss_kind = validate.choice(owner, "loss", loss, LOSSES)
        self.spec = OptimizerSpec.parse(owner, optimizer)
        if isinstance(plastic, str) or not isinstance(plastic, Sequence) or not plastic:
            raise ValueError(f"{owner}: plastic must be a non-empty list of projection names, got {plastic!r}")
        for name in plastic:
            if name not in net.projections:
                raise ValueError(f"{owner}: plastic projection {name!r} does not exist; known: "
                                 f"{', '.join(net.projections) or 'none'}")
            p = net.projections[name]
            model = net.populations[p.post].model
            if model not in RECURRENT + (READOUT,):
                raise ValueError(f"{owner}: plastic projection {name!r} targets population {p.post!r} of model "
                                 f"{model!r}; e-prop trains synapses onto {', '.join(RECURRENT + (READOUT,))}")
            twins = [q.name for q in net.projections.values() if (q.pre, q.post) == (p.pre, p.post) and q is not p]
            if twins:
                raise ValueError(f"{owner}: plastic projection {name!r} must be the only projection from "
                                 f"{p.pre!r} to {p.post!r}, but {twins[0]!r} connects them too")
        self.plastic = list(plastic)
        self.readouts = [n for n, p in net.populations.items() if p.model == READOUT]
        n_out = sum(net.populations[n].size for n in self.readouts)
        if n_out == 0:
            raise ValueError(f"{owner}: the network has no {READOUT!r} population to learn from")
        try:
            target = np.array(target, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{owner}: target must be an array of numbers, got {type(target).__name__}") from None
        if np.isinf(target).any():
            raise ValueError(f"{owner}: target must be finite or NaN (no target), got an infinite value")
        if target.ndim == 1:
            target = target[None, :]
        if target.ndim == 2:
            target = target[None]
        if target.ndim != 3 or target.shape[1] != n_out or target.shape[2] < 1 or target.shape[0] < 1:
            raise ValueError(f"{owner}: target must have shape (readouts, steps) = ({n_out}, T) or (trials, "
                             f"{n_out}, T), got {target.shape}")
        self.target = target
        self.T = int(target.shape[2])
        self.feedback = self._feedback(owner, feedback or {}, n_out)
        self._locate()
        self.loss: list[float] = []
        self.iteration = 0
        self.s0 = sim.step
        self._begin()
        sim.hooks.append(self)

    # -- set-up ---------------------------------------------------------------------------

    def _feedback(self, owner: str, given: Mapping[str, Any], n_out: int) -> dict[str, np.ndarray]:
        out = {}
        given = validate.mapping(owner, "feedback", given)
        for name, B in given.items():
            pop = self.net.populations.get(name)
            if pop is None or pop.model not in RECURRENT:
                raise ValueError(f"{owner}: feedback names {name!r}, which is not an e-prop recurrent population "
                                 f"({', '.join(RECURRENT)})")
            B = validate.finite_array(owner, f"feedback[{name!r}]", B)
            if B.shape != (pop.size, n_out):
                raise ValueError(f"{owner}: feedback[{name!r}] must have shape (population size, readouts) = "
                                 f"({pop.size}, {n_out}), got {B.shape}")
            out[name] = B
        return out

    def _locate(self) -> None:
        """Find this rank's plastic synapses in the engine's tables; set up the histories."""
        sim, net = self.sim, self.net
        offsets = net.offsets()
        self.rec_pops = [p for p in sim.pops if p.model.NAME in RECURRENT]
        self.out_pops = [p for p in sim.pops if p.model.NAME == READOUT]
        rec_row0, out_row0, r = {}, {}, 0
        for p in self.rec_pops:
            rec_row0[p.name], r = r, r + p.n
        self.n_rec = r
        r = 0
        for p in self.out_pops:
            out_row0[p.name], r = r, r + p.n
        self.n_out_local = r
        # global readout index of each local readout row
        k0, g0 = {}, 0
        for n in self.readouts:
            k0[n], g0 = g0, g0 + net.populations[n].size
        self.n_out = g0
        self.out_k = np.concatenate([k0[p.name] + p.index for p in self.out_pops]) if self.out_pops \
            else np.zeros(0, np.int64)
        B = np.zeros((self.n_rec, self.n_out))
        for p in self.rec_pops:
            if p.name in self.feedback:
                B[rec_row0[p.name]: rec_row0[p.name] + p.n] = self.feedback[p.name][p.index]
        self.B = B
        # New table objects (the engine's compiled calls cache a table's arrays by its identity)
        (sim.short, flat_short), (sim.long, flat_long) = (_own_weights(t, self._plastic_runs(t))
                                                          for t in (sim.short, sim.long))
        flat = [flat_short, flat_long]
        parts: dict[bool, list] = {True: [], False: []}
        for pi, name in enumerate(self.plastic):
            proj = net.projections[name]
            lo, hi = offsets[proj.pre], offsets[proj.pre] + net.populations[proj.pre].size
            pop = next((p for p in sim.pops if p.name == proj.post), None)
            if pop is None or pop.n == 0:
                continue
            is_out = pop.model.NAME == READOUT
            row0 = (out_row0 if is_out else rec_row0)[pop.name]
            for ti, (src, port, delay, wq, slot) in enumerate(flat):
                sel = np.flatnonzero((src >= lo) & (src < hi) & (port >= pop.port0) & (port < pop.port0 + pop.n)
                                     & (slot >= 0))
                local = port[sel] - pop.port0
                parts[is_out].append((np.full(sel.size, ti), slot[sel], src[sel], pop.gids[local],
                                      np.full(sel.size, pi), row0 + local, delay[sel], wq[sel] * synapses.QUANTUM))
        self.dmax = 1
        groups = []
        for is_out in (False, True):
            cols = list(zip(*parts[is_out])) if parts[is_out] else [[np.zeros(0, np.int64)]] * 7 + [[np.zeros(0)]]
            arrays = [np.concatenate(c) for c in cols]
            # by target, then source: interval_gradient takes a target's synapses together
            order = np.lexsort((arrays[2], arrays[5]))
            groups.append([x[order] for x in arrays])
            if arrays[6].size:
                self.dmax = max(self.dmax, int(arrays[6].max()))
        self.dmax = int(sim.comm.allreduce(self.dmax, "max"))
        sources = np.unique(np.concatenate([g[2] for g in groups]))
        self.sources = sources
        self.rec, self.out = (_Group(table=g[0], index=g[1], src=g[2], tgt=g[3], proj=g[4],
                                     col=np.searchsorted(sources, g[2]), post=g[5], delay=g[6], w=g[7])
                              for g in groups)
        self.D = self._readout_delay()
        bound = max(abs(self.spec.Wmin), abs(self.spec.Wmax))
        # the largest plastic in-degree of any neuron, on every rank (so every rank refuses alike)
        degree = max((int(np.bincount(g.post).max()) for g in (self.rec, self.out) if g.src.size), default=0)
        degree = int(sim.comm.allreduce(degree, "max"))
        if bound * degree >= synapses.MAX_INPUT:
            raise ValueError(f"Trainer: optimizer Wmin/Wmax allow weights up to {bound} on {degree} synapses "
                             f"of one neuron, beyond the fixed-point input bound {synapses.MAX_INPUT:g}")
        self.opt = [Optimizer(self.spec, self.rec.src.size), Optimizer(self.spec, self.out.src.size)]
        # Histories, rows by step modulo H: long enough for an interval, the readout lag
        # and the longest delay (the oldest spike an interval's first step can receive).
        self.H = self.T + 2 * self.D + self.dmax + 1
        self.X = np.zeros((self.H, max(sources.size, 1)))
        # The models' compiled loops write each step's surrogate gradient and spike
        # (recurrent) or readout signal (readouts) into these buffers, rows by step modulo H.
        self.buffers = {p.name: np.zeros((2, self.H, p.n)) for p in self.rec_pops}
        self.buffers.update({p.name: np.zeros((1, self.H, p.n)) for p in self.out_pops})
        for p in self.rec_pops + self.out_pops:
            _attach(p, self.buffers[p.name])
        self.f_av = np.zeros(self.n_rec)
        cst = {k: np.zeros(self.n_rec) for k in ("alpha", "kappa", "kappa_reg", "beta", "rho", "c_reg", "f_t")}
        for p in self.rec_pops:
            r0 = rec_row0[p.name]
            c = p.prepared
            sl = slice(r0, r0 + p.n)
            cst["alpha"][sl] = c.alpha
            cst["kappa"][sl] = c.p.kappa
            cst["kappa_reg"][sl] = c.p.kappa_reg
            cst["c_reg"][sl] = c.p.c_reg
            cst["f_t"][sl] = c.p.f_target / 1000.0          # spikes/ms
            if p.model.NAME == eprop_iaf_adapt.NAME:
                cst["beta"][sl] = c.p.adapt_beta
                cst["rho"][sl] = c.rho
        self.cst = cst
        self.out_alpha = np.concatenate([np.full(p.n, p.prepared.alpha) for p in self.out_pops]) \
            if self.out_pops else np.zeros(0)
        for g, alpha in ((self.rec, cst["alpha"]), (self.out, self.out_alpha)):
            g.set_keys(alpha)
            g.reset_traces()
        self._rows = {p.name: (rec_row0[p.name], p) for p in self.rec_pops}
        self._out_rows = {p.name: out_row0[p.name] for p in self.out_pops}
        for c in net.currents.values():
            if c.target in self.readouts:
                raise ValueError(f"Trainer: readout population {c.target!r} has current input {c.name!r}; a "
                                 f"readout's target is set by the trainer, and current generators are not "
                                 f"supported there")

    def _plastic_runs(self, t: Any) -> np.ndarray:
        """Which runs of table ``t`` hold plastic synapses (a run is one source's synapses
        of one projection with one delay: its first port tells the target population)."""
        net, offsets = self.net, self.net.offsets()
        keep = np.zeros(t.n_runs, bool)
        if not t.n_runs:
            return keep
        rsrc = t.run_sources()
        first = t.port[t.run_start].astype(np.int64)
        for name in self.plastic:
            proj = net.projections[name]
            lo, hi = offsets[proj.pre], offsets[proj.pre] + net.populations[proj.pre].size
            for p in self.sim.pops:
                if p.name == proj.post:
                    keep |= (rsrc >= lo) & (rsrc < hi) & (first >= p.port0) & (first < p.port0 + p.n)
        return keep

    def _readout_delay(self) -> int:
        """``D``: the one delay (steps) of the synapses from recurrent neurons to readouts."""
        sim, net = self.sim, self.net
        offsets = net.offsets()
        lo_hi = [(offsets[n], offsets[n] + p.size) for n, p in net.populations.items() if p.model in RECURRENT]
        dmin, dmax = np.iinfo(np.int64).max, 0
        for t in (sim.short, sim.long):
            if not t.size:
                continue
            src, port, delay, _ = t.expand()
            into = np.zeros(t.size, bool)
            for p in self.out_pops:
                into |= (port >= p.port0) & (port < p.port0 + p.n)
            from_rec = np.zeros(t.size, bool)
            for lo, hi in lo_hi:
                from_rec |= (src >= lo) & (src < hi)
            d = delay[into & from_rec]
            if d.size:
                dmin, dmax = min(dmin, int(d.min())), max(dmax, int(d.max()))
        dmin = int(sim.comm.allreduce(dmin, "min"))
        dmax = int(sim.comm.allreduce(dmax, "max"))
        if dmax == 0:
            return 1
        if dmin != dmax:
            raise ValueError(f"Trainer: the synapses from recurrent neurons to readouts must all have one delay "
                             f"(the learning signal's alignment), got {dmin} to {dmax} steps")
        return dmin

    # -- the schedule -------------------------------------------------------------------

    def _window(self, i: int) -> int:
        """First step of iteration ``i``'s recurrent window."""
        return self.s0 + i * self.T + 1

    def _begin(self) -> None:
        """Before the first interval: reset (optional) and the readouts' first target."""
        if self.reset:
            for p in self.rec_pops:
                self._reset_rec(p)
            for p in self.out_pops:
                p.state = replace(p.state, v=np.zeros(p.n))
        self._set_target(self.s0 + self.D, 0)

    def _set_target(self, t0: int, i: int) -> None:
        target = self.target[i % self.target.shape[0]]
        for p in self.out_pops:
            r0 = self._out_rows[p.name]
            p.prepared = eprop_readout.with_target(p.prepared, target[self.out_k[r0:r0 + p.n]], t0)

    @staticmethod
    def _reset_rec(p: Any) -> None:
        # arrays of their own: the compiled loops update them in place
        changes = dict(v=np.zeros(p.n), r=np.zeros(p.n, np.int64), z=np.zeros(p.n))
        if p.model.NAME == eprop_iaf_adapt.NAME:
            changes.update(a=np.zeros(p.n), v_th=np.full(p.n, p.prepared.theta))
        p.state = replace(p.state, **changes)

    def _advance_to(self, end: int) -> None:
        """Run the simulation to step ``end``, resetting the recurrent neurons (with
        ``reset``) after the last step of each of their intervals."""
        sim = self.sim
        while sim.step < end:
            stop = end
            if self.reset:
                stop = min(end, self.s0 + ((sim.step - self.s0) // self.T + 1) * self.T)
            sim.advance(stop * self.net.dt)
            if self.reset and (stop - self.s0) % self.T == 0:
                for p in self.rec_pops:
                    self._reset_rec(p)

    def _interval(self, plane: int, pops: list, rows: np.ndarray) -> np.ndarray:
        """Plane ``plane`` of the trace buffers of ``pops`` at ``rows``: (their neurons, rows)."""
        parts = [self.buffers[p.name][plane][rows].T for p in pops]
        return np.ascontiguousarray(np.concatenate(parts)) if parts else np.zeros((0, rows.size))

    # -- engine hooks ---------------------------------------------------------------------

    def stepped(self, pop: Any, t: int) -> None:
        """The engine's per-step hook (populations without a compiled loop): nothing to do,
        as the e-prop models write what training needs into their trace buffers."""

    def spikes(self, gids: np.ndarray, steps: np.ndarray, r_gids: np.ndarray, r_steps: np.ndarray,
               first: int, last: int) -> None:
        """After an epoch's exchange: the plastic synapses' sources' spikes into the history."""
        rows = np.arange(first, last + 1) % self.H
        self.X[rows] = 0.0
        if not self.sources.size:
            return
        for g, st in ((gids, steps), (r_gids, r_steps)):
            if g.size:
                c = np.searchsorted(self.sources, g)
                hit = (c < self.sources.size) & (self.sources[np.minimum(c, self.sources.size - 1)] == g)
                self.X[st[hit] % self.H, c[hit]] = 1.0

    # -- training -------------------------------------------------------------------------

    def step(self) -> float:
        """Run one iteration (update interval) and update the weights; returns its loss."""
        i = self.iteration
        ta = self._window(i)
        end = ta + self.T - 1 + self.D
        self._advance_to(end)
        T, H = self.T, self.H
        rows_out = np.arange(ta + self.D, ta + self.D + T) % H
        Y = np.zeros((self.n_out, T))
        if self.n_out_local:
            Y[self.out_k] = self._interval(0, self.out_pops, rows_out)
        Y = self.sim.comm.allreduce(Y, "sum")
        errs, loss = readout_errors(Y, self.target[i % self.target.shape[0]], self.loss_kind)
        self.last_readout = Y       # every readout's signal over the window (readouts x T), on every rank
        rows = np.arange(ta, ta + T) % H
        psi = self._interval(0, self.rec_pops, rows)
        R = np.zeros((self.n_rec, T))
        rate_regularisation(self._interval(1, self.rec_pops, rows), self.f_av, self.cst["kappa_reg"],
                            self.cst["c_reg"], self.cst["f_t"], self.net.dt, R)
        # L_j(t) = sum_k B_jk err_k(t + D), in the order of k (no BLAS: see module docstring)
        L = np.zeros((T, self.n_rec))
        for k in range(self.n_out):
            L += errs[k][:, None] * self.B[:, k][None, :]
        c = self.cst
        # the sources' spikes from dmax steps before the interval, as one contiguous window
        Xw = self.X[np.arange(ta - self.dmax, ta + T) % H]
        Xo = self.X[np.arange(ta + self.D - self.dmax, ta + self.D + T) % H]
        carried = not self.reset
        g_rec = _gradient(self.rec, Xw, psi, np.ascontiguousarray(L.T), R, c["kappa"], c["kappa_reg"], c["beta"],
                          c["rho"], carried)
        n = self.n_out_local
        z = np.zeros(n)
        g_out = _gradient(self.out, Xo, np.ones((n, T)), np.ascontiguousarray(errs[self.out_k]), np.zeros((n, T)),
                          z, z, z, z, carried)
        self.last_gradient = (g_rec, g_out)
        for g, grad, opt in ((self.rec, g_rec, self.opt[0]), (self.out, g_out, self.opt[1])):
            w, changed = opt.add(g.w, grad)
            if changed:
                self._write(g, w)
            if self.reset:
                g.reset_traces()
        if self.reset:
            for p in self.out_pops:
                p.state = replace(p.state, v=np.zeros(p.n))
        self._set_target(end, i + 1)
        self.loss.append(loss)
        self.iteration += 1
        return loss

    def _write(self, g: _Group, w: np.ndarray) -> None:
        """New weights into the engine's tables, rounded to the fixed-point quantum."""
        wq = np.rint(w / synapses.QUANTUM).astype(np.int64)
        for ti, t in enumerate((self.sim.short, self.sim.long)):
            sel = g.table == ti
            t.w64[g.index[sel]] = wq[sel]
        g.w = wq * synapses.QUANTUM

    def train(self, iterations: int, out: str | None = None, gather: bool = True,
              report: Any = None) -> TrainResult:
        """Run ``iterations`` update intervals. With ``out`` (a run directory) rank 0
        writes the losses and trained weights to ``out/training.h5``. ``report(i, loss)``
        is called on rank 0 after each iteration."""
        iterations = validate.integer("Trainer", "iterations", iterations, minimum=1)
        t0 = time.perf_counter()
        for _ in range(iterations):
            loss = self.step()
            if report is not None and self.sim.comm.rank == 0:
                report(self.iteration - 1, loss)
        wall = time.perf_counter() - t0
        weights = self.weights(gather or out is not None)
        res = TrainResult(list(self.loss), self.iteration, self.sim.comm.size, wall, weights)
        if out is not None and self.sim.comm.rank == 0:
            write_training(out, res, self.T, self.net.dt)
        return res

    def checkpoint_state(self) -> tuple[dict, dict]:
        """This rank's training state for a checkpoint (:mod:`distsnn.learning.snapshot`)."""
        from .snapshot import capture
        return capture(self)

    def restore(self, path: str | None = None) -> None:
        """Continue from the training state of the checkpoint the simulation was restored
        from (or ``path``), on any rank count (:mod:`distsnn.learning.snapshot`)."""
        from .snapshot import restore
        restore(self, path)

    def weights(self, gather: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``{projection: (source gids, target gids, weights)}`` sorted by (target, source):
        this rank's synapses, or with ``gather`` (collective) all of them on rank 0."""
        return self._per_projection((self.rec.w, self.out.w), gather)

    def gradients(self, gather: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """As :meth:`weights`, with the gradient of the last iteration (before the
        optimizer: ``dE/dW``, mV^2 per weight unit) in place of the weights."""
        last = getattr(self, "last_gradient", (np.zeros(self.rec.src.size), np.zeros(self.out.src.size)))
        return self._per_projection(last, gather)

    def _per_projection(self, values: tuple[np.ndarray, np.ndarray],
                        gather: bool) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        mine = {}
        for pi, name in enumerate(self.plastic):
            parts = [(g.src[g.proj == pi], g.tgt[g.proj == pi], v[g.proj == pi])
                     for g, v in zip((self.rec, self.out), values)]
            mine[name] = tuple(np.concatenate(x) for x in zip(*parts))
        if gather:
            allp = self.sim.comm.gather(mine)
            if self.sim.comm.rank != 0:
                return mine
            mine = {name: tuple(np.concatenate(x) for x in zip(*(p[name] for p in allp))) for name in self.plastic}
        out = {}
        for name, (s, t, w) in mine.items():
            o = np.lexsort((s, t))
            out[name] = (s[o], t[o], w[o])
        return out


def _gradient(g: _Group, X: np.ndarray, psi: np.ndarray, L: np.ndarray, R: np.ndarray, kappa: np.ndarray,
              kappa_reg: np.ndarray, beta: np.ndarray, rho: np.ndarray, carried: bool) -> np.ndarray:
    return interval_gradient(g.post, g.key, g.key_col, g.key_alpha, g.key_delay, X, psi, L, R, kappa, kappa_reg,
                             beta, rho, g.traces, carried)


def _attach(p: Any, trace: np.ndarray) -> None:
    """Give population ``p``'s constants (and those its current generators derive theirs
    from) the trace buffer ``trace``."""
    p.prepared = p.model.with_trace(p.prepared, trace)
    if p.drive is not None:
        p.drive = CurrentDrive(p.model, p.model.with_trace(p.drive.base, trace), p.drive.currents)


def _own_weights(t: Any, plastic: np.ndarray) -> tuple[Any, tuple[np.ndarray, ...]]:
    """A copy of table ``t`` in which the synapses of the runs ``plastic`` have weights of
    their own (64-bit, appended to ``w64``: a run's weights may be one shared value or a
    dictionary's), so that training can change each; and per synapse, run by run, the
    source, port, delay, weight (quanta) and the index of its own weight in the new
    table's ``w64`` (-1: not plastic)."""
    src, port, delay, wq = t.expand() if t.size else (np.zeros(0, np.int64),) * 4
    run = np.repeat(np.arange(t.n_runs), t.run_len)
    mine = plastic[run] if run.size else np.zeros(0, bool)
    slot = np.full(src.size, -1, np.int64)
    if mine.any():
        base = t.w64.size
        slot[mine] = base + np.arange(int(mine.sum()))
        runs = np.flatnonzero(plastic)
        offsets = base + np.concatenate(([0], np.cumsum(t.run_len[runs])[:-1]))
        run_kind, run_w = t.run_kind.copy(), t.run_w.copy()
        run_kind[runs] = synapse_table.W64
        run_w[runs] = offsets
        t = replace(t, w64=np.concatenate([t.w64, wq[mine]]), run_kind=run_kind, run_w=run_w)
    return t, (src, port, delay, wq, slot)


def write_training(out: str, res: TrainResult, interval: int, dt: float) -> str:
    """``out/training.h5``: ``loss`` (per iteration, mV^2) and per projection
    ``weights/<name>/{source,target,weight}``; written to a temporary name, then renamed."""
    path = os.path.join(out, TRAINING_FILE)
    tmp = path + ".tmp"
    os.makedirs(out, exist_ok=True)
    with h5py.File(tmp, "w") as f:
        f.attrs.update({"iterations": res.iterations, "ranks": res.ranks, "wall_s": res.wall_s,
                        "interval_steps": interval, "dt": dt, "rule": "eprop (update interval)"})
        f.create_dataset("loss", data=np.asarray(res.loss, dtype=np.float64)).attrs["units"] = "mV^2"
        for name, (s, t, w) in res.weights.items():
            g = f.create_group(f"weights/{name}")
            g.create_dataset("source", data=s)
            g.create_dataset("target", data=t)
            g.create_dataset("weight", data=w)
    os.replace(tmp, path)
    return path
