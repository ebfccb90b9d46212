"""How fast ``ganphon measure`` is: 2 workers, 1 worker, and one Praat process per file.

Builds a folder like an exported one from the synthetic corpus (each token's
waveform as ``ID_output.wav`` plus five layer-like series ``ID_<layer>.wav``,
with the automatic ``auto`` tier in ``ID.TextGrid``), then measures pitch,
intensity, formants and spectral moments of every file three ways, in one run:

1. ``ganphon.acoustics.measure(..., workers=2)``;
2. the same with ``workers=1``;
3. ``measure_all.praat`` run by the ``praat`` executable once per file, the way
   a per-file Praat loop from Python works.

Prints the times, the speed-ups and the agreement of the tables.

    python benchmarks/bench_measure.py            # 300 files
    python benchmarks/bench_measure.py --n 60     # smaller
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io.wavfile

from ganphon import acoustics, annotate, layout, praat
from ganphon.corpus.synth import synthesize
from ganphon.timebase import upsample

LAYERS = {"dense": 16, "conv1": 64, "conv2": 256, "conv3": 1024, "conv4": 4096}
MEASURES = ("pitch", "intensity", "formants", "spectrum")


def build_folder(folder: Path, n_files: int, seed: int) -> list[str]:
    """An exported-like folder of ``n_files`` WAVs (output + layers per sample)."""
    per_sample = 1 + len(LAYERS)
    n_samples = -(-n_files // per_sample)
    corpus = folder / "corpus"
    synthesize("stv", n_samples, seed, corpus, progress=False)
    names = []
    for i, wav in enumerate(sorted(corpus.glob("*.wav"))):
        sid = layout.sample_id(i)
        sr, x = scipy.io.wavfile.read(wav)
        x = x.astype(np.float32)
        scipy.io.wavfile.write(folder / layout.layer_wav(sid, "output"), sr, x)
        names.append(layout.layer_wav(sid, "output"))
        for layer, n in LAYERS.items():
            # a non-negative series following the waveform's energy, as a post-ReLU channel mean would
            series = np.abs(x).reshape(n, -1).mean(axis=1) * 4 + 0.01
            scipy.io.wavfile.write(folder / layout.layer_wav(sid, layer), sr,
                                   upsample(series.astype(np.float32), x.size))
            names.append(layout.layer_wav(sid, layer))
    shutil.rmtree(corpus)
    annotate.annotate_folder(folder, progress=False)
    keep = set(names[:n_files])
    for name in names[n_files:]:
        (folder / name).unlink()
    return sorted(keep)


def timed(label, function, repeat=1):
    """Run ``function`` ``repeat`` times; report and return the fastest run."""
    best = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    print(f"{label:<34} {best:8.2f} s" + (f"  (best of {repeat})" if repeat > 1 else ""))
    return result, best


def per_file_praat(folder: Path, names) -> pd.DataFrame:
    tables = [praat.run_script("measure_all", folder, engine="praat", tier="auto",
                               name_pattern=Path(name).stem) for name in names]
    table = pd.concat(tables, ignore_index=True)
    wanted = {m for family in MEASURES for m in praat.MEASURE_NAMES[family]}
    return table[table["measure"].isin(wanted)]


def agreement(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Largest per-measure median relative difference between two tables."""
    key = ["file", "tier", "label", "start", "end", "point", "measure"]

    def indexed(t):
        t = t.copy()
        t["start"], t["end"] = t["start"].round(6), t["end"].round(6)
        t["point"] = t["point"].astype("Int64")
        return t.set_index(key)["value"].sort_index()

    a, b = indexed(a), indexed(b)
    if not a.index.equals(b.index):
        raise SystemExit("the tables hold different rows")
    both = a.notna() & b.notna()
    relative = (a[both] - b[both]).abs() / b[both].abs().clip(lower=1e-12)
    return float(relative.groupby(level="measure").median().max())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="number of files")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic corpus")
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each Python variant (the fastest counts)")
    parser.add_argument("--keep", default=None, help="build the folder here and keep it")
    args = parser.parse_args(argv)

    exe = praat.find_praat()
    tmp = None
    if args.keep:
        folder = Path(args.keep)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench_measure_")
        folder = Path(tmp.name)
    try:
        names = build_folder(folder, args.n, args.seed)
        print(f"{len(names)} files in {folder}; measures {', '.join(MEASURES)}; praat {exe}")
        print(f"{os.cpu_count()} CPUs, load average before: {os.getloadavg()[0]:.2f}")
        parallel, t_parallel = timed(f"measure --workers {args.workers}",
                                     lambda: acoustics.measure(folder, measures=MEASURES, tier="auto",
                                                               workers=args.workers, progress=False),
                                     args.repeat)
        serial, t_serial = timed("measure --workers 1",
                                 lambda: acoustics.measure(folder, measures=MEASURES, tier="auto",
                                                           workers=1, progress=False),
                                 args.repeat)
        in_praat, t_praat = timed("praat --run, one process per file", lambda: per_file_praat(folder, names))
        print(f"per-file Praat / {args.workers} workers: {t_praat / t_parallel:6.1f}x")
        print(f"per-file Praat / 1 worker:  {t_praat / t_serial:6.1f}x")
        print(f"1 worker / {args.workers} workers:        {t_serial / t_parallel:6.2f}x")
        print(f"rows: {len(parallel)}; largest median relative difference to Praat: "
              f"{agreement(parallel.iloc[:, :10], in_praat):.2e}")
        pd.testing.assert_frame_equal(parallel, serial)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
