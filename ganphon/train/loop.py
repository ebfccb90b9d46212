"""The training loop: load the data, build or resume the models, alternate the
critic and generator steps, log, checkpoint, preview."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import io
from ..errors import GanphonError, ParameterError
from ..layout import RUN_JSON, keep_on_failure
from ..models.checkpoint import load_checkpoint, new_model, save_checkpoint
from ..models.config import ModelConfig
from ..models.footprint import check_training_batch
from ..models.latent import Latent
from .config import OPTIM_FIELDS, TrainConfig, TrainResult
from .state import (_STREAM_DATA, G_LATEST, LOG_CSV, Q_LATEST, DataOrder,
                    _fmt, _params_finite, _seed_process, _set_rng_state, _rng_state, _truncate_log,
                    _write_log_header, checkpoint_name, derive_seed, latest_checkpoint,
                    list_checkpoints, read_training_state)
from .preview import write_preview
from .steps import Run, critic_step, generator_step


def _load_items(data, config: ModelConfig, progress: bool):
    if isinstance(data, (np.ndarray, torch.Tensor)):
        items = torch.as_tensor(np.asarray(data, dtype=np.float32))
        if items.dim() != 2 or items.shape[1] != config.slice_len:
            raise GanphonError(f"training items must have shape [N, {config.slice_len}], got {list(items.shape)}")
        return items, f"{items.shape[0]} items (array)"
    from ..corpus.folder import load_folder

    items, report = load_folder(data, slice_len=config.slice_len, sr=config.sr, strict=False, progress=progress)
    return torch.from_numpy(items), report.summary()


def _resolve_device(name: str | None, local_rank: int) -> torch.device:
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ParameterError("device", f"{name!r} asked for, but torch sees no CUDA device")
        if name == "cuda":
            return torch.device("cuda", local_rank % torch.cuda.device_count())
    elif name != "cpu":
        raise GanphonError(f"unknown device {name!r}; use cpu or cuda")
    return torch.device(name)


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; a value that is not one is a one-line error."""
    world = _environment_count("WORLD_SIZE", 1, least=1)
    rank = _environment_count("RANK", 0)
    local = _environment_count("LOCAL_RANK", rank)
    if rank >= world:
        raise GanphonError(f"environment: RANK={rank} is not below WORLD_SIZE={world} (torchrun sets both; unset "
                           "them to train in one process)")
    return rank, world, local


def _environment_count(name: str, default: int, least: int = 0) -> int:
    """The whole number ≥ ``least`` in environment variable ``name`` (``default`` when it is unset)."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        value = least - 1
    if value < least:
        raise GanphonError(f"environment: {name}={text!r} is not a whole number ≥ {least} (torchrun sets it; unset "
                           "it to train in one process)")
    return value


class _StopFlag:
    """SIGINT / SIGTERM / SIGHUP set a flag; the loop checkpoints at the next step boundary."""

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
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                if sig == signal.SIGHUP and signal.getsignal(sig) is signal.SIG_IGN:
                    continue  # under nohup the terminal closing stops nothing
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


@contextlib.contextmanager
def process_settings(settings: TrainConfig):
    """Apply a run's process-wide torch settings, and put everything back afterwards.

    Sets the CPU threads (``settings.threads``) and, with ``settings.compile``,
    the two compiler flags the loop needs; on exit restores them and the
    global random states (torch, CUDA when in use, numpy, Python) that the run
    seeds, so training leaves the calling program as it found it.
    """
    import torch._dynamo.config as dynamo_config
    import torch._functorch.config as functorch_config

    threads = torch.get_num_threads()
    rng = (torch.get_rng_state(), np.random.get_state(), random.getstate(),
           torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None)
    flags = [(dynamo_config, "recompile_limit", dynamo_config.recompile_limit),
             (functorch_config, "donated_buffer", functorch_config.donated_buffer)]
    try:
        if settings.threads:
            torch.set_num_threads(settings.threads)
        if settings.compile:
            # Phase shuffle draws its shift with .item(): one graph per (shift, layer) pair, 5 × 4 of them.
            dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, 64)
            # The generator step takes two gradients through one compiled G forward (retain_graph).
            functorch_config.donated_buffer = False
        yield
    finally:
        for module, name, value in flags:
            setattr(module, name, value)
        torch.set_num_threads(threads)
        torch.set_rng_state(rng[0])
        np.random.set_state(rng[1])
        random.setstate(rng[2])
        if rng[3] is not None:
            torch.cuda.set_rng_state_all(rng[3])


def train(data, out, config: ModelConfig | None = None, settings: TrainConfig | None = None, *,
          resume: str | os.PathLike | None = None, init_from: str | os.PathLike | None = None,
          command: str | None = None, progress: bool = True) -> TrainResult:
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
    init_from : path-like or "demo", optional
        A fresh run starts from this checkpoint's generator (and its Q-network
        and critic where it holds them; a fresh critic otherwise) instead of
        random weights: fine-tuning.  ``config`` may differ from the
        checkpoint's only by an added post-processing filter
        (``postproc_len``), which then starts as the identity (one unit tap at
        the centre), so step 0 generates what the checkpoint generates.  A run
        that resumes a checkpoint of its own ignores it.
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
        raise ParameterError("bf16", f"needs a CUDA device, got {device.type!r}")
    if settings.batch_size % world:
        raise ParameterError("batch_size", f"{settings.batch_size} does not split evenly over {world} processes")

    resume_path, config, notes = _resume_plan(out, resume, config, settings, init_from)
    init = None
    if init_from is not None and resume_path is None:
        init = _init_plan(init_from, config)
        config = config or init.config
    check_training_batch(config, settings.batch_size // world, device)  # before any data is read

    distributed_here = False
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
            distributed_here = True
    try:
        with process_settings(settings):
            result = _train(data, out, config, settings, resume_path, command, progress and rank == 0,
                            rank, world, device, notes, init)
        if distributed_here:  # every rank done before the group goes: gloo can abort a rank whose peer left first
            dist.barrier()
        return result
    finally:
        if distributed_here:
            dist.destroy_process_group()


def _resume_plan(out: Path, resume, config: ModelConfig | None, settings: TrainConfig, init_from=None):
    """The checkpoint to resume from (None: a fresh run), the model config, and notes on changed settings.

    Raises
    ------
    GanphonError
        No checkpoint for ``"latest"``, no config for a fresh run, a fresh run into a folder of
        checkpoints, or a checkpoint of another model or seed.
    """
    resume_path = None
    if resume is not None:
        if str(resume) in ("latest", "auto"):
            resume_path = latest_checkpoint(out)
            if resume_path is None and str(resume) == "latest":
                raise ParameterError("resume", f"{out}: no checkpoint (ckpt_step*.pt) to resume from; "
                                               "'auto' starts fresh when there is none")
        else:
            resume_path = Path(resume)
    if resume_path is None and config is None and init_from is None:
        raise ParameterError("config", "a fresh run needs a model config (a ModelConfig: arch, n_codes, dim)")
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

    return resume_path, config, notes


def _train(data, out, config, settings, resume_path, command, progress, rank, world, device, notes, init=None):
    """One process's training run: data, models, resumed state, records, then the loop (:func:`_loop`)."""
    is_main = rank == 0
    items, data_summary = _load_items(data, config, progress)
    # Small corpora live on the device; index there and skip a copy per batch.
    if device.type == "cuda" and items.numel() * 4 < 4 * 2**30:
        items = items.to(device)
    run = _build_run(config, settings, device, world, rank)
    order = DataOrder(items.shape[0], derive_seed(settings.seed, _STREAM_DATA))
    _seed_process(settings.seed, rank, run.latent_gen)
    start = _Start()
    if resume_path is not None:
        start = _resume(run, order, resume_path, items.shape[0], notes)
    elif init is not None:
        _init_weights(run, init, notes)
    if is_main:
        _start_records(out, run, data, data_summary, resume_path, start.step, command, notes, init)
    if start.step >= settings.steps:
        if is_main:
            print(f"ganphon: already at step {start.step} (--steps {settings.steps}); nothing to do",
                  file=sys.stderr)
        return TrainResult(step=start.step, generator=run.G, critic=run.D, qnetwork=run.Q, checkpoint=resume_path,
                           losses=start.losses)
    meta = {"seed": settings.seed, "command": command or "", "data": str(data) if not
            isinstance(data, (np.ndarray, torch.Tensor)) else "array", "data_summary": data_summary}
    saver = _Checkpointer(out, run, order, meta, resume_path)
    return _loop(run, items, order, out, start, saver, progress)


@dataclass
class _Start:
    """Where a run starts: its step, the seconds already trained and the last logged losses."""

    step: int = 0
    elapsed: float = 0.0
    losses: dict = field(default_factory=dict)


def _init_plan(init_from, config: ModelConfig | None):
    """The checkpoint a fresh run starts from (:func:`~ganphon.models.load_checkpoint`'s
    :class:`LoadedModel`), checked against the run's model: the same but for an added post-processing filter.

    Raises
    ------
    GanphonError
        The checkpoint is unreadable, or its model differs from ``config`` in another field.
    """
    init = load_checkpoint(init_from, critic=True, qnetwork=True)
    if config is not None:
        saved = init.config.to_dict()
        wanted = config.to_dict()
        if not init.config.postproc_len:
            saved.pop("postproc_len", None)
            wanted.pop("postproc_len", None)
        diff = [f"{k} {saved.get(k)!r} → {wanted.get(k)!r}" for k in sorted(set(saved) | set(wanted))
                if saved.get(k) != wanted.get(k)]
        if diff:
            raise GanphonError(f"{init.path}: its model differs from the one asked for ({'; '.join(diff)}); "
                               "a run can start from it with the same model or one with a post-processing "
                               "filter added")
    return init


def _init_weights(run: Run, init, notes: list) -> None:
    """Copy ``init``'s generator (Q-network, critic where it has them) into the fresh models of ``run``;
    a post-processing filter the checkpoint lacks starts as the identity."""
    state = {k: v.to(run.device, torch.float32) for k, v in init.generator.state_dict().items()}
    if run.config.postproc_len and not init.config.postproc_len:
        taps = torch.zeros_like(run.G.blocks["postproc"].conv.weight)
        taps[0, :, run.G.blocks["postproc"].left] = 1.0
        state["blocks.postproc.conv.weight"] = taps
        notes.append(f"the post-processing filter ({run.config.postproc_len} taps) starts as the identity")
    run.G.load_state_dict(state)
    if run.Q is not None:
        if init.qnetwork is None:
            notes.append(f"{init.path} holds no Q-network: the Q-network starts fresh")
        else:
            run.Q.load_state_dict({k: v.to(run.device, torch.float32) for k, v in init.qnetwork.state_dict().items()})
    if init.critic is None:
        notes.append(f"{init.path} holds no critic: the critic starts fresh")
    else:
        run.D.load_state_dict({k: v.to(run.device, torch.float32) for k, v in init.critic.state_dict().items()})


def _build_run(config: ModelConfig, settings: TrainConfig, device, world: int, rank: int) -> Run:
    """Fresh models on ``device`` (seeded), their optimisers, and the compiled forwards: a :class:`Run`."""
    G, D, Q = new_model(config, settings.seed)
    G, D = G.to(device).train(), D.to(device).train()
    Q = Q.to(device).train() if Q is not None else None
    opt_G = torch.optim.Adam(G.parameters(), lr=settings.lr, betas=tuple(settings.betas))
    opt_D = torch.optim.Adam(D.parameters(), lr=settings.lr, betas=tuple(settings.betas))
    # TensorFlow's RMSPropOptimizer defaults: decay 0.9, epsilon 1e-10.
    opt_Q = (torch.optim.RMSprop([*Q.parameters(), *G.parameters()], lr=settings.q_lr, alpha=0.9, eps=1e-10)
             if Q is not None else None)
    G_fwd, D_fwd = G, D
    if settings.compile:
        G_fwd, D_fwd = torch.compile(G), torch.compile(D)
    return Run(config=config, settings=settings, G=G, D=D, Q=Q, G_fwd=G_fwd, D_fwd=D_fwd,
               opt_G=opt_G, opt_D=opt_D, opt_Q=opt_Q, latent=Latent(config), latent_gen=torch.Generator(),
               device=device, local_batch=settings.batch_size // world, world=world, rank=rank)


def _resume(run: Run, order: DataOrder, resume_path: Path, n_items: int, notes: list) -> _Start:
    """Load a checkpoint's weights, optimiser states, data order and random streams into ``run``."""
    settings = run.settings
    loaded = load_checkpoint(resume_path, critic=True, qnetwork=True, device=run.device)
    if loaded.critic is None or (run.Q is not None and loaded.qnetwork is None):
        raise GanphonError(f"{resume_path}: holds no critic or Q-network weights; cannot resume training")
    run.G.load_state_dict(loaded.generator.state_dict())
    run.D.load_state_dict(loaded.critic.state_dict())
    if run.Q is not None:
        run.Q.load_state_dict(loaded.qnetwork.state_dict())
    training = loaded.training
    try:
        run.opt_G.load_state_dict(training["optimizers"]["generator"])
        run.opt_D.load_state_dict(training["optimizers"]["critic"])
        if run.opt_Q is not None:
            run.opt_Q.load_state_dict(training["optimizers"]["qnetwork"])
        if int(training["data_order"]["n"]) != n_items:
            raise GanphonError(f"{resume_path}: was trained on {training['data_order']['n']} items, "
                               f"the data now has {n_items}; resume on the same corpus")
        order.load_state_dict(training["data_order"])
        rngs = training["rng"]
        if len(rngs) == run.world:
            _set_rng_state(rngs[run.rank], run.latent_gen)
        else:
            notes.append(f"{len(rngs)} process(es) wrote the checkpoint, {run.world} resume it: "
                         "random streams re-seeded")
            step_seed = derive_seed(settings.seed, int(training["step"]), run.world)
            _seed_process(step_seed, run.rank, run.latent_gen)
        start = _Start(int(training["step"]), float(training.get("elapsed_s", 0.0)),
                       dict(training.get("losses") or {}))
    except GanphonError:
        raise
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as exc:
        raise GanphonError(f"{resume_path}: training state does not fit this run "
                           f"({type(exc).__name__}: {str(exc)[:120]})") from None
    # The optimiser states carry their saved hyper-parameters; the settings asked for win.
    for opt in (run.opt_G, run.opt_D):
        for group in opt.param_groups:
            group["lr"], group["betas"] = settings.lr, tuple(settings.betas)
    if run.opt_Q is not None:
        for group in run.opt_Q.param_groups:
            group["lr"] = settings.q_lr
    return start


def _start_records(out: Path, run: Run, data, data_summary: str, resume_path, start_step: int, command,
                   notes: list, init=None) -> None:
    """The main process's records before the first step: the log (cut at the resumed step), ``run.json``,
    the notes and one line saying what is trained on what."""
    config = run.config
    # the earlier records a resumed run keeps, read before anything is written: a damaged run.json is the
    # one-line error naming it (the log untouched), not a history silently lost
    previous = []
    if resume_path is not None and (out / RUN_JSON).exists():
        old = io.read_record(out / RUN_JSON)
        previous = (old.pop("previous", None) or []) + [old]
    out.mkdir(parents=True, exist_ok=True)
    if resume_path is not None:
        _truncate_log(out / LOG_CSV, start_step)
    else:
        _write_log_header(out / LOG_CSV)
    _write_run_json(out, command, config, run.settings, data, data_summary, run.world, run.device, resume_path,
                    previous, init)
    for note in notes:
        print(f"ganphon: {note}", file=sys.stderr)
    where = (f"step {start_step} of {resume_path.name}" if resume_path else
             f"the weights of {init.path}" if init is not None else "a fresh model")
    print(f"ganphon: training {config.arch} d={config.dim} on {data_summary}; from {where}; "
          f"{run.world} process(es) on {run.device.type}", file=sys.stderr)


class _Checkpointer:
    """Write a step's checkpoint (every process's random streams gathered), the half-precision latest
    G (and Q), and drop checkpoints beyond ``keep``; remembers the last one written."""

    def __init__(self, out: Path, run: Run, order: DataOrder, meta: dict, last: Path | None):
        self.out, self.run, self.order, self.meta, self.last = out, run, order, meta, last

    def __call__(self, step: int, losses: dict, elapsed: float) -> Path | None:
        run, out, meta = self.run, self.out, self.meta
        rngs = [_rng_state(run.latent_gen)]
        if run.world > 1:
            import torch.distributed as dist

            gathered = [None] * run.world if run.rank == 0 else None
            dist.gather_object(rngs[0], gathered, dst=0)
            rngs = gathered
        if run.rank != 0:
            return None
        training = {
            "step": step,
            "optimizers": {"generator": run.opt_G.state_dict(), "critic": run.opt_D.state_dict(),
                           "qnetwork": run.opt_Q.state_dict() if run.opt_Q is not None else None},
            "rng": rngs, "data_order": self.order.state_dict(), "losses": losses,
            "train_config": run.settings.to_dict(), "elapsed_s": elapsed, "world_size": run.world,
        }
        path = save_checkpoint(out / checkpoint_name(step), run.config, run.G, run.D, run.Q, training=training,
                               meta={**meta, "step": step})
        if run.Q is not None:
            save_checkpoint(out / Q_LATEST, run.config, qnetwork=run.Q, half=True, meta={**meta, "step": step})
        save_checkpoint(out / G_LATEST, run.config, generator=run.G, half=True,
                        meta={**meta, "step": step, **({"qnetwork_file": Q_LATEST} if run.Q is not None else {})})
        keep_on_failure(out)  # a resume point exists: a later failure keeps the run's folder
        for _, old in list_checkpoints(out)[: -run.settings.keep]:
            old.unlink()
        self.last = path
        return path

    def kept(self) -> str:
        """Where the last good state is, for an error stopping the run."""
        return f"the last good checkpoint is {self.last}" if self.last else "no checkpoint was written"


def _diverged(settings) -> str:
    """What to look at when a run diverges: the settings that scale its updates."""
    return (f"--lr {settings.lr:g}, --q-lr {settings.q_lr:g}, --lambda-gp {settings.lambda_gp:g}: "
            "one of them too large?")


_LOSSES = ("d_loss", "g_loss", "q_loss", "gp", "q_acc", "wasserstein")


def _step(run: Run, items, order: DataOrder, stop_asked: bool, due_at: float | None) -> tuple[dict, bool, bool, float]:
    """One training step (``n_critic`` critic steps, one generator step), averaged over the processes:
    ``(losses, stopping, time_due, now)``; a checkpoint is due by time when the main process's clock
    passed ``due_at`` after the step; the two flags are agreed by every process."""
    settings, rank, local_batch = run.settings, run.rank, run.local_batch
    d_sum = gp_sum = w_sum = 0.0
    for _ in range(settings.n_critic):
        idx = order.take(settings.batch_size)[rank * local_batch : (rank + 1) * local_batch]
        real = items[idx.to(items.device)].to(run.device, non_blocking=True).unsqueeze(1)
        d_loss, gp, wass = critic_step(run, real)
        d_sum, gp_sum, w_sum = d_sum + d_loss, gp_sum + gp, w_sum + wass
    g_loss, q_loss, q_acc = generator_step(run)
    now = time.monotonic()
    time_due = run.rank == 0 and due_at is not None and now >= due_at
    stats = torch.stack([d_sum / settings.n_critic, g_loss, q_loss, gp_sum / settings.n_critic,
                         q_acc, w_sum / settings.n_critic]).float()
    flags = torch.tensor([float(stop_asked), float(time_due)], device=run.device)
    packed = torch.cat([stats, flags])
    if run.world > 1:
        import torch.distributed as dist

        dist.all_reduce(packed)
        packed[:6] /= run.world
    values = packed.tolist()
    return dict(zip(_LOSSES, values[:6])), values[6] > 0, values[7] > 0, now


def _loop(run: Run, items, order: DataOrder, out: Path, start: _Start, saver: _Checkpointer,
          progress: bool) -> TrainResult:
    """Train from ``start`` to ``settings.steps``: log, checkpoint (by steps, by minutes, on a signal, at the
    end), preview; stop on a non-finite loss or weights without saving that state.

    One function: every branch of the loop reads the same step counters and flags.
    """
    from tqdm import tqdm

    settings, is_main, Q = run.settings, run.rank == 0, run.Q
    stop = _StopFlag()
    pbar = tqdm(total=settings.steps, initial=start.step, unit="step", disable=not progress,
                file=sys.stderr, dynamic_ncols=True, smoothing=0.05)
    log_file = open(out / LOG_CSV, "a", encoding="utf-8") if is_main else None
    step, losses = start.step, start.losses
    t0 = time.monotonic()
    last_ckpt_time = t0
    steps_done = 0
    stopping = False
    try:
        with stop:
            while step < settings.steps:
                due_at = (last_ckpt_time + settings.checkpoint_minutes * 60
                          if settings.checkpoint_minutes > 0 else None)
                losses, stopping, time_due, now = _step(run, items, order, stop.signal_name is not None, due_at)
                step += 1
                steps_done += 1
                defined = [v for k, v in losses.items() if not (Q is None and k in ("q_loss", "q_acc"))]
                if not all(math.isfinite(v) for v in defined):
                    shown = ", ".join(f"{k}={v:.4g}" for k, v in losses.items())
                    raise GanphonError(f"non-finite loss at step {step} ({shown}); training stopped "
                                       f"without saving this state; {saver.kept()} ({_diverged(settings)})")
                elapsed = start.elapsed + (now - t0)
                if is_main and (step % settings.log_every == 0 or step == settings.steps or stopping):
                    _log_line(log_file, pbar, step, elapsed, losses, Q is not None)
                pbar.update(1)
                every = settings.checkpoint_every
                if (every and step % every == 0) or time_due or stopping or step == settings.steps:
                    if not _params_finite(run.G, run.D, Q):
                        raise GanphonError(f"non-finite weights at step {step}; training stopped without "
                                           f"saving this state; {saver.kept()} ({_diverged(settings)})")
                    saver(step, losses, elapsed)
                    last_ckpt_time = time.monotonic()
                    if is_main and settings.preview_every is None:
                        write_preview(run.G, run.config, settings.seed, step, out)
                if is_main and settings.preview_every and step % settings.preview_every == 0:
                    write_preview(run.G, run.config, settings.seed, step, out)
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
                  f"checkpoint {saver.last}; continue with --resume", file=sys.stderr)
        else:
            print(f"ganphon: done, {step} steps ({rate:.3g} steps/s); checkpoint {saver.last}", file=sys.stderr)
    return TrainResult(step=step, generator=run.G, critic=run.D, qnetwork=Q, checkpoint=saver.last,
                       stopped_by=(stop.signal_name or "signal") if stopping else None,
                       steps_per_s=rate, losses=losses)


def _log_line(log_file, pbar, step: int, elapsed: float, losses: dict, has_q: bool) -> None:
    """One line of the training log, and the losses on the progress bar."""
    log_file.write(",".join([str(step), f"{elapsed:.3f}", *(_fmt(losses[k]) for k in _LOSSES)]) + "\n")
    log_file.flush()
    pbar.set_postfix(d=f"{losses['d_loss']:.3g}", g=f"{losses['g_loss']:.3g}",
                     **({"q": f"{losses['q_loss']:.3g}"} if has_q else {}),
                     W=f"{losses['wasserstein']:.3g}", refresh=False)


def _write_run_json(out, command, config, settings, data, data_summary, world, device, resume_path, previous,
                    init=None):
    """The training run's record (:func:`ganphon.io.run_record`, kind ``train``): the model and training
    configurations and the data as its request; a resumed run keeps the earlier records in ``previous``."""
    path = out / RUN_JSON
    request = {"model_config": config.to_dict(), "train_config": settings.to_dict(),
               "data": {"source": "array" if isinstance(data, (np.ndarray, torch.Tensor)) else str(data),
                        "summary": data_summary}}
    inputs = {"checkpoint": io.file_digest(resume_path)} if resume_path is not None else {}
    if init is not None:
        request["init_from"] = str(init.path)
        inputs["init_from"] = io.file_digest(init.path)
    io.write_run_record(path, io.run_record(
        "train", command=command or "", request=request, seed=settings.seed, modules=("torch",), inputs=inputs,
        world_size=world, device=str(device.type), started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        resumed_from=str(resume_path) if resume_path else None, previous=previous))
