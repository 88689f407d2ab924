"""PCA with d components: Table 1's linear baseline."""

from baselines.pca.family import FAMILY
from baselines.pca.model import PCAModel
from bench.core.pca import PCASettings, fit_pca

__all__ = ["FAMILY", "PCAModel", "PCASettings", "fit_pca"]
