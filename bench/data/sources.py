"""Named datasets: where each lives on disk, its layout, splits, crop and fingerprint.

Every dataset yields uint8 arrays N x C x H x W per split; `bench.data.cache` decodes
them once and maps them on later runs. Fingerprints are content-based: the names, sizes
and SHA-256 of the source files' bytes (plus index files such as the partition list), so
the same files give the same fingerprint on any machine, after a copy, whatever their
mtimes -- run ids and cache keys travel with the data. Each file is hashed once: a
stat-keyed index (path, size, mtime, ctime, inode -> hash) under the cache folder serves
the hash again while the file is untouched (any write, or a utime, changes its ctime), so
a fingerprint of 200k unchanged files costs their stat calls.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import multiprocessing as mp
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.data.images import Crop
from bench.runtime.errors import DataError
from bench.runtime.io import sha256_file

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm")
HOLDOUT_FRACTION = 0.1  # folder-style datasets: share of files (by seeded hash) in "test"
SPLIT_SEED = "glo-bench-split-v1"

# LFW deep-funneled (250x250) crop putting the eyes where they sit in the CelebA central
# square crop: found by scripts/align_lfw.py (maximises the correlation of the mean
# faces at 64 px over box centre and size: 0.77 vs 0.29 for the whole frame, eye rows
# 32 vs 32 of 64 on the shared 3,430-face subset), checked by tests/test_alignment.py.
LFW_BOX: tuple[float, float, float, float] = (0.12, 0.06, 0.88, 0.82)
# CelebA at 128 px is the 108 x 108 centre square of the 178 x 218 aligned image (x 35-143,
# y 55-163; the common DCGAN preparation): its PCA scores .0130 against the paper's .0132,
# where the 178 square scores .0225 (docs/preprocessing.md). The 64 and 32 px sets keep the
# 178 square (PCA .0190 against the paper's .0203; the 108 square gives .0112 there).
CELEBA128_BOX: tuple[float, float, float, float] = (35 / 178, 55 / 218, 143 / 178, 163 / 218)
# LFW's box for that tighter crop, found the same way (scripts/align_lfw.py --target
# celeba128): mean-face correlation 0.94 (the 64 px box gives 0.62), eye rows 33 vs 32 of 64
LFW_BOX_128: tuple[float, float, float, float] = (0.255, 0.19, 0.745, 0.68)


def hash_fraction(name: str) -> float:
    """A stable number in [0, 1) from a name: the split a file falls in never changes."""
    digest = hashlib.sha1(f"{SPLIT_SEED}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


FINGERPRINT_METHOD = ("sha256 of names + sizes + sha256 of each file's bytes (+ index files' "
                      "bytes; array datasets: sha256 of the array)")


def default_cache_dir() -> Path:
    return Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "glo-bench"))


def hash_index_dir() -> Path:
    """Where the stat-keyed hash indexes live: the default cache folder's hash-index/."""
    return default_cache_dir() / "hash-index"


def content_fingerprint(root: Path, relpaths: list[str], extra: bytes = b"") -> str:
    """sha256 over (name, size, sha256 of the bytes) of each file below ``root``. A file whose
    (size, mtime, ctime, inode) is what the index recorded is not read again."""

    root = Path(root)
    index_path = hash_index_dir() / (hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:20]
                                     + ".json")
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    changed = False
    h = hashlib.sha256(extra)
    for rel in relpaths:
        try:
            st = os.stat(root / rel)
        except FileNotFoundError:
            h.update(f"{rel}\0missing\n".encode())
            continue
        key = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        hit = index.get(rel)
        if hit is None or hit[:4] != key:
            hit = [*key, sha256_file(root / rel)]
            index[rel] = hit
            changed = True
        h.update(f"{rel}\0{st.st_size}\0{hit[4]}\n".encode())
    if changed:
        try:
            index_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = index_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(index))
            os.replace(tmp, index_path)
        except OSError:
            pass  # a read-only cache: the next call hashes again, the fingerprint is the same
    return h.hexdigest()


def list_images(folder: Path) -> list[str]:
    """Image files below ``folder``, as sorted POSIX paths relative to it."""
    found = []
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            if f.lower().endswith(IMAGE_EXTS) and not f.startswith("."):
                found.append(Path(dirpath, f).relative_to(folder).as_posix())
    return sorted(found)


@dataclass(frozen=True)
class Dataset:
    """A named dataset. Subclasses say where it lives and how items are listed."""

    name: str
    crop: Crop
    splits: tuple[str, ...] = ("train", "test")
    notes: str = ""

    # --- to override -------------------------------------------------------------
    def layout(self, data_root: Path) -> str:  # expected layout, for error messages
        raise NotImplementedError

    def locate(self, data_root: Path) -> Path:
        raise NotImplementedError

    def sources(self, data_root: Path, split: str) -> list[tuple[str, str | bytes]]:
        """(item name, file path or encoded bytes) for each image of the split, in order."""
        raise NotImplementedError

    def fingerprint(self, data_root: Path) -> str:
        raise NotImplementedError

    def load_array(self, data_root: Path, split: str) -> np.ndarray | None:
        """Datasets stored as arrays return them here (N x C x H x W uint8); files return None."""
        return None

    # --- shared ---------------------------------------------------------------------
    @property
    def resolution(self) -> int:
        return self.crop.size

    @property
    def channels(self) -> int:
        return self.crop.channels

    def found(self, data_root: Path) -> bool:
        try:
            self.locate(data_root)
            return True
        except DataError:
            return False

    def missing(self, where: Path) -> DataError:
        return DataError(
            f"dataset {self.name!r} not found at {where}: expected {self.layout(where)} "
            f"(set --data-root or BENCH_DATA)"
        )

    def describe(self) -> dict:
        return {"name": self.name, "resolution": self.resolution, "channels": self.channels,
                "splits": list(self.splits), "crop": self.crop.describe(), "notes": self.notes}


# ----------------------------------------------------------------------------- CelebA
@dataclass(frozen=True)
class CelebA(Dataset):
    """torchvision's CelebA layout: img_align_celeba/*.jpg + list_eval_partition.txt."""

    splits: tuple[str, ...] = ("train", "val", "test")
    notes: str = "178x218 aligned JPEGs; central 178x178 square (box x 0-178, y 20-198), resized"

    def layout(self, data_root: Path) -> str:
        return ("<data-root>/celeba/img_align_celeba/NNNNNN.jpg and "
                "<data-root>/celeba/list_eval_partition.txt (torchvision CelebA layout)")

    def locate(self, data_root: Path) -> Path:
        root = Path(data_root) / "celeba"
        if not (root / "img_align_celeba").is_dir() or not (root / "list_eval_partition.txt").is_file():
            raise self.missing(root)
        return root

    def partition(self, data_root: Path) -> dict[str, list[str]]:
        root = self.locate(data_root)
        part_file = root / "list_eval_partition.txt"
        names: dict[str, list[str]] = {"train": [], "val": [], "test": []}
        split_of = {"0": "train", "1": "val", "2": "test"}
        with open(part_file, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 2 or fields[1] not in split_of:
                    raise DataError(
                        f"{part_file}:{lineno}: malformed partition line {line.strip()!r}: "
                        f"expected '<image file> <0|1|2>' (0 train, 1 val, 2 test)"
                    )
                names[split_of[fields[1]]].append(fields[0])
        present = set(os.listdir(root / "img_align_celeba"))
        listed = [n for split in names.values() for n in split]
        absent = [n for n in listed if n not in present]
        if absent:
            raise DataError(
                f"{part_file} lists {len(absent)} image(s) missing from {root / 'img_align_celeba'} "
                f"(first: {', '.join(absent[:5])}); restore them or trim the partition file "
                f"to the images present"
            )
        return names

    def attributes(self, data_root: Path) -> tuple[list[str], dict[str, np.ndarray]]:
        """The 40 official attributes (+1/-1) per image name, from list_attr_celeba.txt
        (count line, header line, rows); images without a row have none."""
        path = self.locate(data_root) / "list_attr_celeba.txt"
        if not path.is_file():
            return [], {}
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        if len(lines) < 2:
            raise DataError(f"{path}: expected a count line and a header line")
        header = lines[1].split()
        rows: dict[str, np.ndarray] = {}
        for lineno, line in enumerate(lines[2:], 3):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != len(header) + 1 or any(v not in ("1", "-1") for v in fields[1:]):
                raise DataError(f"{path}:{lineno}: malformed attribute line: expected an image "
                                f"name and {len(header)} values of 1 or -1")
            rows[fields[0]] = np.array([int(v) for v in fields[1:]], dtype=np.int8)
        return header, rows

    def sources(self, data_root: Path, split: str) -> list[tuple[str, str | bytes]]:
        img_dir = self.locate(data_root) / "img_align_celeba"
        return [(n, str(img_dir / n)) for n in self.partition(data_root)[split]]

    def fingerprint(self, data_root: Path) -> str:
        root = self.locate(data_root)
        part_bytes = (root / "list_eval_partition.txt").read_bytes()
        listed = sorted(n for split in self.partition(data_root).values() for n in split)
        return content_fingerprint(root / "img_align_celeba", listed, extra=part_bytes)


# -------------------------------------------------------------------------------- LFW
@dataclass(frozen=True)
class LFW(Dataset):
    """LFW deep-funneled: lfw-deepfunneled/Person_Name/Person_Name_0001.jpg (250x250).

    Split by a seeded hash of the person's name, so no identity is in both splits.
    """

    notes: str = "250x250 deep-funneled JPEGs; face box aligned to the CelebA crop's eye line"

    def layout(self, data_root: Path) -> str:
        return "<data-root>/lfw/lfw-deepfunneled/<Person_Name>/<Person_Name>_0001.jpg"

    def locate(self, data_root: Path) -> Path:
        root = Path(data_root) / "lfw" / "lfw-deepfunneled"
        if not root.is_dir() or not any(root.iterdir()):
            raise self.missing(root)
        return root

    def files(self, data_root: Path) -> list[str]:
        return list_images(self.locate(data_root))

    def sources(self, data_root: Path, split: str) -> list[tuple[str, str | bytes]]:
        root = self.locate(data_root)
        out = []
        for rel in self.files(data_root):
            person = rel.split("/", 1)[0]
            in_test = hash_fraction(person) < HOLDOUT_FRACTION
            if (split == "test") == in_test:
                out.append((rel, str(root / rel)))
        return out

    def fingerprint(self, data_root: Path) -> str:
        return content_fingerprint(self.locate(data_root), self.files(data_root))


# -------------------------------------------------------------------- folder of images
@dataclass(frozen=True)
class Folder(Dataset):
    """Any folder of images (recursively), split by a seeded hash of relative file names."""

    path: str = ""

    def layout(self, data_root: Path) -> str:
        return f"a folder of image files ({', '.join(IMAGE_EXTS)}) at {self.path}"

    def locate(self, data_root: Path) -> Path:
        root = Path(self.path).expanduser()
        if not root.is_dir():
            raise self.missing(root)
        if not list_images(root):
            raise DataError(f"dataset {self.name!r}: folder {root} holds no image files "
                            f"({', '.join(IMAGE_EXTS)}); point folder: at a folder with images")
        return root

    def sources(self, data_root: Path, split: str) -> list[tuple[str, str | bytes]]:
        root = self.locate(data_root)
        return [(rel, str(root / rel)) for rel in list_images(root)
                if (hash_fraction(rel) < HOLDOUT_FRACTION) == (split == "test")]

    def fingerprint(self, data_root: Path) -> str:
        root = self.locate(data_root)
        return content_fingerprint(root, list_images(root))


# ------------------------------------------------------------------------------- LSUN
@dataclass(frozen=True)
class LMDBItem:
    """One value of an LMDB, read only when it is decoded."""

    db: str
    key: bytes

    def read(self) -> bytes:
        """The value's bytes. A decoding worker keeps its database open; the main process
        opens and closes it each time, since LMDB refuses a second open of an environment
        in one process, and a forked worker would inherit the open one."""

        # deferred: lmdb only for an LSUN LMDB
        import lmdb

        def get(env) -> bytes:
            with env.begin(write=False) as txn:
                value = txn.get(self.key)
            if value is None:
                raise ValueError(f"key {self.key!r} vanished from {self.db}")
            return bytes(value)

        opts = {"readonly": True, "lock": False, "readahead": False, "meminit": False}
        if mp.parent_process() is None:
            env = lmdb.open(self.db, **opts)
            try:
                return get(env)
            finally:
                env.close()
        key = (os.getpid(), self.db)
        if key not in _LMDB_ENVS:
            _LMDB_ENVS[key] = lmdb.open(self.db, **opts)
        return get(_LMDB_ENVS[key])


_LMDB_ENVS: dict = {}


@dataclass(frozen=True)
class LSUN(Dataset):
    """LSUN bedrooms: torchvision's LMDB layout, or a folder of images.

    train: <root>/lsun/bedroom_train_lmdb (values are encoded images) or <root>/lsun/bedroom_train/;
    test: bedroom_val_lmdb / bedroom_val/ when present, else a seeded-hash 10% of train keys.
    """

    category: str = "bedroom"
    notes: str = "LMDB values are encoded images (webp/jpeg); central square crop, resized"

    def layout(self, data_root: Path) -> str:
        return (f"<data-root>/lsun/{self.category}_train_lmdb (LMDB, torchvision LSUN layout) "
                f"or <data-root>/lsun/{self.category}_train/ (image folder)")

    def _part(self, data_root: Path, part: str) -> Path | None:
        base = Path(data_root) / "lsun"
        for cand in (base / f"{self.category}_{part}_lmdb", base / f"{self.category}_{part}"):
            if cand.is_dir():
                return cand
        return None

    def locate(self, data_root: Path) -> Path:
        train = self._part(data_root, "train")
        if train is None:
            raise self.missing(Path(data_root) / "lsun")
        return train

    @staticmethod
    def _is_lmdb(path: Path) -> bool:
        return (path / "data.mdb").is_file()

    def _entries(self, path: Path) -> list[tuple[str, str | LMDBItem]]:
        """(name, source) per image. From an LMDB only the keys are read here; each value is
        read when it is decoded (bench.data.cache), so memory does not grow with the
        database (LSUN bedroom: 3 million images, ~43 GB)."""
        if not self._is_lmdb(path):
            return [(rel, str(path / rel)) for rel in list_images(path)]
        # deferred: lmdb only for an LSUN LMDB
        import lmdb

        try:
            env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False)
        except lmdb.Error as e:
            raise DataError(f"{path}: cannot open LMDB ({e}); expected an LSUN LMDB "
                            f"folder holding data.mdb") from None
        db = str(path)
        with env.begin(write=False) as txn:
            out = [(key.decode("ascii", "replace"), LMDBItem(db, bytes(key)))
                   for key in txn.cursor().iternext(keys=True, values=False)]
        env.close()
        return out

    def sources(self, data_root: Path, split: str) -> list[tuple[str, str | bytes]]:
        train = self.locate(data_root)
        val = self._part(data_root, "val")
        if val is not None:
            return self._entries(train if split == "train" else val)
        return [(k, v) for k, v in self._entries(train)
                if (hash_fraction(k) < HOLDOUT_FRACTION) == (split == "test")]

    def fingerprint(self, data_root: Path) -> str:
        parts = [p for p in (self.locate(data_root), self._part(data_root, "val")) if p]
        h = hashlib.sha256()
        for p in parts:
            files = ["data.mdb"] if self._is_lmdb(p) else list_images(p)
            h.update(f"{p.name}:{content_fingerprint(p, files)}\n".encode())
        return h.hexdigest()


# ---------------------------------------------------------------- arrays in packages
@dataclass(frozen=True)
class LFWSubset(Dataset):
    """The 100 real LFW faces shipped inside scikit-image (skimage.data.lfw_subset()).

    25x25 gray faces, resized to 32x32; fixed split: the first 80 train, the last 20 test.
    Needs no download and no data root.
    """

    notes: str = "skimage.data.lfw_subset() faces 0-79 train, 80-99 test; bilinear 25->32, gray"

    def layout(self, data_root: Path) -> str:
        return "scikit-image's bundled data (pip install scikit-image)"

    def locate(self, data_root: Path) -> Path:
        # deferred: scikit-image (about a second to import) only for the embedded lfw25
        try:
            import skimage
        except ImportError:
            raise self.missing(Path("skimage")) from None
        return Path(skimage.__file__).parent / "data"

    def _faces(self) -> np.ndarray:
        # deferred: scikit-image (about a second to import) only for the embedded lfw25
        from skimage.data import lfw_subset

        return np.asarray(lfw_subset()[:100], dtype=np.float64)  # first 100 are faces

    def load_array(self, data_root: Path, split: str) -> np.ndarray:

        self.locate(data_root)
        faces = self._faces()
        faces = faces[:80] if split == "train" else faces[80:]
        t = torch.from_numpy(faces)[:, None]
        t = F.interpolate(t, size=(self.resolution, self.resolution), mode="bilinear",
                          align_corners=False, antialias=False)
        return np.clip(np.round(t.numpy() * 255.0), 0, 255).astype(np.uint8)

    def fingerprint(self, data_root: Path) -> str:
        return hashlib.sha256(np.ascontiguousarray(self._faces()).tobytes()).hexdigest()


FASHION_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}


@dataclass(frozen=True)
class FashionMNIST(Dataset):
    """Fashion-MNIST idx files (torchvision raw layout or Debian's dataset-fashion-mnist),
    28x28 gray, zero-padded to 32x32 (pixel value 0 = background)."""

    notes: str = "28x28 zero-padded by 2 px to 32x32"
    extra_dirs: tuple[str, ...] = field(default=("/usr/share/datasets/fashion-mnist",))

    def layout(self, data_root: Path) -> str:
        return ("<data-root>/FashionMNIST/raw/train-images-idx3-ubyte[.gz] (torchvision) or "
                "/usr/share/datasets/fashion-mnist/ (apt-get install dataset-fashion-mnist)")

    def _find(self, folder: Path, stem: str) -> Path | None:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
        return None

    def locate(self, data_root: Path) -> Path:
        candidates = [Path(data_root) / "FashionMNIST" / "raw", Path(data_root) / "fashion-mnist",
                      *map(Path, self.extra_dirs)]
        for folder in candidates:
            if all(self._find(folder, s) for s in FASHION_FILES.values()):
                return folder
        raise self.missing(candidates[0])

    def load_array(self, data_root: Path, split: str) -> np.ndarray:
        path = self._find(self.locate(data_root), FASHION_FILES[split])
        assert path is not None
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        if len(raw) < 16:
            raise DataError(f"{path}: too short for an idx3 file")
        magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
        if magic != 2051 or len(raw) != 16 + n * rows * cols:
            raise DataError(f"{path}: not an idx3-ubyte image file (magic {magic}, "
                            f"{len(raw)} bytes for {n}x{rows}x{cols})")
        imgs = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 1, rows, cols)
        pad = (self.resolution - rows) // 2
        out = np.zeros((n, 1, self.resolution, self.resolution), dtype=np.uint8)
        out[:, :, pad:pad + rows, pad:pad + cols] = imgs
        return out

    def fingerprint(self, data_root: Path) -> str:
        folder = self.locate(data_root)
        files = [p.name for s in FASHION_FILES.values() if (p := self._find(folder, s))]
        return content_fingerprint(folder, files)


def _build_registry() -> dict[str, Dataset]:
    reg: dict[str, Dataset] = {}
    for r in (32, 64):
        reg[f"celeba{r}"] = CelebA(f"celeba{r}", Crop(r, 3))
    reg["celeba128"] = CelebA("celeba128", Crop(128, 3, box=CELEBA128_BOX),
                              notes="178x218 aligned JPEGs; central 108x108 square (box x 35-143, "
                                    "y 55-163), resized (docs/preprocessing.md)")
    reg["lsun64"] = LSUN("lsun64", Crop(64, 3))
    for r in (32, 64):
        reg[f"lfw{r}"] = LFW(f"lfw{r}", Crop(r, 3, box=LFW_BOX))
    reg["lfw128"] = LFW("lfw128", Crop(128, 3, box=LFW_BOX_128))
    reg["lfw25"] = LFWSubset("lfw25", Crop(32, 1, resample="bilinear"))
    reg["fashion-mnist"] = FashionMNIST("fashion-mnist", Crop(32, 1))
    return reg


REGISTRY: dict[str, Dataset] = _build_registry()


def get_dataset(name: str) -> Dataset:
    """A registered dataset by name, or ``folder:PATH[@RES]`` (RGB, central square, 64 px default)."""
    if name.startswith("folder:"):
        spec = name[len("folder:"):]
        res = 64
        if "@" in spec:
            spec, _, res_s = spec.rpartition("@")
            if not res_s.isdigit():
                raise DataError(f"dataset {name!r}: resolution after '@' must be an integer")
            res = int(res_s)
        if not spec:
            raise DataError("dataset 'folder:' needs a path, e.g. folder:/data/my_images@64")
        return Folder(name, Crop(res, 3), path=spec)
    if name not in REGISTRY:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(REGISTRY)}, folder:PATH[@RES]")
    return REGISTRY[name]
