"""``ganphon probe``: generate, probe every layer and export for Praat."""

from __future__ import annotations

from ..errors import GanphonError
from .options import (add_batch_size, add_checkpoint, add_device, add_out, add_overwrite, add_quiet,
                      add_seed, describe, finite_float, names, positive_int)


def probe(p) -> None:
    describe(p, "Generate N samples from a checkpoint, take each layer's channel average (after ReLU, as "
             "in Beguš & Zhou 2022) and export per sample: ID_output.wav, ID_<layer>.wav (upsampled to "
             "the output rate), ID_<layer>.Sound (native rate, exact), ID.TextGrid, plus manifest.csv, "
             "latents.csv and run.json. Rerunning the same command resumes; a different command into a "
             "non-empty folder needs --overwrite.")
    add_checkpoint(p)
    p.add_argument("--n", type=positive_int, default=10, help="number of samples")
    add_seed(p, help="seed of the latent draw")
    p.add_argument("--code", default=None,
                   help="fix the code: a ciwGAN category 1…k, or k comma-separated values like '0,1.5' "
                   "(default: random codes)")
    p.add_argument("--layers", default=None, help="comma-separated layers (default: dense, conv1 … convK)")
    p.add_argument("--reduce", choices=("mean", "sum", "max", "rms"), default="mean",
                   help="how channels are combined")
    p.add_argument("--activation", choices=("post", "pre"), default="post",
                   help="after the ReLU (the paper) or before it")
    p.add_argument("--feature-maps", default="", help="comma-separated layers whose individual channels "
                   "are saved as featuremaps_<layer>.npy [N, channels, n]")
    p.add_argument("--clip", type=finite_float, default=None,
                   help="clip layer WAVs to ±CLIP, CLIP > 0 (the paper: 1.0); the Sounds keep true values")
    add_batch_size(p)
    add_device(p)
    add_out(p)
    add_overwrite(p)
    add_quiet(p)
    p.set_defaults(func=_probe)


def _probe(args) -> int:
    from ..export import run_export
    from ..models import Latent, load_checkpoint

    if args.clip is not None and args.clip <= 0:
        raise GanphonError(f"--clip must be > 0, got {args.clip:g}")
    model = load_checkpoint(args.checkpoint, qnetwork=False)
    latents = Latent(model.config).sample(args.n, args.seed, code=args.code)
    request = {"kind": "probe", "n": args.n, "seed": args.seed, "code": args.code}
    manifest = run_export(model, latents, args.out, layers=names(args.layers), reduce=args.reduce,
                          activation=args.activation, clip=args.clip, feature_maps=names(args.feature_maps) or [],
                          batch_size=args.batch_size, device=args.device, seed=args.seed,
                          request=request, command=args.command_line,
                          overwrite=args.overwrite, progress=not args.quiet)
    n_layers = manifest["layer"].nunique()
    print(f"exported {args.n} samples × {n_layers} series to {args.out} (manifest.csv, latents.csv, run.json)")
    return 0
