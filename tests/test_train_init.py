"""Fine-tuning: ``train --init-from`` starts a fresh run from a checkpoint's weights, optionally with
WaveGAN's post-processing filter added as the identity."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
import torch

from ganphon.models import Latent, load_checkpoint
from ganphon.models.bundled import demo_checkpoint_path

SR = 16000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Four vowel-like WAVs of one slice each."""
    folder = tmp_path_factory.mktemp("corpus")
    t = np.arange(16384) / SR
    for i in range(4):
        x = 0.4 * np.sin(2 * np.pi * (110 + 20 * i) * t) * np.hanning(t.size)
        scipy.io.wavfile.write(folder / f"w{i}.wav", SR, x.astype(np.float32))
    return folder


def ganphon(*args):
    return subprocess.run([sys.executable, "-m", "ganphon", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def tuned(corpus, tmp_path_factory):
    """One step from the bundled model with a 512-tap filter added, at a learning rate too small to move
    a float32 weight: what the run starts from."""
    out = tmp_path_factory.mktemp("ft") / "run"
    r = ganphon("train", corpus, "--init-from", "demo", "--postproc", "--out", out, "--steps", 1, "--batch-size", 4,
                "--lr", "1e-30", "--q-lr", "1e-30", "--threads", 1, "--checkpoint-every", 1, "--preview-every", 0,
                "--quiet")
    assert r.returncode == 0, r.stderr
    assert "post-processing filter (512 taps) starts as the identity" in r.stderr
    assert "holds no critic: the critic starts fresh" in r.stderr
    return out


def test_filter_starts_as_identity_and_output_is_the_checkpoints(tuned):
    run = load_checkpoint(tuned / "ckpt_step0000001.pt")
    demo = load_checkpoint("demo")
    assert run.config.postproc_len == 512 and demo.config.postproc_len == 0
    assert {k: v for k, v in run.config.to_dict().items() if k != "postproc_len"} == \
        {k: v for k, v in demo.config.to_dict().items() if k != "postproc_len"}
    taps = run.generator.blocks["postproc"].conv.weight.detach().numpy().ravel()
    # TensorFlow's 'same' padding of 512 taps puts 255 samples before: tap 255 multiplies x[t].
    expected = np.zeros(512, np.float32)
    expected[255] = 1.0
    np.testing.assert_allclose(taps, expected, rtol=0, atol=1e-25)  # one step of Adam at 1e-30 moved it by that
    z = Latent(demo.config).sample(8, 3)
    with torch.no_grad():
        reference = demo.generator(z)          # the bundled generator, no filter
        filtered = run.generator(z)            # the fine-tuning run's generator, filter included
    assert filtered.shape == reference.shape
    np.testing.assert_allclose(filtered.numpy(), reference.numpy(), atol=2e-6)
    assert float(reference.abs().max()) > 0.05  # a real waveform, not silence
    # The Q-network is the bundled one.
    for (name, a), (_, b) in zip(run.qnetwork.state_dict().items(), demo.qnetwork.state_dict().items()):
        np.testing.assert_allclose(a.numpy(), b.float().numpy(), rtol=1e-6, atol=1e-25, err_msg=name)


def test_run_record_names_the_starting_checkpoint(tuned):
    record = json.loads((tuned / "run.json").read_text())
    path = demo_checkpoint_path()
    assert Path(record["request"]["init_from"]) == path
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest.startswith(record["inputs"]["init_from"])


def test_other_architecture_is_refused_and_nothing_written(corpus, tmp_path):
    out = tmp_path / "run"
    r = ganphon("train", corpus, "--init-from", "demo", "--upsample", "nn", "--out", out, "--steps", 1,
                "--batch-size", 4, "--quiet")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "upsample 'zeros' → 'nn'" in lines[0] and "demo_ciwgan_G.pt" in lines[0]
    assert not out.exists()


def test_missing_checkpoint_is_one_line(corpus, tmp_path):
    r = ganphon("train", corpus, "--init-from", tmp_path / "nope.pt", "--out", tmp_path / "run", "--steps", 1,
                "--quiet")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "nope.pt" in r.stderr
    assert not (tmp_path / "run").exists()
