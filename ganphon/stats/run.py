"""All statistics of an exported, measured folder, written into ``DIR/stats/``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import layout
from ..errors import GanphonError
from .correlate import EFFECT_COLUMNS, correlation_table, effect_by_layer, first_layer
from .discover import discover, frication_property
from .feature_maps import activation_profiles, cluster_feature_maps, read_feature_maps
from .mixed import coefficient_table, fit_gam, fit_tasks, gam_curves, lrt_table, mixed_tasks
from .tables import ACOUSTICS, PAPER_MEASURES, STATS_DIR, has_sweep, model_frame, read_acoustics, read_latents

#: Tables :func:`run_stats` may write into ``DIR/stats/``.
STATS_TABLES = ("mixed_models", "lrt", "effects", "gam_curves", "correlations", "discovery",
                "feature_map_clusters")


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


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    with layout.atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def _manifest_seeds(folder: Path) -> list:
    path = folder / layout.MANIFEST
    if not path.is_file():
        return []
    try:
        manifest = pd.read_csv(path, usecols=lambda c: c == "seed")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, UnicodeDecodeError):
        return []
    if "seed" not in manifest.columns:
        return []
    return sorted({int(s) for s in manifest["seed"].dropna()})


def run_stats(folder, measures=PAPER_MEASURES, outcome_layers=None, labels=None, point_agg: str = "mean",
              random_slope: bool = True, discover_latents: bool = False, gam: bool = False, gam_df: int = 5,
              cluster_seed: int = 0, command: str | None = None, workers: int | None = None,
              progress: bool = False) -> StatsResult:
    """All statistics of an exported, measured folder, written into ``DIR/stats/``.

    Writes ``mixed_models.csv``, ``lrt.csv``, ``effects.csv`` and
    ``summaries.txt`` (sweeps only), ``correlations.csv``, optionally
    ``discovery.csv`` (latent discovery of frication) and ``gam_curves.csv``,
    ``feature_map_clusters.csv`` when the folder holds feature maps, and
    ``stats.json`` (ganphon version, seeds, notes).  Tables of an earlier run
    that this run does not write are removed.

    Parameters
    ----------
    folder : path-like
        Folder with ``acoustics.csv`` (and ``manifest.csv``, ``latents.csv``).
    measures : sequence of str
        Outcomes (absent ones are skipped and noted).
    outcome_layers : sequence of str, optional
        Layers to fit models for (default: all).
    labels : sequence of str, optional
        Interval labels to keep (e.g. ``["voi"]``).
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
    progress : bool
        Show a progress bar over the models.

    Returns
    -------
    StatsResult
    """
    from .. import __version__

    folder = Path(folder)
    if not folder.is_dir():
        raise GanphonError(f"{folder}: no such folder")
    table = read_acoustics(folder)
    if isinstance(measures, str):
        measures = [m.strip() for m in measures.split(",") if m.strip()]
    present = set(table["measure"].dropna())
    used = [m for m in measures if m in present]
    notes = [f"measure '{m}' is not in {ACOUSTICS}; skipped" for m in measures if m not in present]
    out_dir = folder / STATS_DIR
    out_dir.mkdir(exist_ok=True)
    tables, summaries, paths, firsts = {}, [], [], {}
    sweep = has_sweep(table)
    if sweep and "layer" in table.columns:
        fits, effects, gams, prepared, all_tasks = [], [], [], [], []
        for measure in used:
            frame = model_frame(table, measure, point_agg=point_agg, labels=labels, layers=outcome_layers)
            try:
                tasks = mixed_tasks(frame, measure, random_slope=random_slope, single_base="ols")
            except GanphonError as exc:
                notes.append(str(exc))
                continue
            prepared.append((measure, frame, len(tasks)))
            all_tasks += tasks
        fitted_all = fit_tasks(all_tasks, workers=workers, progress=progress)
        for measure, frame, n_tasks in prepared:
            measure_fits, fitted_all = fitted_all[:n_tasks], fitted_all[n_tasks:]
            skipped = [layer for layer in frame["layer"].cat.categories
                       if layer not in {f.layer for f in measure_fits}]
            if skipped:
                notes.append(f"{measure}: too few complete rows (or one value) for a model in "
                             f"{', '.join(skipped)}")
            if not measure_fits:
                continue
            fits += measure_fits
            eff = effect_by_layer(frame, measure, random_slope=random_slope, fits=measure_fits)
            effects.append(eff)
            firsts[measure] = first_layer(eff)
            if gam:
                try:
                    fitted = fit_gam(frame, measure, df=gam_df)
                except GanphonError as exc:
                    notes.append(f"GAM: {exc}")
                    continue
                left_out = [f.layer for f in measure_fits if f.layer not in fitted]
                if left_out:
                    notes.append(f"GAM of {measure} left out {', '.join(left_out)} "
                                 f"(at most {gam_df} distinct values)")
                gams.append(gam_curves(fitted, outcome=measure))
        tables["mixed_models"] = coefficient_table(fits)
        tables["lrt"] = lrt_table(fits)
        tables["effects"] = (pd.concat(effects, ignore_index=True) if effects
                             else pd.DataFrame(columns=EFFECT_COLUMNS))
        if gam:
            tables["gam_curves"] = pd.concat(gams, ignore_index=True) if gams else pd.DataFrame()
        summaries = [fit.summary() for fit in fits]
        for what, test in (("random slope dropped (did not converge)", lambda m: "dropped" in m),
                           ("OLS instead of a mixed model (did not converge)", lambda m: "did not converge" in m),
                           ("no model could be fitted", lambda m: m.startswith("not fitted"))):
            hit = [f"{f.outcome}/{f.layer}" for f in fits if test(f.method)]
            if hit:
                notes.append(f"{what} for {', '.join(hit)}")
    else:
        notes.append("no sweep columns (sweep_value, base) in the table: only the correlation table"
                     + (" and the latent discovery are" if discover_latents else " is") + " computed")
    if "layer" in table.columns and "sample_id" in table.columns \
            and layout.OUTPUT_LAYER in set(table["layer"].dropna()):
        tables["correlations"] = correlation_table(table, used, labels=labels)
    else:
        notes.append(f"no '{layout.OUTPUT_LAYER}' rows with sample_id/layer: no correlation table")
    if discover_latents:
        latents = read_latents(folder)
        prop = frication_property(folder)
        found = []
        if prop["has_fric"].nunique() == 2:
            found.append(discover(latents, prop, "logistic").assign(property="has_fric"))
        else:
            notes.append(f"discovery: has_fric is {int(prop['has_fric'].iloc[0])} in all "
                         f"{len(prop)} outputs; logistic ranking skipped")
        if prop["fric_duration"].std() > 0:
            found.append(discover(latents, prop, "linear").assign(property="fric_duration"))
        else:
            notes.append("discovery: fric_duration does not vary; linear ranking skipped")
        if found:
            tables["discovery"] = pd.concat(found, ignore_index=True)
    clusters = []
    for layer, maps in read_feature_maps(folder).items():
        profiles = activation_profiles(maps)
        try:
            labels_ = cluster_feature_maps(profiles, seed=cluster_seed)
        except GanphonError as exc:
            notes.append(f"feature maps of {layer}: {exc}")
            continue
        clusters.append(pd.DataFrame({"layer": layer, "map": np.arange(len(labels_)), "cluster": labels_}))
    if clusters:
        tables["feature_map_clusters"] = pd.concat(clusters, ignore_index=True)
    for name, frame in tables.items():
        paths.append(_write_csv(frame, out_dir / f"{name}.csv"))
    if summaries:
        path = out_dir / "summaries.txt"
        layout.atomic_write_text(path, "\n".join(summaries))
        paths.append(path)
    # results of an earlier run with other options must not pass for this run's
    for stale in [out_dir / f"{name}.csv" for name in STATS_TABLES] + [out_dir / "summaries.txt"]:
        if stale not in paths and stale.exists():
            stale.unlink()
    record = {"ganphon_version": __version__, "command": command, "source": str(folder / ACOUSTICS),
              "measures": used, "labels": list(labels) if labels else None, "point_agg": point_agg,
              "random_slope": random_slope, "seeds": {"manifest": _manifest_seeds(folder),
                                                       "feature_map_kmeans": cluster_seed},
              "first_layer": firsts, "tables": sorted(tables), "notes": notes}
    path = out_dir / "stats.json"
    layout.atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    paths.append(path)
    return StatsResult(tables, "\n".join(summaries), notes, paths, firsts)
