"""One sample pipeline: request → plan → finished ledger → jobs → sink.

Every run that probes a network and puts samples into a folder goes through
these steps; only the source of the samples and the sink vary:

* sources — generator latents (:func:`latent_batches`: whole batches at
  their places in the run), given waveforms (:func:`waveform_batches`), an
  encoder's batches (:mod:`ganphon.speech`);
* sinks — one set of files per sample (:func:`write_sample`, recorded per
  sample) or a columnar store (:mod:`ganphon.store`, recorded per chunk).

The steps:

1. the request (:class:`ProbeOptions` for a generator probe) says what is
   asked; everything that changes the numbers is part of ``Plan.request``;
2. :func:`open_run` records it in ``run.json`` before any result
   (:func:`ganphon.io.prepare_folder`), removes a killed writer's temporary
   files and reads the finished ledger (``finished.txt``): the samples left to
   do are those not recorded, or with a file missing;
3. :func:`write_samples` runs the jobs, hands each sample to the sink and
   records it as finished once every file of it is in place;
4. :func:`manifest_rows` builds the manifest, one row per sample × series,
   the same for every source.

Names of every file come from :mod:`ganphon.layout`; every reader and writer
from :mod:`ganphon.io`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from . import io, layout
from .errors import GanphonError, ParameterError
from .parallel import Behind
from .timebase import native_rate, slice_duration

#: Tier of every sample's TextGrid that says what was varied (or which input it is).
CONDITION_TIER = "condition"


# ---------------------------------------------------------------- the request


@dataclass
class ProbeOptions:
    """What a generator probe is asked for besides its latents and folder.

    The keyword arguments of :func:`ganphon.export.run_export` and
    :func:`ganphon.store.run_store`; see the former for each one.
    """

    sample_ids: Sequence[str] | None = None
    conditions: Sequence[str] | None = None
    columns: pd.DataFrame | None = None
    layers: object = None
    reduce: str = "mean"
    activation: str = "post"
    clip: float | None = None
    feature_maps: Sequence[str] = ()
    batch_size: int = 64
    device: object = None
    seed: object = None
    request: dict | None = None
    command: str | None = None
    overwrite: bool = False
    progress: bool = True
    wav_layers: bool = False

    @classmethod
    def of(cls, options: ProbeOptions | None = None, **kwargs) -> ProbeOptions:
        """``options`` with ``kwargs`` replacing its fields (a keyword it has not is a TypeError, as before)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
        base = {f.name: getattr(options, f.name) for f in fields(cls)} if options is not None else {}
        opts = cls(**{**base, **kwargs})
        check_clip(opts.clip)
        return opts


def check_clip(clip) -> None:
    """``clip`` is None or a finite number > 0 (layer WAVs clipped to ±clip)."""
    if clip is not None and not (isinstance(clip, (int, float)) and not isinstance(clip, bool)
                                 and math.isfinite(clip) and clip > 0):
        raise ParameterError("clip", f"must be a finite number > 0, got {clip!r}")


def check_request(model, latents, sample_ids, layers, feature_maps, conditions, columns, batch_size: int,
                  device=None, check_device: bool = True) -> tuple:
    """Check what a generator probe (files or store) is asked for, before any folder is touched.

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
    check_batch_size(batch_size)
    if len(ids) != n or len(set(ids)) != n:
        raise GanphonError("sample_ids must be unique, one per latent")
    layers = check_layers(G, layers)
    if layout.OUTPUT_LAYER in layers:  # its file name is the waveform's, which every sample has
        raise GanphonError("layer 'output' is the waveform itself (ID_output.wav, always written); with a "
                           "post-processing filter the waveform before it is probe(..., layers=['output'])")
    feature_maps = check_layers(G, list(feature_maps), "feature_maps") if feature_maps else []
    if check_device:  # CUDA asked for but absent, or a batch beyond its memory: an error before the folder is touched
        from .models.footprint import check_inference_batch

        check_inference_batch(G, min(batch_size, n), resolve_device(device))
    if conditions is None:
        conditions = [f"code={lat.code_label(row)}" if cfg.n_codes else "random" for row in z]
    if columns is not None and len(columns) != n:
        raise GanphonError(f"columns has {len(columns)} rows for {n} samples")
    return z, ids, layers, feature_maps, list(conditions)


@dataclass
class Plan:
    """One run into one folder: its samples, its request and what ``run.json`` records beside it.

    Attributes
    ----------
    out : Path
    ids : list of str
        Sample ids in run order.
    request : dict
        What defines the run (rerunning an equal one resumes).
    record : dict
        The other fields of ``run.json`` (command, versions, planned files …), in order.
    files : callable or None
        ``files(sample_id)`` → the names a finished sample has in ``out``; None
        when the sink keeps no per-sample files (a store: the ledger alone counts).
    overwrite : bool
    """

    out: Path
    ids: list
    request: dict
    record: dict = field(default_factory=dict)
    files: Callable | None = None
    overwrite: bool = False


def open_run(plan: Plan) -> list[int]:
    """Record the request, then find what is finished; returns the indices of the samples left to do.

    ``run.json`` is written before any result (:func:`ganphon.io.prepare_folder`:
    an equal request resumes, another is refused unless ``overwrite``); the
    temporary files of a writer killed with -9 are removed; a sample is done
    when ``finished.txt`` records it for this request and (with ``plan.files``)
    every file of it is present.
    """
    out = Path(plan.out)
    io.prepare_folder(out, plan.request, overwrite=plan.overwrite, record=plan.record)
    layout.remove_stale_temporaries(out)
    finished = io.read_finished(out, plan.request)
    if plan.files is None:
        return [i for i, sid in enumerate(plan.ids) if sid not in finished]
    present = {p.name for p in out.iterdir()}
    return [i for i, sid in enumerate(plan.ids)
            if sid not in finished or not all(f in present for f in plan.files(sid))]


# ---------------------------------------------------------------- sources


def latent_batches(G, z, todo: Sequence[int], options: ProbeOptions, layers, feature_maps, interventions=(),
                   intervene=None) -> Iterable:
    """Generate and probe the samples ``todo``: yields ``(indices, ProbeResult)`` per batch.

    Whole batches at their places in the full run, so a resumed run computes
    every sample in the same batch as an uninterrupted one (bit-identical on
    the same device); a batch may hold finished samples (skip them).
    """
    from .probe import probe_batches

    n, bs = z.shape[0], options.batch_size
    starts = sorted({i - i % bs for i in todo})
    if not starts:
        return
    idx = np.concatenate([np.arange(s, min(s + bs, n)) for s in starts])
    for start, res in probe_batches(G, z[idx], layers, options.reduce, options.activation, list(feature_maps),
                                    options.wav_layers, bs, options.device, interventions,
                                    None if intervene is None else intervene[idx]):
        yield [int(i) for i in idx[start:start + len(res)]], res


def waveform_batches(net, x: np.ndarray, layers, reduce: str, activation: str, feature_maps, batch_size: int,
                     device, upsampled: bool = True) -> Iterable:
    """Run given waveforms [N, slice_len] through a critic or Q-network: yields ``(indices, ProbeResult)``.

    Every input is run (the predictions of all of them make the manifest).
    """
    from .probe import probe_batches

    for start, res in probe_batches(net, x, layers, reduce, activation, list(feature_maps), upsampled,
                                    batch_size, device):
        yield list(range(start, start + len(res))), res


# ---------------------------------------------------------------- the file sink


def write_sample(out_dir, sample_id: str, output: np.ndarray, native: dict, upsampled: dict,
                 slice_len: int, sr: int, condition, clip: float | None = None,
                 wav_layers: bool = False, times: dict | None = None) -> None:
    """Write one sample's WAVs, Sounds and TextGrid.

    Parameters
    ----------
    out_dir : path-like
    sample_id : str
    output : ndarray [slice_len]
        The waveform (generated, or the input as the network saw it).
    native, upsampled : dict
        Layer → series at native length / at ``slice_len`` (only read with ``wav_layers``).
    slice_len, sr : int
    condition : str or tgt.TextGrid
        Label of the ``condition`` tier (e.g. ``z11=-15``) of a TextGrid spanning
        the slice, or the sample's whole TextGrid (given waveforms: the input's own).
    clip : float, optional
        Clip layer WAVs to [−clip, clip] (the paper used 1.0); the Sounds keep
        the true values.
    wav_layers : bool
        Also write each layer's WAV at ``sr`` (else only its native Sound: measuring
        upsamples it in memory to the same samples, see :func:`ganphon.io.read_series`).
    times : dict, optional
        Layer → its time base (``rate``, ``x1``: an encoder's receptive-field
        centres, :mod:`ganphon.models.encoders`) for series not on the
        generator's (the Sound then spans 0 … T); default ``native_rate``, x1 = dx/2.
    """
    out_dir = Path(out_dir)
    T = slice_duration(slice_len, sr)
    io.write_wav(out_dir / layout.layer_wav(sample_id, layout.OUTPUT_LAYER), output, sr)
    for layer, series in native.items():
        if wav_layers:
            up = upsampled[layer]
            if clip is not None:
                up = np.clip(up, -clip, clip)
            io.write_wav(out_dir / layout.layer_wav(sample_id, layer), up, sr)
        sound = out_dir / layout.layer_sound(sample_id, layer)
        if times is not None and layer in times:
            io.write_sound(sound, series, times[layer].rate, x1=times[layer].x1, xmax=T)
        else:
            io.write_sound(sound, series, native_rate(series.shape[-1], slice_len, sr))
    grid = _condition_textgrid(condition, T) if isinstance(condition, str) else condition
    io.write_textgrid(out_dir / layout.textgrid(sample_id), grid)


@functools.lru_cache(maxsize=256)
def _condition_textgrid(condition: str, T: float) -> str:
    """The text of a TextGrid spanning 0 … ``T`` with one ``condition`` interval (a sweep has few distinct ones)."""
    return io.textgrid_text(io.textgrid_from_intervals({CONDITION_TIER: [(0.0, T, condition)]}, T))


def write_samples(plan: Plan, todo: Sequence[int], batches: Iterable, write: Callable, *, progress: bool,
                  desc: str, unit: str = "sample", on_sample: Callable | None = None,
                  after_batch: Callable | None = None, ledger_when_idle: bool = False) -> None:
    """Hand each sample of ``todo`` the jobs yield to the sink, and record it as finished.

    Parameters
    ----------
    plan : Plan
    todo : sequence of int
        From :func:`open_run`; samples of a batch not in it are skipped.
    batches : iterable of (indices, batch)
        The jobs' results (a source); consumed whole, even with nothing to do.
    write : callable
        ``write(i, batch, j)`` writes sample ``i`` (row ``j`` of ``batch``).
    on_sample : callable, optional
        ``on_sample(i, sample_id)`` after a sample is recorded (an exception stops the run).
    after_batch : callable, optional
        ``after_batch(batch)`` once a batch is written.
    ledger_when_idle : bool
        Open the ledger even when nothing is left to do (its header is renewed).
    """
    from tqdm.auto import tqdm

    if not todo and not ledger_when_idle:
        for _ in batches:
            pass
        return
    wanted = set(todo)
    bar = tqdm(total=len(todo), desc=desc, unit=unit, disable=not progress)

    def write_batch(indices, batch):
        if plan.files is not None:  # the batch's files named in the ledger in one append, before any is written
            layout.note_in_ledger(plan.out, [name for i in indices if i in wanted
                                             for name in plan.files(plan.ids[i])])
        for j, i in enumerate(indices):
            if writer.stopping:  # the computation stopped (Ctrl-C, a fault): nothing more is written
                return
            if i not in wanted:
                continue
            write(i, batch, j)
            log.add(plan.ids[i])
            bar.update(1)
            if on_sample is not None:
                on_sample(i, plan.ids[i])
        if after_batch is not None:
            after_batch(batch)

    # batch k is written while batch k + 1 is computed (the forward pass holds no GIL while it runs)
    with io.FinishedLog(plan.out, plan.request) as log, Behind(write_batch) as writer:
        for indices, batch in batches:
            writer(indices, batch)
    bar.close()


# ---------------------------------------------------------------- the manifest


def manifest_rows(ids: Sequence[str], layers: Sequence[str], slice_len: int, sr: int, n_native: dict,
                  shared: dict, per_sample: Sequence[dict] | None = None, times: dict | None = None) -> pd.DataFrame:
    """The manifest: one row per sample × series, the output first.

    Parameters
    ----------
    ids, layers : sequence of str
    slice_len, sr : int
    n_native : dict
        Layer → its native length (the output's is ``slice_len``).
    shared : dict
        Columns after ``sr``, the same in every row (``arch``, ``checkpoint_sha256`` …).
    per_sample : sequence of dict, optional
        Columns of each sample (its code, the input's columns, the prediction …).
    times : dict, optional
        Layer → its time base (an encoder's): the rate is its, and a
        ``first_sample_s`` column (the centre of sample 0) is added.
    """
    rows = []
    for i, sid in enumerate(ids):
        extra = per_sample[i] if per_sample is not None else {}
        for layer in [layout.OUTPUT_LAYER, *layers]:
            n = slice_len if layer == layout.OUTPUT_LAYER else n_native[layer]
            wav = layout.layer_wav(sid, layer)
            row = {"sample_id": sid, "layer": layer, "file": wav,
                   "sound_file": wav if layer == layout.OUTPUT_LAYER else layout.layer_sound(sid, layer),
                   "textgrid": layout.textgrid(sid), "n_native": n}
            if times is None:
                row["rate_native_hz"] = native_rate(n, slice_len, sr)
            else:
                lt = times.get(layer)
                row["rate_native_hz"] = float(sr) if lt is None else lt.rate
                row["first_sample_s"] = 0.5 / sr if lt is None else lt.x1
            rows.append({**row, "slice_len": slice_len, "sr": sr, **shared, **extra})
    return pd.DataFrame(rows)


def generator_manifest(model, ids, z, layers, seed, columns=None) -> pd.DataFrame:
    """The manifest of generated samples: the latent's code and the extra ``columns`` per sample."""
    from .models import Latent
    from .probe import layer_lengths

    cfg = model.config
    lat = Latent(cfg)
    lengths = layer_lengths(model.generator)
    per_sample = [{"code": lat.code_label(z[i]) if cfg.n_codes else "",
                   **(columns.iloc[i].to_dict() if columns is not None else {})} for i in range(len(ids))]
    return manifest_rows(ids, layers, cfg.slice_len, cfg.sr, {k: lengths[k][1] for k in layers},
                         {"seed": seed, "arch": cfg.arch, "checkpoint_sha256": model.sha256}, per_sample)


def latents_table(model, ids, z) -> pd.DataFrame:
    """``sample_id`` and one column per latent variable (``latents.csv`` / ``latents.parquet``)."""
    from .models import Latent

    table = pd.DataFrame(z.double().numpy(), columns=Latent(model.config).names)
    table.insert(0, "sample_id", ids)
    return table


def check_batch_size(batch_size: int) -> int:
    """``batch_size`` if it is at least 1."""
    if batch_size < 1:
        raise GanphonError(f"batch size must be at least 1, got {batch_size}")
    return batch_size
