"""The paper's figures from a trained model and its stored codes: Figure 1 (code spectra),
interpolations (Fig. 6/7), walks along principal axes of Z (Fig. 8), code arithmetic
(Fig. 9). Only decoding is needed, so these are cheap for every model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bench.core.model import Model
from bench.runtime.io import save_figure


def interpolations(model: Model, z: Tensor, pairs: int = 6, steps: int = 8) -> list[Tensor]:
    """Rows decoding (1 - t) z_a + t z_b between codes of reconstructed training images."""
    gen = torch.Generator().manual_seed(0)
    idx = torch.randperm(z.shape[0], generator=gen)[: 2 * pairs].view(-1, 2)
    t = torch.linspace(0, 1, steps).view(-1, 1)
    return [model.decode((1 - t) * z[a] + t * z[b]).cpu() for a, b in idx.tolist()]


def principal_walks(model: Model, z: Tensor, axes: int = 6, steps: int = 8,
                    span: float = 2.0) -> list[Tensor]:
    """Row k: mean code + t * sigma_k * v_k for t in [-span, span], v_k the k-th principal
    axis of Z and sigma_k the codes' standard deviation along it."""
    z64 = z.double()
    mean = z64.mean(0)
    _, s, vt = torch.linalg.svd(z64 - mean, full_matrices=False)
    sigma = s / max(z.shape[0] - 1, 1) ** 0.5
    t = torch.linspace(-span, span, steps, dtype=torch.float64).view(-1, 1)
    return [model.decode((mean + t * sigma[k] * vt[k]).float()).cpu()
            for k in range(min(axes, vt.shape[0]))]


def arithmetic(model: Model, z: Tensor, attrs: np.ndarray, header: list[str]) -> dict | None:
    """Fig. 9: mean code of men with glasses - men without + women without. Returns the
    decoded row [men+glasses, men, women, result] and the group sizes, or None."""
    male, glasses = header.index("Male"), header.index("Eyeglasses")
    has = np.abs(attrs).sum(1) > 0  # rows with attributes
    groups = {
        "men_with_glasses": has & (attrs[:, male] == 1) & (attrs[:, glasses] == 1),
        "men_without": has & (attrs[:, male] == 1) & (attrs[:, glasses] == -1),
        "women_without": has & (attrs[:, male] == -1) & (attrs[:, glasses] == -1),
    }
    sizes = {k: int(v.sum()) for k, v in groups.items()}
    if min(sizes.values()) < 3:
        return None
    means = [z[torch.from_numpy(np.flatnonzero(v))].mean(0) for v in groups.values()]
    result = means[0] - means[1] + means[2]
    row = model.decode(torch.stack([*means, result])).cpu()
    return {"row": row, "sizes": sizes}


def plot_figure1(spectra: dict[str, dict], out_base: Path, title: str,
                 initial: dict[str, dict] | None = None) -> list[Path]:
    """Cumulative normalised singular values of Z per model, as PNG and PDF; ``initial``: the
    spectra of models' codes before training (GLO), drawn dashed in the same colour."""
    # deferred: matplotlib (about a second to import) only where a figure is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    for label, spec in spectra.items():
        cum = np.asarray(spec["cumulative"])
        (line,) = ax.plot(np.arange(1, cum.size + 1), cum, label=f"{label} (d={spec['d']})")
        if initial and label in initial:
            cum0 = np.asarray(initial[label]["cumulative"])
            ax.plot(np.arange(1, cum0.size + 1), cum0, linestyle="--", color=line.get_color(),
                    linewidth=1, label=f"{label}: initial codes")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("number of singular values")
    ax.set_ylabel("cumulative sum / total (uncentred Z)")
    ax.set_title(title)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, out_base)
