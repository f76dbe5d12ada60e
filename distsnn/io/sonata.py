"""SONATA networks in: ``load_sonata(config)`` builds a distsnn network from a SONATA
circuit and simulation configuration, with NEST's semantics (``nest.SonataNetwork``).

What is read
------------
- Configs: a simulation config (``run``, ``inputs``, ``output``, ``reports``,
  ``node_sets_file``, ``network`` -> circuit config) or a circuit config alone;
  ``manifest`` variables (``$NAME``, nested) are substituted and relative paths resolved
  against the directory of the file that names them.
- Nodes: every population of every ``nodes_file``, its node types from
  ``node_types_file`` (whitespace-separated CSV). ``model_type`` ``point_neuron`` /
  ``point_process`` with ``model_template`` ``nest:<model>`` become neuron
  populations (:data:`NEST_MODELS`: ``iaf_psc_alpha`` / ``_exp`` / ``_delta`` as
  ``lif``, ``iaf_cond_exp`` / ``_alpha`` as ``lif_cond``, ``aeif_cond_exp`` / ``_alpha``
  as ``adex``), with NEST's defaults for parameters that
  ``dynamics_params`` (a JSON file under ``components.point_neuron_models_dir``) omits;
  a population whose node types differ in parameters is split into one distsnn
  population per node type, named ``<population>_<node_type_id>``. ``virtual`` nodes
  become ``spike_train`` populations fed by the ``inputs`` of ``input_type`` ``spikes``
  whose node set names them (``/spikes/<population>/{timestamps,node_ids}`` or the
  legacy ``/spikes/{gids,timestamps}``), stamped as NEST's ``spike_train_injector``
  with ``allow_offgrid_times``: a time off the grid moves to the end of its step,
  spikes at or before 0 are dropped, and two spikes of a node on one step both act
  (through a shadow population, ``<population>_dup1``, with the same edges).
- Edges: one edge group per population; see :mod:`distsnn.io.sonata_edges`. Each rank
  reads only the edges onto its own neurons. Weights > 0 act on the model's excitatory
  synapse (``tau_syn_ex``, ``E_ex``), others on the inhibitory one (``tau_syn_in``,
  ``E_in``; conductance models take ``-w``), as in NEST.
- ``run.tstop`` (or ``run.duration``) and ``run.dt``; ``node_sets`` (``population``,
  ``node_id``, ``node_type_id``, ``model_type``, node-type CSV columns, and lists of
  other node sets); ``output.spikes_file`` becomes a spike monitor on every neuron
  population, each ``reports`` entry with ``module`` ``membrane_report`` a state
  monitor of its ``variable_name`` on its ``cells``.
- NEST starts ``V_m`` at -70 mV whatever ``E_L`` (NEST keeps V_m when E_L is set) and
  ignores ``conditions.v_init``; so does this importer, for spike-for-spike agreement.

Anything else (biophysical models, several edge groups, synapse models other than
``static_synapse``, per-node dynamics) is refused with a ``ValueError`` naming the file,
the field and the value.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import h5py
import numpy as np

from ..network import Network
from .sonata_config import fail, load_conf, node_set, number, read_csv, read_json
from .sonata_edges import EdgeReader, SonataEdges

_LIF = ("C_m", "tau_m", "t_ref", "E_L", "V_th", "V_reset", "I_e")
_COND = ("C_m", "g_L", "E_L", "V_th", "V_reset", "t_ref", "I_e")
_ADEX = ("C_m", "g_L", "E_L", "V_th", "Delta_T", "tau_w", "a", "b", "V_reset", "V_peak", "t_ref", "I_e")


@dataclass(frozen=True)
class NestModel:
    """How a NEST model maps onto distsnn: the distsnn ``model``, the synapse ``kind`` and
    ``mode`` of its two ports, the NEST parameters that keep their names (``params``),
    the initial values NEST starts from whatever ``E_L`` (``initial``), and the port
    parameters' defaults (``tau_syn_ex``, ``tau_syn_in`` in ms; ``E_ex``, ``E_in`` in mV)."""

    model: str
    kind: str
    mode: str
    params: tuple[str, ...]
    initial: dict[str, float]
    ports: dict[str, float]


_PSC_PORTS = {"tau_syn_ex": 2.0, "tau_syn_in": 2.0}
_COND_PORTS = {"tau_syn_ex": 0.2, "tau_syn_in": 2.0, "E_ex": 0.0, "E_in": -85.0}
#: NEST models a SONATA node type may name (``nest:<model>``).
NEST_MODELS: dict[str, NestModel] = {
    "iaf_psc_alpha": NestModel("lif", "alpha", "current", _LIF, {"V_m": -70.0}, _PSC_PORTS),
    "iaf_psc_exp": NestModel("lif", "exp", "current", _LIF, {"V_m": -70.0}, _PSC_PORTS),
    "iaf_psc_delta": NestModel("lif", "delta", "current", _LIF, {"V_m": -70.0}, {}),
    "iaf_cond_exp": NestModel("lif_cond", "exp", "conductance", _COND, {"V_m": -70.0}, _COND_PORTS),
    "iaf_cond_alpha": NestModel("lif_cond", "alpha", "conductance", _COND, {"V_m": -70.0}, _COND_PORTS),
    "aeif_cond_exp": NestModel("adex", "exp", "conductance", _ADEX, {"V_m": -70.6, "w": 0.0}, _COND_PORTS),
    "aeif_cond_alpha": NestModel("adex", "alpha", "conductance", _ADEX, {"V_m": -70.6, "w": 0.0}, _COND_PORTS),
}


@dataclass
class SonataCircuit:
    """A loaded SONATA network.

    Attributes
    ----------
    network : Network
        The distsnn network (simulate it with :func:`distsnn.simulate`).
    nodes : dict of str to (str, numpy.ndarray)
        Per distsnn population, its SONATA population and node ids (gid order).
    readers : list of EdgeReader
        One per edge population; ``rows_read`` counts the edge rows this process read.
    output_dir : str or None
        ``output.output_dir`` of the simulation config.
    spikes_file : str or None
        ``output.spikes_file`` (relative to the output directory); ``spikes_sort_order``
        ``"time"``, ``"id"`` or ``"none"``.
    """

    network: Network
    nodes: dict[str, tuple[str, np.ndarray]]
    readers: list[EdgeReader] = field(default_factory=list)
    output_dir: str | None = None
    spikes_file: str | None = None
    spikes_sort_order: str = "time"

    def node_ids(self, gids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SONATA ``(population names, node ids)`` of distsnn ``gids``."""
        gids = np.asarray(gids, dtype=np.int64)
        pops = np.empty(gids.size, dtype=object)
        ids = np.full(gids.size, -1, dtype=np.int64)
        for name, lo in self.network.offsets().items():
            sp, nodes = self.nodes[name]
            sel = (gids >= lo) & (gids < lo + nodes.size)
            pops[sel] = sp
            ids[sel] = nodes[gids[sel] - lo]
        return pops, ids


def _safe(name: str) -> str:
    """A distsnn name for a SONATA one: characters other than letters, digits, '_' and
    '-' become '_' (the SONATA name stays in :attr:`SonataCircuit.nodes`)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "population"


def _nest_stamps(times: np.ndarray, dt: float) -> np.ndarray:
    """Steps of spike times as NEST's ``spike_train_injector`` with ``allow_offgrid_times``
    stamps them (nest::Time with 1000 tics per ms): on the grid (to the nearest tic) the
    time's own step, else the end of the step the time lies in (``Time::ms_stamp``)."""
    tics_per_step = int(round(dt * 1000.0))
    t = np.asarray(times, dtype=np.float64)
    tics = np.floor(t * 1000.0 + 0.5).astype(np.int64)
    on_grid = tics % tics_per_step == 0
    n = np.floor(t * 1000.0).astype(np.int64)   # static_cast<tic_t>, t >= 0
    n -= n % tics_per_step
    ms = n * (1.0 / tics_per_step) * (tics_per_step / 1000.0)
    n = np.where(ms < t, n + tics_per_step, n)
    return np.where(on_grid, tics, n) // tics_per_step


def _spike_input(path: str, population: str, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(path, "r") as f:
        if "spikes" not in f:
            raise fail(path, "/spikes", None, "the input spikes file has no /spikes group")
        sp = f["spikes"]
        groups = [isinstance(v, h5py.Group) for v in sp.values()]
        if any(groups) and not all(groups):
            raise fail(path, "/spikes", list(sp), "mixes groups and datasets on one level")
        if groups and all(groups):
            if population not in sp:
                raise fail(path, "/spikes", list(sp), f"has no group for population {population!r}")
            sp = sp[population]
        id_name = "node_ids" if "node_ids" in sp else "gids" if "gids" in sp else None
        if id_name is None or "timestamps" not in sp:
            raise fail(path, f"{sp.name}", list(sp), "needs datasets 'timestamps' and 'node_ids' (or 'gids')")
        ids = sp[id_name][()].astype(np.int64)
        ts = sp["timestamps"][()].astype(np.float64)
    if ids.shape != ts.shape:
        raise fail(path, f"{sp.name}/{id_name}", ids.shape, f"must match timestamps' shape {ts.shape}")
    bad = np.flatnonzero((ids < 0) | (ids >= n_nodes))
    if bad.size:
        raise fail(path, f"{sp.name}/{id_name}", int(ids[bad[0]]),
                    f"is not a node of population {population!r} (0..{n_nodes - 1})")
    return ids, ts


@dataclass
class _Group:
    """Nodes of one SONATA population that share a distsnn population."""

    name: str
    population: str
    nodes: np.ndarray
    model: str | None              # NEST model or "distsnn:<model>"; None for virtual nodes
    params: dict[str, Any]         # NEST parameters, or distsnn's {"params", "initial"}
    kind: str | None               # synapse kind of a NEST model


def _node_types(path: str) -> dict[int, dict[str, str]]:
    rows = read_csv(path)
    if rows and "node_type_id" not in rows[0]:
        raise fail(path, "header", list(rows[0]), "has no 'node_type_id' column")
    return {int(number(path, "node_type_id", r["node_type_id"])): r for r in rows}


def _neuron_params(types_path: str, row: Mapping[str, str], models_dir: str | None) -> tuple[str, dict]:
    tmpl = row.get("model_template")
    if tmpl is None:
        raise fail(types_path, "model_template", None, "is required for point neurons (nest:<model>)")
    if tmpl.startswith("distsnn:"):
        return _distsnn_params(types_path, tmpl, row, models_dir)
    if not tmpl.startswith("nest:"):
        raise fail(types_path, "model_template", tmpl, "only NEST point models ('nest:<model>') are supported")
    model = tmpl[len("nest:"):]
    if model not in NEST_MODELS:
        raise fail(types_path, "model_template", tmpl,
                    f"no distsnn counterpart; supported: {', '.join('nest:' + m for m in NEST_MODELS)}")
    params: dict[str, Any] = {}
    dyn = row.get("dynamics_params")
    if dyn not in (None, "NULL", "None", ""):
        jpath = dyn if os.path.isabs(dyn) or models_dir is None else os.path.join(models_dir, dyn)
        params = read_json(jpath, "dynamics_params file")
        nm = NEST_MODELS[model]
        allowed = nm.params + tuple(nm.initial) + tuple(nm.ports)
        for k, v in params.items():
            if k not in allowed:
                raise fail(jpath, k, v, f"parameter of nest:{model} not supported; supported: {', '.join(allowed)}")
            params[k] = number(jpath, k, v)
    return model, params


def _distsnn_params(types_path: str, tmpl: str, row: Mapping[str, str], models_dir: str | None) -> tuple[str, dict]:
    """A ``distsnn:<model>`` node type (written by :func:`distsnn.dump_sonata`): its
    dynamics JSON holds distsnn's ``params`` and ``initial`` tables."""
    from ..models import MODELS

    if tmpl[len("distsnn:"):] not in MODELS:
        raise fail(types_path, "model_template", tmpl, f"no such distsnn model ({', '.join(MODELS)})")
    dyn = row.get("dynamics_params")
    if dyn in (None, "NULL", "None", ""):
        return tmpl, {"params": {}, "initial": {}}
    jpath = dyn if os.path.isabs(dyn) or models_dir is None else os.path.join(models_dir, dyn)
    table = read_json(jpath, "dynamics_params file")
    for k in table:
        if k not in ("params", "initial"):
            raise fail(jpath, k, table[k], f"{tmpl} dynamics take 'params' and 'initial' tables")
    return tmpl, {"params": table.get("params", {}), "initial": table.get("initial", {})}


def _groups(conf: dict, dt: float) -> tuple[list[_Group], dict[str, dict]]:
    """The node groups, and per SONATA population its node count, node type ids and types."""
    models_dir = conf.get("components", {}).get("point_neuron_models_dir")
    groups: list[_Group] = []
    pops: dict[str, dict] = {}
    for entry in conf.get("networks", {}).get("nodes", []):
        nodes_file, types_file = entry.get("nodes_file"), entry.get("node_types_file")
        if not nodes_file or not types_file:
            raise ValueError(f"SONATA circuit: networks.nodes entry {entry!r} needs nodes_file and node_types_file")
        types = _node_types(types_file)
        if not os.path.isfile(nodes_file):
            raise ValueError(f"SONATA: nodes_file {nodes_file!r} does not exist")
        with h5py.File(nodes_file, "r") as f:
            if "nodes" not in f:
                raise fail(nodes_file, "/nodes", None, "the nodes file has no /nodes group")
            for pop in f["nodes"]:
                g = f["nodes"][pop]
                type_ids = g["node_type_id"][()].astype(np.int64)
                for sub in (k for k in g if isinstance(g[k], h5py.Group)):
                    for bad in ("dynamics_params", "model_template", "model_type"):
                        if bad in g[sub]:
                            raise fail(nodes_file, f"/nodes/{pop}/{sub}/{bad}", "per-node values",
                                        "per-node model attributes are not supported (NEST reads them per node type)")
                missing = sorted(set(type_ids.tolist()) - set(types))
                if missing:
                    raise fail(nodes_file, f"/nodes/{pop}/node_type_id", missing[0],
                                f"has no row in {types_file}")
                pops[pop] = {"size": type_ids.size, "type_ids": type_ids, "types": types}
                kinds = {types[t].get("model_type") for t in np.unique(type_ids).tolist()}
                if len(kinds) != 1:
                    raise fail(types_file, "model_type", sorted(map(str, kinds)),
                                f"population {pop!r} mixes model types (NEST takes one per population)")
                mtype = kinds.pop()
                if mtype == "virtual":
                    groups.append(_Group(_safe(pop), pop, np.arange(type_ids.size), None, {}, None))
                    continue
                if mtype not in ("point_neuron", "point_process"):
                    raise fail(types_file, "model_type", mtype,
                                "only point_neuron, point_process and virtual nodes are supported "
                                "(biophysical and other models need a compartmental simulator)")
                by_spec: dict[str, list[int]] = {}
                specs: dict[str, tuple[str, dict]] = {}
                for t in np.unique(type_ids).tolist():
                    model, params = _neuron_params(types_file, types[t], models_dir)
                    key = json.dumps([model, sorted(params.items())])
                    by_spec.setdefault(key, []).append(t)
                    specs[key] = (model, params)
                for key, tids in by_spec.items():
                    nodes = np.flatnonzero(np.isin(type_ids, tids))
                    name = _safe(pop) if len(by_spec) == 1 else f"{_safe(pop)}_{tids[0]}"
                    model, params = specs[key]
                    kind = NEST_MODELS[model].kind if model in NEST_MODELS else None
                    groups.append(_Group(name, pop, nodes, model, params, kind))
    if not groups:
        raise ValueError("SONATA circuit: networks.nodes lists no node populations")
    return groups, pops


def _edge_types(path: str, synapse_dir: str | None) -> tuple[dict[int, float], dict[int, float], dict[int, Any]]:
    """Per edge type: weight and delay (NaN where not given) and the distsnn synapse type
    (``dynamics_params`` key ``synapse``, for targets of ``distsnn:`` models)."""
    weight, delay, synapse = {}, {}, {}
    for row in read_csv(path):
        for req in ("edge_type_id", "model_template"):
            if req not in row:
                raise fail(path, "header", req, "column is required (NEST needs the synapse model)")
        t = int(number(path, "edge_type_id", row["edge_type_id"]))
        if row["model_template"] != "static_synapse":
            raise fail(path, "model_template", row["model_template"],
                        "only 'static_synapse' is supported (no plastic synapses)")
        vals = {"weight": row.get("syn_weight"), "delay": row.get("delay")}
        dyn = row.get("dynamics_params")
        if dyn not in (None, "NULL", "None", ""):
            jpath = dyn if os.path.isabs(dyn) or synapse_dir is None else os.path.join(synapse_dir, dyn)
            for k, v in read_json(jpath, "dynamics_params file").items():
                if k == "synapse":
                    synapse[t] = v
                    continue
                if k not in ("weight", "delay"):
                    raise fail(jpath, k, v, "static_synapse parameter not supported (weight and delay are)")
                vals[k] = v
        weight[t] = math.nan if vals["weight"] in (None, "NULL") else number(path, "syn_weight", vals["weight"])
        delay[t] = math.nan if vals["delay"] in (None, "NULL") else number(path, "delay", vals["delay"])
    return weight, delay, synapse


def load_sonata(config: str | os.PathLike, hyperslab: int = 2**20, seed: int | None = None) -> SonataCircuit:
    """A distsnn network from a SONATA simulation (or circuit) config; see the module
    docstring for what is read and how.

    Parameters
    ----------
    config : str or path
        ``simulation_config.json`` (or a circuit config; ``run`` then must be in it).
    hyperslab : int
        Largest number of edge rows read at once (NEST's ``hdf5_hyperslab_size``).
    seed : int, optional
        Master seed of the distsnn network (default ``run.distsnn_seed``, written by
        :func:`distsnn.dump_sonata`, else 0; NEST models draw nothing).
    """
    config = os.fspath(config)
    conf = load_conf(config)
    run = conf.get("run")
    if not isinstance(run, dict) or "dt" not in run:
        raise fail(config, "run.dt", None if not isinstance(run, dict) else run.get("dt"),
                    "the time step (ms) is required")
    dt = number(config, "run.dt", run["dt"])
    t_stop = number(config, "run.tstop", run.get("tstop", run.get("duration")))
    if not dt > 0 or not t_stop >= 0:
        raise fail(config, "run", run, "dt must be > 0 ms and tstop >= 0 ms")
    groups, pops = _groups(conf, dt)
    sets_file = conf.get("node_sets_file")
    sets = read_json(sets_file, "node_sets_file") if sets_file else dict(conf.get("node_sets", {}))
    if seed is None:
        seed = int(number(config, "run.distsnn_seed", run.get("distsnn_seed", 0)))
    net = Network(dt=dt, seed=seed, t_stop=t_stop)

    # Virtual populations: spike trains from the inputs whose node set names them.
    trains: dict[str, list[np.ndarray]] = {}
    for name, inp in conf.get("inputs", {}).items():
        if inp.get("input_type") != "spikes" or inp.get("module") not in ("h5", "sonata", None):
            raise fail(config, f"inputs.{name}.input_type", inp.get("input_type"),
                        "only spike inputs from HDF5 files (input_type 'spikes', module 'h5') are supported")
        for pop, ids in node_set(inp.get("node_set"), sets, pops, config).items():
            ids_f, ts = _spike_input(inp["input_file"], pop, pops[pop]["size"])
            steps = _nest_stamps(ts, dt)
            per = trains.setdefault(pop, [np.zeros(0, np.int64) for _ in range(pops[pop]["size"])])
            for i in ids.tolist():
                per[i] = np.sort(np.concatenate([per[i], steps[(ids_f == i) & (steps > 0)]]))
    # Populations in the circuit's order: gids, and so keyed random draws, follow it.
    for g in list(groups):
        if g.model is None:
            _add_virtual(net, g, trains, config, conf, dt, groups)
        elif g.model.startswith("distsnn:"):
            net.add_population(g.name, g.nodes.size, g.model[len("distsnn:"):], g.params["params"],
                               g.params["initial"])
        else:
            nm = NEST_MODELS[g.model]
            net.add_population(g.name, g.nodes.size, nm.model, {k: v for k, v in g.params.items() if k in nm.params},
                               {k: g.params.get(k, v) for k, v in nm.initial.items()})

    # Edges, split by (pre group, post group, port).
    readers = []
    syn_dir = conf.get("components", {}).get("synaptic_models_dir")
    for entry in conf.get("networks", {}).get("edges", []):
        if entry.get("enabled", True) is False:
            continue
        efile, tfile = entry.get("edges_file"), entry.get("edge_types_file")
        if not efile or not tfile:
            raise ValueError(f"SONATA circuit: networks.edges entry {entry!r} needs edges_file and edge_types_file")
        tw, td, tsyn = _edge_types(tfile, syn_dir)
        if not os.path.isfile(efile):
            raise ValueError(f"SONATA: edges_file {efile!r} does not exist")
        with h5py.File(efile, "r") as f:
            epops = list(f.get("edges", {}))
        for epop in epops:
            reader = EdgeReader(efile, epop, tw, td, hyperslab)
            n_groups = _edge_group_count(efile, epop)
            if n_groups > 1:
                raise fail(efile, f"/edges/{epop}", f"{n_groups} edge groups",
                            "several edge groups are not supported (NEST takes one)")
            src, tgt = reader.source_population, reader.target_population
            for role, p in (("source_node_id", src), ("target_node_id", tgt)):
                if p not in pops:
                    raise fail(efile, f"/edges/{epop}/{role}@node_population", p,
                                f"is not a node population ({', '.join(pops)})")
            readers.append(reader)
            _add_edges(net, reader, groups, epop, tw, td, tsyn, tfile, dt)

    # Output: spikes of every neuron population; reports as state monitors.
    neuron_groups = [g for g in groups if g.model is not None]
    if conf.get("output", {}).get("spikes_file"):
        for g in neuron_groups:
            net.add_spike_monitor(g.name)
    for rname, rep in conf.get("reports", {}).items():
        if rep.get("module", "membrane_report") not in ("membrane_report", "multimeter_report"):
            raise fail(config, f"reports.{rname}.module", rep.get("module"),
                        "only membrane reports (variables of point neurons) are supported")
        var = rep.get("variable_name", "V_m")
        interval = number(config, f"reports.{rname}.dt", rep.get("dt", dt))
        for k in ("start_time", "end_time"):
            if k in rep and float(rep[k]) != (0.0 if k == "start_time" else t_stop):
                raise fail(config, f"reports.{rname}.{k}", rep[k], "reports cover the whole run")
        cells = node_set(rep.get("cells"), sets, pops, config)
        for g in neuron_groups:
            sel = np.flatnonzero(np.isin(g.nodes, cells.get(g.population, [])))
            if sel.size:
                try:
                    net.add_state_monitor(g.name, [var], neurons=sel.tolist(), interval=interval)
                except ValueError as e:
                    raise fail(config, f"reports.{rname}.variable_name", var, str(e)) from None
    out = conf.get("output", {})
    sort = out.get("spikes_sort_order", "time")
    if sort not in ("time", "id", "none"):
        raise fail(config, "output.spikes_sort_order", sort, "must be 'time', 'id' or 'none'")
    nodes = {g.name: (g.population, g.nodes) for g in groups}
    order = list(net.populations)
    return SonataCircuit(net, {n: nodes[n] for n in order}, readers, out.get("output_dir"),
                         out.get("spikes_file"), sort)


def write_spikes(circuit: SonataCircuit, gids: np.ndarray, steps: np.ndarray, path: str) -> None:
    """Write spikes in SONATA's format, ``/spikes/<population>/{timestamps (ms), node_ids}``,
    sorted as the config's ``spikes_sort_order`` asks (by time then id, or by id then
    time); the file is written under a temporary name and renamed into place."""
    pops, ids = circuit.node_ids(gids)
    t = np.asarray(steps, dtype=np.int64) * circuit.network.dt
    by = {"time": "by_time", "id": "by_id", "none": "none"}[circuit.spikes_sort_order]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with h5py.File(tmp, "w") as f:
        f.attrs["magic"] = np.uint32(0x0A7A)
        f.attrs["version"] = np.array([0, 1], dtype=np.uint32)
        for pop in sorted({sp for sp, _ in circuit.nodes.values()}):
            sel = np.flatnonzero(pops == pop)
            key = (t[sel], ids[sel]) if by != "by_id" else (ids[sel], t[sel])
            sel = sel[np.lexsort(key[::-1])] if by != "none" else sel
            g = f.create_group(f"spikes/{pop}")
            g.attrs["sorting"] = by
            g.create_dataset("timestamps", data=t[sel]).attrs["units"] = "ms"
            g.create_dataset("node_ids", data=ids[sel].astype(np.uint64))
    os.replace(tmp, path)


def _add_virtual(net: Network, g: _Group, trains: dict[str, list[np.ndarray]], config: str, conf: dict,
                 dt: float, groups: list[_Group]) -> None:
    """A virtual population's spike trains. NEST's injector emits every spike, also two in
    one step (the target sees twice the weight); a distsnn neuron spikes once per step,
    so the k-th spike of a node on a step goes to a shadow population ``<name>_dup<k>``
    of the nodes that have one, whose edges are the same nodes' edges."""
    if g.population not in trains:
        raise fail(config, "inputs", sorted(conf.get("inputs", {})),
                   f"no spike input names the virtual population {g.population!r}")
    # Rank of each spike among its node's spikes on the same step: 0, 1, ...
    ranks = [np.arange(st.size) - np.searchsorted(st, st, side="left") for st in trains[g.population]]
    depth = max([int(r.max(initial=0)) for r in ranks] + [0]) + 1
    layers = [[st[r == k] for st, r in zip(trains[g.population], ranks)] for k in range(depth)]
    net.add_population(g.name, g.nodes.size, "spike_train", {"times": [(st * dt).tolist() for st in layers[0]]})
    for k, layer in enumerate(layers[1:], start=1):
        has = np.flatnonzero([x.size > 0 for x in layer])
        shadow = _Group(f"{g.name}_dup{k}", g.population, g.nodes[has], None, {}, None)
        net.add_population(shadow.name, has.size, "spike_train",
                           {"times": [(layer[i] * dt).tolist() for i in has]})
        groups.insert(groups.index(g) + k, shadow)


def _edge_group_count(path: str, epop: str) -> int:
    with h5py.File(path, "r") as f:
        g = f["edges"][epop]
        return sum(1 for k in g if isinstance(g[k], h5py.Group) and k.isdigit())


def _add_edges(net: Network, reader: EdgeReader, groups: list[_Group], epop: str, tw: dict[int, float],
               td: dict[int, float], tsyn: dict[int, Any], tfile: str, dt: float) -> None:
    pre_groups = [g for g in groups if g.population == reader.source_population]
    post_groups = [g for g in groups if g.population == reader.target_population]
    n_src = sum(g.nodes.size for g in pre_groups)
    for post in post_groups:
        if post.model is None:
            raise fail(reader.path, f"/edges/{epop}/target_node_id@node_population", post.population,
                        "targets virtual nodes, which take no input")
        ports = _ports(post, tw, tsyn, tfile)
        for pre in pre_groups:
            for sign, syn, types in ports:
                conductance = isinstance(syn, dict) and syn.get("mode") == "conductance"
                # Conductance weights must be >= 0 nS: bounded so here, checked per edge when read.
                wlo, whi = _bounds(tw, reader.has_weight, 1.0, "positive" if conductance and sign == "any" else sign)
                dlo, dhi = _bounds(td, reader.has_delay, 1.0, "any", low=dt)
                conn = SonataEdges(reader, pre.nodes, post.nodes, n_src, sign, types, (wlo, whi), (dlo, dhi),
                                   _label(pre), _label(post))
                suffix = {"any": "", "positive": "_ex", "non_positive": "_in", "negative_flipped": "_in"}[sign]
                suffix += "" if types is None or len(ports) == 1 else f"_t{types[0]}"
                net.add_projection(pre.name, post.name, conn, syn, None, None,
                                   name=f"{_safe(epop)}-{pre.name}-{post.name}{suffix}")


def _label(g: _Group) -> str:
    n = g.nodes
    span = f"{n[0]}..{n[-1]}" if n.size else "none"
    return f"{g.population}: {n.size} nodes ({span}) of {'virtual' if g.model is None else g.model}"


def _ports(g: _Group, tw: dict[int, float], tsyn: dict[int, Any], tfile: str) -> list[tuple[str, Any, Any]]:
    """(sign, synapse, edge types) of the edges onto ``g``: for a NEST model weights > 0
    act on tau_syn_ex, others on tau_syn_in; for a ``distsnn:`` model each edge type
    carries its synapse type."""
    if g.model is not None and g.model.startswith("distsnn:"):
        out = []
        for t in sorted(tw):
            if t not in tsyn:
                raise fail(tfile, f"edge_type_id {t} dynamics_params.synapse", None,
                            f"edges onto {g.model} nodes need their distsnn synapse type")
            out.append(("any", tsyn[t], (t,)))
        return out
    nm = NEST_MODELS[g.model]
    if nm.kind == "delta":
        return [("any", "delta", None)]
    port = {**nm.ports, **{k: v for k, v in g.params.items() if k in nm.ports}}
    ex = {"kind": nm.kind, "tau": port["tau_syn_ex"]}
    inh = {"kind": nm.kind, "tau": port["tau_syn_in"]}
    if nm.mode == "conductance":
        # NEST's *_cond_* models take -w, a conductance >= 0, on the inhibitory port.
        ex.update(mode="conductance", e_rev=port["E_ex"])
        inh.update(mode="conductance", e_rev=port["E_in"])
        return [("positive", ex, None), ("negative_flipped", inh, None)]
    return [("positive", ex, None), ("non_positive", inh, None)]


def _bounds(per_type: dict[int, float], in_file: bool, default: float, sign: str,
            low: float = -math.inf) -> tuple[float, float]:
    if in_file:
        lo, hi = low, math.inf
    else:
        vals = [default if not np.isfinite(v) else v for v in per_type.values()] or [default]
        lo, hi = min(vals), max(vals)
    if sign == "positive":
        lo = max(lo, 0.0)
    elif sign == "non_positive":
        hi = min(hi, 0.0)
    elif sign == "negative_flipped":
        lo, hi = max(-hi, 0.0), -lo
    return lo, max(lo, hi)
