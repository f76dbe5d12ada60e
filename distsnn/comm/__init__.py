"""Communicators: the only place that knows how ranks talk.

The engine talks to a :class:`~distsnn.comm.base.Comm`. :class:`LocalComm` runs
everything in one process; :class:`~distsnn.comm.mpi.MPIComm` (the only module that
imports mpi4py) runs over MPI. :func:`world` picks one: MPI when the process was
started by an MPI launcher, the local communicator otherwise, so a plain
``distsnn run`` never needs MPI installed.
"""

from __future__ import annotations

import os

from .base import Comm
from .local import LocalComm

# Set by the launchers of MPICH/Hydra, Open MPI, PMIx-based and Slurm's PMI.
_LAUNCHER_VARS = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS",
                  "HYDRA_CONTROL_FD")


def launched_by_mpi() -> bool:
    return any(v in os.environ for v in _LAUNCHER_VARS)


def world() -> Comm:
    """The communicator of this process: MPI under an MPI launcher, else local."""
    if launched_by_mpi():
        from .mpi import MPIComm

        return MPIComm()
    return LocalComm()


__all__ = ["Comm", "LocalComm", "world", "launched_by_mpi"]
