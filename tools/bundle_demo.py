"""Release tooling: make a training run's generator and Q-network the bundled demo model.

Never imported by the package.  Run from a checkout (it asks git for the
trainer's commit and writes into ``ganphon/data/`` of that checkout)::

    python tools/bundle_demo.py RUN_DIR CORPUS_DIR [--checkpoint ckpt_step0004000.pt] [--note TEXT]

Writes ``demo_ciwgan_G.pt`` / ``demo_ciwgan_Q.pt`` (fp16) and
``demo_ciwgan_card.json``: the corpus command and seed, the training command
that reproduces the run, steps, wall time, device, losses at that step, the
trainer's commit and the evaluation numbers on ``--n`` generated samples.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from ganphon.errors import GanphonError
from ganphon.layout import atomic_write_text
from ganphon.models import load_checkpoint, save_checkpoint
from ganphon.models.bundled import DATA, DEMO_CARD, DEMO_G, DEMO_Q
from ganphon.train import G_LATEST, LOG_CSV
from ganphon.train.evaluate import evaluate_model

REPO = Path(__file__).resolve().parent.parent


def _trainer_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%H", "--", "ganphon/train"],
                             capture_output=True, text=True)
    except OSError:
        return ""
    return out.stdout.strip()


def bundle_demo(run_dir, corpus_dir, data_dir=None, checkpoint=None, n_eval: int = 200, seed: int = 0,
                note: str = "", extra: dict | None = None, commands: list | None = None) -> Path:
    """Copy a run's generator and Q-network into the package as the demo model, with its card.

    Parameters
    ----------
    run_dir : path-like
        A ``ganphon train`` run folder (``run.json``, ``train_log.csv``).
    corpus_dir : path-like
        The corpus it was trained on (its ``synth.json`` gives the command).
    data_dir : path-like, optional
        Where to write (default: the package's ``ganphon/data``).
    checkpoint : path-like, optional
        A full ``ckpt_step*.pt`` or an fp16 ``G_latest.pt`` of the run (default: ``G_latest.pt``).
    n_eval, seed : int
        Generated samples and seed of the evaluation written into the card.
    note : str
        Free text for the card.
    extra : dict, optional
        More card fields (e.g. the evaluation's commands).
    commands : list of str, optional
        The training commands that reproduce the run, in order, when the run
        folder's own command does not (e.g. a run branched from another
        run's checkpoint and resumed with another learning rate).

    Returns
    -------
    Path
        The card.
    """
    run_dir, corpus_dir = Path(run_dir), Path(corpus_dir)
    data_dir = Path(data_dir) if data_dir else DATA
    src_path = Path(checkpoint) if checkpoint else run_dir / G_LATEST
    src = load_checkpoint(src_path)
    if src.qnetwork is None:
        raise GanphonError(f"{src_path}: holds no Q-network (nor names one beside it)")
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    log = pd.read_csv(run_dir / LOG_CSV)
    training_state = getattr(src, "training", None) or {}
    steps = int(src.meta.get("step", training_state.get("step", log["step"].iloc[-1])))
    at = log[log["step"] <= steps]
    last = (at if len(at) else log).iloc[-1].to_dict()
    meta = {k: v for k, v in src.meta.items() if k != "qnetwork_file"}
    meta.update({"qnetwork_file": DEMO_Q, "steps": steps})
    save_checkpoint(data_dir / DEMO_Q, src.config, qnetwork=src.qnetwork, half=True, meta={"steps": steps})
    save_checkpoint(data_dir / DEMO_G, src.config, generator=src.generator, half=True, meta=meta)
    bundled = load_checkpoint(data_dir / DEMO_G)
    numbers = evaluate_model(bundled, n=n_eval, seed=seed)
    synth_json = corpus_dir / "synth.json"
    synth = json.loads(synth_json.read_text(encoding="utf-8")) if synth_json.exists() else {}

    def neutral(cmd):
        # commands as a user would type them, without this machine's folders
        if not cmd:
            return cmd
        for folder in (corpus_dir.parent.resolve(), run_dir.parent.resolve()):
            cmd = cmd.replace(str(folder) + "/", "")
        return cmd

    command = neutral(run.get("command"))
    resumed = bool(command) and re.search(r"\s--resume(\s+(auto|\S+\.pt))?(?=\s|$)", command)
    if resumed:
        # interrupted and resumed runs are bit-identical to one uninterrupted run of the same steps (CPU)
        command = command[:resumed.start()] + command[resumed.end():]
    if command:
        command = re.sub(r"\s--steps(\s+|=)\S+", "", command) + f" --steps {steps}"
    if commands:
        command = commands[-1]
    card = {
        "model": "ciwGAN demo model bundled with ganphon",
        "files": {"generator": DEMO_G, "qnetwork": DEMO_Q, "storage": "fp16"},
        "config": src.config.to_dict(),
        "corpus": {"command": neutral(synth.get("command")), "seed": synth.get("seed"),
                   "words": synth.get("words"), "folder": corpus_dir.name},
        "training": {
            "command": command, "seed": run.get("seed"), "steps": steps,
            "stopped_and_resumed": bool(resumed or run.get("previous")),
            "wall_time_s": round(float(last["time"]), 1),
            "device": run.get("device") or "cpu",
            "train_config": run.get("train_config"),
            "losses_at_step": {k: (round(float(v), 5) if isinstance(v, float) else v) for k, v in last.items()},
            "versions": run.get("versions"),
            "ganphon_commit_of_trainer": _trainer_commit(),
        },
        "reproduce": [neutral(synth.get("command")), *(commands or [command])],
        "evaluation": numbers,
        "note": note,
        **(extra or {}),
    }
    atomic_write_text(data_dir / DEMO_CARD, json.dumps(card, indent=1, ensure_ascii=False, default=str) + "\n")
    return data_dir / DEMO_CARD


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir")
    p.add_argument("corpus_dir")
    p.add_argument("--checkpoint", default=None, help="ckpt_step*.pt or G file of the run (default: G_latest.pt)")
    p.add_argument("--data-dir", default=None, help="default: the package's ganphon/data")
    p.add_argument("--n", type=int, default=200, help="samples for the card's evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--note", default="")
    p.add_argument("--command", action="append", default=None, dest="commands",
                   help="a training command that reproduces the run (repeat, in order), when run.json's does not")
    args = p.parse_args(argv)
    try:
        card = bundle_demo(args.run_dir, args.corpus_dir, data_dir=args.data_dir, checkpoint=args.checkpoint,
                           n_eval=args.n, seed=args.seed, note=args.note, commands=args.commands)
    except GanphonError as exc:
        print(f"bundle_demo: error: {exc}", file=sys.stderr)
        return 2
    print(card)
    return 0


if __name__ == "__main__":
    sys.exit(main())
