"""A folder of WAV files as training items.

One file gives one item: mono, at ``sr``, zero-padded at the end to
``slice_len`` samples or cut to its first ``slice_len`` samples.  Nothing is
cropped at random (random onset cropping deletes word onsets) and nothing is
normalised unless asked for (per-file peak normalisation divides silence by
zero).  Every change made to a file is counted in a :class:`LoadReport`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path

import numpy as np
import scipy
import scipy.signal
from tqdm import tqdm

from .. import layout
from ..errors import GanphonError, ParameterError
from ..io import created, prepare_folder, read_wav, versions
from ..timebase import DEFAULT_SR, slice_duration


@dataclass
class LoadReport:
    """What :func:`load_folder` did to a folder.

    Attributes
    ----------
    n_items : int
        Items returned (one per readable file).
    n_resampled : int
        Files at another sampling rate, resampled to ``sr``.
    n_mixed : int
        Files with several channels, mixed down to mono.
    n_cut : int
        Files longer than the slice, cut to their first ``slice_len`` samples.
    n_skipped : int
        Files that could not be used.
    skipped : list of (str, str)
        ``(file, reason)`` for every skipped file.
    files : list of str
        The file behind each item, in item order (paths relative to the folder).
    slice_len, sr : int
        The slice the items were fitted to.
    """

    n_items: int = 0
    n_resampled: int = 0
    n_mixed: int = 0
    n_cut: int = 0
    n_skipped: int = 0
    skipped: list = field(default_factory=list)
    files: list = field(default_factory=list)
    slice_len: int = 16384
    sr: int = DEFAULT_SR

    def summary(self) -> str:
        """One line, e.g. ``412 items; 3 resampled, 1 stereo mixed down, 5 cut to 1.024 s, 2 skipped``."""
        seconds = f"{slice_duration(self.slice_len, self.sr):g}"
        return (
            f"{self.n_items} items; {self.n_resampled} resampled, "
            f"{self.n_mixed} stereo mixed down, {self.n_cut} cut to {seconds} s, "
            f"{self.n_skipped} skipped"
        )


def find_wavs(folder):
    """All ``.wav`` files under ``folder`` (any case of the suffix), sorted.

    Hidden files (names starting with ``.``, such as macOS ``._x.wav`` or
    half-written temporaries) are left out; a name holding a line break or
    another control character is an error (:func:`ganphon.layout.listed`).

    Parameters
    ----------
    folder : path

    Returns
    -------
    list of pathlib.Path
    """
    folder = Path(folder)
    found = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        # every entry but a folder: a broken link is skipped, named; a named pipe, socket or device refused (listed)
        if p.suffix.lower() == ".wav" and not p.is_dir():
            layout.listed([folder.joinpath(*rel.parts[:i + 1]) for i in range(len(rel.parts))],  # plain names
                          broken_links="keep")
            found.append(p)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def wav_folder(path, parameter: str | None = None) -> tuple:
    """``(folder, its WAV files)``; a missing folder or one without WAVs is a one-line error.

    With ``parameter`` (the API parameter that named ``path``) "not a folder" is
    a :class:`~ganphon.errors.ParameterError`, which the command line prints as
    the option's error.
    """
    folder = Path(path)
    if not folder.is_dir():
        if parameter:
            raise ParameterError(parameter, f"{folder}: not a folder of WAV files")
        raise GanphonError(f"{folder}: not a folder")
    files = find_wavs(folder)
    if not files:
        raise GanphonError(f"{folder}: no .wav files found (searched sub-folders too)")
    return folder, files


#: Folders whose WAVs a model generated (a training run's previews, a probe's or the demo's outputs and layers)
GENERATED_KINDS = ("training", "export", "demo")


def check_not_generated(folder: Path, files) -> None:
    """Refuse training items from a folder ganphon wrote its generated sounds into.

    ``folder`` or a sub-folder holding one of ``files`` that is a training run,
    an export (``probe``, ``sweep``) or a demo folder (:func:`ganphon.layout.folder_kind_of`)
    holds a model's previews, outputs or layer series, not recordings: read as a
    corpus, they would be mixed with it silently.
    """
    folders = {folder}
    for f in files:
        d = f.parent
        while d not in folders and folder in d.parents:
            folders.add(d)
            d = d.parent
    for d in sorted(folders, key=lambda d: (len(d.parts), d.as_posix())):
        kind, evidence = layout.folder_kind_of(d)
        if kind in GENERATED_KINDS:
            raise GanphonError(f"{d}: is a{'n' if kind[0] in 'aeiou' else ''} {kind} folder ({evidence}): its "
                               f"WAVs are a model's, not recordings to train on; copy the ones you mean into a "
                               f"folder of their own")


def mixed_down(x) -> str:
    """What a file of samples ``x`` ([n] or [n, channels]) is before :func:`to_mono`: ``stereo``, ``6 channels``."""
    channels = x.shape[1] if x.ndim == 2 else 1
    return "stereo" if channels == 2 else f"{channels} channels"


def to_mono(x):
    """Average the channels of ``x`` ([n] or [n, channels]); returns [n] and whether it mixed."""
    if x.ndim == 1:
        return x, False
    if x.shape[1] == 1:
        return x[:, 0], False
    return x.mean(axis=1), True


#: The largest factor of a rate ratio reduced to lowest terms that :func:`resample` takes: its polyphase
#: filter has 20 taps per unit of the larger factor (5.2 million here, 42 MB), and a WAV header can
#: claim any rate up to 2**32 - 1 (25,821,309 Hz against 16 kHz would need 516 million taps, 4 GB).
MAX_RESAMPLE_FACTOR = 2**18


def resample(x, sr_from: int, sr_to: int, name=None):
    """Resample ``x`` from ``sr_from`` to ``sr_to`` Hz with a polyphase filter.

    Parameters
    ----------
    x : numpy.ndarray
        1-D signal.
    sr_from, sr_to : int
        Rates in Hz.
    name : str or Path, optional
        The file, for the message.

    Returns
    -------
    numpy.ndarray
        ``ceil(len(x) * sr_to / sr_from)`` samples.

    Raises
    ------
    GanphonError
        When the ratio reduced to lowest terms has a factor above :data:`MAX_RESAMPLE_FACTOR`
        (an odd rate, e.g. 96,001 Hz, or a corrupt header).
    """
    if sr_from == sr_to:
        return x
    return scipy.signal.resample_poly(x, *resample_factors(sr_from, sr_to, name))


def resample_factors(sr_from: int, sr_to: int, name=None) -> tuple[int, int]:
    """``(up, down)``: the rate ratio in lowest terms, refused (naming ``name``) past :data:`MAX_RESAMPLE_FACTOR`."""
    g = gcd(int(sr_from), int(sr_to))
    up, down = int(sr_to) // g, int(sr_from) // g
    if max(up, down) > MAX_RESAMPLE_FACTOR:
        where = f"{name}: " if name is not None else ""
        raise GanphonError(f"{where}cannot resample {sr_from:,} Hz to {sr_to:,} Hz: the ratio {up}/{down} would need a "
                           f"filter of {20 * max(up, down) + 1:,} taps; convert the file to a common rate first "
                           "(e.g. 16, 44.1 or 48 kHz)")
    return up, down


def load_folder(path, slice_len: int = 16384, sr: int = DEFAULT_SR, strict: bool = False,
                progress: bool = True, normalize: bool = False):
    """Load every WAV under a folder as one training item.

    Parameters
    ----------
    path : path
        Folder, searched recursively in sorted order.
    slice_len : int
        Samples per item; shorter files are zero-padded at the end, longer
        ones cut to their first ``slice_len`` samples.
    sr : int
        Target rate; other rates are resampled (a notice on stderr names the file).
    strict : bool
        Raise on the first unreadable file instead of skipping it.
    progress : bool
        Show a progress bar (for 20 files or more).
    normalize : bool
        Scale each item to a peak of 1; silent items stay silent.

    Returns
    -------
    items : numpy.ndarray
        float32, shape [N, slice_len].
    report : LoadReport
        Counts, skipped files with reasons, and the file of each item.

    Raises
    ------
    GanphonError
        If the folder is missing, holds no WAV files or no readable ones, or
        (with ``strict``) a file cannot be read.
    """
    if slice_len < 1 or sr < 1:
        raise GanphonError(f"slice length and sampling rate must be positive (got {slice_len}, {sr})")
    folder, files = wav_folder(path)
    check_not_generated(folder, files)
    report = LoadReport(slice_len=slice_len, sr=sr)
    items = np.zeros((len(files), slice_len), dtype=np.float32)
    for f in tqdm(files, desc="loading", unit="file", disable=not progress or len(files) < 20,
                  file=sys.stderr):
        rel = f.relative_to(folder).as_posix()
        try:
            x, file_sr = read_wav(f)
            resample_factors(file_sr, sr, name=f)  # a rate that cannot be resampled: skipped like an unreadable file
        except GanphonError as exc:
            if strict:
                raise
            report.skipped.append((rel, error_reason(exc, f)))
            tqdm.write(f"ganphon: skipped {rel}: {report.skipped[-1][1]}", file=sys.stderr)
            continue
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        if peak > 1.0 + 1e-6:  # float WAVs can hold anything; speech scaled to ±1 is what the model learns
            tqdm.write(f"ganphon: {rel}: float samples reach ±{peak:.4g}, beyond ±1 (wrongly scaled?); "
                       f"{'normalised' if normalize else 'used as they are'}", file=sys.stderr)
        what = mixed_down(x)
        x, mixed = to_mono(x)
        if mixed:
            report.n_mixed += 1
            tqdm.write(f"ganphon: {rel}: {what}, mixed down to mono", file=sys.stderr)
        if file_sr != sr:
            x = resample(x, file_sr, sr, name=f)
            report.n_resampled += 1
            tqdm.write(f"ganphon: {rel}: resampled from {file_sr} Hz to {sr} Hz", file=sys.stderr)
        if len(x) > slice_len:
            report.n_cut += 1
            x = x[:slice_len]
        if normalize:
            peak = np.max(np.abs(x))
            if peak > 0:  # silence stays silence instead of 0/0
                x = x / peak
        item = items[len(report.files)]
        item[: len(x)] = x  # the rest stays zero: padding at the end only
        report.files.append(rel)
    report.n_items = len(report.files)
    report.n_skipped = len(report.skipped)
    if not report.files:
        first = "; ".join(f"{f}: {why}" for f, why in report.skipped[:3])
        raise GanphonError(f"{folder}: none of the {len(files)} WAV files could be read ({first})")
    if report.n_items < len(files):
        items = items[: report.n_items].copy()
    return items, report


def error_reason(exc: GanphonError, path) -> str:
    """The message of ``exc`` without the leading file name."""
    message, prefix = str(exc), f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def prepare_corpus_folder(out, request: dict, overwrite: bool, command: str, planned: dict) -> None:
    """Make ``out`` the folder of one corpus request (:func:`ganphon.io.prepare_folder`).

    ``run.json`` (request, command, versions, planned items) is written before
    the first item; a different request is refused unless ``overwrite``, which
    removes only the names a corpus owns (:func:`ganphon.layout.owns`); a folder
    holding files ganphon did not write is refused.  Rerunning the same request
    starts it afresh: items are cheap to make, and a cut must not keep items of
    a recording that changed since.

    Raises
    ------
    GanphonError
        If ``out`` is a file, holds another run (without ``overwrite``) or foreign files.
    """
    record = {"command": command, "planned": planned, "seed": request.get("seed"), "versions": versions("scipy"),
              "created": created()}
    if prepare_folder(out, request, overwrite=overwrite, record=record):
        prepare_folder(out, request, overwrite=True, record=record)
