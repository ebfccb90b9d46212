"""``ganphon correlate-input`` and ``ganphon compare-series``: layer series against other time series."""

from __future__ import annotations

from pathlib import Path

from .options import (add_file_output, add_out, add_seed, describe, finite_float, input_folder, input_path, name_list,
                      names, non_negative_int)

MEASURES = ("f0", "intensity", "f1", "f2")  # ganphon.series.MEASURES, without importing the stage


def _add_boot(p) -> None:
    p.add_argument("--n-boot", type=non_negative_int, default=1000, metavar="N",
                   help="bootstrap resamples of items for the 95 %% intervals (0: none)")
    add_seed(p, help="seed of the bootstrap")


def correlate_input(p) -> None:
    describe(p, "Per layer and measure: Pearson r between each layer series (its native-rate Sound, samples at "
             "their own times) and the input's own Praat measures — F0, intensity, F1, F2 of ID_output.wav — "
             "each measure averaged over every layer sample's period (nothing above the layer's native "
             "Nyquist enters), within the non-empty intervals of --tier (default: the 'condition' tier, the "
             "input's own audio), pooled over items and per interval label, with 95 % intervals by a seeded "
             "bootstrap over items. Formants only where the input's own band reaches --maximum-formant. "
             "Writes DIR/correlate_input.csv. Works on any probe folder; made for 'probe --network crepe' "
             "and 'hf:PATH' (in which layer does pitch emerge?).",
             epilog="examples:\n"
                    "  ganphon correlate-input crepe_layers\n"
                    "  ganphon correlate-input w2v_layers --tier phones --labels a,i,u --measures f0,f1,f2")
    p.add_argument("dir", metavar="DIR", type=input_folder,
                   help="a probe folder (manifest.csv, ID_output.wav, ID_<layer>.Sound)")
    p.add_argument("--tier", default=None, help="interval tier whose non-empty intervals are used")
    p.add_argument("--labels", type=name_list, default=None, help="with --tier: comma-separated labels to keep")
    p.add_argument("--layers", type=name_list, default=None, help="comma-separated layers (default: every layer)")
    p.add_argument("--measures", type=name_list, default=",".join(MEASURES), help=f"comma-separated, of {', '.join(MEASURES)}")
    p.add_argument("--pitch-floor", type=finite_float, default=75.0, help="Praat's pitch floor (Hz)")
    p.add_argument("--pitch-ceiling", type=finite_float, default=600.0, help="Praat's pitch ceiling (Hz)")
    p.add_argument("--maximum-formant", type=finite_float, default=5500.0, help="Burg's maximum formant (Hz)")
    add_out(p, required=False, metavar="FILE", help="table to write (default: DIR/correlate_input.csv, replaced "
            "by the next run)")
    add_file_output(p)
    _add_boot(p)
    p.set_defaults(func=_correlate_input)


def _correlate_input(args) -> int:
    from ..series import ALL_LABEL, CORRELATE_CSV, correlate_input as run

    table = run(args.dir, tier=args.tier, labels=names(args.labels), layers=names(args.layers),
                measures=names(args.measures) or MEASURES, pitch_floor=args.pitch_floor,
                pitch_ceiling=args.pitch_ceiling, maximum_formant=args.maximum_formant,
                n_boot=args.n_boot, seed=args.seed, out=args.out, command=args.command_line)
    pooled = table[table["label"] == ALL_LABEL]
    for _, row in pooled.iterrows():
        print(f"{row['layer']:>14} {row['measure']:>9}  r = {row['r']:+.3f}  [{row['ci_low']:+.3f}, "
              f"{row['ci_high']:+.3f}]  rho = {row['rho']:+.3f}  ({row['n_samples']} samples, {row['n_items']} items)")
    table_path = args.out or f"{args.dir}/{CORRELATE_CSV}"
    print(f"wrote {table_path} (its record: {Path(table_path).with_suffix('.json')})")
    return 0


def compare_series(p) -> None:
    describe(p, "Cross-correlate every layer series with an external time series (e.g. a complex auditory "
             "brainstem response to the same stimulus, as in Beguš, Zhou & Zhao 2023): per item and layer, "
             "the external series is brought onto the layer's sample times (averaged over each sample's "
             "period, or interpolated), Pearson r at every lag up to --max-lag, the lag at the peak "
             "(positive: the external follows the layer), r at lag 0, and both series' peak latencies; per "
             "layer, their means over items with bootstrap 95 % intervals. --external is one file for every "
             "item or a folder with one per item (ID.csv or the input's stem, .csv, .wav or .edf); a CSV has a time "
             "column in seconds (time 0 = the item's first sample). Works on any probe folder. Writes "
             "compare_series.csv and compare_series_summary.csv.",
             epilog="examples:\n"
                    "  ganphon compare-series crepe_layers --external cabr/ --max-lag 0.02\n"
                    "  ganphon compare-series probe_run --external response.wav --layers conv3,conv4")
    p.add_argument("dir", metavar="DIR", type=input_folder, help="a probe folder (manifest.csv, ID_<layer>.Sound)")
    p.add_argument("--external", required=True, metavar="FILE_OR_DIR", type=input_path,
                   help="CSV (time column + value column), WAV, or EDF/BDF (read by MNE: pip install "
                   "'ganphon[eeg]'); or a folder of them, one per item")
    p.add_argument("--layers", type=name_list, default=None, help="comma-separated layers (default: every layer)")
    p.add_argument("--max-lag", type=finite_float, default=0.05, metavar="SECONDS",
                   help="largest lag tried either way (s)")
    p.add_argument("--column", default=None, help="the CSV's value column (default: its only numeric one), "
                   "or the EDF's channel (default: its only one)")
    p.add_argument("--time-column", default="time", help="the CSV's time column, in seconds")
    add_out(p, required=False, help="folder for the two tables (default: DIR)")
    _add_boot(p)
    p.set_defaults(func=_compare_series)


def _compare_series(args) -> int:
    from ..series import compare_series as run

    _, summary = run(args.dir, args.external, layers=names(args.layers), max_lag=args.max_lag,
                     column=args.column, time_column=args.time_column, n_boot=args.n_boot, seed=args.seed,
                     out=args.out, command=args.command_line)
    for _, row in summary.iterrows():
        print(f"{row['layer']:>14}  lag {1000 * row['lag_s']:+.1f} ms [{1000 * row['lag_s_ci_low']:+.1f}, "
              f"{1000 * row['lag_s_ci_high']:+.1f}]  r_peak {row['r_peak']:+.3f}  "
              f"peak latency {1000 * row['latency_s']:+.1f} ms  ({row['n_items']} items"
              + (f", r undefined for {row['n_undefined']}: see the note column)" if row["n_undefined"] else ")"))
    print(f"wrote compare_series.csv, compare_series_summary.csv and compare_series.json to {args.out or args.dir}")
    return 0
