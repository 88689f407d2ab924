"""Find the LFW deep-funneled crop box that best matches the CelebA crop (paper 3.3.1).

Crop + resize is linear, so the mean of cropped faces is the crop of the mean face: the
search crops the full-size mean LFW face for every candidate box (centre and side, in
fractions of the 250x250 image) and keeps the box whose 64 px result correlates best with
the mean CelebA face. Usage:
    python scripts/align_lfw.py --data-root ../shared/data [--target celeba128]
bench/data/sources.py's LFW_BOX (for celeba32/64's crop) and LFW_BOX_128 (for celeba128's
tighter one, docs/preprocessing.md) hold the values found; tests/test_alignment.py checks them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from bench.data import get_dataset, load_split
from bench.data.alignment import eye_row, face_correlation, mean_face
from bench.data.sources import LFW_BOX, LFW_BOX_128


def crop_mean(full: np.ndarray, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    h, w = full.shape
    img = Image.fromarray(full.astype(np.float32), "F")
    out = img.resize((size, size), Image.Resampling.BILINEAR,
                     box=(box[0] * w, box[1] * h, box[2] * w, box[3] * h))
    return np.asarray(out, dtype=np.float64)


def at_64(face: np.ndarray) -> np.ndarray:
    """A mean face at the 64 px the search compares at (box-averaged down from 128 px)."""
    if face.shape[0] == 64:
        return face
    return np.asarray(Image.fromarray(face.astype(np.float32), "F").resize(
        (64, 64), Image.Resampling.BOX), dtype=np.float64)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    ap.add_argument("--target", choices=("celeba64", "celeba128"), default="celeba64",
                    help="the CelebA crop to match (its mean face, compared at 64 px)")
    ap.add_argument("--png", type=Path, default=None,
                    help="also write the mean CelebA and LFW faces side by side (eye rows in red)")
    args = ap.parse_args()
    celeba = at_64(mean_face(load_split(get_dataset(args.target), "train", args.data_root).images))
    current_box, current_set = ((LFW_BOX, "lfw64") if args.target == "celeba64"
                                else (LFW_BOX_128, "lfw128"))
    lfw = get_dataset("lfw64")
    paths = [src for _, src in lfw.sources(args.data_root, "train")]
    full = np.mean([np.asarray(Image.open(p).convert("L"), dtype=np.float64) / 255.0
                    for p in paths], axis=0)
    best = (-1.0, current_box)
    for side in np.arange(0.40, 1.001, 0.01):
        for cx in np.arange(0.45, 0.551, 0.005):
            for cy in np.arange(side / 2, 1 - side / 2 + 1e-9, 0.005):
                box = tuple(float(round(v, 3)) for v in
                            (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
                if min(box) < 0 or max(box) > 1:
                    continue
                r = face_correlation(crop_mean(full, box, 64), celeba)
                if r > best[0]:
                    best = (r, box)
    m = crop_mean(full, best[1], 64)
    print(f"best box {best[1]}: mean-face correlation {best[0]:.4f} over {len(paths)} LFW faces; "
          f"eye row LFW {eye_row(m)} vs CelebA {eye_row(celeba)} (of 64)")
    if args.png:
        from bench.data.alignment import side_by_side

        current = at_64(mean_face(load_split(get_dataset(current_set), "train", args.data_root).images))
        Image.fromarray(side_by_side(celeba, current)).save(args.png)
        print(f"wrote {args.png}: CelebA mean face (left), LFW mean face with {current_set}'s box "
              f"{current_box} (right)")
    print(f"current box {current_box}: correlation "
          f"{face_correlation(crop_mean(full, current_box, 64), celeba):.4f}; central full image: "
          f"{face_correlation(crop_mean(full, (0, 0, 1, 1), 64), celeba):.4f}")


if __name__ == "__main__":
    main()
