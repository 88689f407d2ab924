"""Why a claim fails, measured on the same runs: GLO codes not converged, losses still falling,
unequal budgets, the projected crossing, Figure 1's caveat."""

from __future__ import annotations

import numpy as np

from bench.core.losses import lap1_variant_name
from bench.core.spectrum import flatness
from bench.report.claims import Claim, relative_margin, run_value
from bench.report.gather import MethodRuns, _mean_metric
from bench.report.paper import label


def _glo_methods(claim) -> list[str]:
    return [m for m in (claim.better, *claim.worse) if m.startswith("glo")]


TAIL_FALLING = 0.01  # a loss still falling: >= 1% over the last quarter of the steps


def _curve_mean(curves: dict[str, dict], method: str, key: str, plateaued_too: bool = True
                ) -> float | None:
    """The mean of one convergence value over a method's curves (None where none has it)."""
    vals = [c[key] for c in curves.values() if c["method"] == method and c.get(key) is not None
            and (plateaued_too or not c["plateaued"])]
    return float(np.mean(vals)) if vals else None


def _glo_pair_evidence(claim, results: dict[str, MethodRuns]) -> list[str]:
    """For a failed claim between two GLO rows: whether the generator is behind too (the
    checked images re-inverted with each frozen generator), and how each row scores on Lap1,
    the loss a Lap1 row trains on."""
    if not (claim.better.startswith("glo") and len(claim.worse) == 1
            and claim.worse[0].startswith("glo")):
        return []
    a, b = claim.better, claim.worse[0]
    out = []
    ra, rb = (_mean_metric(results, m, "codes_reinverted_mse") for m in (a, b))
    if ra is not None and rb is not None:
        side = ("so the generator is behind, not only the stored codes" if ra >= rb else
                "so its generator is ahead: the stored codes are what lag")
        out.append(f"re-inverted with each frozen generator (its own loss): {label(a)} {ra:.4f}, "
                   f"{label(b)} {rb:.4f}, {side}")
    la, lb = (_mean_metric(results, m, "train_lap1") for m in (a, b))
    if la is not None and lb is not None:
        out.append(f"train Lap1: {label(a)} {la:.4f}, {label(b)} {lb:.4f}"
                   + (" (behind on Lap1 too)" if la > lb else ""))
    return out


def _flatness_caveat(claim, results: dict[str, MethodRuns]) -> str:
    """For a Figure-1 claim: whether GLO's initial codes alone already satisfy it (then the
    spectrum shows the initialisation more than what training did)."""
    runs = results[claim.better].runs if claim.better in results else []
    init = [flatness(r["metrics"]["codes"]["spectrum_init"]) for r in runs
            if "spectrum_init" in r["metrics"].get("codes", {})]
    final = [v for r in runs if (v := run_value(r["metrics"], "flatness")) is not None]
    worse = [v for m in claim.worse if m in results for r in results[m].runs
             if (v := run_value(r["metrics"], "flatness")) is not None]
    if not init or not final or not worse:
        return ""
    i, f, w = float(np.mean(init)), float(np.mean(final)), float(np.min(worse))
    if i < w:
        return (f"caveat: GLO's initial codes already satisfy it (flatness {i:.4f} before "
                f"training, {f:.4f} after; {label(claim.worse[0])} {w:.4f}): the "
                f"spectrum shows the initialisation more than what training did")
    return f"GLO's codes: flatness {i:.4f} before training, {f:.4f} after"


def _unequal_budgets(claim: Claim, results: dict[str, MethodRuns]) -> str:
    """'' when the trained rows a claim compares had one training budget; else each row's
    (a per-row budget, e.g. a GAN that fits one session, makes the comparison unequal)."""
    budgets = {}
    for m in (claim.better, *claim.worse):
        if m == "pca" or m not in results or not results[m].runs:
            continue
        model = results[m].runs[0]["config"]["config"].get("model", {})
        budgets[m] = (f"{model['steps']:,} steps" if model.get("steps")
                      else f"{model.get('epochs', '?')} epochs")
    if len(set(budgets.values())) < 2:
        return ""
    return "unequal training budgets: " + ", ".join(f"{label(m)} {b}"
                                                     for m, b in budgets.items())


def _test_images(claim: Claim, held: bool, results: dict[str, MethodRuns]) -> str:
    """For a claim judged on train MSE: the pairs whose order on the test images disagrees
    with the verdict (a lead on the training images alone is what a wider net that fits a
    small training set gives); '' where the test images agree or were not scored."""
    if claim.metric != "train_mse" or claim.band is not None:
        return ""
    better = _mean_metric(results, claim.better, "test_mse")
    if better is None:
        return ""
    against = []
    for worse in claim.worse:
        other = _mean_metric(results, worse, "test_mse")
        if other is None:
            continue
        margin = relative_margin(better, other)
        if (margin > 0) != held:
            against.append(f"{label(claim.better)} {better:.5f}, {label(worse)} {other:.5f} "
                           f"({margin:+.1%})")
    if not against:
        return ""
    verdict = ("reverses: the lead is on the training images only" if held
               else "holds: the loss is on the training images only")
    return f"on the test images (test MSE, mean over seeds) the order {verdict}: " + \
        "; ".join(against)


def claim_evidence(judged: tuple[Claim, ...], claims: list[dict], results: dict[str, MethodRuns],
                   curves: dict[str, dict], target: float | None) -> None:
    """Give each failed claim the measured evidence of why, from the runs it compares: GLO
    codes that are not converged, training losses still falling at the end (in the last
    epoch, or by >= 1% over the last quarter of the steps), for two GLO rows whether the
    generator is behind too (re-inverted codes) and each row's Lap1, and (GLO against PCA)
    where the GLO-MSE-PCA curve would reach PCA's train MSE. Any judged claim on train MSE,
    held or failed, also names the pairs whose order on the test images disagrees."""
    for claim, entry in zip(judged, claims, strict=True):
        entry["why"] = ""
        if claim.metric == "flatness" and entry["holds"] is not None:
            entry["why"] = _flatness_caveat(claim, results)
        budgets = _unequal_budgets(claim, results)
        test = "" if entry["holds"] is None else _test_images(claim, entry["holds"], results)
        if entry["holds"] is not False:
            entry["why"] = "; ".join(w for w in (entry["why"], budgets, test) if w)
            continue
        why = [w for w in (budgets, test) if w]
        methods = [m for m in (claim.better, *claim.worse) if m in results]
        unconverged = []
        for m in _glo_methods(claim):
            codes = [r["metrics"].get("codes", {}) for r in results[m].runs] if m in results else []
            codes = [c for c in codes if "stored_mse" in c and "reinverted_mse" in c]
            if codes and not all(c.get("converged") for c in codes):
                unconverged.append(f"{label(m)} (stored {np.mean([c['stored_mse'] for c in codes]):.4f}"
                                   f" vs re-inverted {np.mean([c['reinverted_mse'] for c in codes]):.4f})")
        if unconverged:
            why.append("GLO codes not converged: " + ", ".join(unconverged))
        last = {m: _curve_mean(curves, m, "last_improvement", plateaued_too=False) for m in methods}
        falling = [f"{label(m)} {-v:+.1%}" for m, v in last.items() if v is not None]
        if falling:
            why.append("training loss still falling in the last epoch: " + ", ".join(falling))
        # a step budget's view: per-epoch changes are small over 200 epochs
        tail = {m: _curve_mean(curves, m, "tail_improvement") for m in methods}
        tails = [f"{label(m)} {-v:+.1%}" for m, v in tail.items()
                 if v is not None and v >= TAIL_FALLING]
        if tails:
            why.append("training loss over the last quarter of the steps: " + ", ".join(tails)
                       + {1: "", 2: " (neither levelled off)"}.get(len(tails), " (none levelled off)"))
        why += _glo_pair_evidence(claim, results)
        if "pca" in claim.worse and claim.better.startswith("glo") and target is not None:
            proxy = [c for c in curves.values() if c["method"] == "glo-mse-pca" and c.get("fit")]
            if proxy:
                reach = [c.get("projected_step") for c in proxy]
                trained = float(np.mean([c["step"][-1] for c in proxy]))
                if all(r is not None for r in reach):
                    why.append(f"GLO-MSE-PCA's training MSE (the same model trained on MSE, whose "
                               f"loss is comparable with PCA's) falls as step^"
                               f"{np.mean([c['fit']['k'] for c in proxy]):.2f}; extrapolated, it "
                               f"reaches PCA's {target:.4f} at about {np.mean(reach):,.0f} steps, "
                               f"{np.mean(reach) / trained:.1f}x the {trained:,.0f} trained (an "
                               f"extrapolation that comes out early on short curves: "
                               f"docs/convergence.md)")
                else:
                    why.append("GLO-MSE-PCA's training MSE has stopped falling above PCA's "
                               f"{target:.4f}: the extrapolation never reaches it")
        if claim.band is not None and "gan-lap1" in claim.worse:
            runs = results["gan-lap1"].runs if "gan-lap1" in results else []
            used = sorted({lap1_variant_name(r["config"]["config"]["model"].get("loss", {}))
                           for r in runs})
            inverted = ""
            if used:
                hint = "" if "paper" in used else "; `--lap1 paper` is the paper's weighting"
                inverted = f" (these GAN-Lap1 runs invert with the `{'`, `'.join(used)}` Lap1{hint})"
            why.append(f"the ratio moves with how Lap1 weights the pyramid levels{inverted}; "
                       "docs/lap1.md measures it for each weighting")
        entry["why"] = "; ".join(why)
