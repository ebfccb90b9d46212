"""Export: every output and layer as files a phonetician opens in Praat.

For each sample ``ID`` (names from :mod:`ganphon.layout`):

* ``ID_output.wav`` — float32 WAV at the output rate;
* ``ID_<layer>.Sound`` — the native-rate series as a Praat binary Sound with its
  exact sampling period (62.5 Hz stays 62.5 Hz; a WAV header would round it):
  each layer is stored once;
* ``ID_<layer>.wav`` — only with ``wav_layers``: the layer upsampled to the output
  rate, float32, not clipped unless asked (``clip=1.0`` reproduces the paper);
  measuring computes the same samples in memory from the Sound;
* ``ID.TextGrid`` — long-format UTF-8, time-aligned with every file of the
  sample, with a ``condition`` tier saying what was varied.

and for the folder ``manifest.csv`` (one row per sample × layer),
``latents.csv`` (the full latent of every sample) and ``run.json``.  Every
file is written under a temporary name and renamed.  ``run.json`` records the
request and the planned files before the first sample; ``finished.txt`` gets a
line as each sample finishes.  Rerunning the same request into the same folder
completes only the samples not recorded as finished (or with a file missing);
``--overwrite`` removes everything an earlier run of any request wrote
(by name pattern, see :func:`ganphon.layout.owns`) before the first sample.
"""

from __future__ import annotations

import math
import shlex
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import io, layout
from .io import read_manifest, write_sound, write_table, write_wav  # noqa: F401 (importable from here too)
from .errors import GanphonError, ParameterError
from .probe import layer_lengths, probe_batches
from .timebase import native_rate, slice_duration

CONDITION_TIER = "condition"


# ---------------------------------------------------------------- one sample

def write_sample(out_dir, sample_id: str, output: np.ndarray, native: dict, upsampled: dict,
                 slice_len: int, sr: int, condition: str, clip: float | None = None,
                 wav_layers: bool = False) -> None:
    """Write one sample's WAVs, Sounds and TextGrid.

    Parameters
    ----------
    out_dir : path-like
    sample_id : str
    output : ndarray [slice_len]
        The generated waveform.
    native, upsampled : dict
        Layer → series at native length / at ``slice_len``.
    slice_len, sr : int
    condition : str
        Label of the ``condition`` tier (e.g. ``z11=-15``).
    clip : float, optional
        Clip layer WAVs to [−clip, clip] (the paper used 1.0); the Sounds keep
        the true values.
    wav_layers : bool
        Also write each layer's 16 kHz WAV (else only its native Sound: measuring
        upsamples it in memory to the same samples, see :func:`ganphon.io.read_series`).
    """
    out_dir = Path(out_dir)
    write_wav(out_dir / layout.layer_wav(sample_id, layout.OUTPUT_LAYER), output, sr)
    for layer, series in native.items():
        if wav_layers:
            up = upsampled[layer]
            if clip is not None:
                up = np.clip(up, -clip, clip)
            write_wav(out_dir / layout.layer_wav(sample_id, layer), up, sr)
        write_sound(out_dir / layout.layer_sound(sample_id, layer), series,
                    native_rate(series.shape[-1], slice_len, sr))
    T = slice_duration(slice_len, sr)
    io.write_textgrid(out_dir / layout.textgrid(sample_id),
                      io.textgrid_from_intervals({CONDITION_TIER: [(0.0, T, condition)]}, T))


# ---------------------------------------------------------------- a whole run

def check_clip(clip) -> None:
    """``clip`` is None or a finite number > 0 (layer WAVs clipped to ±clip)."""
    if clip is not None and not (isinstance(clip, (int, float)) and not isinstance(clip, bool)
                                 and math.isfinite(clip) and clip > 0):
        raise ParameterError("clip", f"must be a finite number > 0, got {clip!r}")


def check_request(model, latents, sample_ids, layers, feature_maps, conditions, columns, batch_size: int,
                  device=None, check_device: bool = True) -> tuple:
    """Check what an export is asked for, before any folder is touched.

    ``check_device=False``: the device is a cluster worker's, not this
    machine's (a store generated on Dask GPU workers).

    Returns
    -------
    z : tensor [N, latent_dim]
    sample_ids, layers, feature_maps, conditions : list
        With the defaults filled in (``s000000 …``, every layer, the code or ``random``).
    """
    from .models import Latent
    from .probe import check_layers, resolve_device

    G, cfg = model.generator, model.config
    lat = Latent(cfg)
    z = lat.check(latents)
    n = z.shape[0]
    ids = list(sample_ids) if sample_ids is not None else [layout.sample_id(i) for i in range(n)]
    if batch_size < 1:
        raise GanphonError(f"batch size must be at least 1, got {batch_size}")
    if len(ids) != n or len(set(ids)) != n:
        raise GanphonError("sample_ids must be unique, one per latent")
    layers = check_layers(G, layers)
    if layout.OUTPUT_LAYER in layers:  # its file name is the waveform's, which every sample has
        raise GanphonError("layer 'output' is the waveform itself (ID_output.wav, always written); with a "
                           "post-processing filter the waveform before it is probe(..., layers=['output'])")
    feature_maps = check_layers(G, list(feature_maps)) if feature_maps else []
    if check_device:  # CUDA asked for but absent: an error before the folder is touched
        resolve_device(device)
    if conditions is None:
        conditions = [f"code={lat.code_label(row)}" if cfg.n_codes else "random" for row in z]
    if columns is not None and len(columns) != n:
        raise GanphonError(f"columns has {len(columns)} rows for {n} samples")
    return z, ids, layers, feature_maps, list(conditions)


def run_export(model, latents, out, *, sample_ids: Sequence[str] | None = None,
               conditions: Sequence[str] | None = None, columns: pd.DataFrame | None = None,
               layers=None, reduce: str = "mean", activation: str = "post", clip: float | None = None,
               feature_maps: Sequence[str] = (), batch_size: int = 64, device=None, seed=None,
               request: dict | None = None, command: str | None = None, overwrite: bool = False,
               progress: bool = True, on_sample=None, interventions=(), intervene=None,
               wav_layers: bool = False) -> pd.DataFrame:
    """Generate, probe and export a set of latents into a folder; resumable.

    Parameters
    ----------
    model : LoadedModel
        From :func:`ganphon.models.load_checkpoint`.
    latents : tensor [N, latent_dim]
    out : path-like
        Output folder.
    sample_ids : list of str, optional
        Default ``s000000 …``.
    conditions : list of str, optional
        Label of each sample's ``condition`` tier (default: its code, or ``random``).
    columns : DataFrame, optional
        Extra per-sample manifest columns (varied dimensions, ``var``, ``value``, ``base`` …),
        one row per sample in the order of ``latents``.
    layers, reduce, activation, feature_maps, batch_size, device
        As for :func:`ganphon.probe.probe`.
    clip : float, optional
        Clip layer WAVs to [−clip, clip] (also when they are computed from the Sounds).
    wav_layers : bool
        Also write the layers' 16 kHz float WAVs (default: each layer once, as its native Sound).
    seed : int, optional
        Recorded in the manifest and run.json.
    request : dict, optional
        What defines this run; rerunning with an equal request resumes, a
        different one into a non-empty folder is refused unless ``overwrite``.
    command : str, optional
        The command line, recorded in run.json.
    overwrite : bool
        Replace whatever run is in ``out`` (see :func:`ganphon.io.prepare_folder`).
    on_sample : callable, optional
        Called as ``on_sample(index, sample_id)`` after each sample is written
        and recorded as finished (progress reporting; an exception it raises
        stops the run, which a rerun resumes).
    interventions : sequence of :class:`~ganphon.probe.Intervention`, optional
        Channel changes made while generating every sample; recorded in the
        request (``run.json``) and the manifest's ``intervention`` column.
    intervene : sequence of bool, optional
        Make the interventions only in the samples marked True (default: all);
        the others are generated as they are (paired controls).

    Returns
    -------
    DataFrame
        The manifest (also written to ``out/manifest.csv``).
    """
    from .models import Latent

    check_clip(clip)
    out = Path(out)
    G, cfg = model.generator, model.config
    z, ids, layers, feature_maps, conditions = check_request(model, latents, sample_ids, layers, feature_maps,
                                                             conditions, columns, batch_size, device)
    n = z.shape[0]
    from .probe import check_interventions

    interventions = check_interventions(G, interventions)
    if request is None:
        request = {"n": n, "seed": seed}
    # everything that changes the numbers is part of the request (the batch size does, in the last bits)
    request = dict(request, layers=layers, reduce=reduce, activation=activation, clip=clip, batch_size=batch_size,
                   checkpoint_sha256=model.sha256, feature_maps=list(feature_maps))
    if intervene is not None:
        intervene = np.asarray(intervene, dtype=bool)
        if intervene.shape != (n,):
            raise GanphonError(f"intervene has {intervene.size} entries for {n} samples")
    if interventions:
        request["interventions"] = [iv.to_dict() for iv in interventions]
        if intervene is not None and not intervene.all():
            request["intervened_samples"] = [sid for sid, on in zip(ids, intervene) if on]
    if wav_layers:  # only then: a run without them keeps its request (and so its resume) as before
        request["wav_layers"] = True

    planned = {"sample_ids": ids, "files_per_sample": layout.sample_files("{sample_id}", layers, wav_layers),
               "tables": [layout.MANIFEST, layout.LATENTS, *map(layout.feature_maps, feature_maps)]}
    io.prepare_folder(out, request, overwrite=overwrite, record={
        "command": command or shlex.join(sys.argv), "seed": seed, "versions": io.versions("torch", "parselmouth"),
        "checkpoint": str(model.path) if model.path else None,
        "model": cfg.to_dict(),  # the generator's stack periods are flagged as artefacts (ganphon.measures)
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "planned": planned})

    layout.remove_stale_temporaries(out)  # litter of a run killed with -9
    finished = io.read_finished(out, request)
    present = {p.name for p in out.iterdir()}
    todo = [i for i, sid in enumerate(ids)
            if sid not in finished or not all(f in present for f in layout.sample_files(sid, layers, wav_layers))]

    maps = {}
    for layer in feature_maps:
        ch, length = layer_lengths(G)[layer]
        path = out / layout.feature_maps(layer)
        shape = (n, ch, length)
        if path.exists():
            arr = np.load(path, mmap_mode="r+")
            if arr.shape != shape:
                raise GanphonError(f"{path}: has shape {arr.shape}, this run needs {shape}")
            maps[layer] = arr
        else:
            maps[layer] = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)

    if todo:
        bar = tqdm(total=len(todo), desc=f"probe+export → {out.name}", unit="sample", disable=not progress)
        # Whole batches at their places in the full run, so a resumed run computes every
        # sample in the same batch as an uninterrupted one (bit-identical on the same device).
        wanted = set(todo)
        starts = sorted({i - i % batch_size for i in todo})
        idx = np.concatenate([np.arange(s, min(s + batch_size, n)) for s in starts])
        with io.FinishedLog(out, request) as log:
            for start, res in probe_batches(G, z[idx], layers, reduce, activation, list(feature_maps),
                                            wav_layers, batch_size, device, interventions,
                                            None if intervene is None else intervene[idx]):
                for j in range(len(res)):
                    i = int(idx[start + j])
                    if i not in wanted:
                        continue
                    write_sample(out, ids[i], res.output[j], {k: v[j] for k, v in res.native.items()},
                                 {k: v[j] for k, v in res.upsampled.items()}, cfg.slice_len, cfg.sr,
                                 conditions[i], clip, wav_layers)
                    for layer, arr in maps.items():
                        arr[i] = res.feature_maps[layer][j]
                    log.add(ids[i])
                    bar.update(1)
                    if on_sample is not None:
                        on_sample(i, ids[i])
                for arr in maps.values():
                    arr.flush()
        bar.close()

    manifest = build_manifest(model, ids, z, layers, seed, columns)
    if interventions:
        label = "; ".join(iv.label for iv in interventions)
        on = np.ones(n, dtype=bool) if intervene is None else intervene
        manifest["intervention"] = manifest["sample_id"].map(dict(zip(ids, np.where(on, label, ""))))
    io.write_table(manifest, out / layout.MANIFEST)
    lat_df = pd.DataFrame(z.double().numpy(), columns=Latent(cfg).names)
    lat_df.insert(0, "sample_id", ids)
    io.write_table(lat_df, out / layout.LATENTS)
    return manifest


def write_layer_wavs(folder, progress: bool = True) -> int:
    """Write ``ID_<layer>.wav`` for every layer of an exported folder stored only as its Sound.

    The samples are those an export with ``wav_layers`` writes (:func:`ganphon.io.read_layer_wav`:
    the Sound upsampled to the output length, the run's clip applied).  Returns how many were written.
    """
    folder = Path(folder)
    manifest = read_manifest(folder, required=("sample_id", "layer", "file"))
    todo = [folder / name for name in manifest["file"].dropna() if io.layer_sound_path(folder / name) is not None]
    for path in tqdm(todo, desc=f"layer WAVs → {folder.name}", unit="file", disable=not progress):
        x, sr = io.read_layer_wav(path)
        write_wav(path, x, sr)
    return len(todo)


def build_manifest(model, ids, z, layers, seed, columns=None) -> pd.DataFrame:
    """One row per (sample, layer), the output first."""
    from .models import Latent

    cfg = model.config
    lat = Latent(cfg)
    lengths = layer_lengths(model.generator)
    rows = []
    for i, sid in enumerate(ids):
        extra = columns.iloc[i].to_dict() if columns is not None else {}
        code = lat.code_label(z[i]) if cfg.n_codes else ""
        for layer in [layout.OUTPUT_LAYER, *layers]:
            n_native = cfg.slice_len if layer == layout.OUTPUT_LAYER else lengths[layer][1]
            wav = layout.layer_wav(sid, layer)
            rows.append({
                "sample_id": sid, "layer": layer, "file": wav,
                "sound_file": wav if layer == layout.OUTPUT_LAYER else layout.layer_sound(sid, layer),
                "textgrid": layout.textgrid(sid), "n_native": n_native,
                "rate_native_hz": native_rate(n_native, cfg.slice_len, cfg.sr),
                "slice_len": cfg.slice_len, "sr": cfg.sr, "seed": seed, "arch": cfg.arch,
                "checkpoint_sha256": model.sha256, "code": code, **extra,
            })
    return pd.DataFrame(rows)
