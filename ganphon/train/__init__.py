"""Training: WGAN-GP for WaveGAN, ciwGAN and fiwGAN, written out plainly.

The package: :mod:`.config` (:class:`TrainConfig`, the paper's settings by
default), :mod:`.steps` (one critic step, one generator step), :mod:`.state`
(random streams, data order, checkpoints read back for an exact resume, the
log), :mod:`.loop` (:func:`train`) and :mod:`.evaluate` (does a generator
make words?).

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

from .config import OPTIM_FIELDS, TrainConfig, TrainResult
from .loop import train
from .preview import preview_latents, write_preview
from .state import (G_LATEST, LOG_COLUMNS, LOG_CSV, PREVIEW_DIR, Q_LATEST, DataOrder, checkpoint_name,
                    derive_seed, latest_checkpoint, list_checkpoints, read_training_state, resume_request)
from .steps import Run, critic_step, generator_step, q_loss_and_accuracy

__all__ = ["OPTIM_FIELDS", "TrainConfig", "TrainResult", "train", "preview_latents", "write_preview",
           "G_LATEST", "LOG_COLUMNS", "LOG_CSV", "PREVIEW_DIR", "Q_LATEST", "DataOrder", "checkpoint_name",
           "derive_seed", "latest_checkpoint", "list_checkpoints", "read_training_state", "resume_request", "Run",
           "critic_step", "generator_step", "q_loss_and_accuracy"]
