import os
import shutil
import signal

import pytest


def require_tool(name: str, package: str, tests: str) -> str:
    """Path of the executable ``name``; skip locally, fail under CI=true when it is missing.

    ``package`` is the Debian package that installs it; ``tests`` says which tests need it.
    """
    exe = shutil.which(name)
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not on PATH, but CI=true requires {tests} to run")
        pytest.skip(f"{name} not found (install Debian's {package})")
    return exe


def require_module(module: str, install: str) -> None:
    """Skip locally when the optional package ``module`` is missing; fail under CI=true."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{module} is not installed, but CI=true requires the tests that use it ({install})")
        pytest.skip(f"{module} not installed ({install})")


def require_praat() -> str:
    """Path of the praat executable; skip locally, fail under CI=true when it is missing."""
    return require_tool("praat", "praat", "the real-Praat tests")


def require_rscript() -> str:
    """Path of Rscript with lme4 and lmerTest; skip locally, fail under CI=true when they are missing."""
    import subprocess

    exe = shutil.which("Rscript")
    ok = exe is not None and subprocess.run(
        [exe, "--vanilla", "-e", "library(lme4); library(lmerTest)"], capture_output=True).returncode == 0
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail("Rscript with lme4 and lmerTest is missing, but CI=true requires the real-lme4 tests to run")
        pytest.skip("Rscript with lme4 and lmerTest not found (install Debian's r-base-core r-cran-lme4 "
                    "r-cran-lmertest)")
    return exe


def require_espeak() -> str:
    """Path of espeak-ng; skip locally, fail under CI=true when it is missing."""
    return require_tool("espeak-ng", "espeak-ng", "the espeak-ng corpus tests")


@pytest.fixture
def praat_exe():
    return require_praat()


def require_chromium() -> tuple[str, str]:
    """Paths of Debian's chromium and chromedriver; skip locally, fail under CI=true when missing."""
    found = (shutil.which("chromium"), shutil.which("chromedriver"))
    if None in found:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium or chromedriver is not on PATH, but CI=true requires the browser tests to run")
        pytest.skip("chromium / chromedriver not found (install Debian's chromium and chromium-driver)")
    return found


@pytest.fixture(scope="session")
def tiny_ciwgan(tmp_path_factory):
    """A freshly initialised d=8 ciwGAN (2 codes) checkpoint on disk."""
    from ganphon.models import ModelConfig, new_model, save_checkpoint

    cfg = ModelConfig(arch="ciwgan", n_codes=2, dim=8)
    G, D, Q = new_model(cfg, seed=3)
    path = tmp_path_factory.mktemp("models") / "tiny_ciwgan.pt"
    save_checkpoint(path, cfg, G, D, Q, meta={"seed": 3})
    return path


# --------------------------------------------------------------------------
# Signals with known parameters, and folders made of them (``from conftest import …``).
#
# Two kinds of writing, on purpose:
# * ``make_exported_folder`` writes a folder in ganphon's own export layout, so it
#   writes with ganphon.io (the one writer of those formats);
# * ``write_wav_scipy`` / ``write_textgrid_tgt`` stand for files made outside ganphon
#   (a user's recordings, Praat's or another tool's TextGrids, UTF-16 included): they
#   write with scipy and tgt directly, so the readers under test never read back only
#   what their own writer wrote.

SR = 16000
SLICE = 16384
T = SLICE / SR
LAYER_SIZES = {"dense": 16, "conv1": 64, "conv2": 256, "conv3": 1024, "conv4": 4096}


def resonate(x, freqs, bandwidths, sr=SR):
    """Cascade of two-pole resonators with unity gain at 0 Hz."""
    import math

    import scipy.signal

    for f, bw in zip(freqs, bandwidths):
        r = math.exp(-math.pi * bw / sr)
        a = [1.0, -2 * r * math.cos(2 * math.pi * f / sr), r * r]
        x = scipy.signal.lfilter([sum(a)], a, x)
    return x


def vowel(duration, f0, formants=(700.0, 1200.0, 2600.0), bandwidths=(80.0, 90.0, 150.0), sr=SR):
    """A pulse train at exactly ``f0`` Hz with a -6 dB/octave source through resonators.

    The source tilt is that of speech (glottal -12, radiation +6 dB/octave),
    which Praat's pre-emphasis expects; fixed F4 (3500 Hz) and F5 (4500 Hz)
    give Burg's five formants five resonances to find.
    """
    import numpy as np
    import scipy.signal

    n = int(round(duration * sr))
    source = np.zeros(n)
    source[np.round(np.arange(0, n - 1, sr / f0)).astype(int)] = 1.0
    source = scipy.signal.lfilter([1.0], [1.0, -0.99], source - source.mean())
    x = resonate(source, tuple(formants) + (3500.0, 4500.0), tuple(bandwidths) + (250.0, 300.0), sr)
    ramp = min(n // 2, int(0.005 * sr))
    x[:ramp] *= np.linspace(0, 1, ramp)
    x[n - ramp:] *= np.linspace(1, 0, ramp)
    return 0.5 * x / np.max(np.abs(x))


def noise_band(duration, low, high, seed, sr=SR):
    """White noise band-passed to [low, high] Hz."""
    import numpy as np
    import scipy.signal

    n = int(round(duration * sr))
    rng = np.random.default_rng(seed)
    sos = scipy.signal.butter(8, [low, high], btype="bandpass", fs=sr, output="sos")
    x = scipy.signal.sosfiltfilt(sos, rng.standard_normal(n + 2000))[1000:1000 + n]
    return 0.2 * x / np.max(np.abs(x))


def word(f0, formants, seed, onset=0.15, fric=0.12, gap=0.06, vowel_dur=0.25):
    """silence + [s]-like noise + short closure + vowel + silence, SLICE samples.

    Returns the signal and the intervals (label, start, end) in seconds, at sample boundaries.
    """
    import numpy as np

    parts = [("sil", np.zeros(int(round(onset * SR)))),
             ("fric", noise_band(fric, 4000.0, 7000.0, seed)),
             ("sil", np.zeros(int(round(gap * SR)))),
             ("voi", vowel(vowel_dur, f0, formants))]
    x = np.concatenate([p for _, p in parts])
    x = np.concatenate([x, np.zeros(SLICE - x.size)])
    intervals, at = [], 0
    for label, p in parts:
        intervals.append((label, at / SR, (at + p.size) / SR))
        at += p.size
    intervals.append(("sil", at / SR, T))
    return x.astype(np.float32), intervals


def write_wav_scipy(path, x, sr=SR):
    """A float32 WAV written by scipy (a file from outside ganphon; values not clipped)."""
    import numpy as np
    import scipy.io.wavfile

    scipy.io.wavfile.write(path, sr, np.asarray(x, dtype=np.float32))


def write_textgrid_tgt(path, tiers, xmax=T, encoding="utf-8", points=None):
    """A long-format TextGrid written by tgt in ``encoding`` (a file from outside ganphon).

    tiers: {name: [(label, start, end), ...]}; gaps stay empty intervals.
    points: {name: [(time, label), ...]} point tiers, after the interval tiers.
    """
    import tgt

    grid = tgt.TextGrid()
    for name, intervals in tiers.items():
        tier = tgt.IntervalTier(0.0, xmax, name)
        for label, start, end in intervals:
            tier.add_interval(tgt.Interval(start, end, label))
        grid.add_tier(tier)
    for name, marks in (points or {}).items():
        tier = tgt.PointTier(0.0, xmax, name)
        for time, label in marks:
            tier.add_point(tgt.Point(time, label))
        grid.add_tier(tier)
    text = tgt.io.export_to_long_textgrid(grid)
    with open(path, "w", encoding=encoding) as handle:
        handle.write(text)


def envelope(x, n):
    """A plausible non-negative layer series of ``n`` samples following the signal's energy."""
    import numpy as np

    frames = np.abs(x[: SLICE - SLICE % n]).reshape(n, -1).mean(axis=1)
    ripple = 0.3 * (1 + np.sin(2 * np.pi * np.arange(n) * 7 / n))
    return (4 * frames + 0.05 * ripple).astype(np.float64)


def make_exported_folder(folder, n_samples=3):
    """A folder in ganphon's export layout with synthetic output and layer series.

    Per sample: ID_output.wav, ID_<layer>.wav (16 kHz, upsampled with the
    package's time base), ID_<layer>.Sound (native rate), ID.TextGrid (tiers
    ``condition`` and ``auto``), plus manifest.csv, all written with ganphon.io.
    Returns the ground truth per sample (f0, formants, intervals).
    """
    import pandas as pd

    from ganphon import io, layout
    from ganphon.timebase import native_rate, upsample

    folder.mkdir(parents=True, exist_ok=True)
    rows, truth = [], {}
    for i in range(n_samples):
        sid = layout.sample_id(i)
        f0 = 100.0 + 20.0 * i
        formants = (650.0 + 40 * i, 1150.0 + 100 * i, 2600.0)
        x, intervals = word(f0, formants, seed=i)
        truth[sid] = {"f0": f0, "formants": formants, "intervals": intervals}
        io.write_wav(folder / layout.layer_wav(sid, "output"), x, SR)
        z11 = -15 + 2 * i
        io.write_textgrid(folder / layout.textgrid(sid), io.textgrid_from_intervals(
            {"condition": [(0.0, T, f"z11={z11}")],
             "auto": [(start, end, label) for label, start, end in intervals[:-1]]}, T))
        base = dict(sample_id=sid, textgrid=layout.textgrid(sid), slice_len=SLICE, sr=SR, seed=7,
                    arch="wavegan", checkpoint_sha256="0" * 64, code="", z11=z11, var="z11",
                    value=float(z11), base=0)
        rows.append(dict(base, layer="output", file=layout.layer_wav(sid, "output"),
                         sound_file=layout.layer_wav(sid, "output"), n_native=SLICE, rate_native_hz=float(SR)))
        for layer, n in LAYER_SIZES.items():
            series = envelope(x, n)
            io.write_wav(folder / layout.layer_wav(sid, layer), upsample(series, SLICE), SR)
            io.write_sound(folder / layout.layer_sound(sid, layer), series, native_rate(n, SLICE, SR))
            rows.append(dict(base, layer=layer, file=layout.layer_wav(sid, layer),
                             sound_file=layout.layer_sound(sid, layer), n_native=n,
                             rate_native_hz=native_rate(n, SLICE, SR)))
    io.write_table(pd.DataFrame(rows), folder / layout.MANIFEST)
    return truth


def subprocess_env() -> dict:
    """The environment of a ``python -m ganphon`` child process: this checkout first on its import path."""
    import os
    from pathlib import Path

    # no empty entry: it would put the child's working folder on its import path
    parts = [str(Path(__file__).parents[1]), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(part for part in parts if part)}


def sigint_default() -> None:
    """``preexec_fn`` of a subprocess that gets Ctrl-C (or SIGTERM, SIGHUP) in a test: the signals act as in
    a terminal, even when the tests run in a background job (whose shell starts children with SIGINT ignored)
    or under ``nohup`` (SIGHUP ignored)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone), from /proc.  A process that ends between opening
    its ``stat`` and reading it makes the read fail with ESRCH (ProcessLookupError): gone too."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def descendants(pid: int) -> set:
    """Every descendant process of ``pid`` (from /proc)."""
    from pathlib import Path

    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().split(")")[-1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def logit_lr_p(x, y):
    """Likelihood-ratio p of a one-variable logit fitted by Newton's method (numpy only)."""
    import numpy as np
    from scipy import stats as sps

    x = (x - x.mean()) / x.std()
    X = np.column_stack([np.ones_like(x), x])
    share = y.mean()
    null = len(y) * (share * np.log(share) + (1 - share) * np.log(1 - share))
    beta = np.array([np.log(share / (1 - share)), 0.0])
    for _ in range(100):
        prob = 1 / (1 + np.exp(-(X @ beta)))
        step = np.linalg.solve(X.T @ (X * (prob * (1 - prob))[:, None]), X.T @ (y - prob))
        beta += step
        if np.abs(step).max() < 1e-12:
            break
    eta = X @ beta
    return sps.chi2.sf(2 * (np.sum(y * eta - np.logaddexp(0, eta)) - null), 1), beta[1]


def stop_processes(procs) -> None:
    """Stop started processes (a Dask scheduler and its workers …), newest first: terminate, then kill."""
    import subprocess

    for p in reversed(procs):
        p.terminate()
    for p in reversed(procs):
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def sweep_with_buzz(seed=0, n_bases=6):
    """An f0 table of a z11 sweep: f0 rises 1 Hz per unit of value in conv4 and the output; at the values
    above 0 a third of the output's points sit on the stack's 333.3 Hz instead (flagged ``f0_artefact``, as
    measure flags them)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for b in range(n_bases):
        u = rng.normal(0, 3)
        for i, v in enumerate(np.arange(-15.0, 6.0, 4.0)):
            sid = f"b{b:03d}_v{i:03d}"
            for layer in ("conv4", "output"):
                for point in range(1, 7):
                    value, artefact = 150 + u + v + rng.normal(0, 1), np.nan
                    if layer == "output" and v > 0 and point <= 2:
                        value, artefact = 1000 / 3 * (1 + rng.normal(0, 0.001)), 1000 / 3
                    rows.append({"file": f"{sid}_{layer}.wav", "tier": "auto", "label": "voi", "start": 0.4,
                                 "end": 0.6, "point": point, "time": np.nan, "measure": "f0", "value": value,
                                 "note": "", "f0_artefact": artefact, "sample_id": sid, "layer": layer,
                                 "sweep_value": v, "base": b, "var": "z11"})
    return pd.DataFrame(rows)


def write_table_folder(folder, table):
    """``folder`` with ``table`` as its ``acoustics.csv`` and the matching ``manifest.csv``: what ``stats``
    reads."""
    folder.mkdir()
    table.to_csv(folder / "acoustics.csv", index=False)
    table.drop_duplicates(["sample_id", "layer"])[["sample_id", "layer", "file"]].to_csv(folder / "manifest.csv",
                                                                                        index=False)
    return folder
