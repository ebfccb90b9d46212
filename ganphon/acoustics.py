"""Measure a folder of sounds like speech, in Python, with Praat's own commands.

:func:`measure` computes, for every file of a folder (an exported ganphon
folder, or any folder of ``name.wav`` + ``name.TextGrid``), the measures of
the long acoustic table — F0, intensity, F1–F3 at N normalised points per
interval, per-interval F0 / intensity summaries, spectral moments and
duration — with parselmouth, in parallel processes.  The commands and
arguments are those of the bundled Praat scripts (``praat_scripts/``), so
the numbers are the ones Praat prints; see :mod:`ganphon.praat`.

A value that cannot be measured is NaN with a short reason in ``note``
(unvoiced frame, a layer whose native Nyquist frequency is below the maximum
formant, an unreadable file …); a problem in one file never stops the others.
What a layer can carry is decided by its native rate (the manifest's
``rate_native_hz``), whether its upsampled WAV or its native-rate ``.Sound`` is
measured: the band rule of :mod:`ganphon.measures`.  F0 values on the
generator's own artefact frequencies are flagged in ``f0_artefact``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import operator
import os
import time as _time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import parselmouth
from parselmouth.praat import call, run

from . import io, layout
from .timebase import DOMAIN_NOTE_PATTERN, domain_note, ms
from .errors import GanphonError, ParameterError, first_line, name_list, os_problem
from .measures import (
    ARTEFACT_TOLERANCE,
    FREQUENCY_MEASURES,
    PITCH_MEASURES,
    above_nyquist,
    artefact_frequencies,
    effective_rate,
    generator_stack,
    hz,
    native_samples_between,
    on_artefact,
)
from .praat import (
    ALL_MEASURES,
    FAMILIES,
    INTENSITY_WINDOW_PER_PERIOD,
    MEASURE_NAMES,
    PERIODS_PER_PITCH_WINDOW,
    PITCH_MAX_CANDIDATES,
    PITCH_VERY_ACCURATE,
    TABLE_COLUMNS,
    MeasureSettings,
    find_textgrid,
    layer_from_name,
    measure_guard,
    resolve_layer_settings,
    settings_for_layer,
    spectrum_guard,
)

INPUTS = ("wav", "sound")
_EXTENSIONS = {"wav": "wav", "sound": "Sound"}

# The point queries below use parselmouth's methods, which run the same Praat
# functions as the scripts' queries ("Get value at time: t, "Hertz",
# "linear"" …) without the cost of parsing a command for each of thousands of calls.
HERTZ = parselmouth.PitchUnit.HERTZ
LINEAR = parselmouth.ValueInterpolation.LINEAR
CUBIC = parselmouth.ValueInterpolation.CUBIC
ENERGY = parselmouth.Intensity.AveragingMethod.ENERGY


@dataclass(frozen=True)
class _Job:
    """What one worker process needs to measure one file (paths, not objects)."""

    path: str
    textgrid: str | None
    tier: str | None
    points: int
    measures: tuple
    settings: MeasureSettings
    who: str
    native_rate: float | None = None  # the layer's native rate (Hz); None: the file's own
    artefacts: tuple = ()  # F0s (Hz) flagged in f0_artefact
    source: str | None = None  # a layer's native Sound, upsampled in memory when its WAV is not written
    size: int = 0
    sr: float = 0.0
    clip: float | None = None


# --------------------------------------------------------------------------
# Intervals


def read_intervals(textgrid_path, tier):
    """Non-empty intervals of ``tier`` in a TextGrid, read the way the scripts read them.

    Parameters
    ----------
    textgrid_path : str or Path or None
        TextGrid file (any encoding or format Praat reads, UTF-16 included).
    tier : str or None
        Interval tier name; None measures the whole file.

    Returns
    -------
    tier_column : str
        The tier name, or ``""`` when the whole file is to be measured.
    intervals : list of (label, start, end)
        Empty when the whole file is to be measured.
    note : str
        Why the whole file is measured instead ('' when that was asked for).
    """
    tier_column, intervals, note, _ = _read_tier(textgrid_path, tier)
    return tier_column, intervals, note


def _read_tier(textgrid_path, tier) -> tuple:
    """:func:`read_intervals` and the TextGrid's time domain ``(start, end)`` (None when it was not read)."""
    if tier is None or tier == "":
        return "", [], "", None
    if textgrid_path is None:
        return "", [], "no TextGrid", None
    try:
        stat = os.stat(textgrid_path)
    except OSError:
        return "", [], f"cannot read {Path(textgrid_path).name}", None
    # the layers of a sample share one TextGrid: read it once per process
    tier_column, intervals, note, domain = _read_intervals_cached(str(textgrid_path), tier, stat.st_mtime_ns,
                                                                  stat.st_size)
    return tier_column, list(intervals), note, domain


#: Times beyond this (about 30 years) in a TextGrid are damage, not a recording.
MAX_TIME = 1e9


@functools.lru_cache(maxsize=256)
def _read_intervals_cached(textgrid_path, tier, mtime_ns, size):
    # Praat's reader and queries, in the order measure_all.praat asks them, so
    # that both engines measure the same intervals and flag the same files
    name = Path(textgrid_path).name
    try:
        grid = io.read_praat(textgrid_path, parselmouth.TextGrid, "TextGrid")
    except GanphonError as exc:
        return "", (), f"cannot read {name}: {str(exc).removeprefix(f'{textgrid_path}: ')}", None
    start, end = call(grid, "Get start time"), call(grid, "Get end time")
    domain = (start, end)
    if not (math.isfinite(start) and math.isfinite(end) and abs(start) < MAX_TIME and abs(end) < MAX_TIME):
        return "", (), f"cannot read {name}: its time domain {start:g} to {end:g} s is out of range", None
    number = 0
    found = False
    named = 0  # interval tiers of that name: with two, which was meant cannot be told
    for i in range(1, call(grid, "Get number of tiers") + 1):
        if call(grid, "Get tier name", i) == tier:
            found = True
            if call(grid, "Is interval tier", i):
                named += 1
                number = number or i
    if named > 1:
        return "", (), f"tier '{tier}' is {named} interval tiers in {name}; rename all but one", domain
    if not number:
        why = "is not an interval tier" if found else "not found"
        return "", (), f"tier '{tier}' {why} in {name}", domain
    intervals = []
    previous_end = -math.inf
    for i, (start, end, text) in enumerate(_tier_intervals(grid, number), 1):
        if start < previous_end:  # Praat reads these; no interval can be trusted then
            return "", (), f"tier '{tier}' in {name} has overlapping intervals", domain
        if not (abs(start) < MAX_TIME and abs(end) < MAX_TIME):  # inf, nan, 1e308: damage
            return "", (), f"cannot read {name}: interval {i} of tier '{tier}' runs {start:g} to {end:g} s", domain
        previous_end = end
        if text != "":
            intervals.append((text.replace("\t", " "), float(start), float(end)))
    if not intervals:
        return "", (), f"tier '{tier}' in {name} has no labelled interval", domain
    return tier, tuple(intervals), "", domain


def _tier_intervals(grid, number) -> list:
    """``(start, end, label)`` of every interval of interval tier ``number``, asked in one Praat script.

    The same queries as one ``call`` each ("Get start time of interval" …), printed as
    ``start end length label``: the label's length in characters (Praat's and Python's
    count code points alike) lets a label hold spaces or line breaks.
    """
    printed = run(grid, f"""
n = Get number of intervals: {int(number)}
for i to n
  start = Get start time of interval: {int(number)}, i
  end = Get end time of interval: {int(number)}, i
  label$ = Get label of interval: {int(number)}, i
  appendInfoLine: start, " ", end, " ", length (label$), " ", label$
endfor""", capture_output=True)[1]
    out, at = [], 0
    while at < len(printed):
        start, end, length = printed[at:].split(" ", 3)[:3]
        at += len(start) + len(end) + len(length) + 3
        label = printed[at:at + int(length)]
        at += int(length) + 1  # the line break
        out.append((float(start.replace("--undefined--", "nan")), float(end.replace("--undefined--", "nan")),
                    label))
    return out


def textgrid_has_tier(textgrid_path, tier) -> bool:
    """True when the TextGrid can be read and holds an interval tier named ``tier``."""
    tier_column, _, note = read_intervals(textgrid_path, tier)
    return tier_column == tier or note.endswith(("has no labelled interval", "has overlapping intervals",
                                                 "rename all but one"))


def _join_notes(first: str, second: str) -> str:
    """``first; second``, an empty one left out (once per row: no join of a generator)."""
    if first and second:
        return f"{first}; {second}"
    return first or second


def point_times(start, end, points):
    """Times of ``points`` normalised points (i − 0.5) / N along [start, end]."""
    return [start + (i - 0.5) / points * (end - start) for i in range(1, points + 1)]


# --------------------------------------------------------------------------
# One file


def measure_file(path, textgrid=None, tier="auto", points=10, measures=ALL_MEASURES,
                 settings=None, who=None, native_rate=None, artefacts=()) -> pd.DataFrame:
    """Measure one sound file (rows of the long acoustic table).

    Parameters
    ----------
    path : str or Path
        A sound Praat reads: WAV, or a native-rate ``.Sound``.
    textgrid : str or Path, optional
        Its TextGrid; default: found by name as the scripts do
        (``name.TextGrid``, else the name without its last ``_suffix``).
    tier : str or None
        Interval tier to measure; None: the whole file.
    points : int
        Number of normalised time points for point measures.
    measures : sequence of str
        Families among ``pitch``, ``intensity``, ``formants``, ``spectrum``, ``duration``.
    settings : MeasureSettings, optional
        Default: the ``default`` preset for the file's layer.
    who : str, optional
        Name used in notes (default: the layer named by the file name, else the file name).
    native_rate : float, optional
        Native rate (Hz) of the layer series the file holds (an upsampled WAV:
        the rate before upsampling); what it can carry is decided by it.
        Default: the file's own rate.
    artefacts : sequence of float
        F0s (Hz) of the generator's own periodicities
        (:func:`ganphon.measures.artefact_frequencies`): F0 values within 0.5 %
        of one are flagged in ``f0_artefact``.

    Returns
    -------
    pandas.DataFrame
        Columns ``file, tier, label, start, end, point, time, measure, value, note, f0_artefact``.
    """
    path = Path(path)
    if textgrid is None:
        textgrid = find_textgrid(path)
    layer = layer_from_name(path.name)
    if settings is None:
        settings = settings_for_layer(layer, native_rate=native_rate)
    job = _Job(str(path), None if textgrid is None else str(textgrid), tier, int(points),
               check_measures(measures), settings, who or layer or path.name, native_rate, tuple(artefacts))
    return _rows_to_frame(_measure_job(job))


def _measure_job(job: _Job) -> list:
    """All rows of one file, as tuples in table column order."""
    name = Path(job.path).name
    tier_column, intervals, context_note, domain = _read_tier(job.textgrid, job.tier)

    sound = None
    failure = ""
    if job.source is not None:  # the layer's Sound, at the output rate as its WAV would hold it
        try:
            sound = io.upsampled_sound(job.source, job.size, job.sr, job.clip, job.native_rate)
        except GanphonError as exc:
            failure = f"cannot read {Path(job.source).name}: {str(exc).removeprefix(f'{job.source}: ')}"
        return _measure_sound(sound, failure, name, tier_column, intervals, context_note, job, domain)
    try:
        io.refuse_not_a_file(job.path, "sound file")  # a named pipe would wait for a writer forever
        obj = parselmouth.read(job.path)
        if isinstance(obj, list):
            obj = obj[0] if len(obj) == 1 else None
        if not isinstance(obj, parselmouth.Sound):
            failure = f"cannot read {name}: Praat reads it as something other than a sound"
        else:
            sound = obj
    except parselmouth.PraatError as exc:
        failure = f"cannot read {name}: {first_line(exc)}"
    except GanphonError as exc:
        failure = f"cannot read {name}: {str(exc).removeprefix(f'{job.path}: ')}"
    if sound is not None and job.size:  # what its manifest row says it holds
        try:
            io.check_native(sound, name, rate=job.sr or None, n=job.size,
                            what="output" if layer_from_name(name) == layout.OUTPUT_LAYER else "series")
        except GanphonError as exc:
            sound, failure = None, f"cannot read {name}: {str(exc).removeprefix(f'{name}: ')}"
    return _measure_sound(sound, failure, name, tier_column, intervals, context_note, job, domain)


def measure_sound(sound, name, intervals=None, tier="", points=10, measures=ALL_MEASURES, settings=None,
                  who=None, native_rate=None, artefacts=()) -> pd.DataFrame:
    """Measure a sound held in memory (e.g. ``parselmouth.Sound`` from numpy): no file is read.

    The rows are those :func:`measure_file` gives for a file holding the same
    samples and a TextGrid whose ``tier`` has these labelled ``intervals``.

    Parameters
    ----------
    sound : parselmouth.Sound
    name : str
        Written in the ``file`` column and in notes.
    intervals : list of (label, start, end), optional
        Labelled intervals to measure; None or empty: the whole sound.
    tier, points, measures, settings, who, native_rate, artefacts
        As for :func:`measure_file` (``settings`` default: the ``default`` preset for ``who``).
    """
    who = who or layer_from_name(name) or name
    settings = settings if settings is not None else settings_for_layer(layer_from_name(name),
                                                                         native_rate=native_rate)
    job = _Job(name, None, tier or None, int(points), check_measures(measures), settings, who, native_rate,
               tuple(artefacts))
    return _rows_to_frame(_measure_sound(sound, "", name, tier if intervals else "", list(intervals or []),
                                         "", job))


def _measure_sound(sound, failure, name, tier_column, intervals, context_note, job, domain=None) -> list:
    """All rows of one sound in memory (``failure``: why there is none; ``domain``: the time domain of the
    TextGrid the ``intervals`` come from)."""
    silent = False
    if sound is not None:
        values = sound.values
        if values.size == 0:
            failure = f"{name}: sound has no samples"
        elif not np.isfinite(values).all():
            failure = f"{name}: NaN/inf samples"
        else:
            silent = not np.any(values)

    if not intervals:
        if sound is not None:
            intervals = [("", sound.xmin, sound.xmax)]
        else:
            intervals = [("", 0.0, math.nan)]
    edge_notes, outside = {}, set()
    if sound is not None:
        intervals, edge_notes, outside = clip_intervals(intervals, sound.xmin, sound.xmax, sound.dx)
        if domain is not None and tier_column:
            context_note = _join_notes(context_note, domain_note(domain, sound.xmin, sound.xmax, sound.dx))
    if failure:
        sound = None

    rows: list = []
    # the band the series carries: its layer's native rate (an upsampled WAV carries no more)
    rate = effective_rate(sound.sampling_frequency, job.native_rate) if sound is not None else math.nan
    artefacts = sorted(job.artefacts)
    # the registries' names, read once per file rather than once per row
    frequencies, pitch_measures, nyquist = frozenset(FREQUENCY_MEASURES), frozenset(PITCH_MEASURES), rate / 2.0

    def add(label, start, end, point, t, measure, value, note=""):
        value = float(value) if value is not None else math.nan
        if measure in frequencies and value > nyquist:  # above_nyquist's test, without a call per row
            # Praat's interpolation can step past a ceiling at the Nyquist
            value, note = math.nan, above_nyquist(measure, value, rate, job.who)
        if edge_notes:
            key = (label, start, end)
            if key in edge_notes:
                note = edge_notes[key] if key in outside else _join_notes(edge_notes[key], note)
                value = math.nan if key in outside else value
        artefact = math.nan
        if artefacts and measure in pitch_measures and value == value:
            for f in artefacts:  # on_artefact for one value, without numpy per row: the lowest match wins
                if abs(value - f) <= ARTEFACT_TOLERANCE * f:
                    artefact = float(f)
                    break
        note = note or ""
        if context_note:  # _join_notes(context_note, note), without a call per row
            note = f"{context_note}; {note}" if note else context_note
        rows.append((name, tier_column, label, float(start), float(end), point, t, measure, value, note, artefact))

    def blank(label, start, end, measures, times, note):
        """``add(label, start, end, point, t, measure, None, note)`` for each of ``measures`` at each of
        ``times`` (points 1, 2 …; None: one row without a point), in that order: the rows of an analysis
        that was not made (``why``), without a call per row."""
        if edge_notes:
            key = (label, start, end)
            if key in edge_notes:
                note = edge_notes[key] if key in outside else _join_notes(edge_notes[key], note)
        note = note or ""
        if context_note:
            note = f"{context_note}; {note}" if note else context_note
        start, end, nan = float(start), float(end), math.nan
        for measure in measures:
            if times is None:
                rows.append((name, tier_column, label, start, end, None, nan, measure, nan, note, nan))
            else:
                rows.extend([(name, tier_column, label, start, end, i, t, measure, nan, note, nan)
                             for i, t in enumerate(times, 1)])

    add.blank = blank  # the families' way to write the rows of an analysis not made
    block = failure or ("silent (all samples are 0)" if silent else "")
    for name_ in job.measures:
        family = FAMILIES[name_]
        compute = family.function()
        if not family.needs_sound:  # from the TextGrid, flagged when the sound cannot be read
            compute(sound, job, intervals, add, failure)
            continue
        why = block or (measure_guard(family.name, job.settings, sound.sampling_frequency,
                                      sound.xmax - sound.xmin, job.who, job.native_rate) or "")
        done = len(rows)
        try:
            compute(sound, job, intervals, add, why)
        except parselmouth.PraatError as exc:
            # one analysis Praat refuses must not stop the file or the folder
            del rows[done:]
            compute(sound, job, intervals, add, f"{name}: Praat: {first_line(exc)}")
    return rows


# --------------------------------------------------------------------------
# The families' parselmouth side (``compute`` of their entries in ganphon.measures.FAMILIES)


#: The per-interval summaries Praat computes, as the scripts ask for them (command, arguments after the interval)
PITCH_SUMMARY_QUERIES = (("Get mean", '"Hertz"'), ("Get minimum", '"Hertz", "Parabolic"'),
                         ("Get maximum", '"Hertz", "Parabolic"'))
INTENSITY_PEAK_QUERIES = (("Get maximum", '"Parabolic"'),)


def interval_queries(analysis, queries, intervals) -> list:
    """Praat's answers to ``queries`` on every interval of ``intervals``, one tuple per interval.

    Each query is ``(command, arguments)``: ``command: start, end, arguments`` in
    Praat's scripting language, run on ``analysis`` (a Pitch, an Intensity …).
    All the queries of a file run in one Praat script, so the command is looked
    up once rather than once per call (``parselmouth.praat.call`` costs about
    57 µs each): the same Praat functions on the same doubles, the answers
    printed with as many digits as give back the same double (``--undefined--``:
    NaN). ``analysis`` None: every answer NaN.
    """
    if analysis is None or not intervals:
        return [(math.nan,) * len(queries) for _ in intervals]
    lines = ["s# = {" + ", ".join(repr(float(start)) for _, start, _ in intervals) + "}",
             "e# = {" + ", ".join(repr(float(end)) for _, _, end in intervals) + "}",
             "for i to size (s#)"]
    for k, (command, arguments) in enumerate(queries):
        lines.append(f"  q{k} = {command}: s# [i], e# [i], {arguments}")
    lines.append("  appendInfoLine: " + ", \" \", ".join(f"q{k}" for k in range(len(queries))))
    lines.append("endfor")
    printed = run(analysis, "\n".join(lines), capture_output=True)[1]
    answers = [tuple(math.nan if word == "--undefined--" else float(word) for word in line.split(" "))
               for line in printed.splitlines()]
    if len(answers) != len(intervals) or any(len(a) != len(queries) for a in answers):
        raise GanphonError(f"Praat answered {len(answers)} lines for {len(intervals)} intervals")
    return answers


def duration_rows(sound, job, intervals, add, why):
    """``duration`` of every interval, from the TextGrid (``why``: the sound could not be read)."""
    for label, start, end in intervals:
        add(label, start, end, None, math.nan, "duration", end - start, why)


def pitch_rows(sound, job, intervals, add, why):
    """``f0`` at the points and ``f0_mean``, ``f0_min``, ``f0_max`` of every interval (To Pitch (ac))."""
    if why:
        for label, start, end in intervals:
            add.blank(label, start, end, ("f0",), point_times(start, end, job.points), why)
            add.blank(label, start, end, ("f0_mean", "f0_min", "f0_max"), None, why)
        return
    s = job.settings
    pitch = sound.to_pitch_ac(
        time_step=None, pitch_floor=s.pitch_floor, max_number_of_candidates=PITCH_MAX_CANDIDATES,
        very_accurate=PITCH_VERY_ACCURATE, silence_threshold=s.silence_threshold,
        voicing_threshold=s.voicing_threshold, octave_cost=s.octave_cost,
        octave_jump_cost=s.octave_jump_cost, voiced_unvoiced_cost=s.voiced_unvoiced_cost,
        pitch_ceiling=s.pitch_ceiling)
    window = PERIODS_PER_PITCH_WINDOW / s.pitch_floor
    summaries = iter(interval_queries(pitch, PITCH_SUMMARY_QUERIES, intervals))
    for label, start, end in intervals:
        short = _short_note(start, end, window, "pitch")
        for i, t in enumerate(point_times(start, end, job.points), 1):
            value = pitch.get_value_at_time(t, HERTZ, LINEAR)
            add(label, start, end, i, t, "f0", value, _join_notes(short, "unvoiced" if math.isnan(value) else ""))
        for measure, value in zip(("f0_mean", "f0_min", "f0_max"), next(summaries)):
            add(label, start, end, None, math.nan, measure, value,
                _join_notes(short, "no voiced frame in interval" if math.isnan(value) else ""))


def intensity_rows(sound, job, intervals, add, why):
    """``intensity`` at the points, ``intensity_mean`` and ``intensity_max`` of every interval."""
    if why:
        for label, start, end in intervals:
            add.blank(label, start, end, ("intensity",), point_times(start, end, job.points), why)
            add.blank(label, start, end, ("intensity_mean", "intensity_max"), None, why)
        return
    s = job.settings
    intensity = sound.to_intensity(minimum_pitch=s.intensity_minimum_pitch, time_step=None,
                                   subtract_mean=s.subtract_mean)
    window = INTENSITY_WINDOW_PER_PERIOD / 2 / s.intensity_minimum_pitch  # effective duration 3.2 / min pitch
    peaks = iter(interval_queries(intensity, INTENSITY_PEAK_QUERIES, intervals))
    for label, start, end in intervals:
        short = _short_note(start, end, window, "intensity")
        for i, t in enumerate(point_times(start, end, job.points), 1):
            value = intensity.get_value(t, CUBIC)
            add(label, start, end, i, t, "intensity", value, _join_notes(short, _undefined(value)))
        mean = intensity.get_average(start, end, ENERGY)
        add(label, start, end, None, math.nan, "intensity_mean", mean, _join_notes(short, _undefined(mean)))
        (peak,) = next(peaks)
        add(label, start, end, None, math.nan, "intensity_max", peak, _join_notes(short, _undefined(peak)))


def formant_rows(sound, job, intervals, add, why):
    """``f1``, ``f2``, ``f3`` at the points of every interval (To Formant (burg))."""
    if why:
        for number in (1, 2, 3):
            for label, start, end in intervals:
                add.blank(label, start, end, (f"f{number}",), point_times(start, end, job.points), why)
        return
    s = job.settings
    formant = sound.to_formant_burg(time_step=None, max_number_of_formants=s.number_of_formants,
                                    maximum_formant=s.maximum_formant, window_length=s.formant_window_length,
                                    pre_emphasis_from=s.pre_emphasis_from)
    for number in (1, 2, 3):
        for label, start, end in intervals:
            short = _short_note(start, end, s.formant_window_length, "formant")
            for i, t in enumerate(point_times(start, end, job.points), 1):
                value = formant.get_value_at_time(number, t)
                add(label, start, end, i, t, f"f{number}", value, _join_notes(short, _undefined(value)))


def interval_spectrum(sound: parselmouth.Sound, start: float, end: float,
                      settings: MeasureSettings = MeasureSettings(), band=None) -> parselmouth.Spectrum:
    """Praat's spectrum of ``sound`` from ``start`` to ``end``: ``Extract part`` with the
    settings' window shape, then ``To Spectrum`` (the spectral moments of :func:`measure`).

    ``band`` (Hz): the bins above it are set to 0 (``Formula: "if x > band then 0 else self fi"``),
    so the moments of an upsampled layer series are those inside its native band.
    """
    shape = getattr(parselmouth.WindowShape, settings.spectrum_window_shape.upper())
    spectrum = sound.extract_part(start, end, shape, 1.0, False).to_spectrum(fast=True)
    if band is not None:
        # Praat's Formula "if x > <band> then 0 else self fi" on both rows (re, im), in numpy on the Spectrum's own
        # samples (a view): x of bin i is x1 + (i − 1)·dx, as Praat computes it; the band as the formula reads it
        spectrum.values[:, _first_bin_above(spectrum, float(hz(band))):] = 0.0
    return spectrum


def _first_bin_above(spectrum, cut: float) -> int:
    """Index of the first bin whose frequency ``x1 + i·dx`` (as Praat computes it) exceeds ``cut``.

    The frequencies rise with ``i``, so the bins above form the tail: the estimate from
    ``(cut − x1) / dx`` is moved by single bins, each tested with the formula itself.
    """
    x1, dx, nx = spectrum.x1, spectrum.dx, spectrum.nx
    i = min(max(int((cut - x1) / dx), 0), nx)
    while i > 0 and x1 + (i - 1) * dx > cut:
        i -= 1
    while i < nx and not x1 + i * dx > cut:
        i += 1
    return i


def spectral_moments(spectrum: parselmouth.Spectrum, power: float = 2.0) -> dict:
    """``cog``, ``sd``, ``skewness``, ``kurtosis`` of a Spectrum, the numbers Praat's ``Get centre of
    gravity``, ``Get standard deviation``, ``Get skewness`` and ``Get kurtosis`` give, bit for bit.

    Praat computes each from central moments (``Spectrum_getCentralMoment``, itself a
    loop over the bins after one for the centre of gravity): the standard deviation is
    √m2, the skewness m3 / (m2 √m2), the kurtosis m4 / m2² − 3, so asking for the four
    numbers runs the loops for m2 three times.  Here each central moment is asked for
    once (``Get central moment``) and the same formulas are applied to the same doubles:
    seven loops instead of eleven, the same results (tests/test_acoustics.py).

    Bins past the last nonzero one (a layer's spectrum above its native band, set to 0) add
    exact zeros to every sum in those loops, so they are left out first: the same doubles
    from a shorter loop (a conv2 series' spectrum keeps 1 bin in 64).
    """
    spectrum = _without_zero_tail(spectrum)
    cog = spectrum.get_centre_of_gravity(power)
    m2, m3, m4 = (spectrum.get_central_moment(moment, power) for moment in (2.0, 3.0, 4.0))
    undefined = math.isnan(m2) or m2 == 0.0
    return {"cog": cog, "sd": math.sqrt(m2) if not math.isnan(m2) else math.nan,
            "skewness": math.nan if undefined or math.isnan(m3) else m3 / (m2 * math.sqrt(m2)),
            "kurtosis": math.nan if undefined or math.isnan(m4) else m4 / (m2 * m2) - 3.0}


def _without_zero_tail(spectrum: parselmouth.Spectrum) -> parselmouth.Spectrum:
    """``spectrum`` without its trailing bins whose real and imaginary parts are both 0 (the same ``x1``
    and ``dx``); the spectrum itself where nothing would be left out or its bins could not be kept."""
    values = spectrum.values
    if values[0, -1] != 0.0 or values[1, -1] != 0.0:  # nothing to leave out (a sound's own spectrum)
        return spectrum
    nonzero = np.flatnonzero(values.any(axis=0))
    kept = int(nonzero[-1]) + 1 if nonzero.size else 0
    if kept < 2 or kept >= spectrum.nx:
        return spectrum
    head = np.empty(kept, dtype=np.complex128)
    head.real, head.imag = values[0, :kept], values[1, :kept]
    shorter = parselmouth.Spectrum(head, spectrum.x1 + (kept - 1) * spectrum.dx)
    # Praat's Spectrum starts at 0 Hz with dx = maximum / (n − 1): used only where that is the same grid
    if shorter.x1 != spectrum.x1 or shorter.dx != spectrum.dx or shorter.nx != kept:
        return spectrum
    return shorter


def spectrum_rows(sound, job, intervals, add, why):
    """The spectral moments and ``max_intensity`` of every interval (inside the native band)."""
    s = job.settings
    intensity_why = why or measure_guard("max_intensity", s, sound.sampling_frequency,
                                         sound.xmax - sound.xmin, job.who, job.native_rate)
    intensity = None
    if not intensity_why:
        intensity = sound.to_intensity(minimum_pitch=s.max_intensity_minimum_pitch, time_step=None,
                                       subtract_mean=s.subtract_mean)
    band = None
    rate = sound.sampling_frequency if sound is not None else math.nan
    if sound is not None:
        rate = effective_rate(sound.sampling_frequency, job.native_rate)
        band = rate / 2.0 if rate < sound.sampling_frequency else None
    peaks = iter(interval_queries(intensity, INTENSITY_PEAK_QUERIES, intervals))
    for label, start, end in intervals:
        moments = dict.fromkeys(("cog", "sd", "skewness", "kurtosis"), math.nan)
        moments_why = why
        if not why:
            # the samples of the native series inside the interval
            held = samples_between(sound, start, end) if band is None else \
                native_samples_between(start, end, sound.xmin, rate)
            moments_why = spectrum_guard(held, s, job.who) or ""
            if not moments_why:
                moments = spectral_moments(interval_spectrum(sound, start, end, s, band), s.spectrum_power)
        for measure, value in moments.items():
            add(label, start, end, None, math.nan, measure, value, moments_why or _undefined(value))
        (value,) = next(peaks)
        add(label, start, end, None, math.nan, "max_intensity", value, intensity_why or _undefined(value))


def clip_intervals(intervals, xmin, xmax, dx):
    """Intervals clipped to a sound's time domain, with a note on each one that was changed.

    An interval reaching more than half a sample period past the sound's start
    or end is measured within the sound (its ``start`` / ``end`` and so its
    duration are the clipped ones); one lying wholly outside keeps the
    TextGrid's times and has no value at all.  ``measure_all.praat`` applies
    the same rule with the same note.

    Returns
    -------
    intervals : list of (label, start, end)
    notes : dict
        (label, start, end) of a changed interval → its note.
    outside : set
        The keys of intervals lying wholly outside the sound.
    """
    clipped, notes, outside = [], {}, set()
    for label, start, end in intervals:
        where = f"interval {ms(start)} to {ms(end)} ms"
        domain = f"the sound ({ms(xmin)} to {ms(xmax)} ms)"
        if start >= xmax or end <= xmin:
            notes[(label, start, end)] = f"{where} lies outside {domain}"
            outside.add((label, start, end))
        elif end > xmax + dx / 2 or start < xmin - dx / 2:
            start, end = max(start, xmin), min(end, xmax)
            notes[(label, start, end)] = f"{where} runs past {domain}, measured within it"
        clipped.append((label, start, end))
    return clipped, notes, outside


def samples_between(sound, start, end) -> int:
    """Number of samples ``Extract part`` takes from [start, end] (Praat's window samples)."""
    return math.floor((end - sound.x1) / sound.dx) - math.ceil((start - sound.x1) / sound.dx) + 1


def _short_note(start, end, window, what) -> str:
    length = end - start
    if math.isfinite(length) and length < window:
        return f"interval {length * 1000:.1f} ms shorter than {what} window {window * 1000:.1f} ms"
    return ""


def _undefined(value) -> str:
    return "undefined" if math.isnan(value) else ""


def _rows_to_frame(rows) -> pd.DataFrame:
    """The long table of ``rows`` (tuples in :data:`TABLE_COLUMNS` order), built column by column."""
    if not rows:
        frame = pd.DataFrame.from_records(rows, columns=TABLE_COLUMNS)
        frame["point"] = pd.array([], dtype="Int64")
        for column in _NUMBER_COLUMNS:
            frame[column] = frame[column].astype(float)
        return frame
    # one column at a time (zip(*rows) over thousands of rows costs 2.5× as much)
    columns = {name: list(map(operator.itemgetter(i), rows)) for i, name in enumerate(TABLE_COLUMNS)}
    points = columns["point"]
    missing = np.fromiter((p is None for p in points), dtype=bool, count=len(points))
    numbers = np.fromiter((0 if p is None else p for p in points), dtype=np.int64, count=len(points))
    data = {}
    for name, values in columns.items():
        if name == "point":
            data[name] = pd.arrays.IntegerArray(numbers, missing)
        elif name in _NUMBER_COLUMNS:
            data[name] = np.array(values, dtype=float)
        else:
            data[name] = pd.array(values, dtype=_TEXT)
    return pd.DataFrame(data)


_TEXT = pd.DataFrame({"x": ["a"]})["x"].dtype  # the dtype pandas gives text columns
#: Float columns of the long table (``f0_artefact``: Hz, NaN where a value is on no artefact).
_NUMBER_COLUMNS = ("start", "end", "time", "value", "f0_artefact")
#: The note of a file whose sound could not be measured at all (:func:`_measure_job`'s ``failure``), after
#: any note on its TextGrid: the reason, which names the file (a TextGrid that cannot be read is not one:
#: its sound is measured whole).
#: ``measure_all.praat`` writes ``cannot read NAME`` without Praat's message.
_UNREAD_NOTE = (r"(?:^|; )(cannot read (?![^;:]*\.TextGrid(?:$|[:;]))[^;:]+(?:: [^;]*)?"
                r"|[^;:]+: (?:sound has no samples|NaN/inf samples))")


def check_measures(measures) -> tuple:
    measures = tuple(name_list(measures, "measures") or ())
    unknown = [m for m in measures if m not in MEASURE_NAMES]
    if unknown or not measures:
        raise ParameterError("measures", f"unknown measure(s) {', '.join(unknown) or '(none given)'}; "
                                         f"choose from {', '.join(ALL_MEASURES)}")
    # table order does not depend on the order asked for
    return tuple(m for m in ALL_MEASURES if m in measures)


# --------------------------------------------------------------------------
# A folder


@dataclass(frozen=True)
class FileEntry:
    """One file to measure: its path, TextGrid and layer (None when unknown).

    A layer whose WAV was not written (``source``: its native Sound) is measured on
    the Sound upsampled in memory to ``size`` samples at ``sr`` Hz, clipped to
    ±``clip`` when the run clipped: the samples the WAV would hold.  A file read as
    it is holds ``size`` samples at ``sr`` Hz by its manifest row (0: unknown); one
    that does not is a row's note, not a measurement on its own time base.
    """

    path: Path
    textgrid: Path | None
    layer: str | None
    native_rate: float | None = None  # the manifest's rate_native_hz; None: the file's own rate
    source: Path | None = None
    size: int = 0
    sr: float = 0.0
    clip: float | None = None


def collect_files(folder_or_manifest, inputs="wav"):
    """The files a folder asks to be measured, and its manifest (or None).

    Parameters
    ----------
    folder_or_manifest : str or Path
        An exported folder, its ``manifest.csv``, or any folder of sounds.
    inputs : {"wav", "sound"}
        Measure the WAVs (upsampled layers) or the native-rate ``.Sound`` files.

    Returns
    -------
    folder : Path
    entries : list of FileEntry
    manifest : pandas.DataFrame or None
    """
    if inputs not in INPUTS:
        raise GanphonError(f"inputs must be one of {', '.join(INPUTS)}, got {inputs!r}")
    target = Path(folder_or_manifest)
    if target.is_file() and target.suffix.lower() == ".csv":
        folder, manifest_path = target.parent, target
    elif target.is_dir():
        folder, manifest_path = target, target / layout.MANIFEST
    else:
        raise GanphonError(f"{target}: no such folder or manifest")
    layout.check_entries(folder)  # a named pipe or a folder where a file is read: refused, not skipped
    manifest = None
    entries = []
    if manifest_path.is_file():
        manifest = read_manifest(manifest_path, inputs)
        column = "file" if inputs == "wav" else "sound_file"
        clip = io.run_clip(folder) if inputs == "wav" else None
        upsampled = inputs == "wav" and {"sound_file", "slice_len", "sr"} <= set(manifest.columns)
        for row in manifest.itertuples(index=False):
            path = folder / getattr(row, column)
            source = None
            if upsampled and not path.is_file() and isinstance(row.sound_file, str):
                candidate = folder / row.sound_file
                if candidate.suffix == ".Sound" and candidate.is_file():
                    source = candidate
            textgrid = None
            if "textgrid" in manifest.columns and isinstance(row.textgrid, str) and row.textgrid:
                candidate = folder / row.textgrid
                textgrid = candidate if candidate.is_file() else None
            else:
                textgrid = find_textgrid(path)
            rate = getattr(row, "rate_native_hz", None)
            rate = float(rate) if rate is not None and pd.notna(rate) and float(rate) > 0 else None
            layer = str(row.layer) if isinstance(row.layer, str) else None
            if source is None:  # the file itself, checked against the samples and rate its row gives
                expect_rate, expect_n = io.manifest_shape(row, native=inputs == "sound")
                entries.append(FileEntry(path, textgrid, layer, rate, None, expect_n or 0, expect_rate or 0.0))
            else:
                entries.append(FileEntry(path, textgrid, layer, rate, source, int(row.slice_len), float(row.sr),
                                         clip))
    else:
        extension = _EXTENSIONS[inputs]
        for path in layout.with_suffix(folder, f".{extension}"):
            entries.append(FileEntry(path, find_textgrid(path), layer_from_name(path.name)))
        if not entries:
            raise GanphonError(f"{folder}: no *.{extension} files to measure{layout.store_hint(folder)}")
    return folder, entries, manifest


def layer_rates(source) -> tuple:
    """Layer → native rate (Hz), in network order, and the slice duration (s), of what ``source`` names.

    ``source``: an exported folder (its manifest's ``rate_native_hz``), a
    store, or a checkpoint (``demo`` or a file: the model's own layers).
    """
    from .timebase import native_rate, slice_duration

    path = Path(source)
    if str(source) == "demo" or path.is_file() and path.suffix.lower() != ".csv":
        from .models import load_checkpoint
        from .probe import layer_lengths

        model = load_checkpoint(source, qnetwork=False)
        cfg = model.config
        lengths = layer_lengths(model.generator)
        rates = {layer: native_rate(n, cfg.slice_len, cfg.sr) for layer, (_, n) in lengths.items()
                 if layer != layout.OUTPUT_LAYER}
        rates[layout.OUTPUT_LAYER] = float(cfg.sr)
        return {layer: rates[layer] for layer in layout.sort_layers(rates)}, slice_duration(cfg.slice_len, cfg.sr)
    from .store import is_store, open_store

    if path.is_dir() and is_store(path):
        st = open_store(path)
        rates = {layer: native_rate(st.series(layer).shape[1], st.slice_len, st.sr)
                 for layer in (layout.OUTPUT_LAYER, *st.layers)}
        return {layer: rates[layer] for layer in layout.sort_layers(rates)}, slice_duration(st.slice_len, st.sr)
    manifest_path = path if path.is_file() else path / layout.MANIFEST
    if not manifest_path.is_file():
        raise GanphonError(f"{source}: no {layout.MANIFEST} to take the layers' native rates from "
                           "(give an exported folder, a store or --checkpoint)")
    manifest = io.read_manifest(manifest_path, required=["layer", "rate_native_hz"])
    firsts = manifest.drop_duplicates("layer").set_index("layer")
    rates = {str(layer): float(firsts.loc[layer, "rate_native_hz"]) for layer in layout.sort_layers(firsts.index)}
    duration = None
    if {"slice_len", "sr"} <= set(firsts.columns):
        duration = slice_duration(int(firsts["slice_len"].iloc[0]), int(firsts["sr"].iloc[0]))
    return rates, duration


def read_manifest(path, inputs="wav") -> pd.DataFrame:
    """Read an exported folder's ``manifest.csv`` and check the columns measuring needs."""
    needed = ["file", "sample_id", "layer"] + (["sound_file"] if inputs == "sound" else [])
    manifest = io.read_manifest(path, required=needed)
    key = "file" if inputs == "wav" else "sound_file"
    if manifest[key].isna().any():
        raise GanphonError(f"{path}: empty '{key}' in row(s) "
                           f"{', '.join(str(i + 2) for i in np.flatnonzero(manifest[key].isna())[:5])}")
    return manifest  # each file listed once: io.read_manifest checks it


def join_manifest(table: pd.DataFrame, manifest: pd.DataFrame, inputs="wav") -> pd.DataFrame:
    """Add the manifest's columns to a long table, matched by file name (:func:`ganphon.io.join_manifest`).

    The manifest's sweep column ``value`` becomes ``sweep_value`` (``value``
    is always the measured value); its file-name columns are dropped (the
    table's ``file`` names the measured file).
    """
    return io.join_manifest(table, manifest, "file" if inputs == "wav" else "sound_file")


def measure(folder_or_manifest, measures=ALL_MEASURES,
            tier="auto", points=10, layer_settings="default", workers=None, inputs="wav",
            progress=True, artefacts="auto", join=True, scheduler=None) -> pd.DataFrame:
    """Measure every file of a folder with parselmouth, in parallel processes.

    Parameters
    ----------
    folder_or_manifest : str or Path
        An exported ganphon folder (or its ``manifest.csv``), or any folder of
        ``name.wav`` (+ ``name.TextGrid``) files.
    measures : sequence of str
        Families among ``pitch``, ``intensity``, ``formants``, ``spectrum``, ``duration``.
    tier : str or None
        Interval tier whose labelled intervals are measured (``auto``, made
        by :func:`ganphon.annotate.annotate_folder`); None: whole files.  A tier no
        TextGrid has is an error; files without it are measured whole, with a note.
    points : int
        Normalised time points per interval for f0, intensity and f1–f3.
    layer_settings : str, MeasureSettings or dict
        ``default``, ``paper-wavegan``, ``paper-ciwgan``, ``praat``, one settings object,
        or a dict layer → settings (see :func:`ganphon.praat.resolve_layer_settings`);
        each layer's settings are clipped to its native band
        (:func:`ganphon.praat.settings_table` shows them).
    workers : int, optional
        Worker processes (default: CPU count, at most the number of files);
        1 measures in this process.
    scheduler : DaskScheduler, optional
        Measure the batches as Dask tasks instead (:func:`ganphon.parallel_dask.use_scheduler`).
    inputs : {"wav", "sound"}
        Measure the layers at 16 kHz — their WAVs, or where only the native Sound
        was written, that Sound upsampled in memory to the WAV's samples — or the
        native-rate ``.Sound`` layer series themselves.
        Either way what a layer can carry is decided by its native rate.
    progress : bool
        Show a progress bar.
    artefacts : "auto", None or sequence of float
        F0s flagged in ``f0_artefact``: ``auto``, the generator's stack
        periods (from the folder's ``run.json``/manifest) and each layer's
        native rate, with ½ and ⅓ of each; None: no flags; or these
        frequencies (Hz) for every file.
    join : bool
        Join the manifest's columns (False: the table's own columns only; join
        later with :func:`ganphon.io.join_manifest`).

    Returns
    -------
    pandas.DataFrame
        The long acoustic table (``file … value, note, f0_artefact``), joined with the
        manifest's columns (``sample_id``, ``layer``, latent columns,
        ``sweep_value`` …) when the folder has a ``manifest.csv``.
    """
    measures = check_measures(measures)
    points = check_points(points)
    resolved = resolve_layer_settings(layer_settings)
    folder, entries, manifest = collect_files(folder_or_manifest, inputs)
    check_tier(entries, tier, folder)
    for entry in entries:  # Praat would zero-pad a cut WAV without a word
        if entry.path.suffix.lower() == ".wav" and entry.source is None:
            io.check_wav_complete(entry.path)
    flags = entry_artefacts(folder, entries, manifest, artefacts)
    settings = {}  # resolved once per layer and native rate, not per file
    for e in entries:
        if (e.layer, e.native_rate) not in settings:
            settings[e.layer, e.native_rate] = settings_for_layer(e.layer, resolved, e.native_rate)
    jobs = [_Job(str(e.path), None if e.textgrid is None else str(e.textgrid), tier or None, points,
                 measures, settings[e.layer, e.native_rate], e.layer or e.path.name,
                 e.native_rate, flag, None if e.source is None else str(e.source), e.size, e.sr, e.clip)
            for e, flag in zip(entries, flags)]
    from .parallel import Interrupted

    try:
        frames = measure_jobs(jobs, workers=workers, progress=progress, scheduler=scheduler)
    except Interrupted as stop:  # Ctrl-C: the files measured so far, for measure_to_file to keep
        stop.table = _concat(stop.finished())
        if manifest is not None and join:
            stop.table = join_manifest(stop.table, manifest, inputs)
        stop.manifest, stop.n_files = manifest, len(jobs)
        raise
    table = _concat(frames)
    if manifest is not None and join:
        table = join_manifest(table, manifest, inputs)
    return table


def entry_artefacts(folder, entries, manifest, artefacts="auto") -> list:
    """The artefact frequencies of each entry (see :func:`measure`'s ``artefacts``)."""
    if artefacts is None:
        return [()] * len(entries)
    if not isinstance(artefacts, str):
        fixed = artefact_frequencies(artefacts)
        return [fixed] * len(entries)
    if artefacts != "auto":
        raise GanphonError(f"artefacts must be 'auto', None or a list of frequencies, got {artefacts!r}")
    if manifest is None:  # a folder of recordings: no generator, no layers
        return [()] * len(entries)
    stack = generator_stack(folder, manifest)
    return [artefact_frequencies(stack, None if e.layer in (None, layout.OUTPUT_LAYER) else e.native_rate)
            for e in entries]


def flag_artefacts(table: pd.DataFrame, by_file: dict) -> np.ndarray:
    """The ``f0_artefact`` column of a long table: for each F0 row, the artefact frequency its value
    lies on (file → frequencies in ``by_file``), else NaN."""
    out = np.full(len(table), np.nan)
    pitch = table["measure"].isin(PITCH_MEASURES).to_numpy() & table["value"].notna().to_numpy()
    files = table["file"].to_numpy()
    values = table["value"].to_numpy(dtype=float)
    for file in pd.unique(files[pitch]):
        frequencies = by_file.get(file, ())
        if frequencies:
            rows = pitch & (files == file)
            out[rows] = on_artefact(values[rows], frequencies)
    return out


def check_points(points) -> int:
    try:
        n = int(points)
    except (TypeError, ValueError):
        raise ParameterError("points", f"must be a whole number ≥ 1, got {points!r}") from None
    if not 1 <= n <= MAX_POINTS or n != points:
        raise ParameterError("points", f"must be a whole number from 1 to {MAX_POINTS:,}, got {points!r}")
    return n


#: The most normalised time points an interval is measured at (each is a row per point measure)
MAX_POINTS = 1000


def check_tier(entries, tier, folder) -> None:
    """Raise when a tier is asked for and no TextGrid of the folder has it, or an annotation writing it
    stopped part-way (:func:`ganphon.annotate.check_finished`)."""
    if not tier:
        return
    from .annotate import check_finished

    check_finished(folder, tier)
    seen = set()
    for entry in entries:
        if entry.textgrid is None or entry.textgrid in seen:
            continue
        seen.add(entry.textgrid)
        if textgrid_has_tier(entry.textgrid, tier):
            return
    if not seen:
        raise ParameterError("tier", f"{folder} has no TextGrids to take tier '{tier}' from; "
                                     "measure whole files (tier '') or add TextGrids")
    hint = " (run 'ganphon annotate' first)" if tier == "auto" else ""
    first = min(seen)
    try:  # what the first TextGrid holds: a tier typed 'Words' for 'words', or saved as 'words ', shows
        names = io.read_textgrid(first).get_tier_names()
    except GanphonError:
        names = []
    if names:
        hint += f"; {first.name} has tier{'s' if len(names) > 1 else ''} " + \
            ", ".join(repr(name) for name in names[:8]) + (" …" if len(names) > 8 else "")
    raise GanphonError(f"{folder}: no TextGrid has an interval tier '{tier}'{hint}")


def measure_jobs(jobs, workers=None, progress=True, scheduler=None) -> list:
    """Measure ``jobs`` in ``workers`` processes, a batch of whole samples per task.

    Each task measures consecutive files sharing a TextGrid together (the grid is
    read once) and returns its rows as one table built in the worker, so the
    parent only concatenates.  Returns the batches' tables in job order; on
    Ctrl-C raises :class:`ganphon.parallel.Interrupted` whose ``finished()``
    are the tables of the batches that had finished.
    """
    from .parallel import check_workers, map_jobs

    workers = check_workers(workers, max(1, len(jobs)))
    batches = sample_batches(jobs, workers)
    return map_jobs(_measure_batch, batches, workers=workers, progress=progress, desc="measure", unit="file",
                    preload=WORKER_MODULES, max_chunk=1, sizes=[len(b) for b in batches], scheduler=scheduler)


#: What a measuring worker imports (parselmouth, numpy, pandas; never torch: a layer's Sound is
#: upsampled in numpy); ``ganphon measure`` starts them importing before it reads the folder.
WORKER_MODULES = (__name__,)


def sample_batches(jobs, workers: int, per_worker: int = 4, largest: int = 48) -> list:
    """``jobs`` cut into consecutive batches, never splitting the files of one TextGrid (a sample).

    Guided sizes: each batch takes about ``remaining / (workers × per_worker)`` files (at most
    ``largest``, at least one sample), so the batches shrink towards the end and the last ones
    are single samples: the workers finish within about one sample of each other.
    """
    groups: list = []  # runs of consecutive files sharing a TextGrid; a file without one alone
    for job in jobs:
        if groups and job.textgrid is not None and job.textgrid == groups[-1][-1].textgrid:
            groups[-1].append(job)
        else:
            groups.append([job])
    batches, remaining, i = [], len(jobs), 0
    while i < len(groups):
        target = max(1, min(largest, math.ceil(remaining / (workers * per_worker))))
        batch: list = []
        while i < len(groups) and (not batch or len(batch) + len(groups[i]) <= target):
            batch += groups[i]
            i += 1
        batches.append(batch)
        remaining -= len(batch)
    return batches


def _measure_batch(jobs) -> pd.DataFrame:
    """The rows of a batch of files, as one table (built in the worker process)."""
    rows: list = []
    for job in jobs:
        rows += _measure_job(job)
    return _rows_to_frame(rows)


def _concat(frames) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else _rows_to_frame([])


# --------------------------------------------------------------------------
# Through Praat itself


def measure_with_script(folder_or_manifest, measures=ALL_MEASURES, tier="auto", points=10,
                        layer_settings="default", inputs="wav", engine="praat", praat_path=None,
                        artefacts="auto", join=True) -> pd.DataFrame:
    """Measure a folder with the bundled ``measure_all.praat`` run by Praat.

    Same arguments and result as :func:`measure` (``join`` too), for results computed by a Praat executable
    (``engine="praat"``) or by parselmouth's bundled Praat running the script.
    Each layer is measured in a run of its own, with its settings and its
    native rate (the script's ``Native rate`` field), so the script applies
    the band rule as :func:`measure` does: the same empty rows, with the same notes.

    The script flags the same rows as :func:`measure`, with the same notes
    for the file and its intervals (an unreadable sound or TextGrid, a
    missing tier, overlapping intervals, intervals past the sound, a silent
    file) and for what a layer cannot carry; a note there may lack the detail
    after ``:`` that Praat's error message adds in Python.  Notes on single
    values (unvoiced, undefined, too short for a window) are Python's only.
    ``f0_artefact`` is computed from the script's F0 values as :func:`measure`
    computes it from its own.
    """
    from .praat import run_script

    measures = check_measures(measures)
    alone = [family for family in measures if FAMILIES[family].script is None]
    if alone:
        raise GanphonError(f"no bundled Praat script measures {', '.join(alone)}; measure "
                           f"{'it' if len(alone) == 1 else 'them'} with the parselmouth engine")
    points = check_points(points)
    resolved = resolve_layer_settings(layer_settings)
    folder, entries, manifest = collect_files(folder_or_manifest, inputs)
    check_tier(entries, tier, folder)
    wanted = {m for family in measures for m in MEASURE_NAMES[family]}
    # one script run per layer (its settings and native rate), and per extension:
    # a "sound" folder's output layer is a WAV
    runs: dict = {}
    for entry in entries:
        key = (settings_for_layer(entry.layer, resolved, entry.native_rate), entry.path.suffix.lstrip("."),
               entry.native_rate, entry.layer)
        runs.setdefault(key, set()).add(entry.path.name)
    parts = []
    with _script_folder(folder, entries) as where:
        for (settings, extension, rate, layer), names in runs.items():
            table = run_script("measure_all", where, engine=engine, praat_path=praat_path, settings=settings,
                               extension=extension, name_pattern=f"*_{layer}" if layer else "*", tier=tier or "",
                               number_of_points=points, native_rate=hz(rate) if rate else "file")
            parts.append(table[table["file"].isin(names) & table["measure"].isin(wanted)])
    table = pd.concat(parts, ignore_index=True)
    table["note"] = table["note"].fillna("") if "note" in table.columns else ""
    order = {e.path.name: i for i, e in enumerate(entries)}
    table = table[table["file"].isin(order)]
    table = table.sort_values("file", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)
    by_file = dict(zip((e.path.name for e in entries), entry_artefacts(folder, entries, manifest, artefacts)))
    table["f0_artefact"] = flag_artefacts(table, by_file)
    table = table[TABLE_COLUMNS]
    if manifest is not None and join:
        table = join_manifest(table, manifest, inputs)
    return table


@contextlib.contextmanager
def _script_folder(folder: Path, entries):
    """The folder Praat's script measures: ``folder`` itself, or, when layers are stored only as native
    Sounds, a temporary folder holding every file's link and the layers' WAVs written from the Sounds
    (:func:`ganphon.io.read_series`: the samples an export with ``--wav-layers`` writes)."""
    if not any(entry.source is not None for entry in entries):
        yield folder
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ganphon_praat_") as tmp:
        where = Path(tmp)
        for entry in entries:
            target = where / entry.path.name
            if entry.source is not None:
                x, sr = io.read_series(entry.path, entry.source, entry.size, int(entry.sr), entry.clip)
                io.write_wav(target, x, sr)
            elif entry.path.exists() and not target.exists():
                target.symlink_to(entry.path.resolve())
            if entry.textgrid is not None and not (where / entry.textgrid.name).exists():
                (where / entry.textgrid.name).symlink_to(Path(entry.textgrid).resolve())
        yield where


# --------------------------------------------------------------------------
# Command line


def measured_folder(folder, out=None) -> Path:
    """The folder ``measure`` writes into: ``out``'s, or the measured folder (a manifest's)."""
    target = Path(folder)
    return Path(out).parent if out else (target.parent if target.is_file() else target)


@layout.writes_into(lambda a: measured_folder(a["folder"], a["out"]))  # another process writing the folder is refused
def measure_to_file(folder, out=None, *, engine: str = "parselmouth", measures=None, tier="auto",
                    points: int = 10, settings: str = "default", inputs: str = "wav", workers=None,
                    praat_path=None, command: str | None = None, progress: bool = True, overwrite: bool = False,
                    scheduler=None, join: bool = True):
    """Measure a folder and write the table (default ``DIR/acoustics.csv``) with its run record.

    An existing table is replaced only by the same measurement (engine, tier,
    points, inputs, measures, settings — as its record ``<table>.json`` says)
    or with ``overwrite``: two measurements never silently share one file.

    Parameters
    ----------
    folder : path-like
        Exported folder (or its manifest.csv), or a folder of name.wav + name.TextGrid.
    out : path-like, optional
        The table to write; a JSON record of the settings goes beside it.
    engine : {"parselmouth", "praat"}
        Measure in Python with parselmouth (parallel) or run ``measure_all.praat`` in Praat.
    measures, tier, points, settings, inputs, workers, praat_path
        As :func:`measure` / :func:`measure_with_script`; ``tier`` None measures whole files.
    command : str, optional
        The command recorded next to the table.
    overwrite : bool
        Replace a table holding a different measurement.
    join : bool
        Return the table joined with the manifest (False: its own columns, as Parquet holds them).

    Returns
    -------
    table : DataFrame
    out : Path
    elapsed : float
        Seconds spent measuring.

    Raises
    ------
    GanphonError
        If ``out`` holds a different (or unrecorded) measurement and ``overwrite`` is off.
    """
    measures = check_measures(measures if measures is not None else ALL_MEASURES)
    request = dict(engine=engine, tier=tier, points=points, inputs=inputs, measures=list(measures),
                   settings=settings)
    base, out, chosen = _plan_table(folder, out, request, overwrite)
    read = io.measured_inputs(base, tier is not None)  # what is measured, before it is read
    state = io.input_state(base)
    started = _time.perf_counter()
    table = _measure_for_file(folder, out, chosen, request, workers=workers, praat_path=praat_path,
                              progress=progress, scheduler=scheduler)
    elapsed = _time.perf_counter() - started
    # a folder another command wrote while it was read (annotated again; measure --out elsewhere does not
    # hold it) would give a table of two annotations under the digest of one (the digests again only when
    # a file changed)
    changed = []
    if io.input_state(base) != state:
        changed = io.input_changes(read, io.measured_inputs(base, tier is not None))
    if changed:
        raise GanphonError(f"{base}: {' and '.join(changed)} while it was being measured; no table written, "
                           "measure it again")
    manifest = _manifest_of(folder, inputs)
    out = _table_path(out, len(table), chosen)
    with layout.all_or_nothing():  # the table and its record as one: stopped in between, the earlier pair stays
        written = _write_acoustics(table, out, manifest, inputs)
        write_measure_record(out.with_suffix(".json"), command=command, **request,
                             read=read, timings={"measure": elapsed},
                             table=out)
        _remove_superseded(out, base, chosen)
    if not join:
        return table, out, elapsed
    if manifest is not None and io.is_parquet(out):
        written = join_manifest(table, manifest, inputs)
    return written, out, elapsed


def _plan_table(folder, out, request: dict, overwrite: bool) -> tuple:
    """Where :func:`measure_to_file` writes, checked before anything is measured.

    Returns ``(base, out, chosen)``: the measured folder, the table's path and
    whether that path is the default name.  Raises when the table cannot be
    written there, when it would overwrite what the measurement reads, or when
    it (or the other default name) holds a different measurement and
    ``overwrite`` is off.
    """
    from .layout import check_plan

    target = Path(folder)
    base = target.parent if target.is_file() else target
    chosen = out is None  # the default name: CSV below io.CSV_MAX_ROWS rows, else Parquet
    out = Path(out) if out else base / layout.ACOUSTICS
    _check_can_write(out)  # before measuring, not after (and before a folder's name is taken for a file's)
    partial = out.with_name(f"{out.stem}.partial{out.suffix}")
    read = {"the measured table": target} if target.is_file() else {}
    read.update({"the folder's manifest": base / layout.MANIFEST, "the folder's run record": base / layout.RUN_JSON})
    if out.parent.resolve() == base.resolve() and out.suffix.lower() in (".wav", ".textgrid", ".sound"):
        read["a measured file"] = out
    check_plan({"--out": out, "its settings record": out.with_suffix(".json"), "its partial table": partial},
               read)
    io.check_record_slot(out.with_suffix(".json"), "measure")  # never over a file of the user's (notes.json)
    if not _measure_table(out):  # nor over a ganphon folder's own file (another export's manifest or WAV)
        layout.check_not_folder_file(out.parent, out, "--out")
    if out.exists() and not overwrite:
        _check_same_measurement(out, **request)
    if chosen and not overwrite and (base / layout.ACOUSTICS_PARQUET).is_file():
        _check_same_measurement(base / layout.ACOUSTICS_PARQUET, **request)
    return base, out, chosen


def _measure_table(path: Path) -> bool:
    """Whether ``path`` is a table ``measure`` wrote (its record beside it says so), or would by default."""
    if path.name in (layout.ACOUSTICS, layout.ACOUSTICS_PARQUET):
        return True
    try:
        return io.read_record(path.with_suffix(".json")).get("kind") == "measure"
    except GanphonError:
        return False


def _measure_for_file(folder, out: Path, chosen: bool, request: dict, *, workers, praat_path, progress,
                      scheduler=None):
    """The table of :func:`measure_to_file`, without the manifest's columns.

    With parselmouth, a Ctrl-C keeps the files measured so far in
    ``<table>.partial.csv`` (a name no later stage reads) before it is raised.
    """
    common = dict(measures=request["measures"], tier=request["tier"], points=request["points"],
                  layer_settings=request["settings"], inputs=request["inputs"], join=False)
    if request["engine"] != "parselmouth":
        return measure_with_script(folder, engine="praat", praat_path=praat_path, **common)
    from .parallel import Interrupted

    try:
        return measure(folder, workers=workers, progress=progress, scheduler=scheduler, **common)
    except Interrupted as stop:  # keep what was measured, under a name no later stage reads
        if getattr(stop, "table", None) is not None and len(stop.table):
            path = _table_path(out, len(stop.table), chosen)
            partial = path.with_name(f"{path.stem}.partial{path.suffix}")
            _write_acoustics(stop.table, partial, stop.manifest, request["inputs"])
            stop.args = (f"{stop.table['file'].nunique()} of {stop.n_files} files measured, kept in {partial}",)
        raise


def _remove_superseded(out: Path, base: Path, chosen: bool) -> None:
    """Delete the tables a finished measurement replaces: an interrupted run's partial table, and for
    the default name the other default name's table (no two tables in one folder)."""
    for stale in (out.with_name(f"{out.stem}.partial{suffix}") for suffix in (".csv", ".parquet")):
        if len(os.fsencode(stale.name)) <= layout.NAME_MAX and stale.is_file():  # a longer name cannot be there
            layout.discard(stale)  # an interrupted run's table, now complete (put back if this command fails)
    if chosen:  # the other default name may hold an earlier measurement
        other = base / (layout.ACOUSTICS if out.name == layout.ACOUSTICS_PARQUET else layout.ACOUSTICS_PARQUET)
        if other.is_file():
            layout.discard(other)


def _table_path(out: Path, rows: int, chosen: bool) -> Path:
    """Where a table of ``rows`` rows goes: ``out``, or for the default name Parquet above
    :data:`ganphon.io.CSV_MAX_ROWS` rows."""
    if chosen and rows > io.CSV_MAX_ROWS:
        return out.with_name(layout.ACOUSTICS_PARQUET)
    return out


def _manifest_of(folder, inputs):
    """The manifest of a measured folder, or None."""
    target = Path(folder)
    path = target if target.is_file() else target / layout.MANIFEST
    return read_manifest(path, inputs) if path.is_file() else None


def file_layers(folder, inputs="wav") -> dict | None:
    """File → layer of a measured folder's manifest (the names the table's ``file`` holds), or None."""
    manifest = _manifest_of(folder, inputs)
    if manifest is None:
        return None
    return dict(zip(manifest["file" if inputs == "wav" else "sound_file"], manifest["layer"]))


def _write_acoustics(table: pd.DataFrame, out: Path, manifest, inputs) -> pd.DataFrame:
    """Write an acoustic table: as Parquet its own columns (:func:`ganphon.io.read_acoustics` joins the
    manifest), as CSV joined with the manifest, ready for a spreadsheet or R.  Returns what was written."""
    if manifest is not None and not io.is_parquet(out):
        table = join_manifest(table, manifest, inputs)
    try:
        io.write_table(table, out)
    except OSError as exc:  # a full disk: name the table (the error itself names no file)
        raise GanphonError(f"{out}: cannot write the table ({os_problem(exc)})") from None
    return table


def _check_can_write(out: Path) -> None:
    """Raise unless a table can be written at ``out`` (a file name in a writable folder)."""
    if out.is_dir():
        raise ParameterError("out", f"{out} is a folder; give a file name such as {out / layout.ACOUSTICS}")
    probe = layout.sibling(out, "tmp", keep_suffix=True)  # atomic_path's name
    try:
        probe.open("xb").close()
        probe.unlink()
    except OSError as exc:
        raise GanphonError(f"{out}: cannot write the table there ({os_problem(exc)})") from None


def _measurement(record: dict) -> dict:
    """What makes two tables the same measurement (not the command, versions or time)."""
    return {key: record.get(key) for key in ("engine", "tier", "points", "inputs", "measures", "settings")}


def _check_same_measurement(out: Path, **request) -> None:
    """Refuse to replace ``out`` unless its record describes the measurement ``request``."""
    import json

    record_path = out.with_suffix(".json")
    hint = "write this one elsewhere with --out FILE, or replace it with --overwrite"
    try:
        previous = io.read_record(record_path)["request"] or {}
    except GanphonError:
        raise GanphonError(f"{out}: exists without a readable record of how it was measured ({record_path.name}); "
                           f"{hint}") from None
    request["settings"] = {layer: s.to_fields() for layer, s in resolve_layer_settings(request["settings"]).items()}
    old, new = _measurement(previous), _measurement(json.loads(json.dumps(request)))
    differ = [key for key in old if old[key] != new[key]]
    if differ:
        what = ", ".join(f"{key} {old[key]!r} → {new[key]!r}" if key not in ("settings", "measures") else key
                         for key in differ)
        raise GanphonError(f"{out}: holds a different measurement ({what}); {hint}")


def write_measure_record(path, *, command, engine, tier, points, inputs, measures, settings, read=None,
                         timings=None, table=None) -> None:
    """Write what produced a table (:func:`ganphon.io.run_record`, kind ``measure``): the measurement as its
    request (engine, tier, points, inputs, measures, settings per layer), versions, ``read``: digests of
    the folder it measured (:func:`ganphon.io.measured_inputs`), and ``table``: the table file written, whose
    digest the record keeps (``table_sha256``) so that a table and a record of another measurement are
    never read as a pair (:func:`ganphon.io.table_mismatch`)."""
    request = {"engine": engine, "tier": tier, "points": points, "inputs": inputs, "measures": measures,
               "settings_preset": settings if isinstance(settings, str) else None,
               "settings": {layer: s.to_fields() for layer, s in resolve_layer_settings(settings).items()}}
    fields = {"table_sha256": io.file_digest(table)} if table is not None else {}
    io.write_run_record(path, io.run_record("measure", command=command, request=request, modules=("parselmouth",),
                                            inputs=read, timings=timings, **fields))


def summary(table: pd.DataFrame, elapsed: float, out, layers=None) -> str:
    """A few lines saying what was measured and what could not be.

    ``layers``: file → layer, for a table without the manifest's ``layer`` column (default: the
    files are named).
    """
    lines = [f"measured {table['file'].nunique()} files, {len(table)} rows in {elapsed:.1f} s -> {out}"]
    codes, names = pd.factorize(table["measure"], sort=False)  # the measures in order of appearance
    defined = table["value"].notna().to_numpy()
    totals = np.bincount(codes[codes >= 0], minlength=len(names))
    counts = np.bincount(codes[codes >= 0], weights=defined[codes >= 0], minlength=len(names)).astype(int)
    lines.append("defined values: " + ", ".join(f"{m} {c}/{n}" for m, c, n in zip(names, counts, totals)))
    if "note" in table.columns:
        # the tests on the distinct notes (a few hundred), not on every row
        note_codes, distinct = pd.factorize(table["note"].astype(str), use_na_sentinel=False)
        distinct = pd.Series(distinct)
        empty = ~defined & distinct.ne("").to_numpy()[note_codes]
        band = empty & distinct.str.contains("native (?:Nyquist|sampling period)", regex=True).to_numpy()[note_codes]
        if band.any():
            if "layer" in table.columns:
                named = table["layer"][band]
            elif layers is not None:
                named = table["file"][band].drop_duplicates().map(layers)
            else:
                named = table["file"][band]
            lines.append(f"empty by the band rule (the layer's native rate cannot carry them): {int(band.sum())} "
                         f"values in {', '.join(layout.sort_layers(named.dropna().astype(str).unique()))}")
        # a file none of whose values could be measured is named whatever its share of the NaNs
        unread = distinct.str.extract(_UNREAD_NOTE, expand=False)
        has = unread.notna().to_numpy()[note_codes]
        if has.any():
            files = pd.DataFrame({"file": table["file"].to_numpy()[has],
                                  "why": unread.to_numpy()[note_codes[has]]}).drop_duplicates("file")
            shown = "; ".join(files["why"].head(3)) + (f"; and {len(files) - 3} more" if len(files) > 3 else "")
            lines.append(f"not measured, {len(files)} file(s) unreadable or without usable samples "
                         f"(their rows are NaN with the reason in 'note'): {shown}")
        # a TextGrid made for another version of its sound: named whether or not its values are defined
        spans = distinct.str.extract(DOMAIN_NOTE_PATTERN, expand=False)
        has = spans.notna().to_numpy()[note_codes]
        if has.any():
            files = pd.DataFrame({"file": table["file"].to_numpy()[has],
                                  "why": spans.to_numpy()[note_codes[has]]}).drop_duplicates("file")
            shown = "; ".join(f"{f}: {why}" for f, why in zip(files["file"].head(3), files["why"].head(3)))
            lines.append(f"measured at the times of a TextGrid that does not span its sound, {len(files)} file(s) "
                         f"(check that each TextGrid belongs to its sound; 'note' says so on every row): {shown}"
                         + (f"; and {len(files) - 3} more" if len(files) > 3 else ""))
        rest = note_codes[empty & ~band]
        if len(rest):
            # the distinct notes in order of first appearance, each repeated as often as it occurs:
            # value_counts sees the rows' counts and first-appearance order
            order = pd.unique(rest)
            shown = distinct.iloc[order].str.replace(r"^[^:;]*: ", "", regex=True)
            repeated = shown.repeat(np.bincount(rest)[order]).reset_index(drop=True)
            for note, count in repeated.value_counts().head(5).items():
                lines.append(f"  NaN ({count}): {note}")
    if "f0_artefact" in table.columns and table["f0_artefact"].notna().any():
        flagged = table["f0_artefact"].dropna()
        top = flagged.round(2).value_counts().head(4)
        pitch = int(table["measure"].isin(PITCH_MEASURES).sum())
        lines.append(f"F0 values on generator artefact frequencies (f0_artefact; left out of 'ganphon stats' "
                     f"unless --include-artefacts): {len(flagged)} of {pitch} "
                     f"({', '.join(f'{f:g} Hz: {n}' for f, n in top.items())})")
    return "\n".join(lines)
