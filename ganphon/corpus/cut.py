"""Cut words out of long annotated recordings (the papers' TIMIT preparation).

Each recording ``X.wav`` comes with ``X.TextGrid`` (UTF-8, UTF-8 with BOM or
UTF-16 with BOM; long or short text format).  Every non-empty interval of the
chosen tier that matches the requested labels or pattern becomes one item:
samples ``round(start * sr)`` up to (not including) ``round(end * sr)`` of the
recording, as a float32 WAV at the recording's rate, with a TextGrid in which
every tier is clipped to the item and shifted so that the item's first sample
is at time 0.  Times are shifted by exactly ``round(start * sr) / sr``, so
inner boundaries stay where they were relative to the samples; boundaries
within half a sample of the item's edges are put on the edges.

Items are named ``<recording stem>_<interval:04d>_<label>.wav`` where
``interval`` is Praat's number of the interval in its tier (1-based, empty
intervals counted) and ``label`` is the label with every character that is
not a letter or digit (in any script) replaced by ``_``.  Recordings in
sub-folders give items in the same sub-folders of the output.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

import pandas as pd
import tgt
from tqdm import tqdm

from ..errors import GanphonError, ParameterError, name_list
from ..io import command_line, read_textgrid, read_wav, write_table, write_textgrid, write_wav
from ..layout import ITEMS_CSV, cut_item, make_folder, textgrid_beside
from ..timebase import domain_note
from .folder import check_not_generated, error_reason, find_wavs, mixed_down, prepare_corpus_folder, to_mono

ITEM_COLUMNS = ["file", "textgrid", "source", "tier", "interval", "label", "start", "end",
                "start_sample", "end_sample", "n_samples", "sr"]


def safe_label(label: str, max_len: int = 40) -> str:
    """A label made safe for a file name, keeping letters of every script.

    Parameters
    ----------
    label : str
    max_len : int
        Longest result.

    Returns
    -------
    str
        Letters and digits kept, runs of anything else replaced by one ``_``;
        ``item`` if nothing is left.
    """
    label = unicodedata.normalize("NFC", label)
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in label)
    cleaned = re.sub(r"_+", "_", cleaned).strip("_")[:max_len].strip("_")
    return cleaned or "item"


def clip_textgrid(tg: tgt.TextGrid, lo: float, hi: float, sr: int) -> tgt.TextGrid:
    """Clip every tier of ``tg`` to [lo, hi] and shift it so that ``lo`` becomes 0.

    Parameters
    ----------
    tg : tgt.TextGrid
    lo, hi : float
        Window in the recording's time (s); ``lo`` should be a sample time.
    sr : int
        Sampling rate of the recording (sets the half-sample snapping distance).

    Returns
    -------
    tgt.TextGrid
        Spanning 0 … ``hi - lo``; boundaries within half a sample of either
        edge are put on that edge.
    """
    total = round((hi - lo) * sr) / sr  # exactly n_samples / sr
    snap = 0.5 / sr

    def shift(t):
        t = float(t) - lo
        if t < snap:
            return 0.0
        if t > total - snap:
            return total
        return t

    out = tgt.TextGrid()
    for tier in tg.tiers:
        if isinstance(tier, tgt.IntervalTier):
            new = tgt.IntervalTier(start_time=0.0, end_time=total, name=tier.name)
            for iv in tier.intervals:
                if float(iv.end_time) <= lo or float(iv.start_time) >= hi:
                    continue
                a, b = shift(max(float(iv.start_time), lo)), shift(min(float(iv.end_time), hi))
                if b > a:
                    new.add_interval(tgt.Interval(a, b, iv.text))
        else:
            new = tgt.PointTier(start_time=0.0, end_time=total, name=tier.name)
            for pt in tier.points:
                if lo <= float(pt.time) <= hi:
                    new.add_point(tgt.Point(shift(pt.time), pt.text))
        out.add_tier(new)
    return out


def _matcher(labels, pattern):
    wanted = None
    if labels is not None:
        wanted = {lab.strip() for lab in name_list(labels, "labels") if lab.strip()}
        if not wanted:
            raise ParameterError("labels", "is empty; give at least one label")
    regex = None
    if pattern is not None:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ParameterError("pattern", f"{pattern!r} is not a valid regular expression ({exc})") from None

    def matches(label: str) -> bool:
        if not label:
            return False
        if wanted is None and regex is None:
            return True
        return (wanted is not None and label in wanted) or (
            regex is not None and regex.search(label) is not None)

    return matches


def cut_recordings(src, out, tier: str = "words", labels=None, pattern=None, strict: bool = False,
                   progress: bool = True, overwrite: bool = False, command: str | None = None) -> pd.DataFrame:
    """Cut the labelled intervals of long recordings into one WAV + TextGrid each.

    In steps: :func:`_plan_cut` (recordings, request, the folder prepared),
    :func:`_wanted_intervals` and :func:`_cut_recording` per recording, then
    the table.

    Parameters
    ----------
    src : path
        Folder of recordings (searched recursively); each ``X.wav`` needs ``X.TextGrid``.
    out : path
        Output folder; must be empty, absent or hold this same request
        (:func:`ganphon.corpus.folder.prepare_corpus_folder`) unless ``overwrite``.
    tier : str
        Interval tier whose intervals are cut.
    labels : list of str, optional
        Labels to keep.
    pattern : str, optional
        Regular expression searched in each label (``re.search``; anchor it
        with ``^…$`` for a whole-label match).  With both ``labels`` and
        ``pattern`` an interval is kept if it satisfies either; with neither,
        every non-empty interval is kept.
    strict : bool
        Raise on the first problem instead of listing and skipping it.
    progress : bool
        Show a progress bar (for 20 recordings or more).
    overwrite : bool
        Replace another ganphon run in ``out`` (only the names it owns are removed).
    command : str, optional
        The command line, recorded in ``run.json``.

    Returns
    -------
    pandas.DataFrame
        The rows of ``items.csv``: file, textgrid, source, tier, interval, label,
        start, end (seconds in the recording), start_sample, end_sample,
        n_samples, sr.  ``df.attrs["skipped"]`` lists ``(file, reason)`` for
        every recording or interval left out.

    Raises
    ------
    GanphonError
        No recordings, a bad label filter, nothing matched, or (with
        ``strict``) any problem with a recording.
    """
    src, out = Path(src), Path(out)
    recordings, matches = _plan_cut(src, out, tier, labels, pattern, strict, overwrite, command)
    rows, skipped = [], []

    def skip(name, reason):
        if strict:
            raise GanphonError(f"{name}: {reason}")
        skipped.append((name, reason))
        tqdm.write(f"ganphon: skipped {name}: {reason}", file=sys.stderr)

    for wav in tqdm(recordings, desc="cutting", unit="recording",
                    disable=not progress or len(recordings) < 20, file=sys.stderr):
        found = _wanted_intervals(wav, src, tier, matches, skip)
        if found is not None:
            rows += _cut_recording(wav, src, out, tier, *found, skip)
    if not rows:
        what = []
        if labels is not None:
            what.append(f"labels {', '.join(labels)}")
        if pattern is not None:
            what.append(f"pattern {pattern!r}")
        raise GanphonError(
            f"{src}: no interval of tier {tier!r} matched "
            f"({' or '.join(what) or 'any non-empty label'}); {len(skipped)} problems listed above"
        )
    df = pd.DataFrame(rows, columns=ITEM_COLUMNS)
    write_table(df, out / ITEMS_CSV)
    df.attrs["skipped"] = skipped
    return df


def _plan_cut(src: Path, out: Path, tier, labels, pattern, strict, overwrite, command):
    """Check the request, find the recordings (never earlier output), prepare ``out``; (recordings, matcher)."""
    if not src.is_dir():
        raise GanphonError(f"{src}: not a folder")
    matches = _matcher(labels, pattern)
    out_resolved = out.resolve()
    recordings = [p for p in find_wavs(src)
                  if out_resolved not in p.resolve().parents]  # never re-cut earlier output
    if not recordings:
        raise GanphonError(f"{src}: no .wav recordings found")
    check_not_generated(src, recordings)
    request = {"kind": "corpus-cut", "recordings": str(src.resolve()), "tier": tier,
               "labels": sorted(lab.strip() for lab in labels if lab.strip()) if labels is not None else None,
               "pattern": pattern, "strict": strict}
    prepare_corpus_folder(out, request, overwrite, command_line(command), planned={
        "recordings": [p.relative_to(src).as_posix() for p in recordings], "tables": [ITEMS_CSV]})
    return recordings, matches


def _wanted_intervals(wav: Path, src: Path, tier: str, matches, skip):
    """(TextGrid, [(Praat's interval number, interval)]) of ``wav`` to cut; None (skipped) if none."""
    name = wav.relative_to(src).as_posix()
    tg_path = textgrid_beside(wav)
    if tg_path is None:
        skip(name, f"no TextGrid {wav.stem}.TextGrid beside it")
        return None
    tg_name = tg_path.relative_to(src).as_posix()
    try:
        tg = read_textgrid(tg_path)
    except GanphonError as exc:
        skip(tg_name, error_reason(exc, tg_path))
        return None
    if not tg.has_tier(tier):
        have = ", ".join(t.name for t in tg.tiers) or "none"
        skip(tg_name, f"no tier {tier!r} (tiers: {have})")
        return None
    source_tier = tg.get_tier_by_name(tier)
    if not isinstance(source_tier, tgt.IntervalTier):
        skip(tg_name, f"tier {tier!r} is a point tier, not an interval tier")
        return None
    wanted = [(k, iv) for k, iv in enumerate(source_tier.intervals, start=1) if matches(iv.text.strip())]
    return (tg, wanted) if wanted else None


def _cut_recording(wav: Path, src: Path, out: Path, tier: str, tg, wanted, skip) -> list:
    """Write the ``wanted`` intervals of one recording as items; their rows of ``items.csv``."""
    rel = wav.relative_to(src)
    name = rel.as_posix()
    try:
        x, sr = read_wav(wav)
    except GanphonError as exc:
        skip(name, error_reason(exc, wav))
        return []
    other = domain_note((float(tg.start_time), float(tg.end_time)), 0.0, len(x) / sr, 1.0 / sr, "recording")
    if other:  # its intervals would be cut where the TextGrid says, not where the words are
        skip(name, f"{other}; correct the TextGrid, or cut from the recording it was made for")
        return []
    what = mixed_down(x)
    x, mixed = to_mono(x)
    if mixed:
        tqdm.write(f"ganphon: {name}: {what}, mixed down to mono", file=sys.stderr)
    item_dir = out / rel.parent
    make_folder(item_dir)
    rows = []
    for number, iv in wanted:
        start, end = float(iv.start_time), float(iv.end_time)
        i0, i1 = int(round(start * sr)), int(round(end * sr))
        label = iv.text.strip()
        if i1 > len(x):
            skip(name, f"interval {number} {label!r} ends at {end:g} s, after the end of the "
                       f"recording ({len(x) / sr:g} s)")
            continue
        if i1 <= i0:
            skip(name, f"interval {number} {label!r} is shorter than one sample")
            continue
        stem = cut_item(wav.stem, number, safe_label(label))
        item_wav, item_tg = item_dir / f"{stem}.wav", item_dir / f"{stem}.TextGrid"
        write_wav(item_wav, x[i0:i1], sr)
        write_textgrid(item_tg, clip_textgrid(tg, i0 / sr, i1 / sr, sr))
        rows.append(dict(
            file=item_wav.relative_to(out).as_posix(),
            textgrid=item_tg.relative_to(out).as_posix(),
            source=name, tier=tier, interval=number, label=label, start=start, end=end,
            start_sample=i0, end_sample=i1, n_samples=i1 - i0, sr=sr,
        ))
    return rows
