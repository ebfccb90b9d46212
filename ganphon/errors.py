"""The one exception type ganphon raises for problems a user can fix.

The command line prints it as a single line (``ganphon: error: …``) and exits
with status 2; the Python API lets it propagate.  Messages name the file and
say what is wrong with it.
"""


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
