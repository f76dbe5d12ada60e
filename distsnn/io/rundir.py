"""The output directory of a run: checked before anything is simulated, locked while written.

:func:`prepare` is collective. Rank 0 checks ``out`` and every rank raises the same
``ValueError`` if it is unusable:

- a file, or a path below a file;
- not writable (read-only, or full: a 64 KiB probe is written, synced and removed);
- holding an earlier run (``run.h5``, ``rank*.h5``, ``report_*.h5``, ``spikes_sorted*.h5``),
  unless ``overwrite``: then those files (and only those, never anything else in the
  directory) are removed first, so no rank file of an earlier, larger run survives;
- locked by another run: ``.distsnn.lock`` is created with ``O_EXCL`` and holds the pid,
  host and run id of the writer. A lock left by a process of this host that is no
  longer alive is stale and ``overwrite`` removes it; any other lock is refused.

Every file of a run carries its identity: the run id (random, drawn by rank 0), the
rank count and the network hash (SHA-256 of the network's canonical TOML).
"""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass

LOCK = ".distsnn.lock"
MASTER = "run.h5"
SORTED = "spikes_sorted.h5"
PROBE_BYTES = 64 * 1024


def rank_path(out: str, rank: int) -> str:
    return os.path.join(out, f"rank{rank:05d}.h5")


def report_path(out: str, variable: str) -> str:
    return os.path.join(out, f"report_{variable}.h5")


def run_files(out: str) -> list[str]:
    """The files of a run (and their temporaries) in ``out``, nothing else."""
    pats = ("rank[0-9][0-9][0-9][0-9][0-9].h5", MASTER, "report_*.h5", "spikes_sorted*.h5", "*.h5.tmp")
    return sorted({p for pat in pats for p in glob.glob(os.path.join(out, pat))})


def network_hash(toml_text: str) -> str:
    return hashlib.sha256(toml_text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RunDir:
    """A checked, locked output directory and the identity of the run writing it."""

    path: str
    run_id: str
    created: bool       # the directory did not exist before

    def release(self) -> None:
        """Remove the lock if it is this run's (rank 0 only calls this)."""
        lock = os.path.join(self.path, LOCK)
        try:
            with open(lock) as fh:
                if json.load(fh).get("run_id") != self.run_id:
                    return
            os.remove(lock)
        except (OSError, ValueError):
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check(out: str, overwrite: bool, run_id: str) -> tuple[str | None, bool]:
    """Rank 0's checks and set-up; returns (error message or None, directory created)."""
    where = f"output directory {out!r}"
    if os.path.exists(out) and not os.path.isdir(out):
        return f"{where} is a file, not a directory", False
    parent = out
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        return f"{where} lies below {parent!r}, which is a file", False
    created = not os.path.exists(out)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        return f"{where} cannot be created: {e.strerror}", False
    lock = os.path.join(out, LOCK)
    if os.path.exists(lock):
        try:
            with open(lock) as fh:
                held = json.load(fh)
        except (OSError, ValueError):
            held = {}
        stale = held.get("host") == socket.gethostname() and not _alive(int(held.get("pid", -1)))
        if not (stale and overwrite):
            who = (f"pid {held.get('pid')} on {held.get('host')}, run {held.get('run_id')}, "
                   f"started {held.get('started')}") if held else "unknown"
            hint = ("it is stale (that process is gone): pass --overwrite (overwrite=True) to take over"
                    if stale else "if no run is writing there, remove the lock file")
            return f"{where} is locked by another run ({who}) in {lock!r}; {hint}", False
        os.remove(lock)
    old = run_files(out)
    if old and not overwrite:
        names = ", ".join(os.path.basename(p) for p in old[:4]) + (", ..." if len(old) > 4 else "")
        return (f"{where} holds an earlier run ({names}); pass --overwrite (overwrite=True) to replace it, "
                f"or choose another directory"), created
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return f"{where} was locked by another run just now ({lock!r})", created
    except OSError as e:
        return f"{where} is not writable: {e.strerror}", created
    with os.fdopen(fd, "w") as fh:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "run_id": run_id,
                   "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, fh)
    probe = os.path.join(out, ".distsnn.probe")
    try:
        with open(probe, "wb") as fh:
            fh.write(b"\0" * PROBE_BYTES)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as e:
        what = "full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else "not writable"
        _remove(probe)
        _remove(lock)
        return f"{where} is {what}: {e.strerror}", created
    _remove(probe)
    for p in old:
        os.remove(p)
    return None, created


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def prepare(out: str, comm, overwrite: bool = False) -> RunDir:
    """Check and lock ``out`` (collective: every rank gets the same directory or error)."""
    out = os.path.abspath(out)
    msg, created, run_id = None, False, ""
    if comm.rank == 0:
        run_id = uuid.uuid4().hex
        msg, created = _check(out, overwrite, run_id)
        if msg is not None and created:
            try:
                os.rmdir(out)
            except OSError:
                pass
    # Rank 0's path: a relative ``out`` must not mean different places on different ranks.
    msg, created, run_id, out = comm.bcast((msg, created, run_id, out))
    if msg is not None:
        raise ValueError(msg)
    return RunDir(out, run_id, created)


def abandon(rundir: RunDir, comm_rank: int) -> None:
    """Undo :func:`prepare` after a failure before anything was written."""
    if comm_rank != 0:
        return
    rundir.release()
    for p in glob.glob(os.path.join(rundir.path, "*.h5.tmp")):
        _remove(p)
    if rundir.created:
        try:
            os.rmdir(rundir.path)
        except OSError:
            pass
