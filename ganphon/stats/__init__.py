"""Statistics on the long acoustic table: mixed models, correlations, latent discovery.

Everything here takes tidy pandas tables and returns tidy pandas tables or
the statsmodels results themselves, so the formula and the summary are the
ones a phonetician already reads.  One module per concern:

* :mod:`.tables` — :func:`read_acoustics`, :func:`read_latents`,
  :func:`model_frame` (one row per (sample, layer, interval) with the
  outcome named after the measure, the sweep ``value`` and the ``base``).
* :mod:`.fits` — what every engine's fit returns: :class:`Estimate`,
  :class:`Attempt`, :class:`MixedFit`, the random structures, :func:`lrt`.
* :mod:`.mixed` — :func:`fit_mixed` (``outcome ~ value`` with random effects
  by base, per layer, through one fit chain that finds the maximum),
  :func:`coefficient_table`, :func:`lrt_table`, :func:`fit_gam`,
  :func:`gam_curves`.
* :mod:`.satterthwaite` — lme4's deviance from per-base sufficient
  statistics (vectorised over bases) and lmerTest's Satterthwaite df.
* :mod:`.glmm` — logistic mixed models of 0/1 outcomes by the Laplace
  approximation (glmer's ``nAGQ = 1``), ``fit_mixed(..., family="binomial")``.
* :mod:`.lme4` — the R engine (``Rscript`` + lme4 + lmerTest, glmer), saved model
  frames and ``refit.R``, :func:`parity_table`.
* :mod:`.correlate` — :func:`correlation_table` (the paper's table),
  :func:`effect_by_layer`, :func:`first_layer`.
* :mod:`.discover` — :func:`discover`, :func:`frication_property` (GAP-style
  ranking of latent variables).
* :mod:`.feature_maps` — :func:`activation_profiles`,
  :func:`cluster_feature_maps`, :func:`rank_maps_by_cosine` (paper §IV-E).
* :mod:`.run` — :func:`run_stats`: all of it for an exported folder, into
  ``DIR/stats/``.
"""

from .correlate import (CORRELATION_COLUMNS, EFFECT_COLUMNS, correlation_table, effect_by_layer,
                        first_layer, pearson)
from .discover import discover, frication_property
from .feature_maps import (FEATURE_MAPS_GLOB, activation_profiles, cluster_feature_maps,
                           rank_maps_by_cosine, read_feature_maps)
from .lme4 import ENGINES, fit_tasks_lme4, parity_table
from .mixed import (LRT_COLUMNS, MIN_BASES, MIXED_COLUMNS, STRUCTURES, Attempt, Estimate, MixedFit, MixedTask,
                    between_within_df, coefficient_table, fit_gam, fit_mixed, fit_ml, fit_tasks, gam_curves, lrt,
                    lrt_table, mixed_tasks, model_name)
from .run import STATS_TABLES, StatsResult, run_stats
from .tables import (ACOUSTICS, FRICATION_MEASURES, INTERVAL_KEYS, PAPER_MEASURES, STATS_DIR, SWEEP_MEASURES,
                     default_labels, has_sweep, layer_rank, model_frame, read_acoustics, read_latents,
                     segmented_layers, sort_layers)

__all__ = [
    "ACOUSTICS", "CORRELATION_COLUMNS", "EFFECT_COLUMNS", "FEATURE_MAPS_GLOB", "INTERVAL_KEYS",
    "LRT_COLUMNS", "MIXED_COLUMNS", "PAPER_MEASURES", "STATS_DIR", "STATS_TABLES", "MixedFit", "MixedTask",
    "StatsResult", "activation_profiles", "cluster_feature_maps", "coefficient_table",
    "correlation_table", "discover", "effect_by_layer", "first_layer", "fit_gam", "fit_mixed",
    "fit_tasks", "frication_property", "gam_curves", "has_sweep", "layer_rank", "lrt", "lrt_table",
    "mixed_tasks", "model_frame", "pearson", "rank_maps_by_cosine", "read_acoustics",
    "read_feature_maps", "read_latents", "run_stats", "sort_layers",
    "ENGINES", "FRICATION_MEASURES", "MIN_BASES", "STRUCTURES", "SWEEP_MEASURES", "Attempt", "Estimate",
    "between_within_df", "default_labels", "fit_ml", "fit_tasks_lme4", "model_name", "parity_table",
    "segmented_layers",
]
