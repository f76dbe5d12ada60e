"""Where numba keeps distsnn's compiled kernels, so that they compile once per install.

The kernels are compiled with ``cache=True``. numba writes its cache beside the sources
(``distsnn/__pycache__``) or, where that is read-only (a system-wide or container
install), in the user's cache directory (``~/.cache/numba``); where neither is
writable it refuses to import a module with a cached function at all
(``RuntimeError: cannot cache function ...: no locator available``). :func:`configure`,
run when :mod:`distsnn` is imported, keeps numba's own choice where one of those is
writable and otherwise points numba at a per-user directory under the system's temporary
directory, as ``NUMBA_CACHE_DIR`` would, silently. A ``NUMBA_CACHE_DIR`` set by the
user is always respected.
"""

from __future__ import annotations

import os
import tempfile

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def writable(path: str) -> bool:
    """Whether files can be created in ``path`` (made if missing), as numba checks."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def fallback_dir() -> str:
    """The cache directory used when numba has none: per user, in the temporary directory."""
    uid = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return os.path.join(tempfile.gettempdir(), f"distsnn-numba-cache-{uid}")


def configure() -> str | None:
    """Make sure numba can cache distsnn's kernels; returns the directory set (``None``
    where numba's own choice is kept)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    if writable(os.path.join(_PACKAGE_DIR, "__pycache__")):
        return None
    from numba.misc.appdirs import AppDirs

    if writable(AppDirs(appname="numba", appauthor=False).user_cache_dir):
        return None
    path = fallback_dir()
    if not writable(path):
        path = tempfile.mkdtemp(prefix="distsnn-numba-cache-")   # this process only, but it works
    os.environ["NUMBA_CACHE_DIR"] = path
    from numba.core import config

    config.CACHE_DIR = path
    return path
