"""WaveGAN / ciwGAN / fiwGAN networks, as in the TensorFlow original.

Generator (slice 16384, model dimension d)::

    dense   Linear(100 → 16·16d), reshape to [16d × 16], ReLU     15.625 Hz
    conv1   ConvTranspose1d k25 s4, ReLU        [8d × 64]          62.5 Hz
    conv2   ConvTranspose1d k25 s4, ReLU        [4d × 256]        250 Hz
    conv3   ConvTranspose1d k25 s4, ReLU        [2d × 1024]      1000 Hz
    conv4   ConvTranspose1d k25 s4, ReLU        [d × 4096]       4000 Hz
    output  ConvTranspose1d k25 s4, tanh        [1 × 16384]     16000 Hz

Slice 65536 starts from 32d channels and has one more up-convolution (conv5).

WaveGAN's two controls of the stack's periodic artefact, both TensorFlow-exact:

* ``upsample = "nn"`` (``--wavegan_genr_upsample nn``): each up layer repeats
  every sample ``stride`` times (nearest neighbour) and then convolves with a
  stride-1 kernel of the same length, 'same' padding; same layers, same rates;
* ``postproc_len = 512`` (``--wavegan_genr_pp``): a learned FIR filter without
  bias after the output's tanh, layer ``postproc`` [1 × slice_len].

The critic (WGAN "discriminator") and the Q-network share a trunk of strided
convolutions with LeakyReLU and phase shuffle after the first four layers.

Every layer's activation is its own module (``act``), so a probe asks for a
layer by name and hooks exactly the post-activation values; the pre-activation
values are that module's input.

``config.convention`` picks the padding: ``"tf"`` computes what TensorFlow's
``conv2d_transpose`` / ``conv1d`` with 'same' padding compute (measured against
TensorFlow, see tests/test_tf_import.py); ``"torch"`` is the PyTorch port's
padding 11 / output padding 1, kept for checkpoints made that way.  Either way
a layer of n samples has n = slice_len / 4^j samples and sample k stands for
time (k + 0.5)·T/n (see ganphon.timebase).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ModelConfig
from .rounding import Tanh


def _transpose_padding(kernel_len: int, stride: int, convention: str) -> tuple[int, int]:
    """(padding, output_padding) of a transpose convolution with stride × n outputs.

    "tf": TensorFlow keeps ``full[(k - s) // 2 : (k - s) // 2 + s·n]`` of the
    ``s·(n − 1) + k`` samples of the full result; PyTorch's ``padding`` crops
    symmetrically, so this pads ``(k - s) // 2`` and the block drops what is
    left over at the end (one sample for k 25, s 4).
    "torch": ``ceil((k - s) / 2)`` with output padding, which keeps
    ``full[11 : 4n + 11]`` for k 25, s 4 — one sample later than TensorFlow.
    """
    need = kernel_len - stride
    if convention == "tf":
        return need // 2, 0
    padding = math.ceil(need / 2)
    return padding, 2 * padding - need


def _batch_norm(channels: int, config: ModelConfig, batch_statistics: bool = False) -> nn.Module:
    """Batch norm with the config's epsilon and momentum.

    ``batch_statistics``: always normalise with the batch's own mean and
    variance, in eval mode too (TensorFlow's critic and Q-network).
    """
    return nn.BatchNorm1d(channels, eps=config.bn_eps, momentum=config.bn_momentum,
                          track_running_stats=not batch_statistics)


class UpBlock(nn.Module):
    """Transpose convolution → optional batch norm → activation."""

    def __init__(self, cin, cout, kernel_len, stride, batchnorm, act, config: ModelConfig):
        super().__init__()
        padding, output_padding = _transpose_padding(kernel_len, stride, config.convention)
        self.stride = stride
        self.conv = nn.ConvTranspose1d(cin, cout, kernel_len, stride, padding, output_padding)
        self.norm = _batch_norm(cout, config) if batchnorm else nn.Identity()
        self.act = act

    def forward(self, x):
        n_out = x.shape[-1] * self.stride
        x = self.conv(x)
        if x.shape[-1] != n_out:  # "tf": TensorFlow's crop ends (k - s) // 2 + 1 samples early
            x = x[..., :n_out]
        return self.act(self.norm(x))


def _same_padding(kernel_len: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of a stride-1 convolution: the odd sample goes on the right."""
    return (kernel_len - 1) // 2, kernel_len // 2


class NearestUpBlock(nn.Module):
    """Nearest-neighbour upsampling → stride-1 'same' convolution → optional batch norm → activation.

    TensorFlow's ``resize_nearest_neighbor`` by an integer factor (no corner
    alignment, no half-pixel centres) reads input sample ``floor(i / stride)``
    for output sample i: every sample repeated ``stride`` times.  The weights
    are the convolution's (``conv``: [Cout, Cin, k]).

    Computed as one transpose convolution, ``stride`` times fewer products:
    correlating the repeated samples with ``w`` gives
    ``y[t] = Σ_i x[i] · v[s·i − t + left]`` with ``v[d] = w[d] + … + w[d + s − 1]``,
    which is a stride-s transpose convolution with kernel ``v`` reversed
    (k + s − 1 taps), keeping ``full[k − 1 − left :][: s·n]``.
    """

    def __init__(self, cin, cout, kernel_len, stride, batchnorm, act, config: ModelConfig):
        super().__init__()
        self.stride = stride
        self.left = _same_padding(kernel_len)[0]
        self.conv = nn.Conv1d(cin, cout, kernel_len)
        self.norm = _batch_norm(cout, config) if batchnorm else nn.Identity()
        self.act = act

    def forward(self, x):
        s, (cout, cin, k) = self.stride, self.conv.weight.shape
        w = F.pad(self.conv.weight.reshape(cout * cin, 1, k), (s - 1, s - 1))
        v = F.conv1d(w, w.new_ones(1, 1, s))  # v[d] for d = −(s − 1) … k − 1
        kernel = v.flip(-1).reshape(cout, cin, k + s - 1).transpose(0, 1)
        start = k - 1 - self.left
        x = F.conv_transpose1d(x, kernel, self.conv.bias, stride=s)[..., start : start + s * x.shape[-1]]
        return self.act(self.norm(x))


class PostFilter(nn.Module):
    """WaveGAN's post-processing filter: one learned FIR of ``length`` taps, no bias, 'same' padding.

    ``y[t] = Σ_c Σ_j w[c, j] · x[c, t + j − left]`` (TensorFlow's ``conv1d``),
    computed by FFT: the circular correlation of ``N ≥ n + length − 1`` samples
    wraps nothing into the n kept, and 512 taps cost a few FFTs instead of
    512 products per sample.  Its activation module is an identity, so the
    layer ``postproc`` is the filtered waveform.
    """

    def __init__(self, length: int, channels: int):
        super().__init__()
        self.left = _same_padding(length)[0]
        self.conv = nn.Conv1d(channels, 1, length, bias=False)  # holds the taps [1, channels, length]
        self.act = nn.Identity()

    def forward(self, x):
        n, length = x.shape[-1], self.conv.kernel_size[0]
        size = n + length - 1
        dtype = torch.promote_types(x.dtype, torch.float32)  # no FFTs in half precision (autocast)
        x, w = F.pad(x, (self.left, 0)).to(dtype), self.conv.weight.to(dtype)
        spectrum = torch.fft.rfft(x, size) * torch.fft.rfft(w, size).conj()
        return self.act(torch.fft.irfft(spectrum.sum(dim=1, keepdim=True), size)[..., :n])


class Generator(nn.Module):
    """WaveGAN generator: latent ``z`` [B, latent_dim] → waveform [B, 1, slice_len]."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        self.dense_channels = c.dim * c.dim_mul
        self.dense = nn.Linear(c.latent_dim, 16 * self.dense_channels)
        self.dense_norm = _batch_norm(self.dense_channels, c) if c.batchnorm else nn.Identity()
        self.dense_act = nn.ReLU() if c.dense_relu else nn.Identity()

        # Channel plan: halve at each upsampling layer; the last one outputs the waveform.
        n_up = c.n_upsampling
        plan = []  # (name, cin, cout, stride, act)
        channels = self.dense_channels
        for i in range(1, n_up):
            plan.append((channels, channels // 2, c.stride))
            channels //= 2
        # Stride-1 layers of the deeper variant, spread over the upsampling layers in turn.
        extras_after = [0] * (n_up - 1)
        for j in range(c.extra_layers):
            extras_after[j % (n_up - 1)] += 1

        Up = NearestUpBlock if c.upsample == "nn" else UpBlock
        blocks = OrderedDict()
        k = 0
        for i, (cin, cout, stride) in enumerate(plan):
            k += 1
            blocks[f"conv{k}"] = Up(cin, cout, c.kernel_len, stride, c.batchnorm, nn.ReLU(), c)
            for _ in range(extras_after[i]):
                k += 1
                blocks[f"conv{k}"] = Up(cout, cout, c.kernel_len, 1, c.batchnorm, nn.ReLU(), c)
        blocks["output"] = Up(channels, c.nch, c.kernel_len, c.stride, False, Tanh(), c)
        if c.postproc_len:
            blocks["postproc"] = PostFilter(c.postproc_len, c.nch)
        self.blocks = nn.ModuleDict(blocks)

    @property
    def layer_names(self) -> list[str]:
        """``["dense", "conv1", …, "convK", "output"]`` in network order (``"postproc"`` last when present)."""
        return ["dense", *self.blocks.keys()]

    def activation_modules(self) -> "OrderedDict[str, nn.Module]":
        """Layer name → the module whose output is that layer's activation."""
        mods = OrderedDict(dense=self.dense_act)
        for name, block in self.blocks.items():
            mods[name] = block.act
        return mods

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """Dense projection reshaped to [B, channels, 16], before normalisation."""
        x = self.dense(z)
        if self.config.dense_layout == "tf":
            return x.view(-1, 16, self.dense_channels).transpose(1, 2)
        return x.view(-1, self.dense_channels, 16)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.dense_act(self.dense_norm(self.project(z)))
        for block in self.blocks.values():
            x = block(x)
        return x


class PhaseShuffle(nn.Module):
    """Shift the whole batch by one random offset in [−rad, rad], reflect-padded.

    Active only in training mode: a critic probed in eval mode sees its input as is.
    """

    def __init__(self, rad: int):
        super().__init__()
        self.rad = rad

    def forward(self, x):
        if not self.training or self.rad == 0:
            return x
        phase = int(torch.randint(-self.rad, self.rad + 1, ()).item())
        pad_l, pad_r = max(phase, 0), max(-phase, 0)
        length = x.shape[-1]
        x = F.pad(x, (pad_l, pad_r), mode="reflect")
        return x[..., pad_r : pad_r + length]


class DownBlock(nn.Module):
    """Strided convolution → optional batch norm → LeakyReLU → phase shuffle."""

    def __init__(self, cin, cout, kernel_len, stride, batchnorm, slope, shuffle_rad, config: ModelConfig):
        super().__init__()
        self.tf_padding = config.convention == "tf"
        padding = 0 if self.tf_padding else (kernel_len - stride + 1) // 2
        self.conv = nn.Conv1d(cin, cout, kernel_len, stride, padding)
        # TensorFlow's critic and Q-network call batch norm with training=True, always.
        self.norm = _batch_norm(cout, config, batch_statistics=self.tf_padding) if batchnorm else nn.Identity()
        self.act = nn.LeakyReLU(slope)
        self.shuffle = PhaseShuffle(shuffle_rad)

    def forward(self, x):
        if self.tf_padding:  # TensorFlow 'SAME': the odd sample of padding goes on the right
            k, s, n = self.conv.kernel_size[0], self.conv.stride[0], x.shape[-1]
            total = max((-(-n // s) - 1) * s + k - n, 0)
            x = F.pad(x, (total // 2, total - total // 2))
        return self.shuffle(self.act(self.norm(self.conv(x))))


class Critic(nn.Module):
    """WaveGAN critic trunk + linear head: waveform [B, 1, L] → [B, n_out].

    Five strided convolutions (d, 2d, 4d, 8d, 16d channels; six with 32d for
    slice 65536), LeakyReLU, phase shuffle after the first four only, then a
    linear layer on the flattened last map: time-major (``[16, C]``, as
    TensorFlow) for the "tf" convention, channel-major (``[C, 16]``) for "torch".
    """

    def __init__(self, config: ModelConfig, n_out: int = 1, slope: float | None = None):
        super().__init__()
        self.config = c = config
        slope = c.leaky_slope if slope is None else slope
        n_layers = c.n_upsampling
        blocks = OrderedDict()
        cin = c.nch
        for i in range(n_layers):
            cout = c.dim * 2**i
            blocks[f"conv{i + 1}"] = DownBlock(
                cin, cout, c.kernel_len, c.stride,
                batchnorm=c.batchnorm and i > 0,
                slope=slope,
                shuffle_rad=c.phaseshuffle_rad if i < 4 else 0,
                config=c,
            )
            cin = cout
        self.blocks = nn.ModuleDict(blocks)
        self.flat_dim = cin * 16
        self.fc = nn.Linear(self.flat_dim, n_out)

    @property
    def layer_names(self) -> list[str]:
        return list(self.blocks.keys())

    def activation_modules(self) -> "OrderedDict[str, nn.Module]":
        return OrderedDict((name, block.act) for name, block in self.blocks.items())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks.values():
            x = block(x)
        if self.config.convention == "tf":
            x = x.transpose(1, 2)
        return self.fc(x.flatten(1))


class QNetwork(Critic):
    """ciwGAN / fiwGAN Q-network: the critic's trunk with ``n_codes`` logits."""

    def __init__(self, config: ModelConfig):
        super().__init__(config, n_out=config.n_codes, slope=config.q_leaky_slope)


def build_models(config: ModelConfig, critic: bool = True):
    """Build (generator, critic, qnetwork) for a config; Q is None for WaveGAN."""
    G = Generator(config)
    D = Critic(config) if critic else None
    Q = QNetwork(config) if (critic and config.arch != "wavegan") else None
    return G, D, Q
