"""The report writer: Markdown tables and links, Markdown → HTML with audio players,
and listening copies of a sample's files.

Every link a report writes is relative to the report's own folder, so the
folder can be moved or copied (or zipped and sent) and still works.  A link to
a ``.wav`` file becomes an ``<audio>`` player in the HTML version.

Listening copies: the exported WAVs are float32 (the measured data); many
players refuse float WAV (current browsers play it), and a layer average is a slow,
non-negative signal.  :func:`listening_copies` writes 16-bit PCM,
peak-normalised copies into ``listen/`` (layers with their mean removed),
labelled as such wherever they are shown.  The explorer, which offers every
sample of a sweep, uses compact copies (``compact=True``): the output is played
from its measured float32 WAV itself (browsers play float WAV), and each layer
from a 16-bit FLAC at :data:`COMPACT_LAYER_RATE` Hz made from its native-rate
Sound — lossless over its 16-bit samples, about a tenth of the 16 kHz WAVs.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import numpy as np

from .. import layout

AUDIO_SUFFIXES = (".wav", ".ogg", ".mp3", ".flac")
#: Peak of a listening copy (−1 dBFS).
LISTENING_PEAK = 0.89
LISTENING_NOTE = ("listening copies: 16-bit PCM, peak-normalised to −1 dBFS (layers with their mean "
                  "removed); the measured files are the output's float32 WAV and each layer's native-rate "
                  "Sound, upsampled as its 16 kHz WAV would hold it")


#: Rate (Hz) of a compact layer copy: at least every layer's native rate in a 16 kHz model (conv4
#: runs at 4 kHz), so the copy holds the layer's own samples, linearly interpolated between them as
#: its 16 kHz WAV is; a layer natively faster keeps its native rate, and no copy is faster than the output.
COMPACT_LAYER_RATE = 4000
COMPACT_LISTENING_NOTE = ("the output is its measured float32 WAV; each layer a listening copy: 16-bit FLAC at "
                          f"{COMPACT_LAYER_RATE // 1000} kHz (at least its native rate), mean removed, "
                          "peak-normalised to −1 dBFS")
#: The same for a page written elsewhere (``explore --out``), which holds copies of everything it plays
COPIED_LISTENING_NOTE = COMPACT_LISTENING_NOTE.replace(
    "the output is its measured float32 WAV", "the output a 16-bit FLAC copy of its measured float32 WAV, "
    "not normalised")


def rel(path, start) -> str:
    """``path`` relative to the folder ``start``, with forward slashes (for links)."""
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()


def md_table(df, cols=None, n=None, digits: int = 3) -> str:
    """A Markdown table of a DataFrame (``_(none)_`` when empty)."""
    if df is None or len(df) == 0:
        return "_(none)_\n"
    d = df[cols] if cols else df
    if n:
        d = d.head(n)

    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else (f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.0f}")
        return str(v).replace("|", "/").replace("\n", " ")

    lines = ["| " + " | ".join(map(str, d.columns)) + " |", "|" + "---|" * len(d.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in d.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def listening_copies(folder, sample_id: str, layers, dest=None, signals=None, compact: bool = False,
                     copy_output: bool = False) -> dict:
    """Write 16-bit, peak-normalised listening copies of one sample's output and layer WAVs.

    A copy carrying its source's modification time is kept as it is (each copy is
    written once; a re-exported or replaced source gets a new copy).

    Parameters
    ----------
    folder : path-like
        Exported folder (``ID_output.wav``, ``ID_<layer>.wav``).
    sample_id : str
    layers : sequence of str
        Layers besides the output (those without a WAV are skipped).
    dest : path-like, optional
        Folder of the copies (default ``folder/listen``); names as the originals.
    signals : dict, optional
        ``{layer: (x, sr)}`` already read from those WAVs (not read again).
    compact : bool
        The output is offered as its measured WAV (no copy), each layer as a 16-bit FLAC at
        :data:`COMPACT_LAYER_RATE` Hz (:func:`compact_layer_copy`).
    copy_output : bool
        With ``compact``: the output too, as a 16-bit FLAC at its rate, not normalised (the
        loudness of a sweep's outputs stays comparable), so that ``dest`` holds everything
        a page plays (``explore --out``).

    Returns
    -------
    dict
        ``{"output": path, layer: path, …}`` in network order.
    """
    from ..io import layer_sound_path, read_layer_wav, write_listening_wav

    folder = Path(folder)
    dest = Path(dest) if dest is not None else folder / layout.LISTEN_DIR
    layout.make_folder(dest)
    signals = signals or {}
    copies = {}
    for layer in [layout.OUTPUT_LAYER, *[x for x in layers if x != layout.OUTPUT_LAYER]]:
        wav = folder / layout.layer_wav(sample_id, layer)
        if compact and layer == layout.OUTPUT_LAYER and not copy_output:
            if wav.is_file():
                copies[layer] = wav  # browsers play the measured float32 WAV itself
            continue
        sound = folder / layout.layer_sound(sample_id, layer)
        if compact and sound.is_file():
            source = sound  # the native samples the compact copy is made from
        else:
            source = wav if wav.is_file() else layer_sound_path(wav)  # a layer may be stored as its Sound only
        if source is None:
            continue
        target = dest / (layout.listening_flac(sample_id, layer) if compact else layout.layer_wav(sample_id, layer))
        copies[layer] = target
        source_time = source.stat().st_mtime_ns
        if target.is_file() and target.stat().st_mtime_ns == source_time:
            continue
        if compact and layer == layout.OUTPUT_LAYER:  # copy_output: its samples as they are, in 16 bits
            x, sr = signals[layer] if layer in signals else read_layer_wav(wav)
            write_listening_wav(target, x, sr, peak=None)
        else:
            if compact:
                x, sr = compact_layer_copy(wav)
            else:
                x, sr = signals[layer] if layer in signals else read_layer_wav(wav)
            write_listening_wav(target, x, sr, peak=LISTENING_PEAK, remove_mean=layer != layout.OUTPUT_LAYER)
        # the copy carries its source's time: it is reused while the source is that file, and remade when the
        # source is written again or replaced by another, older or newer (a copy newer than its source was kept
        # even when the source had been put back from a backup with its old time)
        os.utime(target, ns=(source_time, source_time))
    return copies


def compact_layer_copy(wav) -> tuple:
    """``(x, rate)`` of a layer's compact listening copy, given the name of its WAV.

    From the native-rate Sound when there is one: its samples linearly interpolated
    (:func:`ganphon.timebase.upsample`, as the export's WAV holds them) to ``rate`` =
    the larger of the native rate and :data:`COMPACT_LAYER_RATE`, never above the output's;
    at the native rate the copy is the native samples themselves.  A layer stored as a WAV
    only is interpolated from it the same way.  The run's clip applies as to its WAV.
    """
    from ..io import _output_shape, check_native, read_sound, read_wav, run_clip
    from ..timebase import upsample

    wav = Path(wav)
    size, sr = _output_shape(wav)
    sid, layer = layout.parse_sample_file(wav.name)
    sound = wav.with_name(layout.layer_sound(sid, layer))
    if sound.is_file():
        native = read_sound(sound)
        check_native(native, sound, sr, size)  # over its output's time domain, one channel
        values, native_rate = np.asarray(native.values[0], dtype=np.float32), float(native.sampling_frequency)
    else:
        values, native_rate = read_wav(wav, mono=True)[0].astype(np.float32), float(sr)
    rate = int(min(sr, max(round(native_rate), COMPACT_LAYER_RATE)))
    x = upsample(values, int(round(size * rate / sr)))
    clip = run_clip(wav.parent)
    if clip is not None:
        x = np.clip(x, -clip, clip)
    return x, rate


def audio_md(copies: dict, start, measured_folder=None) -> list[str]:
    """Markdown lines offering each listening copy (a link; a player in HTML)."""
    lines = [f"Listen ({LISTENING_NOTE}):\n"]
    for layer, path in copies.items():
        line = f"- [▶ {layer}]({rel(path, start)})"
        if measured_folder is not None:
            from ..io import layer_sound_path

            sample_id, name = layout.parse_sample_file(Path(path).with_suffix(".wav").name)
            measured = Path(measured_folder) / layout.layer_wav(sample_id, name)
            measured = layer_sound_path(measured) or measured  # a layer stored once, as its native Sound
            line += f" — measured file `{rel(measured, start)}`"
        lines.append(line)
    lines.append("")
    return lines


def markdown_to_html(md: str, title: str = "report") -> str:
    """A small Markdown → HTML conversion for reports.

    Headings, paragraphs, bullet lists, tables, code blocks, bold, italics,
    inline code, images and links; a link to an audio file (``.wav`` …)
    becomes an ``<audio controls>`` player with the link text as its label.
    """
    out, in_code, table, in_list = [], False, [], False

    def inline(s: str) -> str:
        s = html.escape(s, quote=True)
        s = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)", r'<img alt="\1" src="\2" style="max-width:100%">', s)

        def link(m):
            text, href = m.group(1), m.group(2)
            if href.lower().endswith(AUDIO_SUFFIXES):
                return (f'<span class="audio"><span class="label">{text}</span> '
                        f'<audio controls preload="none" src="{href}"></audio></span>')
            return f'<a href="{href}">{text}</a>'

        s = re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", link, s)
        s = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        s = re.sub(r"(?<![\w*/])_([^_]+)_(?![\w*])", r"<i>\1</i>", s)
        return s

    def flush_table():
        if not table:
            return
        rows = [r.strip().strip("|").split("|") for r in table if not re.match(r"^\|(---\|)+$", r.strip())]
        out.append("<table>")
        for i, r in enumerate(rows):
            tag = "th" if i == 0 else "td"
            out.append("<tr>" + "".join(f"<{tag}>{inline(c.strip())}</{tag}>" for c in r) + "</tr>")
        out.append("</table>")
        table.clear()

    def close_list():
        nonlocal in_list
        if in_list:
            out.append("</ul>")
            in_list = False

    for line in md.splitlines():
        if line.startswith("```"):
            flush_table()
            close_list()
            out.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
            continue
        if in_code:
            out.append(html.escape(line))
            continue
        if line.startswith("|"):
            close_list()
            table.append(line)
            continue
        flush_table()
        if line.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{inline(line[2:])}</li>")
            continue
        close_list()
        if m := re.match(r"^(#{1,6}) (.*)$", line):
            n = len(m.group(1))
            out.append(f"<h{n}>{inline(m.group(2))}</h{n}>")
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
    flush_table()
    close_list()
    style = ("body{font-family:sans-serif;max-width:60em;margin:1em auto;line-height:1.4}"
             "h1{font-size:1.6em;margin:.2em 0 .4em}h2{margin:.8em 0 .4em}"
             "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:2px 6px}"
             "pre{background:#f4f4f4;padding:1em;overflow-x:auto}"
             ".audio{display:inline-flex;align-items:center;gap:.5em}.audio audio{height:2em}")
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")
