"""The band rule and the generator's artefacts (ganphon.measures), against independent references.

* Every layer of a real 16384 and 65536 model, measured on every route — the
  upsampled WAVs, the native-rate Sounds, a store's arrays, and the bundled
  script in Praat itself — gives the empty values (with the same note) that
  its native rate calls for, the rate taken from the probe's own arrays (n / T),
  not from anything the measuring code reads.
* Ground truth: synthetic outputs with a known buzz — an [s] carrying the
  stride-4 stack's 333.3 Hz, a vowel gliding through 333 Hz, a clean vowel
  at 120 Hz — annotated and measured as a generator's folder.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pandas as pd
import pytest
import scipy.signal

from conftest import SLICE, SR, T, sweep_with_buzz, write_table_folder
from ganphon import acoustics, layout, measures, praat
from ganphon.errors import GanphonError

MAXIMUM_FORMANT = praat.MeasureSettings().maximum_formant


def paper_floor(layer):
    """The default preset's pitch floor (the paper's ciwGAN ranges, SPEC §5)."""
    return 5.0 if layer in ("conv1", "conv2") else 75.0


def expected_empty(layer, rate):
    """Family → the note a layer of native ``rate`` must carry under the default settings, or None.

    Written from the rule itself (SPEC §10), not from ganphon.measures: formants need the maximum
    formant below the native Nyquist, pitch a floor below it (the ceiling is clipped to it)."""
    nyquist = rate / 2
    out = {"formants": None, "pitch": None}
    if MAXIMUM_FORMANT > nyquist:
        out["formants"] = f"{layer}: native Nyquist {measures.hz(nyquist)} Hz < maximum formant 5500 Hz"
    if paper_floor(layer) >= nyquist:
        out["pitch"] = (f"{layer}: native Nyquist {measures.hz(nyquist)} Hz < pitch floor "
                        f"{measures.hz(paper_floor(layer))} Hz")
    return out


# --------------------------------------------------------------------------
# Every layer of a 16384 and a 65536 model, every route


@pytest.fixture(scope="module", params=[16384, 65536], ids=["16384", "65536"])
def model_folder(request, tmp_path_factory):
    """A small WaveGAN's two samples exported (every layer), annotated; the native rates from its probe."""
    import torch

    from ganphon.annotate import annotate_folder
    from ganphon.export import run_export
    from ganphon.models import Latent, ModelConfig, load_checkpoint, new_model, save_checkpoint
    from ganphon.probe import probe

    root = tmp_path_factory.mktemp(f"band{request.param}")
    cfg = ModelConfig(arch="wavegan", dim=4, slice_len=request.param)
    G, D, Q = new_model(cfg, seed=5)
    path = save_checkpoint(root / "model.pt", cfg, G, D, Q)
    model = load_checkpoint(path)
    z = Latent(cfg).sample(2, seed=3)
    folder = root / "export"
    run_export(model, z, folder, seed=3, request={"kind": "probe", "n": 2, "seed": 3}, progress=False)
    annotate_folder(folder, progress=False)
    duration = cfg.slice_len / cfg.sr
    with torch.inference_mode():
        result = probe(model.generator, z)
    rates = {layer: series.shape[-1] / duration for layer, series in result.native.items()}
    rates["output"] = float(cfg.sr)
    return model, z, folder, rates


def check_band_rule(table, rates, route):
    """Every layer's empty values and notes are those its native rate calls for; no value above its Nyquist."""
    assert set(table["layer"]) == set(rates), route
    for layer, rate in rates.items():
        rows = table[table["layer"] == layer]
        want = expected_empty(layer, rate)
        for family, names in (("formants", ("f1", "f2", "f3")), ("pitch", ("f0", "f0_mean", "f0_min", "f0_max"))):
            part = rows[rows["measure"].isin(names)]
            assert len(part), (route, layer, family)
            if want[family]:
                assert part["value"].isna().all(), (route, layer, family)
                assert (part["note"] == want[family]).all(), (route, layer, family, part["note"].unique())
            else:  # carried: no guard note (a single value above the Nyquist is emptied on its own)
                guard = part["note"].fillna("").str.contains("native Nyquist [0-9.]+ Hz <", regex=True)
                assert not guard.any(), (route, layer, family)
        frequencies = rows[rows["measure"].isin(measures.FREQUENCY_MEASURES)]["value"].dropna()
        assert (frequencies <= rate / 2).all(), (route, layer, frequencies.max())
        # the output carries everything: some formants of a noisy waveform are defined
        if layer == "output":
            assert rows[rows["measure"] == "f1"]["value"].notna().any(), route


def band_rows(table):
    """The rows emptied by the band rule, as (sample, layer, interval, point, measure) keys with their notes."""
    rows = table[table["note"].fillna("").str.contains("native Nyquist [0-9.]+ Hz <|native sampling period", regex=True)]
    keys = rows[["sample_id", "layer", "label", "start", "end", "point", "measure"]].copy()
    keys[["start", "end"]] = keys[["start", "end"]].round(6)
    keys["note"] = rows["note"]
    return set(map(tuple, keys.astype(str).to_numpy()))


def test_band_rule_on_wav_and_sound_routes(model_folder):
    _, _, folder, rates = model_folder
    wav = acoustics.measure(folder, workers=1, progress=False)
    sound = acoustics.measure(folder, inputs="sound", workers=1, progress=False)
    check_band_rule(wav, rates, "wav")
    check_band_rule(sound, rates, "sound")
    assert band_rows(wav) == band_rows(sound)
    assert band_rows(wav), "no layer of a 16/65 k model carries formants"


def test_band_rule_in_praat_itself(model_folder, praat_exe):
    _, _, folder, rates = model_folder
    python = acoustics.measure(folder, workers=1, progress=False)
    for inputs in ("wav", "sound"):
        in_praat = acoustics.measure_with_script(folder, inputs=inputs, engine="praat", praat_path=praat_exe)
        check_band_rule(in_praat, rates, f"praat {inputs}")
        assert band_rows(in_praat) == band_rows(python), inputs


def test_band_rule_of_the_script_alone_reads_the_manifest(model_folder, praat_exe):
    # a Praat user runs measure_all.praat on the exported folder as it is: "manifest" (the default)
    # finds each file's native rate, so an upsampled WAV is judged by its layer's rate
    _, _, folder, rates = model_folder
    table = praat.run_script("measure_all", folder, engine="praat", praat_path=praat_exe, tier="auto")
    low = min((r, layer) for layer, r in rates.items())[1]
    rows = table[table["file"].str.endswith(f"_{low}.wav") & (table["measure"] == "f1")]
    assert rows["value"].isna().all()
    assert (rows["note"] == expected_empty(low, rates[low])["formants"]).all()
    # "file": the WAV's own 16 kHz rate carries formants
    own = praat.run_script("measure_all", folder, engine="praat", praat_path=praat_exe, tier="auto",
                           native_rate="file")
    own = own[own["file"].str.endswith(f"_{low}.wav") & (own["measure"] == "f1")]
    assert not own["note"].fillna("").str.contains("native Nyquist").any()


def test_band_rule_on_the_store_route(model_folder, tmp_path):
    for module in ("zarr", "pyarrow"):
        try:
            __import__(module)
        except ImportError:
            if os.environ.get("CI") == "true":
                pytest.fail(f"{module} is missing, but CI=true requires the store tests to run")
            pytest.skip(f"{module} not installed")
    from ganphon.store import run_store
    from ganphon.store_analysis import analyse_store

    model, z, folder, rates = model_folder
    store = tmp_path / "store"
    run_store(model, z, store, seed=3, request={"kind": "probe", "n": 2, "seed": 3}, progress=False)
    files = acoustics.measure(folder, workers=1, progress=False)
    for inputs in ("wav", "sound"):
        table, _ = analyse_store(store, inputs=inputs, workers=1, progress=False)
        check_band_rule(table, rates, f"store {inputs}")
        assert band_rows(table) == band_rows(files), inputs


def test_settings_table_follows_the_paper_clipped_to_each_band(model_folder):
    model, _, folder, rates = model_folder
    found, duration = acoustics.layer_rates(folder)
    assert found == pytest.approx(rates) and list(found) == layout.sort_layers(rates)
    table = praat.settings_table("default", found, duration).set_index("layer")
    for layer, rate in rates.items():
        row = table.loc[layer]
        assert row["native_nyquist_hz"] == rate / 2
        ceiling = 150.0 if layer in ("conv1", "conv2") else 450.0
        if paper_floor(layer) < rate / 2:
            assert row["pitch_ceiling"] == min(ceiling, rate / 2)
        # the intensity window spans at least 4 native samples
        assert 6.4 / row["intensity_minimum_pitch"] >= 4 / rate * (1 - 1e-12)
        assert row["max_intensity_window_ms"] / 1000 >= 4 / rate * (1 - 1e-12)
        assert ("formants (native Nyquist" in row["empty"]) == (rate / 2 < MAXIMUM_FORMANT)


def test_show_settings_and_overrides_on_the_command_line(model_folder, capsys, tmp_path):
    from ganphon.cli import main

    _, _, folder, rates = model_folder
    assert main(["measure", str(folder), "--show-settings"]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "formants (native Nyquist" in out
    assert main(["measure", str(folder), "--show-settings", "--set", "conv4.maximum_formant=1500"]) == 0
    out = capsys.readouterr().out
    conv4 = next(line for line in out.splitlines() if line.startswith("conv4 "))
    assert "1500" in conv4
    # the override reaches the measurement
    layers = [x for x in rates if x.startswith("conv") and rates[x] / 2 >= 1500]
    table_path = tmp_path / "a.csv"
    assert main(["measure", str(folder), "--measures", "formants", "--set", f"{layers[0]}.maximum_formant=1500",
                 "--out", str(table_path), "--workers", "1", "--quiet"]) == 0
    table = pd.read_csv(table_path)
    f1 = table[(table["layer"] == layers[0]) & (table["measure"] == "f1")]
    assert not f1["note"].fillna("").str.contains("native Nyquist").any()
    assert main(["measure", str(folder), "--set", "pitch_flor=3"]) == 2
    assert "unknown setting" in capsys.readouterr().err


def test_override_parsing_and_presets():
    assert praat.parse_overrides(["conv4.maximum_formant=2000,pitch_ceiling=500"]) == \
        {"conv4": {"maximum_formant": 2000.0}, "*": {"pitch_ceiling": 500.0}}
    merged = praat.resolve_layer_settings({"preset": "default", "*": {"pitch_ceiling": 500.0},
                                           "conv4": {"maximum_formant": 2000.0}})
    assert merged["conv1"].pitch_ceiling == 150 and merged["*"].pitch_ceiling == 500
    assert merged["conv4"].maximum_formant == 2000 and merged["conv4"].pitch_ceiling == 500
    assert praat.settings_for_layer("conv2", "default", native_rate=250.0).pitch_ceiling == 125
    assert praat.settings_for_layer("conv3", "praat", native_rate=1000.0).pitch_ceiling == 500
    # a floor above the Nyquist leaves nothing to clip: the guard says why
    dense = praat.settings_for_layer("dense", "default", native_rate=15.625)
    assert dense.pitch_ceiling == 450 and dense.intensity_minimum_pitch == 25
    with pytest.raises(GanphonError, match="expected"):
        praat.parse_overrides(["conv4.maximum_formant"])


# --------------------------------------------------------------------------
# Artefact frequencies


def test_stack_frequencies_moved_to_the_config():
    from ganphon.models.config import ModelConfig, stack_frequencies
    from ganphon.train import evaluate

    cfg = ModelConfig(arch="ciwgan", n_codes=3, dim=4)
    assert evaluate.stack_frequencies is stack_frequencies
    assert stack_frequencies(cfg) == (1000.0 / 3, 250.0, 125.0, 250.0 / 3)
    every = stack_frequencies(cfg, floor=None, ceiling=None)
    # sr / (m · 4^k): the native rates of the layers (4000 … 15.625 Hz) and ½, ⅓ of each
    assert set(every) == {16000 / (m * 4 ** k) for k in range(1, 6) for m in (1, 2, 3)}
    long = ModelConfig(arch="ciwgan", n_codes=3, dim=4, slice_len=65536)
    assert min(stack_frequencies(long, floor=None, ceiling=None)) == pytest.approx(16000 / (3 * 4 ** 6))


def test_on_artefact_tolerance():
    found = measures.on_artefact([333.33, 335.0, 331.7, 120.0, 250.9, np.nan], (1000 / 3, 250.0))
    assert found[0] == pytest.approx(1000 / 3) and found[2] == pytest.approx(1000 / 3)
    assert np.isnan(found[1]) and np.isnan(found[3]) and np.isnan(found[5])
    assert found[4] == 250.0


# --------------------------------------------------------------------------
# Ground truth: the buzz of a generator


def _vowel(f0_track, formants=(700.0, 1200.0, 2600.0, 3500.0, 4500.0), bandwidths=(80.0, 90.0, 150.0, 250.0, 300.0)):
    from ganphon.corpus.synth import _glottal_source, _static_cascade

    x = _static_cascade(_glottal_source(np.asarray(f0_track, float), SR), formants, bandwidths, SR)
    n = len(x)
    ramp = min(160, n // 4)
    envelope = np.ones(n)
    envelope[:ramp] = np.linspace(0, 1, ramp)
    envelope[-ramp:] = np.linspace(1, 0, ramp)
    return 0.3 * x / np.sqrt(np.mean(x ** 2)) * envelope


def _hissing_s(n, seed):
    """White noise high-passed at 4 kHz: an [s] whose spectral centre of gravity is ≈ 6 kHz."""
    sos = scipy.signal.butter(8, 4000, "highpass", fs=SR, output="sos")
    noise = scipy.signal.sosfilt(sos, np.random.default_rng(seed).standard_normal(n + 2000))[2000:]
    return 0.1 * noise / noise.std()


def _stack_buzz(n, seed):
    """A pattern repeating every 48 samples exactly (16000 / 48 = 333.3 Hz, the stride-4 stack's
    period at 16 kHz), its harmonics between 5 and 7 kHz (inside the [s]'s band)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return sum(np.cos(2 * np.pi * h * SR / 48 * t + rng.uniform(0, 2 * np.pi)) for h in range(15, 22))


def _placed(x, at):
    out = np.zeros(SLICE)
    start = int(at * SR)
    out[start:start + len(x)] = x
    return out


@pytest.fixture(scope="module")
def buzzed_folder(tmp_path_factory):
    """A generator's folder (16 kHz, 16384 samples, stride 4) of three outputs with known F0s."""
    from ganphon import io

    folder = tmp_path_factory.mktemp("buzz") / "export"
    folder.mkdir()
    n_s, n_v = int(0.20 * SR), int(0.30 * SR)
    s = _hissing_s(n_s, 1)
    buzz = _stack_buzz(n_s, 1)
    buzzed_s = s + 2 * buzz / buzz.std() * s.std()
    glide = np.linspace(250.0, 420.0, n_v)  # through 333.3 Hz at 0.48 of the vowel
    outputs = {
        "s000000": _placed(buzzed_s, 0.25),
        "s000001": _placed(_vowel(glide), 0.25),
        "s000002": _placed(_vowel(np.full(n_v, 120.0)), 0.25),
    }
    rows = []
    for sid, x in outputs.items():
        io.write_wav(folder / layout.layer_wav(sid, "output"), x, SR)
        io.write_textgrid(folder / layout.textgrid(sid),
                          io.textgrid_from_intervals({"condition": [(0.0, T, "random")]}, T))
        rows.append(dict(sample_id=sid, layer="output", file=layout.layer_wav(sid, "output"),
                         sound_file=layout.layer_wav(sid, "output"), textgrid=layout.textgrid(sid),
                         n_native=SLICE, rate_native_hz=float(SR), slice_len=SLICE, sr=SR, seed=1, arch="ciwgan",
                         checkpoint_sha256="0" * 64, code=""))
    io.write_table(pd.DataFrame(rows), folder / layout.MANIFEST)
    return folder, glide


def _labels_at(folder, sid, t):
    from ganphon import io

    grid = io.read_textgrid(folder / layout.textgrid(sid))
    return next(i.text for i in grid.get_tier_by_name("auto").intervals if i.start_time <= t < i.end_time)


def test_an_s_carrying_the_stack_buzz_is_no_vowel_and_its_f0_is_flagged(buzzed_folder):
    from ganphon.annotate import annotate_folder, segment
    from ganphon.train.evaluate import centre_of_gravity

    folder, _ = buzzed_folder
    import parselmouth

    sound = parselmouth.Sound(str(folder / "s000000_output.wav"))
    assert 5500 < centre_of_gravity(sound, 0.26, 0.44) < 6500
    # Praat voices it: without the buzz rule the [s] is a vowel
    assert any(lab == "voi" and s < 0.35 < e for s, e, lab in segment(sound))
    table = annotate_folder(folder, progress=False, workers=1)
    assert table.attrs["buzz"]["output"][:4] == pytest.approx((4000.0, 2000.0, 4000 / 3, 1000.0))
    assert _labels_at(folder, "s000000", 0.35) == "fric"
    assert "voi" not in set(table.loc[table["sample_id"] == "s000000", "label"])
    # its F0, measured on the whole file, sits on the buzz and is flagged
    measured = acoustics.measure(folder, tier=None, measures=["pitch"], workers=1, progress=False)
    f0 = measured[(measured["sample_id"] == "s000000") & measured["value"].notna()]
    assert len(f0) and np.allclose(f0["value"], 1000 / 3, rtol=0.005)
    assert np.allclose(f0["f0_artefact"], 1000 / 3)
    # --no-buzz-rule: the old reading
    annotate_folder(folder, progress=False, workers=1, buzz=None)
    assert _labels_at(folder, "s000000", 0.35) == "voi"
    annotate_folder(folder, progress=False, workers=1)


def test_a_vowel_gliding_through_the_buzz_keeps_its_vowel_and_only_frames_on_it_are_flagged(buzzed_folder):
    from ganphon.annotate import annotate_folder

    folder, glide = buzzed_folder
    annotate_folder(folder, progress=False, workers=1)
    assert _labels_at(folder, "s000001", 0.40) == "voi"
    table = acoustics.measure(folder, measures=["pitch"], points=40, workers=1, progress=False)
    f0 = table[(table["sample_id"] == "s000001") & (table["measure"] == "f0") & (table["label"] == "voi")]
    f0 = f0[f0["value"].notna()]
    assert len(f0) >= 30
    # the measured F0 follows the synthesised glide (an independent reference) …
    truth = np.interp(f0["time"], 0.25 + np.arange(len(glide)) / SR, glide)
    assert np.median(np.abs(f0["value"] / truth - 1)) < 0.01
    # … and exactly the points within 0.5 % of 333.3 Hz are flagged
    on = np.abs(f0["value"] / (1000 / 3) - 1) <= 0.005
    assert 1 <= on.sum() < len(f0) / 4
    assert (f0["f0_artefact"].notna() == on).all()
    assert np.allclose(f0.loc[on, "f0_artefact"], 1000 / 3)


def test_a_clean_vowel_at_120_hz_is_untouched(buzzed_folder):
    from ganphon.annotate import annotate_folder

    folder, _ = buzzed_folder
    annotate_folder(folder, progress=False, workers=1)
    assert _labels_at(folder, "s000002", 0.40) == "voi"
    table = acoustics.measure(folder, measures=["pitch"], workers=1, progress=False)
    f0 = table[(table["sample_id"] == "s000002") & table["measure"].isin(["f0", "f0_mean"])
               & (table["label"] == "voi")]
    assert np.allclose(f0["value"].dropna(), 120.0, rtol=0.01)
    assert f0["f0_artefact"].isna().all()


def test_both_engines_flag_the_same_f0(buzzed_folder, praat_exe):
    from ganphon.annotate import annotate_folder

    folder, _ = buzzed_folder
    annotate_folder(folder, progress=False, workers=1)
    python = acoustics.measure(folder, measures=["pitch"], points=40, workers=1, progress=False)
    in_praat = acoustics.measure_with_script(folder, measures=["pitch"], points=40, engine="praat",
                                             praat_path=praat_exe)
    key = ["file", "label", "start", "end", "point", "measure"]
    a = python.assign(start=python["start"].round(6), end=python["end"].round(6)).set_index(key)["f0_artefact"]
    b = in_praat.assign(start=in_praat["start"].round(6), end=in_praat["end"].round(6)).set_index(key)["f0_artefact"]
    a, b = a.sort_index(), b.sort_index()
    assert a.index.equals(b.index)
    assert (a.isna() == b.isna()).all() and a.notna().sum() > 0


# --------------------------------------------------------------------------
# Artefact rows in the statistics


def test_stats_leave_artefact_rows_out_count_them_and_say_how_each_outcome_moves(tmp_path, capsys):
    from ganphon import stats
    from ganphon.cli import main

    table = sweep_with_buzz()
    folder = write_table_folder(tmp_path / "sweep", table)
    flagged = int(table["f0_artefact"].notna().sum())
    clean = stats.run_stats(folder, measures=["f0"])
    slope = clean.tables["mixed_models"].set_index(["layer", "term"]).loc[("output", "value"), "estimate"]
    assert slope == pytest.approx(1.0, abs=0.05)  # the planted slope, without the buzz
    assert any(f"{flagged} of {len(table)}" in n and "left out" in n for n in clean.notes)
    moved = [n for n in clean.notes if n.startswith("f0/voi: slope of value without → with")]
    assert len(moved) == 1 and "conv4" not in moved[0]
    assert re.search(r"output (0\.9\d*|1\.0\d*) \(LRT p [^)]*, n 36\) → [3-9]\.\d+ \(LRT p", moved[0]), moved[0]
    lrt = clean.tables["lrt"].set_index("layer").loc["output", "p"]  # the p it quotes is the LRT's
    assert f"(LRT p {lrt:.2g}, n 36)" in moved[0]
    kept = stats.run_stats(folder, measures=["f0"], include_artefacts=True)
    slope_with = kept.tables["mixed_models"].set_index(["layer", "term"]).loc[("output", "value"), "estimate"]
    assert slope_with > 3  # the buzz drags the high values up
    assert any("included (--include-artefacts)" in n for n in kept.notes)
    assert json.loads((folder / "stats" / "stats.json").read_text())["artefacts"] == \
        {"rows": {"f0": flagged}, "included": True}
    assert main(["stats", str(folder), "--measures", "f0", "--include-artefacts", "--quiet"]) == 0
    assert "included (--include-artefacts)" in capsys.readouterr().out


def test_correlations_leave_artefact_rows_out(tmp_path):
    from ganphon import stats

    rng = np.random.default_rng(3)
    rows = []
    for s in range(40):
        truth = rng.normal(150, 20, 4)
        for layer, noise in (("conv4", 8.0), ("output", 0.0)):
            for p in range(4):
                value, artefact = truth[p] + rng.normal(0, noise), np.nan
                if layer == "conv4" and s % 4 == 0:  # conv4 locked on its stack period in a quarter of them
                    value, artefact = 250.0, 250.0
                rows.append({"file": f"s{s}_{layer}.wav", "tier": "auto", "label": "voi", "start": 0.1, "end": 0.3,
                             "point": p + 1, "measure": "f0", "value": value, "note": "", "f0_artefact": artefact,
                             "sample_id": f"s{s}", "layer": layer})
    table = pd.DataFrame(rows)
    folder = tmp_path / "random"
    folder.mkdir()
    table.to_csv(folder / "acoustics.csv", index=False)
    table.drop_duplicates(["sample_id", "layer"])[["sample_id", "layer", "file"]].to_csv(folder / "manifest.csv",
                                                                                         index=False)
    result = stats.run_stats(folder, measures=["f0"])
    corr = result.tables["correlations"].set_index("layer")
    clean = table[table["f0_artefact"].isna()]
    # one pair per interval: each layer's points averaged in each sample's one interval
    wide = clean.groupby(["sample_id", "layer"])["value"].mean().unstack("layer").dropna()
    assert corr.loc["conv4", "r"] == pytest.approx(np.corrcoef(wide["conv4"], wide["output"])[0, 1])
    assert corr.loc["conv4", "n"] == len(wide) == 30
    line = next(n for n in result.notes if n.startswith("f0: r with the output without → with"))
    assert "conv4 0.9" in line and "(n 30) →" in line and "(n 40)" in line, line
