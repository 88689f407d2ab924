"""Lap1 and its Laplacian pyramid."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from bench.core.losses import (
    Lap1,
    LaplacianPyramid,
    LapSettings,
    LossSpec,
    ReconLoss,
    mse_per_image,
)
from bench.core.model import to_float
from bench.data import get_dataset, load_split


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> torch.Tensor:
    cache = tmp_path_factory.mktemp("c")
    return to_float(torch.from_numpy(np.array(load_split(get_dataset("lfw25"), "train", None, cache).images[:16])))


def oracle():
    """kornia, the reference implementation Lap1 is checked against: required where
    BENCH_REQUIRE_KORNIA is set (CI), else skipped with the reason when not installed."""
    if os.environ.get("BENCH_REQUIRE_KORNIA"):
        import kornia

        return kornia
    return pytest.importorskip("kornia", reason="kornia (the Lap1 oracle) is not installed: "
                               "pip install -e '.[test]'")


def test_pyramid_equals_kornia(faces):
    kornia = oracle()
    x = faces.repeat(1, 3, 1, 1) * torch.linspace(0.5, 1.0, 3).view(1, 3, 1, 1)  # 3 channels
    ours = LaplacianPyramid(LapSettings(levels=4))(x)
    theirs = kornia.geometry.transform.build_laplacian_pyramid(x, 4, border_type="reflect")
    assert len(ours) == len(theirs) == 4
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_matmul_pyramid_equals_kornia_and_the_convolutions(size):
    """The fast path (banded matrices, GEMMs) gives kornia's pyramid to 1e-5 at every size the
    nets produce, and the depthwise-conv path's values and gradients to float rounding."""
    kornia = oracle()
    x = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(size)) * 2 - 1
    levels = LapSettings().resolved_levels(size)
    fast = LaplacianPyramid(impl="matmul")(x)
    theirs = kornia.geometry.transform.build_laplacian_pyramid(x, levels, border_type="reflect")
    assert len(fast) == len(theirs) == levels
    for a, b in zip(fast, theirs, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    y = torch.rand_like(x) * 2 - 1
    torch.testing.assert_close(Lap1(impl="matmul")(x, y), Lap1(impl="conv")(x, y),
                               atol=1e-6, rtol=1e-5)
    # backward: the gradient of a fixed random linear read-out of every level (smooth, so
    # no |.| sign can flip between the two paths' roundings)
    weights = [torch.randn_like(lev) for lev in fast]
    grads = []
    for impl in ("matmul", "conv"):
        xx = x.clone().requires_grad_(True)
        sum((lev * w).sum() for lev, w in
            zip(LaplacianPyramid(impl=impl)(xx), weights, strict=True)).backward()
        grads.append(xx.grad)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-5)


def test_matmul_pyramid_handles_non_square_images():
    x = torch.rand(2, 1, 32, 64) * 2 - 1
    for a, b in zip(LaplacianPyramid(impl="matmul")(x), LaplacianPyramid(impl="conv")(x), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_pyramid_reconstructs_the_image(faces):
    pyr = LaplacianPyramid(LapSettings())
    levels = pyr(faces)
    assert [lev.shape[-1] for lev in levels] == [32, 16, 8, 4]
    torch.testing.assert_close(pyr.reconstruct(levels), faces, atol=1e-5, rtol=0)


def test_lap1_zero_on_itself_and_grows_with_blur(faces):
    lap1 = Lap1()
    assert lap1(faces, faces).abs().max() == 0
    blur = LaplacianPyramid()._blur
    once, twice, thrice = blur(faces), blur(blur(faces)), blur(blur(blur(faces)))
    d1, d2, d3 = (lap1(faces, b).mean() for b in (once, twice, thrice))
    assert 0 < d1 < d2 < d3


def test_lap1_is_per_image_and_settings_change_it(faces):
    a, b = faces[:4], faces[4:8]
    per_image = Lap1()(a, b)
    assert per_image.shape == (4,)
    torch.testing.assert_close(per_image[1:2], Lap1()(a[1:2], b[1:2]))
    # equal-weight per-level means are exactly 2^{2j} weights on sums
    same = Lap1(LapSettings(weight_base=1.0, level_norm="mean"))(a, b)
    torch.testing.assert_close(per_image, same, rtol=1e-5, atol=1e-7)
    literal = Lap1(LapSettings(weight_base=0.25, level_norm="sum"))(a, b)
    assert (literal < per_image).all()


def test_brightness_shift_costs_under_default_lap1(faces):
    """A uniform offset must not be (nearly) free: the reason for the default weights."""
    shifted = faces + 0.2
    default = Lap1()(faces, shifted).mean()
    literal = Lap1(LapSettings(weight_base=0.25, level_norm="sum"))(faces, shifted).mean()
    assert default > 0.1  # the coarsest level alone carries |0.2|
    assert literal < default / 100


def test_recon_loss_variants(faces):
    a, b = faces[:4], faces[4:8]
    mse = ReconLoss(LossSpec("mse"))(a, b)
    torch.testing.assert_close(mse, mse_per_image(a, b))
    mixed = ReconLoss(LossSpec("lap1+mse", mse_weight=2.0))(a, b)
    torch.testing.assert_close(mixed, Lap1()(a, b) + 2.0 * mse)
    scaled = ReconLoss(LossSpec("lap1+mse", mse_weight=1.0, lap1_weight=10.0))(a, b)
    torch.testing.assert_close(scaled, 10.0 * Lap1()(a, b) + mse)
    with pytest.raises(ValueError):
        ReconLoss(LossSpec("l2"))
