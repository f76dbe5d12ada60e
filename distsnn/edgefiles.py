"""Edge-list files: CSV, NPZ and HDF5 columns ``pre``, ``post`` and optionally ``weight``
and ``delay``, read into arrays for :class:`~distsnn.connectors.EdgeList`.

A file is checked before its data are read: its columns (known names, each once, numeric
types), and the memory its columns will take (CSV: 8 bytes per value of each line; NPZ:
from the arrays' headers; HDF5: from the datasets' shapes) against a limit. CSV files are
UTF-8 text (a UTF-8 byte-order mark is allowed) with one header line; blank lines and
lines starting with ``#`` are skipped. Every failure is a one-line ``ValueError`` naming
the owner (the projection) and the file.
"""

from __future__ import annotations

import codecs
import csv
import math
import os
import warnings
import zipfile
import zlib

import numpy as np

#: Columns an edge-list file may hold; ``pre`` and ``post`` are required.
COLUMNS = ("pre", "post", "weight", "delay")
_UTF16_32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def read(owner: str, path: str, max_bytes: float | None = None) -> dict[str, np.ndarray]:
    """The columns of an edge-list file (an existing regular file), checked to fit in
    ``max_bytes`` before they are read.

    Every failure (unreadable, not UTF-8, corrupt, wrong columns,
    non-numeric data) is a ``ValueError`` that names ``owner`` and the file.
    """
    where = f"{owner}: connector.file {path!r}"
    ext = os.path.splitext(path)[1].lower()
    readers = {".csv": _read_csv, ".npz": _read_npz, ".h5": _read_hdf5, ".hdf5": _read_hdf5}
    if ext not in readers:
        raise ValueError(f"{owner}: connector.file must end in .csv, .npz, .h5 or .hdf5, got {path!r}")
    try:
        cols = readers[ext](owner, where, path, max_bytes)
    except OSError as e:
        raise ValueError(f"{where} cannot be read: {e.strerror or e}") from None
    for req in ("pre", "post"):
        if req not in cols:
            raise ValueError(f"{where} has no column {req!r}")
    return cols


def _check_columns(owner: str, path: str, names: list[str]) -> None:
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise ValueError(f"{owner}: connector.file {path!r} has an unknown column {unknown[0]!r}; "
                         f"known: {', '.join(sorted(COLUMNS))}")
    for n in names:
        if names.count(n) > 1:
            raise ValueError(f"{owner}: connector.file {path!r} has column {n!r} twice")


def _check_size(where: str, rows: int, nbytes: int, max_bytes: float | None) -> None:
    if max_bytes is not None and nbytes > max_bytes:
        raise ValueError(f"{where} holds {rows} edges, about {nbytes} bytes in memory on each rank, "
                         f"above the memory limit of {int(max_bytes)} bytes")


def _read_csv(owner: str, where: str, path: str, max_bytes: float | None) -> dict[str, np.ndarray]:
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head.startswith(_UTF16_32_BOMS):
            raise ValueError(f"{where} is UTF-16 or UTF-32 text; save it as UTF-8 (edge lists are read as UTF-8)")
        # A line count bounds the rows without holding them: 8 bytes per value once parsed.
        fh.seek(0)
        lines, last = 0, b"\n"
        for block in iter(lambda: fh.read(1 << 20), b""):
            lines, last = lines + block.count(b"\n"), block[-1:]
        rows = max(lines + (last != b"\n") - 1, 0)   # at most: comments and blank lines count too
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = []
            for line in fh:
                if line.strip() and not line.lstrip().startswith("#"):
                    header = [h.strip() for h in next(csv.reader([line]))]
                    break
            if not header:
                raise ValueError(f"{where} is empty; it needs a header line such as 'pre,post,weight,delay'")
            _check_columns(owner, path, header)
            _check_size(where, rows, 8 * rows * len(header), max_bytes)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)   # "input contained no data": header only
                try:
                    table = np.loadtxt(fh, dtype=np.float64, delimiter=",", comments="#", ndmin=2)
                except ValueError as e:
                    detail = _one_line(e).split(";")[0]   # numpy's hint about usecols does not apply
                    raise ValueError(f"{where} must hold numbers in {len(header)} columns under the header "
                                     f"{header}: {detail}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{where} is not UTF-8 text (byte 0x{e.object[e.start]:02x} cannot be decoded); "
                         f"save it as UTF-8") from None
    if table.size == 0:
        table = np.zeros((0, len(header)))
    if table.shape[1] != len(header):
        raise ValueError(f"{where} must hold numbers in {len(header)} columns under the header {header}, "
                         f"got {table.shape[1]} columns")
    return {h: np.ascontiguousarray(table[:, i]) for i, h in enumerate(header)}


def _one_line(e: Exception) -> str:
    # Library messages (HDF5's above all) may span lines; an error is one line.
    return " ".join(str(e).split())


def _numeric(where: str, name: str, dtype: np.dtype) -> None:
    if dtype.kind not in "iuf":
        raise ValueError(f"{where}: column {name!r} must hold numbers, got data of type {dtype}")


def _read_npz(owner: str, where: str, path: str, max_bytes: float | None) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(path) as zf:
            members = {os.path.splitext(i.filename)[0]: i for i in zf.infolist()}
            _check_columns(owner, path, list(members))
            sizes = {k: _npy_size(zf, info) for k, info in members.items()}
            _check_size(where, sizes["pre"][0] if "pre" in sizes else 0, sum(b for _, b in sizes.values()),
                        max_bytes)
        cols = {}
        with np.load(path, allow_pickle=False) as z:
            for k in z.files:
                cols[k] = z[k]
                _numeric(where, k, cols[k].dtype)
    except (zipfile.BadZipFile, EOFError, zlib.error, KeyError) as e:
        raise ValueError(f"{where} is not a valid NPZ file ({_one_line(e)})") from None
    except ValueError as e:
        if str(e).startswith(owner):
            raise
        raise ValueError(f"{where} is not a valid NPZ file ({_one_line(e)})") from None
    return cols


def _npy_size(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[int, int]:
    """(elements, bytes) of one array of an NPZ archive, from its header alone."""
    fmt = np.lib.format
    with zf.open(info) as fh:
        version = fmt.read_magic(fh)
        readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
        if version not in readers:   # a newer header: its uncompressed size bounds the data
            return info.file_size // 8, info.file_size
        shape, _, dtype = readers[version](fh)
    n = math.prod(shape)
    return n, n * dtype.itemsize


def _read_hdf5(owner: str, where: str, path: str, max_bytes: float | None) -> dict[str, np.ndarray]:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{where} is not a valid HDF5 file ({_one_line(e)})") from None
    with f:
        _check_columns(owner, path, list(f.keys()))
        for k in f.keys():
            if not isinstance(f[k], h5py.Dataset):
                raise ValueError(f"{where}: {k!r} must be a dataset (a column of numbers), got a group")
            _numeric(where, k, f[k].dtype)
        nbytes = sum(int(f[k].size) * f[k].dtype.itemsize for k in f.keys())
        _check_size(where, int(f["pre"].size) if "pre" in f else 0, nbytes, max_bytes)
        try:
            return {k: f[k][()] for k in f.keys()}
        except (OSError, RuntimeError) as e:
            raise ValueError(f"{where} is not a valid HDF5 file ({_one_line(e)})") from None
