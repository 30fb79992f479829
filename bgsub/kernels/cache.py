"""Keep numba's on-disk cache of the kernels in step with their sources.

numba keys a cached kernel by the timestamp of the file that defines it, and stores with it the
code of every kernel it calls, and the module-level constants it reads, from any other file
(numba's documentation, "Cache invalidation fails to recognize changes in symbols defined in a
different file"; numba issue 1833). So after ``git pull`` changes ``ghost.py`` alone, the scoring
kernel of ``default_path.py``, which calls it, would keep running the old ghost test from its cache.

:func:`drop_stale_cache` runs when :mod:`bgsub.kernels` is imported, before any kernel is loaded:
it hashes the sources of every module of this package (the compiled code imports nothing else of
``bgsub``) and, when the hash differs from the one recorded beside the cache, deletes the cached
kernels (``*.nbi``, ``*.nbc``) so each is compiled afresh from the current sources. The cache folder
is the one numba uses for this package: ``__pycache__`` beside the sources, or the folder under
``NUMBA_CACHE_DIR``, or numba's per-user folder when the sources' folder is read-only.

Processes started together after a change may each delete the files; that only costs a compile,
and numba treats a cached file deleted under it as a cache miss.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

__all__ = ["STAMP_NAME", "drop_stale_cache", "sources_digest"]

logger = logging.getLogger(__name__)

#: The file, in the cache folder, holding the digest of the sources the cached kernels were compiled from.
STAMP_NAME = "bgsub-kernels-sources.sha256"


def sources_digest(package: Path = Path(__file__).parent) -> str:
    """SHA-256 over the names and bytes of the package's ``*.py`` files, in name order."""
    digest = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


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


def drop_stale_cache() -> None:
    """Delete the cached kernels when the package's sources differ from those they were compiled from."""
    folder = _cache_folder()
    if folder is None:
        return
    stamp = folder / STAMP_NAME
    digest = sources_digest()
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass  # no stamp yet: a cache written before this check, or none
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stale = [path for pattern in ("*.nbi", "*.nbc") for path in folder.glob(pattern)]
        for path in stale:
            path.unlink(missing_ok=True)
        from bgsub.io import atomic_write  # only here: the usual import finds the stamp and needs no more

        with atomic_write(stamp) as tmp:
            tmp.write_text(digest)
    except OSError as error:
        logger.warning("could not clear numba's cache of bgsub's kernels in %s (%s): delete it by hand after an update",
                       folder, error)
        return
    if stale:
        logger.info("bgsub's kernel sources changed: %d cached kernel files deleted, they compile afresh", len(stale))
