"""Figures hold what the folder holds: one panel per layer, one cell per value × layer,
the effects, correlations and clusters they are given; PNG and PDF written atomically."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tgt
from matplotlib.image import imread
from scipy.io import wavfile

from ganphon import plots, stats
from ganphon.cli import main
from ganphon.errors import GanphonError

SR, L = 16000, 16384
LAYERS = ["dense", "conv1", "conv2", "conv3", "conv4"]
VALUES = [-15.0, -5.0, 5.0]


def layer_series(base: int, value: float, layer: str) -> np.ndarray:
    """A known, distinct upsampled series per (base, value, layer)."""
    t = np.arange(L) / SR
    k = LAYERS.index(layer) + 1
    return (0.1 * k + 0.05 * base + 0.01 * (value + 15) * (1 + np.sin(2 * np.pi * k * t))).astype(np.float32)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """An exported sweep folder: 2 bases × 3 values of z11, five layers, auto + condition tiers."""
    out = tmp_path_factory.mktemp("sweep")
    rng = np.random.default_rng(0)
    rows = []
    t = np.arange(L) / SR
    for b in range(2):
        for i, v in enumerate(VALUES):
            sid = f"b{b:03d}_v{i:03d}"
            wave = 0.3 * np.sin(2 * np.pi * 150 * t) * ((t > 0.4) & (t < 0.8)) + 0.02 * rng.standard_normal(L)
            wavfile.write(out / f"{sid}_output.wav", SR, wave.astype(np.float32))
            for layer in LAYERS:
                wavfile.write(out / f"{sid}_{layer}.wav", SR, layer_series(b, v, layer))
            grid = tgt.TextGrid()
            cond = tgt.IntervalTier(0, L / SR, "condition")
            cond.add_interval(tgt.Interval(0, L / SR, f"z11={v:g}"))
            auto = tgt.IntervalTier(0, L / SR, "auto")
            for start, end, label in ((0, 0.2, "sil"), (0.2, 0.4, "fric"), (0.4, 0.8, "voi"), (0.8, L / SR, "sil")):
                auto.add_interval(tgt.Interval(start, end, label))
            grid.add_tier(cond)
            grid.add_tier(auto)
            tgt.io.write_to_file(grid, str(out / f"{sid}.TextGrid"), format="long", encoding="utf-8")
            for layer in ["output"] + LAYERS:
                rows.append({"sample_id": sid, "layer": layer, "file": f"{sid}_{layer}.wav",
                             "sound_file": f"{sid}_{layer}.wav" if layer == "output" else f"{sid}_{layer}.Sound",
                             "textgrid": f"{sid}.TextGrid", "n_native": 16, "rate_native_hz": 15.625,
                             "slice_len": L, "sr": SR, "seed": 3, "arch": "wavegan", "checkpoint_sha256": "x",
                             "code": "", "var": "z11", "value": v, "base": b, "z11": v})
    pd.DataFrame(rows).to_csv(out / "manifest.csv", index=False)
    return out


def assert_files(paths, stem):
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stem == stem for p in paths)
    png, pdf = paths
    image = imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image[..., :3].std() > 0.01  # not blank
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    assert not list(png.parent.glob(".*tmp*"))


def test_layer_stack_has_waveform_spectrogram_and_every_layer(folder):
    fig = plots.layer_stack_figure(folder, "b001_v002")
    axes = fig.axes
    assert len(axes) == len(LAYERS) + 2
    assert [ax.get_ylabel() for ax in axes[2:]] == LAYERS
    for ax, layer in zip(axes[2:], LAYERS):
        line = ax.lines[0]
        assert np.allclose(line.get_ydata(), layer_series(1, 5.0, layer), atol=1e-7)
        assert np.allclose(line.get_xdata()[[0, -1]], [0, (L - 1) / SR])
    sr, wave = wavfile.read(folder / "b001_v002_output.wav")
    assert np.allclose(axes[0].lines[0].get_ydata(), wave)
    # the auto tier: four labelled spans on every axis but the spectrogram, labels above the waveform
    assert [len(ax.patches) for ax in axes] == [4, 0] + [4] * len(LAYERS)
    assert [t.get_text() for t in axes[0].texts] == ["sil", "fric", "voi", "sil"]
    assert len(axes[1].collections) == 1  # the spectrogram mesh
    assert_files(plots.plot_layer_stack(folder, "b001_v002"), "layer_stack_b001_v002")


def test_layer_stack_falls_back_to_the_condition_tier(folder, tmp_path):
    fig = plots.layer_stack_figure(folder, "b000_v000", layers=["conv4"], tier="condition")
    assert len(fig.axes) == 3 and [t.get_text() for t in fig.axes[0].texts] == ["z11=-15"]
    with pytest.raises(GanphonError, match=r"b000_v000\.TextGrid: no tier 'phones'"):
        plots.layer_stack_figure(folder, "b000_v000", tier="phones")
    with pytest.raises(GanphonError, match=r"b009_v000_output\.wav: no such WAV"):
        plots.plot_layer_stack(folder, "b009_v000", out=tmp_path / "x")


def test_sweep_grid_is_values_by_layers(folder):
    fig = plots.sweep_grid_figure(folder, base=1)
    columns = LAYERS + ["output"]
    assert len(fig.axes) == len(VALUES) * len(columns)
    grid = np.array(fig.axes).reshape(len(VALUES), len(columns))
    assert [ax.get_title() for ax in grid[0]] == columns
    assert [ax.get_ylabel() for ax in grid[:, 0]] == ["z11=-15", "z11=-5", "z11=5"]
    for i, v in enumerate(VALUES):
        for j, layer in enumerate(LAYERS):
            assert np.allclose(grid[i, j].lines[0].get_ydata(), layer_series(1, v, layer), atol=1e-7)
    assert_files(plots.plot_sweep_grid(folder, base=1), "sweep_grid_base1")
    with pytest.raises(GanphonError, match="no base '7'"):
        plots.plot_sweep_grid(folder, base="7")


def test_effects_figure_shows_the_slopes_and_cis(tmp_path):
    effects = pd.DataFrame({
        "outcome": ["f0"] * 3 + ["intensity"] * 3,
        "layer": ["conv2", "dense", "conv1"] * 2,
        "beta": [0.6, 0.01, 0.3, -0.2, 0.0, 0.05],
        "se": [0.05, 0.05, 0.05, 0.05, 0.05, 0.05],
    })
    effects["ci_low"] = effects["beta"] - 1.96 * effects["se"]
    effects["ci_high"] = effects["beta"] + 1.96 * effects["se"]
    fig = plots.effects_figure(effects)
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["f0", "intensity"]
    f0 = fig.axes[0]
    assert [t.get_text() for t in f0.get_xticklabels()] == ["dense", "conv1", "conv2"]
    assert np.allclose(f0.lines[0].get_ydata(), [0.01, 0.3, 0.6])
    # the first layer whose CI excludes 0 is circled: conv1 for f0
    (circle,) = [line for line in f0.lines if line.get_label().startswith("first layer")]
    assert circle.get_label() == "first layer: conv1"
    assert circle.get_xdata()[0] == 1 and circle.get_ydata()[0] == pytest.approx(0.3)
    intensity = fig.axes[1]
    assert [line.get_label() for line in intensity.lines if line.get_label().startswith("first")] == \
        ["first layer: conv2"]
    assert_files(plots.plot_effects(effects, tmp_path / "effects"), "effects")


def test_correlations_heat_map_prints_r(tmp_path):
    corr = pd.DataFrame({"measure": ["intensity", "intensity", "f0", "f0"],
                         "layer": ["conv4", "conv3", "conv4", "conv3"],
                         "r": [0.82, 0.72, 0.55, np.nan], "ci_low": 0.0, "ci_high": 1.0, "n": 38, "p": 0.01})
    fig = plots.correlations_figure(corr)
    ax = fig.axes[0]
    assert np.allclose(ax.images[0].get_array().filled(np.nan), [[0.72, 0.82], [np.nan, 0.55]], equal_nan=True)
    assert [t.get_text() for t in ax.texts] == ["0.72", "0.82", "–", "0.55"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv3", "conv4"]
    assert_files(plots.plot_correlations(corr, tmp_path / "corr.png"), "corr")


def test_feature_maps_coloured_by_cluster(tmp_path):
    rng = np.random.default_rng(1)
    profiles = rng.random((9, 64))
    labels = np.array([0, 1, 1, 0, 1, 1, 1, 0, 1])
    fig = plots.feature_maps_figure(profiles, labels, duration=1.024)
    ax_all, ax_mean = fig.axes
    colours = [line.get_color() for line in ax_all.lines]
    assert len(colours) == 9 and len(set(colours)) == 2
    assert [colours.count(c) for c in dict.fromkeys(colours)] == [3, 6]
    assert np.allclose(ax_mean.lines[0].get_ydata(), profiles[labels == 0].mean(0))
    assert ax_all.lines[0].get_xdata()[0] == pytest.approx(0.5 * 1.024 / 64)
    assert_files(plots.plot_feature_maps(profiles, labels, tmp_path / "maps"), "maps")


def test_plot_command_draws_what_the_folder_supports(folder, tmp_path, capsys):
    folder = Path(shutil.copytree(folder, tmp_path / "copy", ignore=shutil.ignore_patterns("figures")))
    stats_dir = folder / "stats"
    stats_dir.mkdir(exist_ok=True)
    pd.DataFrame({"measure": ["f0"], "layer": ["conv4"], "r": [0.5], "ci_low": [0.1], "ci_high": [0.8],
                  "n": [30], "p": [0.01]}).to_csv(stats_dir / "correlations.csv", index=False)
    maps = np.random.default_rng(2).random((4, 6, 256)).astype(np.float32)
    maps[:, :2, 100] += 5.0  # two spiky maps
    np.save(folder / "featuremaps_conv2.npy", maps)
    assert main(["plot", str(folder), "--sample", "b000_v001"]) == 0
    printed = capsys.readouterr().out
    assert "no stats/effects.csv" in printed
    names = sorted(p.name for p in (folder / "figures").iterdir())
    assert names == sorted(f"{stem}.{ext}" for stem in ("layer_stack_b000_v001", "sweep_grid_base0",
                                                        "correlations", "feature_maps_conv2")
                           for ext in ("png", "pdf"))
    assert main(["plot", str(folder / "nothing")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_plot_stats_end_to_end(tmp_path):
    """Effects computed by ganphon.stats draw into a figure with one point per layer."""
    rng = np.random.default_rng(3)
    rows = []
    for b in range(4):
        for v in VALUES:
            for k, layer in enumerate(["dense", "conv1", "output"]):
                rows.append({"layer": layer, "base": b, "value": v, "f0": 100 + k * 0.5 * v + rng.normal()})
    effects = stats.effect_by_layer(pd.DataFrame(rows), "f0")
    fig = plots.effects_figure(effects)
    assert np.allclose(fig.axes[0].lines[0].get_ydata(), effects["beta"])
    assert_files(plots.plot_effects(effects, tmp_path / "fx"), "fx")
