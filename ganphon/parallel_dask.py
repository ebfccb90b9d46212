"""Dask as the worker pool: :func:`ganphon.parallel.map_jobs`'s contract, jobs as Dask tasks.

Inside :func:`use_scheduler`, every ``map_jobs`` call of ganphon (annotating,
measuring, the per-model statistics fits, generating and analysing a store's
chunks) runs on Dask instead of the local process pool:

* ``use_scheduler("local", workers=N)`` starts a ``LocalCluster`` of ``N``
  single-threaded worker processes on this machine (default: one per CPU);
* ``use_scheduler("tcp://host:8786")`` uses a running cluster (``dask
  scheduler`` + ``dask worker`` on several machines, or any Dask deployment).
  Every worker needs the same ganphon version (checked) and must see the
  folders being worked on (a shared filesystem).

Results are those of the process pool, in item order (tested): each job is
the same function call on the same arguments.  A progress bar counts jobs and
the Dask dashboard shows the tasks when ``bokeh`` is installed.

Dask (``dask`` + ``distributed``) is the optional extra ``ganphon[scale]``,
imported only here and only when a scheduler is asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os

from .errors import GanphonError

_ACTIVE: list = []   # the open Dask client(s), innermost last
_LOCAL: list = []    # those of them whose cluster use_scheduler("local") started on this machine


def _require():
    try:
        import distributed
    except ImportError:
        raise GanphonError("--scheduler needs dask and distributed, part of the optional extra: "
                           "pip install 'ganphon[scale]'") from None
    return distributed


def active_client():
    """The Dask client of the innermost :func:`use_scheduler`, or None (the process pool is used)."""
    return _ACTIVE[-1] if _ACTIVE else None


def is_local(client=None) -> bool:
    """Whether ``client`` (default: the active one) is a LocalCluster that :func:`use_scheduler` started."""
    client = client or active_client()
    return any(c is client for c in _LOCAL)


def _worker_version() -> str:
    from . import __version__

    return __version__


def _check_address(address: str) -> str:
    address = str(address).strip()
    if "://" not in address:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise GanphonError(f"--scheduler: {address!r} is not 'local' or a scheduler address like "
                               "tcp://10.0.0.5:8786")
        address = f"tcp://{address}"
    return address


@contextlib.contextmanager
def use_scheduler(scheduler, workers=None, timeout: float = 30.0):
    """Run ganphon's parallel jobs on Dask while the block runs.

    Parameters
    ----------
    scheduler : str or None
        ``local`` (a LocalCluster on this machine), a scheduler address
        (``tcp://host:port`` or ``host:port``), or None: nothing changes, the
        local process pool is used.
    workers : int, optional
        With ``local``: worker processes (default: one per CPU).  Ignored for
        an existing cluster, whose size is its own.
    timeout : float
        Seconds to wait for a scheduler and its first worker.

    Yields
    ------
    distributed.Client or None

    Raises
    ------
    GanphonError
        If the extra is missing, the scheduler cannot be reached or has no
        worker within ``timeout``, or a worker runs another ganphon version.
    """
    if scheduler is None or scheduler == "":
        yield None
        return
    from .parallel import check_workers

    distributed = _require()
    cluster = None
    if scheduler == "local":
        n = check_workers(workers, os.cpu_count() or 1)
        # ":0": any free port for the scheduler's HTTP server (the dashboard when bokeh is installed)
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
    else:
        address = _check_address(scheduler)
        try:
            client = distributed.Client(address, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise GanphonError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})") from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise GanphonError(f"--scheduler {scheduler}: no Dask worker joined within {timeout:g} s") from None
        from . import __version__

        versions = client.run(_worker_version)
        other = {w: v for w, v in versions.items() if v != __version__}
        if other:
            worker, version = next(iter(other.items()))
            raise GanphonError(f"--scheduler {scheduler}: worker {worker} runs ganphon {version}, "
                               f"this is {__version__}; install the same version on every worker")
        _ACTIVE.append(client)
        if cluster is not None:
            _LOCAL.append(client)
        try:
            yield client
        finally:
            _ACTIVE.remove(client)
            if cluster is not None:
                _LOCAL.remove(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def dashboard_link() -> str | None:
    """The active cluster's dashboard address, when it has one."""
    client = active_client()
    if client is None:
        return None
    try:
        return client.dashboard_link if client.scheduler_info().get("services", {}).get("dashboard") else None
    except Exception:  # noqa: BLE001 - informational only
        return None


#: The worker resource that marks a worker with a GPU (``dask worker ADDRESS --resources GPU=1``).
GPU_RESOURCE = "GPU"


def workers_with(resource: str, client=None) -> list:
    """Addresses of the cluster's workers that declare ``resource`` (``dask worker --resources NAME=1``)."""
    client = client or active_client()
    if client is None:
        return []
    workers = client.scheduler_info().get("workers", {})
    return sorted(a for a, w in workers.items() if (w.get("resources") or {}).get(resource, 0) > 0)


def worker_name() -> str:
    """The address of the Dask worker running the calling task ("" outside a worker)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return ""


def map_jobs(func, items, workers=None, progress=True, desc="jobs", unit="job", preload=(),
             max_chunk: int = 16, weights=None, client=None, shared=None, on_result=None,
             resources=None) -> list:
    """``[func(item) for item in items]`` as Dask tasks; the contract of :func:`ganphon.parallel.map_jobs`.

    Parameters
    ----------
    func, items, progress, desc, unit, max_chunk, weights, on_result
        As for :func:`ganphon.parallel.map_jobs`.
    shared : object, optional
        Sent to every worker once (``client.scatter(..., broadcast=True)``);
        each job is called as ``func(item, shared)``.
    resources : dict, optional
        Worker resources every task needs (e.g. ``{"GPU": 1}``): the tasks run
        only on workers that declare them; an error if none does.
    workers, preload
        Ignored: the cluster's workers run the jobs (and import what they need).
    client : distributed.Client, optional
        Default: the one of the innermost :func:`use_scheduler`.

    Returns
    -------
    list
        Results in the order of ``items``; the first exception a job raises is
        raised here and the other tasks are cancelled.
    """
    from tqdm.auto import tqdm

    client = client or active_client()
    if client is None:
        raise GanphonError("no Dask scheduler in use (see ganphon.parallel_dask.use_scheduler)")
    distributed = _require()
    items = list(items)
    results: list = [None] * len(items)
    if not items:
        return results
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    from .parallel import job_batches, run_batch

    batches = job_batches(len(items), n_workers, max_chunk, weights)
    if resources:
        for name in resources:
            if not workers_with(name, client):
                raise GanphonError(f"{desc}: no Dask worker declares the resource {name!r}; start one with "
                                   f"'dask worker SCHEDULER --resources {name}=1'")
    link = dashboard_link()
    bar = tqdm(total=len(items), desc=f"{desc} (dask{', ' + link if link else ''})", unit=unit,
               disable=not progress)
    futures = {}
    done = [False] * len(items)
    try:
        extra = () if shared is None else (client.scatter(shared, broadcast=True),)
        for k, batch in enumerate(batches):
            # earlier batches first (priority), each task once (pure=False: no caching by arguments)
            future = client.submit(run_batch, func, [items[i] for i in batch], *extra, pure=False, priority=-k,
                                   resources=resources or None)
            futures[future] = batch
        for future in distributed.as_completed(list(futures)):
            batch = futures[future]
            for i, result in zip(batch, future.result()):
                results[i] = result
                done[i] = True
                if on_result is not None:
                    on_result(i, result)
            bar.update(len(batch))
    except BaseException as exc:
        client.cancel(list(futures))
        if isinstance(exc, KeyboardInterrupt):
            from . import parallel

            interrupted = getattr(parallel, "Interrupted", None)  # the pool's Ctrl-C contract
            if interrupted is not None and not isinstance(exc, interrupted):
                raise interrupted(results, done) from None
        raise
    finally:
        bar.close()
    return results
