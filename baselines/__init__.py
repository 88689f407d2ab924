"""Baselines of the GLO paper's Table 1: PCA, DCGAN (+ latent inversion), VAE."""
