"""Praat's per-interval summaries asked in one script per file: the same doubles as one call per query."""

import math

import numpy as np
import parselmouth
import pytest
from parselmouth.praat import call

from ganphon.acoustics import INTENSITY_PEAK_QUERIES, PITCH_SUMMARY_QUERIES, interval_queries


def _voiced_then_noise(sr=16000):
    """0.4 s of a 140→220 Hz vowel-like tone, 0.2 s of noise, 0.3 s of a 310 Hz tone: voiced and unvoiced parts."""
    rng = np.random.default_rng(3)
    t = np.arange(int(0.4 * sr)) / sr
    f0 = 140 + 200 * t
    vowel = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / sr) / k for k in range(1, 6))
    noise = 0.3 * rng.standard_normal(int(0.2 * sr))
    t2 = np.arange(int(0.3 * sr)) / sr
    tone = 0.8 * np.sin(2 * np.pi * 310 * t2)
    return parselmouth.Sound(np.concatenate([vowel, noise, tone]), sampling_frequency=sr)


def _intervals(sound, n=120, seed=0):
    rng = np.random.default_rng(seed)
    xmin, xmax = sound.xmin, sound.xmax
    spans = [(xmin, xmax), (xmin, xmin + 0.0001), (xmax - 0.003, xmax), (0.41, 0.59),  # whole, edges, noise only
             (0.2, 0.2 + 1e-9), (0.5, 0.5)]  # a sliver, and start = end (Praat: the whole domain)
    for _ in range(n):
        a, b = np.sort(rng.uniform(xmin, xmax, 2))
        spans.append((float(a), float(b)))
    return [(f"i{k}", a, b) for k, (a, b) in enumerate(spans)]


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("seed", [0, 1])
def test_pitch_summaries_equal_one_call_per_query(seed):
    sound = _voiced_then_noise()
    pitch = sound.to_pitch_ac(pitch_floor=75, pitch_ceiling=450)
    intervals = _intervals(sound, seed=seed)
    got = interval_queries(pitch, PITCH_SUMMARY_QUERIES, intervals)
    undefined = 0
    for (_, start, end), answers in zip(intervals, got):
        expected = (call(pitch, "Get mean", start, end, "Hertz"),
                    call(pitch, "Get minimum", start, end, "Hertz", "Parabolic"),
                    call(pitch, "Get maximum", start, end, "Hertz", "Parabolic"))
        assert all(_same(a, b) for a, b in zip(answers, expected)), (start, end, answers, expected)
        undefined += math.isnan(expected[0])
    assert 0 < undefined < len(intervals)  # both kinds of answer were compared


def test_intensity_peaks_equal_one_call_per_query():
    sound = _voiced_then_noise()
    intensity = sound.to_intensity(minimum_pitch=100)
    intervals = _intervals(sound, seed=2)
    got = interval_queries(intensity, INTENSITY_PEAK_QUERIES, intervals)
    for (_, start, end), (peak,) in zip(intervals, got):
        assert _same(peak, call(intensity, "Get maximum", start, end, "Parabolic")), (start, end)


def test_no_analysis_gives_nan_and_no_interval_no_script():
    assert all(math.isnan(v) for row in interval_queries(None, PITCH_SUMMARY_QUERIES, [("a", 0, 1)] * 3)
               for v in row)
    sound = _voiced_then_noise()
    assert interval_queries(sound.to_intensity(minimum_pitch=100), INTENSITY_PEAK_QUERIES, []) == []


def test_tier_intervals_equal_one_call_per_query(tmp_path):
    """Labels with spaces, line breaks, non-Latin letters and empty ones, on a second tier, read as one call each."""
    from ganphon.acoustics import _tier_intervals

    grid = call("Create TextGrid", 0.0, 1.5, "words auto", "")
    labels = ["", "s t ɑ", "a\nb", "", "ʃ🎵 end ", "x"]
    for k, t in enumerate((0.1, 0.3333333333333333, 0.5, 0.75, 1.2), 1):
        call(grid, "Insert boundary", 2, t)
    for i, label in enumerate(labels, 1):
        call(grid, "Set interval text", 2, i, label)
    expected = [(call(grid, "Get start time of interval", 2, i), call(grid, "Get end time of interval", 2, i),
                 call(grid, "Get label of interval", 2, i)) for i in range(1, len(labels) + 1)]
    assert _tier_intervals(grid, 2) == expected
    assert [label for _, _, label in expected] == labels
