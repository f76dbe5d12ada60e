"""Reading and writing run output (per-rank HDF5 files and their merged view)."""

from .hdf5 import load, write_rank, write_run

__all__ = ["load", "write_rank", "write_run"]
