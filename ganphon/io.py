"""Every file format ganphon reads or writes, each read and written in one place.

Run records
    ``run.json`` (:func:`read_run_record`, :func:`write_run_record`) and the
    rule that a folder holds exactly one request (:func:`prepare_folder`);
    ``finished.txt``, the per-sample completion record (:func:`read_finished`,
    :class:`FinishedLog`).

File names come from :mod:`ganphon.layout`; every write is atomic.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from . import layout
from .errors import GanphonError

# ---------------------------------------------------------------- run records


def normalise(obj):
    """``obj`` as it reads back from JSON (tuples → lists, paths → strings)."""
    return json.loads(json.dumps(obj, default=str))


def request_digest(request: dict) -> str:
    """A short fingerprint of a request (sha256 of its canonical JSON)."""
    text = json.dumps(normalise(request), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_run_record(folder) -> dict | None:
    """The ``run.json`` of ``folder``, or ``None`` when it has none.

    Raises
    ------
    GanphonError
        If the file exists but is not a JSON object.
    """
    path = Path(folder) / layout.RUN_JSON
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise GanphonError(f"{path}: unreadable run record ({exc}); pass --overwrite to start again") from None
    if not isinstance(record, dict):
        raise GanphonError(f"{path}: not a ganphon run record; pass --overwrite to start again")
    return record


def write_run_record(folder, record: dict) -> Path:
    """Write ``record`` as ``folder/run.json`` atomically; returns the path."""
    path = Path(folder) / layout.RUN_JSON
    layout.atomic_write_text(path, json.dumps(normalise(record), indent=1, ensure_ascii=False) + "\n")
    return path


def _differing_keys(previous: dict, request: dict) -> list[str]:
    keys = sorted(set(previous) | set(request))
    return [k for k in keys if previous.get(k) != request.get(k)]


def prepare_folder(out, request: dict, *, overwrite: bool = False, record: dict | None = None) -> bool:
    """Make ``out`` the folder of exactly one request, and record it before any result.

    * a missing or empty folder is created;
    * a folder whose ``run.json`` holds an equal request is resumed;
    * any other non-empty folder is refused unless ``overwrite``;
    * with ``overwrite``, every entry named like a file this request's kind
      (or the previous request's kind) writes is removed (:func:`ganphon.layout.owns`),
      whatever an earlier, possibly interrupted, run managed to write; other
      entries are left alone.  A folder without a ganphon ``run.json`` that
      holds anything else is refused even then: it is not a ganphon run.

    Then ``run.json`` is written with ``request`` and the extra ``record`` fields
    (command, planned files, versions …), before the first result file.

    Parameters
    ----------
    out : path-like
    request : dict
        What defines the run; ``request["kind"]`` (``probe``, ``sweep``, ``demo`` …)
        chooses the names the folder owns.
    overwrite : bool
    record : dict, optional
        More fields for ``run.json``.

    Returns
    -------
    bool
        True when an earlier run of the same request is being resumed.

    Raises
    ------
    GanphonError
        If ``out`` is a file, or the folder holds another run or foreign files
        and ``overwrite`` is off (nothing is changed then).
    """
    out = Path(out)
    request = normalise(request)
    kind = layout.folder_kind(request.get("kind"))
    resuming = False
    if out.exists() and not out.is_dir():
        raise GanphonError(f"{out}: exists and is not a folder")
    entries = sorted(p for p in out.iterdir() if not p.name.startswith(".")) if out.is_dir() else []
    if entries:
        previous = None
        try:
            previous = read_run_record(out)
        except GanphonError:
            if not overwrite:
                raise
        prev_request = (previous or {}).get("request")
        if not overwrite:
            if previous is None:
                raise GanphonError(f"{out}: folder is not empty and holds no ganphon run.json; "
                                   "choose another --out")
            if prev_request != request:
                diff = _differing_keys(prev_request or {}, request)
                raise GanphonError(f"{out}: was written by a different command (differs in "
                                   f"{', '.join(diff[:4])}); choose another --out or pass --overwrite")
            resuming = True
        else:
            kinds = {kind}
            if isinstance(prev_request, dict):
                kinds.add(layout.folder_kind(prev_request.get("kind")))
            owned = [p for p in out.iterdir() if any(layout.owns(k, p.name) for k in kinds)]
            if previous is None:
                foreign = [p.name for p in entries if p not in owned]
                if foreign:
                    raise GanphonError(f"{out}: holds files ganphon did not write ({', '.join(foreign[:3])}"
                                       f"{' …' if len(foreign) > 3 else ''}); --overwrite only replaces a "
                                       "ganphon run; choose another --out")
            for p in owned:
                layout.remove_entry(p)
    out.mkdir(parents=True, exist_ok=True)
    write_run_record(out, {"request": request, **(record or {})})
    return resuming


# ---------------------------------------------------------------- completion record

def read_finished(folder, request: dict) -> set[str]:
    """Sample ids recorded as finished in ``folder/finished.txt`` for this ``request``.

    Only whole lines count (a line cut by a kill is ignored), and only when the
    file's header names the same request.
    """
    path = Path(folder) / layout.FINISHED
    if not path.is_file():
        return set()
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")[:-1]
    if not lines or lines[0] != _finished_header(request):
        return set()
    return set(lines[1:])


def _finished_header(request: dict) -> str:
    return f"# ganphon finished samples of request {request_digest(request)}"


class FinishedLog:
    """Append sample ids to ``folder/finished.txt`` as samples finish.

    Use as a context manager; :meth:`add` is called after every file of a
    sample is in place.  A log of another request is started afresh.
    """

    def __init__(self, folder, request: dict):
        self.path = Path(folder) / layout.FINISHED
        self.header = _finished_header(request)
        self._fh = None

    def __enter__(self) -> FinishedLog:
        fresh = True
        if self.path.is_file():
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                fresh = fh.readline().rstrip("\n") != self.header
        if fresh:
            layout.atomic_write_text(self.path, self.header + "\n")
        elif not self.path.read_bytes().endswith(b"\n"):  # a line cut by a kill stays its own line
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write("\n")
        self._fh = open(self.path, "a", encoding="utf-8")
        return self

    def add(self, sample_id: str) -> None:
        """Record ``sample_id`` as finished."""
        self._fh.write(sample_id + "\n")
        self._fh.flush()

    def __exit__(self, *exc) -> None:
        self._fh.close()
