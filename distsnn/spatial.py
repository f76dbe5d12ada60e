"""The distance-dependent connector (NEST's ``nest.spatial``) between populations with
positions (:mod:`distsnn.positions`).

The connector ``Spatial(p, radius=None, delay=None, autapses=True, mask=None)`` tries
every (source, target) pair once (NEST's ``pairwise_bernoulli`` with a spatial ``p``)
and connects it with probability ``p(d)``, ``d`` the (wrapped) distance, when the
source lies in the mask centred on the target: ``d <= radius``, or one of NEST's masks
(circular, spherical, doughnut, rectangular, box; :class:`Mask`); none by default.
Kernels ``p(d)``, as ``nest.spatial_distributions``, clipped to [0, 1]:

=============  ========================================  ==================
kind           p(d)                                      fields
=============  ========================================  ==================
``constant``   ``p0``                                    ``p0``
``gaussian``   ``p0 exp(-(d - mean)^2 / (2 sigma^2))``   ``p0, sigma, mean``
``exponential`` ``p0 exp(-d / beta)``                    ``p0, beta``
``linear``     ``p0 + slope d``                          ``p0, slope``
=============  ========================================  ==================

``delay = {"offset": d0, "slope": c}`` gives each synapse the delay ``d0 + c d`` ms
(NEST's ``d0 + c * nest.spatial.distance``), rounded to steps as every delay, and
``weight = {"scale": w, "kernel": {...}}`` the weight ``w kernel(d)`` (e.g. a gaussian
profile); the projection's own ``delay`` / ``weight`` must then be left out.

With ``indegree = K`` (NEST's spatial ``fixed_indegree``) each target instead draws
exactly K sources among those in its mask, with probability proportional to ``p(d)``
(without ``multapses``, a repeat is redrawn). With ``outdegree = K`` (NEST's spatial
``fixed_outdegree``) each source draws exactly K targets among those in the mask
centred on the source (the displacement taken from source to target, as NEST does),
with probability proportional to ``p(d)``.

The pair (source j, target gid) uses draw j of row gid of the projection's stream (a
fixed in-degree: draw i for its i-th source), so a target's synapses are the same
whichever rank builds them. A fixed out-degree uses draw i of row (source gid) for the
source's i-th target: every rank makes every source's draws (as NEST's processes do,
O(sources x K) work, in blocks of at most ``OUT_BLOCK`` draws, so no rank holds the
whole projection) and keeps the synapses onto its own targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import spatial_loops as loops
from . import validate
from .connectors import Synapses
from .positions import Free, Grid, Layout, Random, axis_values, parse_positions


#: Draws of a fixed out-degree made at once (sources x outdegree, at least one source):
#: bounds the memory of a build to about 25 bytes each.
OUT_BLOCK = 1 << 22


# -- kernels --------------------------------------------------------------------------

_KERNELS = {"constant": ("p0",), "gaussian": ("p0", "sigma", "mean"), "exponential": ("p0", "beta"),
            "linear": ("p0", "slope")}
_KERNEL_CODE = {"constant": 0, "gaussian": 1, "exponential": 2, "linear": 3}


@dataclass(frozen=True)
class Kernel:
    """Connection probability as a function of distance (see the module table)."""

    kind: str
    p0: float = 1.0
    sigma: float = 1.0
    mean: float = 0.0
    beta: float = 1.0
    slope: float = 0.0

    def __call__(self, d: np.ndarray) -> np.ndarray:
        return loops.kernel_values(_KERNEL_CODE[self.kind], self.params(), np.asarray(d, dtype=np.float64))

    def params(self) -> np.ndarray:
        return np.array([self.p0, self.sigma, self.mean, self.beta, self.slope])

    def to_plain(self) -> dict[str, Any]:
        return {"kind": self.kind, **{k: getattr(self, k) for k in _KERNELS[self.kind]}}


def parse_kernel(owner: str, spec: Any) -> Kernel:
    if isinstance(spec, Kernel):
        spec = spec.to_plain()
    if not isinstance(spec, dict):
        p = validate.in_range(owner, "connector.p", spec, 0.0, 1.0)
        return Kernel("constant", p0=p)
    kind = validate.choice(owner, "connector.p.kind", spec.get("kind"), _KERNELS)
    validate.known_fields(f"{owner} connector.p ({kind})", {k: v for k, v in spec.items() if k != "kind"},
                          _KERNELS[kind])
    vals = {k: validate.number(owner, f"connector.p.{k}", v) for k, v in spec.items() if k != "kind"}
    if "p0" in vals:
        validate.in_range(owner, "connector.p.p0", vals["p0"], 0.0, 1.0)
    for k in ("sigma", "beta"):
        if k in vals:
            validate.positive(owner, f"connector.p.{k}", vals[k])
    return Kernel(kind, **vals)


_MASKS = {"circular": (2, ("radius",)), "spherical": (3, ("radius",)),
          "doughnut": (2, ("inner_radius", "outer_radius")),
          "rectangular": (2, ("lower_left", "upper_right")), "box": (3, ("lower_left", "upper_right"))}


@dataclass(frozen=True)
class Mask:
    """NEST's masks, centred on the target, in the target's frame (``source - target``):
    ``circular`` / ``spherical`` (``radius``), ``doughnut`` (``inner_radius``,
    ``outer_radius``; 2-D), ``rectangular`` / ``box`` (``lower_left``, ``upper_right``
    corners of the displacement; 2-D / 3-D)."""

    kind: str
    radius: float | None = None
    inner_radius: float | None = None
    outer_radius: float | None = None
    lower_left: tuple[float, ...] | None = None
    upper_right: tuple[float, ...] | None = None

    @property
    def dim(self) -> int:
        return _MASKS[self.kind][0]

    def arrays(self) -> tuple[int, np.ndarray]:
        prm = np.zeros(8)
        if self.kind in ("circular", "spherical"):
            prm[1] = self.radius
            return 1, prm
        if self.kind == "doughnut":
            prm[0], prm[1] = self.inner_radius, self.outer_radius
            return 2, prm
        prm[2:2 + len(self.lower_left)] = self.lower_left
        prm[5:5 + len(self.upper_right)] = self.upper_right
        return 3, prm

    def reach(self, dim: int) -> np.ndarray:
        """Largest |source - target| along each axis that the mask lets through."""
        if self.kind in ("circular", "spherical"):
            return np.full(dim, self.radius)
        if self.kind == "doughnut":
            return np.full(dim, self.outer_radius)
        return np.maximum(np.abs(self.lower_left), np.abs(self.upper_right))

    def to_plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for k in _MASKS[self.kind][1]:
            v = getattr(self, k)
            out[k] = list(v) if isinstance(v, tuple) else v
        return out


def parse_mask(owner: str, spec: Any) -> Mask:
    if isinstance(spec, Mask):
        spec = spec.to_plain()
    validate.mapping(owner, "connector.mask", spec)
    kind = validate.choice(owner, "connector.mask.kind", spec.get("kind"), _MASKS)
    dim, names = _MASKS[kind]
    validate.known_fields(f"{owner} connector.mask ({kind})", {k: v for k, v in spec.items() if k != "kind"}, names)
    for k in names:
        if k not in spec:
            raise ValueError(f"{owner}: connector.mask.{k} is required for a {kind} mask")
    if kind in ("circular", "spherical"):
        return Mask(kind, radius=validate.positive(owner, "connector.mask.radius", spec["radius"]))
    if kind == "doughnut":
        r_in = validate.non_negative(owner, "connector.mask.inner_radius", spec["inner_radius"])
        r_out = validate.number(owner, "connector.mask.outer_radius", spec["outer_radius"])
        if not r_out > r_in:
            raise ValueError(f"{owner}: connector.mask.outer_radius must be > inner_radius = {r_in}, got {r_out}")
        return Mask(kind, inner_radius=r_in, outer_radius=r_out)
    ll = axis_values(owner, "connector.mask.lower_left", spec["lower_left"], dim)
    ur = axis_values(owner, "connector.mask.upper_right", spec["upper_right"], dim)
    if not all(a < b for a, b in zip(ll, ur)):
        raise ValueError(f"{owner}: connector.mask.upper_right must exceed lower_left = {list(ll)} on every "
                         f"axis, got {list(ur)}")
    return Mask(kind, lower_left=ll, upper_right=ur)


@dataclass(frozen=True)
class DelayRule:
    """Delay ``offset + slope * distance`` (ms, ms per unit length)."""

    offset: float
    slope: float = 0.0

    def to_plain(self) -> dict[str, Any]:
        return {"offset": self.offset, "slope": self.slope}


@dataclass(frozen=True)
class WeightRule:
    """Weight ``scale * kernel(d)`` (the unit of the synapse: mV, pA or nS), ``kernel``
    one of the distance kernels (clipped to [0, 1] as the probabilities are)."""

    scale: float
    kernel: Kernel

    def bounds(self) -> tuple[float, float]:
        """Bounds on the weights the rule can give: the kernel lies in [0, 1], at most p0
        except for a rising linear kernel."""
        k_max = 1.0 if self.kernel.kind == "linear" else min(1.0, self.kernel.p0)
        return min(0.0, self.scale * k_max), max(0.0, self.scale * k_max)

    def to_plain(self) -> dict[str, Any]:
        return {"scale": self.scale, "kernel": self.kernel.to_plain()}


def _parse_weight(owner: str, spec: Any) -> WeightRule:
    if isinstance(spec, WeightRule):
        return spec
    validate.mapping(owner, "connector.weight", spec)
    validate.known_fields(f"{owner} connector.weight", spec, ("scale", "kernel"))
    for k in ("scale", "kernel"):
        if k not in spec:
            raise ValueError(f"{owner}: connector.weight.{k} is required")
    kernel = parse_kernel(owner, spec["kernel"])
    return WeightRule(validate.number(owner, "connector.weight.scale", spec["scale"]), kernel)


@dataclass(frozen=True)
class Spatial:
    """Distance-dependent pairwise connections between populations with positions.

    Parameters
    ----------
    p : float or Kernel or dict
        Connection probability, constant or a kernel of the distance (module table).
    radius : float, optional
        Only pairs at distance <= radius (length units) are tried (a circular or
        spherical mask).
    mask : Mask or dict, optional
        One of NEST's masks (:class:`Mask`), instead of ``radius``.
    delay : DelayRule or dict, optional
        Distance-dependent delay ``{"offset": ms, "slope": ms per unit}``.
    autapses : bool
        Whether a neuron may connect to itself (same population only).
    multapses : bool
        With ``indegree`` (``outdegree``): whether a source (target) may be drawn twice
        for one target (source).
    indegree : int, optional
        NEST's spatial ``fixed_indegree``: each target draws exactly this many sources
        from those in its mask, with probability proportional to ``p(d)``.
    weight : WeightRule or dict, optional
        Distance-dependent weight ``{"scale": w, "kernel": {...}}``: ``w kernel(d)``.
    outdegree : int, optional
        NEST's spatial ``fixed_outdegree``: each source draws exactly this many targets
        from those in the mask centred on it, with probability proportional to ``p(d)``.
    """

    p: Any
    radius: float | None = None
    delay: DelayRule | None = None
    autapses: bool = True
    multapses: bool = True
    mask: Mask | None = None
    indegree: int | None = None
    weight: WeightRule | None = None
    outdegree: int | None = None
    rule = "spatial"
    # Filled in by Network.add_projection: the layouts and names of the two populations.
    pre_layout: Layout | None = field(default=None, compare=False)
    post_layout: Layout | None = field(default=None, compare=False)
    names: tuple[str, str] = field(default=("", ""), compare=False)
    seed: int = field(default=0, compare=False)
    gid0s: tuple[int, int] = field(default=(0, 0), compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.p, Kernel):
            object.__setattr__(self, "p", parse_kernel("Spatial", self.p))
        if isinstance(self.delay, dict):
            object.__setattr__(self, "delay", _parse_delay("Spatial", self.delay))
        if isinstance(self.mask, dict):
            object.__setattr__(self, "mask", parse_mask("Spatial", self.mask))
        if isinstance(self.weight, dict):
            object.__setattr__(self, "weight", _parse_weight("Spatial", self.weight))

    @classmethod
    def from_plain(cls, owner: str, spec: dict[str, Any]) -> "Spatial":
        validate.known_fields(f"{owner} connector (spatial)", spec,
                              ("rule", "p", "radius", "mask", "delay", "weight", "autapses", "multapses",
                               "indegree", "outdegree"))
        if "p" not in spec:
            raise ValueError(f"{owner}: connector.p is required for rule 'spatial'")
        delay = None if spec.get("delay") is None else _parse_delay(owner, spec["delay"])
        mask = None if spec.get("mask") is None else parse_mask(owner, spec["mask"])
        weight = None if spec.get("weight") is None else _parse_weight(owner, spec["weight"])
        return cls(parse_kernel(owner, spec["p"]), spec.get("radius"), delay,
                   spec.get("autapses", True), spec.get("multapses", True), mask, spec.get("indegree"), weight,
                   spec.get("outdegree"))

    def bind(self, pre: Layout | None, post: Layout | None, names: tuple[str, str], seed: int,
             gid0s: tuple[int, int]) -> "Spatial":
        """A copy that knows its populations' layouts, names and first gids and the seed
        (for :meth:`expected_counts`; :meth:`connect` takes the seed from its key)."""
        return Spatial(self.p, self.radius, self.delay, self.autapses, self.multapses, self.mask, self.indegree,
                       self.weight, self.outdegree, pre, post, names, seed, gid0s)

    def check(self, owner: str, n_pre: int, n_post: int, same: bool) -> None:
        validate.boolean(owner, "connector.autapses", self.autapses)
        validate.boolean(owner, "connector.multapses", self.multapses)
        if self.indegree is not None:
            validate.integer(owner, "connector.indegree", self.indegree, minimum=0)
        if self.outdegree is not None:
            validate.integer(owner, "connector.outdegree", self.outdegree, minimum=0)
            if self.indegree is not None:
                raise ValueError(f"{owner}: connector takes indegree or outdegree, not both")
        if self.radius is not None:
            validate.positive(owner, "connector.radius", self.radius)
            if self.mask is not None:
                raise ValueError(f"{owner}: connector takes radius or mask, not both")
        if isinstance(self.delay, dict):
            _parse_delay(owner, self.delay)
        for role, lay in (("pre", self.pre_layout), ("post", self.post_layout)):
            if lay is None:
                raise ValueError(f"{owner}: a spatial connector needs positions on its {role} population "
                                 f"{self.names[0 if role == 'pre' else 1]!r}")
        a, b = self.pre_layout, self.post_layout
        if a.dim != b.dim:
            raise ValueError(f"{owner}: pre and post positions must have the same dimension, got {a.dim} and {b.dim}")
        if a.edge_wrap != b.edge_wrap or (a.edge_wrap and not np.array_equal(a.box()[0], b.box()[0])):
            raise ValueError(f"{owner}: periodic (edge_wrap) positions must be set on both populations "
                             f"with the same extent")
        if self.mask is not None and self.mask.dim != a.dim:
            raise ValueError(f"{owner}: connector.mask {self.mask.kind!r} is {self.mask.dim}-D, the positions "
                             f"are {a.dim}-D")

    def min_delay(self) -> float:
        """The smallest delay the rule can give (ms): its offset (distances are >= 0)."""
        return self.delay.offset

    def max_delay(self) -> float:
        """The largest delay the rule can give (ms): at the largest distance within the
        mask's reach and the boxes (half a box when wrapped)."""
        if self.delay is None or self.pre_layout is None or self.post_layout is None:
            return 0.0 if self.delay is None else self.delay.offset
        (ea, ca), (eb, cb) = self.pre_layout.box(), self.post_layout.box()
        span = np.maximum(ea, eb) / 2 if self.pre_layout.edge_wrap else (ea + eb) / 2 + np.abs(ca - cb)
        reach = self._reach(self.pre_layout.dim)
        if reach is not None:
            span = np.minimum(span, reach)
        return self.delay.offset + self.delay.slope * float(np.sqrt(np.sum(np.square(span))))

    def _arrays(self, seed: int, gid0s: tuple[int, int], n_pre: int, targets: np.ndarray):
        spos = self.pre_layout.coordinates(seed, self.names[0], gid0s[0], np.arange(n_pre))
        tpos = self.post_layout.coordinates(seed, self.names[1], gid0s[1], targets)
        ext = self.pre_layout.box()[0]
        mcode, mprm = self._mask_arrays()
        return spos, np.ascontiguousarray(tpos), ext, mcode, mprm

    def _mask_arrays(self) -> tuple[int, np.ndarray]:
        if self.mask is not None:
            return self.mask.arrays()
        if self.radius is not None:
            return 1, np.array([0.0, float(self.radius)] + [0.0] * 6)
        return 0, np.zeros(8)

    def _reach(self, dim: int) -> np.ndarray | None:
        if self.mask is not None:
            return self.mask.reach(dim)
        return None if self.radius is None else np.full(dim, float(self.radius))

    def connect(self, key, n_pre, n_post, targets, pre_gid0, post_gid0, same) -> Synapses:
        targets = targets.astype(np.int64)
        if self.outdegree is not None:
            return self._connect_out(key, n_pre, n_post, targets, pre_gid0, post_gid0, same)
        spos, tpos, ext, mcode, mprm = self._arrays(key[0], (pre_gid0, post_gid0), n_pre, targets)
        rows = (targets + post_gid0).astype(np.uint64)
        exclude = targets if (same and not self.autapses) else np.full(targets.size, -1, np.int64)
        code, prm = _KERNEL_CODE[self.p.kind], self.p.params()
        counts = np.zeros(targets.size, dtype=np.int64)
        ext_pre, cen = self.pre_layout.box()
        buckets = loops.buckets(spos, cen - ext_pre / 2, ext_pre, self._reach(spos.shape[1]))
        args = (key[0], key[1], rows, tpos, spos, exclude, self.pre_layout.edge_wrap, ext, code, prm, mcode, mprm,
                *buckets)
        if self.indegree is not None:
            k = int(self.indegree)
            pre = np.empty(targets.size * k, dtype=np.int64)
            dist = np.empty(pre.size)
            bad = loops.indegree_rows(*args, k, self.multapses, pre, dist)
            if bad >= 0:
                raise ValueError(f"Projection {self.names[0]}->{self.names[1]} (spatial): target "
                                 f"{int(targets[bad])} has fewer than indegree = {k} sources with p > 0 in its mask"
                                 f"{'' if self.multapses else ' (multapses are off)'}")
            counts[:] = k
        else:
            loops.pairwise_rows(*args, False, np.zeros(0, np.int64), np.zeros(0), counts)
            pre = np.empty(int(counts.sum()), dtype=np.int64)
            dist = np.empty(pre.size)
            loops.pairwise_rows(*args, True, pre, dist, counts)
        return self._synapses(pre, np.repeat(targets, counts), dist)

    def _synapses(self, pre: np.ndarray, post: np.ndarray, dist: np.ndarray) -> Synapses:
        delay = None if self.delay is None else self.delay.offset + self.delay.slope * dist
        weight = None if self.weight is None else self.weight.scale * self.weight.kernel(dist)
        return Synapses(pre, post, None, weight=weight, delay=delay)

    def _connect_out(self, key, n_pre, n_post, targets, pre_gid0, post_gid0, same) -> Synapses:
        # Fixed out-degree: the in-degree loop with the roles swapped (rows are sources,
        # candidates every target, the mask centred on the source and the displacement
        # target - source), over every source in blocks; the synapses onto ``targets``
        # are kept and grouped by target in the caller's order, by (source, draw) within.
        k = int(self.outdegree)
        all_targets = np.arange(n_post)
        tpos_all = self.post_layout.coordinates(key[0], self.names[1], post_gid0, all_targets)
        ext_post, cen = self.post_layout.box()
        buckets = loops.buckets(tpos_all, cen - ext_post / 2, ext_post, self._reach(tpos_all.shape[1]))
        ext = self.pre_layout.box()[0]
        mcode, mprm = self._mask_arrays()
        code, prm = _KERNEL_CODE[self.p.kind], self.p.params()
        wanted = np.zeros(n_post, dtype=bool)
        wanted[targets] = True
        pres, posts, dists = [], [], []
        block = max(1, OUT_BLOCK // max(k, 1))
        for lo in range(0, n_pre, block):
            sources = np.arange(lo, min(n_pre, lo + block), dtype=np.int64)
            spos = np.ascontiguousarray(self.pre_layout.coordinates(key[0], self.names[0], pre_gid0, sources))
            exclude = sources if (same and not self.autapses) else np.full(sources.size, -1, np.int64)
            post = np.empty(sources.size * k, dtype=np.int64)
            dist = np.empty(post.size)
            bad = loops.indegree_rows(key[0], key[1], (sources + pre_gid0).astype(np.uint64), spos, tpos_all, exclude,
                                      self.pre_layout.edge_wrap, ext, code, prm, mcode, mprm, *buckets, k,
                                      self.multapses, post, dist)
            if bad >= 0:
                raise ValueError(f"Projection {self.names[0]}->{self.names[1]} (spatial): source "
                                 f"{int(sources[bad])} has fewer than outdegree = {k} targets with p > 0 in its "
                                 f"mask{'' if self.multapses else ' (multapses are off)'}")
            keep = wanted[post]
            pres.append(np.repeat(sources, k)[keep])
            posts.append(post[keep])
            dists.append(dist[keep])
        pre, post, dist = (np.concatenate(a) if a else np.zeros(0, t) for a, t in
                           ((pres, np.int64), (posts, np.int64), (dists, np.float64)))
        rank_of = np.empty(n_post, dtype=np.int64)
        rank_of[targets] = np.arange(targets.size)
        order = np.argsort(rank_of[post], kind="stable")
        return self._synapses(pre[order], post[order], dist[order])

    def expected_counts(self, n_pre: int, n_post: int, same: bool, chunk: int) -> np.ndarray:
        """Expected synapses between chunks of ``chunk`` neurons (pre chunks x post chunks):
        the sum of p over the pairs; above ``loops.EXPECTED_MAX_PAIRS`` pairs, an unbiased
        estimate from every stride-th source (a scrambled offset per target), for the partitioner."""
        spos, tpos, ext, mcode, mprm = self._arrays(self.seed, self.gid0s, n_pre, np.arange(n_post))
        na, nb = -(-n_pre // chunk), -(-n_post // chunk)
        stride = max(1, -(-n_pre * n_post // loops.EXPECTED_MAX_PAIRS))
        if self.outdegree is not None:
            # per source, outdegree x p / sum(p) over its targets: the in-degree sum with
            # the roles swapped (displacement target - source), transposed
            return loops.expected_chunks(tpos, spos, same, self.autapses, self.pre_layout.edge_wrap, ext,
                                         _KERNEL_CODE[self.p.kind], self.p.params(), mcode, mprm, chunk, nb, na,
                                         stride, int(self.outdegree)).T.copy()
        k = -1 if self.indegree is None else int(self.indegree)
        return loops.expected_chunks(spos, tpos, same, self.autapses, self.pre_layout.edge_wrap, ext,
                                _KERNEL_CODE[self.p.kind], self.p.params(), mcode, mprm, chunk, na, nb, stride, k)

    def to_plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "p": self.p.to_plain(), "autapses": self.autapses}
        if self.radius is not None:
            out["radius"] = self.radius
        if self.mask is not None:
            out["mask"] = self.mask.to_plain()
        if self.indegree is not None:
            out["indegree"] = self.indegree
            out["multapses"] = self.multapses
        if self.outdegree is not None:
            out["outdegree"] = self.outdegree
            out["multapses"] = self.multapses
        if self.delay is not None:
            out["delay"] = self.delay.to_plain()
        if self.weight is not None:
            out["weight"] = self.weight.to_plain()
        return out


def _parse_delay(owner: str, spec: Any) -> DelayRule:
    if isinstance(spec, DelayRule):
        return spec
    validate.mapping(owner, "connector.delay", spec)
    validate.known_fields(f"{owner} connector.delay", spec, ("offset", "slope"))
    if "offset" not in spec:
        raise ValueError(f"{owner}: connector.delay.offset (ms) is required")
    off = validate.positive(owner, "connector.delay.offset", spec["offset"], "ms")
    slope = validate.non_negative(owner, "connector.delay.slope", spec.get("slope", 0.0), "ms")
    return DelayRule(off, slope)


__all__ = ["Kernel", "Mask", "DelayRule", "WeightRule", "Spatial", "parse_kernel", "parse_mask",
           # the layouts, from distsnn.positions
           "Grid", "Random", "Free", "Layout", "parse_positions"]
