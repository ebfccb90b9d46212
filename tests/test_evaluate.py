"""Word-shape numbers on synthetic words with known structure, and on a tiny model."""

import numpy as np
import parselmouth
import pytest
import torch

from ganphon.annotate import segment
from ganphon.corpus.synth import synthesize_token
from ganphon.train.evaluate import evaluate_model, word_shape
from ganphon.models import load_checkpoint


def test_word_shape_of_synthetic_words_matches_their_design():
    for i in range(14):
        tok = synthesize_token("stv", i, seed=5)
        snd = parselmouth.Sound(tok.wave.astype(np.float64), sampling_frequency=16000)
        shape = word_shape(segment(snd))
        assert shape["vowel"] and shape["frication"] and shape["word"], (i, tok.row)
        assert shape["s_initial"] == bool(tok.row["has_s"]), (i, tok.row)


def test_word_shape_rejects_buzz_and_silence():
    # voicing from start to end: no silence around the word
    assert not word_shape([(0, 0.3, "fric"), (0.3, 1.024, "voi")])["word"]
    # silence only
    assert word_shape([(0, 1.024, "sil")]) == {"vowel": False, "frication": False, "word": False, "s_initial": False}
    # #sTV shape
    s = word_shape([(0, .1, "sil"), (.1, .2, "fric"), (.2, .26, "sil"), (.26, .28, "fric"), (.28, .45, "voi"), (.45, 1.024, "sil")])
    assert s["word"] and s["s_initial"]
    # #TV shape: closure inside leading silence, aspiration, vowel
    t = word_shape([(0, .2, "sil"), (.2, .27, "fric"), (.27, .45, "voi"), (.45, 1.024, "sil")])
    assert t["word"] and not t["s_initial"]


def test_evaluate_model_q_accuracy_matches_direct_computation(tiny_ciwgan):
    m = load_checkpoint(tiny_ciwgan)
    res = evaluate_model(m, n=12, seed=3)
    from ganphon.models import Latent

    z = Latent(m.config).sample(12, 3)
    with torch.no_grad():
        logits = m.qnetwork(m.generator(z))
    expected = float((logits.argmax(1) == z[:, :2].argmax(1)).float().mean())
    assert res["q_accuracy"] == pytest.approx(expected, abs=1e-4)
    assert sum(v["n"] for v in res["by_code"].values()) == 12
    for key in ("share_vowel", "share_frication", "share_word", "share_s_initial"):
        assert 0 <= res[key] <= 1
