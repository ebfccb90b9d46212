"""Options every command spells the same way, and the help formatter.

One ``--quiet``, one ``--workers`` (one default, one validation), one
``--checkpoint``, one ``--out``/``--overwrite``, one ``--seed``, one
``--device``; comma-separated lists read by :func:`names`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import textwrap

from ..errors import number_hint


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line on stderr and exit status 2."""

    def parse_known_args(self, args=None, namespace=None):
        self._argv = list(sys.argv[1:] if args is None else args)  # for error()'s hint
        return super().parse_known_args(args, namespace)

    def parse_args(self, args=None, namespace=None):
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:  # named by the (sub)command they were given to, as its other errors are
            self._innermost(parsed).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _innermost(self, parsed) -> argparse.ArgumentParser:
        """The parser of the (sub)command ``parsed`` was read by (``ganphon corpus cut``: cut's)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
                if isinstance(chosen, ArgumentParser):
                    return chosen._innermost(parsed)
        return self

    def error(self, message):  # noqa: D401 - argparse's API
        message += _dash_value_hint(message, getattr(self, "_argv", ()))
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(2)


def _dash_value_hint(message: str, argv) -> str:
    """argparse takes a value such as ``-15,15`` after an option for an option of its own ("expected one
    argument"): say how to write it."""
    import re

    found = re.match(r"argument (-[\w/-]+): expected one argument", message)
    if not found:
        return ""
    options = found.group(1).split("/")  # '-n/--n': the spelling used is the one to show
    for i, token in enumerate(argv[:-1]):
        value, option = argv[i + 1], token
        named = token in options or (token.startswith("--") and any(o.startswith(token) for o in options))  # --val
        if named and re.fullmatch(r"-[\d.][\w.,+-]*|-(inf|nan)\w*", value, re.IGNORECASE):
            return f"; a value that starts with '-' is written {option}={value}"
    return ""


class Formatter(argparse.HelpFormatter):
    """Help text with each option's default shown once.

    Defaults that say nothing (None, a flag's False, an empty list or text, a
    required option's) are not printed.  Paragraphs of descriptions and
    epilogs are wrapped; lines that start with spaces (examples) are kept as
    written.
    """

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or action.required or default is None or default is False
                or (isinstance(default, (list, tuple, str)) and not default)
                or default is argparse.SUPPRESS or action.option_strings == []
                or isinstance(action, argparse._HelpAction)):
            return text
        return f"{text} (default: %(default)s)"

    def _fill_text(self, text, width, indent):
        out = []
        for paragraph in text.split("\n\n"):
            if any(line.startswith(" ") for line in paragraph.splitlines()):
                out.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                out.append(textwrap.fill(" ".join(paragraph.split()), width,
                                         initial_indent=indent, subsequent_indent=indent))
        return "\n\n".join(out)


def describe(p, description: str, epilog: str | None = None) -> None:
    """Set a command's long description (and examples)."""
    p.description = description
    if epilog:
        p.epilog = epilog


def whole_number(low: int, high: int | None = None, what: str = "a whole number"):
    """An argparse type: a whole number with ``low ≤ value`` (and ``value ≤ high``)."""
    bounds = f"≥ {low}" if high is None else f"between {low} and {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} {bounds}, got {text!r}{number_hint(text)}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {what} {bounds}, got {value}")
        return value

    parse.__name__ = f"whole number {bounds}"
    return parse


positive_int = whole_number(1)
#: a model dimension d that can be built (ganphon.models.config.MAX_DIM)
model_dim = whole_number(1, 512, what="a model dimension")
#: a rate a WAV header holds (32 bits)
sample_rate = whole_number(1, 2**32 - 1, what="a sampling rate in Hz,")
non_negative_int = whole_number(0)
# what torch and numpy accept as a seed
seed_int = whole_number(0, 2**63 - 1, what="a seed,")


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}{number_hint(text)}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _printable(text: str) -> str:
    """``text``, refused when it holds a line break or another control character (``layout.has_control``)."""
    from ..layout import control_kind, has_control

    if has_control(text):
        raise argparse.ArgumentTypeError(f"{text!r} holds {control_kind(text)}; quote the name without it")
    return text


def _existing(text: str, folder: bool | None) -> str:
    """``text`` as a path that exists (a folder if ``folder``, a file if False, either if None)."""
    _printable(text)
    what = {True: "folder", False: "file", None: "file or folder"}[folder]
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a {what}, got {text!r}")
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text}: no such {what}")
    if folder is not None and os.path.isdir(text) != folder:
        raise argparse.ArgumentTypeError(f"{text}: not a {what}" + (" (a file)" if folder else " (a folder)"))
    if not os.path.isdir(text):
        from ..layout import not_a_file

        kind = not_a_file(text)  # a named pipe would be read for ever
        if kind is not None:
            raise argparse.ArgumentTypeError(f"{text}: {kind}, not a file")
    return text


def output_path(text: str) -> str:
    """argparse type of every output (``--out``, ``--json``): a name; '' is not the current folder or the default,
    and '-' is not standard output (a table, a folder of files: '-' would be a file of that name)."""
    if not _printable(text):
        raise argparse.ArgumentTypeError("expected a name, got ''")
    if text == "-":
        raise argparse.ArgumentTypeError("'-' (standard output): this command writes files; give a name")
    return text


def output_file(text: str) -> str:
    """argparse type of an output naming one file (``--out FILE``, ``--json``): a name that is not a folder.

    ``.``, ``..`` and a name ending in a separator name no file (``measure --out .``
    had failed inside the table's planning); an existing folder's name is refused
    by the command's own check, which suggests a file name.
    """
    output_path(text)
    if text.endswith(("/", os.sep)) or os.path.basename(text) in (".", ".."):
        raise argparse.ArgumentTypeError(f"{text}: is a folder; expected a file name")
    return text


def output_file_or_stdout(text: str) -> str:
    """:func:`output_file`, or ``-`` for standard output (``evaluate-model --json -``)."""
    return text if text == "-" else output_file(text)


def input_folder(text: str) -> str:
    """argparse type of every folder a command reads (``DIR``, ``--wavs``): an existing folder."""
    return _existing(text, True)


def input_file(text: str) -> str:
    """argparse type of a file a command reads (a sweep spec): an existing file."""
    return _existing(text, False)


def input_path(text: str) -> str:
    """argparse type of an input that is a folder or a file (``measure``'s folder or manifest): it exists."""
    return _existing(text, None)


def name_list(text: str) -> list:
    """argparse type of every comma-separated list option: stripped names, each once.

    An empty entry (``a,,b``, a trailing comma), a repeated one or an empty
    value (``--layers ""``, often an unset shell variable: it would silently
    mean the default) is an error naming the option (argparse adds it).
    Whether a name is known is checked by the stage, which knows the model or table.
    """
    if not str(text).strip():
        raise argparse.ArgumentTypeError("empty list; leave the option out for its default")
    items = [t.strip() for t in str(text).split(",")]
    if "" in items:
        raise argparse.ArgumentTypeError(f"empty entry in {text!r}")
    repeated = sorted({t for t in items if items.count(t) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"{', '.join(map(repr, repeated))} given twice in {text!r}")
    return items


def names(value) -> list | None:
    """A list option's value (see :func:`name_list`) as a list, or None when absent or empty."""
    if value is None:
        return None
    if isinstance(value, str):
        value = name_list(value)
    return list(value) or None


def add_checkpoint(p, default: str | None = None, required: bool | None = None, help: str = "") -> None:
    """``--checkpoint``: a ganphon checkpoint file, or ``demo``."""
    p.add_argument("--checkpoint", required=default is None if required is None else required, default=default,
                   metavar="CKPT", help="ganphon checkpoint file, or 'demo' for the bundled ciwGAN" + help)


def add_out(p, required: bool = True, help: str = "output folder", default=None, metavar="DIR") -> None:
    """``--out``."""
    p.add_argument("--out", type=output_file if metavar == "FILE" else output_path, required=required, default=default,
                   metavar=metavar, help=help)


def add_overwrite(p) -> None:
    """``--overwrite``: replace what an earlier, different request left in ``--out``."""
    p.add_argument("--overwrite", action="store_true",
                   help="replace what a different earlier run left in the output (the same run resumes "
                   "without it)")


def add_file_output(p, option: str = "out") -> None:
    """Mark ``--option`` as naming one output file, and add ``--overwrite`` to replace an existing one.

    Before any work, the command line refuses such a file when it is a folder, one
    of the command's inputs, another output, under a path that is not a folder, or
    an existing file without ``--overwrite`` (``cli._lock_outputs``).
    """
    p.set_defaults(file_outputs=(*(p.get_default("file_outputs") or ()), option))
    if not any("--overwrite" in action.option_strings for action in p._actions):
        p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def add_seed(p, default=0, help: str = "seed of everything random") -> None:
    """``--seed``."""
    p.add_argument("--seed", type=seed_int, default=default, help=help)


def add_workers(p, what: str = "working in parallel", store: bool = False) -> None:
    """``--workers``: processes; default one per CPU.  ``--scheduler``: the same work on Dask."""
    p.add_argument("--workers", type=whole_number(1, 1024), default=None, metavar="N",
                   help=f"processes {what} (default: one per CPU; the results do not depend on it)")
    add_scheduler(p, "run that work on Dask" + (" (with --store zarr, the generation of the chunks too)"
                                                 if store else ""), generates=store)


def prestart_workers(modules, unless=None):
    """A command's ``prestart`` (``p.set_defaults(prestart=...)``, called as soon as its line is parsed):
    the worker processes' forkserver starts importing ``modules`` on another core while the command
    reads its input and plans its jobs (:func:`ganphon.parallel.prestart`).  Nothing starts for one
    worker, on one CPU, with ``--scheduler``, or when ``unless(args)`` says the command runs no pool."""

    def start(args) -> None:
        workers = getattr(args, "workers", None)
        if getattr(args, "scheduler", None) or workers == 1 or (unless is not None and unless(args)):
            return
        from ..parallel import prestart, usable_cores

        if workers is None and usable_cores() < 2:
            return

        prestart(tuple(modules), workers)
    return start


def add_scheduler(p, what: str, generates: bool = True) -> None:
    """``--scheduler``: the command's parallel work (and a store's generation) as Dask tasks."""
    gpu = "; with --device cuda only workers started with --resources GPU=1 generate" if generates else ""
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help=f"{what}: 'local' (a LocalCluster on this machine: one process per CPU, or --workers) or a "
                   f"running scheduler, e.g. tcp://10.0.0.5:8786 (workers must see the folder{gpu}); same results "
                   "as without it (needs pip install 'ganphon[scale]')")


def add_device(p) -> None:
    """``--device``."""
    p.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="where the network runs (default: cuda when present, else cpu)")


def add_batch_size(p, default: int = 64) -> None:
    """``--batch-size`` of generation."""
    p.add_argument("--batch-size", type=positive_int, default=default, help="samples per forward pass")


def add_yes(p, what: str = "samples") -> None:
    """``--yes``: run a request larger than the size guard allows (:func:`ganphon.io.check_room`)."""
    p.add_argument("--yes", action="store_true",
                   help=f"generate even more than 10 GiB or a million {what} (never more than the free disk)")


def add_quiet(p) -> None:
    """``--quiet``: no progress bar (``--no-progress`` is the same)."""
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true", help="no progress bars")
