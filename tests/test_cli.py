"""The command line: one convention for every command, light start-up, one-line errors."""

import os
import subprocess
import sys

import pytest
from conftest import subprocess_env

from ganphon.cli import COMMANDS, build_parser, main

HEAVY = ("torch", "scipy", "statsmodels", "matplotlib")


def _modules_loaded_by(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", code + "; import sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_help_and_import_load_no_heavy_library():
    for code in ("import ganphon", "from ganphon.cli import main; main(['--help'])"):
        loaded = _modules_loaded_by(code)
        assert not [m for m in HEAVY if m in loaded], code


def test_every_command_has_help_for_every_option():
    parser = build_parser(list(COMMANDS))
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(sub.choices) == set(COMMANDS)
    for name, p in _command_parsers():  # sub-commands (corpus cut …) too
        text = p.format_help()
        # a default that says nothing is not printed ('--set' had shown "(default: [])")
        assert not [empty for empty in ("default: None", "default: [])", "default: )", "default: ''")
                    if empty in " ".join(text.split())], name
        # argparse formats help strings with %, never a description or epilog: '%%' there prints as '%%'
        assert "%%" not in text, name
        for action in p._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings[0]} has no help"
            if action.required:
                # a required option never shows a default
                assert "(default:" not in (p._get_formatter()._get_help_string(action) or ""), name


def test_defaults_are_printed_once():
    text = build_parser(["probe"])._subparsers._group_actions[0].choices["probe"].format_help()
    assert text.count("(default: 10)") == 1          # --n
    assert "--checkpoint CKPT" in text and "(default: demo)" not in text


def test_one_checkpoint_option_and_one_quiet_everywhere():
    parser = build_parser(list(COMMANDS))
    sub = parser._subparsers._group_actions[0]
    for name, p in sub.choices.items():
        opts = {o for a in p._actions for o in a.option_strings}
        if name in ("probe", "sweep", "model-info", "evaluate-model", "demo"):
            assert "--checkpoint" in opts, name
        assert "--no-progress" not in opts or "--quiet" in opts, name


def test_every_list_option_is_split_and_checked_by_the_parser():
    """A list option (a,b) parsed later would raise argparse's error outside argparse: a traceback."""
    from ganphon.cli.options import name_list

    parser = build_parser(list(COMMANDS))
    lists = {"layers", "measures", "labels", "variables", "feature_maps", "formats", "presence", "channels_list"}
    found = 0
    for name, p in parser._subparsers._group_actions[0].choices.items():
        for action in p._actions:
            if action.dest == "code":  # a code's values may repeat ('0,0,1')
                continue
            if action.dest in lists or "comma-separated" in (action.help or ""):
                found += 1
                assert action.type is name_list, (name, action.option_strings)
    assert found >= 19  # the list options today; a new one is counted by its dest or help


def _command_parsers():
    """``(label, parser)`` of every command and sub-command (``corpus check`` …)."""
    parser = build_parser(list(COMMANDS))
    for name, p in parser._subparsers._group_actions[0].choices.items():
        yield name, p
        for a in p._actions:
            if isinstance(getattr(a, "choices", None), dict):
                yield from ((f"{name} {n}", q) for n, q in a.choices.items())


def test_every_number_option_has_a_checking_type():
    """A plain ``int`` or ``float`` takes nan, inf or a negative count, which fail later, inside the work."""
    plain = [(label, a.option_strings) for label, q in _command_parsers() for a in q._actions
             if a.type in (int, float) and not (a.type is int and a.choices)]
    assert plain == []


def test_every_input_folder_or_file_has_a_checking_type():
    """A folder a command reads is checked by the parser: a file there had read as an empty folder, '' as '.'."""
    from ganphon.cli import _POSITIONALS_READ
    from ganphon.cli.options import input_file, input_folder, input_path

    reading = [(label, a) for label, q in _command_parsers() for a in q._actions
               if (a.dest in _POSITIONALS_READ and a.dest != "generator") or a.dest in ("wavs", "external")]
    unchecked = [(label, a.dest) for label, a in reading if a.type not in (input_folder, input_file, input_path)]
    assert len(reading) >= 15 and unchecked == []


def test_every_input_the_parser_checks_is_guarded_from_the_outputs():
    """An input named by an option is one --out may not overwrite (import-checkpoint --out onto its --q input
    with --overwrite had replaced the Q-network it was reading)."""
    from ganphon.cli import _FOLDERS_READ, _OPTIONS_READ, _POSITIONALS_READ
    from ganphon.cli.options import input_file, input_folder, input_path

    typed = [(label, a.dest) for label, q in _command_parsers() for a in q._actions
             if a.type in (input_folder, input_file, input_path)]
    unguarded = [(label, dest) for label, dest in typed if dest not in (*_POSITIONALS_READ, *_OPTIONS_READ,
                                                                        *_FOLDERS_READ)]
    assert len(typed) >= 15 and ("import-checkpoint", "q") in typed and unguarded == []


def test_every_list_option_refuses_an_empty_value(capsys):
    """``--layers ""`` (an unset shell variable, often) had silently meant every layer, or no layer, by option:
    each comma-list option of every command refuses it with a one-line error naming the option."""
    from ganphon.cli.options import name_list

    lists = [(label, q, a) for label, q in _command_parsers() for a in q._actions if a.type is name_list]
    assert len(lists) >= 15
    for label, q, a in lists:
        assert a.default != "", (label, a.option_strings)
        with pytest.raises(SystemExit):
            q.parse_known_args([a.option_strings[0], ""])
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].endswith(f"argument {a.option_strings[0]}: empty list; leave the option out for its "
                                f"default (see 'ganphon {label} --help')"), (label, err)


def test_a_feature_map_error_names_its_option(tmp_path, capsys):
    """The layer names of --feature-maps are checked against the model like --layers, and named as theirs."""
    code = main(["probe", "--checkpoint", "demo", "--n", "2", "--feature-maps", "conv1,conv9",
                 "--out", str(tmp_path / "p"), "--quiet"])
    assert code == 2 and not (tmp_path / "p").exists()
    assert capsys.readouterr().err.strip() == ("ganphon: error: --feature-maps: 'conv9' does not exist; this model "
                                                "has dense, conv1, conv2, conv3, conv4, output")


def test_every_output_option_has_a_checking_type():
    """'' as --out had meant the current folder to one command and the default to another; '.' as a FILE
    output had reached the table's planning (a ValueError)."""
    from ganphon.cli.options import output_file, output_file_or_stdout, output_path

    writing = [(label, a) for label, q in _command_parsers() for a in q._actions
               if a.dest in {"out", *(q.get_default("file_outputs") or ())}]
    stdout = {("evaluate-model", "json")}  # the one output that may be standard output ('-')
    unchecked = [(label, a.dest) for label, a in writing if a.type is not (
        output_file_or_stdout if (label, a.dest) in stdout else output_file if a.metavar == "FILE" else output_path)]
    assert len(writing) >= 15 and sum(a.type is output_file for _, a in writing) >= 4 and unchecked == []


@pytest.mark.parametrize("argv, needle", [
    (["export-wavs", "manifest.csv"], "argument DIR: manifest.csv: not a folder (a file)"),
    (["explore", ""], "argument DIR: expected a folder, got ''"),
    (["measure", "missing"], "argument DIR: missing: no such file or folder"),
    (["train", "missing", "--out", "r"], "argument DATA_DIR: missing: no such folder"),
    (["sweep", ".", "--checkpoint", "demo", "--out", "x"], "argument SPEC: .: not a file (a folder)"),
    (["probe", "--network", "crepe", "--wavs", "a\u0085b", "--out", "x"], "holds a line break or another control"),
    (["stats", "a\u202eb"], "holds a line break or another control"),
    (["demo", "--out", ""], "argument --out: expected a name, got ''"),
    (["stats", ".", "--out", ""], "argument --out: expected a name, got ''"),
    (["evaluate-model", "--checkpoint", "demo", "--json", ""], "argument --json: expected a name, got ''"),
    (["measure", ".", "--out", "."], "argument --out: .: is a folder; expected a file name"),
    (["measure", ".", "--out", "t/.."], "argument --out: t/..: is a folder; expected a file name"),
    (["new-model", "--dim", "8", "--out", "m/"], "argument --out: m/: is a folder; expected a file name"),
    (["import-checkpoint", "G.pt", "--arch", "ciwgan", "--q", "missing.pt", "--out", "m.pt"],
     "argument --q: missing.pt: no such file"),
    (["new-model", "--arch", "ciwgan", "--codes", "0", "--dim", "4", "--out", "m.pt"],
     "--codes: ciwgan needs between 1 and 99 codes, got 0"),
    (["atlas", "--checkpoint", "demo", "--out", "x", "--variables", "z1,z1"], "--variables"),
    (["atlas", "--checkpoint", "demo", "--out", "x", "--explore", "-5"], "--explore"),
    (["atlas", "--checkpoint", "demo", "--out", "x", "--values", "0,1e39"], "beyond float32"),
    (["compare-series", ".", "--external", "manifest.csv", "--n-boot", "-1"], "--n-boot"),
    (["correlate-input", ".", "--layers", "conv1,,conv2"], "--layers"),
    (["probe", "--checkpoint", "demo", "--out", "x", "--n", "0"], "--n"),
    (["probe", "--checkpoint", "demo", "--out", "x", "--batch-size", "0"], "--batch-size"),
    (["probe", "--checkpoint", "demo", "--out", "x", "--seed", str(2**70)], "--seed"),
    (["measure", ".", "--workers", "0"], "--workers"),
    (["stats", ".", "--gam-df", "0"], "--gam-df"),
    (["sweep", "--checkpoint", "demo", "--out", "x", "--step", "nan"], "--step"),
    (["sweep", "--checkpoint", "demo", "--out", "x", "--to", "inf"], "--to"),
    (["sweep", "--checkpoint", "demo", "--out", "x", "--step", "two"], "--step"),
    (["sweep", "--checkpoint", "demo", "--out", "x", "--bases", "-3"], "--bases"),
    (["nonsense"], "nonsense"),
    # an option another command has: named by the command it was given to, with that command's --help
    (["sweep", "--checkpoint", "demo", "--out", "x", "--no-buzz-rule"],
     "ganphon sweep: error: unrecognized arguments: --no-buzz-rule (see 'ganphon sweep --help')"),
    (["corpus", "cut", ".", "--out", "x", "--bogus"],
     "ganphon corpus cut: error: unrecognized arguments: --bogus (see 'ganphon corpus cut --help')"),
])
def test_bad_options_are_one_line_errors(argv, needle, tmp_path):
    (tmp_path / "manifest.csv").write_text("sample_id\n")
    proc = subprocess.run([sys.executable, "-m", "ganphon", *argv], capture_output=True, text=True,
                          cwd=tmp_path)
    (tmp_path / "manifest.csv").unlink()
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_ganphon_error_is_one_line(tmp_path, capsys):
    assert main(["model-info", "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ganphon: error:") and "missing.pt" in err[0]


def test_a_file_where_a_folder_is_needed_is_said_to_be(tmp_path, capsys):
    """A file named as a folder a command makes (plot's figures/, a path through a file) gave the system's
    words ("m/figures: File exists", "cannot write there (Not a directory)"): it is named as a file."""
    from conftest import make_exported_folder

    folder = tmp_path / "probe"
    make_exported_folder(folder, n_samples=1)
    (folder / "figures").write_text("mine")
    assert main(["plot", str(folder), "--formats", "png"]) == 2
    assert capsys.readouterr().err.strip() == (f"ganphon: error: {folder / 'figures'}: a file where a folder is "
                                               "needed; remove it or move it away")
    assert (folder / "figures").read_text() == "mine"
    blocked = tmp_path / "notes.txt"
    blocked.write_text("x")
    assert main(["probe", "--checkpoint", "demo", "--n", "1", "--out", str(blocked / "a" / "b")]) == 2
    assert capsys.readouterr().err.strip() == (f"ganphon: error: {blocked / 'a' / 'b'}: cannot write there "
                                               f"({blocked} is a file, not a folder)")
    assert blocked.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "probe"]


def test_version_comes_from_one_place():
    import ganphon
    from ganphon._version import __version__

    out = subprocess.run([sys.executable, "-m", "ganphon", "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == f"ganphon {__version__}" == f"ganphon {ganphon.__version__}"


def test_api_errors_name_parameters_and_the_command_line_names_options():
    """One message: the API says which parameter, the command line which option fills it."""
    from ganphon.cli import error_line, option_for
    from ganphon.errors import ParameterError

    parser = build_parser(list(COMMANDS))
    assert option_for(parser, "stats", "outcome_layers") == "--layers"       # the API spells it otherwise
    assert option_for(parser, "annotate", "layers") == "--layers"
    assert option_for(parser, "import-checkpoint", "n_codes") == "--codes"
    assert option_for(parser, "measure", "quiet") == "--quiet"              # the long spelling, not --no-progress
    assert option_for(parser, "annotate", "dir") == "DIR"                   # a positional: its metavar
    assert option_for(parser, "annotate", "no_such_parameter") == "no_such_parameter"
    error = ParameterError("outcome_layers", "no layer 'conv9' in the table")
    assert str(error) == "outcome_layers: no layer 'conv9' in the table"
    assert error_line(error, parser, ["stats", "DIR", "--layers", "conv9"]) == "--layers: no layer 'conv9' in the table"
    assert option_for(parser, ["corpus", "synth", "--words", "ta"], "words") == "--words"   # a sub-command's option


def test_a_parameter_error_reaches_the_terminal_as_its_option(tmp_path, capsys):
    import numpy as np
    import scipy.io.wavfile

    folder = tmp_path / "recordings"
    folder.mkdir()
    scipy.io.wavfile.write(folder / "a.wav", 16000, np.zeros(1600, dtype=np.float32))
    assert main(["annotate", str(folder), "--layers", "conv3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == (f"ganphon: error: --layers: {folder}: needs a folder ganphon exported (manifest.csv, "
                   "ID_output.wav, ID_<layer>.Sound)\n")
    assert sorted(p.name for p in folder.iterdir()) == ["a.wav"]            # nothing written
    out = tmp_path / "redup"
    assert main(["corpus", "synth", "--template", "redup", "--words", "ta", "--n", "2", "--out", str(out)]) == 2
    assert capsys.readouterr().err == ("ganphon: error: --words: the source-filter engine draws words from "
                                       "template 'stv' only\n")
    assert not out.exists()


def test_clip_is_checked_by_the_api_and_named_as_the_option(tiny_ciwgan, tmp_path, capsys):
    import torch

    from ganphon.errors import ParameterError
    from ganphon.export import run_export
    from ganphon.models import load_checkpoint

    model = load_checkpoint(tiny_ciwgan, qnetwork=False)
    z = torch.zeros(1, model.config.latent_dim)
    for bad in (0, -1.0, float("nan"), float("inf"), "1"):
        with pytest.raises(ParameterError, match=r"^clip: must be a finite number > 0"):
            run_export(model, z, tmp_path / "api", clip=bad, progress=False)
    assert not (tmp_path / "api").exists()
    out = tmp_path / "cli"
    assert main(["probe", "--checkpoint", str(tiny_ciwgan), "--n", "1", "--clip", "0", "--out", str(out)]) == 2
    assert capsys.readouterr().err == "ganphon: error: --clip: must be a finite number > 0, got 0.0\n"
    assert not out.exists()


def test_a_backend_matplotlib_does_not_know_in_the_environment_does_not_stop_a_figure(tmp_path):
    """MPLBACKEND naming no backend stopped ``import matplotlib`` with a traceback; ganphon draws on Agg canvases
    and never shows a window, so the command line does not read it: the figures are written (PNG files)."""
    from conftest import make_exported_folder

    folder = tmp_path / "probe"
    make_exported_folder(folder, n_samples=1)
    env = {**os.environ, "MPLBACKEND": "no-such-backend"}
    done = subprocess.run([sys.executable, "-m", "ganphon", "plot", str(folder), "--formats", "png"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    pngs = sorted((folder / "figures").glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_a_value_starting_with_a_dash_gets_a_hint_in_the_one_line_error(capsys):
    """argparse reads '--values -15,15' as an option followed by an option: the error says how to write it."""
    assert main(["atlas", "--checkpoint", "demo", "--out", "x", "--values", "-15,15"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("ganphon atlas: error: argument --values: expected one argument; a value that starts with '-' "
                   "is written --values=-15,15 (see 'ganphon atlas --help')")
    assert main(["intervene", "--checkpoint", "demo", "--out", "x", "--layer", "conv1", "--channels", "1",
                 "--scale", "-inf"]) == 2
    assert "is written --scale=-inf (" in capsys.readouterr().err
    assert main(["atlas", "--checkpoint", "demo", "--out", "x", "--val", "-1,1"]) == 2  # argparse's abbreviation
    assert "is written --val=-1,1 (" in capsys.readouterr().err
    assert main(["atlas", "--checkpoint", "demo", "--out"]) == 2  # no value at all: no hint
    assert capsys.readouterr().err.strip().endswith("expected one argument (see 'ganphon atlas --help')")


def test_a_number_typed_with_a_typographic_minus_is_said_to_be(tmp_path, capsys):
    """'−15' copied from a paper or a PDF (U+2212) or '–3' (an en dash) is no number to Python: every place a
    number is read from the command line or a sweep spec names the character and says to type '-'."""
    hint = "('\u2212' is a minus sign, U+2212, not '-': type -)"
    cases = [
        (["sweep", "--checkpoint", "demo", "--out", "x", "--var", "z11", "--from", "\u221215"],
         f"ganphon sweep: error: argument --from: expected a number, got '\u221215' {hint} (see 'ganphon sweep --help')"),
        (["sweep", "--checkpoint", "demo", "--out", "x", "--bases", "\u20133"],
         "argument --bases: expected a whole number \u2265 1, got '\u20133' ('\u2013' is an en dash, U+2013, not '-': "
         "type -)"),
        (["atlas", "--checkpoint", "demo", "--out", "x", "--values", "\u221215,15"],
         f"ganphon: error: --values '\u221215,15': expected numbers like -15,-5,0,5,15 {hint}"),
        (["intervene", "--checkpoint", "demo", "--out", "x", "--layer", "conv3", "--channels", "3\u22127", "--set", "0"],
         f"ganphon: error: --channels: '3\u22127': expected numbers like 3,17,40 or 0-7 {hint}"),
        (["intervene", "--checkpoint", "demo", "--out", "x", "--layer", "conv3", "--channels", "7-3", "--set", "0"],
         "ganphon: error: --channels: '7-3': the range 7-3 runs downwards; write 3-7"),
        (["measure", str(tmp_path), "--set", "pitch_floor=\u22125"],
         f"ganphon: error: --set 'pitch_floor=\u22125': pitch_floor must be a number {hint}"),
    ]
    spec = tmp_path / "spec.toml"
    spec.write_text('var = "z11"\nfrom = \u221215\nto = 15\nstep = 5\n', encoding="utf-8")
    cases.append((["sweep", str(spec), "--checkpoint", "demo", "--out", str(tmp_path / "s")],
                  f"ganphon: error: {spec}: not valid TOML (Invalid value (at line 2, column 8)); line 2 {hint}"))
    for argv, want in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and want in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


@pytest.mark.parametrize("stream", ["closed", "read-only"])
def test_a_command_with_its_error_stream_closed_still_writes_its_folder(stream, tmp_path):
    """`ganphon probe … 2>&-` (a cron job, a daemon) had stopped at its first progress bar and undone every
    write: Python holds None for a stream closed at its start, and a launcher script (pyenv's) leaves the
    descriptor reopened for reading (EBADF on writing).  Both are written to the null device now: the folder is
    the one the same command writes with its error stream open; a refused option still exits 2."""
    env = subprocess_env()
    probe = [sys.executable, "-m", "ganphon", "probe", "--checkpoint", "demo", "--n", "2", "--seed", "4", "--out"]
    done = subprocess.run([*probe, str(tmp_path / "open")], env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (tmp_path / "reader").write_text("")

    def without_stderr(argv):
        if stream == "closed":
            return subprocess.run(argv, env=env, stdout=subprocess.PIPE, timeout=300, pass_fds=(),
                                  preexec_fn=lambda: os.close(2))
        with open(tmp_path / "reader") as reader:
            return subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=reader, timeout=300)

    done = without_stderr([*probe, str(tmp_path / "closed")])
    assert done.returncode == 0 and done.stdout.decode().startswith("exported 2 samples"), done.stdout
    names = sorted(p.name for p in (tmp_path / "open").iterdir())
    assert sorted(p.name for p in (tmp_path / "closed").iterdir()) == names and len(names) == 2 * 7 + 5
    for name in names:
        if name not in ("run.json", ".ganphon.ledger", "finished.txt"):  # these record the folder and the command
            assert (tmp_path / "closed" / name).read_bytes() == (tmp_path / "open" / name).read_bytes(), name
    assert without_stderr([*probe[:-3], "0", "--out", str(tmp_path / "none")]).returncode == 2
    assert (tmp_path / "reader").read_text() == "" and not (tmp_path / "none").exists()


@pytest.mark.parametrize("stream", ["stdout", "stderr", "stdout to /dev/full"])
def test_a_reader_that_stops_reading_does_not_undo_the_command(stream, tmp_path):
    """`ganphon probe … | head -1`: the summary line written after the reader had gone raised BrokenPipeError
    inside the command, which undid every file it had written, and the exit status said 0 (`> /dev/full`, a
    log on a full disk: the same, exit 2).  Now what is written after that goes to the null device (said on
    stderr unless the pipe broke): the folder is the one written with the reader there."""
    if stream.endswith("/dev/full") and not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    env = subprocess_env()
    probe = [sys.executable, "-m", "ganphon", "probe", "--checkpoint", "demo", "--n", "3", "--seed", "5", "--out"]
    done = subprocess.run([*probe, str(tmp_path / "read")], env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    if stream == "stdout to /dev/full":  # a stream that cannot be written is said on the other
        with open("/dev/full", "w") as full:
            done = subprocess.run([*probe, str(tmp_path / "gone")], env=env, stdout=full, stderr=subprocess.PIPE,
                                  text=True, timeout=300)
        assert done.returncode == 0 and done.stderr.strip().splitlines()[-1] == (
            "ganphon: note: standard output could not be written (No space left on device); what the command "
            "printed there is lost, what it wrote is kept"), done.stderr
    else:
        other = "stderr" if stream == "stdout" else "stdout"
        proc = subprocess.Popen([*probe, str(tmp_path / "gone")], env=env, **{stream: subprocess.PIPE,
                                                                              other: subprocess.DEVNULL})
        getattr(proc, stream).close()  # the reader goes before anything is written
        assert proc.wait(timeout=300) == 0
    names = sorted(p.name for p in (tmp_path / "read").iterdir())
    assert sorted(p.name for p in (tmp_path / "gone").iterdir()) == names and len(names) == 3 * 7 + 5
    for name in names:
        if name not in ("run.json", ".ganphon.ledger", "finished.txt"):  # these record the folder and the command
            assert (tmp_path / "gone" / name).read_bytes() == (tmp_path / "read" / name).read_bytes(), name


def test_a_low_open_file_limit_is_raised_or_said_before_the_pool_starts(tmp_path):
    """Under 'ulimit -n 16' a measure with 2 workers ran out of descriptors (the pool's pipes): "writing t.csv:
    Too many open files", naming a file it was not writing, then the forkserver's traceback.  A low soft limit
    is now raised within the hard one (the same table as without the limit); a hard limit too low for the pool
    is one line before anything starts, and the table an earlier run wrote is kept."""
    import re
    import resource

    folder, table, limited = tmp_path / "p", tmp_path / "t.csv", tmp_path / "limited.csv"
    assert main(["probe", "--checkpoint", "demo", "--n", "2", "--out", str(folder), "--quiet"]) == 0
    assert main(["measure", str(folder), "--tier", "", "--out", str(table), "--quiet"]) == 0
    before = table.read_bytes()
    env = subprocess_env()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def measure(out, limits):
        return subprocess.run([sys.executable, "-m", "ganphon", "measure", str(folder), "--tier", "", "--out", str(out),
                               "--workers", "2", "--overwrite", "--quiet"], env=env, capture_output=True, text=True,
                              timeout=300, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limits))

    if hard == resource.RLIM_INFINITY or hard >= 64:
        done = measure(limited, (16, hard))
        assert done.returncode == 0, done.stderr
        assert limited.read_bytes() == before
    done = measure(table, (16, 16))
    said = done.stderr.strip()
    assert done.returncode == 2 and re.fullmatch(
        r"ganphon: error: --workers: 2 worker processes need about \d\d open files and this process may open 16 "
        r"\(ulimit -n\); raise the limit, e.g. 'ulimit -n 4096', or start fewer", said), said
    assert table.read_bytes() == before


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_output_in_a_terminal_encoding_without_ganphons_characters(encoding, tmp_path):
    """A stdout in cp1252 (a Windows console redirected to a file) or ASCII has no "…", "−" or "≤": Python stopped
    `ganphon sweep --help` with a UnicodeEncodeError traceback.  Every command's help now prints, those characters
    as ASCII ("…" → "...", "−" → "-"); an error line on stderr too."""
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    for name in COMMANDS:
        done = subprocess.run([sys.executable, "-m", "ganphon", name, "--help"], env=env, capture_output=True,
                              timeout=120)
        assert done.returncode == 0 and b"Traceback" not in done.stderr, (name, done.stderr[-1000:])
        done.stdout.decode(encoding)  # what it printed is text of that encoding
    help_text = subprocess.run([sys.executable, "-m", "ganphon", "intervene", "--help"], env=env,
                               capture_output=True, timeout=120).stdout.decode(encoding)
    assert "(intervention - control," in " ".join(help_text.split())  # "(intervention − control," in UTF-8
    if encoding == "ascii":
        help_text = subprocess.run([sys.executable, "-m", "ganphon", "sweep", "--help"], env=env,
                                   capture_output=True, timeout=120).stdout.decode(encoding)
        assert "code for c...)" in help_text  # "code for c…)" in UTF-8 (cp1252 has "…": kept)
    spec = tmp_path / "spec.toml"
    spec.write_text("x = [\n", encoding="utf-8")
    missing = tmp_path / "lexique−2"  # U+2212 in a name the error line quotes
    done = subprocess.run([sys.executable, "-m", "ganphon", "stats", str(missing)], env=env, capture_output=True,
                          timeout=120)
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    line = done.stderr.decode(encoding).strip()
    assert line.count("\n") == 0 and "lexique-2" in line, line


def _documented_command_lines():
    """Every ``ganphon …`` command line in the shell blocks of the README and examples/README.md, and in the
    examples of every command's --help: (where, line)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = []
    for doc in (root / "README.md", root / "examples" / "README.md"):
        inside, shell, block = False, False, []
        for line in doc.read_text(encoding="utf-8").splitlines():
            fence = re.match(r"^\s*```(\w*)", line)
            if fence:
                inside, shell = not inside, fence.group(1) in ("bash", "sh", "console", "")
                continue
            if inside and shell:
                block.append(line)
        for line in "\n".join(block).replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|\|\||;|\|", re.sub(r"\s#.*$", "", line)):
                if part.strip().startswith("ganphon "):
                    found.append((doc.name, part.strip()))
    for command in COMMANDS:
        for parser in _parsers(command).values():
            found += [(f"ganphon {command} --help", line.strip()) for line in parser.format_help().splitlines()
                      if line.strip().startswith("ganphon ")]
    return found


def _parsers(command) -> dict:
    """The parser of ``command`` ('' key) and of each of its sub-commands (by name)."""
    parser = build_parser([command])
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    found = {"": sub.choices[command]}
    for action in found[""]._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            found.update(action.choices)
    return found


def test_every_documented_command_line_names_a_command_and_its_own_options():
    """A README or --help example naming an option the command does not have (renamed, or never there) is
    what a user copies first; each documented line's command, sub-command and every --option exist."""
    import re
    import shlex

    lines = _documented_command_lines()
    assert len(lines) > 60
    wrong = []
    for where, line in lines:
        argv = shlex.split(re.sub(r"\s#.*$", "", line))[1:]
        if not argv or argv[0] not in COMMANDS:
            wrong.append((where, line, "no such command"))
            continue
        parsers = _parsers(argv[0])
        parser = parsers.get(argv[1], parsers[""]) if len(argv) > 1 and argv[1] in parsers else parsers[""]
        options = {o for p in (parsers[""], parser) for a in p._actions for o in a.option_strings}
        wrong += [(where, line, token) for token in argv[1:]
                  if token.startswith("--") and token.split("=")[0] not in options]
    assert not wrong, wrong


def test_an_output_named_dash_is_refused_where_a_command_writes_files(tmp_path, capsys, monkeypatch):
    """``measure DIR --out -`` wrote a table named '-' (and '-.json') in the working folder: '-' reads as standard
    output, and a command writing files refuses it in one line, writing nothing; ``evaluate-model --json -``
    still prints."""
    monkeypatch.chdir(tmp_path)
    writers = [(c, option) for c in COMMANDS for name, parser in _parsers(c).items() if name == ""
               for option in ("--out", "--prefs") if any(option in a.option_strings for a in parser._actions)]
    assert len(writers) >= 15
    for command, option in writers:
        capsys.readouterr()
        assert main([command, option, "-"]) == 2
        err = capsys.readouterr().err
        assert err == (f"ganphon {command}: error: argument {option}: '-' (standard output): this command writes "
                       f"files; give a name (see 'ganphon {command} --help')\n"), err
    assert not list(tmp_path.iterdir())
    assert main(["evaluate-model", "--checkpoint", "demo", "--n", "2", "--json", "-"]) == 0
    assert '"n": 2' in capsys.readouterr().out and not list(tmp_path.iterdir())
