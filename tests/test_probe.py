"""Probe = an independent forward pass written here (F.conv_transpose1d, relu, mean, interpolate)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganphon.errors import GanphonError
from ganphon.models import Latent, ModelConfig, new_model
from ganphon.probe import probe, probe_batches
from ganphon.timebase import upsample


def _hand_forward(G, z):
    """The generator by hand, TF layout: dense → [16, C] → ReLU → up-convs."""
    sd = {k: v.detach() for k, v in G.state_dict().items()}
    C = sd["dense.weight"].shape[0] // 16
    pre, post = {}, {}
    x = F.linear(z, sd["dense.weight"], sd["dense.bias"]).view(-1, 16, C).transpose(1, 2)
    pre["dense"], x = x, torch.relu(x)
    post["dense"] = x
    names = [k.split(".")[1] for k in sd if k.startswith("blocks.") and k.endswith("conv.weight")]
    for name in names:
        n = x.shape[-1]  # TensorFlow 'same' (new models): full[10 : 4n + 10] of the full result
        x = F.conv_transpose1d(x, sd[f"blocks.{name}.conv.weight"], sd[f"blocks.{name}.conv.bias"],
                               stride=4, padding=10)[..., :4 * n]
        pre[name] = x
        x = torch.tanh(x) if name == "output" else torch.relu(x)
        post[name] = x
    return x, pre, post


def _interp_numpy(series, L):
    """SPEC §4 written with np.interp: linear between sample centres ((k + ½)/n of the slice), edges held."""
    n = series.shape[-1]
    return np.interp((np.arange(L) + 0.5) / L, (np.arange(n) + 0.5) / n, series)


@pytest.fixture(scope="module")
def model():
    cfg = ModelConfig(arch="ciwgan", n_codes=2, dim=8)
    G, D, Q = new_model(cfg, seed=7)
    return cfg, G, Q


def test_probe_equals_hand_written_forward(model):
    cfg, G, _ = model
    z = Latent(cfg).sample(5, seed=3)
    res = probe(G, z, batch_size=2, device="cpu")
    with torch.no_grad():
        out, pre, post = _hand_forward(G, z)
    assert np.abs(res.output - out[:, 0].numpy()).max() <= 1e-6
    assert res.layers == ["dense", "conv1", "conv2", "conv3", "conv4"]
    for name in res.layers:
        mean = post[name].mean(1)
        assert np.abs(res.native[name] - mean.numpy()).max() <= 1e-6
        # the upsampled series: the SPEC's interpolation rule, written with numpy, of the hand-made mean
        for row in range(len(z)):
            reference = _interp_numpy(mean[row].numpy().astype(np.float64), 16384)
            assert np.abs(res.upsampled[name][row] - reference).max() <= 1e-5
    assert res.rate("conv1") == 62.5 and res.rate("dense") == 15.625


@pytest.mark.parametrize("reduce,fn", [("sum", lambda a: a.sum(1)), ("max", lambda a: a.amax(1)),
                                       ("rms", lambda a: a.pow(2).mean(1).sqrt())])
def test_other_reductions_and_pre_activation(model, reduce, fn):
    cfg, G, _ = model
    z = Latent(cfg).sample(3, seed=1)
    with torch.no_grad():
        _, pre, post = _hand_forward(G, z)
    res = probe(G, z, layers=["conv2", "conv3"], reduce=reduce, device="cpu")
    for name in ("conv2", "conv3"):
        assert np.abs(res.native[name] - fn(post[name]).numpy()).max() <= 1e-5
    res_pre = probe(G, z, layers=["conv3"], activation="pre", device="cpu")
    assert np.abs(res_pre.native["conv3"] - pre["conv3"].mean(1).numpy()).max() <= 1e-6
    assert res_pre.native["conv3"].min() < 0  # pre-ReLU values can be negative


def test_feature_maps_and_hooks_removed(model):
    cfg, G, _ = model
    z = Latent(cfg).sample(2, seed=9)
    res = probe(G, z, layers=["conv1"], feature_maps=["conv4"], device="cpu")
    with torch.no_grad():
        _, _, post = _hand_forward(G, z)
    assert res.feature_maps["conv4"].shape == (2, 8, 4096)
    assert np.abs(res.feature_maps["conv4"] - post["conv4"].numpy()).max() <= 1e-6
    for m in G.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    assert all(p.grad is None for p in G.parameters())


def test_hooks_removed_even_when_forward_fails(model):
    cfg, G, _ = model
    with pytest.raises(GanphonError, match="shape"):
        probe(G, torch.zeros(2, 99))
    for m in G.modules():
        assert not m._forward_hooks


def test_streaming_chunks_equal_one_batch(model):
    cfg, G, _ = model
    z = Latent(cfg).sample(7, seed=2)
    whole = probe(G, z, batch_size=64, device="cpu")
    starts = []
    for start, part in probe_batches(G, z, batch_size=3, device="cpu"):
        starts.append(start)
        # batch size changes only float rounding inside the convolutions
        assert np.abs(part.native["conv2"] - whole.native["conv2"][start:start + len(part)]).max() <= 1e-6
    assert starts == [0, 3, 6]


def test_qnetwork_post_leaky_relu_averages(model):
    cfg, G, Q = model
    z = Latent(cfg).sample(3, seed=5)
    wav = probe(G, z, layers=["conv1"], device="cpu").output
    res = probe(Q, wav, device="cpu")
    sd = Q.state_dict()
    x = torch.from_numpy(wav).unsqueeze(1)
    with torch.no_grad():
        for i in range(1, 6):
            x = F.leaky_relu(F.conv1d(F.pad(x, (10, 11)), sd[f"blocks.conv{i}.conv.weight"],
                                      sd[f"blocks.conv{i}.conv.bias"], stride=4), 0.2)  # TF 'SAME'
            assert np.abs(res.native[f"conv{i}"] - x.mean(1).numpy()).max() <= 1e-6
        logits = F.linear(x.transpose(1, 2).flatten(1), sd["fc.weight"], sd["fc.bias"])  # time-major
    assert np.abs(res.output - logits.numpy()).max() <= 1e-5
    assert res.native["conv1"].shape == (3, 4096) and res.native["conv5"].shape == (3, 16)
    maps = probe(Q, wav, layers=["conv3"], feature_maps=["conv3"], device="cpu").feature_maps["conv3"]
    assert maps.min() < 0  # LeakyReLU lets negative values through


def test_upsample_is_linear_between_sample_centres_with_edges_held():
    """SPEC §4 by hand: output sample j of L sits at (j + ½)/L of the slice, native sample k of n at
    (k + ½)/n; between two native centres the value is linear, outside them the edge value.  For n = 4,
    L = 16 output j lies at native position u = (j + ½)·4/16 − ½ = j/4 − 3/8."""
    native = np.array([[0.0, 8.0, 4.0, 12.0], [1.0, -1.0, 1.0, -1.0]])
    expected = np.array([
        # j = 0, 1: u < 0, the first value held; j = 14, 15: u > 3, the last held
        [0.0, 0.0, 1.0, 3.0, 5.0, 7.0, 7.5, 6.5, 5.5, 4.5, 5.0, 7.0, 9.0, 11.0, 12.0, 12.0],
        [1.0, 1.0, 0.75, 0.25, -0.25, -0.75, -0.75, -0.25, 0.25, 0.75, 0.75, 0.25, -0.25, -0.75, -1.0, -1.0],
    ])
    up = upsample(native, 16)
    assert isinstance(up, np.ndarray) and up.shape == (2, 16)
    assert np.allclose(up, expected, rtol=0, atol=1e-6)
    from_torch = upsample(torch.from_numpy(native.astype(np.float32)), 16)
    assert isinstance(from_torch, torch.Tensor) and np.allclose(from_torch.numpy(), expected, atol=1e-6)
    # a 3-d batch [B, C, n] and a 1-d series follow the same rule along the last axis
    assert np.allclose(upsample(native[None], 16)[0], expected, atol=1e-6)
    assert np.allclose(upsample(native[0], 16), expected[0], atol=1e-6)
    # the probe's case, n = 16 to L = 16384 (×1024): at j the position is (j + ½)/1024 − ½; checked at a
    # few chosen samples of a known ramp 0, 1, …, 15 (value = the position itself, held at 0 and 15)
    ramp = np.arange(16, dtype=np.float64)
    long = upsample(ramp, 16384)
    for j in (0, 511, 512, 513, 1536, 8000, 15871, 15872, 16383):
        u = (j + 0.5) / 1024 - 0.5
        assert long[j] == pytest.approx(min(max(u, 0.0), 15.0), abs=1e-9), j
    # same length: a copy, not a view
    same = upsample(ramp, 16)
    assert np.array_equal(same, ramp) and same is not ramp




def test_a_probe_left_half_way_leaves_the_caller_s_gradient_mode_as_it_was(tiny_ciwgan):
    """Inference mode is entered per batch, not held across ``yield``: a caller that stops reading
    (an error, a Ctrl-C, a resume with nothing left) keeps autograd working in its thread."""
    from ganphon.models import Latent, load_checkpoint
    from ganphon.probe import probe_batches

    model = load_checkpoint(tiny_ciwgan, qnetwork=False)
    batches = probe_batches(model.generator, Latent(model.config).sample(4, 1), batch_size=2)
    start, first = next(batches)
    assert start == 0 and first.output.shape[0] == 2
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()  # while suspended
    w = torch.ones(3, requires_grad=True)
    (w * 2).sum().backward()
    assert w.grad.tolist() == [2.0, 2.0, 2.0]
    del batches


_PROBE_PEAK = """
import sys
from ganphon.cli import main
assert main(["probe", "--checkpoint", "demo", "--n", "256", "--batch-size", sys.argv[1], "--out", sys.argv[2],
             "--quiet"]) == 0
# VmHWM: this process's own peak (getrusage's ru_maxrss keeps the parent's across exec)
print([int(line.split()[1]) * 1024 for line in open('/proc/self/status') if line.startswith('VmHWM:')][0])
"""


def test_the_probe_batch_estimate_follows_the_measured_peak_memory_and_refuses_beyond_it(tmp_path, capsys):
    """Peak RSS of `ganphon probe` at batch 32 and 256 (every layer exported): its growth per sample against
    the estimate; a batch beyond the free memory is one line before the folder is made."""
    import subprocess
    import sys
    from pathlib import Path

    from ganphon.cli import main
    from ganphon.models import load_checkpoint
    from ganphon.models.footprint import INFERENCE_FACTOR, available_bytes, leaf_elements
    from ganphon.models.wavegan import Generator

    peaks = {}
    for batch in (32, 256):
        done = subprocess.run([sys.executable, "-c", _PROBE_PEAK, str(batch), str(tmp_path / f"p{batch}")],
                              capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent.parent)
        assert done.returncode == 0, done.stderr[-2000:]
        peaks[batch] = int(done.stdout.split()[-1])
    measured = (peaks[256] - peaks[32]) / (256 - 32)
    G = load_checkpoint("demo").generator.eval()
    with torch.device("meta"):  # the count on the meta device is the count through the loaded weights
        skeleton = Generator(G.config).eval()
    counted = leaf_elements(G, torch.zeros(1, G.config.latent_dim))
    assert counted == leaf_elements(skeleton, torch.zeros(1, G.config.latent_dim, device="meta"))
    estimated = INFERENCE_FACTOR * 4 * counted
    print(f"\nbytes per sample: measured {measured:,.0f}, estimated {estimated:,.0f}")
    assert 0.7 < estimated / measured < 1.4
    batch = int(available_bytes(torch.device("cpu")) / estimated) + 1000
    assert main(["probe", "--checkpoint", "demo", "--n", str(batch), "--batch-size", str(batch), "--yes",
                 "--out", str(tmp_path / "big")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "--batch-size" in err and "GiB of memory are free" in err, err
    assert not (tmp_path / "big").exists()
