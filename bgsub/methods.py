"""The registry of methods: a method *kind* names its class.

Rule scripts build methods only through :func:`make_method`, so they never
branch on a method's name; a new method is one class and one line here.
Classes are imported lazily so that optional dependencies (OpenCV) are only
needed by the runs that use them.
"""

from __future__ import annotations

import importlib
from typing import Any

from bgsub.base import BackgroundMethod
from bgsub.errors import InputError

__all__ = ["METHOD_KINDS", "method_class", "make_method"]

METHOD_KINDS: dict[str, str] = {
    "mean": "bgsub.background:MeanBackground",
    "median": "bgsub.background:MedianBackground",
    "gmm_background": "bgsub.gmm:GMMBackgroundMethod",
    "gmm": "bgsub.gmm:GMMMethod",
    "online_gmm": "bgsub.online_method:OnlineGMMMethod",
    "opencv_mog2": "bgsub.peers:OpenCVMOG2Method",
    "opencv_knn": "bgsub.peers:OpenCVKNNMethod",
}


def method_class(kind: str) -> type[BackgroundMethod]:
    """Return the class that implements ``kind``."""
    try:
        module_name, class_name = METHOD_KINDS[kind].split(":")
    except KeyError:
        raise InputError(f"unknown method kind {kind!r}; known kinds: {', '.join(METHOD_KINDS)}") from None
    return getattr(importlib.import_module(module_name), class_name)


def make_method(kind: str, **params: Any) -> BackgroundMethod:
    """Build a method of the given kind with its settings.

    Examples
    --------
    >>> make_method("mean").kind
    'mean'
    """
    cls = method_class(kind)
    try:
        return cls(**params)
    except TypeError as exc:
        raise InputError(f"method kind {kind!r}: bad setting ({exc})") from None
