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
