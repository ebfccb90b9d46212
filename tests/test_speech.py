"""Probing given waveforms through a Q-network or critic (ICASSP 2022).

References are independent of ganphon's code: a forward pass written here with
F.conv1d + leaky_relu + mean, the WAV read with scipy and resampled here, the
receptive-field centre computed from the weights by autograd, durations
printed by real Praat, hand-made confusion counts.
"""

import dataclasses
import subprocess
from math import gcd

import numpy as np
import pandas as pd
import parselmouth
import pytest
import scipy.io.wavfile
import scipy.signal
import tgt
import torch
import torch.nn.functional as F

from ganphon import layout
from ganphon.cli import main
from ganphon.errors import GanphonError
from ganphon.models import ModelConfig, load_checkpoint, new_model, save_checkpoint
from ganphon.models.wavegan import build_models
from ganphon.speech import load_speech, probe_speech
from ganphon.stats.speech import accuracy_table, best_mapping, code_table, item_predictions

from conftest import require_praat, write_textgrid_tgt

L, SR = 16384, 16000
T = L / SR
HAS_CONVENTION = "convention" in {f.name for f in dataclasses.fields(ModelConfig)}
CONVENTIONS = ["tf", "torch"] if HAS_CONVENTION else ["torch"]


def _config(convention="torch", **kw):
    kw = {"arch": "ciwgan", "n_codes": 3, "dim": 4, **kw}
    if HAS_CONVENTION:
        kw["convention"] = convention
    return ModelConfig(**kw)


def _convention(config) -> str:
    # a config without the field computes what ganphon's first release computed: padding 11 / 11
    return getattr(config, "convention", "torch")


@pytest.fixture(scope="module", params=CONVENTIONS)
def q_checkpoint(request, tmp_path_factory):
    cfg = _config(request.param)
    G, D, Q = new_model(cfg, seed=11)
    path = tmp_path_factory.mktemp("q") / f"q_{request.param}.pt"
    save_checkpoint(path, cfg, G, D, Q)
    return path


def _write_wav(path, x, sr):
    scipy.io.wavfile.write(path, sr, np.asarray(x, dtype=np.float32))


def _write_grid(path, duration, tiers, points=None):
    """tiers: {name: [(start, end, label), ...]}; written by tgt, as a user's file would be."""
    write_textgrid_tgt(path, {name: [(label, a, b) for a, b, label in intervals] for name, intervals in tiers.items()},
                       xmax=duration, points=points)


# ---------------------------------------------------------------- the reference forward pass


def _hand_q(config, state, x):
    """Q-network by hand: per layer pad (convention) → conv1d stride 4 → leaky_relu → channel mean."""
    left, right = (10, 11) if _convention(config) == "tf" else (11, 11)
    h = torch.as_tensor(x, dtype=torch.float32)[None, None]
    means = {}
    for i in range(1, 6):
        w, b = state[f"blocks.conv{i}.conv.weight"], state[f"blocks.conv{i}.conv.bias"]
        h = F.leaky_relu(F.conv1d(F.pad(h, (left, right)), w, b, stride=4), config.q_leaky_slope)
        means[f"conv{i}"] = h.mean(dim=1)[0].numpy()
    flat = h.transpose(1, 2).flatten(1) if _convention(config) == "tf" else h.flatten(1)
    logits = F.linear(flat, state["fc.weight"], state["fc.bias"])[0]
    return means, torch.softmax(logits.double(), 0).numpy()


def _reference_slice(path):
    """The input as the network should see it, computed here: mean of channels, polyphase, pad/cut."""
    sr, data = scipy.io.wavfile.read(path)
    x = data.astype(np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if sr != SR:
        g = gcd(sr, SR)
        x = scipy.signal.resample_poly(x, SR // g, sr // g)
    out = np.zeros(L, np.float32)
    out[: min(L, len(x))] = x[:L]
    return out


def test_q_layer_averages_equal_a_hand_written_forward_pass(q_checkpoint, tmp_path):
    rng = np.random.default_rng(0)
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    _write_wav(wavs / "a_mono16k.wav", 0.3 * rng.standard_normal(int(0.8 * SR)), SR)          # padded
    _write_wav(wavs / "b_stereo44k.wav", 0.3 * rng.standard_normal((int(1.3 * 44100), 2)), 44100)  # cut
    model = load_checkpoint(q_checkpoint)
    out = tmp_path / "out"
    manifest = probe_speech(model, wavs, out, network="q", progress=False, wav_layers=True)
    state = {k: v.detach() for k, v in model.qnetwork.state_dict().items()}
    items = manifest.drop_duplicates("sample_id").set_index("input_file")
    for name in ("a_mono16k.wav", "b_stereo44k.wav"):
        row = items.loc[name]
        x = _reference_slice(wavs / name)
        seen = parselmouth.Sound(str(out / row["file"])).values[0]
        assert np.abs(seen - x).max() <= 1e-6
        means, probs = _hand_q(model.config, state, x)
        for layer, mean in means.items():
            sound = parselmouth.read(str(out / layout.layer_sound(row["sample_id"], layer)))
            assert sound.values.shape[1] == mean.shape[0] == L // 4 ** int(layer[-1])
            assert np.abs(sound.values[0] - mean).max() <= 1e-6
            wav = scipy.io.wavfile.read(out / layout.layer_wav(row["sample_id"], layer))[1]
            up = F.interpolate(torch.tensor(mean)[None, None], size=L, mode="linear", align_corners=False)[0, 0]
            assert np.abs(wav - up.numpy()).max() <= 1e-6
        assert np.abs(row[["p_code1", "p_code2", "p_code3"]].to_numpy(float) - probs).max() <= 1e-6
        assert row["predicted_code"] == str(int(np.argmax(probs)) + 1)
    assert (means["conv1"] < 0).any()  # after LeakyReLU, values can be negative


def test_q_layers_are_stored_once_as_native_sounds_by_default(q_checkpoint, tmp_path, capsys):
    """As a generator probe: no layer WAV unless asked; the Sound is the native series (the hand
    forward pass), and the WAV measure computes from it is the hand series upsampled and clipped."""
    from ganphon import io

    wavs = tmp_path / "wavs"
    wavs.mkdir()
    _write_wav(wavs / "a.wav", 0.3 * np.random.default_rng(4).standard_normal(int(0.7 * SR)), SR)
    model = load_checkpoint(q_checkpoint)
    out = tmp_path / "out"
    assert main(["probe", "--checkpoint", str(q_checkpoint), "--network", "q", "--wavs", str(wavs),
                 "--clip", "0.05", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    names = sorted(p.name for p in out.iterdir())
    assert [n for n in names if n.endswith(".wav")] == ["s000000_output.wav"]
    assert [f"s000000_conv{i}.Sound" for i in range(1, 6)] == [n for n in names if n.endswith(".Sound")]
    means, _ = _hand_q(model.config, {k: v.detach() for k, v in model.qnetwork.state_dict().items()},
                       _reference_slice(wavs / "a.wav"))
    for layer, mean in means.items():
        sound = parselmouth.read(str(out / layout.layer_sound("s000000", layer)))
        assert sound.sampling_frequency == mean.shape[0] * SR / L and sound.values.shape[1] == mean.shape[0]
        assert np.abs(sound.values[0] - mean).max() <= 1e-6
        x, rate = io.read_layer_wav(out / layout.layer_wav("s000000", layer))
        up = F.interpolate(torch.tensor(mean)[None, None], size=L, mode="linear", align_corners=False)[0, 0]
        assert rate == SR and np.abs(x - np.clip(up.numpy(), -0.05, 0.05)).max() <= 1e-6


def test_a_float_wav_far_outside_one_is_named_in_one_note(tiny_q, tmp_path, capsys):
    """A float WAV peaking above 2 gets one ``ganphon: note:`` line naming it; one at 1.5 does not."""
    from ganphon.speech import FLOAT_PEAK_NOTE

    wavs = tmp_path / "wavs"
    wavs.mkdir()
    t = np.arange(int(0.5 * SR)) / SR
    _write_wav(wavs / "loud.wav", 3000.0 * np.sin(2 * np.pi * 200 * t), SR)   # PCM counts stored as float
    _write_wav(wavs / "hot.wav", 1.5 * np.sin(2 * np.pi * 200 * t), SR)       # a little over, no note
    assert scipy.io.wavfile.read(wavs / "loud.wav")[1].dtype == np.float32 and FLOAT_PEAK_NOTE == 2.0
    assert main(["probe", "--checkpoint", str(tiny_q), "--network", "q", "--wavs", str(wavs),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ganphon: note:")]
    assert len(notes) == 1 and "loud.wav" in notes[0] and "3000" in notes[0], notes
    manifest = pd.read_csv(tmp_path / "out" / "manifest.csv")
    loud = manifest.loc[(manifest["input_file"] == "loud.wav") & (manifest["layer"] == "output"), "file"].item()
    x = parselmouth.Sound(str(tmp_path / "out" / loud)).values[0]
    assert np.abs(x).max() == pytest.approx(3000.0, rel=1e-4)  # probed as it is, not rescaled


def test_a_textgrid_made_for_another_version_of_its_wav_is_named_in_one_note(tiny_q, tmp_path, capsys):
    """An input whose TextGrid spans 0-0.7 s over a 0.5 s WAV (trimmed since it was annotated) gets one
    ``ganphon: note:`` naming the TextGrid and both spans; one whose end is written to the millisecond does not."""
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    t = np.arange(int(0.5 * SR)) / SR
    for name, end in (("trimmed", 0.7), ("rounded", 0.5004)):
        _write_wav(wavs / f"{name}.wav", 0.3 * np.sin(2 * np.pi * 200 * t), SR)
        write_textgrid_tgt(wavs / f"{name}.TextGrid", {"words": [("ta", 0.1, 0.4)]}, xmax=end)
    assert main(["probe", "--checkpoint", str(tiny_q), "--network", "q", "--wavs", str(wavs),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ganphon: note:")]
    assert len(notes) == 1 and "trimmed.TextGrid" in notes[0], notes
    assert "the TextGrid spans 0 to 700 ms, the sound 0 to 500 ms (made for another version of the sound?)" \
        in notes[0]


def test_folder_mode_is_the_corpus_loaders_rule(tmp_path):
    from ganphon.corpus.folder import load_folder

    rng = np.random.default_rng(1)
    _write_wav(tmp_path / "a.wav", 0.2 * rng.standard_normal((30000, 2)), 44100)
    _write_wav(tmp_path / "b.wav", 0.2 * rng.standard_normal(20000), 16000)
    items, report = load_speech(tmp_path, L, SR)
    loaded, _ = load_folder(tmp_path, L, SR, progress=False)
    assert np.array_equal(np.stack([it.x for it in items]), loaded)
    assert (report.n_items, report.n_resampled, report.n_mixed, report.n_cut, report.n_padded) == (2, 1, 1, 1, 1)


# ---------------------------------------------------------------- the time axis


def _centroid(profile):
    profile = np.asarray(profile, dtype=np.float64)
    idx = np.arange(profile.size)
    return float((profile * idx).sum() / profile.sum())


def _constant_weights(module):
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.fill_(0.0 if name.endswith("bias") else 0.01)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_layer_sample_k_maps_to_time_exactly_as_in_the_generator(convention):
    """Receptive-field centre of Q sample k == footprint centre of generator sample k, both
    (k + 0.5)·T/n shifted by exactly (4^r − 1)/6 input samples (r strided layers between)."""
    cfg = _config(convention, dim=2)
    G, D, _ = build_models(cfg)
    _constant_weights(D)
    _constant_weights(G)
    G.blocks["output"].act = torch.nn.Identity()  # linear: the footprint is the impulse response
    sign = 1.0 if convention == "tf" else -1.0  # tf pads/crops 10 (later), torch 11 (earlier)
    D.eval()
    acts = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: acts.__setitem__(n, o))
             for n, m in D.activation_modules().items()]
    x = torch.ones(1, 1, L, requires_grad=True)  # positive everywhere: LeakyReLU is the identity
    D(x)
    for h in hooks:
        h.remove()
    names = list(G.blocks)  # conv1 … conv4, output
    for r in range(1, 6):
        n = L // 4**r
        k = n // 2
        expected = (k + 0.5) * T / n + sign * (4**r - 1) / 6 / SR
        # critic: layer r, sample k, receptive field on the input
        (grad,) = torch.autograd.grad(acts[f"conv{r}"][0, :, k].sum(), x, retain_graph=True)
        t_critic = (_centroid(grad[0, 0].numpy()) + 0.5) / SR
        # generator: the layer with n samples (dense for r = 5), an impulse at sample k
        blocks = names[len(names) - r:]
        cin = G.blocks[blocks[0]].conv.in_channels
        h = torch.zeros(1, cin, n)
        h[0, :, k] = 1.0
        with torch.no_grad():
            for b in blocks:
                h = G.blocks[b](h)
        t_gen = (_centroid(h[0, 0].numpy()) + 0.5) / SR
        assert abs(t_critic - expected) < 1e-9 * T, (r, t_critic, expected)
        assert abs(t_gen - expected) < 1e-9 * T, (r, t_gen, expected)
        assert abs(t_critic - (k + 0.5) * T / n) < T / n / 6  # within a sixth of the layer's period


# ---------------------------------------------------------------- the TextGrid moves with the audio


PRAAT_DURATIONS = """
form Durations
  sentence folder
endform
files$# = fileNames$# (folder$ + "/*")
for i to size (files$#)
  name$ = files$# [i]
  if endsWith (name$, ".wav") or endsWith (name$, ".Sound") or endsWith (name$, ".TextGrid")
    obj = Read from file: folder$ + "/" + name$
    duration = Get total duration
    appendInfoLine: name$, tab$, fixed$ (duration, 12)
    removeObject: obj
  endif
endfor
"""


def _burst_input(duration, sr, onset=0.3, offset=0.45):
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    x = np.zeros((n, 2))
    on = (t >= onset) & (t < offset)
    x[on, 0] = 0.5 * np.sin(2 * np.pi * 440 * t[on])
    x[on, 1] = 0.5 * np.sin(2 * np.pi * 440 * t[on])
    return x


def _onset(x, sr, threshold=0.05):
    return np.flatnonzero(np.abs(x) > threshold)[0] / sr


@pytest.fixture(scope="module")
def tiny_q(tmp_path_factory):
    cfg = _config()
    G, D, Q = new_model(cfg, seed=2)
    path = tmp_path_factory.mktemp("tq") / "q.pt"
    save_checkpoint(path, cfg, G, D, Q)
    return path


@pytest.mark.parametrize("sr_in", [16000, 44100])
@pytest.mark.parametrize("duration", [0.5, 1.5])
def test_copied_textgrid_aligns_with_every_exported_file(tiny_q, tmp_path, sr_in, duration):
    wavs = tmp_path / "in"
    wavs.mkdir()
    _write_wav(wavs / "rec.wav", _burst_input(duration, sr_in), sr_in)
    _write_grid(wavs / "rec.TextGrid", duration,
                {"words": [(0.0, 0.3, ""), (0.3, 0.45, "ba"), (0.45, duration, "")]},
                points={"events": [(0.3, "on"), (1.2, "late")]})
    out = tmp_path / "out"
    manifest = probe_speech(load_checkpoint(tiny_q), wavs, out, network="q", progress=False, wav_layers=True)
    sid = manifest["sample_id"].iloc[0]
    files = [f for f in layout.sample_files(sid, [f"conv{i}" for i in range(1, 6)], wav_layers=True)]
    # tgt and parselmouth
    grid = tgt.io.read_textgrid(str(out / layout.textgrid(sid)), include_empty_intervals=True)
    assert float(grid.start_time) == 0 and float(grid.end_time) == pytest.approx(T, abs=1e-12)
    assert [t.name for t in grid.tiers] == ["words", "events", "condition"]
    for tier in grid.tiers:
        assert float(tier.end_time) == pytest.approx(T, abs=1e-12)
    for name in files:
        obj = parselmouth.read(str(out / name))
        assert obj.xmin == 0 and obj.xmax == pytest.approx(T, abs=1e-12), name
    # the annotation is where the audio is: the burst starts at 0.3 s in the input and in the export
    words = grid.get_tier_by_name("words")
    ba = [iv for iv in words.intervals if iv.text == "ba"][0]
    assert float(ba.start_time) == pytest.approx(0.3, abs=0.5 / SR)
    assert float(ba.end_time) == pytest.approx(0.45, abs=0.5 / SR)
    x = parselmouth.Sound(str(out / layout.layer_wav(sid, "output"))).values[0]
    assert abs(_onset(x, SR) - ba.start_time) < 0.001
    events = grid.get_tier_by_name("events")
    assert [p.text for p in events.points] == ["on"]  # 1.2 s is cut off in the long input, beyond the short one
    condition = [(float(iv.start_time), float(iv.end_time), iv.text) for iv in grid.get_tier_by_name("condition").intervals]
    end = min(duration, T)
    assert condition[0] == (0.0, pytest.approx(end, abs=0.5 / SR), "input=rec")
    row = manifest.iloc[0]
    assert row["cut_s"] == pytest.approx(max(duration - T, 0), abs=1 / SR)
    assert row["padded_s"] == pytest.approx(max(T - duration, 0), abs=1 / SR)
    assert bool(row["mixed"]) and bool(row["resampled"]) == (sr_in != SR)
    # real Praat
    exe = require_praat()
    script = tmp_path / "durations.praat"
    script.write_text(PRAAT_DURATIONS)
    res = subprocess.run([exe, "--run", str(script), str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    durations = dict(line.split("\t") for line in res.stdout.strip().splitlines())
    assert set(durations) == set(files)
    assert all(abs(float(d) - T) < 1e-9 for d in durations.values()), durations


def test_words_cut_from_long_recordings_keep_their_annotation(tiny_q, tmp_path):
    sr_in, duration = 44100, 3.0
    x = _burst_input(duration, sr_in, onset=0.45, offset=0.6)
    x += _burst_input(duration, sr_in, onset=1.3, offset=1.5)
    rec = tmp_path / "rec"
    rec.mkdir()
    _write_wav(rec / "long.wav", x, sr_in)
    _write_grid(rec / "long.TextGrid", duration, {
        "words": [(0.0, 0.2, ""), (0.2, 0.7, "short"), (0.7, 1.0, ""), (1.0, 2.4, "long"), (2.4, 3.0, "")],
        "phones": [(0.0, 0.45, "a"), (0.45, 0.6, "b"), (0.6, 1.3, "c"), (1.3, 1.5, "d"), (1.5, 3.0, "e")]})
    out = tmp_path / "out"
    manifest = probe_speech(load_checkpoint(tiny_q), rec, out, network="q", tier="words", progress=False)
    items = manifest.drop_duplicates("sample_id").set_index("input_label")
    assert list(items.index) == ["short", "long"]
    for label, start, burst in (("short", 0.2, 0.45), ("long", 1.0, 1.3)):
        sid = items.loc[label, "sample_id"]
        grid = tgt.io.read_textgrid(str(out / layout.textgrid(sid)), include_empty_intervals=True)
        assert float(grid.end_time) == pytest.approx(T, abs=1e-12)
        phones = grid.get_tier_by_name("phones")
        b = [iv for iv in phones.intervals if iv.text in ("b", "d")][0]
        i0 = round(start * sr_in)
        assert float(b.start_time) == pytest.approx(burst - i0 / sr_in, abs=0.5 / SR)
        wave = parselmouth.Sound(str(out / layout.layer_wav(sid, "output"))).values[0]
        assert abs(_onset(wave, SR) - b.start_time) < 0.001
        cond = grid.get_tier_by_name("condition").intervals[0]
        assert cond.text == f"words={label}"
        assert float(cond.end_time) == pytest.approx(min(T, round((start + (0.5 if label == "short" else 1.4)) * sr_in)
                                                  / sr_in - i0 / sr_in), abs=0.5 / SR)
    assert items.loc["long", "cut_s"] > 0 and items.loc["short", "padded_s"] > 0


# ---------------------------------------------------------------- the folder works downstream


def test_rerun_resumes_and_changed_inputs_need_overwrite(tiny_q, tmp_path):
    wavs = tmp_path / "w"
    wavs.mkdir()
    _write_wav(wavs / "a.wav", _burst_input(0.5, SR)[:, 0], SR)
    model = load_checkpoint(tiny_q)
    out = tmp_path / "out"
    probe_speech(model, wavs, out, network="q", progress=False)
    first = (out / "s000000_conv3.Sound").stat().st_mtime_ns
    probe_speech(model, wavs, out, network="q", progress=False)
    assert (out / "s000000_conv3.Sound").stat().st_mtime_ns == first
    _write_wav(wavs / "a.wav", _burst_input(0.6, SR)[:, 0], SR)
    with pytest.raises(GanphonError, match="overwrite"):
        probe_speech(model, wavs, out, network="q", progress=False)
    probe_speech(model, wavs, out, network="q", progress=False, overwrite=True)
    assert parselmouth.read(str(out / "s000000.TextGrid")).xmax == pytest.approx(T)


def test_measure_and_stats_run_unchanged_on_a_speech_folder(tiny_q, tmp_path):
    from ganphon.acoustics import measure
    from ganphon.stats import run_stats

    wavs = tmp_path / "w"
    wavs.mkdir()
    rng = np.random.default_rng(3)
    rows = []
    for i, word in enumerate(["ta", "ta", "pi", "pi", "ku"]):
        n = int(0.4 * SR)
        t = np.arange(n) / SR
        f0 = 100 + 20 * i
        x = 0.3 * np.sign(np.sin(2 * np.pi * f0 * t)) * np.hanning(n) + 0.001 * rng.standard_normal(n)
        _write_wav(wavs / f"w{i}.wav", x, SR)
        _write_grid(wavs / f"w{i}.TextGrid", 0.4, {"phones": [(0.0, 0.05, ""), (0.05, 0.35, "V"),
                                                             (0.35, 0.4, "")]})
        rows.append({"file": f"w{i}.wav", "word": word})
    pd.DataFrame(rows).to_csv(wavs / "corpus.csv", index=False)
    out = tmp_path / "out"
    probe_speech(load_checkpoint(tiny_q), wavs, out, network="q", progress=False)
    table = measure(out, measures=("intensity", "pitch"), tier="phones", workers=1, progress=False)
    table.to_csv(out / layout.ACOUSTICS, index=False)
    assert set(table["layer"]) == {"output", "conv1", "conv2", "conv3", "conv4", "conv5"}
    try:
        result = run_stats(out, measures=["intensity", "f0"], labels=["V"], label_column="word")
    except TypeError:
        pytest.skip("run_stats has no label_column yet")
    corr = result.tables["correlations"]
    assert set(corr["layer"]) <= {"conv1", "conv2", "conv3", "conv4", "conv5"} and len(corr) > 0
    acc = result.tables["prediction_accuracy"]
    assert acc.set_index("label").loc["all", "n"] == 5
    assert (out / "stats" / "predictions.csv").is_file()


# ---------------------------------------------------------------- predictions against labels


def test_best_mapping_and_accuracy_against_hand_counts():
    manifest = pd.DataFrame({
        "sample_id": [f"s{i}" for i in range(6)], "network": "q",
        "word": ["a", "a", "a", "b", "b", "c"], "predicted_code": ["2", "2", "1", "3", "3", "3"],
        "p_code1": 0.0, "p_code2": 0.0, "p_code3": 0.0})
    items = item_predictions(manifest, "word")
    # counts a: {1: 1, 2: 2}, b: {3: 2}, c: {3: 1} → a→2, b→3, c→1 (c gets the code left over)
    assert best_mapping(items) == {"a": "2", "b": "3", "c": "1"}
    acc = accuracy_table(items).set_index("label")
    assert acc.loc["a", "n_correct"] == 2 and acc.loc["b", "n_correct"] == 2 and acc.loc["c", "n_correct"] == 0
    assert acc.loc["all", "accuracy"] == pytest.approx(4 / 6)
    assert acc.loc["all", "majority_baseline"] == pytest.approx(3 / 6)
    codes = code_table(items).set_index("code")
    assert codes.loc["2", "top_label"] == "a" and codes.loc["2", "share_top"] == 1.0
    assert codes.loc["3", "top_label"] == "b" and codes.loc["3", "share_top"] == pytest.approx(2 / 3)
    with pytest.raises(GanphonError, match="no column 'vowel'"):
        item_predictions(manifest, "vowel")


# ---------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    wg = ModelConfig(arch="wavegan", dim=4)
    G, D, _ = new_model(wg, seed=1)
    save_checkpoint(root / "wavegan.pt", wg, G, D)
    ciw = _config()
    G, D, Q = new_model(ciw, seed=1)
    save_checkpoint(root / "noq.pt", ciw, G)
    return root


def _fails(capsys, argv, *expected):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganphon: error:") and "\n" not in err, err
    for text in expected:
        assert text in err, err
    return err


def test_bad_input_is_one_line(tiny_q, bad_models, tmp_path, capsys):
    wavs = tmp_path / "w"
    wavs.mkdir()
    _write_wav(wavs / "ok.wav", np.zeros(100), SR)
    out = str(tmp_path / "out")
    q = ["probe", "--checkpoint", str(tiny_q), "--out", out]
    _fails(capsys, [*q, "--network", "q", "--wavs", str(wavs), "--n", "3"], "--n", "--wavs")
    _fails(capsys, [*q, "--network", "q", "--wavs", str(wavs), "--code", "1"], "--code")
    _fails(capsys, [*q, "--network", "q"], "--wavs DIR")
    _fails(capsys, [*q, "--wavs", str(wavs)], "--network q")
    _fails(capsys, [*q, "--network", "generator", "--wavs", str(wavs)], "--network q")
    _fails(capsys, [*q, "--tier", "words"], "--tier needs --wavs")
    _fails(capsys, [*q, "--network", "q", "--wavs", str(wavs), "--labels", "a"], "--labels needs --tier")
    assert main([*q, "--network", "q", "--wavs", str(tmp_path / "nowhere")]) == 2  # the parser's check
    assert f"argument --wavs: {tmp_path / 'nowhere'}: no such folder" in capsys.readouterr().err
    _fails(capsys, [*q, "--network", "q", "--wavs", str(wavs), "--layers", "output"], "output")
    _fails(capsys, ["probe", "--checkpoint", str(bad_models / "wavegan.pt"), "--out", out, "--network", "q",
                    "--wavs", str(wavs)], "wavegan", "no Q-network")
    _fails(capsys, ["probe", "--checkpoint", str(bad_models / "noq.pt"), "--out", out, "--network", "q",
                    "--wavs", str(wavs)], "no Q-network weights")
    _fails(capsys, ["probe", "--checkpoint", str(bad_models / "noq.pt"), "--out", out, "--network", "critic",
                    "--wavs", str(wavs)], "no critic weights")
    _fails(capsys, [*q, "--network", "q", "--wavs", str(wavs), "--tier", "words"], "ok.wav", "no TextGrid")
    _write_grid(wavs / "ok.TextGrid", 100 / SR, {"phones": [(0, 100 / SR, "a")]})
    _fails(capsys, [*q, "--network", "q", "--wavs", str(wavs), "--tier", "words"], "no tier 'words'")
    (wavs / "text.wav").write_text("this is not audio\n")
    _fails(capsys, [*q, "--network", "q", "--wavs", str(wavs)], "text.wav", "cannot read WAV")
    (wavs / "text.wav").unlink()
    scipy.io.wavfile.write(wavs / "empty.wav", SR, np.zeros(0, np.float32))
    _fails(capsys, [*q, "--network", "q", "--wavs", str(wavs)], "empty.wav", "no samples")
    if not torch.cuda.is_available():
        _fails(capsys, [*q, "--network", "q", "--wavs", str(wavs), "--device", "cuda"], "no CUDA device")
    assert not (tmp_path / "out").exists()  # nothing was written by any of them
