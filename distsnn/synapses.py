"""Synapse types and the fixed-point input that carries their weights.

A synapse type says how a weight acts on its target neuron:

- ``delta``: the membrane potential jumps by ``weight`` mV on arrival (NEST's
  ``iaf_psc_delta``).
- ``exp`` (current-based): a current ``I`` in pA jumps by ``weight`` pA on arrival and
  decays as ``dI/dt = -I / tau`` with ``tau`` in ms (NEST's ``iaf_psc_exp``).

Each distinct type that reaches a population is one *channel* of it; a neuron model
interprets its channels (for ``exp`` it carries one current per channel).

Fixed-point input. Arriving weights are summed in int64 units of ``QUANTUM`` =
2**-36 of the weight's unit (about 1.5e-11 mV or pA). Integer addition is associative,
so the input a neuron receives is bit-identical whatever the order in which spikes are
delivered, which varies with the number of ranks, the partition and the epoch length.
Weights are rounded once to the nearest quantum when synapses are built; a build whose
summed incoming weights on one channel of one neuron could overflow the int64
accumulator (more than 2**26 units in one step) is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import validate

QUANTUM = 2.0 ** -36
#: Largest absolute input one channel of one neuron may receive in one step (unit of the weight).
MAX_INPUT = 2.0 ** 26

KINDS = {"delta": (), "exp": ("tau",)}
WEIGHT_UNITS = {"delta": "mV", "exp": "pA"}


@dataclass(frozen=True, order=True)
class SynapseType:
    """How a weight acts on the target. ``tau`` in ms (``exp`` only)."""

    kind: str
    tau: float | None = None

    @property
    def weight_unit(self) -> str:
        return WEIGHT_UNITS[self.kind]

    def to_plain(self) -> Any:
        if self.kind == "delta":
            return "delta"
        return {"kind": self.kind, "tau": self.tau}

    def label(self) -> str:
        return self.kind if self.tau is None else f"{self.kind}(tau={self.tau:g})"


def parse(owner: str, spec: Any) -> SynapseType:
    """``"delta"``, ``{kind = "exp", tau = 5.0}`` or a :class:`SynapseType`."""
    if isinstance(spec, SynapseType):
        spec = spec.to_plain()
    if isinstance(spec, str):
        spec = {"kind": spec}
    validate.mapping(owner, "synapse", spec)
    kind = spec.get("kind")
    validate.choice(owner, "synapse.kind", kind, KINDS)
    validate.known_fields(f"{owner} synapse ({kind})", {k: v for k, v in spec.items() if k != "kind"}, KINDS[kind])
    if kind == "exp":
        if "tau" not in spec:
            raise ValueError(f"{owner}: synapse.tau (ms) is required for kind 'exp'")
        return SynapseType("exp", validate.positive(owner, "synapse.tau", spec["tau"], "ms"))
    return SynapseType("delta")


def quantize(owner: str, weights: np.ndarray) -> np.ndarray:
    """Weights to int64 quanta; rejects weights too large for the accumulator."""
    w = np.asarray(weights, dtype=np.float64)
    bad = np.flatnonzero(~(np.abs(w) <= MAX_INPUT))
    if bad.size:
        raise ValueError(f"{owner}: weight must be finite with |weight| <= {MAX_INPUT:g}, "
                         f"got {float(w[bad[0]])!r}")
    return np.rint(w / QUANTUM).astype(np.int64)
