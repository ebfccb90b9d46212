"""The example scripts run end to end at small sizes on a tiny model; their main
outputs are checked against values computed here independently (the sweep grid
and path by hand, Pearson r with numpy, feature maps by a forward pass written
out layer by layer), and their figures by what the PNG shows: the layer series
of the folder, the r of each cell, the profiles' envelope, at the pixels the
axes' transform puts them (tests/drawn.py)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from drawn import assert_heatmap_colours, assert_png_line, ink_inside, layer_series_by_hand, to_pixels
from scipy.io import wavfile

from ganphon import plots

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


def run_example(name, *args, timeout=300):
    """Run ``examples/<name>`` with ``args``; its stdout (fails with its stderr)."""
    script = Path(__file__).parent.parent / "examples" / name
    out = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout


def read_latents(folder):
    return pd.read_csv(folder / "latents.csv", dtype={"sample_id": str}).set_index("sample_id")


def assert_bases_fixed(latents, varied, n_bases, n_steps):
    """Every sample of a base shares every latent but ``varied``; bases differ; uniform noise."""
    noise = [c for c in latents.columns if c.startswith("z") and c not in varied]
    assert len(latents) == n_bases * n_steps
    firsts = []
    for b in range(n_bases):
        rows = latents.loc[[f"b{b:03d}_v{i:03d}" for i in range(n_steps)]]
        fixed = rows.drop(columns=varied)
        assert (fixed.nunique() == 1).all(), f"base {b}: {list(fixed.columns[fixed.nunique() > 1])} vary"
        firsts.append(rows[noise].iloc[0].to_numpy())
    assert not np.allclose(firsts[0], firsts[1])
    assert np.abs(np.concatenate(firsts)).max() <= 1.0  # ciwGAN noise ~ U(-1, 1)


def assert_sweep_grid_png(folder, var, values):
    """``figures/sweep_grid_base0.png`` draws, in each row of a swept value, the conv2 series (from its
    native Sound, by hand) and the output of base 0."""
    png = folder / "figures" / "sweep_grid_base0.png"
    fig = plots.sweep_grid_figure(folder, base=0)
    grid = np.array(fig.axes).reshape(len(values), -1)
    assert [ax.get_ylabel() for ax in grid[:, 0]] == [f"{var}={v:g}" for v in values]
    columns = [ax.get_title() for ax in grid[0]]
    for i in range(len(values)):
        sr, y = layer_series_by_hand(folder, f"b000_v{i:03d}", "conv2")
        assert_png_line(png, grid[i, columns.index("conv2")], np.arange(len(y)) / sr, y, "#08519c", reach=2,
                        tol=0.3)
        sr, wave = wavfile.read(folder / f"b000_v{i:03d}_output.wav")
        assert_png_line(png, grid[i, columns.index("output")], np.arange(len(wave)) / sr, wave, "k", reach=2,
                        tol=0.6)


def assert_r_matches_numpy(table, acoustics, labels, at_least):
    """Each r of ``table`` is numpy's Pearson r of the layer's and the output's values of one measure,
    one pair per interval (a point measure's defined points averaged in each), in intervals labelled
    ``labels``, artefact F0 values left out."""
    keys = ["sample_id", "tier", "label", "start", "end"]
    rows = acoustics[acoustics["label"].isin(labels)]
    if "f0_artefact" in rows.columns:
        rows = rows[rows["f0_artefact"].isna()]
    checked = 0
    for row in table.itertuples():
        part = rows[rows["measure"] == row.measure]

        def means(layer):
            values = {}
            for key, group in part[part["layer"] == layer].groupby(keys, sort=False):
                defined = group["value"].dropna().to_numpy()
                values[key] = float(np.mean(defined)) if len(defined) else np.nan
            return pd.Series(values, name="value").rename_axis(keys).reset_index()

        joined = means(row.layer).merge(means("output"), on=keys, suffixes=("_layer", "_output"))
        joined = joined.dropna(subset=["value_layer", "value_output"])
        assert row.n == len(joined), (row.measure, row.layer)
        if len(joined) > 2 and joined["value_layer"].std() > 0 and joined["value_output"].std() > 0:
            r = np.corrcoef(joined["value_layer"], joined["value_output"])[0, 1]
            assert row.r == pytest.approx(r, abs=1e-9), (row.measure, row.layer)
            checked += 1
    assert checked >= at_least


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_help_names_the_paper_analysis(script):
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout and ("Beguš" in out.stdout or "paper" in out.stdout)


def test_z_sweep_example(tiny_ciwgan, tmp_path):
    out = tmp_path / "z"
    run_example("z_sweep.py", "--checkpoint", tiny_ciwgan, "--var", "z11", "--start", -3, "--stop", 3,
                "--step", 2, "--bases", 3, "--measures", "intensity", "--workers", 1, "--out", out)
    latents = read_latents(out)
    expected = np.arange(-3, 3 + 2 / 2, 2)
    for b in range(3):
        values = latents.loc[[f"b{b:03d}_v{i:03d}" for i in range(len(expected))], "z11"].to_numpy()
        np.testing.assert_array_equal(values, expected)
        codes = latents.loc[f"b{b:03d}_v000", ["c1", "c2"]].to_numpy()
        assert sorted(codes) == [0.0, 1.0]  # a one-hot code, fixed along the sweep
    assert_bases_fixed(latents, ["z11"], 3, len(expected))
    acoustics = pd.read_csv(out / "acoustics.csv", dtype={"sample_id": str})
    np.testing.assert_array_equal(acoustics["z11"], latents.loc[acoustics["sample_id"], "z11"])
    lrt = pd.read_csv(out / "stats" / "lrt.csv")
    assert set(lrt["outcome"]) <= {"intensity"}
    assert_sweep_grid_png(out, "z11", expected)


def test_z_sweep_example_on_a_code_variable(tiny_ciwgan, tmp_path):
    out = tmp_path / "c2"
    run_example("z_sweep.py", "--checkpoint", tiny_ciwgan, "--var", "c2", "--start", 0, "--stop", 1,
                "--step", 0.5, "--bases", 2, "--measures", "intensity", "--workers", 1, "--out", out)
    latents = read_latents(out)
    for b in range(2):
        rows = latents.loc[[f"b{b:03d}_v{i:03d}" for i in range(3)]]
        np.testing.assert_array_equal(rows["c2"], [0.0, 0.5, 1.0])
        np.testing.assert_array_equal(rows["c1"], [0.0, 0.0, 0.0])  # the other code stays 0
    assert_bases_fixed(latents, ["c2"], 2, 3)
    assert_sweep_grid_png(out, "c2", [0.0, 0.5, 1.0])


def test_reduplication_path_example(tiny_ciwgan, tmp_path):
    out = tmp_path / "redup"
    run_example("reduplication_path.py", "--checkpoint", tiny_ciwgan, "--step", 0.5, "--bases", 2,
                "--measures", "intensity", "--workers", 1, "--out", out)
    # [1.5, 0] -> [0, 0] -> [0, 1.5] in steps of 0.5, by hand
    path = [(1.5, 0), (1.0, 0), (0.5, 0), (0, 0), (0, 0.5), (0, 1.0), (0, 1.5)]
    latents = read_latents(out)
    for b in range(2):
        rows = latents.loc[[f"b{b:03d}_v{i:03d}" for i in range(len(path))], ["c1", "c2"]]
        np.testing.assert_array_equal(rows.to_numpy(), np.array(path, dtype=float))
    assert_bases_fixed(latents, ["c1", "c2"], 2, len(path))
    manifest = pd.read_csv(out / "manifest.csv")
    var = manifest["var"].iloc[0]
    values = manifest[manifest["base"] == 0].drop_duplicates("sample_id").sort_values("value")["value"]
    assert_sweep_grid_png(out, var, list(values))


def test_layer_correlations_example(tiny_ciwgan, tmp_path):
    out = tmp_path / "corr"
    # an untrained generator's output is its stack's buzz: no 'voi' under the buzz rule, so both labels
    run_example("layer_correlations.py", "--checkpoint", tiny_ciwgan, "--n", 8, "--workers", 1, "--out", out,
                "--labels", "voi,fric")
    table = pd.read_csv(out / "figures" / "correlations.csv")
    acoustics = pd.read_csv(out / "acoustics.csv", dtype={"sample_id": str})
    assert len(table) > 0 and set(table["layer"]) <= {"dense", "conv1", "conv2", "conv3", "conv4"}
    # F0 values on the generator's artefact frequencies are left out
    assert_r_matches_numpy(table, acoustics, ["voi", "fric"], at_least=5)
    # the heat map: each cell's colour is its r on RdBu_r from −1 to 1 (read a third of a cell off its
    # centre, clear of the printed r), white where r is undefined
    fig = plots.correlations_figure(table)
    ax = fig.axes[0]
    measures = list(dict.fromkeys(table["measure"]))
    layers = [t.get_text() for t in ax.get_xticklabels()]
    r = table.set_index(["measure", "layer"])["r"]
    assert_heatmap_colours(out / "figures" / "correlations.png", ax, r, measures, layers)


def test_feature_map_example(tiny_ciwgan, tmp_path):
    from ganphon.models import Latent, load_checkpoint

    run_example("feature_maps.py", "--checkpoint", tiny_ciwgan, "--n", 6, "--gamma", 1, "--layer", "conv2",
                "--var", "z11", "--value", 15, "--seed", 4, "--out", tmp_path)
    ranking = pd.read_csv(tmp_path / "ranking_conv2.csv")
    # the maps by a forward pass written out here: dense projection, its activation, conv1, conv2
    G = load_checkpoint(tiny_ciwgan).generator.eval()
    lat = Latent(G.config)
    base = lat.sample(6, seed=4)
    profiles = {}
    with torch.no_grad():
        for sign in (-1, 1):
            z = base.clone()
            z[:, lat.names.index("z11")] = sign * 15.0
            x = G.dense_act(G.dense_norm(G.project(z)))
            x = G.blocks["conv2"](G.blocks["conv1"](x))
            profiles[sign] = x.double().numpy().mean(axis=0)  # [C, n]: each map averaged over outputs
    a, b = profiles[-1], profiles[1]
    distance = 1 - (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert len(ranking) == 32  # d = 8: conv2 has 4d channels
    np.testing.assert_allclose(ranking["cosine_distance"], distance[ranking["map"]], rtol=1e-5, atol=1e-9)
    assert list(ranking["map"]) == list(np.argsort(-distance, kind="stable"))
    # the profiles figure: each map averaged over all 2 × 6 outputs, drawn against its sample index; the
    # ink of the left panel reaches the highest profile value at its sample, the lowest value, and
    # spans the samples 0 … n − 1
    every = (profiles[-1] + profiles[1]) / 2
    n = every.shape[1]
    # (the layout, which the right panel's cluster means shape, as the example's: its clustering)
    from ganphon import stats

    labels = stats.cluster_feature_maps(every, gamma=1, k=2, seed=4)
    fig = plots.feature_maps_figure(every, labels, title="conv2: activation profiles by cluster")
    ax = fig.axes[0]
    ink = ink_inside(tmp_path / "profiles_conv2.png", ax)
    peak_k = np.unravel_index(np.argmax(every), every.shape)[1]
    (peak_row, peak_col), (low_row, _) = to_pixels(ax, [peak_k, 0], [every.max(), every.min()], 150)
    (_, first_col), (_, last_col) = to_pixels(ax, [0, n - 1], [0, 0], 150)
    top = ink[ink[:, 0] == ink[:, 0].min()]
    assert abs(top[0, 0] - peak_row) <= 2 and np.abs(top[:, 1] - peak_col).min() <= 2, (top, peak_row, peak_col)
    assert abs(ink[:, 0].max() - low_row) <= 2
    assert abs(ink[:, 1].min() - first_col) <= 2 and abs(ink[:, 1].max() - last_col) <= 2


def test_speech_q_layers_example(tiny_ciwgan, tmp_path):
    stdout = run_example("speech_q_layers.py", "--checkpoint", tiny_ciwgan, "--n", 4, "--words", "ta,pi",
                         "--workers", 1, "--out", tmp_path)
    corr = pd.read_csv(tmp_path / "correlations.csv")
    assert set(corr["layer"]) <= {f"conv{i}" for i in range(1, 6)} and set(corr["measure"]) <= {"intensity", "f0"}
    assert len(corr) > 0
    # each r: numpy's, on the vowels of the Q layers' and the input word's own measures
    acoustics = pd.read_csv(tmp_path / "q_layers" / "acoustics.csv", dtype={"sample_id": str})
    assert_r_matches_numpy(corr, acoustics, ["ɑ", "i", "u"], at_least=3)
    # the confusion table counts each word's predicted codes: 4 words in all, as many per word as the
    # corpus drew
    confusion = pd.read_csv(tmp_path / "confusion.csv")
    assert sorted(confusion["label"]) == ["pi", "ta"] and confusion.filter(like="code_").to_numpy().sum() == 4
    words = pd.read_csv(tmp_path / "corpus" / "corpus.csv")["word"].value_counts()
    assert confusion.set_index("label").filter(like="code_").sum(axis=1).to_dict() == words.to_dict()
    manifest = pd.read_csv(tmp_path / "q_layers" / "manifest.csv")
    assert set(manifest["layer"]) == {"output", *(f"conv{i}" for i in range(1, 6))}
    assert "Pearson r of each Q layer" in stdout
