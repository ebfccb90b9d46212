"""ganphon explore: the offline sweep explorer page, driven in Debian's headless chromium.

Two folders: a real sweep of a tiny ciwGAN (exported, annotated and measured by
run_sweep), and a folder of synthetic signals with known parts (silence, a
4–7 kHz noise band, a vowel) whose drawing is checked against those parts.
"""

import base64
import json
import os
import re

import numpy as np
import pandas as pd
import parselmouth
import pytest
import scipy.io.wavfile

from chromium import Browser
from conftest import LAYER_SIZES, SLICE, SR, T, envelope, make_exported_folder, require_chromium
from ganphon import io
from ganphon.cli import main

RIGHT, DOWN = "\ue014", "\ue015"
LAYERS = ["dense", "conv1", "conv2", "conv3", "conv4"]


@pytest.fixture(scope="module")
def sweep(tiny_ciwgan, tmp_path_factory):
    from ganphon.sweep import run_sweep

    out = tmp_path_factory.mktemp("explore") / "z3"
    spec = {"kind": "dimension", "var": "z3", "from": -10, "to": 10, "step": 10, "bases": 2, "seed": 4}
    run_sweep(spec, tiny_ciwgan, out, workers=1, progress=False)
    assert main(["explore", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Three words of known parts in the export layout, and their explorer page."""
    folder = tmp_path_factory.mktemp("explore_synthetic") / "z11"
    truth = make_exported_folder(folder, n_samples=3)
    assert main(["explore", str(folder), "--quiet"]) == 0
    return folder, truth


@pytest.fixture(scope="module")
def browser():
    chromium, driver = require_chromium()
    b = Browser(chromium, driver)
    yield b
    b.close()


def _data(page) -> dict:
    text = page.read_text(encoding="utf-8")
    return json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1))


def _series(encoded):
    """Decode [lo, hi, b64 of (min, max) per column] to (min, max) arrays and the quantisation step."""
    lo, hi, b64 = encoded
    q = np.frombuffer(base64.b64decode(b64), dtype=np.uint8).reshape(-1, 2).astype(float)
    values = lo + q / 255 * (hi - lo)
    return values[:, 0], values[:, 1], (hi - lo) / 255


def test_page_is_self_contained_and_every_file_it_names_exists(sweep):
    page = sweep / "explore.html"
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", text)  # no CDN, no server
    assert not list(sweep.rglob("*.png"))  # the page draws; no picture per sample
    data = _data(page)
    assert [s["id"] for s in data["samples"]] == [f"b{b:03d}_v{v:03d}" for b in range(2) for v in range(3)]
    assert [s["value"] for s in data["samples"][:3]] == [-10.0, 0.0, 10.0]
    for s in data["samples"]:
        assert set(s["audio"]) == {"output", *LAYERS} and set(s["draw"]["layers"]) == set(LAYERS)
        assert s["audio"]["output"] == f"{s['id']}_output.wav"  # the measured float32 WAV itself
        sr, x = scipy.io.wavfile.read(sweep / s["audio"]["output"])
        assert sr == 16000 and x.dtype == np.float32 and len(x) == 16384
        for layer in LAYERS:  # compact copies: 16-bit FLAC at 4 kHz (every layer's native rate is at most that)
            assert s["audio"][layer] == f"listen/{s['id']}_{layer}.flac"
            copy = parselmouth.Sound(str(sweep / s["audio"][layer]))
            assert copy.sampling_frequency == 4000 and copy.n_samples == 4096
            assert np.allclose(copy.values[0] * 32768, np.round(copy.values[0] * 32768))  # 16-bit steps
    assert not list((sweep / "listen").glob("*.wav"))  # no 16 kHz WAV copies
    # the rows shown are acoustics.csv's per-interval rows of that sample, independently counted
    table = pd.read_csv(sweep / "acoustics.csv", dtype={"sample_id": str}, low_memory=False)
    one = table[(table["sample_id"] == "b001_v002") & table["point"].isna()]
    expected = one.groupby(["layer", "label", "start", "end"]).ngroups
    shown = next(s for s in data["samples"] if s["id"] == "b001_v002")["rows"]
    assert len(shown) == expected
    duration = one[one["measure"] == "duration"].set_index(["layer", "start"])["value"]
    k = data["measures"].index("duration")
    for layer, label, start, end, *values in shown:
        assert values[k] == pytest.approx(duration[(layer, start)])


def test_drawing_data_follow_the_known_signals(synthetic):
    """Waveform, layer and spectrogram data of the page against the parts the signals were made of."""
    from conftest import word

    folder, truth = synthetic
    data = _data(folder / "explore.html")
    assert data["duration"] == pytest.approx(T) and data["sr"] == SR
    for i, s in enumerate(data["samples"]):
        x, _ = word(100.0 + 20.0 * i, truth[s["id"]]["formants"], seed=i)  # the signal as made
        parts = truth[s["id"]]["intervals"]
        assert [iv[2] for iv in s["draw"]["iv"]] == [label for label, _, _ in parts[:-1]]
        assert [iv[0] for iv in s["draw"]["iv"]] == pytest.approx([start for _, start, _ in parts[:-1]], abs=1e-6)
        # waveform: per column the min and max of the samples in it, within one quantisation step
        low, high, step = _series(s["draw"]["wave"])
        n = len(low)
        assert n == 600
        centres = ((np.arange(n) + 0.5) / n * SLICE).astype(int)
        assert np.all(low - step <= x[centres]) and np.all(x[centres] <= high + step)
        assert high.max() == pytest.approx(x.max(), abs=step) and low.min() == pytest.approx(x.min(), abs=step)
        t = (np.arange(n) + 0.5) / n * T

        def inside(label, margin=0.01):
            return np.any([(t > a + margin) & (t < b - margin) for lab, a, b in parts if lab == label], axis=0)

        assert np.all(high[inside("sil")] - low[inside("sil")] <= 2 * step)  # silence is flat
        assert np.all(high[inside("fric")] - low[inside("fric")] > 0.1)
        # a layer: its native series (what conftest.envelope made) at the column times
        for layer in ("conv1", "conv2"):
            native = envelope(x, LAYER_SIZES[layer])
            lo, hi, lstep = _series(s["draw"]["layers"][layer])
            times = (np.arange(len(lo)) + 0.5) / len(lo) * T
            expected = np.interp(times, (np.arange(len(native)) + 0.5) / len(native) * T, native)
            assert np.corrcoef((lo + hi) / 2, expected)[0, 1] > 0.98
            assert hi.max() <= native.max() * 1.05 + lstep and lo.min() >= native.min() * 0.95 - lstep
        # spectrogram (bins × columns, 0 … 255 = 70 dB): silence at the floor, the noise in 4–7 kHz,
        # the vowel's energy low (F1 below 800 Hz)
        bins = s["draw"]["bins"]
        spec = np.frombuffer(base64.b64decode(s["draw"]["spec"][1]), dtype=np.uint8).reshape(bins, -1).astype(float)
        freqs = np.linspace(0, SR / 2, bins)
        tc = (np.arange(spec.shape[1]) + 0.5) / spec.shape[1] * T

        def cols(label, margin=0.012):
            return np.any([(tc > a + margin) & (tc < b - margin) for lab, a, b in parts if lab == label], axis=0)

        assert spec[:, cols("sil")].max() == 0
        fric = spec[:, cols("fric")]
        assert fric[(freqs > 4500) & (freqs < 6500)].mean() > fric[freqs < 2000].mean() + 100
        vowel = spec[:, cols("voi")].mean(axis=1)
        assert freqs[np.argmax(vowel)] < 1000


def test_a_silent_sample_draws_flat_and_white():
    from ganphon.report.explore import display_data

    silent = np.zeros(SLICE, dtype=np.float32)
    d = display_data({"output": (silent, SR), "conv1": (silent + 0.5, SR)}, [])
    assert d["spec"][0] is None and set(base64.b64decode(d["spec"][1])) == {0}  # no black spectrogram
    low, high, _ = _series(d["wave"])
    assert np.all(low == 0) and np.all(high == 0)
    low, high, _ = _series(d["layers"]["conv1"])
    assert np.all(low == 0.5) and np.all(high == 0.5)


def _linear(values, size):
    """Hand-written linear interpolation between sample centres, edges held (the export's time base)."""
    n = len(values)
    at = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
    return np.interp(at, np.arange(n), values)


def test_listening_copies_are_16_bit_peak_normalised_and_written_once(sweep):
    from ganphon.report.explore import build_explorer

    for layer in ("conv2", "conv4"):  # conv2 native at 250 Hz: interpolated to 4 kHz; conv4 native at 4 kHz
        native = parselmouth.read(str(sweep / f"b000_v001_{layer}.Sound"))  # Praat's reader, not ganphon's
        values = native.values[0]
        expected = _linear(values, 4096) if native.n_samples != 4096 else values
        centred = expected - expected.mean()  # a layer's copy has its mean removed, then peak −1 dBFS
        expected_pcm = np.round(centred * 0.89 / np.abs(centred).max() * 32767)
        copy = parselmouth.Sound(str(sweep / "listen" / f"b000_v001_{layer}.flac"))
        pcm = copy.values[0] * 32768
        assert copy.sampling_frequency == 4000 and np.abs(pcm).max() == round(0.89 * 32767)
        assert np.abs(pcm - expected_pcm).max() <= 1
    assert native.sampling_frequency == 4000  # conv4: the copy holds the native samples themselves
    # a second page build keeps the copies; a re-exported layer gets a new copy
    copies = sorted((sweep / "listen").iterdir())
    assert len(copies) == 6 * 5  # the outputs are played from their measured WAVs
    before = {p.name: p.stat().st_mtime_ns for p in copies}
    source = sweep / "b000_v001_conv2.Sound"
    later = max(before.values()) + 10**9
    os.utime(source, ns=(later, later))
    build_explorer(sweep, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in (sweep / "listen").iterdir()}
    assert [n for n in after if after[n] != before[n]] == ["b000_v001_conv2.flac"]
    # a source put back from elsewhere with an older time (cp -p): another sample's conv2 Sound, dated before
    # every copy, takes the place of b000_v001's; its copy is remade from it, not kept for being newer
    other = sweep / "b001_v002_conv2.Sound"
    saved = source.read_bytes()
    try:
        source.write_bytes(other.read_bytes())
        earlier = min(before.values()) - 10**9
        os.utime(source, ns=(earlier, earlier))
        build_explorer(sweep, progress=False)
        remade = parselmouth.Sound(str(sweep / "listen" / "b000_v001_conv2.flac")).values[0]
        kept = parselmouth.Sound(str(sweep / "listen" / "b001_v002_conv2.flac")).values[0]
        assert np.array_equal(remade, kept)  # the same samples make the same copy
    finally:
        source.write_bytes(saved)
        build_explorer(sweep, progress=False)


# Pixels are read from a copy made for reading (chromium warns when a drawn canvas is read back often).
PIXELS = ("const c = document.getElementById('stack'), copy = document.createElement('canvas');"
          "copy.width = c.width; copy.height = c.height;"
          "const cc = copy.getContext('2d', {willReadFrequently: true}); cc.drawImage(c, 0, 0);")


def _canvas_state(browser):
    return browser.js(
        PIXELS + "const px = cc.getImageData(0, 0, c.width, c.height).data;"
        "let sum = 0, dark = 0; for (let i = 0; i < px.length; i += 4) { sum = (sum * 31 + px[i]) % 1000000007;"
        " if (px[i] < 100) dark++; }"
        "return [c.dataset.sample, document.getElementById('audio-output').getAttribute('src'),"
        " document.getElementById('audio-conv3').getAttribute('src'), document.getElementById('value').textContent,"
        " sum, dark, document.getElementById('rows-body').children.length]")


def test_explorer_in_headless_chromium(sweep, browser):
    browser.open(sweep / "explore.html")
    sample, out, conv3, value, first, dark, rows = _canvas_state(browser)
    assert (sample, out, conv3, value) == ("b000_v000", "b000_v000_output.wav", "listen/b000_v000_conv3.flac",
                                           "-10")
    assert dark > 2000 and rows > 0  # drawn: the waveform and spectrogram put thousands of dark pixels
    browser.key("body", RIGHT)  # arrow key: next value
    state = _canvas_state(browser)
    assert state[:4] == ["b000_v001", "b000_v001_output.wav", "listen/b000_v001_conv3.flac", "0"]
    assert state[4] != first  # the drawing changed with the sample
    browser.js("const s = document.getElementById('slider'); s.value = '2'; s.dispatchEvent(new Event('input'));")
    state = _canvas_state(browser)
    assert state[:4] == ["b000_v002", "b000_v002_output.wav", "listen/b000_v002_conv3.flac", "10"]
    browser.key("body", DOWN)  # next base, same value
    assert _canvas_state(browser)[:2] == ["b001_v002", "b001_v002_output.wav"]
    durations = browser.js_async(  # every player loads: the float32 output WAV and each layer's FLAC
        "const done = arguments[arguments.length - 1]; const all = Array.from(document.querySelectorAll('audio'));"
        "Promise.all(all.map(a => new Promise(r => { a.preload = 'metadata'; a.onloadedmetadata = () => r(a.duration);"
        "a.onerror = () => r('error ' + a.error.code); a.load(); }))).then(done);")
    assert durations == [pytest.approx(16384 / 16000)] * 6
    assert browser.console() == []  # no errors, no failed loads


def test_drawing_in_chromium_shows_the_known_parts(synthetic, browser):
    """Pixels of the drawn spectrogram: dark where the 4–7 kHz noise is, white in the silence."""
    folder, truth = synthetic
    browser.open(folder / "explore.html")
    geometry = json.loads(browser.js("return document.getElementById('stack').dataset.panels"))
    spec = next(p for p in geometry["panels"] if p["name"] == "spectrogram")

    def grey(t, f):
        x = geometry["left"] + t / geometry["duration"] * geometry["width"]
        y = spec["y"] + spec["h"] * (1 - f / (geometry["sr"] / 2))
        return browser.js(PIXELS + "const r = window.devicePixelRatio || 1;"
                          "return cc.getImageData(Math.round(arguments[0] * r),"
                          " Math.round(arguments[1] * r), 1, 1).data[0]", x, y)

    parts = truth["s000000"]["intervals"]
    (_, f0, f1), (_, s0, s1) = parts[1], parts[0]
    assert parts[1][0] == "fric" and parts[0][0] == "sil"
    assert grey((f0 + f1) / 2, 5500) < 120  # noise band: dark
    assert grey((f0 + f1) / 2, 1000) > grey((f0 + f1) / 2, 5500) + 60
    assert grey((s0 + s1) / 2, 5500) > 250  # silence: white
    assert browser.console() == []


def test_explore_errors_are_one_line(tmp_path, capsys):
    assert main(["explore", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["explore", str(tmp_path)]) == 2
    assert "holds no manifest.csv" in capsys.readouterr().err


def test_a_label_holding_html_is_shown_as_text_and_cannot_end_the_page_data(sweep, browser, tmp_path):
    """A label that reads as markup inside a script element (``<!--<script>`` puts the HTML parser in a state
    where ``</script>`` no longer ends the data, and the page's code would never run): the page still runs,
    and the label is shown as the text it is."""
    import shutil

    folder = tmp_path / "z3"
    shutil.copytree(sweep, folder)
    label = "<!--<script>a</script>"
    table = pd.read_csv(folder / "acoustics.csv", dtype=str, keep_default_na=False)
    table["label"] = label
    table.to_csv(folder / "acoustics.csv", index=False)
    assert main(["explore", str(folder), "--quiet"]) == 0
    page = (folder / "explore.html").read_text(encoding="utf-8")
    assert page.count("<script") == 2 and page.count("</script>") == 2  # the data's and the code's, nothing more
    browser.open(folder / "explore.html")
    state = _canvas_state(browser)
    assert state[0] == "b000_v000" and state[6] > 0  # the code ran: the first sample drawn, its rows listed
    cells = browser.js("return Array.from(document.querySelectorAll('#rows-body tr td:nth-child(2)'))"
                       ".map(td => td.textContent)")
    assert cells and set(cells) == {label}


def test_a_named_pipe_in_one_of_the_folders_shown_is_named_not_read(sweep, tmp_path, capsys):
    """``explore`` of a folder of sweeps reads each sub-folder as its own: a named pipe there — a TextGrid, or the
    manifest itself, which had made the sweep silently absent — is one error line naming it, nothing written."""
    import shutil

    from ganphon import layout

    for name in ("b000_v001.TextGrid", layout.MANIFEST):
        parent = tmp_path / name.replace(".", "_")
        for sub in ("a", "b"):
            shutil.copytree(sweep, parent / sub)
        (parent / "b" / "explore.html").unlink()
        (parent / "b" / name).unlink()
        os.mkfifo(parent / "b" / name)
        capsys.readouterr()
        assert main(["explore", str(parent), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"b/{name}: a named pipe" in err, err
        assert not (parent / "b" / "explore.html").exists()


def test_pages_written_elsewhere_leave_the_folder_as_it_was_and_play_its_files(sweep, browser, tmp_path, capsys):
    """``explore DIR --out PAGES``: DIR is only read (byte for byte as it was); the page in PAGES shows the same
    samples and plays only files of PAGES — the layers' listening copies and the outputs as 16-bit FLAC copies, not
    normalised (Praat reads back DIR's samples rounded to 16 bits) — so PAGES moved alone still plays, every player
    loading in chromium; an --out holding anything else is refused in one line with nothing written."""
    def snapshot(folder):
        return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    before = snapshot(sweep)
    pages = tmp_path / "shared" / "pages"
    assert main(["explore", str(sweep), "--out", str(pages), "--quiet"]) == 0
    assert snapshot(sweep) == before
    assert sorted(p.name for p in pages.iterdir()) == ["explore.html", "listen"]
    mine, theirs = _data(pages / "explore.html"), _data(sweep / "explore.html")
    assert [s["id"] for s in mine["samples"]] == [s["id"] for s in theirs["samples"]]
    for ours, own in zip(mine["samples"], theirs["samples"]):
        assert ours["draw"] == own["draw"] and ours["rows"] == own["rows"]
        assert ours["audio"]["output"] == f"listen/{ours['id']}_output.flac"  # in PAGES, not a link to DIR
        _, wave = scipy.io.wavfile.read(sweep / own["audio"]["output"])
        copy = parselmouth.Sound(str(pages / ours["audio"]["output"]))
        assert copy.sampling_frequency == 16000 and copy.values.shape == (1, len(wave))
        np.testing.assert_array_equal(copy.values[0], np.round(np.clip(wave.astype(np.float64), -1, 1) * 32767) / 32768)
        for layer in LAYERS:
            assert ours["audio"][layer] == own["audio"][layer]  # listen/ID_layer.flac, beside the page
            assert (pages / ours["audio"][layer]).read_bytes() == (sweep / own["audio"][layer]).read_bytes()
    browser.open(pages / "explore.html")
    durations = browser.js_async(
        "const done = arguments[arguments.length - 1]; const all = Array.from(document.querySelectorAll('audio'));"
        "Promise.all(all.map(a => new Promise(r => { a.preload = 'metadata'; a.onloadedmetadata = () => r(a.duration);"
        "a.onerror = () => r('error ' + a.error.code); a.load(); }))).then(done);")
    assert durations == [pytest.approx(16384 / 16000)] * 6
    assert browser.console() == []
    moved = tmp_path / "elsewhere" / "pages"  # the page's folder alone, shared or moved: every player still loads
    moved.parent.mkdir()
    pages.rename(moved)
    browser.open(moved / "explore.html")
    assert browser.js_async(
        "const done = arguments[arguments.length - 1]; const all = Array.from(document.querySelectorAll('audio'));"
        "Promise.all(all.map(a => new Promise(r => { a.preload = 'metadata'; a.onloadedmetadata = () => r(a.duration);"
        "a.onerror = () => r('error ' + a.error.code); a.load(); }))).then(done);") == durations
    assert browser.console() == []
    moved.rename(pages)
    # again into the same pages: allowed; into a folder of the user's: refused, nothing written
    assert main(["explore", str(sweep), "--out", str(pages), "--quiet"]) == 0
    theirs_folder = tmp_path / "mine"
    theirs_folder.mkdir()
    (theirs_folder / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["explore", str(sweep), "--out", str(theirs_folder), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds files 'ganphon explore' does not write (notes.txt)" in err[0], err
    assert sorted(p.name for p in theirs_folder.iterdir()) == ["notes.txt"]
    assert snapshot(sweep) == before
