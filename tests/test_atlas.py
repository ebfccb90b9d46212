"""The latent atlas: effects against a mixed model and known truth, a planted variable found first,
and no passing effect where there is none (at the nominal rate)."""

import numpy as np
import pandas as pd
import pytest
import torch

from ganphon import layout
from ganphon.atlas import (atlas_effects, atlas_size, benjamini_hochberg, cell_effect, holm, run_atlas,
                           top_variable)
from ganphon.errors import GanphonError
from ganphon.models import ModelConfig, new_model
from ganphon.models.checkpoint import LoadedModel


def _simulated(rng, n_vars=20, n_bases=10, values=(-15, -5, 0, 5, 15), slopes=None, outcomes=("a", "b")):
    """Outcomes y = base intercept + (mean slope + base's own slope) · value + noise, per variable."""
    rows = []
    slopes = slopes or {}
    for v in range(n_vars):
        for o in outcomes:
            beta = slopes.get((f"z{v + 1}", o), 0.0)
            for b in range(n_bases):
                a, u = rng.normal(0, 3), rng.normal(0, 0.2)
                for x in values:
                    rows.append({"var": f"z{v + 1}", "outcome": o, "layer": "output", "base": b,
                                 "value": float(x), "y": a + (beta + u) * x + rng.normal(0, 1)})
    return pd.DataFrame(rows)


def test_effect_is_the_mixed_models_ml_slope_and_per_base_least_squares():
    from ganphon.stats import fit_mixed

    rng = np.random.default_rng(3)
    data = _simulated(rng, n_vars=1, n_bases=8, slopes={("z1", "a"): 0.4}, outcomes=("a",))
    row = cell_effect(data)
    slopes = [np.polyfit(part["value"], part["y"], 1)[0] for _, part in data.groupby("base")]
    assert row["effect"] == pytest.approx(np.mean(slopes), rel=1e-12)
    assert row["se"] == pytest.approx(np.std(slopes, ddof=1) / np.sqrt(8), rel=1e-10)
    assert row["df"] == 7 and row["n_bases"] == 8
    frame = data.rename(columns={"y": "f0"})
    # the atlas's t test across bases is the model's between-within test (df="bases"), not the
    # Satterthwaite df fit_mixed gives by default
    fit = fit_mixed(frame, "f0", df="bases")[0]
    coef = fit.coefficients().set_index("term").loc["value"]
    # balanced, complete: generalised least squares with Z = X is ordinary least squares per base
    assert row["effect"] == pytest.approx(coef["estimate"], rel=1e-6)
    assert coef["df"] == row["df"]
    # the ML se divides the slope variance by B where the t test divides by B − 1, roughly
    assert coef["se"] == pytest.approx(row["se"], rel=0.25)
    # standardised: slope · sd(value) / sd(y)
    assert row["effect_std"] == pytest.approx(row["effect"] * data["value"].std() / data["y"].std(), rel=1e-9)


def test_signflip_p_is_the_share_of_sign_patterns_reaching_the_observed_sum():
    import itertools

    from ganphon.atlas import _cell_slopes, signflip_p

    rng = np.random.default_rng(8)
    data = _simulated(rng, n_vars=2, n_bases=7, slopes={("z1", "a"): 0.2}, outcomes=("a",))
    slopes = _cell_slopes(data, ["var", "outcome", "layer"])
    got = signflip_p(slopes, ["var", "outcome", "layer"])
    for var in ("z1", "z2"):
        s = slopes[slopes["var"] == var]["slope"].to_numpy()
        obs = abs(s.sum())
        hand = np.mean([abs(np.dot(signs, s)) >= obs - 1e-12 for signs in itertools.product([-1, 1], repeat=7)])
        assert got[(var, "a", "output")] == pytest.approx(hand, abs=1e-15)
    eff = atlas_effects(data, test="signflip")
    assert (eff["p"] == eff["p_signflip"]).all() and eff["p_signflip"].min() >= 2 / 2 ** 7


def test_holm_and_bh_match_their_definitions():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.005])
    # Holm by hand: sorted 0.005, 0.01, 0.03, 0.04 × 4, 3, 2, 1 → 0.02, 0.03, 0.06, 0.06 (running max)
    assert np.allclose(holm(p), [0.03, 0.06, 0.06, np.nan, 0.02], equal_nan=True)
    # BH by hand: 0.005·4/1, 0.01·4/2, 0.03·4/3, 0.04·4/4 → 0.02, 0.02, 0.04, 0.04 (running min from the top)
    assert np.allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, np.nan, 0.02], equal_nan=True)


def test_no_effect_passes_at_more_than_the_nominal_rate():
    """200 simulated atlases without a true effect (every base has its own slope, mean zero): the
    raw p reject at ≈ 5 %, and a table with any Holm-passing effect occurs in ≤ 5 % of them.
    (The atlases are fitted in one call, their variables named by atlas; each atlas's own table is
    then adjusted as atlas_effects adjusts a table, with the Holm checked by hand above.)"""
    rng = np.random.default_rng(2024)
    parts = []
    for seed in range(200):
        part = _simulated(rng, n_vars=10, n_bases=6)
        parts.append(part.assign(var=f"a{seed}_" + part["var"]))
    eff = atlas_effects(pd.concat(parts, ignore_index=True))
    assert len(eff) == 200 * 10 * 2
    assert abs((eff["p"] < 0.05).mean() - 0.05) < 0.012                # 4,000 tests: 0.05 ± 2.3 se
    atlas = eff["var"].str.split("_").str[0]
    any_pass = [bool((holm(g["p"].to_numpy()) < 0.05).any()) for _, g in eff.groupby(atlas)]
    assert len(any_pass) == 200
    assert np.mean(any_pass) <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 200)
    single = atlas_effects(parts[0])                                   # one atlas by itself: the same p
    mine = eff[atlas == "a0"].set_index(["var", "outcome"])["p"]
    assert np.allclose(single.set_index(["var", "outcome"])["p"].reindex(mine.index), mine, rtol=1e-12)


def test_a_true_effect_is_found_and_ranked_first():
    rng = np.random.default_rng(5)
    eff = atlas_effects(_simulated(rng, n_vars=10, n_bases=10, slopes={("z7", "b"): 0.5}))
    assert top_variable(eff, "b")["var"] == "z7"
    assert eff.loc[eff["passes"], "var"].tolist() == ["z7"]


def _planted_model(strength=40.0):
    """A tiny generator: z1 drives the dense input of a quarter of the channels hard; z4…z6 do nothing."""
    cfg = ModelConfig(arch="wavegan", dim=4, latent_dim=6)
    G, _, _ = new_model(cfg, seed=3)
    C = G.dense_channels
    with torch.no_grad():
        w = G.dense.weight.view(16, C, cfg.latent_dim)   # TF layout: row t·C + c
        w[:, :, 0] = 0.0
        w[:, : C // 4, 0] = strength / 16                 # z1 → channels 0 … C/4 − 1, every time step
        w[:, :, 3:] = 0.0                                 # z4, z5, z6: no effect at all
    return LoadedModel(config=cfg, generator=G, sha256="p" * 64)


def test_the_atlas_ranks_a_planted_variable_first(tmp_path):
    model = _planted_model()
    result = run_atlas(model, tmp_path / "atlas", values=(-15, 0, 15), bases=4, layers=["conv4"],
                       measures=("intensity", "duration"), workers=1, progress=False, explore_vars=2,
                       explore_bases=1, seed=1)
    eff = result.effects
    first = top_variable(eff, "intensity_mean/all")
    assert first["var"] == "z1" and first["passes"] and first["effect"] > 0
    for layer in ("conv4", "output"):
        assert top_variable(eff, "intensity_mean/all", layer)["var"] == "z1"
    dead = eff[eff["var"].isin(["z4", "z5", "z6"])]
    assert not dead["passes"].any()
    assert np.all(dead["effect"].dropna() == 0.0)             # outputs identical at every value
    written = pd.read_csv(tmp_path / "atlas" / layout.ATLAS_CSV)
    assert list(written.columns) == list(eff.columns) and len(written) == len(eff)
    assert all(p.is_file() for p in result.figures)
    page = result.page.read_text()
    assert '"z1 \\u00b7 base 0"' in page or "z1 · base 0" in page
    assert "Of " in result.sentence and "z1" in result.sentence


def test_atlas_size_and_confirmation(tmp_path):
    assert atlas_size({"values": [-15, -5, 0, 5, 15], "bases": 20}, ModelConfig()) == 10_000
    with pytest.raises(GanphonError, match="--yes"):
        run_atlas(_planted_model(), tmp_path / "big", values=list(range(-700, 701)), bases=2, progress=False)
    with pytest.raises(GanphonError, match="values"):
        run_atlas(_planted_model(), tmp_path / "bad", values=[1, 1], bases=2, progress=False)
    with pytest.raises(GanphonError, match="does not exist"):
        run_atlas(_planted_model(), tmp_path / "bad", variables=["z9"], bases=2, progress=False)


def test_atlas_command_prints_its_size_and_asks_for_yes(tmp_path, capsys):
    from ganphon.cli import main

    code = main(["atlas", "--checkpoint", "demo", "--bases", "21", "--out", str(tmp_path / "a")])
    err = capsys.readouterr()
    assert code == 2
    assert "10,500 samples" in err.out + err.err and "--yes" in err.err
    assert not (tmp_path / "a").exists()


def test_demo_atlas_section_reports_its_own_tables(tmp_path):
    from ganphon.report.atlas_section import demo_atlas_section

    md, figures = demo_atlas_section(tmp_path, _planted_model(), seed=2, bases=2, probe_n=8,
                                     intervention_bases=3, workers=1)
    inter = pd.read_csv(tmp_path / "intervention" / layout.INTERVENTION_CSV)
    label = inter["var"].iloc[0]
    assert label.startswith("conv3[") and label.endswith("]*5")
    assert f"{label} changed" in md                                   # the intervention's sentence
    atlas = pd.read_csv(tmp_path / "atlas" / layout.ATLAS_CSV)
    assert set(atlas["var"]) == {f"z{i}" for i in range(1, 7)} and set(atlas["layer"]) == {"output"}
    assert all(p.is_file() for p in figures) and "![atlas heatmap](atlas/figures/atlas_heatmap.png)" in md
    # the section's samples are summarised by its tables: their sound files, grids and feature maps go
    for sub in ("atlas", "atlas_probe", "intervention"):
        left = [p.name for p in (tmp_path / sub).iterdir() if p.suffix in (".wav", ".Sound", ".npy", ".TextGrid")]
        assert not left, (sub, left)
    assert (tmp_path / "atlas_probe" / layout.ACOUSTICS).is_file()
    assert not (tmp_path / "atlas" / layout.ACOUSTICS).exists()  # atlas.csv holds what it measured
    assert_tables_only_named(tmp_path, {"atlas": 6 * 2 * 2, "atlas_probe": 8, "intervention": 3 * 2},
                             "moved or deleted?")


def assert_tables_only_named(where, runs: dict, why: str) -> None:
    """Each run of ``runs`` (folder name → samples, None: its manifest's count) under ``where`` keeps none of its
    samples' files: every command reading them had stopped at one missing file ("atlas/c1_b000_v000_output.wav:
    no such WAV file", or measure's "no TextGrids to take tier 'auto' from; measure whole files"); each now says
    in one line what the folder keeps, plot that there is nothing to draw, stats that only --allow-stale fits the
    table; nothing changes."""
    import contextlib
    import io as io_

    from test_faults import _tree as tree

    from ganphon.cli import main

    before = tree(where)
    for name, n in runs.items():
        folder = where / name
        manifest = pd.read_csv(folder / layout.MANIFEST, dtype=str)
        n = manifest["sample_id"].nunique() if n is None else n
        assert manifest["sample_id"].nunique() == n
        assert not any((folder / f).exists() for c in ("file", "sound_file") for f in manifest[c].dropna())
        kept = f"{folder} keeps none of its {n:,} samples' files, only its tables"
        commands = [[c, str(folder)] for c in ("annotate", "measure", "export-wavs", "correlate-input", "explore")]
        commands.append(["compare-series", str(folder), "--external", str(folder / layout.MANIFEST)])
        for argv in commands:
            err = io_.StringIO()
            with contextlib.redirect_stderr(err):
                assert main(argv) == 2
            assert err.getvalue().splitlines() == [f"ganphon: error: {kept}: 'ganphon {argv[0]}' reads those "
                                                   f"files ({why})"], argv
        err = io_.StringIO()
        with contextlib.redirect_stderr(err):
            assert main(["plot", str(folder)]) == 2
        (line,) = err.getvalue().splitlines()
        assert line.startswith(f"ganphon: error: {folder}: nothing to draw: {kept}: no layer stack"), line
        if (folder / layout.ACOUSTICS).is_file():
            err = io_.StringIO()
            with contextlib.redirect_stderr(err):
                assert main(["stats", str(folder)]) == 2
            assert err.getvalue().splitlines() == [
                f"ganphon: error: {folder / layout.ACOUSTICS}: measured before the TextGrids were removed; {kept}: "
                "pass --allow-stale to fit the table as it is"]
    assert tree(where) == before


def test_the_size_estimate_takes_the_pools_default_of_workers():
    """workers=None (the demo's default) is the pool's own default; a bad count is the pool's one-line error."""
    from ganphon.atlas import estimate
    from ganphon.errors import GanphonError
    from ganphon.parallel import default_workers

    assert estimate(600, 6, None) == estimate(600, 6, default_workers(600))
    with pytest.raises(GanphonError, match="workers must be a whole number"):
        estimate(600, 6, 0)
