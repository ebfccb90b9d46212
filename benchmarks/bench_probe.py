"""Probe overhead and export memory.

1. At d=64, batch 64 on the CPU: the bare generator forward vs the full probe
   (every layer, channel mean, upsampled to the output length), timed in the
   same run; prints the ratio (target ≤ 1.10).
2. Peak resident memory of ``ganphon probe`` exports of growing N, each in its
   own process (target: flat in N, ≤ 2 GB at N = 10,000).

    python benchmarks/bench_probe.py                 # both parts, N up to 10,000
    python benchmarks/bench_probe.py --sizes 500,2000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import ganphon
from ganphon.models import Latent, ModelConfig, new_model, save_checkpoint
from ganphon.probe import probe


def time_forward(dim: int, batch: int, repeats: int, threads: int | None) -> dict:
    if threads:
        torch.set_num_threads(threads)
    cfg = ModelConfig(arch="wavegan", dim=dim)
    G, _, _ = new_model(cfg, seed=0)
    G.eval()
    z = Latent(cfg).sample(batch, seed=1)

    def bare():
        with torch.inference_mode():
            G(z)

    def full():
        probe(G, z, batch_size=batch, device="cpu")

    bare(), full()  # warm up
    t_bare, t_full = [], []
    for _ in range(repeats):  # interleaved, so drift hits both alike
        t0 = time.perf_counter(); bare(); t_bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); full(); t_full.append(time.perf_counter() - t0)
    b, f = min(t_bare), min(t_full)
    return {"dim": dim, "batch": batch, "bare_s": b, "probe_s": f, "ratio": f / b,
            "threads": torch.get_num_threads()}


def export_rss(sizes, dim: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "m.pt"
        cfg = ModelConfig(arch="ciwgan", n_codes=3, dim=dim)
        G, _, _ = new_model(cfg, seed=0)
        save_checkpoint(ckpt, cfg, G)
        for n in sizes:
            out = Path(tmp) / f"out{n}"
            code = ("import resource, sys; from ganphon.cli import main; rc = main(sys.argv[1:]); "
                    "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code, "probe", "--checkpoint", str(ckpt), "--n", str(n),
                                   "--seed", "1", "--out", str(out), "--quiet", "--device", "cpu"],
                                  capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
            kb = int(proc.stdout.split("MAXRSS")[-1].split()[0])
            disk = sum(p.stat().st_size for p in out.iterdir())
            rows.append({"n": n, "peak_rss_mb": kb / 1024, "wall_s": wall, "samples_per_s": n / wall,
                         "disk_mb": disk / 2**20})
            shutil.rmtree(out)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--sizes", default="1000,10000", help="export sizes for the memory part ('' to skip)")
    ap.add_argument("--export-dim", type=int, default=64)
    args = ap.parse_args()

    print(f"ganphon {ganphon.__version__}, torch {torch.__version__}, CPU")
    f = time_forward(args.dim, args.batch, args.repeats, args.threads)
    print(f"forward d={f['dim']} batch={f['batch']} ({f['threads']} threads): bare {f['bare_s']*1000:.1f} ms, "
          f"full probe {f['probe_s']*1000:.1f} ms, ratio probe/bare = {f['ratio']:.3f} (target ≤ 1.10)")
    rows = export_rss([int(s) for s in args.sizes.split(",") if s], args.export_dim) if args.sizes else []
    for r in rows:
        print(f"export N={r['n']:6d} (d={args.export_dim}): peak RSS {r['peak_rss_mb']:.0f} MB, "
              f"{r['samples_per_s']:.1f} samples/s, {r['disk_mb']:.0f} MB on disk")
    if len(rows) > 1:
        print(f"peak RSS ratio N={rows[-1]['n']} / N={rows[0]['n']}: "
              f"{rows[-1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.3f} (flat = 1.0)")
    print(json.dumps({"forward": f, "export": rows}))


if __name__ == "__main__":
    main()
