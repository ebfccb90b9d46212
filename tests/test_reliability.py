"""Reliability mechanisms: a stop that cannot hang, undo of in-place writes, API locks, one-line Praat errors.

Each test drives the real mechanism (worker processes killed mid-send, a
store write that fails half way, two Python processes on one folder, Praat
on a broken file) and checks the outcome against what the mechanism must
guarantee: a bound on the exit time, the bytes of the folder before the
command, the holder's process id, the script and file named in one line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import sigint_default

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
