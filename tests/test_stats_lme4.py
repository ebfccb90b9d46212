"""The statsmodels engine against real R lme4 (Rscript), and the lme4 engine itself."""

import re
import subprocess
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import require_rscript
from ganphon import stats
from ganphon.errors import GanphonError
from ganphon.stats import lme4 as engine

VALUES = np.arange(-15.0, 6.0, 2.0)


def planted(seed, n_bases=10, slope=0.5, sd_base=3.0, sd_slope=0.3, sd_noise=2.0, reps=2, layer="conv3"):
    """A model frame: outcome = 120 + u_b + (slope + s_b)·value + noise, 10 bases × 11 values × reps."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(n_bases):
        u, s = rng.normal(0, sd_base), rng.normal(0, sd_slope)
        for i, v in enumerate(VALUES):
            for r in range(reps):
                rows.append({"sample_id": f"b{b:03d}_v{i:03d}", "layer": layer, "label": "voi", "base": b,
                             "value": v, "f0": 120 + u + (slope + s) * v + rng.normal(0, sd_noise)})
    return pd.DataFrame(rows)


def tasks_of(frames):
    tasks = []
    for i, frame in enumerate(frames):
        (task,) = stats.mixed_tasks(frame.assign(layer=f"set{i}"), "f0", label="voi")
        tasks.append(task)
    return tasks


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory):
    require_rscript()
    frames = [planted(seed) for seed in range(6)]
    # and two frames at the boundary: no slope variance, and one value per base (slope not identified)
    frames.append(planted(100, sd_slope=0.0))
    frames.append(planted(101, sd_base=0.0, sd_slope=0.0))
    tasks = tasks_of(frames)
    sm = stats.fit_tasks(tasks)
    r = engine.fit_tasks_lme4(tasks, tmp_path_factory.mktemp("frames"))
    return tasks, sm, r


def test_statsmodels_equals_lme4_on_planted_tables(both_engines):
    tasks, sm, r = both_engines
    assert [f.engine for f in r] == ["lme4"] * len(tasks)
    parity = engine.parity_table(sm, r)
    assert len(parity) == 2 * len(tasks)
    # the same random structure was accepted by both (singular fits kept by both)
    assert [f.structure for f in sm] == [f.structure for f in r] == ["slope"] * len(tasks)
    assert [f.ml_result.singular for f in sm] == [f.ml_result.singular for f in r]
    # fixed effects: median relative difference ≤ 1e-3 (in fact far below), standard errors too
    assert parity["rel_diff"].median() <= 1e-3 and parity["rel_diff"].max() <= 1e-3
    assert parity["se_rel_diff"].median() <= 1e-3 and parity["se_rel_diff"].max() <= 1e-2
    # no accepted statsmodels fit more than 0.01 log-likelihood below lme4's
    assert (parity["llf_diff"] >= -engine.PARITY_LLF).all()
    assert parity["agree"].all()
    for a, b in zip(sm, r):
        assert a.lrt()["stat"] == pytest.approx(b.lrt()["stat"], abs=0.02)
        assert a.ml_result.re_sd["resid"] == pytest.approx(b.ml_result.re_sd["resid"], rel=1e-3)
        if not b.ml_result.singular:
            assert a.ml_result.re_sd["value"] == pytest.approx(b.ml_result.re_sd["value"], rel=2e-2)
    # lmerTest's Satterthwaite df for the slope of a balanced design (ML) is ≈ bases; the statsmodels
    # engine's own Satterthwaite df are the same; the between-within df, bases − 1, is at most one below
    slope_df = np.array([f.df["value"] for f in r if not f.ml_result.singular])
    assert len(slope_df) >= 5 and np.all((slope_df >= 9.0) & (slope_df <= 10.5))
    for a, b in zip(sm, r):
        if not b.ml_result.singular:
            assert a.df["value"] == pytest.approx(b.df["value"], rel=1e-3)
    assert all(f.df["value"] == 9.0 for f in stats.fit_tasks([replace(t, df_method="bases") for t in tasks[:2]]))


def test_disagreements_are_flagged(both_engines):
    tasks, sm, r = both_engines
    import copy

    mine = [copy.deepcopy(f) for f in sm[:2]]
    theirs = [copy.deepcopy(f) for f in r[:2]]
    # lme4 finds a higher maximum for the first model (as it did on statsmodels 0.15's false maxima)
    theirs[0].ml_result.llf += 1.0
    theirs[0].result.fe_params["value"] *= 1.05
    assert engine.flag_disagreements(mine, theirs) == 1
    assert mine[0].method.endswith("[lme4 disagrees]")
    text = mine[0].coefficients()["warnings"].iloc[0]
    assert "lme4's log-likelihood is 1 higher" in text and "value differs from lme4's" in text
    assert "lme4 disagrees" not in mine[1].method
    assert not engine.parity_table(mine, theirs)["agree"].iloc[:2].any()


def test_lme4_engine_writes_the_same_tables_and_refit_r_reproduces_them(tmp_path):
    exe = require_rscript()
    folder = tmp_path / "sweep"
    folder.mkdir()
    rows = []
    for layer, slope in (("conv2", 0.2), ("output", 0.6)):
        frame = planted(7, slope=slope, layer=layer, reps=1)
        for row in frame.itertuples():
            rows.append({"file": f"{row.sample_id}_{layer}.wav", "tier": "auto", "label": "voi", "start": 0.3,
                         "end": 0.5, "point": 1, "time": 0.4, "measure": "f0", "value": row.f0, "note": "",
                         "f0_artefact": np.nan, "sample_id": row.sample_id, "layer": layer, "sweep_value": row.value,
                         "base": row.base, "var": "z11"})
    pd.DataFrame(rows).to_csv(folder / "acoustics.csv", index=False)
    result = stats.run_stats(folder, measures=("f0",), engine="lme4", workers=1)
    mixed = result.tables["mixed_models"]
    assert list(mixed.columns) == stats.MIXED_COLUMNS
    assert set(mixed["engine"]) == {"lme4"} and set(mixed["df_method"]) == {"Satterthwaite"}
    assert set(mixed["method"]) == {"lmer ML, random intercept and slope by base"}
    assert list(result.tables["lrt"].columns) == stats.LRT_COLUMNS
    assert result.first_layers == {"f0/voi": "conv2"}  # a planted slope of 0.2 is found in conv2
    refit = subprocess.run([exe, "--vanilla", "refit.R"], cwd=folder / "stats" / "frames", capture_output=True,
                           text=True, check=True).stdout
    for layer in ("conv2", "output"):
        block = refit.split(f"== f0_{layer}_voi.csv ==")[1]
        printed = float(re.search(r"^value\s+(\S+)", block, re.M).group(1))
        table = mixed[(mixed["layer"] == layer) & (mixed["term"] == "value")]["estimate"].iloc[0]
        assert printed == pytest.approx(table, rel=1e-4)
    # engine both: statsmodels reported, parity written
    both = stats.run_stats(folder, measures=("f0",), engine="both", workers=1)
    assert set(both.tables["mixed_models"]["engine"]) == {"statsmodels"}
    assert both.tables["parity"]["agree"].all() and (folder / "stats" / "parity.csv").is_file()
    assert any("agree on all 2 models" in n for n in both.notes)


def test_lme4_engine_without_r_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "acoustics.csv").write_text("file,measure,value\nx.wav,f0,1\n")
    with pytest.raises(GanphonError, match="needs R: Rscript is not on PATH") as e:
        stats.run_stats(tmp_path, engine="lme4")
    assert "\n" not in str(e.value)
    with pytest.raises(GanphonError, match="^engine: must be one of statsmodels, lme4, both"):
        stats.run_stats(tmp_path, engine="R")


FIXTURE = __import__("pathlib").Path(__file__).parent / "fixtures" / "stats" / "cog_conv2_fric.csv"


def test_lme4_engine_reports_the_maximum_where_lmes_default_optimiser_stops_short(tmp_path):
    """The demo's cog/fric/conv2 frame: lme4's default optimiser (nloptwrap) stops 3.18 units short on the
    model without value; the engine tries bobyqa and Nelder_Mead and restarts, and reports the maximum."""
    exe = require_rscript()
    # lme4 itself, plain lmer with its default optimiser: the null fit stops short
    code = ('suppressPackageStartupMessages(library(lme4)); d <- read.csv("%s"); d$base <- factor(d$base); '
            'f <- function(o) as.numeric(logLik(suppressWarnings(suppressMessages(lmer(cog ~ 1 + (value | base), '
            'd, REML = FALSE, control = lmerControl(optimizer = o)))))); '
            'cat(sprintf("%%.10f", c(f("nloptwrap"), f("bobyqa"))), "\\n")') % FIXTURE
    default, bobyqa = map(float, subprocess.run([exe, "--vanilla", "-e", code], capture_output=True, text=True,
                                                check=True).stdout.split())
    assert bobyqa - default > 3.0
    frame = pd.read_csv(FIXTURE).assign(layer="conv2", label="fric")
    (task,) = stats.mixed_tasks(frame, "cog", label="fric")
    (r,) = engine.fit_tasks_lme4([task], tmp_path)
    (sm,) = stats.fit_tasks([task])
    assert r.null_result.llf == pytest.approx(bobyqa, abs=1e-6)
    assert r.null_result.llf > default + 3.0
    assert any("default optimiser (nloptwrap) stopped 3.18 log-likelihood units below" in w for w in r.warnings)
    # the two engines now agree on both maxima and on the test (p = 0.0090, not 0.00028)
    assert r.lrt()["p"] == pytest.approx(sm.lrt()["p"], rel=1e-4)
    assert r.lrt()["p"] == pytest.approx(0.0090, abs=5e-5)
    parity = engine.parity_table([sm], [r])
    assert parity["agree"].all() and (parity["llf_null_diff"].abs() < 1e-6).all()
    assert engine.flag_disagreements([sm], [r]) == 0


def test_a_fit_below_the_other_engines_maximum_is_flagged_not_converged(both_engines):
    import copy

    tasks, sm, r = both_engines
    mine, theirs = copy.deepcopy(sm[0]), copy.deepcopy(r[0])
    theirs.null_result.llf -= 3.18  # lme4's null fit stopped short (as its default optimiser did on the demo)
    assert engine.flag_disagreements([mine], [theirs]) == 1
    assert theirs.null_result.converged is False and "below the other engine's maximum" in theirs.method
    assert any("statsmodels' log-likelihood is 3.18 higher" in w for w in theirs.warnings)
    assert mine.null_result.converged
    parity = engine.parity_table([mine], [theirs])
    assert not parity["agree"].any() and parity["llf_null_diff"].iloc[0] == pytest.approx(3.18)
    assert parity["lrt_p_sm"].iloc[0] != pytest.approx(parity["lrt_p_lme4"].iloc[0])
