"""Checks on user input that raise ``ValueError`` naming the object, field, bound and value.

Every public constructor validates through these helpers before any work starts, so a
bad network never gets as far as building synapses or opening a file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np


def _is_number(value: Any) -> bool:
    return isinstance(value, (Real, np.floating, np.integer)) and not isinstance(value, bool)


def number(owner: str, field: str, value: Any, unit: str = "") -> float:
    """A finite real number."""
    if not _is_number(value):
        raise ValueError(f"{owner}: {field} must be a number{_u(unit)}, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {field} must be finite{_u(unit)}, got {value!r}")
    return value


def positive(owner: str, field: str, value: Any, unit: str = "") -> float:
    value = number(owner, field, value, unit)
    if not value > 0:
        raise ValueError(f"{owner}: {field} must be > 0{_u(unit)}, got {value!r}")
    return value


def non_negative(owner: str, field: str, value: Any, unit: str = "") -> float:
    value = number(owner, field, value, unit)
    if not value >= 0:
        raise ValueError(f"{owner}: {field} must be >= 0{_u(unit)}, got {value!r}")
    return value


def in_range(owner: str, field: str, value: Any, low: float, high: float, unit: str = "") -> float:
    value = number(owner, field, value, unit)
    if not low <= value <= high:
        raise ValueError(f"{owner}: {field} must be in [{low}, {high}]{_u(unit)}, got {value!r}")
    return value


def integer(owner: str, field: str, value: Any, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (Integral, np.integer)):
        raise ValueError(f"{owner}: {field} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: {field} must be >= {minimum}, got {value!r}")
    return value


def boolean(owner: str, field: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{owner}: {field} must be true or false, got {value!r}")
    return bool(value)


def name(owner: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not value or not value.replace("_", "").replace("-", "").isalnum():
        raise ValueError(
            f"{owner}: {field} must be a non-empty name of letters, digits, '_' or '-', got {value!r}")
    return value


def choice(owner: str, field: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{owner}: {field} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def known_fields(owner: str, given: Mapping[str, Any], allowed: Iterable[str], what: str = "field") -> None:
    allowed = tuple(allowed)
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(f"{owner}: unknown {what} {unknown[0]!r}; known: {', '.join(sorted(allowed))}")


def mapping(owner: str, field: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{owner}: {field} must be a table of key = value, got {value!r}")
    return value


def optional_mapping(owner: str, field: str, value: Any) -> dict[str, Any]:
    """A table (``{}`` when ``None``): in TOML ``params = 5`` or ``params = [1, 2]`` is a
    mistake for ``params = { ... }``."""
    return {} if value is None else dict(mapping(owner, field, value))


def existing_file(owner: str, field: str, path: Any) -> str:
    """A path to a regular file (not a directory, not missing)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"{owner}: {field} must be a file path (a string), got {path!r}")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{owner}: {field} {path!r} is a directory, not a file")
    if not os.path.exists(path):
        raise ValueError(f"{owner}: {field} {path!r} does not exist")
    if not os.path.isfile(path):
        raise ValueError(f"{owner}: {field} {path!r} is not a regular file")
    return path


class InputWarning(UserWarning):
    """Input that is accepted but is probably not what the user meant (e.g. defaults taken
    for a missing section, an edge list with no edges)."""


def finite_array(owner: str, field: str, value: Any, dtype=np.float64) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {field} must be an array of numbers, got {value!r}") from None
    if arr.dtype.kind == "f" and arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr.ravel()))[0])
        raise ValueError(f"{owner}: {field} must be finite, got {float(arr.ravel()[bad])!r} at index {bad}")
    return arr


def _u(unit: str) -> str:
    return f" ({unit})" if unit else ""
