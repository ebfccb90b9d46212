"""``ganphon demo``: the whole chain on the bundled model, with a report."""

from __future__ import annotations

from .options import add_checkpoint, add_out, add_overwrite, add_quiet, add_seed, add_workers, describe, positive_int


def demo(p) -> None:
    describe(p, "Discover the latent variable most tied to frication, sweep it (-15..5 step 2 over 10 "
             "bases) and a code variable (0..2 step 0.25), export, annotate, measure, fit mixed-effects "
             "models, compute the layer correlation table, draw the figures and write DIR/report.md and "
             "DIR/report.html (a figure and the conclusions in raw units first; audio players) and an explorer page "
             "per sweep. Measured on 2 CPU cores beside a low-priority job: about a minute; every stage prints its "
             "progress. "
             "DIR must be new, empty, or a demo folder (resumed; another demo needs --overwrite).")
    add_out(p, required=False, default="ganphon_demo")
    add_checkpoint(p, default="demo")
    add_seed(p, default=1)
    p.add_argument("--n-random", type=positive_int, default=120,
                   help="random samples for discovery and correlations")
    p.add_argument("--bases", type=positive_int, default=10, help="base latents per sweep")
    add_workers(p, "annotating, measuring and fitting models")
    p.add_argument("--quick", action="store_true", help="a much smaller run (for tests)")
    add_overwrite(p)
    add_quiet(p)
    p.set_defaults(func=_demo)


def _demo(args) -> int:
    from ..report.demo import run_demo

    report = run_demo(args.out, checkpoint=args.checkpoint, seed=args.seed, n_random=args.n_random,
                      bases=args.bases, workers=args.workers, scheduler=args.scheduler, quick=args.quick,
                      overwrite=args.overwrite, progress=not args.quiet, command=args.command_line)
    print(f"report: {report}  (and {report.with_suffix('.html')})")
    return 0
