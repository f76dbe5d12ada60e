"""Values of parameters that may vary per synapse or per neuron.

A value is a constant, an explicit array, or a distribution whose draws come from the
keyed streams of :mod:`distsnn.rng`, so that the value of synapse ``k`` of target
``gid`` (or of neuron ``gid``) is the same whatever rank computes it.

- ``Constant(value)``
- ``ArrayValue(values)``: one value per synapse or neuron, in a documented order
- ``Uniform(low, high)``: uniform on [low, high)
- ``Normal(mean, std, low=-inf, high=inf)``: normal, values outside [low, high] redrawn
  (NEST's ``redraw``), so the bound is a hard guarantee
- ``Lognormal(mu, sigma)``: ``exp(N(mu, sigma))``; mu and sigma are those of the
  underlying normal (NEST's and numpy's convention)

In TOML a number is a constant, a list is an array, and a table with ``dist = "..."``
is a distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from . import rng, validate


@dataclass(frozen=True)
class Constant:
    value: float

    def bounds(self) -> tuple[float, float]:
        return self.value, self.value

    def to_plain(self) -> Any:
        return self.value


@dataclass(frozen=True, eq=False)
class ArrayValue:
    values: np.ndarray

    def bounds(self) -> tuple[float, float]:
        if self.values.size == 0:
            return 0.0, 0.0
        return float(self.values.min()), float(self.values.max())

    def to_plain(self) -> Any:
        return self.values.tolist()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArrayValue) and np.array_equal(self.values, other.values)

    __hash__ = None


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def bounds(self) -> tuple[float, float]:
        return self.low, self.high

    def to_plain(self) -> Any:
        return {"dist": "uniform", "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Normal:
    mean: float
    std: float
    low: float = -math.inf
    high: float = math.inf

    def bounds(self) -> tuple[float, float]:
        return self.low, self.high

    def to_plain(self) -> Any:
        out = {"dist": "normal", "mean": self.mean, "std": self.std}
        if math.isfinite(self.low):
            out["low"] = self.low
        if math.isfinite(self.high):
            out["high"] = self.high
        return out


@dataclass(frozen=True)
class Lognormal:
    mu: float
    sigma: float

    def bounds(self) -> tuple[float, float]:
        return 0.0, math.inf

    def to_plain(self) -> Any:
        return {"dist": "lognormal", "mu": self.mu, "sigma": self.sigma}


Value = Union[Constant, ArrayValue, Uniform, Normal, Lognormal]
_FIELDS = {"uniform": ("low", "high"), "normal": ("mean", "std", "low", "high"),
           "lognormal": ("mu", "sigma")}
_REQUIRED = {"uniform": ("low", "high"), "normal": ("mean", "std"), "lognormal": ("mu", "sigma")}


def parse(owner: str, field: str, spec: Any) -> Value:
    """A value from its Python or TOML form, validated."""
    if isinstance(spec, (Constant, ArrayValue, Uniform, Normal, Lognormal)):
        spec = spec.to_plain()
    if isinstance(spec, dict):
        dist = spec.get("dist")
        validate.choice(owner, f"{field}.dist", dist, _FIELDS)
        validate.known_fields(f"{owner} {field}", {k: v for k, v in spec.items() if k != "dist"},
                              _FIELDS[dist])
        missing = [k for k in _REQUIRED[dist] if k not in spec]
        if missing:
            raise ValueError(f"{owner}: {field} ({dist}) needs {missing[0]!r}")
        f = {}
        for k, v in spec.items():
            if k == "dist":
                continue
            # A normal's bounds may be infinite (TOML ``inf``); everything else is finite.
            is_inf_bound = dist == "normal" and k in ("low", "high") and isinstance(v, float) and math.isinf(v)
            f[k] = v if is_inf_bound else validate.number(owner, f"{field}.{k}", v)
        if dist == "uniform":
            if not f["low"] < f["high"]:
                raise ValueError(f"{owner}: {field}.high must be > low = {f['low']}, got {f['high']}")
            return Uniform(f["low"], f["high"])
        if dist == "normal":
            validate.positive(owner, f"{field}.std", f["std"])
            low, high = f.get("low", -math.inf), f.get("high", math.inf)
            if not low < high:
                raise ValueError(f"{owner}: {field}.high must be > low = {low}, got {high}")
            # Redrawing from a sliver far in a tail would never end; demand some mass.
            mass = 0.5 * (math.erf((high - f["mean"]) / (f["std"] * math.sqrt(2)))
                          - math.erf((low - f["mean"]) / (f["std"] * math.sqrt(2))))
            if mass < 1e-3:
                raise ValueError(f"{owner}: {field} bounds [{low}, {high}] keep only {mass:.2g} of the "
                                 f"normal's mass (must be >= 1e-3)")
            return Normal(f["mean"], f["std"], low, high)
        validate.positive(owner, f"{field}.sigma", f["sigma"])
        return Lognormal(f["mu"], f["sigma"])
    if isinstance(spec, (list, tuple, np.ndarray)):
        return ArrayValue(validate.finite_array(owner, field, spec))
    return Constant(validate.number(owner, field, spec))


def sample(value: Value, key: tuple[int, int], rows: np.ndarray, counts: np.ndarray | int) -> np.ndarray:
    """``counts[r]`` values for each row (a gid), concatenated; not for ArrayValue."""
    rows = np.asarray(rows, dtype=np.int64)
    n = int(np.sum(np.broadcast_to(counts, rows.shape)))
    if isinstance(value, Constant):
        return np.full(n, value.value)
    if isinstance(value, Uniform):
        return value.low + (value.high - value.low) * rng.uniform(key, rows, counts)
    if isinstance(value, Normal):
        lo = (value.low - value.mean) / value.std
        hi = (value.high - value.mean) / value.std
        return value.mean + value.std * rng.normal(key, rows, counts, lo, hi)
    if isinstance(value, Lognormal):
        return np.exp(value.mu + value.sigma * rng.normal(key, rows, counts))
    raise TypeError(f"sample() takes a constant or a distribution, not {type(value).__name__}")
