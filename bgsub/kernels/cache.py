"""Keep numba's on-disk cache of the kernels in step with their sources.

numba keys a cached kernel by the timestamp of the file that defines it, and stores with it the
code of every kernel it calls, and the module-level constants it reads, from any other file
(numba's documentation, "Cache invalidation fails to recognize changes in symbols defined in a
different file"; numba issue 1833). So after ``git pull`` changes ``ghost.py`` alone, the scoring
kernel of ``default_path.py``, which calls it, would keep running the old ghost test from its cache.

:func:`drop_stale_cache` runs when :mod:`bgsub.kernels` is imported, before any kernel is loaded. It
hashes the package's sources (the compiled code imports nothing of ``bgsub`` outside this package)
and compares the hash with the one recorded beside the cache (:data:`STAMP_NAME`); only when they
differ does it work out which modules changed: a module's digest covers its own source and those of
the package's modules it imports, directly or not (:func:`module_digests`), and the cached kernels
(``<module>.*.nbi``, ``.nbc``) of every module whose digest moved are deleted, so they compile afresh
from the current sources while the others stay cached. The cache folder is the one numba uses for
this package: ``__pycache__`` beside the sources, or the folder under ``NUMBA_CACHE_DIR``, or
numba's per-user folder when the sources' folder is read-only.

Processes started together after a change may each delete the files; that only costs a compile,
and numba treats a cached file deleted under it as a cache miss.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
from pathlib import Path

from bgsub.io import atomic_write

__all__ = ["STAMP_NAME", "cached_modules", "drop_stale_cache", "module_digests", "sources_digest"]

logger = logging.getLogger(__name__)

#: The file, in the cache folder, recording the sources the cached kernels were compiled from (JSON: the whole
#: package's digest, and each module's).
STAMP_NAME = "bgsub-kernels-sources.json"

PACKAGE = Path(__file__).parent


def sources_digest(package: Path = PACKAGE) -> str:
    """SHA-256 over the names and bytes of the package's ``*.py`` files, in name order."""
    digest = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _package_imports(source: bytes, modules: set[str], package: str) -> set[str]:
    """The modules of the package (by file stem) that ``source`` imports; ``__init__`` for its own names."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            if base in (package, "."):  # from bgsub.kernels import ghost / a name of __init__
                found |= {alias.name if alias.name in modules else "__init__" for alias in node.names}
            elif base.startswith(package + ".") or (node.level == 1 and node.module):
                found.add(base.rsplit(".", 1)[-1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.rsplit(".", 1)[-1] for alias in node.names if alias.name.startswith(package + ".")}
    return found & modules


def module_digests(package: Path = PACKAGE, name: str = "bgsub.kernels") -> dict[str, str]:
    """Each module's digest (by file stem): SHA-256 over the sources of the module and of every module of the
    package it imports, directly or through others, in name order."""
    sources = {path.stem: path.read_bytes() for path in sorted(package.glob("*.py"))}
    imports = {module: _package_imports(source, set(sources), name) for module, source in sources.items()}
    digests = {}
    for module in sources:
        reached, todo = {module}, [module]
        while todo:
            for other in imports[todo.pop()] - reached:
                reached.add(other)
                todo.append(other)
        digest = hashlib.sha256()
        for other in sorted(reached):
            digest.update(other.encode() + b"\0" + sources[other] + b"\0")
        digests[module] = digest.hexdigest()
    return digests


def _cache_folder() -> Path | None:
    """The folder numba caches this package's kernels in (the same for every module of one folder)."""
    try:
        from numba.core.caching import FunctionCache
    except ImportError:
        return None
    try:
        return Path(FunctionCache(sources_digest).cache_path)
    except Exception as error:  # noqa: BLE001 - numba found no writable folder: it will not cache either
        logger.debug("no numba cache folder for bgsub.kernels: %s", error)
        return None


def cached_modules() -> set[str]:
    """The modules of this package (file stems) with at least one kernel in numba's cache; empty without numba."""
    folder = _cache_folder()
    if folder is None:
        return set()
    return {path.name.split(".", 1)[0] for path in folder.glob("*.nbi")}


def drop_stale_cache(package: Path = PACKAGE) -> None:
    """Delete the cached kernels of the modules whose sources, or those of a module they import, changed."""
    folder = _cache_folder()
    if folder is None:
        return
    stamp = folder / STAMP_NAME
    whole = sources_digest(package)
    try:
        recorded = json.loads(stamp.read_text())
        if recorded["package"] == whole:
            return
        before = dict(recorded["modules"])
    except (OSError, ValueError, KeyError, TypeError):
        before = {}  # no stamp yet (a cache written before this check, or none): every cached kernel is suspect
    digests = module_digests(package)
    changed = [module for module, digest in digests.items() if before.get(module) != digest]
    try:
        stale = [path for module in changed for kind in ("nbi", "nbc") for path in folder.glob(f"{module}.*.{kind}")]
        for path in stale:
            path.unlink(missing_ok=True)
        with atomic_write(stamp) as tmp:
            tmp.write_text(json.dumps({"package": whole, "modules": digests}, indent=1, sort_keys=True))
    except OSError as error:
        logger.warning("could not clear numba's cache of bgsub's kernels in %s (%s): delete it by hand after an update",
                       folder, error)
        return
    if stale:
        logger.info("bgsub's kernel sources changed (%s): %d cached kernel files deleted, they compile afresh",
                    ", ".join(sorted(changed)), len(stale))
