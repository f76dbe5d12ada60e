"""SONATA edge files read per target, in hyperslabs.

An :class:`EdgeReader` opens one edge population (``/edges/<population>`` of one HDF5
file) and reads the edges onto a set of target nodes only: with the file's
``indices/target_to_source`` (``node_id_to_ranges``, or bmtk's ``node_id_to_range``, ->
``range_to_edge_id``) it reads
exactly those rows; without it, it scans the ``target_node_id`` column in hyperslabs and
reads the other columns at the matching rows. Contiguous rows are read as one hyperslab
of at most ``hyperslab`` rows, as NEST's ``SonataConnector`` does. ``rows_read`` counts
the edge rows read (every column of a row counts once), ``largest_read`` the most rows
read at once, ``scan_rows`` the rows of ``target_node_id`` scanned without an index.

A :class:`SonataEdges` connector is one projection's view of a reader: the edges from
the nodes of one distsnn population to those of another (a SONATA population may be
split by node type, see :mod:`distsnn.io.sonata`), optionally only those with positive
or non-positive weight (NEST routes weights > 0 to a model's excitatory port). The
projections over one reader share its last read, so each rank reads each of its edges
once.

Values follow NEST's ``SonataConnector``: ``syn_weight`` and ``delay`` from the edge
group where present, else from the edge type (CSV column or ``dynamics_params``), else
NEST's defaults, weight 1 and delay 1.0 ms. Other edge-group datasets (``nsyns``,
positions) are ignored, as NEST ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from ..connectors import Synapses

DEFAULT_WEIGHT = 1.0
DEFAULT_DELAY = 1.0


def _ranges_to_runs(starts: np.ndarray, stops: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Half-open row ranges merged where contiguous and split into runs of <= ``limit``."""
    order = np.argsort(starts, kind="stable")
    runs: list[tuple[int, int]] = []
    for a, b in zip(starts[order].tolist(), stops[order].tolist()):
        if b <= a:
            continue
        if runs and runs[-1][1] == a and runs[-1][1] - runs[-1][0] < limit:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    out = []
    for a, b in runs:
        out.extend((s, min(b, s + limit)) for s in range(a, b, limit))
    return out


class EdgeReader:
    """One edge population of a SONATA edge file; see the module docstring.

    Parameters
    ----------
    path : str
        The edge HDF5 file.
    population : str
        Edge population name (a group under ``/edges``).
    type_weight, type_delay : dict of int to float
        Per ``edge_type_id``, the weight and delay (ms) of its CSV row / dynamics params
        (NaN where the type gives none).
    hyperslab : int
        Largest number of rows read at once.
    """

    def __init__(self, path: str, population: str, type_weight: dict[int, float],
                 type_delay: dict[int, float], hyperslab: int = 2**20) -> None:
        self.path, self.population, self.hyperslab = path, population, int(hyperslab)
        self.type_weight, self.type_delay = type_weight, type_delay
        self.rows_read = 0
        self.largest_read = 0
        self.scan_rows = 0
        self._key: bytes | None = None
        self._cols: dict[str, np.ndarray] = {}
        with h5py.File(path, "r") as f:
            g = f["edges"][population]
            self.n_rows = int(g["target_node_id"].shape[0])
            self.source_population = _attr(g["source_node_id"], "node_population")
            self.target_population = _attr(g["target_node_id"], "node_population")
            groups = sorted(k for k in g if isinstance(g[k], h5py.Group) and k.isdigit())
            self.group = groups[0] if groups else None
            grp = g[self.group] if self.group is not None else {}
            self.has_weight = "syn_weight" in grp
            self.has_delay = "delay" in grp
            idx = g.get("indices/target_to_source", {})
            # The SONATA spec says node_id_to_ranges; bmtk's files say node_id_to_range.
            self.to_ranges = next((k for k in ("node_id_to_ranges", "node_id_to_range") if k in idx), None)
            self.indexed = self.to_ranges is not None and "range_to_edge_id" in idx

    def read(self, targets: np.ndarray) -> dict[str, np.ndarray]:
        """The edges onto the SONATA node ids ``targets`` (ascending, unique): columns
        ``source``, ``target``, ``type``, ``weight``, ``delay`` in file order. The last result is
        kept, so projections asking for the same targets share one read."""
        targets = np.asarray(targets, dtype=np.int64)
        key = targets.tobytes()
        if key == self._key:
            return self._cols
        with h5py.File(self.path, "r") as f:
            g = f["edges"][self.population]
            runs = self._runs(g, targets)
            parts: dict[str, list[np.ndarray]] = {"source": [], "target": [], "type": [], "weight": [], "delay": []}
            for a, b in runs:
                parts["source"].append(g["source_node_id"][a:b].astype(np.int64))
                parts["target"].append(g["target_node_id"][a:b].astype(np.int64))
                parts["type"].append(g["edge_type_id"][a:b].astype(np.int64))
                if self.has_weight:
                    parts["weight"].append(g[self.group]["syn_weight"][a:b].astype(np.float64))
                if self.has_delay:
                    parts["delay"].append(g[self.group]["delay"][a:b].astype(np.float64))
                self.rows_read += b - a
                self.largest_read = max(self.largest_read, b - a)
        cols = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
        keep = np.isin(cols["target"], targets)   # a run may cover rows of other targets
        cols = {k: (v[keep] if v.size == keep.size else v) for k, v in cols.items()}
        types = cols["type"]
        for what, has, per_type, default in (("weight", self.has_weight, self.type_weight, DEFAULT_WEIGHT),
                                             ("delay", self.has_delay, self.type_delay, DEFAULT_DELAY)):
            if not has:
                cols[what] = _per_type(per_type, types, default)
        self._key, self._cols = key, cols
        return cols

    def _runs(self, g: h5py.Group, targets: np.ndarray) -> list[tuple[int, int]]:
        if not targets.size:
            return []
        if self.indexed:
            idx = g["indices/target_to_source"]
            n_nodes = idx[self.to_ranges].shape[0]
            targets = targets[targets < n_nodes]
            ranges = idx[self.to_ranges][targets.tolist()] if targets.size else np.zeros((0, 2))
            ranges = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
            rows = [np.arange(a, b) for a, b in ranges if b > a]
            if not rows:
                return []
            rows_a = np.concatenate(rows)
            spans = np.asarray(idx["range_to_edge_id"][rows_a.tolist()], dtype=np.int64).reshape(-1, 2)
            return _ranges_to_runs(spans[:, 0], spans[:, 1], self.hyperslab)
        # No index: scan the target column in hyperslabs, keep the matching rows.
        hits = []
        for a in range(0, self.n_rows, self.hyperslab):
            b = min(self.n_rows, a + self.hyperslab)
            col = g["target_node_id"][a:b].astype(np.int64)
            self.scan_rows += b - a
            hits.append(a + np.flatnonzero(np.isin(col, targets)))
        rows = np.concatenate(hits) if hits else np.zeros(0, np.int64)
        if not rows.size:
            return []
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = rows[np.r_[0, breaks]]
        stops = rows[np.r_[breaks - 1, rows.size - 1]] + 1
        return _ranges_to_runs(starts, stops, self.hyperslab)

    def in_degrees(self, n_targets: int) -> np.ndarray:
        """Edges per target node (from the index, or one scan of ``target_node_id``)."""
        with h5py.File(self.path, "r") as f:
            g = f["edges"][self.population]
            if self.indexed:
                idx = g["indices/target_to_source"]
                ranges = np.asarray(idx[self.to_ranges][()], dtype=np.int64)
                spans = np.asarray(idx["range_to_edge_id"][()], dtype=np.int64)
                per_range = spans[:, 1] - spans[:, 0]
                csum = np.r_[0, np.cumsum(per_range)]
                deg = csum[ranges[:, 1]] - csum[ranges[:, 0]]
                out = np.zeros(n_targets, dtype=np.float64)
                out[:min(n_targets, deg.size)] = deg[:n_targets]
                return out
            out = np.zeros(n_targets, dtype=np.float64)
            for a in range(0, self.n_rows, self.hyperslab):
                col = g["target_node_id"][a:min(self.n_rows, a + self.hyperslab)].astype(np.int64)
                out += np.bincount(col, minlength=n_targets)[:n_targets]
            return out


def _attr(ds: h5py.Dataset, name: str) -> str | None:
    v = ds.attrs.get(name)
    return v.decode() if isinstance(v, bytes) else (None if v is None else str(v))


def _per_type(per_type: dict[int, float], types: np.ndarray, default: float) -> np.ndarray:
    out = np.full(types.size, default, dtype=np.float64)
    for t, v in per_type.items():
        if np.isfinite(v):
            out[types == t] = v
    return out


@dataclass(frozen=True, eq=False)
class SonataEdges:
    """One projection's edges from a SONATA edge population.

    ``pre_nodes`` / ``post_nodes``: SONATA node ids of the distsnn pre and post
    populations' neurons (ascending); ``sign``: ``"positive"`` (weights > 0),
    ``"non_positive"`` (weights <= 0), ``"negative_flipped"`` (weights <= 0, taken as
    ``-w``: NEST's conductance models) or ``"any"``; ``edge_types``: the edge type ids
    taken (None: all). ``weight_bounds`` and
    ``delay_bounds``: bounds on the values, for the checks made when the projection is
    added (from the edge types; for HDF5 columns, which no rank reads whole, the sign's
    half line and ``[dt, inf)``: each value read is checked when the synapses are built).
    """

    reader: EdgeReader = field(repr=False)
    pre_nodes: np.ndarray = field(repr=False)
    post_nodes: np.ndarray = field(repr=False)
    n_pre_population: int
    sign: str
    edge_types: tuple[int, ...] | None
    weight_bounds: tuple[float, float]
    delay_bounds: tuple[float, float]
    pre_label: str = ""
    post_label: str = ""
    rule = "sonata"
    columns = ("weight", "delay")

    def check(self, owner: str, n_pre: int, n_post: int, same: bool) -> None:
        if self.pre_nodes.size != n_pre or self.post_nodes.size != n_post:
            raise ValueError(f"{owner}: SONATA edges of {self.reader.path!r} expect {self.pre_nodes.size} pre and "
                             f"{self.post_nodes.size} post neurons, got {n_pre} and {n_post}")

    def connect(self, key, n_pre, n_post, targets, pre_gid0, post_gid0, same) -> Synapses:
        targets = np.asarray(targets, dtype=np.int64)
        nodes = self.post_nodes[targets]
        order = np.argsort(nodes, kind="stable")
        cols = self.reader.read(np.unique(nodes))
        pre = np.searchsorted(self.pre_nodes, cols["source"])
        keep = (pre < self.pre_nodes.size)
        keep[keep] &= self.pre_nodes[pre[keep]] == cols["source"][keep]
        if self.sign == "positive":
            keep &= cols["weight"] > 0
        elif self.sign in ("non_positive", "negative_flipped"):
            keep &= ~(cols["weight"] > 0)
        if self.edge_types is not None:
            keep &= np.isin(cols["type"], self.edge_types)
        # position of each edge's target among the requested targets, then group by it
        slot = order[np.searchsorted(nodes[order], cols["target"][keep])]
        by_target = np.argsort(slot, kind="stable")
        rows = np.flatnonzero(keep)[by_target]
        w = -cols["weight"][rows] if self.sign == "negative_flipped" else cols["weight"][rows]
        if rows.size and self.weight_bounds[0] >= 0 and w.min() < 0:
            raise ValueError(f"SONATA {self.reader.path}: /edges/{self.reader.population} syn_weight = "
                             f"{float(w.min())!r}: weights of conductance synapses must be >= 0 nS")
        return Synapses(pre[rows], targets[slot[by_target]], None,
                        weight=w, delay=cols["delay"][rows])

    def bounds(self, what: str) -> tuple[float, float]:
        return self.weight_bounds if what == "weight" else self.delay_bounds

    def expected_counts(self, sa: np.ndarray, sb: np.ndarray, chunk: int) -> np.ndarray:
        """Each target's in-degree (from the file's index) spread over the pre chunks in
        proportion to their share of the source population (sign-split halves)."""
        deg = self.reader.in_degrees(int(self.post_nodes.max(initial=-1)) + 1)[self.post_nodes]
        per_chunk = np.add.reduceat(deg, np.arange(0, deg.size, chunk)) if deg.size else np.zeros(0)
        share = sa / max(1, self.n_pre_population) * (1.0 if self.sign == "any" else 0.5)
        return np.outer(share, per_chunk[:sb.size])

    def to_plain(self) -> dict[str, Any]:
        """What the edges are, for the run's records (the network's TOML and its hash): the
        file, the edge population and the selection. It names the edges rather than
        holding them, so it does not load back as TOML: reload the SONATA config, or write
        the network with :func:`distsnn.dump_sonata`."""
        return {"rule": self.rule, "file": self.reader.path, "population": self.reader.population,
                "pre": self.pre_label or f"{self.pre_nodes.size} nodes",
                "post": self.post_label or f"{self.post_nodes.size} nodes", "sign": self.sign,
                **({} if self.edge_types is None else {"edge_types": list(self.edge_types)})}
