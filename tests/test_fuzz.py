"""A fuzzer for the command line: bad option values and mutated files, checked against one contract.

Every case runs a real ``ganphon`` command (in this process, through
:func:`ganphon.cli.main`, to spare the interpreter start-up) in a workspace of
its own, and asserts the promise of the README's "What ganphon promises":

* exit status 0, or 2 (never a crash: no traceback, no other status);
* every stderr line is ganphon's (a note or notice, a progress bar), never a
  library's warning or a source line;
* on 2: exactly one ``ganphon… error:`` line, and every file of the workspace
  byte for byte as it was (names and SHA-256, hidden files too); an option the
  line tells the user to pass is one the command has;
* on 0: no error line, and the outputs pass their own checks (the manifest
  and the files it names, the run record, no temporary file).

What is mutated: checkpoint dicts (every field and a weight, with values of
the wrong type or range), WAV headers and data, TextGrid text, TOML sweep
specs (generated from the keys and a pool of odd values), CSV tables (the
manifest, the acoustic table, a latents file), and option values of the main
commands.

Hypothesis draws the cases with a fixed seed (``derandomize``), so CI runs the
same few hundred cases every time in about two minutes on 2 cores.  A longer,
random run: ``python tools/fuzz.py --scale 20`` (prints its case count).
``GANPHON_FUZZ_SCALE`` multiplies the number of cases per test;
``GANPHON_FUZZ_RANDOM=1`` draws new cases; ``GANPHON_FUZZ_LOG`` appends one
line per case (argv and exit status) to a file; ``GANPHON_FUZZ_CASES`` (names of
``OPTION_CASES``, comma-separated) limits the option-value test to those.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_faults import run_cli, stderr_lines
from test_faults import _tree as tree

from ganphon import layout

SCALE = float(os.environ.get("GANPHON_FUZZ_SCALE", "1"))
LOG = os.environ.get("GANPHON_FUZZ_LOG")


def examples(n: int):
    """Hypothesis settings for a test of about ``n`` cases (times ``GANPHON_FUZZ_SCALE``)."""
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=not os.environ.get(
        "GANPHON_FUZZ_RANDOM"), database=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                               HealthCheck.data_too_large, HealthCheck.filter_too_much])


# --------------------------------------------------------------------------
# Material, made once


@pytest.fixture(scope="module")
def base(tmp_path_factory, tiny_ciwgan):
    """Checkpoints, a small measured sweep, a folder of WAVs, a latents file and a spec."""
    from ganphon import io
    from ganphon.models import ModelConfig, new_model, save_checkpoint
    from ganphon.sweep import run_sweep

    root = tmp_path_factory.mktemp("fuzz")
    cfg = ModelConfig(arch="wavegan", dim=8)
    save_checkpoint(root / "wavegan.pt", cfg, *new_model(cfg, seed=1), meta={"seed": 1})
    shutil.copy(tiny_ciwgan, root / "ciwgan.pt")
    spec = {"kind": "dimension", "var": "z3", "from": -1, "to": 1, "step": 1, "bases": 1, "seed": 0}
    run_sweep(spec, root / "ciwgan.pt", root / "sweep", workers=1, progress=False)
    (root / "sweep" / layout.STATS_DIR).mkdir()
    effects = "outcome,layer,label,beta,ci_low,ci_high,p\n" + "".join(
        f"duration,{layer},,{0.1 * i},{0.1 * i - 0.02},{0.1 * i + 0.02},0.5\n"
        for i, layer in enumerate(["dense", "conv1", "conv2", "output"]))
    (root / "sweep" / layout.STATS_DIR / "effects.csv").write_text(effects)
    correlations = "measure,layer,r,ci_low,ci_high,n,p\n" + "".join(
        f"{m},{layer},{0.1 * i - 0.2},{0.1 * i - 0.5},{0.1 * i + 0.1},24,0.3\n"
        for m in ("intensity", "f0") for i, layer in enumerate(["dense", "conv1", "conv2", "output"]))
    (root / "sweep" / layout.STATS_DIR / "correlations.csv").write_text(correlations)
    rng = np.random.default_rng(0)
    (root / "wavs").mkdir()
    for i in range(2):
        io.write_wav(root / "wavs" / f"w{i}.wav", (0.1 * rng.standard_normal(4000)).astype(np.float32), 16000)
    times = np.arange(0, 1.024, 0.004)
    (root / "ext.csv").write_text("time,v\n" + "".join(f"{t:.3f},{np.sin(20 * t):.4f}\n" for t in times))
    # recordings with a words tier (corpus cut, probe --network q --tier)
    (root / "words").mkdir()
    for i in range(2):
        io.write_wav(root / "words" / f"r{i}.wav", (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
        io.write_textgrid(root / "words" / f"r{i}.TextGrid",
                          io.textgrid_from_intervals({"words": [(0.05, 0.2, "pa"), (0.25, 0.45, "ta")]}, 0.5))
    # another implementation's state dicts (import-checkpoint) and a columnar store (export-files)
    import torch
    from test_models import _peer_generator_state, _peer_q_state

    torch.save(_peer_generator_state(2), root / "port_G.pt")
    torch.save(_peer_q_state(2, 2), root / "port_Q.pt")
    if _has_scale_extra():
        from ganphon.cli import main

        assert main(["probe", "--checkpoint", str(root / "ciwgan.pt"), "--n", "2", "--layers", "conv1",
                     "--store", "zarr", "--out", str(root / "store"), "--quiet"]) == 0
    return root


def _has_scale_extra() -> bool:
    try:
        import pyarrow  # noqa: F401
        import zarr  # noqa: F401
    except ImportError:
        return False
    return True


class Workspace:
    """A fresh folder per case, removed afterwards."""

    def __init__(self, base: Path, *copies: str):
        self.path = Path(tempfile.mkdtemp(prefix="case", dir=base.parent))
        for name in copies:
            source = base / name
            if source.is_dir():
                shutil.copytree(source, self.path / name)
            else:
                shutil.copy(source, self.path / name)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


#: Seconds after which a case fails as hung (the slowest case takes a few)
HANG_S = 120


class _Hung(BaseException):
    """A command still running after the alarm (not an Exception: no handler of the command's may catch it)."""


def contract(argv, ws: Path, check_success=None) -> tuple[int, list]:
    """Run ``ganphon ARGV`` in ``ws`` and assert the contract; returns the exit status and stderr lines."""
    import signal

    argv = [str(a) for a in argv]
    before = tree(ws)

    def hung(*_):
        raise _Hung(f"ganphon {' '.join(argv)} still running after {HANG_S} s: waiting on something that never comes")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(HANG_S)
    try:
        code, out, err = run_cli(argv, ws)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if LOG:
        with open(LOG, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"argv": argv, "code": code, "stderr": err[-300:]}) + "\n")
    assert "Traceback" not in err, err
    assert code in (0, 2), f"exit {code}: {err[-2000:]}"
    lines = stderr_lines(err)
    assert all(line.startswith("ganphon") for line in lines), lines  # notes and notices are ganphon's lines
    lines = [line for line in lines if "error:" in line]
    if code == 2:
        assert len(lines) == 1, lines
        foreign = sorted(set(_options_named(lines[0])) - _options_of(argv) - set(argv))  # or one given
        assert not foreign, f"the error suggests {foreign}, which {argv[0]} does not have: {lines[0]}"
        after = tree(ws)
        assert after == before, {k for k in set(after) ^ set(before)} or "changed files"
    else:
        assert not lines, lines
        if check_success is not None:
            check_success(ws / _out_of(argv))
    return code, lines


def _options_named(line: str) -> list:
    """The options an error line tells the user to pass (not those of a quoted 'ganphon …' command line)."""
    import re

    line = re.sub(r"'ganphon [^']*'", "", line)
    return re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", line)


def _options_of(argv) -> set:
    """Every option string of the (sub-)command ``argv`` runs."""
    from ganphon.cli import build_parser

    parser = build_parser(argv)
    words = [w for w in argv if not str(w).startswith("-")]
    action = parser._subparsers._group_actions[0]
    command = action.choices[words[0]]
    for a in command._actions:  # a command with sub-commands (corpus check …)
        if isinstance(getattr(a, "choices", None), dict) and len(words) > 1 and words[1] in a.choices:
            command = a.choices[words[1]]
    return {o for a in command._actions for o in a.option_strings}


def _out_of(argv) -> str:
    return argv[argv.index("--out") + 1] if "--out" in argv else "."


def probe_folder_is_whole(folder: Path) -> None:
    """A probe/sweep folder checks out: its manifest names files that are all there, a run record."""
    from ganphon import io

    manifest = io.read_manifest(folder)
    # layers are stored once, as ID_<layer>.Sound: a layer's WAV name counts when its Sound is there
    assert len(manifest) and all(io.layer_exists(folder / f) for f in manifest["file"])
    assert io.read_run_record(folder) is not None
    assert not any(layout.is_temporary(p.name) for p in folder.iterdir())


# --------------------------------------------------------------------------
# Values: what a careless user, script or other tool puts where a number, name or list goes

ODD_TEXT = ["", " ", "0", "-1", "1", "2", "1.5", "-0", "nan", "-inf", "inf", "1e308", "-1e308", "1e-320",
            "99999999999999999999", str(2**63), "abc", ",", "a,,b", "conv1,conv1", "conv1,", "conv9", "dense",
            "output", "conv1", "x" * 300, "é", "\t", "--out", "-", "0x10", "1_000", "٣", "None", "true", "[1]",
            "\u221215", "\u20133", "1\u22122"]  # a minus sign and an en dash, as copied from a paper
odd_text = st.sampled_from(ODD_TEXT) | st.text(max_size=12).filter(lambda s: "\x00" not in s)
#: Paths a folder or file argument is given by mistake: in the workspace, or where nothing may be written
ODD_PATHS = [".", "sweep", "wavs", "words", "store", "sweep/manifest.csv", "sweep/run.json",
             "sweep/b000_v000_output.wav", "sweep/b000_v000.TextGrid", "wavs/w0.wav", "nonexistent",
             "a/b/c", "sweep/", "./sweep", "sweep/.", "sweep/..", "/proc", "/dev/null", "missing/x"]
odd_path = st.sampled_from(ODD_PATHS)
#: The paths of ODD_PATHS that are files of a folder ganphon wrote (the sweep)
GANPHON_FOLDER_FILES = ("sweep/manifest.csv", "sweep/run.json", "sweep/b000_v000_output.wav",
                        "sweep/b000_v000.TextGrid")

ODD_VALUES = [None, True, False, 0, -1, 1, 2, 3, 7, 2**31, 2**40, 10**30, -(10**30), 0.5, -2.5, 1e308, -1e308,
              float("nan"), float("inf"), float("-inf"), 1e-320, "", "x", "8", "wavegan", "tf", "torch", [], [1],
              [1, "a"], [[1, 2]], {}, {"a": 1}]
odd_value = st.sampled_from(ODD_VALUES)


# --------------------------------------------------------------------------
# Option values of the main commands

OPTION_CASES = {
    "probe": (["probe", "--checkpoint", "{b}/ciwgan.pt", "--n", "1", "--layers", "conv1", "--out", "p", "--quiet"],
              ["--n", "--batch-size", "--layers", "--code", "--seed", "--clip", "--feature-maps", "--reduce",
               "--activation", "--out", "--device", "--store"]),
    "probe-wavegan": (["probe", "--checkpoint", "{b}/wavegan.pt", "--n", "1", "--layers", "conv1", "--out", "p",
                       "--quiet"], ["--code", "--layers", "--n"]),
    "new-model": (["new-model", "--dim", "8", "--out", "m.pt"],
                  ["--dim", "--slice-len", "--seed", "--arch", "--codes", "--out"]),
    "model-info": (["model-info", "--checkpoint", "{b}/ciwgan.pt"], ["--checkpoint"]),
    "sweep": (["sweep", "--checkpoint", "{b}/ciwgan.pt", "--var", "z3", "--from", "0", "--to", "1", "--step", "1",
               "--bases", "1", "--out", "s", "--no-annotate", "--no-measure", "--quiet"],
              ["--var", "--from", "--to", "--step", "--bases", "--code", "--n", "--kind", "--out"]),
    "measure": (["measure", "sweep", "--workers", "1", "--measures", "duration", "--out", "a.csv", "--quiet"],
                ["--points", "--measures", "--tier", "--workers", "--settings", "--inputs", "--out", "--praat-path"]),
    "annotate": (["annotate", "sweep", "--workers", "1", "--quiet"], ["--layers", "--min-duration", "--workers"]),
    "stats": (["stats", "sweep", "--workers", "1", "--measures", "duration", "--quiet"],
              ["--measures", "--layers", "--labels", "--gam-df", "--workers"]),
    "corpus-synth": (["corpus", "synth", "--template", "stv", "--n", "2", "--out", "c", "--quiet"],
                     ["--n", "--sr", "--slice-len", "--words", "--template", "--seed", "--out"]),
    "corpus-check": (["corpus", "check", "wavs"], ["--slice-len", "--sr"]),
    "plot": (["plot", "sweep", "--formats", "png"], ["--formats", "--sample", "--base", "--stats", "--out"]),
    "intervene": (["intervene", "--checkpoint", "{b}/ciwgan.pt", "--layer", "conv1", "--channels", "1", "--set", "0",
                   "--bases", "2", "--layers", "conv1", "--measures", "duration", "--workers", "1", "--out", "i",
                   "--quiet"], ["--layer", "--channels", "--set", "--scale", "--bases", "--layers", "--measures",
                                "--alpha", "--seed", "--code", "--batch-size"]),
    "atlas": (["atlas", "--checkpoint", "{b}/ciwgan.pt", "--bases", "2", "--variables", "z1", "--values", "0,1",
               "--layers", "conv1", "--measures", "duration", "--workers", "1", "--explore", "0", "--out", "a",
               "--quiet"], ["--bases", "--variables", "--values", "--layers", "--explore", "--alpha", "--code"]),
    "compare-series": (["compare-series", "sweep", "--external", "{b}/ext.csv", "--n-boot", "10", "--out", "cs"],
                       ["--max-lag", "--n-boot", "--layers", "--column", "--time-column", "--seed"]),
    "correlate-input": (["correlate-input", "sweep", "--n-boot", "10", "--out", "ci.csv"],
                        ["--tier", "--labels", "--layers", "--measures", "--pitch-floor", "--pitch-ceiling",
                         "--maximum-formant", "--n-boot"]),
    "evaluate-model": (["evaluate-model", "--checkpoint", "{b}/ciwgan.pt", "--n", "4"], ["--n", "--seed", "--json"]),
    # --steps is left out: a huge number of steps is a run that trains until it is stopped
    "train": (["train", "wavs", "--out", "r", "--dim", "8", "--steps", "1", "--batch-size", "2", "--quiet"],
              ["--batch-size", "--dim", "--lr", "--q-lr", "--lambda-gp", "--n-critic", "--keep", "--seed",
               "--log-every", "--codes", "--arch"]),
    "probe-crepe": (["probe", "--network", "crepe", "--wavs", "wavs", "--out", "p", "--quiet"],
                    ["--hop", "--slice-len", "--layers", "--batch-size", "--tier", "--labels"]),
    "probe-q": (["probe", "--checkpoint", "{b}/ciwgan.pt", "--network", "q", "--wavs", "words", "--tier", "words",
                 "--out", "p", "--quiet"], ["--wavs", "--tier", "--labels", "--layers", "--batch-size", "--network"]),
    "import-checkpoint": (["import-checkpoint", "{b}/port_G.pt", "--arch", "ciwgan", "--codes", "2", "--q",
                           "{b}/port_Q.pt", "--out", "o.pt"], ["--codes", "--q-slope", "--q", "--out", 1]),
    "corpus-cut": (["corpus", "cut", "words", "--labels", "pa", "--out", "c", "--quiet"],
                   ["--tier", "--labels", "--pattern", "--out", 2]),
    "export-wavs": (["export-wavs", "sweep", "--quiet"], [1]),
    "explore": (["explore", "sweep", "--quiet"], [1, "--out"]),
    "praat-plugin": (["praat-plugin", "--install", "--prefs", "prefs"], ["--prefs"]),
    "export-files": (["export-files", "store", "--samples", "s000001", "--out", "o", "--quiet"],
                     ["--samples", "--out", 1]),
    "stats-options": (["stats", "sweep", "--workers", "1", "--measures", "duration", "--quiet"],
                      [1, "--out", "--presence", "--label-column", "--seed", "--point-agg", "--engine", "--df"]),
    "plot-dir": (["plot", "sweep", "--formats", "png"], [1]),
    "demo": (["demo", "--quick", "--out", "d", "--quiet"], ["--n-random", "--bases", "--seed", "--out"]),
}
#: Commands whose success costs seconds: given a bad value they mostly fail fast.
_COPIES = {"measure": ["sweep"], "annotate": ["sweep"], "stats": ["sweep"], "plot": ["sweep"],
           "corpus-check": ["wavs"], "compare-series": ["sweep"], "correlate-input": ["sweep"], "train": ["wavs"],
           "probe-crepe": ["wavs"], "probe-q": ["words"], "corpus-cut": ["words", "wavs"],
           "export-wavs": ["sweep", "wavs"], "explore": ["sweep", "wavs"], "export-files": ["store", "sweep"],
           "stats-options": ["sweep", "wavs"], "plot-dir": ["sweep", "wavs"],
           # an output file aimed at a file of a folder ganphon wrote
           "new-model": ["sweep"], "evaluate-model": ["sweep"], "import-checkpoint": ["sweep"]}
#: Cases that need the ``scale`` extra (zarr, pyarrow).
_NEEDS_SCALE = {"export-files"}


def _with_option(argv: list, option: str, value: str) -> list:
    """``argv`` with ``option`` set to ``value`` (replaced, or added after the command's words).

    An ``option`` that is a number is a position: the positional argument ``argv[option]`` is replaced.
    """
    argv = list(argv)
    if isinstance(option, int):
        argv[option] = value
        return argv
    if option in argv:
        argv[argv.index(option) + 1] = value
        return argv
    words = 2 if argv[0] == "corpus" else 1
    return argv[:words] + [option, value] + argv[words:]


@given(data=st.data())
@examples(90)
def test_bad_option_values_are_one_line_or_a_good_run(base, data):
    only = [n for n in os.environ.get("GANPHON_FUZZ_CASES", "").split(",") if n]  # e.g. explore,export-wavs
    name = data.draw(st.sampled_from(sorted(only or OPTION_CASES)), label="command")
    argv, options = OPTION_CASES[name]
    option = data.draw(st.sampled_from(options), label="option")
    value = data.draw(odd_text | odd_path if isinstance(option, int) or "out" in str(option) or option in
                      ("--wavs", "--q", "--prefs", "--stats") else odd_text, label="value")
    if name in _NEEDS_SCALE and not _has_scale_extra():
        return
    argv = [a.replace("{b}", str(base)) for a in _with_option(argv, option, value)]
    overwrite = data.draw(st.booleans(), label="--overwrite") and "--overwrite" in _options_of(argv)
    argv += ["--overwrite"] if overwrite and "--overwrite" not in argv else []
    with Workspace(base, *_COPIES.get(name, [])) as ws:
        check = probe_folder_is_whole if name.startswith("probe") else None
        own_file = option in ("--out", "--json") and value in GANPHON_FOLDER_FILES and (ws / value).is_file()
        code, lines = contract(argv, ws, check if option != "--out" else None)
        if own_file:  # an output file never replaces a file of a folder ganphon wrote, --overwrite or not
            assert code == 2, (argv, "replaced", value)
        option = f"argument {argv[0]}" if isinstance(option, int) else option
        if code == 2 and value.strip():  # the line names what was wrong: the option, its value or a file
            line = lines[0]
            items = [v for v in value.split(",") if v.strip()] or [value]
            named = (option in line or f"'{option.lstrip('-')}'" in line or any(v.strip()[:40] in line or repr(v.strip())[1:-1][:40] in line
                                           for v in items)
                     or "/" in line or ".pt" in line
                     or "argument" in line or "--" in line)
            assert named, line


# --------------------------------------------------------------------------
# Checkpoint dicts


def _blob_paths(blob) -> list:
    """Places to change in a checkpoint dict: each field, each config setting, the first weights of each state."""
    paths = [(k,) for k in blob]
    if isinstance(blob.get("config"), dict):
        paths += [("config", k) for k in blob["config"]]
    paths += [("meta", "seed")]
    for part in ("generator", "qnetwork", "critic"):
        if isinstance(blob.get(part), dict):
            paths += [(part, k) for k in list(blob[part])[:3]]
    return paths


def _bad_tensor(draw, old):
    import torch

    choice = draw(st.sampled_from(["1d", "shape", "nan", "int", "empty", "scalar", "transpose"]))
    if choice == "1d":
        return old.flatten()
    if choice == "shape":
        return torch.zeros(*[max(1, s + 1) for s in old.shape] or [2])  # a scalar (an earlier change) grows too
    if choice == "nan":
        return torch.full_like(old.float(), float("nan"))
    if choice == "int":
        return old.long()
    if choice == "empty":
        return torch.zeros(0)
    if choice == "scalar":
        return torch.tensor(1.0)
    return old.T if old.dim() == 2 else old.unsqueeze(0)


@given(data=st.data())
@examples(45)
def test_mutated_checkpoints_are_refused_in_one_line_or_work(base, data):
    import torch

    blob = torch.load(base / "ciwgan.pt", weights_only=True)
    for _ in range(data.draw(st.integers(1, 2), label="changes")):
        path = data.draw(st.sampled_from(_blob_paths(blob)), label="where")
        holder = blob
        for key in path[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if not isinstance(holder, dict):
            continue
        old = holder.get(path[-1])
        how = data.draw(st.sampled_from(["value", "delete", "tensor"]), label="how")
        if how == "delete":
            holder.pop(path[-1], None)
        elif how == "tensor" and torch.is_tensor(old):
            holder[path[-1]] = _bad_tensor(data.draw, old)
        else:
            holder[path[-1]] = data.draw(odd_value, label="value")
    command = data.draw(st.sampled_from(["model-info", "probe"]), label="command")
    with Workspace(base) as ws:
        torch.save(blob, ws / "odd.pt")
        if command == "model-info":
            contract(["model-info", "--checkpoint", "odd.pt"], ws)
        else:
            contract(["probe", "--checkpoint", "odd.pt", "--n", "1", "--layers", "conv1", "--out", "p", "--quiet"],
                     ws, probe_folder_is_whole)


# --------------------------------------------------------------------------
# WAV headers and data, TextGrid text, CSV tables


def _mutate_bytes(data, raw: bytes, header: int = 44, dtype="<f4") -> bytes:
    how = data.draw(st.sampled_from(["header byte", "truncate", "append", "zero header", "nan data"]), label="how")
    raw = bytearray(raw)
    if how == "header byte":
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, min(header, len(raw)) - 1))] = data.draw(st.integers(0, 255))
    elif how == "truncate":
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    elif how == "append":
        raw += bytes(data.draw(st.binary(min_size=1, max_size=64)))
    elif how == "zero header":
        raw[:header] = bytes(header)
    else:  # float samples NaN / huge
        value = data.draw(st.sampled_from([np.nan, np.inf, 1e30, -3.0]))
        samples = np.frombuffer(bytes(raw[header:header + 400]), dtype=dtype).copy()
        samples[::7] = value
        raw[header:header + len(samples) * samples.itemsize] = samples.tobytes()
    return bytes(raw)


@given(data=st.data())
@examples(30)
def test_mutated_wavs_are_flagged_refused_or_read(base, data):
    target = data.draw(st.sampled_from(["corpus check", "measure"]), label="command")
    with Workspace(base, "wavs", "sweep") as ws:
        if target == "corpus check":
            wav = ws / "wavs" / "w1.wav"
            wav.write_bytes(_mutate_bytes(data, wav.read_bytes()))
            contract(["corpus", "check", "wavs"], ws)
        else:
            # layers are stored once, as binary Praat Sounds (ID_<layer>.Sound: a 92-byte header, then
            # big-endian 64-bit samples); layer WAVs exist only with --wav-layers: mutate a layer's
            # Sound or the sample's output WAV
            sample = layout.sweep_sample_id(0, 1)
            if data.draw(st.sampled_from(["layer Sound", "output WAV"]), label="file") == "layer Sound":
                path, header, dtype = ws / "sweep" / layout.layer_sound(sample, "conv2"), 92, ">f8"
            else:
                path, header, dtype = ws / "sweep" / layout.layer_wav(sample, layout.OUTPUT_LAYER), 44, "<f4"
            path.write_bytes(_mutate_bytes(data, path.read_bytes(), header, dtype))
            contract(["measure", "sweep", "--workers", "1", "--measures", "duration,f0", "--out", "a.csv",
                      "--quiet"], ws)


def _mutate_text(data, text: str) -> str:
    lines = text.split("\n")
    how = data.draw(st.sampled_from(["drop line", "number", "garbage line", "truncate", "swap", "quote"]),
                    label="how")
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    if how == "drop line":
        del lines[i]
    elif how == "number":
        import re

        lines[i] = re.sub(r"-?\d+(\.\d+)?", lambda m: data.draw(st.sampled_from(
            ["-1", "0", "1e308", "nan", "1e-9", "99", "x", ""])), lines[i], count=1)
    elif how == "garbage line":
        lines[i] = data.draw(st.text(max_size=20))
    elif how == "truncate":
        return "\n".join(lines)[:data.draw(st.integers(0, len(text)))]
    elif how == "swap":
        j = data.draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        lines[i] = lines[i].replace('"', "")
    return "\n".join(lines)


@given(data=st.data())
@examples(25)
def test_mutated_textgrids_are_flagged_refused_or_measured(base, data):
    with Workspace(base, "sweep") as ws:
        grid = ws / "sweep" / layout.textgrid(layout.sweep_sample_id(0, 2))
        grid.write_text(_mutate_text(data, grid.read_text(encoding="utf-8")), encoding="utf-8")
        command = data.draw(st.sampled_from(["measure", "annotate"]), label="command")
        if command == "measure":
            contract(["measure", "sweep", "--workers", "1", "--measures", "duration", "--out", "a.csv", "--quiet"], ws)
        else:
            contract(["annotate", "sweep", "--workers", "1", "--quiet"], ws)


@given(data=st.data())
@examples(25)
def test_mutated_tables_are_refused_in_one_line_or_used(base, data):
    table = data.draw(st.sampled_from([layout.MANIFEST, layout.ACOUSTICS, layout.LATENTS, "stats/effects.csv",
                                       "stats/correlations.csv"]), label="table")
    with Workspace(base, "sweep") as ws:
        path = ws / "sweep" / table
        # saved again as a spreadsheet or Praat would: with a UTF-8 byte-order mark, or as UTF-16
        encoding = data.draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]), label="encoding")
        path.write_text(_mutate_text(data, path.read_text(encoding="utf-8")), encoding=encoding)
        if table == layout.MANIFEST:
            contract(["measure", "sweep", "--workers", "1", "--measures", "duration", "--out", "a.csv", "--quiet"], ws)
        elif table.startswith("stats"):
            contract(["plot", "sweep", "--formats", "png"], ws)
        elif table == layout.ACOUSTICS:
            command = data.draw(st.sampled_from(["stats", "plot"]), label="command")
            if command == "stats":
                contract(["stats", "sweep", "--workers", "1", "--measures", "duration", "--quiet"], ws)
            else:
                contract(["plot", "sweep", "--formats", "png"], ws)
        else:
            (ws / "spec.toml").write_text('[sweep]\nkind = "line"\na = "b000_v000"\nb = "b000_v002"\nsteps = 2\n'
                                          'latents = "sweep/latents.csv"\n')
            contract(["sweep", "spec.toml", "--checkpoint", base / "ciwgan.pt", "--out", "s", "--no-annotate",
                      "--no-measure", "--quiet"], ws, probe_folder_is_whole)


# --------------------------------------------------------------------------
# Records: the JSON files beside a folder's tables (run.json, acoustics.json, sweep.json)


def _json_paths(value, prefix=()) -> list:
    """Every key path of a JSON document (dicts and the first entries of lists)."""
    paths = []
    if isinstance(value, dict):
        for k, v in value.items():
            paths += [(*prefix, k)] + _json_paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:2]):
            paths += [(*prefix, i)] + _json_paths(v, (*prefix, i))
    return paths


RECORD_COMMANDS = {
    "measure": ["measure", "sweep", "--workers", "1", "--quiet"],  # the request the folder was measured with
    "annotate": ["annotate", "sweep", "--workers", "1", "--quiet"],
    "stats": ["stats", "sweep", "--workers", "1", "--measures", "duration", "--quiet"],
    "plot": ["plot", "sweep", "--formats", "png"],
    "explore": ["explore", "sweep", "--quiet"],
    "export-wavs": ["export-wavs", "sweep", "--quiet"],
    "compare-series": ["compare-series", "sweep", "--external", "{b}/ext.csv", "--n-boot", "10", "--out", "cs"],
    "correlate-input": ["correlate-input", "sweep", "--n-boot", "10", "--out", "ci.csv"],
    "sweep again": ["sweep", "--checkpoint", "{b}/ciwgan.pt", "--var", "z3", "--from", "-1", "--to", "1", "--step",
                    "1", "--bases", "1", "--seed", "0", "--out", "sweep", "--workers", "1", "--quiet"],
}


@given(data=st.data())
@examples(40)
def test_mutated_records_are_refused_in_one_line_or_used(base, data):
    """A run record edited by hand or cut short: every command that reads it refuses it in one line or works."""
    record = data.draw(st.sampled_from([layout.RUN_JSON, layout.ACOUSTICS_JSON, layout.SWEEP_JSON]), label="record")
    with Workspace(base, "sweep") as ws:
        path = ws / "sweep" / record
        text = path.read_text(encoding="utf-8")
        how = data.draw(st.sampled_from(["value", "delete", "truncate", "not an object"]), label="how")
        if how == "truncate":
            text = text[:data.draw(st.integers(0, len(text) - 1))]
        elif how == "not an object":
            text = data.draw(st.sampled_from(["[]", "null", "5", '"x"', ""]))
        else:
            doc = json.loads(text)
            key = data.draw(st.sampled_from(_json_paths(doc)), label="key")
            parent = doc
            for k in key[:-1]:
                parent = parent[k]
            if how == "delete":
                del parent[key[-1]]
            else:
                parent[key[-1]] = data.draw(odd_value, label="value")
            text = json.dumps(doc)
        encoding = data.draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]), label="encoding")  # an editor's
        path.write_text(text, encoding=encoding)
        argv = data.draw(st.sampled_from(sorted(RECORD_COMMANDS)), label="command")
        contract([a.replace("{b}", str(base)) for a in RECORD_COMMANDS[argv]], ws)


# --------------------------------------------------------------------------
# Every file of a sweep folder under every command that reads it

#: The files of a measured sweep folder and the commands that read each (one mutated, one command run).
READERS = {
    "manifest": ["measure", "annotate", "stats", "plot", "explore", "export-wavs", "compare-series",
                 "correlate-input"],
    "output WAV": ["measure", "annotate", "explore", "correlate-input"],
    "layer Sound": ["measure", "plot", "explore", "export-wavs", "compare-series", "correlate-input"],
    "TextGrid": ["measure", "annotate", "explore", "compare-series", "correlate-input"],
    "acoustics": ["stats", "plot", "explore"],
}


@given(data=st.data())
@examples(40)
def test_mutated_files_are_refused_in_one_line_or_used_by_every_reader(base, data):
    """A sweep folder's manifest, output WAV, layer Sound, TextGrid or table damaged, then read by any of the
    commands that read it: a one-line error that changes nothing, or a run (the tests above take one reader each)."""
    kind = data.draw(st.sampled_from(sorted(READERS)), label="file")
    command = data.draw(st.sampled_from(READERS[kind]), label="command")
    sample = layout.sweep_sample_id(0, data.draw(st.integers(0, 2), label="value"))
    with Workspace(base, "sweep") as ws:
        folder = ws / "sweep"
        if kind == "layer Sound":
            layer = data.draw(st.sampled_from(["dense", "conv1", "conv2", "conv3", "conv4"]), label="layer")
            path = folder / layout.layer_sound(sample, layer)
            path.write_bytes(_mutate_bytes(data, path.read_bytes(), 92, ">f8"))
        elif kind == "output WAV":
            path = folder / layout.layer_wav(sample, layout.OUTPUT_LAYER)
            path.write_bytes(_mutate_bytes(data, path.read_bytes(), 44, "<f4"))
        else:
            path = folder / {"manifest": layout.MANIFEST, "TextGrid": layout.textgrid(sample),
                             "acoustics": layout.ACOUSTICS}[kind]
            path.write_text(_mutate_text(data, path.read_text(encoding="utf-8")), encoding="utf-8")
        contract([a.replace("{b}", str(base)) for a in RECORD_COMMANDS[command]], ws)


@given(data=st.data())
@examples(20)
def test_mutated_store_chunks_are_refused_in_one_line_or_exported(base, data):
    """A chunk file of a columnar store cut, extended or overwritten (a copy that stopped, a full disk, a bit
    flipped), then exported whole or in part: a one-line error naming the chunk, which changes nothing (zarr's
    codec had stopped export-files with a traceback on a cut chunk, and a changed byte inside the compressed
    data had been exported as other numbers: each chunk now carries a checksum)."""
    if not _has_scale_extra():
        pytest.skip("needs the scale extra (zarr, pyarrow)")
    layer = data.draw(st.sampled_from(["output", "conv1", "manifest.parquet", "latents.parquet"]), label="file")
    samples = data.draw(st.sampled_from(["all", "s000001", "0:1"]), label="samples")
    with Workspace(base, "store") as ws:
        if layer.endswith(".parquet"):  # the tables: one line or an export (a footer byte may change nothing)
            table = ws / "store" / layer
            table.write_bytes(_mutate_bytes(data, table.read_bytes(), 64, "<f8"))
            contract(["export-files", "store", "--samples", samples, "--out", "o", "--quiet"], ws)
            return
        chunk = next(p for p in (ws / "store" / "store.zarr" / layer / "c").rglob("*") if p.is_file())
        raw = chunk.read_bytes()
        chunk.write_bytes(_mutate_bytes(data, raw, 16, "<f4"))
        code, lines = contract(["export-files", "store", "--samples", samples, "--out", "o", "--quiet"], ws)
        if chunk.read_bytes() != raw:  # every changed byte is caught by the chunk's checksum, never read as data
            assert code == 2 and lines[0].startswith(f"ganphon: error: store/store.zarr/{layer}: chunk c/0/0 "), lines


def _replace_with(path: Path, kind: str) -> None:
    """Put a named pipe, a socket or a folder where the file ``path`` was."""
    import socket

    path.unlink()
    if kind == "named pipe":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        with contextlib.chdir(path.parent), socket.socket(socket.AF_UNIX) as sock:  # a short name: AF_UNIX's limit
            sock.bind(path.name)


@given(data=st.data())
@examples(24)
def test_a_pipe_socket_or_folder_where_a_file_is_read_is_refused_by_every_reader(base, data):
    """A sweep folder's manifest, output WAV, layer Sound, TextGrid, table or run record replaced by a named pipe
    (reading it would wait for ever), a socket or a folder (``is_file()`` takes either for a missing file): every
    command reading the folder refuses it in one line naming it, before reading or writing anything, and never
    hangs (:data:`HANG_S`).  (Found by hand: ``measure`` waited for ever on a pipe named like a TextGrid, and
    measured a folder whose manifest was a pipe as a plain folder of WAVs.)"""
    kind = data.draw(st.sampled_from(sorted([*READERS, "run record"])), label="file")
    command = data.draw(st.sampled_from(READERS.get(kind, ["measure", "stats", "explore", "export-wavs"])),
                        label="command")
    replacement = data.draw(st.sampled_from(["named pipe", "socket", "folder"]), label="replacement")
    sample = layout.sweep_sample_id(0, data.draw(st.integers(0, 2), label="value"))
    names = {"manifest": layout.MANIFEST, "TextGrid": layout.textgrid(sample), "acoustics": layout.ACOUSTICS,
             "output WAV": layout.layer_wav(sample, layout.OUTPUT_LAYER), "run record": layout.RUN_JSON,
             "layer Sound": layout.layer_sound(sample, "conv2")}
    with Workspace(base, "sweep") as ws:
        path = ws / "sweep" / names[kind]
        _replace_with(path, replacement)
        code, lines = contract([a.replace("{b}", str(base)) for a in RECORD_COMMANDS[command]], ws)
        assert code == 2 and path.name in lines[0] and f"a {replacement}" in lines[0], (code, lines)
        assert (path.is_dir() if replacement == "folder" else not path.is_file() and os.path.exists(path))


# --------------------------------------------------------------------------
# TOML sweep specs

SPEC_KEYS = ["kind", "var", "from", "to", "step", "bases", "n", "seed", "code", "path", "a", "b", "steps", "latents",
             "bsaes"]
SPEC_VALUES = ['"dimension"', '"code"', '"line"', '"random"', '"z3"', '"c1"', '"c9"', '"z999"', "0", "1", "2",
               "-1", "0.5", "1.5", "nan", "inf", "-inf", "1e308", "-1e308", "1e-320", "true", '"two"', "[]", "[1, 0]",
               '[1, "a"]', "[[1, 0], [0, 1]]", "[[1, 0], [0]]", "[[0.5]]", '"s000000"', "{ x = 1 }", "2e9", "\u22121"]


@st.composite
def specs(draw):
    kind = draw(st.sampled_from(['"dimension"', '"code"', '"line"', '"random"', '"foo"', "5"]))
    lines = [f"kind = {kind}"]
    for key in draw(st.lists(st.sampled_from(SPEC_KEYS[1:]), unique=True, max_size=6)):
        lines.append(f"{key} = {draw(st.sampled_from(SPEC_VALUES))}")
    head = draw(st.sampled_from(["[sweep]\n", "", "sweep = 5\n", "[sweep]\n[sweep.extra]\n"]))
    return head + "\n".join(lines) + "\n"


@given(spec=specs(), model=st.sampled_from(["ciwgan.pt", "wavegan.pt"]))
@examples(45)
def test_generated_sweep_specs_are_refused_in_one_line_or_run(base, spec, model):
    with Workspace(base) as ws:
        (ws / "spec.toml").write_text(spec)
        contract(["sweep", "spec.toml", "--checkpoint", base / model, "--out", "s", "--no-annotate", "--no-measure",
                  "--workers", "1", "--quiet"], ws, probe_folder_is_whole)
