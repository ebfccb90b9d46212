"""``ganphon new-model``, ``ganphon import-checkpoint`` and ``ganphon model-info``."""

from __future__ import annotations

import argparse
import json

from .checkpoint import load_checkpoint, new_model, save_checkpoint
from .config import ARCHS, ModelConfig
from .peer import import_peer

FMT = argparse.ArgumentDefaultsHelpFormatter


def add_commands(sub) -> None:
    p = sub.add_parser(
        "new-model", formatter_class=FMT,
        help="write a freshly initialised model checkpoint",
        description="Write a freshly initialised generator, critic and (ciwGAN/fiwGAN) Q-network "
        "to one checkpoint file: for tests and for experiments on untrained networks.",
    )
    p.add_argument("--arch", choices=ARCHS, default="wavegan")
    p.add_argument("--dim", type=int, default=64, help="model dimension d")
    p.add_argument("--codes", type=int, default=0, help="number of codes (ciwgan categories / fiwgan bits)")
    p.add_argument("--slice-len", type=int, default=16384, choices=(16384, 65536))
    p.add_argument("--extra-layers", type=int, default=0, help="stride-1 layers for the deeper variant")
    p.add_argument("--batchnorm", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="checkpoint file to write")
    p.set_defaults(func=_new_model)

    p = sub.add_parser(
        "import-checkpoint", formatter_class=FMT,
        help="convert ciwganfiwgan-pytorch G (and Q) files to a ganphon checkpoint",
        description="Read the bare state dicts saved by the ciwganfiwgan-pytorch port "
        "(epoch…_G.pt, epoch…_Q.pt), infer d and the slice length from the weight shapes, and "
        "write one ganphon checkpoint that computes exactly what the port computed (no ReLU "
        "after the projection, the port's reshape).",
    )
    p.add_argument("generator", help="epoch…_G.pt")
    p.add_argument("--q", dest="qnetwork", default=None, help="epoch…_Q.pt")
    p.add_argument("--arch", choices=ARCHS, required=True)
    p.add_argument("--codes", type=int, default=0)
    p.add_argument("--q-slope", type=float, default=0.2,
                   help="Q-network LeakyReLU slope; 0 for port checkpoints trained before its 2025 fix")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_import)

    p = sub.add_parser("model-info", formatter_class=FMT, help="print a checkpoint's config and metadata",
                       description="Print a ganphon checkpoint's config, layers with native rates, and metadata.")
    p.add_argument("checkpoint", help="checkpoint file, or 'demo' for the bundled model")
    p.set_defaults(func=_info)


def _new_model(args) -> int:
    cfg = ModelConfig(arch=args.arch, dim=args.dim, n_codes=args.codes, slice_len=args.slice_len,
                      extra_layers=args.extra_layers, batchnorm=args.batchnorm)
    G, D, Q = new_model(cfg, args.seed)
    save_checkpoint(args.out, cfg, G, D, Q, meta={"seed": args.seed, "initialised": "fresh"})
    n = sum(p.numel() for p in G.parameters())
    print(f"wrote {args.out}: {cfg.arch} d={cfg.dim} codes={cfg.n_codes} slice={cfg.slice_len} "
          f"({n:,} generator parameters, seed {args.seed})")
    return 0


def _import(args) -> int:
    out = import_peer(args.generator, args.out, arch=args.arch, n_codes=args.codes,
                      q_path=args.qnetwork, q_slope=args.q_slope)
    m = load_checkpoint(out)
    print(f"wrote {out}: {m.config.arch} d={m.config.dim} slice={m.config.slice_len} "
          f"codes={m.config.n_codes}{' with Q-network' if m.qnetwork is not None else ''}")
    return 0


def _info(args) -> int:
    from ..timebase import native_rate

    m = load_checkpoint(args.checkpoint)
    print(f"{m.path}  sha256 {m.sha256[:16]}…")
    print(json.dumps(m.config.to_dict(), indent=1))
    import torch

    with torch.no_grad():
        from ..probe import layer_lengths

        lengths = layer_lengths(m.generator)
    for name, (ch, n) in lengths.items():
        print(f"  {name:8s} {ch:5d} ch × {n:6d} samples  {native_rate(n, m.config.slice_len, m.config.sr):9.3f} Hz")
    if m.meta:
        print("meta:", json.dumps(m.meta, indent=1, default=str))
    return 0
