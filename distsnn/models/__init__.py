"""Neuron models: one module each, with the same functions.

A model module provides ``NAME``, ``SYNAPSE_KINDS`` (the synapse kinds it accepts),
``RECORDABLE`` (state variables a monitor may sample), ``INITIAL`` (variables that
take initial values), ``params_from(owner, dict) -> Params`` (validated),
``prepare(params, dt, channels) -> Prepared`` (propagators, computed once),
``init_state(prepared, initial, gids) -> State`` (``gids``: the local neurons' global ids), the pure step
``step(state, inputs, prepared, n) -> (state, spiked)`` (advance to step ``n``) and ``record(state, var)``.
"""

from __future__ import annotations

from types import ModuleType

from . import lif

MODELS: dict[str, ModuleType] = {lif.NAME: lif}


def get(owner: str, name: str) -> ModuleType:
    if name not in MODELS:
        raise ValueError(f"{owner}: model must be one of {', '.join(map(repr, MODELS))}, got {name!r}")
    return MODELS[name]
