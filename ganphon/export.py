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

The steps (request, plan, ledger, jobs, sink) are :mod:`ganphon.pipeline`'s:
generator latents are the source, one set of files per sample the sink.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import io, layout
from .io import command_line, created, read_manifest, write_sound, write_table, write_wav  # noqa: F401
from .errors import GanphonError
from .pipeline import (CONDITION_TIER, Plan, ProbeOptions, check_clip, check_request,  # noqa: F401
                       generator_manifest, latent_batches, latents_table, open_run, write_sample, write_samples)
from .probe import layer_lengths


# ---------------------------------------------------------------- a whole run

@layout.folder_locks()  # another process writing the same folder is refused
def run_export(model, latents, out, options: ProbeOptions | None = None, *, on_sample=None, interventions=(),
               intervene=None, **kwargs) -> pd.DataFrame:
    """Generate, probe and export a set of latents into a folder; resumable.

    Parameters
    ----------
    model : LoadedModel
        From :func:`ganphon.models.load_checkpoint`.
    latents : tensor [N, latent_dim]
    out : path-like
        Output folder.
    options : ProbeOptions, optional
        The request; its fields can also be given as keywords (which replace them):

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
        progress : bool
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
    opts = ProbeOptions.of(options, **kwargs)
    z, ids, layers, feature_maps, conditions = check_request(model, latents, opts.sample_ids, opts.layers,
                                                             opts.feature_maps, opts.conditions, opts.columns,
                                                             opts.batch_size, opts.device)
    from .probe import check_interventions

    interventions = check_interventions(model.generator, interventions)
    intervene = _check_intervene(intervene, len(ids))
    plan = _export_plan(model, Path(out), opts, ids, layers, feature_maps, interventions, intervene)
    todo = open_run(plan)
    maps = _open_feature_maps(model.generator, plan.out, feature_maps, len(ids))
    _write_export(model, plan, opts, z, todo, layers, feature_maps, conditions, maps, interventions, intervene,
                  on_sample)
    return _write_export_tables(model, plan, opts, z, layers, interventions, intervene)


def _check_intervene(intervene, n: int):
    if intervene is None:
        return None
    intervene = np.asarray(intervene, dtype=bool)
    if intervene.shape != (n,):
        raise GanphonError(f"intervene has {intervene.size} entries for {n} samples")
    return intervene


def _export_plan(model, out: Path, opts: ProbeOptions, ids, layers, feature_maps, interventions,
                 intervene) -> Plan:
    """The request (everything that changes the numbers) and the run record of an export."""
    import torch

    request = opts.request if opts.request is not None else {"n": len(ids), "seed": opts.seed}
    # everything that changes the numbers is part of the request (the batch size does, in the last bits)
    request = dict(request, layers=layers, reduce=opts.reduce, activation=opts.activation, clip=opts.clip,
                   batch_size=opts.batch_size, checkpoint_sha256=model.sha256, feature_maps=list(feature_maps))
    if interventions:
        request["interventions"] = [iv.to_dict() for iv in interventions]
        if intervene is not None and not intervene.all():
            request["intervened_samples"] = [sid for sid, on in zip(ids, intervene) if on]
    wav_layers = opts.wav_layers
    if wav_layers:  # only then: a run without them keeps its request (and so its resume) as before
        request["wav_layers"] = True
    planned = {"sample_ids": ids, "files_per_sample": layout.sample_files("{sample_id}", layers, wav_layers),
               "tables": [layout.MANIFEST, layout.LATENTS, *map(layout.feature_maps, feature_maps)]}
    record = {"command": command_line(opts.command), "seed": opts.seed,
              "versions": io.versions("torch", "parselmouth"),
              "torch_threads": torch.get_num_threads(),
              "checkpoint": str(model.path) if model.path else None,
              "model": model.config.to_dict(),  # the generator's stack periods are flagged as artefacts
              "created": created(), "planned": planned}
    return Plan(out, ids, request, record, lambda sid: layout.sample_files(sid, layers, wav_layers), opts.overwrite)


def _open_feature_maps(G, out: Path, feature_maps, n: int) -> dict:
    """``featuremaps_<layer>.npy`` [N, channels, n] of every layer asked for, memory-mapped (kept on resume)."""
    maps = {}
    for layer in feature_maps:
        ch, length = layer_lengths(G)[layer]
        path = out / layout.feature_maps(layer)
        shape = (n, ch, length)
        layout.journal_modify(path)  # written in place through a memory map: kept for undo
        if path.exists():
            arr = np.load(path, mmap_mode="r+")
            if arr.shape != shape:
                raise GanphonError(f"{path}: has shape {arr.shape}, this run needs {shape}")
            maps[layer] = arr
        else:
            maps[layer] = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    return maps


def _write_export(model, plan: Plan, opts: ProbeOptions, z, todo, layers, feature_maps, conditions, maps,
                  interventions, intervene, on_sample) -> None:
    """Generate the samples left to do and write each one's files (the file sink)."""
    cfg = model.config

    def write(i, res, j):
        write_sample(plan.out, plan.ids[i], res.output[j], {k: v[j] for k, v in res.native.items()},
                     {k: v[j] for k, v in res.upsampled.items()}, cfg.slice_len, cfg.sr, conditions[i],
                     opts.clip, opts.wav_layers)
        for layer, arr in maps.items():
            arr[i] = res.feature_maps[layer][j]

    def flush(_res):
        for arr in maps.values():
            arr.flush()

    batches = latent_batches(model.generator, z, todo, opts, layers, feature_maps, interventions, intervene)
    write_samples(plan, todo, batches, write, progress=opts.progress, desc=f"probe+export → {plan.out.name}",
                  on_sample=on_sample, after_batch=flush)


def _write_export_tables(model, plan: Plan, opts: ProbeOptions, z, layers, interventions, intervene) -> pd.DataFrame:
    """``manifest.csv`` (with the ``intervention`` column when there are any) and ``latents.csv``."""
    ids = plan.ids
    manifest = generator_manifest(model, ids, z, layers, opts.seed, opts.columns)
    if interventions:
        label = "; ".join(iv.label for iv in interventions)
        on = np.ones(len(ids), dtype=bool) if intervene is None else intervene
        manifest["intervention"] = manifest["sample_id"].map(dict(zip(ids, np.where(on, label, ""))))
    io.write_table(manifest, plan.out / layout.MANIFEST)
    io.write_table(latents_table(model, ids, z), plan.out / layout.LATENTS)
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
    """One row per (sample, layer), the output first (:func:`ganphon.pipeline.generator_manifest`)."""
    return generator_manifest(model, ids, z, layers, seed, columns)
