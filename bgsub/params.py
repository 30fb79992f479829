"""Constructor settings of estimators: read from the ``__init__`` signature, checked by declared constraints.

As scikit-learn's ``BaseEstimator.get_params`` and ``_parameter_constraints``: every parameter
of ``__init__`` is stored as an attribute of the same name, so :meth:`Parametrised.get_params`
reads the names from the signature instead of listing them again; and a class declares what
each setting may be in ``_parameter_constraints``, checked in one place before ``__init__`` runs
(:func:`validate_parameter`), with a one-line ``ValueError`` naming the parameter. Checks that
tie two settings together stay as explicit lines in ``__init__``.

Examples
--------
>>> from numbers import Real
>>> class Model(Parametrised):
...     _parameter_constraints = {"rate": [Interval(Real, 0, 1)], "mode": [Options("a", "b"), None]}
...     def __init__(self, rate=0.5, mode=None):
...         self.rate = float(rate)
...         self.mode = mode
>>> Model(rate=1).get_params()
{'rate': 1.0, 'mode': None}
>>> Model(rate=2)
Traceback (most recent call last):
    ...
ValueError: rate must be a number in [0, 1], got 2
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np

__all__ = ["BOOLEAN", "Interval", "Options", "Parametrised", "validate_parameter"]


class Interval:
    """Numbers of a type (``numbers.Integral`` or ``numbers.Real``) between two bounds.

    Parameters
    ----------
    kind : type
        ``Integral`` (an int, or a float with an integral value, as ``int(x) == x``) or ``Real``.
    left, right : float or None
        Bounds; None = unbounded on that side.
    closed : {"both", "left", "right", "neither"}
        Which bounds belong to the interval.
    """

    def __init__(self, kind: type, left: float | None, right: float | None, *, closed: str = "both") -> None:
        if kind not in (Integral, Real) or closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"bad interval: {kind}, closed={closed!r}")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def is_satisfied_by(self, value: Any) -> bool:
        # a YAML `true` is an int to Python, never a setting's number
        if isinstance(value, bool) or not isinstance(value, Real) or value != value:  # noqa: PLR0124 - NaN
            return False
        if self.kind is Integral and not (isinstance(value, Integral) or float(value).is_integer()):
            return False
        left_open = self.closed in ("right", "neither")
        right_open = self.closed in ("left", "neither")
        if self.left is not None and (value < self.left or (left_open and value == self.left)):
            return False
        return self.right is None or not (value > self.right or (right_open and value == self.right))

    def __str__(self) -> str:
        what = "an integer" if self.kind is Integral else "a number"
        if self.left is None and self.right is None:
            return what
        if self.right is None:
            return f"{what} {'>=' if self.closed in ('both', 'left') else '>'} {self.left}"
        if self.left is None:
            return f"{what} {'<=' if self.closed in ('both', 'right') else '<'} {self.right}"
        lo = "[" if self.closed in ("both", "left") else "("
        hi = "]" if self.closed in ("both", "right") else ")"
        return f"{what} in {lo}{self.left}, {self.right}{hi}"


class Options:
    """One of a few values (compared with ``==``)."""

    def __init__(self, *options: Any) -> None:
        self.options = options

    def is_satisfied_by(self, value: Any) -> bool:
        return any(isinstance(value, type(option)) and value == option for option in self.options)

    def __str__(self) -> str:
        return f"one of {self.options!r}"


class _Boolean:
    """``True`` or ``False`` (also numpy's booleans)."""

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def __str__(self) -> str:
        return "True or False"


#: The constraint "a boolean".
BOOLEAN = _Boolean()


def validate_parameter(name: str, value: Any, constraints: list[Any]) -> None:
    """Raise ``ValueError`` unless ``value`` satisfies one of ``constraints`` (None allows None).

    Examples
    --------
    >>> validate_parameter("tol", -1.0, [Interval(Real, 0, None)])
    Traceback (most recent call last):
        ...
    ValueError: tol must be a number >= 0, got -1.0
    """
    for constraint in constraints:
        if constraint is None:
            if value is None:
                return
        elif constraint.is_satisfied_by(value):
            return
    wanted = " or ".join("None" if c is None else str(c) for c in constraints)
    raise ValueError(f"{name} must be {wanted}, got {value!r}")


def _validating(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap ``__init__`` so the arguments it names are checked against the class's constraints first."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self: Parametrised, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        constraints = type(self)._parameter_constraints
        for name, parameter in signature.parameters.items():
            if name in constraints and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                validate_parameter(name, bound.arguments[name], constraints[name])
        init(self, *args, **kwargs)

    return wrapper


class Parametrised:
    """Settings from the constructor's signature; checks from ``_parameter_constraints``.

    Subclasses take their settings as ``__init__`` parameters and store each as an attribute of
    the same name (converted as they like: ``float(x)``...). An ``__init__`` that takes
    ``**params`` and passes them to its parent's ``__init__`` adds the parent's parameters.

    Attributes
    ----------
    _parameter_constraints : dict of str to list
        Per parameter, the constraints of which one must hold: :class:`Interval`, :class:`Options`,
        :data:`BOOLEAN`, None. Checked before every ``__init__`` that names the parameter.
    _non_params : tuple of str
        ``__init__`` parameters that are not settings of the model (left out of :meth:`get_params`).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
    _non_params: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _validating(cls.__dict__["__init__"])  # type: ignore[method-assign]

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """Names of the ``__init__`` parameters, the parents' (through ``**params``) first."""
        groups: list[list[str]] = []
        for klass in cls.__mro__:
            if klass is Parametrised or not issubclass(klass, Parametrised):
                break
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            parameters = list(inspect.signature(init).parameters.values())[1:]
            groups.append([p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)])
            if not any(p.kind == p.VAR_KEYWORD for p in parameters):
                break
        names = [name for group in reversed(groups) for name in group]
        return [name for name in dict.fromkeys(names) if name not in cls._non_params]

    def get_params(self) -> dict[str, Any]:
        """Return the constructor settings: ``{name: getattr(self, name)}`` over the ``__init__`` parameters."""
        return {name: getattr(self, name) for name in self._get_param_names()}
