"""Reliability mechanisms: a stop that cannot hang, undo of in-place writes, API locks, one-line Praat errors.

Each test drives the real mechanism (worker processes killed mid-send, a
store write that fails half way, two Python processes on one folder, Praat
on a broken file) and checks the outcome against what the mechanism must
guarantee: a bound on the exit time, the bytes of the folder before the
command, the holder's process id, the script and file named in one line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import sigint_default, stop_processes, subprocess_env

# ---------------------------------------------------------------- (1) a stop that cannot hang

# A job that dies half way through sending its result: it writes the header of a 10 MB message and 1 kB of
# it into the pool's result pipe, then kills itself, as a worker SIGKILLed while sending a large batch result
# does.  The pool's manager thread is left blocked reading the other 9.99 MB from a pipe whose write end the
# main process also holds.
HALF_SENT = textwrap.dedent("""
    import os, signal, struct, sys, time
    from pathlib import Path

    MARKS = Path(os.environ["GANPHON_TEST_MARKS"])

    def half_sent(i):
        if i == 0:
            frame = sys._getframe()
            while "result_queue" not in frame.f_locals:
                frame = frame.f_back
            os.write(frame.f_locals["result_queue"]._writer.fileno(), struct.pack("!i", 10_000_000) + bytes(1000))
            (MARKS / "half_sent").touch()
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
        return i
""")

HALF_SENT_RUNNER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    import half_sent
    from ganphon.parallel import Interrupted, map_jobs
    try:
        map_jobs(half_sent.half_sent, range(4), workers=2, progress=False, preload=["half_sent"], max_chunk=1)
    except Interrupted as stop:
        print(f"interrupted: {stop}", flush=True)
        sys.exit(130)
""")


HALF_SENT_ALONE = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import half_sent
    from ganphon.errors import GanphonError
    from ganphon.parallel import map_jobs
    started = time.monotonic()
    try:
        map_jobs(half_sent.half_sent, range(4), workers=2, progress=False, preload=["half_sent"], max_chunk=1)
    except GanphonError as exc:
        print(f"{exc}|{time.monotonic() - started:.1f}", flush=True)
        sys.exit(2)
""")


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("presses", [1, 3])
def test_ctrl_c_exits_although_a_worker_died_half_way_through_sending_its_result(tmp_path, presses):
    """The interpreter's exit joins the pool's manager thread; it must not be left blocked on the result pipe.

    ``presses`` > 1: Ctrl-C pressed again while the pool is being stopped must not cut the stop short.
    """
    (tmp_path / "half_sent.py").write_text(HALF_SENT)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = dict(os.environ, GANPHON_TEST_MARKS=str(marks))
    proc = subprocess.Popen([sys.executable, "-c", HALF_SENT_RUNNER, str(tmp_path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=sigint_default)
    try:
        assert _wait_for(lambda: (marks / "half_sent").exists() or proc.poll() is not None)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.5)  # the manager thread reads the header and blocks on the rest
        sent = time.monotonic()
        for press in range(presses):
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.7)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail("the process did not exit within 20 s of Ctrl-C (the pool's manager thread is stuck)")
        latency = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert out.startswith("interrupted: 0 of 4 jobs had finished")
    assert "Traceback" not in err
    assert latency < 12, f"{latency:.1f} s from Ctrl-C to exit"


def test_a_detached_pool_thread_does_not_keep_the_interpreter_from_exiting():
    """The last guard of the stop: a thread that can never end (blocked on a pipe nobody writes) is detached."""
    code = textwrap.dedent("""
        import os, threading
        from ganphon.parallel import _detach
        read_end, write_end = os.pipe()
        thread = threading.Thread(target=os.read, args=(read_end, 1))
        thread.start()
        _detach(thread)
        print("detached", flush=True)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout == "detached\n", out.stderr


def test_a_worker_killed_half_way_through_sending_its_result_ends_the_run_with_one_line(tmp_path):
    """Without Ctrl-C: the pool never marks itself broken (its manager thread waits for the rest), map_jobs does."""
    (tmp_path / "half_sent.py").write_text(HALF_SENT)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = dict(os.environ, GANPHON_TEST_MARKS=str(marks))
    try:
        done = subprocess.run([sys.executable, "-c", HALF_SENT_ALONE, str(tmp_path)], env=env, capture_output=True,
                              text=True, timeout=60, start_new_session=True)
    except subprocess.TimeoutExpired:
        pytest.fail("map_jobs waited 60 s for the result of a worker that had died")
    assert done.returncode == 2, done.stderr
    message, seconds = done.stdout.strip().split("|")
    assert message == "a jobs worker process died (killed, or out of memory?); 0 of 4 jobs had finished"
    assert float(seconds) < 15 and "Traceback" not in done.stderr


# ---------------------------------------------------------------- (2) undo of files changed in place


def _bytes_of(folder) -> dict:
    """Every file under ``folder`` (the lock aside): relative path → bytes."""
    from pathlib import Path

    from ganphon import layout

    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*"))
            if p.is_file() and p.name != layout.LOCK}


class LateFault(RuntimeError):
    """A failure found after the command has written part of its output."""


def _stop_at(index, exc):
    def hook(i, *_):
        if i == index:
            raise exc
    return hook


def _need_store():
    try:
        import pyarrow  # noqa: F401
        import zarr  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("zarr/pyarrow missing, but CI=true requires the ganphon[scale] tests to run")
        pytest.skip("zarr/pyarrow not installed (pip install 'ganphon[scale]')")


def test_a_store_run_that_fails_half_way_leaves_the_populated_store_byte_for_byte(tiny_ciwgan, tmp_path):
    """A resumed store run rewrites chunks and metadata inside store.zarr; failing, it puts every byte back."""
    _need_store()
    from ganphon import layout
    from ganphon.models import Latent, load_checkpoint
    from ganphon.store import run_store

    model = load_checkpoint(tiny_ciwgan, qnetwork=False)
    z = Latent(model.config).sample(24, 5)
    out = tmp_path / "store_run"
    kw = dict(batch_size=4, chunk=4, progress=False, request={"kind": "probe"}, feature_maps=["conv1"])
    with pytest.raises(KeyboardInterrupt), layout.command_scope():  # Ctrl-C after two chunks keeps them
        run_store(model, z, out, on_chunk=_stop_at(1, KeyboardInterrupt()), **kw)
    # a chunk cut while being written: the resumed run rewrites that file in place
    torn = out / layout.STORE_ZARR / "output" / "c" / "2" / "0"
    torn.parent.mkdir(parents=True, exist_ok=True)
    torn.write_bytes(b"\x00torn")
    before = _bytes_of(out)
    assert sum(name.startswith(f"{layout.STORE_ZARR}/output/c/") for name in before) == 3

    with pytest.raises(LateFault), layout.command_scope():  # fails after writing chunks 2 and 3
        run_store(model, z, out, on_chunk=_stop_at(3, LateFault("late")), **kw)
    assert _bytes_of(out) == before
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [layout.LEDGER]

    with layout.command_scope():  # and the same run then completes
        run_store(model, z, out, **kw)
    assert sum(name.startswith(f"{layout.STORE_ZARR}/output/c/") for name in _bytes_of(out)) == 6


def test_a_resumed_export_that_fails_half_way_leaves_its_feature_maps_byte_for_byte(tiny_ciwgan, tmp_path):
    """featuremaps_<layer>.npy is written through a memory map on a resume; a failure puts it back."""
    import numpy as np

    from ganphon import layout
    from ganphon.export import run_export
    from ganphon.models import Latent, load_checkpoint

    model = load_checkpoint(tiny_ciwgan, qnetwork=False)
    z = Latent(model.config).sample(6, 5)
    out = tmp_path / "files_run"
    kw = dict(batch_size=2, progress=False, request={"kind": "probe"}, feature_maps=["conv1"], layers=["conv1"])
    with pytest.raises(KeyboardInterrupt), layout.command_scope():
        run_export(model, z, out, on_sample=_stop_at(1, KeyboardInterrupt()), **kw)
    maps = out / layout.feature_maps("conv1")
    kept = np.load(maps)
    assert np.abs(kept[:2]).sum() > 0 and not kept[2:].any()  # two samples in, the rest zero
    before = _bytes_of(out)

    with pytest.raises(LateFault), layout.command_scope():
        run_export(model, z, out, on_sample=_stop_at(4, LateFault("late")), **kw)
    assert _bytes_of(out) == before
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [layout.LEDGER]


# ---------------------------------------------------------------- (3) the Python API holds the folder locks

API_WRITER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from ganphon.errors import GanphonError
    from ganphon.export import run_export
    from ganphon.models import Latent, load_checkpoint

    checkpoint, out, marks, wait = sys.argv[1:5]
    model = load_checkpoint(checkpoint, qnetwork=False)
    z = Latent(model.config).sample(4, 5)

    def hold(i, sample_id):  # hold the folder, mid-run, until told to go on
        Path(marks, "writing").touch()
        while wait == "wait" and not Path(marks, "go").exists():
            time.sleep(0.05)

    try:
        run_export(model, z, out, batch_size=2, progress=False, request={"kind": "probe"}, layers=["conv1"],
                   on_sample=hold)
    except GanphonError as exc:
        print(f"refused: {exc}")
        sys.exit(2)
    print("written")
""")


def test_two_python_processes_writing_one_folder_through_the_api_collide(tiny_ciwgan, tmp_path):
    from ganphon import layout

    out, marks = tmp_path / "run", tmp_path / "marks"
    marks.mkdir()
    first = subprocess.Popen([sys.executable, "-c", API_WRITER, str(tiny_ciwgan), str(out), str(marks), "wait"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: (marks / "writing").exists() or first.poll() is not None, timeout=120)
        assert first.poll() is None, first.communicate()
        before = _bytes_of(out)
        second = subprocess.run([sys.executable, "-c", API_WRITER, str(tiny_ciwgan), str(out), str(marks), "go"],
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert second.stdout == (f"refused: {out}: in use by another ganphon command (process {first.pid}); "
                                 "wait for it to finish or choose another folder\n")
        assert _bytes_of(out) == before  # the refused process wrote nothing
        (marks / "go").touch()
        out_first, err_first = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0 and out_first == "written\n", err_first
    assert not (out / layout.LOCK).exists()  # released when the call returned
    again = subprocess.run([sys.executable, "-c", API_WRITER, str(tiny_ciwgan), str(out), str(marks), "go"],
                           capture_output=True, text=True, timeout=120)
    assert again.stdout == "written\n", again.stderr  # the finished run resumes: nothing to do


def test_an_api_entry_point_inside_a_command_takes_the_command_s_own_lock_again(tiny_ciwgan, tmp_path):
    from ganphon import layout
    from ganphon.export import run_export
    from ganphon.models import Latent, load_checkpoint

    model = load_checkpoint(tiny_ciwgan, qnetwork=False)
    out = tmp_path / "run"
    with layout.command_scope():
        layout.lock_folder(out, kind="export")
        held = (out / layout.LOCK).read_text()
        run_export(model, Latent(model.config).sample(2, 5), out, batch_size=2, progress=False,
                   request={"kind": "probe"}, layers=["conv1"])
        assert (out / layout.LOCK).read_text() == held == f"{os.getpid()}\n"  # still the command's lock
    assert not (out / layout.LOCK).exists()


# ---------------------------------------------------------------- (4) Praat's stderr as one line


def _tone_wav(path, seconds=0.5, sr=16000):
    import numpy as np
    import scipy.io.wavfile

    t = np.arange(int(seconds * sr)) / sr
    scipy.io.wavfile.write(path, sr, (np.sin(2 * np.pi * 150 * t) * 10000).astype(np.int16))


def test_praat_s_error_on_a_file_it_cannot_write_is_one_line_naming_the_script_and_the_file(tmp_path):
    from conftest import require_praat

    from ganphon.praat import command_line, praat_stderr

    exe = require_praat()
    _tone_wav(tmp_path / "a.wav")
    table = tmp_path / "missing_folder" / "table.tsv"
    done = subprocess.run(command_line("measure_all", tmp_path, table, praat=exe, extension="wav"),
                          capture_output=True, timeout=120)
    stderr = done.stderr.decode()
    assert done.returncode != 0 and len(stderr.strip().splitlines()) > 3  # Praat's own report: many lines
    assert praat_stderr(stderr, "measure_all.praat", tmp_path) == \
        f"measure_all.praat on {table}: Praat: Cannot create file “table.tsv”."


def test_praat_s_warning_on_a_bad_file_is_one_ganphon_note_naming_the_script_and_the_file(tmp_path):
    """A TextGrid with a null byte: Praat reads it with a warning on stderr; ``measure --engine praat`` says so."""
    from conftest import require_praat, write_textgrid_tgt

    require_praat()
    folder = tmp_path / "recordings"
    folder.mkdir()
    _tone_wav(folder / "a.wav")
    write_textgrid_tgt(folder / "a.TextGrid", {"auto": [("voi", 0.0, 0.5)]}, xmax=0.5)
    grid = (folder / "a.TextGrid").read_bytes()
    (folder / "a.TextGrid").write_bytes(grid.replace(b"ooTextFile", b"ooTextFile\x00", 1))
    out = tmp_path / "table.csv"
    done = subprocess.run([sys.executable, "-m", "ganphon", "measure", str(folder), "--engine", "praat",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "measure_all.praat" in line]
    assert notes == [f"ganphon: note: measure_all.praat on {folder / 'a.TextGrid'}: Praat: Ignored 1 null bytes in "
                     "text file “a.TextGrid”. (RuntimeWarning from ganphon)"]
    assert all(line.startswith("ganphon: ") for line in done.stderr.splitlines() if line.strip()), done.stderr
    assert out.is_file()


# ---------------------------------------------------------------- (5) --scheduler with a relative --out


def _need_distributed():
    """distributed is in the test extra (ganphon[scale], which .ci/run installs): skipped locally, required in CI."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("distributed is missing, but CI=true requires the ganphon[scale] tests to run")
        pytest.skip("distributed not installed (pip install 'ganphon[scale]')")


def test_a_relative_out_with_a_scheduler_is_written_in_the_callers_folder(tiny_ciwgan, tmp_path):
    """The scheduler and worker run in another folder; the chunks they write land under the caller's --out."""
    import socket

    _need_distributed()
    _need_store()
    from ganphon import layout
    from ganphon.store import open_store

    dask_exe = os.path.join(os.path.dirname(sys.executable), "dask")
    assert os.path.exists(dask_exe), f"{dask_exe}: the dask command of the scale extra is missing"
    elsewhere, caller = tmp_path / "elsewhere", tmp_path / "caller"
    elsewhere.mkdir()
    caller.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    quiet = dict(cwd=elsewhere, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [subprocess.Popen([dask_exe, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              **quiet)]
    try:
        procs.append(subprocess.Popen([dask_exe, "worker", address, "--host", "127.0.0.1", "--nworkers", "1",
                                       "--nthreads", "1", "--no-dashboard", "--death-timeout", "60"], **quiet))
        done = subprocess.run([sys.executable, "-m", "ganphon", "probe", "--checkpoint", str(tiny_ciwgan), "--n", "8",
                               "--seed", "3", "--batch-size", "4", "--store", "zarr", "--scheduler", address,
                               "--quiet", "--out", "run"], cwd=caller, capture_output=True, text=True, timeout=300)
    finally:
        stop_processes(procs)
    assert done.returncode == 0, done.stderr
    assert "on 1 worker(s)" in done.stdout  # generated on the cluster, not in the caller's process
    assert sorted(os.listdir(elsewhere)) == []  # nothing written where the workers run
    # the same command without a scheduler, in this process: the same numbers
    import numpy as np

    from ganphon.cli import main

    assert main(["probe", "--checkpoint", str(tiny_ciwgan), "--n", "8", "--seed", "3", "--batch-size", "4",
                 "--store", "zarr", "--quiet", "--out", str(tmp_path / "here")]) == 0
    there, here = open_store(caller / "run"), open_store(tmp_path / "here")
    assert there.finished() == {layout.sample_id(i) for i in range(8)}
    for layer in (layout.OUTPUT_LAYER, *here.layers):
        assert np.array_equal(there.series(layer)[:], here.series(layer)[:]), layer


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from ganphon import layout

    folder, marks = sys.argv[1:3]
    with layout.command_scope():
        layout.lock_folder(folder)
        Path(marks, "holding").touch()
        while not Path(marks, "go").exists():
            time.sleep(0.05)
""")


def test_the_api_entry_points_that_write_into_a_folder_they_read_are_refused_while_another_holds_it(tmp_path):
    from ganphon.acoustics import measure_to_file
    from ganphon.annotate import annotate_folder
    from ganphon.errors import GanphonError
    from ganphon.plots import plot_folder
    from ganphon.report.explore import explore
    from ganphon.stats import run_stats

    folder, marks = tmp_path / "run", tmp_path / "marks"
    folder.mkdir()
    marks.mkdir()
    (folder / "notes.txt").write_text("the user's\n")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), str(marks)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: (marks / "holding").exists() or holder.poll() is not None, timeout=120)
        assert holder.poll() is None, holder.communicate()
        before = _bytes_of(folder)
        expected = (f"{folder}: in use by another ganphon command (process {holder.pid}); "
                    "wait for it to finish or choose another folder")
        for call in (lambda: annotate_folder(folder, progress=False),
                     lambda: measure_to_file(folder, progress=False),
                     lambda: measure_to_file(tmp_path / "elsewhere", folder / "table.csv", progress=False),
                     lambda: run_stats(folder),
                     lambda: plot_folder(folder),
                     lambda: explore(folder, progress=False)):
            with pytest.raises(GanphonError) as refused:
                call()
            assert str(refused.value) == expected
            assert _bytes_of(folder) == before  # nothing written by the refused call
    finally:
        (marks / "go").touch()
        holder.communicate(timeout=120)
    assert holder.returncode == 0


def test_commands_that_only_read_a_folder_are_refused_while_another_command_writes_it(tmp_path, capsys):
    """compare-series, correlate-input, measure --out elsewhere, corpus check and probe --wavs had read a
    sweep half-written (results from part of its samples, silently); export-wavs had written into it."""
    from ganphon.cli import main

    folder, marks = tmp_path / "run", tmp_path / "marks"
    folder.mkdir()
    marks.mkdir()
    (folder / "notes.txt").write_text("the user's\n")
    (tmp_path / "ext.csv").write_text("time,v\n0,1\n1,2\n")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), str(marks)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: (marks / "holding").exists() or holder.poll() is not None, timeout=120)
        assert holder.poll() is None, holder.communicate()
        before, outside = _bytes_of(folder), sorted(p.name for p in tmp_path.iterdir())
        reading = f"{folder}: being written by another ganphon command (process {holder.pid}); wait for it to finish"
        writing = f"{folder}: in use by another ganphon command (process {holder.pid})"
        for argv, expected in [
                (["compare-series", folder, "--external", tmp_path / "ext.csv", "--out", tmp_path / "cs"], reading),
                (["compare-series", folder, "--external", tmp_path / "ext.csv"], writing),
                (["correlate-input", folder, "--out", tmp_path / "ci.csv"], reading),
                (["measure", folder, "--out", tmp_path / "a.csv"], reading),
                (["corpus", "check", folder], reading),
                (["probe", "--network", "crepe", "--wavs", folder, "--out", tmp_path / "p"], reading),
                (["export-wavs", folder], writing)]:
            capsys.readouterr()
            assert main([str(a) for a in argv]) == 2, argv
            err = capsys.readouterr().err.strip()
            assert err.startswith(f"ganphon: error: {expected}"), (argv, err)
            assert _bytes_of(folder) == before and sorted(p.name for p in tmp_path.iterdir()) == outside
    finally:
        (marks / "go").touch()
        holder.communicate(timeout=120)
    assert holder.returncode == 0
    # the writer gone, the folder reads again (and the check left nothing in it)
    assert main(["corpus", "check", str(folder)]) == 2 and "no .wav files found" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_a_zombie_writer_counts_as_gone_and_its_temporary_file_is_removed(tmp_path):
    """A killed writer not yet reaped (no init reaps orphans in some containers) is a zombie: it writes
    nothing more, so its temporary file is a dead writer's."""
    from ganphon import layout

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # exited but not waited for: a zombie
        with open(f"/proc/{child.pid}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                break
        time.sleep(0.02)
    try:
        assert not layout.process_alive(child.pid)
        assert layout.process_alive(os.getpid())
        temp = tmp_path / f".s000001.tmp{child.pid}.TextGrid"
        temp.write_text("")
        assert layout.remove_stale_temporaries(tmp_path) == [temp.name] and not temp.exists()
    finally:
        child.wait()


# ---------------------------------------------------------------- (6) memory limits of the process itself

def _address_space_limit(limit: int):
    """``preexec_fn`` of a child whose address space is limited to ``limit`` bytes (``ulimit -v``)."""
    import resource

    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))

    return apply


def test_a_memory_limit_of_the_process_is_counted_and_an_allocation_that_fails_is_one_line(tmp_path):
    """Under ``ulimit -v`` (a batch system's ``h_vmem``) the check of a batch against the machine's free memory
    passed, and torch's allocator then stopped the command with a traceback.  The check now counts the
    process's own limits (address space, its control group's) and names the one that binds; an allocation
    that fails anyway (9 million latents, 3.5 GB at once) is one line saying so, and nothing is left."""
    limit = 3 << 30
    run = dict(env=subprocess_env(), capture_output=True, text=True, timeout=300,
               preexec_fn=_address_space_limit(limit))
    big = subprocess.run([sys.executable, "-m", "ganphon", "probe", "--checkpoint", "demo", "--n", "20000",
                          "--batch-size", "20000", "--out", str(tmp_path / "b"), "--yes"], **run)
    assert big.returncode == 2 and re.fullmatch(
        r"ganphon: error: --batch-size: 20,000 samples of a ciwgan d=8 at once: about 8\.9 GiB, while [\d.,]+ \w+ "
        rf"of memory are free \(this process's limit, ulimit -v {limit // 1024}\); use a smaller batch",
        big.stderr.strip()), big.stderr
    many = subprocess.run([sys.executable, "-m", "ganphon", "probe", "--checkpoint", "demo", "--n", "9000000",
                           "--out", str(tmp_path / "m"), "--yes"], **run)
    assert many.returncode == 2 and re.fullmatch(
        r"ganphon: error: out of memory( \(a step asked for [\d.,]+ \w+ more\))?; this process may use 3\.0 GiB "
        r"in all \(ulimit -v\); ask for less at once: smaller batches, fewer samples or workers",
        many.stderr.replace("\r", "\n").strip().splitlines()[-1]), many.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_allocators_own_words_for_a_failed_allocation_become_one_line():
    """numpy's, torch's and CUDA's messages for an allocation beyond the address space, in the words each
    library uses; any other runtime error is left alone."""
    import numpy as np
    import torch

    from ganphon.errors import memory_problem

    with pytest.raises(MemoryError) as numpy_error:
        np.empty((10**7, 10**7))  # 728 TiB: beyond any machine's address space
    with pytest.raises(RuntimeError) as torch_error:
        torch.empty(10**14)  # 400 TB
    advice = "ask for less at once: smaller batches, fewer samples or workers"
    assert memory_problem(numpy_error.value).startswith("out of memory (a step asked for 728 TiB more); ")
    assert memory_problem(torch_error.value).startswith("out of memory (a step asked for 372,529.0 GiB more); ")
    cuda = RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 79.10 GiB total capacity)")
    assert memory_problem(cuda).startswith("out of memory (a step asked for 20 MiB more); ")
    assert all(memory_problem(e).endswith(advice) for e in (numpy_error.value, torch_error.value, cuda))
    assert memory_problem(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None
    assert memory_problem(ValueError("out of memory")) is None


def test_a_control_groups_memory_limit_is_read_as_the_kernel_writes_it(tmp_path):
    """The control group's limit, less its usage, bounds the free memory a batch is checked against: cgroup v2
    (``memory.max``, "max" when unset) and v1 (``memory.limit_in_bytes``, about 2**63 when unset), set on the
    process's own group or a group above it, or at the mount's root (a container's view)."""
    from ganphon.parallel import memory_limits

    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "status").write_text("Name:\tpython\nVmSize:\t 2000000 kB\n")
    root = tmp_path / "cgroup"
    (root / "job" / "x").mkdir(parents=True)
    (proc / "cgroup").write_text("0::/job/x\n")
    (root / "job" / "x" / "memory.max").write_text("4294967296\n")
    (root / "job" / "x" / "memory.current").write_text("1073741824\n")
    group = "the memory limit of this process's control group"
    rooms = [room for room in memory_limits(str(root), str(proc)) if "ulimit" not in room[1]]
    assert rooms == [(3 << 30, group)]
    (root / "job" / "x" / "memory.max").write_text("max\n")
    assert [room for room in memory_limits(str(root), str(proc)) if "ulimit" not in room[1]] == []
    (root / "job" / "memory.max").write_text("2147483648\n")  # a batch job's limit, on the group above
    (root / "job" / "memory.current").write_text("1610612736\n")
    assert [room for room in memory_limits(str(root), str(proc)) if "ulimit" not in room[1]] == [(512 << 20, group)]
    (root / "job" / "memory.max").write_text("max\n")
    (proc / "cgroup").write_text("4:memory:/docker/abc\n0::/\n")  # v1, seen from inside its container
    (root / "memory").mkdir()
    (root / "memory" / "memory.limit_in_bytes").write_text("2147483648\n")
    (root / "memory" / "memory.usage_in_bytes").write_text("536870912\n")
    assert [room for room in memory_limits(str(root), str(proc)) if "ulimit" not in room[1]] == [
        ((2 << 30) - (512 << 20), group)]
    (root / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert [room for room in memory_limits(str(root), str(proc)) if "ulimit" not in room[1]] == []


def test_a_control_groups_cpu_quota_and_the_affinity_bound_the_default_workers(tmp_path):
    """The default worker count was the machine's core count: in a 2-CPU container on a 64-core host, 64
    processes.  It is the cores the affinity allows, no more than the control group's quota rounded up
    (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``; unset: "max", -1)."""
    from ganphon.parallel import usable_cores

    affinity = len(os.sched_getaffinity(0))
    proc = tmp_path / "proc"
    proc.mkdir()
    root = tmp_path / "cgroup"
    (root / "job").mkdir(parents=True)
    (proc / "cgroup").write_text("0::/job\n")
    (root / "job" / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs: 2 workers keep them busy
    assert usable_cores(str(root), str(proc)) == min(affinity, 2)
    (root / "job" / "cpu.max").write_text("50000 100000\n")
    assert usable_cores(str(root), str(proc)) == 1
    (root / "job" / "cpu.max").write_text("max 100000\n")
    assert usable_cores(str(root), str(proc)) == affinity
    (proc / "cgroup").write_text("1:cpu,cpuacct:/docker/abc\n")  # v1, seen from inside its container
    (root / "cpu").mkdir()
    (root / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cores(str(root), str(proc)) == 1
    (root / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert usable_cores(str(root), str(proc)) == affinity
    done = subprocess.run(["taskset", "-c", "0", sys.executable, "-c",
                           "from ganphon.parallel import default_workers; print(default_workers(100))"],
                          capture_output=True, text=True, timeout=120, env=subprocess_env())
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr


@pytest.fixture
def control_group():
    """A real cgroup v1 pair (cpu, memory) a child can join; skipped where the system lets no one make one."""
    made = []
    for controller in ("cpu", "memory"):
        folder = f"/sys/fs/cgroup/{controller}/ganphon_test_{os.getpid()}"
        try:
            os.mkdir(folder)
        except OSError:
            for other in made:
                os.rmdir(other)
            pytest.skip("needs a writable cgroup v1 hierarchy (root)")
        made.append(folder)
    try:
        yield made
    finally:
        for folder in made:
            for _ in range(50):  # the child's exit reaches the group's task list a moment later
                try:
                    os.rmdir(folder)
                    break
                except OSError:
                    time.sleep(0.1)


def test_a_real_control_group_bounds_the_workers_and_the_batch(control_group):
    """A child placed in a control group of half a CPU and 800 MiB, as a container would be: its default
    worker count is 1 and a batch beyond the group's memory is refused naming the group, before anything."""
    cpu, memory = control_group
    with open(f"{cpu}/cpu.cfs_quota_us", "w") as f:
        f.write("50000")
    with open(f"{memory}/memory.limit_in_bytes", "w") as f:
        f.write(str(800 << 20))

    def join():
        for folder in control_group:
            with open(f"{folder}/cgroup.procs", "w") as f:
                f.write(str(os.getpid()))

    code = ("import sys; from ganphon.parallel import default_workers; print(default_workers(100))\n"
            "from ganphon.cli import main; sys.exit(main(['probe', '--checkpoint', 'demo', '--n', '20000', "
            "'--batch-size', '20000', '--out', '/nonexistent/never', '--yes']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=subprocess_env(), preexec_fn=join)
    assert done.returncode == 2 and done.stdout.strip() == "1", done.stdout + done.stderr
    assert re.fullmatch(r"ganphon: error: --batch-size: 20,000 samples of a ciwgan d=8 at once: about 8\.9 GiB, "
                        r"while [\d.,]+ MiB of memory are free \(the memory limit of this process's control "
                        r"group\); use a smaller batch", done.stderr.strip()), done.stderr


def test_a_control_groups_cpu_quota_bounds_torchs_threads(tmp_path):
    """torch starts a thread per core its affinity allows and ignores a control group's CPU quota: in a 2-CPU
    container on a 64-core host, 64 threads taking turns.  The network commands hold them to the quota
    (v2 ``cpu.max`` here); a user's ``OMP_NUM_THREADS`` is obeyed.  Each case in a fresh process (torch's
    thread count is per process)."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 cores the affinity allows")
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    proc.mkdir()
    (root / "job").mkdir(parents=True)
    (proc / "cgroup").write_text("0::/job\n")
    code = ("import torch; from ganphon.parallel import torch_threads_within_quota as cap; "
            f"print(torch.get_num_threads(), cap({str(root)!r}, {str(proc)!r}), torch.get_num_threads())")

    def threads(quota, **env):
        (root / "job" / "cpu.max").write_text(quota)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                              env={**subprocess_env(), **env})
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    before, capped, after = threads("50000 100000\n")  # half a CPU
    assert int(before) >= 2 and capped == "1" and after == "1"
    before, capped, after = threads("max 100000\n")
    assert capped == "None" and after == before
    assert threads("50000 100000\n", OMP_NUM_THREADS="2") == ["2", "None", "2"]


def test_a_real_control_group_holds_a_network_commands_torch_threads(control_group, tmp_path):
    """``ganphon probe`` run inside a control group of one CPU, as in a container: its run record says torch ran
    one thread (the machine has at least two cores; outside the group it runs one per core)."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 cores the affinity allows")
    cpu, _ = control_group
    with open(f"{cpu}/cpu.cfs_quota_us", "w") as f:
        f.write("100000")

    def join():
        for folder in control_group:
            with open(f"{folder}/cgroup.procs", "w") as f:
                f.write(str(os.getpid()))

    env = {k: v for k, v in subprocess_env().items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    for where, preexec, expected in (("inside", join, 1), ("outside", None, None)):
        out = tmp_path / where
        done = subprocess.run([sys.executable, "-m", "ganphon", "probe", "--checkpoint", "demo", "--n", "2", "--out",
                               str(out), "--quiet"], capture_output=True, text=True, timeout=300, env=env,
                              preexec_fn=preexec)
        assert done.returncode == 0, done.stderr
        threads = json.loads((out / "run.json").read_text(encoding="utf-8"))["torch_threads"]
        assert threads == 1 if expected == 1 else threads >= 2, (where, threads)


def test_a_removed_working_folder_is_said_before_anything_starts(tmp_path):
    """Run from a folder removed in another terminal, a relative ``--out`` failed as "writing rel: No such file
    or directory" and an absolute one stopped inside torch ("Intel oneMKL FATAL ERROR: Cannot load
    libtorch_cpu.so"); both are one line saying what happened, and nothing is written."""
    gone = tmp_path / "gone"

    def enter_and_remove():
        os.mkdir(gone)
        os.chdir(gone)
        os.rmdir(gone)

    for out in ("rel", str(tmp_path / "abs")):
        done = subprocess.run([sys.executable, "-m", "ganphon", "probe", "--checkpoint", "demo", "--n", "2", "--out",
                               out], capture_output=True, text=True, timeout=120, env=subprocess_env(),
                              preexec_fn=enter_and_remove)
        assert done.returncode == 2 and done.stderr.strip() == (
            "ganphon: error: the current folder no longer exists (it was removed after this shell entered it); cd "
            "into an existing folder"), done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
