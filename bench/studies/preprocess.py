"""`bench data probe-crops`: which preparation of CelebA did the paper use? PCA as the probe.

PCA is deterministic and needs no training, so its train MSE tells preparations apart: for
each candidate rule (a crop box on the 178 x 218 aligned image and a resize filter, or a
round trip through a lower resolution) the shared CelebA training images are decoded at 64
and 128 px, PCA with d = 256 is fitted on all of them (the suite's own streaming PCA), and its
train MSE is scored on Table 1's 1,000 images ([-1, 1] pixels). The paper's PCA row is .0203
at 64 px and .0132 at 128 px. Each candidate's mean face is drawn too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.core.model import to_float
from bench.core.pca import fit_streaming
from bench.data import get_dataset
from bench.data.images import _RESAMPLE, Crop, crop_resize
from bench.eval.evaluate import eval_indices
from bench.runs.provenance import code_version
from bench.runtime.io import atomic_write_json

W, H = 178, 218  # the aligned CelebA image
PAPER_PCA = {64: 0.0203, 128: 0.0132}


@dataclass(frozen=True)
class Rule:
    name: str
    side: int | None  # centred square of this many source pixels (None: 178, the full width)
    dy: int = 0  # its centre moved down by this many pixels from the image centre
    resample: str = "lanczos"
    via: int | None = None  # decoded at this size first, then resized up (blur hypothesis)

    def box(self) -> tuple[float, float, float, float]:
        side = self.side or W
        cx, cy = W / 2, H / 2 + self.dy
        return ((cx - side / 2) / W, (cy - side / 2) / H, (cx + side / 2) / W, (cy + side / 2) / H)

    def describe(self) -> str:
        side = self.side or W
        left, top = W / 2 - side / 2, H / 2 + self.dy - side / 2
        return (f"{side}x{side} box at x {left:g}-{left + side:g}, y {top:g}-{top + side:g}, "
                f"{self.resample}" + (f", via {self.via} px" if self.via else ""))


RULES = (
    Rule("sq178 (today's rule)", None),
    Rule("sq178 bicubic", None, resample="bicubic"),
    Rule("sq178 bilinear", None, resample="bilinear"),
    Rule("sq178 box filter", None, resample="box"),
    Rule("sq160", 160),
    Rule("sq148", 148),
    Rule("sq140", 140),
    Rule("sq128 (no resize at 128)", 128),
    Rule("sq108", 108),
    Rule("sq108, centre 10 px lower", 108, dy=10),
    Rule("sq178 via 64 px (upsampled)", None, via=64),
)


def decode_all(paths: list[str], rule: Rule, size: int) -> np.ndarray:


    crop = Crop(rule.via or size, 3, box=rule.box(), resample=rule.resample)
    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for i, p in enumerate(paths):
        arr = crop_resize(Image.open(p), crop)
        if rule.via and rule.via != size:
            img = Image.fromarray(arr.transpose(1, 2, 0)).resize((size, size),
                                                                 _RESAMPLE[rule.resample])
            arr = np.asarray(img).transpose(2, 0, 1)
        out[i] = arr
    return out


def pca_train_mse(images: np.ndarray, scored: np.ndarray, d: int = 256) -> tuple[float, float]:
    """(train MSE on the scored images, explained variance ratio) of PCA fitted on all."""

    def chunks():
        for b in range(0, images.shape[0], 1024):
            yield to_float(torch.from_numpy(images[b:b + 1024])).flatten(1)

    fit = fit_streaming(chunks, d, oversample=d, power_iters=10)
    x = to_float(torch.from_numpy(images[scored])).flatten(1)
    z = (x - fit.mean) @ fit.components
    x_hat = z @ fit.components.T + fit.mean
    return float((x_hat - x).pow(2).mean()), fit.explained_ratio


def probe(data_root: Path, out_base: Path, sizes: tuple[int, ...] = (64, 128),
          rules: tuple[Rule, ...] = RULES, n_scored: int = 1000, log=print) -> dict:

    ds = get_dataset("celeba64")
    paths = [p for _, p in ds.sources(data_root, "train")]
    scored = eval_indices(len(paths), n_scored)
    rows, means = [], {}
    for rule in rules:
        for size in sizes:
            t = time.time()
            imgs = decode_all(paths, rule, size)
            mse, explained = pca_train_mse(imgs, scored)
            rows.append({"rule": rule.name, "box": rule.describe(), "size": size,
                         "pca_train_mse": mse, "explained": explained,
                         "paper": PAPER_PCA.get(size), "ratio_to_paper": mse / PAPER_PCA[size]
                         if size in PAPER_PCA else None, "seconds": round(time.time() - t, 1)})
            if size == max(sizes):
                means[rule.name] = imgs.mean(0, dtype=np.float64)  # buffered: no float64 copy of imgs
            log(f"{rule.name:<30} {size:>3} px: PCA train MSE {mse:.5f} "
                f"({mse / PAPER_PCA[size]:.2f}x the paper's {PAPER_PCA[size]}), explained "
                f"{explained:.3f}, {rows[-1]['seconds']}s")

    res = {"images": len(paths), "scored": int(scored.size), "d": 256, "code": code_version(),
           "units": "MSE per pixel, [-1, 1] pixels", "paper": PAPER_PCA, "rows": rows}
    atomic_write_json(out_base.with_suffix(".json"), res)
    _mean_faces(means, out_base.with_suffix(".png"))
    return res


def _mean_faces(means: dict[str, np.ndarray], path: Path) -> None:
    # deferred: matplotlib (about a second to import) only where a figure is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(means)
    fig, axes = plt.subplots(1, n, figsize=(1.9 * n, 2.4), dpi=100)
    for ax, (name, m) in zip(np.atleast_1d(axes), means.items(), strict=True):
        ax.imshow(np.clip(m.transpose(1, 2, 0) / 255.0, 0, 1))
        ax.set_title(name, fontsize=6)
        ax.axis("off")
    fig.suptitle("mean training face per candidate rule (128 px)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
