"""Wall time per configuration from one or two run stores, as JSON and a markdown table.

    python scripts/run_times.py table STORE [--json OUT]            # one store
    python scripts/run_times.py compare BEFORE AFTER [--json OUT]   # the same configurations, two stores

Each row comes from a run folder's config.json (settings, code version, data fingerprint),
metrics.json (`timing`: fit, evaluation, total seconds), curves.csv (epochs trained) and
log.txt (seconds and image counts of each evaluation stage). Nothing is estimated here.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

STAGE = re.compile(r"\] (\w+): MSE [\d.]+, Lap1 [\d.]+ on (\d+) images \(([\d.]+)s\)")
CODES = re.compile(r"\] codes: .*")


def run_row(run_dir: Path) -> dict:
    cfg = json.loads((run_dir / "config.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    c = cfg["config"]
    model = c.get("model", {})
    epochs = None
    curves = run_dir / "curves.csv"
    if curves.exists():
        rows = list(csv.DictReader(curves.open()))
        if rows and "epoch" in rows[0]:
            epochs = int(rows[-1]["epoch"]) + 1
    log = (run_dir / "log.txt").read_text() if (run_dir / "log.txt").exists() else ""
    stages = {name: {"images": int(n), "s": float(s)} for name, n, s in STAGE.findall(log)}
    return {
        "run_id": cfg["run_id"], "method": c["method"], "dataset": c["dataset"], "seed": c["seed"],
        "precision": c.get("precision"), "ngf": model.get("ngf"), "batch_size": model.get("batch_size"),
        "epochs_trained": None if c["family"] == "pca" else epochs,
        "timing": metrics["timing"], "eval_stages": stages,
        "codes_check": bool(CODES.search(log)),
        "train_mse": metrics["train"]["mse"] if isinstance(metrics.get("train"), dict) else None,
        "test_mse": metrics["test"]["mse"] if isinstance(metrics.get("test"), dict) else None,
        "code": cfg["code"], "data_fingerprint": cfg["data"]["fingerprint"], "argv": cfg["environment"]["argv"],
    }


def store_rows(store: Path) -> list[dict]:
    dirs = sorted(p.parent for p in store.glob("*/*/metrics.json"))
    if not dirs:
        raise SystemExit(f"{store}: no run folder with a metrics.json; pass a store written by `bench run --out`")
    return [run_row(d) for d in dirs]


def _by_method(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in rows:
        if r["method"] in out:
            raise SystemExit(f"two runs of {r['method']} in one store ({out[r['method']]['run_id']}, "
                             f"{r['run_id']}); pass a store with one run per configuration")
        out[r["method"]] = r
    return out


def _share(t: dict) -> str:
    return f"{100 * t['eval_s'] / t['total_s']:.0f}%" if t["total_s"] else "-"


def table(rows: list[dict]) -> str:
    lines = ["| configuration | epochs | fit s | eval s | total s | eval share | evaluation stages (images, s) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["timing"]
        stages = ", ".join(f"{k} {v['images']} in {v['s']:.1f}" for k, v in r["eval_stages"].items())
        rest = t["eval_s"] - sum(v["s"] for v in r["eval_stages"].values())
        if r["codes_check"]:
            stages += f", code check + rest {rest:.1f}"
        reused = " (adopted)" if t.get("training_reused_from") else ""
        lines.append(f"| {r['method']} | {r['epochs_trained'] or '-'} | {t['fit_s']:,.1f}{reused} | "
                     f"{t['eval_s']:,.1f} | {t['total_s']:,.1f} | {_share(t)} | {stages} |")
    total = sum(r["timing"]["total_s"] for r in rows)
    lines.append(f"| **all** | | | {sum(r['timing']['eval_s'] for r in rows):,.1f} | **{total:,.1f}** | "
                 f"{100 * sum(r['timing']['eval_s'] for r in rows) / total:.0f}% | |")
    return "\n".join(lines)


def compare(before: list[dict], after: list[dict]) -> str:
    b, a = _by_method(before), _by_method(after)
    common = [m for m in a if m in b]
    lines = ["| configuration | before: fit / eval / total s | after: fit / eval / total s | "
             "speed-up (total) | train MSE before / after | test MSE before / after |",
             "|---|---|---|---|---|---|"]
    sums = {"b": 0.0, "a": 0.0}
    for m in common:
        tb, ta = b[m]["timing"], a[m]["timing"]
        sums["b"] += tb["total_s"]
        sums["a"] += ta["total_s"]
        lines.append(f"| {m} | {tb['fit_s']:,.1f} / {tb['eval_s']:,.1f} / {tb['total_s']:,.1f} | "
                     f"{ta['fit_s']:,.1f} / {ta['eval_s']:,.1f} / {ta['total_s']:,.1f} | "
                     f"{tb['total_s'] / ta['total_s']:.2f}x | {b[m]['train_mse']:.5f} / {a[m]['train_mse']:.5f} | "
                     f"{b[m]['test_mse']:.5f} / {a[m]['test_mse']:.5f} |")
    lines.append(f"| **all {len(common)}** | **{sums['b']:,.1f}** | **{sums['a']:,.1f}** | "
                 f"**{sums['b'] / sums['a']:.2f}x** | | |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table")
    t.add_argument("store", type=Path)
    t.add_argument("--json", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.cmd == "table":
        rows = store_rows(args.store)
        print(table(rows))
        payload: dict = {"runs": rows}
    else:
        before, after = store_rows(args.before), store_rows(args.after)
        print(compare(before, after))
        payload = {"before": before, "after": after}
    if args.json:
        from bench.io import atomic_write_json
        atomic_write_json(args.json, payload)


if __name__ == "__main__":
    main()
