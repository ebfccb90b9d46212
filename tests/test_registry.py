"""A measure family and a sweep design are each one registry entry: a toy of each, registered alone,
runs end to end (``ganphon probe`` → ``annotate`` → ``measure``; ``ganphon sweep``) and gives the values
its own definition says, computed here by hand; the bundled Praat scripts agree with the registry."""

import dataclasses
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
from parselmouth.praat import call
from scipy.io import wavfile

from ganphon import measures, praat
from ganphon.acoustics import check_measures, measure, measure_with_script
from ganphon.cli import main
from ganphon.errors import GanphonError
from ganphon.measures import FAMILIES, Family, register
from ganphon.models import load_checkpoint
from ganphon.sweep import DESIGNS, Design, DesignKind, check_spec, make_design, register_design

# --------------------------------------------------------------------------
# The toy measure: the largest absolute sample of each interval, on layers of native rate ≥ 1 kHz

PEAK_FLOOR = 1000.0  # Hz


def _peak_guard(settings, rate, duration, who):
    return f"{who}: native rate {measures.hz(rate)} Hz < {PEAK_FLOOR:g} Hz" if rate < PEAK_FLOOR else None


def _peak_rows(sound, job, intervals, add, why):
    for label, start, end in intervals:
        value = math.nan if why else call(sound, "Get absolute extremum", start, end, "None")
        add(label, start, end, None, math.nan, "peak", value, why)


PEAK = Family("peak", ("peak",), _peak_rows, needs=f"native rate ≥ {PEAK_FLOOR:g} Hz", guard=_peak_guard,
              labels=("fric",), stats={"peak": 9}, page=0.5)


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    """Two samples of the bundled model, every layer also as a WAV, annotated."""
    folder = tmp_path_factory.mktemp("registry") / "p"
    assert main(["probe", "--checkpoint", "demo", "--n", "2", "--seed", "5", "--wav-layers", "--out", str(folder),
                 "--quiet"]) == 0
    assert main(["annotate", str(folder), "--quiet"]) == 0
    return folder


def _peak_by_hand(wav, start, end):
    """max |x| over the samples whose times (first at 0.5 / sr) lie in [start, end], from the WAV's own bytes."""
    sr, x = wavfile.read(wav)
    t = (np.arange(len(x)) + 0.5) / sr
    inside = (t >= start - 1e-12) & (t <= end + 1e-12)
    return float(np.max(np.abs(x[inside].astype(np.float64))))


def test_toy_measure_runs_end_to_end_through_the_registry_alone(probed, tmp_path):
    with register(PEAK):
        assert measures.ALL_MEASURES[-1] == "peak" and check_measures(["peak", "pitch"]) == ("pitch", "peak")
        table = measure(probed, measures=["peak", "duration"], workers=1, progress=False)
        # the same through the command line (its --measures choices read the registry)
        out = tmp_path / "peak.csv"
        assert main(["measure", str(probed), "--measures", "peak", "--workers", "1", "--out", str(out),
                     "--quiet"]) == 0
        written = pd.read_csv(out)
        # everything else that lists measures reads the entry
        assert measures.BANDS["peak"].needs == "native rate ≥ 1000 Hz"
        assert measures.labels_of("peak") == ("fric",) and "peak" in measures.FRICATION_MEASURES
        assert measures.STATS_MEASURES[-1] == "peak"
        assert measures.page_columns()[:2] == ("duration", "peak")
        shown = praat.settings_table("default", {"conv2": 250.0, "conv3": 1000.0}, 1.024)
        assert shown["empty"].tolist()[0].endswith("peak (native rate 250 Hz < 1000 Hz)")
        assert "peak" not in shown["empty"].tolist()[1]
        with pytest.raises(GanphonError, match="no bundled Praat script measures peak"):
            measure_with_script(probed, measures=["peak"])
    # undone: no trace of it is left
    assert "peak" not in measures.ALL_MEASURES and "peak" not in measures.STATS_MEASURES
    with pytest.raises(GanphonError, match="^measures: unknown measure.*peak"):
        check_measures(["peak"])

    peaks = table[table["measure"] == "peak"]
    durations = table[table["measure"] == "duration"]
    assert len(peaks) == len(durations) > 0 and set(peaks["tier"]) == {"auto"}
    assert (peaks["end"] - peaks["start"]).tolist() == pytest.approx(durations["value"].tolist())
    checked = 0
    for row in peaks.itertuples(index=False):
        rate = 16000.0 if row.layer == "output" else float(row.rate_native_hz)
        if rate < PEAK_FLOOR:  # the band rule of the entry: empty, with its note
            assert math.isnan(row.value) and row.note == f"{row.layer}: native rate {measures.hz(rate)} Hz < 1000 Hz"
            continue
        assert row.value == pytest.approx(_peak_by_hand(probed / row.file, row.start, row.end), rel=1e-6, abs=1e-9)
        checked += 1
    assert checked >= 6  # conv3, conv4 and output of two samples
    assert set(peaks.loc[peaks["value"].isna(), "layer"]) == {"dense", "conv1", "conv2"}
    cli = written[written["measure"] == "peak"].reset_index(drop=True)
    assert cli["value"].tolist() == pytest.approx(peaks["value"].tolist(), nan_ok=True)


def test_register_refuses_a_clash_or_an_unknown_setting():
    with pytest.raises(ValueError, match="f0 already registered"):
        register(Family("pitch2", ("f0",), _peak_rows))
    with pytest.raises(ValueError, match="not MeasureSettings fields"):
        register(Family("toy", ("toy",), _peak_rows, settings=("toy_floor",)))
    assert "pitch2" not in FAMILIES and "toy" not in FAMILIES


# --------------------------------------------------------------------------
# The registry against the bundled Praat scripts (their forms and the rows they write)

# form fields every script has that are not analysis settings
FILE_FIELDS = {"folder", "extension", "name_pattern", "tier", "number_of_points", "output_table", "native_rate"}


def _settings_fields(script):
    return {f.name for f in praat.read_form(praat.script_path(script))} - FILE_FIELDS


def test_each_family_s_script_form_holds_exactly_its_settings():
    settings = {f.name for f in dataclasses.fields(praat.MeasureSettings)}
    for family in FAMILIES.values():
        assert family.script is not None
        assert _settings_fields(family.script) == set(family.settings), family.name
        has_points = "number_of_points" in {f.name for f in praat.read_form(praat.script_path(family.script))}
        assert has_points == bool(family.points), family.name
        assert set(family.band_settings) <= set(family.settings)
    every = {s for family in FAMILIES.values() for s in family.settings}
    assert _settings_fields("measure_all") == every == settings


def test_the_scripts_write_the_registry_s_measure_names():
    text = (praat.scripts_dir() / "ganphon_procedures.praat").read_text(encoding="utf-8")
    written = set(re.findall(r'@ganphon_row: [^"\n]*"(\w+)",', text))
    # the formants: "f" + string$ (.formantNumber) for .formantNumber to 3
    assert re.search(r'for \.formantNumber to 3\n(?:.*\n){1,8}.*@ganphon_row: .*"f" \+ string\$ ?\(\.formantNumber\)', text)
    written |= {"f1", "f2", "f3"}
    assert written == {m for family in FAMILIES.values() for m in family.measures}
    # the lists read from the registry hold the paper's and the stats' measures (SPEC §7), in their order
    assert measures.PAPER_MEASURES == ("intensity", "f0", "f1", "f2", "duration")
    assert measures.STATS_MEASURES == ("intensity", "f0", "f1", "f2", "duration", "cog", "max_intensity")


# --------------------------------------------------------------------------
# The toy design: every latent variable set to one value, for each of a list of values


def _diagonal(cfg, spec, source):
    values = [float(v) for v in spec["values"]]
    z = torch.stack([torch.full((cfg.latent_dim,), v) for v in values])
    ids = [f"d{i:03d}" for i in range(len(values))]
    columns = pd.DataFrame({"var": "diagonal", "value": values, "base": 0})
    return Design(z, ids, [f"diagonal={v:g}" for v in values], columns, spec)


def _diagonal_count(spec, source, cfg):
    values = spec.get("values")
    if not (isinstance(values, list) and values and all(isinstance(v, (int, float)) and math.isfinite(v)
                                                         for v in values)):
        raise GanphonError(f"{source}: 'values' must be a non-empty list of finite numbers, got {values!r}")
    return len(values)


def _diagonal_flags(parser):
    parser.add_argument("--diagonal", default=None, help="values of the diagonal design, e.g. 0,1.5")


def _diagonal_args(args):
    if not args.diagonal:
        raise GanphonError("a diagonal sweep needs --diagonal")
    return {"values": [float(v) for v in args.diagonal.split(",")]}


DIAGONAL = DesignKind("diagonal", _diagonal, frozenset({"values"}), _diagonal_count, _diagonal_args,
                      flags=_diagonal_flags, example='kind = "diagonal"   values = [0, 1.5]')


def test_toy_design_runs_end_to_end_through_the_registry_alone(tmp_path, capsys):
    out = tmp_path / "diag"
    with register_design(DIAGONAL):
        assert main(["sweep", "--help"]) == 0
        assert 'kind = "diagonal"   values = [0, 1.5]' in capsys.readouterr().out
        assert check_spec({"kind": "diagonal", "values": [1, 2]}) == 2
        with pytest.raises(GanphonError, match="unknown key 'n' for a diagonal sweep"):
            check_spec({"kind": "diagonal", "values": [1], "n": 3})
        with pytest.raises(GanphonError, match="'values' must be a non-empty list"):
            check_spec({"kind": "diagonal", "values": []})
        assert main(["sweep", "--checkpoint", "demo", "--kind", "diagonal", "--out", str(out), "--quiet"]) == 2
        assert "needs --diagonal" in capsys.readouterr().err and not out.exists()
        assert main(["sweep", "--checkpoint", "demo", "--kind", "diagonal", "--diagonal=-1,0,2.5",
                     "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert "diagonal" not in DESIGNS
    with pytest.raises(GanphonError, match="'kind' must be one of"):
        check_spec({"kind": "diagonal", "values": [1]})

    latents = pd.read_csv(out / "latents.csv")
    dim = load_checkpoint("demo", qnetwork=False).config.latent_dim
    values = latents.drop(columns="sample_id").to_numpy()
    assert values.shape == (3, dim)
    # the design's definition: every variable of sample i equals the i-th value
    assert np.array_equal(values, np.repeat(np.array([[-1.0], [0.0], [2.5]]), dim, axis=1))
    manifest = pd.read_csv(out / "manifest.csv")
    first = manifest.drop_duplicates("sample_id")
    assert first["sample_id"].tolist() == ["d000", "d001", "d002"]
    assert first["value"].tolist() == [-1.0, 0.0, 2.5] and set(first["var"]) == {"diagonal"}
    table = pd.read_csv(out / "acoustics.csv")
    assert set(table["sample_id"]) == {"d000", "d001", "d002"} and (table["tier"] == "auto").all()


def test_register_design_refuses_a_taken_name_or_a_common_key():
    with pytest.raises(ValueError, match="already registered"):
        register_design(dataclasses.replace(DIAGONAL, name="random"))
    with pytest.raises(ValueError, match="seed"):
        register_design(dataclasses.replace(DIAGONAL, keys=frozenset({"seed"})))
    assert "diagonal" not in DESIGNS
    with pytest.raises(GanphonError):
        make_design(load_checkpoint("demo", qnetwork=False).config, {"kind": "diagonal", "values": [1]})


def test_units_agree_with_the_atlas_outcomes():
    from ganphon.atlas import OUTCOMES

    for name, _, _, unit in OUTCOMES.values():
        assert measures.unit_of(name) == unit, name
    assert measures.unit_of("skewness") == "" and measures.unit_of("no such measure") == ""
