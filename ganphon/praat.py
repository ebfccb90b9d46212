"""Praat settings and the bundled Praat scripts.

Everything ganphon measures is measured with Praat's own commands, either in
Python through parselmouth (:mod:`ganphon.acoustics`) or by the scripts in
``praat_scripts/`` run by Praat itself.  This module holds what both share:

* :class:`MeasureSettings` — the one set of analysis settings.  Its field
  names are the variable names of the scripts' form fields, so the same
  object drives the Python measures and the scripts.
* :func:`settings_for_layer` and the presets ``default``, ``paper-wavegan``
  and ``paper-ciwgan`` (SPEC §5).
* :func:`measure_guard` — which measures a sound can carry at all, decided
  by its layer's native rate (a 62.5 Hz layer series has no formants below
  5500 Hz, upsampled or not; the band rule of :mod:`ganphon.measures`); the
  scripts apply the same checks.
* :func:`settings_table` — the settings every layer of a model is measured
  with, clipped to its native band (``ganphon measure --show-settings``).
* :func:`run_script` — run a bundled script through parselmouth's bundled
  Praat or through a Praat executable and return its table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.resources
import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import layout
from .errors import GanphonError, ParameterError, first_line, number_hint, os_problem
from .measures import (  # noqa: F401 (the settings, the band rule and the measure registry live in measures)
    ALL_MEASURES,
    FAMILIES,
    INTENSITY_WINDOW_PER_PERIOD,
    MEASURE_NAMES,
    WINDOW_SHAPES,
    MeasureSettings,
    POINT_MEASURES,
    MIN_SAMPLES_PER_WINDOW,
    PERIODS_PER_PITCH_WINDOW,
    BANDS,
    band_guard,
    clip_settings,
    effective_rate,
    spectrum_guard,
)

if TYPE_CHECKING:  # pandas is imported where a table is built (not by the measure command's parser)
    import pandas as pd

#: Columns of the long acoustic table, in order.  ``f0_artefact``: the generator artefact
#: frequency (Hz) an F0 value lies on (:mod:`ganphon.measures`), empty when none.
TABLE_COLUMNS = ["file", "tier", "label", "start", "end", "point", "time", "measure", "value", "note",
                 "f0_artefact"]
#: Columns a Praat script's table must have (it also writes ``note``).
SCRIPT_COLUMNS = TABLE_COLUMNS[:9]

# Praat arguments ganphon does not expose; the scripts use the same values.
# Every time step is Praat's automatic one (0 in the scripts, None in parselmouth).
PITCH_MAX_CANDIDATES = 15
PITCH_VERY_ACCURATE = False

LAYER_NAMES = ("dense", "conv1", "conv2", "conv3", "conv4", "conv5", "output")


#: Layer-aware presets: ``{"*": settings for every layer, layer: overrides}``.  Every layer's
#: settings are then clipped to its native band (:func:`ganphon.measures.clip_settings`).
PRESETS = {
    # the paper's ciwGAN ranges (SPEC §5): F0 75-450 Hz, 5-150 Hz on the upsampled Conv1 / Conv2
    "default": {
        "*": {},
        "conv1": {"pitch_floor": 5.0, "pitch_ceiling": 150.0},
        "conv2": {"pitch_floor": 5.0, "pitch_ceiling": 150.0},
    },
    "paper-ciwgan": {
        "*": {"pitch_floor": 75.0, "pitch_ceiling": 450.0},
        "conv1": {"pitch_floor": 5.0, "pitch_ceiling": 150.0},
        "conv2": {"pitch_floor": 5.0, "pitch_ceiling": 150.0},
    },
    "paper-wavegan": {"*": {"pitch_floor": 60.0, "pitch_ceiling": 300.0}},
    # Praat's own defaults on every layer (F0 75-600 Hz)
    "praat": {"*": {"pitch_floor": 75.0, "pitch_ceiling": 600.0}},
}
#: What each preset is, for ``--help`` and the settings table.
PRESET_TEXT = {
    "default": "the paper's ciwGAN ranges: F0 75-450 Hz, 5-150 Hz on conv1/conv2",
    "paper-ciwgan": "the same as default",
    "paper-wavegan": "F0 60-300 Hz on every layer",
    "praat": "Praat's defaults: F0 75-600 Hz on every layer",
}


def resolve_layer_settings(layer_settings="default") -> dict:
    """Turn a preset name, a :class:`MeasureSettings` or a dict into ``{layer: MeasureSettings}``.

    Parameters
    ----------
    layer_settings : str, MeasureSettings or dict
        A preset name (``default``, ``paper-wavegan``, ``paper-ciwgan``, ``praat``),
        one settings object for every layer, or a dict mapping layer names (and
        ``"*"`` for all others) to :class:`MeasureSettings` or to dicts of
        overrides of the ``"*"`` entry; a dict may name a ``"preset"`` whose
        entries it overrides (see :func:`with_overrides`).

    Returns
    -------
    dict
        Layer name → :class:`MeasureSettings`; key ``"*"`` is the fallback.
        Not yet clipped to any layer's band: :func:`settings_for_layer` does that.
    """
    if isinstance(layer_settings, MeasureSettings):
        return {"*": layer_settings}
    if isinstance(layer_settings, str):
        if layer_settings not in PRESETS:
            raise GanphonError(
                f"settings: unknown preset {layer_settings!r}; choose one of {', '.join(PRESETS)}")
        layer_settings = PRESETS[layer_settings]
    if not isinstance(layer_settings, dict):
        raise GanphonError("settings: expected a preset name, MeasureSettings or dict, "
                           f"got {type(layer_settings).__name__}")
    if "preset" in layer_settings:
        layer_settings = with_overrides(layer_settings["preset"],
                                        {k: v for k, v in layer_settings.items() if k != "preset"})
    base_spec = layer_settings.get("*", {})
    base = base_spec if isinstance(base_spec, MeasureSettings) else MeasureSettings().replace(**base_spec)
    resolved = {"*": base}
    for layer, spec in layer_settings.items():
        if layer == "*":
            continue
        resolved[layer] = spec if isinstance(spec, MeasureSettings) else base.replace(**spec)
    return resolved


def with_overrides(preset="default", overrides=None) -> dict:
    """A preset with some settings changed: ``{"*" or layer: {field: value}}`` on top of its entries.

    An override of ``"*"`` reaches every layer the preset does not set that
    field for; an override of a layer applies to that layer only.

    >>> with_overrides("default", {"conv4": {"maximum_formant": 2000.0}})["conv4"]
    {'maximum_formant': 2000.0}
    """
    if preset not in PRESETS:
        raise GanphonError(f"settings: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    merged = {layer: dict(spec) for layer, spec in PRESETS[preset].items()}
    for layer, spec in (overrides or {}).items():
        if not isinstance(spec, dict):
            raise GanphonError(f"settings: overrides of {layer!r} must be a dict of fields, got {spec!r}")
        merged.setdefault(layer, {}).update(spec)
    return merged


def parse_overrides(items) -> dict:
    """``["conv4.maximum_formant=2000", "pitch_ceiling=500"]`` → ``{"conv4": {…}, "*": {…}}`` (``--set``)."""
    fields = {f.name: f for f in dataclasses.fields(MeasureSettings)}
    out: dict = {}
    for item in items or ():
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, text = part.partition("=")
            if not sep:
                raise GanphonError(f"--set {part!r}: expected [LAYER.]FIELD=VALUE, e.g. conv4.maximum_formant=2000")
            layer, _, name = key.strip().rpartition(".")
            layer = layer or "*"
            if name not in fields:
                raise GanphonError(f"--set {part!r}: unknown setting {name!r}; known: {', '.join(sorted(fields))}")
            kind = fields[name].type
            text = text.strip()
            if kind == "bool":
                value = text.lower() in ("1", "yes", "true", "on")
            elif kind == "str":
                value = text
            else:
                try:
                    value = int(text) if kind == "int" else float(text)
                except ValueError:
                    raise GanphonError(f"--set {part!r}: {name} must be a number{number_hint(text)}") from None
            out.setdefault(layer, {})[name] = value
    return out


def settings_for_layer(layer, layer_settings="default", native_rate=None) -> MeasureSettings:
    """The :class:`MeasureSettings` that apply to ``layer`` (None: the fallback).

    With ``native_rate`` (Hz, the layer's samples per second before any
    upsampling), the settings are clipped to what the layer can carry
    (:func:`ganphon.measures.clip_settings`).
    """
    resolved = layer_settings if _is_resolved(layer_settings) else resolve_layer_settings(layer_settings)
    settings = resolved.get(layer, resolved["*"])
    return clip_settings(settings, native_rate) if native_rate is not None else settings


def _is_resolved(obj) -> bool:
    return isinstance(obj, dict) and "*" in obj and all(isinstance(v, MeasureSettings) for v in obj.values())


layer_from_name = layout.layer_of  # the file-name vocabulary lives in layout


def find_textgrid(sound_path) -> Path | None:
    """The TextGrid belonging to a sound file, as the scripts find it.

    ``name.TextGrid`` if it exists, else the name with its last ``_suffix``
    stripped (``ID_conv3.wav`` → ``ID.TextGrid``); None when neither exists.
    """
    sound_path = Path(sound_path)
    stem = sound_path.stem
    candidates = [sound_path.with_name(stem + ".TextGrid")]
    if "_" in stem[1:]:
        candidates.append(sound_path.with_name(stem[: stem.rindex("_")] + ".TextGrid"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if not stem.isascii():
        _refuse_unicode_twin(sound_path, candidates)
    return None


@functools.lru_cache(maxsize=8)
def _accented_textgrids(folder: Path, mtime_ns: int) -> tuple:
    """The TextGrids of ``folder`` whose names are not ASCII (listed once while the folder is unchanged)."""
    return tuple(p.name for p in folder.iterdir() if p.suffix == ".TextGrid" and not p.name.isascii())


def _refuse_unicode_twin(sound_path: Path, candidates) -> None:
    """Raise when the TextGrid a sound would take exists under the same name written in another Unicode form
    (``é`` as one character, or as ``e`` and a combining accent: macOS writes the second).  Neither ganphon
    nor Praat's scripts would pair them, so the sound had been taken as one without a TextGrid."""
    import unicodedata

    wanted = {unicodedata.normalize("NFC", c.name): c.name for c in candidates}
    try:
        names = _accented_textgrids(sound_path.parent, sound_path.parent.stat().st_mtime_ns)
    except OSError:
        return
    for name in names:
        twin = wanted.get(unicodedata.normalize("NFC", name))
        if twin is not None and twin != name:
            raise GanphonError(f"{sound_path}: its TextGrid is there as {ascii(name)}, the same name with its "
                               "accented letters encoded in another Unicode form (NFC / NFD, as macOS writes "
                               f"names), so neither ganphon nor Praat pairs them; rename it {ascii(twin)}")


# --------------------------------------------------------------------------
# What a sound can carry


def measure_guard(family, settings: MeasureSettings, sampling_frequency, duration, who="sound", native_rate=None):
    """Why a measure family cannot be computed on a sound, or None when it can.

    The checks compare each setting with the Nyquist frequency, sampling
    period and duration of the series the sound holds: its layer's
    ``native_rate`` when given (an upsampled WAV carries no more than the
    native series it was made from), else its own rate — so a layer never
    yields a number its rate cannot carry, on any route (Praat would
    silently resample for formants, or give pitch above Nyquist).  The
    scripts make the same checks (:mod:`ganphon.measures`).

    Parameters
    ----------
    family : str
        A family of :data:`ganphon.measures.FAMILIES`, or ``max_intensity`` (the intensity
        behind the spectrum family's ``max_intensity``).
    settings : MeasureSettings
    sampling_frequency, duration : float
        Of the whole sound (Hz, s).
    who : str
        Name used in the note (the layer, or the file name).
    native_rate : float, optional
        The layer's native rate (Hz); default: the sound's own.

    Returns
    -------
    str or None
        A short note, e.g. ``"conv1: native Nyquist 31.25 Hz < maximum formant 5500 Hz"``.
    """
    if family not in ALL_MEASURES and not any(family in f.subguards for f in FAMILIES.values()):
        raise GanphonError(f"unknown measure family {family!r}; choose from {', '.join(ALL_MEASURES)}")
    return band_guard(family, settings, effective_rate(sampling_frequency, native_rate), duration, who)


def settings_table(layer_settings="default", rates=None, duration=None) -> "pd.DataFrame":
    """The settings each layer is measured with, clipped to its native band, and what it cannot carry.

    Parameters
    ----------
    layer_settings : str, MeasureSettings or dict
        As for :func:`resolve_layer_settings`.
    rates : dict
        Layer → native rate (Hz), in network order (from a manifest, a store or a model).
    duration : float, optional
        Slice duration (s), for the window checks.

    Returns
    -------
    pandas.DataFrame
        One row per layer: ``layer, native_rate_hz, native_nyquist_hz, pitch_floor, pitch_ceiling,
        intensity_minimum_pitch, maximum_formant, spectrum_band_hz, max_intensity_window_ms, empty``
        (``empty``: the families the layer cannot carry, with the reason).
    """
    import pandas as pd

    resolved = resolve_layer_settings(layer_settings)
    rows = []
    for layer, rate in (rates or {}).items():
        s = settings_for_layer(layer, resolved, rate)
        length = duration if duration is not None else math.inf
        why = []
        for family in [name for f in FAMILIES.values() for name in ([f.name] if f.guard else []) + list(f.subguards)]:
            note = band_guard(family, s, rate, length, "")
            if note:
                why.append(f"{family} ({note.removeprefix(': ')})")
        rows.append({"layer": layer, "native_rate_hz": rate, "native_nyquist_hz": rate / 2,
                     "pitch_floor": s.pitch_floor, "pitch_ceiling": s.pitch_ceiling,
                     "intensity_minimum_pitch": s.intensity_minimum_pitch,
                     "maximum_formant": s.maximum_formant, "spectrum_band_hz": f"0-{rate / 2:g}",
                     "max_intensity_window_ms": s.max_intensity_window * 1000, "empty": "; ".join(why)})
    return pd.DataFrame(rows)


def format_settings_table(table: "pd.DataFrame", preset_text: str = "") -> str:
    """:func:`settings_table` as the lines ``ganphon measure --show-settings`` prints."""
    head = ["layer", "rate Hz", "Nyquist", "F0 range Hz", "int. min pitch", "max formant", "spectrum Hz",
            "max-int. window ms"]
    body = []
    for r in table.itertuples(index=False):
        body.append([r.layer, f"{r.native_rate_hz:g}", f"{r.native_nyquist_hz:g}",
                     f"{r.pitch_floor:g}-{r.pitch_ceiling:g}", f"{r.intensity_minimum_pitch:g}",
                     f"{r.maximum_formant:g}", r.spectrum_band_hz, f"{r.max_intensity_window_ms:.4g}"])
    widths = [max(len(str(x)) for x in column) for column in zip(head, *body)]
    lines = ([preset_text] if preset_text else []) + ["  ".join(str(x).ljust(w) for x, w in zip(head, widths)).rstrip()]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in body]
    empties = [(r.layer, r.empty) for r in table.itertuples(index=False) if r.empty]
    if empties:
        lines.append("empty (the layer cannot carry it; values empty with a note):")
        lines += [f"  {layer}: {text}" for layer, text in empties]
    lines.append("what each family needs (ganphon.measures.BANDS):")
    lines += [f"  {band.family}: {band.needs}" for band in BANDS.values() if band.settings]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# The bundled scripts


def scripts_dir() -> Path:
    """Folder holding the bundled Praat scripts (installed package or source checkout)."""
    try:
        # the installed package has no __init__.py there: files() gives a MultiplexedPath,
        # whose joinpath is a real path
        script = importlib.resources.files("ganphon.praat_scripts").joinpath("measure_all.praat")
        if isinstance(script, Path) and script.is_file():
            return script.parent
    except (ModuleNotFoundError, TypeError):
        pass
    import ganphon

    path = Path(ganphon.__file__).parent.parent / "praat_scripts"  # a source checkout
    if (path / "measure_all.praat").is_file():
        return path
    raise GanphonError(f"cannot find the bundled Praat scripts (looked in {path})")


def script_path(name) -> Path:
    """Path of the bundled script ``name`` (``measure_all`` or ``measure_all.praat``)."""
    file_name = name if str(name).endswith(".praat") else f"{name}.praat"
    path = scripts_dir() / file_name
    if not path.is_file():
        available = sorted(p.stem for p in scripts_dir().glob("measure_*.praat"))
        raise GanphonError(f"no bundled Praat script {file_name}; available: {', '.join(available)}")
    return path


@dataclass(frozen=True)
class FormField:
    """One field of a Praat script's ``form``: its variable name, type and default."""

    name: str
    kind: str
    default: object
    options: tuple = ()


_FIELD_KINDS = {"real", "positive", "integer", "natural", "word", "sentence", "text",
                "boolean", "choice", "optionmenu", "infile", "outfile", "folder"}


def read_form(path) -> list[FormField]:
    """The fields of the ``form … endform`` block of a Praat script, in order."""
    fields: list[FormField] = []
    inside = False
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not inside:
            inside = line.startswith("form ")
            continue
        if line == "endform":
            return fields
        if not line or line.startswith(("#", "comment")):
            continue
        if line.startswith(("option ", "button ")):
            last = fields[-1]
            fields[-1] = dataclasses.replace(last, options=last.options + (line.split(None, 1)[1],))
            continue
        parts = line.split(None, 2)
        kind = parts[0]
        if kind not in _FIELD_KINDS:
            raise GanphonError(f"{path}: cannot read form line {raw!r}")
        label = parts[1]
        default = parts[2] if len(parts) > 2 else ""
        name = re.sub(r"_*\(.*$", "", label)
        name = name[:1].lower() + name[1:]
        fields.append(FormField(name=name, kind=kind, default=default))
    raise GanphonError(f"{path}: no 'form … endform' block")


def _field_value(field: FormField, value):
    """Check ``value`` against a form field and return it as Praat expects it."""
    if field.kind == "boolean":
        if isinstance(value, str):
            value = value.strip().lower() in ("1", "yes", "true", "on")
        return bool(value)
    if field.kind in ("choice", "optionmenu"):
        if isinstance(value, int) and not isinstance(value, bool):
            return field.options[value - 1]
        for option in field.options:
            if option.lower() == str(value).lower():
                return option
        raise GanphonError(f"field {field.name}: {value!r} is not one of {', '.join(field.options)}")
    if field.kind in ("real", "positive", "integer", "natural"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise GanphonError(f"field {field.name}: expected a number, got {value!r}") from None
        return int(number) if field.kind in ("integer", "natural") else number
    return str(value)


def _default_value(field: FormField):
    if field.kind == "boolean":
        return field.default.strip() not in ("0", "no", "")
    if field.kind in ("choice", "optionmenu"):
        return field.options[int(field.default or 1) - 1]
    return _field_value(field, field.default) if field.kind not in ("word", "sentence", "text", "infile",
                                                                      "outfile", "folder") else field.default


def find_praat(praat_path=None) -> str:
    """Path of a Praat executable: ``praat_path`` if given, else ``praat`` on PATH."""
    if praat_path is not None:
        path = Path(praat_path)
        if not (path.is_file() and os.access(path, os.X_OK)):
            why = ("no such file" if not path.exists() else "a folder" if path.is_dir()
                   else "not an executable file")
            raise GanphonError(f"{praat_path}: {why}; --praat-path names the Praat executable")
        return str(path)
    for name in ("praat", "Praat", "praat_nogui"):
        found = shutil.which(name)
        if found:
            return found
    raise ParameterError("praat_path", "no Praat executable on PATH; install Praat or pass its path")


def run_script(name, folder, engine="parselmouth", praat_path=None, settings=None, timeout=None, **fields):
    """Run a bundled Praat script on a folder and return its table.

    Parameters
    ----------
    name : str
        Script name, e.g. ``"measure_all"`` or ``"measure_pitch.praat"``.
    folder : str or Path
        Folder of sound (+ TextGrid) files.
    engine : {"parselmouth", "praat"}
        Run with parselmouth's bundled Praat or with a Praat executable.
    praat_path : str, optional
        Praat executable for ``engine="praat"`` (default: ``praat`` on PATH).
    settings : MeasureSettings, optional
        Analysis settings; those the script has a field for are passed.
    timeout : float, optional
        Seconds before a Praat executable is stopped.
    **fields
        Any other form field by its variable name (``extension="Sound"``,
        ``tier="auto"``, ``number_of_points=10``, ``name_pattern="*_conv4"``).

    Returns
    -------
    pandas.DataFrame
        The script's table (columns ``file … value``), NaN for empty values.
    """
    path = script_path(name)
    folder = Path(folder)
    if not folder.is_dir():
        raise GanphonError(f"{folder}: not a folder")

    with tempfile.TemporaryDirectory(prefix="ganphon_praat_") as tmp:
        table = Path(tmp) / "table.tsv"
        args = form_arguments(path, folder, table, settings, **fields)
        if engine == "parselmouth":
            import parselmouth

            try:
                parselmouth.praat.run_file(str(path), *args, capture_output=True)
            except parselmouth.PraatError as exc:
                raise GanphonError(f"{path.name} on {folder}: {first_line(exc)}") from None
        elif engine == "praat":
            exe = find_praat(praat_path)
            argv = [exe, "--run", "--no-pref-files", "--no-plugins", str(path)]
            argv += ["yes" if a is True else "no" if a is False else _praat_number(a) for a in args]
            try:
                done = subprocess.run(argv, capture_output=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise GanphonError(f"{path.name} on {folder}: Praat ({exe}) ran past {timeout} s") from None
            except OSError as exc:
                raise GanphonError(f"{exe}: cannot be run as Praat ({os_problem(exc)}); check --praat-path") from None
            said = praat_stderr(done.stderr.decode("utf-8", "replace"), path.name, folder)
            if done.returncode != 0:
                raise GanphonError(f"{said or f'{path.name} on {folder}: exit status {done.returncode}'} "
                                   f"(Praat {exe} failed)")
            if said:  # warnings of a run that succeeded: one ganphon note
                import warnings

                warnings.warn(said, RuntimeWarning, stacklevel=2)
        else:
            raise GanphonError(f"unknown engine {engine!r}; choose parselmouth or praat")
        if not table.is_file():
            who = f"Praat ({exe}; is it Praat? check --praat-path)" if engine == "praat" else "Praat"
            raise GanphonError(f"{path.name} on {folder}: {who} wrote no table")
        return read_table(table)


#: Lines of Praat's stderr that only say where a script stopped, never why.
_PRAAT_TRAIL = re.compile(r"^(Script line \d+ not performed|«|Script “.*” not completed|Praat: script command|"
                          r"Formula not run|Menu command .* not completed)")
_PRAAT_QUOTED = re.compile(r"“([^”]+)”")


def praat_stderr(text: str, script: str, folder) -> str:
    """What a Praat executable wrote on stderr, as one line naming the script and the file.

    The file is the first one Praat's message names (shortened to its name
    inside the message), else ``folder``.  Praat's trail of where the script
    stopped is dropped; several messages (a warning per file) are counted.
    ``''`` when Praat wrote nothing.
    """
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    messages = [re.sub(r"^(Error|Warning):\s*", "", line) for line in lines if not _PRAAT_TRAIL.match(line)]
    if not messages:
        return ""
    first = messages[0]
    quoted = _PRAAT_QUOTED.search(first)
    where = quoted.group(1) if quoted else str(folder)
    if quoted:
        first = first.replace(quoted.group(0), f"“{Path(where).name}”")
    more = len(messages) - 1
    return f"{script} on {where}: Praat: {first}" + (f" (and {more} more message{'s' * (more > 1)})" if more else "")


def form_arguments(path, folder, output_table, settings=None, **fields) -> list:
    """The values of a script's form fields, in form order: defaults, then
    ``settings``, then ``fields``; ``folder`` and ``output_table`` filled in."""
    form = read_form(path)
    by_name = {f.name: f for f in form}
    values = {f.name: _default_value(f) for f in form}
    if settings is not None:
        for key, value in settings.to_fields().items():
            if key in by_name:
                values[key] = _field_value(by_name[key], value)
    unknown = sorted(set(fields) - set(by_name))
    if unknown:
        raise GanphonError(f"{Path(path).name}: no form field(s) {', '.join(unknown)}; fields: {', '.join(by_name)}")
    for key, value in fields.items():
        values[key] = _field_value(by_name[key], value)
    # Praat resolves a relative path against the script's folder, not the working folder
    values["folder"] = str(Path(folder).resolve())
    values["output_table"] = str(Path(output_table).resolve()) if str(output_table) else ""
    return [values[f.name] for f in form]


def command_line(name, folder, output_table, settings=None, praat="praat", **fields) -> list:
    """The ``praat --run`` argument list that runs a bundled script on a folder,
    every form field spelled out (Praat's command line needs them all); the
    folder and the output table are absolute paths."""
    path = script_path(name)
    args = form_arguments(path, folder, output_table, settings, **fields)
    return [praat, "--run", str(path)] + ["yes" if a is True else "no" if a is False else _praat_number(a) for a in args]


def shell_command_line(name, folder, output_table, settings=None, praat="praat", **fields) -> str:
    """:func:`command_line` as one shell line to print for people.

    A relative ``folder`` or ``output_table`` is written ``"$PWD/…"``: the line
    then works from the folder the paths are relative to, wherever that folder
    has moved (Praat itself would resolve them against the script's folder).
    """
    import shlex

    argv = command_line(name, folder, output_table, settings, praat, **fields)
    names = [f.name for f in read_form(script_path(name))]
    words = [shlex.quote(a) for a in argv]
    for field, given in (("folder", folder), ("output_table", output_table)):
        if str(given) and not Path(given).is_absolute():
            text = Path(given).as_posix().replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
            words[3 + names.index(field)] = f'"$PWD/{text}"'
    return " ".join(words)


def _praat_number(value):
    if isinstance(value, float):
        return repr(value)
    return str(value)


def read_table(path) -> "pd.DataFrame":
    """Read a table written by a bundled script (UTF-8 or Praat's UTF-16).

    Returns
    -------
    pandas.DataFrame
        Columns as in the file; empty cells (Praat's ``--undefined--``) are NaN,
        ``point`` is a nullable integer, ``tier`` and ``label`` are strings.
    """
    import io as _io

    import pandas as pd

    from .io import read_text

    text = read_text(path)
    numeric = ("start", "end", "point", "time", "value")
    frame = pd.read_csv(_io.StringIO(text), sep="\t", dtype={"file": str, "tier": str, "label": str, "measure": str, "note": str},
                        keep_default_na=False, na_values={column: [""] for column in numeric})
    missing = [c for c in SCRIPT_COLUMNS if c not in frame.columns]
    if missing:
        raise GanphonError(f"{path}: not a ganphon measurement table (missing {', '.join(missing)})")
    for column in ("start", "end", "time", "value"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["point"] = pd.to_numeric(frame["point"], errors="coerce").astype("Int64")
    return frame


# --------------------------------------------------------------------------
# The Praat plugin

PLUGIN_NAME = "plugin_ganphon"
#: The installed plugin's list of its own files (an update replaces exactly those)
PLUGIN_FILES = ".ganphon-plugin-files"


def praat_prefs_dir(platform=None) -> Path:
    """Praat's preferences folder, where plugins live.

    Linux and other Unix: ``~/.praat-dir``; macOS: ``~/Library/Preferences/Praat Prefs``;
    Windows: ``%USERPROFILE%\\Praat``.
    """
    import sys

    platform = platform or sys.platform
    home = Path.home()
    if platform.startswith("win"):
        return Path(os.environ.get("USERPROFILE", str(home))) / "Praat"
    if platform == "darwin":
        return home / "Library" / "Preferences" / "Praat Prefs"
    return home / ".praat-dir"


def plugin_files() -> list[Path]:
    """Files making up the installed plugin: its own scripts plus the measure scripts."""
    source = scripts_dir()
    files = sorted((source / PLUGIN_NAME).glob("*.praat"))
    files += sorted(source.glob("measure_*.praat")) + [source / "ganphon_procedures.praat"]
    if not any(f.name == "setup.praat" for f in files):
        raise GanphonError(f"{source / PLUGIN_NAME}: setup.praat is missing")
    return files


def install_plugin(prefs_dir=None) -> Path:
    """Copy the Praat plugin into Praat's preferences folder as ``plugin_ganphon``.

    The folder is built beside its final place and then swapped in, so Praat
    never sees a half-copied plugin; an earlier version is replaced (a folder
    of that name holding other files is an error, as is a ganphon output
    folder given as the preferences folder). A preferences folder that does
    not exist is created only where its parent does (Praat creates it there
    when it first runs); a longer missing path is an error, not a new tree.

    Parameters
    ----------
    prefs_dir : str or Path, optional
        Praat preferences folder (default: :func:`praat_prefs_dir`).

    Returns
    -------
    Path
        The installed plugin folder.
    """
    from . import layout

    prefs = Path(prefs_dir) if prefs_dir is not None else praat_prefs_dir()
    kind, evidence = layout.folder_kind_of(prefs)
    if kind is not None:
        raise GanphonError(f"{prefs}: is a ganphon {kind} folder ({evidence}), not Praat's preferences folder")
    target = prefs / PLUGIN_NAME
    files = plugin_files()
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise GanphonError(f"{target}: exists and is not the plugin's folder; move it away first")
    if target.is_dir():  # an earlier version is replaced; anything else in it is not ganphon's to delete
        ours = {f.name for f in files} | {PLUGIN_FILES}
        with contextlib.suppress(OSError, UnicodeDecodeError):  # the files an earlier version installed
            ours |= set((target / PLUGIN_FILES).read_text(encoding="utf-8").splitlines())
        foreign = sorted(p.name for p in target.iterdir() if p.name not in ours)
        if foreign:
            raise GanphonError(f"{target}: holds {', '.join(foreign[:3])}{' …' if len(foreign) > 3 else ''}, not "
                               f"the plugin's; move {'them' if len(foreign) > 1 else 'it'} away to update the plugin")
    if not prefs.is_dir() and not prefs.parent.is_dir():  # a slip of the path, not a place Praat looks
        parent = f"{prefs.parent} {'is not a folder' if prefs.parent.exists() else 'does not exist'}"
        if prefs_dir is None:  # the standard place, from the home folder
            raise GanphonError(f"{prefs}: Praat's standard preferences folder, but {parent} (is the home folder right?); "
                               "give Praat's preferences folder with --prefs")
        raise GanphonError(f"{prefs}: no such folder, and {parent}; give Praat's preferences folder, or leave "
                           "--prefs out for the standard one")
    try:
        prefs.mkdir(exist_ok=True)
    except OSError as exc:
        raise GanphonError(f"{prefs}: cannot create Praat preferences folder ({os_problem(exc)})") from None
    staging = prefs / f".{PLUGIN_NAME}.tmp{os.getpid()}"
    old = prefs / f".{PLUGIN_NAME}.old{os.getpid()}"
    try:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        for path in files:
            shutil.copy2(path, staging / path.name)
        (staging / PLUGIN_FILES).write_text("".join(f"{f.name}\n" for f in files), encoding="utf-8")
        if target.exists():
            os.replace(target, old)
        try:
            os.replace(staging, target)
        except OSError:
            if old.exists() and not target.exists():
                os.replace(old, target)  # put the earlier version back
            raise
    except OSError as exc:
        raise GanphonError(f"{target}: cannot install the Praat plugin ({os_problem(exc)})") from None
    finally:
        for leftover in (staging, old):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
    return target
