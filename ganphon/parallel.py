"""Run independent jobs in worker processes, results in job order.

Praat analyses (parselmouth holds the GIL) and statsmodels optimisations are
CPU-bound Python calls, so ganphon spreads them over processes rather than
threads.  Workers start with ``forkserver`` (or ``spawn``) so they do not
inherit a forked copy of torch's thread pools, and the caller's ``__main__``
is not re-imported in each worker.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys

from .errors import GanphonError


def default_workers(n_jobs: int) -> int:
    """CPU count, at most ``n_jobs``, at least 1."""
    return max(1, min(os.cpu_count() or 1, n_jobs))


def check_workers(workers, n_jobs: int) -> int:
    """``workers`` as an int ≥ 1 (None: :func:`default_workers`)."""
    if workers is None:
        return default_workers(n_jobs)
    try:
        workers = int(workers)
    except (TypeError, ValueError):
        raise GanphonError(f"workers must be a whole number ≥ 1, got {workers!r}") from None
    if workers < 1:
        raise GanphonError(f"workers must be ≥ 1, got {workers}")
    return workers


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


def _run_batch(func, items) -> list:
    return [func(item) for item in items]


def map_jobs(func, items, workers=None, progress=True, desc="jobs", unit="job", preload=(),
             max_chunk: int = 16, weights=None) -> list:
    """``[func(item) for item in items]`` in ``workers`` processes.

    Parameters
    ----------
    func : callable
        A module-level function (it is pickled by name).
    items : sequence
        Picklable arguments, one call each.
    workers : int, optional
        Processes (default: CPU count, at most one per item).  1 runs in this
        process.
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

    Returns
    -------
    list
        Results in the order of ``items``.  The first exception raised by a
        job is raised here.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    items = list(items)
    workers = check_workers(workers, len(items))
    results: list = [None] * len(items)
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress)
    try:
        if workers == 1 or len(items) <= 1:
            for i, item in enumerate(items):
                results[i] = func(item)
                bar.update(1)
            return results
        if weights is not None:
            order = sorted(range(len(items)), key=lambda i: -float(weights[i]))
            batches = [[i] for i in order]
        else:
            chunk = max(1, min(max_chunk, len(items) // (workers * 4)))
            batches = [list(range(i, min(i + chunk, len(items)))) for i in range(0, len(items), chunk)]
        with ProcessPoolExecutor(max_workers=workers, mp_context=process_context(preload)) as pool:
            with main_module_hidden():  # workers start during the first submits
                futures = {pool.submit(_run_batch, func, [items[i] for i in batch]): batch for batch in batches}
            for future in as_completed(futures):
                for i, result in zip(futures[future], future.result()):
                    results[i] = result
                bar.update(len(futures[future]))
    finally:
        bar.close()
    return results
