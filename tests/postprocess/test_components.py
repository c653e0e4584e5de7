"""Post-processing removes a known spurious blob and fills a known hole."""

import numpy as np
import pytest

from cmrseg.postprocess import postprocess_label


def test_removes_blob_and_fills_hole() -> None:
    lab = np.zeros((3, 40, 40), np.uint8)
    lab[:, 10:30, 10:30] = 2
    lab[:, 14:26, 14:26] = 3
    lab[1, 19:21, 19:21] = 0  # hole in the LV cavity
    lab[:, 2:4, 35:37] = 3  # spurious LV blob far away
    out = postprocess_label(lab)
    assert out[1, 19, 19] == 3
    assert (out[:, 2:4, 35:37] == 0).all()
    assert (out[:, 10:30, 10:30] > 0).all()


def _heart_with_far_rv(gap_px: int) -> np.ndarray:
    """One slice: LV disc in a myocardium ring, a small RV touching the ring, and a LARGER 'RV' blob whose
    nearest pixel is ``gap_px`` px from the ring (fat called RV, bigger than the real RV)."""
    lab = np.zeros((1, 60, 90), np.uint8)
    lab[0, 20:40, 20:40] = 2
    lab[0, 25:35, 25:35] = 3
    lab[0, 24:36, 40:44] = 1  # touches the ring (x = 39 is myocardium)
    lab[0, 10:50, 40 + gap_px:40 + gap_px + 8] = 1  # 320 px vs the real RV's 48 px
    return lab


def test_rv_within_mm_drops_rv_far_from_the_left_heart() -> None:
    lab = _heart_with_far_rv(gap_px=12)
    assert (postprocess_label(lab)[0, 30, 41] == 0)  # default: largest component = the far blob wins
    out = postprocess_label(lab, rv_within_mm=10.0, spacing_yx=(1.5, 1.5))  # far blob 13 px = 19.5 mm away
    assert out[0, 30, 41] == 1 and out[0, 30, 40 + 12 + 3] == 0
    assert (out == 1).sum() == 48
    assert ((out == 2) == (lab == 2)).all() and ((out == 3) == (lab == 3)).all()


def test_rv_within_mm_is_in_millimetres() -> None:
    lab = _heart_with_far_rv(gap_px=6)  # nearest far-blob pixel 7 px from the ring's edge pixel
    kept = postprocess_label(lab, rv_within_mm=10.0, spacing_yx=(1.0, 1.0))  # 7 mm: both near, largest = far
    assert kept[0, 30, 40 + 6 + 3] == 1 and kept[0, 30, 41] == 0
    dropped = postprocess_label(lab, rv_within_mm=10.0, spacing_yx=(2.0, 2.0))  # 14 mm: far blob dropped
    assert dropped[0, 30, 40 + 6 + 3] == 0 and dropped[0, 30, 41] == 1


def test_rv_within_mm_keeps_rv_without_left_heart_and_needs_spacing() -> None:
    lab = np.zeros((2, 20, 20), np.uint8)
    lab[:, 5:10, 5:10] = 1
    np.testing.assert_array_equal(postprocess_label(lab, rv_within_mm=5.0, spacing_yx=(1.0, 1.0)), lab)
    with pytest.raises(ValueError, match="spacing"):
        postprocess_label(lab, rv_within_mm=5.0)


def _ringed_lv_and_bigger_bare_lv() -> np.ndarray:
    """Two slices: the true LV (10 x 10) inside a myocardium ring, plus a LARGER bare 'LV' blob (16 x 16, no
    myocardium around it) elsewhere, and a small spurious myocardium speck beside the bare blob."""
    lab = np.zeros((2, 60, 100), np.uint8)
    lab[:, 10:30, 10:30] = 2
    lab[:, 15:25, 15:25] = 3
    lab[:, 30:46, 60:76] = 3  # 256 px per slice vs the true cavity's 100
    lab[:, 30:32, 80:90] = 2  # myocardium speck, 4 px from the bare blob (not touching it)
    return lab


def test_lv_enclosed_keeps_the_lv_ringed_by_myocardium() -> None:
    lab = _ringed_lv_and_bigger_bare_lv()
    default = postprocess_label(lab)
    assert default[0, 20, 20] != 3 and default[0, 38, 68] == 3  # largest rule: the bare blob wins
    out = postprocess_label(lab, lv_enclosed=True, spacing_yx=(1.5, 1.5))
    assert out[0, 20, 20] == 3 and out[0, 38, 68] == 0
    left = np.arange(100) < 50  # the ringed heart's half of the slice
    np.testing.assert_array_equal(out == 3, (lab == 3) & left)  # exactly the ringed cavity
    np.testing.assert_array_equal(out == 2, (lab == 2) & left)  # the ring kept, the far speck dropped


def test_lv_enclosed_without_myocardium_ties_to_the_largest_and_needs_spacing() -> None:
    lab = np.zeros((1, 40, 40), np.uint8)
    lab[0, 2:6, 2:6] = 3
    lab[0, 20:30, 20:30] = 3
    out = postprocess_label(lab, lv_enclosed=True, spacing_yx=(1.0, 1.0))  # no ring anywhere: size decides
    assert out[0, 25, 25] == 3 and out[0, 3, 3] == 0
    with pytest.raises(ValueError, match="spacing"):
        postprocess_label(lab, lv_enclosed=True)


def test_lv_enclosed_ignores_a_speck_inside_the_myocardial_wall() -> None:
    """A few 'LV' voxels inside the wall are fully surrounded by myocardium, but touch far less of it than the
    cavity does: the cavity stays the LV."""
    lab = _ringed_lv_and_bigger_bare_lv()
    lab[:, 11:13, 11:13] = 3  # speck in the ring's corner, wholly inside myocardium
    out = postprocess_label(lab, lv_enclosed=True, spacing_yx=(1.5, 1.5))
    assert out[0, 20, 20] == 3 and out[0, 38, 68] == 0
