"""ganphon: look inside generative networks trained on raw speech with Praat,
TextGrids and mixed-effects regression (Beguš & Zhou 2022).

Data flows one way, one module per stage::

    models → probe → export → praat / acoustics / annotate → sweep → stats → plots → report

The names below are the small public API; the command line (``ganphon …``) is
a thin layer over it.  Every name loads its stage on first use, so
``import ganphon`` loads no torch, scipy, statsmodels or matplotlib.
"""

import importlib

from ._version import __version__
from .errors import GanphonError

# public name → (module, attribute)
_LAZY = {
    "Latent": ("models", "Latent"),
    "ModelConfig": ("models", "ModelConfig"),
    "load_checkpoint": ("models", "load_checkpoint"),
    "new_model": ("models", "new_model"),
    "save_checkpoint": ("models", "save_checkpoint"),
    "ProbeResult": ("probe", "ProbeResult"),
    "probe": ("probe", "probe"),
    "probe_batches": ("probe", "probe_batches"),
    "Intervention": ("probe", "Intervention"),
    "run_export": ("export", "run_export"),
    "measure": ("acoustics", "measure"),
    "annotate_folder": ("annotate", "annotate_folder"),
    "MeasureSettings": ("praat", "MeasureSettings"),
    "run_script": ("praat", "run_script"),
    "run_sweep": ("sweep", "run_sweep"),
    "run_atlas": ("atlas", "run_atlas"),
    "run_intervention": ("atlas", "run_intervention"),
    "run_stats": ("stats", "run_stats"),
    "fit_mixed": ("stats", "fit_mixed"),
    "correlation_table": ("stats", "correlation_table"),
    "discover": ("stats", "discover"),
    "plot_folder": ("plots", "plot_folder"),
    "load_folder": ("corpus", "load_folder"),
    "synthesize": ("corpus", "synthesize"),
}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'ganphon' has no attribute {name!r}")


__all__ = ["GanphonError", "__version__", *_LAZY]
