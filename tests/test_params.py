"""Settings of the methods: get_params from the constructor signature, declared constraints, no import cycle."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from bgsub.gmm import GMMMethod
from bgsub.methods import METHOD_KINDS, make_method, method_class
from bgsub.online import AdaptiveGaussianMixture
from bgsub.params import Parametrised

ROOT = Path(__file__).resolve().parents[1]


def _kinds() -> list[str]:
    kinds = []
    for kind in METHOD_KINDS:
        try:
            method_class(kind)
        except ModuleNotFoundError:  # OpenCV peers without cv2
            continue
        kinds.append(kind)
    return kinds


@pytest.mark.parametrize("kind", _kinds())
def test_get_params_names_every_constructor_setting_and_round_trips(kind: str) -> None:
    method = make_method(kind)
    params = method.get_params()
    names = set()
    for klass in type(method).__mro__:
        if "__init__" in klass.__dict__ and issubclass(klass, Parametrised) and klass is not Parametrised:
            names |= {p.name for p in inspect.signature(klass.__init__).parameters.values()
                      if p.kind == p.KEYWORD_ONLY or p.kind == p.POSITIONAL_OR_KEYWORD} - {"self"}
    if kind == "online_gmm":  # **params go to the adaptive model
        names |= set(AdaptiveGaussianMixture().get_params())
    assert set(params) == names
    assert make_method(kind, **params).get_params() == params
    declared = set(method._parameter_constraints)
    if kind == "online_gmm":
        declared |= set(AdaptiveGaussianMixture._parameter_constraints)
    assert declared >= set(params)


@pytest.mark.parametrize(
    ("cls", "bad", "name"),
    [(GMMMethod, {"spatial_gate": 1.5}, "spatial_gate"), (GMMMethod, {"n_components": 0}, "n_components"),
     (GMMMethod, {"rank_by": "size"}, "rank_by"), (GMMMethod, {"shadow_tau": 0.6, "shadow_max": 0.5}, "shadow_tau"),
     (AdaptiveGaussianMixture, {"n_mixtures": 256}, "n_mixtures"),
     (AdaptiveGaussianMixture, {"backend": "gpu"}, "backend")],
)
def test_bad_settings_raise_one_line_naming_the_parameter(cls: type, bad: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name) as err:
        cls(**bad)
    assert "\n" not in str(err.value)


def test_bgsub_imports_have_no_cycle_and_sit_at_module_top() -> None:
    modules = {".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): f
               for f in (ROOT / "bgsub").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        top = {id(node) for stmt in tree.body for node in ast.walk(stmt)
               if not isinstance(stmt, (ast.FunctionDef, ast.ClassDef))}
        graph[name] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            targets = [t for t in targets if t in modules and t != name]
            assert not targets or id(node) in top, f"{name} imports {targets} inside a function"
            graph[name] |= set(targets)
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join(path + (name,))}"
        if name not in done:
            for dep in graph[name]:
                visit(dep, path + (name,))
            done.add(name)

    for name in graph:
        visit(name, ())
