"""Neuron models: one module each, with the same functions.

A model module provides

- ``NAME``;
- ``SYNAPSE_KINDS``: the (kind, mode) pairs of synapse types it accepts (see
  :mod:`distsnn.synapses`; an empty tuple for generators, which take no input);
- ``RECORDABLE``: state variables a monitor may sample; ``INITIAL``: variables that
  take initial values (optionally ``INITIAL_BOUNDS``: ``{var: (low, high)}`` that every
  possible initial value must respect); optionally ``DURATIONS``: parameters in ms that
  the model turns into whole steps, rounded up (refractory periods; a value off the grid
  warns, see :class:`distsnn.network.Network`);
- ``params_from(owner, dict, size, dt) -> Params``: validated, frozen parameters of a
  population of ``size`` neurons simulated at step ``dt`` ms (errors name ``owner``);
- ``prepare(params, dt, channels, key=None) -> Prepared``: constants computed once
  (propagators, sub-step counts); ``key`` is the population's own random stream,
  ``rng.stream_key(seed, "<NAME>_pop:<population>")``, used by generators that draw;
- ``init_state(prepared, initial, gids, index=None) -> State``: the local neurons'
  state (``gids``: their global ids, ``index``: their positions in the population);
- the pure ``step(state, inputs, prepared, n) -> (state, spiked)``, which advances from
  step ``n - 1`` to ``n``; ``inputs[c]`` holds the summed weights arriving on channel
  ``c`` (:meth:`distsnn.network.Network.channels` order) at step ``n``;
- ``record(state, var)``.

Models: ``lif`` (current-based, exact), ``lif_cond`` (conductance-based, NEST's
``iaf_cond_exp``), ``izhikevich`` (Izhikevich 2003), ``hh`` (Hodgkin-Huxley, NEST's
``hh_psc_alpha`` parameters), ``adex`` (Brette & Gerstner 2005), ``li`` (a non-spiking
leaky integrator, for readouts), NEST's e-prop neurons ``eprop_iaf``,
``eprop_iaf_adapt`` and ``eprop_readout`` (:mod:`distsnn.learning`), and the generators
``spike_train`` and ``poisson``.
"""

from __future__ import annotations

from types import ModuleType

from . import adex, eprop_iaf, eprop_iaf_adapt, eprop_readout, hh, izhikevich, li, lif, lif_cond, poisson, spike_train

MODELS: dict[str, ModuleType] = {m.NAME: m for m in (lif, lif_cond, izhikevich, hh, adex, li, eprop_iaf,
                                                     eprop_iaf_adapt, eprop_readout, spike_train, poisson)}


def get(owner: str, name: str) -> ModuleType:
    if name not in MODELS:
        raise ValueError(f"{owner}: model must be one of {', '.join(map(repr, MODELS))}, got {name!r}")
    return MODELS[name]
