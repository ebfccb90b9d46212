"""Corpora: loading a folder of WAVs, cutting words from recordings, the synthesiser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import parselmouth
import pytest
import scipy.io.wavfile
import tgt

import ganphon
from ganphon.cli import main
from ganphon.corpus import (
    PHONE_CLASS,
    cut_recordings,
    load_folder,
    phone_class,
    read_textgrid,
    synthesize,
)
from ganphon.corpus.synth import token_design
from ganphon.errors import GanphonError

SR = 16000
SLICE = 16384


def sine(freq, sr, n, amp=0.5):
    return amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)


# ----------------------------------------------------------------------------
# Folder of WAVs


@pytest.fixture
def messy_folder(tmp_path):
    d = tmp_path / "wavs"
    (d / "sub").mkdir(parents=True)
    int16 = np.array([0, 1000, -32768, 32767, -1], dtype=np.int16)
    scipy.io.wavfile.write(d / "a_int16.wav", SR, int16)
    scipy.io.wavfile.write(d / "b_44k.wav", 44100, sine(1000, 44100, 22050).astype(np.float32))
    left = (sine(300, SR, 4000) * 20000).astype(np.int16)
    right = (sine(700, SR, 4000) * 10000).astype(np.int16)
    scipy.io.wavfile.write(d / "sub" / "c_stereo.wav", SR, np.stack([left, right], axis=1))
    ramp = (np.arange(20000) / 40000.0).astype(np.float32)
    scipy.io.wavfile.write(d / "sub" / "d_long.WAV", SR, ramp)
    scipy.io.wavfile.write(d / "e_silent.wav", SR, np.zeros(5000, dtype=np.float32))
    scipy.io.wavfile.write(d / "f_cut.wav", SR, np.ones(3000, dtype=np.int16))
    (d / "f_cut.wav").write_bytes((d / "f_cut.wav").read_bytes()[:1000])  # truncated
    (d / "g_junk.wav").write_bytes(b"not a wave file at all" * 3)
    scipy.io.wavfile.write(d / "h_uint8.wav", SR, np.array([0, 128, 255], dtype=np.uint8))
    scipy.io.wavfile.write(d / "i_int32.wav", SR, np.array([2 ** 30, -(2 ** 31)], dtype=np.int32))
    (d / "notes.txt").write_text("not audio")
    (d / ".hidden.wav").write_bytes(b"junk")  # hidden files are not items
    return d, dict(int16=int16, left=left, right=right, ramp=ramp)


def test_load_folder_fixes_and_counts_every_problem(messy_folder, capsys):
    d, src = messy_folder
    items, report = load_folder(d, progress=False)

    assert report.files == ["a_int16.wav", "b_44k.wav", "e_silent.wav", "h_uint8.wav",
                            "i_int32.wav", "sub/c_stereo.wav", "sub/d_long.WAV"]
    assert items.dtype == np.float32 and items.shape == (7, SLICE)
    assert (report.n_items, report.n_resampled, report.n_mixed, report.n_cut, report.n_skipped) == (7, 1, 1, 1, 2)
    assert report.summary() == "7 items; 1 resampled, 1 stereo mixed down, 1 cut to 1.024 s, 2 skipped"
    assert [f for f, _ in report.skipped] == ["f_cut.wav", "g_junk.wav"]
    assert "truncated" in report.skipped[0][1]
    by_name = dict(zip(report.files, items))

    # int16 full scale is 32768; padded with zeros at the end, not shifted.
    a = by_name["a_int16.wav"]
    np.testing.assert_array_equal(a[:5], src["int16"].astype(np.float64) / 32768)
    assert not a[5:].any()
    np.testing.assert_array_equal(by_name["h_uint8.wav"][:3], [-1.0, 0.0, 127 / 128])
    np.testing.assert_array_equal(by_name["i_int32.wav"][:2], [0.5, -1.0])

    # 44.1 kHz -> 16 kHz: duration kept, the sine still a 1 kHz sine.
    b = by_name["b_44k.wav"]
    assert np.abs(b[8005:]).max() == 0 and np.abs(b[7990:8000]).max() > 0
    t = np.arange(8000) / SR
    np.testing.assert_allclose(b[200:7800], 0.5 * np.sin(2 * np.pi * 1000 * t[200:7800]), atol=5e-3)
    spectrum = np.abs(np.fft.rfft(b[:8000] * np.hanning(8000)))
    assert abs(np.argmax(spectrum) * SR / 8000 - 1000) <= 2

    c = by_name["sub/c_stereo.wav"]
    expected = (src["left"].astype(np.float64) + src["right"]) / 2 / 32768
    np.testing.assert_allclose(c[:4000], expected, atol=1e-7)

    d_long = by_name["sub/d_long.WAV"]
    np.testing.assert_array_equal(d_long, src["ramp"][:SLICE])

    silent = by_name["e_silent.wav"]
    assert np.all(np.isfinite(silent)) and not silent.any()

    err = capsys.readouterr().err
    assert "b_44k.wav: resampled from 44100 Hz to 16000 Hz" in err
    assert "sub/c_stereo.wav: stereo, mixed down to mono" in err
    assert "skipped g_junk.wav: cannot read WAV" in err


def test_load_folder_strict_names_the_bad_file(messy_folder):
    d, _ = messy_folder
    with pytest.raises(GanphonError, match=r"f_cut\.wav.*truncated"):
        load_folder(d, strict=True, progress=False)


def test_load_folder_normalises_without_nan_on_silence(messy_folder):
    d, _ = messy_folder
    items, report = load_folder(d, progress=False, normalize=True)
    peaks = dict(zip(report.files, np.abs(items).max(axis=1)))
    assert peaks["e_silent.wav"] == 0.0
    assert np.all(np.isfinite(items))
    assert peaks["b_44k.wav"] == pytest.approx(1.0)


def test_load_folder_rejects_empty_and_unusable_folders(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(GanphonError, match="no .wav files"):
        load_folder(empty, progress=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.wav").write_bytes(b"RIFF")
    with pytest.raises(GanphonError, match=r"none of the 1 WAV files.*x\.wav"):
        load_folder(bad, progress=False)
    with pytest.raises(GanphonError, match="not a folder"):
        load_folder(tmp_path / "missing", progress=False)


def test_cli_corpus_check(messy_folder, capsys):
    d, _ = messy_folder
    assert main(["corpus", "check", str(d)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "7 items; 1 resampled, 1 stereo mixed down, 1 cut to 1.024 s, 2 skipped"
    assert out[1].startswith("skipped f_cut.wav: file is truncated")
    assert out[2].startswith("skipped g_junk.wav: cannot read WAV")
    assert main(["corpus", "check", str(d), "--strict"]) == 2
    assert "ganphon: error:" in capsys.readouterr().err


# ----------------------------------------------------------------------------
# Cutting words from recordings

REC_SECONDS = 3.0
WORDS = [(0.0, 0.41234, ""), (0.41234, 0.98761, "suit"), (0.98761, 1.200013, ""),
         (1.200013, 1.70006, "dark"), (1.70006, 2.0, ""), (2.0, 2.5, "süß"), (2.5, 3.0, "")]
PHONES = [(0.0, 0.41234, ""), (0.41234, 0.55555, "s"), (0.55555, 0.80003, "u"),
          (0.80003, 0.98761, "t"), (0.98761, 3.0, "")]
POINTS = [(0.6, "H*"), (1.5, "L%")]


def long_textgrid_text():
    """A long-format TextGrid written out by hand (not by tgt)."""
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "",
             "xmin = 0", f"xmax = {REC_SECONDS}", "tiers? <exists>", "size = 3", "item []:"]
    for k, (name, ivs) in enumerate([("words", WORDS), ("phones", PHONES)], start=1):
        lines += [f"    item [{k}]:", '        class = "IntervalTier"', f'        name = "{name}"',
                  "        xmin = 0", f"        xmax = {REC_SECONDS}", f"        intervals: size = {len(ivs)}"]
        for j, (a, b, lab) in enumerate(ivs, start=1):
            lines += [f"        intervals [{j}]:", f"            xmin = {a!r}", f"            xmax = {b!r}",
                      f'            text = "{lab}"']
    lines += ["    item [3]:", '        class = "TextTier"', '        name = "tones"', "        xmin = 0",
              f"        xmax = {REC_SECONDS}", f"        points: size = {len(POINTS)}"]
    for j, (t, mark) in enumerate(POINTS, start=1):
        lines += [f"        points [{j}]:", f"            number = {t!r}", f'            mark = "{mark}"']
    return "\n".join(lines) + "\n"


def short_textgrid_text():
    """The same TextGrid in Praat's short text format."""
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "0", f"{REC_SECONDS}", "<exists>", "3"]
    for name, ivs in [("words", WORDS), ("phones", PHONES)]:
        lines += ['"IntervalTier"', f'"{name}"', "0", f"{REC_SECONDS}", str(len(ivs))]
        for a, b, lab in ivs:
            lines += [repr(a), repr(b), f'"{lab}"']
    lines += ['"TextTier"', '"tones"', "0", f"{REC_SECONDS}", str(len(POINTS))]
    for t, mark in POINTS:
        lines += [repr(t), f'"{mark}"']
    return "\n".join(lines) + "\n"


def make_recordings(root, fmt="long", encoding="utf-8"):
    root.mkdir(parents=True, exist_ok=True)
    # Sample n holds n / 65536 exactly, so every cut sample tells where it came from.
    ramp = (np.arange(int(REC_SECONDS * SR)) / 65536.0).astype(np.float32)
    scipy.io.wavfile.write(root / "rec.wav", SR, ramp)
    text = long_textgrid_text() if fmt == "long" else short_textgrid_text()
    (root / "rec.TextGrid").write_bytes(text.encode(encoding))
    return ramp


@pytest.mark.parametrize("fmt,encoding", [("long", "utf-8"), ("long", "utf-16"), ("short", "utf-16"),
                                          ("short", "utf-8-sig")])
def test_cut_is_sample_exact_with_shifted_tiers(tmp_path, fmt, encoding):
    if encoding == "utf-16":
        assert long_textgrid_text().encode(encoding)[:2] in (b"\xff\xfe", b"\xfe\xff")
    make_recordings(tmp_path / "rec", fmt, encoding)
    df = cut_recordings(tmp_path / "rec", tmp_path / "out", tier="words", progress=False)

    assert list(df["file"]) == ["rec_0002_suit.wav", "rec_0004_dark.wav", "rec_0006_süß.wav"]
    assert list(df["label"]) == ["suit", "dark", "süß"]
    table = pd.read_csv(tmp_path / "out" / "items.csv")
    assert list(table["file"]) == list(df["file"]) and list(table["source"]) == ["rec.wav"] * 3

    for (a, b, label), row in zip([w for w in WORDS if w[2]], df.itertuples()):
        i0, i1 = round(a * SR), round(b * SR)
        rate, x = scipy.io.wavfile.read(tmp_path / "out" / row.file)
        assert rate == SR and x.dtype == np.float32
        np.testing.assert_array_equal(x * 65536.0, np.arange(i0, i1))
        assert (row.start, row.end, row.start_sample, row.end_sample) == (a, b, i0, i1)

        tg = read_textgrid(tmp_path / "out" / row.textgrid)
        assert float(tg.end_time) == (i1 - i0) / SR
        words = tg.get_tier_by_name("words")
        assert [(float(iv.start_time), float(iv.end_time), iv.text) for iv in words.intervals] == [
            (0.0, (i1 - i0) / SR, label)]

    # Inner boundaries move by exactly the item's first sample time.
    tg = read_textgrid(tmp_path / "out" / "rec_0002_suit.TextGrid")
    offset = round(0.41234 * SR) / SR
    phones = tg.get_tier_by_name("phones")
    assert [iv.text for iv in phones.intervals] == ["s", "u", "t"]
    got = [float(iv.end_time) for iv in phones.intervals[:-1]]
    np.testing.assert_allclose(got, [0.55555 - offset, 0.80003 - offset], rtol=0, atol=1e-12)
    tones = tg.get_tier_by_name("tones")
    assert [(float(p.time), p.text) for p in tones.points] == [(pytest.approx(0.6 - offset, abs=1e-12), "H*")]
    dark_tones = read_textgrid(tmp_path / "out" / "rec_0004_dark.TextGrid").get_tier_by_name("tones")
    assert [p.text for p in dark_tones.points] == ["L%"]


@pytest.mark.parametrize("save", ["Save as text file", "Save as short text file"])
def test_cut_reads_textgrids_written_by_praat(tmp_path, praat_exe, save):
    src = tmp_path / "rec"
    make_recordings(src)
    (src / "rec.TextGrid").unlink()
    script = tmp_path / "make.praat"
    script.write_text(
        "form Make\n  sentence Out\nendform\n"
        "Create TextGrid: 0, 3, \"words phones\", \"\"\n"
        "Insert boundary: 1, 0.41234\n"
        "Insert boundary: 1, 0.98761\n"
        "Insert boundary: 1, 2.0\n"
        "Insert boundary: 1, 2.5\n"
        "Set interval text: 1, 2, \"suit\"\n"
        "Set interval text: 1, 4, \"süß\"\n"
        "Insert boundary: 2, 0.55555\n"
        "Set interval text: 2, 2, \"u\"\n"
        f"{save}: out$\n",
        encoding="utf-8",
    )
    res = subprocess.run([praat_exe, "--run", str(script), str(src / "rec.TextGrid")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    df = cut_recordings(src, tmp_path / "out", progress=False)
    assert list(df["file"]) == ["rec_0002_suit.wav", "rec_0004_süß.wav"]
    rate, x = scipy.io.wavfile.read(tmp_path / "out" / "rec_0004_süß.wav")
    np.testing.assert_array_equal(x * 65536.0, np.arange(round(2.0 * SR), round(2.5 * SR)))
    phones = read_textgrid(tmp_path / "out" / "rec_0002_suit.TextGrid").get_tier_by_name("phones")
    offset = round(0.41234 * SR) / SR
    assert [(float(iv.start_time), iv.text) for iv in phones.intervals] == [
        (0.0, ""), (pytest.approx(0.55555 - offset, abs=1e-12), "u")]


def test_cut_filters_by_labels_and_pattern(tmp_path):
    make_recordings(tmp_path / "rec")
    df = cut_recordings(tmp_path / "rec", tmp_path / "o1", labels=["suit"], progress=False)
    assert list(df["label"]) == ["suit"]
    df = cut_recordings(tmp_path / "rec", tmp_path / "o2", pattern=r"^d", progress=False)
    assert list(df["label"]) == ["dark"]
    df = cut_recordings(tmp_path / "rec", tmp_path / "o3", labels=["süß"], pattern="^su", progress=False)
    assert list(df["label"]) == ["suit", "süß"]
    df = cut_recordings(tmp_path / "rec", tmp_path / "o4", tier="phones", labels=["u"], progress=False)
    assert list(df["file"]) == ["rec_0003_u.wav"]
    assert df["n_samples"].iloc[0] == round(0.80003 * SR) - round(0.55555 * SR)
    with pytest.raises(GanphonError, match="no interval of tier 'words' matched"):
        cut_recordings(tmp_path / "rec", tmp_path / "o5", labels=["zebra"], progress=False)
    with pytest.raises(GanphonError, match="not a valid regular expression"):
        cut_recordings(tmp_path / "rec", tmp_path / "o6", pattern="(", progress=False)
    # the API takes a list; the command line splits "suit,dark"
    with pytest.raises(GanphonError, match="^labels: expected a list, got the string 'suit'"):
        cut_recordings(tmp_path / "rec", tmp_path / "o7", labels="suit", progress=False)
    assert not (tmp_path / "o7").exists()


def test_cut_lists_recordings_without_textgrid_or_tier(tmp_path, capsys):
    src = tmp_path / "rec"
    make_recordings(src)
    scipy.io.wavfile.write(src / "alone.wav", SR, np.zeros(100, dtype=np.float32))
    (src / "other").mkdir()
    scipy.io.wavfile.write(src / "other" / "r2.wav", SR, np.zeros(100, dtype=np.float32))
    tg = tgt.TextGrid()
    tg.add_tier(tgt.IntervalTier(0, 100 / SR, "syllables"))
    tgt.io.write_to_file(tg, str(src / "other" / "r2.TextGrid"), format="long")

    df = cut_recordings(src, tmp_path / "out", progress=False)
    assert len(df) == 3
    skipped = dict(df.attrs["skipped"])
    assert "no TextGrid" in skipped["alone.wav"]
    assert "no tier 'words'" in skipped["other/r2.TextGrid"] and "syllables" in skipped["other/r2.TextGrid"]
    assert "skipped alone.wav" in capsys.readouterr().err
    with pytest.raises(GanphonError, match=r"alone\.wav: no TextGrid"):
        cut_recordings(src, tmp_path / "strict", strict=True, progress=False)


@pytest.mark.parametrize("xmin,xmax", [(0.0, 3.5), (100.0, 103.0)])
def test_cut_skips_a_recording_whose_textgrid_was_made_for_another_version_of_it(tmp_path, capsys, xmin, xmax):
    """A TextGrid spanning more than its recording (trimmed since), or cut from a longer one with Praat's
    "preserve times" (its times from 100 s, the WAV's from 0), would cut words where they are not: the
    recording is skipped, both spans named; an end written to the millisecond is the same recording."""
    src = tmp_path / "rec"
    make_recordings(src)
    for name, (a, b) in (("other", (xmin, xmax)), ("rounded", (0.0, 3.0004))):
        scipy.io.wavfile.write(src / f"{name}.wav", SR, np.zeros(int(REC_SECONDS * SR), dtype=np.float32))
        grid = tgt.TextGrid()
        tier = tgt.IntervalTier(a, b, "words")
        tier.add_interval(tgt.Interval(a + 0.5, a + 1.0, "ta"))
        grid.add_tier(tier)
        tgt.io.write_to_file(grid, str(src / f"{name}.TextGrid"), format="long")
    df = cut_recordings(src, tmp_path / "out", progress=False)
    assert sorted(df["source"].unique()) == ["rec.wav", "rounded.wav"]
    why = dict(df.attrs["skipped"])["other.wav"]
    assert why.startswith(f"the TextGrid spans {round(xmin * 1000)} to {round(xmax * 1000)} ms, the recording 0 to "
                          "3000 ms (made for another version of the recording?)"), why
    assert "skipped other.wav: the TextGrid spans" in capsys.readouterr().err
    with pytest.raises(GanphonError, match=r"^other\.wav: the TextGrid spans"):
        cut_recordings(src, tmp_path / "strict", strict=True, progress=False)


def test_cut_refuses_another_cut_unless_overwrite(tmp_path):
    make_recordings(tmp_path / "rec")
    (tmp_path / "rec" / "sub").mkdir()
    shutil.copy(tmp_path / "rec" / "rec.wav", tmp_path / "rec" / "sub" / "deep.wav")
    shutil.copy(tmp_path / "rec" / "rec.TextGrid", tmp_path / "rec" / "sub" / "deep.TextGrid")
    out = tmp_path / "out"
    cut_recordings(tmp_path / "rec", out, progress=False)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav")) == [
        "rec_0002_suit.wav", "rec_0004_dark.wav", "rec_0006_süß.wav",
        "sub/deep_0002_suit.wav", "sub/deep_0004_dark.wav", "sub/deep_0006_süß.wav"]
    before = folder_bytes(out)
    with pytest.raises(GanphonError, match="different command .*labels"):
        cut_recordings(tmp_path / "rec", out, labels=["dark"], progress=False)
    assert folder_bytes(out) == before
    # the sub-folder of items goes too: nothing of the first cut is left
    cut_recordings(tmp_path / "rec", out, labels=["dark"], progress=False, overwrite=True)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav")) == [
        "rec_0004_dark.wav", "sub/deep_0004_dark.wav"]
    assert sorted(pd.read_csv(out / "items.csv")["file"]) == ["rec_0004_dark.wav", "sub/deep_0004_dark.wav"]
    assert json.loads((out / "run.json").read_text())["request"]["labels"] == ["dark"]


def test_cli_corpus_cut(tmp_path, capsys):
    make_recordings(tmp_path / "rec", "short", "utf-16")
    out = tmp_path / "items"
    code = main(["corpus", "cut", str(tmp_path / "rec"), "--tier", "words", "--labels", "suit,dark",
                 "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.glob("*.wav")) == ["rec_0002_suit.wav", "rec_0004_dark.wav"]
    assert "2 items from 1 recordings" in capsys.readouterr().out
    assert main(["corpus", "cut", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert f"ganphon corpus cut: error: argument RECORDINGS_DIR: {tmp_path / 'nowhere'}: no such folder" \
        in capsys.readouterr().err


# ----------------------------------------------------------------------------
# Synthetic corpus


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    out = {}
    for template in ("stv", "redup"):
        df = synthesize(template, 8, seed=5, out=root / template, progress=False)
        out[template] = (root / template, df)
    return out


def _phones(folder, tid):
    tg = read_textgrid(folder / f"{tid}.TextGrid")
    return tg, [(float(iv.start_time), float(iv.end_time), iv.text)
                for iv in tg.get_tier_by_name("phones").intervals]


@pytest.mark.parametrize("template", ["stv", "redup"])
def test_synth_files_and_boundaries_match_ground_truth(corpora, template):
    folder, df = corpora[template]
    table = pd.read_csv(folder / "corpus.csv", keep_default_na=False, na_values=[""])
    assert list(table["id"]) == list(df["id"]) and len(table) == 8
    for row in table.itertuples():
        rate, x = scipy.io.wavfile.read(folder / row.file)
        assert rate == SR and x.dtype == np.float32 and len(x) == SLICE
        assert 0 < np.abs(x).max() <= 0.9

        tg, phones = _phones(folder, row.id)
        assert float(tg.end_time) == SLICE / SR
        bounds = np.array([a for a, _, _ in phones] + [phones[-1][1]])
        # Every boundary is a whole sample, and the tier covers the slice.
        np.testing.assert_allclose(bounds * SR, np.round(bounds * SR), atol=1e-6)
        assert phones[0][2] == "sil" and phones[-1][2] == "sil" and bounds[0] == 0
        labels = [lab for _, _, lab in phones]
        assert all(lab in PHONE_CLASS for lab in labels)
        dur = lambda lab: next(b - a for a, b, l in phones if l == lab)  # noqa: E731

        assert phones[0][1] == pytest.approx(row.onset, abs=1e-12)
        assert 0.020 - 0.5 / SR <= row.onset <= 0.150 + 0.5 / SR
        vowels = [(a, b) for a, b, lab in phones if lab in ("ɑ", "i", "u")]
        assert vowels[-1][1] - vowels[-1][0] == pytest.approx(row.dur_vowel, abs=1e-12)
        assert row.vowel_mid == pytest.approx(sum(vowels[-1]) / 2, abs=1e-12)
        assert phones[-1][0] - phones[0][1] == pytest.approx(row.dur_word, abs=1e-12)
        words = tg.get_tier_by_name("words")
        assert [iv.text for iv in words.intervals if iv.text] == [row.word]
        word_iv = next(iv for iv in words.intervals if iv.text)
        assert (float(word_iv.start_time), float(word_iv.end_time)) == (phones[0][1], phones[-1][0])
        assert row.word_ipa == "".join(lab for lab in labels[1:-1] if not lab.endswith("cl"))
        assert row.trailing >= 0.06

        if template == "stv":
            assert labels[1:-1] == (["s"] if row.has_s else []) + [row.stop + "cl", row.stop, row.vowel]
            assert dur(row.stop) == pytest.approx(row.vot, abs=1e-12)
            assert dur(row.stop + "cl") == pytest.approx(row.dur_closure, abs=1e-12)
            if row.has_s:
                assert dur("s") == pytest.approx(row.dur_s, abs=1e-12)
                assert 0.010 - 0.5 / SR <= row.vot <= 0.025 + 0.5 / SR
            else:
                assert np.isnan(row.dur_s)
                assert 0.050 - 0.5 / SR <= row.vot <= 0.090 + 0.5 / SR
        else:
            c1 = ([row.c1 + "cl", row.c1] if row.c1 in "ptkbdg" else [row.c1])
            syllable = c1 + [row.v2]
            expected = syllable * (2 if row.reduplicated else 1) + [row.c3, row.v4]
            assert labels[1:-1] == expected
            assert dur(row.c3) == pytest.approx(row.dur_c3, abs=1e-12)
            if row.c1 in "ptkbdg":
                assert dur(row.c1) == pytest.approx(row.vot, abs=1e-12)
                lo, hi = (0.010, 0.020) if row.c1 in "bdg" else (0.050, 0.090)
                assert lo - 0.5 / SR <= row.vot <= hi + 0.5 / SR


@pytest.mark.parametrize("template", ["stv", "redup"])
def test_synth_acoustics_measured_by_praat_match_ground_truth(corpora, template):
    folder, df = corpora[template]
    n_f1 = 0
    for row in df.itertuples():
        sound = parselmouth.Sound(str(folder / row.file))
        t = row.vowel_mid
        f0 = sound.to_pitch().get_value_at_time(t)
        assert f0 == pytest.approx(row.f0_mid, rel=0.02), row.id
        formant = sound.to_formant_burg(max_number_of_formants=5, maximum_formant=5500)
        assert formant.get_value_at_time(2, t) == pytest.approx(row.f2, rel=0.10), row.id
        # LPC cannot place F1 below the second harmonic: check F1 where it is measurable.
        if row.f1 >= 2 * row.f0_mid:
            n_f1 += 1
            assert formant.get_value_at_time(1, t) == pytest.approx(row.f1, rel=0.10), row.id
    assert n_f1 >= 3


def test_synth_segments_sound_like_their_labels(corpora):
    folder, df = corpora["stv"]
    seen_s = 0
    for row in df.itertuples():
        _, x = scipy.io.wavfile.read(folder / row.file)
        _, phones = _phones(folder, row.id)
        seg = {lab: x[round(a * SR):round(b * SR)] for a, b, lab in phones[1:-1]}
        # Leading silence and the closure are digital silence, so is the end.
        assert not x[: round(phones[0][1] * SR)].any()
        assert not seg[row.stop + "cl"].any()
        assert not x[round(phones[-1][0] * SR) + int(0.011 * SR):].any()
        rms = lambda v: float(np.sqrt(np.mean(v.astype(np.float64) ** 2)))  # noqa: E731
        assert rms(seg[row.stop]) > 0 and rms(seg[row.vowel]) > 2 * rms(seg[row.stop])
        if row.has_s:
            seen_s += 1
            s = seg["s"].astype(np.float64)
            power = np.abs(np.fft.rfft(s * np.hanning(len(s)))) ** 2
            freqs = np.fft.rfftfreq(len(s), 1 / SR)
            smooth = np.convolve(power, np.ones(25) / 25, mode="same")
            assert 4500 <= freqs[np.argmax(smooth)] <= 7500
            assert np.sum(power[freqs >= 4000]) > 0.8 * np.sum(power)
            # No periodicity in [s]: Praat finds no F0 at its middle.
            mid = sum(next((a, b) for a, b, lab in phones if lab == "s")) / 2
            sound = parselmouth.Sound(x.astype(np.float64), SR)
            assert np.isnan(sound.to_pitch().get_value_at_time(mid))
    assert seen_s >= 2


def test_synth_is_deterministic_and_seeded(tmp_path, corpora):
    folder, _ = corpora["stv"]
    again = tmp_path / "again"
    synthesize("stv", 3, seed=5, out=again, progress=False)
    for name in ["stv00000.wav", "stv00002.wav", "stv00001.TextGrid"]:
        assert (again / name).read_bytes() == (folder / name).read_bytes()
    other = tmp_path / "other"
    synthesize("stv", 3, seed=6, out=other, progress=False)
    assert (other / "stv00000.wav").read_bytes() != (folder / "stv00000.wav").read_bytes()
    meta = json.loads((again / "synth.json").read_text())
    assert meta["seed"] == 5 and meta["versions"]["ganphon"] == ganphon.__version__ and meta["kind"] == "corpus"
    assert "--seed 5" in meta["command"]


def test_synth_design_is_balanced():
    words = [token_design("stv", i, seed=9) for i in range(18)]
    assert sum(w["has_s"] for w in words) == 9
    assert len({(w["has_s"], w["stop"], w["vowel"]) for w in words}) == 18
    redup = [token_design("redup", i, seed=9) for i in range(486)]
    assert sum(w["reduplicated"] for w in redup) == 243
    assert {w["c1"] for w in redup} == set("ptkbdgvmn")


def test_phone_classes():
    assert {lab: phone_class(lab) for lab in ["sil", "pcl", "gcl", "s", "p", "t", "k"]} == {
        "sil": "sil", "pcl": "sil", "gcl": "sil", "s": "fric", "p": "fric", "t": "fric", "k": "fric"}
    assert all(phone_class(lab) == "voi" for lab in ["b", "d", "g", "v", "ɑ", "i", "u", "m", "n", "l", "ɹ", "j"])
    with pytest.raises(GanphonError, match="unknown phone label"):
        phone_class("zh")


def test_synth_corpus_loads_as_training_items(corpora):
    folder, df = corpora["redup"]
    items, report = load_folder(folder, progress=False)
    assert report.files == list(df["file"]) and report.n_resampled == report.n_cut == 0
    _, first = scipy.io.wavfile.read(folder / df["file"].iloc[0])
    np.testing.assert_array_equal(items[0], first)


def test_cli_corpus_synth(tmp_path, capsys):
    out = tmp_path / "c"
    args = ["corpus", "synth", "--template", "redup", "--n", "3", "--seed", "2", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert sorted(p.name for p in out.glob("*.wav")) == ["redup00000.wav", "redup00001.wav", "redup00002.wav"]
    assert "3 redup tokens" in capsys.readouterr().out
    first = folder_bytes(out)
    assert main(args) == 0  # the same request again: the same files
    assert folder_bytes(out, skip=("run.json",)) == {k: v for k, v in first.items() if k != "run.json"}
    assert main(args[:5] + ["2"] + args[6:]) == 2
    assert "was written by a different command (differs in n)" in capsys.readouterr().err
    assert main(args[:5] + ["2"] + args[6:] + ["--overwrite"]) == 0
    assert sorted(p.name for p in out.glob("*.wav")) == ["redup00000.wav", "redup00001.wav"]
    assert main(["corpus", "synth", "--template", "stv", "--n", "1", "--seed", "1",
                 "--out", str(tmp_path / "short"), "--slice-len", "4096"]) == 2
    assert "too short" in capsys.readouterr().err
    assert not (tmp_path / "short").exists()


def test_praat_reads_synth_files_and_finds_the_same_f0(corpora, praat_exe, tmp_path):
    folder, df = corpora["redup"]
    script = tmp_path / "f0.praat"
    script.write_text(
        "form F0 at the last vowel\n  sentence Wav\n  sentence Grid\nendform\n"
        "sound = Read from file: wav$\n"
        "grid = Read from file: grid$\n"
        "n = Get number of intervals: 2\n"
        "last = 0\n"
        "for i to n\n"
        "  label$ = Get label of interval: 2, i\n"
        "  if label$ = \"ɑ\" or label$ = \"i\" or label$ = \"u\"\n"
        "    last = i\n"
        "  endif\n"
        "endfor\n"
        "start = Get start time of interval: 2, last\n"
        "end = Get end time of interval: 2, last\n"
        "t = (start + end) / 2\n"
        "selectObject: sound\n"
        "pitch = To Pitch: 0, 75, 600\n"
        "f0 = Get value at time: t, \"Hertz\", \"linear\"\n"
        "writeInfoLine: fixed$(t, 6), \" \", fixed$(f0, 4)\n",
        encoding="utf-8",
    )
    for row in df.head(3).itertuples():
        res = subprocess.run([praat_exe, "--run", str(script), str(folder / row.file),
                              str(folder / row.textgrid)], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        t, f0 = map(float, res.stdout.split())
        assert t == pytest.approx(row.vowel_mid, abs=1e-6)
        assert f0 == pytest.approx(row.f0_mid, rel=0.02)


# ----------------------------------------------------------------------------
# A corpus folder holds one request (ganphon.io.prepare_folder)


def folder_bytes(folder, skip=()):
    """Every file under ``folder`` (relative path → bytes)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in skip}


def test_interrupted_synth_then_overwrite_holds_only_the_second_request(tmp_path, monkeypatch):
    from ganphon.corpus import synth

    out = tmp_path / "c"
    real = synth.synthesize_token

    def stop_at_three(template, index, seed, **kw):
        if index == 3:
            raise KeyboardInterrupt
        return real(template, index, seed, **kw)

    monkeypatch.setattr(synth, "synthesize_token", stop_at_three)
    with pytest.raises(KeyboardInterrupt):
        synthesize("stv", 6, seed=1, out=out, progress=False)
    # run.json came before the first token; the three tokens are on disk, no table yet
    assert json.loads((out / "run.json").read_text())["request"]["seed"] == 1
    assert {p.name for p in out.glob("*.wav")} == {"stv00000.wav", "stv00001.wav", "stv00002.wav"}
    assert not (out / "corpus.csv").exists()
    monkeypatch.setattr(synth, "synthesize_token", real)

    synthesize("stv", 2, seed=2, out=out, progress=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "corpus.csv", "phones.csv", "run.json", "stv00000.TextGrid", "stv00000.wav",
        "stv00001.TextGrid", "stv00001.wav", "synth.json"]
    record = json.loads((out / "run.json").read_text())
    assert record["request"] == {"kind": "corpus-synth", "template": "stv", "n": 2, "seed": 2, "sr": SR,
                                 "slice_len": SLICE, "words": None}
    assert record["planned"]["items"] == ["stv00000", "stv00001"]
    assert json.loads((out / "synth.json").read_text())["seed"] == 2
    table = pd.read_csv(out / "corpus.csv")
    assert table["seed"].tolist() == [2, 2]
    for i in range(2):  # every file is seed 2's: the waves a fresh token of seed 2 gives
        sr, x = scipy.io.wavfile.read(out / f"stv{i:05d}.wav")
        np.testing.assert_array_equal(x, real("stv", i, 2).wave)
        design = token_design("stv", i, seed=2)
        assert table.loc[i, ["has_s", "stop", "vowel"]].tolist() == [design["has_s"], design["stop"], design["vowel"]]


def test_synth_refuses_another_request_and_changes_nothing(tmp_path, capsys):
    out = tmp_path / "c"
    synthesize("stv", 2, seed=1, out=out, progress=False)
    before = folder_bytes(out)
    with pytest.raises(GanphonError, match=r"different command \(differs in seed\).*--overwrite"):
        synthesize("stv", 2, seed=2, out=out, progress=False)
    assert main(["corpus", "synth", "--template", "redup", "--n", "2", "--out", str(out), "--quiet"]) == 2
    assert re.search(r"differs in [a-z_, ]*template", capsys.readouterr().err)
    assert folder_bytes(out) == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_synth_refuses_a_folder_with_foreign_files(tmp_path, overwrite):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    scipy.io.wavfile.write(out / "stv00000.wav", SR, np.zeros(10, dtype=np.int16))  # a name a corpus owns
    before = folder_bytes(out)
    with pytest.raises(GanphonError, match="notes.txt" if overwrite else "no ganphon run.json"):
        synthesize("stv", 2, seed=1, out=out, progress=False, overwrite=overwrite)
    assert folder_bytes(out) == before
    # a foreign file beside a ganphon corpus stays when --overwrite replaces the corpus
    other = tmp_path / "corpus"
    synthesize("stv", 3, seed=1, out=other, progress=False)
    (other / "notes.txt").write_text("kept")
    synthesize("stv", 1, seed=1, out=other, progress=False, overwrite=True)
    assert sorted(p.name for p in other.glob("*.wav")) == ["stv00000.wav"]
    assert (other / "notes.txt").read_text() == "kept"


def test_a_rate_whose_ratio_needs_a_giant_filter_is_skipped_or_named_not_allocated(tmp_path, capsys):
    """A WAV header can claim any rate: 96,001 Hz against 16 kHz reduces to 16000/96001 (1.9 million taps,
    allowed), 25,821,309 Hz to 16000/25821309 (516 million taps, 4 GB: refused before allocating)."""
    from ganphon.corpus.folder import MAX_RESAMPLE_FACTOR, resample

    t = np.arange(9600) / 96001
    y = resample(np.sin(2 * np.pi * 440 * t), 96001, SR)  # odd but manageable: resampled, the tone kept
    assert len(y) == int(np.ceil(9600 * SR / 96001))
    assert np.argmax(np.abs(np.fft.rfft(y))) * SR / len(y) == pytest.approx(440, abs=SR / len(y))
    with pytest.raises(GanphonError, match=r"x.wav: cannot resample 25,821,309 Hz to 16,000 Hz"):
        resample(np.zeros(100), 25_821_309, SR, name="x.wav")
    assert 16000 / 2 ** 4 * MAX_RESAMPLE_FACTOR > 48_000  # every rate sharing 16 kHz's factors is fine
    d = tmp_path / "wavs"
    d.mkdir()
    scipy.io.wavfile.write(d / "good.wav", SR, (0.1 * np.ones(SR)).astype(np.float32))
    scipy.io.wavfile.write(d / "odd.wav", 25_821_309, np.zeros(1000, dtype=np.float32))
    items, report = load_folder(d, progress=False)
    assert report.files == ["good.wav"] and report.skipped[0][0] == "odd.wav"
    assert "skipped odd.wav: cannot resample 25,821,309 Hz" in capsys.readouterr().err
    with pytest.raises(GanphonError, match=r"odd.wav: cannot resample"):
        load_folder(d, progress=False, strict=True)
    from ganphon.speech import fit_to_slice  # the pretrained encoders' route to the slice

    with pytest.raises(GanphonError, match=r"odd.wav: cannot resample 25,821,309 Hz"):
        fit_to_slice(np.zeros(1000), 25_821_309, 16384, SR, name="odd.wav")
