"""Interventions on layer channels against a forward pass written here, channel by channel."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganphon.errors import GanphonError
from ganphon.models import Latent, ModelConfig, new_model
from ganphon.probe import Intervention, interventions_from_record, parse_channels, probe


def _hand_forward(G, z, edits=None):
    """The generator by hand (TF layout) with ``edits[layer](post_relu)`` applied after each ReLU."""
    edits = edits or {}
    sd = {k: v.detach() for k, v in G.state_dict().items()}
    C = sd["dense.weight"].shape[0] // 16
    post = {}
    x = torch.relu(F.linear(z, sd["dense.weight"], sd["dense.bias"]).view(-1, 16, C).transpose(1, 2))
    if "dense" in edits:
        x = edits["dense"](x)
    post["dense"] = x
    names = [k.split(".")[1] for k in sd if k.startswith("blocks.") and k.endswith("conv.weight")]
    for name in names:
        n = x.shape[-1]
        x = F.conv_transpose1d(x, sd[f"blocks.{name}.conv.weight"], sd[f"blocks.{name}.conv.bias"],
                               stride=4, padding=10)[..., :4 * n]
        if name == "output":
            x = torch.tanh(x)
        else:
            x = torch.relu(x)
            if name in edits:
                x = edits[name](x)
        post[name] = x
    return x[:, 0], post


@pytest.fixture(scope="module")
def model():
    cfg = ModelConfig(arch="ciwgan", n_codes=3, dim=8)
    G, _, _ = new_model(cfg, seed=11)
    return cfg, G


def _zero(channels):
    def edit(x):
        x = x.clone()
        for c in channels:
            x[:, c, :] = 0.0
        return x
    return edit


def _scale(channels, k):
    def edit(x):
        x = x.clone()
        for c in channels:
            x[:, c, :] = x[:, c, :] * k
        return x
    return edit


def test_zeroed_and_scaled_channels_match_the_hand_forward_pass(model):
    cfg, G = model
    z = Latent(cfg).sample(4, seed=2)
    ivs = [Intervention("conv1", (3, 17, 40), "set", 0.0), Intervention("conv3", "0-3,9", "scale", 2.5)]
    res = probe(G, z, interventions=ivs, batch_size=3, device="cpu")
    with torch.no_grad():
        out, post = _hand_forward(G, z, {"conv1": _zero([3, 17, 40]), "conv3": _scale([0, 1, 2, 3, 9], 2.5)})
        plain, _ = _hand_forward(G, z)
    assert np.abs(res.output - out.numpy()).max() <= 1e-6
    for name in res.layers:  # the intervened layer's own average shows the change, and every later layer
        assert np.abs(res.native[name] - post[name].mean(1).numpy()).max() <= 1e-6
    assert np.abs(res.output - plain.numpy()).max() > 1e-3  # the intervention changed something
    assert np.abs(res.native["conv1"][:, :] - post["conv1"].mean(1).numpy()).max() <= 1e-6
    # the hooks are gone: a plain probe afterwards is the plain forward pass
    again = probe(G, z, device="cpu")
    assert np.abs(again.output - plain.numpy()).max() <= 1e-6


def test_set_to_a_value_and_only_marked_inputs(model):
    cfg, G = model
    z = Latent(cfg).sample(5, seed=4)
    iv = Intervention("dense", (0, 5), "set", 3.0)
    mask = [True, False, True, False, False]
    res = probe(G, z, interventions=[iv], intervene=mask, batch_size=2, device="cpu")

    def put(x):
        x = x.clone()
        x[:, [0, 5], :] = 3.0
        return x
    with torch.no_grad():
        edited, _ = _hand_forward(G, z, {"dense": put})
        plain, _ = _hand_forward(G, z)
    want = np.where(np.array(mask)[:, None], edited.numpy(), plain.numpy())
    assert np.abs(res.output - want).max() <= 1e-6


def test_zeroing_the_last_relu_layer_leaves_tanh_of_the_output_bias(model):
    """conv4 is the last transpose-convolution layer with a ReLU; the output layer's transpose
    convolution then sees zeros everywhere, so every sample is tanh(output bias)."""
    cfg, G = model
    n_ch = G.blocks["conv4"].conv.out_channels
    res = probe(G, Latent(cfg).sample(3, seed=9), interventions=[Intervention("conv4", range(n_ch), "set", 0.0)],
                device="cpu")
    want = np.tanh(G.blocks["output"].conv.bias.detach().numpy()[0])
    assert np.abs(res.output - want).max() <= 1e-7
    assert np.all(res.native["conv4"] == 0.0)


def test_interventions_are_data_recorded_and_replayed(model, tmp_path):
    from ganphon.export import run_export
    from ganphon.models.checkpoint import LoadedModel

    cfg, G = model
    lm = LoadedModel(config=cfg, generator=G, sha256="x" * 64)
    z = Latent(cfg).sample(4, seed=5)
    iv = Intervention("conv2", (1, 2), "scale", -1.0)
    man = run_export(lm, z, tmp_path / "run", interventions=[iv], intervene=[True, True, False, False],
                     layers=["conv2", "conv4"], progress=False, seed=5)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    replay = interventions_from_record(record)
    assert replay == [iv]
    first = man.drop_duplicates("sample_id").set_index("sample_id")["intervention"]
    assert list(first) == ["conv2[1,2]*-1", "conv2[1,2]*-1", "", ""]
    from ganphon.io import read_wav
    x, _ = read_wav(tmp_path / "run" / "s000000_output.wav", mono=True)
    again = probe(G, z[:1], interventions=replay, device="cpu")
    assert np.abs(x - again.output[0]).max() <= 1e-6


def test_bad_interventions_are_one_line_errors(model):
    cfg, G = model
    z = Latent(cfg).sample(1, seed=1)
    with pytest.raises(GanphonError, match="channel 99 does not exist"):
        probe(G, z, interventions=[Intervention("conv4", (99,), "set", 0)])
    with pytest.raises(GanphonError, match="choose one of"):
        probe(G, z, interventions=[Intervention("output", (0,), "set", 0)])
    with pytest.raises(GanphonError, match="operation"):
        Intervention("conv1", (1,), "add", 1.0)
    with pytest.raises(GanphonError, match="numbers like"):
        parse_channels("a,b")
    assert parse_channels("0-2, 7") == (0, 1, 2, 7)


class _Done:
    def __init__(self, returncode, out):
        self.returncode, self.stdout, self.stderr = returncode, out.out, out.err


@pytest.fixture
def run(capsys):
    """``ganphon ARGS`` in this process: (exit status, stdout, stderr)."""
    from ganphon.cli import main

    def call(*argv):
        capsys.readouterr()
        code = main(list(argv))
        return _Done(code, capsys.readouterr())
    return call


def test_intervene_reports_the_paired_differences_of_its_own_table(tmp_path, run):
    """The effects equal the paired differences computed here from acoustics.csv, and the TextGrids say
    which sample is which; channels come from the feature-map clusters of a probe run."""
    import pandas as pd

    from ganphon import layout
    from ganphon.io import read_textgrid
    from ganphon.stats.feature_maps import activation_profiles, cluster_feature_maps

    probe_dir, out = tmp_path / "probe", tmp_path / "ablate"
    r = run("probe", "--checkpoint", "demo", "--n", "6", "--seed", "1", "--feature-maps", "conv3",
             "--layers", "conv3", "--out", str(probe_dir), "--quiet")
    assert r.returncode == 0, r.stderr
    r = run("intervene", "--checkpoint", "demo", "--layer", "conv3", "--channels", f"cluster:{probe_dir}",
             "--set", "0", "--bases", "3", "--layers", "conv4", "--measures", "intensity,duration",
             "--workers", "1", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    labels = cluster_feature_maps(activation_profiles(np.load(probe_dir / "featuremaps_conv3.npy")))
    small = np.argmin(np.bincount(labels))
    chans = [int(c) for c in np.flatnonzero(labels == small)]
    record = json.loads((out / "run.json").read_text())
    assert interventions_from_record(record) == [Intervention("conv3", chans, "set", 0.0)]
    label = Intervention("conv3", chans, "set", 0.0).label
    assert label in r.stdout

    tg = read_textgrid(out / "b001_on.TextGrid")
    assert [iv.text for iv in tg.get_tier_by_name("condition").intervals] == [label]
    tg = read_textgrid(out / "b001_off.TextGrid")
    assert [iv.text for iv in tg.get_tier_by_name("condition").intervals] == ["control"]

    eff = pd.read_csv(out / layout.INTERVENTION_CSV)
    assert set(eff["layer"]) == {"conv4", "output"}                 # downstream of conv3 only
    table = pd.read_csv(out / "acoustics.csv")
    rows = table[(table["measure"] == "intensity_mean") & (table["layer"] == "output")]
    per_sample = rows.groupby("sample_id")["value"].mean()
    diffs = [per_sample[f"b{b:03d}_on"] - per_sample[f"b{b:03d}_off"] for b in range(3)]
    row = eff[(eff["outcome"] == "intensity_mean/all") & (eff["layer"] == "output")].iloc[0]
    assert row["effect"] == pytest.approx(np.mean(diffs), rel=1e-9)
    assert row["se"] == pytest.approx(np.std(diffs, ddof=1) / np.sqrt(3), rel=1e-9)
    # the third way to choose channels: by correlation with an outcome over a measured probe run
    from ganphon.acoustics import measure_to_file
    from ganphon.annotate import annotate_folder
    from ganphon.atlas import select_channels

    annotate_folder(probe_dir, progress=False, workers=1)
    measure_to_file(probe_dir, probe_dir / "acoustics.csv", measures=("duration",), workers=1, progress=False)
    ptab = pd.read_csv(probe_dir / "acoustics.csv")
    pf = ptab[(ptab["layer"] == "output") & (ptab["label"] == "voi") & (ptab["measure"] == "duration")]
    ids = [f"s{i:06d}" for i in range(6)]
    voi = pf.groupby("sample_id")["value"].sum().reindex(ids, fill_value=0.0).to_numpy()
    act = np.load(probe_dir / "featuremaps_conv3.npy").astype(np.float64).mean(axis=2)
    r_hand = np.array([np.corrcoef(act[:, c], voi)[0, 1] if act[:, c].std() > 0 else 0.0
                       for c in range(act.shape[1])])
    want = tuple(int(c) for c in np.argsort(-np.abs(r_hand), kind="stable")[:3])
    assert select_channels(f"top:{probe_dir}:3:duration/voi", "conv3") == want

    dur = table[(table["measure"] == "duration") & (table["layer"] == "output") & (table["label"] == "fric")]
    fric = dur.groupby("sample_id")["value"].sum().reindex([f"b{b:03d}_{s}" for b in range(3) for s in ("off", "on")],
                                                           fill_value=0.0)
    row = eff[(eff["outcome"] == "duration/fric") & (eff["layer"] == "output")].iloc[0]
    assert row["effect"] == pytest.approx(np.mean(fric.to_numpy()[1::2] - fric.to_numpy()[::2]), abs=1e-12)


def test_intervene_bad_options_are_one_line_errors(tmp_path, run):
    r = run("intervene", "--checkpoint", "demo", "--layer", "conv9", "--channels", "1", "--set", "0",
             "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "conv9" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run("intervene", "--checkpoint", "demo", "--layer", "conv3", "--channels", f"cluster:{tmp_path}",
             "--set", "0", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "featuremaps_conv3.npy" in r.stderr
