"""Sweep designs produce the exact latent grids; a half-finished sweep resumes."""

import os

import numpy as np
import pandas as pd
import pytest
import torch

from ganphon.cli import main
from ganphon.errors import GanphonError
from ganphon.models import Latent, ModelConfig
from ganphon.sweep import grid, load_spec, make_design

CIW = ModelConfig(arch="ciwgan", n_codes=2, dim=8)


def test_dimension_grid_exact_and_other_dims_fixed_per_base():
    d = make_design(CIW, {"kind": "dimension", "var": "z11", "from": -15, "to": 5, "step": 2, "bases": 3, "seed": 4})
    values = [-15, -13, -11, -9, -7, -5, -3, -1, 1, 3, 5]
    assert len(d) == 3 * 11
    col = Latent(CIW).index("z11")
    assert col == 12
    bases = Latent(CIW).sample(3, seed=4)
    for b in range(3):
        rows = d.columns.index[d.columns.base == b]
        block = d.latents[rows]
        assert block[:, col].tolist() == values
        others = torch.cat([block[:, :col], block[:, col + 1:]], dim=1)
        expected = torch.cat([bases[b, :col], bases[b, col + 1:]])
        assert torch.equal(others, expected.expand_as(others))
    assert d.conditions[:2] == ["z11=-15", "z11=-13"] and d.sample_ids[11] == "b001_v000"
    assert d.columns.value.tolist()[:11] == values and (d.columns["var"] == "z11").all()


def test_grid_includes_endpoint_without_float_drift():
    assert grid(0, 2, 0.25).tolist() == [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]
    assert grid(-4.5, 4.5, 0.5)[-1] == 4.5 and len(grid(-4.5, 4.5, 0.5)) == 19
    with pytest.raises(GanphonError, match="step"):
        grid(0, 1, -0.5)


def test_code_sweep_single_variable_and_tacl_path():
    d = make_design(CIW, {"kind": "code", "var": "c2", "from": 0, "to": 2, "step": 0.25, "bases": 2, "seed": 1})
    assert len(d) == 18
    assert d.latents[:9, 1].tolist() == [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]
    assert (d.latents[:, 0] == 0).all()
    assert torch.equal(d.latents[0, 2:], d.latents[8, 2:]) and not torch.equal(d.latents[0, 2:], d.latents[9, 2:])
    assert d.conditions[4] == "code=0,1"
    p = make_design(CIW, {"kind": "code", "path": [[1.5, 0], [0, 0], [0, 1.5]], "step": 0.125, "bases": 1})
    codes = p.latents[:, :2].numpy()
    assert len(p) == 25  # the TACL sets: 25 outputs
    assert codes[0].tolist() == [1.5, 0] and codes[12].tolist() == [0, 0] and codes[24].tolist() == [0, 1.5]
    assert np.allclose(np.abs(np.diff(codes, axis=0)).max(1), 0.125)
    assert p.columns.value.iloc[-1] == 3.0


def test_line_and_random_designs(tmp_path):
    lat = Latent(CIW)
    a, b = lat.sample(2, seed=9)
    d = make_design(CIW, {"kind": "line", "a": a.tolist(), "b": b.tolist(), "steps": 5})
    assert torch.allclose(d.latents[0], a) and torch.allclose(d.latents[-1], b)
    assert torch.allclose(d.latents[2], (a + b) / 2, atol=1e-6)
    pd.DataFrame([[f"s{i}", *row.tolist()] for i, row in enumerate((a, b))],
                 columns=["sample_id", *lat.names]).to_csv(tmp_path / "latents.csv", index=False)
    spec_file = tmp_path / "line.toml"
    spec_file.write_text('[sweep]\nkind = "line"\na = "s0"\nb = "s1"\nlatents = "latents.csv"\nsteps = 3\n')
    d2 = make_design(CIW, load_spec(spec_file))
    assert torch.allclose(d2.latents[0], a) and torch.allclose(d2.latents[2], b)
    # saved by Windows' Notepad (a UTF-8 BOM) or as UTF-16: the same spec (the BOM had been "not valid TOML")
    text, plain = spec_file.read_text(), load_spec(spec_file)
    for encoding in ("utf-8-sig", "utf-16"):
        spec_file.write_text(text, encoding=encoding)
        assert load_spec(spec_file) == plain == {"kind": "line", "a": "s0", "b": "s1", "latents": "latents.csv",
                                                 "steps": 3, "_dir": str(tmp_path.resolve()),
                                                 "_source": str(spec_file)}
        assert torch.equal(make_design(CIW, load_spec(spec_file)).latents, d2.latents)
    spec_file.write_bytes(b"steps = \xe9\n")
    with pytest.raises(GanphonError, match=r"line.toml: not UTF-8 or UTF-16 text$"):
        load_spec(spec_file)
    r = make_design(CIW, {"kind": "random", "n": 6, "seed": 2})
    assert torch.equal(r.latents, lat.sample(6, seed=2))
    with pytest.raises(GanphonError, match="kind"):
        make_design(CIW, {"kind": "spiral"})
    with pytest.raises(GanphonError, match="z99"):
        make_design(CIW, {"kind": "dimension", "var": "z99", "from": 0, "to": 1, "step": 1})
    # no kind, or nothing at all (an empty file, a UTF-16 BOM alone): said so, naming the file
    for content in (b'var = "z11"\n', b"", b"\xff\xfe"):
        spec_file.write_bytes(content)
        with pytest.raises(GanphonError) as missing:
            make_design(CIW, load_spec(spec_file), str(spec_file))
        assert str(missing.value) == (f"{spec_file}: no 'kind' (one of dimension, code, line, random, atlas), e.g. "
                                      'kind = "dimension"' + ("" if content.startswith(b"var") else
                                                              "; the file holds no keys at all"))


def test_half_finished_sweep_completes_only_missing(tiny_ciwgan, tmp_path):
    out = tmp_path / "sw"
    args = ["sweep", "--checkpoint", str(tiny_ciwgan), "--var", "z11", "--from", "-3", "--to", "3",
            "--step", "3", "--bases", "2", "--out", str(out), "--no-annotate", "--no-measure", "--quiet"]
    assert main(args) == 0
    man = pd.read_csv(out / "manifest.csv")
    assert set(man.value) == {-3, 0, 3} and set(man.base) == {0, 1} and (man["var"] == "z11").all()
    for name in ("b001_v002.TextGrid", "b000_v001_conv3.Sound"):
        os.remove(out / name)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(args) == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    redone = {n.split(".")[0][:9] for n in after if n.startswith("b") and after[n] != before.get(n)}
    assert redone == {"b001_v002", "b000_v001"}
