"""SONATA export: ``dump_sonata`` writes nodes, edges, types and configs that
``load_sonata`` reads back to the same spikes (a network of every model and synapse kind,
and the SONATA example after a load / dump / load)."""

from __future__ import annotations

import csv
import json

import h5py
import numpy as np
import pytest

import distsnn as ds

from .test_io_sonata import CONFIG, needs_fixture
from .test_models_mixed import mixed


def neuron_spikes(net: ds.Network, result: ds.Result) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for name, lo in net.offsets().items():
        if net.populations[name].model != "spike_train":
            s = result.spikes.of(lo, lo + net.populations[name].size)
            out[name] = (s.gid - lo, s.step)
    return out


def same_spikes(a, b) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k][0], b[k][0], err_msg=k)
        np.testing.assert_array_equal(a[k][1], b[k][1], err_msg=k)


def test_round_trip_of_every_model_and_synapse_kind(tmp_path):
    net = mixed()
    net.inputs.clear()          # Poisson inputs have no SONATA form (tested below)
    net.t_stop = 120.0
    path = ds.dump_sonata(net, tmp_path / "out")
    back = ds.load_sonata(path)
    assert list(back.network.populations) == list(net.populations)
    for name, pop in net.populations.items():
        assert back.network.populations[name].params == pop.params
        assert back.network.channels(name) == net.channels(name)
    a, b = ds.simulate(net), ds.simulate(back.network)
    assert a.summary["synapses"] == b.summary["synapses"] > 0
    sa, sb = neuron_spikes(net, a), neuron_spikes(back.network, b)
    assert sum(s[0].size for s in sa.values()) > 100
    same_spikes(sa, sb)
    # The spike-train population is virtual, fed by its own input file.
    with open(tmp_path / "out" / "network" / "train_node_types.csv") as fh:
        assert next(csv.DictReader(fh, delimiter=" "))["model_type"] == "virtual"
    # Every file carries SONATA's magic and the edges their index.
    with h5py.File(tmp_path / "out" / "network" / "lif_cond_edges.h5") as f:
        assert f.attrs["magic"] == 0x0A7A
        assert "indices/target_to_source/range_to_edge_id" in f["edges/lif_cond"]


@needs_fixture
def test_the_sonata_example_survives_load_dump_load(tmp_path):
    first = ds.load_sonata(CONFIG)
    first.network.t_stop = 150.0
    path = ds.dump_sonata(first.network, tmp_path / "again")
    # iaf_psc_alpha populations stay NEST models (NEST reads the copy too).
    with open(tmp_path / "again" / "network" / "internal_100_node_types.csv") as fh:
        row = next(csv.DictReader(fh, delimiter=" "))
    assert row["model_template"] == "nest:iaf_psc_alpha"
    dyn = json.loads((tmp_path / "again" / "components" / "point_neuron_models" / "internal_100.json").read_text())
    assert dyn["V_m"] == -70.0 and dyn["tau_syn_ex"] == dyn["tau_syn_in"] == 2.0
    second = ds.load_sonata(path)
    a, b = ds.simulate(first.network), ds.simulate(second.network)
    assert a.summary["synapses"] == b.summary["synapses"] == 48432
    sa, sb = neuron_spikes(first.network, a), neuron_spikes(second.network, b)
    assert sum(s[0].size for s in sa.values()) > 500
    same_spikes(sa, sb)


def test_poisson_inputs_are_refused_before_anything_is_written(tmp_path):
    net = ds.Network(dt=0.1, t_stop=10.0)
    net.add_population("n", 2, "lif")
    net.add_poisson_input("drive", "n", 100.0, 1.0)
    with pytest.raises(ValueError, match=r"PoissonInput 'drive': SONATA has no Poisson input"):
        ds.dump_sonata(net, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_libsonata_reads_the_export(tmp_path):
    libsonata = pytest.importorskip("libsonata", reason="libsonata (an independent SONATA reader) is not installed")
    net = mixed()
    net.inputs.clear()
    ds.dump_sonata(net, tmp_path)
    circuit = libsonata.CircuitConfig.from_file(str(tmp_path / "circuit_config.json"))
    assert circuit.node_populations == set(net.populations)
    assert circuit.edge_populations == set(net.projections)
    edges = libsonata.EdgeStorage(str(tmp_path / "network" / "lif_cond_edges.h5")).open_population("lif_cond")
    assert (edges.source, edges.target) == ("lif", "cond")
    with h5py.File(tmp_path / "network" / "lif_cond_edges.h5") as f:
        g = f["edges/lif_cond"]
        src, tgt, w = g["source_node_id"][()], g["target_node_id"][()], g["0/syn_weight"][()]
    # The indices libsonata follows give each node's edges, both ways.
    for node in (0, 7, 39):
        aff = edges.afferent_edges([node])
        np.testing.assert_array_equal(np.sort(aff.flatten()), np.flatnonzero(tgt == node))
        eff = edges.efferent_edges([node])
        np.testing.assert_array_equal(np.sort(eff.flatten()), np.flatnonzero(src == node))
        np.testing.assert_array_equal(edges.get_attribute("syn_weight", aff), w[aff.flatten()])
    nodes = libsonata.NodeStorage(str(tmp_path / "network" / "hh_nodes.h5")).open_population("hh")
    assert nodes.size == net.populations["hh"].size
