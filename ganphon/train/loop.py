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
from pathlib import Path

import numpy as np
import torch

from .. import io
from ..errors import GanphonError
from ..layout import PREVIEW_PNG, RUN_JSON
from ..models.checkpoint import load_checkpoint, new_model, save_checkpoint
from ..models.config import ModelConfig
from ..models.latent import Latent
from .config import OPTIM_FIELDS, TrainConfig, TrainResult
from .state import (_STREAM_DATA, _STREAM_PREVIEW, G_LATEST, LOG_CSV, PREVIEW_DIR, Q_LATEST, DataOrder,
                    _fmt, _params_finite, _seed_process, _set_rng_state, _rng_state, _truncate_log,
                    _write_log_header, checkpoint_name, derive_seed, latest_checkpoint,
                    list_checkpoints, read_training_state)
from .steps import Run, critic_step, generator_step

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
    from ..io import write_wav
    from ..plots import plot_preview

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
        write_wav(folder / f"{name}.wav", w, config.sr)
    return plot_preview(waves, names, config.sr, folder / PREVIEW_PNG, title=f"step {step}")


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
        with process_settings(settings):
            result = _train(data, out, config, settings, resume_path, command, progress and rank == 0,
                            rank, world, device, notes)
        if distributed_here:  # every rank done before the group goes: gloo can abort a rank whose peer left first
            dist.barrier()
        return result
    finally:
        if distributed_here:
            dist.destroy_process_group()


def _train(data, out, config, settings, resume_path, command, progress, rank, world, device, notes):
    from tqdm import tqdm

    is_main = rank == 0
    items, data_summary = _load_items(data, config, progress)
    n_items = items.shape[0]
    # Small corpora live on the device; index there and skip a copy per batch.
    if device.type == "cuda" and items.numel() * 4 < 4 * 2**30:
        items = items.to(device)

    G, D, Q = new_model(config, settings.seed)
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
    """The training run's record (:func:`ganphon.io.run_record`, kind ``train``): the model and training
    configurations and the data as its request; a resumed run keeps the earlier records in ``previous``."""
    path = out / RUN_JSON
    previous = []
    if resume_path is not None and path.exists():
        try:
            old = io.read_record(path)
            previous = old.pop("previous", None) or []
            previous = previous + [old]
        except GanphonError:
            previous = []
    request = {"model_config": config.to_dict(), "train_config": settings.to_dict(),
               "data": {"source": "array" if isinstance(data, (np.ndarray, torch.Tensor)) else str(data),
                        "summary": data_summary}}
    inputs = {"checkpoint": io.file_digest(resume_path)} if resume_path is not None else {}
    io.write_run_record(path, io.run_record(
        "train", command=command or "", request=request, seed=settings.seed, modules=("torch",), inputs=inputs,
        world_size=world, device=str(device.type), started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        resumed_from=str(resume_path) if resume_path else None, previous=previous))
