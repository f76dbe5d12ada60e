"""Pictures of a run: spike raster, population rates, membrane traces, ISI and CV
histograms, and the traffic between ranks.

Each function takes a :class:`~distsnn.results.Result` and an optional matplotlib
``Axes`` (as NEST's ``raster_plot`` and Brian2's ``brian2tools`` helpers do), draws into
it, or into a new figure when none is given, and returns the Axes (``ax.figure`` is its
figure). Populations keep one colour everywhere (matplotlib's ``C0``, ``C1``, ... in the
network's order). :func:`save_run_plots` writes them all as PNGs, as ``distsnn plot``
does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..results import Result
from ..units import unit_of
from . import measures
from .canvas import axes as _axes
from .canvas import figure as _figure


def colour(result: Result, population: str) -> str:
    """The colour of a population in every picture of a run."""
    return f"C{list(measures.populations(result)).index(population) % 10}"


def raster(result: Result, ax=None, populations: list[str] | None = None, t_start: float | None = None,
           t_stop: float | None = None, max_neurons: int = 1000, max_spikes: int = 100_000):
    """Spike raster: one dot per spike at (time in ms, gid), coloured by population.

    Large runs are thinned to every ``k``-th neuron of each population (whole trains
    kept), ``k = max(1, ceil(N / max_neurons), ceil(S / max_spikes))`` for ``N`` neurons
    shown and ``S`` spikes in the window (:func:`measures.raster_stride`); the title says
    ``k`` when it is above 1 ("1 neuron in k shown").

    Parameters
    ----------
    result : Result
    ax : matplotlib.axes.Axes, optional
    populations : list of str, optional
        Default: the populations with at least one spike.
    t_start, t_stop : float, optional
        Time window, ms (default: the whole run).
    max_neurons, max_spikes : int
        Bounds of the thinning rule above.

    Returns
    -------
    matplotlib.axes.Axes
        With one scatter collection per population, labelled with its name.
    """
    ax = _axes(ax, 8.0, 4.5)
    names = measures.select(result, populations)
    pops = measures.populations(result)
    lo_t = 0.0 if t_start is None else float(t_start)
    hi_t = measures.t_stop_of(result) if t_stop is None else float(t_stop)
    shown = {}
    for name in names:
        s = measures.spikes_of(result, name)
        keep = (s.time >= lo_t) & (s.time <= hi_t)
        shown[name] = (s.time[keep], s.gid[keep])
    k = measures.raster_stride([pops[n][1] for n in names], sum(t.size for t, _ in shown.values()),
                               max_neurons, max_spikes)
    total = sum(((g - pops[n][0]) % k == 0).sum() for n, (_, g) in shown.items())
    size = float(np.clip(20000.0 / max(total, 1), 1.0, 10.0))
    for name, (t, g) in shown.items():
        keep = (g - pops[name][0]) % k == 0
        ax.scatter(t[keep], g[keep], s=size, marker="o", linewidths=0, color=colour(result, name),
                   label=name, rasterized=True)
    ax.set_xlim(lo_t, hi_t)
    lo_g = min(pops[n][0] for n in names)
    ax.set_ylim(lo_g - 0.5, max(pops[n][0] + pops[n][1] for n in names) - 0.5)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron (gid)")
    ax.set_title("spikes" + (f" (1 neuron in {k} shown)" if k > 1 else ""))
    if len(names) > 1:
        ax.legend(loc="upper right", markerscale=max(1.0, 16.0 / size) ** 0.5, fontsize=8)
    return ax


def _window(ax, result: Result, t_start: float | None, t_stop: float | None) -> None:
    if t_start is not None or t_stop is not None:
        ax.set_xlim(0.0 if t_start is None else t_start,
                    measures.t_stop_of(result) if t_stop is None else t_stop)


def rates(result: Result, ax=None, populations: list[str] | None = None, bin_ms: float | None = None,
          t_start: float | None = None, t_stop: float | None = None):
    """Population rates over time (Hz), one step line per population.

    Taken from the run's rate monitor where it counted the population
    (``result.rates``), else binned from the spikes in bins of ``bin_ms`` (rounded to
    whole steps; default: a 1-2-5 width giving at most 200 bins), see
    :func:`measures.population_rates`. ``t_start``, ``t_stop`` (ms) limit the time axis.

    Returns
    -------
    matplotlib.axes.Axes
        With one ``StepPatch`` (``ax.stairs``) per population, labelled with its name.
    """
    ax = _axes(ax, 8.0, 3.0)
    series = measures.population_rates(result, bin_ms, populations)
    for name, (edges, rate) in series.items():
        ax.stairs(rate, edges, baseline=None, color=colour(result, name), label=name, linewidth=1.0)
    ax.set_ylim(bottom=0.0)
    _window(ax, result, t_start, t_stop)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("rate (Hz)")
    if series:
        widths = sorted({f"{e[1] - e[0]:g} ms" for e, _ in series.values()})
        ax.set_title(f"population rates (bins of {', '.join(widths)})")
        ax.legend(loc="upper right", fontsize=8)
    return ax


def traces(result: Result, ax=None, population: str | None = None, variable: str | None = None,
           max_neurons: int = 10, t_start: float | None = None, t_stop: float | None = None):
    """Sampled state of some neurons over time, one line per neuron (labelled by gid).

    Parameters
    ----------
    population, variable : str, optional
        Which trace (default: the first recorded).
    max_neurons : int
        At most this many neurons (the first in gid order).
    t_start, t_stop : float, optional
        Limits of the time axis, ms.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not result.traces:
        raise ValueError("traces: this result holds no sampled state (add a state monitor)")
    keys = [k for k in result.traces if (population is None or k[0] == population)
            and (variable is None or k[1] == variable)]
    if not keys:
        raise ValueError(f"traces: nothing recorded for population={population!r}, variable={variable!r}; "
                         f"recorded: {sorted(result.traces)}")
    tr = result.traces[keys[0]]
    ax = _axes(ax, 8.0, 3.0)
    n = min(max_neurons, tr.gids.size)
    for j in range(n):
        ax.plot(tr.time, tr.values[:, j], linewidth=0.8, label=f"gid {tr.gids[j]}")
    _window(ax, result, t_start, t_stop)
    unit = unit_of(tr.variable)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"{tr.variable} ({unit})" if unit else tr.variable)
    ax.set_title(f"{tr.population}: {tr.variable}" + (f" ({n} of {tr.gids.size} neurons)" if n < tr.gids.size else ""))
    if 1 < n <= 10:
        ax.legend(loc="upper right", fontsize=7)
    return ax


def isi_histogram(result: Result, ax=None, populations: list[str] | None = None, bins: int = 50,
                  max_isi_ms: float | None = None):
    """Histogram of the inter-spike intervals (ms) pooled over the populations' neurons,
    up to ``max_isi_ms`` (default: the longest interval).

    Returns
    -------
    matplotlib.axes.Axes
        Its bars are ``numpy.histogram(isi, bins, (0, max_isi_ms))``.
    """
    ax = _axes(ax, 4.5, 3.0)
    isi = measures.interspike_intervals(result, populations)
    top = float(max_isi_ms) if max_isi_ms is not None else (float(isi.max()) if isi.size else 1.0)
    ax.hist(isi, bins=bins, range=(0.0, top), color="0.35")
    ax.set_xlabel("inter-spike interval (ms)")
    ax.set_ylabel("intervals")
    ax.set_title(f"ISI ({isi.size} intervals)")
    return ax


def cv_histogram(result: Result, ax=None, populations: list[str] | None = None, bins: int = 30):
    """Histogram of each neuron's ISI coefficient of variation (neurons with >= 2 spikes);
    the red line is their mean, :meth:`Result.isi_cv` for all populations.

    Returns
    -------
    matplotlib.axes.Axes
        Its bars are ``numpy.histogram(cv, bins, (0, max(cv)))``.
    """
    ax = _axes(ax, 4.5, 3.0)
    cv = measures.cv_per_neuron(result, populations)
    top = float(cv.max()) if cv.size and cv.max() > 0 else 1.0
    ax.hist(cv, bins=bins, range=(0.0, top), color="0.35")
    if cv.size:
        ax.axvline(float(cv.mean()), color="tab:red", linewidth=1.2)
    ax.set_xlabel("CV of ISI")
    ax.set_ylabel("neurons")
    ax.set_title(f"CV ({cv.size} neurons, mean {cv.mean():.3f})" if cv.size else "CV (no neuron with 2 spikes)")
    return ax


def traffic(result: Result, ax=None):
    """Spike records sent between ranks (heatmap, rows send, columns receive, numbers in
    the cells up to 16 ranks); a one-rank run or a summary without per-destination
    counts gets a note saying so instead.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax, 5.0, 4.2)
    m, why = measures.traffic_matrix(result)
    ax.set_title("spike records sent between ranks")
    if m is None:
        ax.text(0.5, 0.5, why, transform=ax.transAxes, ha="center", va="center", wrap=True)
        ax.set_axis_off()
        return ax
    im = ax.imshow(m, cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label="spike records")
    n = m.shape[0]
    if n <= 16:
        top = m.max() if m.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=7,
                        color="black" if m[i, j] > 0.6 * top else "white")
    step = max(1, n // 16)
    ax.set_xticks(np.arange(0, n, step))
    ax.set_yticks(np.arange(0, n, step))
    ax.set_xlabel("receiving rank")
    ax.set_ylabel("sending rank")
    return ax


#: ``traces.png`` shows at most this many (population, variable) panels.
MAX_TRACE_PANELS = 8


@dataclass
class RunPlots:
    """What :func:`save_run_plots` wrote (``name -> path``) and skipped (``name -> why``)."""

    written: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def save_run_plots(result: Result, out_dir: str, dpi: int = 100, max_neurons: int = 1000,
                   bin_ms: float | None = None, t_start: float | None = None,
                   t_stop: float | None = None) -> RunPlots:
    """Write ``raster.png``, ``rates.png``, ``traces.png`` (the first
    :data:`MAX_TRACE_PANELS` traces by name), ``isi_cv.png`` and ``traffic.png`` into
    ``out_dir`` (created if needed); a picture with nothing to show (no spikes, no
    traces, one rank) is skipped with the reason. ``t_start``, ``t_stop`` (ms) limit the
    raster to a window and the time axes of rates and traces to it; ISI and CV use the
    whole run."""
    os.makedirs(out_dir, exist_ok=True)
    done = RunPlots()

    def save(name: str, fig) -> None:
        path = os.path.join(out_dir, f"{name}.png")
        fig.savefig(path, dpi=dpi)
        done.written[name] = path

    if len(result.spikes):
        save("raster", raster(result, max_neurons=max_neurons, t_start=t_start, t_stop=t_stop).figure)
        save("rates", rates(result, bin_ms=bin_ms, t_start=t_start, t_stop=t_stop).figure)
        fig = _figure(9.0, 3.2)
        a, b = fig.subplots(1, 2)
        isi_histogram(result, a)
        cv_histogram(result, b)
        save("isi_cv", fig)
    else:
        for name in ("raster", "rates", "isi_cv"):
            done.skipped[name] = "no spikes recorded"
    if result.traces:
        keys = sorted(result.traces)[:MAX_TRACE_PANELS]
        fig = _figure(8.0, 2.4 * len(keys))
        for ax, (pop, var) in zip(np.atleast_1d(fig.subplots(len(keys), 1, sharex=True)), keys):
            traces(result, ax, pop, var, t_start=t_start, t_stop=t_stop)
        save("traces", fig)
    else:
        done.skipped["traces"] = "no sampled state recorded"
    m, why = measures.traffic_matrix(result)
    if m is None:
        done.skipped["traffic"] = why
    else:
        save("traffic", traffic(result).figure)
    return done


__all__ = ["raster", "rates", "traces", "isi_histogram", "cv_histogram", "traffic", "colour",
           "save_run_plots", "RunPlots"]
