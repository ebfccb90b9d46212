"""What makes ``ganphon measure`` scale with its workers, each against an independent reference.

* the numpy upsampling of a layer's float32 series gives bit for bit the samples
  ``torch.nn.functional.interpolate`` gives (and the hand-worked values of the rule);
* the measuring path (``ganphon.acoustics``, the ``measure`` command, its workers) never imports torch;
* 2 workers write the same table as 1 on a real annotated folder, and their batches are balanced.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import subprocess_env
import torch
import torch.nn.functional as F

from ganphon import acoustics, layout
from ganphon.models import ModelConfig, new_model
from ganphon.probe import layer_lengths
from ganphon.timebase import upsample


def _torch_upsample(x: np.ndarray, size: int) -> np.ndarray:
    """torch's own linear interpolation, align_corners=False, in float32 (what the export's WAVs hold)."""
    flat = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(1, -1, x.shape[-1])
    return F.interpolate(flat, size=size, mode="linear", align_corners=False).reshape(*x.shape[:-1], size).numpy()


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32).view(np.int32)


@pytest.mark.parametrize("slice_len", [16384, 65536])
def test_numpy_upsample_is_torch_bit_for_bit_at_every_layer_length_of_the_models(slice_len):
    """Every layer length the generators have (found by a forward pass of each shape), to the output
    length: random series at several magnitudes, the same 32-bit patterns as torch."""
    G, _, _ = new_model(ModelConfig(dim=2, slice_len=slice_len), seed=0)
    lengths = sorted({n for _, n in layer_lengths(G).values()})
    assert lengths[0] == 16 and lengths[-1] == slice_len  # dense … output
    rng = np.random.default_rng(slice_len)
    for n in lengths:
        for magnitude in (1e-6, 1e-2, 1.0, 1e3):
            x = (rng.normal(size=(3, n)) * magnitude).astype(np.float32)
            got = upsample(x, slice_len)
            assert got.dtype == np.float32 and got.shape == (3, slice_len)
            assert np.array_equal(_bits(got), _bits(_torch_upsample(x, slice_len))), (n, magnitude)
            assert np.array_equal(_bits(upsample(x[0], slice_len)), _bits(got[0]))  # 1-d: the same rule


def test_numpy_upsample_is_torch_bit_for_bit_at_any_ratio_and_at_special_values():
    """Ratios that are not powers of two (the source positions are rounded then), downsampling, and
    infinities, NaN, signed zeros and the largest float32 values pass through as torch passes them."""
    rng = np.random.default_rng(5)
    for n, size in [(1, 1000), (3, 1000), (7, 777), (333, 65536), (100, 16384), (4097, 5000), (70000, 16384)]:
        x = rng.normal(size=(2, 2, n)).astype(np.float32)
        assert np.array_equal(_bits(upsample(x, size)), _bits(_torch_upsample(x, size))), (n, size)
    special = np.array([0, np.inf, 1, -np.inf, 2, np.nan, -0.0, 0.0, 3e38, 3e38, -1e-45, 1e-45], np.float32)
    got, want = upsample(special, 48), _torch_upsample(special, 48)
    assert np.array_equal(got, want, equal_nan=True) and np.array_equal(np.signbit(got), np.signbit(want))
    # integers are interpolated in float32, as torch does
    assert np.array_equal(_bits(upsample(np.arange(5), 20)), _bits(_torch_upsample(np.arange(5.0), 20)))


def test_numpy_upsample_gives_the_hand_worked_values():
    """The rule by hand (tests/test_probe.py): n = 4 to L = 16, output j at native position
    u = j/4 − 3/8, linear between centres, edges held — exact in float32."""
    native = np.array([[0.0, 8.0, 4.0, 12.0], [1.0, -1.0, 1.0, -1.0]], dtype=np.float32)
    expected = np.array([
        [0.0, 0.0, 1.0, 3.0, 5.0, 7.0, 7.5, 6.5, 5.5, 4.5, 5.0, 7.0, 9.0, 11.0, 12.0, 12.0],
        [1.0, 1.0, 0.75, 0.25, -0.25, -0.75, -0.75, -0.25, 0.25, 0.75, 0.75, 0.25, -0.25, -0.75, -1.0, -1.0],
    ], dtype=np.float32)
    assert np.array_equal(upsample(native, 16), expected)
    ramp = np.arange(16, dtype=np.float32)  # the probe's ×1024: the value is the position itself
    long = upsample(ramp, 16384)
    for j in (0, 511, 512, 513, 1536, 8000, 15871, 15872, 16383):
        assert long[j] == min(max((j + 0.5) / 1024 - 0.5, 0.0), 15.0), j
    same = upsample(ramp, 16)
    assert np.array_equal(same, ramp) and same is not ramp


def _modules_after(code: str) -> set:
    done = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
                          capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_the_measuring_path_never_imports_torch(tmp_path):
    """``import ganphon.acoustics``, reading a layer's Sound upsampled in memory, and the ``measure``
    command's module: no torch in ``sys.modules`` (checked in a fresh interpreter)."""
    from ganphon import io

    native = np.random.default_rng(0).normal(size=64).astype(np.float32)
    io.write_sound(tmp_path / "s_conv1.Sound", native, 62.5)
    loaded = _modules_after(
        "import ganphon.acoustics, ganphon.cli.praat\nfrom ganphon import io\n"
        f"s = io.upsampled_sound({str(tmp_path / 's_conv1.Sound')!r}, 16384, 16000, 1.0)\n"
        "assert s.n_samples == 16384")
    assert "ganphon.acoustics" in loaded and "parselmouth" in loaded
    assert "torch" not in loaded


def test_the_fused_multiply_add_rounds_once_where_float64_lands_on_a_float32_midpoint():
    """(8 + 2⁻¹²)(8 − 2⁻¹²) + (2³⁰ + 128) = 2³⁰ + 192 − 2⁻²⁴ exactly: float64 rounds it onto the
    midpoint 2³⁰ + 192 between two float32 numbers, whose tie goes to 2³⁰ + 256; rounded once (as an
    FMA does) the exact value lies below the midpoint: 2³⁰ + 128.  Worked by hand with fractions."""
    from fractions import Fraction

    from ganphon.timebase import _fma32

    a, b, c = np.float32(8 + 2 ** -12), np.float32(8 - 2 ** -12), np.float32(2 ** 30 + 128)
    exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    assert exact == 2 ** 30 + 192 - Fraction(1, 2 ** 24)
    assert np.float32(np.float64(a) * np.float64(b) + np.float64(c)) == 2 ** 30 + 256  # rounded twice
    got = _fma32(np.array([a, -a, a]), np.array([b, b, b]), np.array([c, -c, np.float32(2 ** 30)]))
    assert got.tolist() == [2 ** 30 + 128, -(2 ** 30 + 128), 2 ** 30]  # and the mirror; a tie to even stays


@pytest.fixture(scope="module")
def sound_folder(tiny_ciwgan, tmp_path_factory):
    """A real annotated export of 6 samples, each layer stored only as its native Sound."""
    from ganphon.annotate import annotate_folder
    from ganphon.export import run_export
    from ganphon.models import Latent, load_checkpoint

    m = load_checkpoint(tiny_ciwgan)
    out = tmp_path_factory.mktemp("workers") / "sweep"
    run_export(m, Latent(m.config).sample(6, seed=11, code="1"), out, clip=0.05, seed=11, progress=False)
    annotate_folder(out, workers=1, progress=False)
    assert not list(out.glob("*_conv1.wav")) and list(out.glob("*_conv1.Sound"))
    return out


def test_two_workers_give_the_table_one_process_gives(sound_folder):
    """The same rows, in the same order, with the same notes, whether the batches run in this process or
    in two workers (forked from a forkserver that never imported torch)."""
    one = acoustics.measure(sound_folder, workers=1, progress=False)
    two = acoustics.measure(sound_folder, workers=2, progress=False)
    assert len(one) > 1000 and one["value"].notna().sum() > 100
    pd.testing.assert_frame_equal(one, two)


def test_the_workers_forkserver_holds_no_torch(sound_folder, tmp_path):
    """``ganphon measure --workers 2``'s path in a fresh interpreter: the command started early, the
    folder measured; the forkserver its workers are forked from has parselmouth mapped and no torch
    (/proc/PID/maps: the shared libraries it loaded), and neither has the measuring process."""
    if not Path("/proc/self/maps").exists():
        pytest.skip("needs Linux's /proc")
    code = (
        "import sys, multiprocessing\n"
        "from ganphon.cli import main\n"
        f"assert main(['measure', {str(sound_folder)!r}, '--workers', '2', '--out', "
        f"{str(tmp_path / 't.parquet')!r}, '--quiet']) == 0\n"
        "from multiprocessing import forkserver\n"
        "pid = forkserver._forkserver._forkserver_pid\n"
        "maps = open(f'/proc/{pid}/maps').read()\n"
        "print('parselmouth' in maps, 'libtorch' in maps, 'torch' in sys.modules)\n")
    env = subprocess_env()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-3:] == ["True", "False", "False"], done.stdout
    assert acoustics.WORKER_MODULES == ("ganphon.acoustics",)
    from ganphon.cli.praat import _MEASURE_WORKER_MODULES

    assert _MEASURE_WORKER_MODULES == acoustics.WORKER_MODULES


def test_commands_start_their_workers_forkserver_as_soon_as_parsed(tmp_path):
    """``annotate``, ``measure`` and ``stats`` start the forkserver their pool forks from as soon as the command
    line is parsed, preloading what their jobs preload (so the pool does not wait for those imports); one
    worker, ``--evaluate``, the lme4 engine and Praat's engine start nothing.  Each case in a fresh
    interpreter: a process has one forkserver, fixed by its first start."""
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("needs Linux's /proc")
    from ganphon import annotate
    from ganphon.cli.praat import _ANNOTATE_WORKER_MODULES
    from ganphon.cli.stats import _WORKER_MODULES as STATS_WORKER_MODULES
    from ganphon.stats import mixed

    # the modules named by the commands are the ones their pools preload
    assert _ANNOTATE_WORKER_MODULES == annotate.WORKER_MODULES == ("ganphon.annotate",)
    assert STATS_WORKER_MODULES == mixed.WORKER_MODULES == ("ganphon.stats.mixed",)
    code = (
        "import sys\n"
        "from ganphon.cli import build_parser\n"
        "from multiprocessing import forkserver\n"
        "args = build_parser([sys.argv[1]]).parse_args(sys.argv[1:])\n"
        "args.prestart(args)\n"
        "import time\n"
        "pid = forkserver._forkserver._forkserver_pid\n"
        "line = 'none'\n"
        "deadline = time.monotonic() + 60\n"
        "while pid and time.monotonic() < deadline:\n"
        "    line = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode()\n"
        "    if 'multiprocessing.' + 'forkserver import main' in line:\n"
        "        break\n"
        "    time.sleep(0.01)\n"
        "print(line)\n")
    env = subprocess_env()
    folder = str(tmp_path)
    cases = [(["annotate", folder, "--workers", "2"], "ganphon.annotate"),
             (["measure", folder, "--workers", "2"], "ganphon.acoustics"),
             (["stats", folder, "--workers", "2"], "ganphon.stats.mixed"),
             (["annotate", folder, "--workers", "1"], None),
             (["annotate", folder, "--workers", "2", "--evaluate"], None),
             (["measure", folder, "--workers", "2", "--engine", "praat"], None),
             (["stats", folder, "--workers", "2", "--engine", "lme4"], None)]
    for argv, preloaded in cases:
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        started = done.stdout.strip()
        if preloaded is None:
            assert started == "none", (argv, started)
        else:  # the forkserver's command line carries its preload list
            assert "multiprocessing.forkserver" in started and f"'{preloaded}'" in started, (argv, started)


def test_the_command_names_the_layers_in_its_summary_without_joining(sound_folder, tmp_path, capsys):
    """The printed summary of the table's own columns names layers (from the manifest), as the joined
    table's summary does: the same lines."""
    from ganphon.cli import main

    out = tmp_path / "acoustics.parquet"
    assert main(["measure", str(sound_folder), "--workers", "2", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    joined = acoustics.measure(sound_folder, workers=1, progress=False)
    expected = acoustics.summary(joined, 0.0, out).splitlines()
    assert printed[1:] == expected[1:] and printed[0].split(" in ")[0] == expected[0].split(" in ")[0]
    band = next(line for line in printed if line.startswith("empty by the band rule"))
    assert band.endswith("values in dense, conv1, conv2, conv3, conv4")


def test_the_summary_names_every_file_that_could_not_be_measured(sound_folder, tmp_path, capsys):
    """A cut layer Sound and an empty output WAV leave rows of NaN (one file must not stop a folder), and
    the printed summary names both files whatever their share of the NaNs (here far below the five
    commonest notes); a TextGrid that cannot be read is not one of them: its sound is measured whole."""
    import shutil

    from ganphon.cli import main

    folder = tmp_path / "sweep"
    shutil.copytree(sound_folder, folder)
    for stale in folder.glob("acoustics*"):
        stale.unlink()
    cut = sorted(folder.glob("*_conv3.Sound"))[1]
    cut.write_bytes(cut.read_bytes()[:-7])
    empty = sorted(folder.glob("*_output.wav"))[2]
    empty.write_bytes(b"")
    grid = sorted(folder.glob("*.TextGrid"))[4]
    grid.write_text("not a TextGrid\n", encoding="utf-8")
    assert main(["measure", str(folder), "--workers", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out.splitlines()
    named = [line for line in printed if line.startswith("not measured, ")]
    assert len(named) == 1, printed
    assert named[0].startswith("not measured, 2 file(s) unreadable or without usable samples")
    assert f"cannot read {cut.name}: " in named[0] and f"cannot read {empty.name}: " in named[0]
    assert grid.name not in named[0] and grid.stem not in named[0]
    from ganphon.io import read_acoustics

    table = read_acoustics(folder, join=False)
    for broken in (cut.with_suffix(".wav").name, empty.name):  # the rows are there, NaN, with the reason
        rows = table[table["file"] == broken]
        assert len(rows) and rows.loc[rows["measure"] != "duration", "value"].isna().all()
    whole = table[table["file"].str.startswith(grid.stem + "_")]
    assert whole["value"].notna().any() and whole["note"].str.contains(f"cannot read {grid.name}").all()


class _Job:
    def __init__(self, textgrid):
        self.textgrid = textgrid


def test_batches_shrink_to_single_samples_so_the_workers_finish_together():
    """40 samples of 6 files, 2 workers: each batch takes ⌈remaining / 8⌉ files rounded down to whole
    samples (at least one): 240 → 30, 210 → 24, 186 → 24, 162 → 18, 144 → 18, 126 → 12, 114 → 12,
    102 → 12, 90 → 12, then from 78 files left a single sample each (⌈78 / 8⌉ = 10 < 12)."""
    jobs = [_Job(f"s{i // 6:02d}.TextGrid") for i in range(240)]
    batches = acoustics.sample_batches(jobs, 2)
    assert [len(b) for b in batches] == [30, 24, 24, 18, 18, 12, 12, 12, 12] + [6] * 13
    assert [j for b in batches for j in b] == jobs  # every file once, in order
    assert all(len({j.textgrid for j in b}) == len(b) // 6 for b in batches)  # whole samples only
    # files without a TextGrid are independent: split anywhere; the first of 20: ⌈20 / 8⌉ = 3
    loose = acoustics.sample_batches([_Job(None) for _ in range(20)], 2)
    assert [len(b) for b in loose] == [3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1]
    assert len(acoustics.sample_batches([_Job("one.TextGrid")] * 100, 2)) == 1  # one sample: never split


def test_summary_counts_match_a_row_by_row_count(sound_folder):
    """The summary's band-rule total, layers and the five commonest other notes, against the same
    counts made row by row in plain Python (re and Counter) on a real measured table."""
    import re
    from collections import Counter

    table = acoustics.measure(sound_folder, workers=1, progress=False, join=False)
    layers = acoustics.file_layers(sound_folder)
    printed = acoustics.summary(table, 0.0, "t", layers=layers).splitlines()
    band, other, named = 0, Counter(), set()
    for file, value, note in zip(table["file"], table["value"], table["note"]):
        if value == value or note == "":
            continue
        if re.search("native (?:Nyquist|sampling period)", note):
            band += 1
            named.add(layers[file])
        else:
            other[re.sub(r"^[^:;]*: ", "", note, count=1)] += 1
    assert band and other
    from ganphon.layout import sort_layers

    assert f"empty by the band rule (the layer's native rate cannot carry them): {band} values in " \
        f"{', '.join(sort_layers(named))}" in printed
    shown = [line for line in printed if line.startswith("  NaN (")]
    assert len(shown) == min(5, len(other))
    for line in shown:
        count, note = re.fullmatch(r"  NaN \((\d+)\): (.*)", line).groups()
        assert other[note] == int(count)
    assert sorted((int(re.search(r"\((\d+)\)", line).group(1)) for line in shown), reverse=True) == \
        sorted(other.values(), reverse=True)[:len(shown)]
