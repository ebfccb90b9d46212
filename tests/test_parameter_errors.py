"""A bad parameter value: the API's message names the parameter, the command line's the option.

Each case calls the API with a bad value (the message starts with the
parameter's name), then the command with the same value: exit status 2, one
line on stderr naming the option in place of the parameter, and nothing
written.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.io.wavfile
from conftest import make_exported_folder
from test_stats import sweep_table, write_folder

from ganphon.cli import main
from ganphon.errors import GanphonError, ParameterError, name_list


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def refused(argv, root, capsys) -> str:
    """Run the command; check exit 2, one stderr line and an unchanged ``root``; return the line."""
    before = tree(root)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ganphon: error: ")
    assert tree(root) == before
    return err[len("ganphon: error: "):-1]


@pytest.fixture
def exported(tmp_path):
    folder = tmp_path / "probe"
    make_exported_folder(folder, n_samples=1)
    external = tmp_path / "ext.csv"
    pd.DataFrame({"time": [0.0, 0.1], "v": [1.0, 2.0], "w": [1.0, 3.0]}).to_csv(external, index=False)
    return folder, external


def test_series_errors_name_measures_n_boot_and_column(exported, tmp_path, capsys):
    from ganphon.series import compare_series, correlate_input

    folder, external = exported
    with pytest.raises(ParameterError, match=r"^measures: unknown f9 \(choose from f0, intensity, f1, f2\)$"):
        correlate_input(folder, measures=["f9"])
    assert refused(["correlate-input", str(folder), "--measures", "f9"], tmp_path, capsys) == \
        "--measures: unknown f9 (choose from f0, intensity, f1, f2)"

    with pytest.raises(ParameterError, match="^n_boot: must be between 0 and 10,000, got -1$"):
        compare_series(folder, external, n_boot=-1)
    assert refused(["compare-series", str(folder), "--external", str(external), "--n-boot", "10001"],
                   tmp_path, capsys) == "--n-boot: must be between 0 and 10,000, got 10001"

    with pytest.raises(ParameterError, match=r"^column: .*ext.csv has no column 'nope' \(it has time, v, w\)$"):
        compare_series(folder, external, column="nope")
    assert refused(["compare-series", str(folder), "--external", str(external), "--column", "nope"],
                   tmp_path, capsys) == f"--column: {external} has no column 'nope' (it has time, v, w)"
    assert refused(["compare-series", str(folder), "--external", str(external)], tmp_path, capsys) == \
        f"--column: {external} has several numeric value columns (v, w); choose one"


def test_measure_out_a_folder_names_out(exported, tmp_path, capsys):
    from ganphon.acoustics import measure_to_file

    folder, _ = exported
    elsewhere = tmp_path / "tables"
    elsewhere.mkdir()
    message = f"{elsewhere} is a folder; give a file name such as {elsewhere / 'acoustics.csv'}"
    with pytest.raises(ParameterError) as error:
        measure_to_file(folder, out=elsewhere, progress=False)
    assert str(error.value) == f"out: {message}"
    assert refused(["measure", str(folder), "--out", str(elsewhere), "--quiet"], tmp_path, capsys) == \
        f"--out: {message}"
    # '.' (the API had raised ValueError taking the folder's name for a file's)
    with pytest.raises(ParameterError, match=r"^out: \. is a folder; give a file name such as acoustics\.csv$"):
        measure_to_file(folder, out=".", progress=False)


def test_stats_errors_name_measures_and_the_layers_option(tmp_path, capsys):
    from ganphon.stats import run_stats

    folder = write_folder(tmp_path / "sweep", sweep_table({"output": 0.5, "conv4": 0.3}, n_bases=3, seed=3))
    table = folder / "acoustics.csv"
    with pytest.raises(ParameterError) as error:
        run_stats(folder, measures=["f0"], outcome_layers=["conv9"])
    assert str(error.value) == f"outcome_layers: conv9 not in {table} (it has conv4, output)"
    assert refused(["stats", str(folder), "--measures", "f0", "--layers", "conv9", "--quiet"], tmp_path, capsys) == \
        f"--layers: conv9 not in {table} (it has conv4, output)"          # outcome_layers is filled by --layers
    with pytest.raises(ParameterError, match=r"^measures: f9 not in .*acoustics.csv \(it has f0\)$"):
        run_stats(folder, measures=["f9"])
    assert refused(["stats", str(folder), "--measures", "f9", "--quiet"], tmp_path, capsys) == \
        f"--measures: f9 not in {table} (it has f0)"
    # the API takes lists: the command line splits "f0,duration"
    with pytest.raises(ParameterError, match="^measures: expected a list, got the string 'f0,duration' "):
        run_stats(folder, measures="f0,duration")
    assert not (folder / "stats").exists()


def test_encoder_error_names_network(tmp_path, capsys):
    from ganphon.models.encoders import load_encoder

    wavs = tmp_path / "wavs"
    wavs.mkdir()
    scipy.io.wavfile.write(wavs / "a.wav", 16000, np.zeros(1600, dtype=np.float32))
    missing = tmp_path / "no_model"
    message = (f"hf:{missing}: no config.json in {missing} (a folder written by save_pretrained, "
               "with config.json and the weights)")
    with pytest.raises(ParameterError) as error:
        load_encoder(f"hf:{missing}")
    assert str(error.value) == f"network: {message}"
    assert refused(["probe", "--network", f"hf:{missing}", "--wavs", str(wavs), "--out", str(tmp_path / "out"),
                    "--quiet"], tmp_path, capsys) == f"--network: {message}"


def test_corpus_slice_too_short_names_slice_len(tmp_path, capsys):
    from ganphon.corpus.synth import synthesize

    message = "2000 samples at 16000 Hz (0.125 s) is too short for these words; use a longer slice"
    with pytest.raises(ParameterError) as error:
        synthesize("stv", 1, 0, tmp_path / "api", slice_len=2000, progress=False)
    assert str(error.value) == f"slice_len: {message}"
    assert not (tmp_path / "api").exists()
    assert refused(["corpus", "synth", "--template", "stv", "--n", "1", "--slice-len", "2000",
                    "--out", str(tmp_path / "out")], tmp_path, capsys) == f"--slice-len: {message}"


def test_probe_layers_name_layers(tiny_ciwgan, tmp_path, capsys):
    from ganphon.models.checkpoint import load_checkpoint
    from ganphon.probe import check_layers

    generator = load_checkpoint(tiny_ciwgan).generator
    available = ", ".join(generator.layer_names)
    with pytest.raises(ParameterError) as error:
        check_layers(generator, ["conv9"])
    assert str(error.value) == f"layers: 'conv9' does not exist; this model has {available}"
    with pytest.raises(ParameterError, match="^layers: expected a list, got the string 'conv1,conv2' "):
        check_layers(generator, "conv1,conv2")
    assert refused(["probe", "--checkpoint", str(tiny_ciwgan), "--layers", "conv9", "--n", "2",
                    "--out", str(tmp_path / "out"), "--quiet"], tmp_path, capsys) == \
        f"--layers: 'conv9' does not exist; this model has {available}"


def test_train_settings_and_model_config_name_parameters():
    from ganphon.models import ModelConfig
    from ganphon.train.config import TrainConfig

    for settings, line in ((TrainConfig(steps=0), "steps: must be at least 1, got 0"),
                           (TrainConfig(batch_size=0), "batch_size: must be at least 1, got 0"),
                           (TrainConfig(betas=(0.5, 1.0)), "betas: must be two numbers in [0, 1), got (0.5, 1.0)"),
                           (TrainConfig(q_lr=0.0), "q_lr: must be positive, got 0.0")):
        with pytest.raises(ParameterError) as error:
            settings.validate()
        assert str(error.value) == line
    with pytest.raises(ParameterError) as error:
        ModelConfig(arch="wavegan", n_codes=2, dim=8)
    assert str(error.value) == "n_codes: a WaveGAN has no codes, got 2; codes need arch ciwgan or fiwgan"


def test_name_list_refuses_a_string_for_every_converted_list():
    from ganphon.acoustics import check_measures
    from ganphon.store import parse_selection

    assert name_list(("a", "b"), "labels") == ["a", "b"]
    for call, parameter in ((lambda: check_measures("pitch,duration"), "measures"),
                            (lambda: parse_selection("0:2", ["x", "y"]), "samples")):
        with pytest.raises(GanphonError, match=f"^{parameter}: expected a list, got the string "):
            call()
