"""One atomic-write helper (bgsub.io.atomic_write) and every writer in the package goes through it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from bgsub import io as bio
from tests.conftest import ROOT


def _trace(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record os.fsync (by the path of its descriptor) and os.replace calls, in order."""
    calls: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def traced_fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def traced_replace(src, dst) -> None:
        calls.append(("replace", f"{src} -> {dst}"))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", traced_fsync)
    monkeypatch.setattr(os, "replace", traced_replace)
    return calls


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads descriptor paths from /proc")
def test_atomic_write_syncs_the_file_then_renames_then_syncs_the_folder(tmp_path: Path, monkeypatch):
    target = tmp_path / "out" / "a.csv"
    calls = _trace(monkeypatch)
    with bio.atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".a.") and tmp != target
        tmp.write_bytes(b"x,y\n1,2\n")
        assert not target.exists()  # nothing at the target while writing
    assert target.read_bytes() == b"x,y\n1,2\n"
    assert [p.name for p in target.parent.iterdir()] == ["a.csv"]
    assert calls == [
        ("fsync", str(tmp)),  # the data reach the disk before the rename ...
        ("replace", f"{tmp} -> {target}"),
        ("fsync", str(target.parent)),  # ... and the rename itself after it
    ]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~bio._UMASK)


def test_atomic_write_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path):
    target = tmp_path / "model.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"), bio.atomic_write(target) as tmp:
        tmp.write_bytes(b"half of the new")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_a_failed_fsync_leaves_no_new_file(tmp_path: Path, monkeypatch):
    target = tmp_path / "summary.csv"

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="Input/output"), bio.atomic_write(target) as tmp:
        tmp.write_text("a\n")
    assert list(tmp_path.iterdir()) == []


def test_writers_give_the_same_bytes_as_writing_directly(tmp_path: Path):
    import imageio.v3 as iio

    image = (np.arange(24 * 32, dtype=np.uint32).reshape(24, 32) % 2 * 255).astype(np.uint8)
    bio.write_image(tmp_path / "bin000001.png", image)
    iio.imwrite(tmp_path / "direct.png", image, extension=".png")
    assert (tmp_path / "bin000001.png").read_bytes() == (tmp_path / "direct.png").read_bytes()


# Calls that write a file; in bgsub each must write to the temporary path of atomic_write (``tmp``) or to a
# file opened on it (``fh``), or to memory (``buffer``). Folders built beside their target (masks/, synthetic
# scenes, the command line's output) are put in place by bgsub.io.replace_folder: no os.replace outside io.py.
TO_PATH = re.compile(r"(\.to_csv|np\.savez\w*|imwrite|\.savefig|\]\.save|open_memmap)\(\s*(?P<arg>[^,)]*)")
ON_PATH = re.compile(r"(?P<arg>[\w.()\[\]/\" ]+)\.(write_text|write_bytes)\(")


def writer_offenders(source: str) -> list[str]:
    """Lines of ``source`` that write a file other than through :func:`bgsub.io.atomic_write`."""
    offenders = []
    lines = source.splitlines()
    for number, line in enumerate(lines, 1):
        code = line.split("#")[0]
        for match in [*TO_PATH.finditer(code), *ON_PATH.finditer(code)]:
            arg = match["arg"].strip() or lines[number].strip().split(",")[0]  # a call split after "("
            if arg.split()[-1] not in {"tmp", "fh", "buffer"}:  # buffer: in memory
                offenders.append(f"{number}: {line.strip()}")
        if "os.replace(" in code:  # files and folders are put in place by bgsub.io's helpers
            offenders.append(f"{number}: {line.strip()}")
    return offenders


def test_the_writer_scan_finds_direct_writes():
    assert writer_offenders('table.to_csv(args.out, index=False)\nnp.savez(\n    path, a=1)\n') == [
        "1: table.to_csv(args.out, index=False)", "2: np.savez(",
    ]
    assert writer_offenders('(folder / "t.txt").write_text("1")\nos.replace(tmp, path)\n') == [
        '1: (folder / "t.txt").write_text("1")', "2: os.replace(tmp, path)",
    ]
    assert writer_offenders("with atomic_write(p) as tmp:\n    tmp.write_text(page)\nnp.savez(\n    fh, a=1)\n") == []


def test_every_writer_in_the_package_writes_through_atomic_write():
    offenders = []
    for path in sorted((ROOT / "bgsub").rglob("*.py")):
        if path.name != "io.py":
            offenders += [f"{path.relative_to(ROOT)}:{o}" for o in writer_offenders(path.read_text())]
    assert offenders == [], "write these through bgsub.io.atomic_write:\n" + "\n".join(offenders)
