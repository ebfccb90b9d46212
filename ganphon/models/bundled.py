"""The demo model that ships with ganphon."""

from __future__ import annotations

from pathlib import Path

from ..errors import GanphonError

DATA = Path(__file__).resolve().parent.parent / "data"
DEMO_G = "demo_ciwgan_G.pt"
DEMO_Q = "demo_ciwgan_Q.pt"
DEMO_CARD = "demo_ciwgan_card.json"


def demo_checkpoint_path() -> Path:
    """Path of the bundled demo generator checkpoint."""
    p = DATA / DEMO_G
    if not p.exists():
        raise GanphonError(f"{p}: the bundled demo model is missing from this installation")
    return p
