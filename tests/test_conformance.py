"""Every model family the benchmark knows (the four built-in ones and any installed through the
`glo_bench.families` entry points) passes the model contract (bench/runs/conformance.py) on
the 80 real LFW faces; a family declared without conformance settings fails here."""

from __future__ import annotations

import numpy as np
import pytest

from bench.config.families import FAMILIES
from bench.core.model import TrainData
from bench.core.trainer import Trainable
from bench.data import get_dataset, load_split
from bench.runs import conformance
from bench.runs.registry import MODELS

SHAPE = (1, 32, 32)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> TrainData:
    cache = tmp_path_factory.mktemp("c")
    return TrainData.from_array(np.array(load_split(get_dataset("lfw25"), "train", None, cache).images))


def make(family: str):
    return lambda: MODELS[family](conformance.SMALL_SETTINGS[family], SHAPE)


def test_every_family_declares_conformance_settings():
    missing = [name for name, family in FAMILIES.items() if family.small is None]
    assert not missing, f"families without Family.small (nothing to check them with): {missing}"
    assert set(conformance.SMALL_SETTINGS) == set(FAMILIES)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_outputs(family, faces):
    conformance.check_outputs(make(family), faces)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_state_dict_round_trip(family, faces):
    conformance.check_state_dict_round_trip(make(family), faces)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_determinism(family, faces):
    conformance.check_determinism(make(family), faces)


# the families trained through the one loop (PCA's single streaming pass has no checkpoint)
TRAINED = sorted(f for f, cls in MODELS.items() if issubclass(cls, Trainable))


def test_every_family_but_the_streaming_pca_is_trained_by_the_loop():
    builtin = {"pca", "gan", "vae", "glo"}
    assert builtin - set(TRAINED) == {"pca"}


@pytest.mark.parametrize("family", TRAINED)
def test_resume_after_kill(family, faces, tmp_path):
    conformance.check_resume_after_kill(make(family), faces, tmp_path)
