"""File names and atomic writes: the one implementation of ganphon's folder layout.

An exported folder holds, for every sample ``ID``:

* ``ID_output.wav`` — the generated waveform, float32 WAV at ``sr``;
* ``ID_<layer>.wav`` — a layer series upsampled to the output length, float32 WAV at ``sr``;
* ``ID_<layer>.Sound`` — the same series at its native rate, as a Praat text Sound;
* ``ID.TextGrid`` — one TextGrid time-aligned with every file of the sample;

plus ``manifest.csv`` (one row per sample × layer), ``latents.csv`` (the full latent
vector of every sample), ``run.json`` (the request, the planned files, command,
versions, seed; written before the first sample) and ``finished.txt`` (one line
per finished sample, appended as samples finish).

Every kind of folder ganphon writes owns a fixed set of names (:func:`owns`):
``--overwrite`` removes exactly those, so a folder never mixes two runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

MANIFEST = "manifest.csv"
LATENTS = "latents.csv"
RUN_JSON = "run.json"
FINISHED = "finished.txt"
SWEEP_JSON = "sweep.json"
ACOUSTICS = "acoustics.csv"
ACOUSTICS_JSON = "acoustics.json"
STATS_DIR = "stats"
FIGURES_DIR = "figures"
DEMO_JSON = "demo.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
DEMO_RANDOM_DIR = "random"
LISTEN_DIR = "listen"              # 16-bit listening copies of the float WAVs (reports, explorer)
EXPLORE_HTML = "explore.html"      # the sweep explorer page (ganphon explore)
OUTPUT_LAYER = "output"
POSTPROC_LAYER = "postproc"        # WaveGAN's post-processing filter after the output, when a model has it
# a training run folder
LOG_CSV = "train_log.csv"
G_LATEST = "G_latest.pt"
Q_LATEST = "Q_latest.pt"
PREVIEW_DIR = "preview"
_CHECKPOINT = re.compile(r"^ckpt_step(\d+)\.pt$")
# A columnar store (``--store zarr``, see ganphon.store): arrays, tables, per-chunk Parquet parts.
STORE_ZARR = "store.zarr"
MANIFEST_PARQUET = "manifest.parquet"
LATENTS_PARQUET = "latents.parquet"
ANNOTATIONS_PARQUET = "annotations.parquet"
ACOUSTICS_PARQUET = "acoustics.parquet"
# A training corpus (``ganphon corpus synth | cut``): one <item>.wav + <item>.TextGrid per item, tables.
CORPUS_CSV = "corpus.csv"
PHONES_CSV = "phones.csv"
SYNTH_JSON = "synth.json"
ITEMS_CSV = "items.csv"

_LAYER = r"(?:dense|conv\d+|output|postproc)"
_SAMPLE_FILE = re.compile(rf"^(?P<sample_id>.+?)(?:_(?P<layer>{_LAYER})\.(?P<ext>wav|Sound)|\.(?P<tg>TextGrid))$")
_TEMP_FILE = re.compile(r"^\..+\.tmp\d+(?:\.[^.]*)?$")
_CORPUS_ITEM = re.compile(r"^(?:[A-Za-z]+\d{5}|.+_\d{4}_\w*)\.(?:wav|TextGrid)$")


_CONV = re.compile(r"^conv(\d+)$")


def layer_rank(layer: str) -> tuple:
    """Sort key putting layers in network order: dense, conv1 … convK, output, postproc, then others by name."""
    name = str(layer)
    if name == "dense":
        return (0, 0, "")
    match = _CONV.match(name)
    if match:
        return (1, int(match.group(1)), "")
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


def layer_wav(sample_id: str, layer: str) -> str:
    """File name of the WAV of ``layer`` (``output`` for the waveform itself)."""
    return f"{sample_id}_{layer}.wav"


def layer_sound(sample_id: str, layer: str) -> str:
    """File name of the native-rate Praat Sound of ``layer``."""
    return f"{sample_id}_{layer}.Sound"


def textgrid(sample_id: str) -> str:
    """File name of the sample's TextGrid."""
    return f"{sample_id}.TextGrid"


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


def sweep_dir(var: str) -> str:
    """Sub-folder of the demo holding the sweep of ``var`` (``sweep_z11``)."""
    return f"sweep_{var}"


def sample_files(sample_id: str, layers) -> list[str]:
    """Every file name one exported sample owns: output WAV, layer WAVs and Sounds, the TextGrid last."""
    names = [layer_wav(sample_id, OUTPUT_LAYER)]
    for layer in layers:
        names += [layer_wav(sample_id, layer), layer_sound(sample_id, layer)]
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


def textgrid_beside(path) -> Path | None:
    """``X.TextGrid`` next to ``X.wav`` (also ``.textgrid`` / ``.TEXTGRID``), or None."""
    for suffix in (".TextGrid", ".textgrid", ".TEXTGRID"):
        candidate = Path(path).with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file left by an interrupted :func:`atomic_path`."""
    return bool(_TEMP_FILE.match(name))


def remove_stale_temporaries(folder) -> list:
    """Remove the temporary files of writers that are gone (killed with -9); return their names.

    A temporary name carries its writer's process id; files of a process
    still running (another command writing into the same folder) are kept.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = re.match(r"^\..+\.tmp(\d+)(?:\.[^.]*)?$", path.name)
        if not match or not path.is_file():
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
            continue  # its writer is alive
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


# ---------------------------------------------------------------- folder kinds

#: Which kind of folder each ``request["kind"]`` writes.
RUN_KINDS = {"probe": "export", "sweep": "export", "export": "export", "demo": "demo",
             "corpus-synth": "corpus", "corpus-espeak": "corpus", "corpus-cut": "corpus"}

_OWNED_NAMES = {
    "export": {MANIFEST, LATENTS, RUN_JSON, FINISHED, SWEEP_JSON, ACOUSTICS, ACOUSTICS_JSON,
               STATS_DIR, FIGURES_DIR, LISTEN_DIR, EXPLORE_HTML, STORE_ZARR, MANIFEST_PARQUET, LATENTS_PARQUET,
               ANNOTATIONS_PARQUET, ACOUSTICS_PARQUET},
    "demo": {RUN_JSON, DEMO_JSON, REPORT_MD, REPORT_HTML, DEMO_RANDOM_DIR, FIGURES_DIR, LISTEN_DIR},
    "corpus": {RUN_JSON, CORPUS_CSV, PHONES_CSV, SYNTH_JSON, ITEMS_CSV},
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
    folder never holds a half-written file under a final name.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding=encoding)
