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


def _one_variable_p(x, y, kind):
    """p of one standardised variable's regression: likelihood-ratio (logit, by Newton's method) or t (OLS)."""
    from scipy import stats as sps

    x = (x - x.mean()) / x.std()
    X = np.column_stack([np.ones_like(x), x])
    if kind == "linear":
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ beta
        se = np.sqrt(resid @ resid / (len(y) - 2) / (x @ x))
        return 2 * sps.t.sf(abs(beta[1] / se), len(y) - 2)
    from conftest import logit_lr_p

    return logit_lr_p(x, y)[0]


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
    # the one record schema; the request is the folder's own (run.json)
    assert list(info)[:7] == ["kind", "command", "request", "versions", "seed", "timings", "inputs"]
    assert info["kind"] == "demo" and info["request"] == json.loads((demo_run / "run.json").read_text())["request"]
    assert set(info["timings"]) == {"discovery", "sweeps", "stats", "figures", "explorer"}
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
        joined = lat.merge(prop, on="sample_id")
        column = "has_fric" if kind == "logistic" else "fric_duration"
        # independent of ganphon and statsmodels: each variable's own regression by numpy alone (Newton's
        # method for the logit), its likelihood-ratio (logit) or t (OLS) p, Holm's adjustment by hand
        y = joined[column].to_numpy(float)
        p = {z: _one_variable_p(joined[z].to_numpy(float), y, kind) for z in zs[1:]}
        ranked = sorted(p, key=p.get)
        assert top == ranked[0]
        m = len(p)
        holm = max(min(1.0, (m - k) * p[z]) for k, z in enumerate(ranked[:1]))
        report = (demo_run / "report.md").read_text()
        found = re.search(rf"\*\*{top}\*\* ranks first \([^)]*p = ([0-9.e-]+)\) (but does not survive|and survives)"
                          rf" Holm's adjustment for the {m} tests \(Holm p = ([0-9.e-]+)\)", report)
        assert found, report[:3000]
        assert float(found.group(1)) == pytest.approx(p[top], rel=0.01)
        assert float(found.group(3)) == pytest.approx(holm, rel=0.01)
        assert (found.group(2) == "and survives") == (holm < 0.05)
        assert f"**{top}** ranks first and is swept below." in report
        table = report.split("## 1. Which latent variable", 1)[1].split("## 2.", 1)[0]
        header = next(line for line in table.splitlines() if line.startswith("| var"))
        assert header == "| var | coef | se | z | p | p_holm | rank | n |"
        rows = [line for line in table.splitlines() if re.match(r"\| z\d+ \|", line)]
        assert rows and all("|  |" not in row for row in rows)  # no empty cells
    disc = info
    man = pd.read_csv(demo_run / f"sweep_{top}" / "manifest.csv")
    assert sorted(man["value"].unique()) == [-15.0, -10.0, -5.0, 0.0, 5.0] and (man["var"] == top).all()
    cman = pd.read_csv(demo_run / "sweep_c2" / "manifest.csv")
    assert sorted(cman["value"].unique()) == [0.0, 0.5, 1.0, 1.5, 2.0]
    for d in ("random", f"sweep_{top}", "sweep_c2"):
        ac = io.read_acoustics(demo_run / d)  # acoustics.csv, or .parquet when large, joined with the manifest
        assert set(ac["layer"]) == {"dense", "conv1", "conv2", "conv3", "conv4", "output"}
        assert (demo_run / d / "stats" / "summaries.txt").exists() or (demo_run / d / "stats" / "correlations.csv").exists()
    report = (demo_run / "report.md").read_text()
    from matplotlib.image import imread

    for img in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report):  # PNGs that decode, not blank (drawn data: below)
        image = imread(demo_run / img)
        assert image.ndim == 3 and image[..., :3].std() > 0.01, img
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


def test_explore_on_a_demo_folder_pages_the_sweeps_and_names_the_folders_without_their_samples(demo_run, tmp_path,
                                                                                                capsys):
    """``ganphon explore DEMO`` (as its help offers) had stopped at the demo's atlas, which keeps its tables and
    not its samples' files: every folder keeping all its samples gets its page, each other one a note saying how
    many it keeps; the demo folder is only read."""
    def snapshot(folder):
        return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    kept, held = [], {}
    for manifest in sorted(demo_run.glob("*/manifest.csv")):
        table = pd.read_csv(manifest, dtype=str)
        outputs = table.loc[table["layer"] == "output", "file"].unique()
        present = sum((manifest.parent / name).is_file() for name in outputs)
        if present == len(outputs):
            kept.append(manifest.parent.name)
        else:
            held[manifest.parent.name] = (present, len(outputs))
    info = json.loads((demo_run / "demo.json").read_text())
    assert sorted(kept) == sorted(f"sweep_{var}" for var in (info["top_variable"], "c2")) and held
    before = snapshot(demo_run)
    capsys.readouterr()
    assert main(["explore", str(demo_run), "--out", str(tmp_path / "pages"), "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert sorted(err) == sorted(f"ganphon: note: {demo_run / name}: keeps the files of {k} of its {n} samples: "
                                 "no explorer page" for name, (k, n) in held.items())
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == sorted(kept)
    assert all((tmp_path / "pages" / name / "explore.html").is_file() for name in kept)
    assert snapshot(demo_run) == before


def test_a_demo_folder_given_where_one_run_goes_names_its_runs(demo_run, capsys):
    """``stats DEMO`` had said "no acoustic table; run 'ganphon measure' first" (and measure "no *.wav files"):
    a demo folder holds its runs in sub-folders, and each command taking one run says so, naming them."""
    before = {p.relative_to(demo_run): p.read_bytes() for p in demo_run.rglob("*") if p.is_file()}
    runs = sorted(p.parent.name for p in demo_run.glob("*/manifest.csv"))
    first = sorted(runs, key=lambda name: (not name.startswith("sweep_"), name))[0]
    for command in ("annotate", "measure", "stats", "plot", "export-wavs", "correlate-input"):
        capsys.readouterr()
        assert main([command, str(demo_run)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0] == (f"ganphon: error: {demo_run}: a demo folder, whose runs are its "
                                            f"sub-folders ({', '.join(sorted(runs, key=lambda n: (not n.startswith('sweep_'), n)))}); "
                                            f"give one of them, e.g. {demo_run / first}"), (command, err)
    assert first.startswith("sweep_")
    assert {p.relative_to(demo_run): p.read_bytes() for p in demo_run.rglob("*") if p.is_file()} == before


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


def test_report_first_screen_shows_a_figure_and_the_conclusions(demo_run):
    """In a 1280 × 900 browser window, report.html's first screen holds the summary figure and the
    conclusions: the discovery paragraph and the check sweep's paragraph whole, the code sweep's
    paragraph begun; the tables come later.  The screenshot is kept as first_screen.png."""
    from chromium import Browser
    from conftest import require_chromium

    chromium, driver = require_chromium()
    browser = Browser(chromium, driver)
    try:
        browser.window(1280, 900)
        browser.open(demo_run / "report.html")
        page = browser.js("""
            const box = e => { const r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom,
                                                                          width: r.width, height: r.height}; };
            const img = document.images[0];
            const found = Array.from(document.querySelectorAll('h2'))
                .find(h => h.textContent.startsWith('What the demo found'));
            const paras = [];
            for (let e = found.nextElementSibling; e && e.tagName === 'P'; e = e.nextElementSibling)
                paras.push({text: e.textContent, box: box(e)});
            return {height: window.innerHeight, width: window.innerWidth, scroll: window.scrollY,
                    img: {src: img.getAttribute('src'), complete: img.complete, natural: img.naturalWidth,
                          box: box(img)},
                    heading: box(found), paras: paras,
                    table: box(document.querySelector('table'))};""")
        shot = browser.screenshot(demo_run / "first_screen.png")
    finally:
        browser.close()
    import matplotlib.image

    assert matplotlib.image.imread(shot).shape[:2] == (page["height"], page["width"])
    assert page["scroll"] == 0 and page["height"] >= 700
    img = page["img"]
    assert img["src"] == "figures/sweep_slopes.png" and img["complete"] and img["natural"] > 800
    assert 0 <= img["box"]["top"] and img["box"]["bottom"] <= page["height"] and img["box"]["height"] > 200
    info = json.loads((demo_run / "demo.json").read_text())
    texts = [p["text"] for p in page["paras"]]
    assert texts[0].startswith("Discovery") and texts[1].startswith(f"{info['top_variable']} from −15 to 5")
    assert texts[2].startswith("c2 from 0 to 2")
    for para in page["paras"][:2]:
        assert para["box"]["bottom"] <= page["height"], para
    assert page["paras"][2]["box"]["top"] < page["height"] - 40  # its first lines at least
    assert page["table"]["top"] > page["height"]  # tables only below the first screen


def test_conclusions_are_the_fitted_slopes_in_raw_units(demo_run, tmp_path):
    """Every slope the conclusions state (ms, Hz, dB per unit of the swept value) is the output's mixed
    model refitted independently by lme4 + lmerTest: refit.R, run by Rscript from the demo folder as the
    report writes it; and the check sweep's shares of outputs with frication are counted from the
    TextGrids."""
    import subprocess

    from conftest import require_rscript

    from ganphon.stats.lme4 import frame_name

    exe = require_rscript()
    info = json.loads((demo_run / "demo.json").read_text())
    report = (demo_run / "report.md").read_text()
    found = report.split("## What the demo found", 1)[1].split("## Figures", 1)[0]
    units = {"ms": 1000.0, "Hz": 1.0, "dB": 1.0}
    checked = 0
    for var in (info["top_variable"], info["code_variable"]):
        para = next(line for line in found.splitlines() if line.startswith(f"**{var} from"))
        done = subprocess.run([exe, "--vanilla", f"sweep_{var}/stats/frames/refit.R"], cwd=demo_run,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        for effect in info["conclusions"][var]["effects"]:
            name = frame_name(effect["outcome"], "output", effect["label"])
            block = done.stdout.split(f"== {name} ==")[1].split("==")[0]
            table = re.split(r"Fixed effects:|Coefficients:", block)[1]  # lmer, or lm for an OLS fallback
            estimate = float(re.search(r"\nvalue\s+(\S+)", table).group(1))
            slope = estimate * units[effect["unit"]]
            if effect["slope"] != pytest.approx(slope, rel=2e-3, abs=1e-4):
                # a plain lmer can stop short at a boundary (SPEC §9): then ganphon's maximum must be higher
                r_llf = float(re.search(r"logLik\s+deviance.*\n\s*\S+\s+\S+\s+(\S+)", block).group(1))
                models = pd.read_csv(demo_run / f"sweep_{var}" / "stats" / "mixed_models.csv")
                row = models[(models["outcome"] == effect["outcome"]) & (models["label"] == effect["label"])
                             & (models["layer"] == "output") & (models["term"] == "value")]
                assert float(row["llf"].iloc[0]) > r_llf + 0.05, (effect, slope, r_llf)
            stated = re.search(rf"{effect['name']} ([+−][0-9.e+−]+) {effect['unit']} per unit", para)
            if effect["ci_low"] > 0 or effect["ci_high"] < 0:  # an effect: stated with its number
                assert stated, (effect["name"], para)
                assert float(stated.group(1).replace("−", "-")) == pytest.approx(slope, rel=6e-3, abs=1e-3)
                checked += 1
            else:
                assert not stated and effect["name"] in para.split("No effect in the output", 1)[1]
    assert checked >= 1
    # the check sweep's verdict names presence with the shares per end of the sweep
    import ganphon.stats as st

    top = info["top_variable"]
    prop = st.frication_property(demo_run / f"sweep_{top}")
    man = pd.read_csv(demo_run / f"sweep_{top}" / "manifest.csv", dtype={"sample_id": str})
    share = man[man["layer"] == "output"].merge(prop, on="sample_id").groupby("value")["has_fric"].mean()
    para = next(line for line in found.splitlines() if line.startswith(f"**{top} from"))
    assert (f"outputs with frication {100 * share.iloc[0]:.0f} % at −15, {100 * share.iloc[-1]:.0f} % at 5"
            in para)
    assert re.search(rf"{top} (moves frication in|moves frication only weakly in|does not move frication in) "
                     "its own sweep", para)


def test_effects_figure_is_a_grid_readable_in_the_page(demo_run):
    import matplotlib.image

    top = json.loads((demo_run / "demo.json").read_text())["top_variable"]
    effects = pd.read_csv(demo_run / f"sweep_{top}" / "stats" / "effects.csv")
    panels = len(effects.groupby(["outcome", "label"]))
    height, width = matplotlib.image.imread(demo_run / "figures" / f"effects_{top}.png").shape[:2]
    assert panels == 8 and width <= 1400 and height >= 600  # 4 × 2, not 8 in one row


def test_redo_commands_run_as_written_and_rebuild_the_demo(demo_run, tmp_path, praat_exe):
    """The report's 'Redo any step' lines, run by bash in a fresh folder as written, give the demo's
    numbers again: one line of each kind runs (the swept variable's sweep, its stats, plot, explore,
    the Praat measurement by ganphon and by Praat's own script); the other two sweeps, whose export
    is the same code, are parsed by the command line and must give the demo's latents, and the
    random folder's stats line must parse."""
    import contextlib
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
    assert len(blocks) == 3 and "--checkpoint demo " in blocks[0] and "site-packages" not in blocks[0]
    assert blocks[1].strip() == f"Rscript sweep_{json.loads((demo_run / 'demo.json').read_text())['top_variable']}" \
                                "/stats/frames/refit.R"  # run from the demo folder in test_conclusions_…
    top = json.loads((demo_run / "demo.json").read_text())["top_variable"]
    lines = [line for line in blocks[0].splitlines() if line.strip()]
    words = [line.split("#")[0].split() for line in lines]
    skipped = [line for line, w in zip(lines, words)
               if w[1] == "sweep" and f"sweep_{top}" not in w or w[1:3] == ["stats", "random"]]
    assert len(lines) == 8 and len(skipped) == 3
    run = "\n".join(line for line in lines if line not in skipped)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    for block in (run, blocks[2]):
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
        with contextlib.chdir(demo_run):  # as written: run from the demo folder, where its folders are
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


def test_demo_figures_draw_their_series_and_tables(demo_run):
    """What each figure of the report shows, read from its PNG: the layer series (from the native Sounds
    by hand), the effects' points, the colour of each r (tests/drawn.py)."""
    from drawn import assert_heatmap_colours, assert_png_line, assert_png_markers, layer_series_by_hand

    from ganphon import plots

    info = json.loads((demo_run / "demo.json").read_text())
    top, code, sid = info["top_variable"], info["code_variable"], info["stack_sample"]
    figures = demo_run / "figures"
    # the layer stack: conv4 of the typical sample, from its native Sound by hand
    fig = plots.layer_stack_figure(demo_run / "random", sid)
    layers = [ax.get_ylabel() for ax in fig.axes]
    sr, y = layer_series_by_hand(demo_run / "random", sid, "conv4")
    clear = y > 0.05 * y.max()  # off the frame: a series at 0 lies under the axis line
    t = np.arange(len(y)) / sr
    assert_png_line(figures / f"layer_stack_{sid}.png", fig.axes[layers.index("conv4")], t[clear], y[clear],
                    "#08519c", reach=2, tol=0.3)
    # each sweep grid: conv2 of base 0 at every swept value
    for var in (top, code):
        folder = demo_run / f"sweep_{var}"
        fig = plots.sweep_grid_figure(folder, base=0)
        columns = [ax.get_title() for ax in fig.axes[:len(set(io.read_manifest(folder)["layer"]))]]
        grid = np.array(fig.axes).reshape(-1, len(columns))
        for i in range(len(grid)):
            sr, y = layer_series_by_hand(folder, f"b000_v{i:03d}", "conv2")
            clear = y > 0.05 * y.max()
            assert_png_line(figures / f"sweep_grid_{var}.png", grid[i, columns.index("conv2")],
                            (np.arange(len(y)) / sr)[clear], y[clear], "#08519c", reach=2, tol=0.3)
        # the effects: a point at each layer's standardised slope
        effects = pd.read_csv(folder / "stats" / "effects.csv")
        fig = plots.effects_figure(effects)
        panels = effects["outcome"].astype(str) + " · " + effects["label"].fillna("all").astype(str)
        every = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            part = effects[panels == ax.get_title()].dropna(subset=["beta"])
            assert len(part)
            x = [every.index(layer) for layer in part["layer"]]
            assert_png_markers(figures / f"effects_{var}.png", ax, x, part["beta"], "#08519c")
    # the correlations heat map: the colour of each r
    corr = pd.read_csv(demo_run / "random" / "stats" / "correlations.csv")
    fig = plots.correlations_figure(corr)
    ax = fig.axes[0]
    measures = list(dict.fromkeys(corr["measure"]))
    layers = [t.get_text() for t in ax.get_xticklabels()]
    r = corr.drop_duplicates(["measure", "layer"]).set_index(["measure", "layer"])["r"]
    assert_heatmap_colours(figures / "correlations.png", ax, r, measures, layers)
