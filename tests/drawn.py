"""What a Matplotlib figure draws, read back from its renderings: path vertices and marker positions
from its SVG (display points at 72 dpi, y down as SVG has it), colours from PNG pixels.

Expected positions are the data a test knows, mapped through the axes' data-to-display transform:
a drawn line is checked against the series it should show, not against the figure's own artists.
"""

import io
import re
import xml.etree.ElementTree as ET

import matplotlib
import numpy as np
from matplotlib.image import imread

SVG = "{http://www.w3.org/2000/svg}"
_NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?")


def svg_drawing(fig, artists: dict) -> dict:
    """Render ``fig`` as SVG and read back what each artist drew.

    ``artists`` maps a name to an artist (a line, a collection, an errorbar part); each is tagged
    with that name (its gid) before the rendering.  Returns name → {"paths": [array [k, 2], …] (the
    vertices of each path drawn), "markers": array [m, 2] (where each marker was placed)}, in SVG
    points.  Path simplification is switched off for the rendering, so every vertex is drawn.
    """
    for name, artist in artists.items():
        artist.set_gid(name)
    buf = io.StringIO()
    with matplotlib.rc_context({"path.simplify": False}):
        fig.savefig(buf, format="svg")
    root = ET.fromstring(buf.getvalue())
    out = {}
    for element in root.iter():
        name = element.get("id")
        if name not in artists:
            continue
        paths = [_vertices(p.get("d")) for p in element.iter(SVG + "path") if p.get("id") is None]
        markers = [(float(u.get("x")), float(u.get("y"))) for u in element.iter(SVG + "use")]
        out[name] = {"paths": paths, "markers": np.array(markers).reshape(-1, 2)}
    missing = set(artists) - set(out)
    assert not missing, f"not drawn: {sorted(missing)}"
    return out


def _vertices(d: str) -> np.ndarray:
    assert set(re.sub(r"[\d.\s e+-]", "", d)) <= {"M", "L"}, f"not a polyline: {d[:80]}"
    return np.array([float(x) for x in _NUMBER.findall(d)]).reshape(-1, 2)


def to_svg(ax, x, y) -> np.ndarray:
    """Data points of ``ax`` in the SVG's coordinates: the axes' transform at 72 dpi, y flipped."""
    fig = ax.figure
    fig.set_dpi(72)
    xy = ax.transData.transform(np.column_stack([np.asarray(x, float), np.asarray(y, float)]))
    return np.column_stack([xy[:, 0], fig.bbox.height - xy[:, 1]])


def to_pixels(ax, x, y, dpi: float) -> np.ndarray:
    """Data points of ``ax`` as (row, column) pixel indices of a PNG saved at ``dpi`` (Agg's canvas
    is the figure's size in pixels, truncated; row 0 at the top)."""
    fig = ax.figure
    fig.set_dpi(dpi)
    xy = ax.transData.transform(np.column_stack([np.asarray(x, float), np.asarray(y, float)]))
    return np.column_stack([int(fig.bbox.height) - xy[:, 1], xy[:, 0]]).astype(int)


def png_pixels(path) -> np.ndarray:
    """The RGB pixels of a PNG, floats in [0, 1]."""
    return imread(path)[..., :3]


def rgb(colour) -> np.ndarray:
    return np.array(matplotlib.colors.to_rgb(colour))


def line_near(image: np.ndarray, rows_cols: np.ndarray, colour, reach: int = 2, tol: float = 0.2) -> np.ndarray:
    """For each pixel (row, column), whether a pixel within ``reach`` has ``colour`` (RGB distance < tol)."""
    target = rgb(colour)
    found = []
    for r, c in rows_cols:
        window = image[max(r - reach, 0):r + reach + 1, max(c - reach, 0):c + reach + 1]
        found.append(np.sqrt(((window - target) ** 2).sum(-1)).min() < tol)
    return np.array(found)


def assert_png_line(png, ax, x, y, colour, dpi: float = 150, share: float = 0.97, **near) -> None:
    """The PNG ``png`` (saved at ``dpi`` from a figure laid out as ``ax``'s) shows the line (x, y) of
    ``ax`` in ``colour``: at least ``share`` of its points (up to 400 of them) have that colour nearby."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    step = max(1, len(x) // 400)
    found = line_near(png_pixels(png), to_pixels(ax, x[::step], y[::step], dpi), colour, **near)
    assert found.mean() >= share, f"{png}: {(~found).sum()} of {len(found)} points of the line not drawn"


def ink_inside(png, ax, dpi: float = 150, inset: int = 3, level: float = 0.9) -> np.ndarray:
    """(row, column) of every pixel of the PNG inside ``ax`` (``inset`` pixels clear of its frame)
    darker than ``level`` in some channel."""
    image = png_pixels(png)
    fig = ax.figure
    fig.set_dpi(dpi)
    box = ax.get_window_extent()
    height = int(fig.bbox.height)
    top, bottom = height - int(box.y1) + inset, height - int(box.y0) - inset
    left, right = int(box.x0) + inset, int(box.x1) - inset
    rows, cols = np.nonzero(image[top:bottom, left:right].min(-1) < level)
    return np.column_stack([rows + top, cols + left])


def layer_series_by_hand(folder, sample_id, layer):
    """(sr, series) of a layer at the output rate: its native Sound (read by Praat) interpolated
    linearly between sample centres ((k + ½)/n of the slice), edges held, clipped as the run clipped."""
    import json
    from pathlib import Path

    import parselmouth
    from scipy.io import wavfile

    folder = Path(folder)
    sr, output = wavfile.read(folder / f"{sample_id}_output.wav")
    native = parselmouth.read(str(folder / f"{sample_id}_{layer}.Sound")).values[0]
    size, n = len(output), len(native)
    y = np.interp((np.arange(size) + 0.5) / size, (np.arange(n) + 0.5) / n, native)
    record = folder / "run.json"
    clip = (json.loads(record.read_text()).get("request") or {}).get("clip") if record.is_file() else None
    return sr, np.clip(y, -clip, clip) if clip is not None else y


def assert_png_markers(png, ax, x, y, colour, dpi: float = 150, radius: int = 2, tol: float = 0.25) -> None:
    """The PNG shows a filled marker of ``colour`` centred on each point (x, y) of ``ax``: its centre and
    the pixels ``radius`` to the left and right have that colour (a line through the point would not)."""
    image = png_pixels(png)
    target = rgb(colour)
    for (r, c), xy in zip(to_pixels(ax, x, y, dpi), zip(x, y)):
        patch = image[r, [c - radius, c, c + radius]]
        assert np.sqrt(((patch - target) ** 2).sum(-1)).max() < tol, f"{png}: no marker at {xy}: {patch}"


def assert_heatmap_colours(png, ax, r, measures, layers, dpi: float = 150) -> None:
    """Each cell of a correlations heat map has its r's colour on RdBu_r from −1 to 1 (read a third of a
    cell off its centre, clear of the printed r), white where r is undefined; ``r`` is indexed by
    (measure, layer), rows are ``measures`` and columns ``layers``."""
    from matplotlib import colormaps

    image = png_pixels(png)
    for i, measure in enumerate(measures):
        for j, layer in enumerate(layers):
            value = r.get((measure, layer), np.nan)
            expected = colormaps["RdBu_r"]((value + 1) / 2)[:3] if np.isfinite(value) else (1.0, 1.0, 1.0)
            (row, col), = to_pixels(ax, [j - 0.3], [i - 0.3], dpi)
            np.testing.assert_allclose(image[row, col], expected, atol=1.5 / 255, err_msg=f"{measure} {layer}")
