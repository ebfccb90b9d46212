"""The bundled Praat scripts: same numbers in Praat, in parselmouth and in Python; the plugin.

Tests that need the ``praat`` executable skip when it is absent, and fail
under CI=true (the ``praat_exe`` fixture of conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import parselmouth
import pytest

from conftest import make_exported_folder, noise_band, vowel, write_textgrid_tgt, write_wav_scipy
from ganphon import acoustics, praat
from ganphon.errors import GanphonError

KEY = ["file", "tier", "label", "start", "end", "point", "measure"]
SCRIPTS = ["measure_pitch", "measure_intensity", "measure_formants", "measure_spectrum", "measure_duration",
           "measure_all"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("praat") / "an export ü"
    make_exported_folder(folder, n_samples=2)
    return folder


def keyed(table):
    """Rows indexed by their identity (times rounded as the scripts print them)."""
    table = table.copy()
    for column in ("start", "end"):
        table[column] = table[column].round(6)
    table["point"] = table["point"].astype("Int64")
    return table.set_index(KEY)["value"].sort_index()


def assert_same_numbers(a, b, what, tolerance=0.005):
    """Identical row sets, identical undefined values, median relative difference ≤ tolerance per measure."""
    a, b = keyed(a), keyed(b)
    assert a.index.equals(b.index), f"{what}: row sets differ"
    assert (a.isna() == b.isna()).all(), f"{what}: undefined values differ: " + \
        str(a[a.isna() != b.isna()].head())
    both = a.notna()
    relative = (a[both] - b[both]).abs() / b[both].abs().clip(lower=1e-12)
    medians = relative.groupby(level="measure").median()
    assert (medians <= tolerance).all(), f"{what}: {medians[medians > tolerance].to_dict()}"
    return medians


# --------------------------------------------------------------------------
# One set of settings


def test_form_fields_are_the_settings():
    settings = praat.MeasureSettings().to_fields()
    for name in SCRIPTS:
        form = praat.read_form(praat.script_path(name))
        names = [f.name for f in form]
        assert names[:4] == ["folder", "extension", "name_pattern", "tier"], name
        assert "output_table" in names
        for field in form:
            if field.name in settings:
                assert praat._default_value(field) == pytest.approx(settings[field.name]) \
                    if not isinstance(settings[field.name], str) else \
                    praat._default_value(field) == settings[field.name], (name, field.name)
    all_fields = {f.name for f in praat.read_form(praat.script_path("measure_all"))}
    assert set(settings) <= all_fields


def test_scripts_are_found_and_documented():
    folder = praat.scripts_dir()
    for name in SCRIPTS:
        text = (folder / f"{name}.praat").read_text(encoding="utf-8")
        assert text.startswith(f"# {name}.praat")
        assert "include ganphon_procedures.praat" in text
    assert (folder / "README.md").is_file()
    with pytest.raises(GanphonError, match="no bundled Praat script"):
        praat.script_path("measure_jitter")


# --------------------------------------------------------------------------
# Same numbers


@pytest.mark.parametrize("inputs,preset", [("wav", "default"), ("sound", "paper-ciwgan")])
def test_same_numbers_in_praat_parselmouth_and_python(exported, praat_exe, inputs, preset):
    python = acoustics.measure(exported, inputs=inputs, layer_settings=preset, workers=1, progress=False)
    in_praat = acoustics.measure_with_script(exported, inputs=inputs, layer_settings=preset, engine="praat")
    in_parselmouth = acoustics.measure_with_script(exported, inputs=inputs, layer_settings=preset,
                                                   engine="parselmouth")
    assert len(python) > 1000
    assert_same_numbers(python, in_praat, "python vs praat")
    assert_same_numbers(in_parselmouth, in_praat, "parselmouth script vs praat")
    # manifest columns are joined alike
    assert list(in_praat.columns) == list(python.columns)
    if inputs == "sound":
        # the guards agree: conv1 formants and pitch are undefined everywhere
        conv1 = in_praat[(in_praat["layer"] == "conv1") & in_praat["measure"].isin(["f1", "f0_mean"])]
        assert conv1["value"].isna().all()


def test_names_with_spaces_and_non_ascii_letters(tmp_path, praat_exe):
    folder = tmp_path / "corpus ä ɑ"
    folder.mkdir()
    x = np.concatenate([np.zeros(1600), vowel(0.3, 130.0), noise_band(0.15, 4000, 7000, seed=3), np.zeros(6384)])
    intervals = [("vowel ɑ", 0.1, 0.4), ("s", 0.4, 0.55)]
    write_wav_scipy(folder / "word ɑ.wav", x)
    write_textgrid_tgt(folder / "word ɑ.TextGrid", {"phones": intervals})
    # a layer file finds its TextGrid by its name without the last _suffix
    write_wav_scipy(folder / "word ɑ_conv4.wav", np.abs(x) * 3)
    python = acoustics.measure(folder, tier="phones", workers=1, progress=False)
    in_praat = acoustics.measure_with_script(folder, tier="phones", engine="praat")
    assert_same_numbers(python, in_praat, "non-ASCII folder")
    assert set(in_praat["label"]) == {"vowel ɑ", "s"}
    assert set(in_praat["file"]) == {"word ɑ.wav", "word ɑ_conv4.wav"}


def test_interval_holding_no_sample_of_a_native_layer(tmp_path, praat_exe):
    # a 10 ms interval between two samples of the 15.6 Hz dense series: nothing to extract
    parselmouth.Sound(np.linspace(0.1, 1.0, 16), sampling_frequency=16 / 1.024).save_as_short_text_file(
        str(tmp_path / "s000000_dense.Sound"))
    write_textgrid_tgt(tmp_path / "s000000.TextGrid", {"auto": [("voi", 0.100, 0.110), ("sil", 0.2, 0.9)]})
    python = acoustics.measure(tmp_path, inputs="sound", workers=1, progress=False)
    in_praat = acoustics.measure_with_script(tmp_path, inputs="sound", engine="praat")
    assert_same_numbers(python, in_praat, "dense layer")
    cog = python[python["measure"] == "cog"]
    assert cog["value"].isna().all()
    assert cog["note"].tolist() == ["dense: interval holds 0 samples < 32 needed for spectral moments",
                                    "dense: interval holds 11 samples < 32 needed for spectral moments"]


@pytest.mark.parametrize("name", SCRIPTS[:-1])
def test_each_script_alone_gives_measure_all_numbers(exported, praat_exe, name):
    family = name.split("_", 1)[1]
    alone = praat.run_script(name, exported, engine="praat", tier="auto", name_pattern="s000000_output")
    together = praat.run_script("measure_all", exported, engine="praat", tier="auto",
                                name_pattern="s000000_output")
    assert set(alone["measure"]) == set(praat.MEASURE_NAMES[family])
    assert_same_numbers(alone, together[together["measure"].isin(alone["measure"])], name, tolerance=0)


def test_run_script_errors(exported, tmp_path):
    with pytest.raises(GanphonError, match="no form field"):
        praat.run_script("measure_pitch", exported, pitch_flor=50)
    with pytest.raises(GanphonError, match="not a folder"):
        praat.run_script("measure_pitch", tmp_path / "nowhere")
    with pytest.raises(GanphonError, match="praat: no such file; --praat-path names the Praat executable"):
        praat.run_script("measure_duration", exported, engine="praat", praat_path=tmp_path / "praat")
    (tmp_path / "notes.txt").write_text("x")  # a file that exists and cannot run
    with pytest.raises(GanphonError, match="notes.txt: not an executable file; --praat-path names"):
        praat.run_script("measure_duration", exported, engine="praat", praat_path=tmp_path / "notes.txt")
    with pytest.raises(GanphonError, match=f"{tmp_path}: a folder; --praat-path names"):
        praat.run_script("measure_duration", exported, engine="praat", praat_path=tmp_path)
    with pytest.raises(GanphonError, match="unknown engine"):
        praat.run_script("measure_duration", exported, engine="matlab")
    with pytest.raises(GanphonError, match="not one of"):
        praat.run_script("measure_spectrum", exported, spectrum_window_shape="Blackman")


def test_missing_praat_executable_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GanphonError, match="no Praat executable on PATH"):
        praat.find_praat()


def test_read_table_handles_praat_utf16(tmp_path):
    text = "file\ttier\tlabel\tstart\tend\tpoint\ttime\tmeasure\tvalue\nä.wav\tauto\tNA\t0\t1\t\t\tcog\t\n"
    path = tmp_path / "t.tsv"
    path.write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    table = praat.read_table(path)
    assert table["file"].item() == "ä.wav" and table["label"].item() == "NA"
    assert np.isnan(table["value"].item()) and table["point"].isna().all()


# --------------------------------------------------------------------------
# The plugin


def test_plugin_installs_loads_and_runs(tmp_path, exported, praat_exe):
    prefs = tmp_path / "prefs"
    target = praat.install_plugin(prefs)
    assert target == prefs / "plugin_ganphon"
    names = sorted(p.name for p in target.iterdir())
    assert "setup.praat" in names and "view_sample.praat" in names and "ganphon_procedures.praat" in names
    assert {f"{s}.praat" for s in SCRIPTS} <= set(names)
    # reinstalling replaces the folder and leaves nothing else behind
    praat.install_plugin(prefs)
    assert sorted(p.name for p in prefs.iterdir()) == ["plugin_ganphon"]

    # Praat runs every plugin's setup.praat at start-up, also with --run
    trivial = tmp_path / "hello.praat"
    trivial.write_text('writeInfoLine: "hello"\n', encoding="utf-8")
    done = subprocess.run([praat_exe, f"--pref-dir={prefs}", "--run", str(trivial)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "hello"
    assert "error" not in done.stderr.lower(), done.stderr

    # the installed scripts run from the plugin folder
    table = tmp_path / "all.tsv"
    done = subprocess.run([praat_exe, "--run", "--no-pref-files", str(target / "measure_all.praat"),
                           str(exported), "wav", "s000001_output", "auto", "5", str(table), "manifest",
                           "75", "600", "0.03", "0.45", "0.01", "0.35", "0.14", "100", "yes", "5500", "5",
                           "0.025", "50", "2", "Hanning", "32", "0.0133"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    measured = praat.read_table(table)
    assert set(measured["file"]) == {"s000001_output.wav"} and measured["point"].max() == 5
    done = subprocess.run([praat_exe, "--run", "--no-pref-files", str(target / "view_sample.praat"),
                           str(exported), "s000001", "conv3 conv4 conv9", "yes", "no"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # the output with its TextGrid in one editor, the layers found as channels of a second one
    assert "editor 1: Sound s000001 (the output) with TextGrid s000001" in done.stdout
    assert "channel 1: conv3" in done.stdout and "channel 2: conv4" in done.stdout
    assert "channel 3" not in done.stdout and "no s000001_conv9.wav" in done.stdout


def test_plugin_command_line(tmp_path, capsys):
    from ganphon.cli import main

    prefs = tmp_path / "Praat Prefs"
    assert main(["praat-plugin", "--print-path", "--prefs", str(prefs)]) == 0
    assert capsys.readouterr().out.strip() == str(prefs / "plugin_ganphon")
    assert not prefs.exists()
    assert main(["praat-plugin", "--install", "--prefs", str(prefs)]) == 0
    assert (prefs / "plugin_ganphon" / "setup.praat").is_file()
    blocked = tmp_path / "file"
    blocked.write_text("x")
    capsys.readouterr()
    assert main(["praat-plugin", "--install", "--prefs", str(blocked)]) == 2
    assert capsys.readouterr().err == (f"ganphon: error: {blocked}: cannot create Praat preferences folder (a file "
                                       "where a folder is needed; remove it or move it away)\n")  # not "File exists"
    # a mistyped path is not created as a tree of folders Praat never looks in
    for missing in (tmp_path / "no" / "such" / "prefs", blocked / "prefs"):
        capsys.readouterr()
        assert main(["praat-plugin", "--install", "--prefs", str(missing)]) == 2
        parent = "does not exist" if missing.parent.name == "such" else "is not a folder"
        assert f"{missing}: no such folder, and {missing.parent} {parent}" in capsys.readouterr().err
    assert not (tmp_path / "no").exists() and blocked.read_text() == "x"
    # the standard folder under a home folder that is not one: said so, with the option to give another
    done = subprocess.run([sys.executable, "-m", "ganphon", "praat-plugin", "--install"], capture_output=True,
                          text=True, env={**os.environ, "HOME": str(blocked)}, timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == (
        f"ganphon: error: {blocked}/.praat-dir: Praat's standard preferences folder, but {blocked} is not a folder "
        "(is the home folder right?); give Praat's preferences folder with --prefs"), done.stderr


def test_plugin_update_deletes_only_the_plugins_files(tmp_path, tiny_ciwgan, capsys):
    from ganphon.cli import main

    prefs = tmp_path / "prefs"
    target = praat.install_plugin(prefs)
    # a file an earlier version installed (listed by it) is replaced; a file of the user's stops the update
    with open(target / praat.PLUGIN_FILES, "a", encoding="utf-8") as listed:
        listed.write("dropped_since.praat\n")
    (target / "dropped_since.praat").write_text("# old\n")
    praat.install_plugin(prefs)
    assert not (target / "dropped_since.praat").exists() and (target / "setup.praat").is_file()
    (target / "my_own.praat").write_text("# mine\n")
    capsys.readouterr()
    assert main(["praat-plugin", "--install", "--prefs", str(prefs)]) == 2
    assert "my_own.praat, not the plugin's" in capsys.readouterr().err
    assert (target / "my_own.praat").read_text() == "# mine\n"
    # an exported folder is not Praat's preferences folder: nothing is written into it
    exported = tmp_path / "probe"
    assert main(["probe", "--checkpoint", str(tiny_ciwgan), "--n", "1", "--out", str(exported), "--quiet"]) == 0
    before = sorted(p.name for p in exported.iterdir())
    assert main(["praat-plugin", "--install", "--prefs", str(exported)]) == 2
    assert "is a ganphon export folder" in capsys.readouterr().err
    assert sorted(p.name for p in exported.iterdir()) == before


def test_praat_prefs_dir_per_system(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "win"))
    assert praat.praat_prefs_dir("linux") == tmp_path / ".praat-dir"
    assert praat.praat_prefs_dir("darwin") == tmp_path / "Library" / "Preferences" / "Praat Prefs"
    assert praat.praat_prefs_dir("win32") == tmp_path / "win" / "Praat"
