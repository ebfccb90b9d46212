"""The paper's correlation table, the standardised effect per layer, and the first layer."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import layout
from ..errors import GanphonError, ParameterError, name_list
from .adjust import check_alpha
from .mixed import MixedTask, _one_model, model_name
from .tables import (INTERVAL_KEYS, PAPER_MEASURES, TEXTGRID_MEASURES, _complete, _require, _source, distinct,
                     segmented_layers, sort_layers, without_artefacts)

EFFECT_COLUMNS = ["outcome", "label", "layer", "beta", "se", "df", "ci_low", "ci_high", "p", "n_obs",
                  "n_groups", "engine", "method", "warnings"]
CORRELATION_COLUMNS = ["measure", "layer", "r", "ci_low", "ci_high", "n", "p"]


# --------------------------------------------------------------------------
# Correlations (the paper's table)


def _near_one(a: np.ndarray) -> np.ndarray:
    """``a`` times the power of two that brings its largest magnitude into [0.5, 1) (exact: no rounding)."""
    return np.ldexp(a, -int(np.frexp(np.max(np.abs(a)))[1]))


def pearson(x, y, confidence: float = 0.95) -> dict:
    """Pearson r with a Fisher-z confidence interval and the two-sided t-test p.

    Parameters
    ----------
    x, y : array-like
        Paired values; pairs with a NaN are dropped.
    confidence : float

    Returns
    -------
    dict
        ``r``, ``ci_low``, ``ci_high``, ``n``, ``p`` (NaN where undefined:
        r needs n ≥ 3 and variation in both, the interval n ≥ 4).
    """
    from .distributions import norm_ppf, t_sf

    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(x.size)
    out = {"r": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": n, "p": math.nan}
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    # r does not depend on either scale: each series is brought to magnitudes near 1 before and after
    # centring, so squares neither overflow (values near 1e200) nor vanish (near 1e-200); by a power of two,
    # which rounds nothing (r is bit for bit the unscaled formula's wherever that one is finite)
    dx, dy = _near_one(x), _near_one(y)
    dx, dy = _near_one(dx - dx.mean()), _near_one(dy - dy.mean())
    r = float(np.clip(np.sum(dx * dy) / math.sqrt(np.sum(dx * dx) * np.sum(dy * dy)), -1.0, 1.0))
    out["r"] = r
    if abs(r) < 1.0:
        t = r * math.sqrt((n - 2) / (1.0 - r * r))
        out["p"] = float(2.0 * t_sf(abs(t), n - 2))
    else:
        out["p"] = 0.0
    if n > 3:
        half = norm_ppf(0.5 + confidence / 2.0) / math.sqrt(n - 3)
        z = math.atanh(min(max(r, -1 + 1e-15), 1 - 1e-15))
        out["ci_low"], out["ci_high"] = math.tanh(z - half), math.tanh(z + half)
    return out


def correlation_table(table: pd.DataFrame, measures=PAPER_MEASURES, reference: str = layout.OUTPUT_LAYER,
                      labels=None, match: str = "interval", include_artefacts: bool = False,
                      point_agg: str | None = "mean") -> pd.DataFrame:
    """Pearson r between each layer's measurement and the reference layer's (the paper's table).

    One pair per interval (the paper's unit: "38 voiced stretches"): a point
    measure (F0, intensity, formants at N points) is summarised over the
    points of each interval first, as in the model frames.  Its points are not
    independent observations: counted one by one they had made n ten times
    the intervals and the CI and p as if it were.

    Parameters
    ----------
    table : pandas.DataFrame
        Long acoustic table with ``sample_id`` and ``layer`` columns.
    measures : sequence of str
        Measures to correlate (absent ones are skipped).
    reference : str
        The layer every other layer is compared with.
    labels : sequence of str, optional
        Keep only intervals with these labels (e.g. ``["voi"]``).
    match : {"interval", "order"}
        ``interval``: rows match when sample_id, tier, label, start, end and
        point are equal (layers measured on the output's intervals).
        ``order``: the k-th interval with a label in one file matches the
        k-th in the other, whatever the tier and times (layers annotated on
        their own ``auto_<layer>`` tiers, e.g. for duration).
        Measures read from the TextGrid alone (``duration``) are always paired
        by ``order``, and only for layers segmented on tiers of their own
        (:func:`~ganphon.stats.segmented_layers`): a layer measured on the
        reference's intervals has the reference's numbers (r = 1 by
        construction, not a finding), so it has no row.
    include_artefacts : bool
        Keep the F0 values on generator artefact frequencies (``f0_artefact``);
        by default they are left out.
    point_agg : {"mean", "median", None}
        How a point measure is summarised over the points of an interval, in
        each layer (NaN points skipped; an interval without a defined point
        has no pair); None pairs the points themselves (n counts points: a
        description, not independent pairs).

    Returns
    -------
    pandas.DataFrame
        Columns measure, layer, r, ci_low, ci_high (95 %, Fisher z), n (pairs:
        intervals, or points with ``point_agg=None``), p; NaN rows are dropped
        pairwise.
    """
    _require(table, ["sample_id", "layer", "measure", "value"], "a correlation table")
    if match not in ("interval", "order"):
        raise ParameterError("match", f"must be 'interval' or 'order', got {match!r}")
    if point_agg not in ("mean", "median", None):
        raise ParameterError("point_agg", f"must be 'mean', 'median' or None, got {point_agg!r}")
    measures = name_list(measures, "measures")
    if reference not in distinct(table["layer"]):
        raise GanphonError(f"{_source(table)}: no rows for the reference layer '{reference}'")
    if not include_artefacts:
        table = without_artefacts(table)
    rows = []
    # only the columns used below are copied with each measure's rows (a joined table has many more)
    used = [c for c in ["sample_id", "layer", *INTERVAL_KEYS, "point", "value"] if c in table.columns]
    for measure in measures:
        from_textgrid = measure in TEXTGRID_MEASURES
        part = table.loc[table["measure"] == measure, used].copy()
        # the layers whose rows of this measure lie on tiers of their own (segmented themselves)
        own = set(segmented_layers(part, reference)) if from_textgrid else set()
        if labels:
            part = part[part["label"].isin([labels] if isinstance(labels, str) else list(labels))]
        if part.empty:
            continue
        for key in INTERVAL_KEYS + ["point"]:
            if key not in part.columns:
                part[key] = np.nan
        # missing keys (interval measures have no point; a file measured whole has no
        # tier) must still match themselves: pivoting drops NaN keys
        part["point"] = pd.to_numeric(part["point"], errors="coerce").fillna(-1).astype(int)
        part[["tier", "label"]] = part[["tier", "label"]].astype(object).fillna("")
        part[["start", "end"]] = part[["start", "end"]].astype(float).fillna(-1.0)
        if match == "interval" and not from_textgrid:
            keys = ["sample_id", "tier", "label", "start", "end", "point"]
        else:
            part = part.sort_values(["sample_id", "layer", "start", "point"], kind="stable")
            first = part.drop_duplicates(["sample_id", "layer", "tier", "label", "start", "end"])
            first = first.assign(ordinal=first.groupby(["sample_id", "layer", "label"]).cumcount())
            part = part.merge(first[["sample_id", "layer", "tier", "label", "start", "end", "ordinal"]],
                              on=["sample_id", "layer", "tier", "label", "start", "end"], how="left")
            keys = ["sample_id", "label", "ordinal", "point"]
        if point_agg is not None:  # one value per interval and layer
            keys = [key for key in keys if key != "point"]
        # observed key combinations only (a pivot with dropna=False would build their full product)
        wide = part.groupby(keys + ["layer"], sort=True)["value"].agg(point_agg or "mean").unstack("layer")
        if reference not in wide.columns:
            continue
        for layer in sort_layers(wide.columns):
            if layer == reference or (from_textgrid and layer not in own):
                continue
            rows.append({"measure": measure, "layer": layer, **pearson(wide[layer], wide[reference])})
    out = pd.DataFrame(rows, columns=CORRELATION_COLUMNS)
    out["n"] = out["n"].astype(int)
    return out


# --------------------------------------------------------------------------
# Where does the effect start


def effect_by_layer(frame: pd.DataFrame, outcome: str, random_slope: bool = True,
                    min_obs: int = 10, fits=None, label: str = "") -> pd.DataFrame:
    """Standardised value effect per layer: outcome and value z-scored within layer.

    Each layer's slope comes from the mixed model of :func:`fit_mixed` on the
    z-scored data (random intercept and slope by base, with the same
    fallback), or OLS when there is a single base latent.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`model_frame`.
    outcome : str
    random_slope : bool
    min_obs : int
        Layers with fewer complete rows get NaN (and say so in ``warnings``).
    fits : list of MixedFit, optional
        ML fits of the same frame from :func:`fit_mixed`: their value slopes are
        rescaled by sd(value) / sd(outcome) instead of refitting (the ML fit of
        an affinely rescaled outcome and value is the rescaled fit).
    label : str
        Interval label(s) of the frame, written into the ``label`` column.

    Returns
    -------
    pandas.DataFrame
        Columns outcome, label, layer, beta, se, df, ci_low, ci_high (95 %,
        t with the fit's small-sample df), p (Wald t), n_obs, n_groups, engine,
        method, warnings; layers in network order.
    """
    data = _complete(frame, outcome)
    by_layer = {f.layer: f for f in (fits or [])}
    rows = []
    for layer in sort_layers(data["layer"].astype(str).unique()):
        part = data[data["layer"].astype(str) == layer].copy()
        row = {"outcome": outcome, "label": label, "layer": layer, "beta": math.nan, "se": math.nan,
               "df": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p": math.nan, "n_obs": len(part),
               "n_groups": part["base"].nunique(), "engine": "", "method": "", "warnings": ""}
        sd_y, sd_x = part[outcome].std(), part["value"].std()
        if len(part) < max(min_obs, 4):
            row["warnings"] = f"{len(part)} complete rows (fewer than {max(min_obs, 4)}): not fitted"
            rows.append(row)
            continue
        if not (sd_y > 0) or not (sd_x > 0):
            row["warnings"] = "no variation to standardise (constant outcome or value)"
            rows.append(row)
            continue
        if layer in by_layer:
            fit, scale = by_layer[layer], sd_x / sd_y
        else:
            part[outcome] = (part[outcome] - part[outcome].mean()) / sd_y
            part["value"] = (part["value"] - part["value"].mean()) / sd_x
            task = MixedTask(part, outcome, layer, "value", "1", random_slope=random_slope, reml=False, label=label)
            fit, scale = _one_model(task), 1.0
        coef = fit.coefficients().set_index("term").loc["value"]
        row.update(beta=coef["estimate"] * scale, se=coef["se"] * scale, ci_low=coef["ci_low"] * scale,
                   ci_high=coef["ci_high"] * scale, p=coef["p"], df=coef["df"], engine=fit.engine,
                   method=fit.method, warnings="; ".join(fit.warnings))
        rows.append(row)
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


def first_layer(effects: pd.DataFrame, alpha: float = 0.05, outcome: str | None = None,
                adjust: str | None = None) -> str | None:
    """The first layer, in network order, whose (1 − alpha) CI of the effect excludes 0.

    The interval is ``beta ± t_{1−alpha/2, df} · se`` with the small-sample
    df of the table's ``df`` column (``bases − 1`` for a slope with a random
    slope by base; normal quantiles when the table has no ``df``).  Each
    layer is tested at ``alpha`` on its own, as in the paper: with six layers
    and no effect anywhere, some layer's interval excludes 0 up to a quarter of
    the time (1 − 0.95⁶ were the tests independent).  ``adjust="holm"``: the
    first layer whose p (the table's ``p``, the same Wald t test) stays below
    ``alpha`` after Holm's step-down adjustment over the layers with a p, which
    holds the chance of naming any layer wrongly to ``alpha``.

    Parameters
    ----------
    effects : pandas.DataFrame
        From :func:`effect_by_layer` (columns outcome, layer, beta, se[, df, label]; ``p`` for ``adjust``).
    alpha : float
    outcome : str, optional
        Needed when ``effects`` holds several outcomes.
    adjust : {None, "holm"}

    Returns
    -------
    str or None
        None when no layer's interval excludes 0.
    """
    if adjust not in (None, "holm"):
        raise ParameterError("adjust", f"must be None or 'holm', got {adjust!r}")
    if "label" in effects.columns:
        names = [model_name(o, lab) for o, lab in zip(effects["outcome"], effects["label"].fillna(""))]
        effects = effects.assign(outcome_label=names)
    else:
        effects = effects.assign(outcome_label=effects["outcome"])
    if outcome is not None:
        effects = effects[(effects["outcome_label"] == outcome)
                          | ((effects["outcome"] == outcome) & (effects["outcome_label"].nunique() == 1))]
    if effects["outcome_label"].nunique() > 1:
        raise GanphonError(f"effects hold several outcomes ({', '.join(effects['outcome_label'].unique())}); "
                           "pass outcome= (e.g. 'f1/voi')")
    check_alpha(alpha)
    from .distributions import norm_ppf, t_ppf

    if adjust == "holm":
        from .adjust import holm

        _require(effects, ["layer", "p"], "a Holm-adjusted first layer")
        by_layer = effects.drop_duplicates("layer").set_index("layer")["p"].astype(float)
        adjusted = pd.Series(holm(by_layer.to_numpy()), index=by_layer.index)
        return next((layer for layer in sort_layers(by_layer.index) if adjusted[layer] < alpha), None)
    for layer in sort_layers(effects["layer"]):
        row = effects[effects["layer"] == layer].iloc[0]
        df = float(row["df"]) if "df" in row.index and pd.notna(row["df"]) else math.inf
        half = t_ppf(1 - alpha / 2, df) if np.isfinite(df) else norm_ppf(1 - alpha / 2)
        low, high = row["beta"] - half * row["se"], row["beta"] + half * row["se"]
        if np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0):
            return layer
    return None

