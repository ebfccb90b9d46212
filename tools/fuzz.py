"""A longer run of the command-line fuzzer (tests/test_fuzz.py), with new random cases.

    python tools/fuzz.py                 # 10× the cases CI runs, drawn at random
    python tools/fuzz.py --scale 50 --seed-from-ci   # 50×, CI's fixed cases first

Prints how many cases ran, how they ended (exit 0 / exit 2) and any that broke
the contract (pytest's report shows the falsifying example and how to replay it).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=10.0, help="cases per test, relative to CI (default 10)")
    parser.add_argument("--seed-from-ci", action="store_true", help="CI's fixed cases instead of random ones")
    parser.add_argument("-k", default=None, help="only the fuzz tests matching this pytest expression")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "cases.jsonl"
        env = dict(os.environ, GANPHON_FUZZ_SCALE=str(args.scale), GANPHON_FUZZ_LOG=str(log))
        if not args.seed_from_ci:
            env["GANPHON_FUZZ_RANDOM"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "test_fuzz.py")]
        if args.k:
            argv += ["-k", args.k]
        started = time.monotonic()
        done = subprocess.run(argv, cwd=ROOT, env=env)
        elapsed = time.monotonic() - started
        cases = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    ends = collections.Counter(case["code"] for case in cases)
    commands = collections.Counter(case["argv"][0] for case in cases)
    print(f"fuzz: {len(cases)} cases in {elapsed:.0f} s; exit 0: {ends.get(0, 0)}, exit 2: {ends.get(2, 0)}, "
          f"other: {sum(v for k, v in ends.items() if k not in (0, 2))}")
    print("fuzz: by command: " + ", ".join(f"{name} {n}" for name, n in commands.most_common()))
    print("fuzz: contract " + ("held in every case" if done.returncode == 0 else "BROKEN (see the report above)"))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
