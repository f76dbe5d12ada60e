"""Run output: streaming per-rank HDF5 files (SONATA layout), the master file, the reader.

- :mod:`~distsnn.io.rundir`: the output directory (checks, lock, identity, file names);
- :mod:`~distsnn.io.writer`: each rank's streaming file;
- :mod:`~distsnn.io.master`: ``run.h5`` with virtual datasets, reports, time-sorted spikes;
- :mod:`~distsnn.io.reader`: :func:`load` and :func:`inspect`.
"""

from .master import write_sorted
from .reader import inspect, load

__all__ = ["load", "inspect", "write_sorted"]
