"""A run's state on disk and in the random generators: checkpoint names, the data
order, every random stream, reading a checkpoint back for an exact resume, and
the training log."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import torch

from ..errors import GanphonError
from ..layout import (G_LATEST, LOG_CSV, PREVIEW_DIR, Q_LATEST, atomic_write_text,  # noqa: F401
                      checkpoint_name, checkpoint_step)
from ..models.checkpoint import read_weights_file
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
