"""A run's resolved configuration: its evaluation settings and the RunConfig whose hash
(with the data fingerprint and the code version) names the run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bench.core.losses import LapSettings

ALL = 0  # an eval count meaning: every image of the split


PROFILES = ("cpu", "paper")






@dataclass(frozen=True)
class EvalSettings:
    train_n: int = ALL  # images of each split measured (a seeded subset); ALL (0): every one
    test_n: int = ALL
    heldout: str | None = None  # a dataset measured as held-out (e.g. lfw64 for celeba64)
    heldout_n: int = ALL
    lap: LapSettings = LapSettings()
    n_samples: int = 64
    # sample quality (FID/KID/precision-recall, only when the Inception weights are present):
    # this many samples against as many test images (ALL: as many as the test split has),
    # and as many scored training images' reconstructions against their originals
    fid_n: int = ALL
    # GLO: scored training images re-inverted with the generator frozen, to check the codes
    # (at most as many as test images scored)
    codes_check_n: int = 500
    # ... re-inverted with the model's own training loss, or with MSE
    codes_check_loss: Literal["own", "mse"] = "own"


@dataclass(frozen=True)
class RunConfig:
    dataset: str
    method: str
    family: str
    model: Any  # the family's settings dataclass (bench.core.family.Family.settings)
    seed: int = 0
    profile: str = "cpu"
    device: str = "cpu"
    precision: str = "fp32"  # fp32 | bf16 (autocast; the default on CUDA and native-bf16 CPUs)
    subset: int | None = None  # first N training images only
    eval: EvalSettings = field(default_factory=EvalSettings)
    min_steps: int = 0  # epochs raised so tiny datasets still get this many steps
    world_size: int = 1  # processes training it (torch.distributed); part of the run's identity
    notes: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()  # the `--set KEY=VALUE` assignments applied to this run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        m = self.model
        parts = [f"d={m.d}"]
        for name in ("steps", "epochs", "batch_size", "ngf"):
            if getattr(m, name, 0):
                parts.append(f"{name}={getattr(m, name)}")
        return ", ".join(parts)
