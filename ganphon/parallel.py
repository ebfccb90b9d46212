"""Run independent jobs in worker processes, results in job order.

Praat analyses (parselmouth holds the GIL) and statsmodels optimisations are
CPU-bound Python calls, so ganphon spreads them over processes rather than
threads.  Workers start with ``forkserver`` (or ``spawn``) so they do not
inherit a forked copy of torch's thread pools, and the caller's ``__main__``
is not re-imported in each worker.

Interruption is part of the contract:

- Ctrl-C (SIGINT, to the whole process group or to the parent alone) stops
  :func:`map_jobs` within about a second: queued jobs are cancelled, the
  workers are killed, and :class:`Interrupted` (a ``KeyboardInterrupt``) is
  raised carrying the results of the jobs that had finished, so a caller can
  keep them.  Workers ignore SIGINT themselves; the parent decides.
- A job that raises stops the others the same way, and its exception is
  raised at once (not after the queue has drained).
- Workers die with the process that started them, even when it is killed
  with SIGKILL: each worker asks the kernel for SIGKILL when its parent (the
  forkserver, which exits when the main process is gone) dies, and watches
  the main process itself as a second guard.  No orphaned workers.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import queue
import signal
import sys
import threading

from .errors import GanphonError, ParameterError, soft_limit

#: Seconds to wait for killed workers to be reaped before giving up on them.
KILL_WAIT = 2.0


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`map_jobs`; carries what had finished.

    Attributes
    ----------
    results : list
        One entry per item, in item order: the job's result where
        ``done[i]``, else None.
    done : list of bool
        Which items finished before the interruption.
    """

    def __init__(self, results: list, done: list):
        self.results = results
        self.done = done
        super().__init__(f"{self.n_done} of {len(done)} jobs had finished")

    @property
    def n_done(self) -> int:
        """How many jobs finished."""
        return sum(bool(d) for d in self.done)

    def finished(self) -> list:
        """The results of the finished jobs, in item order."""
        return [r for r, d in zip(self.results, self.done) if d]


#: Bytes the C heap grows by beyond each request and keeps when memory is freed (glibc's ``M_TOP_PAD``).
HEAP_PAD = 1 << 30
_M_TOP_PAD = -2  # mallopt's parameter number (malloc.h)


def keep_freed_memory() -> bool:
    """Let this process reuse the memory a network's forward pass frees, batch after batch.

    Every batch allocates and frees the same large activation tensors; by default
    the C heap returns them to the system and the next batch faults every page
    in again, zero-filled (3 million page faults, 5 CPU-seconds of kernel time
    in the 1,100 forwards of ``benchmarks/bench_sweep.py``).  With the heap
    grown and kept in 1 GiB steps the pages stay mapped: 0.16 million faults,
    the forward about a fifth faster, for about 160 MB more peak memory.  The
    numbers are the same (only where memory comes from changes).  Called by
    the commands that run a network; glibc only (elsewhere nothing changes).
    Returns whether the setting was made.
    """
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_TOP_PAD, HEAP_PAD))
    except (OSError, AttributeError):  # another C library (musl has no mallopt)
        return False


def default_workers(n_jobs: int) -> int:
    """The cores this process may use (:func:`usable_cores`), at most ``n_jobs``, at least 1."""
    return max(1, min(usable_cores(), n_jobs))


# --------------------------------------------------------------------------
# What this process may use: cores, memory (open files: :func:`descriptors_for`)


def usable_cores(cgroup_root: str = "/sys/fs/cgroup", proc: str = "/proc/self") -> int:
    """The cores this process may use: those its affinity allows (``taskset``, a batch job's cpuset), no more
    than its control group's CPU quota (a container's ``--cpus``, a job's cgroup), rounded up.  The
    machine's core count (``os.cpu_count``) counts cores a container cannot use: a worker per core of a
    64-core host in a 2-CPU container is 64 processes sharing 2 CPUs, each with its own memory."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    for group in cgroup_folders("cpu", cgroup_root, proc):
        quota = None
        try:  # v2: "max 100000" or "200000 100000"
            with open(f"{group}/cpu.max", encoding="ascii") as f:
                words = f.read().split()
            if words and words[0] != "max":
                quota = int(words[0]) / int(words[1])
        except (OSError, ValueError, IndexError):
            try:  # v1: -1 when unset
                with open(f"{group}/cpu.cfs_quota_us", encoding="ascii") as f:
                    microseconds = int(f.read())
                with open(f"{group}/cpu.cfs_period_us", encoding="ascii") as f:
                    period = int(f.read())
                if microseconds > 0 and period > 0:
                    quota = microseconds / period
            except (OSError, ValueError):
                pass
        if quota is not None and quota > 0:
            cores = min(cores, max(1, math.ceil(quota - 1e-9)))
    return max(1, cores)


#: Variables by which a user sets the threads of torch's and the BLAS' pools; where one is set, it is obeyed.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def torch_threads_within_quota(cgroup_root: str = "/sys/fs/cgroup", proc: str = "/proc/self") -> int | None:
    """Hold torch's threads to the cores this process may use (:func:`usable_cores`).

    torch starts a thread per core its affinity allows and does not read a control
    group's CPU quota: in a container limited to 2 CPUs on a 64-core host it runs 64
    threads that take turns on 2 CPUs, each forward pass many times slower.  Called by
    the commands that run a network; where ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS``
    is set, or torch already uses no more threads, nothing changes.  Returns the
    number of threads set, or None.
    """
    if any(os.environ.get(name) for name in THREAD_VARIABLES):
        return None
    import torch

    cores = usable_cores(cgroup_root, proc)
    if torch.get_num_threads() <= cores:
        return None
    torch.set_num_threads(cores)
    return cores


#: cgroup v2 (its files in the process's own group) and v1 (the memory controller's): limit, usage
_CGROUP_MEMORY_FILES = (("memory.max", "memory.current"), ("memory.limit_in_bytes", "memory.usage_in_bytes"))


def memory_limits(cgroup_root: str = "/sys/fs/cgroup", proc: str = "/proc/self") -> list[tuple[int, str]]:
    """What this process's own memory limits leave, below the machine's free memory: ``(bytes, whose)`` for
    its address-space limit (``ulimit -v``, as batch systems set ``h_vmem``) and its control group's limit
    (a container's ``--memory``, a batch job's cgroup), each less what is in use.  Where a limit is not set
    or cannot be read, it is not listed."""
    rooms = []
    soft = soft_limit("RLIMIT_AS")
    if soft is not None:
        try:
            rooms.append((max(0, soft - _status_bytes(proc, "VmSize")), f"this process's limit, ulimit -v "
                                                                            f"{soft // 1024}"))
        except (OSError, ValueError):
            pass
    for group in cgroup_folders("memory", cgroup_root, proc):
        for limit_name, usage_name in _CGROUP_MEMORY_FILES:
            try:
                with open(f"{group}/{limit_name}", encoding="ascii") as f:
                    limit = f.read().strip()
                with open(f"{group}/{usage_name}", encoding="ascii") as f:
                    usage = int(f.read().strip())
                if limit != "max" and int(limit) < 1 << 60:  # v1 writes "no limit" as about 2**63
                    rooms.append((max(0, int(limit) - usage), "the memory limit of this process's control group"))
            except (OSError, ValueError):
                continue
            break
    return rooms


def _status_bytes(proc: str, key: str) -> int:
    """A ``kB`` line of ``/proc/self/status`` in bytes (0 when absent)."""
    with open(f"{proc}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def cgroup_folders(controller: str, cgroup_root: str = "/sys/fs/cgroup", proc: str = "/proc/self") -> list[str]:
    """The folders of this process's control group for ``controller`` (``memory``, ``cpu``) and of the groups
    above it, whose limits bind it too (a batch job's limit is set on the job, its steps are groups below):
    v2 (``0::/path``) and v1 (``N:cpu,cpuacct:/path``), each where it is mounted (inside a container its own
    group is the mount's root)."""
    folders = []
    try:
        with open(f"{proc}/cgroup", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return folders
    for line in lines:
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and controllers == "":
            base = cgroup_root
        elif controller in controllers.split(","):
            base = f"{cgroup_root}/{controller}"
        else:
            continue
        parts = [part for part in path.split("/") if part]
        for depth in range(len(parts), -1, -1):  # the group itself, then each group above it
            folder = "/".join([base, *parts[:depth]])
            if os.path.isdir(folder) and folder not in folders:
                folders.append(folder)
    return folders


#: More worker processes than this on one machine is a typo.
MAX_WORKERS = 1024


def check_workers(workers, n_jobs: int) -> int:
    """``workers`` as an int ≥ 1 (None: :func:`default_workers`)."""
    if workers is None:
        return default_workers(n_jobs)
    if isinstance(workers, bool):
        raise GanphonError(f"workers must be a whole number ≥ 1, got {workers!r}")
    try:
        number = int(workers)
    except (TypeError, ValueError, OverflowError):
        raise GanphonError(f"workers must be a whole number ≥ 1, got {workers!r}") from None
    if number != workers or number < 1:
        raise GanphonError(f"workers must be a whole number ≥ 1, got {workers!r}")
    if number > MAX_WORKERS:
        raise GanphonError(f"workers must be at most {MAX_WORKERS}, got {workers!r}")
    return number


@contextlib.contextmanager
def main_module_hidden():
    """Start worker processes without re-running the caller's main script in each.

    A spawned or forkserver child imports the parent's ``__main__`` again; a
    script or notebook that imports torch would cost every worker seconds.
    The workers need nothing from ``__main__`` (job functions and their
    arguments live in ganphon's modules), so the main module's name and path
    are hidden from multiprocessing while the workers start.
    """
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__spec__", "__file__") if hasattr(main, name)}
    try:
        if main is not None:
            main.__spec__ = None
            if "__file__" in saved:
                del main.__file__
        yield
    finally:
        if main is not None:
            for name, value in saved.items():
                setattr(main, name, value)


def process_context(preload=()):
    """A forkserver context preloading ``preload`` modules, else spawn."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        if preload:
            context.set_forkserver_preload(list(preload))
        return context
    return multiprocessing.get_context("spawn")


def prestart(preload=(), workers: int | None = None) -> bool:
    """Start the forkserver now, importing ``preload`` while the caller goes on (reading its input,
    planning its jobs): the pool :func:`map_jobs` starts later forks its workers from it at once.

    A process has one forkserver: the first start fixes what it preloads, and a later
    :func:`map_jobs` uses it whatever it asks to preload.  Returns False (and starts nothing)
    where workers are spawned instead.
    """
    context = process_context(preload)
    if context.get_start_method() != "forkserver":
        return False
    from multiprocessing import forkserver

    descriptors_for(workers or usable_cores())  # the forkserver keeps the limit it starts with
    with main_module_hidden():
        forkserver.ensure_running()
    return True


# --------------------------------------------------------------------------
# Worker side


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent process dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the watcher thread still guards
        pass


def _watch(main_pid: int) -> None:
    """Exit this worker as soon as the process ``main_pid`` is gone."""
    try:
        fd = os.pidfd_open(main_pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        import select

        select.select([fd], [], [])  # readable when the process has exited
        os._exit(1)
    import time

    while True:
        _exit_unless_alive(main_pid)
        time.sleep(0.5)


def _exit_unless_alive(pid: int) -> None:
    """End this worker at once when process ``pid`` no longer exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        os._exit(1)
    except PermissionError:  # it exists, owned by someone else
        pass


def _worker_init(main_pid: int, parent_pid: int) -> None:
    """Set up a worker: ignore Ctrl-C, SIGTERM and SIGHUP sent to the whole process group (a terminal, a
    batch system's time limit: the main process decides, and stops the pool), die with the parents."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent_pid and os.getppid() != main_pid:
        # the forkserver or the main process died before prctl took effect
        _exit_unless_alive(main_pid)
    threading.Thread(target=_watch, args=(main_pid,), daemon=True, name="ganphon-parent-watch").start()


def job_batches(n_items: int, workers: int, max_chunk: int = 16, weights=None) -> list:
    """Item indices grouped into tasks: heavy items first, one per task, when ``weights`` are given;
    else consecutive chunks of at most ``max_chunk``, about four tasks per worker."""
    if weights is not None:
        if len(weights) != n_items:
            raise GanphonError(f"{len(weights)} weights for {n_items} jobs")
        return [[i] for i in sorted(range(n_items), key=lambda i: -float(weights[i]))]
    chunk = max(1, min(max_chunk, n_items // (workers * 4)))
    return [list(range(i, min(i + chunk, n_items))) for i in range(0, n_items, chunk)]


def run_batch(func, items, shared=None) -> list:
    """``func`` over one task's items (``func(item, shared)`` when ``shared`` is given)."""
    if shared is None:
        return [func(item) for item in items]
    return [func(item, shared) for item in items]


# --------------------------------------------------------------------------
# Main side


def _forkserver_pid(context) -> int | None:
    """Pid of the forkserver of ``context`` (None when spawning)."""
    if context.get_start_method() != "forkserver":
        return None
    from multiprocessing import forkserver

    return getattr(forkserver._forkserver, "_forkserver_pid", None)


def _stop_pool(pool) -> None:
    """Kill the workers and let the pool wind down; within a few seconds, whatever state it was in.

    The futures are not cancelled here: the pool's own manager thread marks
    every unfinished one broken once it sees the workers gone (cancelling them
    as well races with it in Python 3.11).  A second Ctrl-C while this runs is
    ignored: cut short, the stop would leave the manager thread running, and
    the interpreter's exit joins it.
    """
    # read before shutdown(), which drops the pool's references to all three
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    results = getattr(pool, "_result_queue", None)
    with _interrupts_ignored():
        for process in processes:
            with contextlib.suppress(Exception):
                process.kill()
        with contextlib.suppress(Exception):
            pool.shutdown(wait=False)
        for process in processes:
            with contextlib.suppress(Exception):
                process.join(KILL_WAIT)
        # A worker killed while sending a large result leaves the manager thread blocked reading the rest from
        # the result pipe, whose write end this process also holds: with the workers dead, closing it ends the
        # read (EOF), and the manager thread winds the pool down as broken.  Nothing else writes there.
        with contextlib.suppress(Exception):
            results._writer.close()
        if manager is not None:
            with contextlib.suppress(Exception):
                manager.join(KILL_WAIT)
            if manager.is_alive():  # a worker that SIGKILL did not end holds the pipe: exit without this thread
                _detach(manager)


@contextlib.contextmanager
def _interrupts_ignored():
    """SIGINT ignored in the block (main thread only; elsewhere Python delivers no KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _detach(thread) -> None:
    """Let the interpreter exit without joining ``thread`` (a pool manager thread that cannot end)."""
    from concurrent.futures import process as futures_process

    with contextlib.suppress(Exception):
        futures_process._threads_wakeups.pop(thread, None)  # joined by concurrent.futures' exit handler
    with contextlib.suppress(Exception):
        with threading._shutdown_locks_lock:  # joined by the interpreter before exit (Python ≤ 3.12)
            threading._shutdown_locks.discard(thread._tstate_lock)


def map_jobs(func, items, workers=None, progress=True, desc="jobs", unit="job", preload=(),
             max_chunk: int = 16, weights=None, shared=None, on_result=None, resources=None,
             sizes=None, scheduler=None, meanwhile=None) -> list:
    """``[func(item) for item in items]`` in ``workers`` processes, or as Dask tasks on ``scheduler``.

    Parameters
    ----------
    func : callable
        A module-level function (it is pickled by name).
    items : sequence
        Picklable arguments, one call each.
    workers : int, optional
        Processes (None: :func:`check_workers`'s default, one per CPU at most
        one per item).  1 runs in this process.  Ignored on a scheduler,
        whose workers are its own.
    progress : bool
        Show a tqdm bar counting items.
    desc, unit : str
        Bar labels.
    preload : sequence of str
        Modules the forkserver imports once for all workers.
    max_chunk : int
        Items per task at most (fewer when there are few items per worker).
    weights : sequence of float, optional
        Expected cost of each item: heavy items are submitted first, one
        per task, so the workers finish together.
    shared : object, optional
        One large argument every job needs (e.g. a generator network): each
        job is called as ``func(item, shared)``.  Sent once per task here,
        once per worker on Dask.
    on_result : callable, optional
        Called in this process as ``on_result(i, result)`` as soon as job
        ``i`` has finished (e.g. to record it for resuming), in completion order.
    resources : dict, optional
        Dask only: worker resources each task needs (``{"GPU": 1}``); ignored
        by the process pool.
    sizes : sequence of int, optional
        What each item counts for on the progress bar (e.g. the files of a
        batch); default 1 each.
    scheduler : object, optional
        Where the jobs run instead of the process pool: an object with this
        function's contract as its ``map_jobs`` method, e.g. the
        :class:`ganphon.parallel_dask.DaskScheduler` that
        :func:`ganphon.parallel_dask.use_scheduler` yields.  None (default):
        the process pool.  Passed explicitly; nothing global chooses it.
    meanwhile : callable, optional
        Other work of the caller, called once with no argument in this process
        while the workers work (once every job is handed to the pool), so it
        does not wait for the pool nor the pool for it; with one worker or on
        a scheduler, before the jobs.  What it raises stops the pool as a
        job's failure does; its return value is not kept.

    Returns
    -------
    list
        Results in the order of ``items``.

    Raises
    ------
    Interrupted
        On Ctrl-C (SIGINT), within about a second, with the results of the
        jobs that had finished; the workers are killed first.
    Exception
        The first exception a job raises, as soon as it arrives; the other
        jobs are cancelled and the workers killed.
    """
    if scheduler is not None:
        if meanwhile is not None:
            meanwhile()
        return scheduler.map_jobs(func, items, progress=progress, desc=desc, unit=unit, max_chunk=max_chunk,
                                  weights=weights, shared=shared, on_result=on_result, resources=resources)
    from tqdm.auto import tqdm

    items = list(items)
    workers = check_workers(workers, len(items))
    run = _Run(func, items, shared, on_result, [1] * len(items) if sizes is None else list(sizes))
    run.bar = tqdm(total=sum(run.sizes), desc=desc, unit=unit, disable=not progress)
    try:
        if workers == 1 or len(items) <= 1:
            if meanwhile is not None:
                meanwhile()
            _run_here(run)
        else:
            _run_in_pool(run, workers, job_batches(len(items), workers, max_chunk, weights),
                         process_context(preload), desc, meanwhile)
    finally:
        run.bar.close()
    return run.results


class _Run:
    """One :func:`map_jobs` call's jobs and what has come back: results, done flags, the bar."""

    def __init__(self, func, items, shared, on_result, sizes):
        self.func, self.items, self.shared, self.on_result, self.sizes = func, items, shared, on_result, sizes
        self.results: list = [None] * len(items)
        self.done = [False] * len(items)
        self.bar = None

    def record(self, batch, batch_results) -> None:
        """Keep the results of the items ``batch``, tell ``on_result``, advance the bar."""
        for i, result in zip(batch, batch_results):
            self.results[i] = result
            self.done[i] = True
            if self.on_result is not None:
                self.on_result(i, result)
        self.bar.update(sum(self.sizes[i] for i in batch))


def _run_here(run: _Run) -> None:
    """Every job in this process, in order; Ctrl-C becomes :class:`Interrupted` with what finished."""
    try:
        for i, item in enumerate(run.items):
            run.record([i], run_batch(run.func, [item], run.shared))
    except KeyboardInterrupt:
        raise Interrupted(run.results, run.done) from None


def descriptors_for(workers: int) -> None:
    """Make room for a pool of ``workers`` among this process's open-file descriptors, before it starts.

    A pool holds about two descriptors per worker besides its queues (measured: 18 open at the peak for 2
    workers, 30 for 8, from 6; four per worker are asked, with room to spare); under a low ``ulimit -n`` the
    pool had failed half-started, and the forkserver had printed a traceback after the error line.  The soft
    limit is raised within the hard one where it is too low (the process's own, unprivileged; called before
    the forkserver starts, which keeps the limit it starts with); above the hard limit, a one-line error
    before anything starts.
    """
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        open_now = len(os.listdir("/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"))
    except OSError:
        return
    need = open_now + 16 + 4 * workers
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    if hard == resource.RLIM_INFINITY or hard >= need:
        room = 2 * need if hard == resource.RLIM_INFINITY else min(hard, 2 * need)
        resource.setrlimit(resource.RLIMIT_NOFILE, (room, hard))
        return
    raise ParameterError("workers", f"{workers} worker processes need about {need:,} open files and this process "
                                    f"may open {hard:,} (ulimit -n); raise the limit, e.g. 'ulimit -n 4096', or "
                                    "start fewer")


def _start_pool(context, workers: int, run: _Run, batches: list):
    """A process pool of ``workers`` with every batch submitted; returns (pool, future → batch)."""
    from concurrent.futures import ProcessPoolExecutor

    descriptors_for(workers)  # before the forkserver starts: it keeps the limit it starts with
    futures: dict = {}
    with main_module_hidden():  # workers start during the first submits
        if context.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()
        parent = _forkserver_pid(context) or os.getpid()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init,
                                   initargs=(os.getpid(), parent))
        try:
            for batch in batches:
                futures[pool.submit(run_batch, run.func, [run.items[i] for i in batch], run.shared)] = batch
        except BaseException:
            _stop_pool(pool)
            raise
    return pool, futures


def _collect(run: _Run, pool, futures: dict, desc: str) -> None:
    """Record each batch as it finishes; a dead worker is a one-line error saying how far it got."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    pending = set(futures)
    while pending:
        finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
        # a worker killed while sending its result leaves the pool waiting for the rest: never broken
        if not finished and any(p.exitcode is not None for p in list((pool._processes or {}).values())):
            raise GanphonError(f"a {desc} worker process died (killed, or out of memory?); "
                               f"{sum(run.done)} of {len(run.items)} jobs had finished")
        for future in finished:
            try:
                batch_results = future.result()
            except BrokenProcessPool:
                raise GanphonError(f"a {desc} worker process died (killed, or out of memory?); "
                                   f"{sum(run.done)} of {len(run.items)} jobs had finished") from None
            run.record(futures[future], batch_results)


def _run_in_pool(run: _Run, workers: int, batches: list, context, desc: str, meanwhile=None) -> None:
    """The batches in a process pool (``meanwhile`` called here once they are handed over); any failure or
    Ctrl-C kills the workers at once."""
    pool = None
    try:
        pool, futures = _start_pool(context, workers, run, batches)
        if meanwhile is not None:
            meanwhile()
        _collect(run, pool, futures, desc)
    except BaseException as exc:
        if pool is not None:
            _stop_pool(pool)
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, Interrupted):
            raise Interrupted(run.results, run.done) from None
        raise
    pool.shutdown(wait=True)


# ---------------------------------------------------------------- a writer behind the computation


class Behind:
    """Hand batches to one writer thread, so batch k is written while batch k + 1 is computed.

    The computation (a generator's forward pass: torch's threads, the GIL
    released) stays in the calling thread; ``work(*args)`` runs in the writer
    thread, one batch at a time and in the order given, so the files, the
    ledger and the record of finished samples are written exactly as by a
    loop.  At most one batch waits while another is written.  Use as a
    context manager; call the object with a batch's arguments.

    - ``work`` raising (anything, Ctrl-C stand-ins included) stops the writer;
      the exception is raised in the calling thread at its next hand-over or
      at the end of the block.
    - The block raising (Ctrl-C in the forward pass, a fault) stops the writer
      after the sample it is writing (``work`` asks :attr:`stopping` between
      samples); the batch still waiting is not written.  The block's exception
      goes on once the writer has stopped, so nothing is written after it.
      A Ctrl-C (SIGTERM …) while the block's end waits for the writer stops it
      the same way.
    """

    def __init__(self, work, name: str = "ganphon-writer"):
        self._work = work
        self._queue = queue.Queue(maxsize=1)
        self._failure: BaseException | None = None
        self.stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> "Behind":
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self.stopping:
                return
            try:
                self._work(*item)
            except BaseException as exc:  # handed to the calling thread, which decides
                self._failure = exc
                return

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _put(self, item, raise_failure: bool = True) -> None:
        while self._thread.is_alive():
            if raise_failure:
                self._raise_failure()
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue
        if raise_failure:
            self._raise_failure()

    def __call__(self, *args) -> None:
        self._put(args)

    def _stop(self) -> None:
        self.stopping = True
        with contextlib.suppress(queue.Empty):
            self._queue.get_nowait()  # the batch still waiting is not written
        self._put(None, raise_failure=False)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            with _interrupts_ignored():  # the writer ends within a sample: never left writing behind the stop
                self._stop()
                self._thread.join()
            return
        try:
            self._put(None, raise_failure=False)
            self._thread.join()
        except BaseException:  # Ctrl-C while the last batches are written: they stop as a failure stops them
            with _interrupts_ignored():  # a sample's files are written in milliseconds
                self._stop()
                self._thread.join()
            raise
        self._raise_failure()
