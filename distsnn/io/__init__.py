"""Run output: streaming per-rank HDF5 files (SONATA layout), the master file, the reader.

- :mod:`~distsnn.io.rundir`: the output directory (checks, lock, identity, file names);
- :mod:`~distsnn.io.writer`: each rank's streaming file;
- :mod:`~distsnn.io.master`: ``run.h5`` with virtual datasets, the frame reports;
- :mod:`~distsnn.io.sorting`: the time-sorted spike file, written by all ranks at once;
- :mod:`~distsnn.io.reader`: :func:`load` and :func:`inspect`.
"""

from .sorting import write_sorted
from .reader import inspect, load

__all__ = ["load", "inspect", "write_sorted"]
