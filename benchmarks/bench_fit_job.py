"""Where a fit job's time goes: the default preset fitted on highway's 469 training frames in a fresh process.

Run from the project root::

    .venv/bin/python benchmarks/bench_fit_job.py [--frames 469]

A fresh interpreter (as a Snakemake job starts) times, in order: Python start-up and the imports of
``bgsub.pipeline`` (numpy, pandas, scipy, imageio ...); decoding the training JPEGs (one thread, as
``Source.read``, and again on all cores with a thread pool); the first ``fit`` (the numba kernels are
loaded from their on-disk cache, or compiled when the cache is cold or stale); the same fit again in
the same process (warm: the fit's own work); writing ``model.npz``. The first fit's extra time over the
second is the cost of loading (or compiling) the compiled kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HIGHWAY = Path("/work/shared/data/highway")

CHILD = r"""
import time, json, sys
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
import bgsub.pipeline  # noqa: F401  (what the fit rule's script imports)
from bgsub.datasets import open_sequence
from bgsub.methods import make_method
from bgsub.models import save_model
from bgsub.presets import preset_settings
t_import = time.perf_counter() - t0
seq = open_sequence("highway", {{"path": {path!r}}})
numbers = list(range(1, {n} + 1))
t = time.perf_counter(); frames = seq.source.read(numbers); t_decode = time.perf_counter() - t
from concurrent.futures import ThreadPoolExecutor
from bgsub.io import read_image
import os
t = time.perf_counter()
with ThreadPoolExecutor(os.cpu_count()) as pool:
    list(pool.map(read_image, [seq.source.files[i - 1] for i in numbers]))
t_decode_threads = time.perf_counter() - t
s = preset_settings("default")
for key in ("kind", "postprocess", "threshold", "sweep"):
    s.pop(key)
t = time.perf_counter(); m = make_method("gmm", **s).fit(frames); t_fit1 = time.perf_counter() - t
t = time.perf_counter(); m = make_method("gmm", **s).fit(frames); t_fit2 = time.perf_counter() - t
t = time.perf_counter(); m.calibrate(frames); t_calibrate = time.perf_counter() - t
import tempfile, pathlib
with tempfile.TemporaryDirectory() as d:
    t = time.perf_counter(); save_model(pathlib.Path(d) / "model.npz", m); t_save = time.perf_counter() - t
print(json.dumps(dict(import_=t_import, decode=t_decode, decode_threads=t_decode_threads, fit_first=t_fit1,
                      fit_warm=t_fit2, calibrate_warm=t_calibrate, save=t_save)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=469)
    args = parser.parse_args()
    code = CHILD.format(root=str(ROOT), path=str(HIGHWAY), n=args.frames)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    total = time.perf_counter() - start
    t = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"fit job of the default on highway, {args.frames} training frames, fresh process; load average"
          f" {os.getloadavg()[0]:.1f}")
    print(f"   {'whole child process':52} {total:7.2f} s")
    print(f"   {'interpreter start + imports of bgsub.pipeline':52} {t['import_']:7.2f} s")
    print(f"   {'decode training JPEGs, 1 thread (Source.read)':52} {t['decode']:7.2f} s")
    print(f"   {'decode training JPEGs, thread pool (all cores)':52} {t['decode_threads']:7.2f} s")
    print(f"   {'first fit (numba kernels loaded or compiled)':52} {t['fit_first']:7.2f} s")
    print(f"   {'second fit, same process (warm)':52} {t['fit_warm']:7.2f} s")
    print(f"   {'  calibrate alone (part of every fit), warm':52} {t['calibrate_warm']:7.2f} s")
    print(f"   {'save model.npz':52} {t['save']:7.2f} s")
    print(f"   {'kernel load/compile = first - second fit':52} {t['fit_first'] - t['fit_warm']:7.2f} s")


if __name__ == "__main__":
    main()
