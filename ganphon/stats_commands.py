"""``ganphon stats`` and ``ganphon plot``: statistics and figures of a measured folder."""

from __future__ import annotations

import argparse

from .errors import GanphonError

FMT = argparse.ArgumentDefaultsHelpFormatter


def _names(text: str | None) -> list | None:
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    return names or None


def add_commands(sub) -> None:
    p = sub.add_parser(
        "stats", formatter_class=FMT,
        help="mixed models, likelihood-ratio tests, layer effects and correlations of a measured folder",
        description="Read DIR/acoustics.csv and write DIR/stats/: per outcome and layer the mixed model "
        "'outcome ~ value' with random intercept and slope by base latent (mixed_models.csv, lrt.csv, "
        "summaries.txt), standardised effects per layer and the first layer where the effect appears "
        "(effects.csv), Pearson r of every layer with the output (correlations.csv) and stats.json. "
        "A folder without sweep columns gets the correlation table only.",
    )
    p.add_argument("dir", help="folder with acoustics.csv (from 'ganphon sweep' or 'ganphon measure')")
    p.add_argument("--measures", default="intensity,f0,f1,f2,duration",
                   help="comma-separated outcomes (measure names of the table)")
    p.add_argument("--layers", default=None, help="comma-separated layers to model; None: every layer")
    p.add_argument("--labels", default=None,
                   help="comma-separated interval labels to keep, e.g. 'voi'; None: every interval")
    p.add_argument("--point-agg", choices=("mean", "median"), default="mean",
                   help="summary of point measures over an interval's points")
    p.add_argument("--no-random-slope", action="store_true",
                   help="random intercept by base only (otherwise intercept and slope, the slope dropped "
                   "when its model does not converge)")
    p.add_argument("--discover", action="store_true",
                   help="rank latent variables by how they predict frication in the outputs' 'auto' tier "
                   "(discovery.csv; needs latents.csv and annotated TextGrids)")
    p.add_argument("--gam", action="store_true", help="also fit B-spline GAMs of each outcome on value")
    p.add_argument("--gam-df", type=int, default=5, help="degrees of freedom of the GAM's B-splines")
    p.add_argument("--seed", type=int, default=0, help="seed of the k-means in the feature-map clustering")
    p.add_argument("--workers", type=int, default=None,
                   help="processes fitting the models in parallel (default: one per CPU; same results)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_stats)

    q = sub.add_parser(
        "plot", formatter_class=FMT,
        help="draw the layer stack, sweep grid, effects, correlations and feature maps of a folder",
        description="Draw into DIR/figures/ (PNG and PDF) every figure the folder supports: the layer "
        "stack of one sample (waveform, spectrogram and each layer's average with the annotation), the "
        "sweep grid (values × layers) of a sweep, the effects and correlations written by 'ganphon stats', "
        "and the activation profiles of saved feature maps coloured by cluster.",
    )
    q.add_argument("dir", help="exported folder")
    q.add_argument("--sample", default=None, help="sample ID of the layer stack; None: the first sample")
    q.add_argument("--base", default=None, help="base latent of the sweep grid; None: the first base")
    q.add_argument("--formats", default="png,pdf", help="comma-separated file formats")
    q.set_defaults(func=_plot)


def _stats(args) -> int:
    from .stats import run_stats, sort_layers

    measures = _names(args.measures)
    if not measures:
        raise GanphonError("--measures names no measure")
    result = run_stats(args.dir, measures=measures, outcome_layers=_names(args.layers),
                       labels=_names(args.labels), point_agg=args.point_agg,
                       random_slope=not args.no_random_slope, discover_latents=args.discover,
                       gam=args.gam, gam_df=args.gam_df, cluster_seed=args.seed,
                       command=getattr(args, "command_line", None), workers=args.workers,
                       progress=not args.no_progress)
    for note in result.notes:
        print(f"note: {note}")
    for outcome, layer in result.first_layers.items():
        print(f"{outcome}: the value effect first appears in {layer or 'no layer'} (95 % CI excludes 0)")
    if "correlations" in result.tables and not result.tables["correlations"].empty:
        table = result.tables["correlations"]
        corr = table.pivot_table(index="measure", columns="layer", values="r", aggfunc="first", dropna=False)
        corr = corr.reindex(index=list(dict.fromkeys(table["measure"])), columns=sort_layers(table["layer"]))
        print("Pearson r with the output:")
        print(corr.round(2).to_string())
    if "discovery" in result.tables:
        for prop, part in result.tables["discovery"].groupby("property", sort=False):
            top = ", ".join(part["var"].head(7))
            print(f"latents predicting {prop} ({part['method'].iloc[0]}): {top}")
    print("wrote " + ", ".join(str(p) for p in result.paths))
    return 0


def _plot(args) -> int:
    from .plots import plot_folder

    formats = _names(args.formats)
    if not formats:
        raise GanphonError("--formats names no format")
    paths, notes = plot_folder(args.dir, sample_id=args.sample, base=args.base, formats=formats)
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {len(paths)} files to {args.dir}/figures/")
    return 0
