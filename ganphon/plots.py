"""Figures: the layer stack, the sweep grid, effects, correlations and feature maps.

Every ``plot_*`` function draws with Matplotlib's Agg canvas (no pyplot, no
global backend switch), writes a PNG and a PDF atomically and returns their
paths; the matching ``*_figure`` function returns the
:class:`matplotlib.figure.Figure` itself, for notebooks and further styling.

* :func:`plot_layer_stack` — waveform, spectrogram and every layer's
  upsampled average of one sample on a shared time axis, with the annotation
  drawn as labelled spans (the paper's Figs 4–5).
* :func:`plot_sweep_grid` — sweep values × layers, each cell a layer average
  (the paper's Fig 9).
* :func:`plot_effects` — standardised value effects with CIs per layer.
* :func:`plot_correlations` — the layer-vs-output correlation table.
* :func:`plot_feature_maps` — activation profiles coloured by cluster.
* :func:`plot_atlas` — the latent atlas: standardised effects, variables × outcomes, one panel per layer.
* :func:`plot_folder` — whatever a folder supports, into ``DIR/figures/``.
* :func:`plot_preview` — the training preview: waveforms above spectrograms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import io, layout
from .errors import GanphonError, ParameterError, first_line

FORMATS = ("png", "pdf")
#: Panels per row of the effects figure.
EFFECTS_COLUMNS = 4
FIGURES_DIR = layout.FIGURES_DIR
# Span colours of the automatic annotation's labels; other labels cycle through PALETTE.
LABEL_COLOURS = {"sil": "#e6e6e6", "fric": "#f6c28b", "voi": "#9ecae1"}
PALETTE = ("#c7e9c0", "#dadaeb", "#fdd0a2", "#fcbba1", "#d9d9d9", "#c6dbef")
CLUSTER_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f")


# --------------------------------------------------------------------------
# Figures and files


def new_figure(width: float, height: float):
    """A Matplotlib figure on an Agg canvas (pyplot's global state untouched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, out, formats=FORMATS, dpi: int = 150) -> list:
    """Write ``fig`` as ``out.png`` and ``out.pdf`` (each atomically).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    out : path-like
        Target path; its suffix, if any, is replaced by each format's.
    formats : sequence of str
    dpi : int
        Resolution of raster formats.

    Returns
    -------
    list of pathlib.Path
    """
    out = Path(out)
    if out.suffix.lower() in {f".{f}" for f in formats}:
        out = out.with_suffix("")
    layout.make_folder(out.parent)  # a failed command removes the folders it made
    paths = []
    for fmt in formats:
        path = out.with_name(f"{out.name}.{fmt}")
        with layout.atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi)
        paths.append(path)
    return paths


def _default_out(name: str) -> Path:
    return Path.cwd() / FIGURES_DIR / name


def read_wav(path) -> tuple:
    """Read a WAV as float32 (PCM scaled to ±1, channels averaged); returns ``(x, sr)``."""
    return io.read_wav(path, mono=True)


def _manifest(folder: Path):
    path = folder / layout.MANIFEST
    if not path.is_file():
        return None
    return io.read_manifest(folder)


def _sample_layers(folder: Path, sample_id: str, manifest) -> list:
    """Layers (not the output) with a WAV or native Sound for one sample, in network order."""
    from .layout import sort_layers

    if manifest is not None and "layer" in manifest.columns:
        names = manifest.loc[manifest["sample_id"].astype(str) == sample_id, "layer"]
    else:
        parsed = [layout.parse_sample_file(p.name) for p in (*folder.glob(f"{sample_id}_*.wav"),
                                                             *folder.glob(f"{sample_id}_*.Sound"))]
        names = [layer for sid, layer in filter(None, parsed) if sid == sample_id]
    return [n for n in sort_layers(names) if n != layout.OUTPUT_LAYER]


def sample_annotation(folder: Path, sample_id: str, tier: str | None):
    """(tier name, [(start, end, label)]) of the sample's TextGrid; tier ``auto`` if present."""
    path = folder / layout.textgrid(sample_id)
    if not path.is_file():
        return None, []
    grid = io.read_textgrid(path)
    names = [t.name for t in grid.tiers]
    if tier is None:
        tier = "auto" if "auto" in names else ("condition" if "condition" in names else None)
        if tier is None:
            return None, []
    elif tier not in names:
        raise GanphonError(f"{path}: no tier '{tier}' (tiers: {', '.join(names)})")
    intervals = [(iv.start_time, iv.end_time, iv.text.strip())
                 for iv in grid.get_tier_by_name(tier).intervals]
    return tier, [iv for iv in intervals if iv[2]]


def _label_colour(label: str, others: dict) -> str:
    if label in LABEL_COLOURS:
        return LABEL_COLOURS[label]
    if label not in others:
        others[label] = PALETTE[len(others) % len(PALETTE)]
    return others[label]


#: Dynamic range of the drawn spectrograms (dB below the loudest cell).
SPECTROGRAM_RANGE_DB = 70.0


def spectrogram_power(x: np.ndarray, sr: int) -> tuple:
    """The broadband display spectrogram: 5 ms Hann windows, hop a quarter window.

    Returns ``(f, t, power)`` as :func:`scipy.signal.spectrogram` (power [f, t]);
    the layer stack and the explorer page draw it ``SPECTROGRAM_RANGE_DB`` deep.
    """
    from scipy.signal import spectrogram

    # 5 ms windows: the broadband view that shows formants and frication
    nper = max(16, int(round(0.005 * sr)))
    return spectrogram(x, fs=sr, nperseg=nper, noverlap=nper - max(1, nper // 4), window="hann")


def _spectrogram(ax, x: np.ndarray, sr: int) -> None:
    f, t, sxx = spectrogram_power(x, sr)
    db = 10 * np.log10(sxx + 1e-20)
    top = float(db.max()) if np.isfinite(db).any() else 0.0
    ax.pcolormesh(t, f / 1000.0, db, vmin=top - SPECTROGRAM_RANGE_DB, vmax=top, cmap="Greys", shading="auto",
                  rasterized=True)
    ax.set_ylabel("kHz", rotation=0, ha="right", va="center", fontsize=8)


# --------------------------------------------------------------------------
# (1) the layer stack


def layer_stack_figure(folder, sample_id: str, layers=None, tier: str | None = None):
    """The figure of :func:`plot_layer_stack` (axes: waveform, spectrogram, one per layer)."""
    folder = Path(folder)
    manifest = _manifest(folder)
    if manifest is not None and "sample_id" in manifest.columns:
        known = manifest["sample_id"].astype(str).drop_duplicates()
        if sample_id not in set(known):
            raise ParameterError("sample", f"{folder} has no sample {sample_id!r} in its manifest "
                                           f"({len(known)} samples: {known.iloc[0]} … {known.iloc[-1]})")
    x, sr = read_wav(folder / layout.layer_wav(sample_id, layout.OUTPUT_LAYER))
    layers = list(layers) if layers else _sample_layers(folder, sample_id, manifest)
    series = {}
    for layer in layers:
        y, layer_sr = io.read_layer_wav(folder / layout.layer_wav(sample_id, layer))
        if layer_sr != sr or len(y) != len(x):
            raise GanphonError(f"{folder / layout.layer_wav(sample_id, layer)}: {len(y)} samples at "
                               f"{layer_sr} Hz, but the output has {len(x)} at {sr} Hz")
        series[layer] = y
    tier_name, intervals = sample_annotation(folder, sample_id, tier)
    t = np.arange(len(x)) / sr
    n = 2 + len(layers)
    fig = new_figure(7.5, 1.2 + 0.85 * n)
    axes = fig.subplots(n, 1, sharex=True, gridspec_kw={"height_ratios": [1.0, 1.4] + [0.8] * len(layers)})
    axes = np.atleast_1d(axes)
    axes[0].plot(t, x, lw=0.4, color="k")
    axes[0].set_ylabel("output", rotation=0, ha="right", va="center", fontsize=8)
    _spectrogram(axes[1], x, sr)
    for ax, layer in zip(axes[2:], layers):
        y = series[layer]
        ax.plot(t, y, lw=0.8, color="#08519c")
        if np.nanmin(y) >= 0:
            ax.set_ylim(0, max(float(np.nanmax(y)) * 1.05, 1e-12))
        ax.set_ylabel(layer, rotation=0, ha="right", va="center", fontsize=8)
    others = {}
    for start, end, label in intervals:
        colour = _label_colour(label, others)
        for k, ax in enumerate(axes):
            if k == 1:  # spans would hide the spectrogram; boundaries are enough there
                ax.axvline(start, color="#d62728", lw=0.6)
                ax.axvline(end, color="#d62728", lw=0.6)
            else:
                ax.axvspan(start, end, color=colour, alpha=0.45, lw=0, zorder=0)
        axes[0].text((start + end) / 2, 1.02, label, transform=axes[0].get_xaxis_transform(),
                     ha="center", va="bottom", fontsize=7)
    for ax in axes:
        ax.tick_params(labelsize=7)
        ax.set_xlim(0, len(x) / sr)
    axes[-1].set_xlabel("time (s)", fontsize=8)
    title = sample_id + (f" · tier '{tier_name}'" if tier_name else "")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_layer_stack(folder, sample_id: str, out=None, layers=None, tier: str | None = None,
                     formats=FORMATS) -> list:
    """Waveform, spectrogram and every layer's average of one sample, with its annotation.

    Parameters
    ----------
    folder : path-like
        Exported folder (``ID_output.wav``, ``ID_<layer>.wav``, ``ID.TextGrid``).
    sample_id : str
    out : path-like, optional
        Target without suffix (default ``DIR/figures/layer_stack_<ID>``).
    layers : sequence of str, optional
        Layers to draw (default: all of the sample's, in network order).
    tier : str, optional
        Annotation tier (default ``auto`` if present, else ``condition``).
    formats : sequence of str

    Returns
    -------
    list of pathlib.Path
        The PNG and PDF written.
    """
    fig = layer_stack_figure(folder, sample_id, layers, tier)
    out = out or Path(folder) / FIGURES_DIR / layout.figure_layer_stack(sample_id)
    return save_figure(fig, out, formats)


# --------------------------------------------------------------------------
# (2) the sweep grid


def _sweep_rows(folder: Path, base):
    manifest = _manifest(folder)
    if manifest is None:
        raise GanphonError(f"{folder / layout.MANIFEST}: no manifest; a sweep grid needs a 'ganphon sweep' folder")
    missing = [c for c in ("var", "value", "base", "sample_id", "layer") if c not in manifest.columns]
    if missing or manifest["value"].isna().all():
        raise GanphonError(f"{folder / layout.MANIFEST}: no sweep columns (var, value, base); "
                           "a sweep grid needs a 'ganphon sweep' folder")
    manifest = manifest[manifest["value"].notna()]
    bases = sorted(manifest["base"].unique())
    if base is None:  # the first base whose samples all keep their files (a demo keeps only some), else the first
        base = next(iter(_whole_bases(folder, manifest)), bases[0])
    rows = manifest[manifest["base"].astype(str) == str(base)]
    if rows.empty:
        raise GanphonError(f"{folder / layout.MANIFEST}: no base {base!r} (bases: "
                           f"{', '.join(str(b) for b in bases[:10])}{' …' if len(bases) > 10 else ''})")
    return rows, base


def _whole_bases(folder: Path, manifest: pd.DataFrame, kept=None) -> list:
    """The bases of a sweep's ``manifest`` (sorted) whose samples all keep their output WAV in ``folder``
    (``kept``: the samples that do, when already known)."""
    if kept is None:
        kept = {sid for sid, there in io.output_files(folder, manifest) if there}
    swept = manifest[manifest["value"].notna()].drop_duplicates("sample_id")
    whole = swept.groupby("base")["sample_id"].agg(lambda ids: all(str(i) in kept for i in ids))
    return sorted(whole.index[whole.to_numpy(bool)])


def sweep_grid_figure(folder, base=None, layers=None):
    """The figure of :func:`plot_sweep_grid` (rows: sweep values, columns: layers)."""
    from .layout import sort_layers

    folder = Path(folder)
    rows, base = _sweep_rows(folder, base)
    layers = list(layers) if layers else sort_layers(rows["layer"].unique())
    samples = (rows.drop_duplicates("sample_id").sort_values("value", kind="stable")[["sample_id", "value", "var"]])
    n_rows, n_cols = len(samples), len(layers)
    fig = new_figure(1.6 * n_cols + 1.0, 0.55 * n_rows + 1.0)
    axes = fig.subplots(n_rows, n_cols, sharex=True, sharey="col", squeeze=False)
    for i, (sid, value, var) in enumerate(samples.itertuples(index=False)):
        for j, layer in enumerate(layers):
            y, sr = io.read_layer_wav(folder / layout.layer_wav(sid, layer))
            ax = axes[i, j]
            ax.plot(np.arange(len(y)) / sr, y, lw=0.5 if layer == layout.OUTPUT_LAYER else 0.8,
                    color="k" if layer == layout.OUTPUT_LAYER else "#08519c")
            ax.tick_params(labelsize=5, length=2)
            if i == 0:
                ax.set_title(layer, fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{var}={value:g}", rotation=0, ha="right", va="center", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("s", fontsize=7)
    fig.suptitle(f"{samples['var'].iloc[0]} sweep · base {base}", fontsize=9)
    fig.tight_layout(h_pad=0.1, w_pad=0.3)
    return fig


def plot_sweep_grid(folder, base=None, out=None, layers=None, formats=FORMATS, figures=None) -> list:
    """Sweep values × layers, each cell the layer average of one sample (the paper's Fig 9).

    Parameters
    ----------
    folder : path-like
        A ``ganphon sweep`` folder (manifest columns var, value, base).
    base : optional
        Base latent to draw (default: the first).
    out : path-like, optional
        Target without suffix (default ``DIR/figures/sweep_grid_base<base>``).
    layers : sequence of str, optional
        Columns (default: every layer of the manifest, output last).
    formats : sequence of str
    figures : path-like, optional
        Folder of the default target (default ``DIR/figures``).

    Returns
    -------
    list of pathlib.Path
    """
    folder = Path(folder)
    _, chosen = _sweep_rows(folder, base)
    fig = sweep_grid_figure(folder, chosen, layers)
    out = out or Path(figures or folder / FIGURES_DIR) / layout.figure_sweep_grid(chosen)
    return save_figure(fig, out, formats)


# --------------------------------------------------------------------------
# (3) effects, (4) correlations


def effects_figure(effects: pd.DataFrame, alpha: float = 0.05):
    """The figure of :func:`plot_effects` (one panel per outcome)."""
    from .layout import sort_layers
    from .stats import first_layer

    needed = [c for c in ("outcome", "layer", "beta", "ci_low", "ci_high") if c not in effects.columns]
    if needed:
        raise GanphonError(f"effects table lacks column(s) {', '.join(needed)}")
    if effects.empty:
        raise GanphonError("effects table is empty")
    # one panel per outcome (and per interval label, when the table has effects per label)
    panel = effects["outcome"].astype(str)
    if "label" in effects.columns and effects["label"].notna().any():
        panel = panel + " · " + effects["label"].fillna("all").astype(str)
    outcomes = list(dict.fromkeys(panel))
    every = sort_layers(effects["layer"].unique())
    # small multiples on a grid: at most EFFECTS_COLUMNS panels a row, so the figure stays readable at
    # a page's width (8 panels: 4 × 2, 9.2 × 4.9 in, 1380 × 735 px at 150 dpi)
    ncols = min(EFFECTS_COLUMNS, len(outcomes))
    nrows = -(-len(outcomes) // ncols)
    fig = new_figure(max(3.0, 2.3 * ncols), 0.4 + 2.25 * nrows)
    grid = fig.subplots(nrows, ncols, squeeze=False)
    axes = grid.ravel()
    for ax in axes[len(outcomes):]:
        ax.set_visible(False)
    for ax, outcome in zip(axes, outcomes):
        part = effects[panel == outcome]
        order = sort_layers(part["layer"])
        part = part.set_index("layer").loc[order]
        x = np.array([every.index(layer) for layer in order])  # one layer axis for all panels
        beta = part["beta"].to_numpy(float)
        err = np.vstack([beta - part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float) - beta])
        ax.errorbar(x, beta, yerr=err, fmt="o", color="#08519c", ms=4, capsize=3, lw=1)
        first = first_layer(part.reset_index(), alpha=alpha) if "se" in part.columns else None
        if first is not None:
            k = order.index(first)
            ax.plot([x[k]], [beta[k]], "o", ms=9, mfc="none", mec="#d62728", mew=1.5,
                    label=f"first layer: {first}")
        ax.axhline(0.0, color="0.4", lw=0.8, ls="--")
        ax.set_xticks(np.arange(len(every)))
        ax.set_xticklabels(every, rotation=45, ha="right", fontsize=7)
        ax.set_xlim(-0.5, len(every) - 0.5)
        ax.set_title(outcome, fontsize=9)
        ax.tick_params(labelsize=7)
    for row in grid:
        row[0].set_ylabel("standardised slope\n(95 % CI)", fontsize=8)
    fig.tight_layout()
    return fig


def plot_effects(effects: pd.DataFrame, out=None, formats=FORMATS) -> list:
    """Standardised slopes of the value effect with 95 % CIs per layer, one panel per outcome.

    The first layer whose interval excludes 0 is circled.

    Parameters
    ----------
    effects : pandas.DataFrame
        From :func:`ganphon.stats.effect_by_layer` (or ``stats/effects.csv``).
    out : path-like, optional
        Target without suffix (default ``figures/<name>`` in the working folder).
    formats : sequence of str

    Returns
    -------
    list of pathlib.Path
    """
    return save_figure(effects_figure(effects), out or _default_out("effects"), formats)


#: The atlas heatmap shows at most this many variables (the top-ranked), so that rows stay readable.
ATLAS_MAX_VARIABLES = 30


def atlas_figure(effects: pd.DataFrame, alpha: float = 0.05, max_variables: int = ATLAS_MAX_VARIABLES):
    """The figure of :func:`plot_atlas`."""
    needed = [c for c in ("var", "outcome", "layer", "effect_std", "passes") if c not in effects.columns]
    if needed:
        raise GanphonError(f"atlas table lacks column(s) {', '.join(needed)}")
    if effects.empty:
        raise GanphonError("atlas table is empty")
    size = effects.assign(_a=effects["effect_std"].abs()).groupby("var")["_a"].max().fillna(0.0)
    passing = effects[effects["passes"]].groupby("var").size().reindex(size.index).fillna(0)
    order = sorted(size.index, key=lambda v: (-passing[v], -size[v], str(v)))
    shown = order[:max_variables]
    outcomes = sorted(dict.fromkeys(effects["outcome"].astype(str)))
    layers = layout.sort_layers(effects["layer"])
    limit = float(np.nanmax(np.abs(effects["effect_std"].to_numpy(float)))) if effects["effect_std"].notna().any() else 1.0
    limit = max(limit, 0.1)
    fig = new_figure(max(4.0, 1.6 + 0.3 * len(outcomes) * len(layers)), 2.8 + 0.16 * len(shown))
    fig.set_layout_engine("constrained")
    axes = np.atleast_1d(fig.subplots(1, len(layers), squeeze=False, sharey=True)[0])
    image = None
    for ax, layer in zip(axes, layers):
        part = effects[effects["layer"] == layer]
        grid = part.pivot_table(index="var", columns="outcome", values="effect_std", aggfunc="first")
        grid = grid.reindex(index=shown, columns=outcomes)
        hits = part.pivot_table(index="var", columns="outcome", values="passes", aggfunc="first")
        hits = hits.reindex(index=shown, columns=outcomes).fillna(0).astype(bool)  # a missing cell: not passing
        image = ax.imshow(grid.to_numpy(float), aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                          interpolation="nearest")
        ys, xs = np.nonzero(hits.to_numpy())
        ax.plot(xs, ys, "k.", ms=3)
        ax.set_xticks(range(len(outcomes)))
        ax.set_xticklabels(outcomes, rotation=60, ha="right", fontsize=6)
        ax.set_title(layer, fontsize=8)
    axes[0].set_yticks(range(len(shown)))
    axes[0].set_yticklabels(shown, fontsize=6)
    what = f"top {len(shown)} of {len(order)} variables" if len(order) > len(shown) else f"{len(order)} variables"
    adjust = str(effects["adjust"].iloc[0]) if "adjust" in effects.columns else "holm"
    name = {"holm": "Holm", "bh": "BH"}.get(adjust, adjust)
    fig.suptitle(f"latent atlas: standardised effect\n({what}; dot: {name}-adjusted p < {alpha:g})", fontsize=8)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="standardised effect")
    return fig


def plot_atlas(effects: pd.DataFrame, out=None, alpha: float = 0.05, formats=FORMATS,
               max_variables: int = ATLAS_MAX_VARIABLES) -> list:
    """The atlas heatmap: variables × outcomes, one panel per layer, colour = standardised effect.

    Variables are ordered by their number of passing effects, then their
    largest |standardised effect|; a dot marks an effect passing the adjusted
    threshold.

    Parameters
    ----------
    effects : pandas.DataFrame
        From :func:`ganphon.atlas.atlas_effects` (or ``atlas.csv``).
    out : path-like, optional
    alpha : float
    formats : sequence of str
    max_variables : int
        Rows drawn (the top-ranked variables).

    Returns
    -------
    list of pathlib.Path
    """
    return save_figure(atlas_figure(effects, alpha, max_variables), out or _default_out(layout.FIGURE_ATLAS), formats)


def sweep_slopes_figure(panels):
    """The figure of :func:`plot_sweep_slopes` (one panel per sweep, side by side)."""
    if not panels:
        raise GanphonError("no sweep to draw")
    fig = new_figure(max(4.2, 4.2 * len(panels)), 2.4)
    axes = np.atleast_1d(fig.subplots(1, len(panels), squeeze=False)[0])
    for ax, p in zip(axes, panels):
        data = pd.DataFrame({"x": np.asarray(p["x"], float), "y": np.asarray(p["y"], float),
                             "base": np.asarray(p["base"])}).dropna()
        cell = data.groupby(["base", "x"])["y"].mean().reset_index()
        for _, part in cell.groupby("base"):
            ax.plot(part["x"], part["y"], color="0.75", lw=0.7, zorder=1)
        means = data.groupby("x")["y"].mean()
        ax.plot(means.index, means.to_numpy(), "o", color="black", ms=3.5, zorder=3, label="mean over bases")
        xs = np.array([data["x"].min(), data["x"].max()])
        if np.isfinite(p.get("slope", np.nan)) and np.isfinite(p.get("intercept", np.nan)):
            ax.plot(xs, p["intercept"] + p["slope"] * xs, color="#d62728", lw=1.8, zorder=2,
                    label=p.get("fit_label", "mixed model"))
        ax.set_title(p.get("title", ""), fontsize=9)
        ax.set_xlabel(p.get("xlabel", "value"), fontsize=8)
        ax.set_ylabel(p.get("ylabel", ""), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, frameon=False, loc="best")
    fig.tight_layout()
    return fig


def plot_sweep_slopes(panels, out=None, formats=FORMATS) -> list:
    """Each sweep's key outcome in raw units against the swept value, with its fitted slope.

    Parameters
    ----------
    panels : sequence of dict
        One per sweep: ``x`` (swept values), ``y`` (the outcome, raw units), ``base`` (base latent of
        each row), ``intercept`` and ``slope`` of the fitted line (the mixed model's fixed effects,
        in the units of ``y``), ``title``, ``xlabel``, ``ylabel``, ``fit_label``.  Grey lines are the
        base latents' means per value, dots the means over bases.
    out : path-like, optional
    formats : sequence of str

    Returns
    -------
    list of pathlib.Path
    """
    return save_figure(sweep_slopes_figure(panels), out or _default_out("sweep_slopes"), formats)


def correlations_figure(corr: pd.DataFrame):
    """The figure of :func:`plot_correlations` (a measures × layers heat map of r)."""
    from .layout import sort_layers

    needed = [c for c in ("measure", "layer", "r") if c not in corr.columns]
    if needed:
        raise GanphonError(f"correlation table lacks column(s) {', '.join(needed)}")
    if corr.empty:
        raise GanphonError("correlation table is empty")
    measures = list(dict.fromkeys(corr["measure"]))
    layers = sort_layers(corr["layer"])
    grid = corr.pivot_table(index="measure", columns="layer", values="r", aggfunc="first", dropna=False)
    grid = grid.reindex(index=measures, columns=layers).to_numpy(float)
    fig = new_figure(1.0 + 0.9 * len(layers), 0.9 + 0.5 * len(measures))
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for i in range(len(measures)):
        for j in range(len(layers)):
            r = grid[i, j]
            text = "–" if not np.isfinite(r) else f"{r:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if np.isfinite(r) and abs(r) > 0.6 else "black")
    ax.set_xticks(np.arange(len(layers)))
    ax.set_xticklabels(layers, fontsize=8)
    ax.set_yticks(np.arange(len(measures)))
    ax.set_yticklabels(measures, fontsize=8)
    ax.set_title("Pearson r with the output", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def plot_correlations(corr: pd.DataFrame, out=None, formats=FORMATS) -> list:
    """The correlation table as a heat map with r printed in each cell.

    Parameters
    ----------
    corr : pandas.DataFrame
        From :func:`ganphon.stats.correlation_table` (or ``stats/correlations.csv``).
    out : path-like, optional
        Target without suffix (default ``figures/<name>`` in the working folder).
    formats : sequence of str

    Returns
    -------
    list of pathlib.Path
    """
    return save_figure(correlations_figure(corr), out or _default_out("correlations"), formats)


# --------------------------------------------------------------------------
# (5) feature maps


def feature_maps_figure(profiles, labels, duration: float | None = None, title: str = ""):
    """The figure of :func:`plot_feature_maps` (all profiles; cluster means)."""
    profiles = np.asarray(profiles, dtype=np.float64)
    labels = np.asarray(labels)
    if profiles.ndim != 2 or len(labels) != len(profiles):
        raise GanphonError(f"profiles [{profiles.shape}] and labels [{len(labels)}] do not match")
    n = profiles.shape[1]
    x = (np.arange(n) + 0.5) * (duration / n) if duration else np.arange(n)
    fig = new_figure(9.0, 3.2)
    ax_all, ax_mean = fig.subplots(1, 2, sharex=True)
    clusters = list(dict.fromkeys(labels.tolist()))
    for c in clusters:
        colour = CLUSTER_COLOURS[clusters.index(c) % len(CLUSTER_COLOURS)]
        members = profiles[labels == c]
        for row in members:
            ax_all.plot(x, row, lw=0.5, color=colour, alpha=0.7)
        ax_mean.plot(x, members.mean(axis=0), lw=1.2, color=colour, label=f"cluster {c} ({len(members)} maps)")
    ax_all.set_title("activation profiles", fontsize=9)
    ax_mean.set_title("cluster means", fontsize=9)
    ax_mean.legend(fontsize=7, frameon=False)
    for ax in (ax_all, ax_mean):
        ax.set_xlabel("time (s)" if duration else "sample", fontsize=8)
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_feature_maps(profiles, labels, out=None, duration: float | None = None, title: str = "",
                      formats=FORMATS) -> list:
    """Activation profiles of one layer's feature maps, coloured by cluster.

    Parameters
    ----------
    profiles : array-like
        [C, n] from :func:`ganphon.stats.activation_profiles`.
    labels : array-like
        Cluster of each map (:func:`ganphon.stats.cluster_feature_maps`).
    out : path-like, optional
        Target without suffix (default ``figures/feature_maps`` in the working folder).
    duration : float, optional
        Slice duration (s) for a time axis; sample index otherwise.
    title : str
    formats : sequence of str

    Returns
    -------
    list of pathlib.Path
    """
    return save_figure(feature_maps_figure(profiles, labels, duration, title), out or _default_out("feature_maps"),
                       formats)


# --------------------------------------------------------------------------
# A folder


@layout.writes_into()  # another process writing the folder is refused
def plot_folder(folder, sample_id: str | None = None, base=None, formats=FORMATS, stats=None, out=None) -> tuple:
    """Draw every figure a folder supports into ``DIR/figures/`` (or ``out``).

    The layer stack of one sample (the first, unless named); the sweep grid
    when the manifest has sweep columns; effects and correlations when
    ``DIR/stats/`` (or ``stats``) has them (``ganphon stats``); the
    feature-map profiles of every ``featuremaps_<layer>.npy``.

    Parameters
    ----------
    folder : path-like
    sample_id : str, optional
    base : optional
        Base latent of the sweep grid.
    formats : sequence of str
    stats : path-like, optional
        A folder ``ganphon stats DIR --out`` wrote (its ``stats.json`` must
        name this folder's export); default ``DIR/stats``.
    out : path-like, optional
        Folder for the figures: new, empty, or one that holds only figures
        (an earlier ``plot --out``); default ``DIR/figures``.

    Returns
    -------
    paths : list of pathlib.Path
    notes : list of str
        What was not drawn, and why.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GanphonError(f"{folder}: no such folder")
    _check_formats(formats)
    stats_dir = folder / layout.STATS_DIR if stats is None else check_stats_folder(stats, folder)
    # DIR/figures as --out: figures only (with the atlas's heatmap), nothing of the user's or of another run
    out = check_figures_folder(folder / FIGURES_DIR, default=True) if out is None else check_figures_folder(out)
    manifest = _manifest(folder)
    paths, notes = [], []
    sweep = (manifest is not None and {"var", "value", "base"} <= set(manifest.columns)
             and manifest["value"].notna().any())
    if base is not None and not sweep:
        raise ParameterError("base", f"{folder} is not a sweep (no base and value columns in its manifest): "
                                     "there is no sweep grid to draw")
    present = [] if manifest is None else [sid for sid, there in io.output_files(folder, manifest) if there]
    kept = None if manifest is None else len(present)
    if sample_id is None and kept == 0:  # a folder keeping its tables only (the demo's atlas and intervention)
        n = manifest["sample_id"].nunique()
        notes.append((io.tables_only(folder) or f"{folder} keeps the output WAV of none of its {n:,} samples")
                     + ": no layer stack" + (" or sweep grid" if sweep and base is None else ""))
    else:
        if sample_id is None:
            sample_id = present[0] if present else _first_sample(folder, manifest)
        paths += plot_layer_stack(folder, sample_id, out / layout.figure_layer_stack(sample_id), formats=formats)
    whole = _whole_bases(folder, manifest, set(present)) if sweep and base is None else []
    if not sweep:
        notes.append("no sweep columns in the manifest: no sweep grid")
    elif base is None and not whole:
        if kept:
            notes.append(f"no base of {folder} keeps the files of all its samples: no sweep grid (--base draws one)")
    else:
        paths += plot_sweep_grid(folder, base=whole[0] if base is None else base, formats=formats, figures=out)
    # 'ganphon stats' is offered only where there is something to measure
    paths += _stats_figures(folder, stats_dir, stats is not None or kept == 0, out, formats, notes)
    paths += _feature_map_figures(folder, manifest, out, formats, notes)
    heatmap = folder / FIGURES_DIR / f"{layout.FIGURE_ATLAS}.png"
    if (folder / layout.ATLAS_CSV).is_file() and heatmap.is_file():
        notes.append(f"its atlas heatmap is {heatmap} ('ganphon atlas' draws it)")
    if not paths:  # nothing was drawn, so nothing was written
        raise GanphonError(f"{folder}: nothing to draw: {'; '.join(notes)}")
    return paths, notes


def check_stats_folder(stats, folder) -> Path:
    """``stats``, a folder ``ganphon stats`` wrote for ``folder``, checked before anything is drawn.

    Its ``stats.json`` must be a stats record; where it keeps the digest of the
    export it was fitted on and ``folder`` has a ``run.json``, the two must agree
    (the statistics of another sweep are not drawn as this one's).
    """
    stats, folder = Path(stats), Path(folder)
    if not stats.is_dir():
        raise ParameterError("stats", f"{stats}: no such folder")
    record_path = stats / layout.STATS_JSON
    if not record_path.is_file():
        raise ParameterError("stats", f"{stats} holds no {layout.STATS_JSON}: pass a folder 'ganphon stats "
                                      f"{folder} --out' wrote")
    record = io.read_record(record_path)
    if record["kind"] != "stats":
        raise GanphonError(f"{record_path}: is a {record['kind'] or 'foreign'} record, not a ganphon stats record")
    fitted = record["inputs"].get("export")
    if fitted and (folder / layout.RUN_JSON).is_file() and fitted != io.measured_inputs(folder, False)["export"]:
        raise ParameterError("stats", f"{stats} holds the statistics of another folder than {folder} (its "
                                      f"{layout.STATS_JSON} names another export); pass the stats of {folder}")
    return stats


def check_figures_folder(out, default: bool = False) -> Path:
    """``out``, a folder for figures: new, empty, or holding figures only (an earlier ``plot --out``, or
    ``DIR/figures`` with the atlas's heatmap; ``default``: it is ``DIR/figures``), so that drawing into it
    replaces nothing but figures."""
    return layout.check_output_folder(
        out, lambda p: (layout.is_figure(p.name) or Path(p.name).stem == layout.FIGURE_ATLAS) and p.is_file(), "plot",
        default=default)


def _check_formats(formats) -> None:
    from matplotlib.backend_bases import FigureCanvasBase

    supported = FigureCanvasBase.get_supported_filetypes()
    unknown = [f for f in formats if f.lower().lstrip(".") not in supported]
    if unknown:
        raise ParameterError("formats", f"{', '.join(map(repr, unknown))} not a figure format; "
                                        f"choose from {', '.join(sorted(supported))}")


def _first_sample(folder: Path, manifest) -> str:
    """The manifest's first sample whose output WAV is there (a demo keeps one sample of its random probe), else
    its first sample (its missing WAV is then named); or the first ``ID_output.wav`` of a folder without one."""
    if manifest is not None:
        kept = [sample_id for sample_id, present in io.output_files(folder, manifest) if present]
        return kept[0] if kept else str(manifest["sample_id"].iloc[0])
    outputs = sorted(sid for sid, layer in filter(None, map(layout.parse_sample_file,
                                                            (p.name for p in folder.glob("*.wav"))))
                     if layer == layout.OUTPUT_LAYER)
    if not outputs:
        raise GanphonError(f"{folder}: no ID_{layout.OUTPUT_LAYER}.wav files to plot")
    return outputs[0]


def _stats_figures(folder: Path, stats_dir: Path, chosen: bool, out: Path, formats, notes: list) -> list:
    """The effects and correlations figures of ``stats_dir`` (a note for each table missing, naming the
    command that writes it unless ``chosen``: a folder given with ``--stats``, or one keeping no files to
    measure)."""
    from .io import read_table

    paths = []
    for name, draw in ((layout.FIGURE_EFFECTS, plot_effects), (layout.FIGURE_CORRELATIONS, plot_correlations)):
        path = stats_dir / f"{name}.csv"
        shown = path if chosen else path.relative_to(folder)
        if not path.is_file():
            notes.append(f"no {shown}" + ("" if chosen else f" (run 'ganphon stats {folder}')") + f": no {name} figure")
            continue
        table = read_table(path, f"{name} table")
        if table.empty:
            notes.append(f"{shown} is empty: no {name} figure")
            continue
        again = f"'ganphon stats {folder}{f' --out {stats_dir}' if chosen else ''}' writes it again"
        try:
            paths += draw(table, out / name, formats=formats)
        except GanphonError as exc:  # the table's own check (a column missing): named with the file
            raise GanphonError(f"{path}: {exc}; {again}") from None
        except (KeyError, ValueError, TypeError, IndexError) as exc:  # a table edited or damaged by hand
            raise GanphonError(f"{path}: cannot be plotted ({type(exc).__name__}: {first_line(exc)}); is it "
                               f"damaged? {again}") from None
    return paths


def _feature_map_figures(folder: Path, manifest, out: Path, formats, notes: list) -> list:
    """The profiles of every ``featuremaps_<layer>.npy``, coloured by cluster."""
    from . import stats
    from .timebase import slice_duration

    paths = []
    maps = stats.read_feature_maps(folder)
    duration = None
    if manifest is not None and {"slice_len", "sr"} <= set(manifest.columns):
        duration = slice_duration(int(manifest["slice_len"].iloc[0]), int(manifest["sr"].iloc[0]))
    for layer, arr in maps.items():
        profiles = stats.activation_profiles(arr)
        try:
            labels = stats.cluster_feature_maps(profiles)
        except GanphonError as exc:
            notes.append(f"feature maps of {layer}: {exc}")
            continue
        paths += plot_feature_maps(profiles, labels, out / layout.figure_feature_maps(layer), duration=duration,
                                   title=f"{layer}: {len(profiles)} feature maps", formats=formats)
    return paths


# ---------------------------------------------------------------- training preview


def preview_figure(waves, labels, sr: int, title: str = ""):
    """The figure of a training preview: :func:`ganphon.train.preview.preview_figure`."""
    from .train.preview import preview_figure as figure

    return figure(waves, labels, sr, title)


def plot_preview(waves, labels, sr: int, path, title: str = "") -> Path:
    """One PNG of training previews: :func:`ganphon.train.preview.plot_preview` (drawn beside the trainer)."""
    from .train.preview import plot_preview as draw

    return draw(waves, labels, sr, path, title)
