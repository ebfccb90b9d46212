"""The one exception type ganphon raises for problems a user can fix.

The command line prints it as a single line (``ganphon: error: …``) and exits
with status 2; the Python API lets it propagate.  Messages name the file and
say what is wrong with it.
"""


class GanphonError(Exception):
    """A user-fixable problem: bad file, bad argument, impossible request."""
