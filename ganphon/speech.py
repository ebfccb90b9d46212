"""Probe given waveforms through a critic or Q-network (Beguš & Zhou, ICASSP 2022).

Speech goes in where the generator's output would be: every input becomes one
slice, the network is run on it, and every conv layer's channel average
(after LeakyReLU, so values can be negative) is exported exactly like a
generator probe (names from :mod:`ganphon.layout`):

* ``ID_output.wav`` — the input as the network saw it (mono, at ``sr``,
  ``slice_len`` samples): the "output" of the paper's tables is the input here;
* ``ID_<layer>.wav`` — the layer average upsampled to the slice (``sr``);
* ``ID_<layer>.Sound`` — the same series at its exact native rate;
* ``ID.TextGrid`` — the input's own TextGrid moved exactly like the audio,
  plus a ``condition`` tier naming the input;

and ``manifest.csv`` (one row per input × layer: the input file, how it was
fitted, the network's prediction — the Q-network's code probabilities or the
critic's score), ``run.json`` and ``finished.txt``.  ``annotate``, ``measure``,
``stats`` and ``plot`` work on the folder as on any probe.

How an input becomes a slice (the corpus loader's rules, every change
counted): channels are averaged, another rate is resampled to ``sr``
(polyphase, which keeps times), a longer input is cut to its first
``slice_len`` samples and a shorter one padded with zeros at the end.  Its
TextGrid gets the same treatment: times are unchanged, every tier is clipped
to the audio that remains and extended with an empty interval over the
padding, so every file of a sample spans ``T = slice_len / sr``.  With a tier
(``--tier words``), each non-empty interval of that tier of long recordings is
cut first, at the recording's own rate, with the rules of
:func:`ganphon.corpus.cut.cut_recordings`.

Time axis.  A critic / Q-network layer of ``n`` samples has rate ``n / T`` and
its sample ``k`` stands for ``t_k = (k + 0.5) · T / n``, as in the generator
(:mod:`ganphon.timebase`).  With strided convolutions (kernel 25, stride 4)
the receptive field of sample ``k`` of the ``l``-th conv layer is centred on
input sample ``4^l·k + (12 − p)(4^l − 1)/3`` (``p`` the left padding: 10 for
the "tf" convention, 11 for "torch"), which is ``t_k`` shifted by exactly
``±(4^l − 1)/6`` input samples (later for "tf", earlier for "torch"); the
generator's transpose convolutions shift the centre of a layer sample's
footprint in the output by exactly the same amount in the same direction.
The shift is below a sixth of the layer's own sample period.
"""

from __future__ import annotations

import hashlib
import shlex
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from . import io, layout
from .errors import GanphonError
from .timebase import native_rate, slice_duration

#: Networks ``ganphon probe --network`` runs; the last two take waveforms.
NETWORKS = ("generator", "q", "critic")
WAVEFORM_NETWORKS = ("q", "critic")
CONDITION_TIER = "condition"
#: Columns of the manifest that describe each input (besides the layer files).
INPUT_COLUMNS = ["input_file", "input_textgrid", "input_sr", "input_channels", "input_samples",
                 "input_duration_s", "resampled", "mixed", "cut_s", "padded_s"]
#: With a tier: where in the recording each item was cut.
INTERVAL_COLUMNS = ["input_tier", "input_interval", "input_label", "input_start", "input_end"]
#: Names a column of the input folder's table may not keep (they mean something else in the
#: manifest or the acoustic table); such a column is copied as ``input_<name>``.
_RESERVED = {"sample_id", "layer", "file", "sound_file", "textgrid", "n_native", "rate_native_hz",
             "slice_len", "sr", "arch", "network", "checkpoint_sha256", "code", "seed", "var", "value",
             "base", "tier", "label", "start", "end", "point", "time", "measure", "note",
             "predicted_code", "critic_score", "first_sample_s"}


# ---------------------------------------------------------------- inputs


@dataclass
class SpeechItem:
    """One input fitted to the slice.

    Attributes
    ----------
    x : ndarray, float32 [slice_len]
        The slice the network sees.
    grid : tgt.TextGrid
        The input's TextGrid moved like the audio, spanning 0 … T, with the
        ``condition`` tier.
    columns : dict
        Manifest columns describing the input (:data:`INPUT_COLUMNS`; with a
        tier :data:`INTERVAL_COLUMNS`; and the columns of the input folder's
        ``corpus.csv`` / ``items.csv`` row, e.g. ``word``).
    """

    x: np.ndarray
    grid: object
    columns: dict = field(default_factory=dict)


@dataclass
class SpeechReport:
    """What fitting the inputs to the slice changed (one count per kind of change)."""

    n_items: int = 0
    n_files: int = 0
    n_resampled: int = 0
    n_mixed: int = 0
    n_cut: int = 0
    n_padded: int = 0
    slice_len: int = 16384
    sr: int = 16000

    def summary(self) -> str:
        """One line, e.g. ``12 items from 12 files; 3 resampled, 1 stereo mixed down, 2 cut …``."""
        seconds = f"{slice_duration(self.slice_len, self.sr):g}"
        return (f"{self.n_items} items from {self.n_files} files; {self.n_resampled} resampled to "
                f"{self.sr} Hz, {self.n_mixed} stereo mixed down, {self.n_cut} cut to {seconds} s, "
                f"{self.n_padded} padded to {seconds} s")


def fit_textgrid(grid, end: float, duration: float, sr: int, condition: str | None = None):
    """Clip every tier of ``grid`` to 0 … ``end`` and extend it to ``duration``.

    Times are kept (the audio's first sample stays at 0); boundaries within
    half a sample (at ``sr``) of ``end`` are put on it; the padding after
    ``end`` is an empty interval of every interval tier.

    Parameters
    ----------
    grid : tgt.TextGrid
        The input's annotation (time 0 = its audio's first sample).
    end : float
        Where the audio that remains in the slice ends (s).
    duration : float
        The slice's duration T (s).
    sr : int
    condition : str, optional
        Label of a ``condition`` tier over 0 … ``end`` (replacing any tier of that name).

    Returns
    -------
    tgt.TextGrid
    """
    import tgt

    snap = 0.5 / sr

    def clip(t):
        t = min(max(float(t), 0.0), end)
        return end if t > end - snap else t

    out = tgt.TextGrid()
    for tier in grid.tiers:
        if tier.name == CONDITION_TIER and condition is not None:
            continue
        if isinstance(tier, tgt.IntervalTier):
            new = tgt.IntervalTier(start_time=0.0, end_time=duration, name=tier.name)
            for iv in tier.intervals:
                a, b = clip(iv.start_time), clip(iv.end_time)
                if b > a:
                    new.add_interval(tgt.Interval(a, b, iv.text))
        else:
            new = tgt.PointTier(start_time=0.0, end_time=duration, name=tier.name)
            for pt in tier.points:
                if 0.0 <= float(pt.time) <= end:
                    new.add_point(tgt.Point(clip(pt.time), pt.text))
        out.add_tier(new)
    if condition is not None:
        tier = tgt.IntervalTier(start_time=0.0, end_time=duration, name=CONDITION_TIER)
        tier.add_interval(tgt.Interval(0.0, end, condition))
        out.add_tier(tier)
    return out


def fit_to_slice(x, file_sr: int, slice_len: int, sr: int):
    """The corpus loader's rules: mix down, resample to ``sr``, cut or zero-pad at the end.

    Parameters
    ----------
    x : ndarray
        [n] or [n, channels] samples at ``file_sr``.
    file_sr, slice_len, sr : int

    Returns
    -------
    slice : ndarray, float32 [slice_len]
    info : dict
        ``input_channels``, ``input_samples``, ``input_duration_s``, ``resampled``,
        ``mixed``, ``cut_s``, ``padded_s`` and ``end`` (s where the input's audio
        ends in the slice).
    """
    from .corpus.folder import resample, to_mono

    channels = 1 if x.ndim == 1 else int(x.shape[1])
    n_in = int(x.shape[0])
    mono, mixed = to_mono(x)
    y = resample(mono, file_sr, sr)
    m = int(len(y))
    out = np.zeros(slice_len, dtype=np.float32)
    kept = min(m, slice_len)
    out[:kept] = y[:kept]
    info = {"input_channels": channels, "input_samples": n_in, "input_duration_s": n_in / file_sr,
            "resampled": file_sr != sr, "mixed": bool(mixed),
            "cut_s": max(m - slice_len, 0) / sr, "padded_s": max(slice_len - m, 0) / sr,
            "end": kept / sr}
    return out, info


def _input_tables(folder: Path) -> dict:
    """Rows of the input folder's ``corpus.csv`` (synth) or ``items.csv`` (cut), by WAV path."""
    from .corpus.cut import ITEMS_CSV
    from .corpus.synth import CORPUS_CSV

    rows = {}
    for name in (CORPUS_CSV, ITEMS_CSV):
        path = folder / name
        if not path.is_file():
            continue
        table = io.read_table(path, "input table", dtype={"file": str})
        if "file" not in table.columns:
            continue
        for record in table.to_dict("records"):
            rows.setdefault(str(record["file"]), {
                (f"input_{k}" if k in _RESERVED or k.startswith("p_code") else k): v
                for k, v in record.items() if k not in ("file", "textgrid")})
    return rows


def load_speech(wavs, slice_len: int, sr: int, tier: str | None = None, labels=None):
    """Fit every WAV under a folder (or every interval of a tier) to one slice.

    Parameters
    ----------
    wavs : path-like
        Folder searched recursively.  Without ``tier`` each WAV is one item and
        its ``X.TextGrid`` (when present) is copied; with ``tier`` every WAV
        needs ``X.TextGrid`` and each non-empty interval of ``tier`` is one item.
    slice_len, sr : int
        The network's slice.
    tier : str, optional
        Interval tier of long recordings to cut words from.
    labels : list of str or str, optional
        With ``tier``: keep only intervals with these labels.

    Returns
    -------
    items : list of SpeechItem
    report : SpeechReport

    Raises
    ------
    GanphonError
        A missing folder, no WAV, a file that is not a readable WAV or holds no
        samples, a missing TextGrid or tier (with ``tier``), no matching interval.
    """
    import tgt

    from .corpus.cut import clip_textgrid
    from .corpus.folder import wav_folder

    folder, files = wav_folder(wavs, " (--wavs needs a folder of WAV files)")
    if isinstance(labels, str):
        labels = [s.strip() for s in labels.split(",") if s.strip()]
    wanted = set(labels) if labels else None
    T = slice_duration(slice_len, sr)
    table = _input_tables(folder)
    report = SpeechReport(slice_len=slice_len, sr=sr)
    items = []

    def add(x, file_sr, grid, condition, columns):
        sl, info = fit_to_slice(x, file_sr, slice_len, sr)
        end = info.pop("end")
        report.n_items += 1
        report.n_resampled += bool(info["resampled"])
        report.n_mixed += bool(info["mixed"])
        report.n_cut += info["cut_s"] > 0
        report.n_padded += info["padded_s"] > 0
        items.append(SpeechItem(sl, fit_textgrid(grid, end, T, sr, condition),
                                {**columns, "input_sr": file_sr, **info}))

    for wav in files:
        rel = wav.relative_to(folder).as_posix()
        tg_path = layout.textgrid_beside(wav)
        if tier is not None and tg_path is None:
            raise GanphonError(f"{wav}: no TextGrid {wav.stem}.TextGrid beside it (needed for --tier {tier})")
        grid = io.read_textgrid(tg_path) if tg_path is not None else tgt.TextGrid()
        x, file_sr = io.read_wav(wav)
        report.n_files += 1
        base = {"input_file": rel,
                "input_textgrid": tg_path.relative_to(folder).as_posix() if tg_path else "",
                **table.get(rel, {})}
        if tier is None:
            add(x, file_sr, grid, f"input={wav.stem}", base)
            continue
        for number, (start, end, text) in enumerate(io.interval_tier(grid, tier, path=tg_path), start=1):
            label = text.strip()
            if not label or (wanted is not None and label not in wanted):
                continue
            i0, i1 = int(round(start * file_sr)), int(round(end * file_sr))
            if i1 > len(x):
                raise GanphonError(f"{tg_path}: interval {number} {label!r} of tier {tier!r} ends at "
                                   f"{end:g} s, after the end of {rel} ({len(x) / file_sr:g} s)")
            if i1 <= i0:
                raise GanphonError(f"{tg_path}: interval {number} {label!r} is shorter than one sample")
            # The word's own grid, its first sample at 0 (the cutter's rule), then the slice rule.
            word_grid = clip_textgrid(grid, i0 / file_sr, i1 / file_sr, file_sr)
            add(x[i0:i1], file_sr, word_grid, f"{tier}={label}",
                {**base, **dict(zip(INTERVAL_COLUMNS, (tier, number, label, start, end)))})
    if not items:
        what = f"labels {', '.join(sorted(wanted))}" if wanted else "any non-empty label"
        raise GanphonError(f"{folder}: no interval of tier {tier!r} matched {what}")
    return items, report


def inputs_digest(wavs) -> str:
    """sha256 of every WAV, TextGrid and table under ``wavs`` (what a run's inputs were)."""
    folder = Path(wavs)
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                       and p.suffix.lower() in (".wav", ".textgrid", ".csv")):
        h.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


# ---------------------------------------------------------------- the network


def waveform_network(model, network: str):
    """The critic or Q-network of a loaded model, or one clear error.

    Parameters
    ----------
    model : LoadedModel
        Loaded with ``critic=True`` for the critic.
    network : {"q", "critic"}
    """
    if network not in WAVEFORM_NETWORKS:
        raise GanphonError(f"--network must be one of {', '.join(WAVEFORM_NETWORKS)} for given waveforms, "
                           f"got {network!r}")
    where = model.path or "the checkpoint"
    if network == "q":
        if model.config.arch == "wavegan":
            raise GanphonError(f"{where}: a wavegan model has no Q-network (--network q needs a ciwGAN or "
                               "fiwGAN checkpoint)")
        if model.qnetwork is None:
            raise GanphonError(f"{where}: holds no Q-network weights")
        return model.qnetwork
    if model.critic is None:
        raise GanphonError(f"{where}: holds no critic weights (bundled and exported generators often "
                           "carry none; use a training checkpoint)")
    return model.critic


def predictions(config, logits: np.ndarray, network: str) -> pd.DataFrame:
    """The network's prediction per item.

    Q-network: ``p_code1 … p_codek`` (ciwGAN: softmax over codes; fiwGAN:
    sigmoid per bit) and ``predicted_code`` (ciwGAN: the most probable code
    1 … k; fiwGAN: the bits above 0.5, e.g. ``101``).  Critic: ``critic_score``
    (its raw output; higher = judged more like the training data).
    """
    logits = np.asarray(logits, dtype=np.float64)
    if network == "critic":
        return pd.DataFrame({"critic_score": logits[:, 0]})
    if config.arch == "ciwgan":
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        predicted = [str(int(k) + 1) for k in p.argmax(axis=1)]
    else:
        p = 1.0 / (1.0 + np.exp(-logits))
        predicted = ["".join("1" if v > 0.5 else "0" for v in row) for row in p]
    frame = pd.DataFrame(p, columns=[f"p_code{j + 1}" for j in range(p.shape[1])])
    frame["predicted_code"] = predicted
    return frame


# ---------------------------------------------------------------- the export


def _write_sample(out: Path, sample_id: str, item: SpeechItem, native: dict, upsampled: dict,
                  slice_len: int, sr: int, clip: float | None) -> None:
    io.write_wav(out / layout.layer_wav(sample_id, layout.OUTPUT_LAYER), item.x, sr)
    for layer, series in native.items():
        up = upsampled[layer]
        if clip is not None:
            up = np.clip(up, -clip, clip)
        io.write_wav(out / layout.layer_wav(sample_id, layer), up, sr)
        io.write_sound(out / layout.layer_sound(sample_id, layer), series,
                    native_rate(series.shape[-1], slice_len, sr))
    io.write_textgrid(out / layout.textgrid(sample_id), item.grid)


def probe_speech(model, wavs, out, *, network: str = "q", tier: str | None = None, labels=None,
                 layers=None, reduce: str = "mean", activation: str = "post", clip: float | None = None,
                 feature_maps=(), batch_size: int = 64, device=None, command: str | None = None,
                 overwrite: bool = False, progress: bool = True) -> pd.DataFrame:
    """Run given waveforms through the Q-network or critic and export every conv layer for Praat.

    Parameters
    ----------
    model : LoadedModel
        From :func:`ganphon.models.load_checkpoint` (``critic=True`` for the critic).
    wavs : path-like
        Folder of WAV files (any rate and channels), see :func:`load_speech`.
    out : path-like
        Output folder, laid out like a generator probe.
    network : {"q", "critic"}
    tier, labels
        Cut every (matching) interval of this tier of long recordings.
    layers : list of str or comma-separated str, optional
        Default: every conv layer (``conv1 … conv5``).
    reduce, activation, feature_maps, batch_size, device
        As for :func:`ganphon.probe.probe`; ``activation="post"`` is after the
        LeakyReLU (ICASSP 2022).
    clip : float, optional
        Clip the layer WAVs to [−clip, clip]; the Sounds keep the true values.
    command : str, optional
        The command line, recorded in ``run.json``.
    overwrite : bool
        Replace what another request left in ``out``; rerunning the same
        request (same inputs, byte for byte) resumes.
    progress : bool

    Returns
    -------
    DataFrame
        The manifest (also ``out/manifest.csv``): one row per input × layer
        (the input itself as layer ``output``) with the input's columns and
        the prediction.

    Examples
    --------
    >>> model = load_checkpoint("demo")
    >>> manifest = probe_speech(model, "stv_corpus", "q_layers", network="q")
    """
    from tqdm.auto import tqdm

    from .export import check_clip
    from .probe import check_layers, layer_lengths, probe_batches

    check_clip(clip)

    net = waveform_network(model, network)
    cfg = model.config
    L, sr = cfg.slice_len, cfg.sr
    if batch_size < 1:
        raise GanphonError(f"batch size must be at least 1, got {batch_size}")
    if clip is not None and not clip > 0:
        raise GanphonError(f"clip must be > 0, got {clip}")
    layers = check_layers(net, layers)
    if layout.OUTPUT_LAYER in layers:
        raise GanphonError(f"layer '{layout.OUTPUT_LAYER}' of a {network} is its prediction, not a series; "
                           "the input is exported as ID_output.wav")
    feature_maps = check_layers(net, list(feature_maps)) if feature_maps else []
    if device is not None:
        import torch

        if torch.device(device).type == "cuda" and not torch.cuda.is_available():
            raise GanphonError(f"device {device!r}: no CUDA device is available to torch {torch.__version__}")
    items, report = load_speech(wavs, L, sr, tier=tier, labels=labels)
    if progress:
        print(f"ganphon: {report.summary()}", file=sys.stderr)
    n = len(items)
    ids = [layout.sample_id(i) for i in range(n)]
    request = {"kind": "probe", "network": network, "wavs": str(Path(wavs).resolve()), "tier": tier,
               "labels": sorted(labels.split(",") if isinstance(labels, str) else labels) if labels else None,
               "inputs_sha256": inputs_digest(wavs), "layers": layers, "reduce": reduce,
               "activation": activation, "clip": clip, "feature_maps": feature_maps,
               "checkpoint_sha256": model.sha256,
               # batch norm on batch statistics makes a layer depend on its batch
               "batch_size": batch_size if cfg.batchnorm else None}
    out = Path(out)
    planned = {"sample_ids": ids, "files_per_sample": layout.sample_files("{sample_id}", layers, wav_layers=True),
               "tables": [layout.MANIFEST, *map(layout.feature_maps, feature_maps)]}
    io.prepare_folder(out, request, overwrite=overwrite, record={
        "command": command or shlex.join(sys.argv), "versions": io.versions("torch", "parselmouth"),
        "checkpoint": str(model.path) if model.path else None, "load_report": report.summary(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "planned": planned})
    finished = io.read_finished(out, request)
    present = {p.name for p in out.iterdir()}
    todo = {i for i, sid in enumerate(ids)
            if sid not in finished or not all(f in present for f in layout.sample_files(sid, layers, wav_layers=True))}

    x = np.stack([item.x for item in items])
    logits, maps = [], {layer: [] for layer in feature_maps}
    bar = tqdm(total=len(todo), desc=f"probe {network} → {out.name}", unit="input", disable=not progress)
    with io.FinishedLog(out, request) as log:
        for start, res in probe_batches(net, x, layers, reduce, activation, feature_maps, True,
                                        batch_size, device):
            logits.append(res.output)
            for layer in feature_maps:
                maps[layer].append(res.feature_maps[layer])
            for j in range(len(res)):
                i = start + j
                if i not in todo:
                    continue
                _write_sample(out, ids[i], items[i], {k: v[j] for k, v in res.native.items()},
                              {k: v[j] for k, v in res.upsampled.items()}, L, sr, clip)
                log.add(ids[i])
                bar.update(1)
    bar.close()
    for layer, parts in maps.items():
        with layout.atomic_path(out / layout.feature_maps(layer)) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.concatenate(parts).astype(np.float32))

    pred = predictions(cfg, np.concatenate(logits), network)
    lengths = layer_lengths(net)
    rows = []
    for i, (sid, item) in enumerate(zip(ids, items)):
        for layer in [layout.OUTPUT_LAYER, *layers]:
            n_native = L if layer == layout.OUTPUT_LAYER else lengths[layer][1]
            wav = layout.layer_wav(sid, layer)
            rows.append({
                "sample_id": sid, "layer": layer, "file": wav,
                "sound_file": wav if layer == layout.OUTPUT_LAYER else layout.layer_sound(sid, layer),
                "textgrid": layout.textgrid(sid), "n_native": n_native,
                "rate_native_hz": native_rate(n_native, L, sr), "slice_len": L, "sr": sr,
                "arch": cfg.arch, "network": network, "checkpoint_sha256": model.sha256,
                **item.columns, **pred.iloc[i].to_dict(),
            })
    manifest = pd.DataFrame(rows)
    io.write_table(manifest, out / layout.MANIFEST)
    return manifest


# ---------------------------------------------------------------- pretrained encoders


def probe_encoder(network: str, wavs, out, *, tier: str | None = None, labels=None, layers=None,
                  slice_len: int | None = None, hop: int | None = None, batch_size: int = 16,
                  device=None, command: str | None = None, overwrite: bool = False,
                  progress: bool = True) -> pd.DataFrame:
    """Run given waveforms through a pretrained encoder (CREPE, wav2vec 2.0 …) and export every layer.

    The export is a Q-network probe's (see the module docstring): ``ID_output.wav``
    (the input as the encoder saw it, 16 kHz), ``ID_<layer>.wav`` (the layer
    interpolated to every input sample, between its receptive-field centres),
    ``ID_<layer>.Sound`` (native rate, samples at their receptive-field centres),
    ``ID.TextGrid`` and ``manifest.csv`` with ``first_sample_s`` (the centre of
    a layer's sample 0).  Encoders and their time bases:
    :mod:`ganphon.models.encoders`.

    Parameters
    ----------
    network : str
        ``crepe``, ``crepe:tiny``, ``crepe:full`` or ``hf:PATH``.
    wavs, tier, labels
        As for :func:`probe_speech` (inputs at other rates are resampled to
        16 kHz by a polyphase filter, cut or padded to the slice).
    layers : list of str, optional
        Default: every layer (CREPE: ``conv1 … conv6, pitch``; HF: ``conv1 … conv7,
        transformer1 … transformerM``).
    slice_len : int, optional
        Samples per input at 16 kHz (default 16384, 1.024 s).
    hop : int, optional
        CREPE: samples between frames (default 160, 10 ms).
    batch_size, device, command, overwrite, progress
        As for :func:`probe_speech`.

    Returns
    -------
    DataFrame
        The manifest.

    Examples
    --------
    >>> probe_encoder("crepe:tiny", "my_words", "crepe_layers")
    """
    from tqdm.auto import tqdm

    from .models.encoders import DEFAULT_SLICE_LEN, load_encoder
    from .timebase import interpolate_at

    L = DEFAULT_SLICE_LEN if slice_len is None else int(slice_len)
    if L < 1:
        raise GanphonError(f"--slice-len must be at least 1 sample, got {L}")
    if batch_size < 1:
        raise GanphonError(f"batch size must be at least 1, got {batch_size}")
    encoder = load_encoder(network, hop=hop)
    sr = encoder.sr
    layers = encoder.check_layers(layers)
    times = encoder.layer_times(L)
    items, report = load_speech(wavs, L, sr, tier=tier, labels=labels)
    if progress:
        print(f"ganphon: {report.summary()}", file=sys.stderr)
    ids = [layout.sample_id(i) for i in range(len(items))]
    request = {"kind": "probe", "network": encoder.network, "wavs": str(Path(wavs).resolve()), "tier": tier,
               "labels": sorted(labels.split(",") if isinstance(labels, str) else labels) if labels else None,
               "inputs_sha256": inputs_digest(wavs), "layers": layers, "slice_len": L,
               "hop": getattr(encoder, "hop", None), "checkpoint_sha256": encoder.sha256}
    out = Path(out)
    io.prepare_folder(out, request, overwrite=overwrite, record={
        "command": command or shlex.join(sys.argv), "versions": io.versions("torch", "parselmouth"),
        "checkpoint": encoder.path, "load_report": report.summary(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "planned": {"sample_ids": ids, "files_per_sample": layout.sample_files("{sample_id}", layers),
                    "tables": [layout.MANIFEST]}})
    finished = io.read_finished(out, request)
    present = {p.name for p in out.iterdir()}
    todo = [i for i, sid in enumerate(ids)
            if sid not in finished or not all(f in present for f in layout.sample_files(sid, layers))]
    T = slice_duration(L, sr)
    at_samples = (np.arange(L) + 0.5) / sr
    bar = tqdm(total=len(todo), desc=f"probe {encoder.network} → {out.name}", unit="input",
               disable=not progress)
    with io.FinishedLog(out, request) as log:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            x = np.stack([items[i].x for i in batch])
            lengths = [L - int(round(items[i].columns["padded_s"] * sr)) for i in batch]
            series = encoder.series(x, lengths=lengths, layers=layers, device=device)
            for j, i in enumerate(batch):
                sid = ids[i]
                io.write_wav(out / layout.layer_wav(sid, layout.OUTPUT_LAYER), items[i].x, sr)
                for layer in layers:
                    lt, values = times[layer], series[layer][j]
                    io.write_wav(out / layout.layer_wav(sid, layer),
                                 interpolate_at(values, lt.times(), at_samples).astype(np.float32), sr)
                    io.write_sound(out / layout.layer_sound(sid, layer), values, lt.rate, x1=lt.x1, xmax=T)
                io.write_textgrid(out / layout.textgrid(sid), items[i].grid)
                log.add(sid)
                bar.update(1)
    bar.close()

    rows = []
    for sid, item in zip(ids, items):
        for layer in [layout.OUTPUT_LAYER, *layers]:
            wav = layout.layer_wav(sid, layer)
            lt = times.get(layer)
            rows.append({
                "sample_id": sid, "layer": layer, "file": wav,
                "sound_file": wav if layer == layout.OUTPUT_LAYER else layout.layer_sound(sid, layer),
                "textgrid": layout.textgrid(sid), "n_native": L if lt is None else lt.n,
                "rate_native_hz": float(sr) if lt is None else lt.rate,
                "first_sample_s": 0.5 / sr if lt is None else lt.x1, "slice_len": L, "sr": sr,
                "arch": encoder.arch, "network": encoder.network, "checkpoint_sha256": encoder.sha256,
                **item.columns,
            })
    manifest = pd.DataFrame(rows)
    io.write_table(manifest, out / layout.MANIFEST)
    return manifest
