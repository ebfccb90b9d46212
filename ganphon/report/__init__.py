"""Reports: the demo, the report writer (Markdown / HTML with audio) and the sweep explorer.

* :mod:`ganphon.report.demo` — ``ganphon demo``: the whole chain on the bundled
  model, written up in ``report.md`` / ``report.html``.
* :mod:`ganphon.report.writer` — Markdown tables, relative links, Markdown →
  HTML with ``<audio>`` players, 16-bit listening copies.
* :mod:`ganphon.report.explore` — ``ganphon explore``: one self-contained,
  offline HTML page per sweep (slider over the value, base selector, layer
  stack, acoustic rows, audio).

Nothing heavy is imported here; each module imports what it needs.
"""


def run_demo(*args, **kwargs):
    """Run the demo (see :func:`ganphon.report.demo.run_demo`)."""
    from .demo import run_demo as _run_demo

    return _run_demo(*args, **kwargs)


def build_explorer(*args, **kwargs):
    """Write a sweep's explorer page (see :func:`ganphon.report.explore.build_explorer`)."""
    from .explore import build_explorer as _build_explorer

    return _build_explorer(*args, **kwargs)
