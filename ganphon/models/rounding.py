"""Elementwise functions on CPU evaluated in float64 and rounded to the input's dtype.

PyTorch's vectorised float32 ``tanh`` and ``exp`` on CPU were measured off by a
constant 5e-5 to 7e-5 relative on one worker thread's share of a tensor, now
and then, on the first call in a fresh process with two intra-op threads (a
ten-line script without ganphon: tanh in 1–2 and exp in 1–5 of 24 processes),
so the same input could give slightly different numbers from run to run.
Rounded from float64 the result is the float32 function to rounding on every
thread, for one conversion of the tensor.  The output layers of ganphon's own
networks (the generator's tanh, CREPE's sigmoid) go through here; on other
devices and in float64 it is the function itself.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def rounded(fn, x: torch.Tensor) -> torch.Tensor:
    """``fn(x)``; on CPU below float64 computed as ``fn(x.double())`` rounded to ``x.dtype``."""
    if x.device.type != "cpu" or x.dtype == torch.float64:
        return fn(x)
    return fn(x.double()).to(x.dtype)


class Tanh(nn.Module):
    """The generator's output activation: ``rounded(torch.tanh, x)``."""

    def forward(self, x):
        return rounded(torch.tanh, x)
