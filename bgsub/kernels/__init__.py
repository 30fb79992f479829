"""Compiled (numba) kernels of the per-pixel mixtures, and the choice of backend.

The numpy code in :mod:`bgsub.mixture_em`, :mod:`bgsub.ranking` and :mod:`bgsub.online_reference`
is the reference; the kernels here compute the same things: the colour EM with pixels as SIMD lanes
in float32 (float64 sums and parameters; within 1e-4 of the reference, same iteration counts), the
classification on the uint8 frames in float64, the online update byte for byte; threads over pixels
(``numba.prange``). They are compiled on first use and cached on disk (``cache=True``), so later
processes load them without compiling.

Modules: :mod:`~bgsub.kernels.em` (the batch EM's entry point: which kernel runs), ``em_lanes`` (EM
with pixels as SIMD lanes, C = 3), ``em_pixel`` (EM one pixel per thread, any C), ``kmeans`` (the
k-means initialisation), ``vecmath`` (exp and log that vectorise), ``lanes`` (the lane layout),
``classify`` (distance to the nearest background component), ``online`` (the adaptive GMM's
update), ``spatial`` (the scoring levers of :mod:`bgsub.spatial`), ``area_opening`` and ``area`` (the
post-processing's area opening), ``median`` (its median of score maps), ``levels`` (the score levels a run with
ground truth filters, and their median), ``binary`` (the filters of masks), ``cache`` (the on-disk cache dropped
when any kernel's source changes).

Backend choice (:func:`resolve_backend`): ``"numpy"`` always uses the reference,
``"numba"`` requires numba, ``"auto"`` uses numba when it can be imported and falls back to numpy
with one log line otherwise. The environment variable ``BGSUB_BACKEND`` (``numpy`` or ``numba``)
overrides ``"auto"``, so a whole run can be forced onto the reference path.
"""

from __future__ import annotations

import logging
import os
from typing import Literal

__all__ = ["BACKENDS", "THREADING_LAYER_PRIORITY", "Backend", "numba_available", "num_threads", "resolve_backend",
           "set_num_threads"]

logger = logging.getLogger(__name__)

#: The threading layers numba may use, in this order. numba's own default puts TBB first, and a process whose
#: kernels ran on TBB's pool can hang at exit in ``tbb::finalize`` (seen with Debian's libtbb 2021.8, which
#: ``apt-get install libopencv-dev`` brings, in the spawned workers of ``benchmarks/validate_levers.py --jobs``;
#: numba issue 10556 reports the same deadlock in ``unload_tbb``).
#: Every layer gives the same results. A user's ``NUMBA_THREADING_LAYER`` or ``NUMBA_THREADING_LAYER_PRIORITY``
#: still decides.
THREADING_LAYER_PRIORITY = ("omp", "workqueue", "tbb")


def _prefer_threading_layers() -> None:
    if "NUMBA_THREADING_LAYER_PRIORITY" in os.environ:
        return
    try:
        import numba
    except ImportError:
        return
    numba.config.THREADING_LAYER_PRIORITY = list(THREADING_LAYER_PRIORITY)


_prefer_threading_layers()

from bgsub.kernels.cache import drop_stale_cache  # noqa: E402 - after the threading layers are set

drop_stale_cache()  # before any kernel loads from numba's cache: it does not see a change in another file

Backend = Literal["auto", "numpy", "numba"]
BACKENDS: tuple[str, ...] = ("auto", "numpy", "numba")
#: Environment variable that overrides ``backend="auto"``.
ENV_VAR = "BGSUB_BACKEND"

_available: bool | None = None


def numba_available() -> bool:
    """Whether numba can be imported (checked once; logs once when it cannot)."""
    global _available
    if _available is None:
        try:
            import numba  # noqa: F401
        except ImportError:
            _available = False
            logger.info("numba is not installed: using the numpy path (pip install numba for speed)")
        else:
            _available = True
    return _available


def resolve_backend(backend: str = "auto") -> Literal["numpy", "numba"]:
    """The backend to run: ``"numpy"`` or ``"numba"``.

    Parameters
    ----------
    backend : {"auto", "numpy", "numba"}
        ``"auto"`` reads ``BGSUB_BACKEND`` if set, else picks numba when available.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        Unknown backend name (argument or environment variable).
    ImportError
        ``"numba"`` asked for explicitly but numba is not installed.

    Examples
    --------
    >>> resolve_backend("numpy")
    'numpy'
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        env = os.environ.get(ENV_VAR, "").strip().lower()
        if env in ("numpy", "numba"):
            backend = env
        elif env not in ("", "auto"):
            raise ValueError(f"{ENV_VAR} must be 'auto', 'numpy' or 'numba', got {env!r}")
    if backend == "numpy":
        return "numpy"
    if numba_available():
        return "numba"
    if backend == "numba":
        raise ImportError("backend='numba' needs numba: pip install numba")
    return "numpy"


def set_num_threads(n_threads: int | None) -> None:
    """Let the compiled kernels use ``n_threads`` threads (None or 0: all cores); no-op without numba."""
    if not numba_available():
        return
    import numba

    limit = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(limit if not n_threads else max(1, min(int(n_threads), limit)))


def num_threads() -> int:
    """The threads the compiled kernels may use (:func:`set_num_threads`); without numba, the machine's cores.

    Frame-parallel numpy work (the alignment's per-frame estimates) uses as many, so a rule's ``threads:`` bounds it
    too.
    """
    if not numba_available():
        return os.cpu_count() or 1
    import numba

    return int(numba.get_num_threads())
