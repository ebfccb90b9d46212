"""``ganphon demo``: the whole chain on the bundled trained ciwGAN, with a report.

1. **Discover**: N random samples → automatic annotation → which latent
   variable is most tied to frication (GAP-style: one logistic regression per
   variable, likelihood-ratio p, Holm-adjusted).
2. **Sweep** that variable from −15 to 5 in steps of 2 over 10 base latents,
   and sweep a code variable from 0 to 2 in steps of 0.25.
3. Export every layer, annotate the outputs, measure every layer on the
   output's intervals (pitch, intensity, formants, spectral moments, duration).
4. Fit the mixed-effects models, compute the layer × output correlation table
   on the random samples, find the first layer where the effect appears.
5. Draw the figures, write listening copies, and write ``report.md`` and
   ``report.html`` (with audio players): first a figure and one plain paragraph
   per step in raw units (:func:`sweep_conclusion`; the check sweep of the
   discovered variable says whether it moves frication, also when it does
   not), then the figures, then the tables.
6. Write the explorer page of each sweep (``sweep_<var>/explore.html``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io, layout
from ..errors import GanphonError
from .size import drop_sample_files
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


@layout.folder_locks()  # another process writing the same folder is refused
def run_demo(out="ganphon_demo", checkpoint="demo", seed: int = 1, n_random: int = 120, bases: int = 10,
             workers=None, quick: bool = False, overwrite: bool = False, progress: bool = True,
             command: str | None = None, scheduler=None) -> Path:
    """Run the demo analysis into ``out`` and return the path of ``report.md``.

    ``out`` must be missing, empty, or a demo folder of the same request
    (resumed); another demo is replaced only with ``overwrite``, and a folder
    holding anything else is refused.

    The steps: discovery on random samples (:func:`_discovery_step`), the two
    sweeps (:func:`_sweeps_step`), their statistics, the figures and
    listening copies (:func:`_figures_step`), the explorer pages and atlas,
    then the record ``demo.json`` (:func:`ganphon.io.run_record`) and the report.
    """
    from .. import stats
    from ..io import prepare_folder
    from ..models import load_checkpoint
    from .explore import build_explorer

    from ..sweep import check_size

    out = Path(out)
    model = load_checkpoint(checkpoint, qnetwork=False)
    # the counts named by the options that set them, before any folder is made (the two sweeps: 11 + 9 values a base)
    check_size(model, int(n_random), out, yes=True, option="--n-random")
    check_size(model, 20 * int(bases), out, yes=True, option="--bases")
    request = {"kind": "demo", "checkpoint_sha256": model.sha256, "seed": seed, "n_random": n_random,
               "bases": bases, "quick": quick}
    prepare_folder(out, request, overwrite=overwrite, record={"command": command})
    cfg = model.config
    if cfg.n_codes == 0:
        raise GanphonError(f"{model.path}: the demo needs a ciwgan or fiwgan model (it sweeps a code)")
    if quick:  # small, but each sweep still has enough rows (15 outputs) for the models and conclusions
        n_random, bases = min(n_random, 24), min(bases, 3)
    timings = {}
    common = dict(workers=workers, progress=progress, overwrite=overwrite, scheduler=scheduler)

    t0 = _step(f"1/6 {n_random} random samples: export, annotate, measure", progress)
    found = _discovery_step(model, out, n_random, seed, common)
    timings["discovery"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sweeps = _sweeps_step(model, out, found.top, bases, seed, quick, common, progress)
    timings["sweeps"] = time.perf_counter() - t0

    t0 = _step("4/6 statistics: mixed-effects models of both sweeps, correlation table", progress)
    all_stats = []
    for folder in (sweeps.z_dir, sweeps.c_dir, found.folder):
        if progress:
            print(f"statistics of {folder.name}/", flush=True)
        all_stats.append(_stats_dict(stats.run_stats(folder, command=command, workers=workers, progress=progress,
                                                      scheduler=scheduler)))
    z_stats, c_stats, r_stats = all_stats
    timings["stats"] = time.perf_counter() - t0

    t0 = _step("5/6 figures and listening copies", progress)
    figs, conclusions, stack_id, listen = _figures_step(out, found, sweeps, z_stats, c_stats, r_stats)
    drop_sample_files(found.folder, keep=[stack_id])  # measured and summarised; the stack sample is shown
    timings["figures"] = time.perf_counter() - t0

    t0 = _step("6/6 explorer pages of the sweeps, report", progress)
    explorers = {var: build_explorer(folder, progress=progress)
                 for var, folder in ((found.top, sweeps.z_dir), (sweeps.code_var, sweeps.c_dir))}
    timings["explorer"] = time.perf_counter() - t0
    if not quick:  # a short atlas and one channel intervention (ganphon.report.atlas_section)
        from .atlas_section import demo_atlas_section

        t0, (atlas_md, figs["atlas"]) = time.perf_counter(), demo_atlas_section(
            out, model, seed, workers=workers, overwrite=overwrite, progress=progress, scheduler=scheduler)
        timings["atlas"] = time.perf_counter() - t0

    info = _demo_record(out, model, request, seed, command, timings, found, sweeps, stack_id, conclusions)
    md = _report(out, info, found.ranking, found.prop, z_stats, c_stats, r_stats, figs, listen, explorers,
                 {var: text for var, (text, _) in conclusions.items()})
    md += "\n" + atlas_md if not quick else ""
    layout.atomic_write_text(out / layout.REPORT_MD, md)
    layout.atomic_write_text(out / layout.REPORT_HTML, markdown_to_html(md, title="ganphon demo report"))
    return out / layout.REPORT_MD


@dataclass
class _Discovery:
    """The random samples' folder, their frication, the ranked latent variables and the top one."""

    folder: Path
    spec: dict
    prop: pd.DataFrame
    ranking: pd.DataFrame
    top: str


@dataclass
class _Sweeps:
    """The two sweeps of the demo: the discovered variable's and a code's (folders and specs)."""

    z_dir: Path
    z_spec: dict
    code_var: str
    c_dir: Path
    c_spec: dict


def _discovery_step(model, out: Path, n_random: int, seed: int, common: dict) -> _Discovery:
    """Random samples (exported, annotated, measured) and the latent variable most tied to their frication."""
    from .. import stats
    from ..sweep import run_sweep

    rand_dir = out / layout.DEMO_RANDOM_DIR
    rand_spec = {"kind": "random", "n": n_random, "seed": seed}
    run_sweep(rand_spec, model, rand_dir, **common)
    prop = stats.frication_property(rand_dir)
    latents = io.read_latents(rand_dir)
    z_names = [c for c in latents.columns if c.startswith("z")]
    ranking = _discover(stats, latents, prop, z_names)
    return _Discovery(rand_dir, rand_spec, prop, ranking, ranking.iloc[0]["var"])


def _sweeps_step(model, out: Path, top: str, bases: int, seed: int, quick: bool, common: dict,
                 progress: bool) -> _Sweeps:
    """Sweep the discovered variable from −15 to 5 and a code from 0 to 2 (coarser with ``quick``)."""
    from ..sweep import run_sweep

    z_range = (-15.0, 5.0, 2.0) if not quick else (-15.0, 5.0, 5.0)
    c_range = (0.0, 2.0, 0.25) if not quick else (0.0, 2.0, 0.5)
    _step(f"2/6 sweep {top} from {z_range[0]:g} to {z_range[1]:g} step {z_range[2]:g} over {bases} bases", progress)
    z_dir = out / f"sweep_{top}"
    z_spec = {"kind": "dimension", "var": top, "from": z_range[0], "to": z_range[1], "step": z_range[2],
              "bases": bases, "seed": seed}
    run_sweep(z_spec, model, z_dir, **common)
    code_var = "c2" if model.config.n_codes >= 2 else "c1"
    c_dir = out / f"sweep_{code_var}"
    c_spec = {"kind": "code", "var": code_var, "from": c_range[0], "to": c_range[1], "step": c_range[2],
              "bases": bases, "seed": seed}
    _step(f"3/6 sweep {code_var} from {c_range[0]:g} to {c_range[1]:g} step {c_range[2]:g}", progress)
    run_sweep(c_spec, model, c_dir, **common)
    return _Sweeps(z_dir, z_spec, code_var, c_dir, c_spec)


def _figures_step(out: Path, found: _Discovery, sweeps: _Sweeps, z_stats: dict, c_stats: dict, r_stats: dict):
    """The figures, each sweep's conclusion, the layer-stack sample and its listening copies:
    ``(figs, conclusions, stack_id, listen)``."""
    from .. import plots
    from ..stats import sort_layers

    top, code_var, rand_dir = found.top, sweeps.code_var, found.folder
    fig_dir = out / layout.FIGURES_DIR
    figs = {}
    stack_id = _typical_sample(rand_dir, found.prop)
    figs["stack"] = plots.plot_layer_stack(rand_dir, stack_id, out=fig_dir / f"layer_stack_{stack_id}")
    figs["grid_z"] = plots.plot_sweep_grid(sweeps.z_dir, base=0, out=fig_dir / f"sweep_grid_{top}")
    figs["grid_c"] = plots.plot_sweep_grid(sweeps.c_dir, base=0, out=fig_dir / f"sweep_grid_{code_var}")
    if _has_rows(z_stats.get("effects")):
        figs["effects_z"] = plots.plot_effects(z_stats["effects"], out=fig_dir / f"effects_{top}")
    if _has_rows(c_stats.get("effects")):
        figs["effects_c"] = plots.plot_effects(c_stats["effects"], out=fig_dir / f"effects_{code_var}")
    if _has_rows(r_stats.get("correlations")):
        figs["corr"] = plots.plot_correlations(r_stats["correlations"], out=fig_dir / "correlations")
    conclusions = {
        top: sweep_conclusion(top, sweeps.z_spec, z_stats, z_stats.get("first_layers"), check=True,
                              presence=frication_by_value(sweeps.z_dir)),
        code_var: sweep_conclusion(code_var, sweeps.c_spec, c_stats, c_stats.get("first_layers")),
    }
    panels = [p for p in (_slope_panel(sweeps.z_dir, top, z_stats, check=True),
                          _slope_panel(sweeps.c_dir, code_var, c_stats)) if p is not None]
    if panels:
        figs["slopes"] = plots.plot_sweep_slopes(panels, out=fig_dir / "sweep_slopes")
    stack_layers = [x for x in sort_layers(io.read_manifest(rand_dir)["layer"].unique()) if x != layout.OUTPUT_LAYER]
    listen = listening_copies(rand_dir, stack_id, stack_layers, dest=out / layout.LISTEN_DIR)
    return figs, conclusions, stack_id, listen


def _demo_record(out: Path, model, request: dict, seed: int, command, timings: dict, found: _Discovery,
                 sweeps: _Sweeps, stack_id: str, conclusions: dict) -> dict:
    """Write ``demo.json`` (:func:`ganphon.io.run_record`, kind ``demo``) and return it: the model, its card,
    the specs of every part, the discovered variable and the conclusions."""
    from ..models.bundled import DATA, DEMO_CARD, DEMO_G

    card = {}
    bundled = model.path is not None and model.path.resolve() == (DATA / DEMO_G).resolve()
    if bundled and (DATA / DEMO_CARD).exists():
        card = io.read_json(DATA / DEMO_CARD, "model card")
    # The redo commands name the checkpoint as a user can type it again: 'demo' for the bundled
    # model (its installed path changes with every install), else an absolute path.
    redo_checkpoint = "demo" if bundled else str(Path(model.path).resolve())
    info = io.run_record(
        "demo", command=command or "ganphon demo", request=request, seed=seed, modules=("torch", "parselmouth"),
        timings=timings, inputs={"checkpoint": model.sha256}, card=card, checkpoint=str(model.path),
        redo_checkpoint=redo_checkpoint, sha256=model.sha256, config=model.config.to_dict(), meta=model.meta,
        top_variable=found.top, discovery_kind=found.ranking.attrs.get("kind"), code_variable=sweeps.code_var,
        z_spec=sweeps.z_spec, c_spec=sweeps.c_spec, random_spec=found.spec, stack_sample=stack_id,
        conclusions={var: facts for var, (_, facts) in conclusions.items()})
    io.write_run_record(out / layout.DEMO_JSON, info)
    return info


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
            for w in dict.fromkeys(p.split(": ", 1)[-1].strip() for p in text.split(";") if p.strip()):
                counts[w] = counts.get(w, 0) + 1
    d["warnings"] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))  # ties in a fixed order
    return d


FALLBACK_VARIABLE = "z11"  # the paper's [s] variable, swept when nothing can be discovered


def _discover(stats, latents, prop, z_names) -> pd.DataFrame:
    df = latents.merge(prop, on="sample_id")
    has = df["has_fric"].astype(float)
    # Logistic on presence when both outcomes occur; else frication duration.
    kind = "logistic" if 0 < has.mean() < 1 else "linear"
    spread = float(df["fric_duration"].std()) if kind == "linear" else 1.0
    if not spread > 1e-6:
        ranking = pd.DataFrame({"var": [FALLBACK_VARIABLE], "rank": [1],
                                "method": ["none: frication does not vary across these samples"]})
        kind = "none"
    else:
        ranking = stats.discover(latents[["sample_id", *z_names]], prop, kind=kind, method="each")
    ranking.attrs["kind"] = kind
    ranking.attrs["share_with_frication"] = float(has.mean())
    return ranking


# ---------------------------------------------------------------- conclusions in raw units

#: Plain names of the modelled outcomes (measure, interval label).
OUTCOME_NAMES = {("duration", "fric"): "frication duration", ("duration", "voi"): "vowel duration",
                 ("cog", "fric"): "frication COG", ("max_intensity", "fric"): "frication peak intensity",
                 ("sd", "fric"): "frication spectral SD", ("skewness", "fric"): "frication skewness",
                 ("kurtosis", "fric"): "frication kurtosis", ("intensity", "voi"): "vowel intensity",
                 ("f0", "voi"): "vowel F0", ("f1", "voi"): "vowel F1", ("f2", "voi"): "vowel F2"}
#: Unit of each measure as the conclusions write it, and the factor from the table's unit (s → ms).
UNITS = {"duration": ("ms", 1000.0), "f0": ("Hz", 1.0), "f1": ("Hz", 1.0), "f2": ("Hz", 1.0),
         "cog": ("Hz", 1.0), "sd": ("Hz", 1.0), "intensity": ("dB", 1.0), "max_intensity": ("dB", 1.0),
         "skewness": ("", 1.0), "kurtosis": ("", 1.0)}
#: Outcomes that say whether a variable drives frication (the check sweep's verdict).
FRICATION_OUTCOMES = (("duration", "fric"), ("cog", "fric"))


def _num(v: float, sign: bool = False) -> str:
    """Three significant digits, a real minus sign."""
    if not np.isfinite(v):
        return "n/a"
    text = f"{v:+.3g}" if sign else f"{v:.3g}"
    if "e" in text:  # 1234 → 1234, not 1.23e+03; tiny values keep the exponent
        text = (f"{v:+.0f}" if sign else f"{v:.0f}") if abs(v) >= 1 else (f"{v:+.2e}" if sign else f"{v:.2e}")
    return text.replace("-", "−")


def _p(p: float) -> str:
    if not np.isfinite(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def raw_slopes(stats_tables: dict, layer: str = layout.OUTPUT_LAYER) -> pd.DataFrame:
    """The value slope of each outcome in ``layer``, in the units the conclusions write (ms, Hz, dB).

    From the sweep's ``mixed_models`` table (the fits the statistics already made, estimates per
    raw unit of the swept value, 95 % CI from t with the fit's df): columns outcome, label, name,
    unit, slope, ci_low, ci_high, p, n_obs, n_groups, method; one row per outcome with a fit.
    """
    cols = ["outcome", "label", "name", "unit", "slope", "ci_low", "ci_high", "p", "n_obs", "n_groups", "method"]
    mm = stats_tables.get("mixed_models")
    if mm is None or len(mm) == 0:
        return pd.DataFrame(columns=cols)
    rows = mm[(mm["term"] == "value") & (mm["layer"] == layer) & mm["estimate"].notna()]
    out = []
    for r in rows.itertuples(index=False):
        label = "" if pd.isna(r.label) else str(r.label)
        unit, factor = UNITS.get(r.outcome, ("", 1.0))
        out.append({"outcome": r.outcome, "label": label,
                    "name": OUTCOME_NAMES.get((r.outcome, label), f"{r.outcome} ({label})" if label else r.outcome),
                    "unit": unit, "slope": r.estimate * factor, "ci_low": r.ci_low * factor,
                    "ci_high": r.ci_high * factor, "p": r.p, "n_obs": r.n_obs, "n_groups": r.n_groups,
                    "method": r.method})
    return pd.DataFrame(out, columns=cols)


def _effect_text(row, var: str, first: str | None) -> str:
    unit = f" {row.unit}" if row.unit else ""
    where = f"first in {first}" if first else "in no layer"
    per = f"per unit of {var}" if var else "per unit"
    return (f"{row.name} {_num(row.slope, sign=True)}{unit} {per} (95 % CI {_num(row.ci_low)} to "
            f"{_num(row.ci_high)}, {_p(row.p)}; {where})")


def _excludes_zero(row) -> bool:
    return bool(np.isfinite(row.ci_low) and np.isfinite(row.ci_high) and (row.ci_low > 0 or row.ci_high < 0))


def frication_by_value(folder: Path) -> pd.DataFrame:
    """Share of a sweep's outputs with a ``fric`` interval, per swept value (columns value, n, share).

    ``attrs["p"]``: the likelihood-ratio test of the swept value in a logistic regression of
    presence on value with the base latent as a factor (``has_fric ~ value + C(base)`` against
    ``has_fric ~ C(base)``; NaN when presence does not vary), ``attrs["frame"]`` the rows.
    """
    import warnings

    import statsmodels.formula.api as smf

    from .. import stats
    from ..stats.distributions import chi2_sf

    prop = stats.frication_property(folder)
    man = io.read_manifest(folder, required=("sample_id", "layer", "value", "base"))
    man = man[man["layer"] == layout.OUTPUT_LAYER][["sample_id", "value", "base"]]
    joined = man.merge(prop.assign(sample_id=prop["sample_id"].astype(str)), on="sample_id")
    table = joined.groupby("value")["has_fric"].agg(n="size", share="mean").reset_index()
    p = float("nan")
    if joined["has_fric"].nunique() == 2:
        import statsmodels.api as sm

        with warnings.catch_warnings():  # separation: the deviance still tends to its limit
            warnings.simplefilter("ignore")
            rhs = " + C(base)" if joined["base"].nunique() > 1 else ""
            full = smf.glm(f"has_fric ~ value{rhs}", joined, family=sm.families.Binomial()).fit()
            null = smf.glm(f"has_fric ~ 1{rhs}", joined, family=sm.families.Binomial()).fit()
        p = float(chi2_sf(max(0.0, 2.0 * (full.llf - null.llf)), 1))
    table.attrs.update(p=p, frame=joined)
    return table


def sweep_conclusion(var: str, spec: dict, stats_tables: dict, first_layers: dict, check: bool = False,
                     presence: pd.DataFrame | None = None) -> tuple:
    """One plain-language paragraph on a sweep, in raw units, and the numbers behind it.

    Every outcome modelled in the output is named with its slope per unit of ``var`` (ms, Hz,
    dB), 95 % CI and p, and the first layer (network order) whose interval excludes 0 — or "in no
    layer".  With ``check`` (the sweep of the discovered variable) the paragraph opens with its
    verdict on frication (duration and COG of the ``fric`` intervals, and the share of outputs with
    frication at both ends of the sweep), said plainly when it fails.

    Returns
    -------
    (str, dict)
        The Markdown paragraph and ``{"verdict", "effects": [rows]}``.
    """
    slopes = raw_slopes(stats_tables)
    head = (f"**{var} from {_num(spec['from'])} to {_num(spec['to'])}** ({spec['bases']} base latents, "
            f"step {_num(spec['step'])}):")
    if slopes.empty:
        return f"{head} no model could be fitted in the output, so this sweep shows nothing.\n", {
            "verdict": "no model", "effects": []}
    firsts = {k: v for k, v in (first_layers or {}).items()}
    key = lambda r: firsts.get(f"{r.outcome}/{r.label}" if r.label else r.outcome)
    info = {"effects": slopes.to_dict("records")}
    parts = []
    if check:
        fric = [r for r in slopes.itertuples(index=False) if (r.outcome, r.label) in FRICATION_OUTCOMES]
        tests = [(r.name.replace("frication ", ""), r.p) for r in fric]
        said = []
        if presence is not None and len(presence) >= 2:
            lo, hi = presence.iloc[0], presence.iloc[-1]
            pp = presence.attrs.get("p", float("nan"))
            tests.insert(0, ("presence", pp))
            info["presence"] = {"p": pp, "share": {float(v): float(sh) for v, sh in zip(presence["value"],
                                                                                      presence["share"])}}
            said.append(f"outputs with frication {100 * lo['share']:.0f} % at {_num(lo['value'])}, "
                        f"{100 * hi['share']:.0f} % at {_num(hi['value'])}, " +
                        (f"{_p(pp)}" if pp < 0.05 else f"no effect, {_p(pp)}"))
        said += [f"{name} {_p(p)}" if p < 0.05 else f"{name}: no effect, {_p(p)}" for name, p in tests
                 if name != "presence"]
        best = min((p for _, p in tests if np.isfinite(p)), default=float("nan"))
        verdict = ("moves frication in its own sweep" if best < 0.01 else
                   "moves frication only weakly in its own sweep" if best < 0.05 else
                   "does not move frication in its own sweep")
        info["verdict"] = verdict
        parts.append(f"{var} {verdict}" + (f" ({'; '.join(said)})" if said else " (no frication model could be fitted)")
                     + ".")
        ordered = sorted(slopes.itertuples(index=False),
                         key=lambda r: ((r.outcome, r.label) not in FRICATION_OUTCOMES, r.label != "fric"))
    else:
        info["verdict"] = None
        ordered = list(slopes.itertuples(index=False))
    moved = [r for r in ordered if _excludes_zero(r)]
    still = [r for r in ordered if not _excludes_zero(r)]
    if moved:
        parts.append("In the output: " + "; ".join(_effect_text(r, var if i == 0 else None, key(r))
                                                  for i, r in enumerate(moved)) + ".")
    if still:
        parts.append("No effect in the output (95 % CI includes 0) on " + ", ".join(
            r.name + (f" (though {key(r)}'s interval excludes 0)" if key(r) else "") for r in still) + ".")
    return f"{head} " + " ".join(parts) + "\n", info


def _slope_panel(folder: Path, var: str, stats_tables: dict, check: bool = False) -> dict | None:
    """The panel of the sweep's key outcome in the output: frication duration for the check sweep
    (else the frication outcome, else any outcome, with the smallest p), from the model's own frame."""
    from ..stats.lme4 import FRAMES_DIR, frame_name

    slopes = raw_slopes(stats_tables)
    if slopes.empty:
        return None
    if check:
        fric = slopes[[(o, lab) in FRICATION_OUTCOMES for o, lab in zip(slopes["outcome"], slopes["label"])]]
        if len(fric):
            slopes = fric
    row = slopes.sort_values(["p"], kind="stable").iloc[0]
    if check and (slopes["outcome"] == "duration").any():
        row = slopes[slopes["outcome"] == "duration"].iloc[0]
    frame_path = folder / layout.STATS_DIR / FRAMES_DIR / frame_name(row["outcome"], layout.OUTPUT_LAYER, row["label"])
    if not frame_path.is_file():
        return None
    frame = io.read_table(frame_path, "model frame")
    mm = stats_tables["mixed_models"]
    fit = mm[(mm["outcome"] == row["outcome"]) & (mm["label"].fillna("") == row["label"])
             & (mm["layer"] == layout.OUTPUT_LAYER)].set_index("term")["estimate"]
    factor = UNITS.get(row["outcome"], ("", 1.0))[1]
    unit = f" ({row['unit']})" if row["unit"] else ""
    return {"x": frame["value"], "y": frame[row["outcome"]] * factor, "base": frame["base"],
            "intercept": float(fit.get("Intercept", np.nan)) * factor, "slope": float(row["slope"]),
            "title": f"{var} sweep: {row['name']} in the output", "xlabel": var,
            "ylabel": f"{row['name']}{unit}",
            "fit_label": f"mixed model: {_num(row['slope'], sign=True)}{' ' + row['unit'] if row['unit'] else ''} per unit"}


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


def _discovery_text(ranking, n_samples: int) -> str:
    """The discovery paragraph: method, the first variable and whether it survives Holm's adjustment."""
    kind = ranking.attrs.get("kind")
    share = ranking.attrs.get("share_with_frication", float("nan"))
    if kind == "none":
        return (f"**Discovery.** {n_samples} random outputs; their frication does not vary, so no variable can be "
                f"tied to it: the paper's {FALLBACK_VARIABLE} is swept instead.\n")
    top = ranking.iloc[0]
    m = len(ranking)
    what = ("frication presence (logistic, likelihood-ratio p)" if kind == "logistic" else
            "total frication duration (every output has some; OLS)")
    coef = ("no finite coefficient: it separates the outputs" if not np.isfinite(top["coef"]) else
            f"{_num(top['coef'], sign=True)} {'log-odds' if kind == 'logistic' else 's'} per SD")
    verdict = (f"and survives Holm's adjustment for the {m} tests (Holm p = {top['p_holm']:.2g}): it is tied to "
               "frication beyond chance." if top["p_holm"] < 0.05 else
               f"but does not survive Holm's adjustment for the {m} tests (Holm p = {top['p_holm']:.2g}), so no "
               "variable is reliably tied to frication; it is swept anyway, as a check.")
    return (f"**Discovery** ({n_samples} random outputs, {100 * share:.0f} % with frication; one regression of "
            f"{what} per noise variable, ranked by p): **{top['var']}** ranks first ({coef}, {_p(top['p'])}) "
            f"{verdict}\n")


def _report(out, info, ranking, prop, z_stats, c_stats, r_stats, figs, listen=None, explorers=None,
            conclusions=None) -> str:
    """The demo's report (Markdown): what it found, the figures, the model and method, then one section
    per step (discovery, each sweep, the correlation table) and the commands redoing each step."""
    top, code_var = info["top_variable"], info["code_variable"]
    lines = _summary_lines(out, info, ranking, prop, figs, listen, explorers, conclusions or {})
    lines += _discovery_lines(ranking, prop, top)
    for title, st, var in ((f"2. Sweeping {top} from −15 to 5", z_stats, top),
                           (f"3. Sweeping code {code_var} from 0 to 2", c_stats, code_var)):
        lines += _sweep_lines(title, st, var)
    lines += _correlation_lines(r_stats)
    lines += _redo_lines(info, out)
    return "\n".join(lines)


def _trained_text(card: dict, meta: dict) -> str:
    """How the model was trained and how its samples score, from its card (or its checkpoint's steps)."""
    if card:
        tr, ev = card.get("training", {}), card.get("evaluation", {})
        commands = [c for c in (card.get("reproduce") or [])[1:] if c] or [tr.get("command")]
        how = ", then ".join(f"`{c}`" for c in commands)
        voiced = (f"{100 * ev['share_voiced_vowel']:.0f} % a vowel Praat calls voiced, "
                  if "share_voiced_vowel" in ev else "")
        sibilant = (f"{100 * ev['share_sibilant']:.0f} % begin with an [s], " if "share_sibilant" in ev else "")
        identity = (f"the dominant word type of each code covers at least {100 * ev['code_identity_min']:.0f} % "
                    "of its outputs; " if "code_identity_min" in ev else "")
        return (f"It is ganphon's bundled demo model: trained with {how} on the synthetic "
                f"#TV/#sTV corpus (`{card.get('corpus', {}).get('command')}`) for {tr.get('steps')} steps "
                f"on {tr.get('device')} ({tr.get('wall_time_s', 0) / 3600:.1f} h). On {ev.get('n')} generated "
                f"samples: {100 * ev.get('share_word', 0):.0f} % have a word shape (frication and closure/VOT "
                f"before a vowel, silence around), {voiced}{sibilant}{100 * ev.get('share_s_initial', 0):.0f} % an "
                f"initial [s] + closure; {identity}Q-network accuracy on the codes {ev.get('q_accuracy')}. "
                f"{card.get('note', '')}\n")
    if meta.get("steps"):
        return f"Trained for {meta.get('steps')} steps.\n"
    return ""


def _summary_lines(out, info, ranking, prop, figs, listen, explorers, conclusions) -> list:
    """The report's head: what the demo found, the figures, the explorer pages, the model and the method."""
    top, code_var = info["top_variable"], info["code_variable"]
    cfg = info["config"]
    meta = info.get("meta") or {}
    card = info.get("card") or {}
    trained = _trained_text(card, meta)
    zd = layout.sweep_dir(top)
    steps = meta.get("steps") or card.get("training", {}).get("steps")
    lines = ["# ganphon demo report\n"]
    png = _first_png(figs.get("slopes"))
    if png:
        lines.append(f"![each sweep's key outcome in the output against the swept value]({rel(Path(png), out)})\n")
    lines += [
        f"## What the demo found ({cfg['arch']}, {cfg['n_codes']} codes, d = {cfg['dim']}"
        + (f", {steps} steps" if steps else "") + f"; seed {info['seed']})\n",
        _discovery_text(ranking, len(prop)),
        conclusions.get(top, ""),
        conclusions.get(code_var, ""),
        f"Slopes are per unit of the swept variable, in the output, from the mixed models the statistics fitted "
        f"(`{zd}/stats/mixed_models.csv`, term `value`: random intercept and slope by base latent, 95 % CI from t "
        f"with Satterthwaite df, as lmerTest computes them); \"first in\" names the first layer, in network order, whose interval excludes 0 "
        f"(duration is modelled in the output only: every layer was measured on its intervals).\n",
        "## Figures\n",
    ]
    for key, caption in (("grid_z", f"The {top} sweep, base latent 0: the output and every layer's average at "
                                    "each value."),
                         ("effects_z", f"Standardised slope of each outcome on {top}, per layer (95 % CI; the first "
                                       "layer whose interval excludes 0 circled)."),
                         ("grid_c", f"The {code_var} sweep, base latent 0."),
                         ("effects_c", f"Standardised slope of each outcome on {code_var}, per layer."),
                         ("corr", "Pearson r of each layer's measure with the output's, over matched intervals of "
                                  "the random samples.")):
        png = _first_png(figs.get(key))
        if png:
            lines.append(f"{caption}\n")
            lines.append(f"![{key}]({rel(Path(png), out)})\n")
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
    lines += [
        "## The model and the method\n",
        f"Model: `{info['checkpoint']}` — {cfg['arch']} with {cfg['n_codes']} codes, d = {cfg['dim']}, "
        f"slice {cfg['slice_len']} at {cfg['sr']} Hz (sha256 `{info['sha256'][:16]}…`).\n",
        trained,
        f"ganphon {info['versions']['ganphon']}, seed {info['seed']}. Command: `{info['command']}`.\n",
        "Each layer's channel average after ReLU (Beguš & Zhou 2022) was exported as a native-rate Praat "
        f"Sound and measured upsampled to {cfg['sr']:g} Hz, as its WAV holds it (linear interpolation); the "
        "outputs were segmented automatically into `sil`, `fric` and `voi` (tier `auto`), and every layer "
        "was measured on the output's intervals — as the paper reused the output's vowel intervals for the "
        "deeper layers.\n",
        "## 1. Which latent variable drives frication?\n",
    ]
    return lines


def _discovery_lines(ranking, prop, top) -> list:
    """Section 1: the ranking of the latent variables by how they predict frication."""
    lines = []
    if ranking.attrs.get("kind") != "none":
        kind = ranking.attrs.get("kind")
        lines.append(
            f"{len(prop)} random samples; {100 * ranking.attrs.get('share_with_frication', float('nan')):.0f} % "
            "have a `fric` interval. "
            + ("Frication presence was regressed on each noise variable alone (logistic regression, one per "
               "variable; the variables are drawn independently, so each test is valid on its own): `coef` is the "
               "change in log-odds per SD of the variable (Wald `se`, `z`), `p` the likelihood-ratio test, "
               "`p_holm` Holm's adjustment for the number of variables; ranked by p."
               if kind == "logistic" else
               "Every sample has frication, so its total duration (s) was regressed on each noise variable alone "
               "(OLS, one per variable): `coef` per SD of the variable, `z` the t statistic, `p` its test, "
               "`p_holm` Holm's adjustment; ranked by p.") + "\n")
        cols = [c for c in ("var", "coef", "se", "z", "p", "p_holm", "rank", "n") if c in ranking.columns
                and ranking[c].notna().any()]
        lines.append(md_table(ranking, cols=cols, n=10))
        lines.append(f"**{top}** ranks first and is swept below.\n")
    else:
        lines.append(f"{len(prop)} random samples: their frication does not vary, so no variable can be tied to "
                     f"it; the paper's {FALLBACK_VARIABLE} is swept instead.\n")
    return lines


def _sweep_lines(title: str, st: dict, var: str) -> list:
    """Sections 2 and 3: one sweep's first layers, notes, raw slopes, standardised effects, LRTs, warnings."""
    lines = []
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
    slopes = raw_slopes(st)
    if len(slopes):
        lines.append(f"Slope per unit of {var} in the output, raw units:\n")
        lines.append(md_table(slopes, cols=["name", "unit", "slope", "ci_low", "ci_high", "p", "n_obs",
                                            "n_groups"]))
    lines.append("Standardised slope of each outcome on the swept value, per layer and interval label "
                 "(mixed model, random intercept [and slope] by base latent; 95 % CI from t with "
                 "Satterthwaite df):\n")
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
    return lines


def _correlation_lines(r_stats: dict) -> list:
    """Section 4: the layers against the output (the paper's correlation table)."""
    lines = []
    lines.append("## 4. Layers against the output (the paper's correlation table)\n")
    lines.append("Pearson r between each layer's measure and the output's over matched intervals of the random "
                 "samples, one pair per interval (its points averaged: n counts intervals):\n")
    lines.append(md_table(r_stats.get("correlations"), n=60))
    lines.append("Every layer was measured on the output's intervals, so its durations are the output's: "
                 "`duration` has no row here (r = 1 by construction says nothing). For durations of a layer's "
                 "own, segment the layers too (`ganphon annotate DIR --layers conv3,conv4`), measure each on its "
                 "tier (`ganphon measure DIR --tier auto_conv4 --out conv4.csv`) and give its rows with the "
                 "output's to `ganphon.stats.correlation_table`, which pairs durations by interval order.\n")
    return lines


def _redo_lines(info: dict, out) -> list:
    """Section 5: the commands redoing each step, the R refit, Praat's own measurement, the files."""
    top, code_var = info["top_variable"], info["code_variable"]
    zd, cd = layout.sweep_dir(top), layout.sweep_dir(code_var)
    lines = []
    z_spec, c_spec = info["z_spec"], info["c_spec"]
    ckpt, seed = info["redo_checkpoint"], info["seed"]
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
        "Every model of a sweep refitted in R by lme4 + lmerTest from its saved frame (from this folder, or "
        "any other: the script reads the frames next to it):\n",
        "```bash",
        f"Rscript {zd}/stats/frames/refit.R",
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
        "`summaries.txt`, and `frames/` each model's rows with `refit.R`; `listen/` the listening copies. "
        f"`{rd}/` keeps the sound files of the layer-stack sample only"
        + (", the atlas folders their tables and figures" if (Path(out) / layout.DEMO_ATLAS_DIR).is_dir() else "")
        + " (the lines above rebuild the rest).\n",
        f"Timings (s): {', '.join(f'{k} {v:.0f}' for k, v in info['timings'].items())}.\n",
    ]
    return lines


def _praat_line(folder: str) -> str:
    """The ``praat --run`` line measuring ``folder`` (relative to where it is run) as the sweep did."""
    from ..praat import shell_command_line

    return shell_command_line("measure_all", folder, f"{folder}/acoustics_praat.tsv", tier="auto")
