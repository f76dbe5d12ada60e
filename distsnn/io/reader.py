"""Reading a run directory: :func:`load` (records, selected by hyperslabs) and :func:`inspect`.

:func:`load` reads the rank files (so an interrupted run, which has no master file, is
readable too). It refuses a directory whose files disagree on the run id, the rank
count or the network hash, or that lacks a rank file. When some rank did not reach
the end (a crash), it warns that the run is incomplete and up to when, and returns the
records up to the smallest completed time of the ranks.

Selections read only what they need: a population reads only its own groups; a time
window reads the spikes between the flush marks around it (``index``) and the sample
rows inside it; a gid range reads only its columns of the state data.
"""

from __future__ import annotations

import glob
import json
import os
import re
import warnings
from dataclasses import dataclass

import h5py
import numpy as np

from .. import timegrid
from ..results import Rates, Result, Spikes, Trace, merge
from . import rundir

_IDENTITY = ("run_id", "ranks", "network_hash")


@dataclass(frozen=True)
class RunInfo:
    path: str
    files: list[str]
    ranks: int
    run_id: str
    network_hash: str
    dt: float
    completed_step: int       # smallest over ranks
    target_step: int
    complete: bool
    populations: dict[str, tuple[int, int]]
    summary: dict


def _attr(f: h5py.File, key: str, default=None):
    v = f.attrs.get(key, default)
    return v.decode() if isinstance(v, bytes) else v


def _describe(name: str, ident: tuple) -> str:
    return f"{name}: run id {ident[0]}, {ident[1]} ranks, network {str(ident[2])[:12]}"


def open_run(path: str) -> RunInfo:
    """Check a run directory's files for consistency; no records are read."""
    if not os.path.isdir(path):
        raise ValueError(f"load: {path!r} is not a directory")
    found = sorted(glob.glob(os.path.join(path, "rank[0-9][0-9][0-9][0-9][0-9].h5")))
    if not found:
        raise ValueError(f"load: no rank*.h5 files in {path!r}")
    idents, completed, complete, targets = {}, [], [], []
    dt, pops, summary = None, {}, {}
    for p in found:
        try:
            with h5py.File(p, "r", locking=False) as f:
                if _attr(f, "format") != "distsnn-2":
                    raise ValueError(f"load: {p!r} is not a distsnn-2 rank file (format "
                                     f"{_attr(f, 'format')!r})")
                idents[os.path.basename(p)] = tuple(_attr(f, k) for k in _IDENTITY)
                completed.append(int(f.attrs["completed_step"]))
                targets.append(int(f.attrs["target_step"]))
                complete.append(bool(f.attrs["complete"]))
                dt = float(f.attrs["dt"])
                pops = {k: tuple(v) for k, v in json.loads(_attr(f, "populations")).items()}
                if int(f.attrs["rank"]) == 0 and "summary" in f:
                    summary = json.loads(f["summary"][()])
        except OSError as e:
            raise ValueError(f"load: {p!r} cannot be read as HDF5: {e}") from None
    master = os.path.join(path, rundir.MASTER)
    if os.path.exists(master):
        with h5py.File(master, "r", locking=False) as f:
            idents[rundir.MASTER] = tuple(_attr(f, k) for k in _IDENTITY)
    distinct = sorted(set(idents.values()), key=str)
    if len(distinct) > 1:
        shown = [_describe(n, i) for i, n in ((i, next(n for n, j in idents.items() if j == i)) for i in distinct)]
        raise ValueError(f"load: {path!r} mixes files of different runs ({'; '.join(shown)}); "
                         f"refusing to merge them")
    run_id, ranks, net_hash = distinct[0]
    expected = [os.path.basename(rundir.rank_path(path, r)) for r in range(int(ranks))]
    names = [os.path.basename(p) for p in found]
    if names != expected:
        missing = sorted(set(expected) - set(names))
        extra = sorted(set(names) - set(expected))
        raise ValueError(f"load: {path!r} should hold the {ranks} rank files of run {run_id}; "
                         f"missing {missing or 'none'}, unexpected {extra or 'none'}")
    done = min(completed)
    target = max(targets)
    ok = all(complete) and done >= target
    return RunInfo(path, found, int(ranks), str(run_id), str(net_hash), dt, done, target, ok, pops, summary)


def _steps_window(dt: float, t_start: float | None, t_stop: float | None, done: int) -> tuple[int, int]:
    """Steps ``[lo, hi]`` of the window ``t_start <= t < t_stop`` (ms), capped at ``done``."""
    lo = 0 if t_start is None else int(timegrid.to_steps(t_start, dt))
    hi = done if t_stop is None else min(done, int(timegrid.to_steps(t_stop, dt)) - 1)
    return lo, hi


def _spikes(f: h5py.File, pop: str, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    g = f[f"spikes/{pop}"]
    index = g["index"][()]
    # Only flushes that the file's completed step covers: a flush cut short by a kill
    # may have grown the datasets without finishing them.
    index = index[index[:, 0] <= int(f.attrs["completed_step"])]
    n = int(index[-1, 1]) if index.size else 0
    # index rows (c, k): the first k spikes have steps <= c; steps grow along the file.
    before = index[index[:, 0] < lo]
    start = int(before[-1, 1]) if before.size else 0
    after = index[index[:, 0] >= hi]
    end = int(after[0, 1]) if after.size else n
    steps = g["steps"][start:end]
    ids = g["node_ids"][start:end]
    keep = (steps >= lo) & (steps <= hi)
    return ids[keep].astype(np.int64) + int(g.attrs["first_gid"]), steps[keep]


def _state(f: h5py.File, pop: str, var: str, first_gid: int, lo: int, hi: int,
           gids: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = f[f"state/{pop}/{var}"]
    steps = g["steps"][:g["data"].shape[0] if g["data"].shape[1] else None]
    r0, r1 = np.searchsorted(steps, lo, "left"), np.searchsorted(steps, hi, "right")
    cols = g["mapping/node_ids"][()].astype(np.int64) + first_gid
    c0, c1 = 0, cols.size
    if gids is not None:
        c0, c1 = np.searchsorted(cols, gids[0], "left"), np.searchsorted(cols, gids[1], "left")
    if g["data"].shape[1] == 0 or c1 <= c0:
        vals = np.zeros((r1 - r0, 0))
    else:
        vals = g["data"][r0:r1, c0:c1]
    return cols[c0:c1], steps[r0:r1], vals


def _read_file(f: h5py.File, dt: float, populations: dict, lo: int, hi: int, wanted: set | None,
               gids: tuple[int, int] | None, cut: int | None) -> Result:
    """One rank file's records in steps ``[lo, hi]``; rate bins beyond step ``cut`` dropped."""
    g_all, s_all = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for pop in f.get("spikes", {}):
        if wanted is None or pop in wanted:
            g, s = _spikes(f, pop, lo, hi)
            if gids is not None:
                keep = (g >= gids[0]) & (g < gids[1])
                g, s = g[keep], s[keep]
            g_all.append(g)
            s_all.append(s)
    traces = {}
    for pop in f.get("state", {}):
        if wanted is not None and pop not in wanted:
            continue
        for var in f[f"state/{pop}"]:
            cols, st, vals = _state(f, pop, var, populations[pop][0], lo, hi, gids)
            traces[(pop, var)] = Trace(pop, var, cols, st, st * dt, vals)
    rates = {}
    for pop in f.get("rates", {}):
        if wanted is not None and pop not in wanted:
            continue
        c = f[f"rates/{pop}/counts"]
        b = int(round(float(c.attrs["bin_ms"]) / dt))
        n = c.shape[0] if cut is None else min(c.shape[0], cut // b)
        rates[pop] = Rates(pop, float(c.attrs["bin_ms"]), float(c.attrs["t_start"]), c[:n], int(c.attrs["size"]))
    order = np.lexsort((np.concatenate(g_all), np.concatenate(s_all)))
    return Result(Spikes.from_steps(np.concatenate(g_all)[order], np.concatenate(s_all)[order], dt),
                  traces, {}, {}, rates)


def read_rank(path: str, net) -> Result:
    """Every record of one rank file (the rank's own part of a run)."""
    with h5py.File(path, "r", locking=False) as f:
        done = int(f.attrs["completed_step"])
        pops = {k: tuple(v) for k, v in json.loads(_attr(f, "populations")).items()}
        return _read_file(f, float(f.attrs["dt"]), pops, 0, done, None, None, None)


def load(path: "str | list[str]", population: str | list[str] | None = None, gids: tuple[int, int] | None = None,
         t_start: float | None = None, t_stop: float | None = None) -> Result:
    """The records of a run directory, merged over ranks.

    Parameters
    ----------
    path : str or list of str
        The run's ``--out`` directory; or the directories of a run's segments in order (a
        run, then runs restored from its checkpoints, :mod:`distsnn.checkpoint`), read as
        one run (:func:`load_segments`).
    population : str or list of str, optional
        Only these populations' spikes, traces and rates.
    gids : (int, int), optional
        Only neurons with ``lo <= gid < hi``.
    t_start, t_stop : float, optional
        Only spikes and samples with ``t_start <= time < t_stop`` (ms).

    Returns
    -------
    Result
        Spikes sorted by step then gid; traces with columns by gid; rates summed over
        ranks; ``summary`` with ``complete`` and ``completed_ms``.
    """
    if isinstance(path, (list, tuple)):
        return load_segments(path, population, gids, t_start, t_stop)
    if gids is not None:
        if (not isinstance(gids, (tuple, list)) or len(gids) != 2
                or not all(isinstance(g, (int, np.integer)) and not isinstance(g, bool) for g in gids)
                or not 0 <= gids[0] < gids[1]):
            raise ValueError(f"load: gids must be a pair of integers (lo, hi) with 0 <= lo < hi, got {gids!r}")
    for name, t in (("t_start", t_start), ("t_stop", t_stop)):
        if t is not None and not (isinstance(t, (int, float)) and np.isfinite(t) and t >= 0):
            raise ValueError(f"load: {name} must be a finite number >= 0 ms, got {t!r}")
    if t_start is not None and t_stop is not None and not t_stop > t_start:
        raise ValueError(f"load: t_stop must be > t_start = {t_start} ms, got {t_stop!r}")
    info = open_run(path)
    if not info.complete:
        warnings.warn(f"load: the run in {path!r} is incomplete: it simulated up to "
                      f"{info.completed_step * info.dt:g} ms of {info.target_step * info.dt:g} ms; "
                      f"returning the records up to {info.completed_step * info.dt:g} ms",
                      RuntimeWarning, stacklevel=2)
    wanted = None if population is None else ({population} if isinstance(population, str) else set(population))
    if wanted is not None:
        unknown = sorted(wanted - set(info.populations))
        if unknown:
            raise ValueError(f"load: no population {unknown[0]!r} in {path!r}; populations: "
                             f"{list(info.populations)}")
    lo, hi = _steps_window(info.dt, t_start, t_stop, info.completed_step)
    parts = []
    for p in info.files:
        with h5py.File(p, "r", locking=False) as f:
            parts.append(_read_file(f, info.dt, info.populations, lo, hi, wanted, gids,
                                    None if info.complete else info.completed_step))
    summary = {**info.summary, "complete": info.complete, "completed_ms": info.completed_step * info.dt,
               "run_id": info.run_id}
    res = merge(parts, info.dt)
    return Result(res.spikes, res.traces, summary, dict(info.populations), res.rates, metadata(path, info))


def _start_step(path: str) -> int:
    """The step a run directory's records start after (0, or the checkpoint's step)."""
    starts = set()
    for p in open_run(path).files:
        with h5py.File(p, "r", locking=False) as f:
            starts.add(int(f.attrs.get("start_step", 0)))
    if len(starts) != 1:
        raise ValueError(f"load: the rank files of {path!r} disagree on the start step: {sorted(starts)}")
    return starts.pop()


def load_segments(paths: list[str], population: str | list[str] | None = None,
                  gids: tuple[int, int] | None = None, t_start: float | None = None,
                  t_stop: float | None = None) -> Result:
    """The records of a run's segments as one run: each directory a run restored from a
    checkpoint of the one before (its ``start_step`` equals the end of the one before).

    Spikes and samples of a segment after its successor's start are dropped (a segment may
    have run on past the checkpoint it was restored from); rate bins from the bin the
    successor starts in come from the successor (it completes the bin that was cut).
    The summary is the last segment's, with ``segments``; selections as for :func:`load`.
    """
    if not paths:
        raise ValueError("load: segments must name at least one run directory, got an empty list")
    infos = [open_run(p) for p in paths]
    starts = [_start_step(p) for p in paths]
    dt = infos[0].dt
    for i in range(1, len(paths)):
        # (the network was checked when the segment was restored; its t_stop differs)
        if infos[i].dt != dt:
            raise ValueError(f"load: segment {paths[i]!r} has dt = {infos[i].dt} ms, segment {paths[0]!r} "
                             f"dt = {dt} ms")
        if starts[i] <= starts[i - 1]:
            raise ValueError(f"load: segment {paths[i]!r} starts at step {starts[i]}, not after segment "
                             f"{paths[i - 1]!r} (which starts at step {starts[i - 1]}); give segments in order")
        if infos[i - 1].completed_step < starts[i]:
            raise ValueError(f"load: segment {paths[i - 1]!r} ends at step {infos[i - 1].completed_step}, "
                             f"before segment {paths[i]!r} starts (step {starts[i]}): a segment is missing")
    parts = [load(p, population, gids, t_start, t_stop) for p in paths]
    ends = starts[1:] + [None]
    g, st, traces, rates = [], [], {}, {}
    for i, (res, end) in enumerate(zip(parts, ends)):
        keep = slice(None) if end is None else res.spikes.step <= end
        g.append(res.spikes.gid[keep])
        st.append(res.spikes.step[keep])
        for key, tr in res.traces.items():
            rows = slice(None) if end is None else tr.steps <= end
            old = traces.get(key)
            if old is None:
                traces[key] = Trace(tr.population, tr.variable, tr.gids, tr.steps[rows], tr.time[rows],
                                    tr.values[rows])
            else:
                traces[key] = Trace(old.population, old.variable, old.gids,
                                    np.concatenate([old.steps, tr.steps[rows]]),
                                    np.concatenate([old.time, tr.time[rows]]),
                                    np.vstack([old.values, tr.values[rows]]))
        for name, r in res.rates.items():
            old = rates.get(name)
            counts = r.counts
            if old is not None:
                # from the bin the segment starts in (the one its predecessor cut) on
                lo = min(starts[i] // int(round(r.bin_ms / dt)), old.counts.size)
                counts = np.concatenate([old.counts[:lo], r.counts[lo:]])
            rates[name] = Rates(name, r.bin_ms, r.t_start, counts, r.size)
    last = parts[-1]
    g, st = np.concatenate(g), np.concatenate(st)
    order = np.lexsort((g, st))
    summary = {**last.summary, "segments": [str(p) for p in paths], "start_steps": starts}
    return Result(Spikes.from_steps(g[order], st[order], dt), traces, summary, last.populations, rates,
                  {**last.metadata, "segments": [str(p) for p in paths]})


def metadata(path: str, info: RunInfo | None = None) -> dict:
    """The run's metadata (see :class:`~distsnn.results.Result`), without reading records."""
    info = open_run(path) if info is None else info
    meta = {"run_id": info.run_id, "ranks": info.ranks, "network_hash": info.network_hash, "dt": info.dt,
            "completed_ms": info.completed_step * info.dt, "complete": info.complete}
    with h5py.File(info.files[0], "r", locking=False) as f:
        meta.update(seed=int(f.attrs["seed"]), t_stop_ms=float(f.attrs["t_stop_ms"]))
    master = os.path.join(path, rundir.MASTER)
    if os.path.exists(master):
        with h5py.File(master, "r", locking=False) as f:
            meta.update(partitioner=_attr(f, "partitioner"), command_line=_attr(f, "command_line"),
                        versions=json.loads(_attr(f, "versions")), created=_attr(f, "created"),
                        network=f["metadata/network"][()].decode())
    return meta


def _size(nbytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return ""


def inspect(path: str) -> str:
    """What a run directory holds (no spike is read): identity, progress, counts, sizes."""
    info = open_run(path)
    dt = info.dt
    lines = [f"run {info.run_id} in {path}",
             f"  ranks          {info.ranks}",
             f"  network hash   {info.network_hash[:16]}",
             f"  dt             {dt:g} ms",
             "  status         " + ("complete" if info.complete else "INCOMPLETE")
             + f", simulated up to {info.completed_step * dt:g} ms of {info.target_step * dt:g} ms"]
    spikes, state, rates = {}, {}, {}
    for p in info.files:
        with h5py.File(p, "r", locking=False) as f:
            for pop in f.get("spikes", {}):
                spikes[pop] = spikes.get(pop, 0) + f[f"spikes/{pop}/steps"].shape[0]
            for pop in f.get("state", {}):
                for var in f[f"state/{pop}"]:
                    g = f[f"state/{pop}/{var}"]
                    rows, cols = g["steps"].shape[0], g["mapping/node_ids"].shape[0]
                    old = state.get((pop, var), (rows, 0, _attr(g["data"], "units")))
                    state[(pop, var)] = (min(old[0], rows), old[1] + cols, old[2])
            for pop in f.get("rates", {}):
                c = f[f"rates/{pop}/counts"]
                rates[pop] = (c.shape[0], float(c.attrs["bin_ms"]))
    lines.append("  populations")
    for name, (first, size) in info.populations.items():
        lines.append(f"    {name:<12} gids {first}..{first + size - 1} ({size} neurons)")
    rank = {name: i for i, name in enumerate(info.populations)}
    for pop, n in sorted(spikes.items(), key=lambda kv: rank.get(kv[0], 0)):
        lines.append(f"  spikes         {pop}: {n} recorded")
    for (pop, var), (rows, cols, unit) in sorted(state.items(), key=lambda kv: (rank.get(kv[0][0], 0), kv[0][1])):
        lines.append(f"  state          {pop}.{var} [{unit}]: {rows} samples x {cols} neurons")
    for pop, (bins, b) in sorted(rates.items(), key=lambda kv: rank.get(kv[0], 0)):
        lines.append(f"  rates          {pop}: {bins} bins of {b:g} ms")
    files = rundir.run_files(path)
    total = sum(os.path.getsize(p) for p in files)
    lines.append(f"  files          {len(files)}, {_size(total)}: "
                 + ", ".join(os.path.basename(p) for p in files if not re.match(r"rank\d+\.h5$",
                                                                              os.path.basename(p)))
                 + (" + " if len(files) > info.ranks else "") + f"{info.ranks} rank files")
    if info.summary:
        s = info.summary
        lines.append(f"  summary        {s.get('neurons')} neurons, {s.get('synapses')} synapses, "
                     f"{s.get('spikes_emitted', s.get('spikes'))} spikes emitted, "
                     f"{s.get('spikes_recorded', '?')} recorded")
    training = os.path.join(path, "training.h5")
    if os.path.isfile(training):
        with h5py.File(training, "r", locking=False) as f:
            loss = f["loss"][()]
            lines.append(f"  training       {loss.size} iterations (e-prop), loss {loss[0]:.6g} -> {loss[-1]:.6g}; "
                         f"weights of {', '.join(f.get('weights', {}))}" if loss.size else
                         "  training       0 iterations")
    return "\n".join(lines)
