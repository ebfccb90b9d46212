"""Start-up time of the command line.

Wall time of ``ganphon --help`` and ``ganphon model-info --checkpoint demo``
(each a fresh process, median of --repeats), against two baselines measured in
the same run: a bare ``python -c pass`` and ``python -c "import torch"`` (the
floor of any command that runs a network).  Targets on 2 cores: ``--help``
≤ 1.0 s, ``model-info`` ≤ 3 s.

    python benchmarks/bench_startup.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall(argv, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    py = sys.executable
    runs = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import torch'": [py, "-c", "import torch"],
        "ganphon --help": [py, "-m", "ganphon", "--help"],
        "ganphon model-info --checkpoint demo": [py, "-m", "ganphon", "model-info", "--checkpoint", "demo"],
    }
    results = {name: wall(argv, args.repeats) for name, argv in runs.items()}
    bare, torch_floor = results["python -c pass"], results["python -c 'import torch'"]
    for name, seconds in results.items():
        print(f"{name:40s} {seconds:6.2f} s   ×{seconds / bare:5.1f} bare python   "
              f"×{seconds / torch_floor:5.2f} import torch")
    print(f"targets: --help ≤ 1.0 s ({results['ganphon --help']:.2f} s), "
          f"model-info ≤ 3 s ({results['ganphon model-info --checkpoint demo']:.2f} s)")


if __name__ == "__main__":
    main()
