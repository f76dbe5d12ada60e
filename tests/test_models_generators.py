"""Generators: the fixed spike train, the Poisson population and scheduled Poisson input.

Statistical tolerances come from the sample size: a count with expectation ``mu`` and
standard deviation ``sigma`` must lie within 5 sigma (a false alarm about once in 1.7
million runs; the draws are keyed, so each test is deterministic anyway).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from distsnn import Network, Simulation, build, config, delivery, rng
from distsnn.models import poisson


def spikes_by_neuron(res, lo: int, n: int) -> list[np.ndarray]:
    sp = res.spikes.of(lo, lo + n)
    return [sp.time[sp.gid == lo + i] for i in range(n)]


# -- spike_train -------------------------------------------------------------------------


def test_spike_train_emits_exactly_the_given_times():
    times = [[0.1, 0.5, 2.0, 7.3], [], [1.0, 1.1, 1.2, 50.0], [99.9]]
    net = Network(dt=0.1, t_stop=100.0)
    net.add_population("gen", 4, "spike_train", {"times": times})
    net.add_spike_monitor("gen")
    res = Simulation(net).run()
    for got, want in zip(spikes_by_neuron(res, 0, 4), times):
        np.testing.assert_allclose(got, want, atol=1e-12)
    assert len(res.spikes) == sum(map(len, times))


def test_spike_train_times_on_the_grid_are_emitted_at_their_step():
    net = Network(dt=0.1, t_stop=5.0)
    net.add_population("gen", 2, "spike_train", {"times": [[0.3, 1.1], [0.1, 2.3]]})   # 1.1 / 0.1 = 11.000000000000002
    net.add_spike_monitor("gen")
    sp = Simulation(net).run().spikes
    assert list(sp.step[sp.gid == 0]) == [3, 11]
    assert list(sp.step[sp.gid == 1]) == [1, 23]


def test_spike_train_offgrid_times_round_up_when_allowed():
    # NEST's allow_offgrid_times: a time inside a step is emitted at the end of that step.
    net = Network(dt=0.1, t_stop=5.0)
    net.add_population("gen", 2, "spike_train", {"times": [[0.01, 0.25, 0.96], [0.3, 1.04]],
                                                 "allow_offgrid_times": True})
    net.add_spike_monitor("gen")
    sp = Simulation(net).run().spikes
    assert list(sp.step[sp.gid == 0]) == [1, 3, 10]
    assert list(sp.step[sp.gid == 1]) == [3, 11]


def test_spike_train_drives_a_target_with_the_delay():
    net = Network(dt=0.1, t_stop=20.0)
    net.add_population("gen", 1, "spike_train", {"times": [[5.0]]})
    net.add_population("n", 1, "lif", {"V_th": -69.0})
    net.add_projection("gen", "n", {"rule": "all_to_all"}, "delta", 2.0, 1.5)
    net.add_spike_monitor("n")
    res = Simulation(net).run()
    assert list(res.spikes.of(1, 2).step) == [65]   # 50 + 15 steps of delay


@pytest.mark.parametrize("times,pattern", [
    ([[1.0, 0.5]], r"times\[0\] must be ascending; times\[0\]\[1\] = 0.5 ms after 1.0 ms"),
    ([[-1.0]], r"times\[0\]\[0\] must be >= dt = 0.1 ms \(one step\), got -1.0"),
    ([[0.0]], r"times\[0\]\[0\] must be >= dt = 0.1 ms \(one step\), got 0.0"),
    ([[0.04]], r"times\[0\]\[0\] = 0.04 ms is not a multiple of dt = 0.1 ms; give times on the grid or set "
               r"allow_offgrid_times = true \(rounds them up to the next step, as NEST\)"),
    ([[1.0, 1.02]], r"times\[0\]\[1\] = 1.02 ms is not a multiple of dt = 0.1 ms"),
    ([[1.0], [2.0]], r"times must have one list per neuron \(1\), got 2"),
    ([[float("nan")]], r"times\[0\]\[0\] must be finite"),
    ([[1.0, "x"]], r"times\[0\]\[1\] must be a number"),
    ([1.0], r"times must be a list of lists"),
])
def test_spike_train_bad_times_raise(times, pattern):
    with pytest.raises(ValueError, match=r"Population 'gen': " + pattern):
        Network(dt=0.1).add_population("gen", 1, "spike_train", {"times": times})


@pytest.mark.parametrize("times,pattern", [
    ([[0.0]], r"times\[0\]\[0\] must be > 0 ms, got 0.0"),
    ([[1.01, 1.02]], r"times\[0\]\[1\] = 1.02 ms falls on the same step of dt = 0.1 ms as 1.01 ms"),
])
def test_spike_train_bad_offgrid_times_raise(times, pattern):
    with pytest.raises(ValueError, match=r"Population 'gen': " + pattern):
        Network(dt=0.1).add_population("gen", 1, "spike_train", {"times": times, "allow_offgrid_times": True})


def test_spike_train_needs_times_and_takes_no_synapses():
    net = Network()
    with pytest.raises(ValueError, match="Population 'gen': times .* is required"):
        net.add_population("gen", 1, "spike_train", {})
    net.add_population("gen", 1, "spike_train", {"times": [[1.0]]})
    with pytest.raises(ValueError, match=r"does not act on model 'spike_train'; it takes none"):
        net.add_projection("gen", "gen", {"rule": "all_to_all"}, "delta", 1.0, 1.0)


# -- poisson population -------------------------------------------------------------------


def poisson_run(n: int, params: dict, t_stop: float, dt: float = 1.0, seed: int = 7, name: str = "src"):
    net = Network(dt=dt, seed=seed, t_stop=t_stop)
    net.add_population(name, n, "poisson", params)
    net.add_spike_monitor(name)
    return Simulation(net).run()


def test_poisson_population_rate_and_fano_factor():
    n, T, dt, rate = 400, 10000.0, 1.0, 20.0
    res = poisson_run(n, {"rate": rate}, T, dt)
    p = -math.expm1(-rate * dt * 1e-3)
    steps = int(T / dt)
    total = len(res.spikes)
    mu = n * steps * p
    assert abs(total - mu) < 5 * math.sqrt(n * steps * p * (1 - p))
    # Fano factor of counts in 200 ms windows: expected 1 - p for Bernoulli steps; the
    # sample variance of M counts has relative standard error sqrt(2 / (M - 1)).
    win = 200
    counts = np.zeros((n, steps // win))
    np.add.at(counts, (res.spikes.gid, (res.spikes.step - 1) // win), 1)
    fano = counts.var(ddof=1) / counts.mean()
    m = counts.size
    assert abs(fano - (1 - p)) < 5 * (1 - p) * math.sqrt(2 / (m - 1)) + 5 * math.sqrt(1 / (n * steps * p))


def test_poisson_population_streams_are_independent_per_neuron():
    n, T = 50, 20000.0
    res = poisson_run(n, {"rate": 50.0}, T, dt=1.0)
    bins = np.zeros((n, int(T / 10)))
    np.add.at(bins, (res.spikes.gid, (res.spikes.step - 1) // 10), 1)
    r = np.corrcoef(bins)[np.triu_indices(n, 1)]
    # Independent series of M bins: each correlation ~ N(0, 1/M); over all pairs the
    # mean has standard error 1/sqrt(M * pairs) and no pair strays beyond 5.5/sqrt(M).
    M = bins.shape[1]
    assert np.all(np.abs(r) < 5.5 / math.sqrt(M))
    assert abs(r.mean()) < 5 / math.sqrt(M * r.size)


def test_poisson_population_keyed_by_seed_name_and_gid():
    a = poisson_run(20, {"rate": 100.0}, 500.0, seed=1)
    b = poisson_run(20, {"rate": 100.0}, 500.0, seed=1)
    c = poisson_run(20, {"rate": 100.0}, 500.0, seed=2)
    d = poisson_run(20, {"rate": 100.0}, 500.0, seed=1, name="other")
    np.testing.assert_array_equal(a.spikes.gid, b.spikes.gid)
    np.testing.assert_array_equal(a.spikes.step, b.spikes.step)
    assert not np.array_equal(a.spikes.step, c.spikes.step)
    assert not np.array_equal(a.spikes.step, d.spikes.step)
    # A neuron's train does not depend on which other neurons are simulated with it.
    prep = poisson.prepare(poisson.Params(poisson.RateSchedule((0.0,), (100.0,))), 1.0, (),
                           key=rng.stream_key(1, "poisson_pop:src"))
    gids = np.array([3, 17])
    state = poisson.init_state(prep, {}, gids)
    for n in range(1, 501):
        _, spiked = poisson.step(state, np.zeros((0, 2)), prep, n)
        for g, s in zip(gids, spiked):
            assert s == bool(np.any((a.spikes.gid == g) & (a.spikes.step == n)))


def test_poisson_population_schedule():
    sched = {"times": [0.0, 2000.0, 3000.0], "rates": [10.0, 80.0, 0.0]}
    n, dt = 300, 0.5
    res = poisson_run(n, {"schedule": sched}, 4000.0, dt)
    t = res.spikes.step * dt
    for lo, hi, rate in ((0, 2000, 10.0), (2000, 3000, 80.0), (3000, 4000, 0.0)):
        # The count of step k uses the rate in force at step k - 1: steps lo/dt+1 .. hi/dt.
        got = np.count_nonzero((t > lo) & (t <= hi))
        p = -math.expm1(-rate * dt * 1e-3)
        trials = n * (hi - lo) / dt
        assert abs(got - trials * p) <= 5 * math.sqrt(trials * p * (1 - p)), (lo, hi)


@pytest.mark.parametrize("params,pattern", [
    ({}, "give exactly one of rate"),
    ({"rate": 5.0, "schedule": {"times": [0.0], "rates": [1.0]}}, "give exactly one of rate"),
    ({"rate": -1.0}, r"rate must be >= 0 \(Hz\), got -1.0"),
    ({"schedule": {"times": [1.0], "rates": [1.0]}}, r"schedule.times\[0\] must be 0 ms, got 1.0"),
    ({"schedule": {"times": [0.0, 5.0, 4.0], "rates": [1.0, 2.0, 3.0]}}, "schedule.times must be ascending"),
    ({"schedule": {"times": [0.0, 5.0], "rates": [1.0]}},
     "schedule.times and schedule.rates must have the same length, got 2 and 1"),
    ({"schedule": {"times": [0.0, 0.01], "rates": [1.0, 2.0]}},
     r"schedule.times\[1\] = 0.01 ms falls on the same step of dt = 0.1 ms as 0.0 ms"),
    ({"schedule": {"times": [0.0], "rates": [-2.0]}}, r"schedule.rates\[0\] must be >= 0 \(Hz\), got -2.0"),
    ({"schedule": {"times": [0.0]}}, "schedule.rates is required"),
    ({"rate": 1.0, "tau": 3.0}, "unknown parameter 'tau'"),
])
def test_poisson_population_bad_parameters(params, pattern):
    with pytest.raises(ValueError, match=r"Population 'src': " + pattern):
        Network().add_population("src", 2, "poisson", params)


# -- scheduled PoissonInput ---------------------------------------------------------------


def injected_counts(net: Network, steps: int) -> np.ndarray:
    """Counts per (step, neuron) of the network's only Poisson input, from the kernel."""
    pops = build.local_populations(net, np.arange(net.size))
    (table,) = build.poisson_tables(net, pops)
    ring = np.zeros((steps + 1, net.size), dtype=np.int64)
    delivery.poisson_into_ring(table.key[0], table.key[1], table.gids, table.ports, table.wq, table.cdf,
                               1, steps, ring)
    return ring[1:] // table.wq


def test_scheduled_poisson_input_uses_the_rate_in_force():
    net = Network(dt=0.1, seed=5)
    net.add_population("n", 200, "lif")
    sched = {"times": [0.0, 50.0, 80.0], "rates": [2000.0, 20000.0, 0.0]}
    net.add_poisson_input("drive", "n", None, 1.0, schedule=sched)
    counts = injected_counts(net, 1000)
    for (lo, hi), rate in zip(((0, 500), (500, 800), (800, 1000)), (2000.0, 20000.0, 0.0)):
        c = counts[lo:hi]      # arrival steps lo+1 .. hi
        lam = rate * 0.1e-3
        mu = c.size * lam
        assert abs(c.sum() - mu) <= 5 * math.sqrt(mu) + 1e-9
        if rate:
            # Poisson counts per step: Fano factor 1, within 5 standard errors.
            assert abs(c.var(ddof=1) / c.mean() - 1.0) < 5 * math.sqrt(2 / (c.size - 1)) + 5 / math.sqrt(mu)
        else:
            assert c.sum() == 0


def test_constant_rate_equals_one_piece_schedule_and_streams_are_independent():
    def make(**kw):
        net = Network(dt=0.1, seed=9)
        net.add_population("n", 100, "lif")
        net.add_poisson_input("drive", "n", weight=0.5, **kw)
        return net
    a = injected_counts(make(rate=8000.0), 2000)
    b = injected_counts(make(rate=None, schedule={"times": [0.0], "rates": [8000.0]}), 2000)
    np.testing.assert_array_equal(a, b)
    r = np.corrcoef(a.T)[np.triu_indices(100, 1)]
    assert np.all(np.abs(r) < 5.5 / math.sqrt(a.shape[0]))


def test_scheduled_poisson_input_through_toml_round_trip():
    net = Network(dt=0.1, seed=2, t_stop=50.0)
    net.add_population("n", 10, "lif")
    net.add_poisson_input("drive", "n", None, 0.5, schedule={"times": [0, 20], "rates": [100.0, 900.0]})
    net.add_population("src", 3, "poisson", {"schedule": {"times": [0, 10], "rates": [5.0, 50.0]}})
    back = config.loads(config.dumps(net))
    assert back == net
    assert back.inputs["drive"].schedule.rates == (100.0, 900.0)


@pytest.mark.parametrize("kw,pattern", [
    (dict(rate=None), "give exactly one of rate"),
    (dict(rate=5.0, schedule={"times": [0.0], "rates": [1.0]}), "give exactly one of rate"),
    (dict(rate=None, schedule={"times": [0.0, 10.0], "rates": [1.0, 1e10]}),
     r"rate \* dt must be <= 500 spikes per step"),
    (dict(rate=None, schedule={"times": [0.0, -3.0], "rates": [1.0, 2.0]}), "schedule.times must be ascending"),
])
def test_poisson_input_bad_schedule(kw, pattern):
    net = Network()
    net.add_population("n", 1, "lif")
    with pytest.raises(ValueError, match=r"PoissonInput 'drive': " + pattern):
        net.add_poisson_input("drive", "n", weight=1.0, **kw)
