"""The paper-scale sweep, stage by stage as the commands a user runs, against the bare forward pass.

A d = 64 generator is saved as a checkpoint and swept over z11 from −15 to 5 step 2 on
``--bases`` base latents (100: the paper's 1,100 samples); each sample's
output and every layer (dense, conv1–conv4) are exported.  Every stage is the whole command in
its own process (start-up, imports, reading and writing its files counted):

    ganphon sweep  … --no-annotate --no-measure      generate + probe + export
    ganphon annotate DIR --workers W [--no-buzz-rule]
    ganphon measure DIR --workers W
    ganphon stats DIR --workers W --measures intensity,f0,f1,f2,duration

The baseline, the bare generator forward of the same latents (batches of 64,
torch's threads, no hooks, nothing written), is timed in this process before
the first stage and again after every stage, interleaved: each stage is
divided by the mean of the forwards timed just before and just after it, so a
machine that speeds up or slows down during the run moves the stage and its
baseline together.  The pipeline's ratio is the sum of the stages' ratios
(each stage in units of the forward of its own minutes); the pipeline's time
over the mean of all the forwards is printed beside it.  Quote the result with
the load (``uptime`` is printed before and after).

Each stage's CPU time (the machine's busy time over it, ``/proc/stat``) is printed
beside its wall time; their sum over the machine's cores is the least wall
time any schedule of the same work could take, which says how much of the
ratio is waiting and how much is work.

Which d = 64 generator (``--weights``).  The forward pass costs the same whatever
the weights, but Praat's analyses do not: ``To Pitch (ac)`` on a fresh network's
noise-like output keeps 15 candidates in every frame and costs about 6× what it
costs on a trained generator's output (21 against 3.5 ms of CPU per 1.024 s
output at annotate's settings), so fresh weights time a pipeline no user runs.

* ``trained`` (default): the bundled trained ciwGAN (d = 8) widened to d = 64
  without changing what it computes: every channel of every layer is copied
  8 times and each copy's outgoing weights divided by 8, so each layer's
  channel mean and the output are the bundled model's (the run checks this, to
  1e-4, before timing) while every forward costs what a d = 64 forward costs.
  Annotated as a user would (buzz rule on).
* ``fresh``: a freshly initialised d = 64 WaveGAN.  Its outputs are its stack's
  buzz: with the buzz rule they have no ``voi`` interval and ``stats`` would fit
  no model, so it is annotated with ``--no-buzz-rule`` (the labels each measure
  is fitted on are printed).

    python benchmarks/bench_sweep.py                # paper scale, 2 workers
    python benchmarks/bench_sweep.py --bases 30     # 330 samples
    python benchmarks/bench_sweep.py --weights fresh

Two baselines.  The network commands (``sweep`` here) keep the memory a batch frees for
the next one (:func:`ganphon.parallel.keep_freed_memory`), which makes a forward loop a fifth to a
quarter faster on these virtual machines.  Around every stage the bare forward is timed twice: as a plain
loop in this process, and as the same loop with that heap setting in a fresh process (a setting once made
cannot be unmade in a process: glibc then stops adapting its thresholds), the baseline a tuned plain loop
would give.  The pipeline's ratio is printed against both; the tuned one is the stricter.

The pipeline as a user runs it is two commands, not four: ``ganphon sweep`` annotates and measures its
folder in the same process (one start-up, one read of the manifest), then ``ganphon stats``.  After the
stages, that pair is run too (``--no-as-run``: not), into a second folder, with the forwards timed around each
command as around each stage; its acoustic table and its statistics must equal the stages' (the same work),
or the run stops.

Measuring less (the tables change): ``--annotate-step 0.01`` passes
``--time-step 0.01`` to ``annotate`` (a frame every 10 ms, half its voicing
analysis), ``--measure-inputs sound`` passes ``--inputs sound`` to ``measure``
(each layer measured on its native-rate Sound, not upsampled to 16 kHz).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

SPEC = {"var": "z11", "from": -15, "to": 5, "step": 2}
STATS_MEASURES = "intensity,f0,f1,f2,duration"


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def bare_forward(G, latents, batch: int = 64) -> tuple[float, float]:
    """Seconds and the machine's busy CPU seconds (torch's threads) of the plain forward pass over ``latents``,
    after a warm-up batch."""
    with torch.inference_mode():
        G(latents[:batch])
        started, cpu_started = time.perf_counter(), _busy_cpu()
        for i in range(0, len(latents), batch):
            G(latents[i:i + batch])
        return time.perf_counter() - started, _busy_cpu() - cpu_started


def tuned_forward(checkpoint: Path, bases: int) -> tuple[float, float]:
    """:func:`bare_forward` of the checkpoint's generator over the sweep's latents, in a fresh process that
    keeps freed memory (:func:`ganphon.parallel.keep_freed_memory`); seconds and busy CPU seconds."""
    done = subprocess.run([sys.executable, __file__, "--forward-child", str(checkpoint), "--bases", str(bases)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the tuned forward failed:\n{done.stderr[-2000:]}")
    seconds, cpu = json.loads(done.stdout.splitlines()[-1])
    return seconds, cpu


def _forward_child(checkpoint: str, bases: int) -> None:
    from ganphon.models import load_checkpoint
    from ganphon.parallel import keep_freed_memory
    from ganphon.sweep import make_design

    if not keep_freed_memory():
        raise SystemExit("bench_sweep: this C library has no mallopt; no tuned forward to time")
    bundle = load_checkpoint(checkpoint)
    design = make_design(bundle.config, {"kind": "dimension", **SPEC, "bases": bases, "seed": 1})
    print(json.dumps(bare_forward(bundle.generator.eval(), design.latents)))


def widened_demo_generator(dim: int):
    """The bundled trained generator with every channel copied ``dim / 8`` times (see the module's text),
    and its config; refused unless its output and each layer's channel mean equal the bundled model's."""
    import dataclasses

    from ganphon.models import load_checkpoint, new_model
    from ganphon.models.bundled import demo_checkpoint_path

    bundled = load_checkpoint(demo_checkpoint_path())
    small = bundled.generator.eval()
    if dim % bundled.config.dim:
        raise SystemExit(f"bench_sweep: --weights trained needs --dim a multiple of {bundled.config.dim}")
    copies = dim // bundled.config.dim
    config = dataclasses.replace(bundled.config, dim=dim)
    wide, _, _ = new_model(config, seed=0)
    old, target = small.state_dict(), wide.state_dict()
    state = {}
    channels, wide_channels = small.dense_channels, wide.dense_channels
    copy_of = torch.arange(wide_channels) // copies  # wide channel → the bundled channel it copies
    if config.dense_layout == "tf":  # unit t * C + c is channel c at time t
        state["dense.weight"] = old["dense.weight"].view(16, channels, -1)[:, copy_of].reshape(16 * wide_channels, -1)
        state["dense.bias"] = old["dense.bias"].view(16, channels)[:, copy_of].reshape(-1)
    else:  # unit c * 16 + t
        state["dense.weight"] = old["dense.weight"].view(channels, 16, -1)[copy_of].reshape(16 * wide_channels, -1)
        state["dense.bias"] = old["dense.bias"].view(channels, 16)[copy_of].reshape(-1)
    for name in small.blocks:
        weight, bias = old[f"blocks.{name}.conv.weight"], old[f"blocks.{name}.conv.bias"]  # [in, out, kernel]
        n_in, n_out = target[f"blocks.{name}.conv.weight"].shape[:2]
        rows = torch.arange(n_in) // copies
        cols = torch.arange(n_out) // (n_out // weight.shape[1])  # the output layer keeps its one channel
        state[f"blocks.{name}.conv.weight"] = weight[rows][:, cols] / copies
        state[f"blocks.{name}.conv.bias"] = bias[cols]
    wide.load_state_dict(state)
    wide.eval()
    z = torch.randn(16, config.latent_dim, generator=torch.Generator().manual_seed(0)) * 3

    def layer_means(G):
        means = {}
        hooks = [module.register_forward_hook(lambda _m, _i, out, n=n: means.__setitem__(n, out.mean(1)))
                 for n, module in G.activation_modules().items()]
        with torch.inference_mode():
            G(z)
        for hook in hooks:
            hook.remove()
        return means

    small_means, wide_means = layer_means(small), layer_means(wide)
    worst = max(float((small_means[n] - wide_means[n]).abs().max()) for n in small_means)
    if worst > 1e-4:
        raise SystemExit(f"bench_sweep: the widened generator differs from the bundled one by {worst:g}")
    print(f"the bundled ciwGAN (d = {bundled.config.dim}) widened to d = {dim}: every layer's channel mean and the "
          f"output within {worst:.1e} of the bundled model's")
    return config, wide


def _busy_cpu() -> float:
    """The machine's busy CPU seconds so far, all cores (``/proc/stat``: user, nice, system, irq, softirq, steal).

    The stages' workers are children of a forkserver that no stage waits for, so
    their time is not in the command's own resource usage; the machine's busy
    time over a stage is the stage's when nothing else runs (the load is printed).
    """
    with open("/proc/stat", encoding="ascii") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run(label, args, times, cpu) -> None:
    started, cpu_started = time.perf_counter(), _busy_cpu()
    done = subprocess.run([sys.executable, "-m", "ganphon", *map(str, args)], capture_output=True, text=True)
    times[label] = time.perf_counter() - started
    cpu[label] = _busy_cpu() - cpu_started  # the command, its workers and their start-up
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stderr[-2000:]}")


def _as_run(staged: Path, out: Path, checkpoint: Path, args, buzz, step, G, latents, forward, tuned) -> dict:
    """The two commands a user runs (``sweep`` annotating and measuring, then ``stats``) into ``out``, each
    against the forwards timed around it (``forward``, ``tuned``: the last ones timed); refused unless their
    acoustic table and statistics equal those of the stages in ``staged``."""
    import pandas as pd

    if buzz or step or args.measure_inputs != "wav":
        raise SystemExit("bench_sweep: --as-run times the commands as a user runs them: leave --weights, "
                         "--annotate-step and --measure-inputs at their defaults, or give --no-as-run")
    commands = [
        ("sweep (annotating, measuring)", ["sweep", "--checkpoint", checkpoint, "--var", "z11", "--from", -15,
                                           "--to", 5, "--step", 2, "--bases", args.bases, "--seed", 1,
                                           "--workers", args.workers, "--out", out, "--quiet"]),
        ("stats", ["stats", out, "--workers", args.workers, "--measures", STATS_MEASURES, "--quiet"]),
    ]
    times: dict = {}
    cpu: dict = {}
    forwards, tuned_ = [forward], [tuned]
    for label, command in commands:
        run(label, command, times, cpu)
        forwards.append(bare_forward(G, latents))
        tuned_.append(tuned_forward(checkpoint, args.bases))
    from ganphon.io import read_acoustics

    mine, theirs = read_acoustics(out, join=False), read_acoustics(staged, join=False)
    try:
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), theirs.reset_index(drop=True))
        for name in ("mixed_models", "lrt", "correlations"):
            pd.testing.assert_frame_equal(pd.read_csv(out / "stats" / f"{name}.csv"),
                                          pd.read_csv(staged / "stats" / f"{name}.csv"), rtol=1e-9)
    except AssertionError as exc:
        raise SystemExit(f"bench_sweep: the two commands did other work than the stages: {exc}") from None
    ratios = {label: times[label] / ((forwards[i][0] + forwards[i + 1][0]) / 2) for i, label in enumerate(times)}
    ratios_tuned = {label: times[label] / ((tuned_[i][0] + tuned_[i + 1][0]) / 2) for i, label in enumerate(times)}
    return {"times_s": times, "cpu_s": cpu, "ratios": ratios, "ratios_tuned": ratios_tuned,
            "ratio": sum(ratios.values()), "ratio_tuned": sum(ratios_tuned.values()),
            "forward_s": [f for f, _ in forwards[1:]], "tuned_forward_s": [f for f, _ in tuned_[1:]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bases", type=int, default=100)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--weights", choices=("trained", "fresh"), default="trained",
                    help="the bundled trained generator widened to --dim, or fresh weights (see above)")
    ap.add_argument("--workers", type=int, default=2, help="processes for annotate, measure and stats")
    ap.add_argument("--keep", default=None, help="keep the sweep folder here")
    ap.add_argument("--annotate-step", type=float, default=None,
                    help="annotate --time-step (default: annotate's own, 0.005 s)")
    ap.add_argument("--measure-inputs", choices=("wav", "sound"), default="wav", help="measure --inputs")
    ap.add_argument("--as-run", action=argparse.BooleanOptionalAction, default=True,
                    help="also time the two commands a user runs (sweep annotating and measuring, then stats)")
    ap.add_argument("--forward-child", default=None, help=argparse.SUPPRESS)  # tuned_forward's process
    args = ap.parse_args()
    if args.forward_child:
        _forward_child(args.forward_child, args.bases)
        return

    import ganphon
    from ganphon.models import ModelConfig, new_model, save_checkpoint
    from ganphon.sweep import make_design

    if args.weights == "trained":
        cfg, G = widened_demo_generator(args.dim)
    else:
        cfg = ModelConfig(arch="wavegan", dim=args.dim)
        G, _, _ = new_model(cfg, seed=0)
        G.eval()
    spec = {"kind": "dimension", **SPEC, "bases": args.bases, "seed": 1}
    design = make_design(cfg, spec)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / f"{args.weights}_d{args.dim}.pt"
        save_checkpoint(checkpoint, cfg, generator=G)
        out = Path(args.keep) if args.keep else Path(tmp) / "sweep"
        print(f"ganphon {ganphon.__version__}: z11 sweep, {args.bases} bases × 11 values = {len(design)} samples "
              f"× (output + every layer), {cfg.arch} d={args.dim} ({args.weights} weights), "
              f"{torch.get_num_threads()} torch threads, {args.workers} workers; "
              f"annotate every {args.annotate_step or 0.005:g} s, measure --inputs {args.measure_inputs}")
        print(f"before: {_uptime()}")
        forwards = [bare_forward(G, design.latents)]  # before the first stage, then after each
        tuned = [tuned_forward(checkpoint, args.bases)]
        times: dict = {}
        cpu: dict = {}
        step = [] if args.annotate_step is None else ["--time-step", args.annotate_step]
        buzz = ["--no-buzz-rule"] if args.weights == "fresh" else []
        stages = [
            ("generate + probe + export", ["sweep", "--checkpoint", checkpoint, "--var", "z11", "--from", -15,
                                           "--to", 5, "--step", 2, "--bases", args.bases, "--seed", 1,
                                           "--no-annotate", "--no-measure", "--out", out, "--overwrite", "--quiet"]),
            ("annotate", ["annotate", out, "--workers", args.workers, *buzz, "--quiet", *step]),
            ("measure", ["measure", out, "--workers", args.workers, "--quiet", "--overwrite",
                         "--inputs", args.measure_inputs]),
            ("stats (mixed models)", ["stats", out, "--workers", args.workers, "--measures", STATS_MEASURES,
                                      "--quiet"]),
        ]
        for label, command in stages:
            run(label, command, times, cpu)
            forwards.append(bare_forward(G, design.latents))
            tuned.append(tuned_forward(checkpoint, args.bases))
        record = json.loads((out / "stats" / "stats.json").read_text(encoding="utf-8"))
        fitted = record.get("labels_by_measure") or {}
        print(f"stats fitted, per measure, the labels: {fitted}")
        if not any(fitted.values()):  # a stage that did none of its work would flatter the pipeline's ratio
            raise SystemExit("bench_sweep: stats fitted no model on this sweep; the figures would not be the "
                             "pipeline's")
        as_run: dict = {}
        if args.as_run:
            as_run = _as_run(out, Path(tmp) / "as_run", checkpoint, args, buzz, step, G, design.latents, forwards[-1],
                             tuned[-1])
        print(f"after:  {_uptime()}")
        disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        files = sum(1 for p in out.rglob("*") if p.is_file())
    seconds, tuned_seconds = [f for f, _ in forwards], [f for f, _ in tuned]
    around = {label: (seconds[i] + seconds[i + 1]) / 2 for i, label in enumerate(times)}  # the stage's baseline
    around_tuned = {label: (tuned_seconds[i] + tuned_seconds[i + 1]) / 2 for i, label in enumerate(times)}
    ratios = {label: times[label] / around[label] for label in times}
    ratios_tuned = {label: times[label] / around_tuned[label] for label in times}
    pipeline, pipeline_cpu = sum(times.values()), sum(cpu.values())
    ratio, ratio_tuned = sum(ratios.values()), sum(ratios_tuned.values())
    forward = sum(seconds) / len(seconds)
    cores = len(os.sched_getaffinity(0))
    for name, timed in (("bare forward, before each stage", forwards), ("the same, keeping freed memory", tuned)):
        print(f"  {name:32s} " + " / ".join(f"{f:.2f}" for f, _ in timed[:-1])
              + f" s, after the last {timed[-1][0]:.2f} s   CPU " + " / ".join(f"{c:.1f}" for _, c in timed) + " s")
    for label, spent in times.items():
        print(f"  {label:32s} {spent:7.2f} s   {ratios[label]:5.2f}× the forward around it ({around[label]:.2f} s), "
              f"{ratios_tuned[label]:5.2f}× the tuned one ({around_tuned[label]:.2f} s)   "
              f"{100 * spent / pipeline:4.1f} %   CPU {cpu[label]:6.1f} s")
    print(f"  {'pipeline':32s} {pipeline:7.2f} s   {ratio:5.2f}× the bare forward, stage by stage (target ≤ 4×); "
          f"{pipeline / forward:.2f}× the mean of the {len(seconds)} forwards ({forward:.2f} s)   "
          f"CPU {pipeline_cpu:6.1f} s")
    print(f"  {'against the tuned forward':32s} {'':9s} {ratio_tuned:5.2f}× stage by stage; "
          f"{pipeline / (sum(tuned_seconds) / len(tuned_seconds)):.2f}× the mean of its {len(tuned_seconds)} timings")
    # The least wall time the stages' CPU work allows on this machine's cores, however it is scheduled:
    floor = sum(cpu[label] / cores / around[label] for label in times)
    floor_tuned = sum(cpu[label] / cores / around_tuned[label] for label in times)
    print(f"  the stages' CPU time over {cores} cores: {pipeline_cpu / cores:.2f} s = {floor:.2f}× the bare forward "
          f"({floor_tuned:.2f}× the tuned one), stage by stage (no schedule of the same work is faster)")
    if as_run:
        for label, spent in as_run["times_s"].items():
            print(f"  as run: {label:24s} {spent:7.2f} s   {as_run['ratios'][label]:5.2f}× the forward around it, "
                  f"{as_run['ratios_tuned'][label]:5.2f}× the tuned one   CPU {as_run['cpu_s'][label]:6.1f} s")
        print(f"  {'as run: the two commands':32s} {sum(as_run['times_s'].values()):7.2f} s   "
              f"{sum(as_run['ratios'].values()):5.2f}× the bare forward, {as_run['ratio_tuned']:5.2f}× the tuned one "
              f"(target ≤ 4×); the same acoustic table and statistics as the stages'   "
              f"CPU {sum(as_run['cpu_s'].values()):6.1f} s")
    print(f"  folder: {files:,} files, {disk / 1e6:.1f} MB")
    print(json.dumps({"samples": len(design), "weights": args.weights, "arch": cfg.arch, "workers": args.workers,
                      "cores": cores, "as_run": as_run,
                      "annotate_step": args.annotate_step, "measure_inputs": args.measure_inputs,
                      "forward_s": seconds, "forward_cpu_s": [c for _, c in forwards],
                      "tuned_forward_s": tuned_seconds, "tuned_forward_cpu_s": [c for _, c in tuned],
                      "ratio_tuned": ratio_tuned, "cpu_floor_ratio_tuned": floor_tuned,
                      "times_s": times, "cpu_s": cpu, "stage_ratios": ratios, "pipeline_s": pipeline,
                      "pipeline_cpu_s": pipeline_cpu, "ratio": ratio, "ratio_to_mean_forward": pipeline / forward,
                      "cpu_floor_ratio": floor}))


if __name__ == "__main__":
    main()
