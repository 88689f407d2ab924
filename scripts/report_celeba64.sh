#!/usr/bin/env bash
# reports/celeba64 from one command and one code version:
#   scripts/report_celeba64.sh STORE [DATA_ROOT]
# Seed 0 of all nine Table-1 rows, then seeds 1 and 2 of PCA and the four GLO rows, on the
# 10,000 shared CelebA training images at 64 px (held-out: LFW at 64 px), at the cpu
# profile's defaults (GLO and the VAE trained to their plateau, the GAN its fixed epochs;
# EPOCHS=8 PLATEAU=0 gives the 8-epoch report of 2026-11-30); then the report. Runs already
# complete in STORE are kept (rerun to resume).
# Refuses to run from a tree whose model/harness sources differ from a commit.
set -euo pipefail
STORE=${1:?usage: scripts/report_celeba64.sh STORE [DATA_ROOT]}
DATA=${2:-${BENCH_DATA:-../shared/data}}
cd "$(dirname "$0")/.."
if [ -n "$(git status --porcelain -- bench baselines glo 2>/dev/null)" ]; then
  echo "scripts/report_celeba64.sh: uncommitted changes under bench/ baselines/ glo/; commit them first" >&2
  exit 2
fi
COMMON=(--dataset celeba64 --data-root "$DATA" --heldout lfw64 --out "$STORE"
        --eval-train-n 500 --eval-test-n 300 --ckpt-interval 60)
# EPOCHS / PLATEAU override every family's (the GAN's too); unset: the cpu profile's defaults
[ -n "${EPOCHS:-}" ] && COMMON+=(--epochs "$EPOCHS")
[ -n "${PLATEAU:-}" ] && COMMON+=(--plateau "$PLATEAU")
GLO_PCA=(--model pca --model glo-lap1-pca --model glo-mse-pca --model glo-lap1-random
         --model glo-mse-random)
# seed 0: PCA and GLO first (the rows the paper's claims are about), then the GAN and the VAE
bench run --seed 0 "${COMMON[@]}" "${GLO_PCA[@]}"
bench run --seed 0 "${COMMON[@]}" --model gan-mse --model gan-lap1 --model vae-mse --model vae-lap1
for seed in 1 2; do
  bench run --seed "$seed" "${COMMON[@]}" "${GLO_PCA[@]}"
done
bench report --dataset celeba64 --runs "$STORE" --out reports --data-root "$DATA"
