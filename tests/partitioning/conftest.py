"""Graph builders shared by the partitioning tests (no simulator involved)."""
from __future__ import annotations

import numpy as np
import pytest

from partitioning import CommGraph


def build_modular(n_modules: int = 8, module_size: int = 50, p_in: float = 0.2,
                  p_out: float = 0.002, delay_in: int = 1, delay_out: int = 8,
                  seed: int = 1, rate: np.ndarray | None = None) -> CommGraph:
    """Dense random modules, sparse between them, longer delays between modules.

    Vertices are numbered module by module, so vertex ``i`` is in module
    ``i // module_size``.
    """
    rng = np.random.default_rng(seed)
    n = n_modules * module_size
    module = np.arange(n) // module_size
    same = module[:, None] == module[None, :]
    src, dst = np.nonzero(rng.random((n, n)) < np.where(same, p_in, p_out))
    delay = np.where(module[src] == module[dst], delay_in, delay_out)
    return CommGraph.from_edges(n, src, dst, 1.0, delay, rate=rate)


def build_random(n: int, m: int, seed: int = 0, *, rate_spread: bool = True,
                 max_delay: int = 4) -> CommGraph:
    """Uniform random directed graph with ``m`` edge draws (duplicates merged)."""
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    rate = rng.uniform(0.1, 10.0, n) if rate_spread else None
    return CommGraph.from_edges(n, src, dst, 1.0, rng.integers(1, max_delay + 1, m), rate=rate)


@pytest.fixture(scope="session")
def modular_graph() -> CommGraph:
    return build_modular()


@pytest.fixture(scope="session")
def random_graph() -> CommGraph:
    return build_random(3000, 30000, seed=0)


@pytest.fixture(scope="session")
def make_modular():
    """The :func:`build_modular` builder, for tests that vary its parameters."""
    return build_modular


@pytest.fixture(scope="session")
def make_random():
    """The :func:`build_random` builder, for tests that vary its parameters."""
    return build_random
