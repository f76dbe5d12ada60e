"""Networks in TOML: load, validate, write back.

Layout (units ms, mV, pA, nS, pF, Hz)::

    [simulation]
    dt = 0.1            # ms
    t_stop = 1000.0     # ms
    seed = 12345
    strict_time = false # true: durations off the dt grid are errors, not warnings

    [[population]]
    name = "exc"
    size = 800
    model = "lif"                    # or lif_cond, izhikevich, hh, adex, spike_train, poisson
    params = { tau_m = 20.0, V_th = 20.0, V_reset = 10.0, E_L = 0.0, t_ref = 2.0 }
    # izhikevich: params = { preset = "RS" }; spike_train: params = { times = [[1.0, 5.0], [2.5]] };
    # poisson: params = { rate = 10.0 } or { schedule = { times = [0.0, 100.0], rates = [10.0, 50.0] } }
    initial = { V_m = { dist = "uniform", low = 0.0, high = 20.0 } }
    rate_hz = 5.0                    # optional: expected rate, weighs spikes for the partitioner
    # model parameters (lif, lif_cond, adex, izhikevich, hh, li) may also be per neuron: a list (one value per neuron) or a
    # distribution, e.g. tau_m = { dist = "normal", mean = 10.0, std = 1.0, low = 5.0 };
    # initial values may start a synapse channel: "syn:<projection>" = { dist = ... } (pA or nS)
    # optional, for spatial connectors (distsnn.spatial):
    # positions = { kind = "grid", shape = [20, 40], extent = [1.0, 2.0], edge_wrap = true }
    # positions = { kind = "random", extent = [1.0, 1.0, 1.0] }
    # positions = { kind = "free", coordinates = [[0.0, 0.1], [0.5, 0.2], ...] }

    [[projection]]
    name = "ee"                      # optional, default "<pre>_<post>"
    pre = "exc"
    post = "exc"
    connector = { rule = "fixed_indegree", indegree = 80, multapses = false }
    # or { rule = "fixed_total_number", n = 50000 } (NEST's fixed_total_number),
    # { rule = "fixed_probability", p = 0.1, autapses = false } (alias "pairwise_bernoulli";
    # NEST's allow_autapses / allow_multapses are accepted too),
    # { rule = "spatial", p = { kind = "gaussian", p0 = 0.8, sigma = 0.2 }, radius = 0.5,
    #   delay = { offset = 0.5, slope = 2.0 } }  (then leave out the projection's delay;
    #   instead of radius: mask = { kind = "rectangular", lower_left = [..], upper_right = [..] };
    #   indegree = 50: exactly 50 sources per target, drawn in proportion to p (or
    #   outdegree = 50: exactly 50 targets per source, the mask centred on the source);
    #   weight = { scale = -2.0, kernel = { kind = "gaussian", p0 = 1.0, sigma = 0.1 } })
    synapse = "delta"                # or { kind = "exp", tau = 5.0 },
                                     # { kind = "double_exp", tau_rise = 1.0, tau_decay = 5.0 },
                                     # { kind = "exp", mode = "conductance", tau = 5.0, e_rev = 0.0 }
    weight = 0.1                     # number, list, or { dist = "normal", ... }
    delay = 1.5

    [[poisson_input]]
    name = "drive"
    target = "exc"
    rate = 8000.0                    # Hz; or schedule = { times = [0.0, 100.0], rates = [8000.0, 0.0] }
    weight = 0.1
    synapse = "delta"

    [[current_input]]                # NEST's dc / step_current / noise generators
    name = "bias"
    target = "exc"
    kind = "dc"                      # amplitude = pA (a number or one per neuron); or "ac":
                                     # amplitude, offset (pA), frequency (Hz), phase (deg)
    amplitude = 200.0                # step: times = [ms, ...], amplitudes = [pA, ...]
                                     # noise: mean, std (pA), dt_noise (ms)
    # optional: neurons = [0, 3], start = 0.0, stop = 500.0, delay = 0.1 (ms, default dt)

    [[monitor]]
    kind = "spikes"                  # or "state", "rate"
    population = "exc"
    neurons = { fraction = 0.1, seed = 7 }   # optional: [0, 1], { start = 0, stop = 100, step = 2 }
    start = 100.0                    # optional window (ms): spikes stamped in (start, stop]
    # state: variables = ["V_m", "I_syn_1"], neurons = [0, 1], interval = 0.1, start, stop
    # rate:  bin = 1.0               # ms; spike counts of the whole population per bin

Relative ``file`` paths of edge lists are taken relative to the TOML file. Files (the TOML
file and CSV edge lists) are UTF-8 text. Without a ``[simulation]`` section the defaults
(seed 0, dt 0.1 ms, t_stop 1000 ms) are used with an :class:`~distsnn.validate.InputWarning`
that names them; a file without any ``[[population]]`` is an error.
"""

from __future__ import annotations

import codecs
import os
import tomllib
import warnings
from typing import Any

import numpy as np
import tomli_w

from . import connectors, memory, validate
from .connectors import EdgeList
from .models.common import SYN_PREFIX
from .models.poisson import RateSchedule
from .network import Network, SpikeMonitor, StateMonitor

#: Memory per byte of TOML text while it is parsed: the bytes, the decoded text and the
#: Python objects (a number of a few characters becomes a 24-byte object and a list slot;
#: tomllib measured at about 6 bytes per byte for long numeric arrays).
TOML_BYTES_PER_BYTE = 8
_TOP = ("simulation", "population", "projection", "poisson_input", "current_input", "monitor")
_SIM = ("dt", "t_stop", "seed", "strict_time")
_POP = ("name", "size", "model", "params", "initial", "rate_hz", "positions")
_PROJ = ("name", "pre", "post", "connector", "synapse", "weight", "delay")
_INPUT = ("name", "target", "rate", "schedule", "weight", "synapse")
_MON = {"spikes": ("kind", "population", "neurons", "start", "stop"),
        "state": ("kind", "population", "variables", "neurons", "interval", "start", "stop"),
        "rate": ("kind", "population", "bin")}


def load(path: str, seed: int | None = None, t_stop: float | None = None,
         max_memory: int | str | None = "available", strict_time: bool | None = None) -> Network:
    """Read and validate a TOML network file; ``seed``, ``t_stop`` and ``strict_time``
    override the file's.

    ``max_memory``: bytes this process may use to hold the file and the network's edge-list
    files, checked before each is read (``"64G"``-style strings too; ``"available"``, the
    default: the machine's available memory; ``None``: no check).
    """
    max_memory = _limit(max_memory)
    text = _read_text(path, max_memory)
    if not text.strip():
        raise ValueError(f"Config {path!r}: the file is empty; a network needs at least one [[population]]")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"Config {path!r}: not valid TOML: {e}") from None
    overrides = {k: v for k, v in (("seed", seed), ("t_stop", t_stop), ("strict_time", strict_time)) if v is not None}
    return _from_doc(doc, os.path.dirname(os.path.abspath(path)), f"Config {path!r}", overrides, max_memory)


def loads(text: str, base_dir: str = ".", max_memory: int | str | None = "available") -> Network:
    """Read and validate a network from TOML text (``max_memory`` as for :func:`load`)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"Config: not valid TOML: {e}") from None
    return _from_doc(doc, base_dir, "Config", {}, max_memory)


def _limit(max_memory: int | str | None) -> int | None:
    limit = memory.parse_bytes("Config", "max_memory", max_memory)
    return memory.available_memory() if limit == "available" else limit


def _read_text(path: str, max_memory: int | None = None) -> str:
    """The file as text; TOML is UTF-8 (a UTF-8 byte-order mark is allowed and dropped)."""
    path = validate.existing_file("Config", "file", path)
    memory.check_allocation(f"Config {path!r}", f"reading the file as TOML (about {TOML_BYTES_PER_BYTE} bytes "
                               f"of memory per byte of text)", TOML_BYTES_PER_BYTE * os.path.getsize(path), max_memory)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise ValueError(f"Config {path!r}: cannot be read: {e.strerror or e}") from None
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ValueError(f"Config {path!r}: the file is UTF-16 or UTF-32 text; TOML files must be UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValueError(f"Config {path!r}: the file is not UTF-8 text (byte 0x{data[e.start]:02x} on line "
                         f"{line}); TOML files must be UTF-8") from None


def _from_doc(doc: dict[str, Any], base_dir: str, where: str, overrides: dict[str, Any],
              max_memory: int | str | None) -> Network:
    validate.known_fields(where, doc, _TOP, "section")
    sim = doc.get("simulation")
    if sim is None and doc.get("population"):
        defaults = Network()
        used = [f"{k} = {getattr(defaults, k):g}{'' if k == 'seed' else ' ms'}"
                for k in ("seed", "dt", "t_stop") if k not in overrides]
        warnings.warn(f"{where}: no [simulation] section; using the defaults {', '.join(used)}",
                      validate.InputWarning, stacklevel=3)
    if isinstance(sim, dict) or sim is None:
        doc = {**doc, "simulation": {**(sim or {}), **overrides}}
    net = from_dict(doc, base_dir, max_memory)
    if not net.populations:
        raise ValueError(f"{where}: no [[population]] given; a network needs at least one")
    return net


def _tables(doc: dict, key: str) -> list[dict]:
    items = doc.get(key, [])
    if not isinstance(items, list) or not all(isinstance(t, dict) for t in items):
        raise ValueError(f"Config: [[{key}]] must be an array of tables, got {items!r}")
    return items


def _required(owner: str, table: dict, keys: tuple[str, ...]) -> None:
    for k in keys:
        if k not in table:
            raise ValueError(f"{owner}: field {k!r} is required")


def from_dict(doc: dict[str, Any], base_dir: str = ".", max_memory: int | str | None = "available") -> Network:
    """A network from a parsed TOML document (``max_memory`` as for :func:`load`)."""
    file_limit = _limit(max_memory)
    validate.known_fields("Config", doc, _TOP, "section")
    sim = doc.get("simulation", {})
    validate.mapping("Config", "[simulation]", sim)
    validate.known_fields("Config [simulation]", sim, _SIM)
    net = Network(**sim)
    channel_initial = []
    for i, t in enumerate(_tables(doc, "population")):
        owner = f"Config population #{i + 1}"
        validate.known_fields(owner, t, _POP)
        _required(owner, t, ("name", "size"))
        init = t.get("initial")
        if isinstance(init, dict):
            # Channel states name projections: set once the projections exist.
            channel_initial += [(t["name"], k, v) for k, v in init.items() if k.startswith(SYN_PREFIX)]
            init = {k: v for k, v in init.items() if not k.startswith(SYN_PREFIX)}
        net.add_population(t["name"], t["size"], t.get("model", "lif"), t.get("params"), init,
                           rate_hz=t.get("rate_hz"), positions=t.get("positions"))
    for i, t in enumerate(_tables(doc, "projection")):
        owner = f"Config projection #{i + 1}"
        validate.known_fields(owner, t, _PROJ)
        _required(owner, t, ("pre", "post", "connector"))
        conn = t["connector"]
        if isinstance(conn, dict) and isinstance(conn.get("file"), str):
            if not os.path.isabs(conn["file"]):
                conn = {**conn, "file": os.path.join(base_dir, conn["file"])}
            # Read here, where the memory limit is known; errors name the projection.
            label = (f"Projection {t['name']!r}" if "name" in t
                     else f"{owner} ({t['pre']!r} -> {t['post']!r})")
            conn = connectors.parse(label, conn, file_limit)
        net.add_projection(t["pre"], t["post"], conn, t.get("synapse", "delta"), t.get("weight"),
                           t.get("delay"), t.get("name"))
    for pop, var, value in channel_initial:
        net.set_initial(pop, var, value)
    for i, t in enumerate(_tables(doc, "poisson_input")):
        owner = f"Config poisson_input #{i + 1}"
        validate.known_fields(owner, t, _INPUT)
        _required(owner, t, ("name", "target", "weight"))
        net.add_poisson_input(t["name"], t["target"], t.get("rate"), t["weight"], t.get("synapse", "delta"),
                              t.get("schedule"))
    for i, t in enumerate(_tables(doc, "current_input")):
        owner = f"Config current_input #{i + 1}"
        _required(owner, t, ("name", "target", "kind"))
        spec = {k: v for k, v in t.items() if k not in ("name", "target", "kind")}
        net.add_current_input(t["name"], t["target"], t["kind"], **spec)
    for i, t in enumerate(_tables(doc, "monitor")):
        owner = f"Config monitor #{i + 1}"
        validate.choice(owner, "kind", t.get("kind"), _MON)
        validate.known_fields(owner, t, _MON[t["kind"]])
        _required(owner, t, ("population",))
        if t["kind"] == "spikes":
            net.add_spike_monitor(t["population"], t.get("neurons"), t.get("start"), t.get("stop"))
        elif t["kind"] == "rate":
            _required(owner, t, ("bin",))
            net.add_rate_monitor(t["population"], t["bin"])
        else:
            _required(owner, t, ("variables",))
            net.add_state_monitor(t["population"], t["variables"], t.get("neurons"), t.get("interval"),
                                  t.get("start"), t.get("stop"))
    return net


def to_dict(net: Network) -> dict[str, Any]:
    """The TOML document of a network (written back by :func:`dump`)."""
    doc: dict[str, Any] = {"simulation": {"dt": net.dt, "t_stop": net.t_stop, "seed": net.seed}}
    if net.strict_time:
        doc["simulation"]["strict_time"] = True
    doc["population"] = [
        {"name": p.name, "size": p.size, "model": p.model, "params": dict(vars(p.params)),
         "initial": {k: v.to_plain() for k, v in p.initial.items()},
         **({} if p.rate_hz is None else {"rate_hz": p.rate_hz}),
         **({} if p.positions is None else {"positions": p.positions.to_plain()})}
        for p in net.populations.values()]
    projs = []
    for pr in net.projections.values():
        t = {"name": pr.name, "pre": pr.pre, "post": pr.post, "connector": pr.connector.to_plain(),
             "synapse": pr.synapse.to_plain()}
        if pr.weight is not None:
            t["weight"] = pr.weight.to_plain()
        if pr.delay is not None:
            t["delay"] = pr.delay.to_plain()
        projs.append(t)
    doc["projection"] = projs
    doc["poisson_input"] = [
        {"name": i.name, "target": i.target, "weight": i.weight, "synapse": i.synapse.to_plain(),
         **({"rate": i.rate} if i.schedule is None else {"schedule": i.schedule.to_plain()})}
        for i in net.inputs.values()]
    doc["current_input"] = [c.to_plain() for c in net.currents.values()]
    mons = []
    for m in net.monitors:
        if isinstance(m, SpikeMonitor):
            t = {"kind": "spikes", "population": m.population, "neurons": m.neurons.to_plain()}
        elif isinstance(m, StateMonitor):
            t = {"kind": "state", "population": m.population, "variables": list(m.variables),
                 "neurons": m.neurons.to_plain(), "interval": m.interval}
        else:
            t = {"kind": "rate", "population": m.population, "bin": m.bin}
        for k in ("start", "stop"):
            if getattr(m, k, None) is not None:
                t[k] = getattr(m, k)
        mons.append({k: v for k, v in t.items() if v is not None})
    doc["monitor"] = mons
    return {k: v for k, v in doc.items() if v != []}


def dumps(net: Network) -> str:
    return tomli_w.dumps(_plain(to_dict(net)))


def dump(net: Network, path: str) -> None:
    """Write a network as TOML (atomically: a temporary file renamed into place)."""
    text = dumps(net)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _plain(x: Any) -> Any:
    # tomli_w takes only built-in types; a rate schedule or a per-neuron value (model
    # parameters) is a table or a list.
    if isinstance(x, RateSchedule) or hasattr(x, "to_plain"):
        return _plain(x.to_plain())
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


__all__ = ["load", "loads", "from_dict", "to_dict", "dump", "dumps", "EdgeList"]
