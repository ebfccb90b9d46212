"""``ganphon new-model``, ``ganphon import-checkpoint`` and ``ganphon model-info``."""

from __future__ import annotations

import json

from ..models.config import ARCHS, POSTPROC_LEN, SLICE_LENS, UPSAMPLES
from .options import (add_checkpoint, add_file_output, add_out, add_seed, describe, finite_float, input_file, model_dim,
                      non_negative_int)


def add_artefact_controls(group) -> None:
    """``--upsample`` and ``--postproc``: WaveGAN's two controls of the stack's periodic artefact."""
    group.add_argument("--upsample", choices=UPSAMPLES, default=None,
                       help="zeros: strided transpose convolutions; nn: nearest-neighbour upsampling then a "
                       "stride-1 convolution (WaveGAN's --wavegan_genr_upsample; default: zeros)")
    group.add_argument("--postproc", type=non_negative_int, nargs="?", const=POSTPROC_LEN, default=None,
                       metavar="TAPS",
                       help=f"a learned FIR post-processing filter after the output, layer 'postproc' "
                       f"(WaveGAN's --wavegan_genr_pp; {POSTPROC_LEN} taps when TAPS is left out; 0: none; "
                       "default: none)")


def _controls(cfg) -> str:
    """`` upsample=nn postproc=512`` for a model with WaveGAN's artefact controls, else ''."""
    return (" upsample=nn" if cfg.upsample == "nn" else "") + (f" postproc={cfg.postproc_len}" if cfg.postproc_len else "")


def new_model(p) -> None:
    describe(p, "Write a freshly initialised generator, critic and (ciwGAN/fiwGAN) Q-network to one "
             "checkpoint file: for tests and for experiments on untrained networks.")
    p.add_argument("--arch", choices=ARCHS, default="wavegan", help="architecture")
    p.add_argument("--dim", type=model_dim, default=64, help="model dimension d")
    p.add_argument("--codes", type=non_negative_int, default=0,
                   help="number of codes (ciwGAN categories / fiwGAN bits)")
    p.add_argument("--slice-len", type=int, default=16384, choices=SLICE_LENS, help="output samples")
    p.add_argument("--extra-layers", type=non_negative_int, default=0,
                   help="stride-1 layers for the deeper variant")
    p.add_argument("--batchnorm", action="store_true", help="batch normalisation after each layer")
    add_artefact_controls(p)
    add_seed(p, help="seed of the initial weights")
    add_out(p, metavar="FILE", help="checkpoint file to write")
    add_file_output(p)
    p.set_defaults(func=_new_model)


def import_checkpoint(p) -> None:
    describe(p, "Read the bare state dicts saved by the ciwganfiwgan-pytorch port (epoch…_G.pt, "
             "epoch…_Q.pt), infer d and the slice length from the weight shapes, and write one ganphon "
             "checkpoint that computes exactly what the port computed (no ReLU after the projection, "
             "the port's reshape and padding). With --format tf, read a TensorFlow checkpoint "
             "(model.ckpt-N.index + .data) without TensorFlow and write a model that computes what "
             "TensorFlow computed.")
    p.add_argument("generator", metavar="PATH",
                   help="the generator file (epoch…_G.pt); with --format tf a checkpoint prefix "
                   "(…/model.ckpt-12255) or a TensorFlow training folder")
    p.add_argument("--format", choices=("port", "tf"), default="port",
                   help="port: ciwganfiwgan-pytorch state dicts; tf: a TensorFlow WaveGAN / ciwGAN / fiwGAN "
                   "checkpoint (chrisdonahue/wavegan, gbegus/fiwGAN-ciwGAN), G with its Q and D, imported "
                   "with TensorFlow's padding (d, slice, batch norm and codes read from the shapes and args.txt)")
    p.add_argument("--q", default=None, metavar="FILE", type=input_file, help="the Q-network file (epoch…_Q.pt)")
    p.add_argument("--arch", choices=ARCHS, required=True, help="architecture the checkpoint was trained as")
    p.add_argument("--codes", type=non_negative_int, default=0,
                   help="number of codes (--format tf: read from the Q-network or args.txt when 0)")
    p.add_argument("--q-slope", type=finite_float, default=0.2,
                   help="Q-network LeakyReLU slope; 0 for port checkpoints trained before its 2025 fix")
    add_out(p, metavar="FILE", help="ganphon checkpoint file to write")
    add_file_output(p)
    p.set_defaults(func=_import)


def model_info(p) -> None:
    describe(p, "Print a ganphon checkpoint's config, its layers with channels, samples and native "
             "rates, and its metadata (training run, seed, steps); for the bundled model (--checkpoint demo) "
             "also the commands that made it, from its card.")
    add_checkpoint(p)
    p.set_defaults(func=_info)


def _new_model(args) -> int:
    from ..models import ModelConfig, new_model, save_checkpoint

    cfg = ModelConfig(arch=args.arch, dim=args.dim, n_codes=args.codes, slice_len=args.slice_len,
                      extra_layers=args.extra_layers, batchnorm=args.batchnorm,
                      upsample=args.upsample or "zeros", postproc_len=args.postproc or 0)
    G, D, Q = new_model(cfg, args.seed)
    save_checkpoint(args.out, cfg, G, D, Q, meta={"seed": args.seed, "initialised": "fresh"})
    n = sum(p.numel() for p in G.parameters())
    print(f"wrote {args.out}: {cfg.arch} d={cfg.dim} codes={cfg.n_codes} slice={cfg.slice_len}{_controls(cfg)} "
          f"({n:,} generator parameters, seed {args.seed})")
    return 0


def _import(args) -> int:
    from ..errors import GanphonError
    from ..models import import_peer, load_checkpoint

    if args.format == "tf":
        from ..models.tf_import import import_tf

        if args.q:
            raise GanphonError("--q: a TensorFlow checkpoint holds its own Q-network; --q is for --format port")
        out = import_tf(args.generator, args.out, arch=args.arch, n_codes=args.codes or None)
    else:
        out = import_peer(args.generator, args.out, arch=args.arch, n_codes=args.codes,
                          q_path=args.q, q_slope=args.q_slope)
    m = load_checkpoint(out)
    print(f"wrote {out}: {m.config.arch} d={m.config.dim} slice={m.config.slice_len} "
          f"codes={m.config.n_codes}{_controls(m.config)}{' with Q-network' if m.qnetwork is not None else ''}")
    return 0


def _info(args) -> int:
    from ..models import load_checkpoint
    from ..models.bundled import DEMO_CARD
    from ..probe import layer_lengths
    from ..timebase import native_rate

    m = load_checkpoint(args.checkpoint)
    print(f"{m.path}  sha256 {m.sha256[:16]}…")
    print(json.dumps(m.config.to_dict(), indent=1))
    for name, (ch, n) in layer_lengths(m.generator).items():
        print(f"  {name:8s} {ch:5d} ch × {n:6d} samples  {native_rate(n, m.config.slice_len, m.config.sr):9.3f} Hz")
    card = _bundled_card(m.path)
    if card:
        tr = card.get("training", {})
        print(f"made by (its card, {DEMO_CARD}): {tr.get('steps')} steps on {tr.get('device')}, "
              f"{tr.get('wall_time_s', 0) / 3600:.1f} h, seed {tr.get('seed')}; to make it again:")
        for command in card.get("reproduce") or [tr.get("command")]:
            print(f"  {command}")
    if m.meta:
        print("meta" + (" (as the last training run saved it; its command is that run's own line)" if card else "")
              + ":", json.dumps(m.meta, indent=1, default=str))
    return 0


def _bundled_card(path) -> dict:
    """The card of the bundled demo model when ``path`` is its generator file, else {}."""
    from pathlib import Path

    from ..models.bundled import DATA, DEMO_CARD, DEMO_G

    if path is None or Path(path).resolve() != (DATA / DEMO_G).resolve() or not (DATA / DEMO_CARD).is_file():
        return {}
    return json.loads((DATA / DEMO_CARD).read_text(encoding="utf-8"))
