"""PCA as a family of the benchmark: Table 1's first row, the same at every scale."""

from __future__ import annotations

from baselines.pca.model import PCAModel
from bench.core.family import Family
from bench.core.pca import PCASettings

FAMILY = Family(name="pca", settings=PCASettings, model=PCAModel, methods={"pca": {}},
                small=PCASettings(d=8))
