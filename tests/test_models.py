"""Models: shapes and rates (SPEC §2), critic details, latents, checkpoints, peer import,
and the padding conventions (old checkpoints compute what they computed)."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganphon.cli import main
from ganphon.errors import GanphonError
from ganphon.models import (Latent, ModelConfig, build_models, import_peer, load_checkpoint,
                            new_model, save_checkpoint)
from ganphon.models.wavegan import PhaseShuffle
from ganphon.probe import layer_lengths, probe
from ganphon.timebase import native_rate

FIX = Path(__file__).resolve().parent / "fixtures" / "tf"


@pytest.mark.parametrize("dim", [8, 64])
@pytest.mark.parametrize("slice_len", [16384, 65536])
def test_layer_shapes_and_native_rates(dim, slice_len):
    cfg = ModelConfig(arch="wavegan", dim=dim, slice_len=slice_len)
    G, D, _ = build_models(cfg)
    lengths = layer_lengths(G)
    mul = 16 if slice_len == 16384 else 32
    names = ["dense"] + [f"conv{i}" for i in range(1, 5 if slice_len == 16384 else 6)] + ["output"]
    assert list(lengths) == names
    T = slice_len / 16000
    for i, name in enumerate(names):
        channels, n = lengths[name]
        assert n == 16 * 4**i
        assert channels == (1 if name == "output" else dim * mul // 2**i)
        assert native_rate(n, slice_len) == pytest.approx(n / T)
    if slice_len == 16384:  # the table of SPEC §2
        rates = {k: native_rate(n, slice_len) for k, (_, n) in lengths.items()}
        assert rates == {"dense": 15.625, "conv1": 62.5, "conv2": 250.0, "conv3": 1000.0,
                         "conv4": 4000.0, "output": 16000.0}
    crit = layer_lengths(D)
    assert crit[f"conv{len(crit)}"][1] == 16
    assert [c for c, _ in crit.values()] == [dim * 2**i for i in range(len(crit))]


def test_deeper_variant_has_named_extra_layers():
    G, _, _ = build_models(ModelConfig(dim=4, extra_layers=5), critic=False)
    lengths = layer_lengths(G)
    assert list(lengths) == ["dense"] + [f"conv{i}" for i in range(1, 10)] + ["output"]
    assert lengths["output"][1] == 16384


def test_critic_phase_shuffle_only_on_first_four_layers_and_leaky_slope():
    cfg = ModelConfig(arch="ciwgan", n_codes=3, dim=4)
    _, D, Q = build_models(cfg)
    for net in (D, Q):
        rads = [b.shuffle.rad for b in net.blocks.values()]
        assert rads == [2, 2, 2, 2, 0]
        assert all(b.act.negative_slope == pytest.approx(0.2) for b in net.blocks.values())
    assert Q.fc.out_features == 3 and D.fc.out_features == 1


def test_phase_shuffle_one_reflect_shift_per_batch():
    x = torch.randn(6, 3, 40)
    ps = PhaseShuffle(2).train()
    torch.manual_seed(0)
    seen = set()
    for _ in range(30):
        y = ps(x)
        matches = []
        for shift in range(-2, 3):
            pad_l, pad_r = max(shift, 0), max(-shift, 0)
            ref = np.pad(x.numpy(), ((0, 0), (0, 0), (pad_l, pad_r)), mode="reflect")[..., pad_r:pad_r + 40]
            if np.array_equal(y.numpy(), ref):
                matches.append(shift)
        assert len(matches) == 1  # the whole batch shares one shift
        seen.add(matches[0])
    assert seen == {-2, -1, 0, 1, 2}
    assert torch.equal(ps.eval()(x), x)


def test_latent_layout_and_codes():
    lat = Latent(ModelConfig(arch="ciwgan", n_codes=3))
    assert lat.names[:5] == ["c1", "c2", "c3", "z1", "z2"] and lat.names[-1] == "z97"
    assert lat.index("c2") == 1 and lat.index("z11") == 13
    z = lat.sample(50, seed=4)
    assert z.shape == (50, 100)
    assert torch.all(z[:, :3].sum(1) == 1) and set(z[:, :3].flatten().tolist()) == {0.0, 1.0}
    assert z[:, 3:].min() >= -1 and z[:, 3:].max() <= 1
    assert torch.equal(lat.sample(50, seed=4), z) and not torch.equal(lat.sample(50, seed=5), z)
    assert torch.equal(lat.sample(7, seed=4), z[:7])
    assert lat.parse_code("2").tolist() == [0, 1, 0]
    assert lat.parse_code("0,1.5,0").tolist() == [0, 1.5, 0]
    built = lat.build(code="3", values={"z11": -15})
    assert built[13] == -15 and built[:3].tolist() == [0, 0, 1]
    fiw = Latent(ModelConfig(arch="fiwgan", n_codes=4)).sample(200, seed=1)
    assert set(fiw[:, :4].flatten().tolist()) == {0.0, 1.0}
    wav = Latent(ModelConfig())
    assert wav.names[0] == "z1" and wav.names[-1] == "z100" and wav.index("z100") == 99
    with pytest.raises(GanphonError, match="out of range"):
        lat.parse_code("4")
    with pytest.raises(GanphonError, match="does not exist"):
        lat.index("z98")
    with pytest.raises(GanphonError, match="does not exist"):
        lat.index("c4")
    with pytest.raises(GanphonError, match="3 codes"):
        lat.parse_code("1,0")


def test_same_seed_bit_identical_output():
    cfg = ModelConfig(arch="fiwgan", n_codes=3, dim=8)
    G1, _, _ = new_model(cfg, seed=11)
    G2, _, _ = new_model(cfg, seed=11)
    G3, _, _ = new_model(cfg, seed=12)
    z = Latent(cfg).sample(4, seed=2)
    with torch.no_grad():
        a, b, c = G1(z), G2(z), G3(z)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_the_output_tanh_is_the_float64_tanh_rounded_on_every_thread():
    """Every sample of a float32 batch on CPU: NumPy's float64 tanh of the pre-activation, rounded.

    PyTorch's vectorised float32 tanh was measured 5.2e-5 relative off on one
    thread's half of a batch now and then; the generator's output must not
    depend on the thread that computed it (ganphon.models.rounding)."""
    G, _, _ = new_model(ModelConfig(arch="ciwgan", n_codes=2, dim=4), seed=3)
    G.eval()
    pre = {}
    G.blocks["output"].act.register_forward_hook(lambda m, i, o: pre.update(x=i[0].detach().clone()))
    z = Latent(G.config).sample(8, seed=4)
    with torch.inference_mode():
        y = G(z)
    assert y.dtype == torch.float32 and torch.equal(y, _tanh(pre["x"]))
    assert y.abs().max() > 1e-3  # not a dead network


@pytest.mark.parametrize("fn, ref", [(torch.tanh, np.tanh), (torch.sigmoid, lambda a: 1 / (1 + np.exp(-a)))])
def test_rounded_elementwise_functions_are_numpys_float64_values_rounded(fn, ref):
    """The output layers' functions (the generator's tanh, CREPE's sigmoid) over a tensor the intra-op
    threads share: NumPy's float64 value rounded to float32 (and bfloat16), to the bit; in float64 the
    function itself, to rounding."""
    from ganphon.models.rounding import rounded

    x = torch.randn(4, 1, 16384, generator=torch.Generator().manual_seed(5)) * 3
    assert torch.equal(rounded(fn, x), torch.from_numpy(ref(x.double().numpy()).astype(np.float32)))
    np.testing.assert_allclose(rounded(fn, x.double()).numpy(), ref(x.double().numpy()), rtol=1e-15, atol=0)
    b = x.bfloat16()
    assert b.dtype == rounded(fn, b).dtype and torch.equal(rounded(fn, b), torch.from_numpy(ref(b.double().numpy())).bfloat16())


def test_checkpoint_round_trip_and_half(tmp_path):
    cfg = ModelConfig(arch="ciwgan", n_codes=2, dim=4)
    G, D, Q = new_model(cfg, seed=1)
    p = save_checkpoint(tmp_path / "m.pt", cfg, G, D, Q, meta={"seed": 1})
    m = load_checkpoint(p, critic=True)
    assert m.config == cfg and m.meta["seed"] == 1 and len(m.sha256) == 64
    for k, v in G.state_dict().items():
        assert torch.equal(m.generator.state_dict()[k], v)
    assert m.critic is not None and m.qnetwork is not None
    h = save_checkpoint(tmp_path / "h.pt", cfg, G, half=True)
    assert h.stat().st_size < p.stat().st_size / 2
    mh = load_checkpoint(h)
    w = mh.generator.dense.weight
    assert w.dtype == torch.float32
    assert torch.allclose(w, G.dense.weight, atol=1e-3)
    assert not list(tmp_path.glob(".*tmp*"))


class Evil:
    def __reduce__(self):
        return (print, ("this code ran",))


def test_bad_checkpoints_give_one_line_errors(tmp_path, capsys):
    cfg = ModelConfig(arch="wavegan", dim=4)
    G, _, _ = new_model(cfg, seed=0)
    good = save_checkpoint(tmp_path / "wavegan.pt", cfg, G)

    missing = tmp_path / "missing.pt"
    with pytest.raises(GanphonError, match="missing.pt: no such checkpoint"):
        load_checkpoint(missing)

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(good.read_bytes()[:300])
    with pytest.raises(GanphonError, match="corrupt.pt: not a readable checkpoint"):
        load_checkpoint(corrupt)

    with pytest.raises(GanphonError, match="wavegan.pt: holds a wavegan model, but a ciwgan"):
        load_checkpoint(good, arch="ciwgan")

    # one bit of a stored weight flipped: torch.load reads it as another weight without an error; the
    # record's CRC-32 in the archive (checked by Python's zipfile, the reference) names it
    import struct
    import zipfile

    with zipfile.ZipFile(good) as archive:
        record = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = bytearray(good.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[record.header_offset + 26:record.header_offset + 30])
    raw[record.header_offset + 30 + name_len + extra_len + record.file_size // 2] ^= 0x10
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(bytes(raw))
    assert zipfile.ZipFile(flipped).testzip() == record.filename
    changed, original = torch.load(flipped, weights_only=True), torch.load(good, weights_only=True)
    assert any(not torch.equal(changed["generator"][k], v) for k, v in original["generator"].items())  # silently
    with pytest.raises(GanphonError, match=f"flipped.pt: a damaged checkpoint: its record "
                                           f"{record.filename.split('/', 1)[1]} does not match its checksum"):
        load_checkpoint(flipped)

    evil = tmp_path / "evil.pt"
    torch.save({"format": "ganphon", "payload": Evil()}, evil)
    with pytest.raises(GanphonError, match="evil.pt: refused to load"):
        load_checkpoint(evil)
    assert "this code ran" not in capsys.readouterr().out

    G.dense.weight.data[0, 0] = float("nan")
    nan = save_checkpoint(tmp_path / "nan.pt", cfg, G)
    with pytest.raises(GanphonError, match="nan.pt: generator weight 'dense.weight' contains NaN"):
        load_checkpoint(nan)

    # The CLI turns each into exactly one line on stderr and exit status 2.
    for path in (missing, corrupt, evil, nan):
        assert main(["probe", "--checkpoint", str(path), "--n", "1", "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("ganphon: error: ") and path.name in err[0]


def test_bad_code_and_layer_errors(tmp_path, tiny_ciwgan, capsys):
    out = tmp_path / "o"
    assert main(["probe", "--checkpoint", str(tiny_ciwgan), "--n", "1", "--code", "5", "--out", str(out)]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["probe", "--checkpoint", str(tiny_ciwgan), "--n", "1", "--layers", "conv9", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganphon: error: --layers: 'conv9' does not exist; this model has ") and "conv4" in err


# ---------------------------------------------------------------- peer import

def _peer_generator_state(dim, latent=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    state = {"z_project.weight": torch.randn(16 * 16 * dim, latent, generator=g) * 0.05,
             "z_project.bias": torch.randn(16 * 16 * dim, generator=g) * 0.05}
    chans = [16 * dim, 8 * dim, 4 * dim, 2 * dim, dim, 1]
    for i in range(5):
        state[f"upconv{i}.conv.weight"] = torch.randn(chans[i], chans[i + 1], 25, generator=g) * 0.05
        state[f"upconv{i}.conv.bias"] = torch.randn(chans[i + 1], generator=g) * 0.05
    return state


def _peer_q_state(dim, k, seed=1):
    g = torch.Generator().manual_seed(seed)
    chans = [1, dim, 2 * dim, 4 * dim, 8 * dim, 16 * dim]
    state = {}
    for i in range(5):
        state[f"downconv_{i}.conv.weight"] = torch.randn(chans[i + 1], chans[i], 25, generator=g) * 0.05
        state[f"downconv_{i}.conv.bias"] = torch.randn(chans[i + 1], generator=g) * 0.05
    state["fc_out.weight"] = torch.randn(k, 16 * 16 * dim, generator=g) * 0.05
    state["fc_out.bias"] = torch.randn(k, generator=g) * 0.05
    return state


def _tanh(x):
    """NumPy's float64 tanh rounded to x's dtype: ganphon's output tanh on CPU (PyTorch's float32
    tanh is not correctly rounded)."""
    return torch.from_numpy(np.tanh(x.double().numpy())).to(x.dtype)


def _peer_g_forward(state, z, dim):
    """The port's generator written out by hand: no ReLU after the projection, [C, 16] reshape.

    Its last tanh is ``_tanh``."""
    x = F.linear(z, state["z_project.weight"], state["z_project.bias"]).view(-1, 16 * dim, 16)
    for i in range(5):
        x = F.conv_transpose1d(x, state[f"upconv{i}.conv.weight"], state[f"upconv{i}.conv.bias"],
                               stride=4, padding=11, output_padding=1)
        x = torch.relu(x) if i < 4 else _tanh(x)
    return x


def _peer_q_forward(state, x, slope):
    for i in range(5):
        x = F.conv1d(x, state[f"downconv_{i}.conv.weight"], state[f"downconv_{i}.conv.bias"], stride=4, padding=11)
        x = F.leaky_relu(x, slope)
    return F.linear(x.flatten(1), state["fc_out.weight"], state["fc_out.bias"])


@pytest.mark.parametrize("q_slope", [0.2, 0.0])
def test_peer_import_reproduces_the_port_forward_pass(tmp_path, q_slope):
    dim, k = 4, 3
    gs, qs = _peer_generator_state(dim), _peer_q_state(dim, k)
    torch.save(gs, tmp_path / "epoch10_step500_G.pt")
    torch.save(qs, tmp_path / "epoch10_step500_Q.pt")
    out = import_peer(tmp_path / "epoch10_step500_G.pt", tmp_path / "imported.pt", arch="ciwgan",
                      n_codes=k, q_path=tmp_path / "epoch10_step500_Q.pt", q_slope=q_slope)
    m = load_checkpoint(out)
    assert m.config.dim == dim and m.config.slice_len == 16384
    assert m.config.dense_relu is False and m.config.dense_layout == "port"
    z = Latent(m.config).sample(3, seed=0)
    with torch.no_grad():
        ours = m.generator(z)
        ref = _peer_g_forward(gs, z, dim)
        assert torch.equal(ours, ref)  # the port's own operations, bit for bit
        q_ours = m.qnetwork(ours)
        q_ref = _peer_q_forward(qs, ref, q_slope)
        assert torch.equal(q_ours, q_ref)
    assert m.config.convention == "torch" and m.config.bn_eps == 1e-5
    # A TF-layout model with the same numbers computes something else: the flags matter.
    cfg = ModelConfig(arch="ciwgan", n_codes=k, dim=dim)
    assert (m.config.dense_relu, m.config.dense_layout) != (cfg.dense_relu, cfg.dense_layout)


def test_peer_import_cli_and_errors(tmp_path, capsys):
    gs = _peer_generator_state(4)
    torch.save(gs, tmp_path / "G.pt")
    assert main(["import-checkpoint", str(tmp_path / "G.pt"), "--arch", "wavegan", "--out", str(tmp_path / "w.pt")]) == 0
    assert "d=4" in capsys.readouterr().out
    # A bare port state dict given where a ganphon checkpoint is expected.
    with pytest.raises(GanphonError, match="G.pt: .*import-checkpoint"):
        load_checkpoint(tmp_path / "G.pt")
    # A slope no LeakyReLU has (the port's are 0.2 and 0): named by its option, nothing written.
    for slope in ("2", "-0.5", "1e308"):
        assert main(["import-checkpoint", str(tmp_path / "G.pt"), "--arch", "wavegan", "--q-slope", slope,
                     "--out", str(tmp_path / "s.pt")]) == 2
        assert "--q-slope: a LeakyReLU slope between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "s.pt").exists()
    with pytest.raises(GanphonError, match="q_leaky_slope must be between 0 and 1, got 3"):
        ModelConfig(arch="wavegan", dim=4, q_leaky_slope=3.0).validate()
    # Q with the wrong number of codes.
    torch.save(_peer_q_state(4, 2), tmp_path / "Q.pt")
    with pytest.raises(GanphonError, match=r"^n_codes: .*Q.pt: the Q-network has 2 outputs, not 3$"):
        import_peer(tmp_path / "G.pt", tmp_path / "c.pt", arch="ciwgan", n_codes=3, q_path=tmp_path / "Q.pt")
    bad = dict(gs)
    del bad["upconv4.conv.weight"]
    torch.save(bad, tmp_path / "bad_G.pt")
    with pytest.raises(GanphonError, match="bad_G.pt"):
        import_peer(tmp_path / "bad_G.pt", tmp_path / "x.pt", arch="wavegan")


def test_new_model_cli(tmp_path, capsys):
    out = tmp_path / "f.pt"
    assert main(["new-model", "--arch", "fiwgan", "--dim", "4", "--codes", "3", "--seed", "5", "--out", str(out)]) == 0
    m = load_checkpoint(out, critic=True)
    assert m.config.arch == "fiwgan" and m.config.n_codes == 3 and m.critic is not None
    G, _, _ = new_model(m.config, seed=5)
    assert torch.equal(G.dense.weight, m.generator.dense.weight)
    before = out.read_bytes()
    assert main(["new-model", "--arch", "wavegan", "--codes", "2", "--out", str(out), "--overwrite"]) == 2
    assert "no codes" in capsys.readouterr().err
    assert out.read_bytes() == before


# ---------------------------------------------------------------- padding conventions

def test_new_models_use_the_tf_convention_and_old_configs_the_torch_one():
    cfg = ModelConfig()
    assert (cfg.convention, cfg.bn_eps, cfg.bn_momentum) == ("tf", 1e-3, 0.01)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("convention", "bn_eps", "bn_momentum")}
    legacy = ModelConfig.from_dict(old)
    assert (legacy.convention, legacy.bn_eps, legacy.bn_momentum) == ("torch", 1e-5, 0.1)
    with pytest.raises(GanphonError, match="convention must be 'tf' or 'torch'"):
        ModelConfig(convention="keras")
    G, D, _ = build_models(ModelConfig(dim=2, batchnorm=True))
    assert G.dense_norm.eps == 1e-3 and G.dense_norm.track_running_stats
    assert not D.blocks["conv2"].norm.track_running_stats  # TensorFlow: batch statistics, always


def _torch_convention_forward(sd, z, C):
    """ganphon's first release by hand: TF reshape and ReLU, padding 11 / output padding 1, eps 1e-5."""
    def bn(x, p):
        return F.batch_norm(x, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"],
                            sd[f"{p}.bias"], False, 0.1, 1e-5) if f"{p}.weight" in sd else x

    post = {}
    x = F.linear(z, sd["dense.weight"], sd["dense.bias"]).view(-1, 16, C).transpose(1, 2)
    x = post["dense"] = torch.relu(bn(x, "dense_norm"))
    names = [k.split(".")[1] for k in sd if k.startswith("blocks.") and k.endswith("conv.weight")]
    for name in names:
        x = F.conv_transpose1d(x, sd[f"blocks.{name}.conv.weight"], sd[f"blocks.{name}.conv.bias"],
                               stride=4, padding=11, output_padding=1)
        x = post[name] = _tanh(x) if name == "output" else torch.relu(bn(x, f"blocks.{name}.norm"))
    return x, post


def _tf_convention_forward(sd, z, C, k=25, s=4):
    """TensorFlow's WaveGAN by hand: dense → reshape [16, C] → ReLU; conv2d_transpose 'SAME' is the full
    transposed convolution, s·(n − 1) + k samples, cropped to s·n from ⌊(k − s)/2⌋ (the padding 'SAME'
    puts before the input of the forward convolution it is the gradient of)."""
    x = torch.relu(F.linear(z, sd["dense.weight"], sd["dense.bias"]).view(-1, 16, C).transpose(1, 2))
    names = [k_.split(".")[1] for k_ in sd if k_.startswith("blocks.") and k_.endswith("conv.weight")]
    for name in names:
        n = x.shape[-1]
        full = F.conv_transpose1d(x, sd[f"blocks.{name}.conv.weight"], sd[f"blocks.{name}.conv.bias"], stride=s)
        x = full[..., (k - s) // 2:(k - s) // 2 + s * n]
        x = _tanh(x) if name == "output" else torch.relu(x)
    return x


def _tf_convention_critic(sd, x, slope=0.2, k=25, s=4):
    """TensorFlow's conv1d 'SAME' by hand: pad k − s in total, the odd sample on the right; flatten time-major."""
    for i in range(1, 6):
        p = f"blocks.conv{i}"
        x = F.leaky_relu(F.conv1d(F.pad(x, ((k - s) // 2, k - s - (k - s) // 2)), sd[f"{p}.conv.weight"],
                                  sd[f"{p}.conv.bias"], stride=s), slope)
    return F.linear(x.transpose(1, 2).flatten(1), sd["fc.weight"], sd["fc.bias"])


def test_tf_convention_by_hand_matches_the_models():
    """The hand-written TF forward passes (above) and ganphon's tf-convention networks agree; the
    convention itself is measured against real TensorFlow in test_tf_import.py."""
    cfg = ModelConfig(arch="ciwgan", dim=4, n_codes=3)
    G, D, Q = build_models(cfg)
    z = Latent(cfg).sample(3, 0)
    with torch.no_grad():
        out = G.eval()(z)
        assert (out - _tf_convention_forward(G.state_dict(), z, G.dense_channels)).abs().max() <= 1e-6
        assert (Q.eval()(out) - _tf_convention_critic(Q.state_dict(), out, cfg.q_leaky_slope)).abs().max() <= 1e-5
        assert (D.eval()(out) - _tf_convention_critic(D.state_dict(), out, cfg.leaky_slope)).abs().max() <= 1e-5


def _torch_convention_critic(sd, x, slope=0.2):
    for i in range(1, 6):
        p = f"blocks.conv{i}"
        x = F.conv1d(x, sd[f"{p}.conv.weight"], sd[f"{p}.conv.bias"], stride=4, padding=11)
        if f"{p}.norm.weight" in sd:
            x = F.batch_norm(x, sd[f"{p}.norm.running_mean"], sd[f"{p}.norm.running_var"],
                             sd[f"{p}.norm.weight"], sd[f"{p}.norm.bias"], False, 0.1, 1e-5)
        x = F.leaky_relu(x, slope)
    return F.linear(x.flatten(1), sd["fc.weight"], sd["fc.bias"])  # channel-major


def test_checkpoints_saved_before_the_convention_field_compute_what_they_did():
    """torch_convention_ciwgan_bn.pt was saved by ganphon at commit c8eb33d (before the field), with
    random batch-norm statistics; the .npz holds what that code computed (bit-identical here)."""
    ref = np.load(FIX / "torch_convention_ciwgan_bn_ref.npz")
    m = load_checkpoint(FIX / "torch_convention_ciwgan_bn.pt", critic=True)
    assert (m.config.convention, m.config.bn_eps, m.config.batchnorm) == ("torch", 1e-5, True)
    z = torch.from_numpy(ref["z"])
    res = probe(m.generator, z, upsampled=False, device="cpu")
    for layer in res.layers:
        assert np.abs(res.native[layer] - ref[f"g_{layer}"]).max() <= 1e-6
    assert np.abs(res.output - ref["output"]).max() <= 1e-6
    x = torch.from_numpy(res.output)[:, None]
    with torch.no_grad():
        out, post = _torch_convention_forward(m.generator.state_dict(), z, m.generator.dense_channels)
        assert torch.equal(m.generator(z), out)  # bit for bit
        assert np.array_equal(res.native["conv3"], post["conv3"].mean(1).numpy())
        assert np.abs(m.critic(x).numpy() - ref["critic"]).max() <= 1e-6
        assert np.abs(m.qnetwork(x).numpy() - ref["q_eval"]).max() <= 1e-6
        assert torch.equal(m.critic(x), _torch_convention_critic(m.critic.state_dict(), x))
        assert torch.equal(m.qnetwork(x), _torch_convention_critic(m.qnetwork.state_dict(), x))
    # The TF convention on the same weights computes something else.
    tf_cfg = ModelConfig(**{**m.config.to_dict(), "convention": "tf", "bn_eps": 1e-3})
    G_tf, _, _ = build_models(tf_cfg, critic=False)
    G_tf.load_state_dict(m.generator.state_dict())
    with torch.no_grad():
        assert (G_tf.eval()(z) - out).abs().max() > 1e-3


def test_bundled_model_computes_the_hand_written_forward_pass():
    """The bundled generator and Q-network, whatever their convention, against the passes written above."""
    m = load_checkpoint("demo")
    z = Latent(m.config).sample(4, 0)
    G, Q = m.generator.eval(), m.qnetwork.eval()
    with torch.no_grad():
        out = G(z)
        if m.config.convention == "tf":
            ref = _tf_convention_forward(G.state_dict(), z, G.dense_channels)
            q_ref = _tf_convention_critic(Q.state_dict(), out, m.config.q_leaky_slope)
        else:
            ref, _ = _torch_convention_forward(G.state_dict(), z, G.dense_channels)
            q_ref = _torch_convention_critic(Q.state_dict(), out, m.config.q_leaky_slope)
        assert (out - ref).abs().max() <= 1e-6
        assert (Q(out) - q_ref).abs().max() <= 1e-5


@pytest.mark.parametrize("convention", ["tf", "torch"])
def test_both_conventions_keep_the_time_base(convention):
    """Same layer lengths, so sample k of every layer stands for (k + 0.5)·T/n either way."""
    for slice_len in (16384, 65536):
        G, D, _ = build_models(ModelConfig(dim=2, slice_len=slice_len, convention=convention))
        lengths = layer_lengths(G)
        assert [n for _, n in lengths.values()] == [16 * 4**i for i in range(len(lengths))]
        assert lengths["output"][1] == slice_len and layer_lengths(D)[f"conv{len(D.blocks)}"][1] == 16


def test_new_model_leaves_the_global_random_state_alone():
    cfg = ModelConfig(arch="ciwgan", n_codes=2, dim=4)
    torch.manual_seed(123)
    expected = torch.rand(5)
    torch.manual_seed(123)
    G1, _, _ = new_model(cfg, seed=7)
    after = torch.rand(5)
    assert torch.equal(after, expected)
    # …and the weights still depend on the seed alone
    torch.manual_seed(999)
    G2, _, _ = new_model(cfg, seed=7)
    for a, b in zip(G1.parameters(), G2.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("arch,extra", [("wavegan", {}), ("ciwgan", {"n_codes": 3, "batchnorm": True}),
                                        ("wavegan", {"postproc_len": 16, "upsample": "nn"})])
def test_a_loaded_checkpoint_holds_exactly_the_saved_weights_without_a_random_init(tmp_path, arch, extra):
    """Loading builds no randomly initialised network: torch's random state is untouched, and every weight
    and output equals the saved network's bit for bit (the critic and Q-network too, when asked for)."""
    cfg = ModelConfig(arch=arch, dim=8, **extra)
    G, D, Q = new_model(cfg, seed=4)
    with torch.no_grad():  # batch-norm running statistics that differ from a fresh module's
        for m in G.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.num_batches_tracked.fill_(7)
    path = save_checkpoint(tmp_path / "m.pt", cfg, G, D, Q)
    torch.manual_seed(123)
    rng = torch.get_rng_state()
    loaded = load_checkpoint(path, critic=True)
    assert torch.equal(torch.get_rng_state(), rng)  # nothing drew random numbers
    for net, original in ((loaded.generator, G), (loaded.critic, D), (loaded.qnetwork, Q)):
        if original is None:
            assert net is None
            continue
        saved = original.state_dict()
        assert list(net.state_dict()) == list(saved)
        for key, value in net.state_dict().items():
            assert value.device.type == "cpu" and value.dtype == saved[key].dtype, key
            assert torch.equal(value, saved[key]), key
        assert not net.training and all(p.requires_grad for p in net.parameters())
    z = torch.randn(3, cfg.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.equal(loaded.generator(z), G.eval()(z))
    only_g = load_checkpoint(path)
    assert only_g.critic is None and torch.equal(only_g.generator.dense.weight, G.dense.weight)


def test_the_finite_check_finds_every_nan_and_inf():
    """One reduction (minimum, maximum) answers as ``isfinite(v).all()`` does, wherever the value sits."""
    from ganphon.models.checkpoint import _all_finite

    assert _all_finite(torch.zeros(0)) and _all_finite(torch.tensor(3.0e38)) and _all_finite(torch.ones(2, 3))
    for n in (1, 7, 64, 1000, 4099):
        for pos in {0, n // 2, n - 1}:
            for bad in (float("nan"), float("inf"), -float("inf")):
                for dtype in (torch.float32, torch.float64, torch.float16):
                    x = torch.randn(n, generator=torch.Generator().manual_seed(n)).to(dtype)
                    x[pos] = bad
                    assert not _all_finite(x.reshape(1, -1)), (n, pos, bad, dtype)
                    assert bool(torch.isfinite(x).all()) is False


def test_a_config_rate_is_one_a_float32_wav_header_can_hold(tmp_path):
    """sr × channels × 4 bytes is the header's 32-bit byte rate: the largest accepted rate writes a WAV."""
    from ganphon import io
    from ganphon.models.config import WAV_MAX_RATE

    ModelConfig(sr=WAV_MAX_RATE)
    io.write_wav(tmp_path / "top.wav", np.zeros(10, dtype=np.float32), WAV_MAX_RATE)  # the header takes it
    assert io.read_wav(tmp_path / "top.wav")[1] == WAV_MAX_RATE
    with pytest.raises(GanphonError, match="sr must be ≤ 1073741823"):
        ModelConfig(sr=2**31)
    with pytest.raises(GanphonError, match="byte rate beyond the 32 bits"):
        ModelConfig(sr=WAV_MAX_RATE, nch=2)


def test_every_whole_number_setting_of_a_config_is_bounded():
    """A checkpoint can claim any integer: each int field refuses 10**30 in one line (no overflow deeper down)."""
    import dataclasses

    for field in dataclasses.fields(ModelConfig):
        if field.type in ("int", int):
            with pytest.raises(GanphonError):
                ModelConfig(**{field.name: 10**30})


def test_a_file_named_demo_beside_the_bundled_name_is_said_to_be_passed_over(tmp_path, monkeypatch, capsys):
    """'--checkpoint demo' is the bundled ciwGAN; a checkpoint file named demo in the working folder was passed
    over in silence.  A note says so (./demo reads the file); the model loaded is the bundled one, by its digest."""
    import hashlib

    from ganphon.models.bundled import demo_checkpoint_path

    monkeypatch.chdir(tmp_path)
    assert main(["new-model", "--dim", "8", "--out", "demo"]) == 0
    capsys.readouterr()
    assert main(["model-info", "--checkpoint", "demo"]) == 0
    out, err = capsys.readouterr()
    assert err.strip() == ("ganphon: note: 'demo' is the bundled ciwGAN; the file named demo here is not read "
                           "(give ./demo for it) (UserWarning from ganphon)")
    assert out.split()[2] == hashlib.sha256(demo_checkpoint_path().read_bytes()).hexdigest()[:16] + "…"
    assert main(["model-info", "--checkpoint", "./demo"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.split()[2] == hashlib.sha256((tmp_path / "demo").read_bytes()).hexdigest()[:16] + "…"


def test_the_benchmarks_widened_generator_computes_the_bundled_one():
    """``benchmarks/bench_sweep.py --weights trained`` times a d = 64 forward on a trained generator's outputs:
    the bundled generator with every channel copied.  Against the bundled model's own forward: the same output
    and the same channel mean in every layer, from twice the channels."""
    import importlib.util

    from ganphon.models.bundled import demo_checkpoint_path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sweep.py"
    spec = importlib.util.spec_from_file_location("bench_sweep", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bundled = load_checkpoint(demo_checkpoint_path()).generator.eval()
    config, wide = bench.widened_demo_generator(2 * bundled.config.dim)
    assert config.dim == 2 * bundled.config.dim and wide.dense_channels == 2 * bundled.dense_channels
    z = torch.randn(4, config.latent_dim, generator=torch.Generator().manual_seed(5)) * 4
    means = {}
    for name, G in (("bundled", bundled), ("wide", wide)):
        got = means[name] = {}
        hooks = [m.register_forward_hook(lambda _m, _i, out, n=n, got=got: got.__setitem__(n, out.mean(1)))
                 for n, m in G.activation_modules().items()]
        with torch.inference_mode():
            got["out"] = G(z)
        for h in hooks:
            h.remove()
    assert set(means["wide"]) == set(means["bundled"]) == {*bundled.layer_names, "output", "out"}
    for layer, value in means["bundled"].items():
        assert float(value.abs().max()) > 0.01
        torch.testing.assert_close(means["wide"][layer], value, rtol=0, atol=2e-5)
