"""Individual feature maps (paper §IV-E): activation profiles, clustering, cosine ranking."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .. import layout
from ..errors import GanphonError, first_line, os_problem
from .tables import sort_layers

FEATURE_MAPS_GLOB = layout.feature_maps("*")

# --------------------------------------------------------------------------
# Individual feature maps (paper §IV-E)


def activation_profiles(maps) -> np.ndarray:
    """Average each feature map across outputs: [N, C, n] → [C, n].

    Parameters
    ----------
    maps : array-like
        Feature maps of one layer for N outputs (``featuremaps_<layer>.npy``).

    Returns
    -------
    numpy.ndarray
        Activation profiles, float64 [C, n].
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise GanphonError(f"feature maps must be [N, channels, samples], got shape {maps.shape}")
    if maps.shape[0] == 0:
        raise GanphonError("feature maps hold no outputs")
    return maps.mean(axis=0, dtype=np.float64)


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator, n_init: int = 10, iters: int = 100):
    """Lloyd's k-means with k-means++ starts; the best of ``n_init`` by inertia."""
    best_labels, best_inertia = None, math.inf
    n = len(points)
    for _ in range(n_init):
        centres = [points[rng.integers(n)]]
        for _ in range(1, k):
            d2 = np.min([np.sum((points - c) ** 2, axis=1) for c in centres], axis=0)
            total = d2.sum()
            pick = rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)
            centres.append(points[pick])
        centres = np.array(centres)
        labels = None
        for _ in range(iters):
            d2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
            new = d2.argmin(axis=1)
            if labels is not None and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                if np.any(labels == j):
                    centres[j] = points[labels == j].mean(axis=0)
        inertia = float(((points - centres[labels]) ** 2).sum())
        if inertia < best_inertia - 1e-12:
            best_labels, best_inertia = labels, inertia
    return best_labels


def cluster_feature_maps(profiles, gamma: float = 1e-10, k: int = 2, seed: int = 0) -> np.ndarray:
    """Spectral clustering of activation profiles with an RBF affinity (paper: γ = 1e-10, k = 2).

    Affinity ``A_ij = exp(−γ‖p_i − p_j‖²)`` (zero diagonal), the ``k``
    leading eigenvectors of ``D^{-1/2} A D^{-1/2}`` (the normalised
    Laplacian's smallest), rows scaled to unit length, then k-means with the
    given seed.

    Parameters
    ----------
    profiles : array-like
        [C, n] activation profiles (:func:`activation_profiles`).
    gamma : float
        RBF width.
    k : int
        Number of clusters.
    seed : int
        Seed of the k-means starts.

    Returns
    -------
    numpy.ndarray
        Cluster of each map (int, 0 … k−1), numbered in order of first appearance.
    """
    from scipy.spatial.distance import cdist

    P = np.asarray(profiles, dtype=np.float64)
    if P.ndim != 2:
        raise GanphonError(f"profiles must be [maps, samples], got shape {P.shape}")
    if not 2 <= k <= len(P):
        raise GanphonError(f"k = {k} clusters need 2 ≤ k ≤ the number of maps ({len(P)})")
    if not np.all(np.isfinite(P)):
        raise GanphonError("profiles contain NaN or infinite values")
    if not gamma > 0:
        raise GanphonError(f"gamma must be positive, got {gamma}")
    scaled = gamma * cdist(P, P, "sqeuclidean")
    if scaled.max() < 1e-9:
        # every affinity would be 1 to within rounding: the partition would be noise
        median = float(np.median(scaled[np.triu_indices(len(P), 1)]) / gamma)
        raise GanphonError(f"gamma = {gamma:g} is too small for these profiles (squared distances up to "
                           f"{scaled.max() / gamma:.3g}); use a larger gamma, e.g. {1 / max(median, 1e-300):.3g}")
    A = np.exp(-scaled)
    np.fill_diagonal(A, 0.0)
    degree = A.sum(axis=1)
    if np.any(degree <= 0):
        raise GanphonError(f"gamma = {gamma:g} leaves some maps unconnected; use a smaller gamma")
    inv_sqrt = 1.0 / np.sqrt(degree)
    S = inv_sqrt[:, None] * A * inv_sqrt[None, :]
    _, vectors = np.linalg.eigh((S + S.T) / 2.0)
    U = vectors[:, -k:]
    U = U / np.maximum(np.linalg.norm(U, axis=1, keepdims=True), 1e-300)
    labels = _kmeans(U, k, np.random.default_rng(seed))
    _, first = np.unique(labels, return_index=True)
    renumber = {old: new for new, old in enumerate(labels[np.sort(first)])}
    return np.array([renumber[x] for x in labels], dtype=int)


def rank_maps_by_cosine(maps_a, maps_b) -> pd.DataFrame:
    """Rank feature maps by the cosine distance between two conditions' profiles.

    Parameters
    ----------
    maps_a, maps_b : array-like
        Feature maps [N, C, n] (or profiles [C, n]) of the same layer under
        two conditions (e.g. z11 = −15 and z11 = 15).

    Returns
    -------
    pandas.DataFrame
        Columns map, cosine_distance, rank (1 = most different); maps silent
        in a condition have NaN distance and come last.
    """
    a, b = (np.asarray(m, dtype=np.float64) for m in (maps_a, maps_b))
    a = activation_profiles(a) if a.ndim == 3 else a
    b = activation_profiles(b) if b.ndim == 3 else b
    if a.shape != b.shape or a.ndim != 2:
        raise GanphonError(f"the two conditions' maps differ in shape: {a.shape} vs {b.shape}")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        distance = np.where(norms > 0, 1.0 - np.sum(a * b, axis=1) / norms, np.nan)
    out = pd.DataFrame({"map": np.arange(len(a)), "cosine_distance": distance})
    out = out.sort_values("cosine_distance", ascending=False, na_position="last", kind="stable")
    out["rank"] = np.arange(1, len(out) + 1)
    return out.reset_index(drop=True)


def read_feature_maps(folder) -> dict:
    """Feature maps saved by ``ganphon probe --feature-maps``: layer → array [N, C, n]."""
    found = {}
    for path in sorted(Path(folder).glob(FEATURE_MAPS_GLOB)):
        layer = path.stem[len(layout.FEATURE_MAPS_PREFIX):]
        try:
            found[layer] = np.load(path, mmap_mode="r")
        except (ValueError, OSError) as exc:
            problem = os_problem(exc) if isinstance(exc, OSError) else first_line(exc)
            raise GanphonError(f"{path}: cannot read feature maps ({problem})") from None
    return {layer: found[layer] for layer in sort_layers(found)}

