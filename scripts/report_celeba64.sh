#!/usr/bin/env bash
# reports/celeba64 at the paper's training budget, from one command and one code version:
#   scripts/report_celeba64.sh STORE [DATA_ROOT]
# Every neural row trains STEPS optimiser steps (default 31,800, the paper's: 25 epochs of
# 162,770 images at batch 128; GAN: generator steps) at the cpu profile's widths (ngf 32,
# batch 64) on the 10,000 shared CelebA training images at 64 px, held-out LFW at 64 px.
# Order: the rows that decide the paper's claims first -- seed 0 of PCA and the four GLO
# rows, then the GAN pair and the VAE pair, then seeds 1 and 2 of PCA and both GLO-PCA rows;
# last the `--lap1 paper` GLO-Lap1-PCA and GAN-Lap1 (seed 0) in STORE-lap1paper (the GAN-MSE
# run is copied there so its GAN is reused, not retrained). Then the report.
# Runs already complete in STORE are skipped and an interrupted one resumes from its last
# checkpoint, so rerun the same command after a kill or a reboot. Keep STORE outside the
# checkout (e.g. ~/glo-bench-runs/celeba64-budget).
# STEPS=0 PLATEAU=0.01 gives the plateau-budget report (reports/celeba64-plateau).
# PRECISION (default bf16 autocast, as in the earlier report) is the same for every run.
# Refuses to run from a tree whose model/harness sources differ from a commit.
set -euo pipefail
STORE=${1:?usage: scripts/report_celeba64.sh STORE [DATA_ROOT]}
DATA=${2:-${BENCH_DATA:-../shared/data}}
STEPS=${STEPS:-31800}
PRECISION=${PRECISION:-bf16}
cd "$(dirname "$0")/.."
if [ -n "$(git status --porcelain -- bench baselines glo 2>/dev/null)" ]; then
  echo "scripts/report_celeba64.sh: uncommitted changes under bench/ baselines/ glo/; commit them first" >&2
  exit 2
fi
bench() { python -m bench "$@"; }  # the bench package of this tree (a pinned worktree too)
COMMON=(--dataset celeba64 --data-root "$DATA" --heldout lfw64 --out "$STORE"
        --precision "$PRECISION" --ckpt-interval 120 --quiet)
[ "$STEPS" != 0 ] && COMMON+=(--steps "$STEPS")
[ -n "${PLATEAU:-}" ] && COMMON+=(--plateau "$PLATEAU")
GLO=(--model glo-mse-pca --model glo-lap1-pca --model glo-lap1-random --model glo-mse-random)
bench run --seed 0 "${COMMON[@]}" --model pca "${GLO[@]}"
bench run --seed 0 "${COMMON[@]}" --model gan-mse --model gan-lap1
bench run --seed 0 "${COMMON[@]}" --model vae-mse --model vae-lap1
for seed in 1 2; do
  bench run --seed "$seed" "${COMMON[@]}" --model pca --model glo-mse-pca --model glo-lap1-pca
done
# the paper's Lap1 (docs/lap1.md) at the budget: GLO trained with it, and the GAN's ratio
EXTRA="$STORE-lap1paper"
mkdir -p "$EXTRA/celeba64"
for run in "$STORE"/celeba64/gan-mse-*; do
  [ -f "$run/metrics.json" ] && [ ! -e "$EXTRA/celeba64/$(basename "$run")" ] && cp -r "$run" "$EXTRA/celeba64/"
done
bench run --seed 0 "${COMMON[@]/$STORE/$EXTRA}" --lap1 paper --model gan-lap1 --model glo-lap1-pca
bench report --dataset celeba64 --runs "$STORE" --out reports --data-root "$DATA"
