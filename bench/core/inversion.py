"""Batched latent inversion with restarts: find z minimising loss(g(z), x), g frozen.

All restarts of all images in a batch are optimised together as one (R*B) x d tensor with
Adam. The loss is summed over images, so each code's gradient is that image's alone, and
Adam's update is per coordinate: batching changes nothing but speed. After each step the
codes are projected back into the prior's range; each image keeps its best restart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

Projection = Callable[[Tensor], Tensor]



@dataclass(frozen=True)
class InversionSettings:
    """Optimise codes with the generator frozen (Adam), keeping each image's best restart."""

    steps: int = 500
    lr: float = 0.1
    restarts: int = 2
    batch_size: int = 256
    # after this fraction of the steps only each image's best restart goes on (1.0: all do)
    keep_best_after: float = 0.25
    # an image stops once its loss falls by less than this fraction over 10 steps (0: never)
    converged_rel: float = 1e-3


def project_unit_ball(z: Tensor) -> Tensor:
    """GLO's constraint: z / max(||z||_2, 1), row-wise."""
    return z / z.norm(dim=1, keepdim=True).clamp_min(1.0)


def project_ball(radius: float) -> Projection:
    def project(z: Tensor) -> Tensor:
        return z * (radius / z.norm(dim=1, keepdim=True).clamp_min(radius))

    return project


@contextlib.contextmanager
def no_param_grads(module: nn.Module):
    """No gradients for the module's parameters (its mode untouched), restored after: a
    backward through it computes only what flows to its input."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, f in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(f)


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Eval mode (batch-norm running statistics) and no parameter gradients, restored after."""
    was_training = module.training
    module.eval()
    try:
        with no_param_grads(module):
            yield module
    finally:
        module.train(was_training)


def _keep_rows(opt: torch.optim.Adam, z: Tensor, rows: Tensor) -> tuple[Tensor, torch.optim.Adam]:
    """The rows ``rows`` of z as a new leaf, with a new Adam that carries on their moments."""
    kept = z.detach()[rows].clone().requires_grad_(True)
    new = torch.optim.Adam([kept], lr=opt.param_groups[0]["lr"])
    new.state[kept] = {k: (v[rows].clone() if torch.is_tensor(v) and v.dim() > 0 else v)
                       for k, v in opt.state[z].items()}
    return kept, new


def invert(decoder: nn.Module, x: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor],
           init: Callable[[int, torch.Generator], Tensor], project: Projection, *, steps: int,
           lr: float, restarts: int, batch_size: int, seed: int = 0, keep_best_after: float = 1.0,
           converged_rel: float = 0.0, check_every: int = 10,
           autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
           ) -> tuple[Tensor, Tensor, Tensor]:
    """Returns (x_hat, z, per-image loss) for images x (N x C x H x W in [-1, 1]).

    ``keep_best_after`` < 1: once that fraction of the steps is done, only each image's best
    restart so far (by its loss at the previous step) goes on; the others stop costing. The
    survivor's path is unchanged (Adam's moments are per coordinate and carried over).

    ``converged_rel`` > 0: once one code per image remains, an image whose loss fell by less
    than that fraction over the last ``check_every`` steps stops there (its code is kept);
    the others go on without it."""
    gen = torch.Generator().manual_seed(seed)
    outs, codes, losses = [], [], []
    device = x.device
    prune_at = round(keep_best_after * steps) if restarts > 1 and keep_best_after < 1 else None
    with frozen(decoder):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            b = xb.shape[0]
            r = restarts
            target = xb.repeat(r, 1, 1, 1)
            z = project(init(r * b, gen).to(device)).requires_grad_(True)
            opt = torch.optim.Adam([z], lr=lr)
            loss = None
            finished: Tensor | None = None  # codes of images that stopped early (r == 1)
            alive = torch.arange(b, device=device)  # their rows, once r == 1
            before = None  # loss of the alive rows at the last convergence check
            for step in range(steps):
                if step == prune_at and loss is not None:
                    best = loss.detach().float().view(r, b).argmin(0)
                    z, opt = _keep_rows(opt, z, best * b + torch.arange(b, device=device))
                    r, target = 1, xb
                with autocast():
                    loss = loss_fn(decoder(z), target)
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()
                opt.step()
                with torch.no_grad():
                    z.copy_(project(z))
                if converged_rel > 0 and r == 1 and step % check_every == 0:
                    now = loss.detach().float()
                    if before is not None:
                        done = (before - now) <= converged_rel * before
                        if bool(done.any()):
                            if finished is None:
                                finished = torch.zeros(b, z.shape[1], device=device)
                            finished[alive[done]] = z.detach()[done]
                            keep = (~done).nonzero().squeeze(1)
                            if keep.numel() == 0:
                                alive = keep
                                break
                            z, opt = _keep_rows(opt, z, keep)
                            alive, target, now = alive[keep], target[keep], now[keep]
                    before = now
            if finished is not None:  # every image's code again, in order
                if alive.numel():
                    finished[alive] = z.detach()
                z, target = finished, xb
            with torch.no_grad(), autocast():
                out = decoder(z).float()
            with torch.no_grad():
                final = loss_fn(out, target).float().view(r, b)
                best = final.argmin(0)
                pick = best * b + torch.arange(b, device=device)
                outs.append(out[pick])
                codes.append(z.detach()[pick])
                losses.append(final.min(0).values)
    return torch.cat(outs), torch.cat(codes), torch.cat(losses)
