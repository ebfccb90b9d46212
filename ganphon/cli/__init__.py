"""The ``ganphon`` command line: a thin layer over the Python API.

One module per command group, in the order of the data flow.  Each module
defines one function per command that fills in the command's parser and sets
``func``, the handler taking the parsed arguments.  Only the module of the
command being run is imported, and it imports its stage only inside the
handler, so ``ganphon --help`` and light commands start without torch, scipy,
statsmodels or matplotlib.

A :class:`~ganphon.errors.GanphonError` (and a bad option) is printed as one
line and the command exits with status 2; Ctrl-C exits with 130, SIGTERM and SIGHUP stop it the same
way with 143 and 129 (:data:`STOP_SIGNALS`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shlex
import sys

# OpenMP threads that spin while waiting make torch's CPU work many times slower on a busy machine
# (measured 7-18x for training on 2 shared cores, benchmarks/bench_train.py); passive waiting costs
# little on an idle one (not measured there).  Read once when torch loads: set before any command imports it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Every figure is drawn on an Agg canvas and written to a file, never shown: a backend named in the environment
# is never used, and one Matplotlib does not know stops its import with a traceback (MPLBACKEND=foo).
os.environ["MPLBACKEND"] = "agg"

from .._version import __version__
from ..errors import GanphonError, ParameterError, RESOURCE_ERRNOS, first_line, memory_problem, os_problem
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
    "atlas": ("atlas", "every latent variable at extreme values over paired bases: rank what each one controls"),
    "intervene": ("atlas", "set or scale channels of a layer while generating: paired effects on every outcome"),
    "stats": ("stats", "mixed models, likelihood-ratio tests, layer effects and correlations"),
    "correlate-input": ("series", "correlate every layer series with the input's own F0, intensity and formants"),
    "compare-series": ("series", "cross-correlate layer series with an external time series: lag, peak latency"),
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


#: Arguments naming what a command reads (never to be written by its --out).
_POSITIONALS_READ = ("dir", "data", "recordings", "generator", "spec")
_OPTIONS_READ = ("checkpoint", "wavs", "latents", "q", "stats")
#: Commands that write into the folder they read (``DIR``): it is locked while they run.
_WRITES_INTO_DIR = ("annotate", "stats", "export-wavs")
#: Commands that write into ``DIR`` when no ``--out`` is given.
_WRITES_INTO_DIR_BY_DEFAULT = ("compare-series", "correlate-input", "plot", "explore")
#: Commands that run a network in this process, batch after batch (:func:`ganphon.parallel.keep_freed_memory`).
_NETWORK_COMMANDS = ("probe", "sweep", "train", "intervene", "atlas", "demo", "evaluate-model")
#: Arguments naming a folder a command reads (besides DIR when it writes there).
_FOLDERS_READ = ("dir", "data", "recordings", "wavs", "external", "stats")


#: Commands taking one exported folder as DIR, to which a demo folder (a folder of such folders) is named as such.
_TAKE_ONE_EXPORT = ("annotate", "measure", "stats", "plot", "export-wavs", "correlate-input", "compare-series")


#: Commands that read the files of a folder's samples, refused on a folder keeping only its tables
_READ_SAMPLE_FILES = ("annotate", "measure", "export-wavs", "correlate-input", "compare-series", "explore")


def _refuse_tables_only(args) -> None:
    """A folder keeping none of its samples' files (the demo's atlas, its probe, its intervention) given to a
    command that reads them: one line saying so, where the command would stop at the first missing file."""
    from pathlib import Path

    from ..errors import GanphonError
    from ..io import tables_only
    from ..layout import DEMO_JSON

    if args.command in _READ_SAMPLE_FILES and isinstance(getattr(args, "dir", None), str):
        why = tables_only(args.dir)
        if why:
            demo = (Path(args.dir).resolve().parent / DEMO_JSON).is_file()
            raise GanphonError(f"{why}: 'ganphon {args.command}' reads those files ("
                               + ("a demo keeps only the tables of the runs they summarise)" if demo
                                  else "moved or deleted?)"))


def _refuse_demo_folder(args) -> None:
    """A demo folder given where one exported folder goes: one line naming the folders in it that are."""
    from pathlib import Path

    from ..errors import GanphonError
    from ..layout import DEMO_JSON, MANIFEST

    if args.command not in _TAKE_ONE_EXPORT:
        return
    folder = Path(args.dir)
    if (folder / DEMO_JSON).is_file() and not (folder / MANIFEST).exists():
        inside = sorted((p.name for p in folder.iterdir() if p.is_dir() and (p / MANIFEST).is_file()),
                        key=lambda name: (not name.startswith("sweep_"), name))  # its sweeps first
        if inside:
            raise GanphonError(f"{folder}: a demo folder, whose runs are its sub-folders ({', '.join(inside)}); "
                               f"give one of them, e.g. {folder / inside[0]}")


def _lock_outputs(args) -> None:
    """Lock the folders a command writes that :func:`ganphon.io.prepare_folder` does not (it locks its own)."""
    from pathlib import Path

    from ..errors import GanphonError
    from ..layout import (check_entries, check_not_being_written, check_not_folder_file, check_output_file,
                          check_plan, lock_folder)

    _refuse_demo_folder(args)
    _refuse_tables_only(args)

    for name in _FOLDERS_READ:  # a named pipe in a folder read would stop the command for ever, before it writes
        path = getattr(args, name, None)
        if isinstance(path, str) and Path(path).is_dir():
            check_entries(path)
    out = getattr(args, "out", None)
    files = {f"--{name}": getattr(args, name, None) for name in getattr(args, "file_outputs", ())}
    files = {option: path for option, path in files.items() if path not in (None, "-")}  # "-": standard output
    if out is not None or files:  # never write onto an input (a checkpoint, a spec, the folder read)
        read = {f"the {'--' if name in _OPTIONS_READ else ''}{name.replace('_', '-')} input": getattr(args, name)
                for name in (*_POSITIONALS_READ, *_OPTIONS_READ) if isinstance(getattr(args, name, None), str)
                and getattr(args, name) != "demo"}
        check_plan({"--out": out, **files}, read)
        for option, path in files.items():  # a file named by an option: writable, and replaced only when asked
            for what, folder in read.items():
                check_not_folder_file(folder, path, option, what)
            check_not_folder_file(Path(path).parent, path, option)  # nor one of a ganphon folder it lands in
            check_output_file(path, option, overwrite=getattr(args, "overwrite", False))
        for what, path in (read.items() if out is not None else ()):
            if what.split()[1] in ("data", "recordings", "--wavs") and Path(path).is_dir() \
                    and Path(out).resolve().is_relative_to(Path(path).resolve()):
                raise GanphonError(f"{out}: lies inside {path}, {what}; its files would be read as input "
                                   "next time; choose an --out outside it")
    folder = None
    if args.command in _WRITES_INTO_DIR or (args.command in _WRITES_INTO_DIR_BY_DEFAULT and out is None):
        folder = Path(args.dir)
    elif args.command in ("plot", "explore"):  # --out: a folder of figures or pages only (checked by the command)
        folder = Path(out)
    elif args.command == "measure":
        from ..acoustics import measured_folder

        folder = measured_folder(args.dir, args.out)
        if args.out and not folder.exists() and Path(args.dir).exists():  # --out new/table.csv: made (and locked)
            lock_folder(folder)
    elif args.command == "train" and os.environ.get("RANK", "0") == "0":  # one process of a distributed run
        # a training folder keeps what it wrote when it fails once it holds a checkpoint (a resume point:
        # the trainer calls layout.keep_on_failure); a run failing before its first one leaves nothing
        from ..layout import start_ledger

        lock_folder(args.out, kind="training")
        start_ledger(args.out, "training")
        return
    if folder is not None and folder.is_dir():
        lock_folder(folder, optional=True)
    for name in _FOLDERS_READ:  # a folder another command is still writing is not read half-written
        path = getattr(args, name, None)
        if isinstance(path, str) and Path(path).is_dir() and (folder is None or not _same(path, folder)):
            check_not_being_written(path)


def _same(a, b) -> bool:
    from pathlib import Path

    return Path(a).resolve() == Path(b).resolve()


class _notices:
    """Library warnings (torch, pandas, Praat through parselmouth …) as one ``ganphon: note:`` line each.

    A warning is shown once per command however often it is raised, with the
    first line of its message and the library it came from; never a source line.
    """

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("default")
        self._seen = set()
        warnings.showwarning = self._show
        return self

    def _show(self, message, category, filename, lineno, file=None, line=None):
        text = first_line(message)
        if text in self._seen:
            return
        self._seen.add(text)
        source = _library_of(filename)
        try:
            sys.stderr.write(f"ganphon: note: {text} ({category.__name__}{' from ' + source if source else ''})\n")
        except (OSError, ValueError):
            pass

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


def _library_of(filename) -> str:
    """The top-level package a warning's file belongs to (``torch``, ``pandas`` …), or ''."""
    parts = str(filename or "").replace("\\", "/").split("/")
    for marker in ("site-packages", "dist-packages"):
        if marker in parts and parts.index(marker) + 1 < len(parts):
            return parts[parts.index(marker) + 1].removesuffix(".py")
    return "ganphon" if "ganphon" in parts else ""


#: API parameters whose option is not ``--`` + the parameter's name (the rest are found in the parser).
PARAMETER_DEST = {"outcome_layers": "layers", "layer_settings": "settings", "segment_settings": "settings",
                  "n_codes": "codes", "channel": "column"}


def option_for(parser, argv, parameter: str) -> str:
    """The option of the command in ``argv`` that fills the API parameter ``parameter`` (``--layers``).

    ``argv`` is the command line (or just the command's words, ``["corpus", "synth"]``); the
    innermost (sub-)command's options are searched first.  A parameter no option fills keeps its name.
    """
    dest = PARAMETER_DEST.get(parameter, parameter)
    words = [argv] if isinstance(argv, str) else [w for w in argv or () if not str(w).startswith("-")]
    parsers = [parser]
    while True:  # descend through the sub-command actions to the parser of the command typed
        inner = next((action.choices[w] for action in parsers[-1]._actions
                      if isinstance(getattr(action, "choices", None), dict) for w in words if w in action.choices),
                     None)
        if inner is None or inner in parsers:
            break
        parsers.append(inner)
    for p in reversed(parsers):
        for action in p._actions:
            if action.dest != dest:
                continue
            longs = [o for o in action.option_strings if o.startswith("--")]
            return (longs or action.option_strings or [action.metavar or dest.upper()])[0]
    return parameter


def _check_printable(args, parser, argv) -> None:
    """Refuse a value holding a line break or another control character (a quoting slip in the shell).

    A path or name is printed in messages, tables, TextGrids and Praat scripts;
    one that spans lines would split a one-line error in two and a CSV row.
    """
    from ..layout import control_kind, has_control

    for dest, value in vars(args).items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, str) and has_control(item):
                raise GanphonError(f"{option_for(parser, argv, dest)}: {item!r} holds {control_kind(item)}; "
                                   "quote the name without it")


def error_line(exc: GanphonError, parser=None, argv=()) -> str:
    """A GanphonError as the command line prints it: a ParameterError names the option, not the parameter."""
    if isinstance(exc, ParameterError) and parser is not None:
        return f"{option_for(parser, argv, exc.parameter)}: {first_line(exc.problem, lines=4)}"
    return first_line(exc, lines=4)


#: ASCII for the characters ganphon's messages, tables and help use, where the terminal's encoding has no such
#: character (a Windows console's cp1252 has no "−" or "≤", a pipe under LANG=C may be ASCII)
PLAIN_TEXT = {"…": "...", "→": "->", "←": "<-", "↑": "^", "↓": "v", "—": "--", "–": "-", "−": "-", "×": "x",
              "÷": "/", "≥": ">=", "≤": "<=", "≈": "~", "±": "+/-", "·": ".", "²": "^2", "½": "1/2", "⅓": "1/3",
              "∞": "inf", "µ": "u", "μ": "u", "“": '"', "”": '"', "‘": "'", "’": "'", "«": "<<", "»": ">>",
              "‖": "||", "√": "sqrt", "▸": ">", "▶": ">", "§": "S", "θ": "theta", "σ": "sigma", "β": "beta",
              "λ": "lambda", "Λ": "Lambda", "ᵀ": "'"}


def _plain_text(error: UnicodeEncodeError) -> tuple:
    """The codecs error handler ``ganphon.plain``: :data:`PLAIN_TEXT`, other characters as ``\\uXXXX``."""
    part = error.object[error.start:error.end]
    return "".join(PLAIN_TEXT.get(c) or c.encode("ascii", "backslashreplace").decode("ascii") for c in part), \
        error.end


def printable_streams() -> None:
    """Let stdout and stderr print any text in the terminal's encoding (:data:`PLAIN_TEXT` where it has
    no such character), where Python would stop a command's output with a UnicodeEncodeError; a stream
    closed before the command started (``2>&-``) is written to the null device, as asked, where the first
    progress bar had stopped the command (an AttributeError on Python's ``None``, or EBADF where a launcher
    had reopened the descriptor for reading) and the failure had undone its writes."""
    import codecs

    for fd, name in ((1, "stdout"), (2, "stderr")):  # closed when the command started (`2>&-`): the null device
        if not _writable(getattr(sys, name)):
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:  # the descriptor itself, so that worker processes and Praat inherit a writable one
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, "w", encoding="utf-8", closefd=False))
    try:
        codecs.lookup_error("ganphon.plain")
    except LookupError:
        codecs.register_error("ganphon.plain", _plain_text)
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None)
        if not encoding or not hasattr(stream, "reconfigure"):
            continue
        try:
            "".join(PLAIN_TEXT).encode(encoding)
        except UnicodeEncodeError:
            stream.reconfigure(errors="ganphon.plain")
        except LookupError:  # an encoding Python does not know: nothing to adapt
            continue


def _writable(stream) -> bool:
    """Whether ``stream`` can be written: not None and, where it has a descriptor, one open for writing."""
    if stream is None:
        return False
    try:
        import fcntl

        fd = stream.fileno()
    except (ImportError, AttributeError, ValueError, OSError):  # Windows, or no descriptor (a test's capture)
        return True
    try:
        return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)
    except OSError:  # closed since
        return False


#: Signals that stop a command as Ctrl-C does (what was written is kept, so the same command resumes): a
#: batch system's time limit or ``kill`` (SIGTERM), the terminal closing (SIGHUP; not under ``nohup``).
#: The exit status is 128 + the signal's number, as a shell reports a command the signal ended.
STOP_SIGNALS = ("SIGTERM", "SIGHUP")


class _Stop:
    """The stop signal a command received (None: Ctrl-C, or none)."""

    signal: str | None = None


def _stop_on_signal(signum, frame):
    import signal

    _Stop.signal = signal.Signals(signum).name
    for name in STOP_SIGNALS:  # a second one waits for this stop (a second Ctrl-C still cuts it short)
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_signals():
    """In the block, :data:`STOP_SIGNALS` raise KeyboardInterrupt in the main thread, as Ctrl-C does; a signal
    already ignored (``nohup``) stays ignored; the handlers found are put back afterwards."""
    import signal
    import threading

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in STOP_SIGNALS:
            sig = getattr(signal, name, None)
            if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, _stop_on_signal)
    _Stop.signal = None
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv=None) -> int:
    """Run ``ganphon`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    printable_streams()
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ReaderMayLeave(sys.stdout), _ReaderMayLeave(sys.stderr)
    try:
        with _stop_signals():
            return _main(argv)
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        if sys.stdout.lost is not None:  # said where it can still be read (a full disk is no broken pipe)
            print(f"ganphon: note: standard output could not be written ({os_problem(sys.stdout.lost)}); "
                  "what the command printed there is lost, what it wrote is kept", file=sys.stderr)
            sys.stderr.flush()
        sys.stdout, sys.stderr = streams


def _close_progress_bars() -> None:
    """Close every progress bar still open, so that its last line comes before the error line, not after it
    (a bar the failure left open had been drawn once more when it was collected)."""
    std = sys.modules.get("tqdm.std")
    if std is None:
        return
    for bar in list(getattr(std.tqdm, "_instances", ())):
        try:
            bar.close()
        except Exception:  # a bar on a stream that is gone: nothing to draw
            pass


class _ReaderMayLeave:
    """A command's stdout or stderr whose reader may stop reading (``| head``) or which cannot be written (``>
    /dev/full``, a log on a full disk): what is written after that goes to the null device, and the command
    goes on.  The failed write had been an error inside the command, which undid every file it had written
    (while ``| head`` exited 0).  ``lost``: the error, unless a broken pipe (a reader that has what it wanted)."""

    def __init__(self, stream):
        self._stream = stream
        self.lost = None

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as exc:
            self._to_null(exc)
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except OSError as exc:
            self._to_null(exc)
            try:
                self._stream.flush()  # what was buffered goes to the null device
            except OSError:
                pass

    def _to_null(self, exc: OSError):
        if not isinstance(exc, BrokenPipeError) and self.lost is None:
            self.lost = exc
        try:
            fd = self._stream.fileno()
        except (AttributeError, ValueError, OSError):
            return
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)

    def __getattr__(self, name):  # encoding, isatty, fileno … of the stream itself
        return getattr(self._stream, name)


def _main(argv) -> int:
    parser = None
    try:
        _check_working_folder()
        chosen = _chosen(argv)
        parser = build_parser([chosen] if chosen in COMMANDS else [])
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse's own exit (--help 0, a refused argument 2): returned, as promised
            return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        _check_printable(args, parser, argv)
        # The command as typed, recorded next to every result.
        args.command_line = shlex.join(["ganphon", *argv])
        if not getattr(args, "func", None):
            parser.print_help()
            return 1
        if getattr(args, "prestart", None):  # worker processes start importing while the command plans
            args.prestart(args)
        if args.command in _NETWORK_COMMANDS:  # batch after batch, the same tensors: keep their memory
            from ..parallel import keep_freed_memory, torch_threads_within_quota

            keep_freed_memory()
            torch_threads_within_quota()  # a container's CPU quota, not the host's cores
        from ..layout import command_scope
        from ..parallel_dask import use_scheduler

        if getattr(args, "scheduler", None):  # workers may run in another folder: give them absolute paths
            for name in (*_POSITIONALS_READ, *_OPTIONS_READ, "out"):
                value = getattr(args, name, None)
                if isinstance(value, str) and value and value != "demo":
                    setattr(args, name, os.path.abspath(value))

        # one unit of work: folders locked, a failure undoes every write (Ctrl-C keeps them for a resume)
        with _notices(), command_scope(), use_scheduler(getattr(args, "scheduler", None),
                                                        getattr(args, "workers", None)) as scheduler:
            if hasattr(args, "scheduler"):  # the address becomes the open scheduler the command passes on
                args.scheduler = scheduler
            _lock_outputs(args)
            result = args.func(args)
    except GanphonError as exc:  # one line, whatever a library's message inside it spans
        _close_progress_bars()
        print(f"ganphon: error: {error_line(exc, parser, argv)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # parallel.Interrupted says what was kept
        _close_progress_bars()
        if _Stop.signal is not None:  # SIGTERM / SIGHUP: the same stop, said as what it was
            import signal

            print(f"ganphon: stopped by {_Stop.signal}{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
            return 128 + int(getattr(signal, _Stop.signal))
        print(f"ganphon: interrupted{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return 130
    except (MemoryError, RuntimeError) as exc:  # an allocation that failed, whichever library asked for it
        words = memory_problem(exc)
        if words is None:
            raise
        _close_progress_bars()
        print(f"ganphon: error: {words}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file that cannot be read or written: full disk, read-only, a folder …
        _close_progress_bars()
        import re

        # name the file being written, not its temporary, backup or set-aside twin (.name.tmpPID.ext, .name.bakPID)
        where = re.sub(r"(^|/)\.([^/]+)\.(?:tmp|bak|old)\d+(\.[^./]*)?$", r"\1\2\3", str(exc.filename or ""))
        where = f"{where}: " if where else ""
        if not where and exc.errno not in RESOURCE_ERRNOS:  # the system named no file: say which output it was
            out = getattr(locals().get("args"), "out", None)
            where = f"writing {out}: " if out else ""
        print(f"ganphon: error: {where}{os_problem(exc)}{_in_temporary_folder(exc.filename)}", file=sys.stderr)
        return 2
    return int(result or 0)


def _check_working_folder() -> None:
    """Refuse to start in a working folder that was removed (in another terminal, after this shell entered
    it): relative paths all fail as "No such file or directory", and libraries loaded later (torch's MKL)
    stopped the process with "FATAL ERROR: Cannot load libtorch_cpu.so"."""
    try:
        os.getcwd()
    except FileNotFoundError:
        raise GanphonError("the current folder no longer exists (it was removed after this shell entered it); "
                           "cd into an existing folder") from None


def _in_temporary_folder(name) -> str:
    """A hint where a failing file lies in the temporary folder (Praat's engine stages files there), which
    the user did not choose and may not know is full."""
    import tempfile

    if not name:
        return ""
    temporary = os.path.realpath(tempfile.gettempdir())
    relative = os.path.relpath(os.path.realpath(os.path.abspath(str(name))), temporary)
    if not relative.startswith(("ganphon_", "ganphon-")):  # ganphon's own folders there, not an --out in /tmp
        return ""
    return f" (a temporary file: set TMPDIR to a folder with room; the temporary folder is {temporary})"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
