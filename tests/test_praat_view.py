"""The Praat plugin's View sample, View sweep and Measure folder, run by Debian's praat
(and its GUI under Xvfb), on a synthetic exported folder whose pitch is known."""

import os
import shutil
import subprocess
import time

import numpy as np
import parselmouth
import pytest

from ganphon import layout
from ganphon.io import textgrid_from_intervals, write_textgrid, write_wav
from ganphon.praat import scripts_dir

SR = 16000
N = 16384
LAYERS = ("dense", "conv1", "conv2", "conv3", "conv4")
F0_OUTPUT = 140.0   # the output's pitch
F0_LAYER = 310.0    # a layer periodic at another pitch: a mix of channels would not give F0_OUTPUT


def _voice(f0, t):
    return sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two sweep values of base 0: IDs b000_v000 and b000_v001, with TextGrids (tiers condition, auto)."""
    d = tmp_path_factory.mktemp("view")
    t = np.arange(N) / SR
    env = np.clip(np.minimum(t - 0.1, 0.9 - t) / 0.05, 0, 1)
    for v, shift in enumerate((0.0, 20.0)):
        sid = layout.sweep_sample_id(0, v)
        write_wav(d / layout.layer_wav(sid, "output"), 0.5 * env * _voice(F0_OUTPUT + shift, t) / 2.3, SR)
        for i, layer in enumerate(LAYERS):
            y = (i + 1) * 0.2 * env * (1.0 + 0.8 * np.sin(2 * np.pi * F0_LAYER * t)) + 0.01 * v
            write_wav(d / layout.layer_wav(sid, layer), y, SR)
        grid = textgrid_from_intervals({"condition": [(0.0, N / SR, f"z11={-15 + 10 * v}")],
                                        "auto": [(0.0, 0.1, "sil"), (0.1, 0.9, "voi"), (0.9, N / SR, "sil")]},
                                       end=N / SR)
        write_textgrid(d / layout.textgrid(sid), grid)
    return d


def _plugin(name):
    return scripts_dir() / "plugin_ganphon" / name


def _run(praat_exe, tmp_path, body: str) -> str:
    script = tmp_path / "driver.praat"
    script.write_text(body, encoding="utf-8")
    done = subprocess.run([praat_exe, "--run", "--no-pref-files", "--no-plugins", str(script)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _values(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        if line.startswith("=") and " " in line:
            key, value = line[1:].split(" ", 1)
            out[key] = value.strip()
    return out


def _mean_pitch(sound) -> float:
    pitch = sound.to_pitch_ac(None, 75.0, 15, False, 0.03, 0.45, 0.01, 0.35, 0.14, 600.0)
    return parselmouth.praat.call(pitch, "Get mean", 0, 0, "Hertz")


def test_view_sample_output_editor_sound_is_the_output_alone(praat_exe, folder, tmp_path):
    """The Sound shown with the TextGrid in the first editor is the output file, mono, so its
    pitch is the output's (140 Hz), not the mix of output and layers (the old 6-channel view)."""
    body = f"""
runScript: "{_plugin('view_sample.praat')}", "{folder}/", "b000_v000", "dense conv1 conv2 conv3 conv4", 1, 0
selectObject: "Sound b000_v000"
channels = Get number of channels
pitch = To Pitch (ac): 0, 75, 15, "no", 0.03, 0.45, 0.01, 0.35, 0.14, 600
f0 = Get mean: 0, 0, "Hertz"
selectObject: "Sound b000_v000_layers"
layerChannels = Get number of channels
mix = Convert to mono
mixPitch = To Pitch (ac): 0, 75, 15, "no", 0.03, 0.45, 0.01, 0.35, 0.14, 600
mixF0 = Get mean: 0, 0, "Hertz"
selectObject: "Sound conv3"
conv3max = Get maximum: 0, 0, "None"
selectObject: "TextGrid b000_v000_layers"
tier1$ = Get tier name: 1
label$ = Get label of interval: 1, 1
writeInfoLine: "=channels ", channels
appendInfoLine: "=f0 ", fixed$(f0, 6)
appendInfoLine: "=layerChannels ", layerChannels
appendInfoLine: "=mixF0 ", fixed$(mixF0, 6)
appendInfoLine: "=conv3max ", fixed$(conv3max, 9)
appendInfoLine: "=tier1 ", tier1$
appendInfoLine: "=label ", label$
"""
    got = _values(_run(praat_exe, tmp_path, body))
    reference = _mean_pitch(parselmouth.Sound(str(folder / "b000_v000_output.wav")))
    assert int(got["channels"]) == 1 and int(got["layerChannels"]) == len(LAYERS)
    assert float(got["f0"]) == pytest.approx(reference, rel=1e-3)
    assert float(got["f0"]) == pytest.approx(F0_OUTPUT, rel=0.01)
    assert abs(float(got["mixF0"]) - F0_OUTPUT) > 20  # what a view of the mixed channels analysed
    # the layer Sound named conv3 keeps the file's values (scaling only touches the combined view)
    conv3 = parselmouth.Sound(str(folder / "b000_v000_conv3.wav")).values.max()
    assert float(got["conv3max"]) == pytest.approx(conv3, rel=1e-6)
    assert got["tier1"] == "channels" and got["label"] == "1: dense | 2: conv1 | 3: conv2 | 4: conv3 | 5: conv4"


def test_view_sample_missing_sample_and_folder_are_one_clear_line(praat_exe, folder, tmp_path):
    script = tmp_path / "bad.praat"
    for args, message in ((f'"{folder}", "b009_v000"', "No sample b009_v000 in"),
                          (f'"{folder}/nope", "b000_v000"', "No such folder:")):
        script.write_text(f'runScript: "{_plugin("view_sample.praat")}", {args}, "conv1", 1, 0\n')
        done = subprocess.run([praat_exe, "--run", "--no-pref-files", str(script)], capture_output=True, text=True)
        assert done.returncode != 0 and message in done.stderr


def test_view_sweep_channels_are_the_values_in_order(praat_exe, folder, tmp_path):
    body = f"""
runScript: "{_plugin('view_sweep.praat')}", "{folder}", 0, "output conv1", 0, 0
selectObject: "Sound b000_conv1"
n = Get number of channels
a = Get value at sample number: 1, 8000
b = Get value at sample number: 2, 8000
selectObject: "TextGrid b000_conv1"
label$ = Get label of interval: 1, 1
writeInfoLine: "=n ", n
appendInfoLine: "=a ", fixed$(a, 9)
appendInfoLine: "=b ", fixed$(b, 9)
appendInfoLine: "=label ", label$
"""
    got = _values(_run(praat_exe, tmp_path, body))
    v0 = parselmouth.Sound(str(folder / "b000_v000_conv1.wav")).values[0, 7999]
    v1 = parselmouth.Sound(str(folder / "b000_v001_conv1.wav")).values[0, 7999]
    assert int(got["n"]) == 2
    assert float(got["a"]) == pytest.approx(v0, abs=1e-8) and float(got["b"]) == pytest.approx(v1, abs=1e-8)
    assert got["label"] == "1: z11=-15 | 2: z11=-5"


def test_measure_folder_one_table_with_progress_equals_the_script_on_the_whole_folder(praat_exe, folder, tmp_path):
    out = tmp_path / "table.tsv"
    body = f"""
runScript: "{_plugin('measure_folder.praat')}", "{folder}", "all", "wav", "*_output", "auto", 5, "{out}", 1
appendInfoLine: "=rows ", do("Get number of rows")
"""
    text = _run(praat_exe, tmp_path, body)
    assert "measuring 2 files" in text and "2/2  b000_v001_output.wav" in text
    from ganphon.praat import read_table, run_script

    whole = run_script("measure_all", folder, engine="praat", name_pattern="*_output", number_of_points=5)
    mine = read_table(out)
    assert int(_values(text)["rows"]) == len(mine) == len(whole)
    assert mine["value"].fillna(-1).tolist() == pytest.approx(whole["value"].fillna(-1).tolist(), rel=1e-9)
    bad = tmp_path / "bad.praat"
    bad.write_text(f'runScript: "{_plugin("measure_folder.praat")}", "{folder}/missing", "all", "wav", "*", "", 5, "", 0\n')
    done = subprocess.run([praat_exe, "--run", "--no-pref-files", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0 and f"No such folder: {folder}/missing" in done.stderr


def require_xvfb() -> str:
    exe = shutil.which("Xvfb")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Xvfb is not on PATH, but CI=true requires the Praat GUI test to run")
        pytest.skip("Xvfb not found (install Debian's xvfb)")
    return exe


def test_view_sample_in_the_praat_gui_editor_pitch_and_grouping(praat_exe, folder, tmp_path):
    """In the real GUI (Xvfb): the output editor's own pitch query gives the output file's pitch,
    and zooming it moves the layers editor too (the two editors are grouped)."""
    xvfb = require_xvfb()
    display = f":{50 + os.getpid() % 400}"
    server = subprocess.Popen([xvfb, display, "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = tmp_path / "gui.txt"
    script = tmp_path / "gui.praat"
    script.write_text(f"""
runScript: "{_plugin('view_sample.praat')}", "{folder}", "b000_v000", "dense conv1 conv2 conv3 conv4", 1, 1
editor: "TextGrid b000_v000"
	Select: 0.15, 0.85
	f0 = Get pitch
	Zoom: 0.2, 0.6
endeditor
editor: "TextGrid b000_v000_layers"
	start = Get start of visible part
	end = Get end of visible part
endeditor
writeFileLine: "{result}", fixed$(f0, 6), " ", fixed$(start, 6), " ", fixed$(end, 6)
""", encoding="utf-8")
    prefs = tmp_path / "prefs"
    prefs.mkdir()
    gui = None
    try:
        time.sleep(1.0)
        env = dict(os.environ, DISPLAY=display)
        gui = subprocess.Popen([praat_exe, f"--pref-dir={prefs}", "--no-plugins", "--new-send", str(script)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not (result.is_file() and result.read_text().endswith("\n")) and time.monotonic() < deadline:
            assert gui.poll() is None, ("Praat's GUI stopped before writing its result (another Praat GUI running on "
                                        "this machine takes over --new-send scripts: close it)")
            time.sleep(0.2)
        f0, start, end = map(float, result.read_text().split())
    finally:
        for proc in (gui, server):
            if proc is not None:
                proc.kill()
                proc.wait()
    sound = parselmouth.Sound(str(folder / "b000_v000_output.wav")).extract_part(0.15, 0.85)
    assert f0 == pytest.approx(_mean_pitch(sound), rel=2e-3)
    assert (start, end) == pytest.approx((0.2, 0.6))
