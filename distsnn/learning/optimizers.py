"""Weight optimizers of e-prop, as NEST 3.10's ``WeightOptimizer`` classes.

Every plastic synapse keeps its own optimizer state. Gradients of ``batch_size``
consecutive update intervals are summed, then averaged (NEST's ``cumulative_gradient /
batch_size``), and one optimizer step is taken::

    gradient descent   w <- w - eta g
    Adam               m <- beta_1 m + (1 - beta_1) g
                       v <- beta_2 v + (1 - beta_2) g^2
                       w <- w - eta sqrt(1 - beta_2^k) / (1 - beta_1^k) m / (sqrt(v) + epsilon)

(``k``: the step count, Kingma & Ba 2015 in NEST's form), then ``w`` is clipped to
``[Wmin, Wmax]``. Every operation is elementwise over the synapses, so a synapse's
weight is the same bits whichever rank holds it and whatever its neighbours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .. import validate

KINDS = ("gradient_descent", "adam")


@dataclass(frozen=True)
class OptimizerSpec:
    """type (``"gradient_descent"`` or ``"adam"``), eta (learning rate, weight unit per
    gradient unit), Wmin and Wmax (weight bounds, the synapse's weight unit), batch_size
    (update intervals per optimizer step; in the online mode, :mod:`distsnn.learning.online`,
    steps, as NEST's ``eprop_synapse``), beta_1, beta_2, epsilon (Adam), optimize_each_step
    (online mode only: an optimizer call at every step of an inter-spike interval, or one
    per presynaptic spike). Defaults: NEST 3.10's
    (``nest.GetDefaults("eprop_synapse")["optimizer"]``, Adam's from
    ``WeightOptimizerCommonPropertiesAdam``)."""

    type: str = "gradient_descent"
    eta: float = 1e-4
    Wmin: float = -100.0
    Wmax: float = 100.0
    batch_size: int = 1
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    optimize_each_step: bool = True

    @classmethod
    def parse(cls, owner: str, given: "Mapping[str, Any] | OptimizerSpec | None") -> "OptimizerSpec":
        if isinstance(given, OptimizerSpec):
            return given
        given = validate.optional_mapping(owner, "optimizer", given)
        validate.known_fields(f"{owner} optimizer", given, list(cls.__dataclass_fields__), "field")
        out: dict[str, Any] = {}
        for k, v in given.items():
            if k == "type":
                out[k] = validate.choice(f"{owner} optimizer", k, v, KINDS)
            elif k == "optimize_each_step":
                out[k] = validate.boolean(f"{owner} optimizer", k, v)
            elif k == "batch_size":
                out[k] = validate.integer(f"{owner} optimizer", k, v, minimum=1)
            else:
                out[k] = validate.number(f"{owner} optimizer", k, v)
        spec = cls(**out)
        o = f"{owner} optimizer"
        validate.non_negative(o, "eta", spec.eta)
        if not spec.Wmin <= spec.Wmax:
            raise ValueError(f"{o}: Wmin must be <= Wmax = {spec.Wmax}, got {spec.Wmin}")
        for k in ("beta_1", "beta_2"):
            if not 0.0 <= getattr(spec, k) < 1.0:
                raise ValueError(f"{o}: {k} must be in [0, 1), got {getattr(spec, k)!r}")
        validate.positive(o, "epsilon", spec.epsilon)
        return spec


class Optimizer:
    """The optimizer state of ``n`` synapses (see the module docstring)."""

    def __init__(self, spec: OptimizerSpec, n: int) -> None:
        self.spec = spec
        self.cumulative = np.zeros(n)
        self.m = np.zeros(n)
        self.v = np.zeros(n)
        self.intervals = 0      # update intervals summed into ``cumulative``
        self.steps = 0          # optimizer steps taken
        self.b1 = 1.0           # beta_1^k and beta_2^k, as NEST's running products
        self.b2 = 1.0

    def add(self, w: np.ndarray, gradient: np.ndarray) -> tuple[np.ndarray, bool]:
        """Add one update interval's gradient; returns the weights (new after a full batch)
        and whether they changed."""
        self.cumulative += gradient
        self.intervals += 1
        if self.intervals < self.spec.batch_size:
            return w, False
        g = self.cumulative / self.spec.batch_size
        self.cumulative = np.zeros_like(g)
        self.intervals = 0
        self.steps += 1
        s = self.spec
        if s.type == "adam":
            self.b1 *= s.beta_1
            self.b2 *= s.beta_2
            alpha = s.eta * math.sqrt(1.0 - self.b2) / (1.0 - self.b1)
            self.m = s.beta_1 * self.m + (1.0 - s.beta_1) * g
            self.v = s.beta_2 * self.v + (1.0 - s.beta_2) * g * g
            w = w - alpha * self.m / (np.sqrt(self.v) + s.epsilon)
        else:
            w = w - s.eta * g
        return np.clip(w, s.Wmin, s.Wmax), True
