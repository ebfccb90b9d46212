"""What every encoder is: its input rate, its layers' time base (:class:`LayerTime`), the :class:`Encoder` base.

Kept apart from the package's dispatcher (:func:`ganphon.models.encoders.load_encoder`), so the encoder
modules import this and the dispatcher imports them, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ParameterError, name_list

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
        layers = name_list(layers, "layers")
        if not layers:
            return list(self.layers)
        unknown = [name for name in layers if name not in self.layers]
        if unknown:
            raise ParameterError("layers", f"{self.network} has no layer {', '.join(map(repr, unknown))} "
                                           f"(it has {', '.join(self.layers)})")
        return [name for name in self.layers if name in set(layers)]
