"""File names and atomic writes: the one implementation of ganphon's folder layout.

An exported folder holds, for every sample ``ID``:

* ``ID_output.wav`` — the generated waveform, float32 WAV at ``sr``;
* ``ID_<layer>.wav`` — a layer series upsampled to the output length, float32 WAV at ``sr``;
* ``ID_<layer>.Sound`` — the same series at its native rate, as a Praat text Sound;
* ``ID.TextGrid`` — one TextGrid time-aligned with every file of the sample;

plus ``manifest.csv`` (one row per sample × layer), ``latents.csv`` (the full latent
vector of every sample) and ``run.json`` (command, versions, seed).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

MANIFEST = "manifest.csv"
LATENTS = "latents.csv"
RUN_JSON = "run.json"
OUTPUT_LAYER = "output"


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


def sample_id(index: int) -> str:
    """Default identifier of the ``index``-th sample of a run (``s000000`` …)."""
    return f"s{index:06d}"


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
