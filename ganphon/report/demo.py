"""``ganphon demo``: the whole chain on the bundled trained ciwGAN, with a report.

1. **Discover**: N random samples → automatic annotation → which latent
   variable is most tied to frication (GAP-style logistic regression).
2. **Sweep** that variable from −15 to 5 in steps of 2 over 10 base latents,
   and sweep a code variable from 0 to 2 in steps of 0.25.
3. Export every layer, annotate the outputs, measure every layer on the
   output's intervals (pitch, intensity, formants, spectral moments, duration).
4. Fit the mixed-effects models, compute the layer × output correlation table
   on the random samples, find the first layer where the effect appears.
5. Draw the figures, write listening copies, and write ``report.md`` and
   ``report.html`` (with audio players).
6. Write the explorer page of each sweep (``sweep_<var>/explore.html``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import layout
from ..errors import GanphonError
from .writer import audio_md, listening_copies, markdown_to_html, md_table, rel

def _step(msg: str, progress: bool) -> float:
    if progress:
        print(f"\n== {msg}", flush=True)
    return time.perf_counter()


def _typical_sample(folder: Path, prop: pd.DataFrame) -> str:
    """The sample for the layer stack: the word-shaped one (frication before a vowel,
    silence around) with the most frication; without any, the most frication."""
    from ..acoustics import read_intervals
    from ..train.evaluate import word_shape

    ranked = prop.sort_values(["fric_duration", "sample_id"], ascending=[False, True])["sample_id"].tolist()
    for sid in ranked:
        _, intervals, _ = read_intervals(folder / layout.textgrid(sid), "auto")
        if word_shape([(start, end, label) for label, start, end in intervals])["word"]:
            return sid
    return ranked[0]


def run_demo(out="ganphon_demo", checkpoint="demo", seed: int = 1, n_random: int = 120, bases: int = 10,
             workers: int = 2, quick: bool = False, overwrite: bool = False, progress: bool = True,
             command: str | None = None) -> Path:
    """Run the demo analysis into ``out`` and return the path of ``report.md``.

    ``out`` must be missing, empty, or a demo folder of the same request
    (resumed); another demo is replaced only with ``overwrite``, and a folder
    holding anything else is refused.
    """
    from .. import __version__, plots, stats
    from ..io import prepare_folder
    from ..models import load_checkpoint
    from ..models.bundled import DATA, DEMO_CARD, DEMO_G
    from ..sweep import run_sweep
    from .explore import build_explorer

    out = Path(out)
    model = load_checkpoint(checkpoint, qnetwork=False)
    prepare_folder(out, {"kind": "demo", "checkpoint_sha256": model.sha256, "seed": seed,
                         "n_random": n_random, "bases": bases, "quick": quick},
                   overwrite=overwrite, record={"command": command})
    cfg = model.config
    if cfg.n_codes == 0:
        raise GanphonError(f"{model.path}: the demo needs a ciwgan or fiwgan model (it sweeps a code)")
    if quick:
        n_random, bases = min(n_random, 24), min(bases, 2)
    z_range = (-15.0, 5.0, 2.0) if not quick else (-15.0, 5.0, 10.0)
    c_range = (0.0, 2.0, 0.25) if not quick else (0.0, 2.0, 1.0)
    timings = {}
    common = dict(workers=workers, progress=progress, overwrite=overwrite)

    # 1. discovery on random samples
    t0 = _step(f"1/6 {n_random} random samples: export, annotate, measure", progress)
    rand_dir = out / "random"
    rand_spec = {"kind": "random", "n": n_random, "seed": seed}
    run_sweep(rand_spec, model, rand_dir, **common)
    prop = stats.frication_property(rand_dir)
    latents = pd.read_csv(rand_dir / layout.LATENTS, dtype={"sample_id": str})
    z_names = [c for c in latents.columns if c.startswith("z")]
    ranking = _discover(stats, latents, prop, z_names)
    top = ranking.iloc[0]["var"]
    timings["discovery"] = time.perf_counter() - t0

    # 2. sweeps
    t0 = _step(f"2/6 sweep {top} from {z_range[0]:g} to {z_range[1]:g} step {z_range[2]:g} over {bases} bases", progress)
    z_dir = out / f"sweep_{top}"
    z_spec = {"kind": "dimension", "var": top, "from": z_range[0], "to": z_range[1], "step": z_range[2],
              "bases": bases, "seed": seed}
    run_sweep(z_spec, model, z_dir, **common)
    code_var = "c2" if cfg.n_codes >= 2 else "c1"
    c_dir = out / f"sweep_{code_var}"
    c_spec = {"kind": "code", "var": code_var, "from": c_range[0], "to": c_range[1], "step": c_range[2],
              "bases": bases, "seed": seed}
    _step(f"3/6 sweep {code_var} from {c_range[0]:g} to {c_range[1]:g} step {c_range[2]:g}", progress)
    run_sweep(c_spec, model, c_dir, **common)
    timings["sweeps"] = time.perf_counter() - t0

    # 3. statistics
    t0 = _step("4/6 statistics: mixed-effects models of both sweeps, correlation table", progress)
    all_stats = []
    for folder in (z_dir, c_dir, rand_dir):
        if progress:
            print(f"statistics of {folder.name}/", flush=True)
        all_stats.append(_stats_dict(stats.run_stats(folder, command=command, workers=workers, progress=progress)))
    z_stats, c_stats, r_stats = all_stats
    timings["stats"] = time.perf_counter() - t0

    # 4. figures
    t0 = _step("5/6 figures and listening copies", progress)
    fig_dir = out / "figures"
    figs = {}
    stack_id = _typical_sample(rand_dir, prop)
    figs["stack"] = plots.plot_layer_stack(rand_dir, stack_id, out=fig_dir / f"layer_stack_{stack_id}")
    figs["grid_z"] = plots.plot_sweep_grid(z_dir, base=0, out=fig_dir / f"sweep_grid_{top}")
    figs["grid_c"] = plots.plot_sweep_grid(c_dir, base=0, out=fig_dir / f"sweep_grid_{code_var}")
    if _has_rows(z_stats.get("effects")):
        figs["effects_z"] = plots.plot_effects(z_stats["effects"], out=fig_dir / f"effects_{top}")
    if _has_rows(c_stats.get("effects")):
        figs["effects_c"] = plots.plot_effects(c_stats["effects"], out=fig_dir / f"effects_{code_var}")
    if _has_rows(r_stats.get("correlations")):
        figs["corr"] = plots.plot_correlations(r_stats["correlations"], out=fig_dir / "correlations")
    from ..stats import sort_layers

    stack_layers = [x for x in sort_layers(pd.read_csv(rand_dir / layout.MANIFEST, usecols=["layer"])["layer"].unique())
                    if x != layout.OUTPUT_LAYER]
    listen = listening_copies(rand_dir, stack_id, stack_layers, dest=out / layout.LISTEN_DIR)
    timings["figures"] = time.perf_counter() - t0

    t0 = _step("6/6 explorer pages of the sweeps, report", progress)
    explorers = {var: build_explorer(folder, progress=progress)
                 for var, folder in ((top, z_dir), (code_var, c_dir))}
    timings["explorer"] = time.perf_counter() - t0

    card = {}
    bundled = model.path is not None and model.path.resolve() == (DATA / DEMO_G).resolve()
    if bundled and (DATA / DEMO_CARD).exists():
        card = json.loads((DATA / DEMO_CARD).read_text(encoding="utf-8"))
    # The redo commands name the checkpoint as a user can type it again: 'demo' for the bundled
    # model (its installed path changes with every install), else an absolute path.
    redo_checkpoint = "demo" if bundled else str(Path(model.path).resolve())
    info = {"ganphon": __version__, "seed": seed, "card": card, "checkpoint": str(model.path),
            "redo_checkpoint": redo_checkpoint, "sha256": model.sha256,
            "config": cfg.to_dict(), "meta": model.meta, "command": command or "ganphon demo",
            "timings_s": timings, "top_variable": top, "discovery_kind": ranking.attrs.get("kind"), "code_variable": code_var,
            "z_spec": z_spec, "c_spec": c_spec, "random_spec": rand_spec, "stack_sample": stack_id}
    layout.atomic_write_text(out / layout.DEMO_JSON, json.dumps(info, indent=1, default=str) + "\n")
    md = _report(out, info, ranking, prop, z_stats, c_stats, r_stats, figs, listen, explorers)
    layout.atomic_write_text(out / layout.REPORT_MD, md)
    layout.atomic_write_text(out / layout.REPORT_HTML, markdown_to_html(md, title="ganphon demo report"))
    return out / layout.REPORT_MD


def _has_rows(df) -> bool:
    return df is not None and len(df) > 0


def _stats_dict(result) -> dict:
    """The tables of a StatsResult plus its notes, warnings and first layers."""
    d = dict(result.tables)
    d["notes"] = list(result.notes)
    d["first_layers"] = dict(result.first_layers)
    eff = result.tables.get("effects")
    counts: dict = {}
    if eff is not None and "warnings" in eff:
        for text in eff["warnings"].dropna().astype(str):
            for w in {p.split(": ", 1)[-1].strip() for p in text.split(";") if p.strip()}:
                counts[w] = counts.get(w, 0) + 1
    d["warnings"] = sorted(counts.items(), key=lambda kv: -kv[1])
    return d


FALLBACK_VARIABLE = "z11"  # the paper's [s] variable, swept when nothing can be discovered


def _discover(stats, latents, prop, z_names) -> pd.DataFrame:
    df = latents.merge(prop, on="sample_id")
    has = df["has_fric"].astype(float)
    # Logistic on presence when both outcomes occur; else frication duration.
    kind = "logistic" if 0 < has.mean() < 1 else "linear"
    spread = float(df["fric_duration"].std()) if kind == "linear" else 1.0
    if not spread > 1e-6:
        ranking = pd.DataFrame({"var": [FALLBACK_VARIABLE], "coef": [np.nan], "rank": [1],
                                "method": ["none: frication does not vary across these samples"]})
        kind = "none"
    else:
        ranking = stats.discover(latents[["sample_id", *z_names]], prop, kind=kind)
    ranking.attrs["kind"] = kind
    ranking.attrs["share_with_frication"] = float(has.mean())
    return ranking


# ---------------------------------------------------------------- report

def _first_png(fig) -> str | None:
    if fig is None:
        return None
    if isinstance(fig, (list, tuple)):
        fig = [p for p in fig if str(p).endswith(".png")]
        return str(fig[0]) if fig else None
    if isinstance(fig, dict):
        return str(fig.get("png")) if fig.get("png") else None
    return str(fig)


def _report(out, info, ranking, prop, z_stats, c_stats, r_stats, figs, listen=None, explorers=None) -> str:
    top, code_var = info["top_variable"], info["code_variable"]
    cfg = info["config"]
    meta = info.get("meta") or {}
    card = info.get("card") or {}
    trained = ""
    if card:
        tr, ev = card.get("training", {}), card.get("evaluation", {})
        commands = [c for c in (card.get("reproduce") or [])[1:] if c] or [tr.get("command")]
        how = ", then ".join(f"`{c}`" for c in commands)
        voiced = (f"{100 * ev['share_voiced_vowel']:.0f} % a vowel Praat calls voiced, "
                  if "share_voiced_vowel" in ev else "")
        sibilant = (f"{100 * ev['share_sibilant']:.0f} % begin with an [s], " if "share_sibilant" in ev else "")
        identity = (f"the dominant word type of each code covers at least {100 * ev['code_identity_min']:.0f} % "
                    "of its outputs; " if "code_identity_min" in ev else "")
        trained = (f"It is ganphon's bundled demo model: trained with {how} on the synthetic "
                   f"#TV/#sTV corpus (`{card.get('corpus', {}).get('command')}`) for {tr.get('steps')} steps "
                   f"on {tr.get('device')} ({tr.get('wall_time_s', 0) / 3600:.1f} h). On {ev.get('n')} generated "
                   f"samples: {100 * ev.get('share_word', 0):.0f} % have a word shape (frication and closure/VOT "
                   f"before a vowel, silence around), {voiced}{sibilant}{100 * ev.get('share_s_initial', 0):.0f} % an "
                   f"initial [s] + closure; {identity}Q-network accuracy on the codes {ev.get('q_accuracy')}. "
                   f"{card.get('note', '')}\n")
    elif meta.get("steps"):
        trained = f"Trained for {meta.get('steps')} steps.\n"
    lines = [
        "# ganphon demo report\n",
        f"Model: `{info['checkpoint']}` — {cfg['arch']} with {cfg['n_codes']} codes, d = {cfg['dim']}, "
        f"slice {cfg['slice_len']} at {cfg['sr']} Hz (sha256 `{info['sha256'][:16]}…`).\n",
        trained,
        f"ganphon {info['ganphon']}, seed {info['seed']}. Command: `{info['command']}`.\n",
        "Each layer's channel average after ReLU (Beguš & Zhou 2022) was exported as a 16 kHz WAV and a "
        "native-rate Praat Sound, the outputs were segmented automatically into `sil`, `fric` and `voi` "
        "(tier `auto`), and every layer was measured on the output's intervals — as the paper reused "
        "the output's vowel intervals for the deeper layers.\n",
        "## 1. Which latent variable drives frication?\n",
        f"{len(prop)} random samples; {100 * ranking.attrs.get('share_with_frication', float('nan')):.0f} % "
        "have a `fric` interval. "
        + (f"Frication (presence, or duration when every sample has some) was regressed on all noise "
           f"variables at once ({ranking.attrs.get('kind')} regression, GAP-style) and the variables "
           "ranked by |z|:\n" if ranking.attrs.get("kind") != "none" else
           "Their frication does not vary, so no variable can be tied to it: the paper's z11 is swept instead.\n"),
        md_table(ranking, n=10),
        (f"**{top}** ranks first and is swept below.\n" if ranking.attrs.get("kind") != "none" else ""),
    ]
    for title, st, var in ((f"2. Sweeping {top} from −15 to 5", z_stats, top),
                           (f"3. Sweeping code {code_var} from 0 to 2", c_stats, code_var)):
        lines.append(f"## {title}\n")
        eff = st.get("effects")
        firsts = {k: v for k, v in (st.get("first_layers") or {}).items()}
        if firsts:
            lines.append(f"Where does it start — the first layer (network order) whose 95 % CI of the "
                         f"standardised slope of {var} excludes 0, per outcome:\n")
            lines += [f"- {k}: **{v if v else 'none'}**" for k, v in firsts.items()]
            lines.append("")
        for note in st.get("notes") or []:
            lines.append(f"- note: {note}")
        if st.get("notes"):
            lines.append("")
        lines.append("Standardised slope of each outcome on the swept value, per layer and interval label "
                     "(mixed model, random intercept [and slope] by base latent; 95 % CI from t with "
                     "df = bases − 1):\n")
        if _has_rows(eff):
            eff = eff[eff["n_obs"].fillna(0) >= 10] if "n_obs" in eff else eff
            cols = [c for c in ("outcome", "label", "layer", "beta", "ci_low", "ci_high", "p", "n_obs", "n_groups",
                                "method")
                    if c in eff.columns]
            lines.append(md_table(eff, cols=cols, n=60))
        else:
            lines.append("_(no model could be fitted)_\n")
        lrt = st.get("lrt")
        if _has_rows(lrt):
            lines.append("Likelihood-ratio tests of the value effect (ML fits):\n")
            lines.append(md_table(lrt, n=60))
        warn = st.get("warnings")
        if warn:
            lines.append("statsmodels warnings, kept rather than swallowed (counts over the models; every "
                         "model's own list is in `stats/mixed_models.csv`):\n")
            lines += [f"- {n} × {w}" for w, n in warn[:12]]
            lines.append("")
        for key in ("grid_z" if var == top else "grid_c", "effects_z" if var == top else "effects_c"):
            png = _first_png(figs.get(key))
            if png:
                lines.append(f"![{key}]({rel(Path(png), out)})\n")
    lines.append("## 4. Layers against the output (the paper's correlation table)\n")
    lines.append("Pearson r between each layer's measure and the output's over matched intervals of the random samples:\n")
    lines.append(md_table(r_stats.get("correlations"), n=60))
    lines.append("Every layer was measured on the output's intervals, so `duration` agrees by construction; "
                 "for durations of a layer's own, segment the layers too (`ganphon annotate DIR --layers "
                 "conv3,conv4`) and correlate with `ganphon.stats.correlation_table(..., match=\"order\")`.\n")
    png = _first_png(figs.get("corr"))
    if png:
        lines.append(f"![correlations]({rel(Path(png), out)})\n")
    png = _first_png(figs.get("stack"))
    if png:
        lines.append(f"A random sample (`{info['stack_sample']}`) segmented as a word (frication before a vowel, "
                     "silence around; the one with the most frication), its spectrogram and every layer's average "
                     "on one time axis:\n")
        lines.append(f"![layer stack]({rel(Path(png), out)})\n")
    if listen:
        lines += audio_md(listen, out, measured_folder=out / layout.DEMO_RANDOM_DIR)
    if explorers:
        lines.append("## Explore the sweeps\n")
        lines.append("One page per sweep, offline in any browser: a slider over the swept value (← → keys), the "
                     "base latent (↑ ↓), the chosen sample's layer stack, its acoustic rows and audio players:\n")
        lines += [f"- [{var}: {rel(page, out)}]({rel(page, out)})" for var, page in explorers.items()]
        lines.append("")
    z_spec, c_spec = info["z_spec"], info["c_spec"]
    ckpt, seed = info["redo_checkpoint"], info["seed"]
    zd, cd = layout.sweep_dir(top), layout.sweep_dir(code_var)
    rd = layout.DEMO_RANDOM_DIR
    lines += [
        "## 5. Redo any step\n",
        "Run these in a fresh folder: each line rebuilds one part of this demo with the same seed, so the "
        "same numbers (run in this folder, a sweep only completes what is missing).\n",
        "```bash",
        f"ganphon sweep --checkpoint {ckpt} --n {info['random_spec']['n']} --seed {seed} --out {rd}",
        f"ganphon sweep --checkpoint {ckpt} --var {top} --from {z_spec['from']:g} --to {z_spec['to']:g} "
        f"--step {z_spec['step']:g} --bases {z_spec['bases']} --seed {seed} --out {zd}",
        f"ganphon sweep --checkpoint {ckpt} --var {code_var} --from {c_spec['from']:g} --to {c_spec['to']:g} "
        f"--step {c_spec['step']:g} --bases {c_spec['bases']} --seed {seed} --out {cd}",
        f"ganphon stats {zd}        # {zd}/stats/ (each sweep was annotated and measured into acoustics.parquet)",
        f"ganphon stats {rd}          # {rd}/stats/correlations.csv",
        f"ganphon plot {zd}         # {zd}/figures/",
        f"ganphon explore {zd}      # {zd}/explore.html",
        f"ganphon measure {zd} --engine praat --out {zd}/acoustics_praat.csv   # the same table from Praat",
        "```\n",
        "The same measures with Praat's own script (Praat ▸ Open Praat script…, or from a shell in the same "
        "folder), after writing the layers' 16 kHz WAVs from their Sounds (each layer is stored once, as its "
        "native-rate Sound):\n",
        "```bash",
        f"ganphon export-wavs {zd} --quiet",
        _praat_line(zd),
        "```\n",
        "(the fields after the folder follow the script's form: extension, name pattern, tier, points, "
        "output table, then the analysis settings; `ganphon praat-plugin --install` adds the scripts "
        "to Praat's menus).\n",
        "Files: every folder holds `manifest.csv`, `latents.csv`, `run.json`, one TextGrid per sample "
        "and its acoustic table (`acoustics.parquet`: `ganphon.io.read_acoustics` joins the manifest; "
        "`acoustics.csv` when small); `stats/` holds `mixed_models.csv`, `lrt.csv`, `correlations.csv`, "
        "`summaries.txt`; `listen/` the 16-bit listening copies.\n",
        f"Timings (s): {', '.join(f'{k} {v:.0f}' for k, v in info['timings_s'].items())}.\n",
    ]
    return "\n".join(lines)


def _praat_line(folder: str) -> str:
    """The ``praat --run`` line measuring ``folder`` (relative to where it is run) as the sweep did."""
    from ..praat import shell_command_line

    return shell_command_line("measure_all", folder, f"{folder}/acoustics_praat.tsv", tier="auto")
