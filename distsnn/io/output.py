"""A run's output from the engine's side: directory, rank files, master, clean-up.

The engine calls, in this order (every call collective unless noted):
:meth:`RunOutput.prepare` first, before any work (checks and locks ``out``);
:meth:`RunOutput.open` once the network is built (each rank creates its file);
:meth:`RunOutput.begin` / :meth:`RunOutput.finish` around each ``run`` (``finish``:
files closed, then rank 0 writes the master and the reports, then the optional sorted
file); :meth:`RunOutput.fail` (local) when a run raises: the records complete so far
are flushed, the file is marked incomplete, temporaries are removed and the lock is
released; :meth:`RunOutput.close` releases the lock at the end.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import weakref
import dataclasses
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from .. import config, monitors
from . import master, rundir, sorting
from .writer import COMPRESSION, RankWriter


@dataclass(frozen=True)
class OutputOptions:
    """How a run writes its files.

    Parameters
    ----------
    overwrite : bool
        Replace an earlier run's files in ``out`` (otherwise refused).
    flush_every : int
        Flush the buffer every this many epochs (>= 1).
    buffer_mb : float
        ... or as soon as it holds more than this many MiB (> 0).
    compression : str
        ``"none"``, ``"gzip"`` or ``"lzf"``.
    sort : bool
        Also write ``spikes_sorted.h5`` (time-sorted, :func:`distsnn.io.sorting.write_sorted`).
    collective_io : bool
        One shared file through MPI-IO; needs h5py built with MPI (refused otherwise).
    """

    overwrite: bool = False
    flush_every: int = monitors.FLUSH_EVERY
    buffer_mb: float = monitors.BUFFER_BYTES / 2**20
    compression: str = "none"
    sort: bool = False
    collective_io: bool = False

    def check(self) -> None:
        owner = "Output"
        if isinstance(self.flush_every, bool) or not isinstance(self.flush_every, int) or self.flush_every < 1:
            raise ValueError(f"{owner}: flush_every must be an integer >= 1 (epochs), got {self.flush_every!r}")
        if not (isinstance(self.buffer_mb, (int, float)) and np.isfinite(self.buffer_mb) and self.buffer_mb > 0):
            raise ValueError(f"{owner}: buffer_mb must be a number > 0 (MiB), got {self.buffer_mb!r}")
        if self.compression not in COMPRESSION:
            raise ValueError(f"{owner}: compression must be one of {', '.join(COMPRESSION)}, "
                             f"got {self.compression!r}")
        if self.collective_io:
            if not h5py.get_config().mpi:
                raise ValueError("Output: collective_io (--collective-io) needs h5py built with MPI "
                                 "(h5py.get_config().mpi is False in this environment); drop the option "
                                 "to write one file per rank, which every h5py reads")
            raise ValueError("Output: collective_io (--collective-io): writing one shared file through "
                             "MPI-IO is not available in this version; drop the option to write one file "
                             "per rank")


class RunOutput:
    """The output of one :class:`~distsnn.engine.Simulation` (see the module docstring)."""

    def __init__(self, net, comm, directory: rundir.RunDir, options: OutputOptions) -> None:
        self.net = net
        self.comm = comm
        self.dir = directory
        self.options = options
        self.writer: RankWriter | None = None
        self.path = rundir.rank_path(directory.path, comm.rank)
        self.command_line = " ".join(sys.argv)
        if comm.rank == 0:
            self._release = weakref.finalize(self, directory.release)

    @classmethod
    def prepare(cls, net, comm, out: str, options: OutputOptions | None = None) -> "RunOutput":
        options = OutputOptions() if options is None else options
        options.check()
        return cls(net, comm, rundir.prepare(out, comm, options.overwrite), options)

    def open(self, recorder: monitors.Recorder) -> None:
        """Create this rank's file (after a successful build)."""
        self.toml = config.dumps(self.net)
        offsets = self.net.offsets()
        pops = {n: [int(offsets[n]), int(p.size)] for n, p in self.net.populations.items()}
        identity = {"run_id": self.dir.run_id, "ranks": self.comm.size, "rank": self.comm.rank,
                    "network_hash": rundir.network_hash(self.toml), "populations": json.dumps(pops),
                    "seed": self.net.seed, "t_stop_ms": self.net.t_stop}
        self.writer = RankWriter(self.path, identity, recorder, self.net.dt, self.options.compression)

    def write(self, batch: monitors.Batch) -> None:
        """The recorder's sink: into this rank's file."""
        self.writer.write(batch)

    def begin(self, target_step: int) -> None:
        if not self.writer.f.id.valid:
            self.writer = RankWriter(self.path, {}, None, self.net.dt, append=True)
        self.writer.start(target_step)

    def finish(self, summary: dict, owner: np.ndarray, partitioner: Any) -> None:
        """Close this rank's file and (rank 0) write the master; ``partitioner`` is a method
        name or a :class:`distsnn.placement.PartitionSpec`, stored as JSON text."""
        if not isinstance(partitioner, str):
            partitioner = json.dumps(dataclasses.asdict(partitioner), default=str, sort_keys=True)
        self.writer.close(True, summary)
        self.comm.barrier()
        if self.comm.rank == 0:
            meta = {"seed": self.net.seed, "t_stop_ms": self.net.t_stop, "partitioner": partitioner,
                    "command_line": self.command_line, "network_toml": self.toml, "summary": summary}
            try:
                master.write_master(self.dir.path, meta, owner)
            except BaseException:
                self._clean_tmp()
                raise
        self.comm.barrier()
        if self.options.sort:
            sorting.write_sorted(self.dir.path, self.comm)

    def fail(self, recorder: monitors.Recorder, completed: int) -> None:
        """After an exception in a run (this rank only): keep what is complete, clean up."""
        try:
            if self.writer is not None and self.writer.f.id.valid:
                try:
                    recorder.flush(completed)
                finally:
                    self.writer.close(False)
        finally:
            self._clean_tmp()
            if self.comm.rank == 0:
                self.dir.release()

    def abandon(self) -> None:
        """After a failure before the first file was created."""
        rundir.abandon(self.dir, self.comm.rank)

    def close(self) -> None:
        if self.writer is not None and self.writer.f.id.valid:
            self.writer.close(False)
        if self.comm.rank == 0:
            self.dir.release()

    def _clean_tmp(self) -> None:
        for p in glob.glob(os.path.join(self.dir.path, "*.h5.tmp")):
            try:
                os.remove(p)
            except OSError:
                pass
