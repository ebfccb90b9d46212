"""The version of ganphon, in one place (read by ``pyproject.toml`` and ``ganphon.__version__``)."""

__version__ = "0.2.0"
