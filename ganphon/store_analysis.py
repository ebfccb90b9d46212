"""Annotate and measure a columnar store from its arrays, and a sweep through a store.

This sits above :mod:`ganphon.store` (which writes and reads the arrays and
imports nothing of the analysis): each series becomes a ``parselmouth.Sound``
built from numpy (no file), and the numbers are those of the file route
(``annotate`` then ``measure`` on the exported files; tested bit for bit).
The results are one Parquet part per chunk of the store:

* ``annotations.parquet/`` — the ``auto`` intervals;
* ``acoustics.parquet/`` — the long acoustic table, which ``ganphon stats``
  reads (:func:`acoustics_table`); ``acoustics.csv`` is the joined table, as
  after a file sweep, up to :data:`CSV_LIMIT` samples.

A part is written under a temporary name and renamed, so it is there whole or
not at all; a rerun computes only the chunks without one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import io, layout
from .errors import GanphonError
from .store import (ACOUSTICS_DIR, ANNOTATION_COLUMNS, ANNOTATIONS_DIR, CONDITION_COLUMN, ZARR_DIR, CheckedArray,
                    Store, _all_parts, _missing_parts, _read_parts, _write_parquet, format_summary, open_store,
                    part_name, require, run_store)

ANALYSIS_RECORD = layout.ANALYSIS_RECORD
#: A store sweep of more samples does not write the joined acoustics.csv (≈ 180 kB a sample):
#: ``ganphon stats`` reads the Parquet parts, whatever the size.
CSV_LIMIT = 20_000


# ---------------------------------------------------------------- annotate and measure from arrays


@dataclass(frozen=True)
class _ChunkJob:
    """What a worker needs to annotate and measure one chunk (the store is read by the worker)."""

    folder: str
    chunk: int
    start: int
    stop: int
    sample_ids: tuple
    layers: tuple            # output first
    annotate: bool
    measure: bool
    tier: str | None
    points: int
    measures: tuple
    settings: tuple          # MeasureSettings per entry of ``layers``, clipped to its native band
    segment_settings: object
    rates: tuple             # native rate (Hz) per entry of ``layers``
    artefacts: tuple         # artefact frequencies (Hz) per entry of ``layers``
    buzz: tuple              # the generator's buzz frequencies for the segmentation
    inputs: str
    clip: float | None
    annotations_dir: str
    acoustics_dir: str


def analyse_store(folder, *, annotate: bool = True, measure: bool = True, tier: str | None = "auto",
                  measures=None, points: int = 10, layer_settings="default", segment_settings=None,
                  inputs: str = "wav", workers=None, progress: bool = True, write_table: bool = True,
                  buzz_rule: bool = True, scheduler=None):
    """Annotate and measure every sample of a store from its arrays, chunk by chunk; resumable.

    The same numbers as ``annotate_folder`` then ``measure`` on the exported
    files: each series becomes a ``parselmouth.Sound`` from numpy (WAV content:
    the output, or a layer upsampled to ``slice_len`` and clipped as the run
    asked; ``inputs="sound"``: the native-rate series) and each sample's layers
    are measured on the intervals of its output's ``auto`` tier.  What a
    layer can carry is decided by its native rate, whichever series is
    measured (the band rule of :mod:`ganphon.measures`); F0s on the
    generator's artefact frequencies are flagged in ``f0_artefact``.

    Parameters
    ----------
    folder : path-like
        A store folder (:func:`run_store`).
    annotate, measure : bool
    tier : str or None
        Tier whose intervals are measured (``auto``, made here); None: whole series.
    measures, points, layer_settings, inputs
        As for :func:`ganphon.acoustics.measure`.
    segment_settings : SegmentSettings, optional
    buzz_rule : bool
        Segment with the generator's buzz rule (:func:`ganphon.annotate.annotate_folder`).
    workers : int, optional
        Processes (None: one per CPU).
    scheduler : DaskScheduler, optional
        Run the chunks as Dask tasks instead (:func:`ganphon.parallel.map_jobs`).
    write_table : bool
        Join the parts with the manifest, write ``acoustics.csv`` and return
        the table; False: only the Parquet parts (what ``ganphon stats`` reads
        from a store), nothing joined in memory.

    Returns
    -------
    table : DataFrame or None
        The long acoustic table joined with the manifest (None without ``measure``
        or ``write_table``).
    summary : dict
        ``samples``, ``chunks``, ``chunks_computed``, ``computed``, ``seconds``, ``samples_per_s``, ``workers``.
    """
    from .acoustics import join_manifest
    from .parallel import check_workers, map_jobs

    started = time.perf_counter()
    st = open_store(folder)
    tier, measures, points, segment_settings = _check_analysis(st, annotate, measure, tier, measures, points,
                                                               segment_settings, inputs)
    series = (layout.OUTPUT_LAYER, *st.layers)
    rates, settings, artefacts, buzz = _layer_settings(st, series, layer_settings, buzz_rule)
    record = {"annotate": annotate, "measure": measure, "tier": tier, "measures": list(measures),
              "points": points, "inputs": inputs, "segment": _fields(segment_settings),
              "settings": [s.to_fields() for s in settings], "request": io.request_digest(st.request),
              "buzz": list(buzz)}
    ann_dir, ac_dir = st.folder / ANNOTATIONS_DIR, st.folder / ACOUSTICS_DIR
    if annotate:
        _fresh_parts(ann_dir, {k: record[k] for k in ("segment", "request", "buzz")})
    elif measure and tier is not None and not _all_parts(ann_dir, st):
        raise GanphonError(f"{st.folder}: not annotated; annotate first (or measure whole series, tier None)")
    if measure:
        _fresh_parts(ac_dir, record)
    n_chunks = math.ceil(len(st) / st.chunk)
    jobs = [_ChunkJob(str(st.folder), c, start, stop, tuple(st.sample_ids[start:stop]), series,
                      annotate, measure, tier, points, measures, settings, segment_settings, rates,
                      artefacts, buzz, inputs, st.clip, str(ann_dir), str(ac_dir))
            for c, start, stop in _chunks_left(st, ac_dir if measure else ann_dir)]
    workers_used = check_workers(workers, max(1, len(jobs)))
    map_jobs(analyse_chunk, jobs, workers=workers, progress=progress, desc="annotate+measure" if annotate
             else "measure", unit="chunk", preload=[__name__], max_chunk=1, scheduler=scheduler)
    seconds = time.perf_counter() - started
    computed = sum(j.stop - j.start for j in jobs)
    summary = {"samples": len(st), "computed": computed, "chunks": n_chunks, "chunks_computed": len(jobs),
               "seconds": seconds, "samples_per_s": computed / seconds if seconds > 0 else math.nan,
               "workers": workers_used}
    if not (measure and write_table):  # the parts are the result (read them with acoustics_table)
        return None, summary
    table = join_manifest(_read_parts(ac_dir), _manifest_for_join(st), inputs)
    io.write_table(table, st.folder / layout.ACOUSTICS)
    return table, summary


def _check_analysis(st: Store, annotate: bool, measure: bool, tier, measures, points, segment_settings,
                    inputs: str) -> tuple:
    """What an analysis of ``st`` is asked for, checked (every sample generated): tier, measures,
    points and segmentation settings, the defaults filled in."""
    from .acoustics import check_measures, check_points
    from .annotate import AUTO_TIER, SegmentSettings
    from .praat import ALL_MEASURES

    if not (annotate or measure):
        raise GanphonError("nothing to do: neither annotate nor measure")
    if inputs not in ("wav", "sound"):
        raise GanphonError(f"inputs must be wav or sound, got {inputs!r}")
    tier = tier or None
    if measure and tier is not None and tier != AUTO_TIER:
        raise GanphonError(f"{st.folder}: a store carries only the '{AUTO_TIER}' tier; measure on it or whole series")
    measures = check_measures(measures if measures is not None else ALL_MEASURES)
    points = check_points(points)
    segment_settings = segment_settings or SegmentSettings()
    unfinished = len(st) - len(st.finished() & set(st.sample_ids))
    if unfinished:
        raise GanphonError(f"{st.folder}: {unfinished} samples are not generated yet; rerun the same "
                           "probe/sweep command to complete the store first")
    return tier, measures, points, segment_settings


def _layer_settings(st: Store, series, layer_settings, buzz_rule: bool) -> tuple:
    """Per series: native rate, measure settings (clipped to its band) and artefact frequencies; and
    the generator's buzz frequencies for the segmentation (empty without ``buzz_rule``)."""
    from .measures import artefacts_by_layer, generator_stack
    from .praat import resolve_layer_settings, settings_for_layer
    from .timebase import native_rate

    resolved = resolve_layer_settings(layer_settings)
    rates = tuple(native_rate(st.series(layer).shape[1], st.slice_len, st.sr) for layer in series)
    settings = tuple(settings_for_layer(layer, resolved, rate) for layer, rate in zip(series, rates))
    stack = generator_stack(manifest=st.manifest(), record=st.record)
    flags = artefacts_by_layer(stack, dict(zip(series, rates)))
    return rates, settings, tuple(flags[layer] for layer in series), (stack if buzz_rule else ())


def _chunks_left(st: Store, done_dir: Path) -> list:
    """``(chunk, start, stop)`` of every chunk without a part in ``done_dir``."""
    left = []
    for c in range(math.ceil(len(st) / st.chunk)):
        if not (done_dir / part_name(c)).is_file():
            left.append((c, c * st.chunk, min(len(st), (c + 1) * st.chunk)))
    return left


def acoustics_table(folder, measures=None) -> pd.DataFrame:
    """A measured store's acoustic table from its Parquet parts, as ``acoustics.csv`` would be read.

    What ``ganphon stats`` reads from a store: no joined CSV is needed (at
    310,000 samples it would be tens of GB), and only the rows of
    ``measures`` are read (a Parquet filter), then joined with the manifest.
    Text cells and types are those :func:`ganphon.stats.tables.read_acoustics`
    gives for the CSV, so the statistics are the same (tested).

    Raises
    ------
    GanphonError
        If the store is not measured, or a chunk's part is missing.
    """
    from .acoustics import join_manifest

    require("pyarrow")
    st = open_store(folder)
    ac_dir = st.folder / ACOUSTICS_DIR
    n_chunks = math.ceil(len(st) / st.chunk)
    missing = _missing_parts(ac_dir, st)
    if missing:
        raise GanphonError(f"{ac_dir}: {len(missing)} of {n_chunks} chunks are not measured (first: "
                           f"{part_name(missing[0])}); run the same sweep command again to complete it")
    try:
        record = io.read_json(ac_dir / ANALYSIS_RECORD)
    except GanphonError:
        raise GanphonError(f"{ac_dir / ANALYSIS_RECORD}: missing or unreadable; measure the store again") from None
    filters = [("measure", "in", sorted(set(measures)))] if measures else None
    parts = [io.read_table(ac_dir / part_name(c), "store acoustic part", filters=filters) for c in range(n_chunks)]
    table = pd.concat(parts, ignore_index=True)
    # every chunk is measured alike: the first part says which measures the store has
    first = io.read_table(ac_dir / part_name(0), "store acoustic part", usecols=["measure"])
    available = sorted(set(first["measure"].dropna()))
    table = join_manifest(table, _manifest_for_join(st), record.get("inputs", "wav"))
    for column in table.columns:  # a CSV reads an empty cell as missing
        if table[column].dtype == object:
            table[column] = table[column].replace("", np.nan)
    table.attrs.update(source=str(ac_dir), measures_available=available)
    return table


def _fields(obj) -> dict:
    import dataclasses

    return dataclasses.asdict(obj)


def _fresh_parts(folder: Path, record: dict) -> None:
    """Keep ``folder``'s parts only when they were made with the same ``record``; else start it afresh."""
    path = folder / ANALYSIS_RECORD
    wanted = io.normalise(record)
    if folder.is_dir():
        try:
            same = io.read_json(path) == wanted
        except GanphonError:
            same = False
        if same:
            return
        layout.remove_entry(folder)
    layout.make_folder(folder)
    io.write_json(path, wanted)


def _manifest_for_join(st: Store) -> pd.DataFrame:
    """The manifest as ``measure`` reads it from manifest.csv (same dtypes, so the same joined table)."""
    import io as _io

    manifest = st.manifest().drop(columns=[CONDITION_COLUMN])
    text = manifest.to_csv(index=False)
    return pd.read_csv(_io.StringIO(text), dtype={c: str for c in io.MANIFEST_TEXT_COLUMNS})


def analyse_chunk(job: _ChunkJob) -> int:
    """Annotate and measure one chunk of a store and write its Parquet parts; returns the samples done.

    Runs in a worker: it opens the store itself, so only the job's small
    description travels (a store on a filesystem every worker sees).
    """
    zarr = require("zarr")
    group = zarr.open_group(str(Path(job.folder) / ZARR_DIR), mode="r")
    ids = {job.start + j: sid for j, sid in enumerate(job.sample_ids)}
    blocks = {layer: CheckedArray(group[layer], job.folder, ids)[job.start:job.stop] for layer in job.layers}
    sr = int(group.attrs["sr"])
    if job.annotate:
        intervals = _annotate_chunk(job, blocks[layout.OUTPUT_LAYER], sr)
    elif job.measure and job.tier is not None:
        intervals = _stored_intervals(job)
    else:
        intervals = {}
    if job.measure:
        _measure_chunk(job, blocks, intervals, sr, int(group.attrs["slice_len"]))
    return job.stop - job.start


def _annotate_chunk(job: _ChunkJob, output, sr: int) -> dict:
    """Segment every output of the chunk, write its annotations part; returns the intervals by sample."""
    import parselmouth

    from .annotate import AUTO_TIER, segment

    intervals, rows = {}, []
    for j, sid in enumerate(job.sample_ids):
        sound = parselmouth.Sound(output[j], sampling_frequency=sr)
        try:
            found = segment(sound, job.segment_settings, buzz=job.buzz)
        except GanphonError as exc:
            raise GanphonError(f"{job.folder}: sample {sid}: {exc}") from None
        intervals[sid] = found
        rows += [(sid, AUTO_TIER, s, e, lab) for s, e, lab in found]
    _write_parquet(pd.DataFrame(rows, columns=ANNOTATION_COLUMNS), Path(job.annotations_dir) / part_name(job.chunk))
    return intervals


def _stored_intervals(job: _ChunkJob) -> dict:
    """The chunk's intervals from its annotations part, by sample."""
    part = io.read_table(Path(job.annotations_dir) / part_name(job.chunk), "store annotation part")
    return {sid: list(zip(rows["start"], rows["end"], rows["label"]))
            for sid, rows in part.groupby("sample_id", sort=False)}


def _measure_chunk(job: _ChunkJob, blocks: dict, intervals: dict, sr: int, slice_len: int) -> None:
    """Measure every series of the chunk as the file route measures its file; write the acoustics part."""
    import parselmouth

    from .acoustics import measure_sound
    from .timebase import native_rate, upsample

    frames = []
    for j, sid in enumerate(job.sample_ids):
        for layer, settings, native, artefacts in zip(job.layers, job.settings, job.rates, job.artefacts):
            x = blocks[layer][j]
            if job.inputs == "sound" and layer != layout.OUTPUT_LAYER:
                name, rate = layout.layer_sound(sid, layer), native_rate(x.shape[-1], slice_len, sr)
            else:
                name, rate = layout.layer_wav(sid, layer), sr
                if layer != layout.OUTPUT_LAYER:
                    x = upsample(x[None], slice_len)[0]
                    if job.clip is not None:
                        x = np.clip(x, -job.clip, job.clip)
            sound = parselmouth.Sound(np.asarray(x, dtype=np.float32), sampling_frequency=rate)
            labelled = None
            if job.tier is not None:
                labelled = [(lab.replace("\t", " "), s, e) for s, e, lab in intervals.get(sid, []) if lab != ""]
            frames.append(measure_sound(sound, name, labelled, tier=job.tier or "", points=job.points,
                                        measures=job.measures, settings=settings, who=layer, native_rate=native,
                                        artefacts=artefacts))
    _write_parquet(pd.concat(frames, ignore_index=True), Path(job.acoustics_dir) / part_name(job.chunk))


# ---------------------------------------------------------------- a sweep through the store


@layout.folder_locks()  # another process writing the same folder is refused
def store_sweep(model, design, out, *, spec: dict, request: dict, annotate: bool = True, measure: bool = True,
                workers=None, settings: str = "default", batch_size: int = 64, device=None,
                overwrite: bool = False, progress: bool = True, command: str | None = None,
                chunk: int | None = None, scheduler=None) -> pd.DataFrame:
    """A sweep's generate → probe → annotate → measure into a store (``ganphon sweep --store zarr``).

    Called by :func:`ganphon.sweep.run_sweep` with the sweep's design; writes
    what a file sweep writes (``sweep.json``, ``acoustics.csv`` + its record,
    the same numbers) with the arrays and Parquet tables of a store instead of
    per-series files.

    Returns
    -------
    DataFrame
        The acoustic table (or the manifest without ``measure``); its
        ``attrs["run_summary"]`` holds one line per stage with the throughput.
    """
    from .acoustics import write_measure_record
    from .praat import ALL_MEASURES

    out = Path(out)
    result = run_store(model, design.latents, out, sample_ids=design.sample_ids, conditions=design.conditions,
                       columns=design.columns, seed=int(spec.get("seed", 0)), request=request, command=command,
                       batch_size=batch_size, device=device, overwrite=overwrite, progress=progress, chunk=chunk,
                       scheduler=scheduler)
    io.write_json(out / layout.SWEEP_JSON, spec)
    lines = list(result.attrs["run_summary"])
    if annotate or measure:
        write_table = len(design.sample_ids) <= CSV_LIMIT
        table, summary = analyse_store(out, annotate=annotate, measure=measure,
                                       tier="auto" if annotate else None, layer_settings=settings,
                                       workers=workers, progress=progress, write_table=write_table,
                                       scheduler=scheduler)
        lines.append(format_summary(summary, "annotate + measure" if annotate and measure
                                    else ("annotate" if annotate else "measure")))
        if measure and not write_table:
            lines.append(f"acoustics.csv not written ({len(design.sample_ids):,} samples > {CSV_LIMIT:,}): "
                         f"'ganphon stats' reads {ACOUSTICS_DIR}/, as does pandas.read_parquet")
        if measure:
            write_measure_record(out / layout.ACOUSTICS_JSON, command=command, engine="parselmouth",
                                 tier="auto" if annotate else None, points=10, inputs="wav",
                                 measures=list(ALL_MEASURES), settings=settings,
                                 read=io.measured_inputs(out, annotate))
            if table is not None:
                result = table
    result.attrs["run_summary"] = lines
    return result
