"""torch.distributed for one configuration on several processes (GPUs or CPU cores).

`torchrun --nproc-per-node K -m bench run ...` (or a submitit job with K tasks) sets RANK,
WORLD_SIZE and LOCAL_RANK; `Dist.from_env` joins the process group (NCCL on CUDA, gloo
on CPU). Each rank owns one contiguous block of the training images (`block`): GLO keeps
only its block's codes, PCA accumulates only its block's partial products, evaluation
measures only its block of the chosen images; `all_reduce_sum` / `all_gather_rows` put
the pieces back together in the single-process order. With one process every helper is
the identity, so the single-process path runs exactly the same code.
"""

from __future__ import annotations

import gc
import inspect
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as tdist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str = "none"

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str) -> Dist:
        """Join the process group torchrun / submitit described in the environment, if any."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if not tdist.is_initialized():
            if backend == "nccl":
                torch.cuda.set_device(local)
            tdist.init_process_group(backend=backend)
        return cls(rank, world, local, backend)

    def device(self, device: str) -> str:
        """cuda -> this process's GPU (cuda:LOCAL_RANK); cpu stays cpu."""
        if self.enabled and device.startswith("cuda"):
            return f"cuda:{self.local_rank}"
        return device

    def close(self, *, finished: bool = True) -> None:
        """Leave the process group. When this rank finished its work, wait for the others
        first: a rank that tears gloo down while rank 0 is still evaluating and writing can
        die with SIGABRT at exit (seen once in CI, rank 1, after every result was written).
        After an error, leave at once: the others may never reach a barrier. Collect garbage
        first, so that no DistributedDataParallel wrapper left in a reference cycle keeps
        the group's connections open past its destruction."""
        if not (self.enabled and tdist.is_initialized()):
            return
        gc.collect()
        if finished:
            tdist.barrier()
        tdist.destroy_process_group()

    def __enter__(self) -> Dist:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(finished=exc_type is None)

    # --- who owns what -------------------------------------------------------------------
    def block(self, n: int, rank: int | None = None) -> tuple[int, int]:
        """[lo, hi) of the n items this rank owns: contiguous, sizes differ by at most one."""
        r = self.rank if rank is None else rank
        return r * n // self.world, (r + 1) * n // self.world

    def max_block(self, n: int) -> int:
        return max(hi - lo for lo, hi in (self.block(n, r) for r in range(self.world)))

    # --- collectives (identity with one process) -------------------------------------------
    def wrap(self, module: nn.Module, **kwargs: Any) -> nn.Module:
        """DistributedDataParallel around ``module`` (parameters stay the module's own)."""
        if not self.enabled:
            return module

        dev = next(module.parameters()).device
        ids = [dev.index] if dev.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, **kwargs)

    def wrap_local_buffers(self, module: nn.Module) -> nn.Module:
        """DDP that leaves batch-norm buffers per rank: for a net run forward more than once
        per step (the GAN's discriminator), where syncing buffers between forwards would
        change tensors its backward still needs."""
        if not self.enabled:
            return module

        named = inspect.signature(DistributedDataParallel).parameters
        key = "forward_sync_buffers" if "forward_sync_buffers" in named else "broadcast_buffers"
        return self.wrap(module, **{key: False})

    def broadcast_buffers(self, module: nn.Module) -> None:
        """Rank 0's batch-norm statistics on every rank (so every rank evaluates the same
        model, the one rank 0 saves)."""
        if self.enabled:
            for buf in module.buffers():
                comm = buf.to(self._comm_device(buf.device))
                tdist.broadcast(comm, src=0)
                if comm is not buf:
                    buf.copy_(comm)

    def all_reduce_sum(self, t: Tensor) -> Tensor:
        """Sum ``t`` over ranks, in place (returns it)."""
        if self.enabled:
            buf = t.to(self._comm_device(t.device))
            tdist.all_reduce(buf, op=tdist.ReduceOp.SUM)
            if buf is not t:
                t.copy_(buf)
        return t

    def mean_scalar(self, value: float, device: torch.device | str = "cpu") -> float:
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self._comm_device(device))
        return float(self.all_reduce_sum(t)) / self.world

    def all_gather_rows(self, t: Tensor) -> Tensor:
        """Concatenate every rank's rows in rank order (ranks may hold different counts)."""
        if not self.enabled:
            return t
        dev = self._comm_device(t.device)
        local = t.to(dev).contiguous()
        counts = [torch.zeros(1, dtype=torch.long, device=dev) for _ in range(self.world)]
        tdist.all_gather(counts, torch.tensor([local.shape[0]], device=dev))
        sizes = [int(c) for c in counts]
        padded = local.new_zeros((max(sizes), *local.shape[1:]))
        padded[: local.shape[0]] = local
        parts = [torch.empty_like(padded) for _ in range(self.world)]
        tdist.all_gather(parts, padded)
        return torch.cat([p[:s] for p, s in zip(parts, sizes, strict=True)]).to(t.device)

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's value on every rank (used so that every rank takes the same decision)."""
        if not self.enabled:
            return obj
        box = [obj]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            tdist.barrier()

    def _comm_device(self, device: torch.device | str) -> torch.device:
        """Where collectives run: this rank's GPU under NCCL, the CPU under gloo."""
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")


SINGLE = Dist()
