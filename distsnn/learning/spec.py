"""Training tasks in TOML: a network (:mod:`distsnn.config`) plus a ``[training]`` table.

::

    [training]
    plastic = ["in_rec", "rec_rec", "rec_out"]   # projections to train
    iterations = 200                             # update intervals
    target = "target.npy"                        # (readouts, T), (T,) or (trials, readouts, T; .npy):
                                                 # .npy, .csv, .txt or inline; NaN = no target
    feedback = { rec = "B.npy" }                 # (population size, readouts) per recurrent population
    optimizer = { type = "adam", eta = 0.005, Wmin = -100.0, Wmax = 100.0, batch_size = 1 }
    reset = true                                 # reset neurons at each interval (NEST's default)
    loss = "mean_squared_error"                  # or "cross_entropy" (targets: probabilities)
    mode = "interval"                            # or "online": NEST's eprop_synapse, an update per
                                                 # presynaptic spike (distsnn.learning.online)
    isi_trace_cutoff = 100.0                     # online: ms, or { rec = 100.0 } per target population
    flush_interval = { in = 1000.0 }             # online: ms per source population (flush events)

``reset`` defaults to true in the interval mode; the online mode never resets (NEST's
online neurons have no reset), so there it must be false or absent. Arrays are files
(relative to the TOML file) or inline lists of numbers. ``distsnn
train TASK.toml`` runs it (:func:`distsnn.learning.train`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .. import config, validate
from .losses import LOSSES
from ..network import Network

_FIELDS = ("plastic", "iterations", "target", "feedback", "optimizer", "reset", "loss", "mode", "isi_trace_cutoff",
           "flush_interval")
#: The gradient modes: an update per interval (:mod:`distsnn.learning.trainer`) or per
#: presynaptic spike (:mod:`distsnn.learning.online`).
MODES = ("interval", "online")


@dataclass
class TrainingSpec:
    plastic: list[str]
    iterations: int
    target: np.ndarray
    feedback: dict[str, np.ndarray]
    optimizer: dict[str, Any]
    reset: bool
    loss: str = "mean_squared_error"
    mode: str = "interval"
    isi_trace_cutoff: Any = None
    flush_interval: dict[str, float] = field(default_factory=dict)

    def trainer_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`distsnn.learning.make_trainer` besides the
        simulation, ``plastic`` and ``target``."""
        out: dict[str, Any] = dict(feedback=self.feedback, optimizer=self.optimizer, loss=self.loss, mode=self.mode)
        if self.mode == "online":
            out.update(isi_trace_cutoff=self.isi_trace_cutoff, flush_interval=self.flush_interval)
        else:
            out["reset"] = self.reset
        return out


def _array(owner: str, field: str, value: Any, base: str) -> np.ndarray:
    if isinstance(value, str):
        path = value if os.path.isabs(value) else os.path.join(base, value)
        validate.existing_file(owner, field, path)
        ext = os.path.splitext(path)[1].lower()
        try:
            if ext == ".npy":
                data = np.load(path, allow_pickle=False)
            elif ext in (".csv", ".txt"):
                data = np.loadtxt(path, delimiter="," if ext == ".csv" else None, ndmin=1)
            else:
                raise ValueError(f"{owner}: {field} file must be .npy, .csv or .txt, got {value!r}")
        except (OSError, ValueError) as e:
            if str(e).startswith(owner):
                raise
            raise ValueError(f"{owner}: {field} file {value!r} cannot be read: {e}") from None
        return validate.finite_array(owner, field, data)
    return validate.finite_array(owner, field, value)


def load_task(path: str, max_memory: int | str | None = "available") -> tuple[Network, TrainingSpec]:
    """The network and the ``[training]`` table of a task file, checked."""
    owner = f"Task {path!r}"
    validate.existing_file("Task", "path", path)
    with open(path, "rb") as f:
        try:
            doc = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{owner}: not valid TOML: {e}") from None
    if "training" not in doc:
        raise ValueError(f"{owner}: a [training] table is required (plastic, iterations, target, ...)")
    t = validate.mapping(owner, "training", doc.pop("training"))
    base = os.path.dirname(os.path.abspath(path))
    where = f"{owner} [training]"
    validate.known_fields(where, t, _FIELDS)
    for req in ("plastic", "iterations", "target"):
        if req not in t:
            raise ValueError(f"{where}: {req} is required")
    plastic = t["plastic"]
    if not isinstance(plastic, list) or not plastic or not all(isinstance(p, str) for p in plastic):
        raise ValueError(f"{where}: plastic must be a non-empty list of projection names, got {plastic!r}")
    mode = validate.choice(where, "mode", t.get("mode", "interval"), MODES)
    if mode == "online":
        if validate.boolean(where, "reset", t.get("reset", False)):
            raise ValueError(f"{where}: reset must be false with mode = 'online' (NEST's online e-prop neurons "
                             f"are never reset), got true")
    else:
        for k in ("isi_trace_cutoff", "flush_interval"):
            if k in t:
                raise ValueError(f"{where}: {k} applies to mode = 'online' only, got mode = {mode!r}")
    cutoff = t.get("isi_trace_cutoff")
    if isinstance(cutoff, Mapping):
        cutoff = {k: validate.positive(where, f"isi_trace_cutoff.{k}", v, "ms") for k, v in cutoff.items()}
    elif cutoff is not None:
        cutoff = validate.positive(where, "isi_trace_cutoff", cutoff, "ms")
    flush = {k: validate.positive(where, f"flush_interval.{k}", v, "ms")
             for k, v in validate.optional_mapping(where, "flush_interval", t.get("flush_interval")).items()}
    spec = TrainingSpec(
        plastic=plastic, iterations=validate.integer(where, "iterations", t["iterations"], minimum=1),
        target=_array(where, "target", t["target"], base),
        feedback={k: _array(where, f"feedback.{k}", v, base)
                  for k, v in validate.optional_mapping(where, "feedback", t.get("feedback")).items()},
        optimizer=dict(validate.optional_mapping(where, "optimizer", t.get("optimizer"))),
        reset=validate.boolean(where, "reset", t.get("reset", mode == "interval")),
        loss=validate.choice(where, "loss", t.get("loss", "mean_squared_error"), LOSSES),
        mode=mode, isi_trace_cutoff=cutoff, flush_interval=flush)
    net = config.from_dict(doc, base_dir=base, max_memory=max_memory)
    return net, spec
