"""The regression check catches real regressions: five bugs planted into real (small) runs
each fail the same-platform comparison, and an unplanted re-run passes it."""

from __future__ import annotations

import dataclasses

import pytest

from baselines.dcgan import GANModel
from bench import regress
from bench.losses import LossSpec, ReconLoss
from glo import GLOModel

pytestmark = pytest.mark.slow

SCALE = regress.Scale("lfw25", None, 40, 0, 0, 40)  # 80 real faces, 40 epochs, 40-step inversions
METHODS = ("gan-mse", "glo-lap1-pca")


def _after_init(monkeypatch, cls, change):
    real = cls.__init__

    def init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        change(self)

    monkeypatch.setattr(cls, "__init__", init)


def _glo_settings(**kw):
    return lambda m: setattr(m, "settings", dataclasses.replace(m.settings, **kw))


PLANTS = {
    "GLO-Lap1 trained with MSE": lambda mp: _after_init(
        mp, GLOModel, lambda m: setattr(m, "loss_fn", ReconLoss(LossSpec("mse")))),
    "GLO code learning rate / 10": lambda mp: _after_init(
        mp, GLOModel, lambda m: setattr(m, "settings", dataclasses.replace(
            m.settings, lr_z=m.settings.lr_z / 10))),
    "GLO projection removed": lambda mp: mp.setattr("glo.model.project_unit_ball", lambda z: z),
    "GLO PCA init replaced by random": lambda mp: _after_init(mp, GLOModel, _glo_settings(init="random")),
    "GAN inversion steps / 4": lambda mp: _after_init(
        mp, GANModel, lambda m: setattr(m, "settings", dataclasses.replace(
            m.settings, invert=dataclasses.replace(m.settings.invert,
                                                   steps=m.settings.invert.steps // 4)))),
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("plants")

    def run(name):
        return regress.run_suite("lfw25", None, 0, root / name, root / "cache", log=lambda m: None,
                                 scale=SCALE, methods=METHODS)

    clean, rerun = run("clean"), run("rerun")
    ref = regress.build_reference("lfw25", SCALE, {0: clean, 1: rerun})
    ref["configs"] = {m: ref["configs"][m] for m in METHODS}
    ref["claims"] = {}
    ref["same_platform"] = regress.same_platform_entry(clean, rerun)
    return ref, root


def test_an_unplanted_rerun_is_bitwise_the_same_and_passes(reference):
    ref, _ = reference
    assert ref["same_platform"]["rerun_rel_diff"] == 0.0  # deterministic on one platform
    assert ref["same_platform"]["key"] == regress.platform_key()


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_each_planted_regression_fails_the_check(reference, plant, monkeypatch):
    ref, root = reference
    PLANTS[plant](monkeypatch)
    name = plant.replace(" ", "_").replace("/", "div")
    now = regress.run_suite("lfw25", None, 0, root / name, root / "cache", log=lambda m: None,
                            scale=SCALE, methods=METHODS)
    rows, _ = regress.compare(ref, now, tight=True)
    moved = {(r["config"], r["metric"]) for r in rows if not r["ok"]}
    family = "gan" if plant.startswith("GAN") else "glo"
    assert any(cfg.startswith(family) for cfg, _ in moved), (plant, rows)
    # only the planted family moved: the other stays bitwise where it was
    assert all(cfg.startswith(family) for cfg, _ in moved), (plant, moved)
