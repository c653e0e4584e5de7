"""Registration-style augmentation: shear and smooth deformable warps, off by default, labels consistent."""

from __future__ import annotations

import torch

from cmrseg.config import load_config
from cmrseg.engine.trainer import augment_batch
from cmrseg.transforms.spatial import SpatialAugConfig, affine_warp, sample_affine, sample_elastic


def test_defaults_draw_nothing_new_so_existing_runs_keep_their_random_streams() -> None:
    cfg = SpatialAugConfig()
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    a = sample_affine(5, cfg, g1)
    assert sample_elastic(5, (32, 32), cfg, g1) is None
    b = sample_affine(5, SpatialAugConfig(shear=0.0, elastic_p=0.0, elastic_magnitude=0.5), g2)
    assert torch.equal(a, b) and torch.equal(g1.get_state(), g2.get_state())


def test_shear_changes_only_the_linear_part_and_keeps_the_other_draws() -> None:
    base = sample_affine(4, SpatialAugConfig(p=1.0), torch.Generator().manual_seed(3))
    sheared = sample_affine(4, SpatialAugConfig(p=1.0, shear=0.3), torch.Generator().manual_seed(3))
    assert torch.allclose(base[:, :, 2], sheared[:, :, 2])  # translation untouched
    assert torch.allclose(base[:, :, 0], sheared[:, :, 0])  # first column: theta @ [[1, s], [0, 1]]
    s = (sheared[:, 0, 1] - base[:, 0, 1]) / base[:, 0, 0]
    assert torch.allclose(sheared[:, :, 1], base[:, :, 1] + s[:, None] * base[:, :, 0], atol=1e-6)
    assert s.abs().max() <= 0.3 and s.abs().max() > 0


def test_elastic_field_is_smooth_of_the_requested_size_and_applied_with_probability() -> None:
    cfg = SpatialAugConfig(elastic_p=0.5, elastic_grid=4, elastic_magnitude=0.05)
    disp = sample_elastic(200, (64, 64), cfg, torch.Generator().manual_seed(0))
    assert disp.shape == (200, 64, 64, 2)
    moved = disp.abs().amax(dim=(1, 2, 3)) > 0
    assert 0.4 < moved.float().mean() < 0.6
    # std of the control points = 0.05 x side = 0.1 normalised units; at corners the field equals them
    assert abs(float(disp[moved][:, 0, 0].std()) - 0.1) < 0.015
    # smooth: neighbouring pixels move almost together (max step << the field's amplitude)
    step = (disp[:, 1:] - disp[:, :-1]).abs().max()
    assert step < 0.1 * disp.abs().max()


def test_image_and_label_are_warped_consistently() -> None:
    label = torch.zeros(2, 64, 64, dtype=torch.long)
    label[:, 20:44, 16:40] = 1
    label[:, 28:36, 24:32] = 2
    image = label[:, None].float()  # an image that is its own label map
    cfg = load_config(None, ["augment.spatial={p: 1.0, shear: 0.2, elastic_p: 1.0, elastic_magnitude: 0.03}",
                             "augment.intensity={p: 0.0}"])
    out = augment_batch({"image": image, "label": label, "valid": torch.ones(2, 1, 64, 64)}, cfg,
                        torch.Generator().manual_seed(0))
    assert not torch.equal(out["label"], label)  # really moved
    assert set(out["label"].unique().tolist()) <= {0, 1, 2}  # nearest neighbour: no new codes
    # the bilinearly warped image rounds to the nearest-warped label except on a thin boundary band
    agree = (out["image"][:, 0].round().long() == out["label"]).float().mean()
    assert agree > 0.97
    # the displacement is the same one: warping the label with the affine part alone differs
    theta = sample_affine(2, cfg.augment.spatial, torch.Generator().manual_seed(0))
    affine_only = affine_warp(label[:, None].float(), theta, mode="nearest")[:, 0].long()
    assert not torch.equal(affine_only, out["label"])
