"""The experiment configuration: validation against the JSON schema and the runs it asks for.

A *run* is one method at one number of components: the ``gmm`` method with
``n_components: [1, 3]`` gives the runs ``gmm_k1`` and ``gmm_k3``. A :class:`Run` is what a
rule hands to a pipeline step, and a :class:`Dataset` the data it works on; every setting of a
run is checked once, here, when :func:`expand_runs` builds it, and the steps trust it.

The schema (``bgsub/schemas/config.schema.yaml``) ships inside the package; the workflow
validates with the same file through :func:`validate_config`.
"""

from __future__ import annotations

import copy
import importlib.resources
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import yaml

from bgsub.base import BackgroundMethod
from bgsub.errors import InputError
from bgsub.methods import make_method, method_class
from bgsub.metrics import sweep_thresholds
from bgsub.postprocess import check_postprocess
from bgsub.presets import apply_preset

__all__ = ["SCHEMA_RESOURCE", "load_schema", "Run", "Dataset", "validate_config", "expand_runs", "overlay_config",
           "dataset_has_ground_truth"]

logger = logging.getLogger(__name__)

#: Where the config schema lives inside the package (read with :mod:`importlib.resources`).
SCHEMA_RESOURCE = ("bgsub", "schemas/config.schema.yaml")
PIPELINE_KEYS = ("kind", "threshold", "sweep", "n_components", "postprocess")
# optional modules some method kinds need -> the extra that installs them; runs needing a missing one are skipped
OPTIONAL_MODULES = {"cv2": "peers"}


@dataclass(frozen=True)
class Run:
    """One method at one setting, as the pipeline fits and scores it.

    Attributes
    ----------
    name : str
        ``method`` or ``method_k{K}``; the folder name under ``results/{dataset}/``.
    method : str
        The config name of the method.
    kind : str
        The registry kind (:mod:`bgsub.methods`).
    n_components : int or None
    params : dict
        Keyword arguments of the method class.
    threshold : float
    sweep : tuple of (float, float, int)
    postprocess : dict
        Score-map filters applied by the score step (:mod:`bgsub.postprocess`); empty = none.
    """

    name: str
    method: str
    kind: str
    n_components: int | None
    params: dict[str, Any] = field(hash=False)
    threshold: float
    sweep: tuple[float, float, int]
    postprocess: dict[str, Any] = field(default_factory=dict, hash=False)

    def thresholds(self) -> Any:
        """The sweep's thresholds, the configured one included."""
        return sweep_thresholds(*self.sweep, self.threshold)

    def new_method(self) -> BackgroundMethod:
        """A new, unfitted method of this run's kind and settings."""
        return make_method(self.kind, **self.params)

    #: the fields a fit depends on (the others only change scoring)
    FIT_FIELDS: ClassVar[tuple[str, ...]] = ("name", "method", "kind", "n_components", "params")

    def to_dict(self, *, fit: bool = False) -> dict[str, Any]:
        """The run as plain data, for a rule's ``params`` (Snakemake reruns a job when their ``repr`` changes).

        With ``fit=True`` only :attr:`FIT_FIELDS`, so a new threshold, sweep or post-processing
        reruns scoring and never a fit.
        """
        data = {"name": self.name, "method": self.method, "kind": self.kind, "n_components": self.n_components,
                "params": dict(self.params), "threshold": self.threshold, "sweep": list(self.sweep),
                "postprocess": dict(self.postprocess)}
        return {k: data[k] for k in self.FIT_FIELDS} if fit else data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        """The run of :meth:`to_dict`; a fit's dict gets the kind's default threshold and sweep."""
        instance = make_method(data["kind"], **data["params"])  # some kinds' defaults depend on settings
        sweep = data.get("sweep", instance.default_sweep)
        return cls(data["name"], data["method"], data["kind"], data["n_components"], dict(data["params"]),
                   float(data.get("threshold", instance.default_threshold)),
                   (float(sweep[0]), float(sweep[1]), int(sweep[2])), dict(data.get("postprocess") or {}))

    @property
    def model_params(self) -> dict[str, Any]:
        """The settings a fitted model of this run stores (``get_params`` of its method)."""
        return self.new_method().get_params()


@dataclass(frozen=True)
class Dataset:
    """A dataset entry of the config, as a pipeline step opens it.

    Attributes
    ----------
    name : str
        The config name; the folder name under ``results/``.
    spec : dict
        The entry (``path`` or a generated scene's folder as ``path``, ``train``, ``test``, ...).
    root : Path
        Relative paths in ``spec`` are relative to this folder.
    """

    name: str
    spec: dict[str, Any] = field(hash=False)
    root: Path = Path(".")


def load_schema() -> dict[str, Any]:
    """The config's JSON schema, read from the installed package."""
    package, name = SCHEMA_RESOURCE
    return yaml.safe_load(importlib.resources.files(package).joinpath(name).read_text())


def _format_path(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def validate_config(config: dict[str, Any], schema_path: Path | None = None) -> dict[str, Any]:
    """Validate ``config`` and fill in defaults; raise :class:`InputError` with a one-line message.

    Parameters
    ----------
    config : dict
    schema_path : Path or None
        Another schema file; None = the package's (:func:`load_schema`).

    Returns
    -------
    dict
        A copy of the config with defaults set. Method settings are checked further
        (presets, values the schema cannot express) by :func:`expand_runs`.
    """
    if "methods" not in config:  # a user's own config (make run CONFIG=mine.yaml) may name datasets only
        config = {**config, "methods": {"gmm": {"preset": "default"}}}
    schema = load_schema() if schema_path is None else yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        error = errors[-1]
        best = jsonschema.exceptions.best_match(errors)
        error = best if best is not None else error
        message = error.message
        if error.validator == "oneOf" and error.path and error.path[0] == "datasets":
            message = "give either 'path' or 'synthetic'"
        raise InputError(f"config key {_format_path(error.path)}: {message}")
    config = copy.deepcopy(config)
    for key, sub in schema["properties"].items():
        if "default" in sub:
            config.setdefault(key, sub["default"])
        elif sub.get("type") == "object" and "properties" in sub and key not in ("datasets", "methods"):
            config.setdefault(key, {})
            for inner, spec in sub["properties"].items():
                if "default" in spec:
                    config[key].setdefault(inner, spec["default"])
    for name, settings in config["methods"].items():
        _check_numbers(name, settings)
    return config


def _check_numbers(name: str, settings: dict[str, Any]) -> None:
    """Threshold and sweep checks JSON Schema cannot express (it lets NaN and infinity through as numbers)."""
    for key in ("threshold", "sweep"):
        values = settings.get(key, [])
        if not all(math.isfinite(v) for v in (values if isinstance(values, list | tuple) else [values])):
            raise InputError(f"config key methods.{name}.{key}: must be finite numbers, got {values!r}")
    sweep = settings.get("sweep")
    if sweep is not None and sweep[1] <= sweep[0]:
        raise InputError(f"config key methods.{name}.sweep: stop ({sweep[1]}) must be above start ({sweep[0]})")


def expand_runs(methods: dict[str, dict[str, Any]]) -> list[Run]:
    """Turn the ``methods:`` section into runs, checking each method's settings.

    An entry's ``preset:`` is expanded first (:func:`bgsub.presets.apply_preset`; the entry's
    own keys win). Every run's method is built once here, so a bad setting stops the
    configuration before any job starts.

    Raises
    ------
    InputError
        On an unknown kind or a setting the method does not take.

    Methods whose kind needs an optional module that is not installed (OpenCV for
    ``opencv_mog2``/``opencv_knn``) are skipped, with one warning naming them all.
    """
    runs = []
    missing: dict[str, list[str]] = {}
    for method, entry in methods.items():
        try:
            settings = apply_preset(entry)
        except InputError as exc:
            raise InputError(f"config key methods.{method}.preset: {exc}") from None
        _check_numbers(method, settings)
        kind = settings.get("kind", method)
        try:
            cls = method_class(kind)
        except ModuleNotFoundError as exc:
            if exc.name not in OPTIONAL_MODULES:
                raise
            missing.setdefault(exc.name, []).append(method)
            continue
        params = {k: v for k, v in settings.items() if k not in PIPELINE_KEYS}
        ks = settings.get("n_components")
        ks_list: list[int | None] = [None] if ks is None else ([ks] if isinstance(ks, int) else list(dict.fromkeys(ks)))
        for k in ks_list:
            run_params = dict(params) if k is None else {**params, "n_components": k}
            try:
                instance = cls(**run_params)
            except (TypeError, ValueError) as exc:
                raise InputError(f"config key methods.{method}: {exc}".splitlines()[0]) from None
            threshold = float(settings.get("threshold", instance.default_threshold))
            sweep = tuple(settings.get("sweep", instance.default_sweep))
            name = method if k is None else f"{method}_k{k}"
            sweep_spec = (float(sweep[0]), float(sweep[1]), int(sweep[2]))
            postprocess = dict(settings.get("postprocess") or {})
            try:
                check_postprocess(postprocess)
            except ValueError as exc:
                raise InputError(f"config key methods.{method}.postprocess: {exc}") from None
            runs.append(Run(name, method, kind, k, run_params, threshold, sweep_spec, postprocess))
    for module, skipped in missing.items():
        logger.warning(
            "bgsub: skipping method(s) %s: Python module %r is not installed (pip install -e '.[%s]')",
            ", ".join(skipped), module, OPTIONAL_MODULES[module],
        )
    if methods and not runs:
        raise InputError("config key methods: no method can run (their optional modules are missing)")
    return runs


def overlay_config(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay`` merged in key by key, as Snakemake merges a ``--configfile`` (a copy).

    Examples
    --------
    >>> overlay_config({"methods": {"mean": {"threshold": 5}}}, {"methods": {"mean": {}, "median": {}}})
    {'methods': {'mean': {'threshold': 5}, 'median': {}}}
    """
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = overlay_config(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def dataset_has_ground_truth(spec: dict[str, Any], root: Path = Path(".")) -> bool:
    """Whether a dataset entry has ground truth (synthetic scenes and CDnet folders with ``groundtruth/``)."""
    if "synthetic" in spec:
        return True
    path = Path(spec["path"])
    path = path if path.is_absolute() else Path(root) / path
    return (path / "groundtruth").is_dir()
