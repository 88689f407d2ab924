"""Decode once, map afterwards.

The first use of (dataset, split) decodes every image into a uint8 N x C x H x W .npy
file under the cache folder, with a manifest beside it. The file name is a hash of the
dataset name, split, crop settings and the source fingerprint, so a changed source can
never be served from an old cache: its key differs and it is rebuilt (and the log says
why). Later runs check the .npy against the SHA-256 in its manifest (a damaged cache is
rebuilt, saying so) and open it as a read-only memory map.

Decoding uses a process per core, writes rows with plain positioned writes (memory stays
flat however many images there are: LMDB values are read one at a time, by the worker
that decodes them), shows a progress bar with ETA for large splits, and records its
progress every COMMIT_EVERY rows: an interrupted decode resumes there.
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
from bench.data.sources import FINGERPRINT_METHOD, Dataset, LMDBItem, default_cache_dir
from bench.runtime.errors import DataError
from bench.runtime.io import atomic_write_json, safe_name, sha256_file

CACHE_FORMAT = 1  # bump when decoding changes, so old caches are not reused


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


def _decode_one(args: tuple[int, str, str | bytes | LMDBItem, Crop]
                ) -> tuple[int, np.ndarray | None, str]:
    index, _name, source, crop = args
    try:
        if isinstance(source, LMDBItem):
            source = source.read()
        return index, decode(source, crop), ""
    except ValueError as e:
        return index, None, str(e)


class _Rows:
    """The .npy being built, written row by row with plain positioned writes (no memory
    map: written pages are not kept resident), with its progress beside it so that an
    interrupted build resumes where it stopped."""

    def __init__(self, path: Path, shape: tuple[int, ...], key: str) -> None:
        self.path, self.key = path, key
        self.progress = path.with_name(path.name + ".progress")
        self.row_bytes = int(np.prod(shape[1:]))
        self.done, self.skipped = 0, []
        old = self._read_progress()
        if old is not None and path.is_file():
            self.done, self.skipped = old["done"], old["skipped"]
        else:
            np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape).flush()
        self.offset = np.load(path, mmap_mode="r").offset
        self.f = open(path, "rb+")  # noqa: SIM115

    def _read_progress(self) -> dict | None:
        try:
            p = json.loads(self.progress.read_text())
        except (OSError, ValueError):
            return None
        return p if p.get("key") == self.key else None

    def write(self, index: int, arr: np.ndarray) -> None:
        os.pwrite(self.f.fileno(), np.ascontiguousarray(arr, dtype=np.uint8).tobytes(),
                  self.offset + index * self.row_bytes)

    def commit(self, done: int, skipped: list[dict]) -> None:
        """Rows before ``done`` are on disk: say so (after fsync), atomically."""
        os.fsync(self.f.fileno())
        self.done, self.skipped = done, skipped
        atomic_write_json(self.progress, {"key": self.key, "done": done, "skipped": skipped})

    def close(self) -> None:
        self.f.close()


COMMIT_EVERY = 2048  # rows between progress records (what an interrupted build redoes at most)


def _decode_all(dataset: Dataset, sources: list, rows: _Rows, skip_corrupt: bool, workers: int,
                label: str) -> list[dict]:
    """Decode sources[rows.done:] into ``rows`` in source order, using ``workers`` processes;
    return every skipped item. Results arrive in order, so what is on disk is always a
    prefix, recorded every COMMIT_EVERY rows."""
    skipped = list(rows.skipped)
    start = rows.done
    jobs = ((i, sources[i][0], sources[i][1], dataset.crop) for i in range(start, len(sources)))
    bar = tqdm(total=len(sources), initial=start, desc=f"decode {label}", unit="img",
               leave=False, disable=True if len(sources) - start < 2000 else None)

    def place(index: int, arr: np.ndarray | None, err: str) -> None:
        name, src = sources[index]
        if arr is None:
            where = src if isinstance(src, str) else f"{name} (in {label})"
            if not skip_corrupt:
                raise DataError(f"{where}: unreadable image ({err}); remove or replace it, "
                                f"or pass --skip-corrupt to skip and count it")
            skipped.append({"index": index, "name": name, "error": err})
            bar.update()
            return
        rows.write(index, arr)
        if (index + 1) % COMMIT_EVERY == 0:
            rows.commit(index + 1, skipped)
        bar.update()

    if workers > 1 and len(sources) - start >= 256:
        ctx = mp.get_context("spawn" if os.name == "nt" else "fork")
        with ctx.Pool(workers) as pool:
            for index, arr, err in pool.imap(_decode_one, jobs, chunksize=16):
                place(index, arr, err)
    else:
        for job in jobs:
            place(*_decode_one(job))
    bar.close()
    return skipped


def build_split(dataset: Dataset, data_root: Path, split: str, path: Path, fingerprint: str,
                skip_corrupt: bool = False, workers: int | None = None, log=print) -> CachedSplit:
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
        rows = _Rows(tmp, (len(sources), ch, res, res), path.stem)
        if rows.done:
            log(f"{dataset.name}/{split}: resuming an interrupted decode at image {rows.done:,} "
                f"of {len(sources):,}")
        workers = workers or min(os.cpu_count() or 1, 8)
        try:
            skipped = _decode_all(dataset, sources, rows, skip_corrupt, workers,
                                  f"{dataset.name}/{split}")
            rows.commit(len(sources), skipped)
        finally:
            rows.close()
        if skipped:  # compact: drop the skipped rows
            keep = np.setdiff1d(np.arange(len(sources)), [s["index"] for s in skipped])
            array = np.asarray(np.load(tmp, mmap_mode="r")[keep])
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
        rows.progress.unlink(missing_ok=True)
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
        "fingerprint": fingerprint, "fingerprint_method": FINGERPRINT_METHOD,
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
    return build_split(dataset, data_root, split, path, fingerprint, skip_corrupt, log=log)


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
