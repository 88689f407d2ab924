"""Crash, kill, full disks and hostile input: nothing lost, nothing half-written, no traceback."""

from __future__ import annotations

import errno
import io
import json
import os
import random
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
from bench.data import get_dataset, load_split
from bench.errors import DataError
from tests.conftest import ROOT, make_celeba_subset

RUN_ARGS = ["run", "--dataset", "lfw25", "--model", "glo-lap1-pca", "--epochs", "12", "--quiet"]


def _bench(out: Path, cache: Path) -> list[str]:
    return [sys.executable, "-m", "bench.cli", *RUN_ARGS, "--out", str(out), "--cache-dir", str(cache)]


def _result(out: Path) -> tuple[dict, bytes]:
    (run_dir,) = (out / "lfw25").iterdir()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
    m = json.loads((run_dir / "metrics.json").read_text())
    numbers = {s: (m[s]["mse"], m[s]["lap1"]) for s in ("train", "test")}
    numbers["spectrum"] = m["spectrum"]["singular_values"]
    return numbers, (run_dir / "z.npy").read_bytes()


def test_kill_9_at_random_moments_then_resume_gives_identical_metrics(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cache = tmp_path / "cache"
    t0 = time.monotonic()
    subprocess.run(_bench(tmp_path / "straight", cache), check=True, env=env, cwd=ROOT,
                   capture_output=True)
    duration = time.monotonic() - t0
    seed = int(os.environ.get("KILL_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    kills = []
    for _ in range(5):
        proc = subprocess.Popen(_bench(tmp_path / "killed", cache), env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # each attempt gets at most 0.35 of the straight run's time, so the first two
        # attempts always die mid-run whatever the seed; later ones may finish first
        at = rng.uniform(0.5, 0.35 * duration)
        try:
            proc.wait(timeout=at)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills.append(round(at, 2))
    subprocess.run(_bench(tmp_path / "killed", cache), check=True, env=env, cwd=ROOT,
                   capture_output=True)
    print(f"kill seed {seed}: killed at {kills} s of a {duration:.1f} s run")
    assert len(kills) >= 2, f"too few kills landed mid-run: {kills}"
    straight, killed = _result(tmp_path / "straight"), _result(tmp_path / "killed")
    assert killed[0] == straight[0]  # bitwise: same floats
    assert killed[1] == straight[1]


def test_out_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    r = CliRunner().invoke(main, [*RUN_ARGS, "--model", "pca", "--out", str(tmp_path / "afile" / "runs"),
                                  "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "cannot write the run directory" in r.output and "--out" in r.output


def test_disk_full_while_writing_results_leaves_nothing_marked_complete(tmp_path, monkeypatch):
    import bench.artifacts as artifacts

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
def real_jpeg(shared_data) -> bytes:
    return next((shared_data / "celeba" / "img_align_celeba").glob("*.jpg")).read_bytes()


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
def test_fuzz_partition_file(tmp_path_factory, celeba_jpegs, lines):
    root = make_celeba_subset(tmp_path_factory.mktemp("pt"), celeba_jpegs, 2, 1)
    part = root / "celeba" / "list_eval_partition.txt"
    part.write_text(part.read_text() + "\n".join(lines) + "\n", encoding="utf-8")
    try:
        load_split(get_dataset("celeba32"), "train", root, root / "cache", log=lambda m: None)
    except DataError as e:
        assert "list_eval_partition.txt" in str(e)


@FUZZ
@given(lines=st.lists(st.text(alphabet="0123456789.jpg -1\t", max_size=60), max_size=5))
def test_fuzz_attribute_file(tmp_path_factory, celeba_jpegs, shared_data, lines):
    root = make_celeba_subset(tmp_path_factory.mktemp("at"), celeba_jpegs, 2, 1)
    head = (shared_data / "celeba" / "list_attr_celeba.txt").read_text().splitlines()[:4]
    (root / "celeba" / "list_attr_celeba.txt").write_text("\n".join(head + lines) + "\n")
    try:
        header, rows = get_dataset("celeba32").attributes(root)
        assert len(header) == 40 and all(v.shape == (40,) for v in rows.values())
    except DataError as e:
        assert "list_attr_celeba.txt:" in str(e)


def test_lmdb_with_a_corrupt_value(tmp_path, celeba_jpegs):
    import lmdb

    db = tmp_path / "lsun" / "bedroom_train_lmdb"
    db.mkdir(parents=True)
    env = lmdb.open(str(db), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for f in celeba_jpegs[:30]:
            txn.put(f.stem.encode(), f.read_bytes())
        txn.put(b"zz-corrupt", celeba_jpegs[0].read_bytes()[:500])
    env.close()
    lsun = get_dataset("lsun64")
    split = next(s for s in lsun.splits if "zz-corrupt" in [k for k, _ in lsun.sources(tmp_path, s)])
    with pytest.raises(DataError, match="zz-corrupt"):
        load_split(lsun, split, tmp_path, tmp_path / "c")
    c = load_split(lsun, split, tmp_path, tmp_path / "c", skip_corrupt=True)
    assert [s["name"] for s in c.manifest["skipped"]] == ["zz-corrupt"]


def test_damaged_cache_is_detected_and_rebuilt(tmp_path, celeba_jpegs):
    root = make_celeba_subset(tmp_path / "d", celeba_jpegs)
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
