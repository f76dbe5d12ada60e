"""A trainer's state in a checkpoint, keyed by gid, and its restore onto any rank count.

:func:`capture` gives :func:`distsnn.checkpoint.write` one rank's share of a
:class:`~distsnn.learning.Trainer` (either mode): per plastic synapse, keyed by
(projection, source gid, target gid, delay, occurrence), its weight, eligibility traces
and optimizer state (Adam's moments; in the online mode NEST's per-synapse counters);
per neuron, keyed by gid, the histories the next gradients read (surrogate gradients,
regularisation, learning signal, readout signals, firing-rate estimate); per source,
keyed by gid, its spike history (interval mode) or last event (online mode); the
position (iteration, first step, losses) and the optimizer's counters; and the engine's
pending input ring keyed by (gid, channel, step), because the spikes in flight reached
it through weights that training has since changed (a restore that re-delivered them
would use the new ones).

:func:`restore` puts a checkpoint's share into a trainer built, with the same
arguments, on a simulation restored from that checkpoint
(:meth:`~distsnn.engine.Simulation.restore`): training N iterations, checkpointing,
restoring onto any number of ranks and training M more gives the weights of N + M
iterations in one run, bit for bit.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import h5py
import numpy as np

from .. import synapses

#: Group of the trainer ``i`` in a rank file of a checkpoint.
GROUP = "hooks/{}"
_KEY = [("proj", "<i8"), ("src", "<i8"), ("tgt", "<i8"), ("delay", "<i8"), ("nth", "<i8")]


def _online(trainer: Any) -> bool:
    return hasattr(trainer, "by_src")


def _keys(g: Any) -> np.ndarray:
    """The synapses of group ``g`` as sortable records; ``nth`` numbers synapses that agree
    on the rest (multapses), in table order, which every partition shares."""
    k = np.zeros(g.src.size, dtype=_KEY)
    k["proj"], k["src"], k["tgt"], k["delay"] = g.proj, g.src, g.tgt, g.delay
    if k.size:
        o = np.argsort(k, order=["proj", "src", "tgt", "delay"], kind="stable")
        s = k[o]
        same = np.r_[False, (s["proj"][1:] == s["proj"][:-1]) & (s["src"][1:] == s["src"][:-1])
                     & (s["tgt"][1:] == s["tgt"][:-1]) & (s["delay"][1:] == s["delay"][:-1])]
        run = np.cumsum(~same) - 1
        first = np.flatnonzero(~same)
        nth = np.arange(k.size) - first[run]
        k["nth"][o] = nth
    return k


def _synapse_arrays(trainer: Any, gi: int) -> dict[str, np.ndarray]:
    g = (trainer.rec, trainer.out)[gi]
    out = {"w": g.w}
    if _online(trainer):
        st = trainer.state[gi]
        out.update({f.name: getattr(st, f.name) for f in dataclasses.fields(st)})
    else:
        for j, tr in enumerate(g.traces):
            # z_bar is kept once per key (source, target's alpha, delay): per synapse here
            out[f"trace{j}"] = tr[g.key] if j == 0 and tr.size != g.src.size else tr
        opt = trainer.opt[gi]
        out.update(cumulative=opt.cumulative, m=opt.m, v=opt.v)
    return out


def _neuron_arrays(trainer: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per recurrent row and per local readout row: rows over time (history x neurons)."""
    if _online(trainer):
        # (time x neurons, as the interval trainer's)
        rec = {"f_av": trainer.f_av[None, :], "h_psi": trainer.h_psi.T, "h_L": trainer.h_L.T, "h_R": trainer.h_R.T}
        out = {"h_err": trainer.h_err.T}
    else:
        # the models' trace buffers (planes x H x neurons): psi and z, or the readout signal
        def planes(pops: list, plane: int) -> np.ndarray:
            parts = [trainer.buffers[p.name][plane] for p in pops]
            return np.concatenate(parts, axis=1) if parts else np.zeros((trainer.H, 0))

        rec = {"f_av": trainer.f_av[None, :], "psi": planes(trainer.rec_pops, 0), "z": planes(trainer.rec_pops, 1)}
        out = {"y": planes(trainer.out_pops, 0)}
    return rec, out


def _rec_gids(trainer: Any) -> np.ndarray:
    return np.concatenate([p.gids for p in trainer.rec_pops]) if trainer.rec_pops else np.zeros(0, np.int64)


def _out_gids(trainer: Any) -> np.ndarray:
    return np.concatenate([p.gids for p in trainer.out_pops]) if trainer.out_pops else np.zeros(0, np.int64)


def capture(trainer: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """This rank's share of ``trainer``: (attributes, arrays) for a checkpoint."""
    sim = trainer.sim
    boundary = trainer._window(trainer.iteration) - 1 + trainer.D
    if sim.step != boundary and not (trainer.iteration == 0 and sim.step == trainer.s0):
        # the same on every rank (a global step and count): every rank refuses alike
        raise ValueError(f"checkpoint: a Trainer is checkpointed between iterations (here at step {boundary}), "
                         f"the simulation is at step {sim.step}")
    attrs: dict[str, Any] = {"kind": "online" if _online(trainer) else "interval", "iteration": trainer.iteration,
                             "s0": trainer.s0, "T": trainer.T, "step": sim.step}
    arrays: dict[str, np.ndarray] = {"loss": np.asarray(trainer.loss, np.float64)}
    if _online(trainer):
        # the histories' last W steps, W the same on every rank (a rank's own rows reach
        # back as far as its synapses read; older ones are never read, stored as 0)
        W = int(sim.comm.allreduce(trainer.C, "max"))
        attrs["C"] = W
        arrays["source_gids"] = trainer.sources
        arrays["last_event"] = trainer.last_event
    else:
        attrs["H"] = trainer.H
        for gi, opt in enumerate(trainer.opt):
            attrs.update({f"opt{gi}_intervals": opt.intervals, f"opt{gi}_steps": opt.steps,
                          f"opt{gi}_b1": opt.b1, f"opt{gi}_b2": opt.b2})
        arrays["source_gids"] = trainer.sources
        arrays["X"] = trainer.X[:, :trainer.sources.size]
    for gi, g in enumerate((trainer.rec, trainer.out)):
        arrays[f"syn{gi}/key"] = _keys(g)
        for k, v in _synapse_arrays(trainer, gi).items():
            arrays[f"syn{gi}/{k}"] = v
    rec, out = _neuron_arrays(trainer)
    arrays["rec/gids"], arrays["out/gids"] = _rec_gids(trainer), _out_gids(trainer)
    if _online(trainer):
        steps = np.arange(sim.step - W + 1, sim.step + 1)
        live = steps > sim.step - trainer.C
        for d in (rec, out):
            for k in d:
                if k != "f_av":
                    win = np.zeros((W, d[k].shape[1]))
                    win[live] = d[k][steps[live] % trainer.C]
                    d[k] = win
    for k, v in rec.items():
        arrays[f"rec/{k}"] = v
    for k, v in out.items():
        arrays[f"out/{k}"] = v
    # the pending input ring, keyed by (gid, channel) per port, for the steps after this one
    gid, chan = [], []
    for p in sim.pops:
        for c in range(len(p.channels)):
            gid.append(p.gids)
            chan.append(np.full(p.n, c, np.int64))
    R = sim.ring.shape[0]
    steps = np.arange(sim.step + 1, sim.step + R)
    arrays["ring/gid"] = np.concatenate(gid) if gid else np.zeros(0, np.int64)
    arrays["ring/channel"] = np.concatenate(chan) if chan else np.zeros(0, np.int64)
    arrays["ring/steps"] = steps
    arrays["ring/values"] = sim.ring[steps % R]
    return attrs, arrays


def _read(path: str, files: list[str], index: int) -> list[tuple[dict, dict]]:
    out = []
    for f in files:
        with h5py.File(os.path.join(path, f), "r", locking=False) as h:
            name = GROUP.format(index)
            if name not in h:
                raise ValueError(f"restore: checkpoint {path!r} holds no trainer state (no {name!r} in {f!r}); "
                                 f"it was written without a Trainer attached")
            g = h[name]
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
            arrays = {}
            g.visititems(lambda k, d: arrays.__setitem__(k, d[()]) if isinstance(d, h5py.Dataset) else None)
            out.append((attrs, arrays))
    return out


def _by_key(parts: list[dict], prefix: str, mine: np.ndarray, owner: str) -> dict[str, np.ndarray]:
    """The stored arrays ``prefix/*`` of the synapses ``mine`` (keys), from all rank files."""
    keys = np.concatenate([p[f"{prefix}/key"] for p in parts]).astype(_KEY)
    names = [k[len(prefix) + 1:] for k in parts[0] if k.startswith(prefix + "/") and k != f"{prefix}/key"]
    vals = {n: np.concatenate([p[f"{prefix}/{n}"] for p in parts]) for n in names}
    o = np.argsort(keys, kind="stable")
    keys = keys[o]
    pos = np.searchsorted(keys, mine)
    ok = (pos < keys.size) & (keys[np.minimum(pos, max(keys.size - 1, 0))] == mine) if keys.size else \
        np.zeros(mine.size, bool)
    if not ok.all():
        raise ValueError(f"{owner}: the checkpoint lacks {int((~ok).sum())} of this rank's plastic synapses "
                         f"(another network or other plastic projections)")
    return {n: v[o][pos] for n, v in vals.items()}


def _rows(parts: list[dict], group: str, names: list[str], gids: np.ndarray, owner: str) -> dict[str, np.ndarray]:
    """Columns of the per-neuron arrays ``group/name`` (time x neurons) for ``gids``."""
    all_gids = np.concatenate([p[f"{group}/gids"] for p in parts])
    o = np.argsort(all_gids, kind="stable")
    g = all_gids[o]
    pos = np.searchsorted(g, gids)
    if gids.size and not ((pos < g.size) & (g[np.minimum(pos, max(g.size - 1, 0))] == gids)).all():
        raise ValueError(f"{owner}: the checkpoint lacks neurons of this rank's trainer")
    return {n: np.concatenate([p[f"{group}/{n}"] for p in parts], axis=1)[:, o][:, pos] for n in names}


def restore(trainer: Any, path: str | None = None) -> None:
    """Set ``trainer`` (just built on a restored simulation) to the checkpoint's training
    state. ``path``: the checkpoint (default: the one the simulation was restored from)."""
    from .. import checkpoint as ckpt

    owner = f"{type(trainer).__name__}.restore"
    sim = trainer.sim
    path = path or getattr(sim, "restored_from", None)
    if path is None:
        raise ValueError(f"{owner}: the simulation was not restored from a checkpoint and no path was given")
    ck = ckpt.open_checkpoint(path, sim.net, sim.comm)
    error, parts = None, None
    try:
        if ck.step != sim.step:
            raise ValueError(f"the checkpoint is at step {ck.step}, the simulation at step {sim.step}")
        index = sim.hooks.index(trainer)
        loaded = _read(ck.path, ck.files, index)
        attrs = loaded[0][0]
        parts = [a for _, a in loaded]
        kind = "online" if _online(trainer) else "interval"
        if attrs["kind"] != kind or int(attrs["T"]) != trainer.T:
            raise ValueError(f"the checkpoint holds a trainer of mode {attrs['kind']!r} and T = {int(attrs['T'])} "
                             f"steps, this one has mode {kind!r} and T = {trainer.T}")
        syn = [_by_key(parts, f"syn{gi}", _keys(g), owner) for gi, g in enumerate((trainer.rec, trainer.out))]
        rec_names, out_names = (list(d) for d in _neuron_arrays(trainer))
        rec = _rows(parts, "rec", rec_names, _rec_gids(trainer), owner)
        out = _rows(parts, "out", out_names, _out_gids(trainer), owner)
        src_all = np.concatenate([p["source_gids"] for p in parts])
        _, first = np.unique(src_all, return_index=True)
        src_key = "last_event" if kind == "online" else "X"
        src_val = np.concatenate([p[src_key] for p in parts], axis=-1)
        o = np.argsort(src_all[first], kind="stable")
        src_sorted = src_all[first][o]
        src_pos = np.searchsorted(src_sorted, trainer.sources)
        if trainer.sources.size and not (src_sorted[np.minimum(src_pos, max(src_sorted.size - 1, 0))]
                                         == trainer.sources).all():
            raise ValueError(f"{owner}: the checkpoint lacks sources of this rank's plastic synapses")
        src_cols = first[o][src_pos]
        ring = _ring(sim, parts, owner)
    except (ValueError, KeyError, OSError) as e:
        error = str(e) if str(e).startswith(owner) else f"{owner}: checkpoint {path!r}: {e}"
    ckpt._collective_check(sim.comm, error)
    # the population states as stored (the trainer's construction reset neurons and set targets)
    states, _, _, _ = ckpt._read_state(sim, ck)
    for pop, st in zip(sim.pops, states):
        pop.state = st
    trainer.iteration, trainer.s0 = int(attrs["iteration"]), int(attrs["s0"])
    trainer.loss = [float(x) for x in parts[0]["loss"]]
    w64 = (sim.short.w64, sim.long.w64)
    for gi, g in enumerate((trainer.rec, trainer.out)):
        vals = syn[gi]
        g.w = vals.pop("w").astype(np.float64)
        wq = np.rint(g.w / synapses.QUANTUM).astype(np.int64)
        for ti in (0, 1):
            sel = g.table == ti
            w64[ti][g.index[sel]] = wq[sel]
        if kind == "online":
            states = list(trainer.state)
            states[gi] = type(states[gi])(**vals)
            trainer.state = tuple(states)
        else:
            traces = [vals[f"trace{j}"].copy() for j in range(len(g.traces))]
            if g.traces[0].size != g.src.size:
                zbar = np.zeros(g.traces[0].size)
                zbar[g.key] = traces[0]
                traces[0] = zbar
            g.traces = tuple(traces)
            opt = trainer.opt[gi]
            opt.cumulative, opt.m, opt.v = vals["cumulative"].copy(), vals["m"].copy(), vals["v"].copy()
            opt.intervals, opt.steps = int(attrs[f"opt{gi}_intervals"]), int(attrs[f"opt{gi}_steps"])
            opt.b1, opt.b2 = float(attrs[f"opt{gi}_b1"]), float(attrs[f"opt{gi}_b2"])
    trainer.f_av = rec.pop("f_av")[0].copy()
    if kind == "online":
        # rows by step modulo C: the stored rows of the steps a later event may read
        W = int(attrs["C"])
        trainer.C = max(trainer.C, W)
        steps = np.arange(sim.step - W + 1, sim.step + 1)
        for name, src in list(rec.items()) + list(out.items()):
            new = np.zeros((src.shape[1], trainer.C))
            new[:, steps % trainer.C] = src.T
            setattr(trainer, name, new)
        trainer.last_event = src_val[src_cols].astype(np.int64)
        ta = trainer._window(trainer.iteration)
    else:
        # into the buffers the models write (in place: their constants hold them)
        for pops, names in ((trainer.rec_pops, ("psi", "z")), (trainer.out_pops, ("y",))):
            d = rec if names[0] == "psi" else out
            r0 = 0
            for p in pops:
                for plane, name in enumerate(names):
                    trainer.buffers[p.name][plane][...] = d[name][:, r0:r0 + p.n]
                r0 += p.n
        X = np.zeros_like(trainer.X)
        X[:, :trainer.sources.size] = src_val[:, src_cols]
        trainer.X = X
        ta = trainer._window(trainer.iteration)
    trainer._set_target(ta - 1 + trainer.D, trainer.iteration)
    sim.ring[...] = ring


def _ring(sim: Any, parts: list[dict], owner: str) -> np.ndarray:
    """The pending input ring from the stored one, by (gid, channel) and step."""
    gid = np.concatenate([p["ring/gid"] for p in parts])
    chan = np.concatenate([p["ring/channel"] for p in parts])
    vals = np.concatenate([p["ring/values"] for p in parts], axis=1)
    steps = parts[0]["ring/steps"]
    R = sim.ring.shape[0]
    if steps.size != R - 1 or (steps.size and steps[0] != sim.step + 1):
        raise ValueError(f"{owner}: the checkpoint's input ring covers {steps.size} steps, this simulation's {R - 1}")
    key = gid * 64 + chan
    o = np.argsort(key, kind="stable")
    key = key[o]
    ring = np.zeros_like(sim.ring)
    for p in sim.pops:
        for c in range(len(p.channels)):
            want = p.gids * 64 + c
            pos = np.searchsorted(key, want)
            if want.size and not (key[np.minimum(pos, max(key.size - 1, 0))] == want).all():
                raise ValueError(f"{owner}: the checkpoint's input ring lacks population {p.name!r}")
            cols = p.port0 + c * p.n + np.arange(p.n)
            ring[np.ix_(steps % R, cols)] = vals[:, o[pos]]
    return ring
