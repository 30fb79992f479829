"""How much of the test suite's time numba spends compiling: a pytest plugin for ``make test``.

Usage, with an empty cache (what CI and a fresh clone run)::

    NUMBA_CACHE_DIR=$(mktemp -d) PYTHONPATH=benchmarks make test PYTEST_ARGS="-p suite_compiles"

Every test process (each pytest-xdist worker) records numba's compile events (``numba:compile``: a kernel
loaded from the on-disk cache raises none), the outermost only (a kernel's callees compile inside it), with the
test that was running, and the time from its first test's start to its last test's end. At the end the
controller prints, per worker, that time and the seconds it compiled, then the longest compiles: a kernel and
argument types that several tests compile (another K or dtype each) is a place to look when the suite is slow.
``make test`` precompiles the pipeline's common kernels first (``bgsub.precompile``); those are not counted here.
``SUITE_COMPILES_LONGEST=80`` lists the 80 longest compiles instead of 15.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from numba.core import event

#: How many of the longest compiles the summary lists (``SUITE_COMPILES_LONGEST`` in the environment: more).
LONGEST = int(os.environ.get("SUITE_COMPILES_LONGEST", 15))


class _CompileRecorder(event.Listener):
    """Times the outermost ``numba:compile`` events of this process."""

    def __init__(self) -> None:
        self.depth = 0
        self.started = 0.0
        self.test = "(collection)"
        self.compiles: list[tuple[str, str, str, float]] = []

    def on_start(self, ev: event.Event) -> None:
        if self.depth == 0:
            self.started = time.perf_counter()
        self.depth += 1

    def on_end(self, ev: event.Event) -> None:
        self.depth -= 1
        if self.depth == 0:
            function = getattr(ev.data.get("dispatcher"), "py_func", None)
            name = f"{function.__module__}.{function.__qualname__}{_closure(function)}" if function else "?"
            types = ", ".join(str(t) for t in ev.data.get("args", ()))
            self.compiles.append((self.test, name, types, time.perf_counter() - self.started))


def _closure(function: Any) -> str:
    """A kernel made per value by a closure (``_score_block_kernel(K, compensated)``), the values it closes over:
    ``[compensated=True, n_components=3]``; else nothing."""
    cells = zip(function.__code__.co_freevars, function.__closure__ or ())
    values = [f"{name}={cell.cell_contents}" for name, cell in cells if isinstance(cell.cell_contents, (int, str))]
    return f"[{', '.join(values)}]" if values else ""


_recorder = _CompileRecorder()
_span: list[float] = []
_workers: dict[str, dict[str, Any]] = {}


def pytest_configure(config: pytest.Config) -> None:
    event.register("numba:compile", _recorder)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # noqa: ANN201
    _recorder.test = item.nodeid
    started = time.time()
    yield
    _span[:] = [min(_span[0], started) if _span else started, time.time()]


def _report() -> dict[str, Any]:
    return {"span": _span[1] - _span[0] if _span else 0.0, "compiles": _recorder.compiles}


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workeroutput"):  # a pytest-xdist worker: hand the records to the controller
        session.config.workeroutput["suite_compiles"] = _report()


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: without it, one process and no workers
def pytest_testnodedown(node: Any, error: Any) -> None:
    report = getattr(node, "workeroutput", {}).get("suite_compiles")
    if report is not None:
        _workers[getattr(getattr(node, "gateway", None), "id", str(len(_workers)))] = report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    workers = _workers or {os.environ.get("PYTEST_XDIST_WORKER", "main"): _report()}
    write = terminalreporter.write_line
    terminalreporter.section("numba compiles")
    for worker, report in sorted(workers.items()):
        compiled = sum(seconds for *_, seconds in report["compiles"])
        write(f"{worker}: {report['span']:.0f} s from its first test's start to its last's end, "
              f"{compiled:.0f} s of it compiling ({len(report['compiles'])} kernels)")
    every = [(seconds, worker, test, name, types)
             for worker, report in workers.items() for test, name, types, seconds in report["compiles"]]
    for seconds, worker, test, name, types in sorted(every, reverse=True)[:LONGEST]:
        types = types if len(types) <= 100 else types[:97] + "..."
        write(f"  {seconds:5.1f} s {worker} {name} ({types}) in {test}")
