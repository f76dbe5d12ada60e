"""Placing parts on the devices of a machine of hosts.

A machine has ``hosts`` hosts with ``devices_per_host`` devices each; device
``d`` lives on host ``d // devices_per_host`` and has relative speed ``speed[d]``.
Traffic inside a host is cheap, traffic between hosts is not. With ``P`` parts and
``D`` devices, :func:`map_to_devices` first gives every device a quota of parts:

* ``P <= D``: one part per device at most; hosts are filled one after the other,
  fastest host first, so with ``P < D`` the last hosts (and, within a partly
  filled host, its slowest devices) stay empty.
* ``P > D``: quotas follow speed, ``P * speed_d / total speed`` rounded by largest
  remainder (ties to the lower device), so with parts of similar load (what the
  partitioners produce) the load per device follows its speed.

A host's quota is the sum of its devices' quotas. Then:

1. Hosts, fastest first (ties to the lower index), each grown greedily from the
   unplaced part with the most traffic by adding the part with the most traffic to
   the parts already there, until the host's quota is met.
2. Best-first pairwise swaps between hosts while one lowers inter-host traffic
   (at most ``2 P`` swaps, each ``O(P^2)``); swaps keep every host's count. The swaps
   run from the greedy grouping and from in-order filling, and the grouping with less
   inter-host traffic is kept, so the result is never worse than in-order placement
   (with ``P <= D``, where in-order filling meets the same host counts).
3. Within a host, parts in decreasing load each go to the device with remaining
   quota whose ``(device load + part load) / speed`` is smallest: the heaviest part
   lands on the fastest device.

Traffic is symmetrized (``T + T.T``) for placement; ties go to the lowest index.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

_KEYS = ("hosts", "devices_per_host", "speed")


def _positive_int(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"Machine: {field} must be an int >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"Machine: {field} must be >= 1, got {value}")
    return int(value)


@dataclass(frozen=True)
class Machine:
    """Hosts, devices per host and relative device speeds.

    Parameters
    ----------
    hosts : int
        Number of hosts, >= 1.
    devices_per_host : int
        Devices (GPUs, or cores used as ranks) per host, >= 1.
    speed : tuple of float, optional
        Relative speed of every device, length ``hosts * devices_per_host``,
        finite and > 0; None means all equal.
    """

    hosts: int
    devices_per_host: int
    speed: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _positive_int("hosts", self.hosts)
        _positive_int("devices_per_host", self.devices_per_host)
        if self.speed is None:
            return
        if isinstance(self.speed, (str, bytes)) or np.ndim(self.speed) != 1:
            raise ValueError(f"Machine: speed must be a sequence of numbers, got {self.speed!r}")
        values = np.asarray(self.speed)
        if values.dtype.kind not in "iuf":
            raise ValueError(f"Machine: speed must hold numbers, got {self.speed!r}")
        n_devices = self.hosts * self.devices_per_host
        if values.shape[0] != n_devices:
            raise ValueError(f"Machine: speed must have hosts * devices_per_host = {n_devices} "
                             f"entries, got {values.shape[0]}")
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(f"Machine: speed must be finite and > 0, got {values[k].item()!r} "
                             f"at device {k}")
        object.__setattr__(self, "speed", tuple(float(x) for x in values))

    @property
    def n_devices(self) -> int:
        """Total number of devices."""
        return self.hosts * self.devices_per_host

    def speeds(self) -> np.ndarray:
        """Relative speed of every device (float64, ones when ``speed`` is None)."""
        if self.speed is None:
            return np.ones(self.n_devices)
        return np.array(self.speed, dtype=np.float64)

    def host_of_device(self) -> np.ndarray:
        """Host index of every device (int64)."""
        return np.arange(self.n_devices, dtype=np.int64) // self.devices_per_host

    @classmethod
    def parse(cls, spec: Mapping[str, object]) -> "Machine":
        """Build a machine from a mapping such as a parsed config section.

        Parameters
        ----------
        spec : Mapping
            Keys ``hosts`` and ``devices_per_host`` (required) and ``speed``
            (optional list of numbers); no other keys.

        Returns
        -------
        Machine
        """
        if not isinstance(spec, Mapping):
            raise ValueError(f"Machine: spec must be a mapping, got {type(spec).__name__}")
        unknown = sorted(str(k) for k in spec if k not in _KEYS)
        if unknown:
            raise ValueError(f"Machine: unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})")
        for key in _KEYS[:2]:
            if key not in spec:
                raise ValueError(f"Machine: missing key {key!r}")
        speed = spec.get("speed")
        if speed is not None and (isinstance(speed, (str, bytes)) or np.ndim(speed) != 1):
            raise ValueError(f"Machine: speed must be a list of numbers, got {speed!r}")
        return cls(hosts=spec["hosts"], devices_per_host=spec["devices_per_host"],
                   speed=None if speed is None else tuple(speed))


def _check_traffic(traffic: ArrayLike) -> np.ndarray:
    t = np.asarray(traffic, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 1:
        raise ValueError(f"map_to_devices: traffic must be a square nparts x nparts matrix, "
                         f"got shape {t.shape}")
    if not (np.isfinite(t).all() and (t >= 0).all()):
        raise ValueError("map_to_devices: traffic must be finite and >= 0")
    return t


def _check_device_of_part(device_of_part: ArrayLike, nparts: int, machine: Machine) -> np.ndarray:
    d = np.asarray(device_of_part)
    if d.shape != (nparts,) or d.dtype.kind not in "iu":
        raise ValueError(f"host_volumes: device_of_part must be {nparts} integers, "
                         f"got shape {d.shape} dtype {d.dtype}")
    bad = (d < 0) | (d >= machine.n_devices)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"host_volumes: device_of_part must be in [0, {machine.n_devices}), "
                         f"got {d[k]} for part {k}")
    return d.astype(np.int64)


def _device_quota(nparts: int, machine: Machine) -> np.ndarray:
    """Parts each device may hold (module docstring); sums to at least ``nparts``."""
    if nparts <= machine.n_devices:
        quota = np.zeros(machine.n_devices, dtype=np.int64)
        speeds = machine.speeds().reshape(machine.hosts, machine.devices_per_host)
        # Fastest hosts first, fastest devices first within the last, partly used host.
        for h in np.argsort(-speeds.sum(axis=1), kind="stable"):
            take = min(nparts - int(quota.sum()), machine.devices_per_host)
            local = np.argsort(-speeds[h], kind="stable")[:take]
            quota[h * machine.devices_per_host + local] = 1
        return quota
    share = nparts * machine.speeds() / machine.speeds().sum()
    quota = np.floor(share).astype(np.int64)
    extra = np.argsort(-(share - quota), kind="stable")[:nparts - int(quota.sum())]
    quota[extra] += 1
    return quota


def _grow_hosts(sym: np.ndarray, host_quota: np.ndarray,
                host_speed: np.ndarray) -> np.ndarray:
    """Greedy host grouping (module docstring); returns the host of every part."""
    nparts = sym.shape[0]
    host = np.full(nparts, -1, dtype=np.int64)
    activity = sym.sum(axis=1)
    for h in np.argsort(-host_speed, kind="stable"):
        free = host < 0
        if not free.any():
            break
        if host_quota[h] == 0:
            continue
        seed = int(np.argmax(np.where(free, activity, -1.0)))
        host[seed] = h
        conn = sym[seed].copy()
        for _ in range(int(host_quota[h]) - 1):
            free = host < 0
            if not free.any():
                break
            pick = int(np.argmax(np.where(free, conn, -1.0)))
            host[pick] = h
            conn += sym[pick]
    return host


def _swap_hosts(sym: np.ndarray, host: np.ndarray, nhosts: int) -> np.ndarray:
    """Best-first pairwise swaps between hosts that lower inter-host traffic."""
    nparts = host.shape[0]
    host = host.copy()
    conn = sym @ np.eye(nhosts)[host]  # conn[i, h]: traffic of part i with host h
    tol = 1e-12 * max(float(sym.max()), 1e-300)
    index = np.arange(nparts)
    for _ in range(2 * nparts):
        own = conn[index, host]
        cross = conn[:, host]  # cross[i, j]: traffic of part i with the host of part j
        # Swapping i and j wins their traffic with each other's host and loses
        # their traffic with their own; their mutual traffic stays cross-host.
        gain = cross - own[:, None] + cross.T - own[None, :] - 2.0 * sym
        gain[host[:, None] == host[None, :]] = -np.inf
        i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if not gain[i, j] > tol:
            break
        hi, hj = host[i], host[j]
        conn[:, hi] += sym[:, j] - sym[:, i]
        conn[:, hj] += sym[:, i] - sym[:, j]
        host[i], host[j] = hj, hi
    return host


def map_to_devices(traffic: ArrayLike, loads: ArrayLike, machine: Machine) -> np.ndarray:
    """Assign parts to devices: heavy traffic inside hosts, load following speed.

    Parameters
    ----------
    traffic : array_like
        ``nparts x nparts`` expected spikes from part ``p`` to part ``q`` (e.g.
        :func:`partitioning.metrics.traffic_matrix`), finite and >= 0.
    loads : array_like
        Compute load of every part (e.g. :func:`partitioning.metrics.part_loads`), >= 0.
    machine : Machine

    Returns
    -------
    numpy.ndarray
        int64 device of every part, in ``[0, machine.n_devices)``. Every device
        holds exactly its quota (module docstring): with ``nparts <= n_devices``
        no two parts share a device; otherwise part counts follow device speed.
    """
    t = _check_traffic(traffic)
    nparts = t.shape[0]
    part_load = np.asarray(loads, dtype=np.float64)
    if part_load.shape != (nparts,) or not (np.isfinite(part_load).all()
                                             and (part_load >= 0).all()):
        raise ValueError(f"map_to_devices: loads must be {nparts} finite values >= 0, "
                         f"got shape {part_load.shape}")
    sym = t + t.T
    np.fill_diagonal(sym, 0.0)
    dph = machine.devices_per_host
    speeds = machine.speeds()
    quota = _device_quota(nparts, machine)
    host_quota = quota.reshape(machine.hosts, dph).sum(axis=1)
    host_speed = speeds.reshape(machine.hosts, dph).sum(axis=1)
    # Swaps only find local optima: start them both from the greedy grouping and from
    # in-order filling (which wins when part numbers already follow the structure, as
    # METIS's often do) and keep the grouping with less traffic between hosts.
    in_order = np.repeat(np.arange(machine.hosts), host_quota)[:nparts]
    candidates = [_swap_hosts(sym, start, machine.hosts)
                  for start in (_grow_hosts(sym, host_quota, host_speed), in_order)]
    host = min(candidates, key=lambda h: float(sym[h[:, None] != h[None, :]].sum()))

    device = np.empty(nparts, dtype=np.int64)
    device_load = np.zeros(machine.n_devices)
    left = quota.copy()
    for p in np.argsort(-part_load, kind="stable"):
        local = np.arange(host[p] * dph, (host[p] + 1) * dph)
        finish = np.where(left[local] > 0, (device_load[local] + part_load[p]) / speeds[local],
                          np.inf)
        d = int(local[np.argmin(finish)])
        device[p] = d
        device_load[d] += part_load[p]
        left[d] -= 1
    return device


def naive_mapping(nparts: int, machine: Machine) -> np.ndarray:
    """In-order placement, as ``mpirun --map-by slot`` places ranks.

    With ``nparts <= n_devices`` part ``i`` goes to device ``i`` (hosts fill in
    order, the last devices stay empty); otherwise to device
    ``i * n_devices // nparts`` (consecutive blocks of parts per device).

    Returns
    -------
    numpy.ndarray
        int64 device of every part.
    """
    if isinstance(nparts, bool) or not isinstance(nparts, (int, np.integer)) or nparts < 1:
        raise ValueError(f"naive_mapping: nparts must be an int >= 1, got {nparts!r}")
    i = np.arange(nparts, dtype=np.int64)
    return i if nparts <= machine.n_devices else i * machine.n_devices // nparts


def host_volumes(traffic: ArrayLike, device_of_part: ArrayLike,
                 machine: Machine) -> tuple[float, float]:
    """Traffic between hosts and inside hosts for a placement.

    Parameters
    ----------
    traffic : array_like
        ``nparts x nparts`` traffic matrix.
    device_of_part : array_like of int
        Device of every part.
    machine : Machine

    Returns
    -------
    inter_host : float
        Summed ``traffic[p, q]`` over part pairs on different hosts.
    intra_host : float
        Summed ``traffic[p, q]``, ``p != q``, over pairs on the same host
        (including pairs that share a device).
    """
    t = _check_traffic(traffic)
    d = _check_device_of_part(device_of_part, t.shape[0], machine)
    host = d // machine.devices_per_host
    same = host[:, None] == host[None, :]
    off_diagonal = t - np.diag(np.diag(t))
    return float(off_diagonal[~same].sum()), float(off_diagonal[same].sum())
