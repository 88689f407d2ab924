from baselines.vae.model import VAEModel

__all__ = ["VAEModel"]
