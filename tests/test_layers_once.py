"""Layers stored once, as native-rate binary Sounds: Praat and parselmouth read them exactly, and
measuring a layer from its Sound (upsampled in memory) gives the table the 16 kHz WAV route gives."""

import subprocess

import numpy as np
import pandas as pd
import parselmouth
import pytest
import scipy.io.wavfile

from conftest import require_praat
from ganphon import acoustics, io, layout
from ganphon.errors import GanphonError
from ganphon.annotate import annotate_folder
from ganphon.export import run_export
from ganphon.models import Latent, load_checkpoint

LAYERS = ["dense", "conv1", "conv2", "conv3", "conv4"]


@pytest.fixture(scope="module")
def two_routes(tiny_ciwgan, tmp_path_factory):
    """The same latents exported twice, clipped as the paper clipped: with the layers' WAVs, and without."""
    m = load_checkpoint(tiny_ciwgan)
    z = Latent(m.config).sample(4, seed=3, code="1")
    root = tmp_path_factory.mktemp("routes")
    folders = {}
    for name, wavs in (("wav", True), ("sound", False)):
        out = root / name
        run_export(m, z, out, clip=0.05, seed=3, progress=False, wav_layers=wavs)
        annotate_folder(out, workers=1, progress=False)
        folders[name] = out
    return folders


def test_binary_sound_reads_back_exactly_in_parselmouth_and_praat(tmp_path):
    x = np.random.default_rng(1).standard_normal(64).astype(np.float32)
    path = tmp_path / "s_conv1.Sound"
    io.write_sound(path, x, 62.5)
    assert path.read_bytes().startswith(b"ooBinaryFile")
    snd = parselmouth.read(str(path))
    assert snd.sampling_frequency == 62.5 and snd.xmin == 0 and snd.x1 == 0.008
    assert np.array_equal(snd.values[0], x.astype(np.float64))
    praat = require_praat()
    script = tmp_path / "dump.praat"
    script.write_text('form f\n  sentence path\nendform\nRead from file: path$\nn = Get number of samples\n'
                      'rate = Get sampling frequency\nwriteInfoLine: rate\nfor i to n\n'
                      '  v = Get value at sample number: 1, i\n  appendInfoLine: fixed$(v, 17)\nendfor\n')
    out = subprocess.run([praat, "--run", str(script), str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert float(lines[0]) == 62.5
    printed = np.array(lines[1:], dtype=np.float64)  # 17 decimals: the float32 samples to within printing
    assert np.array_equal(printed.astype(np.float32), x) and np.abs(printed - x).max() < 1e-15


def test_default_export_stores_each_layer_once(two_routes):
    names = {p.name for p in two_routes["sound"].iterdir()}
    assert not any(layout.parse_sample_file(n) and n.endswith(".wav") and "_output" not in n for n in names)
    assert {f"s000000_{layer}.Sound" for layer in LAYERS} <= names
    with_wavs = {p.name for p in two_routes["wav"].iterdir()}
    assert {f"s000000_{layer}.wav" for layer in LAYERS} <= with_wavs


def test_a_layer_read_from_its_sound_holds_the_wav_samples(two_routes):
    """The in-memory route (linear upsampling, then the run's clip) against the WAVs the export wrote."""
    for sid in ("s000000", "s000003"):
        for layer in LAYERS:
            sr, wav = scipy.io.wavfile.read(two_routes["wav"] / layout.layer_wav(sid, layer))
            x, rate = io.read_layer_wav(two_routes["sound"] / layout.layer_wav(sid, layer))
            assert rate == sr == 16000 and x.dtype == np.float32
            assert np.array_equal(x, wav), (sid, layer)
            from_wav = parselmouth.Sound(str(two_routes["wav"] / layout.layer_wav(sid, layer)))
            from_sound = io.read_layer_sound(two_routes["sound"] / layout.layer_wav(sid, layer))
            assert (from_sound.xmin, from_sound.xmax, from_sound.dx, from_sound.x1) == \
                   (from_wav.xmin, from_wav.xmax, from_wav.dx, from_wav.x1)
        assert np.abs(wav).max() <= 0.05  # the paper's clip was applied (here at 0.05)


def test_measure_from_sounds_equals_measure_from_wavs(two_routes):
    """Every value of the acoustic table, both engines: the old WAV route and the in-memory route."""
    via_wav = acoustics.measure(two_routes["wav"], workers=1, progress=False)
    via_sound = acoustics.measure(two_routes["sound"], workers=2, progress=False)
    assert len(via_wav) > 1000 and via_wav["value"].notna().sum() > 500
    pd.testing.assert_frame_equal(via_wav, via_sound)


def test_praat_engine_measures_a_folder_without_layer_wavs(two_routes):
    require_praat()
    via_wav = acoustics.measure_with_script(two_routes["wav"], engine="praat", measures=("pitch", "formants"))
    via_sound = acoustics.measure_with_script(two_routes["sound"], engine="praat", measures=("pitch", "formants"))
    pd.testing.assert_frame_equal(via_wav, via_sound)
    assert not list(two_routes["sound"].glob("*_conv1.wav"))  # the WAVs went to a temporary folder


def test_large_tables_are_parquet_of_their_own_columns_and_read_back_joined(two_routes, tmp_path, monkeypatch):
    """Above the row threshold the table is zstd Parquet without the manifest's columns; reading it
    through io.read_acoustics gives the joined CSV's table."""
    folder = two_routes["sound"]
    csv_table, csv_path, _ = acoustics.measure_to_file(folder, tmp_path / "joined.csv", workers=1, progress=False)
    monkeypatch.setattr(io, "CSV_MAX_ROWS", 10)
    _, path, _ = acoustics.measure_to_file(folder, workers=1, progress=False, overwrite=True)
    assert path.name == "acoustics.parquet" and not (folder / "acoustics.csv").exists()
    import pyarrow.parquet as pq

    stored = pq.ParquetFile(path)
    assert stored.schema_arrow.names == list(io.ACOUSTIC_COLUMNS)
    assert stored.metadata.row_group(0).column(0).compression == "ZSTD"
    pd.testing.assert_frame_equal(io.read_acoustics(folder), io.read_acoustics(csv_path))
    assert io.read_acoustics(folder)["sample_id"].notna().all()


def test_praat_plugin_view_upsamples_a_stored_sound_as_ganphon_does(two_routes, tmp_path):
    """View sample on a folder without layer WAVs: each layer Sound is its native Sound upsampled in
    Praat (Resample, precision 1, edges held), the samples ganphon computes (true values, not clipped)."""
    from ganphon.praat import scripts_dir

    praat = require_praat()
    folder = two_routes["sound"]
    view = scripts_dir() / "plugin_ganphon" / "view_sample.praat"
    script = tmp_path / "driver.praat"
    script.write_text(f'runScript: "{view}", "{folder}/", "s000001", "conv1 conv3", 0, 0\n'
                      'selectObject: "Sound conv1"\nn = Get number of samples\nrate = Get sampling frequency\n'
                      'writeInfoLine: n, " ", rate\nfor i to n\n  v = Get value at sample number: 1, i\n'
                      '  appendInfoLine: fixed$(v, 17)\nendfor\n', encoding="utf-8")
    done = subprocess.run([praat, "--run", "--no-pref-files", "--no-plugins", str(script)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("16384 16000"))
    shown = np.array(lines[start + 1:start + 1 + 16384], dtype=np.float64)
    expected = io.upsampled_values(io.read_sound(folder / "s000001_conv1.Sound"), 16384)
    assert np.abs(shown - expected).max() <= 1e-6 * np.abs(expected).max()


def test_the_explorer_and_stats_reader_read_a_parquet_table_as_the_joined_csv(two_routes, tmp_path, monkeypatch):
    from ganphon.report.explore import _acoustic_rows
    from ganphon.stats.tables import read_acoustics

    csv_folder, parquet_folder = tmp_path / "csv", tmp_path / "parquet"
    for folder in (csv_folder, parquet_folder):
        folder.mkdir()
        for name in ("manifest.csv", "run.json"):
            (folder / name).write_bytes((two_routes["sound"] / name).read_bytes())
    table = acoustics.measure(two_routes["sound"], workers=1, progress=False, join=False)
    manifest = acoustics.read_manifest(two_routes["sound"] / "manifest.csv")
    io.write_table(acoustics.join_manifest(table, manifest), csv_folder / "acoustics.csv")
    io.write_table(table, parquet_folder / "acoustics.parquet")
    assert _acoustic_rows(parquet_folder) == _acoustic_rows(csv_folder)
    pd.testing.assert_frame_equal(read_acoustics(parquet_folder), read_acoustics(csv_folder), check_like=False)
    # the rows of some measures (what stats reads): the Parquet file filtered as it is read, the CSV read
    # whole and its rows selected by pandas; the measures the file holds are still named
    asked = ["f0", "duration", "no_such_measure"]
    whole = read_acoustics(csv_folder)
    part = read_acoustics(parquet_folder, measures=asked)
    assert 0 < len(part) < len(whole)
    pd.testing.assert_frame_equal(part, whole[whole["measure"].isin(asked)].reset_index(drop=True))
    assert part.attrs["measures_available"] == sorted(whole["measure"].unique())
    # what stats reads: those rows without the columns no model uses (the table's notes, the manifest's
    # descriptions), the rest as the CSV has it
    from ganphon.stats.run import UNUSED_COLUMNS

    lean = read_acoustics(parquet_folder, measures=asked, skip=UNUSED_COLUMNS)
    assert {"note", "checkpoint_sha256", "sr"} <= set(whole.columns) and whole["note"].notna().any()
    assert not set(UNUSED_COLUMNS) & set(lean.columns)
    pd.testing.assert_frame_equal(lean, whole[whole["measure"].isin(asked)].drop(
        columns=[c for c in UNUSED_COLUMNS if c in whole.columns]).reset_index(drop=True))
    lean_csv = read_acoustics(csv_folder, skip=UNUSED_COLUMNS)  # the same columns, whatever the format
    pd.testing.assert_frame_equal(lean_csv[lean_csv["measure"].isin(asked)].reset_index(drop=True), lean)
    # a Parquet table without a measure column is named as such when measures are asked for, as when not
    io.write_table(table.drop(columns="measure"), parquet_folder / "acoustics.parquet")
    for measures in (None, asked):
        with pytest.raises(GanphonError, match=r"parquet: not a long acoustic table \(no column\(s\) measure"):
            read_acoustics(parquet_folder, measures=measures)


def test_export_wavs_writes_the_wavs_an_export_with_wav_layers_writes(two_routes, tmp_path):
    import shutil

    from ganphon.cli import main

    folder = tmp_path / "copy"
    shutil.copytree(two_routes["sound"], folder)
    assert main(["export-wavs", str(folder), "--quiet"]) == 0
    layer_wavs = sorted(p.name for p in two_routes["wav"].glob("*.wav") if "_output" not in p.name)
    assert len(layer_wavs) == 4 * len(LAYERS)
    for name in layer_wavs:
        assert (folder / name).read_bytes() == (two_routes["wav"] / name).read_bytes(), name


def test_a_layer_sound_that_is_not_its_samples_series_is_refused(two_routes, tmp_path):
    """A Sound from another model, another slice length or edited by hand (written at 97 Hz where the manifest
    says 250) had been measured, plotted and correlated on its own time base, silently."""
    import shutil

    from ganphon.cli import main
    from ganphon.series import compare_series

    folder = tmp_path / "probe"
    shutil.copytree(two_routes["sound"], folder)
    sound = folder / layout.layer_sound("s000001", "conv2")
    # 250 Hz × 1.024 s = 256 samples; the replacement: 100 samples at 97 Hz, and 256 at 250 Hz but 2 channels
    io.write_sound(sound, np.zeros(100, dtype=np.float32), 97.0)
    wrong = f"{sound}: spans 1.03093 s, its sample's output 1.024 s"
    with pytest.raises(GanphonError, match=f"^{wrong}: not this sample's layer series"):
        io.read_layer_wav(folder / layout.layer_wav("s000001", "conv2"))
    times = np.arange(0, 1.024, 0.004)
    pd.DataFrame({"time": times, "v": np.sin(times)}).to_csv(tmp_path / "ext.csv", index=False)
    with pytest.raises(GanphonError, match=f"^{wrong}; is sampled at 97 Hz, the manifest says 250 Hz; holds 100 "
                                           "samples, the manifest says 256: not this"):
        compare_series(folder, tmp_path / "ext.csv", layers=["conv2"], out=tmp_path / "cs")
    # measure flags the file's rows, as for a Sound it cannot read, and measures the rest
    table = acoustics.measure(folder, measures=["duration", "intensity"], workers=1, progress=False)
    bad = table["file"] == layout.layer_wav("s000001", "conv2")
    assert bad.any() and table.loc[bad & (table["measure"] == "intensity"), "value"].isna().all()
    assert table.loc[bad, "note"].str.contains("is sampled at 97 Hz, the manifest says 250 Hz").all()
    original = acoustics.measure(two_routes["sound"], measures=["duration", "intensity"], workers=1, progress=False)
    pd.testing.assert_frame_equal(table[~bad].reset_index(drop=True),
                                  original[original["file"] != layout.layer_wav("s000001", "conv2")]
                                  .reset_index(drop=True))
    for argv in (["export-wavs", str(folder)], ["plot", str(folder), "--sample", "s000001"],
                 ["explore", str(folder), "--quiet"]):  # explore: the layer's listening copy
        assert main(argv) == 2, argv
    # a stereo Sound of the right length and rate
    stereo = parselmouth.Sound(np.zeros((2, 256)), sampling_frequency=250.0)
    stereo.save_as_binary_file(str(sound))
    with pytest.raises(GanphonError, match="has 2 channels, a layer series one"):
        io.read_layer_wav(folder / layout.layer_wav("s000001", "conv2"))
    # one NaN sample (the explorer had failed writing its page: a JSON error, no file named)
    values = np.zeros(256)
    values[7] = np.nan
    parselmouth.Sound(values, sampling_frequency=250.0).save_as_binary_file(str(sound))
    for argv in (["explore", str(folder), "--quiet"], ["plot", str(folder), "--sample", "s000001"]):
        assert main(argv) == 2, argv
    with pytest.raises(GanphonError, match=f"^{sound}: holds NaN or infinite samples$"):
        io.read_layer_wav(folder / layout.layer_wav("s000001", "conv2"))
    table = acoustics.measure(folder, measures=["duration", "intensity"], workers=1, progress=False)
    bad = table["file"] == layout.layer_wav("s000001", "conv2")
    assert table.loc[bad, "note"].str.contains("holds NaN or infinite samples").all()


def test_an_output_that_is_not_its_samples_output_is_refused(two_routes, tmp_path, capsys):
    """An output WAV cut short or resampled (its manifest row says slice_len samples at sr Hz) had been
    annotated and measured on its own time base, and correlate-input blamed --pitch-floor for a cut file."""
    import shutil

    from ganphon.cli import main
    from ganphon.errors import GanphonError
    from ganphon.series import correlate_input

    folder = tmp_path / "probe"
    shutil.copytree(two_routes["sound"], folder)
    manifest = io.read_manifest(folder)
    row = manifest[(manifest["sample_id"] == "s000001") & (manifest["layer"] == layout.OUTPUT_LAYER)].iloc[0]
    wav = folder / row["file"]
    x, sr = io.read_wav(wav)
    assert (sr, len(x)) == (int(row["sr"]), int(row["slice_len"]))
    half = len(x) // 2
    io.write_wav(wav, x[:half], sr)
    cut = f"{wav}: holds {half} samples, the manifest says {len(x)}: not this sample's output"
    # measure: the file's rows carry the reason and no value; the other files' rows are the original's
    table = acoustics.measure(folder, measures=["duration", "intensity"], workers=1, progress=False)
    bad = table["file"] == wav.name
    assert bad.any() and table.loc[bad & (table["measure"] == "intensity"), "value"].isna().all()
    assert table.loc[bad, "note"].str.contains(f"holds {half} samples, the manifest says {len(x)}").all()
    original = acoustics.measure(two_routes["sound"], measures=["duration", "intensity"], workers=1,
                                 progress=False)
    pd.testing.assert_frame_equal(table[~bad].reset_index(drop=True),
                                  original[original["file"] != wav.name].reset_index(drop=True))
    # annotate and correlate-input: an error naming the file; no TextGrid rewritten
    grids = {p.name: p.read_bytes() for p in folder.glob("*.TextGrid")}
    with pytest.raises(GanphonError, match=f"^{cut}"):
        annotate_folder(folder, workers=1, progress=False)
    assert main(["annotate", str(folder), "--workers", "1", "--quiet"]) == 2
    assert {p.name: p.read_bytes() for p in folder.glob("*.TextGrid")} == grids
    with pytest.raises(GanphonError, match=f"^{cut}"):
        correlate_input(folder, layers=["conv2"], n_boot=0)
    # the commands that upsample its layers to its length name the output, not a layer (they had named
    # the first layer Sound as not spanning its output)
    capsys.readouterr()
    for argv in (["explore", str(folder), "--quiet"], ["plot", str(folder), "--sample", "s000001"],
                 ["annotate", str(folder), "--layers", "conv1", "--workers", "1", "--quiet"]):
        assert main(argv) == 2, argv
        assert f"error: {cut}" in capsys.readouterr().err, argv
    # the same samples at another rate
    io.write_wav(wav, x, sr // 2)
    with pytest.raises(GanphonError, match=f"is sampled at {sr // 2} Hz, the manifest says {sr} Hz: not this "
                                           "sample's output"):
        annotate_folder(folder, workers=1, progress=False)
