"""numba's on-disk cache follows a change in any kernel's source, not only in the caller's own file
(bgsub.kernels.cache)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bgsub.kernels.cache import STAMP_NAME, module_digests, sources_digest

ROOT = Path(__file__).resolve().parent.parent

CALLEE = """
import numba


@numba.njit(cache=True)
def value():
    return {value}
"""

CALLER = """
import numba

from bgsub.kernels._probe_callee import value


@numba.njit(cache=True)
def call():
    return value()
"""

OTHER = """
import numba


@numba.njit(cache=True)
def other():
    return 7
"""

RUN = """
import json

import bgsub
from bgsub.kernels._probe_caller import call
from bgsub.kernels._probe_other import other

result, unrelated = call(), other()
print(json.dumps({"file": bgsub.__file__, "value": result, "hits": sum(call.stats.cache_hits.values()),
                  "other_hits": sum(other.stats.cache_hits.values())}))
"""


def _copy_with_probe(tmp_path: Path) -> Path:
    """A copy of the package whose kernels hold a caller in one file and its callee in another."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "bgsub", src / "bgsub", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (src / "bgsub" / "kernels" / "_probe_callee.py").write_text(CALLEE.format(value=1))
    (src / "bgsub" / "kernels" / "_probe_caller.py").write_text(CALLER)
    (src / "bgsub" / "kernels" / "_probe_other.py").write_text(OTHER)
    return src


def _run(src: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "NUMBA_DISABLE_JIT")}
    env["PYTHONPATH"] = str(src)
    done = subprocess.run([sys.executable, "-c", RUN], cwd=src, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(out["file"]).resolve().is_relative_to(src.resolve())  # the copy ran, not the installed package
    return out


@pytest.mark.skipif(sys.platform == "win32", reason="file timestamps and the cache folder are POSIX-tested only")
def test_a_change_in_a_called_kernels_file_is_compiled_afresh(tmp_path: Path) -> None:
    src = _copy_with_probe(tmp_path)
    kernels = src / "bgsub" / "kernels"
    first = _run(src)
    assert (first["value"], first["hits"], first["other_hits"]) == (1, 0, 0)  # compiled, then ...
    second = _run(src)
    assert (second["value"], second["hits"], second["other_hits"]) == (1, 1, 1)  # ... loaded from the cache
    stamp = json.loads((kernels / "__pycache__" / STAMP_NAME).read_text())
    assert stamp == {"package": sources_digest(kernels), "modules": module_digests(kernels)}
    # the callee's file changes, the caller's does not: numba alone would load the caller with the old callee
    (kernels / "_probe_callee.py").write_text(CALLEE.format(value=2))
    third = _run(src)
    assert (third["value"], third["hits"]) == (2, 0)
    assert third["other_hits"] == 1  # a module that imports neither keeps its cache
    assert _run(src)["hits"] == 1  # and the new code is cached in turn


def test_a_modules_digest_follows_the_package_modules_it_imports(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("from pkg.a import x\n")
    (tmp_path / "c.py").write_text("from pkg import b\n")
    (tmp_path / "d.py").write_text("import numpy\n")
    before = module_digests(tmp_path, "pkg")
    (tmp_path / "a.py").write_text("x = 2\n")
    after = module_digests(tmp_path, "pkg")
    assert [m for m in sorted(before) if before[m] != after[m]] == ["a", "b", "c"]  # c through b


def test_sources_digest_covers_every_module_by_name_and_content(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    first = sources_digest(tmp_path)
    (tmp_path / "a.py").write_text("x = 2\n")
    assert sources_digest(tmp_path) != first
    (tmp_path / "a.py").write_text("x = 1\n")
    assert sources_digest(tmp_path) == first
    (tmp_path / "a.py").rename(tmp_path / "b.py")
    assert sources_digest(tmp_path) != first
    (tmp_path / "notes.txt").write_text("not a module")
    (tmp_path / "b.py").rename(tmp_path / "a.py")
    assert sources_digest(tmp_path) == first
