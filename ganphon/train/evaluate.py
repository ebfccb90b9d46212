"""Judge a trained generator by numbers: does it make words, do its codes mean something?

On N generated samples (random codes) every output is read three ways.

1. The automatic segmentation (``sil`` / ``fric`` / ``voi``, :mod:`ganphon.annotate`;
   a stretch voiced only at the generator's own buzz frequencies — see 2. — is
   not ``voi``, so an [s] carrying the buzz is still frication) as a word shape
   (:func:`word_shape`):

   * ``vowel``: a voiced interval of at least 40 ms;
   * ``frication``: a ``fric`` interval (an [s], or a stop's aspiration);
   * ``word``: silence around a sounding stretch of at most 700 ms, with
     frication before the first vowel — the shapes of #TV (closure,
     aspiration, vowel) and #sTV (s, closure, short VOT, vowel);
   * ``sibilant``: a word whose first frication is an [s] — at least 50 ms
     of noise with its centre of gravity at or above 3 kHz (the synthetic
     corpus's [s]: 5.7–6.3 kHz; its aspiration: 0.4–1.2 kHz);
   * ``s_initial``: a sibilant word whose [s] is followed by a closure
     (silence of at least 15 ms) before the vowel (#sTV); a sibilant word
     without the closure is an [s]V, e.g. [sɑ].

2. Praat's pitch analysis (``To Pitch (ac)``, 75–450 Hz as the paper's ciwGAN
   measures): ``voiced_vowel`` when, inside the segmentation's ``voi``
   intervals of a sounding stretch of at most 700 ms and within 20 dB of the
   loudest frame, the longest run of voiced frames lasts at least 50 ms
   (:func:`longest_voiced_run`).  An aperiodic, noisy "vowel" has no F0, a
   faint buzz in the silence is not loud enough, a buzz through the whole
   output is no syllable, and a buzz at exactly the upsampling stack's period
   (333 and 250 Hz at 16 kHz, or Praat's 125 / 83.3 Hz) is the generator's
   artefact, not a voice: all fail this.

3. The word type (:func:`word_type`): ``sTV`` (an s-initial word), ``sV`` (an
   [s] straight into the vowel), ``TV`` (a word without an initial [s]) or
   ``none``, with the vowel's frontness from Praat's F2 at the middle of the first vowel (``front`` above 1600 Hz:
   [i]; ``back`` below: [ɑ]/[u]), e.g. ``TV-front`` for [pi], ``sTV-back``
   for [stɑ].

4. The artefact share (:func:`artefact_intervals`): of the ``voi`` intervals of
   the plain segmentation (no buzz taken out: what ``ganphon annotate`` writes
   and ``measure`` measures), the share whose F0 (Praat, 75–450 Hz) sits
   within 0.5 % of a stack frequency (:func:`ganphon.models.config.stack_frequencies`)
   in half of their voiced frames or more — the stack's buzz read as a voice.

Per code (ciwGAN) the shares of each type, the dominant word type and its
share (0 for a code that makes no word) say whether each code produces one word; ``code_identity_min`` is the smallest
dominant share over the codes and ``codes_distinct`` whether the codes'
dominant types differ.  With the model's Q-network: the Q accuracy on the
generated samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import parselmouth
import torch

from ..acoustics import interval_spectrum
from ..annotate import BUZZ_TOLERANCE, buzz_runs, segment
from ..models.config import stack_frequencies
from ..praat import MeasureSettings

#: ``To Pitch (ac)`` range of the paper's ciwGAN output measures (Hz).
PITCH_FLOOR, PITCH_CEILING = 75.0, 450.0
#: Voicing needed for a vowel Praat calls voiced (s).
MIN_VOICED = 0.050
#: Frames quieter than the loudest by more than this (dB) are not part of a vowel.
LOUD_DB = 20.0
#: Longest sounding stretch (s) that counts as a word (and may hold a voiced vowel).
MAX_SPAN = 0.700
#: :func:`stack_frequencies` of a 16 kHz, stride-4 generator (Hz).
STACK_16K = (1000.0 / 3, 250.0, 125.0, 250.0 / 3)
#: F2 (Hz) above which a vowel is front ([i]); below, back ([ɑ], [u]).
FRONT_F2 = 1600.0
#: Shortest [s] (s) and the lowest centre of gravity (Hz) of its noise.
SIBILANT_DURATION, SIBILANT_COG = 0.050, 3000.0
#: Shortest closure (s) between an [s] and the vowel in a #sTV word.
CLOSURE_DURATION = 0.015
WORD_TYPES = ("sTV", "sV", "TV", "none")


def word_shape(intervals, sound: parselmouth.Sound | None = None) -> dict:
    """Classify a list of (start, end, label) auto intervals as a word shape.

    ``word`` needs what a token of the training corpus has: silence of at
    least 20 ms before and 100 ms after the sounding stretch, a sounding
    stretch of at most 700 ms, a vowel (``voi`` ≥ 40 ms) and frication
    (aspiration or [s]) before that vowel.  With the ``sound``, the first
    frication of a word is an [s] (``sibilant``) when its spectral centre of
    gravity (:func:`centre_of_gravity`) is at least :data:`SIBILANT_COG`; without it, only a long frication
    followed by a closure counts as an [s] (no ``sV`` can be told from aspiration).

    Returns
    -------
    dict
        ``vowel``, ``frication``, ``word``, ``sibilant``, ``s_initial`` (bool)
        and ``vowel_span``: (start, end) of the first vowel, or None.
    """
    segs = [(float(s), float(e), lab) for s, e, lab in intervals]
    sounding = [i for i, (_, _, lab) in enumerate(segs) if lab != "sil"]
    voi = [i for i in sounding if segs[i][2] == "voi" and segs[i][1] - segs[i][0] >= 0.040]
    out = {"vowel": bool(voi), "frication": any(segs[i][2] == "fric" for i in sounding),
           "word": False, "sibilant": False, "s_initial": False, "vowel_span": None}
    if not voi:
        return out
    first, last = sounding[0], sounding[-1]
    lead = segs[first][0] - segs[0][0]
    trail = segs[-1][1] - segs[last][1]
    span = segs[last][1] - segs[first][0]
    v = voi[0]
    out["vowel_span"] = (segs[v][0], segs[v][1])
    before = segs[first:v]
    out["word"] = (lead >= 0.020 and trail >= 0.100 and span <= MAX_SPAN
                   and any(lab == "fric" for _, _, lab in before))
    if not out["word"]:
        return out
    k, (s, e, _) = next((k, seg) for k, seg in enumerate(before) if seg[2] == "fric")
    if e - s >= SIBILANT_DURATION - 1e-9:
        closure = any(lab == "sil" and e2 - s2 >= CLOSURE_DURATION - 1e-9 for s2, e2, lab in before[k + 1:])
        out["sibilant"] = closure if sound is None else centre_of_gravity(sound, s, e) >= SIBILANT_COG
        out["s_initial"] = out["sibilant"] and closure
    return out


#: Spectrum settings of :func:`centre_of_gravity`: ``measure``'s, with a Hanning window, which weighs a
#: stop's burst at the start of its aspiration down (a rectangular window puts [tɑ]'s aspiration at up to
#: 3.3 kHz, a Hanning window at 0.9–1.1 kHz; [s] lies at 5.7–6.2 kHz either way).
SIBILANT_SPECTRUM = MeasureSettings(spectrum_window_shape="Hanning")


def centre_of_gravity(sound: parselmouth.Sound, start: float, end: float) -> float:
    """Spectral centre of gravity (Hz) of ``sound`` from ``start`` to ``end``
    (:func:`ganphon.acoustics.interval_spectrum` with :data:`SIBILANT_SPECTRUM`)."""
    spectrum = interval_spectrum(sound, start, end, SIBILANT_SPECTRUM)
    return float(spectrum.get_centre_of_gravity(SIBILANT_SPECTRUM.spectrum_power))


def longest_voiced_run(sound: parselmouth.Sound, intervals=None, loud_db: float = LOUD_DB,
                       time_step: float = 0.005, artefacts=STACK_16K) -> float:
    """Longest stretch (s) of consecutive frames that Praat calls voiced in the loud part of a sound.

    Voicing: ``To Pitch (ac)``, 75–450 Hz, Praat's other defaults.  A frame
    counts when it is voiced, its level (20 ms Hann window) is within
    ``loud_db`` dB of the loudest frame — a faint buzz in the silence around a
    word is no vowel — and, with ``intervals`` (``(start, end, label)``), it
    lies inside a ``voi`` interval.  A run whose F0 sits within 0.5 % of one of
    the generator's ``artefacts`` frequencies (:func:`stack_frequencies`) in
    half of its frames or more is a machine buzz, not a voice, and does not
    count (a real voice drifts through such a frequency in a few frames).
    """
    pitch = sound.to_pitch_ac(time_step=time_step, pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEILING)
    times = pitch.xs()
    f0 = pitch.selected_array["frequency"]
    voiced = f0 > 0
    x = sound.values[0]
    sr = sound.sampling_frequency
    half = int(round(0.010 * sr))
    padded = np.pad(x, half)
    window = np.hanning(2 * half + 1)
    centres = np.clip(np.round((times - sound.x1) * sr).astype(int), 0, x.size - 1)
    power = np.array([np.mean((padded[c:c + 2 * half + 1] * window) ** 2) for c in centres])
    level = 10 * np.log10(np.maximum(power, 1e-30))
    loud = level >= level.max() - loud_db if power.max() > 0 else np.zeros(times.size, bool)
    ok = voiced & loud
    if intervals is not None:
        inside = np.zeros(times.size, bool)
        for s, e, lab in intervals:
            if lab == "voi":
                inside |= (times >= s) & (times <= e)
        ok &= inside
    ok &= ~buzz_runs(ok, f0, artefacts)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(int), [0]])))
    return int(max((edges[1::2] - edges[::2]), default=0)) * pitch.dt


def vowel_f2(sound: parselmouth.Sound, span) -> float:
    """Praat's F2 (Hz, ``To Formant (burg)``, 5 formants up to 5500 Hz) at the middle of ``span``; NaN if none."""
    if span is None:
        return float("nan")
    formant = sound.to_formant_burg(time_step=0.005, max_number_of_formants=5, maximum_formant=5500.0)
    return float(formant.get_value_at_time(2, 0.5 * (span[0] + span[1])))


def word_type(shape: dict, f2: float) -> str:
    """``sTV-front`` / ``sTV-back`` / ``sV-…`` / ``TV-front`` / ``TV-back`` for a word, ``none`` otherwise.

    The consonant pattern comes from :func:`word_shape` (``s_initial``: [s] +
    closure; ``sibilant`` alone: an [s] straight into the vowel, ``sV``;
    otherwise frication — aspiration — alone before the vowel); the
    vowel's frontness from its F2 (:data:`FRONT_F2`).  A word whose F2 Praat
    cannot measure is ``sTV`` / ``TV`` without a vowel class.
    """
    if not shape["word"]:
        return "none"
    kind = "sTV" if shape["s_initial"] else "sV" if shape.get("sibilant") else "TV"
    if not np.isfinite(f2):
        return kind
    return f"{kind}-{'front' if f2 >= FRONT_F2 else 'back'}"


def syllable_intervals(intervals, max_span: float = MAX_SPAN) -> list:
    """The intervals of sounding stretches (between silences) no longer than ``max_span`` seconds.

    A vowel belongs to a word-sized stretch: a buzz that sounds through most of
    the output is not one.
    """
    out, stretch = [], []
    for seg in [*intervals, (None, None, "sil")]:
        if seg[2] != "sil":
            stretch.append(seg)
            continue
        if stretch and stretch[-1][1] - stretch[0][0] <= max_span + 1e-9:
            out += stretch
        stretch = []
    return out


def artefact_intervals(sound: parselmouth.Sound, intervals, artefacts=STACK_16K,
                       time_step: float = 0.005) -> tuple[int, int]:
    """(number of ``voi`` intervals, number of them at a stack frequency) in one sound.

    An interval is at a stack frequency when, of its frames that ``To Pitch (ac)``
    (75–450 Hz) calls voiced, half or more lie within :data:`~ganphon.annotate.BUZZ_TOLERANCE`
    (0.5 %) of one of the ``artefacts`` (:func:`stack_frequencies`) — the rule
    of :func:`ganphon.annotate.buzz_runs`.  An interval without a voiced frame
    at this range is not at one.
    """
    pitch = sound.to_pitch_ac(time_step=time_step, pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEILING)
    times, f0 = pitch.xs(), pitch.selected_array["frequency"]
    at = np.zeros(f0.size, bool)
    for a in artefacts:
        at |= np.abs(f0 - a) <= BUZZ_TOLERANCE * a
    n = hits = 0
    for start, end, label in intervals:
        if label != "voi":
            continue
        n += 1
        voiced = (times >= start) & (times <= end) & (f0 > 0)
        hits += bool(voiced.any() and at[voiced].mean() >= 0.5)
    return n, hits


def judge_output(wave: np.ndarray, sr: int, artefacts=STACK_16K) -> dict:
    """Word shape, Praat voicing, vowel F2, word type and artefact intervals of one output waveform.

    ``artefacts``: F0s (Hz) that are the generator's own buzz (:func:`stack_frequencies`).
    """
    snd = parselmouth.Sound(np.asarray(wave, dtype=np.float64), sampling_frequency=sr)
    n_voi, n_voi_artefact = artefact_intervals(snd, segment(snd), artefacts)
    intervals = segment(snd, buzz=artefacts)
    shape = word_shape(intervals, snd)
    run = longest_voiced_run(snd, syllable_intervals(intervals), artefacts=artefacts)
    f2 = vowel_f2(snd, shape["vowel_span"])
    row = {k: v for k, v in shape.items() if k != "vowel_span"}
    row.update(voiced_run_s=round(run, 4), voiced_vowel=run >= MIN_VOICED - 1e-9, vowel_f2=f2,
               word_type=word_type(shape, f2), n_voi=n_voi, n_voi_artefact=n_voi_artefact)
    return row


def _artefact_share(df: pd.DataFrame) -> float | None:
    total = int(df.n_voi.sum())
    return round(float(df.n_voi_artefact.sum() / total), 4) if total else None


def summarise(df: pd.DataFrame) -> dict:
    """The shares over judged outputs (rows of :func:`judge_output` with a ``code`` column)."""
    result = {}
    for col in ("vowel", "frication", "word", "sibilant", "s_initial", "voiced_vowel"):
        result[f"share_{col}"] = round(float(df[col].mean()), 4)
    artefacts = "n_voi" in df
    if artefacts:
        result["n_voi_intervals"] = int(df.n_voi.sum())
        result["n_voi_artefact"] = int(df.n_voi_artefact.sum())
        result["share_voi_artefact"] = _artefact_share(df)
    if "code" in df and (df.code > 0).any():
        by_code = {}
        for c in sorted(df.code.unique()):
            sub = df[df.code == c]
            types = sub.word_type.value_counts(normalize=True)
            # dominant word: among word types only ("none" is no word); ties broken by name
            words = types.drop("none", errors="ignore").sort_index()
            dominant = words.idxmax() if len(words) else "none"
            share = float(types[dominant]) if dominant != "none" else 0.0
            by_code[f"c{c}"] = {
                "n": int(len(sub)),
                "share_word": round(float(sub.word.mean()), 4),
                "share_sibilant": round(float(sub.sibilant.mean()), 4),
                "share_s_initial": round(float(sub.s_initial.mean()), 4),
                "share_voiced_vowel": round(float(sub.voiced_vowel.mean()), 4),
                "dominant_type": dominant,
                "share_dominant": round(share, 4),
                "types": {k: round(float(v), 4) for k, v in types.sort_index().items()},
            }
            if artefacts:
                by_code[f"c{c}"]["share_voi_artefact"] = _artefact_share(sub)
        result["by_code"] = by_code
        shares = [v["share_dominant"] for v in by_code.values()]
        dominants = [v["dominant_type"] for v in by_code.values()]
        result["code_identity_min"] = round(float(min(shares)), 4)
        result["codes_distinct"] = len(set(dominants)) == len(dominants) and "none" not in dominants
        result["s_initial_code"] = next((c for c, v in by_code.items() if v["dominant_type"].startswith("sTV")), None)
    return result


def evaluate_model(model, n: int = 200, seed: int = 0, progress: bool = False) -> dict:
    """Numbers that say whether a trained generator makes words and uses its codes.

    Parameters
    ----------
    model : LoadedModel
        Anything with ``config``, ``generator`` and ``qnetwork`` (or None).
    n : int
        Generated samples.
    seed : int
        Seed of the latents (:meth:`Latent.sample`).
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        ``n``, ``seed``, ``share_vowel``, ``share_frication``, ``share_word``,
        ``share_sibilant`` ([s]-initial words, with or without the closure),
        ``share_s_initial`` (#sTV), ``share_voiced_vowel``, ``q_accuracy`` (None
        without a Q-network); with codes ``by_code`` (per code: n, shares of
        words, [s]-initial and #sTV words and voiced vowels, ``types`` — the share of each
        word type —, ``dominant_type`` and ``share_dominant``),
        ``code_identity_min``, ``codes_distinct`` and ``s_initial_code``;
        ``n_voi_intervals``, ``n_voi_artefact`` and ``share_voi_artefact`` (also
        per code): the output ``voi`` intervals, those at a stack frequency
        (:func:`artefact_intervals`) and their share (None without ``voi`` intervals).
    """
    from tqdm import tqdm

    from ..models import Latent
    from ..models.footprint import check_fits

    cfg = model.config
    device = next(iter(model.generator.parameters()), torch.empty(0)).device  # a generator without weights: cpu
    check_fits(2 * 4 * n * cfg.nch * cfg.slice_len, device, "n", f"{n:,} outputs held at once (then judged one by one)")
    lat = Latent(cfg)
    z = lat.sample(n, seed)
    with torch.inference_mode():
        waves = torch.cat([model.generator(z[i:i + 64])[:, 0] for i in range(0, n, 64)]).float().numpy()
    rows = []
    for i in tqdm(range(n), disable=not progress, desc="judge", unit="output"):
        row = judge_output(waves[i], cfg.sr, artefacts=stack_frequencies(cfg, PITCH_FLOOR, PITCH_CEILING))
        row["code"] = int(torch.argmax(z[i, : cfg.n_codes])) + 1 if cfg.n_codes and cfg.arch == "ciwgan" else 0
        rows.append(row)
    df = pd.DataFrame(rows)
    result = {"n": n, "seed": seed, **summarise(df)}
    result["q_accuracy"] = None
    if cfg.n_codes and model.qnetwork is not None:
        with torch.inference_mode():
            logits = torch.cat([model.qnetwork(torch.from_numpy(waves[i:i + 64]).unsqueeze(1))
                                for i in range(0, n, 64)])
        if cfg.arch == "ciwgan":
            acc = (logits.argmax(1) == z[:, : cfg.n_codes].argmax(1)).float().mean()
        else:
            acc = ((logits > 0).float() == z[:, : cfg.n_codes]).float().mean()
        result["q_accuracy"] = round(float(acc), 4)
    return result


#: Rows of :func:`format_evaluation`: (key of the result, label).
_TABLE_ROWS = (("share_word", "word-shaped (silence around, frication before the vowel)"),
               ("share_voiced_vowel", "a vowel Praat calls voiced"),
               ("share_sibilant", "begins with an [s]"),
               ("share_s_initial", "#sTV: [s] + closure"),
               ("share_vowel", "has a vowel (voi >= 40 ms)"),
               ("share_frication", "has frication"))


def format_evaluation(result: dict) -> str:
    """:func:`evaluate_model`'s numbers as a readable table: shares over all outputs and per code,
    each code's word types, the code identity and the Q-network's accuracy."""
    def pct(v):
        return "" if v is None else f"{100 * v:.1f} %"

    codes = result.get("by_code") or {}
    names = ["all", *codes]
    head = ["", *names]
    rows = [["outputs", str(result.get("n", "")), *[str(codes[c].get("n", "")) for c in codes]]]
    for key, label in _TABLE_ROWS:
        if key in result:
            rows.append([label, pct(result[key]), *[pct(codes[c].get(key)) for c in codes]])
    if codes:
        rows.append(["dominant word type", "", *[codes[c].get("dominant_type", "") for c in codes]])
        rows.append(["its share of the code's outputs", "", *[pct(codes[c].get("share_dominant")) for c in codes]])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                               for i, cell in enumerate(r)).rstrip()
    out = [f"{result.get('n')} generated samples (seed {result.get('seed')})", line(head), *[line(r) for r in rows]]
    for c, v in codes.items():
        types = ", ".join(f"{k} {pct(share)}" for k, share in sorted((v.get("types") or {}).items(),
                                                                     key=lambda kv: -kv[1]))
        out.append(f"word types of {c}: {types}")
    if codes:
        out.append(f"code identity (smallest dominant share): {pct(result.get('code_identity_min'))}; codes distinct: "
                   f"{'yes' if result.get('codes_distinct') else 'no'}; [s]-initial code: "
                   f"{result.get('s_initial_code') or 'none'}")
    q = result.get("q_accuracy")
    out.append(f"Q-network accuracy on the codes: {'no Q-network' if q is None else pct(q)}")
    return "\n".join(out)
