"""LFW is cropped so that its faces sit where CelebA's do (paper 3.3.1)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.data import get_dataset, load_split
from bench.data.alignment import (
    eye_row,
    face_correlation,
    mean_face,
    row_profile_correlation,
    side_by_side,
)
from bench.data.images import Crop, decode


@pytest.mark.slow
def test_lfw_mean_face_matches_celeba(shared_data, cache_dir, tmp_path):
    celeba = mean_face(load_split(get_dataset("celeba64"), "train", shared_data, cache_dir).images)
    lfw = mean_face(load_split(get_dataset("lfw64"), "train", shared_data, cache_dir).images)
    # the artifact a person looks at: both mean faces, eye rows marked
    out = tmp_path / "mean_faces_celeba_lfw.png"
    Image.fromarray(side_by_side(celeba, lfw)).save(out)
    assert out.stat().st_size > 1000
    assert abs(eye_row(lfw) - eye_row(celeba)) <= 1
    assert face_correlation(lfw, celeba) > 0.7
    assert row_profile_correlation(lfw, celeba) > 0.8
    # and the box matters: the plain central crop of the LFW frame aligns far worse
    sources = get_dataset("lfw64").sources(shared_data, "train")[:400]
    plain = mean_face(np.stack([decode(p, Crop(64, 3)) for _, p in sources]))
    assert face_correlation(plain, celeba) < face_correlation(lfw, celeba) - 0.2


@pytest.mark.slow
def test_lfw128_follows_celeba128s_tighter_crop(shared_data, cache_dir):
    """celeba128 is the 108-px centre square (docs/preprocessing.md); lfw128's own box puts
    LFW's faces where that crop puts CelebA's, and the 64 px box would not."""
    celeba = mean_face(load_split(get_dataset("celeba128"), "train", shared_data, cache_dir).images)
    lfw = mean_face(load_split(get_dataset("lfw128"), "train", shared_data, cache_dir).images)
    assert abs(eye_row(lfw) - eye_row(celeba)) <= 3  # of 128 rows
    assert face_correlation(lfw, celeba) > 0.85
    sources = get_dataset("lfw128").sources(shared_data, "train")[:400]
    from bench.data.sources import LFW_BOX

    wide = mean_face(np.stack([decode(p, Crop(128, 3, box=LFW_BOX)) for _, p in sources]))
    assert face_correlation(wide, celeba) < face_correlation(lfw, celeba) - 0.15


def test_mean_face_in_chunks_is_the_mean_over_images_and_channels():
    """Chunked (a memmap of 10,000 128-px faces must not become 3.9 GB of float64): the same
    mean face whatever the chunk, a last partial chunk included."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(37, 3, 8, 8), dtype=np.uint8)
    plain = images.astype(np.float64).mean(axis=(0, 1)) / 255.0
    for chunk in (1, 5, 37, 256):
        np.testing.assert_allclose(mean_face(images, chunk=chunk), plain, rtol=1e-12)
