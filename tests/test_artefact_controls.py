"""WaveGAN's two controls of the upsampling stack's artefact: nearest-neighbour
upsampling (``upsample="nn"``) and the post-processing filter (``postproc_len``),
each against a forward pass written here in NumPy; their config, CLI and layer names.

TensorFlow's own numbers for both are in tests/test_tf_import.py.
"""

import numpy as np
import pytest
import torch

from ganphon.cli import main
from ganphon.errors import GanphonError
from ganphon.layout import parse_sample_file, sort_layers
from ganphon.models import Latent, ModelConfig, load_checkpoint, new_model
from ganphon.models.config import stack_frequencies
from ganphon.models.wavegan import Generator
from ganphon.probe import default_layers, layer_lengths, probe
from ganphon.timebase import native_rate


def _correlate_same(x, w, b=None):
    """TensorFlow's stride-1 'same' convolution by hand: x [Cin, n], w [Cout, Cin, k] (PyTorch's layout).

    Padding (k − 1) // 2 before and k // 2 after (the odd sample on the right);
    out[o, t] = Σ_c Σ_j w[o, c, j] · padded[c, t + j] (correlation, no flip).
    """
    cout, cin, k = w.shape
    n = x.shape[1]
    padded = np.zeros((cin, n + k - 1))
    padded[:, (k - 1) // 2 : (k - 1) // 2 + n] = x
    out = np.zeros((cout, n))
    for j in range(k):
        out += np.einsum("oc,cn->on", w[:, :, j], padded[:, j : j + n])
    return out + (0 if b is None else b[:, None])


def _numpy_forward(G, z):
    """The generator of a "tf" config by hand, every layer (post-activation) of one latent."""
    c = G.config
    p = {k: v.detach().double().numpy() for k, v in G.state_dict().items()}
    acts = {}
    c0 = G.dense_channels
    x = p["dense.weight"] @ z + p["dense.bias"]
    x = np.maximum(x.reshape(16, c0).T, 0)  # time-major [16, C0] → [C0, 16]
    acts["dense"] = x
    for name in [n for n in G.layer_names if n != "dense"]:
        if name == "postproc":
            x = _correlate_same(x, p["blocks.postproc.conv.weight"])
        else:
            stride = G.blocks[name].stride
            up = np.repeat(x, stride, axis=1)  # nearest neighbour: sample i reads floor(i / stride)
            x = _correlate_same(up, p[f"blocks.{name}.conv.weight"], p[f"blocks.{name}.conv.bias"])
            x = np.tanh(x) if name == "output" else np.maximum(x, 0)
        acts[name] = x
    return acts


@pytest.mark.parametrize("kw", [dict(upsample="nn"), dict(upsample="nn", postproc_len=512),
                                dict(upsample="nn", extra_layers=1, postproc_len=7)])
def test_nn_upsampling_and_postproc_match_a_numpy_forward_pass(kw):
    cfg = ModelConfig(arch="ciwgan", n_codes=2, dim=2, **kw)
    G, _, _ = new_model(cfg, seed=3)
    G = G.double().eval()
    z = np.random.default_rng(0).uniform(-1, 1, (2, 100))
    layers = list(G.layer_names)
    res = probe(G.float(), torch.from_numpy(z).float(), layers=layers, upsampled=False, device="cpu")
    G.double()
    for i in range(2):
        ref = _numpy_forward(G, z[i])
        for name in layers:
            assert np.abs(res.native[name][i] - ref[name].mean(axis=0)).max() < 2e-6, name
        assert np.abs(res.output[i] - ref[layers[-1]][0]).max() < 2e-6
        with torch.no_grad():  # float64: the same numbers to rounding
            out64 = G(torch.from_numpy(z[i : i + 1]))[0, 0].numpy()
        assert np.abs(out64 - ref[layers[-1]][0]).max() < 1e-12
    assert np.abs(res.output).max() > 1e-3  # not a dead network


def test_postproc_is_a_centred_fir_filter_of_the_output():
    """An impulse through the filter alone: tap j lands j − 255 samples from it (512 taps)."""
    G = Generator(ModelConfig(dim=1, postproc_len=512)).double()
    x = torch.zeros(1, 1, 2000, dtype=torch.float64)
    x[0, 0, 1000] = 1.0
    w = G.blocks["postproc"].conv.weight[0, 0].detach().numpy()
    with torch.no_grad():
        y = G.blocks["postproc"](x)[0, 0].numpy()
    # correlation: y[t] = Σ_j w[j] x[t + j − 255] → y[1000 + 255 − j] = w[j]
    assert np.allclose(y[1000 + 255 - np.arange(512)], w, atol=1e-14)  # computed by FFT: rounding only
    assert y.shape == (2000,) and np.abs(y[: 1000 + 255 - 511]).max() < 1e-14 and np.abs(y[1256:]).max() < 1e-14
    assert G.blocks["postproc"].conv.bias is None


def test_postproc_runs_under_bfloat16_autocast():
    """--bf16: the filter's FFTs run in float32 (there are none in bfloat16)."""
    G = Generator(ModelConfig(dim=2, postproc_len=512))
    z = torch.rand(2, 100)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = G(z)
    with torch.no_grad():
        ref = G(z)
    assert y.dtype == torch.float32 and torch.allclose(y, ref, atol=0.05 * float(ref.abs().max()))


def test_nn_stack_has_the_same_layers_channels_and_native_rates():
    plain = layer_lengths(Generator(ModelConfig(dim=4)))
    nn_ = layer_lengths(Generator(ModelConfig(dim=4, upsample="nn")))
    pp = layer_lengths(Generator(ModelConfig(dim=4, upsample="nn", postproc_len=512)))
    assert nn_ == plain
    assert list(pp) == [*plain, "postproc"] and pp["postproc"] == (1, 16384)
    assert native_rate(pp["postproc"][1], 16384) == 16000.0
    G = Generator(ModelConfig(dim=4, postproc_len=512))
    assert default_layers(G) == ["dense", "conv1", "conv2", "conv3", "conv4"]
    assert sort_layers(["postproc", "conv2", "output", "dense"]) == ["dense", "conv2", "output", "postproc"]
    assert parse_sample_file("s0001_postproc.wav") == ("s0001", "postproc")


def test_the_output_layers_hold_passes_the_s_band_eleven_db_down():
    """The last nearest-neighbour layer's hold against its closed form |sin(4πf/sr) / (4 sin(πf/sr))|.

    A 1.6 kHz sinusoid at the 4 kHz rate of conv4 goes through the output layer with a unit-impulse
    kernel (so only the hold acts): at 16 kHz it comes out at 1.6 kHz and as images at 2.4, 5.6 and
    6.4 kHz, each scaled by the hold's response there.  The [s] band (5.6, 6.4 kHz) leaves it
    9.2 and 9.8 dB below the 1.6 kHz tone, 11.4–11.8 dB below a constant — gain the 25 taps
    after the hold must make up before an [s] can sound, where a transpose convolution's kernel shapes
    its images freely.
    """
    from ganphon.models.wavegan import NearestUpBlock

    block = NearestUpBlock(1, 1, 25, 4, False, torch.nn.Identity(), ModelConfig(upsample="nn")).double()
    with torch.no_grad():
        block.conv.weight.zero_()
        block.conv.weight[0, 0, 12] = 1.0  # the 'same' convolution's centre tap: the identity
        block.conv.bias.zero_()
    n, f0, rate = 4000, 1600.0, 4000.0  # 1 s at conv4's rate: every component on an FFT bin
    x = np.cos(2 * np.pi * f0 * np.arange(n) / rate)
    with torch.no_grad():
        y = block(torch.from_numpy(x)[None, None])[0, 0].numpy()
    spectrum = np.abs(np.fft.rfft(y)) / (len(y) / 2)  # 1 Hz bins at 16 kHz

    def hold(f):
        return abs(np.sin(4 * np.pi * f / 16000) / (4 * np.sin(np.pi * f / 16000)))

    for f in (1600, 2400, 5600, 6400):
        assert spectrum[f] == pytest.approx(hold(f), abs=2e-3)
    assert 20 * np.log10(spectrum[5600] / spectrum[1600]) == pytest.approx(-9.20, abs=0.02)
    assert 20 * np.log10(spectrum[6400] / spectrum[1600]) == pytest.approx(-9.76, abs=0.02)
    assert 20 * np.log10([hold(5700), hold(6000), hold(6300)]) == pytest.approx([-11.37, -11.35, -11.79], abs=0.02)


@pytest.mark.parametrize("kw,message", [
    (dict(upsample="linear"), "upsample must be 'zeros' or 'nn'"),
    (dict(postproc_len=-1), "postproc_len must be between 0"),
    (dict(postproc_len=16385), "postproc_len must be between 0 .* and the slice length 16384"),
    (dict(upsample="nn", convention="torch"), "need convention 'tf'"),
    (dict(postproc_len=512, convention="torch"), "need convention 'tf'"),
    (dict(postproc_len=512, nch=2), "post-processing filter is for one channel"),
])
def test_bad_settings_are_one_line_errors(kw, message):
    with pytest.raises(GanphonError, match=message):
        ModelConfig(**kw)


def test_new_model_model_info_and_checkpoint_round_trip(tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["new-model", "--arch", "ciwgan", "--codes", "2", "--dim", "2", "--upsample", "nn",
                 "--postproc", "--seed", "1", "--out", str(out)]) == 0
    assert "upsample=nn postproc=512" in capsys.readouterr().out
    m = load_checkpoint(out)
    assert (m.config.upsample, m.config.postproc_len) == ("nn", 512)
    G, _, _ = new_model(m.config, seed=1)
    z = torch.rand(2, 100)
    with torch.no_grad():
        assert torch.equal(m.generator(z), G.eval()(z))
    assert main(["model-info", "--checkpoint", str(out)]) == 0
    text = capsys.readouterr().out
    assert '"upsample": "nn"' in text and '"postproc_len": 512' in text
    assert "postproc     1 ch ×  16384 samples  16000.000 Hz" in text
    assert main(["new-model", "--dim", "2", "--postproc", "64", "--out", str(tmp_path / "p.pt")]) == 0
    assert load_checkpoint(tmp_path / "p.pt").config.postproc_len == 64
    assert main(["new-model", "--dim", "2", "--upsample", "cubic", "--out", str(tmp_path / "x.pt")]) == 2


# ---------------------------------------------------------------- what each stack can buzz at

def _line_db(waves, freq, sr=16000):
    """Mean power spectrum (Hann) at ``freq`` over its neighbourhood's median, in dB."""
    n = waves.shape[-1]
    power = (np.abs(np.fft.rfft(waves * np.hanning(n), axis=-1)) ** 2).mean(axis=0)
    k = int(round(freq * n / sr))
    around = np.r_[power[k - 40 : k - 3], power[k + 4 : k + 40]]
    return 10 * np.log10(power[k - 1 : k + 2].max() / np.median(around))


@pytest.mark.parametrize("kw", [{}, dict(upsample="nn"), dict(postproc_len=512)])
def test_stack_frequencies_are_the_grid_periods_for_every_option(kw):
    cfg = ModelConfig(arch="ciwgan", n_codes=3, dim=8, **kw)
    # 16000 / 4**k for k = 2, 3 (1000, 250 Hz) and Praat's subharmonics of them inside 75–450 Hz
    assert stack_frequencies(cfg) == (1000.0 / 3, 250.0, 125.0, 250.0 / 3)
    assert stack_frequencies(cfg, 50.0, 1500.0) == (4000.0 / 3, 1000.0, 500.0, 1000.0 / 3, 250.0, 125.0,
                                                    250.0 / 3, 62.5)
    assert stack_frequencies(ModelConfig(dim=1, slice_len=65536, sr=32000), 100.0, 700.0) == (
        2000.0 / 3, 500.0, 250.0, 500.0 / 3, 125.0)


def test_a_constant_input_buzzes_through_transpose_convolutions_but_not_through_nn_upsampling():
    """The derivation of stack_frequencies' mechanisms, exactly: a constant dense layer."""
    for upsample in ("zeros", "nn"):
        G = Generator(ModelConfig(dim=2, upsample=upsample)).double()
        with torch.no_grad():
            G.dense.weight.zero_()
            G.dense.bias.fill_(0.5)
            for block in G.blocks.values():  # positive kernels: nothing is cut by a ReLU
                block.conv.weight.uniform_(0.0, 0.05)
            wave = G(torch.zeros(1, 100, dtype=torch.float64))[0, 0].numpy()
        inner = wave[4096:12288]  # far from the edges' zero padding
        if upsample == "nn":
            assert np.ptp(inner) < 1e-12  # a constant stays a constant
        else:
            assert np.ptp(inner) > 1e-3  # a periodic pattern with the stack's periods ...
            period = 4 ** 5  # 15.625 Hz, the coarsest grid, holds every finer one
            assert np.allclose(inner[:-period], inner[period:], atol=1e-12)
            assert not np.allclose(inner[:-16], inner[16:], atol=1e-6)  # ... and not a finer one alone


def test_fresh_models_spectra_have_lines_at_the_grid_frequencies_only_with_transpose_convolutions():
    """Measured: lines over the neighbouring spectrum at 250, 1000 and 4000 Hz, mean of 3 fresh d = 8 models."""
    lines = {}
    for kw in ({}, dict(upsample="nn"), dict(postproc_len=512)):
        waves = []
        for seed in range(3):
            cfg = ModelConfig(arch="ciwgan", n_codes=3, dim=8, **kw)
            G, _, _ = new_model(cfg, seed)
            with torch.no_grad():
                waves.append(G.eval()(Latent(cfg).sample(16, seed))[:, 0].numpy())
        lines[str(kw)] = [np.mean([_line_db(w, f) for w in waves]) for f in (250.0, 1000.0, 4000.0)]
    assert min(lines["{}"]) > 15  # 23, 38, 60 dB
    assert max(lines["{'upsample': 'nn'}"]) < 0  # the hold's zeros: -5, -8, -13 dB
    assert min(lines["{'postproc_len': 512}"]) > 15  # an untrained filter keeps them: 23, 32, 64 dB


# ---------------------------------------------------------------- the artefact share of evaluate-model

def _buzzed_sta(seed, buzz_hz=16000 / 48):
    """[stɑ] whose [s] carries a machine buzz twice as loud as the [s]: harmonics 9–21 of ``buzz_hz``."""
    from ganphon.corpus.synth import synthesize_token

    tok = synthesize_token("stv", 0, seed=seed, words=["sta"])
    (a, b), = [(a, b) for lab, a, b in tok.phones if lab == "s"]
    wave = tok.wave.astype(np.float64)
    t = np.arange(b - a) / 16000
    rng = np.random.default_rng(seed)
    buzz = sum(np.cos(2 * np.pi * h * buzz_hz * t + rng.uniform(0, 2 * np.pi)) for h in range(9, 22))
    plain = wave.copy()
    wave[a:b] += 2 * buzz / buzz.std() * np.sqrt(np.mean(wave[a:b] ** 2))
    return plain, wave, (a / 16000, b / 16000)


def test_artefact_intervals_count_the_voi_intervals_at_a_stack_frequency():
    import parselmouth

    from ganphon.annotate import segment
    from ganphon.train.evaluate import STACK_16K, artefact_intervals, judge_output

    for seed in range(3):
        plain, buzzed, (a, b) = _buzzed_sta(seed)
        snd = parselmouth.Sound(buzzed, sampling_frequency=16000)
        intervals = segment(snd)
        voi = [(s, e) for s, e, lab in intervals if lab == "voi"]
        assert any(s <= (a + b) / 2 < e for s, e in voi), seed  # Praat voices the buzzed [s] ...
        assert artefact_intervals(snd, intervals, STACK_16K) == (2, 1), seed  # ... at 333.3 Hz; the vowel is not
        assert artefact_intervals(snd, intervals, ()) == (2, 0)
        row = judge_output(buzzed, 16000)
        assert (row["n_voi"], row["n_voi_artefact"], row["word_type"]) == (2, 1, "sTV-back")
        row = judge_output(plain, 16000)  # the word without the buzz: one voi interval, a voice
        assert (row["n_voi"], row["n_voi_artefact"]) == (1, 0)
        # a buzz off the stack's frequencies (16000 / 47 = 340.4 Hz, 2 % away) is not the stack's
        _, off, _ = _buzzed_sta(seed, 16000 / 47)
        snd = parselmouth.Sound(off, sampling_frequency=16000)
        assert artefact_intervals(snd, segment(snd), STACK_16K)[1] == 0


def test_the_artefact_share_sums_intervals_over_outputs_and_codes():
    import pandas as pd

    from ganphon.train.evaluate import summarise

    rows = [{"code": c, "vowel": True, "frication": True, "word": True, "sibilant": c == 1, "s_initial": c == 1,
             "voiced_vowel": True, "word_type": "sTV-back" if c == 1 else "TV-back", "n_voi": n, "n_voi_artefact": k}
            for c, n, k in [(1, 2, 1), (1, 2, 1), (1, 1, 0), (2, 1, 0), (2, 3, 0), (2, 0, 0)]]
    res = summarise(pd.DataFrame(rows))
    assert (res["n_voi_intervals"], res["n_voi_artefact"], res["share_voi_artefact"]) == (9, 2, round(2 / 9, 4))
    assert res["by_code"]["c1"]["share_voi_artefact"] == 0.4 and res["by_code"]["c2"]["share_voi_artefact"] == 0.0
    rows = [dict(rows[-1])]
    assert summarise(pd.DataFrame(rows))["share_voi_artefact"] is None  # no voi interval: no share


# ---------------------------------------------------------------- training with the controls

def test_train_with_both_controls_and_resume_keeps_them(tmp_path, capsys):
    import scipy.io.wavfile

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    t = np.arange(6400) / 16000
    for i in range(4):
        scipy.io.wavfile.write(corpus / f"w{i}.wav", 16000,
                               (0.4 * np.sin(2 * np.pi * (120 + 20 * i) * t) * np.hanning(t.size)).astype(np.float32))
    run = tmp_path / "run"
    common = ["--batch-size", "2", "--checkpoint-every", "1", "--preview-every", "0", "--device", "cpu", "--quiet"]
    assert main(["train", str(corpus), "--arch", "ciwgan", "--codes", "2", "--dim", "2", "--upsample", "nn",
                 "--postproc", "32", "--steps", "1", "--out", str(run), *common]) == 0
    assert main(["train", str(corpus), "--resume", "--steps", "2", "--out", str(run), *common]) == 0
    capsys.readouterr()
    m = load_checkpoint(run / "ckpt_step0000002.pt")
    assert (m.config.upsample, m.config.postproc_len) == ("nn", 32)
    first = load_checkpoint(run / "ckpt_step0000001.pt").generator.state_dict()
    # the filter and the nn convolutions are trained
    for key in ("blocks.postproc.conv.weight", "blocks.conv2.conv.weight"):
        assert not torch.equal(first[key], m.generator.state_dict()[key]), key
    # another model on --resume is an error
    assert main(["train", str(corpus), "--resume", "--upsample", "zeros", "--steps", "3", "--out", str(run),
                 *common]) == 2
