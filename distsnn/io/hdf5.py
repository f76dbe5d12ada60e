"""Per-rank HDF5 output and the merged reader.

A run with ``--out DIR`` writes one file per rank, ``DIR/rank00000.h5`` ..., with plain
h5py (no MPI-IO, so the PyPI wheel works): datasets ``spikes/gid`` and ``spikes/step``
(int64) and attributes ``dt`` (ms), ``rank``, ``size``, ``t_sim_ms``; sampled traces
under ``traces/<population>/<variable>/{gids, steps, values}``. Each file is written
to a temporary name and renamed into place, so a failed run never leaves a file that
looks complete. :func:`load` merges every rank's file into one :class:`Result` with
spikes sorted by step then gid.
"""

from __future__ import annotations

import glob
import json
import os

import h5py
import numpy as np

from ..results import Result, Spikes, Trace


def rank_path(out_dir: str, rank: int) -> str:
    return os.path.join(out_dir, f"rank{rank:05d}.h5")


def write_rank(out_dir: str, rank: int, size: int, dt: float, result: Result) -> str:
    """Write one rank's records atomically; returns the file's path."""
    os.makedirs(out_dir, exist_ok=True)
    path = rank_path(out_dir, rank)
    tmp = f"{path}.tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs.update({"dt": dt, "rank": rank, "size": size,
                        "t_sim_ms": float(result.summary.get("t_sim_ms", 0.0)), "format": "distsnn-1"})
        g = f.create_group("spikes")
        g.create_dataset("gid", data=result.spikes.gid.astype(np.int64))
        g.create_dataset("step", data=result.spikes.step.astype(np.int64))
        for (pop, var), tr in result.traces.items():
            h = f.create_group(f"traces/{pop}/{var}")
            h.create_dataset("gids", data=tr.gids)
            h.create_dataset("steps", data=tr.steps)
            h.create_dataset("values", data=tr.values)
        f.attrs["summary"] = json.dumps(result.summary, default=float)
    os.replace(tmp, path)
    return path


def write_run(out_dir: str, comm, dt: float, result: Result) -> str:
    """Every rank writes its file (collective); rank 0 then removes files of ranks beyond
    this run's size, left by an earlier run in the same directory."""
    path = write_rank(out_dir, comm.rank, comm.size, dt, result)
    comm.barrier()
    if comm.rank == 0:
        for p in glob.glob(os.path.join(out_dir, "rank*.h5")):
            stem = os.path.basename(p)[4:-3]
            if stem.isdigit() and int(stem) >= comm.size:
                os.remove(p)
    return path


def load(out_dir: str) -> Result:
    """Merge the per-rank files of a run directory into one :class:`Result`."""
    paths = sorted(glob.glob(os.path.join(out_dir, "rank*.h5")))
    if not paths:
        raise ValueError(f"load: no rank*.h5 files in {out_dir!r}")
    gids, steps, parts = [], [], {}
    dt, size, summary = None, None, {}
    for p in paths:
        with h5py.File(p, "r") as f:
            dt, size = float(f.attrs["dt"]), int(f.attrs["size"])
            gids.append(f["spikes/gid"][()])
            steps.append(f["spikes/step"][()])
            if int(f.attrs["rank"]) == 0:   # only rank 0 holds the gathered per-rank figures
                summary = json.loads(f.attrs["summary"])
            if "traces" in f:
                for pop in f["traces"]:
                    for var in f["traces"][pop]:
                        h = f["traces"][pop][var]
                        parts.setdefault((pop, var), []).append(
                            (h["gids"][()], h["steps"][()], h["values"][()]))
    if len(paths) != size:
        raise ValueError(f"load: {out_dir!r} holds {len(paths)} rank files but the run had {size} ranks")
    g, s = np.concatenate(gids), np.concatenate(steps)
    order = np.lexsort((g, s))
    traces = {}
    for (pop, var), chunks in parts.items():
        tg = np.concatenate([c[0] for c in chunks])
        vals = np.hstack([c[2] for c in chunks])
        col = np.argsort(tg, kind="stable")
        st = chunks[0][1]
        traces[(pop, var)] = Trace(pop, var, tg[col], st, st * dt, vals[:, col])
    return Result(Spikes.from_steps(g[order], s[order], dt), traces, summary)
