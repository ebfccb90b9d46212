"""Model configuration: one dataclass that fully describes a network's shape."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

from ..errors import GanphonError, ParameterError

ARCHS = ("wavegan", "ciwgan", "fiwgan")
SLICE_LENS = (16384, 65536)
CONVENTIONS = ("tf", "torch")
#: A WAV header holds the sampling rate, and the byte rate (rate × channels × 4 for float32), in 32 bits.
WAV_MAX_BYTE_RATE = 2**32 - 1
WAV_MAX_RATE = WAV_MAX_BYTE_RATE // 4  # a mono float32 WAV
#: The largest model dimension built (d = 512 is already about 1 billion generator weights).
MAX_DIM = 512
UPSAMPLES = ("zeros", "nn")
#: Taps of WaveGAN's post-processing filter (``--wavegan_genr_pp_len``'s default).
POSTPROC_LEN = 512

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
    upsample : {"zeros", "nn"}
        How the generator upsamples (WaveGAN's ``--wavegan_genr_upsample``):
        ``"zeros"`` by strided transpose convolutions, ``"nn"`` by repeating
        every sample ``stride`` times (nearest neighbour) and then a stride-1
        convolution of the same kernel length with 'same' padding (10 … 12
        samples each side for k 25: TensorFlow puts the odd one on the right).
        Same layers, channels and native rates either way; ``"tf"`` convention only.
    postproc_len : int
        Taps of the learned post-processing filter after the output's tanh
        (WaveGAN's ``--wavegan_genr_pp``, 512 there; layer ``postproc``): a
        convolution of one channel without bias, 'same' padding (255 before,
        256 after for 512 taps); 0 for none.  ``"tf"`` convention, one channel.
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
    upsample: str = "zeros"
    postproc_len: int = 0

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
                                   + (" (the largest rate a float32 WAV header holds)" if name == "sr" else ""))
        if self.sr * self.nch * 4 > WAV_MAX_BYTE_RATE:
            raise GanphonError(f"model settings sr {self.sr} and nch {self.nch}: a float32 WAV of {self.nch} channels "
                               f"at {self.sr} Hz has a byte rate beyond the 32 bits of its header")
        if self.phaseshuffle_rad < 0:
            raise GanphonError(f"model setting phaseshuffle_rad must be ≥ 0, got {self.phaseshuffle_rad}")
        if self.arch not in ARCHS:
            raise GanphonError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.slice_len not in SLICE_LENS:
            raise GanphonError(f"slice length {self.slice_len} is not supported; use 16384 or 65536")
        if self.dim < 1:
            raise GanphonError(f"model dimension must be positive, got {self.dim}")
        if self.arch == "wavegan" and self.n_codes != 0:
            raise ParameterError("n_codes", f"a WaveGAN has no codes, got {self.n_codes}; codes need arch ciwgan or fiwgan")
        if self.arch != "wavegan" and not 1 <= self.n_codes < self.latent_dim:
            raise ParameterError("n_codes", f"{self.arch} needs between 1 and {self.latent_dim - 1} codes, "
                                            f"got {self.n_codes}")
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
        for name in ("leaky_slope", "q_leaky_slope"):  # a LeakyReLU's; beyond 1 a layer amplifies what it should damp
            if not 0 <= getattr(self, name) <= 1:
                raise GanphonError(f"model setting {name} must be between 0 and 1, got {getattr(self, name)}")
        if self.upsample not in UPSAMPLES:
            raise GanphonError(f"upsample must be 'zeros' or 'nn', got {self.upsample!r}")
        if not 0 <= self.postproc_len <= self.slice_len:
            raise GanphonError(f"postproc_len must be between 0 (no post-processing filter) and the slice length "
                               f"{self.slice_len}, got {self.postproc_len}")
        if (self.upsample == "nn" or self.postproc_len) and self.convention != "tf":
            raise GanphonError("nearest-neighbour upsampling and the post-processing filter need convention 'tf'")
        if self.postproc_len and self.nch != 1:
            raise GanphonError(f"the post-processing filter is for one channel, got nch {self.nch}")

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
    """The upsampling stack's own periodicities in a pitch range: ``sr / (m · stride**k)`` Hz.

    A layer k up-steps from the output (k = 1 … ``n_upsampling``) sits on a grid
    of ``stride**k`` output samples, so the stack can put a periodic component
    at ``sr / stride**k`` (4000, 1000, 250, 62.5, 15.6 Hz for 16 kHz, stride 4)
    without any voice in it; Praat's pitch analysis reports one above its
    ceiling a subharmonic down (``m`` = 2, 3: 1000 Hz as 333.3 Hz, 250 Hz as 125
    and 83.3 Hz).  The default range is the paper's ciwGAN pitch range (75–450 Hz);
    None for ``floor`` or ``ceiling``: no bound.  The same numbers are the native rates of the
    generator's layers (and their ½, ⅓), at which a linearly interpolated layer series is periodic.

    The frequencies are the same for every generator of this shape; what puts a
    component there differs, as measured on freshly initialised d = 8 models
    (tests/test_artefact_controls.py):

    * ``upsample = "zeros"``: a transpose convolution of a constant input is
      periodic, ``y[n] = c · Σ_i w[n − s·i]`` depends on ``n mod s`` (a kernel of
      25 taps at stride 4 gives the phases 7 or 6 taps): the feature maps' mean
      alone makes lines — 11 to 61 dB above the neighbouring spectrum at
      62.5 … 4000 Hz at initialisation;
    * ``upsample = "nn"``: repeating samples and then a stride-1 convolution
      maps a constant to a constant (no lines from the mean), and the hold has
      zeros at multiples of the input rate (2 to 15 dB below the neighbourhood
      at initialisation); what remains is the hold's staircase, a sawtooth of
      period ``stride**k`` scaled by the local slope of the layer before, which
      training can still turn into a line at the same frequencies;
    * ``postproc_len``: the filter is time-invariant, so it adds no frequency; it
      passes the stack's lines scaled by its gain there and can learn to notch
      them (at initialisation it does not: 12 to 64 dB).
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

