"""Spatial augmentation: the fixed-parameter twin is exactly invertible."""

import torch

from cmrseg.transforms.spatial import SpatialAugConfig, affine_warp, invert_affine, sample_affine


def test_inverse_warp_recovers_image_interior() -> None:
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    x = torch.exp(-((yy - 30) ** 2 + (xx - 34) ** 2) / (2 * 8.0**2)).expand(4, 1, 64, 64)
    theta = sample_affine(4, SpatialAugConfig(p=1.0, rotate_deg=30, scale=(0.9, 1.1), translate=0.05), g)
    warped = affine_warp(x, theta)
    assert (warped - x).abs().max() > 0.1  # the warp really moved the blob
    back = affine_warp(warped, invert_affine(theta))
    assert torch.allclose(back[..., 16:48, 16:48], x[..., 16:48, 16:48], atol=0.02)


def test_p_zero_is_identity() -> None:
    theta = sample_affine(3, SpatialAugConfig(p=0.0))
    x = torch.rand(3, 1, 32, 32)
    assert torch.allclose(affine_warp(x, theta), x, atol=1e-5)


def test_nearest_mode_keeps_label_values() -> None:
    lab = torch.randint(0, 4, (2, 1, 32, 32)).float()
    theta = sample_affine(2, SpatialAugConfig(p=1.0), torch.Generator().manual_seed(1))
    out = affine_warp(lab, theta, mode="nearest")
    assert set(out.unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}
