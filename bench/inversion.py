"""Batched latent inversion with restarts: find z minimising loss(g(z), x), g frozen.

All restarts of all images in a batch are optimised together as one (R*B) x d tensor with
Adam. The loss is summed over images, so each code's gradient is that image's alone, and
Adam's update is per coordinate: batching changes nothing but speed. After each step the
codes are projected back into the prior's range; each image keeps its best restart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import Tensor, nn

Projection = Callable[[Tensor], Tensor]


def project_unit_ball(z: Tensor) -> Tensor:
    """GLO's constraint: z / max(||z||_2, 1), row-wise."""
    return z / z.norm(dim=1, keepdim=True).clamp_min(1.0)


def project_ball(radius: float) -> Projection:
    def project(z: Tensor) -> Tensor:
        return z * (radius / z.norm(dim=1, keepdim=True).clamp_min(radius))

    return project


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Eval mode (batch-norm running statistics) and no parameter gradients, restored after."""
    was_training = module.training
    flags = [p.requires_grad for p in module.parameters()]
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, f in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(f)
        module.train(was_training)


def invert(decoder: nn.Module, x: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor],
           init: Callable[[int, torch.Generator], Tensor], project: Projection, *, steps: int,
           lr: float, restarts: int, batch_size: int, seed: int = 0,
           autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
           ) -> tuple[Tensor, Tensor, Tensor]:
    """Returns (x_hat, z, per-image loss) for images x (N x C x H x W in [-1, 1])."""
    gen = torch.Generator().manual_seed(seed)
    outs, codes, losses = [], [], []
    device = x.device
    with frozen(decoder):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            b = xb.shape[0]
            target = xb.repeat(restarts, 1, 1, 1)
            z = project(init(restarts * b, gen).to(device)).requires_grad_(True)
            opt = torch.optim.Adam([z], lr=lr)
            for _ in range(steps):
                with autocast():
                    loss = loss_fn(decoder(z), target)
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()
                opt.step()
                with torch.no_grad():
                    z.copy_(project(z))
            with torch.no_grad(), autocast():
                out = decoder(z).float()
            with torch.no_grad():
                final = loss_fn(out, target).float().view(restarts, b)
                best = final.argmin(0)
                pick = best * b + torch.arange(b, device=device)
                outs.append(out[pick])
                codes.append(z.detach()[pick])
                losses.append(final.min(0).values)
    return torch.cat(outs), torch.cat(codes), torch.cat(losses)
