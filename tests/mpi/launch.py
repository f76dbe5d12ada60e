"""Running distsnn under the venv's own mpiexec, always with a timeout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The launcher must come from the same MPI as mpi4py: the one beside this Python.
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")

needs_mpi = pytest.mark.skipif(not (os.path.exists(MPIEXEC) and shutil.which(MPIEXEC)),
                               reason=f"no mpiexec beside {sys.executable} (install distsnn[mpi])")


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def mpirun(n: int, args: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess:
    """``mpiexec -n N python ARGS`` with a hard timeout (a hang is a failure)."""
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, env=env(), cwd=ROOT)


def plain(args: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          env=env(), cwd=ROOT)
