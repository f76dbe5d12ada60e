"""Files rank 0 writes once the rank files are closed: the master and the reports.

``run.h5`` (the master, written last, through a temporary name)::

    /                       magic, version, format, run_id, ranks, network_hash, dt, seed,
                            t_stop_ms, completed_ms, complete, partitioner, command_line,
                            versions (JSON), created
    /spikes/<pop>           sorting = none (the ranks' time-sorted runs one after another)
        timestamps, node_ids, steps    virtual datasets over the rank files: plain h5py
                                       reads one array per population
    /rates/<pop>/counts     int64, summed over ranks; bin_ms, t_start, size
    /metadata               network (the TOML text), owner (int32 rank of every gid),
                            summary (JSON: totals, per-rank figures, whatever the engine adds)

``report_<variable>.h5``: a SONATA frame report per variable, ``/report/<pop>/data``
[time x neurons] (float32, as SONATA readers expect) a virtual dataset whose columns are
the ranks' columns side by side (``mapping/node_ids`` in the same order,
``index_pointers`` N+1, ``element_ids``, ``time`` = (start, stop, step) ms), attribute
``units``; beside it ``values`` (the same, float64, exact) and ``steps``.

The time-sorted ``spikes_sorted.h5`` is :mod:`distsnn.io.sorting`'s.
"""

from __future__ import annotations

import json
import os
import sys
import time

import h5py
import numpy as np

from . import rundir
from .reader import open_run
from .writer import MAGIC, VERSION, identity_attrs, to_json, virtual_spikes



def versions() -> dict:
    from .. import __version__

    out = {"distsnn": __version__, "numpy": np.__version__, "h5py": h5py.__version__,
           "hdf5": h5py.version.hdf5_version, "python": sys.version.split()[0]}
    try:
        from importlib.metadata import version

        out["mpi4py"] = version("mpi4py")
    except Exception:   # mpi4py is optional
        out["mpi4py"] = None
    return out


def _tmp_write(path: str, fill) -> None:
    tmp = f"{path}.tmp"
    try:
        with h5py.File(tmp, "w", locking=False) as f:
            fill(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_master(out: str, meta: dict, owner: np.ndarray) -> None:
    """Rank 0, after every rank closed its file: ``run.h5`` and the reports (see above)."""
    info = open_run(out)
    spikes, state, rates = {}, {}, {}
    for p in info.files:       # one at a time: a large run has many
        name = os.path.basename(p)
        with h5py.File(p, "r", locking=False) as f:
            for pop in f.get("spikes", {}):
                spikes.setdefault(pop, []).append((name, f[f"spikes/{pop}/steps"].shape[0]))
            for pop in f.get("state", {}):
                for var in f[f"state/{pop}"]:
                    g = f[f"state/{pop}/{var}"]
                    state.setdefault(var, {}).setdefault(pop, []).append(
                        (name, g["data"].shape, g["mapping/node_ids"][()], g["mapping/time"][()],
                         g["data"].attrs["units"], g["steps"][()]))
            for pop in f.get("rates", {}):
                c = f[f"rates/{pop}/counts"]
                old = rates.get(pop, (np.zeros(0, np.int64), dict(c.attrs)))
                acc = np.zeros(max(old[0].size, c.shape[0]), np.int64)
                acc[:old[0].size] += old[0]
                acc[:c.shape[0]] += c[()]
                rates[pop] = (acc, dict(c.attrs))
            if p == info.files[0]:
                first_attrs = dict(f.attrs)
    identity = {k: first_attrs[k] for k in ("run_id", "ranks", "network_hash", "populations")}

    def fill(f: h5py.File) -> None:
        identity_attrs(f, identity)
        f.attrs.update({"dt": info.dt, "seed": meta["seed"], "t_stop_ms": meta["t_stop_ms"],
                        "completed_ms": info.completed_step * info.dt, "complete": int(info.complete),
                        "partitioner": meta["partitioner"], "command_line": meta["command_line"],
                        "versions": json.dumps(versions()), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        for pop, srcs in spikes.items():
            virtual_spikes(f, pop, srcs, sorting=0)
        for pop, (counts, attrs) in rates.items():
            c = f.create_dataset(f"rates/{pop}/counts", data=counts)
            c.attrs.update(attrs)
        m = f.create_group("metadata")
        m.create_dataset("network", data=meta["network_toml"])
        m.create_dataset("owner", data=np.asarray(owner, dtype=np.int32))
        m.create_dataset("summary", data=to_json(meta["summary"]))

    for var, pops in state.items():
        _tmp_write(rundir.report_path(out, var), lambda f, var=var, pops=pops: _report(f, identity, var, pops))
    _tmp_write(os.path.join(out, rundir.MASTER), fill)


def _report(f: h5py.File, identity: dict, var: str, pops: dict) -> None:
    identity_attrs(f, identity)
    for pop, srcs in pops.items():
        g = f.create_group(f"report/{pop}")
        rows = min(s[5].size for s in srcs)
        cols = sum(s[2].size for s in srcs)
        # SONATA readers (libsonata) take float32 ``data``; ``values`` keeps the exact float64.
        for key, dtype in (("data", np.float32), ("values", np.float64)):
            if rows and cols:
                lay = h5py.VirtualLayout(shape=(rows, cols), dtype=dtype)
                at = 0
                for name, shape, ids, _, _, _ in srcs:
                    if ids.size:
                        src = h5py.VirtualSource(name, f"state/{pop}/{var}/data", shape=shape)
                        lay[:, at:at + ids.size] = src[:rows, :]
                        at += ids.size
                d = g.create_virtual_dataset(key, lay)
            else:
                d = g.create_dataset(key, (rows, cols), dtype)
            d.attrs["units"] = srcs[0][4]
        m = g.create_group("mapping")
        m.create_dataset("node_ids", data=np.concatenate([s[2] for s in srcs]).astype(np.uint64))
        m.create_dataset("index_pointers", data=np.arange(cols + 1, dtype=np.uint64))
        m.create_dataset("element_ids", data=np.zeros(cols, dtype=np.uint32))
        m.create_dataset("time", data=srcs[0][3]).attrs["units"] = "ms"
        g.create_dataset("steps", data=srcs[0][5][:rows])


__all__ = ["write_master", "versions", "MAGIC", "VERSION"]
