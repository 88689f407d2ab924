"""What every family builds on: the model contract, the training loop, RunContext, precision, nets,
losses, inversion, PCA and the spectrum of Z."""
