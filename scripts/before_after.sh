#!/bin/bash
# Wall time per configuration of two code versions, the same command, interleaved per configuration
# (after, then before), one process at a time. Usage:
#   scripts/before_after.sh BEFORE_CLONE AFTER_CLONE OUT_DIR DATA_ROOT [extra bench run flags]
# Each clone is a checkout of one commit; OUT_DIR gets before/ and after/ stores (the before code
# gets its own decode cache, in case its format differs). Compare with
#   python -m bench times OUT_DIR/before --compare OUT_DIR/after
# docs/performance.md ran it with: c56263d 447ee43 ... --epochs 2 --eval-train-n 100 --eval-test-n 100
set -euo pipefail
before=$(realpath "$1"); after=$(realpath "$2"); out=$(realpath -m "$3"); data=$(realpath "$4"); shift 4
flags=(--dataset celeba64 --data-root "$data" "$@")
# the nine Table-1 methods, in bench's order (gan-mse before gan-lap1, which adopts its GAN)
read -ra methods <<< "$(cd "$after" && PYTHONPATH="$after" python -c \
    'from bench.config.families import TABLE1_METHODS; print(*TABLE1_METHODS)')"
for m in "${methods[@]}"; do
  echo "=== after $m $(date +%T)"
  (cd "$after" && PYTHONPATH="$after" python -m bench run "${flags[@]}" --model "$m" --out "$out/after" --quiet)
  echo "=== before $m $(date +%T)"
  (cd "$before" && PYTHONPATH="$before" python -m bench run "${flags[@]}" --model "$m" --out "$out/before" \
      --cache-dir "$out/before-cache" --quiet)
done
echo "DONE $(date +%T)"
