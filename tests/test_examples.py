"""The example scripts run end to end at small sizes on a tiny model; their main
outputs are checked against values computed here independently (the sweep grid
and path by hand, Pearson r with numpy, feature maps by a forward pass written
out layer by layer)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


def run_example(name, *args, timeout=300):
    """Run ``examples/<name>`` with ``args``; its stdout (fails with its stderr)."""
    script = Path(__file__).parent.parent / "examples" / name
    out = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout


def read_latents(folder):
    return pd.read_csv(folder / "latents.csv", dtype={"sample_id": str}).set_index("sample_id")


def assert_bases_fixed(latents, varied, n_bases, n_steps):
    """Every sample of a base shares every latent but ``varied``; bases differ; uniform noise."""
    noise = [c for c in latents.columns if c.startswith("z") and c not in varied]
    assert len(latents) == n_bases * n_steps
    firsts = []
    for b in range(n_bases):
        rows = latents.loc[[f"b{b:03d}_v{i:03d}" for i in range(n_steps)]]
        fixed = rows.drop(columns=varied)
        assert (fixed.nunique() == 1).all(), f"base {b}: {list(fixed.columns[fixed.nunique() > 1])} vary"
        firsts.append(rows[noise].iloc[0].to_numpy())
    assert not np.allclose(firsts[0], firsts[1])
    assert np.abs(np.concatenate(firsts)).max() <= 1.0  # ciwGAN noise ~ U(-1, 1)


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_help_names_the_paper_analysis(script):
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout and ("Beguš" in out.stdout or "paper" in out.stdout)


def test_z_sweep_example(tiny_ciwgan, tmp_path):
    out = tmp_path / "z"
    run_example("z_sweep.py", "--checkpoint", tiny_ciwgan, "--var", "z11", "--start", -3, "--stop", 3,
                "--step", 2, "--bases", 3, "--measures", "intensity", "--workers", 1, "--out", out)
    latents = read_latents(out)
    expected = np.arange(-3, 3 + 2 / 2, 2)
    for b in range(3):
        values = latents.loc[[f"b{b:03d}_v{i:03d}" for i in range(len(expected))], "z11"].to_numpy()
        np.testing.assert_array_equal(values, expected)
        codes = latents.loc[f"b{b:03d}_v000", ["c1", "c2"]].to_numpy()
        assert sorted(codes) == [0.0, 1.0]  # a one-hot code, fixed along the sweep
    assert_bases_fixed(latents, ["z11"], 3, len(expected))
    acoustics = pd.read_csv(out / "acoustics.csv", dtype={"sample_id": str})
    np.testing.assert_array_equal(acoustics["z11"], latents.loc[acoustics["sample_id"], "z11"])
    lrt = pd.read_csv(out / "stats" / "lrt.csv")
    assert set(lrt["outcome"]) <= {"intensity"}
    assert (out / "figures" / "sweep_grid_base0.png").stat().st_size > 1000


def test_z_sweep_example_on_a_code_variable(tiny_ciwgan, tmp_path):
    out = tmp_path / "c2"
    run_example("z_sweep.py", "--checkpoint", tiny_ciwgan, "--var", "c2", "--start", 0, "--stop", 1,
                "--step", 0.5, "--bases", 2, "--measures", "intensity", "--workers", 1, "--out", out)
    latents = read_latents(out)
    for b in range(2):
        rows = latents.loc[[f"b{b:03d}_v{i:03d}" for i in range(3)]]
        np.testing.assert_array_equal(rows["c2"], [0.0, 0.5, 1.0])
        np.testing.assert_array_equal(rows["c1"], [0.0, 0.0, 0.0])  # the other code stays 0
    assert_bases_fixed(latents, ["c2"], 2, 3)
    assert (out / "figures" / "sweep_grid_base0.png").stat().st_size > 1000


def test_reduplication_path_example(tiny_ciwgan, tmp_path):
    out = tmp_path / "redup"
    run_example("reduplication_path.py", "--checkpoint", tiny_ciwgan, "--step", 0.5, "--bases", 2,
                "--measures", "intensity", "--workers", 1, "--out", out)
    # [1.5, 0] -> [0, 0] -> [0, 1.5] in steps of 0.5, by hand
    path = [(1.5, 0), (1.0, 0), (0.5, 0), (0, 0), (0, 0.5), (0, 1.0), (0, 1.5)]
    latents = read_latents(out)
    for b in range(2):
        rows = latents.loc[[f"b{b:03d}_v{i:03d}" for i in range(len(path))], ["c1", "c2"]]
        np.testing.assert_array_equal(rows.to_numpy(), np.array(path, dtype=float))
    assert_bases_fixed(latents, ["c1", "c2"], 2, len(path))
    assert (out / "figures" / "sweep_grid_base0.png").stat().st_size > 1000


def test_layer_correlations_example(tiny_ciwgan, tmp_path):
    out = tmp_path / "corr"
    # an untrained generator's output is its stack's buzz: no 'voi' under the buzz rule, so both labels
    run_example("layer_correlations.py", "--checkpoint", tiny_ciwgan, "--n", 8, "--workers", 1, "--out", out,
                "--labels", "voi,fric")
    table = pd.read_csv(out / "figures" / "correlations.csv")
    acoustics = pd.read_csv(out / "acoustics.csv", dtype={"sample_id": str})
    keys = ["sample_id", "tier", "label", "start", "end", "point"]
    acoustics["point"] = acoustics["point"].fillna(-1)
    # F0 values on the generator's artefact frequencies are left out
    voiced = acoustics[acoustics["label"].isin(["voi", "fric"]) & acoustics["f0_artefact"].isna()]
    assert len(table) > 0 and set(table["layer"]) <= {"dense", "conv1", "conv2", "conv3", "conv4"}
    checked = 0
    for row in table.itertuples():
        part = voiced[voiced["measure"] == row.measure]
        joined = part[part["layer"] == row.layer].merge(part[part["layer"] == "output"], on=keys,
                                                       suffixes=("_layer", "_output"))
        joined = joined.dropna(subset=["value_layer", "value_output"])
        assert row.n == len(joined), (row.measure, row.layer)
        if len(joined) > 2 and joined["value_layer"].std() > 0 and joined["value_output"].std() > 0:
            r = np.corrcoef(joined["value_layer"], joined["value_output"])[0, 1]
            assert row.r == pytest.approx(r, abs=1e-9), (row.measure, row.layer)
            checked += 1
    assert checked >= 5
    assert (out / "figures" / "correlations.png").stat().st_size > 1000


def test_feature_map_example(tiny_ciwgan, tmp_path):
    from ganphon.models import Latent, load_checkpoint

    run_example("feature_maps.py", "--checkpoint", tiny_ciwgan, "--n", 6, "--gamma", 1, "--layer", "conv2",
                "--var", "z11", "--value", 15, "--seed", 4, "--out", tmp_path)
    ranking = pd.read_csv(tmp_path / "ranking_conv2.csv")
    assert (tmp_path / "profiles_conv2.png").stat().st_size > 1000
    # the maps by a forward pass written out here: dense projection, its activation, conv1, conv2
    G = load_checkpoint(tiny_ciwgan).generator.eval()
    lat = Latent(G.config)
    base = lat.sample(6, seed=4)
    profiles = {}
    with torch.no_grad():
        for sign in (-1, 1):
            z = base.clone()
            z[:, lat.names.index("z11")] = sign * 15.0
            x = G.dense_act(G.dense_norm(G.project(z)))
            x = G.blocks["conv2"](G.blocks["conv1"](x))
            profiles[sign] = x.double().numpy().mean(axis=0)  # [C, n]: each map averaged over outputs
    a, b = profiles[-1], profiles[1]
    distance = 1 - (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert len(ranking) == 32  # d = 8: conv2 has 4d channels
    np.testing.assert_allclose(ranking["cosine_distance"], distance[ranking["map"]], rtol=1e-5, atol=1e-9)
    assert list(ranking["map"]) == list(np.argsort(-distance, kind="stable"))


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
