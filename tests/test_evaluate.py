"""Model evaluation against outputs whose answer is known: synthetic words (the corpus
synthesiser's ground truth) and hand-made signals (periodic and whispered vowels, buzz)."""

from types import SimpleNamespace

import numpy as np
import parselmouth
import pytest
import torch
from conftest import resonate, vowel

from ganphon.annotate import segment
from ganphon.corpus.synth import synthesize_token
from ganphon.models import Latent, ModelConfig, load_checkpoint
from ganphon.train.evaluate import (MIN_VOICED, SIBILANT_COG, STACK_16K, centre_of_gravity, evaluate_model,
                                    judge_output, longest_voiced_run, stack_frequencies, word_shape)

SR = 16000
SLICE = 16384


def placed(x, at=0.15):
    """``x`` inside a silent slice, starting ``at`` seconds in."""
    y = np.zeros(SLICE)
    i = int(round(at * SR))
    y[i:i + len(x)] = x
    return y


def whisper(duration, seed):
    """Aspiration-like noise through [ɑ]'s formants: a vowel without periodicity."""
    rng = np.random.default_rng(seed)
    x = resonate(rng.standard_normal(int(duration * SR)), (700.0, 1200.0, 2600.0, 3500.0, 4500.0),
                 (80.0, 90.0, 150.0, 250.0, 300.0))
    return 0.5 * x / np.max(np.abs(x))


def expected_type(row):
    """The word type the design of a corpus token implies."""
    return ("sTV" if row["has_s"] else "TV") + ("-front" if row["vowel"] == "i" else "-back")


def test_word_shape_of_synthetic_words_matches_their_design():
    for i in range(14):
        tok = synthesize_token("stv", i, seed=5)
        snd = parselmouth.Sound(tok.wave.astype(np.float64), sampling_frequency=SR)
        shape = word_shape(segment(snd))
        assert shape["vowel"] and shape["frication"] and shape["word"], (i, tok.row)
        assert shape["s_initial"] == bool(tok.row["has_s"]), (i, tok.row)


def test_word_shape_rejects_buzz_and_silence():
    # voicing from start to end: no silence around the word
    assert not word_shape([(0, 0.3, "fric"), (0.3, 1.024, "voi")])["word"]
    # silence only
    assert word_shape([(0, 1.024, "sil")]) == {"vowel": False, "frication": False, "word": False,
                                                "sibilant": False, "s_initial": False, "vowel_span": None}
    # #sTV shape
    s = word_shape([(0, .1, "sil"), (.1, .2, "fric"), (.2, .26, "sil"), (.26, .28, "fric"), (.28, .45, "voi"),
                    (.45, 1.024, "sil")])
    assert s["word"] and s["sibilant"] and s["s_initial"] and s["vowel_span"] == (.28, .45)
    # #TV shape: closure inside leading silence, aspiration, vowel
    t = word_shape([(0, .2, "sil"), (.2, .27, "fric"), (.27, .45, "voi"), (.45, 1.024, "sil")])
    assert t["word"] and not t["s_initial"] and not t["sibilant"]
    # without the sound a long frication straight into the vowel cannot be told from aspiration: no [s]
    u = word_shape([(0, .2, "sil"), (.2, .35, "fric"), (.35, .55, "voi"), (.55, 1.024, "sil")])
    assert u["word"] and not u["sibilant"]


def _phone(token, label):
    (a, b), = [(a, b) for lab, a, b in token.phones if lab == label]
    return a, b


def machine_buzz(n, seed):
    """A periodic pattern of exactly 48 samples (16000/48 = 333.3 Hz, the stride-4 stack's period at
    16 kHz), its harmonics between 3 and 7 kHz: the buzz a generator lays over its [s]."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return sum(np.cos(2 * np.pi * h * SR / 48 * t + rng.uniform(0, 2 * np.pi)) for h in range(9, 22))


def test_a_machine_buzz_over_the_s_leaves_it_an_s():
    """[stɑ] with the stack's 333 Hz buzz twice as loud as its [s]: Praat calls the [s] voiced, the
    evaluation knows the buzz is the machine's and still hears #sTV."""
    for seed in range(4):
        tok = synthesize_token("stv", 0, seed=seed, words=["sta"])
        a, b = _phone(tok, "s")
        wave = tok.wave.astype(np.float64)
        buzz = machine_buzz(b - a, seed)
        wave[a:b] += 2 * buzz / buzz.std() * np.sqrt(np.mean(wave[a:b] ** 2))
        snd = parselmouth.Sound(wave, sampling_frequency=SR)
        middle = (a + b) / 2 / SR

        def label(intervals):
            return next(lab for s, e, lab in intervals if s <= middle < e)
        assert label(segment(snd)) == "voi", seed
        assert label(segment(snd, buzz=STACK_16K)) == "fric", seed
        assert judge_output(wave, SR)["word_type"] == "sTV-back", seed
        # taken for a voice, the buzzed [s] would be a vowel before the word: no word at all
        assert judge_output(wave, SR, artefacts=())["word_type"] == "none", seed


def test_an_s_straight_into_the_vowel_is_sV_and_aspiration_is_no_s():
    """[stɑ] with its closure and burst cut out is [sɑ]; [tɑ]'s aspiration is no [s]."""
    for seed in range(4):
        sta = synthesize_token("stv", 0, seed=seed, words=["sta"])
        wave = sta.wave.astype(np.float64)
        s_start, s_end = _phone(sta, "s")
        _, burst_end = _phone(sta, "t")
        sa = np.concatenate([wave[:s_end], wave[burst_end:], np.zeros(burst_end - s_end)])
        row = judge_output(sa, SR)
        assert row["word_type"] == "sV-back" and row["sibilant"] and not row["s_initial"], (seed, row)
        snd = parselmouth.Sound(wave, sampling_frequency=SR)
        assert centre_of_gravity(snd, s_start / SR, s_end / SR) >= SIBILANT_COG
        ta = synthesize_token("stv", 0, seed=seed, words=["ta"])
        row = judge_output(ta.wave, SR)
        assert row["word_type"] == "TV-back" and not row["sibilant"], (seed, row)
        a, b = _phone(ta, "t")
        assert centre_of_gravity(parselmouth.Sound(ta.wave.astype(np.float64), sampling_frequency=SR),
                                 a / SR, b / SR) < SIBILANT_COG


def test_every_stv_word_gets_its_type_and_its_vowel_duration_as_voicing():
    """All 18 #TV/#sTV words of the synthesiser: type from the design, voicing = the vowel's duration."""
    for i in range(18):
        tok = synthesize_token("stv", i, seed=4)
        row = judge_output(tok.wave, SR)
        assert row["word_type"] == expected_type(tok.row), (tok.row["word"], row)
        assert row["voiced_vowel"], (tok.row["word"], row)
        # Praat's voiced frames cover the synthesised vowel to within two frames
        assert row["voiced_run_s"] == pytest.approx(tok.row["dur_vowel"], abs=0.012), tok.row["word"]


def test_voicing_threshold_is_50_ms_of_periodic_vowel():
    runs = {d: longest_voiced_run(parselmouth.Sound(placed(vowel(d, 120.0)), sampling_frequency=SR))
            for d in (0.03, 0.045, 0.08, 0.15)}
    for d, run in runs.items():
        assert run == pytest.approx(d, abs=0.01), runs
    assert runs[0.045] < MIN_VOICED <= runs[0.08]
    short = judge_output(placed(vowel(0.03, 150.0)), SR)
    assert not short["voiced_vowel"] and short["word_type"] == "none"


def test_aperiodic_vowels_and_faint_buzz_are_not_voiced_vowels():
    # a whispered vowel (formant-shaped noise, as loud as a vowel): Praat finds no F0 in it
    for seed in range(4):
        row = judge_output(placed(whisper(0.25, seed)), SR)
        assert not row["voiced_vowel"] and row["word_type"] == "none", (seed, row)
    # a periodic vowel 28 dB under a noise burst (the buzz in the silence around a word)
    buzz = placed(0.5 * 10 ** (-28 / 20) * vowel(0.2, 120.0), 0.1)
    buzz += placed(0.5 * np.random.default_rng(1).standard_normal(1600), 0.5)
    row = judge_output(buzz, SR)
    assert row["voiced_run_s"] == 0 and not row["voiced_vowel"]
    # the same vowel alone is voiced
    assert judge_output(placed(0.5 * vowel(0.2, 120.0), 0.1), SR)["voiced_vowel"]
    # a vowel at exactly the upsampling stack's 250 Hz is the generator's buzz; at 240 Hz it is a voice
    for buzz_f0 in (250.0, 125.0, 250.0 / 3):
        assert judge_output(placed(0.5 * vowel(0.2, buzz_f0), 0.1), SR)["voiced_run_s"] == 0, buzz_f0
    for voice_f0 in (240.0, 130.0, 90.0):
        assert judge_output(placed(0.5 * vowel(0.2, voice_f0), 0.1), SR)["voiced_vowel"], voice_f0
    assert judge_output(placed(0.5 * vowel(0.2, 250.0), 0.1), SR, artefacts=())["voiced_vowel"]
    # a periodic buzz through the whole output is no syllable, however voiced
    row = judge_output(placed(0.5 * vowel(0.95, 120.0), 0.03), SR)
    assert row["voiced_run_s"] == 0 and not row["voiced_vowel"] and row["word_type"] == "none"


class KnownWords(torch.nn.Module):
    """A "generator" with known answers: code c plays bank[c - 1][k], k from the first noise value."""

    def __init__(self, bank):
        super().__init__()
        self.bank = [torch.tensor(np.stack(waves), dtype=torch.float32) for waves in bank]

    def forward(self, z):
        code = z[:, :3].argmax(1)
        out = []
        for c, u in zip(code.tolist(), z[:, 3].tolist()):
            waves = self.bank[c]
            out.append(waves[min(int((u + 1) / 2 * len(waves)), len(waves) - 1)])
        return torch.stack(out).unsqueeze(1)


def test_per_code_word_identity_on_a_generator_with_known_words():
    """c1 says [tɑ], c2 [stɑ]; c3 says [pi] half the time and whispers otherwise."""
    words = {w: [synthesize_token("stv", i, seed=2, words=[w]).wave for i in range(4)] for w in ("ta", "sta", "pi")}
    whispers = [placed(whisper(0.25, s)).astype(np.float32) for s in range(4)]
    bank = [words["ta"], words["sta"], words["pi"][:2] + whispers[:2]]
    config = ModelConfig(arch="ciwgan", n_codes=3, dim=4)
    model = SimpleNamespace(config=config, generator=KnownWords(bank), qnetwork=None)
    n, seed = 30, 11
    res = evaluate_model(model, n=n, seed=seed)
    # the truth, from the latents alone
    z = Latent(config).sample(n, seed)
    codes = z[:, :3].argmax(1).numpy() + 1
    third = codes == 3
    whispered = third & (((z[:, 3].numpy() + 1) / 2 * 4).astype(int) >= 2)
    assert res["share_word"] == pytest.approx(1 - whispered.mean(), abs=1e-4)
    assert res["share_voiced_vowel"] == pytest.approx(1 - whispered.mean(), abs=1e-4)
    assert res["share_s_initial"] == pytest.approx((codes == 2).mean(), abs=1e-4)
    assert res["share_sibilant"] == res["share_s_initial"]
    c = res["by_code"]
    assert [c[k]["n"] for k in ("c1", "c2", "c3")] == [int((codes == i).sum()) for i in (1, 2, 3)]
    assert (c["c1"]["dominant_type"], c["c1"]["share_dominant"]) == ("TV-back", 1.0)
    assert (c["c2"]["dominant_type"], c["c2"]["share_dominant"]) == ("sTV-back", 1.0)
    assert c["c3"]["dominant_type"] == "TV-front"
    assert c["c3"]["share_dominant"] == pytest.approx(1 - whispered.sum() / third.sum(), abs=1e-4)
    assert c["c3"]["types"]["none"] == pytest.approx(whispered.sum() / third.sum(), abs=1e-4)
    assert res["code_identity_min"] == c["c3"]["share_dominant"]
    assert res["codes_distinct"] and res["s_initial_code"] == "c2" and res["q_accuracy"] is None


def test_evaluate_model_q_accuracy_matches_direct_computation(tiny_ciwgan):
    m = load_checkpoint(tiny_ciwgan)
    res = evaluate_model(m, n=12, seed=3)
    z = Latent(m.config).sample(12, 3)
    with torch.no_grad():
        logits = m.qnetwork(m.generator(z))
    expected = float((logits.argmax(1) == z[:, :2].argmax(1)).float().mean())
    assert res["q_accuracy"] == pytest.approx(expected, abs=1e-4)
    assert sum(v["n"] for v in res["by_code"].values()) == 12
    for key in ("share_vowel", "share_frication", "share_word", "share_s_initial", "share_voiced_vowel"):
        assert 0 <= res[key] <= 1


def test_stack_frequency_of_the_16k_generator_is_250_hz():
    assert stack_frequencies(ModelConfig(arch="ciwgan", n_codes=3, dim=4)) == (1000.0 / 3, 250.0, 125.0, 250.0 / 3)


def test_a_code_without_words_has_no_identity():
    from ganphon.train.evaluate import summarise

    rows = [{"code": c, "vowel": True, "frication": True, "word": c == 1, "sibilant": False, "s_initial": False,
             "voiced_vowel": c == 1, "word_type": "TV-back" if c == 1 else "none"} for c in (1, 1, 2, 2)]
    res = summarise(__import__("pandas").DataFrame(rows))
    assert res["by_code"]["c2"]["dominant_type"] == "none" and res["by_code"]["c2"]["share_dominant"] == 0.0
    assert res["by_code"]["c1"]["share_dominant"] == 1.0
    assert res["code_identity_min"] == 0.0 and not res["codes_distinct"] and res["s_initial_code"] is None
