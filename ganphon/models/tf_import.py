"""Import TensorFlow WaveGAN / ciwGAN / fiwGAN checkpoints (chrisdonahue/wavegan, gbegus/fiwGAN-ciwGAN).

A TF1 training folder holds ``model.ckpt-N.index`` + ``.data-00000-of-00001``,
a ``checkpoint`` file naming the latest step and usually ``args.txt``.  The
generator's variables and how they become ganphon weights::

    G/z_project/dense/kernel [L, 16·C0]            dense.weight = Kᵀ
    G/upconv_i/conv2d_transpose/kernel [1, k, Cout, Cin]
                                                   blocks.<conv i+1 | output>.conv.weight = K[0] → [Cin, Cout, k]
    G/upconv_i/conv1d/kernel [k, Cin, Cout]         (--wavegan_genr_upsample nn) the same block's
                                                   stride-1 convolution, → [Cout, Cin, k]
    G/pp_filt/conv1d/kernel [L, 1, 1]              (--wavegan_genr_pp) blocks.postproc.conv.weight → [1, 1, L]
    G/…/batch_normalization/{gamma, beta, moving_mean, moving_variance}
                                                   …norm.{weight, bias, running_mean, running_var}
    D/downconv_i/conv1d/kernel [k, Cin, Cout]       critic blocks.conv<i+1>.conv.weight → [Cout, Cin, k]
    D/output/dense/kernel [16·C, 1]                critic fc.weight = Kᵀ
    Q/Qdownconv_i/…, Q/Qoutput/dense/kernel [16·C, k]   the Q-network, likewise

(C0 = 16d, or 32d at slice 65536; no kernel is flipped: both libraries
correlate.)  The imported model uses the ``"tf"`` convention — TensorFlow's
'same' cropping, batch-norm epsilon 1e-3, time-major flatten, batch statistics
in the critic and Q-network — so it computes what TensorFlow computed
(tests/test_tf_import.py: within 1e-5 of TensorFlow 2.21 at every layer; the
logits of a critic / Q-network with batch norm as close as float32 rounding
lets TensorFlow come to itself, and exact in float64).  Optimizer slots and counters
are skipped; the critic's and Q-network's moving averages are unused (TensorFlow
never uses them either).  Nearest-neighbour upsampling and the post-processing
filter are read off the variables (``conv1d`` instead of ``conv2d_transpose`` under
``upconv_i``; ``pp_filt``) and checked against args.txt's ``wavegan_genr_upsample``,
``wavegan_genr_pp`` and ``wavegan_genr_pp_len``.  What ganphon cannot represent is
refused, naming the variable: partitioned variables, a stack that mixes the two
kinds of upsampling.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from ..errors import GanphonError, ParameterError
from ..layout import refuse_not_a_file
from .checkpoint import load_state, save_checkpoint
from .config import ARCHS, ModelConfig
from .tf_checkpoint import TFCheckpoint
from .wavegan import Critic, Generator, QNetwork

DENSE = "G/z_project/dense/kernel"
PP = "G/pp_filt/conv1d/kernel"
_SLOT = re.compile(r"/(Adam|Adam_\d+|RMSProp|RMSProp_\d+|Momentum|Adagrad|ExponentialMovingAverage)$")
_COUNTERS = re.compile(r"^(beta[12]_power(_\d+)?|global_step|[^/]*_power(_\d+)?)$")
_BN = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def is_optimizer_state(name: str) -> bool:
    """True for optimizer slots (``…/Adam``, ``…/RMSProp_1`` …) and counters (``beta1_power``, ``global_step``)."""
    return bool(_SLOT.search(name) or _COUNTERS.match(name))


def read_args_txt(folder) -> dict:
    """``args.txt`` of a TF training folder (``key,value`` lines) as a dict of strings; {} if absent."""
    path = Path(folder) / "args.txt"
    if not path.exists():
        return {}
    refuse_not_a_file(path, "args.txt file")
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition(",")
        if sep:
            out[key.strip()] = value.strip()
    return out


class _Reader:
    """Variables of one checkpoint: read once, every use recorded."""

    def __init__(self, ckpt: TFCheckpoint):
        self.ckpt = ckpt
        self.used: set[str] = set()

    def has(self, name: str) -> bool:
        return name in self.ckpt.entries

    def shape(self, name: str) -> tuple:
        return tuple(self.ckpt.entries[name].shape)

    def get(self, name: str, shape=None) -> torch.Tensor:
        if not self.has(name):
            raise GanphonError(f"{self.ckpt.index_path}: no variable {name!r}")
        if shape is not None and self.shape(name) != tuple(shape):
            raise GanphonError(f"{self.ckpt.index_path}: variable {name!r} has shape {list(self.shape(name))}, "
                               f"expected {list(shape)}")
        self.used.add(name)
        return torch.from_numpy(np.ascontiguousarray(self.ckpt.read(name), dtype=np.float32))

    def batch_norm(self, scope: str, state_prefix: str, channels: int, state: dict, running: bool) -> None:
        for tf_name, ours in _BN.items():
            name = f"{scope}/batch_normalization/{tf_name}"
            if tf_name.startswith("moving_") and not running:
                if self.has(name):
                    self.used.add(name)  # the critic / Q-network use batch statistics only
                continue
            state[f"{state_prefix}.{ours}"] = self.get(name, (channels,))
        if running:
            state[f"{state_prefix}.num_batches_tracked"] = torch.tensor(0)


def _count(names, pattern: str) -> list[int]:
    pat = re.compile(pattern)
    return sorted(int(m.group(1)) for n in names if (m := pat.match(n)))


def _refuse_unsupported(ckpt: TFCheckpoint) -> None:
    where = ckpt.index_path
    model = [n for n in ckpt.names() if not is_optimizer_state(n)]
    for n in model:
        if ckpt.entries[n].partitioned:
            raise GanphonError(f"{where}: variable {n!r} is partitioned (saved in slices), which ganphon does not read")
    if DENSE not in ckpt.entries:
        some = ", ".join(model[:4]) + ("…" if len(model) > 4 else "")
        raise GanphonError(f"{where}: not a WaveGAN checkpoint: no variable {DENSE!r} (it holds {some or 'nothing'})")


def _int_arg(args: dict, key: str, path) -> int | None:
    if key not in args:
        return None
    try:
        return int(args[key])
    except ValueError:
        raise GanphonError(f"{path}: {key} is {args[key]!r}, not a whole number") from None


def infer_tf_config(ckpt: TFCheckpoint, arch: str | None = None, n_codes: int | None = None,
                    args: dict | None = None) -> ModelConfig:
    """The ganphon config of a TF checkpoint, read off its variables' shapes.

    In steps: :func:`_tf_generator_shape` (the generator's stack from its
    variables), :func:`_check_args_txt` (args.txt agrees with it),
    :func:`_tf_codes` (architecture and number of codes).

    Parameters
    ----------
    ckpt : TFCheckpoint
    arch : {"wavegan", "ciwgan", "fiwgan"}, optional
        Needed for a model with codes: TF's ciwGAN and fiwGAN folders look alike.
    n_codes : int, optional
        Checked against the Q-network's outputs and args.txt's ``num_categ``;
        taken from them when not given.
    args : dict, optional
        ``args.txt`` (:func:`read_args_txt`).
    """
    args = dict(args or {})
    args_path = ckpt.index_path.parent / "args.txt"
    _refuse_unsupported(ckpt)
    names = [n for n in ckpt.names() if not is_optimizer_state(n)]
    shape = _tf_generator_shape(ckpt, names)
    batchnorm = "G/z_project/batch_normalization/gamma" in ckpt.entries
    _check_args_txt(args, args_path, shape, batchnorm)
    arch, codes = _tf_codes(ckpt, names, arch, n_codes, args, args_path)
    shuffle = _int_arg(args, "wavegan_disc_phaseshuffle", args_path)
    sr = _int_arg(args, "data_sample_rate", args_path)
    return ModelConfig(arch=arch, dim=shape["dim"], slice_len=shape["slice_len"], latent_dim=shape["latent_dim"],
                       n_codes=codes, kernel_len=shape["kernel_len"], batchnorm=batchnorm, dense_relu=True,
                       dense_layout="tf", convention="tf", bn_eps=1e-3, bn_momentum=0.01,
                       phaseshuffle_rad=2 if shuffle is None else shuffle,
                       sr=16000 if sr is None else sr, nch=shape["nch"], upsample=shape["upsample"],
                       postproc_len=shape["postproc_len"])


def _tf_generator_shape(ckpt: TFCheckpoint, names: list) -> dict:
    """The generator's stack read off its variables: upsample, op, slice_len, dim, kernel_len, nch, postproc_len."""
    where = ckpt.index_path
    latent_dim, width = ckpt.entries[DENSE].shape
    transposed = _count(names, r"^G/upconv_(\d+)/conv2d_transpose/kernel$")
    nearest = _count(names, r"^G/upconv_(\d+)/conv1d/kernel$")
    if transposed and nearest:
        raise GanphonError(f"{where}: variable 'G/upconv_{nearest[0]}/conv1d/kernel': the stack mixes transpose "
                           "convolutions and nearest-neighbour upsampling, which WaveGAN never does")
    upsample, op = ("nn", "conv1d") if nearest else ("zeros", "conv2d_transpose")
    ups = nearest or transposed
    if ups not in (list(range(5)), list(range(6))):
        raise GanphonError(f"{where}: expected G/upconv_0 … upconv_4 (slice 16384) or … upconv_5 (65536), "
                           f"found {['upconv_%d' % i for i in ups] or 'none'}")
    slice_len = 16384 if len(ups) == 5 else 65536
    dim_mul = 16 if slice_len == 16384 else 32
    if width % (16 * dim_mul):
        raise GanphonError(f"{where}: variable {DENSE!r} has {width} outputs, not 16·{dim_mul}·d")
    first = ckpt.entries[f"G/upconv_0/{op}/kernel"].shape  # [1, k, Cout, Cin] or [k, Cin, Cout]
    last = ckpt.entries[f"G/upconv_{ups[-1]}/{op}/kernel"].shape
    kernel_len, nch = (int(first[1]), int(last[2])) if upsample == "zeros" else (int(first[0]), int(last[2]))
    postproc_len = 0
    if PP in ckpt.entries:
        pp_shape = tuple(ckpt.entries[PP].shape)
        if len(pp_shape) != 3 or pp_shape[1:] != (nch, 1):
            raise GanphonError(f"{where}: variable {PP!r} has shape {list(pp_shape)}, expected [taps, {nch}, 1]")
        postproc_len = int(pp_shape[0])
    return dict(upsample=upsample, op=op, slice_len=slice_len, dim=width // (16 * dim_mul),
                latent_dim=int(latent_dim), kernel_len=kernel_len, nch=nch, postproc_len=postproc_len)


def _check_args_txt(args: dict, args_path, shape: dict, batchnorm: bool) -> None:
    """args.txt, when there is one, must say what the variables say."""
    upsample, op, postproc_len = shape["upsample"], shape["op"], shape["postproc_len"]
    genr_upsample = args.get("wavegan_genr_upsample", upsample)
    if genr_upsample != upsample:
        raise GanphonError(f"{args_path}: wavegan_genr_upsample is {genr_upsample!r}, but the checkpoint's "
                           f"variables say {upsample!r} (G/upconv_0/{op})")
    if "wavegan_genr_pp" in args and (args["wavegan_genr_pp"] == "True") != bool(postproc_len):
        raise GanphonError(f"{args_path}: wavegan_genr_pp is {args['wavegan_genr_pp']}, but the checkpoint "
                           f"{'has' if postproc_len else 'has no'} variable {PP!r}")
    pp_len = _int_arg(args, "wavegan_genr_pp_len", args_path)
    if postproc_len and pp_len is not None and pp_len != postproc_len:
        raise GanphonError(f"{args_path}: wavegan_genr_pp_len is {pp_len}, but {PP!r} has {postproc_len} taps")
    for key, value in (("data_slice_len", shape["slice_len"]), ("wavegan_dim", shape["dim"]),
                       ("wavegan_latent_dim", shape["latent_dim"]), ("wavegan_kernel_len", shape["kernel_len"])):
        given = _int_arg(args, key, args_path)
        if given is not None and given != value:
            raise GanphonError(f"{args_path}: {key} is {given}, but the checkpoint's shapes say {value}")
    if "wavegan_batchnorm" in args and (args["wavegan_batchnorm"] == "True") != batchnorm:
        raise GanphonError(f"{args_path}: wavegan_batchnorm is {args['wavegan_batchnorm']}, but the checkpoint "
                           f"{'has' if batchnorm else 'has no'} batch-norm variables")


def _tf_codes(ckpt: TFCheckpoint, names: list, arch, n_codes, args: dict, args_path) -> tuple[str, int]:
    """(architecture, number of codes): what was given, the Q-network's outputs and args.txt, which must agree."""
    where = ckpt.index_path
    q_names = _count(names, r"^Q/Qdownconv_(\d+)/conv1d/kernel$")
    q_out = ckpt.entries["Q/Qoutput/dense/kernel"].shape[1] if "Q/Qoutput/dense/kernel" in ckpt.entries else None
    candidates = {}
    if n_codes is not None:
        candidates["n_codes"] = int(n_codes)
    if q_out is not None:
        candidates["Q/Qoutput/dense/kernel"] = int(q_out)
    if "num_categ" in args and (arch not in (None, "wavegan") or q_out is not None):
        candidates[f"{args_path} num_categ"] = _int_arg(args, "num_categ", args_path)
    if len(set(candidates.values())) > 1:
        problem = (f"{where}: the number of codes disagrees: "
                   + ", ".join(f"{'given' if k == 'n_codes' else k + ' says'} {v}" for k, v in candidates.items()))
        raise ParameterError("n_codes", problem) if n_codes is not None else GanphonError(problem)
    if arch is None:
        if candidates or q_names or "num_categ" in args:
            raise ParameterError("arch", f"{where}: a model with codes: give ciwgan or fiwgan "
                                         "(TensorFlow checkpoints of the two look alike)")
        arch = "wavegan"
    if arch not in ARCHS:
        raise ParameterError("arch", f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if arch == "wavegan":
        if q_names:
            raise ParameterError("arch", f"{where}: has a Q-network (Q/Qdownconv_0 …): give ciwgan or fiwgan")
        return arch, 0
    if not candidates:
        raise ParameterError("n_codes", f"{where}: no Q-network and no args.txt to tell the number of codes: "
                                        "give it")
    return arch, next(iter(candidates.values()))


def _generator_state(r: _Reader, config: ModelConfig) -> dict:
    G = Generator(config)
    c0, k = G.dense_channels, config.kernel_len
    state = {"dense.weight": r.get(DENSE, (config.latent_dim, 16 * c0)).T.contiguous(),
             "dense.bias": r.get("G/z_project/dense/bias", (16 * c0,))}
    if config.batchnorm:
        r.batch_norm("G/z_project", "dense_norm", c0, state, running=True)
    for i, (name, block) in enumerate(G.blocks.items()):
        if name == "postproc":
            kernel = r.get(PP, (config.postproc_len, config.nch, 1))
            state["blocks.postproc.conv.weight"] = kernel.permute(2, 1, 0).contiguous()
            continue
        scope = f"G/upconv_{i}"
        cin, cout = block.conv.in_channels, block.conv.out_channels
        if config.upsample == "nn":  # a stride-1 conv1d after nearest-neighbour upsampling
            kernel = r.get(f"{scope}/conv1d/kernel", (k, cin, cout))
            state[f"blocks.{name}.conv.weight"] = kernel.permute(2, 1, 0).contiguous()
            state[f"blocks.{name}.conv.bias"] = r.get(f"{scope}/conv1d/bias", (cout,))
        else:
            kernel = r.get(f"{scope}/conv2d_transpose/kernel", (1, k, cout, cin))
            state[f"blocks.{name}.conv.weight"] = kernel[0].permute(2, 1, 0).contiguous()
            state[f"blocks.{name}.conv.bias"] = r.get(f"{scope}/conv2d_transpose/bias", (cout,))
        if config.batchnorm and name != "output":
            r.batch_norm(scope, f"blocks.{name}.norm", cout, state, running=True)
    return state


def _trunk_state(r: _Reader, net: Critic, config: ModelConfig, scope: str, prefix: str, head: str) -> dict:
    state = {}
    k = config.kernel_len
    for i, (name, block) in enumerate(net.blocks.items()):
        layer = f"{scope}/{prefix}downconv_{i}"
        cin, cout = block.conv.in_channels, block.conv.out_channels
        kernel = r.get(f"{layer}/conv1d/kernel", (k, cin, cout))
        state[f"blocks.{name}.conv.weight"] = kernel.permute(2, 1, 0).contiguous()
        state[f"blocks.{name}.conv.bias"] = r.get(f"{layer}/conv1d/bias", (cout,))
        if config.batchnorm and i > 0:
            r.batch_norm(layer, f"blocks.{name}.norm", cout, state, running=False)
    # Both flatten the last map time-major ([16, C]), so the kernel needs no reordering.
    state["fc.weight"] = r.get(f"{scope}/{head}/dense/kernel", (net.flat_dim, net.fc.out_features)).T.contiguous()
    state["fc.bias"] = r.get(f"{scope}/{head}/dense/bias", (net.fc.out_features,))
    return state


def read_tf_checkpoint(path, arch: str | None = None, n_codes: int | None = None):
    """Build ganphon networks from a TensorFlow checkpoint, in memory.

    Parameters
    ----------
    path : path-like
        Checkpoint prefix (``…/model.ckpt-12255``) or training folder.
    arch : {"wavegan", "ciwgan", "fiwgan"}, optional
    n_codes : int, optional

    Returns
    -------
    config : ModelConfig
    generator, critic, qnetwork : nn.Module (critic / qnetwork None when absent)
    meta : dict
        Where it came from: prefix, step, args.txt, variables skipped.
    """
    ckpt = TFCheckpoint(path)
    args = read_args_txt(ckpt.prefix.parent)
    config = infer_tf_config(ckpt, arch, n_codes, args)
    r = _Reader(ckpt)
    G = Generator(config)
    load_state(G, _generator_state(r, config), ckpt.index_path, "generator")
    D = Q = None
    if "D/downconv_0/conv1d/kernel" in ckpt.entries:
        D = Critic(config)
        load_state(D, _trunk_state(r, D, config, "D", "", "output"), ckpt.index_path, "critic")
    if config.arch != "wavegan" and "Q/Qdownconv_0/conv1d/kernel" in ckpt.entries:
        Q = QNetwork(config)
        load_state(Q, _trunk_state(r, Q, config, "Q", "Q", "Qoutput"), ckpt.index_path, "qnetwork")
    left = [n for n in ckpt.names() if n not in r.used and not is_optimizer_state(n)
            and n.split("/")[0] in ("G", "D", "Q")]
    if left:
        raise GanphonError(f"{ckpt.index_path}: variable {left[0]!r} does not fit a WaveGAN "
                           f"{'with this config' if len(left) == 1 else f'(and {len(left) - 1} more)'}")
    step = None
    if "global_step" in ckpt.entries:
        step = int(ckpt.read("global_step"))
    elif m := re.search(r"-(\d+)$", ckpt.prefix.name):
        step = int(m.group(1))
    meta = {"source": "tensorflow", "imported_from": str(ckpt.prefix), "step": step,
            "tf_args": args or None,
            "skipped": sorted(n for n in ckpt.names() if n not in r.used)}
    return config, G.eval(), (D.eval() if D is not None else None), (Q.eval() if Q is not None else None), meta


def import_tf(path, out, arch: str | None = None, n_codes: int | None = None) -> Path:
    """Convert a TensorFlow WaveGAN / ciwGAN / fiwGAN checkpoint to one ganphon checkpoint.

    Parameters
    ----------
    path : path-like
        Checkpoint prefix (``…/model.ckpt-12255``) or a training folder (its
        ``checkpoint`` file names the latest step; ``args.txt`` is read when
        present).
    out : path-like
        The ganphon checkpoint to write (atomically).
    arch : {"wavegan", "ciwgan", "fiwgan"}, optional
        Required for ciwGAN / fiwGAN.
    n_codes : int, optional
        Number of codes; read from the Q-network or args.txt when not given.

    Returns
    -------
    Path
        ``out``.

    Examples
    --------
    >>> import_tf("train_ciwgan/", "ciwgan.pt", arch="ciwgan")
    >>> m = load_checkpoint("ciwgan.pt")
    """
    config, G, D, Q, meta = read_tf_checkpoint(path, arch, n_codes)
    meta["skipped"] = len(meta["skipped"])
    return save_checkpoint(out, config, generator=G, critic=D, qnetwork=Q, meta=meta)
