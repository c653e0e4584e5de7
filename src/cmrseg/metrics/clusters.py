"""Scoring unsupervised clusterings: map arbitrary cluster numbers to anatomical classes.

Used for clusterings whose numbering means nothing (Chan-Vese phases, softmax Mumford-Shah clusters); the
matched score is always reported apart from the raw one, and the mapping is printed with it.
"""

from __future__ import annotations

import numpy as np


def match_clusters(preds: list[np.ndarray], gts: list[np.ndarray], n_clusters: int = 4,
                   n_classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Best one-to-one assignment of unsupervised clusters to ground-truth classes (Hungarian algorithm).

    The Dice of every (cluster, class) pair is computed on all pixels of ``preds`` / ``gts`` pooled, and
    ``scipy.optimize.linear_sum_assignment`` maximises the summed Dice of the matched pairs. Clusters left
    unmatched (``n_clusters > n_classes``) map to class 0. Use it to score clusterings whose numbering is
    arbitrary (Chan-Vese phases, softmax Mumford-Shah clusters), and report it apart from the raw numbering.

    Args:
        preds, gts: equally shaped integer maps, pairwise.
        n_clusters, n_classes: cluster / class codes are ``0..n-1``.

    Returns:
        ``(mapping, dice)``: ``mapping[k]`` = class of cluster ``k`` (apply as ``mapping[pred]``), and the
        (n_clusters, n_classes) pooled Dice matrix.

    Example:
        >>> mapping, _ = match_clusters([np.array([[0, 1], [1, 1]])], [np.array([[1, 0], [0, 0]])], 2, 2)
        >>> mapping.tolist()
        [1, 0]
    """
    from scipy.optimize import linear_sum_assignment

    inter = np.zeros((n_clusters, n_classes))
    n_pred, n_gt = np.zeros(n_clusters), np.zeros(n_classes)
    for p, g in zip(preds, gts):
        p, g = np.asarray(p).ravel().astype(np.int64), np.asarray(g).ravel().astype(np.int64)
        if p.shape != g.shape:
            raise ValueError(f"prediction and ground truth differ in size: {p.size} vs {g.size} voxels")
        inter += np.bincount(p * n_classes + g, minlength=n_clusters * n_classes).reshape(n_clusters, n_classes)
        n_pred += np.bincount(p, minlength=n_clusters)[:n_clusters]
        n_gt += np.bincount(g, minlength=n_classes)[:n_classes]
    denom = n_pred[:, None] + n_gt[None]
    dice = np.where(denom > 0, 2 * inter / np.maximum(denom, 1), 0.0)
    rows, cols = linear_sum_assignment(-dice)
    mapping = np.zeros(n_clusters, np.int64)
    mapping[rows] = cols
    return mapping, dice
