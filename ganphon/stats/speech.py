"""Statistics of a folder of given waveforms probed through a Q-network or critic.

The layer-vs-input correlation table is the paper's table with the input as
``output`` (:func:`ganphon.stats.correlate.correlation_table`, written by
:func:`ganphon.stats.run.run_stats` for every folder).  What is particular to
such a folder is the network's prediction per item, held in its manifest
(written by :func:`ganphon.speech.probe_speech`), against a label the user
names — e.g. the word of a synthetic corpus (``word``) or the label of the
interval cut from a recording (``input_label``):

* ``predictions.csv`` — one row per item: sample_id, label, the prediction;
* ``confusion.csv`` — label × predicted code counts (Q-network);
* ``prediction_accuracy.csv`` — per label and overall: the code mapped to it
  and the share of its items predicted as that code (Q-network), or the
  critic's score summarised per label.

Which code a Q-network uses for which word is learned, not given, so codes are
mapped to labels by the assignment that maximises the items predicted
correctly (Hungarian algorithm; one code per label, with more labels than
codes some labels get none).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import io, layout
from ..errors import GanphonError

#: Tables :func:`prediction_tables` may write into ``DIR/stats/``.
PREDICTION_TABLES = ("predictions", "confusion", "prediction_accuracy")


def item_predictions(manifest: pd.DataFrame, label_column: str) -> pd.DataFrame:
    """One row per probed item: ``sample_id``, ``label`` and the network's prediction columns.

    Parameters
    ----------
    manifest : DataFrame
        The manifest of a folder written by :func:`ganphon.speech.probe_speech`.
    label_column : str
        The manifest column holding each item's label (``word``, ``input_label`` …).

    Raises
    ------
    GanphonError
        If the manifest has no prediction (not a Q-network / critic probe) or no
        such column, or the column is empty for some item.
    """
    source = manifest.attrs.get("source", layout.MANIFEST)
    if "network" not in manifest.columns or not ({"predicted_code", "critic_score"} & set(manifest.columns)):
        raise GanphonError(f"{source}: no network predictions; the folder was not written by "
                           "'ganphon probe --network q|critic --wavs DIR'")
    if label_column not in manifest.columns:
        have = ", ".join(c for c in manifest.columns if not c.startswith("p_code"))
        raise GanphonError(f"{source}: no column {label_column!r} to compare the predictions with "
                           f"(columns: {have})")
    items = manifest.drop_duplicates("sample_id")
    if items[label_column].isna().any():
        missing = items.loc[items[label_column].isna(), "sample_id"].iloc[0]
        raise GanphonError(f"{source}: column {label_column!r} is empty for {missing}")
    keep = ["sample_id", "network"] + [c for c in items.columns
                                        if c.startswith("p_code") or c in ("predicted_code", "critic_score")]
    out = items[keep].copy()
    out.insert(1, "label", items[label_column].astype(str).to_numpy())
    if "predicted_code" in out.columns:
        out["predicted_code"] = out["predicted_code"].astype(str)
    return out.reset_index(drop=True)


def confusion(items: pd.DataFrame) -> pd.DataFrame:
    """Counts of items per label (rows) and predicted code (columns ``code_<c>``)."""
    table = pd.crosstab(items["label"], items["predicted_code"])
    table.columns = [f"code_{c}" for c in table.columns]
    return table


def best_mapping(items: pd.DataFrame) -> dict:
    """The code → label assignment that predicts the most items correctly.

    Returns
    -------
    dict
        ``{label: code}``; labels left without a code (more labels than codes) are absent.
    """
    from scipy.optimize import linear_sum_assignment

    table = pd.crosstab(items["label"], items["predicted_code"])
    rows, cols = linear_sum_assignment(-table.to_numpy())
    return {table.index[r]: table.columns[c] for r, c in zip(rows, cols)}


def accuracy_table(items: pd.DataFrame) -> pd.DataFrame:
    """Per label (and ``all``): n, the mapped code, n_correct, accuracy, majority baseline.

    For a critic: n and the mean / sd / min / max of its score per label.
    """
    if "predicted_code" not in items.columns:
        g = items.groupby("label", sort=True)["critic_score"]
        out = g.agg(n="size", mean="mean", sd="std", min="min", max="max").reset_index()
        total = items["critic_score"]
        whole = {"label": "all", "n": len(items), "mean": total.mean(), "sd": total.std(),
                 "min": total.min(), "max": total.max()}
        return pd.concat([out, pd.DataFrame([whole])], ignore_index=True)
    mapping = best_mapping(items)
    rows = []
    for label, part in items.groupby("label", sort=True):
        code = mapping.get(label)
        n_correct = int((part["predicted_code"] == code).sum()) if code is not None else 0
        rows.append({"label": label, "n": len(part), "code": code if code is not None else "",
                     "n_correct": n_correct, "accuracy": n_correct / len(part)})
    out = pd.DataFrame(rows)
    n_correct = int(out["n_correct"].sum())
    majority = items["label"].value_counts().iloc[0] / len(items)
    whole = {"label": "all", "n": len(items), "code": "", "n_correct": n_correct,
             "accuracy": n_correct / len(items)}
    out = pd.concat([out, pd.DataFrame([whole])], ignore_index=True)
    out["majority_baseline"] = np.where(out["label"] == "all", majority, np.nan)
    return out


def code_table(items: pd.DataFrame) -> pd.DataFrame:
    """Per predicted code: n items, the most frequent label among them and its share (purity)."""
    rows = []
    for code, part in items.groupby("predicted_code", sort=True):
        counts = part["label"].value_counts()
        rows.append({"code": code, "n": len(part), "top_label": counts.index[0],
                     "n_top": int(counts.iloc[0]), "share_top": counts.iloc[0] / len(part)})
    return pd.DataFrame(rows, columns=["code", "n", "top_label", "n_top", "share_top"])


def prediction_tables(folder, label_column: str) -> tuple[dict, list]:
    """The prediction tables of a probed folder: ``(tables by name, notes)``.

    Parameters
    ----------
    folder : path-like
        Written by :func:`ganphon.speech.probe_speech`.
    label_column : str
        Manifest column with each item's label.

    Returns
    -------
    tables : dict
        ``predictions``, ``prediction_accuracy`` and (Q-network) ``confusion``.
    notes : list of str
    """
    path = Path(folder) / layout.MANIFEST
    # predicted fiwGAN codes are bit strings ("001"): read as text, never as numbers
    manifest = io.read_table(path, "manifest", dtype={"sample_id": str, "predicted_code": str})
    manifest.attrs["source"] = str(path)
    items = item_predictions(manifest, label_column)
    tables = {"predictions": items, "prediction_accuracy": accuracy_table(items)}
    notes = []
    if "predicted_code" in items.columns:
        tables["confusion"] = confusion(items).reset_index()
        acc = tables["prediction_accuracy"]
        overall = acc.loc[acc["label"] == "all", "accuracy"].iloc[0]
        notes.append(f"Q-network predictions vs {label_column}: {overall:.1%} correct with the best "
                     "code-to-label mapping (codes are learned, not given)")
    return tables, notes
