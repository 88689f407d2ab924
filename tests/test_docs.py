"""The docs stay true to what is stored and to the code.

The results pages (docs/results/celeba64.md, docs/results/celeba128.md) and README's results
at a glance are written by hand. These tests read their tables back and compare every cell
they can with the run it names in the committed merge of the finished runs
(docs/celeba128/budget.json, docs/budget/celeba64*.json: metrics, config and code version),
with the bundle docs/celeba128/runs/, and with the committed reports' report.json: a
mistyped, stale or rounded-away number fails here, not in review. And docs/architecture.md
must place every module and script.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
METHODS = {"PCA": "pca", "GLO-MSE-PCA": "glo-mse-pca", "GLO-Lap1-PCA": "glo-lap1-pca",
           "GLO-MSE-random": "glo-mse-random", "GLO-Lap1-random": "glo-lap1-random",
           "GAN-MSE": "gan-mse", "GAN-Lap1": "gan-lap1", "VAE-MSE": "vae-mse",
           "VAE-Lap1": "vae-lap1"}
REPORT_PIN = "b4f6f8d"  # the code version every run of the CelebA-128 report is made by


def stored(name: str) -> list[dict]:
    """A committed merge of finished runs, e.g. 'celeba128/budget' or 'budget/celeba64'."""
    return json.loads((DOCS / f"{name}.json").read_text())


def method_of(label: str) -> str:
    """A table row's method: 'GLO-Lap1-PCA (`equal` Lap1)' or 'PCA, seeds 1 and 2' -> its id."""
    return METHODS[re.split(r"[ ,(]", label.strip("*"))[0]]


def table(md: str, heading: str) -> list[dict[str, str]]:
    """The first markdown table after ``heading``, as one dict per row (header -> cell)."""
    lines = md[md.index(heading):].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    block = []
    for ln in lines[start:]:  # the contiguous table lines only
        if not ln.startswith("|"):
            break
        block.append([c.strip() for c in ln.strip("|").split("|")])
    header, rows = block[0], block[2:]
    return [dict(zip(header, r, strict=True)) for r in rows]


def seeds_of(label: str) -> list[int]:
    """'PCA, seeds 1 and 2' -> [1, 2]; 'GLO-MSE-PCA, seed 1' -> [1]; 'GLO-MSE-PCA' -> [0]."""
    named = re.split(r", seeds? ", label, maxsplit=1)[1:]
    return [int(s) for s in re.findall(r"\d+", named[0])] if named else [0]


def cells(text: str, n: int) -> list[str]:
    """The n leading numbers of a cell ('0.01303, 0.01303' or '0.01208 (.0142)')."""
    found = re.findall(r"(?<![.\d])\d[\d,]*\.?\d*", text)
    assert len(found) >= n, f"expected {n} number(s) in {text!r}"
    return [f.rstrip(",") for f in found[:n]]


def seconds(text: str) -> list[int]:
    """Every 'N s' of a cell, in order ('1,839 s (... a median 33 s ...) + 409 s inversion')."""
    return [int(n.replace(",", "")) for n in re.findall(r"(?<![\d.,])(\d[\d,]*) s\b", text)]


def codes(run: dict) -> tuple[str, str]:
    """A GLO run's stored and re-inverted code MSE as the tables print them."""
    return f"{run['codes']['stored_mse']:.5f}", f"{run['codes']['reinverted_mse']:.5f}"


def test_celeba128_budget_table_matches_the_stored_runs():
    budget = stored("celeba128/budget")
    rows = table((DOCS / "results" / "celeba128.md").read_text(), "## The numbers")
    assert len(rows) >= 6
    checked = 0
    for row in rows:
        seeds = seeds_of(row["row"])
        method, pin = method_of(row["row"]), row["pin"]
        for k, seed in enumerate(seeds):
            (run,) = [r for r in budget if r["config"]["method"] == method
                      and r["config"]["seed"] == seed and r["code"]["git_commit"].startswith(pin)]
            for col, got in (("train MSE (paper)", run["train"]["mse"]),
                             ("test MSE", run["test"]["mse"]),
                             ("held-out MSE", run["heldout"]["mse"])):
                quoted = cells(row[col], len(seeds))[k]
                assert quoted == f"{got:.5f}", f"{row['row']} ({pin}) {col}: docs {quoted}, stored {got:.5f}"
            assert seconds(row["fit"])[k] == round(run["timing"]["fit_s"]), (row["row"], row["fit"])
            if run["config"]["model"].get("steps"):
                assert cells(row["steps"], 1)[0] == f"{run['config']['model']['steps']:,}"
            if "codes" in run and run["codes"]:
                assert tuple(cells(row["stored / re-inverted codes (500)"], 2)) == codes(run), \
                    row["row"]
            checked += 1
    assert checked >= 7


def test_the_report_pins_runs_are_bundled_with_the_same_numbers():
    """Every REPORT_PIN run in budget.json is in the bundle the report is made from, unchanged."""
    bundle = DOCS / "celeba128" / "runs" / "celeba128"
    budget = [r for r in stored("celeba128/budget")
              if r["code"]["git_commit"].startswith(REPORT_PIN)]
    assert budget
    for run in budget:
        metrics = bundle / run["run"] / "metrics.json"
        if not metrics.is_file():
            pytest.fail(f"{run['run']} is in budget.json but not bundled in {bundle}")
        m = json.loads(metrics.read_text())
        assert m["train"]["mse"] == run["train"]["mse"], run["run"]
        assert m["test"]["mse"] == run["test"]["mse"], run["run"]


def report_json(page: str) -> dict:
    return json.loads((DOCS.parent / "reports" / page / "report.json").read_text())


def test_readme_results_at_a_glance_are_the_committed_reports():
    """README's Table 1 at 64 and 128 px and its claim counts are the committed pages'."""
    readme = (DOCS.parent / "README.md").read_text()
    rows = table(readme, "## Results at a glance")
    pages = {"64": report_json("celeba64"), "128": report_json("celeba128")}
    for px, rep in pages.items():
        ours = {r["label"]: r for r in rep["table1"]}
        for row in rows:
            got = ours[row["method"]]
            assert row[f"ours, {px} px"] == f"{got['train_mse']:.5f}", (px, row["method"])
            paper = got["paper_mse"]
            want = "-" if paper is None or paper != paper else "." + f"{paper:.4f}".split(".")[1]
            assert row[f"paper, {px} px"] == want, (px, row["method"])
        held = sum(c["holds"] is True for c in rep["claims"])
        assert f"{held} of {len(rep['claims'])}" in readme, (px, held)
    assert [r["seeds (64 / 128)"] for r in rows] == [
        f"{a['seeds']} / {b['seeds']}" for a, b in zip(pages["64"]["table1"],
                                                       pages["128"]["table1"], strict=True)]
    assert len(rows) == 9


def _claim_cell(claim: dict | None) -> str:
    if claim is None:
        return "not judged"
    if claim["holds"] is None:
        return "not measured"
    return f"{'holds' if claim['holds'] else '**fails**'}, {claim['margin'] * 100:+.1f}%"


def test_the_claims_tables_are_the_committed_reports():
    """docs/results/celeba64.md's claims under each setting and celeba128.md's claims table
    read back against the pages' report.json."""
    columns = {"plateau, cpu widths": "celeba64-plateau", "budget, cpu widths": "celeba64",
               "budget, paper widths": "celeba64-paper", "budget, `--lap1 paper`": "celeba64-lap1paper",
               "budget, tuned rates": "celeba64-tuned", "CelebA-128 budget": "celeba128"}
    claims = {col: {c["claim"]: c for c in report_json(page)["claims"]}
              for col, page in columns.items()}
    rows = table((DOCS / "results" / "celeba64.md").read_text(), "| claim | plateau, cpu widths |")
    assert [r["claim"] for r in rows] == list(claims["budget, cpu widths"])
    for row in rows:
        for col in columns:
            assert row[col] == _claim_cell(claims[col].get(row["claim"])), (row["claim"], col)
    c128 = report_json("celeba128")["claims"]
    rows = table((DOCS / "results" / "celeba128.md").read_text(), "| claim | verdict | margin |")
    assert [r["claim"] for r in rows] == [c["claim"] for c in c128]
    for row, claim in zip(rows, c128, strict=True):
        assert f"{row['verdict']}, {row['margin']}" == _claim_cell(claim), row["claim"]
    held = sum(c["holds"] is True for c in c128)
    assert f"**{held} of {len(c128)}\nhold**" in (DOCS / "results" / "celeba128.md").read_text()


def test_architecture_page_names_every_module_and_script():
    """docs/architecture.md is the living map: a new module or script must be placed on it
    (by its path, or for a family by its package folder) before the suite passes."""
    root = DOCS.parent
    page = (DOCS / "architecture.md").read_text()
    files = [p for pkg in ("bench", "baselines", "glo") for p in (root / pkg).rglob("*.py")
             if p.name not in ("__init__.py", "__main__.py")]
    files += [p for p in (root / "scripts").iterdir() if p.suffix in (".py", ".sh")]
    families = {"baselines/pca", "baselines/dcgan", "baselines/vae", "glo"}
    missing = []
    for p in files:
        rel = p.relative_to(root).as_posix()
        named = rel in page or (rel.startswith("bench/data/") and f"`{p.name}`" in page)
        named = named or (p.parent.relative_to(root).as_posix() in families and "`glo/`" in page
                          and "`baselines/{pca,dcgan,vae}`" in page)
        if not named:
            missing.append(rel)
    assert not missing, f"place these in docs/architecture.md: {missing}"


def test_celeba64_budget_table_matches_the_stored_runs():
    """docs/budget.md's table of the CelebA-64 report at the paper's budget (seed 0) against
    docs/budget/celeba64.json and, for its `--lap1 paper` rows, celeba64-lap1paper.json."""
    stores = {name: {r["config"]["method"]: r for r in stored(f"budget/{name}")
                     if r["config"]["seed"] == 0}
              for name in ("celeba64", "celeba64-lap1paper")}
    rows = table((DOCS / "results" / "celeba64.md").read_text(), "| row | steps | train MSE | test MSE |")
    for row in rows:
        label = row["row"]
        store = stores["celeba64-lap1paper" if "--lap1 paper" in label else "celeba64"]
        run = store[method_of(label)]
        for col, got in (("train MSE", run["train"]["mse"]), ("test MSE", run["test"]["mse"])):
            assert cells(row[col], 1)[0] == f"{got:.5f}", (label, col, got)
        fit, timing = row["fit"], run["timing"]
        numbers = seconds(fit)
        if "training_reused_from" in timing:  # GAN-Lap1: the inversion only
            assert numbers[0] == round(timing["eval_s"]), (label, fit, timing)
        else:
            assert numbers[0] == round(timing["fit_s"]), (label, fit, timing)
            if "inversion" in fit:
                assert numbers[-1] == round(timing["eval_s"]), (label, fit, timing)
        if run.get("codes"):
            assert tuple(cells(row["stored / re-inverted codes (500)"], 2)) == codes(run), label
    assert len(rows) >= 11


def test_celeba64_seeds_table_matches_the_stored_runs():
    runs = {(r["config"]["method"], r["config"]["seed"]): r for r in stored("budget/celeba64")}
    rows = table((DOCS / "results" / "celeba64.md").read_text(), "| row | seed 0 | seed 1 | seed 2 |")
    checked = 0
    for row in rows:
        if not row["row"].endswith("train / test"):
            continue  # the margins, computed from these rows
        method = method_of(row["row"])
        for seed in (0, 1, 2):
            run, cell = runs[(method, seed)], row[f"seed {seed}"]
            train, test = cells(cell, 2)
            assert (train, test) == (f"{run['train']['mse']:.5f}", f"{run['test']['mse']:.5f}"), \
                (row["row"], seed)
            if "codes" in cell:
                assert tuple(cells(cell.partition("codes")[2], 2)) == codes(run), (row["row"], seed)
            checked += 1
    assert checked == 9


def test_every_relative_link_of_the_docs_resolves():
    """README, CONTRIBUTING and every page under docs/: a link to a file of the repository
    points at a file or folder that exists (pages moved, scripts removed: the links follow)."""
    root = DOCS.parent
    pages = [root / "README.md", root / "CONTRIBUTING.md", *DOCS.rglob("*.md")]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(root)} -> {target}")
    assert not broken, broken


def test_the_sweep_table_of_the_results_page_is_the_committed_sweep():
    """docs/results/celeba64.md's screening-sweep matrix (train MSE per loss, init, lr_g and
    lr_z) reads back against the sweep.json that `bench sweep report` wrote
    (docs/sweeps/lr-glo/): every grid point is a cell, a finished one with its number."""
    sweep = json.loads((DOCS / "sweeps" / "lr-glo" / "sweep.json").read_text())
    points = {(r["method"], r["weight_init"], r["lr_g"], r["lr_z"]): r for r in sweep["rows"]}
    loss = {"MSE": "glo-mse-pca", "Lap1": "glo-lap1-pca"}
    init = {"PyTorch's": "default", "DCGAN's": "dcgan"}
    rows = table((DOCS / "results" / "celeba64.md").read_text(),
                 "| trained with | generator init | lr_g |")
    seen = set()
    for row in rows:
        for col, cell in row.items():
            if not col.startswith("lr_z = "):
                continue
            key = (loss[row["trained with"]], init[row["generator init"]],
                   float(row["lr_g"]), float(col.removeprefix("lr_z = ")))
            got = points[key]
            seen.add(key)
            if got["seeds"].startswith("1/"):
                assert cell == f"{got['train_mse mean']:.5f}", key
            else:
                assert cell == "not run", key
    assert seen == set(points)


def test_no_committed_page_names_a_folder_of_the_machine_that_wrote_it():
    """The committed report pages are read on other machines: where the Inception weights
    were absent they say so in one line (no table of "not computed" cells), and no page or
    its report.json names the writer's home, cache or checkout folder (a page whose store is
    gone is mended with `bench report --redraw`)."""
    pages = sorted((DOCS.parent / "reports").glob("*/index.html"))
    assert len(pages) >= 6
    for page in pages:
        for f in (page, page.parent / "report.json"):
            text = f.read_text()
            where = re.search(r"(/root|/home|/Users|/work|/tmp)/[^\s\"'<]*", text)
            assert where is None, f"{f} names {where.group(0)}: `bench report --redraw {page.parent}`"
            assert "not computed</td>" not in text, f"{f} draws a table of 'not computed' cells"


def test_the_rates_and_init_table_matches_the_stored_runs():
    """docs/results/celeba64.md's table of GLO at the paper's rates, at each loss's best rates
    and with PyTorch's init (31,800 steps) against the committed runs that made it:
    budget/celeba64.json (the paper's rates, DCGAN's init), celeba64-tuned.json and
    celeba64-init.json, each row's run found by its method, its --set values and its seeds
    (a row without "seed N" is seed 0); every tuned run committed, every seed, has its row."""
    def key(r: dict) -> tuple[str, float, float, str, int]:
        c = r["config"]
        sets = dict(kv.split("=", 1) for kv in c.get("overrides", []))
        return (c["method"], float(sets.get("lr_g", 1)), float(sets.get("lr_z", 10)),
                sets.get("weight_init", "dcgan"), c["seed"])

    runs = {}
    for name in ("celeba64", "celeba64-tuned", "celeba64-init"):
        for r in stored(f"budget/{name}"):
            runs.setdefault(key(r), r)
    inits = {"DCGAN's": "dcgan", "PyTorch's": "default"}
    rows = table((DOCS / "results" / "celeba64.md").read_text(), "| row | lr_g, lr_z, init |")
    seen = set()
    for row in rows:
        row = {k: v.replace("**", "") for k, v in row.items()}  # bold: the tuned rows
        method = method_of(row["row"])
        if method == "pca":
            settings = (1.0, 10.0, "dcgan")
        else:
            lr_g, lr_z, init = (s.strip() for s in row["lr_g, lr_z, init"].split(","))
            settings = (float(lr_g), float(lr_z), inits[init])
        for seed in seeds_of(row["row"]):
            assert_row_is_run(row, runs[(method, *settings, seed)])
            seen.add((method, *settings, seed))
    assert len(rows) >= 5
    tuned = {key(r) for r in stored("budget/celeba64-tuned")}
    assert tuned <= seen, tuned - seen


def assert_row_is_run(row: dict[str, str], run: dict) -> None:
    """A row of the 'train MSE | test MSE | held-out LFW | codes: ...' tables is its run."""
    for col, got in (("train MSE", run["train"]["mse"]), ("test MSE", run["test"]["mse"]),
                     ("held-out LFW", run["heldout"]["mse"])):
        assert cells(row[col], 1)[0] == f"{got:.5f}", (row["row"], col, got)
    if run["config"]["method"] != "pca":
        cell = row["codes: stored / re-inverted, cosine to init"]
        assert tuple(cells(cell, 2)) == codes(run), row["row"]
        assert cells(cell, 3)[2] == f"{run['codes']['cosine_to_init_mean']:.3f}", row["row"]


def test_the_paper_widths_table_matches_the_stored_runs():
    """docs/results/celeba64.md's table of GLO at the paper's widths and batch beside the cpu
    widths (31,800 steps, the paper's rates) against the committed runs:
    budget/celeba64-paper.json and budget/celeba64.json, each row's run found by its method,
    ngf, batch and seeds (a row without "seed N" is seed 0; "seeds 0, 1 and 2": each is that
    row); every paper-widths run committed, every seed, has its row."""
    def key(r: dict) -> tuple[str, int | None, int | None, int]:
        c = r["config"]
        return c["method"], c["model"].get("ngf"), c["model"].get("batch_size"), c["seed"]

    runs = {}
    for name in ("celeba64", "celeba64-paper"):
        for r in stored(f"budget/{name}"):
            if (r["config"].get("overrides") or []) in ([], ["eval.heldout_n=300"]):
                runs.setdefault(key(r), r)
    rows = table((DOCS / "results" / "celeba64.md").read_text(), "| row | ngf, batch |")
    seen = set()
    for row in rows:
        method = method_of(row["row"])
        ngf, batch = (s.strip() for s in row["ngf, batch"].split(","))
        widths = (None, None) if method == "pca" else (int(ngf), int(batch))
        for seed in seeds_of(row["row"].strip("*")):
            assert_row_is_run(row, runs[(method, *widths, seed)])
            seen.add((method, *widths, seed))
    paper = {key(r) for r in stored("budget/celeba64-paper")}
    assert paper <= seen, paper - seen


@pytest.mark.parametrize("section, end, name", [
    ("### Each loss at its best point", "### At the paper's widths and batch", "celeba64-tuned"),
    ("### At the paper's widths and batch", "## The other rows", "celeba64-paper"),
])
def test_the_seed_pairs_are_the_bundled_runs(section: str, end: str, name: str):
    """The seed-against-seed tables (Lap1-trained against MSE-trained) of the tuned-rates and
    the paper-widths sections: each cell's two MSEs and Lap1's lead, and on how many scored
    images Lap1's reconstruction is the closer, read back against the two bundled runs of that
    seed (budget json and per_image.npz); every seed whose pair is committed has its row."""
    np = pytest.importorskip("numpy")
    text = (DOCS / "results" / "celeba64.md").read_text()
    section = text[text.index(section):text.index(end)]
    bundle = DOCS / name / "runs" / "celeba64"
    runs: dict[int, dict[str, dict]] = {}
    for r in stored(f"budget/{name}"):
        runs.setdefault(r["config"]["seed"], {})[r["config"]["method"]] = r
    pairs = {s: m for s, m in runs.items() if {"glo-lap1-pca", "glo-mse-pca"} <= set(m)}
    rows = table(section, "| seed | train MSE, Lap1 / MSE |")
    assert sorted(int(row["seed"]) for row in rows) == sorted(pairs)
    for row in rows:
        lap1, mse = (pairs[int(row["seed"])][m] for m in ("glo-lap1-pca", "glo-mse-pca"))
        for col, get in (("train MSE, Lap1 / MSE", lambda r: r["train"]["mse"]),
                         ("test MSE", lambda r: r["test"]["mse"]),
                         ("held-out LFW", lambda r: r["heldout"]["mse"]),
                         ("re-inverted codes", lambda r: r["codes"]["reinverted_mse"])):
            a, b = get(lap1), get(mse)
            assert row[col] == f"{a:.5f} / {b:.5f}, {1 - a / b:+.1%}", (row["seed"], col)
        per = [np.load(bundle / r["run"] / "per_image.npz") for r in (lap1, mse)]
        counts = []
        for split in ("train", "test", "heldout"):
            assert (per[0][f"{split}_index"] == per[1][f"{split}_index"]).all(), split
            closer = int((per[0][f"{split}_mse"] < per[1][f"{split}_mse"]).sum())
            counts.append(f"{closer:,} of {len(per[0][f'{split}_mse']):,}")
        assert row["images, train / test / held-out"] == " / ".join(counts), row["seed"]


def _anchor(heading: str) -> str:
    """A heading's link anchor as GitHub makes it: lower case, punctuation dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_to_a_section_finds_its_heading():
    """A link 'page.md#section' (or '#section' within a page) in README.md and docs/ lands on a
    heading: a renamed section must not leave its links pointing nowhere."""
    root = DOCS.parent
    pages = [root / "README.md", *sorted(DOCS.rglob("*.md"))]
    broken = []
    for page in pages:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", page.read_text()):
            linked = (page.parent / target) if target else page
            if linked.suffix != ".md" or not linked.exists():
                continue
            heads = re.findall(r"^#+ (.*)$", linked.read_text(), re.M)
            if anchor not in {_anchor(h) for h in heads}:
                broken.append(f"{page.relative_to(root)}: {target}#{anchor}")
    assert not broken, broken
