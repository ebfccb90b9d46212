"""The training preview figure: waveforms and spectrograms of a few samples.

Kept apart from the trainer so it can join the plotting module later; it
only draws what it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .layout import atomic_path


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import spectrogram

    waves = np.atleast_2d(np.asarray(waves, dtype=np.float64))
    n, length = waves.shape
    t = np.arange(length) / sr
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n + 0.6, 4.2), squeeze=False, sharex=True)
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
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return path
