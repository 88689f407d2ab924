"""Figure 1's measure of a code matrix Z: its singular values (uncentred, as in the paper) and
their normalised cumulative sum, and the flatness that the claims compare (lower: Z's energy
spread over more directions)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def spectrum(z: Tensor) -> dict:
    """Figure 1: singular values of Z (uncentred, as in the paper) and their normalised
    cumulative sum; the centred version is stored too."""
    z64 = z.double()
    s = torch.linalg.svdvals(z64).numpy()
    sc = torch.linalg.svdvals(z64 - z64.mean(0)).numpy()
    return {"singular_values": s.tolist(), "cumulative": (np.cumsum(s) / s.sum()).tolist(),
            "singular_values_centred": sc.tolist(),
            "cumulative_centred": (np.cumsum(sc) / sc.sum()).tolist(),
            "n_codes": int(z.shape[0]), "d": int(z.shape[1])}


def flatness(spectrum: dict) -> float | None:
    """Mean of a code spectrum's normalised cumulative singular values (lower: flatter)."""
    cum = spectrum.get("cumulative")
    return float(np.mean(cum)) if cum else None
