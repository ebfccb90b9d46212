"""The demo folder's size and its references: every picture, player, link and file path the report,
the explorer pages and the Praat plugin's views use exists in the folder, and the full demo stays
under its size limit (counted here file by file, not from ganphon's own sum)."""

import html as html_lib
import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import parselmouth
import pytest

from ganphon.cli import main
from ganphon.praat import scripts_dir

LIMIT = 40_000_000  # bytes: the "demo folder ≤ 40 MB"
FILE = re.compile(r"^[\w.-]+(/[\w.-]+)+\.(wav|flac|Sound|TextGrid|csv|png|pdf|parquet|html|R|json|txt)$")


def _outside_code(md: str) -> str:
    return re.sub(r"```.*?```", "", md, flags=re.S)


def report_references(folder: Path) -> set:
    """Every relative path report.md links, shows or names in backticks (outside its code blocks),
    and every src/href of report.html."""
    md = _outside_code((folder / "report.md").read_text(encoding="utf-8"))
    refs = set(re.findall(r"\]\(([^)\s]+)\)", md))
    refs |= {t for t in re.findall(r"`([^`\s]+)`", md) if FILE.match(t)}
    page = (folder / "report.html").read_text(encoding="utf-8")
    refs |= {html_lib.unescape(v) for v in re.findall(r'(?:src|href)="([^"]+)"', page)}
    return {r for r in refs if not re.match(r"^[a-z]+:", r) and not r.startswith("#")}


def explorer_references(page: Path) -> set:
    """Every audio file an explorer page plays (relative to its folder) and any src/href it holds."""
    text = page.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1))
    refs = {path for s in data["samples"] for path in s["audio"].values()}
    assert len(refs) == len(data["samples"]) * len(data["layers"])  # a player per sample and layer
    refs |= {v for v in re.findall(r'(?:src|href)="([^"]+)"', text) if not v.startswith(("#", "data:"))}
    return refs


def files_under(folder: Path) -> tuple[int, int]:
    total = count = 0
    for path in folder.rglob("*"):
        if path.is_file():
            total += path.stat().st_size
            count += 1
    return total, count


def check_references(folder: Path) -> list:
    """The demo's referenced files, asserting each exists; the explorer pages' lists too."""
    refs = report_references(folder)
    sweeps = sorted(p for p in folder.glob("sweep_*") if p.is_dir())

    def exists(ref):  # a path under a demo folder, or one the report names per sweep (`stats/…`)
        top = folder / ref.split("/", 1)[0]
        return (folder / ref).is_file() if top.is_dir() else all((sweep / ref).is_file() for sweep in sweeps)

    missing = sorted(r for r in refs if not exists(r))
    assert not missing, missing
    pages = sorted(folder.glob("sweep_*/explore.html"))
    assert len(pages) == 2 and all(p.relative_to(folder).as_posix() in refs for p in pages)
    for page in pages:
        gone = sorted(r for r in explorer_references(page) if not (page.parent / r).is_file())
        assert not gone, (page, gone)
    return pages


def run_praat_views(praat_exe, folder: Path, tmp_path: Path):
    """View sample and View sweep of the plugin on a demo sweep: the Sounds they open hold the
    sweep's measured output and a layer as parselmouth reads them from the folder."""
    sweep = sorted(folder.glob("sweep_*"))[0]
    plugin = scripts_dir() / "plugin_ganphon"
    body = f"""
runScript: "{plugin / 'view_sample.praat'}", "{sweep}/", "b000_v001", "dense conv1 conv2 conv3 conv4", 1, 0
selectObject: "Sound b000_v001"
outMax = Get maximum: 0, 0, "None"
selectObject: "Sound b000_v001_layers"
layerChannels = Get number of channels
runScript: "{plugin / 'view_sweep.praat'}", "{sweep}", 0, "output conv4", 0, 0
selectObject: "Sound b000_conv4"
n = Get number of channels
writeInfoLine: "=outMax ", fixed$(outMax, 9)
appendInfoLine: "=layerChannels ", layerChannels
appendInfoLine: "=n ", n
"""
    script = tmp_path / "view.praat"
    script.write_text(body, encoding="utf-8")
    done = subprocess.run([praat_exe, "--run", "--no-pref-files", "--no-plugins", str(script)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = dict(line[1:].split(" ", 1) for line in done.stdout.splitlines() if line.startswith("="))
    output = parselmouth.Sound(str(sweep / "b000_v001_output.wav")).values.max()
    assert float(got["outMax"]) == pytest.approx(output, abs=1e-8)
    assert int(got["layerChannels"]) == 5
    n_values = len(list(sweep.glob("b000_v*_output.wav")))
    assert int(got["n"]) == n_values > 1


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_size") / "run"
    assert main(["demo", "--out", str(out), "--quick", "--quiet"]) == 0
    return out


def test_quick_demo_references_exist_and_unshown_samples_are_dropped(quick_demo, praat_exe, tmp_path):
    check_references(quick_demo)
    info = json.loads((quick_demo / "demo.json").read_text())
    stack = info["stack_sample"]
    random_dir = quick_demo / "random"
    # the random samples are summarised by tables: only the layer-stack sample keeps its sound files
    kept = {p.name.split("_")[0] for p in random_dir.iterdir() if p.suffix in (".wav", ".Sound")}
    assert kept == {stack}
    ids = set(pd.read_csv(random_dir / "manifest.csv", dtype={"sample_id": str})["sample_id"])
    assert {p.stem for p in random_dir.glob("*.TextGrid")} == ids
    # the report names the measured files of the stack sample as they are stored (layers as Sounds)
    report = (quick_demo / "report.md").read_text()
    assert f"measured file `random/{stack}_conv3.Sound`" in report
    assert f"measured file `random/{stack}_output.wav`" in report
    run_praat_views(praat_exe, quick_demo, tmp_path)


def test_the_random_folder_is_rebuilt_when_the_demo_resumes(quick_demo):
    """A resumed demo regenerates the dropped files (a sweep completes what is missing), measures the
    same numbers again, and drops them again."""
    before = (quick_demo / "report.md").read_text()
    assert main(["demo", "--out", str(quick_demo), "--quick", "--quiet"]) == 0
    after = (quick_demo / "report.md").read_text()
    strip = lambda text: re.sub(r"Timings \(s\):.*", "", text)  # noqa: E731
    assert strip(after) == strip(before)


@pytest.mark.slow
def test_full_demo_is_at_most_40_mb_with_every_reference_in_it(tmp_path_factory, praat_exe, tmp_path):
    out = tmp_path_factory.mktemp("demo_full") / "run"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    total, count = files_under(out)
    assert total <= LIMIT, f"{total / 1e6:.1f} MB in {count} files"
    check_references(out)
    run_praat_views(praat_exe, out, tmp_path)
    # the atlas section keeps its tables and figure; the section's samples are summarised
    for sub in ("atlas", "atlas_probe", "intervention"):
        assert not [p for p in (out / sub).iterdir() if p.suffix in (".wav", ".Sound", ".npy", ".TextGrid")]
    assert (out / "atlas" / "atlas.csv").is_file() and (out / "intervention" / "intervention.csv").is_file()
    report = (out / "report.md").read_text()
    assert "![atlas heatmap](atlas/figures/atlas_heatmap.png)" in report
    from test_atlas import assert_tables_only_named

    assert_tables_only_named(out, dict.fromkeys(("atlas", "atlas_probe", "intervention")),
                             "a demo keeps only the tables of the runs they summarise")
    print(f"demo folder: {total / 1e6:.1f} MB in {count} files", flush=True)
