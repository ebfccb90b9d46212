"""Every file format ganphon reads or writes, each read and written in one place.

WAV
    :func:`read_wav` (float or integer PCM in, float32 out, ``(x, sr)``) and
    :func:`write_wav` (float32).
Praat Sound
    :func:`read_sound` and :func:`write_sound` (binary Sound with the exact
    sampling period, e.g. 62.5 Hz); :func:`read_praat` for any Praat object;
    :func:`read_series` / :func:`upsampled_sound`: a layer at the output rate,
    from its WAV or its native Sound upsampled in memory.
TextGrid
    :func:`read_textgrid` (every text or binary format and encoding Praat reads:
    long, short, UTF-8, UTF-16; empty intervals kept) returning ``tgt`` objects;
    :func:`write_textgrid` (long format, UTF-8); :func:`textgrid_from_intervals`,
    :func:`interval_tier`, :func:`set_interval_tier` for interval lists.
Text
    :func:`read_text` (UTF-16 with either BOM, UTF-8 with or without BOM).
Tables
    :func:`read_manifest` (fixed dtypes), :func:`read_latents`, :func:`read_table`,
    :func:`write_table` (atomic CSV, floats round-trip; zstd Parquet for ``.parquet``);
    :func:`read_acoustics` and :func:`join_manifest`: a per-file table keeps its own
    columns and is joined with the manifest when read.
Records
    :func:`run_record` (the one schema of every record: command, request, versions,
    seed, timings, inputs), :func:`write_run_record` (its one writer), :func:`read_json`,
    :func:`read_record` / :func:`read_run_record` (older records read into the
    schema), :func:`measured_inputs` / :func:`stale_inputs` (digests of what a
    measurement read), :func:`write_json`; the rule
    that a folder holds exactly one request (:func:`prepare_folder`);
    ``finished.txt``, the per-sample completion record (:func:`read_finished`,
    :class:`FinishedLog`).

File names come from :mod:`ganphon.layout`; every write is atomic; every read
error is one :class:`~ganphon.errors.GanphonError` line naming the file.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import json
import math
import os
import re
import struct
import sys
import warnings
from pathlib import Path

import numpy as np

from . import layout
from .layout import text_encoding  # noqa: F401 - part of io's API (where text files are read)
from .errors import (CHECKSUM_MISMATCH, GanphonError, checksum_failed, first_line, number_hint, os_problem,
                     size_text)

# ---------------------------------------------------------------- WAV


refuse_not_a_file = layout.refuse_not_a_file  # every reader here asks it first


def require_file(path, what: str, missing: str | None = None) -> None:
    """Raise unless a regular file stands at ``path``: what stands there instead (:func:`refuse_not_a_file`),
    or ``missing`` (default ``no such <what>``) when nothing does."""
    refuse_not_a_file(path, what)
    if not os.path.isfile(path):
        if os.path.islink(path):  # a dangling link is not "nothing there": say where it points
            raise GanphonError(layout.dangling_link(path))
        raise GanphonError(f"{path}: {missing or f'no such {what}'}")


#: What a file is, by its first bytes, when it is not a WAV (a phonetician's recordings are often these)
_OTHER_AUDIO = ((b"fLaC", "a FLAC file"), (b"OggS", "an Ogg file"), (b"ID3", "an MP3 file"),
                (b"\xff\xfb", "an MP3 file"), (b"\xff\xf3", "an MP3 file"), (b"\xff\xf2", "an MP3 file"),
                (b"FORM", "an AIFF file"),
                (b"ooBinaryFile", "a Praat binary file"), (b"File type = ", "a Praat text file"))


def _not_a_wav(path: Path) -> str:
    """Why ``path`` is not a WAV file by its first bytes (a WAV begins with RIFF, RIFX or RF64), else ""."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        return os_problem(exc)
    if head[:4] in (b"RIFF", b"RIFX", b"RF64"):
        return ""
    if not head:
        return "the file is empty"
    for magic, what in _OTHER_AUDIO:
        if head.startswith(magic):
            return f"{what}, not a WAV: convert it, e.g. with Praat's Read from file… and Save as WAV file…"
    return f"not a WAV file: it begins with {head[:4]!r}, a WAV with b'RIFF'"


def read_wav(path, mono: bool = False):
    """Read a WAV file as float32 samples in [-1, 1].

    Parameters
    ----------
    path : path-like
        PCM (8-bit unsigned, 16/24/32-bit signed) or IEEE float (32/64-bit) WAV.
    mono : bool
        Average the channels of a multi-channel file.

    Returns
    -------
    x : ndarray, float32
        Shape [n] (mono) or [n, channels].  Integer PCM is divided by 2^(bits-1)
        (8-bit is first centred on 128).
    sr : int
        Sampling rate in Hz.

    Raises
    ------
    GanphonError
        If the file is missing, cannot be read, is truncated, is empty or holds
        non-finite samples; the message names the file.
    """
    import scipy.io.wavfile

    path = Path(path)
    require_file(path, "WAV file")
    not_wav = _not_a_wav(path)
    if not_wav:
        raise GanphonError(f"{path}: cannot read WAV ({not_wav})")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sr, data = scipy.io.wavfile.read(path)
    except struct.error as exc:
        raise GanphonError(f"{path}: cannot read WAV (header is cut short: {exc})") from None
    except (ValueError, OSError, EOFError, IndexError) as exc:
        raise GanphonError(f"{path}: cannot read WAV ({first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - the reader's own failures on a mangled file (scipy: UnboundLocalError …)
        raise GanphonError(f"{path}: cannot read WAV ({type(exc).__name__}: {first_line(exc)})") from None
    for w in caught:
        message = str(w.message)
        # scipy reads what is there of a cut file and only warns.
        if "EOF" in message or "prematurely" in message or "truncat" in message.lower():
            raise GanphonError(f"{path}: file is truncated ({message})")
    if data.size == 0:
        raise GanphonError(f"{path}: WAV has no samples")
    if sr <= 0:
        raise GanphonError(f"{path}: WAV header gives sampling rate {sr}")
    kind = data.dtype.kind
    if kind == "u":  # 8-bit WAV is unsigned, centred on 128
        half = 2.0 ** (data.dtype.itemsize * 8 - 1)
        x = (data.astype(np.float64) - half) / half
    elif kind == "i":
        # 24-bit files arrive left-aligned in int32, so one scale fits both.
        x = data.astype(np.float64) / float(-np.iinfo(data.dtype).min)
    elif kind == "f":
        x = data
        if not np.all(np.isfinite(x)):
            raise GanphonError(f"{path}: WAV holds NaN or infinite samples")
    else:
        raise GanphonError(f"{path}: unsupported WAV sample type {data.dtype}")
    if mono and x.ndim > 1:
        x = x.mean(axis=1)
    return np.ascontiguousarray(x, dtype=np.float32), int(sr)


def check_wav_complete(path) -> None:
    """Raise when a WAV's ``data`` chunk promises more bytes than the file holds.

    Praat (and so parselmouth) pads a cut file with zeros without a word; this
    reads only the chunk headers, so a folder of thousands is checked at once.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
                return  # not a RIFF WAV: the reader names what it is
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    raise GanphonError(f"{path}: file is truncated (no data chunk)")
                name, length = chunk[:4], int.from_bytes(chunk[4:], "little")
                if name == b"data":
                    held = size - f.tell()
                    if length != 0xFFFFFFFF and held < length:
                        raise GanphonError(f"{path}: file is truncated (header promises {length} bytes of "
                                           f"samples, the file holds {held})")
                    return
                f.seek(length + (length & 1), 1)
    except OSError as exc:
        raise GanphonError(f"{path}: cannot read WAV ({os_problem(exc)})") from None


#: Bytes a RIFF chunk's size field can count (a WAV's data beyond it cannot be described).
_RIFF_LIMIT = 0xFFFFFFFF


def write_wav(path, x, sr: int) -> None:
    """Write a float32 WAV atomically (mono [n], or [n, channels]); values are not clipped.

    The layout ``scipy.io.wavfile.write`` gives a float32 array, byte for byte
    (``WAVE_FORMAT_IEEE_FLOAT``: an 18-byte ``fmt`` chunk, a ``fact`` chunk with
    the frame count, little-endian samples), written in one call: an export
    writes a WAV per sample, and this is its cost and import.
    """
    data = np.ascontiguousarray(x, dtype="<f4")
    if data.ndim not in (1, 2):
        raise GanphonError(f"{path}: a WAV holds [n] or [n, channels] samples, not an array of shape {data.shape}")
    channels = 1 if data.ndim == 1 else data.shape[1]
    sr = int(sr)
    fmt = struct.pack("<HHIIHHH", 3, channels, sr, sr * channels * 4, channels * 4, 32, 0)
    chunks = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<II", 4, data.shape[0])
              + b"data" + struct.pack("<I", data.nbytes))
    if len(chunks) + data.nbytes > _RIFF_LIMIT:
        raise GanphonError(f"{path}: {data.nbytes:,} bytes of samples exceed what a WAV file can hold (4 GiB)")
    with layout.atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(chunks) + data.nbytes) + chunks)
        f.write(data.tobytes())


def write_listening_wav(path, x, sr: int, peak: float | None = 0.89, remove_mean: bool = False) -> float:
    """Write a listening copy: 16-bit PCM WAV (FLAC when ``path`` ends in ``.flac``), peak-normalised, atomically.

    For ears and browsers only (many players refuse float WAV); the float32
    files stay the measured ones.  ``remove_mean`` first subtracts the mean
    (a layer average is non-negative: its offset is a thump, not a sound).
    ``peak`` None: not normalised (samples beyond ±1 clipped), so that copies
    keep the loudness differences of their sources.  A silent signal is
    written silent.  Returns the gain applied.
    """
    import scipy.io.wavfile

    y = np.asarray(x, dtype=np.float64)
    if remove_mean:
        y = y - y.mean()
    top = float(np.max(np.abs(y))) if y.size else 0.0
    gain = 1.0 if peak is None else peak / top if top > 0 and np.isfinite(top) else 0.0
    pcm = np.round(np.clip(y * gain, -1.0, 1.0) * 32767.0).astype(np.int16)
    if Path(path).suffix.lower() != ".flac":
        with layout.atomic_path(path) as tmp:
            scipy.io.wavfile.write(tmp, int(sr), pcm)
        return gain
    import parselmouth  # the same 16-bit samples, losslessly compressed (Praat's writer)

    try:  # a full disk or a size limit is the system's error (layout.atomic_path), anything else Praat's words
        with layout.atomic_path(path) as tmp:
            parselmouth.Sound(pcm / 32768.0, sampling_frequency=float(sr)).save(str(tmp),
                                                                              parselmouth.SoundFileFormat.FLAC)
    except parselmouth.PraatError as exc:
        raise GanphonError(f"{path}: cannot write the FLAC file ({first_line(exc)})") from None
    return gain


# ---------------------------------------------------------------- Praat objects

def read_praat(path, kind=None, what: str = "Praat object"):
    """Read one Praat object with Praat's own reader (``parselmouth.read``).

    Parameters
    ----------
    path : path-like
    kind : type, optional
        Required class (``parselmouth.Sound``, ``parselmouth.TextGrid``).
    what : str
        What the file should be, for the error message.

    Raises
    ------
    GanphonError
        One line naming the file, with the first line of Praat's message.
    """
    import parselmouth

    path = Path(path)
    require_file(path, f"{what} file")
    try:
        obj = parselmouth.read(str(path))
    except parselmouth.PraatError as exc:
        raise GanphonError(f"{path}: cannot read {what} ({first_line(exc)})") from None
    if kind is not None and not isinstance(obj, kind):
        raise GanphonError(f"{path}: not a {what}")
    return obj


def read_sound(path):
    """Read a sound Praat reads (WAV, text or binary Sound …) as a ``parselmouth.Sound``."""
    import parselmouth

    return read_praat(path, parselmouth.Sound, "sound")


def binary_sound_bytes(values: np.ndarray, rate: float) -> bytes:
    """The bytes of Praat's binary Sound file (``Save as binary file``) of ``values`` at ``rate`` Hz from 0 s.

    What Praat writes for ``Sound(values, sampling_frequency=rate)``, byte for
    byte: ``ooBinaryFile``, the class ``Sound 2``, then big-endian xmin = 0,
    xmax = n / rate, nx, dx = 1 / rate, x1 = 0.5 / rate, the channels' ymin = 1,
    ymax = channels, ny, dy = 1, y1 = 1, and the samples as 64-bit floats, each
    channel in turn (Praat writes −0 as 0 and NaN as +∞).  ``values``: [n] or
    [channels, n].
    """
    z = np.atleast_2d(np.asarray(values, dtype=np.float64))
    ny, nx = z.shape
    header = b"ooBinaryFile" + bytes([7]) + b"Sound 2" + struct.pack(
        ">ddiddddidd", 0.0, 0.0 + nx / rate, nx, 1.0 / rate, 0.0 + 0.5 / rate, 1.0, float(ny), ny, 1.0, 1.0)
    z = np.where(np.isnan(z), np.inf, z + 0.0)  # + 0.0 turns −0 into 0
    return header + z.astype(">f8").tobytes()


def write_sound(path, x, rate: float, x1: float | None = None, xmax: float | None = None) -> None:
    """Write a series as a Praat Sound at exactly ``rate`` Hz (x1 = dx / 2), atomically.

    A WAV header holds an integer rate; a Sound keeps 62.5 Hz as 62.5 Hz.  Praat's binary
    format holds the samples as 64-bit floats (a float32 series reads back exactly); Praat
    and parselmouth read it, at 0.4× the size of a text Sound.  With ``x1`` (the
    time of the first sample's centre, s) and ``xmax`` (the domain's end) the Sound spans
    0 … ``xmax`` with its samples where an encoder's receptive fields put them
    (:mod:`ganphon.models.encoders`).
    """
    values = np.asarray(x, dtype=np.float64)
    if x1 is None and xmax is None:
        with layout.atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(binary_sound_bytes(values, float(rate)))
        return
    dx = 1.0 / float(rate)
    x1 = dx / 2 if x1 is None else float(x1)
    xmax = x1 + (len(values) - 0.5) * dx if xmax is None else float(xmax)
    # Praat's short text Sound: xmin xmax nx dx x1, then one channel (ymin ymax ny dy y1)
    header = ['File type = "ooTextFile"', 'Object class = "Sound 2"', "",
              *map(repr, (0.0, xmax, len(values), dx, x1)), "1", "1", "1", "1", "1"]
    text = "\n".join(header + [repr(float(v)) for v in values]) + "\n"
    layout.atomic_write_text(path, text)


def read_series(wav, sound=None, size: int | None = None, sr: int | None = None, clip: float | None = None):
    """A layer series at the output rate: its WAV, or its native-rate Sound upsampled in memory.

    A layer is stored once, as ``ID_<layer>.Sound``; ``ID_<layer>.wav`` exists only
    where asked for (``--wav-layers``).  Without the WAV the Sound is read and
    upsampled to ``size`` samples exactly as the export wrote the WAV
    (:func:`ganphon.timebase.upsample` on the float32 series, then clipped to
    [−clip, clip] when the run clipped), so both give the same samples.

    Parameters
    ----------
    wav : path-like
        ``ID_<layer>.wav`` (read when it exists).
    sound : path-like, optional
        ``ID_<layer>.Sound``, read when the WAV does not exist.
    size, sr : int
        Output length and rate (the manifest's ``slice_len`` and ``sr``).
    clip : float, optional
        The run's ``clip`` (``run.json``).

    Returns
    -------
    x : ndarray, float32 [size]
    sr : int

    Raises
    ------
    GanphonError
        Neither file can be read; one line naming the file.
    """
    wav = Path(wav)
    if sound is None or wav.is_file() or not Path(sound).is_file():
        return read_wav(wav, mono=True)
    if size is None or sr is None:
        raise GanphonError(f"{wav}: no such WAV file (its Sound needs the output length and rate to upsample)")
    return upsampled_values(read_sound(sound), size, clip, path=sound, sr=sr), int(sr)


def check_native(native, path, sr: float | None = None, size: int | None = None, rate: float | None = None,
                 n: int | None = None, what: str = "layer series") -> None:
    """Refuse a layer's native Sound that is not the series its sample's records describe.

    Export writes a layer over its output's time domain (0 … ``size`` / ``sr`` s) at
    its native ``rate`` with ``n`` samples (the manifest's ``rate_native_hz``,
    ``n_native``).  A Sound that differs — another model's, another sample
    length's, one edited by hand — would be measured on a wrong time base.  A
    sample's output is checked the same way (``what="output"``: its manifest's
    ``sr`` and ``slice_len``, :func:`manifest_shape`).
    """
    if not np.isfinite(native.values).all():  # the explorer's page, a plot's axes, Praat's analyses all fail on it
        raise GanphonError(f"{path}: holds NaN or infinite samples")
    problems = []
    if sr is not None and size is not None:
        span, wanted = native.xmax - native.xmin, int(size) / float(sr)
        if abs(span - wanted) > 1e-6 * wanted:
            problems.append(f"spans {span:g} s, its sample's output {wanted:g} s")
    problems += _shape_problems(native.sampling_frequency, native.n_samples, rate, n)
    if native.n_channels != 1:
        problems.append(f"has {native.n_channels} channels, a{'n' if what[0] in 'aeiou' else ''} {what} one")
    if problems:
        raise GanphonError(f"{path}: {'; '.join(problems)}: not this sample's {what} (export it again)")


def _shape_problems(have_rate: float, have_n: int, rate: float | None, n: int | None) -> list:
    """How a file's rate and sample count differ from what its manifest row says (None: not said)."""
    problems = []
    if rate is not None and abs(have_rate - float(rate)) > 1e-9 * float(rate):
        problems.append(f"is sampled at {have_rate:g} Hz, the manifest says {float(rate):g} Hz")
    if n is not None and have_n != int(n):
        problems.append(f"holds {have_n} samples, the manifest says {int(n)}")
    return problems


def _output_shapes(folder: Path) -> dict:
    """Output file name → the ``(rate, n)`` its folder's manifest gives it (empty without a manifest);
    read once per version of the manifest (its size and modification time)."""
    path = Path(folder) / layout.MANIFEST
    try:
        stat = path.stat()
    except OSError:
        return {}
    return _output_shapes_of(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _output_shapes_of(path: str, mtime_ns: int, size: int) -> dict:
    manifest = read_manifest(path)
    outputs = manifest[manifest["layer"] == layout.OUTPUT_LAYER]
    return {row["file"]: manifest_shape(row) for row in outputs.to_dict("records")}


def manifest_shape(row, native: bool = False) -> tuple:
    """``(rate, n)`` a manifest row says its file holds, None where the row does not say or says nonsense.

    The file named by ``file`` (an output, or a layer's 16 kHz WAV) holds
    ``slice_len`` samples at ``sr`` Hz; a layer's native Sound (``native``)
    ``n_native`` at ``rate_native_hz`` (an output's are its ``slice_len``, ``sr``).
    """
    def number(key):
        value = row.get(key) if hasattr(row, "get") else getattr(row, key, None)
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
        return value if math.isfinite(value) and value > 0 else None

    rate, n = (number("rate_native_hz"), number("n_native")) if native else (number("sr"), number("slice_len"))
    return rate, None if n is None else int(n)


def upsampled_values(native, size: int, clip: float | None = None, *, path=None, sr: float | None = None,
                     rate: float | None = None) -> np.ndarray:
    """The samples of a native-rate ``parselmouth.Sound`` at ``size`` samples, as the export's WAV holds them.

    With ``path`` the Sound is first checked against the output's rate ``sr`` and the native
    ``rate`` (:func:`check_native`)."""
    from .timebase import upsample

    if path is not None:
        check_native(native, path, sr, size, rate)
    values = np.asarray(native.values[0], dtype=np.float32)  # written from float32: exact
    up = upsample(values, int(size))
    if clip is not None:
        up = np.clip(up, -clip, clip)
    return up


def upsampled_sound(path, size: int, sr: float, clip: float | None = None, rate: float | None = None):
    """A ``parselmouth.Sound`` at ``sr`` Hz holding the native Sound ``path`` upsampled to ``size`` samples:
    the samples and time domain Praat reads from the layer's WAV (:func:`read_series`); ``rate``: the
    native rate the manifest gives (checked)."""
    import parselmouth

    up = upsampled_values(read_sound(path), size, clip, path=path, sr=sr, rate=rate)
    return parselmouth.Sound(up.astype(np.float64), sampling_frequency=float(sr))


def layer_sound_path(wav) -> Path | None:
    """The native Sound stored for a layer WAV name (``ID_<layer>.wav`` → ``ID_<layer>.Sound``), when
    the WAV does not exist and the Sound does; else None."""
    wav = Path(wav)
    parsed = layout.parse_sample_file(wav.name)
    if wav.is_file() or parsed is None or parsed[1] in (None, layout.OUTPUT_LAYER):
        return None
    sound = wav.with_name(layout.layer_sound(*parsed))
    return sound if sound.is_file() else None


def output_files(folder, manifest) -> list[tuple[str, bool]]:
    """Each sample of ``manifest`` (in its order, once) with whether its output WAV is in ``folder``: a folder
    may keep the files of some samples only (a demo keeps one of its random probe's)."""
    outputs = manifest.loc[manifest["layer"] == layout.OUTPUT_LAYER, ["sample_id", "file"]].drop_duplicates("sample_id")
    return [(str(sample_id), (Path(folder) / str(name)).is_file())
            for sample_id, name in zip(outputs["sample_id"], outputs["file"])]


def layer_exists(wav) -> bool:
    """Whether a layer WAV, or the native Sound it is computed from, exists."""
    return Path(wav).is_file() or layer_sound_path(wav) is not None


def _output_shape(wav: Path) -> tuple[int, int]:
    """(samples, rate) of the output WAV of the sample a layer WAV name belongs to."""
    import scipy.io.wavfile

    sample_id, _ = layout.parse_sample_file(wav.name)
    output = wav.with_name(layout.layer_wav(sample_id, layout.OUTPUT_LAYER))
    try:
        sr, data = scipy.io.wavfile.read(output, mmap=True)
    except (ValueError, OSError) as exc:
        problem = os_problem(exc) if isinstance(exc, OSError) else first_line(exc)
        raise GanphonError(f"{output}: cannot read WAV ({problem}); needed to upsample "
                           f"{wav.with_suffix('.Sound').name}") from None
    size, sr = int(data.shape[0]), int(sr)
    # the layer is upsampled to its output's length: an output cut or resampled is named, not its layers
    problems = _shape_problems(sr, size, *_output_shapes(output.parent).get(output.name, (None, None)))
    if problems:
        raise GanphonError(f"{output}: {'; '.join(problems)}: not this sample's output (export it again)")
    return size, sr


def read_layer_wav(wav) -> tuple:
    """``(x, sr)`` of a layer at the output rate, given its WAV name: the WAV, or when only the native
    Sound was written, that Sound upsampled in memory (length and rate of the sample's output WAV, the
    run's clip), the same samples (:func:`read_series`)."""
    wav = Path(wav)
    sound = layer_sound_path(wav)
    if sound is None:
        return read_wav(wav, mono=True)
    size, sr = _output_shape(wav)
    return read_series(wav, sound, size, sr, run_clip(wav.parent))


def read_layer_sound(wav):
    """:func:`read_layer_wav` as a ``parselmouth.Sound`` (any other sound: :func:`read_sound`)."""
    wav = Path(wav)
    sound = layer_sound_path(wav)
    if sound is None:
        return read_sound(wav)
    size, sr = _output_shape(wav)
    return upsampled_sound(sound, size, sr, run_clip(wav.parent))


def run_clip(folder) -> float | None:
    """The ``clip`` an exported folder's run applied to its layer WAVs (``run.json``), or None."""
    record = read_run_record(folder) or {}
    clip = (record.get("request") or {}).get("clip")
    if clip is None:
        return None
    if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not 0 < clip < math.inf:
        raise GanphonError(f"{Path(folder) / layout.RUN_JSON}: its request's clip is {clip!r}, not a positive "
                           "number or null (an edited record?); export the folder again")
    return float(clip)


# ---------------------------------------------------------------- TextGrids

def read_textgrid(path):
    """Read a TextGrid in any format and encoding Praat reads, as a ``tgt.TextGrid``.

    Praat's own reader (through parselmouth) parses it: long and short text
    format, binary, UTF-8 (with or without BOM), UTF-16 (either byte order).
    Empty intervals are kept, so interval numbers match Praat's.

    Raises
    ------
    GanphonError
        If the file is missing or not a readable TextGrid; the message names it.
    """
    import parselmouth

    grid = read_praat(path, parselmouth.TextGrid, "TextGrid")
    try:
        return grid.to_tgt(include_empty_intervals=True)
    except ValueError as exc:  # tgt refuses what Praat let through: overlapping or reversed intervals
        raise GanphonError(f"{path}: not a valid TextGrid ({first_line(exc)})") from None


def write_textgrid(path, grid) -> None:
    """Write a ``tgt.TextGrid`` (or its :func:`textgrid_text`) as long-format UTF-8 text, atomically."""
    layout.atomic_write_text(path, grid if isinstance(grid, str) else textgrid_text(grid))


def textgrid_text(grid) -> str:
    """The long-format text of a ``tgt.TextGrid``, as :func:`write_textgrid` writes it.

    Praat's long text format, character for character what ``tgt.io.export_to_long_textgrid``
    writes (tests/test_io.py): each interval tier spans the grid, its gaps written as empty
    intervals; numbers as Python writes floats, ``"`` in labels doubled.  Made here without
    the two deep copies of the grid tgt makes on the way (a third of ``annotate``'s Python).
    """
    import tgt

    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "",
             f"xmin = {grid.start_time}", f"xmax = {grid.end_time}", "tiers? <exists>",
             f"size = {len(grid)}", "item []:"]
    for number, tier in enumerate(grid.tiers, 1):
        if isinstance(tier, tgt.IntervalTier):
            tier = _tier_spanning(tier, grid.start_time, grid.end_time)
            spans, items = True, "intervals"
        elif isinstance(tier, tgt.PointTier):
            spans, items = False, "points"
        else:
            raise GanphonError(f"tier '{tier.name}' is neither an interval nor a point tier")
        lines += [f"\titem [{number}]:", f'\t\tclass = "{tier.tier_type()}"', f'\t\tname = "{_quoted(tier.name)}"',
                  f"\t\txmin = {tier.start_time}", f"\t\txmax = {tier.end_time}",
                  f"\t\t{items}: size = {len(tier)}"]
        for j, item in enumerate(tier, 1):
            if spans:
                lines += [f"\t\tintervals [{j}]:", f"\t\t\txmin = {item.start_time}",
                          f"\t\t\txmax = {item.end_time}", f'\t\t\ttext = "{_quoted(item.text)}"']
            else:
                lines += [f"\t\tpoints [{j}]:", f"\t\t\tnumber = {item.time}", f'\t\t\tmark = "{_quoted(item.text)}"']
    return "\n".join(lines)


def _quoted(text: str) -> str:
    """A label inside a TextGrid's double quotes (a quote doubled)."""
    return text.replace('"', '""')


def _tier_spanning(tier, start, end):
    """A new interval tier over ``start`` … ``end`` holding ``tier``'s intervals (the same objects) and an
    empty interval in each gap, at either end and between them (tgt's ``get_copy_with_gaps_filled``,
    its times compared as tgt compares them, to 0.1 ms)."""
    import tgt

    intervals = tier.intervals
    spanning = tgt.IntervalTier(start_time=start, end_time=end, name=tier.name, objects=intervals)
    if not intervals:
        spanning.add_interval(tgt.Interval(tier.start_time, tier.end_time, ""))
        return spanning
    if intervals[0].start_time > spanning.start_time:
        spanning.add_interval(tgt.Interval(spanning.start_time, intervals[0].start_time, ""))
    if intervals[-1].end_time < spanning.end_time:
        spanning.add_interval(tgt.Interval(intervals[-1].end_time, spanning.end_time, ""))
    for before, after in zip(intervals, intervals[1:]):
        if before.end_time < after.start_time:
            spanning.add_interval(tgt.Interval(before.end_time, after.start_time, ""))
    return spanning


def textgrid_from_intervals(tiers: dict, end: float, start: float = 0.0):
    """A ``tgt.TextGrid`` with interval tiers ``{name: [(start, end, label), …]}`` over ``start`` … ``end``."""
    import tgt

    grid = tgt.TextGrid()
    for name, intervals in tiers.items():
        set_interval_tier(grid, name, intervals, start, end)
    return grid


def set_interval_tier(grid, name: str, intervals, xmin=None, xmax=None):
    """Put an interval tier ``name`` holding ``intervals`` (start, end, label) into ``grid``.

    A tier of that name is replaced in place; otherwise the tier is added last.
    The tier spans the grid's time domain, or ``xmin`` … ``xmax`` when given
    (needed for a grid without tiers); intervals are clipped to it.
    """
    import tgt

    xmin = grid.start_time if xmin is None else xmin
    xmax = grid.end_time if xmax is None else xmax
    tier = tgt.IntervalTier(start_time=xmin, end_time=xmax, name=name)
    for start, end, label in intervals:
        start, end = max(start, xmin), min(end, xmax)
        if end > start:
            tier.add_interval(tgt.Interval(start, end, label))
    names = [t.name for t in grid.tiers]
    position = names.index(name) if name in names else len(names)
    if name in names:
        grid.delete_tier(name)
    grid.insert_tier(tier, position)
    return grid


def interval_tier(grid, name: str, path=None, labelled: bool = False) -> list:
    """The intervals ``[(start, end, label), …]`` of interval tier ``name``.

    Parameters
    ----------
    grid : tgt.TextGrid
    name : str
    path : path-like, optional
        The grid's file, named in errors.
    labelled : bool
        Leave out intervals with an empty label.

    Raises
    ------
    GanphonError
        If the grid has no tier ``name`` or it is a point tier.
    """
    import tgt

    where = f"{path}: " if path is not None else ""
    if not grid.has_tier(name):
        have = ", ".join(t.name for t in grid.tiers) or "none"
        raise GanphonError(f"{where}no tier '{name}' (tiers: {have})")
    tier = grid.get_tier_by_name(name)
    if not isinstance(tier, tgt.IntervalTier):
        raise GanphonError(f"{where}tier '{name}' is a point tier, not an interval tier")
    return [(float(i.start_time), float(i.end_time), i.text) for i in tier.intervals
            if not labelled or i.text != ""]


# ---------------------------------------------------------------- text and tables

def read_text(path) -> str:
    """Read a text file written as UTF-8 (BOM or not) or UTF-16 (Praat's choice for non-ASCII text)."""
    path = Path(path)
    refuse_not_a_file(path, "text file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise GanphonError(f"{path}: cannot read ({first_line(exc)})") from None
    try:
        return raw.decode(text_encoding(raw))
    except UnicodeDecodeError:
        raise GanphonError(f"{path}: not UTF-8 or UTF-16 text") from None


#: Rows above which a per-file table (the acoustic table) is written as Parquet, not CSV.
CSV_MAX_ROWS = 50_000


def is_parquet(path) -> bool:
    """Whether a table path names a Parquet file (by its suffix)."""
    return Path(path).suffix.lower() == ".parquet"


def write_table(df, path, float_format: str | None = None) -> None:
    """Write a DataFrame atomically: CSV (no index; floats round-trip exactly, or as ``float_format``
    says), or zstd Parquet when the name ends in ``.parquet`` (text columns dictionary-encoded; every
    value reads back exactly; each page with its CRC-32 checksum, which :func:`read_table` verifies: a byte
    changed inside compressed pages had read back as other numbers without an error)."""
    with layout.atomic_path(path) as tmp:
        if is_parquet(path):
            df.to_parquet(tmp, index=False, compression="zstd", engine="pyarrow", write_page_checksum=True)
        else:
            df.to_csv(tmp, index=False, float_format=float_format)


def read_table(path, what: str = "table", **kwargs):
    """Read a CSV (``kwargs`` go to ``pandas.read_csv``) or Parquet table (``usecols`` and ``filters`` go to
    ``pandas.read_parquet``), with one-line errors naming the file."""
    import pandas as pd

    path = Path(path)
    require_file(path, f"{what} file", f"no such {what}")
    try:
        if is_parquet(path):  # pages written with a checksum are verified (those of older files have none)
            return pd.read_parquet(path, columns=kwargs.get("usecols"), filters=kwargs.get("filters"),
                                   page_checksum_verification=True)
        if "encoding" not in kwargs:  # a spreadsheet's UTF-8 BOM, or Praat's UTF-16: not part of the first name
            with open(path, "rb") as head:
                encoding = text_encoding(head.read(3))
            if encoding != "utf-8":
                kwargs = {**kwargs, "encoding": encoding}
        if "sep" not in kwargs and "delimiter" not in kwargs:
            _check_commas(path, what, kwargs.get("encoding", "utf-8"))
        table = pd.read_csv(path, **kwargs)
        if "index_col" not in kwargs and not isinstance(table.index, pd.RangeIndex):
            # a first row with more cells than the header: pandas would take the first column as the index
            # and shift every other cell one column left, silently
            raise GanphonError(f"{path}: unreadable {what} (a row has more cells than the header line's "
                               f"{len(table.columns) + table.index.nlevels - 1}: an unquoted comma?)")
        return table
    except OSError as exc:
        if checksum_failed(exc):
            raise GanphonError(f"{path}: a damaged {what}: {CHECKSUM_MISMATCH} ({first_line(exc)}); write it "
                               "again") from None
        raise GanphonError(f"{path}: unreadable {what} ({first_line(exc)})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError,
            TypeError, OverflowError, csv.Error) as exc:  # csv.Error: sep=None found no delimiter
        raise GanphonError(f"{path}: unreadable {what} ({first_line(exc)})") from None
    except Exception as exc:  # pyarrow's own errors on a damaged Parquet file
        if type(exc).__module__.startswith("pyarrow"):
            raise GanphonError(f"{path}: unreadable {what} ({first_line(exc)})") from None
        raise


def _check_commas(path, what: str, encoding: str) -> None:
    """Refuse a CSV whose header line separates its names by semicolons or tabs, with no comma.

    A spreadsheet in a locale that writes decimal commas saves "CSV" with semicolons
    (and ``0,5`` for 0.5): read with commas it is one column, and the reader would
    report missing columns, not the separator.
    """
    with open(path, encoding=encoding, errors="replace", newline="") as f:
        header = f.readline(65536).lstrip("\ufeff")
    if "," in header:
        return
    for mark, name in ((";", "semicolons"), ("\t", "tabs")):
        if mark in header:
            raise GanphonError(f"{path}: the {what}'s cells are separated by {name}, not commas (saved by a "
                               "spreadsheet set to a language that writes decimal commas?); save it as CSV with "
                               "commas between cells and points in numbers")


# ---------------------------------------------------------------- per-file tables and the manifest

#: Columns of the long acoustic table itself (before the manifest is joined).
ACOUSTIC_COLUMNS = ("file", "tier", "label", "start", "end", "point", "time", "measure", "value", "note",
                    "f0_artefact")
#: Text columns of a joined acoustic table, read as ``str`` (empty cells NaN).
ACOUSTIC_TEXT_COLUMNS = ("file", "tier", "label", "measure", "note", "sample_id", "layer", "code", "var", "arch")


def acoustics_path(folder):
    """The acoustic table of a folder: ``acoustics.parquet`` (large tables) or ``acoustics.csv``;
    the CSV's path when there is neither.  Something other than a file at the Parquet name (a folder,
    a dangling link) is that path, so the reader names it rather than a missing CSV."""
    folder = Path(folder)
    parquet = folder / layout.ACOUSTICS_PARQUET
    return parquet if os.path.lexists(parquet) else folder / layout.ACOUSTICS


def join_manifest(table, manifest, key: str = "file"):
    """Add the manifest's columns to a per-file table, matched by file name (the one join).

    The manifest's sweep column ``value`` becomes ``sweep_value`` (``value`` is
    always the measured value); its file-name columns are dropped (the table's
    ``file`` names the measured file); any other manifest column the table
    already has is renamed ``manifest_<name>``.

    Parameters
    ----------
    table : DataFrame
        With a ``file`` column.
    manifest : DataFrame
        As :func:`read_manifest` gives it.
    key : {"file", "sound_file"}
        The manifest column naming the files of ``table``.
    """
    extra = manifest.copy()
    extra["__file"] = extra[key]
    extra = extra.drop(columns=[c for c in ("file", "sound_file") if c in extra.columns])
    renames = {"value": "sweep_value"}
    for column in extra.columns:
        if column in table.columns and column not in renames:
            renames[column] = f"manifest_{column}"
    extra = extra.rename(columns=renames)
    joined = table.merge(extra, how="left", left_on="file", right_on="__file", sort=False)
    return joined.drop(columns="__file")


def read_acoustics(path, join: bool = True, what: str = "acoustic table", measures=None, skip=()):
    """Read a long acoustic table, joined with its folder's manifest on demand.

    Parameters
    ----------
    path : path-like
        A folder (its ``acoustics.parquet`` or ``acoustics.csv``) or a table file
        (``.csv`` or ``.parquet``).
    join : bool
        Join the manifest beside the table (:func:`join_manifest`); a joined
        CSV's copies of the manifest's columns are replaced by the manifest's.
    measures : sequence of str, optional
        A Parquet table: read only the rows of these measures (a filter on its
        ``measure`` column; the rows keep their order), and name every measure
        the file holds in ``attrs["measures_available"]``.  A CSV is read whole.
    skip : sequence of str
        Columns left out of the result, whatever the table's format: a Parquet
        table's own and the manifest's are not read at all (``ganphon stats``
        skips ``note``, a text on most of a long table's rows, and the
        manifest's file descriptions, which no model uses).

    Returns
    -------
    DataFrame
        As the joined CSV reads with ``pandas.read_csv``: text columns
        (:data:`ACOUSTIC_TEXT_COLUMNS`) ``str`` with empty cells NaN, ``point``
        nullable integers; ``attrs["source"]`` names the file.

    Raises
    ------
    GanphonError
        No table, or one that cannot be read; one line naming the file.
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir() and path.suffix.lower() not in (".parquet", ".csv"):  # a folder named like a table is refused
        path = acoustics_path(path)
    require_file(path, f"{what} file", "no acoustic table; run 'ganphon measure' (or 'ganphon sweep') first")
    available = None
    if is_parquet(path):
        if measures:
            try:
                held = read_table(path, what, usecols=["measure"])["measure"]
                available = sorted(str(m) for m in held.dropna().unique())
            except GanphonError:  # no measure column, or damage: read whole, for the error that names it
                available = None
        columns = None
        if skip:
            try:
                import pyarrow.parquet as pq

                names = pq.read_schema(path).names
                columns = [c for c in names if c not in set(skip)] if set(skip) & set(names) else None
            except Exception:  # damage: read whole, for the error that names it
                columns = None
        table = read_table(path, what, usecols=columns, filters=None if available is None else
                           [("measure", "in", sorted(set(measures)))])
        for column in ACOUSTIC_TEXT_COLUMNS:  # empty text reads back as a CSV's empty cell would
            if column in table.columns:
                text = table[column].astype("str")
                table[column] = text.where(text.ne(""))
    else:  # the one CSV reader (its checks: a row longer than the header, the parser's errors in one line)
        table = read_table(path, what, dtype={c: str for c in ACOUSTIC_TEXT_COLUMNS}, keep_default_na=True,
                           low_memory=False)
        table = table.drop(columns=[c for c in skip if c in table.columns])  # a CSV is read whole
    if "point" in table.columns:  # whole numbers, or a shifted or edited row: named, never a cast error
        point = pd.to_numeric(table["point"], errors="coerce")
        broken = point.notna() & ((point != point.round()) | (point.abs() > 2**31))
        if broken.any():
            raise GanphonError(f"{path}: column point holds {table['point'][broken].iloc[0]!r} (row "
                               f"{int(broken.to_numpy().argmax()) + 2}), not a point number; is the table damaged?")
        table["point"] = point.astype("Int64")
    check_measured_once(table, path)
    manifest_path = path.parent / layout.MANIFEST
    if join and "file" in table.columns and manifest_path.is_file():
        manifest = read_manifest(manifest_path, required=("file",))
        key = "file"
        if "sound_file" in manifest.columns and not table["file"].isin(set(manifest["file"])).any():
            key = "sound_file"  # measured with --inputs sound
        # a joined CSV's copies of the manifest's columns are joined afresh from the manifest (the one source,
        # checked against the record): a copy saved without a column, or with one edited, is not what is read
        copied = {"sweep_value" if c == "value" else c for c in manifest.columns} - {"file", "sound_file"}
        table = table.drop(columns=[c for c in table.columns if c in copied and c not in ACOUSTIC_COLUMNS])
        unread = [c for c in skip if c in manifest.columns and c not in ("file", "sound_file")]
        table = join_manifest(table, manifest.drop(columns=unread) if unread else manifest, key)
    table.attrs["source"] = str(path)
    if available is not None:
        table.attrs["measures_available"] = available
    return table


#: What names one measurement in a long acoustic table: a file's interval (its tier, start and end), a point
#: in it (empty: the interval's own value) and the measure.
MEASUREMENT_KEY = ("file", "tier", "start", "end", "point", "measure")


def check_measured_once(table, path) -> None:
    """Refuse a long acoustic table in which a measurement appears twice (one line naming the first repeat).

    Every analysis of the table averages the points of an interval, so a table appended to itself, or to
    another measurement of the same files, would be read as one measurement of each: its repeats averaged
    in silence, two settings' values mixed.  The rows ``ganphon measure`` writes never repeat (a TextGrid
    whose intervals overlap has none measured).  A table without the columns naming its intervals
    (``tier``, ``start``, ``end``) is left to the readers' own refusal, which names them.
    """
    import numpy as np
    import pandas as pd

    key = [c for c in MEASUREMENT_KEY if c in table.columns]
    if len(key) < len(MEASUREMENT_KEY) - ("point" not in key) or len(table) < 2:
        return  # a table that cannot name its intervals (no tier, start or end) is refused where it is read
    codes, size = np.zeros(len(table), dtype=np.int64), 1
    for column in key:  # one integer per row from the codes of its key's values (numbered groups past 62 bits)
        values, uniques = pd.factorize(table[column], use_na_sentinel=True)
        n = len(uniques) + 1
        if size * n >= 2**62:
            codes = table.groupby(key, dropna=False, sort=False).ngroup().to_numpy()
            break
        codes, size = codes * n + (values + 1), size * n
    repeated = pd.Series(codes).duplicated().to_numpy()
    if not repeated.any():
        return
    i = int(repeated.argmax())
    first = int(np.flatnonzero(codes == codes[i])[0])
    offset = 1 if is_parquet(path) else 2  # a CSV's rows counted as a spreadsheet shows them, under the header
    row = table.iloc[i]
    what = f"{row['measure']} of {row['file']}"
    if "start" in row.index and "end" in row.index:
        what += f" ({row['start']:g}–{row['end']:g} s"
        point = row["point"] if "point" in row.index else None
        what += f", point {int(point)})" if point is not None and not pd.isna(point) else ")"
    where = f"row {i + offset} repeats row {first + offset}: {what}"
    raise GanphonError(f"{path}: {int(repeated.sum())} row(s) repeat a measurement of another row ({where}); "
                       "each measurement appears once in a table: was it appended to itself, or to another "
                       "measurement of the same files? measure the folder again, or keep one of the two")


#: Manifest columns that are always read as text (a code ``1,0`` or a sample id ``000123`` stays as written).
MANIFEST_TEXT_COLUMNS = ("sample_id", "layer", "file", "sound_file", "textgrid", "code", "arch",
                         "checkpoint_sha256", "var")
#: The manifest's columns that name files, or a part of a file name, in the manifest's own folder.
MANIFEST_NAME_COLUMNS = ("sample_id", "layer", "file", "sound_file", "textgrid")


#: The manifest's number columns: (whole numbers, the least value — "positive", "zero" (≥ 0) or None (any
#: finite number) —, an empty cell allowed).  The first describe each file's samples (an empty rate: read it from
#: the file), the others place each sample in its design; the latents' own columns (``z0`` …) are as ``value``.
MANIFEST_NUMBER_COLUMNS = {"n_native": (True, "positive", False), "slice_len": (True, "positive", False),
                           "sr": (False, "positive", False), "rate_native_hz": (False, "positive", True),
                           "value": (False, None, True), "base": (True, "zero", True), "seed": (True, "zero", True)}
_LATENT_COLUMN = re.compile(r"z\d+")
#: A sweep's varied latent variable: a noise dimension (``z11``) or a code (``c2``).
_VARIED_LATENT = re.compile(r"[zc]\d+")


def ends_mid_row(path) -> bool:
    """Whether a text table's last row lacks its line break (a file cut short in the middle of a row)."""
    with open(path, "rb") as f:
        head = f.read(3)
        f.seek(0, 2)
        size = f.tell()
        width = 2 if text_encoding(head) == "utf-16" else 1  # UTF-16: the line break is two bytes
        f.seek(max(0, size - width))
        last = f.read(width)
    if width == 2:
        last = last.decode("utf-16-le" if head[:2] == b"\xff\xfe" else "utf-16-be", errors="replace")
        return size > 2 and last not in ("\n", "\r")
    return bool(size) and last not in (b"\n", b"\r")


def keeps_sample_files(folder) -> bool:
    """Whether ``folder`` keeps any file its manifest names (an output WAV, a layer's Sound …): the demo's atlas,
    its probe and its intervention keep only their tables.  True for a folder without a readable manifest or
    for a columnar store (its samples are in ``store.zarr``): nothing to judge.  Stops at the first file found."""
    folder = Path(folder)
    if (folder / layout.STORE_ZARR).is_dir() or not (folder / layout.MANIFEST).is_file():
        return True
    with os.scandir(folder) as entries:  # the usual case, without reading the manifest: a sample's file
        if any((layout.parse_sample_file(e.name) or (None, None))[1] is not None for e in entries):
            return True
    try:
        manifest = read_manifest(folder)
    except GanphonError:  # the command reading it says what is wrong
        return True
    columns = [c for c in ("file", "sound_file") if c in manifest.columns]
    names = (name for c in columns for name in manifest[c].dropna().astype(str))
    return manifest.empty or any((folder / name).is_file() for name in names)


def tables_only(folder) -> str:
    """``"<folder> keeps none of its N samples' files, only its tables"`` when it does (see
    :func:`keeps_sample_files`), else ""."""
    folder = Path(folder)
    if keeps_sample_files(folder):
        return ""
    n = read_manifest(folder)["sample_id"].nunique()
    return f"{folder} keeps none of its {n:,} samples' files, only its tables"


def read_manifest(folder_or_path, required=("sample_id", "layer", "file")):
    """Read an exported folder's ``manifest.csv`` (a folder or the file itself).

    Text columns (:data:`MANIFEST_TEXT_COLUMNS`) are strings, empty cells NaN.

    Raises
    ------
    GanphonError
        If there is no manifest, it cannot be parsed, or lacks a ``required`` column.
    """
    path = Path(folder_or_path)
    if path.is_dir() or path.suffix.lower() != ".csv":
        path = path / layout.MANIFEST
    require_file(path, "manifest file", "no manifest; is this a folder written by 'ganphon probe' or 'ganphon sweep'?")
    manifest = read_table(path, "manifest", dtype={c: str for c in MANIFEST_TEXT_COLUMNS})
    missing = [c for c in required if c not in manifest.columns]
    if missing:
        raise GanphonError(f"{path}: manifest lacks column(s) {', '.join(missing)}")
    # a manifest cut short (its last row without the rest of its cells, or no row at all) names no sample
    # whole: refused here, before any reader casts a cell that is not there
    if ends_mid_row(path):
        raise GanphonError(f"{path}: ends in the middle of a row (cut short?); export the folder again")
    if manifest.empty:
        raise GanphonError(f"{path}: manifest lists no file (cut short?); export the folder again")
    import pandas as pd

    for column in MANIFEST_NAME_COLUMNS:  # names of the folder's own files: never a path leaving it
        if column not in manifest.columns:
            continue
        cells = manifest[column]
        bad = cells.notna().to_numpy() & ~layout.plain_names(cells.fillna("x"))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise GanphonError(f"{path}: row {row + 2} has {column} {cells.iloc[row]!r}, not a file name of its "
                               f"folder (a manifest names files beside it: no folder part, no line break)")
    # each file, and each sample's layer, once: two manifests pasted together (or a row copied) had been
    # annotated twice by two workers at once, and plotted and explored twice, where measuring refused them
    for columns in (("file",), ("sound_file",), ("sample_id", "layer")):
        refuse_repeated(path, manifest, columns, "manifests")
    latents = {c: MANIFEST_NUMBER_COLUMNS["value"] for c in manifest.columns if _LATENT_COLUMN.fullmatch(str(c))}
    for column, (whole, least, may_be_empty) in {**MANIFEST_NUMBER_COLUMNS, **latents}.items():
        if column not in manifest.columns:  # a cut, blanked or mistyped cell: named, never used (nor read as empty)
            continue
        cells = manifest[column]
        values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if least is not None:
            bad |= values <= 0 if least == "positive" else values < 0
        if may_be_empty:
            bad &= cells.notna().to_numpy()
        if whole:
            bad |= np.isfinite(values) & (values != np.round(values))
            if least == "positive":  # a count of samples: within a 32-bit index
                bad |= values >= 2**31
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            cell = cells.iloc[row]
            has = f"no {column}" if pd.isna(cell) else f"{column} {str(cell)!r}"
            kind = {"positive": f"a positive {'whole ' if whole else ''}number", "zero": "a whole number ≥ 0",
                    None: "a finite number"}[least]
            empty = " or empty" if may_be_empty else ""
            raise GanphonError(f"{path}: row {row + 2} has {has}; it must be {kind}{empty} "
                               f"{number_hint(cell)[1:] or '(a cut or edited manifest?)'}")
    _check_design_cells(path, manifest)
    return manifest


def _check_design_cells(path, manifest) -> None:
    """Refuse a manifest whose sweep value (``value``) differs from the cell of the variable it varies (the
    ``z11`` column of a row with ``var`` z11): a sweep writes both from one number, so a difference is an edit,
    and the models would fit the sample at a value it was not generated with."""
    if "var" not in manifest.columns or "value" not in manifest.columns:
        return
    import pandas as pd

    design = pd.to_numeric(manifest["value"], errors="coerce").to_numpy(dtype=float)
    for var in manifest["var"].dropna().unique():
        if not _VARIED_LATENT.fullmatch(str(var)) or var not in manifest.columns:  # e.g. var intervention: a label
            continue
        rows = (manifest["var"] == var).to_numpy()
        cell = pd.to_numeric(manifest[var], errors="coerce").to_numpy(dtype=float)
        bad = rows & ~((design == cell) | (np.isnan(design) & np.isnan(cell)))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise GanphonError(f"{path}: row {row + 2} varies {var} to value {manifest['value'].iloc[row]} but its "
                               f"{var} cell is {manifest[var].iloc[row]} (an edited manifest?); export the folder again")


def refuse_repeated(path, table, columns, what: str) -> None:
    """Raise when two rows of ``table`` (read from ``path``) hold the same ``columns``, naming both rows
    (``what``: the kind of table, plural, for the hint)."""
    if not all(c in table.columns for c in columns):
        return
    keys = table[list(columns)]
    again = (keys.notna().all(axis=1) & keys.duplicated(keep="first")).to_numpy()
    if again.any():
        second = int(np.flatnonzero(again)[0])
        first = int(np.flatnonzero((keys == keys.iloc[second]).all(axis=1).to_numpy())[0])
        listed = " ".join(f"{c} {keys.iloc[second][c]!r}" for c in columns)
        raise GanphonError(f"{path}: rows {first + 2} and {second + 2} both list {listed} (two {what} "
                           "pasted together, or a row copied?); keep one")


def read_latents(path):
    """Read a ``latents.csv`` (a folder or the file): ``sample_id`` then one column per latent variable,
    each sample once."""
    path = Path(path)
    if path.is_dir():
        path = path / layout.LATENTS
    table = read_table(path, "latents table", dtype={"sample_id": str})
    if "sample_id" not in table.columns:
        raise GanphonError(f"{path}: latents table lacks column sample_id")
    refuse_repeated(path, table, ("sample_id",), "latents files")
    table.attrs["source"] = str(path)
    return table


def write_json(path, obj) -> Path:
    """Write ``obj`` as indented UTF-8 JSON atomically; returns the path."""
    layout.atomic_write_text(path, json.dumps(obj, indent=1, ensure_ascii=False, default=str) + "\n")
    return Path(path)


# ---------------------------------------------------------------- run records


def normalise(obj):
    """``obj`` as it reads back from JSON (tuples → lists, paths → strings)."""
    return json.loads(json.dumps(obj, default=str))


def request_digest(request: dict) -> str:
    """A short fingerprint of a request (sha256 of its canonical JSON)."""
    text = json.dumps(normalise(request), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def versions(*modules: str) -> dict:
    """Versions recorded next to every result: ganphon, Python, numpy and each of ``modules``.

    ``parselmouth`` also records the Praat version inside it.
    """
    import importlib
    import platform

    from ._version import __version__

    out = {"ganphon": __version__, "python": platform.python_version(), "numpy": np.__version__}
    for name in modules:
        module = importlib.import_module(name)
        if name == "parselmouth":
            out["parselmouth"] = module.VERSION
            out["praat_in_parselmouth"] = module.PRAAT_VERSION
        else:
            out[name] = module.__version__
    return out


#: The fields every run record holds, in this order, whatever wrote it (see :func:`run_record`).
RECORD_FIELDS = ("kind", "command", "request", "versions", "seed", "timings", "inputs")
#: Fields of records written before the one schema, and where they belong now
#: (a measurement's settings and a training run's configurations are its request).
_OLD_REQUEST_FIELDS = {
    "measure": ("engine", "tier", "points", "inputs", "measures", "settings_preset", "settings"),
    "train": ("model_config", "train_config", "data"),
}


def command_line(command: str | None) -> str:
    """The command line a run record holds: given, or this process's."""
    import shlex

    return command or shlex.join(sys.argv)


def created() -> str:
    """The time a run record holds as ``created`` (UTC, seconds)."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_record(kind: str, *, command=None, request=None, seed=None, modules=(), timings=None, inputs=None,
               **fields) -> dict:
    """A run record: what made a folder or a table, in the one schema of every ganphon record.

    Parameters
    ----------
    kind : str
        What wrote it: ``probe``, ``sweep``, ``measure``, ``stats``, ``corpus``, ``train``, ``demo`` …
    command : str, optional
        The command line.
    request : dict, optional
        What defines the result (two runs with equal requests make equal results).
    seed : int or dict, optional
    modules : sequence of str
        Packages whose versions are recorded besides ganphon, Python and numpy (:func:`versions`).
    timings : dict, optional
        Seconds per stage.
    inputs : dict, optional
        Digests of what the run read (:func:`file_digest`, :func:`textgrid_digest`, :func:`request_digest`),
        so that a later stage can tell a result older than its inputs.
    **fields
        Anything more the kind records (planned files, notes …), after the schema's fields.
    """
    record = {"kind": kind, "command": command, "request": request, "versions": versions(*modules),
              "seed": seed, "timings": dict(timings or {}), "inputs": dict(inputs or {})}
    return {**record, **fields}


def check_record_slot(path, kind: str, what: str = "--out") -> None:
    """Refuse to write a ``kind`` record at ``path`` over a file that is not one (a file of the user's).

    A table's record goes beside it (``table.json``), a command's record into its
    output folder; an earlier run's record of the same kind is replaced, anything
    else there — notes, another program's JSON — would be lost.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    try:
        found = read_record(path).get("kind")
    except GanphonError:
        found = None
    if found != kind:
        raise GanphonError(f"{path}: exists and is not a ganphon {kind} record, which {what} writes there; "
                           "move it away or choose another name")


def check_results_folder(folder, record: str, kind: str) -> None:
    """Refuse an output folder that holds files but not this command's ``record`` (a folder of the user's).

    A command writing a fixed set of tables into ``--out`` replaces them on the next run; in a
    folder that is not its own, a file of the same name would be lost.
    """
    folder = Path(folder)
    if not folder.is_dir() or not any(not p.name.startswith(".") for p in folder.iterdir()):
        return
    if not (folder / record).is_file():
        raise GanphonError(f"{folder}: folder is not empty and holds no ganphon {record}; choose another --out "
                           "(a new or empty folder, or one this command wrote)")
    check_record_slot(folder / record, kind)


def write_run_record(path, record: dict) -> Path:
    """Write a run record atomically; ``path`` a folder (its ``run.json``) or a record file.  Returns the path.

    The one writer of every record (a folder's ``run.json``, a table's
    ``acoustics.json``, ``stats.json``, ``demo.json``, a training run's
    ``run.json``): fields of the schema (:data:`RECORD_FIELDS`) that ``record``
    lacks are added empty, ``kind`` from the request when it names one.
    """
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / layout.RUN_JSON
    record = dict(record)
    request = record.get("request")
    if record.get("kind") is None and isinstance(request, dict) and isinstance(request.get("kind"), str):
        record["kind"] = request["kind"]
    if "versions" not in record:
        record["versions"] = versions()
    full = {key: record.pop(key, {} if key in ("timings", "inputs") else None) for key in RECORD_FIELDS}
    return write_json(path, normalise({**full, **record}))


def read_record(path) -> dict:
    """A run record file in the one schema, whatever ganphon version wrote it.

    Records written before the schema (an acoustic table's settings, a
    training ``run.json``, the bundled model's card, ``stats.json`` with a
    ``ganphon_version``) are read into it: their settings or configurations
    become the ``request``, their version fields ``versions``; every
    field of :data:`RECORD_FIELDS` is present.

    Raises
    ------
    GanphonError
        If the file is missing, unreadable or not a JSON object (one line naming it).
    """
    record = read_json(path, "run record")
    if not isinstance(record, dict):
        raise GanphonError(f"{path}: not a ganphon run record")
    record = _in_schema(record)
    for key, kind, name in _RECORD_TYPES:  # every reader may then use a field as its type (a damaged one: named)
        value = record[key]
        if value is not None and not isinstance(value, kind):
            raise GanphonError(f"{path}: its {key} is {json.dumps(value)[:40]}, not {name} (a damaged run record?)")
    return record


#: The schema fields' types (when not null): what every reader of a record may take them to be.
_RECORD_TYPES = (("kind", str, "a name"), ("command", str, "a command line"), ("request", dict, "an object"),
                 ("versions", dict, "an object"), ("timings", dict, "an object"), ("inputs", dict, "an object"))


def read_json(path, what: str = "JSON file"):
    """Read a JSON file (UTF-8, a BOM or UTF-16 as in :func:`read_text`: a record edited in Notepad) as it is;
    one-line errors naming the file and ``what`` it should be."""
    path = Path(path)
    refuse_not_a_file(path, what)
    try:
        raw = path.read_bytes()
        return json.loads(raw.decode(text_encoding(raw)))
    except FileNotFoundError:
        raise GanphonError(f"{path}: no such {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise GanphonError(f"{path}: unreadable {what} ({first_line(exc)})") from None


def _in_schema(record: dict) -> dict:
    """``record`` with every schema field, an older record's fields moved where the schema keeps them."""
    record = dict(record)
    if all(key in record for key in RECORD_FIELDS):
        return record
    kind = record.get("kind")
    if kind is None and "engine" in record and "measures" in record:
        kind = "measure"
    if kind in _OLD_REQUEST_FIELDS and not isinstance(record.get("request"), dict):
        record["request"] = {key: record.pop(key) for key in _OLD_REQUEST_FIELDS[kind] if key in record}
    if kind is None and isinstance(record.get("request"), dict):
        kind = record["request"].get("kind")
    record["kind"] = kind
    found = record.get("versions") if isinstance(record.get("versions"), dict) else {}
    for old, name in (("ganphon_version", "ganphon"), ("ganphon", "ganphon"), ("parselmouth_version", "parselmouth"),
                      ("praat_version", "praat_in_parselmouth")):
        if isinstance(record.get(old), str) and name not in found:
            found[name] = record.pop(old)
    record["versions"] = found
    if "timings" not in record and isinstance(record.get("timings_s"), dict):
        record["timings"] = record.pop("timings_s")
    for key in RECORD_FIELDS:
        record.setdefault(key, {} if key in ("timings", "inputs") else None)
    return record


def read_run_record(folder) -> dict | None:
    """The ``run.json`` of ``folder`` in the one schema (:func:`read_record`), or ``None`` when it has none.

    Raises
    ------
    GanphonError
        If the file exists but is not a JSON object.
    """
    path = Path(folder) / layout.RUN_JSON
    refuse_not_a_file(path, "run record file")
    if not path.is_file():
        return None
    return read_record(path)


def file_digest(path) -> str:
    """A short fingerprint of a file's bytes (sha256, 16 hex digits)."""
    refuse_not_a_file(path, "file")
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _annotation_files(folder: Path) -> list:
    """The annotations of ``folder``: its TextGrids and a store's annotation table, in name order."""
    return sorted(folder.glob("*.TextGrid")) + sorted(p for p in [folder / layout.ANNOTATIONS_PARQUET] if p.is_file())


def textgrid_digest(folder) -> str | None:
    """One fingerprint of every annotation of ``folder``: its TextGrids' names and bytes (and a store's
    annotation table); ``None`` when it has none."""
    found = _annotation_files(Path(folder))
    if not found:
        return None
    h = hashlib.sha256()
    for path in found:
        h.update(f"{path.name}\0{file_digest(path)}\0".encode("utf-8"))
    return h.hexdigest()[:16]


def measured_inputs(folder, annotations: bool = True) -> dict:
    """What a measurement of ``folder`` read, as digests: its annotations (``textgrids``; only with
    ``annotations``, a measurement by interval), the request of the export it measured (``export``) and
    the ``manifest.csv`` its rows are joined with (``manifest``: the design the models fit), each ``None``
    when the folder has none.  A ``run.json`` that exists but cannot be read raises
    (:func:`read_run_record`): it would read as "exported again" otherwise."""
    folder = Path(folder)
    record = read_run_record(folder) if folder.is_dir() else None  # a damaged run.json is an error, not "none"
    request = (record or {}).get("request")
    found = {"export": request_digest(request) if isinstance(request, dict) else None}
    manifest = folder / layout.MANIFEST
    found["manifest"] = file_digest(manifest) if manifest.is_file() else None
    if annotations:
        found["textgrids"] = textgrid_digest(folder) if folder.is_dir() else None
    return found


def input_state(folder) -> list:
    """What :func:`measured_inputs` reads in ``folder``, as the files' names, inodes, sizes and times: equal
    states are the same inputs (a file rewritten is a new inode or time); far cheaper than the digests,
    for telling whether a folder changed while a command read it."""
    state = []
    for path in [*_annotation_files(Path(folder)), Path(folder) / layout.RUN_JSON, Path(folder) / layout.MANIFEST]:
        with contextlib.suppress(FileNotFoundError):
            st = path.stat()
            state.append((path.name, st.st_ino, st.st_size, st.st_mtime_ns))
    return state


def stale_inputs(record: dict, folder) -> list[str]:
    """What changed in ``folder`` since the measurement ``record`` describes: one phrase per input whose digest
    differs from the one recorded (an input the record has no digest of is not judged)."""
    then = (record or {}).get("inputs")
    if not isinstance(then, dict):
        return []
    return input_changes(then, measured_inputs(folder, annotations="textgrids" in then))


def input_changes(then: dict, now: dict) -> list[str]:
    """One phrase per input of :func:`measured_inputs` whose digest differs between ``then`` and ``now``."""
    changed = []
    if "textgrids" in then and then["textgrids"] != now.get("textgrids"):
        changed.append("the TextGrids changed (annotated again?)" if now.get("textgrids")
                       else "the TextGrids were removed")
    if then.get("export") and then["export"] != now.get("export"):
        changed.append(f"the folder was exported again ({layout.RUN_JSON} holds another request)")
    elif then.get("manifest") and then["manifest"] != now.get("manifest"):  # the design each row is fitted at
        changed.append(f"{layout.MANIFEST} changed (edited?)" if now.get("manifest")
                       else f"{layout.MANIFEST} was removed")
    return changed


def table_mismatch(record: dict, table, digest: str | None = None) -> str:
    """Why ``table`` is not the one its measurement ``record`` was written for ("" when it is, or when the record
    keeps no digest of it: an older ganphon, a store's parts).  ``digest``: the table's, when already known."""
    then = (record or {}).get("table_sha256")
    if not isinstance(then, str):
        return ""
    if (digest or file_digest(table)) == then:
        return ""
    return (f"the table changed after its record {Path(table).with_suffix('.json').name} was written "
            "(edited, or a measurement stopped between the two)")


def _differing_keys(previous: dict, request: dict) -> list[str]:
    keys = sorted(set(previous) | set(request))
    return [k for k in keys if previous.get(k) != request.get(k)]


def prepare_folder(out, request: dict, *, overwrite: bool = False, record: dict | None = None) -> bool:
    """Make ``out`` the folder of exactly one request, and record it before any result.

    * a missing or empty folder is created;
    * a folder whose ``run.json`` holds an equal request is resumed;
    * any other non-empty folder is refused unless ``overwrite``;
    * with ``overwrite``, every entry the folder's ledger says ganphon wrote is
      removed (kept aside until the command succeeds), whatever an earlier,
      possibly interrupted, run managed to write; other entries are left alone.
      A folder without a ledger (an older ganphon) falls back to the names
      this kind writes (:func:`ganphon.layout.owns`); one without a ganphon
      ``run.json`` that holds anything else is refused even then.

    The folder is locked first (:func:`ganphon.layout.lock_folder`): another
    live writer, or a folder of another kind (a training run for a probe), is
    refused even with ``overwrite``.

    Then ``run.json`` is written with ``request`` and the extra ``record`` fields
    (command, planned files, versions …), before the first result file.

    Parameters
    ----------
    out : path-like
    request : dict
        What defines the run; ``request["kind"]`` (``probe``, ``sweep``, ``demo`` …)
        chooses the names the folder owns.
    overwrite : bool
    record : dict, optional
        More fields for ``run.json``.

    Returns
    -------
    bool
        True when an earlier run of the same request is being resumed.

    Raises
    ------
    GanphonError
        If ``out`` is a file, or the folder holds another run or foreign files
        and ``overwrite`` is off (nothing is changed then).
    """
    out = Path(out)
    request = normalise(request)
    kind = layout.folder_kind(request.get("kind"))
    resuming = False
    if out.exists() and not out.is_dir():
        raise GanphonError(f"{out}: exists and is not a folder")
    layout.lock_folder(out, kind)  # refuses another live writer and a folder of another kind
    entries = sorted(p for p in out.iterdir() if not p.name.startswith("."))
    if entries:
        previous = None
        try:
            previous = read_run_record(out)
        except GanphonError as exc:  # the writer's hint: only a command that writes the folder has --overwrite
            if not overwrite:
                raise GanphonError(f"{exc}; pass --overwrite to start again") from None
        if previous is not None and not isinstance(previous.get("request"), dict):
            previous = None  # another tool's run.json
        prev_request = (previous or {}).get("request")
        if not overwrite:
            if previous is None:
                raise GanphonError(f"{out}: folder is not empty and holds no ganphon run.json; "
                                   "choose another --out")
            if prev_request != request and _finished_nothing(out, entries, prev_request):
                for p in entries:  # a failed run's records only: the corrected command takes the folder
                    layout.discard(p)
            elif prev_request != request:
                diff = _differing_keys(prev_request or {}, request)
                raise GanphonError(f"{out}: was written by a different command (differs in "
                                   f"{', '.join(diff[:4])}); choose another --out or pass --overwrite")
            resuming = prev_request == request
        else:
            owned = layout.owned_entries(out, kind)  # from the ledger: exactly what ganphon wrote
            if owned is None:  # a folder without a ledger (an older ganphon): by name
                kinds = {kind}
                if isinstance(prev_request, dict):
                    kinds.add(layout.folder_kind(prev_request.get("kind")))
                owned = [p for p in out.iterdir() if any(layout.owns(k, p.name, out) for k in kinds)]
                if previous is None:
                    foreign = [p.name for p in entries if p not in owned]
                    if foreign:
                        raise GanphonError(f"{out}: holds files ganphon did not write ({', '.join(foreign[:3])}"
                                           f"{' …' if len(foreign) > 3 else ''}); --overwrite only replaces a "
                                           "ganphon run; choose another --out")
            for p in owned:
                layout.discard(p)
    record = dict(record or {})
    if resuming:
        record.update(_earlier_versions(out, previous, record, request))
    layout.start_ledger(out, kind, fresh=overwrite or not resuming)
    write_run_record(out, {"request": request, **record})
    return resuming


def _earlier_versions(out: Path, previous: dict, record: dict, request: dict) -> dict:
    """``earlier_versions`` of a resumed run's record: the versions each earlier part of it ran with.

    A run resumed under other versions (an upgrade of ganphon, torch or Praat between
    the two commands) holds samples made by both; the record keeps the versions of
    every earlier part, with the samples finished when it stopped, and a note says so.
    """
    earlier = previous.get("earlier_versions", [])
    if not (isinstance(earlier, list) and all(isinstance(part, dict) for part in earlier)):
        raise GanphonError(f"{out / layout.RUN_JSON}: its earlier_versions is {json.dumps(earlier)[:40]}, not a "
                           "list of objects (a damaged run record?)")
    before, now = previous.get("versions") or {}, record.get("versions") or versions()
    if before and before != now:
        part = {"versions": before}
        if (out / layout.FINISHED).is_file():
            part["samples_finished"] = len(read_finished(out, request))
        earlier = [*earlier, part]
        changed = ", ".join(f"{name} {before.get(name, 'absent')} → {now.get(name, 'absent')}"
                            for name in sorted(set(before) | set(now)) if before.get(name) != now.get(name))
        done = f" ({part['samples_finished']} samples finished with them)" if "samples_finished" in part else ""
        print(f"ganphon: note: {out}: resuming a run begun under other versions ({changed}){done}; "
              f"{layout.RUN_JSON} keeps them in earlier_versions", file=sys.stderr)
    return {"earlier_versions": earlier} if earlier else {}


def _finished_nothing(out: Path, entries, prev_request) -> bool:
    """Whether ``out`` holds only the records of a run that finished no sample (it failed at once)."""
    if not isinstance(prev_request, dict):
        return False
    records = {layout.RUN_JSON, layout.FINISHED}
    if any(not (p.is_file() and (p.name in records or layout.is_temporary(p.name))) for p in entries):
        return False
    return not read_finished(out, prev_request)


# ---------------------------------------------------------------- size of a request

#: A command writing more than this many bytes (or items) asks for ``--yes``.
SIZE_LIMIT = 10 * 2**30
ITEM_LIMIT = 1_000_000
#: More items than this is an error whatever ``--yes`` says (a typo, not an experiment).
MAX_ITEMS = 10_000_000


def check_room(n_items: int, bytes_per_item: float, out, *, yes: bool = False, option: str = "--n",
               what: str = "items", limit: int | None = SIZE_LIMIT) -> int:
    """Estimate what a generating command writes before it writes; ask for ``--yes`` past the limits.

    Every command that generates many items (probe, sweep, corpus) calls this
    with its own estimate per item, so a typo such as ``--n 1000000000`` is one
    line naming ``option`` instead of hours of allocation.

    Raises
    ------
    GanphonError
        More than :data:`MAX_ITEMS`; or, without ``yes``, more than the free
        disk, ``limit`` bytes or :data:`ITEM_LIMIT` items.
    """
    import shutil

    need = int(bytes_per_item * n_items)
    if n_items > MAX_ITEMS:
        raise GanphonError(f"{option}: {n_items:,} {what}; more than {MAX_ITEMS:,} is surely a mistake")
    folder = Path(out).resolve()
    while not folder.exists():
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    free = usage.free if usage.total else float("inf")  # /proc and friends report 0 of 0
    where = f"{n_items:,} {what} would take about {size_text(need)} ({size_text(free)} free on {folder})"
    if not yes and ((limit is not None and need > limit) or n_items > ITEM_LIMIT or need > free):
        raise GanphonError(f"{option}: {where}; check it, or pass --yes to run it")
    return need


# ---------------------------------------------------------------- completion record

def read_finished(folder, request: dict) -> set[str]:
    """Sample ids recorded as finished in ``folder/finished.txt`` for this ``request``.

    Only whole lines count (a line cut by a kill is ignored), and only when the
    file's header names the same request.
    """
    path = Path(folder) / layout.FINISHED
    if not path.is_file():
        return set()
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")[:-1]
    if not lines or lines[0] != _finished_header(request):
        return set()
    return set(lines[1:])


def _finished_header(request: dict) -> str:
    return f"# ganphon finished samples of request {request_digest(request)}"


class FinishedLog:
    """Append sample ids to ``folder/finished.txt`` as samples finish.

    Use as a context manager; :meth:`add` is called after every file of a
    sample is in place.  A log of another request is started afresh.
    """

    def __init__(self, folder, request: dict):
        self.path = Path(folder) / layout.FINISHED
        self.header = _finished_header(request)
        self._fh = None

    def __enter__(self) -> FinishedLog:
        fresh = True
        if self.path.is_file():
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                fresh = fh.readline().rstrip("\n") != self.header
        if fresh:
            layout.atomic_write_text(self.path, self.header + "\n")
        else:
            layout.journal_modify(self.path)
            raw = self.path.read_bytes()
            if not raw.endswith(b"\n"):  # drop a line cut by a kill, so it never joins the next one
                with layout.atomic_path(self.path) as tmp:
                    Path(tmp).write_bytes(raw[: raw.rfind(b"\n") + 1])
        self._fh = open(self.path, "a", encoding="utf-8")
        return self

    def add(self, sample_id: str) -> None:
        """Record ``sample_id`` as finished."""
        self._fh.write(sample_id + "\n")
        self._fh.flush()

    def __exit__(self, *exc) -> None:
        self._fh.close()
