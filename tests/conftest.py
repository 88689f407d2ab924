from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GLO_BENCH_SHARED_DATA", ROOT.parent / "shared" / "data"))

torch.set_num_threads(min(2, os.cpu_count() or 1))


def checkpoint_whole(ckpt: Path) -> bool:
    """ckpt and the .sha256 beside it agree: the checkpoint a resume accepts. A test that kills
    a run "after its first checkpoint" waits for this, not for the file: killed between the
    two writes, the run rightly refuses that checkpoint and starts over (CI saw it)."""
    from bench.core.context import verified_checkpoint_bytes

    try:
        return verified_checkpoint_bytes(ckpt) is not None
    except OSError:  # unreadable (e.g. its run folder being removed): not a checkpoint to wait on
        return False


# The real Inception weights, if this machine has them (found before the tests hide them):
# only the real-weights check uses them; every other test runs without, or with a stand-in.
_hub_weights = Path(torch.hub.get_dir()) / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
REAL_FID_WEIGHTS = (Path(os.environ["BENCH_FID_WEIGHTS"]) if os.environ.get("BENCH_FID_WEIGHTS")
                    else _hub_weights if _hub_weights.is_file() else None)


@pytest.fixture(scope="session", autouse=True)
def _no_real_fid_weights(tmp_path_factory):
    """Tests are hermetic: no Inception weights unless a test passes its own (a user's cached
    real weights would otherwise make every run compute FID)."""
    mp = pytest.MonkeyPatch()
    mp.delenv("BENCH_FID_WEIGHTS", raising=False)
    mp.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
    yield
    mp.undo()


def make_standin_inception(path: Path, seed: int = 0) -> Path:
    """A weights file of torch-fidelity's Inception-v3 architecture with a random,
    variance-preserving initialisation (He-normal convolutions), in place of the real
    weights, which cannot be downloaded here. Its features are informative enough for what
    holds with any extractor (a set against itself ~0; real faces nearer to faces than noise),
    and its FIDs mean nothing beyond that."""
    from unittest import mock

    import torch_fidelity.feature_extractor_inceptionv3 as fe

    torch.manual_seed(seed)
    with mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: {}), \
            mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda s, d: None):
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def standin_fid_weights(tmp_path_factory) -> Path:
    return make_standin_inception(tmp_path_factory.mktemp("fid") / "standin-inception.pth")


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
    """One decode cache for the whole session (real data is decoded once). With
    $GLO_BENCH_TEST_CACHE (CI sets it) the cache outlives the session, so the shared CelebA
    and LFW images are decoded once per machine, not once per run: the cache is keyed by the
    files' content fingerprint and checksummed, so a stale or torn entry is rebuilt, not read
    (tests/test_data.py's and test_reliability.py's cache tests, which use folders of their
    own). It is kept per version of the decoding code (bench/data/*.py), so a change there
    decodes afresh."""
    keep = os.environ.get("GLO_BENCH_TEST_CACHE")
    if not keep:
        return tmp_path_factory.mktemp("cache")
    h = hashlib.sha256()
    for f in sorted((ROOT / "bench" / "data").glob("*.py")):
        h.update(f.name.encode() + f.read_bytes())
    folder = Path(keep) / f"decode-{h.hexdigest()[:12]}"
    for old in Path(keep).glob("decode-*"):  # earlier decoding code's: never read again
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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


def synthetic_jpeg(seed: int = 0, size: tuple[int, int] = (178, 218)) -> bytes:
    """Real JPEG bytes (PIL's encoder) of a smooth face-sized picture with some noise: what
    the loaders' fuzz tests corrupt when ../shared/data is absent."""
    import io

    import numpy as np
    from PIL import Image

    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], -1)
    img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="session", params=["synthetic", "real"])
def jpeg_files(request, tmp_path_factory) -> list[Path]:
    """CelebA-named JPEG files: made here (always runs) or the shared real ones (skipped
    with the reason when absent)."""
    if request.param == "real":
        folder = need_shared("celeba", "img_align_celeba") / "celeba" / "img_align_celeba"
        found = sorted(folder.glob("*.jpg"))[:64]
        assert found, f"no JPEGs in {folder}"
        return found
    folder = tmp_path_factory.mktemp("synthetic_jpegs")
    paths = []
    for i in range(64):
        p = folder / f"{i + 1:06d}.jpg"
        p.write_bytes(synthetic_jpeg(i))
        paths.append(p)
    return paths


ATTRIBUTES = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips "
              "Big_Nose Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin "
              "Eyeglasses Goatee Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open "
              "Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline "
              "Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
              "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()
