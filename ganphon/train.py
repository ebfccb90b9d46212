"""Training: WGAN-GP for WaveGAN, ciwGAN and fiwGAN, written out plainly.

One critic step (:func:`critic_step`), one generator step (:func:`generator_step`,
which also trains the Q-network of ciwGAN / fiwGAN) and a loop (:func:`train`)::

    for step in range(start, steps):
        for _ in range(n_critic):            # 5 critic updates ...
            critic_step(run, next_batch())   # Wasserstein loss + λ·gradient penalty, Adam
        generator_step(run)                  # ... per generator update: −D(G(z)), Adam;
                                             # Q loss, RMSProp over Q and G

Settings follow the TensorFlow originals (SPEC §2): λ = 10, α ~ U(0, 1) per
example, Adam lr 1e-4, β = (0.5, 0.9) for G and D, batch 64; the Q loss is the
softmax cross-entropy of the code category (ciwGAN) or the sigmoid
cross-entropy of the bits (fiwGAN), minimised by RMSProp (lr 1e-4, decay 0.9
as TensorFlow's RMSPropOptimizer) over the Q *and* G parameters, from the same
generated batch as the generator update.

Data order: epochs of permutations drawn from a seeded ``torch.Generator``;
batches run on across epoch boundaries, so every item is seen once per epoch
and nothing is cropped.  Latents and the gradient-penalty mixing weights come
from a second seeded generator; phase shuffle uses torch's global generator,
seeded too.  All of these states, the optimisers and the step are saved in
every checkpoint, so ``--resume`` continues bit-identically on the CPU.

Several processes (``torchrun --nproc_per_node N -m ganphon train …``): each
rank reads the same permutation and takes its own contiguous share of every
batch.  Gradients are averaged across ranks by an explicit all-reduce after
each backward pass instead of a DistributedDataParallel wrapper: the gradient
penalty differentiates the critic twice (``create_graph=True``) and the
generator step takes two gradients of G (the Wasserstein loss for Adam, the Q
loss for RMSProp), neither of which fits DDP's one-backward-per-forward hooks.
Only rank 0 writes files; checkpoints gather every rank's random states, so a
resume with the same number of processes continues each rank's streams.

Run folder::

    ckpt_step0001000.pt    full checkpoint (models, optimisers, RNG, data order); last K kept
    G_latest.pt            fp16 generator of the latest checkpoint (meta names Q_latest.pt)
    Q_latest.pt            fp16 Q-network of the latest checkpoint (ciwGAN / fiwGAN)
    train_log.csv          step, time, d_loss, g_loss, q_loss, gp, q_acc, wasserstein
    preview/step0001000/   a few WAVs from fixed latents (one per code) and preview.png
    run.json               command, seed, versions, model and training settings
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import platform
import random
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import GanphonError
from .layout import RUN_JSON, atomic_path, atomic_write_text
from .models.checkpoint import load_checkpoint, read_weights_file, save_checkpoint
from .models.config import ARCHS, ModelConfig
from .models.latent import Latent
from .models.wavegan import build_models

LOG_CSV = "train_log.csv"
LOG_COLUMNS = ("step", "time", "d_loss", "g_loss", "q_loss", "gp", "q_acc", "wasserstein")
G_LATEST = "G_latest.pt"
Q_LATEST = "Q_latest.pt"
PREVIEW_DIR = "preview"
_CKPT = re.compile(r"^ckpt_step(\d+)\.pt$")

# Independent random streams, each seeded from (seed, stream, rank).
_STREAM_DATA, _STREAM_LATENT, _STREAM_GLOBAL, _STREAM_PREVIEW = 1, 2, 3, 4

# Settings that shape the optimisation (may be changed on resume, with a note).
OPTIM_FIELDS = ("batch_size", "n_critic", "lambda_gp", "lr", "betas", "q_lr")


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

    def validate(self) -> None:
        checks = [
            (self.steps >= 1, f"--steps must be at least 1, got {self.steps}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
            (self.n_critic >= 1, f"--n-critic must be at least 1, got {self.n_critic}"),
            (self.lambda_gp >= 0, f"--lambda-gp must be >= 0, got {self.lambda_gp}"),
            (self.lr > 0 and self.q_lr > 0, "learning rates must be positive"),
            (len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
             f"--betas must be two numbers in [0, 1), got {self.betas}"),
            (self.checkpoint_every >= 0, "--checkpoint-every must be >= 0"),
            (self.checkpoint_minutes >= 0, "--checkpoint-minutes must be >= 0"),
            (self.keep >= 1, f"--keep must be at least 1, got {self.keep}"),
            (self.preview_every is None or self.preview_every >= 0, "--preview-every must be >= 0"),
            (self.log_every >= 1, f"--log-every must be at least 1, got {self.log_every}"),
        ]
        for ok, message in checks:
            if not ok:
                raise GanphonError(message)

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
    stopped_by: str | None = None  # "SIGINT" / "SIGTERM" when a signal ended the run
    steps_per_s: float = float("nan")
    losses: dict = field(default_factory=dict)


# ------------------------------------------------------------------ helpers

def derive_seed(seed: int, stream: int, rank: int = 0) -> int:
    """A 63-bit seed for one random stream of one process, from the run's seed."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(seed) >> 32 & 0xFFFFFFFF, stream, rank])
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))


def checkpoint_name(step: int) -> str:
    """File name of the full checkpoint after ``step`` generator updates."""
    return f"ckpt_step{step:07d}.pt"


def list_checkpoints(run_dir) -> list[tuple[int, Path]]:
    """``(step, path)`` of every full checkpoint in ``run_dir``, oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for p in run_dir.iterdir():
        m = _CKPT.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(run_dir) -> Path | None:
    """The full checkpoint with the highest step in ``run_dir``, or None."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def _versions() -> dict:
    from . import __version__

    return {"ganphon": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__}


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


# ------------------------------------------------------------------ one run's state

@dataclass
class Run:
    """Everything the two update steps touch."""

    config: ModelConfig
    settings: TrainConfig
    G: torch.nn.Module
    D: torch.nn.Module
    Q: torch.nn.Module | None
    G_fwd: torch.nn.Module  # G or its compiled wrapper
    D_fwd: torch.nn.Module  # D or its compiled wrapper (the gradient penalty always uses D)
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    opt_Q: torch.optim.Optimizer | None
    latent: Latent
    latent_gen: torch.Generator
    device: torch.device
    local_batch: int
    world: int = 1
    rank: int = 0

    def autocast(self):
        if self.settings.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def sample_latents(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` training latents ``[codes, U(-1, 1) noise]`` and their codes."""
        k = self.latent.n_codes
        noise = torch.rand(n, self.latent.latent_dim - k, generator=self.latent_gen) * 2 - 1
        if k == 0:
            return noise.to(self.device), None
        codes = self.latent.random_codes(n, self.latent_gen)
        return torch.cat([codes, noise], dim=1).to(self.device), codes.to(self.device)


def _average_gradients(params, world: int) -> None:
    """All-reduce and average the gradients of ``params`` across processes."""
    if world == 1:
        return
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def critic_step(run: Run, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One critic update on a batch of real items ``[b, 1, L]``.

    Loss ``D(fake) − D(real) + λ · (‖∇D(x̂)‖ − 1)²`` with ``x̂ = α·real + (1 − α)·fake``,
    ``α ~ U(0, 1)`` per example.  Returns (loss, gradient penalty, Wasserstein
    estimate ``D(real) − D(fake)``) as detached scalars.
    """
    b = real.shape[0]
    z, _ = run.sample_latents(b)
    alpha = torch.rand(b, 1, 1, generator=run.latent_gen).to(run.device)
    with torch.no_grad(), run.autocast():
        fake = run.G_fwd(z).float()
    with run.autocast():
        d_real = run.D_fwd(real).float().mean()
        d_fake = run.D_fwd(fake).float().mean()
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    with run.autocast():
        d_mixed = run.D(mixed).float()
    (grad,) = torch.autograd.grad(d_mixed.sum(), mixed, create_graph=True)
    gp = ((grad.float().flatten(1).norm(2, dim=1) - 1) ** 2).mean()
    wasserstein = d_real - d_fake
    loss = -wasserstein + run.settings.lambda_gp * gp
    run.opt_D.zero_grad(set_to_none=True)
    loss.backward()
    _average_gradients(run.D.parameters(), run.world)
    run.opt_D.step()
    return loss.detach(), gp.detach(), wasserstein.detach()


def q_loss_and_accuracy(arch: str, logits: torch.Tensor, codes: torch.Tensor):
    """ciwGAN: softmax cross-entropy of the category; fiwGAN: sigmoid cross-entropy of the bits."""
    if arch == "ciwgan":
        target = codes.argmax(dim=1)
        loss = F.cross_entropy(logits, target)
        acc = (logits.argmax(dim=1) == target).float().mean()
    else:
        loss = F.binary_cross_entropy_with_logits(logits, codes)
        acc = ((logits > 0) == (codes > 0.5)).float().mean()
    return loss, acc


def generator_step(run: Run) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One generator update (and, for ciwGAN / fiwGAN, one Q update).

    G takes an Adam step on ``−D(G(z))``; the Q loss on the same ``G(z)`` takes
    an RMSProp step over the Q and G parameters.  Both gradients are taken at
    the same parameters before either step.  Returns (g_loss, q_loss, q_acc),
    the last two NaN for WaveGAN.
    """
    b = run.local_batch
    z, codes = run.sample_latents(b)
    run.D.requires_grad_(False)  # the critic is a fixed judge here: no weight gradients
    try:
        with run.autocast():
            fake = run.G_fwd(z)
            g_loss = -run.D_fwd(fake).float().mean()
        g_params = list(run.G.parameters())
        nan = torch.tensor(float("nan"), device=run.device)
        if run.Q is None:
            run.opt_G.zero_grad(set_to_none=True)
            g_loss.backward()
            _average_gradients(g_params, run.world)
            run.opt_G.step()
            return g_loss.detach(), nan, nan
        with run.autocast():
            logits = run.Q(fake).float()
        q_loss, q_acc = q_loss_and_accuracy(run.config.arch, logits, codes)
        g_grads = torch.autograd.grad(g_loss, g_params, retain_graph=True)
        run.opt_Q.zero_grad(set_to_none=True)
        run.opt_G.zero_grad(set_to_none=True)
        q_loss.backward()
        _average_gradients([*g_params, *run.Q.parameters()], run.world)
        run.opt_Q.step()
        for p, g in zip(g_params, g_grads):
            p.grad = g
        _average_gradients(g_params, run.world)
        run.opt_G.step()
        return g_loss.detach(), q_loss.detach(), q_acc.detach()
    finally:
        run.D.requires_grad_(True)


# ------------------------------------------------------------------ checkpoints, logs, previews

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


def preview_latents(config: ModelConfig, seed: int) -> tuple[torch.Tensor, list[str]]:
    """Fixed preview latents: one per ciwGAN category, up to 8 fiwGAN bit patterns, 4 WaveGAN draws.

    Every row shares one noise vector when there are codes, so the previews
    differ by code alone.
    """
    latent = Latent(config)
    pseed = derive_seed(seed, _STREAM_PREVIEW)
    if config.arch == "wavegan":
        return latent.sample(4, seed=pseed), [f"sample{i}" for i in range(1, 5)]
    base = latent.sample(1, seed=pseed)[0]
    rows, names = [], []
    if config.arch == "ciwgan":
        for i in range(1, config.n_codes + 1):
            rows.append(latent.build(code=i, base=base))
            names.append(f"code{i}")
    else:
        for i in range(min(2**config.n_codes, 8)):
            bits = [(i >> j) & 1 for j in range(config.n_codes)]
            rows.append(latent.build(code=[float(b) for b in bits], base=base))
            names.append("code_" + "".join(str(b) for b in bits))
    return torch.stack(rows), names


def write_preview(G: torch.nn.Module, config: ModelConfig, seed: int, step: int, run_dir: Path) -> Path:
    """Generate the preview samples and write their WAVs and ``preview.png``."""
    import scipy.io.wavfile

    from .plots import plot_preview

    z, names = preview_latents(config, seed)
    was_training = G.training
    G.eval()
    try:
        with torch.no_grad():
            device = next(G.parameters()).device
            waves = G(z.to(device)).float().cpu().numpy()[:, 0]
    finally:
        G.train(was_training)
    folder = run_dir / PREVIEW_DIR / f"step{step:07d}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, w in zip(names, waves):
        with atomic_path(folder / f"{name}.wav") as tmp:
            scipy.io.wavfile.write(tmp, config.sr, w.astype(np.float32))
    return plot_preview(waves, names, config.sr, folder / "preview.png", title=f"step {step}")


# ------------------------------------------------------------------ the loop

def _load_items(data, config: ModelConfig, progress: bool):
    if isinstance(data, (np.ndarray, torch.Tensor)):
        items = torch.as_tensor(np.asarray(data, dtype=np.float32))
        if items.dim() != 2 or items.shape[1] != config.slice_len:
            raise GanphonError(f"training items must have shape [N, {config.slice_len}], got {list(items.shape)}")
        return items, f"{items.shape[0]} items (array)"
    from .corpus.folder import load_folder

    items, report = load_folder(data, slice_len=config.slice_len, sr=config.sr, strict=False, progress=progress)
    return torch.from_numpy(items), report.summary()


def _resolve_device(name: str | None, local_rank: int) -> torch.device:
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GanphonError("--device cuda asked for, but torch sees no CUDA device")
        if name == "cuda":
            return torch.device("cuda", local_rank % torch.cuda.device_count())
    elif name != "cpu":
        raise GanphonError(f"unknown device {name!r}; use cpu or cuda")
    return torch.device(name)


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return rank, world, local


class _StopFlag:
    """SIGINT / SIGTERM set a flag; the loop checkpoints at the next step boundary."""

    def __init__(self):
        self.signal_name: str | None = None
        self._previous = {}

    def _handle(self, signum, frame):
        if self.signal_name == "SIGINT" and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without a checkpoint
        self.signal_name = signal.Signals(signum).name

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _compare_configs(path: Path, saved: ModelConfig, wanted: ModelConfig) -> None:
    a, b = saved.to_dict(), wanted.to_dict()
    diff = [f"{k} {a[k]!r} → {b[k]!r}" for k in a if a[k] != b.get(k)]
    if diff:
        raise GanphonError(f"{path}: the checkpoint's model differs from the one asked for "
                           f"({'; '.join(diff)}); resume with the same architecture or use a new --out")


def train(data, out, config: ModelConfig | None = None, settings: TrainConfig | None = None, *,
          resume: str | os.PathLike | None = None, command: str | None = None,
          progress: bool = True) -> TrainResult:
    """Train a WaveGAN / ciwGAN / fiwGAN with WGAN-GP.

    Parameters
    ----------
    data : path-like or array
        A folder of WAV files (read with :func:`ganphon.corpus.folder.load_folder`)
        or an array of items, shape [N, slice_len].
    out : path-like
        Run folder for checkpoints, logs and previews.
    config : ModelConfig, optional
        The model.  Required for a fresh run; on resume it must equal the
        checkpoint's (None: take the checkpoint's).
    settings : TrainConfig, optional
        Training settings (default: the paper's).  On resume the seed must
        equal the checkpoint's; changed optimisation settings are applied and noted.
    resume : {None, "latest", "auto"} or path-like
        ``"latest"``: continue from the newest ``ckpt_step*.pt`` in ``out`` (an
        error if there is none); ``"auto"``: the same, or a fresh start when
        there is none; a path: continue from that checkpoint.
    command : str, optional
        The command line, recorded in ``run.json`` and the checkpoints.
    progress : bool
        Show a progress bar (rank 0 only).

    Returns
    -------
    TrainResult
        Final step, the trained modules, the last checkpoint written and, when
        a signal ended the run, its name.

    Raises
    ------
    GanphonError
        Bad settings, an unreadable or mismatching checkpoint, or a non-finite
        loss (the run stops; the last good checkpoint stays the latest).
    """
    settings = dataclasses.replace(settings) if settings is not None else TrainConfig()
    settings.validate()
    out = Path(out)
    rank, world, local_rank = _distributed()
    device = _resolve_device(settings.device, local_rank)
    if settings.bf16 and device.type != "cuda":
        raise GanphonError("--bf16 needs --device cuda")
    if settings.batch_size % world:
        raise GanphonError(f"--batch-size {settings.batch_size} does not split evenly over {world} processes")

    resume_path = None
    if resume is not None:
        if str(resume) in ("latest", "auto"):
            resume_path = latest_checkpoint(out)
            if resume_path is None and str(resume) == "latest":
                raise GanphonError(f"{out}: no checkpoint (ckpt_step*.pt) to resume from; "
                                   "use --resume auto to start fresh when there is none")
        else:
            resume_path = Path(resume)
    if resume_path is None and config is None:
        raise GanphonError("a fresh run needs a model config (--arch, --codes, --dim)")
    if resume_path is None and list_checkpoints(out):
        raise GanphonError(f"{out}: already holds checkpoints; pass --resume to continue that run "
                           "or choose another --out")

    notes = []
    if resume_path is not None:
        saved_config, saved_settings, training = read_training_state(resume_path)
        if config is not None:
            _compare_configs(resume_path, saved_config, config)
        config = saved_config
        if settings.seed != saved_settings.seed:
            raise GanphonError(f"{resume_path}: trained with seed {saved_settings.seed}, not {settings.seed}; "
                               "a resumed run keeps its seed")
        for name in OPTIM_FIELDS:
            before, now = getattr(saved_settings, name), getattr(settings, name)
            if tuple(np.atleast_1d(before)) != tuple(np.atleast_1d(now)):
                notes.append(f"{name} changed from {before} to {now}")

    distributed_here = False
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
            distributed_here = True
    try:
        return _train(data, out, config, settings, resume_path, command, progress and rank == 0,
                      rank, world, device, notes)
    finally:
        if distributed_here:
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(data, out, config, settings, resume_path, command, progress, rank, world, device, notes):
    from tqdm import tqdm

    is_main = rank == 0
    items, data_summary = _load_items(data, config, progress)
    n_items = items.shape[0]
    # Small corpora live on the device; index there and skip a copy per batch.
    if device.type == "cuda" and items.numel() * 4 < 4 * 2**30:
        items = items.to(device)

    torch.manual_seed(settings.seed)
    G, D, Q = build_models(config, critic=True)
    G, D = G.to(device).train(), D.to(device).train()
    Q = Q.to(device).train() if Q is not None else None
    opt_G = torch.optim.Adam(G.parameters(), lr=settings.lr, betas=tuple(settings.betas))
    opt_D = torch.optim.Adam(D.parameters(), lr=settings.lr, betas=tuple(settings.betas))
    # TensorFlow's RMSPropOptimizer defaults: decay 0.9, epsilon 1e-10.
    opt_Q = (torch.optim.RMSprop([*Q.parameters(), *G.parameters()], lr=settings.q_lr, alpha=0.9, eps=1e-10)
             if Q is not None else None)
    latent_gen = torch.Generator()
    order = DataOrder(n_items, derive_seed(settings.seed, _STREAM_DATA))
    _seed_process(settings.seed, rank, latent_gen)

    start_step, elapsed0, last_losses = 0, 0.0, {}
    if resume_path is not None:
        loaded = load_checkpoint(resume_path, critic=True, qnetwork=True, device=device)
        if loaded.critic is None or (Q is not None and loaded.qnetwork is None):
            raise GanphonError(f"{resume_path}: holds no critic or Q-network weights; cannot resume training")
        G.load_state_dict(loaded.generator.state_dict())
        D.load_state_dict(loaded.critic.state_dict())
        if Q is not None:
            Q.load_state_dict(loaded.qnetwork.state_dict())
        training = loaded.training
        try:
            opt_G.load_state_dict(training["optimizers"]["generator"])
            opt_D.load_state_dict(training["optimizers"]["critic"])
            if opt_Q is not None:
                opt_Q.load_state_dict(training["optimizers"]["qnetwork"])
            if int(training["data_order"]["n"]) != n_items:
                raise GanphonError(f"{resume_path}: was trained on {training['data_order']['n']} items, "
                                   f"the data now has {n_items}; resume on the same corpus")
            order.load_state_dict(training["data_order"])
            rngs = training["rng"]
            if len(rngs) == world:
                _set_rng_state(rngs[rank], latent_gen)
            else:
                notes.append(f"{len(rngs)} process(es) wrote the checkpoint, {world} resume it: "
                             "random streams re-seeded")
                step_seed = derive_seed(settings.seed, int(training["step"]), world)
                _seed_process(step_seed, rank, latent_gen)
            start_step = int(training["step"])
            elapsed0 = float(training.get("elapsed_s", 0.0))
            last_losses = dict(training.get("losses") or {})
        except GanphonError:
            raise
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as exc:
            raise GanphonError(f"{resume_path}: training state does not fit this run "
                               f"({type(exc).__name__}: {str(exc)[:120]})") from None
        # The optimiser states carry their saved hyper-parameters; the settings asked for win.
        for opt in (opt_G, opt_D):
            for group in opt.param_groups:
                group["lr"], group["betas"] = settings.lr, tuple(settings.betas)
        if opt_Q is not None:
            for group in opt_Q.param_groups:
                group["lr"] = settings.q_lr

    G_fwd, D_fwd = G, D
    if settings.compile:
        import torch._dynamo.config as dynamo_config

        # Phase shuffle draws its shift with .item(): one graph per (shift, layer) pair, 5 × 4 of them.
        dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, 64)
        # The generator step takes two gradients through one compiled G forward (retain_graph).
        torch._functorch.config.donated_buffer = False
        G_fwd, D_fwd = torch.compile(G), torch.compile(D)

    local_batch = settings.batch_size // world
    run = Run(config=config, settings=settings, G=G, D=D, Q=Q, G_fwd=G_fwd, D_fwd=D_fwd,
              opt_G=opt_G, opt_D=opt_D, opt_Q=opt_Q, latent=Latent(config), latent_gen=latent_gen,
              device=device, local_batch=local_batch, world=world, rank=rank)

    log_path = out / LOG_CSV
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        if resume_path is not None:
            _truncate_log(log_path, start_step)
        else:
            _write_log_header(log_path)
        _write_run_json(out, command, config, settings, data, data_summary, world, device, resume_path)
        for note in notes:
            print(f"ganphon: {note}", file=sys.stderr)
        where = f"step {start_step} of {resume_path.name}" if resume_path else "a fresh model"
        print(f"ganphon: training {config.arch} d={config.dim} on {data_summary}; from {where}; "
              f"{world} process(es) on {device.type}", file=sys.stderr)

    meta = {"seed": settings.seed, "command": command or "", "data": str(data) if not
            isinstance(data, (np.ndarray, torch.Tensor)) else "array", "data_summary": data_summary}
    last_ckpt = resume_path
    if start_step >= settings.steps:
        if is_main:
            print(f"ganphon: already at step {start_step} (--steps {settings.steps}); nothing to do",
                  file=sys.stderr)
        return TrainResult(step=start_step, generator=G, critic=D, qnetwork=Q, checkpoint=last_ckpt,
                           losses=last_losses)

    def checkpoint(step: int, losses: dict, elapsed: float) -> Path | None:
        rngs = [_rng_state(latent_gen)]
        if world > 1:
            import torch.distributed as dist

            gathered = [None] * world if is_main else None
            dist.gather_object(rngs[0], gathered, dst=0)
            rngs = gathered
        if not is_main:
            return None
        training = {
            "step": step,
            "optimizers": {"generator": opt_G.state_dict(), "critic": opt_D.state_dict(),
                           "qnetwork": opt_Q.state_dict() if opt_Q is not None else None},
            "rng": rngs, "data_order": order.state_dict(), "losses": losses,
            "train_config": settings.to_dict(), "elapsed_s": elapsed, "world_size": world,
        }
        path = save_checkpoint(out / checkpoint_name(step), config, G, D, Q, training=training,
                               meta={**meta, "step": step})
        if Q is not None:
            save_checkpoint(out / Q_LATEST, config, qnetwork=Q, half=True, meta={**meta, "step": step})
        save_checkpoint(out / G_LATEST, config, generator=G, half=True,
                        meta={**meta, "step": step, **({"qnetwork_file": Q_LATEST} if Q is not None else {})})
        for _, old in list_checkpoints(out)[: -settings.keep]:
            old.unlink()
        return path

    stop = _StopFlag()
    pbar = tqdm(total=settings.steps, initial=start_step, unit="step", disable=not progress,
                file=sys.stderr, dynamic_ncols=True, smoothing=0.05)
    log_file = open(log_path, "a", encoding="utf-8") if is_main else None
    step, losses = start_step, last_losses
    t0 = time.monotonic()
    last_ckpt_time = t0
    steps_done = 0
    stopping = False
    try:
        with stop:
            while step < settings.steps:
                d_sum = gp_sum = w_sum = 0.0
                for _ in range(settings.n_critic):
                    idx = order.take(settings.batch_size)[rank * local_batch : (rank + 1) * local_batch]
                    real = items[idx.to(items.device)].to(device, non_blocking=True).unsqueeze(1)
                    d_loss, gp, wass = critic_step(run, real)
                    d_sum, gp_sum, w_sum = d_sum + d_loss, gp_sum + gp, w_sum + wass
                g_loss, q_loss, q_acc = generator_step(run)
                step += 1
                steps_done += 1
                now = time.monotonic()
                time_due = (is_main and settings.checkpoint_minutes > 0
                            and now - last_ckpt_time >= settings.checkpoint_minutes * 60)
                stats = torch.stack([d_sum / settings.n_critic, g_loss, q_loss, gp_sum / settings.n_critic,
                                     q_acc, w_sum / settings.n_critic]).float()
                flags = torch.tensor([float(stop.signal_name is not None), float(time_due)], device=device)
                packed = torch.cat([stats, flags])
                if world > 1:
                    import torch.distributed as dist

                    dist.all_reduce(packed)
                    packed[:6] /= world
                values = packed.tolist()
                losses = dict(zip(("d_loss", "g_loss", "q_loss", "gp", "q_acc", "wasserstein"), values[:6]))
                stopping, time_due = values[6] > 0, values[7] > 0
                defined = [v for k, v in losses.items() if not (Q is None and k in ("q_loss", "q_acc"))]
                if not all(math.isfinite(v) for v in defined):
                    shown = ", ".join(f"{k}={v:.4g}" for k, v in losses.items())
                    kept = f"the last good checkpoint is {last_ckpt}" if last_ckpt else "no checkpoint was written"
                    raise GanphonError(f"non-finite loss at step {step} ({shown}); training stopped "
                                       f"without saving this state; {kept}")
                elapsed = elapsed0 + (now - t0)
                if is_main and (step % settings.log_every == 0 or step == settings.steps or stopping):
                    log_file.write(",".join([str(step), f"{elapsed:.3f}", *(_fmt(v) for v in values[:6])]) + "\n")
                    log_file.flush()
                    pbar.set_postfix(d=f"{losses['d_loss']:.3g}", g=f"{losses['g_loss']:.3g}",
                                     **({"q": f"{losses['q_loss']:.3g}"} if Q is not None else {}),
                                     W=f"{losses['wasserstein']:.3g}", refresh=False)
                pbar.update(1)
                every = settings.checkpoint_every
                if (every and step % every == 0) or time_due or stopping or step == settings.steps:
                    if not _params_finite(G, D, Q):
                        kept = f"the last good checkpoint is {last_ckpt}" if last_ckpt else "no checkpoint was written"
                        raise GanphonError(f"non-finite weights at step {step}; training stopped without "
                                           f"saving this state; {kept}")
                    written = checkpoint(step, losses, elapsed)
                    last_ckpt = written or last_ckpt
                    last_ckpt_time = time.monotonic()
                    pe = settings.preview_every
                    if is_main and pe is None:
                        write_preview(G, config, settings.seed, step, out)
                if is_main and settings.preview_every and step % settings.preview_every == 0:
                    write_preview(G, config, settings.seed, step, out)
                if stopping:
                    break
    finally:
        pbar.close()
        if log_file is not None:
            log_file.close()
    rate = steps_done / max(time.monotonic() - t0, 1e-9)
    if is_main:
        if stopping:
            print(f"ganphon: stopped by {stop.signal_name or 'a signal'} at step {step}; "
                  f"checkpoint {last_ckpt}; continue with --resume", file=sys.stderr)
        else:
            print(f"ganphon: done, {step} steps ({rate:.3g} steps/s); checkpoint {last_ckpt}", file=sys.stderr)
    return TrainResult(step=step, generator=G, critic=D, qnetwork=Q, checkpoint=last_ckpt,
                       stopped_by=(stop.signal_name or "signal") if stopping else None,
                       steps_per_s=rate, losses=losses)


def _write_run_json(out, command, config, settings, data, data_summary, world, device, resume_path):
    path = out / RUN_JSON
    previous = []
    if resume_path is not None and path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            previous = old.pop("previous", []) + [old]
        except (OSError, ValueError):
            previous = []
    info = {
        "kind": "train", "command": command or "", "seed": settings.seed, "versions": _versions(),
        "model_config": config.to_dict(), "train_config": settings.to_dict(),
        "data": {"source": "array" if isinstance(data, (np.ndarray, torch.Tensor)) else str(data),
                 "summary": data_summary},
        "world_size": world, "device": str(device.type),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "resumed_from": str(resume_path) if resume_path else None,
        "previous": previous,
    }
    atomic_write_text(path, json.dumps(info, indent=1) + "\n")
