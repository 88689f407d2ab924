"""The report's convergence evidence: whether a run's training loss had plateaued, and where a
GLO-MSE curve would reach PCA's train MSE, read back from the files a run stores."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from bench.report.claims import claims_for, evaluate_claims
from bench.report.convergence import crossing, plateaued, power_fit, summarize, tail_improvement
from bench.report.evidence import claim_evidence
from bench.report.gather import MethodRuns, per_method_metrics
from bench.report.sections import convergence
from bench.runs.progress import epoch_seconds


def _write_run(path: Path, method: str, losses: list[float], steps_per_epoch: int = 100,
               train_mse: float = 0.03, codes: dict | None = None) -> dict:
    path.mkdir(parents=True)
    lines = ["epoch,step,loss"] + [f"{e},{(e + 1) * steps_per_epoch},{v}"
                                   for e, v in enumerate(losses)]
    (path / "curves.csv").write_text("\n".join(lines) + "\n")
    # one epoch every 25 s, starting just before midnight
    log = ["[23:59:00] run x: started"]
    for e in range(len(losses)):
        t = 23 * 3600 + 59 * 60 + 25 * (e + 1)
        t %= 86400
        log.append(f"[{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}] epoch={e} "
                   f"step={(e + 1) * steps_per_epoch} loss={losses[e]}")
    (path / "log.txt").write_text("\n".join(log) + "\n")
    family = method.split("-")[0]
    loss = {"name": "lap1" if "lap1" in method else "mse"}
    metrics = {"train": {"mse": train_mse}}
    if codes:
        metrics["codes"] = codes
    return {"path": str(path), "metrics": metrics,
            "config": {"config": {"method": method, "family": family, "seed": 0,
                                  "model": {"epochs": len(losses), "loss": loss}}}}


def test_epoch_times_come_from_the_log_and_survive_midnight(tmp_path):
    run = _write_run(tmp_path / "r", "glo-mse-pca", [0.1, 0.09, 0.08])
    secs = epoch_seconds(Path(run["path"]) / "log.txt")
    assert secs == {0: 25.0, 1: 50.0, 2: 75.0}


def test_the_plateau_verdict_needs_two_slow_epochs_in_a_row():
    assert plateaued([1.0, 0.5, 0.498, 0.497])  # 0.4% then 0.2%
    assert not plateaued([1.0, 0.5, 0.498, 0.40])  # the last epoch still fell 20%
    assert not plateaued([1.0, 0.999])  # one epoch is not enough to call it
    assert plateaued([1.0, 0.5, 0.5, 0.51])  # getting worse is not improving


def test_a_power_law_tail_is_extrapolated_to_where_it_reaches_the_target():
    steps = [100 * (e + 1) for e in range(10)]
    loss = [0.2 * (s / 100) ** -0.5 for s in steps]
    fit = power_fit(steps, loss)
    assert fit["k"] == pytest.approx(-0.5, abs=1e-9)
    # 0.2 (s / 100)^-0.5 = 0.02  <=>  s = 100 * 10^2
    assert crossing(fit, 0.02) == pytest.approx(10_000, rel=1e-6)
    flat = power_fit(steps, [0.05] * 10)
    assert crossing(flat, 0.02) is None  # a loss that is not falling never gets there
    assert power_fit(steps[:3], loss[:3]) is None  # too few epochs to fit


def test_a_gan_run_has_no_reconstruction_curve(tmp_path):
    (tmp_path / "gan").mkdir()
    (tmp_path / "gan" / "curves.csv").write_text("epoch,step,loss_d,loss_g\n0,10,1.2,0.8\n")
    assert summarize(tmp_path / "gan", 0.02, loss_is_mse=False) is None


def test_the_report_explains_why_glo_loses_to_pca(tmp_path):
    """GLO-Lap1-PCA above PCA, its codes not converged, and a GLO-MSE-PCA curve still falling
    as a power law: the failed claim names all three, with the projected step."""
    steps = [157 * (e + 1) for e in range(8)]
    mse_curve = [0.1 * (s / 157) ** -0.4 for s in steps]
    codes = {"stored_mse": 0.04, "reinverted_mse": 0.03, "converged": False}
    runs = {
        "pca": _write_run(tmp_path / "pca", "pca", [], train_mse=0.02),
        "glo-mse-pca": _write_run(tmp_path / "mse", "glo-mse-pca", mse_curve, 157,
                                  train_mse=mse_curve[-1], codes=codes),
        "glo-lap1-pca": _write_run(tmp_path / "lap1", "glo-lap1-pca", [0.5, 0.4, 0.35, 0.33], 157,
                                   train_mse=0.035, codes=codes),
    }
    results = {m: MethodRuns(m, "complete", [r]) for m, r in runs.items()}
    rows, curves, target = convergence(results)
    assert target == 0.02
    by_method = {r["Method"]: r for r in rows}
    mse_row = by_method["GLO, MSE, PCA init"]
    assert mse_row["plateaued"] == "no" and mse_row["steps"] == f"{steps[-1]:,}"
    want = 157 * (0.1 / 0.02) ** (1 / 0.4)  # where 0.1 (s/157)^-0.4 = 0.02
    assert float(mse_row["projected steps to PCA"].replace(",", "")) == pytest.approx(want, rel=1e-3)
    assert by_method["GLO, Lap1, PCA init"]["training loss"] == "Lap1"
    assert by_method["GLO, Lap1, PCA init"]["power-law slope"] == "-"  # Lap1 is not in MSE units

    claims = evaluate_claims(per_method_metrics(results))
    claim_evidence(claims_for(None), claims, results, curves, target)
    vs_pca = next(c for c in claims if c["claim"].endswith("better than PCA"))
    assert vs_pca["holds"] is False
    assert "not converged" in vs_pca["why"] and "still falling" in vs_pca["why"]
    assert f"{want:,.0f} steps" in vs_pca["why"]
    held = [c for c in claims if c["holds"] is not False]
    # only a failed claim gets an explanation; a held one only the note that its rows trained
    # different budgets (here 8 and 4 epochs)
    assert all(c["why"] == "" or (c["why"].startswith("unequal training budgets:")
                                  and ";" not in c["why"]) for c in held)
    assert any(c["why"] for c in held)
    json.dumps(curves)  # stored in report.json as they are
    assert math.isfinite(target)


def test_a_claim_between_rows_of_different_budgets_says_so_whatever_its_verdict(tmp_path):
    """A per-row budget (the GAN trained what fits a session, GLO the paper's 31,800 steps)
    is named on every claim that compares those rows, held or failed; rows of one budget and
    PCA (no steps) add nothing."""
    runs = {"pca": _write_run(tmp_path / "pca", "pca", [], train_mse=0.013)}
    for method, steps, mse in (("glo-lap1-pca", 31800, 0.012), ("glo-mse-pca", 31800, 0.011),
                               ("gan-mse", 7000, 0.03), ("gan-lap1", 7000, 0.045)):
        runs[method] = _write_run(tmp_path / method, method, [0.1, 0.09], train_mse=mse)
        runs[method]["config"]["config"]["model"]["steps"] = steps
    results = {m: MethodRuns(m, "complete", [r]) for m, r in runs.items()}
    claims = evaluate_claims(per_method_metrics(results))
    claim_evidence(claims_for(None), claims, results, {}, None)
    by_name = {c["claim"]: c for c in claims}
    vs_gan = by_name["GLO (Lap1, PCA init) reconstructs better than the GAN (MSE inversion)"]
    assert vs_gan["holds"] is True
    assert "unequal training budgets: GLO, Lap1, PCA init 31,800 steps, GAN, MSE 7,000 steps" \
        in vs_gan["why"]
    lap1 = by_name["Lap1-trained GLO beats MSE-trained GLO on MSE (PCA init)"]
    assert lap1["holds"] is False and "unequal" not in lap1["why"]
    assert "unequal" not in by_name["GLO (Lap1, PCA init) reconstructs better than PCA"]["why"]
    assert "unequal" not in by_name["GAN-Lap1's MSE is about 1.5x GAN-MSE's (band 1.3-1.8)"]["why"]


def test_a_train_mse_verdict_the_test_images_disagree_with_says_so(tmp_path):
    """GLO-Lap1-PCA at the paper's widths (CelebA-64, seed 0): ahead of GLO-MSE-PCA on the
    training images, behind on the test images. The held claim names the reversal; a claim
    whose test images agree (GLO against PCA) and a run with no test score say nothing."""
    values = {"glo-lap1-pca": (0.01281, 0.01653), "glo-mse-pca": (0.01439, 0.01585),
              "pca": (0.01896, 0.01956)}
    runs = {}
    for method, (train, test) in values.items():
        runs[method] = _write_run(tmp_path / method, method, [0.1, 0.09], train_mse=train)
        runs[method]["metrics"]["test"] = {"mse": test}
    results = {m: MethodRuns(m, "complete", [r]) for m, r in runs.items()}
    claims = evaluate_claims(per_method_metrics(results))
    claim_evidence(claims_for(None), claims, results, {}, None)
    by_name = {c["claim"]: c for c in claims}
    lap1 = by_name["Lap1-trained GLO beats MSE-trained GLO on MSE (PCA init)"]
    assert lap1["holds"] is True
    assert "the order reverses: the lead is on the training images only" in lap1["why"]
    assert "GLO, Lap1, PCA init 0.01653, GLO, MSE, PCA init 0.01585 (-4.3%)" in lap1["why"]
    assert by_name["GLO (Lap1, PCA init) reconstructs better than PCA"]["why"] == ""
    # the other way round: a claim that fails on the training images and holds on the test ones
    runs["glo-lap1-pca"]["metrics"] = {"train": {"mse": 0.01500}, "test": {"mse": 0.01500}}
    claims = evaluate_claims(per_method_metrics(results))
    claim_evidence(claims_for(None), claims, results, {}, None)
    lap1 = next(c for c in claims if c["claim"] == lap1["claim"])
    assert lap1["holds"] is False
    assert "the order holds: the loss is on the training images only" in lap1["why"]
    del runs["glo-lap1-pca"]["metrics"]["test"]  # not scored on test: nothing to say
    claim_evidence(claims_for(None), claims, results, {}, None)
    assert "test images" not in next(c for c in claims if c["claim"] == lap1["claim"])["why"]


def test_a_failed_gan_ratio_names_the_lap1_weighting_its_runs_inverted_with(tmp_path):
    """GAN-Lap1 at 1.16x GAN-MSE (CelebA-128 with the default `equal` Lap1): the failed claim
    says which weighting the runs used and which flag gives the paper's."""
    from dataclasses import asdict

    from bench.core.losses import LAP1_VARIANTS

    runs = {"gan-mse": _write_run(tmp_path / "mse", "gan-mse", [0.1, 0.09], train_mse=0.02328),
            "gan-lap1": _write_run(tmp_path / "lap1", "gan-lap1", [0.1, 0.09], train_mse=0.02706)}
    runs["gan-lap1"]["config"]["config"]["model"]["loss"] = asdict(LAP1_VARIANTS["equal"])
    results = {m: MethodRuns(m, "complete", [r]) for m, r in runs.items()}
    claims = evaluate_claims(per_method_metrics(results))
    claim_evidence(claims_for(None), claims, results, {}, None)
    (ratio,) = [c for c in claims if c["claim"].startswith("GAN-Lap1's MSE is about 1.5x")]
    assert ratio["holds"] is False
    assert "invert with the `equal` Lap1; `--lap1 paper` is the paper's weighting" in ratio["why"]
    runs["gan-lap1"]["config"]["config"]["model"]["loss"] = asdict(LAP1_VARIANTS["paper"])
    claim_evidence(claims_for(None), claims, results, {}, None)
    assert "invert with the `paper` Lap1)" in ratio["why"]


def _spectrum_run(flat_final: float, flat_init: float | None = None) -> dict:
    """A run whose Z spectrum has mean cumulative value ``flat_final`` (and its codes'
    initial spectrum ``flat_init``)."""
    metrics = {"train": {"mse": 0.03}, "spectrum": {"cumulative": [flat_final] * 4}}
    if flat_init is not None:
        metrics["codes"] = {"spectrum_init": {"cumulative": [flat_init] * 4}}
    return {"path": "-", "metrics": metrics,
            "config": {"config": {"method": "x", "family": "glo", "seed": 0, "model": {}}}}


@pytest.mark.parametrize("flat_init, caveat", [(0.615, True), (0.80, False)])
def test_a_figure1_claim_that_holds_only_by_initialisation_says_so(flat_init, caveat):
    results = {"glo-mse-random": MethodRuns("glo-mse-random", "complete",
                                            [_spectrum_run(0.617, flat_init)]),
               "pca": MethodRuns("pca", "complete", [_spectrum_run(0.755)]),
               "vae-mse": MethodRuns("vae-mse", "complete", [_spectrum_run(0.816)])}
    claims = evaluate_claims(per_method_metrics(results))
    claim_evidence(claims_for(None), claims, results, {}, None)
    vs_pca = next(c for c in claims if c["claim"].startswith("Figure 1") and "PCA" in c["claim"])
    assert vs_pca["holds"] is True  # 0.617 < 0.755 either way
    assert ("initial codes already satisfy it" in vs_pca["why"]) is caveat
    assert f"{flat_init:.4f} before training" in vs_pca["why"]


def test_curves_and_times_commands_read_a_real_store(tmp_path):
    """`bench curves` and `bench times` (once scripts/convergence.py and run_times.py) on a
    store of real runs: the GLO-MSE curve with its run id and fit, PCA's MSE as the target,
    and each run's wall time as metrics.json recorded it."""
    from click.testing import CliRunner

    from bench.cli import main

    out, cache = tmp_path / "runs", tmp_path / "cache"
    r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", "pca", "--model",
                                  "glo-mse-pca", "--steps", "12", "--out", str(out),
                                  "--cache-dir", str(cache), "--quiet", "--eval-train-n", "8",
                                  "--eval-test-n", "8"])
    assert r.exit_code == 0, r.output
    base = tmp_path / "docs" / "conv"
    r = CliRunner().invoke(main, ["curves", "--runs", str(out), "--dataset", "lfw25",
                                  "--out", str(base)])
    assert r.exit_code == 0, r.output
    data = json.loads(base.with_suffix(".json").read_text())
    pca = json.loads(next(out.glob("lfw25/pca-*/metrics.json")).read_text())
    assert data["pca_train_mse"] == pca["train"]["mse"]
    (entry,) = data["curves"].values()
    glo_dir = next(out.glob("lfw25/glo-mse-pca-*"))
    assert entry["run"] == glo_dir.name and entry["loss_is_mse"] and entry["step"][-1] == 12
    assert base.with_suffix(".png").is_file()
    r = CliRunner().invoke(main, ["times", str(out), "--json", str(tmp_path / "t.json")])
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "t.json").read_text())["runs"]
    glo = json.loads((glo_dir / "metrics.json").read_text())
    assert {row["method"] for row in rows} == {"pca", "glo-mse-pca"}
    assert next(row for row in rows if row["method"] == "glo-mse-pca")["timing"] == glo["timing"]
    assert "| glo-mse-pca |" in r.output
    # which CPU the seconds come from; two stores from different CPUs are flagged side by side
    cpu = json.loads((glo_dir / "config.json").read_text())["environment"]["cpu"]
    assert f"CPU: {cpu['model']}" in r.output
    same = CliRunner().invoke(main, ["times", str(out), "--compare", str(out)])
    assert same.exit_code == 0 and f"CPU: {cpu['model']}" in same.output
    assert "WARNING" not in same.output
    other = tmp_path / "other"
    shutil.copytree(out, other)
    for path in other.glob("*/*/config.json"):
        cfg = json.loads(path.read_text())
        cfg["environment"]["cpu"] = {"model": "Another CPU", "flags": ["amx_tile"]}
        path.write_text(json.dumps(cfg))
    r = CliRunner().invoke(main, ["times", str(out), "--compare", str(other)])
    assert r.exit_code == 0 and "WARNING: not one machine" in r.output, r.output
    assert "after on Another CPU (amx_tile)" in r.output


def test_codes_gap_replays_the_run_exactly_and_splits_the_gap(tmp_path):
    """`bench codes-gap` on a real (small) GLO run: the replay from ckpt/prev.pt ends on the
    run's own codes bitwise, its last epoch's mean pre-step loss is the loss the run logged,
    and stored = post-step + drift is read per image."""
    from click.testing import CliRunner

    from bench.cli import main

    out, cache = tmp_path / "runs", tmp_path / "cache"
    r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", "glo-mse-pca",
                                  "--steps", "9", "--set", "batch_size=32", "--out", str(out),
                                  "--cache-dir", str(cache), "--quiet", "--eval-train-n", "8",
                                  "--eval-test-n", "8"])
    assert r.exit_code == 0, r.output
    run = next((out / "lfw25").glob("glo-mse-pca-*"))
    dump = tmp_path / "gap.json"
    r = CliRunner().invoke(main, ["codes-gap", str(run), "--cache-dir", str(cache),
                                  "--json", str(dump)])
    assert r.exit_code == 0, r.output
    res = json.loads(dump.read_text())
    assert res["replay_exact"]["codes_bitwise"] and res["replay_exact"]["generator_max_abs_diff"] == 0
    assert res["replayed_last_epoch_loss"] == pytest.approx(res["logged_last_epoch_loss"], rel=1e-6)
    assert res["steps"] == 9 and res["images"] == 80  # the last epoch visits every image
    m = res["mean"]
    assert m["post_step"] < m["pre_step"]  # a step lowers its own batch's loss


def test_a_long_budget_still_falling_is_told_apart_from_a_levelled_one():
    """Over 200 epochs each epoch improves < 1% whether or not the loss has levelled off, so
    the plateau verdict says both stopped; the fall over the last quarter of the steps tells
    them apart."""
    steps = [157 * (e + 1) for e in range(200)]
    falling = [0.1 * (s / 157) ** -0.3 for s in steps]
    level = [0.02 + 0.05 * math.exp(-s / 2000) for s in steps]
    assert plateaued(falling) and plateaued(level)
    assert tail_improvement(steps, falling) == pytest.approx(1 - (4 / 3) ** -0.3, abs=0.002)
    assert tail_improvement(steps, level) < 1e-4  # below TAIL_FALLING by 100x
    assert tail_improvement(steps[:2], falling[:2]) is None


def test_a_failed_glo_against_glo_claim_says_whether_the_generator_is_behind(tmp_path):
    """Lap1 vs MSE at a step budget: both curves fall slowly per epoch but still fall over the
    last quarter; the Lap1 row's generator is behind too (re-inverted) and it scores worse on
    Lap1 itself. Both are named in the failed claim's evidence; a held claim gets none."""
    steps = [157 * (e + 1) for e in range(200)]
    runs = {}
    for m, scale, reinv, lap1 in (("glo-mse-pca", 0.1, 0.0141, 0.1413),
                                  ("glo-lap1-pca", 0.9, 0.0151, 0.1519)):
        curve = [scale * (s / 157) ** -0.3 for s in steps]
        runs[m] = _write_run(tmp_path / m, m, curve, 157, train_mse=0.015 if "mse" in m else 0.0164,
                             codes={"stored_mse": 0.015, "reinverted_mse": reinv, "converged": True})
        runs[m]["metrics"]["train"]["lap1"] = lap1
    runs["pca"] = _write_run(tmp_path / "pca", "pca", [], train_mse=0.019)
    results = {m: MethodRuns(m, "complete", [r]) for m, r in runs.items()}
    _, curves, target = convergence(results)
    judged = claims_for("celeba64")
    claims = evaluate_claims(per_method_metrics(results), judged)
    claim_evidence(judged, claims, results, curves, target)
    lap1 = next(c for c in claims if c["claim"].startswith("Lap1-trained GLO beats MSE-trained GLO on MSE (PCA"))
    assert lap1["holds"] is False
    assert "last quarter of the steps" in lap1["why"] and "neither levelled off" in lap1["why"]
    assert "the generator is behind" in lap1["why"] and "behind on Lap1 too" in lap1["why"]
    vs_pca = next(c for c in claims if c["claim"].endswith("better than PCA"))
    assert vs_pca["holds"] is True and vs_pca["why"] == ""


def test_gan_balance_reads_the_last_quarter_from_its_start_to_its_end():
    """D's margin where the last quarter of the steps starts and at its end (each a mean of 3
    epochs), and the generated / real std at its peak: a D that gains late on a G whose
    images narrow is told apart from one that held its balance."""
    from bench.report.convergence import gan_balance

    steps = [100 * (e + 1) for e in range(16)]  # the last quarter starts at step 1,200
    d_real = [0.8] * 11 + [0.8, 0.85, 0.9, 0.95, 0.95]
    d_fake = [0.2] * 11 + [0.2, 0.15, 0.1, 0.05, 0.05]
    real_std = [0.5] * 16
    fake_std = [0.25, 0.45, 0.55] + [0.5] * 8 + [0.45, 0.4, 0.35, 0.3, 0.3]
    b = gan_balance({"step": steps, "d_real": d_real, "d_fake": d_fake,
                     "fake_std": fake_std, "real_std": real_std})
    assert b["margin_quarter_start"] == pytest.approx((0.6 + 0.7 + 0.8) / 3)
    assert b["margin_end"] == pytest.approx((0.8 + 0.9 + 0.9) / 3)
    assert b["std_ratio"] == pytest.approx(0.6) and b["std_ratio_peak"] == pytest.approx(1.1)
    assert b["std_ratio_peak_step"] == 300 and b["step"] == 1600
    assert (b["d_real"], b["d_fake"]) == (0.95, 0.05)


def test_a_real_gans_balance_reaches_the_report_and_bench_curves_once(tmp_path):
    """A real tiny GAN pair on lfw25 (GAN-Lap1 reuses GAN-MSE's training): the report's GAN
    section has one row, GAN-MSE's, naming GAN-Lap1 as its reuser, with the last epoch of its
    curves.csv and a figure the page links; `bench curves` lists it under "gan" and says why
    GAN-Lap1 has no curve of its own."""
    import csv

    from click.testing import CliRunner

    from bench.cli import main

    out, cache = tmp_path / "runs", tmp_path / "cache"
    r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", "gan-mse", "--model",
                                  "gan-lap1", "--steps", "6", "--out", str(out), "--cache-dir",
                                  str(cache), "--quiet", "--eval-train-n", "4", "--eval-test-n",
                                  "4", "--invert-steps", "3"])
    assert r.exit_code == 0, r.output
    gan = next(out.glob("lfw25/gan-mse-*"))
    with (gan / "curves.csv").open() as f:
        last = list(csv.DictReader(f))[-1]
    r = CliRunner().invoke(main, ["report", "--runs", str(out), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    folder = tmp_path / "rep" / "lfw25"
    section = json.loads((folder / "report.json").read_text())["gan_training"]
    (row,) = section["rows"]
    assert row["Method"] == "GAN, MSE (reused by GAN, Lap1)"
    assert row["D(real) / D(fake)"] == f"{float(last['d_real']):.3f} / {float(last['d_fake']):.3f}"
    ratio = float(last["fake_std"]) / float(last["real_std"])
    assert row["generated / real std"] == f"{ratio:.3f}"
    assert row["generator steps"] == last["step"] == "6"
    page = (folder / "index.html").read_text()
    assert 'id="gan-table"' in page and f'src="{section["figure"][0]}"' in page
    assert (folder / section["figure"][0]).is_file()
    base = tmp_path / "conv"
    r = CliRunner().invoke(main, ["curves", "--runs", str(out), "--dataset", "lfw25",
                                  "--out", str(base)])
    assert r.exit_code == 0, r.output
    data = json.loads(base.with_suffix(".json").read_text())
    (entry,) = data["gan"].values()
    assert entry["run"] == gan.name and entry["balance"]["step"] == 6
    assert data["skipped"] == [f"gan-lap1: reuses {gan.name}'s training"]
    assert (tmp_path / "conv_gan.png").is_file() and "D(real)" in r.output
