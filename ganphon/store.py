"""The columnar store: a large run as chunked, compressed arrays instead of a folder of files.

``ganphon probe --store zarr`` and ``ganphon sweep --store zarr`` write, in
place of one WAV + one Sound per series:

* ``store.zarr/`` — a Zarr group with one float32 array per series at its
  native rate: ``output`` [N, slice_len] and ``dense``, ``conv1`` … [N, n_layer]
  (``featuremaps_<layer>`` [N, channels, n] when asked for), chunked along the
  samples (``chunk`` samples per chunk) and compressed (Blosc zstd, shuffled).
  The upsampled series are not stored: :meth:`Store.upsampled` is a view that
  upsamples the rows read, by the time-base rule (:func:`ganphon.timebase.upsample`);
* ``manifest.parquet`` — the manifest of a file export (one row per
  sample × layer, the same columns, file names as ``export-files`` writes them)
  plus the ``condition`` label of each sample; ``latents.parquet`` — the
  latents table;
* ``annotations.parquet/`` and ``acoustics.parquet/`` — after a sweep, the
  ``auto`` intervals and the long acoustic table, one Parquet part per chunk,
  which ``ganphon stats`` reads (:func:`acoustics_table`); ``acoustics.csv``
  is the joined table, as after a file sweep, up to :data:`CSV_LIMIT` samples;
* ``run.json`` and ``finished.txt`` as in a file export: the request is
  recorded before the first chunk, and the ids of a chunk's samples are
  appended to ``finished.txt`` only after every array of that chunk is
  written.  A rerun of the same request computes only the chunks not recorded
  (a chunk cut by a kill is computed again, whole); an analysis part is
  written under a temporary name and renamed, so it is there whole or not at all.

Inside :func:`ganphon.parallel_dask.use_scheduler` the chunks are generated
as Dask tasks (:func:`generate_chunk`; the generator is sent once to each
worker, CUDA chunks only to workers that declare a ``GPU`` resource), else
batched in the calling process; the arrays are the same bit for bit.

Annotating and measuring read the arrays directly: each series becomes a
``parselmouth.Sound`` built from numpy (no file), and the numbers are those of
the file route (tested bit for bit).  WAV + Sound + TextGrid files for any
selection of samples are written on demand by :func:`export_files`
(``ganphon export-files``), byte for byte what a file export writes.

Zarr and Parquet (pyarrow) are the optional extra ``ganphon[scale]``; they are
imported only when a store is used.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import math
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from . import io, layout
from .errors import GanphonError

#: Where each run writes: one file per series, or the columnar store.
STORE_KINDS = ("files", "zarr")
EXTRA = "scale"

ZARR_DIR = layout.STORE_ZARR
MANIFEST_PARQUET = layout.MANIFEST_PARQUET
LATENTS_PARQUET = layout.LATENTS_PARQUET
ANNOTATIONS_DIR = layout.ANNOTATIONS_PARQUET
ACOUSTICS_DIR = layout.ACOUSTICS_PARQUET
ANALYSIS_RECORD = layout.ANALYSIS_RECORD
#: The store's own manifest column (not part of an exported manifest.csv).
CONDITION_COLUMN = "condition"
DEFAULT_CHUNK = 256
#: A store sweep of more samples does not write the joined acoustics.csv (≈ 180 kB a sample):
#: ``ganphon stats`` reads the Parquet parts, whatever the size.
CSV_LIMIT = 20_000
ANNOTATION_COLUMNS = ["sample_id", "tier", "start", "end", "label"]


def require(module: str, what: str = "the columnar store"):
    """Import an optional dependency of ``ganphon[scale]``, or raise one line naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise GanphonError(f"{what} needs {module.split('.')[0]}, part of the optional extra: "
                           f"pip install 'ganphon[{EXTRA}]'") from None


def check_store_kind(store: str) -> str:
    """``store`` if it is one of :data:`STORE_KINDS`."""
    if store not in STORE_KINDS:
        raise GanphonError(f"store must be one of {', '.join(STORE_KINDS)}, got {store!r}")
    return store


def part_name(chunk: int) -> str:
    """File name of chunk ``chunk``'s Parquet part (``c000003.parquet``)."""
    return f"c{chunk:06d}.parquet"


def _compressor():
    zarr = require("zarr")
    return zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")


def _chunk_size(chunk, batch_size: int) -> int:
    """Samples per chunk: given, or the multiple of the batch size nearest 256 (at least one batch).

    A chunk that holds whole batches starts every batch where a file export
    starts it, so both compute every sample in the same batch (bit-identical).
    """
    if chunk is None:
        return batch_size * max(1, round(DEFAULT_CHUNK / batch_size))
    chunk = int(chunk)
    if chunk < 1:
        raise GanphonError(f"chunk must be at least 1 sample, got {chunk}")
    return chunk


def _disk_bytes(path: Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ---------------------------------------------------------------- reading a store


class UpsampledView:
    """A layer's native-rate array seen at the output length: rows are upsampled as they are read.

    ``view[i]`` is one series [slice_len], ``view[a:b]`` or ``view[[i, j]]``
    a block [k, slice_len]; nothing is stored.
    """

    def __init__(self, native, slice_len: int):
        self.native = native
        self.slice_len = int(slice_len)
        self.shape = (native.shape[0], self.slice_len)
        self.dtype = np.dtype("float32")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows):
        from .timebase import upsample

        if isinstance(rows, (list, np.ndarray)):
            block = self.native.get_orthogonal_selection((np.asarray(rows), slice(None)))
        else:
            block = self.native[rows]
        return upsample(np.asarray(block, dtype=np.float32), self.slice_len)


@dataclass
class Store:
    """An open columnar store (see the module docstring); read with :func:`open_store`.

    Attributes
    ----------
    folder : Path
    group : zarr.Group
    record : dict
        The folder's ``run.json``.
    sample_ids : list of str
    layers : list of str
        Probed layers in network order (``output`` not included).
    slice_len, sr, chunk : int
    """

    folder: Path
    group: object
    record: dict
    sample_ids: list
    layers: list
    slice_len: int
    sr: int
    chunk: int

    def __len__(self) -> int:
        return len(self.sample_ids)

    @property
    def request(self) -> dict:
        return self.record["request"]

    @property
    def clip(self):
        return self.request.get("clip")

    def series(self, layer: str):
        """The native-rate array of ``layer`` (``output``: the waveforms), a ``zarr.Array`` [N, n]."""
        if layer != layout.OUTPUT_LAYER and layer not in self.layers:
            raise GanphonError(f"{self.folder}: no layer {layer!r} in the store "
                               f"(it holds {', '.join([layout.OUTPUT_LAYER, *self.layers])})")
        return self.group[layer]

    def upsampled(self, layer: str) -> UpsampledView:
        """``layer`` at the output length, upsampled on reading (the layer WAVs' content)."""
        return UpsampledView(self.series(layer), self.slice_len)

    def feature_maps(self, layer: str):
        """Every channel of ``layer`` [N, channels, n], when the run asked for them."""
        name = layout.feature_maps(layer).removesuffix(".npy")
        if name not in self.group:
            raise GanphonError(f"{self.folder}: the store holds no feature maps of {layer!r}")
        return self.group[name]

    def manifest(self) -> pd.DataFrame:
        """The manifest (as a file export's, plus ``condition``)."""
        return pd.read_parquet(self.folder / MANIFEST_PARQUET)

    def latents(self) -> pd.DataFrame:
        """``sample_id`` and one column per latent variable."""
        return pd.read_parquet(self.folder / LATENTS_PARQUET)

    def finished(self) -> set:
        """Ids of the samples whose chunk is completely written."""
        return io.read_finished(self.folder, self.request)

    def annotations(self) -> pd.DataFrame | None:
        """The ``auto`` intervals of every annotated sample, or None before annotating."""
        return _read_parts(self.folder / ANNOTATIONS_DIR, ANNOTATION_COLUMNS)

    def acoustics(self) -> pd.DataFrame | None:
        """The long acoustic table (unjoined, one row per measure) of the measured chunks, or None."""
        return _read_parts(self.folder / ACOUSTICS_DIR)

    def select(self, samples=None) -> list[int]:
        """Indices of the samples named by ``samples`` (see :func:`parse_selection`)."""
        return parse_selection(samples, self.sample_ids, where=str(self.folder))


def is_store(folder) -> bool:
    """Whether ``folder`` holds a columnar store."""
    return (Path(folder) / ZARR_DIR).is_dir()


def open_store(folder) -> Store:
    """Open a store folder for reading.

    Raises
    ------
    GanphonError
        If ``folder`` is not a store written by ganphon.
    """
    zarr = require("zarr")
    folder = Path(folder)
    record = io.read_run_record(folder) if folder.is_dir() else None
    if record is None or not (folder / ZARR_DIR).is_dir() or not (folder / MANIFEST_PARQUET).is_file():
        raise GanphonError(f"{folder}: not a ganphon store (no run.json, {ZARR_DIR} and {MANIFEST_PARQUET}); "
                           "write one with 'ganphon probe --store zarr' or 'ganphon sweep --store zarr'")
    group = zarr.open_group(str(folder / ZARR_DIR), mode="r")
    attrs = dict(group.attrs)
    manifest = pd.read_parquet(folder / MANIFEST_PARQUET, columns=["sample_id", "layer"])
    ids = manifest.loc[manifest["layer"] == layout.OUTPUT_LAYER, "sample_id"].astype(str).tolist()
    return Store(folder, group, record, ids, list(attrs["layers"]), int(attrs["slice_len"]), int(attrs["sr"]),
                 int(attrs["chunk"]))


def parse_selection(samples, sample_ids: Sequence[str], where: str = "store") -> list[int]:
    """Indices (in run order, no repeats) of the samples a selection names.

    Parameters
    ----------
    samples : str, sequence of str, or None
        Comma-separated items, each a sample id (``b003_v007``), a pattern
        (``b003_*``, ``s00001?``) or a range of positions in the run
        (``0:100``, ``250:``; Python slicing, first sample 0).  None or
        ``all``: every sample.
    sample_ids : sequence of str
    where : str
        Named in errors.

    Raises
    ------
    GanphonError
        If an item matches no sample or a range is malformed.
    """
    n = len(sample_ids)
    if samples is None or (isinstance(samples, str) and samples.strip() == "all"):
        return list(range(n))
    items = samples.split(",") if isinstance(samples, str) else list(samples)
    items = [str(s).strip() for s in items if str(s).strip()]
    if not items:
        raise GanphonError(f"{where}: empty sample selection")
    position = {sid: i for i, sid in enumerate(sample_ids)}
    chosen: set[int] = set()
    for item in items:
        if item in position:
            chosen.add(position[item])
        elif ":" in item:
            parts = item.split(":")
            try:
                bounds = [int(p) if p.strip() else None for p in parts]
                if len(bounds) not in (2, 3):
                    raise ValueError
            except ValueError:
                raise GanphonError(f"{where}: {item!r} is not a range like 0:100") from None
            found = range(n)[slice(*bounds)]
            if len(found) == 0:
                raise GanphonError(f"{where}: range {item!r} selects no sample of {n}")
            chosen.update(found)
        elif any(ch in item for ch in "*?["):
            found = [position[s] for s in fnmatch.filter(sample_ids, item)]
            if not found:
                raise GanphonError(f"{where}: no sample matches {item!r}")
            chosen.update(found)
        else:
            raise GanphonError(f"{where}: no sample {item!r} (ids look like {sample_ids[0] if n else '?'})")
    return sorted(chosen)


def _read_parts(folder: Path, columns=None) -> pd.DataFrame | None:
    parts = sorted(folder.glob("c*.parquet")) if folder.is_dir() else []
    if not parts:
        return None
    frames = [pd.read_parquet(p) for p in parts]
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- writing a store


def run_store(model, latents, out, *, sample_ids: Sequence[str] | None = None,
              conditions: Sequence[str] | None = None, columns: pd.DataFrame | None = None,
              layers=None, reduce: str = "mean", activation: str = "post", clip: float | None = None,
              feature_maps: Sequence[str] = (), batch_size: int = 64, device=None, seed=None,
              request: dict | None = None, command: str | None = None, overwrite: bool = False,
              progress: bool = True, chunk: int | None = None, on_chunk=None, wav_layers: bool = False) -> dict:
    """Generate, probe and write a set of latents into a columnar store; resumable per chunk.

    The arguments are those of :func:`ganphon.export.run_export` (the same
    request gives the same numbers, and :func:`export_files` the same files).

    Parameters
    ----------
    chunk : int, optional
        Samples per chunk (default: the multiple of ``batch_size`` nearest 256).
        Fixed when the store is created; a resumed run uses the store's.
    on_chunk : callable, optional
        Called as ``on_chunk(chunk_index)`` after a chunk is written and recorded.

    Returns
    -------
    DataFrame
        The manifest (as :func:`~ganphon.export.run_export` returns it; also in
        ``manifest.parquet`` with each sample's ``condition``).  Its
        ``attrs["summary"]`` is the run summary (``samples``, ``computed``:
        samples generated by this call, ``chunks``, ``chunks_computed``,
        ``seconds``, ``samples_per_s``, ``store_bytes``, ``bytes_per_sample``)
        and ``attrs["run_summary"]`` the line :func:`format_summary` makes of it.
    """
    import torch
    from tqdm.auto import tqdm

    from .export import build_manifest, check_request
    from .models import Latent
    from .probe import layer_lengths
    from .timebase import native_rate

    zarr = require("zarr")
    require("pyarrow")
    started = time.perf_counter()
    out = Path(out)
    G, cfg = model.generator, model.config
    from .parallel_dask import GPU_RESOURCE

    resources = _generation_resources(device)
    z, ids, layers, feature_maps, conditions = check_request(model, latents, sample_ids, layers, feature_maps,
                                                             conditions, columns, batch_size, device,
                                                             check_device=resources != {GPU_RESOURCE: 1})
    n = z.shape[0]
    if request is None:
        request = {"n": n, "seed": seed}
    chunk_size = _chunk_size(chunk, batch_size)
    zarr_path = out / ZARR_DIR
    if chunk is None and zarr_path.is_dir() and not overwrite:
        try:  # a resumed run keeps the store's chunking whatever the batch size
            chunk_size = int(zarr.open_group(str(zarr_path), mode="r").attrs["chunk"])
        except Exception:  # noqa: BLE001 - an unreadable store is replaced or refused below
            pass
    request = dict(request, layers=layers, reduce=reduce, activation=activation, clip=clip,
                   checkpoint_sha256=model.sha256, feature_maps=feature_maps, store="zarr", chunk=chunk_size)
    if wav_layers:  # export-files then writes the layers' WAVs too
        request["wav_layers"] = True
    io.prepare_folder(out, request, overwrite=overwrite, record={
        "command": command or shlex.join(sys.argv), "seed": seed, "versions": io.versions("torch", "parselmouth", "zarr", "pyarrow"),
        "torch_threads": torch.get_num_threads(),  # generation rounds by it, here and on Dask workers
        "checkpoint": str(model.path) if getattr(model, "path", None) else None,
        "model": cfg.to_dict(),  # the generator's stack periods are flagged as artefacts (ganphon.measures)
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "planned": {"samples": n, "chunks": math.ceil(n / chunk_size), "arrays": [layout.OUTPUT_LAYER, *layers]}})
    request = io.read_run_record(out)["request"]

    lengths = layer_lengths(G)
    shapes = {layout.OUTPUT_LAYER: (n, cfg.slice_len), **{k: (n, lengths[k][1]) for k in layers}}
    for layer in feature_maps:
        ch, length = lengths[layer]
        shapes[layout.feature_maps(layer).removesuffix(".npy")] = (n, ch, length)
    layout.journal_write(zarr_path)  # the folder's ledger: the store is ganphon's (its chunks are not atomic files)
    group = zarr.open_group(str(zarr_path), mode="a")
    group.attrs.update({"sr": cfg.sr, "slice_len": cfg.slice_len, "layers": layers, "chunk": chunk_size,
                        "rates_hz": {k: native_rate(shape[1], cfg.slice_len, cfg.sr) for k, shape in shapes.items()
                                     if len(shape) == 2},
                        "ganphon_store": 1})
    arrays = {}
    for name, shape in shapes.items():
        if name in group:
            arr = group[name]
            if tuple(arr.shape) != shape:
                raise GanphonError(f"{zarr_path / name}: has shape {tuple(arr.shape)}, this run needs {shape}; "
                                   "pass --overwrite")
        else:
            arr = group.create_array(name, shape=shape, chunks=(chunk_size, *shape[1:]), dtype="float32",
                                     compressors=_compressor(), fill_value=0.0)
        arrays[name] = arr

    # The tables are known before the first sample: written first, so a killed run's store is readable.
    manifest = build_manifest(model, ids, z, layers, seed, columns)
    manifest[CONDITION_COLUMN] = np.repeat(np.asarray(conditions, dtype=object), len(layers) + 1)
    _write_parquet(manifest, out / MANIFEST_PARQUET)
    lat_df = pd.DataFrame(z.double().numpy(), columns=Latent(cfg).names)
    lat_df.insert(0, "sample_id", ids)
    _write_parquet(lat_df, out / LATENTS_PARQUET)

    finished = io.read_finished(out, request)
    n_chunks = math.ceil(n / chunk_size)
    todo = [c for c in range(n_chunks) if not all(sid in finished for sid in ids[c * chunk_size:(c + 1) * chunk_size])]
    _remove_partials(zarr_path)
    computed = sum(min(n, (c + 1) * chunk_size) - c * chunk_size for c in todo)
    with io.FinishedLog(out, request) as log:
        def record(c):  # recorded only once every array of the chunk is in place
            for sid in ids[c * chunk_size:min(n, (c + 1) * chunk_size)]:
                log.add(sid)
            if on_chunk is not None:
                on_chunk(c)

        jobs = [_GenerateJob(str(zarr_path), c, c * chunk_size, min(n, (c + 1) * chunk_size),
                             z[c * chunk_size:(c + 1) * chunk_size].clone(), tuple(layers), reduce, activation,
                             tuple(feature_maps), batch_size, None if device is None else str(device),
                             torch.get_num_threads())
                 for c in todo]
        generated_by = set()
        if resources is not False:
            from .parallel import map_jobs

            # Dask: one task per chunk, the generator sent once to each worker
            def finished(i, result):
                generated_by.add(result["worker"])
                record(jobs[i].chunk)

            map_jobs(generate_chunk, jobs, progress=progress, desc=f"probe → {out.name}/{ZARR_DIR}", unit="chunk",
                     max_chunk=1, shared=_Shipped(G), on_result=finished, resources=resources or None)
        else:
            bar = tqdm(total=computed, desc=f"probe → {out.name}/{ZARR_DIR}", unit="sample", disable=not progress)
            for job in jobs:
                _write_chunk(arrays, job.start, job.stop, _compute_chunk(G, job, bar))
                record(job.chunk)
            bar.close()
    seconds = time.perf_counter() - started
    size = _disk_bytes(zarr_path)
    summary = {"samples": n, "computed": computed, "chunks": n_chunks, "chunks_computed": len(todo),
               "seconds": seconds, "samples_per_s": computed / seconds if seconds > 0 else math.nan,
               "store_bytes": size, "bytes_per_sample": size / n if n else math.nan}
    if generated_by:
        summary["workers"] = len(generated_by)
    manifest = manifest.drop(columns=[CONDITION_COLUMN])
    manifest.attrs.update(summary=summary, run_summary=[format_summary(summary, "probe")])
    return manifest


@dataclass(frozen=True)
class _GenerateJob:
    """One chunk to generate, probe and write (the generator travels separately, once per worker)."""

    zarr_path: str
    chunk: int
    start: int
    stop: int
    z: object                # torch.Tensor [stop - start, latent_dim], a copy (not a view of all latents)
    layers: tuple
    reduce: str
    activation: str
    feature_maps: tuple
    batch_size: int
    device: str | None
    threads: int             # torch threads: the same as this process's, so the same rounding


def _array_names(job: _GenerateJob) -> list:
    return [layout.OUTPUT_LAYER, *job.layers,
            *(layout.feature_maps(k).removesuffix(".npy") for k in job.feature_maps)]


def _compute_chunk(G, job: _GenerateJob, bar=None) -> dict:
    """The arrays of one chunk, batch by batch as a file export computes them (so bit-identical)."""
    from .probe import probe_batches

    parts: dict = {name: [] for name in _array_names(job)}
    for _, res in probe_batches(G, job.z, list(job.layers), job.reduce, job.activation, list(job.feature_maps),
                                False, job.batch_size, job.device):
        parts[layout.OUTPUT_LAYER].append(res.output)
        for layer in job.layers:
            parts[layer].append(res.native[layer])
        for layer in job.feature_maps:
            parts[layout.feature_maps(layer).removesuffix(".npy")].append(res.feature_maps[layer])
        if bar is not None:
            bar.update(len(res))
    return {name: np.concatenate(p).astype(np.float32, copy=False) for name, p in parts.items()}


def _write_chunk(arrays: dict, start: int, stop: int, parts: dict) -> None:
    for name, arr in arrays.items():
        arr[start:stop] = parts[name]


class _Shipped:
    """A generator sent to workers as one pickled payload, unpickled once per worker process.

    (Dask's own serialisation of a torch module loses the ordered dicts its
    hooks need; a pickle keeps the module exactly as it is here.)
    """

    _cache: dict = {}

    def __init__(self, G):
        import pickle
        import uuid

        self.key = uuid.uuid4().hex
        self.payload = pickle.dumps(G, protocol=pickle.HIGHEST_PROTOCOL)

    def get(self):
        import pickle

        if self.key not in _Shipped._cache:
            _Shipped._cache.clear()  # one generator at a time per worker
            _Shipped._cache[self.key] = pickle.loads(self.payload)
        return _Shipped._cache[self.key]


def generate_chunk(job: _GenerateJob, shipped: _Shipped) -> dict:
    """Generate, probe and write one chunk of a store; runs as a Dask task on a worker.

    Returns ``{"chunk", "worker"}``; the caller records the chunk as finished
    only when this returns, so a chunk cut by a kill is computed again.
    """
    import torch

    from .parallel_dask import worker_name

    G = shipped.get()
    zarr = require("zarr")
    group = zarr.open_group(job.zarr_path, mode="r+")
    # a CPU forward pass rounds differently with another number of threads (≈ 1e-8): use the caller's
    threads = torch.get_num_threads()
    torch.set_num_threads(job.threads)
    try:
        parts = _compute_chunk(G, job)
    finally:
        torch.set_num_threads(threads)
    _write_chunk({name: group[name] for name in _array_names(job)}, job.start, job.stop, parts)
    return {"chunk": job.chunk, "worker": worker_name()}


def _generation_resources(device, client=None):
    """Where a store's chunks are generated: False in this process; else the Dask resources of the tasks.

    Without a Dask scheduler, or with a local cluster and a GPU (the GPU is
    this process's), generation stays batched here.  On a cluster, CPU
    generation runs on any worker ({}); CUDA generation only on workers that
    declare the ``GPU`` resource (``dask worker ADDRESS --resources GPU=1``).
    """
    from .parallel_dask import GPU_RESOURCE, active_client, is_local

    client = client or active_client()
    if client is None:
        return False
    cuda = device is not None and str(device).startswith("cuda")
    if not cuda:
        return {}
    if is_local(client):
        return False
    return {GPU_RESOURCE: 1}


def _write_parquet(frame: pd.DataFrame, path) -> None:
    require("pyarrow")
    with layout.atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def _remove_partials(zarr_path: Path) -> None:
    """Remove temporary chunk files a killed writer left (zarr writes chunks under ``*.partial`` and renames)."""
    for p in zarr_path.rglob("*.partial"):
        p.unlink(missing_ok=True)


def format_summary(summary: dict, what: str = "probe") -> str:
    """One line with a run's throughput (see :func:`run_store`, :func:`analyse_store`)."""
    done = summary.get("computed", summary["samples"])
    line = (f"{what}: {summary['samples']} samples ({done} computed now, "
            f"{summary['chunks_computed']}/{summary['chunks']} chunks) in {summary['seconds']:.1f} s: "
            f"{summary['samples_per_s']:.1f} samples/s")
    if "workers" in summary:
        line += f" on {summary['workers']} worker(s)"
    if "store_bytes" in summary:
        line += (f"; store {summary['store_bytes'] / 1e6:.1f} MB "
                 f"({summary['bytes_per_sample'] / 1e3:.1f} kB/sample)")
    return line


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
                  buzz_rule: bool = True):
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
        Processes (or Dask workers when a scheduler is in use, see :mod:`ganphon.parallel`).
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
    from .acoustics import check_measures, check_points, join_manifest
    from .annotate import AUTO_TIER, SegmentSettings
    from .measures import artefacts_by_layer, generator_stack
    from .parallel import check_workers, map_jobs
    from .praat import ALL_MEASURES, resolve_layer_settings, settings_for_layer
    from .timebase import native_rate

    started = time.perf_counter()
    st = open_store(folder)
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
    resolved = resolve_layer_settings(layer_settings)
    series = (layout.OUTPUT_LAYER, *st.layers)
    unfinished = len(st) - len(st.finished() & set(st.sample_ids))
    if unfinished:
        raise GanphonError(f"{st.folder}: {unfinished} samples are not generated yet; rerun the same "
                           "probe/sweep command to complete the store first")
    rates = tuple(native_rate(st.series(layer).shape[1], st.slice_len, st.sr) for layer in series)
    settings = tuple(settings_for_layer(layer, resolved, rate) for layer, rate in zip(series, rates))
    stack = generator_stack(manifest=st.manifest(), record=st.record)
    flags = artefacts_by_layer(stack, dict(zip(series, rates)))
    artefacts = tuple(flags[layer] for layer in series)
    buzz = stack if buzz_rule else ()
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
    done_dir = ac_dir if measure else ann_dir
    n_chunks = math.ceil(len(st) / st.chunk)
    jobs = []
    for c in range(n_chunks):
        if (done_dir / part_name(c)).is_file():
            continue
        start, stop = c * st.chunk, min(len(st), (c + 1) * st.chunk)
        jobs.append(_ChunkJob(str(st.folder), c, start, stop, tuple(st.sample_ids[start:stop]), series,
                              annotate, measure, tier, points, measures, settings, segment_settings, rates,
                              artefacts, buzz, inputs,
                              st.clip, str(ann_dir), str(ac_dir)))
    workers_used = check_workers(workers, max(1, len(jobs)))
    map_jobs(analyse_chunk, jobs, workers=workers, progress=progress, desc="annotate+measure" if annotate
             else "measure", unit="chunk", preload=[__name__], max_chunk=1)
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
        record = json.loads((ac_dir / ANALYSIS_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise GanphonError(f"{ac_dir / ANALYSIS_RECORD}: missing or unreadable; measure the store again") from None
    filters = [("measure", "in", sorted(set(measures)))] if measures else None
    parts = [pd.read_parquet(ac_dir / part_name(c), filters=filters) for c in range(n_chunks)]
    table = pd.concat(parts, ignore_index=True)
    # every chunk is measured alike: the first part says which measures the store has
    available = sorted(set(pd.read_parquet(ac_dir / part_name(0), columns=["measure"])["measure"].dropna()))
    table = join_manifest(table, _manifest_for_join(st), record.get("inputs", "wav"))
    for column in table.columns:  # a CSV reads an empty cell as missing
        if table[column].dtype == object:
            table[column] = table[column].replace("", np.nan)
    table.attrs.update(source=str(ac_dir), measures_available=available)
    return table


def auto_intervals(folder) -> list:
    """``(sample_id, [(start, end, label), …])`` of every sample's ``auto`` tier in an annotated store."""
    st = open_store(folder)
    found = st.annotations()
    if found is None or not _all_parts(st.folder / ANNOTATIONS_DIR, st):
        raise GanphonError(f"{st.folder}: not annotated (no {ANNOTATIONS_DIR} part for every chunk)")
    by_sample = {sid: list(zip(rows["start"], rows["end"], rows["label"]))
                 for sid, rows in found.groupby("sample_id", sort=False)}
    return [(sid, by_sample.get(sid, [])) for sid in st.sample_ids]


def _fields(obj) -> dict:
    import dataclasses

    return dataclasses.asdict(obj)


def _fresh_parts(folder: Path, record: dict) -> None:
    """Keep ``folder``'s parts only when they were made with the same ``record``; else start it afresh."""
    path = folder / ANALYSIS_RECORD
    wanted = io.normalise(record)
    if folder.is_dir():
        try:
            same = json.loads(path.read_text(encoding="utf-8")) == wanted
        except (OSError, ValueError):
            same = False
        if same:
            return
        layout.remove_entry(folder)
    folder.mkdir(parents=True)
    io.write_json(path, wanted)


def _missing_parts(folder: Path, st: Store) -> list:
    """The chunks of the store that have no part in ``folder``."""
    return [c for c in range(math.ceil(len(st) / st.chunk)) if not (folder / part_name(c)).is_file()]


def _all_parts(folder: Path, st: Store) -> bool:
    """Whether ``folder`` holds a part for every chunk of the store."""
    return folder.is_dir() and not _missing_parts(folder, st)


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
    import parselmouth

    from .acoustics import measure_sound
    from .annotate import AUTO_TIER, segment
    from .timebase import native_rate, upsample

    zarr = require("zarr")
    group = zarr.open_group(str(Path(job.folder) / ZARR_DIR), mode="r")
    attrs = group.attrs
    sr, slice_len = int(attrs["sr"]), int(attrs["slice_len"])
    blocks = {layer: np.asarray(group[layer][job.start:job.stop]) for layer in job.layers}
    intervals = {}
    if job.annotate:
        rows = []
        for j, sid in enumerate(job.sample_ids):
            sound = parselmouth.Sound(blocks[layout.OUTPUT_LAYER][j], sampling_frequency=sr)
            try:
                found = segment(sound, job.segment_settings, buzz=job.buzz)
            except GanphonError as exc:
                raise GanphonError(f"{job.folder}: sample {sid}: {exc}") from None
            intervals[sid] = found
            rows += [(sid, AUTO_TIER, s, e, lab) for s, e, lab in found]
        _write_parquet(pd.DataFrame(rows, columns=ANNOTATION_COLUMNS), Path(job.annotations_dir) / part_name(job.chunk))
    elif job.measure and job.tier is not None:
        part = pd.read_parquet(Path(job.annotations_dir) / part_name(job.chunk))
        for sid, group_rows in part.groupby("sample_id", sort=False):
            intervals[sid] = list(zip(group_rows["start"], group_rows["end"], group_rows["label"]))
    if not job.measure:
        return job.stop - job.start
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
    return job.stop - job.start


# ---------------------------------------------------------------- files on demand


def export_files(store, out, samples=None, *, overwrite: bool = False, progress: bool = True,
                 command: str | None = None, wav_layers: bool | None = None) -> pd.DataFrame:
    """Write WAV + Sound + TextGrid files for a selection of a store's samples, as a file export would.

    Every file is byte for byte what ``ganphon probe``/``sweep`` (and
    ``annotate``, when the store is annotated) writes for that sample; the
    folder gets ``manifest.csv`` and ``latents.csv`` for the selection, so
    ``ganphon measure``, Praat scripts and the plugin open it as they open an
    exported folder.  Resumable like an export.

    Parameters
    ----------
    store : path-like or Store
    out : path-like
    samples : str or sequence, optional
        Selection (:func:`parse_selection`); default every sample.
    overwrite : bool
    progress : bool
    command : str, optional
    wav_layers : bool, optional
        Also write each layer's 16 kHz float WAV (default: as the store's run was asked, ``--wav-layers``).

    Returns
    -------
    DataFrame
        The manifest written to ``out/manifest.csv``.
    """
    from tqdm.auto import tqdm

    from .annotate import AUTO_TIER
    from .export import CONDITION_TIER, write_sample
    from .timebase import slice_duration, upsample

    st = store if isinstance(store, Store) else open_store(store)
    chosen = st.select(samples)
    finished = st.finished()
    missing = [st.sample_ids[i] for i in chosen if st.sample_ids[i] not in finished]
    if missing:
        raise GanphonError(f"{st.folder}: sample(s) {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''} "
                           "are not generated yet; complete the store first")
    out = Path(out)
    if out.resolve() == st.folder.resolve():
        raise GanphonError(f"{out}: export into another folder than the store")
    ids = [st.sample_ids[i] for i in chosen]
    if wav_layers is None:
        wav_layers = bool(st.request.get("wav_layers"))
    request = {"kind": "export", "from_store": io.request_digest(st.request), "samples": ids}
    if wav_layers:
        request["wav_layers"] = True
    io.prepare_folder(out, request, overwrite=overwrite, record={
        "command": command or shlex.join(sys.argv), "store": str(st.folder.resolve()),
        "store_request": st.request, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    manifest = st.manifest()
    conditions = manifest.loc[manifest["layer"] == layout.OUTPUT_LAYER].set_index("sample_id")[CONDITION_COLUMN]
    annotations = st.annotations()
    auto = {}
    if annotations is not None:
        for sid, rows in annotations[annotations["sample_id"].isin(set(ids))].groupby("sample_id", sort=False):
            auto[sid] = list(zip(rows["start"], rows["end"], rows["label"]))
    done = io.read_finished(out, request)
    todo = [i for i in chosen if st.sample_ids[i] not in done
            or not all((out / f).is_file() for f in layout.sample_files(st.sample_ids[i], st.layers, wav_layers))]
    T = slice_duration(st.slice_len, st.sr)
    bar = tqdm(total=len(todo), desc=f"export-files → {out.name}", unit="sample", disable=not progress)
    with io.FinishedLog(out, request) as log:
        # chunk by chunk: each stored chunk is read and decompressed once
        by_chunk: dict = {}
        for i in todo:
            by_chunk.setdefault(i // st.chunk, []).append(i)
        for rows in by_chunk.values():
            output = st.series(layout.OUTPUT_LAYER).get_orthogonal_selection((np.asarray(rows), slice(None)))
            native = {k: st.series(k).get_orthogonal_selection((np.asarray(rows), slice(None))) for k in st.layers}
            up = {k: upsample(np.asarray(v, dtype=np.float32), st.slice_len) for k, v in native.items()
                  if wav_layers}
            for j, i in enumerate(rows):
                sid = st.sample_ids[i]
                write_sample(out, sid, output[j], {k: v[j] for k, v in native.items()},
                             {k: v[j] for k, v in up.items()}, st.slice_len, st.sr, conditions[sid], st.clip,
                             wav_layers)
                if sid in auto:
                    tiers = {CONDITION_TIER: [(0.0, T, conditions[sid])], AUTO_TIER: auto[sid]}
                    io.write_textgrid(out / layout.textgrid(sid), io.textgrid_from_intervals(tiers, T))
                log.add(sid)
                bar.update(1)
    bar.close()
    keep = manifest["sample_id"].isin(set(ids))
    selected = manifest[keep].drop(columns=[CONDITION_COLUMN]).reset_index(drop=True)
    io.write_table(selected, out / layout.MANIFEST)
    latents = st.latents()
    io.write_table(latents[latents["sample_id"].isin(set(ids))].reset_index(drop=True), out / layout.LATENTS)
    for layer in st.request.get("feature_maps") or []:
        maps = st.feature_maps(layer).get_orthogonal_selection((np.asarray(chosen), slice(None), slice(None)))
        with layout.atomic_path(out / layout.feature_maps(layer)) as tmp:
            np.save(tmp, np.asarray(maps, dtype=np.float32))
    return selected


# ---------------------------------------------------------------- a sweep through the store


def store_sweep(model, design, out, *, spec: dict, request: dict, annotate: bool = True, measure: bool = True,
                workers=None, settings: str = "default", batch_size: int = 64, device=None,
                overwrite: bool = False, progress: bool = True, command: str | None = None,
                chunk: int | None = None) -> pd.DataFrame:
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
    result = run_store(model, design.latents, out, sample_ids=design.sample_ids,
                              conditions=design.conditions, columns=design.columns,
                              seed=int(spec.get("seed", 0)), request=request, command=command,
                              batch_size=batch_size, device=device, overwrite=overwrite, progress=progress,
                              chunk=chunk)
    io.write_json(out / layout.SWEEP_JSON, spec)
    lines = list(result.attrs["run_summary"])
    if annotate or measure:
        write_table = len(design.sample_ids) <= CSV_LIMIT
        table, summary = analyse_store(out, annotate=annotate, measure=measure,
                                       tier="auto" if annotate else None, layer_settings=settings,
                                       workers=workers, progress=progress, write_table=write_table)
        lines.append(format_summary(summary, "annotate + measure" if annotate and measure
                                    else ("annotate" if annotate else "measure")))
        if measure and not write_table:
            lines.append(f"acoustics.csv not written ({len(design.sample_ids):,} samples > {CSV_LIMIT:,}): "
                         f"'ganphon stats' reads {ACOUSTICS_DIR}/, as does pandas.read_parquet")
        if measure:
            write_measure_record(out / layout.ACOUSTICS_JSON, command=command, engine="parselmouth",
                                 tier="auto" if annotate else None, points=10, inputs="wav",
                                 measures=list(ALL_MEASURES), settings=settings, read=io.measured_inputs(out, annotate))
            if table is not None:
                result = table
    result.attrs["run_summary"] = lines
    return result
