"""Multiphase Chan-Vese comparator (cmrseg.baselines.chan_vese) and cluster-to-class matching."""

from __future__ import annotations

import numpy as np
import pytest

from cmrseg.baselines import chan_vese_multiphase, match_clusters


def _dice_matched(pred: np.ndarray, gt: np.ndarray, k: int) -> np.ndarray:
    mapping, _ = match_clusters([pred], [gt], k, k)
    p = mapping[pred]
    return np.array([2 * ((p == c) & (gt == c)).sum() / ((p == c).sum() + (gt == c).sum()) for c in range(k)])


def _quadrants(levels: list[float], noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    gt = np.zeros((48, 48), np.int64)
    gt[:24, 24:], gt[24:, :24], gt[24:, 24:] = 1, 2, 3
    gt[18:30, 18:30] = 0  # a central square so not every phase is a quadrant
    img = np.array(levels)[gt] + np.random.default_rng(seed).normal(0, noise, gt.shape)
    return img, gt


def test_two_phases_separate_a_two_intensity_image() -> None:
    gt = np.zeros((40, 40), np.int64)
    yy, xx = np.mgrid[:40, :40]
    gt[(yy - 20) ** 2 + (xx - 18) ** 2 < 100] = 1
    img = np.where(gt == 1, 0.8, 0.2) + np.random.default_rng(0).normal(0, 0.1, gt.shape)
    for init in ("otsu", "checkerboard"):
        res = chan_vese_multiphase(img, n_phases=2, init=init, return_result=True)
        assert (_dice_matched(res.label, gt, 2) > 0.95).all()
        assert res.means[0] < res.means[1]  # phases numbered by intensity


def test_four_phases_on_a_four_intensity_image() -> None:
    img, gt = _quadrants([0.1, 0.4, 0.7, 1.0], noise=0.05)
    lab = chan_vese_multiphase(img, n_phases=4)
    assert set(np.unique(lab).tolist()) == {0, 1, 2, 3}
    assert (_dice_matched(lab, gt, 4) > 0.95).all()
    assert (lab == gt).mean() > 0.97  # ordered by intensity, as the levels are


def test_two_phase_matches_skimage() -> None:
    skimage_cv = pytest.importorskip("skimage.segmentation").chan_vese
    img, _ = _quadrants([0.0, 0.3, 0.6, 1.0], noise=0.05, seed=1)
    img = (img - img.min()) / np.ptp(img)
    ours = chan_vese_multiphase(img, 2, mu=0.25, max_iter=50, tol=0.0, init="checkerboard", normalise=False,
                                return_result=True)
    ref = skimage_cv(img, mu=0.25, max_num_iter=50, tol=0.0)
    assert ((ours.phi[0] > 0) == ref).mean() > 0.999


def test_errors() -> None:
    with pytest.raises(ValueError, match="power of two"):
        chan_vese_multiphase(np.zeros((8, 8)), n_phases=3)
    with pytest.raises(ValueError, match="2D"):
        chan_vese_multiphase(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="init"):
        chan_vese_multiphase(np.zeros((8, 8)), init="circles")


def test_match_clusters_permutation_and_extra_clusters() -> None:
    gt = np.repeat(np.arange(4), 25).reshape(10, 10)
    perm = np.array([2, 0, 3, 1])
    mapping, dice = match_clusters([perm[gt]], [gt])
    assert (mapping[perm[gt]] == gt).all() and dice.max() == 1.0
    mapping, _ = match_clusters([np.where(gt == 3, 4, gt)], [gt], n_clusters=5)  # cluster 3 empty
    assert mapping[4] == 3 and mapping[3] == 0
