"""``ganphon annotate``, ``ganphon measure`` and ``ganphon praat-plugin``."""

from __future__ import annotations

from ..errors import GanphonError
from .options import (add_out, add_quiet, add_workers, describe, finite_float, input_folder, input_path, name_list,
                      names, output_path, positive_float, positive_int, prestart_workers)


# The segmentation settings a user may change: (field of annotate.SegmentSettings, type, help).
SEGMENT_OPTIONS = (
    ("time_step", positive_float, "frame step (s) of the classification and of its voicing analysis (0.01 "
     "halves Praat's pitch work: on 200 synthetic #TV/#sTV words frame accuracy 0.987 -> 0.986, median boundary "
     "error 2.0 ms either way)"),
    ("min_duration", positive_float, "shortest interval (s); shorter are merged"),
    ("silence_db", finite_float, "frames this many dB below the loudest are sil"),
    ("fric_cog", finite_float, "unvoiced frames with a spectral centre of gravity above this (Hz) are fric"),
    ("noise_db", finite_float, "unvoiced frames within this many dB of the loudest are fric whatever their spectrum"),
    ("pitch_floor", positive_float, "voicing: To Pitch (ac) floor (Hz)"),
    ("pitch_ceiling", positive_float, "voicing: To Pitch (ac) ceiling (Hz)"),
)


#: What the workers of annotate and measure preload (ganphon.annotate.WORKER_MODULES,
#: ganphon.acoustics.WORKER_MODULES), named here so that starting them does not wait for those imports: the
#: workers import the segmentation or measuring code while the command reads the folder and plans the jobs.
_ANNOTATE_WORKER_MODULES = ("ganphon.annotate",)
_MEASURE_WORKER_MODULES = ("ganphon.acoustics",)


def annotate(p) -> None:
    from ..annotate import SegmentSettings

    describe(p, "Segment each sample's output (ID_output.wav) into sil (silence, closure), fric (aperiodic "
             "noise) and voi (voiced, Praat's pitch) intervals and write them as the interval tier 'auto' "
             "into ID.TextGrid (other tiers kept). Any folder of name.wav works too (every WAV is "
             "annotated into name.TextGrid). --layers also segments the given layer WAVs into tiers "
             "auto_<layer>. With --evaluate, DIR is a corpus with ground-truth 'phones' tiers (ganphon "
             "corpus synth): nothing is written, the agreement is printed.")
    p.add_argument("dir", metavar="DIR", type=input_folder,
                   help="exported folder, folder of WAVs, or (with --evaluate) a corpus folder")
    p.add_argument("--layers", type=name_list, default=None,
                   help="comma-separated layers to segment too, e.g. conv3,conv4")
    p.add_argument("--evaluate", action="store_true",
                   help="score against the 'phones' tier: frame accuracy (10 ms) and median boundary error")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="with --evaluate: only the first N files (default: all)")
    for field, kind, text in SEGMENT_OPTIONS:
        p.add_argument("--" + field.replace("_", "-"), type=kind, default=getattr(SegmentSettings, field), help=text)
    p.add_argument("--no-buzz-rule", action="store_true",
                   help="segment a generator's outputs without the buzz rule: by default a voiced run at the "
                   "upsampling stack's own periods (333.3, 250, 125, 83.3 Hz … for 16 kHz, from the folder's "
                   "run.json) is not 'voi', so an [s] carrying the generator's buzz stays 'fric'")
    add_workers(p, "segmenting samples")
    add_quiet(p)
    p.set_defaults(func=_annotate, prestart=prestart_workers(_ANNOTATE_WORKER_MODULES, unless=lambda a: a.evaluate))


def measure(p) -> None:
    from ..praat import ALL_MEASURES, PRESET_TEXT, PRESETS

    describe(p, "Measure F0, intensity, F1-F3 (at N normalised points per interval), per-interval F0 / "
             "intensity summaries, spectral moments and duration of every file of an exported folder (or "
             "any folder of name.wav + name.TextGrid), in the intervals of a TextGrid tier. The result is "
             "the long acoustic table joined with the manifest (sample_id, layer, latent columns, "
             "sweep_value …), written atomically to DIR/acoustics.csv, or above 50,000 rows to DIR/acoustics.parquet "
             "(zstd, the table's own columns; 'ganphon stats' and ganphon.io.read_acoustics join the manifest); "
             "--out FILE.csv writes the joined CSV at any size. A layer stored as its native Sound is measured "
             "upsampled in memory, the samples its 16 kHz WAV holds. What a layer can carry is "
             "decided by its native rate (the manifest's rate_native_hz), whether its upsampled WAV or its "
             ".Sound is measured: each layer's settings are clipped to its native band, and what it still "
             "cannot carry (formants of a 250 Hz series …) is empty with a note naming the layer, its native "
             "Nyquist and the setting (--show-settings prints the table). F0 values on the generator's own "
             "artefact frequencies (its stack periods, a layer's native rate, and ½, ⅓ of each) are flagged "
             "in the column f0_artefact.")
    p.add_argument("dir", metavar="DIR", nargs="?", type=input_path,
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
                   help="Praat analysis settings (then clipped to each layer's native band): "
                   + "; ".join(f"{name}: {text}" for name, text in PRESET_TEXT.items()))
    p.add_argument("--set", action="append", default=[], metavar="[LAYER.]FIELD=VALUE",
                   help="change one setting of the preset, for one layer or (without LAYER.) for all, e.g. "
                   "--set conv4.maximum_formant=2000 --set pitch_ceiling=500 (repeat, or separate by commas; "
                   "fields: ganphon.praat.MeasureSettings)")
    p.add_argument("--show-settings", action="store_true",
                   help="print the settings every layer is measured with (the preset and --set, clipped to the "
                   "layer's native band) and what each layer cannot carry, then stop; the layers come from DIR "
                   "(exported folder or store) or --checkpoint")
    p.add_argument("--checkpoint", default=None, metavar="CKPT",
                   help="with --show-settings: the layers of this checkpoint ('demo': the bundled ciwGAN)")
    p.add_argument("--inputs", choices=("wav", "sound"), default="wav",
                   help="measure the layers at 16 kHz (their WAVs, or their Sounds upsampled in memory), or the "
                   "native-rate .Sound layer series themselves")
    p.add_argument("--measures", type=name_list, default=",".join(ALL_MEASURES), help="comma-separated measure families")
    add_out(p, required=False, metavar="FILE",
            help="output table, .csv (joined with the manifest) or .parquet (default: DIR/acoustics.csv, "
            "or DIR/acoustics.parquet above 50,000 rows); a JSON record of the settings goes beside it")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a table that holds a different measurement (the same one is replaced without it)")
    add_quiet(p)
    p.set_defaults(func=_measure, prestart=prestart_workers(
        _MEASURE_WORKER_MODULES, unless=lambda a: a.engine != "parselmouth" or a.show_settings or a.dir is None))


def praat_plugin(p) -> None:
    describe(p, "Copy the plugin (menu commands Measure folder, Measure script, View sample, View sweep, and "
             "the measure scripts) into Praat's preferences folder as plugin_ganphon; restart Praat to see the ganphon "
             "menu in the Praat menu of the Objects window.")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--install", action="store_true", help="install (or update) the plugin")
    group.add_argument("--print-path", action="store_true", help="print where the plugin goes")
    p.add_argument("--prefs", default=None, metavar="DIR", type=output_path,
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
                            progress=not args.quiet, workers=args.workers, scheduler=args.scheduler,
                            buzz=None if args.no_buzz_rule else "auto", command=args.command_line)
    counts = table.groupby(["tier", "label"]).size()
    print(f"annotated {table['sample_id'].nunique()} samples in {args.dir} "
          f"(tiers {', '.join(sorted(table['tier'].unique()))})")
    buzz = table.attrs.get("buzz", {}).get("output")
    if buzz:
        print("buzz rule: voiced runs at the generator's own periods are not voi ("
              + ", ".join(f"{f:.4g}" for f in buzz if 50 <= f <= 1000) + " Hz …; --no-buzz-rule turns it off)")
    for (tier, label), count in counts.items():
        print(f"  {tier} {label}: {count} intervals")
    return 0


def _measure(args) -> int:
    from ..acoustics import file_layers, layer_rates, measure_to_file, summary
    from ..praat import PRESET_TEXT, format_settings_table, parse_overrides, settings_table

    overrides = parse_overrides(args.set)
    settings = {"preset": args.settings, **overrides} if overrides else args.settings
    if args.show_settings:
        source = args.checkpoint or args.dir
        if source is None:
            raise GanphonError("--show-settings needs DIR (an exported folder or store) or --checkpoint")
        rates, duration = layer_rates(source)
        title = f"settings '{args.settings}' ({PRESET_TEXT[args.settings]})" + \
            (f" with --set {', '.join(args.set)}" if args.set else "") + f", per layer of {source}:"
        print(format_settings_table(settings_table(settings, rates, duration), title))
        return 0
    if args.dir is None:
        raise GanphonError("give the folder to measure (DIR)")
    if args.checkpoint:
        raise GanphonError("--checkpoint only goes with --show-settings (a folder's layers come from its manifest)")
    tier = None if args.tier in ("", "none", "None") else args.tier
    table, out, elapsed = measure_to_file(
        args.dir, args.out, engine=args.engine, measures=names(args.measures) or [], tier=tier, points=args.points,
        settings=settings, inputs=args.inputs, workers=args.workers, scheduler=args.scheduler,
        praat_path=args.praat_path,
        command=args.command_line, progress=not args.quiet, overwrite=args.overwrite, join=False)
    # the table's own columns: the summary names the layers from the manifest, without joining it
    print(summary(table, elapsed, out, layers=file_layers(args.dir, args.inputs)))
    return 0


def _praat_plugin(args) -> int:
    from pathlib import Path

    from ..praat import PLUGIN_NAME, install_plugin, praat_prefs_dir

    prefs = args.prefs or praat_prefs_dir()
    if args.print_path:
        print(Path(prefs) / PLUGIN_NAME)
        return 0
    target = install_plugin(args.prefs)  # None: the standard folder, named as such if it cannot be
    print(f"installed the ganphon Praat plugin in {target}; restart Praat to see Praat > ganphon")
    return 0
