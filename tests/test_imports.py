"""Imports follow the documented data flow: every module has a room, no back edge, no cycle.

The graph is read by ``tools/imports.py`` (ast; imports inside functions count).  Its reading is
checked first on a small hand-written package whose edges, back edges and cycles are known.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Back edges being removed on other branches; the merge of each empties its line.
@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("ganphon_imports_tool", ROOT / "tools" / "imports.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def graph(tool):
    return tool.import_graph(ROOT / "ganphon")


def _write(folder: Path, files: dict) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_the_graph_of_a_known_package(tool, tmp_path):
    """Every import form, at module level and inside functions, gives the edges written by hand."""
    pkg = tmp_path / "ganphon"
    _write(pkg, {
        "__init__.py": "from ._version import __version__\n",
        "_version.py": "__version__ = '1'\n",
        "io.py": "import os\n",
        "probe.py": "from . import io\n\ndef f():\n    from .stats import fit\n",   # back edge, inside
        "stats/__init__.py": "from .fit import fit\n",
        "stats/fit.py": "import ganphon.io\n\ndef fit():\n    from .. import probe\n    from .. import __version__\n",
        "cli/__init__.py": "import ganphon.stats.fit as f\nfrom ganphon.probe import f as g\n",
    })
    g = tool.import_graph(pkg)
    assert sorted(g.modules) == ["ganphon", "ganphon._version", "ganphon.cli", "ganphon.io", "ganphon.probe",
                                 "ganphon.stats", "ganphon.stats.fit"]
    assert dict(g.edges) == {
        ("ganphon", "ganphon._version"): 1,
        ("ganphon.probe", "ganphon.io"): 1,
        ("ganphon.probe", "ganphon.stats.fit"): 1,      # `from .stats import fit`: the submodule is loaded
        ("ganphon.stats", "ganphon.stats.fit"): 1,
        ("ganphon.stats.fit", "ganphon.io"): 1,
        ("ganphon.stats.fit", "ganphon.probe"): 1,
        ("ganphon.stats.fit", "ganphon"): 1,            # __version__ is a name of the package
        ("ganphon.cli", "ganphon.stats.fit"): 1,
        ("ganphon.cli", "ganphon.probe"): 1,
    }
    assert {e for e, n in g.in_functions.items() if n} == {
        ("ganphon.probe", "ganphon.stats.fit"), ("ganphon.stats.fit", "ganphon.probe"), ("ganphon.stats.fit", "ganphon")}
    assert tool.back_edges(g) == [("ganphon.probe", "ganphon.stats.fit")]
    assert tool.cycles(g) == [["ganphon.probe", "ganphon.stats.fit"]]
    lines, clean = tool.report(g)
    assert not clean and "back edges 1:" in lines and "cycles 1:" in lines


def test_every_module_has_a_room(tool, graph):
    assert [m for m in graph.modules if tool.room(m) is None] == []
    assert tool.room("ganphon.stats.mixed") == "stats" and tool.room("ganphon.cli.options") == "cli"
    assert tool.room("ganphon.parallel_dask") == "base" and tool.room("ganphon.corpus.synth") == "corpus"
    assert [tool.room(m) for m in ("ganphon.pipeline", "ganphon.store_analysis", "ganphon.speech",
                                   "ganphon.atlas")] == ["export", "praat", "corpus", "report"]


def test_moved_names_are_one_object_under_their_old_names():
    """MeasureSettings, the atlas design and the shared fit types moved down; the old imports still work."""
    from ganphon import atlas, measures, praat, sweep
    from ganphon.stats import fits, mixed

    assert praat.MeasureSettings is measures.MeasureSettings and praat.WINDOW_SHAPES is measures.WINDOW_SHAPES
    for name in ("atlas_design", "atlas_size", "atlas_variables", "DEFAULT_VALUES", "DEFAULT_BASES"):
        assert getattr(atlas, name) is getattr(sweep, name), name
    assert sweep.DESIGNS["atlas"].build is sweep.atlas_design
    for name in ("Estimate", "Attempt", "MixedFit", "STRUCTURES", "STRUCTURE_TEXT", "MIXED_COLUMNS",
                 "LRT_COLUMNS", "lrt", "model_name", "_scaled"):
        assert getattr(mixed, name) is getattr(fits, name), name


def test_no_back_edge_against_the_flow(tool, graph):
    back = set(tool.back_edges(graph))
    assert back == set()


def test_no_cycle(tool, graph):
    assert tool.cycles(graph) == []


def test_the_pool_and_its_dask_twin_import_one_way(graph):
    """parallel is the pool; parallel_dask builds on it, and nothing global links them back."""
    assert ("ganphon.parallel_dask", "ganphon.parallel") in graph.edges
    assert ("ganphon.parallel", "ganphon.parallel_dask") not in graph.edges
    assert not any(a == "ganphon.annotate" and b.startswith("ganphon.corpus") for a, b in graph.edges)
