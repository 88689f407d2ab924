from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GLO_BENCH_SHARED_DATA", ROOT.parent / "shared" / "data"))

torch.set_num_threads(min(2, os.cpu_count() or 1))


def need_shared(*parts: str) -> Path:
    """The shared real-data folder, or skip with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set GLO_BENCH_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return need_shared()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One decode cache for the whole session (real data is decoded once)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def celeba_jpegs(shared_data) -> list[Path]:
    folder = shared_data / "celeba" / "img_align_celeba"
    return sorted(folder.glob("*.jpg"))


def make_celeba_subset(root: Path, jpegs: list[Path], n_train: int = 6, n_test: int = 2) -> Path:
    """A CelebA-layout folder of symlinks to real images, with its own partition file."""
    img_dir = root / "celeba" / "img_align_celeba"
    img_dir.mkdir(parents=True)
    lines = []
    for i, src in enumerate(jpegs[: n_train + n_test]):
        (img_dir / src.name).symlink_to(src)
        lines.append(f"{src.name} {0 if i < n_train else 2}")
    (root / "celeba" / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root
