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
