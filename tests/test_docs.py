"""The README's Python against ganphon's API: what a reader copies exists as written.

Every ``from ganphon… import name`` of its Python blocks imports, every call of a
ganphon function there binds its keywords and number of arguments to the
function's signature, and every API name the prose quotes in backticks
(``ganphon.timebase.upsample``, ``layout.make_folder``, ``io.output_files`` …)
resolves.  (The command lines are checked in test_cli.)
"""

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import ganphon

README = Path(__file__).resolve().parents[1] / "README.md"
#: a backticked name that is a file, not an API name
FILE_SUFFIX = re.compile(r"\.(csv|json|parquet|py|html|md|txt|R|wav|Sound|TextGrid|praat|toml|pt|npy|zarr)$")


def python_blocks(text: str) -> list[str]:
    blocks, inside, lang, lines = [], False, "", []
    for line in text.splitlines():
        fence = re.match(r"^\s*```(\w*)", line)
        if fence:
            if inside and lang == "python":
                blocks.append("\n".join(lines))
            inside, lang, lines = not inside, fence.group(1), []
            continue
        if inside:
            lines.append(line)
    return blocks


def resolve(dotted: str, modules: dict):
    """The object ``dotted`` names (its first part a ganphon module, by full or short name), or None."""
    parts = dotted.split(".")
    name = "ganphon" if parts[0] == "ganphon" else modules.get(parts[0])
    if name is None:
        return None
    obj = importlib.import_module(name)
    for part in parts[1:]:
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        try:
            obj = importlib.import_module(f"{obj.__name__}.{part}")
        except (ImportError, AttributeError):
            return None
    return obj


def test_the_readmes_python_blocks_import_and_call_what_exists():
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 3
    wrong, calls = [], 0
    for block in blocks:
        tree = ast.parse(block)
        names = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ganphon"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if hasattr(module, alias.name):
                        names[alias.asname or alias.name] = getattr(module, alias.name)
                    else:
                        wrong.append(f"from {node.module} import {alias.name}")
            elif isinstance(node, ast.Import):
                names.update({a.asname or a.name: importlib.import_module(a.name) for a in node.names
                              if a.name.startswith("ganphon")})
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            function, label = None, ast.unparse(node.func)
            if isinstance(node.func, ast.Name):
                function = names.get(node.func.id)
            elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
                    and inspect.ismodule(names.get(node.func.value.id)):
                function = getattr(names[node.func.value.id], node.func.attr, None)
                if function is None:
                    wrong.append(f"{label}: no such function")
            if function is None or not callable(function):
                continue
            keywords = {k.arg: None for k in node.keywords if k.arg}
            try:
                inspect.signature(function).bind_partial(*[None] * len(node.args), **keywords)
                calls += 1
            except TypeError as exc:
                wrong.append(f"{label}: {exc}")
    assert not wrong, wrong
    assert calls >= 10


def test_every_api_name_the_readme_quotes_exists():
    modules = {m.name.rsplit(".", 1)[-1]: m.name for m in pkgutil.walk_packages(ganphon.__path__, "ganphon.")}
    text = README.read_text(encoding="utf-8")
    quoted = set(re.findall(r"`([a-z_][a-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?:\(|`)", text))
    quoted = {q for q in quoted if not FILE_SUFFIX.search(q)
              and (q.startswith("ganphon.") or q.split(".")[0] in modules)}
    assert len(quoted) >= 50
    missing = sorted(q for q in quoted if resolve(q, modules) is None)
    assert not missing, missing
