"""espeak-ng as a second corpus source (optional locally, required under CI=true)."""

import json

import numpy as np
import pandas as pd
import scipy.io.wavfile
import tgt

from conftest import require_espeak
from ganphon.cli import main
from ganphon.corpus.espeak import word_interval


def test_word_interval_finds_a_tone_between_silences():
    sr = 16000
    x = np.zeros(sr)
    t = np.arange(int(0.3 * sr)) / sr
    x[int(0.2 * sr):int(0.5 * sr)] = 0.5 * np.sin(2 * np.pi * 220 * t)
    s, e = word_interval(x, sr)
    assert abs(s - 0.2) < 0.015 and abs(e - 0.5) < 0.015


def test_espeak_corpus_tokens_and_textgrids(tmp_path):
    require_espeak()
    out = tmp_path / "es"
    assert main(["corpus", "synth", "--engine", "espeak", "--words", "pat,spat", "--n", "4", "--seed", "3",
                 "--out", str(out), "--quiet"]) == 0
    df = pd.read_csv(out / "corpus.csv")
    assert df["word"].tolist() == ["pat", "spat", "pat", "spat"]
    for row in df.itertuples():
        sr, wave = scipy.io.wavfile.read(out / row.file)
        assert sr == 16000 and wave.shape == (16384,) and wave.dtype == np.float32
        assert 0 < np.abs(wave).max() <= 0.9 + 1e-6
        nz = np.flatnonzero(wave)
        tier = tgt.io.read_textgrid(str(out / row.textgrid)).get_tier_by_name("words")
        (iv,) = [i for i in tier.intervals if i.text]
        assert iv.text == row.word
        # the word interval is exactly the sounding stretch placed in the slice
        assert abs(float(iv.start_time) - nz[0] / 16000) <= 1 / 16000
        assert abs(float(iv.end_time) - (nz[-1] + 1) / 16000) <= 2 / 16000
    # same seed, same corpus
    out2 = tmp_path / "es2"
    assert main(["corpus", "synth", "--engine", "espeak", "--words", "pat,spat", "--n", "4", "--seed", "3",
                 "--out", str(out2), "--quiet"]) == 0
    assert pd.read_csv(out2 / "corpus.csv").drop(columns=[]).equals(df)
    # the folder describes one request: another seed is refused, nothing changes
    assert json.loads((out / "run.json").read_text())["request"] == {
        "kind": "corpus-espeak", "words": ["pat", "spat"], "n": 4, "seed": 3, "sr": 16000, "slice_len": 16384}
    before = (out / "espeak00000.wav").read_bytes()
    assert main(["corpus", "synth", "--engine", "espeak", "--words", "pat,spat", "--n", "4", "--seed", "4",
                 "--out", str(out), "--quiet"]) == 2
    assert (out / "espeak00000.wav").read_bytes() == before


def test_espeak_needs_words(tmp_path, capsys):
    assert main(["corpus", "synth", "--engine", "espeak", "--n", "2", "--seed", "1", "--out", str(tmp_path / "x")]) == 2
    assert "--words" in capsys.readouterr().err
