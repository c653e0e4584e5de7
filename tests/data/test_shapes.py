"""Synthetic shapes data for the Mumford-Shah evidence (cmrseg.data.shapes): layout, nesting, intensities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cmrseg.data.shapes import LEVEL_RANGES, make_shapes_slice, write_shapes_dataset
from cmrseg.io import load_dataset
from cmrseg.labels import BACKGROUND, LV, MYO, RV


@pytest.mark.parametrize("bias", [False, True])
def test_nesting_and_separation(bias: bool) -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        _, label, _ = make_shapes_slice(rng, bias=bias)
        assert set(np.unique(label).tolist()) == {BACKGROUND, RV, MYO, LV}
        lv, myo, rv = label == LV, label == MYO, label == RV
        ring = ndimage.binary_dilation(lv, iterations=2) & ~lv
        assert (label[ring] == MYO).all()  # label 3 is surrounded by label 2 (>= 2 px all round)
        filled = ndimage.binary_fill_holes(myo)
        assert (filled[lv]).all()  # and lies inside it
        assert not (ndimage.binary_dilation(rv, iterations=2) & (lv | myo)).any()  # label 1 apart
        assert ndimage.label(rv)[1] == 1 and ndimage.label(lv)[1] == 1


def test_separate_shapes_and_levels() -> None:
    rng = np.random.default_rng(1)
    image, label, field = make_shapes_slice(rng, nested=False, noise=(0.0, 0.0))
    assert (field == 1).all()
    for code in (RV, MYO, LV):
        assert ndimage.label(label == code)[1] == 1
        assert not (ndimage.binary_dilation(label == code, iterations=2) & (label > 0) & (label != code)).any()
        lo, hi = LEVEL_RANGES[code]
        assert lo <= float(image[label == code].mean()) <= hi
        assert np.ptp(image[label == code]) < 1e-6  # piecewise constant without noise


def test_bias_field_is_smooth_and_multiplicative() -> None:
    rng = np.random.default_rng(2)
    image, label, field = make_shapes_slice(rng, bias=True, noise=(0.0, 0.0), bias_strength=0.5)
    assert 0.55 < field.min() < field.max() < 1.7 and field.max() / field.min() > 1.5
    assert np.abs(np.diff(field, axis=0)).max() < 0.05  # slow
    level = image[label == LV] / field[label == LV]
    assert np.ptp(level) < 1e-5  # image = level * field


def test_dataset_layout_is_read_by_the_acdc_reader(tmp_path) -> None:
    root = write_shapes_dataset(tmp_path / "shapes", n_patients=3, n_val=1, seed=0, bias=True, n_slices=2)
    refs = load_dataset(root)
    assert [r.case_id for r in refs][:2] == ["patient001_frame01", "patient001_frame02"]
    assert len(refs) == 6 and sum(r.split == "val" for r in refs) == 2
    case = refs[0].load()
    assert case.image.shape == (2, 96, 96) and case.spacing == pytest.approx((8.0, 1.5, 1.5))
    assert set(np.unique(case.label).tolist()) == {0, 1, 2, 3}
    assert (root / "patient001" / "patient001_frame01_bias.nii.gz").is_file()
    again = write_shapes_dataset(tmp_path / "again", n_patients=3, n_val=1, seed=0, bias=True, n_slices=2)
    assert np.array_equal(load_dataset(again)[0].load().image, case.image)  # deterministic
