"""A run as a Neo ``Segment``, for Elephant, PyNN-based tools and Neo's file formats.

Neo is optional (``pip install 'distsnn[neo]'``); it is imported only when
:func:`to_neo` is called. The layout follows what PyNN's ``Population.get_data()`` puts in
a segment:

- one ``SpikeTrain`` per neuron of the chosen populations, silent neurons included (an
  empty train), built with Neo's constructor for (id, time) arrays
  (``SpikeTrainList.from_spike_time_array``), in ms from 0 to the simulated time, each
  annotated with PyNN's ``source_population`` (name), ``source_id`` (gid) and
  ``source_index`` (index within the population);
- one ``AnalogSignal`` per recorded (population, variable), ``[time x neurons]`` in the
  variable's unit (:func:`distsnn.units.unit_of`), named after the variable, annotated with
  ``source_population`` and ``source_ids`` (gids) and the array annotation
  ``channel_index`` (indices within the population). A trace sampled at uneven times
  becomes an ``IrregularlySampledSignal`` instead.

The segment's annotations carry the run's summary figures that are plain numbers.
"""

from __future__ import annotations

import numpy as np

from ..results import Result
from ..units import unit_of


def _neo():
    try:
        import neo
        import quantities as pq
    except ImportError as e:
        raise ImportError("Result.to_neo needs the optional 'neo' package: pip install 'distsnn[neo]' "
                          "(or pip install neo)") from e
    return neo, pq


def _units(pq, variable: str):
    unit = unit_of(variable)
    return {"mV": pq.mV, "pA": pq.pA, "nS": pq.nS, "mV/ms": pq.mV / pq.ms}.get(unit, pq.dimensionless)


def to_neo(result: Result, populations: list[str] | None = None, gids=None):
    """The result as one ``neo.Segment``.

    Parameters
    ----------
    result : Result
        Needs ``result.populations`` (every result of :func:`distsnn.simulate` and
        :func:`distsnn.load` has it).
    populations : list of str, optional
        Whose spike trains to include (every neuron of each). Default: the populations
        with at least one recorded spike; name a silent population explicitly to get its
        empty trains.
    gids : array-like of int, optional
        Instead of whole populations, the trains of exactly these neurons (e.g. those a
        spike monitor recorded when it kept a subset), so silent neurons that were not
        recorded do not count as silent; in gid order.

    Returns
    -------
    neo.Segment
    """
    if not result.populations:
        raise ValueError("to_neo: this result does not know its populations (result.populations is empty)")
    if populations is not None and gids is not None:
        raise ValueError("to_neo: give populations or gids, not both")
    groups = _groups(result, populations, gids)
    neo, pq = _neo()
    t_stop = float(result.summary.get("t_sim_ms", result.spikes.time.max() if len(result.spikes) else 0.0))
    seg = neo.Segment(name="distsnn run", description="spikes and sampled state of a distsnn run")
    seg.annotate(**{k: v for k, v in result.summary.items()
                    if isinstance(v, (int, float, str)) and not isinstance(v, bool)})

    ids, names, index = [], [], []
    times, owners = [], []
    for p, lo, members in groups:
        ids.append(members)
        names += [p] * members.size
        index.append(members - lo)
        s = result.spikes_of(p)
        keep = np.isin(s.gid, members)
        times.append(s.time[keep])
        owners.append(s.gid[keep])
    ids_all = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    trains = neo.core.spiketrainlist.SpikeTrainList.from_spike_time_array(
        np.concatenate(times) if times else np.zeros(0), np.concatenate(owners) if owners else np.zeros(0, np.int64),
        ids_all, t_stop=t_stop, units="ms", t_start=0.0, source_population=names,
        source_id=[int(i) for i in ids_all],
        source_index=[int(i) for i in (np.concatenate(index) if index else [])])
    seg.spiketrains = trains
    trains.segment = seg

    for (pop, var), tr in sorted(result.traces.items()):
        first = result.populations[pop][0] if pop in result.populations else 0
        gids = np.asarray(tr.gids, dtype=np.int64)
        common = dict(units=_units(pq, var), name=var, source_population=pop, source_ids=gids,
                      array_annotations={"channel_index": gids - first})
        values = np.asarray(tr.values, dtype=np.float64).reshape(tr.time.size, gids.size)
        gaps = np.diff(tr.steps)
        if tr.time.size >= 2 and np.all(gaps == gaps[0]):
            # Over the whole span, so one rounding of step * dt does not skew every sample time.
            period = float(tr.time[-1] - tr.time[0]) / (tr.time.size - 1)
            sig = neo.AnalogSignal(values, t_start=float(tr.time[0]) * pq.ms,
                                   sampling_period=period * pq.ms, **common)
            seg.analogsignals.append(sig)
        else:
            sig = neo.IrregularlySampledSignal(tr.time, values, time_units=pq.ms, **common)
            seg.irregularlysampledsignals.append(sig)
        sig.segment = seg
    return seg


def _groups(result: Result, populations: list[str] | None, gids) -> list[tuple[str, int, np.ndarray]]:
    """(population, first gid, member gids) for each population with trains to build."""
    pops = result.populations
    if gids is not None:
        wanted = np.unique(np.asarray(gids, dtype=np.int64).reshape(-1))
        out, covered = [], 0
        for p, (lo, n) in pops.items():
            members = wanted[(wanted >= lo) & (wanted < lo + n)]
            covered += members.size
            if members.size:
                out.append((p, lo, members))
        if covered != wanted.size:
            total = sum(n for _, n in pops.values())
            raise ValueError(f"to_neo: gids must lie in [0, {total - 1}] (the network's neurons), got "
                             f"{wanted[(wanted < 0) | (wanted >= total)][:5].tolist()}")
        return out
    if populations is None:
        populations = [p for p in pops if len(result.spikes_of(p))]
    for p in populations:
        if p not in pops:
            raise ValueError(f"to_neo: no population {p!r} in this result; populations: {list(pops)}")
    return [(p, pops[p][0], np.arange(pops[p][0], pops[p][0] + pops[p][1], dtype=np.int64)) for p in populations]


__all__ = ["to_neo"]
