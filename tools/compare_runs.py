"""Run the same probe / store commands with two ganphon trees and compare every file byte for byte.

    git worktree add /tmp/base BASE_COMMIT
    python tools/compare_runs.py /tmp/base . --work /tmp/compare_runs

Each tree runs (with ``PYTHONPATH`` set to it): ``probe`` of the bundled model
(plain, and with ``--clip --wav-layers --feature-maps``), ``probe --network q
--wavs`` on a few synthetic WAVs (several rates, stereo; and ``--tier``),
``probe --network critic`` on a fresh ciwGAN with a critic, ``probe --network
crepe:tiny``, a ``--store zarr`` probe and sweep with ``export-files`` of each.
Then every file is compared: JSON records without their timing, version and
path fields (``created``, ``versions``, ``command``, ``store``,
``torch_threads``, ``checkpoint``: the output and model paths differ between
the trees); hidden files (the folder's lock and ledger) are left out.
``--extra-new`` adds runs only the second tree knows (q/critic with
``--wav-layers``), compared with the first tree's default q/critic folders.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

VOLATILE = {"created", "versions", "command", "store", "torch_threads", "seconds", "checkpoint"}


def make_wavs(folder: Path) -> None:
    """Four deterministic inputs (16, 22.05, 44.1 kHz stereo, 8 kHz); w0 has a TextGrid with a words tier."""
    import numpy as np
    from scipy.io import wavfile

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for k, (sr, dur, ch) in enumerate([(16000, 0.6, 1), (22050, 1.3, 1), (44100, 0.4, 2), (8000, 0.9, 1)]):
        t = np.arange(int(sr * dur)) / sr
        x = 0.3 * np.sin(2 * np.pi * (120 + 40 * k) * t) * np.hanning(len(t)) + 0.01 * rng.standard_normal(len(t))
        if ch == 2:
            x = np.stack([x, 0.5 * x], axis=1)
        wavfile.write(folder / f"w{k}.wav", sr, (x * 32767).astype(np.int16))
    (folder / "w0.TextGrid").write_text(
        'File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\nxmax = 0.6\ntiers? <exists>\nsize = 1\n'
        'item []:\n    item [1]:\n        class = "IntervalTier"\n        name = "words"\n        xmin = 0\n'
        '        xmax = 0.6\n        intervals: size = 2\n        intervals [1]:\n            xmin = 0\n'
        '            xmax = 0.3\n            text = "ta"\n        intervals [2]:\n            xmin = 0.3\n'
        '            xmax = 0.6\n            text = ""\n')


def commands(out: Path, wavs: Path, tier_wavs: Path, tiny: Path, new: bool) -> list:
    runs = [
        ["probe", "--checkpoint", "demo", "--n", "5", "--seed", "4", "--out", out / "probe"],
        ["probe", "--checkpoint", "demo", "--n", "3", "--seed", "5", "--clip", "0.5", "--wav-layers",
         "--feature-maps", "conv2", "--out", out / "probe_wl"],
        ["probe", "--checkpoint", "demo", "--network", "q", "--wavs", wavs, "--feature-maps", "conv1", "--out", out / "q"],
        ["probe", "--checkpoint", "demo", "--network", "q", "--wavs", tier_wavs, "--tier", "words", "--out", out / "q_tier"],
        ["probe", "--checkpoint", tiny, "--network", "critic", "--wavs", wavs, "--out", out / "critic"],
        ["probe", "--network", "crepe:tiny", "--wavs", wavs, "--slice-len", "8000", "--out", out / "crepe"],
        ["probe", "--checkpoint", "demo", "--n", "6", "--seed", "4", "--store", "zarr", "--out", out / "pstore"],
        ["export-files", out / "pstore", "--samples", "0:3", "--out", out / "pstore_files"],
        ["sweep", "--checkpoint", "demo", "--var", "z11", "--from", "-1", "--to", "1", "--step", "1", "--bases", "2",
         "--store", "zarr", "--out", out / "sweep"],
        ["export-files", out / "sweep", "--out", out / "sweep_files"],
    ]
    if new:
        runs += [["probe", "--checkpoint", "demo", "--network", "q", "--wavs", wavs, "--feature-maps", "conv1",
                  "--wav-layers", "--out", out / "q_wl"],
                 ["probe", "--checkpoint", tiny, "--network", "critic", "--wavs", wavs, "--wav-layers",
                  "--out", out / "critic_wl"]]
    return [[str(a) for a in argv] + ["--quiet"] for argv in runs]


def run_tree(root: Path, out: Path, work: Path, new: bool) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = dict(os.environ, PYTHONPATH=str(root))
    for argv in commands(out, work / "wavs", work / "wavs_tier", work / "tiny_cq.pt", new):
        proc = subprocess.run([sys.executable, "-m", "ganphon", *argv], cwd=root, env=env, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{root}: ganphon {' '.join(argv)} failed:\n{proc.stderr[-2000:]}")


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def _files(root: Path) -> set:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(root).parts)}


def compare(a: Path, b: Path, label: str) -> bool:
    fa, fb = _files(a), _files(b)
    same, differ = 0, []
    for name in sorted(fa & fb):
        x, y = (a / name).read_bytes(), (b / name).read_bytes()
        if x != y and name.endswith(".json"):
            x, y = json.dumps(_clean(json.loads(x))), json.dumps(_clean(json.loads(y)))
        if x == y:
            same += 1
        else:
            differ.append(name)
    print(f"{label}: {same} identical, {len(differ)} differ {differ[:6]}, only in first {len(fa - fb)} "
          f"{sorted(fa - fb)[:4]}, only in second {len(fb - fa)} {sorted(fb - fa)[:4]}")
    return not differ and fa == fb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("first", type=Path, help="ganphon tree run first (the baseline)")
    ap.add_argument("second", type=Path, help="ganphon tree compared with it")
    ap.add_argument("--work", type=Path, default=Path("compare_runs"))
    ap.add_argument("--extra-new", action="store_true", help="also the runs only the second tree knows")
    args = ap.parse_args()
    work = args.work.resolve()
    make_wavs(work / "wavs")
    (work / "wavs_tier").mkdir(exist_ok=True)
    for name in ("w0.wav", "w0.TextGrid"):
        shutil.copy(work / "wavs" / name, work / "wavs_tier" / name)
    if not (work / "tiny_cq.pt").exists():  # a fixed seed: the same model when kept from an earlier comparison
        subprocess.run([sys.executable, "-m", "ganphon", "new-model", "--arch", "ciwgan", "--dim", "8", "--codes", "3",
                        "--seed", "1", "--out", str(work / "tiny_cq.pt")], cwd=args.first.resolve(),
                       env=dict(os.environ, PYTHONPATH=str(args.first.resolve())), check=True, capture_output=True)
    first, second = work / "first", work / "second"
    run_tree(args.first.resolve(), first, work, new=False)
    run_tree(args.second.resolve(), second, work, new=args.extra_new)
    identical = all([compare(first / d.name, second / d.name, d.name) for d in sorted(first.iterdir())])
    if args.extra_new:
        compare(first / "q", second / "q_wl", "q (first) vs q --wav-layers (second)")
        compare(first / "critic", second / "critic_wl", "critic (first) vs critic --wav-layers (second)")
    print("every file identical" if identical else "files differ (see above)")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
