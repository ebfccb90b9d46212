"""``ganphon corpus check | cut | synth``: prepare training corpora."""

from __future__ import annotations

from ..errors import GanphonError
from .options import (ArgumentParser, Formatter, add_out, add_overwrite, add_quiet, add_seed, add_yes, describe,
                      input_folder, name_list, positive_int, sample_rate, whole_number)


def corpus(p) -> None:
    from ..corpus.synth import TEMPLATES

    describe(p, "Prepare training data: check a folder of WAVs, cut words out of long annotated "
             "recordings, or synthesise a controlled corpus with ground-truth TextGrids.")
    commands = p.add_subparsers(dest="corpus_command", metavar="SUBCOMMAND", parser_class=ArgumentParser)
    p.set_defaults(func=lambda args: p.print_help() or 1)

    c = commands.add_parser(
        "check", formatter_class=Formatter, help="report how a folder of WAVs would be loaded for training",
        description="Load every WAV under DIR (recursively) as training items would be loaded (mono, "
        "resampled to --sr, zero-padded at the end or cut to --slice-len samples) and print a one-line "
        "summary and every file that cannot be used, with the reason.")
    c.add_argument("dir", metavar="DIR", type=input_folder, help="folder of WAV files")
    add_item_shape(c)
    c.add_argument("--strict", action="store_true", help="stop with an error at the first unreadable file")
    c.set_defaults(func=_check)

    c = commands.add_parser(
        "cut", formatter_class=Formatter, help="cut labelled intervals out of long recordings with TextGrids",
        description="For every RECORDINGS_DIR/X.wav with X.TextGrid (UTF-8 or UTF-16, long or short "
        "format), write one float32 WAV per matching non-empty interval of --tier (sample-exact: samples "
        "round(start*sr) to round(end*sr)) with a TextGrid whose tiers are all clipped to the interval "
        "and shifted to start at 0, plus OUT/items.csv. Items are named <recording>_<interval "
        "number>_<label>.wav. Recordings without TextGrid or tier are listed and skipped.")
    c.add_argument("recordings", metavar="RECORDINGS_DIR", type=input_folder, help="folder of recordings and TextGrids")
    c.add_argument("--tier", default="words", help="interval tier to cut")
    c.add_argument("--labels", type=name_list, default=None,
                   help="comma-separated labels to keep, e.g. suit,dark (default: every non-empty label)")
    c.add_argument("--pattern", default=None,
                   help="regular expression searched in each label (an interval matching --labels or "
                   "--pattern is kept), e.g. '^s?[ptk]'")
    add_out(c)
    c.add_argument("--strict", action="store_true", help="stop with an error at the first problem")
    add_overwrite(c)
    c.set_defaults(func=_cut)

    c = commands.add_parser(
        "synth", formatter_class=Formatter, help="synthesise a controlled corpus with ground-truth TextGrids",
        description="Source-filter synthesis of words like the papers' training data: 'stv' gives #TV "
        "and #sTV words (T in p t k, V in ɑ i u; long VOT after #T, short after #sT); 'redup' gives "
        "C1V2C3V4 and reduplicated C1V2-C1V2C3V4 (C1 in p t k b d g v m n, C3 in l ɹ j). Writes "
        "OUT/<id>.wav (float32, --slice-len samples), OUT/<id>.TextGrid (tiers words, phones), "
        "OUT/corpus.csv (ground truth per token: F0 at the vowel midpoint, formant targets, VOT, "
        "segment durations), OUT/phones.csv and OUT/synth.json.")
    c.add_argument("--template", choices=TEMPLATES, default=None,
                   help="word shapes (required with the source-filter engine)")
    c.add_argument("--engine", choices=("source-filter", "espeak"), default="source-filter",
                   help="ganphon's source-filter synthesiser, or Debian's espeak-ng (word-level TextGrid "
                   "from an intensity threshold) when it is on the PATH")
    c.add_argument("--words", type=name_list, default=None,
                   help="with --engine espeak: comma-separated words, e.g. pat,spat,tick,stick; with "
                   "--template stv: only these stv words, balanced, e.g. ta,sta,pi")
    c.add_argument("--n", type=positive_int, required=True, help="number of tokens")
    add_seed(c)
    add_out(c)
    add_item_shape(c)
    add_overwrite(c)
    add_yes(c, "tokens")
    add_quiet(c)
    c.set_defaults(func=_synth)


def add_item_shape(c) -> None:
    """``--slice-len`` and ``--sr`` of the corpus items."""
    from ..corpus.synth import DEFAULT_SLICE_LEN
    from ..timebase import DEFAULT_SR

    c.add_argument("--slice-len", type=whole_number(1, 2**26), default=DEFAULT_SLICE_LEN, help="samples per item")
    c.add_argument("--sr", type=sample_rate, default=DEFAULT_SR, help="sampling rate of the items (Hz)")


def _check(args) -> int:
    from ..corpus.folder import load_folder

    _, report = load_folder(args.dir, slice_len=args.slice_len, sr=args.sr, strict=args.strict)
    print(report.summary())
    for name, reason in report.skipped:
        print(f"skipped {name}: {reason}")
    return 0


def _cut(args) -> int:
    from ..corpus.cut import cut_recordings

    df = cut_recordings(args.recordings, args.out, tier=args.tier, labels=args.labels,
                        pattern=args.pattern, strict=args.strict, overwrite=args.overwrite)
    skipped = df.attrs.get("skipped", [])
    print(f"{len(df)} items from {df['source'].nunique()} recordings written to {args.out}; "
          f"{len(skipped)} skipped")
    return 0


def _synth(args) -> int:
    from ..io import check_room

    # a WAV (16-bit) and a TextGrid per token, and its table rows
    check_room(args.n, 2 * args.slice_len + 3000, args.out, yes=args.yes, what="tokens")
    if args.engine == "espeak":
        from ..corpus.espeak import synthesize_espeak

        if not args.words:
            raise GanphonError("--engine espeak needs --words, e.g. --words pat,spat,tick,stick")
        df = synthesize_espeak(args.words, args.n, args.seed, args.out, sr=args.sr, slice_len=args.slice_len,
                               progress=not args.quiet, overwrite=args.overwrite, command=args.command_line)
        print(f"{len(df)} espeak-ng tokens written to {args.out}")
        return 0
    from ..corpus.synth import synthesize

    if args.template is None:
        raise GanphonError("--template is required (stv or redup) with the source-filter engine")
    df = synthesize(args.template, args.n, args.seed, args.out, sr=args.sr,
                    slice_len=args.slice_len, progress=not args.quiet, overwrite=args.overwrite,
                    words=args.words)
    print(f"{len(df)} {args.template} tokens written to {args.out}")
    return 0
