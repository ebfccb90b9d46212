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

import dataclasses
import importlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import GanphonError, first_line

if TYPE_CHECKING:
    import numpy as np

# Praat arguments ganphon does not expose; the scripts use the same values.
PERIODS_PER_PITCH_WINDOW = 3.0  # "To Pitch (ac)" with very accurate off
INTENSITY_WINDOW_PER_PERIOD = 6.4  # physical window of "To Intensity" = 6.4 / minimum pitch
# An analysis window must span at least this many (native) samples to say anything.
MIN_SAMPLES_PER_WINDOW = 4
# Two rates this close are one rate (a Praat Sound's 1 / dx against n / T).
SAME_RATE = 1e-9

#: Relative distance (0.5 %) within which an F0 is an artefact frequency.
ARTEFACT_TOLERANCE = 0.005
#: Praat reads a periodicity at f as f, or an octave or a twelfth down.
ARTEFACT_DIVISORS = (1, 2, 3)


#: Window shapes of "Extract part" (the options of the scripts' form).
WINDOW_SHAPES = ("rectangular", "triangular", "parabolic", "Hanning", "Hamming", "Gaussian1", "Gaussian2",
                 "Kaiser1", "Kaiser2")


@dataclass(frozen=True)
class MeasureSettings:
    """Praat analysis settings, named as in Praat.

    Field names equal the variable names of the form fields of the scripts in
    ``praat_scripts/`` (``Pitch_floor_(Hz)`` → ``pitch_floor``), so
    :meth:`to_fields` can be handed to :func:`ganphon.praat.run_script` unchanged.

    Parameters
    ----------
    pitch_floor, pitch_ceiling : float
        ``To Pitch (ac)`` range in Hz (default 75–450 Hz, the paper's ciwGAN range).
    silence_threshold, voicing_threshold, octave_cost, octave_jump_cost, voiced_unvoiced_cost : float
        The other ``To Pitch (ac)`` arguments (Praat's defaults).
    intensity_minimum_pitch : float
        ``To Intensity`` minimum pitch (Hz); the window is 6.4 / this value.
    subtract_mean : bool
        ``To Intensity`` "subtract mean".
    maximum_formant, number_of_formants, formant_window_length, pre_emphasis_from : float
        ``To Formant (burg)`` arguments.
    spectrum_power : float
        Power of the spectral moments (``Get centre of gravity: 2`` …).
    spectrum_window_shape : str
        Window shape of ``Extract part`` before ``To Spectrum``.  Rectangular by
        default: the Hanning and Hamming windows of ``Extract part`` differ between
        Praat 6.1 and 6.3, the rectangular one gives the same moments in both.
    spectrum_min_samples : int
        Fewest samples an interval must hold for spectral moments.
    max_intensity_window : float
        Physical window (s) of the intensity whose maximum is ``max_intensity``
        (13.3 ms as in GAP; minimum pitch 6.4 / window).
    """

    pitch_floor: float = 75.0
    pitch_ceiling: float = 450.0
    silence_threshold: float = 0.03
    voicing_threshold: float = 0.45
    octave_cost: float = 0.01
    octave_jump_cost: float = 0.35
    voiced_unvoiced_cost: float = 0.14
    intensity_minimum_pitch: float = 100.0
    subtract_mean: bool = True
    maximum_formant: float = 5500.0
    number_of_formants: float = 5.0
    formant_window_length: float = 0.025
    pre_emphasis_from: float = 50.0
    spectrum_power: float = 2.0
    spectrum_window_shape: str = "rectangular"
    spectrum_min_samples: int = 32
    max_intensity_window: float = 0.0133

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type not in ("float", "int"):
                continue
            positive = isinstance(value, (int, float)) and math.isfinite(value) and value > 0
            may_be_zero = f.name in ("silence_threshold", "voicing_threshold", "octave_cost",
                                     "octave_jump_cost", "voiced_unvoiced_cost")
            if not positive and not (may_be_zero and value == 0):
                raise GanphonError(f"settings: {f.name} must be a positive number, got {value!r}")
        if self.spectrum_window_shape.lower() not in (w.lower() for w in WINDOW_SHAPES):
            raise GanphonError(f"settings: spectrum_window_shape {self.spectrum_window_shape!r} is not one of "
                               f"{', '.join(WINDOW_SHAPES)}")
        if self.pitch_floor >= self.pitch_ceiling:
            raise GanphonError(f"settings: pitch_floor {self.pitch_floor:g} Hz must be below "
                               f"pitch_ceiling {self.pitch_ceiling:g} Hz")

    @property
    def max_intensity_minimum_pitch(self) -> float:
        """Minimum pitch (Hz) giving the ``max_intensity`` window."""
        return INTENSITY_WINDOW_PER_PERIOD / self.max_intensity_window

    def replace(self, **changes) -> "MeasureSettings":
        """Return a copy with ``changes`` applied (unknown names are an error)."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise GanphonError(f"settings: unknown setting(s) {', '.join(unknown)}; "
                               f"known: {', '.join(sorted(names))}")
        return dataclasses.replace(self, **changes)

    def to_fields(self) -> dict:
        """The settings as script form fields (name → value)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Band:
    """What one measure family needs of a sound (one entry of :data:`BANDS`)."""

    family: str
    needs: str
    settings: tuple


@dataclass(frozen=True)
class Family:
    """One measure family: everything ganphon knows about it, in one entry of :data:`FAMILIES`.

    Parameters
    ----------
    name : str
        What ``--measures`` takes (``pitch``).
    measures : tuple of str
        The ``measure`` names its rows carry, in table order (``f0``, ``f0_mean`` …).
    compute : callable or str
        The parselmouth side, ``compute(sound, job, intervals, add, why)``: calls
        ``add(label, start, end, point, time, measure, value, note)`` for every row of
        every interval (``why``: a note that empties them all, written as they are with
        ``add.blank(label, start, end, measures, times, why)``; ``sound`` may be None then).
        A ``"module:function"`` string is imported when first measured.
    needs : str
        What it needs of a sound's native band, in words (the band rule's table).
    band_settings : tuple of str
        The :class:`~ganphon.praat.MeasureSettings` fields the band rule involves.
    guard : callable, optional
        ``guard(settings, rate, duration, who)`` → why a sound of native ``rate`` (Hz) and
        ``duration`` (s) cannot carry the family, or None; None: nothing to check per sound.
    subguards : dict
        Name → a guard of one part of the family (``max_intensity`` of ``spectrum``).
    settings : tuple of str
        Every :class:`~ganphon.praat.MeasureSettings` field it reads: its Praat script's
        form fields (checked against the scripts by the tests).
    script : str, optional
        The bundled Praat script measuring it alone (``measure_pitch``), which
        ``measure_all.praat`` includes too; None: measured in Python only.
    points : tuple of str
        Its measures taken at N normalised points per interval.
    frequencies : tuple of str
        Its measures in Hz: emptied above the native Nyquist.
    artefacts : tuple of str
        Its measures flagged in ``f0_artefact`` (F0s on a generator periodicity).
    needs_sound : bool
        False: measured from the TextGrid alone (``duration``), even on a silent file.
    labels : tuple of str
        Interval labels its measures are modelled in by default (``ganphon stats``).
    stats : dict
        Measure → rank among the measures ``ganphon stats`` models by default.
    paper : tuple of str
        Its measures in the paper's correlation table (SPEC §7).
    page : float
        Rank of its columns on the explore page (``ganphon explore``).
    page_means : tuple of str
        Point measures the page shows as the mean over an interval's points.
    units : dict
        Measure → the unit of its values in the table (``Hz``, ``dB``, ``s``; none: a number).
    """

    name: str
    measures: tuple
    compute: object
    needs: str = "nothing"
    band_settings: tuple = ()
    guard: object = None
    subguards: dict = field(default_factory=dict)
    settings: tuple = ()
    script: str | None = None
    points: tuple = ()
    frequencies: tuple = ()
    artefacts: tuple = ()
    needs_sound: bool = True
    labels: tuple = ("voi",)
    stats: dict = field(default_factory=dict)
    paper: tuple = ()
    page: float = math.inf
    page_means: tuple = ()
    units: dict = field(default_factory=dict)

    @property
    def band(self) -> Band:
        """Its entry of the band rule."""
        return Band(self.name, self.needs, self.band_settings)

    def function(self):
        """The parselmouth side (``compute``, imported when given as ``"module:function"``)."""
        if callable(self.compute):
            return self.compute
        module, _, name = str(self.compute).partition(":")
        return getattr(importlib.import_module(module), name)

    def page_columns(self) -> tuple:
        """Its columns on the explore page: per-interval measures, then point means."""
        return tuple(m for m in self.measures if m not in self.points) + tuple(
            f"{m} (mean of points)" for m in self.page_means)


# --------------------------------------------------------------------------
# The guards of the built-in families


def _pitch_guard(settings, rate, duration, who):
    nyquist = rate / 2.0
    if settings.pitch_ceiling > nyquist:  # the floor, when no ceiling below the Nyquist is left
        what, setting = (("pitch floor", settings.pitch_floor) if settings.pitch_floor >= nyquist
                         else ("pitch ceiling", settings.pitch_ceiling))
        return f"{who}: native Nyquist {hz(nyquist)} Hz < {what} {hz(setting)} Hz"
    window = PERIODS_PER_PITCH_WINDOW / settings.pitch_floor
    if duration < window:
        return f"{who}: sound {duration:g} s shorter than pitch window {window:g} s"
    return None


def _intensity_guard(settings, rate, duration, who):
    return intensity_guard(settings.intensity_minimum_pitch, rate, duration, who, "intensity")


def _formant_guard(settings, rate, duration, who):
    nyquist = rate / 2.0
    if settings.maximum_formant > nyquist:
        return f"{who}: native Nyquist {hz(nyquist)} Hz < maximum formant {hz(settings.maximum_formant)} Hz"
    window = 2.0 * settings.formant_window_length
    if duration < window:
        return f"{who}: sound {duration:g} s shorter than formant window {window:g} s"
    return None


def _max_intensity_guard(settings, rate, duration, who):
    return intensity_guard(INTENSITY_WINDOW_PER_PERIOD / settings.max_intensity_window, rate, duration, who,
                           "max_intensity")


_PITCH = ("f0", "f0_mean", "f0_min", "f0_max")
_FORMANTS = ("f1", "f2", "f3")

#: The measure families, in table order: one entry each (:func:`register` adds one).
FAMILIES: dict = {}


def register(family: Family) -> "Registration":
    """Add a measure family to :data:`FAMILIES` (after the others in table order).

    Everything that lists measures reads the registry: ``--measures``, the
    band rule, the table order, the stats defaults, the explore page.  A family
    registered at run time is measured in this process (``workers=1``); worker
    processes see the families of the modules they import.  Returns a
    :class:`Registration`, which removes it again when used as a context manager.
    """
    if not isinstance(family, Family):
        raise TypeError(f"register() takes a Family, got {type(family).__name__}")
    taken = {m for f in FAMILIES.values() for m in f.measures} | set(FAMILIES) | set(_subguards())
    clash = sorted(({family.name} | set(family.measures) | set(family.subguards)) & taken)
    if clash or not family.measures:
        raise ValueError(f"measure family {family.name!r}: "
                         + (f"{', '.join(clash)} already registered" if clash else "names no measures"))
    known = {f.name for f in dataclasses.fields(MeasureSettings)}
    unknown = sorted((set(family.settings) | set(family.band_settings)) - known)
    if unknown:
        raise ValueError(f"measure family {family.name!r}: {', '.join(unknown)} are not MeasureSettings fields")
    parts = set(family.points) | set(family.frequencies) | set(family.artefacts) | set(family.stats) \
        | set(family.paper) | set(family.page_means) | set(family.units)
    if not parts <= set(family.measures):
        raise ValueError(f"measure family {family.name!r}: {', '.join(sorted(parts - set(family.measures)))} "
                         "are not among its measures")
    FAMILIES[family.name] = family
    return Registration(FAMILIES, family.name)


class Registration:
    """A registered entry; ``with register(...):`` removes it on leaving the block."""

    def __init__(self, table: dict, name: str):
        self.table, self.name = table, name

    def remove(self) -> None:
        """Take the entry out of its registry again."""
        self.table.pop(self.name, None)

    def __enter__(self):
        return self.table[self.name]

    def __exit__(self, *exc):
        self.remove()
        return False


class Names(Sequence):
    """A tuple of names read from a registry whenever it is used (so it sees every registration)."""

    def __init__(self, read, doc: str = ""):
        self._read = read
        self.__doc__ = doc

    def _names(self) -> tuple:
        return tuple(self._read())

    def __getitem__(self, i):
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self):
        return iter(self._names())

    def __contains__(self, item) -> bool:
        return item in self._names()

    def __eq__(self, other) -> bool:
        return isinstance(other, (tuple, list, Sequence)) and not isinstance(other, str) and \
            self._names() == tuple(other)

    __hash__ = None

    def __add__(self, other) -> tuple:
        return self._names() + tuple(other)

    def __radd__(self, other) -> tuple:
        return tuple(other) + self._names()

    def __repr__(self) -> str:
        return repr(self._names())


class _FamilyMeasures(Mapping):
    """Family → its measure names, read from :data:`FAMILIES`."""

    def __getitem__(self, name):
        return FAMILIES[name].measures

    def __iter__(self):
        return iter(list(FAMILIES))

    def __len__(self) -> int:
        return len(FAMILIES)

    def __repr__(self) -> str:
        return repr(dict(self))


def _subguards() -> dict:
    """Name → guard of every part of a family with a guard of its own (``max_intensity``)."""
    return {name: guard for f in FAMILIES.values() for name, guard in f.subguards.items()}


def _every(attribute) -> tuple:
    return tuple(m for f in FAMILIES.values() for m in getattr(f, attribute))


def _ranked(measures) -> tuple:
    rank = {m: r for f in FAMILIES.values() for m, r in f.stats.items()}
    return tuple(sorted(measures, key=lambda m: rank[m]))


#: Family → the measure names it produces, in table order.
MEASURE_NAMES = _FamilyMeasures()
#: The measure families, in table order.
ALL_MEASURES = Names(lambda: tuple(FAMILIES), "The measure families, in table order.")
#: Measures that are frequencies of the signal (Hz): never above the native Nyquist.
FREQUENCY_MEASURES = Names(lambda: _every("frequencies"), "Measures in Hz.")
#: Measures flagged in ``f0_artefact``.
PITCH_MEASURES = Names(lambda: _every("artefacts"), "Measures flagged in f0_artefact.")
#: Measures taken at N normalised time points along an interval.
POINT_MEASURES = Names(lambda: _every("points"), "Point measures.")
#: Measures read from the TextGrid alone (``duration``): a layer measured on the output's intervals has the
#: output's numbers, so only a layer segmented itself (``annotate --layers``) can be compared with the output.
TEXTGRID_MEASURES = Names(lambda: tuple(m for f in FAMILIES.values() if not f.needs_sound for m in f.measures),
                          "Measured from the TextGrid alone.")


class _Bands(Mapping):
    """Family → its :class:`Band`, read from :data:`FAMILIES`."""

    def __getitem__(self, name):
        return FAMILIES[name].band

    def __iter__(self):
        return iter(list(FAMILIES))

    def __len__(self) -> int:
        return len(FAMILIES)


#: The band rule, one entry per measure family (the table of the module docstring).
BANDS = _Bands()
#: What :func:`ganphon.stats.run_stats` models by default, in that order.
STATS_MEASURES = Names(lambda: _ranked(m for f in FAMILIES.values() for m in f.stats), "Modelled by default.")
#: Measures of the paper's correlation table (SPEC §7).
PAPER_MEASURES = Names(lambda: _ranked(_every("paper")), "The paper's correlation table.")
#: Measures modelled in the fric interval alone (spectral moments, the frication's peak intensity).
FRICATION_MEASURES = Names(lambda: tuple(m for f in FAMILIES.values() if f.labels == ("fric",)
                                         for m in f.measures), "Modelled in fric.")


def page_columns() -> tuple:
    """The explore page's measure columns, in page order."""
    families = sorted(FAMILIES.values(), key=lambda f: f.page)  # stable: table order within a rank
    return tuple(c for f in families for c in f.page_columns())


def unit_of(measure: str) -> str:
    """The unit of ``measure``'s values in the acoustic table (its family's ``units``; '' when none)."""
    for family in FAMILIES.values():
        if measure in family.measures:
            return family.units.get(measure, "")
    return ""


def labels_of(measure: str) -> tuple:
    """Interval labels ``measure`` is modelled in by default (its family's; ``voi`` for a measure of none)."""
    for family in FAMILIES.values():
        if measure in family.measures:
            return family.labels
    return ("voi",)


for _family in (
    Family("pitch", _PITCH, "ganphon.acoustics:pitch_rows",
           needs="pitch floor < pitch ceiling ≤ native Nyquist; sound ≥ 3 / pitch floor",
           band_settings=("pitch_floor", "pitch_ceiling"), guard=_pitch_guard,
           settings=("pitch_floor", "pitch_ceiling", "silence_threshold", "voicing_threshold", "octave_cost",
                     "octave_jump_cost", "voiced_unvoiced_cost"),
           script="measure_pitch", points=("f0",), frequencies=_PITCH, artefacts=_PITCH,
           stats={"f0": 1}, paper=("f0",), page=1, units=dict.fromkeys(_PITCH, "Hz")),
    Family("intensity", ("intensity", "intensity_mean", "intensity_max"), "ganphon.acoustics:intensity_rows",
           needs="window 6.4 / minimum pitch ≥ 4 native samples; sound ≥ window",
           band_settings=("intensity_minimum_pitch",), guard=_intensity_guard,
           settings=("intensity_minimum_pitch", "subtract_mean"), script="measure_intensity",
           points=("intensity",), stats={"intensity": 0}, paper=("intensity",), page=2,
           units=dict.fromkeys(("intensity", "intensity_mean", "intensity_max"), "dB")),
    Family("formants", _FORMANTS, "ganphon.acoustics:formant_rows",
           needs="maximum formant ≤ native Nyquist; sound ≥ 2 × window length",
           band_settings=("maximum_formant", "formant_window_length"), guard=_formant_guard,
           settings=("maximum_formant", "number_of_formants", "formant_window_length", "pre_emphasis_from"),
           script="measure_formants", points=_FORMANTS, frequencies=_FORMANTS, stats={"f1": 2, "f2": 3},
           paper=("f1", "f2"), page=3, page_means=_FORMANTS, units=dict.fromkeys(_FORMANTS, "Hz")),
    Family("spectrum", ("cog", "sd", "skewness", "kurtosis", "max_intensity"), "ganphon.acoustics:spectrum_rows",
           needs="moments inside 0 – native Nyquist, ≥ spectrum_min_samples native samples per "
                 "interval; max_intensity window ≥ 4 native samples",
           band_settings=("spectrum_min_samples", "max_intensity_window"),
           subguards={"max_intensity": _max_intensity_guard},
           settings=("spectrum_power", "spectrum_window_shape", "spectrum_min_samples", "max_intensity_window",
                     "subtract_mean"),
           script="measure_spectrum", labels=("fric",), stats={"cog": 5, "max_intensity": 6}, page=4,
           units={"cog": "Hz", "sd": "Hz", "max_intensity": "dB"}),
    Family("duration", ("duration",), "ganphon.acoustics:duration_rows", script="measure_duration",
           needs_sound=False, labels=("fric", "voi"), stats={"duration": 4}, paper=("duration",), page=0,
           units={"duration": "s"}),
):
    FAMILIES[_family.name] = _family  # the built-ins (register() checks them against MeasureSettings in the tests)


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
        A family of :data:`FAMILIES` (``pitch`` …), or a part with a guard of its own
        (``max_intensity``, the intensity behind the spectrum family's ``max_intensity``).
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
    if family in FAMILIES:
        guard = FAMILIES[family].guard  # None: nothing to check per sound (spectrum: per interval)
    elif family in _subguards():
        guard = _subguards()[family]
    else:
        raise ValueError(f"unknown measure family {family!r}")
    return guard(settings, rate, duration, who) if guard is not None else None


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


def check_table_values(table, path) -> None:
    """A frequency no measurement gives, named with its file and interval: below 0 Hz or above the sound's
    Nyquist (``measure`` empties those).  An edited table's F0 of 1e300 Hz had gone on into the models as
    "overflow encountered in square".  An infinity stays what the models leave out as undefined, with a note."""
    import numpy as np
    import pandas as pd

    if "value" not in table.columns or "measure" not in table.columns:
        return
    value = pd.to_numeric(table["value"], errors="coerce").to_numpy(dtype=float)
    nyquist = pd.to_numeric(table["sr"], errors="coerce").to_numpy(dtype=float) / 2 if "sr" in table.columns else None
    with np.errstate(invalid="ignore"):
        beyond = (table["measure"].isin(list(FREQUENCY_MEASURES)).to_numpy() & np.isfinite(value)
                  & ((value < 0) | ((value > nyquist) if nyquist is not None else False)))
    if not beyond.any():
        return
    row = int(np.argmax(beyond))
    cells = table.iloc[row]
    where = f"{cells['measure']} of {cells['file']}" if "file" in table.columns else str(cells["measure"])
    if {"label", "start", "end"} <= set(table.columns):  # the row by what it measures (a filtered read renumbers)
        label = "" if pd.isna(cells["label"]) else f"{cells['label']} "
        where += f" ({label}{float(cells['start']):g}–{float(cells['end']):g} s)"
    raise GanphonError(f"{path}: {where} = {value[row]:g} Hz, "
                       + ("below 0" if value[row] < 0 else f"above the sound's Nyquist ({nyquist[row]:g} Hz)")
                       + ": not a measurement; is the table edited or damaged?")


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
    import numpy as np  # here, not at import: the command line's parser reads this module

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

        record = io.read_run_record(folder)  # absent: None; damaged: the one-line error naming it
    if manifest is None and folder is not None:
        from . import io, layout

        path = Path(folder) / layout.MANIFEST
        manifest = io.read_manifest(path) if path.is_file() else None
    if manifest is None or "layer" not in manifest.columns:
        return ()
    if "network" in manifest.columns and set(manifest["network"].dropna().astype(str)) - {"generator"}:
        return ()
    model = (record or {}).get("model")
    if isinstance(model, dict):
        try:
            config = ModelConfig.from_dict(model)
        except Exception as exc:  # noqa: BLE001 - a damaged record is an error, not a generator without artefacts
            from .layout import RUN_JSON

            where = f"{Path(folder) / RUN_JSON}: " if folder is not None else "run record: "
            raise GanphonError(f"{where}its model is not a generator configuration ({first_line(exc)})") from None
    else:
        try:
            config = ModelConfig(slice_len=int(manifest["slice_len"].iloc[0]), sr=int(manifest["sr"].iloc[0]))
        except (KeyError, ValueError, TypeError, IndexError):  # a manifest without them: no generator to flag
            return ()
    return stack_frequencies(config, floor=None, ceiling=None)


def artefacts_by_layer(stack, rates: dict) -> dict:
    """Layer → its artefact frequencies: the stack everywhere, plus each layer's native rate (not the output's)."""
    from .layout import OUTPUT_LAYER

    return {layer: artefact_frequencies(stack, None if layer == OUTPUT_LAYER else rate)
            for layer, rate in rates.items()}
