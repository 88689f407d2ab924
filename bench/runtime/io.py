"""Atomic writes: temp file in the same folder, fsync, rename, fsync the folder.

A reader never sees a half-written file: it sees the old version or the new one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from bench.runtime.errors import BenchError


def fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (best effort: some file systems refuse it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp alone gives 0600


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(fileobj)`` on a temp file next to ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, to_json(obj))


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def safe_name(dataset: str) -> str:
    """A dataset name as one folder name ("folder:/a/b@64" -> "folder__a_b@64")."""
    return dataset.replace("/", "_").replace(":", "_")


def load_tensors(source, what: Path, map_location=None):
    """torch.load with weights_only=True: tensors and plain values (numbers, strings, lists,
    dicts, tuples) load; anything else -- a pickle that would import or run code -- is refused
    with one line naming the file, and nothing in it is executed."""


    try:
        return torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BenchError(f"{what}: refused to load: it holds more than tensors and plain values "
                         f"(a pickle that could run code: {first[:120]}); delete it if you did "
                         f"not write it, or re-create it with `bench run --force`") from None


def save_figure(fig, out_base: Path, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write a matplotlib figure as ``out_base``.png and .pdf, each atomically, and close it."""
    # deferred: matplotlib (about a second to import) only where a figure is drawn
    import matplotlib.pyplot as plt

    paths = []
    for ext in formats:
        path = Path(out_base).with_suffix(f".{ext}")
        atomic_write(path, lambda f, ext=ext: fig.savefig(f, format=ext))
        paths.append(path)
    plt.close(fig)
    return paths
