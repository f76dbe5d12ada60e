"""Connection rules, generated on the target side.

Each connector turns (pre size, post size, a subset of post neurons) into the synapses
that target that subset: ``pre`` and ``post`` indices within the two populations,
grouped by target in the order the targets were given and, within a target, in the
connector's own generation order (the synapse's *position* ``k`` used to key its weight
and delay draws). Whatever subset or order of targets is asked for, a target gets the
same synapses, because every draw is keyed by the target's gid (PyNN's column-wise
connectors, Arbor's ``connections_on(gid)``).

Rules (``autapses``: a neuron may connect to itself when pre and post are the same
population; ``multapses``: a pair may be connected more than once; in TOML NEST's names
``allow_autapses`` / ``allow_multapses`` and ``rule = "pairwise_bernoulli"`` are accepted
as aliases):

- ``AllToAll(autapses=True)``
- ``OneToOne()``
- ``FixedProbability(p, autapses=True, multapses=True)``: every pair independently with
  probability p (NEST's ``pairwise_bernoulli``), drawn per target by geometric skipping.
  Each pair is tried once, so no pair is connected twice whatever ``multapses`` says
  (NEST accepts and ignores the flag for this rule in the same way).
- ``FixedInDegree(indegree, multapses=True, autapses=True)``: each target draws its
  sources uniformly; without multapses a repeated draw is redrawn, which samples a
  uniform random subset.
- ``FixedOutDegree(outdegree, multapses=True, autapses=True)``: each *source* draws its
  targets from a stream keyed by the source gid. To keep generation on the target side,
  every rank replays all sources' draws (O(pre size x outdegree) random numbers, no
  storage) and keeps the synapses whose target it owns, as NEST does for this rule.
- ``FixedTotalNumber(n, multapses=True, autapses=True)``: exactly ``n`` synapses, each an
  independent uniform draw from the allowed (source, target) pairs (NEST's
  ``fixed_total_number``). See :class:`FixedTotalNumber` for how this is generated per
  target. NEST does not implement ``multapses=False`` for this rule; neither does distsnn.
- ``Spatial(...)`` (:mod:`distsnn.spatial`): distance-dependent probability and delay
  between populations with positions.
- ``EdgeList(pre, post, weight=None, delay=None, path=None)``: explicit pairs, from
  arrays or a CSV, NPZ or HDF5 file with columns/datasets ``pre``, ``post`` and
  optionally ``weight`` (pA, mV or nS as the synapse needs) and ``delay`` (ms).
- :class:`StoredEdges`: edges kept in a file and read per target when the network is
  built (:class:`distsnn.io.sonata.SonataEdges`): no rank holds the whole edge list.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol, Union, runtime_checkable

import numpy as np
from numba import njit

from . import edgefiles, validate
from .discrete import COUNT_ROW, multinomial_equal
from .rng import uniform_at


@dataclass(frozen=True)
class Synapses:
    """Target-side synapses of one projection: indices into the pre and post populations.

    ``edge_id`` is the synapse's index in the connector's canonical enumeration where one
    exists (all-to-all: ``pre * n_post + post``; one-to-one: ``post``; edge list: row),
    used to look up per-synapse array values; ``None`` for random rules. ``weight`` and
    ``delay`` (ms): per-synapse values a :class:`StoredEdges` connector read with them.
    """

    pre: np.ndarray
    post: np.ndarray
    edge_id: np.ndarray | None
    weight: np.ndarray | None = None
    delay: np.ndarray | None = None


@runtime_checkable
class StoredEdges(Protocol):
    """A connector whose edges (and per-edge ``columns``: ``"weight"``, ``"delay"``) live
    outside the description and are read per target by :meth:`connect`, which returns
    them in :attr:`Synapses.weight` / :attr:`Synapses.delay`. ``bounds(what)``: the
    smallest and largest value of a column (checked when the projection is added);
    ``expected_counts(sa, sb, chunk)``: expected synapses between pre and post chunks of
    ``chunk`` neurons with sizes ``sa``, ``sb`` (the partitioner's cost model)."""

    rule: str
    columns: tuple[str, ...]

    def check(self, owner: str, n_pre: int, n_post: int, same: bool) -> None: ...

    def connect(self, key, n_pre, n_post, targets, pre_gid0, post_gid0, same) -> Synapses: ...

    def bounds(self, what: str) -> tuple[float, float]: ...

    def expected_counts(self, sa: np.ndarray, sb: np.ndarray, chunk: int) -> np.ndarray: ...

    def to_plain(self) -> dict[str, Any]: ...


@njit(cache=True)
def _sample_rows(k0, k1, rows, exclude, n, k, multapses, out):
    # Row r draws k indices in [0, n) with index exclude[r] removed (-1: none).
    marks = np.zeros(n, dtype=np.bool_)
    for r in range(rows.size):
        ex = exclude[r]
        avail = n - 1 if ex >= 0 else n
        c = 0
        got = 0
        while got < k:
            x = np.int64(uniform_at(k0, k1, rows[r], c) * avail)
            c += 1
            if ex >= 0 and x >= ex:
                x += 1
            if not multapses:
                if marks[x]:
                    continue
                marks[x] = True
            out[r, got] = x
            got += 1
        if not multapses:
            for i in range(k):
                marks[out[r, i]] = False


@njit(cache=True)
def _bernoulli_rows(k0, k1, rows, exclude, n, p, out, counts, fill):
    # Geometric skipping: gaps between successes of n Bernoulli(p) trials.
    log_q = np.log1p(-p)
    pos = 0
    for r in range(rows.size):
        j = np.int64(-1)
        c = 0
        got = 0
        while True:
            u = uniform_at(k0, k1, rows[r], c)
            c += 1
            # Compare in floating point first: for tiny p the skip exceeds int64.
            skip_f = 0.0 if p >= 1.0 else np.floor(np.log1p(-u) / log_q)
            if skip_f >= n:
                break
            skip = np.int64(skip_f)
            j += skip + 1
            if j >= n:
                break
            if j == exclude[r]:
                continue
            if fill:
                out[pos] = j
            pos += 1
            got += 1
        counts[r] = got


def _exclude(targets: np.ndarray, same: bool, autapses: bool) -> np.ndarray:
    if same and not autapses:
        return targets.astype(np.int64)
    return np.full(targets.size, -1, dtype=np.int64)


@dataclass(frozen=True)
class AllToAll:
    autapses: bool = True
    rule = "all_to_all"

    def check(self, owner: str, n_pre: int, n_post: int, same: bool) -> None:
        validate.boolean(owner, "connector.autapses", self.autapses)

    def connect(self, key, n_pre, n_post, targets, pre_gid0, post_gid0, same) -> Synapses:
        pre = np.tile(np.arange(n_pre, dtype=np.int64), targets.size)
        post = np.repeat(targets, n_pre)
        if same and not self.autapses:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        return Synapses(pre, post, pre * n_post + post)

    def to_plain(self) -> dict[str, Any]:
        return {"rule": self.rule, "autapses": self.autapses}


@dataclass(frozen=True)
class OneToOne:
    rule = "one_to_one"

    def check(self, owner: str, n_pre: int, n_post: int, same: bool) -> None:
        if n_pre != n_post:
            raise ValueError(f"{owner}: one_to_one needs equal sizes, got pre {n_pre} and post {n_post}")

    def connect(self, key, n_pre, n_post, targets, pre_gid0, post_gid0, same) -> Synapses:
        t = targets.astype(np.int64)
        return Synapses(t.copy(), t, t.copy())

    def to_plain(self) -> dict[str, Any]:
        return {"rule": self.rule}


@dataclass(frozen=True)
class FixedProbability:
    p: float
    autapses: bool = True
    multapses: bool = True
    rule = "fixed_probability"

    def check(self, owner: str, n_pre: int, n_post: int, same: bool) -> None:
        validate.in_range(owner, "connector.p", self.p, 0.0, 1.0)
        validate.boolean(owner, "connector.autapses", self.autapses)
        validate.boolean(owner, "connector.multapses", self.multapses)

    def connect(self, key, n_pre, n_post, targets, pre_gid0, post_gid0, same) -> Synapses:
        rows = (targets + post_gid0).astype(np.uint64)
        exclude = _exclude(targets, same, self.autapses)
        counts = np.zeros(targets.size, dtype=np.int64)
        if self.p <= 0.0:
            return Synapses(np.zeros(0, np.int64), np.zeros(0, np.int64), None)
        dummy = np.zeros(0, dtype=np.int64)
        _bernoulli_rows(key[0], key[1], rows, exclude, n_pre, float(self.p), dummy, counts, False)
        pre = np.empty(int(counts.sum()), dtype=np.int64)
        _bernoulli_rows(key[0], key[1], rows, exclude, n_pre, float(self.p), pre, counts, True)
        return Synapses(pre, np.repeat(targets.astype(np.int64), counts), None)

    def to_plain(self) -> dict[str, Any]:
        out = {"rule": self.rule, "p": self.p, "autapses": self.autapses}
        if not self.multapses:
            out["multapses"] = False
        return out


def _check_degree(owner: str, what: str, k: Any, n: int, same: bool, autapses: bool, multapses: bool) -> None:
    validate.integer(owner, f"connector.{what}", k, minimum=0)
    validate.boolean(owner, "connector.multapses", multapses)
    validate.boolean(owner, "connector.autapses", autapses)
    avail = n - 1 if (same and not autapses) else n
    if k > 0 and avail < 1:
        raise ValueError(f"{owner}: connector.{what} = {k} but there is no neuron to draw from")
    if not multapses and k > avail:
        raise ValueError(f"{owner}: connector.{what} must be <= {avail} (the neurons available "
                         f"without multapses), got {k}")


@dataclass(frozen=True)
class FixedInDegree:
    indegree: int
    multapses: bool = True
    autapses: bool = True
    rule = "fixed_indegree"

    def check(self, owner: str, n_pre: int, n_post: int, same: bool) -> None:
        _check_degree(owner, "indegree", self.indegree, n_pre, same, self.autapses, self.multapses)

    def connect(self, key, n_pre, n_post, targets, pre_gid0, post_gid0, same) -> Synapses:
        k = int(self.indegree)
        out = np.empty((targets.size, k), dtype=np.int64)
        _sample_rows(key[0], key[1], (targets + post_gid0).astype(np.uint64),
                     _exclude(targets, same, self.autapses), n_pre, k, self.multapses, out)
        return Synapses(out.ravel(), np.repeat(targets.astype(np.int64), k), None)

    def to_plain(self) -> dict[str, Any]:
        return {"rule": self.rule, "indegree": self.indegree, "multapses": self.multapses,
                "autapses": self.autapses}


@dataclass(frozen=True)
class FixedOutDegree:
    outdegree: int
    multapses: bool = True
    autapses: bool = True
    rule = "fixed_outdegree"

    def check(self, owner: str, n_pre: int, n_post: int, same: bool) -> None:
        _check_degree(owner, "outdegree", self.outdegree, n_post, same, self.autapses, self.multapses)

    def connect(self, key, n_pre, n_post, targets, pre_gid0, post_gid0, same) -> Synapses:
        k = int(self.outdegree)
        sources = np.arange(n_pre, dtype=np.int64)
        out = np.empty((n_pre, k), dtype=np.int64)
        _sample_rows(key[0], key[1], (sources + pre_gid0).astype(np.uint64),
                     _exclude(sources, same, self.autapses), n_post, k, self.multapses, out)
        wanted = np.zeros(n_post, dtype=bool)
        wanted[targets] = True
        pre = np.repeat(sources, k)
        post = out.ravel()
        keep = wanted[post]
        pre, post = pre[keep], post[keep]
        # Group by target in the caller's order; within a target, by (source, draw).
        rank_of = np.empty(n_post, dtype=np.int64)
        rank_of[targets] = np.arange(targets.size)
        order = np.argsort(rank_of[post], kind="stable")
        return Synapses(pre[order], post[order], None)

    def to_plain(self) -> dict[str, Any]:
        return {"rule": self.rule, "outdegree": self.outdegree, "multapses": self.multapses,
                "autapses": self.autapses}


@njit(cache=True)
def _uniform_rows(k0, k1, rows, exclude, n, counts, offsets, out):
    # Row r draws counts[r] independent uniform indices in [0, n), exclude[r] left out.
    for r in range(rows.size):
        ex = exclude[r]
        avail = n - 1 if ex >= 0 else n
        base = offsets[r]
        for i in range(counts[r]):
            x = np.int64(uniform_at(k0, k1, rows[r], i) * avail)
            if ex >= 0 and x >= ex:
                x += 1
            out[base + i] = x


@dataclass(frozen=True)
class FixedTotalNumber:
    """Exactly ``n`` synapses, each an independent uniform draw from the allowed pairs
    (NEST's ``fixed_total_number``), generated on the target side.

    NEST draws ``n`` (source, target) pairs uniformly and independently, redrawing
    self-pairs when autapses are off. That law factorises: the numbers of synapses of
    the targets are Multinomial(n; 1 / n_post each), because every target has the same
    number of allowed sources (``n_pre``, or ``n_pre - 1`` without autapses), and given
    its count each target's sources are independent uniform draws from its allowed
    sources. distsnn samples it in that order: every rank draws the whole count vector
    from the projection's stream (rows ``2**63 + target index``; O(n_post) work and
    memory, no synapse stored), then each requested target draws its sources from its
    own row (its gid), as fixed in-degree does with multapses. A target's synapses
    therefore do not depend on which rank builds them.
    """

    n: int
    multapses: bool = True
    autapses: bool = True
    rule = "fixed_total_number"

    def check(self, owner: str, n_pre: int, n_post: int, same: bool) -> None:
        validate.integer(owner, "connector.n", self.n, minimum=0)
        validate.boolean(owner, "connector.multapses", self.multapses)
        validate.boolean(owner, "connector.autapses", self.autapses)
        if self.n >= 2**62:
            raise ValueError(f"{owner}: connector.n must be < 2**62, got {self.n}")
        if not self.multapses:
            raise ValueError(f"{owner}: connector.multapses must be true for fixed_total_number "
                             f"(NEST does not implement it either), got false")
        avail = n_pre - 1 if (same and not self.autapses) else n_pre
        if self.n > 0 and avail < 1:
            raise ValueError(f"{owner}: connector.n = {self.n} but there is no neuron to draw from")

    def counts(self, key: tuple[int, int], n_post: int) -> np.ndarray:
        """Number of synapses of every target of the projection (int64, n_post)."""
        return multinomial_equal(key[0], key[1], int(self.n), int(n_post), COUNT_ROW)

    def connect(self, key, n_pre, n_post, targets, pre_gid0, post_gid0, same) -> Synapses:
        targets = targets.astype(np.int64)
        k = self.counts(key, n_post)[targets]
        offsets = np.zeros(targets.size, dtype=np.int64)
        if targets.size:
            np.cumsum(k[:-1], out=offsets[1:])
        pre = np.empty(int(k.sum()), dtype=np.int64)
        _uniform_rows(key[0], key[1], (targets + post_gid0).astype(np.uint64),
                      _exclude(targets, same, self.autapses), n_pre, k, offsets, pre)
        return Synapses(pre, np.repeat(targets, k), None)

    def to_plain(self) -> dict[str, Any]:
        return {"rule": self.rule, "n": self.n, "multapses": self.multapses, "autapses": self.autapses}


@dataclass(frozen=True, eq=False)
class EdgeList:
    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray | None = None
    delay: np.ndarray | None = None
    path: str | None = field(default=None)
    rule = "edge_list"

    @classmethod
    def from_file(cls, path: str, owner: str = "EdgeList", max_bytes: float | None = None) -> "EdgeList":
        """The edges of a CSV, NPZ or HDF5 file (UTF-8 for CSV; see the module docstring).

        ``max_bytes``: refuse, before reading, a file whose columns would take more bytes
        in memory (``None``: no limit). A file with no edges is accepted with an
        :class:`~distsnn.validate.InputWarning`.
        """
        path = validate.existing_file(owner, "connector.file", path)
        cols = edgefiles.read(owner, path, max_bytes)
        if np.asarray(cols["pre"]).size == 0:
            warnings.warn(f"{owner}: connector.file {path!r} holds no edges; "
                          f"the projection makes no synapses", validate.InputWarning, stacklevel=2)
        return cls(cols["pre"], cols["post"], cols.get("weight"), cols.get("delay"), path=path)

    def check(self, owner: str, n_pre: int, n_post: int, same: bool) -> None:
        # Errors in a file's columns name the file: "connector.pre of 'edges.csv'".
        of = "" if self.path is None else f" of {self.path!r}"
        pre = validate.finite_array(owner, f"connector.pre{of}", self.pre)
        post = validate.finite_array(owner, f"connector.post{of}", self.post)
        if pre.ndim != 1 or pre.shape != post.shape:
            raise ValueError(f"{owner}: connector.pre and connector.post{of} must be 1-D of equal length, "
                             f"got shapes {pre.shape} and {post.shape}")
        for fld, arr, n in (("pre", pre, n_pre), ("post", post, n_post)):
            frac = np.flatnonzero(arr != np.round(arr)) if arr.size else arr[:0]
            if frac.size:
                raise ValueError(f"{owner}: connector.{fld}{of} must hold integer indices, "
                                 f"got {arr[frac[0]]:g} at row {frac[0]}")
            bad = np.flatnonzero((arr < 0) | (arr >= n))
            if bad.size:
                raise ValueError(f"{owner}: connector.{fld}{of} index must be in [0, {n - 1}], "
                                 f"got {arr[bad[0]]:g} at row {bad[0]}")
        for fld in ("weight", "delay"):
            col = getattr(self, fld)
            if col is not None:
                col = validate.finite_array(owner, f"connector.{fld}{of}", col)
                if col.shape != pre.shape:
                    raise ValueError(f"{owner}: connector.{fld}{of} must have one value per edge "
                                     f"({pre.size}), got shape {col.shape}")

    def connect(self, key, n_pre, n_post, targets, pre_gid0, post_gid0, same) -> Synapses:
        pre = np.asarray(self.pre, dtype=np.int64)
        post = np.asarray(self.post, dtype=np.int64)
        rank_of = np.full(n_post, -1, dtype=np.int64)
        rank_of[targets] = np.arange(targets.size)
        rows = np.flatnonzero(rank_of[post] >= 0)
        rows = rows[np.argsort(rank_of[post[rows]], kind="stable")]
        return Synapses(pre[rows], post[rows], rows.astype(np.int64))

    def to_plain(self) -> dict[str, Any]:
        if self.path is not None:
            return {"rule": self.rule, "file": self.path}
        out: dict[str, Any] = {"rule": self.rule, "pre": np.asarray(self.pre).astype(int).tolist(),
                               "post": np.asarray(self.post).astype(int).tolist()}
        for fld in ("weight", "delay"):
            if getattr(self, fld) is not None:
                out[fld] = np.asarray(getattr(self, fld), dtype=float).tolist()
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EdgeList):
            return False
        return all(_same_array(getattr(self, f), getattr(other, f)) for f in ("pre", "post", "weight", "delay"))

    __hash__ = None


Connector = Union[AllToAll, OneToOne, FixedProbability, FixedInDegree, FixedOutDegree, FixedTotalNumber,
                  EdgeList]

_RULES: dict[str, tuple[type, tuple[str, ...]]] = {
    "all_to_all": (AllToAll, ("autapses",)),
    "one_to_one": (OneToOne, ()),
    "fixed_probability": (FixedProbability, ("p", "autapses", "multapses")),
    "fixed_indegree": (FixedInDegree, ("indegree", "multapses", "autapses")),
    "fixed_outdegree": (FixedOutDegree, ("outdegree", "multapses", "autapses")),
    "fixed_total_number": (FixedTotalNumber, ("n", "multapses", "autapses")),
    "edge_list": (EdgeList, ("pre", "post", "weight", "delay", "file")),
}
_REQUIRED = {"fixed_probability": ("p",), "fixed_indegree": ("indegree",),
             "fixed_outdegree": ("outdegree",), "fixed_total_number": ("n",)}
#: NEST's names, accepted in TOML and plain dicts.
_RULE_ALIASES = {"pairwise_bernoulli": "fixed_probability"}
_FIELD_ALIASES = {"allow_autapses": "autapses", "allow_multapses": "multapses", "N": "n"}


def parse(owner: str, spec: Any, max_bytes: float | None = None) -> Connector:
    """A connector from its Python object or its TOML table ``{rule = "...", ...}``;
    ``max_bytes`` bounds an edge-list file's columns in memory (see :meth:`EdgeList.from_file`)."""
    if isinstance(spec, (AllToAll, OneToOne, FixedProbability, FixedInDegree, FixedOutDegree, FixedTotalNumber,
                         EdgeList, StoredEdges)) or getattr(spec, "rule", None) == "spatial":
        return spec
    validate.mapping(owner, "connector", spec)
    spec = _nest_names(owner, spec)
    rule = spec.get("rule")
    if rule == "spatial":
        from .spatial import Spatial

        return Spatial.from_plain(owner, spec)
    validate.choice(owner, "connector.rule", rule, _RULES)
    cls, fields = _RULES[rule]
    args = {k: v for k, v in spec.items() if k != "rule"}
    validate.known_fields(f"{owner} connector ({rule})", args, fields)
    for req in _REQUIRED.get(rule, ()):
        if req not in args:
            raise ValueError(f"{owner}: connector.{req} is required for rule {rule!r}")
    if rule == "edge_list":
        if "file" in args:
            if "pre" in args or "post" in args:
                raise ValueError(f"{owner}: connector takes either 'file' or 'pre'/'post', not both")
            return EdgeList.from_file(args["file"], owner, max_bytes)
        if "pre" not in args or "post" not in args:
            raise ValueError(f"{owner}: connector (edge_list) needs 'pre' and 'post' arrays or a 'file'")
        return EdgeList(*(None if args.get(f) is None else validate.finite_array(owner, f"connector.{f}", args[f])
                          for f in ("pre", "post", "weight", "delay")))
    return cls(**args)


def _nest_names(owner: str, spec: Any) -> dict[str, Any]:
    """``spec`` with NEST's rule and flag names replaced by distsnn's."""
    out: dict[str, Any] = {}
    for k, v in spec.items():
        if k == "rule" and isinstance(v, str):
            v = _RULE_ALIASES.get(v, v)
        k2 = _FIELD_ALIASES.get(k, k)
        if k2 in out:
            raise ValueError(f"{owner}: connector.{k2} is given twice (as {k2!r} and {k!r})")
        out[k2] = v
    return out


def _same_array(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(np.asarray(a), np.asarray(b))
