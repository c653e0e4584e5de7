"""Preprocessing: resampling and crop/pad are undone exactly on the input grid."""

import numpy as np
import pytest
import torch

from cmrseg.data.case import Case
from cmrseg.data.preprocess import PreprocessConfig, normalise_intensity, preprocess, restore_labels


def _disc_case(shape=(4, 150, 130), spacing=(10.0, 1.25, 1.25), radius_mm=30.0) -> Case:
    z, h, w = shape
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((yy - h / 2) * spacing[1], (xx - w / 2) * spacing[2])
    lab = np.zeros(shape, np.uint8)
    lab[:, r < radius_mm] = 3
    lab[:, (r >= radius_mm) & (r < radius_mm + 8)] = 2
    img = (lab * 0.3 + 0.05).astype(np.float32)
    return Case(img, spacing, np.diag([*spacing[::-1], 1.0]), "disc", "p", label=lab)


@pytest.mark.parametrize("fov", [96, 224])  # crop (fov smaller than the image) and pad
def test_restore_is_inverse_of_preprocess(fov: int) -> None:
    case = _disc_case()
    pre = preprocess(case, PreprocessConfig(target_spacing=1.6, fov_px=fov))
    assert pre.image.shape == (4, fov, fov)
    onehot = torch.nn.functional.one_hot(torch.from_numpy(pre.label.astype(np.int64)), 4).permute(0, 3, 1, 2).float()
    back = restore_labels(onehot, pre.geometry)
    assert back.shape == case.shape
    inside = (back == case.label).mean()
    assert inside > 0.99  # only boundary pixels can differ after two resamplings


def test_preprocess_resamples_to_target_spacing() -> None:
    case = _disc_case(spacing=(8.0, 0.75, 0.75), shape=(2, 300, 300))
    pre = preprocess(case, PreprocessConfig(target_spacing=1.5, fov_px=224))
    assert pre.geometry.resampled_yx == (150, 150)
    assert pre.spacing[1] == pytest.approx(1.5)
    # disc area in mm^2 is preserved
    area_in = (case.label == 3).sum() * 0.75**2
    area_out = (pre.label == 3).sum() * 1.5**2
    assert area_out == pytest.approx(area_in, rel=0.03)


@pytest.mark.parametrize("scale", [1.0, 3000.0])
def test_normalisation_is_scale_invariant(scale: float) -> None:
    rng = np.random.default_rng(0)
    img = rng.gamma(2.0, 1.0, (3, 40, 40)).astype(np.float32)
    a = normalise_intensity(img)
    b = normalise_intensity(img * scale)
    assert np.allclose(a, b, atol=1e-4)
    assert abs(a.mean()) < 1e-5 and a.std() == pytest.approx(1.0, rel=1e-4)


def test_constant_image_does_not_divide_by_zero() -> None:
    assert np.all(normalise_intensity(np.ones((2, 8, 8), np.float32)) == 0)


def test_labelled_phases_moves_other_frames_to_unlabelled(phantom_root) -> None:
    from cmrseg.data.splits import make_split
    from cmrseg.io import load_dataset

    refs = load_dataset(phantom_root)
    s = make_split(refs, 2, labelled_phases=["ED"])
    assert {r.phase for r in s.labelled} == {"ED"} and len(s.labelled) == 2
    assert sum(r.phase == "ES" and r.patient in {x.patient for x in s.labelled} for r in s.unlabelled) == 2
