"""bench sweep: a grid of `--set` values, times methods, times seeds, run into one store, and
one table and one plot of it.

A sweep is a spec, in a TOML file (so a docs page can name the one command that regenerates
its table) or in flags:

    name = "glo-d"                      # the report folder's title
    dataset = "lfw25"
    methods = ["glo-mse-pca"]
    seeds = [0, 1]
    out = "runs/sweeps"                 # the run store (every run is an ordinary run there)
    report = "docs/sweeps/glo-d"        # table.md, table.csv, sweep.json, plot.png
    metric = "train_mse"                # plotted against x: a metrics.json path, e.g. test_mse,
                                        # train_lap1, codes.reinverted_mse, fit_s
    x = "d"                             # the plot's x axis (default: the first grid key)
    ratio_to = "gan-mse"                # optional: a column of metric / that method's metric
                                        # (same seed, the sweep's fixed settings)
    [set]                               # every point: --set KEY=VALUE
    steps = 600
    [grid]                              # the cartesian product of these
    d = [64, 128, 256, 512]
    [[points]]                          # and/or listed points (combined with the grid)
    label = "w1+0.1"
    "loss.lap.weight_base" = 1.0
    "loss.mse_weight" = 0.1
    [run]                               # bench run's options: profile, precision, data_root,
    eval_train_n = 500                  # cache_dir, eval_train_n, eval_test_n, heldout, lap1,
                                        # subset, device

A point is a set of `--set` assignments; its runs are the runs `bench run --set ...` would make
(same ids), so a re-run skips what is complete and resumes what is not, and a point of a
longer budget starts from a shorter one's checkpoint (bench.store.trained_sibling).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.config.families import METHODS
from bench.config.overrides import validate
from bench.config.spec import Assignment, Overrides, RunSpec
from bench.core.spectrum import flatness
from bench.runs.listing import run_record
from bench.runs.plan import load_run_data, plan_run
from bench.runs.reuse import timing_training_s
from bench.runs.runner import find_fidelity, run_method
from bench.runs.store import RunDir, load_run, updated_at
from bench.runtime.errors import BenchError
from bench.runtime.io import atomic_write_bytes, atomic_write_json, atomic_write_text

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

#: [run] keys of a spec: RunSpec fields, and the Overrides fields without a --set key
RUN_KEYS = ("profile", "precision", "device", "data_root", "cache_dir", "eval_train_n",
            "eval_test_n", "eval_fid_n", "heldout", "lap1", "subset", "ckpt_interval_s",
            "keep_every")


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_text(v)}" for k, v in values.items())


@dataclass(frozen=True)
class Point:
    """One grid point: a label and its assignments (the sweep's fixed ones included)."""

    label: str
    values: dict[str, Any]  # the swept keys' values (for the table and the plot)
    assignments: tuple[Assignment, ...]


@dataclass(frozen=True)
class SweepSpec:
    name: str
    dataset: str
    methods: tuple[str, ...]
    out: Path
    report: Path
    seeds: tuple[int, ...] = (0,)
    fixed: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    points: tuple[dict[str, Any], ...] = ()
    metric: str = "train_mse"
    x: str | None = None
    ratio_to: str | None = None
    run: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the command that regenerates it (written into the table)

    def expand(self) -> list[Point]:
        """The grid's points: every combination of the grid's values, with each listed point
        (or alone), on top of the fixed settings."""
        keys = list(self.grid)
        combos = [dict(zip(keys, vals, strict=True))
                  for vals in itertools.product(*(self.grid[k] for k in keys))] if keys else [{}]
        listed = [dict(p) for p in self.points] or [{}]
        out = []
        for combo in combos:
            for extra in listed:
                label = extra.pop("label", None)
                swept = {**combo, **extra}
                settings = {**self.fixed, **swept}
                # a listed point's label names it within one grid combination; across
                # combinations the combination's values are added, so no two points share one
                text = (", ".join(t for t in (label, _pairs(combo)) if t) if label is not None
                        else _pairs(swept) or "base")
                out.append(Point(text, swept, tuple(Assignment(k, _text(v))
                                                    for k, v in settings.items())))
                if label is not None:
                    extra["label"] = label
        return out

    def x_key(self) -> str | None:
        return self.x or next(iter(self.grid), None)

    def run_spec(self, method: str, seed: int, assignments: tuple[Assignment, ...]) -> RunSpec:
        run = dict(self.run)
        ov = {k: run.pop(k) for k in ("lap1", "subset") if k in run}
        for k in ("data_root", "cache_dir"):
            if run.get(k) is not None:
                run[k] = Path(run[k]).expanduser()
        return RunSpec(self.dataset, methods=(method,), out=self.out, seed=seed, quiet=True,
                       overrides=Overrides(sets=assignments, **ov), **run)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def load_spec(path: Path) -> SweepSpec:
    """A sweep spec from a TOML file; every error names the file and the key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise BenchError(f"sweep spec {path} not found") from None
    except tomllib.TOMLDecodeError as e:
        raise BenchError(f"sweep spec {path} is not valid TOML: {e}") from None
    known = {f.name for f in fields(SweepSpec)} - {"fixed", "source"} | {"set"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise BenchError(f"{path}: unknown key(s) {', '.join(unknown)}; a sweep spec has "
                         f"{', '.join(sorted(known))}")
    for key in ("name", "dataset", "methods", "out", "report"):
        if key not in raw:
            raise BenchError(f"{path}: missing key {key!r} (e.g. {key} = ...)")
    bad_run = sorted(set(raw.get("run", {})) - set(RUN_KEYS))
    if bad_run:
        raise BenchError(f"{path}: unknown [run] key(s) {', '.join(bad_run)}; known: "
                         f"{', '.join(RUN_KEYS)}")
    spec = SweepSpec(
        name=raw["name"], dataset=raw["dataset"], methods=tuple(raw["methods"]),
        out=Path(raw["out"]).expanduser(), report=Path(raw["report"]),
        seeds=tuple(int(s) for s in raw.get("seeds", [0])), fixed=dict(raw.get("set", {})),
        grid=dict(raw.get("grid", {})),
        points=tuple(raw.get("points", [])), metric=raw.get("metric", "train_mse"),
        x=raw.get("x"), ratio_to=raw.get("ratio_to"), run=dict(raw.get("run", {})),
        source=f"bench sweep run {path.as_posix()}")
    check(spec, str(path))
    return spec


def check(spec: SweepSpec, where: str = "sweep") -> None:
    """Methods known, every grid key valid for at least one method and every value typed."""
    for m in (*spec.methods, *([spec.ratio_to] if spec.ratio_to else [])):
        if m not in METHODS:
            raise BenchError(f"{where}: unknown method {m!r}; Table 1's are: {', '.join(METHODS)}")
    if not spec.methods:
        raise BenchError(f"{where}: no methods to sweep")
    for key, values in spec.grid.items():
        if not isinstance(values, list) or not values:
            raise BenchError(f"{where}: grid key {key!r} needs a list of values, e.g. "
                             f"{key} = [1, 2]")
    for p in spec.expand():
        validate(p.assignments, spec.methods)


def parse_grid(items: tuple[str, ...]) -> dict[str, list[str]]:
    """--grid KEY=V1,V2,... (repeatable) -> {KEY: [V1, V2, ...]}."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise BenchError(f"--grid expects KEY=V1,V2,... (e.g. --grid d=64,128), got {item!r}")
        grid[key.strip()] = [_number(v.strip()) for v in values.split(",") if v.strip()]
    return grid


def _number(text: str) -> Any:
    """A grid value from the command line: a number where it reads as one (for the plot's
    axis); its type for the run comes from the settings field either way."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


# ------------------------------------------------------------------------------------ running
def _plans(spec: SweepSpec, data) -> list[tuple[Point | None, str, int, RunSpec, Any]]:
    """(point, method, seed, RunSpec, Plan) for every run of the sweep, in the order they run:
    per seed, the ratio baseline first (point None), then the points."""

    out = []
    fixed = tuple(Assignment(k, _text(v)) for k, v in spec.fixed.items())
    for seed in spec.seeds:
        todo = [(None, spec.ratio_to, fixed)] if spec.ratio_to else []
        todo += [(p, m, p.assignments) for p in spec.expand() for m in spec.methods]
        for point, method, assignments in todo:
            rs = spec.run_spec(method, seed, assignments)
            out.append((point, method, seed, rs, plan_run(data, rs, method)))
    return out


def _data(spec: SweepSpec, log):

    return load_run_data(spec.run_spec(spec.methods[0], spec.seeds[0], ()), log=log)


def run_sweep(spec: SweepSpec, log=print) -> list[Path]:
    """Run every point x method x seed not complete in the store (an interrupted one resumes);
    returns the run folders in order."""

    data = _data(spec, log)
    fidelity = find_fidelity(spec.run_spec(spec.methods[0], spec.seeds[0], ()), log)
    plans = _plans(spec, data)
    done = 0
    for i, (point, method, seed, rs, plan) in enumerate(plans, 1):
        if plan.run.is_complete():
            done += 1
            continue
        log(f"[{i}/{len(plans)}] {method} seed {seed}: "
            f"{'ratio baseline' if point is None else point.label}")
        res = run_method(rs, method, data=data, log=lambda _m: None, fidelity=fidelity)
        mse = res.metrics.get("train", {}).get("mse")
        log(f"    {res.state}: train MSE {'-' if mse is None else format(mse, '.5f')}  "
            f"{res.path.name}")
    log(f"{spec.name}: {len(plans)} runs, {done} already complete, {len(plans) - done} run now")
    return [plan.run.path for *_rest, plan in plans]


# ------------------------------------------------------------------------------------ report
def metric_value(metrics: dict, name: str) -> float | None:
    """A number from metrics.json: "train_mse" = train.mse, "codes.reinverted_mse",
    "flatness" (Figure 1's), "fit_s" = the seconds of training behind the point's model:
    timing.fit_s plus any training it reused (timing.training_reused_s: a shorter point's
    checkpoint it trained on from, or GAN-MSE's training for GAN-Lap1), so that a longer
    point's cost is not read as only its last stretch."""

    if name == "flatness":
        return flatness(metrics.get("spectrum", {}))
    if name == "fit_s":
        v = timing_training_s(metrics.get("timing", {}))
    elif name in ("eval_s", "total_s"):
        v = metrics.get("timing", {}).get(name)
    elif "." in name:
        head, _, rest = name.partition(".")
        v = metrics.get(head, {}).get(rest)
    else:
        split, _, key = name.partition("_")
        v = metrics.get(split, {}).get(key)
    return None if v is None or isinstance(v, (dict, list)) else float(v)


COLUMNS = ("train_mse", "test_mse", "train_lap1", "codes.stored_mse", "codes.reinverted_mse",
           "codes.cosine_to_init_mean", "fit_s")


def _stats(values: list[float | None]) -> dict[str, float | None]:
    got = [v for v in values if v is not None and math.isfinite(v)]
    if not got:
        return {"mean": None, "min": None, "max": None}
    return {"mean": float(np.mean(got)), "min": float(min(got)), "max": float(max(got))}


def sweep_table(spec: SweepSpec, log=print) -> tuple[list[dict], list[dict]]:
    """One row per (point, method): the swept values, seeds complete, the metric's mean and
    range over seeds, the other metrics' means, and the ratio to the baseline; and every
    complete run's record (config, code version, data fingerprint, numbers)."""

    plans = _plans(spec, _data(spec, lambda _m: None))
    loaded: dict[Path, dict | None] = {}
    for *_rest, plan in plans:
        info = load_run(RunDir(plan.run.path)) if plan.run.is_complete() else \
            _same_config(plan)
        loaded[plan.run.path] = info
    baseline = {seed: metric_value(loaded[plan.run.path]["metrics"], spec.metric)
                for point, _m, seed, _rs, plan in plans
                if point is None and loaded[plan.run.path] is not None}
    rows, records = [], {}
    by_key: dict[tuple[tuple[Assignment, ...], str], list[tuple[int, dict | None]]] = {}
    order: list[tuple[Point, str]] = []
    for point, method, seed, _rs, plan in plans:
        if point is None:
            continue
        key = (point.assignments, method)  # a point is its settings, whatever its label
        if key not in by_key:
            by_key[key] = []
            order.append((point, method))
        by_key[key].append((seed, loaded[plan.run.path]))
    for path, info in loaded.items():
        if info is not None:
            records[path.name] = run_record(info)
    for point, method in order:
        runs = by_key[(point.assignments, method)]
        done = [(s, i) for s, i in runs if i is not None]
        row: dict[str, Any] = {"point": point.label, "method": method,
                               **{k: point.values.get(k) for k in _swept_keys(spec)},
                               "seeds": f"{len(done)}/{len(runs)}"}
        main = _stats([metric_value(i["metrics"], spec.metric) for _s, i in done])
        row.update({f"{spec.metric} mean": main["mean"], f"{spec.metric} min": main["min"],
                    f"{spec.metric} max": main["max"]})
        if spec.ratio_to:
            ratios = [metric_value(i["metrics"], spec.metric) / baseline[s]
                      for s, i in done if baseline.get(s)]
            row[f"/ {spec.ratio_to}"] = _stats(ratios)["mean"]
        for col in COLUMNS:
            if col != spec.metric:
                row[col] = _stats([metric_value(i["metrics"], col) for _s, i in done])["mean"]
        row["runs"] = " ".join(Path(i["path"]).name for _s, i in done)
        rows.append(row)
    if spec.ratio_to:
        rows.insert(0, {"point": "baseline", "method": spec.ratio_to,
                        **{k: None for k in _swept_keys(spec)},
                        "seeds": f"{len(baseline)}/{len(spec.seeds)}",
                        f"{spec.metric} mean": _stats(list(baseline.values()))["mean"]})
    return rows, list(records.values())


def _same_config(plan) -> dict | None:
    """A complete run of the plan's exact config and data made by other code (the run id
    hashes the source too): `bench sweep report` after a code change still finds the runs
    `bench sweep run` made; the table names every code version it read. Newest first."""

    want = json.dumps(plan.config.to_dict(), sort_keys=True, default=str)
    found = []
    for cfg_path in plan.run.path.parent.glob(f"{plan.config.method}-*/config.json"):
        try:
            info = json.loads(cfg_path.read_text())
        except (OSError, ValueError):
            continue
        same = (json.dumps(info.get("config"), sort_keys=True, default=str) == want
                and info.get("data", {}).get("fingerprint") == plan.data.fingerprint)
        run = RunDir(cfg_path.parent)
        if same and run.is_complete():
            found.append(load_run(run))
    return max(found, key=updated_at, default=None)


def _swept_keys(spec: SweepSpec) -> list[str]:
    keys = list(spec.grid)
    for p in spec.points:
        keys += [k for k in p if k != "label" and k not in keys]
    return keys


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.5g}" if abs(v) < 1e5 else f"{v:.0f}"
    return str(v)


def write_sweep_report(spec: SweepSpec, log=print) -> Path:
    """table.md / table.csv / sweep.json / plot.png under spec.report."""
    rows, records = sweep_table(spec, log)
    versions = sorted({f"{r['code'].get('git_commit', '?')[:7]} (source "
                       f"{r['code'].get('source_sha256', '?')})" for r in records})
    out = Path(spec.report)
    out.mkdir(parents=True, exist_ok=True)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    header = (f"Sweep `{spec.name}` on {spec.dataset}: {', '.join(spec.methods)}, seeds "
              f"{', '.join(map(str, spec.seeds))}"
              + (f"; every point: {', '.join(f'{k}={_text(v)}' for k, v in spec.fixed.items())}"
                 if spec.fixed else "")
              + f". MSE per pixel, [-1, 1] pixels; mean (min, max) over seeds; fit_s: seconds of "
              f"training behind each point's model, a reused shorter point's included. Runs made by "
              f"code {', '.join(versions) or '-'}"
              + (" (SEVERAL code versions)" if len(versions) > 1 else "")
              + f". Regenerate: `{spec.source or 'bench sweep run ...'}`.")
    md = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    atomic_write_text(out / "table.md", "\n".join(md) + "\n")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(out / "table.csv", buf.getvalue().encode())
    atomic_write_json(out / "sweep.json", {
        "name": spec.name, "dataset": spec.dataset, "methods": list(spec.methods),
        "seeds": list(spec.seeds), "set": spec.fixed, "grid": spec.grid,
        "points": list(spec.points), "metric": spec.metric, "ratio_to": spec.ratio_to,
        "run": {k: str(v) for k, v in spec.run.items()}, "command": spec.source,
        "rows": rows, "runs": records})
    _plot(spec, rows, out / "plot.png")
    log(f"{spec.name}: {len(rows)} rows -> {out}/table.md, table.csv, sweep.json, plot.png")
    return out


def _plot(spec: SweepSpec, rows: list[dict], path: Path) -> None:
    # deferred: matplotlib (about a second to import) only where a figure is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = spec.x_key()
    mean, lo, hi = (f"{spec.metric} {s}" for s in ("mean", "min", "max"))
    data = [r for r in rows if r.get(mean) is not None and r["point"] != "baseline"]
    fig, ax = plt.subplots(figsize=(8.4, 4.2), dpi=110)
    numeric = x is not None and all(isinstance(r.get(x), (int, float)) for r in data)
    series: dict[str, list[dict]] = {}
    for r in data:  # one line per method (and per value of the other swept keys, on an axis)
        others = [f"{k}={_fmt(r[k])}" for k in _swept_keys(spec)
                  if x is not None and k != x and r.get(k) is not None]
        series.setdefault(", ".join([r["method"], *others]), []).append(r)
    labels = list(dict.fromkeys(str(r["point"] if x is None else _fmt(r.get(x))) for r in data))
    for name, pts in series.items():
        if numeric:
            pts = sorted(pts, key=lambda r: r[x])
            xs = [r[x] for r in pts]
        else:
            xs = [labels.index(str(r["point"] if x is None else _fmt(r.get(x)))) for r in pts]
        ys = np.array([r[mean] for r in pts])
        err = np.array([[r[mean] - r[lo] for r in pts], [r[hi] - r[mean] for r in pts]])
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=name,
                    linestyle="-" if numeric else "none")  # categories: no line between
    ticks = sorted({r[x] for r in data}) if numeric else []  # the swept values
    if not numeric:
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    elif ticks and ticks[0] > 0 and ticks[-1] / ticks[0] >= 10:
        ax.set_xscale("log")
        ax.set_xticks(ticks, [_fmt(t) for t in ticks])  # the swept values, not powers of 10
        ax.minorticks_off()
    values = [r[mean] for r in data]
    if values and min(values) > 0 and max(values) / min(values) > 5:
        ax.set_yscale("log")
    base = [r for r in rows if r["point"] == "baseline" and r.get(mean) is not None]
    if base:
        ax.axhline(base[0][mean], color="gray", ls="--", label=f"{spec.ratio_to} (baseline)")
    ax.set_xlabel(x or "point")
    ax.set_ylabel(spec.metric + (" (MSE per pixel, [-1, 1])" if "mse" in spec.metric else ""))
    ax.set_title(f"{spec.name} ({spec.dataset}); bars: min-max over seeds", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside, not over, the lines
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def spec_from_flags(name, dataset, methods, seeds, out, report, sets, grid, metric, x,
                    run) -> SweepSpec:
    spec = SweepSpec(name=name or "sweep", dataset=dataset, methods=tuple(methods),
                     out=Path(out), report=Path(report), seeds=tuple(seeds),
                     fixed={a.key: a.text for a in sets}, grid=grid, metric=metric, x=x,
                     run={k: v for k, v in run.items() if v is not None})
    check(spec)
    return replace(spec, source=command_line(spec))


def command_line(spec: SweepSpec) -> str:
    """The `bench sweep run` flags that make ``spec`` (for the table's "Regenerate" line)."""
    parts = ["bench sweep run", f"--name {spec.name}", f"--dataset {spec.dataset}"]
    parts += [f"--model {m}" for m in spec.methods]
    parts += [f"--grid {k}={','.join(_text(v) for v in vals)}" for k, vals in spec.grid.items()]
    parts += [f"--set {k}={_text(v)}" for k, v in spec.fixed.items()]
    parts += [f"--seeds {','.join(map(str, spec.seeds))}", f"--out {spec.out}",
              f"--report-dir {spec.report}"]
    if spec.metric != "train_mse":
        parts.append(f"--metric {spec.metric}")
    if spec.x:
        parts.append(f"--x {spec.x}")
    parts += [f"--{k.replace('_', '-')} {v}" for k, v in spec.run.items()]
    return " ".join(parts)


def describe(spec: SweepSpec) -> str:
    pts = spec.expand()
    return (f"{spec.name}: {len(pts)} point(s) x {len(spec.methods)} method(s) x "
            f"{len(spec.seeds)} seed(s) = {len(pts) * len(spec.methods) * len(spec.seeds)} runs"
            + (f" (+ {len(spec.seeds)} baseline)" if spec.ratio_to else "")
            + f" into {spec.out}")
