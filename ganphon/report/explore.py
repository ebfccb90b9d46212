"""``ganphon explore``: one self-contained, offline HTML page per sweep.

The page ``DIR/explore.html`` needs no server and loads nothing from the
network.  For the chosen sample it shows

* the layer stack — waveform, spectrogram and every layer's average on one
  time axis with the annotation tier — drawn on a ``<canvas>`` by the page
  itself from display data kept in the page (per sample: the waveform's and
  each layer's min/max per pixel column, the broadband spectrogram of
  :func:`ganphon.plots.spectrogram_power` 70 dB deep, all quantised to
  8 bits; see :func:`display_data`);
* the acoustic table's per-interval rows for every layer (``acoustics.csv``);
* audio players for the output (its measured float32 WAV) and each layer
  (compact 16-bit FLAC listening copies in ``listen/``, see
  :func:`ganphon.report.writer.compact_layer_copy`), linked relatively so the
  folder can move (``--out``: the outputs as 16-bit FLAC copies too, so the
  page's folder holds everything it plays).

A slider runs over the swept value and a menu over the base latents; the arrow
keys step through values (← →) and bases (↑ ↓).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from .. import layout
from ..errors import GanphonError
from ..measures import FAMILIES, Names, page_columns
from .writer import COMPACT_LISTENING_NOTE, COPIED_LISTENING_NOTE, listening_copies, rel

#: Pixel columns of the page's drawings: waveform and layers (min/max each), spectrogram frames.
WAVE_COLUMNS, LAYER_COLUMNS, SPECTROGRAM_COLUMNS = 600, 300, 240
#: Point measures shown as the mean over an interval's points (each family's ``page_means``).
POINT_MEANS = Names(lambda: tuple(m for f in FAMILIES.values() for m in f.page_means), "Shown as means.")


def sweep_folders(folder) -> list[Path]:
    """The exported folders under ``folder``: itself if it has a manifest, else its sub-folders that do and
    keep all their samples' files (a demo's atlas keeps its tables only: a note says it has no page)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GanphonError(f"{folder}: no such folder")
    if (folder / layout.MANIFEST).is_file():
        return [folder]
    found = sorted(p for p in folder.iterdir() if p.is_dir() and os.path.lexists(p / layout.MANIFEST))
    for sub in found:  # each folder shown is read as its own: a named pipe in one (its manifest too) is named
        layout.check_entries(sub)
    if not found:
        raise GanphonError(f"{folder}: holds no manifest.csv (not a folder written by 'ganphon sweep' or "
                           "'ganphon probe', nor a demo folder)")
    kept = []
    for sub in found:
        held, total = _samples_kept(sub)
        if held == total:
            kept.append(sub)
        else:  # a demo keeps the files of one sample of its random probe, and its atlas's tables only
            print(f"ganphon: note: {sub}: keeps the files of {held} of its {total} samples: no explorer page",
                  file=sys.stderr)
    if not kept:
        raise GanphonError(f"{folder}: none of its folders keeps all its samples' files "
                           f"({', '.join(p.name for p in found)}); nothing to show")
    return kept


def _samples_kept(folder: Path) -> tuple[int, int]:
    """How many of the output WAVs the manifest of ``folder`` names are there, and how many it names."""
    from ..io import output_files, read_manifest

    kept = [present for _, present in output_files(folder, read_manifest(folder))]
    return sum(kept), len(kept)


def _samples(folder: Path, sample_ids=None):
    """Per sample: id, base, value, in page order; and the swept variable's name and layers.

    A folder sweeping several variables (an atlas) gets one menu entry per
    variable and base (``z11 · base 0``); ``sample_ids`` keeps only those samples.
    """
    from ..io import read_manifest

    man = read_manifest(folder)
    layers = [x for x in layout.sort_layers(man["layer"].unique()) if x != layout.OUTPUT_LAYER]
    first = man.drop_duplicates("sample_id").reset_index(drop=True)
    if sample_ids is not None:
        first = first[first["sample_id"].astype(str).isin({str(s) for s in sample_ids})].reset_index(drop=True)
        if first.empty:
            raise GanphonError(f"{folder}: none of the samples asked for is in the manifest")
    swept = bool("value" in first.columns and first["value"].notna().any())
    variables = list(dict.fromkeys(first["var"].dropna().astype(str))) if "var" in first.columns else []
    if swept:
        var = variables[0] if len(variables) == 1 else ("value" if variables else "value")
        values = first["value"].astype(float)
        bases = first["base"].astype(int) if "base" in first.columns else [0] * len(first)
    else:  # random samples: step through them in order
        var, values, bases = "sample", range(len(first)), [0] * len(first)
    several = swept and len(variables) > 1
    names = first["var"].astype(str) if several else [""] * len(first)
    rows = [{"id": str(sid), "base": f"{name} · base {int(b)}" if several else int(b), "value": float(v),
             "_key": (variables.index(name) if several else 0, int(b))}
            for sid, b, v, name in zip(first["sample_id"], bases, values, names)]
    rows.sort(key=lambda r: (r["_key"], r["value"], r["id"]))
    for r in rows:
        del r["_key"]
    return rows, var, layers, swept


def _acoustic_rows(folder: Path) -> tuple[list, dict]:
    """Per-interval measures of every file, per sample: (measure names, {sample: [[layer, label, start,
    end, v1, v2 …], …]})."""
    from ..io import acoustics_path, read_acoustics
    from ..measures import check_table_values

    path = acoustics_path(folder)
    if not os.path.lexists(path):  # not measured; anything else at the name is named by the reader
        return [], {}
    table = read_acoustics(path)  # joined with the manifest
    check_table_values(table, path)
    for column in ("sample_id", "layer", "label"):
        if column in table.columns:
            table[column] = table[column].fillna("")
    need = {"sample_id", "layer", "label", "start", "end", "point", "measure", "value"}
    if not need <= set(table.columns):
        raise GanphonError(f"{path}: not an acoustic table joined with a manifest (needs {', '.join(sorted(need))})")
    if "f0_artefact" in table.columns:  # an F0 on a generator artefact frequency is no voice's: not shown
        import pandas as pd

        table.loc[pd.to_numeric(table["f0_artefact"], errors="coerce").notna(), "value"] = math.nan
    per_interval = table[table["point"].isna()]
    points = table[table["point"].notna() & table["measure"].isin(POINT_MEANS)]
    keys = ["sample_id", "layer", "label", "start", "end"]
    wide = per_interval.pivot_table(index=keys, columns="measure", values="value", aggfunc="first", sort=False)
    if len(points):
        means = points.pivot_table(index=keys, columns="measure", values="value", aggfunc="mean", sort=False)
        means.columns = [f"{c} (mean of points)" for c in means.columns]
        wide = wide.join(means, how="outer")
    order = [m for m in page_columns() if m in wide.columns]  # the registry's page order
    order += [c for c in wide.columns if c not in order]
    wide = wide[order].reset_index()
    rank = {name: i for i, name in enumerate(layout.sort_layers(wide["layer"].unique()))}
    wide["_rank"] = wide["layer"].map(rank)
    wide = wide.sort_values(["sample_id", "start", "_rank"], kind="stable")
    out: dict = {}
    for row in wide.itertuples(index=False):
        values = [None if (isinstance(v, float) and not math.isfinite(v)) else round(float(v), 6)
                  for v in row[5:5 + len(order)]]
        out.setdefault(row.sample_id, []).append([row.layer, row.label, float(row.start), float(row.end), *values])
    return order, out


def _columns(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of ``x`` over ``n`` (or ``len(x)``, if fewer) contiguous, nearly equal bins."""
    n = max(1, min(n, len(x)))
    starts = np.linspace(0, len(x), n + 1).astype(int)[:-1]
    return np.minimum.reduceat(x, starts), np.maximum.reduceat(x, starts)


def _bytes(q: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(q, dtype=np.uint8).tobytes()).decode("ascii")


def _quantise(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``v`` in [lo, hi] as 0 … 255 (all 0 when hi == lo)."""
    if not hi > lo:
        return np.zeros(v.shape, dtype=np.uint8)
    return np.round(np.clip((v - lo) / (hi - lo), 0.0, 1.0) * 255.0).astype(np.uint8)


def _envelope(x: np.ndarray, n: int) -> list:
    """[lo, hi, base64 of uint8 (min, max) pairs per column]: a series as the page draws it."""
    x = np.asarray(x, dtype=np.float64)
    low, high = _columns(x, n)
    lo, hi = float(x.min()), float(x.max())
    return [lo, hi, _bytes(np.stack([_quantise(low, lo, hi), _quantise(high, lo, hi)], axis=1))]


def _spectrogram(x: np.ndarray, sr: int, n: int) -> tuple[list, int]:
    """[top dB, base64 of uint8 [frequency, column] rows (0 = ``top - range``, 255 = ``top``)], bins.

    A silent signal gets ``top`` None and all 0.
    """
    from ..plots import SPECTROGRAM_RANGE_DB, spectrogram_power

    _, _, power = spectrogram_power(np.asarray(x, dtype=np.float64), sr)
    n = max(1, min(n, power.shape[1]))
    starts = np.linspace(0, power.shape[1], n + 1).astype(int)[:-1]
    counts = np.diff(np.append(starts, power.shape[1]))
    pooled = np.add.reduceat(power, starts, axis=1) / counts  # mean power per column
    if not (pooled > 0).any():  # a silent output: an empty spectrogram, not a black one
        return [None, _bytes(np.zeros(pooled.shape, dtype=np.uint8))], power.shape[0]
    db = 10 * np.log10(pooled + 1e-20)
    top = float(db.max())
    return [top, _bytes(_quantise(db, top - SPECTROGRAM_RANGE_DB, top))], power.shape[0]


def display_data(signals: dict, intervals) -> dict:
    """What the page draws for one sample, from its WAVs (float, as read) and annotation.

    Parameters
    ----------
    signals : dict
        ``{"output": (x, sr), layer: (y, sr), …}`` in network order.
    intervals : sequence of (start, end, label)

    Returns
    -------
    dict
        ``wave``: the output as ``[lo, hi, b64]`` — per column (``WAVE_COLUMNS``)
        the min and max, quantised as ``lo + q / 255 · (hi − lo)``; ``layers``:
        the same per layer (``LAYER_COLUMNS``); ``spec``: ``[top, b64]``, the
        spectrogram's dB per frequency bin (rows, lowest first) and column
        (``SPECTROGRAM_COLUMNS`` means of power), ``top − 70 … top`` as 0 … 255;
        ``bins``: its frequency bins; ``iv``: the intervals.
    """
    x, sr = signals[layout.OUTPUT_LAYER]
    spec, bins = _spectrogram(x, sr, SPECTROGRAM_COLUMNS)
    return {"wave": _envelope(x, WAVE_COLUMNS), "spec": spec, "bins": bins,
            "layers": {layer: _envelope(y, LAYER_COLUMNS) for layer, (y, _) in signals.items()
                       if layer != layout.OUTPUT_LAYER},
            "iv": [[round(float(a), 6), round(float(b), 6), str(label)] for a, b, label in intervals]}


def _read_sample(folder: Path, sample_id: str, layers) -> tuple[dict, list]:
    """The sample's WAVs ``{layer: (x, sr)}`` (output first) and its annotation intervals."""
    from ..io import layer_exists, read_layer_wav
    from ..plots import sample_annotation

    signals = {}
    for layer in (layout.OUTPUT_LAYER, *layers):
        path = folder / layout.layer_wav(sample_id, layer)
        if layer_exists(path) or layer == layout.OUTPUT_LAYER:  # the output must exist; a layer may be missing
            signals[layer] = read_layer_wav(path)  # a layer's WAV, or its Sound upsampled in memory
    _, intervals = sample_annotation(folder, sample_id, None)
    return signals, intervals


def build_explorer(folder, progress: bool = True, sample_ids=None, out=None) -> Path:
    """Write ``folder/explore.html`` (or ``out/explore.html``) for one exported (sweep) folder.

    Parameters
    ----------
    folder : path-like
        A folder written by ``ganphon sweep`` (or ``probe``: the slider then runs
        over the samples in order).
    progress : bool
    sample_ids : sequence of str, optional
        Show only these samples (an atlas's top variables on a few bases).
    out : path-like, optional
        Folder of the page and its ``listen/`` copies (default ``folder``, which
        is then only read); it then holds everything the page plays, the
        outputs as 16-bit FLAC copies, and can be moved or shared alone.

    Returns
    -------
    Path
        The page.
    """
    from ..plots import LABEL_COLOURS, PALETTE

    folder = Path(folder)
    pages = folder if out is None else Path(out)
    samples, var, layers, swept = _samples(folder, sample_ids)
    if progress:
        print(f"explore {folder}: {len(samples)} samples, display data and listening copies", flush=True)
    measures, rows = _acoustic_rows(folder)
    duration = None
    for s in samples:
        signals, intervals = _read_sample(folder, s["id"], layers)
        x, sr = signals[layout.OUTPUT_LAYER]
        duration = duration or len(x) / sr
        s["draw"] = display_data(signals, intervals)
        s["audio"] = {layer: rel(path, pages)
                      for layer, path in listening_copies(folder, s["id"], layers, dest=pages / layout.LISTEN_DIR,
                                                          signals=signals, compact=True,
                                                          copy_output=out is not None).items()}
        s["rows"] = rows.get(s["id"], [])
    bases = list(dict.fromkeys(s["base"] for s in samples))
    data = {"folder": folder.resolve().name, "var": var, "swept": swept, "layers": [layout.OUTPUT_LAYER, *layers],
            "copied": out is not None,
            "measures": measures, "samples": samples, "duration": duration, "sr": sr,
            "colours": {"labels": LABEL_COLOURS, "palette": list(PALETTE)},
            "bases": [{"base": b, "samples": [i for i, s in enumerate(samples) if s["base"] == b]} for b in bases]}
    page = pages / layout.EXPLORE_HTML
    layout.atomic_write_text(page, explorer_html(data))
    return page


@layout.writes_into()  # another process writing the folder is refused
def explore(folder, progress: bool = True, out=None) -> list[Path]:
    """Write the explorer page of every exported folder in ``folder`` (see :func:`sweep_folders`).

    ``out``: a folder for the pages instead (``folder`` is then only read): new, empty,
    or one an earlier ``explore --out`` of the same folder wrote; a demo folder's
    sweeps get one sub-folder each, named as in the demo folder.
    """
    folders = sweep_folders(folder)
    if out is None:
        for f in folders:  # DIR/listen as --out's: listening copies only, never among another run's files
            layout.check_output_folder(f / layout.LISTEN_DIR, _listening_copy, "explore", default=True)
        return [build_explorer(f, progress=progress) for f in folders]
    out = Path(out)
    single = folders == [Path(folder)]
    check_pages_folder(out, None if single else [f.name for f in folders])
    return [build_explorer(f, progress=progress, out=out if single else out / f.name) for f in folders]


def _listening_copy(path: Path) -> bool:
    return layout.is_listening_copy(path.name) and path.is_file()


def check_pages_folder(out, sweeps=None) -> None:
    """Refuse an ``out`` for explorer pages holding anything but pages (``explore.html``, ``listen/``), or, for
    a demo folder's ``sweeps``, sub-folders of those names holding pages: nothing else is replaced."""
    def page(p: Path) -> bool:
        return (p.name == layout.EXPLORE_HTML and p.is_file()) or (
            p.name == layout.LISTEN_DIR and p.is_dir() and all(q.is_file() for q in p.iterdir()))

    def pages(p: Path) -> bool:
        return p.name in sweeps and p.is_dir() and all(
            not q.is_symlink() and page(q) for q in p.iterdir() if not q.name.startswith("."))

    layout.check_output_folder(out, page if sweeps is None else pages, "explore")


_STYLE = """
body{font-family:sans-serif;margin:1em 2em;color:#222}
h1{font-size:1.3em;margin:.2em 0}
#controls{display:flex;flex-wrap:wrap;gap:1.5em;align-items:center;margin:.6em 0;padding:.5em;background:#f4f4f4}
#slider{width:22em;vertical-align:middle}
#value{font-weight:bold;min-width:4em;display:inline-block}
#main{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
#stack{border:1px solid #ddd;max-width:100%}
#audio div{display:flex;align-items:center;gap:.5em;margin:.15em 0}
#audio span{width:4.5em;text-align:right;font-size:90%}
#audio audio{height:2em}
table{border-collapse:collapse;font-size:80%}td,th{border:1px solid #ccc;padding:1px 5px;text-align:right}
th{background:#eee}td.t{text-align:left}
.note{font-size:85%;color:#555}
"""

_SCRIPT = r"""
(function () {
  const data = JSON.parse(document.getElementById('data').textContent);
  const slider = document.getElementById('slider'), baseSel = document.getElementById('base');
  const canvas = document.getElementById('stack'), valueEl = document.getElementById('value');
  const sampleEl = document.getElementById('sample'), audioBox = document.getElementById('audio');
  const layers = data.layers.slice(1);
  // geometry of the drawing (CSS pixels): label column, plot width, panel heights
  const LEFT = 58, RIGHT = 10, WIDTH = 700, TIER = 16, WAVE = 70, SPEC = 110, LAYER = 46, GAP = 5, AXIS = 24;
  const panels = [];
  let y = TIER + 4;
  panels.push({name: 'output', y: y, h: WAVE}); y += WAVE + GAP;
  panels.push({name: 'spectrogram', y: y, h: SPEC}); y += SPEC + GAP;
  layers.forEach(function (layer) { panels.push({name: layer, y: y, h: LAYER}); y += LAYER + GAP; });
  const HEIGHT = y + AXIS, PW = WIDTH - LEFT - RIGHT;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(WIDTH * ratio); canvas.height = Math.round(HEIGHT * ratio);
  canvas.style.width = WIDTH + 'px'; canvas.style.height = HEIGHT + 'px';
  canvas.dataset.panels = JSON.stringify({left: LEFT, width: PW, duration: data.duration, sr: data.sr,
                                          panels: panels});
  const ctx = canvas.getContext('2d');
  const players = {};
  data.layers.forEach(function (layer) {
    const row = document.createElement('div');
    const label = document.createElement('span');
    label.textContent = layer;
    const a = document.createElement('audio');
    a.controls = true; a.preload = 'none'; a.id = 'audio-' + layer;
    row.appendChild(label); row.appendChild(a); audioBox.appendChild(row);
    players[layer] = a;
  });
  data.bases.forEach(function (b, i) {
    const o = document.createElement('option');
    o.value = String(i); o.textContent = String(b.base);
    baseSel.appendChild(o);
  });
  function bytes(b64) {
    const s = atob(b64), out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  const others = {};
  function colour(label) {
    if (data.colours.labels[label]) return data.colours.labels[label];
    const palette = data.colours.palette;
    if (!(label in others)) others[label] = palette[Object.keys(others).length % palette.length];
    return others[label];
  }
  function tx(t) { return LEFT + t / data.duration * PW; }
  // one series [lo, hi, b64 of (min, max) per column] into panel p
  function envelope(series, p, fill, zeroBased) {
    const lo = series[0], hi = series[1], q = bytes(series[2]), n = q.length / 2;
    let bottom = lo, top = hi;
    if (zeroBased && lo >= 0) { bottom = 0; top = hi * 1.05; }
    if (!(top > bottom)) { top = bottom + 1; }
    function py(v) { return p.y + p.h - (v - bottom) / (top - bottom) * p.h; }
    function value(k) { return lo + q[k] / 255 * (hi - lo); }
    ctx.fillStyle = fill; ctx.strokeStyle = fill; ctx.lineWidth = 1;
    ctx.beginPath();
    for (let i = 0; i < n; i++) ctx.lineTo(LEFT + (i + 0.5) / n * PW, py(value(2 * i + 1)));
    for (let i = n - 1; i >= 0; i--) ctx.lineTo(LEFT + (i + 0.5) / n * PW, py(value(2 * i)));
    ctx.closePath(); ctx.fill(); ctx.stroke();
    return [bottom, top];
  }
  function spectrogram(spec, bins, p) {
    const q = bytes(spec[1]), cols = q.length / bins;
    const off = document.createElement('canvas');
    off.width = cols; off.height = bins;
    const octx = off.getContext('2d'), img = octx.createImageData(cols, bins);
    for (let f = 0; f < bins; f++) {
      const row = bins - 1 - f;  // highest frequency at the top
      for (let c = 0; c < cols; c++) {
        const g = 255 - q[f * cols + c], k = 4 * (row * cols + c);
        img.data[k] = g; img.data[k + 1] = g; img.data[k + 2] = g; img.data[k + 3] = 255;
      }
    }
    octx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, LEFT, p.y, PW, p.h);
  }
  function fmt(v) {
    if (v === null || v === undefined) return '';
    if (Math.abs(v) >= 1000) return v.toFixed(0);
    return Number(v.toPrecision(4)).toString();
  }
  function draw(s) {
    const d = s.draw;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, WIDTH, HEIGHT);
    ctx.font = '11px sans-serif'; ctx.textBaseline = 'middle';
    // annotation spans behind the waveform and layers, boundaries over the spectrogram
    d.iv.forEach(function (iv) {
      ctx.globalAlpha = 0.45; ctx.fillStyle = colour(iv[2]);
      panels.forEach(function (p) {
        if (p.name !== 'spectrogram') ctx.fillRect(tx(iv[0]), p.y, tx(iv[1]) - tx(iv[0]), p.h);
      });
      ctx.globalAlpha = 1; ctx.fillStyle = '#222'; ctx.textAlign = 'center';
      ctx.fillText(iv[2], (tx(iv[0]) + tx(iv[1])) / 2, TIER / 2 + 2);
    });
    const ranges = {};
    ranges.output = envelope(d.wave, panels[0], '#000', false);
    spectrogram(d.spec, d.bins, panels[1]);
    ctx.strokeStyle = '#d62728'; ctx.lineWidth = 0.8;
    d.iv.forEach(function (iv) {
      [iv[0], iv[1]].forEach(function (t) {
        ctx.beginPath(); ctx.moveTo(tx(t), panels[1].y); ctx.lineTo(tx(t), panels[1].y + panels[1].h); ctx.stroke();
      });
    });
    layers.forEach(function (layer, k) {
      if (d.layers[layer]) ranges[layer] = envelope(d.layers[layer], panels[2 + k], '#08519c', true);
    });
    // frames, names, axes
    ctx.strokeStyle = '#888'; ctx.lineWidth = 0.5; ctx.fillStyle = '#222'; ctx.textAlign = 'right';
    panels.forEach(function (p) {
      ctx.strokeRect(LEFT, p.y, PW, p.h);
      ctx.fillText(p.name === 'spectrogram' ? 'kHz' : p.name, LEFT - 6, p.y + p.h / 2);
    });
    const sp = panels[1];
    ctx.font = '9px sans-serif';
    panels.forEach(function (p) {  // each series' scale: the values at the panel's top and bottom
      if (!ranges[p.name]) return;
      ctx.fillText(fmt(ranges[p.name][1]), LEFT - 2, p.y + 5);
      ctx.fillText(fmt(ranges[p.name][0]), LEFT - 2, p.y + p.h - 4);
    });
    ctx.fillText(String(data.sr / 2000), LEFT - 2, sp.y + 5); ctx.fillText('0', LEFT - 2, sp.y + sp.h - 4);
    ctx.textAlign = 'center'; ctx.textBaseline = 'top'; ctx.font = '10px sans-serif';
    const bottom = HEIGHT - AXIS, step = data.duration > 2 ? 0.5 : 0.1;
    for (let t = 0; t <= data.duration + 1e-9; t += step) {
      ctx.beginPath(); ctx.moveTo(tx(t), bottom - 2); ctx.lineTo(tx(t), bottom + 2); ctx.stroke();
      ctx.fillText(t.toFixed(1), tx(t), bottom + 3);
    }
    ctx.fillText('time (s)', LEFT + PW / 2, bottom + 13);
    canvas.dataset.sample = s.id;
  }
  function current() {
    const b = data.bases[Number(baseSel.value)];
    return data.samples[b.samples[Math.min(Number(slider.value), b.samples.length - 1)]];
  }
  function show() {
    const b = data.bases[Number(baseSel.value)];
    slider.max = String(b.samples.length - 1);
    const s = current();
    draw(s);
    canvas.setAttribute('aria-label', 'layer stack of ' + s.id);
    valueEl.textContent = data.swept ? fmt(s.value) : s.id;
    sampleEl.textContent = 'sample ' + s.id;
    data.layers.forEach(function (layer) {
      const a = players[layer];
      const src = s.audio[layer];
      a.parentNode.style.display = src ? '' : 'none';
      if (src && a.getAttribute('src') !== src) { a.pause(); a.setAttribute('src', src); }
    });
    const body = document.getElementById('rows-body');
    body.textContent = '';
    s.rows.forEach(function (r) {
      const tr = document.createElement('tr');
      r.forEach(function (v, k) {
        const td = document.createElement('td');
        td.textContent = k < 2 ? v : fmt(v);
        if (k < 2) td.className = 't';
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    document.getElementById('no-rows').style.display = s.rows.length ? 'none' : '';
  }
  function step(d) {
    const v = Math.max(0, Math.min(Number(slider.max), Number(slider.value) + d));
    slider.value = String(v); show();
  }
  function stepBase(d) {
    const i = Math.max(0, Math.min(data.bases.length - 1, Number(baseSel.value) + d));
    baseSel.value = String(i); show();
  }
  slider.addEventListener('input', show);
  baseSel.addEventListener('change', show);
  document.addEventListener('keydown', function (e) {
    if (e.target === slider || e.target === baseSel) return;  // they step by themselves
    if (e.key === 'ArrowRight') { step(1); e.preventDefault(); }
    else if (e.key === 'ArrowLeft') { step(-1); e.preventDefault(); }
    else if (e.key === 'ArrowUp') { stepBase(-1); e.preventDefault(); }
    else if (e.key === 'ArrowDown') { stepBase(1); e.preventDefault(); }
  });
  const head = document.getElementById('rows-head');
  ['layer', 'label', 'start', 'end'].concat(data.measures).forEach(function (m) {
    const th = document.createElement('th'); th.textContent = m; head.appendChild(th);
  });
  baseSel.value = '0'; slider.value = '0';
  show();
})();
"""


def explorer_html(data: dict) -> str:
    """The page for ``data`` (as built by :func:`build_explorer`); everything inline."""
    var = html.escape(data["var"])
    title = f"ganphon explorer — {html.escape(data['folder'])}"
    # every "<" as \u003c (the same JSON): no text in the data — "</script>", or "<!--<script>", after which
    # "</script>" no longer ends the element — can end the data or keep the page's code from running
    blob = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")
    audio = COPIED_LISTENING_NOTE if data.get("copied") else COMPACT_LISTENING_NOTE
    what = (f"Slide over <b>{var}</b> (← → keys), choose the base latent (↑ ↓ keys)." if data["swept"]
            else "Step through the samples (← → keys).")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_STYLE}</style></head>
<body>
<h1>{title}</h1>
<p class="note">{what} The drawing shows the output's waveform and spectrogram (5 ms windows, 70 dB) and
every layer's channel average (its range per pixel column) on one time axis, with the annotation tier; the
table holds the per-interval rows of
<code>acoustics.csv</code>. Audio: {html.escape(audio)}.</p>
<div id="controls">
<label>base <select id="base"></select></label>
<label>{var} = <span id="value"></span> <input type="range" id="slider" min="0" max="0" step="1" value="0"></label>
<span id="sample"></span>
</div>
<div id="main">
<canvas id="stack" role="img" aria-label="layer stack"></canvas>
<div id="side">
<div id="audio"></div>
<table id="rows"><thead><tr id="rows-head"></tr></thead><tbody id="rows-body"></tbody></table>
<p id="no-rows" class="note">(no acoustic table: run <code>ganphon measure</code> on the folder)</p>
</div>
</div>
<script id="data" type="application/json">{blob}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
