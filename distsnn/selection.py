"""Which neurons of a population a monitor records.

A :class:`Selection` is one of

- every neuron (``None`` in Python, field absent in TOML);
- a list of indices within the population (``[0, 5, 7]``);
- a range (``range(0, 1000, 10)`` in Python, ``{start = 0, stop = 1000, step = 10}`` in TOML);
- a random fraction (``{fraction = 0.1, seed = 7}``): neuron ``i`` is taken when the
  uniform draw ``i`` of the stream ``(seed, "select:<population>")`` is below ``fraction``.
  The draw depends on the neuron only, so every rank count and partitioner picks the
  same neurons, and a spike and a state monitor with the same fraction and seed on one
  population pick the same ones. ``seed`` defaults to the network's seed.

Indices are population-local and 0-based (SONATA's ``node_ids``); a selection is
resolved to sorted, unique indices by :meth:`Selection.indices`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import rng, validate

KINDS = ("all", "list", "range", "fraction")


@dataclass(frozen=True)
class Selection:
    """A set of neuron indices of one population (see the module docstring)."""

    kind: str = "all"
    items: tuple[int, ...] = ()
    start: int = 0
    stop: int = 0
    step: int = 1
    fraction: float = 1.0
    seed: int | None = None

    def indices(self, population: str, size: int, network_seed: int) -> np.ndarray:
        """Sorted unique indices (int64) within a population of ``size`` neurons."""
        if self.kind == "all":
            return np.arange(size, dtype=np.int64)
        if self.kind == "list":
            return np.unique(np.asarray(self.items, dtype=np.int64))
        if self.kind == "range":
            return np.arange(self.start, min(self.stop, size), self.step, dtype=np.int64)
        seed = network_seed if self.seed is None else self.seed
        u = rng.uniform(rng.stream_key(seed, f"select:{population}"), np.arange(size), 1)
        return np.flatnonzero(u < self.fraction).astype(np.int64)

    def count(self, size: int) -> int:
        """How many neurons of a population of ``size`` are selected (a fraction: its
        expected count), without building the index array."""
        if self.kind == "all":
            return size
        if self.kind == "list":
            return len(set(self.items))
        if self.kind == "range":
            return len(range(self.start, min(self.stop, size), self.step))
        return int(round(self.fraction * size))

    def to_plain(self) -> Any:
        """The TOML form (``None`` for every neuron)."""
        if self.kind == "all":
            return None
        if self.kind == "list":
            return list(self.items)
        if self.kind == "range":
            return {"start": self.start, "stop": self.stop, "step": self.step}
        out: dict[str, Any] = {"fraction": self.fraction}
        if self.seed is not None:
            out["seed"] = self.seed
        return out


def parse(owner: str, spec: Any, size: int) -> Selection:
    """A selection from its Python or TOML form, checked against a population of ``size``."""
    if spec is None:
        return Selection()
    if isinstance(spec, Selection):
        spec = spec.to_plain()
        if spec is None:
            return Selection()
    if isinstance(spec, range):
        spec = {"start": spec.start, "stop": spec.stop, "step": spec.step}
    if isinstance(spec, dict):
        if "fraction" in spec:
            validate.known_fields(f"{owner} neurons", spec, ("fraction", "seed"))
            f = validate.number(owner, "neurons.fraction", spec["fraction"])
            if not 0.0 < f <= 1.0:
                raise ValueError(f"{owner}: neurons.fraction must be in (0, 1], got {f!r}")
            seed = spec.get("seed")
            if seed is not None:
                seed = validate.integer(owner, "neurons.seed", seed, minimum=0)
                if seed > rng.SEED_MAX:
                    raise ValueError(f"{owner}: neurons.seed must be <= {rng.SEED_MAX}, got {seed}")
            return Selection("fraction", fraction=f, seed=seed)
        validate.known_fields(f"{owner} neurons", spec, ("start", "stop", "step"))
        start = validate.integer(owner, "neurons.start", spec.get("start", 0), minimum=0)
        stop = validate.integer(owner, "neurons.stop", spec.get("stop", size), minimum=0)
        step = validate.integer(owner, "neurons.step", spec.get("step", 1), minimum=1)
        if not start < stop <= size:
            raise ValueError(f"{owner}: neurons range must satisfy 0 <= start < stop <= {size}, "
                             f"got start {start}, stop {stop}")
        return Selection("range", start=start, stop=stop, step=step)
    idx = np.asarray(spec)
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
        raise ValueError(f"{owner}: neurons must be a non-empty list of integer indices, a range "
                         f"{{start, stop, step}} or {{fraction, seed}}, got {spec!r}")
    bad = np.flatnonzero((idx < 0) | (idx >= size))
    if bad.size:
        raise ValueError(f"{owner}: neurons must be in [0, {size - 1}], got {idx[bad[0]]}")
    if np.unique(idx).size != idx.size:
        raise ValueError(f"{owner}: neurons must not repeat an index, got {spec!r}")
    return Selection("list", items=tuple(int(i) for i in np.sort(idx)))
