"""The CelebA preparation probe (bench/preprocess.py): today's rule decodes exactly as the
loader does, the boxes are where their names say, and PCA's score falls as d grows."""

from __future__ import annotations

import numpy as np
from PIL import Image

from bench.data.images import Crop, crop_resize
from bench.studies.preprocess import Rule, decode_all, pca_train_mse
from tests.conftest import synthetic_jpeg


def _jpegs(tmp_path, n=4):
    paths = []
    for i in range(n):
        p = tmp_path / f"{i:06d}.jpg"
        p.write_bytes(synthetic_jpeg(i))
        paths.append(str(p))
    return paths


def test_todays_rule_is_the_loaders_crop(tmp_path):
    paths = _jpegs(tmp_path)
    ours = decode_all(paths, Rule("sq178", None), 64)
    for p, arr in zip(paths, ours, strict=True):
        assert np.array_equal(arr, crop_resize(Image.open(p), Crop(64, 3)))


def test_boxes_and_the_round_trip(tmp_path):
    box = Rule("sq128", 128).box()
    assert np.allclose([box[0] * 178, box[1] * 218, box[2] * 178, box[3] * 218], [25, 45, 153, 173])
    paths = _jpegs(tmp_path)
    sharp = decode_all(paths, Rule("sq178", None), 128).astype(float)
    blurred = decode_all(paths, Rule("via", None, via=32), 128).astype(float)
    # the round trip through 32 px keeps the picture and drops its fine detail
    assert abs(sharp.mean() - blurred.mean()) < 2
    assert np.abs(np.diff(blurred, axis=-1)).mean() < np.abs(np.diff(sharp, axis=-1)).mean()


def test_pca_score_falls_with_d():
    rng = np.random.default_rng(0)
    imgs = (rng.random((300, 1, 8, 8)) * 255).astype(np.uint8)
    scored = np.arange(100)
    small, _ = pca_train_mse(imgs, scored, d=4)
    large, explained = pca_train_mse(imgs, scored, d=48)
    assert large < small and 0 < explained < 1
