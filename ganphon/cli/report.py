"""``ganphon explore``: the sweep explorer pages."""

from __future__ import annotations

from .options import add_out, add_quiet, describe, input_folder


def explore(p) -> None:
    describe(p, "Write DIR/explore.html, one self-contained page that works offline in any browser (no server, "
             "nothing loaded from the network): a slider over the swept value (arrow keys step), a menu of base "
             "latents, and for the chosen sample its layer stack (waveform, spectrogram, every layer's average "
             "with the annotation tier, drawn by the page from display data it holds), its per-interval rows of "
             "acoustics.csv and audio players (16-bit, peak-normalised listening copies in DIR/listen/, each "
             "written once; the float32 WAVs stay the measured files). DIR is a folder written by 'ganphon "
             "sweep' (or 'probe'), or a demo folder: then every sweep in it gets its page (a folder keeping "
             "its tables and not all its samples' files, as the demo's atlas and random probe do, is named in a "
             "note). With --out the "
             "pages and their listening copies go there, the outputs' as 16-bit FLAC copies too, so that folder "
             "holds everything its page plays; DIR is only read (a read-only or shared sweep).",
             "example:\n  ganphon sweep --checkpoint demo --var z11 --from -15 --to 5 --step 2 --bases 10 --out z11\n"
             "  ganphon explore z11        # open z11/explore.html")
    p.add_argument("dir", metavar="DIR", type=input_folder, help="sweep folder, or a demo folder holding sweeps")
    add_out(p, required=False, metavar="PAGES",
            help="folder for the pages and listening copies instead of DIR: new, empty, or one an earlier explore "
            "--out of DIR wrote; it holds everything the page plays (the outputs as 16-bit FLAC copies) and can be "
            "moved alone")
    add_quiet(p)
    p.set_defaults(func=_explore)


def _explore(args) -> int:
    from ..report.explore import explore as explore_folder

    for page in explore_folder(args.dir, progress=not args.quiet, out=args.out):
        print(f"wrote {page}")
    return 0
