"""The ``ganphon`` command line: a thin layer over the Python API.

Every stage that has commands defines ``add_commands(subparsers)`` in its own
module; each sub-command sets ``func`` to a callable taking the parsed
arguments.  A :class:`~ganphon.errors.GanphonError` is printed as one line and
the command exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys

from .errors import GanphonError

# Modules that contribute sub-commands, in the order of the data flow.
COMMAND_MODULES = [
    "ganphon.models.commands",
    "ganphon.probe_commands",
    "ganphon.corpus.commands",
    "ganphon.train",
    "ganphon.praat_commands",
    "ganphon.sweep_commands",
    "ganphon.stats_commands",
    "ganphon.evaluate",
    "ganphon.demo",
]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="ganphon",
        description=(
            "Look inside WaveGAN / ciwGAN / fiwGAN generators with Praat, TextGrids "
            "and mixed-effects regression. Each layer's channel average becomes a "
            "file you measure like speech."
        ),
    )
    parser.add_argument("--version", action="version", version=f"ganphon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # stage not present in this build
                continue
            raise
        module.add_commands(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    # The command as typed, recorded next to every result.
    args.command_line = shlex.join(["ganphon", *argv])
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        result = args.func(args)
    except GanphonError as exc:
        print(f"ganphon: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganphon: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
