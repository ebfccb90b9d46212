"""A controlled synthetic training corpus: a source-filter synthesiser of words.

The papers trained on TIMIT #TV/#sTV words and on recorded reduplication
items; neither is available here, so this module builds words of the same
shapes from known parameters, each with a ground-truth TextGrid.

Synthesis, per token (pure numpy/scipy):

* voicing: a Rosenberg glottal flow derivative driven by a phase accumulator,
  so F0 follows a smooth (linearly declining) contour exactly;
* a cascade of Klatt second-order resonators (F1-F4 with bandwidths, plus a
  fixed F5) whose targets move linearly between segments; each segment keeps its
  stated target over its middle, so the value at the midpoint is the stated one;
* [s]: white noise high-passed at 3.5 kHz, through a resonance near 6 kHz,
  low-passed at 7.2 kHz;
* stops: a silent closure (with optional prevoicing murmur for b d g), a burst
  shaped by place of articulation, then aspiration noise through the following
  vowel's onset formants; the release + aspiration interval is the VOT;
* [v]: voicing through labiodental formants plus weak noise.

Every token varies by speaker and tempo: base F0 (90-220 Hz), all formants
scaled by one factor (+-8 %), each duration (+-20 %), leading silence
(20-150 ms) and peak amplitude (<= 0.9).  Token ``i`` of a corpus depends only
on ``(seed, i)``: a larger corpus with the same seed starts with the same tokens.

TextGrids have two tiers.  ``phones`` covers the whole slice with the labels of
:data:`ganphon.annotate.PHONE_CLASS` (``sil`` before and after the word).  ``words`` holds one
interval with the ASCII spelling of the word; the stretches before and after it
are empty intervals (Praat's convention for "nothing here").  Every boundary is
a sample boundary used in synthesis divided by ``sr``.

Measured with Praat (``To Pitch``, ``To Formant (burg)``, 5 formants up to
5500 Hz) at the midpoint of the word's last vowel, F0 comes out within 0.2 %
of ``f0_mid`` and F2 within 10 % of ``f2``; F1 within 10 % of ``f1`` wherever
F1 >= 2 F0.  For high vowels of high voices (F1 < 2 F0) Burg's F1 is pulled
up towards the second harmonic (by up to 25 %): the table gives the synthesis
target, not what LPC will report.
"""

from __future__ import annotations

import itertools
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
import scipy.signal
import tgt
from tqdm import tqdm

# the phones' classes are the segmentation's (one table, in the stage before the corpus)
from ..annotate import PHONE_CLASS, phone_class  # noqa: F401 (importable from here)
from ..errors import GanphonError, ParameterError, name_list
from ..io import run_record, write_run_record, write_table, write_textgrid, write_wav
from ..layout import CORPUS_CSV, PHONES_CSV, SYNTH_JSON, corpus_token
from ..timebase import DEFAULT_SR, slice_duration
from .folder import prepare_corpus_folder

TEMPLATES = ("stv", "redup")
DEFAULT_SLICE_LEN = 16384


ASCII_SPELLING = {"ɑ": "a", "ɹ": "r", "j": "y"}

VOICELESS_STOPS = ("p", "t", "k")
VOICED_STOPS = ("b", "d", "g")
STOPS = VOICELESS_STOPS + VOICED_STOPS
VOWELS = ("ɑ", "i", "u")
REDUP_ONSETS = ("p", "t", "k", "b", "d", "g", "v", "m", "n")
REDUP_CODAS = ("l", "ɹ", "j")

# Formant targets F1-F4 (Hz) and bandwidths (Hz) of an adult male-sized vocal
# tract; every token scales all formants by one speaker factor.
_TARGETS = {
    "ɑ": ((730.0, 1090.0, 2440.0, 3400.0), (80.0, 90.0, 150.0, 250.0)),
    "i": ((310.0, 2250.0, 2900.0, 3500.0), (60.0, 100.0, 150.0, 250.0)),
    "u": ((350.0, 1000.0, 2300.0, 3300.0), (70.0, 90.0, 150.0, 250.0)),
    "m": ((280.0, 1100.0, 2200.0, 3300.0), (120.0, 300.0, 300.0, 400.0)),
    "n": ((280.0, 1600.0, 2600.0, 3400.0), (120.0, 300.0, 300.0, 400.0)),
    "l": ((360.0, 1000.0, 2700.0, 3500.0), (80.0, 120.0, 200.0, 250.0)),
    "ɹ": ((350.0, 1100.0, 1600.0, 3300.0), (80.0, 120.0, 150.0, 250.0)),
    "j": ((280.0, 2150.0, 2950.0, 3500.0), (70.0, 120.0, 200.0, 250.0)),
    "v": ((250.0, 1300.0, 2300.0, 3300.0), (100.0, 200.0, 300.0, 400.0)),
}
_F5 = (4500.0, 350.0)

# Relative voicing amplitude of each voiced segment (vowels 1).
_VOICING_LEVEL = {"ɑ": 1.0, "i": 1.0, "u": 1.0, "l": 0.6, "ɹ": 0.6, "j": 0.6,
                  "m": 0.35, "n": 0.35, "v": 0.3}

_PLACE = {"p": "labial", "b": "labial", "t": "alveolar", "d": "alveolar",
          "k": "velar", "g": "velar"}
# F2 locus (Hz) by place; velars depend on the vowel's frontness.
_F2_LOCUS = {"labial": 800.0, "alveolar": 1750.0}
_F1_LOCUS = 250.0
_LOCUS_WEIGHT = 0.5  # onset = locus + weight * (target - locus)

# Base segment durations (s) before the +-20 % token variation.
_DUR = {
    "s": 0.120,
    "closure_initial": 0.060,
    "closure_after_s": 0.050,
    "closure_medial": 0.060,
    "vowel_stv": 0.220,
    "v2": 0.090,
    "v4": 0.200,
    "c3": 0.060,
    "v": 0.080,
    "nasal": 0.070,
}
VOT_LONG = (0.050, 0.090)    # voiceless stop, word-initial or stressed
VOT_SHORT = (0.010, 0.025)   # voiceless stop after s
VOT_VOICED = (0.010, 0.020)  # b d g: short lag
ONSET_RANGE = (0.020, 0.150)
F0_RANGE = (90.0, 220.0)
FORMANT_SCALE = (0.92, 1.08)
DURATION_SCALE = (0.8, 1.2)
PEAK_RANGE = (0.35, 0.9)
MIN_TRAILING = 0.060  # s of silence guaranteed after every word
# A word too long for the slice is shortened uniformly, but never below this
# fraction of its drawn duration (beyond it the VOT categories would blur).
MIN_COMPRESSION = 0.75
_BLOCK = 32  # samples per coefficient update of the time-varying cascade


@dataclass
class Token:
    """One synthesised word.

    Attributes
    ----------
    wave : numpy.ndarray
        float32 waveform of exactly ``slice_len`` samples.
    phones : list of (label, start_sample, end_sample)
        Contiguous segments covering the whole slice.
    word_span : tuple of int
        First and one-past-last sample of the word.
    row : dict
        The token's row of ``corpus.csv``.
    """

    wave: np.ndarray
    phones: list
    word_span: tuple
    row: dict = field(default_factory=dict)


def spelling(phones) -> str:
    """ASCII spelling of a sequence of IPA phone symbols (``ɑ`` → ``a``, ``ɹ`` → ``r``, ``j`` → ``y``)."""
    return "".join(ASCII_SPELLING.get(p, p) for p in phones)


# ----------------------------------------------------------------------------
# Design: which word each token is


def _designs(template: str, words=None) -> list:
    words = name_list(words, "words")
    if template == "stv":
        designs = [dict(has_s=h, stop=t, vowel=v)
                   for h, t, v in itertools.product((False, True), VOICELESS_STOPS, VOWELS)]
        if words is None:
            return designs
        return [designs[i] for i in _word_indices(designs, words)]
    if words is not None:
        raise ParameterError("words", "the source-filter engine draws words from template 'stv' only")
    return [dict(c1=c1, v2=v2, c3=c3, v4=v4, reduplicated=r)
            for c1, v2, c3, v4, r in itertools.product(
                REDUP_ONSETS, VOWELS, REDUP_CODAS, VOWELS, (False, True))]


def _stv_spelling(design) -> tuple[str, str]:
    phones = (["s"] if design["has_s"] else []) + [design["stop"], design["vowel"]]
    return spelling(phones), "".join(phones)


def _word_indices(designs, words) -> list[int]:
    """Positions in ``designs`` of the ``stv`` words asked for (ASCII or IPA spelling), in their order."""
    known = {}
    for i, d in enumerate(designs):
        for name in _stv_spelling(d):
            known[name] = i
    picked = []
    for w in words:
        if w not in known:
            choices = ", ".join(_stv_spelling(d)[0] for d in designs)
            raise ParameterError("words", f"{w!r} is not an stv word; choose from {choices}")
        if known[w] in picked:
            raise ParameterError("words", f"{w!r} is given twice")
        picked.append(known[w])
    if not picked:
        raise ParameterError("words", "is empty")
    return picked


def token_design(template: str, index: int, seed: int, words=None) -> dict:
    """The word of token ``index``: balanced over all combinations of the template.

    Tokens come in blocks that each hold every combination once, in an order
    shuffled by ``seed`` (18 for ``stv``, 486 for ``redup``), so any corpus is
    as balanced as its size allows (e.g. half the ``stv`` words have an
    initial [s]).

    Parameters
    ----------
    template : {"stv", "redup"}
    index : int
        Token number (0-based).
    seed : int
        Corpus seed.
    words : list of str or str, optional
        ``stv`` only: draw from these words alone (ASCII or IPA spelling, e.g.
        ``["ta", "sta", "pi"]`` or ``"ta,sta,pi"``), balanced in blocks of
        ``len(words)``.

    Returns
    -------
    dict
        ``has_s, stop, vowel`` for ``stv``; ``c1, v2, c3, v4, reduplicated`` for ``redup``.
    """
    _check_template(template)
    designs = _designs(template, words)
    block, pos = divmod(index, len(designs))
    order = np.random.default_rng([seed, 0, block]).permutation(len(designs))
    return dict(designs[order[pos]])


# ----------------------------------------------------------------------------
# Segment plans


def _varied(rng, base):
    return base * rng.uniform(*DURATION_SCALE)


def _stop_segments(rng, stop, closure_base, vot_range):
    return [(stop + "cl", _varied(rng, closure_base)), (stop, rng.uniform(*vot_range))]


def _plan(template, design, rng):
    """Word segments as (label, duration in s) and the extra facts of the design."""
    segs = []
    info = {}
    if template == "stv":
        if design["has_s"]:
            segs.append(("s", _varied(rng, _DUR["s"])))
            segs += _stop_segments(rng, design["stop"], _DUR["closure_after_s"], VOT_SHORT)
        else:
            segs += _stop_segments(rng, design["stop"], _DUR["closure_initial"], VOT_LONG)
        segs.append((design["vowel"], _varied(rng, _DUR["vowel_stv"])))
        phones = [lab for lab, _ in segs if not lab.endswith("cl")]
        info.update(design, reduplicated=False)
    else:
        c1, v2, c3, v4 = design["c1"], design["v2"], design["c3"], design["v4"]

        def onset(initial):
            if c1 in STOPS:
                vot = VOT_VOICED if c1 in VOICED_STOPS else VOT_LONG
                base = _DUR["closure_initial"] if initial else _DUR["closure_medial"]
                return _stop_segments(rng, c1, base, vot)
            return [(c1, _varied(rng, _DUR["v"] if c1 == "v" else _DUR["nasal"]))]

        syllables = [onset(True) + [(v2, _varied(rng, _DUR["v2"]))]]
        if design["reduplicated"]:
            syllables.append(onset(False) + [(v2, _varied(rng, _DUR["v2"]))])
        syllables.append([(c3, _varied(rng, _DUR["c3"])), (v4, _varied(rng, _DUR["v4"]))])
        segs = [s for syl in syllables for s in syl]
        phones = [lab for lab, _ in segs if not lab.endswith("cl")]
        info.update(design, has_s=False, stop=c1 if c1 in STOPS else "", vowel=v4)
    info["word_ipa"] = "".join(phones)
    info["word"] = spelling(phones)
    return segs, info


def _plan_token(template, index, seed, sr, slice_len, words=None):
    """Word, phones with sample boundaries, and the token's generator, ready for speaker draws."""
    _check_template(template)
    _check_seed(seed)
    _check_rate(sr)
    design = token_design(template, index, seed, words)
    rng = np.random.default_rng([seed, 1, index])
    segs, info = _plan(template, design, rng)
    phones, compression = _to_samples(segs, rng.uniform(*ONSET_RANGE), sr, slice_len)
    return rng, info, phones, compression


def _to_samples(segs, onset, sr, slice_len):
    """Round durations to whole samples, compressing the word if it cannot fit."""
    onset_n = max(1, int(round(onset * sr)))
    lengths = np.array([max(1, int(round(d * sr))) for _, d in segs])
    available = slice_len - onset_n - int(round(MIN_TRAILING * sr))
    factor = 1.0
    if lengths.sum() > available:
        factor = available / lengths.sum()
        if factor < MIN_COMPRESSION:
            raise ParameterError(
                "slice_len", f"{slice_len} samples at {sr} Hz ({slice_duration(slice_len, sr):g} s) "
                "is too short for these words; use a longer slice"
            )
        lengths = np.maximum(1, np.floor(lengths * factor).astype(int))
    bounds = onset_n + np.concatenate([[0], np.cumsum(lengths)])
    phones = [("sil", 0, onset_n)]
    phones += [(lab, int(bounds[i]), int(bounds[i + 1])) for i, (lab, _) in enumerate(segs)]
    phones.append(("sil", int(bounds[-1]), slice_len))
    return phones, factor


# ----------------------------------------------------------------------------
# Signal pieces


def _resonator(freq, bw, sr):
    """Klatt resonator coefficients (unity gain at 0 Hz): y = a x + b y[-1] + c y[-2]."""
    c = -np.exp(-2.0 * np.pi * bw / sr)
    b = 2.0 * np.exp(-np.pi * bw / sr) * np.cos(2.0 * np.pi * freq / sr)
    return 1.0 - b - c, b, c


def _static_cascade(x, freqs, bws, sr):
    y = x
    for f, bw in zip(freqs, bws):
        a, b, c = _resonator(f, bw, sr)
        y = scipy.signal.lfilter([a], [1.0, -b, -c], y)
    return y


def _varying_cascade(x, freqs, bws, sr):
    """Cascade of resonators whose frequencies change every ``_BLOCK`` samples.

    ``freqs`` and ``bws`` are [n_formants, n_blocks].  The filter state is
    carried across blocks as the last two outputs, so coefficient changes do
    not reset the resonators (no clicks).
    """
    y = np.asarray(x, dtype=np.float64)
    n = len(y)
    for k in range(freqs.shape[0]):
        out = np.empty(n)
        y1 = y2 = 0.0
        for j, start in enumerate(range(0, n, _BLOCK)):
            a, b, c = _resonator(freqs[k, j], bws[k, j], sr)
            o, _ = scipy.signal.lfilter([a], [1.0, -b, -c], y[start:start + _BLOCK],
                                        zi=[b * y1 + c * y2, c * y1])
            out[start:start + _BLOCK] = o
            if len(o) >= 2:
                y1, y2 = o[-1], o[-2]
            else:
                y1, y2 = o[-1], y1
        y = out
    return y


def _glottal_source(f0, sr, oversample=4):
    """Rosenberg glottal flow derivative for a per-sample F0 track (Hz).

    The pulse is computed at ``oversample`` times the rate and decimated: its
    corner at glottal closure would otherwise alias into inharmonic noise,
    which makes Burg formant estimates pick spurious poles.
    """
    phase = np.cumsum(np.repeat(f0, oversample) / (sr * oversample)) % 1.0
    rise, fall = 0.40, 0.16  # opening and closing phases, fractions of the period
    flow = np.where(
        phase < rise,
        0.5 * (1.0 - np.cos(np.pi * phase / rise)),
        np.where(phase < rise + fall, np.cos(0.5 * np.pi * (phase - rise) / fall), 0.0),
    )
    derivative = np.diff(flow, prepend=0.0) * oversample
    return scipy.signal.resample_poly(derivative, 1, oversample)[: len(f0)]


def _raised_cosine_envelope(n, rise, fall):
    env = np.ones(n)
    rise, fall = min(rise, n // 2), min(fall, n // 2)
    if rise > 0:
        env[:rise] = 0.5 * (1.0 - np.cos(np.pi * (np.arange(rise) + 0.5) / rise))
    if fall > 0:
        env[n - fall:] = 0.5 * (1.0 + np.cos(np.pi * (np.arange(fall) + 0.5) / fall))
    return env


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def _scaled_to(x, rms):
    """``x`` scaled to the given RMS; a silent piece stays silent."""
    r = _rms(x)
    return x * (rms / r) if r > 0 else x


def _kind(label):
    if label == "sil":
        return "sil"
    if label.endswith("cl"):
        return "closure"
    if label in STOPS:
        return "release"
    if label == "s":
        return "fric"
    if label in VOWELS:
        return "vowel"
    return "sonorant"


def _onset_formants(stop, vowel_targets, vowel):
    """Formants at the release of ``stop`` into a vowel (locus theory, unscaled)."""
    f1, f2, f3, f4 = vowel_targets
    place = _PLACE[stop]
    if place == "velar":
        locus2 = 2300.0 if vowel == "i" else 1300.0
    else:
        locus2 = _F2_LOCUS[place]
    return (
        _F1_LOCUS + _LOCUS_WEIGHT * (f1 - _F1_LOCUS),
        locus2 + _LOCUS_WEIGHT * (f2 - locus2),
        f3,
        f4,
    )


# ----------------------------------------------------------------------------
# One token


@dataclass
class _Speaker:
    """Per-token speaker and production parameters."""

    f0_base: float
    declination: float  # F0 falls from (1 + d) to (1 - d) times f0_base over the word
    formant_scale: float
    peak: float
    s_level: float  # RMS of [s] relative to the vowel's
    prevoicing: bool
    prevoice_fraction: float  # part of a voiced closure that carries murmur


def _draw_speaker(rng) -> _Speaker:
    f0_base = rng.uniform(*F0_RANGE)
    # Higher voices tend to come from shorter vocal tracts: the formant factor
    # follows F0 in part, and varies freely in part.
    size = 0.6 * (f0_base - F0_RANGE[0]) / (F0_RANGE[1] - F0_RANGE[0]) + 0.4 * rng.uniform()
    return _Speaker(
        f0_base=f0_base,
        declination=rng.uniform(0.0, 0.08),
        formant_scale=FORMANT_SCALE[0] + size * (FORMANT_SCALE[1] - FORMANT_SCALE[0]),
        peak=rng.uniform(*PEAK_RANGE),
        s_level=rng.uniform(0.25, 0.45),
        prevoicing=bool(rng.uniform() < 0.5),
        prevoice_fraction=rng.uniform(0.5, 1.0),
    )


def synthesize_token(template: str, index: int, seed: int, sr: int = DEFAULT_SR,
                     slice_len: int = DEFAULT_SLICE_LEN, words=None) -> Token:
    """Synthesise token ``index`` of a corpus, without writing anything.

    Parameters
    ----------
    template : {"stv", "redup"}
        ``stv``: #TV and #sTV words; ``redup``: C1V2C3V4 and C1V2-C1V2C3V4.
    index : int
        Token number; with ``seed`` it fixes the word and every parameter.
    seed : int
        Corpus seed (non-negative).
    sr : int
        Sampling rate in Hz (at least 16000: [s] has its peak near 6 kHz).
    slice_len : int
        Samples per token.
    words : list of str or str, optional
        ``stv`` only: the words to draw from (see :func:`token_design`).

    Returns
    -------
    Token
        Waveform, phone segments (sample boundaries), word span and CSV row.
    """
    rng, info, phones, compression = _plan_token(template, index, seed, sr, slice_len, words)
    speaker = _draw_speaker(rng)
    word_start, word_end = phones[1][1], phones[-1][1]

    def f0_at(time):
        # Linear declination over the word, held outside it.
        frac = np.clip((time - word_start / sr) / ((word_end - word_start) / sr), 0.0, 1.0)
        return speaker.f0_base * (1.0 + speaker.declination * (1.0 - 2.0 * frac))

    source = _glottal_source(f0_at(np.arange(slice_len) / sr), sr)
    targets = _vocal_tract_targets(phones, speaker.formant_scale)
    voiced = _voiced_signal(source, phones, targets, speaker.formant_scale, sr)

    main = max(i for i, (lab, _, _) in enumerate(phones) if lab in VOWELS)
    _, ma, mb = phones[main]
    q = (mb - ma) // 4
    ref = _rms(voiced[ma + q:mb - q])  # vowel loudness: every noise is set relative to it
    noise = _noise_signal(source, phones, targets, speaker, ref, rng, sr)
    wave = _finish(voiced + noise, word_start, word_end, speaker.peak, sr)

    mid = (ma + mb) / 2.0
    f_main = targets[main][0]
    durs = _durations(phones, template, sr)
    row = dict(
        template=template,
        word=info["word"],
        word_ipa=info["word_ipa"],
        has_s=bool(info["has_s"]),
        stop=info["stop"],
        vowel=info["vowel"],
        reduplicated=bool(info["reduplicated"]),
        c1=info.get("c1", ""),
        v2=info.get("v2", ""),
        c3=info.get("c3", ""),
        v4=info.get("v4", ""),
        f0_mid=float(f0_at(mid / sr)),
        f0_base=float(speaker.f0_base),
        f1=float(f_main[0]),
        f2=float(f_main[1]),
        f3=float(f_main[2]),
        vot=durs["dur_vot"],
        onset=word_start / sr,
        **durs,
        trailing=(slice_len - word_end) / sr,
        vowel_mid=mid / sr,
        formant_scale=float(speaker.formant_scale),
        prevoicing=bool(speaker.prevoicing and info["stop"] in VOICED_STOPS),
        compression=float(compression),
        peak=float(np.max(np.abs(wave))),
        sr=sr,
        slice_len=slice_len,
        seed=seed,
    )
    return Token(wave=wave, phones=phones, word_span=(word_start, word_end), row=row)


def _vocal_tract_targets(phones, scale):
    """Formants and bandwidths of every segment that shapes the vocal tract, by position."""
    targets = {}
    for i, (lab, _, _) in enumerate(phones):
        kind = _kind(lab)
        if kind in ("vowel", "sonorant"):
            f, bw = _TARGETS[lab]
            targets[i] = (np.array(f) * scale, np.array(bw))
        elif kind == "release":
            vowel = phones[i + 1][0]
            f = _onset_formants(lab, _TARGETS[vowel][0], vowel)
            targets[i] = (np.array(f) * scale, np.array(_TARGETS[vowel][1]))
    return targets


def _formant_tracks(phones, targets, times, sr):
    """F1-F4 and B1-B4 at ``times`` (samples), [4, len(times)] each.

    Tracks are linear between anchor points.  Each segment holds its target
    over its middle (transitions take at most 30 % of it at either end), so
    the value at every segment's midpoint is the stated target.  A vowel after
    a stop starts from the stop's locus-based onset values.
    """
    anchors = []
    for i, (lab, a, b) in enumerate(phones):
        if i not in targets:
            continue
        f, bw = targets[i]
        kind = _kind(lab)
        if kind == "release":
            anchors += [(a, f, bw), (b, f, bw)]
            continue
        h = min((0.035 if kind == "vowel" else 0.012) * sr, 0.3 * (b - a))
        if kind == "vowel" and _kind(phones[i - 1][0]) == "release":
            f_on, bw_on = targets[i - 1]
            anchors.append((a, f_on, bw_on))
        anchors += [(a + h, f, bw), (b - h, f, bw)]
    anchors.sort(key=lambda x: x[0])
    at = np.array([x[0] for x in anchors], dtype=float)
    af = np.array([x[1] for x in anchors])
    ab = np.array([x[2] for x in anchors])
    freqs = np.stack([np.interp(times, at, af[:, k]) for k in range(4)])
    bws = np.stack([np.interp(times, at, ab[:, k]) for k in range(4)])
    return freqs, bws


def _voicing_envelope(phones, n, sr):
    """Voicing amplitude per sample: ramps inside voiced segments next to
    unvoiced ones (so no voicing leaks across a boundary), short cross-fades
    between voiced neighbours, and a 40 ms decay at the end of the word."""
    times, levels = [], []
    for i, (lab, a, b) in enumerate(phones):
        if lab not in _VOICING_LEVEL:
            continue
        level, dur = _VOICING_LEVEL[lab], b - a
        xfade = min(0.005 * sr, 0.25 * dur)
        if phones[i - 1][0] in _VOICING_LEVEL:
            times.append(a + xfade)
            levels.append(level)
        else:
            times += [a, a + min(0.008 * sr, 0.25 * dur)]
            levels += [0.0, level]
        if phones[i + 1][0] in _VOICING_LEVEL:
            times.append(b - xfade)
            levels.append(level)
        else:
            decay = 0.04 if phones[i + 1][0] == "sil" else 0.01
            times += [b - min(decay * sr, 0.25 * dur), b]
            levels += [level, 0.0]
    return np.interp(np.arange(n), times, levels, left=0.0, right=0.0)


def _voiced_signal(source, phones, targets, scale, sr):
    """Glottal source through the time-varying formant cascade, where there is voicing."""
    n = len(source)
    av = _voicing_envelope(phones, n, sr)
    voiced = np.zeros(n)
    nz = np.flatnonzero(av)
    if len(nz) == 0:
        return voiced
    # A 20 ms tail lets the resonances decay naturally after the last voicing.
    lo, hi = nz[0], min(n, nz[-1] + int(0.02 * sr))
    centres = np.arange(lo, hi, _BLOCK) + _BLOCK / 2.0
    freqs, bws = _formant_tracks(phones, targets, centres, sr)
    freqs = np.vstack([freqs, np.full(len(centres), _F5[0] * scale)])
    bws = np.vstack([bws, np.full(len(centres), _F5[1])])
    voiced[lo:hi] = _varying_cascade(source[lo:hi] * av[lo:hi], freqs, bws, sr)
    return voiced


def _noise_signal(source, phones, targets, speaker, ref, rng, sr):
    """Frication, bursts, aspiration and prevoicing, each scaled relative to
    the vowel RMS ``ref`` and kept inside its own segment."""
    noise = np.zeros(len(source))
    for i, (lab, a, b) in enumerate(phones):
        kind = _kind(lab)
        m = b - a
        if kind == "fric":
            x = rng.standard_normal(m)
            x = scipy.signal.sosfilt(scipy.signal.butter(4, 3500.0, "highpass", fs=sr, output="sos"), x)
            x = _static_cascade(x, [6000.0 * speaker.formant_scale], [1200.0], sr)
            x = scipy.signal.sosfilt(scipy.signal.butter(2, 7200.0, "lowpass", fs=sr, output="sos"), x)
            x *= _raised_cosine_envelope(m, int(0.020 * sr), int(0.010 * sr))
            noise[a:b] += _scaled_to(x, speaker.s_level * ref)
        elif lab == "v":
            x = rng.standard_normal(m)
            x = scipy.signal.sosfilt(scipy.signal.butter(2, [2000.0, 7000.0], "bandpass", fs=sr,
                                                         output="sos"), x)
            x *= _raised_cosine_envelope(m, int(0.01 * sr), int(0.01 * sr))
            noise[a:b] += _scaled_to(x, 0.06 * ref)
        elif kind == "release":
            noise[a:b] += _release(lab, m, targets[i][0], rng, sr, ref)
        elif kind == "closure" and lab[0] in VOICED_STOPS and speaker.prevoicing:
            # Voice bar: the glottal source through a low murmur resonance.
            k = max(1, int(round(speaker.prevoice_fraction * m)))
            x = source[b - k:b] * _raised_cosine_envelope(k, int(0.01 * sr), 0)
            x = _static_cascade(x, [180.0, 500.0], [80.0, 300.0], sr)
            noise[b - k:b] += _scaled_to(x, 0.08 * ref)
    return noise


def _finish(wave, word_start, word_end, peak, sr):
    """Exact silence outside the word (after a 10 ms decay) and the token's peak level."""
    tail = int(0.01 * sr)
    fade = 0.5 * (1.0 + np.cos(np.pi * (np.arange(tail) + 0.5) / tail))
    end = min(len(wave), word_end + tail)
    wave[word_end:end] *= fade[: end - word_end]
    wave[end:] = 0.0
    wave[:word_start] = 0.0
    top = np.max(np.abs(wave))
    return (wave * (peak / top) if top > 0 else wave).astype(np.float32)


def _release(stop, m, formants, rng, sr, ref):
    """Burst then aspiration of a stop release of ``m`` samples."""
    voiced = stop in VOICED_STOPS
    place = _PLACE[stop]
    out = np.zeros(m)
    burst_n = min(m, int(round({"labial": 0.003, "alveolar": 0.004, "velar": 0.006}[place] * sr)))
    x = rng.standard_normal(burst_n)
    if place == "labial":
        x = scipy.signal.sosfilt(scipy.signal.butter(2, 2500.0, "lowpass", fs=sr, output="sos"), x)
        level = 0.25
    elif place == "alveolar":
        x = scipy.signal.sosfilt(scipy.signal.butter(2, 3000.0, "highpass", fs=sr, output="sos"), x)
        x = _static_cascade(x, [4500.0], [2000.0], sr)
        level = 0.5
    else:
        x = _static_cascade(x, [formants[1]], [400.0], sr)
        level = 0.45
    env = np.exp(-np.arange(burst_n) / max(1.0, burst_n / 2.0))
    ramp = min(burst_n, max(1, int(0.0005 * sr)))
    env[:ramp] *= np.linspace(0.2, 1.0, ramp)
    out[:burst_n] = _scaled_to(x * env, level * (0.5 if voiced else 1.0) * ref)
    rest = m - burst_n
    if rest > 0:
        y = rng.standard_normal(rest)
        bws = [300.0, 150.0, 200.0, 300.0]  # a wide F1: the glottis is open
        y = _static_cascade(y, list(formants), bws, sr)
        env = np.linspace(1.0, 0.5, rest) * _raised_cosine_envelope(rest, int(0.002 * sr), int(0.003 * sr))
        out[burst_n:] = _scaled_to(y * env, (0.05 if voiced else 0.12) * ref)
    return out


def _durations(phones, template, sr):
    """Duration columns of corpus.csv (s); NaN where the word has no such segment."""
    nan = float("nan")
    d = dict(dur_s=nan, dur_closure=nan, dur_vot=nan, dur_vowel=nan,
             dur_c1=nan, dur_v2=nan, dur_c3=nan, dur_v4=nan)
    word = phones[1:-1]
    dur = {i: (b - a) / sr for i, (_, a, b) in enumerate(word)}
    labels = [lab for lab, _, _ in word]
    for i, lab in enumerate(labels):
        kind = _kind(lab)
        if kind == "fric" and np.isnan(d["dur_s"]):
            d["dur_s"] = dur[i]
        elif kind == "closure" and np.isnan(d["dur_closure"]):
            d["dur_closure"] = dur[i]
        elif kind == "release" and np.isnan(d["dur_vot"]):
            d["dur_vot"] = dur[i]
    vowel_idx = [i for i, lab in enumerate(labels) if lab in VOWELS]
    d["dur_vowel"] = dur[vowel_idx[-1]]
    if template == "redup":
        first_vowel = vowel_idx[0]
        d["dur_c1"] = sum(dur[i] for i in range(first_vowel))
        d["dur_v2"] = dur[first_vowel]
        d["dur_c3"] = dur[vowel_idx[-1] - 1]
        d["dur_v4"] = dur[vowel_idx[-1]]
    d["dur_word"] = (word[-1][2] - word[0][1]) / sr
    return d


# ----------------------------------------------------------------------------
# Corpus


def token_id(template: str, index: int) -> str:
    """Identifier (and file stem) of token ``index``: ``stv00000``, ``redup00012`` …"""
    return corpus_token(template, index)


def token_textgrid(token: Token, word: str, sr: int) -> tgt.TextGrid:
    """Ground-truth TextGrid of a token: tiers ``words`` and ``phones``.

    Parameters
    ----------
    token : Token
    word : str
        Label of the word interval.
    sr : int
        Sampling rate: boundaries are sample indices divided by ``sr``.

    Returns
    -------
    tgt.TextGrid
    """
    total = len(token.wave) / sr
    tg = tgt.TextGrid()
    words = tgt.IntervalTier(start_time=0.0, end_time=total, name="words")
    a, b = token.word_span
    words.add_interval(tgt.Interval(0.0, a / sr, ""))
    words.add_interval(tgt.Interval(a / sr, b / sr, word))
    words.add_interval(tgt.Interval(b / sr, total, ""))
    phones = tgt.IntervalTier(start_time=0.0, end_time=total, name="phones")
    for lab, s, e in token.phones:
        phones.add_interval(tgt.Interval(s / sr, e / sr, lab))
    tg.add_tier(words)
    tg.add_tier(phones)
    return tg


def synthesize(template: str, n: int, seed: int, out, sr: int = DEFAULT_SR,
               slice_len: int = DEFAULT_SLICE_LEN, progress: bool = True,
               overwrite: bool = False, words=None) -> pd.DataFrame:
    """Write a synthetic corpus of ``n`` tokens with ground-truth TextGrids.

    In steps: :func:`_plan_synth` (every token planned, the folder prepared),
    :func:`_write_tokens`, the two tables, :func:`_write_synth_record`.

    Parameters
    ----------
    template : {"stv", "redup"}
        ``stv``: #TV and #sTV words (T ∈ p t k, V ∈ ɑ i u, half with [s]);
        ``redup``: C1V2C3V4 and reduplicated C1V2-C1V2C3V4 (C1 ∈ p t k b d g v m n,
        C3 ∈ l ɹ j, vowels ɑ i u).
    n : int
        Number of tokens.
    seed : int
        Seed of everything random; same seed, same files.
    out : path
        Output folder (created).  It must be empty, absent or hold this same
        request (:func:`ganphon.corpus.folder.prepare_corpus_folder`) unless ``overwrite``.
    sr : int
        Sampling rate (Hz).
    slice_len : int
        Samples per token; every word fits with at least 60 ms of silence after
        it (a word that would not is shortened uniformly, by at most 25 %, and
        its ``compression`` column says by how much).
    progress : bool
        Show a progress bar (for 20 tokens or more).
    overwrite : bool
        Replace another ganphon run in ``out`` (only the names it owns are removed).
    words : list of str, optional
        ``stv`` only: draw from these words alone, e.g. ``["ta", "sta", "pi"]`` (a
        corpus whose word types match a ciwGAN's codes); balanced over them.

    Returns
    -------
    pandas.DataFrame
        The rows of ``corpus.csv``: one per token (id, file, word, word_ipa, template,
        has_s, stop, vowel, reduplicated, c1, v2, c3, v4, f0_mid, f1, f2, vot,
        onset, segment durations, seed, …).

    Notes
    -----
    Also writes ``run.json`` (the request, before the first token), ``<id>.wav``
    (float32, exactly ``slice_len`` samples, peak <= 0.9), ``<id>.TextGrid`` (long
    format, UTF-8), ``phones.csv`` (one row per phone with sample-exact boundaries)
    and ``synth.json`` (its run record: command, request, seed, versions).
    """
    words = name_list(words, "words")
    out, command, words_text = _plan_synth(template, n, seed, out, sr, slice_len, words, overwrite)
    rows, phone_rows = _write_tokens(template, n, seed, out, sr, slice_len, words, progress)
    df = pd.DataFrame(rows)
    shortened = int((df["compression"] < 1.0).sum())
    if shortened:
        print(f"ganphon: {shortened} of {n} tokens were shortened to fit {slice_len} samples "
              "(column 'compression' of corpus.csv)", file=sys.stderr)
    write_table(pd.DataFrame(phone_rows), out / PHONES_CSV)
    write_table(df, out / CORPUS_CSV)
    _write_synth_record(out, command, template, n, seed, sr, slice_len, words_text)
    return df


def _plan_synth(template, n, seed, out, sr, slice_len, words, overwrite):
    """Check every token's plan (nothing written on a bad request), prepare ``out``; (out, command, words)."""
    if n < 1:
        raise ParameterError("n", f"must be at least 1, got {n}")
    for i in range(n):  # planning is cheap: fail before writing anything
        _plan_token(template, i, seed, sr, slice_len, words)
    out = Path(out)
    command = ["ganphon", "corpus", "synth", "--template", template, "--n", str(n),
               "--seed", str(seed), "--out", str(out), "--sr", str(sr), "--slice-len", str(slice_len)]
    words_text = None if words is None else ",".join(words)
    if words is not None:
        command += ["--words", words_text]
    command = " ".join(shlex.quote(c) for c in command)
    request = _synth_request(template, n, seed, sr, slice_len, words_text)
    prepare_corpus_folder(out, request, overwrite, command, planned={
        "items": [token_id(template, i) for i in range(n)], "files_per_item": ["{id}.wav", "{id}.TextGrid"],
        "tables": [PHONES_CSV, CORPUS_CSV, SYNTH_JSON]})
    return out, command, words_text


def _write_tokens(template, n, seed, out, sr, slice_len, words, progress) -> tuple[list, list]:
    """Synthesise and write every token (WAV + TextGrid); the rows of corpus.csv and phones.csv."""
    rows, phone_rows = [], []
    for i in tqdm(range(n), desc=f"synth {template}", unit="token", disable=not progress or n < 20):
        token = synthesize_token(template, i, seed, sr=sr, slice_len=slice_len, words=words)
        tid = token_id(template, i)
        wav_name, tg_name = f"{tid}.wav", f"{tid}.TextGrid"
        write_wav(out / wav_name, token.wave, sr)
        tg = token_textgrid(token, token.row["word"], sr)
        write_textgrid(out / tg_name, tg)
        rows.append(dict(id=tid, file=wav_name, textgrid=tg_name, index=i, **token.row))
        for k, (lab, a, b) in enumerate(token.phones):
            phone_rows.append(dict(id=tid, position=k, phone=lab, phone_class=PHONE_CLASS[lab],
                                   start=a / sr, end=b / sr, start_sample=a, end_sample=b))
    return rows, phone_rows


def _write_synth_record(out, command, template, n, seed, sr, slice_len, words_text) -> None:
    """``synth.json``: the command, the request and the versions that made the corpus."""
    write_run_record(out / SYNTH_JSON, run_record("corpus", command=command,
                                                  request=_synth_request(template, n, seed, sr, slice_len,
                                                                         words_text),
                                                  seed=seed, modules=("scipy",)))


def _synth_request(template, n, seed, sr, slice_len, words_text) -> dict:
    """What a synthesised corpus was asked for (its ``run.json`` and ``synth.json`` request)."""
    return {"kind": "corpus-synth", "template": template, "n": n, "seed": seed, "sr": sr,
            "slice_len": slice_len, "words": words_text}


def _check_template(template):
    if template not in TEMPLATES:
        raise GanphonError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")


def _check_rate(sr):
    if sr < 16000:
        raise ParameterError("sr", f"{sr} is too low: the synthesiser needs at least 16000 Hz")


def _check_seed(seed):
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GanphonError(f"seed must be a non-negative integer, got {seed!r}")
