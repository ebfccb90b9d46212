"""``ganphon train`` and ``ganphon evaluate-model``."""

from __future__ import annotations

from pathlib import Path

from ..models.config import ARCHS, SLICE_LENS
from .models import add_artefact_controls
from .options import (add_checkpoint, add_file_output, add_out, add_quiet, describe, finite_float, input_folder,
                      model_dim, non_negative_int, output_file_or_stdout, positive_float, positive_int, seed_int,
                      whole_number)


def train(p) -> None:
    from ..train import TrainConfig
    from ..train.config import MAX_N_CRITIC

    defaults = TrainConfig()
    describe(p, "Train a WaveGAN, ciwGAN or fiwGAN with WGAN-GP as in the TensorFlow originals (λ 10, 5 "
             "critic steps per generator step, Adam 1e-4 (0.5, 0.9), batch 64; Q loss with RMSProp over Q "
             "and G). Writes full checkpoints RUN_DIR/ckpt_stepNNNNNNN.pt (the last --keep), fp16 "
             "G_latest.pt / Q_latest.pt, train_log.csv, previews and run.json. SIGINT/SIGTERM/SIGHUP write "
             "a checkpoint at the next step and stop (exit status 130 / 143 / 129); --resume continues exactly "
             "where it stopped. Under 'torchrun --nproc_per_node N -m ganphon train …' each process takes "
             "its share of every batch. Options left out on --resume are taken from the checkpoint.")
    p.add_argument("data", metavar="DATA_DIR", type=input_folder,
                   help="folder of WAV files (one item per file, searched recursively)")
    add_out(p, metavar="RUN_DIR", help="run folder")
    m = p.add_argument_group("model (default on --resume: the checkpoint's; a different one is an error)")
    m.add_argument("--arch", choices=ARCHS, default=None, help="architecture (default: wavegan)")
    m.add_argument("--codes", type=non_negative_int, default=None,
                   help="ciwGAN categories / fiwGAN bits (default: 0)")
    m.add_argument("--dim", type=model_dim, default=None, help="model dimension d (default: 64)")
    m.add_argument("--slice-len", type=int, choices=SLICE_LENS, default=None,
                   help="samples per item (default: 16384)")
    add_artefact_controls(m)
    o = p.add_argument_group("optimisation (default on --resume: the checkpoint's)")
    o.add_argument("--batch-size", type=positive_int, default=None,
                   help=f"items per update, over all processes (default: {defaults.batch_size})")
    o.add_argument("--n-critic", type=whole_number(1, MAX_N_CRITIC, what="a number of critic steps"), default=None,
                   help=f"critic steps per generator step (default: {defaults.n_critic})")
    o.add_argument("--lambda-gp", type=finite_float, default=None,
                   help=f"gradient-penalty weight (default: {defaults.lambda_gp:g})")
    o.add_argument("--lr", type=positive_float, default=None,
                   help=f"Adam learning rate of G and D (default: {defaults.lr:g})")
    o.add_argument("--betas", type=finite_float, nargs=2, default=None, metavar=("B1", "B2"),
                   help="Adam betas of G and D (default: 0.5 0.9)")
    o.add_argument("--q-lr", type=positive_float, default=None,
                   help=f"RMSProp learning rate of the Q loss (default: {defaults.q_lr:g})")
    o.add_argument("--seed", type=seed_int, default=None,
                   help=f"seed of everything random (default: {defaults.seed})")
    r = p.add_argument_group("run")
    r.add_argument("--steps", type=positive_int, default=defaults.steps,
                   help="generator steps to reach in total (a resumed run counts its earlier steps)")
    r.add_argument("--resume", nargs="?", const="latest", default=None, metavar="auto|CKPT",
                   help="continue from the newest checkpoint in RUN_DIR (an error if there is none); "
                   "'--resume auto' starts fresh when there is none; or name a checkpoint file")
    r.add_argument("--init-from", default=None, metavar="CKPT|demo",
                   help="fine-tune: a fresh run starts from this checkpoint's generator (and its Q-network and "
                   "critic where it holds them) instead of random weights; the model is the checkpoint's, "
                   "optionally with --postproc added, which then starts as the identity filter (ignored "
                   "when --resume finds a checkpoint of the run)")
    r.add_argument("--checkpoint-every", type=non_negative_int, default=defaults.checkpoint_every,
                   help="steps between checkpoints (0: none by count)")
    r.add_argument("--checkpoint-minutes", type=finite_float, default=defaults.checkpoint_minutes,
                   help="also checkpoint after this many minutes (0: none by time)")
    r.add_argument("--keep", type=positive_int, default=defaults.keep, help="full checkpoints kept")
    r.add_argument("--preview-every", type=non_negative_int, default=None,
                   help="steps between previews (default: with every checkpoint; 0: none)")
    r.add_argument("--log-every", type=positive_int, default=defaults.log_every,
                   help="steps between train_log.csv rows")
    r.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="where to train (default: cuda when present)")
    r.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CUDA)")
    r.add_argument("--compile", action="store_true", help="torch.compile the generator and critic")
    r.add_argument("--threads", type=positive_int, default=None,
                   help="torch CPU threads during training (default: torch's)")
    add_quiet(r)
    p.set_defaults(func=_train)


def evaluate_model(p) -> None:
    describe(p, "Generate N samples, segment each output automatically (sil/fric/voi) and report the "
             "share with a vowel, with frication, with a word shape (frication or closure + release "
             "before the vowel), with an initial [s] + closure, and with a vowel Praat calls voiced (>= 50 ms "
             "of F0 at 75-450 Hz in a word-sized stretch); per code the word types (sTV/TV, front/back "
             "vowel by F2) and how much of each code is its dominant word; with a Q-network, its accuracy "
             "on the generated samples. Prints a table; --json prints JSON.")
    add_checkpoint(p)
    p.add_argument("--n", type=positive_int, default=200, help="number of samples")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the latent draw")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE", type=output_file_or_stdout,
                   help="print the numbers as JSON instead of the table; with FILE, write them there (and print "
                   "the table)")
    add_file_output(p, "json")
    p.set_defaults(func=_evaluate)


def _train(args) -> int:
    from ..train import resume_request
    from ..train import train as run_training

    out = Path(args.out)
    resume, config, settings = resume_request(
        out, args.resume,
        model=dict(arch=args.arch, n_codes=args.codes, dim=args.dim, slice_len=args.slice_len,
                   upsample=args.upsample, postproc_len=args.postproc),
        settings=dict(steps=args.steps, batch_size=args.batch_size, n_critic=args.n_critic,
                      lambda_gp=args.lambda_gp, lr=args.lr, betas=args.betas, q_lr=args.q_lr, seed=args.seed,
                      checkpoint_every=args.checkpoint_every, checkpoint_minutes=args.checkpoint_minutes,
                      keep=args.keep, preview_every=args.preview_every, log_every=args.log_every,
                      device=args.device, bf16=args.bf16, compile=args.compile, threads=args.threads),
        init_from=args.init_from)
    result = run_training(args.data, out, config, settings, resume=resume, init_from=args.init_from,
                          command=args.command_line, progress=not args.quiet)
    if result.stopped_by:  # 128 + the signal's number, as a shell reports a command the signal ended
        import signal

        return 128 + int(getattr(signal.Signals, result.stopped_by, signal.SIGINT))
    return 0


def _evaluate(args) -> int:
    import json

    from ..train.evaluate import evaluate_model, format_evaluation
    from ..layout import atomic_write_text, make_folder
    from ..models import load_checkpoint

    model = load_checkpoint(args.checkpoint)
    res = evaluate_model(model, n=args.n, seed=args.seed)
    text = json.dumps(res, indent=1)
    if args.json == "-":
        print(text)
        return 0
    print(format_evaluation(res))
    if args.json:
        make_folder(Path(args.json).parent)
        atomic_write_text(Path(args.json), text + "\n")
    return 0
