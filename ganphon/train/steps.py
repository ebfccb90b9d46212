"""One critic step and one generator step (with the Q loss), and the state they share."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..models.config import ModelConfig
from ..models.latent import Latent
from .config import TrainConfig

@dataclass
class Run:
    """Everything the two update steps touch."""

    config: ModelConfig
    settings: TrainConfig
    G: torch.nn.Module
    D: torch.nn.Module
    Q: torch.nn.Module | None
    G_fwd: torch.nn.Module  # G or its compiled wrapper
    D_fwd: torch.nn.Module  # D or its compiled wrapper (the gradient penalty always uses D)
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    opt_Q: torch.optim.Optimizer | None
    latent: Latent
    latent_gen: torch.Generator
    device: torch.device
    local_batch: int
    world: int = 1
    rank: int = 0

    def autocast(self):
        if self.settings.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def sample_latents(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` training latents ``[codes, U(-1, 1) noise]`` and their codes."""
        k = self.latent.n_codes
        noise = torch.rand(n, self.latent.latent_dim - k, generator=self.latent_gen) * 2 - 1
        if k == 0:
            return noise.to(self.device), None
        codes = self.latent.random_codes(n, self.latent_gen)
        return torch.cat([codes, noise], dim=1).to(self.device), codes.to(self.device)


def _average_gradients(params, world: int) -> None:
    """All-reduce and average the gradients of ``params`` across processes."""
    if world == 1:
        return
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def critic_step(run: Run, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One critic update on a batch of real items ``[b, 1, L]``.

    Loss ``D(fake) − D(real) + λ · (‖∇D(x̂)‖ − 1)²`` with ``x̂ = α·real + (1 − α)·fake``,
    ``α ~ U(0, 1)`` per example.  Returns (loss, gradient penalty, Wasserstein
    estimate ``D(real) − D(fake)``) as detached scalars.
    """
    b = real.shape[0]
    z, _ = run.sample_latents(b)
    alpha = torch.rand(b, 1, 1, generator=run.latent_gen).to(run.device)
    with torch.no_grad(), run.autocast():
        fake = run.G_fwd(z).float()
    with run.autocast():
        d_real = run.D_fwd(real).float().mean()
        d_fake = run.D_fwd(fake).float().mean()
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    with run.autocast():
        d_mixed = run.D(mixed).float()
    (grad,) = torch.autograd.grad(d_mixed.sum(), mixed, create_graph=True)
    gp = ((grad.float().flatten(1).norm(2, dim=1) - 1) ** 2).mean()
    wasserstein = d_real - d_fake
    loss = -wasserstein + run.settings.lambda_gp * gp
    run.opt_D.zero_grad(set_to_none=True)
    loss.backward()
    _average_gradients(run.D.parameters(), run.world)
    run.opt_D.step()
    return loss.detach(), gp.detach(), wasserstein.detach()


def q_loss_and_accuracy(arch: str, logits: torch.Tensor, codes: torch.Tensor):
    """ciwGAN: softmax cross-entropy of the category; fiwGAN: sigmoid cross-entropy of the bits."""
    if arch == "ciwgan":
        target = codes.argmax(dim=1)
        loss = F.cross_entropy(logits, target)
        acc = (logits.argmax(dim=1) == target).float().mean()
    else:
        loss = F.binary_cross_entropy_with_logits(logits, codes)
        acc = ((logits > 0) == (codes > 0.5)).float().mean()
    return loss, acc


def generator_step(run: Run) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One generator update (and, for ciwGAN / fiwGAN, one Q update).

    G takes an Adam step on ``−D(G(z))``; the Q loss on the same ``G(z)`` takes
    an RMSProp step over the Q and G parameters.  Both gradients are taken at
    the same parameters before either step.  Returns (g_loss, q_loss, q_acc),
    the last two NaN for WaveGAN.
    """
    b = run.local_batch
    z, codes = run.sample_latents(b)
    run.D.requires_grad_(False)  # the critic is a fixed judge here: no weight gradients
    try:
        with run.autocast():
            fake = run.G_fwd(z)
            g_loss = -run.D_fwd(fake).float().mean()
        g_params = list(run.G.parameters())
        nan = torch.tensor(float("nan"), device=run.device)
        if run.Q is None:
            run.opt_G.zero_grad(set_to_none=True)
            g_loss.backward()
            _average_gradients(g_params, run.world)
            run.opt_G.step()
            return g_loss.detach(), nan, nan
        with run.autocast():
            logits = run.Q(fake).float()
        q_loss, q_acc = q_loss_and_accuracy(run.config.arch, logits, codes)
        g_grads = torch.autograd.grad(g_loss, g_params, retain_graph=True)
        run.opt_Q.zero_grad(set_to_none=True)
        run.opt_G.zero_grad(set_to_none=True)
        q_loss.backward()
        _average_gradients([*g_params, *run.Q.parameters()], run.world)
        run.opt_Q.step()
        for p, g in zip(g_params, g_grads):
            p.grad = g
        _average_gradients(g_params, run.world)
        run.opt_G.step()
        return g_loss.detach(), q_loss.detach(), q_acc.detach()
    finally:
        run.D.requires_grad_(True)
