"""A run's state on disk and in the random generators: checkpoint names, the data
order, every random stream, reading a checkpoint back for an exact resume, and
the training log."""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import numpy as np
import torch

from ..errors import GanphonError, ParameterError
from ..layout import (G_LATEST, LOG_CSV, PREVIEW_DIR, Q_LATEST, atomic_write_text,  # noqa: F401
                      checkpoint_name, checkpoint_step)
from ..models.checkpoint import load_checkpoint, read_weights_file
from ..models.config import ModelConfig
from .config import TrainConfig

LOG_COLUMNS = ("step", "time", "d_loss", "g_loss", "q_loss", "gp", "q_acc", "wasserstein")

# Independent random streams, each seeded from (seed, stream, rank).
_STREAM_DATA, _STREAM_LATENT, _STREAM_GLOBAL, _STREAM_PREVIEW = 1, 2, 3, 4


def derive_seed(seed: int, stream: int, rank: int = 0) -> int:
    """A 63-bit seed for one random stream of one process, from the run's seed."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(seed) >> 32 & 0xFFFFFFFF, stream, rank])
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))


def list_checkpoints(run_dir) -> list[tuple[int, Path]]:
    """``(step, path)`` of every full checkpoint in ``run_dir``, oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for p in run_dir.iterdir():
        step = checkpoint_step(p.name)
        if step is not None and p.is_file():
            found.append((step, p))
    return sorted(found)


def latest_checkpoint(run_dir) -> Path | None:
    """The full checkpoint with the highest step in ``run_dir``, or None."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


class DataOrder:
    """Epochs of seeded permutations of ``n`` items, read in order across epochs."""

    def __init__(self, n: int, seed: int):
        self.n = n
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.perm = torch.randperm(n, generator=self.generator)
        self.pos = 0

    def take(self, k: int) -> torch.Tensor:
        parts = []
        while k > 0:
            if self.pos == self.n:
                self.perm = torch.randperm(self.n, generator=self.generator)
                self.pos = 0
                self.epoch += 1
            m = min(k, self.n - self.pos)
            parts.append(self.perm[self.pos : self.pos + m])
            self.pos += m
            k -= m
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def state_dict(self) -> dict:
        return {"n": self.n, "generator": self.generator.get_state(), "epoch": self.epoch,
                "perm": self.perm.clone(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.epoch = int(state["epoch"])
        self.perm = state["perm"].clone()
        self.pos = int(state["pos"])


def _rng_state(latent_gen: torch.Generator) -> dict:
    """Every random state of this process as plain data (``weights_only`` loadable)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": np_state[0], "keys": [int(v) for v in np_state[1]], "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "latent": latent_gen.get_state(),
    }


def _set_rng_state(state: dict, latent_gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], np.array(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    latent_gen.set_state(state["latent"])


def _seed_process(seed: int, rank: int, latent_gen: torch.Generator) -> None:
    torch.manual_seed(derive_seed(seed, _STREAM_GLOBAL, rank))
    np.random.seed(derive_seed(seed, _STREAM_GLOBAL, rank) % 2**32)
    random.seed(derive_seed(seed, _STREAM_GLOBAL, rank))
    latent_gen.manual_seed(derive_seed(seed, _STREAM_LATENT, rank))


def _params_finite(*modules) -> bool:
    return all(torch.isfinite(p).all() for m in modules if m is not None for p in m.parameters())


def _peek(path: Path) -> dict:
    """The blob of a full training checkpoint, validated enough to resume from."""
    blob = read_weights_file(path)
    if not isinstance(blob, dict) or blob.get("format") != "ganphon":
        raise GanphonError(f"{path}: not a ganphon checkpoint (no 'format: ganphon' header)")
    training = blob.get("training")
    if not isinstance(training, dict):
        raise GanphonError(f"{path}: holds no training state (a generator-only file?); "
                           "resume from a ckpt_step*.pt file")
    needed = ("step", "optimizers", "rng", "data_order", "train_config")
    missing = [k for k in needed if k not in training]
    if missing:
        raise GanphonError(f"{path}: training state is incomplete (missing {', '.join(missing)})")
    return blob


#: The model fields a training request may give; on resume, those not given are the checkpoint's.
MODEL_FIELDS = ("arch", "n_codes", "dim", "slice_len", "upsample", "postproc_len")
#: The optimisation fields that, not given, are the checkpoint's on resume (the others are the run's own).
RESUMED_FIELDS = ("batch_size", "n_critic", "lambda_gp", "lr", "betas", "q_lr", "seed")


def resume_request(out, resume=None, model: dict | None = None, settings: dict | None = None, init_from=None):
    """What a run trains, resumed or fresh: (checkpoint to resume or None, ModelConfig or None, TrainConfig).

    Parameters
    ----------
    out : path-like
        The run folder.
    resume : {None, "latest", "auto"} or path-like
        ``latest``: its newest checkpoint (an error if there is none); ``auto``:
        that, or a fresh start when there is none; a path: that checkpoint.
    model : dict, optional
        :data:`MODEL_FIELDS` given (a None value: not given).  On resume the
        fields not given are the checkpoint's, and with none given the config
        is None (:func:`ganphon.train.train` takes the checkpoint's); fresh,
        :class:`~ganphon.models.config.ModelConfig`'s defaults.
    settings : dict, optional
        :class:`TrainConfig` fields.  Those of :data:`RESUMED_FIELDS` that are
        None are the checkpoint's on resume (else the defaults); the others
        are taken as given.
    init_from : path-like or "demo", optional
        The checkpoint a fresh run starts from: its model is the base of the
        fields not given (instead of ModelConfig's defaults).

    Raises
    ------
    ParameterError
        ``resume``: ``latest`` without a checkpoint; ``n_codes``: a ciwGAN or
        fiwGAN without codes.
    """
    model = {k: v for k, v in (model or {}).items() if v is not None}
    settings = dict(settings or {})
    unknown = sorted(set(model) - set(MODEL_FIELDS))
    if unknown:
        raise ParameterError("model", f"no model field {', '.join(unknown)} (fields: {', '.join(MODEL_FIELDS)})")
    saved_config = saved = None
    if resume is not None:
        path = latest_checkpoint(out) if str(resume) in ("latest", "auto") else Path(resume)
        if path is None and str(resume) == "latest":
            raise ParameterError("resume", f"{out}: no checkpoint (ckpt_step*.pt) to resume from; "
                                           "'auto' starts fresh when there is none")
        resume = None if path is None else str(path)
        if path is not None:
            saved_config, saved, _ = read_training_state(path)
    config = None
    if saved_config is None and init_from is not None:
        saved_config = load_checkpoint(init_from, critic=False, qnetwork=False).config
        resume_base = False
    else:
        resume_base = saved_config is not None
    if not resume_base or model:
        base = saved_config or ModelConfig()
        arch = model.get("arch", base.arch)
        if arch != "wavegan" and model.get("n_codes", base.n_codes) == 0:
            raise ParameterError("n_codes", f"arch {arch} needs the number of codes (categories or bits)")
        config = dataclasses.replace(base, **model)
    source = saved or TrainConfig()
    for name in RESUMED_FIELDS:
        if settings.get(name) is None:
            settings[name] = getattr(source, name)
    settings["betas"] = tuple(settings["betas"])
    return resume, config, TrainConfig(**settings)


def read_training_state(path) -> tuple[ModelConfig, TrainConfig, dict]:
    """The model config, training settings and training dict of a full checkpoint.

    Parameters
    ----------
    path : path-like
        A ``ckpt_step*.pt`` file.

    Returns
    -------
    config : ModelConfig
    settings : TrainConfig
        The settings the checkpoint was trained with.
    training : dict
        Step, optimiser and random states, data order, last losses.
    """
    path = Path(path)
    blob = _peek(path)
    try:
        config = ModelConfig.from_dict(dict(blob["config"]), source=str(path))
        tc = dict(blob["training"]["train_config"])
        tc["betas"] = tuple(tc["betas"])
        settings = TrainConfig(**tc)
    except (TypeError, KeyError, ValueError) as exc:
        raise GanphonError(f"{path}: invalid settings in checkpoint ({exc})") from None
    return config, settings, blob["training"]


def _write_log_header(path: Path) -> None:
    atomic_write_text(path, ",".join(LOG_COLUMNS) + "\n")


def _truncate_log(path: Path, step: int) -> None:
    """Drop rows logged after ``step`` (a run stopped after its last checkpoint)."""
    if not path.exists():
        _write_log_header(path)
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    keep = [",".join(LOG_COLUMNS)]
    for line in lines[1:]:
        head = line.split(",", 1)[0]
        if head.isdigit() and int(head) <= step:
            keep.append(line)
    atomic_write_text(path, "\n".join(keep) + "\n")


def _fmt(v: float) -> str:
    return "" if not math.isfinite(v) else f"{v:.6g}"
