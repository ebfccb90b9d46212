"""Training corpora: folders of WAVs, words cut from long recordings, and a
synthetic source-filter corpus with ground-truth TextGrids.

Names load on first use.
"""

import importlib

_WHERE = {
    "clip_textgrid": "cut", "cut_recordings": "cut", "read_textgrid": "cut",
    "LoadReport": "folder", "load_folder": "folder", "read_wav": "folder",
    "PHONE_CLASS": "synth", "TEMPLATES": "synth", "phone_class": "synth", "synthesize": "synth",
    "synthesize_token": "synth",
}


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_WHERE)
