#!/usr/bin/env bash
# A CelebA report at the paper's training budget, from one command and one code version:
#   scripts/report_budget.sh DATASET STORE [DATA_ROOT]      (DATASET: celeba64 or celeba128)
# Every neural row trains STEPS optimiser steps (default 31,800, the paper's: 25 epochs of
# 162,770 images at batch 128; GAN: generator steps) at the cpu profile's widths for DATASET
# (64 px: ngf 32, batch 64; 128 px: GLO and the VAE 16 wide, the GAN 32) on the 10,000 shared
# CelebA training images, held-out LFW at the same size (lfw64 / lfw128).
# Order: the rows that decide the paper's claims first -- seed 0 of PCA and the four GLO
# rows, then the GAN pair (GAN-Lap1 reuses GAN-MSE's training) and the VAE pair, then seeds
# 1 and 2 of PCA and both GLO-PCA rows. With LAP1_PAPER=1 (celeba64's default) last the
# `--lap1 paper` GLO-Lap1-PCA and GAN-Lap1 (seed 0) in STORE-lap1paper (the PCA, GAN-MSE and
# GLO-MSE runs are copied there: the GAN is reused, not retrained, and Lap1 is judged against
# the same MSE rows) and their page reports/DATASET-lap1paper.
# Then the report, into this script's tree's reports/.
# Runs already complete in STORE are skipped and an interrupted one resumes from its last
# checkpoint, so rerun the same command after a kill or a reboot. Keep STORE outside the
# checkout (e.g. ~/glo-bench-runs/celeba128-budget) and run from a pinned worktree
# (git worktree add ~/glo-bench-runs/code-COMMIT COMMIT), so that every row is one code version.
# STEPS=0 PLATEAU=0.01 gives the plateau-budget report (reports/celeba64-plateau).
# PRECISION (default bf16 autocast) is the same for every run, unless GAN_PRECISION or
# VAE_PRECISION give those rows their own (a CPU with AVX512-BF16 and no AMX can train one
# family faster in fp32 and another in bf16: `bench perf peak-128`); the report states each
# row's precision.
# The GAN's reconstructions invert z with GAN_INVERT_STEPS Adam steps per restart (default 500,
# the paper profile's; the cpu profile's 150 leave the GAN's MSE ~10% above a converged
# inversion: 0.0474 / 0.0429 / 0.0427 at 150 / 500 / 1500 steps, docs/gan128.md).
# PROFILE=paper trains at the paper profile's widths and batch (64 wide, batch 128) instead of
# the cpu profile's, scoring a seeded subset (1,000 train / 500 test / 300 held-out, 500 for
# FID) as the cpu profile does: its own store and page (e.g. reports/celeba64-paper).
# MSE_SET / LAP1_SET (e.g. MSE_SET="lr_z=30 weight_init=default"; --set pairs) train
# GLO-MSE-PCA and GLO-Lap1-PCA each at its own settings (each loss at its best point of the
# screening sweep, docs/sweeps/lr-glo.toml), beside PCA: the steps are then glo (seed 0) and
# seeds (1 and 2), into their own store and page (reports/DATASET-tuned).
# PAGE names the report's folder under reports/ (default DATASET, DATASET-paper with
# PROFILE=paper, DATASET-tuned with MSE_SET / LAP1_SET): a second store never overwrites the
# main page.
# Refuses to run from a tree whose model/harness sources differ from a commit.
# GAN_STEPS and VAE_STEPS give those rows their own budget (default STEPS); the report states
# each row's steps.
# CODE=DIR trains with the tree at DIR (a pinned worktree) while this script's own tree
# bundles and reports: so a pin made before a harness change still trains every row.
# BUNDLE=DIR (e.g. docs/celeba128/runs) carries finished runs across machines: before
# training, its runs are copied into STORE (so a fresh machine skips them as complete); after
# each step, STORE's complete runs are bundled into it (`bench runs --bundle`: what a report
# reads, with its figures, less checkpoints and weights) to commit. A bundled GAN-MSE has no
# checkpoint, so its GAN-Lap1 must finish in the same store (they run as one step).
# ROWS="vae seeds" runs only those steps of the order above (any of: glo gan vae seeds
# lap1paper; default all), so a session runs what fits its machine (the VAE pair on a CPU
# where the GAN's training would outlast the session); the report is then left to the run
# of all steps (or `bench report` by hand).
# MERGE=FILE (e.g. docs/celeba128/budget.json) also merges STORE's complete runs into that
# JSON after each step (`bench runs --json`: numbers, config, code version, data fingerprint;
# runs already there and gone from STORE are kept), so a finished row needs no hand step.
set -euo pipefail
USAGE="usage: scripts/report_budget.sh celeba64|celeba128 STORE [DATA_ROOT]"
DATASET=${1:?$USAGE}
STORE=$(realpath -m "${2:?$USAGE}")
DATA=$(realpath -m "${3:-${BENCH_DATA:-../shared/data}}")
HERE=$(cd "$(dirname "$0")/.." && pwd)
CODE=$(cd "${CODE:-$HERE}" && pwd)
BUNDLE=${BUNDLE:+$(realpath -m "$BUNDLE")}
MERGE=${MERGE:+$(realpath -m "$MERGE")}
TUNED=0
[ -n "${MSE_SET:-}${LAP1_SET:-}" ] && TUNED=1
case "$DATASET" in
  celeba64) HELDOUT=lfw64; LAP1_PAPER=${LAP1_PAPER:-1} ;;
  celeba128) HELDOUT=lfw128; LAP1_PAPER=${LAP1_PAPER:-0} ;;
  *) echo "scripts/report_budget.sh: DATASET must be celeba64 or celeba128, not '$DATASET' ($USAGE)" >&2; exit 2 ;;
esac
STEPS=${STEPS:-31800}
GAN_STEPS=${GAN_STEPS:-$STEPS}
VAE_STEPS=${VAE_STEPS:-$STEPS}
PRECISION=${PRECISION:-bf16}
GAN_PRECISION=${GAN_PRECISION:-$PRECISION}
VAE_PRECISION=${VAE_PRECISION:-$PRECISION}
ALL_ROWS="glo gan vae seeds lap1paper"
[ "${PROFILE:-cpu}" = paper ] && LAP1_PAPER=0  # its page would be the cpu profile's -lap1paper
if [ "$TUNED" = 1 ]; then ALL_ROWS="glo seeds"; LAP1_PAPER=0; fi
case "${PROFILE:-cpu}/$TUNED" in
  paper/1) DEFAULT_PAGE="$DATASET-paper-tuned" ;;
  paper/0) DEFAULT_PAGE="$DATASET-paper" ;;
  */1) DEFAULT_PAGE="$DATASET-tuned" ;;
  *) DEFAULT_PAGE="$DATASET" ;;
esac
PAGE=${PAGE:-$DEFAULT_PAGE}
ROWS=${ROWS:-$ALL_ROWS}
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }  # has LIST WORD
for row in $ROWS; do
  has "$ALL_ROWS" "$row" || { echo "scripts/report_budget.sh: ROWS: '$row' is not a step; choose from: $ALL_ROWS" >&2; exit 2; }
done
want() { has "$ROWS" "$1"; }
cd "$CODE"
if [ -n "$(git status --porcelain -- bench baselines glo 2>/dev/null)" ]; then
  echo "scripts/report_budget.sh: uncommitted changes under bench/ baselines/ glo/ of $CODE; commit them first" >&2
  exit 2
fi
bench() { python -m bench "$@"; }  # the bench package of CODE (a pinned worktree too)
bundle() {  # STORE's complete runs into BUNDLE and MERGE, by this script's tree (it has `runs --bundle`)
  local to=()
  [ -z "${BUNDLE:-}" ] || to+=(--bundle "$BUNDLE" --data-root "$DATA")
  [ -z "${MERGE:-}" ] || to+=(--json "$MERGE")
  [ ${#to[@]} = 0 ] || (cd "$HERE" && python -m bench runs --runs "$STORE" "${to[@]}" | grep -E "run\(s\) bundled,|merged,")
}
if [ -n "${BUNDLE:-}" ] && [ -d "$BUNDLE/$DATASET" ]; then
  mkdir -p "$STORE/$DATASET"
  for run in "$BUNDLE/$DATASET"/*/; do
    [ -e "$STORE/$DATASET/$(basename "$run")" ] || cp -r "$run" "$STORE/$DATASET/"
  done
fi
COMMON=(--dataset "$DATASET" --data-root "$DATA" --heldout "$HELDOUT" --out "$STORE"
        --ckpt-interval 120 --quiet)
steps() { [ "$1" != 0 ] && echo --steps "$1"; true; }  # 0: the epochs of the profile / plateau
[ -n "${PLATEAU:-}" ] && COMMON+=(--plateau "$PLATEAU")
case "${PROFILE:-cpu}" in
  cpu) ;;
  paper) COMMON+=(--profile paper --eval-train-n 1000 --eval-test-n 500 --fid-n 500
                  --set eval.heldout_n=300) ;;
  *) echo "scripts/report_budget.sh: PROFILE must be cpu or paper, not '$PROFILE'" >&2; exit 2 ;;
esac
GLO=(--model glo-mse-pca --model glo-lap1-pca --model glo-lap1-random --model glo-mse-random)
sets() { for kv in $1; do printf -- '--set %s ' "$kv"; done; }  # sets "a=1 b=2": --set a=1 --set b=2
glo_pca() {  # glo_pca SEED: PCA and the two GLO-PCA rows, each loss with its own settings when tuned
  if [ "$TUNED" = 0 ]; then
    # shellcheck disable=SC2046
    bench run --seed "$1" "${COMMON[@]}" --precision "$PRECISION" $(steps "$STEPS") --model pca --model glo-mse-pca --model glo-lap1-pca
    return
  fi
  # shellcheck disable=SC2046
  bench run --seed "$1" "${COMMON[@]}" --precision "$PRECISION" --model pca
  # shellcheck disable=SC2046
  bench run --seed "$1" "${COMMON[@]}" --precision "$PRECISION" $(steps "$STEPS") $(sets "${MSE_SET:-}") --model glo-mse-pca
  # shellcheck disable=SC2046
  bench run --seed "$1" "${COMMON[@]}" --precision "$PRECISION" $(steps "$STEPS") $(sets "${LAP1_SET:-}") --model glo-lap1-pca
}
if want glo; then
  if [ "$TUNED" = 1 ]; then
    glo_pca 0
  else
    # shellcheck disable=SC2046  # steps prints two words or none
    bench run --seed 0 "${COMMON[@]}" --precision "$PRECISION" $(steps "$STEPS") --model pca "${GLO[@]}"
  fi
  bundle
fi
GAN_INVERT=(--invert-steps "${GAN_INVERT_STEPS:-500}")
if want gan; then
  # shellcheck disable=SC2046
  bench run --seed 0 "${COMMON[@]}" --precision "$GAN_PRECISION" $(steps "$GAN_STEPS") "${GAN_INVERT[@]}" --model gan-mse --model gan-lap1; bundle
fi
if want vae; then
  # shellcheck disable=SC2046
  bench run --seed 0 "${COMMON[@]}" --precision "$VAE_PRECISION" $(steps "$VAE_STEPS") --model vae-mse --model vae-lap1; bundle
fi
if want seeds; then
  for seed in 1 2; do
    glo_pca "$seed"; bundle
  done
fi
if [ "$LAP1_PAPER" = 1 ] && want lap1paper; then
  # the paper's Lap1 (docs/lap1.md) at the budget: GLO trained with it, and the GAN's ratio
  EXTRA="$STORE-lap1paper"
  mkdir -p "$EXTRA/$DATASET"
  # the rows that --lap1 does not change (PCA, the GAN's training, the MSE-trained GLO rows)
  # are copied in, so that this page judges Lap1 against MSE on the same runs as the main page
  for run in "$STORE/$DATASET"/{pca,gan-mse,glo-mse-pca,glo-mse-random}-*; do
    [ -f "$run/metrics.json" ] && [ ! -e "$EXTRA/$DATASET/$(basename "$run")" ] && cp -r "$run" "$EXTRA/$DATASET/"
  done
  # shellcheck disable=SC2046
  bench run --seed 0 "${COMMON[@]/$STORE/$EXTRA}" --precision "$GAN_PRECISION" $(steps "$GAN_STEPS") "${GAN_INVERT[@]}" --lap1 paper --model gan-lap1
  # shellcheck disable=SC2046
  bench run --seed 0 "${COMMON[@]/$STORE/$EXTRA}" --precision "$PRECISION" $(steps "$STEPS") --lap1 paper --model glo-lap1-pca
  (cd "$HERE" && python -m bench report --dataset "$DATASET" --runs "$EXTRA" --out reports --data-root "$DATA" --page "$DATASET-lap1paper")
fi
every=1
for row in $ALL_ROWS; do  # lap1paper is no step where LAP1_PAPER is off (celeba128's default)
  [ "$row" = lap1paper ] && [ "$LAP1_PAPER" != 1 ] && continue
  want "$row" || every=0
done
if [ "$every" = 0 ]; then
  echo "scripts/report_budget.sh: ROWS=\"$ROWS\" done; the report is written by the run of all steps (ROWS unset)"
  exit 0
fi
# the page, into this script's tree; it shows the dataset's other pages in reports/
# (-lap1paper, -plateau, -paper, -tuned) side by side
(cd "$HERE" && python -m bench report --dataset "$DATASET" --runs "$STORE" --out reports --data-root "$DATA" --page "$PAGE")
