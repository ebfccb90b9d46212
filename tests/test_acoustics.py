"""ganphon.acoustics: measures against ground truth, layer guards, bad inputs, the CLI.

The signals are synthesised from known parameters (conftest.py): a pulse train
at a known F0 through resonators at known formant frequencies, band-limited
noise with a known band, silences of known length.  ``make_exported_folder``
builds a small folder in ganphon's export layout from such signals.
"""

from __future__ import annotations

import codecs
import re
import os

import numpy as np
import pandas as pd
import pytest
import scipy.io.wavfile

from ganphon import acoustics, layout, praat
from conftest import (LAYER_SIZES, SLICE, SR, T, make_exported_folder, vowel, word, write_textgrid_tgt,
                      write_wav_scipy)
from ganphon.errors import GanphonError


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("acoustics") / "export ü"
    truth = make_exported_folder(folder)
    return folder, truth


def values(table, file, measure, label=None):
    rows = table[(table["file"] == file) & (table["measure"] == measure)]
    if label is not None:
        rows = rows[rows["label"] == label]
    return rows


# --------------------------------------------------------------------------
# Ground truth


def test_ground_truth_f0_formants_cog_duration(exported):
    folder, truth = exported
    table = acoustics.measure(folder, workers=1, progress=False)
    for sid, known in truth.items():
        name = layout.layer_wav(sid, "output")
        f0 = values(table, name, "f0", "voi")
        # the first and last points lie 12.5 ms from the vowel's edges, within half a pitch window
        inner = f0[f0["point"].between(2, 9)]["value"]
        assert inner.notna().all()
        assert np.all(np.abs(inner / known["f0"] - 1) < 0.01), (sid, f0["value"].tolist())
        assert f0.loc[f0["value"].isna(), "note"].eq("unvoiced").all()
        assert values(table, name, "f0_mean", "voi")["value"].item() == pytest.approx(known["f0"], rel=0.01)
        # the extremes include frames whose window reaches into the silence around the vowel
        low = values(table, name, "f0_min", "voi")["value"].item()
        high = values(table, name, "f0_max", "voi")["value"].item()
        assert known["f0"] * 0.95 < low <= known["f0"] <= high < known["f0"] * 1.05
        for k, formant in enumerate(known["formants"][:2], 1):
            measured = values(table, name, f"f{k}", "voi")
            # middle points, away from the ramps at the vowel's edges
            middle = measured[measured["point"].between(3, 8)]["value"]
            assert abs(middle.median() / formant - 1) < 0.05, (sid, k, middle.tolist())
        cog = values(table, name, "cog", "fric")["value"].item()
        assert 4000 < cog < 7000
        assert values(table, name, "cog", "voi")["value"].item() < 2000
        for label, start, end in known["intervals"][:-1]:
            d = table[(table["file"] == name) & (table["measure"] == "duration") & (table["start"] == start)]
            assert d["value"].item() == pytest.approx(end - start, abs=1e-12)
        # intensity: the noise and the vowel are loud, both defined
        assert values(table, name, "intensity_mean", "voi")["value"].notna().all()


def test_point_times_are_normalised(exported):
    folder, truth = exported
    table = acoustics.measure(folder, measures=["pitch"], points=4, workers=1, progress=False)
    rows = values(table, layout.layer_wav("s000000", "output"), "f0", "voi")
    _, start, end = truth["s000000"]["intervals"][3]
    expected = [start + (i - 0.5) / 4 * (end - start) for i in (1, 2, 3, 4)]
    assert rows["point"].tolist() == [1, 2, 3, 4]
    assert np.allclose(rows["time"], expected)
    interval = table[table["measure"] == "f0_mean"]
    assert interval["point"].isna().all() and interval["time"].isna().all()


def test_columns_and_manifest_join(exported):
    folder, _ = exported
    table = acoustics.measure(folder, measures=["duration"], workers=1, progress=False)
    assert list(table.columns[:11]) == praat.TABLE_COLUMNS
    for column in ("sample_id", "layer", "z11", "sweep_value", "seed", "arch", "base"):
        assert column in table.columns
    assert "file_y" not in table.columns and "sound_file" not in table.columns
    # value stays the measured value; the sweep's value is sweep_value
    assert np.allclose(table["value"], table["end"] - table["start"])
    assert set(table["layer"]) == {"output", *LAYER_SIZES}
    assert (table["sweep_value"] == table["z11"]).all()


# --------------------------------------------------------------------------
# What a layer can carry


@pytest.mark.parametrize("inputs", ["wav", "sound"])
def test_nyquist_guard_on_native_rate_layers(exported, inputs):
    # the same empty rows whether the upsampled WAV or the native-rate Sound is measured
    folder, _ = exported
    table = acoustics.measure(folder, measures=["pitch", "formants", "intensity", "spectrum"],
                              inputs=inputs, workers=1, progress=False)
    by_layer = table.groupby(["layer", "measure"])
    for layer in LAYER_SIZES:
        for measure in ("f1", "f2", "f3"):
            rows = by_layer.get_group((layer, measure))
            assert rows["value"].isna().all(), (layer, measure)
            assert rows["note"].str.contains("native Nyquist").all()
    note = by_layer.get_group(("conv1", "f1"))["note"].iloc[0]
    assert note == "conv1: native Nyquist 31.25 Hz < maximum formant 5500 Hz"
    # dense: no pitch range below its 7.8 Hz Nyquist; the others' ceilings are clipped to theirs
    assert by_layer.get_group(("dense", "f0"))["note"].iloc[0] == "dense: native Nyquist 7.8125 Hz < pitch floor 75 Hz"
    for layer in ("conv1", "conv2", "conv3", "conv4"):
        assert not by_layer.get_group((layer, "f0"))["note"].str.contains("Nyquist").any(), layer
    # dense: its intensity window is stretched to 4 native samples (minimum pitch 25 Hz)
    assert by_layer.get_group(("dense", "intensity_mean"))["value"].notna().all()
    assert by_layer.get_group(("dense", "cog"))["note"].str.contains("samples <").all()
    assert by_layer.get_group(("conv4", "intensity_mean"))["value"].notna().all()
    # the output carries everything
    assert by_layer.get_group(("output", "f1"))["value"].notna().any()


def test_guard_matches_what_praat_would_refuse():
    s = praat.MeasureSettings()
    assert praat.measure_guard("formants", s, 62.5, 1.024, "conv1") == \
        "conv1: native Nyquist 31.25 Hz < maximum formant 5500 Hz"
    # an upsampled WAV is judged by its native rate
    assert praat.measure_guard("formants", s, 16000, 1.024, "conv1", native_rate=62.5) == \
        "conv1: native Nyquist 31.25 Hz < maximum formant 5500 Hz"
    assert praat.measure_guard("formants", s, 16000, 1.024) is None
    assert praat.measure_guard("pitch", s, 16000, 0.03) is not None  # shorter than 3 / 75 s
    assert praat.measure_guard("intensity", s, 16000, 0.05) is not None  # shorter than 6.4 / 100 s
    assert praat.measure_guard("intensity", s, 15.625, 1.024) is not None
    assert praat.measure_guard("intensity", s, 16000, 1.024, "dense", native_rate=15.625) == \
        "dense: native sampling period 64 ms too long for intensity window 64 ms (4 samples needed)"
    assert praat.spectrum_guard(10, s, "conv1") == \
        "conv1: interval holds 10 samples < 32 needed for spectral moments"


def test_layer_presets():
    ciwgan = praat.resolve_layer_settings("paper-ciwgan")
    assert praat.settings_for_layer("conv1", ciwgan).pitch_floor == 5
    assert praat.settings_for_layer("conv2", ciwgan).pitch_ceiling == 150
    assert praat.settings_for_layer("conv4", ciwgan).pitch_ceiling == 450
    assert praat.settings_for_layer(None, "paper-wavegan").pitch_floor == 60
    custom = praat.resolve_layer_settings({"*": {"pitch_ceiling": 400.0}, "conv3": {"maximum_formant": 450.0}})
    assert custom["conv3"].pitch_ceiling == 400 and custom["conv3"].maximum_formant == 450
    with pytest.raises(GanphonError, match="unknown preset"):
        praat.resolve_layer_settings("paper-gan")
    with pytest.raises(GanphonError, match="unknown setting"):
        praat.resolve_layer_settings({"conv1": {"pitch_flor": 5}})
    with pytest.raises(GanphonError, match="below pitch_ceiling"):
        praat.MeasureSettings(pitch_floor=500.0, pitch_ceiling=400.0)


def test_ciwgan_preset_measures_slow_layer_periodicity(tmp_path):
    # an upsampled Conv1-like series pulsing at 20 Hz: below Praat's 75 Hz floor,
    # inside the paper's 5-150 Hz range for ciwGAN Conv1/Conv2 (ganphon's default)
    t = np.arange(SLICE) / SR
    write_wav_scipy(tmp_path / "s000000_conv1.wav", (0.5 * (1 + np.cos(2 * np.pi * 20 * t))) ** 4 + 0.01)
    write_wav_scipy(tmp_path / "s000000_output.wav", vowel(T, 150.0))
    default = acoustics.measure(tmp_path, measures=["pitch"], tier=None, layer_settings="praat", workers=1,
                                progress=False)
    paper = acoustics.measure(tmp_path, measures=["pitch"], tier=None, workers=1, progress=False)
    conv1 = "s000000_conv1.wav"
    assert values(default, conv1, "f0_mean")["value"].isna().all()
    assert values(paper, conv1, "f0_mean")["value"].item() == pytest.approx(20.0, rel=0.01)
    out = "s000000_output.wav"
    assert values(paper, out, "f0_mean")["value"].item() == pytest.approx(150.0, rel=0.01)
    assert values(default, out, "f0_mean")["value"].item() == pytest.approx(150.0, rel=0.01)


# --------------------------------------------------------------------------
# Bad inputs: flagged rows, or one clear error; the rest is measured


@pytest.fixture
def plain(tmp_path):
    x, intervals = word(150.0, (700.0, 1200.0, 2600.0), seed=5)
    write_wav_scipy(tmp_path / "good.wav", x)
    write_textgrid_tgt(tmp_path / "good.TextGrid", {"phones": intervals})
    return tmp_path, x, intervals


def test_missing_textgrid_measures_whole_file(plain):
    folder, x, _ = plain
    write_wav_scipy(folder / "lonely.wav", x)
    table = acoustics.measure(folder, tier="phones", workers=1, progress=False)
    lonely = table[table["file"] == "lonely.wav"]
    assert set(lonely["tier"]) == {""} and set(lonely["label"]) == {""}
    assert lonely["start"].eq(0).all() and np.allclose(lonely["end"], T)
    assert lonely["note"].str.startswith("no TextGrid").all()
    assert table[table["file"] == "good.wav"]["tier"].eq("phones").all()


@pytest.mark.parametrize("sound_form,grid_form", [("NFC", "NFD"), ("NFD", "NFC")])
def test_a_textgrid_named_in_another_unicode_form_is_named_not_taken_for_missing(plain, sound_form, grid_form):
    """``café.wav`` beside ``café.TextGrid`` written with é as e + a combining accent (macOS's form): different
    names on Linux, so the sound had been measured whole as one without a TextGrid."""
    import unicodedata

    folder, x, intervals = plain
    sound = folder / unicodedata.normalize(sound_form, "café_output.wav")
    write_wav_scipy(sound, x)
    write_textgrid_tgt(folder / unicodedata.normalize(grid_form, "café.TextGrid"), {"phones": intervals})
    expected = ascii(unicodedata.normalize(grid_form, "café.TextGrid"))
    rename = ascii(unicodedata.normalize(sound_form, "café.TextGrid"))
    with pytest.raises(GanphonError, match=re.escape(f"{sound}: its TextGrid is there as {expected}, the same name "
                                                     "with its accented letters encoded in another Unicode form")
                       + ".*" + re.escape(f"rename it {rename}")):
        acoustics.measure(folder, tier="phones", workers=1, progress=False)
    (folder / unicodedata.normalize(grid_form, "café.TextGrid")).rename(folder / unicodedata.normalize(
        sound_form, "café.TextGrid"))  # renamed as it says: paired
    table = acoustics.measure(folder, measures=["duration"], tier="phones", workers=1, progress=False)
    assert table[table["file"] == sound.name]["label"].tolist() == [lab for lab, _, _ in intervals]


def test_utf16_textgrid_is_read(plain):
    folder, x, intervals = plain
    write_wav_scipy(folder / "wide.wav", x)
    write_textgrid_tgt(folder / "wide.TextGrid", {"phones": intervals}, encoding="utf-16")
    assert (folder / "wide.TextGrid").read_bytes()[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    table = acoustics.measure(folder, measures=["duration"], tier="phones", workers=1, progress=False)
    wide = table[table["file"] == "wide.wav"]
    assert wide["label"].tolist() == [lab for lab, _, _ in intervals]
    assert (wide["note"] == "").all()


def test_empty_tier_missing_tier_and_point_tier(plain):
    folder, x, intervals = plain
    write_wav_scipy(folder / "empty.wav", x)
    write_textgrid_tgt(folder / "empty.TextGrid", {"phones": []})
    write_wav_scipy(folder / "other.wav", x)
    write_textgrid_tgt(folder / "other.TextGrid", {"words": [("x", 0.1, 0.5)]})
    table = acoustics.measure(folder, measures=["duration"], tier="phones", workers=1, progress=False)
    empty = table[table["file"] == "empty.wav"]
    assert len(empty) == 1 and empty["note"].item() == "tier 'phones' in empty.TextGrid has no labelled interval"
    other = table[table["file"] == "other.wav"]
    assert other["note"].item() == "tier 'phones' not found in other.TextGrid"
    assert other["value"].item() == pytest.approx(T)
    with pytest.raises(GanphonError, match="no TextGrid has an interval tier 'nasal'; empty.TextGrid has tier "
                                           "'phones'$"):
        acoustics.measure(folder, tier="nasal", workers=1, progress=False)
    with pytest.raises(GanphonError, match="interval tier 'Phones'; empty.TextGrid has tier 'phones'$"):
        acoustics.measure(folder, tier="Phones", workers=1, progress=False)  # the tiers it has, to compare


def test_short_interval_is_flagged(tmp_path):
    x, _ = word(150.0, (700.0, 1200.0, 2600.0), seed=1)
    write_wav_scipy(tmp_path / "a.wav", x)
    # 12 ms inside the vowel: shorter than every analysis window
    write_textgrid_tgt(tmp_path / "a.TextGrid", {"phones": [("short", 0.40, 0.412)]})
    table = acoustics.measure(tmp_path, tier="phones", workers=1, progress=False)
    f0 = table[table["measure"] == "f0"]
    assert f0["note"].str.contains("shorter than pitch window").all()
    assert np.allclose(f0["value"], 150.0, rtol=0.01)  # the frames around it are still the vowel's
    cog = table[table["measure"] == "cog"]
    assert cog["value"].notna().all()  # 192 samples hold a spectrum
    assert table[table["measure"] == "duration"]["value"].item() == pytest.approx(0.012)


def test_nan_zero_length_silent_and_unreadable_files(plain):
    folder, x, intervals = plain
    bad = x.copy()
    bad[100] = np.nan
    write_wav_scipy(folder / "nan.wav", bad)
    scipy.io.wavfile.write(folder / "zero.wav", SR, np.zeros(0, dtype=np.float32))
    write_wav_scipy(folder / "silent.wav", np.zeros(SLICE))
    (folder / "junk.wav").write_bytes(b"not a wav at all")
    for name in ("nan", "zero", "silent", "junk"):
        write_textgrid_tgt(folder / f"{name}.TextGrid", {"phones": intervals})
    table = acoustics.measure(folder, tier="phones", workers=1, progress=False)
    good = table[table["file"] == "good.wav"]
    assert good["value"].notna().sum() > 100
    for name, why in (("nan", "NaN/inf samples"), ("zero", "cannot read zero.wav"),
                      ("silent", "silent (all samples are 0)"), ("junk", "cannot read junk.wav")):
        rows = table[(table["file"] == f"{name}.wav") & (table["measure"] != "duration")]
        assert len(rows) == len(good[good["measure"] != "duration"]), name  # same rows as a good file
        assert rows["value"].isna().all(), name
        assert rows["note"].str.contains(why, regex=False).all(), (name, rows["note"].iloc[0])
        # durations come from the TextGrid and stay exact
        d = table[(table["file"] == f"{name}.wav") & (table["measure"] == "duration")]
        assert np.allclose(d["value"], d["end"] - d["start"])


def test_errors_for_bad_requests(tmp_path, plain):
    folder, _, _ = plain
    with pytest.raises(GanphonError, match="no such folder"):
        acoustics.measure(tmp_path / "missing", progress=False)
    with pytest.raises(GanphonError, match="unknown measure"):
        acoustics.measure(folder, measures=["pitch", "jitter"], tier="phones", progress=False)
    with pytest.raises(GanphonError, match="points"):
        acoustics.measure(folder, points=0, tier="phones", progress=False)
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(GanphonError, match="no \\*.wav files"):
        acoustics.measure(empty, progress=False)
    broken = tmp_path / "broken"
    broken.mkdir()
    pd.DataFrame({"sample_id": ["s0"], "file": ["s0_output.wav"]}).to_csv(broken / "manifest.csv", index=False)
    with pytest.raises(GanphonError, match="manifest lacks column\\(s\\) layer"):
        acoustics.measure(broken, progress=False)


# --------------------------------------------------------------------------
# Processes and the command line


def test_two_workers_give_the_same_table(exported):
    folder, _ = exported
    one = acoustics.measure(folder, measures=["pitch", "spectrum"], workers=1, progress=False)
    two = acoustics.measure(folder, measures=["pitch", "spectrum"], workers=2, progress=False)
    pd.testing.assert_frame_equal(one, two)


def test_cli_measure_writes_acoustics_csv(exported, tmp_path, capsys):
    from ganphon.cli import main

    folder, _ = exported
    out = tmp_path / "table.csv"
    code = main(["measure", str(folder), "--workers", "1", "--measures", "pitch,duration", "--points", "3",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    assert "measured 18 files" in capsys.readouterr().out
    table = pd.read_csv(out, keep_default_na=False, na_values={"value": [""]})
    assert set(table["measure"]) == {"f0", "f0_mean", "f0_min", "f0_max", "duration"}
    assert "sample_id" in table.columns and "sweep_value" in table.columns
    assert (tmp_path / "table.json").is_file()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary file left
    assert main(["measure", str(folder), "--tier", "phones", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ganphon: error: ") and "tier 'phones'" in err[0]


@pytest.mark.parametrize("rate", [16000.0, 22050.0])
def test_interval_spectrum_band_matches_praats_formula(rate):
    """The bins above a layer's band are zeroed as Praat's own ``Formula: "if x > band then 0 else self fi"``
    zeroes them: the same samples, bit for bit, for bands on a bin, between bins and with repeating decimals."""
    import numpy as np
    import parselmouth
    from parselmouth.praat import call

    from ganphon.acoustics import interval_spectrum
    from ganphon.measures import MeasureSettings, hz

    rng = np.random.default_rng(7)
    sound = parselmouth.Sound(rng.standard_normal(int(rate * 0.5)), sampling_frequency=rate)
    settings = MeasureSettings()
    for start, end in [(0.01, 0.27), (0.1, 0.1625), (0.2, 0.49)]:
        plain = interval_spectrum(sound, start, end, settings)
        edge = plain.x1 + 37 * plain.dx  # a band exactly on a bin
        for band in (250.0, 1000.0, 16000 / 3, 2000 / 3, edge, rate / 2 - plain.dx / 2):
            ours = interval_spectrum(sound, start, end, settings, band=band)
            praat = plain.copy()
            call(praat, "Formula", f"if x > {hz(band)} then 0 else self fi")
            assert np.array_equal(ours.values, praat.values), (start, end, band)
            assert (ours.values[:, plain.xs() > float(hz(band)) + plain.dx] == 0).all()
            assert ours.get_centre_of_gravity(2.0) == praat.get_centre_of_gravity(2.0)


@pytest.mark.parametrize("power", [2.0, 1.0, 2.5])
def test_spectral_moments_are_praats_own_getters_bit_for_bit(power):
    """One central-moment loop per moment gives exactly what Praat's four getters give (each of which runs
    its own loops): noise, a tone, band-limited noise, band-zeroed spectra (whose zero tail is left out of
    the loops), one bin, silence, a spectrum on a grid Praat's constructor may not rebuild."""
    import math

    import numpy as np
    import parselmouth

    from ganphon.acoustics import _without_zero_tail, interval_spectrum, spectral_moments
    from ganphon.measures import MeasureSettings

    rng = np.random.default_rng(11)
    t = np.arange(8000) / 16000
    signals = {"noise": rng.standard_normal(8000), "tone": np.sin(2 * np.pi * 440 * t),
               "low noise": np.convolve(rng.standard_normal(8000), np.ones(16) / 16, "same"),
               "silence": np.zeros(8000)}
    spectra = []
    for name, x in signals.items():
        sound = parselmouth.Sound(x, sampling_frequency=16000.0)
        for start, end, band in [(0.0, 0.5, None), (0.1, 0.12, None), (0.05, 0.4, 1000.0), (0.0, 0.5, 125.0),
                                 (0.1, 0.3, 31.25)]:
            spectra.append((name, interval_spectrum(sound, start, end, MeasureSettings(), band=band)))
    one_bin = parselmouth.Sound(np.ones(64), sampling_frequency=16000.0).to_spectrum(fast=True)
    spectra.append(("one bin", one_bin))
    # a grid Praat's Spectrum constructor may not give back (dx = 16000 / 4801): zeros past 700 Hz
    odd = parselmouth.Sound(signals["noise"][:4801], sampling_frequency=16000.0).to_spectrum(fast=False)
    odd.values[:, odd.xs() > 700.0] = 0.0
    spectra.append(("odd grid", odd))
    shortened = [name for name, spectrum in spectra if _without_zero_tail(spectrum).nx < spectrum.nx]
    assert len(shortened) >= 6  # the band-limited ones are measured on their nonzero head
    for name, spectrum in spectra:
        ours = spectral_moments(spectrum, power)
        praat = {"cog": spectrum.get_centre_of_gravity(power), "sd": spectrum.get_standard_deviation(power),
                 "skewness": spectrum.get_skewness(power), "kurtosis": spectrum.get_kurtosis(power)}
        for key, want in praat.items():
            got = ours[key]
            assert (math.isnan(got) and math.isnan(want)) or got == want, (name, key, got, want)
    silence = next(spectrum for name, spectrum in spectra if name == "silence")
    assert math.isnan(spectral_moments(silence, power)["cog"])  # undefined, as in Praat
