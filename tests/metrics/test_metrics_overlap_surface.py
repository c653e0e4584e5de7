"""Dice, HD95 and ASSD against MONAI and analytic values; the empty-mask policy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from cmrseg.metrics import assd, dice, dice_per_structure, hd95, penalty_mm, surface_distances


@pytest.fixture
def spacing() -> tuple[float, float, float]:
    return (5.0, 1.2, 0.8)


def ellipsoid(shape: tuple[int, int, int], centre_vox: tuple[float, float, float], radius_mm: float,
              spacing: tuple[float, float, float]) -> np.ndarray:
    """Boolean ball of ``radius_mm`` (in physical space) around a voxel-coordinate centre."""
    grid = np.indices(shape, dtype=float)
    d2 = sum(((grid[a] - centre_vox[a]) * spacing[a]) ** 2 for a in range(3))
    return d2 <= radius_mm ** 2


def monai_reference(pred: np.ndarray, gt: np.ndarray, spacing) -> tuple[float, float, float]:
    """(Dice, HD95 mm, ASSD mm) from MONAI on two binary 3D masks."""
    from monai.metrics import compute_average_surface_distance, compute_dice, compute_hausdorff_distance

    p = torch.from_numpy(pred[None, None].astype(np.float32))
    g = torch.from_numpy(gt[None, None].astype(np.float32))
    sp = [float(s) for s in spacing]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = float(compute_dice(p, g, include_background=True))
        hd = float(compute_hausdorff_distance(p, g, include_background=True, percentile=95, spacing=sp))
        asd = float(compute_average_surface_distance(p, g, include_background=True, symmetric=True, spacing=sp))
    return d, hd, asd


def test_dice_known_values():
    a = np.zeros((2, 4, 4), bool)
    a[0, :2, :2] = True  # 4 voxels
    b = np.zeros_like(a)
    b[0, :2, :1] = True  # 2 voxels, inside a
    assert dice(a, b) == pytest.approx(2 * 2 / 6, abs=1e-12)
    assert dice(a, a) == 1.0
    assert dice(a, ~a) == 0.0
    assert dice(np.zeros_like(a), np.zeros_like(a)) == 1.0


def test_dice_per_structure_names_and_values():
    gt = np.zeros((1, 2, 4), np.uint8)
    gt[0, 0] = [3, 3, 2, 1]
    pred = gt.copy()
    pred[0, 0, 0] = 2
    d = dice_per_structure(pred, gt)
    assert list(d) == ["LV", "Myo", "RV"]
    assert d["LV"] == pytest.approx(2 / 3) and d["Myo"] == pytest.approx(2 / 3) and d["RV"] == 1.0


@pytest.mark.parametrize("k", [1, 2, 3])
def test_box_shifted_along_x_analytic_and_monai(k, spacing):
    """Box shifted k voxels along x: Dice = (nx - k) / nx and HD95 = k * sx exactly."""
    nx = 10
    gt = np.zeros((8, 16, 24), bool)
    gt[2:6, 3:11, 4:4 + nx] = True
    pred = np.roll(gt, k, axis=2)
    sd = surface_distances(pred, gt, spacing)
    assert sd.status == "ok"
    assert dice(pred, gt) == pytest.approx((nx - k) / nx, abs=1e-12)
    assert sd.hd95_mm == pytest.approx(k * spacing[2], abs=1e-9)
    m_dice, m_hd, m_asd = monai_reference(pred, gt, spacing)
    assert dice(pred, gt) == pytest.approx(m_dice, abs=1e-6)
    assert sd.hd95_mm == pytest.approx(m_hd, abs=0.01)
    assert sd.assd_mm == pytest.approx(m_asd, abs=0.01)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_single_slice_rectangle_assd_analytic(k, spacing):
    """One slice thick, every voxel is surface; per row the directed distances are 0 (nx-k times), 1..k * sx.

    So ASSD = sx * k (k + 1) / (2 nx) and, as the largest value k * sx fills 1/nx > 5% of them, HD95 = k * sx.
    """
    nx, ny = 10, 6
    gt = np.zeros((3, 10, 30), bool)
    gt[1, 2:2 + ny, 3:3 + nx] = True
    pred = np.roll(gt, k, axis=2)
    sd = surface_distances(pred, gt, spacing)
    assert sd.assd_mm == pytest.approx(spacing[2] * k * (k + 1) / (2 * nx), abs=1e-9)
    assert sd.hd95_mm == pytest.approx(k * spacing[2], abs=1e-9)
    _, m_hd, m_asd = monai_reference(pred, gt, spacing)
    assert (sd.hd95_mm, sd.assd_mm) == pytest.approx((m_hd, m_asd), abs=0.01)


@pytest.mark.parametrize("shift", [(0, 0, 0), (0, 0, 3), (1, 2, -2), (0, -4, 5)])
def test_sphere_vs_shifted_sphere_matches_monai(shift, spacing):
    shape = (12, 48, 64)
    gt = ellipsoid(shape, (6, 24, 32), 14.0, spacing)
    pred = ellipsoid(shape, tuple(c + s for c, s in zip((6, 24, 32), shift)), 12.5, spacing)
    sd = surface_distances(pred, gt, spacing)
    m_dice, m_hd, m_asd = monai_reference(pred, gt, spacing)
    assert dice(pred, gt) == pytest.approx(m_dice, abs=1e-6)
    assert sd.hd95_mm == pytest.approx(m_hd, abs=0.01)
    assert sd.assd_mm == pytest.approx(m_asd, abs=0.01)
    assert hd95(pred, gt, spacing) == sd.hd95_mm and assd(pred, gt, spacing) == sd.assd_mm


def test_border_touching_and_sparse_outlier_match_monai(spacing):
    """Foreground on the image border is surface; a stray far voxel (KD-tree path) gives the same as MONAI."""
    gt = np.zeros((10, 40, 50), bool)
    gt[:, 0:20, 0:30] = True
    pred = np.zeros_like(gt)
    pred[2:, 5:25, 0:40] = True
    pred[9, 39, 49] = True  # stray voxel in the far corner: large sparse bounding box
    for p, g in ((pred, gt), (gt, pred)):
        sd = surface_distances(p, g, spacing)
        _, m_hd, m_asd = monai_reference(p, g, spacing)
        assert (sd.hd95_mm, sd.assd_mm) == pytest.approx((m_hd, m_asd), abs=0.01)


def test_hd95_is_max_of_directed_percentiles_and_assd_pools_both_directions(spacing):
    """Small pred inside a big GT: the directions differ, so the definitions are distinguishable."""
    shape = (10, 40, 40)
    gt = ellipsoid(shape, (5, 20, 20), 15.0, spacing)
    pred = ellipsoid(shape, (5, 20, 20), 6.0, spacing)
    sd = surface_distances(pred, gt, spacing)
    _, m_hd, m_asd = monai_reference(pred, gt, spacing)
    assert (sd.hd95_mm, sd.assd_mm) == pytest.approx((m_hd, m_asd), abs=0.01)


def test_empty_mask_policy(spacing):
    shape = (10, 20, 30)
    empty = np.zeros(shape, bool)
    full = np.zeros(shape, bool)
    full[3:6, 5:10, 5:10] = True
    penalty = math.sqrt((10 * 5.0) ** 2 + (20 * 1.2) ** 2 + (30 * 0.8) ** 2)
    assert penalty_mm(shape, spacing) == pytest.approx(penalty)

    both = surface_distances(empty, empty, spacing)
    assert (both.status, both.hd95_mm, both.assd_mm, dice(empty, empty)) == ("both_empty", 0.0, 0.0, 1.0)
    missed = surface_distances(empty, full, spacing)
    assert missed.status == "missed" and dice(empty, full) == 0.0
    assert missed.hd95_mm == pytest.approx(penalty) and missed.assd_mm == pytest.approx(penalty)
    fp = surface_distances(full, empty, spacing)
    assert fp.status == "false_positive" and dice(full, empty) == 0.0
    assert fp.hd95_mm == pytest.approx(penalty) and fp.assd_mm == pytest.approx(penalty)


def test_bad_inputs_raise():
    a = np.zeros((2, 3, 4), bool)
    with pytest.raises(ValueError):
        surface_distances(a, np.zeros((2, 3, 5), bool), (1, 1, 1))
    with pytest.raises(ValueError):
        surface_distances(a, a, (1, 0, 1))
