"""TensorFlow checkpoints: the reader, the import, and TensorFlow's own numbers.

The fixtures under tests/fixtures/tf/ were made by real TensorFlow 2.21
(tests/make_tf_fixtures.py builds the WaveGAN graphs in tf.compat.v1, saves
them with tf.train.Saver and records what TensorFlow computed).  Nothing here
imports TensorFlow.
"""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from ganphon.cli import main
from ganphon.errors import GanphonError
from ganphon.models import ModelConfig, load_checkpoint
from ganphon.models.tf_checkpoint import TFCheckpoint, crc32c, mask_crc
from ganphon.models.tf_import import import_tf, read_tf_checkpoint
from ganphon.models.wavegan import Critic, DownBlock, UpBlock
from ganphon.probe import probe

FIX = Path(__file__).resolve().parent / "fixtures" / "tf"
# name, --arch, d, slice, batch norm, codes, has Q, has D
MODELS = [
    ("wavegan_d8", "wavegan", 8, 16384, False, 0, False, False),
    ("ciwgan_d4_bn", "ciwgan", 4, 16384, True, 3, True, False),
    ("fiwgan_d2_65536", "fiwgan", 2, 65536, False, 3, True, True),
    ("wavegan_d1_bn_65536", "wavegan", 1, 65536, True, 0, False, False),
    # WaveGAN's artefact controls: --wavegan_genr_upsample nn, --wavegan_genr_pp
    ("wavegan_d2_bn_nn", "wavegan", 2, 16384, True, 0, False, False),
    ("ciwgan_d2_pp", "ciwgan", 2, 16384, False, 3, True, True),
    ("wavegan_d1_nn_pp", "wavegan", 1, 16384, False, 0, False, False),
]
# name → (upsample, postproc_len)
CONTROLS = {"wavegan_d2_bn_nn": ("nn", 0), "ciwgan_d2_pp": ("zeros", 512), "wavegan_d1_nn_pp": ("nn", 512)}
TOL = 1e-5


# ---------------------------------------------------------------- CRC32C and the reader

def _crc32c_bitwise(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def test_crc32c_check_values_and_a_bitwise_reference():
    # RFC 3720 (iSCSI) appendix B.4 and the standard check value.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(b"") == 0
    rng = np.random.default_rng(0)
    for n in (1, 3, 4, 5, 31, 4097, 40_003):  # one chunk, and many chunks combined
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert crc32c(data) == _crc32c_bitwise(data), n
    assert mask_crc(0) == 0xA282EAD8


@pytest.mark.parametrize("name", [m[0] for m in MODELS])
def test_reader_reads_what_tensorflow_reads(name):
    ref = np.load(FIX / name / "reference.npz")
    ckpt = TFCheckpoint(FIX / name)
    assert ckpt.names() == sorted(ref["tf_names"].tolist())
    shapes = ckpt.shapes()
    for var, shape, digest in zip(ref["tf_names"], ref["tf_shapes"], ref["tf_sha256"]):
        assert ",".join(map(str, shapes[var])) == shape
        value = np.ascontiguousarray(ckpt.read(var))
        assert hashlib.sha256(value.tobytes()).hexdigest() == digest, var


def test_prefix_index_file_and_folder_name_the_same_checkpoint(tmp_path):
    folder = FIX / "ciwgan_d4_bn"
    prefix = folder / "model.ckpt-15920"
    assert TFCheckpoint(folder).prefix == prefix
    assert TFCheckpoint(prefix).prefix == prefix
    assert TFCheckpoint(str(prefix) + ".index").prefix == prefix
    # A moved folder whose 'checkpoint' file still names the old absolute path.
    moved = tmp_path / "moved"
    shutil.copytree(folder, moved)
    (moved / "checkpoint").write_text('model_checkpoint_path: "/nowhere/train/model.ckpt-15920"\n')
    assert TFCheckpoint(moved).prefix == moved / "model.ckpt-15920"


# ---------------------------------------------------------------- import = TensorFlow's numbers

def _max_diff(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    return float(np.abs(a - b).max())


@pytest.mark.parametrize("name,arch,dim,slice_len,bn,codes,has_q,has_d", MODELS)
def test_import_reproduces_tensorflow(tmp_path, name, arch, dim, slice_len, bn, codes, has_q, has_d):
    ref = np.load(FIX / name / "reference.npz")
    out = import_tf(FIX / name, tmp_path / "m.pt", arch=arch)
    m = load_checkpoint(out, critic=True)
    c = m.config
    assert (c.arch, c.dim, c.slice_len, c.batchnorm, c.n_codes) == (arch, dim, slice_len, bn, codes)
    assert (c.convention, c.bn_eps, c.dense_relu, c.dense_layout) == ("tf", 1e-3, True, "tf")
    assert (c.upsample, c.postproc_len) == CONTROLS.get(name, ("zeros", 0))
    assert m.meta["source"] == "tensorflow" and m.meta["step"] == int(str(TFCheckpoint(FIX / name).prefix).rsplit("-", 1)[1])

    layers = ["dense"] + [f"conv{i}" for i in range(1, 5 if slice_len == 16384 else 6)]
    if c.postproc_len:  # the tanh output before the filter is a layer; "output" is the filtered waveform
        layers.append("output")
    res = probe(m.generator, torch.from_numpy(ref["z"]), layers=layers, upsampled=False, device="cpu")
    assert res.layers == layers
    for layer in layers:  # post-ReLU channel means, as TensorFlow computed them
        assert _max_diff(res.native[layer], ref[f"g_{layer}"]) <= TOL, layer
    assert _max_diff(res.output, ref["output"]) <= TOL
    assert np.abs(ref["output"]).max() > 0.05  # a real signal, not a dead network

    assert (m.qnetwork is not None) == has_q and (m.critic is not None) == has_d
    waves = torch.from_numpy(ref["output"])[:, None]
    for key, net in (("q", m.qnetwork), ("d", m.critic)):
        if net is None:
            continue
        if key == "q":  # every Q layer's channel means after LeakyReLU
            rq = probe(net, ref["output"], upsampled=False, device="cpu")
            for layer in rq.layers:
                assert _max_diff(rq.native[layer], ref[f"q_{layer}"]) <= TOL, layer
        with torch.no_grad():
            logits32 = net(waves).numpy()
            logits64 = net.double()(waves.double()).numpy()
        tf32, tf64 = ref[f"{key}_logits"].reshape(logits32.shape), ref[f"{key}_logits_f64"].reshape(logits32.shape)
        # The same computation in float64 (TensorFlow's and ours): the mapping is exact.
        assert _max_diff(logits64, tf64) <= 1e-9
        if bn:
            # Batch norm on batch statistics divides by each channel's spread; float32 rounding then
            # moves TensorFlow's own logits ~2e-5 from its float64 run, and ours as much.
            assert _max_diff(logits32, tf32) <= TOL + 2 * _max_diff(tf32, tf64)
        else:
            assert _max_diff(logits32, tf32) <= TOL


def test_imported_weights_are_the_tensorflow_variables():
    """The mapping, variable by variable (kernels transposed, never flipped)."""
    ckpt = TFCheckpoint(FIX / "ciwgan_d4_bn")
    config, G, D, Q, _ = read_tf_checkpoint(FIX / "ciwgan_d4_bn", arch="ciwgan")
    k = ckpt.read("G/z_project/dense/kernel")
    assert np.array_equal(G.dense.weight.detach().numpy(), k.T)
    k = ckpt.read("G/upconv_2/conv2d_transpose/kernel")  # [1, 25, Cout, Cin]
    w = G.blocks["conv3"].conv.weight.detach().numpy()  # [Cin, Cout, 25]
    assert np.array_equal(w[3, 1, :], k[0, :, 1, 3])
    assert np.array_equal(G.blocks["conv1"].norm.running_var.numpy(),
                          ckpt.read("G/upconv_0/batch_normalization/moving_variance"))
    k = ckpt.read("Q/Qdownconv_1/conv1d/kernel")  # [25, Cin, Cout]
    assert np.array_equal(Q.blocks["conv2"].conv.weight.detach().numpy()[5, 2, :], k[:, 2, 5])
    k = ckpt.read("Q/Qoutput/dense/kernel")  # rows t·C + c
    assert np.array_equal(Q.fc.weight.detach().numpy(), k.T)
    assert D is None and config.phaseshuffle_rad == 2


def test_codes_come_from_the_q_network_and_args_txt(tmp_path):
    config, *_ = read_tf_checkpoint(FIX / "fiwgan_d2_65536", arch="fiwgan")
    assert config.n_codes == 3
    with pytest.raises(GanphonError, match=r"^arch: .*a model with codes: give ciwgan or fiwgan"):
        read_tf_checkpoint(FIX / "fiwgan_d2_65536")
    with pytest.raises(GanphonError, match="has a Q-network"):
        read_tf_checkpoint(FIX / "fiwgan_d2_65536", arch="wavegan")
    with pytest.raises(GanphonError, match=r"^n_codes: .*the number of codes disagrees: given 2, Q/Qoutput/dense/kernel says 3"):
        read_tf_checkpoint(FIX / "fiwgan_d2_65536", arch="fiwgan", n_codes=2)
    folder = tmp_path / "edited"
    shutil.copytree(FIX / "wavegan_d8", folder)
    (folder / "args.txt").write_text((folder / "args.txt").read_text().replace("wavegan_dim,8", "wavegan_dim,16"))
    with pytest.raises(GanphonError, match="args.txt: wavegan_dim is 16, but the checkpoint's shapes say 8"):
        read_tf_checkpoint(folder)


# ---------------------------------------------------------------- bad inputs: one line naming file and variable

def _copy(tmp_path, name) -> Path:
    dst = tmp_path / name
    shutil.copytree(FIX / name, dst)
    return dst


def test_missing_data_shard(tmp_path):
    folder = _copy(tmp_path, "wavegan_d8")
    shard = folder / "model.ckpt-12255.data-00000-of-00001"
    shard.unlink()
    with pytest.raises(GanphonError, match=r"model.ckpt-12255.data-00000-of-00001: missing data shard "
                                           r"\(needed for variable 'G/z_project/dense/kernel'\)"):
        import_tf(folder, tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def test_flipped_byte_fails_the_crc(tmp_path):
    folder = _copy(tmp_path, "wavegan_d8")
    ckpt = TFCheckpoint(folder)
    entry = ckpt.entries["G/upconv_1/conv2d_transpose/kernel"]
    shard = ckpt.shard_path(0)
    data = bytearray(shard.read_bytes())
    data[entry.offset + 100] ^= 0x01
    shard.write_bytes(bytes(data))
    with pytest.raises(GanphonError, match=r"data-00000-of-00001: CRC mismatch in variable "
                                           r"'G/upconv_1/conv2d_transpose/kernel'"):
        import_tf(folder, tmp_path / "out.pt")
    # and in the index table itself
    index = folder / "model.ckpt-12255.index"
    data = bytearray(index.read_bytes())
    data[20] ^= 0x01
    index.write_bytes(bytes(data))
    with pytest.raises(GanphonError, match=r"model.ckpt-12255.index: CRC mismatch in the block at byte 0"):
        TFCheckpoint(folder)
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize("name,message", [
    ("bad_other_network", r"not a WaveGAN checkpoint: no variable 'G/z_project/dense/kernel' "
                          r"\(it holds dense/bias, dense/kernel, dense_1/bias, dense_1/kernel\)"),
    ("bad_partitioned", r"variable 'G/z_project/dense/kernel' is partitioned"),
])
def test_checkpoints_ganphon_cannot_represent_are_refused(tmp_path, capsys, name, message):
    with pytest.raises(GanphonError, match=rf"{name}/model.ckpt-5.index: {message}"):
        import_tf(FIX / name, tmp_path / "out.pt", arch="wavegan")
    code = main(["import-checkpoint", str(FIX / name), "--format", "tf", "--arch", "wavegan",
                 "--out", str(tmp_path / "out.pt")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("ganphon: error: ") and name in err[0]
    assert not (tmp_path / "out.pt").exists()


def test_artefact_controls_are_read_off_the_variables_and_checked_against_args_txt(tmp_path):
    ckpt = TFCheckpoint(FIX / "wavegan_d1_nn_pp")
    config, G, _, _, meta = read_tf_checkpoint(FIX / "wavegan_d1_nn_pp")
    assert (config.upsample, config.postproc_len) == ("nn", 512)
    assert G.layer_names == ["dense", "conv1", "conv2", "conv3", "conv4", "output", "postproc"]
    # the mapping by hand: conv1d kernels [k, Cin, Cout] → [Cout, Cin, k], never flipped
    k = ckpt.read("G/upconv_1/conv1d/kernel")
    assert np.array_equal(G.blocks["conv2"].conv.weight.detach().numpy()[2, 5, :], k[:, 5, 2])
    k = ckpt.read("G/pp_filt/conv1d/kernel")  # [512, 1, 1]
    assert np.array_equal(G.blocks["postproc"].conv.weight.detach().numpy()[0, 0], k[:, 0, 0])
    assert not [n for n in meta["skipped"] if not n.endswith(("Adam", "Adam_1", "_power", "global_step"))]
    for key, value, message in [
        ("wavegan_genr_upsample", "zeros", r"wavegan_genr_upsample is 'zeros', but the checkpoint's variables "
                                           r"say 'nn' \(G/upconv_0/conv1d\)"),
        ("wavegan_genr_pp", "False", r"wavegan_genr_pp is False, but the checkpoint has variable 'G/pp_filt"),
        ("wavegan_genr_pp_len", "256", r"wavegan_genr_pp_len is 256, but 'G/pp_filt/conv1d/kernel' has 512 taps"),
    ]:
        folder = tmp_path / key
        shutil.copytree(FIX / "wavegan_d1_nn_pp", folder)
        lines = (folder / "args.txt").read_text().splitlines()
        (folder / "args.txt").write_text("\n".join(f"{key},{value}" if line.startswith(key + ",") else line
                                                 for line in lines))
        with pytest.raises(GanphonError, match=message):
            import_tf(folder, tmp_path / "out.pt")
    folder = tmp_path / "no_pp"  # a model without the filter whose args.txt says it has one
    shutil.copytree(FIX / "wavegan_d2_bn_nn", folder)
    (folder / "args.txt").write_text((folder / "args.txt").read_text().replace("wavegan_genr_pp,False",
                                                                               "wavegan_genr_pp,True"))
    with pytest.raises(GanphonError, match="wavegan_genr_pp is True, but the checkpoint has no variable"):
        import_tf(folder, tmp_path / "out.pt")


def test_a_tf_checkpoint_with_each_control_imported_and_probed_by_the_cli(tmp_path, capsys):
    for name, arch, words in [("wavegan_d2_bn_nn", "wavegan", "upsample=nn"),
                              ("ciwgan_d2_pp", "ciwgan", "postproc=512 with Q-network")]:
        out = tmp_path / f"{name}.pt"
        assert main(["import-checkpoint", str(FIX / name), "--format", "tf", "--arch", arch,
                     "--out", str(out)]) == 0
        assert words in capsys.readouterr().out
        layers = ["dense", "conv1", "conv2", "conv3", "conv4"] + (["postproc"] if "pp" in name else [])
        assert main(["probe", "--checkpoint", str(out), "--n", "2", "--seed", "1", "--layers", ",".join(layers),
                     "--device", "cpu", "--out", str(tmp_path / f"probe_{name}")]) == 0
        capsys.readouterr()
        files = sorted(p.name for p in (tmp_path / f"probe_{name}").glob("s000001_*"))
        # each layer stored once, as its native-rate Sound (WAVs of layers only with --wav-layers)
        assert files == sorted(["s000001_output.wav"] + [f"s000001_{x}.Sound" for x in layers])
    # "output" is the waveform's file name: as a layer it is for the API only
    assert main(["probe", "--checkpoint", str(out), "--n", "2", "--layers", "output", "--device", "cpu",
                 "--out", str(tmp_path / "p2")]) == 2
    assert "layer 'output' is the waveform itself" in capsys.readouterr().err


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(GanphonError, match="nothing.index: no such file"):
        TFCheckpoint(tmp_path / "nothing")
    with pytest.raises(GanphonError, match="without a 'checkpoint' file"):
        TFCheckpoint(tmp_path)
    (tmp_path / "junk.index").write_bytes(b"\x00" * 100)
    with pytest.raises(GanphonError, match="junk.index: not a TensorFlow checkpoint index"):
        TFCheckpoint(tmp_path / "junk")


def test_import_checkpoint_cli(tmp_path, capsys):
    out = tmp_path / "ciwgan.pt"
    assert main(["import-checkpoint", str(FIX / "ciwgan_d4_bn"), "--format", "tf", "--arch", "ciwgan",
                 "--out", str(out)]) == 0
    assert "ciwgan d=4 slice=16384 codes=3 with Q-network" in capsys.readouterr().out
    assert load_checkpoint(out).config.convention == "tf"
    assert main(["import-checkpoint", str(FIX / "ciwgan_d4_bn"), "--format", "tf", "--arch", "ciwgan",
                 "--q", "x.pt", "--out", str(out), "--overwrite"]) == 2
    assert "--q" in capsys.readouterr().err
    assert main(["import-checkpoint", str(FIX / "ciwgan_d4_bn"), "--format", "tf", "--arch", "ciwgan",
                 "--out", str(out)]) == 2  # an existing file is replaced only with --overwrite
    assert "exists; add --overwrite" in capsys.readouterr().err


# ---------------------------------------------------------------- the padding conventions by hand

def _full_transpose(x, w, stride):
    """Every output of a transpose convolution, no cropping: out[o, s·i + j] += x[c, i]·w[c, o, j]."""
    cin, n = x.shape
    _, cout, k = w.shape
    full = np.zeros((cout, stride * (n - 1) + k))
    for c in range(cin):
        for i in range(n):
            for o in range(cout):
                full[o, stride * i : stride * i + k] += x[c, i] * w[c, o]
    return full


@pytest.mark.parametrize("convention,start", [("tf", 10), ("torch", 11)])
def test_transpose_convolution_crops_as_the_convention_says(convention, start):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5))
    block = UpBlock(2, 3, 25, 4, False, nn.Identity(), ModelConfig(convention=convention))
    w = block.conv.weight.detach().double().numpy()
    b = block.conv.bias.detach().double().numpy()
    with torch.no_grad():
        ours = block.double()(torch.from_numpy(x)[None])[0].numpy()
    full = _full_transpose(x, w, 4) + b[:, None]  # 4·5 + 21 = 41 samples
    # TensorFlow 'same' keeps full[10 : 30]: (k − s) // 2 = 10 cropped before, 11 after.
    assert np.allclose(ours, full[:, start : start + 20], atol=1e-12)
    # stride 1 (the deeper variant): both keep full[12 : n + 12]
    block1 = UpBlock(2, 3, 25, 1, False, nn.Identity(), ModelConfig(convention=convention)).double()
    with torch.no_grad():
        ours1 = block1(torch.from_numpy(x)[None])[0].numpy()
    full1 = _full_transpose(x, block1.conv.weight.detach().numpy(), 1) + block1.conv.bias.detach().numpy()[:, None]
    assert np.allclose(ours1, full1[:, 12:17], atol=1e-12)


@pytest.mark.parametrize("convention,left,right", [("tf", 10, 11), ("torch", 11, 11)])
def test_strided_convolution_pads_as_the_convention_says(convention, left, right):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 16))
    block = DownBlock(2, 3, 25, 4, False, 1.0, 0, ModelConfig(convention=convention)).double()
    w, b = block.conv.weight.detach().numpy(), block.conv.bias.detach().numpy()
    padded = np.pad(x, ((0, 0), (left, right)))
    ref = np.array([[(w[o] * padded[:, 4 * t : 4 * t + 25]).sum() + b[o] for t in range(4)] for o in range(3)])
    with torch.no_grad():
        ours = block(torch.from_numpy(x)[None])[0].numpy()
    assert np.allclose(ours, ref, atol=1e-12)


def test_critic_flattens_time_major_in_the_tf_convention():
    for convention in ("tf", "torch"):
        critic = Critic(ModelConfig(dim=1, convention=convention)).double().eval()
        last = torch.randn(2, 16, 16, dtype=torch.float64)  # [B, C, 16]
        flat = last.transpose(1, 2).reshape(2, -1) if convention == "tf" else last.reshape(2, -1)
        critic.blocks = nn.ModuleDict()  # feed the head directly
        with torch.no_grad():
            assert torch.allclose(critic(last), flat @ critic.fc.weight.T + critic.fc.bias)
