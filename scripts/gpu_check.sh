#!/usr/bin/env bash
# The GPU check in one command (bench/gpu_check.py says what it runs; about 8 minutes on one
# GPU). Here, once: copy a CelebA subset into .gpu_data (git-ignored) so it can travel:
#   scripts/gpu_check.sh prepare [DATA_ROOT]
# The tracked docs/ and reports/ (about 95 MB with the committed reports) would take a device
# call over its 64 MiB, and the check reads neither: before the call, here,
#   scripts/gpu_check.sh aside      (refuses unless both are committed as they are)
# and after it `scripts/gpu_check.sh back` (git restores them). `prepare` prints the sizes.
# On the GPU machine (the device tool: carry .gpu_data; OUT is its output folder):
#   scripts/gpu_check.sh run OUT
# On a CPU, small, to see it work: scripts/gpu_check.sh tiny OUT
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  prepare) python -m bench.studies.gpu_check --prepare .gpu_data --data-root "${2:-../shared/data}" ;;
  run) PYTHONUNBUFFERED=1 python -m bench.studies.gpu_check --data-root .gpu_data --out "${2:?OUT}" ;;
  tiny) python -m bench.studies.gpu_check --tiny --out "${2:?OUT}" ;;
  aside)
    if [ -n "$(git status --porcelain --ignored -- docs reports)" ]; then
      echo "scripts/gpu_check.sh aside: docs/ or reports/ hold changes or ignored files; commit or move them first" >&2
      exit 2
    fi
    rm -rf docs reports && echo "docs/ and reports/ taken out of the working tree: scripts/gpu_check.sh back restores them" ;;
  back) git checkout -- docs reports && echo "docs/ and reports/ restored" ;;
  *) echo "usage: scripts/gpu_check.sh prepare [DATA_ROOT] | aside | run OUT | back | tiny OUT" >&2; exit 2 ;;
esac
