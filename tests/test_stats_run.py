"""How a stats run handles its table: distinct values and tiers found without per-value Python, Pearson
r through scipy.special, only the fitted columns carried, and every model fitted in one process pool."""

import math
import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats as sps

from conftest import sweep_with_buzz, write_table_folder

from ganphon import parallel, stats
from ganphon.errors import GanphonError
from ganphon.stats.run import FITTED_COLUMNS, _fitted_columns
from ganphon.stats.tables import distinct


def _text(values):
    """A text column as ganphon reads one (pandas' Arrow-backed ``str``), missing cells NaN."""
    return pd.Series(values, dtype="str")


def test_distinct_values_of_a_text_column_are_those_a_loop_finds():
    column = _text(["voi", None, "fric", "voi", "sil", None, "fric"])
    expected = set()
    for value in column.tolist():  # the hand-written reference: one value at a time
        if isinstance(value, str):
            expected.add(value)
    assert distinct(column) == expected == {"voi", "fric", "sil"}
    assert distinct(pd.Series([2.0, np.nan, 2.0, 5.0])) == {2.0, 5.0}
    assert distinct(_text([None, None])) == set()


def test_segmented_layers_are_those_whose_tiers_differ_from_the_outputs():
    rows = [("output", "auto"), ("output", "auto"), ("output", None),
            ("conv1", "auto"),                         # measured on the output's intervals
            ("conv2", "auto_conv2"), ("conv2", None),  # segmented itself
            ("conv3", "auto"), ("conv3", "auto_conv3"),  # shares a tier with the output: not its own
            ("conv4", None),                           # no tier at all: not segmented
            (None, "auto_dense")]                      # no layer: no layer to report
    table = pd.DataFrame({"layer": _text([r[0] for r in rows]), "tier": _text([r[1] for r in rows]),
                          "measure": "duration", "value": 1.0})
    # reference: each layer's tiers gathered row by row
    tiers = {}
    for layer, tier in rows:
        if layer is not None:
            tiers.setdefault(layer, set())
            if tier is not None:
                tiers[layer].add(tier)
    expected = [layer for layer in stats.sort_layers(tiers)
                if layer == "output" or (tiers[layer] and tiers[layer].isdisjoint(tiers["output"]))]
    assert stats.segmented_layers(table) == expected == ["conv2", "output"]


def test_pearson_equals_scipys_pearsonr_and_the_fisher_interval():
    rng = np.random.default_rng(4)
    x = rng.normal(size=40)
    y = 0.3 * x + rng.normal(size=40)
    x[3], y[7] = np.nan, np.inf  # dropped pairwise
    got = stats.pearson(x, y)
    keep = np.isfinite(x) & np.isfinite(y)
    ref = sps.pearsonr(x[keep], y[keep])
    n = int(keep.sum())
    assert got["n"] == n == 38
    assert got["r"] == pytest.approx(ref.statistic, rel=1e-12)
    assert got["p"] == pytest.approx(ref.pvalue, rel=1e-9)
    # the t-test p and the Fisher-z interval as scipy.stats computes them, to the last bit
    t = got["r"] * math.sqrt((n - 2) / (1 - got["r"] ** 2))
    assert got["p"] == float(2.0 * sps.t.sf(abs(t), n - 2))
    half = sps.norm.ppf(0.975) / math.sqrt(n - 3)
    assert (got["ci_low"], got["ci_high"]) == (math.tanh(math.atanh(got["r"]) - half),
                                               math.tanh(math.atanh(got["r"]) + half))
    assert math.isnan(stats.pearson([1, 2], [3, 4])["r"])


def test_correlation_table_ignores_columns_it_does_not_read():
    rng = np.random.default_rng(1)
    rows = []
    for s in range(12):
        out = rng.normal(100, 10)
        for layer, v in (("output", out), ("conv4", 0.5 * out + rng.normal(0, 3))):
            rows.append({"file": f"s{s}_{layer}.wav", "tier": "auto", "label": "voi", "start": 0.1, "end": 0.5,
                         "point": 1, "measure": "f0", "value": v, "f0_artefact": np.nan, "sample_id": f"s{s:02d}",
                         "layer": layer,
                         "textgrid": f"s{s}.TextGrid", "arch": "wavegan", "code": "1,0"})
    table = pd.DataFrame(rows)
    for c in ("file", "tier", "label", "measure", "sample_id", "layer", "textgrid", "arch", "code"):
        table[c] = table[c].astype("str")
    got = stats.correlation_table(table, ["f0"]).set_index("layer")
    wide = table.pivot(index="sample_id", columns="layer", values="value")
    assert got.loc["conv4", "r"] == pytest.approx(np.corrcoef(wide["conv4"], wide["output"])[0, 1], rel=1e-12)
    assert got.loc["conv4", "n"] == 12
    kept = _fitted_columns(table.assign(sweep_value=1.0, base=0))
    assert list(kept.columns) == [c for c in table.columns if c in FITTED_COLUMNS] + ["sweep_value", "base"]


def _ml_slope(data):
    """statsmodels' ML fit of f0 ~ value with a random intercept and slope by base, on point means."""
    frame = data.groupby(["sample_id", "base", "sweep_value"], as_index=False)["value"].mean()
    frame = frame.rename(columns={"value": "f0", "sweep_value": "value"})
    fit = smf.mixedlm("f0 ~ value", frame, groups=frame["base"], re_formula="~value").fit(
        reml=False, method=["bfgs", "lbfgs", "powell"])
    return float(fit.fe_params["value"])


def test_the_models_and_the_artefact_comparison_share_one_pool(tmp_path, monkeypatch):
    table = sweep_with_buzz()
    write_table_folder(tmp_path / "sweep", table)
    starts = []
    real_start = parallel._start_pool

    def counted(*args, **kwargs):  # the real pool, counted
        starts.append(1)
        return real_start(*args, **kwargs)

    monkeypatch.setattr(parallel, "_start_pool", counted)
    result = stats.run_stats(tmp_path / "sweep", measures=["f0"], workers=2)
    assert len(starts) == 1  # the artefact comparison's models ran in the same pool
    out = table[table["layer"] == "output"]
    clean, with_buzz = _ml_slope(out[out["f0_artefact"].isna()]), _ml_slope(out)
    slope = result.tables["mixed_models"].set_index(["layer", "term"]).loc[("output", "value"), "estimate"]
    assert slope == pytest.approx(clean, rel=1e-3)
    moved = [n for n in result.notes if n.startswith("f0/voi: slope of value without → with")]
    assert len(moved) == 1
    before, after = map(float, re.search(r"output (\S+) \(LRT p [^)]*, n 36\) → (\S+) \(LRT p", moved[0]).groups())
    assert before == pytest.approx(clean, rel=2e-3) and after == pytest.approx(with_buzz, rel=2e-3)
    # the same numbers in this process, one model at a time
    serial = stats.run_stats(tmp_path / "sweep", measures=["f0"], workers=1, out=tmp_path / "serial")
    pd.testing.assert_frame_equal(serial.tables["mixed_models"], result.tables["mixed_models"])
    assert serial.notes == result.notes


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("second", ["itself", "another measurement"])
def test_a_table_holding_a_measurement_twice_is_refused_not_averaged(tmp_path, fmt, second):
    """A table appended to itself, or to another measurement of the same files (here 5 Hz higher): every
    analysis averages an interval's points, so the repeats would be averaged in silence (the slope fitted on
    the mix is the mean of the two measurements'). One line naming the first repeated row; nothing written."""
    table = sweep_with_buzz()
    again = table.copy()
    if second == "another measurement":
        again["value"] = again["value"] + 5.0
    mixed = pd.concat([table, again], ignore_index=True)
    folder = write_table_folder(tmp_path / "sweep", mixed)
    if fmt == "parquet":
        (folder / "acoustics.csv").unlink()
        mixed.to_parquet(folder / "acoustics.parquet", index=False)
    offset = 2 if fmt == "csv" else 1
    n = len(table)
    with pytest.raises(GanphonError, match=rf"acoustics\.{fmt}: {n} row\(s\) repeat a measurement of another row "
                       rf"\(row {n + offset} repeats row {offset}: f0 of b000_v000_conv4\.wav \(0\.4–0\.6 s, "
                       r"point 1\)\); each measurement appears once"):
        stats.run_stats(folder, measures=["f0"], workers=1)
    assert not (folder / "stats").exists()
    # the table as measured, once, is read
    write_table_folder(tmp_path / "once", table)
    assert len(stats.run_stats(tmp_path / "once", measures=["f0"], workers=1).tables["mixed_models"])
