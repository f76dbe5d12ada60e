"""The compiled epochs with the exchange inside (:mod:`distsnn.native_epochs`,
:mod:`distsnn.comm.native`): the same spikes and counters as one process and as the
Python path, on 2 and 3 ranks and three partitioners; a failure on one rank ends the job."""

from __future__ import annotations

import time

import numpy as np
import pytest

import distsnn as ds
from distsnn.comm import native

from .mpi.launch import mpirun, needs_mpi

METHODS = ("metis", "round_robin", "block")


def coba(delay_steps: int) -> ds.Network:
    """lif_cond E/I with delays of at least ``delay_steps`` across ranks; a third of the
    neurons start above threshold, a burst that overflows the exchange's first slots."""
    net = ds.Network(dt=0.1, seed=11, t_stop=60.0)
    for name, n in (("e", 240), ("i", 60)):
        net.add_population(name, n, "lif_cond", dict(I_e=300.0), {"V_m": ds.Uniform(-70.0, -40.0)})
    exc = ds.SynapseType("exp", mode="conductance", tau=5.0, e_rev=0.0)
    inh = ds.SynapseType("exp", mode="conductance", tau=10.0, e_rev=-80.0)
    d = 0.1 * delay_steps
    for post in ("e", "i"):
        net.add_projection("e", post, ds.FixedProbability(0.1), exc, ds.Uniform(1.0, 4.0), d)
        net.add_projection("i", post, ds.FixedProbability(0.1), inh, 15.0, ds.Uniform(d, d + 0.4))
    net.add_spike_monitor("e")
    net.add_spike_monitor("i")
    # Every 0.7 ms: inside an epoch of two steps half of the time (that epoch on the Python path).
    net.add_state_monitor("e", ["V_m"], neurons=list(range(0, 240, 7)), interval=0.7)
    return net


def test_the_intrinsic_calls_a_c_function_by_address():
    """The mechanism without MPI: libc's clock through its address, against time.perf_counter."""
    import ctypes

    table = np.zeros(8, np.int64)
    table[native.CLOCK] = ctypes.cast(ctypes.CDLL(None).clock_gettime, ctypes.c_void_p).value
    a = time.perf_counter()
    t = native.now(table, np.zeros(2, np.int64))
    b = time.perf_counter()
    assert a <= t <= b


def test_one_process_keeps_the_long_fused_epochs():
    sim = ds.Simulation(coba(1), max_memory=None)
    assert sim._native is None and sim.epoch > 1


@needs_mpi
@pytest.mark.parametrize("ranks, delay_steps", [(2, 1), (3, 1), (2, 2)])
def test_compiled_exchange_equals_one_process_and_the_python_path(tmp_path, ranks, delay_steps):
    net = coba(delay_steps)
    path = tmp_path / "net.toml"
    ds.dump(net, str(path))
    ref = ds.Simulation(net, max_memory=None).run()
    assert len(ref.spikes) > 500
    trace = ref.traces[("e", "V_m")]
    trace = trace.values[:, np.argsort(trace.gids)]
    assert trace.shape == (86, 35)
    out = tmp_path / "out.npz"
    proc = mpirun(ranks, ["tests/mpi/native_coba.py", str(path), str(out), str(ranks), str(tmp_path / "ck")],
                  timeout=240)
    assert proc.returncode == 0, proc.stderr
    got = np.load(out)
    steps = int(round(net.t_stop / net.dt))
    for name in METHODS + ("python", "one_hook", "refused"):
        np.testing.assert_array_equal(got[f"{name}_gid"], ref.spikes.gid, err_msg=name)
        np.testing.assert_array_equal(got[f"{name}_step"], ref.spikes.step, err_msg=name)
        np.testing.assert_array_equal(got[f"{name}_trace"], trace, err_msg=name)
        compiled, collectives, overflows, done = got[f"{name}_figures"].T
        # One collective per epoch on every rank, whichever path it took.
        assert np.all(collectives == steps // delay_steps) and np.all(done == steps), name
        if name in ("python", "one_hook", "refused"):
            assert np.all(compiled == 0), name
        else:
            # Epochs of two steps with a sample inside go the Python path: half of them.
            assert np.all(compiled == (steps if delay_steps == 1 else steps // 2 - 43)), (name, compiled)
        assert got[f"{name}_native"][0] == (name != "refused"), name
        # The first step's burst does not fit the first slots: the overflow messages ran.
        assert overflows.sum() > 0, name
        assert np.all(got[f"{name}_timers"] >= 0) and np.all(got[f"{name}_timers"][:, 0] > 0), name
    # Counters (records sent and received, bytes, events, spikes, per destination) as the Python path's.
    np.testing.assert_array_equal(got["metis_counters"], got["python_counters"])
    np.testing.assert_array_equal(got["refused_counters"], got["python_counters"])
    np.testing.assert_array_equal(got["one_hook_counters"], got["python_counters"])
    half = steps // 2
    tail = ref.spikes.step > half
    np.testing.assert_array_equal(got["restored_gid"], ref.spikes.gid[tail])
    np.testing.assert_array_equal(got["restored_step"], ref.spikes.step[tail])
    np.testing.assert_array_equal(got["restored_trace"], trace[-got["restored_trace"].shape[0]:])


@needs_mpi
def test_a_rank_failing_between_compiled_calls_ends_the_job(tmp_path):
    """Rank 0 is blocked in MPI_Alltoallv inside its compiled loop when rank 1 raises: the
    abort ends it (a hang would be a failure)."""
    path = tmp_path / "net.toml"
    ds.dump(coba(1), str(path))
    t0 = time.monotonic()
    proc = mpirun(2, ["tests/mpi/native_fail.py", str(path)], timeout=60)
    assert proc.returncode != 0
    assert "rank 1 fails at step 30" in proc.stderr and "Traceback" in proc.stderr
    assert "not reached" not in proc.stdout
    assert time.monotonic() - t0 < 30
