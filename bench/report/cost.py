"""The settings table's rows per run, and the cost line under it: the seed-0 runs' seconds per
CPU, what `bench run --all` costs at those settings."""

from __future__ import annotations

from pathlib import Path

from bench.config.families import TABLE1_METHODS
from bench.report.gather import run_cpu


def _settings(run: dict) -> dict:
    cfg = run["config"]
    c = cfg.get("config", {})
    m = c.get("model", {})
    loss = m.get("loss", {})
    return {"run": Path(run["path"]).name, "method": c.get("method"), "seed": c.get("seed"),
            "profile": c.get("profile"), "epochs": m.get("epochs", "-"),
            "step budget": m.get("steps") or "-",
            "batch": m.get("batch_size", "-"), "d": m.get("d"), "width": m.get("ngf", "-"),
            "loss": loss.get("name", "-") if isinstance(loss, dict) else "-",
            "init": m.get("init", "-"), "subset": c.get("subset") or "all",
            "train images": cfg.get("data", {}).get("train_used"),
            "scored train/test": f"{run['metrics'].get('train', {}).get('n')}/"
                                 f"{run['metrics'].get('test', {}).get('n')}",
            "device": c.get("device"), "precision": c.get("precision"),
            "--set": ", ".join(c.get("overrides", [])) or "-",
            "code": cfg.get("code", {}).get("git_commit", cfg.get("code", {}).get("source_sha256")),
            "data fingerprint": cfg.get("data", {}).get("fingerprint", "")[:16],
            "wall s": run["metrics"].get("timing", {}).get("total_s"),
            "cpu": run_cpu(run),
            "notes": "; ".join([*c.get("notes", []), *_timing_notes(run)])}


#: the settings-table note of a run whose wall seconds miss its earlier processes (cost_summary
#: reads it back from the row to name that run's seconds a lower bound)
LAST_PROCESS_ONLY = "wall s counts only the last process"


def _timing_notes(run: dict) -> list[str]:
    """What a run's wall seconds cover: an adopted sibling's training is excluded; a run that
    resumed counts its earlier processes' training only where its code carried them in the
    checkpoint (the note says which)."""
    timing = run["metrics"].get("timing", {})
    notes = []
    if timing.get("training_reused_from"):
        notes.append(f"training reused from {timing['training_reused_from']} (wall s excludes it)")
    log = Path(run["path"]) / "log.txt"
    resumes = log.read_text().count("resuming from ") if log.is_file() else 0
    if resumes and "fit_s_earlier_processes" in timing:
        notes.append(f"resumed {resumes}x; wall s includes {timing['fit_s_earlier_processes']:,.0f} s "
                     f"of training in earlier processes")
    elif resumes and not timing.get("training_reused_from"):
        notes.append(f"resumed {resumes}x; {LAST_PROCESS_ONLY} (this code version did not carry "
                     f"training seconds across a restart)")
    return notes


def cost_summary(settings: list[dict]) -> dict:
    """What the page's runs cost in wall-clock seconds, from each run's own timing (training +
    evaluation; the "wall s" column). Seed 0's runs are what `bench run --all` at their
    settings costs for one seed: a GAN-Lap1 that reused GAN-MSE's training counts only its own
    evaluation, so the GAN trains once, as it does in that command. Seconds measured on
    different CPUs are summed per CPU, never into one figure; a configuration without a
    complete seed-0 run, or a run whose seconds cover only its last process, is named, so a
    partial sum is never read as the command's cost."""
    by_cpu: dict[str, dict] = {}
    seed0 = {s["method"]: s for s in settings if s["seed"] == 0}
    for s in settings:
        entry = by_cpu.setdefault(s["cpu"], {"cpu": s["cpu"], "seed0_runs": 0, "seed0_s": 0.0,
                                              "runs": 0, "all_s": 0.0})
        wall = s["wall s"] or 0.0
        entry["runs"] += 1
        entry["all_s"] += wall
        if seed0.get(s["method"]) is s:
            entry["seed0_runs"] += 1
            entry["seed0_s"] += wall
    missing = [m for m in TABLE1_METHODS if m not in seed0]
    partial = sorted(s["run"] for s in settings if s["wall s"] is None
                     or LAST_PROCESS_ONLY in s["notes"])
    cpus = list(by_cpu.values())

    def hours(sec: float) -> str:
        if sec < 60:
            return f"{sec:.0f} s"
        return (f"{sec / 3600:.1f} h" if sec >= 3600 else f"{sec / 60:.1f} min") + f" ({sec:,.0f} s)"

    if not cpus:
        text = "No complete runs, so no cost."
    else:
        per = "; ".join(f"{c['cpu']}: {hours(c['seed0_s'])} for {c['seed0_runs']} run(s)"
                        for c in cpus if c["seed0_runs"])
        text = (f"`bench run --all` at these settings, seed 0: {len(seed0)} of "
                f"{len(TABLE1_METHODS)} configurations, " + (
                    f"{hours(cpus[0]['seed0_s'])} of wall clock on {cpus[0]['cpu']}"
                    if len(cpus) == 1 else
                    f"measured on {len(cpus)} CPUs, so no single figure: {per}")
                + " (each run's training + evaluation seconds, as in the wall s column; they "
                  "include any time its process was paused).")
        if missing:
            text += (" Not the command's whole cost: no complete seed-0 run of "
                     + ", ".join(missing) + ".")
        extra = sum(c["runs"] - c["seed0_runs"] for c in cpus)
        if extra:
            text += (f" All {sum(c['runs'] for c in cpus)} runs on the page: "
                     + "; ".join(f"{c['cpu']}: {hours(c['all_s'])}" for c in cpus) + ".")
        if partial:
            text += (" Lower bounds: the seconds of " + ", ".join(partial)
                     + " cover only their last process.")
    return {"by_cpu": cpus, "seed0_configurations": len(seed0), "missing_seed0": missing,
            "partial_seconds": partial, "text": text}
