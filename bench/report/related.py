"""Side by side with the other reports of one dataset (e.g. reports/celeba64 at the paper's step
budget next to reports/celeba64-plateau): per Table-1 row, how long it trained and its train
MSE on each page, and each claim's verdict on each page. Read from the pages' report.json, so
a page written by an older code version still compares (missing fields show as "-")."""

from __future__ import annotations

import json
from pathlib import Path


def _row(report: dict, method: str) -> dict:
    """The page's Table-1 record of ``method`` ({} where the page has none)."""
    return next((r for r in report.get("table1", []) if r.get("method") == method), {})


def _trained(report: dict, method: str) -> str:
    """How long seed 0 of a method trained: steps from its curve, else its step budget, else
    its epochs; "closed form" for PCA; "-" when the page does not say."""
    row = _row(report, method)
    if row.get("state") != "complete":
        return "-"
    if method == "pca":
        return "closed form"
    label = row.get("label")
    conv = next((r for r in report.get("convergence", {}).get("rows", [])
                 if r.get("Method") == label and r.get("seed") in ("0", 0)), {})
    if conv.get("steps", "-") != "-":
        return f"{conv['steps']} steps"
    run = next((r for r in report.get("runs", []) if r.get("method") == method
                and r.get("seed") == 0), {})
    budget = run.get("step budget", "-")
    if budget not in ("-", None):
        return f"{int(budget):,} steps"
    epochs = conv.get("epochs", run.get("epochs", "-"))
    return "-" if epochs in ("-", None) else f"{epochs} epochs"


def _mse(report: dict, method: str) -> str:
    row = _row(report, method)
    v = row.get("train_mse")
    if v is None or v != v:  # a missing row: None, or NaN where pandas filled the column
        return row.get("state", "missing")
    seeds = row.get("seeds", 1)
    return f"{v:.5f}" + (f" ({seeds} seeds)" if seeds and seeds > 1 else "")


def _verdict(claim: dict | None) -> str:
    if claim is None:
        return "not judged"
    if claim.get("holds") is None:
        return "not measured"
    margin = claim.get("margin")
    word = "holds" if claim["holds"] else "fails"
    return word if margin is None else f"{word} ({margin:+.1%})"


def _scored(report: dict) -> str:
    run = next((r for r in report.get("runs", []) if r.get("method") == "pca"),
               next(iter(report.get("runs", [])), {}))
    return run.get("scored train/test", "-")


def related_folders(out_dir: Path, safe: str, page: str) -> list[Path]:
    """The other report folders of one dataset under ``out_dir``: ``<safe>`` and ``<safe>-*``
    (e.g. celeba64, celeba64-plateau, celeba64-lap1paper) holding an index.html, except
    ``page`` itself."""
    out_dir = Path(out_dir)
    folders = [out_dir / safe, *sorted(out_dir.glob(f"{safe}-*"))]
    return [f for f in folders if f.name != page and (f / "index.html").is_file()]


def page_links(folders: list[Path]) -> list[tuple[str, str]]:
    """(name, relative href) of each page folder, as a page beside them links it."""
    return [(f.name, f"../{f.name}/index.html") for f in folders]


def load_related(folders: list[Path], dataset: str) -> list[tuple[str, dict]]:
    """(folder name, report.json) of each folder whose readable report.json is of ``dataset``."""
    found = []
    for folder in folders:
        try:
            other = json.loads((folder / "report.json").read_text())
        except (OSError, ValueError):
            continue
        if other.get("dataset") == dataset:
            found.append((folder.name, other))
    return found


def side_by_side(name: str, report: dict, others: list[tuple[str, dict]]) -> dict:
    """Tables comparing this page (``name``) with each other page: Table-1 rows and claims.
    Returns {"pages", "rows", "claims", "scored"}; empty rows when there is nothing to compare."""
    if not others:
        return {"pages": [], "rows": [], "claims": [], "scored": []}
    pages = [(name, report), *others]
    rows = []
    for t in report.get("table1", []):
        m = t["method"]
        row = {"Method": t["label"]}
        for p, r in pages:
            row.update({f"{p}: trained": _trained(r, m), f"{p}: train MSE": _mse(r, m)})
        rows.append(row)
    texts = [c["claim"] for c in report.get("claims", [])]
    for _, r in others:
        texts += [c["claim"] for c in r.get("claims", []) if c["claim"] not in texts]
    claims = []
    for text in texts:
        claims.append({"claim": text, **{p: _verdict(next(
            (c for c in r.get("claims", []) if c["claim"] == text), None)) for p, r in pages}})
    return {"pages": [p for p, _ in pages], "rows": rows, "claims": claims,
            "scored": [(p, _scored(r)) for p, r in pages]}
