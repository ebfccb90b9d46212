"""All statistics of an exported, measured folder, written into ``DIR/stats/``."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io, layout
from ..errors import GanphonError, ParameterError, name_list
from .correlate import EFFECT_COLUMNS, correlation_table, effect_by_layer, first_layer
from .discover import discover, frication_property
from .feature_maps import activation_profiles, cluster_feature_maps, read_feature_maps
from .lme4 import (ENGINES, FRAMES_DIR, find_rscript, fit_tasks_lme4, flag_disagreements, parity_table,
                   refit_script, write_frame)
from .mixed import (DF_METHODS, GAM_DEGREE, MIN_BASES, coefficient_table, fit_gam, fit_tasks, gam_curves, lrt_table,
                    mixed_tasks, model_name)
from .tables import (STATS_DIR, SWEEP_MEASURES, TEXTGRID_MEASURES, artefact_flags, check_interval_columns,
                     compose, default_labels, distinct, has_sweep, model_frame, read_acoustics, read_latents,
                     segmented_layers, sort_layers)

#: Tables :func:`run_stats` may write into ``DIR/stats/``.
STATS_TABLES = ("mixed_models", "lrt", "effects", "parity", "gam_curves", "correlations", "discovery",
                "feature_map_clusters", "predictions", "confusion", "prediction_accuracy")


# --------------------------------------------------------------------------
# A folder


@dataclass
class StatsResult:
    """What :func:`run_stats` computed: its tables, summaries and notes, and the files written."""

    tables: dict
    summaries: str
    notes: list
    paths: list
    first_layers: dict
    #: The same with Holm's adjustment over the layers (:func:`~ganphon.stats.first_layer`, ``adjust="holm"``).
    first_layers_holm: dict = field(default_factory=dict)


def _manifest_seeds(folder: Path) -> list:
    from ..store import is_store, open_store

    if is_store(folder):
        seeds = open_store(folder).manifest().get("seed")
        return [] if seeds is None else sorted({int(s) for s in seeds.dropna()})
    path = folder / layout.MANIFEST
    if not path.is_file():
        return []
    manifest = io.read_table(path, "manifest", usecols=lambda c: c == "seed")
    if "seed" not in manifest.columns:
        return []
    return sorted({int(s) for s in manifest["seed"].dropna()})


def _sweep_models(table, measures, outcome_layers, labels, label_interaction, point_agg, random_slope, notes,
                  reml=False, df="satterthwaite"):
    """The models of a sweep: (task, frame) pairs, per measure, label and layer (see :func:`run_stats`)."""
    segmented = segmented_layers(table)
    present_labels = {str(x) for x in distinct(table["label"])} if "label" in table.columns else set()
    prepared = []
    for measure in measures:
        chosen = list(labels) if labels else list(default_labels(measure))
        available = [lab for lab in chosen if lab in present_labels]
        missing = [lab for lab in chosen if lab not in present_labels]
        if missing:
            notes.append(f"{measure}: no interval labelled {', '.join(missing)}; not modelled there")
        if not available:
            continue
        layers = outcome_layers
        if measure == "duration":
            # every layer measured on the output's intervals has the output's durations
            layers = [x for x in (outcome_layers or segmented) if x in segmented]
            if not layers:
                notes.append("duration: none of the chosen layers was segmented itself (annotate --layers); "
                             "not modelled")
                continue
        groups = [available] if label_interaction and len(available) > 1 else [[lab] for lab in available]
        for group in groups:
            try:
                # the caller has decided about the artefact rows
                frame = model_frame(table, measure, point_agg=point_agg, labels=group, layers=layers,
                                    include_artefacts=True)
            except GanphonError as exc:
                notes.append(str(exc))
                continue
            label = "+".join(group)
            rhs = ("value * C(label)", "C(label)") if len(group) > 1 else ("value", "1")
            try:
                tasks = mixed_tasks(frame, measure, random_slope=random_slope, single_base="ols", label=label,
                                    rhs=rhs, reml=reml, df=df, notes=notes)
            except GanphonError as exc:
                notes.append(f"{model_name(measure, label)}: {exc}")
                continue
            prepared += [(task, frame) for task in tasks]
    return prepared


def _check_labels(table, labels, presence) -> None:
    """Refuse interval labels asked for by name that no row of the table has (a typo, not a finding);
    a presence label may also be one the ``auto`` tier is made of (its absence everywhere is a result)."""
    have = sorted({str(x) for x in distinct(table["label"])}) if "label" in table.columns else []
    for parameter, asked, known in (("labels", labels, have), ("presence", presence, [*have, *layout.AUTO_LABELS])):
        unknown = [lab for lab in asked or () if lab not in known]
        if unknown:
            raise ParameterError(parameter, f"no interval is labelled {', '.join(map(repr, unknown))} in the "
                                            f"table (its labels: {', '.join(have) or 'none'})")


def _presence_models(folder, table, presence, random_slope, notes):
    """Logistic mixed models of whether each output has an interval of each label (``has_<label>``)."""
    keys = table.loc[table["layer"].astype(str) == layout.OUTPUT_LAYER, ["sample_id", "base", "sweep_value"]]
    keys = keys.dropna().drop_duplicates("sample_id").rename(columns={"sweep_value": "value"})
    prepared = []
    for label in presence:
        try:
            prop = frication_property(folder, label=label)
        except GanphonError as exc:
            notes.append(f"presence of '{label}': {exc}")
            continue
        outcome = f"has_{label}"
        frame = keys.merge(prop[["sample_id", outcome]], on="sample_id", how="left").assign(
            layer=layout.OUTPUT_LAYER, label=label)
        try:
            tasks = mixed_tasks(frame, outcome, random_slope=random_slope, single_base="ols", label=label,
                                family="binomial", notes=notes)
        except GanphonError as exc:
            notes.append(f"{model_name(outcome, label)}: {exc}")
            continue
        prepared += [(task, frame) for task in tasks]
    return prepared


def _why_dropped(fit) -> str:
    """`` (reason)``: why the fit's first random structures were left (the fit chain's own words)."""
    reasons = [w.split(" dropped: ", 1)[1] if " dropped: " in w else w.split(" not tried: ", 1)[1]
               for w in fit.warnings if (" model dropped: " in w or " not tried: " in w)
               and not w.startswith("model without value")]
    return f" ({reasons[0]})" if reasons else ""


def _check_table_complete(folder: Path, table: pd.DataFrame) -> None:
    """Refuse an acoustic table cut short: a last row without its newline, or manifest files it lacks."""
    from ..io import acoustics_path, ends_mid_row, is_parquet

    path = acoustics_path(folder)
    if not is_parquet(path) and ends_mid_row(path):  # a Parquet file cut short does not read at all
        raise GanphonError(f"{path}: ends in the middle of a row (cut short?); measure the folder again")
    if not (folder / layout.MANIFEST).is_file() or "file" not in table.columns:
        return
    from .. import io

    manifest = io.read_manifest(folder)
    measured = distinct(table["file"])
    column = "sound_file" if "sound_file" in manifest.columns and any(
        str(f).endswith(".Sound") for f in measured) else "file"
    listed = distinct(manifest[column])
    missing = sorted(listed - measured)
    if missing:
        raise GanphonError(f"{path}: has no rows for {len(missing)} of the {manifest[column].nunique()} files in "
                           f"{layout.MANIFEST} (first: {missing[0]}); cut short or older than the folder? "
                           "measure the folder again")
    foreign = sorted(measured - listed)
    if foreign:  # rows the manifest cannot place in the design: another folder's, joined with nothing
        raise GanphonError(f"{path}: has rows for {len(foreign)} file(s) {layout.MANIFEST} does not list (first: "
                           f"{foreign[0]}); rows of another folder's run? measure the folder again")


def artefact_rows(table: pd.DataFrame) -> pd.Series:
    """Rows with a value on a generator artefact frequency (:func:`~ganphon.stats.tables.artefact_flags`)."""
    return artefact_flags(table) & table["value"].notna()


def _slopes(fits) -> dict:
    """(outcome/label, layer) → (slope of value, LRT p) of fitted models."""
    out = {}
    for fit in fits:
        coef = fit.coefficients().set_index("term")
        slope = float(coef.loc["value", "estimate"]) if "value" in coef.index else math.nan
        out[(fit.name, fit.layer)] = (slope, fit.lrt()["p"], fit.n_obs)
    return out


def _artefact_lines(without, with_, kind: str) -> list:
    """One line per outcome: how each layer's result moves when the artefact rows are included."""
    lines = []
    if kind == "models":
        names = sorted({name for name, _ in without} | {name for name, _ in with_})
        for name in names:
            parts = []
            for layer in sort_layers({layer for n, layer in list(without) + list(with_) if n == name}):
                a = without.get((name, layer), (math.nan, math.nan, 0))
                b = with_.get((name, layer), (math.nan, math.nan, 0))
                if a == b:
                    continue
                parts.append(f"{layer} {a[0]:.3g} (LRT p {a[1]:.2g}, n {a[2]}) → "
                             f"{b[0]:.3g} (LRT p {b[1]:.2g}, n {b[2]})")
            if parts:
                # the LRT's p, named: the tables' p is the slope's t test (Satterthwaite df), which can differ
                lines.append(f"{name}: slope of value without → with the artefact rows: " + "; ".join(parts))
    else:
        for measure, part in without.groupby("measure", sort=False):
            other = with_[with_["measure"] == measure].set_index("layer")
            parts = []
            for row in part.itertuples(index=False):
                if row.layer not in other.index:
                    continue
                b = other.loc[row.layer]
                if (row.r, row.n) == (b["r"], b["n"]) or (np.isnan(row.r) and np.isnan(b["r"]) and row.n == b["n"]):
                    continue
                parts.append(f"{row.layer} {row.r:.2f} (n {row.n}) → {b['r']:.2f} (n {b['n']})")
            if parts:
                lines.append(f"{measure}: r with the output without → with the artefact rows: " + "; ".join(parts))
    return lines


@layout.writes_into()  # another process writing the folder is refused
def run_stats(folder, measures=SWEEP_MEASURES, outcome_layers=None, labels=None, point_agg: str = "mean",
              random_slope: bool = True, discover_latents: bool = False, gam: bool = False, gam_df: int = 5,
              cluster_seed: int = 0, command: str | None = None, workers: int | None = None,
              progress: bool = False, engine: str = "statsmodels", label_interaction: bool = False,
              save_frames: bool = True, label_column: str | None = None, reml: bool = False,
              df: str = "satterthwaite", out=None, presence=None,
              include_artefacts: bool = False, allow_stale: bool = False, scheduler=None) -> StatsResult:
    """All statistics of an exported, measured folder, written into ``DIR/stats/`` (or ``out``).

    Writes ``mixed_models.csv``, ``lrt.csv``, ``effects.csv``,
    ``summaries.txt`` and ``frames/`` (one CSV per model and ``refit.R``)
    for sweeps, ``parity.csv`` with ``engine="both"``, ``correlations.csv``,
    optionally ``discovery.csv`` (latent discovery of frication) and
    ``gam_curves.csv``, ``feature_map_clusters.csv`` when the folder holds
    feature maps, and ``stats.json`` (its run record: :func:`ganphon.io.run_record`,
    with the options as request, the seeds, the notes and the digest of the
    table fitted).  Tables of an earlier run that this run does not write are
    removed.

    A table measured before the folder's TextGrids changed, or before the
    folder was exported again (its record's ``inputs`` against the folder
    now: :func:`ganphon.io.stale_inputs`), is refused unless ``allow_stale``;
    then a ``ganphon: note:`` line says what changed, and the record keeps it.

    The steps: read and check the table (:func:`_read_input`), set the
    artefact rows aside (:func:`_split_artefacts`), the sweep's models
    (:func:`_sweep_tables`), correlations, predictions, discovery and
    feature-map clusters (:func:`_other_tables`), and the files
    (:func:`_write_results`).

    F0 values on a generator artefact frequency (the table's ``f0_artefact``:
    the upsampling stack's periods, a layer's native rate, ½ and ⅓ of each)
    are left out of the models and correlations unless ``include_artefacts``;
    the notes give their count and, per outcome, how each layer's slope (LRT
    p) or correlation moves when they are included.

    Each measure is modelled in the intervals of one label at a time
    (:func:`ganphon.stats.tables.default_labels`: ``voi`` for F0, formants
    and intensity, ``fric`` for spectral moments and ``max_intensity``,
    both for ``duration``), per layer; duration only in the output and in
    layers segmented themselves (``annotate --layers``), since every other
    layer is measured on the output's intervals.

    Parameters
    ----------
    folder : path-like
        Folder with ``acoustics.csv`` (and ``manifest.csv``, ``latents.csv``),
        or a measured store (``--store zarr``), whose Parquet parts are read
        for ``measures`` only: no joined CSV is needed at any size.
    measures : sequence of str
        Outcomes (absent ones are skipped and noted).
    outcome_layers : sequence of str, optional
        Layers to fit models for (default: all).
    labels : sequence of str, optional
        Interval labels to model in (one model per label; default: per
        measure, see above).  Also restricts the correlation table.
    point_agg : {"mean", "median"}
        Summary of point measures per interval.
    random_slope : bool
    discover_latents : bool
        Rank latent variables by how they predict frication in the outputs'
        ``auto`` tier (logistic on presence, linear on total duration).
    gam : bool
        Also fit B-spline GAMs of each outcome on value (``gam_curves.csv``).
    gam_df : int
    cluster_seed : int
        Seed of the k-means in the feature-map clustering.
    command : str, optional
        Command line recorded in ``stats.json``.
    workers : int, optional
        Processes fitting the mixed models (None: one per CPU); the results
        do not depend on the number.
    scheduler : DaskScheduler, optional
        Fit the models as Dask tasks instead (:func:`ganphon.parallel_dask.use_scheduler`).
    progress : bool
        Show a progress bar over the models.
    engine : {"statsmodels", "lme4", "both"}
        Who fits the mixed models: statsmodels (no R needed), R's lme4 +
        lmerTest through ``Rscript`` (Satterthwaite df), or both — the
        statsmodels numbers reported, every disagreement with lme4 flagged
        in ``warnings``/``method`` and listed in ``parity.csv``.
    label_interaction : bool
        One model ``value * C(label)`` over the chosen labels instead of one
        model per label.
    save_frames : bool
        Write each model's frame and ``refit.R`` into ``stats/frames/``
        (always with an lme4 engine).
    label_column : str, optional
        A folder of given waveforms probed through a Q-network or critic:
        score its predictions against this manifest column
        (:func:`ganphon.stats.speech.prediction_tables`).
    include_artefacts : bool
        Keep the F0 values on artefact frequencies in the models and correlations.
    allow_stale : bool
        Fit a table older than the folder's TextGrids or export (noted, not refused).
    reml : bool
        Report REML estimates, standard errors and intervals (the
        likelihood-ratio test, AIC and BIC stay ML).
    df : {"satterthwaite", "bases"}
        Small-sample df of the t intervals: lmerTest's Satterthwaite (both
        engines) or the between–within rule (bases − 1 for the slope).
    out : path-like, optional
        Folder to write into instead of ``DIR/stats/`` (e.g. one per set of
        options, so that a run does not replace another's tables).
    presence : sequence of str, optional
        Interval labels (e.g. ``fric``) whose presence in each output's
        ``auto`` tier (0/1, ``has_<label>``) is modelled on value by a
        logistic mixed model (Laplace; :mod:`.glmm`), layer ``output``, in
        ``mixed_models.csv`` and ``lrt.csv``.

    Returns
    -------
    StatsResult
    """
    if engine not in ENGINES:
        raise ParameterError("engine", f"must be one of {', '.join(ENGINES)}, got {engine!r}")
    if df not in DF_METHODS:
        raise ParameterError("df", f"must be one of {', '.join(DF_METHODS)}, got {df!r}")
    measures = name_list(measures, "measures")
    labels = name_list(labels, "labels")
    labels = [compose(lab) for lab in labels] if labels else labels  # as the table's labels are read
    outcome_layers = name_list(outcome_layers, "outcome_layers")
    presence = name_list(presence, "presence")
    folder = Path(folder)
    if not folder.is_dir():
        raise GanphonError(f"{folder}: no such folder")
    if engine != "statsmodels":
        find_rscript()
    started = time.perf_counter()
    if gam and gam_df < GAM_DEGREE + 1:
        raise ParameterError("gam_df", f"must be at least {GAM_DEGREE + 1} (cubic B-splines), got {gam_df}")
    read = _read_input(folder, measures, outcome_layers, allow_stale)
    _check_labels(read.table, labels, presence)
    notes = list(read.notes)
    split = _split_artefacts(_fitted_columns(read.table), read.used, include_artefacts, notes)
    # written as one: a run stopped part-way leaves the earlier results whole, never half of each
    with layout.all_or_nothing():
        out_dir = _prepare_out(folder, out)
        options = _Options(outcome_layers=outcome_layers, labels=labels, point_agg=point_agg,
                           random_slope=random_slope, engine=engine, label_interaction=label_interaction,
                           reml=reml, df=df, include_artefacts=include_artefacts)
        found = _Found()
        sweep = has_sweep(split.table)
        one_value = _one_sweep_value(split.table) if sweep else ""
        if one_value:  # one note, not one per measure × layer
            notes.append(f"the sweep has one value ({one_value} in every row): no effect of it can be fitted, so no "
                         "model; only the correlation table is computed (sweep at least two values)")
        # the tables that need no model: computed while the models are fitted, kept in the order of before
        others, other_notes = _Found(), []

        def other_tables():
            _other_tables(folder, read, split, options, others, other_notes, sweep=sweep, label_column=label_column,
                          discover_latents=discover_latents, cluster_seed=cluster_seed)

        if sweep and not one_value and "layer" in split.table.columns:
            _sweep_tables(folder, read.used, split, options, found, notes, out_dir / FRAMES_DIR, presence=presence,
                          gam=gam, gam_df=gam_df, workers=workers, progress=progress, save_frames=save_frames,
                          scheduler=scheduler, meanwhile=other_tables)
        else:
            if not one_value:
                notes.append("no sweep columns (sweep_value, base) in the table: only the correlation table"
                             + (" and the latent discovery are" if discover_latents else " is") + " computed")
            other_tables()
        found.tables.update(others.tables)
        notes += other_notes
        request = {"source": read.source, "measures": list(measures), "outcome_layers": outcome_layers,
                   "labels": list(labels) if labels else None, "point_agg": point_agg, "random_slope": random_slope,
                   "discover": discover_latents, "gam": gam, "gam_df": gam_df if gam else None, "engine": engine,
                   "label_interaction": label_interaction, "label_column": label_column, "reml": reml, "df": df,
                   "presence": list(presence) if presence else None, "include_artefacts": bool(include_artefacts),
                   "allow_stale": bool(allow_stale)}
        record = io.run_record(
            "stats", command=command, request=request,
            seed={"manifest": _manifest_seeds(folder), "feature_map_kmeans": cluster_seed},
            modules=("statsmodels", "scipy", "pandas"), inputs={"acoustics": read.digest, **read.inputs},
            timings={"stats": time.perf_counter() - started},
            source=read.source, measures=read.used, labels_by_measure={
                m: list(labels) if labels else list(default_labels(m)) for m in read.used},
            first_layer=found.firsts, first_layer_holm=found.firsts_holm, tables=sorted(found.tables), notes=notes,
            artefacts={"rows": split.counts, "included": bool(include_artefacts)}, stale=read.stale)
        paths = _write_results(out_dir, found, record)
    return StatsResult(found.tables, "\n".join(found.summaries), notes, paths, found.firsts, found.firsts_holm)


@dataclass
class _Input:
    """The acoustic table a stats run fits, and what was learnt reading it."""

    table: pd.DataFrame
    source: str
    used: list        # the measures asked for that the table has
    notes: list
    in_store: bool
    digest: str | None  # of the table file (None: a store's parts)
    inputs: dict        # what the measurement read, as its record says (digests)
    stale: list         # what changed since it was measured (fitted with allow_stale)


@dataclass
class _Artefacts:
    """The table with the artefact rows out (or in), the other table for the comparison, their counts."""

    table: pd.DataFrame
    other: pd.DataFrame | None
    counts: dict
    compared: list    # measures with artefact rows: fitted both ways


@dataclass
class _Options:
    """The model options of a stats run (see :func:`run_stats`)."""

    outcome_layers: list | None
    labels: list | None
    point_agg: str
    random_slope: bool
    engine: str
    label_interaction: bool
    reml: bool
    df: str
    include_artefacts: bool


@dataclass
class _Found:
    """What a stats run has computed so far: tables by name, model summaries, first layers, frame files."""

    tables: dict = field(default_factory=dict)
    summaries: list = field(default_factory=list)
    firsts: dict = field(default_factory=dict)
    firsts_holm: dict = field(default_factory=dict)  # the same, Holm-adjusted over the layers
    paths: list = field(default_factory=list)


#: Columns of an acoustic table and its manifest that no model, test, check or table of ``stats`` uses, not read:
#: the rows' notes (why a value is undefined: for people reading the table) and the manifest's descriptions of
#: each file and its model.  On a sweep's table of a million rows and more they were most of the memory read.
#: (``sr`` stays: the check of the table's frequencies against each sound's Nyquist reads it.)
UNUSED_COLUMNS = ("note", "checkpoint_sha256", "textgrid", "arch", "n_native", "rate_native_hz", "slice_len")


def _read_input(folder: Path, measures, outcome_layers, allow_stale: bool) -> _Input:
    """Read the folder's acoustic table for ``measures`` and check it before ``stats/`` is touched:
    the measures and layers asked for, a table cut short, a table older than its inputs."""
    from ..store import is_store

    in_store = is_store(folder)
    # a store's Parquet parts are read for the asked measures only (a CSV is read whole)
    table = read_acoustics(folder, measures=measures or None, skip=UNUSED_COLUMNS)
    source = table.attrs["source"]
    present = distinct(table["measure"])
    used = [m for m in measures if m in present]
    notes = [f"measure '{m}' is not in {Path(source).name}; skipped" for m in measures if m not in present]
    # checked before stats/ is touched, so a mistyped request leaves earlier results alone
    if measures and not used:
        has = table.attrs.get("measures_available", sorted(present))
        raise ParameterError("measures", f"{', '.join(measures)} not in {source} "
                                           f"(it has {', '.join(has) or 'no measures'})")
    if outcome_layers and "layer" in table.columns:
        layers_present = distinct(table["layer"])
        absent = [x for x in outcome_layers if x not in layers_present]
        if absent:
            raise ParameterError("outcome_layers", f"{', '.join(absent)} not in {source} "
                                                 f"(it has {', '.join(layout.sort_layers(layers_present))})")
    if not in_store:  # a store's parts are checked chunk by chunk as they are read
        _check_table_complete(folder, table)
    if has_sweep(table):
        check_interval_columns(table)
    digest = io.file_digest(source) if Path(source).is_file() else None
    inputs, stale = _check_fresh(folder, Path(source), digest, allow_stale)
    return _Input(table, source, used, notes, in_store, digest, inputs, stale)


def _check_fresh(folder: Path, source: Path, digest: str | None, allow_stale: bool) -> tuple[dict, list]:
    """The table's record of what it read, and what changed since (refused unless ``allow_stale``):
    the folder's inputs, and the table itself (``digest``) when the record keeps its digest.

    A table without a record, or a record without digests (an older ganphon), is not judged; a record
    that exists but cannot be read is an error (damaged is not absent).
    """
    record_path = source.with_suffix(".json")
    if not record_path.is_file():
        print(f"ganphon: note: {source.name} has no record ({record_path.name}): whether it is older than the "
              "folder's files is not checked", file=sys.stderr)
        return {}, []
    try:
        record = io.read_record(record_path)
    except GanphonError as exc:  # damaged is not absent: the table's inputs could not be judged
        raise GanphonError(f"{exc}; measure the folder again (ganphon measure)") from None
    mismatch = io.table_mismatch(record, source, digest) if digest else ""
    if mismatch:  # the record is another table's: what this one read is unknown
        if not allow_stale:
            raise GanphonError(f"{source}: {mismatch}; measure the folder again (ganphon measure), or pass "
                               "--allow-stale to fit it anyway")
        print(f"ganphon: note: {source.name}: {mismatch}; fitted anyway (--allow-stale)", file=sys.stderr)
        return {}, [mismatch]
    changed = io.stale_inputs(record, folder)
    if changed and not allow_stale:
        kept = io.tables_only(folder)  # nothing left to measure again (a demo's intervention)
        again = f"{kept}: pass --allow-stale to fit the table as it is" if kept else \
            "measure the folder again (ganphon measure), or pass --allow-stale to fit it anyway"
        raise GanphonError(f"{source}: measured before {' and '.join(changed)}; {again}")
    for what in changed:
        print(f"ganphon: note: {source.name} was measured before {what}; fitted anyway (--allow-stale)",
              file=sys.stderr)
    return dict(record.get("inputs") or {}), changed


#: The acoustic table's columns that the models and correlations read (the manifest joins many more).
FITTED_COLUMNS = ("sample_id", "layer", "tier", "label", "start", "end", "point", "measure", "value", "f0_artefact",
                  "sweep_value", "base", "var")


def _fitted_columns(table: pd.DataFrame) -> pd.DataFrame:
    """The table with :data:`FITTED_COLUMNS` only, so that each selection of rows copies those alone."""
    kept = table[[c for c in table.columns if c in FITTED_COLUMNS]]
    kept.attrs = dict(table.attrs)
    return kept


def _split_artefacts(table: pd.DataFrame, used: list, include_artefacts: bool, notes: list) -> _Artefacts:
    """Generator artefacts are data, not findings: left out unless asked, the other table kept for the
    comparison; counted among the measures asked for (a store's parts are read for those only)."""
    if "f0_artefact" not in table.columns:  # refused where flagged measures are fitted, unless all are kept
        if not include_artefacts:
            fitted = table.loc[table["measure"].isin(used), ["measure"]]
            fitted.attrs = dict(table.attrs)  # the file named in the refusal
            artefact_flags(fitted)
        return _Artefacts(table, None, {}, [])
    flagged = artefact_rows(table) & table["measure"].isin(used)
    other = None
    artefact_counts = {}
    if flagged.any():
        artefact_counts = {str(m): int(n) for m, n in table.loc[flagged, "measure"].value_counts().items()}
        pitch_rows = table["measure"].isin(list(artefact_counts)) & table["value"].notna()
        what = ", ".join(f"{m} {n}" for m, n in artefact_counts.items())
        head = (f"F0 values on generator artefact frequencies (f0_artefact: stack periods, layer native rates, "
                f"½ and ⅓ of them, ± 0.5 %): {int(flagged.sum())} of {int(pitch_rows.sum())} ({what}); ")
        if include_artefacts:
            notes.append(head + "included (--include-artefacts)")
            other = table[~flagged]
        else:
            notes.append(head + "left out of models and correlations (--include-artefacts keeps them)")
            other = table
            table = table[~flagged]
    compared = [m for m in used if m in artefact_counts]
    return _Artefacts(table, other, artefact_counts, compared)


def _written_by_stats(path: Path) -> bool:
    """Whether ``path`` in a stats folder is one of the entries :func:`run_stats` writes there."""
    if path.name == FRAMES_DIR:
        return path.is_dir()
    return path.is_file() and path.name in {*(f"{name}.csv" for name in STATS_TABLES), layout.SUMMARIES_TXT,
                                            layout.STATS_JSON}


def _prepare_out(folder: Path, out) -> Path:
    """The folder the results go to (``DIR/stats`` or ``out``), made, without an earlier run's frames."""
    out_dir = folder / STATS_DIR if out is None else Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise GanphonError(f"{out_dir}: exists and is not a folder")
    # never into another run's folder (an export, a demo, a corpus, a training run) nor among the user's files,
    # whether --out names it or it is DIR/stats ('ganphon probe --out DIR/stats' may have written there; an
    # earlier stats run's tables, with or without its record, are this command's to replace)
    layout.check_kind(out_dir, "stats")
    if out is None:
        layout.check_output_folder(out_dir, _written_by_stats, "stats", default=True)
    else:
        io.check_results_folder(out_dir, layout.STATS_JSON, "stats")
    layout.make_folder(out_dir)
    frames_dir = out_dir / FRAMES_DIR
    if frames_dir.is_dir():  # frames of an earlier run must not pass for this run's (put back if this one fails)
        for old in list(frames_dir.glob("*.csv")) + [frames_dir / layout.REFIT_R]:
            if old.is_file():
                layout.discard(old)
    return out_dir


def _sweep_tables(folder: Path, used: list, split: _Artefacts, opt: _Options, found: _Found, notes: list,
                  frames_dir: Path, *, presence, gam: bool, gam_df: int, workers, progress: bool,
                  save_frames: bool, scheduler=None, meanwhile=None) -> None:
    """The sweep's mixed models (and presence models) into ``found``: coefficients, LRTs, effects by layer,
    GAM curves, parity with lme4, the frames and ``refit.R``; notes on how the fits went.  ``meanwhile``: the
    caller's other work, done while the models are fitted (:func:`ganphon.parallel.map_jobs`)."""
    table = split.table
    prepared = _sweep_models(table, used, opt.outcome_layers, opt.labels, opt.label_interaction, opt.point_agg,
                             opt.random_slope, notes, reml=opt.reml, df=opt.df)
    if presence:
        prepared += _presence_models(folder, table, presence, opt.random_slope, notes)
    others = []
    if split.compared:  # the same models with the artefact rows the other way round
        others = [task for task, _ in _sweep_models(split.other, split.compared, opt.outcome_layers, opt.labels,
                                                    opt.label_interaction, opt.point_agg, opt.random_slope, [])]
    fits, theirs = _fit_models(prepared, opt.engine, found, notes, frames_dir, workers=workers, progress=progress,
                               save_frames=save_frames, scheduler=scheduler, others=others, meanwhile=meanwhile)
    effects, gams = _effects(prepared, fits, opt, found, notes, gam=gam, gam_df=gam_df)
    if split.compared:
        mine = [f for f in fits if f.outcome in split.compared]
        without, with_ = (_slopes(mine), _slopes(theirs)) if not opt.include_artefacts else \
            (_slopes(theirs), _slopes(mine))
        notes += _artefact_lines(without, with_, "models")
    found.tables["mixed_models"] = coefficient_table(fits)
    found.tables["lrt"] = lrt_table(fits)
    found.tables["effects"] = (pd.concat(effects, ignore_index=True) if effects
                               else pd.DataFrame(columns=EFFECT_COLUMNS))
    if gam:
        found.tables["gam_curves"] = pd.concat(gams, ignore_index=True) if gams else pd.DataFrame()
    found.summaries = [fit.summary() for fit in fits]
    notes += _fit_notes(fits, int(table["base"].nunique()), opt.df)


def _fit_models(prepared, engine: str, found: _Found, notes: list, frames_dir: Path, *, workers, progress: bool,
                save_frames: bool, scheduler=None, others=(), meanwhile=None) -> tuple[list, list]:
    """Fit the prepared models with ``engine`` (and compare the two with ``both``); save frames and ``refit.R``.

    ``others`` (the models of the artefact comparison) are fitted by statsmodels in the same process pool
    as the statsmodels fits, started once; ``meanwhile`` (the caller's other work) and the frames are done
    in this process while the pool fits.  Returns (the fits of ``prepared``, the fits of ``others``)."""
    tasks = [task for task, _ in prepared]
    others = list(others)
    fits = r_fits = theirs = []
    names = []

    def alongside():
        if meanwhile is not None:
            meanwhile()
        if save_frames or engine != "statsmodels":
            layout.make_folder(frames_dir)
            names.extend(write_frame(task, frames_dir).name for task in tasks)

    if engine in ("statsmodels", "both"):
        both = fit_tasks(tasks + others, workers=workers, progress=progress, scheduler=scheduler,
                         meanwhile=alongside)
        fits, theirs = both[:len(tasks)], both[len(tasks):]
    elif others:
        theirs = fit_tasks(others, workers=workers, progress=False, scheduler=scheduler, meanwhile=alongside)
    else:
        alongside()
    if engine in ("lme4", "both"):
        r_fits = fit_tasks_lme4(tasks, frames_dir)
    if engine == "lme4":
        fits = r_fits
    if engine == "both":
        found.tables["parity"] = parity_table(fits, r_fits)
        flagged = flag_disagreements(fits, r_fits)
        notes.append(f"lme4 and statsmodels disagree on {flagged} of {len(fits)} models (see parity.csv)"
                     if flagged else f"lme4 and statsmodels agree on all {len(fits)} models")
    if save_frames or engine != "statsmodels":
        layout.atomic_write_text(frames_dir / layout.REFIT_R, refit_script(fits, names, tasks))
        found.paths.append(frames_dir / layout.REFIT_R)  # next to the frames it reads
    return fits, theirs


def _effects(prepared, fits, opt: _Options, found: _Found, notes: list, *, gam: bool, gam_df: int):
    """Standardised effects by layer (and the first layer) per outcome and label, and the GAM curves."""
    effects, gams = [], []
    by_model = {}
    for (task, frame), fit in zip(prepared, fits):
        if task.family == "binomial":  # a logit slope: no standardised effect
            continue
        by_model.setdefault((fit.outcome, fit.label), (frame, []))[1].append(fit)
    for (measure, label), (frame, model_fits) in by_model.items():
        if "+" in label:  # a label interaction: the slope is per label, not one standardised effect
            continue
        eff = effect_by_layer(frame, measure, random_slope=opt.random_slope, fits=model_fits, label=label)
        effects.append(eff)
        found.firsts[model_name(measure, label)] = first_layer(eff)
        found.firsts_holm[model_name(measure, label)] = first_layer(eff, adjust="holm")
        if gam:
            try:
                fitted = fit_gam(frame, measure, df=gam_df)
            except GanphonError as exc:
                notes.append(f"GAM of {model_name(measure, label)}: {exc}")
                continue
            left_out = [f.layer for f in model_fits if f.layer not in fitted]
            if left_out:
                notes.append(f"GAM of {model_name(measure, label)} left out {', '.join(left_out)} "
                             f"(at most {gam_df} distinct values)")
            gams.append(gam_curves(fitted, outcome=measure).assign(label=label))
    return effects, gams


def _one_sweep_value(table: pd.DataFrame) -> str:
    """``"z3 = 1"`` when every row of a sweep's table has the same swept value, else ``""``."""
    values = pd.to_numeric(table["sweep_value"], errors="coerce").dropna().unique()
    if len(values) != 1:
        return ""
    names = sorted(map(str, distinct(table["var"]))) if "var" in table.columns else []
    return f"{names[0] if len(names) == 1 else 'sweep_value'} = {values[0]:g}"


def _fit_notes(fits, bases: int, df: str) -> list:
    """Notes on how the fits went: simpler models than asked, rows left out, too few bases."""
    notes = []
    for what, test in (("boundary (singular) fits, kept as lme4 does", lambda m: "singular" in m),
                       ("uncorrelated random slope (the correlated one dropped)",
                        lambda m: "correlated slope dropped" in m),
                       ("random slope dropped", lambda m: "random slope dropped" in m),
                       ("OLS instead of a mixed model", lambda m: "mixed models dropped" in m),
                       ("no model could be fitted", lambda m: m.startswith("not fitted"))):
        hit = [f"{f.name}/{f.layer}{_why_dropped(f)}" for f in fits if test(f.method)]
        if hit:
            notes.append(f"{what}: {', '.join(hit)}")
    for f in fits:
        left = [w for w in f.warnings if w.endswith(" left out") or " left out: " in w]
        if left:
            notes.append(f"{f.name}/{f.layer}: {'; '.join(left)}")
    if bases < MIN_BASES:
        dfs = "Satterthwaite df" if df == "satterthwaite" else f"df = bases − 1 = {bases - 1}"
        notes.append(f"the sweep has {bases} base latents: with fewer than {MIN_BASES} the random-slope "
                     f"variance is poorly estimated and the t intervals ({dfs}) are "
                     f"wide; sweep at least {MIN_BASES} bases for a paper")
    return notes


def _copied_measure_notes(table: pd.DataFrame, used) -> list:
    """The note on measures read from the TextGrid alone (duration) in layers measured on the output's
    intervals: the output's own numbers, so not correlated (their rows are absent from the table)."""
    notes = []
    for measure in (m for m in used if m in TEXTGRID_MEASURES):
        part = table.loc[table["measure"] == measure, ["layer", "tier"] if "tier" in table.columns else ["layer"]]
        own = set(segmented_layers(part))
        left = [layer for layer in sort_layers(distinct(part["layer"])) if layer not in own]
        if left:
            notes.append(f"{measure}: not correlated in {', '.join(left)}: measured on the output's intervals, "
                         f"their values are the output's (r = 1 by construction); 'ganphon annotate DIR --layers "
                         f"{left[-1]}' segments a layer itself, whose rows measured on its tier are then paired "
                         "with the output's by interval order")
    return notes


def _other_tables(folder: Path, read: _Input, split: _Artefacts, opt: _Options, found: _Found, notes: list, *,
                  sweep: bool, label_column, discover_latents: bool, cluster_seed: int) -> None:
    """The tables of any measured folder into ``found``: correlations with the output, a network's
    predictions, the latent discovery, the feature-map clusters."""
    from ..store import open_store

    table, used = split.table, read.used
    if "layer" in table.columns and "sample_id" in table.columns \
            and layout.OUTPUT_LAYER in distinct(table["layer"]):
        found.tables["correlations"] = correlation_table(table, used, labels=opt.labels, include_artefacts=True,
                                                         point_agg=opt.point_agg)
        notes += _copied_measure_notes(table, used)
        if split.compared and not sweep:
            theirs = correlation_table(split.other, split.compared, labels=opt.labels, include_artefacts=True,
                                       point_agg=opt.point_agg)
            mine = found.tables["correlations"][found.tables["correlations"]["measure"].isin(split.compared)]
            without, with_ = (mine, theirs) if not opt.include_artefacts else (theirs, mine)
            notes += _artefact_lines(without, with_, "correlations")
    else:
        notes.append(f"no '{layout.OUTPUT_LAYER}' rows with sample_id/layer: no correlation table")
    if label_column is not None:
        from .speech import prediction_tables

        found_tables, found_notes = prediction_tables(folder, label_column)
        found.tables.update(found_tables)
        notes += found_notes
    if discover_latents:
        latents = open_store(folder).latents() if read.in_store else read_latents(folder)
        prop = frication_property(folder)
        ranked = []
        if prop["has_fric"].nunique() == 2:
            ranked.append(discover(latents, prop, "logistic").assign(property="has_fric"))
        else:
            notes.append(f"discovery: has_fric is {int(prop['has_fric'].iloc[0])} in all "
                         f"{len(prop)} outputs; logistic ranking skipped")
        if prop["fric_duration"].std() > 0:
            ranked.append(discover(latents, prop, "linear").assign(property="fric_duration"))
        else:
            notes.append("discovery: fric_duration does not vary; linear ranking skipped")
        if ranked:
            found.tables["discovery"] = pd.concat(ranked, ignore_index=True)
    clusters = _feature_map_clusters(folder, read.in_store, cluster_seed, notes)
    if clusters is not None:
        found.tables["feature_map_clusters"] = clusters


def _feature_map_clusters(folder: Path, in_store: bool, cluster_seed: int, notes: list):
    """k-means clusters of each stored layer's feature maps by activation profile, or None without maps."""
    from ..store import open_store

    if in_store:
        st = open_store(folder)
        stored_maps = {layer: st.feature_maps(layer) for layer in st.request.get("feature_maps") or []}
    else:
        stored_maps = read_feature_maps(folder)
    clusters = []
    for layer, maps in stored_maps.items():
        profiles = activation_profiles(maps)
        try:
            labels_ = cluster_feature_maps(profiles, seed=cluster_seed)
        except GanphonError as exc:
            notes.append(f"feature maps of {layer}: {exc}")
            continue
        clusters.append(pd.DataFrame({"layer": layer, "map": np.arange(len(labels_)), "cluster": labels_}))
    return pd.concat(clusters, ignore_index=True) if clusters else None


def _write_results(out_dir: Path, found: _Found, record: dict) -> list:
    """Write the tables, ``summaries.txt`` and the run record ``stats.json``; remove an earlier run's
    tables this run did not write.  Returns the paths written (``refit.R`` first when written)."""
    paths = list(found.paths)
    for name, frame in found.tables.items():
        io.write_table(frame, out_dir / f"{name}.csv")
        paths.append(out_dir / f"{name}.csv")
    if found.summaries:
        path = out_dir / layout.SUMMARIES_TXT
        layout.atomic_write_text(path, "\n".join(found.summaries))
        paths.append(path)
    # results of an earlier run with other options must not pass for this run's
    for stale in [out_dir / f"{name}.csv" for name in STATS_TABLES] + [out_dir / layout.SUMMARIES_TXT]:
        if stale not in paths and stale.exists():
            layout.discard(stale)  # put back if the command fails
    path = io.write_run_record(out_dir / layout.STATS_JSON, record)
    paths.append(path)
    return paths
