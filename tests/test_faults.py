"""Bad inputs and faults, the way a new user meets them.

Two halves:

1. A table of bad inputs across every command.  Each case runs the real
   ``ganphon`` command line (in this process, for speed) in a workspace of
   its own and asserts: exit status 2, exactly one line on stderr
   (``ganphon: error: …`` naming the file or option), no traceback, and that
   no file in the workspace changed, appeared or vanished (names and SHA-256
   of every file before and after).
2. Fault injections in subprocesses: SIGINT and SIGKILL during probe, sweep,
   measure and train; what survives, that no worker outlives its parent, and
   that a rerun completes to exactly what an uninterrupted run writes.
   A full disk (a 2 MiB tmpfs) when running as root.

The models are tiny (d = 8) and the folders a few samples, so the whole file
takes a minute or two on 2 cores.
"""

from __future__ import annotations

import contextlib
import hashlib
import io as _io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import descendants, process_alive, sigint_default

from ganphon import io, layout
from ganphon.cli import main

GANPHON = [sys.executable, "-m", "ganphon"]


# --------------------------------------------------------------------------
# Shared material (made once, copied into each case's workspace)


@pytest.fixture(scope="session")
def material(tmp_path_factory, tiny_ciwgan):
    """Checkpoints, an exported + annotated + measured sweep folder, a corpus, odd files."""
    from ganphon.models import ModelConfig, new_model, save_checkpoint
    from ganphon.sweep import run_sweep

    root = tmp_path_factory.mktemp("material")
    cfg = ModelConfig(arch="wavegan", dim=8)
    G, D, Q = new_model(cfg, seed=1)
    save_checkpoint(root / "wavegan.pt", cfg, G, D, Q, meta={"seed": 1})
    shutil.copy(tiny_ciwgan, root / "ciwgan.pt")
    spec = {"kind": "dimension", "var": "z3", "from": -2, "to": 2, "step": 2, "bases": 2, "seed": 0}
    run_sweep(spec, root / "ciwgan.pt", root / "sweep", workers=1, progress=False)
    corpus = root / "corpus"
    corpus.mkdir()
    rng = np.random.default_rng(0)
    from ganphon import io

    for i in range(3):
        io.write_wav(corpus / f"w{i}.wav", (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
    return root


def _tree(folder: Path) -> dict:
    """Every file under ``folder``: relative name → SHA-256; every folder: its name and a slash → "folder" (a
    failed command leaves no folder it made, empty or not)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            out[f"{path.relative_to(folder)}/"] = "folder"
    return out


_PROGRESS = re.compile(r"^[^:]*: *(\d+%\||\d+\w* \[)")  # a tqdm bar: "measure:  40%|####  | 4/10 [..."


def stderr_lines(text: str) -> list:
    """The lines of stderr, progress-bar redraws left out."""
    pieces = [p.strip() for line in text.split("\n") for p in line.split("\r")]
    return [p for p in pieces if p and not _PROGRESS.match(p)]


def run_cli(argv, cwd) -> tuple[int, str, str]:
    """``ganphon ARGV`` in this process: (exit status, stdout, stderr)."""
    out, err = _io.StringIO(), _io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


# --------------------------------------------------------------------------
# Set-ups: each takes (workspace, material) and returns values for the argv


def _copy(name):
    def setup(ws, m):
        shutil.copytree(m / name, ws / name)
    return setup


def _file(name, content: bytes):
    def setup(ws, m):
        (ws / name).parent.mkdir(parents=True, exist_ok=True)
        (ws / name).write_bytes(content)
    return setup


def _both(*setups):
    def setup(ws, m):
        for s in setups:
            s(ws, m)
    return setup


def _link(name, target):
    def setup(ws, m):
        (ws / name).symlink_to(target)
    return setup


def _spec(text: str):
    return _file("spec.toml", ("[sweep]\n" + text + "\n").encode())


def _checkpoint_with(**changes):
    """A checkpoint whose saved config has ``changes``."""
    def setup(ws, m):
        import torch

        blob = torch.load(m / "ciwgan.pt", weights_only=True)
        blob["config"].update(changes)
        torch.save(blob, ws / "odd.pt")
    return setup


def _checkpoint_blob(change):
    """A checkpoint whose loaded dict ``change(blob)`` altered (a field of the wrong type …)."""
    def setup(ws, m):
        import torch

        blob = torch.load(m / "ciwgan.pt", weights_only=True)
        change(blob)
        torch.save(blob, ws / "odd.pt")
    return setup


def _set(key, value):
    return lambda blob: blob.__setitem__(key, value)


def _first_weight_is(value):
    def change(blob):
        blob["generator"][next(iter(blob["generator"]))] = value
    return change


def _port_generator_with_1d_weight(ws, m):
    import torch

    (ws / "g.pt").parent.mkdir(exist_ok=True)
    torch.save({"z_project.weight": torch.zeros(16), **{f"upconv{i}.conv.weight": torch.zeros(8) for i in range(5)}},
               ws / "g.pt")


def _latents_of_another_model(ws, m):
    (ws / "spec.toml").write_text('[sweep]\nkind = "line"\na = "s000000"\nb = "s000001"\nlatents = "lat.csv"\n')
    (ws / "lat.csv").write_text("sample_id,x1,x2\ns000000,0.1,0.2\ns000001,0.3,0.4\n")


def _sweep_with_cut_table(ws, m):
    shutil.copytree(m / "sweep", ws / "sweep")
    table = ws / "sweep" / layout.ACOUSTICS
    text = table.read_bytes()
    cut = text[: int(len(text) * 0.6)]
    table.write_bytes(cut[: cut.rfind(b"\n") + 20])  # ends in the middle of a row


def _overlapping_textgrid(ws, m):
    shutil.copytree(m / "sweep", ws / "sweep")
    grid = ws / "sweep" / layout.textgrid("b000_v000")
    grid.write_text(
        'File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\nxmax = 1.024\ntiers? <exists>\n'
        'size = 1\nitem []:\n    item [1]:\n        class = "IntervalTier"\n        name = "condition"\n'
        '        xmin = 0\n        xmax = 1.024\n        intervals: size = 2\n        intervals [1]:\n'
        '            xmin = 0\n            xmax = 0.6\n            text = "a"\n        intervals [2]:\n'
        '            xmin = 0.4\n            xmax = 1.024\n            text = "b"\n')


def _float_wav(peak: float):
    def setup(ws, m):
        from scipy.io import wavfile

        (ws / "corpus").mkdir()
        x = np.sin(np.linspace(0, 200, 8000)) * peak
        wavfile.write(ws / "corpus" / "loud.wav", 16000, x.astype(np.float32))
    return setup


def _truncated_wav(ws, m):
    shutil.copytree(m / "sweep", ws / "sweep")
    wav = ws / "sweep" / layout.layer_wav("b000_v000", "output")
    data = wav.read_bytes()
    wav.write_bytes(data[: len(data) // 2])


def _garbage_wav(ws, m):
    shutil.copytree(m / "sweep", ws / "sweep")
    (ws / "sweep" / layout.layer_wav("b000_v000", "output")).write_bytes(RANDOM_BYTES[:3000])


def _cut_manifest(ws, m):
    """The manifest's last row cut after its file names: its numbers are missing."""
    shutil.copytree(m / "sweep", ws / "sweep")
    lines = (ws / "sweep" / layout.MANIFEST).read_text().splitlines()
    (ws / "sweep" / layout.MANIFEST).write_text("\n".join(lines[:-1] + [",".join(lines[-1].split(",")[:5])]))


def _manifest_with_text_for_a_number(ws, m):
    import pandas as pd

    shutil.copytree(m / "sweep", ws / "sweep")
    manifest = pd.read_csv(ws / "sweep" / layout.MANIFEST, dtype=str, keep_default_na=False)
    manifest.loc[3, "slice_len"] = "x"
    manifest.to_csv(ws / "sweep" / layout.MANIFEST, index=False)


def _unquoted_acoustics_row(ws, m):
    """A row of the joined acoustic table with its quotes lost: the code's commas shift every later column."""
    shutil.copytree(m / "sweep", ws / "sweep")
    lines = (ws / "sweep" / layout.ACOUSTICS).read_text().split("\n")
    assert '"' in lines[1]
    lines[1] = lines[1].replace('"', "")
    (ws / "sweep" / layout.ACOUSTICS).write_text("\n".join(lines))


def _manifest_cell(row: int, column: str, value: str):
    """The sweep's manifest with one cell set to ``value``."""
    def setup(ws, m):
        import pandas as pd

        shutil.copytree(m / "sweep", ws / "sweep")
        manifest = pd.read_csv(ws / "sweep" / layout.MANIFEST, dtype=str, keep_default_na=False)
        manifest.loc[row, column] = value
        manifest.to_csv(ws / "sweep" / layout.MANIFEST, index=False)
    return setup


def _corpus_holding_the_sweep(ws, m):
    """A corpus with an exported folder (a model's outputs) inside it."""
    shutil.copytree(m / "corpus", ws / "corpus")
    shutil.copytree(m / "sweep", ws / "corpus" / "old")


def _damaged_store(damage):
    """A probe's columnar store (3 samples) with ``damage(store.zarr folder)`` done to it."""
    def setup(ws, m):
        code, _, err = run_cli(["probe", "--checkpoint", m / "ciwgan.pt", "--n", "3", "--store", "zarr", "--out", "st",
                                "--quiet"], ws)
        assert code == 0, err
        damage(ws / "st" / layout.STORE_ZARR)
    return setup


RANDOM_BYTES = bytes(np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8))
SAFETENSORS = (len(b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}').to_bytes(8, "little")
               + b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' + bytes(8))
WAV_HEADER = b"RIFF\x24\x00\x00\x00WAVEfmt "

# (id, set-up or None, argv, text the one stderr line must contain)
CASES = [
    # ---- new-model
    ("new-model dim 0", None, ["new-model", "--dim", "0", "--out", "m.pt"], "--dim"),
    ("new-model out is a folder", _file("dir/keep", b"x"), ["new-model", "--dim", "8", "--out", "dir"], "dir"),
    ("new-model out under a file", _file("f", b"x"), ["new-model", "--dim", "8", "--out", "f/m.pt"], "f/m.pt"),
    ("new-model out read-only", None, ["new-model", "--dim", "8", "--out", "/proc/ganphon.pt"], "/proc/ganphon.pt"),
    ("new-model slice-len 1000", None, ["new-model", "--slice-len", "1000", "--out", "m.pt"], "--slice-len"),
    ("new-model seed -1", None, ["new-model", "--seed", "-1", "--out", "m.pt"], "--seed"),
    # ---- model-info / checkpoints
    ("model-info missing", None, ["model-info", "--checkpoint", "nope.pt"], "nope.pt"),
    ("model-info random bytes", _file("x.pt", RANDOM_BYTES), ["model-info", "--checkpoint", "x.pt"],
     "not a PyTorch checkpoint"),
    ("model-info safetensors", _file("x.pt", SAFETENSORS), ["model-info", "--checkpoint", "x.pt"], "safetensors"),
    ("model-info empty file", _file("x.pt", b""), ["model-info", "--checkpoint", "x.pt"], "x.pt"),
    ("model-info a WAV", _file("x.pt", WAV_HEADER + bytes(100)), ["model-info", "--checkpoint", "x.pt"], "a WAV"),
    ("model-info a folder", _file("d/x", b""), ["model-info", "--checkpoint", "d"], "d"),
    ("checkpoint dim of wrong type", _checkpoint_with(dim="eight"), ["model-info", "--checkpoint", "odd.pt"],
     "odd.pt"),
    ("checkpoint sr 0", _checkpoint_with(sr=0), ["model-info", "--checkpoint", "odd.pt"], "odd.pt"),
    ("checkpoint codes -2", _checkpoint_with(n_codes=-2), ["model-info", "--checkpoint", "odd.pt"], "odd.pt"),
    ("checkpoint format_version text", _checkpoint_blob(_set("format_version", "1")),
     ["model-info", "--checkpoint", "odd.pt"], "format_version"),
    ("checkpoint format_version None", _checkpoint_blob(_set("format_version", None)),
     ["model-info", "--checkpoint", "odd.pt"], "format_version"),
    ("checkpoint config a string", _checkpoint_blob(_set("config", "dim=8")),
     ["model-info", "--checkpoint", "odd.pt"], "config"),
    ("checkpoint meta a string", _checkpoint_blob(_set("meta", "seed 1")),
     ["probe", "--checkpoint", "odd.pt", "--n", "1", "--out", "p"], "meta"),
    ("checkpoint a tensor is a float", _checkpoint_blob(_first_weight_is(0.5)),
     ["probe", "--checkpoint", "odd.pt", "--n", "1", "--out", "p"], "not a tensor"),
    ("checkpoint a weight is an int tensor", _checkpoint_blob(_first_weight_is(__import__("torch").zeros(3, dtype=__import__("torch").long))),
     ["probe", "--checkpoint", "odd.pt", "--n", "1", "--out", "p"], "odd.pt"),
    ("checkpoint sr beyond a WAV header", _checkpoint_with(sr=2**40), ["model-info", "--checkpoint", "odd.pt"], "sr"),
    ("checkpoint absurd dim", _checkpoint_with(dim=10**6), ["model-info", "--checkpoint", "odd.pt"], "dim"),
    ("import-checkpoint 1-D port weight", _port_generator_with_1d_weight,
     ["import-checkpoint", "g.pt", "--arch", "wavegan", "--out", "o.pt"], "g.pt"),
    ("import-checkpoint missing", None, ["import-checkpoint", "g.pt", "--arch", "wavegan", "--out", "o.pt"], "g.pt"),
    ("import-checkpoint random bytes", _file("g.pt", RANDOM_BYTES),
     ["import-checkpoint", "g.pt", "--arch", "wavegan", "--out", "o.pt"], "g.pt"),
    # ---- probe
    ("probe n 0", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--n", "0", "--out", "p"], "--n"),
    ("probe huge n", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--n", str(10**13), "--out", "p"], "--n"),
    ("probe batch-size 0", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--batch-size", "0", "--out", "p"],
     "--batch-size"),
    ("probe feature-maps conv9", None,
     ["probe", "--checkpoint", "{m}/ciwgan.pt", "--feature-maps", "conv9", "--out", "p"], "conv9"),
    ("probe layers conv9", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--layers", "conv9", "--out", "p"],
     "conv9"),
    ("probe device cuda", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--device", "cuda", "--out", "p"],
     "cuda"),
    ("probe clip -1", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--clip", "-1", "--out", "p"], "--clip"),
    ("probe clip nan", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--clip", "nan", "--out", "p"], "--clip"),
    ("probe clip 0", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--clip", "0", "--out", "p"], "--clip"),
    ("probe seed 2**64", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--seed", str(2**64), "--out", "p"],
     "--seed"),
    ("probe code 7 of 2", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--code", "7", "--out", "p"], "7"),
    ("probe code 1e308", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--code", "1e308", "--out", "p"], "1e308"),
    ("measure manifest cut mid-row", _cut_manifest, ["measure", "sweep"], "manifest.csv: ends in the middle of a row"),
    ("measure manifest text for a number", _manifest_with_text_for_a_number, ["measure", "sweep"],
     "manifest.csv: row 5 has slice_len 'x'"),
    ("annotate manifest naming a TextGrid outside its folder", _manifest_cell(0, "textgrid", "../escaped.TextGrid"),
     ["annotate", "sweep"], "row 2 has textgrid '../escaped.TextGrid', not a file name of its folder"),
    ("measure manifest naming a file in another folder", _manifest_cell(4, "file", "../other/b000_v000_output.wav"),
     ["measure", "sweep"], "row 6 has file '../other/b000_v000_output.wav'"),
    ("measure manifest sample id with a line break", _manifest_cell(1, "sample_id", "b000\nv000"),
     ["measure", "sweep"], "row 3 has sample_id"),
    ("probe out with a line break", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--out", "p\nq"],
     "--out: 'p\\nq' holds a line break"),
    ("measure folder with a tab", None, ["measure", "s\tweep"], "DIR: 's\\tweep' holds a line break or another"),
    ("measure a WAV named with a line break", _both(_copy("corpus"), lambda ws, m: shutil.copy(
        m / "corpus" / "w0.wav", ws / "corpus" / "a\nb.wav")), ["measure", "corpus", "--tier", ""],
     "corpus/'a\\nb.wav': a file name holding a line break"),
    ("measure --engine praat a WAV named with a line break", _both(_copy("corpus"), lambda ws, m: shutil.copy(
        m / "corpus" / "w0.wav", ws / "corpus" / "a\nb.wav")), ["measure", "corpus", "--tier", "", "--engine", "praat"],
     "corpus/'a\\nb.wav': a file name holding a line break"),
    ("annotate a WAV named with a line break", _both(_copy("corpus"), lambda ws, m: shutil.copy(
        m / "corpus" / "w0.wav", ws / "corpus" / "a\nb.wav")), ["annotate", "corpus"], "corpus/'a\\nb.wav'"),
    ("annotate a WAV whose name is not UTF-8", _both(_copy("corpus"), lambda ws, m: shutil.copy(
        m / "corpus" / "w0.wav", os.fsencode(ws / "corpus") + b"/\xffb.wav")), ["annotate", "corpus"],
     "corpus/'\\udcffb.wav': a file name holding bytes that are not UTF-8 text"),
    ("measure --out not UTF-8", _copy("sweep"), ["measure", "sweep", "--out", os.fsdecode(b"\xff.csv")],
     "'\\udcff.csv' holds bytes that are not UTF-8 text"),
    ("train on a sub-folder named with a tab", _both(_copy("corpus"), lambda ws, m: (ws / "corpus" / "s\tub").mkdir()
                                                     or shutil.copy(m / "corpus" / "w0.wav", ws / "corpus" / "s\tub")),
     ["train", "corpus", "--out", "run", "--dim", "8", "--steps", "1"], "corpus/'s\\tub': a file name holding"),
    ("stats a label no interval has", _copy("sweep"), ["stats", "sweep", "--labels", "nope"],
     "--labels: no interval is labelled 'nope' in the table"),
    ("stats presence of a label no interval has", _copy("sweep"), ["stats", "sweep", "--presence", "vio"],
     "--presence: no interval is labelled 'vio'"),
    ("stats gam-df 1", _copy("sweep"), ["stats", "sweep", "--gam", "--gam-df", "1"], "--gam-df: must be at least 4"),
    ("stats acoustics row unquoted", _unquoted_acoustics_row, ["stats", "sweep"],
     "acoustics.csv: unreadable acoustic table (a row has more cells than the header"),
    ("probe code letters", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--code", "a,b", "--out", "p"], "a,b"),
    ("probe code on a wavegan", None, ["probe", "--checkpoint", "{m}/wavegan.pt", "--code", "1", "--out", "p"],
     "code"),
    ("probe layers repeated", None,
     ["probe", "--checkpoint", "{m}/ciwgan.pt", "--layers", "conv1,conv1", "--out", "p"], "--layers"),
    ("probe layers empty entry", None,
     ["probe", "--checkpoint", "{m}/ciwgan.pt", "--layers", "conv1,,conv2", "--out", "p"], "--layers"),
    ("probe a million without --yes", None,
     ["probe", "--checkpoint", "{m}/ciwgan.pt", "--n", "2000000", "--out", "/proc/p"], "--n"),
    ("probe reduce foo", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--reduce", "foo", "--out", "p"],
     "--reduce"),
    ("probe missing checkpoint", None, ["probe", "--checkpoint", "nope.pt", "--out", "p"], "nope.pt"),
    ("probe out is a file", _file("p", b"x"), ["probe", "--checkpoint", "{m}/ciwgan.pt", "--out", "p"], "p"),
    ("probe out under a file", _file("f", b"x"), ["probe", "--checkpoint", "{m}/ciwgan.pt", "--out", "f/p"], "f/p"),
    ("probe out read-only", None, ["probe", "--checkpoint", "{m}/ciwgan.pt", "--out", "/proc/ganphon"],
     "/proc/ganphon"),
    ("probe into another run", _copy("sweep"), ["probe", "--checkpoint", "{m}/ciwgan.pt", "--out", "sweep"],
     "--overwrite"),
    # ---- annotate
    ("annotate missing folder", None, ["annotate", "nope"], "nope"),
    ("annotate empty folder", _file("e/readme.txt", b"hi"), ["annotate", "e"], "e"),
    ("annotate min-duration 0", _copy("sweep"), ["annotate", "sweep", "--min-duration", "0"], "--min-duration"),
    ("annotate layers conv9", _copy("sweep"), ["annotate", "sweep", "--layers", "conv9"], "conv9"),
    ("annotate overlapping TextGrid", _overlapping_textgrid, ["annotate", "sweep", "--workers", "1"],
     "b000_v000.TextGrid"),
    ("annotate garbage WAV", _garbage_wav, ["annotate", "sweep", "--workers", "1"], "b000_v000_output.wav"),
    # ---- measure
    ("measure missing folder", None, ["measure", "nope"], "nope"),
    ("measure points 0", _copy("sweep"), ["measure", "sweep", "--points", "0"], "--points"),
    ("measure measures foo", _copy("sweep"), ["measure", "sweep", "--measures", "foo"], "foo"),
    ("measure tier nosuch", _copy("sweep"), ["measure", "sweep", "--tier", "nosuch"], "nosuch"),
    ("measure out is a folder", _both(_copy("sweep"), _file("o/x", b"")), ["measure", "sweep", "--out", "o"], "o"),
    ("measure out under a file", _both(_copy("sweep"), _file("f", b"")),
     ["measure", "sweep", "--out", "f/a.csv"], "f/a.csv"),
    ("measure out read-only", _copy("sweep"), ["measure", "sweep", "--out", "/proc/a.csv"], "/proc/a.csv"),
    ("measure truncated WAV", _truncated_wav, ["measure", "sweep", "--workers", "1", "--out", "a.csv"],
     "b000_v000_output.wav"),
    ("measure praat missing", _copy("sweep"),
     ["measure", "sweep", "--engine", "praat", "--praat-path", "/nonexistent/praat", "--out", "a.csv"],
     "/nonexistent/praat"),
    ("measure measures repeated", _copy("sweep"), ["measure", "sweep", "--measures", "f0,f0"], "--measures"),
    ("measure settings foo", _copy("sweep"), ["measure", "sweep", "--settings", "foo"], "--settings"),
    ("measure workers 0", _copy("sweep"), ["measure", "sweep", "--workers", "0"], "--workers"),
    ("export-wavs missing folder", None, ["export-wavs", "nope"], "nope"),
    ("export-wavs not an export", _file("e/x.txt", b""), ["export-wavs", "e"], "manifest"),
    # ---- sweep
    ("sweep step nan", _spec('kind = "dimension"\nvar = "z3"\nfrom = 0\nto = 1\nstep = nan'), "SWEEP", "step"),
    ("sweep to inf", _spec('kind = "dimension"\nvar = "z3"\nfrom = 0\nto = inf\nstep = 1'), "SWEEP", "to"),
    ("sweep step two", _spec('kind = "dimension"\nvar = "z3"\nfrom = 0\nto = 1\nstep = "two"'), "SWEEP", "step"),
    ("sweep bases 0", _spec('kind = "dimension"\nvar = "z3"\nfrom = 0\nto = 1\nstep = 1\nbases = 0'), "SWEEP",
     "bases"),
    ("sweep bases -3", _spec('kind = "dimension"\nvar = "z3"\nfrom = 0\nto = 1\nstep = 1\nbases = -3'), "SWEEP",
     "bases"),
    ("sweep key typo", _spec('kind = "dimension"\nvar = "z3"\nfrom = 0\nto = 1\nstep = 1\nbsaes = 1'), "SWEEP",
     "bsaes"),
    ("sweep empty path", _spec('kind = "code"\npath = []\nstep = 0.5'), "SWEEP", "path"),
    ("sweep ragged path", _spec('kind = "code"\npath = [[1, 0], [0]]\nstep = 0.5'), "SWEEP", "path"),
    ("sweep path step 0", _spec('kind = "code"\npath = [[1, 0], [0, 1]]\nstep = 0'), "SWEEP", "step"),
    ("sweep random n 0", _spec('kind = "random"\nn = 0'), "SWEEP", "n"),
    ("sweep kind foo", _spec('kind = "foo"'), "SWEEP", "kind"),
    ("sweep var z999", _spec('kind = "dimension"\nvar = "z999"\nfrom = 0\nto = 1\nstep = 1'), "SWEEP", "z999"),
    ("sweep seed -1", _spec('kind = "random"\nn = 2\nseed = -1'), "SWEEP", "seed"),
    ("sweep = 5", _file("spec.toml", b"sweep = 5\n"), "SWEEP", "sweep"),
    ("sweep code true", _spec('kind = "random"\nn = 2\ncode = true'), "SWEEP", "code"),
    ("sweep code nan", _spec('kind = "random"\nn = 2\ncode = nan'), "SWEEP", "code"),
    ("sweep code inf", _spec('kind = "random"\nn = 2\ncode = inf'), "SWEEP", "code"),
    ("sweep code mixed list", _spec('kind = "random"\nn = 2\ncode = [1, "a"]'), "SWEEP", "code"),
    ("sweep code on a wavegan random", _spec('kind = "random"\nn = 2\ncode = 1'),
     ["sweep", "spec.toml", "--checkpoint", "{m}/wavegan.pt", "--out", "s"], "code"),
    ("sweep from -1e308", _spec('kind = "dimension"\nvar = "z3"\nfrom = -1e308\nto = 1\nstep = 1e308'), "SWEEP",
     "from"),
    ("sweep to 1e308", _spec('kind = "dimension"\nvar = "z3"\nfrom = 0\nto = 1e308\nstep = 1'), "SWEEP", "to"),
    ("sweep tiny step", _spec('kind = "dimension"\nvar = "z3"\nfrom = 0\nto = 1\nstep = 1e-320'), "SWEEP", "step"),
    ("sweep var a number", _spec('kind = "dimension"\nvar = 3\nfrom = 0\nto = 1\nstep = 1'), "SWEEP", "var"),
    ("sweep path 1e308", _spec('kind = "code"\npath = [[1e308, 0], [0, 1]]\nstep = 0.5'), "SWEEP", "path"),
    ("sweep line nested", _spec('kind = "line"\na = [[0.1, 0.2]]\nb = [0.1]'), "SWEEP", "'a'"),
    ("sweep line latents of another model", _latents_of_another_model, "SWEEP", "lat.csv"),
    ("sweep invalid TOML", _file("spec.toml", b"[sweep\nkind = "), "SWEEP", "spec.toml"),
    ("sweep missing spec", None, "SWEEP", "spec.toml"),
    ("sweep code on a wavegan", _spec('kind = "code"\nvar = "c1"\nfrom = 0\nto = 1\nstep = 0.5'),
     ["sweep", "spec.toml", "--checkpoint", "{m}/wavegan.pt", "--out", "s"], "code"),
    ("sweep flags step 0", None,
     ["sweep", "--checkpoint", "{m}/ciwgan.pt", "--var", "z3", "--from", "0", "--to", "1", "--step", "0",
      "--out", "s"], "step"),
    ("sweep huge without --yes",
     _spec('kind = "dimension"\nvar = "z3"\nfrom = 0\nto = 200000\nstep = 1\nbases = 1'), "SWEEP", "--yes"),
    # ---- stats
    # ---- atlas, intervene
    ("atlas values not numbers", None, ["atlas", "--checkpoint", "{m}/ciwgan.pt", "--values", "a,b", "--out", "at"],
     "--values"),
    ("atlas variable z999", None, ["atlas", "--checkpoint", "{m}/ciwgan.pt", "--variables", "z999", "--out", "at"],
     "z999"),
    ("atlas checkpoint missing", None, ["atlas", "--checkpoint", "nope.pt", "--out", "at"], "nope.pt"),
    ("sweep random n 1e20", None, ["sweep", "--checkpoint", "{m}/ciwgan.pt", "--n", "99999999999999999999",
                                   "--out", "s"], "'n'"),
    ("sweep from 1e20", None, ["sweep", "--checkpoint", "{m}/ciwgan.pt", "--var", "z1", "--from",
                               "99999999999999999999", "--to", "1", "--step", "1", "--out", "s"], "'from' 1e+20"),
    ("intervene layer conv9", None, ["intervene", "--checkpoint", "{m}/ciwgan.pt", "--layer", "conv9",
                                     "--channels", "1", "--set", "0", "--out", "iv"], "conv9"),
    ("intervene channel out of range", None, ["intervene", "--checkpoint", "{m}/ciwgan.pt", "--layer", "conv1",
                                              "--channels", "99999", "--set", "0", "--out", "iv"], "99999"),
    ("intervene a billion bases", None, ["intervene", "--checkpoint", "{m}/ciwgan.pt", "--layer", "conv1",
                                         "--channels", "1", "--set", "0", "--bases", str(10**9), "--out", "i"],
     "--bases: 2,000,000,000 samples"),
    ("intervene set beyond float32", None, ["intervene", "--checkpoint", "{m}/ciwgan.pt", "--layer", "conv1",
                                            "--channels", "1", "--set", "1e39", "--out", "i"], "finite float32"),
    ("intervene a range of ten billion channels", None,
     ["intervene", "--checkpoint", "{m}/ciwgan.pt", "--layer", "conv1", "--channels", "0-9999999999", "--set", "0",
      "--out", "i"], "beyond any layer's"),
    ("intervene channels with an empty entry", None,
     ["intervene", "--checkpoint", "{m}/ciwgan.pt", "--layer", "conv1", "--channels", "1,,2", "--set", "0",
      "--out", "i"], "'1,,2'"),
    # ---- pretrained encoders, correlate-input, compare-series
    ("probe crepe hop longer than the input", None,
     ["probe", "--network", "crepe", "--wavs", "{m}/corpus", "--hop", str(10**9), "--out", "p"], "--hop: 1,000,000,000"),
    ("probe crepe a billion-sample slice", None,
     ["probe", "--network", "crepe", "--wavs", "{m}/corpus", "--slice-len", str(10**9), "--out", "p"],
     "--slice-len: must be between 1 and 1,048,576"),
    ("measure a billion points", _copy("sweep"), ["measure", "sweep", "--points", str(10**9), "--overwrite"],
     "--points: must be a whole number from 1 to 1,000"),
    ("probe network foo", None, ["probe", "--network", "foo", "--wavs", "{m}/corpus", "--out", "p"], "--network"),
    ("probe crepe with a checkpoint", None, ["probe", "--network", "crepe", "--checkpoint", "{m}/ciwgan.pt",
                                             "--wavs", "{m}/corpus", "--out", "p"], "--checkpoint"),
    ("probe hf folder missing", None, ["probe", "--network", "hf:nowhere", "--wavs", "{m}/corpus", "--out", "p"],
     "nowhere"),
    ("correlate-input missing folder", None, ["correlate-input", "nope"], "nope"),
    ("correlate-input measures f9", None, ["correlate-input", "{m}/sweep", "--measures", "f9"], "--measures"),
    # an output file named by an option (--out FILE, --json FILE): checked before any work
    ("correlate-input out onto the manifest", _copy("sweep"),
     ["correlate-input", "sweep", "--out", "sweep/manifest.csv", "--overwrite"], "manifest.csv"),
    ("correlate-input out onto a TextGrid", _copy("sweep"),
     ["correlate-input", "sweep", "--out", "sweep/b000_v000.TextGrid", "--overwrite"], "TextGrid"),
    ("correlate-input out a folder", _both(_copy("sweep"), _file("d/x.txt", b"")),
     ["correlate-input", "sweep", "--out", "d"], "is a folder"),
    ("correlate-input out exists", _both(_copy("sweep"), _file("mine.csv", b"a,b\n")),
     ["correlate-input", "sweep", "--out", "mine.csv"], "--overwrite"),
    ("new-model out exists", _file("m.pt", b"mine"), ["new-model", "--dim", "4", "--out", "m.pt"], "--overwrite"),
    ("new-model out under a file", _file("m.pt", b"mine"), ["new-model", "--dim", "4", "--out", "m.pt/x.pt"],
     "not a folder"),
    ("evaluate-model json onto its checkpoint", _file("m.pt", b"mine"),
     ["evaluate-model", "--checkpoint", "m.pt", "--json", "m.pt", "--overwrite"], "--json"),
    ("evaluate-model n beyond the memory", None, ["evaluate-model", "--checkpoint", "{m}/ciwgan.pt", "--n",
                                                  str(10**8)], "--n: 100,000,000 outputs"),
    ("evaluate-model json a folder", _file("d/x.txt", b""),
     ["evaluate-model", "--checkpoint", "{m}/ciwgan.pt", "--n", "2", "--json", "d"], "is a folder"),
    ("compare-series external missing", None, ["compare-series", "{m}/sweep", "--external", "nope.csv"], "nope.csv"),
    ("compare-series value not a number", _file("e.csv", b"time,v,w\n0,1,a\n0.01,abc,b\n0.02,,c\n"),
     ["compare-series", "{m}/sweep", "--external", "e.csv", "--column", "v"], "'abc' is not a number"),
    ("compare-series a trillion resamples", _file("e.csv", b"time,v\n0,1\n"),
     ["compare-series", "{m}/sweep", "--external", "e.csv", "--n-boot", str(10**12)], "--n-boot"),
    ("compare-series max-lag longer than the series", _file("e.csv", b"time,v\n0,1\n"),
     ["compare-series", "{m}/sweep", "--external", "e.csv", "--max-lag", "1e300"], "--max-lag: 1e+300 s is not"),
    ("correlate-input a label no interval has", None,
     ["correlate-input", "{m}/sweep", "--tier", "auto", "--labels", "nope", "--out", "c.csv"],
     "--labels: no layer sample lies in an interval of tier 'auto' labelled nope"),
    ("correlate-input maximum formant 1 Hz", None,
     ["correlate-input", "{m}/sweep", "--maximum-formant", "1", "--out", "c.csv"], "Praat refused to analyse it"),
    ("correlate-input pitch floor 0", None, ["correlate-input", "{m}/sweep", "--pitch-floor", "0", "--out", "c.csv"],
     "--pitch-floor"),
    ("correlate-input pitch floor too low for the sound", None,
     ["correlate-input", "{m}/sweep", "--pitch-floor", "1e-300", "--out", "c.csv"], "longer than the sound"),
    ("correlate-input pitch ceiling above the Nyquist", None,
     ["correlate-input", "{m}/sweep", "--pitch-ceiling", "1e300", "--out", "c.csv"], "Nyquist"),
    ("correlate-input floor above ceiling", None,
     ["correlate-input", "{m}/sweep", "--pitch-floor", "500", "--pitch-ceiling", "100", "--out", "c.csv"],
     "below the pitch ceiling"),
    ("compare-series max-lag 0", _file("e.csv", b"time,v\n0,1\n"),
     ["compare-series", "{m}/sweep", "--external", "e.csv", "--max-lag", "0"], "--max-lag"),
    ("stats missing folder", None, ["stats", "nope"], "nope"),
    ("stats no table", _file("e/x.txt", b""), ["stats", "e"], "acoustics.csv"),
    ("stats measures foo", _copy("sweep"), ["stats", "sweep", "--measures", "foo"], "foo"),
    ("stats measures empty entry", _copy("sweep"), ["stats", "sweep", "--measures", "f0,"], "--measures"),
    ("stats gam-df 0", _copy("sweep"), ["stats", "sweep", "--gam-df", "0"], "--gam-df"),
    ("stats out into another run's folder", lambda ws, m: [shutil.copytree(m / "sweep", ws / d) for d in ("sweep", "o")],
     ["stats", "sweep", "--out", "o"], "o: is an export folder"),
    ("stats table cut mid-row", _sweep_with_cut_table, ["stats", "sweep", "--workers", "1"], "acoustics.csv"),
    ("stats layers conv9", _copy("sweep"), ["stats", "sweep", "--layers", "conv9"], "conv9"),
    ("stats binary table", _both(_copy("sweep"), lambda ws, m: (ws / "sweep" / layout.ACOUSTICS).write_bytes(
        RANDOM_BYTES)), ["stats", "sweep"], "acoustics.csv"),
    # ---- plot
    ("plot formats xyz", _copy("sweep"), ["plot", "sweep", "--formats", "xyz"], "xyz"),
    ("plot missing folder", None, ["plot", "nope"], "nope"),
    # ---- corpus
    ("corpus check missing", None, ["corpus", "check", "nope"], "nope"),
    ("corpus check no WAVs", _file("c/readme.txt", b""), ["corpus", "check", "c"], "c"),
    ("corpus check a rate needing a giant filter", lambda ws, m: (ws / "c").mkdir() or io.write_wav(
        ws / "c" / "odd.wav", np.zeros(100, dtype=np.float32), 25_821_309), ["corpus", "check", "c", "--strict"],
     "odd.wav: cannot resample 25,821,309 Hz"),
    ("corpus synth n 0", None, ["corpus", "synth", "--n", "0", "--out", "c"], "--n"),
    ("corpus synth n 1e9", None, ["corpus", "synth", "--template", "stv", "--n", str(10**9), "--out", "c"], "--n"),
    ("corpus synth 2M without --yes", None,
     ["corpus", "synth", "--template", "stv", "--n", str(2 * 10**6), "--out", "c"], "--yes"),
    ("corpus synth sr 2**32", None, ["corpus", "synth", "--template", "stv", "--n", "2", "--sr", str(2**32),
                                     "--out", "c"], "--sr"),
    ("corpus cut labels repeated", _file("r/a.wav", b""), ["corpus", "cut", "r", "--out", "c", "--labels", "a,a"],
     "--labels"),
    # ---- train
    ("train missing data", None, ["train", "nope", "--out", "run", "--dim", "8", "--steps", "1"], "nope"),
    ("train no WAVs", _file("d/readme.txt", b""), ["train", "d", "--out", "run", "--dim", "8", "--steps", "1"], "d"),
    ("train lr beyond float32", _copy("corpus"), ["train", "corpus", "--out", "run", "--lr", "1e308"], "--lr"),
    ("train steps 0", _copy("corpus"), ["train", "corpus", "--out", "run", "--steps", "0"], "--steps"),
    ("train lr 0", _copy("corpus"), ["train", "corpus", "--out", "run", "--lr", "0"], "--lr"),
    ("train out is a file", _both(_copy("corpus"), _file("run", b"x")),
     ["train", "corpus", "--out", "run", "--dim", "8", "--steps", "1"], "run"),
    ("train on a training run's previews", _both(_copy("corpus"), _file(f"corpus/{layout.LOG_CSV}", b"step\n")),
     ["train", "corpus", "--out", "run", "--dim", "8", "--steps", "1"], "corpus: is a training folder"),
    ("train on a corpus holding an export", _corpus_holding_the_sweep,
     ["train", "corpus", "--out", "run", "--dim", "8", "--steps", "1"], "corpus/old: is an export folder"),
    ("corpus check of an export", _copy("sweep"), ["corpus", "check", "sweep"], "sweep: is an export folder"),
    ("corpus cut from an export", _copy("sweep"), ["corpus", "cut", "sweep", "--tier", "auto", "--out", "c"],
     "sweep: is an export folder"),
    ("evaluate-model n 0", None, ["evaluate-model", "--checkpoint", "{m}/ciwgan.pt", "--n", "0"], "--n"),
    # ---- export-files, explore
    ("export-files missing store", None, ["export-files", "nope", "--out", "o"], "nope"),
    ("export-files not a store", _copy("sweep"), ["export-files", "sweep", "--out", "o"], "sweep"),
    ("export-files a store missing a chunk", _damaged_store(lambda z: shutil.rmtree(z / "conv2" / "c")),
     ["export-files", "st", "--out", "o"], "st/store.zarr/conv2: the chunk of finished samples"),
    ("export-files a store with cut metadata", _damaged_store(lambda z: (z / "conv1" / "zarr.json").write_text("{")),
     ["export-files", "st", "--out", "o"], "st/store.zarr: unreadable store"),
    ("stats a store whose array changed shape", _damaged_store(lambda z: (z / "output" / "zarr.json").write_text(
        (z / "output" / "zarr.json").read_text().replace('"shape": [\n    3,', '"shape": [\n    2,'))),
     ["stats", "st"], "holds float32 [2, "),
    ("measure scheduler ucx", _copy("sweep"), ["measure", "sweep", "--scheduler", "ucx://1.2.3.4:1", "--overwrite"],
     "--scheduler: 'ucx://1.2.3.4:1' is not 'local' or a scheduler address"),
    ("measure scheduler port 99999999", _copy("sweep"),
     ["measure", "sweep", "--scheduler", "tcp://host:99999999", "--overwrite"], "a port 1–65535"),
    ("measure scheduler unclosed IPv6 bracket", _copy("sweep"),
     ["measure", "sweep", "--scheduler", "tcp://[::1", "--overwrite"], "is not a scheduler address"),
    ("plot base of a probe (not a sweep)",
     lambda ws, m: run_cli(["probe", "--checkpoint", m / "ciwgan.pt", "--n", "1", "--out", "p", "--quiet"], ws),
     ["plot", "p", "--base", "1"], "--base: p is not a sweep"),
    ("explore missing folder", None, ["explore", "nope"], "nope"),
    ("explore empty folder", _file("e/x.txt", b""), ["explore", "e"], "e"),
    # ---- demo
    ("demo a billion random samples", None, ["demo", "--out", "d", "--n-random", str(10**9)], "--n-random: 1,000,000,000"),
    ("demo a billion bases", None, ["demo", "--out", "d", "--bases", str(10**9)], "--bases: 20,000,000,000"),
    ("demo into an export", _copy("sweep"), ["demo", "--out", "sweep", "--quick"], "sweep"),
    # ---- a link to nothing in a folder that is read: named, never skipped silently
    ("annotate WAVs with a broken link", _both(_copy("corpus"), _link("corpus/gone.wav", "/nonexistent")),
     ["annotate", "corpus"], "corpus/gone.wav: a link to /nonexistent, which does not exist"),
    ("measure WAVs with a broken link", _both(_copy("corpus"), _link("corpus/gone.wav", "missing.wav")),
     ["measure", "corpus", "--tier", "", "--out", "a.csv"], "corpus/gone.wav: a link to missing.wav, which does not"),
    ("corpus check --strict a broken link", _both(_copy("corpus"), _link("corpus/gone.wav", "/nonexistent")),
     ["corpus", "check", "corpus", "--strict"], "corpus/gone.wav: a link to /nonexistent, which does not exist"),
]

SWEEP_ARGV = ["sweep", "spec.toml", "--checkpoint", "{m}/ciwgan.pt", "--out", "s", "--workers", "1"]


@pytest.mark.parametrize("case_id, setup, argv, needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case_id, setup, argv, needle, material, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    if setup is not None:
        setup(ws, material)
    if argv == "SWEEP":
        argv = SWEEP_ARGV
    argv = [a.replace("{m}", str(material)) for a in argv]
    before = _tree(ws)
    code, _, err = run_cli(argv, ws)
    lines = stderr_lines(err)
    assert "Traceback" not in err, err
    assert code == 2, f"exit {code}; stderr: {err!r}"
    assert len(lines) == 1, lines
    assert lines[0].startswith("ganphon"), lines[0]
    assert needle in lines[0], lines[0]
    assert _tree(ws) == before


def test_the_table_has_at_least_60_cases_across_every_command():
    from ganphon.cli import COMMANDS

    assert len(CASES) >= 60
    covered = {(argv if argv != "SWEEP" else SWEEP_ARGV)[0] for _, _, argv, _ in CASES}
    assert covered >= set(COMMANDS) - {"praat-plugin"}


# --------------------------------------------------------------------------
# Bad inputs that are not errors: a flagged row or a notice, never silence


def test_an_unreadable_wav_is_measured_as_flagged_rows(material, tmp_path):
    """One garbage WAV among many: its rows are NaN with a note naming it; every other file is measured."""
    import pandas as pd

    _garbage_wav(tmp_path, material)
    code, out, err = run_cli(["measure", "sweep", "--workers", "1", "--out", "a.csv", "--quiet"], tmp_path)
    assert code == 0 and "Traceback" not in err
    table = pd.read_csv(tmp_path / "a.csv")
    bad = table[table["file"] == layout.layer_wav("b000_v000", "output")]
    from_sound = bad[bad["measure"] != "duration"]  # an interval's duration comes from the TextGrid
    assert len(from_sound) and from_sound["value"].isna().all()
    assert from_sound["note"].str.contains("cannot read").all()
    assert table.loc[table["file"] != bad["file"].iloc[0], "value"].notna().any()


@pytest.mark.parametrize("command", [["corpus", "check", "corpus"]])
def test_float_wavs_far_beyond_one_get_a_notice(command, tmp_path, material):
    _float_wav(450.0)(tmp_path, material)
    code, _, err = run_cli(command, tmp_path)
    assert code == 0
    notices = [line for line in stderr_lines(err) if "loud.wav" in line]
    assert len(notices) == 1 and "±450" in notices[0]


# --------------------------------------------------------------------------
# Fault injection: signals and a full disk, in real subprocesses


def _popen(argv, cwd):
    return subprocess.Popen([*GANPHON, *map(str, argv)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=sigint_default)


def _stopped(proc, timeout=60.0) -> tuple[str, str]:
    """``proc.communicate`` after a stop signal; a command still running after ``timeout`` is killed and fails
    the test with what it had printed, not a bare timeout."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        raise AssertionError(f"still running {timeout:.0f} s after the stop; its standard error:\n{err[-6000:]}")


def _until(predicate, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"finished before the fault (exit {proc.returncode}): {proc.stderr.read()[-500:]}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the fault point never came")


@pytest.fixture(scope="module")
def many_files(material, tmp_path_factory):
    """A plain folder of 1,080 name.wav + name.TextGrid pairs (the sweep's files, 30 times): enough work
    that an idle 2-core machine is still measuring a second after the workers start."""
    folder = tmp_path_factory.mktemp("many") / "wavs"
    folder.mkdir()
    sweep = material / "sweep"
    names = sorted({p.with_suffix(".wav").name for p in sweep.iterdir() if p.suffix in (".wav", ".Sound")})
    for name in names:  # every series at 16 kHz (a layer stored as its Sound: the samples of its WAV)
        x, sr = io.read_layer_wav(sweep / name)
        io.write_wav(folder / name, x, sr)
    for k in range(30):
        for name in names:
            sid, layer = layout.parse_sample_file(name)
            stem = name.removesuffix(".wav")
            shutil.copy(folder / name, folder / f"k{k}_{stem}.wav")
            shutil.copy(sweep / layout.textgrid(sid), folder / f"k{k}_{stem}.TextGrid")
    for name in names:
        (folder / name).unlink()
    return folder


@pytest.fixture(scope="module")
def many_files_table(many_files, tmp_path_factory):
    """The table an uninterrupted ``measure`` of ``many_files`` writes."""
    folder = tmp_path_factory.mktemp("many_table")
    reference = folder / "reference.csv"
    code, _, err = run_cli(["measure", many_files, "--workers", "2", "--out", reference, "--quiet"], folder)
    assert code == 0, err
    return reference


#: How each stop signal is sent and said: Ctrl-C and a batch system's SIGTERM reach the whole process group,
#: a closing terminal's SIGHUP the command; each stops it as Ctrl-C does, with 128 + the signal's number
STOPS = {"SIGINT": (True, 130, "ganphon: interrupted: "), "SIGTERM": (True, 143, "ganphon: stopped by SIGTERM: "),
         "SIGHUP": (False, 129, "ganphon: stopped by SIGHUP: ")}


@pytest.mark.slow
@pytest.mark.parametrize("sig", list(STOPS))
def test_ctrl_c_during_measure_stops_at_once_keeps_a_partial_table_and_a_rerun_completes(many_files,
                                                                                         many_files_table,
                                                                                         tmp_path, sig):
    import pandas as pd

    group, status, said = STOPS[sig]
    reference = many_files_table
    out = tmp_path / "table.csv"
    proc = _popen(["measure", many_files, "--workers", "2", "--out", out, "--quiet"], tmp_path)
    # the workers write nothing we can watch, so wait until they are busy, then a little longer
    _until(lambda: len(descendants(proc.pid)) >= 3, proc)
    time.sleep(1.0)
    workers = descendants(proc.pid)
    assert proc.poll() is None, f"measure finished before {sig}: the folder is too small for this machine"
    sent = time.monotonic()
    (os.killpg if group else os.kill)(proc.pid, getattr(signal, sig))  # Ctrl-C in a terminal, a time limit …
    _, err = _stopped(proc)
    latency = time.monotonic() - sent
    assert proc.returncode == status, err
    assert latency < 5.0, f"{latency:.1f} s from {sig} to exit"
    lines = stderr_lines(err)
    assert len(lines) == 1 and lines[0].startswith(said) and "Traceback" not in err, lines
    assert _until_gone(workers), "worker processes outlived the interrupted measure"
    assert not out.exists()  # never a partial table under the final name
    partial = out.with_name("table.partial.csv")
    if partial.exists():  # the files measured before Ctrl-C, exactly as the full run measured them
        kept, full = pd.read_csv(partial), pd.read_csv(reference)
        assert 0 < kept["file"].nunique() < full["file"].nunique()
        pd.testing.assert_frame_equal(kept, full[full["file"].isin(set(kept["file"]))].reset_index(drop=True))
    code, _, err = run_cli(["measure", many_files, "--workers", "2", "--out", out, "--quiet"], tmp_path)
    assert code == 0, err
    assert out.read_bytes() == reference.read_bytes()
    assert not partial.exists()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_annotation_stopped_part_way_is_refused_by_measure_until_it_is_run_again(many_files, tmp_path, sig):
    """An annotation stopped part-way leaves TextGrids of two annotations (its own and the earlier one):
    the folder says so, and measuring its tier is refused with one line until the annotation is rerun."""
    from ganphon.annotate import AUTO_TIER, SegmentSettings, check_finished, segment

    folder = tmp_path / "wavs"
    folder.mkdir()
    outputs = sorted(many_files.glob("*_output.wav"))
    for n in range(1080):  # a folder of recordings (name.wav + name.TextGrid), 1,080 of them
        wav = outputs[n % len(outputs)]
        shutil.copy(wav, folder / f"r{n:04d}.wav")
        shutil.copy(wav.with_suffix(".TextGrid"), folder / f"r{n:04d}.TextGrid")  # an earlier 'auto' tier
    before = {p.name: p.read_bytes() for p in folder.glob("*.TextGrid")}
    argv = ["annotate", folder, "--workers", "2", "--time-step", "0.01", "--quiet"]
    proc = _popen(argv, tmp_path)
    record = folder / layout.ANNOTATE_JSON
    _until(lambda: sum((folder / name).read_bytes() != old for name, old in before.items()) >= 20, proc)
    assert proc.poll() is None, "annotate finished before the stop: the folder is too small for this machine"
    os.killpg(proc.pid, sig)
    _, err = _stopped(proc)
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, err
        lines = stderr_lines(err)
        assert len(lines) == 1 and lines[0].startswith("ganphon: stopped by SIGTERM: ") \
            and "samples annotated; annotate.json says the annotation is unfinished" in lines[0], lines
    changed = sum((folder / name).read_bytes() != old for name, old in before.items())
    assert 20 <= changed < len(before)  # two annotations in one folder
    assert json.loads(record.read_text(encoding="utf-8"))["finished"] is False

    code, _, err = run_cli(["measure", folder, "--quiet"], tmp_path)
    lines = stderr_lines(err)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"ganphon: error: {record}: the annotation writing tier 'auto' stopped before it "
                               "finished") and lines[0].endswith("run it again: ganphon annotate " + " ".join(
                                   str(a) for a in argv[1:])), lines
    assert not (folder / layout.ACOUSTICS).exists()

    code, _, err = run_cli(argv, tmp_path)  # run again: one annotation, the folder says so
    assert code == 0, err
    assert json.loads(record.read_text(encoding="utf-8"))["finished"] is True
    settings = SegmentSettings(time_step=0.01)
    for grid in [folder / name for name in sorted(before)[::90]]:  # against the segmentation of the file itself
        tier = io.read_textgrid(grid).get_tier_by_name(AUTO_TIER)
        expected = segment(io.read_sound(grid.with_suffix(".wav")), settings)
        assert [i.text for i in tier.intervals] == [label for _, _, label in expected]
        np.testing.assert_allclose([[i.start_time, i.end_time] for i in tier.intervals],
                                   [[a, b] for a, b, _ in expected], atol=1e-9)
    check_finished(folder, AUTO_TIER)  # measure takes it again
    check_finished(folder, "phones")
    assert not [p.name for p in folder.iterdir() if layout.is_temporary(p.name)]  # the stopped run's backups


def _interrupt_on_call(monkeypatch, module, name, call):
    """``module.name`` raises KeyboardInterrupt (Ctrl-C) when called the ``call``-th time, before it runs."""
    real, calls = getattr(module, name), []

    def stopped(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, stopped)
    return calls


def _everything(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_measure_stopped_between_its_table_and_its_record_keeps_the_earlier_pair(material, tmp_path, monkeypatch):
    from ganphon import acoustics

    folder = tmp_path / "sweep"
    shutil.copytree(material / "sweep", folder)
    code, _, err = run_cli(["measure", folder, "--workers", "1", "--quiet", "--overwrite"], tmp_path)
    assert code == 0, err
    before = _everything(folder)
    _interrupt_on_call(monkeypatch, acoustics, "write_measure_record", 1)  # the new table is written by then
    code, _, err = run_cli(["measure", folder, "--workers", "1", "--points", "3", "--quiet", "--overwrite"], tmp_path)
    assert code == 130, err
    after = _everything(folder)
    assert after.keys() == before.keys() and all(after[k] == before[k] for k in before if k != layout.LEDGER)


#: ``ganphon ARGV`` killed (SIGKILL: nothing runs after it) when measure has written its table, before its record.
_KILLED_BEFORE_RECORD = """
import os, signal, sys
from ganphon import acoustics
from ganphon.cli import main
acoustics.write_measure_record = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
sys.exit(main(sys.argv[1:]))
"""


def test_a_table_whose_record_is_another_measurements_is_not_fitted(material, tmp_path):
    """``kill -9`` between measure's table and its record leaves the new table beside the earlier record (no
    handler runs): the record keeps its table's digest, and stats refuses the pair in one line."""
    folder = tmp_path / "sweep"
    shutil.copytree(material / "sweep", folder)
    code, _, err = run_cli(["measure", folder, "--workers", "1", "--quiet", "--overwrite"], tmp_path)
    assert code == 0, err
    record = json.loads((folder / layout.ACOUSTICS_JSON).read_text())
    table_bytes = (folder / layout.ACOUSTICS).read_bytes()
    assert record["table_sha256"] == hashlib.sha256(table_bytes).hexdigest()[:16]
    killed = subprocess.run([sys.executable, "-c", _KILLED_BEFORE_RECORD, "measure", str(folder), "--workers", "1",
                             "--points", "3", "--quiet", "--overwrite"], cwd=tmp_path, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (folder / layout.ACOUSTICS).read_bytes() != table_bytes  # the 3-point table, under the 10-point record
    assert json.loads((folder / layout.ACOUSTICS_JSON).read_text())["request"]["points"] == 10
    code, _, err = run_cli(["stats", folder, "--measures", "intensity", "--quiet"], tmp_path)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert str(folder / layout.ACOUSTICS) in lines[0] and "changed after its record acoustics.json" in lines[0]
    assert "--allow-stale" in lines[0] and not (folder / "stats").exists()
    code, _, err = run_cli(["stats", folder, "--measures", "intensity", "--quiet", "--allow-stale"], tmp_path)
    assert code == 0, err
    assert [line for line in err.splitlines() if "changed after its record" in line][0].startswith("ganphon: note:")
    stats = json.loads((folder / "stats" / layout.STATS_JSON).read_text())
    assert stats["stale"] == [io.table_mismatch(record, folder / layout.ACOUSTICS)] and stats["inputs"]["acoustics"]
    # measuring again writes a matching pair (over a table its record does not describe: --overwrite)
    code, _, err = run_cli(["measure", folder, "--workers", "1", "--points", "3", "--quiet", "--overwrite"],
                           tmp_path)
    assert code == 0, err
    code, _, err = run_cli(["stats", folder, "--measures", "intensity", "--quiet"], tmp_path)
    assert code == 0 and "note:" not in err, err


#: ``ganphon measure ARGV`` with the folder annotated again (the real command, another process) while it is
#: measured: after the files are read, before the table is written.
_ANNOTATED_WHILE_MEASURED = """
import subprocess, sys
from ganphon import acoustics
from ganphon.cli import main
measure_for_file = acoustics._measure_for_file
def annotated_meanwhile(folder, *args, **kwargs):
    table = measure_for_file(folder, *args, **kwargs)
    subprocess.run([sys.executable, "-m", "ganphon", "annotate", str(folder), "--layers", "conv4", "--quiet"], check=True)
    return table
acoustics._measure_for_file = annotated_meanwhile
sys.exit(main(sys.argv[1:]))
"""


def test_a_folder_annotated_while_it_is_measured_gives_no_table(material, tmp_path):
    """``measure DIR --out elsewhere`` does not hold DIR, so another command may annotate it meanwhile: the
    table would mix two annotations under the digest of the second.  Measure compares the folder's digests
    before and after reading and writes nothing when they differ."""
    folder = tmp_path / "sweep"
    shutil.copytree(material / "sweep", folder)
    grids = {p.name: p.read_bytes() for p in folder.glob("*.TextGrid")}
    out = tmp_path / "elsewhere" / "table.csv"
    run = subprocess.run([sys.executable, "-c", _ANNOTATED_WHILE_MEASURED, "measure", str(folder), "--out", str(out),
                          "--workers", "1", "--quiet"], cwd=tmp_path, capture_output=True, text=True)
    assert {p.name: p.read_bytes() for p in folder.glob("*.TextGrid")} != grids, run.stderr  # annotated meanwhile
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert str(folder) in lines[0] and "TextGrids changed" in lines[0] and "while it was being measured" in lines[0]
    assert not out.parent.exists()  # the folder --out made is removed with the failure
    # measured again, nothing else writing: the table and its record (--out's missing folder made)
    code, _, err = run_cli(["measure", folder, "--out", out, "--workers", "1", "--quiet"], tmp_path)
    assert code == 0 and out.is_file(), err
    assert json.loads(out.with_suffix(".json").read_text())["inputs"]["textgrids"] == io.textgrid_digest(folder)


def _until_gone(pids, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(process_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def _sample_files(folder: Path) -> dict:
    """Hashes of everything but the run records (they hold the command, with its --out, and the time)."""
    records = (layout.RUN_JSON, layout.ACOUSTICS_JSON, layout.ANNOTATE_JSON)
    return {k: v for k, v in _tree(folder).items() if k not in records}


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_probe_stopped_midway_then_rerun_equals_an_uninterrupted_run(material, tmp_path, sig):
    argv = ["probe", "--checkpoint", material / "ciwgan.pt", "--n", "48", "--batch-size", "4", "--seed", "5",
            "--quiet"]
    code, _, err = run_cli([*argv, "--out", tmp_path / "whole"], tmp_path)
    assert code == 0, err
    out = tmp_path / "cut"
    proc = _popen([*argv, "--out", out], tmp_path)
    finished = out / layout.FINISHED
    _until(lambda: finished.exists() and finished.read_text().count("\n") >= 8, proc)
    os.killpg(proc.pid, sig)
    _stopped(proc)
    assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}[sig]
    assert not (out / layout.MANIFEST).exists() or sig != signal.SIGKILL
    kind, names = layout.read_ledger(out)  # every entry the stopped run left is claimed by its ledger
    assert kind == "export" and {p.name for p in out.iterdir() if not p.name.startswith(".")} <= names
    code, _, err = run_cli([*argv, "--out", out], tmp_path)
    assert code == 0, err
    assert _sample_files(out) == _sample_files(tmp_path / "whole")  # no leftover temp file either


@pytest.mark.slow
def test_sweep_killed_midway_leaves_no_workers_and_a_rerun_completes_exactly(material, tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('[sweep]\nkind = "dimension"\nvar = "z3"\nfrom = -2\nto = 2\nstep = 1\nbases = 6\nseed = 2\n')
    argv = ["sweep", spec, "--checkpoint", material / "ciwgan.pt", "--workers", "2", "--quiet"]
    code, _, err = run_cli([*argv, "--out", tmp_path / "whole"], tmp_path)
    assert code == 0, err
    out = tmp_path / "cut"
    proc = _popen([*argv, "--out", out], tmp_path)
    _until(lambda: len(descendants(proc.pid)) >= 3, proc)  # annotating or measuring in workers
    workers = descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert _until_gone(workers), "workers outlived the killed sweep"
    code, _, err = run_cli([*argv, "--out", out], tmp_path)
    assert code == 0, err
    assert _sample_files(out) == _sample_files(tmp_path / "whole")
    cut, whole = (json.loads((folder / layout.ANNOTATE_JSON).read_text(encoding="utf-8"))
                  for folder in (out, tmp_path / "whole"))
    assert (cut["request"], cut["textgrids"]) == (whole["request"], whole["textgrids"])  # the same annotation


@pytest.mark.slow
@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_stop_signals_stop_train_with_a_checkpoint_and_exit_128_plus_the_signal(material, tmp_path, sig, status):
    """A scheduler's SIGTERM (or the terminal closing) must not look like success to '&&' chains; --resume
    then continues."""
    argv = ["train", material / "corpus", "--out", tmp_path / "run", "--arch", "wavegan", "--dim", "8",
            "--batch-size", "2", "--steps", "100000", "--log-every", "1", "--preview-every", "0", "--quiet"]
    proc = _popen(argv, tmp_path)
    log = tmp_path / "run" / "train_log.csv"
    _until(lambda: log.exists() and log.read_text().count("\n") >= 3, proc, timeout=300)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    assert list((tmp_path / "run").glob("G_*.pt")), "no checkpoint written on SIGTERM"


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (root only; skipped elsewhere)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", str(mnt)], capture_output=True)


@pytest.fixture
def read_only_sweep(material, tmp_path):
    """A copy of the measured sweep, mounted read-only (a shared data set; root only, skipped elsewhere)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("a read-only bind mount needs root")
    shutil.copytree(material / "sweep", tmp_path / "rw")
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "--bind", str(tmp_path / "rw"), str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot bind-mount here")
    if subprocess.run(["mount", "-o", "remount,ro,bind", str(mnt)], capture_output=True).returncode:
        subprocess.run(["umount", str(mnt)], capture_output=True)
        pytest.skip("cannot remount read-only here")
    yield mnt
    subprocess.run(["umount", str(mnt)], capture_output=True)


def test_a_read_only_folder_is_read_and_a_write_into_it_names_the_file_not_its_backup(read_only_sweep, tmp_path):
    """annotate's first write into a read-only folder is the backup of a TextGrid (.ID.TextGrid.bakPID): the
    error named that internal name; it names the TextGrid.  Reading the folder and writing elsewhere work."""
    for argv in (["annotate", read_only_sweep, "--quiet"], ["plot", read_only_sweep],
                 ["stats", read_only_sweep, "--quiet"]):
        code, _, err = run_cli(argv, tmp_path)
        lines = stderr_lines(err)
        assert code == 2 and len(lines) == 1 and "Read-only file system" in lines[0], lines
        named = lines[0].removeprefix("ganphon: error: ").split(":")[0]
        assert named.startswith(str(read_only_sweep)) and not layout.is_temporary(Path(named).name), lines
    code, _, err = run_cli(["stats", read_only_sweep, "--out", tmp_path / "st", "--quiet"], tmp_path)
    assert code == 0 and (tmp_path / "st" / "stats.json").is_file(), err
    code, _, err = run_cli(["measure", read_only_sweep, "--out", tmp_path / "m.csv", "--quiet"], tmp_path)
    assert code == 0 and (tmp_path / "m.csv").is_file(), err
    code, _, err = run_cli(["plot", read_only_sweep, "--stats", tmp_path / "st", "--out", tmp_path / "figs",
                            "--formats", "png"], tmp_path)
    assert code == 0 and list((tmp_path / "figs").glob("sweep_grid_base*.png")), err
    code, _, err = run_cli(["explore", read_only_sweep, "--out", tmp_path / "pages", "--quiet"], tmp_path)
    assert code == 0 and (tmp_path / "pages" / "explore.html").is_file(), err


def test_a_probe_larger_than_the_free_disk_is_refused_before_writing(material, tmp_path, small_disk):
    code, _, err = run_cli(["probe", "--checkpoint", material / "ciwgan.pt", "--n", "40", "--out", small_disk / "p",
                            "--quiet"], tmp_path)
    lines = stderr_lines(err)
    assert code == 2 and len(lines) == 1 and "--n" in lines[0], lines
    # sizes in the unit that shows them: a 2 MiB disk is not "0.0 GiB free"
    assert re.search(r"would take about \d+\.\d MiB \(2\.0 MiB free on ", lines[0]), lines
    assert not list(small_disk.iterdir())


def test_a_disk_that_fills_up_is_one_line_and_leaves_no_half_written_file(material, tmp_path, small_disk):
    """The table does not fit on the disk: exit 2, one line naming it, no temporary file left."""
    (small_disk / "filler").write_bytes(bytes(2 * 2**20 - 64 * 1024))
    shutil.copytree(material / "sweep", tmp_path / "sweep")
    before = _tree(small_disk)
    code, _, err = run_cli(["measure", "sweep", "--workers", "1", "--out", small_disk / "a.csv", "--quiet"], tmp_path)
    lines = stderr_lines(err)
    assert code == 2 and len(lines) == 1 and "No space left" in lines[0] and "Traceback" not in err, lines
    assert str(small_disk / "a.csv") in lines[0]
    assert _tree(small_disk) == before  # no half-written table, no temporary file


def test_a_rerun_removes_temporary_files_of_a_killed_run_only(material, tmp_path):
    """Litter of a writer killed with -9 goes; a live writer's temporary file stays."""
    argv = ["probe", "--checkpoint", material / "ciwgan.pt", "--n", "2", "--out", "p", "--quiet"]
    assert run_cli(argv, tmp_path)[0] == 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / "p" / f".s000001_conv2.tmp{dead.pid}.wav"
    live = tmp_path / "p" / f".s000001_conv3.tmp{os.getpid()}.wav"
    stale.write_bytes(b"half")
    live.write_bytes(b"half")
    backup = tmp_path / "p" / f".s000001_conv2.wav.bak{dead.pid}"  # the old version kept for undo
    trash = tmp_path / "p" / f".figures.old{dead.pid}"  # a folder --overwrite was removing
    backup.write_bytes(b"old")
    trash.mkdir()
    (trash / "a.png").write_bytes(b"png")
    assert run_cli(argv, tmp_path)[0] == 0
    assert not stale.exists() and live.exists()
    assert not backup.exists() and not trash.exists()


# --------------------------------------------------------------------------
# Bad TextGrids, intervals past the sound, unreadable sounds: both engines flag the same rows


_LONG_TEXTGRID = ('File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = {0}\nxmax = {1}\ntiers? <exists>\n'
                  'size = 1\nitem []:\n    item [1]:\n        class = "IntervalTier"\n        name = "auto"\n'
                  '        xmin = {0}\n        xmax = {1}\n        intervals: size = {2}\n')


def _textgrid_text(xmin, xmax, intervals):
    """A TextGrid as text, exactly as given (so Praat reads what a careless tool wrote)."""
    text = _LONG_TEXTGRID.format(xmin, xmax, len(intervals))
    for i, (start, end, label) in enumerate(intervals, 1):
        text += (f'        intervals [{i}]:\n            xmin = {start}\n            xmax = {end}\n'
                 f'            text = "{label}"\n')
    return text


def _two_tiers(text: str, intervals) -> str:
    """``text`` (one 'auto' tier) with a second interval tier named 'auto' holding ``intervals``."""
    second = _textgrid_text(0, 0.5, intervals).split("item [1]:\n", 1)[1]
    return text.replace("size = 1\n", "size = 2\n", 1) + "    item [2]:\n" + second


@pytest.fixture(scope="module")
def faulty_folder(tmp_path_factory):
    """Sounds of 0.5 s with a good TextGrid and with each kind of bad one; what each should give."""
    from conftest import vowel, write_wav_scipy

    folder = tmp_path_factory.mktemp("faulty")
    x = vowel(0.5, 140.0)
    good = [(0.0, 0.1, ""), (0.1, 0.4, "a"), (0.4, 0.5, "")]
    grids = {
        "good": _textgrid_text(0, 0.5, good),
        "empty": "",
        "garbage": bytes(np.random.default_rng(2).integers(0, 256, 600, dtype=np.uint8)),
        "reversed_grid": _textgrid_text(0.5, 0, good),                                   # xmin > xmax
        "reversed_interval": _textgrid_text(0, 0.5, [(0.0, 0.1, ""), (0.4, 0.1, "a"), (0.4, 0.5, "")]),
        "overlapping": _textgrid_text(0, 0.5, [(0.0, 0.3, "b"), (0.1, 0.4, "a"), (0.4, 0.5, "")]),
        "past_end": _textgrid_text(0, 0.8, [(0.0, 0.1, ""), (0.1, 0.4, "a"), (0.4, 0.7, "b"), (0.7, 0.8, "")]),
        "outside": _textgrid_text(0, 0.9, [(0.0, 0.1, ""), (0.1, 0.4, "a"), (0.6, 0.8, "c"), (0.8, 0.9, "")]),
        "bad_wav": _textgrid_text(0, 0.5, good),
        # made for another version of the sound (its first 0.1 s trimmed since): every interval inside it
        "shorter": _textgrid_text(0, 0.6, [(0.0, 0.2, ""), (0.2, 0.45, "a"), (0.45, 0.6, "")]),
        # a time domain written to the millisecond: the same sound
        "rounded": _textgrid_text(0, 0.5009, [(0.0, 0.1, ""), (0.1, 0.4, "a"), (0.4, 0.5009, "")]),
        # the tier duplicated in Praat to be corrected by hand, and not renamed: two tiers named 'auto'
        "twice": _two_tiers(_textgrid_text(0, 0.5, good), [(0.0, 0.2, ""), (0.2, 0.4, "a"), (0.4, 0.5, "")]),
    }
    for name, grid in grids.items():
        path = folder / f"{name}.TextGrid"
        path.write_bytes(grid) if isinstance(grid, bytes) else path.write_text(grid)
        write_wav_scipy(folder / f"{name}.wav", x)
    (folder / "bad_wav.wav").write_bytes(bytes(np.random.default_rng(3).integers(0, 256, 3000, dtype=np.uint8)))
    return folder


_KEY = ["file", "tier", "label", "start", "end", "point", "measure"]


def _keys(table):
    keyed = table[_KEY].copy()
    keyed[["start", "end"]] = keyed[["start", "end"]].round(6)
    return set(map(tuple, keyed.astype(str).to_numpy()))


def _kinds(note: str) -> list:
    """The parts of a note, each without the detail after ':' (Praat's message, which Python adds)."""
    return [part.split(":")[0] for part in note.split("; ")] if note else []


@pytest.mark.parametrize("engine", ["praat", "parselmouth"])
def test_bad_textgrids_past_end_intervals_and_unreadable_sounds_are_flagged_alike(faulty_folder, engine, tmp_path):
    """Neither engine stops on a bad file; both give the same rows and the same kind of note on them.

    ``engine``: the Praat executable, or parselmouth's bundled Praat, running measure_all.praat.
    """
    from conftest import require_praat

    from ganphon import acoustics

    if engine == "praat":
        require_praat()
        # the command line too: one bad TextGrid does not stop the folder
        code, _, err = run_cli(["measure", faulty_folder, "--engine", "praat", "--out", tmp_path / "a.csv",
                                "--quiet"], tmp_path)
        assert code == 0, err
    python = acoustics.measure(faulty_folder, workers=1, progress=False)
    script = acoustics.measure_with_script(faulty_folder, engine=engine)
    assert _keys(python) == _keys(script)
    assert set(python["file"]) == {f"{name}.wav" for name in (
        "good", "empty", "garbage", "reversed_grid", "reversed_interval", "overlapping", "past_end", "outside",
        "bad_wav", "twice", "shorter", "rounded")}
    rows = python.merge(script, on=["file", "label", "point", "measure"], suffixes=("", "_script"))
    assert len(rows) == len(python)

    # the good sample: measured, and the script writes no note on it; nor on a TextGrid's end written in ms
    good = rows[rows["file"].isin(["good.wav", "rounded.wav"])]
    assert (good["label"] == "a").all() and (good["note_script"] == "").all() and (good["note"] == "").all()

    # a TextGrid Praat cannot read (empty, garbage, reversed): the whole file, each row saying why
    for name in ("empty", "garbage", "reversed_grid", "reversed_interval"):
        whole = rows[rows["file"] == f"{name}.wav"]
        assert (whole["label"] == "").all() and (whole["end"] == 0.5).all()
        assert whole["note_script"].eq(f"cannot read {name}.TextGrid").all(), name
        assert whole["note"].str.startswith(f"cannot read {name}.TextGrid: ").all(), name
        assert whole.loc[whole["measure"] == "duration", "value"].tolist() == [0.5]
    twice = rows[rows["file"] == "twice.wav"]  # which 'auto' was meant cannot be told: the whole file, said so
    assert (twice["label"] == "").all() and (twice["end"] == 0.5).all()
    assert twice["note_script"].eq("tier 'auto' is 2 interval tiers in twice.TextGrid; rename all but one").all()
    assert twice["note"].str.startswith("tier 'auto' is 2 interval tiers in twice.TextGrid; rename all but one").all()
    overlapping = rows[rows["file"] == "overlapping.wav"]
    assert overlapping["note_script"].eq("tier 'auto' in overlapping.TextGrid has overlapping intervals").all()

    # a TextGrid whose time domain is not the sound's: every row says so, and the interval's own note follows
    def spans(end_ms):
        return f"the TextGrid spans 0 to {end_ms} ms, the sound 0 to 500 ms (made for another version of the sound?)"

    # an interval running past the 0.5 s sound is measured within it; one wholly outside has no value
    past = rows[(rows["file"] == "past_end.wav") & (rows["label"] == "b")]
    assert (past["start"] == 0.4).all() and (past["end"] == 0.5).all()
    assert past.loc[past["measure"] == "duration", "value"].to_numpy() == pytest.approx([0.1])
    assert past["note_script"].eq(f"{spans(800)}; interval 400 to 700 ms runs past the sound (0 to 500 ms), "
                                  "measured within it").all()
    assert past.loc[past["measure"] == "f0_mean", "value"].to_numpy() == pytest.approx([140.0], rel=0.01)
    outside = rows[(rows["file"] == "outside.wav") & (rows["label"] == "c")]
    assert outside["value"].isna().all() and outside["value_script"].isna().all()
    assert outside["note_script"].eq(f"{spans(900)}; interval 600 to 800 ms lies outside the sound (0 to 500 ms)").all()
    for name, end_ms in (("past_end", 800), ("outside", 900), ("shorter", 600)):
        inside = rows[(rows["file"] == f"{name}.wav") & (rows["label"] == "a")]
        assert inside["note_script"].eq(spans(end_ms)).all() and inside["note"].str.startswith(spans(end_ms)).all()
    # measured where the TextGrid says, as Praat would: its interval 0.2-0.45 s of the 0.5 s sound
    shorter = rows[(rows["file"] == "shorter.wav") & (rows["measure"] == "duration")]
    assert shorter[["start", "end", "value", "value_script"]].to_numpy().ravel() == pytest.approx([0.2, 0.45, 0.25, 0.25])

    # a sound that cannot be read: its TextGrid's intervals, the durations from it, every row flagged
    bad = rows[rows["file"] == "bad_wav.wav"]
    assert (bad["label"] == "a").all() and bad["note_script"].eq("cannot read bad_wav.wav").all()
    assert bad.loc[bad["measure"] == "duration", ["value", "value_script"]].to_numpy().ravel() == pytest.approx([0.3, 0.3])
    assert bad.loc[bad["measure"] != "duration", ["value", "value_script"]].isna().all().all()
    # each engine's summary names that sound on a line of its own, and none of the TextGrids; and the files
    # measured at the times of a TextGrid that does not span them on another
    for table in (python, script):
        lines = acoustics.summary(table, 0.0, "t").splitlines()
        named = [line for line in lines if line.startswith("not measured")]
        assert len(named) == 1 and named[0].startswith("not measured, 1 file(s) unreadable"), named
        assert "cannot read bad_wav.wav" in named[0] and ".TextGrid" not in named[0]
        (other,) = [line for line in lines if line.startswith("measured at the times of a TextGrid")]
        assert other.startswith("measured at the times of a TextGrid that does not span its sound, 3 file(s)")
        for name, end_ms in (("past_end", 800), ("outside", 900), ("shorter", 600)):
            assert f"{name}.wav: the TextGrid spans 0 to {end_ms} ms, the sound 0 to 500 ms" in other

    # every flagged row is flagged by both engines, with the same kind of note
    flagged = rows[~rows["file"].isin(["good.wav", "rounded.wav"])]
    assert (flagged["note_script"] != "").all() and (flagged["note"] != "").all()
    for python_note, script_note in zip(flagged["note"], flagged["note_script"]):
        assert _kinds(python_note)[:len(_kinds(script_note))] == _kinds(script_note), (python_note, script_note)


def test_another_run_where_stats_and_plot_write_by_default_is_refused_as_under_out(material, tmp_path):
    """A probe written into DIR/stats, DIR/figures and DIR/listen (``probe --out DIR/stats``): ``stats DIR``,
    ``plot DIR`` and ``explore DIR`` refuse in one line, as they refuse such a folder named by --out, and change
    nothing; so does ``stats`` where DIR/stats holds the user's files.  Moved away, each writes there."""
    sweep = Path(shutil.copytree(material / "sweep", tmp_path / "sweep"))
    for place in ("stats", "figures", "listen"):
        code, _, err = run_cli(["probe", "--checkpoint", material / "ciwgan.pt", "--n", 2, "--out", sweep / place,
                                "--quiet"], tmp_path)
        assert code == 0, err
    before = _tree(sweep)
    for argv, message in ((["stats", sweep, "--quiet"], f"{sweep / 'stats'}: is an export folder (.ganphon.ledger), "
                                                          "not a stats folder; choose another --out"),
                          (["plot", sweep], f"{sweep / 'figures'}: holds files 'ganphon plot' does not write "
                                            f"(finished.txt, latents.csv, manifest.csv …), where it writes by default; "
                                            "move them away, or choose a folder with --out"),
                          (["explore", sweep, "--quiet"], f"{sweep / 'listen'}: holds files 'ganphon explore' does not "
                                                          "write (finished.txt, latents.csv, manifest.csv …), where it "
                                                          "writes by default; move them away, or choose a folder with "
                                                          "--out")):
        code, out, err = run_cli(argv, tmp_path)
        assert code == 2 and err.strip() == f"ganphon: error: {message}", err
    assert _tree(sweep) == before
    # a file of the user's where stats writes by default: not among its tables
    shutil.rmtree(sweep / "stats")
    (sweep / "stats").mkdir()
    (sweep / "stats" / "notes.txt").write_text("mine\n")
    code, _, err = run_cli(["stats", sweep, "--quiet"], tmp_path)
    assert code == 2 and err.strip() == (f"ganphon: error: {sweep / 'stats'}: holds files 'ganphon stats' does not "
                                         "write (notes.txt), where it writes by default; move them away, or choose "
                                         "a folder with --out"), err
    assert sorted(p.name for p in (sweep / "stats").iterdir()) == ["notes.txt"]
    # moved away: both write their own folders
    for place in ("stats", "figures", "listen"):
        shutil.rmtree(sweep / place)
    assert run_cli(["stats", sweep, "--quiet"], tmp_path)[0] == 0
    assert run_cli(["plot", sweep, "--formats", "png"], tmp_path)[0] == 0
    assert run_cli(["explore", sweep, "--quiet"], tmp_path)[0] == 0
    assert any(layout.is_listening_copy(p.name) for p in (sweep / "listen").iterdir())
    assert (sweep / "stats" / "stats.json").is_file() and any(layout.is_figure(p.name)
                                                              for p in (sweep / "figures").iterdir())


def test_a_failed_run_that_finished_nothing_does_not_block_the_corrected_command(material, tmp_path):
    """A run that stopped after recording its request but before finishing a sample (its run.json and an
    empty finished.txt) gives the folder to a different, corrected command; one that finished a sample
    keeps it unless --overwrite."""
    from ganphon import io

    out = tmp_path / "p"
    failed = {"kind": "probe", "n": 4, "seed": 0, "batch_size": 10**9}
    io.prepare_folder(out, failed)
    with io.FinishedLog(out, failed):
        pass  # the first batch failed: the log has its header and no sample
    (out / ".manifest.csv.tmp123").write_text("half")  # and a temporary file of the failed write
    code, _, err = run_cli(["probe", "--checkpoint", material / "wavegan.pt", "--n", "2", "--seed", "0",
                            "--out", "p", "--quiet"], tmp_path)
    assert code == 0, err
    assert json.loads((out / layout.RUN_JSON).read_text())["request"]["n"] == 2
    assert io.read_finished(out, json.loads((out / layout.RUN_JSON).read_text())["request"]) == {
        layout.sample_id(0), layout.sample_id(1)}

    # the corrected run finished samples: a different command is refused, the folder unchanged
    before = _tree(out)
    code, _, err = run_cli(["probe", "--checkpoint", material / "wavegan.pt", "--n", "3", "--seed", "0",
                            "--out", "p", "--quiet"], tmp_path)
    assert code == 2 and "different command" in err and _tree(out) == before


# --------------------------------------------------------------------------
# Folder ownership: one writer per folder, --overwrite removes only ganphon's files, kinds never mix


def test_a_second_writer_is_refused_naming_the_first_and_a_dead_writers_lock_is_taken_over(material, tmp_path):
    """Two real processes write the same --out: the second gets one line naming the first's PID and
    changes nothing; the first completes a run equal to an undisturbed one."""
    import pandas as pd

    # the first writer is stopped (SIGSTOP) while the second tries: it holds the folder however fast either runs
    n = 600
    argv = ["probe", "--checkpoint", material / "ciwgan.pt", "--n", str(n), "--batch-size", "4", "--quiet",
            "--seed", "1"]
    out = tmp_path / "p"
    first = _popen([*argv, "--out", out], tmp_path)
    _until(lambda: (out / layout.FINISHED).exists() and (out / layout.FINISHED).read_text().count("\n") >= 2, first)
    os.killpg(first.pid, signal.SIGSTOP)  # mid-run, holding the lock (its own session: pgid = pid)
    # the same request would resume into the folder, a different one would --overwrite it: both refused
    for extra in ([], ["--seed", "2", "--overwrite"]):
        second = subprocess.run([*GANPHON, *map(str, argv), *extra, "--out", str(out)], cwd=tmp_path,
                                capture_output=True, text=True, timeout=300)
        lines = stderr_lines(second.stderr)
        assert second.returncode == 2 and len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
        assert f"process {first.pid}" in lines[0] and str(out) in lines[0], lines[0]
    assert first.poll() is None
    os.killpg(first.pid, signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    manifest = pd.read_csv(out / layout.MANIFEST, dtype=str)
    assert manifest["sample_id"].nunique() == n
    assert all(io.layer_exists(out / f) for f in manifest["file"])  # a layer's WAV or its stored Sound
    assert json.loads((out / layout.RUN_JSON).read_text())["seed"] == 1
    assert not (out / layout.LOCK).exists()

    # a lock left by a process killed with -9 is taken over
    dead = subprocess.Popen(["true"])
    dead.wait()
    (out / layout.LOCK).write_text(f"{dead.pid}\n")
    code, _, err = run_cli([*argv, "--out", out], tmp_path)
    assert code == 0, err


def test_a_writer_killed_holding_the_lock_does_not_block_the_rerun(material, tmp_path):
    argv = ["probe", "--checkpoint", material / "ciwgan.pt", "--n", "48", "--batch-size", "4", "--quiet",
            "--out", "p"]
    proc = _popen(argv, tmp_path)
    _until(lambda: (tmp_path / "p" / layout.LOCK).exists(), proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    code, _, err = run_cli(argv, tmp_path)
    assert code == 0, err


def _another_tools_folder(ws, m):
    """A folder another program made: its own run.json, figures, an R script and a WAV."""
    folder = ws / "theirs"
    (folder / "figures").mkdir(parents=True)
    (folder / "figures" / "f0.png").write_bytes(b"\x89PNG figure")
    (folder / "run.json").write_text('{"tool": "praat-batch", "files": 3}')
    (folder / "analysis.R").write_text("library(lme4)\n")
    shutil.copy(m / "sweep" / layout.layer_wav("b000_v000", "output"), folder / "s000000_output.wav")


def test_overwrite_never_removes_what_ganphon_did_not_write(material, tmp_path):
    _another_tools_folder(tmp_path, material)
    before = _tree(tmp_path)
    code, _, err = run_cli(["probe", "--checkpoint", material / "ciwgan.pt", "--n", "2", "--out", "theirs",
                            "--overwrite", "--quiet"], tmp_path)
    assert code == 2 and "did not write" in err and len(stderr_lines(err)) == 1, err
    assert _tree(tmp_path) == before

    # a ganphon folder the user added files to: --overwrite replaces ganphon's files and keeps the user's
    argv = ["probe", "--checkpoint", material / "ciwgan.pt", "--out", "p", "--quiet"]
    assert run_cli([*argv, "--n", "2"], tmp_path)[0] == 0
    (tmp_path / "p" / "notes.txt").write_text("mine")
    (tmp_path / "p" / "figures").mkdir()
    (tmp_path / "p" / "figures" / "mine.png").write_bytes(b"mine")
    (tmp_path / "p" / "s000009_output.wav").write_bytes(b"named like ganphon's, made by the user")
    code, _, err = run_cli([*argv, "--n", "1", "--overwrite"], tmp_path)
    assert code == 0, err
    names = {p.name for p in (tmp_path / "p").iterdir() if not p.name.startswith(".")}
    assert {"notes.txt", "figures", "s000009_output.wav"} <= names
    assert (tmp_path / "p" / "figures" / "mine.png").read_bytes() == b"mine"
    assert not (tmp_path / "p" / layout.layer_wav(layout.sample_id(1), "output")).exists()  # the old run's
    assert json.loads((tmp_path / "p" / layout.RUN_JSON).read_text())["request"]["n"] == 1


def _training_folder(ws, m):
    folder = ws / "run"
    folder.mkdir()
    shutil.copy(m / "wavegan.pt", folder / layout.G_LATEST)
    shutil.copy(m / "wavegan.pt", folder / layout.checkpoint_name(10))
    (folder / layout.LOG_CSV).write_text("step,d_loss,g_loss\n10,0.1,0.2\n")


@pytest.mark.parametrize("argv, needle", [
    (["probe", "--checkpoint", "{m}/ciwgan.pt", "--n", "2", "--out", "run", "--overwrite"], "training folder"),
    (["sweep", "--checkpoint", "{m}/ciwgan.pt", "--var", "z3", "--from", "0", "--to", "1", "--step", "1",
      "--out", "run", "--overwrite", "--workers", "1"], "training folder"),
    (["demo", "--out", "run", "--quick", "--overwrite"], "training folder"),
    (["corpus", "synth", "--template", "stv", "--n", "2", "--out", "run", "--overwrite"], "training folder"),
])
def test_no_command_writes_into_a_folder_of_another_kind(argv, needle, material, tmp_path):
    _training_folder(tmp_path, material)
    before = _tree(tmp_path)
    code, _, err = run_cli([a.replace("{m}", str(material)) for a in argv], tmp_path)
    lines = stderr_lines(err)
    assert code == 2 and len(lines) == 1 and needle in lines[0] and "run" in lines[0], err
    assert _tree(tmp_path) == before


def test_train_refuses_an_export_folder(material, tmp_path):
    shutil.copytree(material / "sweep", tmp_path / "sweep")
    shutil.copytree(material / "corpus", tmp_path / "corpus")
    before = _tree(tmp_path)
    code, _, err = run_cli(["train", "corpus", "--out", "sweep", "--dim", "8", "--steps", "1"], tmp_path)
    assert code == 2 and "export folder" in err and len(stderr_lines(err)) == 1, err
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("out", ["table.json", "sweep/manifest.csv", "sweep/run.json", "sweep/b000_v000_output.wav"])
def test_measure_never_writes_onto_its_own_outputs_or_inputs(out, material, tmp_path):
    shutil.copytree(material / "sweep", tmp_path / "sweep")
    before = _tree(tmp_path)
    code, _, err = run_cli(["measure", "sweep", "--workers", "1", "--out", out, "--quiet"], tmp_path)
    lines = stderr_lines(err)
    assert code == 2 and len(lines) == 1 and out.split("/")[-1] in lines[0], err
    assert _tree(tmp_path) == before


# --------------------------------------------------------------------------
# Plan, then write: a failed command leaves the folder as it found it


def _sweep_with_a_bad_last_textgrid(ws, m):
    _overlapping_textgrid(ws, m)
    sweep = ws / "sweep"
    last = sorted(p.name for p in sweep.glob("*.TextGrid"))[-1]
    (sweep / last).write_bytes((sweep / layout.textgrid("b000_v000")).read_bytes())
    shutil.copy(m / "sweep" / layout.textgrid("b000_v000"), sweep / layout.textgrid("b000_v000"))
    return last


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_command_that_fails_midway_leaves_every_byte_of_a_populated_folder_unchanged(material, tmp_path, workers):
    """annotate rewrites TextGrids one by one (in this process, or in worker processes) and then meets a bad
    one: every rewritten file is put back."""
    last = _sweep_with_a_bad_last_textgrid(tmp_path, material)
    (tmp_path / "sweep" / "notes.txt").write_text("mine")
    before = _tree(tmp_path)
    code, _, err = run_cli(["annotate", "sweep", "--layers", "conv1", "--workers", workers, "--quiet"], tmp_path)
    lines = stderr_lines(err)
    assert code == 2 and len(lines) == 1 and last in lines[0], err
    assert _tree(tmp_path) == before  # hidden files too: no backup, lock or temporary file left


# --------------------------------------------------------------------------
# One line, always: OS errors name their file, library warnings are notes


def test_a_full_disk_names_the_file_being_written(tmp_path, small_disk):
    """A write the system refuses with no file name (ENOSPC from write()) still names the file."""
    (small_disk / "filler").write_bytes(bytes(2 * 2**20 - 48 * 1024))
    before = _tree(small_disk)
    code, _, err = run_cli(["corpus", "synth", "--template", "stv", "--n", "40", "--yes", "--out", small_disk / "c",
                            "--quiet"], tmp_path)
    lines = stderr_lines(err)
    assert code == 2 and len(lines) == 1 and "No space left" in lines[0] and "Traceback" not in err, lines
    assert str(small_disk / "c") in lines[0]
    assert _tree(small_disk) == before and not (small_disk / "c").exists()


def test_a_praat_path_that_is_not_praat_is_named(material, tmp_path):
    shutil.copytree(material / "sweep", tmp_path / "sweep")
    fake = tmp_path / "praat"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    before = _tree(tmp_path)
    code, _, err = run_cli(["measure", "sweep", "--engine", "praat", "--praat-path", fake, "--out", "a.csv"], tmp_path)
    lines = stderr_lines(err)
    assert code == 2 and len(lines) == 1 and str(fake) in lines[0] and "--praat-path" in lines[0], lines
    assert _tree(tmp_path) == before


def test_library_warnings_are_one_note_line_each(tmp_path, material):
    """A warning of a library (here pandas, reading a table whose column mixes types) becomes one
    'ganphon: note:' line, shown once, never a source line."""
    from ganphon.cli import _notices

    err = _io.StringIO()
    with contextlib.redirect_stderr(err), _notices():
        import warnings

        for _ in range(3):
            warnings.warn("a library says something\nwith a second line", RuntimeWarning, stacklevel=1)
    lines = stderr_lines(err.getvalue())
    assert lines == ["ganphon: note: a library says something (RuntimeWarning from ganphon)"] or \
        (len(lines) == 1 and lines[0].startswith("ganphon: note: a library says something")), lines


def test_a_resume_with_another_batch_size_is_a_different_command(material, tmp_path):
    """The batch size changes the last bits of the numbers: it is part of the request, so a resume never mixes two."""
    argv = ["probe", "--checkpoint", material / "ciwgan.pt", "--n", "4", "--out", "p", "--quiet"]
    assert run_cli([*argv, "--batch-size", "2"], tmp_path)[0] == 0
    before = _tree(tmp_path)
    code, _, err = run_cli([*argv, "--batch-size", "4"], tmp_path)
    assert code == 2 and "batch_size" in err and len(stderr_lines(err)) == 1, err
    assert _tree(tmp_path) == before
