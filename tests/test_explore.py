"""ganphon explore: the offline sweep explorer page, driven in Debian's headless chromium."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import scipy.io.wavfile

from chromium import Browser
from conftest import require_chromium
from ganphon.cli import main

RIGHT, DOWN = "\ue014", "\ue015"


@pytest.fixture(scope="module")
def sweep(tiny_ciwgan, tmp_path_factory):
    from ganphon.sweep import run_sweep

    out = tmp_path_factory.mktemp("explore") / "z3"
    spec = {"kind": "dimension", "var": "z3", "from": -10, "to": 10, "step": 10, "bases": 2, "seed": 4}
    run_sweep(spec, tiny_ciwgan, out, workers=1, progress=False)
    assert main(["explore", str(out), "--workers", "1", "--quiet"]) == 0
    return out


def _data(page) -> dict:
    text = page.read_text(encoding="utf-8")
    return json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1))


def test_page_is_self_contained_and_every_file_it_names_exists(sweep):
    page = sweep / "explore.html"
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", text)  # no CDN, no server
    data = _data(page)
    assert [s["id"] for s in data["samples"]] == [f"b{b:03d}_v{v:03d}" for b in range(2) for v in range(3)]
    assert [s["value"] for s in data["samples"][:3]] == [-10.0, 0.0, 10.0]
    for s in data["samples"]:
        assert (sweep / s["png"]).stat().st_size > 5000
        assert set(s["audio"]) == {"output", "dense", "conv1", "conv2", "conv3", "conv4"}
        for path in s["audio"].values():
            sr, pcm = scipy.io.wavfile.read(sweep / path)
            assert sr == 16000 and pcm.dtype == np.int16 and len(pcm) == 16384
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


def test_listening_copy_is_16_bit_and_peak_normalised(sweep):
    _, x = scipy.io.wavfile.read(sweep / "b000_v001_output.wav")
    _, pcm = scipy.io.wavfile.read(sweep / "listen" / "b000_v001_output.wav")
    assert np.abs(pcm).max() == round(0.89 * 32767)
    expected = np.round(x.astype(float) * 0.89 / np.abs(x).max() * 32767)
    assert np.abs(pcm - expected).max() <= 1
    _, layer = scipy.io.wavfile.read(sweep / "b000_v001_conv2.wav")
    _, lpcm = scipy.io.wavfile.read(sweep / "listen" / "b000_v001_conv2.wav")
    centred = layer.astype(float) - layer.mean()  # a layer's copy has its mean removed
    assert np.corrcoef(lpcm, centred)[0, 1] > 0.9999


def test_explorer_in_headless_chromium(sweep):
    chromium, driver = require_chromium()
    browser = Browser(chromium, driver)
    try:
        browser.open(sweep / "explore.html")
        state = "return [document.getElementById('stack').getAttribute('src'), " \
                "document.getElementById('audio-output').getAttribute('src'), " \
                "document.getElementById('audio-conv3').getAttribute('src'), " \
                "document.getElementById('value').textContent, document.getElementById('stack').naturalWidth, " \
                "document.getElementById('rows-body').children.length]"
        png, out, conv3, value, width, rows = browser.js(state)
        assert (png, out, conv3, value) == ("figures/explore/b000_v000.png", "listen/b000_v000_output.wav",
                                            "listen/b000_v000_conv3.wav", "-10")
        assert width > 300 and rows > 0
        browser.key("body", RIGHT)  # arrow key: next value
        assert browser.js(state)[:4] == ["figures/explore/b000_v001.png", "listen/b000_v001_output.wav",
                                         "listen/b000_v001_conv3.wav", "0"]
        browser.js("const s = document.getElementById('slider'); s.value = '2';"
                   "s.dispatchEvent(new Event('input'));")
        assert browser.js(state)[:4] == ["figures/explore/b000_v002.png", "listen/b000_v002_output.wav",
                                         "listen/b000_v002_conv3.wav", "10"]
        browser.key("body", DOWN)  # next base, same value
        assert browser.js(state)[:2] == ["figures/explore/b001_v002.png", "listen/b001_v002_output.wav"]
        loaded = browser.js("const i = document.getElementById('stack'); return i.complete && i.naturalWidth")
        assert loaded > 300
        duration = browser.js_async(
            "const done = arguments[arguments.length - 1]; const a = document.getElementById('audio-conv1');"
            "a.preload = 'metadata'; a.onloadedmetadata = () => done(a.duration);"
            "a.onerror = () => done('error ' + a.error.code); a.load();")
        assert duration == pytest.approx(16384 / 16000)
        assert browser.console() == []  # no errors, no failed loads
    finally:
        browser.close()


def test_explore_errors_are_one_line(tmp_path, capsys):
    assert main(["explore", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["explore", str(tmp_path)]) == 2
    assert "holds no manifest.csv" in capsys.readouterr().err
