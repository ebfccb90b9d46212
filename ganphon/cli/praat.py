"""``ganphon annotate``, ``ganphon measure`` and ``ganphon praat-plugin``."""

from __future__ import annotations

from ..errors import GanphonError
from .options import add_quiet, add_workers, describe, finite_float, names, positive_float, positive_int


# The segmentation settings a user may change: (field of annotate.SegmentSettings, type, help).
SEGMENT_OPTIONS = (
    ("min_duration", positive_float, "shortest interval (s); shorter are merged"),
    ("silence_db", finite_float, "frames this many dB below the loudest are sil"),
    ("fric_cog", finite_float, "unvoiced frames with a spectral centre of gravity above this (Hz) are fric"),
    ("noise_db", finite_float, "unvoiced frames within this many dB of the loudest are fric whatever their spectrum"),
    ("pitch_floor", positive_float, "voicing: To Pitch (ac) floor (Hz)"),
    ("pitch_ceiling", positive_float, "voicing: To Pitch (ac) ceiling (Hz)"),
)


def annotate(p) -> None:
    from ..annotate import SegmentSettings

    describe(p, "Segment each sample's output (ID_output.wav) into sil (silence, closure), fric (aperiodic "
             "noise) and voi (voiced, Praat's pitch) intervals and write them as the interval tier 'auto' "
             "into ID.TextGrid (other tiers kept). Any folder of name.wav works too (every WAV is "
             "annotated into name.TextGrid). --layers also segments the given layer WAVs into tiers "
             "auto_<layer>. With --evaluate, DIR is a corpus with ground-truth 'phones' tiers (ganphon "
             "corpus synth): nothing is written, the agreement is printed.")
    p.add_argument("dir", metavar="DIR",
                   help="exported folder, folder of WAVs, or (with --evaluate) a corpus folder")
    p.add_argument("--layers", default="", help="comma-separated layers to segment too, e.g. conv3,conv4")
    p.add_argument("--evaluate", action="store_true",
                   help="score against the 'phones' tier: frame accuracy (10 ms) and median boundary error")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="with --evaluate: only the first N files (default: all)")
    for field, kind, text in SEGMENT_OPTIONS:
        p.add_argument("--" + field.replace("_", "-"), type=kind, default=getattr(SegmentSettings, field), help=text)
    add_workers(p, "segmenting samples")
    add_quiet(p)
    p.set_defaults(func=_annotate)


def measure(p) -> None:
    from ..praat import ALL_MEASURES, PRESETS

    describe(p, "Measure F0, intensity, F1-F3 (at N normalised points per interval), per-interval F0 / "
             "intensity summaries, spectral moments and duration of every file of an exported folder (or "
             "any folder of name.wav + name.TextGrid), in the intervals of a TextGrid tier. The result is "
             "the long acoustic table, written atomically to DIR/acoustics.csv joined with the manifest "
             "(sample_id, layer, latent columns, sweep_value …), or above 50,000 rows to DIR/acoustics.parquet "
             "(zstd, the table's own columns; 'ganphon stats' and ganphon.io.read_acoustics join the manifest); "
             "--out FILE.csv writes the joined CSV at any size. A layer stored as its native Sound is measured "
             "upsampled in memory, the samples its 16 kHz WAV holds. Values a file cannot "
             "carry (formants of a 62.5 Hz layer series, unvoiced frames …) are empty with a note.")
    p.add_argument("dir", metavar="DIR",
                   help="exported folder (or its manifest.csv), or a folder of name.wav + name.TextGrid")
    p.add_argument("--engine", choices=("parselmouth", "praat"), default="parselmouth",
                   help="measure in Python with parselmouth (parallel), or run measure_all.praat in a Praat "
                   "executable (same commands, same numbers)")
    p.add_argument("--praat-path", default=None, help="Praat executable for --engine praat (default: praat on PATH)")
    add_workers(p, "measuring files (--engine parselmouth)")
    p.add_argument("--tier", default="auto",
                   help="interval tier whose labelled intervals are measured ('' or none: whole files)")
    p.add_argument("--points", type=positive_int, default=10,
                   help="normalised time points per interval for f0, intensity and f1-f3")
    p.add_argument("--settings", choices=tuple(PRESETS), default="default",
                   help="Praat analysis settings: default (Praat's), paper-wavegan (F0 60-300 Hz), "
                   "paper-ciwgan (F0 75-450 Hz, 5-150 Hz for conv1/conv2)")
    p.add_argument("--inputs", choices=("wav", "sound"), default="wav",
                   help="measure the layers at 16 kHz (their WAVs, or their Sounds upsampled in memory), or the "
                   "native-rate .Sound layer series themselves")
    p.add_argument("--measures", default=",".join(ALL_MEASURES), help="comma-separated measure families")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="output table, .csv (joined with the manifest) or .parquet (default: DIR/acoustics.csv, "
                   "or DIR/acoustics.parquet above 50,000 rows); a JSON record of the settings goes beside it")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a table that holds a different measurement (the same one is replaced without it)")
    add_quiet(p)
    p.set_defaults(func=_measure)


def praat_plugin(p) -> None:
    describe(p, "Copy the plugin (menu commands Measure folder, Measure script, View sample, View sweep, and "
             "the measure scripts) into Praat's preferences folder as plugin_ganphon; restart Praat to see the ganphon "
             "menu in the Praat menu of the Objects window.")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--install", action="store_true", help="install (or update) the plugin")
    group.add_argument("--print-path", action="store_true", help="print where the plugin goes")
    p.add_argument("--prefs", default=None, metavar="DIR",
                   help="Praat preferences folder (default: ~/.praat-dir on Linux, ~/Library/Preferences/"
                   "Praat Prefs on macOS, %%USERPROFILE%%\\Praat on Windows)")
    p.set_defaults(func=_praat_plugin)


def _annotate(args) -> int:
    from ..annotate import SegmentSettings, annotate_folder, evaluate, format_evaluation

    settings = SegmentSettings(**{field: getattr(args, field) for field, _, _ in SEGMENT_OPTIONS})
    if args.evaluate:
        if args.layers:
            raise GanphonError("--layers cannot be combined with --evaluate")
        print(format_evaluation(evaluate(args.dir, settings, limit=args.limit)))
        return 0
    table = annotate_folder(args.dir, layers=names(args.layers) or [], settings=settings,
                            progress=not args.quiet, workers=args.workers)
    counts = table.groupby(["tier", "label"]).size()
    print(f"annotated {table['sample_id'].nunique()} samples in {args.dir} "
          f"(tiers {', '.join(sorted(table['tier'].unique()))})")
    for (tier, label), count in counts.items():
        print(f"  {tier} {label}: {count} intervals")
    return 0


def _measure(args) -> int:
    from ..acoustics import measure_to_file, summary

    tier = None if args.tier in ("", "none", "None") else args.tier
    table, out, elapsed = measure_to_file(
        args.dir, args.out, engine=args.engine, measures=names(args.measures) or [], tier=tier, points=args.points,
        settings=args.settings, inputs=args.inputs, workers=args.workers, praat_path=args.praat_path,
        command=args.command_line, progress=not args.quiet, overwrite=args.overwrite)
    print(summary(table, elapsed, out))
    return 0


def _praat_plugin(args) -> int:
    from pathlib import Path

    from ..praat import PLUGIN_NAME, install_plugin, praat_prefs_dir

    prefs = args.prefs or praat_prefs_dir()
    if args.print_path:
        print(Path(prefs) / PLUGIN_NAME)
        return 0
    target = install_plugin(prefs)
    print(f"installed the ganphon Praat plugin in {target}; restart Praat to see Praat > ganphon")
    return 0
