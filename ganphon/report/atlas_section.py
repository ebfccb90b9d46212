"""The demo's atlas section: a short latent atlas and one channel intervention, with a sentence each.

:func:`demo_atlas_section` runs, inside a demo folder,

1. a short atlas of the model (every latent variable at −15 and 15 over a few
   paired bases; the output only; frication and vowel durations, the
   frication's centre of gravity and peak intensity), ranked as
   :func:`ganphon.atlas.run_atlas` ranks any atlas (Benjamini–Hochberg here:
   the false discovery rate suits a ranking of 400 effects), with its heatmap;
2. the conv3 channels most tied to frication: on a small probe run, the
   channels whose mean activation correlates most with the output's total
   frication duration (:func:`ganphon.atlas.correlated_channels`);
3. an intervention multiplying those channels by 5 on a few paired bases
   (GAN Dissection: units set high insert what they encode; set to 0 they
   change little in this model), and its paired effects on the output.

It returns the markdown of the section and the figures it drew; the demo
report places them: 600 + 12 + 24 samples, about 20 s on 2 idle cores with the defaults.
"""

from __future__ import annotations

from pathlib import Path

from .. import layout
from .size import drop_sample_files
from .writer import md_table, rel

ATLAS_DIR = layout.DEMO_ATLAS_DIR
ATLAS_PROBE_DIR = layout.DEMO_ATLAS_PROBE_DIR
INTERVENTION_DIR = layout.DEMO_INTERVENTION_DIR
#: The short atlas: values, bases, measures (output only).
SECTION_VALUES = (-15.0, 15.0)
SECTION_BASES = 3
SECTION_MEASURES = ("spectrum", "duration")
#: Paired bases of the intervention (2 samples each: cheap, and a t test with 5 df).
INTERVENTION_BASES = 6


def demo_atlas_section(demo_folder, checkpoint="demo", seed: int = 1, *, bases: int = SECTION_BASES,
                       probe_n: int = 24, n_channels: int = 4, factor: float = 5.0,
                       intervention_bases: int = INTERVENTION_BASES,
                       workers=None, overwrite: bool = False,
                       progress: bool = False, scheduler=None) -> tuple[str, list]:
    """A short atlas and one intervention into ``demo_folder``; (markdown, figure paths).

    Parameters
    ----------
    demo_folder : path-like
        The demo's folder; the runs go into ``atlas/``, ``atlas_probe/`` and ``intervention/`` in it.
    checkpoint : path-like or LoadedModel
    seed : int
        Of the base latents and the probe run.
    bases : int
        Paired bases of the atlas and of the intervention.
    probe_n : int
        Random samples on which the frication channels are chosen.
    n_channels : int
        conv3 channels changed.
    factor : float
        What they are multiplied by.
    intervention_bases : int
        Paired bases of the intervention.
    workers : int, optional
        Processes (None: one per CPU).
    scheduler : DaskScheduler, optional
        Run the parallel work on Dask.
    overwrite : bool
        Replace earlier, different runs in the three sub-folders.
    progress : bool

    Returns
    -------
    markdown : str
    figures : list of Path
    """
    from ..acoustics import measure_to_file
    from ..annotate import annotate_folder
    from ..atlas import correlated_channels, run_atlas, run_intervention, top_variable
    from ..export import run_export
    from ..models import Latent, load_checkpoint
    from ..probe import Intervention

    demo_folder = Path(demo_folder)
    model = checkpoint if hasattr(checkpoint, "generator") else load_checkpoint(checkpoint, qnetwork=False)
    atlas = run_atlas(model, demo_folder / ATLAS_DIR, values=SECTION_VALUES, bases=bases, seed=seed, layers=[],
                      measures=SECTION_MEASURES, adjust="bh", workers=workers, progress=progress, explore_vars=0,
                      overwrite=overwrite, announce=progress, scheduler=scheduler)
    eff = atlas.effects
    fric = top_variable(eff, "duration/fric")
    summarised = (layout.ACOUSTICS, layout.ACOUSTICS_PARQUET, layout.ACOUSTICS_JSON)
    drop_sample_files(demo_folder / ATLAS_DIR, textgrids=False, tables=summarised)  # atlas.csv holds the effects

    probe_dir = demo_folder / ATLAS_PROBE_DIR
    z = Latent(model.config).sample(probe_n, seed=seed + 1)
    run_export(model, z, probe_dir, layers=["conv3"], feature_maps=["conv3"], seed=seed + 1, progress=progress,
               request={"kind": "probe", "n": probe_n, "seed": seed + 1}, overwrite=overwrite)
    annotate_folder(probe_dir, progress=progress, workers=workers, scheduler=scheduler)
    measure_to_file(probe_dir, probe_dir / layout.ACOUSTICS, tier="auto", measures=("duration",), workers=workers,
                    progress=progress, overwrite=True, scheduler=scheduler)
    channels = correlated_channels(probe_dir, "conv3", "duration/fric", n_channels)
    drop_sample_files(probe_dir, textgrids=False)  # the channels are chosen; its table stays
    iv = Intervention("conv3", channels, "scale", factor)
    inter = run_intervention(model, demo_folder / INTERVENTION_DIR, [iv], bases=intervention_bases, seed=seed,
                             layers=[], measures=SECTION_MEASURES, adjust="bh", workers=workers, progress=progress,
                             overwrite=overwrite, scheduler=scheduler)
    drop_sample_files(demo_folder / INTERVENTION_DIR, textgrids=False)  # intervention.csv holds the effects

    passing = eff[eff["passes"]]
    top = (passing.drop_duplicates("var").head(5) if len(passing) else eff.head(5))
    cols = ["var", "outcome", "effect", "unit", "ci_low", "ci_high", "effect_std", "p_bh"]
    lines = [
        "## Latent atlas and a channel intervention",
        "",
        f"Every latent variable ({len(eff['var'].unique())}) set to {' and '.join(f'{v:g}' for v in SECTION_VALUES)} "
        f"on the same {bases} random bases ({len(eff['var'].unique()) * len(SECTION_VALUES) * bases} samples, "
        "output measured): per variable and outcome the mean per-base change per unit, a t test across "
        "bases, Benjamini–Hochberg-adjusted over the table (`ganphon atlas --adjust bh`).",
        "",
        md_table(top[cols].round(4)) if len(top) else "(no effects)",
        "",
        atlas.sentence,
    ]
    if fric is not None:
        lines += ["", f"Frication duration is moved most by **{fric['var']}** "
                      f"({fric['effect']:+.3g} s per unit, BH-adjusted p = {fric['p_bh']:.2g})."]
    for path in atlas.figures:
        if path.suffix == ".png":
            lines += ["", f"![atlas heatmap]({rel(path, demo_folder)})"]
    out_rows = inter.effects[inter.effects["layer"] == layout.OUTPUT_LAYER]
    lines += [
        "",
        f"The {len(channels)} conv3 channels whose mean activation correlates most with frication duration over "
        f"{probe_n} random samples ({', '.join(map(str, channels))}) multiplied by {factor:g} while generating "
        f"{intervention_bases} bases, against the same bases untouched (`ganphon intervene`):",
        "",
        md_table(out_rows[["outcome", "effect", "unit", "ci_low", "ci_high", "p_bh"]].round(4)),
        "",
        inter.sentence,
    ]
    return "\n".join(lines) + "\n", [p for p in atlas.figures]
