"""How to train: :class:`TrainConfig` (the paper's settings by default) and :class:`TrainResult`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import ParameterError
from ..models.latent import FLOAT32_MAX

# Settings that shape the optimisation (may be changed on resume, with a note).
OPTIM_FIELDS = ("batch_size", "n_critic", "lambda_gp", "lr", "betas", "q_lr")
#: The most critic steps per generator step: beyond it one step of --steps 1 would run for days
#: (WGAN-GP uses 5; every count of the loop's work per step has a bound, see the CLI's options)
MAX_N_CRITIC = 100


@dataclass
class TrainConfig:
    """How to train: the optimisation and the run's bookkeeping.

    Attributes
    ----------
    steps : int
        Generator updates to reach (a resumed run continues up to this total).
    batch_size : int
        Items per critic / generator update, summed over all processes.
    n_critic : int
        Critic updates per generator update.
    lambda_gp : float
        Weight of the gradient penalty.
    lr : float
        Adam learning rate of G and D.
    betas : tuple of float
        Adam betas of G and D.
    q_lr : float
        RMSProp learning rate of the Q loss (over Q and G).
    seed : int
        Seeds model initialisation, data order, latents and phase shuffle.
    checkpoint_every : int
        Write a checkpoint every this many steps (0: only by time and at the end).
    checkpoint_minutes : float
        Also write one when this many minutes passed since the last (0: never by time).
    keep : int
        Full checkpoints kept (the oldest are deleted).
    preview_every : int or None
        Steps between previews; None: with every checkpoint; 0: never.
    log_every : int
        Steps between rows of ``train_log.csv``.
    device : str or None
        ``cpu`` or ``cuda`` (None: cuda when present).
    bf16 : bool
        bfloat16 autocast on CUDA.
    compile : bool
        ``torch.compile`` the generator and critic.
    threads : int or None
        torch's CPU threads during the run (None: leave as they are); restored afterwards.
    """

    steps: int = 100_000
    batch_size: int = 64
    n_critic: int = 5
    lambda_gp: float = 10.0
    lr: float = 1e-4
    betas: tuple = (0.5, 0.9)
    q_lr: float = 1e-4
    seed: int = 0
    checkpoint_every: int = 1000
    checkpoint_minutes: float = 30.0
    keep: int = 3
    preview_every: int | None = None
    log_every: int = 10
    device: str | None = None
    bf16: bool = False
    compile: bool = False
    threads: int | None = None

    def validate(self) -> None:
        checks = [
            (self.steps >= 1, "steps", f"must be at least 1, got {self.steps}"),
            (self.batch_size >= 1, "batch_size", f"must be at least 1, got {self.batch_size}"),
            (1 <= self.n_critic <= MAX_N_CRITIC, "n_critic",
             f"must be from 1 to {MAX_N_CRITIC} critic steps per generator step (WGAN-GP's is 5), got {self.n_critic}"),
            (self.lambda_gp >= 0, "lambda_gp", f"must be >= 0, got {self.lambda_gp}"),
            (self.lr > 0, "lr", f"must be positive, got {self.lr}"),
            (self.q_lr > 0, "q_lr", f"must be positive, got {self.q_lr}"),
            *((value <= FLOAT32_MAX, name, f"must be a float32 number (the weights' type), got {value}")
              for name, value in (("lambda_gp", self.lambda_gp), ("lr", self.lr), ("q_lr", self.q_lr))),
            (len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
             "betas", f"must be two numbers in [0, 1), got {self.betas}"),
            (self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0"),
            (self.checkpoint_minutes >= 0, "checkpoint_minutes", "must be >= 0"),
            (self.keep >= 1, "keep", f"must be at least 1, got {self.keep}"),
            (self.preview_every is None or self.preview_every >= 0, "preview_every", "must be >= 0"),
            (self.log_every >= 1, "log_every", f"must be at least 1, got {self.log_every}"),
            (self.threads is None or self.threads >= 1, "threads", f"must be at least 1, got {self.threads}"),
        ]
        for ok, parameter, problem in checks:
            if not ok:
                raise ParameterError(parameter, problem)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = [float(b) for b in self.betas]
        return d


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    step: int
    generator: torch.nn.Module
    critic: torch.nn.Module
    qnetwork: torch.nn.Module | None
    checkpoint: Path | None
    stopped_by: str | None = None  # "SIGINT" / "SIGTERM" / "SIGHUP" when a signal ended the run
    steps_per_s: float = float("nan")
    losses: dict = field(default_factory=dict)
