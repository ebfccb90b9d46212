"""Latent discovery one variable at a time (Holm-adjusted), against numpy and scipy."""

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from conftest import logit_lr_p

from ganphon import stats


def _latents(n, dim, seed):
    rng = np.random.default_rng(seed)
    lat = pd.DataFrame(rng.uniform(-1, 1, (n, dim)), columns=[f"z{i}" for i in range(1, dim + 1)])
    lat.insert(0, "sample_id", [f"s{i:04d}" for i in range(n)])
    return lat, rng


def _holm(p: dict) -> dict:
    order = sorted(p, key=p.get)
    out, running = {}, 0.0
    for k, name in enumerate(order):
        running = max(running, min(1.0, (len(order) - k) * p[name]))
        out[name] = running
    return out


def test_each_variable_logit_finds_the_planted_variable_and_holm_keeps_the_others_out():
    lat, rng = _latents(300, 40, seed=4)
    y = (rng.random(300) < 1 / (1 + np.exp(-3.0 * lat["z7"]))).astype(int)
    prop = pd.DataFrame({"sample_id": lat["sample_id"], "has_fric": y})
    ranked = stats.discover(lat, prop, kind="logistic", method="each")
    assert list(ranked.columns) == ["var", "coef", "se", "z", "p", "p_holm", "rank", "method", "n"]
    assert ranked.notna().all().all()  # no empty cells
    assert ranked["method"].eq("logit, one variable at a time").all() and ranked["rank"].tolist() == list(range(1, 41))
    # the p and coefficients of numpy's own fits, Holm's adjustment by hand
    expected = {z: logit_lr_p(lat[z].to_numpy(float), y.astype(float)) for z in lat.columns[1:]}
    p = {z: v[0] for z, v in expected.items()}
    holm = _holm(p)
    by_var = ranked.set_index("var")
    for z in p:
        assert by_var.loc[z, "p"] == pytest.approx(p[z], rel=1e-5, abs=1e-300)
        assert by_var.loc[z, "p_holm"] == pytest.approx(holm[z], rel=1e-5, abs=1e-300)
        assert by_var.loc[z, "coef"] == pytest.approx(expected[z][1], rel=1e-5, abs=1e-8)
    assert ranked["var"].iloc[0] == "z7" and ranked["p_holm"].iloc[0] < 1e-10
    assert (ranked["p_holm"].iloc[1:] >= 0.05).all()  # none of the 39 null variables survives


def test_each_variable_logit_under_separation_keeps_a_finite_likelihood_ratio_p():
    lat, _ = _latents(60, 10, seed=5)
    y = (lat["z3"] > 0.1).astype(int)
    ranked = stats.discover(lat, pd.DataFrame({"sample_id": lat["sample_id"], "has_fric": y}), method="each")
    top = ranked.iloc[0]
    assert top["var"] == "z3" and "separates the outcomes" in top["method"] and np.isnan(top["coef"])
    share = y.mean()
    # the separated fit reaches log-likelihood 0: the statistic is -2 × the intercept-only log-likelihood
    assert top["p"] == pytest.approx(sps.chi2.sf(-2 * 60 * (share * np.log(share) + (1 - share) * np.log(1 - share)),
                                                 1), rel=1e-9)


def test_each_variable_ols_is_scipys_linear_regression():
    lat, rng = _latents(80, 12, seed=6)
    duration = 0.1 + 0.03 * lat["z5"] + rng.normal(0, 0.01, 80)
    ranked = stats.discover(lat, pd.DataFrame({"sample_id": lat["sample_id"], "fric_duration": duration}),
                            kind="linear", method="each").set_index("var")
    p = {}
    for z in lat.columns[1:]:
        x = lat[z].to_numpy(float)
        fit = sps.linregress((x - x.mean()) / x.std(), duration)
        p[z] = fit.pvalue
        assert ranked.loc[z, "coef"] == pytest.approx(fit.slope, rel=1e-9)
        assert ranked.loc[z, "p"] == pytest.approx(fit.pvalue, rel=1e-6)
    holm = _holm(p)
    for z in p:
        assert ranked.loc[z, "p_holm"] == pytest.approx(holm[z], rel=1e-6)
    assert ranked["rank"].idxmin() == "z5"


def test_discovery_method_is_checked():
    from ganphon.errors import GanphonError

    lat, _ = _latents(20, 3, seed=1)
    with pytest.raises(GanphonError, match="method must be 'joint' or 'each'"):
        stats.discover(lat, pd.DataFrame({"sample_id": lat["sample_id"], "has_fric": [0, 1] * 10}), method="lasso")


# --------------------------------------------------------------------------
# the demo's conclusions on fits of known data


def _sweep_tables(seed, duration_slope, cog_slope):
    """mixed_models and first layers of synthetic output rows: 12 bases × 6 values, known slopes."""
    from ganphon.stats import coefficient_table, effect_by_layer, first_layer, fit_mixed

    rng = np.random.default_rng(seed)
    base = np.repeat(np.arange(12), 6)
    value = np.tile(np.linspace(-15, 5, 6), 12)
    frame = pd.DataFrame({"layer": "output", "base": base, "value": value})
    frame["duration"] = (0.08 + duration_slope * value + rng.normal(0, 0.01, 12)[base]
                         + rng.normal(0, 0.004, base.size))
    frame["cog"] = 5800 + cog_slope * value + rng.normal(0, 150, 12)[base] + rng.normal(0, 100, base.size)
    fits, firsts = [], {}
    for outcome in ("duration", "cog"):
        found = fit_mixed(frame, outcome, label="fric")
        fits += found
        firsts[f"{outcome}/fric"] = first_layer(effect_by_layer(frame, outcome, fits=found, label="fric"))
    return frame, {"mixed_models": coefficient_table(fits)}, firsts


def test_conclusion_states_the_raw_slope_of_a_plain_numpy_fit():
    from ganphon.report.demo import sweep_conclusion

    frame, tables, firsts = _sweep_tables(seed=2, duration_slope=0.002, cog_slope=0.0)
    spec = {"from": -15, "to": 5, "step": 4, "bases": 12}
    text, info = sweep_conclusion("z9", spec, tables, firsts, check=True)
    # every base has the same six values: the mixed model's fixed slope is then the pooled least-squares
    # slope (the GLS weights are the same for every base), here from numpy, in ms
    slope_ms = 1000 * np.polyfit(frame["value"], frame["duration"], 1)[0]
    effect = next(e for e in info["effects"] if e["outcome"] == "duration")
    assert effect["slope"] == pytest.approx(slope_ms, rel=1e-3)
    stated = re.search(r"frication duration ([+−][0-9.]+) ms per unit of z9 \(95 % CI ([−0-9.]+) to ([−0-9.]+)", text)
    assert float(stated.group(1).replace("−", "-")) == pytest.approx(slope_ms, rel=5e-3)
    assert float(stated.group(2)) < slope_ms < float(stated.group(3))
    assert "first in output" in stated.string and info["verdict"] == "moves frication in its own sweep"
    assert text.startswith("**z9 from −15 to 5** (12 base latents, step 4): z9 moves frication in its own sweep")
    assert "No effect in the output (95 % CI includes 0) on frication COG." in text


def test_a_failed_check_sweep_is_said_plainly():
    from ganphon.report.demo import sweep_conclusion

    _, tables, firsts = _sweep_tables(seed=3, duration_slope=0.0, cog_slope=0.0)
    presence = pd.DataFrame({"value": [-15.0, 5.0], "n": [12, 12], "share": [0.5, 0.5]})
    presence.attrs["p"] = 1.0
    text, info = sweep_conclusion("z9", {"from": -15, "to": 5, "step": 4, "bases": 12}, tables, firsts,
                                  check=True, presence=presence)
    assert info["verdict"] == "does not move frication in its own sweep"
    assert ("z9 does not move frication in its own sweep (outputs with frication 50 % at −15, 50 % at 5, no effect, "
            "p = 1; duration: no effect, p = ") in text
    assert "No effect in the output (95 % CI includes 0) on frication duration, frication COG." in text
    assert "In the output:" not in text
