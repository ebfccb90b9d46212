"""The one exception type ganphon raises for problems a user can fix.

The command line prints it as a single line (``ganphon: error: …``) and exits
with status 2; the Python API lets it propagate.  Messages name the file and
say what is wrong with it.
"""

import errno
import re


class GanphonError(Exception):
    """A user-fixable problem: bad file, bad argument, impossible request."""


def first_line(message, lines: int = 1) -> str:
    """The first non-blank line(s) of an error message, joined by `` / ``.

    Praat, pandas and torch put the useful part of a message first and a
    traceback-like tail after it; a ganphon error is one line.  An exception
    with an empty message gives its class name.
    """
    found = [line.strip() for line in str(message).splitlines() if line.strip()]
    if not found:
        return type(message).__name__ if isinstance(message, BaseException) else ""
    return " / ".join(found[:lines])


#: Characters that look like a minus sign and are not '-' (text copied from a paper, a PDF or a word processor)
TYPOGRAPHIC_MINUS = {"\u2212": "a minus sign", "\u2013": "an en dash", "\u2014": "an em dash",
                     "\u2012": "a figure dash", "\ufe63": "a small hyphen-minus", "\uff0d": "a full-width hyphen-minus"}


#: What a read says of bytes that changed after they were written (a checksum that does not match)
CHECKSUM_MISMATCH = "its bytes do not match their checksum"


#: The longest file name, in bytes, that common file systems take (ext4, XFS, Btrfs, APFS)
NAME_MAX = 255


def size_text(n_bytes) -> str:
    """A size for a message, in the unit that shows it: ``512 bytes``, ``3.4 MiB``, ``12.0 GiB``."""
    n = float(n_bytes)
    if n == float("inf"):
        return "unlimited"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if round(n / scale, 1) >= 1:  # 1,023.96 MiB reads 1.0 GiB
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} bytes"


def checksum_failed(exc: BaseException) -> bool:
    """Whether a reader's exception is a checksum that did not match (zarr's crc32c, pyarrow's page CRC)."""
    return "checksum" in str(exc).lower()


def number_hint(text) -> str:
    """Why ``text`` does not read as a number when it looks like one: a typographic minus (``−15`` copied
    from a paper), as a clause to end an error with; '' otherwise."""
    for character, name in TYPOGRAPHIC_MINUS.items():
        if character in str(text):
            return f" ({character!r} is {name}, U+{ord(character):04X}, not '-': type -)"
    return ""


def os_problem(exc: OSError) -> str:
    """What an OS error says (its path aside), in words where the system's are cryptic: ``mkdir`` over a file
    says "File exists", a path through a file "Not a directory"."""
    import os

    name = exc.filename
    if exc.errno == errno.EEXIST and name and os.path.lexists(name) and not os.path.isdir(name):
        return "a file where a folder is needed; remove it or move it away"  # mkdir over a file: "File exists"
    if exc.errno == errno.ENOTDIR and name:
        parent = os.path.dirname(os.path.normpath(str(name)))
        while parent and not os.path.lexists(parent):
            parent = os.path.dirname(parent)
        if parent and not os.path.isdir(parent):
            return f"{parent} is a file, not a folder"
    if exc.errno == errno.ENAMETOOLONG and name:
        longest = max((os.fsencode(part) for part in str(name).split(os.sep)), key=len)
        if len(longest) > NAME_MAX:  # a name the command derived from the one given (a partial table, a record)
            return (f"file name too long ({len(longest)} bytes: {os.fsdecode(longest[:24])}…; file systems "
                    f"take {NAME_MAX}); choose a shorter name")
    if exc.errno == errno.EMFILE:  # the per-process limit: the workers' pipes count too
        limit = soft_limit("RLIMIT_NOFILE")
        limit = f"this process may open {limit:,}; " if limit is not None else ""
        return f"too many open files ({limit}raise the limit, e.g. 'ulimit -n 4096')"
    if exc.errno == errno.ENFILE:
        return "too many open files on this system (the system's limit, not the command's); close some programs"
    if exc.errno == errno.ENOSPC and name:
        files = no_room_for_files(name)
        if files is not None:
            return files
    if exc.errno == errno.EFBIG:
        limit = soft_limit("RLIMIT_FSIZE")
        if limit is not None:
            return (f"file too large: this process may write files of at most {limit:,} bytes (ulimit -f); raise "
                    "the limit, e.g. 'ulimit -f unlimited'")
        return "file too large for this file system (a FAT32 drive holds at most 4 GiB a file); write it elsewhere"
    return exc.strerror or first_line(exc)


def no_room_for_files(name) -> str | None:
    """What ENOSPC on writing ``name`` means where the file system has bytes to spare but no room for another
    file (every inode used: a small tmpfs, a file system made for few large files): "No space left on
    device" had sent people to ``df``, which showed space free.  None where the bytes ran out (or nothing
    can be told).  Asked as the write fails: undoing the command frees what it had taken."""
    import os

    folder = os.path.dirname(os.path.abspath(str(name)))
    while folder and not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    try:
        fs = os.statvfs(folder)
    except (OSError, ValueError):
        return None
    free = fs.f_bavail * fs.f_frsize
    if fs.f_files <= 0 or fs.f_favail > 0 or free < (1 << 20):
        return None
    return (f"no room for another file: the file system holds at most {fs.f_files:,} files and has none left "
            f"('df -i'), though {size_text(free)} are free; remove files there or write elsewhere")


def soft_limit(name: str) -> int | None:
    """This process's soft limit ``name`` of :mod:`resource` (``"RLIMIT_FSIZE"``: ``ulimit -f`` in bytes,
    ``"RLIMIT_AS"``: ``ulimit -v`` in bytes …), or None when it has none (or the system has no such limit)."""
    try:
        import resource

        soft = resource.getrlimit(getattr(resource, name))[0]
    except (ImportError, AttributeError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else int(soft)


#: What the allocators say of the size they were asked for: torch's CPU allocator ("you tried to allocate 3492000000
#: bytes"), CUDA's ("Tried to allocate 20.00 MiB"), numpy's ("Unable to allocate 3.25 GiB for an array …")
_ASKED = re.compile(r"(?:[Tt]ried to allocate|Unable to allocate) (\d+(?:\.\d*)?) ?(bytes|[KMGT]i?B)")


def memory_problem(exc: BaseException) -> str | None:
    """One line for an allocation that failed (Python's or numpy's MemoryError, torch's "can't allocate
    memory", CUDA's "out of memory"): the size asked for and this process's address-space limit when it
    has one; None for any other error."""
    text = str(exc)
    if not isinstance(exc, MemoryError) and not (
            isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)):
        return None
    asked = _ASKED.search(text)
    size = ""
    if asked:
        number, unit = asked.groups()
        size = size_text(int(float(number))) if unit == "bytes" else f"{float(number):g} {unit}"
    words = "out of memory" + (f" (a step asked for {size} more)" if size else "")
    limit = soft_limit("RLIMIT_AS")
    if limit is not None:
        words += f"; this process may use {size_text(limit)} in all (ulimit -v)"
    return words + "; ask for less at once: smaller batches, fewer samples or workers"


#: OS errors about the process's resources, not about a file: the command line names no file for them
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM})


class ParameterError(GanphonError):
    """A bad value of one API parameter: the message names the parameter, never a command-line flag.

    ``str(error)`` is ``"<parameter>: <problem>"``; the command line prints the
    option that fills the parameter in its place (``--layers: …``), so the API
    and the CLI share one message.

    Attributes
    ----------
    parameter : str
        The API parameter's name (``layers``, ``outcome_layers``, ``workers`` …).
    problem : str
        What is wrong with its value.
    """

    def __init__(self, parameter: str, problem: str):
        self.parameter = parameter
        self.problem = problem
        super().__init__(f"{parameter}: {problem}")


def name_list(value, parameter: str) -> list | None:
    """An API list parameter (names, values) as a list; None stays None.

    The API takes lists: a string is refused (``"a,b"`` is split by the
    command line, :func:`ganphon.cli.options.names`), so a single name is not
    silently read as its letters or as a comma list.
    """
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        raise ParameterError(parameter, f"expected a list, got the string {value!r} "
                                        f"(pass [{value!r}] or split it)")
    try:
        return list(value)
    except TypeError:
        raise ParameterError(parameter, f"expected a list, got {value!r}") from None
