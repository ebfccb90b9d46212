"""Checkpoints: one file holding the config and the state dicts.

A ganphon checkpoint is a plain dict saved with :func:`torch.save` and read
with ``torch.load(..., weights_only=True)``, so loading never runs code::

    {"format": "ganphon", "format_version": 1, "ganphon_version": "…",
     "config": {…ModelConfig…}, "generator": state_dict,
     "critic": state_dict | None, "qnetwork": state_dict | None,
     "training": {… optimiser / RNG / step state …} | None, "meta": {…}}

A generator-only file (``critic`` and ``training`` None, tensors possibly
fp16) is what ganphon ships as its demo model; a Q-network can live in its own
file of the same format with only ``qnetwork`` set.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import GanphonError, first_line
from ..layout import atomic_path, make_folder, refuse_not_a_file
from .config import ModelConfig
from .wavegan import Critic, Generator, QNetwork, build_models

FORMAT = "ganphon"
FORMAT_VERSION = 1


@dataclass
class LoadedModel:
    """What :func:`load_checkpoint` returns."""

    config: ModelConfig
    generator: Generator
    critic: Critic | None = None
    qnetwork: QNetwork | None = None
    training: dict | None = None
    meta: dict = field(default_factory=dict)
    path: Path | None = None
    sha256: str = ""


def file_sha256(path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _version() -> str:
    from .. import __version__

    return __version__


def save_checkpoint(path, config: ModelConfig, generator=None, critic=None, qnetwork=None,
                    training: dict | None = None, meta: dict | None = None, half: bool = False) -> Path:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : path-like
        Target file; written under a temporary name and renamed.
    config : ModelConfig
    generator, critic, qnetwork : nn.Module or state dict, optional
    training : dict, optional
        Optimiser states, step, RNG states — anything ``weights_only`` loading accepts.
    meta : dict, optional
        Free-form plain-data metadata (seed, command, corpus …).
    half : bool
        Store floating-point tensors as fp16 (half the size; loaded back as fp32).
    """

    def sd(m):
        if m is None:
            return None
        state = m.state_dict() if hasattr(m, "state_dict") else m
        state = {k: v.detach().cpu() for k, v in state.items()}
        if half:
            state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
        return state

    blob = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ganphon_version": _version(),
        "config": config.to_dict(),
        "generator": sd(generator),
        "critic": sd(critic),
        "qnetwork": sd(qnetwork),
        "training": training,
        "meta": dict(meta or {}),
    }
    path = Path(path)
    if path.parent and not path.parent.exists():
        make_folder(path.parent)  # a failed command removes the folders it made
    if Path(path).is_dir():
        raise GanphonError(f"{path}: is a folder; give a checkpoint file name such as {Path(path) / 'model.pt'}")
    try:  # a full disk or a size limit is the system's error (atomic_path), anything else torch's words
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)
    except RuntimeError as exc:  # torch reports a missing folder or a failed write this way
        raise GanphonError(f"{path}: cannot write the checkpoint ({first_line(exc)})") from None
    return path


def read_weights_file(path) -> object:
    """``torch.load(path, weights_only=True)`` with one-line errors naming the file."""
    given, path = os.fspath(path), Path(path)
    if not path.exists():
        raise GanphonError(f"{given}: no such checkpoint file")  # as given: Path drops a trailing '/'
    refuse_not_a_file(given, "checkpoint file")  # a folder, or a pipe or device (st_size 0: not "empty")
    if path.stat().st_size == 0:
        raise GanphonError(f"{given}: checkpoint file is empty")
    kind = _file_kind(path)
    if kind is not None:
        raise GanphonError(f"{given}: not a PyTorch checkpoint ({kind})")
    _check_crcs(path, given)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = first_line(exc)
        if "weights_only" in str(exc) or "Unsupported" in str(exc) or "GLOBAL" in str(exc):
            raise GanphonError(
                f"{given}: refused to load: it contains pickled Python objects or code, "
                "not only tensors and plain data"
            ) from None
        raise GanphonError(f"{given}: not a readable checkpoint ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, io.UnsupportedOperation,
            IndexError, KeyError, TypeError, AttributeError) as exc:
        first = first_line(exc)
        raise GanphonError(f"{given}: not a readable checkpoint (truncated or corrupt: {first[:120]})") from None


def _check_crcs(path: Path, given: str) -> None:
    """Refuse a zip checkpoint whose records do not match their CRC-32: ``torch.load`` does not check them, and
    a changed byte in a weight loads as another weight, without an error (0.03 s for 50 MB)."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, zlib.error):
        return  # not a readable zip (a pre-1.6 pickle, a cut file): torch.load's error names it
    if damaged is not None:
        raise GanphonError(f"{given}: a damaged checkpoint: its record {damaged.split('/', 1)[-1]} does not match "
                           "its checksum (the file changed after it was written); copy or write it again")


def _file_kind(path) -> str | None:
    """What a file that is not a PyTorch checkpoint is (None: it may be one).

    PyTorch writes a zip archive (``PK``) or, before 1.6, a pickle stream
    (protocol byte ``0x80``); anything else is named from its first bytes.
    """
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):
        return None
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return "a safetensors file; ganphon reads PyTorch .pt checkpoints"
    known = {b"RIFF": "a WAV file", b"\x89HDF": "an HDF5 file (Keras?)", b"\x93NUMPY": "a NumPy .npy file",
             b"File type": "a Praat text file", b"ooTextFile": "a Praat text file"}
    for magic, what in known.items():
        if head.startswith(magic):
            return what
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return "a text file"
    return "unknown binary data, neither a zip archive nor a pickle"


def _all_finite(v: torch.Tensor) -> bool:
    """Whether every value of a floating-point tensor is finite: its minimum and maximum are (a NaN makes
    both NaN), one pass without the boolean copy ``isfinite(v).all()`` makes."""
    if v.numel() == 0:
        return True
    lo, hi = torch.aminmax(v.reshape(-1))
    return bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))


def _check_finite(state: dict, path, part: str) -> None:
    for k, v in state.items():
        if torch.is_tensor(v) and v.is_floating_point() and not _all_finite(v):
            raise GanphonError(f"{path}: {part} weight {k!r} contains NaN or inf")


def load_state(module: torch.nn.Module, state: dict, path, part: str) -> None:
    if not isinstance(state, dict):
        raise GanphonError(f"{path}: {part} is not a state dict")
    for k, v in state.items():
        if not torch.is_tensor(v):
            raise GanphonError(f"{path}: {part} weight {k!r} is a {type(v).__name__}, not a tensor")
    _check_finite(state, path, part)
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        what = []
        if missing:
            what.append(f"missing {', '.join(missing[:3])}{'…' if len(missing) > 3 else ''}")
        if unexpected:
            what.append(f"unexpected {', '.join(unexpected[:3])}{'…' if len(unexpected) > 3 else ''}")
        raise GanphonError(f"{path}: {part} does not fit its config ({'; '.join(what)})")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape) or (v.is_floating_point() != own[k].is_floating_point()):
            raise GanphonError(
                f"{path}: {part} weight {k!r} has shape {list(v.shape)} ({v.dtype}), the config expects "
                f"{list(own[k].shape)} ({own[k].dtype})"
            )
    weights = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    if any(t.is_meta for t in own.values()):  # a skeleton (see load_checkpoint): the loaded tensors become its own
        module.load_state_dict({k: v.contiguous() for k, v in weights.items()}, assign=True)
    else:
        module.load_state_dict(weights)


#: The fields of a ganphon checkpoint: name → (allowed types, required).
_FIELDS = {"format": ((str,), True), "format_version": ((int,), True), "ganphon_version": ((str, type(None)), False),
           "config": ((dict,), True), "generator": ((dict, type(None)), False), "critic": ((dict, type(None)), False),
           "qnetwork": ((dict, type(None)), False), "training": ((dict, type(None)), False),
           "meta": ((dict, type(None)), False)}


def check_blob(blob, path) -> None:
    """Check a loaded checkpoint dict against the format: every field's type, every state a dict of tensors.

    Raises
    ------
    GanphonError
        Naming the file and the first field that does not fit.
    """
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise GanphonError(f"{path}: not a ganphon checkpoint (no 'format: ganphon' header)")
    for name, (types, required) in _FIELDS.items():
        if name not in blob:
            if required:
                raise GanphonError(f"{path}: checkpoint lacks its '{name}' field")
            continue
        value = blob[name]
        if isinstance(value, bool) or not isinstance(value, types):
            want = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise GanphonError(f"{path}: checkpoint field '{name}' must be {want}, got {type(value).__name__}")
    version = blob["format_version"]
    if version < 1:
        raise GanphonError(f"{path}: checkpoint format_version must be ≥ 1, got {version}")
    if version > FORMAT_VERSION:
        raise GanphonError(f"{path}: written by a newer ganphon (format {version}); upgrade ganphon")
    for part in ("generator", "critic", "qnetwork"):
        state = blob.get(part)
        for key, value in (state or {}).items():
            if not isinstance(key, str) or not torch.is_tensor(value):
                raise GanphonError(f"{path}: {part} weight {key!r} is a {type(value).__name__}, not a tensor")


def _looks_like_peer(blob) -> bool:
    return isinstance(blob, dict) and any(str(k).startswith(("z_project.", "upconv0.", "downconv_0.")) for k in blob)


def load_checkpoint(path, arch: str | None = None, critic: bool = False, qnetwork: bool = True,
                    device: str | torch.device = "cpu") -> LoadedModel:
    """Load a ganphon checkpoint.

    Parameters
    ----------
    path : path-like
        The checkpoint, or ``"demo"`` for the model bundled with ganphon.
    arch : str, optional
        If given, the checkpoint must be of this architecture.
    critic, qnetwork : bool
        Also build the critic / Q-network when the file holds them.
    device : str or torch.device

    Returns
    -------
    LoadedModel
        Modules in eval mode on ``device``.
    """
    if str(path) == "demo":
        from .bundled import demo_checkpoint_path

        if os.path.isfile("demo"):  # the name is the bundled model's: say so rather than pass the file over
            import warnings

            warnings.warn("'demo' is the bundled ciwGAN; the file named demo here is not read (give ./demo for it)",
                          UserWarning, stacklevel=2)
        path = demo_checkpoint_path()
    blob = read_weights_file(path)
    path = Path(path)
    if _looks_like_peer(blob):
        raise GanphonError(
            f"{path}: this is a bare state dict from the ciwganfiwgan-pytorch port; "
            "convert it with 'ganphon import-checkpoint'"
        )
    check_blob(blob, path)
    try:
        config = ModelConfig.from_dict(dict(blob["config"]), source=str(path))
    except (TypeError, KeyError, ValueError) as exc:
        raise GanphonError(f"{path}: invalid model config ({exc})") from None
    except GanphonError as exc:
        raise GanphonError(f"{path}: {exc}") from None
    if arch is not None and config.arch != arch:
        raise GanphonError(f"{path}: holds a {config.arch} model, but a {arch} model was asked for")
    if blob.get("generator") is None:
        raise GanphonError(f"{path}: holds no generator weights")
    # skeletons on the meta device: no random initialisation that the checkpoint's weights would replace
    with torch.device("meta"):
        G, D, Q = build_models(config, critic=True)
    load_state(G, blob["generator"], path, "generator")
    out = LoadedModel(config=config, generator=G.to(device).eval(), training=blob.get("training"),
                      meta=dict(blob.get("meta") or {}), path=path, sha256=file_sha256(path))
    if critic and blob.get("critic") is not None:
        load_state(D, blob["critic"], path, "critic")
        out.critic = D.to(device).eval()
    if qnetwork and Q is not None:
        qstate = blob.get("qnetwork")
        qpath = out.meta.get("qnetwork_file")
        if qstate is None and qpath:
            qfile = path.parent / qpath
            if qfile.exists():
                qblob = read_weights_file(qfile)
                qstate = qblob.get("qnetwork") if isinstance(qblob, dict) else None
        if qstate is not None:
            load_state(Q, qstate, path, "qnetwork")
            out.qnetwork = Q.to(device).eval()
    return out


def new_model(config: ModelConfig, seed: int):
    """Freshly initialised (generator, critic, qnetwork) with a fixed seed.

    The weights depend on ``seed`` alone; torch's global random state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build_models(config, critic=True)
