"""Figures draw what the folder holds: one panel per layer, one cell per value × layer, the effects,
correlations and clusters they are given; PNG and PDF written atomically.

What is drawn is read back from the rendering (tests/drawn.py): the vertices of each line in the
SVG, the colour of PNG pixels, compared with the known series and values mapped through the axes'
data-to-display transform."""

import shutil
from pathlib import Path

import re

import numpy as np
import pandas as pd
import pytest
import tgt
from drawn import line_near, png_pixels, svg_drawing, to_pixels, to_svg
from test_faults import _tree as tree
from matplotlib import colormaps
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


def assert_files(paths, stem, fig=None, ax=None, x=None, y=None, colour=None):
    """PNG then PDF, named ``stem``; the PNG (150 dpi) shows the line (x, y) of ``ax`` in ``colour`` at
    the pixels the axes' transform puts it; the PDF's page is the figure's size in points."""
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stem == stem for p in paths)
    png, pdf = paths
    image = png_pixels(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0.01  # not blank
    if fig is not None:
        width, height = fig.get_size_inches()
        assert image.shape[:2] == (int(height * 150), int(width * 150))  # Agg truncates
        media = re.search(rb"/MediaBox \[ *0 0 ([\d.]+) ([\d.]+) *\]", pdf.read_bytes())
        assert media and np.allclose([float(media[1]), float(media[2])], [72 * width, 72 * height])
    assert pdf.read_bytes()[:5] == b"%PDF-"
    if ax is not None:
        step = max(1, len(x) // 200)
        near = line_near(image, to_pixels(ax, x[::step], y[::step], 150), colour)
        assert near.mean() > 0.97, f"{(~near).sum()} of {len(near)} points of the line not drawn in {png}"
    assert not list(png.parent.glob(".*tmp*"))


def assert_line_drawn(drawing, ax, x, y, atol=0.01):
    """The one path drawn holds exactly the points (x, y) of ``ax``, in order."""
    (path,) = drawing["paths"]
    assert path.shape == (len(x), 2)
    np.testing.assert_allclose(path, to_svg(ax, x, y), atol=atol)


def test_layer_stack_has_waveform_spectrogram_and_every_layer(folder):
    fig = plots.layer_stack_figure(folder, "b001_v002")
    axes = fig.axes
    assert len(axes) == len(LAYERS) + 2
    assert [ax.get_ylabel() for ax in axes[2:]] == LAYERS
    t = np.arange(L) / SR  # sample k at k / sr
    sr, wave = wavfile.read(folder / "b001_v002_output.wav")
    lines = {layer: ax.lines[0] for ax, layer in zip(axes[2:], LAYERS)}
    drawing = svg_drawing(fig, {"output": axes[0].lines[0], **lines})
    assert_line_drawn(drawing["output"], axes[0], t, wave)
    for ax, layer in zip(axes[2:], LAYERS):
        assert_line_drawn(drawing[layer], ax, t, layer_series(1, 5.0, layer))
    # the auto tier: four labelled spans on every axis but the spectrogram, labels above the waveform
    assert [len(ax.patches) for ax in axes] == [4, 0] + [4] * len(LAYERS)
    assert [t.get_text() for t in axes[0].texts] == ["sil", "fric", "voi", "sil"]
    assert len(axes[1].collections) == 1  # the spectrogram mesh
    fresh = plots.layer_stack_figure(folder, "b001_v002")
    assert_files(plots.plot_layer_stack(folder, "b001_v002"), "layer_stack_b001_v002", fresh, fresh.axes[4], t,
                 layer_series(1, 5.0, "conv2"), "#08519c")


def test_layer_stack_falls_back_to_the_condition_tier(folder, tmp_path):
    fig = plots.layer_stack_figure(folder, "b000_v000", layers=["conv4"], tier="condition")
    assert len(fig.axes) == 3 and [t.get_text() for t in fig.axes[0].texts] == ["z11=-15"]
    with pytest.raises(GanphonError, match=r"b000_v000\.TextGrid: no tier 'phones'"):
        plots.layer_stack_figure(folder, "b000_v000", tier="phones")
    with pytest.raises(GanphonError, match=r"^sample: .* has no sample 'b009_v000' in its manifest \(6 samples: "
                                           r"b000_v000 … b001_v002\)$"):
        plots.plot_layer_stack(folder, "b009_v000", out=tmp_path / "x")
    # a sample of the manifest whose output WAV is gone: that file is named
    copy = Path(shutil.copytree(folder, tmp_path / "copy", ignore=shutil.ignore_patterns("figures")))
    (copy / "b001_v000_output.wav").unlink()
    with pytest.raises(GanphonError, match=r"b001_v000_output\.wav: no such WAV"):
        plots.plot_layer_stack(copy, "b001_v000", out=tmp_path / "x")
    assert not list(tmp_path.glob("x*"))


def test_sweep_grid_is_values_by_layers(folder):
    fig = plots.sweep_grid_figure(folder, base=1)
    columns = LAYERS + ["output"]
    assert len(fig.axes) == len(VALUES) * len(columns)
    grid = np.array(fig.axes).reshape(len(VALUES), len(columns))
    assert [ax.get_title() for ax in grid[0]] == columns
    assert [ax.get_ylabel() for ax in grid[:, 0]] == ["z11=-15", "z11=-5", "z11=5"]
    t = np.arange(L) / SR
    cells = {f"{i}-{layer}": grid[i, j].lines[0] for i in range(len(VALUES)) for j, layer in enumerate(columns)}
    drawing = svg_drawing(fig, cells)
    for i, v in enumerate(VALUES):
        for j, layer in enumerate(LAYERS):
            assert_line_drawn(drawing[f"{i}-{layer}"], grid[i, j], t, layer_series(1, v, layer))
        _, wave = wavfile.read(folder / f"b001_v{i:03d}_output.wav")
        assert_line_drawn(drawing[f"{i}-output"], grid[i, -1], t, wave)
    fresh = np.array(plots.sweep_grid_figure(folder, base=1).axes).reshape(len(VALUES), len(columns))
    assert_files(plots.plot_sweep_grid(folder, base=1), "sweep_grid_base1", fresh[0, 0].figure, fresh[2, 3], t,
                 layer_series(1, 5.0, "conv3"), "#08519c")
    with pytest.raises(GanphonError, match="no base '7'"):
        plots.plot_sweep_grid(folder, base="7")


def effects_table():
    effects = pd.DataFrame({
        "outcome": ["f0"] * 3 + ["intensity"] * 3,
        "layer": ["conv2", "dense", "conv1"] * 2,
        "beta": [0.6, 0.01, 0.3, -0.2, 0.0, 0.05],
        "se": [0.05, 0.05, 0.05, 0.05, 0.05, 0.05],
    })
    effects["ci_low"] = effects["beta"] - 1.96 * effects["se"]
    effects["ci_high"] = effects["beta"] + 1.96 * effects["se"]
    return effects


def test_effects_figure_shows_the_slopes_and_cis(tmp_path):
    effects = effects_table()
    fig = plots.effects_figure(effects)
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["f0", "intensity"]
    f0, intensity = fig.axes
    assert [t.get_text() for t in f0.get_xticklabels()] == ["dense", "conv1", "conv2"]
    parts = {}
    for name, ax in (("f0", f0), ("intensity", intensity)):
        data_line, caps, (bars,) = ax.containers[0].lines
        parts.update({f"{name}-points": data_line, f"{name}-bars": bars})
        (circle,) = [line for line in ax.lines if line.get_label().startswith("first layer")]
        parts[f"{name}-circle"] = circle
    drawing = svg_drawing(fig, parts)
    # by hand: layers in network order at x = 0, 1, 2; the CI is beta ± 1.96 se
    for name, ax, beta in (("f0", f0, [0.01, 0.3, 0.6]), ("intensity", intensity, [0.0, 0.05, -0.2])):
        beta = np.array(beta)
        np.testing.assert_allclose(drawing[f"{name}-points"]["markers"], to_svg(ax, [0, 1, 2], beta), atol=0.01)
        bars = drawing[f"{name}-bars"]["paths"]
        assert len(bars) == 3
        for k, bar in enumerate(bars):
            np.testing.assert_allclose(bar, to_svg(ax, [k, k], [beta[k] - 0.098, beta[k] + 0.098]), atol=0.01)
    # the first layer whose CI excludes 0 is circled: conv1 (x = 1) for f0, conv2 (x = 2) for intensity
    assert [line.get_label() for line in f0.lines if line.get_label().startswith("first")] == ["first layer: conv1"]
    assert [line.get_label() for line in intensity.lines if line.get_label().startswith("first")] == \
        ["first layer: conv2"]
    np.testing.assert_allclose(drawing["f0-circle"]["markers"], to_svg(f0, [1], [0.3]), atol=0.01)
    np.testing.assert_allclose(drawing["intensity-circle"]["markers"], to_svg(intensity, [2], [-0.2]), atol=0.01)
    fresh = plots.effects_figure(effects)
    ax = fresh.axes[0]
    assert_files(plots.plot_effects(effects, tmp_path / "effects"), "effects", fresh, ax, [1, 1, 1],
                 [0.3 - 0.098, 0.3, 0.3 + 0.098], "#08519c")


def heat_map_colours(image, ax, values, dpi=150, offset=0.3):
    """The PNG colour of each cell (i, j) of an image of ``values``, read off its centre (moved by
    ``offset`` of a cell, clear of the text printed there)."""
    rows, cols = np.indices(values.shape)
    pixels = to_pixels(ax, cols.ravel() - offset, rows.ravel() - offset, dpi)
    return image[pixels[:, 0], pixels[:, 1]].reshape(*values.shape, 3)


def test_correlations_heat_map_prints_r(tmp_path):
    corr = pd.DataFrame({"measure": ["intensity", "intensity", "f0", "f0"],
                         "layer": ["conv4", "conv3", "conv4", "conv3"],
                         "r": [0.82, 0.72, 0.55, np.nan], "ci_low": 0.0, "ci_high": 1.0, "n": 38, "p": 0.01})
    fig = plots.correlations_figure(corr)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["0.72", "0.82", "–", "0.55"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv3", "conv4"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["intensity", "f0"]
    paths = plots.plot_correlations(corr, tmp_path / "corr.png")
    assert_files(paths, "corr", fig)
    # each cell's colour in the PNG: r on RdBu_r from −1 to 1 (rows measures, columns layers in network
    # order); the missing r is not painted (the white of the axes)
    r = np.array([[0.72, 0.82], [np.nan, 0.55]])
    colours = heat_map_colours(png_pixels(paths[0]), ax, r)
    expected = np.array([[colormaps["RdBu_r"]((v + 1) / 2)[:3] if np.isfinite(v) else (1, 1, 1) for v in row]
                         for row in r])
    np.testing.assert_allclose(colours, expected, atol=1.5 / 255)


def test_atlas_heat_map_colours_the_effects_and_dots_the_passing(tmp_path):
    effects = pd.DataFrame({"var": ["z1", "z1", "z2", "z2", "z1", "z1", "z2", "z2"],
                            "outcome": ["f0", "intensity"] * 4,
                            "layer": ["conv1"] * 4 + ["conv4"] * 4,
                            "effect_std": [0.8, -0.4, 0.1, 0.0, 0.2, -0.8, np.nan, 0.3],
                            "passes": [True, False, False, False, False, True, False, True]})
    fig = plots.atlas_figure(effects)
    conv1, conv4 = fig.axes[:2]
    assert [ax.get_title() for ax in (conv1, conv4)] == ["conv1", "conv4"]
    # rows: z1 (two passing effects) before z2 (one); columns: outcomes sorted
    assert [t.get_text() for t in conv1.get_yticklabels()] == ["z1", "z2"]
    drawing = svg_drawing(fig, {"dots1": conv1.lines[0], "dots4": conv4.lines[0]})
    np.testing.assert_allclose(drawing["dots1"]["markers"], to_svg(conv1, [0], [0]), atol=0.01)
    np.testing.assert_allclose(drawing["dots4"]["markers"], to_svg(conv4, [1, 1], [0, 1]), atol=0.01)
    paths = plots.plot_atlas(effects, tmp_path / "atlas")
    image = png_pixels(paths[0])
    fresh = plots.atlas_figure(effects)
    limit = 0.8  # the largest |effect|: the colour scale runs from −0.8 to 0.8
    for ax, grid in ((fresh.axes[0], [[0.8, -0.4], [0.1, 0.0]]), (fresh.axes[1], [[0.2, -0.8], [np.nan, 0.3]])):
        grid = np.array(grid)
        colours = heat_map_colours(image, ax, grid, offset=0.25)
        expected = np.array([[colormaps["RdBu_r"]((v + limit) / (2 * limit))[:3] if np.isfinite(v) else (1, 1, 1)
                              for v in row] for row in grid])
        np.testing.assert_allclose(colours, expected, atol=1.5 / 255)


def test_sweep_slopes_draw_means_and_the_fitted_line(tmp_path):
    rng = np.random.default_rng(5)
    x = np.tile([-2.0, 0.0, 2.0], 6)
    base = np.repeat([0, 1, 2], 6)
    y = 100 + 3 * x + base + rng.normal(0, 0.5, len(x))
    panel = {"x": x, "y": y, "base": base, "intercept": 101.0, "slope": 3.0, "title": "z11", "ylabel": "f0"}
    fig = plots.sweep_slopes_figure([panel])
    ax = fig.axes[0]
    grey = [line for line in ax.lines if line.get_color() == "0.75"]
    (dots,) = [line for line in ax.lines if line.get_label() == "mean over bases"]
    (fitted,) = [line for line in ax.lines if line.get_label() == "mixed model"]
    drawing = svg_drawing(fig, {"dots": dots, "fit": fitted, **{f"base{b}": line for b, line in enumerate(grey)}})
    values = np.array([-2.0, 0.0, 2.0])
    means = np.array([y[x == v].mean() for v in values])  # over every row at that value
    np.testing.assert_allclose(drawing["dots"]["markers"], to_svg(ax, values, means), atol=0.01)
    for b in range(3):
        per_base = [y[(x == v) & (base == b)].mean() for v in values]
        assert_line_drawn(drawing[f"base{b}"], ax, values, per_base)
    assert_line_drawn(drawing["fit"], ax, [-2.0, 2.0], [101 - 6.0, 101 + 6.0])
    fresh = plots.sweep_slopes_figure([panel])
    assert_files(plots.plot_sweep_slopes([panel], tmp_path / "slopes"), "slopes", fresh, fresh.axes[0],
                 np.linspace(-2, 2, 50), 101 + 3 * np.linspace(-2, 2, 50), "#d62728")


def test_feature_maps_coloured_by_cluster(tmp_path):
    rng = np.random.default_rng(1)
    profiles = rng.random((9, 64))
    labels = np.array([0, 1, 1, 0, 1, 1, 1, 0, 1])
    fig = plots.feature_maps_figure(profiles, labels, duration=1.024)
    ax_all, ax_mean = fig.axes
    colours = [line.get_color() for line in ax_all.lines]
    assert len(colours) == 9 and len(set(colours)) == 2
    assert [colours.count(c) for c in dict.fromkeys(colours)] == [3, 6]
    drawing = svg_drawing(fig, {**{f"map{k}": line for k, line in enumerate(ax_all.lines)},
                                **{f"mean{k}": line for k, line in enumerate(ax_mean.lines)}})
    t = (np.arange(64) + 0.5) * 1.024 / 64  # each profile sample at its centre in time
    # drawn cluster by cluster, in order of first appearance: maps 0, 3, 7 then the others
    order = [0, 3, 7, 1, 2, 4, 5, 6, 8]
    for k, row in enumerate(order):
        assert_line_drawn(drawing[f"map{k}"], ax_all, t, profiles[row])
    assert_line_drawn(drawing["mean0"], ax_mean, t, profiles[[0, 3, 7]].sum(0) / 3)
    assert_line_drawn(drawing["mean1"], ax_mean, t, profiles[[1, 2, 4, 5, 6, 8]].sum(0) / 6)
    fresh = plots.feature_maps_figure(profiles, labels, duration=1.024)
    assert_files(plots.plot_feature_maps(profiles, labels, tmp_path / "maps", duration=1.024), "maps", fresh,
                 fresh.axes[1], t, profiles[[1, 2, 4, 5, 6, 8]].sum(0) / 6, "#1f77b4")


def test_training_preview_draws_each_waveform(tmp_path):
    sr, n = 16000, 4000
    t = np.arange(n) / sr
    waves = np.stack([0.5 * np.sin(2 * np.pi * 200 * t), -0.3 + 0.6 * t / t[-1]])
    fig = plots.preview_figure(waves, ["a", "b"], sr, title="step 1")
    axes = np.array(fig.axes).reshape(2, 2)
    drawing = svg_drawing(fig, {"a": axes[0, 0].lines[0], "b": axes[0, 1].lines[0]})
    for name, ax, wave in (("a", axes[0, 0], waves[0]), ("b", axes[0, 1], waves[1])):
        assert_line_drawn(drawing[name], ax, t, wave)
    assert [len(ax.collections) for ax in axes[1]] == [1, 1]  # a spectrogram under each waveform
    path = plots.plot_preview(waves, ["a", "b"], sr, tmp_path / "preview.png", title="step 1")
    image = png_pixels(path)
    fresh = np.array(plots.preview_figure(waves, ["a", "b"], sr, title="step 1").axes).reshape(2, 2)
    assert image.shape[:2] == (int(4.2 * 80), int(5.8 * 80))
    # the ramp in the PNG (80 dpi): a 0.4 pt black line, mid-grey once antialiased over half a pixel
    near = line_near(image, to_pixels(fresh[0, 1], t[::40], waves[1][::40], 80), "k", reach=1, tol=1.2)
    assert near.mean() > 0.95


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
    # a sample the manifest does not hold is named as such (it had been 'no such WAV file'), nothing drawn
    assert main(["plot", str(folder), "--sample", "b099_v000", "--formats", "svg"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganphon: error: --sample: ") and "has no sample 'b099_v000' in its manifest (" in err
    assert "\n" not in err and not list((folder / "figures").glob("*.svg"))


def test_plot_reads_a_folder_and_stats_from_elsewhere_and_draws_into_out(folder, tmp_path, capsys):
    """``plot DIR --stats S --out F``: DIR is only read (byte for byte as it was), the effects figure is drawn from
    S's table, the figures go into F; the statistics of another export, a folder without stats.json and an --out
    holding other files are refused in one line before anything is drawn."""
    import json

    from ganphon import io, layout

    folder = Path(shutil.copytree(folder, tmp_path / "copy", ignore=shutil.ignore_patterns("figures", "stats")))
    io.write_run_record(folder, {"request": {"kind": "sweep", "var": "z11", "bases": 2}})
    effects = pd.DataFrame({"outcome": ["f0", "f0"], "layer": ["conv4", "output"], "label": ["", ""],
                            "beta": [0.4, 1.2], "ci_low": [0.1, 0.9], "ci_high": [0.7, 1.5], "p": [0.02, 0.001]})
    stats_dir = tmp_path / "my_stats"
    stats_dir.mkdir()
    effects.to_csv(stats_dir / "effects.csv", index=False)
    io.write_run_record(stats_dir / layout.STATS_JSON, io.run_record(
        "stats", inputs={"export": io.measured_inputs(folder, False)["export"]}))
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    out = tmp_path / "figs"
    assert main(["plot", str(folder), "--stats", str(stats_dir), "--out", str(out), "--formats", "png"]) == 0
    printed = capsys.readouterr().out
    assert f"no {stats_dir / 'correlations.csv'}: no correlations figure" in printed and f"to {out}/" in printed
    assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert not (folder / "figures").exists()
    assert sorted(p.name for p in out.iterdir()) == ["effects.png", "layer_stack_b000_v000.png",
                                                     "sweep_grid_base0.png"]
    # the table of --stats, as plot reads it back
    reference = plots.plot_effects(io.read_table(stats_dir / "effects.csv"), tmp_path / "reference",
                                   formats=["png"])[0]
    np.testing.assert_array_equal(png_pixels(out / "effects.png"), png_pixels(reference))
    # a folder of figures only is one plot wrote: drawn again
    assert main(["plot", str(folder), "--stats", str(stats_dir), "--out", str(out), "--formats", "png"]) == 0
    capsys.readouterr()
    refused = []
    other = json.loads((stats_dir / layout.STATS_JSON).read_text())
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / layout.STATS_JSON).write_text(json.dumps({**other, "inputs": {"export": "0" * 16}}))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    for argv, message in (
            (["--stats", str(tmp_path / "other")], "holds the statistics of another folder than"),
            (["--stats", str(folder)], f"holds no {layout.STATS_JSON}"),
            (["--stats", str(stats_dir), "--out", str(tmp_path / "mine")], "holds files 'ganphon plot' does not "
                                                                            "write (notes.txt)"),
            (["--out", str(stats_dir / "effects.csv")], "exists and is not a folder")):
        assert main(["plot", str(folder), "--formats", "png", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        refused.append(argv[0])
        assert len(err) == 1 and err[0].startswith("ganphon: error: --") and message in err[0], err
    assert refused == ["--stats", "--stats", "--stats", "--out"]
    assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
    # a table found damaged after two figures were drawn: one line naming it, and no folder left behind
    (stats_dir / "effects.csv").write_text("a,b\n1,2\n")
    assert main(["plot", str(folder), "--stats", str(stats_dir), "--out", str(tmp_path / "new" / "figs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"ganphon: error: {stats_dir / 'effects.csv'}: ") and \
        f"'ganphon stats {folder} --out {stats_dir}' writes it again" in err[0], err
    assert not (tmp_path / "new").exists()


def test_plot_draws_the_first_sample_and_base_whose_files_are_kept(folder, tmp_path, capsys):
    """A folder keeping the files of some samples only (a demo's random probe keeps one): the layer stack is drawn
    for the first sample whose output WAV is there and the sweep grid for the first base keeping all its samples,
    not refused on the first sample's missing WAV; a folder keeping none draws nothing and says why in one line."""
    folder = Path(shutil.copytree(folder, tmp_path / "copy", ignore=shutil.ignore_patterns("figures", "stats")))
    for path in folder.glob("b000_v00[01]*"):
        path.unlink()
    assert main(["plot", str(folder), "--formats", "png"]) == 0
    assert "sweep grid" not in capsys.readouterr().out  # drawn: no note about it
    assert sorted(p.name for p in (folder / "figures").glob("layer_stack_*")) == ["layer_stack_b000_v002.png"]
    assert sorted(p.name for p in (folder / "figures").glob("sweep_grid_*")) == ["sweep_grid_base1.png"]
    shutil.rmtree(folder / "figures")
    for path in folder.glob("*_output.wav"):
        path.unlink()
    before = tree(folder)
    assert main(["plot", str(folder), "--formats", "png", "--out", str(tmp_path / "figs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ganphon: error: {folder}: nothing to draw: {folder} keeps the output WAV of none of its 6 "
                   f"samples: no layer stack or sweep grid; no {folder / 'stats' / 'effects.csv'}: no "
                   f"effects figure; no {folder / 'stats' / 'correlations.csv'}: no correlations figure"], err
    assert tree(folder) == before and not (tmp_path / "figs").exists()
    assert main(["plot", str(folder), "--formats", "png", "--base", "1"]) == 2  # a base asked for: its WAV named
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "b001_v000_output.wav: no such WAV file" in err[0], err
    assert tree(folder) == before


def test_plot_stats_end_to_end(tmp_path):
    """Effects computed by ganphon.stats draw into a figure with one point per layer."""
    rng = np.random.default_rng(3)
    rows = []
    for b in range(4):
        for v in VALUES:
            for k, layer in enumerate(["dense", "conv1", "output"]):
                rows.append({"layer": layer, "base": b, "value": v, "f0": 100 + k * 0.5 * v + rng.normal()})
    effects = stats.effect_by_layer(pd.DataFrame(rows), "f0")
    assert list(effects["layer"]) == ["dense", "conv1", "output"]
    fig = plots.effects_figure(effects)
    ax = fig.axes[0]
    drawing = svg_drawing(fig, {"points": ax.containers[0].lines[0]})
    np.testing.assert_allclose(drawing["points"]["markers"], to_svg(ax, [0, 1, 2], effects["beta"]), atol=0.01)
    assert_files(plots.plot_effects(effects, tmp_path / "fx"), "fx")
