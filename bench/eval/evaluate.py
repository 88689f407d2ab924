"""Evaluation: per-image MSE and Lap1 ([-1, 1] pixels) on train / test / held-out images,
95% bootstrap intervals, the singular values of the code matrix Z, and image grids."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from torchvision.utils import make_grid
from tqdm.auto import tqdm

from bench.core.context import progress_disabled
from bench.core.losses import Lap1, LapSettings, mse_per_image
from bench.core.model import Model, to_float, to_uint8
from bench.core.spectrum import spectrum
from bench.eval.fidelity import FidelityJob, compare, describe
from bench.eval.journal import EvalJournal
from bench.runtime.distributed import SINGLE, Dist

if TYPE_CHECKING:
    from bench.config.settings import RunConfig
    from bench.core.context import RunContext


EVAL_SEED = 20170721  # the same images are measured for every model of a dataset


MEASURE_BATCH = 500  # images reconstructed per call (and per journal entry)


def eval_indices(n: int, limit: int | None) -> np.ndarray:
    """Which images of a split are measured: all (limit 0, or None in older configs), or a
    seeded subset of ``limit`` images, the same for every model of a dataset."""
    if not limit or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(EVAL_SEED).choice(n, size=limit, replace=False))


def bootstrap_ci(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_boot, values.size))].mean(1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


@dataclass
class SplitResult:
    indices: np.ndarray
    mse: np.ndarray
    lap1: np.ndarray
    codes: Tensor
    originals: Tensor
    recons: Tensor
    kept_u8: tuple[Tensor, Tensor] | None = None  # (originals, reconstructions) for FID

    def summary(self) -> dict:
        out = {"n": int(self.indices.size)}
        for name in ("mse", "lap1"):
            v = getattr(self, name)
            finite = bool(np.isfinite(v).all())
            out[name] = float(v.mean()) if v.size else None
            out[f"{name}_ci95"] = bootstrap_ci(v) if finite else None
            out[f"{name}_finite"] = finite
        return out


def measure(model: Model, images_u8, indices: np.ndarray, lap: LapSettings, train: bool,
            batch: int = 500, dist: Dist = SINGLE, progress=None, keep: int = 0,
            journal: EvalJournal | None = None, split: str = "") -> SplitResult:
    """Reconstruct the chosen images (train: by training index) and score each one; the first
    ``keep`` originals and reconstructions of this rank's block are kept as uint8 (for FID).

    Under torch.distributed each rank measures one contiguous block of ``indices`` and the
    per-image results are gathered back in order; the example images come from rank 0's
    block, which starts with the same images as a single-process run.

    With a ``journal``, each batch's results are written there as ``split``'s once measured,
    and a batch found there (measured by an interrupted process) is not measured again."""
    lap1 = Lap1(lap)
    lo, hi = dist.block(indices.size)
    mine = indices[lo:hi]
    mses, laps, codes, recons, originals = [], [], [], [], []
    kept_x: list[Tensor] = []
    kept_r: list[Tensor] = []
    for start in range(0, mine.size, batch):
        part = mine[start:start + batch]
        rec = journal.load(split, lo + start, part) if journal is not None else None
        if rec is None:
            t = time.monotonic()
            rec = _measure_batch(model, images_u8, part, lap1, train, start == 0,
                                 max(0, keep - start))
            if journal is not None:
                journal.save(split, lo + start, part, rec, time.monotonic() - t)
        mses.append(rec["mse"])
        laps.append(rec["lap1"])
        codes.append(rec["codes"])
        if "originals" in rec:
            originals.append(rec["originals"])
            recons.append(rec["recons"])
        if "kept_x" in rec:
            kept_x.append(rec["kept_x"])
            kept_r.append(rec["kept_r"])
        if progress is not None:
            progress.update(int(part.size))
    # a rank with no images (fewer images than ranks) still joins the gathers, with 0 rows
    width = codes[0].shape[1] if codes else getattr(model.settings, "d", 0)
    mse = dist.all_gather_rows(torch.cat(mses) if mses else torch.zeros(0))
    lap_v = dist.all_gather_rows(torch.cat(laps) if laps else torch.zeros(0))
    z = dist.all_gather_rows(torch.cat(codes) if codes else torch.zeros(0, width))
    return SplitResult(indices, mse.numpy(), lap_v.numpy(), z,
                       torch.cat(originals) if originals else torch.zeros(0),
                       torch.cat(recons) if recons else torch.zeros(0),
                       (torch.cat(kept_x), torch.cat(kept_r)) if kept_x else None)


def _measure_batch(model: Model, images_u8, part: np.ndarray, lap1: Lap1, train: bool,
                   examples: bool, keep: int) -> dict[str, Tensor]:
    """One batch's per-image MSE, Lap1 and codes; with ``examples`` its first 32 originals
    and reconstructions, and its first ``keep`` of both as uint8."""
    idx = torch.from_numpy(part)
    x_u8 = torch.as_tensor(np.asarray(images_u8[part]))
    x = to_float(x_u8)
    if train:
        x_hat, z = model.reconstruct_train(idx)
    else:
        x_hat, z = model.reconstruct(x.to(model.device))
    x_hat = x_hat.float().cpu()
    rec = {"mse": mse_per_image(x_hat, x), "lap1": lap1(x_hat, x),
           "codes": z.detach().float().cpu()}
    if examples:
        rec["originals"], rec["recons"] = x[:32], x_hat[:32]
    if keep > 0:
        rec["kept_x"], rec["kept_r"] = x_u8[:keep], to_uint8(x_hat[:keep])
    return rec


def image_grid(rows: list[Tensor], nrow: int | None = None):
    """A uint8 H x W x C numpy grid; each tensor in ``rows`` is one block of images."""

    imgs = torch.cat([r.float().cpu().clamp(-1, 1) for r in rows])
    ncol = nrow or rows[0].shape[0]
    grid = make_grid((imgs + 1) / 2, nrow=ncol, padding=1, pad_value=1.0)
    arr = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return arr[:, :, 0] if imgs.shape[1] == 1 else arr


def interleave(a: Tensor, b: Tensor, per_row: int = 8) -> list[Tensor]:
    """Rows alternating originals and reconstructions, per_row images each."""
    rows = []
    for start in range(0, min(a.shape[0], b.shape[0]), per_row):
        rows += [a[start:start + per_row], b[start:start + per_row]]
    return rows


@dataclass
class Evaluation:
    """Everything evaluate_run measured: metrics.json's content, per_image.npz's arrays, each
    split's result (codes, example reconstructions) and the sample images."""

    metrics: dict
    per_image: dict[str, np.ndarray] = field(default_factory=dict)
    splits: dict[str, SplitResult] = field(default_factory=dict)
    samples: Tensor | None = None
    resumed_s: float = 0.0  # seconds an interrupted earlier process spent on reused batches


def evaluate_run(model: Model, config: RunConfig, train_images, test_images,
                 held_images, ctx: RunContext, fidelity: FidelityJob | None = None) -> Evaluation:
    """Score the trained model on its training, test and held-out images (the config's
    counts), fit Figure 1's spectrum to the training codes, and draw the sample grid; with
    ``fidelity`` (the Inception weights were found) also FID/KID/precision-recall of samples
    against test images and of training reconstructions against their originals."""
    ev = config.eval
    fid_n = ev.fid_n or int(test_images.shape[0])
    parts = {"train": (train_images, ev.train_n, True), "test": (test_images, ev.test_n, False)}
    if held_images is not None:
        parts["heldout"] = (held_images, ev.heldout_n, False)
    size = int(train_images.shape[-1])
    out = Evaluation({"units": "[-1, 1] pixel range",
                      "lap": {**ev.lap.to_dict(), "levels_resolved": ev.lap.resolved_levels(size)}})
    chosen = {name: eval_indices(imgs.shape[0], limit) for name, (imgs, limit, _) in parts.items()}
    total = sum(idx.size for idx in chosen.values())
    journal = EvalJournal.open(ctx.path, config, ctx.dist, MEASURE_BATCH)
    with tqdm(total=total, unit="img", desc="evaluate", leave=False,
              disable=progress_disabled(ctx.quiet)) as bar:
        for name, (imgs, _limit, is_train) in parts.items():
            t = time.time() + _reused_s(journal)  # a resumed split also counts its reused batches
            idx = chosen[name]
            keep = fid_n if fidelity is not None and name == "train" else 0
            res = measure(model, imgs, idx, ev.lap, train=is_train, batch=MEASURE_BATCH,
                          dist=ctx.dist, progress=bar, keep=keep, journal=journal, split=name)
            out.splits[name] = res
            seconds = time.time() - t + _reused_s(journal)
            out.metrics[name] = {**res.summary(), "seconds": round(seconds, 2)}
            out.per_image.update({f"{name}_index": idx, f"{name}_mse": res.mse,
                                  f"{name}_lap1": res.lap1})
            ctx.log(f"{name}: MSE {out.metrics[name]['mse']:.5f}, Lap1 "
                    f"{out.metrics[name]['lap1']:.5f} on {idx.size} images "
                    f"({out.metrics[name]['seconds']}s)")
    if journal is not None and journal.reused_images:
        ctx.log(f"evaluation resumed: {journal.reused_images} images measured by an earlier "
                f"process reused ({journal.reused_s:.1f}s of its time)")
    if held_images is not None:
        out.metrics["heldout"]["dataset"] = ev.heldout
    out.metrics["spectrum"] = spectrum(out.splits["train"].codes)
    if ctx.dist.is_main:
        t = time.time() + _reused_s(journal)
        # as many training images re-inverted as test images inverted (at most codes_check_n):
        # the re-inverted MSE is read beside the test MSE, at the same precision and cost
        check_n = min(ev.codes_check_n, int(chosen["test"].size))

        def check() -> dict:
            return model.diagnostics(train_images, chosen["train"], check_n, ev.codes_check_loss)

        diag = check() if journal is None else journal.value("codes", check)
        if diag:
            seconds = time.time() - t + _reused_s(journal)
            out.metrics["codes"] = {**diag, "seconds": round(seconds, 2)}
            _log_codes(diag, ctx.log)
        out.samples = model.sample(ev.n_samples, torch.Generator().manual_seed(config.seed))
        if fidelity is not None:
            out.metrics["fidelity"] = sample_quality(model, config, out.splits["train"],
                                                     test_images, fid_n, fidelity, ctx.log)
    if journal is not None:
        out.resumed_s = journal.reused_s
    return out


def _reused_s(journal: EvalJournal | None) -> float:
    return journal.reused_s if journal is not None else 0.0


def _log_codes(diag: dict, log) -> None:
    if diag.get("stored_mse") is None:
        return
    cos = diag.get("cosine_to_init_mean")
    log(f"codes: cosine to init {'unknown' if cos is None else format(cos, '.4f')}, stored-code "
        f"MSE {diag['stored_mse']:.5f} vs re-inverted {diag['reinverted_mse']:.5f} "
        f"({'converged' if diag['converged'] else 'NOT converged'})")


def sample_quality(model: Model, config: RunConfig, train: SplitResult, test_images, n: int,
                   job: FidelityJob, log=print) -> dict:
    """FID/KID/precision-recall (torch-fidelity) of n samples against n test images (the same
    seeded subset for every model of a dataset), and of the scored training images'
    reconstructions against their originals. For GLO the samples come from the Gaussian
    fitted to its codes, as in the paper."""
    t = time.time()
    n = min(n, int(test_images.shape[0]))
    ref = torch.as_tensor(np.asarray(test_images[eval_indices(int(test_images.shape[0]), n)]))
    gen = torch.Generator().manual_seed(config.seed + 1)
    samples = torch.cat([to_uint8(model.sample(min(256, n - s), gen)) for s in range(0, n, 256)])
    common = dict(extractor=job.extractor, device=str(model.device), settings=job.settings,
                  cache_root=job.cache_root)
    out = {"settings": describe(job.extractor, job.settings), "units": "FID/KID on Inception "
           "pool features (2048-d); precision/recall: fraction in the other set's 3-NN manifold",
           "samples_vs_test": compare(samples, ref, **common)}
    if train.kept_u8 is not None:
        originals, recons = train.kept_u8
        out["train_recons_vs_originals"] = compare(recons, originals, **common)
    out["seconds"] = round(time.time() - t, 2)
    s = out["samples_vs_test"]
    log(f"sample quality: FID {s['fid']:.2f}, KID {s['kid_mean']:.4f} +- {s['kid_std']:.4f} "
        f"({n} samples vs {n} test images, {out['seconds']}s)")
    return out
