#!/usr/bin/env bash
# reports/celeba64 at the paper's budget: scripts/report_celeba64.sh STORE [DATA_ROOT]
# (kept for the commands in docs/; see scripts/report_budget.sh)
exec "$(dirname "$0")/report_budget.sh" celeba64 "$@"
