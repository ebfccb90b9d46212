"""The columnar store: a large run as chunked, compressed arrays instead of a folder of files.

``ganphon probe --store zarr`` and ``ganphon sweep --store zarr`` write, in
place of one WAV + one Sound per series:

* ``store.zarr/`` — a Zarr group with one float32 array per series at its
  native rate: ``output`` [N, slice_len] and ``dense``, ``conv1`` … [N, n_layer]
  (``featuremaps_<layer>`` [N, channels, n] when asked for), chunked along the
  samples (``chunk`` samples per chunk) and compressed (Blosc zstd, shuffled), each
  chunk with a CRC-32C checksum (a chunk whose bytes changed is named, never read as data).
  The upsampled series are not stored: :meth:`Store.upsampled` is a view that
  upsamples the rows read, by the time-base rule (:func:`ganphon.timebase.upsample`);
* ``manifest.parquet`` — the manifest of a file export (one row per
  sample × layer, the same columns, file names as ``export-files`` writes them)
  plus the ``condition`` label of each sample; ``latents.parquet`` — the
  latents table;
* ``annotations.parquet/`` and ``acoustics.parquet/`` — after a sweep, the
  ``auto`` intervals and the long acoustic table, one Parquet part per chunk,
  which ``ganphon stats`` reads (:func:`ganphon.store_analysis.acoustics_table`);
  ``acoustics.csv`` is the joined table, as after a file sweep, up to
  :data:`ganphon.store_analysis.CSV_LIMIT` samples;
* ``run.json`` and ``finished.txt`` as in a file export: the request is
  recorded before the first chunk, and the ids of a chunk's samples are
  appended to ``finished.txt`` only after every array of that chunk is
  written.  A rerun of the same request computes only the chunks not recorded
  (a chunk cut by a kill is computed again, whole); an analysis part is
  written under a temporary name and renamed, so it is there whole or not at all.

Given ``scheduler=`` (:func:`ganphon.parallel_dask.use_scheduler`) the chunks are generated
as Dask tasks (:func:`generate_chunk`; the generator is sent once to each
worker, CUDA chunks only to workers that declare a ``GPU`` resource), else
batched in the calling process; the arrays are the same bit for bit.

Annotating and measuring (:mod:`ganphon.store_analysis`, which sits above
this module: nothing here imports the analysis) read the arrays directly: each series becomes a
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
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import io, layout
from .errors import CHECKSUM_MISMATCH, GanphonError, checksum_failed, first_line, name_list
from .io import command_line, created
from .pipeline import (CONDITION_TIER, Plan, ProbeOptions, check_request, generator_manifest, latents_table,
                       open_run, write_sample, write_samples)

#: Where each run writes: one file per series, or the columnar store.
STORE_KINDS = ("files", "zarr")
EXTRA = "scale"

ZARR_DIR = layout.STORE_ZARR
MANIFEST_PARQUET = layout.MANIFEST_PARQUET
LATENTS_PARQUET = layout.LATENTS_PARQUET
ANNOTATIONS_DIR = layout.ANNOTATIONS_PARQUET
ACOUSTICS_DIR = layout.ACOUSTICS_PARQUET
#: The store's own manifest column (not part of an exported manifest.csv).
CONDITION_COLUMN = "condition"
DEFAULT_CHUNK = 256
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


def _compressor() -> tuple:
    """Each chunk's bytes codecs: Blosc zstd, then a CRC-32C of the compressed bytes (zarr's ``crc32c``): a
    byte changed inside a compressed chunk can decode to other numbers without an error; the checksum says so."""
    zarr = require("zarr")
    return zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"), zarr.codecs.Crc32cCodec()


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


class CheckedArray:
    """A store array whose reads name a damaged chunk in one line.

    zarr's codecs stop a read of a cut or overwritten chunk file with their own
    exceptions (``RuntimeError: error during blosc decompression: -1``); every
    read of a store's arrays goes through this view, which names the array, the
    chunk file and its samples instead.  Anything else is the array's own.
    """

    def __init__(self, array, folder, sample_ids: Sequence[str] | dict = ()):
        # row → sample id (a sequence: from row 0), kept as given: only a failed read looks one up
        self._array, self._folder, self._ids = array, Path(folder), sample_ids

    def __getattr__(self, name):
        return getattr(self._array, name)

    def __len__(self) -> int:
        return len(self._array)

    def __array__(self, dtype=None, copy=None):
        block = self[...]
        return block if dtype is None else block.astype(dtype)

    def __getitem__(self, key):
        return self._read(self._array.__getitem__, key, key)

    def get_orthogonal_selection(self, selection):
        return self._read(self._array.get_orthogonal_selection, selection, selection)

    def _read(self, read, key, where):
        try:
            return np.asarray(read(key))
        except GanphonError:
            raise
        except Exception as exc:  # noqa: BLE001 - a codec's or a file's error on a damaged chunk
            raise GanphonError(self._damaged(where, exc)) from None

    def _damaged(self, where, exc) -> str:
        """The message: the first chunk of the rows read that cannot be read by itself (else the read's)."""
        n, size = self._array.shape[0], self._array.chunks[0]
        first = where[0] if isinstance(where, tuple) and where else where
        if isinstance(first, slice):
            rows = np.arange(*first.indices(n))
        elif first is Ellipsis:
            rows = np.arange(n)
        else:
            rows = np.atleast_1d(np.asarray(first, dtype=np.int64)) % max(n, 1)
        name = self._folder / ZARR_DIR / self._array.path
        encode = self._array.metadata.chunk_key_encoding.encode_chunk_key
        for c in sorted({int(r) // size for r in rows}):
            try:
                self._array[c * size:min(n, (c + 1) * size)]
            except Exception as error:  # noqa: BLE001
                start = c * size
                sid = self._ids.get(start) if isinstance(self._ids, dict) else \
                    (self._ids[start] if start < len(self._ids) else None)
                samples = f" (samples {sid}…)" if sid is not None else ""
                key = encode((c,) + (0,) * (self._array.ndim - 1))
                why = CHECKSUM_MISMATCH if checksum_failed(error) else first_line(error)
                return (f"{name}: chunk {key}{samples} cannot be read ({why}): a damaged store; write it again "
                        "(the command is in run.json) with --overwrite")
        return f"{name}: cannot be read ({first_line(exc)}): a damaged store?"


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
        return CheckedArray(self.group[layer], self.folder, self.sample_ids)

    def upsampled(self, layer: str) -> UpsampledView:
        """``layer`` at the output length, upsampled on reading (the layer WAVs' content)."""
        return UpsampledView(self.series(layer), self.slice_len)

    def feature_maps(self, layer: str):
        """Every channel of ``layer`` [N, channels, n], when the run asked for them."""
        name = layout.feature_maps(layer).removesuffix(".npy")
        if name not in self.group:
            raise GanphonError(f"{self.folder}: the store holds no feature maps of {layer!r}")
        return CheckedArray(self.group[name], self.folder, self.sample_ids)

    def manifest(self) -> pd.DataFrame:
        """The manifest (as a file export's, plus ``condition``)."""
        return io.read_table(self.folder / MANIFEST_PARQUET, "store manifest")

    def latents(self) -> pd.DataFrame:
        """``sample_id`` and one column per latent variable."""
        return io.read_table(self.folder / LATENTS_PARQUET, "store latents table")

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
    manifest = io.read_table(folder / MANIFEST_PARQUET, "store manifest", usecols=["sample_id", "layer", "n_native"])
    ids = manifest.loc[manifest["layer"] == layout.OUTPUT_LAYER, "sample_id"].astype(str).tolist()
    try:
        group = zarr.open_group(str(folder / ZARR_DIR), mode="r")
        attrs = dict(group.attrs)
        layers, slice_len, sr, chunk = list(attrs["layers"]), int(attrs["slice_len"]), int(attrs["sr"]), \
            int(attrs["chunk"])
        st = Store(folder, group, record, ids, layers, slice_len, sr, chunk)
        _check_arrays(st, manifest)
    except GanphonError:
        raise
    except Exception as exc:  # a store's metadata edited or cut: zarr's and json's errors, one line
        raise GanphonError(f"{folder / ZARR_DIR}: unreadable store ({first_line(exc)})") from None
    return st


def _check_arrays(st: Store, manifest: pd.DataFrame) -> None:
    """Each series array as the manifest describes it, and every chunk of a finished sample on disk.

    A chunk file that is missing reads as the array's fill value (zeros), so a
    store whose chunk was deleted would export silence as if it were generated.
    """
    rows = manifest.drop_duplicates("layer").set_index("layer")["n_native"]
    finished = st.finished()
    done = sorted({i for i, sid in enumerate(st.sample_ids) if sid in finished})
    for layer in [layout.OUTPUT_LAYER, *st.layers]:
        name = f"{st.folder / ZARR_DIR / layer}"
        if layer not in st.group:
            raise GanphonError(f"{name}: missing from the store")
        array = st.group[layer]
        width = st.slice_len if layer == layout.OUTPUT_LAYER else int(rows.get(layer, -1))
        if array.ndim != 2 or tuple(array.shape) != (len(st.sample_ids), width) or array.dtype != np.float32:
            raise GanphonError(f"{name}: holds {array.dtype} {list(array.shape)}, not float32 "
                               f"[{len(st.sample_ids)}, {width}] as the manifest says (an edited store?)")
        encode = array.metadata.chunk_key_encoding.encode_chunk_key
        for c in sorted({i // array.chunks[0] for i in done}):
            if not (Path(name) / encode((c, 0))).is_file():
                raise GanphonError(f"{name}: the chunk of finished samples {st.sample_ids[c * array.chunks[0]]}… "
                                   f"({encode((c, 0))}) is missing: a damaged store; write it again (the command is "
                                   f"in run.json) with --overwrite")


def parse_selection(samples, sample_ids: Sequence[str], where: str = "store") -> list[int]:
    """Indices (in run order, no repeats) of the samples a selection names.

    Parameters
    ----------
    samples : sequence of str, ``"all"`` or None
        Items, each a sample id (``b003_v007``), a pattern (``b003_*``,
        ``s00001?``), a range of positions in the run (``0:100``, ``250:``;
        Python slicing, first sample 0) or ``all``.  None or ``"all"``: every
        sample.  Any other string is refused (the command line splits
        ``--samples a,b``).
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
    items = [str(s).strip() for s in name_list(samples, "samples") if str(s).strip()]
    if not items:
        raise GanphonError(f"{where}: empty sample selection")
    position = {sid: i for i, sid in enumerate(sample_ids)}
    chosen: set[int] = set()
    for item in items:
        if item in position:
            chosen.add(position[item])
        elif item == "all":
            chosen.update(range(n))
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
    frames = [io.read_table(p, "store table part") for p in parts]
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- writing a store


@layout.folder_locks()  # another process writing the same folder is refused
def run_store(model, latents, out, options: ProbeOptions | None = None, *, chunk: int | None = None,
              on_chunk=None, scheduler=None, **kwargs) -> pd.DataFrame:
    """Generate, probe and write a set of latents into a columnar store; resumable per chunk.

    The request is that of :func:`ganphon.export.run_export` (a
    :class:`~ganphon.pipeline.ProbeOptions`, or its fields as keywords; the
    same request gives the same numbers, and :func:`export_files` the same files).

    Parameters
    ----------
    chunk : int, optional
        Samples per chunk (default: the multiple of ``batch_size`` nearest 256).
        Fixed when the store is created; a resumed run uses the store's.
    on_chunk : callable, optional
        Called as ``on_chunk(chunk_index)`` after a chunk is written and recorded.
    scheduler : DaskScheduler, optional
        Generate the chunks as Dask tasks (:func:`ganphon.parallel_dask.use_scheduler`; CUDA chunks
        only on workers that declare a GPU); default: batched in this process.

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
    from .parallel_dask import GPU_RESOURCE

    require("zarr")
    require("pyarrow")
    started = time.perf_counter()
    opts = ProbeOptions.of(options, **kwargs)
    resources = _generation_resources(opts.device, scheduler)
    z, ids, layers, feature_maps, conditions = check_request(model, latents, opts.sample_ids, opts.layers,
                                                             opts.feature_maps, opts.conditions, opts.columns,
                                                             opts.batch_size, opts.device,
                                                             check_device=resources != {GPU_RESOURCE: 1})
    plan = _store_plan(model, Path(out), opts, ids, layers, feature_maps, chunk)
    todo = open_run(plan)
    plan.request = io.read_run_record(plan.out)["request"]
    chunk_size = int(plan.request["chunk"])
    arrays = _open_arrays(model, plan.out / ZARR_DIR, layers, feature_maps, len(ids), chunk_size)
    # The tables are known before the first sample: written first, so a killed run's store is readable.
    manifest = _write_store_tables(model, plan, opts, z, layers, conditions)
    summary = _generate_chunks(model, plan, opts, z, todo, chunk_size, layers, feature_maps, arrays, resources,
                               on_chunk, scheduler)
    seconds = time.perf_counter() - started
    n, computed = len(ids), summary["computed"]
    size = _disk_bytes(plan.out / ZARR_DIR)
    summary = {"samples": n, "computed": computed, "chunks": math.ceil(n / chunk_size),
               "chunks_computed": summary["chunks_computed"], "seconds": seconds,
               "samples_per_s": computed / seconds if seconds > 0 else math.nan,
               "store_bytes": size, "bytes_per_sample": size / n if n else math.nan, **summary["extra"]}
    manifest = manifest.drop(columns=[CONDITION_COLUMN])
    manifest.attrs.update(summary=summary, run_summary=[format_summary(summary, "probe")])
    return manifest


def _store_plan(model, out: Path, opts: ProbeOptions, ids, layers, feature_maps, chunk) -> Plan:
    """The request of a store (its chunking included) and its run record."""
    import torch

    zarr = require("zarr")
    n = len(ids)
    request = opts.request if opts.request is not None else {"n": n, "seed": opts.seed}
    chunk_size = _chunk_size(chunk, opts.batch_size)
    zarr_path = out / ZARR_DIR
    if chunk is None and zarr_path.is_dir() and not opts.overwrite:
        try:  # a resumed run keeps the store's chunking whatever the batch size
            chunk_size = int(zarr.open_group(str(zarr_path), mode="r").attrs["chunk"])
        except Exception:  # noqa: BLE001 - an unreadable store is replaced or refused below
            pass
    request = dict(request, layers=layers, reduce=opts.reduce, activation=opts.activation, clip=opts.clip,
                   checkpoint_sha256=model.sha256, feature_maps=feature_maps, store="zarr", chunk=chunk_size)
    if opts.wav_layers:  # export-files then writes the layers' WAVs too
        request["wav_layers"] = True
    record = {"command": command_line(opts.command), "seed": opts.seed,
              "versions": io.versions("torch", "parselmouth", "zarr", "pyarrow"),
              "torch_threads": torch.get_num_threads(),  # generation rounds by it, here and on Dask workers
              "checkpoint": str(model.path) if getattr(model, "path", None) else None,
              "model": model.config.to_dict(),  # the generator's stack periods are flagged as artefacts
              "created": created(),
              "planned": {"samples": n, "chunks": math.ceil(n / chunk_size), "arrays": [layout.OUTPUT_LAYER, *layers]}}
    return Plan(out, ids, request, record, None, opts.overwrite)


def _open_arrays(model, zarr_path: Path, layers, feature_maps, n: int, chunk_size: int) -> dict:
    """The store's arrays (created, or opened and checked on resume), by name."""
    from .probe import layer_lengths
    from .timebase import native_rate

    zarr = require("zarr")
    cfg = model.config
    lengths = layer_lengths(model.generator)
    shapes = {layout.OUTPUT_LAYER: (n, cfg.slice_len), **{k: (n, lengths[k][1]) for k in layers}}
    for layer in feature_maps:
        ch, length = lengths[layer]
        shapes[layout.feature_maps(layer).removesuffix(".npy")] = (n, ch, length)
    layout.journal_modify(zarr_path)  # in the ledger, and kept for undo: a failed run puts back every chunk it wrote
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
    return arrays


def _write_store_tables(model, plan: Plan, opts: ProbeOptions, z, layers, conditions) -> pd.DataFrame:
    """``manifest.parquet`` (the file export's manifest plus ``condition``) and ``latents.parquet``."""
    manifest = generator_manifest(model, plan.ids, z, layers, opts.seed, opts.columns)
    manifest[CONDITION_COLUMN] = np.repeat(np.asarray(conditions, dtype=object), len(layers) + 1)
    _write_parquet(manifest, plan.out / MANIFEST_PARQUET)
    _write_parquet(latents_table(model, plan.ids, z), plan.out / LATENTS_PARQUET)
    return manifest


def _generate_chunks(model, plan: Plan, opts: ProbeOptions, z, todo, chunk_size: int, layers, feature_maps,
                     arrays: dict, resources, on_chunk, scheduler=None) -> dict:
    """The zarr sink: generate every chunk holding a sample left to do, write it whole, then record its
    samples as finished.  Returns ``chunks_computed``, ``computed`` and ``extra`` (``workers`` on Dask)."""
    import torch
    from tqdm.auto import tqdm

    n, ids, out, zarr_path = len(plan.ids), plan.ids, plan.out, plan.out / ZARR_DIR
    chunks = sorted({i // chunk_size for i in todo})
    _remove_partials(zarr_path)
    computed = sum(min(n, (c + 1) * chunk_size) - c * chunk_size for c in chunks)
    generated_by = set()
    with io.FinishedLog(out, plan.request) as log:
        def record(c):  # recorded only once every array of the chunk is in place
            for sid in ids[c * chunk_size:min(n, (c + 1) * chunk_size)]:
                log.add(sid)
            if on_chunk is not None:
                on_chunk(c)

        jobs = [_GenerateJob(str(zarr_path), c, c * chunk_size, min(n, (c + 1) * chunk_size),
                             z[c * chunk_size:(c + 1) * chunk_size].clone(), tuple(layers), opts.reduce,
                             opts.activation, tuple(feature_maps), opts.batch_size,
                             None if opts.device is None else str(opts.device), torch.get_num_threads())
                 for c in chunks]
        if resources is not False:
            from .parallel import map_jobs

            # Dask: one task per chunk, the generator sent once to each worker
            def finished(i, result):
                generated_by.add(result["worker"])
                record(jobs[i].chunk)

            map_jobs(generate_chunk, jobs, progress=opts.progress, desc=f"probe → {out.name}/{ZARR_DIR}",
                     unit="chunk", max_chunk=1, shared=_Shipped(model.generator), on_result=finished,
                     resources=resources or None, scheduler=scheduler)
        else:
            bar = tqdm(total=computed, desc=f"probe → {out.name}/{ZARR_DIR}", unit="sample",
                       disable=not opts.progress)
            for job in jobs:
                _write_chunk(arrays, job.start, job.stop, _compute_chunk(model.generator, job, bar))
                record(job.chunk)
            bar.close()
    return {"chunks_computed": len(chunks), "computed": computed,
            "extra": {"workers": len(generated_by)} if generated_by else {}}


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


def _generation_resources(device, scheduler=None):
    """Where a store's chunks are generated: False in this process; else the Dask resources of the tasks.

    Without a Dask scheduler, or with a local cluster and a GPU (the GPU is
    this process's), generation stays batched here.  On a cluster, CPU
    generation runs on any worker ({}); CUDA generation only on workers that
    declare the ``GPU`` resource (``dask worker ADDRESS --resources GPU=1``).
    """
    from .parallel_dask import GPU_RESOURCE

    if scheduler is None:
        return False
    cuda = device is not None and str(device).startswith("cuda")
    if not cuda:
        return {}
    if scheduler.local:
        return False
    return {GPU_RESOURCE: 1}


def _write_parquet(frame: pd.DataFrame, path) -> None:
    require("pyarrow")
    io.write_table(frame, path)


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


# ---------------------------------------------------------------- the analysis's parts


def auto_intervals(folder) -> list:
    """``(sample_id, [(start, end, label), …])`` of every sample's ``auto`` tier in an annotated store."""
    st = open_store(folder)
    found = st.annotations()
    if found is None or not _all_parts(st.folder / ANNOTATIONS_DIR, st):
        raise GanphonError(f"{st.folder}: not annotated (no {ANNOTATIONS_DIR} part for every chunk)")
    by_sample = {sid: list(zip(rows["start"], rows["end"], rows["label"]))
                 for sid, rows in found.groupby("sample_id", sort=False)}
    return [(sid, by_sample.get(sid, [])) for sid in st.sample_ids]

def _missing_parts(folder: Path, st: Store) -> list:
    """The chunks of the store that have no part in ``folder``."""
    return [c for c in range(math.ceil(len(st) / st.chunk)) if not (folder / part_name(c)).is_file()]


def _all_parts(folder: Path, st: Store) -> bool:
    """Whether ``folder`` holds a part for every chunk of the store."""
    return folder.is_dir() and not _missing_parts(folder, st)


# ---------------------------------------------------------------- files on demand


@layout.folder_locks()  # another process writing the same folder is refused
def export_files(store, out, samples=None, *, overwrite: bool = False, progress: bool = True,
                 command: str | None = None, wav_layers: bool | None = None) -> pd.DataFrame:
    """Write WAV + Sound + TextGrid files for a selection of a store's samples, as a file export would.

    Every file is byte for byte what ``ganphon probe``/``sweep`` (and
    ``annotate``, when the store is annotated) writes for that sample; the
    folder gets ``manifest.csv`` and ``latents.csv`` for the selection, so
    ``ganphon measure``, Praat scripts and the plugin open it as they open an
    exported folder.  Resumable like an export (the store is the source of
    :mod:`ganphon.pipeline`, the files its sink).

    Parameters
    ----------
    store : path-like or Store
    out : path-like
    samples : sequence of str, optional
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
    st = store if isinstance(store, Store) else open_store(store)
    chosen = _finished_selection(st, samples)
    out = Path(out)
    if out.resolve() == st.folder.resolve():
        raise GanphonError(f"{out}: export into another folder than the store")
    if wav_layers is None:
        wav_layers = bool(st.request.get("wav_layers"))
    ids = [st.sample_ids[i] for i in chosen]
    request = {"kind": "export", "from_store": io.request_digest(st.request), "samples": ids}
    if wav_layers:
        request["wav_layers"] = True
    record = {"command": command_line(command), "store": str(st.folder.resolve()), "store_request": st.request,
              "created": created()}
    plan = Plan(out, ids, request, record, lambda sid: layout.sample_files(sid, st.layers, wav_layers), overwrite)
    todo = open_run(plan)
    manifest = st.manifest()
    conditions = manifest.loc[manifest["layer"] == layout.OUTPUT_LAYER].set_index("sample_id")[CONDITION_COLUMN]
    grids = _sample_grids(st, ids, conditions)

    def write(k, batch, j):
        output, native, up = batch
        write_sample(out, ids[k], output[j], {name: v[j] for name, v in native.items()},
                     {name: v[j] for name, v in up.items()}, st.slice_len, st.sr, grids[ids[k]], st.clip,
                     wav_layers)

    write_samples(plan, todo, _stored_batches(st, chosen, todo, wav_layers), write, progress=progress,
                  desc=f"export-files → {out.name}", ledger_when_idle=True)
    return _write_selection_tables(st, out, chosen, ids, manifest)


def _finished_selection(st: Store, samples) -> list:
    """The indices a selection names, all of them generated."""
    chosen = st.select(samples)
    finished = st.finished()
    missing = [st.sample_ids[i] for i in chosen if st.sample_ids[i] not in finished]
    if missing:
        raise GanphonError(f"{st.folder}: sample(s) {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''} "
                           "are not generated yet; complete the store first")
    return chosen


def _sample_grids(st: Store, ids, conditions) -> dict:
    """Each sample's TextGrid: its ``condition`` tier, and the stored intervals' tier when it is annotated."""
    from .timebase import slice_duration

    T = slice_duration(st.slice_len, st.sr)
    grids = {sid: conditions[sid] for sid in ids}  # a label: write_sample makes the condition tier
    annotations = st.annotations()
    if annotations is not None:
        for sid, rows in annotations[annotations["sample_id"].isin(set(ids))].groupby("sample_id", sort=False):
            tiers = {CONDITION_TIER: [(0.0, T, conditions[sid])],
                     str(rows["tier"].iloc[0]): list(zip(rows["start"], rows["end"], rows["label"]))}
            grids[sid] = io.textgrid_from_intervals(tiers, T)
    return grids


def _stored_batches(st: Store, chosen, todo, wav_layers: bool):
    """The store as a source: the samples left to do chunk by chunk (each stored chunk read and
    decompressed once), as ``(positions in the selection, (output, native, upsampled))``."""
    from .timebase import upsample

    by_chunk: dict = {}
    for k in todo:
        by_chunk.setdefault(chosen[k] // st.chunk, []).append(k)
    for ks in by_chunk.values():
        rows = np.asarray([chosen[k] for k in ks])
        output = st.series(layout.OUTPUT_LAYER).get_orthogonal_selection((rows, slice(None)))
        native = {k: st.series(k).get_orthogonal_selection((rows, slice(None))) for k in st.layers}
        up = {k: upsample(np.asarray(v, dtype=np.float32), st.slice_len) for k, v in native.items() if wav_layers}
        yield ks, (output, native, up)


def _write_selection_tables(st: Store, out: Path, chosen, ids, manifest) -> pd.DataFrame:
    """``manifest.csv``, ``latents.csv`` and the feature maps of the selection."""
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
