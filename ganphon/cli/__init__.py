"""The ``ganphon`` command line: a thin layer over the Python API.

One module per command group, in the order of the data flow.  Each module
defines one function per command that fills in the command's parser and sets
``func``, the handler taking the parsed arguments.  Only the module of the
command being run is imported, and it imports its stage only inside the
handler, so ``ganphon --help`` and light commands start without torch, scipy,
statsmodels or matplotlib.

A :class:`~ganphon.errors.GanphonError` (and a bad option) is printed as one
line and the command exits with status 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import importlib
import os
import shlex
import sys

# OpenMP threads that spin while waiting make torch's CPU work many times slower on a busy machine
# (measured 7-18x for training on 2 shared cores, benchmarks/bench_train.py); passive waiting costs
# little on an idle one (not measured there).  Read once when torch loads: set before any command imports it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .._version import __version__
from ..errors import GanphonError
from .options import ArgumentParser, Formatter

# command → (module in ganphon.cli, one-line summary), in the order of the data flow.
COMMANDS = {
    "new-model": ("models", "write a freshly initialised model checkpoint"),
    "import-checkpoint": ("models", "convert another implementation's checkpoint to a ganphon checkpoint"),
    "model-info": ("models", "print a checkpoint's config, layers with native rates, and metadata"),
    "probe": ("probe", "generate N samples and export the output and every layer's average for Praat"),
    "export-files": ("store", "write WAV + Sound + TextGrid files for chosen samples of a --store zarr run"),
    "export-wavs": ("store", "write the 16 kHz float WAVs of an exported folder's layers from their Sounds"),
    "corpus": ("corpus", "check, cut or synthesise a training corpus"),
    "train": ("train", "train a WaveGAN / ciwGAN / fiwGAN on a folder of WAV files (WGAN-GP)"),
    "evaluate-model": ("train", "numbers that say whether a generator makes words and uses its codes"),
    "annotate": ("praat", "add automatic sil / fric / voi intervals (tier 'auto') to every TextGrid"),
    "measure": ("praat", "measure every file of a folder like speech into an acoustic table"),
    "praat-plugin": ("praat", "install ganphon's Praat plugin (Praat > ganphon menu)"),
    "sweep": ("sweep", "sweep latent variables: generate, probe, export, annotate and measure"),
    "stats": ("stats", "mixed models, likelihood-ratio tests, layer effects and correlations"),
    "plot": ("plots", "draw the layer stack, sweep grid, effects, correlations and feature maps"),
    "explore": ("report", "write an offline HTML page per sweep: slider over the value, layer stacks, audio"),
    "demo": ("demo", "run the whole chain on the bundled model and write a report"),
}

DESCRIPTION = (
    "Look inside WaveGAN / ciwGAN / fiwGAN generators with Praat, TextGrids and mixed-effects "
    "regression. Each layer's channel average becomes a file you measure like speech. "
    "'ganphon COMMAND --help' explains a command and every option."
)


def _chosen(argv) -> str | None:
    """The command named in ``argv`` (the first word that is not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word
    return None


def _command_function(name: str):
    module_name, _ = COMMANDS[name]
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ImportError as exc:
        raise GanphonError(f"the '{name}' command cannot be loaded ({__name__}.{module_name}: {exc}); "
                           "reinstall ganphon") from exc
    return getattr(module, name.replace("-", "_"))


def build_parser(argv=()) -> ArgumentParser:
    """The ``ganphon`` parser; the command named in ``argv`` gets its options.

    Every command is listed with its summary; only the chosen one imports its
    module (pass every command name to build them all, as the tests do).
    """
    parser = ArgumentParser(prog="ganphon", description=DESCRIPTION, formatter_class=Formatter)
    parser.add_argument("--version", action="version", version=f"ganphon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    wanted = set(argv)
    for name, (_, summary) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary, formatter_class=Formatter)
        if name in wanted:
            _command_function(name)(p)
    return parser


def main(argv=None) -> int:
    """Run ``ganphon`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        chosen = _chosen(argv)
        parser = build_parser([chosen] if chosen in COMMANDS else [])
        args = parser.parse_args(argv)
        # The command as typed, recorded next to every result.
        args.command_line = shlex.join(["ganphon", *argv])
        if not getattr(args, "func", None):
            parser.print_help()
            return 1
        from ..parallel_dask import use_scheduler

        with use_scheduler(getattr(args, "scheduler", None), getattr(args, "workers", None)):
            result = args.func(args)
    except GanphonError as exc:
        print(f"ganphon: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # parallel.Interrupted says what was kept
        print(f"ganphon: interrupted{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a program that stopped reading (| head)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file that cannot be read or written: full disk, read-only, a folder …
        import re

        # name the file being written, not its temporary twin (.name.tmpPID.ext)
        where = re.sub(r"(^|/)\.([^/]+)\.tmp\d+(\.[^./]*)?$", r"\1\2\3", str(exc.filename or ""))
        where = f"{where}: " if where else ""
        print(f"ganphon: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
