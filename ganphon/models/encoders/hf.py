"""wav2vec 2.0, HuBERT and WavLM from a local Hugging Face folder (``--network hf:PATH``).

The folder holds ``config.json`` and the weights (``model.safetensors`` or
``pytorch_model.bin``), as ``save_pretrained`` writes them; ``transformers``
loads it with ``local_files_only`` and ``HF_HUB_OFFLINE=1``: nothing is
downloaded.  A ``preprocessor_config.json`` with ``do_normalize: true``
(wav2vec 2.0 large, HuBERT large) makes each input zero-mean, unit-variance
over its own audio before the zero padding, as the model's feature extractor
does; without it the waveform goes in as it is.  No attention mask is passed:
the model sees the slice with its zero padding, as ``ID_output.wav`` shows it.

Layers.  The feature encoder's convolutions are ``conv1 … convK`` (K = 7 in
every released model): each one's output after its activation (GELU; after
the group norm of conv1 or the layer norm of each, as configured), averaged
over channels.  The transformer layers are ``transformer1 … transformerM``:
each layer's output averaged over hidden units.

Time base, from the config's ``conv_kernel`` (k) and ``conv_stride`` (s),
no padding: conv layer ``l`` has ``n_l = ⌊(n_{l−1} − k_l) / s_l⌋ + 1``
samples; its stride in input samples is ``J_l = s_1 ⋯ s_l`` and its
receptive field ``R_l = 1 + Σ_{i ≤ l} (k_i − 1) J_{i−1}`` samples, so sample
``j`` sees input samples ``j J_l … j J_l + R_l − 1`` and is stamped at the
centre ``t_j = (j J_l + R_l / 2) / sr``.  For the released models (kernels
10, 3, 3, 3, 3, 2, 2; strides 5, 2, 2, 2, 2, 2, 2) conv7 has J = 320 (50 Hz)
and R = 400 samples (25 ms): sample ``j`` at ``12.5 + 20 j`` ms.  The
transformer layers keep conv7's frames (their positional convolution and
self-attention see the whole slice): they are stamped like conv7.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ...errors import GanphonError, ParameterError
from ...layout import check_entries
from .base import ENCODER_SR, Encoder, LayerTime

#: config.json ``model_type`` values whose feature encoder this module knows.
MODEL_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def conv_geometry(kernels, strides, n_input: int) -> list[tuple[int, int, int]]:
    """``(n, J, R)`` of each conv layer for ``n_input`` samples: samples, stride and receptive field."""
    out, n, jump, field = [], n_input, 1, 1
    for k, s in zip(kernels, strides):
        field += (k - 1) * jump
        jump *= s
        n = (n - k) // s + 1
        out.append((n, jump, field))
    return out


class HFEncoder(Encoder):
    """A local wav2vec 2.0 / HuBERT / WavLM folder as an encoder (``conv1 …``, ``transformer1 …``)."""

    def __init__(self, path):
        folder = Path(path)
        self.network = f"hf:{path}"
        self.path = str(folder)
        config_path = folder / "config.json"
        check_entries(folder)  # a named pipe as config.json or weights would be read for ever
        if not config_path.is_file():
            raise ParameterError("network", f"hf:{path}: no config.json in {folder} (a folder written by "
                                            "save_pretrained, with config.json and the weights)")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GanphonError(f"{config_path}: not a readable JSON config ({exc})") from None
        self.arch = str(config.get("model_type", ""))
        if self.arch not in MODEL_TYPES:
            raise GanphonError(f"{config_path}: model_type {self.arch!r} is not a waveform encoder ganphon "
                               f"knows ({', '.join(MODEL_TYPES)})")
        weights = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
        if not weights:
            raise GanphonError(f"{folder}: no weights ({' or '.join(WEIGHT_FILES)}) beside config.json")
        from ..checkpoint import file_sha256

        self.sha256 = file_sha256(weights[0])
        self.normalize = False
        pre = folder / "preprocessor_config.json"
        if pre.is_file():
            try:
                self.normalize = bool(json.loads(pre.read_text(encoding="utf-8")).get("do_normalize", False))
            except (OSError, ValueError) as exc:
                raise GanphonError(f"{pre}: not a readable JSON config ({exc})") from None
        self.model = self._load(folder)
        cfg = self.model.config
        self.kernels, self.strides = list(cfg.conv_kernel), list(cfg.conv_stride)
        self.sr = ENCODER_SR
        self.n_transformer = len(self.model.encoder.layers)
        self.layers = ([f"conv{i}" for i in range(1, len(self.kernels) + 1)]
                       + [f"transformer{i}" for i in range(1, self.n_transformer + 1)])

    @staticmethod
    def _load(folder: Path):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from transformers import AutoModel
        except ImportError:
            raise ParameterError("network", "hf:PATH needs transformers: pip install 'ganphon[hf]'") from None
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        try:
            model = AutoModel.from_pretrained(str(folder), local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - transformers raises many kinds; one line naming the folder
            raise GanphonError(f"{folder}: transformers cannot load it ({str(exc).splitlines()[0]})") from None
        if not hasattr(model, "feature_extractor") or not hasattr(model, "encoder"):
            raise GanphonError(f"{folder}: {type(model).__name__} has no convolutional feature encoder")
        return model.eval()

    def layer_times(self, slice_len: int) -> dict:
        geometry = conv_geometry(self.kernels, self.strides, slice_len)
        if geometry[-1][0] < 1:
            raise GanphonError(f"a slice of {slice_len} samples is shorter than {self.network}'s receptive "
                               f"field ({geometry[-1][2]} samples)")
        times = {f"conv{i}": LayerTime(n, field / 2 / self.sr, jump / self.sr)
                 for i, (n, jump, field) in enumerate(geometry, start=1)}
        top = times[f"conv{len(geometry)}"]
        times.update({f"transformer{i}": top for i in range(1, self.n_transformer + 1)})
        return times

    def series(self, x, lengths=None, layers=None, device=None) -> dict:
        import torch

        layers = self.check_layers(layers)
        x = np.array(x, dtype=np.float32)
        if self.normalize:
            for b in range(len(x)):
                m = x.shape[1] if lengths is None else int(lengths[b])
                part = x[b, :m]
                x[b, :m] = (part - part.mean()) / np.sqrt(part.var() + 1e-7)
                x[b, m:] = 0.0
        model = self.model.to(device or "cpu")
        captured = {}

        def keep(name):
            def hook(module, inputs, output):
                captured[name] = output[0] if isinstance(output, tuple) else output
            return hook

        modules = {f"conv{i}": m for i, m in enumerate(model.feature_extractor.conv_layers, start=1)}
        modules.update({f"transformer{i}": m for i, m in enumerate(model.encoder.layers, start=1)})
        handles = [modules[name].register_forward_hook(keep(name)) for name in layers]
        try:
            with torch.no_grad():
                model(torch.from_numpy(x).to(device or "cpu"))
        finally:
            for handle in handles:
                handle.remove()
        out = {}
        for name in layers:
            h = captured[name]
            # conv maps are [B, channels, n]; transformer states [B, n, hidden]
            out[name] = (h.mean(dim=1) if name.startswith("conv") else h.mean(dim=2)).float().cpu().numpy()
        return out
