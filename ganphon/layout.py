"""File names and atomic writes: the one implementation of ganphon's folder layout.

An exported folder holds, for every sample ``ID``:

* ``ID_output.wav`` — the generated waveform, float32 WAV at ``sr``;
* ``ID_<layer>.Sound`` — a layer series at its native rate, as a Praat binary Sound (the stored copy);
* ``ID_<layer>.wav`` — the same series upsampled to the output length, float32 WAV at ``sr``, only
  where asked for (``--wav-layers``); measuring computes it in memory from the Sound;
* ``ID.TextGrid`` — one TextGrid time-aligned with every file of the sample;

plus ``manifest.csv`` (one row per sample × layer), ``latents.csv`` (the full latent
vector of every sample), ``run.json`` (the request, the planned files, command,
versions, seed; written before the first sample) and ``finished.txt`` (one line
per finished sample, appended as samples finish).

Every kind of folder ganphon writes owns a fixed set of names (:func:`owns`):
``--overwrite`` removes exactly those, so a folder never mixes two runs.

Ownership (the end of this module): a command holds a lock on every folder it
writes (:func:`lock_folder`, ``.ganphon.lock`` naming its process), records
in the folder's ledger (``.ganphon.ledger``) the kind of folder and every entry
it writes, and runs inside a :func:`command_scope` that journals each write:
a command that fails is undone (new files removed, replaced ones put back), so
the folder is as it found it; one that is interrupted keeps its progress.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import shutil
import stat
import time
from pathlib import Path

# NAME_MAX: the longest file name, also in messages
from .errors import NAME_MAX, GanphonError, no_room_for_files, soft_limit

MANIFEST = "manifest.csv"
LATENTS = "latents.csv"
RUN_JSON = "run.json"
FINISHED = "finished.txt"
SWEEP_JSON = "sweep.json"
ACOUSTICS = "acoustics.csv"
ACOUSTICS_JSON = "acoustics.json"
ANNOTATE_JSON = "annotate.json"    # the run record of 'ganphon annotate': its settings and the TextGrids it left
STATS_DIR = "stats"
STATS_JSON = "stats.json"          # the run record of 'ganphon stats', in DIR/stats/
SUMMARIES_TXT = "summaries.txt"    # every fitted model's summary, in DIR/stats/
REFIT_R = "refit.R"                # the R script refitting every saved model frame, in DIR/stats/frames/
FIGURES_DIR = "figures"
DEMO_JSON = "demo.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
DEMO_RANDOM_DIR = "random"
DEMO_ATLAS_DIR = "atlas"                  # the demo's short latent atlas
DEMO_ATLAS_PROBE_DIR = "atlas_probe"      # the probe run choosing the demo intervention's channels
DEMO_INTERVENTION_DIR = "intervention"    # the demo's channel intervention
LISTEN_DIR = "listen"              # 16-bit listening copies of the float WAVs (reports, explorer)
EXPLORE_HTML = "explore.html"      # the sweep explorer page (ganphon explore)
ATLAS_CSV = "atlas.csv"            # ganphon atlas: every variable × outcome × layer effect, ranked
INTERVENTION_CSV = "intervention.csv"  # ganphon intervene: paired effects of a channel intervention
OUTPUT_LAYER = "output"
POSTPROC_LAYER = "postproc"        # WaveGAN's post-processing filter after the output, when a model has it
# a training run folder
LOG_CSV = "train_log.csv"
G_LATEST = "G_latest.pt"
Q_LATEST = "Q_latest.pt"
PREVIEW_DIR = "preview"
PREVIEW_PNG = "preview.png"        # the waveforms of one preview step, in preview/stepNNNNNNN/
_CHECKPOINT = re.compile(r"^ckpt_step(\d+)\.pt$")
# A columnar store (``--store zarr``, see ganphon.store): arrays, tables, per-chunk Parquet parts.
STORE_ZARR = "store.zarr"
MANIFEST_PARQUET = "manifest.parquet"
LATENTS_PARQUET = "latents.parquet"
ANNOTATIONS_PARQUET = "annotations.parquet"
ACOUSTICS_PARQUET = "acoustics.parquet"  # a store: one part per chunk; a file folder: a large acoustic table
ANALYSIS_RECORD = "_analysis.json"  # a store: what annotate/measure did to its chunks (ganphon.store)
# A training corpus (``ganphon corpus synth | cut``): one <item>.wav + <item>.TextGrid per item, tables.
CORPUS_CSV = "corpus.csv"
PHONES_CSV = "phones.csv"
SYNTH_JSON = "synth.json"
ITEMS_CSV = "items.csv"

# encoders (ganphon.models.encoders) add transformer layers and CREPE's own pitch estimate
_LAYER = r"(?:dense|conv\d+|transformer\d+|pitch|output|postproc)"
_SAMPLE_FILE = re.compile(rf"^(?P<sample_id>.+?)(?:_(?P<layer>{_LAYER})\.(?P<ext>wav|Sound)|\.(?P<tg>TextGrid))$")
# a file being written (tmp), the old version of a file being replaced (bak), an entry being removed (old)
_TEMP_FILE = re.compile(r"^\..+\.(?:tmp|bak|old)(\d+)(?:\.[^.]*)?$")
_CORPUS_ITEM = re.compile(r"^(?:[A-Za-z]+\d{5}|.+_\d{4}_\w*)\.(?:wav|TextGrid)$")


_CONV = re.compile(r"^conv(\d+)$")
_TRANSFORMER = re.compile(r"^transformer(\d+)$")
PITCH_LAYER = "pitch"  # CREPE's own pitch estimate (Hz), exported beside its layers


def layer_rank(layer: str) -> tuple:
    """Sort key putting layers in network order: dense, conv1 … convK, transformer1 … transformerM,
    pitch, output, postproc, then others by name."""
    name = str(layer)
    if name == "dense":
        return (0, 0, "")
    match = _CONV.match(name)
    if match:
        return (1, int(match.group(1)), "")
    match = _TRANSFORMER.match(name)
    if match:
        return (1.5, int(match.group(1)), "")
    if name == PITCH_LAYER:
        return (1.75, 0, "")
    if name == OUTPUT_LAYER:
        return (2, 0, "")
    if name == POSTPROC_LAYER:
        return (2, 1, "")
    return (3, 0, name)


def sort_layers(layers) -> list:
    """Distinct layer names in network order (not alphabetical: conv10 after conv9).

    Examples
    --------
    >>> sort_layers(["postproc", "output", "conv10", "conv2", "dense", "conv2"])
    ['dense', 'conv2', 'conv10', 'output', 'postproc']
    """
    return sorted({str(x) for x in layers if isinstance(x, str) and x}, key=layer_rank)


#: A control character: NUL, a line break, a tab …, the C1 controls (NEL is a line break to Python, CSI
#: moves a terminal's cursor), the line and paragraph separators, and the bidirectional overrides and
#: isolates (they reorder what a name shows): a name holding one spans lines, hides a byte or reads falsely;
#: and the lone surrogates standing for a file name's bytes that are not UTF-8 (Praat cannot be given them)
_SURROGATES = r"\ud800-\udfff"
_CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069" + _SURROGATES
#: A character no plain name holds: a folder separator or a control character
_NOT_PLAIN = rf"[/\\{_CONTROL}]"
#: The labels of the automatic segmentation's tier (``ganphon annotate``)
AUTO_LABELS = ("sil", "fric", "voi")


def has_control(text) -> bool:
    """Whether ``text`` holds a line break or another control character."""
    return re.search(f"[{_CONTROL}]", str(text)) is not None


def control_kind(text) -> str:
    """What makes ``text`` fail :func:`has_control`, as a message says it."""
    if re.search(f"[{_SURROGATES}]", str(text)):
        return "bytes that are not UTF-8 text"
    return "a line break or another control character"


def is_plain_name(text) -> bool:
    """Whether ``text`` names an entry of a folder itself: no folder separator, not ``.`` or ``..``, no
    line break, NUL or other control character (a name that spans lines would split a table row or a message)."""
    text = str(text)
    return text not in ("", ".", "..") and re.search(_NOT_PLAIN, text) is None


def plain_names(cells):
    """:func:`is_plain_name` of every cell of a pandas Series of text (a boolean array), in one pass."""
    text = cells.astype(str)
    return (~text.str.contains(_NOT_PLAIN, regex=True) & ~text.isin(["", ".", ".."])).to_numpy(dtype=bool)


def store_hint(folder) -> str:
    """``" (it is a columnar store …)"``, to end a message that ``folder`` holds no files when it is a store
    (else ``""``)."""
    if (Path(folder) / STORE_ZARR).is_dir():
        return (f" (it is a columnar store, {STORE_ZARR}: 'ganphon export-files {folder} --out DIR' writes files "
                f"of chosen samples; 'ganphon sweep --store zarr' annotates and measures a store itself)")
    return ""


def listed(paths, broken_links: str = "error") -> list:
    """``paths`` found by listing a folder, hidden names (``.x``) left out; a name that is not plain
    (:func:`is_plain_name`: a line break or control character) is an error naming it, never skipped
    silently, and so is a link to nothing unless ``broken_links="keep"`` (a corpus reader that skips
    unreadable files with a notice naming each) and a named pipe, socket or device (:func:`not_a_file`)."""
    from .errors import GanphonError

    out = []
    for path in paths:
        if path.name.startswith("."):
            continue
        if not is_plain_name(path.name):
            raise GanphonError(f"{path.parent}/{path.name!r}: a file name holding {control_kind(path.name)}; "
                               "rename it")
        if broken_links != "keep" and path.is_symlink() and not path.exists():
            raise GanphonError(dangling_link(path))
        kind = not_a_file(path, folders=False)
        if kind is not None:
            raise GanphonError(f"{path}: {kind}, not a file; remove it or move it away")
        out.append(path)
    return out


#: What can stand at a path instead of a regular file, by its mode (links followed)
_NOT_FILES = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
              (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
#: Name endings of the files ganphon reads from a folder: a folder so named is refused where the folder is read
#: (``.parquet`` is not among them: a store's acoustic table is a folder of parts)
READ_SUFFIXES = (".wav", ".sound", ".textgrid", ".csv", ".json")


def not_a_file(path, folders: bool = True) -> str | None:
    """What stands at ``path`` instead of a regular file (``"a named pipe"``, ``"a socket"``, ``"a folder"`` …),
    or None: a regular file or a link to one, nothing at all, or — ``folders`` False — a folder.

    Reading a named pipe waits for a writer that never comes, a device never ends,
    and ``Path.is_file()`` takes either (or a folder) for a missing file: every
    reader of :mod:`ganphon.io` and every folder a command reads asks this first.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or (not folders and stat.S_ISDIR(mode)):
        return None
    return next((kind for test, kind in _NOT_FILES if test(mode)), "not a regular file")


def refuse_not_a_file(path, what: str) -> None:
    """Raise when something other than a regular file stands at ``path`` (:func:`not_a_file`: a named pipe, a
    device, a folder …), naming it and ``what`` it should be; every reader asks first, so none waits on a pipe
    for ever, reads a device without end, or calls a folder missing."""
    kind = not_a_file(path)
    if kind is not None:
        from .errors import GanphonError

        raise GanphonError(f"{path}: {kind}, not {with_article(what)}")


def dangling_link(path) -> str:
    """The one-line error for a link at ``path`` to something that does not exist."""
    return f"{path}: a link to {os.readlink(path)}, which does not exist; remove the link or restore what it points to"


def with_article(what: str) -> str:
    """``what`` after "a" or "an" (an acoustic table file, a sound file, a uniform …)."""
    return f"{'an' if what[:1].lower() in 'aeio' else 'a'} {what}"


def check_entries(folder) -> None:
    """Refuse a folder a command reads when an entry is not what its name says.

    A named pipe, socket or device (reading one waits forever), or a folder
    named like a file ganphon reads (``X.TextGrid/``, ``manifest.csv/``), which
    a listing would take for a missing file and carry on without: an error
    naming it, before anything is read or written.  The folder's own entries,
    hidden names left out; a folder that cannot be listed is left to the
    command's reader, which names it.
    """
    from .errors import GanphonError

    try:  # a regular file is told by the listing itself (no stat each): only the rest is looked at
        with os.scandir(folder) as listing:
            others = sorted(entry.name for entry in listing if not entry.name.startswith(".") and not entry.is_file())
    except OSError:
        return
    for name in others:
        path = os.path.join(folder, name)
        kind = not_a_file(path)
        if kind is None and name.lower().endswith(READ_SUFFIXES) and os.path.islink(path) \
                and not os.path.exists(path):  # a dangling link is no more "nothing there" than a folder is
            raise GanphonError(dangling_link(Path(folder) / name))
        if kind is None or (kind == "a folder" and not name.lower().endswith(READ_SUFFIXES)):
            continue
        raise GanphonError(f"{Path(folder) / name}: {kind} where {folder} should hold a file; remove it or move "
                           "it away")


def _name_part(text) -> str:
    """``text`` checked to be usable inside a file name (:func:`is_plain_name`)."""
    if not is_plain_name(text):
        from .errors import GanphonError

        raise GanphonError(f"{str(text)!r} cannot be part of a file name (a layer or sample name?)")
    return str(text)


def layer_wav(sample_id: str, layer: str) -> str:
    """File name of the WAV of ``layer`` (``output`` for the waveform itself)."""
    return f"{_name_part(sample_id)}_{_name_part(layer)}.wav"


def layer_sound(sample_id: str, layer: str) -> str:
    """File name of the native-rate Praat Sound of ``layer``."""
    return f"{_name_part(sample_id)}_{_name_part(layer)}.Sound"


def listening_flac(sample_id: str, layer: str) -> str:
    """File name of a layer's compact listening copy (16-bit FLAC) in ``listen/``."""
    return f"{_name_part(sample_id)}_{_name_part(layer)}.flac"


_LISTENING_COPY = re.compile(rf"^.+_{_LAYER}\.(?:flac|wav)$")


def is_listening_copy(name: str) -> bool:
    """Whether ``name`` is one of the files ganphon writes into ``listen/`` (``ID_layer.flac`` or ``.wav``)."""
    return bool(_LISTENING_COPY.match(name))


def textgrid(sample_id: str) -> str:
    """File name of the sample's TextGrid."""
    return f"{_name_part(sample_id)}.TextGrid"


#: The figures 'ganphon plot' draws, by stem (each written once per format: ``effects.png``, ``effects.pdf``)
FIGURE_EFFECTS, FIGURE_CORRELATIONS = "effects", "correlations"
FIGURE_ATLAS = "atlas_heatmap"  # ganphon atlas's figure
_FIGURE = re.compile(r"(?:layer_stack_.+|sweep_grid_base.+|effects|correlations|feature_maps_.+)\.[A-Za-z0-9]+")


def figure_layer_stack(sample_id: str) -> str:
    """Stem of the layer-stack figure of one sample."""
    return f"layer_stack_{_name_part(sample_id)}"


def figure_sweep_grid(base) -> str:
    """Stem of the sweep-grid figure of one base latent."""
    return f"sweep_grid_base{_name_part(str(base))}"


def figure_feature_maps(layer: str) -> str:
    """Stem of the feature-map profiles figure of one layer."""
    return f"feature_maps_{_name_part(layer)}"


def is_figure(name: str) -> bool:
    """Whether ``name`` is a figure file 'ganphon plot' writes (a folder holding only these is one it wrote)."""
    return bool(_FIGURE.fullmatch(name))


def check_output_folder(out, keep, command: str, default: bool = False) -> Path:
    """``out``, a folder ``ganphon command --out`` writes a set of files into, checked before it writes: new,
    empty, or holding only entries ``keep(path)`` accepts (what an earlier run of it wrote; hidden entries
    and links aside), so that writing there replaces nothing of the user's.  ``default``: ``out`` is where
    the command writes without ``--out`` (``DIR/figures``), held to the same rule."""
    from .errors import GanphonError, ParameterError

    out = Path(out)
    if out.exists() and not out.is_dir():
        if default:  # as making the folder over the file would say
            raise GanphonError(f"{out}: a file where a folder is needed; remove it or move it away")
        raise ParameterError("out", f"{out}: exists and is not a folder")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir()
                         if not p.name.startswith(".") and (p.is_symlink() or not keep(p)))
        shown = f"{', '.join(foreign[:3])}{' …' if len(foreign) > 3 else ''}"
        if foreign and default:
            raise GanphonError(f"{out}: holds files 'ganphon {command}' does not write ({shown}), where it writes "
                               "by default; move them away, or choose a folder with --out")
        if foreign:
            raise ParameterError("out", f"{out} holds files 'ganphon {command}' does not write "
                                        f"({shown}); choose a new or empty folder, or one an earlier {command} "
                                        "--out wrote")
    return out


FEATURE_MAPS_PREFIX = "featuremaps_"


def feature_maps(layer: str) -> str:
    """File name of a layer's individual feature maps, ``featuremaps_<layer>.npy`` [N, C, n]."""
    return f"{FEATURE_MAPS_PREFIX}{layer}.npy"


def checkpoint_name(step: int) -> str:
    """File name of a training run's full checkpoint after ``step`` generator updates."""
    return f"ckpt_step{step:07d}.pt"


def checkpoint_step(name: str) -> int | None:
    """The step of a full-checkpoint file name, or None for any other name."""
    m = _CHECKPOINT.match(name)
    return int(m.group(1)) if m else None


def sample_id(index: int) -> str:
    """Default identifier of the ``index``-th sample of a run (``s000000`` …)."""
    return f"s{index:06d}"


def sweep_sample_id(base: int, index: int) -> str:
    """Identifier of step ``index`` of a sweep over base latent ``base`` (``b000_v003``)."""
    return f"b{base:03d}_v{index:03d}"


def atlas_sample_id(var: str, base: int, index: int) -> str:
    """Identifier of value ``index`` of variable ``var`` on base latent ``base`` in an atlas (``z11_b003_v004``)."""
    return f"{var}_b{base:03d}_v{index:03d}"


def intervention_sample_id(base: int, intervened: bool) -> str:
    """Identifier of base latent ``base`` generated with (``b003_on``) or without (``b003_off``) an intervention."""
    return f"b{base:03d}_{'on' if intervened else 'off'}"


def sweep_dir(var: str) -> str:
    """Sub-folder of the demo holding the sweep of ``var`` (``sweep_z11``)."""
    return f"sweep_{var}"


def sample_files(sample_id: str, layers, wav_layers: bool = False) -> list[str]:
    """Every file name one exported sample owns: output WAV, layer Sounds (and layer WAVs where
    ``wav_layers``), the TextGrid last."""
    names = [layer_wav(sample_id, OUTPUT_LAYER)]
    for layer in layers:
        names += ([layer_wav(sample_id, layer)] if wav_layers else []) + [layer_sound(sample_id, layer)]
    return names + [textgrid(sample_id)]


def parse_sample_file(name: str):
    """Split an exported file name into ``(sample_id, layer)``.

    ``layer`` is ``None`` for the sample's TextGrid.  Returns ``None`` for a
    name that is not one of a sample's files.

    Examples
    --------
    >>> parse_sample_file("b000_v001_conv3.wav")
    ('b000_v001', 'conv3')
    >>> parse_sample_file("s000002.TextGrid")
    ('s000002', None)
    """
    m = _SAMPLE_FILE.match(name)
    if m is None or (m["ext"] == "Sound" and m["layer"] == OUTPUT_LAYER):
        return None
    return m["sample_id"], m["layer"]


def layer_of(file_name) -> str | None:
    """Layer named by the end of a file's stem (``s000003_conv1.wav`` → ``conv1``), else None."""
    match = re.search(rf"_({_LAYER})$", Path(str(file_name)).stem)
    return match.group(1) if match else None


def with_suffix(folder, suffix: str) -> list:
    """The entries of ``folder`` (not its sub-folders) whose suffix is ``suffix`` in any case (``.wav``,
    ``.WAV`` as recorders name them, ``.Wav``), sorted, as :func:`listed` checks them.

    A folder's ``*.wav`` had skipped ``X.WAV`` without a word on a file system that tells case apart."""
    folder = Path(folder)
    return listed(sorted(p for p in folder.iterdir() if p.suffix.lower() == suffix.lower()))


def textgrid_beside(path) -> Path | None:
    """``X.TextGrid`` next to ``X.wav`` (also ``.textgrid`` / ``.TEXTGRID``), or None.

    A named pipe or a folder by that name is returned too: the reader refuses it, naming it, where
    taking it for a missing TextGrid would say something false (or read the pipe for ever)."""
    for suffix in (".TextGrid", ".textgrid", ".TEXTGRID"):
        candidate = Path(path).with_suffix(suffix)
        if candidate.is_file() or not_a_file(candidate):
            return candidate
    return None


def sibling(path, kind: str, keep_suffix: bool = False) -> Path:
    """This process's temporary (``tmp``), backup (``bak``) or set-aside (``old``) name for ``path``, beside it.

    ``.NAME.kindPID``, or ``.STEM.kindPID.SUFFIX`` with ``keep_suffix`` (some writers look at the
    suffix).  Where that would pass :data:`NAME_MAX` bytes (a valid name of 245 bytes or more), the
    stem is shortened and a digest of the whole name added, so any file a valid name can hold can be
    written, backed up and set aside; :func:`is_temporary` knows every such name.
    """
    path = Path(path)
    stem, suffix = (path.stem, path.suffix) if keep_suffix and len(path.suffix) <= 16 else (path.name, "")
    tail = f".{kind}{os.getpid()}{suffix}"
    name = f".{stem}{tail}"
    if len(os.fsencode(name)) <= NAME_MAX:
        return path.with_name(name)
    import hashlib

    digest = hashlib.sha256(os.fsencode(path.name)).hexdigest()[:16]
    room = NAME_MAX - len(os.fsencode(f".~{digest}{tail}"))
    short = os.fsdecode(os.fsencode(stem)[:room])
    while len(os.fsencode(short)) > room:  # a character cut in two decodes to an escape: drop it
        short = short[:-1]
    return path.with_name(f".{short}~{digest}{tail}")


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file left by an interrupted :func:`atomic_path`."""
    return bool(_TEMP_FILE.match(name))


def remove_stale_temporaries(folder, depth: int = 2) -> list:
    """Remove the temporary files of writers that are gone (killed with -9); return their names.

    A temporary name carries its writer's process id; files of a process
    still running (another command writing into the same folder) are kept.
    Sub-folders are searched ``depth`` levels deep (a store's chunks are not).
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        if path.is_dir() and not path.is_symlink() and depth > 1 and path.name != STORE_ZARR \
                and not path.name.startswith("."):
            removed += [f"{path.name}/{name}" for name in remove_stale_temporaries(path, depth - 1)]
            continue
        match = _TEMP_FILE.match(path.name)
        if not match:
            continue
        if process_alive(int(match.group(1))):
            continue  # its writer is alive
        with contextlib.suppress(OSError):
            remove_entry(path)
            removed.append(path.name)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` runs (ours included; a zombie does not); unknown counts as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    try:  # a zombie (dead, not yet reaped: no init reaps orphans in some containers) writes nothing
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (FileNotFoundError, ProcessLookupError):  # it ended between the signal and the read (ESRCH)
        return False
    except (OSError, IndexError):
        return True


# ---------------------------------------------------------------- folder kinds

#: Which kind of folder each ``request["kind"]`` writes.
RUN_KINDS = {"probe": "export", "sweep": "export", "export": "export", "demo": "demo",
             "corpus-synth": "corpus", "corpus-espeak": "corpus", "corpus-cut": "corpus"}

_OWNED_NAMES = {
    "export": {MANIFEST, LATENTS, RUN_JSON, FINISHED, SWEEP_JSON, ACOUSTICS, ACOUSTICS_JSON, ANNOTATE_JSON,
               STATS_DIR, FIGURES_DIR, LISTEN_DIR, EXPLORE_HTML, STORE_ZARR, MANIFEST_PARQUET, LATENTS_PARQUET,
               ANNOTATIONS_PARQUET, ACOUSTICS_PARQUET, ATLAS_CSV, INTERVENTION_CSV},
    "demo": {RUN_JSON, DEMO_JSON, REPORT_MD, REPORT_HTML, DEMO_RANDOM_DIR, FIGURES_DIR, LISTEN_DIR,
             DEMO_ATLAS_DIR, DEMO_ATLAS_PROBE_DIR, DEMO_INTERVENTION_DIR},
    "corpus": {RUN_JSON, CORPUS_CSV, PHONES_CSV, SYNTH_JSON, ITEMS_CSV, ANNOTATE_JSON},
}


def corpus_token(prefix: str, index: int) -> str:
    """Stem of a synthesised corpus token: ``stv00000``, ``redup00012``, ``espeak00003`` …"""
    return f"{prefix}{index:05d}"


def cut_item(recording_stem: str, interval: int, label: str) -> str:
    """Stem of an item cut from a recording: ``<recording>_<interval:04d>_<label>`` (label made safe by the caller)."""
    return f"{recording_stem}_{interval:04d}_{label}"


def folder_kind(request_kind) -> str:
    """The folder kind (``export``, ``demo``, ``corpus``) that a request of ``request_kind`` writes."""
    return RUN_KINDS.get(request_kind, "export")


def owns(kind: str, name: str, folder=None) -> bool:
    """Whether an entry called ``name`` belongs to a folder of ``kind``.

    These are the names ``--overwrite`` removes: for ``export`` every sample
    file (:func:`parse_sample_file`), ``featuremaps_<layer>.npy``, the tables,
    records, ``stats/`` and ``figures/``; for ``demo`` its records, reports and
    sub-folders (``random/``, ``sweep_<var>/``, ``figures/``); for ``corpus`` its
    tables, records and items (:func:`corpus_token`, :func:`cut_item` ``.wav`` and
    ``.TextGrid``), and, given the ``folder`` holding ``name``, a sub-folder holding
    nothing but items and such sub-folders.  Temporary files of an interrupted
    write belong to every kind.
    """
    if is_temporary(name) or name in _OWNED_NAMES[kind]:
        return True
    if kind == "export":
        return (parse_sample_file(name) is not None
                or (name.startswith(FEATURE_MAPS_PREFIX) and name.endswith(".npy")))
    if kind == "demo":
        return name.startswith(sweep_dir(""))
    if kind == "corpus":
        return bool(_CORPUS_ITEM.match(name)) or (folder is not None and _holds_only_items(Path(folder) / name))
    return False


def _holds_only_items(path: Path) -> bool:
    """Whether ``path`` is a real folder holding only corpus items and such folders."""
    return path.is_dir() and not path.is_symlink() and all(
        (_CORPUS_ITEM.match(p.name) and p.is_file()) or _holds_only_items(p) for p in path.iterdir())


def remove_entry(path) -> None:
    """Remove a file or a whole folder."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary name keeps the suffix (some writers look at it).  If the
    block raises, the temporary file is removed and ``path`` is untouched, so a
    folder never holds a half-written file under a final name.  Inside a
    :func:`command_scope` the write is journalled (undone if the command fails)
    and entered in the ledger of the folder that holds it.
    """
    path = Path(path)
    journal_write(path)
    tmp = sibling(path, "tmp", keep_suffix=True)
    try:
        yield tmp
        os.replace(tmp, path)
    except Exception as exc:
        said = isinstance(exc, GanphonError) or (isinstance(exc, OSError) and exc.errno is not None)
        cause = None if said else _refused_write(tmp)
        if cause is not None:  # a library's failed write in its own words (torch: "unexpected pos 3328 vs 3222")
            raise OSError(cause, os.strerror(cause), str(path)) from None
        if isinstance(exc, OSError) and (exc.filename is None or is_temporary(Path(str(exc.filename)).name)):
            exc.filename = str(path)  # a full disk names no file: this write's is ``path``
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            exc.strerror = no_room_for_files(path) or exc.strerror  # out of files, not of bytes
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


#: Free bytes under which a folder counts as full when a library's write into it has failed
FULL_BELOW = 1 << 20


def _refused_write(tmp: Path) -> int | None:
    """The errno of what refused a write a library reports in its own words (torch's "unexpected pos …",
    Praat's "Error encoding FLAC stream", pyarrow's "Error writing bytes"), as the system would have said it:
    ``EFBIG`` when the file reached the size limit (``ulimit -f``), ``ENOSPC`` when its folder is full;
    None for anything else (the library's words stand)."""
    limit = soft_limit("RLIMIT_FSIZE")
    try:
        if limit is not None and tmp.is_file() and tmp.stat().st_size >= limit:
            return errno.EFBIG
        usage = shutil.disk_usage(tmp.parent)
    except OSError:
        return None
    return errno.ENOSPC if usage.total and usage.free < FULL_BELOW else None


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding=encoding)


# ---------------------------------------------------------------- ownership: locks, ledgers, undo

LOCK = ".ganphon.lock"
LEDGER = ".ganphon.ledger"
_LEDGER_HEAD = "# ganphon ledger: the entries ganphon wrote in this folder; kind="

#: Names that mark a training run folder (``ganphon train``).
_TRAINING_MARKS = (LOG_CSV, G_LATEST, Q_LATEST)


def _key(path) -> str:
    return os.path.abspath(os.fspath(path))


class _Scope:
    """What one command wrote: locks held, files created and replaced, entries removed."""

    def __init__(self, journal: bool = True):
        self.journal = journal  # False: locks only (the Python API's entry points, :func:`folder_locks`)
        self.locks = {}        # folder key → (fd, folder, keep_on_failure)
        self.snapshots = {}    # folder key → top-level names when locked
        self.created = []      # paths that did not exist (files, folders)
        self.backups = []      # (path, backup): the old version of a replaced file
        self.trash = []        # (path, trashed): entries removed by --overwrite
        self.seen = set()      # path keys already journalled

    def _kept(self, path) -> bool:
        if Path(path).name == LEDGER:
            return False  # the ledger is always put back (a kept folder's kind also shows in its files)
        key = _key(path)
        return any(keep and (key == k or key.startswith(k + os.sep)) for k, (_, _, keep) in self.locks.items())

    def commit(self) -> None:
        for key, names in self.snapshots.items():  # what appeared while the folder was locked is ganphon's
            folder = self.locks[key][1] if key in self.locks else None
            if folder is not None and folder.is_dir() and read_ledger(folder) is not None:
                for entry in folder.iterdir():
                    if entry.name not in names and not entry.name.startswith("."):
                        _note_in_ledger(entry)
        for _, backup in self.backups:
            with contextlib.suppress(OSError):
                remove_entry(backup)
        for _, trashed in self.trash:
            with contextlib.suppress(OSError):
                remove_entry(trashed)

    def rollback(self) -> None:
        """Put every folder back as the command found it (best effort: errors here are ignored)."""
        _close_ledgers()  # the ledger's old version is put back below
        self._put_back(self.created, self.backups, kept=self._kept)
        for key, names in self.snapshots.items():  # what else appeared (a store's chunks, folders) …
            folder = self.locks[key][1] if key in self.locks else None
            if folder is None or self._kept(folder) or not folder.is_dir() or read_ledger(folder) is None:
                continue  # … in a folder ganphon owns, never in yours (a folder of recordings, the working folder)
            for entry in folder.iterdir():
                if entry.name not in names and entry.name != LOCK and not _TEMP_FILE.match(entry.name):
                    with contextlib.suppress(OSError):
                        remove_entry(entry)
        self._put_back_trash(self.trash)

    def marks(self) -> tuple:
        """Where the journal stands now (:meth:`undo_since` puts the folders back to here)."""
        return len(self.created), len(self.backups), len(self.trash)

    def undo_since(self, marks: tuple) -> None:
        """Put back what was written, replaced or removed since :meth:`marks` (best effort, as :meth:`rollback`)."""
        created, backups, trash = marks
        undone = [*self.created[created:], *(p for p, _ in self.backups[backups:]),
                  *(p for p, _ in self.trash[trash:])]
        self._put_back(self.created[created:], self.backups[backups:])
        self._put_back_trash(self.trash[trash:])
        del self.created[created:], self.backups[backups:], self.trash[trash:]
        self.seen -= {_key(path) for path in undone}  # written again later in the command: journalled afresh

    @staticmethod
    def _put_back(created, backups, kept=lambda path: False) -> None:
        """Remove the entries ``created`` and put back the files ``backups`` replaced (newest first), except
        those ``kept``; errors are ignored."""
        for path in reversed(created):
            if not kept(path) and (path.exists() or path.is_symlink()):
                with contextlib.suppress(OSError):
                    remove_entry(path)
        for path, backup in reversed(backups):
            with contextlib.suppress(OSError):
                if kept(path) or _same_file(path, backup):  # never replaced: rename() would do nothing
                    remove_entry(backup)
                else:
                    if backup.is_dir() and not backup.is_symlink() and (path.exists() or path.is_symlink()):
                        remove_entry(path)  # a folder changed in place: rename() cannot replace a full folder
                    os.replace(backup, path)

    @staticmethod
    def _put_back_trash(trash) -> None:
        """Put back the entries set aside (newest first); errors are ignored."""
        for path, trashed in reversed(trash):
            with contextlib.suppress(OSError):
                os.replace(trashed, path)

    def release(self, failed: bool) -> None:
        for key, (fd, folder, keep) in reversed(list(self.locks.items())):
            with contextlib.suppress(OSError):  # a writer that died while the command ran (a killed run's
                remove_stale_temporaries(folder)  # late worker) leaves nothing behind it either
            with contextlib.suppress(OSError):
                (folder / LOCK).unlink()
            with contextlib.suppress(OSError):
                os.close(fd)
            if failed and keep:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if the failed run left it empty
        self.locks.clear()


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


_SCOPES: list = []
#: Folders locked outside any scope (the Python API): their writes still enter the ledger.
_AMBIENT: dict = {}
#: Ledger files held open (append-only, unbuffered) while a command runs: folder key → descriptor.
_LEDGER_FDS: dict = {}


@contextlib.contextmanager
def command_scope():
    """Run a command as one unit of work on the file system.

    Folders it locks stay locked until the end; every atomic write, ledger
    entry and ``--overwrite`` removal is journalled.  If the block raises
    (other than Ctrl-C), everything is undone: files it created are removed,
    files it replaced and entries it removed are put back.  Ctrl-C keeps what
    was written, so the same command resumes.  Nested scopes join the outer one.
    """
    if _SCOPES:
        yield _SCOPES[-1]
        return
    scope = _Scope()
    _SCOPES.append(scope)
    failed = False
    try:
        yield scope
    except KeyboardInterrupt:
        scope.commit()
        raise
    except SystemExit as exc:
        failed = exc.code not in (0, None)
        scope.rollback() if failed else scope.commit()
        raise
    except BaseException:
        failed = True
        scope.rollback()
        raise
    else:
        scope.commit()
    finally:
        _SCOPES.pop()
        _close_ledgers()
        scope.release(failed)
        for key in _AMBIENT:  # ledgers are read afresh by the next command
            _AMBIENT[key] = None


@contextlib.contextmanager
def all_or_nothing():
    """Write a set of files as one: a Ctrl-C (SIGTERM, SIGHUP) inside the block puts back every file the block
    wrote, replaced or removed before it is passed on.

    A command's Ctrl-C otherwise keeps what was written, for a resume; a result written as a set (the tables
    and record of ``stats``, a table and its record) has nothing to resume from, and kept half-written it
    would mix two runs.  A failure undoes the whole command as before.  Outside a command (the Python API)
    nothing is journalled and the block runs as it is.
    """
    scope = _scope()
    if scope is None:
        yield
        return
    marks = scope.marks()
    try:
        yield
    except KeyboardInterrupt:
        import signal
        import threading

        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None  # a second Ctrl-C waits
        try:
            scope.undo_since(marks)
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
        raise


@contextlib.contextmanager
def folder_locks():
    """Hold the folder locks taken in the block until it ends; also a decorator.

    The Python API's entry points that write a folder run under it, so a
    second process writing the same folder (through the API or the command
    line) is refused with the holder's process id, as between two commands.
    Inside a command (:func:`command_scope`) or another entry point it joins
    the outer scope: the locks are that scope's, and this process may take a
    folder it already holds again.  Unlike a command, nothing is undone when
    the block fails.
    """
    if _SCOPES:
        yield _SCOPES[-1]
        return
    scope = _Scope(journal=False)
    _SCOPES.append(scope)
    try:
        yield scope
    finally:
        _SCOPES.pop()
        _close_ledgers()
        scope.release(False)
        for key in _AMBIENT:
            _AMBIENT[key] = None


def keep_on_failure(folder) -> None:
    """From now on, what the running command wrote into ``folder`` (locked by it) stays even if it fails.

    A training run calls it once its first checkpoint is written: a run that
    fails before that (bad data, a non-finite loss at the first step) leaves
    nothing, one that fails later keeps its checkpoints, the points to resume from.
    """
    scope = _scope()
    key = _key(folder)
    if scope is not None and key in scope.locks:
        fd, locked, _ = scope.locks[key]
        scope.locks[key] = (fd, locked, True)


def writes_into(locate=None):
    """Decorator of an API entry point that writes into a folder it reads (annotate, measure, stats, plot):
    the folder ``locate(arguments)`` names (``arguments``: the call's arguments by parameter name, defaults
    filled in; default :func:`out_or_folder`) is locked (:func:`lock_folder`) for the whole call, so another
    process writing it, through the API or the command line, is refused with the holder's id."""
    import inspect

    locate = locate or out_or_folder

    def decorate(func):
        signature = inspect.signature(func)

        @functools.wraps(func)
        def locked(*args, **kwargs):
            with folder_locks():
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                folder = locate(bound.arguments)
                if folder is not None and Path(folder).is_dir():
                    lock_folder(folder, optional=True)
                return func(*args, **kwargs)
        return locked
    return decorate


def out_or_folder(arguments) -> Path:
    """The folder an entry point writes: its ``out`` when given (the folder it reads is then only read), else
    the ``folder`` it reads."""
    out = arguments.get("out")
    return Path(out if out is not None else arguments["folder"])


def _scope():
    """The journalling scope of the running command, or None."""
    return _SCOPES[-1] if _SCOPES and _SCOPES[-1].journal else None


def journal_write(path) -> None:
    """Record that ``path`` is about to be (re)written: in the ledger, and for undo."""
    path = Path(path)
    _note_in_ledger(path)
    scope = _scope()
    if scope is None:
        return
    key = _key(path)
    if key in scope.seen:
        return
    scope.seen.add(key)
    if path.is_file() and not path.is_symlink():
        backup = sibling(path, "bak")
        try:
            os.link(path, backup)  # the rename onto ``path`` leaves this inode to the backup
        except OSError:
            _copy_aside(shutil.copy2, path, backup)
        scope.backups.append((path, backup))
    elif not path.exists():
        scope.created.append(path)


def unshare(path) -> bool:
    """Make the file ``path`` this folder's own before it is changed in place (appended to, truncated,
    written through a memory map), so that the change stays in this folder.

    A file hard-linked from another folder (a copy made with ``cp -al``, a backup by
    ``rsync --link-dest``) or a link to a file elsewhere (a git-annex or DataLad folder)
    is one file in two places: appending to it had changed the other folder too (a
    resumed copy's ``finished.txt`` had recorded its samples in the original's).  Such a
    path is replaced by a copy of what it holds (written beside it, then renamed over it;
    writable by its owner, as ``git annex unlock`` does).  A file only this folder holds,
    a folder, or nothing there: unchanged.  Returns whether the path was replaced.
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.stat(path)
        except OSError:
            return False  # a link to nothing: the folder check names it (dangling_link)
        if not stat.S_ISREG(target.st_mode):
            return False
        mode = target.st_mode
    elif stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        mode = st.st_mode
    else:
        return False
    tmp = sibling(path, "tmp", keep_suffix=True)
    try:
        shutil.copyfile(path, tmp)
        os.chmod(tmp, stat.S_IMODE(mode) | stat.S_IWUSR)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return True


def journal_modify(path) -> None:
    """Record that ``path`` is about to be changed in place: what it holds now is kept for undo.

    A file shared with another place (a hard link, a link to a file elsewhere) is
    first made this folder's own (:func:`unshare`).  Call it once before the first
    change within a command (later calls do nothing).  A file (appended to, or
    written through a memory map) is copied.  A folder (a zarr store whose chunks
    and metadata are rewritten, created or removed) is kept as a tree of hard links, which costs no
    space: its writers must replace a file (write a temporary, rename it
    over), never change one in place, as zarr's local store does.  A path
    that does not exist yet is removed again if the command fails.
    """
    path = Path(path)
    unshare(path)
    _note_in_ledger(path)
    scope = _scope()
    if scope is None or _key(path) in scope.seen:
        return
    scope.seen.add(_key(path))
    if path.is_dir() and not path.is_symlink():
        backup = sibling(path, "bak")
        if backup.exists():
            remove_entry(backup)
        try:
            shutil.copytree(path, backup, symlinks=True, copy_function=os.link)
        except (OSError, shutil.Error):  # no hard links on this file system
            if backup.exists():
                remove_entry(backup)
            _copy_aside(lambda a, b: shutil.copytree(a, b, symlinks=True), path, backup)
        scope.backups.append((path, backup))
    elif path.is_file():
        backup = sibling(path, "bak")
        _copy_aside(shutil.copy2, path, backup)
        scope.backups.append((path, backup))
    else:
        scope.created.append(path)


def _copy_aside(copy, path: Path, backup: Path) -> None:
    """``copy(path, backup)``; a copy that fails part way (a full disk) is removed before the error goes on,
    where it had been left beside the file as a half-written backup that nothing undid."""
    try:
        copy(path, backup)
    except BaseException as exc:
        if os.path.lexists(backup):
            remove_entry(backup)
        if isinstance(exc, OSError) and exc.filename is None:  # a full disk names no file: the copied one
            exc.filename = str(path)
        raise


def make_folder(folder) -> Path:
    """``mkdir -p folder``, journalled: a failed command removes the folders it made."""
    folder = Path(folder)
    missing = folder
    while not missing.parent.exists() and missing.parent != missing:
        missing = missing.parent
    existed = folder.is_dir()
    folder.mkdir(parents=True, exist_ok=True)
    scope = _scope()
    if scope is not None and not existed:
        scope.created.append(missing)
    return folder


def discard(path) -> None:
    """Remove a file or folder; inside a scope, kept aside until the command succeeds."""
    path = Path(path)
    scope = _scope()
    if scope is None:
        remove_entry(path)
        return
    trashed = sibling(path, "old")
    if trashed.exists():
        remove_entry(trashed)
    os.replace(path, trashed)
    scope.trash.append((path, trashed))


def lock_folder(folder, kind: str | None = None, keep_on_failure: bool = False, optional: bool = False) -> Path:
    """Take ``folder`` (made if missing) for this command; another ganphon command there is refused.

    The lock is ``folder/.ganphon.lock``, holding the process id, under an
    advisory ``flock`` the system drops when the process dies, so a lock left
    by a killed command is simply taken over.  Inside a :func:`command_scope`
    or :func:`folder_locks` it is held until that ends; outside, the folder is
    only checked.
    Temporary files of dead writers are removed once the lock is held.

    Parameters
    ----------
    folder : path-like
    kind : str, optional
        The kind of folder the command makes (``export``, ``demo``, ``corpus``,
        ``training``); a folder of another kind is refused and a new one is
        recorded as this kind in its ledger.
    keep_on_failure : bool
        What the command wrote stays even when it fails (training keeps its checkpoints).
    optional : bool
        A folder where no lock can be written is left unlocked (the command's
        own write then names what fails).

    Raises
    ------
    GanphonError
        If another live process holds the folder, it is of another kind, or it
        cannot be made or written.
    """
    import fcntl

    from .errors import GanphonError, os_problem

    folder = Path(folder)
    scope = _SCOPES[-1] if _SCOPES else None
    key = _key(folder)
    if scope is not None and key in scope.locks:
        if kind is not None:
            check_kind(folder, kind)
        return folder
    if folder.exists() and not folder.is_dir():
        raise GanphonError(f"{folder}: exists and is not a folder")
    if kind is not None:
        check_kind(folder, kind)
    fd = None
    try:
        make_folder(folder)
        while True:
            fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _lock_holder(fd)
                os.close(fd)
                raise GanphonError(f"{folder}: in use by another ganphon command (process {holder}); wait for it "
                                   "to finish or choose another folder") from None
            try:  # the file we locked must still be the lock (a releasing holder unlinks it)
                same = os.fstat(fd).st_ino == os.stat(folder / LOCK).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
            fd = None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as exc:
        if fd is not None:  # locked but its pid not written (a full disk): released, or this very command's next
            os.close(fd)    # lock of the folder had found it "in use by another ganphon command"
        if optional:
            return folder
        raise GanphonError(f"{folder}: cannot write there ({os_problem(exc)})") from None
    if scope is not None:  # held by its real path: releasing it must not depend on the path's parts still being
        # there (``--out new/..`` makes ``new``, which undoing a failed command removes again)
        scope.locks[key] = (fd, folder.resolve(), keep_on_failure)
        scope.snapshots[key] = {p.name for p in folder.iterdir()}
    remove_stale_temporaries(folder)
    _AMBIENT.setdefault(key, None)
    if scope is None:  # the Python API: checked, not held
        with contextlib.suppress(OSError):
            (folder / LOCK).unlink()
        os.close(fd)
    return folder


def check_not_being_written(folder) -> None:
    """Refuse to read ``folder`` while another ganphon command holds its lock (it is being written).

    The check takes and drops a shared ``flock`` on the writer's lock file;
    a folder without one (never written, or its writer done) passes, and
    nothing is written into it.
    """
    import fcntl

    from .errors import GanphonError

    try:
        fd = os.open(Path(folder) / LOCK, os.O_RDONLY)
    except OSError:
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GanphonError(f"{folder}: being written by another ganphon command (process {_lock_holder(fd)}); "
                               "wait for it to finish before reading it") from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _lock_holder(fd) -> str:
    """The process id written in a lock file (read a few times: the holder writes it just after locking)."""
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.01)
    return "unknown"


def read_ledger(folder) -> tuple[str | None, set] | None:
    """``(kind, names)`` from ``folder``'s ledger, or None when it has none."""
    path = Path(folder) / LEDGER
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    except OSError:
        return None
    if not lines or not lines[0].startswith(_LEDGER_HEAD):
        return None
    kind = lines[0][len(_LEDGER_HEAD):].strip() or None
    return kind, {line for line in lines[1:] if line}


def start_ledger(folder, kind: str, fresh: bool = False) -> None:
    """Give ``folder`` a ledger of ``kind`` (``fresh``: forget the entries of an earlier run).

    A folder that a ganphon release without ledgers wrote (it has a ``run.json``)
    starts with the entries named as that kind's (:func:`owns`).
    """
    folder = Path(folder)
    found = read_ledger(folder)
    if found is not None and not fresh and found[0] == kind:
        return
    names = []
    if found is None and (folder / RUN_JSON).is_file() and kind in _OWNED_NAMES:
        names = sorted(p.name for p in folder.iterdir() if owns(kind, p.name, folder)
                       and not p.name.startswith("."))
    journal_modify(folder / LEDGER)
    _close_ledgers()
    with open(folder / LEDGER, "w", encoding="utf-8") as fh:
        fh.write(_LEDGER_HEAD + kind + "\n" + "".join(n + "\n" for n in names))
    if _key(folder) in _AMBIENT:
        _AMBIENT[_key(folder)] = None


def _ledger_folder(key: str):
    """The locked folder (a key of ``_AMBIENT``) holding the absolute path ``key``, and the top-level name there."""
    parent = os.path.dirname(key)
    while parent not in _AMBIENT:
        up = os.path.dirname(parent)
        if up == parent:
            return None, None
        parent = up
    rest = key[len(parent):].lstrip(os.sep)
    return parent, rest.split(os.sep, 1)[0]


def _note_in_ledger(path: Path) -> None:
    """Enter ``path``'s top-level name in the ledger of the locked folder holding it."""
    parent, name = _ledger_folder(_key(path))
    if parent is not None:
        _enter_names(parent, (name,))


def note_in_ledger(folder, names) -> None:
    """Enter the entries ``names`` of ``folder`` in its ledger at once, before they are written.

    A writer of many files (a batch of samples) names them all in one append;
    each file's own write then finds its name there.  A name entered for a
    file that a killed run never wrote is harmless: the ledger only ever
    claims entries that exist (:func:`owned_entries`).
    """
    key = _key(folder)
    parent, top = _ledger_folder(os.path.join(key, "x"))
    if parent is None:
        return
    if parent != key:  # a sub-folder of the locked folder: its own top-level name
        names = (top,)
    _enter_names(parent, names)


def _enter_names(parent: str, names) -> None:
    """Append the ``names`` not yet in ``parent``'s ledger to it, in one write."""
    known = _AMBIENT[parent]
    if known is None:
        found = read_ledger(parent)
        if found is None:
            return  # a folder ganphon does not own (measure in a folder of WAVs)
        known = _AMBIENT[parent] = found[1]
    new = []
    for name in names:
        if name not in known and name not in (LEDGER, LOCK) and not _TEMP_FILE.match(name):
            known.add(name)
            new.append(name)
    if not new:
        return
    ledger = os.path.join(parent, LEDGER)
    scope = _scope()
    if scope is not None and ledger not in scope.seen:
        journal_modify(ledger)
    text = "".join(n + "\n" for n in new).encode("utf-8", errors="surrogateescape")
    with contextlib.suppress(OSError):
        fd = _LEDGER_FDS.get(parent) if _SCOPES else None
        if fd is None:
            unshare(ledger)  # a copy's ledger hard-linked to the original's: append to this folder's only
            fd = os.open(ledger, os.O_WRONLY | os.O_APPEND)
            if _SCOPES:  # kept open for the command (closed as it ends); each append reaches the file at once
                _LEDGER_FDS[parent] = fd
        try:
            os.write(fd, text)
        finally:
            if parent not in _LEDGER_FDS:
                os.close(fd)


def _close_ledgers() -> None:
    """Close the ledgers kept open by a command (it ends, or a ledger is rewritten)."""
    while _LEDGER_FDS:
        _, fd = _LEDGER_FDS.popitem()
        with contextlib.suppress(OSError):
            os.close(fd)


def text_encoding(raw: bytes) -> str:
    """Encoding of a text file from its first bytes: ``utf-16`` (either BOM), ``utf-8-sig`` or ``utf-8``."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    if raw[:3] == b"\xef\xbb\xbf":
        return "utf-8-sig"
    return "utf-8"


def folder_kind_of(folder) -> tuple[str | None, str]:
    """The kind of folder ``folder`` is and what says so: ``(kind, evidence)``; kind None if unknown."""
    folder = Path(folder)
    if not folder.is_dir():
        return None, ""
    found = read_ledger(folder)
    if found is not None and found[0]:
        return found[0], LEDGER
    marks = [name for name in _TRAINING_MARKS if (folder / name).exists()]
    if marks or any(checkpoint_step(p.name) is not None for p in folder.iterdir()):
        return "training", (marks[0] if marks else "ckpt_step*.pt")
    import json

    try:
        raw = (folder / RUN_JSON).read_bytes()
        record = json.loads(raw.decode(text_encoding(raw)))  # as io.read_json decodes it
    except (OSError, ValueError):
        return None, ""
    request = record.get("request") if isinstance(record, dict) else None
    if isinstance(request, dict) and isinstance(request.get("kind"), str):
        return folder_kind(request["kind"]), f"{RUN_JSON} of a {request['kind']} run"
    return None, ""


def check_kind(folder, kind: str) -> None:
    """Refuse to make ``folder`` a folder of ``kind`` when it is one of another kind (even with --overwrite)."""
    from .errors import GanphonError

    have, evidence = folder_kind_of(folder)
    if have is not None and have != kind:
        raise GanphonError(f"{folder}: is a{'n' if have[0] in 'aeiou' else ''} {have} folder ({evidence}), not "
                           f"a{'n' if kind[0] in 'aeiou' else ''} {kind} folder; choose another --out")


def owned_entries(folder, kinds) -> list | None:
    """Entries of ``folder`` that ganphon wrote, from its ledger (None: no ledger; use :func:`owns`)."""
    folder = Path(folder)
    found = read_ledger(folder)
    if found is None:
        return None
    names = found[1]
    return [p for p in folder.iterdir()
            if p.name in names or _TEMP_FILE.match(p.name)]


def check_plan(outputs: dict, inputs: dict | None = None) -> None:
    """Refuse a plan that writes two outputs to one path, or an output onto an input.

    Parameters
    ----------
    outputs, inputs : dict
        ``{what: path}``, ``what`` naming the option or file in the message.
    """
    from .errors import GanphonError

    seen = {}
    for what, path in outputs.items():
        if path is None:
            continue
        key = _key(path)
        if key in seen:
            raise GanphonError(f"{path}: would be written as both {seen[key]} and {what}; choose another name")
        seen[key] = what
    for what, path in (inputs or {}).items():
        if path is not None and _key(path) in seen:
            raise GanphonError(f"{path}: is {what}, and {seen[_key(path)]} would overwrite it; choose another name")


def check_output_file(path, option: str, overwrite: bool = False) -> None:
    """Refuse, before any work, an output file that cannot be written or would replace a file unasked.

    Parameters
    ----------
    path : str or Path
        The file an option names (folders missing on its path are made when it is written).
    option : str
        The option, for the message (``--out``, ``--json``).
    overwrite : bool
        Whether an existing file may be replaced.
    """
    from .errors import GanphonError

    path = Path(path)
    if path.is_dir():
        raise GanphonError(f"{path}: is a folder; {option} takes a file name")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise GanphonError(f"{path}: exists; add --overwrite to replace it, or choose another {option}")
        if not path.is_file():
            raise GanphonError(f"{path}: is not a regular file; {option} would not replace it")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise GanphonError(f"{path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GanphonError(f"{path}: cannot write in {parent} (permission denied or a read-only file system)")


#: Files of an exported folder that its readers read, whatever its ledger says.
_FOLDER_FILES = (MANIFEST, LATENTS, RUN_JSON, FINISHED, SWEEP_JSON)
_SAMPLE_SUFFIXES = (".wav", ".sound", ".textgrid", ".flac")


def check_not_folder_file(folder, path, option: str, what: str | None = None) -> None:
    """Refuse an output file that would replace one of the files of a folder a command reads (``what``
    names it), or of a ganphon folder it is written into (``what`` None: its parent, when ganphon made it).

    The folder's own files are the entries its ledger names, and in any folder the
    manifest, latents, run record and sample files (WAV, Sound, TextGrid):
    never replaced by an option's output file, ``--overwrite`` or not (``new-model --out
    DIR/manifest.csv --overwrite`` had put a checkpoint in place of an export's manifest).
    """
    from .errors import GanphonError

    folder, path = Path(folder), Path(path)
    if not path.exists() or not folder.is_dir() or not _same_file(path.parent, folder):
        return
    kind = None
    if what is None:
        kind = folder_kind_of(folder)[0]
        if kind is None:  # a folder of the user's: --overwrite replaces its files as asked
            return
    ledger = read_ledger(folder)
    if (path.name in (ledger[1] if ledger else ()) or path.name in _FOLDER_FILES
            or path.suffix.lower() in _SAMPLE_SUFFIXES):
        whose = f"{folder} ({what}), which this command reads" if what else f"the {kind} folder {folder}"
        raise GanphonError(f"{path}: is one of the files of {whose}; {option} would overwrite it; choose "
                           "another name")
