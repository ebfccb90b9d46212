"""``ganphon corpus check | cut | synth``: prepare training corpora."""

from __future__ import annotations

import argparse

from ..errors import GanphonError
from ..timebase import DEFAULT_SR
from .cut import cut_recordings
from .folder import load_folder
from .synth import DEFAULT_SLICE_LEN, TEMPLATES, synthesize

FMT = argparse.ArgumentDefaultsHelpFormatter


def add_commands(sub) -> None:
    """Add the ``corpus`` command and its sub-commands to ``sub``."""
    corpus = sub.add_parser(
        "corpus", formatter_class=FMT,
        help="check, cut or synthesise a training corpus",
        description="Prepare training data: check a folder of WAVs, cut words out of long "
        "annotated recordings, or synthesise a controlled corpus with ground-truth TextGrids.",
    )
    commands = corpus.add_subparsers(dest="corpus_command", metavar="SUBCOMMAND")
    corpus.set_defaults(func=lambda args: corpus.print_help() or 1)

    p = commands.add_parser(
        "check", formatter_class=FMT,
        help="report how a folder of WAVs would be loaded for training",
        description="Load every WAV under DIR (recursively) as training items would be loaded "
        "(mono, resampled to --sr, zero-padded at the end or cut to --slice-len samples) and "
        "print a one-line summary and every file that cannot be used, with the reason.",
    )
    p.add_argument("dir", metavar="DIR", help="folder of WAV files")
    p.add_argument("--slice-len", type=int, default=DEFAULT_SLICE_LEN, help="samples per item")
    p.add_argument("--sr", type=int, default=DEFAULT_SR, help="sampling rate of the items (Hz)")
    p.add_argument("--strict", action="store_true", help="stop with an error at the first unreadable file")
    p.set_defaults(func=_check)

    p = commands.add_parser(
        "cut", formatter_class=FMT,
        help="cut labelled intervals out of long recordings with TextGrids",
        description="For every RECORDINGS_DIR/X.wav with X.TextGrid (UTF-8 or UTF-16, long or "
        "short format), write one float32 WAV per matching non-empty interval of --tier "
        "(sample-exact: samples round(start*sr) to round(end*sr)) with a TextGrid whose tiers are "
        "all clipped to the interval and shifted to start at 0, plus OUT/items.csv. Items are "
        "named <recording>_<interval number>_<label>.wav. Recordings without TextGrid or tier "
        "are listed and skipped.",
    )
    p.add_argument("recordings", metavar="RECORDINGS_DIR", help="folder of recordings and TextGrids")
    p.add_argument("--tier", default="words", help="interval tier to cut")
    p.add_argument("--labels", default=None,
                   help="comma-separated labels to keep, e.g. suit,dark (none given: every non-empty label)")
    p.add_argument("--pattern", default=None,
                   help="regular expression searched in each label (an interval matching "
                   "--labels or --pattern is kept), e.g. '^s?[ptk]'")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--strict", action="store_true", help="stop with an error at the first problem")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    p.set_defaults(func=_cut)

    p = commands.add_parser(
        "synth", formatter_class=FMT,
        help="synthesise a controlled corpus with ground-truth TextGrids",
        description="Source-filter synthesis of words like the papers' training data: "
        "'stv' gives #TV and #sTV words (T in p t k, V in ɑ i u; long VOT after #T, short after "
        "#sT); 'redup' gives C1V2C3V4 and reduplicated C1V2-C1V2C3V4 (C1 in p t k b d g v m n, "
        "C3 in l ɹ j). Writes OUT/<id>.wav (float32, --slice-len samples), OUT/<id>.TextGrid "
        "(tiers words, phones), OUT/corpus.csv (ground truth per token: F0 at the vowel "
        "midpoint, formant targets, VOT, segment durations), OUT/phones.csv and OUT/synth.json.",
    )
    p.add_argument("--template", choices=TEMPLATES, default=None,
                   help="word shapes (source-filter engine; required there)")
    p.add_argument("--engine", choices=("source-filter", "espeak"), default="source-filter",
                   help="ganphon's source-filter synthesiser, or Debian's espeak-ng (word-level "
                   "TextGrid from an intensity threshold) when it is on the PATH")
    p.add_argument("--words", default=None, help="with --engine espeak: comma-separated words, e.g. pat,spat,tick,stick")
    p.add_argument("--n", type=int, required=True, help="number of tokens")
    p.add_argument("--seed", type=int, required=True, help="seed of everything random")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--sr", type=int, default=DEFAULT_SR, help="sampling rate (Hz)")
    p.add_argument("--slice-len", type=int, default=DEFAULT_SLICE_LEN, help="samples per token")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_synth)


def _check(args) -> int:
    _, report = load_folder(args.dir, slice_len=args.slice_len, sr=args.sr, strict=args.strict)
    print(report.summary())
    for name, reason in report.skipped:
        print(f"skipped {name}: {reason}")
    return 0


def _cut(args) -> int:
    df = cut_recordings(args.recordings, args.out, tier=args.tier, labels=args.labels,
                        pattern=args.pattern, strict=args.strict, overwrite=args.overwrite)
    skipped = df.attrs.get("skipped", [])
    print(f"{len(df)} items from {df['source'].nunique()} recordings written to {args.out}; "
          f"{len(skipped)} skipped")
    return 0


def _synth(args) -> int:
    if args.engine == "espeak":
        from .espeak import synthesize_espeak

        if not args.words:
            raise GanphonError("--engine espeak needs --words, e.g. --words pat,spat,tick,stick")
        df = synthesize_espeak(args.words, args.n, args.seed, args.out, sr=args.sr, slice_len=args.slice_len,
                               progress=not args.quiet, overwrite=args.overwrite,
                               command=getattr(args, "command_line", None))
        print(f"{len(df)} espeak-ng tokens written to {args.out}")
        return 0
    if args.template is None:
        raise GanphonError("--template is required (stv or redup) with the source-filter engine")
    df = synthesize(args.template, args.n, args.seed, args.out, sr=args.sr,
                    slice_len=args.slice_len, progress=not args.quiet, overwrite=args.overwrite)
    print(f"{len(df)} {args.template} tokens written to {args.out}")
    return 0
