"""The example scripts parse and explain themselves; one runs end to end on a tiny model."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_help_names_the_paper_analysis(script):
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout and ("Beguš" in out.stdout or "paper" in out.stdout)


def test_feature_map_example_runs(tiny_ciwgan, tmp_path):
    script = [p for p in EXAMPLES if p.name == "feature_maps.py"][0]
    out = subprocess.run([sys.executable, str(script), "--checkpoint", str(tiny_ciwgan), "--n", "6",
                          "--gamma", "1", "--layer", "conv2", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    ranking = pd.read_csv(tmp_path / "ranking_conv2.csv")
    assert len(ranking) == 32  # d = 8: conv2 has 4d channels
    assert (tmp_path / "profiles_conv2.png").stat().st_size > 1000
    assert np.all(np.diff(ranking.iloc[:, 1].to_numpy()) <= 1e-12)  # sorted by distance
