"""WaveGAN / ciwGAN / fiwGAN networks, faithful to the TensorFlow original.

Generator (slice 16384, model dimension d)::

    dense   Linear(100 → 16·16d), reshape to [16d × 16], ReLU     15.625 Hz
    conv1   ConvTranspose1d k25 s4, ReLU        [8d × 64]          62.5 Hz
    conv2   ConvTranspose1d k25 s4, ReLU        [4d × 256]        250 Hz
    conv3   ConvTranspose1d k25 s4, ReLU        [2d × 1024]      1000 Hz
    conv4   ConvTranspose1d k25 s4, ReLU        [d × 4096]       4000 Hz
    output  ConvTranspose1d k25 s4, tanh        [1 × 16384]     16000 Hz

Slice 65536 starts from 32d channels and has one more up-convolution (conv5).
The critic (WGAN "discriminator") and the Q-network share a trunk of strided
convolutions with LeakyReLU and phase shuffle after the first four layers.

Every layer's activation is its own module (``act``), so a probe asks for a
layer by name and hooks exactly the post-activation values; the pre-activation
values are that module's input.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ModelConfig


def _same_padding(kernel_len: int, stride: int) -> tuple[int, int]:
    """(padding, output_padding) making a transpose convolution output stride × n samples."""
    need = kernel_len - stride
    padding = math.ceil(need / 2)
    return padding, 2 * padding - need


class UpBlock(nn.Module):
    """Transpose convolution → optional batch norm → activation."""

    def __init__(self, cin, cout, kernel_len, stride, batchnorm, act):
        super().__init__()
        padding, output_padding = _same_padding(kernel_len, stride)
        self.conv = nn.ConvTranspose1d(cin, cout, kernel_len, stride, padding, output_padding)
        self.norm = nn.BatchNorm1d(cout) if batchnorm else nn.Identity()
        self.act = act

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class Generator(nn.Module):
    """WaveGAN generator: latent ``z`` [B, latent_dim] → waveform [B, 1, slice_len]."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        self.dense_channels = c.dim * c.dim_mul
        self.dense = nn.Linear(c.latent_dim, 16 * self.dense_channels)
        self.dense_norm = nn.BatchNorm1d(self.dense_channels) if c.batchnorm else nn.Identity()
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

        blocks = OrderedDict()
        k = 0
        for i, (cin, cout, stride) in enumerate(plan):
            k += 1
            blocks[f"conv{k}"] = UpBlock(cin, cout, c.kernel_len, stride, c.batchnorm, nn.ReLU())
            for _ in range(extras_after[i]):
                k += 1
                blocks[f"conv{k}"] = UpBlock(cout, cout, c.kernel_len, 1, c.batchnorm, nn.ReLU())
        blocks["output"] = UpBlock(channels, c.nch, c.kernel_len, c.stride, False, nn.Tanh())
        self.blocks = nn.ModuleDict(blocks)

    @property
    def layer_names(self) -> list[str]:
        """``["dense", "conv1", …, "convK", "output"]`` in network order."""
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

    def __init__(self, cin, cout, kernel_len, stride, batchnorm, slope, shuffle_rad):
        super().__init__()
        padding = (kernel_len - stride + 1) // 2
        self.conv = nn.Conv1d(cin, cout, kernel_len, stride, padding)
        self.norm = nn.BatchNorm1d(cout) if batchnorm else nn.Identity()
        self.act = nn.LeakyReLU(slope)
        self.shuffle = PhaseShuffle(shuffle_rad)

    def forward(self, x):
        return self.shuffle(self.act(self.norm(self.conv(x))))


class Critic(nn.Module):
    """WaveGAN critic trunk + linear head: waveform [B, 1, L] → [B, n_out].

    Five strided convolutions (d, 2d, 4d, 8d, 16d channels; six with 32d for
    slice 65536), LeakyReLU, phase shuffle after the first four only, then a
    linear layer on the flattened [16 × channels] map.
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
