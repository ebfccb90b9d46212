"""``ganphon atlas`` and ``ganphon intervene``: what each latent variable, and each group of channels, controls."""

from __future__ import annotations

from ..errors import GanphonError, number_hint
from .options import (add_batch_size, add_checkpoint, add_device, add_out, add_overwrite, add_quiet, add_seed,
                      add_workers, describe, finite_float, name_list, names, non_negative_int, positive_int)
from .store import add_store

ATLAS_EPILOG = """\
examples:
  ganphon atlas --checkpoint demo --bases 20 --out atlas                 # 100 variables × 5 values × 20 bases
  ganphon atlas --checkpoint demo --variables c1,c2,c3,z5,z11 --values=-15,0,15 --bases 10 --out few
  ganphon atlas --checkpoint demo --bases 50 --store zarr --scheduler local --workers 16 --yes --out big

writes atlas.csv (every variable × outcome × layer: effect per unit, 95 % CI, Holm and BH adjusted p,
standardised effect, rank), figures/atlas_heatmap.png|pdf and explore.html (the top variables' extremes)."""

INTERVENE_EPILOG = """\
channels:
  3,17,40  0-7           those channels (0-based) of --layer
  cluster:DIR[:K]        the smaller spectral cluster (or cluster K) of DIR/featuremaps_<layer>.npy
                         (ganphon probe --feature-maps LAYER --out DIR)
  top:DIR:N:OUTCOME      the N channels whose mean activation correlates most with OUTCOME
                         (e.g. duration/fric) over DIR's samples (probe --feature-maps, annotate, measure)

examples:
  ganphon intervene --checkpoint demo --layer conv3 --channels 3,17,40 --set 0 --bases 20 --out ablate
  ganphon intervene --checkpoint demo --layer conv3 --channels cluster:probe_run --scale 3 --out boost"""


def _values(text: str) -> list:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GanphonError(f"--values {text!r}: expected numbers like -15,-5,0,5,15{number_hint(text)}") from None
    return values


def _common(p) -> None:
    add_checkpoint(p)
    p.add_argument("--bases", type=positive_int, default=20, help="random base latents, shared by every condition")
    p.add_argument("--code", default=None, help="fix the code of the base latents")
    add_seed(p, help="seed of the base latents")
    p.add_argument("--layers", type=name_list, default=None, help="layers exported and measured, e.g. conv3,conv4 (default all)")
    p.add_argument("--measures", type=name_list, default="pitch,intensity,spectrum,duration",
                   help="measure families (add formants for F1/F2: slower)")
    p.add_argument("--alpha", type=finite_float, default=0.05, help="threshold of the adjusted p")
    p.add_argument("--adjust", choices=("holm", "bh"), default="holm",
                   help="adjustment deciding 'passes' over the whole table (both are reported)")
    p.add_argument("--test", choices=("t", "signflip"), default="t",
                   help="t test across bases (assumes roughly normal per-base slopes), or the sign-flip "
                   "randomisation test (no assumption; its smallest p is 2/2^bases: needs many bases)")
    add_out(p)
    add_batch_size(p)
    add_device(p)
    add_overwrite(p)
    add_quiet(p)


def atlas(p) -> None:
    from ..praat import PRESETS

    describe(p, "The latent atlas (Beguš et al. 2023, CDEV): set every latent variable (codes c1…ck and z1…) "
             "to extreme values one at a time over the same random bases, export, annotate and measure every "
             "sample like a sweep, and rank what each variable controls: per variable × outcome × layer the "
             "mean per-base slope (the mixed model's ML slope for this balanced design) with a t test across "
             "bases, adjusted over the table. Prints a size estimate first; more than 10,000 samples needs "
             "--yes. Rerunning into the same folder completes only what is missing.", ATLAS_EPILOG)
    _common(p)
    p.add_argument("--values", default="-15,-5,0,5,15",
                   help="values every variable is set to (write --values=-15,0,15: a leading minus needs the '=')")
    p.add_argument("--variables", type=name_list, default=None, help="variables (default every one), e.g. c1,c2,z11")
    add_workers(p, "annotating and measuring", store=True)
    p.add_argument("--settings", choices=tuple(PRESETS), default="default", help="Praat settings preset")
    add_store(p)
    p.add_argument("--explore", type=non_negative_int, default=6, metavar="N",
                   help="explorer page with the N top-ranked variables on 2 bases (0: none)")
    p.add_argument("--yes", action="store_true", help="run an atlas of more than 10,000 samples")
    p.set_defaults(func=_atlas)


def _atlas(args) -> int:
    from ..atlas import run_atlas

    result = run_atlas(args.checkpoint, args.out, values=_values(args.values), bases=args.bases,
                       variables=names(args.variables), seed=args.seed, code=args.code, layers=names(args.layers),
                       measures=names(args.measures), alpha=args.alpha, adjust=args.adjust, test=args.test,
                       store=args.store, workers=args.workers, scheduler=args.scheduler, settings=args.settings,
                       batch_size=args.batch_size,
                       device=args.device, overwrite=args.overwrite, progress=not args.quiet,
                       command=args.command_line, yes=args.yes, explore_vars=args.explore)
    print(f"atlas done: {result.table} ({len(result.effects)} effects)")
    _print_top(result.effects, passing_only=True)
    print(result.sentence)
    return 0


def _print_top(effects, n: int = 15, passing_only: bool = False) -> None:
    cols = ["var", "outcome", "layer", "effect", "unit", "ci_low", "ci_high", "effect_std", "p_holm", "p_bh", "n_bases"]
    rows = effects[effects["passes"]] if passing_only else effects
    if rows.empty:
        return
    print(rows[cols].head(n).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def intervene(p) -> None:
    from ..praat import PRESETS

    describe(p, "Generate the same bases with and without an intervention on channels of one layer (GAN "
             "Dissection's ablation: set them to 0 or a value, or scale them), export both (tier 'condition': "
             "'control' or the intervention), annotate and measure, and report the paired effect (intervention − "
             "control, t test across bases, adjusted) on every outcome of that layer, the layers after it and "
             "the output. The intervention is recorded in run.json and the manifest and can be replayed.",
             INTERVENE_EPILOG)
    _common(p)
    p.add_argument("--layer", required=True, help="layer whose channels change (dense, conv1 … convK)")
    p.add_argument("--channels", required=True, help="channels: 3,17,40 / cluster:DIR[:K] / top:DIR:N:OUTCOME")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--set", type=finite_float, default=None, metavar="VALUE", help="set the channels to VALUE (0: ablate)")
    how.add_argument("--scale", type=finite_float, default=None, metavar="K", help="multiply the channels by K")
    add_workers(p, "annotating and measuring")
    p.add_argument("--settings", choices=tuple(PRESETS), default="default", help="Praat settings preset")
    p.add_argument("--yes", action="store_true", help="run an intervention estimated past 10 GiB, a million "
                   "samples or the free disk")
    p.set_defaults(func=_intervene)


def _intervene(args) -> int:
    from ..atlas import run_intervention, select_channels
    from ..probe import Intervention

    channels = select_channels(args.channels, args.layer, seed=args.seed)
    op, value = ("set", args.set) if args.set is not None else ("scale", args.scale)
    iv = Intervention(args.layer, channels, op, value)
    result = run_intervention(args.checkpoint, args.out, [iv], bases=args.bases, seed=args.seed, code=args.code,
                              layers=names(args.layers), measures=names(args.measures), alpha=args.alpha,
                              adjust=args.adjust, test=args.test, workers=args.workers,
                              scheduler=args.scheduler, settings=args.settings,
                              batch_size=args.batch_size, device=args.device, overwrite=args.overwrite,
                              progress=not args.quiet, command=args.command_line, yes=args.yes)
    print(f"intervene done: {result.table} ({iv.label}, {args.bases} paired bases)")
    _print_top(result.effects, n=60)
    print(result.sentence)
    return 0
