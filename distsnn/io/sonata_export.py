"""SONATA networks out: ``dump_sonata(net, directory)`` writes a network as a SONATA
circuit and simulation config that :func:`distsnn.load_sonata` reads back to the same
spikes.

Layout (all paths relative, so the directory can move)::

    simulation_config.json   run (tstop, dt, distsnn_seed), inputs, output, reports, node sets
    circuit_config.json      nodes and edges below (with each file's ``populations``, which
                             libsonata lists)
    node_sets.json
    network/<population>_nodes.h5, <population>_node_types.csv    one node type each
    network/<projection>_edges.h5, <projection>_edge_types.csv    one edge type each
    components/point_neuron_models/<population>.json
    components/synaptic_models/<projection>.json
    inputs/<population>_spikes.h5                                 spike_train populations

Populations: a ``spike_train`` population is a ``virtual`` node population fed by its
spike times (``/spikes/<population>/{timestamps, node_ids}``). A ``lif`` population
whose inputs all use one current ``alpha`` or ``exp`` synapse type, or only ``delta``,
and whose initial V_m is one number becomes ``nest:iaf_psc_alpha`` / ``_exp`` /
``_delta`` (NEST's names, ``tau_syn_ex = tau_syn_in``, ``V_m`` given), so NEST reads it
too; any other population is ``distsnn:<model>`` with its parameters and initial values
in distsnn's TOML form (``{"params": ..., "initial": ...}``), and the synapse type of
the edges onto it is written in the edge type's ``dynamics_params`` (``{"synapse":
...}``). Edges hold every synapse (drawn once, here, on one process) with its
``syn_weight`` and ``delay`` (ms), sorted by target, with the ``target_to_source``
index. Spike monitors become ``output.spikes_file``, state monitors ``reports``.
Poisson inputs (:meth:`Network.add_poisson_input`) have no SONATA form and are refused.
"""

from __future__ import annotations

import csv
import json
import os
from typing import Any

import h5py
import numpy as np

from .. import build, config, rng, timegrid
from ..network import SpikeMonitor, StateMonitor
from ..network import Network
from .sonata import NEST_MODELS

_KIND_TO_NEST = {nm.kind: name for name, nm in NEST_MODELS.items() if nm.model == "lif"}


def _nest_template(net: Network, name: str) -> str | None:
    pop = net.populations[name]
    if pop.model != "lif":
        return None
    v = pop.initial.get("V_m")
    if v is not None and not hasattr(v, "value"):
        return None
    chans = net.channels(name)
    kinds = {c.kind for c in chans}
    if not chans or kinds == {"delta"}:
        return "iaf_psc_delta"
    if len(chans) == 1 and chans[0].kind in ("alpha", "exp") and chans[0].mode == "current":
        return _KIND_TO_NEST[chans[0].kind]
    return None


def _write_json(path: str, obj: Any) -> None:
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=1)


def _write_types(path: str, rows: list[dict[str, Any]]) -> None:
    head = list(rows[0])
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter=" ")
        w.writerow(head)
        for r in rows:
            w.writerow([r[k] for k in head])


def dump_sonata(net: Network, directory: str | os.PathLike) -> str:
    """Write ``net`` as SONATA under ``directory``; returns the simulation config's path.

    Parameters
    ----------
    net : Network
    directory : str or path
        Created if missing; the files listed in the module docstring are overwritten.
    """
    if net.inputs:
        name = next(iter(net.inputs))
        raise ValueError(f"PoissonInput {name!r}: SONATA has no Poisson input; use a 'poisson' population "
                         f"and a projection to write this network as SONATA")
    d = os.fspath(directory)
    for sub in ("network", "components/point_neuron_models", "components/synaptic_models", "inputs"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    tables = {name: config._plain({"params": dict(vars(p.params)),
                                   "initial": {k: v.to_plain() for k, v in p.initial.items()}})
              for name, p in net.populations.items()}
    nodes_conf, edges_conf, inputs, node_sets = [], [], {}, {}
    nest_of = {}
    for i, (name, pop) in enumerate(net.populations.items()):
        type_id = 100 + i
        nodes_h5 = f"network/{name}_nodes.h5"
        with h5py.File(os.path.join(d, nodes_h5), "w") as f:
            f.attrs["magic"] = np.uint32(0x0A7A)
            f.attrs["version"] = np.array([0, 1], dtype=np.uint32)
            g = f.create_group(f"nodes/{name}")
            g.create_dataset("node_type_id", data=np.full(pop.size, type_id, dtype=np.uint64))
            g.create_dataset("node_id", data=np.arange(pop.size, dtype=np.uint64))
            g.create_dataset("node_group_id", data=np.zeros(pop.size, dtype=np.uint32))
            g.create_dataset("node_group_index", data=np.arange(pop.size, dtype=np.uint64))
            g.create_group("0")
        row: dict[str, Any] = {"node_type_id": type_id}
        if pop.model == "spike_train":
            row["model_type"] = "virtual"
            _write_spikes(os.path.join(d, f"inputs/{name}_spikes.h5"), name, pop.params.times, net.dt)
            inputs[f"{name}_spikes"] = {"input_type": "spikes", "module": "h5",
                                        "input_file": f"$BASE_DIR/inputs/{name}_spikes.h5", "node_set": name}
        else:
            nest = _nest_template(net, name)
            nest_of[name] = nest
            row["model_type"] = "point_process"
            row["model_template"] = f"nest:{nest}" if nest else f"distsnn:{pop.model}"
            row["dynamics_params"] = f"{name}.json"
            if nest:
                # lif's surrogate-gradient settings only shape a recordable, which NEST's
                # iaf_psc_* do not have: the dynamics lose nothing without them
                dyn = {k: v for k, v in tables[name]["params"].items() if not k.startswith("surrogate_gradient_")}
                v = pop.initial.get("V_m")
                dyn["V_m"] = float(v.value) if v is not None else pop.params.E_L
                chans = net.channels(name)
                if chans and chans[0].kind != "delta":
                    dyn["tau_syn_ex"] = dyn["tau_syn_in"] = chans[0].tau
            else:
                dyn = {"params": tables[name]["params"], "initial": tables[name]["initial"]}
            _write_json(os.path.join(d, f"components/point_neuron_models/{name}.json"), dyn)
        _write_types(os.path.join(d, f"network/{name}_node_types.csv"), [row])
        ptype = "virtual" if pop.model == "spike_train" else "point_neuron"
        nodes_conf.append({"nodes_file": f"$NETWORK_DIR/{name}_nodes.h5",
                           "node_types_file": f"$NETWORK_DIR/{name}_node_types.csv",
                           "populations": {name: {"type": ptype}}})
        node_sets[name] = {"population": name}

    offsets = net.offsets()
    everyone = np.arange(net.size, dtype=np.int64)
    pops = build.local_populations(net, everyone)
    by_name = {p.name: p for p in pops}
    for j, (pname, proj) in enumerate(net.projections.items()):
        post = by_name[proj.post]
        n_pre, n_post = net.populations[proj.pre].size, net.populations[proj.post].size
        key = rng.stream_key(net.seed, f"conn:{proj.name}")
        syn = proj.connector.connect(key, n_pre, n_post, post.index, offsets[proj.pre], offsets[proj.post],
                                     proj.pre == proj.post)
        post_gids = syn.post + offsets[proj.post]
        w = np.broadcast_to(build._values(net, proj, "weight", syn, post_gids), syn.pre.shape).astype(np.float64)
        dl = np.broadcast_to(build._values(net, proj, "delay", syn, post_gids), syn.pre.shape).astype(np.float64)
        order = np.argsort(syn.post, kind="stable")
        _write_edges(os.path.join(d, f"network/{pname}_edges.h5"), pname, proj.pre, proj.post,
                     syn.pre[order], syn.post[order], w[order], dl[order], 100 + j, n_pre, n_post)
        _write_types(os.path.join(d, f"network/{pname}_edge_types.csv"),
                     [{"edge_type_id": 100 + j, "model_template": "static_synapse",
                       "dynamics_params": f"{pname}.json"}])
        syn_dyn = {} if nest_of.get(proj.post) else {"synapse": proj.synapse.to_plain()}
        _write_json(os.path.join(d, f"components/synaptic_models/{pname}.json"), syn_dyn)
        edges_conf.append({"edges_file": f"$NETWORK_DIR/{pname}_edges.h5",
                           "edge_types_file": f"$NETWORK_DIR/{pname}_edge_types.csv",
                           "populations": {pname: {"type": "chemical"}}})

    reports = {}
    spikes = any(isinstance(m, SpikeMonitor) for m in net.monitors)
    for k, m in enumerate(x for x in net.monitors if isinstance(x, StateMonitor)):
        set_name = f"monitor{k}"
        cells = m.neurons.indices(m.population, net.populations[m.population].size, net.seed)
        node_sets[set_name] = {"population": m.population, "node_id": cells.tolist()}
        for var in m.variables:
            reports[f"{set_name}_{var}"] = {"cells": set_name, "variable_name": var, "module": "membrane_report",
                                            "dt": m.interval}
    circuit = {"manifest": {"$NETWORK_DIR": "./network", "$COMPONENT_DIR": "./components"},
               "components": {"point_neuron_models_dir": "$COMPONENT_DIR/point_neuron_models",
                              "synaptic_models_dir": "$COMPONENT_DIR/synaptic_models"},
               "networks": {"nodes": nodes_conf, "edges": edges_conf}}
    _write_json(os.path.join(d, "circuit_config.json"), circuit)
    _write_json(os.path.join(d, "node_sets.json"), node_sets)
    sim: dict[str, Any] = {
        "manifest": {"$BASE_DIR": ".", "$OUTPUT_DIR": "$BASE_DIR/output"},
        "run": {"tstop": net.t_stop, "dt": net.dt, "distsnn_seed": net.seed},
        "target_simulator": "NEST", "network": "$BASE_DIR/circuit_config.json",
        "node_sets_file": "$BASE_DIR/node_sets.json", "inputs": inputs,
        "output": {"output_dir": "$OUTPUT_DIR", **({"spikes_file": "spikes.h5"} if spikes else {})},
        "reports": reports}
    path = os.path.join(d, "simulation_config.json")
    _write_json(path, sim)
    return path


def _write_spikes(path: str, pop: str, times: tuple[tuple[float, ...], ...], dt: float) -> None:
    ids = np.repeat(np.arange(len(times)), [len(t) for t in times])
    flat = np.array([t for row in times for t in row], dtype=np.float64)
    # On the grid, so NEST's stamp (and distsnn's reader) gives each time its own step.
    stamped = timegrid.to_steps(flat, dt) * dt
    with h5py.File(path, "w") as f:
        g = f.create_group(f"spikes/{pop}")
        g.attrs["sorting"] = "by_id"
        g.create_dataset("timestamps", data=stamped).attrs["units"] = "ms"
        g.create_dataset("node_ids", data=ids.astype(np.uint64))


def _write_edges(path: str, name: str, pre_pop: str, post_pop: str, pre: np.ndarray, post: np.ndarray,
                 w: np.ndarray, delay: np.ndarray, type_id: int, n_pre: int, n_post: int) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["magic"] = np.uint32(0x0A7A)
        f.attrs["version"] = np.array([0, 1], dtype=np.uint32)
        g = f.create_group(f"edges/{name}")
        g.create_dataset("source_node_id", data=pre.astype(np.uint64)).attrs["node_population"] = pre_pop
        g.create_dataset("target_node_id", data=post.astype(np.uint64)).attrs["node_population"] = post_pop
        g.create_dataset("edge_type_id", data=np.full(pre.size, type_id, dtype=np.uint32))
        g.create_dataset("edge_group_id", data=np.zeros(pre.size, dtype=np.uint16))
        g.create_dataset("edge_group_index", data=np.arange(pre.size, dtype=np.uint64))
        grp = g.create_group("0")
        grp.create_dataset("syn_weight", data=w)
        grp.create_dataset("delay", data=delay)
        for group, ids, n in (("target_to_source", post, n_post), ("source_to_target", pre, n_pre)):
            to_ranges, ranges = _index(ids, n)
            idx = g.create_group(f"indices/{group}")
            idx.create_dataset("node_id_to_ranges", data=to_ranges)
            idx.create_dataset("range_to_edge_id", data=ranges)


def _index(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """SONATA's index of ``ids`` (one node id per edge): per node, its rows of
    ``range_to_edge_id``, each a run of consecutive edges of that node."""
    ids = np.asarray(ids, dtype=np.int64)
    if not ids.size:
        return np.zeros((n, 2), dtype=np.uint64), np.zeros((0, 2), dtype=np.uint64)
    order = np.lexsort((np.arange(ids.size), ids))
    node, edge = ids[order], order
    new = np.r_[True, (node[1:] != node[:-1]) | (edge[1:] != edge[:-1] + 1)]
    starts = np.flatnonzero(new)
    stops = np.r_[starts[1:], ids.size]
    run_node = node[starts]
    ranges = np.stack([edge[starts], edge[stops - 1] + 1], axis=1).astype(np.uint64).reshape(-1, 2)
    first = np.searchsorted(run_node, np.arange(n), side="left")
    last = np.searchsorted(run_node, np.arange(n), side="right")
    return np.stack([first, last], axis=1).astype(np.uint64), ranges
