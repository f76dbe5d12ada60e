"""The distributed engine through real mpiexec runs (oversubscribed), each under a timeout.

Two networks together use every neuron model, synapse kind and connector:
``tests/data/mixed.toml`` (every connector, LIF with delta and exp synapses,
distributions, Poisson input) and the model-zoo network of ``test_models_mixed``
(every model, every synapse kind and mode, generators, scheduled input), here with every
state variable of every neuron of every model recorded at every step. Each runs in one
process, under ``mpiexec -n 1`` and on 2, 3 and 4 ranks with several partitioners (the
zoo on 1-4 ranks x metis, round_robin and block, all three in one launch per rank
count); spikes (gid, step) and recorded state must be identical, bit for bit.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import distsnn as ds
import partitioning
from distsnn import graph

from .mpi.launch import ROOT, mpirun, needs_mpi, plain
from .test_models_mixed import mixed, same

NET = os.path.join(ROOT, "tests", "data", "mixed.toml")


def _reference(out) -> ds.Result:
    proc = plain(["-m", "distsnn.cli", "run", NET, "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    res = ds.load(str(out))
    assert len(res.spikes) > 500, "the test network must be active"
    return res


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _reference(tmp_path_factory.mktemp("ref"))


#: Recorded in the zoo: every recordable variable of every model population.
ZOO_STATE = {"lif": ["V_m", "I_syn"], "cond": ["V_m", "I_syn", "g_syn"], "izh": ["V_m", "U_m", "I_syn", "g_syn"],
             "chat": ["V_m", "U_m", "I_syn"], "hh": ["V_m", "m", "h", "n", "I_syn", "g_syn"],
             "adex": ["V_m", "w", "I_syn", "g_syn"]}


def zoo_network() -> ds.Network:
    """The model zoo with every state variable of every neuron recorded at every step."""
    net = mixed()
    net.monitors = [m for m in net.monitors if not isinstance(m, ds.network.StateMonitor)]
    for pop, variables in ZOO_STATE.items():
        net.add_state_monitor(pop, variables)
    return net


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """The model-zoo network as TOML, and its single-process records."""
    path = tmp_path_factory.mktemp("zoo") / "zoo.toml"
    ds.dump(zoo_network(), str(path))
    out = tmp_path_factory.mktemp("zoo_ref")
    proc = plain(["-m", "distsnn.cli", "run", str(path), "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    res = ds.load(str(out))
    net = ds.load_network(str(path))
    for name, lo in net.offsets().items():   # every model fires
        assert len(res.spikes.of(lo, lo + net.populations[name].size)) > 0, name
    return str(path), res


@needs_mpi
@pytest.mark.parametrize("ranks,method", [(1, "metis"), (2, "metis"), (3, "metis"), (4, "metis"),
                                          (2, "round_robin"), (4, "round_robin"), (3, "block"),
                                          (4, "block"), (4, "metis_refined")])
def test_identical_spikes_and_traces_on_any_rank_count_and_partitioner(reference, tmp_path, ranks, method):
    proc = mpirun(ranks, ["-m", "distsnn.cli", "run", NET, "--out", str(tmp_path), "--partitioner", method])
    assert proc.returncode == 0, proc.stderr
    assert f"ranks          {ranks} ({method})" in proc.stdout   # really ran on that many ranks
    res = ds.load(str(tmp_path))
    assert res.summary["ranks"] == ranks
    assert len([f for f in os.listdir(tmp_path) if f.startswith("rank") and f.endswith(".h5")]) == ranks
    same(reference, res)


@needs_mpi
@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
def test_every_model_and_synapse_kind_is_rank_invariant(zoo, tmp_path, ranks):
    """Spikes and every recorded state variable, bit for bit, on 1-4 ranks x three partitioners."""
    path, ref = zoo
    methods = ("metis", "round_robin", "block")
    proc = mpirun(ranks, ["tests/mpi/run_partitioners.py", path, str(tmp_path), ",".join(methods)], timeout=240)
    assert proc.returncode == 0, proc.stderr
    net = ds.load_network(path)
    for method in methods:
        res = ds.load(str(tmp_path / method))
        assert res.summary["ranks"] == ranks
        # Every rank held neurons, so the traces really were assembled from several ranks.
        assert [r["neurons"] > 0 for r in res.summary["per_rank"]] == [True] * ranks
        assert np.array_equal(np.bincount(ds.placement.owner_of(net, ranks, method), minlength=ranks),
                              [r["neurons"] for r in res.summary["per_rank"]])
        same(ref, res)


@needs_mpi
@pytest.mark.parametrize("mode", ["empty", "sources"])
def test_rank_without_neurons_or_without_incoming_synapses_takes_part(reference, tmp_path, mode):
    proc = mpirun(3, ["tests/mpi/run_owner.py", NET, str(tmp_path), mode])
    assert proc.returncode == 0, proc.stderr
    res = ds.load(str(tmp_path))
    per_rank = res.summary["per_rank"]
    if mode == "empty":
        assert per_rank[2]["neurons"] == 0
    same(reference, res)


@needs_mpi
@pytest.mark.parametrize("when", ["setup", "run"])
def test_one_failing_rank_ends_the_job_quickly(when):
    t0 = time.monotonic()
    proc = mpirun(2, ["tests/mpi/fail.py", NET, when], timeout=60)
    elapsed = time.monotonic() - t0
    assert proc.returncode != 0
    assert "rank 1 fails" in proc.stderr and "Traceback" in proc.stderr
    assert elapsed < 30, f"the job took {elapsed:.1f} s to end"


@needs_mpi
def test_invalid_input_under_mpi_exits_nonzero_without_output(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(open(NET).read().replace("p = 0.1", "p = -0.1").replace(
        '"mixed_edges.csv"', repr(os.path.join(ROOT, "tests", "data", "mixed_edges.csv")).replace("'", '"')))
    out = tmp_path / "out"
    proc = mpirun(2, ["-m", "distsnn.cli", "run", str(bad), "--out", str(out)], timeout=60)
    assert proc.returncode != 0
    assert "connector.p must be in [0.0, 1.0]" in proc.stderr
    assert not out.exists()


@needs_mpi
@pytest.mark.parametrize("path,method,ranks", [
    (os.path.join(ROOT, "examples", "modular.toml"), "metis", 4),
    (os.path.join(ROOT, "examples", "modular.toml"), "round_robin", 3),
    (NET, "round_robin", 4)])
def test_messages_match_the_lambda_minus_one_prediction(tmp_path, path, method, ranks):
    """Measured spike messages per rank pair equal the partitioning metrics' (lambda - 1)
    traffic with each neuron's measured spike count as its rate, and bytes follow."""
    proc = mpirun(ranks, ["-m", "distsnn.cli", "run", path, "--out", str(tmp_path), "--partitioner", method,
                          "--t-stop", "100"])
    assert proc.returncode == 0, proc.stderr
    res = ds.load(str(tmp_path))
    net = ds.load_network(path)
    owner = ds.placement.owner_of(net, ranks, method)
    g = graph.neuron_graph(net)
    counts = np.bincount(res.spikes.gid, minlength=net.size).astype(float)
    assert counts.sum() > 100
    g = partitioning.CommGraph(g.indptr, g.indices, g.weight, g.delay, g.vertex_weight, counts, g.size)
    traffic = partitioning.traffic_matrix(g, owner, ranks)
    per_rank = res.summary["per_rank"]
    assert [r["neurons"] for r in per_rank] == np.bincount(owner, minlength=ranks).tolist()
    sent = np.array([r["records_sent"] for r in per_rank])
    received = np.array([r["records_received"] for r in per_rank])
    np.testing.assert_array_equal([r["sent_to"] for r in per_rank], traffic)
    np.testing.assert_array_equal(sent, traffic.sum(axis=1))
    np.testing.assert_array_equal(received, traffic.sum(axis=0))
    assert sent.sum() == partitioning.comm_volume(g, owner) > 0
    epochs = res.summary["t_sim_ms"] / (res.summary["epoch_steps"] * net.dt)
    for r in per_rank:   # 8 bytes a message, plus one count per other rank and epoch
        assert r["bytes_sent"] == 8 * r["records_sent"] + 8 * (ranks - 1) * int(np.ceil(epochs))
    if method == "metis":
        # Only the 5 ms links between areas cross ranks: the epoch is 5 ms, not 1 ms.
        assert res.summary["epoch_steps"] == 50 and res.summary["min_delay_steps"] == 10


def test_plain_run_equals_mpiexec_one(reference, tmp_path):
    """Covered with MPI by the parametrized test; here the in-process API agrees too."""
    res = ds.simulate(ds.load_network(NET))
    same(reference, res)
