"""Trainer speed: ganphon's WGAN-GP loop against a plain eager loop of the same model,
and against a frozen copy of the trainer's loop before the training package
(``before`` below, kept verbatim as the baseline).

All run in this process on the same items, with the same architecture,
batch, optimisers and number of critic steps.  The plain loop below is the
bare algorithm written out with the same efficiency habits as the trainer
(fake batch for the critic under ``no_grad``, critic frozen during the
generator step, one G forward shared by the G and Q losses) and nothing else:
no logging, checkpoints, seeded streams or loss checks.  The ratio therefore
measures what the trainer's bookkeeping costs (target ≥ 1.0, i.e. none).

ganphon's rate is read from its own ``train_log.csv`` (time after each step),
the warm-up steps left out; the plain loop is timed the same way.  Runs are
interleaved (ganphon, plain, plain, ganphon …) and the rate is one over the
median step time of each, so stalls caused by other programs hit neither.

    python benchmarks/bench_train.py                              # CPU: d=16, batch 16
    python benchmarks/bench_train.py --dim 8 --threads-list 1,2   # threads on a busy 2-core machine
    python benchmarks/bench_train.py --wait-policy active         # OpenMP threads spinning (as before
                                                                  # the `ganphon` command set PASSIVE)
    python benchmarks/bench_train.py --dim 64 --batch 64          # the paper's size
    python benchmarks/bench_train.py --device cuda --bf16 --compile --dim 64 --batch 64 --steps 50
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

# OpenMP reads its wait policy once, when torch loads: --wait-policy must act before the import.
if "--wait-policy" in sys.argv[:-1]:
    os.environ["OMP_WAIT_POLICY"] = sys.argv[sys.argv.index("--wait-policy") + 1].upper()

import numpy as np
import torch
import torch.nn.functional as F

import ganphon
from ganphon.models import Latent, ModelConfig, build_models
from ganphon.train import DataOrder, TrainConfig, train


def make_items(n: int, slice_len: int, seed: int) -> np.ndarray:
    """Decaying harmonic tones with noise onsets: speech-like enough to train on."""
    rng = np.random.default_rng(seed)
    t = np.arange(slice_len) / 16000
    items = np.zeros((n, slice_len), np.float32)
    for i in range(n):
        f0 = rng.uniform(90, 220)
        tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6))
        env = np.exp(-((t - rng.uniform(0.3, 0.6)) ** 2) / 0.02)
        items[i] = 0.3 * tone * env + 0.02 * rng.standard_normal(slice_len) * (t < 0.1)
    return items


def plain_loop(items: torch.Tensor, config: ModelConfig, batch: int, steps: int, warmup: int,
               device: str, bf16: bool, compile_: bool) -> list[float]:
    """The bare WGAN-GP (+ Q) algorithm; returns the seconds of each G step after warm-up."""
    torch.manual_seed(0)
    G, D, Q = build_models(config)
    G, D = G.to(device).train(), D.to(device).train()
    Q = Q.to(device).train() if Q is not None else None
    Gf, Df = (torch.compile(G), torch.compile(D)) if compile_ else (G, D)
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_Q = torch.optim.RMSprop([*Q.parameters(), *G.parameters()], lr=1e-4, alpha=0.9, eps=1e-10) if Q else None
    items = items.to(device)
    k = config.n_codes
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

    def latents(n):
        noise = torch.rand(n, config.latent_dim - k, device=device) * 2 - 1
        if k == 0:
            return noise, None
        codes = F.one_hot(torch.randint(0, k, (n,), device=device), k).float()
        return torch.cat([codes, noise], 1), codes

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    durations = []
    for step in range(warmup + steps):
        sync()
        t_step = time.perf_counter()
        for _ in range(5):
            real = items[torch.randint(0, items.shape[0], (batch,), device=device)].unsqueeze(1)
            z, _ = latents(batch)
            with torch.no_grad(), amp():
                fake = Gf(z).float()
            alpha = torch.rand(batch, 1, 1, device=device)
            with amp():
                w = Df(real).float().mean() - Df(fake).float().mean()
            mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            with amp():
                out = D(mixed).float()
            (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
            gp = ((grad.float().flatten(1).norm(dim=1) - 1) ** 2).mean()
            opt_D.zero_grad(set_to_none=True)
            (-w + 10 * gp).backward()
            opt_D.step()
        z, codes = latents(batch)
        D.requires_grad_(False)
        with amp():
            fake = Gf(z)
            g_loss = -Df(fake).float().mean()
        if Q is None:
            opt_G.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_G.step()
        else:
            with amp():
                q_loss = F.cross_entropy(Q(fake).float(), codes.argmax(1))
            g_grads = torch.autograd.grad(g_loss, list(G.parameters()), retain_graph=True)
            opt_Q.zero_grad(set_to_none=True)
            opt_G.zero_grad(set_to_none=True)
            q_loss.backward()
            opt_Q.step()
            for p, g in zip(G.parameters(), g_grads):
                p.grad = g
            opt_G.step()
        D.requires_grad_(True)
        sync()
        if step >= warmup:
            durations.append(time.perf_counter() - t_step)
    return durations


# ------------------------------------------------------------------ the loop before (frozen copy)
# The per-step code of ganphon/train.py as of commit 853cb66 (before the training package):
# a Run holding everything, critic_step, generator_step and the loop's per-step bookkeeping.
# Kept as it was, as the baseline; multi-process averaging left out (one process here).

@dataclasses.dataclass
class _BeforeRun:
    config: ModelConfig
    G: torch.nn.Module
    D: torch.nn.Module
    Q: torch.nn.Module | None
    G_fwd: torch.nn.Module
    D_fwd: torch.nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    opt_Q: torch.optim.Optimizer | None
    latent: Latent
    latent_gen: torch.Generator
    device: torch.device
    local_batch: int
    bf16: bool
    lambda_gp: float = 10.0

    def autocast(self):
        if self.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def sample_latents(self, n):
        k = self.latent.n_codes
        noise = torch.rand(n, self.latent.latent_dim - k, generator=self.latent_gen) * 2 - 1
        if k == 0:
            return noise.to(self.device), None
        codes = self.latent.random_codes(n, self.latent_gen)
        return torch.cat([codes, noise], dim=1).to(self.device), codes.to(self.device)


def _before_critic_step(run, real):
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
    loss = -wasserstein + run.lambda_gp * gp
    run.opt_D.zero_grad(set_to_none=True)
    loss.backward()
    run.opt_D.step()
    return loss.detach(), gp.detach(), wasserstein.detach()


def _before_generator_step(run):
    b = run.local_batch
    z, codes = run.sample_latents(b)
    run.D.requires_grad_(False)
    try:
        with run.autocast():
            fake = run.G_fwd(z)
            g_loss = -run.D_fwd(fake).float().mean()
        g_params = list(run.G.parameters())
        nan = torch.tensor(float("nan"), device=run.device)
        if run.Q is None:
            run.opt_G.zero_grad(set_to_none=True)
            g_loss.backward()
            run.opt_G.step()
            return g_loss.detach(), nan, nan
        with run.autocast():
            logits = run.Q(fake).float()
        target = codes.argmax(dim=1)
        q_loss = F.cross_entropy(logits, target)
        q_acc = (logits.argmax(dim=1) == target).float().mean()
        g_grads = torch.autograd.grad(g_loss, g_params, retain_graph=True)
        run.opt_Q.zero_grad(set_to_none=True)
        run.opt_G.zero_grad(set_to_none=True)
        q_loss.backward()
        run.opt_Q.step()
        for p, g in zip(g_params, g_grads):
            p.grad = g
        run.opt_G.step()
        return g_loss.detach(), q_loss.detach(), q_acc.detach()
    finally:
        run.D.requires_grad_(True)


def before_loop(items: torch.Tensor, config: ModelConfig, batch: int, steps: int, warmup: int,
                device: str, bf16: bool, compile_: bool) -> list[float]:
    """The trainer's loop before the training package (frozen copy); seconds of each G step after warm-up."""
    device = torch.device(device)
    torch.manual_seed(0)
    G, D, Q = build_models(config, critic=True)
    G, D = G.to(device).train(), D.to(device).train()
    Q = Q.to(device).train() if Q is not None else None
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_Q = (torch.optim.RMSprop([*Q.parameters(), *G.parameters()], lr=1e-4, alpha=0.9, eps=1e-10)
             if Q is not None else None)
    G_fwd, D_fwd = (torch.compile(G), torch.compile(D)) if compile_ else (G, D)
    run = _BeforeRun(config=config, G=G, D=D, Q=Q, G_fwd=G_fwd, D_fwd=D_fwd, opt_G=opt_G, opt_D=opt_D,
                     opt_Q=opt_Q, latent=Latent(config), latent_gen=torch.Generator().manual_seed(1),
                     device=device, local_batch=batch, bf16=bf16)
    order = DataOrder(items.shape[0], seed=2)
    if device.type == "cuda":
        items = items.to(device)
    durations = []
    for step in range(warmup + steps):
        _sync(device.type)
        t_step = time.perf_counter()
        d_sum = gp_sum = w_sum = 0.0
        for _ in range(5):
            idx = order.take(batch)
            real = items[idx.to(items.device)].to(device, non_blocking=True).unsqueeze(1)
            d_loss, gp, wass = _before_critic_step(run, real)
            d_sum, gp_sum, w_sum = d_sum + d_loss, gp_sum + gp, w_sum + wass
        g_loss, q_loss, q_acc = _before_generator_step(run)
        stats = torch.stack([d_sum / 5, g_loss, q_loss, gp_sum / 5, q_acc, w_sum / 5]).float()
        flags = torch.tensor([0.0, 0.0], device=device)
        values = torch.cat([stats, flags]).tolist()
        losses = dict(zip(("d_loss", "g_loss", "q_loss", "gp", "q_acc", "wasserstein"), values[:6]))
        defined = [v for k, v in losses.items() if not (Q is None and k in ("q_loss", "q_acc"))]
        if not all(math.isfinite(v) for v in defined):
            raise RuntimeError("non-finite loss")
        _sync(device.type)
        if step >= warmup:
            durations.append(time.perf_counter() - t_step)
    return durations


def _sync(device_type):
    if device_type == "cuda":
        torch.cuda.synchronize()


def ganphon_loop(items: np.ndarray, config: ModelConfig, batch: int, steps: int, warmup: int,
                 device: str, bf16: bool, compile_: bool, threads: int | None = None) -> tuple[list[float], float]:
    """ganphon's trainer; returns (seconds of each G step after warm-up, from its log; whole call)."""
    settings = TrainConfig(steps=warmup + steps, batch_size=batch, seed=0, checkpoint_every=0,
                           checkpoint_minutes=0, preview_every=0, log_every=1, device=device,
                           bf16=bf16, compile=compile_, threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        train(items, Path(tmp) / "run", config, settings, progress=False)
        wall = time.perf_counter() - t0
        with open(Path(tmp) / "run" / "train_log.csv", newline="") as f:
            times = [float(r["time"]) for r in csv.DictReader(f)]
    return list(np.diff(times)[warmup - 1 :] if warmup else np.diff([0.0, *times])), wall


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", default="ciwgan", choices=("wavegan", "ciwgan"))
    p.add_argument("--codes", type=int, default=3)
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=8, help="timed G steps per run")
    p.add_argument("--warmup", type=int, default=2, help="untimed G steps first")
    p.add_argument("--repeats", type=int, default=2, help="interleaved runs of each loop")
    p.add_argument("--items", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--threads-list", default=None,
                   help="also time the trainer with each of these thread counts (its --threads), e.g. 1,2")
    p.add_argument("--wait-policy", choices=("passive", "active"), default=None,
                   help="OMP_WAIT_POLICY for this run (default: the environment's; `ganphon` sets PASSIVE)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = ModelConfig(arch=args.arch, n_codes=args.codes if args.arch != "wavegan" else 0, dim=args.dim)
    items = make_items(args.items, config.slice_len, seed=0)
    extra = [int(x) for x in args.threads_list.split(",")] if args.threads_list else []
    loops = ["ganphon", "plain", "before"] + [f"ganphon_t{n}" for n in extra]
    times = {name: [] for name in loops}
    walls = []
    common = (config, args.batch, args.steps, args.warmup, args.device, args.bf16, args.compile)
    for repeat in range(args.repeats):
        # Rotate the order, so that no loop always inherits a warm (or a busy) machine.
        order = loops[repeat % len(loops):] + loops[: repeat % len(loops)]
        for name in order:
            if name == "plain":
                times[name] += plain_loop(torch.from_numpy(items), *common)
            elif name == "before":
                times[name] += before_loop(torch.from_numpy(items), *common)
            else:
                threads = int(name.split("_t")[1]) if "_t" in name else None
                durations, wall = ganphon_loop(items, *common, threads=threads)
                times[name] += durations
                if threads is None:
                    walls.append(wall)
    # The median step: a machine shared with other work stalls some steps for seconds.
    rate = {name: 1 / float(np.median(v)) for name, v in times.items()}
    result = {
        "ganphon": ganphon.__version__, "torch": torch.__version__, "device": args.device,
        "threads": torch.get_num_threads(), "arch": args.arch, "dim": args.dim, "batch": args.batch,
        "bf16": args.bf16, "compile": args.compile, "timed_steps": args.steps, "repeats": args.repeats,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"), "load_average": os.getloadavg(),
        **{f"{name}_steps_per_s": r for name, r in rate.items()},
        "ratio_vs_plain": rate["ganphon"] / rate["plain"], "ratio_vs_before": rate["ganphon"] / rate["before"],
        **{f"step_s_{name}": [round(float(x), 4) for x in v] for name, v in times.items()},
        "ganphon_wall_s_per_run": min(walls),
    }
    print(f"{args.arch} d={args.dim} batch {args.batch} on {args.device} ({torch.get_num_threads()} threads, "
          f"OMP_WAIT_POLICY {result['omp_wait_policy']}, load {os.getloadavg()[0]:.1f}"
          f"{', bf16' if args.bf16 else ''}{', compiled' if args.compile else ''}); "
          f"median of {args.repeats} x {args.steps} steps; a G step = 5 critic + 1 generator update, "
          f"samples/s = real items through the critic (5 x batch per G step):")
    labels = {"ganphon": "ganphon train", "plain": "plain loop", "before": "loop before (frozen)"}
    for name, r in rate.items():
        label = labels.get(name, f"ganphon --threads {name.split('_t')[-1]}")
        print(f"  {label:22s}: {r:8.3f} steps/s  {r * args.batch * 5:8.1f} samples/s")
    print(f"  ratio ganphon/plain : {result['ratio_vs_plain']:.3f}  (target >= 1.0)")
    print(f"  ratio ganphon/before: {result['ratio_vs_before']:.3f}")
    for n in extra:
        print(f"  ratio --threads {n} / default: {rate[f'ganphon_t{n}'] / rate['ganphon']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
