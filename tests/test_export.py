"""Export: files read back equal the probe; Praat, parselmouth and tgt read them; resume rules."""

import json
import os
import subprocess

import numpy as np
import pandas as pd
import parselmouth
import pytest
import scipy.io.wavfile
import tgt
import torch

from conftest import require_praat
from ganphon.cli import main
from ganphon.errors import GanphonError
from ganphon.export import run_export
from ganphon.models import Latent, load_checkpoint
from ganphon.probe import probe

LAYERS = ["dense", "conv1", "conv2", "conv3", "conv4"]
NATIVE = {"dense": 16, "conv1": 64, "conv2": 256, "conv3": 1024, "conv4": 4096}


@pytest.fixture(scope="module")
def exported(tiny_ciwgan, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "run"
    assert main(["probe", "--checkpoint", str(tiny_ciwgan), "--n", "4", "--seed", "5",
                 "--code", "2", "--out", str(out), "--wav-layers", "--quiet"]) == 0
    return out


def test_files_equal_probe_arrays(exported, tiny_ciwgan):
    m = load_checkpoint(tiny_ciwgan)
    z = Latent(m.config).sample(4, seed=5, code="2")
    res = probe(m.generator, z, device="cpu")
    for i in range(4):
        sid = f"s{i:06d}"
        sr, wav = scipy.io.wavfile.read(exported / f"{sid}_output.wav")
        assert sr == 16000 and wav.dtype == np.float32 and wav.shape == (16384,)
        assert np.array_equal(wav, res.output[i])
        for layer in LAYERS:
            sr, up = scipy.io.wavfile.read(exported / f"{sid}_{layer}.wav")
            assert np.array_equal(up, res.upsampled[layer][i])
            snd = parselmouth.read(str(exported / f"{sid}_{layer}.Sound"))
            n = NATIVE[layer]
            assert snd.n_samples == n
            assert snd.sampling_frequency == n / 1.024  # 62.5 Hz stays 62.5 Hz
            assert snd.xmin == 0 and snd.xmax == pytest.approx(1.024, abs=1e-12)
            assert snd.x1 == pytest.approx(0.5 * 1.024 / n, abs=1e-12)
            assert np.abs(snd.values[0] - res.native[layer][i]).max() <= 1e-7 * max(1, np.abs(res.native[layer][i]).max()) * 10


def test_textgrid_readable_by_tgt_and_parselmouth(exported):
    path = exported / "s000002.TextGrid"
    assert path.read_text(encoding="utf-8").startswith('File type = "ooTextFile"\nObject class = "TextGrid"')
    tg = tgt.io.read_textgrid(str(path))
    tier = tg.get_tier_by_name("condition")
    assert float(tier.start_time) == 0 and float(tier.end_time) == pytest.approx(1.024)
    assert [i.text for i in tier.intervals] == ["code=0,1"]
    ptg = parselmouth.read(str(path))
    assert ptg.xmax == pytest.approx(1.024)


def test_manifest_latents_and_run_json(exported, tiny_ciwgan):
    man = pd.read_csv(exported / "manifest.csv", dtype={"code": str})
    assert len(man) == 4 * 6
    expected = ["sample_id", "layer", "file", "sound_file", "textgrid", "n_native", "rate_native_hz",
                "slice_len", "sr", "seed", "arch", "checkpoint_sha256", "code"]
    assert list(man.columns[: len(expected)]) == expected
    row = man[(man.sample_id == "s000001") & (man.layer == "conv1")].iloc[0]
    assert row.file == "s000001_conv1.wav" and row.sound_file == "s000001_conv1.Sound"
    assert row.n_native == 64 and row.rate_native_hz == 62.5 and row.code == "0,1" and row.seed == 5
    m = load_checkpoint(tiny_ciwgan)
    assert (man.checkpoint_sha256 == m.sha256).all()
    for f in man.file.tolist() + man.sound_file.tolist() + man.textgrid.tolist():
        assert (exported / f).exists()
    # latents.csv regenerates every sample exactly
    lat = pd.read_csv(exported / "latents.csv")
    assert list(lat.columns[:4]) == ["sample_id", "c1", "c2", "z1"] and lat.shape[1] == 101
    z = torch.tensor(lat.iloc[:, 1:].to_numpy(), dtype=torch.float32)
    assert torch.equal(z, Latent(m.config).sample(4, seed=5, code="2"))  # the exact latents
    with torch.no_grad():
        regen = m.generator(z)[:, 0].numpy()
    for i in range(4):
        _, wav = scipy.io.wavfile.read(exported / f"s{i:06d}_output.wav")
        # (BLAS kernels may round differently with another memory alignment)
        assert np.abs(regen[i] - wav).max() <= 1e-5
    run = json.loads((exported / "run.json").read_text())
    assert run["seed"] == 5 and run["versions"]["ganphon"] and "probe" in run["command"]
    assert not [p for p in exported.iterdir() if p.name.startswith(".") and p.name != ".ganphon.ledger"]


def test_praat_opens_every_file_of_a_sample(exported, tmp_path):
    praat = require_praat()
    script = tmp_path / "durations.praat"
    script.write_text(
        'form Durations\n  sentence folder\n  sentence id\nendform\n'
        'list = Create Strings as file list: "list", folder$ + "/" + id$ + "*"\n'
        'n = Get number of strings\n'
        'for i to n\n  selectObject: list\n  name$ = Get string: i\n'
        '  obj = Read from file: folder$ + "/" + name$\n'
        '  dur = Get total duration\n'
        '  appendInfoLine: name$, tab$, fixed$(dur, 6)\n'
        '  removeObject: obj\nendfor\n', encoding="utf-8")
    out = subprocess.run([praat, "--run", str(script), str(exported), "s000003"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = dict(line.split("\t") for line in out.stdout.strip().splitlines())
    assert set(rows) == {"s000003.TextGrid", "s000003_output.wav"} | {
        f"s000003_{l}.{ext}" for l in LAYERS for ext in ("wav", "Sound")}
    assert set(rows.values()) == {"1.024000"}


def test_resume_completes_only_missing_samples(tiny_ciwgan, tmp_path):
    out = tmp_path / "r"
    args = ["probe", "--checkpoint", str(tiny_ciwgan), "--n", "5", "--seed", "1", "--out", str(out), "--quiet"]
    assert main(args) == 0
    os.remove(out / "s000003.TextGrid")
    os.remove(out / "s000004_conv2.Sound")
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(args) == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    changed = {n for n in after if after[n] != before.get(n)}
    rewritten = {n.split("_")[0].split(".")[0] for n in changed if n.startswith("s")}
    assert rewritten == {"s000003", "s000004"}
    assert "s000003.TextGrid" in after and "s000004_conv2.Sound" in after


def test_different_command_refused_unless_overwrite(tiny_ciwgan, tmp_path, capsys):
    out = tmp_path / "d"
    base = ["probe", "--checkpoint", str(tiny_ciwgan), "--out", str(out), "--quiet"]
    assert main(base + ["--n", "3", "--seed", "1"]) == 0
    assert main(base + ["--n", "2", "--seed", "2"]) == 2
    err = capsys.readouterr().err
    assert "different command" in err and "seed" in err
    assert len(list(out.glob("*_output.wav"))) == 3  # nothing lost
    assert main(base + ["--n", "2", "--seed", "2", "--overwrite"]) == 0
    assert sorted(p.name for p in out.glob("*_output.wav")) == ["s000000_output.wav", "s000001_output.wav"]
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    assert main(["probe", "--checkpoint", str(tiny_ciwgan), "--n", "1", "--out", str(tmp_path / "foreign")]) == 2
    assert (tmp_path / "foreign" / "notes.txt").read_text() == "mine"


def test_clip_and_feature_maps(tiny_ciwgan, tmp_path):
    m = load_checkpoint(tiny_ciwgan)
    z = Latent(m.config).sample(3, seed=2)
    res = probe(m.generator, z, device="cpu")
    clip = float(np.quantile(res.upsampled["conv4"], 0.5))
    out = tmp_path / "c"
    run_export(m, z, out, clip=clip, feature_maps=["conv3"], seed=2, progress=False, wav_layers=True)
    _, up = scipy.io.wavfile.read(out / "s000001_conv4.wav")
    assert np.array_equal(up, np.clip(res.upsampled["conv4"][1], -clip, clip))
    snd = parselmouth.read(str(out / "s000001_conv4.Sound"))
    assert snd.values.max() > clip  # the native Sound keeps the true values
    fm = np.load(out / "featuremaps_conv3.npy")
    assert fm.shape == (3, 16, 1024)
    full = probe(m.generator, z, layers=["conv3"], feature_maps=["conv3"], device="cpu").feature_maps["conv3"]
    assert np.abs(fm - full).max() <= 1e-6
    assert np.abs(fm.mean(1) - res.native["conv3"]).max() <= 1e-6


def test_run_export_checks_inputs(tiny_ciwgan, tmp_path):
    m = load_checkpoint(tiny_ciwgan)
    with pytest.raises(GanphonError, match="latents"):
        run_export(m, torch.zeros(2, 50), tmp_path / "x", progress=False)
    with pytest.raises(GanphonError, match="NaN"):
        run_export(m, torch.full((1, 100), float("nan")), tmp_path / "x", progress=False)
    with pytest.raises(GanphonError, match="unique"):
        run_export(m, torch.zeros(2, 100), tmp_path / "x", sample_ids=["a", "a"], progress=False)


# ---------------------------------------------------------------- one folder, one request

class _Stop(Exception):
    """Stands for Ctrl-C / a crash in the middle of an export."""


def _stop_after(k):
    def on_sample(i, sample_id):
        if on_sample.count == k - 1:
            raise _Stop(sample_id)
        on_sample.count += 1
    on_sample.count = 0
    return on_sample


def _snapshot(folder):
    """Every file under ``folder`` (relative path → bytes), the run record left out."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "run.json"}


def _probe_api(m, out, n, seed, **kw):
    z = Latent(m.config).sample(n, seed=seed)
    return run_export(m, z, out, seed=seed, request={"kind": "probe", "n": n, "seed": seed, "code": None},
                      device="cpu", progress=False, **kw)


def test_interrupted_run_then_overwrite_holds_only_the_new_run(tiny_ciwgan, tmp_path):
    m = load_checkpoint(tiny_ciwgan)
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    with pytest.raises(_Stop):
        _probe_api(m, out, 4, seed=1, on_sample=_stop_after(2))  # run A dies after 2 samples
    assert (out / "s000001_output.wav").exists() and not (out / "manifest.csv").exists()
    b = ["probe", "--checkpoint", str(tiny_ciwgan), "--n", "3", "--seed", "2", "--device", "cpu", "--quiet"]
    assert main(b + ["--out", str(out), "--overwrite"]) == 0  # run B
    assert main(b + ["--out", str(fresh)]) == 0               # run B alone
    got, want = _snapshot(out), _snapshot(fresh)
    assert sorted(got) == sorted(want)
    differing = [name for name in want if got[name] != want[name]]
    assert not differing  # every WAV, Sound, TextGrid and table is run B's
    run = json.loads((out / "run.json").read_text())
    assert run["request"]["seed"] == 2 and run["planned"]["sample_ids"] == ["s000000", "s000001", "s000002"]


def test_interrupted_run_resumes_bit_identical(tiny_ciwgan, tmp_path):
    m = load_checkpoint(tiny_ciwgan)
    out, whole, other = tmp_path / "out", tmp_path / "whole", tmp_path / "other"
    with pytest.raises(_Stop):
        _probe_api(m, out, 5, seed=1, feature_maps=["conv2"], on_sample=_stop_after(2))
    run = json.loads((out / "run.json").read_text())  # the request is on disk before any sample
    # a sample whose files are all present but which the record does not list as finished
    # (here: files of another request dropped in) is not taken as finished
    _probe_api(m, other, 5, seed=9)
    for name in [p.name for p in other.glob("s000003*")]:
        (out / name).write_bytes((other / name).read_bytes())
    _probe_api(m, out, 5, seed=1, feature_maps=["conv2"])
    _probe_api(m, whole, 5, seed=1, feature_maps=["conv2"])
    got, want = _snapshot(out), _snapshot(whole)
    assert sorted(got) == sorted(want)
    assert not [name for name in want if got[name] != want[name]]
    assert run["request"]["n"] == 5 and "{sample_id}_output.wav" in run["planned"]["files_per_sample"]
    lines = (out / "finished.txt").read_text().splitlines()
    assert sorted(lines[1:]) == [f"s{i:06d}" for i in range(5)]


def test_a_run_resumed_under_other_versions_records_both(tiny_ciwgan, tmp_path, capsys):
    """Samples made before an upgrade and after it: run.json keeps the earlier versions with the number of samples
    finished under them, a note says so; a resume under the same versions adds nothing; a damaged list is refused
    in one line with nothing changed."""
    m = load_checkpoint(tiny_ciwgan)
    out = tmp_path / "out"
    with pytest.raises(_Stop):
        _probe_api(m, out, 5, seed=1, on_sample=_stop_after(3))
    record = json.loads((out / "run.json").read_text())
    now = dict(record["versions"])
    old = {**now, "ganphon": "0.1.0", "torch": "2.12.0"}
    (out / "run.json").write_text(json.dumps({**record, "versions": old}))
    capsys.readouterr()
    _probe_api(m, out, 5, seed=1)
    err = capsys.readouterr().err
    record = json.loads((out / "run.json").read_text())
    assert record["versions"] == now
    assert record["earlier_versions"] == [{"versions": old, "samples_finished": 3}]
    assert err.count("ganphon: note:") == 1 and f"ganphon 0.1.0 → {now['ganphon']}" in err \
        and f"torch 2.12.0 → {now['torch']}" in err and "3 samples finished with them" in err, err
    _probe_api(m, out, 5, seed=1)  # the same versions again: nothing to add
    assert json.loads((out / "run.json").read_text())["earlier_versions"] == [{"versions": old, "samples_finished": 3}]
    assert "ganphon: note:" not in capsys.readouterr().err
    (out / "run.json").write_text(json.dumps({**record, "earlier_versions": "torch 2.12"}))
    before = {**_snapshot(out), "run.json": (out / "run.json").read_bytes()}
    with pytest.raises(GanphonError, match=r"run.json: its earlier_versions is \"torch 2.12\", not a list"):
        _probe_api(m, out, 5, seed=1)
    assert {**_snapshot(out), "run.json": (out / "run.json").read_bytes()} == before


def test_different_command_changes_nothing(tiny_ciwgan, tmp_path):
    out = tmp_path / "d"
    base = ["probe", "--checkpoint", str(tiny_ciwgan), "--out", str(out), "--device", "cpu", "--quiet"]
    assert main(base + ["--n", "2", "--seed", "1"]) == 0
    before = {**_snapshot(out), "run.json": (out / "run.json").read_bytes()}
    for other in (["--n", "2", "--seed", "2"], ["--n", "3", "--seed", "1"], ["--n", "2", "--seed", "1", "--clip", "1"]):
        assert main(base + other) == 2
    assert {**_snapshot(out), "run.json": (out / "run.json").read_bytes()} == before


def test_overwrite_keeps_foreign_files_and_refuses_a_foreign_folder(tiny_ciwgan, tmp_path, capsys):
    out = tmp_path / "o"
    base = ["probe", "--checkpoint", str(tiny_ciwgan), "--out", str(out), "--device", "cpu", "--quiet"]
    assert main(base + ["--n", "3", "--seed", "1"]) == 0
    (out / "notes.txt").write_text("mine")
    assert main(base + ["--n", "1", "--seed", "2", "--overwrite"]) == 0
    assert sorted(p.name for p in out.glob("*.TextGrid")) == ["s000000.TextGrid"]
    assert (out / "notes.txt").read_text() == "mine"
    foreign = tmp_path / "recordings"
    foreign.mkdir()
    (foreign / "a.wav").write_bytes(b"RIFF")
    (foreign / "a.TextGrid").write_text("x")
    capsys.readouterr()
    assert main(["probe", "--checkpoint", str(tiny_ciwgan), "--n", "1", "--out", str(foreign),
                 "--overwrite", "--quiet"]) == 2
    assert "did not write" in capsys.readouterr().err
    assert sorted(p.name for p in foreign.iterdir()) == ["a.TextGrid", "a.wav"]


def test_demo_refuses_a_folder_holding_another_run(exported, tmp_path, capsys):
    before = _snapshot(exported)
    assert main(["demo", "--out", str(exported), "--quick", "--quiet"]) == 2
    assert "not a demo folder" in capsys.readouterr().err  # an export folder: another kind, refused
    assert _snapshot(exported) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert main(["demo", "--out", str(mine), "--quick", "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
