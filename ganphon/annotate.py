"""Automatic segmentation into silence, frication and voicing.

:func:`segment` cuts a sound into intervals labelled

* ``sil`` — silence or stop closure: intensity far below the file's peak;
* ``fric`` — aperiodic noise: unvoiced, loud enough, with its energy high in
  the spectrum (centre of gravity above ``fric_cog``);
* ``voi`` — periodic: Praat's pitch analysis finds the frame voiced;

then merges intervals shorter than ``min_duration`` into a neighbour.
:func:`annotate_folder` writes the result as an interval tier ``auto`` into each
sample's TextGrid (other tiers kept, file replaced atomically); with
``layers`` it segments the layer WAVs into ``auto_<layer>`` tiers too.  On a
generator's outputs it applies the buzz rule by default: a voiced run at the
upsampling stack's own periods (:func:`buzz_runs`; an [s] carrying the
generator's 333 Hz buzz) is not ``voi``.  The
``auto`` intervals found on the output are what ``ganphon measure --tier
auto`` measures on every layer, as the paper reused the output's vowel
intervals for Conv3 and Conv4.

:func:`evaluate` scores the segmentation against a corpus whose TextGrids have
a ground-truth ``phones`` tier (e.g. ``ganphon corpus synth``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import parselmouth
import tgt

from . import io, layout
from .errors import GanphonError, ParameterError, name_list
from .measures import ARTEFACT_TOLERANCE, artefacts_by_layer, generator_stack
from .timebase import domain_note

LABELS = layout.AUTO_LABELS
AUTO_TIER = "auto"
#: Relative distance (0.5 %) from a machine-buzz frequency within which a frame's F0 is that buzz.
BUZZ_TOLERANCE = ARTEFACT_TOLERANCE

#: Class of every ground-truth phone label (those of the synthetic corpus, :mod:`ganphon.corpus.synth`),
#: as the segmentation is meant to find it: closures are silent, voiceless releases are noise, voiced
#: releases count as voiced.  The one table; the corpus labels its phones with it.
PHONE_CLASS = {
    "sil": "sil",
    "pcl": "sil", "tcl": "sil", "kcl": "sil", "bcl": "sil", "dcl": "sil", "gcl": "sil",
    "s": "fric", "p": "fric", "t": "fric", "k": "fric",
    "b": "voi", "d": "voi", "g": "voi",
    "v": "voi",
    "ɑ": "voi", "i": "voi", "u": "voi",
    "m": "voi", "n": "voi",
    "l": "voi", "ɹ": "voi", "j": "voi",
}


#: Frames analysed at once (5.5 min of sound at 5 ms): a recording of an hour segments in ≈ 0.3 GB more than the
#: sound itself, not ≈ 4 GB (every frame's samples and spectrum at once); a generator's output is one block
FRAME_BLOCK = 65536
#: The frame steps a segmentation takes (s): a frame every 0.5 to 100 ms
MIN_TIME_STEP, MAX_TIME_STEP = 0.0005, 0.1


@dataclass(frozen=True)
class SegmentSettings:
    """Settings of the automatic segmentation.

    Parameters
    ----------
    time_step : float
        Frame step (s) of the classification.
    window : float
        Window (s) of the frame intensity and spectrum.
    silence_db : float
        A frame quieter than the file's loudest frame by more than this (dB) is ``sil``.
    fric_cog : float
        Unvoiced frames above the silence level with a spectral centre of gravity at
        least this high (Hz) are ``fric``.
    noise_db : float
        Unvoiced frames within this many dB of the loudest frame are ``fric`` whatever
        their spectrum (aspiration through a vowel's formants has a low centre of
        gravity); quieter low-frequency noise (e.g. a closure's murmur) is ``sil``.
    pitch_floor, pitch_ceiling : float
        ``To Pitch (ac)`` range (Hz) deciding voicing.
    voicing_threshold : float
        ``To Pitch (ac)`` voicing threshold.
    min_duration : float
        Intervals shorter than this (s) are merged into a neighbour.
    """

    time_step: float = 0.005
    window: float = 0.010
    silence_db: float = 30.0
    fric_cog: float = 2000.0
    noise_db: float = 25.0
    pitch_floor: float = 75.0
    pitch_ceiling: float = 600.0
    voicing_threshold: float = 0.45
    min_duration: float = 0.020

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise GanphonError(f"annotate: {f.name} must be a positive number, got {value!r}")
        if self.pitch_floor >= self.pitch_ceiling:
            raise GanphonError("annotate: pitch_floor must be below pitch_ceiling")
        if not MIN_TIME_STEP <= self.time_step <= MAX_TIME_STEP:  # one frame per sound, or a billion
            raise ParameterError("time_step", f"must be between {MIN_TIME_STEP:g} and {MAX_TIME_STEP:g} s, "
                                 f"got {self.time_step:g}")


# --------------------------------------------------------------------------
# Segmenting one sound


def buzz_runs(voiced, f0, buzz) -> np.ndarray:
    """Frames of the voiced runs that are a machine's buzz, not a voice.

    A run of consecutive ``voiced`` frames whose F0 lies within
    :data:`BUZZ_TOLERANCE` of one of the ``buzz`` frequencies (Hz) in half of its
    frames or more is a buzz as a whole; a voice drifting through such a
    frequency passes it in a few frames and keeps its run.
    """
    voiced = np.asarray(voiced, bool)
    f0 = np.asarray(f0, float)
    at = np.zeros(voiced.size, bool)
    for a in buzz:
        at |= voiced & (np.abs(f0 - a) <= BUZZ_TOLERANCE * a)
    out = np.zeros(voiced.size, bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(int), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        if at[start:stop].mean() >= 0.5:
            out[start:stop] = True
    return out


def frame_labels(sound: parselmouth.Sound, settings: SegmentSettings = SegmentSettings()):
    """Label every frame of a sound ``sil``, ``fric`` or ``voi``.

    Returns
    -------
    times : numpy.ndarray
        Frame centres (s), ``xmin + (k + 0.5) * time_step``.
    labels : numpy.ndarray of str
    """
    times, labels, _ = _analyse(sound, settings)
    return times, labels


def _analyse(sound, settings, buzz=()):
    """Frame times, labels and signal power (window-corrected) of a sound (``buzz``: see :func:`segment`)."""
    x = sound.values.mean(axis=0) if sound.n_channels > 1 else sound.values[0]
    if x.size == 0:
        raise GanphonError("sound has no samples")
    if not np.isfinite(x).all():
        raise GanphonError("sound has NaN/inf samples")
    sr = sound.sampling_frequency
    n_frames = max(1, int(round((sound.xmax - sound.xmin) / settings.time_step)))
    times = sound.xmin + (np.arange(n_frames) + 0.5) * settings.time_step
    # sample index of each frame centre, from the sound's own time axis
    centres = np.round((times - sound.x1) * sr).astype(int)
    half = max(1, int(round(settings.window * sr / 2)))
    window = np.hanning(2 * half + 1)
    # each frame's samples, the sound's first and last sample repeated past its ends (edge padding)
    offsets = np.arange(2 * half + 1) - half
    freqs = np.fft.rfftfreq(offsets.size, 1.0 / sr)
    power, cog = np.empty(n_frames), np.empty(n_frames)
    for start in range(0, n_frames, FRAME_BLOCK):  # a block of frames at a time: a long recording fits in memory
        block = slice(start, start + FRAME_BLOCK)
        frames = x[np.clip(np.clip(centres[block], 0, x.size - 1)[:, None] + offsets, 0, x.size - 1)]
        # per-frame mean removal: a layer series is non-negative with a slowly moving offset,
        # and an offset is neither noise nor voice
        frames = (frames - frames.mean(axis=1, keepdims=True)) * window
        power[block] = np.mean(frames ** 2, axis=1) / np.mean(window ** 2)
        spectrum = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        total = spectrum.sum(axis=1)
        cog[block] = np.divide(spectrum @ freqs, total, out=np.zeros_like(total), where=total > 0)
    level = 10 * np.log10(np.maximum(power, 1e-30))
    loud = level >= level.max() - settings.silence_db if power.max() > 0 else np.zeros(n_frames, bool)

    voiced = np.zeros(n_frames, bool)
    if settings.pitch_ceiling < sr / 2 and sound.xmax - sound.xmin >= 3.0 / settings.pitch_floor:
        pitch = sound.to_pitch_ac(time_step=settings.time_step, pitch_floor=settings.pitch_floor,
                                  voicing_threshold=settings.voicing_threshold,
                                  pitch_ceiling=settings.pitch_ceiling)
        frequency = pitch.selected_array["frequency"]
        pitch_times = pitch.xs()
        nearest = np.clip(np.round((times - pitch_times[0]) / pitch.dt).astype(int), 0, len(frequency) - 1)
        inside = (times >= pitch_times[0] - pitch.dt / 2) & (times <= pitch_times[-1] + pitch.dt / 2)
        voiced = (frequency[nearest] > 0) & inside
        if buzz:
            voiced &= ~buzz_runs(voiced, frequency[nearest], buzz)

    noisy = (cog >= settings.fric_cog) | (level >= level.max() - settings.noise_db)
    labels = np.where(~loud, "sil", np.where(voiced, "voi", np.where(noisy, "fric", "sil")))
    return times, labels.astype(object), power


def merge_short(intervals, min_duration):
    """Merge intervals shorter than ``min_duration`` into their neighbours.

    The shortest interval goes first.  At either end of the sound it joins its
    one neighbour; between two neighbours it is split at its midpoint, half to
    each, because the boundary it blurs most likely lies inside it.  Adjacent
    intervals with the same label are then joined.

    Parameters
    ----------
    intervals : list of [start, end, label]
    min_duration : float

    Returns
    -------
    list of [start, end, label]
    """
    segs = _join_same([list(s) for s in intervals])
    while len(segs) > 1:
        lengths = [e - s for s, e, _ in segs]
        i = int(np.argmin(lengths))
        if lengths[i] >= min_duration:
            break
        if i == 0:
            segs[1][0] = segs[0][0]
        elif i == len(segs) - 1:
            segs[i - 1][1] = segs[i][1]
        else:
            middle = (segs[i][0] + segs[i][1]) / 2
            segs[i - 1][1] = middle
            segs[i + 1][0] = middle
        del segs[i]
        segs = _join_same(segs)
    return segs


def _join_same(segs):
    out = []
    for seg in segs:
        if out and out[-1][2] == seg[2]:
            out[-1][1] = seg[1]
        else:
            out.append(list(seg))
    return out


def segment(sound, settings: SegmentSettings = SegmentSettings(), buzz=()):
    """Segment a sound into ``sil`` / ``fric`` / ``voi`` intervals.

    Parameters
    ----------
    sound : parselmouth.Sound or path
    settings : SegmentSettings
    buzz : sequence of float
        F0s (Hz) of a machine's own periodicity, e.g. a generator's upsampling
        stack (:func:`ganphon.models.config.stack_frequencies`): a voiced run
        at one of them (:func:`buzz_runs`) is not ``voi`` but classified as
        unvoiced (``fric`` or ``sil``), so an [s] carrying the buzz stays an [s].

    Returns
    -------
    list of (start, end, label)
        Contiguous intervals covering the sound's time domain, none shorter
        than ``settings.min_duration`` (unless the sound itself is).
    """
    if not isinstance(sound, parselmouth.Sound):
        sound = io.read_sound(sound)
    times, labels, power = _analyse(sound, settings, buzz)
    edges = np.concatenate([[sound.xmin], (times[:-1] + times[1:]) / 2, [sound.xmax]])
    raw = [[edges[k], edges[k + 1], labels[k]] for k in range(len(labels))]
    segs = merge_short(raw, settings.min_duration)
    segs = refine_silence_edges(sound, segs, power.max() * 10 ** (-settings.silence_db / 10), settings.window)
    # refining can leave a stretch between silence and voicing below the minimum
    segs = merge_short(segs, settings.min_duration)
    return [(float(s), float(e), str(lab)) for s, e, lab in segs]


def refine_silence_edges(sound, segs, threshold, reach, fine=0.001):
    """Move each boundary between silence and sound to where the sound starts or stops.

    A frame counts as loud as soon as its window reaches the sound, so frame
    boundaries fall up to half a window into the silence.  Here the boundary
    goes to the first (or after the last) ``fine``-second block, within
    ``reach`` seconds of it, whose power reaches ``threshold``.

    Parameters
    ----------
    sound : parselmouth.Sound
    segs : list of [start, end, label]
    threshold : float
        Signal power (mean square, offset removed) that is not silence.
    reach : float
        How far (s) a boundary may move.
    fine : float
        Block length (s).

    Returns
    -------
    list of [start, end, label]
    """
    x = sound.values.mean(axis=0) if sound.n_channels > 1 else sound.values[0]
    sr = sound.sampling_frequency
    width = max(2, int(round(fine * sr)))
    n_blocks = x.size // width
    if n_blocks < 2 or len(segs) < 2:
        return segs
    blocks = x[: n_blocks * width].reshape(n_blocks, width)
    power = np.mean((blocks - blocks.mean(axis=1, keepdims=True)) ** 2, axis=1)
    if power.max() <= 0 or not threshold > 0:
        return segs
    starts = sound.x1 - 0.5 / sr + np.arange(n_blocks) * width / sr
    refined = [list(s) for s in segs]
    for k in range(1, len(refined)):
        before, after = refined[k - 1], refined[k]
        if (before[2] == "sil") == (after[2] == "sil"):
            continue
        boundary = after[0]
        low = max(before[0], boundary - reach)
        high = min(after[1], boundary + reach)
        inside = np.flatnonzero((starts >= low) & (starts + width / sr <= high))
        if inside.size == 0:
            continue
        loud = inside[power[inside] >= threshold]
        if loud.size == 0:
            continue
        new = starts[loud[0]] if before[2] == "sil" else starts[loud[-1]] + width / sr
        if before[0] < new < after[1]:
            before[1] = after[0] = float(new)
    return refined


# TextGrids and sounds are read and written by ganphon.io; these names stay importable from here.
read_textgrid = io.read_textgrid
set_interval_tier = io.set_interval_tier


def annotate_file(sound_path, textgrid_path, tier=AUTO_TIER, settings: SegmentSettings = SegmentSettings(),
                  buzz=(), shape=(None, None)):
    """Segment one sound and write the intervals as ``tier`` into its TextGrid.

    The TextGrid is created (spanning the sound) when it does not exist.
    ``buzz``: as for :func:`segment`.  ``shape``: the ``(rate, n)`` its manifest
    row gives a sample's output (:func:`ganphon.io.manifest_shape`); an output
    that differs is an error naming it, not a TextGrid on its own time base.

    Returns
    -------
    list of (start, end, label)
    """
    sound = io.read_layer_sound(sound_path)  # a layer stored as its Sound only: upsampled in memory
    if any(shape):
        io.check_native(sound, sound_path, rate=shape[0], n=shape[1], what="output")
    try:
        intervals = segment(sound, settings, buzz=buzz)
    except GanphonError as exc:
        raise GanphonError(f"{sound_path}: {exc}") from None
    textgrid_path = Path(textgrid_path)
    grid = io.read_textgrid(textgrid_path) if textgrid_path.is_file() else tgt.TextGrid()
    if grid.tiers:
        xmin, xmax = grid.start_time, grid.end_time
        _check_domain(textgrid_path, xmin, xmax, sound)
    else:
        xmin, xmax = sound.xmin, sound.xmax
    io.write_textgrid(textgrid_path, io.set_interval_tier(grid, tier, intervals, xmin, xmax))
    return intervals


def _check_domain(textgrid_path, xmin: float, xmax: float, sound) -> None:
    """Refuse a TextGrid made for another version of its sound (:func:`ganphon.timebase.domain_note`): the
    intervals found on the sound would not line up with its tiers (or fall outside it and be lost)."""
    other = domain_note((xmin, xmax), sound.xmin, sound.xmax, sound.dx)
    if other:
        raise GanphonError(f"{textgrid_path}: {other}; intervals found on the sound would not line up with its "
                           "tiers: correct it, or move it away")


def find_samples(folder):
    """The sounds to annotate in a folder and the TextGrid of each.

    Returns
    -------
    kind : {"ganphon", "plain"}
        ``ganphon``: an exported folder (``ID_output.wav`` + ``ID.TextGrid``);
        ``plain``: any folder of ``name.wav`` (+ ``name.TextGrid``).
    samples : list of (sample_id, output_wav, textgrid)
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GanphonError(f"{folder}: not a folder")
    layout.check_entries(folder)  # a named pipe or a folder where a file is read: refused, not skipped
    manifest = folder / layout.MANIFEST
    samples = []
    if manifest.is_file():
        table = io.read_manifest(manifest)
        for row in table[table["layer"] == layout.OUTPUT_LAYER].itertuples(index=False):
            grid = row.textgrid if "textgrid" in table.columns and isinstance(row.textgrid, str) else \
                layout.textgrid(row.sample_id)
            samples.append((row.sample_id, folder / row.file, folder / grid))
        if not samples:
            raise GanphonError(f"{manifest}: no rows with layer '{layout.OUTPUT_LAYER}'")
        return "ganphon", samples
    for path in layout.listed(sorted(folder.iterdir())):
        parsed = layout.parse_sample_file(path.name)
        if parsed is not None and parsed[1] == layout.OUTPUT_LAYER and path.suffix == ".wav":
            samples.append((parsed[0], path, folder / layout.textgrid(parsed[0])))
    if samples:
        return "ganphon", samples
    wavs = layout.with_suffix(folder, ".wav")
    if not wavs:
        raise GanphonError(f"{folder}: no .wav files to annotate{layout.store_hint(folder)}")
    return "plain", [(p.stem, p, p.with_suffix(".TextGrid")) for p in wavs]


def folder_buzz(folder, layers=()) -> dict:
    """Tier layer → the buzz frequencies (Hz) of an exported folder's generator (:func:`annotate_folder`).

    The output: the upsampling stack's periods (:func:`ganphon.measures.generator_stack`,
    from the folder's ``run.json`` or manifest); a layer: those and its native rate, ½ and ⅓ of it.
    A folder of given waveforms (a critic's or Q-network's probe) has no stack: its output gets none.
    """
    manifest_path = Path(folder) / layout.MANIFEST
    if not manifest_path.is_file():
        return {}
    manifest = io.read_manifest(manifest_path)
    stack = generator_stack(folder, manifest)
    rates = {layout.OUTPUT_LAYER: None}
    if "rate_native_hz" in manifest.columns:
        firsts = manifest.drop_duplicates("layer").set_index("layer")["rate_native_hz"]
        rates.update({layer: float(firsts[layer]) for layer in layers if layer in firsts.index})
    return artefacts_by_layer(stack, rates)


@layout.writes_into()  # another process writing the folder is refused
def annotate_folder(folder, layers=(), settings: SegmentSettings = SegmentSettings(),
                    progress=True, workers=None, buzz="auto", scheduler=None, command=None) -> pd.DataFrame:
    """Add the automatic tier ``auto`` (and ``auto_<layer>``) to every TextGrid of a folder.

    Parameters
    ----------
    folder : str or Path
        An exported ganphon folder (each sample's ``ID_output.wav`` is
        segmented into ``ID.TextGrid``), or any folder of ``name.wav``
        (+ ``name.TextGrid``, created when missing).
    layers : sequence of str
        Layers whose WAVs (``ID_<layer>.wav``) are segmented the same way
        into tiers ``auto_<layer>`` (exported folders only).
    settings : SegmentSettings
    progress : bool
        Show a progress bar.
    workers : int or None
        Processes (None: one per CPU).  Each sample's TextGrid is written by
        one process, so the result does not depend on the number.
    scheduler : DaskScheduler, optional
        Segment the samples as Dask tasks instead
        (:func:`ganphon.parallel_dask.use_scheduler`).
    buzz : "auto", None or sequence of float
        The buzz rule (:func:`segment`): ``auto``, a generator's stack periods
        for its outputs, plus each layer's native rate (½, ⅓) for its tier
        (:func:`folder_buzz`; nothing for a folder of recordings); None or
        (): no buzz rule (``ganphon annotate --no-buzz-rule``); or these
        frequencies (Hz) for every tier.
    command : str, optional
        The command line recorded in ``annotate.json`` (default: this process's).

    Returns
    -------
    pandas.DataFrame
        One row per interval written: sample_id, tier, start, end, label; the
        settings, the command and the TextGrids' digest go to ``annotate.json``.
        ``attrs["buzz"]``: tier layer → the frequencies used.
    """
    from .parallel import map_jobs

    layers = name_list(layers, "layers") or []
    kind, samples = find_samples(folder)
    if layers and kind != "ganphon":
        raise ParameterError("layers", f"{folder}: needs a folder ganphon exported (manifest.csv, ID_output.wav, "
                                       "ID_<layer>.Sound)")
    manifest = io.read_manifest(folder) if (Path(folder) / layout.MANIFEST).is_file() else None
    if layers:  # a layer the folder does not hold is named as such, not as its first missing file
        listed = manifest if manifest is not None else io.read_manifest(folder)  # none: its error names it
        held = layout.sort_layers(set(listed["layer"].dropna()) - {layout.OUTPUT_LAYER})
        unknown = [layer for layer in layers if layer not in held]
        if unknown:
            raise ParameterError("layers", f"{', '.join(unknown)}: not a layer of {folder} (it holds "
                                           f"{', '.join(held) or 'no layer series'})")
    if buzz == "auto":
        by_layer = folder_buzz(folder, layers) if kind == "ganphon" else {}
    elif buzz is None or isinstance(buzz, str):
        if buzz is not None:
            raise GanphonError(f"buzz must be 'auto', None or a list of frequencies, got {buzz!r}")
        by_layer = {}
    else:
        fixed = tuple(float(f) for f in buzz)
        by_layer = {layer: fixed for layer in (layout.OUTPUT_LAYER, *layers)}
    shapes = {} if manifest is None else {  # each output's (rate, n) by its manifest row
        row["sample_id"]: io.manifest_shape(row)
        for row in manifest[manifest["layer"] == layout.OUTPUT_LAYER].to_dict("records")}
    jobs = []
    for sid, output, grid in samples:
        tiers = [(AUTO_TIER, output, by_layer.get(layout.OUTPUT_LAYER, ()), shapes.get(sid, (None, None)))]
        tiers += [(f"{AUTO_TIER}_{layer}", output.with_name(layout.layer_wav(sid, layer)), by_layer.get(layer, ()),
                   (None, None)) for layer in layers]
        for tier, path, _, _ in tiers:
            if not io.layer_exists(path):
                raise GanphonError(f"{path}: no such file (needed for tier '{tier}')")
        jobs.append((sid, grid, tiers, settings))
    record_path = Path(folder) / layout.ANNOTATE_JSON
    io.check_record_slot(record_path, "annotate", "annotate")  # a file of the user's by that name is kept
    for _, grid, _, _ in jobs:  # the plan: workers rewrite these, a failed command puts them back
        layout.journal_write(grid)
    layout.journal_write(record_path)
    # what makes the tiers, next to them; `textgrids` is the digest acoustics.json names when it measured them
    request = {"tiers": [AUTO_TIER, *(f"{AUTO_TIER}_{layer}" for layer in layers)],
               "settings": dataclasses.asdict(settings),
               "buzz": {layer: [float(f) for f in periods] for layer, periods in by_layer.items()}}
    command = io.command_line(command)
    # tiers an earlier annotation stopped part-way through and this one does not write stay unfinished
    left = {"unfinished": sorted(unfinished_tiers(folder) - set(request["tiers"]))}
    if not left["unfinished"]:
        left = {}
    # the record first says the TextGrids are being rewritten: a run stopped part-way (Ctrl-C, SIGTERM, a
    # kill) leaves TextGrids of two annotations, and a folder that says so (check_finished), not one that
    # measures as if it held one
    io.write_run_record(record_path, io.run_record("annotate", command=command, request=request,
                                                   modules=("parselmouth",), samples=len(jobs), finished=False,
                                                   **left))
    started = time.perf_counter()
    from .parallel import Interrupted

    try:
        per_sample = map_jobs(_annotate_sample, jobs, workers=workers, progress=progress, desc="annotate",
                              unit="sample", preload=WORKER_MODULES, scheduler=scheduler)
    except Interrupted as stop:  # the TextGrids written are kept: the record says the annotation is unfinished
        stop.args = (f"{stop.n_done} of {len(jobs)} samples annotated; {record_path.name} says the annotation "
                     "is unfinished until it is run again",)
        raise
    rows = [row for sample_rows in per_sample for row in sample_rows]
    table = pd.DataFrame(rows, columns=["sample_id", "tier", "start", "end", "label"])
    table.attrs["buzz"] = by_layer
    io.write_run_record(record_path, io.run_record(
        "annotate", command=command, request=request, modules=("parselmouth",),
        timings={"annotate": time.perf_counter() - started}, samples=len(jobs), finished=True,
        textgrids=io.textgrid_digest(folder), **left))
    return table


def unfinished_tiers(folder) -> set:
    """The tiers a folder's ``annotate.json`` says an annotation stopped part-way through: all of its tiers
    while it is unfinished, and those an earlier stopped one wrote that the last did not (``unfinished``)."""
    path = Path(folder) / layout.ANNOTATE_JSON
    if not path.is_file():
        return set()
    try:
        record = io.read_record(path)
    except GanphonError:
        return set()  # not a ganphon record (a file of the user's by that name): nothing said about the TextGrids
    if record.get("kind") != "annotate":
        return set()
    tiers = set(_names(record.get("unfinished")))
    if record.get("finished") is False:
        tiers |= set(_names((record.get("request") or {}).get("tiers")) or [AUTO_TIER])
    return tiers


def _names(value) -> list:
    """The tier names of a record's list (an edited record's other values: none)."""
    return [x for x in value if isinstance(x, str)] if isinstance(value, list) else []


def check_finished(folder, tier) -> None:
    """Refuse a folder whose ``annotate.json`` says an annotation writing ``tier`` stopped before it finished.

    Its TextGrids then hold that tier from two annotations (those rewritten before the stop, the others
    as they were); measuring it would mix them without a word, also after a later annotation of other
    tiers (:func:`unfinished_tiers`).  A record without ``finished`` (an older ganphon's) counts as
    finished.  Raises GanphonError (one line naming the record and the command to run).
    """
    if not tier or tier not in unfinished_tiers(folder):
        return
    path = Path(folder) / layout.ANNOTATE_JSON
    record = io.read_record(path)
    running = record.get("finished") is False and tier in _names((record.get("request") or {}).get("tiers"))
    if running and isinstance(record.get("command"), str):
        again = f"; run it again: {record['command']}"
    else:  # an earlier annotation's tier, which the last one did not write
        layer = tier.removeprefix(f"{AUTO_TIER}_")
        again = f"; annotate it again: ganphon annotate {folder}{f' --layers {layer}' if tier != AUTO_TIER else ''}"
    raise GanphonError(f"{path}: the annotation writing tier '{tier}' stopped before it finished (interrupted "
                       f"or killed), so the TextGrids hold that tier from two annotations{again}")


#: What the workers of :func:`annotate_folder` preload (``ganphon annotate`` starts them with it early).
WORKER_MODULES = (__name__,)


def _annotate_sample(job) -> list:
    """Rows of one sample: each of its tiers segmented and written into its TextGrid."""
    sid, grid, tiers, settings = job
    return [(sid, tier, start, end, label)
            for tier, path, buzz, shape in tiers
            for start, end, label in annotate_file(path, grid, tier, settings, buzz, shape)]


# --------------------------------------------------------------------------
# Evaluation against ground truth


def phone_class(label: str) -> str:
    """Class (``sil``, ``fric`` or ``voi``) of a ground-truth phone label (:data:`PHONE_CLASS`).

    Silence and closures are ``sil``, [s] and the releases of p t k are
    ``fric``, the other phones of the synthetic corpus ``voi``; a label the
    table does not hold is an error naming it (never a silent ``voi``).

    Parameters
    ----------
    label : str
        A label of the ``phones`` tier.

    Returns
    -------
    str
        ``"sil"``, ``"fric"`` or ``"voi"``.
    """
    try:
        return PHONE_CLASS[label]
    except KeyError:
        raise GanphonError(
            f"unknown phone label {label!r}; known labels: {' '.join(PHONE_CLASS)}"
        ) from None


def class_intervals(intervals):
    """Map phone intervals to classes and join neighbours of the same class."""
    return [tuple(s) for s in _join_same([[s, e, phone_class(lab) if lab else "sil"] for s, e, lab in intervals])]


def _label_at(intervals, times):
    starts = np.array([s for s, _, _ in intervals])
    index = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(intervals) - 1)
    return np.array([intervals[i][2] for i in index], dtype=object)


def compare(reference, hypothesis, frame=0.01, xmin=None, xmax=None):
    """Frame agreement and boundary errors between two class segmentations.

    Parameters
    ----------
    reference, hypothesis : list of (start, end, label)
        Contiguous class intervals.
    frame : float
        Frame length (s) of the label accuracy; labels are read at frame centres.

    Returns
    -------
    dict
        ``frames``, ``correct`` (counts), ``boundary_errors`` (s, one per
        internal reference boundary: distance to the nearest hypothesis
        boundary; inf when the hypothesis has none), ``pairs`` (list of
        (reference label, hypothesis label) per frame).
    """
    xmin = reference[0][0] if xmin is None else xmin
    xmax = reference[-1][1] if xmax is None else xmax
    times = xmin + (np.arange(int(round((xmax - xmin) / frame))) + 0.5) * frame
    ref, hyp = _label_at(reference, times), _label_at(hypothesis, times)
    ref_bounds = np.array([s for s, _, _ in reference[1:]])
    hyp_bounds = np.array([s for s, _, _ in hypothesis[1:]])
    if hyp_bounds.size:
        errors = np.abs(ref_bounds[:, None] - hyp_bounds[None, :]).min(axis=1) if ref_bounds.size else np.array([])
    else:
        errors = np.full(ref_bounds.size, np.inf)
    return {"frames": len(times), "correct": int((ref == hyp).sum()), "boundary_errors": errors,
            "pairs": list(zip(ref, hyp))}


def evaluate(corpus_dir, settings: SegmentSettings = SegmentSettings(), tier="phones", frame=0.01,
             limit=None) -> dict:
    """Score the automatic segmentation against a corpus's ground-truth phones.

    Nothing is written: each WAV is segmented in memory and compared with
    its TextGrid's ``tier`` mapped to classes by :func:`phone_class`.

    Parameters
    ----------
    corpus_dir : str or Path
        Folder of ``name.wav`` + ``name.TextGrid`` (with a ``phones`` tier).
    settings : SegmentSettings
    tier : str
        Ground-truth tier.
    frame : float
        Frame length (s) of the label accuracy.
    limit : int, optional
        Evaluate only the first ``limit`` files.

    Returns
    -------
    dict
        ``files``, ``frame_accuracy``, ``median_boundary_error_ms``,
        ``mean_boundary_error_ms``, ``boundaries``, ``boundaries_within_20ms``,
        ``confusion`` (DataFrame: reference rows × automatic columns, frame counts).
    """
    folder = Path(corpus_dir)
    if not folder.is_dir():
        raise GanphonError(f"{folder}: not a folder")
    wavs = layout.with_suffix(folder, ".wav")
    pairs = [(w, w.with_suffix(".TextGrid")) for w in wavs if w.with_suffix(".TextGrid").is_file()]
    if limit:
        pairs = pairs[:limit]
    if not pairs:
        raise GanphonError(f"{folder}: no name.wav + name.TextGrid pairs to evaluate")
    frames = correct = 0
    errors, confusion = [], []
    for wav, grid_path in pairs:
        grid = io.read_textgrid(grid_path)
        if not grid.has_tier(tier):
            raise GanphonError(f"{grid_path}: no tier '{tier}' to evaluate against")
        phones = [(i.start_time, i.end_time, i.text) for i in grid.get_tier_by_name(tier).intervals]
        reference = class_intervals(phones)
        sound = io.read_sound(wav)
        _check_domain(grid_path, grid.start_time, grid.end_time, sound)
        hypothesis = segment(sound, settings)
        result = compare(reference, hypothesis, frame, xmin=sound.xmin, xmax=sound.xmax)
        frames += result["frames"]
        correct += result["correct"]
        errors.extend(result["boundary_errors"].tolist())
        confusion.extend(result["pairs"])
    errors = np.array(errors)
    table = pd.crosstab(pd.Series([r for r, _ in confusion], name="reference"),
                        pd.Series([h for _, h in confusion], name="auto"))
    finite = errors[np.isfinite(errors)]
    return {
        "files": len(pairs),
        "frame_accuracy": correct / frames,
        "median_boundary_error_ms": float(np.median(errors) * 1000) if errors.size else math.nan,
        "mean_boundary_error_ms": float(finite.mean() * 1000) if finite.size else math.nan,
        "boundaries": int(errors.size),
        "boundaries_within_20ms": float(np.mean(errors <= 0.020)) if errors.size else math.nan,
        "confusion": table,
    }


def format_evaluation(result: dict) -> str:
    """The lines ``ganphon annotate --evaluate`` prints."""
    lines = [
        f"files: {result['files']}",
        f"frame label accuracy (10 ms frames): {result['frame_accuracy']:.3f}",
        f"median boundary error: {result['median_boundary_error_ms']:.1f} ms "
        f"(mean {result['mean_boundary_error_ms']:.1f} ms, {result['boundaries']} boundaries, "
        f"{result['boundaries_within_20ms']:.0%} within 20 ms)",
        "frames, reference (rows) by automatic label (columns):",
        result["confusion"].to_string(),
    ]
    return "\n".join(lines)
