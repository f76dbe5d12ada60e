"""Every field of the sections this work added (current inputs, positions, fixed total
number, pairwise Bernoulli names, spatial rules, per-neuron parameters, channel initial
values) set to every wrong kind of value: a ValueError or a valid run, never another
exception."""

from __future__ import annotations

import copy
import warnings

import pytest

import distsnn as ds
from distsnn import config

SWEEP = {
    "simulation": {"dt": 0.1, "t_stop": 2.0, "seed": 3},
    "population": [
        {"name": "a", "size": 4, "model": "lif",
         "params": {"tau_m": 10.0, "C_m": 250.0},
         "initial": {"syn:aa": {"dist": "normal", "mean": 5.0, "std": 1.0}},
         "positions": {"kind": "grid", "shape": [2, 2], "extent": [1.0, 1.0]}},
        {"name": "c", "size": 3, "model": "lif_cond",
         "params": {"g_L": [10.0, 11.0, 12.0], "C_m": {"dist": "uniform", "low": 200.0, "high": 300.0}},
         "positions": {"kind": "free", "coordinates": [[0.1, 0.1], [0.2, 0.3], [0.4, 0.1]]}},
        {"name": "r", "size": 3, "model": "izhikevich", "params": {"a": [0.02, 0.03, 0.04]},
         "positions": {"kind": "random", "extent": [1.0, 1.0], "center": [0.2, 0.2]}},
    ],
    "projection": [
        {"name": "aa", "pre": "a", "post": "a", "connector": {"rule": "fixed_total_number", "N": 8,
                                                               "allow_autapses": False},
         "synapse": {"kind": "exp", "tau": 2.0}, "weight": 10.0, "delay": 1.0},
        {"name": "ac", "pre": "a", "post": "c",
         "connector": {"rule": "spatial", "p": {"kind": "gaussian", "p0": 0.9, "sigma": 0.3},
                       "mask": {"kind": "rectangular", "lower_left": [-1.0, -1.0], "upper_right": [1.0, 1.0]},
                       "delay": {"offset": 0.5, "slope": 1.0},
                       "weight": {"scale": 2.0, "kernel": {"kind": "exponential", "p0": 1.0, "beta": 0.5}}},
         "synapse": {"kind": "exp", "tau": 2.0, "mode": "conductance", "e_rev": 0.0}},
        {"name": "cr", "pre": "c", "post": "r", "connector": {"rule": "spatial", "p": 1.0, "radius": 2.0,
                                                               "indegree": 2},
         "weight": 1.0, "delay": 0.5},
        {"name": "ra", "pre": "r", "post": "a", "connector": {"rule": "pairwise_bernoulli", "p": 0.5,
                                                               "allow_multapses": False},
         "weight": 0.5, "delay": 1.0},
    ],
    "current_input": [
        {"name": "dc", "target": "a", "kind": "dc", "amplitude": [100.0, 200.0], "neurons": [0, 3],
         "start": 0.5, "stop": 1.5, "delay": 0.2},
        {"name": "st", "target": "c", "kind": "step_current_generator", "amplitude_times": [0.3, 1.0],
         "amplitude_values": [50.0, 0.0]},
        {"name": "ac", "target": "r", "kind": "ac", "amplitude": 2.0, "offset": 1.0, "frequency": 20.0,
         "phase": 10.0},
        {"name": "nz", "target": "a", "kind": "noise", "mean": 5.0, "std": [1.0, 2.0, 3.0, 4.0], "dt_noise": 0.5},
    ],
    "monitor": [{"kind": "spikes", "population": "a"}],
}
WRONG = [5, -1, 1e300, float("nan"), "x", [1, 2], [], {}, {"a": 1}, True, "<delete>"]


def _paths(x, pre=()):
    items = x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, list) else ()
    for k, v in items:
        yield pre + (k,)
        yield from _paths(v, pre + (k,))


def test_every_new_field_set_to_every_wrong_kind_of_value_is_a_value_error_or_runs():
    ds.Simulation(config.from_dict(SWEEP)).run()       # the unmodified network is valid
    outcomes = {"ValueError": 0, "ran": 0}
    for path in _paths(SWEEP):
        if path[0] in ("simulation", "monitor"):
            continue
        for value in WRONG:
            doc = copy.deepcopy(SWEEP)
            node = doc
            for k in path[:-1]:
                node = node[k]
            if value == "<delete>":
                del node[path[-1]]
            else:
                node[path[-1]] = value
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    net = config.from_dict(doc)
                    ds.Simulation(net).run(1.0)
                outcomes["ran"] += 1
            except ValueError:
                outcomes["ValueError"] += 1
            except Exception as e:     # noqa: BLE001 - the point of the test
                pytest.fail(f"{path} = {value!r}: {type(e).__name__}: {e}")
    assert outcomes["ValueError"] > 500 and outcomes["ran"] > 20, outcomes
