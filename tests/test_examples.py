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


def test_speech_q_layers_example_runs(tiny_ciwgan, tmp_path):
    script = [p for p in EXAMPLES if p.name == "speech_q_layers.py"][0]
    out = subprocess.run([sys.executable, str(script), "--checkpoint", str(tiny_ciwgan), "--n", "4",
                          "--words", "ta,pi", "--workers", "1", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    corr = pd.read_csv(tmp_path / "correlations.csv")
    assert set(corr["layer"]) <= {f"conv{i}" for i in range(1, 6)} and set(corr["measure"]) <= {"intensity", "f0"}
    assert len(corr) > 0
    confusion = pd.read_csv(tmp_path / "confusion.csv")
    assert sorted(confusion["label"]) == ["pi", "ta"] and confusion.filter(like="code_").to_numpy().sum() == 4
    manifest = pd.read_csv(tmp_path / "q_layers" / "manifest.csv")
    assert set(manifest["layer"]) == {"output", *(f"conv{i}" for i in range(1, 6))}
