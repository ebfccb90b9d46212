"""Training corpora: folders of WAVs, words cut from long recordings, and a
synthetic source-filter corpus with ground-truth TextGrids."""

from .cut import clip_textgrid, cut_recordings, read_textgrid
from .folder import LoadReport, load_folder, read_wav
from .synth import PHONE_CLASS, TEMPLATES, phone_class, synthesize, synthesize_token

__all__ = [
    "LoadReport",
    "PHONE_CLASS",
    "TEMPLATES",
    "clip_textgrid",
    "cut_recordings",
    "load_folder",
    "phone_class",
    "read_textgrid",
    "read_wav",
    "synthesize",
    "synthesize_token",
]
