"""Every input a user can write ends in one clear line, never a traceback; bounded memory.

Classes (each with its siblings): TOML table fields given as numbers, lists, strings or
booleans; files that are missing, directories, empty, not UTF-8 (TOML and CSV), corrupt
(NPZ, HDF5), with wrong columns, types, NaN or out-of-range ids; networks too large for
the machine, refused from the estimate before anything is allocated; loud acceptance
(a missing [simulation], a header-only edge list); MPI: an input error printed once, and a
build-time error on one rank only ending the Python API's job instead of hanging it.
"""

from __future__ import annotations

import os
import re
import time
import tracemalloc
import warnings
import zipfile

import h5py
import numpy as np
import pytest

import distsnn as ds
from distsnn import cli, config, memory, placement, resources
from distsnn.validate import InputWarning

from .mpi.launch import mpirun, needs_mpi

HEAD = '[simulation]\ndt = 0.1\nt_stop = 10.0\nseed = 1\n'
POP = '[[population]]\nname = "a"\nsize = 5\n'
PROJ = ('[[projection]]\nname = "p"\npre = "a"\npost = "a"\nconnector = {connector}\nsynapse = {synapse}\n'
        'weight = {weight}\ndelay = {delay}\n')
INPUT = '[[poisson_input]]\nname = "d"\ntarget = "a"\n{rate}\nweight = 1.0\nsynapse = {synapse}\n'


def proj(connector='{ rule = "all_to_all" }', synapse='"delta"', weight="1.0", delay="1.0") -> str:
    return HEAD + POP + PROJ.format(connector=connector, synapse=synapse, weight=weight, delay=delay)


def pop(extra: str) -> str:
    return HEAD + POP + extra + "\n"


def mon(body: str) -> str:
    return HEAD + POP + "[[monitor]]\n" + body + "\n"


P = re.escape("Population 'a'")
J = re.escape("Projection 'p'")
D = re.escape("PoissonInput 'd'")

TABLE_FIELDS = [
    ("params as number", pop("params = 5"), P + r": params must be a table of key = value, got 5"),
    ("params as list", pop("params = [1, 2]"), P + r": params must be a table of key = value, got \[1, 2\]"),
    ("params as string", pop('params = "RS"'), P + r": params must be a table of key = value, got 'RS'"),
    ("params as boolean", pop("params = true"), P + r": params must be a table of key = value, got True"),
    ("initial as number", pop("initial = 5"), P + r": initial must be a table of key = value, got 5"),
    ("initial as list", pop("initial = [1, 2]"), P + r": initial must be a table of key = value, got \[1, 2\]"),
    ("model as list", pop('model = ["lif"]'), P + r": model must be a model name \(a string\), got \['lif'\]"),
    ("initial value table without dist", pop("initial = { V_m = { low = 1.0 } }"),
     P + r": initial\.V_m\.dist must be one of 'uniform', 'normal', 'lognormal', got None"),
    ("connector as number", proj(connector="5"), J + r": connector must be a table of key = value, got 5"),
    ("connector as list", proj(connector="[1, 2]"), J + r": connector must be a table of key = value, got \[1, 2\]"),
    ("synapse as number", proj(synapse="5"), J + r": synapse must be a table of key = value, got 5"),
    ("synapse as list", proj(synapse="[1, 2]"), J + r": synapse must be a table of key = value, got \[1, 2\]"),
    ("weight distribution field as list", proj(weight='{ dist = "uniform", low = [1, 2], high = 3.0 }'),
     J + r": weight\.low must be a number, got \[1, 2\]"),
    ("weight dist as number", proj(weight="{ dist = 5 }"),
     J + r": weight\.dist must be one of 'uniform', 'normal', 'lognormal', got 5"),
    ("delay distribution field as table", proj(delay='{ dist = "uniform", low = { x = 1 }, high = 3.0 }'),
     J + r": delay\.low must be a number, got \{'x': 1\}"),
    ("edge-list file as number", proj(connector='{ rule = "edge_list", file = 5 }'),
     J + r": connector\.file must be a file path \(a string\), got 5"),
    ("pre as list", HEAD + POP + '[[projection]]\nname = "p"\npre = ["a"]\npost = "a"\n'
     'connector = { rule = "all_to_all" }\nweight = 1.0\ndelay = 1.0\n',
     J + r": pre must be a population name \(a string\), got \['a'\]"),
    ("input synapse as number", HEAD + POP + INPUT.format(rate="rate = 10.0", synapse="5"),
     D + r": synapse must be a table of key = value, got 5"),
    ("input schedule as number", HEAD + POP + INPUT.format(rate="schedule = 5", synapse='"delta"'),
     D + r": schedule must be a table of key = value, got 5"),
    ("input schedule as list", HEAD + POP + INPUT.format(rate="schedule = [0.0, 10.0]", synapse='"delta"'),
     D + r": schedule must be a table of key = value, got \[0\.0, 10\.0\]"),
    ("input target as list", HEAD + POP + INPUT.format(rate="rate = 1.0", synapse='"delta"').replace(
        'target = "a"', 'target = ["a"]'), D + r": target population \['a'\] does not exist"),
    ("monitor variables as number", mon('kind = "state"\npopulation = "a"\nvariables = 5'),
     re.escape("StateMonitor on 'a'") + r": variables must be a variable name or a list of names, got 5"),
    ("monitor population as list", mon('kind = "spikes"\npopulation = ["a"]'),
     r"SpikeMonitor: population \['a'\] does not exist; known: a"),
    ("monitor population as table", mon('kind = "state"\npopulation = { x = 1 }\nvariables = ["V_m"]'),
     r"StateMonitor: population \{'x': 1\} does not exist; known: a"),
    ("simulation as number", "simulation = 5\n" + POP,
     r"Config: \[simulation\] must be a table of key = value, got 5"),
    ("population as table", '[population]\nname = "a"\nsize = 5\n',
     r"Config: \[\[population\]\] must be an array of tables, got \{'name': 'a', 'size': 5\}"),
]


@pytest.mark.parametrize("text,pattern", [c[1:] for c in TABLE_FIELDS], ids=[c[0] for c in TABLE_FIELDS])
def test_table_field_of_the_wrong_type_is_a_clear_error(text, pattern):
    with pytest.raises(ValueError, match="^" + pattern + "$"):
        config.loads(text)


SWEEP = {
    "simulation": {"dt": 0.1, "t_stop": 2.0, "seed": 3},
    "population": [
        {"name": "a", "size": 6, "model": "lif", "params": {"tau_m": 10.0, "t_ref": 1.0},
         "initial": {"V_m": {"dist": "uniform", "low": -70.0, "high": -60.0}}},
        {"name": "g", "size": 3, "model": "poisson",
         "params": {"schedule": {"times": [0.0, 1.0], "rates": [100.0, 0.0]}}},
        {"name": "s", "size": 2, "model": "spike_train", "params": {"times": [[0.5], [1.0, 1.5]]}},
    ],
    "projection": [
        {"name": "ga", "pre": "g", "post": "a", "connector": {"rule": "fixed_indegree", "indegree": 2},
         "synapse": {"kind": "exp", "tau": 2.0}, "weight": {"dist": "normal", "mean": 5.0, "std": 1.0},
         "delay": {"dist": "uniform", "low": 0.5, "high": 1.5}},
        {"name": "sa", "pre": "s", "post": "a", "connector": {"rule": "edge_list", "pre": [0, 1], "post": [2, 3]},
         "weight": 3.0, "delay": 0.2},
    ],
    "poisson_input": [{"name": "d", "target": "a", "schedule": {"times": [0.0], "rates": [500.0]},
                       "weight": 2.0, "synapse": "delta"}],
    "monitor": [{"kind": "spikes", "population": "a"},
                {"kind": "state", "population": "a", "variables": ["V_m"], "neurons": [0, 1], "interval": 0.2}],
}
WRONG = [5, -1, 1e300, float("nan"), "x", [1, 2], [], {}, {"a": 1}, True, "<delete>"]


def _paths(x, pre=()):
    items = x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, list) else ()
    for k, v in items:
        yield pre + (k,)
        yield from _paths(v, pre + (k,))


def test_every_field_set_to_every_wrong_kind_of_value_is_a_value_error_or_runs():
    """A sweep over all fields of a network using each section, each replaced by numbers,
    strings, lists, tables and booleans, or removed: a ValueError or a valid run, never
    another exception (what a traceback would show)."""
    import copy

    config.from_dict(SWEEP)          # the unmodified network is valid
    ds.Simulation(config.from_dict(SWEEP)).run()
    outcomes = {"ValueError": 0, "ran": 0}
    for path in _paths(SWEEP):
        for value in WRONG:
            doc = copy.deepcopy(SWEEP)
            node = doc
            for k in path[:-1]:
                node = node[k]
            if value == "<delete>":
                del node[path[-1]]
            else:
                node[path[-1]] = value
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", InputWarning)
                    net = config.from_dict(doc)
                ds.Simulation(net).run(min(net.t_stop, 1.0))
                outcomes["ran"] += 1
            except ValueError:
                outcomes["ValueError"] += 1
            except Exception as e:     # noqa: BLE001 - the point of the test
                pytest.fail(f"{path} = {value!r}: {type(e).__name__}: {e}")
    assert outcomes["ValueError"] > 500 and outcomes["ran"] > 20, outcomes


@pytest.mark.parametrize("delay,shown", [(1e300, "1e+300"), ([1.0, 2.5e8], "250000000.0"),
                                         ({"dist": "uniform", "low": 1.0, "high": 1e12}, "1000000000000.0")])
def test_delays_beyond_the_int32_steps_of_the_synapse_table_are_refused_when_added(delay, shown):
    """Before, a constant 1e300 ms wrapped around in the conversion to steps and took effect
    as one step."""
    net = ds.Network()
    net.add_population("a", 2)
    with pytest.raises(ValueError, match=rf"^Projection 'a_a': delay must be < 2147483647 steps \(2\.14748e\+08 ms "
                                         rf"at dt = 0\.1 ms\), got {re.escape(shown)} ms$"):
        net.add_projection("a", "a", ds.OneToOne(), weight=1.0, delay=delay)
    net.add_projection("a", "a", ds.OneToOne(), weight=1.0, delay=2.0e8)    # 2e9 steps fit


def test_python_api_rejects_the_same_mistakes():
    net = ds.Network()
    for bad, pattern in [
        (lambda: net.add_population("a", 5, params=5), r"Population 'a': params must be a table"),
        (lambda: net.add_population("a", 5, initial=[1.0, 2.0]), r"Population 'a': initial must be a table"),
        (lambda: net.add_population("a", 5, model=None), r"Population 'a': model must be a model name"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            bad()
    assert not net.populations


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``distsnn`` in this process (no MPI): exit code, stdout, stderr."""
    rc = cli.main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_error_line(rc: int, err: str, pattern: str) -> None:
    assert rc == 2
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("distsnn: error")]
    assert len(lines) == 1, err
    assert re.fullmatch(r"distsnn: error: " + pattern, lines[0]), lines[0]


@pytest.mark.parametrize("case", ["params = 5", "params = [1, 2]", "initial = 5"])
def test_cli_prints_one_line_and_writes_nothing(tmp_path, capsys, case):
    path = tmp_path / "net.toml"
    path.write_text(pop(case))
    out = tmp_path / "out"
    rc, _, err = run_cli(capsys, "run", str(path), "--out", str(out))
    field = case.split(" =")[0]
    assert_one_error_line(rc, err, P + f": {field} must be a table of key = value, got .*")
    assert not out.exists()


# -- files -------------------------------------------------------------------------------------


def toml_file_cases(tmp_path):
    good = HEAD + POP
    (tmp_path / "folder.toml").mkdir()
    cases = {
        "missing": (tmp_path / "missing.toml", None, r"Config: file '.*missing\.toml' does not exist"),
        "directory": (tmp_path / "folder.toml", None, r"Config: file '.*folder\.toml' is a directory, not a file"),
        "empty": (tmp_path / "empty.toml", b"",
                  r"Config '.*empty\.toml': the file is empty; a network needs at least one \[\[population\]\]"),
        "blank": (tmp_path / "blank.toml", b"\n  \n\t\n",
                  r"Config '.*blank\.toml': the file is empty; a network needs at least one \[\[population\]\]"),
        "comments only": (tmp_path / "comments.toml", b"# nothing here\n",
                          r"Config '.*comments\.toml': no \[\[population\]\] given; a network needs at least one"),
        "no population": (tmp_path / "nopop.toml", HEAD.encode(),
                          r"Config '.*nopop\.toml': no \[\[population\]\] given; a network needs at least one"),
        "UTF-16": (tmp_path / "utf16.toml", good.encode("utf-16"),
                   r"Config '.*utf16\.toml': the file is UTF-16 or UTF-32 text; TOML files must be UTF-8"),
        "UTF-16 big-endian": (tmp_path / "utf16be.toml", b"\xfe\xff" + good.encode("utf-16-be"),
                              r"Config '.*utf16be\.toml': the file is UTF-16 or UTF-32 text; TOML files must be UTF-8"),
        "Latin-1": (tmp_path / "latin1.toml", (good + '# caf\xe9\n').encode("latin-1"),
                    r"Config '.*latin1\.toml': the file is not UTF-8 text \(byte 0xe9 on line 8\); "
                    r"TOML files must be UTF-8"),
    }
    for path, data, _ in cases.values():
        if data is not None:
            path.write_bytes(data)
    return cases


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "blank", "comments only", "no population",
                                  "UTF-16", "UTF-16 big-endian", "Latin-1"])
def test_bad_toml_file_names_the_file(tmp_path, capsys, case):
    path, _, pattern = toml_file_cases(tmp_path)[case]
    with pytest.raises(ValueError, match="^" + pattern + "$"):
        config.load(str(path))
    out = tmp_path / "out"
    rc, _, err = run_cli(capsys, "run", str(path), "--out", str(out))
    assert_one_error_line(rc, err, pattern)
    assert not out.exists()


def test_utf8_with_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (HEAD + POP).encode())
    assert config.load(str(path)).populations["a"].size == 5
    edges = tmp_path / "bom.csv"
    edges.write_bytes(b"\xef\xbb\xbfpre,post\n0,1\n")
    assert ds.EdgeList.from_file(str(edges)).pre.tolist() == [0.0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_files(tmp_path):
    path = tmp_path / "secret.toml"
    path.write_text(HEAD + POP)
    path.chmod(0)
    with pytest.raises(ValueError, match=r"^Config '.*secret\.toml': cannot be read: Permission denied$"):
        config.load(str(path))
    edges = tmp_path / "secret.csv"
    edges.write_text("pre,post\n0,1\n")
    edges.chmod(0)
    with pytest.raises(ValueError, match=r"^EdgeList: connector\.file '.*secret\.csv' cannot be read: "
                                         r"Permission denied$"):
        ds.EdgeList.from_file(str(edges))


@pytest.mark.skipif(not os.path.isfile("/proc/self/mem"), reason="needs Linux's /proc/self/mem")
def test_files_whose_reading_fails(tmp_path):
    """A file that opens but cannot be read (here /proc/self/mem, whose first page is
    unmapped: EIO, for root too)."""
    for name in ("net.toml", "edges.csv", "edges.npz", "edges.h5"):
        os.symlink("/proc/self/mem", tmp_path / name)
    with pytest.raises(ValueError, match=r"^Config '.*net\.toml': cannot be read: Input/output error$"):
        config.load(str(tmp_path / "net.toml"))
    with pytest.raises(ValueError, match=r"^EdgeList: connector\.file '.*edges\.csv' cannot be read: "
                                         r"Input/output error$"):
        ds.EdgeList.from_file(str(tmp_path / "edges.csv"))
    for name in ("edges.npz", "edges.h5"):
        with pytest.raises(ValueError, match=rf"^EdgeList: connector\.file '.*{name}' (cannot be read|is not a "
                                             rf"valid (NPZ|HDF5) file)") as e:
            ds.EdgeList.from_file(str(tmp_path / name))
        assert "\n" not in str(e.value)      # HDF5's own message spans lines


def _npz(path, **cols):
    np.savez(path, **cols)


def _h5(path, **cols):
    with h5py.File(path, "w") as f:
        for k, v in cols.items():
            if v is None:
                f.create_group(k)
            else:
                f[k] = v


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def _damaged_npz(path):
    """A valid archive whose first array's bytes were overwritten after it was written."""
    np.savez(path, pre=np.arange(100), post=np.arange(100))
    data = bytearray(open(path, "rb").read())
    data[200:260] = b"x" * 60
    open(path, "wb").write(bytes(data))


def _bytes(data):
    return lambda path: open(path, "wb").write(data)


F = r"connector\.file '.*{}'"
EDGE_FILES = [
    # (file name, writer, message after "Projection 'p': ")
    ("utf16.csv", _bytes("pre,post\n0,1\n".encode("utf-16")),
     F + r" is UTF-16 or UTF-32 text; save it as UTF-8 \(edge lists are read as UTF-8\)"),
    ("latin1.csv", _bytes("# caf\xe9\npre,post\n0,1\n".encode("latin-1")),
     F + r" is not UTF-8 text \(byte 0xe9 cannot be decoded\); save it as UTF-8"),
    ("empty.csv", _bytes(b""), F + r" is empty; it needs a header line such as 'pre,post,weight,delay'"),
    ("text.csv", _bytes(b"pre,post\n0,one\n"),
     F + r" must hold numbers in 2 columns under the header \['pre', 'post'\]: could not convert string 'one' .*"),
    ("ragged.csv", _bytes(b"pre,post\n0,1\n1,2,3\n"),
     F + r" must hold numbers in 2 columns under the header \['pre', 'post'\]: the number of columns changed "
         r"from 2 to 3 at row 2"),
    ("short.csv", _bytes(b"pre,post\n0\n"),
     F + r" must hold numbers in 2 columns under the header \['pre', 'post'\], got 1 columns"),
    ("twice.csv", _bytes(b"pre,pre\n0,1\n"), F + r" has column 'pre' twice"),
    ("nopost.csv", _bytes(b"pre,weight\n0,1\n"), F + r" has no column 'post'"),
    ("nan.csv", _bytes(b"pre,post\n0,1\n0,nan\n"),
     r"connector\.post of '.*{}' must be finite, got nan at index 1"),
    ("negative.csv", _bytes(b"pre,post\n-1,1\n"),
     r"connector\.pre of '.*{}' index must be in \[0, 4\], got -1 at row 0"),
    ("huge.csv", _bytes(b"pre,post\n0,1\n1e30,1\n"),
     r"connector\.pre of '.*{}' index must be in \[0, 4\], got 1e\+30 at row 1"),
    ("frac.csv", _bytes(b"pre,post\n0,1.5\n"),
     r"connector\.post of '.*{}' must hold integer indices, got 1\.5 at row 0"),
    ("folder.csv", lambda path: os.mkdir(path), F + r" is a directory, not a file"),
    ("missing.csv", lambda path: None, F + r" does not exist"),
    ("corrupt.npz", _bytes(b"PK\x03\x04 truncated"), F + r" is not a valid NPZ file \(File is not a zip file\)"),
    ("text.npz", _bytes(b"pre,post\n0,1\n"), F + r" is not a valid NPZ file \(File is not a zip file\)"),
    ("members.npz", lambda path: _zip(path, {"pre.npy": b"hello", "post.npy": b"x"}),
     F + r" is not a valid NPZ file \(EOF: reading magic string, expected 8 bytes got 5\)"),
    ("crc.npz", lambda path: _damaged_npz(path),
     F + r" is not a valid NPZ file \(Bad CRC-32 for file 'pre\.npy'\)"),
    ("objects.npz", lambda path: _npz(path, pre=np.array([0, None], dtype=object), post=np.array([1, 1])),
     F + r" is not a valid NPZ file \(Object arrays cannot be loaded when allow_pickle=False\)"),
    ("strings.npz", lambda path: _npz(path, pre=np.array(["a"]), post=np.array([1])),
     F + r": column 'pre' must hold numbers, got data of type <U1"),
    ("complex.npz", lambda path: _npz(path, pre=np.array([0j]), post=np.array([1])),
     F + r": column 'pre' must hold numbers, got data of type complex128"),
    ("columns.npz", lambda path: _npz(path, source=np.array([0]), target=np.array([1])),
     F + r" has an unknown column 'source'; known: delay, post, pre, weight"),
    ("matrix.npz", lambda path: _npz(path, pre=np.zeros((2, 2)), post=np.zeros(2)),
     r"connector\.pre and connector\.post of '.*{}' must be 1-D of equal length, got shapes \(2, 2\) and \(2,\)"),
    ("uint64.npz", lambda path: _npz(path, pre=np.array([2 ** 63], dtype=np.uint64), post=np.array([1])),
     r"connector\.pre of '.*{}' index must be in \[0, 4\], got 9\.22337e\+18 at row 0"),
    ("corrupt.h5", _bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100),
     F + r" is not a valid HDF5 file \(.*\)"),
    ("text.h5", _bytes(b"pre,post\n0,1\n"), F + r" is not a valid HDF5 file \(.*file signature not found.*\)"),
    ("group.h5", lambda path: _h5(path, pre=None, post=np.array([1])),
     F + r": 'pre' must be a dataset \(a column of numbers\), got a group"),
    ("bytes.h5", lambda path: _h5(path, pre=np.array([b"a"]), post=np.array([1])),
     F + r": column 'pre' must hold numbers, got data of type \|S1"),
    ("scalar.h5", lambda path: _h5(path, pre=np.int64(0), post=np.array([1])),
     r"connector\.pre and connector\.post of '.*{}' must be 1-D of equal length, got shapes \(\) and \(1,\)"),
    ("nan.h5", lambda path: _h5(path, pre=np.array([0.0, np.nan]), post=np.array([1, 1])),
     r"connector\.pre of '.*{}' must be finite, got nan at index 1"),
]


@pytest.mark.parametrize("name,write,pattern", EDGE_FILES, ids=[c[0] for c in EDGE_FILES])
def test_bad_edge_list_file_names_the_projection_and_the_file(tmp_path, capsys, name, write, pattern):
    write(str(tmp_path / name))
    text = proj(connector=f'{{ rule = "edge_list", file = "{name}" }}')
    message = J + ": " + pattern.format(re.escape(name))
    with pytest.raises(ValueError, match="^" + message + "$"):
        config.loads(text, base_dir=str(tmp_path))
    # The same through the command line: one line, no traceback, no output.
    cfg = tmp_path / "net.toml"
    cfg.write_text(text)
    out = tmp_path / "out"
    rc, _, err = run_cli(capsys, "run", str(cfg), "--out", str(out))
    assert_one_error_line(rc, err, message)
    assert not out.exists()


def test_edge_list_bigger_than_the_memory_limit_is_refused_before_reading(tmp_path, capsys):
    path = tmp_path / "edges.csv"
    path.write_text("pre,post,weight\n" + "0,1,1.0\n" * 100)
    text = proj(connector='{ rule = "edge_list", file = "edges.csv" }', weight="1.0").replace("weight = 1.0\n", "")
    # 100 rows x 3 columns x 8 bytes = 2400 bytes.
    pattern = J + r": connector\.file '.*edges\.csv' holds 100 edges, about 2400 bytes in memory on each rank, " \
                  r"above the memory limit of 2000 bytes"
    with pytest.raises(ValueError, match="^" + pattern + "$"):
        config.loads(text, base_dir=str(tmp_path), max_memory=2000)
    assert config.loads(text, base_dir=str(tmp_path), max_memory=3000).projections["p"].connector.pre.size == 100
    for ext, save in ((".npz", _npz), (".h5", _h5)):
        big = tmp_path / f"edges{ext}"
        save(str(big), pre=np.zeros(1000), post=np.zeros(1000))
        with pytest.raises(ValueError, match=r"holds 1000 edges, about 16\d\d\d bytes in memory on each rank, "
                                             r"above the memory limit of 10000 bytes"):
            ds.EdgeList.from_file(str(big), max_bytes=10_000)
    # The command line gives each rank its share of --max-memory.
    cfg = tmp_path / "net.toml"
    cfg.write_text(text)
    rc, _, err = run_cli(capsys, "run", str(cfg), "--max-memory", "2000")
    assert_one_error_line(rc, err, pattern)


def test_toml_file_bigger_than_the_memory_limit_is_refused_before_parsing(tmp_path, capsys):
    path = tmp_path / "long.toml"
    path.write_text(HEAD + POP + "#" * 1000 + "\n")
    size = path.stat().st_size
    pattern = (r"Config '.*long\.toml': reading the file as TOML \(about 8 bytes of memory per byte of text\) "
               rf"must fit in the memory limit of 5000 bytes \(4\.88 KiB\), needs {8 * size} bytes \(.*\)")
    with pytest.raises(ValueError, match="^" + pattern + "$"):
        config.load(str(path), max_memory=5000)
    assert config.load(str(path), max_memory=8 * size).populations["a"].size == 5
    rc, _, err = run_cli(capsys, "run", str(path), "--max-memory", "5000")
    assert_one_error_line(rc, err, pattern)


# -- loud acceptance ---------------------------------------------------------------------------


def test_missing_simulation_section_warns_with_the_defaults(tmp_path, capsys):
    with pytest.warns(InputWarning, match=r"^Config: no \[simulation\] section; using the defaults seed = 0, "
                                          r"dt = 0\.1 ms, t_stop = 1000 ms$"):
        net = config.loads(POP)
    assert (net.seed, net.dt, net.t_stop) == (0, 0.1, 1000.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config.loads(HEAD + POP)            # no warning when the section is there
    path = tmp_path / "net.toml"
    path.write_text(POP)
    rc, out, err = run_cli(capsys, "run", str(path), "--t-stop", "5", "--seed", "3")
    assert rc == 0, err
    # What the command line set is not a default.
    assert err.splitlines() == [f"distsnn: warning: Config {str(path)!r}: no [simulation] section; using the "
                                f"defaults dt = 0.1 ms"]
    assert "t_sim" not in out and "over 5 ms" in out


def test_header_only_edge_list_warns_naming_file_and_projection(tmp_path, capsys):
    (tmp_path / "none.csv").write_text("pre,post\n# no edges yet\n")
    text = proj(connector='{ rule = "edge_list", file = "none.csv" }')
    with pytest.warns(InputWarning, match=r"^" + J + r": connector\.file '.*none\.csv' holds no edges; "
                                           r"the projection makes no synapses$"):
        net = config.loads(text, base_dir=str(tmp_path))
    assert net.projections["p"].connector.pre.size == 0
    cfg = tmp_path / "net.toml"
    cfg.write_text(text)
    rc, out, err = run_cli(capsys, "run", str(cfg))
    assert rc == 0, err
    assert re.fullmatch(r"distsnn: warning: " + J + r": connector\.file '.*none\.csv' holds no edges; "
                        r"the projection makes no synapses\n", err)
    assert re.search(r"synapses\s+0\n", out)


# -- resources ---------------------------------------------------------------------------------


LIMIT = r"estimated memory must be <= the limit of (\d+) bytes \(.*\), got (\d+) bytes \(.*\) for "


def test_a_trillion_neurons_is_refused_at_once_with_the_estimate():
    net = ds.Network()
    net.add_population("big", 10 ** 12)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="^Simulation: " + LIMIT + r"1000000000000 neurons and 0 synapses on 1 "
                                         r"rank\(s\); largest: .*") as e:
        ds.Simulation(net)
    assert time.perf_counter() - t0 < 5.0      # no allocation was attempted
    limit, got = map(int, re.search(LIMIT, str(e.value)).groups())
    assert got > 10 ** 12 * resources.GID_BYTES > limit
    # An explicit limit replaces the machine's.
    with pytest.raises(ValueError, match=r"the limit of 1099511627776 bytes \(1 TiB, set by max_memory\)"):
        ds.simulate(net, max_memory="1T")


def test_a_billion_in_degree_is_refused_at_once_with_the_estimate(tmp_path, capsys):
    net = ds.Network()
    net.add_population("a", 10)
    net.add_population("b", 1000)
    net.add_projection("a", "b", ds.FixedInDegree(10 ** 9), weight=0.1, delay=1.0, name="huge")
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=LIMIT + r"1010 neurons and 1000000000000 synapses on 1 rank\(s\); "
                                               r"largest: projection 'huge' \(1000000000000 synapses\) 7\.28 TiB"):
        ds.Simulation(net)
    assert time.perf_counter() - t0 < 5.0
    path = tmp_path / "huge.toml"
    ds.dump(net, str(path))
    t0 = time.perf_counter()
    rc, _, err = run_cli(capsys, "run", str(path), "--out", str(tmp_path / "out"))
    assert_one_error_line(rc, err, "Simulation: " + LIMIT + ".*")
    assert time.perf_counter() - t0 < 5.0
    assert not (tmp_path / "out").exists()


def test_max_memory_option_and_argument(tmp_path, capsys):
    small = ds.Network(t_stop=2.0)
    small.add_population("a", 100)
    need = resources.estimate(small).total
    assert need > 4096
    with pytest.raises(ValueError, match=rf"limit of {need - 1} bytes .*set by max_memory.*got {need} bytes"):
        ds.Simulation(small, max_memory=need - 1)
    ds.Simulation(small, max_memory=need)
    ds.Simulation(small, max_memory=None)
    path = tmp_path / "small.toml"
    ds.dump(small, str(path))
    rc, _, err = run_cli(capsys, "run", str(path), "--max-memory", "4K")   # the file itself needs < 2 KiB
    assert_one_error_line(rc, err, r"Simulation: estimated memory must be <= the limit of 4096 bytes \(4 KiB, set by "
                                   r"--max-memory\), got \d+ bytes .*")
    for ok in ("none", "available", "2GiB", "1.5t", str(need)):
        rc, _, err = run_cli(capsys, "run", str(path), "--max-memory", ok)
        assert rc == 0, (ok, err)
    with pytest.raises(SystemExit) as e:
        cli.main(["run", str(path), "--max-memory", "12Q"])
    assert e.value.code == 2
    assert "argument --max-memory: --max-memory must be a size such as 64G" in capsys.readouterr().err


@pytest.mark.parametrize("spec,value", [(1000, 1000), ("1000", 1000), ("64G", 64 * 2 ** 30), ("1.5TiB", 3 * 2 ** 39),
                                        ("512MB", 512 * 2 ** 20), ("2k", 2048), ("none", None), (None, None),
                                        ("available", "available")])
def test_sizes(spec, value):
    assert memory.parse_bytes("X", "max_memory", spec) == value


@pytest.mark.parametrize("spec", ["-1", 0, "12Q", "G", [1], "inf"])
def test_bad_sizes(spec):
    with pytest.raises(ValueError, match=r"^X: max_memory must be"):
        memory.parse_bytes("X", "max_memory", spec)


def test_available_memory_is_what_the_machine_reports():
    avail = memory.available_memory()
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < avail <= total


def _lif(n: int) -> ds.Network:
    net = ds.Network(dt=0.1, t_stop=2.0)
    net.add_population("e", n, "lif", params=dict(tau_m=20.0, V_th=20.0, V_reset=10.0, E_L=0.0, t_ref=2.0))
    return net


def _networks():
    a = _lif(2000)
    a.add_projection("e", "e", ds.FixedInDegree(100), weight=ds.Normal(0.1, 0.01), delay=ds.Uniform(1.0, 3.0))
    b = _lif(2000)
    for i, tau in enumerate((2.0, 5.0)):
        b.add_projection("e", "e", ds.FixedProbability(0.04), synapse={"kind": "exp", "tau": tau},
                         weight=0.1 - 0.2 * i, delay=1.5 + i)
    b.add_state_monitor("e", ["V_m"], neurons=list(range(100)))
    c = _lif(800)
    c.add_projection("e", "e", ds.AllToAll(), weight=0.01, delay=ds.Uniform(1.0, 20.0))
    d = _lif(50000)
    return {"indegree with distributions": a, "two probabilistic projections": b, "all to all": c,
            "neurons only": d}


@pytest.mark.parametrize("name", list(_networks()))
def test_estimate_bounds_the_measured_peak(name):
    """The estimate is never below what the build and a short run really allocate (traced
    by tracemalloc, which sees numpy's buffers) and not far above it."""
    net = _networks()[name]
    ds.Simulation(net).run(1.0)          # compile first: numba's own memory is not the network's
    tracemalloc.start()
    try:
        ds.Simulation(net).run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    est = resources.estimate(net)
    assert peak <= est.total <= 2.5 * peak, (peak, est)


def test_estimate_splits_over_ranks_what_is_split():
    net = _lif(1000)
    net.add_projection("e", "e", ds.FixedInDegree(10), weight=0.1, delay=1.0)
    one, four = resources.estimate(net, 1), resources.estimate(net, 4)
    assert four.replicated == one.replicated == resources.GID_BYTES * 1000
    # Everything is split but the runs of one source and one delay: every rank may hold one
    # per source (10,000 synapses from 1,000 sources: 1,000 runs on one rank, 4,000 on four).
    assert four.distributed - one.distributed == resources.RUN_BYTES * 3000
    assert four.total == 4 * (four.replicated + -(-four.distributed // 4))
    # Every rank replays all draws of a fixed out-degree.
    out = _lif(1000)
    out.add_projection("e", "e", ds.FixedOutDegree(10), weight=0.1, delay=1.0)
    assert resources.estimate(out, 4).replicated == one.replicated + resources.OUTDEGREE_BYTES * 10_000


def test_estimate_counts_the_ring_of_the_largest_delay():
    near, far = _lif(100), _lif(100)
    near.add_projection("e", "e", ds.FixedInDegree(5), weight=0.1, delay=1.0)
    far.add_projection("e", "e", ds.FixedInDegree(5), weight=0.1, delay=ds.Normal(10.0, 1.0, low=1.0))
    # 1 ms: 11 ring rows; normal without an upper bound: mean + 8 sd = 18 ms, 181 rows (8 bytes a port);
    # the 500 delays are drawn and held per synapse until the runs are cut, and the runs go
    # from one per source (100) to as many as synapses (500).
    assert (resources.estimate(far).distributed - resources.estimate(near).distributed
            == 100 * 8 * (181 - 11) + 500 * (resources.DRAW_BYTES + resources.DELAY_BYTES)
            + 400 * resources.RUN_BYTES)


def test_running_out_of_memory_anyway_is_one_line(tmp_path, capsys):
    """`partition` has no estimate; numpy's refusal becomes one line, not a traceback."""
    path = tmp_path / "huge.toml"
    path.write_text(HEAD + POP.replace("size = 5", "size = 1000000000000"))
    rc, _, err = run_cli(capsys, "partition", str(path), "--parts", "2")
    assert rc == 1 and "Traceback" not in err
    assert re.fullmatch(r"distsnn: error: not enough memory: Unable to allocate [\d.]+ TiB .*\n", err), err


def test_state_monitor_of_every_neuron_of_a_huge_population_is_refused():
    # The monitor stores a selection, not a list of 10**12 indices; the run that would
    # sample them is refused by the estimate before anything is allocated.
    net = ds.Network()
    net.add_population("a", 10 ** 12)
    net.add_state_monitor("a", "V_m")
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="^Simulation: " + LIMIT + r".*state monitor on 'a'") as e:
        ds.Simulation(net)
    assert time.perf_counter() - t0 < 5.0
    assert "state monitor" in str(e.value)


# -- MPI ---------------------------------------------------------------------------------------


@needs_mpi
def test_input_error_under_mpi_is_printed_once_on_its_own_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(POP + "params = [1, 2]\n")      # no [simulation] either: a warning first
    out = tmp_path / "out"
    proc = mpirun(3, ["-m", "distsnn.cli", "run", str(path), "--out", str(out)], timeout=60)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if "distsnn: error" in ln]
    assert lines == ["distsnn: error: Population 'a': params must be a table of key = value, got [1, 2]"], proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if "distsnn: warning" in ln]
    assert warned == [f"distsnn: warning: Config {str(path)!r}: no [simulation] section; using the defaults "
                      f"seed = 0, dt = 0.1 ms, t_stop = 1000 ms"], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


@needs_mpi
def test_error_of_one_rank_only_is_printed_once_by_that_rank(tmp_path):
    """An owner map puts population b (all targets) on rank 1, which alone draws weights
    above the fixed-point bound."""
    path = tmp_path / "one.toml"
    path.write_text(HEAD + POP.replace("size = 5", "size = 2") + POP.replace('"a"', '"b"').replace("size = 5", "size = 2")
                    + '[[projection]]\nname = "p"\npre = "a"\npost = "b"\nconnector = { rule = "one_to_one" }\n'
                      'weight = { dist = "normal", mean = 67108874.0, std = 1.0 }\ndelay = 1.0\n')
    owners = tmp_path / "owners.h5"
    placement.save(str(owners), np.array([0, 0, 1, 1]), 2, placement.PartitionSpec(method="block"),
                   ds.load_network(str(path)))
    proc = mpirun(2, ["-m", "distsnn.cli", "run", str(path), "--partition", str(owners)], timeout=60)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if "distsnn: error" in ln]
    assert len(lines) == 1, proc.stderr
    assert re.fullmatch(r"distsnn: error \(rank 1 of 2\): " + J + r": weight must be finite with \|weight\| <= "
                        r"6\.71089e\+07, got 6710887\d\.\d+", lines[0])


@needs_mpi
@pytest.mark.parametrize("mode,message", [
    ("weight", J.replace("p", "a_b") + r": weight must be finite with \|weight\| <= 6\.71089e\+07, got 6710887\d\.\d+"),
    ("delay", J.replace("p", "a_b") + r": delay must be < 2\*\*31 steps, got 21474\d+ steps")])
def test_python_api_ends_the_job_when_one_rank_fails_to_build(mode, message):
    t0 = time.monotonic()
    proc = mpirun(2, ["tests/mpi/build_fails_on_one_rank.py", mode], timeout=60)
    elapsed = time.monotonic() - t0
    assert proc.returncode != 0
    assert "finished" not in proc.stdout
    assert "distsnn: rank 1 of 2 failed:" in proc.stderr
    assert len(re.findall("^ValueError: " + message + "$", proc.stderr, re.M)) == 1, proc.stderr
    assert elapsed < 20, f"the job took {elapsed:.1f} s to end"
    # Before building, each rank checked that the default memory limit counts the machine
    # the two ranks share once (an AssertionError there would have ended the job instead).
    assert proc.stdout.count("limit") == 2


