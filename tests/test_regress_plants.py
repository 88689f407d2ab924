"""The regression check catches real regressions the way CI runs it: five bugs planted into
real runs at the CI scale (bench regress's own dataset, scale and committed reference), each
judged by the rule `bench regress` picks on this machine -- and by the cross-platform rule a
machine without a reference entry gets -- must fail; the unplanted runs must pass both. The
seed-spread rule (the only one where the reference has no platform entries, as for the embedded
lfw25 without the shared data) is the weakest: it misses exactly the plants that
regress.SEED_SPREAD_MISSES and docs/regression.md name, and the test holds it to that list in
both directions."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from baselines.dcgan import GANModel
from bench.core.losses import LossSpec, ReconLoss
from bench.studies import regress
from glo import GLOModel

pytestmark = pytest.mark.slow

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "reports" / "regression" /
                        "reference.json").read_text())


def _after_init(monkeypatch, cls, change):
    real = cls.__init__

    def init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        change(self)

    monkeypatch.setattr(cls, "__init__", init)


def _glo_settings(**kw):
    return lambda m: setattr(m, "settings", dataclasses.replace(m.settings, **kw))


# plant -> (how, the configuration it must move: one run each keeps the test short)
PLANTS = {
    "GLO-Lap1 trained with MSE": (lambda mp: _after_init(
        mp, GLOModel, lambda m: setattr(m, "loss_fn", ReconLoss(LossSpec("mse")))
        if m.settings.loss.name != "mse" else None), "glo-lap1-pca"),
    "GLO code learning rate / 10": (lambda mp: _after_init(
        mp, GLOModel, _glo_settings_lr), "glo-mse-pca"),
    "GLO projection removed": (lambda mp: mp.setattr("glo.model.project_unit_ball",
                                                     lambda z: z), "glo-mse-random"),
    "GLO PCA init replaced by random": (lambda mp: _after_init(
        mp, GLOModel, _glo_settings(init="random")), "glo-lap1-pca"),
    "GAN inversion steps / 4": (lambda mp: _after_init(
        mp, GANModel, lambda m: setattr(m, "settings", dataclasses.replace(
            m.settings, invert=dataclasses.replace(m.settings.invert,
                                                   steps=m.settings.invert.steps // 4)))),
        "gan-mse"),
}


def _glo_settings_lr(m):
    m.settings = dataclasses.replace(m.settings, lr_z=m.settings.lr_z / 10)


@pytest.fixture(scope="module")
def ci(tmp_path_factory, cache_dir):
    """bench regress's dataset and committed reference entry, as CI gets them here, and the
    session's decode cache (the shared images decoded once)."""
    dataset, root, why = regress.choose_dataset(None)
    return dataset, root, REFERENCE[dataset], tmp_path_factory.mktemp("plants"), cache_dir


def _rules(reference: dict) -> list[str]:
    here = regress.choose_rule(reference)[0]
    rules = [here]
    if here != "cross-platform" and regress.cross_platform_bands(reference) is not None:
        rules.append("cross-platform")  # what a machine without an entry would get
    return rules


def _suite(ci, name: str, methods: tuple[str, ...]) -> dict:
    dataset, root, _ref, tmp, cache = ci
    return regress.run_suite(dataset, root, 0, tmp / name, cache, log=lambda m: None,
                             methods=methods)


def _moved(reference: dict, now: dict, rule: str) -> set[tuple[str, str]]:
    ref = {**reference, "configs": {m: reference["configs"][m] for m in now
                                    if not m.startswith("_")}}
    rows, failed = regress.compare(ref, now, rule=rule)
    return {(r["config"], r["metric"]) for r in rows if not r["ok"]} | {(c, "claim") for c in failed}


def test_unplanted_runs_pass_every_rule(ci):
    _dataset, _root, reference, _tmp, _cache = ci
    now = _suite(ci, "clean", tuple(sorted({m for _, m in PLANTS.values()})))
    for rule in _rules(reference):
        assert _moved(reference, now, rule) == set(), rule


def test_every_listed_seed_spread_miss_is_a_plant():
    """regress.SEED_SPREAD_MISSES names plants of this file: a renamed plant can't leave the
    list (and the message `bench regress` prints from it) stale."""
    assert set(regress.SEED_SPREAD_MISSES) <= set(PLANTS), "a listed miss names no plant"


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_each_planted_regression_fails_the_check_ci_runs(ci, plant, monkeypatch):
    _dataset, _root, reference, _tmp, _cache = ci
    how, method = PLANTS[plant]
    how(monkeypatch)
    now = _suite(ci, plant.replace(" ", "_").replace("/", "div"), (method,))
    for rule in _rules(reference):
        moved = _moved(reference, now, rule)
        if rule == "seed-spread" and plant in regress.SEED_SPREAD_MISSES:
            assert not moved, (f"{plant}: now caught by the seed-spread rule ({sorted(moved)}): "
                               "update docs/regression.md and regress.SEED_SPREAD_MISSES")
        else:
            assert moved, f"{plant}: not caught by the {rule} rule"
