"""``ganphon explore``: one self-contained, offline HTML page per sweep.

The page ``DIR/explore.html`` needs no server and loads nothing from the
network: its data sit in the page, its pictures and sounds are files of the
folder linked relatively (so the folder can be moved).  For the chosen sample
it shows

* the layer stack — waveform, spectrogram and every layer's average on one
  time axis with the annotation tier (``figures/explore/<ID>.png``, drawn by
  :func:`ganphon.plots.plot_layer_stacks`);
* the acoustic table's per-interval rows for every layer (``acoustics.csv``);
* audio players for the output and each layer (16-bit listening copies in
  ``listen/``; the float32 WAVs stay the measured files).

A slider runs over the swept value and a menu over the base latents; the arrow
keys step through values (← →) and bases (↑ ↓).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from .. import layout
from ..errors import GanphonError
from .writer import LISTENING_NOTE, listening_copies, rel

EXPLORE_FIGURES = "explore"  # sub-folder of figures/ holding one PNG per sample
#: Point measures shown as the mean over an interval's points.
POINT_MEANS = ("f1", "f2", "f3")


def sweep_folders(folder) -> list[Path]:
    """The exported folders under ``folder``: itself if it has a manifest, else its sub-folders that do."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GanphonError(f"{folder}: no such folder")
    if (folder / layout.MANIFEST).is_file():
        return [folder]
    found = sorted(p for p in folder.iterdir() if p.is_dir() and (p / layout.MANIFEST).is_file())
    if not found:
        raise GanphonError(f"{folder}: holds no manifest.csv (not a folder written by 'ganphon sweep' or "
                           "'ganphon probe', nor a demo folder)")
    return found


def _samples(folder: Path):
    """Per sample: id, base, value, in page order; and the swept variable's name and layers."""
    from ..io import read_manifest
    from ..stats import sort_layers

    man = read_manifest(folder)
    layers = [x for x in sort_layers(man["layer"].unique()) if x != layout.OUTPUT_LAYER]
    first = man.drop_duplicates("sample_id").reset_index(drop=True)
    swept = bool("value" in first.columns and first["value"].notna().any())
    if swept:
        var = str(first["var"].dropna().iloc[0]) if "var" in first.columns else "value"
        values = first["value"].astype(float)
        bases = first["base"].astype(int) if "base" in first.columns else [0] * len(first)
    else:  # random samples: step through them in order
        var, values, bases = "sample", range(len(first)), [0] * len(first)
    rows = [{"id": str(sid), "base": int(b), "value": float(v)}
            for sid, b, v in zip(first["sample_id"], bases, values)]
    rows.sort(key=lambda r: (r["base"], r["value"], r["id"]))
    return rows, var, layers, swept


def _acoustic_rows(folder: Path) -> tuple[list, dict]:
    """Per-interval measures of every file, per sample: (measure names, {sample: [[layer, label, start,
    end, v1, v2 …], …]})."""
    import numpy as np

    from ..io import read_table

    path = folder / layout.ACOUSTICS
    if not path.is_file():
        return [], {}
    table = read_table(path, "acoustic table", dtype={"sample_id": str, "layer": str, "label": str},
                       keep_default_na=False, na_values={"value": [""], "point": [""], "start": [""], "end": [""]},
                       low_memory=False)
    need = {"sample_id", "layer", "label", "start", "end", "point", "measure", "value"}
    if not need <= set(table.columns):
        raise GanphonError(f"{path}: not an acoustic table joined with a manifest (needs {', '.join(sorted(need))})")
    per_interval = table[table["point"].isna()]
    points = table[table["point"].notna() & table["measure"].isin(POINT_MEANS)]
    keys = ["sample_id", "layer", "label", "start", "end"]
    wide = per_interval.pivot_table(index=keys, columns="measure", values="value", aggfunc="first", sort=False)
    if len(points):
        means = points.pivot_table(index=keys, columns="measure", values="value", aggfunc="mean", sort=False)
        means.columns = [f"{c} (mean of points)" for c in means.columns]
        wide = wide.join(means, how="outer")
    order = [m for m in ("duration", "f0_mean", "f0_min", "f0_max", "intensity_mean", "intensity_max",
                         "f1 (mean of points)", "f2 (mean of points)", "f3 (mean of points)", "cog", "sd",
                         "skewness", "kurtosis", "max_intensity") if m in wide.columns]
    order += [c for c in wide.columns if c not in order]
    wide = wide[order].reset_index()
    from ..stats import sort_layers

    rank = {name: i for i, name in enumerate(sort_layers(wide["layer"].unique()))}
    wide["_rank"] = wide["layer"].map(rank)
    wide = wide.sort_values(["sample_id", "start", "_rank"], kind="stable")
    out: dict = {}
    for row in wide.itertuples(index=False):
        values = [None if (isinstance(v, float) and not math.isfinite(v)) else float(np.round(v, 6))
                  for v in row[5:5 + len(order)]]
        out.setdefault(row.sample_id, []).append([row.layer, row.label, float(row.start), float(row.end), *values])
    return order, out


def build_explorer(folder, workers=None, progress: bool = True, dpi: int = 80) -> Path:
    """Write ``folder/explore.html`` for one exported (sweep) folder.

    Parameters
    ----------
    folder : path-like
        A folder written by ``ganphon sweep`` (or ``probe``: the slider then runs
        over the samples in order).
    workers : int, optional
        Processes drawing the layer stacks.
    progress : bool
    dpi : int
        Resolution of the layer-stack PNGs.

    Returns
    -------
    Path
        The page.
    """
    from ..plots import plot_layer_stacks

    folder = Path(folder)
    samples, var, layers, swept = _samples(folder)
    if progress:
        print(f"explore {folder}: {len(samples)} samples, layer stacks and listening copies", flush=True)
    ids = [s["id"] for s in samples]
    pngs = plot_layer_stacks(folder, ids, folder / layout.FIGURES_DIR / EXPLORE_FIGURES, dpi=dpi,
                             workers=workers, progress=progress)
    measures, rows = _acoustic_rows(folder)
    for s in samples:
        copies = listening_copies(folder, s["id"], layers)
        s["png"] = rel(pngs[s["id"]], folder)
        s["audio"] = {layer: rel(path, folder) for layer, path in copies.items()}
        s["rows"] = rows.get(s["id"], [])
    bases = sorted({s["base"] for s in samples})
    data = {"folder": folder.resolve().name, "var": var, "swept": swept, "layers": [layout.OUTPUT_LAYER, *layers],
            "measures": measures, "samples": samples,
            "bases": [{"base": b, "samples": [i for i, s in enumerate(samples) if s["base"] == b]} for b in bases]}
    page = folder / layout.EXPLORE_HTML
    layout.atomic_write_text(page, explorer_html(data))
    return page


def explore(folder, workers=None, progress: bool = True) -> list[Path]:
    """Write the explorer page of every exported folder in ``folder`` (see :func:`sweep_folders`)."""
    return [build_explorer(f, workers=workers, progress=progress) for f in sweep_folders(folder)]


_STYLE = """
body{font-family:sans-serif;margin:1em 2em;color:#222}
h1{font-size:1.3em;margin:.2em 0}
#controls{display:flex;flex-wrap:wrap;gap:1.5em;align-items:center;margin:.6em 0;padding:.5em;background:#f4f4f4}
#slider{width:22em;vertical-align:middle}
#value{font-weight:bold;min-width:4em;display:inline-block}
#main{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
#stack{max-width:100%;border:1px solid #ddd}
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
  const img = document.getElementById('stack'), valueEl = document.getElementById('value');
  const sampleEl = document.getElementById('sample'), audioBox = document.getElementById('audio');
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
  function fmt(v) {
    if (v === null || v === undefined) return '';
    if (Math.abs(v) >= 1000) return v.toFixed(0);
    return Number(v.toPrecision(4)).toString();
  }
  function current() {
    const b = data.bases[Number(baseSel.value)];
    return data.samples[b.samples[Math.min(Number(slider.value), b.samples.length - 1)]];
  }
  function show() {
    const b = data.bases[Number(baseSel.value)];
    slider.max = String(b.samples.length - 1);
    const s = current();
    img.src = s.png;
    img.alt = 'layer stack of ' + s.id;
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
    blob = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")
    what = (f"Slide over <b>{var}</b> (← → keys), choose the base latent (↑ ↓ keys)." if data["swept"]
            else "Step through the samples (← → keys).")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_STYLE}</style></head>
<body>
<h1>{title}</h1>
<p class="note">{what} The picture shows the output's waveform and spectrogram and every layer's channel
average on one time axis, with the annotation tier; the table holds the per-interval rows of
<code>acoustics.csv</code>. Audio: {html.escape(LISTENING_NOTE)}.</p>
<div id="controls">
<label>base <select id="base"></select></label>
<label>{var} = <span id="value"></span> <input type="range" id="slider" min="0" max="0" step="1" value="0"></label>
<span id="sample"></span>
</div>
<div id="main">
<img id="stack" alt="layer stack">
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
