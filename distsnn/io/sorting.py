"""The time-sorted spike file, made by every rank at once without gathering spikes.

``spikes_sorted.h5`` holds, per population, ``timestamps`` / ``node_ids`` / ``steps``
sorted by time (then node id), ``sorting = by_time``. Method (the time-window split
of parallel SONATA writers, on files instead of messages):

1. Rank 0 cuts the simulated time into one window per rank holding about the same
   number of spikes, from the rank files' flush marks (``index``: completed step and
   spike count at every flush), and broadcasts the cuts.
2. Rank ``r`` reads, from every rank file, the spikes of its window ``(cut_r,
   cut_r+1]`` (hyperslabs bounded by the flush marks) and merges these per-rank sorted
   runs k-way, ``block`` spikes of each file at a time, into its part file
   ``spikes_sorted.part<r>.h5``. Memory: ``O(files x block)`` per rank.
3. Rank 0 writes ``spikes_sorted.h5``, whose datasets are virtual datasets over the
   parts in window order: one sorted array per population for any HDF5 reader.

No spike moves between processes and no rank holds more than its blocks; in one process
the single window is the whole run and the method is a plain k-way merge.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from . import rundir
from .reader import RunInfo, open_run
from .writer import SPIKE_CHUNK, SPIKE_FIELDS, identity_attrs, virtual_spikes



def part_path(out: str, rank: int) -> str:
    return os.path.join(out, f"spikes_sorted.part{rank:05d}.h5")


def _marks(f: h5py.File, pop: str, done: int) -> np.ndarray:
    """Flush marks (completed step, spikes so far) up to step ``done``, from (-1, 0)."""
    idx = f[f"spikes/{pop}/index"][()] if f"spikes/{pop}" in f else np.zeros((0, 2), np.int64)
    return np.vstack([[[-1, 0]], idx[idx[:, 0] <= done]]).astype(np.int64)


def plan(info: RunInfo, parts: int) -> dict[str, list[int]]:
    """Per population, ``parts + 1`` cut steps: window ``r`` holds the steps in
    ``(cuts[r], cuts[r + 1]]``, about the same number of spikes in each."""
    marks: dict[str, list[np.ndarray]] = {}
    for p in info.files:
        with h5py.File(p, "r", locking=False) as f:
            for pop in f.get("spikes", {}):
                marks.setdefault(pop, []).append(_marks(f, pop, info.completed_step))
    cuts = {}
    for pop, per_file in marks.items():
        steps = np.unique(np.concatenate([m[:, 0] for m in per_file] + [[info.completed_step]]))
        # Spikes at or before each candidate step, counted at each file's last mark (a lower bound).
        below = sum(m[np.searchsorted(m[:, 0], steps, "right") - 1, 1] for m in per_file)
        total = below[-1]
        c = [-1]
        for r in range(1, parts):
            k = int(np.searchsorted(below, r * total / parts, "left"))
            c.append(max(c[-1], int(steps[min(k, steps.size - 1)])))
        cuts[pop] = c + [info.completed_step]
    return cuts


def write_sorted(out: str, comm=None, block: int = 1 << 20) -> str:
    """Write ``spikes_sorted.h5`` (collective over ``comm``; default one process).

    Returns the file's path. Every rank must call it; an error on any rank is raised on
    every rank, and temporary files are removed.
    """
    if comm is None:
        from ..comm import LocalComm

        comm = LocalComm()
    info = open_run(out)
    cuts = comm.bcast(plan(info, comm.size) if comm.rank == 0 else None)
    part = part_path(info.path, comm.rank)
    error = None
    try:
        _write_part(part, info, cuts, comm.rank, block)
    except Exception as e:      # reported to every rank below, never left half-done
        error = f"rank {comm.rank}: {type(e).__name__}: {e}"
    errors = comm.gather(error)
    if comm.rank == 0 and not any(errors):
        try:
            _tmp_write(os.path.join(info.path, rundir.SORTED), lambda f: _join(f, info, comm.size))
        except Exception as e:
            errors = [f"rank 0: {type(e).__name__}: {e}"]
    failed = comm.bcast([e for e in (errors or []) if e])
    if failed:
        _remove(part)
        raise RuntimeError(f"write_sorted: {'; '.join(failed)}")
    return os.path.join(info.path, rundir.SORTED)


def _tmp_write(path: str, fill) -> None:
    tmp = f"{path}.tmp"
    try:
        with h5py.File(tmp, "w", locking=False) as f:
            fill(f)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _identity(f: h5py.File, info: RunInfo, first: h5py.File) -> None:
    identity_attrs(f, {k: first.attrs[k] for k in ("run_id", "ranks", "network_hash", "populations")})
    f.attrs["completed_ms"] = info.completed_step * info.dt


def _write_part(path: str, info: RunInfo, cuts: dict[str, list[int]], rank: int, block: int) -> None:
    files = [h5py.File(p, "r", locking=False) for p in info.files]
    try:
        def fill(f: h5py.File) -> None:
            _identity(f, info, files[0])
            for pop, c in cuts.items():
                lo, hi = c[rank], c[rank + 1]
                g = f.create_group(f"spikes/{pop}")
                out = {k: g.create_dataset(k, (0,), dt, maxshape=(None,), chunks=(SPIKE_CHUNK,))
                       for k, dt in SPIKE_FIELDS}
                srcs, starts, ends = [], [], []
                for h in files:
                    if f"spikes/{pop}" not in h:
                        continue
                    # Marks up to this file's own completed step: all of its data is valid.
                    m = _marks(h, pop, int(h.attrs["completed_step"]))
                    srcs.append(h[f"spikes/{pop}"])
                    # Spikes at marks <= lo are all earlier than the window; those up to the
                    # first mark >= hi include every spike of the window.
                    starts.append(int(m[np.searchsorted(m[:, 0], lo, "right") - 1, 1]))
                    k = int(np.searchsorted(m[:, 0], hi, "left"))
                    ends.append(int(m[min(k, len(m) - 1), 1]))
                _merge(srcs, starts, ends, block, lo, hi, out, info.dt)
        _tmp_write(path, fill)
    finally:
        for h in files:
            h.close()


def _merge(srcs, starts, ends, block, lo, hi, out, dt) -> None:
    """k-way merge of the sorted runs ``srcs[i][starts[i]:ends[i]]``, keeping steps in (lo, hi]."""
    pos = list(starts)
    held = [(np.zeros(0, np.int64), np.zeros(0, np.uint64)) for _ in srcs]
    force = [False] * len(srcs)
    while True:
        for i, s in enumerate(srcs):
            if pos[i] < ends[i] and (held[i][0].size < block or force[i]):
                stop = min(pos[i] + block, ends[i])
                held[i] = (np.concatenate([held[i][0], s["steps"][pos[i]:stop]]),
                           np.concatenate([held[i][1], s["node_ids"][pos[i]:stop]]))
                pos[i] = stop
        live = [i for i in range(len(srcs)) if pos[i] < ends[i]]
        # A file with spikes left may still hold unread spikes of its last read step:
        # emit only steps below the smallest last step read from such a file.
        bound = min((int(held[i][0][-1]) for i in live), default=hi + 1)
        st, ids = [], []
        for i, (s, n) in enumerate(held):
            k = int(np.searchsorted(s, bound, "left"))
            st.append(s[:k])
            ids.append(n[:k])
            held[i] = (s[k:], n[k:])
        st, ids = np.concatenate(st), np.concatenate(ids)
        # Nothing below the bound: the files stuck on it read further.
        force = [st.size == 0 and i in live and int(held[i][0][-1]) == bound for i in range(len(srcs))]
        keep = (st > lo) & (st <= hi)
        st, ids = st[keep], ids[keep]
        order = np.lexsort((ids, st))
        st, ids = st[order], ids[order]
        for key, data in (("timestamps", st * dt), ("node_ids", ids), ("steps", st)):
            d = out[key]
            n0 = d.shape[0]
            d.resize(n0 + data.size, axis=0)
            d[n0:] = data
        if not live and not any(h[0].size for h in held):
            return


def _join(f: h5py.File, info: RunInfo, parts: int) -> None:
    """The sorted file: each population's parts, in window order, as virtual datasets."""
    shapes: dict[str, list[tuple[str, int]]] = {}
    for r in range(parts):
        p = part_path(info.path, r)
        with h5py.File(p, "r", locking=False) as h:
            if r == 0:
                _identity(f, info, h)
            for pop in h.get("spikes", {}):
                shapes.setdefault(pop, []).append((os.path.basename(p), h[f"spikes/{pop}/steps"].shape[0]))
    for pop, srcs in shapes.items():
        virtual_spikes(f, pop, srcs, sorting=2)
