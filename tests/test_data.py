"""The data harness on real data: layouts, splits, cache, bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from bench.cli import main
from bench.data import get_dataset, load_split
from bench.data.images import Crop, crop_resize
from bench.runtime.errors import DataError
from tests.conftest import make_celeba_subset


def test_lfw25_is_embedded_and_split_80_20(tmp_path):
    ds = get_dataset("lfw25")
    train = load_split(ds, "train", tmp_path / "nowhere", tmp_path / "c")
    test = load_split(ds, "test", tmp_path / "nowhere", tmp_path / "c")
    assert train.images.shape == (80, 1, 32, 32) and test.images.shape == (20, 1, 32, 32)
    assert train.images.dtype == np.uint8
    assert train.images.std() > 20  # real faces, not a blank array
    from skimage.data import lfw_subset

    first = np.asarray(lfw_subset()[0])
    corr = np.corrcoef(np.asarray(Image.fromarray((first * 255).astype(np.uint8)).resize(
        (32, 32), Image.Resampling.BILINEAR), dtype=float).ravel(),
        train.images[0, 0].astype(float).ravel())[0, 1]
    assert corr > 0.95  # row 0 is skimage's face 0


@pytest.mark.slow
def test_celeba_shared_counts(shared_data, cache_dir):
    ds = get_dataset("celeba32")
    counts = {s: load_split(ds, s, shared_data, cache_dir).images.shape[0] for s in ds.splits}
    assert counts == {"train": 10000, "val": 500, "test": 2000}


def test_lfw_shared_counts_and_person_disjoint_split(shared_data, cache_dir):
    ds = get_dataset("lfw32")
    train = ds.sources(shared_data, "train")
    test = ds.sources(shared_data, "test")
    assert len(train) + len(test) == 3769
    persons = lambda items: {name.split("/")[0] for name, _ in items}  # noqa: E731
    assert not persons(train) & persons(test)
    assert 0.05 < len(test) / 3769 < 0.15


def test_cli_verify_reports_split_counts(shared_data, cache_dir):
    r = CliRunner().invoke(main, ["data", "verify", "celeba32", "--data-root", str(shared_data),
                                  "--cache-dir", str(cache_dir)])
    assert r.exit_code == 0, r.output
    assert "10000 images" in r.output and "500 images" in r.output and "2000 images" in r.output
    assert "cache checksum ok" in r.output


def test_missing_dataset_is_one_clear_line(tmp_path):
    r = CliRunner().invoke(main, ["data", "prepare", "celeba64", "--data-root", str(tmp_path),
                                  "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 2
    lines = [line for line in r.output.strip().splitlines() if line]
    assert len(lines) == 1 and "Traceback" not in r.output
    assert str(tmp_path / "celeba") in lines[0] and "list_eval_partition.txt" in lines[0]


def test_cache_is_reused_then_rebuilt_when_source_changes(tmp_path, jpeg_files):
    root = make_celeba_subset(tmp_path / "data", jpeg_files)
    ds = get_dataset("celeba32")
    first = load_split(ds, "train", root, tmp_path / "c")
    again = load_split(ds, "train", root, tmp_path / "c")
    assert again.path == first.path and again.manifest["built_at"] == first.manifest["built_at"]
    # replace one image by another real one: new fingerprint, new cache, different pixels
    target = root / "celeba" / "img_align_celeba" / jpeg_files[0].name
    target.unlink()
    target.write_bytes(jpeg_files[20].read_bytes())
    messages = []
    rebuilt = load_split(ds, "train", root, tmp_path / "c", log=messages.append)
    assert rebuilt.path != first.path
    assert any("fingerprint changed" in m for m in messages)
    assert not np.array_equal(np.asarray(rebuilt.images[0]), np.asarray(first.images[0]))


def test_corrupt_image_named_or_skipped(tmp_path, jpeg_files):
    root = make_celeba_subset(tmp_path / "data", jpeg_files)
    bad = root / "celeba" / "img_align_celeba" / jpeg_files[1].name
    bad.unlink()
    bad.write_bytes(jpeg_files[1].read_bytes()[:2000])  # truncated real JPEG
    ds = get_dataset("celeba32")
    with pytest.raises(DataError, match=jpeg_files[1].name):
        load_split(ds, "train", root, tmp_path / "c")
    cached = load_split(ds, "train", root, tmp_path / "c", skip_corrupt=True)
    assert cached.images.shape[0] == 5
    assert [s["name"] for s in cached.manifest["skipped"]] == [jpeg_files[1].name]


def test_partition_listing_missing_images(tmp_path, jpeg_files):
    root = make_celeba_subset(tmp_path / "data", jpeg_files)
    part = root / "celeba" / "list_eval_partition.txt"
    part.write_text(part.read_text() + "999998.jpg 0\n999999.jpg 2\n")
    with pytest.raises(DataError, match=r"lists 2 image\(s\) missing.*999998.jpg, 999999.jpg"):
        load_split(get_dataset("celeba32"), "train", root, tmp_path / "c")


def test_malformed_partition_line_names_file_and_line(tmp_path, jpeg_files):
    root = make_celeba_subset(tmp_path / "data", jpeg_files)
    part = root / "celeba" / "list_eval_partition.txt"
    lines = part.read_text().splitlines()
    lines[2] = lines[2].split()[0] + " train"
    part.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"list_eval_partition.txt:3: malformed"):
        load_split(get_dataset("celeba32"), "train", root, tmp_path / "c")


def _real_rgb(jpeg_files) -> Image.Image:
    return Image.open(jpeg_files[0]).convert("RGB")


def test_modes_convert_consistently(jpeg_files):
    rgb = _real_rgb(jpeg_files)
    crop = Crop(32, 3)
    ref = crop_resize(rgb, crop).astype(int)
    # CMYK round trip and opaque RGBA give the same picture
    assert np.abs(crop_resize(rgb.convert("CMYK"), crop).astype(int) - ref).max() <= 2
    assert np.array_equal(crop_resize(rgb.convert("RGBA"), crop), ref)
    # gray becomes three equal channels
    gray = crop_resize(rgb.convert("L"), crop)
    assert np.array_equal(gray[0], gray[1]) and np.array_equal(gray[1], gray[2])
    # 16-bit gray is scaled, not clipped to white
    g16 = Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
    assert g16.mode.startswith("I;16")
    assert np.abs(crop_resize(g16, crop).astype(int) - gray.astype(int)).max() <= 1
    # transparent pixels are composited over white
    rgba = rgb.convert("RGBA")
    rgba.putalpha(0)
    assert crop_resize(rgba, crop).min() == 255


def test_folder_dataset_and_lsun_lmdb_from_real_images(tmp_path, jpeg_files):
    import lmdb

    files = jpeg_files[:40]
    folder = tmp_path / "imgs"
    folder.mkdir()
    for f in files:
        (folder / f.name).symlink_to(f)
    ds = get_dataset(f"folder:{folder}@32")
    n = sum(load_split(ds, s, None, tmp_path / "c").images.shape[0] for s in ds.splits)
    assert n == 40
    # LSUN layout: keys -> encoded image bytes (webp, as LSUN ships), built from real images
    db = tmp_path / "data" / "lsun" / "bedroom_train_lmdb"
    db.mkdir(parents=True)
    env = lmdb.open(str(db), map_size=1 << 26)
    with env.begin(write=True) as txn:
        for f in files:
            buf = io.BytesIO()
            Image.open(f).save(buf, format="WEBP", quality=90)
            txn.put(f.stem.encode(), buf.getvalue())
    env.close()
    lsun = get_dataset("lsun64")
    train = load_split(lsun, "train", tmp_path / "data", tmp_path / "c")
    test = load_split(lsun, "test", tmp_path / "data", tmp_path / "c")
    assert train.images.shape[1:] == (3, 64, 64)
    assert train.images.shape[0] + test.images.shape[0] == 40
    first_key = lsun.sources(tmp_path / "data", "train")[0][0]
    direct = crop_resize(Image.open(folder / f"{first_key}.jpg"), Crop(64, 3)).astype(int)
    assert np.abs(np.asarray(train.images[0]).astype(int) - direct).mean() < 6  # webp vs jpeg


def test_folder_without_images_is_clear(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no image files"):
        load_split(get_dataset(f"folder:{tmp_path / 'empty'}"), "train", None, tmp_path / "c")


def test_data_list_shows_every_dataset(tmp_path):
    r = CliRunner().invoke(main, ["data", "list", "--data-root", str(tmp_path)])
    assert r.exit_code == 0
    for name in ("celeba32", "celeba64", "celeba128", "lsun64", "lfw32", "lfw64", "lfw128",
                 "lfw25", "fashion-mnist", "folder:PATH"):
        assert name in r.output
    lfw25_line = next(line for line in r.output.splitlines() if line.startswith("lfw25"))
    assert " yes " in lfw25_line  # the embedded default is always found


def test_fashion_mnist_from_debian_package(tmp_path):
    folder = Path("/usr/share/datasets/fashion-mnist")
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
    ds = get_dataset("fashion-mnist")
    train = load_split(ds, "train", tmp_path / "nowhere", tmp_path / "c")
    test = load_split(ds, "test", tmp_path / "nowhere", tmp_path / "c")
    assert train.images.shape == (60000, 1, 32, 32) and test.images.shape == (10000, 1, 32, 32)
    border = np.concatenate([train.images[:, :, :2].ravel(), train.images[:, :, -2:].ravel()])
    assert border.max() == 0  # the 2-pixel zero padding
    assert train.images[:, :, 2:30, 2:30].mean() > 50  # real garments inside


def test_fingerprint_is_content_based_and_travels_with_a_copy(tmp_path, jpeg_files, monkeypatch):
    """A copy of the same files with new mtimes (another machine, a cluster's scratch) gets the
    same fingerprint, so the same cache key and run ids; changed bytes with the size and mtime
    kept get a new one (a stat-based fingerprint would miss that)."""
    import os
    import shutil

    from bench.data import get_dataset
    from tests.conftest import make_celeba_subset

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    ds = get_dataset("celeba32")
    a = make_celeba_subset(tmp_path / "a", jpeg_files, 6, 2)
    b = tmp_path / "b"
    shutil.copytree(a, b, symlinks=False)  # real copies, new inodes
    for f in (b / "celeba" / "img_align_celeba").iterdir():
        os.utime(f, (1_000_000_000, 1_000_000_000))
    assert ds.fingerprint(a) == ds.fingerprint(b)
    target = b / "celeba" / "img_align_celeba" / jpeg_files[0].name
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    assert ds.fingerprint(b) != ds.fingerprint(a)
    # the second look at unchanged files reads the hash index, not the files
    index = next((tmp_path / "cache" / "hash-index").glob("*.json"))
    assert jpeg_files[1].name in index.read_text()


def test_an_interrupted_decode_resumes_where_it_stopped(tmp_path, jpeg_files, monkeypatch):
    import bench.data.cache as cache

    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in jpeg_files[:48]:
        (folder / p.name).write_bytes(p.read_bytes())
    ds = get_dataset(f"folder:{folder}@32")
    clean = np.array(load_split(ds, "train", None, tmp_path / "clean", log=lambda m: None).images)

    monkeypatch.setattr(cache, "COMMIT_EVERY", 8)
    real = cache._decode_one
    calls = []

    def dies_at_20(job):
        calls.append(job[0])
        if job[0] == 20:
            raise KeyboardInterrupt  # Ctrl-C (or a kill) in the middle of the split
        return real(job)

    monkeypatch.setattr(cache, "_decode_one", dies_at_20)
    with pytest.raises(KeyboardInterrupt):
        load_split(ds, "train", None, tmp_path / "c", log=lambda m: None)
    monkeypatch.setattr(cache, "_decode_one", lambda job: (calls.append(job[0]), real(job))[1])
    calls.clear()
    msgs = []
    again = load_split(ds, "train", None, tmp_path / "c", log=msgs.append)
    assert any("resuming an interrupted decode at image 16" in m for m in msgs), msgs
    assert min(calls) == 16  # the 16 images recorded as done were not decoded again
    assert np.array_equal(np.array(again.images), clean)
    assert not list((tmp_path / "c").rglob("*.progress"))


# peak of what the preparing process allocated (Python objects and numpy arrays), which is
# what would run out on 3 million images; the LMDB file's pages that the kernel maps in
# (and drops under pressure) are not allocations
_PREPARE_CHILD = r"""
import sys, tracemalloc
from pathlib import Path
tracemalloc.start()
from bench.data import get_dataset, load_split
c = load_split(get_dataset("lsun64"), "train", Path(sys.argv[1]), Path(sys.argv[2]), log=lambda m: None)
assert c.images.shape[0] > 0
print(tracemalloc.get_traced_memory()[1])
"""


@pytest.mark.slow
def test_preparing_an_lmdb_keeps_memory_flat_as_it_grows(tmp_path):
    """Preparing an LSUN LMDB reads values one at a time: the preparing process's peak
    allocation stays flat when the database grows 4x (reading every value into RAM, as
    before, grew it by the database's size)."""
    import subprocess
    import sys

    import lmdb

    from tests.conftest import ROOT

    rng = np.random.default_rng(0)
    peaks, sizes = {}, {}
    for n in (150, 600):
        root = tmp_path / f"n{n}"
        db = root / "lsun" / "bedroom_train_lmdb"
        db.mkdir(parents=True)
        env = lmdb.open(str(db), map_size=1 << 30)
        total = 0
        with env.begin(write=True) as txn:
            for i in range(n):
                buf = io.BytesIO()  # ~200 KB each: noise does not compress
                Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(buf, "PNG")
                total += len(buf.getvalue())
                txn.put(f"{i:08d}".encode(), buf.getvalue())
        env.close()
        out = subprocess.run([sys.executable, "-c", _PREPARE_CHILD, str(root), str(tmp_path / f"c{n}")],
                             capture_output=True, text=True, cwd=ROOT, check=True)
        peaks[n], sizes[n] = int(out.stdout.strip()) / 2**20, total / 2**20  # MiB
    grew, data_grew = peaks[600] - peaks[150], sizes[600] - sizes[150]
    assert data_grew > 80, sizes
    assert grew < 0.25 * data_grew, (peaks, sizes)
