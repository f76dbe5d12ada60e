"""Leaky integrator: the ``lif`` membrane without threshold, a non-spiking readout.

Equations (units ms, mV, pA, pF)::

    C_m dV/dt = -(C_m / tau_m) (V - E_L) + I_e + sum_k I_k(t)

integrated exactly as :mod:`distsnn.models.lif` (same propagators and step, with an
infinite threshold), so a readout's V_m is exact at every step. NIR's ``LI`` and
``CubaLI`` nodes; Brian2's ``NeuronGroup`` without threshold. It never spikes: record
``V_m`` with a state monitor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np

from ..synapses import SynapseType
from . import common, lif

NAME = "li"
SYNAPSE_KINDS = lif.SYNAPSE_KINDS
RECORDABLE = lif.RECORDABLE
INITIAL = lif.INITIAL
State = lif.State


@dataclass(frozen=True)
class Params:
    """C_m: membrane capacitance (pF); tau_m: membrane time constant (ms); E_L: resting
    potential (mV); I_e: constant bias current (pA). Defaults as ``lif``."""

    C_m: float = 250.0
    tau_m: float = 10.0
    E_L: float = -70.0
    I_e: float = 0.0


_UNITS = {"C_m": "pF", "tau_m": "ms", "E_L": "mV", "I_e": "pA"}


def params_from(owner: str, given: Mapping[str, Any], size: int, dt: float) -> Params:
    return common.parse(owner, Params, given, _UNITS, positive=("C_m", "tau_m"), size=size)


def prepare(p: Params, dt: float, channels: tuple[SynapseType, ...],
            key: tuple[int, int] | None = None) -> lif.Prepared:
    values = {f.name: getattr(p, f.name) for f in fields(Params)}
    return lif.prepare(lif.Params(t_ref=0.0, V_th=math.inf, V_reset=-math.inf, **values), dt, channels)


def init_state(prep: lif.Prepared, initial: Mapping[str, np.ndarray], gids: np.ndarray,
               index: np.ndarray | None = None) -> lif.State:
    return lif.init_state(prep, initial, gids, index)


step = lif.step
record = lif.record
