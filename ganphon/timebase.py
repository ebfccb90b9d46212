"""The time-base contract every ganphon module shares.

A slice of ``slice_len`` output samples at rate ``sr`` spans
``T = slice_len / sr`` seconds (16384 / 16000 = 1.024 s).  A layer series with
``n`` samples has rate ``n / T`` and its sample ``k`` is centred at
``t_k = (k + 0.5) * T / n``.  Upsampling a layer series to the output length
is linear interpolation between sample centres with the edge values held,
which is exactly ``torch.nn.functional.interpolate(x, size=L, mode="linear",
align_corners=False)``.
"""

from __future__ import annotations

import numpy as np

DEFAULT_SR = 16000


def slice_duration(slice_len: int, sr: int = DEFAULT_SR) -> float:
    """Duration in seconds of a slice of ``slice_len`` samples at ``sr`` Hz."""
    return slice_len / float(sr)


def native_rate(n: int, slice_len: int, sr: int = DEFAULT_SR) -> float:
    """Sampling rate (Hz) of a layer series of ``n`` samples spanning one slice."""
    return n * float(sr) / slice_len


def sample_times(n: int, slice_len: int, sr: int = DEFAULT_SR) -> np.ndarray:
    """Centre times (s) of the ``n`` samples of a layer series."""
    T = slice_duration(slice_len, sr)
    return (np.arange(n) + 0.5) * (T / n)


def upsample(x, size: int):
    """Linearly interpolate the last axis of ``x`` to ``size`` samples.

    Interpolates between sample centres and holds the edge values, so a layer
    series lines up in time with the output.  Accepts a torch tensor or a
    numpy array with 1, 2 or 3 dimensions and returns the same kind.
    """
    import torch  # here, so the time base stays importable without torch
    import torch.nn.functional as F

    is_numpy = isinstance(x, np.ndarray)
    t = torch.from_numpy(np.ascontiguousarray(x)) if is_numpy else x
    if t.shape[-1] == size:
        out = t.clone()
    else:
        lead = t.shape[:-1]
        flat = t.reshape(1, -1, t.shape[-1])
        if not flat.is_floating_point():
            flat = flat.float()
        out = F.interpolate(flat, size=size, mode="linear", align_corners=False)
        out = out.reshape(*lead, size)
    return out.numpy() if is_numpy else out


def interpolate_at(x, centres, times) -> np.ndarray:
    """Values of a series whose samples are centred at ``centres`` (s), at ``times`` (s).

    Linear between sample centres, edge values held: :func:`upsample` for a
    series whose centres are not ``(k + 0.5) · T / n`` (an encoder's receptive
    field centres, :mod:`ganphon.models.encoders`).
    """
    return np.interp(np.asarray(times, dtype=np.float64), np.asarray(centres, dtype=np.float64),
                     np.asarray(x, dtype=np.float64))
