"""Pictures of partitions: the traffic between parts, part loads, partition studies.

Each ``save_*`` function writes a PNG and returns nothing.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .canvas import figure as _figure


def partition_figure(traffic: np.ndarray, loads: np.ndarray, title: str = "",
                     device_of_part: np.ndarray | None = None, devices_per_host: int | None = None):
    """The traffic matrix (heatmap) and the load of every part (bars), side by side.

    Parameters
    ----------
    traffic : numpy.ndarray
        ``P x P`` spikes per second from part ``p`` (rows) to part ``q`` (columns).
    loads : numpy.ndarray
        Load of every part, ns of compute per simulated second (shown in ms).
    title : str
    device_of_part, devices_per_host : optional
        A placement: parts are then ordered by device, labelled ``part@device``, and red
        lines separate the hosts, so traffic kept inside hosts shows as diagonal blocks.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import LogNorm

    traffic = np.asarray(traffic, dtype=np.float64)
    loads = np.asarray(loads, dtype=np.float64)
    n = traffic.shape[0]
    order = np.arange(n)
    labels = [str(p) for p in order]
    if device_of_part is not None:
        device = np.asarray(device_of_part)
        order = np.argsort(device, kind="stable")
        labels = [f"{p}@{device[p]}" for p in order]
    t = traffic[np.ix_(order, order)]
    fig = _figure(11.0, 4.8)
    ax_t, ax_l = fig.subplots(1, 2, width_ratios=[1.1, 1.0])
    positive = t[t > 0]
    if positive.size:
        shown = np.ma.masked_less_equal(t, 0.0)
        im = ax_t.imshow(shown, cmap="viridis", norm=LogNorm(positive.min(), positive.max()),
                         interpolation="nearest")
        fig.colorbar(im, ax=ax_t, label="spikes / s")
    else:
        ax_t.imshow(np.zeros_like(t), cmap="Greys", vmin=0, vmax=1)
        ax_t.text(0.5, 0.5, "no traffic", transform=ax_t.transAxes, ha="center")
    ax_t.set_xlabel("receiving part")
    ax_t.set_ylabel("sending part")
    ax_t.set_title("traffic between parts")
    step = max(1, n // 16)
    ticks = np.arange(0, n, step)
    ax_t.set_xticks(ticks, [labels[i] for i in ticks], rotation=90)
    ax_t.set_yticks(ticks, [labels[i] for i in ticks])
    if device_of_part is not None and devices_per_host:
        host = np.asarray(device_of_part)[order] // devices_per_host
        for b in np.flatnonzero(np.diff(host)) + 0.5:
            ax_t.axhline(b, color="tab:red", lw=1.2)
            ax_t.axvline(b, color="tab:red", lw=1.2)
    ms = loads[order] / 1e6
    ax_l.bar(np.arange(n), ms, color="tab:blue")
    ax_l.axhline(ms.mean(), color="tab:red", lw=1.0)
    ax_l.set_xticks(ticks, [labels[i] for i in ticks], rotation=90)
    ax_l.set_xlabel("part")
    ax_l.set_ylabel("compute per simulated second (ms)")
    ax_l.set_title(f"part loads (red: mean; max/mean {loads.max() / loads.mean():.3f})")
    if title:
        fig.suptitle(title)
    return fig


def save_partition_figure(path: str, traffic: np.ndarray, loads: np.ndarray, title: str = "",
                          device_of_part: np.ndarray | None = None,
                          devices_per_host: int | None = None) -> None:
    """Write :func:`partition_figure` to ``path`` (PNG)."""
    partition_figure(traffic, loads, title, device_of_part, devices_per_host).savefig(path, dpi=90)


def study_figure(rows: Sequence[Mapping], measures: Sequence[tuple[str, str, bool]]):
    """Measures of a partition study against the number of parts: one column per network,
    one row per measure, one line per method.

    Parameters
    ----------
    rows : sequence of mappings
        Each with ``network``, ``method``, ``parts`` and the measures' keys.
    measures : sequence of (key, axis label, log scale)

    Returns
    -------
    matplotlib.figure.Figure
    """
    networks = list(dict.fromkeys(r["network"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig = _figure(4.0 * len(networks), 2.6 * len(measures))
    axes = np.asarray(fig.subplots(len(measures), len(networks), sharex=True, squeeze=False))
    for j, net in enumerate(networks):
        for i, (key, label, log) in enumerate(measures):
            ax = axes[i, j]
            for m in methods:
                pts = sorted((r["parts"], r[key]) for r in rows
                             if r["network"] == net and r["method"] == m and r[key] is not None)
                if pts:
                    x, y = zip(*pts)
                    ax.plot(x, y, marker="o", ms=3, label=m)
            ax.set_xscale("log", base=2)
            if log:
                ax.set_yscale("log")
            if i == 0:
                ax.set_title(net)
            if j == 0:
                ax.set_ylabel(label)
            if i == len(measures) - 1:
                ax.set_xlabel("parts")
    axes[0, 0].legend(fontsize=7)
    return fig


def save_study_figure(path: str, rows: Sequence[Mapping], measures: Sequence[tuple[str, str, bool]]) -> None:
    """Write :func:`study_figure` to ``path`` (PNG)."""
    study_figure(rows, measures).savefig(path, dpi=80)


__all__ = ["partition_figure", "save_partition_figure", "study_figure", "save_study_figure"]
