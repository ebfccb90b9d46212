"""``ganphon plot``: every figure a folder supports."""

from __future__ import annotations

from ..errors import GanphonError
from .options import add_out, describe, input_folder, name_list, names


def plot(p) -> None:
    describe(p, "Draw into DIR/figures/ (PNG and PDF) every figure the folder supports: the layer stack of "
             "one sample (waveform, spectrogram and each layer's average with the annotation), the sweep "
             "grid (values × layers) of a sweep, the effects and correlations written by 'ganphon stats', "
             "and the activation profiles of saved feature maps coloured by cluster. DIR is only read when "
             "--out names another folder (a read-only or shared sweep).")
    p.add_argument("dir", metavar="DIR", type=input_folder, help="exported folder")
    p.add_argument("--sample", default=None,
                   help="sample ID of the layer stack (default: the first sample whose files are kept)")
    p.add_argument("--base", default=None,
                   help="base latent of the sweep grid (default: the first base whose samples all keep their files)")
    p.add_argument("--formats", type=name_list, default="png,pdf", help="comma-separated file formats (png, pdf, svg)")
    p.add_argument("--stats", type=input_folder, default=None, metavar="STATS",
                   help="the tables of 'ganphon stats DIR --out STATS' (default: DIR/stats)")
    add_out(p, required=False, metavar="FIGURES",
            help="folder for the figures: new, empty, or one an earlier plot --out wrote (default: DIR/figures)")
    p.set_defaults(func=_plot)


def _plot(args) -> int:
    from ..layout import FIGURES_DIR
    from ..plots import plot_folder

    formats = names(args.formats)
    if not formats:
        raise GanphonError("--formats names no format")
    paths, notes = plot_folder(args.dir, sample_id=args.sample, base=args.base, formats=formats, stats=args.stats,
                               out=args.out)
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {len(paths)} files to {args.out or f'{args.dir}/{FIGURES_DIR}'}/")
    return 0
