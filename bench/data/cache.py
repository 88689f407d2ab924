"""Decode once, map afterwards.

The first use of (dataset, split) decodes every image into a uint8 N x C x H x W .npy
file under the cache folder, with a manifest beside it. The file name is a hash of the
dataset name, split, crop settings and the source fingerprint, so a changed source can
never be served from an old cache: its key differs and it is rebuilt (and the log says
why). Later runs check the .npy against the SHA-256 in its manifest (a damaged cache is
rebuilt, saying so) and open it as a read-only memory map.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.data.images import Crop, decode
from bench.data.sources import Dataset
from bench.errors import DataError
from bench.io import atomic_write_json, safe_name, sha256_file

CACHE_FORMAT = 1  # bump when decoding changes, so old caches are not reused


def default_cache_dir() -> Path:
    return Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "glo-bench"))


def default_data_root() -> Path:
    return Path(os.environ.get("BENCH_DATA", "data"))


@dataclass
class CachedSplit:
    images: np.ndarray  # uint8 N x C x H x W (read-only memmap)
    manifest: dict
    path: Path

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]


def cache_key(dataset: Dataset, split: str, fingerprint: str) -> str:
    desc = json.dumps({"name": dataset.name, "split": split, "crop": repr(dataset.crop),
                       "fingerprint": fingerprint, "format": CACHE_FORMAT}, sort_keys=True)
    return hashlib.sha256(desc.encode()).hexdigest()[:20]


def _decode_one(args: tuple[int, str, str | bytes, Crop]) -> tuple[int, np.ndarray | None, str]:
    index, _name, source, crop = args
    try:
        return index, decode(source, crop), ""
    except ValueError as e:
        return index, None, str(e)


def _decode_all(dataset: Dataset, sources: list[tuple[str, str | bytes]], out: np.ndarray,
                skip_corrupt: bool, workers: int, label: str) -> list[dict]:
    """Decode into ``out`` (rows in source order); return the skipped items."""
    skipped: list[dict] = []
    jobs = ((i, name, src, dataset.crop) for i, (name, src) in enumerate(sources))
    bar = tqdm(total=len(sources), desc=f"decode {label}", unit="img", leave=False,
               disable=True if len(sources) < 2000 else None)
    if workers > 1 and len(sources) >= 256:
        ctx = mp.get_context("spawn" if os.name == "nt" else "fork")
        with ctx.Pool(workers) as pool:
            results = pool.imap(_decode_one, jobs, chunksize=64)
            for index, arr, err in results:
                _place(index, arr, err, sources, out, skipped, skip_corrupt, dataset, label)
                bar.update()
    else:
        for job in jobs:
            index, arr, err = _decode_one(job)
            _place(index, arr, err, sources, out, skipped, skip_corrupt, dataset, label)
            bar.update()
    bar.close()
    return skipped


def _place(index: int, arr: np.ndarray | None, err: str, sources: list, out: np.ndarray,
           skipped: list[dict], skip_corrupt: bool, dataset: Dataset, label: str) -> None:
    name, src = sources[index]
    if arr is None:
        where = src if isinstance(src, str) else f"{name} (in {label})"
        if not skip_corrupt:
            raise DataError(f"{where}: unreadable image ({err}); remove or replace it, "
                            f"or pass --skip-corrupt to skip and count it")
        skipped.append({"index": index, "name": name, "error": err})
        out[index] = 0
        return
    out[index] = arr


def build_split(dataset: Dataset, data_root: Path, split: str, path: Path, fingerprint: str,
                skip_corrupt: bool = False, workers: int | None = None) -> CachedSplit:
    t0 = time.time()
    res, ch = dataset.resolution, dataset.channels
    array = dataset.load_array(data_root, split)
    skipped: list[dict] = []
    count_listed = None
    if array is None:
        sources = dataset.sources(data_root, split)
        count_listed = len(sources)
        if not sources:
            array = np.zeros((0, ch, res, res), dtype=np.uint8)
    if array is None:
        tmp = path.with_suffix(".npy.partial")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                        shape=(len(sources), ch, res, res))
        workers = workers or min(os.cpu_count() or 1, 8)
        skipped = _decode_all(dataset, sources, out, skip_corrupt, workers,
                              f"{dataset.name}/{split}")
        out.flush()
        if skipped:  # compact: drop the skipped rows
            keep = np.setdiff1d(np.arange(len(sources)), [s["index"] for s in skipped])
            array = np.asarray(out[keep])
            del out
            os.unlink(tmp)
        else:
            del out
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
    if array is not None:
        array = np.ascontiguousarray(array, dtype=np.uint8)
        if array.ndim != 4 or array.shape[1:] != (ch, res, res):
            raise DataError(f"dataset {dataset.name!r}/{split}: decoded shape {array.shape}, "
                            f"expected N x {ch} x {res} x {res}")
        tmp = path.with_suffix(".npy.partial")
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    manifest = {
        "dataset": dataset.name, "split": split, "crop": dataset.crop.describe(),
        "fingerprint": fingerprint, "fingerprint_method": "sha256 of names + sizes + mtimes "
        "(+ index files' bytes; array datasets: sha256 of the array)",
        "count": int(np.load(path, mmap_mode="r").shape[0]), "listed": count_listed,
        "skipped": skipped, "shape": [ch, res, res], "dtype": "uint8",
        "npy_sha256": sha256_file(path), "format": CACHE_FORMAT,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "build_seconds": round(time.time() - t0, 2),
    }
    atomic_write_json(path.with_suffix(".json"), manifest)
    return CachedSplit(np.load(path, mmap_mode="r"), manifest, path)


def load_split(dataset: Dataset, split: str, data_root: Path | None = None,
               cache_dir: Path | None = None, skip_corrupt: bool = False,
               rebuild: bool = False, log=print) -> CachedSplit:
    """The split as a uint8 memmap, decoding it first if no valid cache exists."""
    if split not in dataset.splits:
        raise DataError(f"dataset {dataset.name!r} has no split {split!r} (has {', '.join(dataset.splits)})")
    data_root = Path(data_root) if data_root is not None else default_data_root()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    dataset.locate(data_root)
    fingerprint = dataset.fingerprint(data_root)
    folder = cache_dir / safe_name(dataset.name)
    folder.mkdir(parents=True, exist_ok=True)
    key = cache_key(dataset, split, fingerprint)
    path = folder / f"{split}-{key}.npy"
    manifest_path = path.with_suffix(".json")
    if not rebuild and path.is_file() and manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
            images = np.load(path, mmap_mode="r")
            cached = CachedSplit(images, manifest, path)
            if (manifest.get("fingerprint") == fingerprint and images.shape[0] == manifest["count"]
                    and verify_split(cached)):
                return cached
        except (ValueError, OSError, KeyError):
            pass
        log(f"cache {path} is damaged (checksum or shape mismatch): rebuilding")
    else:
        stale = [p for p in folder.glob(f"{split}-*.json") if p != manifest_path]
        if stale:
            log(f"cache for {dataset.name}/{split}: source fingerprint changed "
                f"({len(stale)} older cache(s) in {folder}): rebuilding")
    return build_split(dataset, data_root, split, path, fingerprint, skip_corrupt)


def split_names(dataset: Dataset, data_root: Path, cached: CachedSplit) -> list[str] | None:
    """Item names of a cached split's rows (skipped corrupt items removed); None for array
    datasets."""
    if dataset.load_array(data_root, cached.manifest["split"]) is not None:
        return None
    names = [name for name, _ in dataset.sources(data_root, cached.manifest["split"])]
    skipped = {s["index"] for s in cached.manifest.get("skipped", [])}
    return [n for i, n in enumerate(names) if i not in skipped]


def verify_split(cached: CachedSplit) -> bool:
    """True when the .npy on disk still has the checksum written at build time."""
    return sha256_file(cached.path) == cached.manifest.get("npy_sha256")
