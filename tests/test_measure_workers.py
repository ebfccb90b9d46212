"""What makes ``ganphon measure`` scale with its workers, each against an independent reference.

* the numpy upsampling of a layer's float32 series gives bit for bit the samples
  ``torch.nn.functional.interpolate`` gives (and the hand-worked values of the rule);
* the measuring path (``ganphon.acoustics``, the ``measure`` command, its workers) never imports torch;
* 2 workers write the same table as 1 on a real annotated folder, and their batches are balanced.
"""

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

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
