"""Result.to_neo: the Neo segment holds the run's spikes and traces, with PyNN's
annotations, and Neo-side statistics (Elephant's where installed) agree with distsnn's."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import distsnn as ds

from .test_plotting_run import TWO_POPS


@pytest.fixture(scope="module")
def run() -> ds.Result:
    return ds.simulate(ds.loads(TWO_POPS))


def test_missing_neo_is_a_clear_error(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "neo", None)
    with pytest.raises(ImportError, match=r"pip install 'distsnn\[neo\]'"):
        run.to_neo()


@pytest.fixture
def neo():
    return pytest.importorskip("neo", reason="Result.to_neo needs the optional neo package "
                                             "(pip install 'distsnn[neo]')")


def test_spike_trains_carry_the_spikes_and_pynn_annotations(run, neo):
    seg = run.to_neo()
    assert isinstance(seg, neo.Segment)
    trains = list(seg.spiketrains)
    assert len(trains) == 200   # every neuron, silent ones too
    for st in trains:
        g = st.annotations["source_id"]
        pop = "exc" if g < 160 else "inh"
        assert st.annotations["source_population"] == pop
        assert st.annotations["source_index"] == g - run.populations[pop][0]
        np.testing.assert_array_equal(st.times.rescale("ms").magnitude, run.spikes.time[run.spikes.gid == g])
        assert float(st.t_start) == 0.0 and float(st.t_stop.rescale("ms")) == 200.0
    assert sum(len(st) for st in trains) == len(run.spikes)
    only = run.to_neo(populations=["inh"])
    assert [st.annotations["source_id"] for st in only.spiketrains] == list(range(160, 200))
    with pytest.raises(ValueError, match="no population 'nope'"):
        run.to_neo(populations=["nope"])
    # Exactly some neurons (a monitor's subset), across both populations.
    some = run.to_neo(gids=[170, 3, 159, 3])
    assert [(st.annotations["source_id"], st.annotations["source_population"], st.annotations["source_index"])
            for st in some.spiketrains] == [(3, "exc", 3), (159, "exc", 159), (170, "inh", 10)]
    for st in some.spiketrains:
        g = st.annotations["source_id"]
        np.testing.assert_array_equal(st.times.magnitude, run.spikes.time[run.spikes.gid == g])
    with pytest.raises(ValueError, match=r"gids must lie in \[0, 199\].*got \[200\]"):
        run.to_neo(gids=[5, 200])
    with pytest.raises(ValueError, match="populations or gids, not both"):
        run.to_neo(populations=["exc"], gids=[1])


def test_analog_signals_are_the_traces(run, neo):
    seg = run.to_neo()
    assert len(seg.analogsignals) == 2
    by_name = {s.name: s for s in seg.analogsignals}
    for var, unit in (("V_m", "mV"), ("I_syn", "pA")):
        sig, tr = by_name[var], run.trace("exc", var)
        assert sig.units.dimensionality.string == unit
        np.testing.assert_array_equal(sig.magnitude, tr.values)
        np.testing.assert_allclose(sig.times.rescale("ms").magnitude, tr.time, atol=1e-9)
        assert sig.annotations["source_population"] == "exc"
        np.testing.assert_array_equal(sig.annotations["source_ids"], tr.gids)
        np.testing.assert_array_equal(sig.array_annotations["channel_index"], tr.gids)
        assert sig.segment is seg


@pytest.mark.filterwarnings("ignore:The 'copy' argument in Quantity is deprecated")
def test_rate_and_cv_on_the_neo_objects_match_distsnn(run, neo):
    trains = list(run.to_neo().spiketrains)
    try:
        from elephant.statistics import cv, isi, mean_firing_rate

        rates = [float(mean_firing_rate(st).rescale("Hz")) for st in trains]
        cvs = [cv(isi(st)) for st in trains if len(st) >= 2]
    except ImportError:   # by hand on the same objects: Elephant's definitions
        rates = [len(st) / float((st.t_stop - st.t_start).rescale("s")) for st in trains]
        cvs = []
        for st in trains:
            if len(st) >= 2:
                d = np.diff(st.times.rescale("ms").magnitude)
                cvs.append(d.std() / d.mean())
    assert np.mean(rates) == pytest.approx(run.summary["mean_rate_hz"], rel=1e-12)
    # distsnn counts intervals in whole steps, Neo in float ms: equal to rounding.
    assert np.mean(cvs) == pytest.approx(run.isi_cv(), rel=1e-9)
