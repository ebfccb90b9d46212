"""Dask as the worker pool: :func:`ganphon.parallel.map_jobs`'s contract, jobs as Dask tasks.

:func:`use_scheduler` opens a :class:`DaskScheduler`; passed as ``scheduler=``
to an API function (annotating, measuring, the per-model statistics fits,
generating and analysing a store's chunks, the sweeps that do these), its
``map_jobs`` calls run on Dask instead of the local process pool.  Nothing
global changes: without the argument the process pool is used.

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

from ._version import __version__
from .errors import GanphonError, ParameterError, first_line
from .parallel import Interrupted, check_workers, job_batches, run_batch, usable_cores


def _require():
    try:
        import distributed
    except ImportError:
        raise ParameterError("scheduler", "needs dask and distributed, part of the optional extra: "
                                          "pip install 'ganphon[scale]'") from None
    return distributed


def _worker_version() -> str:
    return __version__


#: The schemes of a scheduler on another machine that ganphon connects to
SCHEMES = ("tcp", "tls")


def _check_address(address: str) -> str:
    """``HOST:PORT`` or ``tcp://HOST:PORT`` (``tls://``), checked before connecting; the full address."""
    text = str(address).strip()
    scheme, _, rest = text.rpartition("://") if "://" in text else ("tcp", "", text)
    host, _, port = rest.rpartition(":")
    if scheme not in SCHEMES or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ParameterError("scheduler", f"{text!r} is not 'local' or a scheduler address like "
                                          f"tcp://10.0.0.5:8786 ({' or '.join(SCHEMES)}, a host, a port 1–65535)")
    return f"{scheme}://{rest}"


@contextlib.contextmanager
def use_scheduler(scheduler, workers=None, timeout: float = 30.0):
    """Open a Dask scheduler for the block; pass what it yields as ``scheduler=`` to run jobs on it.

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
    DaskScheduler or None
        Pass it as ``scheduler=`` to the API functions (and
        :func:`ganphon.parallel.map_jobs`); None when ``scheduler`` is None.

    Raises
    ------
    GanphonError
        If the extra is missing, the scheduler cannot be reached or has no
        worker within ``timeout``, or a worker runs another ganphon version.
    """
    if scheduler is None or scheduler == "":
        yield None
        return
    distributed = _require()
    cluster = None
    environ = _nanny_environ()
    if scheduler == "local":
        n = check_workers(workers, usable_cores())
        # ":0": any free port for the scheduler's HTTP server (the dashboard when bokeh is installed)
        try:
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                               dashboard_address=":0", silence_logs=logging.ERROR)
        finally:
            _restore(environ)
        client = distributed.Client(cluster)
    else:
        address = _check_address(scheduler)
        try:
            client = distributed.Client(address, timeout=timeout)
        except ValueError as exc:  # distributed's own parse of the address (e.g. an unclosed IPv6 bracket)
            raise ParameterError("scheduler", f"{scheduler!r} is not a scheduler address ({first_line(exc)})") \
                from None
        except (OSError, TimeoutError) as exc:
            raise ParameterError("scheduler", f"{scheduler}: cannot reach the Dask scheduler ({exc})") from None
    try:
        try:  # a cluster started here: all its workers (tasks handed out before the second joined ran on one)
            client.wait_for_workers(n if cluster is not None else 1, timeout=timeout)
        except TimeoutError:
            raise ParameterError("scheduler", f"{scheduler}: no Dask worker joined within {timeout:g} s") from None
        versions = client.run(_worker_version)
        other = {w: v for w, v in versions.items() if v != __version__}
        if other:
            worker, version = next(iter(other.items()))
            raise ParameterError("scheduler", f"{scheduler}: worker {worker} runs ganphon {version}, "
                                              f"this is {__version__}; install the same version on every worker")
        yield DaskScheduler(client, local=cluster is not None)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
            _restore(environ)  # a worker the nanny started again set them once more


def _nanny_environ() -> dict:
    """This process's values (None: unset) of the variables distributed's nanny sets in its own process's
    environment before it starts a worker (``OMP_NUM_THREADS=1`` …) and leaves there."""
    import dask

    names = set(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    names |= set(dask.config.get("distributed.nanny.environ", {}) or {})
    return {name: os.environ.get(name) for name in names}


def _restore(environ: dict) -> None:
    """Put back the variables of :func:`_nanny_environ`: left set, every process this one starts afterwards
    (a measuring pool, a ``python -m ganphon``) and any threading library it loads later ran one thread."""
    for name, value in environ.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


#: The worker resource that marks a worker with a GPU (``dask worker ADDRESS --resources GPU=1``).
GPU_RESOURCE = "GPU"


def worker_name() -> str:
    """The address of the Dask worker running the calling task ("" outside a worker)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return ""


class DaskScheduler:
    """A Dask client as the worker pool of :func:`ganphon.parallel.map_jobs` (``scheduler=``).

    Attributes
    ----------
    client : distributed.Client
    local : bool
        Whether the cluster is a LocalCluster that :func:`use_scheduler`
        started on this machine (its GPU, if any, is this process's).
    """

    def __init__(self, client, local: bool = False):
        self.client = client
        self.local = local

    def dashboard_link(self) -> str | None:
        """The cluster's dashboard address, when it has one."""
        try:
            services = self.client.scheduler_info().get("services", {})
            return self.client.dashboard_link if services.get("dashboard") else None
        except Exception:  # noqa: BLE001 - informational only
            return None

    def workers_with(self, resource: str) -> list:
        """Addresses of the cluster's workers that declare ``resource`` (``dask worker --resources NAME=1``)."""
        workers = self.client.scheduler_info().get("workers", {})
        return sorted(a for a, w in workers.items() if (w.get("resources") or {}).get(resource, 0) > 0)

    def map_jobs(self, func, items, progress=True, desc="jobs", unit="job", max_chunk: int = 16, weights=None,
                 shared=None, on_result=None, resources=None) -> list:
        """``[func(item) for item in items]`` as Dask tasks; the contract of :func:`ganphon.parallel.map_jobs`.

        Parameters
        ----------
        func, items, progress, desc, unit, max_chunk, weights, on_result
            As for :func:`ganphon.parallel.map_jobs` (the cluster's workers
            run the jobs; there is no ``workers`` or ``preload``).
        shared : object, optional
            Sent to every worker once (``client.scatter(..., broadcast=True)``);
            each job is called as ``func(item, shared)``.
        resources : dict, optional
            Worker resources every task needs (e.g. ``{"GPU": 1}``): the tasks run
            only on workers that declare them; an error if none does.

        Returns
        -------
        list
            Results in the order of ``items``; the first exception a job raises is
            raised here and the other tasks are cancelled.
        """
        from tqdm.auto import tqdm

        distributed = _require()
        items = list(items)
        results: list = [None] * len(items)
        if not items:
            return results
        n_workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        batches = job_batches(len(items), n_workers, max_chunk, weights)
        for name in resources or ():
            if not self.workers_with(name):
                raise GanphonError(f"{desc}: no Dask worker declares the resource {name!r}; start one with "
                                   f"'dask worker SCHEDULER --resources {name}=1'")
        link = self.dashboard_link()
        bar = tqdm(total=len(items), desc=f"{desc} (dask{', ' + link if link else ''})", unit=unit,
                   disable=not progress)
        futures = {}
        done = [False] * len(items)
        try:
            extra = () if shared is None else (self.client.scatter(shared, broadcast=True),)
            for k, batch in enumerate(batches):
                # earlier batches first (priority), each task once (pure=False: no caching by arguments)
                future = self.client.submit(run_batch, func, [items[i] for i in batch], *extra, pure=False,
                                            priority=-k, resources=resources or None)
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
            self.client.cancel(list(futures))
            if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, Interrupted):
                raise Interrupted(results, done) from None  # the pool's Ctrl-C contract
            raise
        finally:
            bar.close()
        return results
