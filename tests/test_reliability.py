"""Crash, kill, full disks and hostile input: nothing lost, nothing half-written, no traceback."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bench.cli import main
from bench.core.context import RunContext
from bench.data import get_dataset, load_split
from bench.runs.listing import runs_table
from bench.runtime.errors import DataError
from tests.conftest import ATTRIBUTES, ROOT, SHARED_DATA, make_celeba_subset

RUN_ARGS = ["run", "--dataset", "lfw25", "--model", "glo-lap1-pca", "--epochs", "12", "--quiet"]
KILL_METHODS = ("glo-lap1-pca", "gan-mse", "vae-mse")  # one per family with a training loop

# A bench run that SIGKILLs itself in the middle of writing its 2nd checkpoint: after the
# previous checkpoint was copied to prev.pt and half of the new one is on disk, before the
# rename -- the worst moment for a checkpoint write. The resume takes epoch 0's checkpoint
# (last.pt, still whole, or prev.pt, its copy).
_KILL_IN_WRITE = r"""
import os, signal, sys
import bench.core.context as context
real = context.atomic_write_bytes
seen = []
def dying(path, data):
    if path.name == "last.pt":
        seen.append(path)
        if len(seen) == 2:
            with open(path.with_name(".last.pt.partial"), "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
    return real(path, data)
context.atomic_write_bytes = dying
from bench.cli import main
sys.argv = ["bench", *sys.argv[1:]]
main()
"""


def _args(method: str, out: Path, cache: Path) -> list[str]:
    return ["run", "--dataset", "lfw25", "--model", method, "--epochs", "6", "--quiet",
            "--out", str(out), "--cache-dir", str(cache)]


def _result(out: Path) -> tuple[dict, bytes]:
    (run_dir,) = (out / "lfw25").iterdir()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
    m = json.loads((run_dir / "metrics.json").read_text())
    numbers = {s: (m[s]["mse"], m[s]["lap1"]) for s in ("train", "test")}
    numbers["spectrum"] = m["spectrum"]["singular_values"]
    return numbers, (run_dir / "z.npy").read_bytes()


def _kill_when(cmd: list[str], ready, timeout: float = 120.0) -> None:
    """Start ``cmd``; SIGKILL it as soon as ``ready()`` is true (polled every 10 ms)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < timeout:
        if ready():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run ended ({proc.returncode}) before the kill"


def _run_dir(out: Path) -> Path:
    found = list((out / "lfw25").glob("*")) if (out / "lfw25").is_dir() else []
    return found[0] if found else out / "lfw25" / "none"


@pytest.mark.slow
@pytest.mark.parametrize("method", KILL_METHODS)
def test_kill_9_at_each_moment_then_resume_gives_identical_metrics(tmp_path, method):
    """Killed with SIGKILL right after its first checkpoint, in the middle of writing a
    checkpoint, and during evaluation: each time the next run says it resumed from a
    checkpoint, and ends bitwise where an uninterrupted run ends."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cache = tmp_path / "cache"
    bench = [sys.executable, "-m", "bench.cli"]
    subprocess.run([*bench, *_args(method, tmp_path / "straight", cache)], check=True, env=env,
                   cwd=ROOT, capture_output=True)
    straight = _result(tmp_path / "straight")

    def ckpt_exists(out):
        return lambda: (_run_dir(out) / "ckpt" / "last.pt.sha256").exists()

    def evaluating(out):
        def ready():
            log = _run_dir(out) / "log.txt"
            return log.exists() and "fit done" in log.read_text()
        return ready

    moments = {
        "after the first checkpoint": (lambda out: [*bench, *_args(method, out, cache)],
                                       ckpt_exists, r"last\.pt \(epoch [0-4]\)"),
        "while writing a checkpoint": (lambda out: [sys.executable, "-c", _KILL_IN_WRITE,
                                                    *_args(method, out, cache)],
                                       None, r"(last|prev)\.pt \(epoch 0\)"),
        "during evaluation": (lambda out: [*bench, *_args(method, out, cache)],
                              evaluating, r"last\.pt \(epoch 5\)"),
    }
    for i, (moment, (cmd, when, resumed_from)) in enumerate(moments.items()):
        out = tmp_path / f"killed{i}"
        if when is None:  # it kills itself
            proc = subprocess.run(cmd(out), env=env, cwd=ROOT, capture_output=True)
            assert proc.returncode == -signal.SIGKILL, (moment, proc.stderr[-2000:])
        else:
            _kill_when(cmd(out), when(out))
        if moment == "after the first checkpoint":  # `bench runs` says so, with its progress
            (row,) = runs_table(out).itertuples()
            assert row.state == "interrupted", row
            logged = re.findall(r"epoch=\d+ step=(\d+)", (_run_dir(out) / "log.txt").read_text())
            assert row.progress == "-" if not logged else re.fullmatch(
                rf"{int(logged[-1]):,}/[\d,]+ steps \(\d+%\)", row.progress), row
        subprocess.run([*bench, *_args(method, out, cache)], check=True, env=env, cwd=ROOT,
                       capture_output=True)
        log = (_run_dir(out) / "log.txt").read_text()
        assert re.search(r"resuming from \S+" + resumed_from, log), (moment, log[-1500:])
        assert _result(out) == straight, moment  # bitwise: same floats, same codes
        if moment == "during evaluation":  # all training ran in the killed process
            # its final checkpoint carries its whole fit (set-up included, and writing it: the
            # side file counts to after the write), so the finished run's earlier seconds are
            # the killed process's "fit done" time, not a part of it
            # (both measured in the killed process: no comparison across processes)
            first_fit = float(re.search(r"fit done in ([0-9.]+)s", log).group(1))
            timing = json.loads((_run_dir(out) / "metrics.json").read_text())["timing"]
            earlier = timing["fit_s_earlier_processes"]
            assert 0.9 * first_fit - 0.05 <= earlier <= first_fit + 0.05, (timing, first_fit)
            assert earlier <= timing["fit_s"]


class _Killed(BaseException):
    """What a SIGKILL does to a checkpoint write: it stops there (BaseException, so no
    `except Exception` in the code under test can carry on as if it had not happened)."""


def _save_killed_at(monkeypatch, folder: Path, epoch: int, step: int | None) -> bool:
    """Save checkpoint ``epoch`` in ``folder``, stopped just before its ``step``-th rename or
    link (None: not stopped). Returns whether the stop happened."""
    calls = [0]
    real_replace, real_link = os.replace, os.link

    def counted(real):
        def call(*args, **kwargs):
            calls[0] += 1
            if calls[0] == step:
                raise _Killed
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(os, "replace", counted(real_replace))
    monkeypatch.setattr(os, "link", counted(real_link))
    ctx = RunContext(folder, ckpt_min_interval_s=0.0)
    try:
        ctx.save_checkpoint({"epoch": epoch}, final=True)
        return False
    except _Killed:
        return True
    finally:
        ctx.close()
        monkeypatch.setattr(os, "replace", real_replace)
        monkeypatch.setattr(os, "link", real_link)


def _resumable_epoch(folder: Path) -> int | None:
    ctx = RunContext(folder)
    state = ctx.load_checkpoint()
    ctx.close()
    return None if state is None else state["epoch"]


def test_a_kill_at_any_step_of_a_checkpoint_write_leaves_one_to_resume(tmp_path, monkeypatch):
    """The standard: a kill loses at most the last checkpoint interval. A checkpoint write is
    several renames (the new last.pt, its checksum, the rotation to prev.pt); killed before any
    one of them, and again while the next process writes its own checkpoint from whatever
    the first kill left, a resume must still find a checkpoint, never an older one than it
    found before the second kill. (CI saw a 2-process run killed between the rotation of
    last.pt and of its checksum restart from scratch.)"""
    steps = 1
    # how many renames one write makes, rotation included: count until a stop no longer hits
    while True:
        folder = tmp_path / f"probe{steps}"
        for epoch in (0, 1):
            _save_killed_at(monkeypatch, folder, epoch, None)
        if not _save_killed_at(monkeypatch, folder, 2, steps):
            break
        steps += 1
    assert steps > 3  # the rotation is in what was stopped, not only the final write
    for first in range(1, steps):
        for second in range(1, steps + 1):
            folder = tmp_path / f"k{first}-{second}"
            for epoch in (0, 1):
                _save_killed_at(monkeypatch, folder, epoch, None)
            assert _save_killed_at(monkeypatch, folder, 2, first)
            after_first = _resumable_epoch(folder)
            assert after_first in (1, 2), (first, after_first)
            _save_killed_at(monkeypatch, folder, 3, second)  # the resumed process's next one
            after_second = _resumable_epoch(folder)
            assert after_second is not None and after_second >= after_first, \
                (first, second, after_first, after_second)
            if second == steps:  # not stopped: its own checkpoint is the one to resume
                assert after_second == 3, (first, after_second)


def test_a_resumed_run_counts_the_training_seconds_of_earlier_processes(tmp_path):
    """Fit seconds survive a restart: the checkpoint carries the training time so far, and
    the next process starts counting from there (the budget runs resume across sessions)."""
    first = RunContext(tmp_path, ckpt_min_interval_s=0.0)
    first.load_checkpoint()  # training starts
    time.sleep(0.3)
    assert first.save_checkpoint({"epoch": 0}, final=False)
    first.close()
    second = RunContext(tmp_path)
    state = second.load_checkpoint()
    assert state["epoch"] == 0 and "fit_s" not in state
    assert 0.3 <= second.fit_s_earlier < 5
    time.sleep(0.2)
    assert second.save_checkpoint({"epoch": 1}, final=True)
    third = RunContext(tmp_path)
    third.load_checkpoint()
    assert third.fit_s_earlier >= 0.5  # both processes' seconds


def test_out_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    r = CliRunner().invoke(main, [*RUN_ARGS, "--model", "pca", "--out", str(tmp_path / "afile" / "runs"),
                                  "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "cannot write the run directory" in r.output and "--out" in r.output


def test_disk_full_while_writing_results_leaves_nothing_marked_complete(tmp_path, monkeypatch):
    import bench.runs.artifacts as artifacts

    real = artifacts.atomic_write_json

    def full_disk(path, obj):
        if Path(path).name == "metrics.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, obj)

    monkeypatch.setattr(artifacts, "atomic_write_json", full_disk)
    r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", "pca", "--out",
                                  str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "c"), "--quiet"])
    assert r.exit_code == 2 and "No space left on device" in r.output and "not marked complete" in r.output
    (run_dir,) = (tmp_path / "runs" / "lfw25").iterdir()
    assert not (run_dir / "metrics.json").exists()
    assert json.loads((run_dir / "status.json").read_text())["state"] != "complete"


# ------------------------------------------------------------------------------ fuzzing
@pytest.fixture(scope="module")
def real_jpeg(jpeg_files) -> bytes:
    """A JPEG to corrupt: made in the test, and (when ../shared/data is there) a real one."""
    return jpeg_files[0].read_bytes()


def _corrupt(data: bytes, op: str, where: float, value: int) -> bytes:
    cut = int(where * len(data))
    if op == "truncate":
        return data[:cut]
    if op == "zero":
        return b""
    if op == "flip":
        b = bytearray(data)
        for k in range(8):
            b[(cut + 97 * k) % len(b)] ^= value or 1
        return bytes(b)
    if op == "garbage_header":
        return bytes([value]) * 64 + data[64:]
    return data[:cut] + bytes([value]) * 512  # "tail"


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(op=st.sampled_from(["truncate", "zero", "flip", "garbage_header", "tail"]),
       where=st.floats(0.0, 1.0), value=st.integers(0, 255), skip=st.booleans())
def test_fuzz_corrupt_files_error_cleanly(tmp_path_factory, real_jpeg, op, where, value, skip):
    folder = tmp_path_factory.mktemp("fz")
    (folder / "good.jpg").write_bytes(real_jpeg)
    (folder / "bad.jpg").write_bytes(_corrupt(real_jpeg, op, where, value))
    ds = get_dataset(f"folder:{folder}@32")
    for split in ds.splits:
        try:
            c = load_split(ds, split, None, folder / "cache", skip_corrupt=skip, log=lambda m: None)
        except DataError as e:
            assert not skip and "bad.jpg" in str(e) and "--skip-corrupt" in str(e)
            continue
        assert c.images.dtype == np.uint8 and c.images.shape[1:] == (3, 32, 32)
        assert len(c.manifest["skipped"]) <= 1


@FUZZ
@given(mode=st.sampled_from(["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr", "HSV"]),
       w=st.integers(1, 400), h=st.integers(1, 400), fmt=st.sampled_from(["PNG", "TIFF", "JPEG", "WEBP", "BMP", "GIF"]))
def test_fuzz_modes_and_sizes_decode_or_error_cleanly(tmp_path_factory, real_jpeg, mode, w, h, fmt):
    folder = tmp_path_factory.mktemp("md")
    img = Image.open(io.BytesIO(real_jpeg)).resize((w, h))
    try:
        img = img.convert(mode) if mode not in ("I;16", "I", "F") else Image.fromarray(
            np.asarray(img.convert("L"), dtype={"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]) * (257 if mode == "I;16" else 1))
        buf = io.BytesIO()
        img.save(buf, format=fmt)
    except (OSError, ValueError, KeyError, TypeError):
        return  # PIL cannot write this mode in this format: nothing to load
    (folder / f"img.{fmt.lower()}").write_bytes(buf.getvalue())
    ds = get_dataset(f"folder:{folder}@32")
    total = 0
    for split in ds.splits:
        try:
            total += load_split(ds, split, None, folder / "cache", log=lambda m: None).images.shape[0]
        except DataError as e:
            assert "img." in str(e)
            return
    assert total == 1


@FUZZ
@given(lines=st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=30), max_size=6))
def test_fuzz_partition_file(tmp_path_factory, jpeg_files, lines):
    root = make_celeba_subset(tmp_path_factory.mktemp("pt"), jpeg_files, 2, 1)
    part = root / "celeba" / "list_eval_partition.txt"
    part.write_text(part.read_text() + "\n".join(lines) + "\n", encoding="utf-8")
    try:
        load_split(get_dataset("celeba32"), "train", root, root / "cache", log=lambda m: None)
    except DataError as e:
        assert "list_eval_partition.txt" in str(e)


@FUZZ
@given(lines=st.lists(st.text(alphabet="0123456789.jpg -1\t", max_size=60), max_size=5))
def test_fuzz_attribute_file(tmp_path_factory, jpeg_files, lines):
    root = make_celeba_subset(tmp_path_factory.mktemp("at"), jpeg_files, 2, 1)
    real = SHARED_DATA / "celeba" / "list_attr_celeba.txt"
    if jpeg_files[0].is_relative_to(SHARED_DATA) and real.is_file():
        head = real.read_text().splitlines()[:4]
    else:  # the official format: a count line, the 40 names, then one row of +-1 per image
        head = ["2", " ".join(ATTRIBUTES)] + [
            f"{p.name} " + " ".join("1" if (i + k) % 3 == 0 else "-1" for k in range(40))
            for i, p in enumerate(jpeg_files[:2])]
    (root / "celeba" / "list_attr_celeba.txt").write_text("\n".join(head + lines) + "\n")
    try:
        header, rows = get_dataset("celeba32").attributes(root)
        assert len(header) == 40 and all(v.shape == (40,) for v in rows.values())
    except DataError as e:
        assert "list_attr_celeba.txt:" in str(e)


def test_lmdb_with_a_corrupt_value(tmp_path, jpeg_files):
    import lmdb

    db = tmp_path / "lsun" / "bedroom_train_lmdb"
    db.mkdir(parents=True)
    env = lmdb.open(str(db), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for f in jpeg_files[:30]:
            txn.put(f.stem.encode(), f.read_bytes())
        txn.put(b"zz-corrupt", jpeg_files[0].read_bytes()[:500])
    env.close()
    lsun = get_dataset("lsun64")
    split = next(s for s in lsun.splits if "zz-corrupt" in [k for k, _ in lsun.sources(tmp_path, s)])
    with pytest.raises(DataError, match="zz-corrupt"):
        load_split(lsun, split, tmp_path, tmp_path / "c")
    c = load_split(lsun, split, tmp_path, tmp_path / "c", skip_corrupt=True)
    assert [s["name"] for s in c.manifest["skipped"]] == ["zz-corrupt"]


def test_damaged_cache_is_detected_and_rebuilt(tmp_path, jpeg_files):
    root = make_celeba_subset(tmp_path / "d", jpeg_files)
    ds = get_dataset("celeba32")
    first = load_split(ds, "train", root, tmp_path / "c")
    good = np.array(first.images)
    raw = bytearray(first.path.read_bytes())
    raw[-10] ^= 0xFF
    first.path.write_bytes(bytes(raw))
    msgs = []
    again = load_split(ds, "train", root, tmp_path / "c", log=msgs.append)
    assert any("damaged" in m for m in msgs)
    assert np.array_equal(np.array(again.images), good)
