"""Run records: one schema for every folder kind, older records read into it, and stale measurements refused."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from ganphon import io, layout
from ganphon.cli import main
from ganphon.errors import GanphonError

SCHEMA = ["kind", "command", "request", "versions", "seed", "timings", "inputs"]


def _sha16(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _textgrids_by_hand(folder) -> str:
    """The combined digest written out by hand: sha256 over 'name NUL sha256(bytes)[:16] NUL' of each TextGrid."""
    text = "".join(f"{p.name}\0{_sha16(p.read_bytes())}\0" for p in sorted(folder.glob("*.TextGrid")))
    return _sha16(text.encode("utf-8"))


@pytest.fixture
def measured(tmp_path, tiny_ciwgan, capsys):
    """probe → annotate → measure, with the real commands."""
    folder = tmp_path / "p"
    assert main(["probe", "--checkpoint", str(tiny_ciwgan), "--n", "3", "--seed", "2", "--out", str(folder),
                 "--quiet"]) == 0
    assert main(["annotate", str(folder), "--quiet"]) == 0
    assert main(["measure", str(folder), "--measures", "intensity,duration", "--quiet"]) == 0
    capsys.readouterr()
    return folder


def test_every_record_has_the_schema_and_the_digests_of_what_it_read(measured, capsys):
    run = json.loads((measured / layout.RUN_JSON).read_text())
    acoustics = json.loads((measured / layout.ACOUSTICS_JSON).read_text())
    assert list(run)[:len(SCHEMA)] == SCHEMA and run["kind"] == "probe" and run["seed"] == 2
    assert list(acoustics)[:len(SCHEMA)] == SCHEMA and acoustics["kind"] == "measure"
    assert acoustics["request"]["measures"] == ["intensity", "duration"] and acoustics["request"]["tier"] == "auto"
    assert acoustics["versions"]["parselmouth"] and acoustics["timings"]["measure"] > 0
    # the digests against a hand-written sha256 of the files and of the export's canonical request
    canonical = json.dumps(run["request"], sort_keys=True, separators=(",", ":")).encode("utf-8")
    assert acoustics["inputs"] == {"export": _sha16(canonical), "manifest": _sha16((measured / layout.MANIFEST).read_bytes()),
                                   "textgrids": _textgrids_by_hand(measured)}
    assert main(["stats", str(measured), "--measures", "intensity", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "note:" not in err  # an untouched folder fits without a note
    stats = json.loads((measured / "stats" / layout.STATS_JSON).read_text())
    assert list(stats)[:len(SCHEMA)] == SCHEMA and stats["kind"] == "stats" and stats["stale"] == []
    assert stats["seed"] == {"manifest": [2], "feature_map_kmeans": 0}
    assert stats["inputs"]["acoustics"] == _sha16((measured / layout.ACOUSTICS).read_bytes())


def test_stats_refuses_a_table_measured_before_the_annotation_was_redone(measured, capsys):
    before = {p.name: p.read_bytes() for p in measured.glob("*.TextGrid")}
    assert main(["annotate", str(measured), "--no-buzz-rule", "--quiet"]) == 0
    assert {p.name: p.read_bytes() for p in measured.glob("*.TextGrid")} != before  # the annotation did change
    capsys.readouterr()
    assert main(["stats", str(measured), "--measures", "intensity", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "acoustics.csv" in err[0] and "TextGrids changed" in err[0] and "--allow-stale" in err[0]
    assert not (measured / "stats").exists()  # nothing written
    assert main(["stats", str(measured), "--measures", "intensity", "--quiet", "--allow-stale"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ganphon: note:")]
    assert len(notes) == 1 and "TextGrids changed" in notes[0]
    record = json.loads((measured / "stats" / layout.STATS_JSON).read_text())
    assert record["stale"] == ["the TextGrids changed (annotated again?)"] and record["request"]["allow_stale"]
    # measuring again makes the table fresh
    assert main(["measure", str(measured), "--measures", "intensity,duration", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["stats", str(measured), "--measures", "intensity", "--quiet"]) == 0
    assert "note:" not in capsys.readouterr().err


def test_stats_refuses_a_table_measured_before_its_manifest_was_edited(measured, capsys):
    """The manifest places each row in the design the models fit: edited after measuring (one seed cell here,
    a valid number), the table is refused as stale, nothing written; measured again, it fits."""
    manifest = measured / layout.MANIFEST
    text = manifest.read_text(encoding="utf-8").splitlines(keepends=True)
    header = text[0].rstrip("\n").split(",")
    cells = text[1].rstrip("\n").split(",")
    cells[header.index("seed")] = "7"
    manifest.write_text(text[0] + ",".join(cells) + "\n" + "".join(text[2:]), encoding="utf-8")
    capsys.readouterr()
    assert main(["stats", str(measured), "--measures", "intensity", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ganphon: error: {measured / layout.ACOUSTICS}: measured before manifest.csv changed (edited?); "
                   "measure the folder again (ganphon measure), or pass --allow-stale to fit it anyway"]
    assert not (measured / "stats").exists()
    assert main(["measure", str(measured), "--measures", "intensity,duration", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["stats", str(measured), "--measures", "intensity", "--quiet"]) == 0
    assert "note:" not in capsys.readouterr().err


def test_a_table_without_its_record_is_fitted_with_a_note_saying_its_freshness_is_unchecked(measured, capsys):
    """A table whose record was deleted (or one made by another tool) cannot be judged fresh or stale: it is
    fitted, and the one note says so, naming both files; with the record back there is no note."""
    record = measured / layout.ACOUSTICS_JSON
    kept = record.read_bytes()
    record.unlink()
    assert main(["stats", str(measured), "--measures", "intensity", "--quiet"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ganphon: note:")]
    assert notes == ["ganphon: note: acoustics.csv has no record (acoustics.json): whether it is older than the "
                     "folder's files is not checked"]
    record.write_bytes(kept)
    assert main(["stats", str(measured), "--measures", "intensity", "--quiet"]) == 0
    assert "note:" not in capsys.readouterr().err


def test_stats_refuses_a_table_older_than_a_reexport(measured, tiny_ciwgan, tmp_path, capsys):
    kept = tmp_path / "kept"
    kept.mkdir()
    for name in (layout.ACOUSTICS, layout.ACOUSTICS_JSON, *[p.name for p in measured.glob("*.TextGrid")]):
        shutil.copy(measured / name, kept / name)
    assert main(["probe", "--checkpoint", str(tiny_ciwgan), "--n", "3", "--seed", "3", "--out", str(measured),
                 "--overwrite", "--quiet"]) == 0
    for p in kept.iterdir():  # the old table (and annotation) put back beside the new export
        shutil.copy(p, measured / p.name)
    capsys.readouterr()
    assert main(["stats", str(measured), "--measures", "intensity", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "exported again" in err and "TextGrids" not in err


@pytest.mark.parametrize("damage", ["{", "[1]", "model", "request"])
def test_a_damaged_record_is_an_error_never_read_as_absent(measured, damage, capsys):
    """A run record that exists but cannot be read stops every command that reads it with one line naming it
    (and writes nothing): read as absent, a damaged ``run.json`` made ``stats`` call the folder "exported
    again", ``annotate`` and ``measure`` fall back to the manifest for the generator's artefact frequencies,
    and a damaged ``acoustics.json`` let ``stats`` fit a table whose inputs it could not judge."""
    run_json, acoustics_json = measured / layout.RUN_JSON, measured / layout.ACOUSTICS_JSON
    good = run_json.read_text()
    if damage == "model":  # valid JSON whose generator configuration is not one
        record = json.loads(good)
        record["model"]["dim"] = "x"
        run_json.write_text(json.dumps(record))
    elif damage == "request":  # a schema field of another type (every reader takes the request as an object)
        record = json.loads(good)
        record["request"] = True
        run_json.write_text(json.dumps(record))
    else:
        run_json.write_text(damage)
    files = {p.name: p.read_bytes() for p in measured.iterdir() if p.is_file()}
    with pytest.raises(GanphonError, match="run.json"):
        io.measured_inputs(measured) if damage != "model" else __import__("ganphon").measures.generator_stack(measured)
    capsys.readouterr()
    commands = [["annotate", str(measured), "--quiet"],
                ["measure", str(measured), "--measures", "intensity", "--quiet", "--overwrite"]]
    if damage != "model":  # stats reads the record's request (its digest), not its model
        commands.append(["stats", str(measured), "--measures", "intensity", "--quiet"])
    for argv in commands:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "run.json" in err[0] and "exported again" not in err[0], (argv, err)
    assert {p.name: p.read_bytes() for p in measured.iterdir() if p.is_file()} == files
    assert not (measured / "stats").exists()

    run_json.write_text(good)
    if damage == "request":
        record = json.loads(acoustics_json.read_text())
        record["inputs"] = [1]
        acoustics_json.write_text(json.dumps(record))
    else:
        acoustics_json.write_text(damage if damage != "model" else "")
    assert main(["stats", str(measured), "--measures", "intensity", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "acoustics.json" in err[0] and "measure the folder again" in err[0]
    assert not (measured / "stats").exists()
    acoustics_json.unlink()  # absent (an older ganphon's table) is not judged
    assert main(["stats", str(measured), "--measures", "intensity", "--quiet"]) == 0


def test_older_records_read_into_the_schema(tmp_path):
    old_measure = {"command": "ganphon measure x", "engine": "parselmouth", "tier": "auto", "points": 10,
                   "inputs": "wav", "measures": ["f0"], "settings_preset": "default", "settings": {},
                   "ganphon_version": "0.1.0", "parselmouth_version": "0.4.3", "praat_version": "6.1.38"}
    path = tmp_path / "acoustics.json"
    path.write_text(json.dumps(old_measure))
    rec = io.read_record(path)
    assert rec["kind"] == "measure" and rec["request"]["engine"] == "parselmouth" and rec["request"]["inputs"] == "wav"
    assert rec["inputs"] == {} and rec["versions"] == {"ganphon": "0.1.0", "parselmouth": "0.4.3",
                                                       "praat_in_parselmouth": "6.1.38"}
    assert io.stale_inputs(rec, tmp_path) == []  # no digests: not judged
    old_train = {"kind": "train", "command": "", "seed": 4, "versions": {"ganphon": "0.1.0"},
                 "model_config": {"dim": 8}, "train_config": {"steps": 3}, "data": {"source": "array"}}
    (tmp_path / "run.json").write_text(json.dumps(old_train))
    rec = io.read_run_record(tmp_path)
    assert rec["request"] == {"model_config": {"dim": 8}, "train_config": {"steps": 3}, "data": {"source": "array"}}
    assert rec["seed"] == 4 and rec["timings"] == {} and "model_config" not in rec
    from ganphon.models.bundled import DATA, DEMO_CARD

    card = io.read_record(DATA / DEMO_CARD)  # the bundled model's card
    assert all(key in card for key in SCHEMA)
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(GanphonError, match="bad.json: not a ganphon run record"):
        io.read_record(tmp_path / "bad.json")


def test_one_writer_completes_the_schema(tmp_path):
    path = io.write_run_record(tmp_path / "x.json", {"request": {"kind": "sweep", "n": 2}, "planned": [1]})
    rec = json.loads(path.read_text())
    assert list(rec) == SCHEMA + ["planned"] and rec["kind"] == "sweep" and rec["timings"] == {}
    assert rec["versions"]["ganphon"]


@pytest.mark.parametrize("clip", [[], "", -1e308, 0, True])
def test_a_run_record_with_a_clip_that_is_no_positive_number_is_named(measured, clip, capsys):
    """The clip of an edited run.json (``"clip": []``, ``""``, ``-1e308``) reached float() or np.clip: explore
    stopped with a traceback, or wrote a page of infinite samples.  Every reader of the layer series names it."""
    run_json = measured / layout.RUN_JSON
    record = json.loads(run_json.read_text())
    record["request"]["clip"] = clip
    run_json.write_text(json.dumps(record))
    files = {p.name: p.read_bytes() for p in measured.iterdir() if p.is_file()}
    with pytest.raises(GanphonError, match=r"run.json: its request's clip is .*, not a positive number or null"):
        io.run_clip(measured)
    capsys.readouterr()
    for argv in (["explore", str(measured), "--quiet"], ["export-wavs", str(measured), "--quiet"],
                 ["measure", str(measured), "--measures", "intensity", "--quiet", "--overwrite"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "run.json: its request's clip" in err[0], (argv, err)
    assert {p.name: p.read_bytes() for p in measured.iterdir() if p.is_file()} == files
    record["request"]["clip"] = 0.5  # a clip ganphon writes: read as it is
    run_json.write_text(json.dumps(record))
    assert io.run_clip(measured) == 0.5


@pytest.mark.parametrize("name", [layout.MANIFEST, layout.RUN_JSON, layout.ACOUSTICS_JSON, "TextGrid"])
def test_a_dangling_link_where_a_folder_holds_a_file_it_reads_is_named_not_taken_for_absent(measured, name, capsys):
    """A link to nothing as the manifest (``measure`` had measured the folder as loose WAVs), the run record,
    the table's record (``stats`` had fitted the table as one without a record) or a TextGrid: every command
    that reads the folder stops with the one line naming the link and its target, and writes nothing."""
    target = measured / (sorted(measured.glob("*.TextGrid"))[0].name if name == "TextGrid" else name)
    target.unlink()
    target.symlink_to(measured / "gone" / "x")
    before = sorted(p.name for p in measured.iterdir())
    said = f"{target}: a link to {measured / 'gone' / 'x'}, which does not exist; remove the link or restore " \
        "what it points to"
    for argv in (["measure", str(measured), "--measures", "intensity", "--quiet", "--overwrite"],
                 ["stats", str(measured), "--measures", "intensity", "--quiet"],
                 ["annotate", str(measured), "--quiet"]):
        assert main(argv) == 2, argv
        assert capsys.readouterr().err.strip() == f"ganphon: error: {said}", argv
    assert sorted(p.name for p in measured.iterdir()) == before
