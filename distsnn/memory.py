"""Memory limits: what the machines can still give, and sizes such as ``"64G"``.

The default limit of a job is the memory the machines running it can still give:
``MemAvailable`` of ``/proc/meminfo`` (capped by a cgroup's limit) summed over the
distinct hosts of the ranks (:func:`job_limit`). A limit given by the user is a number of
bytes, a string such as ``"64G"`` or ``"1.5TiB"`` (powers of 1024), ``"available"`` (the
default) or ``None`` / ``"none"`` (no limit). :mod:`distsnn.resources` estimates what a
simulation needs and checks it against such a limit.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import validate

if TYPE_CHECKING:
    from .comm import Comm

_UNITS = {"": 1, "b": 1, "k": 2 ** 10, "m": 2 ** 20, "g": 2 ** 30, "t": 2 ** 40, "p": 2 ** 50}


@dataclass(frozen=True)
class Limit:
    """A memory limit in bytes for the whole job (``None``: unlimited) and where it came from."""

    bytes: int | None
    source: str


def fmt(n: float) -> str:
    """``1.5 GiB``-style size of ``n`` bytes."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def parse_bytes(owner: str, field: str, spec: Any) -> int | None | str:
    """A size in bytes from ``123``, ``"64G"``, ``"1.5TiB"``, ``"512MB"`` (powers of 1024);
    ``None`` or ``"none"`` for no limit; ``"available"`` is returned as is."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "none"):
        return None
    if isinstance(spec, str) and spec.strip().lower() == "available":
        return "available"
    if isinstance(spec, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kmgtpKMGTP]?)(?:i?[bB])?\s*", spec)
        if not m:
            raise ValueError(f"{owner}: {field} must be a size such as 64G, 1.5TiB or 1000000 (bytes), "
                             f"'available' or 'none', got {spec!r}")
        value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    else:
        value = validate.number(owner, field, spec, "bytes")
    if not value > 0:
        raise ValueError(f"{owner}: {field} must be > 0 bytes, got {spec!r}")
    return int(value)


def available_memory() -> int | None:
    """Bytes this machine can still give to new allocations (``None`` if unknown):
    ``MemAvailable`` of ``/proc/meminfo``, capped by the cgroup's remaining allowance."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    for limit_file, used_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                  ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                   "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file) as a, open(used_file) as b:
                text = a.read().strip()
                if text != "max" and int(text) < 2 ** 60:
                    avail = min(avail, max(int(text) - int(b.read().strip()), 0))
            break
        except (OSError, ValueError):
            continue
    return avail


def job_limit(comm: "Comm", max_memory: Any = "available", owner: str = "Simulation",
              name: str = "max_memory") -> Limit:
    """The memory limit of the whole job (collective: every rank calls it, with the same
    ``max_memory``). ``"available"``: the available memory summed over the distinct hosts
    of the ranks; a size: that many bytes for all ranks together; ``None``: no limit."""
    if isinstance(max_memory, Limit):
        spec = max_memory
    else:
        spec = parse_bytes(owner, name, max_memory)
    # Every rank takes part, whatever the spec, so the collective sequence never depends on it.
    hosts = comm.gather((socket.gethostname(), available_memory()))
    total = None
    if hosts is not None:
        per_host = dict(hosts)
        total = None if None in per_host.values() else sum(per_host.values())
    total = comm.bcast(total)
    if isinstance(spec, Limit):
        return spec
    if spec == "available":
        return Limit(total, "the memory available on the machine" if comm.size == 1 else
                     "the memory available on the ranks' machines")
    return Limit(spec, f"set by {name}")


def check_allocation(owner: str, what: str, nbytes: int, max_bytes: int | None) -> None:
    """Refuse one allocation of ``nbytes`` bytes above ``max_bytes`` (``None``: no limit)."""
    if max_bytes is not None and nbytes > max_bytes:
        raise ValueError(f"{owner}: {what} must fit in the memory limit of {max_bytes} bytes ({fmt(max_bytes)}), "
                         f"needs {nbytes} bytes ({fmt(nbytes)})")


__all__ = ["Limit", "fmt", "parse_bytes", "available_memory", "job_limit", "check_allocation"]
