"""ganphon.annotate: sil / fric / voi segmentation, the auto tiers, evaluation on the synthetic corpus."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import parselmouth
import pytest
import tgt

from conftest import SLICE, SR, T, make_exported_folder, require_praat, word, write_textgrid_tgt, write_wav_scipy
from ganphon import annotate, layout
from ganphon.errors import GanphonError


def boundaries(intervals):
    return [start for start, _, _ in intervals[1:]]


def test_segment_finds_known_classes_and_boundaries():
    x, truth = word(140.0, (700.0, 1200.0, 2600.0), seed=11, onset=0.2, fric=0.15, gap=0.06, vowel_dur=0.3)
    found = annotate.segment(parselmouth.Sound(x.astype(float), SR))
    assert [label for _, _, label in found] == ["sil", "fric", "sil", "voi", "sil"]
    assert found[0][0] == 0.0 and found[-1][1] == pytest.approx(T)
    assert all(a[1] == b[0] for a, b in zip(found, found[1:]))  # contiguous
    for got, expected in zip(boundaries(found), [end for _, _, end in truth[:-1]]):
        assert abs(got - expected) <= 0.010, (got, expected)


def test_a_long_recording_is_segmented_block_by_block_in_bounded_memory():
    """Twelve minutes of 1 s voiced (150 Hz) / 1 s loud white noise: every frame more than 50 ms from a change is
    labelled as made (voi, fric), the frames are analysed a block at a time (the block boundaries fall inside
    the signal: 144,000 frames, blocks of 65,536), and numpy's peak allocation stays under 400 MB (all frames at
    once took 561 MB; an hour took ≈ 4 GB of memory)."""
    import tracemalloc

    sr, minutes = 16000, 12
    t = np.arange(sr * 60 * minutes) / sr
    voiced = (t % 2.0) < 1.0
    x = np.where(voiced, 0.3 * np.sin(2 * np.pi * 150.0 * t), 0.0)
    x = x + np.where(voiced, 0.0, 0.05 * np.random.default_rng(0).standard_normal(t.size))
    sound = parselmouth.Sound(x, sampling_frequency=sr)
    del t, x
    assert annotate.FRAME_BLOCK < 144_000
    tracemalloc.start()
    try:
        times, labels, _ = annotate._analyse(sound, annotate.SegmentSettings())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(times) == 144_000 and peak < 400e6, peak
    phase = times % 1.0
    clear = (phase > 0.05) & (phase < 0.95)
    expected = np.where((times % 2.0) < 1.0, "voi", "fric")
    assert (labels[clear] == expected[clear]).all(), np.unique(labels[clear] != expected[clear], return_counts=True)


def test_short_intervals_are_merged():
    segs = [[0.0, 0.1, "sil"], [0.1, 0.105, "voi"], [0.105, 0.3, "sil"], [0.3, 0.31, "fric"], [0.31, 0.5, "voi"]]
    merged = annotate.merge_short(segs, 0.02)
    # the 5 ms voi between two sil disappears; the 10 ms fric is split between its neighbours
    assert merged == [[0.0, 0.305, "sil"], [0.305, 0.5, "voi"]]
    assert all(e - s >= 0.02 for s, e, _ in merged)
    x, _ = word(120.0, (650.0, 1100.0, 2500.0), seed=2)
    found = annotate.segment(parselmouth.Sound(x.astype(float), SR), annotate.SegmentSettings(min_duration=0.04))
    assert all(e - s >= 0.04 for s, e, _ in found)


def test_annotate_exported_folder_keeps_other_tiers(tmp_path):
    folder = tmp_path / "export"
    truth = make_exported_folder(folder, n_samples=2)
    table = annotate.annotate_folder(folder, layers=["conv4"], progress=False)
    assert set(table["tier"]) == {"auto", "auto_conv4"}
    for sid, known in truth.items():
        grid = annotate.read_textgrid(folder / layout.textgrid(sid))
        # the exported "auto" tier is replaced in place, the condition tier kept
        assert grid.get_tier_names() == ["condition", "auto", "auto_conv4"]
        assert grid.get_tier_by_name("condition").intervals[0].text.startswith("z11=")
        auto = [(i.start_time, i.end_time, i.text) for i in grid.get_tier_by_name("auto").intervals]
        assert [lab for _, _, lab in auto] == ["sil", "fric", "sil", "voi", "sil"]
        for got, expected in zip(boundaries(auto), [end for _, _, end in known["intervals"][:-1]]):
            assert abs(got - expected) <= 0.010
        assert (folder / layout.textgrid(sid)).read_text(encoding="utf-8").startswith('File type = "ooTextFile"')
    # running again rewrites the tiers, it does not add more
    annotate.annotate_folder(folder, progress=False)
    grid = annotate.read_textgrid(folder / layout.textgrid("s000000"))
    assert grid.get_tier_names() == ["condition", "auto", "auto_conv4"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_annotate_plain_folder_and_utf16_textgrid(tmp_path):
    x, truth = word(160.0, (600.0, 1000.0, 2400.0), seed=4)
    write_wav_scipy(tmp_path / "first ɑ.wav", x)
    write_wav_scipy(tmp_path / "second.wav", x)
    write_textgrid_tgt(tmp_path / "second.TextGrid", {"words": [("sa", 0.15, 0.6)]}, encoding="utf-16")
    table = annotate.annotate_folder(tmp_path, progress=False)
    assert set(table["sample_id"]) == {"first ɑ", "second"}
    made = annotate.read_textgrid(tmp_path / "first ɑ.TextGrid")
    assert made.get_tier_names() == ["auto"] and float(made.end_time) == pytest.approx(T)
    kept = annotate.read_textgrid(tmp_path / "second.TextGrid")
    assert kept.get_tier_names() == ["words", "auto"]
    words = kept.get_tier_by_name("words").intervals
    assert [(i.text, float(i.start_time)) for i in words if i.text] == [("sa", 0.15)]
    # the API names its parameter, the command line the option that fills it
    with pytest.raises(GanphonError, match=r"^layers: .*: needs a folder ganphon exported"):
        annotate.annotate_folder(tmp_path, layers=["conv3"], progress=False)
    with pytest.raises(GanphonError, match=r"^layers: expected a list, got the string 'conv3'"):
        annotate.annotate_folder(tmp_path, layers="conv3", progress=False)


def test_recordings_named_wav_in_any_case_are_annotated_and_measured_all(tmp_path, capsys):
    """Recorders write X.WAV: a folder's '*.wav' had skipped them without a word ('annotated 1 samples' of
    three, 'measured 1 files')."""
    from ganphon import io
    from ganphon.cli import main

    x, truth = word(160.0, (600.0, 1000.0, 2400.0), seed=4)
    for name in ("a.wav", "B.WAV", "c.Wav"):
        write_wav_scipy(tmp_path / name, x)
    table = annotate.annotate_folder(tmp_path, progress=False)
    assert sorted(table["sample_id"].unique()) == ["B", "a", "c"]
    assert sorted(p.name for p in tmp_path.glob("*.TextGrid")) == ["B.TextGrid", "a.TextGrid", "c.TextGrid"]
    labels = {sid: list(rows["label"]) for sid, rows in table.groupby("sample_id")}
    assert labels["B"] == labels["a"] == labels["c"]  # the same recording under three names
    assert main(["measure", str(tmp_path), "--quiet"]) == 0
    measured = io.read_acoustics(tmp_path)
    assert sorted(measured["file"].unique()) == ["B.WAV", "a.wav", "c.Wav"]
    f0 = {name: rows.query("measure == 'f0_mean'")["value"].to_numpy() for name, rows in measured.groupby("file")}
    np.testing.assert_array_equal(f0["B.WAV"], f0["a.wav"])
    np.testing.assert_array_equal(f0["c.Wav"], f0["a.wav"])
    assert np.nanmax(f0["a.wav"]) == pytest.approx(160.0, rel=0.02)  # the word's voice
    praat = require_praat()  # Praat's script measures the same files (a run per spelling of the suffix)
    assert main(["measure", str(tmp_path), "--engine", "praat", "--praat-path", praat, "--out",
                 str(tmp_path / "praat.csv"), "--quiet"]) == 0
    assert sorted(io.read_table(tmp_path / "praat.csv")["file"].unique()) == ["B.WAV", "a.wav", "c.Wav"]


def test_a_textgrid_made_for_another_version_of_its_sound_is_refused_and_nothing_is_written(tmp_path, capsys):
    """A word cut in Praat with "preserve times" (its TextGrid from 100 s, the WAV's samples from 0): the auto
    tier had been written on the TextGrid's 100-101 s with the intervals found at 0-1 s dropped, while the
    summary counted them.  Refused in one line naming it; no TextGrid written or changed, beside it either;
    a TextGrid whose end is written to the millisecond is the same sound.  ``--evaluate`` against such a
    reference is refused too (its frames would be compared with another stretch)."""
    from ganphon.cli import main

    x, _ = word(160.0, (600.0, 1000.0, 2400.0), seed=4)
    for name in ("alone", "kept", "rounded"):
        write_wav_scipy(tmp_path / f"{name}.wav", x)
    offset = tgt.TextGrid()
    tier = tgt.IntervalTier(100.0, 100.0 + T, "words")
    tier.add_interval(tgt.Interval(100.15, 100.6, "sa"))
    offset.add_tier(tier)
    tgt.io.write_to_file(offset, str(tmp_path / "kept.TextGrid"), format="long")
    write_textgrid_tgt(tmp_path / "rounded.TextGrid", {"words": [("sa", 0.15, 0.6)]}, xmax=round(T, 3))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["annotate", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ganphon: error: {tmp_path / 'kept.TextGrid'}: the TextGrid spans 100000 to 101024 ms, the sound "
                   "0 to 1024 ms (made for another version of the sound?); intervals found on the sound would not "
                   "line up with its tiers: correct it, or move it away"], err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if not p.name.startswith(".")} == before
    (tmp_path / "kept.TextGrid").unlink()
    assert main(["annotate", str(tmp_path), "--quiet"]) == 0
    rounded = annotate.read_textgrid(tmp_path / "rounded.TextGrid")
    assert rounded.get_tier_names() == ["words", "auto"]
    assert [i.text for i in rounded.get_tier_by_name("auto").intervals] == \
        [i.text for i in annotate.read_textgrid(tmp_path / "alone.TextGrid").get_tier_by_name("auto").intervals]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_wav_scipy(corpus / "w.wav", x)
    phones = tgt.TextGrid()
    tier = tgt.IntervalTier(100.0, 100.0 + T, "phones")
    tier.add_interval(tgt.Interval(100.15, 100.6, "ɑ"))
    phones.add_tier(tier)
    tgt.io.write_to_file(phones, str(corpus / "w.TextGrid"), format="long")
    with pytest.raises(GanphonError, match=r"w\.TextGrid: the TextGrid spans 100000 to 101024 ms, the sound 0 to "
                                           r"1024 ms"):
        annotate.evaluate(corpus)


def test_annotate_errors(tmp_path):
    with pytest.raises(GanphonError, match="no .wav files"):
        annotate.annotate_folder(tmp_path, progress=False)
    (tmp_path / "bad.wav").write_bytes(b"RIFF....")
    with pytest.raises(GanphonError, match="bad.wav: cannot read sound"):
        annotate.annotate_folder(tmp_path, progress=False)
    folder = tmp_path / "export"
    make_exported_folder(folder, n_samples=1)
    with pytest.raises(GanphonError, match=r"conv9: not a layer of .*export \(it holds dense, conv1, conv2, conv3, "
                                           r"conv4\)"):
        annotate.annotate_folder(folder, layers=["conv9"], progress=False)
    for path in folder.glob("s000000_conv3.*"):  # a layer of the folder whose file is gone
        path.unlink()
    with pytest.raises(GanphonError, match="s000000_conv3.wav: no such file"):
        annotate.annotate_folder(folder, layers=["conv3"], progress=False)
    with pytest.raises(GanphonError, match="min_duration"):
        annotate.SegmentSettings(min_duration=0)


def test_silent_sound_is_all_sil():
    found = annotate.segment(parselmouth.Sound(np.zeros(SLICE), SR))
    assert found == [(0.0, pytest.approx(T), "sil")]


def test_compare_counts_frames_and_boundary_errors():
    reference = [(0.0, 0.1, "sil"), (0.1, 0.3, "voi"), (0.3, 0.5, "sil")]
    hypothesis = [(0.0, 0.107, "sil"), (0.107, 0.3, "voi"), (0.3, 0.5, "sil")]
    result = annotate.compare(reference, hypothesis, frame=0.01)
    assert result["frames"] == 50 and result["correct"] == 49
    assert np.allclose(result["boundary_errors"], [0.007, 0.0])


def test_phone_classes_follow_the_corpus():
    assert [annotate.phone_class(p) for p in ("sil", "tcl", "s", "k", "b", "ɑ", "m")] == \
        ["sil", "sil", "fric", "fric", "voi", "voi", "voi"]
    with pytest.raises(GanphonError, match="unknown phone label 'zh'"):  # never a silent 'voi'
        annotate.phone_class("zh")
    joined = annotate.class_intervals([(0, 0.1, "sil"), (0.1, 0.15, "tcl"), (0.15, 0.2, "t"), (0.2, 0.4, "ɑ")])
    assert joined == [(0, 0.15, "sil"), (0.15, 0.2, "fric"), (0.2, 0.4, "voi")]


def test_evaluate_on_the_synthetic_corpus(tmp_path, capsys):
    from ganphon.cli import main
    from ganphon.corpus.synth import synthesize

    corpus = tmp_path / "stv"
    synthesize("stv", 12, seed=3, out=corpus, progress=False)
    result = annotate.evaluate(corpus)
    assert result["files"] == 12
    assert result["median_boundary_error_ms"] <= 10.0
    assert result["frame_accuracy"] >= 0.9
    before = sorted(p.name for p in corpus.iterdir())
    assert main(["annotate", "--evaluate", str(corpus), "--limit", "4"]) == 0
    out = capsys.readouterr().out
    assert "files: 4" in out and "median boundary error" in out and "frame label accuracy" in out
    assert sorted(p.name for p in corpus.iterdir()) == before  # evaluation writes nothing
    # a frame every 10 ms (--time-step): half the voicing analysis, the ground truth still followed
    assert main(["annotate", "--evaluate", str(corpus), "--time-step", "0.01"]) == 0
    out = capsys.readouterr().out
    accuracy = float(re.search(r"frame label accuracy \(10 ms frames\): ([\d.]+)", out).group(1))
    median = float(re.search(r"median boundary error: ([\d.]+) ms", out).group(1))
    assert accuracy >= 0.95 and median <= 10.0, out
    for bad in ("0.0001", "1"):  # a frame per sound, or ten thousand per second: refused, naming the option
        assert main(["annotate", "--evaluate", str(corpus), "--time-step", bad]) == 2
        assert "--time-step: must be between 0.0005 and 0.1 s" in capsys.readouterr().err


def test_cli_annotate(tmp_path, capsys):
    from ganphon.cli import main

    folder = tmp_path / "export"
    make_exported_folder(folder, n_samples=1)
    assert main(["annotate", str(folder), "--layers", "conv3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "annotated 1 samples" in out and "auto_conv3" in out
    grid = tgt.io.read_textgrid(str(folder / "s000000.TextGrid"))
    assert grid.has_tier("auto_conv3")
    capsys.readouterr()
    assert main(["annotate", str(tmp_path / "none")]) == 2  # the parser's check of DIR
    assert capsys.readouterr().err.startswith(
        f"ganphon annotate: error: argument DIR: {tmp_path / 'none'}: no such folder")


def test_parallel_annotation_equals_serial(tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    make_exported_folder(serial, n_samples=3)
    make_exported_folder(parallel, n_samples=3)
    one = annotate.annotate_folder(serial, layers=["conv4"], progress=False, workers=1)
    two = annotate.annotate_folder(parallel, layers=["conv4"], progress=False, workers=2)
    pd.testing.assert_frame_equal(one, two)
    assert list(one["sample_id"].unique()) == ["s000000", "s000001", "s000002"]
    for sid in one["sample_id"].unique():
        assert (serial / layout.textgrid(sid)).read_bytes() == (parallel / layout.textgrid(sid)).read_bytes()


def test_a_tier_an_annotation_stopped_in_stays_refused_after_annotating_other_tiers(tmp_path, capsys):
    """An annotation of ``auto`` and ``auto_conv4`` stopped part-way (the record it leaves: unfinished), then
    one of ``auto`` alone run to the end: ``auto_conv4`` still holds two annotations, and stays refused
    until it is annotated again (tests/test_faults.py stops a real run)."""
    from ganphon import io
    from ganphon.cli import main

    folder = tmp_path / "export"
    make_exported_folder(folder, n_samples=2)
    stopped = io.run_record("annotate", command="ganphon annotate export --layers conv4", samples=2, finished=False,
                            request={"tiers": ["auto", "auto_conv4"]})
    io.write_run_record(folder / layout.ANNOTATE_JSON, stopped)
    for tier in ("auto", "auto_conv4"):
        with pytest.raises(GanphonError, match=f"tier '{tier}' stopped before it finished.*run it again: ganphon "
                                               "annotate export --layers conv4$"):
            annotate.check_finished(folder, tier)
    annotate.check_finished(folder, "phones")  # a tier no annotation wrote
    assert main(["annotate", str(folder), "--quiet"]) == 0  # auto alone, to the end
    assert annotate.unfinished_tiers(folder) == {"auto_conv4"}
    annotate.check_finished(folder, "auto")
    with pytest.raises(GanphonError, match=f"tier 'auto_conv4' stopped.*annotate it again: ganphon annotate "
                                           f"{folder} --layers conv4$"):
        annotate.check_finished(folder, "auto_conv4")
    capsys.readouterr()
    assert main(["measure", str(folder), "--tier", "auto_conv4", "--quiet"]) == 2
    assert "stopped before it finished" in capsys.readouterr().err
    assert main(["annotate", str(folder), "--layers", "conv4", "--quiet"]) == 0
    assert annotate.unfinished_tiers(folder) == set()
    assert main(["measure", str(folder), "--tier", "auto_conv4", "--quiet"]) == 0


def test_annotate_records_its_settings_beside_the_tiers_and_measure_names_the_same_textgrids(tmp_path, capsys):
    """``annotate.json``: the settings the tiers were made with (a 10 ms frame step here, the layers, the buzz
    periods), and the digest of the TextGrids as annotate left them, which ``acoustics.json`` names when it
    measured them; a hand edit of one TextGrid after that shows as a different digest.  A file of the user's
    under that name is never replaced: one error line, no TextGrid touched."""
    import json

    from ganphon.cli import main

    folder = tmp_path / "probe"
    make_exported_folder(folder, n_samples=2)
    assert main(["annotate", str(folder), "--time-step", "0.01", "--layers", "conv4", "--quiet"]) == 0
    record = json.loads((folder / layout.ANNOTATE_JSON).read_text(encoding="utf-8"))
    assert record["kind"] == "annotate" and record["samples"] == 2
    assert record["request"]["settings"]["time_step"] == 0.01 and record["request"]["tiers"] == ["auto", "auto_conv4"]
    assert "--time-step 0.01" in record["command"] and record["versions"]["parselmouth"]
    assert main(["measure", str(folder), "--quiet"]) == 0
    measured = json.loads((folder / layout.ACOUSTICS_JSON).read_text(encoding="utf-8"))
    assert measured["inputs"]["textgrids"] == record["textgrids"]
    grid = folder / layout.textgrid("s000000")
    grid.write_text(grid.read_text(encoding="utf-8").replace('"voi"', '"vowel"'), encoding="utf-8")
    from ganphon import io

    assert io.textgrid_digest(folder) != record["textgrids"]

    users = tmp_path / "recordings"
    users.mkdir()
    scipy_wav = folder / "s000001_output.wav"
    (users / "a.wav").write_bytes(scipy_wav.read_bytes())
    (users / layout.ANNOTATE_JSON).write_text('{"my": "notes"}', encoding="utf-8")
    capsys.readouterr()
    assert main(["annotate", str(users), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "annotate.json: exists and is not a ganphon annotate record" in err, err
    assert sorted(p.name for p in users.iterdir()) == ["a.wav", layout.ANNOTATE_JSON]


@pytest.mark.parametrize("tiers, unfinished, want", [("auto", None, {"auto"}),
                                                     (5, ["auto_conv4", 3], {"auto", "auto_conv4"}),
                                                     (["auto_conv4", None], {"x": 1}, {"auto_conv4"})])
def test_an_edited_annotate_record_names_tiers_it_lists_and_nothing_else(tmp_path, tiers, unfinished, want):
    """An edited ``annotate.json`` whose tiers are a string ("auto": its letters had been read as tiers), a
    number (a TypeError) or lists holding other values: only the names it lists count, ``auto`` when none."""
    from ganphon import io

    folder = tmp_path / "export"
    make_exported_folder(folder, n_samples=1)
    record = io.run_record("annotate", command="ganphon annotate export", samples=1, finished=False,
                           request={"tiers": tiers}, unfinished=unfinished)
    io.write_run_record(folder / layout.ANNOTATE_JSON, record)
    assert annotate.unfinished_tiers(folder) == want
    for tier in want:
        with pytest.raises(GanphonError, match=f"tier '{tier}' stopped before it finished"):
            annotate.check_finished(folder, tier)
    annotate.check_finished(folder, "a")  # a letter of "auto" is no tier
