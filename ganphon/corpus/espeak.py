"""A second source of training words: Debian's ``espeak-ng`` speech synthesiser.

Each token is one word spoken by ``espeak-ng`` with per-token variation of
pitch, speed and voice, resampled to the corpus rate, placed after a random
onset and zero-padded to the slice.  Its TextGrid has a ``words`` tier whose
word interval comes from an intensity threshold (the stretch where the
intensity is within ``threshold_db`` of its maximum), so its boundaries are
measured, not known.  Used only when ``espeak-ng`` is on the PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import parselmouth
from tqdm.auto import tqdm

from ..errors import GanphonError, ParameterError, name_list
from ..io import (command_line, read_wav, run_record, textgrid_from_intervals, write_run_record, write_table,
                  write_textgrid, write_wav)
from ..layout import CORPUS_CSV, SYNTH_JSON, corpus_token
from .folder import prepare_corpus_folder, resample

VOICES = ("en", "en-us", "en-gb-x-rp", "en+m3", "en+f3")


def espeak_path() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise ParameterError("engine", "espeak needs espeak-ng, which is not on the PATH (Debian: apt-get install "
                                       "espeak-ng); use source-filter instead")
    return exe


def word_interval(wave: np.ndarray, sr: int, threshold_db: float = 30.0) -> tuple[float, float]:
    """Start and end (s) of the word: the stretch within ``threshold_db`` of the peak.

    The intensity contour finds the loud stretch (robust to isolated clicks);
    its edges are then moved to the first and last sample whose amplitude is
    within ``threshold_db`` of the peak amplitude, within 40 ms of them.
    """
    x = np.asarray(wave, dtype=np.float64)
    peak = np.abs(x).max()
    if peak == 0:
        return 0.0, len(x) / sr
    snd = parselmouth.Sound(x, sampling_frequency=sr)
    inten = snd.to_intensity(minimum_pitch=100.0, time_step=0.005, subtract_mean=False)
    db, t = inten.values[0], inten.xs()
    loud = np.flatnonzero(db >= db.max() - threshold_db)
    reach = int(0.040 * sr)
    lo = max(0, int(t[loud[0]] * sr) - reach)
    hi = min(len(x), int(t[loud[-1]] * sr) + reach)
    above = np.flatnonzero(np.abs(x[lo:hi]) >= peak * 10 ** (-threshold_db / 20)) + lo
    return float(above[0] / sr), float((above[-1] + 1) / sr)


def speak(word: str, voice: str, pitch: int, speed: int, sr: int) -> np.ndarray:
    """One word from espeak-ng as float samples at ``sr``."""
    exe = espeak_path()
    with tempfile.TemporaryDirectory(prefix="ganphon_espeak_") as tmp:
        wav = Path(tmp) / "w.wav"
        done = subprocess.run([exe, "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(wav), word],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0 or not wav.exists():
            raise GanphonError(f"espeak-ng failed on {word!r} with voice {voice}: {done.stderr.strip()[:200]}")
        x, rate = read_wav(wav)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if rate != sr:
        x = resample(x, rate, sr)
    return x


def synthesize_espeak(words, n: int, seed: int, out, sr: int = 16000, slice_len: int = 16384,
                      progress: bool = True, overwrite: bool = False, command: str | None = None) -> pd.DataFrame:
    """Write ``n`` espeak-ng tokens of ``words`` (cycled) with word-level TextGrids.

    Returns the table also written to ``out/corpus.csv`` (id, word, voice,
    pitch, speed, onset, word_start, word_end, seed).  ``out`` is prepared as
    :func:`ganphon.corpus.folder.prepare_corpus_folder` says (``run.json`` first;
    another run refused unless ``overwrite``).
    """
    words = [w.strip() for w in name_list(words, "words") or () if w.strip()]
    if not words:
        raise ParameterError("words", "needs at least one word")
    if n < 1:
        raise ParameterError("n", f"must be at least 1, got {n}")
    espeak_path()
    out = Path(out)
    request = {"kind": "corpus-espeak", "words": words, "n": n, "seed": seed, "sr": sr, "slice_len": slice_len}
    prepare_corpus_folder(out, request, overwrite, command_line(command), planned={
        "items": [corpus_token("espeak", i) for i in range(n)], "files_per_item": ["{id}.wav", "{id}.TextGrid"],
        "tables": [CORPUS_CSV, SYNTH_JSON]})
    rng = np.random.default_rng(seed)
    T = slice_len / sr
    rows = []
    for i in tqdm(range(n), desc="espeak-ng", unit="token", disable=not progress):
        word = words[i % len(words)]
        voice = VOICES[int(rng.integers(len(VOICES)))]
        pitch, speed = int(rng.integers(25, 76)), int(rng.integers(140, 191))
        x = speak(word, voice, pitch, speed, sr)
        s0, s1 = word_interval(x, sr)
        a, b = int(round(s0 * sr)), int(round(s1 * sr))
        x = x[a:b]
        onset = int(rng.integers(int(0.02 * sr), int(0.15 * sr) + 1))
        if onset + len(x) > slice_len:
            raise GanphonError(f"espeak-ng's {word!r} lasts {len(x) / sr:.2f} s: too long for a {T:.3f} s slice")
        wave = np.zeros(slice_len, dtype=np.float32)
        peak = np.abs(x).max()
        wave[onset:onset + len(x)] = (x * (0.9 / peak if peak > 0 else 1.0)).astype(np.float32)
        tid = corpus_token("espeak", i)
        start, end = onset / sr, (onset + len(x)) / sr
        write_wav(out / f"{tid}.wav", wave, sr)
        write_textgrid(out / f"{tid}.TextGrid", textgrid_from_intervals({"words": [(start, end, word)]}, T))
        rows.append({"id": tid, "file": f"{tid}.wav", "textgrid": f"{tid}.TextGrid", "word": word,
                     "voice": voice, "pitch": pitch, "speed": speed, "onset": start,
                     "word_start": start, "word_end": end, "seed": seed})
    df = pd.DataFrame(rows)
    write_table(df, out / CORPUS_CSV)
    write_run_record(out / SYNTH_JSON, run_record("corpus", command=command, request=request, seed=seed,
                                                  engine="espeak"))
    return df
