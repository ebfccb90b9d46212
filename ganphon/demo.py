"""``ganphon demo``: the whole chain on the bundled trained ciwGAN, with a report.

1. **Discover**: N random samples → automatic annotation → which latent
   variable is most tied to frication (GAP-style logistic regression).
2. **Sweep** that variable from −15 to 5 in steps of 2 over 10 base latents,
   and sweep a code variable from 0 to 2 in steps of 0.25.
3. Export every layer, annotate the outputs, measure every layer on the
   output's intervals (pitch, intensity, formants, spectral moments, duration).
4. Fit the mixed-effects models, compute the layer × output correlation table
   on the random samples, find the first layer where the effect appears.
5. Draw the figures and write ``report.md`` and ``report.html``.
"""

from __future__ import annotations

import html
import json
import re
import shlex
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import layout
from .errors import GanphonError

def _step(msg: str, progress: bool) -> float:
    if progress:
        print(f"\n== {msg}", flush=True)
    return time.perf_counter()


def _typical_sample(folder: Path, prop: pd.DataFrame) -> str:
    """The sample for the layer stack: the word-shaped one (frication before a vowel,
    silence around) with the most frication; without any, the most frication."""
    from .acoustics import read_intervals
    from .evaluate import word_shape

    ranked = prop.sort_values(["fric_duration", "sample_id"], ascending=[False, True])["sample_id"].tolist()
    for sid in ranked:
        _, intervals, _ = read_intervals(folder / layout.textgrid(sid), "auto")
        if word_shape([(start, end, label) for label, start, end in intervals])["word"]:
            return sid
    return ranked[0]


def run_demo(out="ganphon_demo", checkpoint="demo", seed: int = 1, n_random: int = 120, bases: int = 10,
             workers: int = 2, quick: bool = False, overwrite: bool = False, progress: bool = True,
             command: str | None = None) -> Path:
    """Run the demo analysis into ``out`` and return the path of ``report.md``."""
    from . import __version__, plots, stats
    from .models import load_checkpoint
    from .sweep import run_sweep

    from .io import prepare_folder

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
    t0 = _step(f"1/5 {n_random} random samples: export, annotate, measure", progress)
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
    t0 = _step(f"2/5 sweep {top} from {z_range[0]:g} to {z_range[1]:g} step {z_range[2]:g} over {bases} bases", progress)
    z_dir = out / f"sweep_{top}"
    z_spec = {"kind": "dimension", "var": top, "from": z_range[0], "to": z_range[1], "step": z_range[2],
              "bases": bases, "seed": seed}
    run_sweep(z_spec, model, z_dir, **common)
    code_var = "c2" if cfg.n_codes >= 2 else "c1"
    c_dir = out / f"sweep_{code_var}"
    c_spec = {"kind": "code", "var": code_var, "from": c_range[0], "to": c_range[1], "step": c_range[2],
              "bases": bases, "seed": seed}
    _step(f"3/5 sweep {code_var} from {c_range[0]:g} to {c_range[1]:g} step {c_range[2]:g}", progress)
    run_sweep(c_spec, model, c_dir, **common)
    timings["sweeps"] = time.perf_counter() - t0

    # 3. statistics
    t0 = _step("4/5 mixed-effects models, correlation table", progress)
    z_stats = _stats_dict(stats.run_stats(z_dir, command=command, workers=workers))
    c_stats = _stats_dict(stats.run_stats(c_dir, command=command, workers=workers))
    r_stats = _stats_dict(stats.run_stats(rand_dir, command=command, workers=workers))
    timings["stats"] = time.perf_counter() - t0

    # 4. figures
    t0 = _step("5/5 figures and report", progress)
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
    timings["figures"] = time.perf_counter() - t0

    card = {}
    from .models.bundled import DATA, DEMO_CARD, DEMO_G

    if model.path is not None and model.path.resolve() == (DATA / DEMO_G).resolve() and (DATA / DEMO_CARD).exists():
        card = json.loads((DATA / DEMO_CARD).read_text(encoding="utf-8"))
    info = {"ganphon": __version__, "seed": seed, "card": card, "checkpoint": str(model.path), "sha256": model.sha256,
            "config": cfg.to_dict(), "meta": model.meta, "command": command or "ganphon demo",
            "timings_s": timings, "top_variable": top, "discovery_kind": ranking.attrs.get("kind"), "code_variable": code_var,
            "z_spec": z_spec, "c_spec": c_spec, "random_spec": rand_spec}
    layout.atomic_write_text(out / "demo.json", json.dumps(info, indent=1, default=str) + "\n")
    md = _report(out, info, ranking, prop, z_stats, c_stats, r_stats, figs)
    layout.atomic_write_text(out / "report.md", md)
    layout.atomic_write_text(out / "report.html", markdown_to_html(md, title="ganphon demo report"))
    return out / "report.md"


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

def _table(df: pd.DataFrame, cols=None, n=None, digits=3) -> str:
    if df is None or len(df) == 0:
        return "_(none)_\n"
    d = df[cols] if cols else df
    if n:
        d = d.head(n)

    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else (f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.0f}")
        return str(v).replace("|", "/").replace("\n", " ")

    lines = ["| " + " | ".join(map(str, d.columns)) + " |", "|" + "---|" * len(d.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in d.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _rel(path: Path, out: Path) -> str:
    """``path`` relative to the report's folder, so the report's links work wherever it is opened."""
    import os

    return Path(os.path.relpath(Path(path).resolve(), Path(out).resolve())).as_posix()


def _first_png(fig) -> str | None:
    if fig is None:
        return None
    if isinstance(fig, (list, tuple)):
        fig = [p for p in fig if str(p).endswith(".png")]
        return str(fig[0]) if fig else None
    if isinstance(fig, dict):
        return str(fig.get("png")) if fig.get("png") else None
    return str(fig)


def _report(out, info, ranking, prop, z_stats, c_stats, r_stats, figs) -> str:
    top, code_var = info["top_variable"], info["code_variable"]
    cfg = info["config"]
    meta = info.get("meta") or {}
    card = info.get("card") or {}
    trained = ""
    if card:
        tr, ev = card.get("training", {}), card.get("evaluation", {})
        trained = (f"It is ganphon's bundled demo model: trained with `{tr.get('command')}` on the synthetic "
                   f"#TV/#sTV corpus (`{card.get('corpus', {}).get('command')}`) for {tr.get('steps')} steps "
                   f"on {tr.get('device')} ({tr.get('wall_time_s', 0) / 3600:.1f} h). On {ev.get('n')} generated "
                   f"samples: {100 * ev.get('share_word', 0):.0f} % have a word shape (frication and closure/VOT "
                   f"before a vowel, silence around), {100 * ev.get('share_s_initial', 0):.0f} % an initial [s] + "
                   f"closure; Q-network accuracy on the codes {ev.get('q_accuracy')}. {card.get('note', '')}\n")
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
        _table(ranking, n=10),
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
        lines.append("Standardised slope of each outcome on the swept value, per layer (mixed model, "
                     "random intercept [and slope] by base latent):\n")
        if _has_rows(eff):
            eff = eff[eff["n_obs"].fillna(0) >= 10] if "n_obs" in eff else eff
            cols = [c for c in ("outcome", "layer", "beta", "ci_low", "ci_high", "p", "n_obs", "n_groups", "method")
                    if c in eff.columns]
            lines.append(_table(eff, cols=cols, n=60))
        else:
            lines.append("_(no model could be fitted)_\n")
        lrt = st.get("lrt")
        if _has_rows(lrt):
            lines.append("Likelihood-ratio tests of the value effect (ML fits):\n")
            lines.append(_table(lrt, n=60))
        warn = st.get("warnings")
        if warn:
            lines.append("statsmodels warnings, kept rather than swallowed (counts over the models; every "
                         "model's own list is in `stats/mixed_models.csv`):\n")
            lines += [f"- {n} × {w}" for w, n in warn[:12]]
            lines.append("")
        for key in ("grid_z" if var == top else "grid_c", "effects_z" if var == top else "effects_c"):
            png = _first_png(figs.get(key))
            if png:
                lines.append(f"![{key}]({_rel(Path(png), out)})\n")
    lines.append("## 4. Layers against the output (the paper's correlation table)\n")
    lines.append("Pearson r between each layer's measure and the output's over matched intervals of the random samples:\n")
    lines.append(_table(r_stats.get("correlations"), n=60))
    lines.append("Every layer was measured on the output's intervals, so `duration` agrees by construction; "
                 "for durations of a layer's own, segment the layers too (`ganphon annotate DIR --layers "
                 "conv3,conv4`) and correlate with `ganphon.stats.correlation_table(..., match=\"order\")`.\n")
    png = _first_png(figs.get("corr"))
    if png:
        lines.append(f"![correlations]({_rel(Path(png), out)})\n")
    png = _first_png(figs.get("stack"))
    if png:
        lines.append("A random sample segmented as a word (frication before a vowel, silence around; the one "
                     "with the most frication), its spectrogram and every layer's average on one time axis:\n")
        lines.append(f"![layer stack]({_rel(Path(png), out)})\n")
    z_spec, c_spec = info["z_spec"], info["c_spec"]
    lines += [
        "## 5. Redo any step\n",
        "```bash",
        f"ganphon sweep --checkpoint {info['checkpoint']} --n {info['random_spec']['n']} --seed {info['seed']} --out random",
        f"ganphon sweep --checkpoint {info['checkpoint']} --var {top} --from {z_spec['from']:g} --to {z_spec['to']:g} "
        f"--step {z_spec['step']:g} --bases {z_spec['bases']} --seed {info['seed']} --out sweep_{top}",
        f"ganphon sweep --checkpoint {info['checkpoint']} --var {code_var} --from {c_spec['from']:g} --to {c_spec['to']:g} "
        f"--step {c_spec['step']:g} --bases {c_spec['bases']} --seed {info['seed']} --out sweep_{code_var}",
        f"ganphon annotate sweep_{top}            # the auto tier",
        f"ganphon measure sweep_{top} --workers 2 # sweep_{top}/acoustics.csv",
        f"ganphon stats sweep_{top}               # sweep_{top}/stats/",
        f"ganphon plot sweep_{top}                # sweep_{top}/figures/",
        "```\n",
        "The same measures in Praat itself (Praat ▸ Open Praat script…, or from a shell):\n",
        "```bash",
        _praat_line(out / f"sweep_{top}", settings=info.get("settings", "default")),
        "```\n",
        "(the fields after the folder follow the script's form: extension, name pattern, tier, points, "
        "output table, then the analysis settings; `ganphon praat-plugin --install` adds the scripts "
        "to Praat's menus).\n",
        "Files: every folder holds `manifest.csv`, `latents.csv`, `run.json`, one TextGrid per sample "
        "and `acoustics.csv`; `stats/` holds `mixed_models.csv`, `lrt.csv`, `correlations.csv`, "
        "`summaries.txt`.\n",
        f"Timings (s): {', '.join(f'{k} {v:.0f}' for k, v in info['timings_s'].items())}.\n",
    ]
    return "\n".join(lines)


def _praat_line(folder: Path, settings="default") -> str:
    from .praat import command_line

    return shlex.join(command_line("measure_all", folder, Path(folder) / "acoustics_praat.tsv", tier="auto"))


def markdown_to_html(md: str, title: str = "report") -> str:
    """A small Markdown → HTML conversion for the report (headings, tables, images, code)."""
    out, in_code, table = [], False, []

    def inline(s: str) -> str:
        s = html.escape(s)
        s = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", r'<img alt="\1" src="\2" style="max-width:100%">', s)
        s = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        s = re.sub(r"(?<![\w*])_([^_]+)_(?![\w*])", r"<i>\1</i>", s)
        return s

    def flush_table():
        if not table:
            return
        rows = [r.strip().strip("|").split("|") for r in table if not re.match(r"^\|(---\|)+$", r.strip())]
        out.append("<table>")
        for i, r in enumerate(rows):
            tag = "th" if i == 0 else "td"
            out.append("<tr>" + "".join(f"<{tag}>{inline(c.strip())}</{tag}>" for c in r) + "</tr>")
        out.append("</table>")
        table.clear()

    for line in md.splitlines():
        if line.startswith("```"):
            flush_table()
            out.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
            continue
        if in_code:
            out.append(html.escape(line))
            continue
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if m := re.match(r"^(#{1,6}) (.*)$", line):
            n = len(m.group(1))
            out.append(f"<h{n}>{inline(m.group(2))}</h{n}>")
        elif line.startswith("- "):
            out.append(f"<li>{inline(line[2:])}</li>")
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
    flush_table()
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:2px 6px}"
             "pre{background:#f4f4f4;padding:1em;overflow-x:auto}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")
