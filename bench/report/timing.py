"""Wall time per configuration from one or two run stores, as a markdown table and JSON
(`bench times STORE`, `bench times BEFORE --compare AFTER`).

Each row is one complete run, read with bench.store.load_run: config.json (settings, code
version, data fingerprint) and metrics.json (`timing`: fit, evaluation and total seconds; the
seconds and image count of each evaluation stage; the last epoch trained). Nothing is
estimated. Compare stores whose runs ran one at a time on the same machine.
"""

from __future__ import annotations

from pathlib import Path

from bench.report.gather import run_cpu
from bench.runs.store import find_runs, load_run
from bench.runtime.errors import BenchError


def run_row(info: dict) -> dict:
    cfg, m = info["config"], info["metrics"]
    c = cfg["config"]
    model = c.get("model", {})
    stages = {name: {"images": part.get("n", part.get("check_n")), "s": part["seconds"]}
              for name, part in m.items() if isinstance(part, dict) and "seconds" in part}
    last = m.get("curves_final", {}).get("epoch")
    return {
        "run_id": cfg["run_id"], "method": c["method"], "dataset": c["dataset"], "seed": c["seed"],
        "precision": c.get("precision"), "ngf": model.get("ngf"),
        "batch_size": model.get("batch_size"),
        "epochs_trained": None if c["family"] == "pca" or last is None else last + 1,
        "timing": m["timing"], "eval_stages": stages,
        "train_mse": m["train"]["mse"], "test_mse": m["test"]["mse"],
        "code": cfg["code"], "data_fingerprint": cfg["data"]["fingerprint"],
        "argv": cfg["environment"]["argv"], "cpu": run_cpu(info),
    }


def store_rows(store: Path) -> list[dict]:
    infos = [load_run(r) for r in find_runs(store)]
    rows = [run_row(i) for i in infos if i["status"].get("state") == "complete" and i["metrics"]]
    if not rows:
        raise BenchError(f"{store}: no complete run; pass a store written by `bench run --out`")
    return rows


def _by_method(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in rows:
        if r["method"] in out:
            raise BenchError(f"two runs of {r['method']} in one store ({out[r['method']]['run_id']}, "
                             f"{r['run_id']}); pass a store with one run per configuration")
        out[r["method"]] = r
    return out


def _share(t: dict) -> str:
    return f"{100 * t['eval_s'] / t['total_s']:.0f}%" if t["total_s"] else "-"


def _cpus(rows: list[dict]) -> str:
    return "; ".join(sorted({r["cpu"] for r in rows}))


def table(rows: list[dict]) -> str:
    lines = [f"CPU: {_cpus(rows)}", "",
             "| configuration | epochs | fit s | eval s | total s | eval share | evaluation stages (images, s) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["timing"]
        stages = ", ".join(f"{k} {v['images']} in {v['s']:.1f}" for k, v in r["eval_stages"].items())
        reused = " (adopted)" if t.get("training_reused_from") else ""
        lines.append(f"| {r['method']} | {r['epochs_trained'] or '-'} | {t['fit_s']:,.1f}{reused} | "
                     f"{t['eval_s']:,.1f} | {t['total_s']:,.1f} | {_share(t)} | {stages} |")
    total = {k: sum(r["timing"][k] for r in rows) for k in ("eval_s", "total_s")}
    lines.append(f"| **all** | | | {total['eval_s']:,.1f} | **{total['total_s']:,.1f}** | {_share(total)} | |")
    return "\n".join(lines)


def compare(before: list[dict], after: list[dict]) -> str:
    b, a = _by_method(before), _by_method(after)
    common = [m for m in a if m in b]
    cpus = {"before": _cpus([b[m] for m in common]), "after": _cpus([a[m] for m in common])}
    same = cpus["before"] == cpus["after"] and ";" not in cpus["before"]
    lines = [f"CPU: {cpus['before']}" if same else
             f"WARNING: not one machine, so the speed-ups mix machines with code: before on "
             f"{cpus['before']}; after on {cpus['after']}", "",
             "| configuration | before: fit / eval / total s | after: fit / eval / total s | "
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
