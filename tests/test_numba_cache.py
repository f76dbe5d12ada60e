"""numba's cache works from a read-only install: no warning, and the second run loads
the kernels instead of compiling them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from distsnn import numba_cache
from tests.mpi.launch import ROOT

RUN = """
import distsnn as ds
net = ds.Network(dt=0.1, seed=1, t_stop=20.0)
net.add_population("a", 10, "lif", {"I_e": 1000.0})
net.add_spike_monitor("a")
print("spikes", ds.simulate(net).summary["spikes"])
"""


def _read_only_runner(tree: str) -> list[str] | None:
    """A command prefix under which ``tree`` is read-only, or None where none can be made."""
    if os.geteuid() != 0:
        for dirpath, _, _ in os.walk(tree):
            os.chmod(dirpath, 0o555)
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    # root writes through permission bits: a read-only bind mount in a private namespace.
    probe = subprocess.run([unshare, "-m", "sh", "-c", f"mount --bind {tree} {tree} && "
                            f"mount -o remount,bind,ro {tree} && ! touch {tree}/probe 2>/dev/null"],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        return None
    ro = f"mount --bind {tree} {tree} && mount -o remount,bind,ro {tree}"
    return [unshare, "-m", "sh", "-c", ro + ' && exec "$0" "$@"']


def test_read_only_install_caches_in_a_user_directory(tmp_path):
    tree = tmp_path / "install"
    tree.mkdir()
    for pkg in ("distsnn", "partitioning"):
        shutil.copytree(os.path.join(ROOT, pkg), tree / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    prefix = _read_only_runner(str(tree))
    if prefix is None:
        pytest.skip("cannot make a read-only directory here (root without mount namespaces)")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # No writable place of numba's own: the sources, and HOME (its user cache) read-only.
    env = {**os.environ, "PYTHONPATH": str(tree), "HOME": str(tree), "TMPDIR": str(tmp),
           "NUMBA_DEBUG_CACHE": "1", "PYTHONWARNINGS": "always"}
    env.pop("NUMBA_CACHE_DIR", None)
    env.pop("XDG_CACHE_HOME", None)
    runs = [subprocess.run([*prefix, sys.executable, "-c", RUN], capture_output=True, text=True, env=env,
                           cwd=str(tmp), timeout=300) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
        assert "spikes" in r.stdout and "spikes 0\n" not in r.stdout
        assert "warning" not in (r.stderr + r.stdout).lower()
    assert not os.path.exists(tree / "distsnn" / "__pycache__")
    cache = os.listdir(tmp)
    assert len(cache) == 1 and cache[0].startswith("distsnn-numba-cache-")
    first, second = runs[0].stdout, runs[1].stdout
    assert "[cache] data saved" in first
    assert "[cache] data loaded" in second and "[cache] data saved" not in second   # nothing compiled


def test_a_writable_install_keeps_numbas_choice(monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    assert numba_cache.writable(os.path.join(os.path.dirname(numba_cache.__file__), "__pycache__"))
    assert numba_cache.configure() is None
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/somewhere/else")
    assert numba_cache.configure() is None   # the user's choice stands
