"""Model configuration: one dataclass that fully describes a network's shape."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

from ..errors import GanphonError

ARCHS = ("wavegan", "ciwgan", "fiwgan")
SLICE_LENS = (16384, 65536)
CONVENTIONS = ("tf", "torch")
#: A WAV header holds the sampling rate in 32 bits.
WAV_MAX_RATE = 2**32 - 1
#: The largest model dimension built (d = 512 is already about 1 billion generator weights).
MAX_DIM = 512

# What a checkpoint written before the ``convention`` field existed computed: the
# padding of ganphon's first release (and of the PyTorch port) and PyTorch's
# batch-norm defaults.  Such checkpoints are read with these values so that they
# compute exactly what they did.
LEGACY_SETTINGS = {"convention": "torch", "bn_eps": 1e-5, "bn_momentum": 0.1}


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
    convention : {"tf", "torch"}
        How "same" padding and the critic's flatten are done.  ``"tf"`` computes
        exactly what TensorFlow's WaveGAN computes: a transpose convolution keeps
        ``full[(k - s) // 2 :][: s·n]`` of its full result (k 25, s 4: samples
        10 … 4n + 9, PyTorch padding 10 and the last sample dropped), a strided
        convolution pads 10 left / 11 right, the critic and Q-network flatten
        their last map time-major (``[16, C]``) and their batch norm always uses
        the batch's statistics.  ``"torch"`` is ganphon's first release and the
        PyTorch port: padding 11 and output padding 1 (every up-convolution
        one sample early), convolution padding 11 / 11, channel-major flatten,
        ordinary batch norm.  New models use ``"tf"``; checkpoints saved without
        this field are read as ``"torch"``.
    bn_eps : float
        Batch-norm epsilon (TensorFlow 1e-3; PyTorch's default 1e-5).
    bn_momentum : float
        Batch-norm running-average momentum in PyTorch's sense, the weight of
        the new batch (0.01 = TensorFlow's decay 0.99; PyTorch's default 0.1).
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
    convention: str = "tf"
    bn_eps: float = 1e-3
    bn_momentum: float = 0.01
    phaseshuffle_rad: int = 2
    leaky_slope: float = 0.2
    q_leaky_slope: float = 0.2
    sr: int = 16000
    nch: int = 1

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        kinds = {"int": (numbers.Integral,), "float": (numbers.Real,), "bool": (bool,), "str": (str,)}
        for field in dataclasses.fields(self):
            value, wanted = getattr(self, field.name), kinds.get(str(field.type), (object,))
            if (not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted)
                    or (isinstance(value, numbers.Real) and not math.isfinite(value))):
                raise GanphonError(f"model setting {field.name} must be of type {field.type}, got {value!r}")
        for name in ("sr", "latent_dim", "kernel_len", "stride", "nch"):
            if getattr(self, name) < 1:
                raise GanphonError(f"model setting {name} must be ≥ 1, got {getattr(self, name)}")
        limits = {"sr": WAV_MAX_RATE, "dim": MAX_DIM, "latent_dim": 100_000, "kernel_len": 1024, "stride": 64,
                  "nch": 64, "extra_layers": 64, "phaseshuffle_rad": 1024, "n_codes": 100_000}
        for name, top in limits.items():
            if getattr(self, name) > top:
                raise GanphonError(f"model setting {name} must be ≤ {top}, got {getattr(self, name)}"
                                   + (" (the largest rate a WAV header holds)" if name == "sr" else ""))
        if self.phaseshuffle_rad < 0:
            raise GanphonError(f"model setting phaseshuffle_rad must be ≥ 0, got {self.phaseshuffle_rad}")
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
        if self.convention not in CONVENTIONS:
            raise GanphonError(f"convention must be 'tf' or 'torch', got {self.convention!r}")
        if not self.bn_eps > 0 or not 0 <= self.bn_momentum <= 1:
            raise GanphonError(
                f"batch-norm settings out of range (bn_eps {self.bn_eps}, bn_momentum {self.bn_momentum})"
            )
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
        """Config from a saved dict; one without ``convention`` gets :data:`LEGACY_SETTINGS`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise GanphonError(f"{source}: unknown model settings {', '.join(unknown)}")
        if "convention" not in d:
            d = {**LEGACY_SETTINGS, **d}
        return cls(**d)


def stack_frequencies(config, floor: float | None = 75.0, ceiling: float | None = 450.0) -> tuple:
    """The upsampling stack's own periodicities: ``sr / (m · stride**k)`` Hz, highest first.

    Each stride-s transpose convolution repeats its kernel every s samples of
    its output, so a generator can buzz at exactly ``sr / stride**k`` (250 Hz
    for 16 kHz, stride 4) without any voice in it; Praat often reports such a
    buzz an octave or a twelfth down (``m`` = 2, 3: 125 and 83.3 Hz).  The
    same numbers are the native rates of the generator's layers (and their
    ½, ⅓), at which a linearly interpolated layer series is periodic.

    Parameters
    ----------
    config : ModelConfig
        Only ``sr``, ``stride`` and ``n_upsampling`` are read.
    floor, ceiling : float or None
        Keep the frequencies in [floor, ceiling] (default: the paper's ciwGAN
        pitch range, 75–450 Hz); None: no bound.
    """
    low = -math.inf if floor is None else floor
    high = math.inf if ceiling is None else ceiling
    found = set()
    for k in range(1, config.n_upsampling + 1):
        for m in (1, 2, 3):
            f = config.sr / (m * config.stride ** k)
            if low <= f <= high:
                found.add(f)
    return tuple(sorted(found, reverse=True))

