"""The trainer's previews: fixed latents (one per code), their WAVs and one PNG per preview step.

Drawn here rather than in :mod:`ganphon.plots`, so that the trainer imports nothing from the
plotting module above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..io import write_wav
from ..layout import PREVIEW_DIR, PREVIEW_PNG, atomic_path
from ..models.config import ModelConfig
from ..models.latent import Latent
from .state import _STREAM_PREVIEW, derive_seed


def preview_latents(config: ModelConfig, seed: int) -> tuple[torch.Tensor, list[str]]:
    """Fixed preview latents: one per ciwGAN category, up to 8 fiwGAN bit patterns, 4 WaveGAN draws.

    Every row shares one noise vector when there are codes, so the previews
    differ by code alone.
    """
    latent = Latent(config)
    pseed = derive_seed(seed, _STREAM_PREVIEW)
    if config.arch == "wavegan":
        return latent.sample(4, seed=pseed), [f"sample{i}" for i in range(1, 5)]
    base = latent.sample(1, seed=pseed)[0]
    rows, names = [], []
    if config.arch == "ciwgan":
        for i in range(1, config.n_codes + 1):
            rows.append(latent.build(code=i, base=base))
            names.append(f"code{i}")
    else:
        for i in range(min(2**config.n_codes, 8)):
            bits = [(i >> j) & 1 for j in range(config.n_codes)]
            rows.append(latent.build(code=[float(b) for b in bits], base=base))
            names.append("code_" + "".join(str(b) for b in bits))
    return torch.stack(rows), names


def write_preview(G: torch.nn.Module, config: ModelConfig, seed: int, step: int, run_dir: Path) -> Path:
    """Generate the preview samples and write their WAVs and ``preview.png``."""
    z, names = preview_latents(config, seed)
    was_training = G.training
    G.eval()
    try:
        with torch.no_grad():
            device = next(G.parameters()).device
            waves = G(z.to(device)).float().cpu().numpy()[:, 0]
    finally:
        G.train(was_training)
    folder = run_dir / PREVIEW_DIR / f"step{step:07d}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, w in zip(names, waves):
        write_wav(folder / f"{name}.wav", w, config.sr)
    return plot_preview(waves, names, config.sr, folder / PREVIEW_PNG, title=f"step {step}")


def plot_preview(waves: np.ndarray, labels: Sequence[str], sr: int, path, title: str = "") -> Path:
    """Save one PNG: a column per sample, its waveform above its spectrogram.

    Parameters
    ----------
    waves : numpy.ndarray
        Samples, shape [n, slice_len], values in [-1, 1].
    labels : sequence of str
        One caption per sample (e.g. its code).
    sr : int
        Sampling rate in Hz.
    path : path-like
        Target PNG; written atomically.
    title : str
        Figure title (e.g. the training step).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    fig = preview_figure(waves, labels, sr, title)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    return path


def preview_figure(waves: np.ndarray, labels: Sequence[str], sr: int, title: str = ""):
    """The figure of :func:`plot_preview` (axes: a row of waveforms above a row of spectrograms)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from scipy.signal import spectrogram

    waves = np.atleast_2d(np.asarray(waves, dtype=np.float64))
    n, length = waves.shape
    t = np.arange(length) / sr
    fig = Figure(figsize=(2.6 * n + 0.6, 4.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, n, squeeze=False, sharex=True)
    for i in range(n):
        ax_w, ax_s = axes[0, i], axes[1, i]
        ax_w.plot(t, waves[i], lw=0.4, color="k")
        ax_w.set_ylim(-1, 1)
        ax_w.set_title(labels[i] if i < len(labels) else "", fontsize=9)
        # 16 ms windows, 4 ms hop: the usual broadband view of speech.
        nper = max(16, int(round(0.016 * sr)))
        f, ts, sxx = spectrogram(waves[i], fs=sr, nperseg=nper, noverlap=nper - nper // 4)
        db = 10 * np.log10(sxx + 1e-12)
        top = db.max() if np.isfinite(db).any() else 0.0
        ax_s.pcolormesh(ts, f / 1000, db, vmin=top - 70, vmax=top, cmap="Greys", shading="auto",
                        rasterized=True)
        ax_s.set_xlabel("time (s)", fontsize=8)
        if i == 0:
            ax_w.set_ylabel("amplitude", fontsize=8)
            ax_s.set_ylabel("frequency (kHz)", fontsize=8)
        for ax in (ax_w, ax_s):
            ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
