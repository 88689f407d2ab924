from baselines.pca.model import PCAModel, fit_pca

__all__ = ["PCAModel", "fit_pca"]
