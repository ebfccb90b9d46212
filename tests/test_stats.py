"""Statistics recover planted effects: mixed-model slopes, LRTs, correlations, layer onsets,
latent discovery and feature-map clusters."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import torch
from scipy import stats as sps
from scipy.io import wavfile

from ganphon import __version__, io, stats
from ganphon.cli import main
from ganphon.errors import GanphonError

LAYERS = ["dense", "conv1", "conv2", "conv3", "conv4", "output"]
VALUES = np.arange(-15.0, 6.0, 2.0)  # the paper's z11 sweep: 11 values


def sweep_table(slopes, n_bases=10, values=VALUES, points=3, measure="f0", intercept=120.0,
                sd_base=3.0, sd_slope=0.0, sd_noise=1.0, seed=0):
    """A long acoustic table of a simulated sweep: outcome = intercept + u_b + (slope + s_b)·value + noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(n_bases):
        u, s = rng.normal(0, sd_base), rng.normal(0, sd_slope)
        for i, v in enumerate(values):
            sid = f"b{b:03d}_v{i:03d}"
            for layer, slope in slopes.items():
                for point in range(1, points + 1):
                    rows.append({
                        "file": f"{sid}_{layer}.wav", "tier": "auto", "label": "voi", "start": 0.4, "end": 0.6,
                        "point": point, "time": 0.4 + 0.2 * (point - 0.5) / points, "measure": measure,
                        "value": intercept + u + (slope + s) * v + rng.normal(0, sd_noise), "note": "",
                        "f0_artefact": np.nan, "sample_id": sid, "layer": layer, "sweep_value": v, "base": b, "var": "z11",
                    })
    return pd.DataFrame(rows)


def standardised_fit(formula, data, re_formula="~value"):
    """An independent ML fit with value centred and scaled (same likelihood; better conditioned)."""
    d = data.assign(value=(data["value"] - data["value"].mean()) / data["value"].std(ddof=0))
    model = smf.mixedlm(formula, d, groups=d["base"], re_formula=re_formula)
    result = model.fit(reml=False, method=["bfgs", "lbfgs", "powell"])
    assert result.converged  # a reference must be a maximum
    return result


# --------------------------------------------------------------------------
# model frames and layer order


def test_layer_order_is_network_order():
    assert stats.sort_layers(["output", "conv10", "conv2", "dense", "conv1", "conv9"]) == \
        ["dense", "conv1", "conv2", "conv9", "conv10", "output"]


def test_model_frame_averages_points_and_names_columns():
    table = sweep_table({"conv2": 0.5, "output": 1.0}, n_bases=2, values=[-1.0, 1.0], points=4)
    table.loc[(table["point"] == 2) & (table["sample_id"] == "b000_v000"), "value"] = np.nan
    frame = stats.model_frame(table, "f0")
    assert list(frame["layer"].cat.categories) == ["conv2", "output"]
    assert len(frame) == 2 * 2 * 2
    row = frame[(frame["sample_id"] == "b000_v000") & (frame["layer"] == "output")].iloc[0]
    raw = table[(table["sample_id"] == "b000_v000") & (table["layer"] == "output")]["value"]
    assert row["f0"] == pytest.approx(np.nanmean(raw.to_numpy())) and row["n_points"] == 3
    assert row["value"] == -1.0 and row["base"] == 0
    kept = stats.model_frame(table, "f0", point_agg=None)
    assert len(kept) == len(table) and "point" in kept.columns
    with pytest.raises(GanphonError, match="no rows for measure 'f3'"):
        stats.model_frame(table, "f3")
    with pytest.raises(GanphonError, match="no sweep columns"):
        stats.model_frame(table.drop(columns=["sweep_value"]), "f0")


# --------------------------------------------------------------------------
# mixed models


def test_mixedlm_recovers_known_slope_within_its_ci():
    table = sweep_table({"conv3": 0.7}, sd_base=3.0, sd_slope=0.15, sd_noise=1.0, seed=3)
    frame = stats.model_frame(table, "f0")
    (fit,) = stats.fit_mixed(frame, "f0")
    coef = fit.coefficients().set_index("term").loc["value"]
    assert coef["ci_low"] < 0.7 < coef["ci_high"]
    assert fit.method == "mixedlm ML, random intercept and slope by base"
    assert fit.formula == "f0 ~ value" and fit.re_formula == "(value | base)"
    assert fit.n_obs == 110 and fit.n_groups == 10
    # the same model fitted independently in standardised units gives the same slope
    ref = standardised_fit("f0 ~ value", frame)
    assert coef["estimate"] == pytest.approx(ref.fe_params["value"] / frame["value"].std(ddof=0), rel=1e-4)
    assert coef["se"] == pytest.approx(ref.bse_fe["value"] / frame["value"].std(ddof=0), rel=1e-2)


def test_lrt_equals_twice_the_llf_difference_of_independent_refits():
    table = sweep_table({"conv1": 0.05}, n_bases=8, sd_base=2.0, sd_slope=0.05, sd_noise=1.5, seed=11)
    frame = stats.model_frame(table, "f0")
    (fit,) = stats.fit_mixed(frame, "f0")
    assert "random intercept and slope" in fit.method
    full = standardised_fit("f0 ~ value", frame)
    null = standardised_fit("f0 ~ 1", frame)
    expected = 2.0 * (full.llf - null.llf)
    row = stats.lrt_table([fit]).iloc[0]
    assert row["stat"] == pytest.approx(expected, abs=2e-3)
    assert row["df"] == 1
    assert row["p"] == pytest.approx(sps.chi2.sf(row["stat"], 1), rel=1e-9)
    assert row["llf_full"] == pytest.approx(full.llf, abs=1e-3)
    # the fit reaches at least the maximum statsmodels finds on the raw scale
    raw = smf.mixedlm("f0 ~ value", frame, groups=frame["base"], re_formula="~value").fit(reml=False)
    assert fit.ml_result.llf >= raw.llf - 1e-6
    direct = stats.lrt(fit.ml_result, fit.null_result)
    assert direct["stat"] == pytest.approx(2 * (fit.ml_result.llf - fit.null_result.llf))


def test_boundary_fit_is_kept_and_flagged_and_reaches_the_nested_maximum():
    # each base latent is seen at a single value: the slope variance is not identified (a boundary fit)
    rng = np.random.default_rng(2)
    n_bases = 12
    values = rng.uniform(-10, 10, n_bases)
    rows = [{"value": v, "base": b, "layer": "conv4", "y": 3 + 0.7 * v + rng.normal(0, 1.0)}
            for b, v in enumerate(values) for _ in range(4)]
    frame = pd.DataFrame(rows)
    (fit,) = stats.fit_mixed(frame, "y")
    # lme4 keeps a singular fit as converged, with a note; so does ganphon
    assert fit.method == "mixedlm ML, random intercept and slope by base, singular"
    assert fit.ml_result.singular and any("singular" in w for w in fit.warnings)
    assert "singular" in fit.coefficients()["warnings"].iloc[0]
    assert bool(fit.coefficients()["singular"].iloc[0])
    # it nests the random-intercept model: its maximum is at least that model's (fitted independently)
    ref = smf.mixedlm("y ~ value", frame, groups=frame["base"]).fit(reml=False)
    assert fit.ml_result.llf >= ref.llf - 1e-6
    # random intercept only: the same estimate as statsmodels on the raw data
    (only,) = stats.fit_mixed(frame, "y", random_slope=False)
    assert only.method.startswith("mixedlm ML, random intercept by base") and only.re_formula == "(1 | base)"
    assert only.result.fe_params["value"] == pytest.approx(ref.fe_params["value"], rel=1e-5)
    assert only.ml_result.llf == pytest.approx(ref.llf, abs=1e-4)


def test_t_intervals_use_between_within_df():
    table = sweep_table({"conv3": 0.4}, n_bases=7, sd_slope=0.1, seed=21)
    frame = stats.model_frame(table, "f0")
    (fit,) = stats.fit_mixed(frame, "f0", df="bases")
    coef = fit.coefficients().set_index("term")
    assert set(coef["df_method"]) == {"between-within"}
    # value has a random slope by base: df = bases − 1 for both terms
    assert coef["df"].tolist() == [6.0, 6.0]
    for term in ("Intercept", "value"):
        row = coef.loc[term]
        half = sps.t.ppf(0.975, 6) * row["se"]
        assert row["ci_low"] == pytest.approx(row["estimate"] - half, rel=1e-12)
        assert row["p"] == pytest.approx(2 * sps.t.sf(abs(row["estimate"] / row["se"]), 6), rel=1e-9)
    # random intercept only: value varies within bases, n − bases − 1 df
    (only,) = stats.fit_mixed(frame, "f0", random_slope=False, df="bases")
    assert only.coefficients().set_index("term").loc["value", "df"] == len(frame) - 7 - 1
    assert only.coefficients().set_index("term").loc["Intercept", "df"] == 6
    # the standardised effects and the first layer use the same t
    eff = stats.effect_by_layer(frame, "f0", fits=[fit]).iloc[0]
    assert eff["df"] == 6
    assert eff["ci_high"] - eff["beta"] == pytest.approx(sps.t.ppf(0.975, 6) * eff["se"], rel=1e-9)


def test_fixed_effect_se_is_lme4s_vcov_at_the_estimates():
    """σ² (Σ X'(I + ZΨZ')⁻¹X)⁻¹ written out by hand in raw units from the fit's own variances."""
    table = sweep_table({"conv3": 0.6}, n_bases=9, sd_base=2.0, sd_slope=0.2, seed=12)
    frame = stats.model_frame(table, "f0")
    (fit,) = stats.fit_mixed(frame, "f0")
    sd = fit.ml_result.re_sd
    cov = sd["base"] * sd["value"] * sd["corr"]
    psi = np.array([[sd["base"] ** 2, cov], [cov, sd["value"] ** 2]]) / sd["resid"] ** 2
    A = np.zeros((2, 2))
    for _, part in frame.groupby("base"):
        X = np.column_stack([np.ones(len(part)), part["value"]])
        A += X.T @ np.linalg.solve(np.eye(len(part)) + X @ psi @ X.T, X)
    se = np.sqrt(np.diag(sd["resid"] ** 2 * np.linalg.inv(A)))
    assert fit.result.bse_fe.to_numpy() == pytest.approx(se, rel=1e-6)


def test_single_base_uses_ols_and_interaction_model_separates_layers():
    table = sweep_table({"conv1": 0.2, "output": 0.7}, n_bases=1, sd_noise=0.5, seed=5)
    frame = stats.model_frame(table, "f0")
    with pytest.raises(GanphonError, match="needs at least 2 bases, the sweep has 1"):
        stats.fit_mixed(frame, "f0")
    fits = stats.fit_mixed(frame, "f0", single_base="ols")
    assert [f.layer for f in fits] == ["conv1", "output"]
    out = fits[1].coefficients().set_index("term")
    part = frame[frame["layer"] == "output"]
    slope = np.polyfit(part["value"], part["f0"], 1)[0]
    assert fits[1].method == "ols (one base latent)"
    assert out.loc["value", "estimate"] == pytest.approx(slope, rel=1e-9)

    table = sweep_table({"conv1": 0.2, "output": 0.7}, n_bases=8, sd_slope=0.05, sd_noise=0.5, seed=6)
    (fit,) = stats.fit_mixed(stats.model_frame(table, "f0"), "f0", by="interaction")
    coef = fit.coefficients().set_index("term")
    diff = coef.loc["value:C(layer)[T.output]"]
    assert diff["ci_low"] < 0.5 < diff["ci_high"]
    assert coef.loc["value", "ci_low"] < 0.2 < coef.loc["value", "ci_high"]
    assert fit.lrt()["df"] == 2 and fit.layer == "all"
    assert "random effects (sd, raw units)" in fit.summary() and "LRT value effect" in fit.summary()


def test_reml_fit_reported_but_lrt_by_ml():
    table = sweep_table({"conv3": 0.4}, n_bases=6, sd_slope=0.1, seed=8)
    frame = stats.model_frame(table, "f0")
    (fit,) = stats.fit_mixed(frame, "f0", reml=True)
    assert fit.result.method == "REML" and fit.ml_result.method == "ML"
    with pytest.raises(GanphonError, match="ML fits"):
        stats.lrt(fit.result, fit.null_result)
    assert np.isfinite(fit.coefficients()["aic"]).all()


def test_layers_with_too_few_rows_are_not_modelled():
    table = sweep_table({"conv1": 0.5, "conv2": 0.5}, n_bases=3, values=[-1.0, 0.0, 1.0], seed=4)
    table.loc[(table["layer"] == "conv1") & (table["sample_id"] > "b000_v002"), "value"] = np.nan
    frame = stats.model_frame(table, "f0")
    assert [f.layer for f in stats.fit_mixed(frame, "f0", min_obs=5)] == ["conv2"]
    effects = stats.effect_by_layer(frame, "f0", min_obs=5).set_index("layer")
    assert np.isnan(effects.loc["conv1", "beta"]) and "3 complete rows" in effects.loc["conv1", "warnings"]
    assert np.isfinite(effects.loc["conv2", "beta"])


# --------------------------------------------------------------------------
# GAM


def test_gam_follows_a_nonlinear_curve():
    rng = np.random.default_rng(4)
    values = np.linspace(-3, 3, 25)
    frame = pd.DataFrame([{"layer": "conv2", "base": b, "value": v, "y": math.sin(v) + rng.normal(0, 0.15)}
                          for b in range(6) for v in values])
    gams = stats.fit_gam(frame, "y", df=7)
    curve = stats.gam_curves(gams, "y", values=np.linspace(-2.5, 2.5, 11))
    assert np.max(np.abs(curve["fit"] - np.sin(curve["value"]))) < 0.12
    covered = (curve["ci_low"] <= np.sin(curve["value"])) & (np.sin(curve["value"]) <= curve["ci_high"])
    assert covered.mean() >= 0.8
    linear = smf.ols("y ~ value", frame).fit()
    assert gams["conv2"].aic < linear.aic - 100


# --------------------------------------------------------------------------
# correlations


def corr_table():
    rng = np.random.default_rng(7)
    rows = []
    for s in range(30):
        sid = f"s{s:06d}"
        intervals = [(0.1 + 0.01 * s, 0.3, "voi"), (0.5, 0.7 + 0.005 * s, "voi")]
        for (start, end, label) in intervals:
            truth = rng.normal(200, 30, size=4)
            dur = end - start
            for layer, noise in (("conv3", 40.0), ("conv4", 10.0), ("output", 0.0)):
                for p in range(4):
                    v = truth[p] + rng.normal(0, noise) if noise else truth[p]
                    rows.append({"file": f"{sid}_{layer}.wav", "tier": "auto", "label": label, "start": start,
                                 "end": end, "point": p + 1, "time": np.nan, "measure": "f0", "value": v,
                                 "note": "", "f0_artefact": np.nan, "sample_id": sid, "layer": layer})
                rows.append({"file": f"{sid}_{layer}.wav", "tier": "auto", "label": label, "start": start,
                             "end": end, "point": pd.NA, "time": np.nan, "measure": "duration",
                             "value": dur * (1 + rng.normal(0, 0.1)) if layer != "output" else dur,
                             "note": "", "f0_artefact": np.nan, "sample_id": sid, "layer": layer})
    table = pd.DataFrame(rows)
    # undefined values, dropped pairwise
    table.loc[table.index[::17], "value"] = np.nan
    return table


def own_tiers(table):
    """``table`` with each layer's duration rows on a tier of its own (``auto_<layer>``), as ``annotate
    --layers`` makes them: the layer segmented itself."""
    table = table.copy()
    own = (table["measure"] == "duration") & (table["layer"] != "output")
    table.loc[own, "tier"] = "auto_" + table.loc[own, "layer"]
    return table


def assert_numpy_pearson(table, row, point_agg):
    """``row`` of a correlation table is numpy's Pearson r (scipy's p, the Fisher CI) of the layer's values
    against the output's: one pair per interval, each its defined points averaged (``point_agg="mean"``), or
    each point a pair (None), or their median (``"median"``)."""
    part = table[table["measure"] == row.measure]
    key = ["sample_id", "start", "end"]

    def values(layer):
        rows = part[part["layer"] == layer]
        if point_agg is None:  # each point its own pair (durations have one row an interval)
            return rows.set_index([*key, rows["point"].fillna(-1).rename("p")])["value"]
        means = {}
        for k, group in rows.groupby(key):
            defined = group["value"].dropna().to_numpy()
            means[k] = (np.median if point_agg == "median" else np.mean)(defined) if len(defined) else np.nan
        return pd.Series(means)

    a, b = values(row.layer).align(values("output"), join="inner")
    ok = a.notna() & b.notna()
    r = np.corrcoef(a[ok], b[ok])[0, 1]
    n = int(ok.sum())
    assert row.n == n and row.r == pytest.approx(r, abs=1e-12), (point_agg, row)
    half = 1.959963984540054 / math.sqrt(n - 3)
    assert row.ci_low == pytest.approx(math.tanh(math.atanh(r) - half), abs=1e-9)
    assert row.ci_high == pytest.approx(math.tanh(math.atanh(r) + half), abs=1e-9)
    assert row.p == pytest.approx(sps.pearsonr(a[ok], b[ok]).pvalue, rel=1e-6)


def test_correlation_table_matches_numpy_and_fisher_ci():
    table = corr_table()
    # every layer's durations here are on the output's tier: in a measured table they are the output's numbers
    # (r = 1 by construction, not a finding), so they have no row
    assert stats.correlation_table(table, measures=("f0", "duration", "f3"))[["measure", "layer"]].values.tolist() \
        == [["f0", "conv3"], ["f0", "conv4"]]
    table = own_tiers(table)
    corr = stats.correlation_table(table, measures=("f0", "duration", "f3"))
    assert list(corr.columns) == ["measure", "layer", "r", "ci_low", "ci_high", "n", "p"]
    assert corr[["measure", "layer"]].values.tolist() == [["f0", "conv3"], ["f0", "conv4"],
                                                         ["duration", "conv3"], ["duration", "conv4"]]
    by_point = stats.correlation_table(table, measures=("f0", "duration", "f3"), point_agg=None)
    medians = stats.correlation_table(table, measures=("f0",), point_agg="median")
    for point_agg, result in (("mean", corr), (None, by_point), ("median", medians)):
        for row in result.itertuples():
            assert_numpy_pearson(table, row, point_agg)
    f0 = corr[corr["measure"] == "f0"].set_index("layer")["r"]
    assert f0["conv4"] > 0.8 > f0["conv3"]


def test_correlation_by_interval_order_pairs_layer_tiers():
    table = corr_table()
    part = table[(table["measure"] == "duration")].copy()
    # conv4 annotated on its own tier, with slightly different boundaries; conv3 measured on the output's
    conv4 = part["layer"] == "conv4"
    part.loc[conv4, "tier"] = "auto_conv4"
    part.loc[conv4, "start"] += 0.002
    # durations are paired by interval order whatever ``match`` says (by interval, a layer's own tier never
    # matches the output's), and only in the layer segmented itself
    for match in ("interval", "order"):
        ordered = stats.correlation_table(part, measures=["duration"], match=match).set_index("layer")
        assert list(ordered.index) == ["conv4"]
        key = ["sample_id", "label", "end"]  # the shifted start aside, the same intervals in the same order
        a = part[conv4].set_index(key)["value"]
        b = part[part["layer"] == "output"].set_index(key)["value"]
        a, b = a.align(b, join="inner")
        ok = a.notna() & b.notna()
        assert ordered.loc["conv4", "n"] == ok.sum()
        assert ordered.loc["conv4", "r"] == pytest.approx(np.corrcoef(a[ok], b[ok])[0, 1], abs=1e-12)


# --------------------------------------------------------------------------
# where does the effect start


def test_effect_by_layer_standardised_slope_and_first_layer():
    # one base: the standardised OLS slope is Pearson's r
    table = sweep_table({"dense": 0.0, "conv1": 0.0, "conv2": 0.3, "conv3": 0.7}, n_bases=1, seed=9)
    frame = stats.model_frame(table, "f0")
    effects = stats.effect_by_layer(frame, "f0")
    assert effects["layer"].tolist() == ["dense", "conv1", "conv2", "conv3"]
    for row in effects.itertuples():
        part = frame[frame["layer"] == row.layer]
        assert row.beta == pytest.approx(np.corrcoef(part["value"], part["f0"])[0, 1], abs=1e-9)
    # several bases: the mixed model; the effect appears first in conv2
    table = sweep_table({"dense": 0.0, "conv1": 0.0, "conv2": 0.3, "conv3": 0.7, "output": 0.9},
                        n_bases=8, sd_slope=0.03, seed=10)
    frame = stats.model_frame(table, "f0")
    effects = stats.effect_by_layer(frame, "f0")
    assert stats.first_layer(effects) == "conv2"
    # the mixed model is equivariant under rescaling: β_std = b · sd(value) / sd(outcome)
    part = frame[frame["layer"] == "conv3"]
    ref = standardised_fit("f0 ~ value", part)
    slope = ref.fe_params["value"] / part["value"].std(ddof=0)
    assert effects.set_index("layer").loc["conv3", "beta"] == pytest.approx(
        slope * part["value"].std() / part["f0"].std(), rel=1e-3)
    dense = effects.set_index("layer").loc["dense"]
    assert dense["ci_low"] < 0 < dense["ci_high"]
    both = pd.concat([effects, effects.assign(outcome="intensity")])
    with pytest.raises(GanphonError, match="several outcomes"):
        stats.first_layer(both)
    assert stats.first_layer(both, outcome="intensity") == "conv2"


def test_first_layer_holm_adjusted_over_the_layers():
    """Each layer tested at 5 % on its own names a layer wrongly up to a quarter of the time (1 − 0.95⁶ were
    the tests independent) when six layers have no effect; Holm's step-down adjustment over the layers holds
    that to 5 %.  By hand: p = 0.03, 0.2, 0.001, 0.0001 (conv1…conv4) → sorted 0.0001 · 4, 0.001 · 3,
    0.03 · 2, 0.2 · 1 = 0.0004, 0.003, 0.06, 0.2: conv1's 0.03 becomes 0.06, so the first layer is conv3."""
    def table(p, df=30.0):
        se = 1.0
        beta = [sps.t.isf(x / 2, df) * se for x in p]  # the Wald t of each p, so CI and p agree
        return pd.DataFrame({"outcome": "f0", "layer": ["conv1", "conv2", "conv3", "conv4"], "beta": beta,
                             "se": se, "df": df, "p": p})

    effects = table([0.03, 0.2, 0.001, 0.0001])
    assert stats.first_layer(effects) == "conv1"
    assert stats.first_layer(effects, adjust="holm") == "conv3"
    assert stats.first_layer(effects, adjust="holm", alpha=0.1) == "conv1"  # 0.06 < 0.1
    assert stats.first_layer(table([0.04, 0.03, 0.2, 0.5]), adjust="holm") is None  # 0.12, 0.12, 0.4, 0.5
    nan = table([np.nan, 0.02, 0.2, 0.5])  # a layer not fitted is not counted: 0.02 · 3 = 0.06
    assert stats.first_layer(nan, adjust="holm") is None and stats.first_layer(nan, adjust="holm", alpha=0.07) == \
        "conv2"
    with pytest.raises(GanphonError, match="adjust"):
        stats.first_layer(effects, adjust="bonferroni")


def test_stats_says_the_holm_adjusted_first_layer_where_it_differs(tmp_path, capsys):
    """The command's line names the layer the paper's rule gives and, where it differs, the Holm-adjusted
    one; ``stats.json`` records both, each equal to the rule applied to ``effects.csv`` by hand."""
    # conv2's small effect passes at 5 % on its own (p ≈ 0.03), not after Holm's adjustment over 4 layers
    table = sweep_table({"conv1": 0.0, "conv2": 0.03, "conv3": 0.5, "output": 0.8}, n_bases=6, sd_slope=0.03,
                        seed=7)
    folder = write_folder(tmp_path / "sweep", table)
    assert main(["stats", str(folder), "--measures", "f0", "--quiet"]) == 0
    printed = capsys.readouterr().out
    record = json.loads((folder / "stats" / "stats.json").read_text())
    effects = pd.read_csv(folder / "stats" / "effects.csv")
    ordered = effects.set_index("layer").loc[[x for x in ("conv1", "conv2", "conv3", "output")
                                              if x in set(effects["layer"])]]
    p = ordered["p"].to_numpy()
    m = np.isfinite(p).sum()
    order = np.argsort(p)
    holm = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):  # Holm by hand: (m − rank) · p, kept monotone
        running = max(running, min(1.0, (m - rank) * p[i]))
        holm[i] = running
    by_hand = next((layer for layer, q in zip(ordered.index, holm) if q < 0.05), None)
    unadjusted = next((layer for layer, row in ordered.iterrows() if row["ci_low"] > 0 or row["ci_high"] < 0), None)
    assert record["first_layer"] == {"f0/voi": unadjusted} and record["first_layer_holm"] == {"f0/voi": by_hand}
    assert (unadjusted, by_hand) == ("conv2", "conv3")
    line = next(x for x in printed.splitlines() if x.startswith("f0/voi:"))
    assert line == ("f0/voi: the value effect first appears in conv2 (95 % CI excludes 0; Holm-adjusted over the "
                    "layers: conv3)"), line


# --------------------------------------------------------------------------
# latent discovery


class TinyFricativeGenerator(torch.nn.Module):
    """A generator-like module: a fixed vowel plus a noise burst whose length is driven by z11."""

    def __init__(self, latent_dim=40, slice_len=16384, sr=16000, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.drive = torch.nn.Linear(latent_dim, 1)
        with torch.no_grad():
            self.drive.weight.zero_()
            self.drive.bias.zero_()
            self.drive.weight[0, 10] = -3.0  # z11
        t = torch.arange(slice_len) / sr
        vowel = sum(torch.sin(2 * math.pi * 120 * h * t) / h for h in range(1, 20))
        self.register_buffer("t", t)
        self.register_buffer("vowel", 0.3 * vowel * ((t > 0.45) & (t < 0.85)))
        self.register_buffer("noise", 0.1 * torch.randn(slice_len, generator=g))

    def forward(self, z):
        duration = 0.25 * torch.sigmoid(self.drive(z))  # [N, 1] seconds of frication
        burst = ((self.t >= 0.1) & (self.t < 0.1 + duration)).float()
        return self.vowel + self.noise * burst


def test_discovery_ranks_the_planted_latent_first(tmp_path):
    from ganphon.annotate import annotate_folder

    n, dim = 160, 40
    z = torch.rand(n, dim, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        waves = TinyFricativeGenerator(dim)(z).numpy().astype(np.float32)
    ids = [f"s{i:06d}" for i in range(n)]
    for sid, wave in zip(ids, waves):
        wavfile.write(tmp_path / f"{sid}_output.wav", 16000, wave)
    lat = pd.DataFrame(z.numpy().astype(float), columns=[f"z{i}" for i in range(1, dim + 1)])
    lat.insert(0, "sample_id", ids)
    lat.to_csv(tmp_path / "latents.csv", index=False)
    annotate_folder(tmp_path, progress=False)

    prop = stats.frication_property(tmp_path)
    truth = 0.25 / (1 + np.exp(3 * z[:, 10].numpy()))
    assert np.corrcoef(prop["fric_duration"], truth)[0, 1] > 0.95
    assert 0 < prop["has_fric"].mean() < 1

    linear = stats.discover(stats.read_latents(tmp_path), prop, kind="linear")
    assert linear.iloc[0]["var"] == "z11" and linear.iloc[0]["coef"] < 0
    assert linear["method"].iloc[0] == "ols" and linear["rank"].tolist() == list(range(1, dim + 1))
    logistic = stats.discover(tmp_path, prop, kind="logistic")
    assert logistic.iloc[0]["var"] == "z11" and logistic.iloc[0]["coef"] < 0
    # presence is a threshold on z11 alone: the MLE does not exist, the L1 fit is used and said so
    assert logistic["method"].iloc[0].startswith("logit-l1")
    assert not {"se", "z", "p"} & set(logistic.columns)  # no columns that would always be empty


def test_discovery_logit_without_separation():
    rng = np.random.default_rng(0)
    n = 600
    lat = pd.DataFrame(rng.uniform(-1, 1, (n, 12)), columns=[f"z{i}" for i in range(1, 13)])
    lat.insert(0, "sample_id", [f"s{i}" for i in range(n)])
    y = rng.random(n) < 1 / (1 + np.exp(-2.0 * lat["z7"]))
    prop = pd.Series(y.to_numpy().astype(int), index=lat["sample_id"], name="has_fric")
    ranked = stats.discover(lat, prop)
    top = ranked.iloc[0]
    assert top["var"] == "z7" and ranked["method"].iloc[0] == "logit"
    # standardised coefficient: 2 × sd(z7)
    assert abs(top["coef"] - 2.0 * lat["z7"].std(ddof=0)) < 3 * top["se"]
    assert top["p"] < 1e-10 and top["z"] == pytest.approx(top["coef"] / top["se"])


def test_discovery_with_more_latents_than_samples_uses_the_lasso():
    rng = np.random.default_rng(1)
    n, dim = 30, 40
    lat = pd.DataFrame(rng.uniform(-1, 1, (n, dim)), columns=[f"z{i}" for i in range(1, dim + 1)])
    lat.insert(0, "sample_id", [f"s{i}" for i in range(n)])
    prop = pd.DataFrame({"sample_id": lat["sample_id"],
                         "fric_duration": 0.1 + 0.05 * lat["z5"] + rng.normal(0, 0.005, n)})
    ranked = stats.discover(lat, prop, kind="linear")
    assert ranked.iloc[0]["var"] == "z5" and ranked["method"].iloc[0].startswith("ols-l1 (40 variables")
    # in the property's units per SD of z5 (shrunk towards 0 by the penalty)
    assert 0.5 * 0.05 * lat["z5"].std(ddof=0) < ranked.iloc[0]["coef"] <= 0.05 * lat["z5"].std(ddof=0) * 1.05


def test_frication_property_needs_the_auto_tier(tmp_path):
    import tgt

    grid = tgt.TextGrid()
    tier = tgt.IntervalTier(0, 1.024, "condition")
    tier.add_interval(tgt.Interval(0, 1.024, "z11=-15"))
    grid.add_tier(tier)
    path = tmp_path / "s000000.TextGrid"
    tgt.io.write_to_file(grid, str(path), format="long")
    with pytest.raises(GanphonError, match=r"s000000\.TextGrid: no tier 'auto'"):
        stats.frication_property([path])


# --------------------------------------------------------------------------
# feature maps


def planted_maps(seed=0, n_outputs=20, n=512):
    """Feature maps of two planted kinds: 6 that spike at four places, 14 smooth ones."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n)
    maps = np.empty((n_outputs, 20, n))
    for c in range(20):
        for i in range(n_outputs):
            if c < 6:
                base = 0.05 * rng.random(n)
                for centre in (0.2, 0.35, 0.5, 0.65):
                    base += (1.5 + rng.random()) * np.exp(-0.5 * ((t - centre) / 0.004) ** 2)
            else:
                base = 0.4 + 0.3 * np.sin(2 * np.pi * (t + rng.random() * 0.1 + c / 20)) + 0.05 * rng.random(n)
            maps[i, c] = np.maximum(base, 0)
    return maps, np.array([0] * 6 + [1] * 14)


@pytest.mark.parametrize("gamma", [1e-10, 1e-2])
def test_spectral_clustering_separates_spiky_from_smooth_maps(gamma):
    maps, truth = planted_maps()
    profiles = stats.activation_profiles(maps)
    assert np.allclose(profiles, maps.mean(axis=0))
    order = np.random.default_rng(5).permutation(20)
    labels = stats.cluster_feature_maps(profiles[order], gamma=gamma, k=2, seed=0)
    planted = truth[order]
    # the same partition, whatever the cluster numbers
    assert len(set(zip(labels, planted))) == 2 and len(set(labels)) == 2
    assert np.array_equal(labels, stats.cluster_feature_maps(profiles[order], gamma=gamma, k=2, seed=0))


def test_clustering_refuses_a_gamma_below_rounding():
    maps, _ = planted_maps(n_outputs=3)
    with pytest.raises(GanphonError, match="gamma = 1e-10 is too small"):
        stats.cluster_feature_maps(stats.activation_profiles(maps) * 1e-4)


def test_rank_maps_by_cosine():
    from scipy.spatial.distance import cosine

    maps_a, _ = planted_maps(seed=1, n_outputs=5)
    maps_b = maps_a.copy()
    maps_b[:, 13] = maps_b[:, 13, ::-1] ** 2  # changes shape strongly
    maps_b[:, 8] = maps_b[:, 8] * 3.0 + 0.2   # changes mostly in scale
    ranked = stats.rank_maps_by_cosine(maps_a, maps_b)
    assert ranked["map"].iloc[0] == 13 and ranked["rank"].iloc[0] == 1
    pa, pb = maps_a.mean(0), maps_b.mean(0)
    for row in ranked.itertuples():
        assert row.cosine_distance == pytest.approx(cosine(pa[row.map], pb[row.map]), abs=1e-12)
    assert ranked.set_index("map").loc[0, "cosine_distance"] == pytest.approx(0, abs=1e-12)


# --------------------------------------------------------------------------
# a folder, and the command


def write_folder(path, table, seed=5):
    path.mkdir(exist_ok=True)
    table.to_csv(path / "acoustics.csv", index=False)
    manifest = table.drop_duplicates(["sample_id", "layer"])[["sample_id", "layer", "file"]].assign(seed=seed)
    manifest.to_csv(path / "manifest.csv", index=False)
    return path


def test_run_stats_writes_every_table(tmp_path):
    table = pd.concat([
        sweep_table({"conv1": 0.0, "conv4": 0.5, "output": 0.8}, n_bases=5, values=VALUES[::2], seed=1),
        sweep_table({"conv1": 0.0, "conv4": 0.3, "output": 0.4}, n_bases=5, values=VALUES[::2], seed=2,
                    measure="intensity", intercept=70.0),
    ])
    folder = write_folder(tmp_path / "sweep", table)
    result = stats.run_stats(folder, measures=("f0", "intensity", "f2"))
    out = folder / "stats"
    for name in ("mixed_models.csv", "lrt.csv", "effects.csv", "correlations.csv", "summaries.txt",
                 "stats.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    mixed = pd.read_csv(out / "mixed_models.csv")
    assert list(mixed.columns) == stats.MIXED_COLUMNS
    assert list(mixed.columns[:13]) == ["outcome", "label", "layer", "formula", "re_formula", "term", "estimate",
                                        "se", "df", "t", "p", "ci_low", "ci_high"]
    assert len(mixed) == 2 * 3 * 2 and set(mixed["label"]) == {"voi"}
    lrt = pd.read_csv(out / "lrt.csv")
    assert lrt[["outcome", "layer"]].values.tolist() == [["f0", "conv1"], ["f0", "conv4"], ["f0", "output"],
                                                        ["intensity", "conv1"], ["intensity", "conv4"],
                                                        ["intensity", "output"]]
    assert np.allclose(lrt["stat"], 2 * (lrt["llf_full"] - lrt["llf_null"]))
    corr = pd.read_csv(out / "correlations.csv")
    pd.testing.assert_frame_equal(corr, stats.correlation_table(table, ["f0", "intensity"]), check_dtype=False)
    record = json.loads((out / "stats.json").read_text())
    assert record["versions"]["ganphon"] == __version__ and record["seed"]["manifest"] == [5]
    assert record["first_layer"] == {"f0/voi": "conv4", "intensity/voi": "conv4"} == result.first_layers
    assert record["labels_by_measure"] == {"f0": ["voi"], "intensity": ["voi"]}
    assert any("'f2' is not in acoustics.csv" in n for n in record["notes"])
    assert any("5 base latents" in n and "at least 20" in n for n in record["notes"])
    assert "LRT value effect" in (out / "summaries.txt").read_text()
    # every model's frame is saved, with an R script refitting each
    frames = sorted(p.name for p in (out / "frames").iterdir())
    assert frames == sorted([f"{m}_{x}_voi.csv" for m in ("f0", "intensity") for x in ("conv1", "conv4", "output")]
                            + ["refit.R"])
    saved = pd.read_csv(out / "frames" / "f0_conv4_voi.csv")
    fit_rows = mixed[(mixed["outcome"] == "f0") & (mixed["layer"] == "conv4")]
    assert len(saved) == fit_rows["n_obs"].iloc[0] and saved["value_c"].mean() == pytest.approx(0, abs=1e-12)
    refit = (out / "frames" / "refit.R").read_text()
    assert 'read.csv("f0_conv4_voi.csv")' in refit and "lmer(f0 ~ value + (value | base)" in refit
    assert not list(out.glob(".*tmp*"))


def test_folder_without_sweep_gets_correlations_only(tmp_path, capsys):
    folder = write_folder(tmp_path / "probe", corr_table())
    (folder / "stats").mkdir()
    (folder / "stats" / "lrt.csv").write_text("stale\n")  # from an earlier run: must not survive
    assert main(["stats", str(folder), "--measures", "f0,duration"]) == 0
    printed = capsys.readouterr().out
    assert "only the correlation table" in printed and "Pearson r with the output" in printed
    assert sorted(p.name for p in (folder / "stats").iterdir()) == ["correlations.csv", "stats.json"]


def test_a_sweep_of_one_value_is_said_once_and_gets_correlations_only(tmp_path, capsys):
    """z3 from 1 to 1: no effect of the swept value can be fitted; one note says so (not one per measure and
    layer, 12 here) and the correlation table is still computed."""
    table = pd.concat([sweep_table({"conv1": 0.0, "conv4": 0.5, "output": 0.8}, n_bases=4, values=[1.0], seed=1),
                       sweep_table({"conv1": 0.0, "conv4": 0.3, "output": 0.4}, n_bases=4, values=[1.0], seed=2,
                                   measure="intensity", intercept=70.0)]).assign(var="z3")
    folder = write_folder(tmp_path / "one", table)
    assert main(["stats", str(folder), "--measures", "f0,intensity"]) == 0
    printed = capsys.readouterr()
    notes = [line for line in (printed.out + printed.err).splitlines() if "note:" in line]
    # this hand-made table has no record: that note is said once too
    assert notes[-1] == "ganphon: note: acoustics.csv has no record (acoustics.json): whether it is older than " \
        "the folder's files is not checked"
    notes = notes[:-1]
    assert len(notes) == 1 and "the sweep has one value (z3 = 1 in every row)" in notes[0], notes
    assert "only the correlation table" in notes[0]
    assert sorted(p.name for p in (folder / "stats").iterdir()) == ["correlations.csv", "stats.json"]
    corr = pd.read_csv(folder / "stats" / "correlations.csv")
    assert set(corr["measure"]) == {"f0", "intensity"} and corr["r"].notna().all()


def labelled_sweep(seed=0, n_bases=6, segmented=()):
    """A sweep with voi and fric intervals: f0 rises with value in voi only, cog in fric only, and the
    fric interval lengthens with value (all layers measured on the output's intervals unless segmented)."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(n_bases):
        for i, v in enumerate(VALUES):
            sid = f"b{b:03d}_v{i:03d}"
            fric_end = 0.2 + 0.004 * (v + 15) + rng.normal(0, 0.002)
            for layer in ("conv1", "conv2", "output"):
                tier = f"auto_{layer}" if layer in segmented else "auto"
                shift = rng.normal(0, 0.003) if layer in segmented else 0.0
                for label, start, end in (("fric", 0.1, fric_end + shift), ("voi", fric_end + shift, 0.6)):
                    common = {"file": f"{sid}_{layer}.wav", "tier": tier, "label": label, "start": start,
                              "end": end, "note": "", "f0_artefact": np.nan, "sample_id": sid, "layer": layer,
                              "sweep_value": v, "base": b, "var": "z11", "time": np.nan}
                    f0 = 120 + (0.8 * v if label == "voi" else 0.0) + rng.normal(0, 1)
                    cog = 4000 + (30 * v if label == "fric" else 0.0) + rng.normal(0, 20)
                    rows += [{**common, "point": 1, "measure": "f0", "value": f0},
                             {**common, "point": pd.NA, "measure": "cog", "value": cog},
                             {**common, "point": pd.NA, "measure": "duration", "value": end - start}]
    return pd.DataFrame(rows)


def test_stats_refuses_tables_it_cannot_place(tmp_path):
    """Two tables ganphon's measuring never writes: one without ``f0_artefact`` (its F0 values on artefact
    frequencies could not be left out: fitting them silently would change the data), one with rows of a file
    the manifest does not list (another run's rows, which no design value places).  Each refused in one line
    naming the table, before ``stats/`` exists; the first fits when every value is kept, as it says."""
    table = sweep_table({"conv4": 0.5, "output": 0.8}, n_bases=5, values=VALUES[::2], seed=1)
    folder = write_folder(tmp_path / "unflagged", table.drop(columns="f0_artefact"))
    with pytest.raises(GanphonError, match=r"unflagged/acoustics\.csv: has no f0_artefact column, so its F0 values "
                                           r"on generator artefact frequencies cannot be left out; .*--include-artefacts"):
        stats.run_stats(folder, measures=("f0",), workers=1)
    assert not (folder / "stats").exists()
    kept = stats.run_stats(folder, measures=("f0",), workers=1, include_artefacts=True)
    flagged = stats.run_stats(write_folder(tmp_path / "flagged", table), measures=("f0",), workers=1)
    assert kept.first_layers == flagged.first_layers == {"f0/voi": "conv4"}
    pd.testing.assert_frame_equal(kept.tables["mixed_models"], flagged.tables["mixed_models"])

    folder = write_folder(tmp_path / "foreign", table)
    other = table[table["sample_id"] == "b000_v000"].replace({"b000_v000": "b099_v000"}, regex=True)
    pd.concat([table, other]).to_csv(folder / "acoustics.csv", index=False)
    with pytest.raises(GanphonError, match=r"foreign/acoustics\.csv: has rows for 2 file\(s\) manifest\.csv does "
                                           r"not list \(first: b099_v000_conv4\.wav\); rows of another folder's run"):
        stats.run_stats(folder, measures=("f0",), workers=1)
    assert not (folder / "stats").exists()


def test_stats_refuses_a_sweep_table_without_the_columns_of_its_intervals(tmp_path):
    """A sweep's table saved without ``label``, ``tier`` or ``start``/``end`` had been modelled as something
    else without an error: no voi/fric rows (no model, rc 0), every layer taken as segmented (duration in each),
    every interval of a file pooled.  And a ``value`` column of text (decimal commas) read as all empty.  Each
    refused in one line naming the table and the column, before ``stats/`` exists."""
    table = labelled_sweep()
    whole = stats.run_stats(write_folder(tmp_path / "whole", table), measures=("f0", "duration"), workers=1)
    assert sorted(set(whole.tables["lrt"]["layer"])) == ["conv1", "conv2", "output"]
    for dropped in (["label"], ["tier"], ["start", "end"]):
        folder = write_folder(tmp_path / f"no_{dropped[0]}", table.drop(columns=dropped))
        with pytest.raises(GanphonError, match=rf"no_{dropped[0]}/acoustics\.csv: has no column\(s\) "
                                               rf"{', '.join(dropped)}, so the interval each value was measured on "
                                               r"cannot be told; measure the folder again"):
            stats.run_stats(folder, measures=("f0", "duration"), workers=1)
        assert not (folder / "stats").exists()
    commas = table.assign(value=[f"{v:.3f}".replace(".", ",") for v in table["value"]])
    folder = write_folder(tmp_path / "commas", commas)
    with pytest.raises(GanphonError, match=r"commas/acoustics\.csv: column value holds no number \('1[0-9]{2},"
                                           r"[0-9]{3}' in row 2 …\); decimal commas"):
        stats.run_stats(folder, measures=("f0",), workers=1)
    assert not (folder / "stats").exists()


def test_labels_with_combining_accents_are_the_composed_labels(tmp_path):
    """``ã`` written as a + a combining tilde in half the files (macOS's form) had been a label of its own:
    the models of ``ã`` saw half the bases.  Read composed, with one note; ``--labels`` typed either way."""
    import unicodedata

    composed, combining = unicodedata.normalize("NFC", "ã"), unicodedata.normalize("NFD", "ã")
    assert composed != combining
    table = labelled_sweep().replace({"label": {"voi": composed}})
    mixed = table.copy()
    mixed.loc[mixed["base"] % 2 == 1, "label"] = mixed.loc[mixed["base"] % 2 == 1, "label"].replace(
        {composed: combining})
    reference = stats.run_stats(write_folder(tmp_path / "composed", table), measures=("f0",), labels=[composed],
                                workers=1).tables["lrt"]
    assert set(reference["n_groups"]) == {6}
    for typed in (composed, combining):
        with pytest.warns(UserWarning, match=r"labels with combining accents \('a\\u0303'\); read with their "
                                             r"letters composed \(NFC\)"):
            got = stats.run_stats(write_folder(tmp_path / f"mixed_{len(typed)}", mixed), measures=("f0",),
                                  labels=[typed], workers=1).tables["lrt"]
        pd.testing.assert_frame_equal(got, reference)


def test_a_joined_tables_copies_of_manifest_columns_are_read_from_the_manifest(tmp_path):
    """A joined CSV saved without some of the manifest's columns (``base``, ``sweep_value``, ``sample_id``) had
    been read as a table of no sweep (correlations only) or fitted with the columns doubled: the manifest beside
    it is joined afresh, so the models are the untouched table's."""
    table = sweep_table({"conv4": 0.5, "output": 0.8}, n_bases=5, values=VALUES[::2], seed=1)
    manifest = (table.drop_duplicates(["sample_id", "layer"])[["sample_id", "layer", "file", "sweep_value", "base"]]
                .rename(columns={"sweep_value": "value"}))
    results = {}
    for name, cut in (("whole", []), ("no_base", ["base"]), ("no_design", ["base", "sweep_value", "sample_id"])):
        folder = tmp_path / name
        folder.mkdir()
        table.drop(columns=cut).to_csv(folder / "acoustics.csv", index=False)
        manifest.to_csv(folder / "manifest.csv", index=False)
        results[name] = stats.run_stats(folder, measures=("f0",), workers=1).tables["mixed_models"]
    assert len(results["whole"]) == 4 and results["whole"]["estimate"].notna().all()
    for name in ("no_base", "no_design"):
        pd.testing.assert_frame_equal(results[name], results["whole"])


def test_models_are_per_label_and_duration_only_where_segmented(tmp_path):
    folder = write_folder(tmp_path / "sweep", labelled_sweep())
    result = stats.run_stats(folder, measures=("f0", "cog", "duration"), workers=1)
    lrt = result.tables["lrt"]
    models = sorted(set(zip(lrt["outcome"], lrt["label"], lrt["layer"])))
    # f0 in voi, cog in fric, per layer; duration once (the output's segmentation) in fric and voi
    assert models == sorted([("f0", "voi", x) for x in ("conv1", "conv2", "output")]
                            + [("cog", "fric", x) for x in ("conv1", "conv2", "output")]
                            + [("duration", "fric", "output"), ("duration", "voi", "output")])
    mixed = result.tables["mixed_models"].set_index(["outcome", "label", "layer", "term"])
    assert mixed.loc[("f0", "voi", "output", "value"), "ci_low"] > 0.6
    assert mixed.loc[("cog", "fric", "conv1", "value"), "ci_low"] > 20
    assert mixed.loc[("duration", "fric", "output", "value"), "estimate"] == pytest.approx(0.004, rel=0.1)
    # pooling the labels would dilute the f0 slope: the per-label slope is the planted one
    assert abs(mixed.loc[("f0", "voi", "conv2", "value"), "estimate"] - 0.8) < 0.05
    # a layer segmented itself gets its own duration model
    folder2 = write_folder(tmp_path / "segmented", labelled_sweep(segmented=("conv2",)))
    lrt2 = stats.run_stats(folder2, measures=("duration",), workers=1).tables["lrt"]
    assert sorted(set(lrt2["layer"])) == ["conv2", "output"]
    # chosen labels, and one model value * label
    both = stats.run_stats(folder, measures=("f0",), labels=["voi", "fric"], label_interaction=True, workers=1)
    coef = both.tables["mixed_models"]
    out = coef[coef["layer"] == "output"].set_index("term")
    assert set(coef["label"]) == {"voi+fric"}
    assert out.loc["value:C(label)[T.voi]", "ci_low"] < 0.8 < out.loc["value:C(label)[T.voi]", "ci_high"]
    assert abs(out.loc["value", "estimate"]) < 0.1  # fric is the reference: no slope there


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["stats", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganphon: error:") and "acoustics.csv" in err and "\n" not in err
    (tmp_path / "acoustics.csv").write_text("file,label\nx.wav,voi\n")
    assert main(["stats", str(tmp_path)]) == 2
    assert "not a long acoustic table" in capsys.readouterr().err


def test_bad_inputs_give_one_line_errors():
    table = sweep_table({"conv1": 0.2, "output": 0.7}, n_bases=4, sd_noise=0.5, seed=2)
    frame = stats.model_frame(table, "f0")
    const = frame.assign(f0=3.0)
    with pytest.raises(GanphonError, match="f0: the outcome is constant") as e:
        stats.fit_mixed(const, "f0")
    assert "\n" not in str(e.value)
    with pytest.raises(GanphonError, match="no rows for measure 'f2'"):
        stats.model_frame(table, "f2")
    with pytest.raises(GanphonError, match="needs column"):
        stats.model_frame(table.drop(columns=["measure"]), "f0")


def test_effects_from_fits_equal_refitted_standardised_effects():
    table = sweep_table({"conv2": 0.3, "output": 0.7}, n_bases=8, sd_slope=0.05, sd_noise=0.5, seed=9)
    frame = stats.model_frame(table, "f0")
    fits = stats.fit_mixed(frame, "f0")
    reused = stats.effect_by_layer(frame, "f0", fits=fits).set_index("layer")
    refit = stats.effect_by_layer(frame, "f0").set_index("layer")
    for layer in ("conv2", "output"):
        for col in ("beta", "ci_low", "ci_high"):
            assert reused.loc[layer, col] == pytest.approx(refit.loc[layer, col], abs=2e-3)


def test_parallel_fits_equal_serial_fits(tmp_path):
    table = sweep_table({"conv1": 0.0, "conv4": 0.5, "output": 0.8}, n_bases=6, values=VALUES[::2], seed=3)
    folder = write_folder(tmp_path / "sweep", table)
    serial = stats.run_stats(folder, measures=("f0",), workers=1).tables
    parallel = stats.run_stats(folder, measures=("f0",), workers=2).tables
    for name in ("mixed_models", "lrt", "effects"):
        pd.testing.assert_frame_equal(serial[name], parallel[name])
    fits = stats.fit_mixed(stats.model_frame(table, "f0"), "f0", workers=2)
    assert [f.layer for f in fits] == ["conv1", "conv4", "output"]
    assert np.allclose([f.lrt()["stat"] for f in fits], serial["lrt"]["stat"])
    with pytest.raises(GanphonError, match="workers must be"):
        stats.fit_mixed(stats.model_frame(table, "f0"), "f0", workers=0)


def test_interval_coverage_of_a_planted_slope_with_ten_bases():
    """A small fixed-seed version of benchmarks/coverage_stats.py (200 sets there): the t interval of
    the random-slope model covers a slope that varies between bases; intercept-only z does not."""
    slope, n_sets = 0.5, 10
    ours, old = 0, 0
    for seed in range(n_sets):
        rng = np.random.default_rng(500 + seed)
        rows = []
        for b in range(10):
            u, s = rng.normal(0, 3.0), rng.normal(0, 0.4)
            rows += [{"layer": "conv3", "base": b, "value": v, "y": 120 + u + (slope + s) * v + rng.normal(0, 1.0)}
                     for v in VALUES]
        frame = pd.DataFrame(rows)
        (fit,) = stats.fit_mixed(frame, "y")
        row = fit.coefficients().set_index("term").loc["value"]
        ours += row["ci_low"] <= slope <= row["ci_high"]
        ref = smf.mixedlm("y ~ value", frame, groups=frame["base"]).fit(reml=False)  # the old recipe
        half = 1.959963984540054 * ref.bse_fe["value"]
        old += ref.fe_params["value"] - half <= slope <= ref.fe_params["value"] + half
    assert ours >= 9 and old <= 6  # measured: 10 and 5 of 10


def test_bad_df_and_out_options_are_one_line_errors(tmp_path):
    table = sweep_table({"output": 0.5}, n_bases=3, values=VALUES[::2], seed=3)
    folder = write_folder(tmp_path / "sweep", table)
    with pytest.raises(GanphonError, match="^df: must be one of satterthwaite, bases, got 'kr'$"):
        stats.run_stats(folder, measures=("f0",), df="kr")
    (tmp_path / "file").write_text("x")
    with pytest.raises(GanphonError, match="file: exists and is not a folder"):
        stats.run_stats(folder, measures=("f0",), out=tmp_path / "file")
    assert not (folder / "stats").exists()
    # a folder of the user's: its effects.csv and frames/ had been replaced and emptied
    mine = tmp_path / "analysis"
    (mine / "frames").mkdir(parents=True)
    (mine / "effects.csv").write_text("my own table\n")
    (mine / "frames" / "old.csv").write_text("kept\n")
    with pytest.raises(GanphonError, match="analysis: folder is not empty and holds no ganphon stats.json"):
        stats.run_stats(folder, measures=("f0",), out=mine)
    assert (mine / "effects.csv").read_text() == "my own table\n" and (mine / "frames" / "old.csv").is_file()
    # a folder this command wrote is written again
    stats.run_stats(folder, measures=("f0",), out=tmp_path / "again", workers=1, progress=False)
    stats.run_stats(folder, measures=("f0",), out=tmp_path / "again", workers=1, progress=False)
    assert io.read_record(tmp_path / "again" / "stats.json")["kind"] == "stats"


def test_rows_bases_and_layers_left_out_are_noted_and_out_writes_elsewhere(tmp_path, capsys):
    table = sweep_table({"conv2": 0.3, "conv4": 0.5, "output": 0.6}, n_bases=6, values=VALUES[::2], seed=8)
    # conv4: two rows with an infinite outcome, and base 5 without any defined outcome
    inf_rows = table.index[(table["layer"] == "conv4") & (table["base"] == 0)][:2]
    table.loc[inf_rows, "value"] = np.inf
    table.loc[(table["layer"] == "conv4") & (table["base"] == 5), "value"] = np.nan
    # conv2: the outcome does not vary (a layer that carries nothing of it)
    table.loc[table["layer"] == "conv2", "value"] = 100.0
    folder = write_folder(tmp_path / "sweep", table)
    assert main(["stats", str(folder), "--measures", "f0", "--out", str(tmp_path / "reml"), "--reml",
                 "--df", "bases", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert not (folder / "stats").exists() and (tmp_path / "reml" / "mixed_models.csv").is_file()
    record = json.loads((tmp_path / "reml" / "stats.json").read_text())
    assert record["request"]["reml"] is True and record["request"]["df"] == "bases"
    notes = record["notes"]
    assert any("f0/voi, layer conv2: not modelled: the outcome is constant (100" in n for n in notes)
    conv4 = [n for n in notes if n.startswith("f0/voi/conv4: ")]
    assert len(conv4) == 1 and "infinite f0 left out" in conv4[0] and "base 5 left out" in conv4[0]
    assert "layer conv2: not modelled" in printed
    mixed = pd.read_csv(tmp_path / "reml" / "mixed_models.csv")
    row = mixed[(mixed["layer"] == "conv4") & (mixed["term"] == "value")].iloc[0]
    assert row["n_groups"] == 5 and "base 5 left out" in row["warnings"] and row["df"] == 4
    assert row["df_method"] == "between-within" and "REML" in row["method"]
    assert "base 5 left out" in (tmp_path / "reml" / "summaries.txt").read_text()
    # the model itself is the one without those rows
    data = stats.model_frame(table, "f0")
    kept = data[(data["layer"] == "conv4") & np.isfinite(data["f0"])]
    assert row["n_obs"] == len(kept)
    # fit_mixed on a frame where no layer can be modelled says why, per layer
    flat = data[data["layer"] == "conv2"].copy()
    with pytest.raises(GanphonError, match="f0: the outcome is constant"):
        stats.fit_mixed(flat, "f0")
    one_value = data[(data["layer"] == "output") & (data["value"] == data["value"].iloc[0])]
    with pytest.raises(GanphonError, match="no layer can be modelled .*the swept value is constant"):
        stats.fit_mixed(one_value, "f0")


def test_labels_typed_with_white_space_are_the_label_and_said_so(tmp_path, capsys):
    """Intervals labelled 'voi ' or ' voi' (a label corrected by hand in Praat) had been a label of their own,
    left out of every model of 'voi' without a word: the models are those of the table labelled plainly."""
    table = sweep_table({"conv4": 0.5, "output": 0.8}, n_bases=6, values=VALUES[::2], seed=3)
    plain = write_folder(tmp_path / "plain", table)
    spaced = table.copy()
    spaced.loc[spaced["base"] == 1, "label"] = "voi "
    spaced.loc[spaced["base"] == 4, "label"] = "\u00a0voi"  # a no-break space, as a word processor types it
    folder = write_folder(tmp_path / "spaced", spaced)
    assert main(["stats", str(plain), "--measures", "f0", "--quiet"]) == 0
    assert main(["stats", str(folder), "--measures", "f0", "--quiet"]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "white space" in line]
    assert len(notes) == 1 and "('voi ' in 12 files, '\\xa0voi' in 12 files); read as the labels without it" \
        in notes[0], err
    kept = ["outcome", "label", "layer", "term", "estimate", "se", "df", "p", "n_obs", "n_groups"]
    pd.testing.assert_frame_equal(pd.read_csv(folder / "stats" / "mixed_models.csv")[kept],
                                  pd.read_csv(plain / "stats" / "mixed_models.csv")[kept])
    assert set(pd.read_csv(folder / "stats" / "mixed_models.csv")["n_groups"]) == {6}


@pytest.mark.parametrize("call", [1, 4, 8])
def test_stats_stopped_while_writing_its_results_leaves_the_earlier_results_whole(tmp_path, monkeypatch, call):
    """A stats run writes its frames, tables and record as one set: Ctrl-C part-way through had kept the new
    files written so far beside the earlier run's others (and the earlier frames were already deleted)."""
    from ganphon import io

    table = pd.concat([sweep_table({"conv4": 0.5, "output": 0.8}, n_bases=5, values=VALUES[::2], seed=1),
                       sweep_table({"conv4": 0.3, "output": 0.4}, n_bases=5, values=VALUES[::2], seed=2,
                                   measure="intensity", intercept=70.0)])
    folder = write_folder(tmp_path / "sweep", table)

    def everything():
        out = folder / "stats"
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}

    assert main(["stats", str(folder), "--measures", "f0", "--workers", "1", "--quiet"]) == 0
    before = everything()
    assert {"frames/f0_conv4_voi.csv", "frames/refit.R", "mixed_models.csv", "stats.json"} <= before.keys()
    real, calls = io.write_table, []

    def stopped(*args, **kwargs):  # Ctrl-C as the call-th table of the second run is about to be written
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(io, "write_table", stopped)
    argv = ["stats", str(folder), "--measures", "f0,intensity", "--reml", "--workers", "1", "--quiet"]
    assert main(argv) == 130 and len(calls) == call
    assert everything() == before  # no file of the stopped run, none of the earlier one lost
    monkeypatch.undo()
    assert main(argv) == 0
    after = everything()
    assert "frames/intensity_conv4_voi.csv" in after and after["mixed_models.csv"] != before["mixed_models.csv"]


def test_an_outcome_without_residual_variation_is_named_not_fitted(tmp_path):
    """An outcome that is an exact line in the value within every base (a copied or synthetic column) has a
    likelihood without a maximum: each optimiser stops elsewhere, with a negative "variance" among the estimates.
    It is named in the notes and not fitted, per layer and for a layer interaction; a little noise is fitted."""
    rows = [{"base": b, "value": v, "layer": layer, "label": "voi",
             "f0": 100 + 3 * b + (0.5 + 0.01 * b) * v + (layer == "conv4") * np.sin(7 * b + v)}
            for b in range(10) for v in VALUES for layer in ("output", "conv4")]
    frame = pd.DataFrame(rows)
    notes = []
    tasks = stats.mixed_tasks(frame, "f0", notes=notes)
    assert [task.layer for task in tasks] == ["conv4"]  # its outcome varies about the bases' lines
    assert notes == ["f0, layer output: not modelled: the outcome is an exact function of the value within every "
                     "base (no residual variation: a mixed model's likelihood has no maximum)"]
    exact = frame[frame["layer"] == "output"]
    with pytest.raises(GanphonError, match="no layer can be modelled .*exact function of the value"):
        stats.fit_mixed(exact, "f0")
    with pytest.raises(GanphonError, match="f0: the outcome is an exact function of the value within every base"):
        stats.mixed_tasks(exact.assign(layer=np.where(exact["base"] % 2, "conv4", "output")), "f0", by="interaction")
    noisy = exact.assign(f0=exact["f0"] + np.random.default_rng(1).normal(0, 0.5, len(exact)))
    assert [task.layer for task in stats.mixed_tasks(noisy, "f0")] == ["output"]
    # two values per base: each base's line passes through its two rows whatever they are, the covariance
    # stays regular and the likelihood has its maximum: modelled
    two = exact[exact["value"].isin(VALUES[[0, -1]])]
    assert [task.layer for task in stats.mixed_tasks(two, "f0")] == ["output"]


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_numbers_at_the_ends_of_double_precision_are_named_or_computed_exactly(scale):
    """An outcome or a value near 1e±200: Pearson's r is scipy's r of the unscaled numbers (it was 0 and 1: the
    squares overflowed or vanished); a mixed model says why it is not fitted instead of giving a wrong fit or
    a LAPACK error; at 1e±90 it is fitted, its estimates the unscaled ones times the scale."""
    rng = np.random.default_rng(4)
    x = np.arange(20.0)
    y = 2 * x + np.sin(x)
    reference = sps.pearsonr(x, y)
    for a, b in ((x * scale, y), (x, y * scale), (x * scale, y / scale)):
        r = stats.pearson(a, b)
        assert r["r"] == pytest.approx(reference.statistic, rel=1e-12)
        assert r["p"] == pytest.approx(reference.pvalue, rel=1e-6)
    rows = [{"base": b, "value": v, "layer": "output", "label": "voi",
             "f0": 120 + u + (0.5 + s) * v + rng.normal(0, 2)}
            for b, u, s in zip(range(12), rng.normal(0, 3, 12), rng.normal(0, 0.3, 12)) for v in VALUES]
    frame = pd.DataFrame(rows)
    for column, what in (("f0", "the outcome"), ("value", "the swept value")):
        notes = []
        assert stats.mixed_tasks(frame.assign(**{column: frame[column] * scale}), "f0", notes=notes) == []
        assert len(notes) == 1 and f"not modelled: {what} runs from" in notes[0]
        assert "beyond what a model can square in double precision" in notes[0] and notes[0].endswith("rescale it")
    plain = stats.fit_mixed(frame, "f0")[0].result
    near = 1e90 if scale > 1 else 1e-90
    scaled = stats.fit_mixed(frame.assign(f0=frame["f0"] * near), "f0")[0].result
    assert np.allclose(scaled.fe_params / near, plain.fe_params, rtol=1e-6)
    assert np.allclose(scaled.bse_fe / near, plain.bse_fe, rtol=1e-4)


def test_presence_of_frication_is_a_logistic_mixed_model_of_value(tmp_path):
    from ganphon import io, layout

    table = sweep_table({"output": 0.5}, n_bases=14, seed=9)
    folder = write_folder(tmp_path / "sweep", table)
    rng = np.random.default_rng(4)
    samples = table.drop_duplicates("sample_id")[["sample_id", "base", "sweep_value"]]
    u = rng.normal(0, 0.8, samples["base"].max() + 1)
    for row in samples.itertuples():
        p = 1 / (1 + np.exp(-(0.5 + u[row.base] + 0.4 * row.sweep_value)))  # planted logit slope 0.4
        intervals = [(0.1, 0.2, "fric")] if rng.random() < p else [(0.1, 0.2, "voi")]
        io.write_textgrid(folder / layout.textgrid(row.sample_id), io.textgrid_from_intervals({"auto": intervals}, 1.0))
    result = stats.run_stats(folder, measures=("f0",), presence=["fric"], workers=1)
    lrt = result.tables["lrt"].set_index("outcome").loc["has_fric"]
    assert lrt["layer"] == "output" and lrt["p"] < 1e-3 and lrt["method"].startswith("glmer-Laplace ML (logit)")
    coef = result.tables["mixed_models"]
    slope = coef[(coef["outcome"] == "has_fric") & (coef["term"] == "value")].iloc[0]
    assert abs(slope["estimate"] - 0.4) < 3 * slope["se"] and slope["df_method"] == "z (Laplace)"
    assert slope["n_obs"] == len(samples) and slope["n_groups"] == 14
    # not a standardised effect of a measure: the effects table and first layers are the measures' only
    assert set(result.tables["effects"]["outcome"]) == {"f0"} and set(result.first_layers) == {"f0/voi"}


def test_distributions_are_scipy_stats_numbers_without_importing_it():
    """t.sf, t.ppf, chi2.sf, norm.ppf from scipy.special: scipy.stats' own numbers on a grid that includes
    its edges (df ≤ 0, infinite df and x, q of 0 and 1, NaN), and ``ganphon stats`` no longer imports it."""
    import subprocess
    import sys

    from scipy import stats

    from ganphon.stats.distributions import chi2_sf, norm_ppf, t_ppf, t_sf

    dfs = np.array([0.5, 1, 2.5, 10, 57.3, 1e6, np.inf, np.nan, 0, -1])
    xs = np.array([-3, -0.1, 0, 0.7, 2.2, 40, np.inf, -np.inf, np.nan])
    qs = np.array([0, 1e-9, 0.025, 0.5, 0.975, 1, 1.5, -0.1, np.nan])
    D, X = np.meshgrid(dfs, xs)
    DQ, Q = np.meshgrid(dfs, qs)
    assert np.array_equal(t_sf(X, D), stats.t.sf(X, D), equal_nan=True)
    assert np.array_equal(t_ppf(Q, DQ), stats.t.ppf(Q, DQ), equal_nan=True)
    assert np.array_equal(chi2_sf(X, D), stats.chi2.sf(X, D), equal_nan=True)
    assert np.array_equal(norm_ppf(qs), stats.norm.ppf(qs), equal_nan=True)
    assert t_sf(2.0, 7.0) == stats.t.sf(2.0, 7.0) and np.ndim(t_sf(2.0, 7.0)) == 0
    code = ("import sys; import ganphon.stats.fits, ganphon.stats.correlate, ganphon.stats.run; "
            "print('scipy.stats' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_a_measured_sweeps_layers_have_no_duration_correlation(tmp_path):
    """A real sweep (annotated, measured): every layer is measured on the output's intervals, so its durations
    are the output's numbers, and ``stats`` had reported r = 1.00, p = 0 for each layer in correlations.csv and
    its printed table.  Those rows are gone, a note says why; a layer measured on a segmentation of its own is
    paired with the output by interval order, and its r is numpy's on those pairs."""
    from ganphon.cli import main

    folder = tmp_path / "sweep"
    assert main(["sweep", "--checkpoint", "demo", "--var", "z11", "--from", "-4", "--to", "4", "--step", "4",
                 "--bases", "3", "--seed", "2", "--workers", "1", "--out", str(folder), "--quiet"]) == 0
    result = stats.run_stats(folder, measures=("intensity", "duration"))
    corr = pd.read_csv(folder / "stats" / "correlations.csv")
    assert set(corr["measure"]) == {"intensity"} and len(corr) == 5, corr
    table = pd.read_csv(folder / "acoustics.csv")
    durations = table[table["measure"] == "duration"].pivot_table(
        index=["sample_id", "start", "end"], columns="layer", values="value")
    assert (durations.drop(columns="output").sub(durations["output"], axis=0).abs().max() < 1e-12).all()
    note = next(n for n in result.notes if n.startswith("duration: not correlated in "))
    assert note.startswith("duration: not correlated in dense, conv1, conv2, conv3, conv4: measured on the "
                           "output's intervals"), note
    # conv4 segmented itself and measured on its own tier: its durations against the output's, k-th with k-th
    assert main(["annotate", str(folder), "--layers", "conv4", "--workers", "1", "--quiet"]) == 0
    assert main(["measure", str(folder), "--tier", "auto_conv4", "--workers", "1", "--out",
                 str(tmp_path / "conv4.csv"), "--quiet"]) == 0
    own = pd.read_csv(tmp_path / "conv4.csv")
    both = pd.concat([table[table["layer"] == "output"], own[own["layer"] == "conv4"]], ignore_index=True)
    row = stats.correlation_table(both, ["duration"]).set_index("layer").loc["conv4"]
    pairs = []
    for (sid, label), out in both[(both["measure"] == "duration") & (both["layer"] == "output")].groupby(
            ["sample_id", "label"]):
        mine = both[(both["measure"] == "duration") & (both["layer"] == "conv4") & (both["sample_id"] == sid)
                    & (both["label"] == label)].sort_values("start")["value"].tolist()
        pairs += list(zip(mine, out.sort_values("start")["value"].tolist()))
    a, b = np.array(pairs).T
    ok = ~(np.isnan(a) | np.isnan(b))
    assert row["n"] == ok.sum() > 10 and row["r"] == pytest.approx(np.corrcoef(a[ok], b[ok])[0, 1], abs=1e-12)
