"""The prepared GPU check (bench/gpu_check.py) run small on the CPU, so that it works the day
a GPU is lent: every step runs, and the JSON holds the tests' outcome, the speed table, and
GLO-MSE-PCA's train MSE beside PCA's on the same images."""

from __future__ import annotations

import json

import pytest

from bench.studies import gpu_check

pytestmark = pytest.mark.slow


def test_gpu_check_runs_end_to_end_small_on_cpu(tmp_path):
    gpu_check.main(["--tiny", "--out", str(tmp_path)])
    res = json.loads((tmp_path / "gpu_check.json").read_text())
    assert res["tests"]["returncode"] == 0, res["tests"]["tail"]
    assert {r["family"] for r in res["perf_gpu"]["rows"]} == {"glo", "vae", "gan"}
    assert {r["family"] for r in res["peak"]["rows"]} == {"glo", "gan", "vae", "inversion"}
    assert all(0 < r["fraction_of_peak"] < 1.5 for r in res["peak"]["rows"])
    tr = res["train"]
    assert tr["steps"] == 20 and 0 < tr["glo_mse_pca"]["train_mse"] < 1
    assert tr["glo_over_pca_train_mse"] == pytest.approx(
        tr["glo_mse_pca"]["train_mse"] / tr["pca"]["train_mse"])
    assert res["code"]["source_sha256"]


def test_prepare_copies_a_celeba_subset_with_its_partition(tmp_path):
    src = tmp_path / "src" / "celeba"
    (src / "img_align_celeba").mkdir(parents=True)
    lines = []
    for i in range(1, 9):
        (src / "img_align_celeba" / f"{i:06d}.jpg").write_bytes(b"x" * i)
        lines.append(f"{i:06d}.jpg {0 if i <= 5 else 2}")
    (src / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    out = gpu_check.prepare(tmp_path / "dst", tmp_path / "src", n_train=3, n_test=2)
    part = (out / "celeba" / "list_eval_partition.txt").read_text().split()
    assert part == ["000001.jpg", "0", "000002.jpg", "0", "000003.jpg", "0",
                    "000006.jpg", "2", "000007.jpg", "2"]
    assert sorted(p.name for p in (out / "celeba" / "img_align_celeba").iterdir()) == \
        ["000001.jpg", "000002.jpg", "000003.jpg", "000006.jpg", "000007.jpg"]


def test_the_prepared_check_fits_one_device_call_with_docs_and_reports_aside(tmp_path):
    """The device tool sends the working tree and the carried folder, 64 MiB at most: the
    prepared CelebA subset plus everything tracked but docs/ and reports/ must fit."""
    from tests.conftest import need_shared

    data = gpu_check.prepare(tmp_path / "gpu_data", need_shared("celeba"))
    sizes = gpu_check.travelling(gpu_check.ROOT, (data,))
    slim = sum(v for k, v in sizes.items() if k not in gpu_check.ASIDE)
    assert sizes["gpu_data"] > 30 * 2**20  # the 5,500 images are there
    assert slim < gpu_check.DEVICE_LIMIT, {k: round(v / 2**20, 1) for k, v in sizes.items()}
