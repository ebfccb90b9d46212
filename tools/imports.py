"""The module import graph of ganphon/, checked against the documented data flow.

Every ``import`` and ``from … import`` statement of the package counts, at
module level and inside functions alike (read with :mod:`ast`, nothing is
imported).  Each module has a room along the flow of README's "How the code is
organised"::

    base → models → measures → probe → export → praat → corpus → train → sweep → stats → plots → report → cli

An edge into a later room is a *back edge* against the flow; an edge within a
room or into an earlier one is fine.  A *cycle* is a set of modules that import
each other (a strongly connected component of more than one module).

Usage::

    python tools/imports.py [PACKAGE_DIR]     # default: the ganphon/ beside this folder

prints the rooms, the edge counts, the back edges and the cycles; the exit
status is 1 when there is a back edge or a cycle, or a module has no room.
Never imported by the package.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

#: The rooms in flow order: a module may import its own room and the ones before it.
ROOMS = ("base", "models", "measures", "probe", "export", "praat", "corpus", "train", "sweep", "stats", "plots",
         "report", "cli")

#: Module (or package: the entry covers everything under it) → room; the longest matching entry wins.
ROOM_OF = {
    # base: below everything.  The package itself imports _version and errors only; its public
    # names load their stages lazily (importlib), which is no static edge.
    "ganphon": "base",
    "ganphon._version": "base",
    "ganphon.errors": "base",
    "ganphon.timebase": "base",
    "ganphon.layout": "base",
    "ganphon.io": "base",
    "ganphon.parallel": "base",
    "ganphon.parallel_dask": "base",
    "ganphon.data": "base",
    # the networks: config, wavegan, latent, checkpoints, importers, encoders
    "ganphon.models": "models",
    # the measure registry (bands, artefact frequencies) reads model configs only; DESIGN.md puts it
    # between the models and the probe, so every later stage may name a measure's needs
    "ganphon.measures": "measures",
    "ganphon.probe": "probe",
    # the sinks of activations: the one sample pipeline (latents → probe → sinks), files, the store
    "ganphon.pipeline": "export",
    "ganphon.export": "export",
    "ganphon.store": "export",
    # Praat, parselmouth, segmentation (and its phone classes), the layer series against measures
    "ganphon.praat": "praat",
    "ganphon.acoustics": "praat",
    "ganphon.annotate": "praat",
    "ganphon.series": "praat",
    # a store's arrays annotated and measured as Sounds
    "ganphon.store_analysis": "praat",
    # corpora are cut, synthesised (labelled with annotate's classes) and loaded for training
    "ganphon.corpus": "corpus",
    # speech probing reads a speech corpus by the corpus loader's own rules (mix down, resample, the
    # clipped TextGrids), so it sits with the corpora and those rules stay in one place; only later
    # rooms (stats.run, cli.probe) import it
    "ganphon.speech": "corpus",
    # training reads a corpus and evaluates with Praat and the segmentation
    "ganphon.train": "train",
    # the designs, the atlas's among them
    "ganphon.sweep": "sweep",
    "ganphon.stats": "stats",
    "ganphon.plots": "plots",
    "ganphon.report": "report",
    # the atlas run fits the effects, draws the heatmap and builds the explorer (its design is in sweep)
    "ganphon.atlas": "report",
    "ganphon.cli": "cli",
    "ganphon.__main__": "cli",
}


@dataclass
class Graph:
    """The import graph: modules, edges (importer, imported) → statements, those inside functions."""

    modules: list
    edges: Counter = field(default_factory=Counter)
    in_functions: Counter = field(default_factory=Counter)


def module_names(package: Path) -> dict:
    """Dotted module name → (source path, is a package) for every ``.py`` under ``package``."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        names[".".join(parts)] = (path, is_package)
    return names


def _known(name: str, modules: dict) -> str:
    """``name`` or the nearest enclosing package that is a module of the graph."""
    while name not in modules and "." in name:
        name = name.rpartition(".")[0]
    return name


def _targets(node, package: str, modules: dict, root: str) -> list:
    """The modules one import statement loads (``from P import x``: P.x when it is a module, else P)."""
    if isinstance(node, ast.Import):
        return [_known(a.name, modules) for a in node.names if a.name.split(".")[0] == root]
    if node.level:
        base = package.split(".")
        base = base[:len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if source.split(".")[0] != root:
        return []
    return [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else _known(source, modules)
            for a in node.names]


def import_graph(package: Path) -> Graph:
    """Read every module of ``package`` and collect its imports of the package's own modules."""
    modules = module_names(package)
    graph = Graph(sorted(modules))
    root = package.name
    for name, (path, is_package) in modules.items():
        own_package = name if is_package else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        stack = [(tree, False)]
        while stack:
            node, inside = stack.pop()
            for child in ast.iter_child_nodes(node):
                child_inside = inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in _targets(child, own_package, modules, root):
                        if target != name:
                            graph.edges[(name, target)] += 1
                            graph.in_functions[(name, target)] += child_inside
                stack.append((child, child_inside))
    return graph


def room(module: str) -> str | None:
    """The room of ``module`` (the longest :data:`ROOM_OF` entry that covers it), None if none."""
    name = module
    while True:
        if name in ROOM_OF:
            return ROOM_OF[name]
        if "." not in name:
            return None
        name = name.rpartition(".")[0]


def back_edges(graph: Graph) -> list:
    """Edges (importer, imported) whose imported module sits in a later room than its importer."""
    order = {r: i for i, r in enumerate(ROOMS)}
    return sorted((a, b) for a, b in graph.edges
                  if room(a) and room(b) and order[room(b)] > order[room(a)])


def cycles(graph: Graph) -> list:
    """Strongly connected components of more than one module (Tarjan), each a sorted list."""
    successors: dict = {m: [] for m in graph.modules}
    for a, b in graph.edges:
        successors[a].append(b)
    index: dict = {}
    low: dict = {}
    on_stack: set = set()
    stack: list = []
    found = []

    def visit(start):
        work = [(start, iter(successors[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in graph.modules:
        if module not in index:
            visit(module)
    return sorted(found)


def report(graph: Graph) -> tuple:
    """The printed summary (lines) and whether the graph follows the flow."""
    homeless = [m for m in graph.modules if room(m) is None]
    back = back_edges(graph)
    loops = cycles(graph)
    lines = [f"modules {len(graph.modules)}, edges {len(graph.edges)}, import statements "
             f"{sum(graph.edges.values())}, inside functions {sum(graph.in_functions.values())}"]
    lines.append("rooms (in flow order):")
    for r in ROOMS:
        members = [m for m in graph.modules if room(m) == r]
        lines.append(f"  {r:8s} {len(members):3d}  {' '.join(m.removeprefix('ganphon.') for m in members)}")
    if homeless:
        lines.append(f"without a room: {' '.join(homeless)}")
    lines.append(f"back edges {len(back)}:")
    lines += [f"  {a} ({room(a)}) -> {b} ({room(b)})  x{graph.edges[(a, b)]}" for a, b in back]
    lines.append(f"cycles {len(loops)}:")
    lines += [f"  {' <-> '.join(c)}" for c in loops]
    return lines, not (homeless or back or loops)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    package = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "ganphon"
    lines, clean = report(import_graph(package))
    print("\n".join(lines))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
