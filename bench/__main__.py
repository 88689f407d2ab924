"""`python -m bench ...` (what `torchrun --nproc-per-node K -m bench run ...` starts)."""

from bench.cli import main

main()
