#!/usr/bin/env bash
# The GPU check in one command (bench/gpu_check.py says what it runs; about 8 minutes on one
# GPU). Here, once: copy a CelebA subset into .gpu_data (git-ignored) so it can travel:
#   scripts/gpu_check.sh prepare [DATA_ROOT]
# On the GPU machine (the device tool: carry .gpu_data; OUT is its output folder):
#   scripts/gpu_check.sh run OUT
# On a CPU, small, to see it work: scripts/gpu_check.sh tiny OUT
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  prepare) python -m bench.gpu_check --prepare .gpu_data --data-root "${2:-../shared/data}" ;;
  run) PYTHONUNBUFFERED=1 python -m bench.gpu_check --data-root .gpu_data --out "${2:?OUT}" ;;
  tiny) python -m bench.gpu_check --tiny --out "${2:?OUT}" ;;
  *) echo "usage: scripts/gpu_check.sh prepare [DATA_ROOT] | run OUT | tiny OUT" >&2; exit 2 ;;
esac
