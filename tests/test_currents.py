"""Current generators against closed forms: the LIF membrane under a step current, the
f-I curve of a DC-driven population, the stationary mean and variance under NEST-style
piecewise-constant noise; timing, per-neuron values, invariance, TOML and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import distsnn as ds
from distsnn import currents

LIF = dict(C_m=250.0, tau_m=10.0, E_L=0.0, V_th=1e6, V_reset=0.0, t_ref=2.0)
R = LIF["tau_m"] / LIF["C_m"]    # mV / pA


def trace(net, pop="a"):
    net.add_state_monitor(pop, ["V_m"])
    return ds.simulate(net).trace(pop, "V_m").values


@pytest.mark.parametrize("model", ["lif", "lif_cond"])
def test_step_current_exact_exponential_approach(model):
    dt, t1, t2, amp, delay = 0.1, 5.0, 25.0, 300.0, 0.3
    net = ds.Network(dt=dt, t_stop=50.0)
    params = dict(LIF) if model == "lif" else dict(C_m=250.0, g_L=25.0, E_L=0.0, V_th=1e6, V_reset=0.0)
    net.add_population("a", 2, model, params=params)
    net.add_current_input("s", "a", "step", times=[t1, t2], amplitudes=[amp, 0.0], delay=delay)
    v = trace(net)[:, 0]
    n = np.arange(v.size)
    # The update ending at step n sees A(t_{n-1} - delay): on from n0 to n1 - 1.
    n0, n1 = round((t1 + delay) / dt) + 1, round((t2 + delay) / dt) + 1
    tau = 10.0
    v_inf = amp * R
    on = (n >= n0) & (n < n1)
    expect = np.where(n < n0, 0.0, v_inf * (1 - np.exp(-(np.minimum(n, n1 - 1) - n0 + 1) * dt / tau)))
    expect = np.where(n >= n1, expect * np.exp(-(n - n1 + 1) * dt / tau), expect)
    np.testing.assert_allclose(v, expect, rtol=1e-9, atol=1e-12)
    assert v[n0 - 1] == 0.0 and v[n0] > 0 and on.sum() == round((t2 - t1) / dt)


def test_fi_curve_from_per_neuron_dc():
    """Steady ISIs of a DC-driven LIF are ref_steps + k* steps, k* the first whole step
    at which V_inf + (V_reset - V_inf) exp(-k dt / tau) >= V_th; below rheobase, none."""
    dt, tau, V_th, t_ref = 0.1, 10.0, 15.0, 2.0
    amps = np.array([0.0, 300.0, 380.0, 420.0, 500.0, 700.0, 1000.0, 2000.0, 5000.0])
    net = ds.Network(dt=dt, t_stop=400.0)
    net.add_population("a", amps.size, "lif", params=dict(LIF, V_th=V_th, t_ref=t_ref))
    net.add_current_input("dc", "a", "dc", amplitude=amps.tolist(), delay=0.0)
    net.add_spike_monitor("a")
    sp = ds.simulate(net).spikes
    P22 = math.exp(-dt / tau)
    for i, amp in enumerate(amps):
        steps = sp.step[sp.gid == i]
        v_inf = amp * R
        if v_inf <= V_th:
            assert steps.size == 0
            continue
        k = math.ceil(math.log((v_inf - V_th) / v_inf) / math.log(P22) - 1e-9)
        assert np.all(np.diff(steps) == round(t_ref / dt) + k), (amp, np.unique(np.diff(steps)))
        rate = 1000.0 / ((round(t_ref / dt) + k) * dt)
        assert abs((steps.size - 1) / ((steps[-1] - steps[0]) * dt * 1e-3) - rate) < 1e-9


def test_dc_without_delay_equals_i_e_and_window():
    net = ds.Network(dt=0.1, t_stop=30.0)
    net.add_population("a", 3, "lif", params=dict(LIF, V_th=20.0))
    net.add_current_input("dc", "a", "dc", amplitude=600.0, delay=0.0)
    ref = ds.Network(dt=0.1, t_stop=30.0)
    ref.add_population("a", 3, "lif", params=dict(LIF, V_th=20.0, I_e=600.0))
    np.testing.assert_array_equal(trace(net), trace(ref))
    # start/stop window shifted by the delay; only the chosen neurons.
    w = ds.Network(dt=0.1, t_stop=30.0)
    w.add_population("a", 3, "lif", params=LIF)
    w.add_current_input("dc", "a", "dc", amplitude=[100.0, 200.0], neurons=[2, 0], start=5.0, stop=10.0,
                        delay=1.0)
    v = trace(w)
    moving = np.flatnonzero(np.abs(np.diff(v[:, 2])) > 0)
    assert moving[0] + 1 == 61                     # (5 + 1) / 0.1 + 1
    assert np.all(v[:, 1] == 0.0)
    np.testing.assert_allclose(v[110, 0], 2 * v[110, 2])  # linear in the amplitude
    # Rising over [6, 11) ms, then decaying.
    assert v[110, 2] == v[:, 2].max()


def test_noise_stationary_mean_and_variance():
    """Piecewise-constant noise I_j = mean + std Z_j over intervals Delta: at interval
    ends V - E_L is an AR(1) with a = exp(-Delta / tau), b = R (1 - a), so
    E V = R mean, Var V = b^2 std^2 / (1 - a^2)."""
    n, dt, d_noise, mean, std = 3000, 0.1, 0.5, 100.0, 400.0
    net = ds.Network(dt=dt, seed=3, t_stop=100.0)
    net.add_population("a", n, "lif", params=LIF)
    net.add_current_input("nz", "a", "noise", mean=mean, std=std, dt_noise=d_noise, delay=0.0)
    net.add_state_monitor("a", ["V_m"], interval=d_noise)
    res = ds.simulate(net)
    v = res.trace("a", "V_m").values
    a = math.exp(-d_noise / 10.0)
    b = R * (1 - a)
    m_th, var_th = R * mean, b * b * std * std / (1 - a * a)
    sample = v[-1]                   # one sample per neuron, 10 tau after the start
    assert abs(sample.mean() - m_th) < 5 * math.sqrt(var_th / n)
    assert abs(sample.var() / var_th - 1) < 5 * math.sqrt(2.0 / n)
    # Within an interval the current is constant: V relaxes toward one V_inf.
    w = ds.Network(dt=dt, seed=3, t_stop=2.0)
    w.add_population("a", 1, "lif", params=LIF)
    w.add_current_input("nz", "a", "noise", std=std, dt_noise=d_noise, delay=0.0)
    x = trace(w)[:, 0]
    P22 = math.exp(-dt / 10.0)
    # V_k - V_{k-1} = P22 (V_{k-1} - V_{k-2}) while the current holds: the updates
    # ending at steps 1..5 see interval 0, those ending at 6..10 interval 1.
    np.testing.assert_allclose(x[2:6] - x[1:5], P22 * (x[1:5] - x[0:4]), rtol=1e-9)
    np.testing.assert_allclose(x[7:11] - x[6:10], P22 * (x[6:10] - x[5:9]), rtol=1e-9)
    assert not np.isclose(x[6] - x[5], P22 * (x[5] - x[4]))


def test_nest_timing_of_generators_from_the_start():
    """NEST 3.10 (iaf_psc_exp, resolution 0.1 ms): a DC generator with start 0 and delay
    0.1 ms first moves V_m at the update ending at step 3 (2 + delay in steps); a noise
    generator with dt 1 ms and delay 0.1 ms changes its current at the updates ending at
    steps 3, 13, 23, ... (measured from NEST's trace)."""
    net = ds.Network(dt=0.1, t_stop=5.0)
    net.add_population("a", 2, "lif", params=dict(LIF, V_th=1e6))
    net.add_current_input("dc", "a", "dc", amplitude=100.0, neurons=[0])
    net.add_current_input("nz", "a", "noise", std=100.0, dt_noise=1.0, neurons=[1])
    v = trace(net)
    assert v[2, 0] == 0.0 and v[3, 0] > 0.0 and v[2, 1] == 0.0 and v[3, 1] != 0.0
    P22 = math.exp(-0.1 / 10.0)
    dv = np.diff(v[:, 1])
    changes = np.flatnonzero(np.abs(dv[1:] - P22 * dv[:-1]) > 1e-12) + 2
    np.testing.assert_array_equal(changes, [3, 13, 23, 33, 43])


def test_noise_keyed_per_neuron_and_interval():
    net = ds.Network(dt=0.1, seed=5)
    net.add_population("a", 50, "lif", params=LIF)
    inp = net.add_current_input("nz", "a", "noise", mean=1.0, std=[float(i) for i in range(50)], dt_noise=1.0)
    idx = np.arange(50)
    full = currents.LocalCurrent(inp, 5, idx, idx + 7, 0.1)
    part_idx = np.array([3, 17, 40])
    part = currents.LocalCurrent(inp, 5, part_idx, part_idx + 7, 0.1)
    for seg in (0, 1, 99):
        np.testing.assert_array_equal(part.values(seg), full.values(seg)[part_idx])
    assert not np.array_equal(full.values(0), full.values(1))
    assert full.values(0)[0] == 1.0                  # std 0 for neuron 0
    # Delay one step, start 0: generator time starts at one step (NEST's first device
    # update), intervals of 10 steps from there: updates 3..12 see interval 0.
    assert full.segment(2) is None and full.segment(3) == 0 and full.segment(12) == 0
    assert full.segment(13) == 1


def test_current_input_toml_round_trip():
    net = ds.Network(dt=0.1)
    net.add_population("a", 4, "lif")
    net.add_population("c", 2, "lif_cond")
    net.add_current_input("dc", "a", "dc", amplitude=[1.0, 2.0, 3.0, 4.0], stop=50.0)
    net.add_current_input("st", "c", "step", times=[1.0, 2.0], amplitudes=[[5.0, 6.0], [0.0, 1.0]], neurons=[1, 0])
    net.add_current_input("nz", "a", "noise", mean=2.0, std=3.0, dt_noise=1.0, delay=0.5)
    net.add_current_input("ac", "c", "ac", amplitude=[1.0, 2.0], frequency=5.0, phase=90.0)
    again = ds.loads(ds.dumps(net))
    assert again == net and again.currents["st"].spec["amplitudes"] == [[5.0, 6.0], [0.0, 1.0]]


@pytest.mark.parametrize("kind,spec,msg", [
    ("dc", {}, r"CurrentInput 'x': amplitude is required for a dc current"),
    ("step", {"times": [1.0, 1.05], "amplitudes": [1.0, 2.0]}, r"times must be a multiple of dt = 0.1 ms, got 1.05"),
    ("step", {"times": [2.0, 1.0], "amplitudes": [1.0, 2.0]}, r"times must be >= 0 and strictly increasing"),
    ("step", {"times": [1.0], "amplitudes": [1.0, 2.0]}, r"amplitudes must have one value per time \(1,\)"),
    ("noise", {"std": -1.0}, r"std must be >= 0 pA, got -1"),
    ("noise", {"std": 1.0, "dt_noise": 0.25}, r"dt_noise must be a multiple of dt = 0.1 ms, got 0.25"),
    ("dc", {"amplitude": [1.0, 2.0]}, r"amplitude must be a number or one value per targeted neuron \(4\)"),
    ("dc", {"amplitude": 1.0, "neurons": [4]}, r"neurons must be in \[0, 3\], got 4"),
    ("dc", {"amplitude": 1.0, "stop": 0.0}, r"stop must be > start = 0.0 ms, got 0.0"),
    ("dc", {"amplitude": 1.0, "delay": -0.1}, r"delay must be >= 0"),
    ("dc", {"amplitude": 1.0, "gain": 2.0}, r"gain"),
    ("ramp", {}, r"kind must be one of"),
    ("ac", {"amplitude": 1.0}, r"frequency is required for a ac current"),
    ("ac", {"amplitude": 1.0, "frequency": -2.0}, r"frequency must be >= 0 \(Hz\), got -2.0"),
])
def test_current_input_bad_input(kind, spec, msg):
    net = ds.Network(dt=0.1)
    net.add_population("a", 4, "lif")
    with pytest.raises(ValueError, match=msg):
        net.add_current_input("x", "a", kind, **spec)
    assert net.currents == {}


def test_current_input_needs_a_model_that_takes_it():
    net = ds.Network()
    net.add_population("src", 2, "poisson", params={"rate": 5.0})
    with pytest.raises(ValueError, match=r"CurrentInput 'x': model 'poisson' of population 'src' takes no "
                                         r"current input; models that do: lif, lif_cond, izhikevich, hh, adex"):
        net.add_current_input("x", "src", "dc", amplitude=1.0)


def test_generators_reproduce_nest_traces():
    """V_m (mV) of NEST 3.10 ``iaf_psc_exp`` neurons (C_m 250 pF, tau_m 10 ms, E_L 0,
    resolution 0.1 ms) under its generators, at the given steps: a step current (300 pA
    from 5 ms, 0 from 25 ms, delay 0.3 ms), a DC (200 pA over [10, 20) ms, delay 1 ms),
    a DC from the start (150 pA, delay 0.2 ms), an AC (offset 50, amplitude 300 pA,
    40 Hz, phase 30 degrees, delay 0.2 ms) and a windowed AC (100 pA, 10 Hz, [5, 30) ms,
    delay 1 ms)."""
    nest = {
        "step": {54: 0.119401995, 55: 0.2376159203, 111: 5.2812196012, 112: 5.3480725832, 250: 10.3265177254,
                 300: 6.4850089114},
        "dc": {55: 0.0, 111: 0.07960133, 112: 0.1584106135, 250: 3.3897846568, 300: 2.0560083241},
        "dc0": {2: 0.0, 3: 0.0, 54: 2.3970265271, 55: 2.4328767122, 111: 3.9624268461, 300: 5.692180138},
        "ac": {30: 2.6392221359, 100: 6.6056028942, 200: -1.9574996265, 300: 4.2608822063, 390: 3.5542077002},
        "ac2": {30: 0.0, 100: 0.5662210301, 200: 2.201119829, 300: 3.2985945076, 390: 1.505452266},
    }
    net = ds.Network(dt=0.1, t_stop=40.0)
    net.add_population("a", 5, "lif", params=dict(LIF, V_th=1e6))
    net.add_current_input("step", "a", "step", times=[5.0, 25.0], amplitudes=[300.0, 0.0], delay=0.3, neurons=[0])
    net.add_current_input("dc", "a", "dc", amplitude=200.0, start=10.0, stop=20.0, delay=1.0, neurons=[1])
    net.add_current_input("dc0", "a", "dc", amplitude=150.0, delay=0.2, neurons=[2])
    net.add_current_input("ac", "a", "ac", amplitude=300.0, offset=50.0, frequency=40.0, phase=30.0, delay=0.2,
                          neurons=[3])
    net.add_current_input("ac2", "a", "ac", amplitude=100.0, frequency=10.0, start=5.0, stop=30.0, delay=1.0,
                          neurons=[4])
    v = trace(net)
    for col, name in enumerate(nest):
        for step, value in nest[name].items():
            assert abs(v[step, col] - value) < 1e-9, (name, step, v[step, col], value)


@pytest.mark.parametrize("model,amp", [("izhikevich", 10.0), ("hh", 700.0), ("adex", 800.0)])
def test_dc_generator_equals_i_e_in_rk4_models(model, amp):
    """A DC generator with no delay drives the RK4 models as I_e does (same spikes, V
    to rounding); a step current switches the drive at the grid step of NEST's rule."""
    def run(params, gen):
        net = ds.Network(dt=0.1, t_stop=100.0)
        net.add_population("a", 1, model, params=params)
        if gen:
            net.add_current_input("dc", "a", "dc", amplitude=amp, delay=0.0)
        net.add_spike_monitor("a")
        net.add_state_monitor("a", ["V_m"])
        res = ds.simulate(net)
        return res.spikes.step, res.trace("a", "V_m").values[:, 0]

    s1, v1 = run({"I_e": amp}, False)
    s2, v2 = run({}, True)
    assert s1.size > 2
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_allclose(v1, v2, rtol=1e-9, atol=1e-9)
    net = ds.Network(dt=0.1, t_stop=20.0)
    net.add_population("a", 2, model)
    net.add_current_input("st", "a", "step", times=[10.0], amplitudes=[amp], delay=0.5, neurons=[1])
    v = trace(net)
    n0 = round((10.0 + 0.5) / 0.1) + 1         # the first update that feels it
    np.testing.assert_array_equal(v[:n0, 0], v[:n0, 1])
    assert v[n0, 1] > v[n0, 0]


def test_noise_interval_defaults_to_ten_steps_as_nest():
    net = ds.Network(dt=0.25)
    net.add_population("a", 1, "lif")
    assert net.add_current_input("nz", "a", "noise", std=1.0).spec["dt_noise"] == 2.5


def test_nest_names_are_accepted():
    net = ds.Network(dt=0.1)
    net.add_population("a", 2, "lif")
    st = net.add_current_input("s", "a", "step_current_generator", amplitude_times=[1.0, 2.0],
                               amplitude_values=[5.0, 0.0])
    nz = net.add_current_input("n", "a", "noise_generator", mean=1.0, std=2.0, dt=0.5)
    assert st.kind == "step" and st.spec["times"] == [1.0, 2.0] and st.spec["amplitudes"] == [5.0, 0.0]
    assert nz.kind == "noise" and nz.spec["dt_noise"] == 0.5
    assert ds.loads(ds.dumps(net)) == net
    with pytest.raises(ValueError, match=r"times is given twice"):
        net.add_current_input("x", "a", "step", times=[1.0], amplitude_times=[1.0], amplitudes=[1.0])


def test_targeted_neurons_on_a_subset_of_the_population():
    """A rank that owns some of the targeted neurons gets their values, in its order."""
    net = ds.Network(dt=0.1, seed=9)
    net.add_population("a", 10, "lif")
    inp = net.add_current_input("d", "a", "dc", amplitude=[1.0, 2.0, 3.0], neurons=[7, 2, 5])
    noise = net.add_current_input("n", "a", "noise", std=[1.0, 2.0, 3.0], neurons=[7, 2, 5], dt_noise=0.1)
    full_idx = np.arange(10)
    for spec in (inp, noise):
        full = currents.LocalCurrent(spec, 9, full_idx, full_idx + 100, 0.1)
        for owned in (np.array([2, 3, 7]), np.array([0, 1]), np.array([5])):
            part = currents.LocalCurrent(spec, 9, owned, owned + 100, 0.1)
            seg = part.segment(5)
            got = part.values(seg)
            want = full.values(seg)[owned]
            if got is None:
                assert not np.any(want)
            else:
                np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(currents.LocalCurrent(inp, 9, full_idx, full_idx, 0.1).values(0),
                                  [0, 0, 2.0, 0, 0, 3.0, 0, 1.0, 0, 0])


def test_step_times_off_the_grid_round_up_when_allowed():
    net = ds.Network(dt=0.1, t_stop=5.0)
    net.add_population("a", 2, "lif", params=dict(LIF, V_th=1e6))
    net.add_current_input("s", "a", "step", times=[1.01, 2.0], amplitudes=[100.0, 0.0], allow_offgrid_times=True,
                          delay=0.0, neurons=[0])
    net.add_current_input("t", "a", "step", times=[1.1, 2.0], amplitudes=[100.0, 0.0], delay=0.0, neurons=[1])
    v = trace(net)
    np.testing.assert_array_equal(v[:, 0], v[:, 1])          # 1.01 ms acts from 1.1 ms
    with pytest.raises(ValueError, match=r"times 1.01 and 1.05 ms round up to the same step"):
        net.add_current_input("x", "a", "step", times=[1.01, 1.05], amplitudes=[1.0, 0.0], allow_offgrid_times=True)
    assert ds.loads(ds.dumps(net)) == net


def test_noise_std_mod_variance_follows_nest_modulation():
    """NEST's modulated noise: interval j's current has variance std^2 + std_mod^2
    sin(2 pi f t_j + phase), t_j = (j every + 1) dt from the first active step. The
    currents are recovered exactly from V at the interval ends (V_{j+1} = a V_j + R (1 -
    a) I_j, a = exp(-dt_noise / tau_m)), and their variance over the neurons of each
    interval matches the closed form to sampling error (chi-square-like over 100
    intervals; a wrong phase, frequency or the std of an unmodulated generator fails)."""
    n, dt, d_noise, mean, std, std_mod, f, phase = 4000, 0.1, 1.0, 50.0, 300.0, 250.0, 40.0, 30.0
    net = ds.Network(dt=dt, seed=11, t_stop=100.0)
    net.add_population("a", n, "lif", params=dict(LIF, V_th=1e9))
    net.add_current_input("nz", "a", "noise", mean=mean, std=std, std_mod=std_mod, frequency=f, phase=phase,
                          dt_noise=d_noise, delay=0.0)
    net.add_state_monitor("a", ["V_m"], interval=d_noise)
    v = ds.simulate(net).trace("a", "V_m").values
    a = math.exp(-d_noise / 10.0)
    I = (v[1:] - a * v[:-1]) / (R * (1 - a))            # I[j]: interval j, one row per interval
    every = round(d_noise / dt)
    j = np.arange(I.shape[0])
    var_th = std ** 2 + std_mod ** 2 * np.sin(2 * np.pi * f * 1e-3 * dt * (j * every + 1) + np.radians(phase))
    z = (I.var(axis=1) - var_th) / (var_th * math.sqrt(2.0 / n))
    assert I.shape[0] == 100 and var_th.min() < 0.35 * std ** 2 and var_th.max() > 1.6 * std ** 2
    assert np.abs(z).max() < 5 and np.mean(z ** 2) < 2.0
    assert np.all(np.abs(I.mean(axis=1) - mean) < 5 * np.sqrt(var_th / n))
    # half a period later the variance is the mirror image: the phase is where NEST puts it
    shifted = std ** 2 - (var_th - std ** 2)
    assert np.mean(((I.var(axis=1) - shifted) / (shifted * math.sqrt(2.0 / n))) ** 2) > 50
    # std_mod = 0: unmodulated and the same draws as a generator without the fields
    plain = ds.Network(dt=dt, seed=11, t_stop=5.0)
    plain.add_population("a", 5, "lif", params=dict(LIF, V_th=1e9))
    plain.add_current_input("nz", "a", "noise", std=std, dt_noise=d_noise)
    again = ds.Network(dt=dt, seed=11, t_stop=5.0)
    again.add_population("a", 5, "lif", params=dict(LIF, V_th=1e9))
    again.add_current_input("nz", "a", "noise", std=std, dt_noise=d_noise, std_mod=0.0, frequency=10.0)
    np.testing.assert_array_equal(trace(plain), trace(again))
    assert ds.loads(ds.dumps(net)) == net and net.currents["nz"].spec["std_mod"] == std_mod


@pytest.mark.parametrize("spec,msg", [
    ({"std": 1.0, "std_mod": 2.0}, r"CurrentInput 'x': std_mod must be <= std = 1.0 pA \(NEST's bound: the variance "
                                   r"std\^2 \+ std_mod\^2 sin\(...\) must stay >= 0\), got 2.0"),
    ({"std": [1.0, 2.0, 3.0, 4.0], "std_mod": [1.0, 2.0, 3.5, 0.0]}, r"got 3.5 \(targeted neuron 2\)"),
    ({"std": 1.0, "std_mod": -0.5}, r"std_mod must be >= 0 pA, got -0.5"),
    ({"std": 1.0, "std_mod": 0.5, "frequency": -1.0}, r"frequency must be >= 0 \(Hz\), got -1.0"),
    ({"std": 1.0, "std_mod": 0.5, "phase": "x"}, r"phase"),
])
def test_noise_modulation_bad_input(spec, msg):
    net = ds.Network(dt=0.1)
    net.add_population("a", 4, "lif")
    with pytest.raises(ValueError, match=msg):
        net.add_current_input("x", "a", "noise", **spec)
    assert net.currents == {}


def _generator_zoo(model):
    net = ds.Network(dt=0.1, seed=3, t_stop=40.0)
    params = dict(LIF, V_th=8.0) if model == "lif" else dict(V_th=-55.0)
    net.add_population("a", 6, model, params)
    net.add_population("b", 4, model, params)
    net.add_projection("a", "b", ds.AllToAll(), weight=30.0 if model == "lif" else 5.0, delay=0.5)
    net.add_current_input("dc", "a", "dc", amplitude=[400.0, 500.0, 600.0], neurons=[0, 2, 4], start=3.0,
                          stop=31.0, delay=1.0)
    net.add_current_input("st", "a", "step", times=[2.0, 9.0, 9.5, 20.0], amplitudes=[300.0, 0.0, 450.0, 200.0],
                          neurons=[1, 3, 5])
    net.add_current_input("nz", "b", "noise", mean=350.0, std=150.0, std_mod=60.0, frequency=50.0,
                          dt_noise=0.7, start=1.0, stop=35.0)
    net.add_current_input("ac", "b", "ac", amplitude=100.0, offset=200.0, frequency=40.0, start=10.0, stop=12.0)
    net.add_spike_monitor("a")
    net.add_spike_monitor("b")
    net.add_state_monitor("a", ["V_m"], interval=0.3)
    return net


@pytest.mark.parametrize("model", ["lif", "lif_cond"])
def test_generators_through_compiled_spans_equal_one_step_at_a_time(model, monkeypatch):
    """A population under generators advances in compiled calls over the spans where its
    constants stay put (CurrentDrive.constant_through); the same bits as stepping each step."""
    fast = ds.simulate(_generator_zoo(model))
    mod = {"lif": ds.models.lif, "lif_cond": ds.models.lif_cond}[model]
    monkeypatch.delattr(mod, "advance")
    slow = ds.simulate(_generator_zoo(model))
    for pop in ("a", "b"):
        f, s = fast.spikes_of(pop), slow.spikes_of(pop)
        assert len(f) > 5
        np.testing.assert_array_equal(f.gid, s.gid)
        np.testing.assert_array_equal(f.step, s.step)
    np.testing.assert_array_equal(fast.trace("a", "V_m").values, slow.trace("a", "V_m").values)


@pytest.mark.parametrize("kind,spec", [
    ("dc", dict(amplitude=1.0, start=0.7, stop=2.3, delay=0.3)),
    ("dc", dict(amplitude=1.0, delay=0.0)),
    ("step", dict(times=[0.5, 0.6, 1.9], amplitudes=[1.0, 2.0, 3.0], stop=2.6, delay=0.2)),
    ("noise", dict(std=1.0, dt_noise=0.3, start=0.4, stop=2.9, delay=0.1)),
    ("ac", dict(amplitude=1.0, frequency=10.0, start=0.5, stop=1.0))])
def test_next_change_bounds_the_spans_where_the_segment_is_constant(kind, spec):
    net = ds.Network(dt=0.1, seed=1, t_stop=5.0)
    net.add_population("a", 2)
    inp = net.add_current_input("g", "a", kind, **spec)
    gen = currents.LocalCurrent(inp, 1, np.arange(2), np.arange(2), 0.1)
    for n in range(0, 45):
        nxt = gen.next_change(n)
        seg = gen.segment(n)
        end = 45 if nxt == math.inf else int(nxt)
        assert all(gen.segment(k) == seg for k in range(n, min(end, 45))), (n, nxt)
        if nxt != math.inf:
            assert nxt > n and gen.segment(int(nxt)) != seg, (n, nxt)   # the span is maximal
