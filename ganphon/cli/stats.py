"""``ganphon stats``: mixed models, tests, layer effects and correlations of a measured folder."""

from __future__ import annotations

from ..errors import GanphonError
from .options import (add_out, add_quiet, add_seed, add_workers, describe, input_folder, name_list, names, positive_int,
                      prestart_workers)


#: What the model-fitting workers preload (ganphon.stats.mixed.WORKER_MODULES), named here so that starting
#: them does not wait for that import: they import it while the command reads and joins the table.
_WORKER_MODULES = ("ganphon.stats.mixed",)


def stats(p) -> None:
    describe(p, "Read DIR/acoustics.csv or DIR/acoustics.parquet, joined with DIR/manifest.csv (a store made with --store zarr: its Parquet parts, only the rows of "
             "--measures) and write DIR/stats/: per outcome, interval label and layer the "
             "mixed model 'outcome ~ value' by ML (--reml: REML estimates) with random intercept and slope by "
             "base latent (mixed_models.csv, lrt.csv, summaries.txt; estimates per raw unit, t intervals with "
             "Satterthwaite df, likelihood-ratio p), each model's frame and a refit.R (frames/), standardised "
             "effects per layer and the first layer where the effect appears (effects.csv), Pearson r of "
             "every layer with the output (correlations.csv) and stats.json. F0, formants and intensity are "
             "modelled in 'voi' intervals, spectral moments and max_intensity in 'fric', duration in both, "
             "and only in the output (and layers segmented with 'annotate --layers'). A folder without "
             "sweep columns gets the correlation table only.")
    p.add_argument("dir", metavar="DIR", type=input_folder,
                   help="folder with acoustics.csv or .parquet (from 'ganphon sweep' or 'ganphon measure'), "
                   "or a measured store")
    p.add_argument("--measures", type=name_list, default="intensity,f0,f1,f2,duration,cog,max_intensity",
                   help="comma-separated outcomes (measure names of the table)")
    p.add_argument("--layers", type=name_list, default=None, help="comma-separated layers to model (default: every layer)")
    p.add_argument("--labels", type=name_list, default=None,
                   help="comma-separated interval labels to model in, one model per label, e.g. 'voi,fric' "
                   "(default: 'voi' for F0/formants/intensity, 'fric' for spectral moments and max_intensity, "
                   "both for duration)")
    p.add_argument("--label-interaction", action="store_true",
                   help="one model 'value * label' over the chosen labels instead of one model per label")
    # the engines of ganphon.stats.lme4.ENGINES (not imported here: --help stays light)
    p.add_argument("--engine", choices=("statsmodels", "lme4", "both"), default="statsmodels",
                   help="who fits the mixed models: statsmodels, R's lme4 + lmerTest via Rscript (needs "
                   "r-base-core r-cran-lme4 r-cran-lmertest; Satterthwaite df), or both (statsmodels "
                   "reported, disagreements flagged, parity.csv)")
    p.add_argument("--df", choices=("satterthwaite", "bases"), default="satterthwaite",
                   help="degrees of freedom of the t intervals and Wald p: Satterthwaite (lmerTest's, in both "
                   "engines; the default) or bases (between-within: bases - 1 for the value slope, a little "
                   "conservative)")
    p.add_argument("--reml", action="store_true",
                   help="report REML estimates, standard errors and intervals (the likelihood-ratio test, "
                   "AIC and BIC stay ML)")
    add_out(p, required=False, metavar="OUT",
            help="write the tables into OUT instead of DIR/stats (e.g. one folder per set of options)")
    p.add_argument("--presence", type=name_list, default=None, metavar="LABELS",
                   help="comma-separated interval labels, e.g. fric: model whether each output has one in its "
                   "'auto' tier (has_fric, 0/1) on value by a logistic mixed model (Laplace, as glmer), layer "
                   "output")
    p.add_argument("--point-agg", choices=("mean", "median"), default="mean",
                   help="summary of point measures over an interval's points, in the models and the "
                   "correlation table (one pair per interval)")
    p.add_argument("--no-random-slope", action="store_true",
                   help="random intercept by base only (otherwise intercept and slope; then an "
                   "uncorrelated slope, then the intercept alone, when a fit does not converge)")
    p.add_argument("--discover", action="store_true",
                   help="rank latent variables by how they predict frication in the outputs' 'auto' tier "
                   "(discovery.csv; needs latents.csv and annotated TextGrids)")
    p.add_argument("--gam", action="store_true", help="also fit B-spline GAMs of each outcome on value")
    p.add_argument("--gam-df", type=positive_int, default=5, help="degrees of freedom of the GAM's B-splines")
    p.add_argument("--label-column", default=None, metavar="COLUMN",
                   help="a folder from 'ganphon probe --network q|critic --wavs': score the network's "
                   "predictions against this manifest column, e.g. word (predictions.csv, confusion.csv, "
                   "prediction_accuracy.csv)")
    p.add_argument("--include-artefacts", action="store_true",
                   help="keep the F0 values that lie on a generator artefact frequency (acoustics.csv's f0_artefact: "
                   "the upsampling stack's periods, a layer's native rate, ½ and ⅓ of each) in the models and "
                   "correlations; by default they are left out, counted, and each outcome's note says how its "
                   "result moves with them")
    p.add_argument("--allow-stale", action="store_true",
                   help="fit a table measured before the folder's TextGrids changed or before the folder was "
                   "exported again, or one changed after its record was written (refused otherwise; a note says what "
                   "changed, stats.json records it)")
    add_seed(p, help="seed of the k-means in the feature-map clustering")
    add_workers(p, "fitting the models")
    add_quiet(p)
    p.set_defaults(func=_stats, prestart=prestart_workers(_WORKER_MODULES, unless=lambda a: a.engine == "lme4"))


def _stats(args) -> int:
    from ..stats import run_stats, sort_layers

    measures = names(args.measures)
    if not measures:
        raise GanphonError("--measures names no measure")
    result = run_stats(args.dir, measures=measures, outcome_layers=names(args.layers),
                       labels=names(args.labels), point_agg=args.point_agg,
                       random_slope=not args.no_random_slope, discover_latents=args.discover,
                       gam=args.gam, gam_df=args.gam_df, cluster_seed=args.seed,
                       command=args.command_line, workers=args.workers, scheduler=args.scheduler,
                       progress=not args.quiet,
                       engine=args.engine, label_interaction=args.label_interaction,
                       label_column=args.label_column, reml=args.reml, df=args.df, out=args.out,
                       presence=names(args.presence), include_artefacts=args.include_artefacts,
                       allow_stale=args.allow_stale)
    for note in result.notes:
        print(f"note: {note}")
    for outcome, layer in result.first_layers.items():
        adjusted = result.first_layers_holm.get(outcome)
        holm = f"; Holm-adjusted over the layers: {adjusted or 'in none'}" if adjusted != layer else ""
        if layer:
            print(f"{outcome}: the value effect first appears in {layer} (95 % CI excludes 0{holm})")
        else:
            print(f"{outcome}: the value effect's 95 % CI includes 0 in every layer")
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
