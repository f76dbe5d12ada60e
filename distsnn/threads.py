"""Threads inside a rank (NEST's ``local_num_threads``): how many a simulation may use,
and the pool that runs a kernel over parts of a range.

A rank runs its kernels on one thread unless asked for more, so that ``mpiexec -n P`` on
P cores never oversubscribes them. With ``threads = T > 1``, Poisson injection splits the
rank's neurons and spike delivery the ring's ports into ``T`` contiguous ranges
(:func:`split`): no two threads write the same ring entry and the input is an integer
sum, so the results are bit for bit those of one thread.

The threads are plain Python threads running compiled kernels that release the GIL
(numba ``nogil``), not numba's ``prange``: no threading layer (OpenMP, TBB) is needed,
idle threads sleep instead of spinning on cores that other ranks use, and each part is
the same compiled loop as the one-thread run.
"""

from __future__ import annotations

import numbers
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Callable, TypeVar

T = TypeVar("T")
#: The most threads a simulation may ask for.
MAX_THREADS = 256


def check(owner: str, threads: object) -> int:
    """``threads`` as an int in [1, :data:`MAX_THREADS`], or a ValueError naming ``owner``."""
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"{owner}: threads must be an integer in [1, {MAX_THREADS}], got {threads!r}")
    return int(threads)


@lru_cache(maxsize=None)
def _pool(workers: int) -> ThreadPoolExecutor:
    # One pool per size for the process: simulations share it, so none leaks threads.
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="distsnn")


def split(threads: int, n: int, part: Callable[[int, int], T]) -> list[T]:
    """``part(lo, hi)`` for ``threads`` contiguous ranges covering ``0..n`` (the first on
    the calling thread, the others on the pool); the results in range order. ``part``
    must release the GIL to run in parallel and write only inside its range."""
    bounds = [n * t // threads for t in range(threads + 1)]
    if threads == 1:
        return [part(0, n)]
    futures = [_pool(threads - 1).submit(part, bounds[t], bounds[t + 1]) for t in range(1, threads)]
    first = part(bounds[0], bounds[1])
    return [first] + [f.result() for f in futures]
