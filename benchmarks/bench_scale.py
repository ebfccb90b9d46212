"""Scale: the columnar store against one file per series, and the analysis on 1 vs 2 workers.

1. ``N`` random samples of a d = 64 WaveGAN (fresh weights: the cost of generating
   and writing does not depend on training; the analysis's in 3. does, see
   there), output + conv1–conv4, written once as files
   (``ganphon probe``: WAV + Sound + TextGrid per series) and once as a store
   (``ganphon probe --store zarr``).  Each runs in its own process: wall time,
   bytes on disk, peak RSS (``wait4``), samples/s.
2. Generation into a store as Dask tasks (one chunk a task) on a LocalCluster
   of 1 and of 2 single-threaded workers, ``--gen-n`` samples: samples/s and
   the speed-up (the in-process run of 1. uses ``--threads`` torch threads).
3. The analysis (annotate the outputs, measure every series: pitch, intensity,
   formants, spectrum, duration) of ``--analyse-n`` samples from the store,
   with 1 and with 2 workers (the local process pool; ``--dask`` adds a
   2-process LocalCluster): samples/s and the speed-up.  A fresh network's output
   is noise-like, and Praat's pitch analysis of it costs about 6× what it costs
   on a trained generator's (``bench_sweep.py``'s text): these rates are of
   that noise, a trained model's analysis is faster.

Prints a table, the ratios against the file route measured in the same run,
a projection to 310,000 samples, and one JSON line.

    python benchmarks/bench_scale.py                       # 20,000 samples
    python benchmarks/bench_scale.py --n 2000 --gen-n 512 --analyse-n 128
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys, time
import torch
from ganphon.models import LoadedModel, Latent, ModelConfig, new_model
from ganphon.export import run_export
from ganphon.store import run_store
kind, out, n, dim, seed, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
extra = {"chunk": int(sys.argv[7])} if len(sys.argv) > 7 else {}
torch.set_num_threads(threads)
cfg = ModelConfig(arch="wavegan", dim=dim)
G, _, _ = new_model(cfg, seed=0)
model = LoadedModel(config=cfg, generator=G.eval(), sha256=f"fresh-d{dim}")
z = Latent(cfg).sample(n, seed)
write = run_store if kind == "zarr" else run_export
t0 = time.perf_counter()
write(model, z, out, layers=["conv1", "conv2", "conv3", "conv4"], seed=seed, request={"kind": "probe", "n": n},
      progress=False, batch_size=64 if not extra else min(64, extra["chunk"]), device="cpu", **extra)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def du(path) -> int:
    """Bytes on disk (allocated blocks) under ``path``."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            total += os.stat(os.path.join(root, name)).st_blocks * 512
    return total


def run_child(kind: str, out: Path, n: int, dim: int, seed: int, threads: int, chunk=None) -> dict:
    """One probe run in its own process: wall, the run's own seconds, peak RSS, disk."""
    t0 = time.perf_counter()
    extra = [str(chunk)] if chunk else []
    proc = subprocess.Popen([sys.executable, "-c", CHILD, kind, str(out), str(n), str(dim), str(seed), str(threads),
                             *extra],
                            stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stdout = proc.stdout.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} run failed ({proc.returncode})")
    inner = json.loads(stdout.strip().splitlines()[-1])["seconds"]
    files = sum(1 for _ in out.rglob("*") if _.is_file())
    return {"wall_s": wall, "run_s": inner, "peak_rss_mb": usage.ru_maxrss / 1024, "disk_bytes": du(out),
            "files": files, "samples_per_s": n / inner}


def generate_on_dask(out: Path, n: int, dim: int, workers: int) -> dict:
    """Generate ``n`` samples into a store as Dask tasks on a LocalCluster of ``workers`` processes.

    Each task uses this process's torch thread count (so that the numbers are
    the same): set to 1 here, one core per worker.
    """
    import torch

    from ganphon.models import Latent, LoadedModel, ModelConfig, new_model
    from ganphon.parallel_dask import use_scheduler
    from ganphon.store import run_store

    cfg = ModelConfig(arch="wavegan", dim=dim)
    G, _, _ = new_model(cfg, seed=0)
    model = LoadedModel(config=cfg, generator=G.eval(), sha256=f"fresh-d{dim}")
    z = Latent(cfg).sample(n, 3)
    if out.exists():
        shutil.rmtree(out)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    try:
        with use_scheduler("local", workers=workers) as dask:
            t1 = time.perf_counter()
            result = run_store(model, z, out, layers=["conv1", "conv2", "conv3", "conv4"], seed=3,
                               request={"kind": "probe", "n": n}, progress=False, batch_size=64, chunk=64,
                               device="cpu", scheduler=dask)
            seconds = time.perf_counter() - t1
    finally:
        torch.set_num_threads(threads)
    shutil.rmtree(out)
    return {"seconds": seconds, "with_startup_s": time.perf_counter() - t0, "samples_per_s": n / seconds,
            "workers_used": result.attrs["summary"].get("workers")}


def analyse(store: Path, work: Path, workers: int, scheduler=None) -> dict:
    from ganphon.parallel_dask import use_scheduler
    from ganphon.store_analysis import analyse_store

    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(store, work)
    t0 = time.perf_counter()
    with use_scheduler(scheduler, workers=workers) as dask:
        t1 = time.perf_counter()
        table, summary = analyse_store(work, workers=workers, progress=False, scheduler=dask)
        seconds = time.perf_counter() - t1
    return {"seconds": seconds, "with_startup_s": time.perf_counter() - t0, "rows": len(table),
            "samples_per_s": summary["samples"] / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="samples written as files and as a store")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the generating process")
    ap.add_argument("--gen-n", type=int, default=2048, help="samples generated on Dask (1 vs 2 workers)")
    ap.add_argument("--analyse-n", type=int, default=256, help="samples annotated and measured (1 vs 2 workers)")
    ap.add_argument("--dask", action="store_true", help="also analyse on a 2-process Dask LocalCluster")
    ap.add_argument("--dir", default=None, help="work here (default: a temporary folder)")
    args = ap.parse_args()

    import ganphon

    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench_scale_"))
    base.mkdir(parents=True, exist_ok=True)
    results: dict = {"n": args.n, "dim": args.dim, "cpus": os.cpu_count(), "ganphon": ganphon.__version__}
    try:
        for kind in ("files", "zarr"):
            out = base / kind
            if out.exists():
                shutil.rmtree(out)
            results[kind] = run_child(kind, out, args.n, args.dim, 1, args.threads)
            print(f"  {kind}: {results[kind]}", flush=True)
            if kind == "files":
                shutil.rmtree(out)  # disk: keep only what is needed

        results["generate"] = {k: generate_on_dask(base / f"g{k}", args.gen_n, args.dim, k) for k in (1, 2)}
        print(f"  generate on Dask: {results['generate']}", flush=True)

        small = base / "small"
        if small.exists():
            shutil.rmtree(small)
        # chunks of 16 samples: enough jobs for the workers to share
        run_child("zarr", small, args.analyse_n, args.dim, 2, args.threads, chunk=16)
        results["analyse"] = {1: analyse(small, base / "a1", 1), 2: analyse(small, base / "a2", 2)}
        if args.dask:
            results["analyse"]["dask2"] = analyse(small, base / "ad", 2, scheduler="local")
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)

    f, z = results["files"], results["zarr"]
    a1, a2 = results["analyse"][1], results["analyse"][2]
    print(f"\nganphon {ganphon.__version__}: {args.n:,} samples × (output + conv1–conv4), d = {args.dim}, "
          f"{os.cpu_count()} CPUs, {args.threads} torch threads")
    print(f"{'':24s}{'files':>14s}{'zarr store':>14s}{'store/files':>13s}")
    for key, label, fmt in (("run_s", "wall time (s)", "{:14.1f}"), ("disk_bytes", "disk (MB)", "{:14.1f}"),
                            ("peak_rss_mb", "peak RSS (MB)", "{:14.0f}"), ("samples_per_s", "samples/s", "{:14.1f}"),
                            ("files", "files", "{:14,.0f}")):
        fv, zv = f[key], z[key]
        scale = 1e6 if key == "disk_bytes" else 1
        print(f"{label:24s}" + fmt.format(fv / scale) + fmt.format(zv / scale) + f"{zv / fv:12.3f}×")
    print(f"bytes per sample: files {f['disk_bytes'] / args.n:,.0f}, store {z['disk_bytes'] / args.n:,.0f}")
    g1, g2 = results["generate"][1], results["generate"][2]
    print(f"generation of {args.gen_n} samples as Dask tasks (64-sample chunks, 1 torch thread per worker): "
          f"1 worker {g1['samples_per_s']:.1f} samples/s, 2 workers {g2['samples_per_s']:.1f} samples/s "
          f"→ {g2['samples_per_s'] / g1['samples_per_s']:.2f}× (cluster start +{g2['with_startup_s'] - g2['seconds']:.1f} s)")
    print(f"analysis of {args.analyse_n} samples (annotate + measure 5 series each): "
          f"1 worker {a1['samples_per_s']:.2f} samples/s, 2 workers {a2['samples_per_s']:.2f} samples/s "
          f"→ {a2['samples_per_s'] / a1['samples_per_s']:.2f}× ({a1['rows']:,} rows)")
    if "dask2" in results["analyse"]:
        d = results["analyse"]["dask2"]
        print(f"  Dask LocalCluster, 2 workers: {d['samples_per_s']:.2f} samples/s "
              f"(+{d['with_startup_s'] - d['seconds']:.1f} s cluster start)")
    per_core = a1["samples_per_s"]
    target = 310_000
    print(f"projection to {target:,} samples: store {z['disk_bytes'] / args.n * target / 1e9:,.0f} GB vs files "
          f"{f['disk_bytes'] / args.n * target / 1e9:,.0f} GB; generation {target / z['samples_per_s'] / 3600:.1f} h "
          f"here; analysis {target / per_core / 3600:,.0f} core-hours "
          f"({target / per_core / 3600 / 64:.1f} h on 4 machines × 16 cores)")
    print(json.dumps(results, default=str))


if __name__ == "__main__":
    main()
