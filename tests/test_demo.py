"""The one-command demo on the bundled model (quick mode), and the bundled model itself."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from ganphon import io
from ganphon.cli import main
from ganphon.models import load_checkpoint
from ganphon.models.bundled import DATA, DEMO_CARD, DEMO_G, DEMO_Q


def test_bundled_model_loads_with_its_q_network_and_card():
    m = load_checkpoint("demo")
    assert m.config.arch == "ciwgan" and m.config.n_codes == 3
    assert m.qnetwork is not None
    size = (DATA / DEMO_G).stat().st_size + (DATA / DEMO_Q).stat().st_size
    assert size <= 25 * 2**20
    card = json.loads((DATA / DEMO_CARD).read_text())
    for key in ("corpus", "training", "reproduce", "evaluation"):
        assert card[key]
    assert card["training"]["steps"] == m.meta["steps"]
    assert 0 <= card["evaluation"]["q_accuracy"] <= 1


def test_the_cards_evaluation_is_what_evaluate_model_finds_in_the_bundled_files():
    """The numbers the card (and so the README and the demo report) quote are today's evaluation
    of the bundled fp16 files, not of an older evaluator or another checkpoint."""
    from ganphon.train.evaluate import evaluate_model

    card = json.loads((DATA / DEMO_CARD).read_text())["evaluation"]
    assert evaluate_model(load_checkpoint("demo"), n=card["n"], seed=card["seed"]) == card


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    import os

    where = tmp_path_factory.mktemp("demo")
    cwd = os.getcwd()
    os.chdir(where)  # a relative --out, as a user types it
    try:
        assert main(["demo", "--out", "run", "--quick", "--quiet"]) == 0
    finally:
        os.chdir(cwd)
    return where / "run"


def test_demo_report_and_its_parts(demo_run):
    info = json.loads((demo_run / "demo.json").read_text())
    top = info["top_variable"]
    assert re.fullmatch(r"z\d+", top)
    # the swept variable is the one an independent discovery call ranks first
    import ganphon.stats as st

    prop = st.frication_property(demo_run / "random")
    lat = pd.read_csv(demo_run / "random" / "latents.csv")
    zs = ["sample_id"] + [c for c in lat.columns if c.startswith("z")]
    kind = "logistic" if 0 < prop["has_fric"].mean() < 1 else "linear"
    if info["discovery_kind"] == "none":  # nothing to discover: every sample has the same frication
        assert kind == "linear" and prop["fric_duration"].std() < 1e-6 and top == "z11"
    else:
        assert info["discovery_kind"] == kind
        ranking = st.discover(lat[zs], prop, kind=kind)
        assert ranking.iloc[0]["var"] == top
        joined = lat.merge(prop, on="sample_id")
        column = "has_fric" if kind == "logistic" else "fric_duration"
        if ranking["method"].iloc[0].startswith("logit-l1"):
            # more variables than samples: the L1-penalised logit (alpha 1 on the summed log-likelihood,
            # standardised z, free intercept).  Checked with numpy alone through its optimality
            # conditions: the score of a selected variable is exactly alpha times its sign, that of
            # every other variable at most alpha; the top variable has the largest |coefficient|.
            y = joined[column].to_numpy(float)
            x = joined[list(ranking["var"])].to_numpy(float)
            x = (x - x.mean(axis=0)) / x.std(axis=0)
            coef = ranking["coef"].to_numpy(float)
            eta = x @ coef
            low, high = -50.0, 50.0  # the free intercept: the scores sum to zero
            for _ in range(200):
                mid = (low + high) / 2
                low, high = (mid, high) if np.sum(y - 1 / (1 + np.exp(-(mid + eta)))) > 0 else (low, mid)
            score = x.T @ (y - 1 / (1 + np.exp(-(low + eta))))
            chosen = np.abs(coef) > 1e-8
            assert chosen.any()
            assert np.allclose(score[chosen], np.sign(coef[chosen]), atol=1e-3)
            assert np.all(np.abs(score[~chosen]) <= 1 + 1e-3)
            assert ranking["var"].iloc[int(np.argmax(np.abs(coef)))] == top
        else:
            # independent of ganphon's regression: numpy's Pearson r of every z with the property
            r = {z: abs(np.corrcoef(joined[z], joined[column])[0, 1]) for z in zs[1:]}
            assert top in sorted(r, key=r.get, reverse=True)[:3]
        assert f"**{top}** ranks first" in (demo_run / "report.md").read_text()
    disc = info
    man = pd.read_csv(demo_run / f"sweep_{top}" / "manifest.csv")
    assert sorted(man["value"].unique()) == [-15.0, -5.0, 5.0] and (man["var"] == top).all()
    cman = pd.read_csv(demo_run / "sweep_c2" / "manifest.csv")
    assert sorted(cman["value"].unique()) == [0.0, 1.0, 2.0]
    for d in ("random", f"sweep_{top}", "sweep_c2"):
        ac = io.read_acoustics(demo_run / d)  # acoustics.csv, or .parquet when large, joined with the manifest
        assert set(ac["layer"]) == {"dense", "conv1", "conv2", "conv3", "conv4", "output"}
        assert (demo_run / d / "stats" / "summaries.txt").exists() or (demo_run / d / "stats" / "correlations.csv").exists()
    report = (demo_run / "report.md").read_text()
    for img in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report):
        assert (demo_run / img).stat().st_size > 1000
    assert "praat --run" in report and "measure_all.praat" in report
    # the model described from its card: the commands that made it and its evaluation
    card = json.loads((DATA / DEMO_CARD).read_text())
    for command in card["reproduce"]:
        assert f"`{command}`" in report
    assert f"{100 * card['evaluation']['share_word']:.0f} % have a word shape" in report
    assert f"{100 * card['evaluation']['share_sibilant']:.0f} % begin with an [s]" in report
    html = (demo_run / "report.html").read_text()
    assert html.count("<img") == report.count("![") and "<table>" in html
    assert disc["seed"] == 1


def test_report_has_listening_copies_and_explorer_links(demo_run):
    import numpy as np
    import scipy.io.wavfile

    report = (demo_run / "report.md").read_text()
    sounds = re.findall(r"\[▶ ([a-z0-9]+)\]\(([^)]+\.wav)\)", report)
    assert [layer for layer, _ in sounds] == ["output", "dense", "conv1", "conv2", "conv3", "conv4"]
    for _, path in sounds:
        assert not path.startswith("/")  # relative: the folder can move
        sr, pcm = scipy.io.wavfile.read(demo_run / path)
        assert pcm.dtype == np.int16 and sr == 16000
    assert "listening copies: 16-bit PCM" in report
    html = (demo_run / "report.html").read_text()
    assert html.count("<audio") == len(sounds)
    info = json.loads((demo_run / "demo.json").read_text())
    for var in (info["top_variable"], "c2"):
        assert f"(sweep_{var}/explore.html)" in report and (demo_run / f"sweep_{var}" / "explore.html").is_file()


def test_report_html_in_headless_chromium(demo_run):
    from chromium import Browser
    from conftest import require_chromium

    chromium, driver = require_chromium()
    browser = Browser(chromium, driver)
    try:
        browser.open(demo_run / "report.html")
        images = browser.js("return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
        assert images and all(done and width > 100 for _, done, width in images), images
        sources = browser.js("return Array.from(document.querySelectorAll('audio')).map(a => a.getAttribute('src'))")
        assert len(sources) == 6 and all((demo_run / s).is_file() for s in sources)
        durations = browser.js_async(
            "const done = arguments[arguments.length - 1]; const all = Array.from(document.querySelectorAll('audio'));"
            "Promise.all(all.map(a => new Promise(r => { a.preload = 'metadata'; a.onloadedmetadata = () => r(a.duration);"
            "a.onerror = () => r(-1); a.load(); }))).then(done);")
        assert durations == [pytest.approx(1.024)] * 6
        assert browser.console() == []
    finally:
        browser.close()


def test_redo_commands_run_as_written_and_rebuild_the_demo(demo_run, tmp_path, praat_exe):
    """The report's 'Redo any step' lines, run by bash in a fresh folder as written, give the demo's
    numbers again: one line of each kind runs (the swept variable's sweep, its stats, plot, explore,
    the Praat measurement by ganphon and by Praat's own script); the other two sweeps, whose export
    is the same code, are parsed by the command line and must give the demo's latents, and the
    random folder's stats line must parse."""
    import os
    import subprocess
    import sys

    import numpy as np

    from ganphon.cli import build_parser
    from ganphon.cli.sweep import spec_from_args
    from ganphon.sweep import make_design

    report = (demo_run / "report.md").read_text()
    section = report.split("## 5. Redo any step", 1)[1]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(blocks) == 2 and "--checkpoint demo " in blocks[0] and "site-packages" not in blocks[0]
    top = json.loads((demo_run / "demo.json").read_text())["top_variable"]
    lines = [line for line in blocks[0].splitlines() if line.strip()]
    words = [line.split("#")[0].split() for line in lines]
    skipped = [line for line, w in zip(lines, words)
               if w[1] == "sweep" and f"sweep_{top}" not in w or w[1:3] == ["stats", "random"]]
    assert len(lines) == 8 and len(skipped) == 3
    run = "\n".join(line for line in lines if line not in skipped)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    for block in (run, blocks[1]):
        done = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / f"sweep_{top}" / "latents.csv").read_text() == (demo_run / f"sweep_{top}" / "latents.csv").read_text()
    mine = io.read_acoustics(tmp_path / f"sweep_{top}")
    theirs = io.read_acoustics(demo_run / f"sweep_{top}")
    pd.testing.assert_frame_equal(mine, theirs)
    effects = pd.read_csv(tmp_path / f"sweep_{top}" / "stats" / "effects.csv")
    pd.testing.assert_frame_equal(effects, pd.read_csv(demo_run / f"sweep_{top}" / "stats" / "effects.csv"))
    assert list((tmp_path / f"sweep_{top}" / "figures").glob("*.png"))
    praat_rows = pd.read_csv(tmp_path / f"sweep_{top}" / "acoustics_praat.tsv", sep="\t")
    assert len(praat_rows) == len(theirs)
    assert (tmp_path / f"sweep_{top}" / "explore.html").is_file()
    assert len(pd.read_csv(tmp_path / f"sweep_{top}" / "acoustics_praat.csv", low_memory=False)) == len(theirs)
    # the lines not run: valid command lines; the sweeps' designs are the demo's latents
    model = load_checkpoint("demo", qnetwork=False)
    for line in skipped:
        args = build_parser(line.split("#")[0].split()[1:]).parse_args(line.split("#")[0].split()[1:])
        if args.command == "sweep":
            design = make_design(model.config, spec_from_args(args))
            theirs = pd.read_csv(demo_run / args.out / "latents.csv", dtype={"sample_id": str})
            assert design.sample_ids == theirs["sample_id"].tolist()
            columns = [c for c in theirs.columns if re.fullmatch(r"[zc]\d+", c)]
            assert len(columns) == design.latents.shape[1]
            np.testing.assert_allclose(design.latents.numpy(), theirs[columns].to_numpy(), rtol=1e-6, atol=1e-6)


def test_demo_refuses_a_folder_that_is_not_a_demo(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", "--out", str(tmp_path), "--quick", "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_measure_refuses_to_replace_a_different_measurement(demo_run, capsys):
    top = json.loads((demo_run / "demo.json").read_text())["top_variable"]
    folder = demo_run / f"sweep_{top}"
    table = io.acoustics_path(folder)
    before = table.read_bytes()
    assert main(["measure", str(folder), "--points", "3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "holds a different measurement (points 10 → 3)" in err and "--overwrite" in err
    assert table.read_bytes() == before


def test_readme_toml_example_runs_on_the_bundled_model(tmp_path):
    """The README's code-path TOML example: its design builds on the bundled 3-code model, and a
    1-base copy of it runs end to end."""
    from pathlib import Path

    from ganphon.sweep import load_spec, make_design, run_sweep

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    toml = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "code_path.toml").write_text(toml)
    spec = load_spec(tmp_path / "code_path.toml")
    model = load_checkpoint("demo", qnetwork=False)
    design = make_design(model.config, spec)
    assert len(design) == spec["bases"] * 25  # [1.5,0,0] → [0,0,0] → [0,1.5,0] in steps of 0.125
    assert design.latents[:25, :3].tolist()[0] == [1.5, 0.0, 0.0] and design.latents[24, :3].tolist() == [0.0, 1.5, 0.0]
    small = dict(spec, bases=1)
    table = run_sweep(small, model, tmp_path / "path", workers=1, progress=False)
    assert table["sample_id"].nunique() == 25
