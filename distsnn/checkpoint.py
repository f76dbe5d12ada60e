"""Checkpoint and restart onto any number of ranks and any partition, continuing bit for bit.

A checkpoint is a directory ``<path>/step-<NNNNNNNNNN>/`` holding one HDF5 file per rank
(``rank<r>.ckpt.h5``, written in parallel) and a master ``checkpoint.h5`` written last.
Everything is keyed by gid, never by rank (NEURON's BBSaveState design):

- ``/pops/<name>/gids`` and one dataset per state array of the population's model state
  (every array field whose last axis runs over the local neurons, in gid order); a new
  owner picks its columns by gid. Models whose state is a pure function of the step
  (``spike_train``, ``poisson``: keyed draws and absolute spike steps) store nothing
  beyond the gids: they are rebuilt from the description.
- ``/inflight/gids``, ``/inflight/steps``: every spike the rank's neurons emitted in the
  last ``max_delay`` steps. On restore every rank reads all of them and delivers them
  through its own synapses (short and long alike, the normal delivery kernel), keeping
  the arrivals after the checkpoint step. This does not depend on the ring's layout,
  the epoch length or the partition. Poisson input is not stored: the engine injects it
  epoch by epoch for the epoch's own steps, so at a checkpoint (an epoch boundary) none
  of it is in the ring, and the restored run draws the steps after the checkpoint from
  the same keyed streams, exactly once.
- ``/rates/<pop>``: the count of the rate bin the checkpoint cuts (this rank's neurons),
  so the restored run completes that bin.
- ``/hooks/<i>``: the state of the simulation's i-th hook, a
  :class:`~distsnn.learning.Trainer` (:mod:`distsnn.learning.snapshot`: trained weights,
  traces, optimizer state, position, keyed by gid), which ``Trainer.restore`` reads
  after the trainer is rebuilt on the restored simulation.

The master holds the step, dt, seed, the network hash (the description without
``t_stop``, ``dt``, ``seed`` and monitors, which do not change the dynamics; dt and seed
are compared on their own so the refusal names them), the distsnn version, and the size
and SHA-256 of every rank file: a truncated or corrupt file is refused before any state
is touched. Writing is atomic: the files go to a temporary directory that rank 0 renames
into place after the master is written, so a job killed while checkpointing leaves the
previous checkpoint intact. Static synapses are rebuilt from the description; plastic
ones from the description and then the trainer's state.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import re
import shutil
import time
from dataclasses import dataclass

import h5py
import numpy as np
import tomli_w

from . import config, delivery
from .comm import Comm

#: Format of the files (bumped when the layout changes).
FORMAT = 1
MASTER = "checkpoint.h5"
MAGIC = "distsnn-checkpoint"
#: Models whose state is a pure function of (description, gids, step).
TIME_KEYED = ("spike_train", "poisson")
_STEP_DIR = re.compile(r"^step-(\d{10})$")


def version() -> str:
    from . import __version__
    return __version__


def network_hash(net) -> str:
    """SHA-256 of the description, less what does not change the dynamics of the steps run
    (``t_stop``, monitors) and what is compared on its own (``dt``, ``seed``)."""
    doc = config.to_dict(net)
    doc["simulation"] = {k: v for k, v in doc["simulation"].items() if k not in ("t_stop", "dt", "seed")}
    doc.pop("monitor", None)
    doc.pop("monitors", None)
    return hashlib.sha256(tomli_w.dumps(config._plain(doc)).encode()).hexdigest()


def rank_name(rank: int) -> str:
    return f"rank{rank}.ckpt.h5"


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


class SpikeHistory:
    """This rank's spikes of the last ``window`` steps (the ones that may still be in flight)."""

    def __init__(self, window: int) -> None:
        self.window = int(window)
        self.chunks: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, gids: np.ndarray, steps: np.ndarray, now: int) -> None:
        if gids.size:
            self.chunks.append((gids.astype(np.int64), steps.astype(np.int64)))
        cut = now - self.window
        while self.chunks and (self.chunks[0][1].size == 0 or self.chunks[0][1].max() <= cut):
            self.chunks.pop(0)

    def pending(self, now: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.chunks:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        g = np.concatenate([c[0] for c in self.chunks])
        s = np.concatenate([c[1] for c in self.chunks])
        keep = s > now - self.window
        return g[keep], s[keep]


def state_arrays(pop) -> dict[str, np.ndarray]:
    """The arrays of a local population's model state indexed by neuron on the last axis."""
    if pop.model.NAME in TIME_KEYED or not dataclasses.is_dataclass(pop.state):
        return {}
    out = {}
    for f in dataclasses.fields(pop.state):
        v = getattr(pop.state, f.name)
        if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[-1] == pop.n:
            out[f.name] = v
    return out


def _collective_check(comm: Comm, error: str | None) -> None:
    """Raise on every rank when any rank failed (collectives stay unconditional)."""
    errors = comm.gather(error)
    errors = comm.bcast(errors)
    bad = [e for e in errors if e]
    if bad:
        raise ValueError(bad[0])


# ---------------------------------------------------------------------------------------- write

def write(sim, path: str, keep: int | None = None) -> str:
    """Write ``sim``'s state at its current step to ``path/step-<N>/`` (collective).

    ``keep``: keep only the newest ``keep`` checkpoints under ``path`` (``None``: all).
    Returns the checkpoint's directory.
    """
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise ValueError(f"checkpoint: keep must be an integer >= 1 (checkpoints), got {keep!r}")
    # A restore rebuilds the synapse tables from the description, so the weights changed
    # by learning live in the hook's own state (a Trainer's ``checkpoint_state``, restored
    # by its ``restore``); a hook without one would silently lose its state: refused.
    # Every rank holds the same hooks, so every rank refuses alike before any collective.
    learning = [type(h).__name__ for h in getattr(sim, "hooks", ()) if not hasattr(h, "checkpoint_state")]
    if learning:
        raise ValueError(f"checkpoint: the simulation has {', '.join(learning)} attached, which cannot store its "
                         f"state in a checkpoint: a restore would silently lose it")
    hooks = [h.checkpoint_state() for h in getattr(sim, "hooks", ())]     # collective (every rank, same hooks)
    comm, step = sim.comm, int(sim.step)
    final = os.path.join(path, f"step-{step:010d}")
    tmp = comm.bcast(os.path.join(path, f".tmp-step-{step:010d}-{os.getpid()}-{int(time.time())}")
                     if comm.rank == 0 else None)
    t0 = time.perf_counter()
    error = None
    if comm.rank == 0:
        try:
            os.makedirs(tmp)
        except OSError as e:
            error = f"checkpoint: cannot create {tmp!r}: {e}"
    _collective_check(comm, error)
    info = None
    try:
        info = _write_rank(sim, os.path.join(tmp, rank_name(comm.rank)), step, hooks)
    except OSError as e:
        error = f"checkpoint: rank {comm.rank} cannot write its file in {path!r}: {e}"
    infos = comm.gather(info)
    if comm.rank == 0 and error is None and all(i is not None for i in infos):
        try:
            _write_master(sim, tmp, step, infos)
            if os.path.isdir(final):
                shutil.rmtree(final)
            os.rename(tmp, final)
            _prune(path, keep)
        except OSError as e:
            error = f"checkpoint: cannot write the master in {path!r}: {e}"
    _collective_check(comm, error)
    sim.checkpoint_seconds = time.perf_counter() - t0
    return final


def _write_rank(sim, path: str, step: int, hooks: list = ()) -> dict:
    state_bytes = 0
    with h5py.File(path + ".part", "w", locking=False) as f:
        f.attrs.update({"magic": MAGIC, "format": FORMAT, "rank": sim.comm.rank, "step": step})
        for pop in sim.pops:
            g = f.create_group(f"pops/{pop.name}")
            g.attrs["model"] = pop.model.NAME
            g.create_dataset("gids", data=pop.gids.astype(np.int64))
            for name, arr in state_arrays(pop).items():
                g.create_dataset(name, data=arr)
                state_bytes += arr.nbytes
        gids, steps = sim.history.pending(step)
        f.create_dataset("inflight/gids", data=gids)
        f.create_dataset("inflight/steps", data=steps)
        for r in sim.recorder.rates:
            b = step // r.bin_steps                  # the bin of step + 1, cut when step % bin != 0
            i = b - r.first_bin
            count = int(r.pending[i]) if 0 <= i < r.pending.size else 0
            g = f.create_group(f"rates/{r.population}")
            g.attrs["bin"], g.attrs["count"] = b, count
        for i, (attrs, arrays) in enumerate(hooks):
            g = f.create_group(f"hooks/{i}")
            g.attrs.update(attrs)
            for name, arr in arrays.items():
                g.create_dataset(name, data=arr)
                state_bytes += arr.nbytes
    os.replace(path + ".part", path)
    return {"file": os.path.basename(path), "size": os.path.getsize(path), "sha256": _sha256(path),
            "state_bytes": state_bytes, "inflight": int(gids.size)}


def _write_master(sim, directory: str, step: int, infos: list[dict]) -> None:
    net = sim.net
    tmp = os.path.join(directory, MASTER + ".part")
    with h5py.File(tmp, "w", locking=False) as f:
        f.attrs.update({"magic": MAGIC, "format": FORMAT, "version": version(), "step": step,
                        "t_ms": step * net.dt, "dt": net.dt, "seed": net.seed,
                        "network_hash": network_hash(net), "ranks": len(infos), "neurons": net.size,
                        "max_delay": sim.max_delay, "created_unix": time.time(),
                        "state_bytes": sum(i["state_bytes"] for i in infos),
                        "inflight_spikes": sum(i["inflight"] for i in infos)})
        f.create_dataset("files", data=np.array([i["file"] for i in infos], dtype=h5py.string_dtype()))
        f.create_dataset("sizes", data=np.array([i["size"] for i in infos], dtype=np.int64))
        f.create_dataset("sha256", data=np.array([i["sha256"] for i in infos], dtype=h5py.string_dtype()))
    os.replace(tmp, os.path.join(directory, MASTER))


def _prune(path: str, keep: int | None) -> None:
    if keep is None:
        return
    done = sorted(d for d in os.listdir(path) if _STEP_DIR.match(d)
                  and os.path.isfile(os.path.join(path, d, MASTER)))
    for d in done[:-keep]:
        shutil.rmtree(os.path.join(path, d), ignore_errors=True)


# ---------------------------------------------------------------------------------------- read

@dataclass(frozen=True)
class Checkpoint:
    """A checked checkpoint: its directory and the master's attributes."""

    path: str
    step: int
    dt: float
    seed: int
    ranks: int
    files: list[str]
    attrs: dict

    def size_bytes(self) -> int:
        return sum(os.path.getsize(os.path.join(self.path, f)) for f in self.files + [MASTER])


def locate(path: str) -> str:
    """The checkpoint directory ``path`` names: itself when it holds a master, else its
    newest ``step-*`` subdirectory that does (an unfinished one has none)."""
    if os.path.isfile(os.path.join(path, MASTER)):
        return path
    if not os.path.isdir(path):
        raise ValueError(f"restore: checkpoint {path!r} does not exist")
    done = sorted(d for d in os.listdir(path) if _STEP_DIR.match(d)
                  and os.path.isfile(os.path.join(path, d, MASTER)))
    if not done:
        raise ValueError(f"restore: {path!r} holds no complete checkpoint (no {MASTER})")
    return os.path.join(path, done[-1])


def open_checkpoint(path: str, net, comm: Comm) -> Checkpoint:
    """Find, check and verify a checkpoint against ``net`` (collective); nothing is loaded.

    Refused (``ValueError`` naming what differs): another network, dt, seed or distsnn
    version; a missing, truncated or corrupt file."""
    error, ck = None, None
    if comm.rank == 0:
        try:
            ck = _read_master(locate(path), net)
        except ValueError as e:
            error = str(e)
    _collective_check(comm, error)
    ck = comm.bcast(ck)
    # Every rank verifies a share of the files (checksums), then all agree.
    for i in range(comm.rank, ck.ranks, comm.size):
        f = os.path.join(ck.path, ck.files[i])
        if not os.path.isfile(f):
            error = f"restore: checkpoint {ck.path!r} lacks rank file {ck.files[i]!r}"
            break
        size = os.path.getsize(f)
        if size != int(ck.attrs["sizes"][i]):
            error = (f"restore: rank file {f!r} is truncated or corrupt: {size} bytes, "
                     f"the master says {int(ck.attrs['sizes'][i])}")
            break
        if _sha256(f) != ck.attrs["sha256"][i]:
            error = f"restore: rank file {f!r} is corrupt (SHA-256 differs from the master's)"
            break
    _collective_check(comm, error)
    return ck


def _read_master(path: str, net) -> Checkpoint:
    m = os.path.join(path, MASTER)
    try:
        with h5py.File(m, "r", locking=False) as f:
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            files = [x.decode() if isinstance(x, bytes) else str(x) for x in f["files"][()]]
            attrs["sizes"] = f["sizes"][()].tolist()
            attrs["sha256"] = [x.decode() if isinstance(x, bytes) else str(x) for x in f["sha256"][()]]
    except (OSError, KeyError) as e:
        raise ValueError(f"restore: master {m!r} is unreadable, truncated or corrupt: {e}") from None
    if attrs.get("magic") != MAGIC or int(attrs.get("format", -1)) != FORMAT:
        raise ValueError(f"restore: {m!r} is not a distsnn checkpoint of format {FORMAT} "
                         f"(magic {attrs.get('magic')!r}, format {attrs.get('format')!r})")
    if attrs["version"] != version():
        raise ValueError(f"restore: checkpoint {path!r} was written by distsnn {attrs['version']}, "
                         f"this is distsnn {version()}: versions differ")
    if float(attrs["dt"]) != net.dt:
        raise ValueError(f"restore: checkpoint {path!r} has dt = {float(attrs['dt'])} ms, the network "
                         f"dt = {net.dt} ms: dt differs")
    if int(attrs["seed"]) != net.seed:
        raise ValueError(f"restore: checkpoint {path!r} has seed {int(attrs['seed'])}, the network seed "
                         f"{net.seed}: seed differs")
    h = network_hash(net)
    if attrs["network_hash"] != h:
        raise ValueError(f"restore: checkpoint {path!r} is of another network: network hash "
                         f"{attrs['network_hash'][:16]} in the checkpoint, {h[:16]} for this description "
                         f"(populations, projections, inputs or parameters differ)")
    if len(files) != int(attrs["ranks"]):
        raise ValueError(f"restore: master {m!r} is corrupt: {len(files)} files for {attrs['ranks']} ranks")
    return Checkpoint(path, int(attrs["step"]), float(attrs["dt"]), int(attrs["seed"]), int(attrs["ranks"]),
                      files, attrs)


def load_into(sim, ck: Checkpoint) -> None:
    """Set a freshly built simulation (at step 0) to the checkpoint's state (collective).

    Everything is read and checked before anything is set; a failure on any rank
    raises on every rank and leaves ``sim`` as built."""
    error, new = None, None
    try:
        new = _read_state(sim, ck)
    except (ValueError, OSError, KeyError) as e:
        error = f"restore: checkpoint {ck.path!r}: {e}"
    _collective_check(comm := sim.comm, error)
    states, ring, rates, own = new
    for pop, st in zip(sim.pops, states):
        pop.state = st
    sim.ring[...] = ring
    sim.step = ck.step
    sim.history.add(*own, ck.step)
    rec = sim.recorder
    for b in rec.state:             # the initial sample belongs to the first run
        b.take()
    for r in rec.rates:
        b, count = rates.get(r.population, (ck.step // r.bin_steps, 0))
        r.first_bin = b
        r.pending = np.array([count if comm.rank == 0 else 0], dtype=np.int64)
    rec.nbytes = sum(8 * r.pending.size for r in rec.rates)
    if sim.output is not None:
        sim.output.writer.f.attrs["start_step"] = ck.step
        sim.output.writer.f.attrs["restored_from"] = ck.path


def _read_state(sim, ck: Checkpoint):
    files = [os.path.join(ck.path, f) for f in ck.files]
    states = []
    handles = [h5py.File(f, "r", locking=False) for f in files]
    try:
        for pop in sim.pops:
            fresh = state_arrays(pop)
            filled = {k: np.empty_like(v) for k, v in fresh.items()}
            seen = np.zeros(pop.n, dtype=np.int64)
            for f in handles:
                g = f[f"pops/{pop.name}"]
                if g.attrs["model"] != pop.model.NAME:
                    raise ValueError(f"population {pop.name!r} is of model {g.attrs['model']!r}, "
                                     f"the network says {pop.model.NAME!r}")
                old = g["gids"][()]
                if not old.size or not pop.n:
                    continue
                pos = np.searchsorted(pop.gids, old)
                hit = (pos < pop.n) & (pop.gids[np.minimum(pos, pop.n - 1)] == old)
                if not hit.any():
                    continue
                seen[pos[hit]] += 1
                # Only the hyperslab of the old file's columns that spans this rank's gids.
                cols = np.flatnonzero(hit)
                lo, hi = int(cols[0]), int(cols[-1]) + 1
                for name, arr in fresh.items():
                    if name not in g:
                        raise ValueError(f"population {pop.name!r} lacks state {name!r}")
                    ds = g[name]
                    if ds.shape[:-1] != arr.shape[:-1] or ds.shape[-1] != old.size or ds.dtype != arr.dtype:
                        raise ValueError(f"population {pop.name!r}: state {name!r} has shape {ds.shape} "
                                         f"{ds.dtype}, expected {arr.shape[:-1]} x {old.size} neurons {arr.dtype}")
                    data = ds[..., lo:hi]
                    filled[name][..., pos[hit]] = data[..., cols - lo]
            if (seen != 1).any():
                bad = pop.gids[seen != 1][0]
                raise ValueError(f"gid {int(bad)} of population {pop.name!r} is stored "
                                 f"{int(seen[seen != 1][0])} times (expected once)")
            states.append(dataclasses.replace(pop.state, **filled) if filled else pop.state)
        g_all = [f["inflight/gids"][()] for f in handles]
        s_all = [f["inflight/steps"][()] for f in handles]
        rates = {}
        for f in handles:
            for name, g in f.get("rates", {}).items():
                b, c = rates.get(name, (int(g.attrs["bin"]), 0))
                rates[name] = (b, c + int(g.attrs["count"]))
    finally:
        for f in handles:
            f.close()
    gids = np.concatenate(g_all).astype(np.int64)
    steps = np.concatenate(s_all).astype(np.int64)
    mine = sim.owner[gids] == sim.comm.rank
    # Re-deliver through this rank's synapses into a ring long enough that arrivals of
    # (step - max_delay, step + max_delay] never share a row, then keep those after step.
    T, D = ck.step, max(sim.max_delay, 1)
    R2 = 2 * D + 1
    tmp = np.zeros((R2, sim.ring.shape[1]), dtype=sim.ring.dtype)
    order = np.lexsort((gids, steps))
    for table in (sim.short, sim.long):
        if table.size:
            delivery.deliver(gids[order], steps[order], table, tmp)
    ring = np.zeros_like(sim.ring)
    R = ring.shape[0]
    for a in range(T + 1, T + D + 1):
        ring[a % R] = tmp[a % R2]
    return states, ring, rates, (gids[mine], steps[mine])


def peek_step(path: str) -> "int | str":
    """The step of the checkpoint ``path`` names, or the reason it cannot be read (text)."""
    try:
        d = locate(path)
        with h5py.File(os.path.join(d, MASTER), "r", locking=False) as f:
            return int(f.attrs["step"])
    except (ValueError, OSError, KeyError) as e:
        return str(e) if isinstance(e, ValueError) else f"restore: cannot read the checkpoint in {path!r}: {e}"


def describe(path: str) -> str:
    """One line: where, the step, and the size against the model state's size."""
    with h5py.File(os.path.join(path, MASTER), "r", locking=False) as f:
        step, t, state = int(f.attrs["step"]), float(f.attrs["t_ms"]), int(f.attrs["state_bytes"])
        inflight = int(f.attrs["inflight_spikes"])
    size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(path, "*.h5")))
    return (f"{path} (step {step}, {t:g} ms): {size} B on disk for {state} B of model state "
            f"and {inflight} spikes in flight")
