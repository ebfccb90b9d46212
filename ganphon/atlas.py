"""The latent atlas and channel interventions: what each variable, and each group of channels, controls.

**Atlas** (Beguš et al. 2023, "CDEV": causal disentanglement with extreme
values).  Every latent variable — each code ``c1 … ck`` and each ``z`` — is set
to each of a few values (default −15, −5, 0, 5, 15) one at a time, on the same
``bases`` random base latents (paired: every variable uses the same bases);
``0`` sits in the middle of the training range U(−1, 1), i.e. a typical base.
The samples are exported, annotated and measured like any sweep (the design
``atlas`` of :data:`ganphon.sweep.DESIGNS`), and every variable × outcome ×
layer gets an effect.

**Interventions** (GAN Dissection's unit ablation, Bau et al. 2019): the same
bases generated with and without a change of chosen channels of one layer
(:class:`ganphon.probe.Intervention`), and the paired effect on every outcome
of the layers after it and the output.

Outcomes (one number per sample and layer, from the acoustic table measured on
the output's ``auto`` tier): the total duration of ``fric`` and of ``voi``
intervals (0 when there is none; output only, since every layer is measured on
the output's intervals), and the mean over intervals of the per-interval
intensity and F0 (``voi``), F1 and F2 (``voi``, mean of points), the
frication's centre of gravity and peak intensity (``fric``), and the intensity
over every interval whatever its label (``intensity_mean/all``: how loud).

Effects.  Per base, the least-squares slope of the outcome on the value (with
two values, control and intervention, the paired difference); the effect is
the mean of these slopes and its test a t test across bases (df = bases − 1).
For a complete, balanced design this mean *is* the maximum-likelihood fixed
slope of ``y ~ value + (value | base)`` (:func:`ganphon.stats.fit_mixed`; with
every base seeing the same values, generalised least squares equals ordinary
least squares per base — tested), and the t test across bases is that model's
between–within test; it takes microseconds where a mixed-model fit takes about
a second, which matters for 100 variables × 8 outcomes × 6 layers.  A base whose
outcome is undefined at all but one value drops out of that cell (``n_bases``
says how many remain).  The standardised effect is the slope × sd(value) /
sd(outcome) over the cell's rows.  p-values are adjusted over every test of the
table by Holm's step-down method (family-wise error; the ``passes`` column) and,
for reference, Benjamini–Hochberg (false discovery rate, ``p_bh``).  The t test
assumes roughly normal per-base slopes; ``test="signflip"`` uses the sign-flip
randomisation test instead (:func:`signflip_p`: no assumption on their shape,
but its smallest p is 2 / 2^bases, so it needs many bases to pass an atlas-wide
threshold).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import io, layout
from .errors import GanphonError, size_text
from .stats.adjust import benjamini_hochberg, check_alpha, holm  # noqa: F401 (the atlas's adjustments, importable from here)
from .sweep import (  # noqa: F401 (the atlas's design is a sweep design, importable from here)
    DEFAULT_BASES,
    DEFAULT_VALUES,
    atlas_design,
    atlas_size,
    atlas_variables,
)

#: An atlas of more samples than this asks for ``yes`` (100 variables × 5 values × 20 bases).
CONFIRM_SAMPLES = 10_000
#: Measure families an atlas measures by default (formants are the slowest; ``measures=`` adds them).
ATLAS_MEASURES = ("pitch", "intensity", "spectrum", "duration")
ADJUSTMENTS = ("holm", "bh")
#: Tests of a cell's mean per-base slope: t across bases, or the sign-flip (randomisation) test.
TESTS = ("t", "signflip")
#: The sign-flip test enumerates every sign pattern up to this many bases, else draws this many.
SIGNFLIP_EXACT_BASES = 14
SIGNFLIP_DRAWS = 20_000
#: Outcome → (measure in the acoustic table, interval label, how intervals are combined, unit).
OUTCOMES = {
    "duration/fric": ("duration", "fric", "sum", "s"),
    "duration/voi": ("duration", "voi", "sum", "s"),
    "intensity_mean/voi": ("intensity_mean", "voi", "mean", "dB"),
    "f0_mean/voi": ("f0_mean", "voi", "mean", "Hz"),
    "f1/voi": ("f1", "voi", "mean", "Hz"),
    "f2/voi": ("f2", "voi", "mean", "Hz"),
    "cog/fric": ("cog", "fric", "mean", "Hz"),
    "max_intensity/fric": ("max_intensity", "fric", "mean", "dB"),
    "intensity_mean/all": ("intensity_mean", None, "mean", "dB"),
}
#: Samples per second per worker (export + annotate + measure, bundled d = 8 model, output + 5 layers;
#: benchmarks/bench_atlas.py measured 2.5-2.8 on 2 cores under load): the basis of the printed estimate.
SAMPLES_PER_S_PER_WORKER = 3.0
EFFECT_COLUMNS = ["var", "outcome", "layer", "rank", "effect", "se", "ci_low", "ci_high", "df", "t", "p",
                  "p_holm", "p_bh", "passes", "effect_std", "ci_low_std", "ci_high_std", "n_bases", "n_obs",
                  "unit", "p_t", "p_signflip", "test", "adjust"]


# ---------------------------------------------------------------- outcomes and effects

def sample_outcomes(table: pd.DataFrame, outcomes=None) -> pd.DataFrame:
    """One number per (sample, layer, outcome) from a long acoustic table joined with its manifest.

    Parameters
    ----------
    table : DataFrame
        ``acoustics.csv`` of an atlas, sweep or intervention folder (columns
        ``sample_id``, ``layer``, ``label``, ``measure``, ``value``, ``point``
        and the manifest's ``var``, ``sweep_value``, ``base``).
    outcomes : sequence of str, optional
        Names from :data:`OUTCOMES` (default: those whose measure the table has).

    Returns
    -------
    DataFrame
        Columns sample_id, var, value, base, layer, outcome, y.  Durations are
        the output's, summed over intervals (0 when a sample has none); the
        others are means over intervals (point measures: mean of points first),
        NaN when a sample has no interval of the label or Praat found no value.
    """
    need = {"sample_id", "layer", "label", "measure", "value", "sweep_value", "base"}
    missing = need - set(table.columns)
    if missing:
        src = table.attrs.get("source", "acoustic table")
        raise GanphonError(f"{src}: not a measured sweep table (no column(s) {', '.join(sorted(missing))})")
    present = set(table["measure"].dropna().unique())
    names = [o for o in (outcomes or OUTCOMES) if OUTCOMES[o][0] in present] if outcomes is None else list(outcomes)
    for name in names:
        if name not in OUTCOMES:
            raise GanphonError(f"unknown outcome {name!r}; choose from {', '.join(OUTCOMES)}")
    samples = table.drop_duplicates("sample_id")[["sample_id", "sweep_value", "base"]
                                                  + (["var"] if "var" in table.columns else [])]
    samples = samples.rename(columns={"sweep_value": "value"})
    if "var" not in samples.columns:
        samples["var"] = ""
    layers = layout.sort_layers(table["layer"].dropna().astype(str).unique())
    parts = []
    for name in names:
        measure, label, how, _ = OUTCOMES[name]
        rows = table[(table["measure"] == measure) & ((table["label"] == label) if label else table["label"].notna())]
        keys = ["sample_id", "layer", "start"]
        per_interval = rows.groupby(keys, sort=False)["value"].mean().reset_index()
        if how == "sum":
            out_rows = per_interval[per_interval["layer"] == layout.OUTPUT_LAYER]
            y = out_rows.groupby("sample_id")["value"].sum()
            frame = samples[["sample_id"]].copy()
            frame["layer"] = layout.OUTPUT_LAYER
            frame["y"] = frame["sample_id"].map(y).fillna(0.0).astype(float)
        else:
            y = per_interval.groupby(["sample_id", "layer"])["value"].mean()
            grid = pd.MultiIndex.from_product([samples["sample_id"], layers], names=["sample_id", "layer"])
            frame = y.reindex(grid).rename("y").reset_index()
        frame["outcome"] = name
        parts.append(frame)
    if not parts:
        raise GanphonError("the acoustic table has none of the atlas's measures "
                           f"({', '.join(sorted({m for m, *_ in OUTCOMES.values()}))})")
    long = pd.concat(parts, ignore_index=True).merge(samples, on="sample_id", how="left")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    return long[["sample_id", "var", "value", "base", "layer", "outcome", "y"]]


def _cell_slopes(outcomes: pd.DataFrame, keys) -> pd.DataFrame:
    """Per cell (``keys``) and base: the least-squares slope of ``y`` on ``value`` (complete rows,
    bases with at least two distinct values), with the rows' sums for the cell's standard deviations."""
    y = pd.to_numeric(outcomes["y"], errors="coerce").to_numpy(float)
    x = pd.to_numeric(outcomes["value"], errors="coerce").to_numpy(float)
    ok = np.isfinite(y) & np.isfinite(x)
    data = outcomes.loc[ok, list(keys) + ["base"]].copy()
    data["x"], data["y"] = x[ok], y[ok]
    data["xx"], data["xy"], data["yy"], data["n"] = data["x"] ** 2, data["x"] * data["y"], data["y"] ** 2, 1.0
    g = data.groupby(list(keys) + ["base"], sort=False, observed=True)[["n", "x", "y", "xx", "xy", "yy"]].sum()
    sxx = g["xx"] - g["x"] ** 2 / g["n"]
    sxy = g["xy"] - g["x"] * g["y"] / g["n"]
    g["slope"] = np.where(sxx > 1e-12 * np.maximum(g["xx"], 1.0), sxy / sxx.where(sxx != 0, 1.0), np.nan)
    return g.reset_index()


def _effect_rows(g: pd.DataFrame, keys, confidence: float) -> pd.DataFrame:
    """From :func:`_cell_slopes`: one row per cell with the effect, its t test and the standardised effect."""
    from .stats.distributions import t_ppf, t_sf

    n_obs = g.groupby(list(keys), sort=False)["n"].sum().rename("n_obs")
    used = g[np.isfinite(g["slope"])]
    agg = used.groupby(list(keys), sort=False).agg(
        n_bases=("slope", "size"), effect=("slope", "mean"), sd=("slope", "std"),
        n=("n", "sum"), sx=("x", "sum"), sy=("y", "sum"), sxx=("xx", "sum"), syy=("yy", "sum"))
    table = n_obs.to_frame().join(agg, how="left")
    table["n_bases"] = table["n_bases"].fillna(0).astype(int)
    nb = table["n_bases"].to_numpy(float)
    mean = table["effect"].to_numpy(float)
    df = np.where(nb >= 2, nb - 1, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = table["sd"].to_numpy(float) / np.sqrt(nb)
        se = np.where(nb >= 2, se, np.nan)
        t = mean / se
        # every base moved by exactly the same amount: nothing to test against (0 → p 1, else p 0)
        t = np.where(se == 0, np.where(mean == 0, 0.0, np.sign(mean) * np.inf), t)
        p = 2 * t_sf(np.abs(t), df)
        half = t_ppf(0.5 + confidence / 2, df) * se
        n = table["n"].to_numpy(float)
        var_x = (table["sxx"].to_numpy(float) - table["sx"].to_numpy(float) ** 2 / n) / (n - 1)
        var_y = (table["syy"].to_numpy(float) - table["sy"].to_numpy(float) ** 2 / n) / (n - 1)
        k = np.sqrt(np.clip(var_x, 0, None)) / np.sqrt(np.clip(var_y, 0, None))
        k = np.where(np.isfinite(k) & (var_y > 1e-12 * np.maximum(table["syy"].to_numpy(float) / n, 1e-300)),
                     k, np.nan)
    table = table.assign(se=se, df=df, t=t, p=p, ci_low=mean - half, ci_high=mean + half,
                         effect_std=mean * k, ci_low_std=(mean - half) * k, ci_high_std=(mean + half) * k)
    table.loc[nb < 2, ["effect", "p", "t", "effect_std", "ci_low_std", "ci_high_std"]] = np.nan
    table["n_obs"] = table["n_obs"].astype(int)
    return table.reset_index()


def signflip_p(slopes: pd.DataFrame, keys, seed: int = 0) -> pd.Series:
    """Sign-flip (randomisation) p of each cell's mean per-base slope being 0.

    Under "no effect" each base's slope is as likely to be −s as s; the p is
    the share of sign patterns whose |sum of slopes| reaches the observed one:
    every pattern up to :data:`SIGNFLIP_EXACT_BASES` bases (exact; the smallest
    p is 2 / 2^bases), else :data:`SIGNFLIP_DRAWS` random patterns plus the
    observed one.  It assumes no shape of the slopes' distribution, which the t
    test does (normal), at the price of power with few bases.
    """
    used = slopes.loc[np.isfinite(slopes["slope"]), list(keys) + ["slope"]].copy()
    used["_i"] = used.groupby(list(keys), sort=False).cumcount()
    wide = used.pivot(index=list(keys), columns="_i", values="slope")         # [cells, most bases], NaN-padded
    mat_all = wide.to_numpy(float)
    sizes = np.isfinite(mat_all).sum(axis=1)
    names_all = list(wide.index)
    out = {}
    rng = np.random.default_rng(seed)
    for nb in np.unique(sizes):
        if nb < 2:
            continue
        rows = np.flatnonzero(sizes == nb)
        if nb <= SIGNFLIP_EXACT_BASES:
            codes = np.arange(2 ** nb)
            signs = 1.0 - 2.0 * ((codes[None, :] >> np.arange(nb)[:, None]) & 1)   # [nb, 2^nb]
        else:
            signs = np.concatenate([np.ones((nb, 1)), rng.choice([-1.0, 1.0], (nb, SIGNFLIP_DRAWS))], axis=1)
        mat = mat_all[rows, :nb]                                                    # [cells, nb]
        names = [names_all[r] for r in rows]
        step = max(1, 2_000_000 // signs.shape[1])
        for lo in range(0, len(names), step):
            part = mat[lo : lo + step]
            obs = np.abs(part.sum(axis=1))
            flipped = np.abs(part @ signs)
            hits = (flipped >= obs[:, None] * (1 - 1e-12) - 1e-300).mean(axis=1)
            out.update(zip(names[lo : lo + step], hits))
    index = pd.MultiIndex.from_tuples(list(out), names=list(keys)) if len(keys) > 1 else list(out)
    return pd.Series(list(out.values()), index=index, dtype=float, name="p_signflip")


def cell_effect(frame: pd.DataFrame, confidence: float = 0.95) -> dict:
    """The effect of ``value`` on ``y`` in one cell (rows of one variable, outcome and layer):
    mean per-base slope, t test across bases, standardised effect — one row of :func:`atlas_effects`."""
    frame = frame.assign(_cell=0)
    row = _effect_rows(_cell_slopes(frame, ["_cell"]), ["_cell"], confidence).iloc[0]
    return {k: row[k] for k in ("effect", "se", "ci_low", "ci_high", "df", "t", "p", "effect_std",
                                "ci_low_std", "ci_high_std", "n_bases", "n_obs")}


def atlas_effects(outcomes: pd.DataFrame, alpha: float = 0.05, adjust: str = "holm",
                  confidence: float = 0.95, test: str = "t") -> pd.DataFrame:
    """Every variable × outcome × layer effect, adjusted over the whole table and ranked.

    Parameters
    ----------
    outcomes : DataFrame
        From :func:`sample_outcomes`.
    alpha : float
        Threshold of the adjusted p for ``passes``.
    adjust : {"holm", "bh"}
        Which adjusted p decides ``passes`` (both are reported).
    confidence : float
        Of the intervals.
    test : {"t", "signflip"}
        The p that is adjusted (column ``p``): the t test across bases, or the
        sign-flip test (:func:`signflip_p`); both are reported (``p_t``, ``p_signflip``).

    Returns
    -------
    DataFrame
        Columns :data:`EFFECT_COLUMNS`: the effect in the outcome's units per
        unit of the variable (``unit``), its se, t interval, df, t, p, Holm and
        BH adjusted p, ``passes``, the standardised effect and interval, the
        bases and observations used, and ``rank`` — the variable's place within
        its outcome and layer (passing first, then by |standardised effect|).
        Rows sorted: passing first, then by adjusted p and |standardised effect|.
    """
    if adjust not in ADJUSTMENTS:
        raise GanphonError(f"adjust must be one of {', '.join(ADJUSTMENTS)}, got {adjust!r}")
    check_alpha(alpha)
    if test not in TESTS:
        raise GanphonError(f"test must be one of {', '.join(TESTS)}, got {test!r}")
    keys = ["var", "outcome", "layer"]
    if outcomes.empty:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    outcomes = outcomes.assign(**{k: outcomes[k].astype(str) for k in keys})
    slopes = _cell_slopes(outcomes, keys)
    table = _effect_rows(slopes, keys, confidence)
    flips = signflip_p(slopes, keys)
    table["p_t"] = table["p"]
    table["p_signflip"] = flips.reindex(pd.MultiIndex.from_frame(table[keys])).to_numpy()
    table["p"] = table["p_t" if test == "t" else "p_signflip"]
    table["test"] = test
    table["unit"] = table["outcome"].map(lambda o: OUTCOMES.get(o, ("", "", "", ""))[3])
    table["p_holm"] = holm(table["p"])
    table["p_bh"] = benjamini_hochberg(table["p"])
    table["passes"] = (table["p_holm" if adjust == "holm" else "p_bh"] < alpha).fillna(False).astype(bool)
    table["adjust"] = adjust
    table["_size"] = table["effect_std"].abs().fillna(-1.0)
    table["rank"] = (table.sort_values(["passes", "_size"], ascending=[False, False], kind="stable")
                     .groupby(["outcome", "layer"]).cumcount() + 1).reindex(table.index)
    table["_p"] = table["p_holm" if adjust == "holm" else "p_bh"].fillna(2.0)
    table = table.sort_values(["passes", "_p", "_size"], ascending=[False, True, False], kind="stable")
    return table[EFFECT_COLUMNS].reset_index(drop=True)


def top_variable(effects: pd.DataFrame, outcome: str, layer: str = layout.OUTPUT_LAYER):
    """The row ranked first for ``outcome`` in ``layer`` (None when the table has none)."""
    rows = effects[(effects["outcome"] == outcome) & (effects["layer"] == layer)]
    return None if rows.empty else rows.sort_values("rank").iloc[0]


# ---------------------------------------------------------------- running one

@dataclass
class AtlasResult:
    """What :func:`run_atlas` and :func:`run_intervention` return."""

    folder: Path
    effects: pd.DataFrame
    table: Path
    figures: list = field(default_factory=list)
    page: Path | None = None
    sentence: str = ""
    seconds: dict = field(default_factory=dict)


def estimate(n_samples: int, n_series: int, workers: int | None, n_bytes: int | None = None) -> str:
    """One line: samples, the disk they take and the time they should take at the measured rate
    (``workers`` as the pool reads it: None is its default)."""
    from .parallel import check_workers

    workers = check_workers(workers, n_samples)
    seconds = n_samples / (SAMPLES_PER_S_PER_WORKER * workers) * max(1.0, n_series / 6)
    when = f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"
    disk = f", about {size_text(n_bytes)} as files" if n_bytes is not None else ""
    return f"{n_samples:,} samples × {n_series} series{disk}, about {when} with {workers} worker(s)"


def _analyse(model, design, out, *, layers, measures, store, workers, settings, batch_size, device,
             overwrite, progress, command, request, seed, interventions=(), intervene=None, scheduler=None):
    """Export (files or store), annotate and measure ``design`` into ``out``; the acoustic table."""
    from .acoustics import check_measures

    measures = check_measures(measures)
    out = Path(out)
    if store != "files":
        from .store import check_store_kind, run_store
        from .store_analysis import analyse_store

        check_store_kind(store)
        if interventions:
            raise GanphonError("--store zarr does not take interventions yet; use the files store")
        run_store(model, design.latents, out, sample_ids=design.sample_ids, conditions=design.conditions,
                  columns=design.columns, layers=layers, seed=seed, request=request, command=command,
                  batch_size=batch_size, device=device, overwrite=overwrite, progress=progress, scheduler=scheduler)
        io.write_json(out / layout.SWEEP_JSON, request.get("spec", request))
        table, _ = analyse_store(out, measures=measures, layer_settings=settings, workers=workers,
                                 progress=progress, write_table=True, scheduler=scheduler)
        return table
    from .acoustics import measure_to_file
    from .annotate import annotate_folder
    from .export import run_export

    run_export(model, design.latents, out, sample_ids=design.sample_ids, conditions=design.conditions,
               columns=design.columns, layers=layers, seed=seed, request=request, command=command,
               batch_size=batch_size, device=device, overwrite=overwrite, progress=progress,
               interventions=interventions, intervene=intervene)
    io.write_json(out / layout.SWEEP_JSON, request.get("spec", request))
    annotate_folder(out, progress=progress, workers=workers, scheduler=scheduler)
    table, _, _ = measure_to_file(out, out / layout.ACOUSTICS, tier="auto", measures=measures, settings=settings,
                                  workers=workers, command=command, progress=progress, overwrite=True,
                                  scheduler=scheduler)
    return table


@layout.folder_locks()  # another process writing the same folder is refused
def run_atlas(checkpoint, out, *, values=DEFAULT_VALUES, bases: int = DEFAULT_BASES, variables=None,
              seed: int = 0, code=None, layers=None, measures=ATLAS_MEASURES, outcomes=None,
              alpha: float = 0.05, adjust: str = "holm", test: str = "t", store: str = "files", workers=None,
              settings: str = "default", batch_size: int = 64, device=None, overwrite: bool = False,
              progress: bool = True, command: str | None = None, yes: bool = False, explore_vars: int = 6,
              explore_bases: int = 2, figures: bool = True, announce: bool = True, scheduler=None) -> AtlasResult:
    """Every latent variable at extreme values over paired bases: export, measure, rank what each controls.

    Parameters
    ----------
    checkpoint : path-like or LoadedModel
    out : path-like
    values : sequence of float
        Values every variable is set to (default −15, −5, 0, 5, 15).
    bases : int
        Base latents shared by every variable (≥ 2).
    variables : list of str, optional
        Default every one (``c1 … ck``, ``z1 …``).
    seed, code
        Of the base latents.
    layers : list of str, optional
        Layers exported and measured (default all).
    measures : sequence of str
        Measure families (default :data:`ATLAS_MEASURES`; add ``formants`` for F1/F2).
    outcomes : sequence of str, optional
        Names from :data:`OUTCOMES` (default every one measured).
    alpha, adjust, test
        See :func:`atlas_effects`.
    store : {"files", "zarr"}
    workers : int, optional
        Processes for annotating and measuring (None: one per CPU).
    scheduler : DaskScheduler, optional
        Run that work on Dask (:func:`ganphon.parallel_dask.use_scheduler`).
    yes : bool
        Run an atlas of more than :data:`CONFIRM_SAMPLES` samples (or past the disk estimate).
    explore_vars, explore_bases : int
        The explorer page shows the top-ranked variables (0: no page) on this many bases.
    figures : bool
        Draw the heatmap.
    announce : bool
        Print the size estimate (samples, disk, time) before starting.

    Returns
    -------
    AtlasResult
        ``effects`` is also written to ``out/atlas.csv``.
    """
    from .models import load_checkpoint
    from .probe import check_layers
    from .sweep import check_size, make_design

    spec = {"kind": "atlas", "values": [float(v) for v in values], "bases": int(bases), "seed": int(seed)}
    if variables is not None:
        spec["variables"] = list(variables) if not isinstance(variables, str) else variables
    if code is not None:
        spec["code"] = code
    model = checkpoint if hasattr(checkpoint, "generator") else load_checkpoint(checkpoint, qnetwork=False)
    layers = check_layers(model.generator, layers)
    n = atlas_size(spec, model.config, "atlas")
    line = estimate(n, len(layers) + 1, workers, check_size(model, n, out, yes=True, option="--bases"))
    if announce:
        print(f"atlas: {line}", flush=True)
    if n > CONFIRM_SAMPLES and not yes:
        raise GanphonError(f"atlas: {line}; more than {CONFIRM_SAMPLES:,} samples: pass --yes to run it")
    design = make_design(model.config, spec, "atlas")
    check_size(model, len(design), out, yes=yes, option="--bases")
    request = {"kind": "sweep", "spec": spec}
    timings = {}
    started = time.perf_counter()
    table = _analyse(model, design, out, layers=layers, measures=measures, store=store, workers=workers,
                     settings=settings, batch_size=batch_size, device=device, overwrite=overwrite,
                     progress=progress, command=command, request=request, seed=int(seed), scheduler=scheduler)
    timings["export_annotate_measure"] = time.perf_counter() - started
    started = time.perf_counter()
    effects = atlas_effects(sample_outcomes(table, outcomes), alpha=alpha, adjust=adjust, test=test)
    out = Path(out)
    io.write_table(effects, out / layout.ATLAS_CSV)
    timings["effects"] = time.perf_counter() - started
    result = AtlasResult(folder=out, effects=effects, table=out / layout.ATLAS_CSV, seconds=timings)
    if figures:
        from .plots import plot_atlas

        result.figures = plot_atlas(effects, out / layout.FIGURES_DIR / layout.FIGURE_ATLAS, alpha=alpha)
    if explore_vars:
        from .report.explore import build_explorer

        top = (effects[effects["layer"] == layout.OUTPUT_LAYER].sort_values("rank", kind="stable")
               .drop_duplicates("var")["var"].tolist()[:explore_vars])
        keep = design.columns["var"].isin(top) & (design.columns["base"] < explore_bases)
        ids = [sid for sid, k in zip(design.sample_ids, keep) if k]
        if store == "files" and ids:
            result.page = build_explorer(out, progress=progress, sample_ids=ids)
    result.sentence = atlas_sentence(effects, len(design), int(bases))
    return result


def atlas_sentence(effects: pd.DataFrame, n_samples: int, n_bases: int) -> str:
    """One sentence of conclusion: how many effects pass, and the strongest of the output."""
    passing = effects[effects["passes"]]
    adjust = str(effects["adjust"].iloc[0]) if len(effects) else "holm"
    name = {"holm": "Holm", "bh": "Benjamini–Hochberg"}[adjust]
    out = effects[(effects["layer"] == layout.OUTPUT_LAYER) & effects["passes"]]
    head = (f"Of {len(effects):,} variable × outcome × layer effects ({n_samples:,} samples, {n_bases} paired "
            f"bases), {len(passing):,} pass the {name}-adjusted threshold")
    if out.empty:
        return head + "; none in the output."
    best = out.assign(_a=out["effect_std"].abs()).sort_values("_a", ascending=False).iloc[0]
    return (head + f"; in the output the strongest is {best['var']} on {best['outcome']} "
            f"({best['effect']:+.3g} {best['unit']} per unit, standardised {best['effect_std']:+.2f}, "
            f"95 % CI {best['ci_low_std']:+.2f} … {best['ci_high_std']:+.2f}).")


# ---------------------------------------------------------------- interventions

def select_channels(text: str, layer: str, *, seed: int = 0) -> tuple:
    """Channels named on a command line.

    * ``3,17,40`` or ``0-7``: those channels;
    * ``cluster:DIR`` (or ``cluster:DIR:K``): the channels of ``layer`` in the
      smaller spectral cluster (or cluster ``K``) of the activation profiles
      in ``DIR/featuremaps_<layer>.npy`` (``ganphon probe --feature-maps``;
      paper §IV-E: γ = 1e-10, k = 2) — the paper's [s] maps were the few;
    * ``top:DIR:N:OUTCOME``: the ``N`` channels whose mean activation per
      sample correlates most (|Pearson r|) with the sample's ``OUTCOME`` (e.g.
      ``duration/fric``) in the output of the measured probe folder ``DIR``.
    """
    from .probe import parse_channels

    text = str(text).strip()
    if text.startswith("cluster:"):
        from .stats.feature_maps import activation_profiles, cluster_feature_maps

        rest = text[len("cluster:"):]
        folder, _, which = rest.rpartition(":") if rest.rsplit(":", 1)[-1].isdigit() else (rest, "", "")
        maps = _feature_maps(folder, layer)
        labels = cluster_feature_maps(activation_profiles(maps), seed=seed)
        counts = np.bincount(labels)
        k = int(which) if which else int(np.argmin(np.where(counts > 0, counts, np.iinfo(int).max)))
        chans = tuple(int(c) for c in np.flatnonzero(labels == k))
        if not chans:
            raise GanphonError(f"{folder}: cluster {k} of {layer} holds no channels (clusters 0…{len(counts) - 1})")
        return chans
    if text.startswith("top:"):
        parts = text[len("top:"):].split(":")
        if len(parts) != 3 or not parts[1].isdigit():
            raise GanphonError(f"--channels {text!r}: expected top:DIR:N:OUTCOME, e.g. top:probe_run:8:duration/fric")
        folder, n_top, outcome = parts[0], int(parts[1]), parts[2]
        return correlated_channels(folder, layer, outcome, n_top)
    return parse_channels(text)


def _feature_maps(folder, layer) -> np.ndarray:
    path = Path(folder) / layout.feature_maps(layer)
    if not path.is_file():
        raise GanphonError(f"{path}: no feature maps of {layer}; run 'ganphon probe --feature-maps {layer}' "
                           f"into {folder}")
    return np.load(path, mmap_mode="r")


def correlated_channels(folder, layer: str, outcome: str, n: int) -> tuple:
    """The ``n`` channels of ``layer`` whose per-sample mean activation correlates most with ``outcome``."""
    from .stats.tables import read_acoustics

    maps = _feature_maps(folder, layer)
    table = read_acoustics(folder)
    if "sweep_value" not in table.columns:
        table = table.assign(sweep_value=0.0, base=0)
    ys = sample_outcomes(table, [outcome])
    ys = ys[ys["layer"] == layout.OUTPUT_LAYER].set_index("sample_id")["y"]
    man = io.read_manifest(Path(folder))
    order = man.drop_duplicates("sample_id")["sample_id"].tolist()
    y = ys.reindex(order).to_numpy(float)
    act = np.asarray(maps, dtype=np.float64).mean(axis=2)  # [N, C]
    ok = np.isfinite(y)
    if ok.sum() < 3:
        raise GanphonError(f"{folder}: fewer than 3 samples with a value of {outcome}")
    a, yy = act[ok] - act[ok].mean(0), y[ok] - y[ok].mean()
    denom = np.sqrt((a ** 2).sum(0) * (yy ** 2).sum())
    r = np.where(denom > 0, (a * yy[:, None]).sum(0) / np.where(denom > 0, denom, 1), 0.0)
    return tuple(int(c) for c in np.argsort(-np.abs(r), kind="stable")[:n])


def intervention_design(cfg, bases: int, seed: int, code=None, label: str = "intervention"):
    """Each base latent twice: as it is (``control``) and with the intervention (``b003_on``)."""
    import torch

    from .models import Latent
    from .sweep import Design

    if bases < 2:
        raise GanphonError(f"an intervention needs at least 2 bases (effects are tested across bases), got {bases}")
    z0 = Latent(cfg).sample(int(bases), int(seed), code=code)
    z = torch.repeat_interleave(z0, 2, dim=0)
    ids, conds, rows = [], [], []
    for b in range(bases):
        for on in (False, True):
            ids.append(layout.intervention_sample_id(b, on))
            conds.append(label if on else "control")
            rows.append({"var": "intervention", "value": float(on), "base": b})
    return Design(z, ids, conds, pd.DataFrame(rows), {"kind": "intervention", "bases": bases, "seed": seed})


@layout.folder_locks()  # another process writing the same folder is refused
def run_intervention(checkpoint, out, interventions, *, bases: int = DEFAULT_BASES, seed: int = 0, code=None,
                     layers=None, measures=ATLAS_MEASURES, outcomes=None, alpha: float = 0.05,
                     adjust: str = "holm", test: str = "t", workers=None, settings: str = "default", batch_size: int = 64,
                     device=None, overwrite: bool = False, progress: bool = True,
                     command: str | None = None, scheduler=None, yes: bool = False) -> AtlasResult:
    """The same bases with and without ``interventions``: export both, measure, paired effects.

    Every base latent is generated twice into ``out`` (``b000_off`` with the
    ``condition`` tier ``control``, ``b000_on`` with the intervention's label),
    annotated and measured; the effect of each outcome in the intervened layer,
    every layer after it and the output is the mean paired difference
    (intervention − control) over bases with a paired t test, adjusted as in
    :func:`atlas_effects`.  Written to ``out/intervention.csv``.  Its size is
    checked before the bases are drawn, as a sweep's (``yes``: past 10 GiB, a
    million samples or the free disk).
    """
    from .models import load_checkpoint
    from .probe import check_interventions, check_layers
    from .sweep import check_size

    model = checkpoint if hasattr(checkpoint, "generator") else load_checkpoint(checkpoint, qnetwork=False)
    G = model.generator
    ivs = check_interventions(G, interventions)
    if not ivs:
        raise GanphonError("no intervention given")
    layers = check_layers(G, layers)
    label = "; ".join(iv.label for iv in ivs)
    check_size(model, 2 * int(bases), out, yes=yes, option="--bases")  # each base twice
    design = intervention_design(model.config, int(bases), int(seed), code, label)
    mask = np.array([on for on in (design.columns["value"] > 0)])
    spec = {"kind": "intervention", "bases": int(bases), "seed": int(seed), "code": code,
            "interventions": [iv.to_dict() for iv in ivs]}
    request = {"kind": "intervene", "spec": spec}
    started = time.perf_counter()
    table = _analyse(model, design, out, layers=layers, measures=measures, store="files", workers=workers,
                     settings=settings, batch_size=batch_size, device=device, overwrite=overwrite,
                     progress=progress, command=command, request=request, seed=int(seed),
                     interventions=ivs, intervene=mask, scheduler=scheduler)
    seconds = {"export_annotate_measure": time.perf_counter() - started}
    first = min(layout.layer_rank(iv.layer) for iv in ivs)
    ys = sample_outcomes(table, outcomes)
    ys = ys[ys["layer"].map(lambda name: layout.layer_rank(name) >= first)]
    effects = atlas_effects(ys, alpha=alpha, adjust=adjust, test=test)
    effects["var"] = label
    order = {name: i for i, name in enumerate(layout.sort_layers(effects["layer"]))}
    effects = (effects.assign(_r=effects["layer"].map(order)).sort_values(["_r", "outcome"], kind="stable")
               .drop(columns="_r").reset_index(drop=True))
    out = Path(out)
    io.write_table(effects, out / layout.INTERVENTION_CSV)
    result = AtlasResult(folder=out, effects=effects, table=out / layout.INTERVENTION_CSV, seconds=seconds)
    result.sentence = intervention_sentence(effects, label, int(bases))
    return result


def intervention_sentence(effects: pd.DataFrame, label: str, n_bases: int) -> str:
    """One sentence: the intervention's largest passing effect in the output (or that none passed)."""
    out = effects[effects["layer"] == layout.OUTPUT_LAYER]
    passing = out[out["passes"]]
    name = {"holm": "Holm", "bh": "Benjamini–Hochberg"}[str(effects["adjust"].iloc[0])] if len(effects) else "Holm"
    if passing.empty:
        return (f"{label} changed no outcome of the output beyond the {name}-adjusted threshold "
                f"({n_bases} paired bases).")
    best = passing.assign(_a=passing["effect_std"].abs()).sort_values("_a", ascending=False).iloc[0]
    n_more = len(passing) - 1
    return (f"{label} changed {best['outcome']} of the output by {best['effect']:+.3g} {best['unit']} "
            f"(95 % CI {best['ci_low']:+.3g} … {best['ci_high']:+.3g}, paired t over {int(best['n_bases'])} bases, "
            f"{name}-adjusted p = {best['p_holm' if name == 'Holm' else 'p_bh']:.2g})"
            + (f", and {n_more} other output outcome(s) too." if n_more else "."))
