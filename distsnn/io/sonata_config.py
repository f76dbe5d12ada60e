"""SONATA configuration files: ``$VAR`` manifests, paths, whitespace-separated type
tables and node sets, read as NEST's ``SonataNetwork`` reads them. Errors name the file,
the field and the value (:func:`fail`)."""

from __future__ import annotations

import json
import os
import re
from typing import Any, Mapping

import numpy as np


def fail(path: str, fld: str, value: Any, why: str) -> ValueError:
    return ValueError(f"SONATA {path}: {fld} = {value!r}: {why}")


def read_json(path: str, what: str) -> dict:
    if not os.path.isfile(path):
        raise ValueError(f"SONATA: {what} {path!r} does not exist")
    with open(path) as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as e:
            raise ValueError(f"SONATA {path}: not valid JSON ({e})") from None


_PATH_KEYS = ("nodes_file", "node_types_file", "edges_file", "edge_types_file", "input_file", "node_sets_file",
              "network", "output_dir", "point_neuron_models_dir", "synaptic_models_dir")


def substitute(conf: dict, path: str) -> dict:
    """``$VAR`` manifest substitution (nested); manifest values and the path fields
    (:data:`_PATH_KEYS`) are relative to the directory of the file ``path``."""
    base = os.path.dirname(os.path.abspath(path))
    manifest = dict(conf.get("manifest", {}))

    def absolute(s: str) -> str:
        return s if os.path.isabs(s) else os.path.normpath(os.path.join(base, s))

    def expand(s: str, depth: int = 0) -> str:
        if depth > 20:
            raise fail(path, "manifest", s, "manifest variables refer to each other in a cycle")
        for var in sorted(set(re.findall(r"\$\w+", s)), key=len, reverse=True):
            if var in manifest:
                val = absolute(expand(str(manifest[var]), depth + 1))
            elif var == "$BASE_DIR":
                val = base
            else:
                raise fail(path, "manifest", var, "variable is used but not defined in the manifest")
            s = s.replace(var, val)
        return s

    def walk(o: Any, key: str = "") -> Any:
        if isinstance(o, dict):
            return {k: walk(v, k) for k, v in o.items() if k != "manifest"}
        if isinstance(o, list):
            return [walk(v, key) for v in o]
        if isinstance(o, str):
            s = expand(o)
            return absolute(s) if key in _PATH_KEYS else s
        return o

    return walk(conf)


def read_csv(path: str) -> list[dict[str, str]]:
    if not os.path.isfile(path):
        raise ValueError(f"SONATA: types file {path!r} does not exist")
    with open(path) as fh:
        rows = [ln.split() for ln in fh if ln.strip()]
    if not rows:
        raise fail(path, "header", "", "the types file is empty")
    head = rows[0]
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(head):
            raise fail(path, f"line {i}", " ".join(r), f"has {len(r)} columns, the header {len(head)}")
    return [dict(zip(head, r)) for r in rows[1:]]


def number(path: str, fld: str, v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise fail(path, fld, v, "must be a number") from None
    return x


def node_set(spec: Any, sets: Mapping[str, Any], pops: Mapping[str, dict], where: str,
              depth: int = 0) -> dict[str, np.ndarray]:
    """Node ids per SONATA population selected by a node set (a name, a rule table or a
    list of either, which unites them)."""
    if depth > 20:
        raise fail(where, "node_sets", spec, "node sets refer to each other in a cycle")
    if isinstance(spec, str):
        if spec in sets:
            return node_set(sets[spec], sets, pops, where, depth + 1)
        if spec in pops:
            return {spec: np.arange(pops[spec]["size"])}
        raise fail(where, "node_set", spec, f"is neither a node set ({', '.join(sets) or 'none'}) nor a population")
    if isinstance(spec, list):
        out: dict[str, np.ndarray] = {}
        for s in spec:
            for p, ids in node_set(s, sets, pops, where, depth + 1).items():
                out[p] = np.union1d(out.get(p, np.zeros(0, np.int64)), ids)
        return out
    if not isinstance(spec, dict):
        raise fail(where, "node_set", spec, "must be a name, a table of rules or a list")
    chosen = [spec["population"]] if "population" in spec else list(pops)
    out = {}
    for p in chosen:
        if p not in pops:
            raise fail(where, "population", p, f"is not a node population ({', '.join(pops)})")
        info = pops[p]
        keep = np.ones(info["size"], dtype=bool)
        for k, v in spec.items():
            vals = v if isinstance(v, list) else [v]
            if k == "population":
                continue
            if k == "node_id":
                ids = np.asarray(vals, dtype=np.int64)
                if ids.size and (ids.min() < 0 or ids.max() >= info["size"]):
                    raise fail(where, "node_id", int(ids.max()), f"is not a node of {p!r} (0..{info['size'] - 1})")
                sel = np.zeros(info["size"], dtype=bool)
                sel[ids] = True
            elif k == "node_type_id":
                sel = np.isin(info["type_ids"], np.asarray(vals, dtype=np.int64))
            else:
                ok = [t for t, row in info["types"].items() if k in row and row[k] in [str(x) for x in vals]]
                if not any(k in row for row in info["types"].values()):
                    raise fail(where, "node_set rule", k, f"is not a node-type column of population {p!r}")
                sel = np.isin(info["type_ids"], ok)
            keep &= sel
        out[p] = np.flatnonzero(keep)
    return out


def load_conf(config: str) -> dict:
    conf = substitute(read_json(config, "config"), config)
    if "network" in conf and "networks" not in conf:
        circuit = substitute(read_json(conf["network"], "network (circuit config)"), conf["network"])
        conf = {**circuit, **conf}
    sim = conf.get("target_simulator")
    if sim not in (None, "NEST"):
        raise fail(config, "target_simulator", sim, "distsnn follows NEST's semantics: 'NEST' expected")
    return conf
