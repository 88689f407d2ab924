"""The paper's Table 1 (train-set reconstruction MSE, [-1, 1] pixels): the one place these
numbers are written. Bojanowski et al., Optimizing the Latent Space of Generative Networks."""

from __future__ import annotations

# dataset name here -> the paper's column
PAPER_COLUMNS = {"celeba64": "CelebA-64", "celeba128": "CelebA-128", "lsun64": "LSUN-64"}

# method -> (CelebA-64, CelebA-128, LSUN-64); None where the paper reports nothing
PAPER_TABLE1_MSE: dict[str, tuple[float | None, float | None, float | None]] = {
    "pca": (0.0203, 0.0132, 0.0269),
    "gan-mse": (0.0255, 0.0264, 0.0262),
    "gan-lap1": (0.0399, 0.0400, 0.0403),
    "vae-mse": (None, 0.0122, None),
    "vae-lap1": (None, 0.0147, None),
    "glo-mse-random": (0.0326, 0.0345, 0.0957),
    "glo-mse-pca": (0.0148, 0.0142, 0.0240),
    "glo-lap1-random": (0.0175, 0.0152, 0.0444),
    "glo-lap1-pca": (0.0130, 0.0125, 0.0222),
}

METHOD_LABELS = {
    "pca": "PCA", "gan-mse": "GAN, MSE", "gan-lap1": "GAN, Lap1", "vae-mse": "VAE, MSE",
    "vae-lap1": "VAE, Lap1", "glo-mse-random": "GLO, MSE, random init",
    "glo-mse-pca": "GLO, MSE, PCA init", "glo-lap1-random": "GLO, Lap1, random init",
    "glo-lap1-pca": "GLO, Lap1, PCA init",
}


def label(method: str) -> str:
    """A method's name on the page: the paper's row label, or the method's own name (a method
    of an installed family)."""
    return METHOD_LABELS.get(method, method)


def paper_mse(method: str, dataset: str) -> float | None:
    """The paper's train MSE for this method on this dataset, None where it has none."""
    column = PAPER_COLUMNS.get(dataset)
    if column is None or method not in PAPER_TABLE1_MSE:
        return None
    return PAPER_TABLE1_MSE[method][list(PAPER_COLUMNS.values()).index(column)]
