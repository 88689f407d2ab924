"""lsun64 end to end on real photos: the 172 LSUN bedroom photos in ../shared/data (image-folder
layout), decoded, trained on at a tiny scale, scored and reported. Far too few for the paper's
LSUN-64 column, and the page says so plainly."""

from __future__ import annotations

import html
import json

from click.testing import CliRunner

from bench.cli import main
from bench.data import get_dataset, load_split
from tests.conftest import need_shared


def test_lsun64_runs_and_reports_on_the_shared_bedroom_photos(tmp_path, cache_dir):
    data = need_shared("lsun", "bedroom_train")
    ds = get_dataset("lsun64")
    train = load_split(ds, "train", data, cache_dir, log=lambda m: None)
    test = load_split(ds, "test", data, cache_dir, log=lambda m: None)
    assert len(train.images) + len(test.images) == 172  # every photo read, none skipped
    assert train.images.shape[1:] == (3, 64, 64) and len(test.images) > 0
    runs = tmp_path / "runs"
    r = CliRunner().invoke(main, ["run", "--dataset", "lsun64", "--data-root", str(data),
                                  "--cache-dir", str(cache_dir), "--out", str(runs),
                                  "--model", "pca", "--model", "glo-mse-pca", "--steps", "20",
                                  "--precision", "fp32", "--quiet"])
    assert r.exit_code == 0, r.output
    for method in ("pca", "glo-mse-pca"):
        (run,) = (runs / "lsun64").glob(f"{method}-*")
        metrics = json.loads((run / "metrics.json").read_text())
        assert 0 < metrics["train"]["mse"] < 1 and metrics["train"]["n"] == len(train.images)
    r = CliRunner().invoke(main, ["report", "--dataset", "lsun64", "--runs", str(runs),
                                  "--out", str(tmp_path / "reports"), "--data-root", str(data)])
    assert r.exit_code == 0, r.output
    page = tmp_path / "reports" / "lsun64"
    note = json.loads((page / "report.json").read_text())["data_note"]
    assert f"These {len(train.images):,} LSUN bedroom training images are not the paper's " \
           "3 million" in note
    assert note in html.unescape((page / "index.html").read_text())
