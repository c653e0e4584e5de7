"""Cluster-to-class matching: a permuted perfect clustering scores Dice 1 only after matching."""

import nibabel as nib
import numpy as np

from cmrseg.metrics import evaluate_folders
from cmrseg.metrics.clusters import match_clusters


def _label() -> np.ndarray:
    lab = np.zeros((3, 20, 20), np.uint8)
    lab[:, 2:8, 2:8] = 1
    lab[:, 10:18, 10:18] = 2
    lab[:, 12:16, 12:16] = 3
    return lab


def test_match_clusters_recovers_permutation() -> None:
    gt = _label()
    perm = np.array([2, 3, 0, 1])  # cluster code of each class
    mapping, dice = match_clusters([perm[gt]], [gt], 4, 4)
    assert np.array_equal(mapping[perm[gt]], gt)
    assert dice.max() == 1.0


def test_evaluate_folders_with_cluster_matching(tmp_path) -> None:
    gt = _label()
    perm = np.array([1, 3, 0, 2])
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    aff = np.diag([1.5, 1.5, 8.0, 1.0])
    nib.save(nib.Nifti1Image(np.transpose(perm[gt], (2, 1, 0)).astype(np.uint8), aff), tmp_path / "pred" / "a.nii.gz")
    nib.save(nib.Nifti1Image(np.transpose(gt, (2, 1, 0)), aff), tmp_path / "gt" / "a_gt.nii.gz")
    raw = evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    matched = evaluate_folders(tmp_path / "pred", tmp_path / "gt", match_clusters=True)
    assert raw.summary["mean"]["dice_mean"] < 0.5
    assert matched.summary["mean"]["dice_mean"] == 1.0
    assert matched.extra["cluster_mapping"] == [2, 0, 3, 1]
