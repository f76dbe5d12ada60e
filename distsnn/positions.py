"""Neuron positions: the layouts that spatial connectors (:mod:`distsnn.spatial`) use.

Positions belong to a population (NEST's spatial layers), in arbitrary length units:

- ``Grid(shape, extent=None, center=None, edge_wrap=False)``: ``shape = (nx, ny)`` or
  ``(nx, ny, nz)`` cells of a box of size ``extent`` (default: ``shape``, spacing 1)
  centred on ``center`` (default: the origin), one neuron at the centre of each cell.
  Neuron ``i`` sits in column ``i // ny`` (x, left to right) and row ``i % ny`` (y, top
  to bottom) as in NEST's 2-D grid layers; in 3-D, ``i = (ix * ny + iy) * nz + iz`` with
  z ascending.
- ``Free(xyz, extent=None, center=None, edge_wrap=False)``: given positions, one row
  per neuron (TOML ``coordinates``); the box defaults to their bounding box.
- ``Random(extent, center=None, edge_wrap=False)``: each neuron uniformly in the box,
  coordinate ``j`` of neuron ``gid`` drawn from the stream ``pos:<population>`` (row gid,
  index j), so positions do not depend on the rank that computes them.

``edge_wrap`` makes the box periodic (a torus): the displacement along each axis is
taken modulo the extent, to the nearest image, as NEST does for layers with
``edge_wrap=True``. A spatial projection between two populations needs both wrapped
with the same extent, or neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from . import rng, validate


def axis_values(owner: str, fld: str, value: Any, n: int) -> tuple[float, ...]:
    """``n`` finite numbers, one per axis, or an error naming the field."""
    arr = validate.finite_array(owner, fld, value)
    if arr.shape != (n,):
        raise ValueError(f"{owner}: {fld} must have {n} values (one per dimension), got shape {arr.shape}")
    return tuple(float(x) for x in arr)


@dataclass(frozen=True)
class Grid:
    shape: tuple[int, ...]
    extent: tuple[float, ...] | None = None
    center: tuple[float, ...] | None = None
    edge_wrap: bool = False
    kind = "grid"

    @property
    def dim(self) -> int:
        return len(self.shape)

    def size(self) -> int:
        return int(np.prod(self.shape))

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """Extent and centre as arrays (defaults filled in)."""
        ext = np.asarray(self.shape if self.extent is None else self.extent, dtype=np.float64)
        cen = np.zeros(self.dim) if self.center is None else np.asarray(self.center, dtype=np.float64)
        return ext, cen

    def coordinates(self, seed: int, population: str, gid0: int, index: np.ndarray) -> np.ndarray:
        """Positions of the neurons ``index`` (within the population): (len(index), dim)."""
        ext, cen = self.box()
        shape = np.asarray(self.shape)
        cell = np.array(np.unravel_index(np.asarray(index, dtype=np.int64), self.shape)).T.astype(np.float64)
        pos = cen - ext / 2 + (cell + 0.5) * ext / shape
        # NEST's rows run from the top (largest y) down.
        pos[:, 1] = cen[1] + ext[1] / 2 - (cell[:, 1] + 0.5) * ext[1] / shape[1]
        return pos

    def to_plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "grid", "shape": list(self.shape)}
        if self.extent is not None:
            out["extent"] = list(self.extent)
        if self.center is not None:
            out["center"] = list(self.center)
        out["edge_wrap"] = self.edge_wrap
        return out


@dataclass(frozen=True)
class Random:
    extent: tuple[float, ...]
    center: tuple[float, ...] | None = None
    edge_wrap: bool = False
    kind = "random"

    @property
    def dim(self) -> int:
        return len(self.extent)

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        cen = np.zeros(self.dim) if self.center is None else np.asarray(self.center, dtype=np.float64)
        return np.asarray(self.extent, dtype=np.float64), cen

    def coordinates(self, seed: int, population: str, gid0: int, index: np.ndarray) -> np.ndarray:
        ext, cen = self.box()
        gids = np.asarray(index, dtype=np.int64) + gid0
        u = rng.uniform(rng.stream_key(seed, f"pos:{population}"), gids, self.dim).reshape(-1, self.dim)
        return cen - ext / 2 + u * ext

    def to_plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "random", "extent": list(self.extent)}
        if self.center is not None:
            out["center"] = list(self.center)
        out["edge_wrap"] = self.edge_wrap
        return out


@dataclass(frozen=True, eq=False)
class Free:
    """Given positions, one row per neuron (NEST's ``nest.spatial.free`` with a list).

    The box defaults to the positions' bounding box (widened by 1e-6 of its size, and to
    1 along an axis where all positions agree); ``edge_wrap`` needs an explicit extent.
    """

    xyz: np.ndarray            # (neurons, 2 or 3)
    extent: tuple[float, ...] | None = None
    center: tuple[float, ...] | None = None
    edge_wrap: bool = False
    kind = "free"

    @property
    def dim(self) -> int:
        return int(self.xyz.shape[1])

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        if self.extent is not None:
            cen = np.zeros(self.dim) if self.center is None else np.asarray(self.center, dtype=np.float64)
            return np.asarray(self.extent, dtype=np.float64), cen
        lo, hi = self.xyz.min(axis=0), self.xyz.max(axis=0)
        size = hi - lo
        ext = np.where(size > 0, size * (1 + 1e-6), 1.0)
        return ext, (lo + hi) / 2

    def coordinates(self, seed: int, population: str, gid0: int, index: np.ndarray) -> np.ndarray:
        return self.xyz[np.asarray(index, dtype=np.int64)]

    def to_plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "free", "coordinates": self.xyz.tolist()}
        if self.extent is not None:
            out["extent"] = list(self.extent)
        if self.center is not None:
            out["center"] = list(self.center)
        out["edge_wrap"] = self.edge_wrap
        return out

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Free) and np.array_equal(self.xyz, other.xyz)
                and (self.extent, self.center, self.edge_wrap) == (other.extent, other.center, other.edge_wrap))

    __hash__ = None


Layout = Union[Grid, Random, Free]


def parse_positions(owner: str, spec: Any, size: int) -> Layout:
    """A layout from its object or its table ``{kind = "grid" | "random" | "free", ...}``,
    checked against the population's ``size``."""
    if isinstance(spec, (Grid, Random, Free)):
        spec = spec.to_plain()
    validate.mapping(owner, "positions", spec)
    kind = validate.choice(owner, "positions.kind", spec.get("kind"), ("grid", "random", "free"))
    first = {"grid": ("shape",), "random": (), "free": ("coordinates",)}[kind]
    validate.known_fields(f"{owner} positions", spec, ("kind",) + first + ("extent", "center", "edge_wrap"))
    wrap = validate.boolean(owner, "positions.edge_wrap", spec.get("edge_wrap", False))
    if kind == "free":
        if "coordinates" not in spec:
            raise ValueError(f"{owner}: positions.coordinates (one row per neuron) is required for free positions")
        xyz = validate.finite_array(owner, "positions.coordinates", spec["coordinates"])
        if xyz.ndim != 2 or xyz.shape[0] != size or xyz.shape[1] not in (2, 3):
            raise ValueError(f"{owner}: positions.coordinates must have shape ({size}, 2) or ({size}, 3), "
                             f"got {xyz.shape}")
        dim = xyz.shape[1]
        if wrap and spec.get("extent") is None:
            raise ValueError(f"{owner}: positions.edge_wrap needs an explicit positions.extent")
    elif kind == "grid":
        if "shape" not in spec:
            raise ValueError(f"{owner}: positions.shape is required for a grid")
        shape = spec["shape"]
        if not isinstance(shape, (list, tuple)) or len(shape) not in (2, 3):
            raise ValueError(f"{owner}: positions.shape must list 2 or 3 cell counts, got {shape!r}")
        shape = tuple(validate.integer(owner, "positions.shape", s, minimum=1) for s in shape)
        if int(np.prod(shape)) != size:
            raise ValueError(f"{owner}: positions.shape {list(shape)} holds {int(np.prod(shape))} neurons, "
                             f"the population has {size}")
        dim = len(shape)
    else:
        if "extent" not in spec:
            raise ValueError(f"{owner}: positions.extent is required for random positions")
        ext = spec["extent"]
        dim = len(ext) if isinstance(ext, (list, tuple)) else 0
        if dim not in (2, 3):
            raise ValueError(f"{owner}: positions.extent must give 2 or 3 lengths, got {ext!r}")
    extent = None if spec.get("extent") is None else axis_values(owner, "positions.extent", spec["extent"], dim)
    if extent is not None and min(extent) <= 0:
        raise ValueError(f"{owner}: positions.extent must be > 0 along every axis, got {list(extent)}")
    center = None if spec.get("center") is None else axis_values(owner, "positions.center", spec["center"], dim)
    if kind == "grid":
        return Grid(shape, extent, center, wrap)
    if kind == "random":
        return Random(extent, center, wrap)
    layout = Free(xyz, extent, center, wrap)
    if extent is not None:
        ext, cen = layout.box()
        out = np.flatnonzero(np.any((xyz < cen - ext / 2) | (xyz >= cen + ext / 2), axis=1))
        if out.size:
            raise ValueError(f"{owner}: positions.coordinates must lie in the box of extent {list(extent)} "
                             f"around {cen.tolist()}, got {xyz[out[0]].tolist()} for neuron {out[0]}")
    return layout


__all__ = ["Grid", "Random", "Free", "Layout", "parse_positions", "axis_values"]
