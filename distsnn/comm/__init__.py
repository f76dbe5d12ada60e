"""Communicators: the only place that knows how ranks talk.

The engine talks to a :class:`~distsnn.comm.base.Comm`. :class:`LocalComm` runs
everything in one process; an MPI communicator (the only module that will import
mpi4py) implements the same interface.
"""

from .base import Comm
from .local import LocalComm

__all__ = ["Comm", "LocalComm"]
