"""Judge a trained generator by numbers: does it make words, do its codes mean something?

On N generated samples (random codes): the automatic segmentation of each
output (``sil`` / ``fric`` / ``voi``, :mod:`ganphon.annotate`) is read as a
word shape —

* ``vowel``: a voiced interval of at least 40 ms;
* ``frication``: a ``fric`` interval (an [s], or a stop's aspiration);
* ``word``: frication or a closure + release before the first vowel, i.e. the
  shapes of #TV (closure, aspiration, vowel) and #sTV (s, closure, short VOT,
  vowel);
* ``s_initial``: a ``fric`` interval of at least 50 ms followed by a closure
  before the first vowel (#sTV).

and, with the model's Q-network, the Q accuracy on the generated samples (does
Q recover the code the generator was given?) and how the share of s-initial
outputs differs between codes (do the codes separate word types?).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import parselmouth
import torch


def word_shape(intervals) -> dict:
    """Classify a list of (start, end, label) auto intervals as a word shape.

    ``word`` needs what a token of the training corpus has: silence of at
    least 20 ms before and 100 ms after the sounding stretch, a sounding
    stretch of at most 700 ms, a vowel (``voi`` ≥ 40 ms) and frication
    (aspiration or [s]) before that vowel.
    """
    segs = [(float(s), float(e), lab) for s, e, lab in intervals]
    sounding = [i for i, (_, _, lab) in enumerate(segs) if lab != "sil"]
    voi = [i for i in sounding if segs[i][2] == "voi" and segs[i][1] - segs[i][0] >= 0.040]
    out = {"vowel": bool(voi), "frication": any(segs[i][2] == "fric" for i in sounding),
           "word": False, "s_initial": False}
    if not voi:
        return out
    first, last = sounding[0], sounding[-1]
    lead = segs[first][0] - segs[0][0]
    trail = segs[-1][1] - segs[last][1]
    span = segs[last][1] - segs[first][0]
    v = voi[0]
    before = segs[first:v]
    out["word"] = (lead >= 0.020 and trail >= 0.100 and span <= 0.700
                   and any(lab == "fric" for _, _, lab in before))
    for i, (s, e, lab) in enumerate(before):
        if lab == "fric" and e - s >= 0.050 and any(l2 == "sil" and e2 - s2 >= 0.015
                                                    for s2, e2, l2 in before[i + 1:]):
            out["s_initial"] = out["word"]
            break
    return out


def evaluate_model(model, n: int = 200, seed: int = 0, progress: bool = False) -> dict:
    """Numbers that say whether a trained generator makes words and uses its codes.

    Parameters
    ----------
    model : LoadedModel
    n : int
        Generated samples.
    seed : int

    Returns
    -------
    dict
        ``n``, ``seed``, ``share_vowel``, ``share_frication``, ``share_word``,
        ``share_s_initial``, ``q_accuracy`` (None without a Q-network), and
        per code ``by_code`` (share of s-initial and of words).
    """
    from ..annotate import segment
    from ..models import Latent

    cfg = model.config
    lat = Latent(cfg)
    z = lat.sample(n, seed)
    with torch.inference_mode():
        waves = torch.cat([model.generator(z[i:i + 64])[:, 0] for i in range(0, n, 64)]).numpy()
    rows = []
    for i in range(n):
        snd = parselmouth.Sound(waves[i].astype(np.float64), sampling_frequency=cfg.sr)
        shape = word_shape(segment(snd))
        shape["code"] = int(torch.argmax(z[i, : cfg.n_codes])) + 1 if cfg.n_codes else 0
        rows.append(shape)
    df = pd.DataFrame(rows)
    result = {"n": n, "seed": seed}
    for col in ("vowel", "frication", "word", "s_initial"):
        result[f"share_{col}"] = round(float(df[col].mean()), 4)
    result["q_accuracy"] = None
    if cfg.n_codes and model.qnetwork is not None:
        with torch.inference_mode():
            logits = torch.cat([model.qnetwork(torch.from_numpy(waves[i:i + 64]).unsqueeze(1))
                                for i in range(0, n, 64)])
        if cfg.arch == "ciwgan":
            acc = (logits.argmax(1) == z[:, : cfg.n_codes].argmax(1)).float().mean()
        else:
            acc = ((logits > 0).float() == z[:, : cfg.n_codes]).float().mean()
        result["q_accuracy"] = round(float(acc), 4)
    if cfg.n_codes and cfg.arch == "ciwgan":
        result["by_code"] = {f"c{c}": {"n": int((df.code == c).sum()),
                                       "share_s_initial": round(float(df[df.code == c].s_initial.mean()), 4),
                                       "share_word": round(float(df[df.code == c].word.mean()), 4)}
                             for c in sorted(df.code.unique())}
    return result
