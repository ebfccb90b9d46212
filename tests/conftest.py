import os
import shutil

import pytest


def require_praat() -> str:
    """Path of the praat executable; skip locally, fail under CI=true when it is missing."""
    exe = shutil.which("praat")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("praat is not on PATH, but CI=true requires the real-Praat tests to run")
        pytest.skip("praat executable not found (install Debian's praat)")
    return exe


@pytest.fixture
def praat_exe():
    return require_praat()


@pytest.fixture(scope="session")
def tiny_ciwgan(tmp_path_factory):
    """A freshly initialised d=8 ciwGAN (2 codes) checkpoint on disk."""
    from ganphon.models import ModelConfig, new_model, save_checkpoint

    cfg = ModelConfig(arch="ciwgan", n_codes=2, dim=8)
    G, D, Q = new_model(cfg, seed=3)
    path = tmp_path_factory.mktemp("models") / "tiny_ciwgan.pt"
    save_checkpoint(path, cfg, G, D, Q, meta={"seed": 3})
    return path
