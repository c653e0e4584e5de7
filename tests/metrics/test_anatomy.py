"""Anatomical plausibility checks on constructed label maps with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from cmrseg.labels import LV, MYO, RV
from cmrseg.metrics.anatomy import anatomy_checks, anatomy_summary, lv_open_slices


def heart(z: int = 4, size: int = 40) -> np.ndarray:
    """LV disc inside a myocardial ring, RV crescent beside it, on every slice: anatomically plausible."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - 20, xx - 18)
    s = np.zeros((size, size), np.uint8)
    s[r < 10] = MYO
    s[r < 6] = LV
    s[(np.hypot(yy - 20, xx - 30) < 7) & (r >= 10)] = RV
    return np.repeat(s[None], z, 0)


def test_plausible_heart_passes_every_check() -> None:
    rep = anatomy_checks(heart())
    assert rep.lv_open_slices == 0 and rep.components_3d == {"LV": 1, "Myo": 1, "RV": 1}
    assert rep.fragmented_slices == {"LV": 0, "Myo": 0, "RV": 0} and not rep.impossible


def test_gap_in_myocardium_opens_the_lv_on_that_slice_only() -> None:
    lab = heart()
    lab[1, 20, 10:14] = 0  # cut the ring (x 8..11) to background, through to the LV cavity (x >= 12)
    lab[1, 20, 12:14] = LV  # LV now touches background at x = 11
    assert lv_open_slices(lab) == 1
    lab2 = heart()
    lab2[2, 20, 24:28] = RV  # LV touching RV directly (no septum) is not enclosed either
    lab2[2, 20, 24] = LV
    rep = anatomy_checks(lab2)
    assert rep.lv_open_slices == 1 and rep.lv_not_enclosed and rep.impossible


def test_lv_cut_by_the_image_border_is_not_enclosed() -> None:
    lab = np.zeros((1, 5, 5), np.uint8)
    lab[0, :, :] = MYO
    lab[0, 0, 2] = LV  # on the top border
    assert lv_open_slices(lab) == 1


def test_fragments_are_counted_in_3d_and_per_slice() -> None:
    lab = heart()
    lab[3, 2:4, 2:4] = RV  # an RV island, 3D-disconnected (26-connectivity) from the RV crescent
    rep = anatomy_checks(lab)
    assert rep.components_3d["RV"] == 2 and rep.fragmented_slices["RV"] == 1
    assert rep.fragmented_3d and rep.fragmented_2d and not rep.lv_not_enclosed
    # an island joined to the crescent on the next slice: one 3D component, but two 2D ones on its own slice
    lab = heart()
    lab[0:2, 2:4, 2:4] = RV
    lab[1, 3, 3:31] = RV  # slice 1: a bridge from the island along row 3 ...
    lab[1, 3:15, 30] = RV  # ... and down column 30 into the crescent
    rep = anatomy_checks(lab)
    assert rep.components_3d["RV"] == 1 and rep.fragmented_slices["RV"] == 1  # slice 0 only
    assert rep.fragmented_2d and not rep.fragmented_3d and rep.impossible


def test_structure_absent_on_a_middle_slice_is_3d_fragmented_but_not_impossible() -> None:
    lab = heart()
    lab[2][lab[2] == RV] = 0  # RV missing on slice 2: two 3D pieces, one blob on every slice (expert labels do this)
    rep = anatomy_checks(lab)
    assert rep.components_3d["RV"] == 2 and rep.fragmented_3d
    assert not rep.fragmented_2d and not rep.impossible


def test_absent_structure_and_summary_shares() -> None:
    empty_rv = heart()
    empty_rv[empty_rv == RV] = 0
    rep = anatomy_checks(empty_rv)
    assert rep.components_3d["RV"] == 0 and not rep.impossible
    bad = heart()
    bad[0, 2:4, 2:4] = LV  # a second LV blob outside the myocardium: fragmented and not enclosed
    s = anatomy_summary([anatomy_checks(heart()), rep, anatomy_checks(bad), anatomy_checks(heart())])
    assert s == {"n": 4, "lv_not_enclosed": 0.25, "fragmented_3d": 0.25, "fragmented_2d": 0.25, "impossible": 0.25}
    with pytest.raises(ValueError, match=r"\(z, y, x\)"):
        anatomy_checks(np.zeros((5, 5), np.uint8))
