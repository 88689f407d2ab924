"""Table 1 as a DataFrame beside the paper's numbers, and its markdown, LaTeX and terminal forms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.config.families import TABLE1_METHODS
from bench.report.gather import MethodRuns, collect
from bench.report.paper import label, paper_mse


def _mean(runs: list[dict], split: str, metric: str) -> float | None:
    vals = [r["metrics"].get(split, {}).get(metric) for r in runs]
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else None


def table1(dataset: str, results: dict[str, MethodRuns]) -> pd.DataFrame:
    rows = []
    for method in [*TABLE1_METHODS, *(m for m in results if m not in TABLE1_METHODS)]:
        res = results[method]
        paper = paper_mse(method, dataset)
        row = {"method": method, "label": label(method), "state": res.state,
               "train_mse": None, "train_mse_ci95": None, "paper_mse": paper, "diff": None,
               "train_lap1": None, "test_mse": None, "heldout_mse": None,
               "heldout_dataset": None, "codes_stored_mse": None, "codes_reinverted_mse": None,
               "codes_check_n": None, "seeds": len(res.runs), "detail": res.detail}
        if res.state == "complete":
            row["train_mse"] = _mean(res.runs, "train", "mse")
            row["train_lap1"] = _mean(res.runs, "train", "lap1")
            row["test_mse"] = _mean(res.runs, "test", "mse")
            row["heldout_mse"] = _mean(res.runs, "heldout", "mse")
            row["heldout_dataset"] = res.runs[0]["metrics"].get("heldout", {}).get("dataset")
            row["codes_stored_mse"] = _mean(res.runs, "codes", "stored_mse")
            row["codes_reinverted_mse"] = _mean(res.runs, "codes", "reinverted_mse")
            row["codes_check_n"] = res.runs[0]["metrics"].get("codes", {}).get("check_n")
            if len(res.runs) == 1:
                row["train_mse_ci95"] = res.runs[0]["metrics"]["train"].get("mse_ci95")
            else:
                per_seed = [r["metrics"]["train"]["mse"] for r in res.runs]
                row["train_mse_ci95"] = [float(np.min(per_seed)), float(np.max(per_seed))]
            if paper is not None and row["train_mse"] is not None:
                row["diff"] = row["train_mse"] - paper
            if not all(r["metrics"]["train"].get("mse_finite", True) for r in res.runs):
                row["detail"] = "non-finite per-image values"
        rows.append(row)
    return pd.DataFrame(rows)


def _absent(v) -> bool:
    """None, or the NaN a DataFrame puts in a missing row's cell."""
    return v is None or (isinstance(v, float) and np.isnan(v))


def _fmt(v, digits: int = 5, signed: bool = False) -> str:
    if _absent(v):
        return "-"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def _display_rows(df: pd.DataFrame) -> list[dict]:
    out = []
    for r in df.to_dict("records"):
        if r["state"] == "complete":
            ours = "nan" if r["train_mse"] is None or np.isnan(r["train_mse"]) else _fmt(r["train_mse"])
        else:
            ours = r["state"]
        if r["state"] != "missing" and r["detail"]:
            ours += f" ({r['detail']})"
        ci = r.get("train_mse_ci95")
        ci_text = f"[{ci[0]:.5f}, {ci[1]:.5f}]" if isinstance(ci, list | tuple) and len(ci) == 2 \
            and all(isinstance(v, float) and np.isfinite(v) for v in ci) else "-"
        out.append({"Method": r["label"], "train MSE (ours)": ours, "CI / seed range": ci_text,
                    "paper MSE": _fmt(r["paper_mse"], 4), "ours - paper": _fmt(r["diff"], 4, True),
                    "train Lap1": _fmt(r["train_lap1"]), "test MSE": _fmt(r["test_mse"]),
                    "held-out MSE": _fmt(r["heldout_mse"]) + (f" ({r['heldout_dataset']})"
                                                             if isinstance(r["heldout_dataset"], str) else ""),
                    "codes: stored / re-inverted": "-" if _absent(r.get("codes_reinverted_mse"))
                    else f"{_fmt(r['codes_stored_mse'])} / {_fmt(r['codes_reinverted_mse'])} "
                         f"({int(r['codes_check_n'])})",
                    "seeds": str(r["seeds"])})
    return out


def to_markdown(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(r[k] for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_latex(rows: list[dict], caption: str) -> str:
    keys = list(rows[0])
    esc = lambda s: s.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")  # noqa: E731
    body = "\n".join(" & ".join(esc(r[k]) for k in keys) + r" \\" for r in rows)
    return ("\\begin{table}\n\\centering\n\\begin{tabular}{l" + "r" * (len(keys) - 1) + "}\n"
            + " & ".join(esc(k) for k in keys) + " \\\\\n\\hline\n" + body
            + "\n\\end{tabular}\n\\caption{" + esc(caption) + "}\n\\end{table}\n")


def to_text(rows: list[dict]) -> str:
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in keys}
    line = lambda r: "  ".join(r[k].ljust(widths[k]) for k in keys)  # noqa: E731
    return "\n".join([line({k: k for k in keys})] + [line(r) for r in rows])


def terminal_table(dataset: str, runs_dir: Path) -> str:
    """Table 1 for the terminal, straight from the run store."""
    return to_text(_display_rows(table1(dataset, collect(runs_dir, dataset))))
