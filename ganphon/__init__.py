"""ganphon: look inside generative networks trained on raw speech with Praat,
TextGrids and mixed-effects regression (Beguš & Zhou 2022).

Data flows one way, one module per stage::

    models → probe → export → praat / acoustics / annotate → sweep → stats → plots

The names below are the small public API; the command line (``ganphon …``) is
a thin layer over it.
"""

__version__ = "0.1.0"

from .errors import GanphonError  # noqa: E402
from .models import Latent, ModelConfig, load_checkpoint, new_model, save_checkpoint  # noqa: E402
from .probe import ProbeResult, probe, probe_batches  # noqa: E402
from .export import run_export  # noqa: E402


def __getattr__(name):
    # Later stages load on first use, so `import ganphon` stays light.
    lazy = {
        "measure": ("acoustics", "measure"),
        "annotate_folder": ("annotate", "annotate_folder"),
        "MeasureSettings": ("praat", "MeasureSettings"),
        "run_script": ("praat", "run_script"),
        "run_sweep": ("sweep", "run_sweep"),
        "run_stats": ("stats", "run_stats"),
        "fit_mixed": ("stats", "fit_mixed"),
        "correlation_table": ("stats", "correlation_table"),
        "discover": ("stats", "discover"),
        "plot_folder": ("plots", "plot_folder"),
        "load_folder": ("corpus", "load_folder"),
        "synthesize": ("corpus", "synthesize"),
    }
    if name in lazy:
        import importlib

        module, attr = lazy[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'ganphon' has no attribute {name!r}")


__all__ = [
    "GanphonError", "Latent", "ModelConfig", "ProbeResult", "__version__", "correlation_table",
    "discover", "fit_mixed", "load_checkpoint", "measure", "new_model", "plot_folder", "probe",
    "probe_batches", "run_export", "run_script", "run_stats", "run_sweep", "save_checkpoint",
    "synthesize", "annotate_folder", "MeasureSettings", "load_folder",
]
