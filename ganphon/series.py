"""Layer series against other time series: the input's own Praat measures, or external recordings.

Both work on any exported folder — a generator probe, a Q-network / critic
probe or a pretrained encoder's (:func:`ganphon.speech.probe_encoder`) — and
read every layer from its native-rate ``ID_<layer>.Sound``, whose samples
carry their own times (``x1``, ``dx``), so an encoder's receptive-field
centres and a generator's ``(k + 0.5) · T / n`` are used alike.

* :func:`correlate_input` — "in which layer does pitch emerge?": per layer,
  Pearson r between the layer's samples and the input's (``ID_output.wav``)
  own F0, intensity and formants, each measure averaged over every layer
  sample's period (so nothing faster than the layer's native Nyquist enters),
  within the intervals of a tier; confidence intervals by a seeded bootstrap
  over items.
* :func:`compare_series` — cABR-style (Beguš, Zhou & Zhao 2023): per item and
  layer, the normalised cross-correlation between the layer series and an
  external series (CSV with a time column, WAV, or EDF through MNE) brought onto the layer's
  sample times, the lag at its peak, and both series' peak latencies;
  summaries per layer with bootstrap intervals across items.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import io, layout
from .errors import TYPOGRAPHIC_MINUS, GanphonError, ParameterError, first_line, name_list, number_hint

CORRELATE_CSV = "correlate_input.csv"
COMPARE_CSV = "compare_series.csv"
COMPARE_SUMMARY_CSV = "compare_series_summary.csv"
COMPARE_JSON = "compare_series.json"
MEASURES = ("f0", "intensity", "f1", "f2")
ALL_LABEL = "(all)"


# ---------------------------------------------------------------- shared pieces


def _layer_rows(folder: Path, layers=None) -> pd.DataFrame:
    """The manifest's layer rows (not ``output``), checked; ``layers`` picks some."""
    manifest = io.read_manifest(folder, required=("sample_id", "layer", "file", "sound_file"))
    rows = manifest[manifest["layer"] != layout.OUTPUT_LAYER]
    layers = name_list(layers, "layers")
    if layers:
        unknown = sorted(set(layers) - set(rows["layer"]))
        if unknown:
            raise ParameterError("layers", f"{folder} has no layer {', '.join(unknown)} "
                                           f"(it has {', '.join(layout.sort_layers(rows['layer']))})")
        rows = rows[rows["layer"].isin(layers)]
    if rows.empty:
        raise GanphonError(f"{folder / layout.MANIFEST}: no layer series to compare")
    return rows


def read_series(path, row=None):
    """``(times, values, dx)`` of a native-rate Sound (or WAV): every sample at its own centre.

    ``row``: the sample's manifest row; the Sound is checked against its ``slice_len``, ``sr``,
    ``rate_native_hz`` and ``n_native`` (:func:`ganphon.io.check_native`)."""
    snd = io.read_sound(path)
    if row is not None:
        known = {k: row[k] for k in ("slice_len", "sr", "rate_native_hz", "n_native")
                 if k in row and pd.notna(row[k])}
        io.check_native(snd, path, known.get("sr"), known.get("slice_len"), known.get("rate_native_hz"),
                        known.get("n_native"))
    return np.asarray(snd.xs(), dtype=np.float64), np.asarray(snd.values[0], dtype=np.float64), float(snd.dx)


def on_grid(times, values, at, dx):
    """A series (``times``, ``values``; NaN = undefined) brought onto sample times ``at`` of period ``dx``.

    Where the series is denser than ``dx`` its defined values in each sample's
    period ``[t − dx/2, t + dx/2)`` are averaged (a sample with none is NaN);
    where it is sparser it is interpolated linearly between its two defined
    neighbours (NaN beyond its ends).
    """
    times, values, at = (np.asarray(a, dtype=np.float64) for a in (times, values, at))
    ok = np.isfinite(values)
    if len(times) > 1 and np.median(np.diff(times)) < dx:
        edges = np.concatenate([at - dx / 2, [at[-1] + dx / 2]])
        index = np.searchsorted(edges, times[ok], side="right") - 1
        inside = (index >= 0) & (index < len(at))
        sums = np.bincount(index[inside], weights=values[ok][inside], minlength=len(at))
        counts = np.bincount(index[inside], minlength=len(at))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    if ok.sum() < 2:
        return np.full(len(at), np.nan)
    out = np.interp(at, times[ok], values[ok], left=np.nan, right=np.nan)
    # not across an undefined stretch: both neighbours must be defined
    right = np.clip(np.searchsorted(times, at), 1, len(times) - 1)
    bridged = ok[right] & ok[right - 1]
    return np.where(bridged, out, np.nan)


def _pearson(x, y) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 3:
        return float("nan")
    x, y = x - x.mean(), y - y.mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else float("nan")


def _interval_mask(grid, tier, labels, times, path) -> tuple[np.ndarray, np.ndarray]:
    """``(inside, label)`` per time: inside a non-empty (matching) interval of ``tier``, and its label."""
    inside = np.zeros(len(times), dtype=bool)
    label = np.full(len(times), "", dtype=object)
    for start, end, text in io.interval_tier(grid, tier, path=path):
        text = text.strip()
        if not text or (labels and text not in labels):
            continue
        hit = (times >= start) & (times < end)
        inside |= hit
        label[hit] = text
    return inside, label


# ---------------------------------------------------------------- the input's own measures


def input_measures(sound, *, pitch_floor: float = 75.0, pitch_ceiling: float = 600.0,
                   maximum_formant: float = 5500.0, input_sr: float | None = None,
                   time_step: float = 0.005) -> dict:
    """The input's Praat contours: ``{measure: (times, values)}``, NaN where undefined.

    F0 (``To Pitch`` (ac), 0 = unvoiced → NaN), intensity (``To Intensity``,
    minimum pitch 100 Hz, dB), F1 and F2 (``To Formant (burg)``, 5 formants up
    to ``maximum_formant``, voiced frames only).  Formants are left out (NaN)
    when the input's own band (``input_sr`` / 2, before any resampling) or the
    sound's does not reach ``maximum_formant``.
    """
    out = {}
    nyquist = sound.sampling_frequency / 2
    if pitch_ceiling > nyquist:
        raise ParameterError("pitch_ceiling", f"{pitch_ceiling:g} Hz is above the sound's Nyquist frequency "
                                              f"({nyquist:g} Hz)")
    if 3.0 / pitch_floor > sound.duration:  # To Pitch's window: 3 periods of the floor
        raise ParameterError("pitch_floor", f"{pitch_floor:g} Hz needs a window of {3.0 / pitch_floor:g} s, longer "
                                            f"than the sound ({sound.duration:g} s)")
    pitch = sound.to_pitch(time_step=time_step, pitch_floor=pitch_floor, pitch_ceiling=pitch_ceiling)
    f0 = pitch.selected_array["frequency"].astype(np.float64)
    f0[f0 <= 0] = np.nan
    out["f0"] = (np.asarray(pitch.xs()), f0)
    if sound.duration >= 6.4 / 100.0:
        intensity = sound.to_intensity(minimum_pitch=100.0, time_step=time_step)
        out["intensity"] = (np.asarray(intensity.xs()), np.asarray(intensity.values[0], dtype=np.float64))
    band_ok = (input_sr is None or input_sr / 2 >= maximum_formant) and nyquist >= maximum_formant
    # a band the sound does not carry: the frames' times only (Burg up to the Nyquist), every value NaN
    formant = sound.to_formant_burg(time_step=time_step, max_number_of_formants=5,
                                    maximum_formant=maximum_formant if band_ok else nyquist)
    ft = np.asarray(formant.xs())
    voiced = (np.interp(ft, out["f0"][0], np.isfinite(f0).astype(np.float64), left=0.0, right=0.0) > 0.5
              if len(f0) else np.zeros(len(ft), dtype=bool))
    for k in (1, 2):
        values = np.array([formant.get_value_at_time(k, t) for t in ft], dtype=np.float64)
        values[~voiced] = np.nan
        if not band_ok:
            values[:] = np.nan
        out[f"f{k}"] = (ft, values)
    return out


def correlate_input(folder, *, tier: str | None = None, labels=None, layers=None, measures=MEASURES,
                    pitch_floor: float = 75.0, pitch_ceiling: float = 600.0, maximum_formant: float = 5500.0,
                    n_boot: int = 1000, seed: int = 0, out=None, command: str | None = None) -> pd.DataFrame:
    """Per layer and measure: r between the layer series and the input's own Praat measure.

    Parameters
    ----------
    folder : path-like
        An exported folder (manifest.csv, ``ID_output.wav``, ``ID_<layer>.Sound``, ``ID.TextGrid``).
    tier : str, optional
        Interval tier whose non-empty intervals hold the samples used (default:
        ``condition`` when every TextGrid has it — the input's own audio,
        not the padding — else the whole slice).  Each label also gets its own row.
    labels : list of str, optional
        Keep only intervals with these labels.
    layers : list of str, optional
    measures : sequence of str
        Of :data:`MEASURES`.
    pitch_floor, pitch_ceiling, maximum_formant : float
        Praat's settings for F0 and formants.
    n_boot : int
        Bootstrap resamples of items (0: no intervals).
    seed : int
        Seed of the bootstrap.
    out : path-like, optional
        Where to write the table (default ``folder/correlate_input.csv``); its record (request,
        seed, versions, ``command``) goes beside it (``correlate_input.json``).

    Returns
    -------
    DataFrame
        One row per layer × measure × label (``(all)`` pools every interval):
        ``r``, ``ci_low``, ``ci_high`` (2.5 / 97.5 % of the bootstrap), ``rho`` (Spearman's,
        robust to a few octave jumps), ``n_samples``,
        ``n_items``, ``rate_native_hz``, ``nyquist_hz``.
    """
    folder = Path(folder)
    measures, labels = name_list(measures, "measures"), name_list(labels, "labels")
    unknown = [m for m in measures if m not in MEASURES]
    if unknown:
        raise ParameterError("measures", f"unknown {', '.join(unknown)} (choose from {', '.join(MEASURES)})")
    check_boot(n_boot)
    settings = {"pitch_floor": pitch_floor, "pitch_ceiling": pitch_ceiling, "maximum_formant": maximum_formant}
    for parameter, value in settings.items():
        if not (math.isfinite(value) and value > 0):
            raise ParameterError(parameter, f"must be a positive number of Hz, got {value}")
    if pitch_floor >= pitch_ceiling:
        raise ParameterError("pitch_floor", f"{pitch_floor:g} Hz must be below the pitch ceiling "
                                            f"({pitch_ceiling:g} Hz)")
    table_path = Path(out) if out else folder / CORRELATE_CSV
    layout.check_plan({"the table": table_path, "its record": table_path.with_suffix(".json")})
    io.check_record_slot(table_path.with_suffix(".json"), "correlate-input")
    pairs = _input_pairs(folder, _layer_rows(folder, layers), tier, labels, measures, settings)
    if not any(len(p["value"]) for p in pairs):  # nothing inside the intervals asked for: no table, one line
        where = f"tier {tier!r}" if tier else "tier 'condition' (the default)"
        if labels:
            raise ParameterError("labels", f"no layer sample lies in an interval of {where} labelled "
                                           f"{', '.join(labels)} in {folder}")
        raise GanphonError(f"{folder}: no layer sample lies in a non-empty interval of {where}")
    result = pd.DataFrame(_input_correlations(pairs, measures, n_boot, seed))
    io.write_table(result, table_path)
    request = {"folder": str(folder), "tier": tier, "labels": labels, "layers": name_list(layers, "layers"),
               "measures": measures, **settings, "n_boot": n_boot}
    io.write_run_record(table_path.with_suffix(".json"), io.run_record(
        "correlate-input", command=command, request=request, seed=seed, modules=("parselmouth",),
        inputs={"manifest": io.file_digest(folder / layout.MANIFEST), "textgrids": io.textgrid_digest(folder)}))
    return result


#: The most bootstrap resamples taken (a 95 % interval is stable from about 2,000; each costs a draw per item).
MAX_BOOT = 10_000


def check_boot(n_boot: int) -> None:
    """Refuse a number of bootstrap resamples below 0 or above :data:`MAX_BOOT`."""
    if not 0 <= n_boot <= MAX_BOOT:
        raise ParameterError("n_boot", f"must be between 0 and {MAX_BOOT:,}, got {n_boot}")


def _input_pairs(folder: Path, rows: pd.DataFrame, tier, labels, measures, settings: dict) -> list:
    """One dict per item × layer of :func:`correlate_input`: the layer series (``value``) inside the
    tier's intervals, each measure of the input on the series' grid, the interval ``label``, ``dx``."""
    import parselmouth

    manifest = io.read_manifest(folder)
    outputs = manifest[manifest["layer"] == layout.OUTPUT_LAYER].set_index("sample_id")
    pairs = []
    for sid, group in rows.groupby("sample_id", sort=True):
        if sid not in outputs.index:
            raise GanphonError(f"{folder / layout.MANIFEST}: sample {sid} has no output row")
        out_row = outputs.loc[sid]
        sound = io.read_sound(folder / out_row["file"])
        rate, n = io.manifest_shape(out_row)  # a cut or foreign file is named, not analysed on its own time base
        io.check_native(sound, folder / out_row["file"], rate=rate, n=n, what="output")
        input_sr = out_row.get("input_sr") if "input_sr" in outputs.columns else None
        input_sr = float(input_sr) if input_sr is not None and np.isfinite(input_sr) else float(sound.sampling_frequency)
        try:
            contours = input_measures(sound, input_sr=input_sr, **settings)
        except parselmouth.PraatError as exc:  # settings Praat cannot analyse this sound with, e.g. a 1 Hz formant
            raise GanphonError(f"{folder / out_row['file']}: Praat refused to analyse it with pitch "
                               f"{settings['pitch_floor']:g}–{settings['pitch_ceiling']:g} Hz and maximum formant "
                               f"{settings['maximum_formant']:g} Hz ({first_line(exc)})") from None
        tg_path = folder / out_row["textgrid"]
        grid = io.read_textgrid(tg_path) if tg_path.is_file() else None
        use_tier = tier
        if use_tier is None and grid is not None and any(t.name == "condition" for t in grid.tiers):
            use_tier = "condition"
        for _, row in group.iterrows():
            times, values, dx = read_series(folder / row["sound_file"], row)
            if use_tier is not None:
                if grid is None:
                    raise GanphonError(f"{tg_path}: no TextGrid (needed for tier '{use_tier}')")
                inside, label = _interval_mask(grid, use_tier, labels, times, tg_path)
            else:
                inside, label = np.ones(len(times), dtype=bool), np.full(len(times), "", dtype=object)
            frame = {"sample_id": sid, "layer": row["layer"], "value": values[inside], "label": label[inside],
                     "dx": dx}
            for m in measures:
                if m in contours:
                    frame[m] = on_grid(*contours[m], times, dx)[inside]
                else:
                    frame[m] = np.full(int(inside.sum()), np.nan)
            pairs.append(frame)
    return pairs


def _input_correlations(pairs: list, measures, n_boot: int, seed: int) -> list:
    """The rows of :func:`correlate_input`: per layer × measure × label, r pooled over items with its
    item bootstrap (one set of ``n_boot`` draws from ``seed`` for every row), and Spearman's rho."""
    rng = np.random.default_rng(seed)
    table = []
    layer_order = layout.sort_layers({p["layer"] for p in pairs})
    items = sorted({p["sample_id"] for p in pairs})
    draws = [rng.integers(0, len(items), len(items)) for _ in range(n_boot)]
    for layer in layer_order:
        frames = {p["sample_id"]: p for p in pairs if p["layer"] == layer}
        dx = next(iter(frames.values()))["dx"]
        all_labels = sorted({str(x) for p in frames.values() for x in p["label"] if x})
        for m in measures:
            for lab in [ALL_LABEL, *all_labels]:
                per_item = {}
                for sid, p in frames.items():
                    keep = np.isfinite(p[m]) & np.isfinite(p["value"])
                    if lab != ALL_LABEL:
                        keep &= p["label"] == lab
                    if keep.any():
                        per_item[sid] = (p["value"][keep], p[m][keep])
                if not per_item:
                    continue

                def pooled(ids):
                    parts = [per_item[i] for i in ids if i in per_item]
                    if not parts:
                        return float("nan")
                    return _pearson(np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts]))

                r = pooled(list(per_item))
                ranks = [np.concatenate([a for a, _ in per_item.values()]),
                         np.concatenate([b for _, b in per_item.values()])]
                rho = _pearson(*(pd.Series(v).rank().to_numpy() for v in ranks))
                boots = np.array([pooled([items[k] for k in d]) for d in draws]) if n_boot else np.array([])
                boots = boots[np.isfinite(boots)]
                table.append({"layer": layer, "measure": m, "label": lab, "r": r, "rho": rho,
                              "ci_low": float(np.percentile(boots, 2.5)) if len(boots) else np.nan,
                              "ci_high": float(np.percentile(boots, 97.5)) if len(boots) else np.nan,
                              "n_samples": int(sum(len(a) for a, _ in per_item.values())),
                              "n_items": len(per_item), "rate_native_hz": 1.0 / dx, "nyquist_hz": 0.5 / dx,
                              "n_boot": n_boot, "seed": seed})
    return table


# ---------------------------------------------------------------- external series


def read_external(path, column: str | None = None, time_column: str = "time"):
    """``(times, values)`` of an external series: a CSV with a time column (s), or a WAV (mono mix).

    Raises
    ------
    GanphonError
        A missing file, no time column, no numeric value column (or several without ``column``).
    """
    path = Path(path)
    if not path.is_file():
        raise GanphonError(f"{path}: no such external series file")
    if path.suffix.lower() == ".wav":
        x, sr = io.read_wav(path, mono=True)
        return (np.arange(len(x)) + 0.5) / sr, np.asarray(x, dtype=np.float64)
    if path.suffix.lower() in (".edf", ".bdf"):
        return read_edf(path, column)
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise GanphonError(f"{path}: an external series is a CSV with a '{time_column}' column, a WAV or an EDF")
    table = io.read_table(path, "external series", sep=None, engine="python")
    if table.empty:
        raise GanphonError(f"{path}: an external series without rows (only a header)")
    if time_column not in table.columns:
        raise ParameterError("time_column", f"{path} has no column {time_column!r} "
                                            f"(it has {', '.join(map(str, table.columns))})")
    if column is None:
        numeric = [c for c in table.columns if c != time_column and pd.api.types.is_numeric_dtype(table[c])]
        if not numeric:
            raise GanphonError(f"{path}: no column of numbers besides {time_column!r} "
                               f"(its columns: {', '.join(map(str, table.columns))}){_number_hint(table)}")
        if len(numeric) > 1:
            raise ParameterError("column", f"{path} has several numeric value columns "
                                           f"({', '.join(map(str, numeric))}); choose one")
        column = numeric[0]
    if column not in table.columns:
        raise ParameterError("column", f"{path} has no column {column!r} (it has {', '.join(map(str, table.columns))})")
    if column == time_column:
        raise ParameterError("column", f"{column!r} is the time column of {path}; name the column of values")
    t = pd.to_numeric(table[time_column], errors="coerce").to_numpy(dtype=np.float64)
    values = pd.to_numeric(table[column], errors="coerce")
    text = table[column].astype("string").str.strip()
    typo = values.isna().to_numpy() & table[column].notna().to_numpy() & (text != "").fillna(False).to_numpy()
    if typo.any():  # an empty cell, NaN or NA is an undefined sample; anything else that is not a number is an error
        row = int(np.flatnonzero(typo)[0])
        raise GanphonError(f"{path}: column {column!r}, row {row + 2}: {table[column].iloc[row]!r} is not a number "
                           f"(leave the cell empty, or write NaN, for an undefined value)"
                           f"{number_hint(table[column].iloc[row]) or _number_hint(table)}")
    v = values.to_numpy(dtype=np.float64)
    if np.isinf(v).any():  # not a measurement: a cell an undefined value would leave empty
        row = int(np.flatnonzero(np.isinf(v))[0])
        raise GanphonError(f"{path}: column {column!r}, row {row + 2}: '{table[column].iloc[row]}' is not a finite "
                           "number (leave the cell empty, or write NaN, for an undefined value)")
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise GanphonError(f"{path}: column {time_column!r} must hold increasing times in seconds"
                           f"{_number_hint(table)}")
    return t, v


def _number_hint(table) -> str:
    """A hint when a table's text cells are numbers written with a typographic minus ('−1.5') or a decimal
    comma ('0,5'), '' otherwise."""
    for name in table.columns:
        cells = table[name].dropna()
        if pd.api.types.is_numeric_dtype(cells):
            continue
        text = cells.astype(str)
        for cell in text[text.str.contains("[" + "".join(TYPOGRAPHIC_MINUS) + "]")][:1]:
            return f" (column {name!r} holds {cell!r}: {number_hint(cell).removeprefix(' (')}"
        comma = cells[text.str.fullmatch(r"\s*[-+]?\d+,\d+\s*")]
        if len(comma):
            return f" (column {name!r} holds numbers with a decimal comma, e.g. {comma.iloc[0]!r}: write 0.5, not 0,5)"
    return ""


def read_edf(path, channel: str | None = None):
    """``(times, values)`` of one channel of an EDF / BDF recording, read by MNE (``ganphon[eeg]``).

    Times are MNE's (sample i at i / sfreq, 0 = the recording's first sample); values in the
    channel's physical unit as MNE gives them (volts for EEG).  ``channel`` names the channel
    (default: the only one).
    """
    try:
        import mne
    except ImportError:
        raise GanphonError(f"{path}: reading EDF needs MNE: pip install 'ganphon[eeg]'") from None
    try:
        raw = mne.io.read_raw_edf(str(path), preload=True, verbose="error") if Path(path).suffix.lower() == ".edf" \
            else mne.io.read_raw_bdf(str(path), preload=True, verbose="error")
    except Exception as exc:  # noqa: BLE001 - MNE raises many kinds for a bad file; one line naming it
        raise GanphonError(f"{path}: MNE cannot read it ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    names = list(raw.ch_names)
    if channel is None:
        if len(names) != 1:
            raise ParameterError("channel", f"{path} has {len(names)} channels ({', '.join(names[:8])}); choose one")
        channel = names[0]
    if channel not in names:
        raise ParameterError("channel", f"{path} has no channel {channel!r} (it has {', '.join(names[:8])})")
    return np.asarray(raw.times, dtype=np.float64), raw.get_data(picks=[channel])[0].astype(np.float64)


def cross_correlation(x, y, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r between ``x[k]`` and ``y[k + m]`` for m = −max_lag … max_lag (defined samples only).

    A positive lag at the peak means ``y`` follows ``x`` (``y`` is later).
    """
    lags = np.arange(-max_lag, max_lag + 1)
    r = np.full(len(lags), np.nan)
    n = len(x)
    for i, m in enumerate(lags):
        a = x[max(0, -m): n - max(0, m)]
        b = y[max(0, m): n + min(0, m)]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() >= 3:
            r[i] = _pearson(a[ok], b[ok])
    return lags, r


def _undefined_note(grid, values, inside, start: float, end: float, et, ev) -> str:
    """Why an item's correlations are undefined ('' when they are not): said in its row, never left silent.

    Fewer than 3 defined samples of the external series inside the item — on the
    layer's grid, or of its own (a series sampled every second, or in ms read as
    seconds, interpolated onto the grid would be a straight line) — leave r undefined.
    ``inside``: the external's defined samples within the item's span.
    """
    defined = np.isfinite(grid)
    ok = np.isfinite(ev)
    own = int(inside.sum())
    if defined.sum() < 3 or own < 3:
        span = f"{et[ok].min():g}–{et[ok].max():g} s" if ok.any() else "no defined value"
        every = f", one every {np.median(np.diff(et)):g} s" if len(et) > 1 else ""
        # times 1000 × the item's span: milliseconds read as seconds
        ms = (ok.any() and end > start and 100 * (end - start) <= np.ptp(et[ok]) <= 10_000 * (end - start))
        hint = "; times in milliseconds? the time column is in seconds" if ms else ""
        return (f"external series has {min(int(defined.sum()), own)} defined samples in the item's "
                f"{start:g}–{end:g} s (its times: {span}{every}{hint}); r undefined")
    if np.ptp(grid[defined]) == 0:
        return "external series constant over the item; r undefined"
    if np.ptp(values) == 0:
        return "layer series constant (all samples equal); r undefined"
    return ""


def _external_for(external: Path, sid: str, row) -> Path:
    if external.is_file():
        return external
    stems = [sid]
    if "input_file" in row and isinstance(row["input_file"], str) and row["input_file"]:
        stems.append(Path(row["input_file"]).stem)
    for stem in stems:
        for suffix in (".csv", ".tsv", ".txt", ".wav", ".edf", ".bdf"):
            candidate = external / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    raise GanphonError(f"{external}: no external series for {sid} (looked for {' or '.join(s + '.csv/.wav' for s in stems)})")


def _ci(values, n_boot, rng):
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    if n_boot == 0 or len(values) < 2:
        return float(values.mean()), np.nan, np.nan
    means = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    return float(values.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def compare_series(folder, external, *, layers=None, max_lag: float = 0.05, column: str | None = None,
                   time_column: str = "time", n_boot: int = 1000, seed: int = 0, out=None,
                   command: str | None = None):
    """Cross-correlate every layer series with an external time series, per item; summarise per layer.

    Parameters
    ----------
    folder : path-like
        An exported folder (any probe).
    external : path-like
        One file (CSV with a time column in seconds, WAV, or EDF / BDF through MNE) for every item,
        or a folder with one per item named after its sample id (``s000000.csv``)
        or its input file's stem (``ba.wav`` → ``ba.csv``).  Time 0 is the
        item's first sample.
    layers : list of str, optional
    max_lag : float
        Largest lag tried, seconds, either way.
    column, time_column : str
        The CSV's value column (default: its only numeric column besides the time) and time column.
    n_boot, seed : int
        Bootstrap over items for the summaries' intervals.
    out : path-like, optional
        Folder for ``compare_series.csv``, ``compare_series_summary.csv`` and their record
        ``compare_series.json`` (request, seed, versions, ``command``; default ``folder``).
        A folder given here must be new, empty, or one this command wrote.

    Returns
    -------
    per_item, summary : DataFrame
        ``per_item``: sample × layer with ``lag_s`` (the external's delay at the peak of
        r; positive = the external follows the layer), ``r_peak``, ``r_zero`` (lag 0),
        ``layer_peak_s`` and ``external_peak_s`` (times of each series' maximum within the
        item) and ``latency_s`` (their difference); ``note`` says why an item's r is undefined
        (an external series that does not cover it, or a constant series).  ``summary``: per layer, the means of these
        over items with bootstrap 95 % intervals (``*_ci_low``, ``*_ci_high``).
    """
    folder, external = Path(folder), Path(external)
    if not external.exists():
        raise GanphonError(f"{external}: no such file or folder")
    if not max_lag > 0:
        raise ParameterError("max_lag", f"must be > 0 s, got {max_lag}")
    check_boot(n_boot)
    target = Path(out) if out else folder
    if out:
        io.check_results_folder(target, COMPARE_JSON, "compare-series")
    io.check_record_slot(target / COMPARE_JSON, "compare-series")
    rows = _layer_rows(folder, layers)
    manifest = io.read_manifest(folder)
    firsts = manifest.drop_duplicates("sample_id").set_index("sample_id")
    cache = {}
    records = []
    for _, row in rows.iterrows():
        sid = row["sample_id"]
        path = _external_for(external, sid, firsts.loc[sid])
        if path not in cache:
            et, ev = read_external(path, column, time_column)
            # lags, r and the peak do not depend on the scale: brought to a largest magnitude of 1, values near
            # the float64 limit (1e308) do not overflow the averaging onto the layer's grid or the sums of squares
            top = np.abs(ev[np.isfinite(ev)]).max() if np.isfinite(ev).any() else 0.0
            cache[path] = et, (ev / top if top > 0 else ev)
        et, ev = cache[path]
        times, values, dx = read_series(folder / row["sound_file"], row)
        if max_lag >= len(values) * dx:
            raise ParameterError("max_lag", f"{max_lag:g} s is not shorter than the series "
                                            f"({len(values) * dx:g} s of {row['layer']})")
        grid = on_grid(et, ev, times, dx)
        lags, r = cross_correlation(values, grid, max(1, int(round(max_lag / dx))))
        # the external's peak within the item's span (a longer recording's peak elsewhere is not this item's)
        start, end = times[0] - dx / 2, times[-1] + dx / 2
        ok = np.isfinite(ev) & (et >= start) & (et <= end)
        note = _undefined_note(grid, values, ok, start, end, et, ev)
        if note:
            r = np.full(len(r), np.nan)
        best = int(np.nanargmax(r)) if np.isfinite(r).any() else None
        records.append({"sample_id": sid, "layer": row["layer"], "external": str(path),
                        "rate_native_hz": 1.0 / dx,
                        "lag_s": float(lags[best] * dx) if best is not None else np.nan,
                        "r_peak": float(r[best]) if best is not None else np.nan,
                        "r_zero": float(r[len(r) // 2]),
                        "layer_peak_s": float(times[int(np.argmax(values))]),
                        "external_peak_s": float(et[ok][int(np.argmax(ev[ok]))]) if ok.any() else np.nan,
                        "note": note})
    per_item = pd.DataFrame(records)
    if per_item["note"].str.startswith("external series").all() and not np.isfinite(per_item["r_peak"]).any():
        raise GanphonError(f"{external}: {per_item['note'].iloc[0]}; no item can be compared (time 0 is each "
                           "item's first sample)")
    per_item["latency_s"] = per_item["external_peak_s"] - per_item["layer_peak_s"]
    rng = np.random.default_rng(seed)
    summary = []
    for layer in layout.sort_layers(per_item["layer"]):
        part = per_item[per_item["layer"] == layer]
        entry = {"layer": layer, "n_items": len(part), "n_undefined": int((part["note"] != "").sum()),
                 "rate_native_hz": float(part["rate_native_hz"].iloc[0])}
        for what in ("lag_s", "r_peak", "r_zero", "layer_peak_s", "latency_s"):
            mean, lo, hi = _ci(part[what], n_boot, rng)
            entry.update({what: mean, f"{what}_ci_low": lo, f"{what}_ci_high": hi})
        summary.append(entry)
    summary = pd.DataFrame(summary)
    layout.make_folder(target)
    io.write_table(per_item, target / COMPARE_CSV)
    io.write_table(summary, target / COMPARE_SUMMARY_CSV)
    request = {"folder": str(folder), "external": str(external), "layers": name_list(layers, "layers"),
               "max_lag": max_lag, "column": column, "time_column": time_column, "n_boot": n_boot}
    io.write_run_record(target / COMPARE_JSON, io.run_record(
        "compare-series", command=command, request=request, seed=seed,
        inputs={"manifest": io.file_digest(folder / layout.MANIFEST),
                "external": {str(p): io.file_digest(p) for p in cache}}))
    return per_item, summary
