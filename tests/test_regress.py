"""The regression comparison: what counts as moved, and how tolerances come from seeds."""

from __future__ import annotations

import math

from bench.config.families import TABLE1_METHODS
from bench.studies.regress import (
    CLAIMS,
    SCALES,
    build_reference,
    choose_dataset,
    compare,
    format_rows,
)


def _results(shift: dict[tuple[str, str], float] | None = None, seed: int = 0) -> dict:
    base = {"pca": 0.020, "gan-mse": 0.040, "gan-lap1": 0.045, "vae-mse": 0.015, "vae-lap1": 0.016,
            "glo-mse-random": 0.030, "glo-mse-pca": 0.018, "glo-lap1-random": 0.025,
            "glo-lap1-pca": 0.017}
    out = {}
    for i, m in enumerate(TABLE1_METHODS):
        jitter = 0.0003 * ((seed * 7 + i) % 3 - 1)
        out[m] = {"train_mse": base[m] + jitter, "test_mse": base[m] * 1.2 + jitter,
                  "train_lap1": (0.10 if "lap1" in m else 0.12) + jitter,
                  "flatness": 0.9 if m == "pca" else 0.6}
    for (m, metric), delta in (shift or {}).items():
        out[m][metric] += delta
    out["_provenance"] = {"code": {f"commit{seed % 2}"}, "data_fingerprint": {"fp"}}
    return out


def test_tolerance_is_seed_spread_with_a_floor():
    ref = build_reference("celeba32", SCALES["celeba32"], {s: _results(seed=s) for s in (0, 1, 2)})
    for m in TABLE1_METHODS:
        entry = ref["configs"][m]["train_mse"]
        assert len(entry["values"]) == 3
        assert math.isclose(entry["tolerance"], max(4 * entry["std"], 0.01 * abs(entry["mean"])))
    assert ref["claims"]["glo-pca-init-beats-random (MSE loss)"]["holds"]
    assert ref["claims"]["GLO (random init) Z spectrum flatter than PCA's"]["holds"]
    assert set(ref["claims"]) == set(CLAIMS)
    assert ref["measured_with"] == {"code": ["commit0", "commit1"], "data_fingerprint": ["fp"]}


def test_unchanged_passes_and_a_worse_model_is_flagged():
    ref = build_reference("celeba32", SCALES["celeba32"], {s: _results(seed=s) for s in (0, 1, 2)})
    rows, failed = compare(ref, _results(seed=0))
    assert all(r["ok"] for r in rows) and not failed
    worse = _results({("glo-lap1-pca", "train_mse"): 0.004}, seed=0)
    rows, failed = compare(ref, worse)
    moved = [(r["config"], r["metric"]) for r in rows if not r["ok"]]
    assert moved == [("glo-lap1-pca", "train_mse")]
    table = format_rows([r for r in rows if not r["ok"]])
    assert "glo-lap1-pca" in table and "MOVED" in table and "tolerance" in table


def test_a_broken_claim_fails_even_within_tolerance():
    ref = build_reference("celeba32", SCALES["celeba32"], {s: _results(seed=s) for s in (0, 1, 2)})
    flipped = _results(seed=0)
    flipped["glo-mse-random"]["train_mse"] = flipped["glo-mse-pca"]["train_mse"] - 0.001
    _, failed = compare(ref, flipped)
    assert "glo-pca-init-beats-random (MSE loss)" in failed


def test_nan_is_a_regression():
    ref = build_reference("lfw25", SCALES["lfw25"], {s: _results(seed=s) for s in (0, 1, 2)})
    now = _results(seed=0)
    now["vae-mse"]["test_mse"] = float("nan")
    rows, _ = compare(ref, now)
    assert [(r["config"], r["metric"]) for r in rows if not r["ok"]] == [("vae-mse", "test_mse")]


def test_fallback_to_lfw25_says_why(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_DATA", raising=False)
    dataset, root, why = choose_dataset(tmp_path / "nothing", shared=tmp_path / "no-shared")
    assert dataset == "lfw25" and root is None and "falling back" in why


def _entry(key: str, values: dict, isa: str = "AVX2") -> dict:
    return {"key": key, "platform": {"cpu": "CPU " + key, "isa": isa, "threads": "2"},
            "values": {m: {k: v[k] for k in ("train_mse", "test_mse", "train_lap1")}
                       for m, v in values.items() if not m.startswith("_")},
            "rerun_rel_diff": 0.0, "tolerance_rel": 1e-6}


def test_rules_same_platform_then_cross_platform_then_seed_spread(monkeypatch):
    from bench.studies import regress

    ref = build_reference("celeba32", SCALES["celeba32"], {s: _results(seed=s) for s in (0, 1, 2)})
    monkeypatch.setattr(regress, "platform_key", lambda info=None: "here")
    assert regress.choose_rule(ref)[0] == "seed-spread"
    a = _results(seed=0)
    b = _results(seed=0)
    for m in TABLE1_METHODS:  # a second platform: every metric 0.2% off
        for k in ("train_mse", "test_mse", "train_lap1"):
            b[m][k] *= 1.002
    ref["platforms"] = {"p1": _entry("p1", a), "p2": _entry("p2", b, "AVX512")}
    rule, text = regress.choose_rule(ref)
    assert rule == "cross-platform" and "NO REFERENCE ENTRY FOR THIS PLATFORM" in text
    bands = regress.cross_platform_bands(ref)["bands"]
    band = bands[("glo-lap1-pca", "train_mse")]
    assert math.isclose(band["drift_rel"], 0.002 / 1.001, rel_tol=1e-6)
    assert math.isclose(band["tolerance_rel"], max(3 * band["drift_rel"], 0.005))
    # seed 0 from a third platform, 0.1% off: passes; a 2% shift of one metric: moves
    c = _results(seed=0)
    rows, failed = compare(ref, c, rule="cross-platform")
    assert all(r["ok"] for r in rows) and not failed
    c["glo-lap1-pca"]["train_mse"] *= 1.02  # inside the seed spread, outside this band
    rows, _ = compare(ref, c, rule="cross-platform")
    assert [(r["config"], r["metric"]) for r in rows if not r["ok"]] == [
        ("glo-lap1-pca", "train_mse")]
    rows, _ = compare(ref, c, rule="seed-spread")
    assert all(r["ok"] for r in rows)
    ref["platforms"]["here"] = _entry("here", a)
    assert regress.choose_rule(ref)[0] == "same-platform"
    rows, _ = compare(ref, c)
    assert [(r["config"], r["metric"]) for r in rows if not r["ok"]] == [
        ("glo-lap1-pca", "train_mse")]
