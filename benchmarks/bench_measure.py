"""``ganphon measure`` (the whole command) against a plain one-process parselmouth loop.

The baseline is what a user would write without ganphon: one Python process
that, for every file, reads the sound and its TextGrid, runs Praat's pitch,
intensity and formant analyses and, per labelled interval of the ``auto`` tier,
queries F0, intensity and F1–F3 at the same normalised points, the interval
means / minima / maxima and the spectral moments — the same Praat work on the
same intervals.  A family is computed for a file only where ganphon's table has
a defined value of it (layers whose rate cannot carry formants are skipped by
both), so the loop never does more work than ganphon.

Both sides run as fresh processes (start-up and imports counted), interleaved
``--repeat`` times in one run, so the ratio holds under the machine's load:

    ganphon measure DIR --workers 2 --out T.parquet     (the command: start-up, manifest, table written)
    ganphon measure DIR --workers 1 --out T.parquet
    python bench_measure.py --loop DIR                  (the plain loop; writes nothing)

The folder is a sweep of the bundled model (``ganphon sweep --checkpoint demo``,
annotated, not measured): ``--bases 20`` gives 220 samples × 6 series = 1,320 files.

    python benchmarks/bench_measure.py                  # 1,320 files, 3 rounds
    python benchmarks/bench_measure.py --folder DIR     # an existing annotated folder

At the end two copies of the plain loop run at once (each the whole folder): twice one loop's time
divided by theirs is what a second process can buy on this machine at all (two vCPUs that share a
physical core, or a busy host, give less than 2×), the ceiling to read the ratio against.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAMILIES = {"pitch": ("f0", "f0_mean", "f0_min", "f0_max"),
            "intensity": ("intensity", "intensity_mean", "intensity_max"),
            "formants": ("f1", "f2", "f3"),
            "spectrum": ("cog", "sd", "skewness", "kurtosis", "max_intensity")}
POINTS = 10


def _ganphon(*args, cwd=None) -> list:
    return [sys.executable, "-m", "ganphon", *map(str, args)]


def build_folder(folder: Path, bases: int) -> None:
    """An annotated, unmeasured sweep of the bundled model: ``bases`` × 11 samples × 6 series."""
    subprocess.run(_ganphon("sweep", "--checkpoint", "demo", "--var", "z11", "--from", -15, "--to", 5, "--step", 2,
                            "--bases", bases, "--no-measure", "--out", folder, "--quiet"), check=True)


def plain_loop(folder: Path, plan: dict) -> int:
    """Measure ``plan`` (file → families) as a plain single-process parselmouth script would. Returns values."""
    import numpy as np
    import pandas as pd
    import parselmouth
    from parselmouth.praat import call

    from ganphon.praat import settings_for_layer
    from ganphon.timebase import upsample

    manifest = pd.read_csv(folder / "manifest.csv", dtype=str)
    by_file = manifest.set_index("file")
    count = 0
    for name, families in plan.items():
        row = by_file.loc[name]
        if (folder / name).is_file():
            sound = parselmouth.Sound(str(folder / name))
        else:  # a layer stored once at its native rate: upsample it to the output rate
            native = parselmouth.read(str(folder / row["sound_file"]))
            values = upsample(native.values[0].astype(np.float32), int(row["slice_len"]))
            sound = parselmouth.Sound(values.astype(np.float64), sampling_frequency=float(row["sr"]))
        grid = parselmouth.read(str(folder / row["textgrid"]))
        tier = next(i for i in range(1, call(grid, "Get number of tiers") + 1)
                    if call(grid, "Get tier name", i) == "auto")
        intervals = []
        for i in range(1, call(grid, "Get number of intervals", tier) + 1):
            label = call(grid, "Get label of interval", tier, i)
            if label:
                intervals.append((call(grid, "Get start time of interval", tier, i),
                                  call(grid, "Get end time of interval", tier, i)))
        s = settings_for_layer(row["layer"])
        pitch = intensity = formant = peak = None
        if "pitch" in families:
            pitch = sound.to_pitch_ac(pitch_floor=s.pitch_floor, pitch_ceiling=s.pitch_ceiling,
                                      very_accurate=False, silence_threshold=s.silence_threshold,
                                      voicing_threshold=s.voicing_threshold, octave_cost=s.octave_cost,
                                      octave_jump_cost=s.octave_jump_cost,
                                      voiced_unvoiced_cost=s.voiced_unvoiced_cost)
        if "intensity" in families:
            intensity = sound.to_intensity(minimum_pitch=s.intensity_minimum_pitch, subtract_mean=s.subtract_mean)
        if "formants" in families:
            formant = sound.to_formant_burg(max_number_of_formants=s.number_of_formants,
                                            maximum_formant=s.maximum_formant,
                                            window_length=s.formant_window_length,
                                            pre_emphasis_from=s.pre_emphasis_from)
        if "spectrum" in families:
            peak = sound.to_intensity(minimum_pitch=s.max_intensity_minimum_pitch, subtract_mean=s.subtract_mean)
        values = []
        for start, end in intervals:
            times = [start + (i - 0.5) / POINTS * (end - start) for i in range(1, POINTS + 1)]
            if pitch is not None:
                values += [pitch.get_value_at_time(t) for t in times]
                values += [call(pitch, "Get mean", start, end, "Hertz"),
                           call(pitch, "Get minimum", start, end, "Hertz", "Parabolic"),
                           call(pitch, "Get maximum", start, end, "Hertz", "Parabolic")]
            if intensity is not None:
                values += [intensity.get_value(t) for t in times]
                values += [intensity.get_average(start, end), call(intensity, "Get maximum", start, end, "Parabolic")]
            if formant is not None:
                values += [formant.get_value_at_time(n, t) for n in (1, 2, 3) for t in times]
            if peak is not None:
                spectrum = sound.extract_part(start, end, parselmouth.WindowShape.HANNING, 1.0, False).to_spectrum()
                values += [spectrum.get_centre_of_gravity(s.spectrum_power),
                           spectrum.get_standard_deviation(s.spectrum_power),
                           spectrum.get_skewness(s.spectrum_power), spectrum.get_kurtosis(s.spectrum_power),
                           call(peak, "Get maximum", start, end, "Parabolic")]
        count += sum(1 for v in values if not math.isnan(v))
    return count


def work_plan(table) -> dict:
    """File → the families ganphon computed a defined value of (the loop's work)."""
    plan: dict = {}
    defined = table[table["value"].notna()]
    for family, names in FAMILIES.items():
        for name in defined.loc[defined["measure"].isin(names), "file"].unique():
            plan.setdefault(name, set()).add(family)
    return plan


def _timed(command) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _timed_pair(command) -> float:
    """Seconds until two copies of ``command``, started together, have both finished."""
    started = time.perf_counter()
    copies = [subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(2)]
    if any(copy.wait() != 0 for copy in copies):
        raise SystemExit(f"{command[1]} failed")
    return time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default=None, help="an annotated exported folder (default: build a sweep)")
    parser.add_argument("--bases", type=int, default=20, help="base latents of the built sweep (× 66 files)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--one-worker", action="store_true", help="also time --workers 1")
    parser.add_argument("--no-ceiling", action="store_true",
                        help="skip timing two plain loops at once (what two processes buy on this machine)")
    parser.add_argument("--loop", default=None, help=argparse.SUPPRESS)  # the baseline's own process
    args = parser.parse_args(argv)

    if args.loop:
        import json

        folder = Path(args.loop)
        plan = {k: set(v) for k, v in json.loads((folder / ".bench_plan.json").read_text()).items()}
        plain_loop(folder, plan)
        return

    import json

    from ganphon import io

    tmp = tempfile.TemporaryDirectory(prefix="bench_measure_")
    try:
        folder = Path(args.folder) if args.folder else Path(tmp.name) / "sweep"
        if not args.folder:
            build_folder(folder, args.bases)
        table_path = Path(tmp.name) / "acoustics.parquet"
        measure = _ganphon("measure", folder, "--workers", 2, "--out", table_path, "--quiet", "--overwrite")
        subprocess.run(measure, check=True, stdout=subprocess.DEVNULL)  # the plan, and a warm file cache
        table = io.read_acoustics(table_path, join=False)
        plan = work_plan(table)
        (folder / ".bench_plan.json").write_text(json.dumps({k: sorted(v) for k, v in plan.items()}))
        loop = [sys.executable, __file__, "--loop", str(folder)]
        one = _ganphon("measure", folder, "--workers", 1, "--out", table_path, "--quiet", "--overwrite")
        n_files = table["file"].nunique()
        print(f"{n_files} files ({len(table):,} rows); loop work: "
              f"{sum(len(v) for v in plan.values())} file × family analyses; {os.cpu_count()} CPUs")
        print(f"uptime before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
        rows, load_before = [], os.getloadavg()[0]
        for round_ in range(args.repeat):
            t_loop = _timed(loop)
            t_two = _timed(measure)
            t_one = _timed(one) if args.one_worker else math.nan
            rows.append((t_loop, t_two, t_one))
            print(f"round {round_ + 1}: plain loop {t_loop:6.2f} s | measure --workers 2 {t_two:6.2f} s "
                  f"({t_loop / t_two:4.2f}× the loop)" + (f" | --workers 1 {t_one:6.2f} s "
                                                         f"({t_loop / t_one:4.2f}×)" if args.one_worker else ""))
        ratios = [a / b for a, b, _ in rows]
        print(f"RATIO measure --workers 2 vs the plain loop: median {statistics.median(ratios):.2f}× "
              f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}; {n_files} files; 1-min load "
              f"{load_before:.1f} → {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs); target ≥ 1.8×")
        if args.one_worker:
            print(f"--workers 1 vs the plain loop: median {statistics.median(a / c for a, _, c in rows):.2f}×")
        if not args.no_ceiling:
            # two copies of the loop at once, each the whole folder: twice the work, so 2 × one ÷ pair is
            # the most two processes can buy here (1.0: none; 2.0: two free cores)
            t_alone, t_pair = _timed(loop), _timed_pair(loop)
            print(f"this machine's ceiling: one plain loop {t_alone:.2f} s, two at once {t_pair:.2f} s: two processes "
                  f"do {2 * t_alone / t_pair:.2f}× the work of one in the same time")
        print(f"uptime after:  {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
        (folder / ".bench_plan.json").unlink(missing_ok=True)
    finally:
        tmp.cleanup()


if __name__ == "__main__":
    main()
