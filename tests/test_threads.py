"""Threads inside a rank: the ``threads`` option (validated, refused before any work),
and Poisson injection and spike delivery split over threads, bit for bit the one-thread
results; the Poisson counts are the plain inverse CDF of the keyed draws."""

from __future__ import annotations

import os

import numpy as np
import pytest

import distsnn as ds
from distsnn import build, delivery, rng, threads
from distsnn.cli import main

from .mpi.launch import ROOT, mpirun, needs_mpi, plain
from .test_models_mixed import mixed, same
from .test_synapse_table import network as table_network


NET = os.path.join(ROOT, "tests", "data", "mixed.toml")


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None, threads.MAX_THREADS + 1])
def test_threads_option_is_checked_before_any_work(tmp_path, bad):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"Simulation: threads must be an integer in \[1, 256\], got"):
        ds.Simulation(mixed(), out=str(out), threads=bad)
    assert not out.exists()


def test_cli_threads_option_is_checked_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", NET, "--out", str(out), "--threads", "0", "--quiet"]) != 0
    assert "distsnn run --threads: threads must be an integer in [1, 256], got 0" in capsys.readouterr().err
    assert not out.exists()


def test_split_covers_the_range_in_order():
    parts = threads.split(3, 10, lambda lo, hi: (lo, hi))
    assert parts == [(0, 3), (3, 6), (6, 10)]
    assert threads.split(1, 7, lambda lo, hi: (lo, hi)) == [(0, 7)]
    assert threads.split(4, 2, lambda lo, hi: hi - lo) == [0, 1, 0, 1]


def test_threaded_delivery_is_bit_identical(monkeypatch):
    """Every weight kind and delay kind, spikes of sources with and without local
    targets, split over 2, 3 and 7 threads (ranges of unequal sizes): the same ring."""
    monkeypatch.setattr(delivery, "MIN_SPIKES_PER_SPLIT", 1)
    net = table_network()
    pops = build.local_populations(net, np.arange(0, net.size, 2))   # half the targets: sparse runs
    table = build.synapse_table(net, pops)
    n_ports = sum(len(p.channels) * p.n for p in pops)
    gen = np.random.default_rng(3)
    gids = np.sort(gen.choice(net.size + 20, 300, replace=False)).astype(np.int64)
    steps = gen.integers(0, 50, gids.size).astype(np.int64)
    R = int(table.max_delay()) + 1
    expect = np.zeros((R, n_ports), np.int64)
    events = delivery.deliver(gids, steps, table, expect)
    assert events > 10_000 and np.count_nonzero(expect) > 1_000
    for t in (2, 3, 7):
        ring = np.zeros_like(expect)
        assert delivery.deliver(gids, steps, table, ring, threads=t) == events
        np.testing.assert_array_equal(ring, expect)


def poisson_reference(key, gids, wq, cdf, first, last, R, n_ports, ports):
    """The plain inverse CDF of draw ``n`` of row ``gid``: #{j < kmax: cdf[j] <= u}."""
    u = rng.uniform(key, gids.astype(np.int64), last + 1)
    u = u.reshape(gids.size, last + 1)
    kmax = cdf.values.shape[1] - 1
    ring = np.zeros((R, n_ports), np.int64)
    for n in range(first, last + 1):
        row = cdf.values[np.searchsorted(cdf.first_step, n - 1, side="right") - 1, :kmax]
        counts = (u[:, n, None] >= row[None, :]).sum(axis=1)
        ring[n % R, ports] += counts * wq
    return ring


@pytest.mark.parametrize("n,rates", [(3000, [20000.0, 500.0, 0.0, 400000.0]), (37, [9000.0]), (1, [1e5])])
def test_poisson_counts_are_the_inverse_cdf_on_any_thread_count(monkeypatch, n, rates):
    """Rates whose tables are short (0.05 per step), long (40 per step: a binary search's
    size) and zero, changing inside an epoch; epochs that start on odd and even steps."""
    monkeypatch.setattr(delivery, "MIN_NEURONS_PER_SPLIT", 1)
    net = ds.Network(dt=0.1, seed=9)
    net.add_population("p", n, "lif")
    times = [0.0, 0.7, 1.2, 2.0][: len(rates)]
    net.add_poisson_input("drive", "p", None, 0.5, schedule={"times": times, "rates": rates})
    pops = build.local_populations(net, np.arange(n))
    (table,) = build.poisson_tables(net, pops)
    R = 17
    for first, last in ((1, 15), (4, 9), (16, 30), (7, 7)):
        expect = poisson_reference(table.key, table.gids, table.wq, table.cdf, first, last, R, n, table.ports)
        for t in (1, 2, 3):
            ring = np.zeros((R, n), np.int64)
            delivery.poisson_into_ring(table.key[0], table.key[1], table.gids, table.ports, table.wq, table.cdf,
                                       first, last, ring, t)
            np.testing.assert_array_equal(ring, expect, err_msg=f"steps {first}..{last}, {t} threads")


def test_threaded_run_is_bit_identical(monkeypatch):
    """The model zoo on one process with 3 threads (every batch split): the same spikes
    and traces as with one."""
    monkeypatch.setattr(delivery, "MIN_SPIKES_PER_SPLIT", 1)
    monkeypatch.setattr(delivery, "MIN_NEURONS_PER_SPLIT", 1)
    net = mixed()
    one = ds.Simulation(net).run()
    three = ds.Simulation(net, threads=3).run()
    assert len(one.spikes) > 500
    same(one, three)


@needs_mpi
def test_threads_under_mpi_are_bit_identical(tmp_path):
    """2 ranks x 3 threads against 1 rank x 1 thread, through the files."""
    ref = tmp_path / "ref"
    proc = plain(["-m", "distsnn.cli", "run", NET, "--out", str(ref), "--quiet"])
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "threads"
    proc = mpirun(2, ["tests/mpi/run_threads.py", NET, str(out), "3", "2"])
    assert proc.returncode == 0, proc.stderr
    res = ds.load(str(out))
    assert res.summary["ranks"] == 2 and len(res.spikes) > 500
    same(ds.load(str(ref)), res)
