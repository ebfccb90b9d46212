"""The trainer: losses, checkpoints, logs, previews, exact resume, DDP, signals, NaN stops."""

from __future__ import annotations

import csv
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
import torch

from ganphon.cli import main
from ganphon.errors import GanphonError
from ganphon.models import ModelConfig, load_checkpoint
from ganphon.models.checkpoint import read_weights_file
from ganphon.train import (
    LOG_COLUMNS, DataOrder, TrainConfig, latest_checkpoint, list_checkpoints, preview_latents,
    q_loss_and_accuracy, read_training_state, train,
)

REPO = Path(__file__).resolve().parent.parent
SR = 16000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Six short vowel-like WAVs (int16 and float32, one at 22.05 kHz) in a folder."""
    folder = tmp_path_factory.mktemp("corpus")
    for i in range(6):
        sr = 22050 if i == 5 else SR
        t = np.arange(int(0.4 * sr)) / sr
        x = 0.4 * np.sin(2 * np.pi * (110 + 15 * i) * t) * np.hanning(t.size)
        if i % 2:
            scipy.io.wavfile.write(folder / f"w{i}.wav", sr, (x * 32767).astype(np.int16))
        else:
            scipy.io.wavfile.write(folder / f"w{i}.wav", sr, x.astype(np.float32))
    return folder


def tiny(arch="ciwgan", codes=3, dim=4) -> ModelConfig:
    return ModelConfig(arch=arch, n_codes=codes, dim=dim)


def settings(**kw) -> TrainConfig:
    base = dict(steps=2, batch_size=4, seed=5, checkpoint_every=0, checkpoint_minutes=0, log_every=1,
                device="cpu", preview_every=0)
    base.update(kw)
    return TrainConfig(**base)


def read_log(run_dir):
    with open(Path(run_dir) / "train_log.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def tree_equal(a, b) -> bool:
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(tree_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(tree_equal(x, y) for x, y in zip(a, b))
    return a == b


# ------------------------------------------------------------------ pieces

def test_data_order_is_seeded_epochs_of_permutations():
    a, b = DataOrder(7, seed=11), DataOrder(7, seed=11)
    drawn = torch.cat([a.take(3) for _ in range(7)])  # 21 indices = 3 epochs, batches crossing epochs
    for epoch in range(3):
        assert sorted(drawn[7 * epoch : 7 * epoch + 7].tolist()) == list(range(7))
    assert torch.equal(drawn, torch.cat([b.take(5), b.take(16)]))
    assert not torch.equal(drawn[:7], drawn[7:14])  # a new permutation every epoch
    c = DataOrder(7, seed=0)
    c.load_state_dict(a.state_dict())
    assert torch.equal(a.take(10), c.take(10))


def test_q_losses_match_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 3))
    cats = rng.integers(0, 3, 6)
    onehot = np.eye(3)[cats]
    loss, acc = q_loss_and_accuracy("ciwgan", torch.tensor(logits), torch.tensor(onehot))
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert loss.item() == pytest.approx(-logp[np.arange(6), cats].mean(), rel=1e-12)
    assert acc.item() == pytest.approx(np.mean(logits.argmax(1) == cats))

    bits = rng.integers(0, 2, (6, 3)).astype(float)
    loss, acc = q_loss_and_accuracy("fiwgan", torch.tensor(logits), torch.tensor(bits))
    p = 1 / (1 + np.exp(-logits))
    assert loss.item() == pytest.approx(-(bits * np.log(p) + (1 - bits) * np.log(1 - p)).mean(), rel=1e-12)
    assert acc.item() == pytest.approx(np.mean((logits > 0) == (bits > 0.5)))


# ------------------------------------------------------------------ a short run

def test_few_steps_write_checkpoint_log_and_preview(corpus, tmp_path):
    out = tmp_path / "run"
    rc = main(["train", str(corpus), "--arch", "ciwgan", "--codes", "3", "--dim", "4", "--batch-size", "4",
               "--steps", "3", "--checkpoint-every", "2", "--checkpoint-minutes", "0", "--log-every", "1",
               "--seed", "7", "--keep", "1", "--out", str(out), "--device", "cpu", "--quiet"])
    assert rc == 0
    assert [s for s, _ in list_checkpoints(out)] == [3]  # step 2 written, then pruned by --keep 1
    model = load_checkpoint(out / "ckpt_step0000003.pt", critic=True)
    assert (model.config.arch, model.config.n_codes, model.config.dim) == ("ciwgan", 3, 4)
    assert model.training["step"] == 3 and model.meta["seed"] == 7
    assert model.critic is not None and model.qnetwork is not None

    # G_latest: fp16 generator-only file that finds its Q beside it.
    g_blob = read_weights_file(out / "G_latest.pt")
    assert g_blob["critic"] is None and g_blob["training"] is None
    assert all(v.dtype == torch.float16 for v in g_blob["generator"].values())
    latest = load_checkpoint(out / "G_latest.pt")
    assert latest.qnetwork is not None and latest.meta["step"] == 3
    for k, v in model.generator.state_dict().items():
        assert torch.equal(latest.generator.state_dict()[k], v.half().float())

    rows = read_log(out)
    assert list(rows[0].keys()) == list(LOG_COLUMNS)
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    times = [float(r["time"]) for r in rows]
    assert times == sorted(times) and times[0] > 0
    for r in rows:
        v = {k: float(r[k]) for k in LOG_COLUMNS[2:]}
        assert all(math.isfinite(x) for x in v.values())
        # The critic loss is −W + λ·GP, each averaged over the five critic steps.
        assert v["d_loss"] == pytest.approx(-v["wasserstein"] + 10 * v["gp"], rel=1e-4, abs=1e-5)
        assert v["q_loss"] > 0 and 0 <= v["q_acc"] <= 1
    assert model.training["losses"]["d_loss"] == pytest.approx(float(rows[-1]["d_loss"]), rel=1e-5)

    # The preview: one WAV per code category, the generator's output for the fixed latents.
    folder = out / "preview" / "step0000003"
    z, names = preview_latents(model.config, seed=7)
    assert names == ["code1", "code2", "code3"]
    assert torch.equal(z[:, :3], torch.eye(3)) and torch.equal(z[0, 3:], z[2, 3:])
    with torch.no_grad():
        expected = model.generator(z).numpy()[:, 0]
    for name, want in zip(names, expected):
        sr, got = scipy.io.wavfile.read(folder / f"{name}.wav")
        assert sr == SR and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=1e-6)
    import matplotlib.image

    png = matplotlib.image.imread(folder / "preview.png")
    assert png.ndim == 3 and png.shape[0] > 100 and png.shape[1] > 300
    assert (out / "preview" / "step0000002" / "preview.png").exists()

    import json

    info = json.loads((out / "run.json").read_text())
    assert info["seed"] == 7 and info["command"].startswith("ganphon train")
    assert info["request"]["model_config"]["n_codes"] == 3 and info["versions"]["ganphon"]
    assert info["kind"] == "train" and "6 items; 1 resampled" in info["request"]["data"]["summary"]


def test_training_leaves_threads_flags_and_global_random_state_as_it_found_them(corpus, tmp_path):
    import random

    import torch._dynamo.config as dynamo_config
    import torch._functorch.config as functorch_config

    threads = torch.get_num_threads()
    flags = (dynamo_config.recompile_limit, functorch_config.donated_buffer)
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    wanted = 2 if threads == 1 else 1
    seen = {}
    real_step = __import__("ganphon.train.loop", fromlist=["critic_step"]).critic_step

    def spy(run, real):
        seen["threads"] = torch.get_num_threads()
        return real_step(run, real)

    import ganphon.train.loop as loop

    loop.critic_step = spy
    try:
        train(corpus, tmp_path / "run", tiny(), settings(steps=1, threads=wanted), progress=False)
    finally:
        loop.critic_step = real_step
    assert seen["threads"] == wanted  # the run used the threads asked for ...
    assert torch.get_num_threads() == threads  # ... and gave the old number back
    assert (dynamo_config.recompile_limit, functorch_config.donated_buffer) == flags
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]


def test_wavegan_trains_without_q(corpus, tmp_path):
    result = train(corpus, tmp_path / "w", tiny("wavegan", 0), settings(steps=1, preview_every=None),
                   progress=False)
    assert result.qnetwork is None and not (tmp_path / "w" / "Q_latest.pt").exists()
    row = read_log(tmp_path / "w")[0]
    assert row["q_loss"] == "" and row["q_acc"] == "" and math.isfinite(float(row["d_loss"]))
    assert len(list((tmp_path / "w" / "preview" / "step0000001").glob("*.wav"))) == 4


# ------------------------------------------------------------------ exact resume

@pytest.mark.parametrize("arch,codes", [("ciwgan", 3), ("fiwgan", 2)])
def test_resume_is_bit_identical(corpus, tmp_path, arch, codes):
    n = 2
    whole = train(corpus, tmp_path / "whole", tiny(arch, codes), settings(steps=2 * n), progress=False)
    train(corpus, tmp_path / "split", tiny(arch, codes), settings(steps=n), progress=False)
    resumed = train(corpus, tmp_path / "split", None, settings(steps=2 * n), resume="latest", progress=False)
    assert resumed.step == whole.step == 2 * n
    for a, b in [(whole.generator, resumed.generator), (whole.critic, resumed.critic),
                 (whole.qnetwork, resumed.qnetwork)]:
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    ta = read_weights_file(tmp_path / "whole" / "ckpt_step0000004.pt")["training"]
    tb = read_weights_file(tmp_path / "split" / "ckpt_step0000004.pt")["training"]
    for key in ("optimizers", "rng", "data_order"):
        assert tree_equal(ta[key], tb[key]), key
    log_a, log_b = read_log(tmp_path / "whole"), read_log(tmp_path / "split")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time"} for r in rows]
    assert strip(log_a) == strip(log_b)


def test_resume_after_log_rows_past_the_checkpoint_drops_them(corpus, tmp_path):
    out = tmp_path / "r"
    train(corpus, out, tiny(), settings(steps=2), progress=False)
    with open(out / "train_log.csv", "a") as f:  # rows a killed run logged after its last checkpoint
        f.write("3,9.9,1,1,1,1,1,1\n4,9.9,1,1,1,1,1,1\n")
    train(corpus, out, None, settings(steps=3), resume="latest", progress=False)
    steps = [int(r["step"]) for r in read_log(out)]
    assert steps == [1, 2, 3] and read_log(out)[-1]["time"] != "9.9"


def test_resume_errors(corpus, tmp_path):
    out = tmp_path / "e"
    args = ["train", str(corpus), "--out", str(out), "--steps", "2", "--batch-size", "4",
            "--checkpoint-every", "0", "--device", "cpu", "--quiet"]
    with pytest.raises(GanphonError, match="no checkpoint"):
        train(corpus, out, tiny(), settings(), resume="latest", progress=False)
    assert main([*args, "--resume"]) == 2
    # --resume auto starts fresh when there is nothing to resume.
    assert main([*args, "--arch", "ciwgan", "--codes", "3", "--dim", "4", "--resume", "auto"]) == 0
    ckpt = latest_checkpoint(out)
    assert ckpt.name == "ckpt_step0000002.pt"
    # what a resume leaves out is the checkpoint's: the API merges, the command line passes what was typed
    from ganphon.errors import ParameterError
    from ganphon.train import resume_request

    path, config, merged = resume_request(out, "latest", model={"dim": None}, settings={"steps": 5, "lr": 3e-4})
    assert path == str(ckpt) and config is None          # no model field given: the checkpoint's model
    assert (merged.steps, merged.lr, merged.batch_size, merged.seed) == (5, 3e-4, 4, 0)  # 4 as typed above
    _, config, _ = resume_request(out, "latest", model={"dim": 8}, settings={"steps": 5})
    assert (config.arch, config.n_codes, config.dim) == ("ciwgan", 3, 8)
    path, config, merged = resume_request(tmp_path / "fresh", "auto", model={"arch": "ciwgan", "n_codes": 2},
                                          settings={"steps": 1})
    assert path is None and (config.arch, config.n_codes, config.dim, config.slice_len) == ("ciwgan", 2, 64, 16384)
    assert (merged.batch_size, merged.n_critic, merged.lr, merged.betas) == (64, 5, 1e-4, (0.5, 0.9))  # the paper's
    with pytest.raises(ParameterError, match="^n_codes: arch fiwgan needs the number of codes"):
        resume_request(tmp_path / "fresh", None, model={"arch": "fiwgan"}, settings={"steps": 1})
    with pytest.raises(ParameterError, match="^resume: .*no checkpoint"):
        resume_request(tmp_path / "fresh", "latest", settings={"steps": 1})
    with pytest.raises(GanphonError, match="already holds checkpoints"):
        train(corpus, out, tiny(), settings(), progress=False)
    with pytest.raises(GanphonError, match=r"dim 4 → 8"):
        train(corpus, out, tiny(dim=8), settings(steps=3), resume="latest", progress=False)
    with pytest.raises(GanphonError, match=r"arch 'ciwgan' → 'fiwgan'"):
        train(corpus, out, tiny("fiwgan", 3), settings(steps=3), resume="latest", progress=False)
    assert main([*args, "--steps", "3", "--resume", "--dim", "8"]) == 2
    with pytest.raises(GanphonError, match="seed"):
        train(corpus, out, None, settings(steps=3, seed=6), resume="latest", progress=False)
    with pytest.raises(GanphonError, match="no training state"):
        train(corpus, out, None, settings(steps=3), resume=out / "G_latest.pt", progress=False)

    # A damaged run record is an error naming it, before the log is cut back: a resume never drops the history.
    run_json, log = out / "run.json", out / "train_log.csv"
    record, log_bytes = run_json.read_bytes(), log.read_bytes()
    run_json.write_text("{")
    with pytest.raises(GanphonError, match="run.json: unreadable run record"):
        train(corpus, out, None, settings(steps=3, seed=0), resume="latest", progress=False)
    assert log.read_bytes() == log_bytes and [s for s, _ in list_checkpoints(out)] == [2]
    run_json.write_bytes(record)

    # A damaged latest checkpoint is an error naming it, never a fresh start or an older file.
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(GanphonError) as err:
        train(corpus, out, None, settings(steps=3), resume="latest", progress=False)
    assert str(ckpt) in str(err.value)
    ckpt.write_bytes(b"")
    with pytest.raises(GanphonError, match=str(ckpt)):
        train(corpus, out, None, settings(steps=3), resume="auto", progress=False)
    assert [s for s, _ in list_checkpoints(out)] == [2]


def test_changed_optimisation_setting_on_resume_is_applied(corpus, tmp_path, capsys):
    out = tmp_path / "lr"
    train(corpus, out, tiny(), settings(steps=1), progress=False)
    result = train(corpus, out, None, settings(steps=2, lr=3e-4), resume="latest", progress=False)
    assert "lr changed from 0.0001 to 0.0003" in capsys.readouterr().err
    _, saved, training = read_training_state(result.checkpoint)
    assert saved.lr == 3e-4
    assert all(g["lr"] == 3e-4 for g in training["optimizers"]["generator"]["param_groups"])


# ------------------------------------------------------------------ NaN

def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(corpus, tmp_path):
    out = tmp_path / "nan"
    train(corpus, out, tiny(), settings(steps=2), progress=False)
    good = read_weights_file(out / "G_latest.pt")["generator"]
    # Adam moves every weight by ~lr at its first step: 1e30 overflows the critic's output.
    with pytest.raises(GanphonError, match=r"non-finite (loss|weights) at step 3.*ckpt_step0000002\.pt"):
        train(corpus, out, None, settings(steps=6, lr=1e30, checkpoint_every=1), resume="latest", progress=False)
    assert [s for s, _ in list_checkpoints(out)] == [2]
    assert tree_equal(read_weights_file(out / "G_latest.pt")["generator"], good)
    assert [int(r["step"]) for r in read_log(out)] == [1, 2]
    model = load_checkpoint(out / "ckpt_step0000002.pt", critic=True)  # still loads: finite weights
    assert model.training["step"] == 2


def test_a_run_failing_before_its_first_checkpoint_leaves_nothing(corpus, tmp_path, capsys):
    """A non-finite loss at step 1 (lr 1e20): exit 2, one error line, no run folder (nothing to resume from);
    a run that fails after a checkpoint keeps it (the test above)."""
    out = tmp_path / "run"
    code = main(["train", str(corpus), "--out", str(out), "--dim", "8", "--steps", "1", "--batch-size", "2",
                 "--lr", "1e20", "--quiet"])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1 and "non-finite loss at step 1" in errors[0], errors
    assert "no checkpoint was written" in errors[0]
    assert not out.exists()


@pytest.mark.parametrize("env, named", [({"WORLD_SIZE": "two"}, "WORLD_SIZE='two'"),
                                        ({"WORLD_SIZE": "0"}, "WORLD_SIZE='0'"),
                                        ({"LOCAL_RANK": "-1"}, "LOCAL_RANK='-1'"),
                                        ({"RANK": "3", "WORLD_SIZE": "2"}, "RANK=3 is not below WORLD_SIZE=2")])
def test_a_bad_distributed_environment_is_one_line_naming_the_variable(corpus, tmp_path, capsys, monkeypatch, env,
                                                                      named):
    """torchrun's variables set by hand to something that is not a rank or a size: one error line naming the
    variable and its value, no run folder (it was a ValueError traceback)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "run"
    code = main(["train", str(corpus), "--out", str(out), "--dim", "8", "--steps", "1", "--batch-size", "2",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count("error:") == 1 and named in err, err
    assert not out.exists()


# ------------------------------------------------------------------ several processes

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, corpus, out, weights_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    result = train(corpus, out, tiny("ciwgan", 2), settings(steps=2, checkpoint_every=1, preview_every=None),
                   progress=False)
    state = {f"{name}.{k}": v for name, m in
             (("G", result.generator), ("D", result.critic), ("Q", result.qnetwork))
             for k, v in m.state_dict().items()}
    torch.save(state, Path(weights_dir) / f"rank{rank}.pt")


def test_ddp_gloo_two_processes(corpus, tmp_path):
    import torch.multiprocessing as mp

    out, weights = tmp_path / "ddp", tmp_path / "weights"
    weights.mkdir()
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(corpus), str(out), str(weights)), nprocs=2, join=True)
    w0, w1 = (torch.load(weights / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    # Files come from rank 0 alone: one log row per step, one set of files.
    assert [int(r["step"]) for r in read_log(out)] == [1, 2]
    assert sorted(p.name for p in out.iterdir()) == [
        "G_latest.pt", "Q_latest.pt", "ckpt_step0000001.pt", "ckpt_step0000002.pt", "preview", "run.json",
        "train_log.csv"]
    assert not [p for p in out.rglob(".*") if p.name != ".ganphon.ledger"]  # no temporary leftovers
    training = read_weights_file(out / "ckpt_step0000002.pt")["training"]
    assert training["world_size"] == 2 and len(training["rng"]) == 2
    # Ranks draw different latents: their latent generators must differ.
    assert not torch.equal(training["rng"][0]["latent"], training["rng"][1]["latent"])
    G = load_checkpoint(out / "ckpt_step0000002.pt").generator
    assert all(torch.equal(v, w0[f"G.{k}"]) for k, v in G.state_dict().items())


# ------------------------------------------------------------------ signals

@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_writes_checkpoint_and_exits_cleanly(corpus, tmp_path, sig, code):
    out = tmp_path / "sig"
    cmd = [sys.executable, "-m", "ganphon", "train", str(corpus), "--arch", "ciwgan", "--codes", "2",
           "--dim", "4", "--batch-size", "4", "--steps", "100000", "--checkpoint-every", "100000",
           "--checkpoint-minutes", "0", "--log-every", "1", "--out", str(out), "--device", "cpu", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        log = out / "train_log.csv"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists() and len(log.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert f"stopped by {sig.name}" in err
    steps = [int(r["step"]) for r in read_log(out)]
    ckpt = latest_checkpoint(out)
    assert ckpt is not None and read_training_state(ckpt)[2]["step"] == steps[-1]
    assert load_checkpoint(out / "G_latest.pt").meta["step"] == steps[-1]


def test_bundle_demo_writes_fp16_files_and_a_card_for_a_resumed_run(corpus, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bundle_demo", REPO / "tools" / "bundle_demo.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    bundle_demo = tool.bundle_demo
    from ganphon.models.bundled import DEMO_CARD, DEMO_G, DEMO_Q

    out = tmp_path / "run"
    common = ["--checkpoint-every", "1", "--checkpoint-minutes", "0", "--out", str(out), "--device", "cpu",
              "--quiet"]
    assert main(["train", str(corpus), "--arch", "ciwgan", "--codes", "3", "--dim", "4", "--batch-size", "4",
                 "--seed", "7", "--steps", "1", *common]) == 0
    assert main(["train", str(corpus), "--resume", "--steps", "2", *common]) == 0
    data = tmp_path / "data"
    data.mkdir()
    card_path = bundle_demo(out, corpus, data_dir=data, n_eval=6, note="test run")
    card = __import__("json").loads(card_path.read_text())
    assert card_path.name == DEMO_CARD and card["training"]["steps"] == 2
    # the card's command reproduces the run without the interruption
    command = card["training"]["command"]
    assert "--resume" not in command and command.endswith("--steps 2") and card["training"]["stopped_and_resumed"]
    assert command.count("--steps") == 1
    assert str(tmp_path) not in command and card["note"] == "test run"
    assert card["evaluation"]["n"] == 6 and 0 <= card["evaluation"]["q_accuracy"] <= 1
    bundled = load_checkpoint(data / DEMO_G)
    assert bundled.qnetwork is not None and bundled.meta["steps"] == 2
    assert all(v.dtype == torch.float16 for v in read_weights_file(data / DEMO_G)["generator"].values())
    assert all(v.dtype == torch.float16 for v in read_weights_file(data / DEMO_Q)["qnetwork"].values())
    source = load_checkpoint(out / "G_latest.pt")
    for k, v in source.generator.state_dict().items():
        assert torch.equal(bundled.generator.state_dict()[k], v)
    # an earlier full checkpoint of the run, chosen by --checkpoint: its step, its weights in fp16
    early = tmp_path / "early"
    early.mkdir()
    assert tool.main([str(out), str(corpus), "--checkpoint", str(out / "ckpt_step0000001.pt"),
                      "--data-dir", str(early), "--n", "3"]) == 0
    card = __import__("json").loads((early / DEMO_CARD).read_text())
    assert card["training"]["steps"] == 1 and card["training"]["command"].endswith("--steps 1")
    first = load_checkpoint(out / "ckpt_step0000001.pt")
    chosen = load_checkpoint(early / DEMO_G)
    for k, v in first.generator.state_dict().items():
        assert torch.equal(chosen.generator.state_dict()[k], v.half().float())
    for k, v in first.qnetwork.state_dict().items():
        assert torch.equal(chosen.qnetwork.state_dict()[k], v.half().float())
    # a run branched from another's checkpoint: the card lists the commands given, in order
    branched = ["ganphon train corpus --arch ciwgan --codes 3 --dim 4 --seed 7 --out run --steps 1",
                "ganphon train corpus --out run --resume --lr 5e-5 --steps 2"]
    assert tool.main([str(out), str(corpus), "--data-dir", str(early), "--n", "3",
                      *(x for c in branched for x in ("--command", c))]) == 0
    card = __import__("json").loads((early / DEMO_CARD).read_text())
    assert card["reproduce"][1:] == branched and card["training"]["command"] == branched[-1]
    # a file without a Q-network: one line, exit status 2
    assert tool.main([str(out), str(corpus), "--checkpoint", str(data / DEMO_Q), "--data-dir", str(early)]) == 2


# ------------------------------------------------------------------ a batch the machine cannot hold

_PEAK = """
import sys, numpy as np
from ganphon.models import ModelConfig
from ganphon.train import TrainConfig, train
batch = int(sys.argv[1])
train(np.zeros((batch, 16384), np.float32), sys.argv[2], ModelConfig(arch="ciwgan", n_codes=3, dim=8),
      TrainConfig(steps=1, batch_size=batch, threads=1, preview_every=None, seed=0), progress=False)
# VmHWM: this process's own peak (getrusage's ru_maxrss keeps the parent's across exec)
print([int(line.split()[1]) * 1024 for line in open('/proc/self/status') if line.startswith('VmHWM:')][0])
"""


def test_the_training_step_estimate_follows_the_measured_peak_memory(tmp_path):
    """Peak RSS of one real training step at batch 32 and 512: its growth per sample against the estimate
    (measured 3.4–4.4 MB a sample between neighbouring batch sizes, 3.8 MB over 32 → 512; estimated 3.9)."""
    from ganphon.models.footprint import training_step_bytes

    cfg = ModelConfig(arch="ciwgan", n_codes=3, dim=8)
    peaks = {}
    for batch in (32, 512):
        done = subprocess.run([sys.executable, "-c", _PEAK, str(batch), str(tmp_path / f"b{batch}")],
                              capture_output=True, text=True, cwd=REPO, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        peaks[batch] = int(done.stdout.split()[-1])
    measured = (peaks[512] - peaks[32]) / (512 - 32)
    estimated = (training_step_bytes(cfg, 512)[0] - training_step_bytes(cfg, 32)[0]) / (512 - 32)
    print(f"\nbytes per sample: measured {measured:,.0f}, estimated {estimated:,.0f}")
    assert 0.7 < estimated / measured < 1.4


def test_a_batch_beyond_the_free_memory_is_refused_before_the_first_step(corpus, tmp_path, capsys):
    from ganphon.models.footprint import available_bytes

    free = available_bytes(torch.device("cpu"))
    assert free is not None  # Linux: /proc/meminfo
    batch = int(free // 1_000_000) + 1  # a d = 8 ciwGAN step keeps about 4 MB a sample
    assert main(["train", str(corpus), "--out", str(tmp_path / "run"), "--arch", "ciwgan", "--codes", "3",
                 "--dim", "8", "--batch-size", str(batch), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "--batch-size" in err and "GiB of memory are free" in err, err
    assert not (tmp_path / "run").exists()
    if free < 30 * 2**30:  # d = 512: 33 GiB of weights, gradients and Adam's moments, whatever the batch
        assert main(["train", str(corpus), "--out", str(tmp_path / "run"), "--arch", "wavegan", "--dim", "512",
                     "--batch-size", "1", "--steps", "1"]) == 2
        assert "--dim: a wavegan d=512's weights, gradients and Adam's moments alone: about 33" in \
            capsys.readouterr().err
        assert not (tmp_path / "run").exists()


def test_critic_steps_per_generator_step_are_bounded(tmp_path, capsys):
    """A count of the work inside one step has a bound: 2**63 critic steps per generator step (a slip of the
    keyboard) would make `--steps 1` run for ever; refused in one line, before any folder is made."""
    from ganphon.train import TrainConfig
    from ganphon.train.config import MAX_N_CRITIC

    with pytest.raises(GanphonError, match=f"must be from 1 to {MAX_N_CRITIC} critic steps"):
        TrainConfig(n_critic=2 ** 63).validate()
    TrainConfig(n_critic=MAX_N_CRITIC).validate()
    (tmp_path / "wavs").mkdir()
    for n_critic in (str(2 ** 63), str(MAX_N_CRITIC + 1), "0"):
        assert main(["train", str(tmp_path / "wavs"), "--out", str(tmp_path / "run"), "--n-critic", n_critic,
                     "--steps", "1", "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and f"--n-critic: expected a number of critic steps between 1 and {MAX_N_CRITIC}" in err
    assert not (tmp_path / "run").exists()
