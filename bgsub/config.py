"""The experiment configuration: validation against the JSON schema and the runs it asks for.

A *run* is one method at one number of components: the ``gmm`` method with
``n_components: [1, 3]`` gives the runs ``gmm_k1`` and ``gmm_k3``.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bgsub.errors import InputError
from bgsub.methods import method_class
from bgsub.metrics import sweep_thresholds
from bgsub.postprocess import check_postprocess
from bgsub.presets import preset_settings

__all__ = ["SCHEMA_PATH", "Run", "validate_config", "expand_runs", "dataset_has_ground_truth"]

logger = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"
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


def _format_path(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def validate_config(config: dict[str, Any], schema_path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """Validate ``config`` and fill in defaults; raise :class:`InputError` with a one-line message.

    Returns
    -------
    dict
        A copy of the config with defaults set.
    """
    if "methods" not in config:  # a user's own config (make run CONFIG=mine.yaml) may name datasets only
        config = {**config, "methods": {"gmm": preset_settings("default")}}
    schema = yaml.safe_load(Path(schema_path).read_text())
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
        for key in ("threshold", "sweep"):  # JSON Schema lets NaN and infinity through as numbers
            values = settings.get(key, [])
            if not all(math.isfinite(v) for v in (values if isinstance(values, list) else [values])):
                raise InputError(f"config key methods.{name}.{key}: must be finite numbers, got {values!r}")
        sweep = settings.get("sweep")
        if sweep is not None and sweep[1] <= sweep[0]:
            raise InputError(f"config key methods.{name}.sweep: stop ({sweep[1]}) must be above start ({sweep[0]})")
    return config


def expand_runs(methods: dict[str, dict[str, Any]]) -> list[Run]:
    """Turn the ``methods:`` section into runs, checking each method's settings.

    Raises
    ------
    InputError
        On an unknown kind or a setting the method does not take.

    Methods whose kind needs an optional module that is not installed (OpenCV for
    ``opencv_mog2``/``opencv_knn``) are skipped, with one warning naming them all.
    """
    runs = []
    missing: dict[str, list[str]] = {}
    for method, settings in methods.items():
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


def dataset_has_ground_truth(spec: dict[str, Any], root: Path = Path(".")) -> bool:
    """Whether a dataset entry has ground truth (synthetic scenes and CDnet folders with ``groundtruth/``)."""
    if "synthetic" in spec:
        return True
    path = Path(spec["path"])
    path = path if path.is_absolute() else Path(root) / path
    return (path / "groundtruth").is_dir()
