"""The probe: per-layer channel averages of a network, the paper's technique.

For a batch of latents, :func:`probe` runs the generator once and returns the
output waveform and, for every requested layer, the mean over channels of the
activations after ReLU (Beguš & Zhou 2022) — or the sum, max or RMS, or the
pre-activation values — both at the layer's native length and upsampled to the
output length by the time-base rule (linear between sample centres, edges
held).  It works the same way on a critic or Q-network given waveforms (the
ICASSP 2022 analysis: averages after LeakyReLU).

Hooks are installed and removed inside one call, nothing is recorded for
autograd, and :func:`probe_batches` streams large N in chunks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .errors import GanphonError
from .timebase import DEFAULT_SR, native_rate, upsample

REDUCERS = {
    "mean": lambda a: a.mean(dim=1),
    "sum": lambda a: a.sum(dim=1),
    "max": lambda a: a.amax(dim=1),
    "rms": lambda a: a.pow(2).mean(dim=1).sqrt(),
}
ACTIVATIONS = ("post", "pre")


@dataclass
class ProbeResult:
    """Arrays from one probe call (numpy, float32, on the CPU).

    Attributes
    ----------
    output : ndarray
        Generator: waveforms [N, slice_len]. Critic / Q-network: logits [N, n_out].
    native : dict
        Layer name → reduced series [N, n_layer] at the layer's native length.
    upsampled : dict
        Layer name → reduced series [N, slice_len] (empty if not asked for).
    feature_maps : dict
        Layer name → every channel [N, channels, n_layer], for the layers asked for.
    """

    output: np.ndarray
    native: dict = field(default_factory=dict)
    upsampled: dict = field(default_factory=dict)
    feature_maps: dict = field(default_factory=dict)
    layers: list = field(default_factory=list)
    slice_len: int = 16384
    sr: int = DEFAULT_SR
    reduce: str = "mean"
    activation: str = "post"

    def rate(self, layer: str) -> float:
        """Native sampling rate (Hz) of ``layer``."""
        n = self.slice_len if layer == "output" else self.native[layer].shape[-1]
        return native_rate(n, self.slice_len, self.sr)

    def __len__(self) -> int:
        return int(self.output.shape[0])


def best_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def resolve_device(device=None) -> torch.device:
    """``device`` as a torch.device (None: :func:`best_device`); CUDA asked for but absent is an error."""
    if device is None:
        return best_device()
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise GanphonError(f"device {device!r} is not a torch device ({exc})") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise GanphonError(f"device {device!r}: CUDA is not available here (torch {torch.__version__}); "
                           "use --device cpu")
    return resolved


def _is_generator(model) -> bool:
    return "dense" in getattr(model, "layer_names", [])


def default_layers(model) -> list[str]:
    """Every intermediate layer of a generator (``dense, conv1 … convK``), or every
    conv layer of a critic / Q-network.  ``output`` and ``postproc`` (the
    waveform before and after WaveGAN's post-processing filter) are probed when named."""
    names = list(model.layer_names)
    return [n for n in names if n not in ("output", "postproc")]


def check_layers(model, layers) -> list[str]:
    available = list(model.layer_names)
    if layers is None:
        return default_layers(model)
    if isinstance(layers, str):
        layers = [s.strip() for s in layers.split(",") if s.strip()]
    for name in layers:
        if name not in available:
            raise GanphonError(f"layer {name!r} does not exist; this model has {', '.join(available)}")
    return list(layers)


@contextlib.contextmanager
def _hooks(model, layers, reduce, activation, feature_maps):
    """Forward hooks on the layers' activation modules, removed on exit."""
    mods = model.activation_modules()
    captured: dict = {"native": {}, "maps": {}}
    handles = []
    fn = REDUCERS[reduce]

    def make(name):
        def hook(module, inputs, output):
            a = output if activation == "post" else inputs[0]
            if name in layers:
                captured["native"][name] = fn(a)
            if name in feature_maps:
                captured["maps"][name] = a
        return hook

    try:
        for name in set(layers) | set(feature_maps):
            handles.append(mods[name].register_forward_hook(make(name)))
        yield captured
    finally:
        for h in handles:
            h.remove()


def _as_inputs(model, inputs) -> torch.Tensor:
    x = torch.as_tensor(inputs) if not torch.is_tensor(inputs) else inputs
    x = x.float()
    if _is_generator(model):
        latent_dim = model.config.latent_dim
        if x.dim() == 1:
            x = x.unsqueeze(0)
        if x.dim() != 2 or x.shape[1] != latent_dim:
            raise GanphonError(f"expected latents of shape [N, {latent_dim}], got {list(x.shape)}")
    else:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[-1] != model.config.slice_len:
            raise GanphonError(
                f"expected waveforms of shape [N, {model.config.slice_len}], got {list(x.shape)}"
            )
    if not torch.isfinite(x).all():
        raise GanphonError("inputs contain NaN or inf")
    return x


def probe_batches(model, inputs, layers=None, reduce: str = "mean", activation: str = "post",
                  feature_maps: Sequence[str] = (), upsampled: bool = True, batch_size: int = 64,
                  device=None) -> Iterator[tuple[int, ProbeResult]]:
    """Probe ``inputs`` chunk by chunk, yielding ``(start_index, ProbeResult)``.

    Memory stays flat in N: only one chunk's arrays exist at a time.  Arguments
    as for :func:`probe`.
    """
    if reduce not in REDUCERS:
        raise GanphonError(f"unknown reduction {reduce!r}; choose one of {', '.join(REDUCERS)}")
    if activation not in ACTIVATIONS:
        raise GanphonError(f"activation must be 'post' or 'pre', got {activation!r}")
    layers = check_layers(model, layers)
    feature_maps = check_layers(model, list(feature_maps)) if feature_maps else []
    x_all = _as_inputs(model, inputs)
    device = resolve_device(device)
    was_training = model.training
    model_device = next(model.parameters()).device
    model.eval().to(device)
    L, sr = model.config.slice_len, model.config.sr
    try:
        with torch.inference_mode(), _hooks(model, layers, reduce, activation, feature_maps) as cap:
            for start in range(0, x_all.shape[0], batch_size):
                x = x_all[start : start + batch_size].to(device)
                cap["native"].clear()
                cap["maps"].clear()
                out = model(x)
                res = ProbeResult(
                    output=(out[:, 0] if out.dim() == 3 else out).float().cpu().numpy(),
                    layers=list(layers), slice_len=L, sr=sr, reduce=reduce, activation=activation,
                )
                for name in layers:
                    series = cap["native"][name].float()
                    res.native[name] = series.cpu().numpy()
                    if upsampled:
                        res.upsampled[name] = upsample(series, L).cpu().numpy()
                for name in feature_maps:
                    res.feature_maps[name] = cap["maps"][name].float().cpu().numpy()
                yield start, res
    finally:
        model.train(was_training).to(model_device)


def probe(model, inputs, layers=None, reduce: str = "mean", activation: str = "post",
          feature_maps: Sequence[str] = (), upsampled: bool = True, batch_size: int = 64,
          device=None) -> ProbeResult:
    """Channel averages of every layer for a batch of latents (or waveforms).

    Parameters
    ----------
    model : Generator, Critic or QNetwork
    inputs : array-like
        Latents [N, latent_dim] for a generator; waveforms [N, slice_len] for a
        critic or Q-network.
    layers : list of str or comma-separated str, optional
        Layer names (``dense``, ``conv1`` … ``convK``); default all but the output.
    reduce : {"mean", "sum", "max", "rms"}
        How channels are combined; the paper uses ``mean``.
    activation : {"post", "pre"}
        After the layer's ReLU / LeakyReLU (the paper) or before it.
    feature_maps : list of str
        Layers whose individual channels are returned too.
    upsampled : bool
        Also return every series upsampled to the output length.
    batch_size : int
    device : str or torch.device, optional
        Default: CUDA when present, else CPU.

    Returns
    -------
    ProbeResult

    Examples
    --------
    >>> res = probe(G, Latent(G.config).sample(8, seed=1))
    >>> res.native["conv1"].shape, res.rate("conv1")
    ((8, 64), 62.5)
    """
    parts = list(probe_batches(model, inputs, layers, reduce, activation, feature_maps,
                               upsampled, batch_size, device))
    if not parts:
        raise GanphonError("no inputs to probe")
    first = parts[0][1]
    res = ProbeResult(output=np.concatenate([p.output for _, p in parts]), layers=first.layers,
                      slice_len=first.slice_len, sr=first.sr, reduce=reduce, activation=activation)
    for name in first.native:
        res.native[name] = np.concatenate([p.native[name] for _, p in parts])
    for name in first.upsampled:
        res.upsampled[name] = np.concatenate([p.upsampled[name] for _, p in parts])
    for name in first.feature_maps:
        res.feature_maps[name] = np.concatenate([p.feature_maps[name] for _, p in parts])
    return res


def layer_lengths(model) -> dict:
    """Layer name → (channels, native length), found by one forward pass."""
    if _is_generator(model):
        x = torch.zeros(1, model.config.latent_dim)
    else:
        x = torch.zeros(1, 1, model.config.slice_len)
    mods = model.activation_modules()
    shapes = {}
    handles = [m.register_forward_hook(lambda mod, i, o, n=n: shapes.__setitem__(n, tuple(o.shape[1:])))
               for n, m in mods.items()]
    try:
        with torch.inference_mode():
            was = model.training
            model.eval()
            p = next(model.parameters())
            model(x.to(p.device))
            model.train(was)
    finally:
        for h in handles:
            h.remove()
    return {n: (int(s[0]), int(s[1])) for n, s in shapes.items()}
