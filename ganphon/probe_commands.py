"""``ganphon probe``: generate, probe every layer and export for Praat."""

from __future__ import annotations

import argparse
from .errors import GanphonError

FMT = argparse.ArgumentDefaultsHelpFormatter


def add_commands(sub) -> None:
    p = sub.add_parser(
        "probe", formatter_class=FMT,
        help="generate N samples and export the output and every layer's average for Praat",
        description="Generate N samples from a checkpoint, take each layer's channel average "
        "(after ReLU, as in Beguš & Zhou 2022) and export per sample: ID_output.wav, "
        "ID_<layer>.wav (upsampled to the output rate), ID_<layer>.Sound (native rate, exact), "
        "ID.TextGrid, plus manifest.csv, latents.csv and run.json. Rerunning the same command "
        "resumes; a different command into a non-empty folder needs --overwrite.",
    )
    p.add_argument("--checkpoint", required=True, help="ganphon checkpoint, or 'demo' for the bundled model")
    p.add_argument("--n", type=int, default=10, help="number of samples")
    p.add_argument("--seed", type=int, default=0, help="seed of the latent draw")
    p.add_argument("--code", default=None,
                   help="fix the code: a ciwgan category 1…k, or k comma-separated values like '0,1.5' "
                   "(default: random codes)")
    p.add_argument("--layers", default=None, help="comma-separated layers (default: dense,conv1…convK)")
    p.add_argument("--reduce", choices=("mean", "sum", "max", "rms"), default="mean",
                   help="how channels are combined")
    p.add_argument("--activation", choices=("post", "pre"), default="post",
                   help="after the ReLU (the paper) or before it")
    p.add_argument("--feature-maps", default="", help="comma-separated layers whose individual channels "
                   "are saved as featuremaps_<layer>.npy [N, channels, n]")
    p.add_argument("--clip", type=float, default=None, help="clip layer WAVs to ±CLIP (the paper: 1.0)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace a previous run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_probe)


def _probe(args) -> int:
    from .export import run_export
    from .models import Latent, load_checkpoint

    if args.n < 1:
        raise GanphonError(f"--n must be at least 1, got {args.n}")
    model = load_checkpoint(args.checkpoint, qnetwork=False)
    latents = Latent(model.config).sample(args.n, args.seed, code=args.code)
    fmaps = [s.strip() for s in args.feature_maps.split(",") if s.strip()]
    request = {"kind": "probe", "n": args.n, "seed": args.seed, "code": args.code}
    manifest = run_export(model, latents, args.out, layers=args.layers, reduce=args.reduce,
                          activation=args.activation, clip=args.clip, feature_maps=fmaps,
                          batch_size=args.batch_size, device=args.device, seed=args.seed,
                          request=request, command=args.command_line,
                          overwrite=args.overwrite, progress=not args.quiet)
    n_layers = manifest["layer"].nunique()
    print(f"exported {args.n} samples × {n_layers} series to {args.out} (manifest.csv, latents.csv, run.json)")
    return 0
