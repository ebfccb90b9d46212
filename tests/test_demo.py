"""The one-command demo on the bundled model (quick mode), and the bundled model itself."""

import json
import re

import pandas as pd
import pytest

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
        assert st.discover(lat[zs], prop, kind=kind).iloc[0]["var"] == top
        assert f"**{top}** ranks first" in (demo_run / "report.md").read_text()
    disc = info
    man = pd.read_csv(demo_run / f"sweep_{top}" / "manifest.csv")
    assert sorted(man["value"].unique()) == [-15.0, -5.0, 5.0] and (man["var"] == top).all()
    cman = pd.read_csv(demo_run / "sweep_c2" / "manifest.csv")
    assert sorted(cman["value"].unique()) == [0.0, 1.0, 2.0]
    for d in ("random", f"sweep_{top}", "sweep_c2"):
        ac = pd.read_csv(demo_run / d / "acoustics.csv", low_memory=False)
        assert set(ac["layer"]) == {"dense", "conv1", "conv2", "conv3", "conv4", "output"}
        assert (demo_run / d / "stats" / "summaries.txt").exists() or (demo_run / d / "stats" / "correlations.csv").exists()
    report = (demo_run / "report.md").read_text()
    for img in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report):
        assert (demo_run / img).stat().st_size > 1000
    assert "praat --run" in report and "measure_all.praat" in report
    html = (demo_run / "report.html").read_text()
    assert html.count("<img") == report.count("![") and "<table>" in html
    assert disc["seed"] == 1
