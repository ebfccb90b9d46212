"""Import generator / Q-network state dicts saved by the ciwganfiwgan-pytorch port.

That port saves bare state dicts (``epoch{E}_step{S}_G.pt``, ``…_Q.pt``) with
keys ``z_project.*``, ``upconv0 … upconv4(5).conv.*`` and, for Q,
``downconv_0 … downconv_4.conv.*``, ``fc_out.*``.  Its generator has no ReLU
after the projection and reshapes the projection as ``[C, 16]``, and its
convolutions use PyTorch's padding 11 / output padding 1, channel-major
flatten and PyTorch batch-norm defaults; an imported model keeps all of it
(``dense_relu=False``, ``dense_layout="port"``, ``convention="torch"``) so it
computes exactly what the port computed.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..errors import GanphonError, ParameterError
from .checkpoint import load_state, read_weights_file, save_checkpoint
from .config import LEGACY_SETTINGS, ModelConfig
from .wavegan import Generator, QNetwork


def _state(path) -> dict:
    blob = read_weights_file(path)
    if isinstance(blob, dict) and blob.get("format") == "ganphon":
        raise GanphonError(f"{path}: is already a ganphon checkpoint; no import needed")
    if not isinstance(blob, dict) or not all(torch.is_tensor(v) for v in blob.values()):
        raise GanphonError(f"{path}: not a state dict of tensors")
    return blob


def _indices(state: dict, prefix: str) -> list[int]:
    pat = re.compile(rf"^{prefix}(\d+)\.conv\.weight$")
    return sorted(int(m.group(1)) for k in state if (m := pat.match(k)))


def infer_generator_config(state: dict, arch: str, n_codes: int, path="generator") -> ModelConfig:
    """Model config (d, slice length, latent size, batch norm) read off the G weights' shapes."""
    if "z_project.weight" not in state:
        raise GanphonError(f"{path}: no 'z_project.weight': not a ciwganfiwgan-pytorch generator")
    ups = _indices(state, "upconv")
    if ups not in (list(range(5)), list(range(6))):
        raise GanphonError(f"{path}: expected upconv0…upconv4 (or …upconv5), found {ups}")
    slice_len = 16384 if len(ups) == 5 else 65536
    last = state[f"upconv{ups[-1]}.conv.weight"]
    for key, ndim in ((f"upconv{ups[-1]}.conv.weight", 3), ("z_project.weight", 2)):
        if state[key].dim() != ndim:
            raise GanphonError(f"{path}: '{key}' has shape {list(state[key].shape)}; a ciwganfiwgan-pytorch "
                               f"generator's is {ndim}-D")
    dim, nch = int(last.shape[0]), int(last.shape[1])
    latent_dim = int(state["z_project.weight"].shape[1])
    batchnorm = any(k.startswith("z_batchnorm.") for k in state)
    cfg = ModelConfig(arch=arch, dim=dim, slice_len=slice_len, latent_dim=latent_dim,
                      n_codes=n_codes, batchnorm=batchnorm, dense_relu=False,
                      dense_layout="port", nch=nch, **LEGACY_SETTINGS)
    expected = 16 * dim * cfg.dim_mul
    if state["z_project.weight"].shape[0] != expected:
        raise GanphonError(
            f"{path}: z_project has {state['z_project.weight'].shape[0]} outputs, "
            f"expected {expected} for d={dim}"
        )
    return cfg


def generator_state_from_peer(state: dict, config: ModelConfig) -> dict:
    """Rename the port's generator keys to ganphon's."""
    G = Generator(config)
    names = list(G.blocks.keys())  # conv1 … output, in order
    out = {}
    for k, v in state.items():
        if k.startswith("z_project."):
            out["dense." + k.split(".", 1)[1]] = v
        elif k.startswith("z_batchnorm."):
            out["dense_norm." + k.split(".", 1)[1]] = v
        elif m := re.match(r"^upconv(\d+)\.(conv|batch_norm)\.(.+)$", k):
            i, part, rest = int(m.group(1)), m.group(2), m.group(3)
            out[f"blocks.{names[i]}.{'conv' if part == 'conv' else 'norm'}.{rest}"] = v
        else:
            out[k] = v  # left for load_state to report as unexpected
    return out


def qnetwork_state_from_peer(state: dict, config: ModelConfig, path="qnetwork") -> dict:
    downs = _indices(state, "downconv_")
    if downs != list(range(5)) or "fc_out.weight" not in state:
        raise GanphonError(f"{path}: expected downconv_0…downconv_4 and fc_out: not a ciwganfiwgan-pytorch Q-network")
    if config.slice_len != 16384:
        raise GanphonError(f"{path}: Q-networks are imported for slice 16384 only (the port's 65536 Q differs from the TF layout)")
    qdim = int(state["downconv_0.conv.weight"].shape[0])
    if qdim != config.dim:
        raise GanphonError(f"{path}: Q-network has d={qdim} but the generator has d={config.dim}")
    if int(state["fc_out.weight"].shape[0]) != config.n_codes:
        raise ParameterError(
            "n_codes", f"{path}: the Q-network has {state['fc_out.weight'].shape[0]} outputs, not {config.n_codes}"
        )
    out = {}
    for k, v in state.items():
        if m := re.match(r"^downconv_(\d+)\.(conv|batchnorm)\.(.+)$", k):
            i, part, rest = int(m.group(1)), m.group(2), m.group(3)
            out[f"blocks.conv{i + 1}.{'conv' if part == 'conv' else 'norm'}.{rest}"] = v
        elif k.startswith("fc_out."):
            out["fc." + k.split(".", 1)[1]] = v
        else:
            out[k] = v
    return out


def import_peer(g_path, out, arch: str, n_codes: int = 0, q_path=None, q_slope: float = 0.2) -> Path:
    """Convert port checkpoints to one ganphon checkpoint.

    Parameters
    ----------
    g_path : path-like
        ``epoch…_G.pt`` from the port.
    out : path-like
        The ganphon checkpoint to write.
    arch : {"wavegan", "ciwgan", "fiwgan"}
    n_codes : int
        Number of codes (categories or bits); 0 for WaveGAN.
    q_path : path-like, optional
        ``epoch…_Q.pt``.
    q_slope : float
        LeakyReLU slope of the Q-network (0 for port checkpoints trained before
        its argument-order fix, which made Q's activation a plain ReLU).
    """
    if not 0 <= q_slope <= 1:  # the port's slopes are 0.2 and 0; above 1 or below 0 is no LeakyReLU
        raise ParameterError("q_slope", f"a LeakyReLU slope between 0 and 1, got {q_slope}")
    g_state = _state(g_path)
    config = infer_generator_config(g_state, arch, n_codes, path=g_path)
    config.q_leaky_slope = float(q_slope)
    G = Generator(config)
    load_state(G, generator_state_from_peer(g_state, config), g_path, "generator")
    Q = None
    if q_path is not None:
        if arch == "wavegan":
            raise GanphonError(f"{q_path}: a WaveGAN has no Q-network")
        Q = QNetwork(config)
        load_state(Q, qnetwork_state_from_peer(_state(q_path), config, path=q_path), q_path, "qnetwork")
    meta = {"imported_from": str(Path(g_path).name), "imported_q": str(Path(q_path).name) if q_path else None,
            "source": "ciwganfiwgan-pytorch"}
    return save_checkpoint(out, config, generator=G, qnetwork=Q, meta=meta)
