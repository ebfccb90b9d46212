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

An :class:`Intervention` (layer, channels, operation) is data: the same hooks
set chosen channels of a generator layer to a value or multiply them by a
factor as the forward pass goes through it (GAN Dissection's unit ablation,
Bau et al. 2019), so every later layer and the output see the change.  It is
recorded in the manifest and ``run.json`` and replayed from them
(:func:`interventions_from_record`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .errors import GanphonError, ParameterError, name_list, number_hint
from .timebase import DEFAULT_SR, native_rate, upsample

OPERATIONS = ("set", "scale")


@dataclass(frozen=True)
class Intervention:
    """Set (``set``) or multiply (``scale``) channels of one generator layer during the forward pass.

    Channels are 0-based indices into the layer's feature maps (``conv3`` has
    2d of them); the change is made on the activation after the ReLU, the
    series the probe averages, so the intervened layer's own average shows it.

    Attributes
    ----------
    layer : str
        ``dense``, ``conv1`` … ``convK`` (not ``output``).
    channels : tuple of int
    operation : {"set", "scale"}
    value : float
        The value set, or the factor.

    Examples
    --------
    >>> Intervention("conv3", (3, 17, 40), "set", 0.0).label
    'conv3[3,17,40]=0'
    """

    layer: str
    channels: tuple
    operation: str = "set"
    value: float = 0.0

    def __post_init__(self):
        chans = self.channels
        if isinstance(chans, str):
            chans = parse_channels(chans)
        try:
            chans = tuple(int(c) for c in chans)
        except (TypeError, ValueError):
            raise GanphonError(f"intervention channels must be whole numbers, got {self.channels!r}") from None
        if not chans:
            raise GanphonError(f"an intervention on {self.layer} names no channels")
        if len(set(chans)) != len(chans) or min(chans) < 0:
            raise GanphonError(f"intervention channels must be distinct and ≥ 0, got {list(chans)}")
        if self.operation not in OPERATIONS:
            raise GanphonError(f"intervention operation must be one of {', '.join(OPERATIONS)}, got {self.operation!r}")
        value = float(self.value)
        if not np.isfinite(value) or abs(value) > float(np.finfo(np.float32).max):  # the activations are float32
            # named by its operation: the command line's --set / --scale
            raise ParameterError(self.operation, f"the intervention's value must be a finite float32 number, "
                                                 f"got {self.value!r}")
        object.__setattr__(self, "channels", tuple(sorted(chans)))
        object.__setattr__(self, "value", value)

    @property
    def label(self) -> str:
        """Short text for a ``condition`` tier or a manifest cell: ``conv3[3,17]=0``, ``conv3[3,17]*2``."""
        sign = "=" if self.operation == "set" else "*"
        return f"{self.layer}[{','.join(map(str, self.channels))}]{sign}{self.value:g}"

    def to_dict(self) -> dict:
        return {"layer": self.layer, "channels": list(self.channels), "operation": self.operation,
                "value": self.value}

    @classmethod
    def from_dict(cls, data: dict) -> "Intervention":
        try:
            return cls(str(data["layer"]), tuple(data["channels"]), str(data.get("operation", "set")),
                       float(data.get("value", 0.0)))
        except (KeyError, TypeError) as exc:
            raise GanphonError(f"not an intervention record: {data!r} ({exc})") from None

    def apply(self, activation: torch.Tensor) -> torch.Tensor:
        """The activation [N, channels, n] with this intervention made (a new tensor)."""
        out = activation.clone()
        idx = torch.as_tensor(self.channels, device=out.device)
        if self.operation == "set":
            out[:, idx] = self.value
        else:
            out[:, idx] = out[:, idx] * self.value
        return out


#: More channels than any layer of a model that fits in memory has (a range is checked before it is made).
MAX_CHANNEL = 2**20


def parse_channels(text: str) -> tuple:
    """``"3,17,40"`` or ``"0-7,12"`` → (3, 17, 40) / (0, 1, … 7, 12)."""
    import re

    out = []
    for part in str(text).replace(" ", "").split(","):
        try:
            if not re.fullmatch(r"[0-9]+(-[0-9]+)?", part):  # digits only: int() would also read 1_000 or ٣
                raise ValueError
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                a, b = int(a), int(b)
                if b < a:
                    raise ParameterError("channels", f"{text!r}: the range {part} runs downwards; write {b}-{a}")
                ends = (a, b)
            else:
                ends = (int(part),) * 2
        except ValueError:
            raise ParameterError("channels", f"{text!r}: expected numbers like 3,17,40 or 0-7"
                                             f"{number_hint(text)}") from None
        if max(abs(e) for e in ends) > MAX_CHANNEL:
            raise ParameterError("channels", f"{text!r}: channel {max(ends, key=abs)} is beyond any layer's "
                                             f"(at most {MAX_CHANNEL:,})")
        out.extend(range(ends[0], ends[1] + 1))
    return tuple(out)


def check_interventions(model, interventions) -> list:
    """``interventions`` (Intervention, dicts, or None) as a list of Interventions valid for ``model``."""
    if interventions is None:
        return []
    if isinstance(interventions, (Intervention, dict)):
        interventions = [interventions]
    items = [iv if isinstance(iv, Intervention) else Intervention.from_dict(iv) for iv in interventions]
    if items and not _is_generator(model):
        raise GanphonError("interventions apply to a generator's layers")
    lengths = layer_lengths(model) if items else {}
    for iv in items:
        if iv.layer not in lengths or iv.layer == "output":
            names = [n for n in model.layer_names if n != "output"]
            raise GanphonError(f"intervention layer {iv.layer!r}: choose one of {', '.join(names)}")
        n_ch = lengths[iv.layer][0]
        if max(iv.channels) >= n_ch:
            raise GanphonError(f"intervention on {iv.layer}: channel {max(iv.channels)} does not exist "
                               f"({iv.layer} has channels 0…{n_ch - 1})")
    return items


def interventions_from_record(record: dict) -> list:
    """The interventions of a run record (``run.json``) or its request, to replay them."""
    request = record.get("request", record)
    return [Intervention.from_dict(d) for d in request.get("interventions", []) or []]


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
    interventions: list = field(default_factory=list)
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
        raise ParameterError("device", f"{device!r} is not a torch device ({exc})") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device", f"{device!r}: CUDA is not available here (torch {torch.__version__}); "
                                       "use cpu")
    return resolved


def _is_generator(model) -> bool:
    return "dense" in getattr(model, "layer_names", [])


def default_layers(model) -> list[str]:
    """Every intermediate layer of a generator (``dense, conv1 … convK``), or every
    conv layer of a critic / Q-network.  ``output`` and ``postproc`` (the
    waveform before and after WaveGAN's post-processing filter) are probed when named."""
    names = list(model.layer_names)
    return [n for n in names if n not in ("output", "postproc")]


def check_layers(model, layers, parameter: str = "layers") -> list[str]:
    """``layers`` checked against the model's (None: :func:`default_layers`); errors name ``parameter``."""
    available = list(model.layer_names)
    layers = name_list(layers, parameter)
    if layers is None:
        return default_layers(model)
    for name in layers:
        if name not in available:
            raise ParameterError(parameter, f"{name!r} does not exist; this model has {', '.join(available)}")
    return list(layers)


@contextlib.contextmanager
def _hooks(model, layers, reduce, activation, feature_maps, interventions=()):
    """Forward hooks on the layers' activation modules, removed on exit.

    Intervention hooks are registered first: a forward hook's return value
    replaces the module's output for the hooks after it and for the next layer.
    """
    mods = model.activation_modules()
    captured: dict = {"native": {}, "maps": {}}
    handles = []
    fn = REDUCERS[reduce]

    def intervene(iv):
        def hook(module, inputs, output):
            rows = captured.get("rows")
            if rows is None:
                return iv.apply(output)
            if not bool(rows.any()):
                return None
            changed = output.clone()
            changed[rows] = iv.apply(output[rows])
            return changed
        return hook

    def make(name):
        def hook(module, inputs, output):
            a = output if activation == "post" else inputs[0]
            if name in layers:
                captured["native"][name] = fn(a)
            if name in feature_maps:
                captured["maps"][name] = a
        return hook

    try:
        for iv in interventions:
            handles.append(mods[iv.layer].register_forward_hook(intervene(iv)))
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
                  device=None, interventions=(), intervene=None) -> Iterator[tuple[int, ProbeResult]]:
    """Probe ``inputs`` chunk by chunk, yielding ``(start_index, ProbeResult)``.

    Memory stays flat in N: only one chunk's arrays exist at a time.  Arguments
    as for :func:`probe`; ``intervene`` (booleans, one per input) limits the
    interventions to the inputs marked True (default: all).
    """
    interventions = check_interventions(model, interventions)
    if reduce not in REDUCERS:
        raise GanphonError(f"unknown reduction {reduce!r}; choose one of {', '.join(REDUCERS)}")
    if activation not in ACTIVATIONS:
        raise GanphonError(f"activation must be 'post' or 'pre', got {activation!r}")
    layers = check_layers(model, layers)
    feature_maps = check_layers(model, name_list(feature_maps, "feature_maps"), "feature_maps") if feature_maps else []
    x_all = _as_inputs(model, inputs)
    mask = None
    if intervene is not None:
        mask = torch.as_tensor(np.asarray(intervene, dtype=bool))
        if mask.dim() != 1 or mask.shape[0] != x_all.shape[0]:
            raise GanphonError(f"intervene must hold one True/False per input ({x_all.shape[0]})")
    device = resolve_device(device)
    was_training = model.training
    model_device = next(model.parameters()).device
    model.eval().to(device)
    L, sr = model.config.slice_len, model.config.sr
    try:
        # inference mode only around each forward pass: a mode held across ``yield`` would stay on in the
        # caller's thread for as long as the generator is suspended (or never finished)
        with _hooks(model, layers, reduce, activation, feature_maps, interventions) as cap:
            for start in range(0, x_all.shape[0], batch_size):
                with torch.inference_mode():
                    res = _probe_batch(model, x_all, start, batch_size, device, mask, cap, layers, feature_maps,
                                       upsampled, L, sr, reduce, activation, interventions)
                yield start, res
    finally:
        model.train(was_training).to(model_device)


def _probe_batch(model, x_all, start: int, batch_size: int, device, mask, cap: dict, layers, feature_maps,
                 upsampled: bool, L: int, sr: int, reduce: str, activation: str, interventions) -> "ProbeResult":
    """One batch of :func:`probe_batches`: the forward pass with the hooks of ``cap`` and its result."""
    x = x_all[start : start + batch_size].to(device)
    cap["native"].clear()
    cap["maps"].clear()
    cap["rows"] = None if mask is None else mask[start : start + batch_size].to(device)
    out = model(x)
    res = ProbeResult(
        output=(out[:, 0] if out.dim() == 3 else out).float().cpu().numpy(),
        layers=list(layers), slice_len=L, sr=sr, reduce=reduce, activation=activation,
        interventions=list(interventions),
    )
    for name in layers:
        series = cap["native"][name].float()
        res.native[name] = series.cpu().numpy()
        if upsampled:
            res.upsampled[name] = upsample(series, L).cpu().numpy()
    for name in feature_maps:
        res.feature_maps[name] = cap["maps"][name].float().cpu().numpy()
    return res


def probe(model, inputs, layers=None, reduce: str = "mean", activation: str = "post",
          feature_maps: Sequence[str] = (), upsampled: bool = True, batch_size: int = 64,
          device=None, interventions=(), intervene=None) -> ProbeResult:
    """Channel averages of every layer for a batch of latents (or waveforms).

    Parameters
    ----------
    model : Generator, Critic or QNetwork
    inputs : array-like
        Latents [N, latent_dim] for a generator; waveforms [N, slice_len] for a
        critic or Q-network.
    layers : list of str, optional
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
    interventions : sequence of Intervention (or dicts), optional
        Channel changes made during the forward pass, in order (generators only).
    intervene : sequence of bool, optional
        Make them only for the inputs marked True (default: every input).

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
                               upsampled, batch_size, device, interventions, intervene))
    if not parts:
        raise GanphonError("no inputs to probe")
    first = parts[0][1]
    res = ProbeResult(output=np.concatenate([p.output for _, p in parts]), layers=first.layers,
                      slice_len=first.slice_len, sr=first.sr, reduce=reduce, activation=activation,
                      interventions=first.interventions)
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
