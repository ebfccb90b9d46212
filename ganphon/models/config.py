"""Model configuration: one dataclass that fully describes a network's shape."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import GanphonError

ARCHS = ("wavegan", "ciwgan", "fiwgan")
SLICE_LENS = (16384, 65536)


@dataclass
class ModelConfig:
    """Everything needed to build a generator, critic and Q-network.

    Attributes
    ----------
    arch : {"wavegan", "ciwgan", "fiwgan"}
        WaveGAN has no code; ciwGAN puts a one-hot code of ``n_codes`` categories
        first in the latent; fiwGAN puts ``n_codes`` binary bits first.
    dim : int
        Model dimension ``d`` (64 in the papers).
    slice_len : {16384, 65536}
        Output length in samples.
    latent_dim : int
        Length of the latent vector, codes included (100 in the papers).
    n_codes : int
        Number of code variables (0 for WaveGAN).
    batchnorm : bool
        Batch normalisation after the dense layer and every up-convolution but the last.
    extra_layers : int
        Stride-1 transpose convolutions added between the upsampling layers (the
        paper's deeper variant has 4 + 5 = 9 intermediate layers).
    dense_relu : bool
        ReLU after the dense projection, as in the TensorFlow original.  Models
        imported from the common PyTorch port have none and set this to False.
    dense_layout : {"tf", "port"}
        How the dense output is reshaped: ``"tf"`` reads it as ``[16, C]`` (time
        major, as ``tf.reshape(x, [b, 16, C])``), ``"port"`` as ``[C, 16]`` (the
        PyTorch port's ``view(-1, C, 16)``).
    phaseshuffle_rad : int
        Phase-shuffle radius of the critic and Q-network (after layers 1–4 only).
    leaky_slope, q_leaky_slope : float
        LeakyReLU slopes of the critic and the Q-network.
    sr : int
        Output sampling rate in Hz.
    """

    arch: str = "wavegan"
    dim: int = 64
    slice_len: int = 16384
    latent_dim: int = 100
    n_codes: int = 0
    kernel_len: int = 25
    stride: int = 4
    batchnorm: bool = False
    extra_layers: int = 0
    dense_relu: bool = True
    dense_layout: str = "tf"
    phaseshuffle_rad: int = 2
    leaky_slope: float = 0.2
    q_leaky_slope: float = 0.2
    sr: int = 16000
    nch: int = 1

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        if self.arch not in ARCHS:
            raise GanphonError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.slice_len not in SLICE_LENS:
            raise GanphonError(f"slice length {self.slice_len} is not supported; use 16384 or 65536")
        if self.dim < 1:
            raise GanphonError(f"model dimension must be positive, got {self.dim}")
        if self.arch == "wavegan" and self.n_codes != 0:
            raise GanphonError("a WaveGAN has no codes; use --arch ciwgan or fiwgan for --codes")
        if self.arch != "wavegan" and not 1 <= self.n_codes < self.latent_dim:
            raise GanphonError(
                f"{self.arch} needs between 1 and {self.latent_dim - 1} codes, got {self.n_codes}"
            )
        if self.dense_layout not in ("tf", "port"):
            raise GanphonError(f"dense_layout must be 'tf' or 'port', got {self.dense_layout!r}")
        if self.extra_layers < 0:
            raise GanphonError("extra_layers must be >= 0")

    @property
    def dim_mul(self) -> int:
        return 16 if self.slice_len == 16384 else 32

    @property
    def n_upsampling(self) -> int:
        """Number of stride-4 up-convolutions, the output layer included."""
        return 5 if self.slice_len == 16384 else 6

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, source: str = "checkpoint") -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise GanphonError(f"{source}: unknown model settings {', '.join(unknown)}")
        return cls(**d)
