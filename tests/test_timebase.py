"""The time-base contract against hand computation and numpy's interpolation."""

import numpy as np
import pytest
import torch

from ganphon.timebase import native_rate, sample_times, slice_duration, upsample


def test_duration_rate_and_centres_by_hand():
    assert slice_duration(16384, 16000) == 1.024
    assert native_rate(64, 16384, 16000) == 62.5
    # n = 4 samples over T = 1.024 s: centres at (k + 0.5) * 0.256
    assert np.allclose(sample_times(4, 16384, 16000), [0.128, 0.384, 0.640, 0.896], atol=1e-15, rtol=0)
    t = sample_times(16, 16384, 16000)
    assert t[0] == pytest.approx(0.032) and t[-1] == pytest.approx(1.024 - 0.032)


@pytest.mark.parametrize("n", [1, 16, 64, 1024])
def test_upsample_is_interpolation_between_centres_edges_held(n):
    L, sr = 16384, 16000
    x = np.random.default_rng(n).normal(size=n).astype(np.float64)
    # the rule, written with np.interp: output sample j sits at (j + 0.5) / sr
    want = np.interp((np.arange(L) + 0.5) / sr, sample_times(n, L, sr), x)
    got = upsample(x, L)
    assert got.shape == (L,) and np.abs(got - want).max() < 1e-9
    got_t = upsample(torch.from_numpy(x[None, None]), L)
    assert isinstance(got_t, torch.Tensor) and np.abs(got_t[0, 0].numpy() - want).max() < 1e-9


def test_upsample_same_length_copies():
    x = np.arange(8.0)
    y = upsample(x, 8)
    assert np.array_equal(x, y) and y is not x


def test_domain_note_names_both_spans_and_the_summary_pattern_finds_it():
    """A TextGrid 0–600 ms over a 500 ms sound at 16 kHz, one from 100 s ("preserve times"), one written to the
    millisecond: the note's words, and what ``measure``'s summary extracts from a row's note."""
    import re

    from ganphon.timebase import DOMAIN_NOTE_PATTERN, domain_note

    dx = 1 / 16000
    longer = domain_note((0.0, 0.6), 0.0, 0.5, dx)
    assert longer == "the TextGrid spans 0 to 600 ms, the sound 0 to 500 ms (made for another version of the sound?)"
    kept = domain_note((100.0, 100.5), 0.0, 0.5, dx)
    assert kept.startswith("the TextGrid spans 100000 to 100500 ms, the sound 0 to 500 ms")
    assert domain_note((0.0, 0.5), 0.0, 0.5004375, dx) == ""  # written to the millisecond: the same sound
    assert domain_note((0.0, 0.5), 0.0, 0.5011, dx) != ""
    assert domain_note((0.0, 0.6), 0.0, 0.6 + dx / 2, dx) == ""
    for note, span in ((longer, "the TextGrid spans 0 to 600 ms, the sound 0 to 500 ms"),
                       (f"vowel; {kept}; unvoiced", "the TextGrid spans 100000 to 100500 ms, the sound 0 to 500 ms")):
        assert re.search(DOMAIN_NOTE_PATTERN, note).group(1) == span
    # the corpus's wording (a recording) is not a measured row's
    assert re.search(DOMAIN_NOTE_PATTERN, domain_note((0.0, 0.6), 0.0, 0.5, dx, "recording")) is None
