"""Dry run: rank 0's share of an N-rank job built in one process equals what rank 0 of a
real N-rank run holds."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import distsnn as ds
from distsnn import cli
from distsnn.dryrun import DryRunComm, dry_run, held_bytes
from tests.mpi.launch import ROOT, mpirun, needs_mpi

NET = os.path.join(ROOT, "tests", "data", "mixed.toml")


@needs_mpi
@pytest.mark.parametrize("method", ["metis", "round_robin"])
def test_dry_run_equals_rank_0_of_a_real_run(method, capsys):
    proc = mpirun(2, ["tests/mpi/dry_run_check.py", NET, method], timeout=180)
    assert proc.returncode == 0, proc.stderr
    real = json.loads(proc.stdout.split("HELD ", 1)[1].splitlines()[0])
    assert real["ranks"] == 2
    d = dry_run(ds.load_network(NET), 2, method)
    assert (d.neurons, d.synapses, d.epoch_steps) == (real["neurons"], real["synapses"], real["epoch"])
    assert d.route_entries == real["route_entries"] > 0   # neuron level: the exact route table
    assert d.neurons < ds.load_network(NET).size
    mine = {k: v for k, v in d.structures.items() if k != "exchanger"}
    theirs = {k: v for k, v in real["structures"].items() if k != "exchanger"}
    # The ring spans the job's longest delay, which the dry run takes from rank 0's own
    # synapses (the other ranks are not built): at most the real ring, equal under metis.
    assert mine.pop("ring") <= theirs.pop("ring")
    assert mine == theirs and sum(mine.values()) > 0
    # The predicted traffic is the partition's prediction for this pair of ranks.
    assert d.spikes_sent_per_s > 0 and d.peers_out == 1

    assert cli.main(["run", NET, "--dry-run", "2", "--partitioner", method]) == 0
    out = capsys.readouterr().out
    assert "dry run: rank 0 of 2" in out and f"neurons        {real['neurons']}" in out
    assert f"route table    {real['route_entries']} (neuron, rank) entries" in out


def test_held_bytes_counts_each_block_once_for_its_holder():
    class Holder:
        pass

    h = Holder()
    big = np.zeros(1000)
    h.a = big[:0]                  # a view keeps the whole block alive ...
    h.b = {"x": [big, np.ones(3, np.int32)]}   # ... but the owner of the block is charged
    h.c = np.broadcast_to(np.float32(1.0), (10**6,))   # a stride-0 view: 4 bytes
    h.comm = np.zeros(50)          # the communicator is not the rank's data
    assert held_bytes(h) == {"b": 8000 + 12, "c": 4}


def test_dry_run_comm_stands_for_the_other_ranks(capsys):
    c = DryRunComm(64, 0, (np.arange(3), np.array([0, 3] + [0] * 62)))
    assert c.allreduce(5, "min") == 5 and c.gather(1) == [1] and c.bcast("x") == "x"
    got, counts = c.alltoallv(np.zeros(0, np.int64), np.zeros(64, np.int64))
    assert got.tolist() == [0, 1, 2] and counts.sum() == 3
    with pytest.raises(ValueError, match="rank must be < ranks = 2, got 2"):
        dry_run(ds.load_network(NET), 2, rank=2)
    assert cli.main(["run", NET, "--dry-run", "0"]) == 2
    assert "--dry-run must be an integer >= 1 (ranks), got 0" in capsys.readouterr().err
