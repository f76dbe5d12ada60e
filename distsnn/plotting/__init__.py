"""Pictures of runs and of partitions (matplotlib, the ``plot`` extra, on the Agg canvas).

- Runs (:mod:`.run`, numbers in :mod:`.measures`): :func:`raster`, :func:`rates`,
  :func:`traces`, :func:`isi_histogram`, :func:`cv_histogram`, :func:`traffic`, each
  taking a :class:`~distsnn.results.Result` and an optional Axes; :func:`save_run_plots`
  writes them all (``distsnn plot RUN_DIR``).
- Partitions (:mod:`.partition`): :func:`partition_figure`, :func:`study_figure` and their
  ``save_*`` forms.

Nothing here uses pyplot or needs a display (:mod:`.canvas`).
"""

from . import measures
from .partition import partition_figure, save_partition_figure, save_study_figure, study_figure
from .run import (RunPlots, colour, cv_histogram, isi_histogram, raster, rates, save_run_plots, traces,
                  traffic)

__all__ = ["measures", "raster", "rates", "traces", "isi_histogram", "cv_histogram", "traffic", "colour",
           "save_run_plots", "RunPlots", "partition_figure", "save_partition_figure", "study_figure",
           "save_study_figure"]
