"""The compiled epoch kernels (``advance``) against the models' ``step``, and the engine's
segmented epochs against a step-by-step run."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import distsnn as ds
from distsnn import build, engine, synapses
from distsnn.models import common, lif, lif_cond

from .mpi.launch import mpirun, needs_mpi
from .test_models_mixed import same

CHANNELS = (ds.SynapseType("delta"), ds.SynapseType("exp", tau=2.0), ds.SynapseType("alpha", tau=1.5),
            ds.SynapseType("double_exp", tau_rise=0.5, tau_decay=3.0))
COND = (ds.SynapseType("delta"), ds.SynapseType("exp", mode="conductance", tau=5.0, e_rev=0.0),
        ds.SynapseType("alpha", mode="conductance", tau=2.0, e_rev=-80.0))


def _state_arrays(model, s):
    return (s.y, s.refr, s.I) if model is lif else (s.V, s.refr, s.S)


@pytest.mark.parametrize("model, params, channels", [
    (lif, dict(I_e=300.0, tau_m=10.0), CHANNELS),
    (lif, dict(I_e=ds.Uniform(250.0, 350.0), tau_m=ds.Uniform(5.0, 20.0), C_m=ds.Uniform(150.0, 300.0),
               V_th=ds.Uniform(-57.0, -53.0), E_L=ds.Uniform(-72.0, -68.0), t_ref=ds.Uniform(0.0, 3.0)), CHANNELS),
    (lif_cond, dict(I_e=250.0), COND),
])
def test_advance_equals_step_by_step_bit_for_bit(model, params, channels):
    """Also with per-neuron parameters (lif: propagators, threshold, reset and
    refractory period of each neuron)."""
    n, steps, dt = 40, 300, 0.1
    gids = np.arange(n)
    p = common.resolve(model.params_from("t", params, n, dt), 5, "t", gids, gids)
    prep = model.prepare(p, dt, channels)
    rng = np.random.default_rng(3)
    init = {"V_m": rng.uniform(-70.0, -56.0, n)}
    nch = len(channels)
    # arrivals in whole quanta, so the float step() input and the int64 ring are the same numbers
    q = rng.integers(-2, 6, size=(steps + 1, nch, n)) * rng.integers(0, 2, size=(steps + 1, nch, n))
    q = q * np.int64(2 ** 34)          # 0.25 (mV, pA or nS) per unit
    R = steps + 2
    ring = np.zeros((R, 3 + nch * n), dtype=np.int64)      # the population's ports start at 3
    for t in range(1, steps + 1):
        ring[t % R, 3:] = q[t].ravel()
    ring[:, :3] = 7                                          # another population's ports: untouched
    s_ref = model.init_state(prep, init, gids)
    spikes_ref = []
    for t in range(1, steps + 1):
        s_ref, spiked = model.step(s_ref, q[t] * synapses.QUANTUM, prep, t)
        spikes_ref += [(int(i), t) for i in np.flatnonzero(spiked)]
    s = model.init_state(prep, init, gids)
    buf_i, buf_s = np.empty(n, np.int64), np.empty(n, np.int64)   # room for one step: many early returns
    spikes, t, calls = [], 0, 0
    while t < steps:
        t, k = model.advance(s, prep, ring, 3, nch * n, t + 1, steps, buf_i, buf_s)
        spikes += list(zip(buf_i[:k].tolist(), buf_s[:k].tolist()))
        calls += 1
    assert len(spikes_ref) > 20 and calls > 10
    assert spikes == spikes_ref
    for a, b in zip(_state_arrays(model, s), _state_arrays(model, s_ref)):
        assert np.array_equal(a, b)
    assert not ring[:, 3:].any() and (ring[:, :3] == 7).all()


def _mixed(seed: int) -> ds.Network:
    net = ds.Network(dt=0.1, seed=seed, t_stop=60.0)
    net.add_population("a", 60, "lif", dict(I_e=380.0), {"V_m": ds.Uniform(-70.0, -56.0)})
    net.add_population("b", 40, "lif_cond", dict(I_e=260.0), {})
    net.add_population("c", 20, "izhikevich", {}, {})
    net.add_projection("a", "b", ds.FixedProbability(0.2), ds.SynapseType("exp", mode="conductance", tau=2.0,
                                                                           e_rev=0.0), 2.0, 1.0)
    net.add_projection("b", "a", ds.FixedProbability(0.2), "delta", -0.5, 1.3)
    net.add_projection("a", "c", ds.FixedProbability(0.2), "delta", 3.0, 2.0)
    for name in "abc":
        net.add_spike_monitor(name)
    net.add_state_monitor("a", ["V_m"], neurons=[0, 3], interval=0.3)
    net.add_state_monitor("b", ["V_m"], neurons=[1], interval=0.7, start=5.0, stop=40.0)
    return net


def test_segmented_epochs_equal_single_steps_and_sample_every_due_step(monkeypatch):
    net = _mixed(4)
    sim = ds.Simulation(net, max_memory=None)
    assert sim.epoch == 10                     # segments of up to 10 steps, cut by the samples
    fast = sim.run()
    # Without the compiled kernels every population takes the step-by-step path.
    monkeypatch.delattr(lif, "advance")
    monkeypatch.delattr(lif_cond, "advance")
    slow = ds.simulate(net, max_memory=None)
    assert len(fast.spikes) > 50
    assert np.array_equal(fast.spikes.gid, slow.spikes.gid) and np.array_equal(fast.spikes.step, slow.spikes.step)
    for key, tr in slow.traces.items():
        assert np.array_equal(fast.traces[key].steps, tr.steps)
        assert np.array_equal(fast.traces[key].values, tr.values)
    a, b = slow.traces[("a", "V_m")], slow.traces[("b", "V_m")]
    assert a.steps.tolist() == list(range(0, 601, 3))
    assert b.steps.tolist() == list(range(50, 401, 7))


def _coba(seed: int) -> ds.Network:
    """Two lif_cond populations, one-step delays (every step has short spikes)."""
    net = ds.Network(dt=0.1, seed=seed, t_stop=80.0)
    for name, n in (("e", 80), ("i", 20)):
        net.add_population(name, n, "lif_cond", dict(I_e=300.0), {"V_m": ds.Uniform(-70.0, -52.0)})
    exc = ds.SynapseType("exp", mode="conductance", tau=5.0, e_rev=0.0)
    inh = ds.SynapseType("exp", mode="conductance", tau=10.0, e_rev=-80.0)
    for post in ("e", "i"):
        net.add_projection("e", post, ds.FixedProbability(0.2), exc, ds.Uniform(2.0, 8.0), 0.1)
        net.add_projection("i", post, ds.FixedProbability(0.2), inh, 20.0, ds.Uniform(0.1, 0.5))
    net.add_spike_monitor("e")
    net.add_spike_monitor("i")
    net.add_state_monitor("e", ["V_m"], neurons=[0, 5], interval=0.7)
    return net


@pytest.mark.parametrize("buffer_steps", [4, 1])
def test_fused_epochs_deliver_inside_and_equal_the_segment_loop(monkeypatch, buffer_steps):
    """lif_cond populations alone on a rank: one compiled call per epoch (cut by the
    samples), delivery included, with a longer epoch; the same spikes, V_m samples and
    events as the segment loop. One step of buffer makes every call stop early."""
    monkeypatch.setattr(engine, "SPIKE_BUFFER_STEPS", buffer_steps)
    net = _coba(5)
    sim = ds.Simulation(net, max_memory=None)
    assert sim._fused is lif_cond and sim.epoch == engine.DEFAULT_EPOCH and sim.long.size == 0
    fast = sim.run()
    monkeypatch.setattr(engine.Simulation, "_fused_model", lambda self: None)
    ref = ds.Simulation(net, max_memory=None)
    assert ref.epoch == 1 and ref.short.size == 0
    slow = ref.run()
    assert len(fast.spikes) > 100 and sim.n_events == ref.n_events > 1000
    assert np.array_equal(fast.spikes.gid, slow.spikes.gid) and np.array_equal(fast.spikes.step, slow.spikes.step)
    tr, tr_ref = fast.traces[("e", "V_m")], slow.traces[("e", "V_m")]
    assert np.array_equal(tr.steps, tr_ref.steps) and np.array_equal(tr.values, tr_ref.values)


def test_mixed_models_or_current_generators_are_not_fused():
    assert ds.Simulation(_mixed(4), max_memory=None)._fused is None
    net = _coba(5)
    net.add_current_input("dc", "e", "dc", amplitude=10.0)
    assert ds.Simulation(net, max_memory=None)._fused is None


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_fused_one_step_epochs_on_several_ranks_equal_one_process(tmp_path, ranks):
    """On several ranks the one-step delays cross ranks: every step is an epoch with an
    exchange (the fused group's lean path: batched records, packing into preallocated
    buffers, one delivery call), where one process runs 100-step epochs with every
    synapse delivered inside the loop. Spikes and V_m samples bit for bit, for three
    partitioners, records streamed to files through several batched hand-overs."""
    net = _coba(5)
    path = tmp_path / "coba.toml"
    ds.dump(net, str(path))
    sim = ds.Simulation(net, max_memory=None)
    assert sim._group is not None and sim.epoch == engine.DEFAULT_EPOCH
    ref = sim.run()
    assert len(ref.spikes) > 100
    methods = ("metis", "round_robin", "block")
    proc = mpirun(ranks, ["tests/mpi/run_partitioners.py", str(path), str(tmp_path / "out"), ",".join(methods)],
                  timeout=240)
    assert proc.returncode == 0, proc.stderr
    for method in methods:
        res = ds.load(str(tmp_path / "out" / method))
        assert res.summary["ranks"] == ranks and res.summary["epoch_steps"] == 1
        assert all(r["records_sent"] > 0 for r in res.summary["per_rank"])
        same(ref, res)


def test_a_crash_in_a_fused_epoch_keeps_the_batched_records_of_the_steps_done(monkeypatch, tmp_path):
    """The batch goes to the files before they are closed: spikes and samples up to the
    last step the fused loop finished (the call before the one that fails)."""
    net = _coba(5)
    ref = ds.Simulation(net, max_memory=None).run()
    advance = lif_cond.advance_delivering

    def failing(bound, ring, first, last, *rest):
        if first <= 537 <= last:
            raise RuntimeError("fails in the call that holds step 537")
        return advance(bound, ring, first, last, *rest)

    monkeypatch.setattr(lif_cond, "advance_delivering", failing)
    sim = ds.Simulation(net, out=str(tmp_path), output=ds.OutputOptions(flush_every=3), max_memory=None)
    with pytest.raises(RuntimeError, match="step 537"):
        sim.run()
    with h5py.File(tmp_path / "rank00000.h5", "r") as f:
        done = int(f.attrs["completed_step"])
    assert done == 532          # calls end at the V_m samples, every 7 steps
    with pytest.warns(RuntimeWarning, match=r"is incomplete"):
        res = ds.load(str(tmp_path))
    keep = ref.spikes.step <= done
    assert keep.sum() > 100
    np.testing.assert_array_equal(res.spikes.gid, ref.spikes.gid[keep])
    np.testing.assert_array_equal(res.spikes.step, ref.spikes.step[keep])
    tr, tr_ref = res.traces[("e", "V_m")], ref.traces[("e", "V_m")]
    np.testing.assert_array_equal(tr.values, tr_ref.values[tr_ref.steps <= done])
