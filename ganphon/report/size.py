"""The demo folder's size: what its pages use stays, the per-sample files nothing shows go.

The demo measures ~1,000 samples; most are summarised by tables and never shown.
After its tables are written, :func:`drop_sample_files` removes the signal files
(output WAV, layer WAVs and Sounds, feature maps) of the samples no page, player
or Praat view uses: the random samples but the one in the layer stack, and the
atlas, its probe and the intervention (their tables and figures stay).  The
sweeps keep every file (their explorer pages and the Praat plugin's View sample
and View sweep read them).  A resumed demo regenerates the removed files (a
sweep completes what is missing), measures again the same numbers, and removes
them again.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import layout

#: The demo folder's size limit (bytes) the tests check on the full demo's layout.
DEMO_MAX_BYTES = 40_000_000


def drop_sample_files(folder, keep=(), textgrids: bool = True, tables=()) -> int:
    """Remove the per-sample files of every sample of ``folder`` not in ``keep``; return the bytes freed.

    Parameters
    ----------
    folder : path-like
        An exported folder (``ID_output.wav``, ``ID_<layer>.Sound`` …).
    keep : iterable of str
        Sample ids whose files stay.
    textgrids : bool
        Keep every sample's TextGrid (the annotation the tables were measured on).
    tables : iterable of str
        Further file names in ``folder`` to remove (a table the section summarised), with the
        feature maps (``featuremaps_<layer>.npy``) always.
    """
    folder = Path(folder)
    keep = set(keep)
    freed = 0
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        parsed = layout.parse_sample_file(path.name)
        if parsed is not None:
            sample_id, layer = parsed
            drop = sample_id not in keep and (layer is not None or not textgrids)
        else:
            drop = path.name in set(tables) or (path.name.startswith(layout.FEATURE_MAPS_PREFIX)
                                                and path.suffix == ".npy")
        if drop:
            freed += path.stat().st_size
            layout.remove_entry(path)
    return freed


def folder_bytes(folder) -> tuple[int, int]:
    """``(bytes, files)`` of every file under ``folder`` (the sum of file sizes, not disk blocks)."""
    total = count = 0
    for root, _, files in os.walk(folder):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
            count += 1
    return total, count
