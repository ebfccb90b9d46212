"""Make the TensorFlow fixtures under tests/fixtures/tf/ with real TensorFlow.

NOT run by CI or by the test suite: its outputs are committed.  It needs
TensorFlow 2.x with tf-keras in a separate environment (TensorFlow is ~600 MB
and ganphon does not depend on it)::

    python3 -m venv /work/tfvenv
    /work/tfvenv/bin/pip install tensorflow==2.21.0 tf-keras==2.21.0
    TF_USE_LEGACY_KERAS=1 /work/tfvenv/bin/python tests/make_tf_fixtures.py

What it does
------------
It builds the WaveGAN generator, critic and ciwGAN/fiwGAN Q-network as TF1
graphs (``tf.compat.v1`` graph mode, ``tf.layers.dense`` /
``conv2d_transpose`` / ``conv1d`` / ``batch_normalization``), written here
from the published architecture (Donahue et al. 2019; Beguš 2021) with the
variable scopes of the original training scripts (``G/z_project``,
``G/upconv_i``, ``D/downconv_i``, ``D/output``, ``Q/Qdownconv_i``,
``Q/Qoutput``).  Biases and batch-norm parameters are set to random values
(TensorFlow initialises them to 0 / 1, which would hide mapping mistakes).
Each model is saved with ``tf.compat.v1.train.Saver`` into a folder laid out
like a training folder (``model.ckpt-N.index``, ``.data-00000-of-00001``, the
``checkpoint`` file, ``args.txt`` in the scripts' ``key,value`` format), with
a few optimizer slots (``…/Adam``, ``…/RMSProp``, ``beta1_power``,
``global_step``) so that the importer is seen to skip them.  Next to it,
``reference.npz`` holds, for fixed latents, what TensorFlow computed:

* ``z`` — the latents;
* ``g_dense``, ``g_conv1`` … — each generator layer's mean over channels after
  ReLU, ``output`` — the waveforms;
* ``q_conv1`` … (after LeakyReLU) and ``q_logits`` for the Q-network run on
  those waveforms (batch norm on the batch's statistics, as TensorFlow's Q
  always does; no phase shuffle), ``d_logits`` likewise for the critic;
* ``q_logits_f64``, ``d_logits_f64`` — the same critic / Q-network run by
  TensorFlow in float64 on the same weights (see :func:`critic_float64`);
* ``tf_names``, ``tf_shapes``, ``tf_sha256`` — every variable as
  ``tf.train.load_checkpoint`` reads it (a cross-check of ganphon's reader).

Three models use WaveGAN's artefact controls, built as its training script
builds them: ``--wavegan_genr_upsample nn`` (``tf.image.resize_nearest_neighbor``
to stride × the length, then ``conv1d`` stride 1, 'same'; variables
``G/upconv_i/conv1d/{kernel,bias}``) and ``--wavegan_genr_pp`` (``conv1d`` of 512
taps, one filter, no bias, 'same', after the tanh, in scope ``G/pp_filt``).  With
the filter, ``g_output`` is the tanh output before it and ``output`` the filtered
waveform.

The small ``bad_*`` folders are checkpoints ganphon must refuse: one with a
partitioned variable, and a checkpoint of some other network.

Only some fixtures: name them, e.g. ``make_tf_fixtures.py ciwgan_d2_pp``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

v1 = tf.compat.v1
OUT = Path(__file__).resolve().parent / "fixtures" / "tf"
KERNEL = 25
STRIDE = 4


def generator(z, slice_len, dim, batchnorm, upsample="zeros", nch=1, postproc_len=0):
    """The WaveGAN generator at inference (batch norm on its moving averages).

    Returns the waveform [B, slice_len, nch] and each layer's activations.
    ``postproc_len``: the training script's post-processing filter after the
    generator (``G/pp_filt``), layer ``postproc``.
    """
    def norm(x):
        return v1.layers.batch_normalization(x, training=False) if batchnorm else x

    channels = dim * (16 if slice_len == 16384 else 32)
    n_up = 5 if slice_len == 16384 else 6
    acts = {}
    with v1.variable_scope("z_project"):
        x = v1.layers.dense(z, 16 * channels)
        x = tf.reshape(x, [-1, 16, channels])  # time-major, channels last
        x = norm(x)
    x = tf.nn.relu(x)
    acts["dense"] = x
    for i in range(n_up):
        last = i == n_up - 1
        cout = nch if last else channels // 2 ** (i + 1)
        with v1.variable_scope(f"upconv_{i}"):
            if upsample == "zeros":
                x = v1.layers.conv2d_transpose(tf.expand_dims(x, 1), cout, (1, KERNEL),
                                               strides=(1, STRIDE), padding="same")[:, 0]
            else:  # nearest-neighbour upsampling, then a 'same' convolution
                n = x.get_shape().as_list()[1]
                x = v1.image.resize_nearest_neighbor(tf.expand_dims(x, 1), [1, n * STRIDE])[:, 0]
                x = v1.layers.conv1d(x, cout, KERNEL, 1, padding="same")
            if not last:
                x = norm(x)
        x = tf.nn.tanh(x) if last else tf.nn.relu(x)
        acts["output" if last else f"conv{i + 1}"] = x
    if postproc_len:
        with v1.variable_scope("pp_filt"):
            x = v1.layers.conv1d(x, 1, postproc_len, use_bias=False, padding="same")
        acts["postproc"] = x
    return x, acts


def critic(x, dim, batchnorm, n_out, prefix=""):
    """The WaveGAN critic / Q trunk: strided 'SAME' conv1d, LeakyReLU 0.2, batch norm
    on batch statistics after the first layer; no phase shuffle (it is random)."""
    def norm(h):
        return v1.layers.batch_normalization(h, training=True) if batchnorm else h

    slice_len = x.get_shape().as_list()[1]
    n_layers = 5 if slice_len == 16384 else 6
    acts = {}
    for i in range(n_layers):
        with v1.variable_scope(f"{prefix}downconv_{i}"):
            x = v1.layers.conv1d(x, dim * 2 ** i, KERNEL, STRIDE, padding="SAME")
            if i > 0:
                x = norm(x)
        x = tf.maximum(0.2 * x, x)
        acts[f"conv{i + 1}"] = x
    n, c = x.get_shape().as_list()[1:]
    x = tf.reshape(x, [-1, n * c])  # time-major flatten of [16, C]
    with v1.variable_scope(f"{prefix}output"):
        logits = v1.layers.dense(x, n_out)
    return logits, acts


def randomise(sess, rng):
    """Random biases and batch-norm parameters; kernels keep TF's Glorot init.

    The critic's and Q-network's convolution biases get a smaller scale: the
    random generator's output is quiet (~0.1, first-layer spread ~0.004), and
    biases of 0.1 make those layers nearly constant per channel, so that batch
    norm on batch statistics divides by a tiny spread and float32 rounding
    alone — in TensorFlow as in any other implementation — reaches ~3e-5 at the
    logits (measured: ganphon in float32 vs float64 differs as much).  At 0.001
    they are still large against that spread, so a mapping mistake shows.
    """
    for v in v1.global_variables():
        name, shape = v.op.name, v.get_shape().as_list()
        if name.endswith("bias") and "downconv" in name:
            value = rng.normal(0, 0.001, shape)
        elif name.endswith(("bias", "beta", "moving_mean")):
            value = rng.normal(0, 0.1, shape)
        elif name.endswith(("gamma", "moving_variance")):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            continue
        v.load(value.astype(np.float32), sess)


def latents(arch, n_codes, n, latent_dim, rng):
    z = rng.uniform(-1, 1, (n, latent_dim)).astype(np.float32)
    if arch == "ciwgan":
        z[:, :n_codes] = np.eye(n_codes, dtype=np.float32)[np.arange(n) % n_codes]
    elif arch == "fiwgan":
        z[:, :n_codes] = rng.integers(0, 2, (n, n_codes))
    return z


def write_args(folder, **kw):
    """args.txt as the original scripts write it: sorted ``key,value`` lines."""
    args = dict(data_sample_rate=16000, data_num_channels=1, wavegan_kernel_len=KERNEL,
                wavegan_genr_upsample="zeros", wavegan_genr_pp=False, wavegan_genr_pp_len=512,
                wavegan_disc_phaseshuffle=2, wavegan_loss="wgan-gp", train_batch_size=64)
    args.update(kw)
    (folder / "args.txt").write_text("\n".join(f"{k},{v}" for k, v in sorted(args.items())))


def tf_listing(prefix):
    reader = tf.train.load_checkpoint(str(prefix))
    names = sorted(reader.get_variable_to_shape_map())
    shapes = [",".join(map(str, reader.get_variable_to_shape_map()[k])) for k in names]
    digests = [hashlib.sha256(np.ascontiguousarray(reader.get_tensor(k)).tobytes()).hexdigest() for k in names]
    return np.array(names), np.array(shapes), np.array(digests)


def make_model(name, arch, dim, slice_len, batchnorm, n_codes=0, n_latents=3, with_q=False,
               with_d=False, step=1000, seed=0, latent_dim=100, upsample="zeros", postproc_len=0):
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(seed)
        z_ph = v1.placeholder(tf.float32, [None, latent_dim], name="z")
        with v1.variable_scope("G"):
            wave, g_acts = generator(z_ph, slice_len, dim, batchnorm, upsample, postproc_len=postproc_len)
        x_ph = v1.placeholder(tf.float32, [None, slice_len, 1], name="x")
        q_logits = d_logits = None
        if with_d:
            with v1.variable_scope("D"):
                d_logits, _ = critic(x_ph, dim, batchnorm, 1)
        if with_q:
            with v1.variable_scope("Q"):
                q_logits, q_acts = critic(x_ph, dim, batchnorm, n_codes, prefix="Q")
        # A few optimizer slots and counters, as a training checkpoint has them.
        step_var = v1.train.get_or_create_global_step()
        g_bias = [v for v in v1.trainable_variables("G") if v.op.name.endswith("bias")]
        g_loss = tf.reduce_mean(wave) + sum(tf.reduce_sum(b) for b in g_bias)
        train_ops = [v1.train.AdamOptimizer(1e-4, 0.5, 0.9).minimize(g_loss, var_list=g_bias, global_step=step_var)]
        if with_q:
            q_bias = [v for v in v1.trainable_variables("Q") if v.op.name.endswith("bias")]
            train_ops.append(v1.train.RMSPropOptimizer(1e-4).minimize(tf.reduce_sum(q_logits), var_list=q_bias))
        saver = v1.train.Saver(v1.global_variables(), max_to_keep=1)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            randomise(sess, rng)
            step_var.load(step, sess)
            z = latents(arch, n_codes, n_latents, latent_dim, rng)
            out, acts = sess.run([wave, g_acts], {z_ph: z})
            ref = {"z": z, "output": out[:, :, 0]}
            final = "postproc" if postproc_len else "output"
            for layer, a in acts.items():
                if layer != final:  # the waveform itself is "output"
                    ref[f"g_{layer}"] = a.mean(axis=-1)
            if with_q:
                logits, qa = sess.run([q_logits, q_acts], {x_ph: out})
                ref["q_logits"] = logits
                for layer, a in qa.items():
                    ref[f"q_{layer}"] = a.mean(axis=-1)
            if with_d:
                ref["d_logits"] = sess.run(d_logits, {x_ph: out})
            prefix = saver.save(sess, str(folder / "model.ckpt"), global_step=step, write_meta_graph=False)
            weights = {v.op.name: sess.run(v) for v in v1.global_variables()}
    if with_q or with_d:
        ref.update(critic_float64(weights, ref["output"], dim, batchnorm, n_codes, with_q, with_d))
    write_args(folder, data_slice_len=slice_len, wavegan_dim=dim, wavegan_latent_dim=latent_dim,
               wavegan_batchnorm=batchnorm, wavegan_genr_upsample=upsample,
               wavegan_genr_pp=bool(postproc_len), wavegan_genr_pp_len=postproc_len or 512,
               **({"num_categ": n_codes} if arch != "wavegan" else {}))
    ref["tf_names"], ref["tf_shapes"], ref["tf_sha256"] = tf_listing(prefix)
    np.savez_compressed(folder / "reference.npz", arch=arch, tf_version=tf.__version__, **ref)
    report(folder, ref)


def critic_float64(weights, waves, dim, batchnorm, n_codes, with_q, with_d):
    """The same critic / Q-network graph in float64, on the same weights and waveforms.

    Batch norm on batch statistics divides by each channel's spread, and over
    five such layers float32 rounding reaches ~1e-5 at the logits in any
    implementation.  TensorFlow's float64 numbers are the exact reference the
    tests compare ganphon's float64 run with.
    """
    out = {}
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float64, [None, waves.shape[1], 1])
        nets = {}
        if with_d:
            with v1.variable_scope("D"):
                nets["d"] = critic(x, dim, batchnorm, 1)
        if with_q:
            with v1.variable_scope("Q"):
                nets["q"] = critic(x, dim, batchnorm, n_codes, prefix="Q")
        with v1.Session(graph=graph) as sess:
            for v in v1.global_variables():
                v.load(weights[v.op.name].astype(np.float64), sess)
            for key, (logits, acts) in nets.items():
                out[f"{key}_logits_f64"] = sess.run(logits, {x: waves[:, :, None].astype(np.float64)})
    return out


def make_bad(name, build):
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(1)
        build()
        saver = v1.train.Saver(v1.global_variables())
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            saver.save(sess, str(folder / "model.ckpt"), global_step=5, write_meta_graph=False)
    print(f"{name}: {sorted(tf.train.load_checkpoint(str(folder / 'model.ckpt-5')).get_variable_to_shape_map())}")


def _bad_partitioned():
    z = v1.placeholder(tf.float32, [None, 4])
    with v1.variable_scope("G"):
        with v1.variable_scope("z_project", partitioner=v1.fixed_size_partitioner(2)):
            with v1.variable_scope("dense"):
                kernel = v1.get_variable("kernel", [4, 256])
        x = tf.nn.relu(tf.reshape(tf.matmul(z, kernel), [-1, 16, 16]))
        for i in range(5):
            with v1.variable_scope(f"upconv_{i}"):
                x = v1.layers.conv2d_transpose(tf.expand_dims(x, 1), max(16 // 2 ** (i + 1), 1), (1, KERNEL),
                                               strides=(1, STRIDE), padding="same")[:, 0]


def _bad_other_network():
    x = v1.placeholder(tf.float32, [None, 8])
    h = v1.layers.dense(x, 4, activation=tf.nn.relu)
    v1.layers.dense(h, 2)
    v1.train.get_or_create_global_step()


def report(folder, ref):
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"{folder.name}: {size / 1e6:.2f} MB; " + ", ".join(
        f"{k} {tuple(v.shape)}" for k, v in ref.items() if k.startswith(("g_", "q_", "d_", "output"))))


def main(names=()):
    OUT.mkdir(parents=True, exist_ok=True)
    print("TensorFlow", tf.__version__)
    makers = {
        "wavegan_d8": lambda: make_model("wavegan_d8", "wavegan", dim=8, slice_len=16384, batchnorm=False,
                                         n_latents=2, step=12255, seed=1),
        "ciwgan_d4_bn": lambda: make_model("ciwgan_d4_bn", "ciwgan", dim=4, slice_len=16384, batchnorm=True,
                                           n_codes=3, with_q=True, step=15920, seed=2),
        "fiwgan_d2_65536": lambda: make_model("fiwgan_d2_65536", "fiwgan", dim=2, slice_len=65536,
                                              batchnorm=False, n_codes=3, n_latents=2, with_q=True,
                                              with_d=True, step=800, seed=3),
        "wavegan_d1_bn_65536": lambda: make_model("wavegan_d1_bn_65536", "wavegan", dim=1, slice_len=65536,
                                                  batchnorm=True, n_latents=1, step=50, seed=4),
        # WaveGAN's artefact controls
        "wavegan_d2_bn_nn": lambda: make_model("wavegan_d2_bn_nn", "wavegan", dim=2, slice_len=16384,
                                               batchnorm=True, n_latents=2, step=3000, seed=5, upsample="nn"),
        "ciwgan_d2_pp": lambda: make_model("ciwgan_d2_pp", "ciwgan", dim=2, slice_len=16384, batchnorm=False,
                                           n_codes=3, with_q=True, with_d=True, step=4000, seed=6,
                                           postproc_len=512),
        "wavegan_d1_nn_pp": lambda: make_model("wavegan_d1_nn_pp", "wavegan", dim=1, slice_len=16384,
                                               batchnorm=False, n_latents=2, step=500, seed=7, upsample="nn",
                                               postproc_len=512),
        "bad_partitioned": lambda: make_bad("bad_partitioned", _bad_partitioned),
        "bad_other_network": lambda: make_bad("bad_other_network", _bad_other_network),
    }
    unknown = sorted(set(names) - set(makers))
    if unknown:
        raise SystemExit(f"unknown fixtures {unknown}; choose from {sorted(makers)}")
    for name, make in makers.items():
        if not names or name in names:
            make()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"all fixtures under {OUT}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
