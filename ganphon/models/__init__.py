"""WaveGAN / ciwGAN / fiwGAN networks, latents and checkpoints."""

from .checkpoint import LoadedModel, file_sha256, load_checkpoint, new_model, save_checkpoint
from .config import ARCHS, ModelConfig
from .latent import Latent
from .peer import import_peer
from .wavegan import Critic, Generator, QNetwork, build_models

__all__ = [
    "ARCHS", "Critic", "Generator", "Latent", "LoadedModel", "ModelConfig", "QNetwork",
    "build_models", "file_sha256", "import_peer", "load_checkpoint", "new_model", "save_checkpoint",
]
