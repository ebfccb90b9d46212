"""The latent layout every module agrees on.

A latent vector has ``latent_dim`` (100) entries.  For ciwGAN and fiwGAN the
first ``k`` entries are the code, named ``c1 … ck``; the rest are uniform
noise named ``z1 … z(100−k)``.  For WaveGAN all 100 are ``z1 … z100``.  Names
are 1-based, as in the papers, so ``z11`` means the same dimension in the API,
the CLI, manifest columns and TextGrid labels.
"""

from __future__ import annotations

import math
import re

import torch

from ..errors import GanphonError, ParameterError
from .config import ModelConfig

#: The largest finite float32: latent values beyond it become inf in the network.
FLOAT32_MAX = 3.4028234663852886e38

_NAME = re.compile(r"^([cz])(\d+)$")


class Latent:
    """Build latent batches from (code, z-values, seed) for one model config.

    Examples
    --------
    >>> lat = Latent(ModelConfig(arch="ciwgan", n_codes=2))
    >>> z = lat.sample(4, seed=1, code="2")        # c = [0, 1], z ~ U(-1, 1)
    >>> lat.index("z11")
    12
    """

    def __init__(self, config: ModelConfig):
        self.arch = config.arch
        self.n_codes = config.n_codes
        self.latent_dim = config.latent_dim

    @property
    def names(self) -> list[str]:
        codes = [f"c{i}" for i in range(1, self.n_codes + 1)]
        return codes + [f"z{i}" for i in range(1, self.latent_dim - self.n_codes + 1)]

    @property
    def code_names(self) -> list[str]:
        return self.names[: self.n_codes]

    def index(self, name: str) -> int:
        """Column of latent dimension ``name`` (``c2``, ``z11`` …)."""
        m = _NAME.match(name.strip())
        if not m:
            raise GanphonError(f"latent dimension {name!r} is not a name like z11 or c2")
        kind, i = m.group(1), int(m.group(2))
        limit = self.n_codes if kind == "c" else self.latent_dim - self.n_codes
        if not 1 <= i <= limit:
            what = "codes" if kind == "c" else "noise dimensions"
            rng = f"{kind}1…{kind}{limit}" if limit else "none"
            raise GanphonError(f"latent dimension {name!r} does not exist: this {self.arch} has {what} {rng}")
        return i - 1 if kind == "c" else self.n_codes + i - 1

    def parse_code(self, code) -> torch.Tensor:
        """A code as a float vector of length k.

        ``code`` is an integer category ``i`` (1 … k: one-hot on ``ci``, ciwGAN) or
        a comma-separated / sequence of k values (any reals, e.g. ``"0,1.5"``).
        """
        if self.n_codes == 0:
            raise ParameterError("code", "a WaveGAN has no code; codes apply to ciwgan and fiwgan models")
        given = code  # messages quote what was given, not its parsed numbers (1e308 stays 1e308)
        if isinstance(code, str):
            parts = [p for p in code.replace(" ", "").split(",") if p != ""]
            try:
                values = [float(p) for p in parts]
            except ValueError:
                raise GanphonError(f"code {code!r} is not a category number or comma-separated values") from None
            if not values:
                raise GanphonError(f"code {code!r} is empty")
            if len(values) == 1 and self.n_codes > 1:
                code = values[0]
            else:
                code = values
        if torch.is_tensor(code):
            code = code.flatten().tolist()
        if isinstance(code, bool) or not isinstance(code, (int, float, list, tuple)):
            raise GanphonError(f"code must be a category number or a list of numbers, got {code!r}")
        for x in ([code] if isinstance(code, (int, float)) else code):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) \
                    or abs(x) > FLOAT32_MAX:
                raise GanphonError(f"code values must be finite numbers within float32 range, got {given!r}")
        if isinstance(code, (int, float)):
            if self.arch != "ciwgan":
                raise GanphonError(f"a {self.arch} code is {self.n_codes} values like '0,1,…'; a single category number is for ciwgan")
            if code != int(code) or not 1 <= int(code) <= self.n_codes:
                raise GanphonError(f"code category {given} is out of range: this ciwgan has categories 1…{self.n_codes}")
            vec = torch.zeros(self.n_codes)
            vec[int(code) - 1] = 1.0
            return vec
        values = torch.as_tensor(list(code), dtype=torch.float32).flatten()
        if values.numel() != self.n_codes:
            raise GanphonError(f"code has {values.numel()} values but this {self.arch} has {self.n_codes} codes")
        return values

    def random_codes(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.arch == "ciwgan":
            cats = torch.randint(0, self.n_codes, (n,), generator=generator)
            return torch.nn.functional.one_hot(cats, self.n_codes).float()
        return torch.bernoulli(torch.full((n, self.n_codes), 0.5), generator=generator)

    def sample(self, n: int, seed: int, code=None) -> torch.Tensor:
        """``n`` latents: z ~ U(−1, 1), codes fixed to ``code`` or drawn at random.

        The same (n, seed, code) always gives the same tensor, and the first m
        rows of a larger draw equal a draw of m.
        """
        g = torch.Generator().manual_seed(int(seed))
        noise = torch.rand(n, self.latent_dim - self.n_codes, generator=g) * 2 - 1
        if self.n_codes == 0:
            if code is not None:
                self.parse_code(code)  # a code for a model without codes is an error, never ignored
            return noise
        if code is None:
            # A generator of their own keeps the codes of row i independent of n.
            codes = self.random_codes(n, torch.Generator().manual_seed(int(seed) + 7919))
        else:
            codes = self.parse_code(code).expand(n, -1)
        return torch.cat([codes, noise], dim=1)

    def build(self, code=None, values: dict | None = None, base: torch.Tensor | None = None) -> torch.Tensor:
        """One latent from a base vector with named dimensions set.

        Parameters
        ----------
        code : optional
            Code to write into ``c1 … ck`` (see :meth:`parse_code`).
        values : dict, optional
            ``{"z11": -15.0, …}``; values outside (−1, 1) are allowed.
        base : tensor, optional
            Starting vector (zeros if omitted).
        """
        z = torch.zeros(self.latent_dim) if base is None else base.clone().float()
        if code is not None:
            z[: self.n_codes] = self.parse_code(code)
        for name, v in (values or {}).items():
            z[self.index(name)] = float(v)
        return z

    def code_label(self, z_row: torch.Tensor) -> str:
        """The code part of a latent as text, e.g. ``0,1`` (empty for WaveGAN)."""
        return ",".join(f"{float(v):g}" for v in z_row[: self.n_codes])

    def check(self, z: torch.Tensor, source: str = "latents") -> torch.Tensor:
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.dim() == 1:
            z = z.unsqueeze(0)
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise GanphonError(f"{source}: expected latents of shape [N, {self.latent_dim}], got {list(z.shape)}")
        if not torch.isfinite(z).all():
            raise GanphonError(f"{source}: latents contain NaN or inf")
        return z
