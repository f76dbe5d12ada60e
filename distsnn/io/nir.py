"""NIR graphs in: ``load_nir(graph, dt=..., time_unit=...)`` builds a distsnn network from
a Neuromorphic Intermediate Representation graph (the optional ``nir`` package).

Nodes
-----
=============  ============================================================================
NIR            distsnn
=============  ============================================================================
``Input``      a ``spike_train`` population fed by ``inputs[name]`` (0/1 per step)
``LIF``        ``lif``: ``tau_m = tau``, ``C_m = tau / r``, ``E_L = v_leak``,
               ``V_th = v_threshold``, ``V_reset = v_reset``, ``t_ref = 0``
``IF``         ``lif`` without leak (``tau_m = 1e20`` ms: ``exp(-dt / tau_m)`` is 1.0 in double)
``CubaLIF``    ``lif`` with an ``exp`` synapse of ``tau_syn`` (``w_in`` scales its input)
``LI``         ``li`` (non-spiking readout), ``CubaLI`` ``li`` with an ``exp`` synapse
``Affine``,    weights (and biases) of explicit synapses between the populations they
``Linear``,    connect; chains of them compose; ``Delay`` adds synaptic delay
``Scale``,
``Delay``
``Output``     spike monitors on spiking nodes, ``V_m`` state monitors on ``LI`` / ``CubaLI``
=============  ============================================================================

Convolutions, pooling, ``Flatten``, ``Threshold`` and the other nodes are refused with a
``ValueError`` naming the node. Neurons of one node with different parameters become one
population per parameter set (``<node>_<k>``).

Semantics. NIR writes continuous-time equations, e.g. ``tau dv/dt = (v_leak - v) + r I``;
its reference simulations (the NIR paper's exact LIF trace) and the discrete frameworks
that export NIR hold a spike's weighted input as a current for one step ``dt``. distsnn
integrates that exactly: a weight ``w`` reaching a ``LIF`` / ``LI`` neuron is a jump of
``r w (1 - exp(-dt / tau))`` at the end of the step, on an ``IF`` neuron ``r w dt``; into
a ``CubaLIF`` / ``CubaLI`` the current pulse ``X = w_in w`` leaves the synaptic current
``X (1 - exp(-dt / tau_syn))`` and the membrane jump ``r X (1 - exp(-dt / tau)) - X P``
(``P``: the membrane propagator of the synaptic current, :mod:`distsnn.models.lif`).
Biases act the same way, as a current held at every step (a one-neuron ``bias`` source
spiking each step). Every edge takes at least one step: an input at index ``k`` (time
``k dt``) is emitted at step ``k + 1`` and first moves V at step ``k + 2``; each further
layer adds one step (the discrete frameworks propagate within a step). Time constants
and delays are in ``time_unit`` (``"s"`` or ``"ms"``: NIR files disagree, so it is
required); voltages and currents are taken as numbers in mV and pA.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..connectors import EdgeList
from ..models import lif as lif_model
from ..network import Network
from ..synapses import SynapseType

NEURONS = ("LIF", "IF", "CubaLIF", "LI", "CubaLI")
WEIGHTS = ("Affine", "Linear", "Scale", "Delay")
IF_TAU_MS = 1e20


def _nir():
    try:
        import nir
    except ImportError:
        raise ImportError("distsnn.load_nir needs the 'nir' package: pip install 'distsnn[nir]' "
                          "(or pip install nir)") from None
    return nir


@dataclass
class _Pop:
    """One distsnn population of a NIR neuron node: its neurons (indices in the node)."""

    name: str
    index: np.ndarray
    params: dict[str, float]
    consts: dict[str, float]        # r, tau (ms), tau_syn (ms), w_in of these neurons


def _flat(node: Any, attr: str, n: int, name: str) -> np.ndarray:
    v = np.asarray(getattr(node, attr), dtype=np.float64).ravel()
    if v.size == 1:
        v = np.full(n, v[0])
    if v.size != n:
        raise ValueError(f"NIR node {name!r}: {attr} has {v.size} values for {n} neurons")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"NIR node {name!r}: {attr} must be finite, got {v[~np.isfinite(v)][0]!r}")
    return v


def _size(node: Any) -> int:
    for attr in ("v_threshold", "tau", "tau_mem", "r"):
        if hasattr(node, attr):
            return int(np.asarray(getattr(node, attr)).size)
    raise ValueError(f"NIR node of type {type(node).__name__}: cannot tell its number of neurons")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "node"


def _neuron_pops(name: str, node: Any, scale: float, dt: float) -> tuple[str, list[_Pop]]:
    kind = type(node).__name__
    n = _size(node)
    cols: dict[str, np.ndarray] = {"r": _flat(node, "r", n, name)}
    if kind in ("LIF", "LI"):
        cols["tau"] = _flat(node, "tau", n, name) * scale
    elif kind in ("CubaLIF", "CubaLI"):
        cols["tau"] = _flat(node, "tau_mem", n, name) * scale
        cols["tau_syn"] = _flat(node, "tau_syn", n, name) * scale
        cols["w_in"] = _flat(node, "w_in", n, name) if hasattr(node, "w_in") else np.ones(n)
    else:
        cols["tau"] = np.full(n, IF_TAU_MS)
    if kind != "IF":
        cols["v_leak"] = _flat(node, "v_leak", n, name)
    else:
        cols["v_leak"] = np.zeros(n)
    if kind in ("LIF", "IF", "CubaLIF"):
        cols["v_threshold"] = _flat(node, "v_threshold", n, name)
        cols["v_reset"] = _flat(node, "v_reset", n, name) if hasattr(node, "v_reset") else np.zeros(n)
    for k in ("tau", "tau_syn"):
        if k in cols and not np.all(cols[k] > 0):
            raise ValueError(f"NIR node {name!r}: {k} must be > 0, got {cols[k].min()!r}")
    if not np.all(cols["r"] > 0):
        raise ValueError(f"NIR node {name!r}: r must be > 0, got {cols['r'].min()!r}")
    keys = sorted(cols)
    table = np.stack([cols[k] for k in keys], axis=1)
    uniq, inverse = np.unique(table, axis=0, return_inverse=True)
    pops = []
    for g, row in enumerate(uniq):
        c = dict(zip(keys, row.tolist()))
        params = {"tau_m": c["tau"], "C_m": c["tau"] / c["r"], "E_L": c["v_leak"]}
        if "v_threshold" in c:
            if not c["v_reset"] < c["v_threshold"]:
                raise ValueError(f"NIR node {name!r}: v_reset must be < v_threshold = {c['v_threshold']}, "
                                 f"got {c['v_reset']}")
            params.update(V_th=c["v_threshold"], V_reset=c["v_reset"], t_ref=0.0)
        pname = _safe(name) if len(uniq) == 1 else f"{_safe(name)}_{g}"
        pops.append(_Pop(pname, np.flatnonzero(inverse.ravel() == g), params, c))
    return kind, pops


@dataclass
class _Path:
    """A linear map from a source node's outputs to the current signal: ``W`` (current x
    source), ``b`` (current), delays before (per source) and after (per current) the
    weights, in ms."""

    W: np.ndarray
    b: np.ndarray
    d_src: np.ndarray
    d_cur: np.ndarray
    mixed: bool


def _step_through(p: _Path, name: str, node: Any, scale: float) -> _Path:
    kind = type(node).__name__
    if kind == "Delay":
        d = np.asarray(node.delay, dtype=np.float64).ravel() * scale
        if d.size == 1:
            d = np.full(p.W.shape[0], d[0])
        if d.size != p.W.shape[0]:
            raise ValueError(f"NIR node {name!r}: delay has {d.size} values for a signal of {p.W.shape[0]}")
        if not p.mixed:
            return _Path(p.W, p.b, p.d_src + d, p.d_cur, False)
        return _Path(p.W, p.b, p.d_src, p.d_cur + d, True)
    if kind == "Scale":
        s = np.asarray(node.scale, dtype=np.float64).ravel()
        return _Path(s[:, None] * p.W, s * p.b, p.d_src, p.d_cur, p.mixed)
    A = np.asarray(node.weight, dtype=np.float64)
    if A.ndim != 2 or A.shape[1] != p.W.shape[0]:
        raise ValueError(f"NIR node {name!r}: weight of shape {A.shape} does not take a signal of {p.W.shape[0]}")
    if p.mixed and np.ptp(p.d_cur) > 0:
        raise ValueError(f"NIR node {name!r}: a Delay between two weight layers with different delays per "
                         f"element has no synaptic form")
    bias = np.asarray(node.bias, dtype=np.float64).ravel() if kind == "Affine" else np.zeros(A.shape[0])
    d_cur = np.full(A.shape[0], p.d_cur[0] if p.d_cur.size else 0.0)
    return _Path(A @ p.W, A @ p.b + bias, p.d_src, d_cur, True)


def load_nir(graph: Any, dt: float, time_unit: str, inputs: Mapping[str, np.ndarray] | None = None,
             t_stop: float | None = None, seed: int = 0) -> Network:
    """A distsnn network from a NIR graph; see the module docstring for the mapping.

    Parameters
    ----------
    graph : nir.NIRGraph, str or path
        The graph, or a ``.nir`` file.
    dt : float
        Simulation step (ms).
    time_unit : str
        Unit of the graph's time constants and delays: ``"s"`` or ``"ms"``.
    inputs : mapping of str to array, optional
        Per ``Input`` node, its spikes: shape (steps, neurons), 0 or 1 per step (index k
        is the step from ``k dt`` to ``(k + 1) dt``). Missing inputs stay silent.
    t_stop : float, optional
        Simulated time (ms); default: the longest input plus two steps, else 1000 ms.
    seed : int
        Master seed (nothing here draws).
    """
    nir = _nir()
    if time_unit not in ("s", "ms"):
        raise ValueError(f"load_nir: time_unit must be 's' or 'ms' (NIR files disagree), got {time_unit!r}")
    scale = 1000.0 if time_unit == "s" else 1.0
    if isinstance(graph, (str, os.PathLike)):
        if not os.path.isfile(graph):
            raise ValueError(f"load_nir: file {os.fspath(graph)!r} does not exist")
        graph = nir.read(os.fspath(graph))
    inputs = dict(inputs or {})
    nodes, edges = dict(graph.nodes), list(graph.edges)
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind not in NEURONS + WEIGHTS + ("Input", "Output"):
            raise ValueError(f"NIR node {name!r}: {kind} is not supported (convolution, pooling, flattening "
                             f"and nested graphs have no distsnn form); supported: "
                             f"{', '.join(NEURONS + WEIGHTS)}, Input, Output")
    for k in inputs:
        if k not in nodes or type(nodes[k]).__name__ != "Input":
            raise ValueError(f"load_nir: inputs[{k!r}] names no Input node of the graph")
    lengths = [np.asarray(v).shape[0] for v in inputs.values()]
    if t_stop is None:
        t_stop = (max(lengths) + 2) * dt if lengths else 1000.0
    net = Network(dt=dt, seed=seed, t_stop=t_stop)
    n_steps = int(round(t_stop / dt))

    pops: dict[str, tuple[str, list[_Pop]]] = {}
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind == "Input":
            n = int(np.prod(np.asarray(node.input_type["input"]).ravel()))
            spikes = np.asarray(inputs.get(name, np.zeros((0, n))))
            if spikes.ndim != 2 or spikes.shape[1] != n:
                raise ValueError(f"load_nir: inputs[{name!r}] must have shape (steps, {n}), got {spikes.shape}")
            if not np.all(np.isin(spikes, (0, 1))):
                raise ValueError(f"load_nir: inputs[{name!r}] must hold 0 or 1 per step and neuron")
            times = [((np.flatnonzero(spikes[:, i]) + 1) * dt).tolist() for i in range(n)]
            pname = _safe(name)
            net.add_population(pname, n, "spike_train", {"times": times})
            pops[name] = ("Input", [_Pop(pname, np.arange(n), {}, {})])
        elif kind in NEURONS:
            kind, groups = _neuron_pops(name, node, scale, dt)
            model = "li" if kind in ("LI", "CubaLI") else "lif"
            for g in groups:
                net.add_population(g.name, g.index.size, model, g.params)
            pops[name] = (kind, groups)

    # Walk from every source (Input or neuron node) through weight nodes to neuron nodes.
    out_of: dict[str, list[str]] = {}
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise ValueError(f"NIR edge ({a!r}, {b!r}) names a node that does not exist")
        out_of.setdefault(a, []).append(b)
    bias_pop = None
    outputs = []
    for src, (skind, sgroups) in pops.items():
        n_src = sum(g.index.size for g in sgroups)
        start = _Path(np.eye(n_src), np.zeros(n_src), np.zeros(n_src), np.zeros(n_src), False)
        stack = [(b, start, (src,)) for b in out_of.get(src, [])]
        while stack:
            name, path, seen = stack.pop()
            kind = type(nodes[name]).__name__
            if name in seen and kind not in NEURONS:
                raise ValueError(f"NIR graph: a cycle through {name!r} has no neuron node on it")
            if kind == "Output":
                outputs.append((src, skind))
                continue
            if kind in NEURONS:
                if path.b.any():
                    bias_pop = bias_pop or _bias_source(net, n_steps, dt)
                _connect(net, sgroups, pops[name], path, dt, bias_pop)
                continue
            if kind == "Input":
                raise ValueError(f"NIR edge into Input node {name!r}")
            nxt = _step_through(path, name, nodes[name], scale)
            stack.extend((b, nxt, seen + (name,)) for b in out_of.get(name, []))
    for src, skind in outputs:
        for g in pops[src][1]:
            if skind in ("LI", "CubaLI"):
                net.add_state_monitor(g.name, ["V_m"])
            else:
                net.add_spike_monitor(g.name)
    return net


def _bias_source(net: Network, n_steps: int, dt: float) -> str:
    name = "bias"
    while name in net.populations:
        name += "_"
    net.add_population(name, 1, "spike_train", {"times": [[(k + 1) * dt for k in range(max(0, n_steps - 1))]]})
    return name


def _connect(net: Network, sgroups: list[_Pop], target: tuple[str, list[_Pop]], path: _Path, dt: float,
             bias_pop: str | None) -> None:
    kind, tgroups = target
    for tg in tgroups:
        W = path.W[tg.index]
        c = tg.consts
        a_m = math.exp(-dt / c["tau"])
        if kind == "IF":
            parts = [("delta", c["r"] * dt)]
        elif kind in ("LIF", "LI"):
            parts = [("delta", c["r"] * -math.expm1(-dt / c["tau"]))]
        else:
            syn = SynapseType("exp", c["tau_syn"])
            P = float(lif_model.prepare(lif_model.Params(C_m=c["tau"] / c["r"], tau_m=c["tau"]), dt, (syn,)).P21[0])
            X = c["w_in"]
            parts = [("delta", X * (c["r"] * (1.0 - a_m) - P)), (syn, X * -math.expm1(-dt / c["tau_syn"]))]
        for sg in sgroups:
            cols = sg.index      # the path's columns are the source node's neurons
            block = W[:, cols]
            post, pre = np.nonzero(block)
            if not post.size:
                continue
            delay = np.maximum(dt, path.d_src[cols][pre] + path.d_cur[tg.index][post] + dt)
            for syn, factor in parts:
                net.add_projection(sg.name, tg.name, EdgeList(pre, post, block[post, pre] * factor, delay), syn)
        if bias_pop is not None and path.b[tg.index].any():
            b = path.b[tg.index]
            post = np.flatnonzero(b)
            for syn, factor in parts:
                net.add_projection(bias_pop, tg.name, EdgeList(np.zeros(post.size, np.int64), post,
                                                               b[post] * factor, np.full(post.size, dt)), syn)
