"""bench report from a fixed set of tiny real runs."""

from __future__ import annotations

import json
import re
import time

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from bench.cli import main
from bench.config.families import TABLE1_METHODS
from bench.report.cost import _timing_notes, cost_summary
from bench.report.gather import collect
from bench.report.tables import table1


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Three real tiny runs on lfw25 (PCA, GLO-MSE-PCA, VAE-MSE); the six others absent."""
    root = tmp_path_factory.mktemp("store")
    start = time.monotonic()
    for model, extra in (("pca", []), ("glo-mse-pca", ["--epochs", "3"]), ("vae-mse", ["--epochs", "3"])):
        r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", model, "--out",
                                      str(root / "runs"), "--cache-dir", str(root / "c"), "--quiet",
                                      *extra])
        assert r.exit_code == 0, r.output
    (root / "runs_wall_s").write_text(str(time.monotonic() - start))  # the three commands, timed
    r = CliRunner().invoke(main, ["report", "--runs", str(root / "runs"), "--out", str(root / "reports")])
    assert r.exit_code == 0, r.output
    return root, r.output


def test_every_row_present_and_missing_shown_as_missing(store):
    root, output = store
    df = pd.read_csv(root / "reports" / "lfw25" / "table1.csv")
    assert list(df["method"]) == list(TABLE1_METHODS)
    done = {"pca", "glo-mse-pca", "vae-mse"}
    for row in df.itertuples():
        if row.method in done:
            assert row.state == "complete" and 0 < row.train_mse < 1 and row.seeds == 1
        else:
            assert row.state == "missing" and pd.isna(row.train_mse)
    md = (root / "reports" / "lfw25" / "table1.md").read_text()
    assert md.count("missing") == 6 and "[-1, 1]" in md
    assert "GLO, Lap1, PCA init" in output and "missing" in output  # the terminal table
    # a missing row's cells are dashes, not "nan"; the code check names its image count
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
             for line in md.splitlines()[4:]}
    header = [c.strip() for c in md.splitlines()[2].split("|")[2:-1]]
    assert "nan" not in md
    assert cells["GAN, MSE"][header.index("held-out MSE")] == "-"
    assert cells["GAN, MSE"][header.index("codes: stored / re-inverted")] == "-"
    assert re.fullmatch(r"0\.\d{5} / 0\.\d{5} \(\d+\)",
                        cells["GLO, MSE, PCA init"][header.index("codes: stored / re-inverted")])


# Table 1 of the paper (train MSE), typed here from the paper, independently of bench/paper.py
PAPER = {  # method: (CelebA-64, CelebA-128, LSUN-64)
    "pca": (0.0203, 0.0132, 0.0269), "gan-mse": (0.0255, 0.0264, 0.0262),
    "gan-lap1": (0.0399, 0.0400, 0.0403), "vae-mse": (None, 0.0122, None),
    "vae-lap1": (None, 0.0147, None), "glo-mse-random": (0.0326, 0.0345, 0.0957),
    "glo-mse-pca": (0.0148, 0.0142, 0.0240), "glo-lap1-random": (0.0175, 0.0152, 0.0444),
    "glo-lap1-pca": (0.0130, 0.0125, 0.0222),
}


def test_paper_column_equals_the_paper(tmp_path):
    for dataset, col in (("celeba64", 0), ("celeba128", 1), ("lsun64", 2)):
        df = table1(dataset, collect(tmp_path, dataset))
        assert list(df["method"]) == list(PAPER)
        for row in df.itertuples():
            want = PAPER[row.method][col]
            assert (pd.isna(row.paper_mse) and want is None) or row.paper_mse == want
    assert table1("lfw25", collect(tmp_path, "lfw25"))["paper_mse"].isna().all()


def test_figures_are_images_and_html_links_resolve(store):
    root, _ = store
    folder = root / "reports" / "lfw25"
    fig = Image.open(folder / "figure1.png")
    assert fig.size == (640, 440)
    assert (folder / "figure1.pdf").read_bytes()[:5] == b"%PDF-"
    page = (folder / "index.html").read_text()
    links = re.findall(r'(?:src|href)="([^"#]+)"', page)
    assert len(links) >= 10
    for link in links:
        assert (folder / link).is_file(), link
        if link.endswith(".png"):
            Image.open(folder / link).verify()
    report = json.loads((folder / "report.json").read_text())
    assert {r["method"] for r in report["runs"]} == {"pca", "glo-mse-pca", "vae-mse"}
    assert "interp" in report["grids"]["glo-mse-pca"] and "walks" in report["grids"]["pca"]


def test_diverged_run_shows_as_diverged(store, tmp_path):
    import shutil

    root, _ = store
    runs = tmp_path / "runs"
    shutil.copytree(root / "runs", runs)
    (run_dir,) = (runs / "lfw25").glob("vae-mse-*")
    (run_dir / "status.json").write_text(json.dumps({"state": "diverged", "step": 12,
                                                      "last_finite_loss": 0.5, "updated": "x"}))
    df = table1("lfw25", collect(runs, "lfw25"))
    row = df.set_index("method").loc["vae-mse"]
    assert row["state"] == "diverged" and pd.isna(row["train_mse"]) and "step 12" in row["detail"]


def test_same_seed_under_two_code_versions_is_not_two_seeds(store, tmp_path):
    import shutil

    root, _ = store
    runs = tmp_path / "runs"
    shutil.copytree(root / "runs", runs)
    (src,) = (runs / "lfw25").glob("pca-*")
    older = runs / "lfw25" / "pca-olderversion"
    shutil.copytree(src, older)
    cfg = json.loads((older / "config.json").read_text())
    cfg["code"]["source_sha256"] = "0000000000000000"
    (older / "config.json").write_text(json.dumps(cfg))
    status = json.loads((older / "status.json").read_text())
    status["updated"] = "2000-01-01T00:00:00+0000"
    (older / "status.json").write_text(json.dumps(status))
    res = collect(runs, "lfw25")["pca"]
    assert len(res.runs) == 1 and res.runs[0]["path"] == str(src)


def test_the_newest_group_wins_when_two_runs_finish_within_one_second(store, tmp_path):
    """One `bench run --set ...` finishes a default run and an overridden one within the same
    second: the report shows the one written last, not whichever folder name sorts first."""
    import shutil

    from bench.runs.store import RunDir

    root, _ = store
    runs = tmp_path / "runs"
    shutil.copytree(root / "runs", runs)
    (src,) = (runs / "lfw25").glob("pca-*")
    newer = runs / "lfw25" / "pca-zzzzzzzzzzzz"  # sorts after the original
    shutil.copytree(src, newer)
    cfg = json.loads((newer / "config.json").read_text())
    cfg["config"]["overrides"] = ["d=8"]  # another (config) group
    (newer / "config.json").write_text(json.dumps(cfg))
    RunDir(src).set_status("complete")
    RunDir(newer).set_status("complete")
    res = collect(runs, "lfw25")["pca"]
    assert [r["path"] for r in res.runs] == [str(newer)]


def test_a_table_from_two_code_versions_is_refused_unless_allowed(store, tmp_path):
    import shutil

    root, _ = store
    runs = tmp_path / "runs"
    shutil.copytree(root / "runs", runs)
    (pca,) = (runs / "lfw25").glob("pca-*")
    cfg = json.loads((pca / "config.json").read_text())
    cfg["code"]["source_sha256"] = "0000000000000000"  # PCA made by other code than the rest
    (pca / "config.json").write_text(json.dumps(cfg))
    args = ["report", "--runs", str(runs), "--out", str(tmp_path / "reports")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and "Traceback" not in r.output
    line = r.output.strip().splitlines()[-1]
    assert "2 code versions" in line and "--allow-mixed" in line and "0000000000000000: pca" in line
    assert not (tmp_path / "reports" / "lfw25" / "index.html").exists()
    r = CliRunner().invoke(main, [*args, "--allow-mixed"])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "reports" / "lfw25" / "index.html").read_text()
    assert "Mixed code versions" in page
    assert json.loads((tmp_path / "reports" / "lfw25" / "report.json").read_text())["mixed_code_versions"]


@pytest.mark.parametrize("timing, resumed, want", [
    ({"total_s": 100.0}, False, []),
    ({"total_s": 100.0}, True, ["resumed 1x; wall s counts only the last process"]),
    ({"total_s": 900.0, "fit_s_earlier_processes": 800.0}, True,
     ["resumed 1x; wall s includes 800 s of training in earlier processes"]),
    ({"total_s": 5.0, "training_reused_from": "gan-mse-abc"}, True,
     ["training reused from gan-mse-abc (wall s excludes it)"]),
])
def test_the_settings_table_says_what_a_resumed_runs_seconds_cover(tmp_path, timing, resumed, want):
    """A run resumed across sessions by code that did not carry its training seconds reports
    only its last process: the report must not let that pass as the run's cost."""
    log = "[00:00:00] run x\n" + ("[01:00:00] resuming from ckpt/last.pt (epoch 37)\n" if resumed else "")
    (tmp_path / "log.txt").write_text(log)
    notes = _timing_notes({"path": str(tmp_path), "metrics": {"timing": timing}})
    assert len(notes) == len(want) and all(n.startswith(w) for n, w in zip(notes, want, strict=True))


def test_another_report_of_the_dataset_is_shown_side_by_side(store, tmp_path):
    """A report kept beside the new one (e.g. reports/celeba64-plateau next to the budget
    report) gets a table per Table-1 row and per claim, each page's own numbers in its own
    column; a report without one has no such section."""
    import shutil

    root, _ = store
    out = tmp_path / "reports"
    shutil.copytree(root / "reports" / "lfw25", out / "lfw25-shorter")
    older = json.loads((out / "lfw25-shorter" / "report.json").read_text())
    pca = next(r for r in older["table1"] if r["method"] == "pca")
    pca["train_mse"] = 0.5  # what the other page measured
    (out / "lfw25-shorter" / "report.json").write_text(json.dumps(older))
    r = CliRunner().invoke(main, ["report", "--runs", str(root / "runs"), "--out", str(out),
                                  "--dataset", "lfw25"])
    assert r.exit_code == 0, r.output
    page = (out / "lfw25" / "index.html").read_text()
    table = page[page.index('id="side-by-side-table"'):page.index('id="side-by-side-claims"')]
    here = json.loads((out / "lfw25" / "report.json").read_text())
    ours = next(r for r in here["table1"] if r["method"] == "pca")["train_mse"]
    assert "lfw25-shorter: train MSE" in table and "0.50000" in table and f"{ours:.5f}" in table
    glo = next(row for row in here["side_by_side"]["rows"] if row["Method"] == "GLO, MSE, PCA init")
    assert re.fullmatch(r"[\d,]+ steps", glo["lfw25: trained"])
    assert glo["lfw25: trained"] == glo["lfw25-shorter: trained"]
    assert {c["claim"] for c in here["side_by_side"]["claims"]} == {c["claim"] for c in here["claims"]}
    assert 'id="side-by-side' not in (root / "reports" / "lfw25" / "index.html").read_text()


def test_a_second_page_of_a_dataset_from_another_store(store, tmp_path):
    """`bench report --page NAME` writes a dataset's second page (e.g. celeba64-lap1paper from
    its own store) beside the first; each links the other and shows its rows side by side."""
    import shutil

    root, _ = store
    out = tmp_path / "reports"
    shutil.copytree(root / "reports" / "lfw25", out / "lfw25")
    other_runs = tmp_path / "other"
    (other_runs / "lfw25").mkdir(parents=True)
    (pca,) = (root / "runs" / "lfw25").glob("pca-*")
    shutil.copytree(pca, other_runs / "lfw25" / pca.name)  # a store holding only PCA
    r = CliRunner().invoke(main, ["report", "--runs", str(other_runs), "--out", str(out),
                                  "--dataset", "lfw25", "--page", "lfw25-pcaonly"])
    assert r.exit_code == 0, r.output
    second = json.loads((out / "lfw25-pcaonly" / "report.json").read_text())
    assert [t["state"] for t in second["table1"]].count("complete") == 1
    assert second["related_pages"] == ["lfw25"]  # not itself
    assert '<a href="../lfw25/index.html">' in (out / "lfw25-pcaonly" / "index.html").read_text()
    glo = next(row for row in second["side_by_side"]["rows"] if row["Method"] == "GLO, MSE, PCA init")
    assert glo["lfw25-pcaonly: train MSE"] == "missing" and glo["lfw25: train MSE"].startswith("0.")
    assert glo["lfw25-pcaonly: trained"] == "-" and glo["lfw25: trained"].endswith(" steps")
    bad = CliRunner().invoke(main, ["report", "--runs", str(other_runs), "--out", str(out),
                                    "--dataset", "lfw25", "--page", "../escape"])
    assert bad.exit_code != 0 and "--page" in bad.output and not (tmp_path / "escape").exists()


def test_a_train_lap1_column_that_mixes_lap1_settings_says_which_row_has_which(store, tmp_path):
    """A store with a `--lap1 paper` run beside default ones (as the lap1paper page's store,
    where GAN-MSE is copied in): the table's caption warns that its Lap1 values do not
    compare across the two groups and names each group's runs; one setting: no warning."""
    import shutil

    root, _ = store
    assert "WARNING: the train Lap1" not in (root / "reports" / "lfw25" / "table1.md").read_text()
    runs = tmp_path / "runs"
    shutil.copytree(root / "runs", runs)
    r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", "glo-lap1-pca",
                                  "--lap1", "paper", "--epochs", "1", "--out", str(runs),
                                  "--cache-dir", str(root / "c"), "--quiet"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["report", "--runs", str(runs), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    caption = (tmp_path / "rep" / "lfw25" / "table1.md").read_text().splitlines()[0]
    warning = caption[caption.index("WARNING: the train Lap1 column mixes 2 Lap1 settings"):]
    assert "weight_base 0.25 (glo-lap1-pca seed 0)" in warning
    assert "weight_base 4.0 (" in warning and "pca seed 0" in warning.split("weight_base 0.25")[0]
    page = (tmp_path / "rep" / "lfw25" / "index.html").read_text()
    assert "the train Lap1 column mixes 2 Lap1 settings" in page
    laps = json.loads((tmp_path / "rep" / "lfw25" / "report.json").read_text())["lap"]
    assert sorted(g["lap"]["weight_base"] for g in laps) == [0.25, 4.0]


def test_a_bundle_makes_the_same_page_on_a_machine_without_the_store(store, tmp_path):
    """Runs finished on one machine, bundled and committed, report the same page on a fresh
    machine: same Table 1, same figures, links that resolve; no checkpoints or weights kept."""
    import shutil

    root, _ = store
    live = tmp_path / "live"
    shutil.copytree(root / "runs", live)
    r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", "pca", "--seed", "1",
                                  "--out", str(live), "--cache-dir", str(root / "c"), "--quiet"])
    assert r.exit_code == 0, r.output
    bundle = tmp_path / "bundle"
    r = CliRunner().invoke(main, ["runs", "--runs", str(live), "--bundle", str(bundle)])
    assert r.exit_code == 0 and "4 run(s) bundled, 0 already there" in r.output, r.output
    assert not list(bundle.rglob("*.pt")) and not list(bundle.rglob("z.npy"))
    assert not list(bundle.rglob("*.tmp"))
    seed1 = [p for p in (bundle / "lfw25").iterdir()
             if json.loads((p / "config.json").read_text())["config"]["seed"] == 1]
    assert len(seed1) == 1 and not (seed1[0] / "grids").exists()  # a report shows no grids
    again = CliRunner().invoke(main, ["runs", "--runs", str(live), "--bundle", str(bundle)])
    assert "0 run(s) bundled, 4 already there" in again.output, again.output
    # a bundle bundled again (a store seeded from one) keeps where and on what it was made
    r = CliRunner().invoke(main, ["runs", "--runs", str(bundle), "--bundle", str(tmp_path / "b2")])
    assert r.exit_code == 0 and "4 run(s) bundled" in r.output, r.output
    for meta in bundle.glob("*/*/bundle.json"):
        assert (tmp_path / "b2" / meta.relative_to(bundle)).read_bytes() == meta.read_bytes()

    pages = {}
    for name, runs in (("live", live), ("bundle", bundle)):
        r = CliRunner().invoke(main, ["report", "--runs", str(runs), "--out", str(tmp_path / name)])
        assert r.exit_code == 0, r.output
        pages[name] = tmp_path / name / "lfw25"
    pd.testing.assert_frame_equal(pd.read_csv(pages["live"] / "table1.csv"),
                                  pd.read_csv(pages["bundle"] / "table1.csv"))
    grids = {k: json.loads((p / "report.json").read_text())["grids"] for k, p in pages.items()}
    assert grids["bundle"] == grids["live"]
    assert {"interp", "walks", "recon_train", "samples"} <= set(grids["bundle"]["glo-mse-pca"])
    for files in grids["bundle"].values():
        for rel in files.values():
            if rel.endswith(".png"):
                assert (pages["bundle"] / rel).read_bytes() == (pages["live"] / rel).read_bytes(), rel
    page = (pages["bundle"] / "index.html").read_text()
    for link in re.findall(r'(?:src|href)="([^"#]+)"', page):
        assert (pages["bundle"] / link).is_file(), link

    # every run says which CPU its seconds come from; a run that predates recording it shows
    # its bundle's machine
    model = json.loads(next(live.glob("*/pca-*/config.json")).read_text())["environment"]["cpu"]["model"]
    runs = json.loads((pages["bundle"] / "report.json").read_text())["runs"]
    assert all(r["cpu"].startswith(model) and "where bundled" not in r["cpu"] for r in runs)
    for cfg_path in bundle.glob("*/*/config.json"):
        cfg = json.loads(cfg_path.read_text())
        del cfg["environment"]["cpu"]
        cfg_path.write_text(json.dumps(cfg))
    r = CliRunner().invoke(main, ["report", "--runs", str(bundle), "--out", str(tmp_path / "old")])
    assert r.exit_code == 0, r.output
    runs = json.loads((tmp_path / "old" / "lfw25" / "report.json").read_text())["runs"]
    assert all(r["cpu"].startswith(model) and r["cpu"].endswith("where bundled") for r in runs)

    # `bench run` into a copy of the bundle (a fresh machine's store) skips its runs
    fresh = tmp_path / "fresh"
    shutil.copytree(bundle, fresh)
    r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", "pca", "--seed", "1",
                                  "--out", str(fresh), "--cache-dir", str(root / "c"), "--quiet"])
    assert r.exit_code == 0 and "already complete" in r.output, r.output
    assert not list(fresh.rglob("model.pt"))


def test_the_page_states_what_its_runs_cost_and_which_configurations_are_missing(store):
    """The cost line under the settings table: the seed-0 runs' seconds, which cannot exceed
    the wall clock of the commands that made them, and the six configurations not run named, so
    three runs' seconds are not read as `bench run --all`'s."""
    root, _ = store
    cost = json.loads((root / "reports" / "lfw25" / "report.json").read_text())["cost"]
    [cpu] = cost["by_cpu"]
    assert cpu["seed0_runs"] == 3 and 0 < cpu["seed0_s"] <= float((root / "runs_wall_s").read_text())
    assert set(cost["missing_seed0"]) == set(TABLE1_METHODS) - {"pca", "glo-mse-pca", "vae-mse"}
    assert "3 of 9 configurations" in cost["text"] and "Not the command's whole cost" in cost["text"]
    page = (root / "reports" / "lfw25" / "index.html").read_text()
    assert 'id="cost"' in page and "3 of 9 configurations" in page
    # commands read as commands on the page, never as stray backticks
    assert "<code>bench run --all</code> at these settings" in page and "`" not in page


def _row(method: str, seed: int, wall: float | None, cpu: str = "Xeon (AMX)", notes: str = "") -> dict:
    return {"run": f"{method}-s{seed}", "method": method, "seed": seed, "wall s": wall, "cpu": cpu,
            "notes": notes}


def test_the_cost_of_bench_run_all_is_one_seed_with_the_gan_trained_once():
    """GAN-Lap1 after GAN-MSE reuses its training (its wall s is its inversion only), so seed 0's
    nine runs sum to what `bench run --all` costs; other seeds are counted apart."""
    rows = [_row(m, 0, 100.0) for m in TABLE1_METHODS if not m.startswith("gan")]
    rows += [_row("gan-mse", 0, 5000.0),
             _row("gan-lap1", 0, 400.0, notes="training reused from gan-mse-s0 (wall s excludes it)"),
             _row("pca", 1, 100.0), _row("glo-mse-pca", 1, 3000.0)]
    cost = cost_summary(rows)
    [cpu] = cost["by_cpu"]
    assert (cpu["seed0_runs"], cpu["seed0_s"]) == (9, 6100.0)
    assert (cpu["runs"], cpu["all_s"]) == (11, 9200.0)
    assert cost["missing_seed0"] == [] and cost["partial_seconds"] == []
    assert "9 of 9 configurations, 1.7 h (6,100 s) of wall clock on Xeon (AMX)" in cost["text"]
    assert "Not the command's whole cost" not in cost["text"] and "All 11 runs" in cost["text"]


def test_seconds_from_two_cpus_are_never_one_figure_and_partial_seconds_are_named():
    rows = [_row(m, 0, 100.0, cpu="Xeon (no AMX)") for m in TABLE1_METHODS[:4]]
    rows += [_row(m, 0, 50.0) for m in TABLE1_METHODS[4:-1]]
    rows[0]["notes"] = "resumed 2x; wall s counts only the last process (this code ...)"
    rows[-1]["wall s"] = None
    cost = cost_summary(rows)
    assert [c["cpu"] for c in cost["by_cpu"]] == ["Xeon (no AMX)", "Xeon (AMX)"]
    assert "measured on 2 CPUs, so no single figure" in cost["text"]
    assert "Xeon (no AMX): 6.7 min (400 s) for 4 run(s)" in cost["text"]
    assert cost["missing_seed0"] == [TABLE1_METHODS[-1]]
    assert cost["partial_seconds"] == sorted([rows[0]["run"], rows[-1]["run"]])
    assert "Lower bounds" in cost["text"]


def test_a_page_whose_store_is_gone_is_redrawn_from_its_report_json(store, tmp_path):
    """`bench report --redraw reports/X` for a committed page made on another machine: an
    older page's table of "not computed" cells and its note naming the writer's own cache
    folder become the one portable line, the page links the pages now beside it, and every
    other section (the numbers) is byte for byte as generated."""
    import shutil

    root, _ = store
    out = tmp_path / "reports"
    shutil.copytree(root / "reports" / "lfw25", out / "lfw25")
    folder = out / "lfw25"
    # age the page into the form an older `bench report` wrote (reports/celeba32 at 9ccf6a0)
    machine = "/home/someone/.cache/torch/hub/checkpoints/weights-inception-2015-12-05-6726825d.pth"
    old_note = (f"FID/KID/precision/recall not computed: put weights-inception-2015-12-05-"
                f"6726825d.pth (SHA-256 starting 6726825d) at {machine} or pass --fid-weights "
                f"PATH / set $BENCH_FID_WEIGHTS; `bench fid fetch` says how to get it once.")
    cells = "".join("<td>not computed</td>" for _ in range(6))
    old_section = ('<h2 id="quality">Sample quality (torch-fidelity)</h2>\n'
                   '<div class="scroll"><table id="quality-table"><tr><th>Method</th><th>FID'
                   '</th><th>KID x 1e3</th><th>precision</th><th>recall</th><th>recon FID</th>'
                   f'<th>n</th></tr>\n<tr><td>PCA</td>{cells}</tr></table></div>\n'
                   f"<p><small>{old_note}</small></p>\n")
    page = (folder / "index.html").read_text()
    start, end = page.index('<h2 id="quality">'), page.index('<h2 id="figure1">')
    (folder / "index.html").write_text(page[:start] + old_section + page[end:])
    report = json.loads((folder / "report.json").read_text())
    report["sample_quality"] = {"rows": [{"FID": "not computed", "KID x 1e3": "not computed",
                                          "Method": "PCA", "n": "not computed",
                                          "precision": "not computed", "recall": "not computed",
                                          "recon FID": "not computed"}],
                                "settings": None, "note": old_note}
    (folder / "report.json").write_text(json.dumps(report))
    shutil.copytree(folder, out / "lfw25-later")  # a page written beside it since

    for _ in range(2):  # a second redraw leaves one stamp
        r = CliRunner().invoke(main, ["report", "--redraw", str(folder)])
        assert r.exit_code == 0, r.output
    redrawn = (folder / "index.html").read_text()
    assert "/home/someone" not in redrawn and "not computed</td>" not in redrawn
    assert 'id="quality-table"' not in redrawn and "$TORCH_HOME/hub/checkpoints/" in redrawn
    assert '<a href="../lfw25-later/index.html">lfw25-later</a>' in redrawn
    assert redrawn.count('id="redrawn"') == 1
    for a, b in (('<h2 id="claims">', '<h2 id="quality">'), ('<h2 id="figure1">', "</html>")):
        assert redrawn[redrawn.index(a):redrawn.index(b)] == page[page.index(a):page.index(b)]
    after = json.loads((folder / "report.json").read_text())
    assert after["sample_quality"]["rows"] == [] and "/home/" not in after["sample_quality"]["note"]
    assert after["related_pages"] == ["lfw25-later"] and after["redrawn"]["when"]
    assert after["table1"] == report["table1"] and after["claims"] == report["claims"]

    bad = CliRunner().invoke(main, ["report", "--redraw", str(tmp_path / "nothing")])
    assert bad.exit_code != 0 and "report.json" in bad.output and "Traceback" not in bad.output
