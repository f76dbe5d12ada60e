"""One compiled epoch loop for a network of e-prop neurons and their spike-train inputs.

E-prop networks (NEST's examples) have 1-step delays, so the engine's epoch is one step
long and each step would cost a pass through Python. When no synapse crosses ranks, the
engine may instead hand all local populations to one model family's
``advance_delivering`` (:meth:`distsnn.engine.Simulation._fused_model`), which runs
many steps in one compiled call, delivering each step's spikes before the next. The
populations of ``eprop_iaf``, ``eprop_iaf_adapt`` and ``eprop_readout`` name this module
as their ``FUSED`` loop; it also takes ``spike_train`` populations (their inputs).

Per step, every population (in gid order) does the step with its own model's compiled loop
(:func:`distsnn.models.eprop_iaf._advance`, :func:`distsnn.models.eprop_readout._advance`,
called for that one step, so the bits are those of the engine's other paths), the spike
trains emit the step's spikes, and then the step's spikes are delivered through the
table (they arrive at step + delay >= step + 1, in rows no population has read yet).
Arrivals are integer sums (fixed-point quanta), so their order does not matter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from ..delivery import deliver_one
from ..synapses import QUANTUM
from . import eprop_iaf, eprop_iaf_adapt, eprop_readout, spike_train

_EMPTY = np.zeros(0)
_EMPTY_INT = np.zeros(0, np.int64)


def _recurrent(s: Any, c: Any, port0: int, n_ports: int, gids: np.ndarray, model: Any) -> tuple:
    # eprop_iaf._advance's constants, the numbers packed into one float and one int array
    # so that every population has the same tuple type
    P_i, alpha, v_min, theta, ref_steps, fn, height, width, adaptive, rho, beta, Ie, trace = \
        model.kernel_constants(c, s.v.size)
    return (model.state_arrays(s), np.int64(port0), np.int64(n_ports), gids.astype(np.int64, copy=False),
            np.array([P_i, alpha, v_min, theta, height, width, rho, beta], dtype=np.float64),
            np.array([ref_steps, fn, int(adaptive)], np.int64), Ie, trace)


def _readout(s: Any, c: Any, port0: int, n_ports: int, gids: np.ndarray) -> tuple:
    P_i, alpha, v_min, E_L, Ie, target, t0, trace = eprop_readout.kernel_constants(c, s.v.size)
    return (eprop_readout.state_arrays(s), np.int64(port0), np.int64(n_ports),
            np.array([P_i, alpha, v_min, E_L], dtype=np.float64), Ie, target, np.int64(t0), trace)


# Zero-size populations of each kind: the compiled loop takes one tuple per kind, and
# numba cannot iterate over an empty tuple.
_NO_REC = ((_EMPTY, _EMPTY_INT, _EMPTY, _EMPTY, _EMPTY, _EMPTY, _EMPTY), np.int64(0), np.int64(0), _EMPTY_INT,
           np.zeros(8), np.zeros(3, np.int64), _EMPTY, eprop_iaf.NO_TRACE)
_NO_OUT = ((_EMPTY, _EMPTY, _EMPTY, _EMPTY, _EMPTY), np.int64(0), np.int64(0), np.zeros(4), _EMPTY,
           np.zeros((0, 0)), np.int64(0), np.zeros((1, 0, 0)))
_NO_TRAIN = (_EMPTY_INT, _EMPTY_INT, _EMPTY_INT)


def bind(pops: list[tuple[Any, Any, int, int, np.ndarray]]) -> tuple:
    """The arguments of :func:`advance_delivering`'s compiled loop for these populations
    ((state, prepared, port0, n_ports, gids) each, in ascending gid order), valid as long
    as their states and constants are these (:class:`distsnn.fused.FusedGroup` binds
    anew when one is replaced: the trainer's resets and targets)."""
    recs, outs, trains, order = [], [], [], []
    for s, c, port0, n_ports, gids in pops:
        if isinstance(s, eprop_iaf_adapt.State):
            order.append((0, len(recs)))
            recs.append(_recurrent(s, c, port0, n_ports, gids, eprop_iaf_adapt))
        elif isinstance(s, eprop_iaf.State):
            order.append((0, len(recs)))
            recs.append(_recurrent(s, c, port0, n_ports, gids, eprop_iaf))
        elif isinstance(s, eprop_readout.State):
            order.append((1, len(outs)))
            outs.append(_readout(s, c, port0, n_ports, gids))
        else:
            order.append((2, len(trains)))
            trains.append((s.when, s.who, gids.astype(np.int64, copy=False)))
    largest = max([g.size for *_, g in pops] + [1])
    return (tuple(recs) or (_NO_REC,), tuple(outs) or (_NO_OUT,), tuple(trains) or (_NO_TRAIN,),
            np.array(order, np.int64).reshape(-1, 2), np.int64(sum(g.size for *_, g in pops)),
            np.empty(largest, np.int64), np.empty(largest, np.int64))


def advance_delivering(bound: tuple, ring: np.ndarray, first: int, last: int, table: tuple, out_gid: np.ndarray,
                       out_step: np.ndarray, count: int) -> tuple[int, int, int]:
    """Advance the populations of ``bound`` (:func:`bind`) through steps ``first..last``
    in one compiled call, delivering each step's spikes through ``table`` (a synapse
    table's ``kernel_args()``) before the next (as
    :func:`distsnn.models.lif_cond.advance_delivering`). Spikes go to ``out_gid`` /
    ``out_step`` from position ``count`` on, by step, then population, then neuron; the
    call stops before a step for which there is no room for every neuron to spike.
    Returns (last step done, spikes in the buffers, synaptic events)."""
    return _advance_delivering(*bound, ring, QUANTUM, first, last, out_gid, out_step, count, *table)


def fusable(states: list[Any]) -> bool:
    """Whether these states can go through :func:`advance_delivering` together: only
    e-prop neurons and spike trains, with C-contiguous arrays of the loop's types."""
    for s in states:
        if isinstance(s, eprop_iaf_adapt.State):
            arrays = eprop_iaf_adapt.state_arrays(s)
        elif isinstance(s, eprop_iaf.State):
            arrays = eprop_iaf.state_arrays(s)
        elif isinstance(s, eprop_readout.State):
            arrays = eprop_readout.state_arrays(s)
        elif isinstance(s, spike_train.State):
            arrays = (s.when, s.who)
        else:
            return False
        if not all(a.flags.c_contiguous and a.ndim == 1 for a in arrays):
            return False
        if not all(a.dtype == (np.int64 if k in _INT_FIELDS.get(type(s), ()) else np.float64)
                   for k, a in enumerate(arrays)):
            return False
    return True


#: Positions of the int64 arrays among each state's loop arrays.
_INT_FIELDS = {eprop_iaf.State: (1,), eprop_iaf_adapt.State: (1,), spike_train.State: (0, 1)}


@njit(cache=True)
def _advance_delivering(recs, outs, trains, order, total, idx_buf, step_buf, ring, scale, first, last, out_gid,
                        out_step, count, src, src_ptr, run_start, run_len, run_delay, run_kind, run_w, port, w32, w64):
    events = 0
    for t in range(first, last + 1):
        if count + total > out_gid.size:
            return t - 1, count, events
        start = count
        for q in range(order.shape[0]):
            kind = order[q, 0]
            if kind == 0:
                (v, r, z, psi, i_in, a, v_th), port0, n_ports, gids, f, k, Ie, trace = recs[order[q, 1]]
                n = eprop_iaf._advance(v, r, z, psi, i_in, a, v_th, ring, scale, port0, n_ports, t, t, idx_buf,
                                       step_buf, f[0], f[1], f[2], f[3], k[0], k[1], f[4], f[5], k[2] != 0, f[6],
                                       f[7], Ie, trace)[1]
                for j in range(n):
                    out_gid[count] = gids[idx_buf[j]]
                    out_step[count] = t
                    count += 1
            elif kind == 1:
                (v, i_in, y, y_star, err), port0, n_ports, f, Ie, target, t0, trace = outs[order[q, 1]]
                eprop_readout._advance(v, i_in, y, y_star, err, ring, scale, port0, n_ports, t, t, f[0], f[1], f[2],
                                       f[3], Ie, target, t0, trace)
            else:
                when, who, gids = trains[order[q, 1]]
                # spike_train.step: the neurons with a spike at step t (at most one each:
                # spike_train refuses two times on one step), in the order of their index
                lo = np.searchsorted(when, t, side="left")
                hi = np.searchsorted(when, t, side="right")
                for j in range(lo, hi):
                    out_gid[count] = gids[who[j]]
                    out_step[count] = t
                    count += 1
        for j in range(start, count):
            events += deliver_one(out_gid[j], t, src, src_ptr, run_start, run_len, run_delay, run_kind, run_w, port,
                                  w32, w64, ring)
    return last, count, events
