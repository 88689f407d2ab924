"""bench report: the run store -> Table 1, Figure 1 and the paper's figures, next to the
paper's own numbers, in one offline folder per dataset.

reports/<dataset>/ table1.{md,csv,tex}, figure1.{png,pdf}, grids/*.png, index.html, report.json
"""

from __future__ import annotations

import html
import json
import re
import shutil
import time
from pathlib import Path

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from bench.eval.fidelity import missing_hint
from bench.eval.figures import plot_figure1
from bench.report.claims import claims_for, evaluate_claims
from bench.report.convergence import (
    GAN_SMOOTH,
    PLATEAU_EPOCHS,
    PLATEAU_REL,
    plot_curves,
    plot_gan_curves,
)
from bench.report.cost import _settings, cost_summary
from bench.report.evidence import claim_evidence
from bench.report.figures import GRID_NAMES, _display_width, make_figures
from bench.report.gather import code_versions, collect, per_method_metrics
from bench.report.paper import METHOD_LABELS, PAPER_COLUMNS, label
from bench.report.related import load_related, page_links, related_folders, side_by_side
from bench.report.sections import (
    QUALITY_COLUMNS,
    code_rows,
    convergence,
    data_note,
    gan_training,
    lap_settings,
    quality_note,
    quality_rows,
    scored_images_note,
)
from bench.report.tables import _display_rows, table1, to_latex, to_markdown, to_text
from bench.runtime.errors import BenchError
from bench.runtime.io import atomic_write_json, atomic_write_text, safe_name

#: what each column of the page's tables measures (tooltips and the legend under each table)
COLUMN_HELP = {
    "Method": "Table-1 configuration: family, training or inversion loss, code initialisation",
    "train MSE (ours)": "mean squared error per pixel of the training images' reconstructions, "
                        "[-1, 1] pixel range (mean over seeds)",
    "CI / seed range": "95% bootstrap interval over the scored images (one seed), or min-max "
                       "over seeds (several)",
    "paper MSE": "the paper's Table 1 value for this dataset's column",
    "ours - paper": "our train MSE minus the paper's",
    "train Lap1": "Laplacian-pyramid L1 distance of the training reconstructions (settings "
                  "under the table)",
    "test MSE": "MSE per pixel of test images reconstructed with the trained model frozen",
    "held-out MSE": "MSE per pixel on another dataset's images (e.g. LFW for a CelebA model)",
    "codes: stored / re-inverted": "GLO only: train MSE of the stored codes (Table 1's protocol) "
                                   "and of the same images' codes re-inverted with the final "
                                   "generator frozen, on the first N scored training images "
                                   "(N in brackets; mean over seeds)",
    "seeds": "number of seeds averaged",
    "seed": "the run's seed",
    "cpu": "the CPU that produced the run's seconds, with its matrix flags (AMX and AVX512-BF16 "
           "change bf16's speed several-fold); 'where bundled' when the run predates recording "
           "it and its bundle's machine is shown",
    "FID": "Frechet Inception distance, samples vs test images (lower is better)",
    "KID x 1e3": "kernel Inception distance x 1000, mean +- std over subsets, samples vs test",
    "precision": "fraction of samples inside the test images' 3-NN feature manifold",
    "recall": "fraction of test images inside the samples' 3-NN feature manifold",
    "recon FID": "FID of training reconstructions vs their originals",
    "n": "samples / test images compared",
    "cosine to init": "mean cosine of each scored training image's final code to its initial "
                      "value (1: the code did not turn)",
    "relative change": "mean ||z - z_init|| / ||z_init||",
    "stored-code MSE": "train MSE (per pixel, [-1, 1]) of the learned codes, on the images "
                       "re-inverted",
    "re-inverted MSE": "train MSE of the same images when their codes are found again by "
                       "inversion with the final generator frozen",
    "codes converged": "stored-code MSE within 10% of the re-inverted MSE",
    "images": "scored training images re-inverted",
    "epochs": "epochs trained",
    "steps": "optimiser steps trained",
    "training loss": "what the curve measures (GLO-MSE: MSE per pixel, comparable with PCA's)",
    "last epoch": "relative improvement of the epoch loss in the last epoch",
    "last quarter": "relative change of the epoch loss over the last quarter of the steps "
                    "trained (a step budget's view: over hundreds of epochs each epoch "
                    "changes little even while the loss still falls)",
    "plateaued": f"the epoch loss improved by less than {PLATEAU_REL:.0%} in each of the last "
                 f"{PLATEAU_EPOCHS} epochs (what --plateau {PLATEAU_REL} stops on)",
    "power-law slope": "k in loss ~ step^k, fitted over the last half of the epochs (GLO-MSE)",
    "projected steps to PCA": "step at which the fitted power law reaches PCA's train MSE "
                              "(an extrapolation; never: the loss is not falling)",
    "x steps trained": "projected steps / steps trained",
    "generator steps": "generator steps trained (one discriminator step each)",
    "D(real) / D(fake)": "the discriminator's mean probability 'real' on real and on generated "
                         "images, mean over the last epoch's steps (0.5 / 0.5: D cannot tell)",
    "generated / real std": "pixel std of a generated batch over a real batch's, last epoch "
                            "(well below 1: G's images vary less than the data's)",
    "std ratio peak (step)": "the largest generated / real std of any epoch and its step",
    "D margin, last quarter": f"D(real) - D(fake) (mean of {GAN_SMOOTH} epochs) where the last "
                              "quarter of the steps starts and at its end: growing while the "
                              "std ratio falls, D is gaining on G",
}


def code_spans(text: object) -> str:
    """A sentence for the HTML page: escaped, with its `backticked` commands set as <code>
    (the same sentences go to report.json and the markdown table as they are)."""

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(str(text), quote=False)))


def _templates() -> Environment:
    env = Environment(loader=PackageLoader("bench.report", "templates"), autoescape=True)
    env.filters["code"] = code_spans
    return env


def write_report(dataset: str, runs_dir: Path, out_dir: Path, data_root: Path | None = None,
                 log=print, allow_mixed: bool = False, page: str | None = None
                 ) -> tuple[Path, str]:
    """Write reports/<page>/ (default: the dataset's name) and return (folder, Table 1 as
    terminal text). One table, one code version: runs made by different code are refused
    unless ``allow_mixed``. The dataset's other pages beside it (``<dataset>``,
    ``<dataset>-*``) are linked and shown side by side."""


    if page is not None and not re.fullmatch(r"[A-Za-z0-9_@-][A-Za-z0-9._@-]*", page):
        raise BenchError(f"--page {page!r}: use letters, digits, '.', '_', '@' and '-' only "
                         f"(e.g. {safe_name(dataset)}-lap1paper)")
    page = page or safe_name(dataset)
    results = collect(runs_dir, dataset)
    versions = code_versions(results)
    if len(versions) > 1:
        detail = "; ".join(f"{sha}: {', '.join(ms)}" for sha, ms in versions.items())
        if not allow_mixed:
            raise BenchError(f"{dataset}: the runs in {runs_dir} come from {len(versions)} code "
                             f"versions ({detail}); re-run them at one version, or pass "
                             f"--allow-mixed to report them anyway (the report then says so)")
        log(f"WARNING: {dataset}: runs from {len(versions)} code versions ({detail})")
    out = Path(out_dir) / page
    (out / "grids").mkdir(parents=True, exist_ok=True)
    df = table1(dataset, results)
    rows = _display_rows(df)
    column = PAPER_COLUMNS.get(dataset, "none (the paper reports CelebA-64, CelebA-128, LSUN-64)")
    laps, lap_warning = lap_settings(results)
    caption = (f"Train-set reconstruction on {dataset}; MSE per pixel in the [-1, 1] pixel range; "
               f"paper column: {column}. CI / seed range: 95% bootstrap interval over the scored "
               f"images for one seed, min-max over seeds for several."
               + (f" {lap_warning}" if lap_warning else ""))
    atomic_write_text(out / "table1.md", f"{caption}\n\n" + to_markdown(rows))
    atomic_write_text(out / "table1.tex", to_latex(rows, caption))
    atomic_write_text(out / "table1.csv", df.to_csv(index=False))
    dnote = data_note(dataset, results)
    quality, quality_settings = quality_rows(results)
    complete = sum(res.state == "complete" for res in results.values())
    qnote = quality_note(quality, quality_settings, complete)
    if complete and (quality_settings is None or any(r["FID"] == "not computed" for r in quality)):
        log(f"{dataset}: " + missing_hint())  # the terminal may name this machine's folder
    judged = claims_for(dataset)
    claims = evaluate_claims(per_method_metrics(results), judged)
    conv_rows, curves, pca_target = convergence(results)
    claim_evidence(judged, claims, results, curves, pca_target)
    curve_files = []
    if curves:
        curve_files = [p.name for p in plot_curves(curves, pca_target, out / "curves",
                                                   f"Training curves on {dataset}")]
    gan_rows, gan_curves = gan_training(results)
    gan_files = []
    if gan_curves:
        gan_files = [p.name for p in plot_gan_curves(gan_curves, out / "gan_training",
                                                     f"GAN training on {dataset}")]
    spectra = {label(m): r.runs[0]["metrics"]["spectrum"] for m, r in results.items()
               if r.state == "complete" and "spectrum" in r.runs[0]["metrics"]}
    initial = {label(m): r.runs[0]["metrics"]["codes"]["spectrum_init"]
               for m, r in results.items() if r.state == "complete"
               and "spectrum_init" in r.runs[0]["metrics"].get("codes", {})}
    figure = []
    if spectra:
        figure = [p.name for p in plot_figure1(spectra, out / "figure1", f"Figure 1 on {dataset}",
                                               initial)]
    codes = code_rows(results)
    grids: dict[str, dict[str, str]] = {}
    settings = []
    for method, res in results.items():
        if res.state != "complete":
            continue
        run = res.runs[0]
        files = {}
        for name in GRID_NAMES:
            src = Path(run["path"]) / "grids" / f"{name}.png"
            if src.is_file():
                shutil.copyfile(src, out / "grids" / f"{method}_{name}.png")
                files[name] = f"grids/{method}_{name}.png"
        try:
            files.update(make_figures(run, out, data_root, dataset))
        except Exception as e:  # a figure must not hide the table; say what failed
            log(f"{method}: figures skipped ({type(e).__name__}: {e})")
            files["error"] = f"{type(e).__name__}: {e}"
        for name in list(files):
            if files[name].endswith(".png"):
                files[f"{name}_width"] = str(_display_width(out / files[name]))
        grids[method] = files
        settings += [_settings(r) for r in res.runs]
    lap = laps[0]["lap"] if len(laps) == 1 else (laps or None)  # several: each with its runs
    same_images = scored_images_note(results)
    others = related_folders(out_dir, safe_name(dataset), page)
    related = page_links(others)
    mixed = ("Mixed code versions (reported with --allow-mixed): "
             + "; ".join(f"{sha}: {', '.join(ms)}" for sha, ms in versions.items())
             if len(versions) > 1 else "")
    report = {"dataset": dataset, "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "code_versions": versions, "mixed_code_versions": bool(mixed),
              "units": "[-1, 1] pixel range; MSE per pixel; Lap1 per image (see lap)",
              "lap": lap, "paper_column": PAPER_COLUMNS.get(dataset), "claims": claims,
              "sample_quality": {"rows": quality, "settings": quality_settings, "note": qnote},
              "codes": codes, "convergence": {"rows": conv_rows, "pca_train_mse": pca_target,
                                              "curves": curves, "figure": curve_files},
              "gan_training": {"rows": gan_rows, "curves": gan_curves, "figure": gan_files},
              "table1": df.to_dict("records"), "figure1": figure, "grids": grids,
              "runs": settings, "cost": cost_summary(settings), "scored_images": same_images,
              "related_pages": [name for name, _ in related]}
    if dnote:
        report["data_note"] = dnote
    report["side_by_side"] = side_by_side(page, report, load_related(others, dataset))
    atomic_write_json(out / "report.json", report)
    html_page = _templates().get_template("report.html.j2").render(
        dataset=dataset, caption=caption, rows=rows, figure=figure, grids=grids,
        labels=METHOD_LABELS, settings=settings, lap=json.dumps(lap), mixed=mixed,
        quality=quality, quality_note=qnote, data_note=dnote, claims=claims, help=COLUMN_HELP, codes=codes,
        convergence=conv_rows, curve_files=curve_files, gan_rows=gan_rows, gan_files=gan_files,
        same_images=same_images, cost=report["cost"]["text"],
        related=related, compare=report["side_by_side"], generated=report["generated"],
        esc=html.escape)
    atomic_write_text(out / "index.html", html_page)
    return out, to_text(rows)


#: where `redraw_page` splices its sections into a page's index.html
_QUALITY = re.compile(r'<h2 id="quality">.*?(?=<h2 id=)', re.S)
_RELATED = re.compile(r"<p><small>Other reports of this dataset: .*?</small></p>\n")
_REDRAWN = re.compile(r'<p id="redrawn">.*?</p>\n')
_CLAIMS = '<h2 id="claims">'
_GENERATED = re.compile(r"<p><small>generated .*?</small></p>\n", re.S)


def redraw_page(folder: Path) -> Path:
    """Draw a committed page's sample-quality section and its links to the dataset's other
    pages again, with today's rules, from its own report.json and the pages beside it: for a
    page whose store is gone (made on another machine), so ``bench report`` cannot rewrite it.
    The sample-quality section is re-derived from the recorded rows and settings (one line and
    no table where nothing was computed; a note that names no folder of the machine that wrote
    it). Every measured number and every other section stays as written; the page and its
    report.json say when and what was redrawn. Returns the folder."""
    folder = Path(folder)
    try:
        report = json.loads((folder / "report.json").read_text())
        page = (folder / "index.html").read_text()
    except FileNotFoundError as e:
        raise BenchError(f"{folder}: no {Path(e.filename).name}: --redraw takes a page folder "
                         f"written by `bench report` (e.g. reports/celeba64)") from None
    except ValueError as e:
        raise BenchError(f"{folder / 'report.json'}: not JSON ({e}); restore it with "
                         f"`git checkout -- {folder / 'report.json'}`") from None
    if not (_QUALITY.search(page) and _GENERATED.search(page) and _CLAIMS in page):
        raise BenchError(f"{folder / 'index.html'}: not a page `bench report` wrote (no "
                         f"sample-quality or claims section); write it with `bench report`")
    recorded = report["sample_quality"]
    settings = recorded["settings"]
    rows = [] if settings is None else [{k: r[k] for k in QUALITY_COLUMNS if k in r}
                                        for r in recorded["rows"]]  # report.json sorts keys
    measured = sum(t["state"] == "complete" for t in report["table1"])
    note = quality_note(rows, settings, measured)
    report["sample_quality"] = {"rows": rows, "settings": settings, "note": note}
    env = _templates()
    quality = env.get_template("_quality.html.j2").render(quality=rows, quality_note=note,
                                                           help=COLUMN_HELP)
    page = _QUALITY.sub(lambda _: quality + "\n", page, count=1)
    others = related_folders(folder.parent, safe_name(report["dataset"]), folder.name)
    report["related_pages"] = [f.name for f in others]
    related = env.get_template("_related.html.j2").render(related=page_links(others))
    related = related + "\n" if related else ""
    page = (_RELATED.sub(lambda _: related, page, count=1) if _RELATED.search(page)
            else page.replace(_CLAIMS, related + _CLAIMS, 1))
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    report["redrawn"] = {"when": when, "sections": ["sample quality", "links to other pages"]}
    stamp = (f'<p id="redrawn"><small>Redrawn {when} by <code>bench report --redraw</code> '
             f"from its report.json: the sample-quality section and the links to this "
             f"dataset's other pages; every number is as generated.</small></p>\n")
    page = _REDRAWN.sub("", page, count=1)  # a second redraw replaces the first's stamp
    page = _GENERATED.sub(lambda m: m.group(0) + stamp, page, count=1)
    atomic_write_json(folder / "report.json", report)
    atomic_write_text(folder / "index.html", page)
    return folder
