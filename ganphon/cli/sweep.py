"""``ganphon sweep``: latent interpolation experiments end to end."""

from __future__ import annotations

from .options import (add_batch_size, add_checkpoint, add_device, add_out, add_overwrite, add_quiet, add_seed,
                      add_workers, describe, finite_float, input_file, positive_int)
from .store import add_store, print_summary

EXAMPLES = """\
examples:
  ganphon sweep --checkpoint demo --var z11 --from -15 --to 5 --step 2 --bases 10 --out z11_sweep
  ganphon sweep code.toml --checkpoint model.pt --out code_sweep --workers 2"""


def epilog() -> str:
    """The designs (each entry's example in :data:`ganphon.sweep.DESIGNS`) and the examples."""
    from ..sweep import DESIGNS

    lines = [line for design in DESIGNS.values() for line in design.example.splitlines()]
    return ("designs (a TOML file with a [sweep] table, or the flags above):\n"
            + "".join(f"  {line}\n" for line in lines) + "\n" + EXAMPLES)


def sweep(p) -> None:
    from ..praat import PRESETS
    from ..sweep import DESIGNS

    describe(p, "Run a latent sweep: build the latents of a design, generate and probe every layer, export "
             "WAV/Sound/TextGrid files with a 'condition' tier and manifest columns var, value, base, add "
             "the automatic annotation and measure every layer into acoustics.csv. Rerunning the same sweep "
             "into the same folder completes only what is missing.", epilog())
    p.add_argument("spec", nargs="?", default=None, metavar="SPEC", type=input_file,
                   help="sweep spec TOML file (or use the flags)")
    add_checkpoint(p)
    p.add_argument("--kind", choices=tuple(DESIGNS), default=None,
                   help="design kind when no spec file is given (default: dimension, or code for c…)")
    p.add_argument("--var", help="latent variable to sweep, e.g. z11 or c2")
    p.add_argument("--from", dest="start", type=finite_float, help="first value")
    p.add_argument("--to", dest="stop", type=finite_float, help="last value")
    p.add_argument("--step", type=finite_float, help="step between values")
    p.add_argument("--bases", type=positive_int, default=10, help="number of random base latents")
    p.add_argument("--n", type=positive_int, help="number of samples (random design)")
    p.add_argument("--code", default=None, help="fix the code of the base latents")
    add_seed(p, help="seed of the base latents")
    add_out(p)
    p.add_argument("--no-annotate", action="store_true", help="skip the automatic annotation")
    p.add_argument("--no-measure", action="store_true", help="skip measuring (no acoustics.csv)")
    p.add_argument("--wav-layers", action="store_true",
                   help="also write each layer upsampled to the output rate as a float WAV, ID_<layer>.wav "
                   "(each layer is always stored once, as its native-rate Sound)")
    add_workers(p, "annotating and measuring", store=True)
    p.add_argument("--settings", choices=tuple(PRESETS), default="default", help="Praat settings preset")
    add_batch_size(p)
    add_device(p)
    add_store(p)
    add_overwrite(p)
    p.add_argument("--yes", action="store_true",
                   help="run a sweep estimated past 10 GiB or past the free disk (otherwise an error)")
    add_quiet(p)
    for design in DESIGNS.values():  # the flags a design adds of its own
        if design.flags is not None:
            design.flags(p)
    p.set_defaults(func=_sweep)


def spec_from_args(args) -> dict:
    """The sweep spec of a command line: the TOML file, or the design flags."""
    if args.spec is not None:
        from ..sweep import load_spec

        return load_spec(args.spec)
    from ..sweep import DESIGNS

    kind = args.kind or ("random" if args.n else ("code" if (args.var or "").startswith("c") else "dimension"))
    spec = {"kind": kind, "seed": args.seed, "_source": "the sweep options"}
    spec.update(DESIGNS[kind].from_args(args))  # the design's own mapping of the flags
    if args.code is not None:
        spec["code"] = args.code
    return spec


def _sweep(args) -> int:
    from ..sweep import run_sweep

    spec = spec_from_args(args)
    result = run_sweep(spec, args.checkpoint, args.out, annotate=not args.no_annotate,
                       measure=not args.no_measure, workers=args.workers,
                       scheduler=args.scheduler, settings=args.settings,
                       batch_size=args.batch_size, device=args.device, overwrite=args.overwrite,
                       progress=not args.quiet, command=args.command_line, store=args.store,
                       wav_layers=args.wav_layers,
                       yes=args.yes)
    from .. import layout

    if "measure" in result.columns:
        what = layout.ACOUSTICS
    else:  # not measured, or a store too large for the joined CSV (its summary says so)
        what = layout.MANIFEST_PARQUET if args.store == "zarr" else layout.MANIFEST
    print(f"sweep done: {args.out}/{what} ({len(result)} rows)")
    print_summary(result)
    return 0
