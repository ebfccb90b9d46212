"""The paper-scale sweep end to end: 100 bases × 11 values × (conv1–conv4 + output).

A d=64 generator (fresh weights: the timing does not depend on training) is
swept over z11 from −15 to 5 step 2 on 100 base latents (1,100 samples); each
sample's output and four conv layers are exported, the outputs annotated,
every file measured (pitch, intensity, formants, spectrum, duration) and the
mixed models fitted, each stage in 2 worker processes.  Prints the time of each stage, the
total against the 60 s target, and the ratio of the whole pipeline to the
bare generator forward of the same latents measured in the same run.

    python benchmarks/bench_sweep.py                # paper scale
    python benchmarks/bench_sweep.py --bases 10     # smaller
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import ganphon
from ganphon import stats
from ganphon.acoustics import measure
from ganphon.annotate import annotate_folder
from ganphon.export import run_export, write_table
from ganphon.models import LoadedModel, ModelConfig, new_model
from ganphon.sweep import make_design


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bases", type=int, default=100)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2, help="processes for annotate, measure and stats")
    ap.add_argument("--keep", default=None, help="keep the sweep folder here")
    args = ap.parse_args()

    cfg = ModelConfig(arch="wavegan", dim=args.dim)
    G, _, _ = new_model(cfg, seed=0)
    model = LoadedModel(config=cfg, generator=G.eval(), sha256="fresh-d%d" % args.dim)
    spec = {"kind": "dimension", "var": "z11", "from": -15, "to": 5, "step": 2, "bases": args.bases, "seed": 1}
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep) if args.keep else Path(tmp) / "sweep"
        t0 = time.perf_counter()
        design = make_design(cfg, spec)
        with torch.inference_mode():
            for i in range(0, len(design), 64):
                G(design.latents[i:i + 64])
        times["bare generator forward"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        run_export(model, design.latents, out, sample_ids=design.sample_ids, conditions=design.conditions,
                   columns=design.columns, layers=["conv1", "conv2", "conv3", "conv4"], seed=1,
                   request={"kind": "sweep", "spec": spec}, progress=False, overwrite=True)
        times["generate + probe + export"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        annotate_folder(out, progress=False, workers=args.workers)
        times["annotate"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        table = measure(out, tier="auto", workers=args.workers, progress=False)
        write_table(table, out / "acoustics.csv")
        times["measure"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = stats.run_stats(out, measures=("intensity", "f0", "f1", "f2", "duration"), workers=args.workers)
        times["mixed models"] = time.perf_counter() - t0

    pipeline = sum(v for k, v in times.items() if k != "bare generator forward")
    n = len(design)
    print(f"ganphon {ganphon.__version__}: z11 sweep, {args.bases} bases × 11 values = {n} samples × 5 series, "
          f"d={args.dim}, {torch.get_num_threads()} threads, {args.workers} worker processes")
    for k, v in times.items():
        print(f"  {k:28s} {v:7.1f} s")
    print(f"  {'total (pipeline)':28s} {pipeline:7.1f} s   target ≤ 60 s → {pipeline / 60:.2f}× the target")
    print(f"  pipeline / bare generator forward: {pipeline / times['bare generator forward']:.1f}×")
    print(f"  rows measured: {len(table):,}; models fitted: {len(result.tables.get('lrt', []))}")
    print(json.dumps({"samples": n, "times_s": times, "pipeline_s": pipeline}))


if __name__ == "__main__":
    main()
