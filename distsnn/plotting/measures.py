"""What the run pictures show, computed from a :class:`~distsnn.results.Result` with numpy
only (no matplotlib), so the numbers can be checked and reused on their own.

Time bins follow the engine's convention: a spike at step ``n`` was emitted by the update
from ``n - 1`` to ``n``, so a bin of ``b`` steps numbered ``k`` holds the spikes of steps
``k b + 1 .. (k + 1) b``, i.e. emitted in the interval ``(k b dt, (k + 1) b dt]``.
"""

from __future__ import annotations

import math

import numpy as np

from ..results import Result, Spikes

#: Bin widths (ms) the automatic rate bin is chosen from, times powers of ten.
_NICE = (1.0, 2.0, 5.0)
#: The automatic rate bin aims at no more than this many bins.
TARGET_BINS = 200


def populations(result: Result) -> dict[str, tuple[int, int]]:
    """``name -> (first gid, size)``; a result that does not know its populations is one
    population ``"all"`` spanning gids 0 .. the largest gid recorded."""
    if result.populations:
        return dict(result.populations)
    top = [int(result.spikes.gid.max()) + 1] if len(result.spikes) else [0]
    top += [int(tr.gids.max()) + 1 for tr in result.traces.values() if tr.gids.size]
    return {"all": (0, max(top))}


def spikes_of(result: Result, name: str) -> Spikes:
    lo, n = populations(result)[name]
    return result.spikes.of(lo, lo + n)


def select(result: Result, names: list[str] | None) -> list[str]:
    """The populations named (checked), or by default those with at least one spike."""
    pops = populations(result)
    if names is None:
        # One pass over the spikes: populations tile the gids, so the first gids bracket them.
        order = sorted(pops, key=lambda p: pops[p][0])
        firsts = np.array([pops[p][0] for p in order], dtype=np.int64)
        counts = np.bincount(np.searchsorted(firsts, result.spikes.gid, side="right") - 1,
                             minlength=len(order))
        active = {p for p, c in zip(order, counts) if c}
        return [p for p in pops if p in active] or list(pops)
    for p in names:
        if p not in pops:
            raise ValueError(f"plotting: no population {p!r} in this result; populations: {list(pops)}")
    return list(names)


def dt_of(result: Result) -> float | None:
    """The time step (ms): from the summary, else from a spike's time and step."""
    for key in ("dt", "dt_ms"):
        if key in result.summary:
            return float(result.summary[key])
    nz = np.flatnonzero(result.spikes.step)
    if nz.size:
        i = nz[0]
        return float(result.spikes.time[i] / result.spikes.step[i])
    for tr in result.traces.values():
        nz = np.flatnonzero(tr.steps)
        if nz.size:
            return float(tr.time[nz[0]] / tr.steps[nz[0]])
    return None


def t_stop_of(result: Result) -> float:
    """The simulated time (ms): from the summary, else the last spike or sample."""
    if "t_sim_ms" in result.summary:
        return float(result.summary["t_sim_ms"])
    ends = [float(result.spikes.time.max())] if len(result.spikes) else [0.0]
    ends += [float(tr.time[-1]) for tr in result.traces.values() if tr.time.size]
    return max(ends)


def raster_stride(sizes: list[int], n_spikes: int, max_neurons: int, max_spikes: int) -> int:
    """Every how many neurons a raster keeps: ``k = max(1, ceil(N / max_neurons),
    ceil(S / max_spikes))`` for ``N`` neurons in all shown populations and ``S`` spikes
    in the window. Whole spike trains are kept (every ``k``-th neuron of each population,
    from its first), so the picture thins out evenly without changing any train, every
    population keeps its share, and the choice does not depend on ranks or partition."""
    if max_neurons < 1 or max_spikes < 1:
        raise ValueError(f"raster: max_neurons and max_spikes must be >= 1, got {max_neurons}, {max_spikes}")
    return max(1, math.ceil(sum(sizes) / max_neurons), math.ceil(n_spikes / max_spikes))


def auto_bin(t_stop: float, dt: float) -> float:
    """The smallest 1-2-5 bin (ms), at least one step, giving at most :data:`TARGET_BINS` bins."""
    want = max(dt, t_stop / TARGET_BINS)
    exp = math.floor(math.log10(want))
    for e in (exp, exp + 1):
        for m in _NICE:
            if m * 10.0 ** e >= want * (1 - 1e-12):
                return m * 10.0 ** e
    return 10.0 ** (exp + 1)


def binned_rate(spikes: Spikes, size: int, bin_steps: int, dt: float, t_stop: float) -> tuple[np.ndarray, np.ndarray]:
    """Population rate of ``size`` neurons in bins of ``bin_steps`` steps.

    Returns
    -------
    edges : ndarray, ms (``n_bins + 1``; a last bin cut short by the end of the run
        ends at ``t_stop``)
    rate : ndarray, Hz (spikes per neuron per second in each bin, over the bin's width)
    """
    end = int(round(t_stop / dt))
    n_bins = max(1, math.ceil(end / bin_steps))
    k = (spikes.step - 1) // bin_steps
    k = k[(k >= 0) & (k < n_bins)]
    counts = np.bincount(k, minlength=n_bins)
    return _per_neuron(np.arange(n_bins + 1) * bin_steps * dt, counts, size, t_stop)


def _per_neuron(edges: np.ndarray, counts: np.ndarray, size: int, t_stop: float) -> tuple[np.ndarray, np.ndarray]:
    """Counts per bin -> Hz per neuron; a last bin reaching past ``t_stop`` is cut there,
    since it only counted the simulated part."""
    edges = np.asarray(edges, dtype=np.float64).copy()
    if edges.size >= 2 and edges[-2] < t_stop < edges[-1]:
        edges[-1] = t_stop
    width_s = np.diff(edges) * 1e-3
    return edges, np.asarray(counts, dtype=np.float64) / (max(size, 1) * width_s)


def population_rates(result: Result, bin_ms: float | None = None,
                     names: list[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Rate of each population over time: ``name -> (edges in ms, rate in Hz)``.

    A population the run's rate monitor counted (``result.rates[name]``: ``counts`` in
    bins of ``bin_ms`` from ``t_start`` over ``size`` neurons) is taken from it as
    recorded; the others are binned from their spikes, in bins of ``bin_ms`` (rounded to
    whole steps; default :func:`auto_bin`).
    """
    pops = populations(result)
    monitored = dict(getattr(result, "rates", None) or {})
    if names is None:
        names = list(dict.fromkeys([p for p in monitored if p in pops] + select(result, None)))
    else:
        names = select(result, names)
    dt = dt_of(result)
    t_stop = t_stop_of(result)
    if bin_ms is not None and not (isinstance(bin_ms, (int, float)) and math.isfinite(bin_ms) and bin_ms > 0):
        raise ValueError(f"rates: bin_ms must be a finite number > 0 ms, got {bin_ms!r}")
    out = {}
    for name in names:
        size = pops[name][1]
        if name in monitored:
            mon = monitored[name]
            counts = np.asarray(mon.counts).reshape(-1)
            start = float(getattr(mon, "t_start", 0.0) or 0.0)
            edges = start + np.arange(counts.size + 1) * float(mon.bin_ms)
            out[name] = _per_neuron(edges, counts, int(getattr(mon, "size", size)), t_stop)
            continue
        step_ms = dt if dt is not None else 1.0
        width = auto_bin(t_stop, step_ms) if bin_ms is None else bin_ms
        out[name] = binned_rate(spikes_of(result, name), size, max(1, int(round(width / step_ms))),
                                step_ms, t_stop)
    return out


def _trains(spikes: Spikes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spikes sorted by gid then step; ``same[i]`` is true when spike ``i + 1`` follows
    spike ``i`` in the same train."""
    if np.all(spikes.step[1:] >= spikes.step[:-1]):
        # Already in step order (as every Result keeps them): one stable sort by gid suffices.
        order = np.argsort(spikes.gid, kind="stable")
    else:
        order = np.lexsort((spikes.step, spikes.gid))
    g, st = spikes.gid[order], spikes.step[order]
    return g, st, g[1:] == g[:-1]


def interspike_intervals(result: Result, names: list[str] | None = None) -> np.ndarray:
    """Every inter-spike interval (ms) of every neuron of the populations, pooled."""
    dt = dt_of(result) or 0.0
    parts = []
    for name in select(result, names):
        _, st, same = _trains(spikes_of(result, name))
        parts.append(np.diff(st)[same] * dt)
    return np.concatenate(parts) if parts else np.zeros(0)


def cv_per_neuron(result: Result, names: list[str] | None = None) -> np.ndarray:
    """Coefficient of variation (std / mean, population std) of the inter-spike
    intervals of each neuron with at least two spikes, in gid order; the rule of
    :meth:`Result.isi_cv`, whose value is the mean of these."""
    out = []
    for name in select(result, names):
        g, st, same = _trains(spikes_of(result, name))
        isi, owner = np.diff(st)[same].astype(np.float64), g[1:][same]
        if isi.size == 0:
            continue
        # ``owner`` is sorted: each neuron's intervals are one run.
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        cnt = np.diff(np.r_[starts, owner.size])
        mean = np.add.reduceat(isi, starts) / cnt
        var = np.add.reduceat((isi - np.repeat(mean, cnt)) ** 2, starts) / cnt
        out.append(np.sqrt(var) / mean)
    return np.concatenate(out) if out else np.zeros(0)


def traffic_matrix(result: Result) -> tuple[np.ndarray | None, str]:
    """Spike records sent from rank ``i`` (rows) to rank ``j`` (columns), from each rank's
    ``sent_to`` list in ``summary["per_rank"]``; ``(None, why)`` when there is none."""
    per_rank = result.summary.get("per_rank") or []
    if len(per_rank) < 2:
        return None, f"the run used {max(len(per_rank), 1)} rank: no traffic between ranks"
    if not all("sent_to" in r for r in per_rank):
        return None, "this run's summary holds no per-destination counts (per_rank[...]['sent_to'])"
    n = len(per_rank)
    m = np.zeros((n, n))
    for r in per_rank:
        row = np.asarray(r["sent_to"], dtype=np.float64)
        if row.shape != (n,):
            return None, f"rank {r.get('rank')}: sent_to has {row.size} entries for {n} ranks"
        m[int(r.get("rank", 0))] = row
    return m, ""


__all__ = ["populations", "select", "dt_of", "t_stop_of", "raster_stride", "auto_bin", "binned_rate",
           "population_rates", "interspike_intervals", "cv_per_neuron", "traffic_matrix", "TARGET_BINS"]
