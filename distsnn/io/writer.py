"""The streaming per-rank HDF5 file (a sink of :class:`distsnn.monitors.Recorder`).

``DIR/rank<r>.h5``, written by rank ``r`` alone with plain h5py (no MPI-IO)::

    /                         magic (uint32 0x0A7A), version (uint32 [0, 1]), format
                              "distsnn-2", run_id, ranks, rank, network_hash, dt (ms),
                              target_step, completed_step, completed_ms, complete (0/1),
                              flushes
    /progress                 float64 (flushes x 2): completed ms and wall-clock time
                              (s since the epoch) at every flush
    /summary                  the run's summary (JSON text, at the end of each run)
    /spikes/<pop>             sorting (enum uint8: none 0, by_id 1, by_time 2) = by_time,
                              first_gid, size
        timestamps            float64, units "ms" (step * dt)
        node_ids              uint64, population-local, 0-based
        steps                 int64, the exact integer steps
        index                 int64 (flushes x 2): (completed step, spikes so far), so a
                              reader finds a time window without reading every spike
    /state/<pop>/<var>        a SONATA frame report of this rank's columns
        data                  float64 [samples x neurons], attribute units
        steps                 int64 [samples]
        mapping/node_ids      uint64, mapping/index_pointers uint64 (N + 1),
        mapping/element_ids   uint32 (0: one element per neuron),
        mapping/time          float64 (start, stop, step), units "ms"
    /rates/<pop>/counts       int64 [bins], attributes bin_ms, t_start, size

Datasets are chunked and resizable (optionally compressed: gzip with shuffle, or lzf)
and grow at each flush; after writing, the file is flushed to disk and
``completed_step`` records the step up to which it holds every record. A run that dies
leaves a file that h5py opens, holding exactly the records up to ``completed_step``
(a process killed *during* a flush may leave that flush's data half-written; the
attributes are written last, so a reader trusting ``completed_step`` still sees only
complete records in practice). Memory: HDF5 keeps at most ``CACHE_BYTES`` of chunk
cache for the whole file, on top of the recorder's buffer.
"""

from __future__ import annotations

import json
import time

import h5py
import numpy as np

from ..monitors import Batch, units

MAGIC = np.uint32(0x0A7A)
VERSION = np.array([0, 1], dtype=np.uint32)
SORTING = h5py.enum_dtype({"none": 0, "by_id": 1, "by_time": 2}, basetype=np.uint8)
FORMAT = "distsnn-2"
#: Elements per chunk of the spike datasets (128 KiB of float64): large enough for fast
#: appends, small enough that a short run's files stay small.
SPIKE_CHUNK = 16384
#: Elements per chunk of a state report's data.
STATE_CHUNK = 16384
#: Chunk cache of a file (all datasets together).
CACHE_BYTES = 4 * 2**20
COMPRESSION = ("none", "gzip", "lzf")


def identity_attrs(f: h5py.File, identity: dict) -> None:
    f.attrs["magic"] = MAGIC
    f.attrs["version"] = VERSION
    f.attrs["format"] = FORMAT
    for k, v in identity.items():
        f.attrs[k] = v


#: The spike datasets of a population, as every file of a run names and types them.
SPIKE_FIELDS = (("timestamps", np.float64), ("node_ids", np.uint64), ("steps", np.int64))


def virtual_spikes(f: h5py.File, population: str, sources: list[tuple[str, int]], sorting: int) -> None:
    """``spikes/<population>`` in ``f`` as virtual datasets that concatenate, in order, the
    same datasets of the files ``sources`` names with their lengths; ``sorting`` is the
    SONATA enum value (0 none, 2 by_time)."""
    g = f.create_group(f"spikes/{population}")
    g.attrs.create("sorting", sorting, dtype=SORTING)
    total = sum(n for _, n in sources)
    for key, dtype in SPIKE_FIELDS:
        if total == 0:
            d = g.create_dataset(key, (0,), dtype)
        else:
            lay = h5py.VirtualLayout(shape=(total,), dtype=dtype)
            at = 0
            for name, n in sources:
                if n:
                    lay[at:at + n] = h5py.VirtualSource(name, f"spikes/{population}/{key}", shape=(n,))
                    at += n
            d = g.create_virtual_dataset(key, lay)
        if key == "timestamps":
            d.attrs["units"] = "ms"


def to_json(obj) -> str:
    """JSON of a summary, whatever numbers or arrays (numpy) it holds."""
    return json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


def _filters(compression: str) -> dict:
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    if compression == "lzf":
        return {"compression": "lzf", "shuffle": True}
    return {}


def _append(ds: h5py.Dataset, data: np.ndarray) -> None:
    n = ds.shape[0]
    if data.shape[0]:
        ds.resize(n + data.shape[0], axis=0)
        ds[n:] = data


class RankWriter:
    """One rank's streaming file. ``layout``: the recorder whose monitors it stores."""

    def __init__(self, path: str, identity: dict, recorder, dt: float, compression: str = "none",
                 append: bool = False) -> None:
        self.path = path
        self.dt = dt
        self.f = h5py.File(path, "r+" if append else "w", rdcc_nbytes=CACHE_BYTES, locking=False)
        self._handles: dict[str, h5py.Dataset] = {}
        if append:
            return
        f = self.f
        identity_attrs(f, identity)
        f.attrs.update({"completed_step": 0, "completed_ms": 0.0, "complete": 0, "flushes": 0,
                        "target_step": 0, "dt": dt})
        f.create_dataset("progress", (0, 2), np.float64, maxshape=(None, 2), chunks=(1024, 2))
        f["progress"].attrs["columns"] = "completed_ms, unix_time_s"
        flt = _filters(compression)
        for b in recorder.spikes:
            g = f.create_group(f"spikes/{b.population}")
            g.attrs.create("sorting", 2, dtype=SORTING)
            g.attrs["first_gid"], g.attrs["size"] = b.first_gid, b.wanted.size
            ts = g.create_dataset("timestamps", (0,), np.float64, maxshape=(None,), chunks=(SPIKE_CHUNK,), **flt)
            ts.attrs["units"] = "ms"
            g.create_dataset("node_ids", (0,), np.uint64, maxshape=(None,), chunks=(SPIKE_CHUNK,), **flt)
            g.create_dataset("steps", (0,), np.int64, maxshape=(None,), chunks=(SPIKE_CHUNK,), **flt)
            g.create_dataset("index", (0, 2), np.int64, maxshape=(None, 2), chunks=(1024, 2))
        for b in recorder.state:
            n = b.local.size
            for var in b.spec.variables:
                g = f.create_group(f"state/{b.spec.population}/{var}")
                if n:
                    rows = max(1, min(1024, STATE_CHUNK // n))
                    d = g.create_dataset("data", (0, n), np.float64, maxshape=(None, n),
                                         chunks=(rows, min(n, STATE_CHUNK)), **flt)
                else:
                    d = g.create_dataset("data", (0, 0), np.float64)
                d.attrs["units"] = units(var)
                g.create_dataset("steps", (0,), np.int64, maxshape=(None,), chunks=(4096,))
                m = g.create_group("mapping")
                m.create_dataset("node_ids", data=b.node_ids)
                m.create_dataset("index_pointers", data=np.arange(n + 1, dtype=np.uint64))
                m.create_dataset("element_ids", data=np.zeros(n, dtype=np.uint32))
                m.create_dataset("time", data=np.zeros(3)).attrs["units"] = "ms"
                g.attrs["interval_steps"] = b.every
        for r in recorder.rates:
            g = f.create_group(f"rates/{r.population}")
            c = g.create_dataset("counts", (0,), np.int64, maxshape=(None,), chunks=(4096,))
            c.attrs.update({"bin_ms": r.bin_ms, "t_start": 0.0, "size": r.size, "units": "spikes"})
        f.flush()

    def start(self, target_step: int) -> None:
        """A run to ``target_step`` begins: the file is incomplete until :meth:`close`."""
        self.f.attrs["target_step"] = target_step
        self.f.attrs["complete"] = 0
        self.f.flush()

    def _ds(self, name: str) -> h5py.Dataset:
        # Looking a dataset up by path costs more than appending a flush's spikes to it.
        if name not in self._handles:
            self._handles[name] = self.f[name]
        return self._handles[name]

    def write(self, batch: Batch) -> None:
        f = self.f
        for pop, (ids, steps) in batch.spikes.items():
            g = f"spikes/{pop}/"
            _append(self._ds(g + "timestamps"), steps * self.dt)
            _append(self._ds(g + "node_ids"), ids)
            st = self._ds(g + "steps")
            _append(st, steps)
            _append(self._ds(g + "index"), np.array([[batch.completed, st.shape[0]]], dtype=np.int64))
        for (pop, var), (steps, vals) in batch.state.items():
            g = f"state/{pop}/{var}/"
            if steps.size == 0:
                continue
            data = self._ds(g + "data")
            if data.shape[1]:
                _append(data, vals)
            st = self._ds(g + "steps")
            first = int(st[0]) if st.shape[0] else int(steps[0])
            _append(st, steps)
            every = int(f[g].attrs["interval_steps"])
            self._ds(g + "mapping/time")[:] = [first * self.dt, (steps[-1] + every) * self.dt, every * self.dt]
        for pop, (first, counts) in batch.rates.items():
            c = self._ds(f"rates/{pop}/counts")
            if first + counts.size > c.shape[0]:
                c.resize(first + counts.size, axis=0)
            if counts.size:
                c[first:first + counts.size] = counts
        # Data first, then what says how far it is complete.
        f.flush()
        _append(self._ds("progress"), np.array([[batch.completed * self.dt, time.time()]]))
        f.attrs["completed_step"] = batch.completed
        f.attrs["completed_ms"] = batch.completed * self.dt
        f.attrs["flushes"] = int(f.attrs["flushes"]) + 1
        f.flush()

    def close(self, complete: bool, summary: dict | None = None) -> None:
        if self.f.id.valid:
            if summary is not None:
                # A dataset, not an attribute: attributes stop at 64 KiB, and the per-rank
                # figures of a large run pass that.
                if "summary" in self.f:
                    del self.f["summary"]
                self.f.create_dataset("summary", data=to_json(summary))
            self.f.attrs["complete"] = int(complete)
            self.f.close()
