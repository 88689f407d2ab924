"""Reconstruction losses, used both to train and to measure: per-pixel MSE and Lap1.

Lap1(x, x') = sum_j w^j * |L_j(x) - L_j(x')|_1 over the levels L_j of a Laplacian pyramid,
j = 0 the finest. The pyramid is Burt-Adelson's, built exactly like kornia's
``build_laplacian_pyramid``: blur with a 5x5 kernel (binomial [1 4 6 4 1]/16 outer
product, or a Gaussian of chosen sigma), reflect padding, halve by 2x2 averaging; expand by
bilinear x2 upsampling then blur; L_j = G_j - expand(G_{j+1}); the last level is the
coarsest Gaussian level itself.

Fast path (the default, ``impl="matmul"``). Every step is linear and separable: along each
axis, "blur (reflect padding folded in) then halve" is one small banded matrix A_j
(n/2 x n) and "bilinear x2 then blur" one matrix E_j (n x n/2). So G_{j+1} = A_j G_j A_j^T
and L_j = G_j - E_j G_{j+1} E_j^T: four batched GEMMs per level, which run near the
machine's matmul speed, where a 5x5 depthwise convolution runs far below it. The matrices
are built once per size, dtype and device; the numbers equal the convolutions' (and
kornia's) to float rounding (tests/test_losses.py). ``impl="conv"`` keeps the depthwise
convolution, ``impl="separable"`` two 1-D ones.

Weights. Default w = 4 (2^{2j}) on plain L1 sums, divided by the image's C*H*W: each level
then counts as the mean of its own absolute entries, with equal weight. With w = 1/4
(2^{-2j}), coarse levels are down-weighted twice (by the weight and by their 4^-j share of
pixels) and brightness/colour become almost free: on lfw25, GLO-Lap1-PCA reached train MSE
0.38 (2^{-2j}, sums) and 0.26 (2^{-2j}, per-level means) against 0.0080 with 2^{2j}, and
only the latter reproduces the paper's finding that Lap1-trained GLO beats MSE-trained GLO
on MSE. ``weight_base`` and ``level_norm`` select either; every setting is stored in each
run's config.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class LapSettings:
    kernel: Literal["binomial", "gaussian"] = "binomial"  # "binomial" ([1 4 6 4 1]/16, kornia's) or "gaussian"
    kernel_size: int = 5
    sigma: float = 1.0  # used by kernel="gaussian" only
    levels: int = 0  # 0: auto = min(5, log2(size) - 1), so the coarsest level is >= 4 px
    weight_base: float = 4.0  # level j weighs weight_base**j (see the module docstring)
    padding: Literal["reflect"] = "reflect"  # the matmul pyramid folds reflect padding in
    # |L_j|_1 per level: "mean" = averaged over the level's own C*H_j*W_j entries (so a coarse
    # level is not down-weighted twice, by 2^(-2j) and by its 4^-j share of pixels);
    # "sum" = the plain L1 norm, then divided by C*H*W of the image (per-pixel scale).
    level_norm: Literal["sum", "mean"] = "sum"

    def resolved_levels(self, size: int) -> int:
        return self.levels or max(1, min(5, int(math.log2(size)) - 1))

    def to_dict(self) -> dict:
        return asdict(self)


def _kernel_1d(s: LapSettings) -> Tensor:
    if s.kernel == "binomial":
        if s.kernel_size != 5:
            raise ValueError("the binomial kernel is 5 taps; use kernel='gaussian' for other sizes")
        k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64)
    elif s.kernel == "gaussian":
        r = torch.arange(s.kernel_size, dtype=torch.float64) - (s.kernel_size - 1) / 2
        k = torch.exp(-(r**2) / (2 * s.sigma**2))
    else:
        raise ValueError(f"unknown Laplacian kernel {s.kernel!r} (binomial or gaussian)")
    return k / k.sum()


def _reflect(i: int, n: int) -> int:
    """PyTorch's "reflect" padding index (the edge pixel is not repeated)."""
    if i < 0:
        return -i
    if i >= n:
        return 2 * (n - 1) - i
    return i


def blur_matrix(n: int, k1: Tensor) -> Tensor:
    """n x n: 1-D blur with kernel k1 over reflect padding, as a matrix (float64)."""
    r = k1.numel() // 2
    if n <= r:
        raise ValueError(f"a Laplacian level of {n} px is too small for reflect padding of {r}")
    m = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for t in range(-r, r + 1):
            m[i, _reflect(i + t, n)] += k1[t + r]
    return m


def halve_matrix(n: int) -> Tensor:
    """n/2 x n: 2x2 averaging along one axis."""
    m = torch.zeros(n // 2, n, dtype=torch.float64)
    for i in range(n // 2):
        m[i, 2 * i] = m[i, 2 * i + 1] = 0.5
    return m


def upsample_matrix(n: int) -> Tensor:
    """2n x n: bilinear x2 upsampling along one axis (align_corners=False, as F.interpolate)."""
    m = torch.zeros(2 * n, n, dtype=torch.float64)
    for o in range(2 * n):
        src = max((o + 0.5) / 2 - 0.5, 0.0)
        i0 = int(math.floor(src))
        i1 = min(i0 + 1, n - 1)
        frac = src - i0
        m[o, i0] += 1 - frac
        m[o, i1] += frac
    return m


class LaplacianPyramid(torch.nn.Module):
    IMPLS = ("matmul", "conv", "separable")

    def __init__(self, settings: LapSettings | None = None, impl: str = "matmul") -> None:
        super().__init__()
        if impl not in self.IMPLS:
            raise ValueError(f"unknown pyramid impl {impl!r}: {', '.join(self.IMPLS)}")
        self.settings = settings or LapSettings()
        self.impl = impl
        self.separable = impl == "separable"
        k1 = _kernel_1d(self.settings)
        self._k1 = k1
        self.register_buffer("kernel1d", k1.float(), persistent=False)
        self.register_buffer("kernel2d", torch.outer(k1, k1).float(), persistent=False)
        self._ops: dict[tuple, list[tuple[Tensor, Tensor]]] = {}

    def axis_operators(self, n: int, levels: int, dtype: torch.dtype,
                       device: torch.device) -> list[tuple[Tensor, Tensor]]:
        """Per level j < levels - 1 along an axis of n pixels: (A_j, E_j), A_j = halve @ blur
        (n_j/2 x n_j), E_j = blur @ upsample (n_j x n_j/2)."""
        key = (n, levels, dtype, device)
        if key not in self._ops:
            ops = []
            for _ in range(levels - 1):
                down = halve_matrix(n) @ blur_matrix(n, self._k1)
                up = blur_matrix(n, self._k1) @ upsample_matrix(n // 2)
                ops.append((down.to(device, dtype), up.to(device, dtype)))
                n //= 2
            self._ops[key] = ops
        return self._ops[key]

    def _forward_matmul(self, x: Tensor, n_levels: int) -> list[Tensor]:
        h, w = x.shape[-2:]
        rows = self.axis_operators(h, n_levels, x.dtype, x.device)
        cols = rows if w == h else self.axis_operators(w, n_levels, x.dtype, x.device)
        levels, g = [], x
        for (a_h, e_h), (a_w, e_w) in zip(rows, cols, strict=True):
            g_next = a_h @ g @ a_w.T
            levels.append(g - e_h @ g_next @ e_w.T)
            g = g_next
        return levels + [g]

    def _blur(self, x: Tensor) -> Tensor:
        """One depthwise conv over all channels (or two 1-D ones: the same numbers, since the
        kernel is an outer product, applied to the same padded input)."""
        c = x.shape[1]
        p = self.settings.kernel_size // 2
        padded = F.pad(x, (p, p, p, p), mode=self.settings.padding)
        if self.separable:
            k = self.kernel1d.to(dtype=x.dtype)
            rows = F.conv2d(padded, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
            return F.conv2d(rows, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
        w = self.kernel2d.to(dtype=x.dtype)[None, None].expand(c, 1, -1, -1)
        return F.conv2d(padded, w, groups=c)

    def down(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(self._blur(x), 2)

    def up(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        return self._blur(F.interpolate(x, size=(2 * h, 2 * w), mode="bilinear", align_corners=False))

    def forward(self, x: Tensor) -> list[Tensor]:
        n = self.settings.resolved_levels(min(x.shape[-2:]))
        if self.impl == "matmul":
            return self._forward_matmul(x, n)
        gauss = [x]
        for _ in range(n - 1):
            gauss.append(self.down(gauss[-1]))
        levels = [g - self.up(g_next) for g, g_next in zip(gauss[:-1], gauss[1:], strict=True)]
        return levels + [gauss[-1]]

    def reconstruct(self, levels: list[Tensor]) -> Tensor:
        x = levels[-1]
        for lap in reversed(levels[:-1]):
            x = lap + self.up(x)
        return x


class Lap1(torch.nn.Module):
    """Per-image Lap1 distance: returns a vector of length batch."""

    def __init__(self, settings: LapSettings | None = None, impl: str = "matmul") -> None:
        super().__init__()
        self.pyramid = LaplacianPyramid(settings, impl)

    @property
    def settings(self) -> LapSettings:
        return self.pyramid.settings

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        levels = self.pyramid(x - y)  # the pyramid is linear: L(x) - L(y) = L(x - y)
        s = self.settings
        if s.level_norm not in ("mean", "sum"):
            raise ValueError(f"unknown Lap1 level_norm {s.level_norm!r}: mean or sum")
        total = x.new_zeros(x.shape[0], dtype=torch.float32)
        for j, lev in enumerate(levels):
            per_level = lev.float().abs().flatten(1)
            norm = per_level.mean(1) if s.level_norm == "mean" else per_level.sum(1) / x[0].numel()
            total = total + (s.weight_base**j) * norm
        return total


def mse_per_image(x: Tensor, y: Tensor) -> Tensor:
    return (x.float() - y.float()).pow(2).flatten(1).mean(1)


@dataclass(frozen=True)
class LossSpec:
    """A training/inversion objective: "mse", "lap1" or "lap1+mse"
    (lap1_weight * Lap1 + mse_weight * MSE)."""

    name: Literal["mse", "lap1", "lap1+mse"] = "mse"
    mse_weight: float = 1.0
    lap1_weight: float = 1.0
    lap: LapSettings = LapSettings()


#: alpha of the paper's "weighted combination of the Lap1 and the l2 costs": the alpha whose GAN
#: inversion ratio is nearest the paper's 1.54 on CelebA-64 (1.58; docs/lap1.md)
PAPER_MSE_WEIGHT = 0.1
#: `--lap1 paper` trains as PAPER_LAP1_WEIGHT x (fine + alpha x MSE), i.e. 10 x fine + 1 x MSE:
#: the l2 term then trains exactly as the MSE rows' loss does (same gradients under SGD and in
#: the VAE's balance against its KL term) and the fine-scale term comes on top; Adam inversion
#: does not see the overall scale, so the GAN ratio is alpha's. At 8 epochs on celeba64 this
#: trains GLO to 1.77x MSE-trained GLO's MSE against 3.27x at scale 1 (docs/lap1.md)
PAPER_LAP1_WEIGHT = 10.0

#: The Lap1 variants the Lap1 rows can train, invert and be measured with (`--lap1 NAME`;
#: the resolved LossSpec is stored in every run's config):
#: - "equal" (the default): each pyramid level's mean absolute value with equal weight, no l2
#:   term, i.e. sum_j 4^j |L_j|_1 / (C H W) with j = 0 the finest (the convention of public
#:   reimplementations); it trains GLO as well as MSE does, but its GAN ratio is 1.11;
#: - "paper": weight 4^-j on level j's plain L1 sum (j = 0 the finest: "weights the details at
#:   fine scales more heavily") plus PAPER_MSE_WEIGHT x MSE ("to keep low-frequency content
#:   such as color information"), all times PAPER_LAP1_WEIGHT: the paper's GAN ratio (1.58),
#:   but GLO trained with it at the paper's SGD rates ends far worse on MSE (docs/lap1.md).
LAP1_VARIANTS: dict[str, LossSpec] = {
    "equal": LossSpec("lap1"),
    "paper": LossSpec("lap1+mse", mse_weight=PAPER_LAP1_WEIGHT * PAPER_MSE_WEIGHT,
                      lap1_weight=PAPER_LAP1_WEIGHT, lap=LapSettings(weight_base=0.25)),
}
DEFAULT_LAP1 = "equal"


def lap1_variant_name(loss: dict) -> str:
    """The `--lap1` variant a run's stored loss spec (config.json's model.loss) is, or
    "custom" when it is none of LAP1_VARIANTS (a hand-made LossSpec)."""
    for name, spec in LAP1_VARIANTS.items():
        if asdict(spec) == loss:
            return name
    return "custom"


class ReconLoss(torch.nn.Module):
    """Per-image loss for a LossSpec."""

    def __init__(self, spec: LossSpec) -> None:
        super().__init__()
        if spec.name not in ("mse", "lap1", "lap1+mse"):
            raise ValueError(f"unknown loss {spec.name!r}: mse, lap1 or lap1+mse")
        self.spec = spec
        self.lap1 = Lap1(spec.lap)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if self.spec.name == "mse":
            return mse_per_image(x, y)
        lap = self.spec.lap1_weight * self.lap1(x, y)  # x 1.0 is exact: "equal" is unchanged
        if self.spec.name == "lap1+mse":
            lap = lap + self.spec.mse_weight * mse_per_image(x, y)
        return lap
