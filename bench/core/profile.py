"""The cpu profile's scale, shared by the families that declare their cpu settings: the paper's
widths and budget are for a GPU; on a 2-core CPU the nets are narrower and GLO and the VAE
train to their plateau (docs/convergence.md)."""

from __future__ import annotations

#: the cpu profile's stop rule for GLO and the VAE: the issue's "plateau" (< 1% better per
#: epoch), twice in a row, within at most this many epochs
CPU_PLATEAU = 0.01
CPU_MAX_EPOCHS = 60
#: the GAN's fixed epochs: its adversarial losses do not plateau, but the MSE of its
#: reconstructions does; on the 10,000 shared CelebA-64 images it falls 4.7% per epoch over
#: epochs 6-10 and 1.2% over 11-20, the 1% rule first holds at epoch 16 (docs/gan_curve.json)
CPU_GAN_EPOCHS = 20
CPU_BATCH = 64
#: GLO and the VAE train to their plateau: at most CPU_MAX_EPOCHS, stopping once the epoch loss
#: improves by less than 1% two epochs in a row
TO_PLATEAU = {"epochs": CPU_MAX_EPOCHS, "plateau": CPU_PLATEAU}


def cpu_width(resolution: int) -> int:
    """GLO's and the VAE's nets on the cpu profile: 32 wide up to 64 px, 16 above."""
    return 32 if resolution <= 64 else 16
