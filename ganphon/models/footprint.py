"""What a batch costs in memory, checked before the first step of training or probing.

A batch too large for the machine is otherwise found by the kernel, which
kills the process (exit 137, no message) or by CUDA half-way through a step.
The estimate counts, on the meta device (nothing allocated), the output of
every leaf module of G, D and Q for one sample, which a training step keeps
for the backward pass, and their weights (each with its gradient and Adam's
two moments).  Measured on the CPU (ciwGAN d = 8, one step, the process's
peak resident memory at batch 32, 128, 256 and 512): it grows by 1.13–1.46 ×
those elements × 4 bytes per sample of the batch (1.28 over 32 → 512), so
:data:`STEP_FACTOR` is 1.3.
"""

from __future__ import annotations

import torch

from ..errors import ParameterError, size_text
from .config import ModelConfig

#: Peak bytes of a training step per sample ÷ (leaf outputs of G, D and Q for one sample × 4 bytes).
STEP_FACTOR = 1.3
#: Peak bytes of a probe batch per sample ÷ (leaf outputs of G for one sample × 4 bytes): measured 0.47
#: (``ganphon probe`` of the bundled model, batch 64 and 512, every layer exported; inference frees each
#: layer's output once the next one is computed).
INFERENCE_FACTOR = 0.5
#: Bytes a trained weight holds: itself, its gradient and Adam's two moments, float32.
PARAMETER_BYTES = 16
#: What a process needs besides the batch (interpreter, torch, the corpus, the weights), kept free.
RESERVE_BYTES = 1 << 30


def leaf_elements(module: torch.nn.Module, example: torch.Tensor) -> int:
    """Elements of every leaf module's output for ``example`` (a meta-device forward)."""
    total = 0

    def count(_module, _inputs, output):
        nonlocal total
        total += output.numel()

    hooks = [m.register_forward_hook(count) for m in module.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            module(example)
    finally:
        for hook in hooks:
            hook.remove()
    return total


def training_step_bytes(config: ModelConfig, batch: int) -> tuple[int, int]:
    """Estimated peak bytes of one training step of ``batch`` samples (G, D and, for ciwGAN/fiwGAN, Q):
    ``(activations, weights)``, the activations kept for the backward pass and the weights with their
    gradients and Adam's moments."""
    from .wavegan import build_models

    with torch.device("meta"):
        G, D, Q = (m if m is None else m.eval() for m in build_models(config))  # eval: no random phase shuffle
    z = torch.zeros(1, config.latent_dim, device="meta")
    x = torch.zeros(1, config.nch, config.slice_len, device="meta")
    per_sample = leaf_elements(G, z) + leaf_elements(D, x) + (leaf_elements(Q, x) if Q is not None else 0)
    weights = sum(p.numel() for m in (G, D, Q) if m is not None for p in m.parameters())
    return int(STEP_FACTOR * 4 * per_sample * batch), PARAMETER_BYTES * weights


def available_bytes(device: torch.device) -> int | None:
    """Free memory where the step runs (None: unknown): CUDA's free bytes, else the least of Linux's
    MemAvailable and what this process's own limits leave (:func:`ganphon.parallel.memory_limits`)."""
    room = memory_room(device)
    return None if room is None else room[1]


def memory_room(device: torch.device) -> tuple[int, int, str] | None:
    """``(usable, free, whose)`` where the step runs: the bytes a batch may take, the free memory, and whose
    limit it is ("" for the machine's free memory, of which :data:`RESERVE_BYTES` are kept for what the
    process holds besides the batch; a process's own limit is counted less what it already holds).
    None: unknown."""
    if device.type == "cuda":
        free = int(torch.cuda.mem_get_info(device)[0])
        return free - RESERVE_BYTES, free, ""
    rooms = []
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    rooms.append((free - RESERVE_BYTES, free, ""))
    except (OSError, ValueError, IndexError):
        pass
    from ..parallel import memory_limits

    rooms.extend((free, free, whose) for free, whose in memory_limits())
    return min(rooms) if rooms else None


def check_fits(need: int, device: torch.device, parameter: str, what: str, advice: str = "") -> None:
    """Refuse ``what`` (naming ``parameter``) when ``need`` bytes exceed the free memory where it runs."""
    room = memory_room(device)
    if room is not None and need > room[0]:
        _, free, whose = room
        where = "GPU memory" if device.type == "cuda" else "memory"
        raise ParameterError(parameter, f"{what}: about {size_text(need)}, while {size_text(free)} of "
                                        f"{where} are free" + (f" ({whose})" if whose else "")
                             + (f"; {advice}" if advice else ""))


def check_training_batch(config: ModelConfig, batch: int, device: torch.device) -> None:
    """Refuse a model, or a batch, whose training step would not fit in the free memory, naming both sizes."""
    activations, weights = training_step_bytes(config, batch)
    model = f"a {config.arch} d={config.dim}"
    check_fits(weights, device, "dim", f"{model}'s weights, gradients and Adam's moments alone",
               "use a smaller model dimension")
    check_fits(activations + weights, device, "batch_size", f"a training step of {batch:,} samples of {model} "
               f"(its weights and optimiser {size_text(weights)})", "use a smaller batch")


def check_inference_batch(generator: torch.nn.Module, batch: int, device: torch.device) -> None:
    """Refuse a probe batch (the generator's forward pass, every layer kept) beyond the free memory.

    Counted on one sample through the loaded generator itself (a few milliseconds; a first
    meta-device forward would cost a second of imports at every probe's start).
    """
    config = generator.config
    parameter = next(iter(generator.parameters()), None)
    z = torch.zeros(1, config.latent_dim, device=parameter.device if parameter is not None else "cpu")
    was = generator.training
    generator.eval()
    try:
        need = int(INFERENCE_FACTOR * 4 * leaf_elements(generator, z) * batch)
    finally:
        generator.train(was)
    check_fits(need, device, "batch_size", f"{batch:,} samples of a {config.arch} d={config.dim} at once",
               "use a smaller batch")
