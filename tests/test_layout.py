"""layout: names, layer order, folder ownership, atomic writes; io.prepare_folder's rules."""

import json
import os
import re

import numpy as np
import pytest
from conftest import subprocess_env

from ganphon import io, layout
from ganphon.errors import GanphonError


def test_names():
    assert layout.layer_wav("s000001", "conv3") == "s000001_conv3.wav"
    assert layout.layer_sound("b002_v010", "dense") == "b002_v010_dense.Sound"
    assert layout.textgrid("s000000") == "s000000.TextGrid"
    assert layout.sample_id(12) == "s000012" and layout.sweep_sample_id(3, 7) == "b003_v007"
    assert layout.feature_maps("conv2") == "featuremaps_conv2.npy"
    assert layout.sample_files("x", ["dense"]) == ["x_output.wav", "x_dense.Sound", "x.TextGrid"]
    assert layout.sample_files("x", ["dense"], wav_layers=True) == ["x_output.wav", "x_dense.wav", "x_dense.Sound",
                                                                    "x.TextGrid"]


@pytest.mark.parametrize("name,parsed", [
    ("b000_v001_conv3.wav", ("b000_v001", "conv3")), ("s000002_output.wav", ("s000002", "output")),
    ("my_word_dense.Sound", ("my_word", "dense")), ("s000002.TextGrid", ("s000002", None)),
    ("s000002_output.Sound", None), ("recording.wav", None), ("notes.txt", None), ("a_conv.wav", None),
])
def test_parse_sample_file(name, parsed):
    assert layout.parse_sample_file(name) == parsed


def test_sort_layers_network_order():
    assert layout.sort_layers(["output", "conv10", "conv2", "dense", "conv9", "conv2", "extra", None, ""]) == \
        ["dense", "conv2", "conv9", "conv10", "output", "extra"]


def test_owns():
    for name in ("s000000_output.wav", "b001_v002.TextGrid", "featuremaps_conv1.npy", "manifest.csv",
                 "finished.txt", "acoustics.csv", "stats", "figures", ".s000000_output.tmp123.wav"):
        assert layout.owns("export", name), name
    for name in ("notes.txt", "recording.wav", "random"):
        assert not layout.owns("export", name), name
    for name in ("random", "sweep_z11", "report.md", "demo.json", "run.json"):
        assert layout.owns("demo", name), name
    assert not layout.owns("demo", "s000000_output.wav")


def test_atomic_write_leaves_nothing_on_exception(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with layout.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    layout.atomic_write_text(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


@pytest.mark.parametrize("name", ["y" * 243 + ".csv", "é" * 120 + ".TextGrid", "z" * 255])
def test_a_file_whose_name_is_near_the_limit_is_written_backed_up_and_put_back(tmp_path, name, capsys):
    """A valid name of 245 bytes or more had a temporary or backup twin (.NAME.tmpPID.SUFFIX) past the file
    system's 255: the file could not be written ("File name too long") although its own name was valid."""
    path = tmp_path / name
    assert len(os.fsencode(path.name)) <= layout.NAME_MAX
    for kind, keep in (("tmp", True), ("bak", False), ("old", False)):
        twin = layout.sibling(path, kind, keep_suffix=keep)
        assert twin.parent == tmp_path and len(os.fsencode(twin.name)) <= layout.NAME_MAX
        assert layout.is_temporary(twin.name) and twin.name.startswith(".")
        assert twin.name.endswith(f".{kind}{os.getpid()}{path.suffix if keep else ''}")
    assert layout.sibling(tmp_path / "a.csv", "tmp", keep_suffix=True).name == f".a.tmp{os.getpid()}.csv"
    layout.atomic_write_text(path, "first")
    with pytest.raises(RuntimeError), layout.command_scope():  # replaced, then the command fails: put back
        layout.atomic_write_text(path, "second")
        assert path.read_text() == "second"
        raise RuntimeError("fails")
    assert path.read_text() == "first" and [p.name for p in tmp_path.iterdir()] == [name]
    with layout.command_scope():  # set aside, then kept removed
        layout.discard(path)
    assert not list(tmp_path.iterdir())
    if name.endswith(".csv"):  # a table of that name: measured and written
        from ganphon.cli import main

        folder = tmp_path / "rec"
        folder.mkdir()
        io.write_wav(folder / "a.wav", np.sin(2 * np.pi * 200 * np.arange(1600) / 16000.0), 16000)
        assert main(["measure", str(folder), "--tier", "", "--out", str(path), "--quiet"]) == 0, capsys.readouterr()
        assert io.read_table(path)["file"].iloc[0] == "a.wav"
        longest = tmp_path / ("y" * 250 + ".csv")  # no room for the partial table a Ctrl-C would keep: none kept
        assert main(["measure", str(folder), "--tier", "", "--out", str(longest), "--quiet"]) == 0
        assert io.read_table(longest).equals(io.read_table(path))
        capsys.readouterr()  # one byte more: its record (NAME.json) cannot be written; said before measuring
        assert main(["measure", str(folder), "--tier", "", "--out", str(tmp_path / ("y" * 251 + ".csv")),
                     "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "yyy.json: file name too long (256 bytes: yyyy" in err, err


def test_a_name_past_the_file_system_limit_is_said_so_with_its_length():
    import errno

    from ganphon.errors import os_problem

    exc = OSError(errno.ENAMETOOLONG, "File name too long", "/tmp/" + "x" * 250 + ".partial.csv")
    assert os_problem(exc) == ("file name too long (262 bytes: xxxxxxxxxxxxxxxxxxxxxxxx…; file systems take 255); "
                               "choose a shorter name")
    deep = OSError(errno.ENAMETOOLONG, "File name too long", "/tmp/" + "/".join(["d" * 200] * 30))
    assert os_problem(deep) == "File name too long"  # a path too long as a whole: the system's words


def test_running_out_of_descriptors_is_said_with_the_limit():
    """EMFILE outside a pool (a command opening its files) names the process's limit, read from the system."""
    import errno
    import resource

    from ganphon.errors import os_problem

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert os_problem(OSError(errno.EMFILE, "Too many open files")) == (
        f"too many open files (this process may open {soft:,}; raise the limit, e.g. 'ulimit -n 4096')")
    assert os_problem(OSError(errno.ENFILE, "Too many open files in system")).startswith(
        "too many open files on this system")


def test_prepare_folder_rules(tmp_path):
    out = tmp_path / "run"
    req = {"kind": "probe", "n": 2}
    assert io.prepare_folder(out, req, record={"command": "c"}) is False
    assert json.loads((out / "run.json").read_text()) == {  # the one record schema, its empty fields filled
        "kind": "probe", "command": "c", "request": req, "versions": io.versions(), "seed": None, "timings": {},
        "inputs": {}}
    io.write_wav(out / "s000000_output.wav", np.zeros(4, np.float32), 16000)  # written by ganphon: in the ledger
    assert io.prepare_folder(out, req) is True  # same request: resume
    with pytest.raises(GanphonError, match="different command .differs in n"):
        io.prepare_folder(out, {"kind": "probe", "n": 3})
    assert (out / "s000000_output.wav").is_file()
    (out / "notes.txt").write_text("mine")
    (out / "s000001_output.wav").write_bytes(b"mine too")  # named like a sample, but not written by ganphon
    (out / "stats").mkdir()
    io.write_json(out / "stats" / "lrt.json", {})
    with pytest.raises(GanphonError, match="is an export folder .* not a demo folder"):
        io.prepare_folder(out, {"kind": "demo"}, overwrite=True)  # another kind: refused even with --overwrite
    assert io.prepare_folder(out, {"kind": "probe", "n": 3}, overwrite=True) is False
    visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert visible == ["notes.txt", "run.json", "s000001_output.wav"]  # exactly ganphon's files removed
    file = tmp_path / "f"
    file.write_text("x")
    with pytest.raises(GanphonError, match="not a folder"):
        io.prepare_folder(file, req)


def _ledger_lines(folder) -> list:
    return (folder / layout.LEDGER).read_text(encoding="utf-8").split("\n")[1:-1]


def test_the_ledger_names_each_file_on_disk_before_the_file_exists(tmp_path):
    """Appends reach the file at once (no buffer a kill -9 would lose); a batch is named in one append, once."""
    out = tmp_path / "run"
    with layout.command_scope():
        layout.lock_folder(out, kind="export")
        layout.start_ledger(out, "export")
        layout.note_in_ledger(out, ["a_output.wav", "a.TextGrid"])
        assert _ledger_lines(out) == ["a_output.wav", "a.TextGrid"]  # read from disk, the command still running
        for name in ("a_output.wav", "b_output.wav"):
            with layout.atomic_path(out / name) as tmp:
                assert name in _ledger_lines(out) and not (out / name).exists()
                tmp.write_bytes(b"x")
        layout.note_in_ledger(out, ["b_output.wav", "c.TextGrid", layout.LEDGER, ".c.tmp123.TextGrid"])
        (out / "sub").mkdir()
        layout.note_in_ledger(out / "sub", ["deep.wav"])  # an entry of a sub-folder: the sub-folder's name
        assert _ledger_lines(out) == ["a_output.wav", "a.TextGrid", "b_output.wav", "c.TextGrid", "sub"]
    assert layout.read_ledger(out) == ("export", {"a_output.wav", "a.TextGrid", "b_output.wav", "c.TextGrid",
                                                  "sub"})


#: A writer in a fresh interpreter (no state inherited by a fork): batches of 4 samples, each named in the
#: ledger first as write_samples does; it SIGKILLs itself while writing sample 6 (the middle of the second
#: batch), either before that sample's first Sound ("between") or with the Sound's temporary file written and
#: not yet renamed onto its name ("inside")
_KILLED_WRITER = """
import os, signal, sys
import numpy as np
from ganphon import io, layout
from ganphon.pipeline import write_sample

out, where = sys.argv[1], sys.argv[2]
ids = [layout.sweep_sample_id(0, i) for i in range(40)]
native = {"conv1": np.linspace(0, 1, 64, dtype=np.float32)}
doomed = os.path.join(out, layout.layer_sound(ids[6], "conv1"))
write_sound, replace = io.write_sound, os.replace

def sound(path, *args, **kwargs):
    if where == "between" and str(path) == doomed:
        os.kill(os.getpid(), signal.SIGKILL)
    return write_sound(path, *args, **kwargs)

def rename(source, target, *args, **kwargs):
    if where == "inside" and str(target) == doomed:
        os.kill(os.getpid(), signal.SIGKILL)
    return replace(source, target, *args, **kwargs)

io.write_sound, os.replace = sound, rename
with layout.command_scope():
    layout.lock_folder(out, kind="export")
    layout.start_ledger(out, "export")
    for start in range(0, len(ids), 4):
        layout.note_in_ledger(out, [f for sid in ids[start:start + 4] for f in layout.sample_files(sid, native)])
        for sid in ids[start:start + 4]:
            write_sample(out, sid, np.zeros(1024, np.float32), native, {}, 1024, 16000, "z=1")
"""


@pytest.mark.parametrize("where", ["between", "inside"])
def test_a_writer_killed_mid_batch_leaves_a_ledger_naming_every_file_it_wrote(tmp_path, where):
    """A process writing sample files one batch at a time, SIGKILLed part way through a sample (between two of
    its files, or inside a write): every file it left under its own name is in the ledger."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(out), where], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    ids = [layout.sweep_sample_id(0, i) for i in range(40)]
    left = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    # six whole samples and the output WAV of the seventh: killed in the middle of the second batch
    assert left == {f for sid in ids[:6] for f in layout.sample_files(sid, ["conv1"])} | {
        layout.layer_wav(ids[6], "output")}
    kind, names = layout.read_ledger(out)
    assert kind == "export" and left <= names
    # the ledger claims the second batch whole (named before it is written), not the third
    assert {f for sid in ids[4:8] for f in layout.sample_files(sid, ["conv1"])} <= names
    assert not names & set(layout.sample_files(ids[8], ["conv1"]))
    # besides the lock and the ledger, only the temporary file of the write it was killed in
    hidden = {p.name for p in out.iterdir() if p.name.startswith(".")} - {layout.LOCK, layout.LEDGER}
    assert len(hidden) == (where == "inside") and all(layout.is_temporary(name) for name in hidden), hidden


def test_a_plain_name_is_one_entry_of_its_folder_on_one_line():
    import pandas as pd

    expected = {"b000_v001_conv3.wav": True, "ü b.TextGrid": True, "...": True, ".hidden": True, "": False,
                ".": False, "..": False, "../x.wav": False, "a/b": False, "a\\b": False, "a\nb": False,
                "a\rb": False, "a\tb": False, "a\x00b": False, "a\x7fb": False}
    assert {name: layout.is_plain_name(name) for name in expected} == expected
    assert list(layout.plain_names(pd.Series(list(expected)))) == list(expected.values())


def test_what_stands_where_a_file_should_be_is_named_and_a_nested_pipe_in_a_corpus_is_refused(tmp_path):
    """``not_a_file`` tells a regular file (or a link to one) and nothing at all from a named pipe, a socket and a
    folder by the file's mode; a folder of WAVs read recursively refuses a pipe named like a WAV in a
    sub-folder instead of skipping it (reading it would wait for ever)."""
    import contextlib
    import socket

    from ganphon.corpus.folder import find_wavs

    (tmp_path / "a.wav").write_bytes(b"RIFF")
    (tmp_path / "link.wav").symlink_to(tmp_path / "a.wav")
    os.mkfifo(tmp_path / "pipe.wav")
    (tmp_path / "dir.wav").mkdir()
    with contextlib.chdir(tmp_path), socket.socket(socket.AF_UNIX) as sock:
        sock.bind("sock.wav")
        kinds = {name: layout.not_a_file(tmp_path / name) for name in
                 ("a.wav", "link.wav", "absent.wav", "pipe.wav", "dir.wav", "sock.wav")}
    assert kinds == {"a.wav": None, "link.wav": None, "absent.wav": None, "pipe.wav": "a named pipe",
                     "dir.wav": "a folder", "sock.wav": "a socket"}
    assert layout.not_a_file(tmp_path / "dir.wav", folders=False) is None
    with pytest.raises(GanphonError, match=r"dir\.wav: a folder where .* should hold a file"):
        layout.check_entries(tmp_path)
    with pytest.raises(GanphonError, match=r"pipe\.wav: a named pipe, not a WAV file"):
        io.read_wav(tmp_path / "pipe.wav")
    corpus = tmp_path / "corpus"
    (corpus / "speaker1").mkdir(parents=True)
    (corpus / "speaker1" / "x.wav").write_bytes(b"RIFF")
    assert find_wavs(corpus) == [corpus / "speaker1" / "x.wav"]
    os.mkfifo(corpus / "speaker1" / "y.wav")
    with pytest.raises(GanphonError, match=r"speaker1/y\.wav: a named pipe, not a file"):
        find_wavs(corpus)
    # a pipe named like the TextGrid beside a recording is found, and its reader names it (not "no TextGrid")
    os.mkfifo(corpus / "speaker1" / "x.TextGrid")
    assert layout.textgrid_beside(corpus / "speaker1" / "x.wav") == corpus / "speaker1" / "x.TextGrid"
    with pytest.raises(GanphonError, match=r"x\.TextGrid: a named pipe, not a TextGrid file"):
        io.read_textgrid(corpus / "speaker1" / "x.TextGrid")
    # the checkpoint readers ask the same: a pipe or a device is named, not read for ever nor called "empty"
    from ganphon.models.checkpoint import read_weights_file
    from ganphon.models.tf_checkpoint import TFCheckpoint

    with pytest.raises(GanphonError, match=r"pipe\.wav: a named pipe, not a checkpoint file"):
        read_weights_file(tmp_path / "pipe.wav")
    with pytest.raises(GanphonError, match=r"/dev/zero: a character device, not a checkpoint file"):
        read_weights_file("/dev/zero")
    (tmp_path / "tf").mkdir()
    os.mkfifo(tmp_path / "tf" / "checkpoint")
    with pytest.raises(GanphonError, match=r"tf/checkpoint: a named pipe, not a TensorFlow 'checkpoint' file"):
        TFCheckpoint(tmp_path / "tf")


def test_a_failed_command_whose_out_passes_through_a_folder_it_made_leaves_no_lock(tmp_path, monkeypatch):
    """``--out new/..`` names the working folder through ``new``, which the command makes and, failing, removes
    again: the lock it took is released by the folder's real path, so nothing of the run is left."""
    from ganphon.cli import main

    (tmp_path / "mine.txt").write_text("the user's\n")  # a folder that is not empty: the run is refused
    monkeypatch.chdir(tmp_path)
    assert main(["corpus", "synth", "--template", "stv", "--n", "2", "--out", "new/..", "--quiet"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_a_lock_that_cannot_be_written_is_released_not_held_against_the_command(tmp_path):
    """A folder whose lock file cannot take the process id (a full disk; here the lock is /dev/full, which
    answers ENOSPC): the lock was kept while its folder was treated as unlocked, and the command's next lock of
    the same folder found it "in use by another ganphon command".  It is released now: the folder is measured,
    into the table the same folder gives with a writable lock."""
    import shutil

    from ganphon.cli import main

    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    plain, full = tmp_path / "plain", tmp_path / "full"
    assert main(["probe", "--checkpoint", "demo", "--n", "2", "--out", str(plain), "--quiet"]) == 0
    shutil.copytree(plain, full)
    (full / layout.LOCK).unlink(missing_ok=True)
    (full / layout.LOCK).symlink_to("/dev/full")
    for folder in (plain, full):
        assert main(["measure", str(folder), "--tier", "", "--quiet"]) == 0, folder
    assert (full / "acoustics.csv").read_bytes() == (plain / "acoustics.csv").read_bytes()


def test_a_backup_the_disk_cannot_hold_is_not_left_half_written(tmp_path, capsys):
    """Before changing a file in place (the folder's ledger) a command copies it aside for undo; on a full
    disk the copy failed part way and the half-written ``..ganphon.ledger.bakPID`` stayed in the folder.
    Here the backup's name leads to /dev/full (ENOSPC on every write): the command fails in one line and
    leaves the folder as it was."""
    import shutil

    from ganphon.cli import main

    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    folder = tmp_path / "p"
    assert main(["probe", "--checkpoint", "demo", "--n", "2", "--out", str(folder), "--quiet"]) == 0
    assert main(["measure", str(folder), "--tier", "", "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != layout.LOCK}
    backup = layout.sibling(folder / layout.LEDGER, "bak")
    backup.symlink_to("/dev/full")
    capsys.readouterr()
    assert main(["stats", str(folder), "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == f"ganphon: error: {folder / layout.LEDGER}: No space left on device"
    assert not os.path.lexists(backup)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != layout.LOCK} == before
    shutil.rmtree(folder)


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs filled to the last few kB (needs root and mount; skipped where the system refuses)."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs a tmpfs mount (root)")
    try:
        import shutil

        with open(mount / "filler", "wb") as fh:
            fh.write(b"\0" * (shutil.disk_usage(mount).free - 8192))
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_full_disk_is_said_so_where_a_library_writes(full_disk, capsys):
    """torch's "[enforce fail at inline_container.cc:672] . unexpected pos 3328 vs 3222" and Praat's "Error
    encoding FLAC stream" (with its traceback) were what a full disk said while writing a checkpoint or a
    listening copy: both are now the system's words for it, naming the file, and nothing is left behind."""
    import numpy as np

    from ganphon.cli import main

    assert main(["new-model", "--dim", "64", "--out", str(full_disk / "g.pt")]) == 2
    assert capsys.readouterr().err.strip() == f"ganphon: error: {full_disk / 'g.pt'}: No space left on device"
    with pytest.raises(OSError) as full:
        io.write_listening_wav(full_disk / "x.flac", np.sin(np.arange(160000) * 0.1), 16000, peak=None)
    assert full.value.filename == str(full_disk / "x.flac") and "No space left on device" in str(full.value)
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_the_error_line_comes_after_the_progress_bar_it_stopped(full_disk):
    """A probe stopped by a full disk left its progress bar open, which was drawn once more after the error
    line when it was collected; the bars are closed before the error is printed, and the folder is undone."""
    import subprocess
    import sys

    filler = full_disk / "filler"
    os.truncate(filler, filler.stat().st_size - 300_000)  # room for a few samples
    env = subprocess_env()
    done = subprocess.run([sys.executable, "-m", "ganphon", "probe", "--checkpoint", "demo", "--n", "30", "--out",
                           str(full_disk / "p"), "--yes"], env=env, capture_output=True, text=True, timeout=300)
    last = done.stderr.replace("\r", "\n").strip().splitlines()[-1]
    assert done.returncode == 2 and re.fullmatch(rf"ganphon: error: {re.escape(str(full_disk))}/p/s0000\d\d_\w+\."
                                                 r"(wav|Sound|TextGrid): No space left on device", last), done.stderr
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_a_full_temporary_folder_is_named_as_such(full_disk, praat_exe, tmp_path):
    """`measure --engine praat` stages the files it hands to Praat in a temporary folder; with TMPDIR full the
    error named a path the user never chose.  It now says it is a temporary file and how to move it; the
    table is not written."""
    import subprocess
    import sys

    from ganphon.cli import main

    folder = tmp_path / "p"
    assert main(["probe", "--checkpoint", "demo", "--n", "2", "--out", str(folder), "--quiet"]) == 0
    env = {**subprocess_env(), "TMPDIR": str(full_disk)}
    done = subprocess.run([sys.executable, "-m", "ganphon", "measure", str(folder), "--tier", "", "--engine", "praat",
                           "--praat-path", praat_exe, "--out", str(tmp_path / "t.csv"), "--quiet"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and re.fullmatch(
        rf"ganphon: error: {re.escape(str(full_disk))}/ganphon_praat_\w+/s00000\d_\w+\.wav: No space left on device "
        rf"\(a temporary file: set TMPDIR to a folder with room; the temporary folder is {re.escape(str(full_disk))}\)",
        done.stderr.strip()), done.stderr
    assert not (tmp_path / "t.csv").exists() and sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def _file_size_limit(limit: int):
    """``preexec_fn`` of a child that may write files of at most ``limit`` bytes (``ulimit -f``)."""
    import resource

    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return apply


def test_a_file_size_limit_is_said_so_whatever_library_writes(tmp_path):
    """Under ``ulimit -f`` torch's checkpoint writer said "[enforce fail at inline_container.cc:672] .
    unexpected pos …" and pyarrow's "Error writing bytes to file. Detail: [errno 27] File too large": a write
    that reaches the limit is now one line naming the file, the limit and how to raise it, on every route
    through the one atomic writer, and nothing is left in the folder."""
    import subprocess
    import sys

    limit = 32768
    words = (f"file too large: this process may write files of at most {limit:,} bytes (ulimit -f); raise the "
             "limit, e.g. 'ulimit -f unlimited'")
    out = tmp_path / "models"
    done = subprocess.run([sys.executable, "-m", "ganphon", "new-model", "--dim", "16", "--out", str(out / "g.pt")],
                          env=subprocess_env(), capture_output=True, text=True, timeout=300,
                          preexec_fn=_file_size_limit(limit))
    assert done.returncode == 2 and done.stderr.strip() == f"ganphon: error: {out / 'g.pt'}: {words}", done.stderr
    assert not out.exists()
    table = tmp_path / "t.parquet"  # pyarrow's writer, from the API
    code = ("import numpy, pandas, sys; from ganphon import io\n"
            "try:\n"
            "    io.write_table(pandas.DataFrame({'x': numpy.random.default_rng(0).random(40000)}), sys.argv[1])\n"
            "except OSError as exc:\n"
            "    from ganphon.errors import os_problem; print(exc.filename, os_problem(exc), sep='|')\n")
    done = subprocess.run([sys.executable, "-c", code, str(table)], env=subprocess_env(), capture_output=True,
                          text=True, timeout=300, preexec_fn=_file_size_limit(limit))
    assert done.returncode == 0 and done.stdout.strip() == f"{table}|{words}", done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_file_too_large_without_a_limit_names_the_file_system():
    """EFBIG where the process has no size limit is the file system's largest file (FAT32's 4 GiB)."""
    import errno
    import resource

    from ganphon.errors import os_problem, soft_limit

    if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY:
        pytest.skip("this process has a file size limit")
    assert soft_limit("RLIMIT_FSIZE") is None
    assert os_problem(OSError(errno.EFBIG, "File too large", "/media/stick/t.zarr")) == (
        "file too large for this file system (a FAT32 drive holds at most 4 GiB a file); write it elsewhere")


def test_a_copy_sharing_files_with_its_original_changes_only_itself(tmp_path):
    """A folder copied with hard links (``cp -al``, ``rsync --link-dest``) or as links to the original's files
    (a git-annex or DataLad folder, read-only), then completed by the same command: the files ganphon changes
    in place (``finished.txt``, the ledger) had been changed in the original too, which then recorded as
    finished a sample written only in the copy.  The copy is completed; every byte of the original stays."""
    from ganphon.cli import main

    original = tmp_path / "original"
    command = ["probe", "--checkpoint", "demo", "--n", "3", "--quiet", "--out"]
    assert main([*command, str(original)]) == 0
    before = {p.name: p.read_bytes() for p in original.iterdir()}
    for how in ("hard", "symbolic"):
        copy = tmp_path / how
        copy.mkdir()
        for p in original.iterdir():
            if how == "hard":
                os.link(p, copy / p.name)
            else:
                os.symlink(p, copy / p.name)
        if how == "symbolic":  # git-annex keeps its objects read-only
            for p in original.iterdir():
                p.chmod(0o444)
        (copy / "s000002_output.wav").unlink()  # a sample the copy has to make again
        assert main([*command, str(copy)]) == 0
        assert {p.name: p.read_bytes() for p in original.iterdir()} == before, how
        finished = (copy / layout.FINISHED).read_text(encoding="utf-8").splitlines()
        assert finished.count("s000002") == 2 and (copy / "s000002_output.wav").is_file(), (how, finished)
        assert (original / layout.FINISHED).read_text(encoding="utf-8").splitlines().count("s000002") == 1
        assert layout.unshare(copy / layout.FINISHED) is False  # the copy's own now


@pytest.fixture
def few_files(tmp_path):
    """A tmpfs of 64 MiB that holds at most 30 files (needs root and mount; skipped where the system refuses)."""
    import subprocess

    mount = tmp_path / "few"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,nr_inodes=30", "tmpfs",
                                            str(mount)], capture_output=True).returncode != 0:
        pytest.skip("needs a tmpfs mount (root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_file_system_out_of_files_but_not_of_bytes_is_said_so(few_files, capsys):
    """Every inode used, 60 MiB free: "No space left on device" had sent people to ``df``, which showed the
    space free.  The error says the file system has no room for another file, how many it holds and what
    is free, naming the file (or the folder); nothing is left behind."""
    from ganphon.cli import main

    pattern = (r"no room for another file: the file system holds at most 30 files and has none left \('df -i'\), "
               r"though (\d+\.\d) MiB are free; remove files there or write elsewhere")
    assert main(["probe", "--checkpoint", "demo", "--n", "10", "--out", str(few_files / "p"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    found = re.fullmatch(rf"ganphon: error: {re.escape(str(few_files / 'p'))}/s\d{{6}}_\w+\.(wav|Sound|TextGrid): "
                         + pattern, err)
    assert found and float(found.group(2)) > 50, err
    assert os.listdir(few_files) == []
    made = 0
    while True:  # every file the file system can hold, taken
        try:
            (few_files / f"f{made}").touch()
        except OSError:
            break
        made += 1
    assert main(["probe", "--checkpoint", "demo", "--n", "2", "--out", str(few_files / "p"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(rf"ganphon: error: {re.escape(str(few_files / 'p'))}: cannot write there \({pattern}\)",
                        err), err
    assert sorted(os.listdir(few_files)) == sorted(f"f{i}" for i in range(made))
