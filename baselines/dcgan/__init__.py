from baselines.dcgan.model import GANModel

__all__ = ["GANModel"]
