"""WaveGAN / ciwGAN / fiwGAN networks, latents and checkpoints.

Names load on first use, so ``ganphon.models.config`` (the registries the
command line reads) is importable without torch.
"""

import importlib

_WHERE = {
    "LoadedModel": "checkpoint", "file_sha256": "checkpoint", "load_checkpoint": "checkpoint",
    "new_model": "checkpoint", "save_checkpoint": "checkpoint",
    "ARCHS": "config", "ModelConfig": "config",
    "Latent": "latent",
    "import_peer": "peer",
    "import_tf": "tf_import", "read_tf_checkpoint": "tf_import", "TFCheckpoint": "tf_checkpoint",
    "Critic": "wavegan", "Generator": "wavegan", "QNetwork": "wavegan", "build_models": "wavegan",
}


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_WHERE)
