"""Probe given waveforms through a critic or Q-network (Beguš & Zhou, ICASSP 2022).

Speech goes in where the generator's output would be: every input becomes one
slice, the network is run on it, and every conv layer's channel average
(after LeakyReLU, so values can be negative) is exported exactly like a
generator probe (names from :mod:`ganphon.layout`):

* ``ID_output.wav`` — the input as the network saw it (mono, at ``sr``,
  ``slice_len`` samples): the "output" of the paper's tables is the input here;
* ``ID_<layer>.Sound`` — the layer average at its exact native rate, each layer
  stored once (as for the generator);
* ``ID_<layer>.wav`` — only with ``wav_layers``: the series upsampled to the
  slice (``sr``), the samples measuring computes in memory from the Sound;
* ``ID.TextGrid`` — the input's own TextGrid moved exactly like the audio,
  plus a ``condition`` tier naming the input;

and ``manifest.csv`` (one row per input × layer: the input file, how it was
fitted, the network's prediction — the Q-network's code probabilities or the
critic's score), ``run.json`` and ``finished.txt``, written by the sample
pipeline (:mod:`ganphon.pipeline`: given waveforms are its source).  ``annotate``, ``measure``,
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
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import io, layout
from .errors import GanphonError, ParameterError, name_list
from .io import command_line, created
from .pipeline import (CONDITION_TIER, Plan, check_batch_size, check_clip, manifest_rows, open_run, waveform_batches,
                       write_sample, write_samples)
from .timebase import domain_note, slice_duration

#: Networks ``ganphon probe --network`` runs; the last two take waveforms.
NETWORKS = ("generator", "q", "critic")
WAVEFORM_NETWORKS = ("q", "critic")
#: A float WAV whose peak exceeds this is named in a ``ganphon: note:`` line (it is probed as it is).
FLOAT_PEAK_NOTE = 2.0
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


def fit_to_slice(x, file_sr: int, slice_len: int, sr: int, name=None):
    """The corpus loader's rules: mix down, resample to ``sr``, cut or zero-pad at the end.

    Parameters
    ----------
    x : ndarray
        [n] or [n, channels] samples at ``file_sr``.
    file_sr, slice_len, sr : int
    name : str, optional
        The input file, named by a rate that cannot be resampled.

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
    y = resample(mono, file_sr, sr, name=name)
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
    rows = {}
    for name in (layout.CORPUS_CSV, layout.ITEMS_CSV):
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
        A float WAV whose peak exceeds :data:`FLOAT_PEAK_NOTE` is named in one
        ``ganphon: note:`` line on stderr (it is probed as it is).
    slice_len, sr : int
        The network's slice.
    tier : str, optional
        Interval tier of long recordings to cut words from.
    labels : list of str, optional
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
    from .corpus.folder import wav_folder

    folder, files = wav_folder(wavs, "wavs")
    labels = name_list(labels, "labels")
    wanted = set(labels) if labels else None
    fitter = _Fitter(slice_len, sr)
    table = _input_tables(folder)
    for wav in files:
        x, file_sr, grid, tg_path, base = _read_input(folder, wav, tier, table)
        fitter.report.n_files += 1
        if tier is None:
            fitter.add(x, file_sr, grid, f"input={wav.stem}", base)
        else:
            _add_intervals(fitter, x, file_sr, grid, tg_path, base, tier, wanted)
    if not fitter.items:
        what = f"labels {', '.join(sorted(wanted))}" if wanted else "any non-empty label"
        raise GanphonError(f"{folder}: no interval of tier {tier!r} matched {what}")
    return fitter.items, fitter.report


class _Fitter:
    """Fits inputs to the slice, one :class:`SpeechItem` each, counting every change in its report."""

    def __init__(self, slice_len: int, sr: int):
        self.slice_len, self.sr = slice_len, sr
        self.T = slice_duration(slice_len, sr)
        self.report = SpeechReport(slice_len=slice_len, sr=sr)
        self.items: list = []

    def add(self, x, file_sr: int, grid, condition: str, columns: dict) -> None:
        sl, info = fit_to_slice(x, file_sr, self.slice_len, self.sr, name=columns.get("input_file"))
        end = info.pop("end")
        report = self.report
        report.n_items += 1
        report.n_resampled += bool(info["resampled"])
        report.n_mixed += bool(info["mixed"])
        report.n_cut += info["cut_s"] > 0
        report.n_padded += info["padded_s"] > 0
        self.items.append(SpeechItem(sl, fit_textgrid(grid, end, self.T, self.sr, condition),
                                     {**columns, "input_sr": file_sr, **info}))


def _read_input(folder: Path, wav: Path, tier, table: dict) -> tuple:
    """One input WAV, its TextGrid (empty when absent) and the manifest columns naming it."""
    import tgt

    rel = wav.relative_to(folder).as_posix()
    tg_path = layout.textgrid_beside(wav)
    if tier is not None and tg_path is None:
        raise GanphonError(f"{wav}: no TextGrid {wav.stem}.TextGrid beside it (needed for tier '{tier}')")
    grid = io.read_textgrid(tg_path) if tg_path is not None else tgt.TextGrid()
    x, file_sr = io.read_wav(wav)
    note_float_peak(wav, x)
    if grid.tiers:  # its intervals are where the TextGrid says: say so when it was made for another version
        other = domain_note((grid.start_time, grid.end_time), 0.0, len(x) / file_sr, 1.0 / file_sr)
        if other:
            print(f"ganphon: note: {tg_path}: {other}; its intervals are taken at its own times", file=sys.stderr)
    base = {"input_file": rel,
            "input_textgrid": tg_path.relative_to(folder).as_posix() if tg_path else "",
            **table.get(rel, {})}
    return x, file_sr, grid, tg_path, base


def note_float_peak(path, x) -> bool:
    """Print one ``ganphon: note:`` line naming ``path`` when its float samples peak above :data:`FLOAT_PEAK_NOTE`.

    Integer PCM is always within ±1; a float WAV far outside it (a wrong
    scale, e.g. PCM counts stored as floats) is probed as it is.  Returns
    whether the note was printed.
    """
    peak = float(np.max(np.abs(x))) if np.size(x) else 0.0
    if not peak > FLOAT_PEAK_NOTE:
        return False
    print(f"ganphon: note: {path}: float WAV peaks at {peak:.4g}, far outside ±1 (> {FLOAT_PEAK_NOTE:g}); "
          "probed as it is, not rescaled", file=sys.stderr)
    return True


def _add_intervals(fitter: _Fitter, x, file_sr: int, grid, tg_path, base: dict, tier: str, wanted) -> None:
    """Each non-empty (wanted) interval of ``tier`` as one item, cut at the recording's rate."""
    from .corpus.cut import clip_textgrid

    rel = base["input_file"]
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
        fitter.add(x[i0:i1], file_sr, word_grid, f"{tier}={label}",
                   {**base, **dict(zip(INTERVAL_COLUMNS, (tier, number, label, start, end)))})


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
        raise ParameterError("network", f"must be one of {', '.join(WAVEFORM_NETWORKS)} for given waveforms, "
                                        f"got {network!r}")
    where = model.path or "the checkpoint"
    if network == "q":
        if model.config.arch == "wavegan":
            raise ParameterError("network", f"{where}: a wavegan model has no Q-network (q needs a ciwGAN or "
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


def _labels(labels):
    """The request's ``labels``: sorted, or None."""
    return sorted(name_list(labels, "labels")) if labels else None


def _check_waveform_request(model, network: str, layers, feature_maps, batch_size: int, clip, device) -> tuple:
    """The network and its checked layers, before anything is read or written."""
    from .probe import check_layers

    net = waveform_network(model, network)
    check_batch_size(batch_size)
    check_clip(clip)
    layers = check_layers(net, layers)
    if layout.OUTPUT_LAYER in layers:
        raise GanphonError(f"layer '{layout.OUTPUT_LAYER}' of a {network} is its prediction, not a series; "
                           "the input is exported as ID_output.wav")
    feature_maps = check_layers(net, list(feature_maps), "feature_maps") if feature_maps else []
    if device is not None:
        import torch

        if torch.device(device).type == "cuda" and not torch.cuda.is_available():
            raise ParameterError("device", f"{device!r}: no CUDA device is available to torch {torch.__version__}")
    return net, layers, feature_maps


def _load_items(wavs, slice_len: int, sr: int, tier, labels, progress: bool) -> tuple:
    items, report = load_speech(wavs, slice_len, sr, tier=tier, labels=labels)
    if progress:
        print(f"ganphon: {report.summary()}", file=sys.stderr)
    return items, report, [layout.sample_id(i) for i in range(len(items))]


@layout.folder_locks()  # another process writing the same folder is refused
def probe_speech(model, wavs, out, *, network: str = "q", tier: str | None = None, labels=None,
                 layers=None, reduce: str = "mean", activation: str = "post", clip: float | None = None,
                 feature_maps=(), batch_size: int = 64, device=None, command: str | None = None,
                 overwrite: bool = False, progress: bool = True, wav_layers: bool = False) -> pd.DataFrame:
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
    layers : list of str, optional
        Default: every conv layer (``conv1 … conv5``).
    reduce, activation, feature_maps, batch_size, device
        As for :func:`ganphon.probe.probe`; ``activation="post"`` is after the
        LeakyReLU (ICASSP 2022).
    clip : float, optional
        Clip the layer WAVs to [−clip, clip] (also when measuring computes them
        from the Sounds); the Sounds keep the true values.
    wav_layers : bool
        Also write each layer's WAV at the slice rate, ``ID_<layer>.wav``
        (default: each layer once, as its native-rate Sound, as a generator probe).
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
    net, layers, feature_maps = _check_waveform_request(model, network, layers, feature_maps, batch_size, clip,
                                                        device)
    cfg = model.config
    items, report, ids = _load_items(wavs, cfg.slice_len, cfg.sr, tier, labels, progress)
    request = {"kind": "probe", "network": network, "wavs": str(Path(wavs).resolve()), "tier": tier,
               "labels": _labels(labels), "inputs_sha256": inputs_digest(wavs), "layers": layers,
               "reduce": reduce, "activation": activation, "clip": clip, "feature_maps": feature_maps,
               "checkpoint_sha256": model.sha256,
               # batch norm on batch statistics makes a layer depend on its batch
               "batch_size": batch_size if cfg.batchnorm else None}
    if wav_layers:  # only then: a run without them keeps the request of a generator probe's rule
        request["wav_layers"] = True
    planned = {"sample_ids": ids, "files_per_sample": layout.sample_files("{sample_id}", layers, wav_layers),
               "tables": [layout.MANIFEST, *map(layout.feature_maps, feature_maps)]}
    record = {"command": command_line(command), "versions": io.versions("torch", "parselmouth"),
              "checkpoint": str(model.path) if model.path else None, "load_report": report.summary(),
              "created": created(), "planned": planned}
    plan = Plan(Path(out), ids, request, record, lambda sid: layout.sample_files(sid, layers, wav_layers),
                overwrite)
    todo = open_run(plan)
    logits, maps = _write_waveform_samples(net, plan, items, todo, network, layers, reduce, activation,
                                           feature_maps, batch_size, device, clip, wav_layers, cfg, progress)
    for layer, array in maps.items():
        with layout.atomic_path(plan.out / layout.feature_maps(layer)) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, array.astype(np.float32))
    return _waveform_manifest(model, net, plan, items, layers, predictions(cfg, logits, network), network)


def _write_waveform_samples(net, plan: Plan, items, todo, network, layers, reduce, activation, feature_maps,
                            batch_size, device, clip, wav_layers, cfg, progress) -> tuple:
    """Run every input (all predictions are kept), write the files of those left to do; returns
    the logits [N, k] and the feature maps {layer: [N, channels, n]}."""
    logits, maps = [], {layer: [] for layer in feature_maps}

    def write(i, res, j):
        write_sample(plan.out, plan.ids[i], items[i].x, {k: v[j] for k, v in res.native.items()},
                     {k: v[j] for k, v in res.upsampled.items()}, cfg.slice_len, cfg.sr, items[i].grid, clip,
                     wav_layers)

    def keep(res):
        logits.append(res.output)
        for layer in feature_maps:
            maps[layer].append(res.feature_maps[layer])

    x = np.stack([item.x for item in items])
    batches = waveform_batches(net, x, layers, reduce, activation, feature_maps, batch_size, device, wav_layers)
    write_samples(plan, todo, batches, write, progress=progress, desc=f"probe {network} → {plan.out.name}",
                  unit="input", after_batch=keep, ledger_when_idle=True)
    return np.concatenate(logits), {layer: np.concatenate(parts) for layer, parts in maps.items()}


def _waveform_manifest(model, net, plan: Plan, items, layers, pred: pd.DataFrame, network: str) -> pd.DataFrame:
    from .probe import layer_lengths

    cfg = model.config
    lengths = layer_lengths(net)
    per_sample = [{**item.columns, **pred.iloc[i].to_dict()} for i, item in enumerate(items)]
    manifest = manifest_rows(plan.ids, layers, cfg.slice_len, cfg.sr, {k: lengths[k][1] for k in layers},
                             {"arch": cfg.arch, "network": network, "checkpoint_sha256": model.sha256},
                             per_sample)
    io.write_table(manifest, plan.out / layout.MANIFEST)
    return manifest


# ---------------------------------------------------------------- pretrained encoders


#: The longest input an encoder takes at once (2**20 samples, 65.5 s at 16 kHz): a whole recording, not a corpus.
MAX_ENCODER_SLICE = 2**20


@layout.folder_locks()  # another process writing the same folder is refused
def probe_encoder(network: str, wavs, out, *, tier: str | None = None, labels=None, layers=None,
                  slice_len: int | None = None, hop: int | None = None, batch_size: int = 16,
                  device=None, command: str | None = None, overwrite: bool = False,
                  progress: bool = True) -> pd.DataFrame:
    """Run given waveforms through a pretrained encoder (CREPE, wav2vec 2.0 …) and export every layer.

    The export is a Q-network probe's (see the module docstring): ``ID_output.wav``
    (the input as the encoder saw it, 16 kHz), ``ID_<layer>.wav`` (the layer
    interpolated to every input sample, between its receptive-field centres;
    always written, as measuring cannot rebuild it from the Sound's time base),
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
    from .models.encoders import DEFAULT_SLICE_LEN, load_encoder

    L = DEFAULT_SLICE_LEN if slice_len is None else int(slice_len)
    if not 1 <= L <= MAX_ENCODER_SLICE:
        raise ParameterError("slice_len", f"must be between 1 and {MAX_ENCODER_SLICE:,} samples (65.5 s at 16 kHz; "
                                          f"cut longer recordings with --tier), got {L:,}")
    check_batch_size(batch_size)
    encoder = load_encoder(network, hop=hop)
    sr = encoder.sr
    layers = encoder.check_layers(layers)
    times = encoder.layer_times(L)
    items, report, ids = _load_items(wavs, L, sr, tier, labels, progress)
    request = {"kind": "probe", "network": encoder.network, "wavs": str(Path(wavs).resolve()), "tier": tier,
               "labels": _labels(labels), "inputs_sha256": inputs_digest(wavs), "layers": layers, "slice_len": L,
               "hop": getattr(encoder, "hop", None), "checkpoint_sha256": encoder.sha256}
    record = {"command": command_line(command), "versions": io.versions("torch", "parselmouth"),
              "checkpoint": encoder.path, "load_report": report.summary(), "created": created(),
              "planned": {"sample_ids": ids, "files_per_sample": layout.sample_files("{sample_id}", layers),
                          "tables": [layout.MANIFEST]}}
    plan = Plan(Path(out), ids, request, record, lambda sid: layout.sample_files(sid, layers), overwrite)
    todo = open_run(plan)

    def write(i, series, j):
        native = {layer: series[layer][j] for layer in layers}
        write_sample(plan.out, plan.ids[i], items[i].x, native, _on_samples(native, times, L, sr), L, sr,
                     items[i].grid, wav_layers=True, times=times)

    batches = _encoder_batches(encoder, items, todo, layers, L, sr, batch_size, device)
    write_samples(plan, todo, batches, write, progress=progress, desc=f"probe {encoder.network} → {plan.out.name}",
                  unit="input", ledger_when_idle=True)
    per_sample = [item.columns for item in items]
    manifest = manifest_rows(ids, layers, L, sr, {k: times[k].n for k in layers},
                             {"arch": encoder.arch, "network": encoder.network, "checkpoint_sha256": encoder.sha256},
                             per_sample, times=times)
    io.write_table(manifest, plan.out / layout.MANIFEST)
    return manifest


def _encoder_batches(encoder, items, todo, layers, L: int, sr: int, batch_size: int, device):
    """The encoder's source: batches of the inputs left to do, each ``(indices, {layer: [b, n]})``."""
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        x = np.stack([items[i].x for i in batch])
        lengths = [L - int(round(items[i].columns["padded_s"] * sr)) for i in batch]
        yield batch, encoder.series(x, lengths=lengths, layers=layers, device=device)


def _on_samples(native: dict, times: dict, L: int, sr: int) -> dict:
    """Each layer interpolated at every input sample's centre, between its receptive-field centres."""
    from .timebase import interpolate_at

    at_samples = (np.arange(L) + 0.5) / sr
    return {layer: interpolate_at(values, times[layer].times(), at_samples).astype(np.float32)
            for layer, values in native.items()}
