"""Synapse types, their kernels, and the fixed-point input that carries their weights.

A synapse type says how a weight ``w`` arriving at step ``a`` acts on its target neuron.
It has a *kind* (the time course) and a *mode* (what the time course is):

==============  ==================================================  =====================
kind            time course ``s(t)``, ``t`` ms after the arrival      fields (ms)
==============  ==================================================  =====================
``delta``       the membrane potential jumps by ``w`` mV              none
``exp``         ``w exp(-t / tau)``                                   ``tau``
``double_exp``  ``w f (exp(-t / tau_decay) - exp(-t / tau_rise))``    ``tau_rise < tau_decay``
``alpha``       ``w (e / tau) t exp(-t / tau)``                       ``tau``
==============  ==================================================  =====================

``f = 1 / (exp(-t_peak / tau_decay) - exp(-t_peak / tau_rise))`` normalises the peak,
reached at ``t_peak = tau_rise tau_decay / (tau_decay - tau_rise) ln(tau_decay / tau_rise)``,
to exactly ``w``. The alpha function is normalised as NEST's ``*_alpha`` models: its peak,
at ``t = tau``, is exactly ``w``.

- mode ``current`` (the default): ``s`` is a current in pA, added to the membrane
  equation (NEST's ``*_psc_*`` models). Weights in pA (mV for ``delta``), any sign.
- mode ``conductance``: ``s`` is a conductance in nS that drives the current
  ``s(t) (e_rev - V)`` pA with reversal potential ``e_rev`` (mV) (NEST's ``*_cond_*``).
  Weights in nS, >= 0. ``delta`` has no conductance form (a conductance that lasts no
  time passes no charge) and is rejected.

In TOML: ``"delta"``, ``{kind = "exp", tau = 5.0}``,
``{kind = "double_exp", tau_rise = 1.0, tau_decay = 5.0}``, ``{kind = "alpha", tau = 2.0}``,
``{kind = "exp", mode = "conductance", tau = 5.0, e_rev = 0.0}``.

Each distinct type that reaches a population is one *channel* of it. A neuron model
states which (kind, mode) pairs it accepts and interprets its channels through
:class:`Kernels`: every ``exp`` channel is one exponentially decaying *component*
``S``, every ``double_exp`` channel two (a decay and a rise component, both incremented
by ``w``, so ``s = f (S_decay - S_rise)``), every ``alpha`` channel two as in NEST's
``iaf_psc_alpha``: a *derivative* component ``dS`` that an arrival increments by
``(e / tau) w`` and the alpha function itself ``S``, fed by it. Components decay exactly,
``S <- S exp(-dt / tau)`` (the alpha pair: ``S <- dt exp(-dt / tau) dS + exp(-dt / tau) S``
with the old ``dS``, then ``dS <- exp(-dt / tau) dS``), and take the arrivals of a step
after the membrane update of that step (NEST's order): an arrival at step ``a`` starts
acting at step ``a + 1``.

Fixed-point input. Arriving weights are summed in int64 units of ``QUANTUM`` =
2**-36 of the weight's unit (about 1.5e-11 mV, pA or nS). Integer addition is
associative, so the input a neuron receives is bit-identical whatever the order in which
spikes are delivered, which varies with the number of ranks, the partition and the
epoch length. Weights are rounded once to the nearest quantum when synapses are built;
a build whose summed incoming weights on one channel of one neuron could overflow the
int64 accumulator (more than 2**26 units in one step) is rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from . import validate

QUANTUM = 2.0 ** -36
#: Largest absolute input one channel of one neuron may receive in one step (unit of the weight).
MAX_INPUT = 2.0 ** 26

KINDS = {"delta": (), "exp": ("tau",), "double_exp": ("tau_rise", "tau_decay"), "alpha": ("tau",)}
MODES = ("current", "conductance")
#: Every (kind, mode) pair that exists; models accept a subset.
PAIRS = (("delta", "current"), ("exp", "current"), ("double_exp", "current"), ("alpha", "current"),
         ("exp", "conductance"), ("double_exp", "conductance"), ("alpha", "conductance"))
CURRENT_PAIRS = PAIRS[:4]


@dataclass(frozen=True)
class SynapseType:
    """How a weight acts on the target.

    Parameters
    ----------
    kind : str
        ``"delta"``, ``"exp"``, ``"double_exp"`` or ``"alpha"``.
    tau : float, optional
        Time constant (ms) of ``exp`` (decay) and ``alpha`` (time of the peak).
    mode : str
        ``"current"`` (default) or ``"conductance"``.
    tau_rise, tau_decay : float, optional
        Rise and decay time constants (ms) of ``double_exp``, ``tau_rise < tau_decay``.
    e_rev : float, optional
        Reversal potential (mV), conductance mode only.
    """

    kind: str
    tau: float | None = None
    mode: str = "current"
    tau_rise: float | None = None
    tau_decay: float | None = None
    e_rev: float | None = None

    def __post_init__(self) -> None:
        _check("SynapseType", self.kind, self.mode, self.tau, self.tau_rise, self.tau_decay, self.e_rev)

    @property
    def weight_unit(self) -> str:
        if self.mode == "conductance":
            return "nS"
        return "mV" if self.kind == "delta" else "pA"

    @property
    def pair(self) -> tuple[str, str]:
        return self.kind, self.mode

    def sort_key(self) -> tuple:
        """The canonical order of channels: by kind, mode, then the numbers."""
        nums = (self.tau, self.tau_rise, self.tau_decay, self.e_rev)
        return (self.kind, self.mode) + tuple((v is None, v or 0.0) for v in nums)

    def to_plain(self) -> Any:
        if self.kind == "delta":
            return "delta"
        out: dict[str, Any] = {"kind": self.kind}
        if self.mode != "current":
            out["mode"] = self.mode
        for k in KINDS[self.kind]:
            out[k] = getattr(self, k)
        if self.mode == "conductance":
            out["e_rev"] = self.e_rev
        return out

    def label(self) -> str:
        if self.kind == "delta":
            return "delta"
        parts = [] if self.mode == "current" else ["conductance"]
        parts += [f"{k}={getattr(self, k):g}" for k in KINDS[self.kind]]
        if self.mode == "conductance":
            parts.append(f"e_rev={self.e_rev:g}")
        return f"{self.kind}({', '.join(parts)})"


def _check(owner: str, kind: Any, mode: Any, tau: Any, tau_rise: Any, tau_decay: Any, e_rev: Any) -> None:
    validate.choice(owner, "synapse.kind", kind, KINDS)
    validate.choice(owner, "synapse.mode", mode, MODES)
    if (kind, mode) not in PAIRS:
        raise ValueError(f"{owner}: synapse kind {kind!r} has no {mode} mode (a delta conductance "
                         f"passes no charge); valid pairs: {pair_list(PAIRS)}")
    wanted = set(KINDS[kind]) | ({"e_rev"} if mode == "conductance" else set())
    given = {"tau": tau, "tau_rise": tau_rise, "tau_decay": tau_decay, "e_rev": e_rev}
    for k, v in given.items():
        if k in wanted:
            if v is None:
                what = "mV" if k == "e_rev" else "ms"
                raise ValueError(f"{owner}: synapse.{k} ({what}) is required for {mode} kind {kind!r}")
            if k == "e_rev":
                validate.number(owner, "synapse.e_rev", v, "mV")
            else:
                validate.positive(owner, f"synapse.{k}", v, "ms")
        elif v is not None:
            raise ValueError(f"{owner}: synapse.{k} does not apply to {mode} kind {kind!r} "
                             f"(it takes {', '.join(sorted(wanted)) or 'no fields'})")
    if kind == "double_exp" and not tau_rise < tau_decay:
        raise ValueError(f"{owner}: synapse.tau_rise must be < tau_decay = {tau_decay} ms, got {tau_rise}")


def parse(owner: str, spec: Any) -> SynapseType:
    """A synapse type from ``"delta"``, a table such as ``{kind = "exp", tau = 5.0}``, or a
    :class:`SynapseType`; errors name ``owner``."""
    if isinstance(spec, SynapseType):
        return spec
    if isinstance(spec, str):
        spec = {"kind": spec}
    validate.mapping(owner, "synapse", spec)
    kind = spec.get("kind")
    validate.choice(owner, "synapse.kind", kind, KINDS)
    mode = spec.get("mode", "current")
    validate.choice(owner, "synapse.mode", mode, MODES)
    allowed = KINDS[kind] + (("e_rev",) if mode == "conductance" else ())
    validate.known_fields(f"{owner} synapse ({mode} {kind})",
                          {k: v for k, v in spec.items() if k not in ("kind", "mode")}, allowed)
    values = {k: validate.number(owner, f"synapse.{k}", spec[k], "mV" if k == "e_rev" else "ms")
              for k in allowed if k in spec}
    fields = {**dict(tau=None, tau_rise=None, tau_decay=None, e_rev=None), **values}
    _check(owner, kind, mode, **fields)
    return SynapseType(kind, mode=mode, **fields)


def pair_list(pairs: Iterable[tuple[str, str]]) -> str:
    """``"delta (current), exp (current), ..."`` for error messages."""
    return ", ".join(f"{k} ({m})" for k, m in pairs) or "none"


def check_accepts(owner: str, syn: SynapseType, model: Any) -> None:
    """Reject a synapse type the target model does not take, naming the pairs it does."""
    if syn.pair not in model.SYNAPSE_KINDS:
        lif = model.NAME == "lif" and syn.mode == "conductance"
        hint = " (use model 'lif_cond' for conductance synapses)" if lif else ""
        raise ValueError(f"{owner}: synapse {syn.kind} ({syn.mode}) does not act on model {model.NAME!r}; "
                         f"it takes {pair_list(model.SYNAPSE_KINDS)}{hint}")


def peak(tau_rise: float, tau_decay: float) -> tuple[float, float]:
    """``(t_peak, f)`` of the double exponential: time of its peak (ms) and the factor that
    makes the peak equal to the weight."""
    t_peak = tau_rise * tau_decay / (tau_decay - tau_rise) * math.log(tau_decay / tau_rise)
    return t_peak, 1.0 / (math.exp(-t_peak / tau_decay) - math.exp(-t_peak / tau_rise))


def sum_rows(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=0)`` in the order row 0, 1, ...: numpy sums a block one column wide
    pairwise instead, so a neuron's value would depend on how many neighbours it has in
    its rank's arrays."""
    out = np.zeros(a.shape[1:], dtype=np.float64)
    for row in a:
        out += row
    return out


@dataclass(frozen=True)
class Kernels:
    """The synaptic components of one population's channels, prepared once.

    ``delta_rows``: channels whose weights jump V (mV). Per component ``k``:
    ``channel[k]`` (whose arrivals it takes), ``tau[k]`` (ms), ``decay[k] = exp(-dt /
    tau[k])``, ``coef[k]`` (1 for ``exp``; ``+f`` and ``-f`` for the decay and rise
    parts of ``double_exp``; ``e / tau`` for the derivative of ``alpha``, 0 for the alpha
    function itself), ``conductance[k]`` and ``e_rev[k]`` (mV, 0 for currents),
    ``feed[k]`` (the component that feeds ``k``, -1 if none: the alpha function is fed
    by its derivative with ``feed_coef[k] = dt exp(-dt / tau)``) and ``readout[k]``
    (whether ``k`` is itself a current or conductance: False for alpha derivatives).

    The synaptic state is an array ``S[k, neuron]`` holding each component's value: the
    current-mode current (pA) is the sum of ``S`` over current readout components and
    the conductance (nS) the sum over conductance readout components.
    """

    delta_rows: np.ndarray
    channel: np.ndarray
    tau: np.ndarray
    decay: np.ndarray
    coef: np.ndarray
    conductance: np.ndarray
    e_rev: np.ndarray
    feed: np.ndarray
    feed_coef: np.ndarray
    readout: np.ndarray

    @property
    def size(self) -> int:
        return int(self.channel.size)

    def zeros(self, n: int) -> np.ndarray:
        return np.zeros((self.size, n), dtype=np.float64)

    def arrive(self, S: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Decay the components over one step, then add the step's arrivals (a fed
        component takes its feeder's value from the start of the step, as NEST's
        ``iaf_psc_alpha`` updates ``I`` before ``dI``, in NEST's operation order)."""
        if not self.size:
            return S
        out = S * self.decay[:, None] + self.coef[:, None] * x[self.channel]
        fed = np.flatnonzero(self.feed >= 0)
        if fed.size:
            out[fed] = self.feed_coef[fed, None] * S[self.feed[fed]] + self.decay[fed, None] * S[fed]
        return out

    def jumps(self, x: np.ndarray) -> np.ndarray | float:
        """Summed delta arrivals (mV) of one step."""
        return sum_rows(x[self.delta_rows]) if self.delta_rows.size else 0.0

    def _shape(self, t: np.ndarray) -> np.ndarray:
        """Per component, what one unit of it at the start of a step contributes to the
        readouts ``t`` ms later: ``exp(-t / tau)``, or ``t exp(-t / tau)`` for an alpha
        derivative (through the alpha function it feeds)."""
        e = np.exp(-t[:, None] / self.tau[None, :])
        return np.where(self.readout[None, :], e, t[:, None] * e)

    def weights_at(self, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Matrices ``(WI, WG, WE)``, shape (times, components), such that ``WI @ S``,
        ``WG @ S`` and ``WE @ S`` are the current-mode current (pA), the total conductance
        (nS) and the sum of conductance x reversal potential (nS mV) at ``offsets`` ms
        after the start of a step, for the state ``S`` at its start."""
        e = self._shape(np.asarray(offsets, dtype=np.float64))
        cond = self.conductance.astype(np.float64)[None, :]
        return e * (1.0 - cond), e * cond, e * cond * self.e_rev[None, :]

    def mean_weights(self, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectors ``(wi, wg, we)``: as :meth:`weights_at`, for the means over ``[0, h]``
        (exact: ``tau / h (1 - exp(-h / tau))``, and for an alpha derivative
        ``tau / h (tau (1 - exp(-h / tau)) - h exp(-h / tau))``)."""
        one_minus = -np.expm1(-h / self.tau)
        e = np.where(self.readout, self.tau / h * one_minus,
                     self.tau / h * (self.tau * one_minus - h * np.exp(-h / self.tau)))
        cond = self.conductance.astype(np.float64)
        return e * (1.0 - cond), e * cond, e * cond * self.e_rev

    def current(self, S: np.ndarray, V: np.ndarray) -> np.ndarray:
        """Total synaptic current (pA) for the state ``S`` and membrane potential ``V``."""
        if not self.size:
            return np.zeros_like(V)
        per = np.where(self.conductance[:, None], S * (self.e_rev[:, None] - V[None, :]), S)
        return sum_rows(per[self.readout])

    def conductance_total(self, S: np.ndarray) -> np.ndarray:
        """Total synaptic conductance (nS)."""
        return sum_rows(S[self.conductance & self.readout])


def kernels(channels: tuple[SynapseType, ...], dt: float) -> Kernels:
    """The components of ``channels`` (in channel order; a double exponential gives its
    decay component, then its rise component; an alpha function its derivative, then
    itself). Decays use the C library's ``exp`` (``math.exp``), as NEST does."""
    ch, tau, coef, cond, erev, feed, feed_coef, readout = [], [], [], [], [], [], [], []
    for i, c in enumerate(channels):
        if c.kind == "exp":
            parts = [(c.tau, 1.0, -1, 0.0)]
        elif c.kind == "double_exp":
            f = peak(c.tau_rise, c.tau_decay)[1]
            parts = [(c.tau_decay, f, -1, 0.0), (c.tau_rise, -f, -1, 0.0)]
        elif c.kind == "alpha":
            # NEST: EPSCInitialValue = e / tau, P21 = h P11 (iaf_psc_alpha::pre_run_hook).
            parts = [(c.tau, math.e / c.tau, -1, 0.0), (c.tau, 0.0, len(ch), dt * math.exp(-dt / c.tau))]
        else:
            continue
        for t, k, fd, fc in parts:
            ch.append(i)
            tau.append(t)
            coef.append(k)
            cond.append(c.mode == "conductance")
            erev.append(c.e_rev if c.mode == "conductance" else 0.0)
            feed.append(fd)
            feed_coef.append(fc)
        readout += [True] if c.kind == "exp" else [True, True] if c.kind == "double_exp" else [False, True]
    feed_a = np.array(feed, dtype=np.int64)
    return Kernels(
        delta_rows=np.array([i for i, c in enumerate(channels) if c.kind == "delta"], dtype=np.int64),
        channel=np.array(ch, dtype=np.int64), tau=np.array(tau, dtype=np.float64),
        decay=np.array([math.exp(-dt / t) for t in tau], dtype=np.float64),
        coef=np.array(coef, dtype=np.float64), conductance=np.array(cond, dtype=bool),
        e_rev=np.array(erev, dtype=np.float64), feed=feed_a,
        feed_coef=np.array(feed_coef, dtype=np.float64), readout=np.array(readout, dtype=bool))


def check_weight(owner: str, syn: SynapseType, low: float, high: float | None = None) -> None:
    """Conductance weights must be >= 0 nS; ``low`` and ``high`` bound the weights that can
    occur. Bounded weights beyond the fixed-point range are rejected here, when the
    projection is added; unbounded distributions are checked on the drawn values."""
    if syn.mode == "conductance" and not low >= 0.0:
        raise ValueError(f"{owner}: weight must be >= 0 nS for conductance synapse {syn.label()}, "
                         f"got values down to {low!r}")
    for bound in (low, low if high is None else high):
        if np.isfinite(bound) and abs(bound) > MAX_INPUT:
            raise ValueError(f"{owner}: weight must be finite with |weight| <= {MAX_INPUT:g}, got {bound!r}")


def quantize(owner: str, weights: np.ndarray) -> np.ndarray:
    """Weights to int64 quanta; rejects weights too large for the accumulator."""
    w = np.asarray(weights, dtype=np.float64)
    bad = np.flatnonzero(~(np.abs(w) <= MAX_INPUT))
    if bad.size:
        raise ValueError(f"{owner}: weight must be finite with |weight| <= {MAX_INPUT:g}, "
                         f"got {float(w[bad[0]])!r}")
    return np.rint(w / QUANTUM).astype(np.int64)
