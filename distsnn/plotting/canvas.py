"""Figures on the Agg canvas, without pyplot.

matplotlib (the ``plot`` extra) is imported only when a figure is made, and figures are
attached to their own Agg canvas rather than created by pyplot, so nothing in
:mod:`distsnn.plotting` touches the global backend, opens a window or needs a display.
"""

from __future__ import annotations


def figure(width: float, height: float):
    """A new ``matplotlib.figure.Figure`` of ``width`` x ``height`` inches on an Agg canvas."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("distsnn.plotting needs matplotlib: pip install 'distsnn[plot]'") from e

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def axes(ax, width: float, height: float):
    """``ax`` if given, else the single Axes of a new figure."""
    return ax if ax is not None else figure(width, height).subplots()
