"""What each measure family needs of a sound, and what a layer can carry: the band rule.

A layer series of ``n`` samples over a slice of ``T`` seconds has the native
rate ``n / T`` (dense 15.625 Hz … conv4 4 kHz for 16384 samples at 16 kHz);
upsampling it to the output rate adds no information.  Every family below
states what it needs, and the need is compared with the **native** rate of
the file's layer — whichever file is measured (the upsampled WAV, the
native-rate ``.Sound``, a store's array) — so a layer gives the same empty
rows on every route and in both engines (the bundled Praat scripts make the
same checks with the same notes):

=========  ==================================================================
family     needs (compared with the native rate)
=========  ==================================================================
pitch      pitch floor < pitch ceiling ≤ native Nyquist; sound ≥ 3 / pitch floor
intensity  window 6.4 / minimum pitch ≥ 4 native samples; sound ≥ window
formants   maximum formant ≤ native Nyquist; sound ≥ 2 × window length
spectrum   moments inside 0 – native Nyquist from ≥ ``spectrum_min_samples``
           native samples per interval; ``max_intensity``: its window
           (13.3 ms) ≥ 4 native samples
duration   nothing
=========  ==================================================================

:func:`clip_settings` brings a layer's settings inside what it can carry where
that keeps the measure what it is (the pitch ceiling down to the native
Nyquist, the intensity windows up to 4 native samples); a need that cannot be
met that way (formants of a 250 Hz series, a pitch floor above the Nyquist)
leaves the values empty with a note naming the layer, its native Nyquist and
the setting.  A frequency value above the native Nyquist (Praat's parabolic
interpolation can step past the ceiling) is emptied the same way.

Generator artefacts: a transpose-convolution stack buzzes at its own periods
(:func:`ganphon.models.config.stack_frequencies`), and a linearly interpolated
layer series is periodic at its native rate; Praat reports such a buzz as F0,
or ½, ⅓ of it.  :func:`artefact_frequencies` lists them for one file and
:func:`on_artefact` tells which F0 values sit on one (± 0.5 %): the acoustic
table's ``f0_artefact`` column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Praat arguments ganphon does not expose; the scripts use the same values.
PERIODS_PER_PITCH_WINDOW = 3.0  # "To Pitch (ac)" with very accurate off
INTENSITY_WINDOW_PER_PERIOD = 6.4  # physical window of "To Intensity" = 6.4 / minimum pitch
# An analysis window must span at least this many (native) samples to say anything.
MIN_SAMPLES_PER_WINDOW = 4
# Two rates this close are one rate (a Praat Sound's 1 / dx against n / T).
SAME_RATE = 1e-9

#: Measures that are frequencies of the signal (Hz): never above the native Nyquist.
FREQUENCY_MEASURES = ("f0", "f0_mean", "f0_min", "f0_max", "f1", "f2", "f3")
#: Measures flagged in ``f0_artefact``.
PITCH_MEASURES = ("f0", "f0_mean", "f0_min", "f0_max")
#: Relative distance (0.5 %) within which an F0 is an artefact frequency.
ARTEFACT_TOLERANCE = 0.005
#: Praat reads a periodicity at f as f, or an octave or a twelfth down.
ARTEFACT_DIVISORS = (1, 2, 3)


@dataclass(frozen=True)
class Band:
    """What one measure family needs of a sound (one entry of :data:`BANDS`)."""

    family: str
    needs: str
    settings: tuple


#: The band rule, one entry per measure family (the table of the module docstring).
BANDS = {
    "pitch": Band("pitch", "pitch floor < pitch ceiling ≤ native Nyquist; sound ≥ 3 / pitch floor",
                  ("pitch_floor", "pitch_ceiling")),
    "intensity": Band("intensity", "window 6.4 / minimum pitch ≥ 4 native samples; sound ≥ window",
                      ("intensity_minimum_pitch",)),
    "formants": Band("formants", "maximum formant ≤ native Nyquist; sound ≥ 2 × window length",
                     ("maximum_formant", "formant_window_length")),
    "spectrum": Band("spectrum", "moments inside 0 – native Nyquist, ≥ spectrum_min_samples native samples per "
                     "interval; max_intensity window ≥ 4 native samples",
                     ("spectrum_min_samples", "max_intensity_window")),
    "duration": Band("duration", "nothing", ()),
}


def hz(x) -> str:
    """A number as the notes print it, and as the scripts print it: six decimals, trailing zeros dropped
    (Praat: ``fixed$ (x, 6)`` without its trailing zeros)."""
    text = f"{float(x):.6f}".rstrip("0")
    return text[:-1] if text.endswith(".") else text


def effective_rate(sampling_frequency, native_rate=None) -> float:
    """The rate whose band a sound carries: its layer's native rate, or its own when that is lower or unknown."""
    fs = float(sampling_frequency)
    if native_rate is None or not math.isfinite(native_rate) or native_rate <= 0:
        return fs
    native = float(native_rate)
    return fs if native >= fs * (1 - SAME_RATE) else native


def is_upsampled(sampling_frequency, native_rate=None) -> bool:
    """Whether a sound holds a series upsampled from a lower native rate."""
    return effective_rate(sampling_frequency, native_rate) < float(sampling_frequency)


# --------------------------------------------------------------------------
# The guards


def band_guard(family, settings, rate, duration, who="sound"):
    """Why ``family`` cannot be measured on a sound of native ``rate``, or None when it can.

    Parameters
    ----------
    family : str
        ``pitch``, ``intensity``, ``formants``, ``spectrum``, ``duration``, or
        ``max_intensity`` (the intensity behind the spectrum family's ``max_intensity``).
    settings : MeasureSettings
    rate : float
        The native rate (Hz) of the sound's series (:func:`effective_rate`).
    duration : float
        Of the whole sound (s).
    who : str
        Name used in the note (the layer, or the file name).

    Returns
    -------
    str or None
        A short note, e.g. ``"conv1: native Nyquist 31.25 Hz < maximum formant 5500 Hz"``.
    """
    nyquist = rate / 2.0
    if family == "pitch":
        if settings.pitch_ceiling > nyquist:  # the floor, when no ceiling below the Nyquist is left
            what, setting = (("pitch floor", settings.pitch_floor) if settings.pitch_floor >= nyquist
                             else ("pitch ceiling", settings.pitch_ceiling))
            return f"{who}: native Nyquist {hz(nyquist)} Hz < {what} {hz(setting)} Hz"
        window = PERIODS_PER_PITCH_WINDOW / settings.pitch_floor
        if duration < window:
            return f"{who}: sound {duration:g} s shorter than pitch window {window:g} s"
    elif family == "intensity":
        return intensity_guard(settings.intensity_minimum_pitch, rate, duration, who, "intensity")
    elif family == "formants":
        if settings.maximum_formant > nyquist:
            return f"{who}: native Nyquist {hz(nyquist)} Hz < maximum formant {hz(settings.maximum_formant)} Hz"
        window = 2.0 * settings.formant_window_length
        if duration < window:
            return f"{who}: sound {duration:g} s shorter than formant window {window:g} s"
    elif family == "max_intensity":
        return intensity_guard(INTENSITY_WINDOW_PER_PERIOD / settings.max_intensity_window, rate, duration, who,
                               "max_intensity")
    elif family in ("spectrum", "duration"):
        return None  # spectrum is checked per interval (spectrum_guard)
    else:
        raise ValueError(f"unknown measure family {family!r}")
    return None


def intensity_guard(minimum_pitch, rate, duration, who, what="intensity"):
    """Why an intensity with this minimum pitch cannot be computed on a sound of native ``rate``, or None."""
    window = INTENSITY_WINDOW_PER_PERIOD / minimum_pitch
    if duration < window:
        return f"{who}: sound {duration:g} s shorter than {what} window {window * 1000:g} ms"
    period = 1.0 / rate
    if period * MIN_SAMPLES_PER_WINDOW > window * (1 + SAME_RATE):
        return (f"{who}: native sampling period {hz(period * 1000)} ms too long for {what} window "
                f"{hz(window * 1000)} ms ({MIN_SAMPLES_PER_WINDOW} samples needed)")
    return None


def spectrum_guard(n_samples, settings, who="sound"):
    """Why an interval holding ``n_samples`` native samples has no spectral moments, or None."""
    if n_samples < settings.spectrum_min_samples:
        return (f"{who}: interval holds {n_samples} samples < {settings.spectrum_min_samples} "
                f"needed for spectral moments")
    return None


def native_samples_between(start, end, xmin, rate, x1=None) -> int:
    """Samples of the native grid (first sample at ``xmin + 0.5 / rate``) inside [start, end]:
    what ``Extract part`` takes from the native-rate series (``x1``: the sound's own first sample time)."""
    dx = 1.0 / rate
    first = xmin + 0.5 * dx if x1 is None else x1
    return math.floor((end - first) / dx) - math.ceil((start - first) / dx) + 1


def above_nyquist(measure, value, rate, who="sound"):
    """A note when a frequency ``value`` lies above the native Nyquist (it is then emptied), else ''."""
    if measure in FREQUENCY_MEASURES and value is not None and value > rate / 2.0:
        return f"{who}: value above native Nyquist {hz(rate / 2.0)} Hz"
    return ""


# --------------------------------------------------------------------------
# Settings a layer can carry


def clip_settings(settings, rate):
    """``settings`` brought inside what a series of native ``rate`` can carry.

    The pitch ceiling comes down to the native Nyquist (unless the floor is
    above it: then nothing can be measured, and the guard says so); the
    intensity minimum pitch comes down, and the ``max_intensity`` window goes
    up, until the window spans 4 native samples.  The maximum formant is never
    changed: a Burg analysis below a vowel's formants measures nothing real.
    """
    if rate is None or not math.isfinite(rate) or rate <= 0:
        return settings
    nyquist = rate / 2.0
    changes = {}
    if settings.pitch_ceiling > nyquist and settings.pitch_floor < nyquist:
        changes["pitch_ceiling"] = nyquist
    highest_minimum_pitch = INTENSITY_WINDOW_PER_PERIOD * rate / MIN_SAMPLES_PER_WINDOW
    if settings.intensity_minimum_pitch > highest_minimum_pitch:
        changes["intensity_minimum_pitch"] = highest_minimum_pitch
    shortest_window = MIN_SAMPLES_PER_WINDOW / rate
    if settings.max_intensity_window < shortest_window:
        changes["max_intensity_window"] = shortest_window
    return settings.replace(**changes) if changes else settings


# --------------------------------------------------------------------------
# Generator artefacts


def artefact_frequencies(stack=(), native_rate=None, divisors=ARTEFACT_DIVISORS) -> tuple:
    """F0s (Hz) that are a machine's, not a voice's: the generator's ``stack`` periods and, for a layer
    series, its ``native_rate`` and ½, ⅓ of it; highest first."""
    found = {float(f) for f in stack}
    if native_rate is not None and math.isfinite(native_rate) and native_rate > 0:
        found |= {float(native_rate) / m for m in divisors}
    return tuple(sorted(found, reverse=True))


def on_artefact(values, frequencies, tolerance=ARTEFACT_TOLERANCE) -> np.ndarray:
    """For each value, the artefact frequency it lies on (within ``tolerance``, relative), else NaN."""
    values = np.asarray(values, float)
    out = np.full(values.shape, np.nan)
    for f in sorted(frequencies):  # the lowest match wins (they never overlap at 0.5 %)
        hit = np.isnan(out) & (np.abs(values - f) <= tolerance * f)
        out[hit] = f
    return out


def generator_stack(folder=None, manifest=None, record=None) -> tuple:
    """The upsampling stack's frequencies (all of them, Hz) of the generator that made a folder, or ().

    Read from the folder's ``run.json`` (``model``: the generator's config,
    recorded by ``probe``/``sweep``), else from the manifest's ``sr`` and
    ``slice_len`` with the stride 4 of every WaveGAN.  A folder of given
    waveforms (a ``network`` column naming a critic or Q-network) or one
    without a manifest has no generator: ().
    """
    from .models.config import ModelConfig, stack_frequencies

    if record is None and folder is not None:
        from . import io
        from .errors import GanphonError

        try:
            record = io.read_run_record(folder)
        except GanphonError:
            record = None
    if manifest is None and folder is not None:
        from . import io, layout

        path = Path(folder) / layout.MANIFEST
        manifest = io.read_manifest(path) if path.is_file() else None
    if manifest is None or "layer" not in manifest.columns:
        return ()
    if "network" in manifest.columns and set(manifest["network"].dropna().astype(str)) - {"generator"}:
        return ()
    model = (record or {}).get("model")
    try:
        if isinstance(model, dict):
            config = ModelConfig.from_dict(model)
        else:
            config = ModelConfig(slice_len=int(manifest["slice_len"].iloc[0]), sr=int(manifest["sr"].iloc[0]))
    except Exception:  # noqa: BLE001 — an unreadable record: no stack to flag, not an error
        return ()
    return stack_frequencies(config, floor=None, ceiling=None)


def artefacts_by_layer(stack, rates: dict) -> dict:
    """Layer → its artefact frequencies: the stack everywhere, plus each layer's native rate (not the output's)."""
    from .layout import OUTPUT_LAYER

    return {layer: artefact_frequencies(stack, None if layer == OUTPUT_LAYER else rate)
            for layer, rate in rates.items()}
