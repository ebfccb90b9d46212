"""Trainer speed: ganphon's WGAN-GP loop against a plain eager loop of the same model.

Both run in this process on the same items, with the same architecture,
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
    python benchmarks/bench_train.py --dim 64 --batch 64          # the paper's size
    python benchmarks/bench_train.py --device cuda --bf16 --compile --dim 64 --batch 64 --steps 50
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import ganphon
from ganphon.models import ModelConfig, build_models
from ganphon.train import TrainConfig, train


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


def ganphon_loop(items: np.ndarray, config: ModelConfig, batch: int, steps: int, warmup: int,
                 device: str, bf16: bool, compile_: bool) -> tuple[list[float], float]:
    """ganphon's trainer; returns (seconds of each G step after warm-up, from its log; whole call)."""
    settings = TrainConfig(steps=warmup + steps, batch_size=batch, seed=0, checkpoint_every=0,
                           checkpoint_minutes=0, preview_every=0, log_every=1, device=device,
                           bf16=bf16, compile=compile_)
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
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = ModelConfig(arch=args.arch, n_codes=args.codes if args.arch != "wavegan" else 0, dim=args.dim)
    items = make_items(args.items, config.slice_len, seed=0)
    ours, plain, walls = [], [], []
    for repeat in range(args.repeats):
        # Alternate which loop goes first, so neither always inherits a warm (or hot) machine.
        for which in (("ganphon", "plain") if repeat % 2 == 0 else ("plain", "ganphon")):
            if which == "ganphon":
                durations, wall = ganphon_loop(items, config, args.batch, args.steps, args.warmup,
                                               args.device, args.bf16, args.compile)
                ours += durations
                walls.append(wall)
            else:
                plain += plain_loop(torch.from_numpy(items), config, args.batch, args.steps, args.warmup,
                                    args.device, args.bf16, args.compile)
    # The median step: a machine shared with other work stalls some steps for seconds.
    best_ours, best_plain = 1 / float(np.median(ours)), 1 / float(np.median(plain))
    result = {
        "ganphon": ganphon.__version__, "torch": torch.__version__, "device": args.device,
        "threads": torch.get_num_threads(), "arch": args.arch, "dim": args.dim, "batch": args.batch,
        "bf16": args.bf16, "compile": args.compile, "timed_steps": args.steps,
        "ganphon_steps_per_s": best_ours, "plain_steps_per_s": best_plain,
        "ganphon_samples_per_s": best_ours * args.batch * 5, "plain_samples_per_s": best_plain * args.batch * 5,
        "ratio": best_ours / best_plain, "step_s_ganphon": [round(float(x), 4) for x in ours],
        "step_s_plain": [round(float(x), 4) for x in plain],
        "ganphon_wall_s_per_run": min(walls),
    }
    print(f"{args.arch} d={args.dim} batch {args.batch} on {args.device} ({torch.get_num_threads()} threads"
          f"{', bf16' if args.bf16 else ''}{', compiled' if args.compile else ''}); "
          f"median of {args.repeats} x {args.steps} steps; a G step = 5 critic + 1 generator update, "
          f"samples/s = real items through the critic (5 x batch per G step):")
    print(f"  ganphon train : {best_ours:8.3f} steps/s  {best_ours * args.batch * 5:8.1f} samples/s")
    print(f"  plain loop    : {best_plain:8.3f} steps/s  {best_plain * args.batch * 5:8.1f} samples/s")
    print(f"  ratio ganphon/plain: {result['ratio']:.3f}  (target >= 1.0)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
