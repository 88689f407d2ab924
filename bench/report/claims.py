"""The paper's claims, measured on a run store: each one holds or fails, with its margin over
the seeds. The report puts them at the top of its page.

A comparison claim "A beats B" holds when A's value is below B's for every seed pair (seeds
are paired by value; a method with one run is paired with every seed of the other); its
margin is (B - A) / B, the smallest over the pairs. A ratio claim holds when the ratio lies
in its band for every pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.core.spectrum import flatness


@dataclass(frozen=True)
class Claim:
    text: str
    better: str  # the method that should have the lower value
    worse: tuple[str, ...]  # ... than each of these
    metric: str = "train_mse"  # train_mse | train_lap1 | flatness
    band: tuple[float, float] | None = None  # a ratio claim: worse[0] / better in this band
    datasets: tuple[str, ...] = ()  # only on these datasets (the paper's column that makes it); (): all


PAPER_CLAIMS = (
    Claim("GLO-Lap1-PCA is the best GLO row (train MSE)", "glo-lap1-pca",
          ("glo-mse-pca", "glo-lap1-random", "glo-mse-random")),
    Claim("PCA init beats random init (MSE loss)", "glo-mse-pca", ("glo-mse-random",)),
    Claim("PCA init beats random init (Lap1 loss)", "glo-lap1-pca", ("glo-lap1-random",)),
    Claim("Lap1-trained GLO beats MSE-trained GLO on MSE (PCA init)", "glo-lap1-pca",
          ("glo-mse-pca",)),
    Claim("Lap1-trained GLO beats MSE-trained GLO on MSE (random init)", "glo-lap1-random",
          ("glo-mse-random",)),
    Claim("GAN-Lap1's MSE is about 1.5x GAN-MSE's (band 1.3-1.8)", "gan-mse", ("gan-lap1",),
          band=(1.3, 1.8)),
    Claim("GLO (Lap1, PCA init) reconstructs better than the GAN (MSE inversion)", "glo-lap1-pca",
          ("gan-mse",)),
    Claim("GLO (Lap1, PCA init) reconstructs better than PCA", "glo-lap1-pca", ("pca",)),
    Claim("Figure 1: GLO (random init) spreads Z's energy over more directions than PCA",
          "glo-mse-random", ("pca",), metric="flatness"),
    Claim("Figure 1: GLO (random init) spreads Z's energy over more directions than the VAE",
          "glo-mse-random", ("vae-mse",), metric="flatness"),
    # the VAE rows: only the paper's CelebA-128 column has them (.0122 MSE, .0147 Lap1)
    Claim("VAE-MSE reconstructs better than PCA (the paper: .0122 against .0132)", "vae-mse",
          ("pca",), datasets=("celeba128",)),
    Claim("VAE-MSE and GLO-Lap1-PCA are within 10% of each other: GLO-Lap1-PCA / VAE-MSE in "
          "0.91-1.10 (the paper: .0125 / .0122 = 1.02)", "vae-mse", ("glo-lap1-pca",),
          band=(1 / 1.1, 1.1), datasets=("celeba128",)),
    Claim("MSE-trained VAE beats Lap1-trained VAE on MSE (the paper: .0122 against .0147)",
          "vae-mse", ("vae-lap1",), datasets=("celeba128",)),
)


METRIC_NOTES = {
    "train_mse": "train MSE, [-1, 1] pixels",
    "train_lap1": "train Lap1",
    "flatness": "mean of Z's normalised cumulative singular values (lower: energy spread "
                "over more directions)",
}


def claims_for(dataset: str | None) -> tuple[Claim, ...]:
    """The claims a report on ``dataset`` judges: every general claim, and those tied to the
    paper's column for this dataset (the VAE claims: CelebA-128 only)."""
    return tuple(c for c in PAPER_CLAIMS if not c.datasets or dataset in c.datasets)


def run_value(metrics: dict, metric: str) -> float | None:
    """One run's value of a claim metric, from its metrics.json."""
    if metric == "flatness":
        return flatness(metrics.get("spectrum", {}))
    split, name = metric.split("_", 1)
    v = metrics.get(split, {}).get(name)
    return None if v is None else float(v)


def relative_margin(better: float, worse: float) -> float:
    """By how much ``better`` is below ``worse``, relative to ``worse`` (positive: it is)."""
    return (worse - better) / abs(worse) if worse else float("nan")


def _pairs(a: dict[int, float], b: dict[int, float]) -> list[tuple[float, float]]:
    if len(a) == 1 or len(b) == 1:
        return [(x, y) for x in a.values() for y in b.values()]
    common = sorted(set(a) & set(b))
    return [(a[s], b[s]) for s in common]


def evaluate_claims(per_method: dict[str, dict[int, dict]],
                    claims: tuple[Claim, ...] = claims_for(None)) -> list[dict[str, Any]]:
    """``per_method``: method -> seed -> metrics.json. One entry per claim: holds (True, False,
    or None when a method it needs has no complete run), the margin, and each pair's values."""
    out = []
    for c in claims:
        entry: dict[str, Any] = {"claim": c.text, "metric": METRIC_NOTES[c.metric],
                                 "holds": None, "margin": None, "pairs": [], "detail": ""}
        methods = (c.better, *c.worse)
        values = {m: {s: v for s, met in per_method.get(m, {}).items()
                      if (v := run_value(met, c.metric)) is not None} for m in methods}
        missing = [m for m in methods if not values[m]]
        if missing:
            entry["detail"] = "not measured: no complete run of " + ", ".join(missing)
            out.append(entry)
            continue
        margins, holds = [], True
        for worse in c.worse:
            for b, w in _pairs(values[c.better], values[worse]):
                if c.band is not None:
                    ratio = w / b if b else float("nan")
                    lo, hi = c.band
                    margins.append(min(ratio - lo, hi - ratio))
                    holds &= bool(lo <= ratio <= hi)
                    entry["pairs"].append({"ratio": ratio, worse: w, c.better: b})
                else:
                    m = relative_margin(b, w)
                    margins.append(m)
                    holds &= bool(m > 0)
                    entry["pairs"].append({c.better: b, worse: w, "margin": m})
        if not margins:
            entry["detail"] = "no seed measured for both methods"
            out.append(entry)
            continue
        entry["holds"] = holds
        entry["margin"] = float(np.min(margins))
        seeds = {m: len(values[m]) for m in methods}
        entry["detail"] = ("ratio " + ", ".join(f"{p['ratio']:.2f}" for p in entry["pairs"])
                           if c.band else
                           f"smallest relative margin over {len(margins)} pair(s)") + \
            "; seeds " + ", ".join(f"{m} {n}" for m, n in seeds.items())
        out.append(entry)
    return out
