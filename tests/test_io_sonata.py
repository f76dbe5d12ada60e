"""SONATA import: the SONATA project's 300-point-neuron example (shared fixture) builds
NEST's 48,432 connections and fires NEST's 18,828 spikes; the result is the same on 2 and
4 MPI ranks, and each rank reads only the edges onto its own neurons. Plus the rules:
NEST's spike stamps, node sets, reports, defaults, refusals with file, field and value."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import distsnn as ds
from distsnn.io import sonata, sonata_config

from .mpi.launch import mpirun, needs_mpi

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT.parent / "shared" / "fixtures" / "sonata" / "300_pointneurons"
CONFIG = FIXTURE / "simulation_config.json"
needs_fixture = pytest.mark.skipif(not CONFIG.is_file(), reason=f"SONATA fixture not found at {FIXTURE}")

NEST_CONNECTIONS = 48432
NEST_SPIKES = 18828      # NEST 3.10's testsuite/pytests/connect/test_sonata.py
SHORT_MS = 200.0


@pytest.fixture(scope="module")
def full_run():
    circuit = ds.load_sonata(CONFIG)
    sim = ds.Simulation(circuit.network)
    return circuit, sim.run()


def internal_spikes(circuit, result) -> np.ndarray:
    pops, _ = circuit.node_ids(result.spikes.gid)
    return pops == "internal"


@needs_fixture
def test_fixture_builds_nests_connections_and_fires_nests_spikes(full_run):
    circuit, result = full_run
    net = circuit.network
    assert net.dt == 0.01 and net.t_stop == 1500.0
    assert net.size == 400
    assert result.summary["synapses"] == NEST_CONNECTIONS
    assert int(internal_spikes(circuit, result).sum()) == NEST_SPIKES
    # Five node types of iaf_psc_alpha with their JSON parameters; V_m starts at -70 mV.
    lif = {n: p for n, p in net.populations.items() if p.model == "lif"}
    assert len(lif) == 5 and sum(p.size for p in lif.values()) == 300
    assert {p.params.tau_m for p in lif.values()} == {44.9, 22.2, 12.5, 22.1, 11.5}
    assert all(p.initial["V_m"].value == -70.0 for p in lif.values())
    # Every edge was read once, by this one process.
    assert sorted(r.rows_read for r in circuit.readers) == [20844, 27588]
    # The membrane report: V_m of the node set's five cells, every step from step 0.
    traces = [t for (pop, var), t in result.traces.items() if var == "V_m"]
    cells = sorted(int(i) for t in traces for i in circuit.node_ids(t.gids)[1])
    assert cells == [0, 80, 160, 240, 270]
    assert all(t.values.shape[0] == 150001 and np.all(t.values[0] == -70.0) for t in traces)


@needs_fixture
@needs_mpi
@pytest.mark.parametrize("n", [2, 4])
def test_ranks_give_the_same_spikes_and_read_only_their_own_edges(full_run, n):
    circuit, result = full_run
    proc = mpirun(n, ["tests/mpi/run_sonata.py", str(CONFIG), str(SHORT_MS), "metis"], timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    assert out["size"] == n and out["synapses"] == NEST_CONNECTIONS
    # Spikes up to SHORT_MS are those of the one-process full run.
    gid = np.concatenate([r["gid"] for r in out["ranks"]]).astype(np.int64)
    step = np.concatenate([r["step"] for r in out["ranks"]]).astype(np.int64)
    order = np.lexsort((gid, step))
    early = result.spikes.step <= round(SHORT_MS / 0.01)
    np.testing.assert_array_equal(step[order], result.spikes.step[early])
    np.testing.assert_array_equal(gid[order], result.spikes.gid[early])
    # Each rank read exactly the edges onto the internal nodes it owns, no others.
    with h5py.File(FIXTURE / "network" / "internal_internal_edges.h5") as f:
        t_int = f["edges/internal_to_internal/target_node_id"][()]
    with h5py.File(FIXTURE / "network" / "external_internal_edges.h5") as f:
        t_ext = f["edges/external_to_internal/target_node_id"][()]
    totals = {"internal_to_internal": 0, "external_to_internal": 0}
    for r in out["ranks"]:
        mine = np.array([i for p, i in r["owned"] if p == "internal"], dtype=np.int64)
        assert r["rows_read"]["internal_to_internal"] == int(np.isin(t_int, mine).sum())
        assert r["rows_read"]["external_to_internal"] == int(np.isin(t_ext, mine).sum())
        assert r["scan_rows"] == 0      # the files' indices were used, no column was scanned
        for k in totals:
            totals[k] += r["rows_read"][k]
    assert totals == {"internal_to_internal": t_int.size, "external_to_internal": t_ext.size}


def test_nest_spike_stamps_round_off_grid_times_up_and_keep_grid_times():
    dt = 0.01
    times = np.array([0.0, 0.01, 0.384322, 1.0, 2.005, 2.0049999999, 1500.0, 0.0099])
    np.testing.assert_array_equal(sonata._nest_stamps(times, dt), [0, 1, 39, 100, 201, 201, 150000, 1])
    # A time within half a tic of the grid counts as on the grid (nest::Time rounds to tics).
    assert sonata._nest_stamps(np.array([0.0300004]), dt)[0] == 3


def make_circuit(tmp: Path, node_types: str, dyn: dict | None = None, edge_types: str | None = None,
                 weights: list[float] | None = None, delays: list[float] | None = None,
                 node_sets: dict | None = None, extra: dict | None = None, legacy: bool = False,
                 spikes: tuple[list[int], list[float]] = ([0, 1, 0], [5.0, 7.25, 20.0])) -> Path:
    """A tiny SONATA circuit: 3 neurons ('cells', node type 1) and 2 virtual inputs."""
    (tmp / "models").mkdir(parents=True, exist_ok=True)
    (tmp / "models" / "cell.json").write_text(json.dumps(dyn if dyn is not None else {"I_e": 0.0}))
    (tmp / "node_types.csv").write_text(node_types)
    (tmp / "virt_types.csv").write_text("node_type_id model_type\n9 virtual\n")
    with h5py.File(tmp / "nodes.h5", "w") as f:
        f.create_dataset("nodes/cells/node_type_id", data=np.array([1, 1, 1], dtype=np.uint64))
        f.create_dataset("nodes/cells/node_group_id", data=np.zeros(3, dtype=np.uint32))
        f.create_group("nodes/cells/0")
    with h5py.File(tmp / "virt_nodes.h5", "w") as f:
        f.create_dataset("nodes/virt/node_type_id", data=np.array([9, 9], dtype=np.uint64))
    src, tgt = [0, 1, 0, 1], [0, 0, 1, 2]
    with h5py.File(tmp / "edges.h5", "w") as f:
        g = f.create_group("edges/virt_to_cells")
        g.create_dataset("source_node_id", data=np.array(src, dtype=np.uint64)).attrs["node_population"] = "virt"
        g.create_dataset("target_node_id", data=np.array(tgt, dtype=np.uint64)).attrs["node_population"] = "cells"
        g.create_dataset("edge_type_id", data=np.full(4, 5, dtype=np.uint32))
        grp = g.create_group("0")
        if weights is not None:
            grp.create_dataset("syn_weight", data=np.array(weights))
        if delays is not None:
            grp.create_dataset("delay", data=np.array(delays))
    (tmp / "edge_types.csv").write_text(edge_types or "edge_type_id model_template\n5 static_synapse\n")
    with h5py.File(tmp / "spikes.h5", "w") as f:
        prefix = "spikes" if legacy else "spikes/virt"
        f.create_dataset(f"{prefix}/{'gids' if legacy else 'node_ids'}", data=np.array(spikes[0]))
        f.create_dataset(f"{prefix}/timestamps", data=np.array(spikes[1]))
    (tmp / "node_sets.json").write_text(json.dumps(node_sets or {"inputs": {"population": "virt"},
                                                                 "probe": {"population": "cells", "node_id": [2]}}))
    conf = {
        "manifest": {"$BASE": "."},
        "run": {"tstop": 50.0, "dt": 0.1},
        "target_simulator": "NEST",
        "components": {"point_neuron_models_dir": "$BASE/models"},
        "node_sets_file": "$BASE/node_sets.json",
        "networks": {"nodes": [{"nodes_file": "$BASE/nodes.h5", "node_types_file": "$BASE/node_types.csv"},
                               {"nodes_file": "$BASE/virt_nodes.h5", "node_types_file": "$BASE/virt_types.csv"}],
                     "edges": [{"edges_file": "$BASE/edges.h5", "edge_types_file": "$BASE/edge_types.csv"}]},
        "inputs": {"spk": {"input_type": "spikes", "module": "h5", "input_file": "$BASE/spikes.h5",
                           "node_set": "inputs"}},
        "output": {"output_dir": "$BASE/output", "spikes_file": "spikes.h5"},
        "reports": {"v": {"cells": "probe", "variable_name": "V_m", "module": "membrane_report"}},
    }
    conf.update(extra or {})
    path = tmp / "config.json"
    path.write_text(json.dumps(conf))
    return path


ALPHA = "node_type_id model_type model_template dynamics_params\n1 point_process nest:iaf_psc_alpha cell.json\n"


def test_small_circuit_defaults_inputs_reports_and_the_alpha_psp(tmp_path):
    # Two virtual nodes, no node_id datasets (implicit ids), /spikes/<population> layout.
    cfg = make_circuit(tmp_path, ALPHA, {"tau_syn_ex": 1.5, "I_e": 0.0}, weights=[100.0, -50.0, 100.0, 30.0])
    c = ds.load_sonata(cfg)
    net = c.network
    assert (net.dt, net.t_stop) == (0.1, 50.0)
    # Node types with one parameter set keep the population name; NEST defaults elsewhere.
    p = net.populations["cells"]
    assert (p.params.C_m, p.params.tau_m, p.params.V_th, p.params.t_ref) == (250.0, 10.0, -55.0, 2.0)
    # Weights > 0 go to tau_syn_ex = 1.5 (given), <= 0 to tau_syn_in = 2.0 (NEST's default).
    taus = sorted((pr.synapse.tau, pr.name.endswith("_ex")) for pr in net.projections.values())
    assert taus == [(1.5, True), (2.0, False)]
    assert c.output_dir == str(tmp_path / "output")
    res = ds.simulate(net)
    assert res.summary["synapses"] == 4
    tr = res.trace("cells", "V_m")
    assert list(c.node_ids(tr.gids)[1]) == [2]
    # Cell 2 gets virt 1's spike at 7.25 ms -> stamped 7.3, arrives 8.3 (delay 1.0 ms,
    # NEST's default), acts from 8.4: its V_m leaves -70 exactly then.
    v = tr.values[:, 0]
    moved = tr.time[np.flatnonzero(v != -70.0)[0]]
    assert moved == pytest.approx(8.4)
    # Delay from the edge-type CSV when the HDF5 has none.
    cfg2 = make_circuit(tmp_path, ALPHA, weights=[100.0, -50.0, 100.0, 30.0],
                        edge_types="edge_type_id model_template delay\n5 static_synapse 3.0\n")
    tr2 = ds.simulate(ds.load_sonata(cfg2).network).trace("cells", "V_m")
    assert tr2.time[np.flatnonzero(tr2.values[:, 0] != -70.0)[0]] == pytest.approx(10.4)


def test_legacy_spike_layout_and_hdf5_delays(tmp_path):
    cfg = make_circuit(tmp_path, ALPHA, weights=[300.0] * 4, delays=[1.0, 2.0, 1.5, 4.0], legacy=True)
    res = ds.simulate(ds.load_sonata(cfg).network)
    tr = res.trace("cells", "V_m")
    assert tr.time[np.flatnonzero(tr.values[:, 0] != -70.0)[0]] == pytest.approx(7.3 + 4.0 + 0.1)


@pytest.mark.parametrize("kwargs,match", [
    (dict(node_types="node_type_id model_type model_template dynamics_params\n"
                     "1 biophysical ctdb:Biophys1.hoc cell.json\n"),
     r"node_types.csv: model_type = 'biophysical': only point_neuron"),
    (dict(node_types="node_type_id model_type model_template dynamics_params\n"
                     "1 point_process nest:aeif_cond_beta cell.json\n"),
     r"model_template = 'nest:aeif_cond_beta': no distsnn counterpart; supported: nest:iaf_psc_alpha"),
    (dict(node_types=ALPHA, dyn={"V_min": -90.0}),
     r"cell.json: V_min = -90.0: parameter of nest:iaf_psc_alpha not supported"),
    (dict(node_types=ALPHA, edge_types="edge_type_id model_template\n5 stdp_synapse\n"),
     r"edge_types.csv: model_template = 'stdp_synapse': only 'static_synapse'"),
    (dict(node_types=ALPHA, extra={"target_simulator": "NEURON"}),
     r"config.json: target_simulator = 'NEURON'"),
    (dict(node_types=ALPHA, extra={"inputs": {"x": {"input_type": "current_clamp", "node_set": "inputs"}}}),
     r"inputs.x.input_type = 'current_clamp'"),
])
def test_unsupported_features_are_refused_naming_file_field_value(tmp_path, kwargs, match):
    cfg = make_circuit(tmp_path, **kwargs)
    with pytest.raises(ValueError, match=match):
        ds.load_sonata(cfg)


def test_several_edge_groups_are_refused(tmp_path):
    cfg = make_circuit(tmp_path, ALPHA)
    with h5py.File(tmp_path / "edges.h5", "a") as f:
        f.create_group("edges/virt_to_cells/1")
    with pytest.raises(ValueError, match=r"edges.h5: /edges/virt_to_cells = '2 edge groups': several edge groups"):
        ds.load_sonata(cfg)


def test_node_sets_select_by_rule_and_union(tmp_path):
    cfg = make_circuit(tmp_path, ALPHA)
    pops = {"cells": {"size": 3, "type_ids": np.array([1, 1, 2]), "types": {1: {"ei": "e"}, 2: {"ei": "i"}}}}
    sets = {"e": {"ei": "e"}, "two": {"population": "cells", "node_id": [2]}, "both": ["e", "two"]}
    got = sonata_config.node_set("both", sets, pops, str(cfg))
    np.testing.assert_array_equal(got["cells"], [0, 1, 2])
    np.testing.assert_array_equal(sonata_config.node_set({"node_type_id": 2}, sets, pops, "x")["cells"], [2])
    with pytest.raises(ValueError, match=r"node_set = 'nope': is neither a node set"):
        sonata_config.node_set("nope", sets, pops, "x")


def check_sonata_spikes(path: Path, circuit, direct) -> None:
    pops, ids = circuit.node_ids(direct.spikes.gid)
    with h5py.File(path) as f:
        g = f["spikes/cells"]
        assert g.attrs["sorting"] == "by_time" and g["timestamps"].attrs["units"] == "ms"
        np.testing.assert_array_equal(g["node_ids"][()], ids[pops == "cells"])
        np.testing.assert_allclose(g["timestamps"][()], direct.spikes.time[pops == "cells"])


def test_cli_runs_a_sonata_config_and_writes_its_records(tmp_path):
    from distsnn import cli

    cfg = make_circuit(tmp_path, ALPHA, weights=[900.0] * 4)
    assert cli.main(["run", str(cfg), "--t-stop", "30"]) == 0
    rec = ds.load(str(tmp_path / "output"))      # output.output_dir of the config
    circuit = ds.load_sonata(cfg)
    direct = ds.simulate(circuit.network, t_stop=30.0)
    assert rec.spikes.gid.size == direct.spikes.gid.size > 0
    np.testing.assert_array_equal(rec.spikes.step, direct.spikes.step)
    assert ("cells", "V_m") in rec.traces
    # output.spikes_file in SONATA's layout, node ids of the SONATA population.
    check_sonata_spikes(tmp_path / "output" / "spikes.h5", circuit, direct)


@needs_mpi
def test_cli_under_mpi_writes_one_sonata_spikes_file(tmp_path):
    cfg = make_circuit(tmp_path, ALPHA, weights=[900.0] * 4)
    out = tmp_path / "mpi_out"
    proc = mpirun(2, ["-m", "distsnn.cli", "run", str(cfg), "--out", str(out), "--t-stop", "30"], timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 (metis)" in proc.stdout
    circuit = ds.load_sonata(cfg)
    check_sonata_spikes(out / "spikes.h5", circuit, ds.simulate(circuit.network, t_stop=30.0))


@pytest.mark.parametrize("model,kinds", [("iaf_psc_delta", {"delta"}), ("iaf_psc_exp", {"exp"})])
def test_other_iaf_psc_models_map_to_lif_with_their_synapses(tmp_path, model, kinds):
    types = f"node_type_id model_type model_template dynamics_params\n1 point_process nest:{model} cell.json\n"
    cfg = make_circuit(tmp_path, types, {"E_L": -65.0}, weights=[4.0, -2.0, 4.0, 3.0])
    net = ds.load_sonata(cfg).network
    assert {pr.synapse.kind for pr in net.projections.values()} == kinds
    assert net.populations["cells"].params.E_L == -65.0
    res = ds.simulate(net)
    v = res.trace("cells", "V_m").values[:, 0]
    assert v[0] == -70.0                      # NEST's V_m, not E_L
    if model == "iaf_psc_delta":
        # virt 1 -> cell 2 (weight 3 mV): stamped 7.3 ms, arrives 8.3 ms and jumps V there.
        k = round(8.3 / 0.1)
        P22 = np.exp(-0.1 / 10.0)
        assert v[k] - (-65.0 + P22 * (v[k - 1] + 65.0)) == pytest.approx(3.0, abs=1e-9)


@pytest.mark.parametrize("model,dist,v0", [("iaf_cond_exp", "lif_cond", -70.0), ("aeif_cond_alpha", "adex", -70.6)])
def test_conductance_models_take_minus_w_on_the_inhibitory_port(tmp_path, model, dist, v0):
    types = f"node_type_id model_type model_template dynamics_params\n1 point_process nest:{model} cell.json\n"
    cfg = make_circuit(tmp_path, types, {"E_L": -65.0, "E_in": -80.0}, weights=[4.0, -2.0, 4.0, 3.0])
    net = ds.load_sonata(cfg).network
    pop = net.populations["cells"]
    assert pop.model == dist and pop.params.E_L == -65.0 and pop.initial["V_m"].value == v0
    syn = {pr.name.rsplit("_", 1)[1]: pr.synapse for pr in net.projections.values()}
    assert (syn["ex"].tau, syn["ex"].e_rev) == (0.2, 0.0)          # NEST's defaults
    assert (syn["in"].tau, syn["in"].e_rev) == (2.0, -80.0)        # E_in given
    # virt 1 -> cell 0 has weight -2: the inhibitory port takes a conductance of 2 nS.
    proj = {pr.name.rsplit("_", 1)[1]: pr for pr in net.projections.values()}
    got = proj["in"].connector.connect(None, 2, 3, np.arange(3), 0, 2, False)
    assert (got.pre.tolist(), got.post.tolist(), got.weight.tolist()) == ([1], [0], [2.0])
    got = proj["ex"].connector.connect(None, 2, 3, np.arange(3), 0, 2, False)
    assert sorted(zip(got.pre.tolist(), got.post.tolist(), got.weight.tolist())) == [(0, 0, 4.0), (0, 1, 4.0),
                                                                                     (1, 2, 3.0)]
    assert ds.simulate(net).summary["synapses"] == 4


def test_two_input_spikes_on_one_step_act_twice_as_in_nest(tmp_path):
    # virt 1 spikes at 7.25 and 7.28 ms: both stamped 7.3 ms (NEST rounds off-grid times up).
    twice = make_circuit(tmp_path / "a", ALPHA, weights=[100.0, -50.0, 100.0, 30.0],
                         spikes=([0, 1, 1, 0], [5.0, 7.25, 7.28, 20.0]))
    c = ds.load_sonata(twice)
    assert c.nodes["virt_dup1"][0] == "virt" and list(c.nodes["virt_dup1"][1]) == [1]
    once_double = make_circuit(tmp_path / "b", ALPHA, weights=[100.0, -50.0, 100.0, 60.0])
    a = ds.simulate(c.network).trace("cells", "V_m").values[:, 0]
    b = ds.simulate(ds.load_sonata(once_double).network).trace("cells", "V_m").values[:, 0]
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
