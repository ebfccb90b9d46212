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

import functools
import math

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
    numpy array with 1, 2 or 3 dimensions and returns the same kind.  A numpy
    array of float32 (or integers, computed in float32) is interpolated in
    numpy (:func:`_upsample_float32`, the same float32 samples as torch, without
    importing it); a float64 array and a tensor go through
    ``torch.nn.functional.interpolate``.
    """
    is_numpy = isinstance(x, np.ndarray)
    if is_numpy and x.dtype != np.float64 and (x.dtype == np.float32 or not np.issubdtype(x.dtype, np.floating)):
        return _upsample_float32(x.astype(np.float32, copy=False), size)
    import torch  # here, so the time base stays importable without torch
    import torch.nn.functional as F

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


def _upsample_float32(x: np.ndarray, size: int) -> np.ndarray:
    """:func:`upsample` of a float32 array, torch's float32 arithmetic step by step.

    ``torch.nn.functional.interpolate(mode="linear", align_corners=False)`` on
    the CPU computes, in float32, for output sample ``j`` of ``size`` from ``n``
    inputs: ``scale = n / size``, the source position ``u = max(scale · (j + ½)
    − ½, 0)`` (one fused multiply-add), ``i = min(floor(u), n − 1)``,
    ``λ1 = clamp(u − i, 0, 1)``, ``λ0 = 1 − λ1`` and ``y = x[i] · λ0 + x[i'] · λ1``
    (``i' = i + 1``, or ``i`` at the last sample; the first product fused with
    the sum, the second rounded), as its AVX2 / AVX-512 kernels do (those
    torch uses on any x86 CPU with AVX2; its plain-C kernel rounds each product,
    one float32 ulp apart at most).  Each fused multiply-add is computed exactly
    here (:func:`_fma32`).  Bit-identity with torch: tests/test_measure_workers.py.
    """
    n = x.shape[-1]
    if n == size:
        return x.copy()
    low, high, lambda0, lambda1 = _linear_weights(n, int(size))
    with np.errstate(invalid="ignore", over="ignore"):  # infinities and NaNs pass as in torch
        return _fma32(x[..., low], lambda0, x[..., high] * lambda1)


@functools.lru_cache(maxsize=64)
def _linear_weights(n: int, size: int) -> tuple:
    """The two source samples and their weights of each of ``size`` outputs from ``n`` (read-only)."""
    scale = np.float32(n) / np.float32(size)
    centres = np.arange(size, dtype=np.float32) + np.float32(0.5)
    u = np.maximum(_fma32(scale, centres, np.float32(-0.5)), np.float32(0))
    low = np.minimum(np.floor(u).astype(np.int64), n - 1)
    lambda1 = np.clip(u - low.astype(np.float32), np.float32(0), np.float32(1))
    lambda0 = np.float32(1) - lambda1
    high = np.where(low < n - 1, low + 1, low)
    for array in (low, high, lambda0, lambda1):
        array.flags.writeable = False
    return low, high, lambda0, lambda1


def _fma32(a, b, c) -> np.ndarray:
    """``a · b + c`` of float32 numbers rounded once to float32 (a fused multiply-add).

    The product is exact in float64 (24 + 24 bits) and the float64 sum then rounds
    to float32 as the exact value would, except where it landed exactly on a
    midpoint between two float32 numbers (or among float32's subnormals): there
    the sum's error is found exactly (Knuth's two-sum) and the sum rounded to odd,
    so the last rounding is the one of the exact value.
    """
    product = np.multiply(a, b, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    total = product + c
    careful = ((total.view(np.int64) & _BELOW_FLOAT32) == _FLOAT32_HALF) | (np.abs(total) < _FLOAT32_TINY)
    if careful.any():
        p, q, t = np.broadcast_to(product, total.shape)[careful], np.broadcast_to(c, total.shape)[careful], \
            total[careful]
        back = t - p
        error = (p - (t - back)) + (q - back)
        odd = (error != 0) & ((t.view(np.int64) & 1) == 0) & np.isfinite(t)
        t[odd] = np.nextafter(t[odd], np.copysign(np.inf, error[odd]))
        total[careful] = t
    return total.astype(np.float32)


#: The float64 bits below a float32's last bit, and their pattern on a midpoint between two float32 numbers.
_BELOW_FLOAT32, _FLOAT32_HALF = (1 << 29) - 1, 1 << 28
#: The smallest normal float32.
_FLOAT32_TINY = 2.0 ** -126


def interpolate_at(x, centres, times) -> np.ndarray:
    """Values of a series whose samples are centred at ``centres`` (s), at ``times`` (s).

    Linear between sample centres, edge values held: :func:`upsample` for a
    series whose centres are not ``(k + 0.5) · T / n`` (an encoder's receptive
    field centres, :mod:`ganphon.models.encoders`).
    """
    return np.interp(np.asarray(times, dtype=np.float64), np.asarray(centres, dtype=np.float64),
                     np.asarray(x, dtype=np.float64))


def ms(t: float) -> int:
    """Seconds as whole milliseconds, rounded as Praat's ``round()`` rounds (half up): the times of notes."""
    return math.floor(t * 1000 + 0.5)


#: Shortest difference (s) between a TextGrid's time domain and its sound's that counts: times written to
#: the millisecond (as ELAN exports them) are not taken for another sound.
DOMAIN_TOLERANCE = 0.001


def domain_note(domain, xmin: float, xmax: float, dx: float, what: str = "sound") -> str:
    """Why a TextGrid does not belong to its sound as it is ('' when it does).

    A TextGrid spanning ``domain = (start, end)`` over a sound spanning ``xmin`` … ``xmax`` (sample
    period ``dx``) was made for another version of the sound — trimmed or padded since, or cut from a
    longer recording with its times kept, whose WAV starts at 0 again — so its intervals may not fall on
    what they label.  Differences up to half a sample period or :data:`DOMAIN_TOLERANCE` do not count.
    ``what`` names the sound in the note (``sound``, ``recording``).  ``measure_all.praat`` writes the
    same note as ``ganphon measure``.
    """
    tolerance = max(dx / 2, DOMAIN_TOLERANCE)
    start, end = domain
    if abs(start - xmin) <= tolerance and abs(end - xmax) <= tolerance:
        return ""
    return (f"the TextGrid spans {ms(start)} to {ms(end)} ms, the {what} {ms(xmin)} to {ms(xmax)} ms "
            f"(made for another version of the {what}?)")


#: What :func:`domain_note` writes (for a ``sound``) without its question, as a regular expression whose
#: group is that text: how ``ganphon measure``'s summary finds the files whose rows carry the note.
DOMAIN_NOTE_PATTERN = (r"(?:^|; )(the TextGrid spans -?\d+ to -?\d+ ms, the sound -?\d+ to -?\d+ ms) "
                       r"\(made for another version of the sound\?\)")
