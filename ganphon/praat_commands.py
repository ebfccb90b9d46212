"""``ganphon measure``, ``ganphon annotate`` and ``ganphon praat-plugin``."""

from __future__ import annotations

import argparse

from .errors import GanphonError

FMT = argparse.ArgumentDefaultsHelpFormatter


def add_commands(sub) -> None:
    """Add the Praat-side sub-commands to the ``ganphon`` parser."""
    from .annotate import SegmentSettings
    from .praat import ALL_MEASURES, PRESETS

    p = sub.add_parser(
        "measure", formatter_class=FMT,
        help="measure every file of a folder like speech into DIR/acoustics.csv",
        description="Measure F0, intensity, F1-F3 (at N normalised points per interval), per-interval "
        "F0 / intensity summaries, spectral moments and duration of every file of an exported "
        "folder (or any folder of name.wav + name.TextGrid), in the intervals of a TextGrid tier. "
        "The result is the long acoustic table joined with the manifest (sample_id, layer, latent "
        "columns, sweep_value …), written atomically to DIR/acoustics.csv. Values a file cannot "
        "carry (formants of a 62.5 Hz layer series, unvoiced frames …) are empty with a note.",
    )
    p.add_argument("dir", help="exported folder (or its manifest.csv), or a folder of name.wav + name.TextGrid")
    p.add_argument("--engine", choices=("parselmouth", "praat"), default="parselmouth",
                   help="measure in Python with parselmouth (parallel), or run measure_all.praat in a "
                   "Praat executable (same commands, same numbers)")
    p.add_argument("--praat-path", default=None, help="Praat executable for --engine praat (None: praat on PATH)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes for --engine parselmouth (None: number of CPUs)")
    p.add_argument("--tier", default="auto",
                   help="interval tier whose labelled intervals are measured ('' or none: whole files)")
    p.add_argument("--points", type=int, default=10, help="normalised time points per interval for f0, "
                   "intensity and f1-f3")
    p.add_argument("--settings", choices=tuple(PRESETS), default="default",
                   help="Praat analysis settings: default (Praat's), paper-wavegan (F0 60-300 Hz), "
                   "paper-ciwgan (F0 75-450 Hz, 5-150 Hz for conv1/conv2)")
    p.add_argument("--inputs", choices=("wav", "sound"), default="wav",
                   help="measure the 16 kHz WAVs, or the native-rate .Sound layer series")
    p.add_argument("--measures", default=",".join(ALL_MEASURES),
                   help="comma-separated measure families")
    p.add_argument("--out", default=None,
                   help="output table (None: DIR/acoustics.csv); a JSON record of the settings goes beside it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_measure)

    p = sub.add_parser(
        "annotate", formatter_class=FMT,
        help="add automatic sil / fric / voi intervals (tier 'auto') to every TextGrid",
        description="Segment each sample's output (ID_output.wav) into sil (silence, closure), fric "
        "(aperiodic noise) and voi (voiced, Praat's pitch) intervals and write them as the interval "
        "tier 'auto' into ID.TextGrid (other tiers kept). Any folder of name.wav works too (every "
        "WAV is annotated into name.TextGrid). --layers also segments the given layer WAVs into "
        "tiers auto_<layer>. With --evaluate, DIR is a corpus with ground-truth 'phones' tiers "
        "(ganphon corpus synth): nothing is written, the agreement is printed.",
    )
    p.add_argument("dir", help="exported folder, folder of WAVs, or (with --evaluate) a corpus folder")
    p.add_argument("--layers", default="", help="comma-separated layers to segment too, e.g. conv3,conv4")
    p.add_argument("--evaluate", action="store_true",
                   help="score against the 'phones' tier: frame accuracy (10 ms) and median boundary error")
    p.add_argument("--limit", type=int, default=None, help="with --evaluate: only the first N files (None: all)")
    p.add_argument("--min-duration", type=float, default=SegmentSettings.min_duration,
                   help="shortest interval (s); shorter are merged")
    p.add_argument("--silence-db", type=float, default=SegmentSettings.silence_db,
                   help="frames this many dB below the loudest are sil")
    p.add_argument("--fric-cog", type=float, default=SegmentSettings.fric_cog,
                   help="unvoiced frames with a spectral centre of gravity above this (Hz) are fric")
    p.add_argument("--noise-db", type=float, default=SegmentSettings.noise_db,
                   help="unvoiced frames within this many dB of the loudest are fric whatever their spectrum")
    p.add_argument("--pitch-floor", type=float, default=SegmentSettings.pitch_floor,
                   help="voicing: To Pitch (ac) floor (Hz)")
    p.add_argument("--pitch-ceiling", type=float, default=SegmentSettings.pitch_ceiling,
                   help="voicing: To Pitch (ac) ceiling (Hz)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes segmenting samples in parallel (default: one per CPU)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_annotate)

    p = sub.add_parser(
        "praat-plugin", formatter_class=FMT,
        help="install ganphon's Praat plugin (Praat > ganphon menu)",
        description="Copy the plugin (menu commands Measure folder, Measure all, View sample, and the "
        "measure scripts) into Praat's preferences folder as plugin_ganphon; restart Praat to "
        "see the ganphon menu in the Praat menu of the Objects window.",
    )
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--install", action="store_true", help="install (or update) the plugin")
    group.add_argument("--print-path", action="store_true", help="print where the plugin goes")
    p.add_argument("--prefs", default=None,
                   help="Praat preferences folder (None: ~/.praat-dir on Linux, ~/Library/Preferences/"
                   "Praat Prefs on macOS, %%USERPROFILE%%\\Praat on Windows)")
    p.set_defaults(func=_praat_plugin)


def _measure(args) -> int:
    from .acoustics import measure_command

    if args.workers is not None and args.workers < 1:
        raise GanphonError(f"--workers must be at least 1, got {args.workers}")
    return measure_command(args)


def _annotate(args) -> int:
    from .annotate import SegmentSettings, annotate_folder, evaluate, format_evaluation

    settings = SegmentSettings(min_duration=args.min_duration, silence_db=args.silence_db,
                               fric_cog=args.fric_cog, noise_db=args.noise_db,
                               pitch_floor=args.pitch_floor, pitch_ceiling=args.pitch_ceiling)
    if args.evaluate:
        if args.layers:
            raise GanphonError("--layers cannot be combined with --evaluate")
        print(format_evaluation(evaluate(args.dir, settings, limit=args.limit)))
        return 0
    layers = [name.strip() for name in args.layers.split(",") if name.strip()]
    table = annotate_folder(args.dir, layers=layers, settings=settings, progress=not args.no_progress,
                            workers=args.workers)
    counts = table.groupby(["tier", "label"]).size()
    print(f"annotated {table['sample_id'].nunique()} samples in {args.dir} "
          f"(tiers {', '.join(sorted(table['tier'].unique()))})")
    for (tier, label), count in counts.items():
        print(f"  {tier} {label}: {count} intervals")
    return 0


def _praat_plugin(args) -> int:
    from .praat import PLUGIN_NAME, install_plugin, praat_prefs_dir

    prefs = args.prefs or praat_prefs_dir()
    if args.print_path:
        from pathlib import Path

        print(Path(prefs) / PLUGIN_NAME)
        return 0
    target = install_plugin(prefs)
    print(f"installed the ganphon Praat plugin in {target}; restart Praat to see Praat > ganphon")
    return 0
