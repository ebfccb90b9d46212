"""The process pool: results in order, errors at once, Ctrl-C that stops, no orphaned workers.

The interruption tests run a small script in a child process (the jobs live in
a module written next to it, so the forkserver workers can import them), send
it SIGINT or SIGKILL, and look at what is left: the jobs that had finished,
and whether any worker or forkserver process survived.
"""

from __future__ import annotations

import json
import operator
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import process_alive, sigint_default

from ganphon.errors import GanphonError
from ganphon.parallel import Interrupted, check_workers, map_jobs

JOBS = textwrap.dedent("""
    import os, time
    from pathlib import Path

    MARKS = Path(os.environ["GANPHON_TEST_MARKS"])

    def work(i):
        (MARKS / f"start_{i}_{os.getpid()}_{os.getppid()}").touch()
        time.sleep(float(os.environ.get("GANPHON_TEST_SLEEP", "0.4")))
        (MARKS / f"done_{i}").touch()
        return i * i

    def boom(i):
        if i == 3:
            raise ValueError("job 3 failed")
        time.sleep(0.5)
        return i
""")

RUNNER = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import jobs
    from ganphon.parallel import Interrupted, map_jobs
    try:
        out = map_jobs(jobs.work, range(int(sys.argv[2])), workers=2, progress=False, preload=["jobs"])
        print(json.dumps({"complete": out}))
    except Interrupted as stop:
        print(json.dumps({"results": stop.results, "done": stop.done}), flush=True)
        sys.exit(130)
""")


def _start(tmp_path, n_jobs, sleep="0.4"):
    (tmp_path / "jobs.py").write_text(JOBS)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = dict(os.environ, GANPHON_TEST_MARKS=str(marks), GANPHON_TEST_SLEEP=sleep)
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(tmp_path), str(n_jobs)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=sigint_default)
    return proc, marks


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _worker_pids(marks):
    """Worker and forkserver pids, read from the marks the jobs left."""
    pids = set()
    for mark in marks.glob("start_*"):
        _, _, pid, ppid = mark.name.split("_")
        pids.update({int(pid), int(ppid)})
    return pids


def test_results_in_item_order_like_a_list_comprehension():
    items = list(range(-20, 37))
    assert map_jobs(operator.neg, items, workers=2, progress=False) == [-i for i in items]
    assert map_jobs(operator.neg, items, workers=1, progress=False) == [-i for i in items]
    weights = [abs(i) for i in items]
    assert map_jobs(operator.neg, items, workers=2, progress=False, weights=weights) == [-i for i in items]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "two", True, float("nan")])
def test_bad_worker_counts_are_one_line_errors(bad):
    with pytest.raises(GanphonError, match="workers must be a whole number"):
        check_workers(bad, 4)


def test_a_failing_job_stops_the_pool_at_once(tmp_path):
    """The job error arrives while the other 60 jobs (30 s of work) are still queued."""
    (tmp_path / "jobs.py").write_text(JOBS)
    code = textwrap.dedent("""
        import sys, time
        sys.path.insert(0, sys.argv[1])
        import jobs
        from ganphon.parallel import map_jobs
        started = time.monotonic()
        try:
            map_jobs(jobs.boom, range(60), workers=2, progress=False, preload=["jobs"], max_chunk=1)
        except ValueError as exc:
            print(f"{exc}|{time.monotonic() - started:.2f}")
    """)
    env = dict(os.environ, GANPHON_TEST_MARKS=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                         timeout=120)
    message, elapsed = out.stdout.strip().split("|")
    assert message == "job 3 failed"
    assert float(elapsed) < 10  # draining the queue would take ≥ 15 s
    assert "Traceback" not in out.stderr


def test_meanwhile_runs_in_this_process_while_the_workers_work(tmp_path):
    """The caller's other work starts before the first job has finished and ends before the last one has
    (8 jobs of 0.4 s on 2 workers: 1.6 s), in the calling process, once; the results are the jobs'."""
    (tmp_path / "jobs.py").write_text(JOBS)
    code = textwrap.dedent("""
        import json, os, sys, time
        from pathlib import Path
        sys.path.insert(0, sys.argv[1])
        import jobs
        from ganphon.parallel import map_jobs
        marks, calls = Path(sys.argv[2]), []

        def meanwhile():
            calls.append((os.getpid(), sorted(p.name for p in marks.glob("done_*"))))
            time.sleep(0.3)
            calls.append((os.getpid(), sorted(p.name for p in marks.glob("done_*"))))

        out = map_jobs(jobs.work, range(8), workers=2, progress=False, preload=["jobs"], max_chunk=1,
                       meanwhile=meanwhile)
        print(json.dumps({"out": out, "pid": os.getpid(), "calls": calls}))
    """)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = dict(os.environ, GANPHON_TEST_MARKS=str(marks), GANPHON_TEST_SLEEP="0.4")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(marks)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.splitlines()[-1])
    assert got["out"] == [i * i for i in range(8)]
    (pid_start, done_at_start), (pid_end, done_at_end) = got["calls"]
    assert pid_start == pid_end == got["pid"]  # once, here
    assert done_at_start == [] and len(done_at_end) < 8  # while the jobs ran, not before nor after them


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failure_of_the_meanwhile_work_stops_the_jobs_and_is_raised(tmp_path, workers):
    """What the caller's other work raises is raised, and the jobs stop: 60 jobs of 0.5 s would take 15 s."""
    (tmp_path / "jobs.py").write_text(JOBS)
    code = textwrap.dedent("""
        import sys, time
        sys.path.insert(0, sys.argv[1])
        import jobs
        from ganphon.parallel import map_jobs

        def meanwhile():
            raise KeyError("the correlations failed")

        started = time.monotonic()
        try:
            map_jobs(jobs.boom, range(4, 64), workers=int(sys.argv[2]), progress=False, preload=["jobs"],
                     max_chunk=1, meanwhile=meanwhile)
        except KeyError as exc:
            print(f"{exc}|{time.monotonic() - started:.2f}")
    """)
    env = dict(os.environ, GANPHON_TEST_MARKS=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(workers)], env=env, capture_output=True,
                         text=True, timeout=120)
    message, elapsed = out.stdout.strip().split("|")
    assert message == "'the correlations failed'"
    assert float(elapsed) < 10
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("target", ["parent", "group"])
def test_ctrl_c_stops_within_a_second_keeps_finished_results_and_kills_workers(tmp_path, target):
    """SIGINT to the parent alone (kill -INT) or to its process group (Ctrl-C in a terminal)."""
    proc, marks = _start(tmp_path, n_jobs=2000, sleep="0.02")  # batches of 16 jobs
    try:
        assert _wait_for(lambda: len(list(marks.glob("done_*"))) >= 40), proc.stderr.read() if proc.poll() else ""
        workers = _worker_pids(marks)
        sent = time.monotonic()
        if target == "parent":
            os.kill(proc.pid, signal.SIGINT)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        latency = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert latency < 3.0, f"map_jobs took {latency:.1f} s to stop after SIGINT"
    record = json.loads(out)
    finished = [i for i, d in enumerate(record["done"]) if d]
    assert 16 <= len(finished) < 2000
    # every finished job's result is kept, and exactly those (reference: i * i)
    assert [record["results"][i] for i in finished] == [i * i for i in finished]
    assert all(record["results"][i] is None for i, d in enumerate(record["done"]) if not d)
    assert {f"done_{i}" for i in finished} <= {m.name for m in marks.glob("done_*")}
    assert "Traceback" not in err
    assert _wait_for(lambda: not any(process_alive(pid) for pid in workers), timeout=3.0), \
        [pid for pid in workers if process_alive(pid)]


def test_kill_9_of_the_parent_leaves_no_worker_or_forkserver(tmp_path):
    """The workers (busy in a 30 s job) and the forkserver die with a SIGKILLed parent."""
    proc, marks = _start(tmp_path, n_jobs=8, sleep="30")
    try:
        assert _wait_for(lambda: len(list(marks.glob("start_*"))) >= 2)
        workers = _worker_pids(marks)
        assert len(workers) >= 2 and proc.pid not in workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _wait_for(lambda: not any(process_alive(pid) for pid in workers), timeout=5.0), \
        [pid for pid in workers if process_alive(pid)]
    assert not list(marks.glob("done_*"))


def test_ctrl_c_in_a_single_process_run_keeps_what_finished():
    calls = []

    def job(i):
        if i == 5:
            raise KeyboardInterrupt
        calls.append(i)
        return -i

    with pytest.raises(Interrupted) as stop:
        map_jobs(job, range(10), workers=1, progress=False)
    assert stop.value.done == [True] * 5 + [False] * 5
    assert stop.value.finished() == [0, -1, -2, -3, -4]
    assert isinstance(stop.value, KeyboardInterrupt)  # the CLI's Ctrl-C handling (exit 130) applies


# ---------------------------------------------------------------- the writer behind the computation

def test_behind_writes_every_batch_in_order_while_the_next_is_computed():
    import threading

    from ganphon.parallel import Behind

    written, handed = [], threading.Event()

    def work(k):
        if k == 0:  # batch 0 is still being written when the caller has computed batch 1
            assert handed.wait(10), "the caller was not free while batch 0 was written"
        written.append(k)

    with Behind(work) as writer:
        writer(0)
        handed.set()  # reached only while the writer is inside work(0): the two ran at once
        for k in range(1, 6):
            writer(k)
    assert written == [0, 1, 2, 3, 4, 5]


def test_behind_a_failing_write_is_raised_in_the_caller_and_nothing_after_it_is_written():
    from ganphon.parallel import Behind

    written = []

    def work(k):
        if k == 2:
            raise KeyboardInterrupt  # what a test's Ctrl-C stand-in raises from a callback
        written.append(k)

    with pytest.raises(KeyboardInterrupt):
        with Behind(work) as writer:
            for k in range(8):
                writer(k)
    assert written == [0, 1]


def test_behind_a_failure_of_the_computation_stops_the_writer_between_samples():
    import threading

    from ganphon.parallel import Behind

    written, inside = [], threading.Event()
    release = threading.Event()

    def work(k):
        for sample in range(3):
            if writer.stopping:
                return
            written.append((k, sample))
            if (k, sample) == (0, 0):
                inside.set()
                release.wait(10)

    with pytest.raises(ValueError, match="forward"):
        with Behind(work) as writer:
            writer(0)
            writer(1)  # waits while batch 0 is written
            assert inside.wait(10)
            threading.Timer(0.2, release.set).start()
            raise ValueError("the forward pass failed")
    # batch 0 stopped after the sample it was writing; batch 1, still waiting, was never started
    assert written == [(0, 0)]


@pytest.mark.parametrize("waiting", ["handing over", "at the end"])
def test_behind_a_ctrl_c_while_the_caller_waits_for_the_writer_stops_it_between_samples(waiting):
    """A real SIGINT to the main thread while it waits for the writer (the queue full, or the block's end
    joining it): the batch being written stops after its sample, no later batch is started, and nothing is
    written once the KeyboardInterrupt has left the block."""
    import signal
    import threading
    import time

    from ganphon.parallel import Behind

    written, inside = [], threading.Event()

    def work(k):
        for sample in range(200):
            if writer.stopping:
                return
            written.append((k, sample))
            inside.set()
            time.sleep(0.01)

    main = threading.main_thread().ident
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with Behind(work) as writer:
                writer(0)
                assert inside.wait(10)
                threading.Timer(0.1, signal.pthread_kill, (main, signal.SIGINT)).start()
                writer(1)  # waits while batch 0 is written (the queue holds one batch)
                if waiting == "handing over":
                    writer(2)
        at_stop = list(written)
        time.sleep(0.3)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert written == at_stop  # nothing written after the stop
    assert at_stop[-1][0] == 0 and len(at_stop) < 200  # batch 0 cut between samples; 1 and 2 never begun


_FAULTS = """
import hashlib, resource, sys, torch
from ganphon.models import ModelConfig, new_model
from ganphon.parallel import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
G = new_model(ModelConfig(arch="wavegan", dim=16), seed=0)[0].eval()
z = torch.randn(16, G.config.latent_dim, generator=torch.Generator().manual_seed(0))
with torch.inference_mode():
    G(z)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):  # batch after batch: the same tensors made and freed
        y = G(z)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, hashlib.sha256(y.numpy().tobytes()).hexdigest())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_memory_a_network_frees_is_reused_not_faulted_in_again():
    """The kernel's count of page faults over three forward passes of a generator: with oneDNN's AVX-512
    kernels the freed activations are returned by default and every page faulted in again (6,000 to
    18,000 faults); with the heap kept (what the network commands set) next to none, and the outputs
    are the same bytes.  With its SSE4.1 or AVX2 kernels glibc keeps the memory by itself (about 2,300
    faults either way): there the setting must cost nothing."""
    faults, outputs = {}, {}
    for mode in ("default", "kept"):
        run = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        count, outputs[mode] = run.stdout.split()[-2:]
        faults[mode] = int(count)
    if faults["default"] > 5000:  # by default 6,000 to 18,000 from run to run, kept 250 to 1,000: the heap's
        assert faults["kept"] < faults["default"] / 4, faults  # state before the passes moves both
    else:
        assert faults["kept"] < 1.5 * faults["default"] + 500, faults
    assert outputs["kept"] == outputs["default"]
