"""model-info's training commands of the bundled model, evaluate-model's table and JSON."""

import json
import re

import pytest

from ganphon.cli import main
from ganphon.models.bundled import DATA, DEMO_CARD


def test_model_info_of_the_bundled_model_shows_the_cards_training_commands(capsys, tiny_ciwgan):
    assert main(["model-info", "--checkpoint", "demo"]) == 0
    out = capsys.readouterr().out
    card = json.loads((DATA / DEMO_CARD).read_text())
    lines = out.splitlines()
    made = next(i for i, line in enumerate(lines) if line.startswith("made by (its card"))
    assert f"{card['training']['steps']} steps" in lines[made]
    assert [line.strip() for line in lines[made + 1:made + 1 + len(card["reproduce"])]] == card["reproduce"]
    assert card["reproduce"][-1].startswith("ganphon train ") and "--steps 16500" in card["reproduce"][-1]
    # another checkpoint has no card: nothing is claimed about how it was made
    assert main(["model-info", "--checkpoint", str(tiny_ciwgan)]) == 0
    assert "made by" not in capsys.readouterr().out


def _table_rows(text):
    return {re.split(r"\s{2,}", line.strip())[0]: re.split(r"\s{2,}", line.strip())[1:]
            for line in text.splitlines()[2:] if re.search(r"\s{2,}", line)}


def test_evaluate_model_prints_a_table_and_json_on_request(capsys, tmp_path):
    from ganphon.models import load_checkpoint
    from ganphon.train.evaluate import evaluate_model

    expected = evaluate_model(load_checkpoint("demo"), n=12, seed=2)
    assert main(["evaluate-model", "--checkpoint", "demo", "--n", "12", "--seed", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == expected
    assert main(["evaluate-model", "--checkpoint", "demo", "--n", "12", "--seed", "2",
                 "--json", str(tmp_path / "eval.json")]) == 0
    table = capsys.readouterr().out
    assert json.loads((tmp_path / "eval.json").read_text()) == expected
    assert not table.lstrip().startswith("{")
    lines = table.splitlines()
    assert lines[0] == "12 generated samples (seed 2)"
    codes = list(expected["by_code"])
    assert lines[1].split() == ["all", *codes]
    rows = _table_rows(table)
    assert rows["outputs"] == ["12", *[str(expected["by_code"][c]["n"]) for c in codes]]
    for key, label in (("share_word", "word-shaped (silence around, frication before the vowel)"),
                       ("share_voiced_vowel", "a vowel Praat calls voiced"),
                       ("share_s_initial", "#sTV: [s] + closure")):
        values = [expected[key]] + [expected["by_code"][c][key] for c in codes]
        assert rows[label] == [f"{100 * v:.1f} %" for v in values]
    assert rows["dominant word type"] == [expected["by_code"][c]["dominant_type"] for c in codes]
    assert f"Q-network accuracy on the codes: {100 * expected['q_accuracy']:.1f} %" in table
    assert f"code identity (smallest dominant share): {100 * expected['code_identity_min']:.1f} %" in table


def _tree_bytes(folder):
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


def test_a_file_named_by_an_option_is_checked_before_the_work_and_replaced_only_when_asked(capsys, tmp_path,
                                                                                          tiny_ciwgan):
    """new-model / import-checkpoint --out FILE and evaluate-model --json FILE: one class, one check."""
    from ganphon.cli import COMMANDS, build_parser
    from ganphon.models import load_checkpoint

    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(tiny_ciwgan.read_bytes())
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / "folder").mkdir()
    fresh = ["new-model", "--arch", "ciwgan", "--codes", "2", "--dim", "4"]
    evaluate = ["evaluate-model", "--checkpoint", str(ckpt), "--n", "2"]
    refused = [
        ([*fresh, "--out", str(tmp_path / "notes.txt")], "notes.txt: exists; add --overwrite"),
        ([*fresh, "--out", str(tmp_path / "folder")], "folder: is a folder; --out takes a file name"),
        ([*fresh, "--out", str(tmp_path / "notes.txt" / "m.pt")], "notes.txt is not a folder"),
        ([*evaluate, "--json", str(ckpt)], "is the --checkpoint input, and --json would overwrite it"),
        ([*evaluate, "--json", str(ckpt), "--overwrite"], "is the --checkpoint input, and --json would overwrite it"),
        ([*evaluate, "--json", str(tmp_path / "notes.txt")], "notes.txt: exists; add --overwrite"),
        ([*evaluate, "--json", str(tmp_path / "folder")], "folder: is a folder; --json takes a file name"),
        (["import-checkpoint", str(ckpt), "--arch", "ciwgan", "--out", str(ckpt), "--overwrite"],
         "is the generator input, and --out would overwrite it"),
        (["import-checkpoint", str(tmp_path / "G.pt"), "--arch", "ciwgan", "--q", str(ckpt), "--out", str(ckpt),
          "--overwrite"], "is the --q input, and --out would overwrite it"),
    ]
    before = _tree_bytes(tmp_path)
    for argv, message in refused:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("error:") == 1 and message in err, (argv, err)
        assert "code identity" not in err  # refused before evaluating
        assert _tree_bytes(tmp_path) == before, argv  # nothing written, nothing replaced
    # asked for: replaced; missing folders on the path are made
    assert main([*fresh, "--out", str(tmp_path / "notes.txt"), "--overwrite"]) == 0
    assert load_checkpoint(tmp_path / "notes.txt").config.dim == 4
    assert main([*evaluate, "--json", str(tmp_path / "new" / "eval.json")]) == 0
    assert json.loads((tmp_path / "new" / "eval.json").read_text())["n"] == 2
    # a file of a folder ganphon wrote is never replaced by another command's output file, --overwrite or not
    # (new-model --out EXPORT/manifest.csv --overwrite had put a checkpoint where the export's manifest was;
    # measure OTHER --out EXPORT/sample_output.wav had written a CSV there)
    export = tmp_path / "export"
    assert main(["probe", "--checkpoint", str(ckpt), "--n", "1", "--layers", "conv1", "--out", str(export),
                 "--quiet"]) == 0
    other = tmp_path / "other"
    assert main(["probe", "--checkpoint", str(ckpt), "--n", "1", "--layers", "conv1", "--out", str(other),
                 "--quiet"]) == 0
    sample = next(export.glob("*_output.wav"))
    before = _tree_bytes(export)
    for argv, option, name in [
            ([*fresh, "--out", str(export / "manifest.csv"), "--overwrite"], "--out", "manifest.csv"),
            ([*evaluate, "--json", str(export / "latents.csv"), "--overwrite"], "--json", "latents.csv"),
            (["measure", str(other), "--out", str(export / sample.name), "--overwrite", "--quiet"], "--out",
             sample.name),
            (["measure", str(export), "--out", str(export / "latents.csv"), "--overwrite", "--quiet"], "--out",
             "latents.csv")]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err == (f"ganphon: error: {export / name}: is one of the files of the export folder {export}; "
                       f"{option} would overwrite it; choose another name"), (argv, err)
        assert _tree_bytes(export) == before, argv
    # a folder of the user's is the user's to overwrite; measure's own table, named by --out, is measure's
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "manifest.csv").write_text("x\n")
    assert main([*fresh, "--out", str(tmp_path / "mine" / "manifest.csv"), "--overwrite"]) == 0
    table = export / "pitch.csv"
    for again in ([], ["--overwrite"]):
        assert main(["measure", str(export), "--out", str(table), "--measures", "intensity", "--tier", "", "--quiet",
                     *again]) == 0
    assert table.is_file()
    # the registry: exactly these options name one output file
    parser = build_parser(list(COMMANDS))
    marked = {name: sub.get_default("file_outputs") for name, sub in
              parser._subparsers._group_actions[0].choices.items() if sub.get_default("file_outputs")}
    assert marked == {"new-model": ("out",), "import-checkpoint": ("out",), "evaluate-model": ("json",),
                      "correlate-input": ("out",)}
