"""Sample quality through torch-fidelity: FID, KID and precision/recall of a model's samples
against the dataset's test images, and FID of its reconstructions against their originals.

Nothing is downloaded here. The Inception weights torch-fidelity uses are looked up, in
order, at ``--fid-weights PATH``, ``$BENCH_FID_WEIGHTS`` and torch-fidelity's own cache
(``torch.hub.get_dir()/checkpoints/<WEIGHTS_FILE>``); when none is there, no sample-quality
number is computed and the report says which file to put where (``missing_hint``).

All three metrics use one feature extractor (torch-fidelity's ``inception-v3-compat``, its
2048-d pool features); torch-fidelity computes precision/recall on VGG-16 features by
default, here it runs on the same Inception features as FID and KID (recorded).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bench.runtime.errors import BenchError
from bench.runtime.io import sha256_file

WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
               + WEIGHTS_FILE)
#: torch.hub's convention: the file name carries the first 8 hex digits of its SHA-256
WEIGHTS_SHA256_PREFIX = "6726825d"
FEATURE_EXTRACTOR = "inception-v3-compat"
ENV = "BENCH_FID_WEIGHTS"


def hub_weights_path() -> Path:
    """Where torch-fidelity caches the Inception weights once it has downloaded them."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def find_weights(explicit: str | Path | None = None) -> Path | None:
    """The Inception weights file to use: ``explicit``, else $BENCH_FID_WEIGHTS, else the
    torch-fidelity cache; None when there is none. A path that was asked for but does not
    exist is an error, not a silent fallback."""
    for asked, where in ((explicit, "--fid-weights"), (os.environ.get(ENV) or None, f"${ENV}")):
        if asked is not None:
            p = Path(asked).expanduser()
            if not p.is_file():
                raise BenchError(f"{where} {p}: no such file; put torch-fidelity's "
                                 f"{WEIGHTS_FILE} there (see `bench fid fetch`) or unset it")
            return p
    p = hub_weights_path()
    return p if p.is_file() else None


def missing_hint(portable: bool = False) -> str:
    """One line: which file, where, with which hash, and how to get it once. ``portable``: the
    place named without this machine's paths (a report page is committed and read elsewhere)."""
    where = ("in torch's hub cache ($TORCH_HOME/hub/checkpoints/; `bench fid status` prints "
             "the folder)" if portable else f"at {hub_weights_path()}")
    return (f"FID/KID/precision/recall not computed: put {WEIGHTS_FILE} (SHA-256 starting "
            f"{WEIGHTS_SHA256_PREFIX}) {where} or pass --fid-weights PATH / "
            f"set ${ENV}; `bench fid fetch` says how to get it once")


@dataclass(frozen=True)
class Extractor:
    """The feature extractor's weights, checked once: path, SHA-256, and whether it is the
    standard file (published FIDs are comparable only with it)."""

    path: Path
    sha256: str

    @property
    def standard(self) -> bool:
        return self.sha256.startswith(WEIGHTS_SHA256_PREFIX)

    @classmethod
    def load(cls, path: Path) -> Extractor:
        """Check the file before torch-fidelity loads it (torch-fidelity unpickles it in full):
        it must be a plain state dict that torch.load(weights_only=True) accepts."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise BenchError(f"{path}: not a plain weights file ({type(e).__name__}); replace it "
                             f"with torch-fidelity's {WEIGHTS_FILE}") from None
        if not isinstance(state, dict) or "fc.weight" not in state:
            raise BenchError(f"{path}: not an Inception-v3 state dict (no fc.weight); replace it "
                             f"with torch-fidelity's {WEIGHTS_FILE}")
        return cls(Path(path), sha256_file(path))


@dataclass(frozen=True)
class FidelitySettings:
    kid_subsets: int = 100
    kid_subset_size: int = 1000  # lowered to half the smaller set when that is smaller
    prc_neighborhood: int = 3
    batch_size: int = 64


class _Images(torch.utils.data.Dataset):
    """uint8 N x 3 x H x W for torch-fidelity (grey images repeated to three channels)."""

    def __init__(self, images_u8: Tensor | np.ndarray) -> None:
        x = torch.as_tensor(np.asarray(images_u8))
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise ValueError(f"expected uint8 N x C x H x W images, got {x.dtype} {tuple(x.shape)}")
        self.x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> Tensor:
        return self.x[i].contiguous()


def compare(generated: Tensor, reference: Tensor, extractor: Extractor, *, device: str = "cpu",
            settings: FidelitySettings = FidelitySettings(), cache_root: Path | None = None,
            precision_recall: bool = True) -> dict:
    """FID, KID (mean, std over subsets) and, if asked, precision/recall of ``generated``
    against ``reference`` (both uint8 N x C x H x W), through torch_fidelity.calculate_metrics.
    With ``cache_root`` the reference set's features are cached there, named by a hash of its
    pixels and of the weights."""

    # deferred: torch-fidelity only where the Inception weights are present
    import torch_fidelity

    n1, n2 = len(generated), len(reference)
    if min(n1, n2) < 2:
        raise BenchError(f"FID needs at least 2 images per set, got {n1} and {n2}")
    subset = min(settings.kid_subset_size, max(2, min(n1, n2) // 2))
    prc = precision_recall and min(n1, n2) > settings.prc_neighborhood
    kwargs = dict(input1=_Images(generated), input2=_Images(reference), fid=True, kid=True,
                  prc=prc, feature_extractor=FEATURE_EXTRACTOR,
                  feature_extractor_weights_path=str(extractor.path),
                  cuda=str(device).startswith("cuda"), batch_size=settings.batch_size,
                  kid_subsets=settings.kid_subsets, kid_subset_size=subset,
                  prc_neighborhood=settings.prc_neighborhood, verbose=False, save_cpu_ram=True,
                  cache=cache_root is not None)
    if cache_root is not None:
        pixels = hashlib.sha256(reference.contiguous().numpy().tobytes()).hexdigest()[:16]
        kwargs.update(cache_root=str(cache_root),
                      input2_cache_name=f"ref-{pixels}-{extractor.sha256[:16]}")
    m = torch_fidelity.calculate_metrics(**kwargs)
    out = {"fid": float(m["frechet_inception_distance"]),
           "kid_mean": float(m["kernel_inception_distance_mean"]),
           "kid_std": float(m["kernel_inception_distance_std"]),
           "n_generated": n1, "n_reference": n2, "kid_subset_size": subset}
    if prc:
        out.update(precision=float(m["precision"]), recall=float(m["recall"]),
                   f_score=float(m["f_score"]))
    return out


@dataclass(frozen=True)
class FidelityJob:
    """What a run needs to measure sample quality: the checked weights, and where the
    reference images' features are cached (every model of a dataset is compared with the same
    test images, so their features are extracted once)."""

    extractor: Extractor
    cache_root: Path | None = None
    settings: FidelitySettings = FidelitySettings()

    @classmethod
    def find(cls, explicit: str | Path | None, cache_root: Path | None = None
             ) -> FidelityJob | None:
        path = find_weights(explicit)
        if path is None:
            return None
        return cls(Extractor.load(path), cache_root)


def describe(extractor: Extractor, settings: FidelitySettings) -> dict:
    """The settings stored beside every sample-quality number."""
    # deferred: torch-fidelity only where the Inception weights are present
    import torch_fidelity

    return {"library": f"torch-fidelity {torch_fidelity.__version__}",
            "feature_extractor": FEATURE_EXTRACTOR, "feature_layer": "2048",
            "weights_file": extractor.path.name, "weights_sha256": extractor.sha256,
            "standard_weights": extractor.standard, **asdict(settings)}


def fetch_instructions() -> str:
    """What `bench fid fetch` prints: nothing here downloads at run time."""
    return (f"glo-bench never downloads at run time. On a machine with internet, once:\n"
            f"  curl -L -o {WEIGHTS_FILE} {WEIGHTS_URL}\n"
            f"  sha256sum {WEIGHTS_FILE}   # must start with {WEIGHTS_SHA256_PREFIX}\n"
            f"then put it at {hub_weights_path()} (torch-fidelity's cache), or anywhere and "
            f"pass --fid-weights PATH or set ${ENV}.")
