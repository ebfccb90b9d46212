"""Reading the long acoustic and latent tables, and the model frame of one regression."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .. import layout
from .. import measures as _measures
from ..io import read_latents  # noqa: F401 (one reader per file format, in io)
from ..layout import layer_rank, sort_layers  # noqa: F401 (the layer order lives in layout)
from ..errors import GanphonError

# The measure lists below are read from the measure registry (ganphon.measures.FAMILIES: each
# family's ``stats``, ``paper`` and ``labels``), whenever they are used.
#: Measures of the paper's correlation table (SPEC §7).
PAPER_MEASURES = _measures.PAPER_MEASURES
#: Measures read from the TextGrid alone (duration): a layer on the output's intervals has the output's values.
TEXTGRID_MEASURES = _measures.TEXTGRID_MEASURES
#: Measures of the frication (spectral moments, the fric interval's peak intensity).
FRICATION_MEASURES = _measures.FRICATION_MEASURES
#: What :func:`ganphon.stats.run_stats` models by default: the paper's measures, and the frication's
#: centre of gravity and intensity (duration is modelled in the fric and voi intervals).
SWEEP_MEASURES = _measures.STATS_MEASURES
#: Key of one measured interval within a file.
INTERVAL_KEYS = ["tier", "label", "start", "end"]
ACOUSTICS = layout.ACOUSTICS
STATS_DIR = layout.STATS_DIR
_LATENT_NAME = re.compile(r"^[cz]\d+$")

# --------------------------------------------------------------------------
# Layers and tables


from ..io import ACOUSTIC_TEXT_COLUMNS as TEXT_COLUMNS  # noqa: E402 (read as text)


def read_acoustics(path, measures=None, skip=()) -> pd.DataFrame:
    """Read a long acoustic table (``DIR/acoustics.csv`` or ``.parquet``, any table of that form, or a
    measured store), joined with the folder's manifest (:func:`ganphon.io.read_acoustics`).

    Parameters
    ----------
    path : path-like
        The CSV or Parquet table, or a folder holding one, or a store folder
        (``--store zarr``): its Parquet parts are read, not a CSV.
    measures : sequence of str, optional
        A store or a Parquet table: read only these measures' rows (a CSV is read whole).
    skip : sequence of str
        Columns left out, whatever the route (:func:`ganphon.io.read_acoustics`; a store's parts are read whole).

    Returns
    -------
    pandas.DataFrame
        The table with text columns as ``str`` and ``point`` as nullable int.
    """
    from ..store import is_store

    path = Path(path)
    if path.is_dir() and is_store(path):
        from ..store_analysis import acoustics_table

        table = acoustics_table(path, measures)
        table = table.drop(columns=[c for c in skip if c in table.columns])
        for column in TEXT_COLUMNS:  # text, as the CSV reader is told to read them
            if column in table.columns:
                text = table[column]
                table[column] = text.astype(object).where(text.isna(), text.astype(str))
        return _typed(table)
    from ..io import read_acoustics as read_table  # the CSV, or a large folder's Parquet, joined with the manifest

    return _typed(read_table(path, measures=measures, skip=skip))


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    path = table.attrs["source"]
    missing = [c for c in ("file", "measure", "value") if c not in table.columns]
    if missing:
        raise GanphonError(f"{path}: not a long acoustic table (no column(s) {', '.join(missing)})")
    for column in ("point", "start", "end", "time", "value", "sweep_value"):
        if column in table.columns:
            number = pd.to_numeric(table[column], errors="coerce")
            lost = number.isna() & table[column].notna()
            if lost.any() and column in MEASURED_NUMBERS and not number.notna().any():
                first = int(lost.to_numpy().argmax())
                raise GanphonError(f"{path}: column {column} holds no number ({table[column].iloc[first]!r} in row "
                                   f"{first + 2} …); decimal commas, or units in the cells? save the numbers as "
                                   "plain decimals with points")
            if lost.any():  # a damaged cell is read as empty, and said so
                import warnings

                warnings.warn(f"{path}: {int(lost.sum())} cell(s) of column {column} are not numbers (first in "
                              f"row {int(lost.to_numpy().argmax()) + 2}); read as empty", stacklevel=2)
            table[column] = number
    if "label" in table.columns:
        _strip_labels(table, path)
    if "point" in table.columns:
        point = table["point"]
        broken = point.notna() & ((point != point.round()) | (point.abs() > 2**31))
        if broken.any():
            raise GanphonError(f"{path}: column point holds {point[broken].iloc[0]!r} (row "
                               f"{int(broken.to_numpy().argmax()) + 2}), not a point number; is the table damaged?")
        table["point"] = point.astype("Int64")
    _measures.check_table_values(table, path)
    return table


#: Columns of a measurement that hold only numbers (or nothing): one whose every cell is text is no damage
#: of a few cells but another way of writing numbers, and reading them all as empty would model nothing.
MEASURED_NUMBERS = ("point", "start", "end", "time", "value")


def check_interval_columns(table: pd.DataFrame) -> None:
    """Refuse a sweep's table without the columns that name each value's interval (:data:`INTERVAL_KEYS`).

    Without ``label`` the models of ``voi`` and ``fric`` find no rows; without ``tier`` every layer looks
    segmented on its own (duration modelled in each); without ``start``/``end`` the intervals of a file
    pool into one.  A table saved without them is refused rather than modelled as something else.
    """
    missing = [c for c in INTERVAL_KEYS if c not in table.columns]
    if missing:
        raise GanphonError(f"{_source(table)}: has no column(s) {', '.join(missing)}, so the interval each value "
                           "was measured on cannot be told; measure the folder again (ganphon measure)")


def _strip_labels(table: pd.DataFrame, path) -> None:
    """Labels typed with white space around them (``voi `` corrected by hand in Praat) are the label without
    it, said in one note: they had been a label of their own, left out of every model of ``voi`` without a
    word.  Case and the characters inside a label are the annotator's (``S`` and ``s`` differ)."""
    import warnings

    _compose_labels(table, path)
    label = table["label"]
    stripped = label.str.strip()
    changed = (label.notna() & label.ne(stripped)).to_numpy()
    if not changed.any():
        return
    spaced = table.loc[changed, ["file", "label"]].drop_duplicates()
    files = spaced.groupby("label", sort=False)["file"].nunique().sort_values(ascending=False, kind="stable")
    shown = ", ".join(f"{text!r} in {n} file{'s' if n != 1 else ''}" for text, n in files.head(4).items())
    warnings.warn(f"{path}: labels with white space around them ({shown}{', …' if len(files) > 4 else ''}); "
                  "read as the labels without it", stacklevel=3)
    table["label"] = label.where(~changed, stripped.where(stripped.ne("")))


def compose(text: str) -> str:
    """``text`` with its accented letters in one form (Unicode NFC: ``é`` one character, as typed on most
    keyboards), so labels written as ``e`` + a combining accent (macOS's, some IPA keyboards') compare equal."""
    import unicodedata

    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _compose_labels(table: pd.DataFrame, path) -> None:
    """Labels with combining accents are read composed (:func:`compose`), said in one note: ``ã`` typed as
    a + a combining tilde had been a label of its own, apart from ``ã`` in ``--labels`` and in other files."""
    import warnings

    odd = {text: compose(text) for text in distinct(table["label"]) if isinstance(text, str) and compose(text) != text}
    if not odd:
        return
    shown = ", ".join(ascii(text) for text in sorted(odd)[:4]) + (", …" if len(odd) > 4 else "")
    warnings.warn(f"{path}: labels with combining accents ({shown}); read with their letters composed (NFC), "
                  "as other files and --labels write them", stacklevel=4)
    table["label"] = table["label"].replace(odd)


def distinct(column: pd.Series) -> set:
    """The distinct non-missing values of a column, as a set: found in one vectorised pass (``unique``),
    never by iterating the column value by value (slow on Arrow-backed text columns)."""
    return set(column.dropna().unique())


def has_sweep(table: pd.DataFrame) -> bool:
    """Whether a table comes from a sweep: a ``sweep_value`` column with values and a ``base``."""
    return ("sweep_value" in table.columns and "base" in table.columns
            and bool(pd.to_numeric(table["sweep_value"], errors="coerce").notna().any()))


def _source(table: pd.DataFrame) -> str:
    return table.attrs.get("source", "acoustic table")


def _require(table: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise GanphonError(f"{_source(table)}: {what} needs column(s) {', '.join(missing)}")


def artefact_flags(table: pd.DataFrame) -> pd.Series:
    """Rows whose value lies on a generator artefact frequency (``f0_artefact`` names one), as a mask.

    A table holding the flagged measures (:data:`~ganphon.measures.PITCH_MEASURES`) without the
    ``f0_artefact`` column (another program's, or one saved without it) is refused: its artefact
    values cannot be told from the others, and leaving none out would be a silent change of the data.
    """
    if "f0_artefact" not in table.columns:
        flagged_measures = set(_measures.PITCH_MEASURES)
        if "measure" in table.columns and table["measure"].isin(flagged_measures).any():
            raise GanphonError(f"{_source(table)}: has no f0_artefact column, so its F0 values on generator artefact "
                               "frequencies cannot be left out; measure the folder again (ganphon measure), or "
                               "keep every value (--include-artefacts)")
        return pd.Series(False, index=table.index)
    return pd.to_numeric(table["f0_artefact"], errors="coerce").notna()


def without_artefacts(table: pd.DataFrame) -> pd.DataFrame:
    """The table without the rows whose value lies on a generator artefact frequency (:func:`artefact_flags`)."""
    flagged = artefact_flags(table)
    return table[~flagged] if flagged.any() else table


def model_frame(table: pd.DataFrame, measure: str, point_agg: str | None = "mean",
                labels=None, layers=None, include_artefacts: bool = False) -> pd.DataFrame:
    """The data of one regression: one row per (sample_id, layer, interval).

    Parameters
    ----------
    table : pandas.DataFrame
        Long acoustic table joined with the manifest of a sweep (columns
        ``sample_id``, ``layer``, ``sweep_value``, ``base``).
    measure : str
        Measure to model (``f0``, ``intensity``, ``duration`` …); it becomes
        the outcome column of that name.
    point_agg : {"mean", "median", None}
        How point measures are summarised over the points of an interval
        (NaN points skipped); None keeps one row per point with a ``point``
        column.
    labels : sequence of str, optional
        Keep only intervals with these labels (e.g. ``["voi"]``).
    layers : sequence of str, optional
        Keep only these layers.
    include_artefacts : bool
        Keep the F0 values on generator artefact frequencies (``f0_artefact``);
        by default they are left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``sample_id, layer, tier, label, start, end[, point], <measure>,
        value, base`` (+ ``var`` and ``n_points`` when present / aggregated);
        ``layer`` is an ordered categorical in network order.  Rows whose
        outcome is undefined are kept (NaN); the model fits drop them.
    """
    _require(table, ["measure", "value", "sample_id", "layer"], "a model frame")
    if not has_sweep(table):
        raise GanphonError(f"{_source(table)}: no sweep columns (sweep_value, base); mixed models need a "
                           "table measured on a 'ganphon sweep' folder")
    if point_agg not in ("mean", "median", None):
        raise GanphonError(f"point_agg must be 'mean', 'median' or None, got {point_agg!r}")
    rows = table[table["measure"] == measure]
    if not include_artefacts:
        rows = without_artefacts(rows)
    if rows.empty:
        present = ", ".join(sorted(table["measure"].dropna().unique()))
        raise GanphonError(f"{_source(table)}: no rows for measure '{measure}' (the table has {present})")
    if labels:
        labels = [labels] if isinstance(labels, str) else list(labels)
        rows = rows[rows["label"].isin(labels)] if "label" in rows.columns else rows.iloc[:0]
        if rows.empty:
            raise GanphonError(f"{_source(table)}: no '{measure}' rows with label(s) {', '.join(labels)}")
    if layers:
        layers = [layers] if isinstance(layers, str) else list(layers)
        rows = rows[rows["layer"].isin(layers)]
        if rows.empty:
            raise GanphonError(f"{_source(table)}: no '{measure}' rows for layer(s) {', '.join(layers)}")
    rows = rows.copy()
    for key in INTERVAL_KEYS:
        if key not in rows.columns:
            rows[key] = np.nan
    keys = ["sample_id", "layer", *INTERVAL_KEYS]
    carry = ["sweep_value", "base"] + (["var"] if "var" in rows.columns else [])
    if point_agg is None:
        point = ["point"] if "point" in rows.columns else []
        frame = rows[keys + point + carry + ["value"]].copy()
    else:
        grouped = rows.groupby(keys + carry, dropna=False, sort=False)["value"]
        frame = grouped.agg(point_agg).rename("value").to_frame()
        frame["n_points"] = grouped.count()
        frame = frame.reset_index()
    frame = frame.rename(columns={"value": measure}).rename(columns={"sweep_value": "value"})
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame = frame[frame["value"].notna()]
    order = sort_layers(frame["layer"].unique())
    frame["layer"] = pd.Categorical(frame["layer"], categories=order, ordered=True)
    frame = frame.sort_values(["layer", "base", "value", "sample_id", "start"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame.attrs["source"] = _source(table)
    frame.attrs["measure"] = measure
    return frame


def _complete(frame: pd.DataFrame, outcome: str) -> pd.DataFrame:
    _require(frame, [outcome, "value", "base", "layer"], "a mixed model")
    data = frame[np.isfinite(pd.to_numeric(frame[outcome], errors="coerce"))
                 & np.isfinite(pd.to_numeric(frame["value"], errors="coerce"))].copy()
    data[outcome] = data[outcome].astype(float)
    data["value"] = data["value"].astype(float)
    return data


def default_labels(measure: str) -> tuple:
    """Interval labels a measure is modelled in by default.

    ``fric`` for spectral moments and frication measures
    (:data:`FRICATION_MEASURES`), ``fric`` and ``voi`` (one model each) for
    ``duration``, ``voi`` for F0, formants and intensity: the ``labels`` of the
    measure's family (:data:`ganphon.measures.FAMILIES`), ``voi`` for any other.
    """
    return _measures.labels_of(measure)


def segmented_layers(table: pd.DataFrame, reference: str = layout.OUTPUT_LAYER) -> list:
    """Layers measured on intervals of their own (``annotate --layers``), in network order.

    A layer whose rows carry another tier than the ``reference`` layer's (``auto_conv3``
    vs the output's ``auto``) was segmented itself; the others were measured on the
    reference's intervals, so their durations are the reference's.  Without a
    ``reference`` layer or a ``tier`` column, every layer counts as segmented.
    """
    if "layer" not in table.columns:
        return []
    layers = sort_layers(table["layer"].dropna().unique())
    if "tier" not in table.columns or reference not in layers:
        return layers
    # each layer's tiers, from the distinct (layer, tier) pairs (a vectorised pass, not a lambda per group)
    pairs = pd.DataFrame({"layer": table["layer"].astype(str), "tier": table["tier"]}).dropna().drop_duplicates()
    tiers = {layer: {str(t) for t in part} for layer, part in pairs.groupby("layer", sort=False)["tier"]}
    out = tiers.get(reference, set())
    return [layer for layer in layers
            if layer == reference or (tiers.get(layer) and tiers[layer].isdisjoint(out))]
