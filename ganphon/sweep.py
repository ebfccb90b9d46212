"""Latent sweeps: designs of latent vectors, and the generate → probe → export →
annotate → measure pipeline that turns them into a tidy acoustic table.

Designs (a small TOML spec; see :func:`load_spec`):

``dimension``
    One latent dimension from ``from`` to ``to`` in ``step`` (far beyond the
    training range allowed, e.g. z11 from −15 to 5 step 2), over ``bases``
    random base latents whose other dimensions stay fixed.
``code``
    A ciwGAN / fiwGAN code sweep: one code variable from ``from`` to ``to``
    (e.g. c2 from 0 to 2 step 0.25, the other codes 0), or a piecewise-linear
    ``path`` through code vectors (the TACL path [1.5,0] → [0,0] → [0,1.5]).
``line``
    Straight-line interpolation between two latent vectors in ``steps`` points.
``random``
    ``n`` random latents (for correlation tables and latent discovery).

Every sample gets manifest columns ``var``, ``value`` and ``base`` and a
``condition`` tier such as ``z11=-15``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import io, layout
from .errors import GanphonError, number_hint
from .models import Latent, ModelConfig
from .models.latent import FLOAT32_MAX

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass
class Design:
    """The latents of a sweep and what each sample varies."""

    latents: torch.Tensor          # [N, latent_dim]
    sample_ids: list
    conditions: list
    columns: pd.DataFrame          # var, value, base (+ the varied dimensions)
    spec: dict

    def __len__(self) -> int:
        return len(self.sample_ids)


def grid(start: float, stop: float, step: float) -> np.ndarray:
    """``start, start+step, …`` up to and including ``stop`` (values rounded to 1e-9)."""
    if step == 0 or (stop - start) / step < 0:
        raise GanphonError(f"step {step:g} does not go from {start:g} to {stop:g}")
    n = int(math.floor((stop - start) / step + 1e-9)) + 1
    return np.round(start + step * np.arange(n), 9)


def _fmt(v: float) -> str:
    return f"{float(v):g}"


def _req(spec: dict, key: str, source: str):
    if key not in spec:
        raise GanphonError(f"{source}: the sweep needs '{key}'")
    return spec[key]


def dimension_design(cfg: ModelConfig, spec: dict, source: str = "spec") -> Design:
    lat = Latent(cfg)
    var = str(_req(spec, "var", source))
    col = lat.index(var)
    values = grid(float(_req(spec, "from", source)), float(_req(spec, "to", source)), float(_req(spec, "step", source)))
    n_bases = int(spec.get("bases", 10))
    seed = int(spec.get("seed", 0))
    bases = lat.sample(n_bases, seed, code=spec.get("code"))
    rows, z, ids, conds = [], [], [], []
    for b in range(n_bases):
        for i, v in enumerate(values):
            zz = bases[b].clone()
            zz[col] = float(v)
            z.append(zz)
            ids.append(layout.sweep_sample_id(b, i))
            conds.append(f"{var}={_fmt(v)}")
            rows.append({"var": var, "value": float(v), "base": b, var: float(v)})
    return Design(torch.stack(z), ids, conds, pd.DataFrame(rows), spec)


def _path_points(path, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Points along a piecewise-linear path, ``step`` apart in the largest coordinate
    change of each segment; returns (points [M, k], position along the path)."""
    pts = np.asarray(path, dtype=float)
    out, pos, acc = [pts[0]], [0.0], 0.0
    for a, b in zip(pts[:-1], pts[1:]):
        length = float(np.abs(b - a).max())
        n = max(1, int(round(length / step)))
        for j in range(1, n + 1):
            out.append(a + (b - a) * j / n)
            pos.append(round(acc + length * j / n, 9))
        acc += length
    return np.round(np.array(out), 9), np.array(pos)


def code_design(cfg: ModelConfig, spec: dict, source: str = "spec") -> Design:
    lat = Latent(cfg)
    if cfg.n_codes == 0:
        raise GanphonError(f"{source}: a code sweep needs a ciwgan or fiwgan model")
    n_bases = int(spec.get("bases", 10))
    seed = int(spec.get("seed", 0))
    if "path" in spec:
        points, positions = _path_points(spec["path"], float(_req(spec, "step", source)))
        if points.shape[1] != cfg.n_codes:
            raise GanphonError(f"{source}: path points have {points.shape[1]} values, the model has {cfg.n_codes} codes")
        var = "path"
    else:
        var = str(_req(spec, "var", source))
        col = lat.index(var)
        if col >= cfg.n_codes:
            raise GanphonError(f"{source}: {var} is not a code variable (c1…c{cfg.n_codes})")
        positions = grid(float(_req(spec, "from", source)), float(_req(spec, "to", source)), float(_req(spec, "step", source)))
        fill = np.asarray(lat.parse_code(spec["code"]) if "code" in spec else np.zeros(cfg.n_codes), dtype=float)
        points = np.tile(fill, (len(positions), 1))
        points[:, col] = positions
    bases = lat.sample(n_bases, seed, code=np.zeros(cfg.n_codes).tolist())
    rows, z, ids, conds = [], [], [], []
    for b in range(n_bases):
        for i, (pt, v) in enumerate(zip(points, positions)):
            zz = bases[b].clone()
            zz[: cfg.n_codes] = torch.tensor(pt, dtype=torch.float32)
            z.append(zz)
            ids.append(layout.sweep_sample_id(b, i))
            label = ",".join(_fmt(x) for x in pt)
            conds.append(f"code={label}")
            row = {"var": var, "value": float(v), "base": b}
            row.update({name: float(x) for name, x in zip(lat.code_names, pt)})
            rows.append(row)
    return Design(torch.stack(z), ids, conds, pd.DataFrame(rows), spec)


def _endpoint(lat: Latent, spec: dict, key: str, seed: int, source: str) -> torch.Tensor:
    value = spec.get(key)
    if value is None:
        return lat.sample(2, seed, code=spec.get("code"))[0 if key == "a" else 1]
    if isinstance(value, str):
        table = Path(_req(spec, "latents", source))
        if not table.is_absolute():
            table = Path(spec.get("_dir", ".")) / table
        if not table.exists():
            raise GanphonError(f"{table}: no such latents file (for {key} = {value!r})")
        df = io.read_latents(table)
        have = [c for c in df.columns if c != "sample_id"]
        if sorted(have) != sorted(lat.names):
            raise GanphonError(f"{table}: its latent columns ({', '.join(have[:3])}… {len(have)} in all) are not "
                               f"this model's ({', '.join(lat.names[:3])}… {len(lat.names)}); a latents file of "
                               "another model?")
        row = df[df["sample_id"] == value]
        if row.empty:
            raise GanphonError(f"{table}: has no sample {value!r}")
        try:
            values = row[lat.names].to_numpy(dtype=float)[0]
        except (TypeError, ValueError):
            raise GanphonError(f"{table}: sample {value!r} has values that are not numbers") from None
        if not np.all(np.isfinite(values)) or np.abs(values).max() > FLOAT32_MAX:
            raise GanphonError(f"{table}: sample {value!r} has values that are not finite float32 numbers")
        return torch.tensor(values, dtype=torch.float32)
    vec = torch.tensor(value, dtype=torch.float32)
    if vec.numel() != lat.latent_dim:
        raise GanphonError(f"{source}: '{key}' has {vec.numel()} values, expected {lat.latent_dim}")
    return vec


def line_design(cfg: ModelConfig, spec: dict, source: str = "spec") -> Design:
    lat = Latent(cfg)
    seed = int(spec.get("seed", 0))
    a, b = _endpoint(lat, spec, "a", seed, source), _endpoint(lat, spec, "b", seed, source)
    steps = int(spec.get("steps", 11))
    if steps < 2:
        raise GanphonError(f"{source}: a line needs at least 2 steps")
    ts = np.round(np.linspace(0.0, 1.0, steps), 9)
    z = torch.stack([a + (b - a) * float(t) for t in ts])
    ids = [layout.sweep_sample_id(0, i) for i in range(steps)]
    conds = [f"t={_fmt(t)}" for t in ts]
    cols = pd.DataFrame({"var": "t", "value": ts, "base": 0})
    return Design(z, ids, conds, cols, spec)


def random_design(cfg: ModelConfig, spec: dict, source: str = "spec") -> Design:
    lat = Latent(cfg)
    n = int(_req(spec, "n", source))
    seed = int(spec.get("seed", 0))
    z = lat.sample(n, seed, code=spec.get("code"))
    ids = [layout.sample_id(i) for i in range(n)]
    conds = [f"code={lat.code_label(r)}" if cfg.n_codes else "random" for r in z]
    cols = pd.DataFrame({"var": "random", "value": np.nan, "base": np.arange(n)})
    return Design(z, ids, conds, cols, spec)


#: The atlas's values each variable is set to by default (0 = the middle of the training range).
DEFAULT_VALUES = (-15.0, -5.0, 0.0, 5.0, 15.0)
DEFAULT_BASES = 20


def atlas_variables(cfg: ModelConfig, variables=None) -> list:
    """The latent variables of an atlas: every one (codes first, 1-based names) or those named."""
    lat = Latent(cfg)
    if variables is None or variables == "all":
        return lat.names
    if isinstance(variables, str):
        variables = [v.strip() for v in variables.split(",") if v.strip()]
    names = [str(v) for v in variables]
    for name in names:
        lat.index(name)  # a one-line error naming the variable
    if len(set(names)) != len(names):
        raise GanphonError(f"atlas variables are named twice: {', '.join(names)}")
    return names


def _atlas_values(spec: dict, source: str) -> list:
    values = spec.get("values", list(DEFAULT_VALUES))
    if isinstance(values, str):
        try:
            values = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise GanphonError(f"{source}: 'values' must be numbers like -15,-5,0,5,15, got {values!r}") from None
    if (not isinstance(values, (list, tuple)) or len(values) < 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
            or len(set(values)) != len(values)):
        raise GanphonError(f"{source}: 'values' must be at least 2 distinct finite numbers, got {values!r}")
    beyond = [v for v in values if abs(v) > FLOAT32_MAX]
    if beyond:
        raise GanphonError(f"{source}: 'values' holds {beyond[0]!r}, beyond float32 range (±{FLOAT32_MAX:.3g}), "
                           "where the network computes inf")
    return [float(v) for v in values]


def atlas_size(spec: dict, cfg=None, source: str = "spec") -> int:
    """Samples an atlas spec makes: variables × values × bases (variables known from ``cfg`` when 'all')."""
    values = _atlas_values(spec, source)
    bases = spec.get("bases", DEFAULT_BASES)
    if isinstance(bases, bool) or not isinstance(bases, int) or bases < 2:
        raise GanphonError(f"{source}: 'bases' must be a whole number ≥ 2 (effects are tested across bases), "
                           f"got {bases!r}")
    variables = spec.get("variables")
    if variables is None or variables == "all":
        n_vars = cfg.latent_dim if cfg is not None else 100
    else:
        n_vars = len(variables if not isinstance(variables, str) else [v for v in variables.split(",") if v.strip()])
    return n_vars * len(values) * int(bases)


def atlas_design(cfg: ModelConfig, spec: dict, source: str = "spec") -> Design:
    """The atlas's latents: each variable at each value, on the same ``bases`` base latents.

    The run that measures them and ranks every variable's effects is :func:`ganphon.atlas.run_atlas`.

    Spec keys: ``values`` (default −15, −5, 0, 5, 15), ``bases`` (20),
    ``variables`` (default every one), ``seed``, ``code`` (fix the bases' code).
    Sample ids ``z11_b003_v004`` (:func:`ganphon.layout.atlas_sample_id`);
    manifest columns ``var``, ``value``, ``base``; ``condition`` tier ``z11=15``.
    """
    lat = Latent(cfg)
    values = _atlas_values(spec, source)
    atlas_size(spec, cfg, source)
    variables = atlas_variables(cfg, spec.get("variables"))
    n_bases = int(spec.get("bases", DEFAULT_BASES))
    bases = lat.sample(n_bases, int(spec.get("seed", 0)), code=spec.get("code"))
    z, ids, conds, rows = [], [], [], []
    for b in range(n_bases):
        for var in variables:
            col = lat.index(var)
            for i, v in enumerate(values):
                zz = bases[b].clone()
                zz[col] = float(v)
                z.append(zz)
                ids.append(layout.atlas_sample_id(var, b, i))
                conds.append(f"{var}={_fmt(v)}")
                rows.append({"var": var, "value": float(v), "base": b})
    return Design(torch.stack(z), ids, conds, pd.DataFrame(rows), spec)


COMMON_KEYS = {"kind", "seed", "code"}
#: More samples than this is an error whatever the disk (a spec typo, not an experiment).
MAX_SAMPLES = 10_000_000


@dataclass(frozen=True)
class DesignKind:
    """One sweep design: everything ganphon knows about it, in one entry of :data:`DESIGNS`.

    Parameters
    ----------
    name : str
        The spec's ``kind`` (and ``--kind``).
    build : callable
        ``build(cfg, spec, source)`` → :class:`Design`, after the checks.
    keys : frozenset of str
        The spec keys it reads besides ``kind``, ``seed`` and ``code``; any other key is a typo.
    count : callable
        ``count(spec, source, cfg)`` → the number of samples; checks the values of its keys
        (one-line :class:`GanphonError` naming the key) after the common checks of :func:`check_spec`.
    from_args : callable
        ``from_args(args)`` → its spec keys from the ``ganphon sweep`` flags (no spec file).
    flags : callable, optional
        ``flags(parser)`` adds flags of its own to ``ganphon sweep`` (the built-in designs share
        ``--var --from --to --step --bases --n``).
    example : str
        Its spec in one line or more, for ``ganphon sweep --help``.
    """

    name: str
    build: object
    keys: frozenset
    count: object
    from_args: object
    flags: object = None
    example: str = ""


def _range_args(args) -> dict:
    missing = [f for f, v in (("--var", args.var), ("--from", args.start), ("--to", args.stop),
                              ("--step", args.step)) if v is None]
    if missing:
        raise GanphonError(f"give a spec file or {', '.join(missing)}")
    return {"var": args.var, "from": args.start, "to": args.stop, "step": args.step, "bases": args.bases}


def _random_args(args) -> dict:
    if not args.n:
        raise GanphonError("a random design needs --n")
    return {"n": args.n}


def _line_args(args) -> dict:
    raise GanphonError("a line sweep is written in a spec file (a, b, latents, steps); the flags give "
                       "dimension, code, random and atlas sweeps")


def _random_count(spec: dict, source: str, cfg) -> int:
    _whole(spec, source)
    return _at_most(int(_req(spec, "n", source)), "n", source)


def _line_count(spec: dict, source: str, cfg) -> int:
    _whole(spec, source, ("steps",), low=2)
    return _at_most(int(spec.get("steps", 11)), "steps", source)


def _at_most(count: int, key: str, source: str) -> int:
    if count > MAX_SAMPLES:
        raise GanphonError(f"{source}: '{key}' {count:,}: more than {MAX_SAMPLES:,} samples is surely a mistake "
                           "in the spec")
    return count


def _atlas_count(spec: dict, source: str, cfg) -> int:
    _whole(spec, source)
    return atlas_size(spec, cfg, source)


#: The sweep designs, kind → :class:`DesignKind`.  A new design is one entry (:func:`register_design`);
#: the spec checks, the command line's ``--kind`` choices, flags and help read it from this table.
DESIGNS: dict = {}


def register_design(design: DesignKind):
    """Add a sweep design to :data:`DESIGNS`; the returned registration removes it again when
    used as a context manager (``with register_design(...):``)."""
    from .measures import Registration

    if not isinstance(design, DesignKind):
        raise TypeError(f"register_design() takes a DesignKind, got {type(design).__name__}")
    if design.name in DESIGNS:
        raise ValueError(f"sweep design {design.name!r} is already registered")
    clash = sorted(set(design.keys) & COMMON_KEYS)
    if clash:
        raise ValueError(f"sweep design {design.name!r}: {', '.join(clash)} are keys of every design")
    DESIGNS[design.name] = design
    return Registration(DESIGNS, design.name)


def kinds() -> tuple:
    """The design kinds, in registry order."""
    return tuple(DESIGNS)


def spec_keys(kind: str) -> set:
    """The keys a spec of ``kind`` may hold besides ``kind``, ``seed`` and ``code``."""
    return set(DESIGNS[kind].keys)


def _number(spec: dict, key: str, source: str, *, whole: bool = False, low=None):
    """``spec[key]`` as a finite number within float32 range (whole ≥ ``low`` if asked), or a one-line error."""
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GanphonError(f"{source}: '{key}' must be a finite number, got {value!r}")
    if not whole and abs(value) > FLOAT32_MAX:
        raise GanphonError(f"{source}: '{key}' = {value!r} is beyond float32 range (±{FLOAT32_MAX:.3g}), "
                           "where the network computes inf")
    if whole and value != int(value):
        raise GanphonError(f"{source}: '{key}' must be a whole number, got {value!r}")
    if low is not None and value < low:
        raise GanphonError(f"{source}: '{key}' must be ≥ {low}, got {value!r}")
    return int(value) if whole else float(value)


def _finite_list(value) -> bool:
    """Whether ``value`` is a flat list of finite numbers within float32 range."""
    return isinstance(value, list) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and abs(x) <= FLOAT32_MAX
        for x in value)


def _check_types(spec: dict, source: str) -> None:
    """The type of every key a spec may hold (values are checked by :func:`check_spec` and the designs)."""
    if "var" in spec and not isinstance(spec["var"], str):
        raise GanphonError(f"{source}: 'var' must be a variable name such as \"z11\" or \"c2\", got {spec['var']!r}")
    if "code" in spec:
        code = spec["code"]
        if isinstance(code, bool) or not (isinstance(code, (int, str)) or _finite_list(code)
                                          or (isinstance(code, float) and math.isfinite(code))):
            raise GanphonError(f"{source}: 'code' must be a category number, a string like \"0,1\" or a list of "
                               f"finite numbers, got {code!r}")
    for key in ("a", "b"):
        if key in spec and not (isinstance(spec[key], str) or _finite_list(spec[key])):
            raise GanphonError(f"{source}: '{key}' must be a sample id of the latents file or a flat list of "
                               f"finite numbers, got {str(spec[key])[:60]}")
    if "latents" in spec and not isinstance(spec["latents"], str):
        raise GanphonError(f"{source}: 'latents' must be the path of a latents.csv, got {spec['latents']!r}")


def check_spec(spec: dict, source: str = "spec", cfg: ModelConfig | None = None) -> int:
    """Check a sweep spec's keys and values; return the number of samples it makes.

    Unknown keys (``bsaes = 1``), non-numbers, NaN/inf, zero or negative
    counts, empty or ragged paths and a zero step are one-line errors naming
    the key, so a typo never runs a different sweep than the one written.
    """
    kind = spec.get("kind")
    if "kind" not in spec:
        raise GanphonError(f"{source}: no 'kind' (one of {', '.join(DESIGNS)}), e.g. kind = \"dimension\""
                           + ("; the file holds no keys at all" if not any(not str(k).startswith("_") for k in spec)
                              else ""))
    if not isinstance(kind, str) or kind not in DESIGNS:
        raise GanphonError(f"{source}: 'kind' must be one of {', '.join(DESIGNS)}, got {kind!r}")
    known = spec_keys(kind) | COMMON_KEYS
    unknown = sorted(k for k in spec if not str(k).startswith("_") and k not in known)
    if unknown:
        raise GanphonError(f"{source}: unknown key{'s' if len(unknown) > 1 else ''} "
                           f"{', '.join(map(repr, unknown))} for a {kind} sweep (known: {', '.join(sorted(known))})")
    _check_types(spec, source)
    if "seed" in spec:
        seed = _number(spec, "seed", source, whole=True, low=0)
        if seed >= 2**63:
            raise GanphonError(f"{source}: 'seed' must be below 2**63, got {seed}")
    count = DESIGNS[kind].count(spec, source, cfg)
    if count > MAX_SAMPLES:  # every kind, before a design is drawn
        raise GanphonError(f"{source}: {count:,} samples; more than {MAX_SAMPLES:,} is surely a mistake in the spec")
    return count


def _whole(spec: dict, source: str, keys=("bases", "n"), low: int = 1) -> None:
    """Check that those of ``keys`` the spec holds are whole numbers ≥ ``low``."""
    for key in keys:
        if key in spec:
            _number(spec, key, source, whole=True, low=low)


def _values_count(spec: dict, source: str, cfg=None) -> int:
    """Samples of a ``dimension`` or ``code`` sweep: values from ``from`` to ``to`` (or along a ``path``)
    in ``step`` × ``bases``, each value checked."""
    _whole(spec, source)
    bases = int(spec.get("bases", 10))
    if "path" in spec:
        path = spec["path"]
        if (not isinstance(path, list) or len(path) < 2 or not all(isinstance(p, list) and p for p in path)
                or len({len(p) for p in path}) != 1):
            raise GanphonError(f"{source}: 'path' must be a list of at least 2 points of equal length, "
                               f"e.g. [[1.5, 0], [0, 0], [0, 1.5]]")
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                   for p in path for x in p):
            raise GanphonError(f"{source}: 'path' points must hold finite numbers")
        if any(abs(x) > FLOAT32_MAX for p in path for x in p):
            raise GanphonError(f"{source}: 'path' values must lie within float32 range (±{FLOAT32_MAX:.3g})")
        step = _number(dict(step=_req(spec, "step", source)), "step", source)
        if step <= 0:
            raise GanphonError(f"{source}: 'step' must be > 0 along a path, got {step:g}")
        pts = np.asarray(path, dtype=float)
        with np.errstate(over="ignore"):
            counts = [float(np.abs(b - a).max()) / step for a, b in zip(pts[:-1], pts[1:])]
        if not all(math.isfinite(c) and c <= MAX_SAMPLES for c in counts):
            raise GanphonError(f"{source}: 'step' {step:g} makes more than {MAX_SAMPLES:,} points along the path")
        per_base = 1 + sum(max(1, round(c)) for c in counts)
    else:
        _req(spec, "var", source)
        start, stop, step = (_number(dict(spec, **{k: _req(spec, k, source)}), k, source) for k in ("from", "to", "step"))
        if step == 0 or (stop - start) / step < 0:
            raise GanphonError(f"{source}: 'from' {start:g}, 'to' {stop:g}, 'step' {step:g}: the step does not go "
                               "from one to the other")
        count = (stop - start) / step
        if not math.isfinite(count) or count > MAX_SAMPLES:
            raise GanphonError(f"{source}: 'from' {start:g}, 'to' {stop:g}, 'step' {step:g} make more than "
                               f"{MAX_SAMPLES:,} values; surely a mistake in the spec")
        per_base = math.floor(count + 1e-9) + 1
    total = per_base * bases
    if total > MAX_SAMPLES:
        raise GanphonError(f"{source}: {total:,} samples ({per_base:,} values × {bases} bases); more than "
                           f"{MAX_SAMPLES:,} is surely a mistake in the spec")
    return total


def make_design(cfg: ModelConfig, spec: dict, source: str = "spec") -> Design:
    """Build the latents of a sweep spec (a dict as read from TOML), after :func:`check_spec`."""
    check_spec(spec, source, cfg)
    return DESIGNS[spec["kind"]].build(cfg, spec, source)


for _design in (
    DesignKind("dimension", dimension_design, frozenset({"var", "from", "to", "step", "bases"}), _values_count,
               _range_args, example='kind = "dimension"  var = "z11"  from = -15  to = 5  step = 2  bases = 10  seed = 1'),
    DesignKind("code", code_design, frozenset({"var", "from", "to", "step", "bases", "path"}), _values_count,
               _range_args, example='kind = "code"       var = "c2"   from = 0    to = 2  step = 0.25  bases = 10\n'
                                    'kind = "code"       path = [[1.5, 0, 0], [0, 0, 0], [0, 1.5, 0]]  step = 0.125  '
                                    'bases = 100'),
    DesignKind("line", line_design, frozenset({"a", "b", "latents", "steps"}), _line_count,
               _line_args,
               example='kind = "line"       a = "s000003"  b = "s000007"  latents = "run/latents.csv"  steps = 11'),
    DesignKind("random", random_design, frozenset({"n"}), _random_count, _random_args,
               example='kind = "random"     n = 200  seed = 1'),
    # every variable at -15,-5,0,5,15 from the flags (ganphon atlas chooses more and ranks them)
    DesignKind("atlas", atlas_design, frozenset({"values", "bases", "variables"}), _atlas_count,
               lambda args: {"bases": args.bases},
               example='kind = "atlas"      values = [-15, -5, 0, 5, 15]  bases = 20  variables = ["c1", "z11"]   '
                       '(see ganphon atlas)'),
):
    DESIGNS[_design.name] = _design


#: A sweep writing more than this many bytes asks for ``yes`` (``--yes``).
SIZE_LIMIT = io.SIZE_LIMIT


def check_size(model, n_samples: int, out, yes: bool = False, limit: int | None = SIZE_LIMIT,
               option: str = "--n") -> int:
    """Estimate the bytes a sweep writes; past ``limit`` or the free disk, ask for ``yes``.

    Per sample: a float32 WAV of ``slice_len`` samples for the output and
    each layer, the native-rate Sounds (about 11 bytes a value as Praat
    short text), a TextGrid and table rows.
    """
    from .probe import layer_lengths

    cfg = model.config
    lengths = layer_lengths(model.generator)
    per_sample = (len(lengths) + 1) * (4 * cfg.slice_len + 44) + sum(11 * n + 400 for _, n in lengths.values()) + 2000
    return io.check_room(n_samples, per_sample, out, yes=yes, option=option, what="samples", limit=limit)


def _toml_hint(text: str, exc) -> str:
    """A spec's first line holding a typographic minus (``from = −15`` copied from a paper), as a clause."""
    for number, line in enumerate(text.splitlines(), 1):
        hint = number_hint(line)
        if hint:
            return f"; line {number}{hint}"
    return ""


def load_spec(path) -> dict:
    """Read a sweep spec TOML file (the ``[sweep]`` table, or the top level).

    Example::

        [sweep]
        kind = "dimension"
        var = "z11"
        from = -15
        to = 5
        step = 2
        bases = 10
        seed = 1
    """
    path = Path(path)
    if not path.exists():
        raise GanphonError(f"{path}: no such sweep spec")
    text = io.read_text(path)  # UTF-8 with or without a BOM (Windows' Notepad), or UTF-16
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GanphonError(f"{path}: not valid TOML ({exc}){_toml_hint(text, exc)}") from None
    spec = data.get("sweep", data)
    if not isinstance(spec, dict):
        raise GanphonError(f"{path}: 'sweep' must be a table ([sweep] with kind = … below it), got {spec!r}")
    spec = dict(spec)
    spec["_dir"] = str(path.parent.resolve())
    spec["_source"] = str(path)  # errors in its keys name the file
    return spec


@layout.folder_locks()  # another process writing the same folder is refused
def run_sweep(spec: dict | str | Path, checkpoint, out, *, annotate: bool = True, measure: bool = True,
              workers=None, settings: str = "default", batch_size: int = 64, device=None,
              overwrite: bool = False, progress: bool = True, command: str | None = None,
              store: str = "files", yes: bool = False, wav_layers: bool = False, scheduler=None) -> pd.DataFrame:
    """Run a sweep end to end into ``out``; resumable like ``ganphon probe``.

    Parameters
    ----------
    spec : dict or path
        The design (see :func:`load_spec`).
    checkpoint : path-like or LoadedModel
    out : path-like
    annotate, measure : bool
        Add the automatic ``auto`` tier; measure every layer on it into
        ``out/acoustics.csv`` (``acoustics.parquet`` when large, see :func:`ganphon.io.read_acoustics`).
    workers : int, optional
        Processes for annotating and measuring (None: one per CPU).
    scheduler : DaskScheduler, optional
        Run that work (and a store's generation) on Dask
        (:func:`ganphon.parallel_dask.use_scheduler`); default the process pool.
    settings : str
        Praat settings preset for measuring (``default``, ``paper-ciwgan`` …).
    store : {"files", "zarr"}
        Per-series files, or the columnar store (:mod:`ganphon.store`; same numbers).
    wav_layers : bool
        Also write the layers' 16 kHz float WAVs (each layer is stored once, as its native Sound).
    yes : bool
        Run a sweep larger than :data:`SIZE_LIMIT` or the free disk (see :func:`check_size`).

    Returns
    -------
    DataFrame
        The manifest, or the acoustic table when ``measure`` is on.
    """
    from .export import run_export
    from .models import load_checkpoint

    source = spec.get("_source", "spec") if isinstance(spec, dict) else "spec"
    if not isinstance(spec, dict):
        source = str(spec)
        spec = load_spec(spec)
    model = checkpoint if hasattr(checkpoint, "generator") else load_checkpoint(checkpoint, qnetwork=False)
    design = make_design(model.config, spec, source)
    check_size(model, len(design), out, yes=yes, option=source)
    clean = {k: v for k, v in spec.items() if not k.startswith("_")}
    request = {"kind": "sweep", "spec": clean}
    out = Path(out)
    if store != "files":
        from .store import check_store_kind
        from .store_analysis import store_sweep

        check_store_kind(store)
        return store_sweep(model, design, out, spec=clean, request=request, annotate=annotate, measure=measure,
                           workers=workers, settings=settings, batch_size=batch_size, device=device,
                           overwrite=overwrite, progress=progress, command=command, scheduler=scheduler)
    manifest = run_export(model, design.latents, out, sample_ids=design.sample_ids,
                          conditions=design.conditions, columns=design.columns,
                          seed=int(spec.get("seed", 0)), request=request, command=command,
                          batch_size=batch_size, device=device, overwrite=overwrite, progress=progress,
                          wav_layers=wav_layers)
    io.write_json(out / layout.SWEEP_JSON, clean)
    if annotate:
        from .annotate import annotate_folder

        annotate_folder(out, progress=progress, workers=workers, scheduler=scheduler, command=command)
    if measure:
        from .acoustics import measure_to_file

        # the sweep owns its folder's table: a resumed or repeated sweep measures it again
        # the default name: acoustics.csv, or acoustics.parquet above io.CSV_MAX_ROWS rows
        table, _, _ = measure_to_file(out, None, tier="auto" if annotate else None,
                                      settings=settings, workers=workers, command=command,
                                      progress=progress, overwrite=True, scheduler=scheduler)
        return table
    return manifest
