"""The network description: populations, projections, inputs and monitors.

A :class:`Network` is a pure description with no state and no MPI: it can be built in
Python or loaded from TOML (:mod:`distsnn.config`), and every part is validated when it
is added, so a simulation never starts from a bad description. Units: ms, mV, pA, nS,
pF, Hz for rates.

Global neuron ids (gids) number the populations' neurons in the order the
populations were added: population ``i`` holds gids ``offset_i .. offset_i + size_i - 1``.
Names key the random streams (``conn:<projection>``, ``weight:<projection>``,
``init:<population>:<var>``, ``poisson:<input>``, ``<model>_pop:<population>`` for a
model's own draws, e.g. ``poisson_pop:<population>``), so renaming an object changes its
draws.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np

from . import connectors, currents, distributions, models, spatial, synapses, timegrid, validate
from .distributions import ArrayValue, Value
from .models.common import SYN_PREFIX
from .models.poisson import RateSchedule, parse_schedule
from .positions import Layout, parse_positions
from .selection import Selection
from .selection import parse as parse_selection


@dataclass(frozen=True)
class Population:
    """``size`` neurons of one ``model`` with ``params`` and per-neuron ``initial`` values.

    ``rate_hz`` is an optional hint, the expected firing rate (Hz) the partitioner weighs
    this population's spikes with (:mod:`distsnn.graph`); it does not change the dynamics.
    ``positions`` (a :mod:`distsnn.positions` layout) serves spatial connectors.
    """

    name: str
    size: int
    model: str
    params: Any
    initial: Mapping[str, Value] = field(default_factory=dict)
    rate_hz: float | None = None
    positions: Layout | None = None


@dataclass(frozen=True)
class Projection:
    """Synapses from ``pre`` to ``post`` made by ``connector``.

    ``weight`` is in the unit of the synapse type (mV for delta, pA for current-based
    exp and double_exp, nS and >= 0 for conductance-based) and
    ``delay`` in ms (> 0; rounded to the nearest step, and a delay that rounds to less
    than one step takes one step, with a warning). ``None`` takes the value from the
    edge-list connector's column.
    """

    name: str
    pre: str
    post: str
    connector: Any
    synapse: synapses.SynapseType
    weight: Value | None
    delay: Value | None


@dataclass(frozen=True)
class PoissonInput:
    """An independent Poisson spike train of ``rate`` Hz into every neuron of ``target``.

    Like NEST's ``poisson_generator`` connected to a population: each target neuron gets
    its own train (keyed by its gid), delivered through ``synapse`` with ``weight``.
    The count in each step is drawn when the step is simulated, with no delay.
    Either ``rate`` is a constant or it is ``None`` and ``schedule`` gives a
    piecewise-constant rate (see :mod:`distsnn.models.poisson` for the step rule).
    """

    name: str
    target: str
    rate: float | None
    weight: float
    synapse: synapses.SynapseType
    schedule: RateSchedule | None = None

    def rates(self) -> RateSchedule:
        """The rate over time, a one-piece schedule for a constant rate."""
        return self.schedule if self.schedule is not None else RateSchedule((0.0,), (self.rate,))


@dataclass(frozen=True)
class SpikeMonitor:
    """Records the spikes of the ``neurons`` of ``population`` stamped in ``(start, stop]`` ms
    (NEST's activity window; ``None``: from the beginning, to the end)."""

    population: str
    neurons: Selection = Selection()
    start: float | None = None
    stop: float | None = None


@dataclass(frozen=True)
class StateMonitor:
    """Samples ``variables`` of the ``neurons`` of ``population``.

    Samples are taken at ``start`` (default 0) and then every ``interval`` ms (a whole
    number of steps) up to ``stop`` ms included (default: the end of the run). A variable
    is one of the model's ``RECORDABLE`` or, for the synaptic ones, a per-channel form
    ``I_syn_<k>`` / ``g_syn_<k>`` (``k`` = 1, 2, ... in the order of
    :meth:`Network.channels`, as NEST's multisynapse models number receptor ports).
    """

    population: str
    variables: tuple[str, ...]
    neurons: Selection
    interval: float
    start: float | None = None
    stop: float | None = None


@dataclass(frozen=True)
class RateMonitor:
    """Counts the spikes of every neuron of ``population`` in bins of ``bin`` ms; bin ``k``
    holds the spikes stamped in ``(k bin, (k + 1) bin]`` (the updates of that interval)."""

    population: str
    bin: float


#: Per-channel synaptic variables: ``<base>_<k>``, k from 1.
CHANNEL_VARIABLE = re.compile(r"^(I_syn|g_syn)_([1-9][0-9]*)$")


class Network:
    """A network description.

    Parameters
    ----------
    dt : float
        Simulation step (ms), > 0.
    seed : int
        Master seed in [0, 2**32 - 1]; every random stream is keyed by it.
    t_stop : float
        Default simulated duration (ms), >= 0.
    strict_time : bool
        Durations given in ms (delays, refractory periods, rate-schedule times) that are
        not whole steps of ``dt``, and delays that round to less than one step, are
        rounded with a :class:`~distsnn.timegrid.TimeGridWarning` naming the object and
        the value in effect (once per object); with ``strict_time`` they are errors.
        Delays drawn from a distribution are rounded without a word, as in NEST, unless
        the distribution reaches below half a step (then they warn, or fail when strict).
    """

    def __init__(self, dt: float = 0.1, seed: int = 0, t_stop: float = 1000.0, strict_time: bool = False) -> None:
        self.dt = validate.positive("Network", "dt", dt, "ms")
        self.seed = validate.integer("Network", "seed", seed, minimum=0)
        if self.seed > 2**32 - 1:
            raise ValueError(f"Network: seed must be <= {2**32 - 1}, got {seed}")
        self.t_stop = validate.non_negative("Network", "t_stop", t_stop, "ms")
        self.strict_time = validate.boolean("Network", "strict_time", strict_time)
        self.populations: dict[str, Population] = {}
        self.projections: dict[str, Projection] = {}
        self.inputs: dict[str, PoissonInput] = {}
        self.currents: dict[str, currents.CurrentInput] = {}
        self.monitors: list[SpikeMonitor | StateMonitor | RateMonitor] = []

    # -- building ---------------------------------------------------------------------

    def add_population(self, name: str, size: int, model: str = "lif",
                       params: Mapping[str, Any] | None = None,
                       initial: Mapping[str, Any] | None = None,
                       rate_hz: float | None = None, positions: Any = None) -> Population:
        """``rate_hz``: the expected rate for the partitioner (Hz); ``positions``: a
        :mod:`distsnn.positions` layout (``Grid``, ``Random``, ``Free``) or its table,
        needed by spatial connectors."""
        owner = f"Population {name!r}"
        validate.name("Population", "name", name)
        if name in self.populations:
            raise ValueError(f"{owner}: name already used by another population")
        size = validate.integer(owner, "size", size, minimum=1)
        if not isinstance(model, str):
            raise ValueError(f"{owner}: model must be a model name (a string), got {model!r}")
        mod = models.get(owner, model)
        params = validate.optional_mapping(owner, "params", params)
        init = validate.optional_mapping(owner, "initial", initial)
        p = mod.params_from(owner, params, size, self.dt)
        for fld in getattr(mod, "DURATIONS", ()):
            v = getattr(p, fld)
            # Per-neuron durations: an array is checked value by value; draws of a
            # distribution round up like any other (nothing to check before drawing).
            if isinstance(v, ArrayValue):
                v = v.values
            if isinstance(v, (float, int, np.ndarray)):
                timegrid.check_grid(owner, fld, v, self.dt, self.strict_time, up=True)
        if isinstance(getattr(p, "schedule", None), RateSchedule):
            timegrid.check_grid(owner, "schedule.times", p.schedule.times, self.dt, self.strict_time)
        syn = [k for k in init if isinstance(k, str) and k.startswith(SYN_PREFIX)]
        if syn:
            raise ValueError(f"{owner}: initial.{syn[0]} names a projection; set a channel's initial "
                             f"value with Network.set_initial after adding the projection")
        validate.known_fields(f"{owner} initial", init, mod.INITIAL, "variable")
        parsed = {var: self._initial(owner, mod, size, var, spec) for var, spec in init.items()}
        if rate_hz is not None:
            rate_hz = validate.non_negative(owner, "rate_hz", rate_hz, "Hz")
        layout = None if positions is None else parse_positions(owner, positions, size)
        pop = Population(name, size, model, p, parsed, rate_hz, layout)
        self.populations[name] = pop
        return pop

    def set_initial(self, population: str, var: str, value: Any) -> None:
        """Initial value of ``var`` for every neuron of ``population`` (a number, an array
        over the population or a distribution): a model variable (``"V_m"``, ...) or
        ``"syn:<projection>"``, the state of the synapse channel that the projection feeds
        (current in pA, conductance in nS, >= 0; for a double exponential, the value
        starts its decay part), as NEST's ``I_syn_ex`` / ``g_ex`` initial values."""
        owner = f"Population {population!r}"
        pop = self._population("set_initial", population)
        mod = models.get(owner, pop.model)
        prefix = SYN_PREFIX
        if isinstance(var, str) and var.startswith(prefix):
            proj = self.projections.get(var[len(prefix):])
            if proj is None or proj.post != population:
                known = [f"{prefix}{p.name}" for p in self.projections.values() if p.post == population]
                raise ValueError(f"{owner}: initial.{var} must name a projection onto {population!r}; "
                                 f"known: {', '.join(known) or 'none'}")
            if proj.synapse.kind == "delta":
                raise ValueError(f"{owner}: initial.{var}: a delta synapse has no state to start")
            for other in pop.initial:
                if (other.startswith(prefix) and other != var
                        and self.projections[other[len(prefix):]].synapse == proj.synapse):
                    raise ValueError(f"{owner}: initial.{var} sets the channel that initial.{other} "
                                     f"already sets (same synapse type)")
            v = self._initial(owner, mod, pop.size, var, value)
            if proj.synapse.mode == "conductance" and v.bounds()[0] < 0:
                raise ValueError(f"{owner}: initial.{var} is a conductance and must be >= 0 nS, "
                                 f"got values down to {v.bounds()[0]!r}")
        else:
            validate.choice(f"{owner} initial", "variable", var, mod.INITIAL)
            v = self._initial(owner, mod, pop.size, var, value)
        self.populations[population] = replace(pop, initial={**pop.initial, var: v})

    def add_projection(self, pre: str, post: str, connector: Any, synapse: Any = "delta",
                       weight: Any = None, delay: Any = None, name: str | None = None) -> Projection:
        for role, pop in (("pre", pre), ("post", post)):
            if not isinstance(pop, str):
                raise ValueError(f"Projection{'' if name is None else f' {name!r}'}: {role} must be a "
                                 f"population name (a string), got {pop!r}")
        if name is None:
            name = f"{pre}_{post}"
            i = 2
            while name in self.projections:
                name, i = f"{pre}_{post}_{i}", i + 1
        owner = f"Projection {name!r}"
        validate.name("Projection", "name", name)
        if name in self.projections:
            raise ValueError(f"{owner}: name already used by another projection")
        for role, pop in (("pre", pre), ("post", post)):
            if pop not in self.populations:
                raise ValueError(f"{owner}: {role} population {pop!r} does not exist; known: "
                                 f"{', '.join(self.populations) or 'none'}")
        conn = connectors.parse(owner, connector)
        if isinstance(conn, spatial.Spatial):
            offsets = self.offsets()
            conn = conn.bind(self.populations[pre].positions, self.populations[post].positions, (pre, post),
                             self.seed, (offsets[pre], offsets[post]))
        n_pre, n_post = self.populations[pre].size, self.populations[post].size
        conn.check(owner, n_pre, n_post, pre == post)
        syn = synapses.parse(owner, synapse)
        synapses.check_accepts(owner, syn, models.get(owner, self.populations[post].model))
        w = self._value(owner, "weight", weight, conn, n_pre, n_post)
        # The smallest weight that can occur (from an edge list's column when w is None).
        if w is not None:
            low, high = w.bounds()
        elif isinstance(conn, connectors.StoredEdges):
            low, high = conn.bounds("weight")
        elif isinstance(conn, spatial.Spatial):
            low, high = conn.weight.bounds()
        else:
            low, high = float(np.min(conn.weight, initial=0.0)), float(np.max(conn.weight, initial=0.0))
        synapses.check_weight(owner, syn, low, high)
        d = self._value(owner, "delay", delay, conn, n_pre, n_post)
        self._check_delay(owner, d, conn)
        proj = Projection(name, pre, post, conn, syn, w, d)
        self.projections[name] = proj
        return proj

    def add_poisson_input(self, name: str, target: str, rate: float | None, weight: float,
                          synapse: Any = "delta", schedule: Any = None) -> PoissonInput:
        """An independent Poisson train into each neuron of ``target``: a constant ``rate``
        (Hz), or ``rate=None`` and a ``schedule`` ``{"times": [...], "rates": [...]}`` (ms,
        Hz; times ascending from 0)."""
        owner = f"PoissonInput {name!r}"
        validate.name("PoissonInput", "name", name)
        if name in self.inputs:
            raise ValueError(f"{owner}: name already used by another input")
        if not isinstance(target, str) or target not in self.populations:
            raise ValueError(f"{owner}: target population {target!r} does not exist")
        if (rate is None) == (schedule is None):
            raise ValueError(f"{owner}: give exactly one of rate (Hz) and schedule (times in ms, rates in Hz)")
        if schedule is not None:
            schedule = parse_schedule(owner, "schedule", schedule, self.dt)
            timegrid.check_grid(owner, "schedule.times", schedule.times, self.dt, self.strict_time)
            peak = max(schedule.rates)
        else:
            rate = peak = validate.non_negative(owner, "rate", rate, "Hz")
        lam = peak * self.dt * 1e-3
        if lam > 500.0:
            raise ValueError(f"{owner}: rate * dt must be <= 500 spikes per step, got {lam:g} "
                             f"(rate {peak:g} Hz at dt {self.dt:g} ms)")
        weight = validate.number(owner, "weight", weight)
        syn = synapses.parse(owner, synapse)
        synapses.check_accepts(owner, syn, models.get(owner, self.populations[target].model))
        synapses.check_weight(owner, syn, weight)
        inp = PoissonInput(name, target, rate, weight, syn, schedule)
        self.inputs[name] = inp
        return inp

    def add_current_input(self, name: str, target: str, kind: str = "dc", **spec: Any) -> currents.CurrentInput:
        """A current generator into ``target`` (NEST's dc, step current and noise generators).

        ``kind="dc"``: ``amplitude`` (pA); ``"step"``: ``times`` (ms) and ``amplitudes``
        (pA); ``"ac"``: ``amplitude``, ``offset`` (pA), ``frequency`` (Hz), ``phase``
        (degrees); ``"noise"``: ``mean``, ``std`` (pA) and ``dt_noise`` (ms, default ten steps
        as NEST's).
        Common: ``neurons`` (indices; default all), ``start``, ``stop``, ``delay`` (ms,
        default one step). Amplitudes, mean and std may give one value per neuron. See
        :mod:`distsnn.currents` for the timing rule.
        """
        owner = f"CurrentInput {name!r}"
        validate.name("CurrentInput", "name", name)
        if name in self.currents:
            raise ValueError(f"{owner}: name already used by another current input")
        pop = self._population(owner, target)
        mod = models.get(owner, pop.model)
        if not hasattr(mod, "with_current"):
            takers = [m for m, mm in models.MODELS.items() if hasattr(mm, "with_current")]
            raise ValueError(f"{owner}: model {pop.model!r} of population {target!r} takes no current input; "
                             f"models that do: {', '.join(takers)}")
        inp = currents.parse(owner, name, target, pop.size, kind, dict(spec), self.dt)
        self.currents[name] = inp
        return inp

    def add_spike_monitor(self, population: str, neurons: Any = None, start: float | None = None,
                          stop: float | None = None) -> SpikeMonitor:
        """Record spikes of ``population``: every neuron, or a list, ``range`` or
        ``{"fraction": f, "seed": s}`` of indices (:mod:`distsnn.selection`), stamped in
        ``(start, stop]`` ms. One spike monitor per population."""
        owner = f"SpikeMonitor on {population!r}"
        pop = self._population("SpikeMonitor", population)
        if any(isinstance(m, SpikeMonitor) and m.population == population for m in self.monitors):
            raise ValueError(f"{owner}: the population already has a spike monitor; give one monitor "
                             f"the neurons and window you need")
        sel = parse_selection(owner, neurons, pop.size)
        start, stop = self._window(owner, start, stop)
        mon = SpikeMonitor(population, sel, start, stop)
        self.monitors.append(mon)
        return mon

    def add_state_monitor(self, population: str, variables: Any, neurons: Any = None,
                          interval: float | None = None, start: float | None = None,
                          stop: float | None = None) -> StateMonitor:
        """Sample ``variables`` (ms ``interval``, default dt) of some neurons of ``population``
        (as :meth:`add_spike_monitor`) from ``start`` to ``stop`` ms. A variable already
        sampled on this population by another monitor is refused, so no trace hides another."""
        owner = f"StateMonitor on {population!r}"
        pop = self._population("StateMonitor", population)
        if not isinstance(variables, (str, list, tuple)):
            raise ValueError(f"{owner}: variables must be a variable name or a list of names, got {variables!r}")
        variables = (variables,) if isinstance(variables, str) else tuple(variables)
        rec = models.get(owner, pop.model).RECORDABLE
        if not rec:
            raise ValueError(f"{owner}: model {pop.model!r} has no state to record (it is a spike source); "
                             f"use a spike monitor")
        for v in variables:
            m = CHANNEL_VARIABLE.match(v) if isinstance(v, str) else None
            if m is None or m.group(1) not in rec:
                validate.choice(owner, "variables", v, rec)
        if not variables:
            raise ValueError(f"{owner}: variables must name at least one of {', '.join(rec)}")
        if len(set(variables)) != len(variables):
            raise ValueError(f"{owner}: variables must not repeat, got {list(variables)}")
        for other in self.monitors:
            if isinstance(other, StateMonitor) and other.population == population:
                both = sorted(set(other.variables) & set(variables))
                if both:
                    raise ValueError(f"{owner}: variable {both[0]!r} is already sampled by another state "
                                     f"monitor of this population; one monitor per (population, variable)")
        sel = parse_selection(owner, neurons, pop.size)
        interval = self.dt if interval is None else validate.positive(owner, "interval", interval, "ms")
        k = interval / self.dt
        if abs(k - round(k)) > 1e-9 * max(k, 1.0) or round(k) < 1:
            raise ValueError(f"{owner}: interval must be a whole number of steps of {self.dt} ms, got {interval}")
        start, stop = self._window(owner, start, stop)
        mon = StateMonitor(population, variables, sel, float(interval), start, stop)
        self.monitors.append(mon)
        return mon

    def add_rate_monitor(self, population: str, bin: float) -> RateMonitor:
        """Count the spikes of all of ``population`` in bins of ``bin`` ms (a whole number of
        steps); cheap: one integer per bin and population."""
        owner = f"RateMonitor on {population!r}"
        self._population("RateMonitor", population)
        if any(isinstance(m, RateMonitor) and m.population == population for m in self.monitors):
            raise ValueError(f"{owner}: the population already has a rate monitor")
        b = validate.positive(owner, "bin", bin, "ms")
        k = b / self.dt
        if abs(k - round(k)) > 1e-9 * max(k, 1.0) or round(k) < 1:
            raise ValueError(f"{owner}: bin must be a whole number of steps of {self.dt} ms, got {bin}")
        mon = RateMonitor(population, float(b))
        self.monitors.append(mon)
        return mon

    # -- queries ----------------------------------------------------------------------

    @property
    def size(self) -> int:
        return sum(p.size for p in self.populations.values())

    def offsets(self) -> dict[str, int]:
        """First gid of each population."""
        out, acc = {}, 0
        for name, pop in self.populations.items():
            out[name], acc = acc, acc + pop.size
        return out

    def channels(self, population: str) -> tuple[synapses.SynapseType, ...]:
        """The distinct synapse types reaching a population, in a canonical (sorted) order."""
        kinds = {p.synapse for p in self.projections.values() if p.post == population}
        kinds |= {i.synapse for i in self.inputs.values() if i.target == population}
        return tuple(sorted(kinds, key=synapses.SynapseType.sort_key))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Network):
            return NotImplemented
        return (self.dt, self.seed, self.t_stop, self.strict_time, self.populations, self.projections,
                self.inputs, self.currents, self.monitors) == (other.dt, other.seed, other.t_stop,
                                                               other.strict_time, other.populations,
                                                               other.projections, other.inputs, other.currents,
                                                               other.monitors)

    __hash__ = None

    def __repr__(self) -> str:
        return (f"Network({len(self.populations)} populations, {self.size} neurons, "
                f"{len(self.projections)} projections, dt={self.dt} ms)")

    # -- helpers ----------------------------------------------------------------------

    def _window(self, owner: str, start: Any, stop: Any) -> tuple[float | None, float | None]:
        """A monitor's ``start`` / ``stop`` (ms), on the dt grid like every duration."""
        if start is not None:
            start = validate.non_negative(owner, "start", start, "ms")
            timegrid.check_grid(owner, "start", start, self.dt, self.strict_time)
        if stop is not None:
            stop = validate.non_negative(owner, "stop", stop, "ms")
            timegrid.check_grid(owner, "stop", stop, self.dt, self.strict_time)
        if start is not None and stop is not None and not stop > start:
            raise ValueError(f"{owner}: stop must be > start = {start} ms, got {stop}")
        return start, stop

    def _population(self, owner: str, name: str) -> Population:
        if not isinstance(name, str) or name not in self.populations:
            raise ValueError(f"{owner}: population {name!r} does not exist; known: "
                             f"{', '.join(self.populations) or 'none'}")
        return self.populations[name]

    @staticmethod
    def _initial(owner: str, mod: Any, size: int, var: str, spec: Any) -> Value:
        v = distributions.parse(owner, f"initial.{var}", spec)
        if isinstance(v, ArrayValue) and v.values.shape != (size,):
            raise ValueError(f"{owner}: initial.{var} array must have shape ({size},), "
                             f"got {v.values.shape}")
        lo, hi = getattr(mod, "INITIAL_BOUNDS", {}).get(var, (-np.inf, np.inf))
        v_lo, v_hi = v.bounds()
        if v_lo < lo:
            raise ValueError(f"{owner}: initial.{var} must be >= {lo}, got values down to {v_lo!r}")
        if v_hi > hi:
            raise ValueError(f"{owner}: initial.{var} must be <= {hi}, got values up to {v_hi!r}")
        return v

    @staticmethod
    def _value(owner: str, what: str, spec: Any, conn: Any, n_pre: int, n_post: int) -> Value | None:
        if isinstance(conn, connectors.StoredEdges):
            column = conn.columns if what in conn.columns else None
        else:
            column = getattr(conn, what, None) if isinstance(conn, (connectors.EdgeList, spatial.Spatial)) else None
        if spec is None:
            if column is None:
                raise ValueError(f"{owner}: {what} is required (the connector gives no {what} column)")
            return None
        if column is not None:
            raise ValueError(f"{owner}: {what} is given twice, by the projection and by the edge list")
        v = distributions.parse(owner, what, spec)
        if isinstance(v, ArrayValue):
            shapes = {"all_to_all": (n_pre, n_post), "one_to_one": (n_post,)}
            if isinstance(conn, connectors.EdgeList):
                shapes["edge_list"] = (np.asarray(conn.pre).size,)
            if conn.rule not in shapes:
                raise ValueError(f"{owner}: {what} as an array needs an all_to_all, one_to_one or "
                                 f"edge_list connector, got {conn.rule!r}")
            if v.values.shape != shapes[conn.rule]:
                raise ValueError(f"{owner}: {what} array must have shape {shapes[conn.rule]} for "
                                 f"{conn.rule}, got {v.values.shape}")
        return v

    def _check_delay_steps(self, owner: str, high: float) -> None:
        # Synapse delays are int32 steps; beyond, the conversion to steps would wrap around.
        limit = 2 ** 31 - 1
        if high / self.dt >= limit:
            raise ValueError(f"{owner}: delay must be < {limit} steps ({limit * self.dt:g} ms at dt = {self.dt:g} ms), "
                             f"got {high!r} ms")

    def _check_delay(self, owner: str, d: Value | None, conn: Any) -> None:
        """Delays must be > 0 ms; given values off the grid or below one step are rounded
        with a warning (errors when strict); drawn ones (and a spatial rule's distance
        delays) warn only if they can fall below half a step (after rounding, every delay is
        at least one step). Stored edges are checked by their bounds here and value by
        value when they are read."""
        if d is None and isinstance(conn, connectors.StoredEdges):
            lo = conn.bounds("delay")[0]
            if not lo > 0.0:
                raise ValueError(f"{owner}: delay must be > 0 ms, got values down to {lo!r}")
            return
        if d is None and isinstance(conn, spatial.Spatial):
            lo = conn.min_delay()
            self._check_delay_steps(owner, conn.max_delay())
        elif d is None or isinstance(d, (distributions.Constant, ArrayValue)):
            values = np.asarray(conn.delay if d is None else (d.value if isinstance(d, distributions.Constant)
                                                              else d.values), dtype=np.float64).ravel()
            bad = np.flatnonzero(~(values > 0.0))
            if bad.size:
                raise ValueError(f"{owner}: delay must be > 0 ms, got {float(values[bad[0]])!r}")
            self._check_delay_steps(owner, float(values.max(initial=0.0)))
            timegrid.check_grid(owner, "delay", values, self.dt, self.strict_time, min_steps=1)
            return
        else:
            lo = d.bounds()[0]
            if math.isfinite(d.bounds()[1]):
                self._check_delay_steps(owner, d.bounds()[1])
        if not lo >= 0.0:
            raise ValueError(f"{owner}: delay distribution must not reach below 0 ms (give low >= 0), "
                             f"got values down to {lo!r}")
        if int(timegrid.to_steps(lo, self.dt)) < 1:
            what = (f"{owner}: delay draws can fall below half a step ({0.5 * self.dt:g} ms; the "
                    f"distribution reaches down to {lo:g} ms)")
            if self.strict_time:
                raise ValueError(f"{what}; strict_time is set, so give low >= {0.5 * self.dt:g} ms")
            warnings.warn(f"{what}: those draws take effect as one step ({self.dt:g} ms)",
                          timegrid.TimeGridWarning, stacklevel=3)
